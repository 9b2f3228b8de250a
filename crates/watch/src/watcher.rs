//! The inotify watcher (after Tilt's `watcher_naive.go`): walks each watched root once,
//! skips directories the ignores cover entirely, adds one non-recursive watch per remaining
//! directory, follows directories created later, and polls what it cannot watch.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{INotifyWatcher, RecursiveMode, Watcher as _};

use crate::coalesce::{Batch, CoalesceConfig, Coalescer};
use crate::error::WatchError;
use crate::limits::{InotifyLimit, LimitReport};
use crate::poll::DirSnapshot;
use crate::spec::WatchSet;

/// How the watcher batches and falls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatcherConfig {
    pub coalesce: CoalesceConfig,
    /// How often directories without an inotify watch are listed.
    pub poll_interval: Duration,
    /// Watch at most this many directories and poll the rest; `None` means "until the
    /// kernel's limit".
    pub max_watches: Option<usize>,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        WatcherConfig {
            coalesce: CoalesceConfig::default(),
            poll_interval: Duration::from_secs(1),
            max_watches: None,
        }
    }
}

/// What the watcher hands to its sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// A closed batch of changed paths that trigger at least one target.
    Changes(Batch),
    Warning(WatchWarning),
}

/// Something the user should know; the watcher keeps running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchWarning {
    /// An inotify limit was hit; some directories are polled instead.
    Limit(LimitReport),
    /// A directory could not be read or watched.
    Io { path: PathBuf, message: String },
    /// notify reported an error of its own.
    Notify(String),
}

impl fmt::Display for WatchWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchWarning::Limit(report) => write!(f, "{report}"),
            WatchWarning::Io { path, message } => {
                write!(f, "cannot watch {}: {message}", path.display())
            }
            WatchWarning::Notify(message) => write!(f, "file watcher error: {message}"),
        }
    }
}

/// Counters, for tests, benchmarks and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchStats {
    /// Directories with an inotify watch.
    pub watched_dirs: usize,
    /// Directories scanned by the polling fallback.
    pub polled_dirs: usize,
}

/// A running watcher. Dropping it stops the thread and delivers the pending batch.
pub struct Watcher {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Counters>,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("stats", &self.stats())
            .finish()
    }
}

type Sink = Box<dyn FnMut(WatchMessage) + Send>;

enum Msg {
    Event(notify::Result<notify::Event>),
    Stop,
}

#[derive(Default)]
struct Counters {
    watched: AtomicUsize,
    polled: AtomicUsize,
}

