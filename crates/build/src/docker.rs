//! `docker_build`: hash the inputs, look for the content tag, otherwise stream the context
//! to the daemon (BuildKit with a session for registry credentials when the daemon offers
//! it, else the classic builder), tag, and push from the same daemon.

use std::collections::HashMap;
use std::sync::Arc;

use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::models::{BuildInfo, BuildInfoAux};
use bollard::query_parameters::{BuildImageOptions, BuildImageOptionsBuilder, BuilderVersion};
use futures::StreamExt;
use futures::stream::BoxStream;
use lilt_manifest::ImageRef;
use lilt_model::{DockerBuild, ImageTarget};
use lilt_watch::Matcher;
use sha2::{Digest, Sha256};

use crate::buildkit::{BuilderKind, Progress, new_session_id, session_credentials};
use crate::context::{
    ContextManifest, ExtraFile, ScanError, TarError, channel_stream, field, scan, tar_stream,
};
use crate::dockerfile::{Substitution, image_uses, inject};
use crate::error::BuildError;
use crate::output::{Lines, step_of};
use crate::registry::{daemon_error, daemon_image_id, push, registry_digest, tag};
use crate::{BuiltImage, Dep, Run, is_content_tagged};

/// The name lilt gives a Dockerfile that is not the context's own `Dockerfile`. Like the
/// docker CLI, lilt lists it (and `.dockerignore`) in a `.dockerignore` inside the tar, so
/// the daemon drops both from the context and `COPY . .` does not copy them.
pub const GENERATED_DOCKERFILE: &str = ".dockerfile.lilt";

/// The inputs of one `docker_build`, ready to hash and send.
pub(crate) struct Prepared {
    pub manifest: Arc<ContextManifest>,
    /// The Dockerfile as sent, dependency refs substituted.
    pub dockerfile: String,
    /// Where the Dockerfile goes in the tar.
    pub dockerfile_name: &'static str,
    pub hash: [u8; 32],
}

