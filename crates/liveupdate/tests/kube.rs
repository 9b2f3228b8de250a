//! The Kubernetes applier through the API-server double, whose kubelet runs pods as real
//! containers and serves `pods/exec` over WebSocket: files, directories and deletes
//! arrive through `tar` on stdin; `run` steps honour triggers; a failing step is reported;
//! `restart_container()` is refused as Tilt refuses it; a restart_process-style wrapper
//! restarts through the touch file; three pods get the batch; 1,000 files in one stream.

mod common;

use std::sync::Arc;

use common::*;
use lilt_kubedouble::KubeDouble;
use lilt_liveupdate::{ApplyError, Containers, KubeContainers, apply_all};
use lilt_watch::Matcher;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_deletes_runs_and_failures_through_pods_exec() {
    let svc = svc();
    let d = KubeDouble::start().await;
    let client = kube_client(&d).await;
    let applier = KubeContainers::new(client.clone());
    let target = start_pod(&d, &svc, &unique("one"), "sleep 3600").await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = Arc::new(Matcher::default());
    let lu = live_update(
        root,
        &[
            ("echo x >> /tmp/always", &[]),
            ("echo x >> /tmp/deps", &["src/deps.txt"]),
        ],
    );

    let a = write(root, "src/a.txt", "alpha");
    write(root, "src/pkg/deep/two.txt", "two");
    let done = applier
        .apply(&target, &batch(&lu, &m, &[a.clone(), root.join("src/pkg")]))
        .await
        .unwrap();
    assert_eq!(done.copied.files, 2);
    assert_eq!(done.runs.len(), 1);
    assert_eq!(
        pod_sh(&client, &target, "cat /app/a.txt").await.unwrap(),
        "alpha"
    );
    assert_eq!(
        pod_sh(&client, &target, "cat /app/pkg/deep/two.txt")
            .await
            .unwrap(),
        "two"
    );

    let deps = write(root, "src/deps.txt", "x");
    std::fs::remove_dir_all(root.join("src/pkg")).unwrap();
    let done = applier
        .apply(&target, &batch(&lu, &m, &[deps, root.join("src/pkg")]))
        .await
        .unwrap();
    assert_eq!(done.deleted, ["/app/pkg"]);
    assert_eq!(done.runs.len(), 2);
    assert!(pod_sh(&client, &target, "test -e /app/pkg").await.is_none());
    assert_eq!(
        pod_sh(&client, &target, "wc -l < /tmp/always")
            .await
            .unwrap()
            .trim(),
        "2"
    );
    assert_eq!(
        pod_sh(&client, &target, "wc -l < /tmp/deps")
            .await
            .unwrap()
            .trim(),
        "1"
    );

    // A failing run step: command, exit code and output, distinct from transport errors.
    let lu_fail = live_update(root, &[("echo nope; exit 7", &[])]);
    let err = applier
        .apply(&target, &batch(&lu_fail, &m, std::slice::from_ref(&a)))
        .await
        .unwrap_err();
    match &err {
        ApplyError::RunFailed {
            exit_code, output, ..
        } => {
            assert_eq!(*exit_code, 7);
            assert_eq!(output.trim(), "nope");
        }
        other => panic!("{other:?}"),
    }

    // restart_container() is refused before anything is touched.
    let mut lu_restart = live_update(root, &[]);
    lu_restart.restart_container = true;
    std::fs::write(&a, "changed").unwrap();
    let err = applier
        .apply(&target, &batch(&lu_restart, &m, std::slice::from_ref(&a)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::RestartUnsupported { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("restart_process"));
    assert_eq!(
        pod_sh(&client, &target, "cat /app/a.txt").await.unwrap(),
        "alpha"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_process_wrapper_restarts_through_the_touch_file() {
    let svc = svc();
    let d = KubeDouble::start().await;
    let client = kube_client(&d).await;
    let applier = KubeContainers::new(client.clone());
    let wrapper = r#"
start() { (echo "started $(cat /app/msg 2>/dev/null)" >> /tmp/log; exec sleep 3600) & pid=$!; }
start; last=""
while true; do
  now=$(cat /tmp/.restart-proc 2>/dev/null)
  if [ -n "$now" ] && [ "$now" != "$last" ]; then last=$now; kill $pid; start; fi
  sleep 0.05
done"#;
    let target = start_pod(&d, &svc, &unique("restart"), wrapper).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lu = live_update(root, &[("date > /tmp/.restart-proc", &[])]);
    let msg = write(root, "src/msg", "v2");
    applier
        .apply(&target, &batch(&lu, &Arc::new(Matcher::default()), &[msg]))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let log = pod_sh(&client, &target, "cat /tmp/log")
            .await
            .unwrap_or_default();
        if log.contains("started v2") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never restarted: {log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pods_get_a_thousand_files_in_one_stream_each() {
    let svc = svc();
    let d = KubeDouble::start().await;
    let client = kube_client(&d).await;
    let applier = KubeContainers::new(client.clone());
    let mut targets = Vec::new();
    for i in 0..3 {
        targets.push(start_pod(&d, &svc, &unique(&format!("r{i}")), "sleep 3600").await);
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lu = live_update(root, &[]);
    let mut paths = Vec::new();
    for i in 0..1000 {
        paths.push(write(
            root,
            &format!("src/many/f{i:04}"),
            &"y".repeat(10_000),
        ));
    }
    let b = batch(&lu, &Arc::new(Matcher::default()), &paths);
    let results = apply_all(&applier, &targets, &b).await;
    for (t, r) in targets.iter().zip(results) {
        let done = r.unwrap();
        assert_eq!(done.copied.files, 1000);
        assert_eq!(done.copied.bytes, 10_000_000);
        assert_eq!(
            pod_sh(&client, t, "ls /app/many | wc -l")
                .await
                .unwrap()
                .trim(),
            "1000"
        );
        assert_eq!(
            pod_sh(&client, t, "cat /app/many/f0500 | wc -c")
                .await
                .unwrap()
                .trim(),
            "10000"
        );
    }
    d.stop().await;
}
