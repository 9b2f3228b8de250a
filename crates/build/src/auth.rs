//! Registry credentials as `docker push` finds them: `credHelpers` for the registry, else
//! `credsStore`, else `auths` in `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`).
//! Helpers are the `docker-credential-<name>` programs, asked with `get` and the server
//! address on stdin.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bollard::auth::DockerCredentials;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::env::DockerEnv;
use crate::error::BuildError;

/// The key Docker Hub's credentials are stored under, by every docker CLI version.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The credential parts of the docker CLI's `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    /// The file read; `None` when there is none.
    pub path: Option<PathBuf>,
    pub auths: BTreeMap<String, AuthEntry>,
    /// `credsStore`: the helper for every registry without its own.
    pub creds_store: Option<String>,
    /// `credHelpers`: registry host → helper name.
    pub cred_helpers: BTreeMap<String, String>,
}

/// One `auths` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthEntry {
    /// `base64(user:password)`.
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    pub identity_token: Option<String>,
    #[serde(default, rename = "registrytoken")]
    pub registry_token: Option<String>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl DockerConfig {
    /// Reads `config.json` from the CLI's configuration directory; no file is no
    /// credentials, not an error.
    pub fn load(env: &DockerEnv) -> Result<DockerConfig, BuildError> {
        let Some(dir) = env.config_dir() else {
            return Ok(DockerConfig::default());
        };
        let path = dir.join("config.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => DockerConfig::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig::default()),
            Err(e) => Err(BuildError::Config {
                path,
                message: e.to_string(),
            }),
        }
    }

    /// Parses the text of a `config.json` found at `path`.
    pub fn parse(path: PathBuf, text: &str) -> Result<DockerConfig, BuildError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| BuildError::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(DockerConfig {
            path: Some(path),
            auths: raw.auths,
            creds_store: raw.creds_store.filter(|s| !s.is_empty()),
            cred_helpers: raw.cred_helpers,
        })
    }

    /// The helper that holds `registry`'s credentials, if any.
    pub fn helper_for(&self, registry: &str) -> Option<&str> {
        let server = server_address(registry);
        self.cred_helpers
            .iter()
            .find(|(key, _)| key.as_str() == server || normalize_key(key) == registry)
            .map(|(_, helper)| helper.as_str())
            .or(self.creds_store.as_deref())
            .filter(|h| !h.is_empty())
    }

    /// The `auths` entry for `registry` (a host such as `localhost:5000` or `docker.io`).
    pub fn auth_entry(&self, registry: &str) -> Option<&AuthEntry> {
        let server = server_address(registry);
        self.auths.get(&server).or_else(|| {
            self.auths
                .iter()
                .find(|(key, _)| normalize_key(key) == normalize_key(&server))
                .map(|(_, entry)| entry)
        })
    }

    /// Credentials for `registry` (a host such as `localhost:5000`; `docker.io` for Hub),
    /// `None` when the config has none. Helpers are run with `env`'s variables (so its
    /// `PATH` finds them).
    pub async fn credentials(
        &self,
        registry: &str,
        env: &DockerEnv,
    ) -> Result<Option<DockerCredentials>, BuildError> {
        let server = server_address(registry);
        if let Some(helper) = self.helper_for(registry) {
            return run_helper(helper, &server, registry, env).await;
        }
        let Some(entry) = self.auth_entry(registry) else {
            return Ok(None);
        };
        let mut creds = DockerCredentials {
            serveraddress: Some(server.clone()),
            identitytoken: entry.identity_token.clone(),
            registrytoken: entry.registry_token.clone(),
            username: entry.username.clone(),
            password: entry.password.clone(),
            ..DockerCredentials::default()
        };
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let (user, password) = decode_auth(auth).map_err(|message| BuildError::Config {
                path: self.path.clone().unwrap_or_default(),
                message: format!("auths[{server:?}].auth: {message}"),
            })?;
            creds.username = Some(user);
            creds.password = Some(password);
        }
        Ok(Some(creds))
    }
}

/// The address credentials are stored under: Hub's legacy URL, else the host itself.
pub fn server_address(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_SERVER.to_owned(),
        other => other.to_owned(),
    }
}

