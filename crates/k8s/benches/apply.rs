//! Server-side apply of 100 Deployments through `Cluster::apply` against the API-server
//! double without a kubelet (real HTTPS, one client, objects applied one after another, as
//! lilt applies a resource's objects). Issue 11's "apply 100 objects" figure:
//!
//! - `create`: 100 new Deployments (each new Deployment also starts the double's controllers);
//! - `noop_cached`: the same 100 again through the same `Cluster`: lilt remembers what it
//!   sent, so nothing reaches the server;
//! - `noop_sent`: the same 100 from a `Cluster` that has not applied them (a restarted lilt):
//!   100 PATCH requests, the server writes nothing;
//! - `changed_annotation`: an annotation on every Deployment changes (no rollout);
//! - `changed_image`: the image of every Deployment changes (each starts a rollout).
//!
//! Divide a sample's time by 100 for the time per object (divan's `item/s` column too).
//! Run with `cargo bench -p lilt-k8s --bench apply`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use divan::Bencher;
use divan::counter::ItemsCount;
use lilt_k8s::{Cluster, ConnectOptions};
use lilt_kubedouble::KubeDouble;
use lilt_manifest::{K8sObject, parse_yaml_stream};

const OBJECTS: usize = 100;

fn main() {
    divan::main();
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    double: KubeDouble,
    /// Applied everything before: discovery done, what it sent remembered.
    cluster: Cluster,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let double = rt.block_on(KubeDouble::builder().without_kubelet().start());
        let cluster = rt.block_on(connect(&double));
        // Discovery of apps/v1 Deployment happens once, outside every measurement.
        rt.block_on(cluster.apply(&deployments("default", "warm", "img:v1", "0"), &no_log))
            .expect("warm-up apply");
        Fixture {
            rt,
            double,
            cluster,
        }
    })
}

async fn connect(double: &KubeDouble) -> Cluster {
    Cluster::connect(&ConnectOptions {
        kubeconfig: Some(double.kubeconfig_path().to_owned()),
        context: Some(double.context().to_owned()),
        namespace: None,
    })
    .await
    .expect("connect to the double")
}

fn no_log(_: String) {}

/// `OBJECTS` Deployments `<prefix>-N` in `namespace`.
fn deployments(namespace: &str, prefix: &str, image: &str, note: &str) -> Vec<K8sObject> {
    let yaml: String = (0..OBJECTS)
        .map(|i| {
            format!(
                "---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {prefix}-{i}
  namespace: {namespace}
  labels: {{app: {prefix}-{i}}}
  annotations: {{bench/note: '{note}'}}
spec:
  selector: {{matchLabels: {{app: {prefix}-{i}}}}}
  template:
    metadata: {{labels: {{app: {prefix}-{i}}}}}
    spec:
      containers:
      - name: app
        image: {image}
        ports: [{{containerPort: 8080}}]
"
            )
        })
        .collect();
    parse_yaml_stream(&yaml).expect("bench YAML")
}

fn namespace(double: &KubeDouble, name: &str) {
    double
        .create(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
        }))
        .expect("create namespace");
}

fn apply(f: &Fixture, cluster: &Cluster, objects: &[K8sObject]) {
    let applied =
        f.rt.block_on(cluster.apply(objects, &no_log))
            .expect("apply");
    assert_eq!(applied.len(), OBJECTS);
}

/// 100 new Deployments, each iteration in a namespace of its own.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn create(bencher: Bencher) {
    let f = fixture();
    let next = AtomicUsize::new(0);
    bencher
        .counter(ItemsCount::new(OBJECTS))
        .with_inputs(|| {
            let ns = format!("create-{}", next.fetch_add(1, Ordering::Relaxed));
            namespace(&f.double, &ns);
            f.rt.block_on(f.double.settled());
            deployments(&ns, "app", "img:v1", "0")
        })
        .bench_local_values(|objects| apply(f, &f.cluster, &objects));
}

/// The same 100 again through the `Cluster` that applied them: nothing is sent.
#[divan::bench(sample_count = 100)]
fn noop_cached(bencher: Bencher) {
    let f = fixture();
    namespace(&f.double, "noop-cached");
    let objects = deployments("noop-cached", "app", "img:v1", "0");
    apply(f, &f.cluster, &objects);
    f.rt.block_on(f.double.settled());
    bencher
        .counter(ItemsCount::new(OBJECTS))
        .bench_local(|| apply(f, &f.cluster, &objects));
}

/// The same 100 from a `Cluster` that has not applied them: 100 requests, no write.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn noop_sent(bencher: Bencher) {
    let f = fixture();
    namespace(&f.double, "noop-sent");
    let objects = deployments("noop-sent", "app", "img:v1", "0");
    apply(f, &f.cluster, &objects);
    bencher
        .counter(ItemsCount::new(OBJECTS))
        .with_inputs(|| {
            let fresh = f.rt.block_on(connect(&f.double));
            // Its discovery, outside the measurement.
            f.rt.block_on(fresh.apply(&deployments("default", "warm", "img:v1", "0"), &no_log))
                .expect("warm-up apply");
            f.rt.block_on(f.double.settled());
            (fresh, f.double.resource_version())
        })
        .bench_local_values(|(fresh, rv)| {
            apply(f, &fresh, &objects);
            // Checked after the clock stopped (divan times the whole closure, but this is
            // a read of an in-process counter).
            assert_eq!(f.double.resource_version(), rv, "a no-op apply wrote");
        });
}

/// A changed annotation on all 100 (the Deployments' pods are not touched).
#[divan::bench(sample_count = 10, sample_size = 1)]
fn changed_annotation(bencher: Bencher) {
    changed(bencher, "changed-annotation", |n| ("img:v1".to_owned(), n));
}

/// A changed image on all 100: each also starts a rollout in the double.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn changed_image(bencher: Bencher) {
    changed(bencher, "changed-image", |n| {
        (format!("img:v{n}"), "0".to_owned())
    });
}

fn changed(bencher: Bencher, ns: &str, variant: impl Fn(String) -> (String, String)) {
    let f = fixture();
    namespace(&f.double, ns);
    let (image, note) = variant("0".to_owned());
    apply(f, &f.cluster, &deployments(ns, "app", &image, &note));
    let next = AtomicUsize::new(1);
    bencher
        .counter(ItemsCount::new(OBJECTS))
        .with_inputs(|| {
            f.rt.block_on(f.double.settled());
            let (image, note) = variant(next.fetch_add(1, Ordering::Relaxed).to_string());
            deployments(ns, "app", &image, &note)
        })
        .bench_local_values(|objects| apply(f, &f.cluster, &objects));
}
