//! Errors from starting and supervising local processes.

use std::io;
use std::path::PathBuf;

/// Why a local command, server or probe could not be run.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The command has no argv at all (Tilt says "empty cmd").
    #[error("empty cmd")]
    EmptyCommand,
    /// The operating system refused to start the command.
    #[error("failed to start {command:?} in {dir}: {source}")]
    Spawn {
        command: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Waiting for a started command failed (should not happen on a healthy system).
    #[error("failed to wait for {command:?} (pid {pid}): {source}")]
    Wait {
        command: String,
        pid: u32,
        #[source]
        source: io::Error,
    },
    /// The watchdog that cleans up after a killed lilt could not be started.
    #[error("failed to start the process watchdog: {0}")]
    Watchdog(#[source] io::Error),
    /// The readiness probe cannot be run as written.
    #[error("invalid readiness probe: {0}")]
    InvalidProbe(String),
}
