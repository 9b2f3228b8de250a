//! The Kubernetes runtime through the whole binary, against the API-server double over real
//! HTTPS (the kubeconfig it writes is the only link, as with a real cluster): `lilt ci`
//! applies a resource's objects into the namespace the kubeconfig names, and `lilt down`
//! deletes them.

use std::path::Path;
use std::process::Command;

use lilt_kubedouble::KubeDouble;

mod k8s_support;
use k8s_support::{Up, eventually};

const OBJECTS: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: dev}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: s3cr3t}
";

fn lilt(dir: &Path, double: &KubeDouble, args: &[&str]) -> (i32, String) {
    lilt_as(dir, double, "tester", args)
}

/// `lilt ci` in `dir` against the double (a port of its own, a 60 s timeout).
fn lilt_ci(dir: &Path, double: &KubeDouble) -> (i32, String) {
    tokio::task::block_in_place(|| lilt(dir, double, &["ci", "--port", "0", "--timeout", "60s"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_applies_objects_and_down_deletes_them() {
    let double = KubeDouble::builder().without_kubelet().start().await;
    let dir = project(&double);
    let path = dir.path().to_owned();
    let d = &double;
    let (code, log) = lilt_ci(&path, d);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("applied ConfigMap/settings in default"),
        "{log}"
    );
    let cm = double
        .get("v1", "ConfigMap", "default", "settings")
        .expect("the ConfigMap was applied");
    assert_eq!(cm["data"]["mode"], "dev");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"], "tilt",
        "Tilt's managed-by label, so Tilt's tools recognise lilt's objects"
    );
    assert!(double.get("v1", "Secret", "default", "creds").is_some());

    let (code, log) = tokio::task::block_in_place(|| lilt(&path, d, &["down"]));
    assert_eq!(code, 0, "{log}");
    assert!(
        double
            .get("v1", "ConfigMap", "default", "settings")
            .is_none(),
        "{log}"
    );
    assert!(
        double.get("v1", "Secret", "default", "creds").is_none(),
        "{log}"
    );
}

/// `lilt ARGS` in `dir` as user `user`, against the double; (exit code, stdout + stderr).
fn lilt_as(dir: &Path, double: &KubeDouble, user: &str, args: &[&str]) -> (i32, String) {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lilt"))
        .current_dir(dir)
        .env("KUBECONFIG", double.kubeconfig_path())
        .env("LILT_STATE_DIR", state.path())
        .env("USER", user)
        .args(args)
        .output()
        .expect("run lilt");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A project with one Deployment `name` (pods labelled `app: <name>`, one container
/// `name` running `command` with `sh -c` in the tests' base image) in `<name>.yaml`, and a
/// Tiltfile that applies it, followed by `extra` (Tiltfile lines).
fn deployment_project(
    double: &KubeDouble,
    svc: &lilt_testsvc::Services,
    name: &str,
    command: &str,
    extra: &str,
) -> tempfile::TempDir {
    // Pods share the host's network (so a new pod can only bind a port once the old one is
    // gone: Recreate), and `:latest` defaults to pull Always while nothing can be pulled here.
    let yaml = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  strategy: {{type: Recreate}}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: {name}
        image: {image}
        imagePullPolicy: IfNotPresent
        command: [sh, -c, '{command}']
",
        image = svc.base_image
    );
    write_project(double, &format!("{name}.yaml"), &yaml, extra)
}

/// A project with `yaml` in `file` and a Tiltfile that allows the double's context, applies
/// `file` and goes on with `extra` (Tiltfile lines).
fn write_project(double: &KubeDouble, file: &str, yaml: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), yaml).unwrap();
    std::fs::write(
        dir.path().join("Tiltfile"),
        format!(
            "allow_k8s_contexts('{}')\nk8s_yaml('{file}')\n{extra}",
            double.context()
        ),
    )
    .unwrap();
    dir
}

fn project(double: &KubeDouble) -> tempfile::TempDir {
    write_project(double, "objects.yaml", OBJECTS, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_flag_creates_the_developers_namespace_and_prune_removes_idle_ones() {
    let double = KubeDouble::builder().without_kubelet().start().await;
    let dir = project(&double);
    let d = &double;
    let path = dir.path().to_owned();
    let (code, log) = tokio::task::block_in_place(|| {
        lilt_as(
            &path,
            d,
            "carol",
            &[
                "ci",
                "--port",
                "0",
                "--timeout",
                "60s",
                "--namespace",
                "dev-carol",
            ],
        )
    });
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("created namespace dev-carol (owner carol)"),
        "{log}"
    );
    let ns = double
        .get("v1", "Namespace", "", "dev-carol")
        .expect("created");
    assert_eq!(ns["metadata"]["labels"]["lilt.dev/managed"], "true");
    assert_eq!(ns["metadata"]["labels"]["lilt.dev/owner"], "carol");
    assert!(
        double
            .get("v1", "ConfigMap", "dev-carol", "settings")
            .is_some(),
        "objects without a namespace go to the developer's"
    );

    // Someone's namespace nobody used for 100 hours, and one that is not lilt's.
    let old = lilt_k8s_time(100);
    for (name, labels) in [
        (
            "dev-dave",
            serde_json::json!({"lilt.dev/managed": "true", "lilt.dev/owner": "dave"}),
        ),
        ("team-db", serde_json::json!({})),
    ] {
        double
            .create(serde_json::json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": labels,
                             "annotations": {"lilt.dev/last-active": old}},
            }))
            .unwrap();
    }
    let (code, list) =
        tokio::task::block_in_place(|| lilt_as(&path, d, "carol", &["namespaces", "list"]));
    assert_eq!(code, 0, "{list}");
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "OWNER", "IDLE", "STATUS"]);
    assert!(
        rows.iter().any(|r| r[..2] == ["dev-carol", "carol"]),
        "{list}"
    );
    assert!(
        rows.iter().any(|r| r[..3] == ["dev-dave", "dave", "4d4h"]),
        "{list}"
    );
    assert!(!list.contains("team-db"), "{list}");

    let (code, out) = tokio::task::block_in_place(|| {
        lilt_as(
            &path,
            d,
            "carol",
            &["namespaces", "prune", "--idle", "72h", "--dry-run"],
        )
    });
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("would delete namespace dev-dave (owner dave, idle 4d4h)"),
        "{out}"
    );
    assert!(double.get("v1", "Namespace", "", "dev-dave").is_some());
    let (code, out) = tokio::task::block_in_place(|| {
        lilt_as(&path, d, "carol", &["namespaces", "prune", "--idle", "72h"])
    });
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("deleted namespace dev-dave"), "{out}");
    assert!(
        !out.contains("dev-carol") && !out.contains("team-db"),
        "{out}"
    );
    assert!(double.get("v1", "Namespace", "", "team-db").is_some());
    assert!(double.get("v1", "Namespace", "", "dev-carol").is_some());
}

