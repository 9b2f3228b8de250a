//! Every input the engine reacts to, as one closed enum.

use std::path::PathBuf;
use std::time::SystemTime;

use lilt_model::{BuiltImage, LiveUpdateRecord, Plan, TriggerMode};

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
    /// An update finished (runner). `error: None` means success. `images` are the images
    /// the update built or found up to date, dependencies first.
    UpdateFinished {
        resource: String,
        span_id: SpanId,
        at: SystemTime,
        error: Option<String>,
        warnings: Vec<String>,
        images: Vec<BuiltImage>,
        /// Set when the update was a live update (files synced into running containers).
        live_update: Option<LiveUpdateRecord>,
    },
    /// The runtime of a `StartRuntime` effect reports a phase (runner). Reports that carry
    /// an old span (a stop or a restart came after) are ignored.
    Runtime {
        resource: String,
        span_id: SpanId,
        report: RuntimeReport,
        at: SystemTime,
    },
    /// A button was clicked in the dashboard (or through the API), with its inputs.
    ButtonClicked {
        name: String,
        inputs: Vec<(String, String)>,
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

/// What runs for a resource, as the dashboard and `lilt describe` show it (Tilt's
/// `k8sResourceInfo` for a pod).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeInfo {
    /// The pod (or container) name.
    pub name: String,
    /// `Running`, `Pending`, or the waiting reason (`CrashLoopBackOff`, ...).
    pub status: String,
    pub restarts: u32,
    pub created: Option<SystemTime>,
    pub all_ready: bool,
    /// A Compose container's health check verdict (`starting`, `healthy`, `unhealthy`);
    /// `None` without a check (and for pods).
    pub health: Option<String>,
}

/// What a runtime reports about the long-running part of a resource. The same for every
/// runtime: a local process, compose containers and Kubernetes pods all report phases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeReport {
    /// It runs. `ready` is true when there is nothing more to wait for (no readiness
    /// probe); otherwise a `Ready(true)` follows.
    Running { pid: Option<u32>, ready: bool },
    /// Readiness changed (a probe, a pod's Ready condition, a container's health check).
    Ready(bool),
    /// What runs, for display: the current pod (or container), its status and restarts.
    /// Changes nothing else.
    Info(RuntimeInfo),
    /// It still runs but is in an error state it may leave by itself (a pod that failed or
    /// cannot pull its image): `Some(why)`; `None` once it left it. The resource's runtime
    /// status is `error` meanwhile, and `lilt ci` fails (after `ci_settings`'
    /// `k8s_grace_period`, if one is set).
    Failing(Option<String>),
    /// It ended by itself: a runtime error. A stop asked by the engine is not reported.
    Exited {
        exit_code: Option<i32>,
        reason: Option<String>,
    },
}
