//! The up-to-date check of a `docker_build` whose context has 10,000 files / 100 MB: hash
//! the inputs, then find the content tag in the daemon (or in the registry, through the
//! daemon). The image is built once before measuring, so every measured call finds it and
//! builds nothing. Needs the test services (`scripts/test-services.sh start`).
//!
//! Run with `cargo bench -p lilt-build --bench up_to_date`.

use std::sync::OnceLock;

use lilt_build::{BuildRequest, Builder, BuiltImage, DockerEnv, build_all};
use lilt_model::{DefaultRegistry, ImageTarget};
use tokio_util::sync::CancellationToken;

#[path = "../tests/common/mod.rs"]
mod common;
mod fixture;

struct Fixture {
    _dir: tempfile::TempDir,
    _config: tempfile::TempDir,
    images: Vec<ImageTarget>,
    env: DockerEnv,
    registry: DefaultRegistry,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let s = lilt_testsvc::services();
        let dir = tempfile::tempdir().expect("tempdir");
        fixture::write_context(dir.path(), 0x2545_f491_4f6c_dd1d);
        // No COPY: the daemon receives the whole context once, but keeps no 100 MB layer.
        let dockerfile = format!("FROM {}\nRUN true\n", s.base_image);
        std::fs::write(dir.path().join("Dockerfile"), &dockerfile).expect("Dockerfile");
        let image = common::docker_image("lilt-build-bench/up-to-date", dir.path(), &[]);
        let config = tempfile::tempdir().expect("tempdir");
        let env = common::local_env(&s, config.path());
        let registry = DefaultRegistry {
            host: s.registry.clone(),
            host_from_cluster: String::new(),
            single_name: String::new(),
        };
        Fixture {
            _dir: dir,
            _config: config,
            images: vec![image],
            env,
            registry,
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

fn check(rt: &tokio::runtime::Runtime, builder: &Builder, req: &BuildRequest<'_>) -> BuiltImage {
    let log = |_line: String| {};
    let built = rt
        .block_on(build_all(builder, req, &log, &CancellationToken::new()))
        .expect("build");
    built.into_iter().next().expect("one image")
}

fn main() {
    divan::main();
}

/// Hash cache warm (lilt has seen the tree), image in the daemon: metadata of 10,000 files,
/// one hash, one `inspect` on the daemon.
#[divan::bench(sample_count = 20)]
fn daemon_check_warm(bencher: divan::Bencher) {
    let f = fixture();
    let rt = runtime();
    let builder = Builder::from_env(&f.env).expect("builder");
    let req = BuildRequest::new(&f.images);
    check(&rt, &builder, &req);
    assert!(check(&rt, &builder, &req).cached);
    bencher.bench_local(|| check(&rt, &builder, &req));
}

/// A freshly started lilt: every file is read and hashed (100 MB), then one `inspect`.
#[divan::bench(sample_count = 10)]
fn daemon_check_cold(bencher: divan::Bencher) {
    let f = fixture();
    let rt = runtime();
    let req = BuildRequest::new(&f.images);
    check(&rt, &Builder::from_env(&f.env).expect("builder"), &req);
    bencher
        .with_inputs(|| Builder::from_env(&f.env).expect("builder"))
        .bench_local_values(|builder| {
            let built = check(&rt, &builder, &req);
            assert!(built.cached);
            built
        });
}

/// Hash cache warm, image looked up in the registry (through the daemon's distribution
/// endpoint), as when images are pushed.
#[divan::bench(sample_count = 20)]
fn registry_check_warm(bencher: divan::Bencher) {
    let f = fixture();
    let rt = runtime();
    let builder = Builder::from_env(&f.env).expect("builder");
    let req = BuildRequest::new(&f.images).with_registry(Some(&f.registry));
    check(&rt, &builder, &req);
    assert!(check(&rt, &builder, &req).cached);
    bencher.bench_local(|| check(&rt, &builder, &req));
}

/// The same, with the registry asked only through the daemon's distribution endpoint (what
/// happens for registries that are not on this machine's loopback).
#[divan::bench(sample_count = 20)]
fn registry_check_warm_through_daemon(bencher: divan::Bencher) {
    let f = fixture();
    let rt = runtime();
    let builder = Builder::from_env(&f.env)
        .expect("builder")
        .with_direct_registry_check(false);
    let req = BuildRequest::new(&f.images).with_registry(Some(&f.registry));
    check(&rt, &builder, &req);
    assert!(check(&rt, &builder, &req).cached);
    bencher.bench_local(|| check(&rt, &builder, &req));
}
