//! Where an image with a given tag already exists (the registry, asked through the building
//! daemon's distribution endpoint with the user's credentials; or the daemon itself), and
//! pushing from the building daemon.

use bollard::errors::Error as DockerError;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures::StreamExt;
use lilt_manifest::ImageRef;

use crate::Run;
use crate::error::BuildError;
use crate::output::push_digest;

/// The image ID of `reference` in the building daemon, `None` when it has no such image.
pub(crate) async fn daemon_image_id(
    run: &Run<'_>,
    image: &str,
    reference: &str,
) -> Result<Option<String>, BuildError> {
    match run.builder.docker.inspect_image(reference).await {
        Ok(inspect) => Ok(Some(inspect.id.unwrap_or_default())),
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(daemon_error(run, image, e)),
    }
}

/// The manifest digest of `reference` in its registry, `None` when the registry does not
/// have it. The building daemon asks the registry, so its view of the registry (insecure
/// registries, DNS, proxies) is the one that also pushes. An answer other than "found" or
/// "not found" is logged and treated as "not found": the build then runs, and a push
/// error, if any, says what is wrong.
pub(crate) async fn registry_digest(
    run: &Run<'_>,
    reference: &ImageRef,
) -> Result<Option<String>, BuildError> {
    let creds = run.credentials(reference.domain()).await?;
    let text = reference.familiar_string();
    match run
        .builder
        .docker
        .inspect_registry_image(&text, creds)
        .await
    {
        Ok(found) => Ok(found.descriptor.digest.filter(|d| !d.is_empty())),
        Err(DockerError::DockerResponseServerError {
            status_code,
            message,
        }) => {
            if status_code != 404
                && !message.contains("manifest unknown")
                && !message.contains("not found")
            {
                run.log(format!(
                    "could not check whether {text} is in the registry ({status_code}: {message}); building it"
                ));
            }
            Ok(None)
        }
        Err(e) => {
            run.log(format!(
                "could not check whether {text} is in the registry ({e}); building it"
            ));
            Ok(None)
        }
    }
}

/// Tags `source` as `target` in the building daemon.
pub(crate) async fn tag(
    run: &Run<'_>,
    image: &str,
    source: &str,
    target: &ImageRef,
) -> Result<(), BuildError> {
    let repo = target.name();
    let tag = target.tag().unwrap_or("latest");
    let options = TagImageOptionsBuilder::default()
        .repo(&repo)
        .tag(tag)
        .build();
    run.builder
        .docker
        .tag_image(source, Some(options))
        .await
        .map_err(|e| daemon_error(run, image, e))
}

/// Pushes `reference` from the building daemon; returns the manifest digest the daemon
/// reported.
pub(crate) async fn push(
    run: &Run<'_>,
    image: &str,
    reference: &ImageRef,
) -> Result<Option<String>, BuildError> {
    let text = reference.familiar_string();
    run.log(format!("pushing {text}"));
    let creds = run.credentials(reference.domain()).await?;
    let tag = reference.tag().unwrap_or("latest");
    let options = PushImageOptionsBuilder::default().tag(tag).build();
    let name = reference.name();
    let mut stream = run.builder.docker.push_image(&name, Some(options), creds);
    let mut digest = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                let Some(status) = info.status else { continue };
                if let Some(found) = push_digest(&status) {
                    digest = Some(found);
                }
                // Byte-level progress is noise in a resource log; keep per-layer results.
                let progress = info
                    .progress_detail
                    .as_ref()
                    .is_some_and(|p| p.current.is_some() || p.total.is_some());
                if progress || matches!(status.as_str(), "Preparing" | "Waiting" | "Pushing") {
                    continue;
                }
                run.log(status);
            }
            Err(e) => {
                let message = match e {
                    DockerError::DockerStreamError { error } => error,
                    other => other.to_string(),
                };
                return Err(BuildError::Push {
                    image: image.to_owned(),
                    reference: text,
                    message,
                });
            }
        }
    }
    Ok(digest)
}

pub(crate) fn daemon_error(run: &Run<'_>, image: &str, e: DockerError) -> BuildError {
    BuildError::Daemon {
        image: image.to_owned(),
        host: run.builder.resolved.host.clone(),
        message: e.to_string(),
    }
}
