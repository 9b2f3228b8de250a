//! The session token file that lets `lilt` client commands talk to a running `lilt up`.
//!
//! One file per port, readable by the user only (mode 0600, in a 0700 directory), removed
//! when `lilt up` exits. The token never goes through an HTTP endpoint.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

/// Where the token of the lilt serving on `port` lives.
pub(crate) fn token_path(port: u16) -> PathBuf {
    state_dir().join(format!("token-{port}"))
}

fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LILT_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("lilt");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".local").join("state").join("lilt")
}

/// Writes the token for `port`; returns the path so the caller can remove it at exit.
pub(crate) fn write_token(port: u16, token: &str) -> std::io::Result<PathBuf> {
    let path = token_path(port);
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // Replace rather than truncate: a file left by someone else keeps nothing of its mode.
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(token.as_bytes())?;
    Ok(path)
}

/// Reads the token of the lilt serving on `port` (for client commands).
pub(crate) fn read_token(port: u16) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(token_path(port))?.trim().to_owned())
}
