//! `EngineState`, the single source of truth, and the per-resource records it holds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lilt_model::{BuiltImage, DeployTarget, LiveUpdateRecord, Manifest, Settings, TriggerMode};

use crate::effect::{BuildReason, LogLevel, SpanId, StopReason};

/// How the engine was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    /// `lilt up`: never exits by itself.
    Up,
    /// `lilt ci`: exits by [`crate::ci_status`].
    Ci,
}

/// What the CLI passes in at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    pub mode: EngineMode,
    /// Tiltfile args from the command line (`lilt up -- a b`).
    pub tiltfile_args: Vec<String>,
    /// `--timeout` of `lilt ci` (Tilt's default is 30m); `ci_settings(timeout=)` wins.
    pub ci_timeout: Duration,
}

/// Everything the engine knows. Cloning is cheap enough to publish a snapshot after each
/// batch of events: manifests are shared (`Arc`), per-resource records are small (build
/// history is capped at two finished builds plus the current one), and logs live apart in
/// [`crate::LogStore`].
#[derive(Debug, Clone)]
pub struct EngineState {
    pub mode: EngineMode,
    /// When the engine started: the origin of `lilt ci`'s global timeout.
    pub start_time: SystemTime,
    pub ci_timeout: Duration,
    pub tiltfile: TiltfileState,
    /// Resources of the last good Plan, in its order.
    pub resources: Vec<ResourceState>,
    /// Settings of the last good Plan.
    pub settings: Settings,
    /// The last good Plan's `enabled` list, to tell which toggles a reload changes.
    pub plan_enabled: BTreeSet<String>,
    /// Files whose change reloads the Tiltfile (from the last load, good or not).
    pub config_files: BTreeSet<PathBuf>,
    /// Args for the next reload.
    pub tiltfile_args: Vec<String>,
    /// Manually triggered resources waiting for an update, first come first served.
    pub trigger_queue: Vec<String>,
    /// Runtimes to stop, not yet dispatched.
    pub pending_stops: Vec<(String, StopReason)>,
    /// Engine messages not yet dispatched as `Effect::Log`.
    pub pending_logs: VecDeque<EngineLog>,
    /// Connections to clusters, by Tilt's cluster name (`default`), as a cluster runtime
    /// reports them. A cluster no runtime has reported holds nothing back: its resources are
    /// dispatched and their runtime says what it can do.
    pub clusters: BTreeMap<String, ClusterStatus>,
    /// The last click of each button, with its input values (shown by the dashboard).
    pub button_clicks: BTreeMap<String, ButtonClick>,
    /// Clicks whose action (`Effect::RunButton`) is not dispatched yet.
    pub pending_buttons: VecDeque<PendingButton>,
    pub(crate) next_span: u64,
    pub(crate) next_log_seq: u64,
}

/// The connection to a cluster, as its runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterStatus {
    /// Connecting (or reconnecting): resources deployed there wait, with the hold reason
    /// `waiting-for-cluster`.
    Connecting,
    Ready,
    /// The connection failed; the message says why. Resources are dispatched and fail with
    /// their runtime's error rather than wait forever.
    Error(String),
}

/// A button click as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonClick {
    pub at: SystemTime,
    pub inputs: Vec<(String, String)>,
}

/// A click whose action has not been dispatched yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingButton {
    pub seq: u64,
    pub name: String,
    pub inputs: Vec<(String, String)>,
}

/// A message the engine wants in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineLog {
    pub seq: u64,
    pub resource: Option<String>,
    pub level: LogLevel,
    pub text: String,
}

/// The `(Tiltfile)` pseudo-resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TiltfileState {
    /// A reload was asked for and has not started.
    pub pending: Option<PendingReload>,
    /// The evaluation running now.
    pub current: Option<BuildRecord>,
    /// Finished evaluations, newest last, at most two.
    pub history: VecDeque<BuildRecord>,
    /// Warnings of the last evaluation.
    pub warnings: Vec<String>,
}

/// Why a reload is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReload {
    /// When the first reason arrived.
    pub since: SystemTime,
    pub changed_files: BTreeSet<PathBuf>,
}

/// One update or evaluation: when it ran, why, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecord {
    pub span_id: SpanId,
    pub reason: BuildReason,
    pub changed_files: Vec<PathBuf>,
    pub start_time: SystemTime,
    pub finish_time: Option<SystemTime>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// Images the update built or found up to date (empty for evaluations and local
    /// resources).
    pub images: Vec<BuiltImage>,
    /// Set when the update synced files into running containers instead of deploying.
    pub live_update: Option<LiveUpdateRecord>,
}

