//! The `os`, `os.path`, `sys` and `shlex` modules.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use allocative::Allocative;
use anyhow::bail;
use starlark::any::ProvidesStaticType;
use starlark::collections::SmallMap;
use starlark::environment::{Globals, GlobalsBuilder, Methods, MethodsBuilder, MethodsStatic};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::starlark_simple_value;
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::AllocList;
use starlark::values::none::NoneType;
use starlark::values::tuple::UnpackTuple;
use starlark::values::{
    FrozenValue, Heap, NoSerialize, StarlarkPagablePanic, StarlarkValue, StringValue, Value,
    ValueLike, starlark_value,
};

use crate::builtins::args::{Str, sequence};
use crate::paths;
use crate::state::{EnvOverlay, TiltState};
use crate::values::string_like;

thread_local! {
    /// The environment overlay of the evaluation running on this thread. `os.environ` is a
    /// global value, so it cannot reach the evaluator's state; this is how it finds it.
    static CURRENT_ENV: RefCell<Option<EnvOverlay>> = const { RefCell::new(None) };
}

/// Installs an environment overlay for the current thread until dropped.
pub(crate) struct EnvGuard(Option<EnvOverlay>);

impl EnvGuard {
    pub(crate) fn install(env: EnvOverlay) -> EnvGuard {
        EnvGuard(CURRENT_ENV.with(|slot| slot.borrow_mut().replace(env)))
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT_ENV.with(|slot| *slot.borrow_mut() = previous);
    }
}

fn with_env<R>(f: impl FnOnce(&mut BTreeMap<String, String>) -> R) -> Option<R> {
    CURRENT_ENV.with(|slot| slot.borrow().as_ref().map(|env| f(&mut env.borrow_mut())))
}

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    builder.namespace("os", |os| {
        os_module(os);
        os.set("name", "posix");
        os.set("environ", Environ);
        os.namespace("path", path_module);
    });
    builder.namespace("sys", |sys| {
        let argv: Vec<String> = std::env::args().collect();
        sys.set("argv", argv);
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        sys.set("executable", exe);
    });
    builder.namespace("shlex", shlex_module);
    dict_builtin(builder);
}

/// Starlark's own `dict`, kept to delegate to.
fn standard_dict() -> Option<FrozenValue> {
    static STANDARD: OnceLock<Globals> = OnceLock::new();
    STANDARD
        .get_or_init(Globals::standard)
        .iter()
        .find(|(name, _)| *name == "dict")
        .map(|(_, value)| value)
}

#[starlark_module]
fn dict_builtin(builder: &mut GlobalsBuilder) {
    /// Starlark's `dict`, which in go.starlark.net also copies any mapping, so
    /// `dict(os.environ, K='v')` works as in Tilt.
    fn dict<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<StringValue<'v>, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let Some(standard) = standard_dict() else {
            bail!("dict: the standard dict builtin is missing");
        };
        let heap = eval.heap();
        let positional: Vec<Value<'v>> = args
            .items
            .iter()
            .map(|a| {
                if a.downcast_ref::<Environ>().is_some() {
                    heap.alloc(AllocDict(snapshot()))
                } else {
                    *a
                }
            })
            .collect();
        let named: Vec<(&str, Value<'v>)> = kwargs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        eval.eval_function(standard.to_value(), &positional, &named)
            .map_err(starlark::Error::into_anyhow)
    }
}

#[starlark_module]
fn os_module(builder: &mut GlobalsBuilder) {
    fn getcwd<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        Ok(TiltState::get(eval)?.cwd().display().to_string())
    }

    fn getenv<'v>(
        key: Str<'v>,
        #[starlark(default = NoneType)] default: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let value = TiltState::get(eval)?.env_var(&key);
        Ok(match value {
            Some(v) => eval.heap().alloc(v),
            None => default,
        })
    }

    fn putenv<'v>(
        key: Str<'v>,
        value: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?
            .env
            .borrow_mut()
            .insert(key.to_string(), value.to_string());
        Ok(NoneType)
    }

    fn unsetenv<'v>(key: Str<'v>, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?.env.borrow_mut().remove(&*key);
        Ok(NoneType)
    }
}

