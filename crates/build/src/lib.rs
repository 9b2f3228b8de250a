//! Image builds for lilt: turns a resource's image targets (`docker_build`, `custom_build`)
//! into built, content-tagged and, when a registry is involved, pushed images.
//!
//! - [`Builder`] picks the Docker daemon as the docker CLI does (`DOCKER_HOST`, the current
//!   `docker context`, the default socket) and talks to it through the Engine API (bollard).
//! - [`build_all`] builds a list of images, dependencies first. Each image's tag is
//!   `tilt-<16 hex>`, a hash of exactly its inputs computed *before* building; when an image
//!   with that tag already exists where it is needed (the registry when pushing, else the
//!   daemon), nothing is built and the log says `image up to date: REF`.
//! - The daemon that builds also pushes; nothing is pulled back to any other daemon.
//!
//! See `docs/build.md` for what each Tiltfile parameter does here.

mod auth;
mod buildkit;
mod context;
mod custom;
mod docker;
mod dockerfile;
mod env;
mod error;
mod host;
mod output;
mod registry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::auth::DockerCredentials;
use lilt_manifest::{ImageRef, RefSelector, Registry};
use lilt_model::{BuildDetails, DefaultRegistry, ImageTarget};
use tokio_util::sync::CancellationToken;

pub use auth::{AuthEntry, DOCKER_HUB_SERVER, DockerConfig, decode_auth, server_address};
pub use buildkit::{BuilderKind, DaemonInfo, MIN_BUILDKIT_API, choose_builder};
pub use context::{
    ContextManifest, Entry, EntryKind, ExtraFile, HashCache, RACY_WINDOW, TarError, scan,
    tar_stream, write_tar,
};
pub use dockerfile::{ImageUse, Substitution, image_uses, inject};
pub use env::DockerEnv;
pub use error::{BuildAllError, BuildError};
pub use host::{DEFAULT_DOCKER_HOST, HostSource, ResolvedHost, TlsFiles, resolve_host};

/// The prefix of content tags, as in Tilt.
pub const TAG_PREFIX: &str = "tilt-";

/// A connection to the daemon that builds, with what lilt remembers between builds (file
/// hashes of build contexts, refs written by `outputs_image_ref_to` commands).
pub struct Builder {
    docker: bollard::Docker,
    resolved: ResolvedHost,
    env: DockerEnv,
    hashes: Arc<HashCache>,
    /// Inputs hash of an `outputs_image_ref_to` build → the ref its command wrote.
    outputs: Mutex<HashMap<String, String>>,
    /// Whether registries on loopback are asked directly before asking the daemon.
    direct_registry_check: bool,
    /// What the daemon last reported for the builder choice, and when.
    daemon: tokio::sync::Mutex<Option<(Instant, DaemonInfo)>>,
}

