//! The up-to-date check of a `docker_build` whose context has 10,000 files / 100 MB: hash
//! the inputs, then find the content tag in the daemon (or in the registry, through the
//! daemon). The image is built once before measuring, so every measured call finds it and
//! builds nothing. Needs the test services (`scripts/test-services.sh start`).
//!
//! Run with `cargo bench -p lilt-build --bench up_to_date`.

use std::sync::OnceLock;

use lilt_build::{BuildRequest, Builder, BuiltImage, DockerEnv, build_all};
use lilt_model::{BuildDetails, DefaultRegistry, DockerBuild, ImageTarget};
use tokio_util::sync::CancellationToken;

const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;
const FILE_SIZE: usize = 10_000;

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
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut buf = vec![0u8; FILE_SIZE];
        for d in 0..DIRS {
            let sub = dir.path().join(format!("pkg{d:03}"));
            std::fs::create_dir_all(&sub).expect("mkdir");
            for f in 0..FILES_PER_DIR {
                for b in buf.iter_mut() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    *b = state as u8;
                }
                std::fs::write(sub.join(format!("file{f:03}.bin")), &buf).expect("write");
            }
        }
        // No COPY: the daemon receives the whole context once, but keeps no 100 MB layer.
        let dockerfile = format!("FROM {}\nRUN true\n", s.base_image);
        std::fs::write(dir.path().join("Dockerfile"), &dockerfile).expect("Dockerfile");
        let image = ImageTarget {
            image_ref: "lilt-build-bench/up-to-date".to_owned(),
            build: BuildDetails::Docker(DockerBuild {
                context: dir.path().to_path_buf(),
                dockerfile_path: Some(dir.path().join("Dockerfile")),
                dockerfile_contents: dockerfile,
                ..DockerBuild::default()
            }),
            live_update: Default::default(),
            match_in_env_vars: false,
            entrypoint: Vec::new(),
            container_args: None,
            image_deps: Vec::new(),
        };
        let config = tempfile::tempdir().expect("tempdir");
        let mut env =
            DockerEnv::default().with("DOCKER_CONFIG", config.path().to_str().unwrap_or(""));
        for (k, v) in s.local_docker_env() {
            env = env.with(&k, &v);
        }
        let registry = DefaultRegistry {
            host: s.registry.clone(),
            host_from_cluster: String::new(),
            single_name: String::new(),
        };
        std::thread::sleep(lilt_build::RACY_WINDOW + std::time::Duration::from_millis(200));
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
