//! Shared set-up for live-update tests and benches against real parts: containers on the
//! test dockerd (`scripts/test-services.sh`), pods of the Kubernetes double, projects in
//! temporary directories, and readers of container files that do not go through the code
//! under test (the docker CLI, a separate `pods/exec`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use lilt_liveupdate::{Batch, Change, ContainerRef, Decision, DockerContainers, plan};
use lilt_model::{LiveUpdate, LiveUpdateRun, LiveUpdateSync};
use lilt_testsvc::Services;
use lilt_watch::Matcher;
use tokio::io::AsyncReadExt;

pub fn svc() -> Services {
    lilt_testsvc::services()
}

/// A name no other test or run uses.
pub fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("lilt-lu-{what}-{}-{nanos}", std::process::id())
}

pub fn write(root: &Path, rel: &str, contents: &str) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, contents).unwrap();
    path
}

/// A live update syncing `<root>/src` to `/app`.
pub fn live_update(root: &Path, runs: &[(&str, &[&str])]) -> LiveUpdate {
    LiveUpdate {
        base_path: root.to_path_buf(),
        syncs: vec![LiveUpdateSync {
            local_path: PathBuf::from("src"),
            remote_path: "/app".into(),
        }],
        runs: runs
            .iter()
            .map(|(cmd, triggers)| LiveUpdateRun {
                argv: vec!["sh".into(), "-c".into(), (*cmd).into()],
                triggers: triggers.iter().map(|t| (*t).to_owned()).collect(),
                echo_off: false,
            })
            .collect(),
        ..LiveUpdate::default()
    }
}

/// Plans changes read from disk now; panics unless it is a live update.
pub fn batch(lu: &LiveUpdate, matcher: &Arc<Matcher>, paths: &[PathBuf]) -> Batch {
    let changes: Vec<Change> = paths.iter().map(Change::stat).collect();
    match plan(lu, matcher, &changes) {
        Decision::LiveUpdate(b) => b,
        other => panic!("expected a live update, got {other:?}"),
    }
}

/// A running container on the test dockerd, removed on drop.
pub struct DockerBox {
    pub id: String,
    svc: Services,
}

impl DockerBox {
    /// `docker run -d --network host BASE sh -c SCRIPT`.
    pub fn start(svc: &Services, script: &str) -> DockerBox {
        let out = svc
            .docker()
            .args([
                "run",
                "-d",
                "--network",
                "host",
                "--label",
                "lilt-liveupdate-test=1",
            ])
            .arg(&svc.base_image)
            .args(["sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        DockerBox {
            id: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
            svc: svc.clone(),
        }
    }

    pub fn target(&self) -> ContainerRef {
        ContainerRef::Docker {
            id: self.id.clone(),
        }
    }

    /// `docker exec ID sh -c CMD`: stdout, or `None` when it fails.
    pub fn sh(&self, cmd: &str) -> Option<String> {
        let out = self
            .svc
            .docker()
            .args(["exec", &self.id, "sh", "-c", cmd])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn inspect(&self, format: &str) -> String {
        let out = self
            .svc
            .docker()
            .args(["inspect", "-f", format, &self.id])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for DockerBox {
    fn drop(&mut self) {
        let _ = self.svc.docker().args(["rm", "-f", &self.id]).output();
    }
}

pub fn docker_applier(svc: &Services) -> DockerContainers {
    let mut env = lilt_build::DockerEnv::default();
    for (k, v) in svc.local_docker_env() {
        if !v.is_empty() {
            env = env.with(&k, &v);
        }
    }
    DockerContainers::from_env(&env).unwrap()
}

/// Polls `check` until it holds (a hang guard, not a timing assertion).
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A kube client for the double.
pub async fn kube_client(d: &lilt_kubedouble::KubeDouble) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(d.kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions {
            context: Some(d.context().to_owned()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Creates a pod running `script` in container `app` and waits until it runs.
pub async fn start_pod(
    d: &lilt_kubedouble::KubeDouble,
    svc: &Services,
    name: &str,
    script: &str,
) -> ContainerRef {
    d.create(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "lu"}},
        "spec": {
            "hostNetwork": true,
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "app",
                "image": svc.base_image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", script],
            }],
        },
    }))
    .unwrap();
    eventually(&format!("pod {name} running"), || {
        d.get("v1", "Pod", "default", name)
            .and_then(|p| {
                p.pointer("/status/containerStatuses/0/state/running")
                    .cloned()
            })
            .is_some()
    })
    .await;
    ContainerRef::Kubernetes {
        namespace: "default".into(),
        pod: name.into(),
        container: "app".into(),
    }
}

/// `sh -c CMD` in the pod's container through its own `pods/exec`: stdout, or `None` when
/// the command fails.
pub async fn pod_sh(client: &kube::Client, target: &ContainerRef, cmd: &str) -> Option<String> {
    let ContainerRef::Kubernetes { pod, container, .. } = target else {
        panic!("not a pod");
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut p = pods
        .exec(
            pod,
            ["sh", "-c", cmd],
            &AttachParams::default()
                .container(container.as_str())
                .stderr(false),
        )
        .await
        .unwrap();
    let mut out = String::new();
    let mut stdout = p.stdout().unwrap();
    let status = p.take_status().unwrap();
    stdout.read_to_string(&mut out).await.unwrap();
    let status = status.await;
    let _ = p.join().await;
    (status.and_then(|s| s.status) == Some("Success".into())).then_some(out)
}
