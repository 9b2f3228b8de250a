//! A one-line change to a `COPY`ed file, then the whole rebuild and push on the local test
//! daemon, by lilt and by `docker build` + `docker push` run as a developer would (classic
//! builder, `DOCKER_BUILDKIT=0`, the same daemon and registry). The context is a service of
//! 2,000 files / 4 MB. Needs the test services (`scripts/test-services.sh start`).
//!
//! Before the benchmarks, `main` prints the p50 of "file saved → build request sent"
//! (build_all called after the change until its request to the daemon starts; the file
//! watcher's debounce is the runner's and is not included).
//!
//! Run with `cargo bench -p lilt-build --bench rebuild`.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lilt_build::{BuildRequest, Builder, DockerEnv, build_all};
use lilt_model::{DefaultRegistry, ImageTarget};
use tokio_util::sync::CancellationToken;

#[path = "../tests/common/mod.rs"]
mod common;

const FILES: usize = 2_000;
const FILE_SIZE: usize = 2_000;

struct Fixture {
    dir: tempfile::TempDir,
    config: tempfile::TempDir,
    env: DockerEnv,
    registry: DefaultRegistry,
    services: lilt_testsvc::Services,
    /// Bumped before each build so every build sees a new one-line change.
    counter: AtomicU64,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let s = lilt_testsvc::services();
        let dir = tempfile::tempdir().expect("tempdir");
        let line = "x".repeat(FILE_SIZE - 1) + "\n";
        for i in 0..FILES {
            common::write(
                dir.path(),
                &format!("src/mod{:02}/file{i:04}.txt", i % 50),
                &line,
            );
        }
        common::write(dir.path(), "app/main.txt", "v0\n");
        common::write(
            dir.path(),
            "Dockerfile",
            &format!("FROM {}\nCOPY . /app\n", s.base_image),
        );
        let config = tempfile::tempdir().expect("tempdir");
        let env = common::local_env(&s, config.path());
        let registry = DefaultRegistry {
            host: s.registry.clone(),
            host_from_cluster: String::new(),
            single_name: String::new(),
        };
        std::thread::sleep(lilt_build::RACY_WINDOW + Duration::from_millis(200));
        Fixture {
            dir,
            config,
            env,
            registry,
            services: s,
            counter: AtomicU64::new(0),
        }
    })
}

impl Fixture {
    /// The one-line change: a new last line in `app/main.txt`.
    fn change(&self) {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nonce = std::process::id();
        std::fs::write(
            self.dir.path().join("app/main.txt"),
            format!("v0\nchange {nonce}-{n}\n"),
        )
        .expect("write");
    }

    fn images(&self) -> Vec<ImageTarget> {
        vec![common::docker_image(
            "lilt-build-bench/rebuild",
            self.dir.path(),
            &[],
        )]
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One lilt rebuild + push; returns the time from the call until the build request left
/// (the "building … with the classic builder" line is logged just before it is sent).
fn lilt_rebuild(rt: &tokio::runtime::Runtime, builder: &Builder, f: &Fixture) -> Duration {
    let images = f.images();
    let req = BuildRequest::new(&images).with_registry(Some(&f.registry));
    let started = Instant::now();
    let sent: Arc<Mutex<Option<Duration>>> = Arc::new(Mutex::new(None));
    let slot = sent.clone();
    let log = move |line: String| {
        if line.starts_with("building ")
            && let Ok(mut s) = slot.lock()
        {
            s.get_or_insert(started.elapsed());
        }
    };
    let built = rt
        .block_on(build_all(builder, &req, &log, &CancellationToken::new()))
        .expect("build");
    assert!(!built[0].cached && built[0].pushed);
    let sent = sent.lock().ok().and_then(|s| *s);
    sent.expect("a build request was sent")
}

fn docker_cli(f: &Fixture, args: &[&str]) {
    let out = Command::new("docker")
        .args(args)
        .current_dir(f.dir.path())
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_HOST", &f.services.docker_host)
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", f.config.path())
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let f = fixture();
    let rt = runtime();
    let builder = Builder::from_env(&f.env).expect("builder");
    let mut to_request: Vec<Duration> = (0..20)
        .map(|_| {
            f.change();
            lilt_rebuild(&rt, &builder, f)
        })
        .collect();
    to_request.sort();
    eprintln!(
        "file saved -> build request sent ({FILES} files): p50 {:.1} ms, p90 {:.1} ms over {} rebuilds",
        to_request[to_request.len() / 2].as_secs_f64() * 1e3,
        to_request[to_request.len() * 9 / 10].as_secs_f64() * 1e3,
        to_request.len()
    );
    divan::main();
}

/// lilt: hash, miss, stream the context, build, push.
#[divan::bench(sample_count = 10)]
fn lilt_build_and_push(bencher: divan::Bencher) {
    let f = fixture();
    let rt = runtime();
    let builder = Builder::from_env(&f.env).expect("builder");
    bencher.bench_local(|| {
        f.change();
        lilt_rebuild(&rt, &builder, f)
    });
}

/// By hand: `docker build -t REF .` then `docker push REF` (the docker CLI makes and sends
/// the context itself).
#[divan::bench(sample_count = 10)]
fn docker_cli_build_and_push(bencher: divan::Bencher) {
    let f = fixture();
    let reference = format!(
        "{}/lilt-build-bench_rebuild-cli:latest",
        f.services.registry
    );
    bencher.bench_local(|| {
        f.change();
        docker_cli(f, &["build", "-q", "-t", &reference, "."]);
        docker_cli(f, &["push", "-q", &reference]);
    });
}