/// RFC 3339, `hours` ago (second precision, as Kubernetes writes times).
fn lilt_k8s_time(hours: u64) -> String {
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(hours * 3600);
    lilt_model::rfc3339::format_with(t, lilt_model::rfc3339::Precision::Seconds)
}

/// The developer's namespace named by the Tiltfile (`update_settings(k8s_namespace=)`)
/// rather than the flag: made, its objects applied there, and kept marked active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lilt_up_keeps_its_namespace_marked_active() {
    let double = KubeDouble::builder().without_kubelet().start().await;
    let dir = project(&double);
    let tiltfile = dir.path().join("Tiltfile");
    let text = std::fs::read_to_string(&tiltfile).unwrap();
    std::fs::write(
        &tiltfile,
        format!("update_settings(k8s_namespace='dev-erin')\n{text}"),
    )
    .unwrap();
    let up = Up::start(
        dir.path(),
        &double,
        &[],
        &[("LILT_NAMESPACE_HEARTBEAT", "300ms")],
    );
    let active = || {
        double
            .get("v1", "Namespace", "", "dev-erin")
            .and_then(|ns| {
                ns["metadata"]["annotations"]["lilt.dev/last-active"]
                    .as_str()
                    .map(str::to_owned)
            })
    };
    let first = eventually(active)
        .await
        .expect("the namespace is created, with a last-active time");
    // The annotation has second precision: a later heartbeat writes a later time.
    let later = eventually(|| active().filter(|t| *t > first)).await;
    assert!(later.is_some(), "no heartbeat after {first}:\n{}", up.log());
    let applied = eventually(|| double.get("v1", "ConfigMap", "dev-erin", "settings")).await;
    assert!(
        applied.is_some(),
        "objects go to the namespace:\n{}",
        up.log()
    );
}

