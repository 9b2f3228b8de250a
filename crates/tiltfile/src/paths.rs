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

/// Like Go's `filepath.Clean`: removes `.`, resolves `..` lexically, drops trailing slashes.
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

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
    let reason = match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        std::io::ErrorKind::NotADirectory => "not a directory".to_owned(),
        _ => err.to_string(),
    };
    format!("{op} {}: {reason}", path.display())
}

/// Reads `.dockerignore` / `.tiltignore` text as moby's reader does: `#` starts a comment
/// only in column 1, lines are trimmed and cleaned, a leading `/` is dropped (patterns are
/// anchored at the base anyway), and `!` keeps its meaning.
pub(crate) fn parse_ignore_file(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let negate = pattern.starts_with('!');
        if negate {
            pattern = pattern[1..].trim_start();
        }
        let cleaned = clean(Path::new(pattern));
        let mut text = cleaned.to_string_lossy().into_owned();
        if text.len() > 1 && text.starts_with('/') {
            text.remove(0);
        }
        out.push(if negate { format!("!{text}") } else { text });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        assert_eq!(clean(Path::new("/a/b/../c/./d/")), PathBuf::from("/a/c/d"));
        assert_eq!(clean(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(clean(Path::new("a/../..")), PathBuf::from(".."));
        assert_eq!(clean(Path::new("")), PathBuf::from("."));
    }

    #[test]
    fn ignore_files_read_like_moby() {
        let text = "# comment\n  # not a comment\n/node_modules\n\n  build/  \n!keep/../keep.txt\n";
        assert_eq!(
            parse_ignore_file(text),
            ["# not a comment", "node_modules", "build", "!keep.txt"]
        );
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
