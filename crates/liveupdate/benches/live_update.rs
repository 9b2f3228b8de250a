//! Live-update latency against real parts: a saved file → present in a running container
//! (plan + tar + apply + read back), for a Docker container on the test dockerd and for a
//! pod of the Kubernetes double; and a 1,000-file / 10 MB batch. After divan's table, a
//! 200-sample pass prints p50/p99 of the one-file case for both.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bollard::exec::{CreateExecOptions, StartExecResults};
use common::*;
use futures::StreamExt;
use lilt_liveupdate::{
    ContainerRef, Containers, Decision, DockerContainers, KubeContainers, plan_paths,
};
use lilt_model::LiveUpdate;
use lilt_watch::Matcher;

struct Fixture {
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    lu: LiveUpdate,
    matcher: Arc<Matcher>,
    docker: DockerContainers,
    raw: bollard::Docker,
    container: Mutex<Option<DockerBox>>,
    kube: KubeContainers,
    client: kube::Client,
    pod: ContainerRef,
    double: Mutex<Option<lilt_kubedouble::KubeDouble>>,
    many: Vec<PathBuf>,
}

static FX: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let svc = svc();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut many = Vec::new();
    for i in 0..1000 {
        many.push(write(
            &root,
            &format!("src/many/f{i:04}"),
            &"z".repeat(10_000),
        ));
    }
    write(&root, "src/saved.txt", "0");
    let (double, client, pod) = rt.block_on(async {
        let d = lilt_kubedouble::KubeDouble::start().await;
        let client = kube_client(&d).await;
        let pod = start_pod(&d, &svc, &unique("bench"), "sleep 3600").await;
        (d, client, pod)
    });
    let raw = {
        let _guard = rt.enter();
        lilt_build::Builder::from_env(&env_of(&svc))
            .unwrap()
            .docker()
            .clone()
    };
    Fixture {
        lu: live_update(&root, &[]),
        matcher: Arc::new(Matcher::default()),
        docker: DockerContainers::new(raw.clone()),
        raw,
        container: Mutex::new(Some(DockerBox::start(&svc, "sleep 3600"))),
        kube: KubeContainers::new(client.clone()),
        client,
        pod,
        double: Mutex::new(Some(double)),
        many,
        dir,
        rt,
    }
});

fn env_of(svc: &lilt_testsvc::Services) -> lilt_build::DockerEnv {
    let mut env = lilt_build::DockerEnv::default();
    for (k, v) in svc.local_docker_env() {
        if !v.is_empty() {
            env = env.with(&k, &v);
        }
    }
    env
}

fn docker_target() -> ContainerRef {
    FX.container.lock().unwrap().as_ref().unwrap().target()
}

/// `cat PATH` in the Docker container through the Engine API.
async fn docker_cat(path: &str) -> String {
    let ContainerRef::Docker { id } = docker_target() else {
        unreachable!()
    };
    let exec = FX
        .raw
        .create_exec(
            &id,
            CreateExecOptions {
                cmd: Some(vec!["cat".to_owned(), path.to_owned()]),
                attach_stdout: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    if let StartExecResults::Attached { mut output, .. } =
        FX.raw.start_exec(&exec.id, None).await.unwrap()
    {
        while let Some(Ok(chunk)) = output.next().await {
            out.extend_from_slice(&chunk.into_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Save → plan → apply → read back, for one file.
async fn save_and_sync(containers: &dyn Containers, target: &ContainerRef, n: u64) {
    let path = FX.dir.path().join("src/saved.txt");
    let text = n.to_string();
    std::fs::write(&path, &text).unwrap();
    let Decision::LiveUpdate(batch) = plan_paths(&FX.lu, &FX.matcher, &[path]) else {
        panic!("not a live update");
    };
    containers.apply(target, &batch).await.unwrap();
    let got = match target {
        ContainerRef::Docker { .. } => docker_cat("/app/saved.txt").await,
        ContainerRef::Kubernetes { .. } => pod_sh(&FX.client, target, "cat /app/saved.txt")
            .await
            .unwrap_or_default(),
    };
    assert_eq!(got, text);
}

async fn thousand(containers: &dyn Containers, target: &ContainerRef) {
    let Decision::LiveUpdate(batch) = plan_paths(&FX.lu, &FX.matcher, &FX.many) else {
        panic!("not a live update");
    };
    let done = containers.apply(target, &batch).await.unwrap();
    assert_eq!(done.copied.bytes, 10_000_000);
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn next() -> u64 {
    COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[divan::bench(sample_count = 50, sample_size = 1)]
fn docker_one_file_saved_to_present() {
    let target = docker_target();
    FX.rt.block_on(save_and_sync(&FX.docker, &target, next()));
}

#[divan::bench(sample_count = 50, sample_size = 1)]
fn kube_double_one_file_saved_to_present() {
    FX.rt.block_on(save_and_sync(&FX.kube, &FX.pod, next()));
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn docker_1000_files_10mb() {
    let target = docker_target();
    FX.rt.block_on(thousand(&FX.docker, &target));
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn kube_double_1000_files_10mb() {
    FX.rt.block_on(thousand(&FX.kube, &FX.pod));
}

fn percentiles(name: &str, target: &ContainerRef, containers: &dyn Containers) {
    let mut samples: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            FX.rt.block_on(save_and_sync(containers, target, next()));
            t.elapsed()
        })
        .collect();
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name}: p50 {:.1} ms, p99 {:.1} ms (200 samples)",
        pick(0.50).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3
    );
}

/// The process's peak resident memory so far (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A sync streams: the peak RSS after syncing 200 MB (20 files of 10 MB) into the Docker
/// container is compared with the peak before it.
fn memory_of_a_large_sync() {
    let big = FX.dir.path().join("src/big");
    std::fs::create_dir_all(&big).unwrap();
    let chunk = vec![b'x'; 10 * 1024 * 1024];
    let paths: Vec<PathBuf> = (0..20)
        .map(|i| {
            let p = big.join(format!("blob-{i}.bin"));
            std::fs::write(&p, &chunk).unwrap();
            p
        })
        .collect();
    drop(chunk);
    let before = peak_rss_kib();
    let Decision::LiveUpdate(batch) = plan_paths(&FX.lu, &FX.matcher, &paths) else {
        panic!("not a live update");
    };
    let t = Instant::now();
    let done = FX
        .rt
        .block_on(FX.docker.apply(&docker_target(), &batch))
        .unwrap();
    let elapsed = t.elapsed();
    assert_eq!(done.copied.bytes, 20 * 10 * 1024 * 1024);
    let after = peak_rss_kib();
    println!(
        "docker 200 MB sync in {:.0} ms: peak RSS {:.1} MB before, {:.1} MB after (+{:.1} MB)",
        elapsed.as_secs_f64() * 1e3,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after - before) as f64 / 1024.0
    );
}

fn main() {
    // Set-up (containers, the double, 1,000 files) outside every measured sample.
    LazyLock::force(&FX);
    divan::main();
    memory_of_a_large_sync();
    percentiles(
        "docker one file saved → present",
        &docker_target(),
        &FX.docker,
    );
    percentiles("kube double one file saved → present", &FX.pod, &FX.kube);
    // Statics are never dropped: remove the container and stop the double here.
    drop(FX.container.lock().unwrap().take());
    if let Some(d) = FX.double.lock().unwrap().take() {
        FX.rt.block_on(d.stop());
    }
}
