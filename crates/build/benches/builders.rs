//! The classic builder against BuildKit for a small image on the local test daemon (no
//! push): `FROM busybox`, a `RUN`, a `COPY` of a changed file and a `RUN` after it, as in a
//! dev loop (`*_copy_changed`: the first `RUN` comes from the daemon's cache), and with
//! every step rebuilt (`*_all_steps`: the first `RUN` changes too). Both with
//! `network="host"`, which the test daemon (`--bridge=none`) needs for BuildKit's `RUN`
//! steps; the classic builder is chosen with `DOCKER_BUILDKIT=0`. Each sample is a whole
//! `build_all`: hash, look up, stream the context, build, read the result.
//!
//! Run with `cargo bench -p lilt-build --bench builders` (needs the test services).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use lilt_build::{BuildRequest, Builder, BuilderKind, DockerEnv, build_all};
use tokio_util::sync::CancellationToken;

#[path = "../tests/common/mod.rs"]
mod common;

struct Fixture {
    dir: tempfile::TempDir,
    _config: tempfile::TempDir,
    env: DockerEnv,
    base: String,
    counter: AtomicU64,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let s = lilt_testsvc::services();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = tempfile::tempdir().expect("tempdir");
        let env = common::local_env(&s, config.path());
        Fixture {
            dir,
            _config: config,
            env,
            base: s.base_image,
            counter: AtomicU64::new(0),
        }
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Writes a new `app.txt` (and, with `all_steps`, a new first `RUN`), then builds.
fn rebuild(rt: &tokio::runtime::Runtime, builder: &Builder, f: &Fixture, all_steps: bool) {
    let n = f.counter.fetch_add(1, Ordering::Relaxed);
    let nonce = std::process::id();
    common::write(f.dir.path(), "app.txt", &format!("change {nonce}-{n}\n"));
    let setup = if all_steps {
        format!("setup {nonce}-{n}")
    } else {
        "setup".to_owned()
    };
    common::write(
        f.dir.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nRUN echo {setup} > /setup.txt\nCOPY app.txt /app.txt\nRUN cat /setup.txt /app.txt > /both.txt\n",
            f.base
        ),
    );
    let images = [common::buildkit_image(
        "lilt-build-bench/builders",
        f.dir.path(),
    )];
    let log = |_line: String| {};
    let built = rt
        .block_on(build_all(
            builder,
            &BuildRequest::new(&images),
            &log,
            &CancellationToken::new(),
        ))
        .expect("build");
    assert!(!built[0].cached);
}

fn builder(buildkit: bool, rt: &tokio::runtime::Runtime) -> Builder {
    let f = fixture();
    let env = f
        .env
        .clone()
        .with("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" });
    let builder = Builder::from_env(&env).expect("builder");
    let kind = rt.block_on(builder.builder_kind("host")).expect("kind");
    assert_eq!(kind == BuilderKind::BuildKit, buildkit, "{kind:?}");
    // Warm the daemon's cache of the unchanged steps.
    rebuild(rt, &builder, f, false);
    builder
}

fn bench(bencher: divan::Bencher, buildkit: bool, all_steps: bool) {
    let f = fixture();
    let rt = runtime();
    let builder = builder(buildkit, &rt);
    bencher.bench_local(|| rebuild(&rt, &builder, f, all_steps));
}

#[divan::bench(sample_count = 15)]
fn classic_copy_changed(bencher: divan::Bencher) {
    bench(bencher, false, false);
}

#[divan::bench(sample_count = 15)]
fn buildkit_copy_changed(bencher: divan::Bencher) {
    bench(bencher, true, false);
}

#[divan::bench(sample_count = 15)]
fn classic_all_steps(bencher: divan::Bencher) {
    bench(bencher, false, true);
}

#[divan::bench(sample_count = 15)]
fn buildkit_all_steps(bencher: divan::Bencher) {
    bench(bencher, true, true);
}

fn main() {
    divan::main();
}