/// A Deployment whose pod prints a line and keeps running, on the double's kubelet (a real
/// container on the tests' dockerd): `lilt ci` succeeds once the pod is ready, and `lilt up`
/// streams the pod's log into the resource's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_waits_for_ready_pods_and_up_streams_their_logs() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = deployment_project(
        &double,
        &svc,
        "app",
        "echo hello from the pod; exec sleep 1000",
        "",
    );
    let path = dir.path().to_owned();
    let d = &double;
    let (code, log) = lilt_ci(&path, d);
    assert_eq!(code, 0, "ready once its pod is:\n{log}");

    // `lilt up` follows the pod's log into the resource's log.
    let up = Up::start(dir.path(), &double, &[], &[]);
    up.wait_for_log("the pod's log", |t| {
        t.lines().any(|l| l.contains("app │ hello from the pod"))
    })
    .await;
    // Another update (the Deployment's own labels change; its pod stays) restarts the pod
    // watch: the pod's log must not be shown again.
    let yaml = std::fs::read_to_string(dir.path().join("app.yaml")).unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        yaml.replace(
            "metadata: {name: app}",
            "metadata: {name: app, labels: {tier: web}}",
        ),
    )
    .unwrap();
    up.wait_for_log("a second apply", |t| {
        t.matches("applied Deployment/app").count() >= 2
    })
    .await;
    // Give a duplicate the time it would need to show (a restarted stream prints within
    // milliseconds), then count.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let text = up.log();
    assert_eq!(
        text.matches("hello from the pod").count(),
        1,
        "the pod's log is shown once:\n{text}"
    );
    drop(up);
    double.stop().await;
}

/// `port_forwards=` through `lilt up`: the local port reaches the pod's httpd through the
/// double's pods/portforward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_forwards_ports_to_the_pod() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (pod_port, local_port) = (free(), free());
    let dir = deployment_project(
        &double,
        &svc,
        "web",
        &format!(
            "mkdir -p /tmp/www && echo served by the pod > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:{pod_port} -h /tmp/www"
        ),
        &format!("k8s_resource('web', port_forwards=['{local_port}:{pod_port}'])\n"),
    );
    let up = Up::start(dir.path(), &double, &[], &[]);
    let get = move || -> Option<String> {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", local_port)).ok()?;
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        conn.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut text = String::new();
        let _ = conn.read_to_string(&mut text);
        Some(text)
    };
    let served = |what: &'static str| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let got = tokio::task::spawn_blocking(get).await.unwrap();
            if got.as_deref().is_some_and(|t| t.contains(what)) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never served {what:?}: {got:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    served("served by the pod").await;
    // A template change replaces the pod (its pod-template hash changes too): the same
    // forward reaches the new one.
    let yaml = dir.path().join("web.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(
        &yaml,
        text.replace("served by the pod", "served by the new pod"),
    )
    .unwrap();
    served("served by the new pod").await;
    drop(up);
    double.stop().await;
}

/// `k8s_custom_deploy`: `apply_cmd` (here `kubectl apply`, against the double through the
/// same kubeconfig) deploys and prints what it deployed; `lilt down` runs `delete_cmd`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_deploy_runs_apply_cmd_and_down_runs_delete_cmd() {
    let double = KubeDouble::builder().without_kubelet().start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: custom, namespace: default}\ndata: {made: by-kubectl}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Tiltfile"),
        format!(
            "allow_k8s_contexts('{}')\n\
             k8s_custom_deploy('custom',\n\
               apply_cmd='kubectl apply --validate=false -f cm.yaml -o yaml',\n\
               delete_cmd='kubectl delete -f cm.yaml',\n\
               deps=['cm.yaml'])\n",
            double.context()
        ),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let d = &double;
    let (code, log) = lilt_ci(&path, d);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("deployed ConfigMap/custom"),
        "what apply_cmd printed is tracked:\n{log}"
    );
    let cm = double
        .get("v1", "ConfigMap", "default", "custom")
        .expect("kubectl applied it");
    assert_eq!(cm["data"]["made"], "by-kubectl");

    let (code, log) = tokio::task::block_in_place(|| lilt(&path, d, &["down"]));
    assert_eq!(code, 0, "{log}");
    assert!(
        double.get("v1", "ConfigMap", "default", "custom").is_none(),
        "{log}"
    );
}

