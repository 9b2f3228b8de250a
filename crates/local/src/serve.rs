//! Supervising a `serve_cmd`: start, report, stop, restart.
//!
//! Each start is an *incarnation* with its own pid, supervised by one task. Every event
//! carries the pid, so a late event from an old incarnation is never mistaken for the
//! current one.

use lilt_model::Cmd;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::LocalError;
use crate::group::{ExitInfo, Group};
use crate::launcher::Launcher;
use crate::log::LogSink;
use crate::probe::{ProbeTask, ProbeTiming, Readiness};

/// What happened to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeEvent {
    /// A new incarnation is running.
    Started { pid: u32 },
    /// It passed its readiness probe, or has none (then it is ready once started, as in Tilt).
    Ready { pid: u32 },
    /// Its readiness probe failed `failure_threshold` times in a row.
    NotReady { pid: u32, reason: String },
    /// It exited on its own: always an error for a server, even with code 0. What was left
    /// of its group has been killed and its output read.
    Exited { pid: u32, exit: ExitInfo },
    /// Waiting for it failed; treat like `Exited`.
    Failed { pid: u32, reason: String },
    /// It was stopped by [`Server::stop`], [`Server::restart`] or dropping the [`Server`].
    Stopped { pid: u32, exit: Option<ExitInfo> },
}

/// A running (or exited) `serve_cmd`. Dropping it stops the server in the background.
#[derive(Debug)]
pub struct Server {
    launcher: Launcher,
    cmd: Cmd,
    probe: Option<ProbeTiming>,
    sink: LogSink,
    events: mpsc::UnboundedSender<ServeEvent>,
    current: Option<Incarnation>,
}

#[derive(Debug)]
struct Incarnation {
    pid: u32,
    // Dropping the sender also asks the supervisor to stop.
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    pub(crate) fn start(
        launcher: Launcher,
        cmd: Cmd,
        probe: Option<ProbeTiming>,
        sink: LogSink,
    ) -> Result<(Server, mpsc::UnboundedReceiver<ServeEvent>), LocalError> {
        let (events, rx) = mpsc::unbounded_channel();
        let mut server = Server {
            launcher,
            cmd,
            probe,
            sink,
            events,
            current: None,
        };
        server.spawn()?;
        Ok((server, rx))
    }

    fn spawn(&mut self) -> Result<u32, LocalError> {
        let group = Group::spawn(
            &self.cmd,
            self.launcher.env(),
            &self.sink,
            self.launcher.registry(),
        )?;
        let pid = group.pid();
        // Sent here rather than by the task so it precedes anything the task reports.
        let _ = self.events.send(ServeEvent::Started { pid });
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(supervise(
            group,
            self.probe.clone(),
            self.launcher.clone(),
            self.events.clone(),
            stop_rx,
        ));
        self.current = Some(Incarnation {
            pid,
            stop: Some(stop),
            task,
        });
        Ok(pid)
    }

    /// The pid of the current incarnation while it has not finished.
    pub fn pid(&self) -> Option<u32> {
        self.current
            .as_ref()
            .filter(|inc| !inc.task.is_finished())
            .map(|inc| inc.pid)
    }

    /// Stops the server: SIGTERM to its group, SIGKILL after the launcher's grace; returns
    /// once the whole group is gone and its output read. Does nothing if it already exited.
    pub async fn stop(&mut self) {
        if let Some(mut inc) = self.current.take() {
            if let Some(stop) = inc.stop.take() {
                let _ = stop.send(());
            }
            let _ = inc.task.await;
        }
    }

    /// Stops the server (if running) and starts it again; returns the new pid. The
    /// readiness probe starts over.
    pub async fn restart(&mut self) -> Result<u32, LocalError> {
        self.stop().await;
        self.spawn()
    }
}

async fn supervise(
    mut group: Group,
    probe: Option<ProbeTiming>,
    launcher: Launcher,
    events: mpsc::UnboundedSender<ServeEvent>,
    mut stop_rx: oneshot::Receiver<()>,
) {
    let pid = group.pid();
    let probe_task = match probe {
        Some(timing) => {
            let events = events.clone();
            Some(ProbeTask::spawn_with(timing, launcher.clone(), move |r| {
                let _ = events.send(match r {
                    Readiness::Ready => ServeEvent::Ready { pid },
                    Readiness::NotReady { reason } => ServeEvent::NotReady { pid, reason },
                });
            }))
        }
        None => {
            let _ = events.send(ServeEvent::Ready { pid });
            None
        }
    };
    tokio::select! {
        exit = group.wait_leader() => {
            if let Some(task) = probe_task {
                task.stop().await;
            }
            group.kill_rest().await;
            let _ = events.send(match exit {
                Ok(exit) => ServeEvent::Exited { pid, exit },
                Err(e) => ServeEvent::Failed { pid, reason: e.to_string() },
            });
        }
        _ = &mut stop_rx => {
            if let Some(task) = probe_task {
                task.stop().await;
            }
            let exit = group.terminate(launcher.grace()).await;
            let _ = events.send(ServeEvent::Stopped { pid, exit });
        }
    }
}