/// `https://host/v1/` → `host`, as the CLI compares `auths` keys.
fn normalize_key(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// `base64(user:password)` → `(user, password)`.
pub fn decode_auth(auth: &str) -> Result<(String, String), String> {
    let bytes = STANDARD
        .decode(auth.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 once decoded".to_owned())?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| "no ':' between user and password".to_owned())?;
    Ok((user.to_owned(), password.to_owned()))
}

async fn run_helper(
    helper: &str,
    server: &str,
    registry: &str,
    env: &DockerEnv,
) -> Result<Option<DockerCredentials>, BuildError> {
    let program = format!("docker-credential-{helper}");
    let fail = |message: String| BuildError::Credentials {
        registry: registry.to_owned(),
        helper: helper.to_owned(),
        message,
    };
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .envs(env.vars())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its stdin is not an error in itself.
        let _ = stdin.write_all(server.as_bytes()).await;
        drop(stdin);
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| fail(format!("{program}: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // The helper protocol's answer for "nothing stored for this server".
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = if stdout.trim().is_empty() {
            stderr.trim().to_owned()
        } else {
            stdout.trim().to_owned()
        };
        return Err(fail(format!("{program} get: {}: {detail}", output.status)));
    }
    let parsed: HelperOutput = serde_json::from_str(stdout.trim()).map_err(|e| {
        fail(format!(
            "{program} get printed something that is not its JSON answer: {e}"
        ))
    })?;
    let mut creds = DockerCredentials {
        serveraddress: Some(server.to_owned()),
        ..DockerCredentials::default()
    };
    // An identity token is returned with the user name "<token>".
    if parsed.username == "<token>" {
        creds.identitytoken = Some(parsed.secret);
    } else {
        creds.username = Some(parsed.username);
        creds.password = Some(parsed.secret);
    }
    Ok(Some(creds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> DockerConfig {
        DockerConfig::parse(PathBuf::from("/cfg/config.json"), text).unwrap()
    }

    #[tokio::test]
    async fn auths_entries_decode_and_match_by_host() {
        let cfg = config(
            r#"{"auths":{
                "localhost:5101":{"auth":"YWxpY2U6czNjcjN0"},
                "https://index.docker.io/v1/":{"auth":"Ym9iOmh1Yg=="},
                "https://reg.example:8443/v2/":{"username":"u","password":"p"}
            }}"#,
        );
        let env = DockerEnv::default();
        let creds = cfg
            .credentials("localhost:5101", &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(creds.username.as_deref(), Some("alice"));
        assert_eq!(creds.password.as_deref(), Some("s3cr3t"));
        assert_eq!(creds.serveraddress.as_deref(), Some("localhost:5101"));
        let hub = cfg.credentials("docker.io", &env).await.unwrap().unwrap();
        assert_eq!(hub.username.as_deref(), Some("bob"));
        assert_eq!(hub.serveraddress.as_deref(), Some(DOCKER_HUB_SERVER));
        let other = cfg
            .credentials("reg.example:8443", &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other.username.as_deref(), Some("u"));
        assert!(
            cfg.credentials("elsewhere:5000", &env)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_auth_fields_and_json_are_config_errors() {
        assert!(decode_auth("!!!").is_err());
        assert!(decode_auth(&STANDARD.encode("no-colon")).is_err());
        let err = DockerConfig::parse(PathBuf::from("/x/config.json"), "{").unwrap_err();
        assert!(err.to_string().contains("/x/config.json"), "{err}");
    }

    #[test]
    fn helpers_prefer_cred_helpers_over_creds_store() {
        let cfg = config(
            r#"{"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud","localhost:5101":"lilttest"}}"#,
        );
        assert_eq!(cfg.helper_for("gcr.io"), Some("gcloud"));
        assert_eq!(cfg.helper_for("localhost:5101"), Some("lilttest"));
        assert_eq!(cfg.helper_for("quay.io"), Some("desktop"));
        let none = config(r#"{"auths":{}}"#);
        assert_eq!(none.helper_for("quay.io"), None);
    }

    /// Writes `docker-credential-lilttest` into a fresh directory: it answers for one
    /// server, says "not found" for others, and fails when asked to.
    fn helper_dir() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("docker-credential-lilttest");
        std::fs::write(
            &script,
            r#"#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
case "$server" in
  localhost:5101) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-pass"}\n' "$server" ;;
  token.example) printf '{"ServerURL":"%s","Username":"<token>","Secret":"tok"}\n' "$server" ;;
  broken.example) echo "keychain locked" >&2; exit 1 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#,
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[tokio::test]
    async fn credential_helper_program_on_path() {
        let dir = helper_dir();
        let path = format!("{}:/usr/bin:/bin", dir.path().display());
        let env = DockerEnv::from_vars([("PATH", path.as_str())]);
        let cfg = config(r#"{"credsStore":"lilttest"}"#);
        let creds = cfg
            .credentials("localhost:5101", &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(creds.username.as_deref(), Some("helper-user"));
        assert_eq!(creds.password.as_deref(), Some("helper-pass"));
        let token = cfg
            .credentials("token.example", &env)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(token.identitytoken.as_deref(), Some("tok"));
        assert_eq!(token.username, None);
        assert!(
            cfg.credentials("other.example", &env)
                .await
                .unwrap()
                .is_none()
        );
        let err = cfg.credentials("broken.example", &env).await.unwrap_err();
        assert!(err.to_string().contains("keychain locked"), "{err}");
        // A helper that is not installed is an error naming the program.
        let missing = config(r#"{"credsStore":"nosuchhelper"}"#);
        let err = missing.credentials("x.example", &env).await.unwrap_err();
        assert!(
            err.to_string().contains("docker-credential-nosuchhelper"),
            "{err}"
        );
    }

    #[test]
    fn load_reads_docker_config_dir_and_tolerates_absence() {
        let dir = tempfile::tempdir().unwrap();
        let env = DockerEnv::from_vars([("DOCKER_CONFIG", dir.path().to_str().unwrap())]);
        assert_eq!(DockerConfig::load(&env).unwrap(), DockerConfig::default());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credsStore":"lilttest"}"#,
        )
        .unwrap();
        let cfg = DockerConfig::load(&env).unwrap();
        assert_eq!(cfg.creds_store.as_deref(), Some("lilttest"));
        assert_eq!(cfg.path, Some(dir.path().join("config.json")));
    }
}
