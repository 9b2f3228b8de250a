//! The entry point the runner uses: one-shot `cmd` runs and `serve_cmd` servers.

use std::future::Future;
use std::time::Duration;

use lilt_model::{Cmd, Probe};
use tokio::sync::mpsc;

use crate::env::ExecEnv;
use crate::error::LocalError;
use crate::group::{ExitInfo, Group};
use crate::log::LogSink;
use crate::probe::ProbeTiming;
use crate::reaper::ProcessRegistry;
use crate::serve::{ServeEvent, Server};

/// Tilt's grace between SIGTERM and SIGKILL (Kubernetes uses the same).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// How a one-shot command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The command exited on its own and its output is closed.
    Exited(ExitInfo),
    /// The caller cancelled; the whole group was ended.
    Cancelled,
}

/// Starts local commands with a shared environment, registry and stop grace. Cheap to
/// clone; make a new one when a Tiltfile reload changes the environment.
#[derive(Debug, Clone)]
pub struct Launcher {
    env: ExecEnv,
    registry: ProcessRegistry,
    grace: Duration,
}

impl Launcher {
    pub fn new(registry: ProcessRegistry, env: ExecEnv) -> Self {
        Launcher {
            env,
            registry,
            grace: DEFAULT_GRACE,
        }
    }

    /// Sets the time between SIGTERM and SIGKILL when stopping or cancelling.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    pub fn env(&self) -> &ExecEnv {
        &self.env
    }

    pub fn registry(&self) -> &ProcessRegistry {
        &self.registry
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Runs `cmd` to completion, streaming its output into `sink`.
    ///
    /// Like Tilt, the run lasts until the command has exited *and* its output is closed, so
    /// a background process still writing to it keeps the run going; one that redirected
    /// its output (a daemon started with `&`) is left running. When `cancel` resolves first,
    /// the whole group gets SIGTERM, then SIGKILL after the grace. Dropping the returned
    /// future SIGKILLs the group at once.
    pub async fn run(
        &self,
        cmd: &Cmd,
        sink: &LogSink,
        cancel: impl Future<Output = ()>,
    ) -> Result<RunOutcome, LocalError> {
        let mut group = Group::spawn(cmd, &self.env, sink, &self.registry)?;
        tokio::pin!(cancel);
        let exit = tokio::select! {
            exit = group.wait_leader() => exit?,
            () = &mut cancel => {
                group.terminate(self.grace).await;
                return Ok(RunOutcome::Cancelled);
            }
        };
        tokio::select! {
            () = group.wait_output_closed() => {}
            () = &mut cancel => {
                group.terminate(self.grace).await;
                return Ok(RunOutcome::Cancelled);
            }
        }
        group.release();
        Ok(RunOutcome::Exited(exit))
    }

    /// Starts `cmd` as a server, with an optional readiness probe.
    ///
    /// The probe is checked before anything starts, so an invalid one (https, a bad port,
    /// an empty command) is an error and no process runs, as in Tilt.
    pub fn serve(
        &self,
        cmd: Cmd,
        probe: Option<&Probe>,
        sink: LogSink,
    ) -> Result<(Server, mpsc::UnboundedReceiver<ServeEvent>), LocalError> {
        let probe = probe.map(ProbeTiming::from_probe).transpose()?;
        Server::start(self.clone(), cmd, probe, sink)
    }

    /// Like [`serve`](Self::serve) with explicit probe timing (sub-second periods, for tests
    /// and callers that compute their own).
    pub fn serve_with_timing(
        &self,
        cmd: Cmd,
        probe: Option<ProbeTiming>,
        sink: LogSink,
    ) -> Result<(Server, mpsc::UnboundedReceiver<ServeEvent>), LocalError> {
        if let Some(probe) = &probe {
            probe.validate()?;
        }
        Server::start(self.clone(), cmd, probe, sink)
    }
}
