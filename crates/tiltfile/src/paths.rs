//! Path arithmetic with Go's `filepath` semantics: lexical, no filesystem access.

use std::path::{Component, Path, PathBuf};

/// Joins `path` onto `base` (unless absolute) and cleans the result lexically.
pub(crate) fn absolute(base: &Path, path: &str) -> PathBuf {
    let path = expand_home(path);
    let joined = if Path::new(&path).is_absolute() {
        PathBuf::from(path)
    } else {
        base.join(path)
    };
    clean(&joined)
}

pub(crate) use lilt_model::paths::clean;

/// `~` and `~/x` expand to the home directory, as `os.path.expanduser` does.
pub(crate) fn expand_home(path: &str) -> String {
    if (path == "~" || path.starts_with("~/"))
        && let Some(home) = std::env::var_os("HOME")
    {
        return format!("{}{}", home.to_string_lossy(), &path[1..]);
    }
    path.to_owned()
}

/// `target` relative to `base`, or `None` when that needs to leave a root (Windows) or
/// mixes absolute and relative paths.
pub(crate) fn relative(target: &Path, base: &Path) -> Option<PathBuf> {
    let target = clean(target);
    let base = clean(base);
    if target.is_absolute() != base.is_absolute() {
        return None;
    }
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if b[common..]
        .iter()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    Some(out)
}

/// An I/O error as Go's `os` package words it (`open /x: no such file or directory`), so
/// messages read like Tilt's.
pub(crate) fn go_io_error(op: &str, path: &Path, err: &std::io::Error) -> String {
    let op = if err.kind() == std::io::ErrorKind::FileTooLarge {
        "read"
    } else {
        op
    };
    let reason = match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        std::io::ErrorKind::NotADirectory => "not a directory".to_owned(),
        _ => err.to_string(),
    };
    format!("{op} {}: {reason}", path.display())
}

/// Reads at most `limit` bytes of `path`: more is a `FileTooLarge` error that names the
/// limit, read without holding more than `limit + 1` bytes (`/dev/zero` ends too).
pub(crate) fn read_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    if crate::watched_read::may_block(path) {
        return crate::watched_read::read(path, move |file| read_all(file, limit));
    }
    read_all(std::fs::File::open(path)?, limit)
}

fn read_all(file: std::fs::File, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "larger than lilt's read limit of {} (set LILT_MAX_READ_BYTES to change it)",
                human_bytes(limit)
            ),
        ));
    }
    Ok(bytes)
}

thread_local! {
    /// The read limit of the evaluation running on this thread (each evaluation has a
    /// thread of its own), for reads deep inside helpers that have no state at hand.
    static READ_LIMIT: std::cell::Cell<u64> = const { std::cell::Cell::new(crate::DEFAULT_MAX_READ_BYTES) };
}

/// Sets the limit [`read_text`] applies on this thread.
pub(crate) fn set_read_limit(limit: u64) {
    READ_LIMIT.set(limit);
}

/// Like `std::fs::read_to_string`, within this thread's read limit.
pub(crate) fn read_text(path: impl AsRef<Path>) -> std::io::Result<String> {
    let bytes = read_capped(path.as_ref(), READ_LIMIT.get())?;
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// `1 GiB` or `64 MiB` for whole gibibytes or mebibytes, else a byte count.
pub(crate) fn human_bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if n >= GIB && n.is_multiple_of(GIB) {
        format!("{} GiB", n / GIB)
    } else if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_as_people_write_limits() {
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(100), "100 bytes");
        assert_eq!(human_bytes((1 << 20) + 1), "1048577 bytes");
    }

    #[test]
    fn relative_paths() {
        let rel = |t: &str, b: &str| relative(Path::new(t), Path::new(b));
        assert_eq!(rel("/a/b/c", "/a"), Some(PathBuf::from("b/c")));
        assert_eq!(rel("/a", "/a/b"), Some(PathBuf::from("..")));
        assert_eq!(rel("/a", "/a"), Some(PathBuf::from(".")));
        assert_eq!(rel("/x/y", "/a/b"), Some(PathBuf::from("../../x/y")));
        assert_eq!(rel("a", "/a"), None);
    }
}
