//! Readiness probes against real listeners, HTTP servers and commands, alone and attached
//! to servers. Assertions are on reported transitions, never on elapsed time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use common::*;
use lilt_local::{LocalError, LogSink, ProbeTask, ProbeTiming, Readiness, ServeEvent};
use lilt_model::{Probe, ProbeAction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

fn timing(action: ProbeAction) -> ProbeTiming {
    ProbeTiming {
        initial_delay: Duration::ZERO,
        period: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        success_threshold: 1,
        failure_threshold: 1,
        action,
    }
}

fn exec(script: &str) -> ProbeAction {
    ProbeAction::Exec {
        command: vec!["sh".into(), "-c".into(), script.into()],
    }
}

fn http(port: u16, path: &str) -> ProbeAction {
    ProbeAction::HttpGet {
        host: "127.0.0.1".into(),
        port: port.into(),
        scheme: "http".into(),
        path: path.into(),
    }
}

fn start(timing: ProbeTiming) -> (ProbeTask, mpsc::UnboundedReceiver<Readiness>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        ProbeTask::spawn(timing, launcher(Duration::from_secs(1)), tx),
        rx,
    )
}

async fn not_ready(rx: &mut mpsc::UnboundedReceiver<Readiness>) -> String {
    match recv("not ready", rx).await {
        Readiness::NotReady { reason } => reason,
        Readiness::Ready => panic!("expected NotReady, got Ready"),
    }
}

/// A tiny HTTP server answering every request with the current `status`, or closing the
/// connection without answering when it is 0. Sends each request line to the channel.
async fn http_server(status: Arc<AtomicU16>) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let status = status.load(Ordering::SeqCst);
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf);
                let _ = tx.send(text.lines().next().unwrap_or_default().to_string());
                if status != 0 {
                    let reply = format!(
                        "HTTP/1.1 {status} Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn tcp_probe_follows_a_real_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (task, mut rx) = start(timing(ProbeAction::TcpSocket {
        host: "127.0.0.1".into(),
        port: port.into(),
    }));
    assert_eq!(recv("ready", &mut rx).await, Readiness::Ready);
    drop(listener);
    let reason = not_ready(&mut rx).await;
    assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
    assert!(reason.to_lowercase().contains("refused"), "{reason}");
    task.stop().await;
}

#[tokio::test]
async fn http_probe_follows_the_status_code() {
    let status = Arc::new(AtomicU16::new(200));
    let (port, mut requests) = http_server(Arc::clone(&status)).await;
    let (task, mut rx) = start(timing(http(port, "healthz")));
    assert_eq!(recv("ready", &mut rx).await, Readiness::Ready);
    assert_eq!(
        recv("request", &mut requests).await,
        "GET /healthz HTTP/1.1"
    );
    status.store(500, Ordering::SeqCst);
    assert_eq!(
        not_ready(&mut rx).await,
        "HTTP probe failed with statuscode: 500"
    );
    status.store(302, Ordering::SeqCst);
    assert_eq!(recv("ready again", &mut rx).await, Readiness::Ready);
    task.stop().await;
}

#[tokio::test]
async fn http_probe_fails_when_the_server_closes_without_answering() {
    let status = Arc::new(AtomicU16::new(0));
    let (port, _requests) = http_server(status).await;
    let (task, mut rx) = start(timing(http(port, "/")));
    let reason = not_ready(&mut rx).await;
    assert!(
        reason.contains("closed the connection without a response"),
        "{reason}"
    );
    task.stop().await;
}

#[tokio::test]
async fn exec_probe_passes_on_true_and_fails_on_false() {
    let (task, mut rx) = start(timing(ProbeAction::Exec {
        command: vec!["true".into()],
    }));
    assert_eq!(recv("ready", &mut rx).await, Readiness::Ready);
    task.stop().await;

    let (task, mut rx) = start(timing(exec("echo nope; exit 1")));
    assert_eq!(not_ready(&mut rx).await, "exit status 1: nope");
    task.stop().await;
}

#[tokio::test]
async fn exec_probe_hitting_the_timeout_fails_and_leaves_no_process() {
    let launcher = launcher(Duration::from_secs(1));
    let registry = launcher.registry().clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut t = timing(exec("sleep 100"));
    t.timeout = Duration::from_millis(100);
    let task = ProbeTask::spawn(t, launcher, tx);
    let reason = not_ready(&mut rx).await;
    assert!(reason.contains("timed out after 100ms"), "{reason}");
    task.stop().await;
    assert!(
        registry.groups().is_empty(),
        "left: {:?}",
        registry.groups()
    );
}

