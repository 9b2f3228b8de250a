//! Kubernetes runtime figures of the real binary against the API-server double (issue 11),
//! whose kubelet runs pods as real containers on the test dockerd; printed as p50/p99:
//!
//! - pod status change in the cluster → dashboard WebSocket message: `lilt up` with one
//!   Deployment; the bench kills the pod's container (the double's kubelet restarts it) and
//!   times from the kubelet's status write, seen by polling the double's store in this
//!   process, to the first `/ws/view` message that shows the resource changed;
//! - pod replaced → port-forward serving again: `port_forwards=` on a Deployment running
//!   busybox `httpd` (its page names the pod); `kubectl delete pod` and the ReplicaSet makes
//!   a new one; the time runs from the new pod's `Ready` in the cluster to the first HTTP
//!   GET through the local port that the new pod answers (GETs 10 ms apart). Then, once, a
//!   template change re-applied by lilt, which replaces the pod too;
//! - idle `lilt up` watching 50 Deployments, all ready: CPU share of one core and memory.
//!
//! Run with `cargo bench -p lilt --bench k8s_loop` (starts the test services when they are
//! not up, see docs/testing.md). `LILT_BENCH_SAMPLES` sets the number of samples,
//! `LILT_BENCH_IDLE_SECS` the idle window (30 s), `LILT_BENCH_PARTS` which parts run
//! (`status,forward,idle`).

mod common;

