//! `lilt up --debug` / `LILT_LOG=...`: tracing for the engine's events, effects and their
//! timings, written to `.lilt/debug.log` beside the Tiltfile so a user can attach it to a
//! bug report. Off by default: nothing is recorded and nothing is written.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// What `--debug` turns on when `LILT_LOG` does not say otherwise.
const DEFAULT_FILTER: &str = "lilt=debug,lilt_runner=debug,lilt_server=debug,lilt_engine=debug,\
                              lilt_tiltfile=debug,lilt_local=debug,lilt_watch=debug";

/// Where the log goes for a Tiltfile.
pub(crate) fn path_for(tiltfile: &Path) -> PathBuf {
    let dir = match tiltfile.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    dir.join(".lilt").join("debug.log")
}

/// Installs the subscriber when `--debug` is given or `LILT_LOG` is set (an `EnvFilter`
/// directive such as `lilt_runner=trace`); returns the log's path then.
pub(crate) fn init(debug: bool, tiltfile: &Path) -> anyhow::Result<Option<PathBuf>> {
    let directives = match std::env::var("LILT_LOG") {
        Ok(d) if !d.trim().is_empty() => d,
        _ if debug => DEFAULT_FILTER.to_owned(),
        _ => return Ok(None),
    };
    let filter = EnvFilter::try_new(&directives)
        .with_context(|| format!("LILT_LOG={directives:?} is not a valid filter"))?;
    let path = path_for(tiltfile);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("starting the debug log: {e}"))?;
    Ok(Some(path))
}
