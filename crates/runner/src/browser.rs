//! Starting the browser behind a `browser_button`: its own persistent profile, the
//! configured flags, environment and preferences, pointed at a URL that may be a
//! resource's link.
//!
//! The browser is the user's window, not a dev-loop process: it is started in its own
//! session and is not stopped when lilt stops, so closing lilt never closes the pages
//! someone is working in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use lilt_model::serde_json_free::Json as FreeJson;
use lilt_model::{BrowserLaunch, Plan};
use serde_json::{Map, Value as Json};

/// Why a browser could not be started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BrowserError {
    #[error("resource {0:?} has no link to open")]
    NoLink(String),
    #[error("resource {resource:?} has no link named {name:?} (it has: {known})")]
    NoNamedLink {
        resource: String,
        name: String,
        known: String,
    },
    #[error(
        "no browser found: install chromium (apt-get install chromium) or set browser= to a path"
    )]
    NoBrowser,
    #[error("cannot prepare the profile directory {path}: {source}")]
    Profile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {browser}: {source}")]
    Spawn {
        browser: String,
        source: std::io::Error,
    },
}

/// The URL a launch opens, resolving `link:RESOURCE[/NAME]` against the Plan.
pub(crate) fn resolve_url(launch: &BrowserLaunch, plan: &Plan) -> Result<String, BrowserError> {
    let Some((resource, name)) = &launch.url_from_link else {
        return Ok(launch.url.clone());
    };
    let links = plan
        .manifest(resource)
        .map(|m| m.links())
        .unwrap_or_default();
    if name.is_empty() {
        return links
            .first()
            .map(|l| l.url.clone())
            .ok_or_else(|| BrowserError::NoLink(resource.clone()));
    }
    links
        .iter()
        .find(|l| l.name == *name)
        .map(|l| l.url.clone())
        .ok_or_else(|| BrowserError::NoNamedLink {
            resource: resource.clone(),
            name: name.clone(),
            known: links
                .iter()
                .map(|l| format!("{:?}", l.name))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Finds the executable: the configured one, or Chromium under its usual names.
fn browser_binary(configured: &str) -> Result<PathBuf, BrowserError> {
    let candidates: Vec<&str> = if configured.is_empty() {
        vec![
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ]
    } else {
        vec![configured]
    };
    for candidate in candidates {
        if candidate.contains('/') {
            let path = PathBuf::from(candidate);
            if path.is_file() {
                return Ok(path);
            }
            continue;
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let path = dir.join(candidate);
                if path.is_file() {
                    return Ok(path);
                }
            }
        }
    }
    Err(BrowserError::NoBrowser)
}

/// The model's serde-free JSON tree as a `serde_json` value (numbers were kept as text).
pub fn to_json(value: &FreeJson) -> Json {
    match value {
        FreeJson::Null => Json::Null,
        FreeJson::Bool(b) => Json::Bool(*b),
        FreeJson::Number(n) => serde_json::from_str(n).unwrap_or(Json::Null),
        FreeJson::String(s) => Json::String(s.clone()),
        FreeJson::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        FreeJson::Object(map) => {
            Json::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// Writes the preferences into `<profile>/Default/Preferences`, keeping what the browser
/// stored there. Dotted keys (`intl.accept_languages`) are paths into the JSON tree.
pub(crate) fn write_prefs(
    profile: &Path,
    prefs: &BTreeMap<String, FreeJson>,
) -> std::io::Result<()> {
    let default = profile.join("Default");
    std::fs::create_dir_all(&default)?;
    if prefs.is_empty() {
        return Ok(());
    }
    let path = default.join("Preferences");
    let mut root = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<Json>(&text).ok())
        .filter(Json::is_object)
        .unwrap_or_else(|| Json::Object(Map::new()));
    for (key, value) in prefs {
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            if !node.is_object() {
                *node = Json::Object(Map::new());
            }
            let Json::Object(map) = node else { break };
            if i + 1 == parts.len() {
                map.insert((*part).to_owned(), to_json(value));
                break;
            }
            node = map
                .entry((*part).to_owned())
                .or_insert_with(|| Json::Object(Map::new()));
        }
    }
    let text = serde_json::to_string_pretty(&root).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

/// A started browser.
pub(crate) struct Launched {
    pub(crate) pid: u32,
    pub(crate) command: String,
    pub(crate) child: tokio::process::Child,
}

/// Starts the browser on `url` with the launch's profile, flags, environment and prefs.
pub(crate) fn launch(
    launch: &BrowserLaunch,
    url: &str,
    base_env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> Result<Launched, BrowserError> {
    let binary = browser_binary(&launch.browser)?;
    std::fs::create_dir_all(&launch.profile_dir)
        .and_then(|()| write_prefs(&launch.profile_dir, &launch.prefs))
        .map_err(|source| BrowserError::Profile {
            path: launch.profile_dir.clone(),
            source,
        })?;
    let mut args = vec![
        format!("--user-data-dir={}", launch.profile_dir.display()),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
    ];
    args.extend(launch.args.iter().cloned());
    args.push(url.to_owned());
    let mut cmd = tokio::process::Command::new(&binary);
    cmd.args(&args)
        .env_clear()
        .envs(base_env.iter().map(|(k, v)| (k, v)))
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        // Nobody reads a browser's chatter; a full pipe must never stall it.
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so signals aimed at lilt's terminal do not reach it.
        .process_group(0);
    let child = cmd.spawn().map_err(|source| BrowserError::Spawn {
        browser: binary.display().to_string(),
        source,
    })?;
    Ok(Launched {
        pid: child.id().unwrap_or_default(),
        command: format!("{} {}", binary.display(), args.join(" ")),
        child,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefs_merge_into_the_existing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("Default")).expect("mkdir");
        std::fs::write(
            dir.path().join("Default/Preferences"),
            r#"{"keep":1,"intl":{"other":true}}"#,
        )
        .expect("write");
        let mut prefs = BTreeMap::new();
        prefs.insert(
            "intl.accept_languages".to_owned(),
            FreeJson::String("en-US".into()),
        );
        prefs.insert("homepage".to_owned(), FreeJson::String("http://x".into()));
        write_prefs(dir.path(), &prefs).expect("write prefs");
        let text = std::fs::read_to_string(dir.path().join("Default/Preferences")).expect("read");
        let json: Json = serde_json::from_str(&text).expect("json");
        assert_eq!(json["keep"], 1);
        assert_eq!(json["intl"]["other"], true);
        assert_eq!(json["intl"]["accept_languages"], "en-US");
        assert_eq!(json["homepage"], "http://x");
    }

    #[test]
    fn missing_browser_is_a_clear_error() {
        let err = browser_binary("/nonexistent/browser").unwrap_err();
        assert!(err.to_string().contains("no browser found"), "{err}");
    }
}