/// How long what the daemon reports for the builder choice is reused. Its `/version`
/// takes about 6 ms (dockerd 20.10 asks containerd and runc for theirs), as much as the
/// rest of a build request's preparation, so it is not asked on every build; a daemon
/// reconfigured while lilt runs is seen within this time.
const DAEMON_INFO_TTL: Duration = Duration::from_secs(300);

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("host", &self.resolved.host)
            .field("source", &self.resolved.source)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Chooses the daemon like the docker CLI: `DOCKER_HOST` (`unix://`, `tcp://` with
    /// `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`, `ssh://` when built with the `ssh` feature),
    /// else the current docker context from the `DOCKER_CONFIG` (or `~/.docker`) context
    /// store, else the default socket. No request is made yet: see [`Builder::ping`].
    pub fn from_env(env: &DockerEnv) -> Result<Builder, BuildError> {
        let resolved = resolve_host(env)?;
        let docker = host::connect(&resolved)?;
        Ok(Builder {
            docker,
            resolved,
            env: env.clone(),
            hashes: Arc::new(HashCache::new()),
            outputs: Mutex::new(HashMap::new()),
            direct_registry_check: true,
            daemon: tokio::sync::Mutex::new(None),
        })
    }

    /// Whether the up-to-date check may ask a registry on this machine's loopback directly
    /// (`HEAD /v2/NAME/manifests/TAG`, about 1 ms) before asking the building daemon's
    /// distribution endpoint (15-20 ms). On by default; only a hit is taken from the direct
    /// answer.
    pub fn with_direct_registry_check(mut self, on: bool) -> Builder {
        self.direct_registry_check = on;
        self
    }

    /// The daemon address (`unix:///var/run/docker.sock`, `tcp://host:2376`, …).
    pub fn host(&self) -> &str {
        &self.resolved.host
    }

    /// Where the address came from.
    pub fn host_source(&self) -> &HostSource {
        &self.resolved.source
    }

    /// The environment the builder was made from (`custom_build` commands get it too, so
    /// their `docker` talks to the same daemon).
    pub fn env(&self) -> &DockerEnv {
        &self.env
    }

    /// The Engine API client, for callers that need more than builds (inspect, run).
    pub fn docker(&self) -> &bollard::Docker {
        &self.docker
    }

    /// The cache of build-context file hashes (benchmarks clear it to measure cold checks).
    pub fn hash_cache(&self) -> &HashCache {
        &self.hashes
    }

    /// What the daemon reports that decides between BuildKit and the classic builder
    /// (`/version`, and whether it has a `bridge` network).
    pub async fn daemon_info(&self) -> Result<DaemonInfo, BuildError> {
        let fail = |e: bollard::errors::Error| BuildError::Host {
            host: self.resolved.host.clone(),
            message: e.to_string(),
        };
        let (version, bridge) = tokio::join!(
            self.docker.version(),
            self.docker.inspect_network("bridge", None)
        );
        let version = version.map_err(fail)?;
        let bridge_network = match bridge {
            Ok(_) => true,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => false,
            // Unknown: let BuildKit try, and the daemon say what is wrong.
            Err(_) => true,
        };
        Ok(DaemonInfo {
            os: version.os.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            bridge_network,
        })
    }

    /// The builder the daemon would build an image with, given its `docker_build(network=)`:
    /// BuildKit, or the classic builder and why (see [`choose_builder`]). What the daemon
    /// reports is asked when first needed and reused for five minutes.
    pub async fn builder_kind(&self, network: &str) -> Result<BuilderKind, BuildError> {
        let daemon = {
            let mut cached = self.daemon.lock().await;
            match &*cached {
                Some((at, info)) if at.elapsed() < DAEMON_INFO_TTL => info.clone(),
                _ => {
                    let info = self.daemon_info().await?;
                    *cached = Some((Instant::now(), info.clone()));
                    info
                }
            }
        };
        choose_builder(self.env.get("DOCKER_BUILDKIT"), &daemon, network).map_err(|message| {
            BuildError::Environment {
                var: "DOCKER_BUILDKIT",
                message,
            }
        })
    }

    /// Checks that the daemon answers; returns its version.
    pub async fn ping(&self) -> Result<String, BuildError> {
        let fail = |e: bollard::errors::Error| BuildError::Host {
            host: self.resolved.host.clone(),
            message: e.to_string(),
        };
        self.docker.ping().await.map_err(fail)?;
        let version = self.docker.version().await.map_err(fail)?;
        Ok(version.version.unwrap_or_default())
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    /// The images, each after the images it depends on (`image_deps`, `FROM`).
    pub images: &'a [ImageTarget],
    /// `default_registry(...)`: rewrites image names (Tilt's rule) and is where they go.
    pub registry: Option<&'a DefaultRegistry>,
    /// Whether the images must end up in a registry (the default registry, else the one in
    /// the image's own ref). False for runtimes that use the building daemon directly.
    pub push: bool,
    /// Extra environment for `custom_build` commands (the Tiltfile's `os.putenv` changes,
    /// lilt's own variables), applied over the builder's environment.
    pub env: Vec<(String, String)>,
}

impl<'a> BuildRequest<'a> {
    /// Builds `images` into the daemon only.
    pub fn new(images: &'a [ImageTarget]) -> BuildRequest<'a> {
        BuildRequest {
            images,
            registry: None,
            push: false,
            env: Vec::new(),
        }
    }

    /// Uses `registry` for names and pushes there (when `Some`).
    pub fn with_registry(mut self, registry: Option<&'a DefaultRegistry>) -> BuildRequest<'a> {
        self.registry = registry;
        self.push = registry.is_some();
        self
    }
}

/// An image the request produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuiltImage {
    /// The ref as written in the Tiltfile.
    pub image_ref: String,
    /// The ref deployed objects use: `[registry/]name:tilt-<16 hex>`, with the registry as
    /// the cluster sees it (`host_from_cluster`) when that differs.
    pub built_ref: String,
    /// The same image as the building daemon and the registry know it (pushes, `FROM`).
    pub local_ref: String,
    /// The registry's manifest digest, when pushed or found in the registry.
    pub digest: Option<String>,
    /// The image ID in the building daemon, when known.
    pub image_id: Option<String>,
    /// Nothing was built: an image with this content tag already existed where needed.
    pub cached: bool,
    /// The image is in a registry (pushed now, found there, or pushed by the command).
    pub pushed: bool,
}

/// A log sink: one call per line.
pub type Log<'a> = &'a (dyn Fn(String) + Send + Sync);

/// Builds every image of `req` in order. Stops at the first failure; the output of the
/// failed build is already in `log`, and the error holds the images built (or found up to
/// date) before it, in request order. Cancelling `cancel`, or dropping the future, stops
/// the build in progress (the daemon sees the connection close; `custom_build` commands
/// are killed with their process group).
pub async fn build_all(
    builder: &Builder,
    req: &BuildRequest<'_>,
    log: Log<'_>,
    cancel: &CancellationToken,
) -> Result<Vec<BuiltImage>, BuildAllError> {
    let mut done: Vec<BuiltImage> = Vec::with_capacity(req.images.len());
    let result = tokio::select! {
        biased;
        () = cancel.cancelled() => Err(BuildError::Cancelled),
        result = build_all_inner(builder, req, log, &mut done) => result,
    };
    match result {
        Ok(()) => Ok(done),
        Err(error) => Err(BuildAllError { built: done, error }),
    }
}

async fn build_all_inner(
    builder: &Builder,
    req: &BuildRequest<'_>,
    log: Log<'_>,
    done: &mut Vec<BuiltImage>,
) -> Result<(), BuildError> {
    let config = DockerConfig::load(&builder.env)?;
    let registry = req
        .registry
        .map(|r| Registry {
            host: r.host.clone(),
            host_from_cluster: r.host_from_cluster.clone(),
            single_name: r.single_name.clone(),
        })
        .unwrap_or_default();
    let run = Run {
        builder,
        req,
        log,
        config,
        registry,
        selectors: selectors(req.images),
        creds: tokio::sync::Mutex::new(HashMap::new()),
    };
    for image in req.images {
        let deps = dependencies(image, done)?;
        let built = match &image.build {
            BuildDetails::Docker(d) => docker::build(&run, image, d, &deps).await?,
            BuildDetails::Custom(c) => custom::build(&run, image, c, &deps).await?,
            BuildDetails::DockerCompose(_) => {
                return Err(BuildError::Reference {
                    image: image.image_ref.clone(),
                    message:
                        "built by docker compose itself (no docker_build declares it), not by lilt"
                            .to_owned(),
                });
            }
        };
        done.push(built);
    }
    Ok(())
}

/// Shared state of one [`build_all`] call.
pub(crate) struct Run<'a> {
    pub builder: &'a Builder,
    pub req: &'a BuildRequest<'a>,
    pub log: Log<'a>,
    pub config: DockerConfig,
    pub registry: Registry,
    /// Tilt's build-index selectors of every image of the request, by index.
    pub selectors: Vec<Option<RefSelector>>,
    /// Credentials looked up so far, by registry host.
    creds: tokio::sync::Mutex<HashMap<String, Option<DockerCredentials>>>,
}

impl Run<'_> {
    pub fn log(&self, line: impl Into<String>) {
        (self.log)(line.into());
    }

    /// BuildKit or the classic builder for an image with this `network=`. Only asked when
    /// something is built, so a request that finds everything up to date never asks.
    pub async fn builder_kind(
        &self,
        image: &str,
        network: &str,
    ) -> Result<BuilderKind, BuildError> {
        self.builder
            .builder_kind(network)
            .await
            .map_err(|e| match e {
                // A daemon that fails to answer fails the image being built.
                BuildError::Host { message, .. } => BuildError::Daemon {
                    image: image.to_owned(),
                    host: self.builder.resolved.host.clone(),
                    message,
                },
                other => other,
            })
    }

    /// Credentials for a registry host, asking helpers at most once per request.
    pub async fn credentials(
        &self,
        registry: &str,
    ) -> Result<Option<DockerCredentials>, BuildError> {
        let mut creds = self.creds.lock().await;
        if let Some(found) = creds.get(registry) {
            return Ok(found.clone());
        }
        let found = self.config.credentials(registry, &self.builder.env).await?;
        creds.insert(registry.to_owned(), found.clone());
        Ok(found)
    }

    /// The refs of an image: the pushed/built name, and the name the cluster uses.
    pub fn names(&self, image: &ImageTarget) -> Result<Names, BuildError> {
        let fail = |message: String| BuildError::Reference {
            image: image.image_ref.clone(),
            message,
        };
        let configured = ImageRef::parse(&image.image_ref).map_err(|e| fail(e.to_string()))?;
        let local = self
            .registry
            .local_ref(&configured)
            .map_err(|e| fail(e.to_string()))?;
        let cluster = self
            .registry
            .cluster_ref(&configured)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Names {
            configured,
            local,
            cluster,
        })
    }

    /// `tilt-<16 hex>`, with the image's base name in front under `single_name`.
    pub fn tag_for(&self, names: &Names, hash: &[u8; 32]) -> String {
        let hex = host::hex(&hash[..8]);
        self.registry
            .tag_for(&names.configured, &format!("{TAG_PREFIX}{hex}"))
    }
}

