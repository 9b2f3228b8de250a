//! The Docker applier against real containers on the test dockerd: files, directories and
//! deletes arrive; `run` steps honour their triggers; a failing step is reported with its
//! output; `restart_container()` restarts; a restart_process-style wrapper restarts its
//! process through the touch file; three containers get the same batch; 1,000 files go in
//! one batch.

mod common;

use std::sync::Arc;

use common::*;
use lilt_liveupdate::{ApplyError, Containers, apply_all};
use lilt_model::IgnoreSet;
use lilt_watch::Matcher;

#[tokio::test]
async fn files_directories_and_deletes_arrive_and_ignores_are_respected() {
    let svc = svc();
    let c = DockerBox::start(&svc, "sleep 3600");
    let applier = docker_applier(&svc);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lu = live_update(root, &[]);
    let matcher = Arc::new(
        Matcher::from_ignore_sets(&[IgnoreSet {
            base_path: root.to_path_buf(),
            patterns: vec!["**/*.log".into()],
        }])
        .unwrap(),
    );

    let a = write(root, "src/a.txt", "alpha");
    write(root, "src/pkg/one.txt", "one");
    write(root, "src/pkg/deep/two.txt", "two");
    write(root, "src/pkg/debug.log", "ignored");
    let b = batch(&lu, &matcher, &[a.clone(), root.join("src/pkg")]);
    let done = applier.apply(&c.target(), &b).await.unwrap();
    assert_eq!(done.copied.files, 3);
    assert_eq!(c.sh("cat /app/a.txt").unwrap(), "alpha");
    assert_eq!(c.sh("cat /app/pkg/deep/two.txt").unwrap(), "two");
    assert!(
        c.sh("test -e /app/pkg/debug.log").is_none(),
        "ignored file synced"
    );

    // A change and two deletes (a file and a directory) in one batch.
    std::fs::write(&a, "alpha 2").unwrap();
    std::fs::remove_dir_all(root.join("src/pkg/deep")).unwrap();
    std::fs::remove_file(root.join("src/pkg/one.txt")).unwrap();
    let b = batch(
        &lu,
        &matcher,
        &[
            a.clone(),
            root.join("src/pkg/deep"),
            root.join("src/pkg/one.txt"),
        ],
    );
    assert_eq!(b.deletes, ["/app/pkg/deep", "/app/pkg/one.txt"]);
    let done = applier.apply(&c.target(), &b).await.unwrap();
    assert_eq!(done.deleted.len(), 2);
    assert_eq!(c.sh("cat /app/a.txt").unwrap(), "alpha 2");
    assert!(c.sh("test -e /app/pkg/deep").is_none());
    assert!(c.sh("test -e /app/pkg/one.txt").is_none());

    // A file planned as present but gone when archived is deleted in the container.
    let v = write(root, "src/vanishing", "x");
    let b = batch(&lu, &matcher, std::slice::from_ref(&v));
    applier.apply(&c.target(), &b).await.unwrap();
    assert!(c.sh("test -e /app/vanishing").is_some());
    let b = batch(&lu, &matcher, std::slice::from_ref(&v));
    std::fs::remove_file(&v).unwrap();
    let done = applier.apply(&c.target(), &b).await.unwrap();
    assert_eq!(done.copied.vanished, ["/app/vanishing"]);
    assert!(c.sh("test -e /app/vanishing").is_none());
}

