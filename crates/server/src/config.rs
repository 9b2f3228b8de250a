//! What the server is given: its configuration (token, address, allowed hosts) and the
//! engine's channels (snapshots, log store, actions), plus the session token generator.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
}

impl fmt::Debug for ServerConfig {
    // The token never reaches a log line, even through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("token", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("allowed_hosts", &self.allowed_hosts)
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
        };
        assert!(!format!("{config:?}").contains("sekrit"));
    }
}
