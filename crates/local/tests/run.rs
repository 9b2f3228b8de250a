//! One-shot `cmd` runs: environment, directory, output streaming, exit and cancellation.

mod common;

use std::time::Duration;

use common::*;
use lilt_local::{LocalError, MAX_LINE_BYTES, RunOutcome, Stream};
use tokio::sync::oneshot;

fn exited_ok(outcome: RunOutcome) {
    match outcome {
        RunOutcome::Exited(exit) => assert!(exit.success(), "{exit}"),
        RunOutcome::Cancelled => panic!("unexpectedly cancelled"),
    }
}

#[tokio::test]
async fn env_and_dir_are_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = lilt_local::ProcessRegistry::without_watchdog();
    let env = base_env().with_tilt_vars(10350, "localhost", None);
    let launcher = lilt_local::Launcher::new(registry, env);
    let mut cmd = sh(r#"pwd; echo "$FOO|$TILT_PORT|${HOME-unset}""#);
    cmd.dir = dir.path().to_path_buf();
    // The command's own env wins over what lilt injects; the test process's own
    // variables (HOME) are not passed on because the environment is explicit.
    cmd.env = vec![
        ("FOO".into(), "bar".into()),
        ("TILT_PORT".into(), "4242".into()),
    ];
    let (sink, mut rx) = collector();
    let outcome = launcher
        .run(&cmd, &sink, std::future::pending())
        .await
        .expect("run");
    exited_ok(outcome);
    let out = texts(&drain(&mut rx), Stream::Stdout);
    let real_dir = dir.path().canonicalize().expect("canonicalize");
    assert_eq!(
        out,
        vec![
            real_dir.to_string_lossy().into_owned(),
            "bar|4242|unset".to_string()
        ]
    );
}

