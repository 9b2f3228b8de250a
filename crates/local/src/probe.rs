//! Readiness probes with Kubernetes semantics: initial delay, period, per-attempt timeout,
//! and success/failure thresholds of consecutive results.
//!
//! The state starts unknown; `success_threshold` successes in a row report
//! [`Readiness::Ready`], `failure_threshold` failures in a row report
//! [`Readiness::NotReady`] with the last failure's reason. Only transitions are reported.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lilt_model::{Cmd, Probe, ProbeAction};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::error::LocalError;
use crate::group::Group;
use crate::launcher::Launcher;
use crate::log::LogSink;

/// The most probe output kept for a failure reason.
const MAX_OUTPUT: usize = 1024;

/// A probe's verdict, reported when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady { reason: String },
}

/// A probe with its timing as durations (the model has whole seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTiming {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    pub action: ProbeAction,
}

impl ProbeTiming {
    /// Converts a Tiltfile probe; values of zero or less get Tilt's defaults (period 10s,
    /// timeout 1s, thresholds 1 and 3, no initial delay).
    pub fn from_probe(probe: &Probe) -> Result<Self, LocalError> {
        let secs = |v: i32, default: u64| match u64::try_from(v) {
            Ok(v) if v > 0 => Duration::from_secs(v),
            _ => Duration::from_secs(default),
        };
        let count =
            |v: i32, default: u32| u32::try_from(v).ok().filter(|&v| v > 0).unwrap_or(default);
        let timing = ProbeTiming {
            initial_delay: secs(probe.initial_delay_secs, 0),
            period: secs(probe.period_secs, 10),
            timeout: secs(probe.timeout_secs, 1),
            success_threshold: count(probe.success_threshold, 1),
            failure_threshold: count(probe.failure_threshold, 3),
            action: probe.action.clone(),
        };
        timing.validate()?;
        Ok(timing)
    }

    /// Checks that the action can be run at all.
    pub fn validate(&self) -> Result<(), LocalError> {
        let invalid = |msg: String| Err(LocalError::InvalidProbe(msg));
        if self.period.is_zero() {
            return invalid("period must be positive".into());
        }
        match &self.action {
            ProbeAction::Exec { command } if command.is_empty() => {
                invalid("exec_action has an empty command".into())
            }
            ProbeAction::Exec { .. } => Ok(()),
            ProbeAction::TcpSocket { port, .. } => check_port(*port).map(|_| ()),
            ProbeAction::HttpGet {
                port, scheme, path, ..
            } => {
                check_port(*port)?;
                match scheme.to_ascii_lowercase().as_str() {
                    "" | "http" => {}
                    "https" => {
                        return invalid(
                            "https probes are not supported by lilt; use scheme 'http' or a tcp_socket_action"
                                .into(),
                        );
                    }
                    other => return invalid(format!("unsupported scheme {other:?}")),
                }
                if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return invalid(format!("http path {path:?} contains whitespace"));
                }
                Ok(())
            }
        }
    }
}

fn check_port(port: i32) -> Result<u16, LocalError> {
    u16::try_from(port)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| LocalError::InvalidProbe(format!("port number out of range: {port}")))
}

/// A running probe loop; dropping it stops the loop.
#[derive(Debug)]
pub struct ProbeTask {
    handle: Option<JoinHandle<()>>,
}

impl ProbeTask {
    /// Starts probing, sending each transition to `tx`. Exec probes run with the
    /// launcher's environment, in lilt's working directory, as their own process groups.
    pub fn spawn(
        timing: ProbeTiming,
        launcher: Launcher,
        tx: mpsc::UnboundedSender<Readiness>,
    ) -> Self {
        Self::spawn_with(timing, launcher, move |r| {
            let _ = tx.send(r);
        })
    }

    /// Starts probing, calling `report` on each transition.
    pub fn spawn_with(
        timing: ProbeTiming,
        launcher: Launcher,
        report: impl FnMut(Readiness) + Send + 'static,
    ) -> Self {
        ProbeTask {
            handle: Some(tokio::spawn(probe_loop(timing, launcher, report))),
        }
    }

    /// Stops probing and waits until no attempt is running any more (an exec attempt's
    /// process group is killed), so nothing is reported after this returns.
    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
            let _ = handle.await;
        }
    }
}

