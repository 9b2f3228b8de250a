//! The repository's example (`Tiltfile.example` + `example/`) in its Docker Compose mode,
//! through the whole binary, against the test dockerd and Debian's docker-compose: with no
//! kubeconfig the Tiltfile picks Compose; every resource comes up (codegen ran, api and
//! frontend containers healthy/running, worker serving); the frontend and the API answer over
//! HTTP; an edit of the page is live-updated into the same container; an edit of the catalogue
//! re-runs codegen and rebuilds and recreates the api container; `lilt down` removes them.

mod client_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client_support::{DEADLINE, api_get, client_command, free_port, output};
use serde_json::Value;

/// The name the example's Dockerfiles start FROM (scripts/example.sh tags it the same way).
const EXAMPLE_BASE: &str = "lilt-example/busybox:latest";

/// A copy of the example running under `lilt up` on the test daemon.
struct Example {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
    port: u16,
    api_port: u16,
    frontend_port: u16,
    project: String,
    docker_host: String,
    child: Option<Child>,
}

impl Example {
    fn start() -> Example {
        let svc = lilt_testsvc::services();
        docker(&svc.docker_host, &["tag", &svc.base_image, EXAMPLE_BASE]);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(repo.join("Tiltfile.example"), dir.path().join("Tiltfile")).unwrap();
        copy_dir(&repo.join("example"), &dir.path().join("example"));
        // A generated file from a run in the repository would hide codegen's first run.
        let _ = std::fs::remove_file(dir.path().join("example/api/items.json"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let mut ex = Example {
            dir,
            state: tempfile::tempdir().unwrap(),
            port: free_port(),
            api_port: free_port(),
            frontend_port: free_port(),
            project: format!("ex{}x{nanos}", std::process::id()),
            docker_host: svc.docker_host.clone(),
            child: None,
        };
        let log = std::fs::File::create(ex.state.path().join("up.log")).unwrap();
        let child = ex
            .lilt()
            .args(["up", "--stream", "--host", "127.0.0.1", "--port"])
            .arg(ex.port.to_string())
            .args(ex.tiltfile_args())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        ex.child = Some(child);
        ex
    }

    fn tiltfile_args(&self) -> Vec<String> {
        vec![
            "--".to_owned(),
            "--api-port".to_owned(),
            self.api_port.to_string(),
            "--frontend-port".to_owned(),
            self.frontend_port.to_string(),
            "--project".to_owned(),
            self.project.clone(),
        ]
    }

    /// `lilt` in the project: the test daemon only, and no kubeconfig (so: Compose).
    fn lilt(&self) -> Command {
        let mut cmd = client_command(self.state.path());
        cmd.current_dir(self.dir.path())
            .env("DOCKER_HOST", &self.docker_host)
            .env("KUBECONFIG", self.state.path().join("no-kubeconfig"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("TILT_DOCKER_COMPOSE_CMD");
        cmd
    }

    fn up_log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("up.log")).unwrap_or_default()
    }

    fn resource(&self, name: &str) -> Option<Value> {
        let token =
            std::fs::read_to_string(self.state.path().join(format!("token-{}", self.port))).ok()?;
        let view = api_get(self.port, token.trim(), "/api/view?logs=false")?;
        view["uiResources"]
            .as_array()?
            .iter()
            .find(|r| r["metadata"]["name"] == name)
            .cloned()
    }

    fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                start.elapsed() < DEADLINE * 2,
                "gave up waiting for {what}; lilt up printed:\n{}",
                self.up_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_field(&self, name: &str, field: &str, want: &str) {
        self.wait_for(&format!("{name} {field} {want}"), || {
            (self.resource(name)?["status"][field].as_str()? == want).then_some(())
        });
    }

    fn containers(&self, service: &str) -> Vec<String> {
        let out = docker(
            &self.docker_host,
            &[
                "ps",
                "-aq",
                "--no-trunc",
                "--filter",
                &format!("label=com.docker.compose.project={}", self.project),
                "--filter",
                &format!("label=com.docker.compose.service={service}"),
            ],
        );
        out.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir.path().join(rel), text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Example {
    /// Stops lilt and removes whatever the test left of the project's containers.
    fn drop(&mut self) {
        self.stop();
        for service in ["api", "frontend"] {
            for id in self.containers(service) {
                let _ = docker(&self.docker_host, &["rm", "-f", &id]);
            }
        }
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
            // fs::copy keeps the mode: the API's CGI scripts must stay executable.
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
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET on 127.0.0.1: the body of a 200 response, else `None`.
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

#[test]
fn the_example_runs_on_docker_compose_with_live_update_and_rebuilds() {
    let ex = Example::start();

    // Every resource comes up: codegen's and the unit tests' first runs (a manual resource
    // still runs once at start), the two containers, the worker.
    ex.wait_field("codegen", "updateStatus", "ok");
    ex.wait_field("tests", "updateStatus", "ok");
    for name in ["api", "frontend", "worker"] {
        ex.wait_field(name, "runtimeStatus", "ok");
    }
    let log = ex.up_log();
    assert!(
        log.contains("docker-compose") && log.contains(&ex.project),
        "Compose mode (no kubeconfig): {log}"
    );

    // Both services answer on the ports given as Tiltfile args.
    let page = ex.wait_for("the shop page", || http_get(ex.frontend_port, "/"));
    assert!(page.contains("<h1>Shop</h1>"), "{page}");
    let config = http_get(ex.frontend_port, "/config.js").unwrap();
    assert!(
        config.contains(&format!("http://127.0.0.1:{}", ex.api_port)),
        "the page is told where the API is: {config}"
    );
    let items = ex.wait_for("the API's items", || {
        http_get(ex.api_port, "/cgi-bin/items")
    });
    let items: Value = serde_json::from_str(&items).unwrap();
    assert_eq!(items[0]["name"], "coffee", "{items}");
    ex.wait_for("the worker to read the API", || {
        let mut cmd = ex.lilt();
        cmd.args([
            "logs",
            "--host",
            "127.0.0.1",
            "--port",
            &ex.port.to_string(),
        ])
        .arg("worker");
        output(cmd).1.contains("3 items").then_some(())
    });

    // A page edit: synced into the running container, served at once, no rebuild.
    let frontend = ex.containers("frontend");
    assert_eq!(frontend.len(), 1, "{}", ex.up_log());
    let builds_before = ex.up_log().matches("image ready:").count();
    let page_src = ex.read("example/frontend/www/index.html");
    ex.write(
        "example/frontend/www/index.html",
        &page_src.replace("<h1>Shop</h1>", "<h1>Shop, live-updated</h1>"),
    );
    ex.wait_for("the edited page to be served", || {
        http_get(ex.frontend_port, "/")?
            .contains("Shop, live-updated")
            .then_some(())
    });
    assert_eq!(
        ex.containers("frontend"),
        frontend,
        "the same container, live-updated"
    );
    assert_eq!(
        ex.up_log().matches("image ready:").count(),
        builds_before,
        "a live update builds no image: {}",
        ex.up_log()
    );

    // A catalogue edit: codegen re-runs, the API image is rebuilt, its container recreated.
    let api = ex.containers("api");
    assert_eq!(api.len(), 1, "{}", ex.up_log());
    let schema = ex.read("example/schema/items.txt");
    ex.write("example/schema/items.txt", &format!("{schema}tea, 199\n"));
    ex.wait_for("the API to serve the new item", || {
        http_get(ex.api_port, "/cgi-bin/items")?
            .contains("\"tea\"")
            .then_some(())
    });
    ex.wait_field("api", "runtimeStatus", "ok");
    let recreated = ex.containers("api");
    assert_eq!(recreated.len(), 1, "one api container: {}", ex.up_log());
    assert_ne!(recreated, api, "a new api container");
    assert!(
        ex.up_log().matches("image ready: lilt-example-api").count() >= 2,
        "the api image was rebuilt: {}",
        ex.up_log()
    );

    // lilt down removes the project's containers.
    let mut ex = ex;
    ex.stop();
    let mut down = ex.lilt();
    down.arg("down").args(ex.tiltfile_args());
    let (code, stdout, stderr) = output(down);
    assert_eq!(code, 0, "lilt down: {stdout}{stderr}");
    assert!(ex.containers("api").is_empty(), "{stdout}{stderr}");
    assert!(ex.containers("frontend").is_empty(), "{stdout}{stderr}");
}
