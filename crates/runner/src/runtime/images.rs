//! The image builder `lilt up` uses: `lilt-build` against the Docker daemon the docker CLI
//! would pick, connected on the first build (a project without images never needs one).

use std::sync::{Arc, OnceLock};

use futures::FutureExt;
use futures::future::BoxFuture;
use lilt_build::{BuildRequest, Builder, DockerEnv};
use lilt_engine::LogLevel;
use lilt_model::{BuiltImage, DeployTarget, ImageTarget, Plan};

use super::{BuildFailure, BuildJob, ImageBuilder};

/// Builds through the Docker Engine API (local or remote daemon), pushing from the
/// builder when the images go to a registry.
#[derive(Default)]
pub struct DockerImages {
    builder: OnceLock<Result<Arc<Builder>, String>>,
}

impl DockerImages {
    fn builder(&self) -> Result<Arc<Builder>, String> {
        self.builder
            .get_or_init(|| {
                Builder::from_env(&DockerEnv::from_process())
                    .map(Arc::new)
                    .map_err(|e| format!("cannot use Docker to build images: {e}"))
            })
            .clone()
    }
}

impl ImageBuilder for DockerImages {
    fn build(&self, job: BuildJob) -> BoxFuture<'static, Result<Vec<BuiltImage>, BuildFailure>> {
        let builder = self.builder();
        async move {
            let builder = builder.map_err(|error| BuildFailure {
                error,
                built: Vec::new(),
            })?;
            let mut req =
                BuildRequest::new(&job.images).with_registry(job.plan.default_registry.as_ref());
            req.push = must_push(&job.plan, &job.deploy, &job.images);
            req.env = job
                .launcher
                .env()
                .vars()
                .iter()
                .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v.to_str()?.to_owned())))
                .collect();
            let reporter = job.reporter.clone();
            let span_id = job.span_id;
            let log = move |line: String| reporter.build_log(span_id, LogLevel::Info, line);
            job.reporter.build_log(
                span_id,
                LogLevel::Info,
                format!("Building on {}", builder.host()),
            );
            match lilt_build::build_all(&builder, &req, &log, &job.cancel).await {
                Ok(images) => Ok(images.into_iter().map(to_model).collect()),
                // The images done before the failure are shown too.
                Err(e) => Err(BuildFailure {
                    error: e.error.to_string(),
                    built: e.built.into_iter().map(to_model).collect(),
                }),
            }
        }
        .boxed()
    }
}

/// Whether the images must reach a registry: always with `default_registry`; for
/// Kubernetes when an image's own ref names a registry host (a cluster pulls; Compose runs
/// on the daemon that built).
fn must_push(plan: &Plan, deploy: &DeployTarget, images: &[ImageTarget]) -> bool {
    if plan.default_registry.is_some() {
        return true;
    }
    matches!(deploy, DeployTarget::K8s(_)) && images.iter().any(|i| names_a_registry(&i.image_ref))
}

/// `host:port/name`, `host.domain/name` and `localhost/name` name a registry; `name` and
/// `org/name` are Docker Hub's, where lilt does not push unasked.
fn names_a_registry(image_ref: &str) -> bool {
    match image_ref.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

fn to_model(image: lilt_build::BuiltImage) -> BuiltImage {
    BuiltImage {
        image_ref: image.image_ref,
        built_ref: image.built_ref,
        digest: image.digest,
        cached: image.cached,
        pushed: image.pushed,
    }
}

#[cfg(test)]
mod tests {
    use super::names_a_registry;

    #[test]
    fn registry_hosts_are_told_from_docker_hub_names() {
        assert!(names_a_registry("127.0.0.1:5100/app"));
        assert!(names_a_registry("gcr.io/project/app"));
        assert!(names_a_registry("localhost/app"));
        assert!(!names_a_registry("app"));
        assert!(!names_a_registry("shop/app"));
    }
}
