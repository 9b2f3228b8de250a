//! File builtins: `read_file`, `watch_file`, `listdir`, and the `read_*` parsers.

use std::path::{Path, PathBuf};

use anyhow::Context;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::list::AllocList;
use starlark::values::none::NoneType;

use crate::builtins::encoding::{json_to_value, parse_json, parse_yaml_doc, parse_yaml_stream};
use crate::state::TiltState;
use crate::values::{Blob, string_like};

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    io_builtins(builder);
}

/// Reads `path` (recorded as a config file even when missing, so creating it reloads).
/// `Ok(None)` means "missing, and the caller has a default".
fn read_recorded(
    state: &TiltState,
    path: &str,
    has_default: bool,
) -> anyhow::Result<Option<String>> {
    let abs = state.abs(path);
    state.record_config_file(abs.clone());
    match std::fs::read(&abs) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if has_default && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
            anyhow::bail!("{}", crate::paths::go_io_error("read", &abs, &e))
        }
        Err(e) => anyhow::bail!("{}", crate::paths::go_io_error("open", &abs, &e)),
    }
}

#[starlark_module]
fn io_builtins(builder: &mut GlobalsBuilder) {
    /// The file's content as a blob; `default` when it does not exist.
    fn read_file<'v>(
        paths: &str,
        #[starlark(default = NoneType)] default: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let default_text = if default.is_none() {
            None
        } else {
            Some(string_like(default).with_context(|| {
                format!(
                    "read_file: default must be a string, got {}",
                    default.get_type()
                )
            })?)
        };
        let text = match read_recorded(state, paths, default_text.is_some())? {
            Some(text) => text,
            None => default_text.unwrap_or_default(),
        };
        Ok(eval.heap().alloc(Blob { text }))
    }

    /// Re-runs the Tiltfile when this path (a file, or a directory recursively) changes.
    fn watch_file<'v>(paths: &str, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        state.record_config_file(state.abs(paths));
        Ok(NoneType)
    }

    /// Absolute paths of the files in a directory; `recursive=True` also watches it.
    fn listdir<'v>(
        dir: &str,
        #[starlark(default = false)] recursive: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let abs = state.abs(dir);
        if recursive {
            state.record_config_file(abs.clone());
        }
        let mut files = Vec::new();
        list_files(&abs, recursive, &mut files)
            .with_context(|| format!("listdir: cannot read {}", abs.display()))?;
        files.sort();
        let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        Ok(eval.heap().alloc(AllocList(files)))
    }

    fn read_json<'v>(
        paths: &str,
        #[starlark(default = NoneType)] default: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        read_parsed(eval, paths, default, "JSON", parse_json)
    }

    fn read_yaml<'v>(
        paths: &str,
        #[starlark(default = NoneType)] default: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        read_parsed(eval, paths, default, "YAML", parse_yaml_doc)
    }

    fn read_yaml_stream<'v>(
        paths: &str,
        #[starlark(default = NoneType)] default: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        read_parsed(eval, paths, default, "YAML", |text| {
            parse_yaml_stream(text).map(serde_json::Value::Array)
        })
    }
}

/// `read_json`/`read_yaml`/`read_yaml_stream`: read a recorded config file, parse it, or
/// give `default` when it is missing and a default was passed.
fn read_parsed<'v>(
    eval: &mut Evaluator<'v, '_, '_>,
    path: &str,
    default: Value<'v>,
    format: &str,
    parse: impl FnOnce(&str) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<Value<'v>> {
    let state = TiltState::get(eval)?;
    match read_recorded(state, path, !default.is_none())? {
        None => Ok(default),
        Some(text) => {
            let data = parse(&text).with_context(|| {
                format!("error parsing {format} from {}", state.abs(path).display())
            })?;
            Ok(json_to_value(eval.heap(), data))
        }
    }
}

fn list_files(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.is_dir() {
        bail_io(dir)?;
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
            if recursive {
                list_files(&path, true, out)?;
            }
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn bail_io(dir: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{} is not a directory", dir.display()),
    ))
}
