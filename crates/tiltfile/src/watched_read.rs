//! Reads of files that can block forever: named pipes, terminals, sockets.
//!
//! `read_file('some.fifo')` waits, as in Tilt, until something writes to the pipe, and used
//! to wait in silence with no way out but ending lilt. Such a read now runs on a thread of
//! its own while the evaluation watches it as it watches a slow `local()`: a notice after
//! 5 s and every 30 s, and an error when the load is cancelled (Ctrl-C, the dashboard) or
//! takes longer than the evaluation timeout. Regular files never take this path.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Progress;

/// The first notice about a read that has not finished.
const FIRST_NOTICE: Duration = Duration::from_secs(5);
/// Later notices.
const NOTICE_PERIOD: Duration = Duration::from_secs(30);
/// How often the waiting evaluation looks at cancellation.
const POLL: Duration = Duration::from_millis(50);

/// What the evaluation on this thread wants a blocking read to respect.
#[derive(Clone)]
pub(crate) struct Watch {
    pub(crate) cancel: Option<Arc<AtomicBool>>,
    pub(crate) timeout: Duration,
    pub(crate) progress: Option<Progress>,
}

thread_local! {
    static WATCH: RefCell<Option<Watch>> = const { RefCell::new(None) };
}

/// Sets the watch of the evaluation running on this thread.
pub(crate) fn set_watch(watch: Watch) {
    WATCH.set(Some(watch));
}

/// Whether `path` is something a read can block on (not a regular file or directory).
pub(crate) fn may_block(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Reads `path` with `read` on a helper thread, watched as described above.
pub(crate) fn read(
    path: &Path,
    read: impl FnOnce(File) -> io::Result<Vec<u8>> + Send + 'static,
) -> io::Result<Vec<u8>> {
    let watch = WATCH.with_borrow(Clone::clone).unwrap_or(Watch {
        cancel: None,
        timeout: crate::DEFAULT_TIMEOUT,
        progress: None,
    });
    let (tx, rx) = mpsc::channel();
    let owned: PathBuf = path.to_path_buf();
    std::thread::Builder::new()
        .name("tiltfile-read".to_owned())
        .spawn(move || {
            let _ = tx.send(File::open(&owned).and_then(read));
        })?;
    let started = Instant::now();
    let mut next_notice = started + FIRST_NOTICE;
    loop {
        match rx.recv_timeout(POLL) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other(
                    "the reading thread ended without a result",
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        let cancelled = watch
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed));
        if cancelled || now > started + watch.timeout {
            release(path);
            let why = if cancelled {
                "nothing finished writing to it before the Tiltfile evaluation was cancelled"
                    .to_owned()
            } else {
                format!(
                    "nothing finished writing to it within the Tiltfile evaluation timeout of {}s",
                    watch.timeout.as_secs()
                )
            };
            return Err(io::Error::new(io::ErrorKind::TimedOut, why));
        }
        if now >= next_notice {
            if let Some(progress) = &watch.progress {
                (progress.0)(&format!(
                    "read: {} is still being read after {}s (a pipe or terminal that nothing \
                     writes to?)",
                    path.display(),
                    now.duration_since(started).as_secs()
                ));
            }
            next_notice = now + NOTICE_PERIOD;
        }
    }
}

/// Ends a helper still waiting for a writer on a FIFO: a writer that opens and closes at once
/// gives it end-of-file. A terminal or a silent writer keeps it until input comes or lilt ends.
fn release(path: &Path) {
    let is_fifo = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
    if is_fifo {
        let _ = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
    }
}