/// The names of one image.
pub(crate) struct Names {
    /// As written in the Tiltfile.
    pub configured: ImageRef,
    /// Rewritten for the registry (as pushed), no tag.
    pub local: ImageRef,
    /// Rewritten for the cluster's view of the registry, no tag.
    pub cluster: ImageRef,
}

impl Names {
    /// `local:tag` and `cluster:tag`, as people write refs.
    pub fn tagged(&self, image: &str, tag: &str) -> Result<(ImageRef, ImageRef), BuildError> {
        let fail = |e: lilt_manifest::ImageRefError| BuildError::Reference {
            image: image.to_owned(),
            message: e.to_string(),
        };
        Ok((
            self.local.with_tag(tag).map_err(fail)?,
            self.cluster.with_tag(tag).map_err(fail)?,
        ))
    }
}

/// An image this one is built from, as built earlier in the request.
pub(crate) struct Dep<'a> {
    /// Index into the request's images.
    pub index: usize,
    pub built: &'a BuiltImage,
}

fn dependencies<'a>(
    image: &ImageTarget,
    done: &'a [BuiltImage],
) -> Result<Vec<Dep<'a>>, BuildError> {
    image
        .image_deps
        .iter()
        .map(|dep| {
            done.iter()
                .position(|b| b.image_ref == *dep)
                .map(|index| Dep {
                    index,
                    built: &done[index],
                })
                .ok_or_else(|| BuildError::MissingDependency {
                    image: image.image_ref.clone(),
                    dep: dep.clone(),
                })
        })
        .collect()
}

fn selectors(images: &[ImageTarget]) -> Vec<Option<RefSelector>> {
    let parsed: Vec<Option<ImageRef>> = images
        .iter()
        .map(|i| ImageRef::parse(&i.image_ref).ok())
        .collect();
    let valid: Vec<ImageRef> = parsed.iter().flatten().cloned().collect();
    let mut built = RefSelector::for_builds(&valid)
        .unwrap_or_else(|_| valid.iter().cloned().map(RefSelector::new).collect())
        .into_iter();
    parsed
        .iter()
        .map(|p| p.as_ref().and_then(|_| built.next()))
        .collect()
}

/// Whether `reference` carries a content tag (so the ref alone identifies the contents).
pub(crate) fn is_content_tagged(reference: &str) -> bool {
    ImageRef::parse(reference)
        .ok()
        .and_then(|r| r.tag().map(|t| t.contains(TAG_PREFIX)))
        .unwrap_or(false)
}
