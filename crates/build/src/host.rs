//! Which Docker daemon builds, chosen as the docker CLI chooses: `DOCKER_HOST` (with
//! `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`), else the current `docker context`, else the
//! default socket. bollard reads only `DOCKER_HOST`, so the context store is read here.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::env::DockerEnv;
use crate::error::BuildError;

/// The socket the docker CLI uses when nothing else is configured.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Where the daemon address came from, for `lilt doctor`-style messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSource {
    /// The `DOCKER_HOST` variable.
    DockerHost,
    /// A docker context (`DOCKER_CONTEXT` or `currentContext` in `config.json`).
    Context(String),
    /// Nothing configured: the default socket.
    Default,
}

/// Client certificate files for a TLS daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` in `dir`, as `DOCKER_CERT_PATH` holds them.
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// A daemon address with what is needed to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedHost {
    /// As the user wrote it: `unix:///…`, `tcp://host:2376`, `ssh://user@host`.
    pub host: String,
    /// Present when the connection uses TLS with client certificates.
    pub tls: Option<TlsFiles>,
    pub source: HostSource,
}

/// Resolves the daemon the docker CLI would talk to with this environment.
///
/// The CLI's order: `DOCKER_HOST` wins (it selects the "default" context), then
/// `DOCKER_CONTEXT`, then `currentContext` of `config.json`; the context `default` means
/// the default socket.
pub fn resolve_host(env: &DockerEnv) -> Result<ResolvedHost, BuildError> {
    if let Some(host) = env.get("DOCKER_HOST") {
        return Ok(ResolvedHost {
            host: host.to_owned(),
            tls: env_tls(env, host)?,
            source: HostSource::DockerHost,
        });
    }
    let config_dir = env.config_dir();
    let context = match env.get("DOCKER_CONTEXT") {
        Some(name) => Some(name.to_owned()),
        None => match &config_dir {
            Some(dir) => current_context(dir)?,
            None => None,
        },
    };
    match context {
        Some(name) if name != "default" => {
            let Some(dir) = config_dir else {
                return Err(BuildError::DockerContext {
                    name,
                    message: "neither DOCKER_CONFIG nor HOME is set, so the context store cannot be found".to_owned(),
                });
            };
            context_host(&dir, &name)
        }
        _ => Ok(ResolvedHost {
            host: DEFAULT_DOCKER_HOST.to_owned(),
            tls: None,
            source: HostSource::Default,
        }),
    }
}

/// TLS settings for a `DOCKER_HOST` address from `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`.
fn env_tls(env: &DockerEnv, host: &str) -> Result<Option<TlsFiles>, BuildError> {
    let tcp = host.starts_with("tcp://") || host.starts_with("https://");
    if !tcp {
        return Ok(None);
    }
    let verify = env.get("DOCKER_TLS_VERIFY").is_some();
    if !verify && host.starts_with("https://") {
        return Err(BuildError::Host {
            host: host.to_owned(),
            message: "https:// needs DOCKER_TLS_VERIFY=1 and client certificates in DOCKER_CERT_PATH (lilt always verifies the daemon's certificate)".to_owned(),
        });
    }
    if !verify {
        if env.get("DOCKER_TLS").is_some() {
            return Err(BuildError::Host {
                host: host.to_owned(),
                message: "DOCKER_TLS without DOCKER_TLS_VERIFY (TLS without checking the daemon's certificate) is not supported; set DOCKER_TLS_VERIFY=1".to_owned(),
            });
        }
        return Ok(None);
    }
    let dir = match env.get("DOCKER_CERT_PATH") {
        Some(dir) => PathBuf::from(dir),
        None => env.config_dir().ok_or_else(|| BuildError::Host {
            host: host.to_owned(),
            message: "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME is".to_owned(),
        })?,
    };
    Ok(Some(TlsFiles::in_dir(&dir)))
}

