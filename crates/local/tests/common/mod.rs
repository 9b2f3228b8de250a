//! Helpers shared by the integration tests: launchers, log collectors, bounded waits.
//!
//! The deadlines here only turn a hang into a failure; no test asserts on elapsed time.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use lilt_local::{ExecEnv, Launcher, LogLine, LogSink, ProcessRegistry, Stream, procfs};
use lilt_model::Cmd;
use tokio::sync::mpsc;

/// Long enough that only a real hang hits it.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A minimal explicit environment: only PATH, so the test process's own variables must
/// not leak into children.
pub fn base_env() -> ExecEnv {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    ExecEnv::new([(std::ffi::OsString::from("PATH"), path)])
}

pub fn launcher(grace: Duration) -> Launcher {
    let registry = ProcessRegistry::new().expect("start watchdog");
    Launcher::new(registry, base_env()).with_grace(grace)
}

pub fn sh(script: &str) -> Cmd {
    Cmd {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        dir: PathBuf::new(),
        env: Vec::new(),
        echo_off: false,
    }
}

pub fn collector() -> (LogSink, mpsc::UnboundedReceiver<LogLine>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (LogSink::from(tx), rx)
}

/// Everything received so far.
pub fn drain(rx: &mut mpsc::UnboundedReceiver<LogLine>) -> Vec<LogLine> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.try_recv() {
        lines.push(line);
    }
    lines
}

pub fn texts(lines: &[LogLine], stream: Stream) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.clone())
        .collect()
}

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("gave up waiting for {what}"),
    }
}

pub async fn recv<T>(what: &str, rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    within(what, rx.recv())
        .await
        .unwrap_or_else(|| panic!("channel closed while waiting for {what}"))
}

/// Polls `cond` until it holds.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Waits for the next log line with exactly `text`.
pub async fn wait_for_line(rx: &mut mpsc::UnboundedReceiver<LogLine>, text: &str) {
    loop {
        if recv(text, rx).await.text == text {
            return;
        }
    }
}

/// Live (non-zombie) members of process group `pgid`.
pub fn members(pgid: u32) -> Vec<u32> {
    procfs::group_members(pgid)
}
