//! The `os`, `os.path`, `sys` and `shlex` modules.

use std::cell::RefCell;
use std::fmt;

use allocative::Allocative;
use anyhow::bail;
use starlark::any::ProvidesStaticType;
use starlark::environment::{GlobalsBuilder, Methods, MethodsBuilder, MethodsStatic};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::starlark_simple_value;
use starlark::values::list::AllocList;
use starlark::values::none::NoneType;
use starlark::values::{
    Heap, NoSerialize, StarlarkPagablePanic, StarlarkValue, Value, starlark_value,
};

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

fn with_env<R>(f: impl FnOnce(&mut std::collections::BTreeMap<String, String>) -> R) -> Option<R> {
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
}

#[starlark_module]
fn os_module(builder: &mut GlobalsBuilder) {
    fn getcwd<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        Ok(TiltState::get(eval)?.cwd().display().to_string())
    }

    fn getenv<'v>(
        key: &str,
        #[starlark(default = NoneType)] default: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let value = TiltState::get(eval)?.env_var(key);
        Ok(match value {
            Some(v) => eval.heap().alloc(v),
            None => default,
        })
    }

    fn putenv<'v>(
        key: &str,
        value: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?
            .env
            .borrow_mut()
            .insert(key.to_owned(), value.to_owned());
        Ok(NoneType)
    }

    fn unsetenv<'v>(key: &str, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?.env.borrow_mut().remove(key);
        Ok(NoneType)
    }
}

#[starlark_module]
fn path_module(builder: &mut GlobalsBuilder) {
    fn abspath<'v>(path: &str, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        Ok(TiltState::get(eval)?.abs(path).display().to_string())
    }

    fn relpath<'v>(
        targpath: &str,
        #[starlark(default = "")] basepath: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<String> {
        let state = TiltState::get(eval)?;
        let base = if basepath.is_empty() {
            state.cwd()
        } else {
            state.abs(basepath)
        };
        let target = state.abs(targpath);
        match paths::relative(&target, &base) {
            Some(rel) => Ok(rel.display().to_string()),
            None => bail!("Rel: can't make {targpath} relative to {}", base.display()),
        }
    }

    fn basename(path: &str) -> anyhow::Result<String> {
        // Python semantics: everything after the last '/', so "a/b/" gives "".
        Ok(path.rsplit('/').next().unwrap_or("").to_owned())
    }

    fn dirname(path: &str) -> anyhow::Result<String> {
        Ok(match path.rfind('/') {
            None => String::new(),
            Some(0) => "/".to_owned(),
            Some(i) => {
                let head = &path[..i];
                let trimmed = head.trim_end_matches('/');
                if trimmed.is_empty() {
                    "/".to_owned()
                } else {
                    trimmed.to_owned()
                }
            }
        })
    }

    fn exists<'v>(path: &str, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<bool> {
        Ok(std::fs::metadata(TiltState::get(eval)?.abs(path)).is_ok())
    }

    fn isdir<'v>(path: &str, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<bool> {
        Ok(TiltState::get(eval)?.abs(path).is_dir())
    }

    fn isfile<'v>(path: &str, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<bool> {
        Ok(TiltState::get(eval)?.abs(path).is_file())
    }

    fn join(
        #[starlark(require = pos)] path: &str,
        #[starlark(args)] paths: starlark::values::tuple::UnpackTuple<&str>,
    ) -> anyhow::Result<String> {
        let mut out = std::path::PathBuf::from(path);
        for p in paths.items {
            out.push(p);
        }
        Ok(paths::clean(&out).display().to_string())
    }

    fn realpath<'v>(path: &str, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        let abs = TiltState::get(eval)?.abs(path);
        match std::fs::canonicalize(&abs) {
            Ok(real) => Ok(real.display().to_string()),
            Err(e) => bail!("realpath: {}: {e}", abs.display()),
        }
    }

    fn expanduser(path: &str) -> anyhow::Result<String> {
        Ok(paths::expand_home(path))
    }
}