/// `currentContext` from `config.json`, if the file exists and sets one.
fn current_context(config_dir: &Path) -> Result<Option<String>, BuildError> {
    let path = config_dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(BuildError::Config {
                path,
                message: e.to_string(),
            });
        }
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| BuildError::Config {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(value
        .get("currentContext")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}

/// The context store keeps each context under the hex SHA-256 of its name.
fn context_id(name: &str) -> String {
    hex(&Sha256::digest(name.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// The docker endpoint of a named context: `contexts/meta/<id>/meta.json`, with TLS files
/// from `contexts/tls/<id>/docker/` when that directory exists.
fn context_host(config_dir: &Path, name: &str) -> Result<ResolvedHost, BuildError> {
    let id = context_id(name);
    let meta_path = config_dir
        .join("contexts")
        .join("meta")
        .join(&id)
        .join("meta.json");
    let err = |message: String| BuildError::DockerContext {
        name: name.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(&meta_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            err(format!(
                "context not found (no {}); `docker context ls` lists the contexts",
                meta_path.display()
            ))
        } else {
            err(format!("{}: {e}", meta_path.display()))
        }
    })?;
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(format!("{}: {e}", meta_path.display())))?;
    let endpoint = meta
        .get("Endpoints")
        .and_then(|e| e.get("docker"))
        .ok_or_else(|| err("the context has no docker endpoint".to_owned()))?;
    let host = endpoint
        .get("Host")
        .and_then(|h| h.as_str())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| err("the context's docker endpoint has no Host".to_owned()))?
        .to_owned();
    if endpoint
        .get("SkipTLSVerify")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
    {
        return Err(err(
            "SkipTLSVerify is set; lilt always verifies the daemon's certificate".to_owned(),
        ));
    }
    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&id)
        .join("docker");
    let tls = tls_dir.is_dir().then(|| TlsFiles::in_dir(&tls_dir));
    Ok(ResolvedHost {
        host,
        tls,
        source: HostSource::Context(name.to_owned()),
    })
}

/// How long a request may wait for the daemon's response headers. The daemon answers a
/// build only once it has read the whole context, so this bounds the upload of a large
/// context over a slow link; cancellation, not this, stops long builds.
const REQUEST_TIMEOUT_SECS: u64 = 3600;

/// Opens a bollard client for a resolved host (no request is made yet).
pub(crate) fn connect(resolved: &ResolvedHost) -> Result<bollard::Docker, BuildError> {
    let host = resolved.host.as_str();
    let fail = |message: String| BuildError::Host {
        host: host.to_owned(),
        message,
    };
    let version = bollard::API_DEFAULT_VERSION;
    if let Some(path) = host.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err(fail(format!(
                "no socket at {path}: is the Docker daemon running?"
            )));
        }
        return bollard::Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, version)
            .map_err(|e| fail(e.to_string()));
    }
    if host.starts_with("tcp://") || host.starts_with("http://") || host.starts_with("https://") {
        return match &resolved.tls {
            Some(tls) => {
                for file in [&tls.ca, &tls.cert, &tls.key] {
                    if !file.is_file() {
                        return Err(fail(format!(
                            "TLS file {} is missing (DOCKER_CERT_PATH or the context's TLS directory)",
                            file.display()
                        )));
                    }
                }
                bollard::Docker::connect_with_ssl(
                    host,
                    &tls.key,
                    &tls.cert,
                    &tls.ca,
                    REQUEST_TIMEOUT_SECS,
                    version,
                )
                .map_err(|e| fail(e.to_string()))
            }
            None => bollard::Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, version)
                .map_err(|e| fail(e.to_string())),
        };
    }
    if host.starts_with("ssh://") {
        return connect_ssh(host).map_err(fail);
    }
    Err(fail(
        "unsupported scheme (lilt supports unix://, tcp:// with or without TLS, and ssh://)"
            .to_owned(),
    ))
}

#[cfg(feature = "ssh")]
fn connect_ssh(host: &str) -> Result<bollard::Docker, String> {
    bollard::Docker::connect_with_ssh(
        host,
        REQUEST_TIMEOUT_SECS,
        bollard::API_DEFAULT_VERSION,
        None,
    )
    .map_err(|e| e.to_string())
}

