//! Image-build figures of the real binary against the real test dockerd and registry
//! (issue 10), printed as p50/p99:
//!
//! - file saved → the build request reaches the daemon: a unix-socket proxy in front of
//!   the test dockerd stamps each `POST …/build` as it arrives;
//! - a one-line change to a `COPY`ed file, whole rebuild + push on the local daemon: lilt
//!   (file saved → push done, seen as the update's end in its log) next to `docker build`
//!   + `docker push` run by hand on the same daemon, interleaved, in one run.
//!
//! Run with `cargo bench -p lilt --bench image_loop` (starts the test services when they are
//! not up, see docs/testing.md). `LILT_BENCH_SAMPLES` sets the number of samples.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let samples = std::env::var("LILT_BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let svc = lilt_testsvc::services();
    file_to_build_request(&svc, samples);
    rebuild_and_push(&svc, samples.min(20));
}

/// Requests seen by the proxy: when each `POST …/build` arrived.
type Stamps = Arc<Mutex<Vec<Instant>>>;

/// A unix-socket proxy to `upstream` that records when build requests arrive.
fn start_proxy(dir: &Path, upstream: PathBuf) -> (PathBuf, Stamps) {
    let path = dir.join("proxy.sock");
    let listener = UnixListener::bind(&path).expect("bind the proxy socket");
    let stamps = Stamps::default();
    let seen = stamps.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(daemon) = UnixStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut d_write) =
                (client.try_clone().unwrap(), daemon.try_clone().unwrap());
            let (mut d_read, mut c_write) = (daemon, client);
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    // A request line: `POST /build?…` or `POST /v1.41/build?…`.
                    let head = &buf[..n.min(256)];
                    if head.starts_with(b"POST /")
                        && head
                            .split(|b| *b == b' ')
                            .nth(1)
                            .is_some_and(|p| p.windows(6).any(|w| w == b"/build"))
                    {
                        seen.lock().unwrap().push(Instant::now());
                    }
                    if d_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = d_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut d_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (path, stamps)
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: IMAGE}]
";

/// A project whose image COPYs `app.txt`, deployed (as far as lilt can yet) to Kubernetes.
fn project(dir: &Path, image: &str, base: &str) {
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {base}\nCOPY app.txt /app.txt\n"),
    )
    .unwrap();
    std::fs::write(dir.join("app.txt"), "start\n").unwrap();
    std::fs::write(dir.join("app.yaml"), DEPLOYMENT.replace("IMAGE", image)).unwrap();
    std::fs::write(
        dir.join("Tiltfile"),
        format!("docker_build('{image}', '.')\nk8s_yaml('app.yaml')\n"),
    )
    .unwrap();
}

/// `lilt up` on `dir`; its output and state go to `out`'s directory, outside the project
/// (inside, every log line would change the build context).
fn lilt_up(dir: &Path, docker_host: &str, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lilt"))
        .current_dir(dir)
        .env("DOCKER_HOST", docker_host)
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .env("LILT_STATE_DIR", out.with_extension("state"))
        .args(["up", "--stream", "--port", "0"])
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lilt up")
}

/// How many updates have ended, as the log says (the kubeconfig points nowhere, so each
/// update ends with this line, right after its build and push).
fn updates_done(out: &Path) -> usize {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .matches("cannot reach the cluster")
        .count()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

fn report(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name}: n={} p50={:.1} ms p99={:.1} ms min={:.1} ms max={:.1} ms",
        ms.len(),
        pct(0.5),
        pct(0.99),
        ms[0],
        ms[ms.len() - 1]
    );
    pct(0.5)
}

fn file_to_build_request(svc: &lilt_testsvc::Services, samples: usize) {
    let dir = tempfile::tempdir().unwrap();
    let upstream = PathBuf::from(svc.docker_host.trim_start_matches("unix://"));
    let sockets = tempfile::tempdir().unwrap();
    let (proxy, stamps) = start_proxy(sockets.path(), upstream);
    let image = format!("{}/{}/app", svc.registry, unique("bench"));
    project(dir.path(), &image, &svc.base_image);
    let logs = tempfile::tempdir().unwrap();
    let out = logs.path().join("up.log");
    let mut lilt = lilt_up(dir.path(), &format!("unix://{}", proxy.display()), &out);
    wait_until("the first update", || updates_done(&out) >= 1);
    // Let the watcher settle after the initial walk.
    std::thread::sleep(Duration::from_millis(500));
    let mut ms = Vec::with_capacity(samples);
    for i in 0..samples {
        let before = stamps.lock().unwrap().len();
        let done = updates_done(&out);
        let saved = Instant::now();
        std::fs::write(dir.path().join("app.txt"), format!("sample {i}\n")).unwrap();
        wait_until("a build request", || stamps.lock().unwrap().len() > before);
        let at = stamps.lock().unwrap()[before];
        ms.push(at.duration_since(saved).as_secs_f64() * 1000.0);
        wait_until("the update to end", || updates_done(&out) > done);
    }
    let _ = lilt.kill();
    let _ = lilt.wait();
    report("file saved → build request at the daemon", ms);
}

fn rebuild_and_push(svc: &lilt_testsvc::Services, samples: usize) {
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/{}/app", svc.registry, unique("bench-push"));
    project(dir.path(), &image, &svc.base_image);
    let logs = tempfile::tempdir().unwrap();
    let out = logs.path().join("up.log");
    let mut lilt = lilt_up(dir.path(), &svc.docker_host, &out);
    wait_until("the first update", || updates_done(&out) >= 1);
    std::thread::sleep(Duration::from_millis(500));
    // The same kind of project, built and pushed by hand with the docker CLI.
    let by_hand = tempfile::tempdir().unwrap();
    let hand_image = format!("{}/{}/app", svc.registry, unique("bench-cli"));
    project(by_hand.path(), &hand_image, &svc.base_image);
    let mut lilt_ms = Vec::new();
    let mut cli_ms = Vec::new();
    for i in 0..samples {
        let done = updates_done(&out);
        let saved = Instant::now();
        std::fs::write(dir.path().join("app.txt"), format!("change {i}\n")).unwrap();
        wait_until("lilt's rebuild and push", || updates_done(&out) > done);
        lilt_ms.push(saved.elapsed().as_secs_f64() * 1000.0);

        std::fs::write(by_hand.path().join("app.txt"), format!("change {i}\n")).unwrap();
        let tag = format!("{hand_image}:n{i}");
        let started = Instant::now();
        let built = svc
            .docker()
            .args(["build", "-q", "-t", &tag, "."])
            .current_dir(by_hand.path())
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "docker build: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let pushed = svc.docker().args(["push", "-q", &tag]).output().unwrap();
        assert!(
            pushed.status.success(),
            "docker push: {}",
            String::from_utf8_lossy(&pushed.stderr)
        );
        cli_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = lilt.kill();
    let _ = lilt.wait();
    let lilt_p50 = report("lilt: file saved → rebuilt and pushed", lilt_ms);
    let cli_p50 = report("docker build + docker push by hand", cli_ms);
    println!("ratio lilt / by hand (p50): {:.2}", lilt_p50 / cli_p50);
}
