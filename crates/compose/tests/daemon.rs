//! lilt-compose against the test dockerd and Debian's docker-compose: a service brought up
//! with the argv lilt builds; its status followed through events (health check verdicts,
//! an exit with its code, a restart); its log followed across a restart without repeats.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lilt_build::DockerEnv;
use lilt_compose::{
    Change, ComposeCommand, Daemon, Health, Phase, PhaseTracker, ServiceKey, State,
};
use lilt_model::ComposeProject;
use tokio::sync::Notify;

/// A status as the watch reported it.
type Seen = (State, Option<Health>);

/// The environment Compose runs with: PATH and the test daemon only.
fn compose_env(svc: &lilt_testsvc::Services) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), std::env::var("HOME").unwrap_or_default()),
        ("DOCKER_HOST".into(), svc.docker_host.clone()),
    ]
}

async fn compose(env: &[(String, String)], project: &ComposeProject, args: &[&str]) {
    let cmd = ComposeCommand::detect(env).await.unwrap();
    let argv = cmd.argv(project, &[], args);
    let out = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes the project's containers when the test ends, passed or not.
struct Down {
    env: Vec<(String, String)>,
    project: ComposeProject,
}

impl Drop for Down {
    fn drop(&mut self) {
        let cmd = ComposeCommand::from_override(Some("docker-compose")).unwrap();
        let argv = cmd.argv(&self.project, &[], &["down", "--timeout", "1"]);
        let _ = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output();
    }
}

fn project(dir: &std::path::Path, name: &str, yaml: &str) -> ComposeProject {
    let file = dir.join("docker-compose.yml");
    std::fs::write(&file, yaml).unwrap();
    ComposeProject {
        name: name.to_owned(),
        config_paths: vec![file],
        project_path: dir.to_owned(),
        ..ComposeProject::default()
    }
}

/// Waits (bounded by a generous limit, never asserted as a duration) until `f` holds.
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_exit_and_restart_are_followed_through_events() {
    let svc = lilt_testsvc::services();
    let env = compose_env(&svc);
    let dir = tempfile::tempdir().unwrap();
    let name = format!("lcd{}", std::process::id());
    // Healthy while /tmp/ok exists; exits with 7 once /tmp/stop exists; restarts once.
    let yaml = format!(
        r#"services:
  web:
    image: {image}
    network_mode: host
    restart: on-failure:1
    command: ["sh", "-c", "rm -f /tmp/stop; echo start-$$(cat /proc/uptime | cut -d' ' -f1); touch /tmp/ok; while [ ! -e /tmp/stop ]; do sleep 0.1; done; exit 7"]
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/ok"]
      interval: 1s
      retries: 1
"#,
        image = svc.base_image
    );
    let project = project(dir.path(), &name, &yaml);
    let _down = Down {
        env: env.clone(),
        project: project.clone(),
    };
    compose(&env, &project, &["up", "--detach", "--no-deps", "web"]).await;

    let daemon = Daemon::from_env(&DockerEnv::from_vars(env.clone())).unwrap();
    let key = ServiceKey {
        project: name.clone(),
        service: "web".into(),
    };
    let ids = daemon.containers(&key).await.unwrap();
    assert_eq!(ids.len(), 1, "one container for the service");
    let id = ids[0].clone();

    let phases: Arc<Mutex<Vec<Phase>>> = Arc::default();
    let statuses: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let wake = Arc::new(Notify::new());
    let watch = {
        let daemon = daemon.clone();
        let key = key.clone();
        let phases = phases.clone();
        let statuses = statuses.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            let mut tracker = PhaseTracker::default();
            daemon
                .watch(
                    &key,
                    move |change| {
                        wake.notify_waiters();
                        match change {
                            Change::Status(Some(s)) => {
                                statuses.lock().unwrap().push((s.state, s.health));
                                phases.lock().unwrap().extend(tracker.observe(&s));
                            }
                            Change::Died { id, exit_code } => {
                                phases.lock().unwrap().extend(tracker.died(&id, exit_code));
                            }
                            Change::Status(None) => {}
                        }
                    },
                    |_| {},
                )
                .await;
        })
    };
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let logs = {
        let daemon = daemon.clone();
        let lines = lines.clone();
        let id = id.clone();
        tokio::spawn(async move {
            daemon
                .follow_logs(&id, wake, move |l| lines.lock().unwrap().push(l))
                .await;
        })
    };

    until("healthy", || {
        phases
            .lock()
            .unwrap()
            .contains(&Phase::Ready(true))
            .then_some(())
    })
    .await;
    assert_eq!(
        phases.lock().unwrap()[0],
        Phase::Running { ready: false },
        "a service with a health check is not ready until healthy"
    );

    // Unhealthy: the check's file goes away.
    let exec = |cmd: &'static str| {
        let mut c = svc.docker();
        c.args(["exec", &id, "sh", "-c", cmd]);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    exec("rm /tmp/ok");
    until("unhealthy", || {
        phases
            .lock()
            .unwrap()
            .contains(&Phase::Ready(false))
            .then_some(())
    })
    .await;
    assert!(
        statuses
            .lock()
            .unwrap()
            .contains(&(State::Running, Some(Health::Unhealthy)))
    );

    // Exit 7: reported with its code, then the restart policy runs it again.
    exec("touch /tmp/stop");
    until("exit", || {
        phases
            .lock()
            .unwrap()
            .iter()
            .any(|p| {
                matches!(
                    p,
                    Phase::Exited {
                        exit_code: Some(7),
                        ..
                    }
                )
            })
            .then_some(())
    })
    .await;
    until("second start line", || {
        (lines.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    until("running again", || {
        let p = phases.lock().unwrap();
        let exit = p
            .iter()
            .position(|p| matches!(p, Phase::Exited { .. }))
            .unwrap();
        p[exit..]
            .iter()
            .any(|p| matches!(p, Phase::Running { .. }))
            .then_some(())
    })
    .await;
    // The restarted container printed its own start line; the first one is not repeated
    // though its log stream was reopened.
    let seen = lines.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|l| l.starts_with("start-")), "{seen:?}");
    assert_ne!(seen[0], seen[1], "{seen:?}");

    watch.abort();
    logs.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_are_found_by_labels_and_removed() {
    let svc = lilt_testsvc::services();
    let env = compose_env(&svc);
    let dir = tempfile::tempdir().unwrap();
    let name = format!("lcr{}", std::process::id());
    let yaml = format!(
        "services:\n  a:\n    image: {i}\n    network_mode: host\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n  b:\n    image: {i}\n    network_mode: host\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n",
        i = svc.base_image
    );
    let project = project(dir.path(), &name, &yaml);
    let _down = Down {
        env: env.clone(),
        project: project.clone(),
    };
    compose(&env, &project, &["up", "--detach"]).await;
    let daemon = Daemon::from_env(&DockerEnv::from_vars(env.clone())).unwrap();
    let key = |s: &str| ServiceKey {
        project: name.clone(),
        service: s.into(),
    };
    let a = daemon.containers(&key("a")).await.unwrap();
    let b = daemon.containers(&key("b")).await.unwrap();
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_ne!(a, b);
    assert_eq!(daemon.remove_service(&key("a")).await.unwrap(), 1);
    assert!(daemon.containers(&key("a")).await.unwrap().is_empty());
    assert_eq!(
        daemon.containers(&key("b")).await.unwrap(),
        b,
        "b untouched"
    );
    assert_eq!(daemon.status(&key("a")).await.unwrap(), None);
}