/// Warning events about a resource's pods reach its log (here: an image that cannot be
/// pulled), next to the pod's waiting reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warning_events_of_the_pods_reach_the_resource_log() {
    let _svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        "apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        image: 127.0.0.1:5100/lilt-e2e/no-such-image:1
",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Tiltfile"),
        format!(
            "allow_k8s_contexts('{}')\nk8s_yaml('app.yaml')\n",
            double.context()
        ),
    )
    .unwrap();
    let up = Up::start(dir.path(), &double, &[], &[]);
    up.wait_for_log("a warning event and the waiting reason", |text| {
        let event = text
            .lines()
            .any(|l| l.contains("pod app-") && l.contains(": Failed: Error: ErrImagePull"));
        let waiting = text
            .lines()
            .any(|l| l.contains("ErrImagePull") && !l.contains("Failed:"));
        event && waiting
    })
    .await;
    drop(up);
    double.stop().await;
}

/// `extra_pod_selectors`: a pod the resource's objects do not own (here made by someone
/// else, straight through the API) is watched too when its labels match, and its log
/// reaches the resource's log beside the workload's own pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_pod_selectors_bring_other_pods_into_the_resource() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = deployment_project(
        &double,
        &svc,
        "app",
        "echo hello from the workload; exec sleep 1000",
        "k8s_resource('app', extra_pod_selectors=[{'role': 'helper', 'team': 'a'}])\n",
    );
    let pod = |name: &str, team: &str| {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"role": "helper", "team": team}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "main",
                    "image": svc.base_image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", format!("echo hello from {name}; exec sleep 1000")],
                }],
            },
        })
    };
    // One pod matches the selector (both labels), one does not (an AND of labels).
    double.create(pod("helper-a", "a")).unwrap();
    double.create(pod("helper-b", "b")).unwrap();
    let up = Up::start(dir.path(), &double, &[], &[]);
    up.wait_for_log("both pods' logs", |t| {
        t.contains("hello from the workload") && t.contains("hello from helper-a")
    })
    .await;
    // The other pod's first line would have come with helper-a's; give it time, then check.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let text = up.log();
    assert!(
        !text.contains("hello from helper-b"),
        "a pod matching only part of the selector is not the resource's:\n{text}"
    );
    drop(up);
    double.stop().await;
}

/// After the API server drops the log streams (and watches), lilt resumes each pod's log
/// where it was: every line of a counting container reaches the resource's log exactly
/// once, in order, with none lost across the drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_resume_after_dropped_connections_without_gaps_or_repeats() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = deployment_project(
        &double,
        &svc,
        "counter",
        "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.05; done",
        "",
    );
    let up = Up::start(dir.path(), &double, &[], &[]);
    let ticks = |text: &str| -> Vec<u64> {
        text.lines()
            .filter_map(|l| l.split("tick-").nth(1)?.trim().parse().ok())
            .collect()
    };
    let mut seen = 0;
    for round in 1..=3 {
        up.wait_for_log("more ticks", |t| ticks(t).len() >= seen + 10)
            .await;
        double.drop_watches();
        seen = ticks(&up.log()).len();
        eprintln!("round {round}: dropped after {seen} ticks");
    }
    up.wait_for_log("ticks after the last drop", |t| ticks(t).len() >= seen + 10)
        .await;
    let got = ticks(&up.log());
    let want: Vec<u64> = (1..=got.len() as u64).collect();
    assert_eq!(got, want, "each line once, in order, none lost");
    drop(up);
    double.stop().await;
}

