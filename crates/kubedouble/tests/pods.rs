//! The double's controllers and kubelet with real containers on the test dockerd (host
//! networking), driven by kube-rs: a Deployment rollout to ready pods running busybox httpd,
//! a Job to completion, CrashLoopBackOff, image pull failures, init containers and volumes,
//! `pods/log` following, `pods/exec` with stdin, `pods/portforward` to httpd, a killed
//! container restarting, and every container removed when the double stops.

mod common;

use std::time::{Duration, Instant};

use common::{client, eventually};
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    Api, AttachParams, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams,
};
use lilt_kubedouble::KubeDouble;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn base_image() -> String {
    lilt_testsvc::services().base_image
}

/// A free loopback port (pods share the host network, so each test takes its own).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn double() -> KubeDouble {
    KubeDouble::builder()
        .bookmark_interval(Duration::from_millis(500))
        .start()
        .await
}

fn container(name: &str, script: &str) -> Value {
    json!({"name": name, "image": base_image(), "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", script]})
}

fn pod_json(name: &str, containers: Vec<Value>, restart: &str) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": containers, "restartPolicy": restart, "terminationGracePeriodSeconds": 1}}))
    .unwrap()
}

async fn wait_ready(pods: &Api<Pod>, name: &str) -> Pod {
    eventually(60, &format!("pod {name} Ready"), || {
        let pods = pods.clone();
        let name = name.to_string();
        async move {
            let p = pods.get_opt(&name).await.unwrap()?;
            let ready = p
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(p)
        }
    })
    .await
}

fn deployment(name: &str, port: u16, version: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            // Pods share the host network: the old pod must release the port first.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "web", "image": base_image(), "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", format!("echo hello; exec httpd -f -p {port}")],
                        "env": [{"name": "VERSION", "value": version}],
                        "ports": [{"containerPort": port}],
                        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
                    }],
                },
            },
        },
    })
}

async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    Some(out)
}