#[tokio::test]
async fn thresholds_count_consecutive_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = dir.path().join("counter");
    // Attempt n (from 0) fails where the pattern has F; after the pattern, all succeed.
    let script = format!(
        r#"n=$(cat '{c}' 2>/dev/null || echo 0); echo $((n+1)) > '{c}'
c=$(printf %s SFFFSSFFSFFF | cut -c$((n+1)))
if [ "$c" = F ]; then echo "attempt $n"; exit 1; fi"#,
        c = counter.display()
    );
    let mut t = timing(exec(&script));
    t.success_threshold = 2;
    t.failure_threshold = 3;
    let (task, mut rx) = start(t);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(recv("transition", &mut rx).await);
    }
    task.stop().await;
    let reason = |n: u32| Readiness::NotReady {
        reason: format!("exit status 1: attempt {n}"),
    };
    // From unknown: one success is not enough, three failures are; a success in between
    // resets the failure count.
    assert_eq!(
        seen,
        vec![reason(3), Readiness::Ready, reason(11), Readiness::Ready]
    );
}

#[tokio::test]
async fn initial_delay_holds_the_first_attempt_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("delayed-probe-ran");
    let mut delayed = timing(exec(&format!("touch '{}'; exit 1", marker.display())));
    delayed.initial_delay = Duration::from_secs(3600);
    let (delayed_task, mut delayed_rx) = start(delayed);
    // A probe without delay serves as the clock: it reports after three attempts.
    let mut reference = timing(exec("exit 1"));
    reference.failure_threshold = 3;
    let (reference_task, mut reference_rx) = start(reference);
    not_ready(&mut reference_rx).await;
    assert!(
        !marker.exists(),
        "the delayed probe ran before its initial delay"
    );
    assert!(delayed_rx.try_recv().is_err());
    delayed_task.stop().await;
    reference_task.stop().await;
}

#[tokio::test]
async fn a_server_probe_reports_with_the_pid_and_stops_with_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let launcher = launcher(Duration::from_secs(5));
    let probe = timing(ProbeAction::TcpSocket {
        host: "127.0.0.1".into(),
        port: port.into(),
    });
    let (mut server, mut events) = launcher
        .serve_with_timing(sh("sleep 100"), Some(probe), LogSink::discard())
        .expect("serve");
    let pid = server.pid().expect("running");
    assert_eq!(
        recv("started", &mut events).await,
        ServeEvent::Started { pid }
    );
    assert_eq!(recv("ready", &mut events).await, ServeEvent::Ready { pid });
    server.stop().await;
    let mut rest = Vec::new();
    while let Ok(event) = events.try_recv() {
        rest.push(event);
    }
    assert!(
        matches!(rest.last(), Some(ServeEvent::Stopped { pid: p, .. }) if *p == pid),
        "{rest:?}"
    );
    // Nothing is reported after the stop, even though the listener still accepts: once the
    // server handle is gone, every task that could report has ended and the channel closes
    // with nothing more in it (a single yield proved nothing: the probe ticks every 20 ms).
    drop(server);
    let next = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("the probe and supervisor end after stop");
    assert_eq!(next, None);
    drop(listener);
}

#[tokio::test]
async fn a_failing_server_probe_reports_not_ready_with_the_pid() {
    let launcher = launcher(Duration::from_secs(5));
    let (mut server, mut events) = launcher
        .serve_with_timing(
            sh("sleep 100"),
            Some(timing(exec("exit 4"))),
            LogSink::discard(),
        )
        .expect("serve");
    let pid = server.pid().expect("running");
    assert_eq!(
        recv("started", &mut events).await,
        ServeEvent::Started { pid }
    );
    assert_eq!(
        recv("not ready", &mut events).await,
        ServeEvent::NotReady {
            pid,
            reason: "exit status 4".into()
        }
    );
    server.stop().await;
}

fn model_probe(action: ProbeAction) -> Probe {
    Probe {
        initial_delay_secs: 0,
        timeout_secs: 0,
        period_secs: 0,
        success_threshold: 0,
        failure_threshold: 0,
        action,
    }
}

#[test]
fn tilt_defaults_fill_in_unset_values() {
    let t = ProbeTiming::from_probe(&model_probe(ProbeAction::TcpSocket {
        host: String::new(),
        port: 8080,
    }))
    .expect("valid");
    assert_eq!(t.period, Duration::from_secs(10));
    assert_eq!(t.timeout, Duration::from_secs(1));
    assert_eq!(t.initial_delay, Duration::ZERO);
    assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
}

#[tokio::test]
async fn invalid_probes_are_errors_and_start_nothing() {
    let https = ProbeAction::HttpGet {
        host: "localhost".into(),
        port: 443,
        scheme: "https".into(),
        path: "/".into(),
    };
    let cases = [
        (https, "https probes are not supported"),
        (
            ProbeAction::TcpSocket {
                host: "localhost".into(),
                port: 70000,
            },
            "port number out of range: 70000",
        ),
        (ProbeAction::Exec { command: vec![] }, "empty command"),
        (http(80, "/a b"), "contains whitespace"),
    ];
    let launcher = launcher(Duration::from_secs(1));
    for (action, want) in cases {
        let err = launcher
            .serve(
                sh("sleep 100"),
                Some(&model_probe(action)),
                LogSink::discard(),
            )
            .expect_err("invalid probe");
        assert!(matches!(err, LocalError::InvalidProbe(_)));
        assert!(
            err.to_string().contains(want),
            "{err} should contain {want}"
        );
    }
    assert!(launcher.registry().groups().is_empty());
}
