//! Every input the engine reacts to, as one closed enum.

use std::path::PathBuf;
use std::time::SystemTime;

use lilt_model::{Plan, TriggerMode};

use crate::effect::{Effect, SpanId};

/// One input. `reduce` is the only function that changes `EngineState`, and it takes these.
/// Events name the time they happened (`at`): the engine never reads a clock.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The runner dispatched these effects (sent by the runner, right after `decide`,
    /// before executing them). This is how "started" is recorded: updates become current
    /// builds, pending changes are consumed, the reload becomes running.
    Dispatched {
        effects: Vec<Effect>,
        at: SystemTime,
    },
    /// A Tiltfile evaluation finished (runner, for a `ReloadTiltfile` effect).
    TiltfileLoaded {
        span_id: SpanId,
        at: SystemTime,
        outcome: Result<Box<Plan>, TiltfileFailure>,
        /// Warnings of the evaluation, shown on `(Tiltfile)`.
        warnings: Vec<String>,
    },
    /// Config files changed (file watcher, through the runner).
    ConfigFilesChanged { paths: Vec<PathBuf>, at: SystemTime },
    /// Files watched for a resource changed (file watcher, already mapped to resources).
    ResourceFilesChanged {
        resource: String,
        paths: Vec<PathBuf>,
        at: SystemTime,
    },
    /// A trigger button, `lilt trigger` or POST `/api/trigger`. `(Tiltfile)` reloads.
    Trigger { resource: String, at: SystemTime },
    /// The UI overrides a resource's trigger mode.
    SetTriggerMode { resource: String, mode: TriggerMode },
    /// The UI toggle, `lilt enable` / `lilt disable`.
    SetEnabled {
        resource: String,
        enabled: bool,
        at: SystemTime,
    },
    /// `lilt args`: new Tiltfile args; a reload follows when they differ.
    SetTiltfileArgs { args: Vec<String>, at: SystemTime },
    /// An update finished (runner). `error: None` means success.
    UpdateFinished {
        resource: String,
        span_id: SpanId,
        at: SystemTime,
        error: Option<String>,
        warnings: Vec<String>,
    },
    /// The runtime process of a `StartRuntime` effect is running (runner).
    ServeStarted {
        resource: String,
        span_id: SpanId,
        pid: u32,
        at: SystemTime,
    },
    /// A readiness probe result for the running process (runner). Only changes are needed.
    ProbeResult {
        resource: String,
        span_id: SpanId,
        ready: bool,
        at: SystemTime,
    },
    /// The runtime process exited by itself (runner). Exits caused by a `StopRuntime` or a
    /// restart carry an old span and are ignored.
    ServeExited {
        resource: String,
        span_id: SpanId,
        exit_code: Option<i32>,
        at: SystemTime,
    },
    /// A cluster runtime's connection changed (`default` is Tilt's one cluster).
    ClusterStatus {
        name: String,
        status: crate::ClusterStatus,
    },
}

/// A Tiltfile evaluation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiltfileFailure {
    /// The error as shown on `(Tiltfile)`.
    pub message: String,
    /// Config files read before the failure: they are watched so that fixing one reloads.
    pub config_files: Vec<PathBuf>,
}
