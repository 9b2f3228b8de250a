//! The memory bound on operations whose result multiplies the sizes of their inputs: a
//! repetition such as `'x' * 1000 * 2147483647`, `s.replace(a, b)` (occurrences times
//! `len(b)`), `sep.join(l)` over a list that holds one large string many times. Each is
//! refused before starlark allocates its result.
//!
//! starlark-rust builds such a result inside one statement, often in one allocation
//! (`String::with_capacity`), so the per-statement heap check in `eval.rs` comes too late: the
//! process takes terabytes, or aborts in the allocator, or panics on starlark's 4 GiB object
//! limit. Every `*` of a Tiltfile is therefore parsed into a call of [`MUL_BUILTIN`]
//! (starlark's `replace_binary_operators`), and `guards.rs` rewrites `x *= n` and the
//! `replace`/`join` method calls into calls of these builtins, which size the result first and
//! then run starlark's own operation, so results and error messages stay the same.

use std::collections::HashMap;

use starlark::eval::Evaluator;
use starlark::values::Value;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;

use crate::paths::human_bytes;

/// The builtin every `*` becomes; lilt's own prefix, like the `while` rewrite's.
pub(crate) const MUL_BUILTIN: &str = "__lilt_mul__";
/// The builtin `OBJ.replace(...)` and `OBJ.join(...)` become (`guards.rs`).
pub(crate) const METHOD_BUILTIN: &str = "__lilt_method__";
/// The methods routed through [`METHOD_BUILTIN`].
pub(crate) const CHECKED_METHODS: &[&str] = &["replace", "join"];

/// The largest object starlark can hold: its heap stores sizes in 32 bits.
const STARLARK_OBJECT_LIMIT: u64 = u32::MAX as u64 - 64;

thread_local! {
    /// The heap limit of the evaluation running on this thread, for conversions deep inside
    /// helpers that have no state at hand (the encoders).
    static HEAP_LIMIT: std::cell::Cell<u64> =
        const { std::cell::Cell::new(crate::DEFAULT_MAX_HEAP_BYTES as u64) };
}

/// Sets the limit [`heap_limit`] returns on this thread.
pub(crate) fn set_heap_limit(bytes: u64) {
    HEAP_LIMIT.set(bytes);
}

/// The heap limit of the evaluation on this thread.
pub(crate) fn heap_limit() -> u64 {
    HEAP_LIMIT.get()
}

/// The operator map for `AstModule::replace_binary_operators`.
pub(crate) fn operator_map() -> HashMap<String, String> {
    HashMap::from([("*".to_owned(), MUL_BUILTIN.to_owned())])
}

/// `lhs * rhs`, refused when it would repeat a string, list or tuple past the memory limit.
pub(crate) fn multiply<'v>(
    lhs: Value<'v>,
    rhs: Value<'v>,
    eval: &mut Evaluator<'v, '_, '_>,
) -> starlark::Result<Value<'v>> {
    if let Some(result) = repetition(lhs, rhs).or_else(|| repetition(rhs, lhs)) {
        check(&result, eval)?;
    }
    lhs.mul(rhs, eval.heap())
}

