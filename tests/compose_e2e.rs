//! Docker Compose through the whole binary, against the test dockerd and Debian's
//! docker-compose (containers on host networking): `lilt up` brings services up (their
//! logs reach `lilt logs`), follows health checks, exits and restarts, lets Compose build
//! a service with `build:` and no `docker_build`, rebuilds and
//! recreates only the service whose image inputs changed, recreates what a Compose-file
//! edit changed, and `lilt down` removes the project's containers.

mod client_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client_support::{DEADLINE, api_get, client_command, free_port, output};
use serde_json::Value;

/// A running `lilt up` on the test daemon, in its own project directory.
struct Up {
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    project: String,
    docker_host: String,
}

impl Up {
    /// Writes `files` into a new project and starts `lilt up` there.
    fn start(project: &str, files: &[(&str, &str)]) -> Up {
        let svc = lilt_testsvc::services();
        let dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text.replace("BASE", &svc.base_image)).unwrap();
        }
        let mut up = Up {
            dir,
            state,
            port: free_port(),
            child: None,
            project: project.to_owned(),
            docker_host: svc.docker_host.clone(),
        };
        let log = std::fs::File::create(up.state.path().join("up.log")).unwrap();
        let child = up
            .lilt()
            .args(["up", "--stream", "--host", "127.0.0.1", "--port"])
            .arg(up.port.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        up.child = Some(child);
        up
    }

    /// `lilt` in the project, pointed at the test daemon only.
    fn lilt(&self) -> Command {
        let mut cmd = client_command(self.state.path());
        cmd.current_dir(self.dir.path())
            .env("DOCKER_HOST", &self.docker_host)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("TILT_DOCKER_COMPOSE_CMD");
        cmd
    }

    fn up_log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("up.log")).unwrap_or_default()
    }

    fn write(&self, rel: &str, text: &str) {
        let svc = lilt_testsvc::services();
        std::fs::write(
            self.dir.path().join(rel),
            text.replace("BASE", &svc.base_image),
        )
        .unwrap();
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

    fn runtime_status(&self, name: &str) -> Option<String> {
        Some(
            self.resource(name)?["status"]["runtimeStatus"]
                .as_str()?
                .to_owned(),
        )
    }

    /// `lilt logs RESOURCE` (the client command, against the API).
    fn logs(&self, name: &str) -> String {
        let mut cmd = self.lilt();
        cmd.args([
            "logs",
            "--port",
            &self.port.to_string(),
            "--host",
            "127.0.0.1",
        ])
        .arg(name);
        output(cmd).1
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

    fn wait_status(&self, name: &str, status: &str) {
        self.wait_for(&format!("{name} runtimeStatus {status}"), || {
            (self.runtime_status(name).as_deref() == Some(status)).then_some(())
        });
    }

    fn wait_log(&self, name: &str, text: &str) -> String {
        self.wait_for(&format!("{text:?} in the log of {name}"), || {
            let log = self.logs(name);
            log.contains(text).then_some(log)
        })
    }

    /// The ids of the project's containers for `service` (running or not).
    fn containers(&self, service: &str) -> Vec<String> {
        docker_ps(&self.docker_host, &self.project, Some(service))
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

impl Drop for Up {
    /// Stops lilt and removes whatever the test left of the project.
    fn drop(&mut self) {
        self.stop();
        for id in docker_ps(&self.docker_host, &self.project, None) {
            let _ = docker(&self.docker_host, &["rm", "-f", &id]);
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

fn docker_ps(host: &str, project: &str, service: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "ps".to_owned(),
        "-aq".to_owned(),
        "--no-trunc".to_owned(),
        "--filter".to_owned(),
        format!("label=com.docker.compose.project={project}"),
    ];
    if let Some(service) = service {
        args.push("--filter".to_owned());
        args.push(format!("label=com.docker.compose.service={service}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(host, &args)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

/// A project name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{}x{nanos}", std::process::id())
}

/// A shell loop that ends at once on SIGTERM (PID 1 has no default handler).
const SLEEP: &str = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

fn compose_file(other_msg: &str) -> String {
    format!(
        r#"services:
  app:
    image: compose-e2e-app
    build: app
    network_mode: host
    command: ["sh", "-c", "echo app says $$(cat /msg); {SLEEP}"]
  other:
    image: BASE
    network_mode: host
    command: ["sh", "-c", "echo {other_msg}; touch /tmp/ok; {SLEEP}"]
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/ok"]
      interval: 1s
      retries: 1
"#
    )
}

#[test]
fn up_rebuilds_one_service_recreates_edited_ones_and_down_removes_them() {
    let project = unique("lce");
    let image = format!("{project}-app");
    let tiltfile = format!(
        "docker_compose('docker-compose.yml', project_name='{project}')\n\
         docker_build('{image}', 'app')\n\
         dc_resource('other', labels=['infra'])\n"
    );
    let compose = compose_file("other v1").replace("compose-e2e-app", &image);
    let mut up = Up::start(
        &project,
        &[
            ("Tiltfile", &tiltfile),
            ("docker-compose.yml", &compose),
            ("app/Dockerfile", "FROM BASE\nCOPY msg /msg\n"),
            ("app/msg", "v1\n"),
        ],
    );
    up.wait_status("app", "ok");
    up.wait_status("other", "ok");
    // The health check's verdict, in Tilt's `composeResourceInfo`.
    let other = up.resource("other").unwrap();
    assert_eq!(
        other["status"]["composeResourceInfo"]["healthStatus"], "healthy",
        "{other}"
    );
    up.wait_log("app", "app says v1");
    up.wait_log("other", "other v1");
    // The health check gated readiness, and its verdict is in the log.
    up.wait_log("other", "container is healthy");
    let other = up.resource("other").unwrap();
    assert_eq!(other["metadata"]["labels"]["infra"], "infra", "{other}");
    let app_v1 = up.containers("app");
    let other_v1 = up.containers("other");
    assert_eq!((app_v1.len(), other_v1.len()), (1, 1));
    // The app container runs the image lilt built, not the Compose file's bare name.
    let running = docker(
        &up.docker_host,
        &["inspect", "-f", "{{.Config.Image}}", &app_v1[0]],
    );
    assert!(
        running.trim().starts_with(&format!("{image}:tilt-")),
        "{running}"
    );

    // The app's source changes: lilt rebuilds it and only its container is recreated.
    up.write("app/msg", "v2\n");
    up.wait_log("app", "app says v2");
    let app_v2 = up.wait_for("the app container recreated", || {
        let ids = up.containers("app");
        (ids.len() == 1 && ids != app_v1).then_some(ids)
    });
    assert_eq!(up.containers("other"), other_v1, "other was not recreated");

    // The Compose file changes for `other` only: it is recreated, app is left alone.
    up.write(
        "docker-compose.yml",
        &compose_file("other v2").replace("compose-e2e-app", &image),
    );
    up.wait_log("other", "other v2");
    up.wait_for("the other container recreated", || {
        let ids = up.containers("other");
        (ids.len() == 1 && ids != other_v1).then_some(())
    });
    up.wait_status("other", "ok");
    assert_eq!(up.containers("app"), app_v2, "app was not recreated");
    // No line was shown twice although the watch restarted with every update.
    let app_log = up.logs("app");
    assert_eq!(app_log.matches("app says v1").count(), 1, "{app_log}");

    // lilt exits leaving the services running, as Tilt; `lilt down` removes them.
    up.stop();
    assert_eq!(up.containers("app"), app_v2);
    let mut down = up.lilt();
    down.arg("down");
    let (code, out, err) = output(down);
    assert_eq!(code, 0, "lilt down failed:\n{out}\n{err}");
    assert!(out.contains("down"), "{out}");
    assert!(
        docker_ps(&up.docker_host, &project, None).is_empty(),
        "containers left after lilt down:\n{out}\n{err}"
    );
}

#[test]
fn exits_restarts_unhealthy_and_compose_built_services_are_shown() {
    let project = unique("lcs");
    let tiltfile = format!("docker_compose('docker-compose.yml', project_name='{project}')\n");
    let compose = format!(
        r#"services:
  crash:
    image: BASE
    network_mode: host
    command: ["sh", "-c", "echo giving up; exit 3"]
  flaky:
    image: BASE
    network_mode: host
    restart: on-failure:1
    command: ["sh", "-c", "if [ ! -e /tmp/once ]; then touch /tmp/once; echo first try; exit 4; fi; echo second try; {SLEEP}"]
  built:
    build: bsrc
    network_mode: host
    command: ["sh", "-c", "echo built says $$(cat /msg); {SLEEP}"]
  sick:
    image: BASE
    network_mode: host
    command: ["sh", "-c", "touch /tmp/ok; echo sick up; {SLEEP}"]
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/ok"]
      interval: 1s
      retries: 1
"#
    );
    let up = Up::start(
        &project,
        &[
            ("Tiltfile", &tiltfile),
            ("docker-compose.yml", &compose),
            ("bsrc/Dockerfile", "FROM BASE\nCOPY msg /msg\n"),
            ("bsrc/msg", "b1\n"),
        ],
    );
    // A service with `build:` and no docker_build: Compose builds it (`up --build`).
    up.wait_log("built", "built says b1");
    up.wait_status("built", "ok");
    // A container that exits with a code: an error showing the code.
    up.wait_status("crash", "error");
    let log = up.wait_log("crash", "exited with code 3");
    assert!(log.contains("giving up"), "{log}");

    // One that exits, is restarted by its policy and runs: ok again, both runs logged once.
    let log = up.wait_log("flaky", "second try");
    up.wait_status("flaky", "ok");
    let log = if log.contains("exited with code 4") {
        log
    } else {
        up.wait_log("flaky", "exited with code 4")
    };
    assert_eq!(log.matches("first try").count(), 1, "{log}");
    assert_eq!(log.matches("second try").count(), 1, "{log}");

    // A health check that starts failing: no longer ready, and said so.
    up.wait_status("sick", "ok");
    let id = up.containers("sick").pop().unwrap();
    docker(&up.docker_host, &["exec", &id, "rm", "/tmp/ok"]);
    up.wait_log("sick", "container is unhealthy");
    up.wait_status("sick", "pending");
    docker(&up.docker_host, &["exec", &id, "touch", "/tmp/ok"]);
    up.wait_status("sick", "ok");
}

/// Live update of a Compose service: an edit under a `sync` is copied into the running
/// container through the Engine API, the `run` step runs there, `restart_container()`
/// restarts it (same container, new start), and nothing is rebuilt or recreated.
#[test]
fn live_update_syncs_into_the_running_container_and_restarts_it() {
    let project = unique("lcl");
    let image = format!("{project}-app");
    let tiltfile = format!(
        "docker_compose('docker-compose.yml', project_name='{project}')\n\
         docker_build('{image}', 'app', live_update=[\n\
             sync('app/www', '/www'),\n\
             run('cp /www/msg /tmp/seen'),\n\
             restart_container(),\n\
         ])\n"
    );
    let compose = format!(
        r#"services:
  app:
    image: {image}
    network_mode: host
    command: ["sh", "-c", "echo started with $$(cat /www/msg); {SLEEP}"]
"#
    );
    let up = Up::start(
        &project,
        &[
            ("Tiltfile", &tiltfile),
            ("docker-compose.yml", &compose),
            ("app/Dockerfile", "FROM BASE\nCOPY www /www\n"),
            ("app/www/msg", "v1\n"),
        ],
    );
    up.wait_status("app", "ok");
    up.wait_log("app", "started with v1");
    let ids = up.containers("app");
    assert_eq!(ids.len(), 1, "{}", up.up_log());
    let started = docker(
        &up.docker_host,
        &["inspect", "-f", "{{.State.StartedAt}}", &ids[0]],
    );
    let builds = up.up_log().matches("image ready:").count();

    up.write("app/www/msg", "v2\n");
    // The restarted process prints the synced file.
    up.wait_log("app", "started with v2");
    assert_eq!(
        up.containers("app"),
        ids,
        "the same container, not recreated"
    );
    // One save can arrive as two batches (and so two live updates): an exec during the
    // second restart finds the container stopping, so ask until it answers.
    up.wait_for("the run step's output in the container", || {
        (docker(&up.docker_host, &["exec", &ids[0], "cat", "/tmp/seen"]) == "v2\n").then_some(())
    });
    let restarted = docker(
        &up.docker_host,
        &["inspect", "-f", "{{.State.StartedAt}}", &ids[0]],
    );
    assert_ne!(started, restarted, "restart_container() restarted it");
    let log = up.up_log();
    assert!(log.contains("Live update of"), "{log}");
    assert_eq!(
        log.matches("image ready:").count(),
        builds,
        "no rebuild:\n{log}"
    );
}

/// `initial_sync()` on a Compose service: the image does not contain the synced directory;
/// the container gets it once it runs.
#[test]
fn initial_sync_gives_a_new_container_the_synced_files() {
    let project = unique("lci");
    let image = format!("{project}-app");
    let tiltfile = format!(
        "docker_compose('docker-compose.yml', project_name='{project}')\n\
         docker_build('{image}', 'app', live_update=[initial_sync(), sync('app/www', '/www')])\n"
    );
    let compose = format!(
        r#"services:
  app:
    image: {image}
    network_mode: host
    command: ["sh", "-c", "while ! test -e /www/msg; do sleep 0.1; done; echo got $$(cat /www/msg); {SLEEP}"]
"#
    );
    let up = Up::start(
        &project,
        &[
            ("Tiltfile", &tiltfile),
            ("docker-compose.yml", &compose),
            ("app/Dockerfile", "FROM BASE\nCOPY marker /marker\n"),
            ("app/marker", "no www in the image\n"),
            ("app/www/msg", "synced\n"),
        ],
    );
    up.wait_log("app", "got synced");
}

/// A `docker_build` whose context is the project root holds `.lilt/`, where lilt writes the
/// Compose override file on every deploy: those writes must not rebuild (they did, forever).
#[test]
fn lilts_own_files_in_a_build_context_do_not_rebuild() {
    let project = unique("lco");
    let image = format!("{project}-app");
    let tiltfile = format!(
        "docker_compose('docker-compose.yml', project_name='{project}')\n\
         docker_build('{image}', '.')\n"
    );
    let compose = format!(
        "services:\n  app:\n    image: {image}\n    network_mode: host\n    command: [\"sh\", \"-c\", \"echo up; {SLEEP}\"]\n"
    );
    let up = Up::start(
        &project,
        &[
            ("Tiltfile", &tiltfile),
            ("docker-compose.yml", &compose),
            ("Dockerfile", "FROM BASE\nCOPY marker /marker\n"),
            ("marker", "in the context\n"),
        ],
    );
    up.wait_status("app", "ok");
    // A rebuild would start within the watch window of the override's write; give it ample
    // time, then count.
    std::thread::sleep(Duration::from_secs(3));
    let log = up.up_log();
    assert_eq!(log.matches("image ready:").count(), 1, "one build:\n{log}");
    assert!(!log.contains("Full rebuild"), "{log}");
}
