//! `load('ext://NAME')`: finds the extension's Tiltfile in an extension repository.
//!
//! Resolution follows Tilt: an `Extension` object named after NAME (registered with
//! `v1alpha1.extension`, or inferred) points into an `ExtensionRepo` (registered with
//! `v1alpha1.extension_repo`, or the `default` one, tilt-dev/tilt-extensions). The file is
//! `<repo>/<git_subpath>/<repo_path>/Tiltfile`. `ext://HOST/path` picks a repo whose
//! `load_host` is HOST. `file://` repos are plain directories; other URLs are cloned with
//! `git` into a per-user cache and reused offline afterwards.
//!
//! `LILT_EXTENSIONS_REPO` replaces the default repository's URL: a directory path is used
//! in place, a URL is cloned like any other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lilt_model::ApiObject;
use lilt_model::serde_json_free::Json;

use crate::state::TiltState;

pub(crate) const DEFAULT_REPO_NAME: &str = "default";
pub(crate) const DEFAULT_REPO_URL: &str = "https://github.com/tilt-dev/tilt-extensions";
/// Points the default extension repository at a directory or another URL.
pub(crate) const REPO_ENV: &str = "LILT_EXTENSIONS_REPO";
/// An empty directory in the extension cache named like Tilt's module directory.
const TILT_MODULES_MARKER: &str = "tilt_modules";

/// Why an extension could not be found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExtensionError {
    #[error("loading extension repo {repo}: cannot fetch {url} into {cache}: {reason}")]
    Fetch {
        repo: String,
        url: String,
        cache: PathBuf,
        reason: String,
    },
    #[error("loading extension repo {repo}: {reason}")]
    Repo { repo: String, reason: String },
    #[error("loading extension {name}: {reason}")]
    Extension { name: String, reason: String },
}

