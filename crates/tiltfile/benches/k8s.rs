//! Benchmark: a Tiltfile with 100 Kubernetes workloads (each a Deployment and its Service)
//! across 30 YAML files, 50 of them built by `docker_build`, with `k8s_resource` calls.
//! The target is under 30 ms per full `load()` (parse, execute, assemble).

use std::path::{Path, PathBuf};

use lilt_tiltfile::{LoadOptions, load};

fn main() {
    divan::main();
}

fn workload(i: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc{i}\n  labels:\n    app: svc{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: svc{i}\n  template:\n    metadata:\n      labels:\n        app: svc{i}\n    spec:\n      containers:\n      - name: main\n        image: registry.local/svc{i}:dev\n        ports:\n        - containerPort: 8080\n        env:\n        - name: INDEX\n          value: \"{i}\"\n      - name: sidecar\n        image: busybox:1.36\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc{i}\nspec:\n  selector:\n    app: svc{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\n"
    )
}

/// Writes the project and returns the Tiltfile path.
fn write_project(dir: &Path) -> PathBuf {
    let mut tiltfile = String::from("# generated: 100 workloads in 30 YAML files\n");
    let mut files = vec![String::new(); 30];
    for i in 0..100 {
        files[i % 30].push_str(&workload(i));
    }
    files[0]
        .push_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  a: b\n");
    for (n, text) in files.iter().enumerate() {
        std::fs::write(dir.join(format!("k8s-{n}.yaml")), text).expect("write yaml");
    }
    tiltfile.push_str("k8s_yaml(['k8s-%d.yaml' % n for n in range(30)])\n");
    for i in 0..50 {
        let ctx = dir.join(format!("svc{i}"));
        std::fs::create_dir_all(&ctx).expect("create context");
        std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY . /app\n").expect("write");
        tiltfile.push_str(&format!(
            "docker_build('registry.local/svc{i}', 'svc{i}', live_update=[sync('svc{i}', '/app')])\n"
        ));
    }
    for i in 0..100 {
        tiltfile.push_str(&format!(
            "k8s_resource('svc{i}', port_forwards=['{port}:8080'], labels=['group{g}'], resource_deps=[{deps}])\n",
            port = 10000 + i,
            g = i % 10,
            deps = if i > 0 { format!("'svc{}'", i - 1) } else { String::new() },
        ));
    }
    let path = dir.join("Tiltfile");
    std::fs::write(&path, tiltfile).expect("write Tiltfile");
    path
}

#[divan::bench]
fn evaluate_100_workloads_30_files(bencher: divan::Bencher) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tiltfile = write_project(tmp.path());
    let mut opts = LoadOptions::new(&tiltfile, "up");
    // No kubeconfig: nothing to guard, and the figure does not depend on the machine's.
    opts.env = Some(
        [("HOME".to_owned(), tmp.path().display().to_string())]
            .into_iter()
            .collect(),
    );
    let first = load(&opts);
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(
        first.plan.manifests.len(),
        101,
        "100 workloads + uncategorized"
    );
    bencher.bench(|| {
        let result = load(divan::black_box(&opts));
        divan::black_box(result.plan.manifests.len())
    });
}