#[starlark_module]
fn path_module(builder: &mut GlobalsBuilder) {
    fn abspath<'v>(path: Str<'v>, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        Ok(TiltState::get(eval)?.abs(&path).display().to_string())
    }

    /// Go's `filepath.Rel(basepath, targpath)`: both as given (the default base is the
    /// current directory), so a relative target against an absolute base is an error.
    fn relpath<'v>(
        targpath: Str<'v>,
        #[starlark(default = NoneType)] basepath: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<String> {
        let state = TiltState::get(eval)?;
        let base = if basepath.is_none() {
            state.cwd().display().to_string()
        } else {
            match string_like(basepath) {
                Some(b) => b,
                None => bail!(
                    "relpath: for parameter basepath: got {}, want string",
                    basepath.get_type()
                ),
            }
        };
        match paths::relative(Path::new(&*targpath), Path::new(&base)) {
            Some(rel) => Ok(rel.display().to_string()),
            None => bail!("Rel: can't make {targpath} relative to {base}"),
        }
    }

    fn basename<'v>(path: Str<'v>) -> anyhow::Result<String> {
        Ok(go_base(&path))
    }

    fn dirname<'v>(path: Str<'v>) -> anyhow::Result<String> {
        Ok(go_dir(&path))
    }

    fn exists<'v>(path: Str<'v>, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<bool> {
        Ok(std::fs::metadata(TiltState::get(eval)?.abs(&path)).is_ok())
    }

    fn isdir<'v>(path: Str<'v>, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<bool> {
        Ok(TiltState::get(eval)?.abs(&path).is_dir())
    }

    fn isfile<'v>(path: Str<'v>, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<bool> {
        Ok(TiltState::get(eval)?.abs(&path).is_file())
    }

    /// Go's `filepath.Join`: empty parts are skipped and an absolute part does not reset
    /// the path (`join('a', '/b')` is `a/b`).
    fn join<'v>(#[starlark(args)] parts: UnpackTuple<Value<'v>>) -> anyhow::Result<String> {
        let mut texts = Vec::with_capacity(parts.items.len());
        for (i, part) in parts.items.iter().enumerate() {
            match string_like(*part) {
                Some(t) => texts.push(t),
                None => bail!(
                    "os.path.join() only accepts strings. Argument #{i}: {}",
                    part.to_repr()
                ),
            }
        }
        Ok(go_join(&texts))
    }

    fn realpath<'v>(path: Str<'v>, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        let abs = TiltState::get(eval)?.abs(&path);
        match std::fs::canonicalize(&abs) {
            Ok(real) => Ok(real.display().to_string()),
            Err(e) => bail!("{}", paths::go_io_error("lstat", &abs, &e)),
        }
    }

    fn expanduser<'v>(path: Str<'v>) -> anyhow::Result<String> {
        Ok(paths::expand_home(&path))
    }
}

/// Go's `filepath.Join` on strings.
fn go_join(parts: &[String]) -> String {
    let kept: Vec<&str> = parts
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    if kept.is_empty() {
        return String::new();
    }
    paths::clean(Path::new(&kept.join("/")))
        .display()
        .to_string()
}

/// Go's `filepath.Base`: the last element, trailing slashes ignored; `.` for an empty
/// path and `/` for a root.
fn go_base(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_owned();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// Go's `filepath.Dir`: everything before the last element, cleaned; `.` when there is
/// no directory part.
fn go_dir(path: &str) -> String {
    let head = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    if head.is_empty() {
        return ".".to_owned();
    }
    paths::clean(Path::new(head)).display().to_string()
}

#[starlark_module]
fn shlex_module(builder: &mut GlobalsBuilder) {
    fn quote<'v>(name: Str<'v>) -> anyhow::Result<String> {
        Ok(shell_quote(&name))
    }

    fn split<'v>(s: Str<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        Ok(heap.alloc(AllocList(shell_split(&s)?)))
    }
}

