//! The watchdog: when the process owning a registry is SIGKILLed, every group it still
//! tracked is ended, and groups it let go of are left alone.
//!
//! The test re-executes its own binary with an environment variable to play the part of
//! lilt, then SIGKILLs it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use lilt_local::{Launcher, ProcessRegistry, RunOutcome, Stream};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const ROLE: &str = "LILT_LOCAL_TEST_PLAY_LILT";
const TEST_NAME: &str = "groups_die_when_their_owner_is_sigkilled";

#[test]
fn groups_die_when_their_owner_is_sigkilled() {
    if std::env::var_os(ROLE).is_some() {
        play_lilt();
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut owner = Command::new(exe)
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn owner");
    let stdout = owner.stdout.take().expect("owner stdout");
    let mut report = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read owner stdout");
        // libtest prints "test NAME ... " without a newline before the test runs.
        if let Some((_, rest)) = line.split_once("OWNER ") {
            report = Some(
                rest.split_whitespace()
                    .map(|n| n.parse::<u32>().expect("number"))
                    .collect::<Vec<_>>(),
            );
            break;
        }
    }
    let report = report.expect("owner reported its groups");
    let [polite, stubborn, watchdog, daemon] = report[..] else {
        panic!("unexpected report {report:?}");
    };
    assert!(!members(polite).is_empty() && !members(stubborn).is_empty());

    let owner_pid = Pid::from_raw(i32::try_from(owner.id()).expect("pid"));
    kill(owner_pid, Signal::SIGKILL).expect("kill owner");
    owner.wait().expect("reap owner");

    let deadline = Instant::now() + DEADLINE;
    while (!members(polite).is_empty() || !members(stubborn).is_empty() || alive(watchdog))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let daemon_alive = alive(daemon);
    let _ = kill(Pid::from_raw(daemon as i32), Signal::SIGKILL);
    assert!(
        members(polite).is_empty(),
        "polite group left: {:?}",
        members(polite)
    );
    assert!(
        members(stubborn).is_empty(),
        "stubborn group left: {:?}",
        members(stubborn)
    );
    assert!(
        !alive(watchdog),
        "the watchdog should exit after cleaning up"
    );
    assert!(
        daemon_alive,
        "a group the registry let go of must be left alone"
    );
}

/// Whether `pid` is a live (non-zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// The "lilt" side: start servers, report them, then wait to be killed.
fn play_lilt() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry =
        ProcessRegistry::with_watchdog_grace(Duration::from_millis(300)).expect("registry");
    let launcher = Launcher::new(registry.clone(), base_env());
    let (polite, stubborn, daemon) = runtime.block_on(async {
        let (sink, mut logs) = collector();
        let (polite, _) = launcher
            .serve(
                sh("sleep 100 & sleep 100 & echo polite; wait"),
                None,
                sink.clone(),
            )
            .expect("serve");
        let (stubborn, _) = launcher
            .serve(
                sh("trap '' TERM; sleep 100 & echo stubborn; wait"),
                None,
                sink,
            )
            .expect("serve");
        let mut seen = 0;
        while seen < 2 {
            recv("servers up", &mut logs).await;
            seen += 1;
        }
        let (sink, mut out) = collector();
        let outcome = launcher
            .run(
                &sh("sleep 100 >/dev/null 2>&1 & echo $!"),
                &sink,
                std::future::pending(),
            )
            .await
            .expect("run");
        assert!(matches!(outcome, RunOutcome::Exited(e) if e.success()));
        let daemon = texts(&drain(&mut out), Stream::Stdout)[0].clone();
        (polite, stubborn, daemon)
    });
    let watchdog = registry.watchdog_pid().expect("watchdog runs");
    println!(
        "OWNER {} {} {watchdog} {daemon}",
        polite.pid().expect("polite running"),
        stubborn.pid().expect("stubborn running"),
    );
    // Waits to be SIGKILLed; gives up if the other side never does, so a failing test
    // leaves nothing behind.
    std::thread::sleep(DEADLINE);
    drop((polite, stubborn));
    registry.kill_all(Duration::ZERO);
    drop(runtime);
    std::process::exit(1);
}
