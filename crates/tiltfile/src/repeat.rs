//! The memory bound on `*`: a repetition such as `'x' * 1000 * 2147483647` is refused before
//! starlark allocates it.
//!
//! starlark-rust reserves a repetition's whole result in one step (`String::with_capacity`,
//! `Vec::with_capacity`), inside one statement, so the per-statement heap check in `eval.rs`
//! comes too late: the process takes terabytes, or aborts in the allocator, or panics on
//! starlark's 4 GiB object limit. Every `*` of a Tiltfile is therefore parsed into a call of
//! [`MUL_BUILTIN`] (starlark's `replace_binary_operators`), which sizes the result first and
//! then multiplies with starlark's own operator, so results and error messages are the same.

use std::collections::HashMap;

use starlark::eval::Evaluator;
use starlark::values::Value;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;

use crate::paths::human_bytes;
use crate::state::TiltState;

/// The builtin every `*` becomes; lilt's own prefix, like the `while` rewrite's.
pub(crate) const MUL_BUILTIN: &str = "__lilt_mul__";

/// The largest object starlark can hold: its heap stores sizes in 32 bits.
const STARLARK_OBJECT_LIMIT: u64 = u32::MAX as u64 - 64;

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
        let state = TiltState::get(eval).map_err(starlark::Error::new_other)?;
        let limit = u64::try_from(state.opts.max_heap_bytes).unwrap_or(u64::MAX);
        let used =
            u64::try_from(eval.heap().allocated_bytes() + eval.frozen_heap().allocated_bytes())
                .unwrap_or(u64::MAX);
        if let Some(message) = result.refusal(used, limit) {
            return Err(starlark::Error::new_other(anyhow::anyhow!(message)));
        }
    }
    lhs.mul(rhs, eval.heap())
}

/// What a repetition would build.
struct Repetition {
    kind: &'static str,
    /// Bytes of the result (an element of a list or tuple is one 8-byte value).
    bytes: u64,
}

impl Repetition {
    fn refusal(&self, used: u64, limit: u64) -> Option<String> {
        if self.bytes > STARLARK_OBJECT_LIMIT {
            return Some(format!(
                "`*` would make a {} of {}, larger than the 4 GiB a Starlark value can hold",
                self.kind,
                approx_bytes(self.bytes)
            ));
        }
        if used.saturating_add(self.bytes) > limit {
            return Some(format!(
                "`*` would make a {} of {}, which with the {} in use is more than lilt's memory \
                 limit of {} for one file (set LILT_MAX_HEAP_BYTES to change it)",
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

/// The size of `seq * times` when `seq` is a string, list or tuple and `times` a positive int
/// that fits starlark's 32 bits (anything else starlark multiplies or refuses by itself).
fn repetition(seq: Value<'_>, times: Value<'_>) -> Option<Repetition> {
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
    Some(Repetition {
        kind,
        bytes: unit_bytes.saturating_mul(times),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repetition_within_the_limit_is_allowed() {
        let r = Repetition {
            kind: "string",
            bytes: 1 << 20,
        };
        assert_eq!(r.refusal(1 << 20, 1 << 30), None);
    }

    #[test]
    fn a_repetition_past_the_limit_names_the_sizes_and_the_setting() {
        let r = Repetition {
            kind: "string",
            bytes: 1 << 40,
        };
        let message = r.refusal(0, 1 << 30).unwrap_or_default();
        assert!(message.contains("larger than the 4 GiB"), "{message}");
        let r = Repetition {
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
