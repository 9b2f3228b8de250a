//! Errors of the watch crate: bad ignore patterns and watcher start-up failures.

use std::path::PathBuf;

use crate::limits::LimitReport;

/// A pattern that cannot be compiled. Tilt skips the whole ignore set in that case, and so
/// does [`crate::WatchSet::build`], which reports this as a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad ignore pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

impl PatternError {
    pub(crate) fn new(pattern: &str, reason: impl Into<String>) -> PatternError {
        PatternError {
            pattern: pattern.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A pattern error with the ignore set it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_label}: {error}")]
pub struct IgnoreError {
    pub source_label: String,
    pub error: PatternError,
}

/// Why the watcher could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch the root directory {0}")]
    RootDirectory(PathBuf),
    #[error("failed to create the inotify watcher: {0}")]
    Create(#[source] notify::Error),
    #[error("{0}")]
    Limit(LimitReport),
    #[error("failed to start the watcher thread: {0}")]
    Thread(#[source] std::io::Error),
}
