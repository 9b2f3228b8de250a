//! The ignore sets Tilt attaches to images and local resources, built in Tilt's order and
//! spelled as Tilt spells them, so `tiltfile-result` matches and the watcher sees the same
//! rules: the Tiltfile, the `.git` of any repository a path is the root of, then for each
//! build directory `ignore=`, `only=` and its `.dockerignore`.

use std::path::{Path, PathBuf};

use lilt_model::IgnoreSet;

use crate::state::TiltState;

/// `{<path>/.git}` for each path that is the root of a git repository (Tilt's
/// `repoIgnoresForPaths`), without duplicates.
///
/// An empty path stands for the process's working directory and yields a relative `.git`,
/// as in Tilt (a `custom_build` has no Dockerfile path, and Tilt checks `""` too).
pub(crate) fn repo_ignores<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<IgnoreSet> {
    let mut seen: Vec<&Path> = Vec::new();
    let mut out = Vec::new();
    for path in paths {
        if seen.contains(&path) {
            continue;
        }
        let git = path.join(".git");
        if git.is_dir() {
            seen.push(path);
            out.push(IgnoreSet {
                base_path: git,
                patterns: Vec::new(),
            });
        }
    }
    out
}

/// `only=` in dockerignore syntax: ignore everything, then re-include each path as written.
pub(crate) fn only_patterns(only: &[String]) -> Vec<String> {
    if only.is_empty() {
        return Vec::new();
    }
    std::iter::once("**".to_owned())
        .chain(only.iter().map(|p| format!("!{p}")))
        .collect()
}

/// For each build directory (a context, or a `custom_build` dep that is a directory):
/// `ignore=`, `only=` and the `.dockerignore`, in that order (Tilt's
/// `dockerignoresFromPathsAndContextFilters`). Each `.dockerignore` path is recorded as a
/// config file, present or not, so creating one reloads the Tiltfile; a Dockerfile's own
/// `<Dockerfile>.dockerignore` wins when it exists.
pub(crate) fn build_dir_ignores(
    state: &TiltState,
    dirs: &[PathBuf],
    ignores: &[String],
    only: &[String],
    dockerfile: Option<&Path>,
) -> Vec<IgnoreSet> {
    let only = only_patterns(only);
    let mut seen: Vec<&PathBuf> = Vec::new();
    let mut out = Vec::new();
    for dir in dirs {
        if dir.as_os_str().is_empty() || seen.contains(&dir) || !dir.is_dir() {
            continue;
        }
        seen.push(dir);
        for patterns in [ignores, &only] {
            if !patterns.is_empty() {
                out.push(IgnoreSet {
                    base_path: dir.clone(),
                    patterns: patterns.to_vec(),
                });
            }
        }
        let file = dockerignore_path(dir, dockerfile);
        state.record_config_file(file.clone());
        if let Ok(text) = crate::paths::read_text(&file) {
            let patterns = lilt_model::paths::parse_ignore_file(&text);
            if !patterns.is_empty() {
                out.push(IgnoreSet {
                    base_path: dir.clone(),
                    patterns,
                });
            }
        }
    }
    out
}

/// `<Dockerfile>.dockerignore` when it exists, else `<dir>/.dockerignore`.
fn dockerignore_path(dir: &Path, dockerfile: Option<&Path>) -> PathBuf {
    if let Some(dockerfile) = dockerfile {
        let mut specific = dockerfile.as_os_str().to_owned();
        specific.push(".dockerignore");
        let specific = PathBuf::from(specific);
        if specific.exists() {
            return specific;
        }
    }
    dir.join(".dockerignore")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keeps_paths_as_written() {
        let only = vec!["./src".to_owned(), "requirements.txt".to_owned()];
        assert_eq!(only_patterns(&only), ["**", "!./src", "!requirements.txt"]);
        assert!(only_patterns(&[]).is_empty());
    }

    #[test]
    fn repo_ignores_name_each_repository_root_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
        let plain = tmp.path().join("plain");
        std::fs::create_dir_all(&plain).expect("mkdir");
        let found = repo_ignores([repo.as_path(), plain.as_path(), repo.as_path()]);
        assert_eq!(
            found,
            vec![IgnoreSet {
                base_path: repo.join(".git"),
                patterns: Vec::new()
            }]
        );
    }
}
