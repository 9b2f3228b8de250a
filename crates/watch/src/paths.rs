//! Lexical path helpers: cleaning like Go's `filepath.Clean`, containment, string views.

use std::borrow::Cow;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use lilt_model::paths::clean;

/// The path as text. Non-UTF-8 bytes become U+FFFD, which only matters for patterns that
/// name such bytes, which dockerignore files (UTF-8 text) cannot do anyway.
pub fn path_str(path: &Path) -> Cow<'_, str> {
    path.to_string_lossy()
}

/// The non-empty components of a `/`-separated absolute path.
pub fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

/// `path` equals `root` or lies under it. Both are clean, so a byte-prefix test that ends
/// at a separator is enough (and much cheaper than comparing components).
pub fn is_under(path: &Path, root: &Path) -> bool {
    let path = path.as_os_str().as_bytes();
    let root = root.as_os_str().as_bytes();
    match path.strip_prefix(root) {
        Some(rest) => rest.is_empty() || rest[0] == b'/' || root.ends_with(b"/"),
        None => false,
    }
}
