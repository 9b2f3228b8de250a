//! What `decide` returns: effects for the runner to execute and the holds shown in the UI.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The kind of work a span covers; part of its id so logs can be grouped by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpanKind {
    /// One Tiltfile evaluation.
    Tiltfile,
    /// One update (build and deploy) of a resource.
    Build,
    /// One run of a resource's runtime (a `serve_cmd` process today).
    Serve,
}

/// Identifies one unit of work (a build, a reload, a server run). Log lines carry it, and
/// every result event names the span it belongs to, so a late result from a superseded
/// run is recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId {
    pub kind: SpanKind,
    /// Unique across the whole engine run, whatever the kind.
    pub seq: u64,
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            SpanKind::Tiltfile => "tiltfile",
            SpanKind::Build => "build",
            SpanKind::Serve => "serve",
        };
        write!(f, "{prefix}:{}", self.seq)
    }
}

/// Why an update runs. Several reasons can combine, like Tilt's `BuildReason` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BuildReason {
    /// The resource has never been built since it appeared (or was re-enabled).
    pub initial: bool,
    /// Watched files changed.
    pub changed_files: bool,
    /// The resource's definition changed in a Tiltfile reload.
    pub config_changed: bool,
    /// Someone pressed the trigger button (or ran `lilt trigger`).
    pub trigger: bool,
}

impl BuildReason {
    pub fn is_none(self) -> bool {
        self == BuildReason::default()
    }

    /// Tilt's rule for whether the update may be done in place (a live update) rather than
    /// a full rebuild: only file changes, or a manual trigger that applies pending file
    /// changes of a resource in a manual trigger mode.
    pub(crate) fn live_update_eligible(self, auto_on_change: bool) -> bool {
        let only_files = self.changed_files && !self.initial && !self.config_changed;
        if self.trigger {
            only_files && !auto_on_change
        } else {
            only_files
        }
    }
}

/// Why a runtime is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The resource was disabled (by the UI, `lilt disable`, or a reload's enabled list).
    Disabled,
    /// The resource vanished from the Plan on a reload.
    Removed,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// One thing the runner must do. Effects name resources, never runtimes: the runner
/// looks at the resource's `DeployTarget` in the state to pick the runtime crate, so a new
/// runtime adds a `DeployTarget` variant and leaves this enum as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Evaluate the main Tiltfile with these args and report `Event::TiltfileLoaded`.
    ReloadTiltfile {
        span_id: SpanId,
        args: Vec<String>,
        /// Config files whose change asked for this reload (empty for the first load, a
        /// trigger or new args).
        changed_files: Vec<PathBuf>,
    },
    /// Update the resource: build its images and deploy it (for a local resource, run its
    /// `cmd`; an empty `cmd` finishes at once). Report `Event::UpdateFinished`.
    Update {
        resource: String,
        span_id: SpanId,
        reason: BuildReason,
        /// The pending file changes this update consumes, sorted.
        changed_files: Vec<PathBuf>,
        /// True when the runner must rebuild from scratch; false when only
        /// `changed_files` need applying (a live update, where the runtime supports it).
        full_rebuild: bool,
    },
    /// (Re)start the resource's long-running runtime, stopping any previous instance first.
    /// For a local resource this is its `serve_cmd`. Report `Event::Runtime` phases
    /// (`Running`, `Ready`, `Exited`), all with this span.
    StartRuntime { resource: String, span_id: SpanId },
    /// Stop whatever runs for the resource (processes, containers, cluster objects) and
    /// cancel its update if one is running. Nothing running is not an error.
    StopRuntime {
        resource: String,
        reason: StopReason,
    },
    /// Append an engine message to the resource's log (`None`: the global log).
    Log {
        seq: u64,
        resource: Option<String>,
        level: LogLevel,
        text: String,
    },
    /// Run a clicked button's action with the values of its inputs.
    RunButton {
        seq: u64,
        name: String,
        inputs: Vec<(String, String)>,
    },
}

/// Why a resource that needs an update is not being updated now. The names (see
/// [`HoldReason::as_str`]) are Tilt's, shown as the UI's waiting reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldReason {
    /// The Tiltfile has pending changes or is being evaluated.
    TiltfileReload,
    /// A local resource that cannot run in parallel is updating.
    WaitingForLocal,
    /// This is a non-parallel local resource and something else is updating.
    IsUnparallelizableLocal,
    /// The `uncategorized` Kubernetes objects are being applied.
    WaitingForUncategorized,
    /// The resource itself, or an image it shares, is being built.
    BuildingComponent,
    /// A `resource_deps` entry has not been ready yet.
    WaitingForDep,
    /// A live update waits for the pod it targets to start.
    WaitingForDeploy,
    /// The cluster connection is not established yet.
    WaitingForCluster,
    /// Every update slot (`max_parallel_updates`) is taken. lilt's addition: Tilt shows
    /// no reason here.
    WaitingForSlot,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::TiltfileReload => "tiltfile-reload",
            HoldReason::WaitingForLocal => "waiting-for-local",
            HoldReason::IsUnparallelizableLocal => "is-unparallelizable-local",
            HoldReason::WaitingForUncategorized => "waiting-for-uncategorized",
            HoldReason::BuildingComponent => "building-component",
            HoldReason::WaitingForDep => "waiting-for-dep",
            HoldReason::WaitingForDeploy => "waiting-for-deploy",
            HoldReason::WaitingForCluster => "waiting-for-cluster",
            HoldReason::WaitingForSlot => "waiting-for-slot",
        }
    }
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A held-back resource: why, and what it waits on (resource names, `(Tiltfile)`, or an
/// image ref for `building-component`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reason: HoldReason,
    pub on: Vec<String>,
}

/// The output of [`crate::decide`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// In the order they should be dispatched: stops and logs first, then the reload,
    /// then runtime starts, then updates in scheduling order.
    pub effects: Vec<Effect>,
    /// Every resource that needs an update but was not given one, by name.
    pub holds: BTreeMap<String, Hold>,
}

impl Decision {
    /// Names of the resources this decision starts updates for, in order.
    pub fn updates(&self) -> Vec<&str> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Update { resource, .. } => Some(resource.as_str()),
                _ => None,
            })
            .collect()
    }
}
