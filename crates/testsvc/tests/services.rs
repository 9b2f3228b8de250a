//! Proves the test services are really up: each test makes a real request to one of them (the
//! docker CLI against both daemons, raw HTTP/1.1 against both registries), so a broken start
//! script fails here first rather than somewhere deep in another crate's tests.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lilt_testsvc::{Services, services};

/// Runs a command and returns its output, failing the test with its stderr when it fails.
fn run_ok(mut cmd: Command) -> String {
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The status code and the raw response head of `GET path` on `addr`, over a plain TCP socket.
fn http_get(addr: &str, path: &str, auth: Option<(&str, &str)>, accept: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: lilt-testsvc\r\n"
    );
    if !accept.is_empty() {
        req.push_str(&format!("Accept: {accept}\r\n"));
    }
    if let Some((user, password)) = auth {
        let token = base64(format!("{user}:{password}").as_bytes());
        req.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status from {addr}{path}: {head:?}"));
    (status, head)
}

/// Standard base64 with padding (RFC 4648), enough for a basic-auth header.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A name no other test run uses, for tags and temp dirs.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[test]
fn base64_matches_the_rfc_examples() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

#[test]
fn local_docker_answers_and_runs_the_base_image() {
    let s = services();
    assert!(s.docker_host.starts_with("unix://"), "{}", s.docker_host);
    let mut version = s.docker();
    version.args(["version", "--format", "{{.Server.Version}}"]);
    assert!(!run_ok(version).is_empty());

    let mut echo = s.docker();
    echo.args(["run", "--rm", "--network", "host", &s.base_image])
        .args(["sh", "-c", "echo hello from $(uname -s)"]);
    assert_eq!(run_ok(echo), "hello from Linux");
}

#[test]
fn remote_docker_speaks_tls_with_the_client_certificate_only() {
    let s = services();
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(s.remote_cert_path.join(file).is_file(), "{file} missing");
    }
    let mut inspect = s.remote_docker();
    inspect.args(["image", "inspect", "--format", "{{.Id}}", &s.base_image]);
    assert!(run_ok(inspect).starts_with("sha256:"));

    // Without TLS the same address must refuse to serve the API.
    let mut plain = Command::new("docker");
    plain
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_CONTEXT")
        .args([
            "-H",
            &s.remote_docker_host,
            "version",
            "--format",
            "{{.Server.Version}}",
        ]);
    let out = run(&mut plain);
    assert!(!out.status.success(), "plain HTTP to the TLS daemon worked");
}

#[test]
fn plain_registry_serves_the_v2_api_without_auth() {
    let s = services();
    let (status, head) = http_get(&s.registry, "/v2/", None, "");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0"),
        "{head}"
    );
}

#[test]
fn auth_registry_wants_the_generated_password() {
    let s = services();
    let (status, head) = http_get(&s.auth_registry, "/v2/", None, "");
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{head}"
    );
    let (status, head) = http_get(&s.auth_registry, "/v2/", Some((&s.auth_user, "wrong")), "");
    assert_eq!(status, 401, "{head}");
    let (status, head) = http_get(
        &s.auth_registry,
        "/v2/",
        Some((&s.auth_user, &s.auth_password)),
        "",
    );
    assert_eq!(status, 200, "{head}");
}

/// Makes a `docker` command aimed at one of the two daemons.
type DockerFor = fn(&Services) -> Command;

/// Both daemons push the base image to both registries (the auth one after `docker login`, with
/// a throwaway client config), and each registry then serves the manifest.
#[test]
fn both_daemons_push_to_both_registries() {
    let s = services();
    let config = std::env::temp_dir().join(unique("lilt-testsvc-config"));
    fs::create_dir_all(&config).unwrap();
    let tag = unique("t");
    let daemons: [(&str, DockerFor); 2] = [
        ("local", Services::docker),
        ("remote", Services::remote_docker),
    ];
    for (daemon, docker) in daemons {
        let with_config = |args: &[&str]| {
            let mut cmd = docker(&s);
            cmd.env("DOCKER_CONFIG", &config).args(args);
            cmd
        };
        let mut login = with_config(&[
            "login",
            "--username",
            &s.auth_user,
            "--password-stdin",
            &s.auth_registry,
        ]);
        let mut child = login
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(s.auth_password.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{daemon}: docker login failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        for (registry, auth) in [
            (&s.registry, None),
            (
                &s.auth_registry,
                Some((s.auth_user.as_str(), s.auth_password.as_str())),
            ),
        ] {
            let repo = format!("lilt-testsvc/push-{daemon}");
            let image = format!("{registry}/{repo}:{tag}");
            run_ok(with_config(&["tag", &s.base_image, &image]));
            run_ok(with_config(&["push", &image]));
            let (status, head) = http_get(
                registry,
                &format!("/v2/{repo}/manifests/{tag}"),
                auth,
                "application/vnd.docker.distribution.manifest.v2+json",
            );
            assert_eq!(status, 200, "{daemon} -> {registry}: {head}");
            run_ok(with_config(&["rmi", &image]));
        }
    }
    fs::remove_dir_all(&config).unwrap();
}

/// The state dir holds what the docs say: the env file the crate reads, and per-service logs.
#[test]
fn state_dir_has_the_env_file_and_logs() {
    let s = services();
    let env = fs::read_to_string(s.dir.join("env")).unwrap();
    assert_eq!(Services::from_env_file(&env).unwrap(), s);
    for log in ["d1.log", "d2.log", "c1.log", "c2.log", "r1.log", "r2.log"] {
        assert!(PathBuf::from(&s.dir).join(log).is_file(), "{log} missing");
    }
}