#[tokio::test]
async fn deployment_rollout_to_ready_pods_running_real_containers() {
    let d = double().await;
    let c = client(&d).await;
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(c.clone(), "default");
    let port = free_port();
    let pp = PatchParams::apply("lilt").force();

    let t0 = Instant::now();
    deploys
        .patch("web", &pp, &Patch::Apply(deployment("web", port, "1")))
        .await
        .unwrap();
    let pod = eventually(60, "a ready pod of web", || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .unwrap();
            list.items.into_iter().find(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
        }
    })
    .await;
    eprintln!("figure: Deployment apply -> pod Ready: {:?}", t0.elapsed());
    let name = pod.metadata.name.clone().unwrap();
    // The pod as the ReplicaSet made it: pod-template-hash label, controller ownerReference.
    let hash = pod.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert!(name.starts_with(&format!("web-{hash}-")), "{name}");
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("ReplicaSet", Some(true))
    );
    let status = pod.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let cs = &status.container_statuses.unwrap()[0];
    assert!(cs.container_id.as_deref().unwrap().starts_with("docker://"));
    assert!(cs.state.as_ref().unwrap().running.is_some());
    // A real process answers on the host network.
    let resp = http_get(port, "/").await.expect("httpd answers");
    assert!(resp.starts_with("HTTP/1."), "{resp}");
    // The kubelet's events, in order.
    let reasons: Vec<String> = d
        .events_for("default", &name)
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    for want in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(reasons.iter().any(|r| r == want), "{reasons:?}");
    }
    let logs = pods.logs(&name, &LogParams::default()).await.unwrap();
    assert_eq!(logs, "hello\n");
    // Deployment status.
    let dep = eventually(30, "deployment available", || {
        let deploys = deploys.clone();
        async move {
            let d = deploys.get("web").await.unwrap();
            let s = d.status.clone()?;
            (s.available_replicas == Some(1) && s.observed_generation == Some(1)).then_some(d)
        }
    })
    .await;
    let conds = dep.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    );

    // Rollout: a changed template makes a new ReplicaSet whose pod replaces the old one.
    let t1 = Instant::now();
    deploys
        .patch("web", &pp, &Patch::Apply(deployment("web", port, "2")))
        .await
        .unwrap();
    let new_pod = eventually(60, "the replacement pod ready", || {
        let pods = pods.clone();
        let old = name.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .unwrap();
            if list
                .items
                .iter()
                .any(|p| p.metadata.name.as_deref() == Some(old.as_str()))
            {
                return None;
            }
            list.items.into_iter().find(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
        }
    })
    .await;
    eprintln!(
        "figure: template change -> replacement pod Ready (Recreate): {:?}",
        t1.elapsed()
    );
    let new_hash = new_pod.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_ne!(new_hash, hash);
    let env = &new_pod.spec.unwrap().containers[0].env.clone().unwrap()[0];
    assert_eq!(env.value.as_deref(), Some("2"));
    let all_rs = rss.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(all_rs.len(), 2);
    let newest = all_rs
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(&format!("web-{new_hash}")))
        .unwrap();
    assert_eq!(
        newest.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );
    let old_rs = all_rs
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(&format!("web-{hash}")))
        .unwrap();
    assert_eq!(old_rs.spec.as_ref().unwrap().replicas, Some(0));
    assert!(http_get(port, "/").await.is_some());
    // The old pod's container is gone from the daemon.
    eventually(30, "old pod's container removed", || {
        let old = name.clone();
        let infos = d.containers();
        async move { (!infos.iter().any(|c| c.pod == old)).then_some(()) }
    })
    .await;

    // Deleting the deployment cascades to ReplicaSets, pods and containers.
    deploys
        .delete("web", &DeleteParams::background())
        .await
        .unwrap();
    eventually(60, "everything of web gone", || {
        let pods = pods.clone();
        let empty = d.containers().is_empty();
        async move {
            let left = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .unwrap()
                .items;
            (left.is_empty() && empty).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn rolling_update_keeps_a_ready_pod_until_the_new_one_is_ready() {
    let d = double().await;
    let c = client(&d).await;
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let mk = |v: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "roll"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "roll"}},
                "template": {"metadata": {"labels": {"app": "roll"}}, "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [container("c", &format!("echo {v}; exec sleep 3600"))]}}}})
    };
    let pp = PatchParams::apply("lilt").force();
    deploys
        .patch("roll", &pp, &Patch::Apply(mk("v1")))
        .await
        .unwrap();
    let first = eventually(60, "first pod ready", || {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels("app=roll"))
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        })
                })
        }
    })
    .await;
    let first_name = first.metadata.name.unwrap();
    // Watch the pods while rolling: maxUnavailable rounds down to 0 for one replica, so some
    // pod is Ready at every step.
    let watch_pods = pods.clone();
    let mut stream = kube::runtime::watcher(
        watch_pods,
        kube::runtime::watcher::Config::default().labels("app=roll"),
    )
    .boxed();
    deploys
        .patch("roll", &pp, &Patch::Apply(mk("v2")))
        .await
        .unwrap();
    let is_ready = |p: &Pod| {
        p.metadata.deletion_timestamp.is_none()
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    let mut pods_now: std::collections::BTreeMap<String, bool> = Default::default();
    let mut saw_both = false;
    let mut ever_unready_gap = false;
    let mut listed = false;
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), stream.try_next())
            .await
            .expect("rollout events")
            .expect("watch stream")
            .expect("stream open");
        use kube::runtime::watcher::Event;
        match ev {
            Event::Apply(p) | Event::InitApply(p) => {
                pods_now.insert(p.metadata.name.clone().unwrap(), is_ready(&p));
            }
            Event::Delete(p) => {
                pods_now.remove(p.metadata.name.as_deref().unwrap());
            }
            Event::InitDone => listed = true,
            Event::Init => {}
        }
        if !listed {
            continue;
        }
        if pods_now.len() >= 2 {
            saw_both = true;
        }
        if !pods_now.values().any(|r| *r) {
            ever_unready_gap = true;
        }
        let new_ready = pods_now.iter().any(|(n, r)| *r && *n != first_name);
        if new_ready && !pods_now.contains_key(&first_name) {
            break;
        }
    }
    assert!(
        !ever_unready_gap,
        "a Ready pod at every step of the rollout"
    );
    assert!(saw_both, "the new pod ran next to the old one");
}

