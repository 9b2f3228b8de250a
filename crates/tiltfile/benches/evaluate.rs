//! Benchmark: evaluating a generated Tiltfile with 200 local resources and 50 images (also
//! written with `os.path.join` and `str.join`, which lilt rewrites for its size checks and
//! parses twice), and a small committed Kubernetes project (`benches/fixtures/small`).
//!
//! The generated project writes itself to a temp dir once; each iteration runs a full
//! `load()` (parse, execute, assemble), as a reload does.

use std::path::{Path, PathBuf};

use lilt_tiltfile::{LoadOptions, load};

fn main() {
    // `LILT_BENCH_PROJECT=DIR cargo bench -p lilt-tiltfile --bench evaluate` writes the
    // project to DIR and exits, so the cold-process figure can be measured on the same
    // Tiltfile with hyperfine (see docs/performance.md).
    if let Some(dir) = std::env::var_os("LILT_BENCH_PROJECT") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("create project dir");
        println!("{}", write_project(&dir, false).display());
        return;
    }
    divan::main();
}

/// Writes the benchmark project and returns the Tiltfile path; with `joins`, every resource
/// names its dependency with `os.path.join` and its command with `' '.join`.
pub fn write_project(dir: &Path, joins: bool) -> PathBuf {
    let mut tiltfile = String::from("# generated: 200 local resources, 50 images\n");
    tiltfile.push_str("load('./lib.star', 'labels_for')\n");
    tiltfile
        .push_str("update_settings(max_parallel_updates=4, suppress_unused_image_warnings='*')\n");
    for i in 0..50 {
        let ctx = dir.join(format!("svc{i}"));
        std::fs::create_dir_all(&ctx).expect("create context dir");
        std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY . /app\n")
            .expect("write Dockerfile");
        tiltfile.push_str(&format!(
            "docker_build('registry.local/svc{i}', 'svc{i}', build_args={{'N': '{i}'}}, ignore=['*.tmp'],\n    live_update=[sync('svc{i}', '/app'), run('make', trigger=['svc{i}/Makefile'])])\n"
        ));
    }
    for i in 0..200 {
        let deps = if i > 0 {
            format!("resource_deps=['res{}'], ", i - 1)
        } else {
            String::new()
        };
        let (cmd, dep) = if joins {
            (
                format!("' '.join(['echo', '{i}'])"),
                format!("os.path.join('src', '{i}')"),
            )
        } else {
            (format!("'echo {i}'"), format!("'src/{i}'"))
        };
        tiltfile.push_str(&format!(
            "local_resource('res{i}', cmd={cmd}, deps=[{dep}], {deps}labels=labels_for({i}),\n    serve_cmd='sleep 1000' if {i} % 4 == 0 else '', env={{'I': '{i}'}}, links=['localhost:{port}'])\n",
            port = 8000 + i
        ));
    }
    std::fs::write(
        dir.join("lib.star"),
        "def labels_for(i):\n    return ['group%d' % (i % 10)]\n",
    )
    .expect("write lib.star");
    let path = dir.join("Tiltfile");
    std::fs::write(&path, tiltfile).expect("write Tiltfile");
    path
}

#[divan::bench(args = [false, true])]
fn evaluate_200_resources_50_images(bencher: divan::Bencher, joins: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tiltfile = write_project(dir.path(), joins);
    let opts = LoadOptions::new(tiltfile, "up");
    let first = load(&opts);
    assert!(
        first.error.is_none(),
        "benchmark Tiltfile must load: {:?}",
        first.error
    );
    assert_eq!(first.plan.manifests.len(), 200);
    assert_eq!(first.plan.images.len(), 50);
    bencher.bench(|| load(divan::black_box(&opts)));
}

/// The small real-world project: one `docker_build` with live update and one `k8s_yaml`
/// of a Deployment and a Service. The cold-process figure for the same project is in
/// docs/performance.md.
#[divan::bench]
fn evaluate_small_k8s_project(bencher: divan::Bencher) {
    let tiltfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fixtures/small/Tiltfile");
    let opts = LoadOptions::new(tiltfile, "up");
    let first = load(&opts);
    assert!(
        first.error.is_none(),
        "small Tiltfile must load: {:?}",
        first.error
    );
    assert_eq!(first.plan.manifests.len(), 1);
    assert_eq!(first.plan.images.len(), 1);
    bencher.bench(|| load(divan::black_box(&opts)));
}