/// `update_settings(k8s_upsert_timeout_secs=)`: an API server that holds the apply longer
/// than that fails the resource's update with a message naming the setting, instead of
/// hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_apply_fails_after_the_upsert_timeout() {
    let double = KubeDouble::builder().without_kubelet().start().await;
    let dir = project(&double);
    let tiltfile = dir.path().join("Tiltfile");
    let text = std::fs::read_to_string(&tiltfile).unwrap();
    std::fs::write(
        &tiltfile,
        format!("update_settings(k8s_upsert_timeout_secs=1)\n{text}"),
    )
    .unwrap();
    double.inject(
        lilt_kubedouble::Fault::stall(std::time::Duration::from_secs(20))
            .verb("patch")
            .times(1),
    );
    let (code, log) = lilt_ci(dir.path(), &double);
    assert_ne!(code, 0, "the update fails:\n{log}");
    assert!(
        log.contains("applying took longer than 1s (k8s_upsert_timeout_secs)"),
        "{log}"
    );
}

/// A container that keeps exiting: the resource shows Kubernetes' CrashLoopBackOff with the
/// last exit code, and the container's output, in its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_container_shows_crash_loop_back_off_with_its_exit_code() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = deployment_project(&double, &svc, "crasher", "echo giving up; exit 3", "");
    let up = Up::start(dir.path(), &double, &[], &[]);
    up.wait_for_log("the crash loop", |t| {
        t.contains("giving up")
            && t.lines().any(|l| {
                l.contains("pod crasher-") && l.contains("CrashLoopBackOff (last exit code 3)")
            })
    })
    .await;
    drop(up);
    double.stop().await;
}

/// A pod that cannot pull its image is a runtime error (Tilt's verdict on a pod that is not
/// running: `ErrImagePull`/`ImagePullBackOff`), so `lilt ci` fails with the pod's name and
/// reason instead of waiting for the readiness timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_fails_when_a_pod_cannot_pull_its_image() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = puller_project(&double, &svc, "");
    let (code, log) = lilt_ci(dir.path(), &double);
    assert_eq!(code, 1, "{log}");
    assert!(
        log.lines().any(|l| l.contains("Pod puller-")
            && l.contains("in error state due to container puller: ")
            && (l.contains("ErrImagePull") || l.contains("ImagePullBackOff"))),
        "{log}"
    );
    assert!(!log.contains("exceeded grace period"), "{log}");
    double.stop().await;
}

/// `ci_settings(k8s_grace_period=)`: pod errors within it count as "retrying"; once it is
/// over, `lilt ci` fails and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_tolerates_pod_errors_for_the_grace_period() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = puller_project(&double, &svc, "ci_settings(k8s_grace_period='2s')\n");
    let (code, log) = lilt_ci(dir.path(), &double);
    assert_eq!(code, 1, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("exceeded grace period: Pod puller-")),
        "{log}"
    );
    double.stop().await;
}

/// A Job's resource waits for its pod to succeed (`pod_readiness='succeeded'`, Tilt's
/// default for Jobs): `lilt ci` ends when the Job's work is done, with the pod's output in
/// the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_succeeds_when_a_jobs_pod_completes() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let yaml = format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: migrate}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: {image}
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'sleep 1; echo migrated']
",
        image = svc.base_image
    );
    let dir = write_project(&double, "job.yaml", &yaml, "");
    let (code, log) = lilt_ci(dir.path(), &double);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("migrated"), "{log}");
    assert!(log.contains("SUCCESS. All workloads are healthy."), "{log}");
    double.stop().await;
}

/// A Deployment `puller` whose image cannot be pulled, and `extra` Tiltfile lines.
fn puller_project(
    double: &KubeDouble,
    svc: &lilt_testsvc::Services,
    extra: &str,
) -> tempfile::TempDir {
    let dir = deployment_project(double, svc, "puller", "sleep 600", extra);
    unpullable(dir.path(), svc, "puller");
    dir
}

/// Points the Deployment in `dir/<name>.yaml` at an image nobody has, on a loopback port
/// where no registry listens.
fn unpullable(dir: &Path, svc: &lilt_testsvc::Services, name: &str) {
    let file = dir.join(format!("{name}.yaml"));
    let yaml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        yaml.replace(&svc.base_image, "127.0.0.1:9/nowhere/missing:1"),
    )
    .unwrap();
}