/// One resource of the Plan and everything that happened to it.
#[derive(Debug, Clone)]
pub struct ResourceState {
    pub manifest: Arc<Manifest>,
    /// The effective trigger mode: the Tiltfile's, or the UI's override.
    pub trigger_mode: TriggerMode,
    pub enabled: bool,
    /// Watched files changed since the last update started, with the time of the first
    /// change not yet consumed.
    pub pending_files: BTreeMap<PathBuf, SystemTime>,
    /// A reload changed the definition at this time.
    pub pending_config_change: Option<SystemTime>,
    /// Set while the resource is in the trigger queue.
    pub triggered_at: Option<SystemTime>,
    pub current_build: Option<BuildRecord>,
    /// Finished updates, newest last, at most two.
    pub history: VecDeque<BuildRecord>,
    /// Updates started since the resource appeared or was last re-enabled.
    pub build_count: u64,
    /// The last time the resource was ready (or its update succeeded, for one without a
    /// readiness concept). Gates the first update of its dependents.
    pub last_ready_or_succeeded: Option<SystemTime>,
    pub last_deploy_time: Option<SystemTime>,
    /// The images of the last update that built any, dependencies first.
    pub images: Vec<BuiltImage>,
    pub runtime: RuntimeState,
}

/// The long-running part of a resource (a local `serve_cmd`, containers, pods), as its
/// runtime reports it: phases and readiness, whatever the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeState {
    /// A (re)start is due and not dispatched yet.
    pub start_requested: bool,
    pub phase: RuntimePhase,
    pub ready: bool,
    /// What runs, for display (the current pod), as the runtime last reported it.
    pub info: Option<crate::event::RuntimeInfo>,
    /// While it runs: why it is in an error state, as the runtime last reported it
    /// ([`crate::RuntimeReport::Failing`]).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RuntimePhase {
    /// Never started, or stopped by the engine.
    #[default]
    Idle,
    /// `StartRuntime` was dispatched; the runtime has not reported it running yet.
    Starting { span_id: SpanId, since: SystemTime },
    Running {
        span_id: SpanId,
        /// The process id, for runtimes that run a local process (Tilt's view shows it).
        pid: Option<u32>,
        since: SystemTime,
    },
    /// It ended by itself: a runtime error.
    Exited {
        span_id: SpanId,
        pid: Option<u32>,
        exit_code: Option<i32>,
        /// Why, when there is no exit code to tell (it could not start, a pod was evicted).
        reason: Option<String>,
        since: SystemTime,
        at: SystemTime,
    },
}

impl EngineState {
    /// A fresh engine that wants to load the Tiltfile first.
    pub fn new(config: EngineConfig, now: SystemTime) -> EngineState {
        EngineState {
            mode: config.mode,
            start_time: now,
            ci_timeout: config.ci_timeout,
            tiltfile: TiltfileState {
                pending: Some(PendingReload {
                    since: now,
                    changed_files: BTreeSet::new(),
                }),
                ..TiltfileState::default()
            },
            resources: Vec::new(),
            settings: Settings::default(),
            plan_enabled: BTreeSet::new(),
            config_files: BTreeSet::new(),
            tiltfile_args: config.tiltfile_args,
            trigger_queue: Vec::new(),
            pending_stops: Vec::new(),
            pending_logs: VecDeque::new(),
            clusters: BTreeMap::new(),
            button_clicks: BTreeMap::new(),
            pending_buttons: VecDeque::new(),
            next_span: 1,
            next_log_seq: 1,
        }
    }

    pub fn resource(&self, name: &str) -> Option<&ResourceState> {
        self.resources.iter().find(|r| r.manifest.name == name)
    }

    pub(crate) fn resource_mut(&mut self, name: &str) -> Option<&mut ResourceState> {
        self.resources.iter_mut().find(|r| r.manifest.name == name)
    }

    /// Updates running now.
    pub fn building_count(&self) -> usize {
        self.resources
            .iter()
            .filter(|r| r.current_build.is_some())
            .count()
    }

    /// Free update slots under `max_parallel_updates` (never negative when the setting
    /// shrinks below what runs).
    pub fn available_slots(&self) -> usize {
        let max = self.settings.update.max_parallel_updates.max(1) as usize;
        max.saturating_sub(self.building_count())
    }

    /// The Tiltfile wants to run or is running: no update may start.
    pub fn tiltfile_busy(&self) -> bool {
        self.tiltfile.pending.is_some() || self.tiltfile.current.is_some()
    }