impl Watcher {
    /// Walks every watched root and adds the watches; returns once they are all in place,
    /// so a change made after `start` returns is seen. Messages go to `sink`, called from
    /// the watcher's own thread (and from this one for start-up warnings).
    pub fn start(
        set: WatchSet,
        config: WatcherConfig,
        sink: impl FnMut(WatchMessage) + Send + 'static,
    ) -> Result<Watcher, WatchError> {
        let roots = set.roots();
        if let Some(root) = roots.iter().find(|r| r.parent().is_none()) {
            return Err(WatchError::RootDirectory(root.clone()));
        }
        let (tx, rx) = mpsc::channel();
        let handler_tx = tx.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            // notify watches IN_OPEN too; reads never matter, so drop them here.
            if let Ok(event) = &res
                && matches!(event.kind, EventKind::Access(_))
            {
                return;
            }
            let _ = handler_tx.send(Msg::Event(res));
        };
        let (inotify, limit) = match INotifyWatcher::new(handler, notify::Config::default()) {
            Ok(w) => (Some(w), None),
            Err(e) => match InotifyLimit::from_error(&e) {
                Some(limit) => (None, Some(limit)),
                None => return Err(WatchError::Create(e)),
            },
        };
        let stats = Arc::new(Counters::default());
        let mut state = State {
            set,
            config,
            inotify,
            watched: BTreeSet::new(),
            polled: BTreeMap::new(),
            limit,
            limit_reported: false,
            coalescer: Coalescer::new(config.coalesce),
            sink: Box::new(sink),
            stats: Arc::clone(&stats),
            roots: roots.clone(),
        };
        for root in &roots {
            state.add_root(root);
        }
        state.after_changes();
        let thread = std::thread::Builder::new()
            .name("lilt-watch".to_owned())
            .spawn(move || state.run(rx))
            .map_err(WatchError::Thread)?;
        Ok(Watcher {
            tx,
            thread: Some(thread),
            stats,
        })
    }

    pub fn stats(&self) -> WatchStats {
        WatchStats {
            watched_dirs: self.stats.watched.load(Ordering::Relaxed),
            polled_dirs: self.stats.polled.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct State {
    set: WatchSet,
    config: WatcherConfig,
    inotify: Option<INotifyWatcher>,
    /// Ordered so that a directory's descendants follow it (component-wise order).
    watched: BTreeSet<PathBuf>,
    polled: BTreeMap<PathBuf, DirSnapshot>,
    /// Once a limit is hit, further directories go straight to polling.
    limit: Option<InotifyLimit>,
    limit_reported: bool,
    coalescer: Coalescer,
    sink: Sink,
    stats: Arc<Counters>,
    roots: Vec<PathBuf>,
}

impl State {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut next_poll = Instant::now() + self.config.poll_interval;
        loop {
            let mut wake = self.coalescer.deadline();
            if !self.polled.is_empty() {
                wake = Some(wake.map_or(next_poll, |w| w.min(next_poll)));
            }
            let msg = match wake {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(Msg::Event(res)) => self.handle(res),
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    if let Some(batch) = self.coalescer.flush() {
                        (self.sink)(WatchMessage::Changes(batch));
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if !self.polled.is_empty() && now >= next_poll {
                self.poll_dirs();
                next_poll = Instant::now() + self.config.poll_interval;
            }
            self.after_changes();
            if let Some(batch) = self.coalescer.poll(Instant::now()) {
                (self.sink)(WatchMessage::Changes(batch));
            }
        }
    }

    fn add_root(&mut self, root: &Path) {
        let Some(start) = nearest_existing_dir(root) else {
            return;
        };
        self.walk(&start, false);
    }

    /// Walks `start`, watching every directory the set does not let us skip. With
    /// `report`, every relevant entry found is reported as changed: it may have been
    /// written before its directory's watch was in place.
    fn walk(&mut self, start: &Path, report: bool) {
        let now = Instant::now();
        let mut entries = walkdir::WalkDir::new(start).into_iter();
        while let Some(next) = entries.next() {
            let entry = match next {
                Ok(entry) => entry,
                Err(e) => {
                    let not_found = e
                        .io_error()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound);
                    if !not_found {
                        let path = e.path().unwrap_or(start).to_path_buf();
                        self.warn(WatchWarning::Io {
                            path,
                            message: e.to_string(),
                        });
                    }
                    continue;
                }
            };
            let path = entry.path();
            if entry.file_type().is_dir() {
                if self.set.should_skip_dir(path) {
                    entries.skip_current_dir();
                    continue;
                }
                self.add_dir(path);
            }
            if report && self.set.is_relevant(path) {
                self.coalescer.push(now, [path.to_path_buf()]);
            }
        }
    }

    fn add_dir(&mut self, dir: &Path) {
        if self.watched.contains(dir) || self.polled.contains_key(dir) {
            return;
        }
        if self.limit.is_none()
            && let Some(max) = self.config.max_watches
            && self.watched.len() >= max
        {
            self.limit = Some(InotifyLimit::Configured(max));
        }
        if self.limit.is_none()
            && let Some(inotify) = self.inotify.as_mut()
        {
            match inotify.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir.to_path_buf());
                    return;
                }
                Err(e) => match InotifyLimit::from_error(&e) {
                    Some(limit) => self.limit = Some(limit),
                    None => {
                        if !matches!(e.kind, notify::ErrorKind::PathNotFound) {
                            self.warn(WatchWarning::Io {
                                path: dir.to_path_buf(),
                                message: e.to_string(),
                            });
                        }
                        return;
                    }
                },
            }
        }
        self.polled
            .insert(dir.to_path_buf(), DirSnapshot::take(dir));
    }

    /// Drops a removed or renamed-away directory and everything under it. notify has
    /// already removed the inotify watches themselves.
    fn forget(&mut self, path: &Path) {
        if self.watched.contains(path) {
            let gone: Vec<PathBuf> = self
                .watched
                .range(path.to_path_buf()..)
                .take_while(|p| p.starts_with(path))
                .cloned()
                .collect();
            for p in gone {
                self.watched.remove(&p);
            }
        }
        if self.polled.contains_key(path) {
            let gone: Vec<PathBuf> = self
                .polled
                .range(path.to_path_buf()..)
                .take_while(|(p, _)| p.starts_with(path))
                .map(|(p, _)| p.clone())
                .collect();
            for p in gone {
                self.polled.remove(&p);
            }
        }
    }

    fn handle(&mut self, res: notify::Result<notify::Event>) {
        let event = match res {
            Ok(event) => event,
            Err(e) => {
                match InotifyLimit::from_error(&e) {
                    Some(limit) => self.limit = Some(limit),
                    None => self.warn(WatchWarning::Notify(e.to_string())),
                }
                return;
            }
        };
        let now = Instant::now();
        if event.need_rescan() {
            self.coalescer.push_overflow(now, self.roots.clone());
            return;
        }
        match event.kind {
            EventKind::Access(_) => {}
            // The From and To halves arrive as their own events.
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {}
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                for path in &event.paths {
                    self.forget(path);
                    self.report(now, path);
                }
            }
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) => {
                for path in &event.paths {
                    if is_real_dir(path) {
                        self.walk(path, true);
                    } else {
                        self.report(now, path);
                    }
                }
            }
            _ => {
                for path in &event.paths {
                    // A directory's own mtime or mode changing is not a change to its files.
                    if self.set.is_relevant(path) && !is_real_dir(path) {
                        self.coalescer.push(now, [path.clone()]);
                    }
                }
            }
        }
    }

    fn report(&mut self, now: Instant, path: &Path) {
        if self.set.is_relevant(path) {
            self.coalescer.push(now, [path.to_path_buf()]);
        }
    }

    fn poll_dirs(&mut self) {
        let now = Instant::now();
        let dirs: Vec<PathBuf> = self.polled.keys().cloned().collect();
        for dir in dirs {
            let Some(old) = self.polled.get(&dir) else {
                continue;
            };
            let newer = DirSnapshot::take(&dir);
            let diff = old.diff(&dir, &newer);
            if dir.is_dir() {
                self.polled.insert(dir.clone(), newer);
            } else {
                self.polled.remove(&dir);
            }
            for gone in &diff.gone_dirs {
                self.forget(gone);
            }
            for path in &diff.changed {
                self.report(now, path);
            }
            for new_dir in &diff.new_dirs {
                self.walk(new_dir, true);
            }
        }
    }

    /// Publishes counters and, the first time directories end up polled, says why.
    fn after_changes(&mut self) {
        self.stats
            .watched
            .store(self.watched.len(), Ordering::Relaxed);
        self.stats
            .polled
            .store(self.polled.len(), Ordering::Relaxed);
        if !self.limit_reported
            && !self.polled.is_empty()
            && let Some(limit) = self.limit
        {
            self.limit_reported = true;
            let report = LimitReport::new(limit, self.polled.len(), self.config.poll_interval);
            (self.sink)(WatchMessage::Warning(WatchWarning::Limit(report)));
        }
    }

    fn warn(&mut self, warning: WatchWarning) {
        (self.sink)(WatchMessage::Warning(warning));
    }
}

/// A directory, not a symlink to one: links are never followed below a root.
fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// The directory to start walking from for a watched path: the path itself when it is a
/// directory, its parent when it is a file, or the nearest existing ancestor when it does
/// not exist yet.
fn nearest_existing_dir(path: &Path) -> Option<PathBuf> {
    let mut current = path;
    loop {
        match std::fs::metadata(current) {
            Ok(meta) if meta.is_dir() => return Some(current.to_path_buf()),
            Ok(_) => return current.parent().map(Path::to_path_buf),
            Err(_) => current = current.parent()?,
        }
    }
}
