//! The registry of running process groups, and the watchdog that ends them if lilt dies.
//!
//! `PR_SET_PDEATHSIG` is not used: setting it needs `pre_exec` (unsafe code, which the
//! workspace denies), it only covers the direct child, and it fires when the *thread* that
//! forked exits, which with tokio's blocking pool would kill servers at random. Instead a
//! tiny `sh` watchdog is started once, in its own process group so terminal signals miss
//! it. It reads `add PGID` / `del PGID` lines from a pipe whose write end only lilt holds
//! (std creates pipes close-on-exec, so no child inherits it). When lilt exits or is
//! SIGKILLed the pipe closes, and the watchdog sends SIGTERM to every group it still knows,
//! waits a short grace, then sends SIGKILL.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{PipeWriter, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::error::LocalError;
use crate::group::{group_alive, signal_group};

/// The default time the watchdog gives groups between SIGTERM and SIGKILL.
pub const DEFAULT_WATCHDOG_GRACE: Duration = Duration::from_secs(2);

/// `$1` is the grace in tenths of a second. Terminal-generated signals are ignored because
/// the watchdog must outlive a Ctrl-C'd lilt long enough to clean up.
const WATCHDOG_SCRIPT: &str = r#"trap '' INT HUP QUIT
groups=' '
while read -r op g; do
  case "$op" in
    add) groups="$groups$g " ;;
    del) case "$groups" in *" $g "*) groups="${groups%% $g *} ${groups#* $g }" ;; esac ;;
  esac
done
[ "$groups" = ' ' ] && exit 0
for g in $groups; do kill -TERM -"$g" 2>/dev/null; done
i=0
while [ "$i" -lt "$1" ]; do
  alive=
  for g in $groups; do kill -0 -"$g" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.1
  i=$((i+1))
done
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
"#;

/// Every process group lilt started and has not seen end. Create one per lilt process and
/// clone it freely; the watchdog lives as long as the last clone.
#[derive(Clone)]
pub struct ProcessRegistry {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    groups: BTreeSet<u32>,
    watchdog: Option<Watchdog>,
}

struct Watchdog {
    writer: PipeWriter,
    child: Child,
}

impl ProcessRegistry {
    /// A registry with a watchdog that gives groups [`DEFAULT_WATCHDOG_GRACE`].
    pub fn new() -> Result<Self, LocalError> {
        Self::with_watchdog_grace(DEFAULT_WATCHDOG_GRACE)
    }

    /// A registry whose watchdog waits `grace` between SIGTERM and SIGKILL.
    pub fn with_watchdog_grace(grace: Duration) -> Result<Self, LocalError> {
        let (reader, writer) = std::io::pipe().map_err(LocalError::Watchdog)?;
        let tenths = grace.as_millis().div_ceil(100).to_string();
        let child = Command::new("sh")
            .args(["-c", WATCHDOG_SCRIPT, "lilt-watchdog", &tenths])
            .stdin(reader)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(LocalError::Watchdog)?;
        Ok(Self::from_inner(Some(Watchdog { writer, child })))
    }

    /// A registry without a watchdog: groups are still ended by [`kill_all`](Self::kill_all),
    /// but not if lilt is SIGKILLed.
    pub fn without_watchdog() -> Self {
        Self::from_inner(None)
    }

    fn from_inner(watchdog: Option<Watchdog>) -> Self {
        ProcessRegistry {
            inner: Arc::new(Mutex::new(Inner {
                groups: BTreeSet::new(),
                watchdog,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent even if a holder panicked: every update is one insert
        // or remove.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The watchdog's pid, if it runs.
    pub fn watchdog_pid(&self) -> Option<u32> {
        self.lock().watchdog.as_ref().map(|w| w.child.id())
    }

    /// The process groups currently tracked.
    pub fn groups(&self) -> Vec<u32> {
        self.lock().groups.iter().copied().collect()
    }

    pub(crate) fn register(&self, pgid: u32) {
        let mut inner = self.lock();
        if inner.groups.insert(pgid) {
            inner.tell_watchdog("add", pgid);
        }
    }

    pub(crate) fn unregister(&self, pgid: u32) {
        let mut inner = self.lock();
        if inner.groups.remove(&pgid) {
            inner.tell_watchdog("del", pgid);
        }
    }

    /// Ends every tracked group, for a normal shutdown (Ctrl-C, SIGTERM): SIGTERM to all,
    /// up to `grace` for them to exit, then SIGKILL to the rest. Blocks the calling thread
    /// (from async code, call it in `spawn_blocking`). Returns how many groups needed
    /// SIGKILL. Servers ended this way report [`ServeEvent::Exited`](crate::ServeEvent),
    /// which a shutting-down caller ignores.
    pub fn kill_all(&self, grace: Duration) -> usize {
        let groups = self.groups();
        for &pgid in &groups {
            signal_group(pgid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        let mut alive: Vec<u32> = groups.clone();
        loop {
            alive.retain(|&pgid| group_alive(pgid));
            if alive.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for &pgid in &alive {
            signal_group(pgid, Signal::SIGKILL);
        }
        let kill_deadline = Instant::now() + Duration::from_secs(5);
        while alive.iter().any(|&pgid| group_alive(pgid)) && Instant::now() < kill_deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for &pgid in &groups {
            self.unregister(pgid);
        }
        alive.len()
    }
}

impl Inner {
    fn tell_watchdog(&mut self, op: &str, pgid: u32) {
        if let Some(watchdog) = &mut self.watchdog {
            // One short write is atomic on a pipe. If the watchdog died, the groups are
            // still ended by kill_all and by dropping their handles.
            let _ = watchdog
                .writer
                .write_all(format!("{op} {pgid}\n").as_bytes());
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(Watchdog { writer, mut child }) = self.watchdog.take() {
            // Closing the pipe tells the watchdog to end what is left and exit; reap it off
            // the current thread so a slow group does not block the caller.
            drop(writer);
            if !matches!(child.try_wait(), Ok(Some(_))) {
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
            }
        }
    }
}

impl fmt::Debug for ProcessRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("ProcessRegistry")
            .field("groups", &inner.groups)
            .field("watchdog", &inner.watchdog.as_ref().map(|w| w.child.id()))
            .finish()
    }
}
