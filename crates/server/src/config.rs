//! What the server is given: its configuration (token, address, allowed hosts, limits on
//! connections) and the engine's channels (snapshots, log store, actions), plus the session
//! token generator.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lilt_engine::{Action, LogStore, Snapshot};
use tokio::sync::{mpsc, watch};

/// How the server listens and whom it lets in. There is no `Default`: the token must be
/// chosen on purpose (see [`generate_token`]).
#[derive(Clone)]
pub struct ServerConfig {
    /// The session token every `/api`, `/ws` and `/proxy` request must carry.
    pub token: String,
    /// `--host`: the address to bind (`localhost` binds 127.0.0.1).
    pub host: String,
    /// `--port`; 0 picks a free port.
    pub port: u16,
    /// Host names accepted in the `Host` header besides `localhost`, `127.0.0.1` and `[::1]`
    /// (normally the `--host` value).
    pub allowed_hosts: Vec<String>,
    /// What clients may hold: connections, WebSockets, time to send a request.
    pub limits: Limits,
}

/// Bounds on what clients of the server may hold, so that no local process can exhaust
/// lilt's file descriptors or memory through it. Listed in docs/ARCHITECTURE.md ("Limits").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections, WebSockets included. At the cap, the oldest connection that has
    /// not yet presented the session token is closed to make room; when every connection
    /// has presented it, the new one is refused.
    pub max_connections: usize,
    /// Open `/ws/view` sockets; more are refused with 503.
    pub max_websockets: usize,
    /// Time allowed for a new connection's first byte, and then for each complete request
    /// head, counted from the first byte or from the end of the previous response: it also
    /// closes idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed (a client
    /// that stops reading a response or stops sending a body).
    pub idle_timeout: Duration,
    /// A WebSocket client that does not take a whole message within this time is
    /// disconnected; it reconnects and starts over from a complete View.
    pub ws_send_timeout: Duration,
}

impl Limits {
    /// The most connections lilt serves, however many descriptors it may open: each open
    /// connection costs memory too (about 30 KB measured under a flood, which glibc keeps
    /// after they close), and a browser uses at most 6 per host plus a WebSocket per tab.
    pub const MAX_CONNECTIONS: usize = 128;
    /// The most `/ws/view` sockets (one per open dashboard tab).
    pub const MAX_WEBSOCKETS: usize = 64;

    /// Limits for a process that may open `nofile` descriptors: lilt keeps half of them
    /// (at least 256) for its own work (processes and their pipes, the file watcher, log
    /// files), and the server gets the rest, up to [`Limits::MAX_CONNECTIONS`].
    pub fn for_fd_limit(nofile: u64) -> Limits {
        let nofile = usize::try_from(nofile).unwrap_or(usize::MAX);
        let reserve = (nofile / 2).max(256);
        let max_connections = nofile
            .saturating_sub(reserve)
            .clamp(16, Self::MAX_CONNECTIONS);
        Limits {
            max_connections,
            max_websockets: Self::MAX_WEBSOCKETS.min(max_connections / 2),
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: Self::MAX_CONNECTIONS,
            max_websockets: Self::MAX_WEBSOCKETS,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            ws_send_timeout: Duration::from_secs(20),
        }
    }
}

impl fmt::Debug for ServerConfig {
    // The token never reaches a log line, even through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("token", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("limits", &self.limits)
            .finish()
    }
}

/// The engine side: what the server reads and where it sends requests.
#[derive(Clone)]
pub struct ServerDeps {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub logs: Arc<Mutex<LogStore>>,
    pub actions: mpsc::UnboundedSender<Action>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("failed to read random bytes from {path}: {source}")]
    Random {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("web server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A fresh session token: 32 random bytes from `/dev/urandom`, as 64 hex digits.
pub fn generate_token() -> Result<String, ServerError> {
    let path = PathBuf::from("/dev/urandom");
    let mut bytes = [0u8; 32];
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| ServerError::Random {
            path: path.clone(),
            source,
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn debug_output_hides_the_token() {
        let config = ServerConfig {
            token: "sekrit".to_owned(),
            host: "localhost".to_owned(),
            port: 1,
            allowed_hosts: vec![],
            limits: Limits::default(),
        };
        assert!(!format!("{config:?}").contains("sekrit"));
    }

    #[test]
    fn connection_cap_leaves_descriptors_for_lilt() {
        let small = Limits::for_fd_limit(400);
        assert_eq!(small.max_connections, 128);
        assert_eq!(small.max_websockets, 64);
        let tiny = Limits::for_fd_limit(300);
        assert_eq!(tiny.max_connections, 44);
        assert_eq!(tiny.max_websockets, 22);
        assert_eq!(Limits::for_fd_limit(20_000).max_connections, 128);
        assert_eq!(Limits::for_fd_limit(u64::MAX).max_connections, 128);
        assert_eq!(Limits::for_fd_limit(0).max_connections, 16);
    }
}