#[tokio::test]
async fn crash_loop_back_off_is_visible_with_the_last_exit_code() {
    let d = double().await;
    let c = client(&d).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod_json(
            "crash",
            vec![container("app", "echo boom; exit 3")],
            "Always",
        ),
    )
    .await
    .unwrap();
    let p = eventually(60, "CrashLoopBackOff", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("crash").await.unwrap();
            let cs = p
                .status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .first()?
                .clone();
            let waiting = cs.state.as_ref()?.waiting.as_ref()?;
            (waiting.reason.as_deref() == Some("CrashLoopBackOff")).then_some(cs)
        }
    })
    .await;
    assert!(p.restart_count >= 1);
    let last = p.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 3);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert!(
        p.state
            .unwrap()
            .waiting
            .unwrap()
            .message
            .unwrap()
            .starts_with("back-off 10s restarting failed container=app pod=crash_default(")
    );
    let pod = pods.get("crash").await.unwrap();
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    let evs = d.events_for("default", "crash");
    assert!(
        evs.iter()
            .any(|e| e["reason"] == "BackOff" && e["type"] == "Warning"),
        "{evs:?}"
    );
    // The crashed container's log stays readable, now and as `previous`.
    assert_eq!(
        pods.logs("crash", &LogParams::default()).await.unwrap(),
        "boom\n"
    );
    let prev = pods
        .logs(
            "crash",
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(prev, "boom\n");
}

