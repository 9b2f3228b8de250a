//! The accept loop under the router: HTTP/1.1 connections with a header-read timeout, an
//! idle timeout and a cap on open connections that closes unauthenticated ones first, so a
//! local process opening thousands of idle or half-sent connections cannot take the API or
//! lilt's file descriptors away (issue 9).
//!
//! axum's `serve` has no such knobs, hence this loop on hyper's `http1` builder with the
//! router as a `tower::Service`. Every request carries its connection's [`Conn`], through
//! which the guard marks the connection authenticated once it presents the token.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::Limits;

/// The open connections, and the unauthenticated ones by age (oldest first).
pub(crate) struct Connections {
    max: usize,
    inner: Mutex<Registry>,
    /// Told when a crowd of connections has left (see `trim.rs`).
    crowd_left: Arc<Notify>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: usize,
    /// The most connections open at once since the last crowd left.
    peak: usize,
    unauthenticated: BTreeMap<u64, Arc<Notify>>,
}

/// One admitted connection; dropping it frees its place. A WebSocket keeps it (through its
/// request's [`Conn`]) for as long as the socket lives.
pub(crate) struct Slot {
    id: u64,
    connections: Arc<Connections>,
    close: Arc<Notify>,
    authenticated: AtomicBool,
}

/// The request extension naming the connection a request came on.
#[derive(Clone)]
pub(crate) struct Conn(pub Arc<Slot>);

impl Connections {
    pub(crate) fn new(max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            max: max.max(1),
            inner: Mutex::new(Registry::default()),
            crowd_left: Arc::new(Notify::new()),
        })
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection. At the cap, the oldest unauthenticated connection is
    /// told to close; when there is none, the new connection is refused (`None`).
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Arc<Slot>> {
        let mut reg = self.registry();
        if reg.open >= self.max {
            let (_, oldest) = reg.unauthenticated.pop_first()?;
            // Its place is freed when its task ends, a moment later.
            oldest.notify_one();
        }
        let id = reg.next_id;
        reg.next_id += 1;
        reg.open += 1;
        reg.peak = reg.peak.max(reg.open);
        let close = Arc::new(Notify::new());
        reg.unauthenticated.insert(id, close.clone());
        Some(Arc::new(Slot {
            id,
            connections: self.clone(),
            close,
            authenticated: AtomicBool::new(false),
        }))
    }
}

impl Slot {
    /// The connection presented the session token: it is no longer a candidate for eviction.
    pub(crate) fn authenticate(&self) {
        if !self.authenticated.swap(true, Ordering::Relaxed) {
            self.connections.registry().unauthenticated.remove(&self.id);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut reg = self.connections.registry();
        reg.open -= 1;
        reg.unauthenticated.remove(&self.id);
        if reg.peak >= crate::trim::PEAK && reg.open <= reg.peak / 4 {
            reg.peak = reg.open;
            self.connections.crowd_left.notify_one();
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets
/// in-flight requests finish and returns once every connection task has ended.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Connections::new(limits.max_connections);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        // Queue response bodies instead of copying them into a per-connection buffer.
        .writev(true);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let trimmer = tokio::spawn(crate::trim::trimmer(
        connections.crowd_left.clone(),
        stop_rx.clone(),
    ));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a connection reset before it
                    // was accepted: never fatal. Pause so a full table does not spin.
                    tracing::warn!("accepting a dashboard connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Some(slot) = connections.admit() else {
            continue; // Every place is held by an authenticated client: refuse.
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            slot,
            router.clone(),
            builder.clone(),
            limits.clone(),
            stop_rx.clone(),
            done_tx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
    let _ = trimmer.await;
}

async fn connection(
    stream: TcpStream,
    slot: Arc<Slot>,
    router: Router,
    builder: http1::Builder,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
) {
    // hyper's buffers and state are only allocated once the client sends something, so a
    // flood of silent connections costs little more than their sockets.
    let first_byte = tokio::time::timeout(limits.header_read_timeout, stream.readable());
    tokio::select! {
        ready = first_byte => if !matches!(ready, Ok(Ok(()))) {
            return;
        },
        () = slot.close.notified() => return,
        _ = stop.changed() => return,
    }
    let idle_timeout = limits.idle_timeout;
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let conn_ext = Conn(slot.clone());
    let service = router.map_request(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(conn_ext.clone());
        req
    });
    let conn = builder
        .serve_connection(io, TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            () = slot.close.notified() => break,
            () = activity.idle_for(idle_timeout) => break,
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// When a byte last moved on a connection, in milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once nothing has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A TCP stream that records its activity.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_unauthenticated_connection_makes_room() {
        let conns = Connections::new(3);
        let a = conns.admit().expect("a");
        let b = conns.admit().expect("b");
        let c = conns.admit().expect("c");
        a.authenticate();
        // Full: `b` is the oldest unauthenticated one and is told to close.
        let d = conns.admit().expect("d");
        drop(b);
        c.authenticate();
        d.authenticate();
        // Everyone left presented the token: a newcomer is refused.
        assert!(conns.admit().is_none());
        drop(c);
        assert!(conns.admit().is_some());
        drop(a);
    }

    /// The memory of a crowd of clients was kept after they left (issue 9): their departure
    /// now asks for a trim, once per crowd, and ordinary comings and goings do not.
    #[test]
    fn slow_websocket_clients_memory_is_not_returned_after_a_crowd_leaves() {
        use futures::FutureExt;
        let conns = Connections::new(128);
        let asked = || conns.crowd_left.notified().now_or_never().is_some();
        // A handful of clients never counts as a crowd.
        let few: Vec<_> = (0..crate::trim::PEAK - 1).map(|_| conns.admit()).collect();
        drop(few);
        assert!(!asked());
        let mut crowd: Vec<_> = (0..40).map(|_| conns.admit().expect("room")).collect();
        crowd.truncate(11);
        assert!(!asked(), "11 of a peak of 40 are still open");
        crowd.truncate(10);
        assert!(asked(), "a quarter of the peak is left");
        crowd.clear();
        assert!(!asked(), "one trim per crowd");
    }
}