#[starlark_module]
fn shlex_module(builder: &mut GlobalsBuilder) {
    fn quote(name: &str) -> anyhow::Result<String> {
        Ok(shell_quote(name))
    }

    fn split<'v>(s: &str, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        Ok(heap.alloc(AllocList(shell_split(s)?)))
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

/// `os.environ`: reads and writes the Tiltfile's environment overlay.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct Environ;
starlark_simple_value!(Environ);

impl fmt::Display for Environ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("environ")
    }
}

fn key_of(index: Value<'_>) -> starlark::Result<String> {
    string_like(index).ok_or_else(|| {
        starlark::Error::new_other(anyhow::anyhow!(
            "os.environ: keys must be strings, got {}",
            index.get_type()
        ))
    })
}

#[starlark_value(type = "environ")]
impl<'v> StarlarkValue<'v> for Environ {
    fn at(&self, index: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let key = key_of(index)?;
        match with_env(|env| env.get(&key).cloned()).flatten() {
            Some(v) => Ok(heap.alloc(v)),
            None => Err(starlark::Error::new_other(anyhow::anyhow!(
                "os.environ: key {key:?} not found"
            ))),
        }
    }

    fn set_at(&self, index: Value<'v>, new_value: Value<'v>) -> starlark::Result<()> {
        let key = key_of(index)?;
        let value = string_like(new_value).ok_or_else(|| {
            starlark::Error::new_other(anyhow::anyhow!(
                "os.environ: values must be strings, got {}",
                new_value.get_type()
            ))
        })?;
        with_env(|env| env.insert(key, value));
        Ok(())
    }

    fn is_in(&self, other: Value<'v>) -> starlark::Result<bool> {
        let key = key_of(other)?;
        Ok(with_env(|env| env.contains_key(&key)).unwrap_or(false))
    }

    fn length(&self) -> starlark::Result<i32> {
        Ok(with_env(|env| env.len())
            .unwrap_or(0)
            .try_into()
            .unwrap_or(i32::MAX))
    }

    fn iterate_collect(&self, heap: Heap<'v>) -> starlark::Result<Vec<Value<'v>>> {
        let keys = with_env(|env| env.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        Ok(keys.into_iter().map(|k| heap.alloc(k)).collect())
    }

    fn get_methods() -> Option<&'static Methods>
    where
        Self: Sized,
    {
        static RES: MethodsStatic = MethodsStatic::new("environ_methods", environ_methods);
        Some(RES.methods())
    }
}

#[starlark_module]
fn environ_methods(builder: &mut MethodsBuilder) {
    fn get<'v>(
        #[starlark(this)] _this: Value<'v>,
        key: &str,
        #[starlark(default = NoneType)] default: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        Ok(match with_env(|env| env.get(key).cloned()).flatten() {
            Some(v) => heap.alloc(v),
            None => default,
        })
    }

    fn keys<'v>(#[starlark(this)] _this: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let keys = with_env(|env| env.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        Ok(heap.alloc(AllocList(keys)))
    }

    fn values<'v>(#[starlark(this)] _this: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let values = with_env(|env| env.values().cloned().collect::<Vec<_>>()).unwrap_or_default();
        Ok(heap.alloc(AllocList(values)))
    }

    fn items<'v>(#[starlark(this)] _this: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let items = with_env(|env| env.clone().into_iter().collect::<Vec<_>>()).unwrap_or_default();
        let tuples: Vec<Value<'v>> = items.into_iter().map(|(k, v)| heap.alloc((k, v))).collect();
        Ok(heap.alloc(AllocList(tuples)))
    }

    fn pop<'v>(
        #[starlark(this)] _this: Value<'v>,
        key: &str,
        #[starlark(default = NoneType)] default: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        Ok(match with_env(|env| env.remove(key)).flatten() {
            Some(v) => heap.alloc(v),
            None => default,
        })
    }
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
