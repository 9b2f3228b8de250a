//! Stand-ins for runtimes that have not landed: they say plainly what lilt cannot do yet,
//! so a resource fails with that message instead of waiting forever.

use futures::FutureExt;
use futures::future::BoxFuture;
use lilt_engine::LogLevel;
use lilt_model::BuiltImage;

use super::{
    BuildFailure, BuildJob, DeleteJob, ImageBuilder, Runtime, StartJob, UpdateJob, UpdateOutcome,
};

/// A deploy runtime lilt does not have yet (`k8s`, `docker-compose`).
pub struct UnsupportedRuntime {
    kind: &'static str,
}

impl UnsupportedRuntime {
    pub fn new(kind: &'static str) -> UnsupportedRuntime {
        UnsupportedRuntime { kind }
    }
}

impl Runtime for UnsupportedRuntime {
    fn update(&self, job: UpdateJob) -> BoxFuture<'static, UpdateOutcome> {
        let error = format!("lilt cannot deploy {} resources yet", self.kind);
        job.reporter
            .build_log(job.span_id, LogLevel::Error, error.clone());
        futures::future::ready(UpdateOutcome::failed(error)).boxed()
    }

    fn start(&self, _job: StartJob) {}

    fn stop(&self, _resource: &str) {}

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        futures::future::ready(()).boxed()
    }

    fn delete(&self, job: DeleteJob) -> BoxFuture<'static, Result<(), String>> {
        let error = format!(
            "cannot delete {}: lilt cannot manage {} resources yet",
            job.manifest.name, self.kind
        );
        futures::future::ready(Err(error)).boxed()
    }
}

/// The builder when no image backend is configured: every build fails with that message.
pub struct NoImageBuilder;

impl ImageBuilder for NoImageBuilder {
    fn build(&self, job: BuildJob) -> BoxFuture<'static, Result<Vec<BuiltImage>, BuildFailure>> {
        let names: Vec<&str> = job.images.iter().map(|i| i.image_ref.as_str()).collect();
        let error = format!("lilt cannot build images yet ({})", names.join(", "));
        futures::future::ready(Err(BuildFailure {
            error,
            built: Vec::new(),
        }))
        .boxed()
    }
}