use common::{status_kb, vm_rss_kb};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lilt_kubedouble::{Backoff, KubeDouble};
use serde_json::Value;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --benches` runs this too; measure only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let samples = std::env::var("LILT_BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let svc = lilt_testsvc::services();
    let only = std::env::var("LILT_BENCH_PARTS").unwrap_or_else(|_| "status,forward,idle".into());
    println!("load average at start: {}", load_average());
    if only.contains("status") {
        let double = start_double().await;
        let d = double.clone();
        let base = svc.base_image.clone();
        tokio::task::spawn_blocking(move || pod_status_to_ws(&d, &base, samples))
            .await
            .expect("status part");
        stop(double).await;
    }
    if only.contains("forward") {
        let double = start_double().await;
        let d = double.clone();
        let base = svc.base_image.clone();
        tokio::task::spawn_blocking(move || pod_replaced_to_forward(&d, &base, samples.min(20)))
            .await
            .expect("forward part");
        stop(double).await;
    }
    if only.contains("idle") {
        let double = start_double().await;
        let d = double.clone();
        let base = svc.base_image.clone();
        // The double sends watch bookmarks every 60 s, as kube-apiserver does: a window of
        // over 60 s includes one round of them.
        let secs = std::env::var("LILT_BENCH_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30);
        tokio::task::spawn_blocking(move || idle(&d, &base, 50, Duration::from_secs(secs)))
            .await
            .expect("idle part");
        stop(double).await;
    }
    println!("load average at end: {}", load_average());
}

/// A double whose crash-loop back-off is short: every sample kills a container, and
/// Kubernetes' 10 s doubling would make later samples wait minutes.
async fn start_double() -> Arc<KubeDouble> {
    let backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(50),
    };
    Arc::new(KubeDouble::builder().backoff(backoff).start().await)
}

async fn stop(double: Arc<KubeDouble>) {
    match Arc::try_unwrap(double) {
        Ok(d) => d.stop().await,
        Err(_) => panic!("the double is still shared"),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `lilt up --stream` against the double; killed when dropped.
struct Up {
    child: Child,
    port: u16,
    token: String,
    output: Arc<Mutex<String>>,
    _state: tempfile::TempDir,
}

impl Up {
    fn start(dir: &Path, double: &KubeDouble) -> Up {
        let state = tempfile::tempdir().expect("state dir");
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lilt"))
            .current_dir(dir)
            .env("KUBECONFIG", double.kubeconfig_path())
            .env("LILT_STATE_DIR", state.path())
            .env_remove("TILT_PORT")
            .env_remove("TILT_HOST")
            .args(["up", "--stream", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lilt up");
        let stdout = child.stdout.take().expect("piped stdout");
        let output = Arc::new(Mutex::new(String::new()));
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let sink = output.clone();
        // Keeps reading, so that lilt never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut first = Some(first_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = first.take() {
                    let _ = tx.send(line.clone());
                }
                let mut out = sink.lock().unwrap_or_else(|e| e.into_inner());
                out.push_str(&line);
                out.push('\n');
            }
        });
        let first = first_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("lilt up printed its first line");
        let token = first
            .split("token=")
            .nth(1)
            .unwrap_or_else(|| panic!("no token in: {first}"))
            .trim()
            .to_owned();
        Up {
            child,
            port,
            token,
            output,
            _state: state,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The complete View over `GET /api/view` (HTTP/1.0: the body ends at the close).
    fn view(&self) -> Option<Value> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            conn,
            "GET /api/view HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Tilt-Token: {}\r\n\r\n",
            self.token
        )
        .ok()?;
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw).ok()?;
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        serde_json::from_slice(&raw[end + 4..]).ok()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `cond` holds, polling every 500 µs (a hang guard, not a measurement).
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn report(name: &str, mut ms: Vec<f64>) {
    if ms.is_empty() {
        println!("{name}: no samples");
        return;
    }
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
}

fn millis(from: Instant, to: Instant) -> f64 {
    // Signed: a negative value would mean the polling below missed its resolution.
    if to >= from {
        to.duration_since(from).as_secs_f64() * 1000.0
    } else {
        -(from.duration_since(to).as_secs_f64() * 1000.0)
    }
}

/// A Deployment `name` (label `app: name`) whose container runs `command`, on the busybox
/// base image, as the double's kubelet can run it.
fn deployment(name: &str, image: &str, command: &str) -> String {
    format!(
        "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  # Pods use host networking on the double: the old pod must be gone before the new binds.
  strategy: {{type: Recreate}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: {name}
        image: {image}
        # `:latest` defaults to Always, and nothing can be pulled here.
        imagePullPolicy: IfNotPresent
        command: [sh, -c, '{command}']
"
    )
}

/// A project dir with `app.yaml` (`yaml`) and a Tiltfile deploying it, plus `extra` lines.
fn project(double: &KubeDouble, yaml: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("project dir");
    std::fs::write(dir.path().join("app.yaml"), yaml).expect("write app.yaml");
    std::fs::write(
        dir.path().join("Tiltfile"),
        format!(
            "allow_k8s_contexts('{}')\nk8s_yaml('app.yaml')\n{extra}",
            double.context()
        ),
    )
    .expect("write Tiltfile");
    dir
}

/// One pod as the bench compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PodSummary {
    name: String,
    resource_version: String,
    ready: bool,
    restarts: i64,
    deleting: bool,
}

fn summarize(pod: &Value) -> PodSummary {
    let status = &pod["status"];
    PodSummary {
        name: pod["metadata"]["name"].as_str().unwrap_or("").to_owned(),
        resource_version: pod["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        ready: status["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        }),
        restarts: status["containerStatuses"]
            .as_array()
            .map(|cs| cs.iter().filter_map(|c| c["restartCount"].as_i64()).sum())
            .unwrap_or(0),
        deleting: pod["metadata"]["deletionTimestamp"].is_string(),
    }
}

/// Every change to the pods labelled `app: <app>` in the double's store, as first seen.
type PodStamps = Arc<Mutex<Vec<(Instant, Vec<PodSummary>)>>>;

/// Polls the double's store (in this process) every 100 µs, reading the pods again only
/// when its resourceVersion moved, until `stop` is set.
fn watch_pods(
    double: Arc<KubeDouble>,
    app: &str,
    stop: Arc<AtomicBool>,
) -> (PodStamps, std::thread::JoinHandle<()>) {
    let stamps = PodStamps::default();
    let out = stamps.clone();
    let app = app.to_owned();
    let handle = std::thread::spawn(move || {
        let mut last_rv = u64::MAX;
        let mut last: Option<Vec<PodSummary>> = None;
        while !stop.load(Ordering::Relaxed) {
            let rv = double.resource_version();
            if rv != last_rv {
                last_rv = rv;
                let pods: Vec<PodSummary> = double
                    .list("v1", "Pod", Some("default"))
                    .iter()
                    .filter(|p| p["metadata"]["labels"]["app"] == app.as_str())
                    .map(summarize)
                    .collect();
                if last.as_ref() != Some(&pods) {
                    let at = Instant::now();
                    out.lock().unwrap().push((at, pods.clone()));
                    last = Some(pods);
                }
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    });
    (stamps, handle)
}

/// What a `/ws/view` message said about one resource, and when it arrived.
#[derive(Debug, Clone)]
struct WsStamp {
    at: Instant,
    resource: String,
    /// `status.k8sResourceInfo` and `status.runtimeStatus`.
    info: Value,
    runtime_status: String,
}

/// Opens `/ws/view` and records, per message, each resource it carries; answers pings.
fn watch_ws(up: &Up) -> Arc<Mutex<Vec<WsStamp>>> {
    let mut conn = TcpStream::connect(("127.0.0.1", up.port)).expect("connect to lilt");
    conn.set_nodelay(true).expect("nodelay");
    write!(
        conn,
        "GET /ws/view HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         X-Tilt-Token: {}\r\n\r\n",
        up.port, up.token
    )
    .expect("upgrade request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).expect("upgrade response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let out = stamps.clone();
    std::thread::spawn(move || {
        let mut writer = conn.try_clone().expect("clone the socket");
        let mut reader = BufReader::with_capacity(1 << 16, conn);
        while let Some(message) = read_message(&mut reader, &mut writer) {
            let at = Instant::now();
            let Ok(view) = serde_json::from_slice::<Value>(&message) else {
                continue;
            };
            let mut got = out.lock().unwrap();
            for res in view["uiResources"].as_array().into_iter().flatten() {
                got.push(WsStamp {
                    at,
                    resource: res["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                    info: res["status"]["k8sResourceInfo"].clone(),
                    runtime_status: res["status"]["runtimeStatus"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                });
            }
        }
    });
    stamps
}

/// One whole WebSocket message (fragments joined); pings are answered with a masked pong.
/// `None` once the connection closes.
fn read_message(r: &mut impl Read, w: &mut impl Write) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    loop {
        let mut h = [0u8; 2];
        r.read_exact(&mut h).ok()?;
        let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).ok()?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).ok()?;
            len = u64::from_be_bytes(b);
        }
        let mask = if h[1] & 0x80 != 0 {
            let mut m = [0u8; 4];
            r.read_exact(&mut m).ok()?;
            Some(m)
        } else {
            None
        };
        let mut payload = vec![0u8; usize::try_from(len).ok()?];
        r.read_exact(&mut payload).ok()?;
        if let Some(m) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= m[i % 4];
            }
        }
        match opcode {
            0x8 => return None,
            0x9 if payload.len() < 126 => {
                // A client's frames are masked; a zero mask leaves the payload as is.
                let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                pong.extend_from_slice(&payload);
                w.write_all(&pong).ok()?;
            }
            0x9 | 0xa => {}
            _ => {
                message.extend_from_slice(&payload);
                if fin {
                    return Some(message);
                }
            }
        }
    }
}

/// The newest WebSocket state of `resource` (None before any message named it).
fn ws_last(ws: &Mutex<Vec<WsStamp>>, resource: &str) -> Option<WsStamp> {
    ws.lock()
        .unwrap()
        .iter()
        .rev()
        .find(|s| s.resource == resource)
        .cloned()
}

fn ready_in_ws(s: &WsStamp) -> bool {
    s.runtime_status == "ok" && s.info["allContainersReady"] == true
}

fn pod_status_to_ws(double: &Arc<KubeDouble>, image: &str, samples: usize) {
    let handle = tokio::runtime::Handle::current();
    let yaml = deployment("app", image, "exec sleep 100000");
    let dir = project(double, &yaml, "");
    let stop = Arc::new(AtomicBool::new(false));
    let (pods, poller) = watch_pods(double.clone(), "app", stop.clone());
    let up = Up::start(dir.path(), double);
    let ws = watch_ws(&up);
    wait_until(
        "the pod ready on the dashboard",
        Duration::from_secs(120),
        || ws_last(&ws, "app").is_some_and(|s| ready_in_ws(&s)),
    );
    std::thread::sleep(Duration::from_millis(500));

    let (mut first_change, mut restarts_ms, mut from_kill) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..samples {
        let before = ws_last(&ws, "app").expect("the resource on the dashboard");
        let restarts_before = before.info["podRestarts"].as_i64().unwrap_or(0);
        let pod = before.info["podName"].as_str().unwrap_or("").to_owned();
        let killed = Instant::now();
        handle
            .block_on(double.kill_container("default", &pod, "app"))
            .unwrap_or_else(|e| panic!("kill the container of {pod}: {e}"));
        wait_until(
            "the restart on the dashboard",
            Duration::from_secs(60),
            || {
                ws_last(&ws, "app").is_some_and(|s| {
                    ready_in_ws(&s) && s.info["podRestarts"].as_i64() > Some(restarts_before)
                })
            },
        );
        let pod_stamps = pods.lock().unwrap().clone();
        let ws_stamps: Vec<WsStamp> = ws
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.resource == "app" && s.at >= killed)
            .cloned()
            .collect();
        // The kubelet's first status write after the kill (the container terminated,
        // the pod no longer Ready) → the first message showing the resource changed.
        let written = pod_stamps.iter().find(|(at, _)| *at >= killed).map(|s| s.0);
        let shown = ws_stamps
            .iter()
            .find(|s| s.info != before.info || s.runtime_status != before.runtime_status)
            .map(|s| s.at);
        // restartCount raised in the cluster → podRestarts raised on the dashboard.
        let counted = pod_stamps
            .iter()
            .find(|(at, p)| *at >= killed && p.iter().any(|p| p.restarts > restarts_before))
            .map(|s| s.0);
        let counted_shown = ws_stamps
            .iter()
            .find(|s| s.info["podRestarts"].as_i64() > Some(restarts_before))
            .map(|s| s.at);
        match (written, shown, counted, counted_shown) {
            (Some(w), Some(s), Some(c), Some(cs)) => {
                first_change.push(millis(w, s));
                restarts_ms.push(millis(c, cs));
                from_kill.push(millis(killed, s));
            }
            other => eprintln!("sample {i}: incomplete {other:?}"),
        }
        // Let the restarted pod's watch events and log stream settle.
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    drop(up);
    report(
        "pod status written in the cluster (container killed, pod not Ready) → /ws/view message",
        first_change,
    );
    report(
        "pod restartCount raised in the cluster → /ws/view message with podRestarts",
        restarts_ms,
    );
    report(
        "container killed from the bench → /ws/view message (includes the kubelet noticing)",
        from_kill,
    );
}

fn pod_replaced_to_forward(double: &Arc<KubeDouble>, image: &str, samples: usize) {
    let (pod_port, local_port) = (free_port(), free_port());
    // The page names the pod that serves it. On TERM the shell exits at once, so the old
    // pod frees the (host network) port quickly; the loop retries until the port is free.
    let web = |note: &str| {
        deployment(
            "web",
            image,
            &format!(
                "mkdir -p /tmp/www && echo \"served by $POD_NAME {note}\" > /tmp/www/index.html && trap \"exit 0\" TERM && while true; do httpd -f -p 127.0.0.1:{pod_port} -h /tmp/www & wait $!; sleep 0.05; done"
            ),
        )
        .replace(
            "        command:",
            "        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n        command:",
        )
    };
    let dir = project(
        double,
        &web("first"),
        &format!("k8s_resource('web', port_forwards=['{local_port}:{pod_port}'])\n"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (pods, poller) = watch_pods(double.clone(), "web", stop.clone());
    let up = Up::start(dir.path(), double);
    let get = || -> String {
        let Ok(mut conn) = TcpStream::connect(("127.0.0.1", local_port)) else {
            return String::new();
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        if conn
            .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            .is_err()
        {
            return String::new();
        }
        let mut text = String::new();
        let _ = conn.read_to_string(&mut text);
        text
    };
    // The pod that answered through the forward (None: nothing served).
    let served_by = || -> Option<String> {
        let text = get();
        let rest = text.split("served by ").nth(1)?;
        Some(rest.split_whitespace().next()?.to_owned())
    };
    let current = || -> Option<String> {
        pods.lock()
            .unwrap()
            .last()
            .and_then(|(_, p)| p.iter().find(|p| p.ready && !p.deleting).cloned())
            .map(|p| p.name)
    };
    wait_until("the first pod served", Duration::from_secs(120), || {
        let ok = served_by().is_some();
        if !ok {
            std::thread::sleep(Duration::from_millis(20));
        }
        ok
    });
    std::thread::sleep(Duration::from_millis(500));

    // Poll every 10 ms through the forward until `done(pod)` holds; the time it did.
    let serve_until = |what: &str, limit: Duration, done: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if served_by().is_some_and(|p| done(&p)) {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = up.log();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        eprintln!(
            "{what}: not served within {limit:?}; lilt's last lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        None
    };
    let (mut ready_to_served, mut deleted_to_served, mut deleted_to_ready) =
        (Vec::new(), Vec::new(), Vec::new());
    for i in 0..samples {
        let old = current().expect("a ready pod");
        let deleted = Instant::now();
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(double.kubeconfig_path())
            .args(["--context", double.context(), "-n", "default"])
            .args(["delete", "pod", &old, "--wait=false"])
            .output()
            .expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl delete pod: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let Some(done) = serve_until("a replaced pod", Duration::from_secs(60), &|p| p != old)
        else {
            continue;
        };
        let ready = pods
            .lock()
            .unwrap()
            .iter()
            .find(|(at, p)| {
                *at >= deleted && p.iter().any(|p| p.ready && !p.deleting && p.name != old)
            })
            .map(|s| s.0);
        match ready {
            Some(r) => {
                ready_to_served.push(millis(r, done));
                deleted_to_ready.push(millis(deleted, r));
                deleted_to_served.push(millis(deleted, done));
            }
            None => eprintln!("sample {i}: the new pod's Ready was not seen"),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    report(
        "new pod Ready in the cluster → served through the port-forward (GETs 10 ms apart)",
        ready_to_served,
    );
    report(
        "`kubectl delete pod` started → replacement pod Ready",
        deleted_to_ready,
    );
    report(
        "`kubectl delete pod` started → replacement pod served through the port-forward",
        deleted_to_served,
    );

    // A template change re-applied by lilt replaces the pod too (Recreate).
    let old = current().expect("a ready pod");
    let saved = Instant::now();
    std::fs::write(dir.path().join("app.yaml"), web("second")).expect("write app.yaml");
    let served = serve_until("after a template change", Duration::from_secs(30), &|p| {
        p != old
    });
    match served {
        Some(at) => println!(
            "Deployment template changed → new pod served through the port-forward: {:.1} ms (one sample)",
            millis(saved, at)
        ),
        None => println!(
            "Deployment template changed → new pod NOT served through the port-forward within 30 s; ready pods now: {:?}",
            current()
        ),
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    drop(up);
}

/// CPU ticks (user + system) of a process.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields of stat: [11] and [12] after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn idle(double: &Arc<KubeDouble>, image: &str, resources: usize, window: Duration) {
    let yaml: String = (0..resources)
        .map(|i| deployment(&format!("idle-{i:02}"), image, "exec sleep 100000"))
        .collect();
    let dir = project(double, &yaml, "");
    let up = Up::start(dir.path(), double);
    let pid = up.pid();
    let started = Instant::now();
    wait_until(
        "every resource ready on the dashboard",
        Duration::from_secs(300),
        || {
            std::thread::sleep(Duration::from_millis(500));
            let Some(view) = up.view() else { return false };
            let ready = view["uiResources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| {
                    r["status"]["runtimeStatus"] == "ok"
                        && r["status"]["k8sResourceInfo"]["allContainersReady"] == true
                })
                .count();
            ready == resources
        },
    );
    println!(
        "{resources} Deployments ready on the dashboard {:.1} s after start",
        started.elapsed().as_secs_f64()
    );
    // Then lilt has nothing to do but hold its watches (and log streams) open.
    std::thread::sleep(Duration::from_secs(10));
    let ticks_per_sec = 100.0; // USER_HZ on Linux.
    let before = cpu_ticks(pid).unwrap_or_default();
    let t0 = Instant::now();
    std::thread::sleep(window);
    let after = cpu_ticks(pid).unwrap_or_default();
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu_percent = (after.saturating_sub(before)) as f64 / ticks_per_sec / elapsed * 100.0;
    let rss = vm_rss_kb(pid);
    let hwm = status_kb(pid, "VmHWM:").unwrap_or_default();
    let threads = status_kb(pid, "Threads:").unwrap_or_default();
    drop(up);
    println!(
        "idle lilt up, {resources} Deployments (busybox `sleep` pods): cpu={cpu_percent:.3}% of one core over {elapsed:.0} s ({} ticks), rss={:.1} MB, peak rss={:.1} MB, {threads} threads",
        after.saturating_sub(before),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}
