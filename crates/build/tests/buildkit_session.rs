//! Each BuildKit build's session closes with the build. bollard serves the session from a
//! task it never stops; lilt runs each BuildKit build on a runtime of its own so the session
//! (a connection to the daemon) ends when the build does. This file holds one test, so its
//! process's open sockets are its own to count.

mod common;

use std::time::Duration;

use common::*;
use lilt_build::{BuildRequest, Builder};

/// Sockets this process has open.
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .map(|t| t.to_string_lossy().starts_with("socket:"))
                .unwrap_or(false)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_sessions_end_with_their_builds() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let builder = Builder::from_env(&env).unwrap();
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("bk-session");
    let build_once = |i: usize| {
        write(ctx.path(), "n.txt", &format!("{name} {i}"));
        write(
            ctx.path(),
            "Dockerfile",
            &format!("FROM {}\nCOPY n.txt /n.txt\n", s.base_image),
        );
        [buildkit_image(&name, ctx.path())]
    };
    // The first build opens the connections the builder keeps (its client's pool).
    let images = build_once(0);
    let (_, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(log.contains(" with BuildKit; "), "{}", log.text());
    let baseline = open_sockets();
    for i in 1..=4 {
        let images = build_once(i);
        let (built, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
        assert!(!built[0].cached, "{}", log.text());
    }
    // A leaked session would leave one more socket per build.
    let mut now = open_sockets();
    for _ in 0..50 {
        if now <= baseline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = open_sockets();
    }
    assert!(
        now <= baseline,
        "{now} sockets open after 4 more BuildKit builds, {baseline} before"
    );
}
