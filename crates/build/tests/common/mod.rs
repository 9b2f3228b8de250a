//! Shared set-up for the build crate's tests against the real test daemons and registries
//! (`scripts/test-services.sh`): environments pointing at each daemon, image targets, a log
//! collector, and names unique to each test run so runs never see each other's images.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lilt_build::{
    BuildAllError, BuildError, BuildRequest, Builder, BuiltImage, DockerEnv, build_all,
};
use lilt_model::{BuildDetails, CustomBuild, DockerBuild, IgnoreSet, ImageTarget};
use lilt_testsvc::Services;
use tokio_util::sync::CancellationToken;

pub fn svc() -> Services {
    lilt_testsvc::services()
}

/// A name no other test or earlier run uses: `lilt-build-test/<what>-<pid><nanos>`.
pub fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("lilt-build-test/{what}-{}{nanos}", std::process::id())
}

/// The environment a developer's shell would have, minus anything that could point at
/// another daemon or hold real credentials: an empty docker config directory of the test.
fn base_env(config_dir: &Path) -> DockerEnv {
    let mut env = DockerEnv::default()
        .with("DOCKER_CONFIG", config_dir.to_str().unwrap())
        .with("PATH", &std::env::var("PATH").unwrap_or_default());
    if let Ok(home) = std::env::var("HOME") {
        env = env.with("HOME", &home);
    }
    env
}

/// Points at the local test dockerd through `DOCKER_HOST`.
pub fn local_env(s: &Services, config_dir: &Path) -> DockerEnv {
    let mut env = base_env(config_dir);
    for (k, v) in s.local_docker_env() {
        env = env.with(&k, &v);
    }
    env
}

/// Points at the TLS "remote" dockerd through `DOCKER_HOST`, `DOCKER_TLS_VERIFY` and
/// `DOCKER_CERT_PATH`, as a developer with a remote builder would.
pub fn remote_env(s: &Services, config_dir: &Path) -> DockerEnv {
    let mut env = base_env(config_dir);
    for (k, v) in s.remote_docker_env() {
        env = env.with(&k, &v);
    }
    env
}

