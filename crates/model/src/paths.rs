//! Path text rules shared by every crate that reads paths from a Tiltfile: Go's
//! `filepath.Clean`, and moby's reading of `.dockerignore`/`.tiltignore` files.
//! Lexical only: nothing here touches the filesystem.

use std::path::{Component, Path, PathBuf};

/// Cleans a path lexically like Go's `filepath.Clean`: drops `.` and empty components,
/// resolves `..` against the preceding component (never above the root), and gives `.` for
/// an empty result. Symlinks are not resolved.
pub fn clean(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(comp),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// Reads the text of a `.dockerignore` or `.tiltignore` the way moby's `ignorefile.ReadAll`
/// does: a UTF-8 BOM is dropped, `#` starts a comment only in column 1, lines are trimmed,
/// blank lines skipped, and each pattern is cleaned and loses a leading `/` (patterns in
/// these files are relative to the file's directory); `!` keeps its meaning.
pub fn parse_ignore_file(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(Path::new(pattern)).to_string_lossy().into_owned();
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
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
        let text = "\u{feff}# comment\n  # not a comment\n/node_modules\n\n  build/  \n!keep/../keep.txt\n";
        assert_eq!(
            parse_ignore_file(text),
            ["# not a comment", "node_modules", "build", "!keep.txt"]
        );
    }
}
