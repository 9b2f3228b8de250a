//! File builtins: `read_file`, `watch_file`, `listdir`, and the `read_*` parsers.

use std::path::{Path, PathBuf};

use anyhow::Context;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::list::AllocList;
use starlark::values::none::NoneType;

use crate::builtins::args::PathArg;
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
    match state.read_capped(&abs) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if has_default && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::IsADirectory | std::io::ErrorKind::FileTooLarge
            ) =>
        {
            anyhow::bail!("{}", crate::paths::go_io_error("read", &abs, &e))
        }
        Err(e) => anyhow::bail!("{}", crate::paths::go_io_error("open", &abs, &e)),
    }
}

#[starlark_module]
fn io_builtins(builder: &mut GlobalsBuilder) {
    /// The file's content as a blob; `default` when it does not exist.
    fn read_file<'v>(
        paths: PathArg<'v>,
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
        let text = match read_recorded(state, &paths, default_text.is_some())? {
            Some(text) => text,
            None => default_text.unwrap_or_default(),
        };
        Ok(eval.heap().alloc(Blob { text }))
    }

    /// Re-runs the Tiltfile when this path (a file, or a directory recursively) changes.
    fn watch_file<'v>(
        paths: PathArg<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        state.record_config_file(state.abs(&paths));
        Ok(NoneType)
    }

    /// Absolute paths of the files in a directory; `recursive=True` also watches it.
    fn listdir<'v>(
        dir: PathArg<'v>,
        #[starlark(default = false)] recursive: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let abs = state.abs(&dir);
        if recursive {
            state.record_config_file(abs.clone());
        }
        let mut files = Vec::new();
        list_files(&abs, recursive, &mut files);
        let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        Ok(eval.heap().alloc(AllocList(files)))
    }

    fn read_json<'v>(
        paths: PathArg<'v>,
        // Tilt tells "not passed" from None: `default=None` gives None for a missing file.
        default: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        read_parsed(eval, &paths, default, "JSON", parse_json)
    }

    fn read_yaml<'v>(
        paths: PathArg<'v>,
        // Tilt tells "not passed" from None: `default=None` gives None for a missing file.
        default: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        read_parsed(eval, &paths, default, "YAML", parse_yaml_doc)
    }

    fn read_yaml_stream<'v>(
        paths: PathArg<'v>,
        #[starlark(default = NoneType)] default: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        // Tilt wants a list here, so None is "no default".
        let default = Some(default).filter(|d| !d.is_none());
        read_parsed(eval, &paths, default, "YAML", |text| {
            parse_yaml_stream(text).map(serde_json::Value::Array)
        })
    }
}

/// `read_json`/`read_yaml`/`read_yaml_stream`: read a recorded config file, parse it, or
/// give `default` when it is missing and a default was passed.
fn read_parsed<'v>(
    eval: &mut Evaluator<'v, '_, '_>,
    path: &str,
    default: Option<Value<'v>>,
    format: &str,
    parse: impl FnOnce(&str) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<Value<'v>> {
    let state = TiltState::get(eval)?;
    match read_recorded(state, path, default.is_some())? {
        None => Ok(default.unwrap_or_else(Value::new_none)),
        Some(text) => {
            let data = parse(&text).with_context(|| {
                format!("error parsing {format} from {}", state.abs(path).display())
            })?;
            Ok(json_to_value(eval.heap(), data))
        }
    }
}

/// Tilt's walk (Go's `filepath.WalkDir`): entries in name order, depth first; symlinks are
/// listed as files and never followed, not even at the root; unreadable or missing
/// directories are skipped without error, so a missing `dir` lists nothing.
fn list_files(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => walk_dir(dir, recursive, out),
        _ => {}
    }
}

fn walk_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(std::ffi::OsString, bool)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (e.file_name(), is_dir)
        })
        .collect();
    entries.sort();
    for (name, is_dir) in entries {
        let path = dir.join(name);
        if !is_dir {
            out.push(path);
        } else if recursive {
            walk_dir(&path, true, out);
        }
    }
}