    pub(crate) fn log(&mut self, resource: Option<&str>, level: LogLevel, text: String) {
        let seq = self.next_log_seq;
        self.next_log_seq += 1;
        self.pending_logs.push_back(EngineLog {
            seq,
            resource: resource.map(str::to_owned),
            level,
            text,
        });
    }
}

impl ResourceState {
    /// A resource as the engine first sees it: nothing built, nothing pending.
    pub fn new(manifest: Arc<Manifest>, enabled: bool) -> ResourceState {
        ResourceState {
            trigger_mode: manifest.trigger_mode,
            manifest,
            enabled,
            pending_files: BTreeMap::new(),
            pending_config_change: None,
            triggered_at: None,
            current_build: None,
            history: VecDeque::new(),
            build_count: 0,
            last_ready_or_succeeded: None,
            last_deploy_time: None,
            images: Vec::new(),
            runtime: RuntimeState::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn is_building(&self) -> bool {
        self.current_build.is_some()
    }

    /// Tilt's `StartedFirstBuild`: dependencies only gate the first update.
    pub fn started_first_build(&self) -> bool {
        self.current_build.is_some() || self.build_count > 0
    }

    pub fn last_build(&self) -> Option<&BuildRecord> {
        self.history.back()
    }

    /// Pending file or definition changes not yet applied.
    pub fn has_pending_changes(&self) -> bool {
        !self.pending_files.is_empty() || self.pending_config_change.is_some()
    }

    /// The earliest pending change, for "oldest change first".
    pub fn earliest_pending_change(&self) -> Option<SystemTime> {
        let files = self.pending_files.values().min().copied();
        match (files, self.pending_config_change) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// In the trigger queue.
    pub fn queued(&self) -> bool {
        self.triggered_at.is_some()
    }

    /// Why the next update would run; empty when none is due (Tilt's `NextBuildReason`).
    pub fn next_build_reason(&self) -> BuildReason {
        let mut reason = BuildReason {
            trigger: self.queued(),
            ..BuildReason::default()
        };
        if self.trigger_mode.auto_on_change() || self.queued() {
            reason.changed_files = !self.pending_files.is_empty();
            reason.config_changed = self.pending_config_change.is_some();
        }
        if !self.started_first_build() && self.trigger_mode.auto_initial() {
            reason.initial = true;
        }
        reason
    }

    /// The process id of the running runtime, if any.
    pub fn pid(&self) -> Option<u32> {
        match self.runtime.phase {
            RuntimePhase::Running { pid, .. } => pid,
            _ => None,
        }
    }

    /// Finished builds (oldest first, at most two) followed by the current one.
    pub fn build_history(&self) -> Vec<&BuildRecord> {
        self.history
            .iter()
            .chain(self.current_build.as_ref())
            .collect()
    }

    /// Whether the resource has a long-running part that a runtime starts after each
    /// successful update: a local `serve_cmd`, or the containers and pods of a Compose or
    /// Kubernetes resource.
    pub(crate) fn has_runtime(&self) -> bool {
        match &self.manifest.deploy {
            DeployTarget::Local(local) => local.serve_cmd.is_some(),
            DeployTarget::K8s(_) | DeployTarget::DockerCompose(_) => true,
        }
    }

    /// Whether readiness comes from the runtime (a probe, pods, containers) rather than
    /// from a successful update. As in Tilt, a local resource without a probe is ready
    /// when its update succeeds.
    pub(crate) fn readiness_from_runtime(&self) -> bool {
        match &self.manifest.deploy {
            DeployTarget::Local(local) => local.readiness_probe.is_some(),
            DeployTarget::K8s(_) | DeployTarget::DockerCompose(_) => true,
        }
    }

    /// Whether an update does something of its own: a local resource's `cmd`, or building
    /// and deploying a Kubernetes or Compose resource. A serve-only local resource's update
    /// is a no-op.
    pub(crate) fn has_update_step(&self) -> bool {
        match &self.manifest.deploy {
            DeployTarget::Local(local) => local.update_cmd.is_some(),
            // Building images and deploying them is a real update, with its own outcome.
            DeployTarget::K8s(_) | DeployTarget::DockerCompose(_) => true,
        }
    }
}

/// Keeps at most two finished records, dropping the oldest.
pub(crate) fn push_history(history: &mut VecDeque<BuildRecord>, record: BuildRecord) {
    history.push_back(record);
    while history.len() > 2 {
        history.pop_front();
    }
}