#[cfg(not(feature = "ssh"))]
fn connect_ssh(_host: &str) -> Result<bollard::Docker, String> {
    Err("ssh:// daemons need lilt built with the `ssh` feature of lilt-build".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> DockerEnv {
        DockerEnv::from_vars(vars.iter().copied())
    }

    #[test]
    fn docker_host_wins_over_contexts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        let resolved = resolve_host(&env(&[
            ("DOCKER_HOST", "unix:///tmp/x.sock"),
            ("DOCKER_CONTEXT", "other"),
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(resolved.host, "unix:///tmp/x.sock");
        assert_eq!(resolved.source, HostSource::DockerHost);
        assert_eq!(resolved.tls, None);
    }

    #[test]
    fn tls_from_cert_path_and_verify() {
        let resolved = resolve_host(&env(&[
            ("DOCKER_HOST", "tcp://127.0.0.2:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ]))
        .unwrap();
        assert_eq!(resolved.tls, Some(TlsFiles::in_dir(Path::new("/certs"))));
        // Without DOCKER_CERT_PATH the CLI looks in its config directory.
        let resolved = resolve_host(&env(&[
            ("DOCKER_HOST", "tcp://127.0.0.2:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("HOME", "/home/dev"),
        ]))
        .unwrap();
        assert_eq!(
            resolved.tls,
            Some(TlsFiles::in_dir(Path::new("/home/dev/.docker")))
        );
        // An empty DOCKER_TLS_VERIFY is unset, as for the CLI.
        let resolved = resolve_host(&env(&[
            ("DOCKER_HOST", "tcp://127.0.0.2:2375"),
            ("DOCKER_TLS_VERIFY", ""),
        ]))
        .unwrap();
        assert_eq!(resolved.tls, None);
    }

    #[test]
    fn unverified_tls_is_refused() {
        let err = resolve_host(&env(&[
            ("DOCKER_HOST", "tcp://127.0.0.2:2376"),
            ("DOCKER_TLS", "1"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("DOCKER_TLS_VERIFY"), "{err}");
    }

    #[test]
    fn default_socket_when_nothing_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let resolved =
            resolve_host(&env(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())])).unwrap();
        assert_eq!(resolved.host, DEFAULT_DOCKER_HOST);
        assert_eq!(resolved.source, HostSource::Default);
        // The context named "default" is the default socket too.
        let resolved = resolve_host(&env(&[
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
            ("DOCKER_CONTEXT", "default"),
        ]))
        .unwrap();
        assert_eq!(resolved.source, HostSource::Default);
    }

    /// Writes a context the way `docker context create` lays it out.
    fn write_context(config: &Path, name: &str, host: &str, tls: bool) {
        let id = context_id(name);
        let meta = config.join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
            ),
        )
        .unwrap();
        if tls {
            std::fs::create_dir_all(config.join("contexts/tls").join(&id).join("docker")).unwrap();
        }
    }

    #[test]
    fn current_context_from_config_json() {
        let dir = tempfile::tempdir().unwrap();
        write_context(dir.path(), "remote", "tcp://127.0.0.2:2376", true);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{},"currentContext":"remote"}"#,
        )
        .unwrap();
        let resolved =
            resolve_host(&env(&[("DOCKER_CONFIG", dir.path().to_str().unwrap())])).unwrap();
        assert_eq!(resolved.host, "tcp://127.0.0.2:2376");
        assert_eq!(resolved.source, HostSource::Context("remote".to_owned()));
        let tls_dir = dir
            .path()
            .join("contexts/tls")
            .join(context_id("remote"))
            .join("docker");
        assert_eq!(resolved.tls, Some(TlsFiles::in_dir(&tls_dir)));
    }

    #[test]
    fn docker_context_variable_beats_config_and_missing_context_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_context(dir.path(), "plain", "tcp://127.0.0.3:2375", false);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"missing"}"#,
        )
        .unwrap();
        let config = dir.path().to_str().unwrap();
        let resolved = resolve_host(&env(&[
            ("DOCKER_CONFIG", config),
            ("DOCKER_CONTEXT", "plain"),
        ]))
        .unwrap();
        assert_eq!(resolved.host, "tcp://127.0.0.3:2375");
        assert_eq!(resolved.tls, None);
        let err = resolve_host(&env(&[("DOCKER_CONFIG", config)])).unwrap_err();
        assert!(
            matches!(&err, BuildError::DockerContext { name, .. } if name == "missing"),
            "{err}"
        );
    }

    #[test]
    fn context_ids_are_sha256_of_the_name() {
        // The digest `docker context` uses for a context named "default".
        assert_eq!(
            context_id("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
    }
}