/// Reads the context and computes the content hash of a `docker_build`.
pub(crate) async fn prepare(
    run: &Run<'_>,
    image: &ImageTarget,
    build: &DockerBuild,
    deps: &[Dep<'_>],
) -> Result<Prepared, BuildError> {
    let name = &image.image_ref;
    let substitutions: Vec<Substitution<'_>> = deps
        .iter()
        .filter_map(|d| {
            let selector = run.selectors.get(d.index)?.as_ref()?;
            Some(Substitution {
                selector,
                replacement: d.built.local_ref.as_str(),
            })
        })
        .collect();
    // Dependencies the Dockerfile does not name (declared with image_deps only) are still
    // inputs through the hash below.
    let (dockerfile, _) = inject(
        &build.dockerfile_contents,
        &build.build_args,
        &substitutions,
    );
    let dockerfile_name = dockerfile_name(build);

    let matcher =
        Matcher::from_ignore_sets(&build.context_ignores).map_err(|e| BuildError::Ignore {
            image: name.clone(),
            message: e.to_string(),
        })?;
    let context = build.context.clone();
    let cache = run.builder.hashes.clone();
    // Walking and hashing is blocking file I/O: keep it off the async workers.
    let manifest = tokio::task::spawn_blocking(move || scan(&context, &matcher, &cache))
        .await
        .map_err(|e| BuildError::ContextRead {
            image: name.clone(),
            path: build.context.clone(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|ScanError::Io { path, source }| BuildError::ContextRead {
            image: name.clone(),
            path,
            source,
        })?;

    let mut h = Sha256::new();
    field(&mut h, b"lilt docker_build v1");
    field(&mut h, &manifest.digest());
    field(&mut h, dockerfile.as_bytes());
    field(&mut h, dockerfile_name.as_bytes());
    h.update((build.build_args.len() as u64).to_be_bytes());
    for (key, value) in &build.build_args {
        field(&mut h, key.as_bytes());
        match value {
            Some(v) => {
                field(&mut h, b"=");
                field(&mut h, v.as_bytes());
            }
            None => field(&mut h, b"unset"),
        }
    }
    field(&mut h, build.target.as_bytes());
    field(&mut h, build.platform.as_bytes());
    hash_deps(&mut h, deps);
    Ok(Prepared {
        manifest: Arc::new(manifest),
        dockerfile,
        dockerfile_name,
        hash: h.finalize().into(),
    })
}

/// Dependencies enter the hash by the ref they were built as; a ref without a content tag
/// (an `outputs_image_ref_to` build, say) says nothing about its contents, so its digest
/// or image ID goes in too.
pub(crate) fn hash_deps(h: &mut Sha256, deps: &[Dep<'_>]) {
    h.update((deps.len() as u64).to_be_bytes());
    for dep in deps {
        field(h, dep.built.image_ref.as_bytes());
        field(h, dep.built.local_ref.as_bytes());
        if !is_content_tagged(&dep.built.local_ref) {
            let id = dep
                .built
                .digest
                .as_deref()
                .or(dep.built.image_id.as_deref())
                .unwrap_or("");
            field(h, id.as_bytes());
        }
    }
}

/// The context's own `Dockerfile` keeps its name (as with `docker build`); any other
/// Dockerfile, or `dockerfile_contents=`, goes under [`GENERATED_DOCKERFILE`].
fn dockerfile_name(build: &DockerBuild) -> &'static str {
    match &build.dockerfile_path {
        Some(path)
            if lilt_watch::clean_path(path)
                == lilt_watch::clean_path(&build.context.join("Dockerfile")) =>
        {
            "Dockerfile"
        }
        _ => GENERATED_DOCKERFILE,
    }
}

/// The files lilt adds to the tar and the manifest entries it leaves out for them.
///
/// The `.dockerignore` that hides a generated Dockerfile works with the classic builder
/// only: BuildKit (dockerd 20.10 checked) reads an uploaded tar context as it is, without
/// applying any `.dockerignore`, so under BuildKit it would only add a second stray file.
fn tar_layout(prepared: &Prepared, buildkit: bool) -> (Vec<ExtraFile>, Vec<String>) {
    let mut extra = vec![ExtraFile {
        rel: prepared.dockerfile_name.to_owned(),
        contents: prepared.dockerfile.clone().into_bytes(),
    }];
    let mut skip = vec![prepared.dockerfile_name.to_owned()];
    if prepared.dockerfile_name == GENERATED_DOCKERFILE && !buildkit {
        extra.push(ExtraFile {
            rel: ".dockerignore".to_owned(),
            contents: format!(".dockerignore\n{GENERATED_DOCKERFILE}\n").into_bytes(),
        });
        skip.push(".dockerignore".to_owned());
    }
    (extra, skip)
}

/// Builds (or finds) one `docker_build` image.
pub(crate) async fn build(
    run: &Run<'_>,
    image: &ImageTarget,
    build: &DockerBuild,
    deps: &[Dep<'_>],
) -> Result<BuiltImage, BuildError> {
    let name = image.image_ref.as_str();
    if !build.ssh.is_empty() {
        return Err(BuildError::NeedsBuildKit {
            image: name.to_owned(),
            param: "ssh",
        });
    }
    if !build.secret.is_empty() {
        return Err(BuildError::NeedsBuildKit {
            image: name.to_owned(),
            param: "secret",
        });
    }
    let names = run.names(image)?;
    let prepared = prepare(run, image, build, deps).await?;
    let tag_text = run.tag_for(&names, &prepared.hash);
    let (local, cluster) = names.tagged(name, &tag_text)?;
    let local_text = local.familiar_string();
    let mut result = BuiltImage {
        image_ref: name.to_owned(),
        built_ref: cluster.familiar_string(),
        local_ref: local_text.clone(),
        ..BuiltImage::default()
    };

    // Up to date where it is needed?
    if run.req.push {
        if let Some(digest) = registry_digest(run, &local).await? {
            run.log(format!("image up to date: {local_text}"));
            result.digest = Some(digest);
            result.cached = true;
            result.pushed = true;
            result.image_id = daemon_image_id(run, name, &local_text).await?;
            if result.image_id.is_some() {
                extra_tags(run, image, build, &local_text).await?;
            }
            return Ok(result);
        }
        if let Some(id) = daemon_image_id(run, name, &local_text).await? {
            run.log(format!(
                "image up to date: {local_text} (in the daemon, not yet in the registry)"
            ));
            result.image_id = Some(id);
            result.cached = true;
            extra_tags(run, image, build, &local_text).await?;
            result.digest = push(run, name, &local).await?;
            result.pushed = true;
            return Ok(result);
        }
    } else if let Some(id) = daemon_image_id(run, name, &local_text).await? {
        run.log(format!("image up to date: {local_text}"));
        result.image_id = Some(id);
        result.cached = true;
        extra_tags(run, image, build, &local_text).await?;
        return Ok(result);
    }

    let kind = run.builder_kind(name, &build.network).await?;
    let with = match &kind {
        BuilderKind::BuildKit => "BuildKit".to_owned(),
        BuilderKind::Classic { reason } => format!("the classic builder ({reason})"),
    };
    run.log(format!(
        "building {local_text} on {} with {with}; context: {} entries, {} bytes",
        run.builder.resolved.host,
        prepared.manifest.entries.len(),
        prepared.manifest.content_bytes(),
    ));
    result.image_id = Some(send_build(run, image, build, &prepared, &local, &kind).await?);
    extra_tags(run, image, build, &local_text).await?;
    if run.req.push {
        result.digest = push(run, name, &local).await?;
        result.pushed = true;
    }
    Ok(result)
}

async fn extra_tags(
    run: &Run<'_>,
    image: &ImageTarget,
    build: &DockerBuild,
    source: &str,
) -> Result<(), BuildError> {
    for extra in &build.extra_tags {
        let target = ImageRef::parse(extra).map_err(|e| BuildError::Reference {
            image: image.image_ref.clone(),
            message: format!("extra_tag {extra:?}: {e}"),
        })?;
        let target = if target.tag().is_none() {
            target
                .with_tag("latest")
                .map_err(|e| BuildError::Reference {
                    image: image.image_ref.clone(),
                    message: format!("extra_tag {extra:?}: {e}"),
                })?
        } else {
            target
        };
        tag(run, &image.image_ref, source, &target).await?;
        run.log(format!("tagged {}", target.familiar_string()));
    }
    Ok(())
}

/// Credentials for every registry the build may pull from (its `FROM` images, and the
/// push registry, which holds the dependencies' images), by registry host.
async fn pull_credentials(
    run: &Run<'_>,
    prepared: &Prepared,
    build: &DockerBuild,
    local: &ImageRef,
) -> Result<HashMap<String, DockerCredentials>, BuildError> {
    let mut hosts = vec![local.domain().to_owned()];
    for u in image_uses(&prepared.dockerfile, &build.build_args) {
        if let Ok(r) = ImageRef::parse(&u.image)
            && !hosts.iter().any(|h| h == r.domain())
        {
            hosts.push(r.domain().to_owned());
        }
    }
    let mut out = HashMap::new();
    for host in hosts {
        if let Some(creds) = run.credentials(&host).await? {
            out.insert(host, creds);
        }
    }
    Ok(out)
}

/// Sends the build and follows its output; returns the image ID.
async fn send_build(
    run: &Run<'_>,
    image: &ImageTarget,
    build: &DockerBuild,
    prepared: &Prepared,
    local: &ImageRef,
    kind: &BuilderKind,
) -> Result<String, BuildError> {
    let name = image.image_ref.as_str();
    let local_text = local.familiar_string();
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(prepared.dockerfile_name)
        .t(&local_text)
        .rm(true)
        .forcerm(true)
        .target(&build.target)
        .platform(&build.platform);
    let args: HashMap<String, String> = build
        .build_args
        .iter()
        // A bare `--build-arg KEY` sends no value: the daemon then uses the ARG default.
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
        .collect();
    if !args.is_empty() {
        options = options.buildargs(&args);
    }
    if !build.network.is_empty() {
        options = options.networkmode(&build.network);
    }
    if !build.cache_from.is_empty() {
        options = options.cachefrom(&build.cache_from);
    }
    if build.pull {
        options = options.pull("1");
    }
    let creds = pull_credentials(run, prepared, build, local).await?;
    let buildkit = *kind == BuilderKind::BuildKit;
    // A BuildKit build runs on a client of its own (see `buildkit_build`); the classic
    // builder uses the builder's.
    let docker = if buildkit {
        crate::host::connect(&run.builder.resolved)?
    } else {
        run.builder.docker.clone()
    };

    // The Engine API takes `extrahosts` once per host; bollard's options hold one string,
    // so the others are added to the request's query.
    let docker = if build.extra_hosts.is_empty() {
        docker
    } else {
        let hosts = build.extra_hosts.clone();
        docker.with_request_modifier(move |mut request| {
            if request.uri().path().ends_with("/build") {
                let mut uri = request.uri().to_string();
                for host in &hosts {
                    uri.push(if uri.contains('?') { '&' } else { '?' });
                    uri.push_str("extrahosts=");
                    uri.push_str(&percent_encode(host));
                }
                if let Ok(parsed) = uri.parse() {
                    *request.uri_mut() = parsed;
                }
            }
            request
        })
    };

    let (extra, skip) = tar_layout(prepared, buildkit);
    let (body, tar_failure) = tar_stream(prepared.manifest.clone(), extra, skip);
    let mut stream: BoxStream<'_, Result<BuildInfo, DockerError>> = if buildkit {
        let session = new_session_id();
        let options = options
            .version(BuilderVersion::BuilderBuildKit)
            .session(&session)
            .build();
        let creds = session_credentials(creds);
        buildkit_build(docker, options, (!creds.is_empty()).then_some(creds), body)
    } else {
        let creds: HashMap<String, DockerCredentials> = creds
            .into_iter()
            .map(|(host, c)| (crate::auth::server_address(&host), c))
            .collect();
        let options = options.build();
        docker
            .build_image(
                options,
                (!creds.is_empty()).then_some(creds),
                Some(bollard::body_try_stream(body)),
            )
            .boxed()
    };
    let mut lines = Lines::default();
    let mut progress = Progress::default();
    let mut step: Option<String> = None;
    let mut image_id: Option<String> = None;
    let tar_error = || -> Option<BuildError> {
        let failure = tar_failure.lock().ok()?.take()?;
        Some(match failure {
            TarError::Changed(path) => BuildError::ContextChanged {
                image: name.to_owned(),
                path,
            },
            TarError::Io { path, source } => BuildError::ContextRead {
                image: name.to_owned(),
                path,
                source,
            },
        })
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(text) = &info.stream {
                    for line in lines.push(text) {
                        if let Some(s) = step_of(&line) {
                            step = Some(s.to_owned());
                        }
                        run.log(line);
                    }
                }
                if let Some(status) = &info.status {
                    let progress = info
                        .progress_detail
                        .as_ref()
                        .is_some_and(|p| p.current.is_some() || p.total.is_some());
                    if !progress {
                        match &info.id {
                            Some(id) => run.log(format!("{id}: {status}")),
                            None => run.log(status.clone()),
                        }
                    }
                }
                match &info.aux {
                    Some(BuildInfoAux::BuildKit(status)) => {
                        for line in progress.update(status) {
                            run.log(line);
                        }
                    }
                    Some(BuildInfoAux::Default(found)) => {
                        if let Some(id) = &found.id {
                            image_id = Some(id.clone());
                        }
                    }
                    None => {}
                }
            }
            Err(e) => {
                for line in lines.finish().into_iter().chain(progress.finish()) {
                    run.log(line);
                }
                if let Some(err) = tar_error() {
                    return Err(err);
                }
                // BuildKit names the failed vertex (`[3/3] RUN …`); the classic builder
                // announced its steps as text.
                let step = progress.failed_step().map(str::to_owned).or(step);
                return Err(match e {
                    DockerError::DockerStreamError { error } => BuildError::BuildFailed {
                        image: name.to_owned(),
                        step,
                        message: error.trim().to_owned(),
                    },
                    DockerError::DockerResponseServerError { message, .. } => {
                        BuildError::BuildFailed {
                            image: name.to_owned(),
                            step,
                            message,
                        }
                    }
                    other => daemon_error(run, name, other),
                });
            }
        }
    }
    for line in lines.finish().into_iter().chain(progress.finish()) {
        run.log(line);
    }
    if let Some(err) = tar_error() {
        return Err(err);
    }
    match image_id {
        Some(id) => Ok(id),
        // Old daemons announce the ID only as text; ask for it by the tag just built.
        None => daemon_image_id(run, name, &local_text)
            .await?
            .ok_or_else(|| BuildError::BuildFailed {
                image: name.to_owned(),
                step,
                message: format!("the daemon reported success but has no image {local_text}"),
            }),
    }
}

/// How many build messages may wait between the BuildKit thread and the build's future.
const BUILDKIT_QUEUE: usize = 64;

/// Runs a BuildKit build (the `/build` request and bollard's session on `/session`) on a
/// runtime of its own, in a thread of its own, and forwards the build's messages.
///
/// Why a runtime of its own: bollard serves the session from a task it spawns and never
/// stops, which keeps the session's connection (and the daemon's side of it) open after
/// the build. Dropping the runtime at the end of the build ends that task, so each
/// build's session closes with it, as the docker CLI closes its one-time session.
///
/// Dropping the returned stream (cancellation) makes the thread drop the build request,
/// whose closed connection makes the daemon stop the build.
fn buildkit_build(
    docker: bollard::Docker,
    options: BuildImageOptions,
    creds: Option<HashMap<String, DockerCredentials>>,
    body: impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
) -> BoxStream<'static, Result<BuildInfo, DockerError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(BUILDKIT_QUEUE);
    let spawned = std::thread::Builder::new()
        .name("lilt-buildkit".to_owned())
        .spawn({
            let tx = tx.clone();
            move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = tx.blocking_send(Err(DockerError::IOError { err }));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut stream =
                        docker.build_image(options, creds, Some(bollard::body_try_stream(body)));
                    loop {
                        tokio::select! {
                            () = tx.closed() => break,
                            item = stream.next() => match item {
                                Some(item) => {
                                    if tx.send(item).await.is_err() {
                                        break;
                                    }
                                }
                                None => break,
                            },
                        }
                    }
                });
                // Dropping the runtime here ends the session task bollard spawned.
                drop(runtime);
            }
        });
    if let Err(err) = spawned {
        let _ = tx.try_send(Err(DockerError::IOError { err }));
    }
    drop(tx);
    channel_stream(rx).boxed()
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay as they are).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn dockerfile_name_keeps_the_contexts_own_dockerfile() {
        let mut b = DockerBuild {
            context: PathBuf::from("/src/app"),
            dockerfile_path: Some(PathBuf::from("/src/app/./Dockerfile")),
            ..DockerBuild::default()
        };
        assert_eq!(dockerfile_name(&b), "Dockerfile");
        b.dockerfile_path = Some(PathBuf::from("/src/app/Dockerfile.dev"));
        assert_eq!(dockerfile_name(&b), GENERATED_DOCKERFILE);
        b.dockerfile_path = None;
        assert_eq!(dockerfile_name(&b), GENERATED_DOCKERFILE);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("db:127.0.0.1"), "db%3A127.0.0.1");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }
}
