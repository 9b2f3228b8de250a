//! Finds the Docker services lilt's tests run against: a local dockerd, a TLS "remote" dockerd,
//! a plain and an authenticated registry, and a busybox base image, all run by
//! `scripts/test-services.sh`.
//!
//! Tests call [`services()`]. It reads the `LILT_TEST_*` variables that `scripts/test.sh` exports;
//! when they are missing (a bare `cargo test`), it runs `scripts/test-services.sh start` itself,
//! which is idempotent and safe from parallel test processes, and reads the env file that
//! script writes. If neither works it panics with a hint: a test whose daemon is missing fails,
//! it never passes silently. [`services_or_skip()`] lets a developer opt out with
//! `LILT_SKIP_DOCKER_TESTS=1`, except under CI.

use std::env;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What a developer runs when the services cannot be started from a test.
pub const HINT: &str = "run: sudo bash scripts/test-services.sh start";

/// The script that starts the services, relative to the repository root.
const SCRIPT: &str = "scripts/test-services.sh";

/// The state dir the script uses when `LILT_SERVICES_DIR` is not set.
const DEFAULT_DIR: &str = "/tmp/lilt-svc";

/// The variables of the env contract, in the order the script writes them.
pub const VARS: [&str; 9] = [
    "LILT_TEST_DOCKER_HOST",
    "LILT_TEST_REMOTE_DOCKER_HOST",
    "LILT_TEST_REMOTE_DOCKER_CERT_PATH",
    "LILT_TEST_REGISTRY",
    "LILT_TEST_AUTH_REGISTRY",
    "LILT_TEST_AUTH_REGISTRY_USER",
    "LILT_TEST_AUTH_REGISTRY_PASSWORD",
    "LILT_TEST_BASE_IMAGE",
    "LILT_TEST_SERVICES_DIR",
];

/// Docker variables a user may have set that would send a `docker` command somewhere else.
const DOCKER_VARS: [&str; 4] = [
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_CONTEXT",
];

/// Where the test services are. Every field comes from one `LILT_TEST_*` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// `LILT_TEST_DOCKER_HOST`: the local dockerd, `unix://…/docker.sock`.
    pub docker_host: String,
    /// `LILT_TEST_REMOTE_DOCKER_HOST`: the TLS dockerd, `tcp://127.0.0.2:2376`.
    pub remote_docker_host: String,
    /// `LILT_TEST_REMOTE_DOCKER_CERT_PATH`: `ca.pem`, `cert.pem`, `key.pem` for the remote
    /// dockerd, laid out as `DOCKER_CERT_PATH` expects.
    pub remote_cert_path: PathBuf,
    /// `LILT_TEST_REGISTRY`: a registry without auth, `127.0.0.1:5100`.
    pub registry: String,
    /// `LILT_TEST_AUTH_REGISTRY`: a registry with htpasswd basic auth, `127.0.0.1:5101`.
    pub auth_registry: String,
    /// `LILT_TEST_AUTH_REGISTRY_USER`.
    pub auth_user: String,
    /// `LILT_TEST_AUTH_REGISTRY_PASSWORD`.
    pub auth_password: String,
    /// `LILT_TEST_BASE_IMAGE`: busybox, present in both daemons, `lilt-test/busybox:latest`.
    pub base_image: String,
    /// `LILT_TEST_SERVICES_DIR`: the script's state dir (logs, certs, data).
    pub dir: PathBuf,
}