pub fn write(root: &Path, rel: &str, contents: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A `docker_build` of `context` with the context's own `Dockerfile` (read now, as the
/// Tiltfile reads it at load time) and `ignores` relative to the context.
pub fn docker_image(image_ref: &str, context: &Path, ignores: &[&str]) -> ImageTarget {
    let dockerfile = context.join("Dockerfile");
    let contents = std::fs::read_to_string(&dockerfile).unwrap_or_default();
    let mut context_ignores = Vec::new();
    if !ignores.is_empty() {
        context_ignores.push(IgnoreSet {
            base_path: context.to_path_buf(),
            patterns: ignores.iter().map(|p| (*p).to_owned()).collect(),
        });
    }
    ImageTarget {
        image_ref: image_ref.to_owned(),
        build: BuildDetails::Docker(DockerBuild {
            context: context.to_path_buf(),
            dockerfile_path: Some(dockerfile),
            dockerfile_contents: contents,
            context_ignores,
            ..DockerBuild::default()
        }),
        live_update: Default::default(),
        match_in_env_vars: false,
        entrypoint: Vec::new(),
        container_args: None,
        image_deps: Vec::new(),
    }
}

/// A `custom_build` running `script` with `sh -c` in `dir`, with `deps`.
pub fn custom_image(image_ref: &str, script: &str, dir: &Path, deps: Vec<PathBuf>) -> ImageTarget {
    ImageTarget {
        image_ref: image_ref.to_owned(),
        build: BuildDetails::Custom(CustomBuild {
            cmd: lilt_model::Cmd {
                argv: vec!["sh".into(), "-c".into(), script.into()],
                dir: dir.to_path_buf(),
                env: Vec::new(),
                echo_off: false,
            },
            deps,
            ..CustomBuild::default()
        }),
        live_update: Default::default(),
        match_in_env_vars: false,
        entrypoint: Vec::new(),
        container_args: None,
        image_deps: Vec::new(),
    }
}

pub fn docker_build_mut(image: &mut ImageTarget) -> &mut DockerBuild {
    match &mut image.build {
        BuildDetails::Docker(d) => d,
        _ => panic!("not a docker_build"),
    }
}

pub fn custom_build_mut(image: &mut ImageTarget) -> &mut CustomBuild {
    match &mut image.build {
        BuildDetails::Custom(c) => c,
        _ => panic!("not a custom_build"),
    }
}

/// Log lines collected from a build.
#[derive(Clone, Default)]
pub struct LogLines(pub Arc<Mutex<Vec<String>>>);

impl LogLines {
    pub fn sink(&self) -> impl Fn(String) + Send + Sync + 'static {
        let lines = self.0.clone();
        move |line| lines.lock().unwrap().push(line)
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn has_line(&self, line: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.trim_end() == line)
    }

    /// Waits (up to a generous bound, only so a broken build cannot hang the suite) until
    /// exactly `line` is logged.
    pub async fn wait_for_line(&self, line: &str) {
        self.wait_for(line, |l| l.trim_end() == line).await;
    }

    /// Waits (with the same bound) until a line satisfying `matches` is logged.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&str) -> bool) {
        for _ in 0..1200 {
            if self.0.lock().unwrap().iter().any(|l| matches(l)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never logged {what:?}; log:\n{}", self.text());
    }
}

/// Runs `build_all` and returns its result with the log.
pub async fn build_full(
    builder: &Builder,
    req: &BuildRequest<'_>,
) -> (Result<Vec<BuiltImage>, BuildAllError>, LogLines) {
    let log = LogLines::default();
    let sink = log.sink();
    let result = build_all(builder, req, &sink, &CancellationToken::new()).await;
    (result, log)
}

/// Runs `build_all` and returns its result with the log, without the images built
/// before a failure.
pub async fn build(
    builder: &Builder,
    req: &BuildRequest<'_>,
) -> (Result<Vec<BuiltImage>, BuildError>, LogLines) {
    let (result, log) = build_full(builder, req).await;
    (result.map_err(|e| e.error), log)
}

/// Runs `build_all` and unwraps, printing the log on failure.
pub async fn build_ok(builder: &Builder, req: &BuildRequest<'_>) -> (Vec<BuiltImage>, LogLines) {
    let (result, log) = build(builder, req).await;
    match result {
        Ok(built) => (built, log),
        Err(e) => panic!("build failed: {e}\nlog:\n{}", log.text()),
    }
}

/// Whether the daemon `env` points at holds `reference`.
pub async fn daemon_has(env: &DockerEnv, reference: &str) -> bool {
    let builder = Builder::from_env(env).unwrap();
    match builder.docker().inspect_image(reference).await {
        Ok(_) => true,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => false,
        Err(e) => panic!("inspect {reference}: {e}"),
    }
}

/// `name:tilt-<16 hex>` (after an optional registry prefix).
pub fn assert_content_tag(reference: &str) {
    let tag = reference.rsplit(':').next().unwrap();
    let hex = tag
        .strip_prefix("tilt-")
        .unwrap_or_else(|| panic!("no content tag: {reference}"));
    assert_eq!(hex.len(), 16, "{reference}");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{reference}");
}

/// A unix-socket proxy in front of a test dockerd that keeps every byte lilt sends, so a
/// test can tell which Engine API endpoints a build used. Point `DOCKER_HOST` at
/// [`DaemonProxy::host`].
pub struct DaemonProxy {
    /// `unix://…` of the proxy's socket.
    pub host: String,
    sent: Arc<Mutex<Vec<u8>>>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl DaemonProxy {
    /// Listens on a new socket and forwards each connection to `upstream` (`unix://…`).
    pub fn start(upstream: &str) -> DaemonProxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let upstream = PathBuf::from(upstream.strip_prefix("unix://").unwrap());
        let sent: Arc<Mutex<Vec<u8>>> = Arc::default();
        let record = sent.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(daemon) = tokio::net::UnixStream::connect(&upstream).await else {
                    continue;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut daemon_read, mut daemon_write) = daemon.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match client_read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            record.lock().unwrap().extend_from_slice(&buf[..n]);
                            if daemon_write.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = daemon_write.shutdown().await;
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut daemon_read, &mut client_write).await;
                        let _ = client_write.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        DaemonProxy {
            host: format!("unix://{}", path.display()),
            sent,
            _dir: dir,
            task,
        }
    }

    /// How many requests went to paths containing `path` (e.g. `/distribution/`).
    pub fn requests_to(&self, path: &str) -> usize {
        let sent = self.sent.lock().unwrap();
        let text = String::from_utf8_lossy(&sent);
        ["GET ", "POST ", "HEAD "]
            .iter()
            .map(|method| {
                text.match_indices(method)
                    .filter(|(at, _)| {
                        let line = &text[at + method.len()..];
                        let target = line.split(' ').next().unwrap_or("");
                        target.contains(path)
                    })
                    .count()
            })
            .sum()
    }
}

impl Drop for DaemonProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `docker_build` whose `RUN` steps use the host network. The test dockerd runs with
/// `--bridge=none`, where BuildKit fails `RUN` steps on the default network, so lilt builds
/// such images with the classic builder; `network="host"` lets BuildKit build them.
pub fn buildkit_image(image_ref: &str, context: &Path) -> ImageTarget {
    let mut image = docker_image(image_ref, context, &[]);
    docker_build_mut(&mut image).network = "host".into();
    image
}
