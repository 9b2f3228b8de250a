//! One supervisor task per resource that runs a `serve_cmd`: it owns the `Server`, applies
//! start and stop requests in order, and turns the server's events into engine events.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use lilt_engine::{Event, LogLevel, LogSource, LogStore, NewLogLine, SpanId};
use lilt_local::{Launcher, LogSink, ServeEvent, Server};
use lilt_model::{Cmd, Probe};
use tokio::sync::{mpsc, oneshot};

use crate::{Input, append_log};

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

/// Shared plumbing the supervisor needs to report.
#[derive(Clone)]
pub(crate) struct Reporter {
    pub(crate) resource: String,
    pub(crate) logs: Arc<Mutex<LogStore>>,
    pub(crate) dirty: Arc<AtomicBool>,
    pub(crate) inputs: mpsc::UnboundedSender<Input>,
}

impl Reporter {
    fn event(&self, event: Event) {
        let _ = self.inputs.send(Input::Engine(event));
    }

    fn log(&self, span_id: SpanId, level: LogLevel, text: String) {
        append_log(
            &self.logs,
            &self.dirty,
            &self.inputs,
            NewLogLine {
                resource: Some(self.resource.clone()),
                span_id: Some(span_id),
                level,
                time: SystemTime::now(),
                source: LogSource::Runtime,
                text,
            },
        );
    }

    fn sink(&self, span_id: SpanId) -> LogSink {
        let me = self.clone();
        LogSink::new(move |line| me.log(span_id, LogLevel::Info, line.text))
    }
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
    let mut current: Option<(SpanId, Server, mpsc::UnboundedReceiver<ServeEvent>)> = None;
    loop {
        let event = async {
            match current.as_mut() {
                Some((_, _, events)) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            request = requests.recv() => match request {
                None => break,
                Some(Request::Stop { done }) => {
                    if let Some((_, mut server, _)) = current.take() {
                        server.stop().await;
                    }
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Some(Request::Start(start)) => {
                    let StartRequest { span_id, launcher, cmd, probe } = *start;
                    if let Some((_, mut server, _)) = current.take() {
                        server.stop().await;
                    }
                    reporter.log(span_id, LogLevel::Info, format!("Running serve cmd: {}", cmd.display()));
                    match launcher.serve(cmd, probe.as_ref(), reporter.sink(span_id)) {
                        Ok((server, events)) => current = Some((span_id, server, events)),
                        Err(e) => {
                            reporter.log(span_id, LogLevel::Error, format!("cannot start serve cmd: {e}"));
                            reporter.event(Event::ServeExited {
                                resource: reporter.resource.clone(),
                                span_id,
                                exit_code: None,
                                at: SystemTime::now(),
                            });
                        }
                    }
                }
            },
            Some(event) = event => {
                let Some((span_id, _, _)) = &current else { continue };
                forward(&reporter, *span_id, event);
            }
        }
    }
    if let Some((_, mut server, _)) = current.take() {
        server.stop().await;
    }
}

fn forward(reporter: &Reporter, span_id: SpanId, event: ServeEvent) {
    let resource = reporter.resource.clone();
    let at = SystemTime::now();
    match event {
        ServeEvent::Started { pid } => reporter.event(Event::ServeStarted {
            resource,
            span_id,
            pid,
            at,
        }),
        ServeEvent::Ready { .. } => reporter.event(Event::ProbeResult {
            resource,
            span_id,
            ready: true,
            at,
        }),
        ServeEvent::NotReady { reason, .. } => {
            reporter.log(
                span_id,
                LogLevel::Warn,
                format!("readiness probe failed: {reason}"),
            );
            reporter.event(Event::ProbeResult {
                resource,
                span_id,
                ready: false,
                at,
            });
        }
        ServeEvent::Exited { exit, .. } => {
            let code = exit.shell_code();
            reporter.log(
                span_id,
                LogLevel::Error,
                format!("serve cmd exited with status {code}"),
            );
            reporter.event(Event::ServeExited {
                resource,
                span_id,
                exit_code: Some(code),
                at,
            });
        }
        ServeEvent::Failed { reason, .. } => {
            reporter.log(
                span_id,
                LogLevel::Error,
                format!("serve cmd failed: {reason}"),
            );
            reporter.event(Event::ServeExited {
                resource,
                span_id,
                exit_code: None,
                at,
            });
        }
        ServeEvent::Stopped { .. } => {}
    }
}