impl Services {
    /// `docker -H <local dockerd>`, with the caller's `DOCKER_*` variables cleared.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        for var in DOCKER_VARS {
            cmd.env_remove(var);
        }
        cmd.arg("-H").arg(&self.docker_host);
        cmd
    }

    /// `docker --tlsverify -H <remote dockerd>` with `DOCKER_CERT_PATH` set to the client certs.
    pub fn remote_docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        for var in DOCKER_VARS {
            cmd.env_remove(var);
        }
        cmd.env("DOCKER_CERT_PATH", &self.remote_cert_path)
            .arg("--tlsverify")
            .arg("-H")
            .arg(&self.remote_docker_host);
        cmd
    }

    /// The environment that points a Docker client (lilt itself, or `docker`) at the local
    /// dockerd: `DOCKER_HOST`, with TLS off.
    pub fn local_docker_env(&self) -> Vec<(String, String)> {
        vec![
            ("DOCKER_HOST".into(), self.docker_host.clone()),
            ("DOCKER_TLS_VERIFY".into(), String::new()),
            ("DOCKER_CERT_PATH".into(), String::new()),
        ]
    }

    /// The environment that points a Docker client at the remote dockerd, the way the docker CLI
    /// reads it: `DOCKER_HOST`, `DOCKER_TLS_VERIFY=1`, `DOCKER_CERT_PATH`.
    pub fn remote_docker_env(&self) -> Vec<(String, String)> {
        vec![
            ("DOCKER_HOST".into(), self.remote_docker_host.clone()),
            ("DOCKER_TLS_VERIFY".into(), "1".into()),
            (
                "DOCKER_CERT_PATH".into(),
                self.remote_cert_path.display().to_string(),
            ),
        ]
    }

    /// Builds `Services` from a lookup of the `LILT_TEST_*` variables. `Ok(None)` when none is
    /// set; an error naming the missing ones when only some are (a half-set environment is a
    /// mistake, not a reason to start anything).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let values: Vec<Option<String>> = VARS
            .iter()
            .map(|v| lookup(v).filter(|s| !s.is_empty()))
            .collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let missing: Vec<&str> = VARS
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::Incomplete(missing.join(", ")));
        }
        let mut it = values.into_iter().flatten();
        let mut next = || it.next().unwrap_or_default();
        Ok(Some(Services {
            docker_host: next(),
            remote_docker_host: next(),
            remote_cert_path: PathBuf::from(next()),
            registry: next(),
            auth_registry: next(),
            auth_user: next(),
            auth_password: next(),
            base_image: next(),
            dir: PathBuf::from(next()),
        }))
    }

    /// Parses the env file the script writes (`export NAME=value` lines; values may be single
    /// or double quoted). Every variable of the contract must be there.
    pub fn from_env_file(text: &str) -> Result<Self, Error> {
        let pairs = parse_env_file(text);
        let lookup = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        Self::from_lookup(lookup)?.ok_or_else(|| Error::Incomplete(VARS.join(", ")))
    }
}

/// Why the services could not be found. Test code panics with it, so it names the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Some `LILT_TEST_*` variables (listed) are missing from the environment or the env file.
    Incomplete(String),
    /// No directory above the crate holds `scripts/test-services.sh`.
    NoRepo(String),
    /// The start script could not be run or failed; its output.
    Start(String),
    /// The env file could not be read.
    EnvFile(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Incomplete(vars) => write!(
                f,
                "test service variables missing: {vars} (set all of them, as `source <dir>/env` does, or none)"
            ),
            Error::NoRepo(from) => write!(f, "no directory above {from} holds {SCRIPT}"),
            Error::Start(out) => write!(f, "{SCRIPT} start failed:\n{out}"),
            Error::EnvFile(msg) => write!(f, "cannot read the services' env file: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

/// `export NAME=value` lines into pairs; comments, blank lines and other lines are ignored.
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("export ").unwrap_or(line);
            if rest.starts_with('#') {
                return None;
            }
            let (name, value) = rest.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(value);
            Some((name.trim().to_string(), value.to_string()))
        })
        .collect()
}

static SERVICES: OnceLock<Services> = OnceLock::new();

/// The test services, started if need be. Panics (with [`HINT`]) when they cannot be found or
/// started: a test that needs them must fail, not pass, without them.
pub fn services() -> Services {
    if let Some(s) = SERVICES.get() {
        return s.clone();
    }
    let found = match Services::from_lookup(|v| env::var(v).ok()) {
        Ok(Some(s)) => Ok(s),
        Ok(None) => start_and_read(),
        Err(e) => Err(e),
    };
    match found {
        Ok(s) => SERVICES.get_or_init(|| s).clone(),
        Err(e) => panic!("lilt test services unavailable: {e}\nhint: {HINT}"),
    }
}

/// Like [`services()`], but when the `LILT_TEST_*` variables are missing and
/// `LILT_SKIP_DOCKER_TESTS=1` is set outside CI, prints `skipping: …` and returns `None`
/// instead of starting anything. Under CI (`CI` set) it never skips.
pub fn services_or_skip() -> Option<Services> {
    if let Some(s) = SERVICES.get() {
        return Some(s.clone());
    }
    let env_has_them = matches!(Services::from_lookup(|v| env::var(v).ok()), Ok(Some(_)));
    if !env_has_them && skip_requested(|v| env::var(v).ok()) {
        eprintln!(
            "skipping: Docker test services not configured and LILT_SKIP_DOCKER_TESTS=1 (to run: {HINT})"
        );
        return None;
    }
    Some(services())
}

