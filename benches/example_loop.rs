//! Figures of the repository's example (`Tiltfile.example`, Docker Compose mode) with the real
//! binary against the test dockerd and Debian's docker-compose (issue 13), printed as p50 and
//! range:
//!
//! - `lilt up` with none of the example's images on the daemon → every resource ready
//!   (codegen and the unit tests ran, api healthy, frontend and worker running); then `lilt up`
//!   again with nothing changed (its log must show that no image was built);
//! - an edit of the api's source (its `items.json`) → a new api container serving it: lilt
//!   (file saved → served) next to `docker-compose up -d --build api` run by hand on the same
//!   daemon on a second copy of the example (command started → served), interleaved in one run.
//!
//! Run with `cargo bench -p lilt --bench example_loop` (the test services must be up: see
//! docs/testing.md). `LILT_BENCH_SAMPLES` sets the number of samples (default 10; the cold
//! and warm `lilt up` figures take a third of it, at least 3).

#[path = "../tests/client_support/mod.rs"]
mod client_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client_support::{api_get, free_port};

const EXAMPLE_BASE: &str = "lilt-example/busybox:latest";

fn main() {
    let samples: usize = std::env::var("LILT_BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let svc = lilt_testsvc::services();
    docker(&svc.docker_host, &["tag", &svc.base_image, EXAMPLE_BASE]);
    println!("load average at start: {}", load_average());
    up_cold_and_warm(&svc, (samples / 3).max(3));
    edit_to_served(&svc, samples);
    println!("load average at end: {}", load_average());
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A copy of the example with its own ports and Compose project.
struct Copy {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
    port: u16,
    api_port: u16,
    frontend_port: u16,
    project: String,
    docker_host: String,
}

impl Copy {
    fn new(docker_host: &str) -> Copy {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(repo.join("Tiltfile.example"), dir.path().join("Tiltfile")).unwrap();
        copy_dir(&repo.join("example"), &dir.path().join("example"));
        let _ = std::fs::remove_file(dir.path().join("example/api/items.json"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Copy {
            dir,
            state: tempfile::tempdir().unwrap(),
            port: free_port(),
            api_port: free_port(),
            frontend_port: free_port(),
            project: format!("exbench{nanos}"),
            docker_host: docker_host.to_owned(),
        }
    }

    fn args(&self) -> Vec<String> {
        [
            "--",
            "--api-port",
            &self.api_port.to_string(),
            "--frontend-port",
            &self.frontend_port.to_string(),
            "--project",
            &self.project,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn lilt(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lilt"));
        cmd.current_dir(self.dir.path())
            .env("DOCKER_HOST", &self.docker_host)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("TILT_DOCKER_COMPOSE_CMD")
            .env_remove("TILT_PORT")
            .env_remove("TILT_HOST")
            .env("KUBECONFIG", self.state.path().join("no-kubeconfig"))
            .env("LILT_STATE_DIR", self.state.path())
            .stdin(Stdio::null());
        cmd
    }

    /// `lilt up`, its output in `log` (outside the project: inside, it would be watched).
    fn up(&self, log: &Path) -> Child {
        let out = std::fs::File::create(log).unwrap();
        self.lilt()
            .args(["up", "--stream", "--host", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(self.args())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start lilt up")
    }

    /// Each resource's name, update status and runtime status, from the API.
    fn statuses(&self) -> Vec<(String, String, String)> {
        let Ok(token) =
            std::fs::read_to_string(self.state.path().join(format!("token-{}", self.port)))
        else {
            return Vec::new();
        };
        let Some(view) = api_get(self.port, token.trim(), "/api/view?logs=false") else {
            return Vec::new();
        };
        let field =
            |r: &serde_json::Value, f: &str| r["status"][f].as_str().unwrap_or("").to_owned();
        view["uiResources"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter(|r| r["metadata"]["name"] != "(Tiltfile)")
                    .map(|r| {
                        (
                            r["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                            field(r, "updateStatus"),
                            field(r, "runtimeStatus"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All five resources have run (update ok) and what runs is ready (runtime ok or n/a).
    fn all_ready(&self) -> bool {
        let statuses = self.statuses();
        statuses.len() == 5
            && statuses.iter().all(|(_, update, runtime)| {
                matches!(update.as_str(), "ok" | "not_applicable")
                    && matches!(runtime.as_str(), "ok" | "not_applicable")
            })
    }

    fn wait_ready(&self, what: &str, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.all_ready() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}\n{}",
                self.statuses(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn api_container(&self) -> String {
        docker(
            &self.docker_host,
            &[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={}", self.project),
                "--filter",
                "label=com.docker.compose.service=api",
            ],
        )
        .trim()
        .to_owned()
    }

    fn down(&self) {
        let _ = self.lilt().arg("down").args(self.args()).output();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .args(["-H", host])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("docker");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
}

/// Removes every tag of the example's images, so the next `lilt up` builds both.
fn remove_example_images(host: &str) {
    for repo in ["lilt-example-api", "lilt-example-frontend"] {
        let refs = docker(
            host,
            &["images", "--format", "{{.Repository}}:{{.Tag}}", repo],
        );
        for r in refs.lines().filter(|l| !l.is_empty()) {
            docker(host, &["rmi", "-f", r]);
        }
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

fn report(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name}: n={} p50={:.0} ms min={:.0} ms max={:.0} ms",
        ms.len(),
        pct(0.5),
        ms[0],
        ms[ms.len() - 1]
    );
    pct(0.5)
}

fn up_cold_and_warm(svc: &lilt_testsvc::Services, samples: usize) {
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let logs = tempfile::tempdir().unwrap();
    for i in 0..samples {
        let copy = Copy::new(&svc.docker_host);
        remove_example_images(&svc.docker_host);
        let log = logs.path().join(format!("cold{i}.log"));
        let started = Instant::now();
        let mut up = copy.up(&log);
        copy.wait_ready("every resource ready (cold)", &log);
        cold.push(started.elapsed().as_secs_f64() * 1000.0);
        stop(&mut up);
        let text = std::fs::read_to_string(&log).unwrap();
        // Both images built (an update may run twice: codegen's write of items.json can reach
        // the watcher after the api's build started; the second finds its image up to date).
        assert_eq!(text.matches("Successfully built").count(), 2, "{text}");

        // Again, nothing changed: the images are up to date, the containers are kept.
        let log = logs.path().join(format!("warm{i}.log"));
        let started = Instant::now();
        let mut up = copy.up(&log);
        copy.wait_ready("every resource ready (warm)", &log);
        warm.push(started.elapsed().as_secs_f64() * 1000.0);
        stop(&mut up);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.matches("image up to date:").count() >= 2,
            "no build: {text}"
        );
        assert!(
            !text.contains("Successfully built"),
            "nothing built: {text}"
        );
        copy.down();
    }
    report(
        "lilt up, no example image on the daemon → all resources ready",
        cold,
    );
    report(
        "lilt up again, nothing changed (no build) → all resources ready",
        warm,
    );
}

fn edit_to_served(svc: &lilt_testsvc::Services, samples: usize) {
    let logs = tempfile::tempdir().unwrap();
    let ours = Copy::new(&svc.docker_host);
    let log = logs.path().join("edit.log");
    let mut up = ours.up(&log);
    ours.wait_ready("every resource ready", &log);
    // Let the watcher settle after the initial walk.
    std::thread::sleep(Duration::from_millis(500));

    // The by-hand side: the same example, its own project and port, Compose alone.
    let hand = Copy::new(&svc.docker_host);
    // Compose alone runs no codegen: give its api a catalogue to build with.
    std::fs::write(hand.dir.path().join("example/api/items.json"), "[]\n").unwrap();
    let compose = |copy: &Copy| {
        let mut cmd = Command::new("docker-compose");
        cmd.current_dir(copy.dir.path().join("example"))
            .env("DOCKER_HOST", &copy.docker_host)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env("EXAMPLE_API_PORT", copy.api_port.to_string())
            .env("EXAMPLE_FRONTEND_PORT", copy.frontend_port.to_string())
            .args(["-p", &copy.project, "up", "-d", "--build", "api"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    let first = compose(&hand).output().unwrap();
    assert!(
        first.status.success(),
        "docker-compose up: {}",
        String::from_utf8_lossy(&first.stderr)
    );

    let mut lilt_ms = Vec::new();
    let mut hand_ms = Vec::new();
    let item =
        |i: usize, who: &str| format!("[{{\"name\": \"{who}-{i}\", \"price_cents\": {i}}}]\n");
    for i in 0..samples {
        let before = ours.api_container();
        let marker = format!("lilt-{i}");
        let saved = Instant::now();
        std::fs::write(
            ours.dir.path().join("example/api/items.json"),
            item(i, "lilt"),
        )
        .unwrap();
        wait_until("lilt's new api container serving the edit", || {
            http_get(ours.api_port, "/cgi-bin/items").is_some_and(|b| b.contains(&marker))
        });
        lilt_ms.push(saved.elapsed().as_secs_f64() * 1000.0);
        assert_ne!(ours.api_container(), before, "a new api container");
        ours.wait_ready("lilt's update to settle", &log);

        let marker = format!("hand-{i}");
        std::fs::write(
            hand.dir.path().join("example/api/items.json"),
            item(i, "hand"),
        )
        .unwrap();
        let started = Instant::now();
        let out = compose(&hand).output().unwrap();
        assert!(
            out.status.success(),
            "docker-compose up --build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_until("the by-hand api container serving the edit", || {
            http_get(hand.api_port, "/cgi-bin/items").is_some_and(|b| b.contains(&marker))
        });
        hand_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    stop(&mut up);
    ours.down();
    let _ = Command::new("docker-compose")
        .current_dir(hand.dir.path().join("example"))
        .env("DOCKER_HOST", &hand.docker_host)
        .args(["-p", &hand.project, "down"])
        .output();
    let lilt_p50 = report("lilt: api source saved → new container serving it", lilt_ms);
    let hand_p50 = report(
        "docker-compose up -d --build api by hand → serving it",
        hand_ms,
    );
    println!("ratio lilt / by hand (p50): {:.2}", lilt_p50 / hand_p50);
}