#[tokio::test]
async fn runs_follow_their_triggers_and_a_failing_run_reports_its_output() {
    let svc = svc();
    let c = DockerBox::start(&svc, "sleep 3600");
    let applier = docker_applier(&svc);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lu = live_update(
        root,
        &[
            ("echo x >> /tmp/always", &[]),
            ("echo x >> /tmp/deps", &["src/requirements.txt"]),
        ],
    );
    let m = Arc::new(Matcher::default());
    let main = write(root, "src/main.py", "print(1)");
    let reqs = write(root, "src/requirements.txt", "flask");
    let done = applier
        .apply(&c.target(), &batch(&lu, &m, std::slice::from_ref(&main)))
        .await
        .unwrap();
    assert_eq!(done.runs.len(), 1);
    applier
        .apply(&c.target(), &batch(&lu, &m, &[reqs]))
        .await
        .unwrap();
    assert_eq!(c.sh("wc -l < /tmp/always").unwrap().trim(), "2");
    assert_eq!(c.sh("wc -l < /tmp/deps").unwrap().trim(), "1");

    // A failing step: its command, exit code and output; the next step does not run.
    let lu = live_update(
        root,
        &[
            ("echo before", &[]),
            ("echo broken build >&2; exit 3", &[]),
            ("echo x >> /tmp/after", &[]),
        ],
    );
    let err = applier
        .apply(&c.target(), &batch(&lu, &m, &[main]))
        .await
        .unwrap_err();
    assert!(err.is_run_failure());
    match &err {
        ApplyError::RunFailed {
            argv,
            exit_code,
            output,
            earlier,
            ..
        } => {
            assert_eq!(argv[2], "echo broken build >&2; exit 3");
            assert_eq!(*exit_code, 3);
            assert_eq!(output.trim(), "broken build");
            assert_eq!(earlier.len(), 1);
            assert_eq!(earlier[0].output.trim(), "before");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("broken build"), "{err}");
    assert!(c.sh("test -e /tmp/after").is_none());
}

#[tokio::test]
async fn restart_container_restarts_and_keeps_the_synced_files() {
    let svc = svc();
    let c = DockerBox::start(&svc, "sleep 3600");
    let applier = docker_applier(&svc);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut lu = live_update(root, &[]);
    lu.restart_container = true;
    let m = Arc::new(Matcher::default());
    let before = c.inspect("{{.State.StartedAt}}");
    let f = write(root, "src/f", "v1");
    let done = applier
        .apply(&c.target(), &batch(&lu, &m, &[f]))
        .await
        .unwrap();
    assert!(done.restarted);
    eventually("container running again", || {
        c.inspect("{{.State.Running}}") == "true"
    })
    .await;
    assert_ne!(c.inspect("{{.State.StartedAt}}"), before);
    assert_eq!(c.sh("cat /app/f").unwrap(), "v1");
}

/// A wrapper in the spirit of restart_process's: run the app, and start it again whenever
/// `/tmp/.restart-proc` changes.
pub const RESTART_WRAPPER: &str = r#"
start() { (echo "started $(cat /app/msg 2>/dev/null)" >> /tmp/log; exec sleep 3600) & pid=$!; }
start; last=""
while true; do
  now=$(cat /tmp/.restart-proc 2>/dev/null)
  if [ -n "$now" ] && [ "$now" != "$last" ]; then last=$now; kill $pid; start; fi
  sleep 0.05
done"#;

#[tokio::test]
async fn a_restart_process_wrapper_restarts_through_the_touch_file() {
    let svc = svc();
    let c = DockerBox::start(&svc, RESTART_WRAPPER);
    let applier = docker_applier(&svc);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // docker_build_with_restart appends this run step to the live update.
    let lu = live_update(root, &[("date > /tmp/.restart-proc", &[])]);
    let m = Arc::new(Matcher::default());
    eventually("first start", || {
        c.sh("cat /tmp/log").is_some_and(|l| l.contains("started"))
    })
    .await;
    let msg = write(root, "src/msg", "v2");
    applier
        .apply(&c.target(), &batch(&lu, &m, &[msg]))
        .await
        .unwrap();
    eventually("the process restarted with the new file", || {
        c.sh("cat /tmp/log")
            .is_some_and(|l| l.contains("started v2"))
    })
    .await;
}

#[tokio::test]
async fn three_containers_get_the_batch_and_a_thousand_files_go_in_one_stream() {
    let svc = svc();
    let boxes: Vec<DockerBox> = (0..3)
        .map(|_| DockerBox::start(&svc, "sleep 3600"))
        .collect();
    let applier = docker_applier(&svc);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lu = live_update(root, &[("ls /app/many | wc -l > /tmp/count", &[])]);
    let m = Arc::new(Matcher::default());
    let mut paths = Vec::new();
    for i in 0..1000 {
        paths.push(write(
            root,
            &format!("src/many/f{i:04}"),
            &"x".repeat(10_000),
        ));
    }
    let b = batch(&lu, &m, &paths);
    assert_eq!(b.copies.len(), 1000);
    let targets: Vec<_> = boxes.iter().map(DockerBox::target).collect();
    let results = apply_all(&applier, &targets, &b).await;
    for (c, r) in boxes.iter().zip(results) {
        let done = r.unwrap();
        // One archive per container carried every file, and one command ran.
        assert_eq!(done.copied.files, 1000);
        assert_eq!(done.copied.bytes, 10_000_000);
        assert_eq!(done.runs.len(), 1);
        assert_eq!(c.sh("cat /tmp/count").unwrap().trim(), "1000");
        assert_eq!(c.sh("cat /app/many/f0999 | wc -c").unwrap().trim(), "10000");
    }
}

#[tokio::test]
async fn a_container_that_is_gone_is_a_transport_error() {
    let svc = svc();
    let applier = docker_applier(&svc);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lu = live_update(root, &[]);
    let f = write(root, "src/f", "x");
    let b = batch(&lu, &Arc::new(Matcher::default()), &[f]);
    let err = applier
        .apply(
            &lilt_liveupdate::ContainerRef::Docker {
                id: unique("missing"),
            },
            &b,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::Transport { .. }), "{err:?}");
    assert!(!err.is_run_failure());
}