/// True when `LILT_SKIP_DOCKER_TESTS=1` and `CI` is unset (or empty, `0`, `false`).
pub fn skip_requested(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let skip = lookup("LILT_SKIP_DOCKER_TESTS").is_some_and(|v| v == "1");
    let ci = lookup("CI").is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    skip && !ci
}

/// Runs the start script and reads the env file it writes.
fn start_and_read() -> Result<Services, Error> {
    let root = repo_root()?;
    let out = Command::new("bash")
        .arg(root.join(SCRIPT))
        .arg("start")
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Start(format!("cannot run bash: {e}")))?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        return Err(Error::Start(format!(
            "({}) {}",
            out.status,
            text.trim_end()
        )));
    }
    let dir = env::var_os("LILT_SERVICES_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
    let path = dir.join("env");
    let text = fs::read_to_string(&path)
        .map_err(|e| Error::EnvFile(format!("{}: {e}", path.display())))?;
    Services::from_env_file(&text)
}

/// The repository root: the nearest directory holding the start script, looked for above the
/// crate under test (`CARGO_MANIFEST_DIR` at run time) and then above this crate.
fn repo_root() -> Result<PathBuf, Error> {
    let starts = [
        env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    for start in starts.iter().flatten() {
        if let Some(root) = find_up(start) {
            return Ok(root);
        }
    }
    Err(Error::NoRepo(env!("CARGO_MANIFEST_DIR").to_string()))
}

fn find_up(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(SCRIPT).is_file())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
export LILT_TEST_DOCKER_HOST=unix:///tmp/lilt-svc/docker.sock
export LILT_TEST_REMOTE_DOCKER_HOST=tcp://127.0.0.2:2376
export LILT_TEST_REMOTE_DOCKER_CERT_PATH=/tmp/lilt-svc/certs/client
export LILT_TEST_REGISTRY=127.0.0.1:5100
export LILT_TEST_AUTH_REGISTRY='127.0.0.1:5101'
export LILT_TEST_AUTH_REGISTRY_USER=lilt
export LILT_TEST_AUTH_REGISTRY_PASSWORD=\"s3cret\"
export LILT_TEST_BASE_IMAGE=lilt-test/busybox:latest
export LILT_TEST_SERVICES_DIR=/tmp/lilt-svc
";

    #[test]
    fn env_file_fills_every_field() {
        let s = Services::from_env_file(FILE).unwrap();
        assert_eq!(s.docker_host, "unix:///tmp/lilt-svc/docker.sock");
        assert_eq!(s.remote_docker_host, "tcp://127.0.0.2:2376");
        assert_eq!(s.remote_cert_path, Path::new("/tmp/lilt-svc/certs/client"));
        assert_eq!(s.registry, "127.0.0.1:5100");
        assert_eq!(s.auth_registry, "127.0.0.1:5101");
        assert_eq!(s.auth_user, "lilt");
        assert_eq!(s.auth_password, "s3cret");
        assert_eq!(s.base_image, "lilt-test/busybox:latest");
        assert_eq!(s.dir, Path::new("/tmp/lilt-svc"));
    }

    #[test]
    fn a_partial_env_names_what_is_missing() {
        let text: String = FILE
            .lines()
            .filter(|l| !l.contains("PASSWORD") && !l.contains("BASE_IMAGE"))
            .map(|l| format!("{l}\n"))
            .collect();
        let err = Services::from_env_file(&text).unwrap_err();
        assert_eq!(
            err,
            Error::Incomplete("LILT_TEST_AUTH_REGISTRY_PASSWORD, LILT_TEST_BASE_IMAGE".into())
        );
    }

    #[test]
    fn an_empty_environment_is_not_an_error() {
        assert_eq!(Services::from_lookup(|_| None), Ok(None));
    }

    #[test]
    fn skipping_needs_the_flag_and_no_ci() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(skip_requested(with(&[("LILT_SKIP_DOCKER_TESTS", "1")])));
        assert!(!skip_requested(with(&[])));
        assert!(!skip_requested(with(&[("LILT_SKIP_DOCKER_TESTS", "0")])));
        assert!(!skip_requested(with(&[
            ("LILT_SKIP_DOCKER_TESTS", "1"),
            ("CI", "true")
        ])));
        assert!(skip_requested(with(&[
            ("LILT_SKIP_DOCKER_TESTS", "1"),
            ("CI", "false")
        ])));
    }

    #[test]
    fn the_repo_root_holds_the_script() {
        let root = repo_root().unwrap();
        assert!(root.join(SCRIPT).is_file());
        assert!(root.join("Cargo.toml").is_file());
    }
}