impl Drop for ProbeTask {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

async fn probe_loop(timing: ProbeTiming, launcher: Launcher, mut report: impl FnMut(Readiness)) {
    tokio::time::sleep(timing.initial_delay).await;
    let mut ticker = tokio::time::interval(timing.period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut ready: Option<bool> = None;
    let (mut successes, mut failures) = (0u32, 0u32);
    loop {
        ticker.tick().await;
        let result =
            match tokio::time::timeout(timing.timeout, attempt(&timing.action, &launcher)).await {
                Ok(result) => result,
                Err(_) => Err(format!("timed out after {:?}", timing.timeout)),
            };
        match result {
            Ok(()) => {
                successes = successes.saturating_add(1);
                failures = 0;
                if ready != Some(true) && successes >= timing.success_threshold {
                    ready = Some(true);
                    report(Readiness::Ready);
                }
            }
            Err(reason) => {
                failures = failures.saturating_add(1);
                successes = 0;
                if ready != Some(false) && failures >= timing.failure_threshold {
                    ready = Some(false);
                    report(Readiness::NotReady { reason });
                }
            }
        }
    }
}

/// One probe attempt; `Err` carries the reason it failed.
async fn attempt(action: &ProbeAction, launcher: &Launcher) -> Result<(), String> {
    match action {
        ProbeAction::Exec { command } => exec_once(command, launcher).await,
        ProbeAction::TcpSocket { host, port } => {
            let host = host_or_localhost(host);
            let port = check_port(*port).map_err(|e| e.to_string())?;
            TcpStream::connect((host, port))
                .await
                .map(drop)
                .map_err(|e| format!("connecting to {}: {e}", host_port(host, port)))
        }
        ProbeAction::HttpGet {
            host, port, path, ..
        } => {
            let port = check_port(*port).map_err(|e| e.to_string())?;
            http_get_once(host_or_localhost(host), port, path).await
        }
    }
}

fn host_or_localhost(host: &str) -> &str {
    if host.is_empty() { "localhost" } else { host }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn exec_once(command: &[String], launcher: &Launcher) -> Result<(), String> {
    let cmd = Cmd {
        argv: command.to_vec(),
        dir: PathBuf::new(),
        env: Vec::new(),
        echo_off: true,
    };
    let output = Arc::new(Mutex::new(String::new()));
    let collected = Arc::clone(&output);
    let sink = LogSink::new(move |line| {
        let mut out = collected.lock().unwrap_or_else(|p| p.into_inner());
        if out.len() < MAX_OUTPUT {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&line.text);
        }
    });
    // A timeout drops this future, and with it the group, which SIGKILLs the group.
    let mut group = Group::spawn(&cmd, launcher.env(), &sink, launcher.registry())
        .map_err(|e| e.to_string())?;
    let exit = group.wait_leader().await.map_err(|e| e.to_string())?;
    group.kill_rest().await;
    if exit.success() {
        return Ok(());
    }
    let out = output.lock().unwrap_or_else(|p| p.into_inner());
    let out = out.trim();
    if out.is_empty() {
        Err(exit.to_string())
    } else {
        Err(format!("{exit}: {out}"))
    }
}

/// A minimal HTTP/1.1 GET: only the status line matters (200–399 is success).
async fn http_get_once(host: &str, port: u16, path: &str) -> Result<(), String> {
    let authority = host_port(host, port);
    let mut stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connecting to {authority}: {e}"))?;
    let target = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: lilt-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending request to {authority}: {e}"))?;
    let mut reader = BufReader::new(stream).take(8 * 1024);
    let mut status_line = Vec::new();
    reader
        .read_until(b'\n', &mut status_line)
        .await
        .map_err(|e| format!("reading response from {authority}: {e}"))?;
    if status_line.is_empty() {
        return Err(format!(
            "{authority} closed the connection without a response"
        ));
    }
    let line = String::from_utf8_lossy(&status_line);
    let line = line.trim_end();
    let mut parts = line.splitn(3, ' ');
    let status = match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code.parse::<u16>().ok(),
        _ => None,
    };
    match status {
        Some(code) if (200..400).contains(&code) => Ok(()),
        Some(code) => Err(format!("HTTP probe failed with statuscode: {code}")),
        None => Err(format!(
            "malformed HTTP response from {authority}: {line:?}"
        )),
    }
}