/// The spec field `key` of an object as text.
fn spec_text(obj: &ApiObject, key: &str) -> String {
    match &obj.spec {
        Json::Object(m) => match m.get(key) {
            Some(Json::String(s)) => s.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// Tilt's `SanitizeName`: characters that are invalid in a path segment become `_`.
fn sanitize_name(name: &str) -> String {
    if name == "." || name == ".." {
        return name.replace('.', "_");
    }
    name.chars()
        .map(|c| if c == '/' || c == '%' { '_' } else { c })
        .collect()
}

fn object(kind: &str, name: &str, spec: &[(&str, &str)]) -> ApiObject {
    ApiObject {
        kind: kind.to_owned(),
        name: name.to_owned(),
        labels: Vec::new(),
        annotations: vec![(
            "tilt.dev/managed-by".to_owned(),
            "tiltfile.loader".to_owned(),
        )],
        spec: Json::Object(
            spec.iter()
                .map(|(k, v)| ((*k).to_owned(), Json::String((*v).to_owned())))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// The absolute path of the Tiltfile `ext://<module>` names, fetching its repo if needed.
pub(crate) fn resolve(state: &TiltState, module: &str) -> Result<PathBuf, ExtensionError> {
    let ext_name = sanitize_name(module);
    let ext = ensure_extension(state, &ext_name, module);
    let repo_name = {
        let n = spec_text(&ext, "repoName");
        if n.is_empty() {
            DEFAULT_REPO_NAME.to_owned()
        } else {
            n
        }
    };
    let repo = ensure_repo(state, &repo_name)?;
    let repo_dir = repo_path(state, &repo)?;
    let subpath = spec_text(&repo, "gitSubpath");
    let mut rel = spec_text(&ext, "repoPath");
    if rel.is_empty() {
        rel = module.to_owned();
    }
    let joined: Vec<&str> = [subpath.as_str(), rel.as_str(), "Tiltfile"]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let path = crate::paths::absolute(&repo_dir, &joined.join("/"));
    if !path.starts_with(&repo_dir) {
        return Err(ExtensionError::Extension {
            name: ext_name,
            reason: format!("invalid repo path: {rel}"),
        });
    }
    if !path.is_file() {
        return Err(ExtensionError::Extension {
            name: ext_name,
            reason: format!("no extension tiltfile found at {}", path.display()),
        });
    }
    Ok(path)
}

fn ensure_extension(state: &TiltState, ext_name: &str, module: &str) -> ApiObject {
    let mut api = state.api.borrow_mut();
    if let Some(existing) = api.get("Extension", ext_name) {
        return existing.clone();
    }
    // `HOST/path` uses a repo whose load_host is HOST, else the default repo.
    let by_host = module.split_once('/').and_then(|(host, path)| {
        api.objects
            .iter()
            .filter(|o| o.kind == "ExtensionRepo")
            .find(|r| {
                let h = spec_text(r, "loadHost");
                !h.is_empty() && h == host
            })
            .map(|r| (r.name.clone(), path.to_owned()))
    });
    let (repo, path) = by_host.unwrap_or_else(|| (DEFAULT_REPO_NAME.to_owned(), module.to_owned()));
    let ext = object(
        "Extension",
        ext_name,
        &[("repoName", &repo), ("repoPath", &path)],
    );
    api.objects.push(ext.clone());
    ext
}

fn ensure_repo(state: &TiltState, repo_name: &str) -> Result<ApiObject, ExtensionError> {
    let mut api = state.api.borrow_mut();
    if let Some(existing) = api.get("ExtensionRepo", repo_name) {
        return Ok(existing.clone());
    }
    if repo_name != DEFAULT_REPO_NAME {
        return Err(ExtensionError::Repo {
            repo: repo_name.to_owned(),
            reason: format!("extension repo not found: {repo_name}"),
        });
    }
    let repo = object(
        "ExtensionRepo",
        DEFAULT_REPO_NAME,
        &[("url", DEFAULT_REPO_URL)],
    );
    api.objects.push(repo.clone());
    Ok(repo)
}

/// The repository's directory on disk: a `file://` directory, or a cached clone.
fn repo_path(state: &TiltState, repo: &ApiObject) -> Result<PathBuf, ExtensionError> {
    if let Some(done) = state.api.borrow().resolved_repos.get(&repo.name) {
        return Ok(done.clone());
    }
    let mut url = spec_text(repo, "url");
    // An overriding URL is always cloned (a `file://` one too, so a local git repository
    // exercises the same path as GitHub); a plain directory is used in place.
    let mut clone_file_url = false;
    if repo.name == DEFAULT_REPO_NAME
        && url == DEFAULT_REPO_URL
        && let Some(over) = state.env_var(REPO_ENV).filter(|v| !v.is_empty())
    {
        url = if over.contains("://") || over.starts_with("git@") {
            clone_file_url = true;
            over
        } else {
            // A directory: resolved against the main Tiltfile's directory when relative.
            format!(
                "file://{}",
                crate::paths::absolute(&state.main_dir, &over).display()
            )
        };
    }
    let err = |reason: String| ExtensionError::Repo {
        repo: repo.name.clone(),
        reason,
    };
    let path = if let Some(dir) = url.strip_prefix("file://").filter(|_| !clone_file_url) {
        let dir = PathBuf::from(dir);
        if !dir.is_absolute() {
            return Err(err(format!("file paths must be absolute. Url: {url}")));
        }
        if !dir.is_dir() {
            return Err(err(format!(
                "loading: {} is not a directory",
                dir.display()
            )));
        }
        dir
    } else {
        fetch(state, &repo.name, &url, &spec_text(repo, "ref"))?
    };
    state
        .api
        .borrow_mut()
        .resolved_repos
        .insert(repo.name.clone(), path.clone());
    Ok(path)
}

/// `$XDG_CACHE_HOME/lilt/extensions`, else `~/.cache/lilt/extensions`.
pub(crate) fn cache_dir(state: &TiltState) -> PathBuf {
    match state.env_var("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("lilt/extensions"),
        None => PathBuf::from(state.env_var("HOME").unwrap_or_else(|| "/tmp".to_owned()))
            .join(".cache/lilt/extensions"),
    }
}

/// The cache directory for `url`: `github.com/tilt-dev/tilt-extensions` for Tilt's repo.
fn cache_key(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/')
        .trim_end_matches(".git")
        .chars()
        .map(|c| match c {
            ':' | '@' => '_',
            c => c,
        })
        .collect::<String>()
        .split('/')
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .collect::<Vec<_>>()
        .join("/")
}

fn git(dir: Option<&Path>, args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    let out = cmd
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Clones `url` into the cache unless it is there; a pinned `ref` is checked out, and
/// fetched only when the cached clone does not have it. Without a ref, a cached clone is
/// used as is, so loads work offline.
fn fetch(
    state: &TiltState,
    repo: &str,
    url: &str,
    git_ref: &str,
) -> Result<PathBuf, ExtensionError> {
    let dest = cache_dir(state).join(cache_key(url));
    let fail = |reason: String| ExtensionError::Fetch {
        repo: repo.to_owned(),
        url: url.to_owned(),
        cache: dest.clone(),
        reason,
    };
    let pinned = !git_ref.is_empty() && git_ref != "HEAD";
    // Tilt clones into `<data dir>/tilt_modules`, and extensions such as helm_remote and
    // git_resource find their cache directory by walking up from their own file until
    // a directory holds `tilt_modules`. The marker makes them settle on the cache root.
    std::fs::create_dir_all(cache_dir(state).join(TILT_MODULES_MARKER))
        .map_err(|e| fail(e.to_string()))?;
    if !dest.join(".git").exists() {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
        }
        let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let tmp_text = tmp.display().to_string();
        if let Err(e) = git(None, &["clone", "--quiet", url, &tmp_text]) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(fail(e));
        }
        std::fs::rename(&tmp, &dest).map_err(|e| fail(e.to_string()))?;
    }
    if pinned && git(Some(&dest), &["checkout", "--quiet", git_ref]).is_err() {
        git(Some(&dest), &["fetch", "--quiet", "origin", git_ref])
            .and_then(|()| git(Some(&dest), &["checkout", "--quiet", "FETCH_HEAD"]))
            .map_err(|e| fail(format!("sync to ref {git_ref}: {e}")))?;
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_are_paths() {
        assert_eq!(
            cache_key(DEFAULT_REPO_URL),
            "github.com/tilt-dev/tilt-extensions"
        );
        assert_eq!(cache_key("file:///tmp/x/repo.git"), "tmp/x/repo");
        assert_eq!(cache_key("https://h:8443/../a/"), "h_8443/a");
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize_name("host/path/ext"), "host_path_ext");
        assert_eq!(sanitize_name(".."), "__");
    }
}
