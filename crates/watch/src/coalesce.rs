//! Coalescing bursts of file events into batches, as a pure state machine over instants the
//! caller supplies (the watcher passes the real clock; tests pass made-up instants).
//!
//! A batch closes once `quiet` has passed without a new path, or `max` after its first
//! path, whichever comes first (Tilt: `fsevent/coalesce.go`, 200 ms and 10 s).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The default quiet window. Chosen by measurement (see `docs/performance.md`): with 20 ms an
/// editor's save always lands in one batch and a `git checkout` of 3,000 files in one or
/// two, while a save reaches its command in under 30 ms (Tilt waits 200 ms). 30 ms never
/// split a checkout but missed that latency target; 10 ms split checkouts two or three ways.
pub const DEFAULT_QUIET: Duration = Duration::from_millis(20);
/// The longest a batch may stay open while events keep coming.
pub const DEFAULT_MAX: Duration = Duration::from_secs(10);

/// How long to wait before closing a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoalesceConfig {
    pub quiet: Duration,
    pub max: Duration,
}

impl Default for CoalesceConfig {
    fn default() -> Self {
        CoalesceConfig {
            quiet: DEFAULT_QUIET,
            max: DEFAULT_MAX,
        }
    }
}

/// A closed batch of changed paths, deduplicated and sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    pub paths: BTreeSet<PathBuf>,
    /// The kernel dropped events (inotify queue overflow): anything under the watched roots
    /// may have changed, and `paths` lists the roots.
    pub overflowed: bool,
}

/// The state machine. Feed it with [`Coalescer::push`], ask [`Coalescer::deadline`] how
/// long to sleep, and call [`Coalescer::poll`] when woken.
#[derive(Debug, Clone)]
pub struct Coalescer {
    config: CoalesceConfig,
    pending: Batch,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

impl Coalescer {
    pub fn new(config: CoalesceConfig) -> Coalescer {
        Coalescer {
            config,
            pending: Batch::default(),
            first_at: None,
            last_at: None,
        }
    }

    /// Records changed paths seen at `now`. Pushing nothing does not reset the quiet timer.
    pub fn push(&mut self, now: Instant, paths: impl IntoIterator<Item = PathBuf>) {
        let mut any = false;
        for path in paths {
            any = true;
            self.pending.paths.insert(path);
        }
        if !any {
            return;
        }
        // A duplicate path still counts as activity: the file is still being written.
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
    }

    /// Records an overflow: the batch will say so, and carry `roots` as its paths.
    pub fn push_overflow(&mut self, now: Instant, roots: impl IntoIterator<Item = PathBuf>) {
        self.pending.overflowed = true;
        self.pending.paths.extend(roots);
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
    }

    /// When the open batch will close, or `None` when nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        let first = self.first_at?;
        let last = self.last_at.unwrap_or(first);
        Some((last + self.config.quiet).min(first + self.config.max))
    }

    /// Closes and returns the batch if its deadline has passed at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Batch> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        self.first_at = None;
        self.last_at = None;
        Some(std::mem::take(&mut self.pending))
    }

    /// Closes the batch now, whatever the deadline (used on shutdown).
    pub fn flush(&mut self) -> Option<Batch> {
        self.first_at?;
        self.first_at = None;
        self.last_at = None;
        Some(std::mem::take(&mut self.pending))
    }

    pub fn is_idle(&self) -> bool {
        self.first_at.is_none()
    }
}