/// Quotes `s` for a POSIX shell, leaving safe strings as they are (Python's `shlex.quote`).
pub(crate) fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_owned();
    }
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c));
    if safe {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Splits a string into words like a POSIX shell (quotes, backslashes), without expansion.
pub fn shell_split(s: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => bail!("shlex.split: unclosed single quote in {s:?}"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => bail!("shlex.split: unclosed double quote in {s:?}"),
                        },
                        Some(c) => word.push(c),
                        None => bail!("shlex.split: unclosed double quote in {s:?}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => bail!("shlex.split: trailing backslash in {s:?}"),
                }
            }
            '#' if !in_word => break,
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `os.environ`: Tilt's dict view of the environment (`os/environ.go`), reading and
/// writing the Tiltfile's environment overlay. Keys are listed in sorted order.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct Environ;
starlark_simple_value!(Environ);

fn snapshot() -> BTreeMap<String, String> {
    with_env(|env| env.clone()).unwrap_or_default()
}

impl fmt::Display for Environ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As Tilt prints it: the repr of a dict of the variables.
        f.write_str("{")?;
        for (i, (k, v)) in snapshot().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", quote_repr(k), quote_repr(v))?;
        }
        f.write_str("}")
    }
}

/// A string's Starlark repr (double quotes, backslash escapes).
fn quote_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn other_error(e: anyhow::Error) -> starlark::Error {
    starlark::Error::new_other(e)
}

/// Tilt's `Environ.SetKey`: key and value must be strings (or blobs).
fn set_key(key: Value<'_>, value: Value<'_>) -> anyhow::Result<()> {
    let Some(k) = string_like(key) else {
        bail!("putenv() key must be a string, not {}", key.get_type());
    };
    let Some(v) = string_like(value) else {
        bail!("putenv() value must be a string, not {}", value.get_type());
    };
    with_env(|env| env.insert(k, v));
    Ok(())
}

/// Tilt's `Environ.Get`: a key that is not a string is simply not found.
fn get_key(key: Value<'_>) -> Option<String> {
    let k = string_like(key)?;
    with_env(|env| env.get(&k).cloned()).flatten()
}

fn remove_key(key: Value<'_>) -> Option<String> {
    let k = string_like(key)?;
    with_env(|env| env.remove(&k)).flatten()
}

#[starlark_value(type = "environ")]
impl<'v> StarlarkValue<'v> for Environ {
    fn to_bool(&self) -> bool {
        with_env(|env| !env.is_empty()).unwrap_or(false)
    }

    fn at(&self, index: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        match get_key(index) {
            Some(v) => Ok(heap.alloc(v)),
            None => Err(other_error(anyhow::anyhow!(
                "key {} not in environ",
                index.to_repr()
            ))),
        }
    }

    fn set_at(&self, index: Value<'v>, new_value: Value<'v>) -> starlark::Result<()> {
        set_key(index, new_value).map_err(other_error)
    }

    fn is_in(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(get_key(other).is_some())
    }

    fn length(&self) -> starlark::Result<i32> {
        Ok(with_env(|env| env.len())
            .unwrap_or(0)
            .try_into()
            .unwrap_or(i32::MAX))
    }

    fn iterate_collect(&self, heap: Heap<'v>) -> starlark::Result<Vec<Value<'v>>> {
        Ok(snapshot().into_keys().map(|k| heap.alloc(k)).collect())
    }

    fn get_methods() -> Option<&'static Methods>
    where
        Self: Sized,
    {
        static RES: MethodsStatic = MethodsStatic::new("environ_methods", environ_methods);
        Some(RES.methods())
    }
}

/// The methods of Starlark's dict, as Tilt forks them for `os.environ`.
#[starlark_module]
fn environ_methods(builder: &mut MethodsBuilder) {
    fn clear<'v>(#[starlark(this)] _this: Value<'v>) -> anyhow::Result<NoneType> {
        with_env(|env| env.clear());
        Ok(NoneType)
    }

