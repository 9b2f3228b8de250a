//! The runtime seam: the one place where a resource's deploy target picks the code that
//! updates, starts, stops and deletes it.
//!
//! The engine's effects name resources, never runtimes. The runner turns each effect into a
//! call on the [`Runtime`] that [`Runtimes::for_deploy`] picks, and every runtime answers in
//! the same runtime-neutral terms: an update yields an [`UpdateOutcome`] (with the images
//! it deployed), a running runtime reports phases ([`RuntimeReport`]) through its
//! [`Reporter`]. Images are built before the deploy by an [`ImageBuilder`], so Kubernetes
//! and Compose share one build path. `lilt down` deletes through the same seam.
//!
//! Tests plug in fakes: every type here is public so `crates/runner/tests` can drive the
//! real loop with scripted runtimes.

mod compose;
mod images;
mod k8s;
mod local;
pub(crate) mod serve;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::FutureExt;
use futures::future::BoxFuture;
use lilt_engine::{Event, LogLevel, LogSource, LogStore, NewLogLine, RuntimeReport, SpanId};
use lilt_local::{Launcher, LogSink};
use lilt_model::{BuiltImage, DeployTarget, ImageTarget, Manifest, Plan};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use compose::ComposeRuntime;
pub use images::DockerImages;
pub use k8s::K8sRuntime;
pub use local::LocalRuntime;

use crate::{Input, append_log};

/// One deploy runtime (local processes, Kubernetes, Docker Compose). Implementations keep
/// their per-resource state (running processes, watches) themselves.
pub trait Runtime: Send + Sync {
    /// Deploys the resource (its images are already built, in `job.images`). Resolves when
    /// the deploy is done, failed or was cancelled through `job.cancel`.
    fn update(&self, job: UpdateJob) -> BoxFuture<'static, UpdateOutcome>;
    /// (Re)starts the long-running part, stopping the previous instance first, and reports
    /// its phases with `job.span_id`. A resource with nothing to run reports nothing.
    fn start(&self, job: StartJob);
    /// Stops what runs for the resource (disabled or removed). Nothing running is fine.
    fn stop(&self, resource: &str);
    /// Stops everything and resolves once it is gone (lilt is exiting).
    fn shutdown(&self) -> BoxFuture<'static, ()>;
    /// Deletes what `update` deployed (`lilt down`).
    fn delete(&self, job: DeleteJob) -> BoxFuture<'static, Result<(), String>>;
    /// The running containers of `resource` that run `built` (an image the last update
    /// deployed), and how to reach them, for a live update; the output of `run` steps goes
    /// to `reporter`'s build log. Runtimes without containers cannot live-update.
    fn live_targets(
        &self,
        resource: &str,
        built: &BuiltImage,
        reporter: Reporter,
        span_id: SpanId,
    ) -> BoxFuture<'static, Result<LiveTargets, String>> {
        let _ = (built, reporter, span_id);
        let error = format!("{resource}: this runtime cannot live-update containers");
        futures::future::ready(Err(error)).boxed()
    }
}

/// Where a live update goes: containers, and the API that reaches them.
pub struct LiveTargets {
    pub containers: Vec<lilt_liveupdate::ContainerRef>,
    pub applier: Arc<dyn lilt_liveupdate::Containers>,
}

impl Reporter {
    /// A sink for the output of live-update `run` steps: the build log, by container.
    pub fn live_output(&self, span_id: SpanId) -> lilt_liveupdate::OutputSink {
        let me = self.clone();
        Arc::new(move |container, line| {
            me.build_log(span_id, LogLevel::Info, format!("[{container}] {line}"))
        })
    }
}

/// Builds (or finds up to date) the images of one update, dependencies first.
pub trait ImageBuilder: Send + Sync {
    fn build(&self, job: BuildJob) -> BoxFuture<'static, Result<Vec<BuiltImage>, BuildFailure>>;
}

/// A failed build: the error shown on the resource, and the images that were done before
/// it (shown too; the resource keeps running its last good images).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailure {
    pub error: String,
    pub built: Vec<BuiltImage>,
}

/// The runtimes one runner uses, by deploy target.
#[derive(Clone)]
pub struct Runtimes {
    pub local: Arc<dyn Runtime>,
    pub k8s: Arc<dyn Runtime>,
    pub compose: Arc<dyn Runtime>,
    pub images: Arc<dyn ImageBuilder>,
}

impl Runtimes {
    /// What `lilt up` uses: local processes, Docker image builds, Kubernetes and Docker
    /// Compose.
    pub fn standard() -> Runtimes {
        Runtimes {
            local: Arc::new(LocalRuntime::default()),
            k8s: Arc::new(K8sRuntime::default()),
            compose: Arc::new(ComposeRuntime::default()),
            images: Arc::new(DockerImages::default()),
        }
    }

    /// The one dispatch from a deploy target to its runtime.
    pub fn for_deploy(&self, deploy: &DeployTarget) -> &Arc<dyn Runtime> {
        match deploy {
            DeployTarget::Local(_) => &self.local,
            DeployTarget::K8s(_) => &self.k8s,
            DeployTarget::DockerCompose(_) => &self.compose,
        }
    }

    /// Stops every runtime, all at once.
    pub async fn shutdown(&self) {
        futures::future::join_all([
            self.local.shutdown(),
            self.k8s.shutdown(),
            self.compose.shutdown(),
        ])
        .await;
    }
}