#[tokio::test]
async fn injected_tilt_variables_reach_the_command() {
    let registry = lilt_local::ProcessRegistry::without_watchdog();
    let env = base_env().with_tilt_vars(10351, "127.0.0.1", Some(std::path::Path::new("/tmp/kc")));
    let launcher = lilt_local::Launcher::new(registry, env);
    let (sink, mut rx) = collector();
    let cmd =
        sh(r#"echo "$TILT_PORT $TILT_HOST $TILT_DISABLE_ANALYTICS $KUBECONFIG $PYTHONUNBUFFERED""#);
    exited_ok(
        launcher
            .run(&cmd, &sink, std::future::pending())
            .await
            .expect("run"),
    );
    assert_eq!(
        texts(&drain(&mut rx), Stream::Stdout),
        vec!["10351 127.0.0.1 1 /tmp/kc 1"]
    );
}

#[tokio::test]
async fn lines_arrive_in_order_with_stream_tags() {
    let launcher = launcher(Duration::from_secs(5));
    let (sink, mut rx) = collector();
    let cmd = sh(
        "i=1; while [ $i -le 300 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done; printf tail",
    );
    exited_ok(
        launcher
            .run(&cmd, &sink, std::future::pending())
            .await
            .expect("run"),
    );
    let lines = drain(&mut rx);
    let mut want_out: Vec<String> = (1..=300).map(|i| format!("out{i}")).collect();
    want_out.push("tail".into());
    let want_err: Vec<String> = (1..=300).map(|i| format!("err{i}")).collect();
    assert_eq!(texts(&lines, Stream::Stdout), want_out);
    assert_eq!(texts(&lines, Stream::Stderr), want_err);
    assert!(lines.iter().all(|l| !l.partial));
}

#[tokio::test]
async fn long_lines_are_split_and_invalid_utf8_is_replaced() {
    let launcher = launcher(Duration::from_secs(5));
    let (sink, mut rx) = collector();
    let cmd = sh("head -c 200000 /dev/zero | tr '\\000' a; echo; printf 'a\\377b\\r\\n'");
    exited_ok(
        launcher
            .run(&cmd, &sink, std::future::pending())
            .await
            .expect("run"),
    );
    let lines = drain(&mut rx);
    let (long, rest) = lines.split_at(lines.len() - 1);
    assert!(
        long.len() >= 4,
        "200000 bytes make several pieces: {}",
        long.len()
    );
    assert!(long.iter().all(|l| l.text.len() <= MAX_LINE_BYTES));
    assert!(long[..long.len() - 1].iter().all(|l| l.partial));
    assert!(!long[long.len() - 1].partial);
    let joined: String = long.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(joined, "a".repeat(200_000));
    assert_eq!(rest[0].text, "a\u{FFFD}b");
}

#[tokio::test]
async fn multibyte_characters_survive_line_splitting() {
    let launcher = launcher(Duration::from_secs(5));
    let (sink, mut rx) = collector();
    // 'é' is two bytes; an odd prefix forces a split boundary inside one of them.
    let cmd = sh("printf x; i=0; while [ $i -lt 40000 ]; do printf 'éééé'; i=$((i+1)); done; echo");
    exited_ok(
        launcher
            .run(&cmd, &sink, std::future::pending())
            .await
            .expect("run"),
    );
    let joined: String = drain(&mut rx).iter().map(|l| l.text.clone()).collect();
    assert_eq!(joined, format!("x{}", "é".repeat(160_000)));
}

#[tokio::test]
async fn stdin_is_dev_null_and_exit_codes_are_reported() {
    let launcher = launcher(Duration::from_secs(5));
    let (sink, mut rx) = collector();
    let outcome = launcher
        .run(&sh("cat; echo done; exit 7"), &sink, std::future::pending())
        .await
        .expect("run");
    match outcome {
        RunOutcome::Exited(exit) => {
            assert_eq!(exit.code, Some(7));
            assert_eq!(exit.to_string(), "exit status 7");
        }
        RunOutcome::Cancelled => panic!("not cancelled"),
    }
    assert_eq!(texts(&drain(&mut rx), Stream::Stdout), vec!["done"]);
}

#[tokio::test]
async fn cancelling_kills_the_whole_tree() {
    let launcher = launcher(Duration::from_secs(5));
    let registry = launcher.registry().clone();
    let (sink, mut rx) = collector();
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    let cmd = sh("sleep 100 & sleep 100 & echo up; wait");
    let run = tokio::spawn(async move {
        launcher
            .run(&cmd, &sink, async {
                let _ = cancel_rx.await;
            })
            .await
    });
    wait_for_line(&mut rx, "up").await;
    let groups = registry.groups();
    assert_eq!(groups.len(), 1);
    let pgid = groups[0];
    eventually("three processes in the group", || members(pgid).len() == 3).await;
    cancel_tx.send(()).expect("send cancel");
    let outcome = within("cancelled run", run)
        .await
        .expect("join")
        .expect("run");
    assert_eq!(outcome, RunOutcome::Cancelled);
    assert!(members(pgid).is_empty(), "left: {:?}", members(pgid));
    assert!(registry.groups().is_empty());
}

#[tokio::test]
async fn cancelling_sigkills_a_tree_that_ignores_sigterm() {
    let launcher = launcher(Duration::from_millis(200));
    let registry = launcher.registry().clone();
    let (sink, mut rx) = collector();
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    let cmd = sh("trap '' TERM; sleep 100 & echo armed; wait");
    let run = tokio::spawn(async move {
        launcher
            .run(&cmd, &sink, async {
                let _ = cancel_rx.await;
            })
            .await
    });
    wait_for_line(&mut rx, "armed").await;
    let pgid = registry.groups()[0];
    cancel_tx.send(()).expect("send cancel");
    let outcome = within("cancelled run", run)
        .await
        .expect("join")
        .expect("run");
    assert_eq!(outcome, RunOutcome::Cancelled);
    assert!(members(pgid).is_empty(), "left: {:?}", members(pgid));
}

#[tokio::test]
async fn dropping_the_run_future_kills_the_group() {
    let launcher = launcher(Duration::from_secs(5));
    let registry = launcher.registry().clone();
    let (sink, mut rx) = collector();
    let cmd = sh("sleep 100 & echo up; wait");
    let run = tokio::spawn(async move { launcher.run(&cmd, &sink, std::future::pending()).await });
    wait_for_line(&mut rx, "up").await;
    let pgid = registry.groups()[0];
    run.abort();
    let _ = run.await;
    eventually("group gone after drop", || members(pgid).is_empty()).await;
    assert!(registry.groups().is_empty());
}

#[tokio::test]
async fn a_daemon_with_redirected_output_outlives_its_cmd_like_in_tilt() {
    let launcher = launcher(Duration::from_secs(5));
    let (sink, mut rx) = collector();
    let cmd = sh("sleep 100 >/dev/null 2>&1 & echo $!");
    exited_ok(
        launcher
            .run(&cmd, &sink, std::future::pending())
            .await
            .expect("run"),
    );
    let out = texts(&drain(&mut rx), Stream::Stdout);
    let pid: i32 = out[0].parse().expect("pid");
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
    // Clean up before asserting so a failure does not leak the sleep.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(alive, "the backgrounded daemon should still run");
    assert!(launcher.registry().groups().is_empty());
}

#[tokio::test]
async fn bad_commands_are_clear_errors() {
    let launcher = launcher(Duration::from_secs(5));
    let sink = lilt_local::LogSink::discard();
    let empty = lilt_model::Cmd::default();
    let err = launcher
        .run(&empty, &sink, std::future::pending())
        .await
        .expect_err("empty");
    assert!(matches!(err, LocalError::EmptyCommand));
    assert_eq!(err.to_string(), "empty cmd");

    let mut missing = sh("true");
    missing.argv = vec!["/nonexistent/lilt-no-such-program".into()];
    let err = launcher
        .run(&missing, &sink, std::future::pending())
        .await
        .expect_err("missing program");
    assert!(
        err.to_string()
            .contains("/nonexistent/lilt-no-such-program"),
        "{err}"
    );

    let mut bad_dir = sh("true");
    bad_dir.dir = "/nonexistent/lilt-dir".into();
    let err = launcher
        .run(&bad_dir, &sink, std::future::pending())
        .await
        .expect_err("missing dir");
    assert!(err.to_string().contains("/nonexistent/lilt-dir"), "{err}");
}