    fn get<'v>(
        #[starlark(this)] _this: Value<'v>,
        #[starlark(require = pos)] key: Value<'v>,
        #[starlark(require = pos, default = NoneType)] default: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        Ok(match get_key(key) {
            Some(v) => heap.alloc(v),
            None => default,
        })
    }

    fn items<'v>(#[starlark(this)] _this: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let tuples: Vec<Value<'v>> = snapshot()
            .into_iter()
            .map(|(k, v)| heap.alloc((k, v)))
            .collect();
        Ok(heap.alloc(AllocList(tuples)))
    }

    fn keys<'v>(#[starlark(this)] _this: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        Ok(heap.alloc(AllocList(snapshot().into_keys())))
    }

    fn values<'v>(#[starlark(this)] _this: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        Ok(heap.alloc(AllocList(snapshot().into_values())))
    }

    fn pop<'v>(
        #[starlark(this)] _this: Value<'v>,
        #[starlark(require = pos)] key: Value<'v>,
        #[starlark(require = pos)] default: Option<Value<'v>>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        match (remove_key(key), default) {
            (Some(v), _) => Ok(heap.alloc(v)),
            (None, Some(d)) => Ok(d),
            (None, None) => bail!("pop: missing key"),
        }
    }

    fn popitem<'v>(
        #[starlark(this)] _this: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        match with_env(|env| env.pop_first()).flatten() {
            Some(pair) => Ok(heap.alloc(pair)),
            None => bail!("popitem: empty environ"),
        }
    }

    fn setdefault<'v>(
        #[starlark(this)] _this: Value<'v>,
        #[starlark(require = pos)] key: Value<'v>,
        #[starlark(require = pos, default = NoneType)] default: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        if let Some(v) = get_key(key) {
            return Ok(heap.alloc(v));
        }
        set_key(key, default).map_err(|e| anyhow::anyhow!("setdefault: {e}"))?;
        Ok(default)
    }

    fn update<'v>(
        #[starlark(this)] _this: Value<'v>,
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<StringValue<'v>, Value<'v>>,
    ) -> anyhow::Result<NoneType> {
        if args.items.len() > 1 {
            bail!("update: got {} arguments, want at most 1", args.items.len());
        }
        update_environ(args.items.first().copied(), &kwargs)
            .map_err(|e| anyhow::anyhow!("update: {e}"))?;
        Ok(NoneType)
    }
}

/// `os.environ.update(x, **kwargs)`: a dict's items or a sequence of pairs, then kwargs.
fn update_environ<'v>(
    updates: Option<Value<'v>>,
    kwargs: &SmallMap<StringValue<'v>, Value<'v>>,
) -> anyhow::Result<()> {
    if let Some(updates) = updates {
        if let Some(dict) = DictRef::from_value(updates) {
            let items: Vec<(Value<'v>, Value<'v>)> = dict.iter().collect();
            drop(dict);
            for (k, v) in items {
                set_key(k, v)?;
            }
        } else if updates.downcast_ref::<Environ>().is_some() {
            // Updating the environment from itself changes nothing.
        } else {
            let Some(pairs) = sequence(updates) else {
                bail!("got {}, want iterable", updates.get_type());
            };
            for (i, pair) in pairs.into_iter().enumerate() {
                let Some(kv) = sequence(pair) else {
                    bail!(
                        "dictionary update sequence element #{i} is not iterable ({})",
                        pair.get_type()
                    );
                };
                if kv.len() != 2 {
                    bail!(
                        "dictionary update sequence element #{i} has length {}, want 2",
                        kv.len()
                    );
                }
                set_key(kv[0], kv[1])?;
            }
        }
    }
    for (k, v) in kwargs.iter() {
        set_key(k.to_value(), *v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_like_python() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("abc-1.2/x"), "abc-1.2/x");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
    }

    #[test]
    fn split_like_a_shell() {
        assert_eq!(
            shell_split("a 'b c' \"d \\\"e\\\"\" f\\ g").unwrap(),
            ["a", "b c", "d \"e\"", "f g"]
        );
        assert!(shell_split("'open").is_err());
        assert_eq!(shell_split("").unwrap(), Vec::<String>::new());
    }
}
