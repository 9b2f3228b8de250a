//! Live update through the whole binary (issue 12), printed as p50/p99: a file saved in the
//! project → served by the running container, for a Docker Compose service on the test
//! dockerd and for a pod of the Kubernetes API-server double (whose kubelet runs it as a
//! real container on that dockerd). The container runs busybox `httpd` on the host's
//! network serving the synced directory, so "present" is seen by an HTTP GET on loopback,
//! polled every 0.5 ms, rather than by an exec that would cost more than what is measured.
//! The time includes the file watch's quiet window, the engine, the plan, the tar and the
//! copy into the container.
//!
//! Run with `cargo bench -p lilt --bench live_loop` (the test services must be up, see
//! docs/testing.md). `LILT_BENCH_SAMPLES` sets the number of samples (default 40).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let samples = std::env::var("LILT_BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let svc = lilt_testsvc::services();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    compose(&svc, samples);
    rt.block_on(kube(&svc, samples));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{}x{nanos}", std::process::id())
}

/// The project both cases share: an image serving `www/` with httpd on `port`, whose
/// `www/` is live-updated.
fn project(dir: &Path, base: &str, port: u16) {
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/n"), "start").unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base}\nCOPY www /www\nCMD trap 'exit 0' TERM; httpd -f -p 127.0.0.1:{port} -h /www & wait\n"
        ),
    )
    .unwrap();
}

/// `lilt up` in `dir` with `env`; its output goes to `out`, outside the project.
fn lilt_up(dir: &Path, env: &[(&str, &str)], out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lilt"))
        .current_dir(dir)
        .envs(env.iter().copied())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("LILT_STATE_DIR", out.with_extension("state"))
        .args(["up", "--stream", "--port", "0"])
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lilt up")
}

/// `GET /n` on the container's httpd; the body, or `None` while it does not answer.
fn get(port: u16) -> Option<String> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    conn.write_all(b"GET /n HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    // busybox httpd answers HTTP/1.1 whatever was asked.
    head.split_whitespace()
        .nth(1)
        .is_some_and(|c| c == "200")
        .then(|| body.to_owned())
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Saves `samples` edits and times each until the container serves it.
fn measure(name: &str, dir: &Path, port: u16, out: &Path, samples: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while get(port).as_deref() != Some("start") {
        assert!(
            Instant::now() < deadline,
            "{name}: the container never served; lilt up printed:\n{}",
            std::fs::read_to_string(out).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the watcher settle after the first deploy.
    std::thread::sleep(Duration::from_millis(500));
    let mut ms = Vec::with_capacity(samples);
    for i in 0..samples {
        let text = format!("sample {i}");
        let saved = Instant::now();
        std::fs::write(dir.join("www/n"), &text).unwrap();
        wait_until("the edit served", || get(port).as_deref() == Some(&text));
        ms.push(saved.elapsed().as_secs_f64() * 1000.0);
        // Apart, so each save is its own batch.
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(out).unwrap_or_default();
    assert!(
        log.matches("image ready:").count() == 1,
        "{name}: only the first deploy built an image"
    );
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name}: file saved → served by the container: n={} p50={:.1} ms p99={:.1} ms min={:.1} ms max={:.1} ms",
        ms.len(),
        pct(0.5),
        pct(0.99),
        ms[0],
        ms[ms.len() - 1]
    );
}

fn compose(svc: &lilt_testsvc::Services, samples: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let project_name = unique("lulc");
    let image = format!("{project_name}-app");
    project(dir.path(), &svc.base_image, port);
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        format!("services:\n  app:\n    image: {image}\n    network_mode: host\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Tiltfile"),
        format!(
            "docker_compose('docker-compose.yml', project_name='{project_name}')\n\
             docker_build('{image}', '.', live_update=[sync('www', '/www')])\n"
        ),
    )
    .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let out = logs.path().join("up.log");
    let no_config = dir.path().join(".no-docker-config");
    let no_kube = dir.path().join("no-kubeconfig");
    let env = [
        ("DOCKER_HOST", svc.docker_host.as_str()),
        ("DOCKER_CONFIG", no_config.to_str().unwrap()),
        ("KUBECONFIG", no_kube.to_str().unwrap()),
    ];
    let mut lilt = lilt_up(dir.path(), &env, &out);
    measure("Docker Compose", dir.path(), port, &out, samples);
    let _ = lilt.kill();
    let _ = lilt.wait();
    let _ = Command::new(env!("CARGO_BIN_EXE_lilt"))
        .current_dir(dir.path())
        .envs(env)
        .arg("down")
        .output();
}

async fn kube(svc: &lilt_testsvc::Services, samples: usize) {
    let double = lilt_kubedouble::KubeDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let image = format!("lilt-bench/{}", unique("live"));
    project(dir.path(), &svc.base_image, port);
    std::fs::write(
        dir.path().join("app.yaml"),
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {image}
"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Tiltfile"),
        format!(
            "allow_k8s_contexts('{}')\ndocker_build('{image}', '.', live_update=[sync('www', '/www')])\nk8s_yaml('app.yaml')\n",
            double.context()
        ),
    )
    .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let out = logs.path().join("up.log");
    let no_config = dir.path().join(".no-docker-config");
    let kubeconfig = double.kubeconfig_path().to_owned();
    let env = [
        ("DOCKER_HOST", svc.docker_host.as_str()),
        ("DOCKER_CONFIG", no_config.to_str().unwrap()),
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
    ];
    let mut lilt = lilt_up(dir.path(), &env, &out);
    let (path, out2) = (dir.path().to_owned(), out.clone());
    tokio::task::spawn_blocking(move || {
        measure(
            "Kubernetes (API-server double)",
            &path,
            port,
            &out2,
            samples,
        )
    })
    .await
    .unwrap();
    let _ = lilt.kill();
    let _ = lilt.wait();
    double.stop().await;
}