/// The images an update of `manifest` must build: all of them, except live-update-only
/// `custom_build`s (Tilt's `file_sync_only` convention), which build nothing, and images
/// Compose builds itself (`up --build`, in the Compose runtime's update).
pub fn images_to_build(manifest: &Manifest) -> Vec<ImageTarget> {
    manifest
        .image_targets
        .iter()
        .filter(|i| !i.is_live_update_only())
        .filter(|i| !matches!(i.build, lilt_model::BuildDetails::DockerCompose(_)))
        .cloned()
        .collect()
}

/// One update of one resource.
pub struct UpdateJob {
    pub manifest: Arc<Manifest>,
    pub plan: Arc<Plan>,
    pub span_id: SpanId,
    pub changed_files: Vec<PathBuf>,
    /// False when only `changed_files` need applying (a live update, where supported).
    pub full_rebuild: bool,
    /// The images built for this update, dependencies first.
    pub images: Vec<BuiltImage>,
    /// Runs local commands with lilt's environment, in lilt's process registry.
    pub launcher: Launcher,
    pub reporter: Reporter,
    pub cancel: CancellationToken,
}

/// How an update ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateOutcome {
    /// `None` on success.
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

impl UpdateOutcome {
    pub fn ok() -> UpdateOutcome {
        UpdateOutcome::default()
    }

    pub fn failed(error: impl Into<String>) -> UpdateOutcome {
        UpdateOutcome {
            error: Some(error.into()),
            warnings: Vec::new(),
        }
    }
}

/// One start of a resource's long-running part.
pub struct StartJob {
    pub manifest: Arc<Manifest>,
    pub span_id: SpanId,
    pub launcher: Launcher,
    pub reporter: Reporter,
    /// What a container that starts running one of the resource's images must get first
    /// (files live-updated since its image was built, or `initial_sync`); `None` when the
    /// resource has no live update.
    pub catch_up: Option<Arc<dyn CatchUp>>,
}

/// Brings a container that just started (a restart, a replaced pod, a new replica) up to
/// date with the files lilt live-updated into its image's containers, so what runs always
/// matches the tree on disk.
pub trait CatchUp: Send + Sync {
    /// The batch for a container now running `built_ref`; `None` when it needs nothing.
    fn batch(&self, built_ref: &str) -> Option<lilt_liveupdate::Batch>;
    /// The images (built refs) of the resource that have live-update steps, for runtimes
    /// that cannot tell which image a container runs.
    fn built_refs(&self) -> Vec<String>;
}

/// The images of one update, to build.
pub struct BuildJob {
    pub resource: String,
    /// Where the images go: a cluster pulls them from a registry, Compose runs them on the
    /// daemon that built them.
    pub deploy: DeployTarget,
    /// Dependencies first.
    pub images: Vec<ImageTarget>,
    pub plan: Arc<Plan>,
    pub span_id: SpanId,
    pub launcher: Launcher,
    pub reporter: Reporter,
    pub cancel: CancellationToken,
}

/// What `lilt down` asks a runtime to delete.
pub struct DeleteJob {
    pub manifest: Arc<Manifest>,
    pub plan: Arc<Plan>,
    pub launcher: Launcher,
    pub options: DeleteOptions,
}

/// `lilt down`'s flags, for every runtime.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `--delete-namespaces`: Namespace objects go too (kept by default, as Tilt does).
    pub delete_namespaces: bool,
    /// `--delete-volumes`: Compose volumes go too.
    pub delete_volumes: bool,
    /// `--wait`: wait at most this long until what was deleted is gone.
    pub wait: Option<std::time::Duration>,
}

/// Where a runtime reports for one resource: its log and the engine's events.
#[derive(Clone)]
pub struct Reporter {
    pub(crate) resource: String,
    pub(crate) logs: Arc<Mutex<LogStore>>,
    pub(crate) dirty: Arc<AtomicBool>,
    pub(crate) inputs: mpsc::UnboundedSender<Input>,
}

impl Reporter {
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Appends a line to the resource's log.
    pub fn log(&self, span_id: Option<SpanId>, source: LogSource, level: LogLevel, text: String) {
        append_log(
            &self.logs,
            &self.dirty,
            &self.inputs,
            NewLogLine {
                resource: Some(self.resource.clone()),
                span_id,
                level,
                time: SystemTime::now(),
                source,
                text,
            },
        );
    }

    /// A build-log line (an update's output).
    pub fn build_log(&self, span_id: SpanId, level: LogLevel, text: String) {
        self.log(Some(span_id), LogSource::Build, level, text);
    }

    /// A runtime-log line (what a running process or container prints).
    pub fn runtime_log(&self, span_id: SpanId, level: LogLevel, text: String) {
        self.log(Some(span_id), LogSource::Runtime, level, text);
    }

    /// A sink for a command's output lines, into the build or runtime log.
    pub fn sink(&self, span_id: SpanId, source: LogSource) -> LogSink {
        let me = self.clone();
        LogSink::new(move |line| me.log(Some(span_id), source, LogLevel::Info, line.text))
    }

    /// Reports a phase of the runtime started with `span_id`.
    pub fn runtime(&self, span_id: SpanId, report: RuntimeReport) {
        let _ = self.inputs.send(Input::Engine(Event::Runtime {
            resource: self.resource.clone(),
            span_id,
            report,
            at: SystemTime::now(),
        }));
    }
}