#[tokio::test]
async fn image_pull_failures_back_off() {
    let d = double().await;
    let c = client(&d).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let registry = lilt_testsvc::services().registry;
    let missing = format!("{registry}/lilt-kubedouble/missing:v1");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "nopull"},
        "spec": {"containers": [{"name": "app", "image": missing, "command": ["true"]}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    eventually(60, "ImagePullBackOff", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("nopull").await.unwrap();
            let cs = p
                .status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .first()?
                .clone();
            (cs.state?.waiting?.reason.as_deref() == Some("ImagePullBackOff")).then_some(())
        }
    })
    .await;
    let p = pods.get("nopull").await.unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
    let evs = d.events_for("default", "nopull");
    let msgs: Vec<&str> = evs.iter().filter_map(|e| e["message"].as_str()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with(&format!("Failed to pull image \"{missing}\""))),
        "{msgs:?}"
    );
    assert!(msgs.contains(&"Error: ErrImagePull"), "{msgs:?}");
    // A pod that was never running is deleted quickly and leaves nothing behind.
    pods.delete("nopull", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "pod gone", || {
        let pods = pods.clone();
        async move {
            pods.get_opt("nopull")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_job_runs_to_completion_with_init_containers_and_volumes() {
    let d = double().await;
    let c = client(&d).await;
    let jobs: Api<Job> = Api::namespaced(c.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "settings"}, "data": {"greeting": "from-configmap"}}))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let mut init = container("prepare", "echo from-init > /work/x");
    init["volumeMounts"] = json!([{"name": "work", "mountPath": "/work"}]);
    let mut main = container(
        "main",
        "cat /work/x; cat /cfg/greeting; echo; echo $GREETING $POD_NAME; cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo",
    );
    main["volumeMounts"] =
        json!([{"name": "work", "mountPath": "/work"}, {"name": "cfg", "mountPath": "/cfg"}]);
    main["env"] = json!([
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]);
    let job: Job = serde_json::from_value(json!({"metadata": {"name": "once"},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "initContainers": [init],
            "containers": [main],
            "volumes": [{"name": "work", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "settings"}}]}}}}))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let done = eventually(60, "job complete", || {
        let jobs = jobs.clone();
        async move {
            let j = jobs.get("once").await.unwrap();
            let s = j.status.clone()?;
            s.conditions?
                .iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
                .then_some(j)
        }
    })
    .await;
    let st = done.status.unwrap();
    assert_eq!(st.succeeded, Some(1));
    assert!(st.completion_time.is_some());
    let pod = pods
        .list(&ListParams::default().labels("job-name=once"))
        .await
        .unwrap()
        .items
        .remove(0);
    let pname = pod.metadata.name.clone().unwrap();
    let ps = pod.status.unwrap();
    assert_eq!(ps.phase.as_deref(), Some("Succeeded"));
    let init_state = ps.init_container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap();
    assert_eq!(
        init_state.terminated.unwrap().reason.as_deref(),
        Some("Completed")
    );
    let logs = pods
        .logs(
            &pname,
            &LogParams {
                container: Some("main".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        logs,
        format!("from-init\nfrom-configmap\nfrom-configmap {pname}\ndefault\n")
    );
    let init_logs = pods
        .logs(
            &pname,
            &LogParams {
                container: Some("prepare".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(init_logs, "");
    // Without container=, the only app container is meant (init containers do not count).
    let default = pods.logs(&pname, &LogParams::default()).await.unwrap();
    assert_eq!(default, logs);
}

#[tokio::test]
async fn log_stream_follows_and_filters() {
    let d = double().await;
    let c = client(&d).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod_json(
            "talk",
            vec![container(
                "app",
                "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done",
            )],
            "Always",
        ),
    )
    .await
    .unwrap();
    wait_ready(&pods, "talk").await;
    let stream = pods
        .log_stream(
            "talk",
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut lines = stream.lines();
    let mut got = Vec::new();
    while got.len() < 5 {
        let l = tokio::time::timeout(Duration::from_secs(10), lines.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push(l);
    }
    assert_eq!(got, ["line 0", "line 1", "line 2", "line 3", "line 4"]);
    // Timestamps, tailLines and sinceTime as the kubelet serves them.
    let with_ts = pods
        .logs(
            "talk",
            &LogParams {
                timestamps: true,
                tail_lines: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ts_lines: Vec<&str> = with_ts.lines().collect();
    assert_eq!(ts_lines.len(), 2, "{with_ts}");
    let (ts, text) = ts_lines[0].split_once(' ').unwrap();
    assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
    assert!(text.starts_with("line "));
    use k8s_openapi::jiff::{SignedDuration, Timestamp, Unit};
    // One second before that line: kube-rs rounds sinceTime to whole seconds, so the cut falls
    // at most half a second after this, before the line.
    let line_ts: Timestamp = ts.parse().unwrap();
    let since = line_ts - SignedDuration::from_secs(1);
    let after = pods
        .logs(
            "talk",
            &LogParams {
                timestamps: true,
                since_time: Some(since),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let cut = since.round(Unit::Second).unwrap();
    let stamps: Vec<Timestamp> = after
        .lines()
        .map(|l| l.split_once(' ').unwrap().0.parse().unwrap())
        .collect();
    assert!(
        stamps.iter().all(|t| *t >= cut),
        "lines before {cut}: {after}"
    );
    assert!(
        stamps.contains(&line_ts),
        "the line at {ts} is after the cut: {after}"
    );
    // A killed container restarts at once (first restart), with the kill's exit code.
    d.kill_container("default", "talk", "app").await.unwrap();
    let cs = eventually(30, "restart after kill", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("talk").await.unwrap();
            let cs = p.status?.container_statuses?.remove(0);
            (cs.restart_count >= 1 && cs.state.as_ref()?.running.is_some()).then_some(cs)
        }
    })
    .await;
    assert_eq!(cs.last_state.unwrap().terminated.unwrap().exit_code, 137);
    let prev = pods
        .logs(
            "talk",
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(prev.starts_with("line 0\n"));
}

#[tokio::test]
async fn exec_with_stdin_and_exit_codes() {
    let d = double().await;
    let c = client(&d).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod_json("shell", vec![container("app", "exec sleep 3600")], "Always"),
    )
    .await
    .unwrap();
    wait_ready(&pods, "shell").await;
    // Write through stdin, close it (v5 CLOSE), and read it back.
    let mut proc = pods
        .exec(
            "shell",
            vec!["sh", "-c", "cat > /tmp/x"],
            &AttachParams::default()
                .stdin(true)
                .stdout(false)
                .stderr(false),
        )
        .await
        .unwrap();
    let mut stdin = proc.stdin().unwrap();
    stdin.write_all(b"hello from stdin\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    let status = proc.take_status().unwrap().await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
    let mut proc = pods
        .exec(
            "shell",
            vec!["cat", "/tmp/x"],
            &AttachParams::default().stderr(false),
        )
        .await
        .unwrap();
    let mut out = String::new();
    proc.stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, "hello from stdin\n");
    // A non-zero exit is a Failure Status with reason NonZeroExitCode and the code as cause.
    let mut proc = pods
        .exec(
            "shell",
            vec!["sh", "-c", "echo oops >&2; exit 3"],
            &AttachParams::default(),
        )
        .await
        .unwrap();
    let mut err = String::new();
    proc.stderr()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert_eq!(err, "oops\n");
    let status = proc.take_status().unwrap().await.unwrap();
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let causes = status.details.unwrap().causes.unwrap();
    assert_eq!(causes[0].message.as_deref(), Some("3"));
}

#[tokio::test]
async fn port_forward_reaches_httpd_in_the_pod() {
    let d = double().await;
    let c = client(&d).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let port = free_port();
    let script =
        format!("mkdir -p /www && echo pf-ok > /www/index.html && exec httpd -f -p {port} -h /www");
    let mut ctr = container("web", &script);
    ctr["readinessProbe"] = json!({"httpGet": {"path": "/", "port": port}, "periodSeconds": 1});
    pods.create(&PostParams::default(), &pod_json("pf", vec![ctr], "Always"))
        .await
        .unwrap();
    wait_ready(&pods, "pf").await;
    for _ in 0..2 {
        // One forwarder per connection, as lilt will use them.
        let mut pf = pods.portforward("pf", &[port]).await.unwrap();
        let mut s = pf.take_stream(port).unwrap();
        s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.") && text.contains("pf-ok"),
            "{text}"
        );
        drop(s);
        let _ = pf.join().await;
    }
    // A port nothing listens on reports the kubelet's error on the error channel.
    let closed = free_port();
    let mut pf = pods.portforward("pf", &[closed]).await.unwrap();
    let err = pf.take_error(closed).unwrap().await;
    assert!(
        err.unwrap_or_default()
            .contains(&format!("error forwarding port {closed}"))
    );
}

#[tokio::test]
async fn stopping_the_double_removes_every_container() {
    let d = double().await;
    let c = client(&d).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod_json(
            "keep",
            vec![
                container("a", "exec sleep 3600"),
                container("b", "exec sleep 3600"),
            ],
            "Always",
        ),
    )
    .await
    .unwrap();
    wait_ready(&pods, "keep").await;
    let ids: Vec<String> = d.containers().into_iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 2);
    // With two containers kube-apiserver wants container= for logs.
    let err = common::api_err(pods.logs("keep", &LogParams::default()).await);
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "a container name must be specified for pod keep, choose one of: [a b]"
    );
    let svc = lilt_testsvc::services();
    let running = |id: &str| {
        svc.docker()
            .args(["inspect", "-f", "{{.State.Running}}", id])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
            .unwrap_or(false)
    };
    assert!(ids.iter().all(|id| running(id)));
    d.stop().await;
    for id in &ids {
        let out = svc.docker().args(["inspect", id]).output().unwrap();
        assert!(!out.status.success(), "container {id} still exists");
    }
}
