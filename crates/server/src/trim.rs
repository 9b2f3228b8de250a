//! Gives freed heap memory back to the system after a crowd of dashboard clients leaves.
//!
//! glibc keeps freed memory in its per-thread arenas and returns it only when the top of a
//! heap is free: after a hundred WebSocket clients close, lilt's RSS stayed 20–60 % above
//! where it was, depending on where the last live allocation happened to sit (issue 9).
//! `malloc_trim` walks every arena and releases the free pages; it costs a few
//! milliseconds, so it runs only after the number of open connections has fallen to a
//! quarter of a peak of at least [`PEAK`], on a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// Connections open at once before their departure is worth a trim.
pub(crate) const PEAK: usize = 32;

/// Lets the last closes of a crowd land before trimming once.
const SETTLE: Duration = Duration::from_millis(500);

/// Trims each time `trigger` is notified, until `stop` changes.
pub(crate) async fn trimmer(trigger: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = trigger.notified() => {}
            _ = stop.changed() => return,
        }
        tokio::time::sleep(SETTLE).await;
        let started = std::time::Instant::now();
        let released = tokio::task::spawn_blocking(release).await.unwrap_or(false);
        tracing::debug!(
            released,
            took_ms = started.elapsed().as_secs_f64() * 1000.0,
            "returned free heap memory after dashboard clients left"
        );
    }
}

/// Returns free heap pages to the system; whether any were.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "glibc's malloc_trim has no safe binding")]
fn release() -> bool {
    // SAFETY: malloc_trim takes a plain integer, touches only the allocator's own state under
    // its own locks, and is documented as safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other allocators return memory by themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() -> bool {
    false
}
