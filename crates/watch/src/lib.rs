//! File watching for lilt: dockerignore-syntax ignore rules, the pure mapping from changed
//! paths to the targets they trigger (with explanations for `lilt why`), coalescing of event
//! bursts, and an inotify watcher that never watches ignored directories.
//!
//! The pieces, from pure to I/O:
//! - [`Matcher`]: ignore sets (`lilt_model::IgnoreSet`) with moby/patternmatcher semantics,
//!   plus Tilt's built-in editor temp-file rules ([`editor_temp_rule`]).
//! - [`WatchSet`]: targets with watched paths and ignores; [`WatchSet::affected`] and
//!   [`WatchSet::explain`].
//! - [`Coalescer`]: bursts → batches, over instants supplied by the caller.
//! - [`Watcher`]: walks the roots, adds one non-recursive inotify watch per directory that
//!   is not entirely ignored, follows new directories, and falls back to polling when an
//!   inotify limit is hit.

mod coalesce;
mod error;
mod limits;
mod matcher;
mod paths;
mod pattern;
mod poll;
mod spec;
mod watcher;

pub use coalesce::{Batch, CoalesceConfig, Coalescer, DEFAULT_MAX, DEFAULT_QUIET};
pub use error::{IgnoreError, PatternError, WatchError};
pub use limits::{InotifyLimit, LimitReport};
pub use matcher::{
    EDITOR_TEMP_PATTERNS, IgnoreHit, IgnoreRule, IgnoreSource, Matcher, SourcedIgnore,
    editor_temp_rule, matcher_for, parse_dockerignore,
};
pub use paths::clean as clean_path;
pub use spec::{Explanation, Reason, TargetId, TargetVerdict, Verdict, WatchSet, WatchSpec};
pub use watcher::{WatchMessage, WatchStats, WatchWarning, Watcher, WatcherConfig};