/// `obj.<method>(*args, **kwargs)` for a method of [`CHECKED_METHODS`], refused when a
/// string's `replace` or `join` could build a string past the memory limit.
pub(crate) fn call_method<'v>(
    obj: Value<'v>,
    method: &str,
    args: &[Value<'v>],
    kwargs: &[(&str, Value<'v>)],
    eval: &mut Evaluator<'v, '_, '_>,
) -> starlark::Result<Value<'v>> {
    if let Some(text) = obj.unpack_str() {
        let growth = match method {
            "replace" => replacement(text, args, kwargs),
            "join" if kwargs.is_empty() => args.first().and_then(|items| joined(text, *items)),
            _ => None,
        };
        if let Some(growth) = growth {
            check(&growth, eval)?;
        }
    }
    let Some(function) = obj.get_attr(method, eval.heap())? else {
        // starlark's words for `obj.method` on a value without it.
        return Err(starlark::Error::new_other(anyhow::anyhow!(
            "Object of type `{}` has no attribute `{method}`",
            obj.get_type()
        )));
    };
    eval.eval_function(function, args, kwargs)
}

/// Bytes the evaluation's heaps hold now (what the heap limit counts).
pub(crate) fn heap_in_use(eval: &Evaluator<'_, '_, '_>) -> usize {
    eval.heap().allocated_bytes() + eval.frozen_heap().allocated_bytes()
}

fn check(growth: &Growth, eval: &Evaluator<'_, '_, '_>) -> starlark::Result<()> {
    let used = u64::try_from(heap_in_use(eval)).unwrap_or(u64::MAX);
    match growth.refusal(used, heap_limit()) {
        Some(message) => Err(starlark::Error::new_other(anyhow::anyhow!(message))),
        None => Ok(()),
    }
}

/// What an operation would build.
struct Growth {
    /// The operation as the message names it: `` `*` ``, `replace`.
    op: &'static str,
    kind: &'static str,
    /// Bytes of the result (an element of a list or tuple is one 8-byte value); an upper
    /// bound where the exact size would cost as much as the operation.
    bytes: u64,
}

impl Growth {
    fn refusal(&self, used: u64, limit: u64) -> Option<String> {
        if self.bytes > STARLARK_OBJECT_LIMIT {
            return Some(format!(
                "{} would make a {} of {}, larger than the 4 GiB a Starlark value can hold",
                self.op,
                self.kind,
                approx_bytes(self.bytes)
            ));
        }
        if used.saturating_add(self.bytes) > limit {
            return Some(format!(
                "{} would make a {} of {}, which with the {} in use is more than lilt's memory \
                 limit of {} for one file (set LILT_MAX_HEAP_BYTES to change it)",
                self.op,
                self.kind,
                approx_bytes(self.bytes),
                approx_bytes(used),
                human_bytes(limit)
            ));
        }
        None
    }
}

/// A size rounded for people: `1.9 TiB`, `512.0 MiB`, `900 bytes`.
fn approx_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// At most how long `text.replace(old, new[, count])` can be; `None` when the arguments are
/// not what `replace` takes (starlark then says so).
fn replacement(text: &str, args: &[Value<'_>], kwargs: &[(&str, Value<'_>)]) -> Option<Growth> {
    if !kwargs.is_empty() {
        return None;
    }
    let old = args.first()?.unpack_str()?;
    let new = args.get(1)?.unpack_str()?;
    if new.len() <= old.len() {
        return None; // It cannot grow.
    }
    // An empty `old` matches between every two characters and at both ends.
    let mut matches = if old.is_empty() {
        text.chars().count() as u64 + 1
    } else {
        (text.len() / old.len()) as u64
    };
    if let Some(count) = args.get(2).and_then(|c| c.unpack_i32())
        && count >= 0
    {
        matches = matches.min(count as u64);
    }
    let grows_by = (new.len() - old.len()) as u64;
    Some(Growth {
        op: "replace",
        kind: "string",
        bytes: (text.len() as u64).saturating_add(matches.saturating_mul(grows_by)),
    })
}

/// How long `sep.join(items)` would be when `items` is a list or tuple of strings.
fn joined(sep: &str, items: Value<'_>) -> Option<Growth> {
    let items: &[Value<'_>] = if let Some(list) = ListRef::from_value(items) {
        list.content()
    } else {
        TupleRef::from_value(items)?.content()
    };
    let mut bytes = (sep.len() as u64).saturating_mul(items.len().saturating_sub(1) as u64);
    for item in items {
        bytes = bytes.saturating_add(item.unpack_str()?.len() as u64);
    }
    Some(Growth {
        op: "join",
        kind: "string",
        bytes,
    })
}

/// The size of `seq * times` when `seq` is a string, list or tuple and `times` a positive int
/// that fits starlark's 32 bits (anything else starlark multiplies or refuses by itself).
fn repetition(seq: Value<'_>, times: Value<'_>) -> Option<Growth> {
    let times = u64::try_from(times.unpack_i32()?).ok()?;
    let (kind, unit_bytes) = if let Some(s) = seq.unpack_str() {
        ("string", s.len() as u64)
    } else if let Some(list) = ListRef::from_value(seq) {
        ("list", list.len() as u64 * 8)
    } else if let Some(tuple) = TupleRef::from_value(seq) {
        ("tuple", tuple.len() as u64 * 8)
    } else {
        return None;
    };
    Some(Growth {
        op: "`*`",
        kind,
        bytes: unit_bytes.saturating_mul(times),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repetition_within_the_limit_is_allowed() {
        let r = Growth {
            op: "`*`",
            kind: "string",
            bytes: 1 << 20,
        };
        assert_eq!(r.refusal(1 << 20, 1 << 30), None);
    }

    #[test]
    fn a_repetition_past_the_limit_names_the_sizes_and_the_setting() {
        let r = Growth {
            op: "`*`",
            kind: "string",
            bytes: 1 << 40,
        };
        let message = r.refusal(0, 1 << 30).unwrap_or_default();
        assert!(message.contains("larger than the 4 GiB"), "{message}");
        let r = Growth {
            op: "`*`",
            kind: "list",
            bytes: 1 << 30,
        };
        let message = r.refusal(1 << 20, 1 << 30).unwrap_or_default();
        assert_eq!(
            message,
            "`*` would make a list of 1.0 GiB, which with the 1.0 MiB in use is more than lilt's \
             memory limit of 1 GiB for one file (set LILT_MAX_HEAP_BYTES to change it)"
        );
    }
}
