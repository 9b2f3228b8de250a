//! `serve_cmd` supervision: start, stop of whole trees, SIGKILL after the grace, exits,
//! restarts and shutdown of everything.

mod common;

use std::time::Duration;

use common::*;
use lilt_local::{LogSink, ServeEvent, Stream};

#[tokio::test]
async fn start_reports_pid_and_ready_without_probe_and_stop_ends_the_tree() {
    let launcher = launcher(Duration::from_secs(5));
    let (sink, mut logs) = collector();
    let (mut server, mut events) = launcher
        .serve(sh("sleep 100 & sleep 100 & echo up; wait"), None, sink)
        .expect("serve");
    let pid = server.pid().expect("running");
    assert_eq!(
        recv("started", &mut events).await,
        ServeEvent::Started { pid }
    );
    assert_eq!(recv("ready", &mut events).await, ServeEvent::Ready { pid });
    wait_for_line(&mut logs, "up").await;
    eventually("three processes in the group", || members(pid).len() == 3).await;
    assert_eq!(launcher.registry().groups(), vec![pid]);

    within("stop", server.stop()).await;
    assert!(members(pid).is_empty(), "left: {:?}", members(pid));
    assert!(launcher.registry().groups().is_empty());
    match recv("stopped", &mut events).await {
        ServeEvent::Stopped { pid: p, exit } => {
            assert_eq!(p, pid);
            // sh dies from the SIGTERM itself.
            assert_eq!(exit.and_then(|e| e.signal), Some(15));
        }
        other => panic!("expected Stopped, got {other:?}"),
    }
    assert_eq!(server.pid(), None);
}

#[tokio::test]
async fn children_ignoring_sigterm_are_sigkilled_after_the_grace() {
    let launcher = launcher(Duration::from_millis(200));
    let (sink, mut logs) = collector();
    let (mut server, mut events) = launcher
        .serve(sh("trap '' TERM; sleep 100 & echo armed; wait"), None, sink)
        .expect("serve");
    let pid = server.pid().expect("running");
    wait_for_line(&mut logs, "armed").await;
    within("stop", server.stop()).await;
    assert!(members(pid).is_empty(), "left: {:?}", members(pid));
    let stopped = loop {
        if let ServeEvent::Stopped { exit, .. } = recv("stopped", &mut events).await {
            break exit;
        }
    };
    assert_eq!(stopped.and_then(|e| e.signal), Some(9));
}

#[tokio::test]
async fn an_exit_is_reported_with_its_code_after_its_output() {
    let launcher = launcher(Duration::from_secs(5));
    let (sink, mut logs) = collector();
    let (server, mut events) = launcher
        .serve(sh("echo bye; echo oops >&2; exit 3"), None, sink)
        .expect("serve");
    let exit = loop {
        match recv("exit", &mut events).await {
            ServeEvent::Exited { exit, .. } => break exit,
            ServeEvent::Started { .. } | ServeEvent::Ready { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(exit.code, Some(3));
    // The output was read before the exit was reported.
    let lines = drain(&mut logs);
    assert_eq!(texts(&lines, Stream::Stdout), vec!["bye"]);
    assert_eq!(texts(&lines, Stream::Stderr), vec!["oops"]);
    assert_eq!(server.pid(), None);
}

#[tokio::test]
async fn a_clean_exit_is_still_reported_and_leftovers_are_killed() {
    let launcher = launcher(Duration::from_secs(5));
    let (mut server, mut events) = launcher
        .serve(
            sh("sleep 100 >/dev/null 2>&1 & exit 0"),
            None,
            LogSink::discard(),
        )
        .expect("serve");
    let ServeEvent::Started { pid } = recv("started", &mut events).await else {
        panic!("expected Started first");
    };
    let exit = loop {
        if let ServeEvent::Exited { exit, .. } = recv("exit", &mut events).await {
            break exit;
        }
    };
    assert_eq!(exit.code, Some(0));
    assert!(
        members(pid).is_empty(),
        "the backgrounded sleep must die with the server"
    );
    // Stopping an exited server is a no-op.
    within("stop", server.stop()).await;
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn restart_gives_a_new_pid_and_ends_the_old_group() {
    let launcher = launcher(Duration::from_secs(5));
    let (mut server, mut events) = launcher
        .serve(sh("sleep 100 & wait"), None, LogSink::discard())
        .expect("serve");
    let old = server.pid().expect("running");
    let new = within("restart", server.restart()).await.expect("restart");
    assert_ne!(old, new);
    assert_eq!(server.pid(), Some(new));
    assert!(members(old).is_empty());
    let mut seen = Vec::new();
    while seen.last() != Some(&ServeEvent::Ready { pid: new }) {
        seen.push(recv("events", &mut events).await);
    }
    assert_eq!(
        seen,
        vec![
            ServeEvent::Started { pid: old },
            ServeEvent::Ready { pid: old },
            ServeEvent::Stopped {
                pid: old,
                exit: Some(lilt_local::ExitInfo {
                    code: None,
                    signal: Some(15)
                })
            },
            ServeEvent::Started { pid: new },
            ServeEvent::Ready { pid: new },
        ]
    );
    within("stop", server.stop()).await;
    assert!(members(new).is_empty());
}

#[tokio::test]
async fn restart_after_an_exit_starts_again() {
    let launcher = launcher(Duration::from_secs(5));
    let (mut server, mut events) = launcher
        .serve(sh("exit 1"), None, LogSink::discard())
        .expect("serve");
    loop {
        if let ServeEvent::Exited { .. } = recv("exit", &mut events).await {
            break;
        }
    }
    let pid = within("restart", server.restart()).await.expect("restart");
    assert_eq!(
        recv("started", &mut events).await,
        ServeEvent::Started { pid }
    );
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let launcher = launcher(Duration::from_secs(5));
    let (server, mut events) = launcher
        .serve(sh("sleep 100 & wait"), None, LogSink::discard())
        .expect("serve");
    let pid = server.pid().expect("running");
    drop(server);
    loop {
        if let ServeEvent::Stopped { pid: p, .. } = recv("stopped", &mut events).await {
            assert_eq!(p, pid);
            break;
        }
    }
    assert!(members(pid).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_all_ends_every_group_and_counts_the_stubborn_ones() {
    let launcher = launcher(Duration::from_secs(30));
    let (sink, mut logs) = collector();
    let (_polite, _) = launcher
        .serve(sh("sleep 100 & echo polite; wait"), None, sink.clone())
        .expect("serve");
    let (_stubborn, _) = launcher
        .serve(
            sh("trap '' TERM; sleep 100 & echo stubborn; wait"),
            None,
            sink,
        )
        .expect("serve");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(recv("both up", &mut logs).await.text);
    }
    let groups = launcher.registry().groups();
    assert_eq!(groups.len(), 2);
    let registry = launcher.registry().clone();
    let killed = tokio::task::spawn_blocking(move || registry.kill_all(Duration::from_millis(300)))
        .await
        .expect("join");
    assert_eq!(killed, 1);
    for pgid in groups {
        assert!(
            members(pgid).is_empty(),
            "group {pgid} left: {:?}",
            members(pgid)
        );
    }
}
