//! One supervisor task per resource that runs a `serve_cmd`: it owns the `Server`, applies
//! start and stop requests in order, and turns the server's events into engine events.

use lilt_engine::{LogLevel, LogSource, RuntimeReport, SpanId};
use lilt_local::{Launcher, ServeEvent, Server};
use lilt_model::{Cmd, Probe};
use tokio::sync::{mpsc, oneshot};

use super::Reporter;

enum Request {
    // Boxed: a start carries a whole launcher and command, a stop almost nothing.
    Start(Box<StartRequest>),
    Stop { done: Option<oneshot::Sender<()>> },
}

struct StartRequest {
    span_id: SpanId,
    launcher: Launcher,
    cmd: Cmd,
    probe: Option<Probe>,
}

/// The handle the loop keeps per resource.
pub(crate) struct ServeCtl {
    tx: mpsc::UnboundedSender<Request>,
}

impl ServeCtl {
    pub(crate) fn spawn(reporter: Reporter) -> ServeCtl {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(supervise(reporter, rx));
        ServeCtl { tx }
    }

    pub(crate) fn start(
        &self,
        span_id: SpanId,
        launcher: Launcher,
        cmd: Cmd,
        probe: Option<Probe>,
    ) {
        let _ = self.tx.send(Request::Start(Box::new(StartRequest {
            span_id,
            launcher,
            cmd,
            probe,
        })));
    }

    pub(crate) fn stop(&self) {
        let _ = self.tx.send(Request::Stop { done: None });
    }

    /// Stops the server and resolves once its whole process group is gone.
    pub(crate) fn stop_and_wait(self) -> impl std::future::Future<Output = ()> {
        let (done, wait) = oneshot::channel();
        let _ = self.tx.send(Request::Stop { done: Some(done) });
        async move {
            let _ = wait.await;
        }
    }
}

async fn supervise(reporter: Reporter, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut current: Option<(SpanId, bool, Server, mpsc::UnboundedReceiver<ServeEvent>)> = None;
    loop {
        let event = async {
            match current.as_mut() {
                Some((_, _, _, events)) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            request = requests.recv() => match request {
                None => break,
                Some(Request::Stop { done }) => {
                    if let Some((_, _, mut server, _)) = current.take() {
                        server.stop().await;
                    }
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Some(Request::Start(start)) => {
                    let StartRequest { span_id, launcher, cmd, probe } = *start;
                    if let Some((_, _, mut server, _)) = current.take() {
                        server.stop().await;
                    }
                    reporter.runtime_log(span_id, LogLevel::Info, format!("Running serve cmd: {}", cmd.display()));
                    let has_probe = probe.is_some();
                    match launcher.serve(cmd, probe.as_ref(), reporter.sink(span_id, LogSource::Runtime)) {
                        Ok((server, events)) => current = Some((span_id, has_probe, server, events)),
                        Err(e) => {
                            let reason = format!("cannot start serve cmd: {e}");
                            reporter.runtime_log(span_id, LogLevel::Error, reason.clone());
                            reporter.runtime(span_id, RuntimeReport::Exited { exit_code: None, reason: Some(reason) });
                        }
                    }
                }
            },
            Some(event) = event => {
                let Some((span_id, has_probe, _, _)) = &current else { continue };
                forward(&reporter, *span_id, *has_probe, event);
            }
        }
    }
    if let Some((_, _, mut server, _)) = current.take() {
        server.stop().await;
    }
}

fn forward(reporter: &Reporter, span_id: SpanId, has_probe: bool, event: ServeEvent) {
    let report = match event {
        // Without a probe there is nothing more to wait for.
        ServeEvent::Started { pid } => RuntimeReport::Running {
            pid: Some(pid),
            ready: !has_probe,
        },
        ServeEvent::Ready { .. } => RuntimeReport::Ready(true),
        ServeEvent::NotReady { reason, .. } => {
            reporter.runtime_log(
                span_id,
                LogLevel::Warn,
                format!("readiness probe failed: {reason}"),
            );
            RuntimeReport::Ready(false)
        }
        ServeEvent::Exited { exit, .. } => {
            let code = exit.shell_code();
            reporter.runtime_log(
                span_id,
                LogLevel::Error,
                format!("serve cmd exited with status {code}"),
            );
            RuntimeReport::Exited {
                exit_code: Some(code),
                reason: None,
            }
        }
        ServeEvent::Failed { reason, .. } => {
            let reason = format!("serve cmd failed: {reason}");
            reporter.runtime_log(span_id, LogLevel::Error, reason.clone());
            RuntimeReport::Exited {
                exit_code: None,
                reason: Some(reason),
            }
        }
        ServeEvent::Stopped { .. } => return,
    };
    reporter.runtime(span_id, report);
}
