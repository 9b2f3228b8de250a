//! Image targets: `docker_build` and `custom_build`, with their live-update steps.

use std::path::PathBuf;

use crate::{Cmd, DockerComposeBuild, IgnoreSet};

/// An image the Tiltfile declared, with how to build it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTarget {
    /// The ref as written in the Tiltfile (`gcr.io/foo`, `app:dev`).
    pub image_ref: String,
    pub build: BuildDetails,
    pub live_update: LiveUpdate,
    pub match_in_env_vars: bool,
    /// Replaces the container command; empty means "keep the image's".
    pub entrypoint: Vec<String>,
    /// Replaces the container args when `Some`.
    pub container_args: Option<Vec<String>>,
    /// Images this one is built from (through `FROM` or `image_deps=`).
    pub image_deps: Vec<String>,
}

impl ImageTarget {
    /// A `custom_build` whose command is `:` and that has live-update syncs or runs: it
    /// builds nothing and only live-updates (the `file_sync_only` extension relies on this
    /// convention of Tilt's). Such images are not injected into deployed objects.
    pub fn is_live_update_only(&self) -> bool {
        let BuildDetails::Custom(c) = &self.build else {
            return false;
        };
        c.cmd.argv == ["sh", "-c", ":"]
            && (!self.live_update.syncs.is_empty() || !self.live_update.runs.is_empty())
    }

    /// The directories whose changes rebuild this image.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        match &self.build {
            BuildDetails::Docker(d) => vec![d.context.clone()],
            BuildDetails::Custom(c) => c.deps.clone(),
            BuildDetails::DockerCompose(dc) => vec![dc.context.clone()],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum BuildDetails {
    Docker(DockerBuild),
    Custom(CustomBuild),
    /// Built by Compose itself (`build:` in the Compose file, no `docker_build`).
    DockerCompose(DockerComposeBuild),
}

/// `docker_build`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DockerBuild {
    pub context: PathBuf,
    /// Where the Dockerfile came from; `None` for `dockerfile_contents=`.
    pub dockerfile_path: Option<PathBuf>,
    /// The Dockerfile text, read at load time.
    pub dockerfile_contents: String,
    /// `KEY` → value; `None` is passed as a bare `--build-arg KEY`.
    pub build_args: Vec<(String, Option<String>)>,
    pub target: String,
    pub ssh: Vec<String>,
    pub secret: Vec<String>,
    pub network: String,
    pub extra_tags: Vec<String>,
    pub cache_from: Vec<String>,
    pub pull: bool,
    pub platform: String,
    pub extra_hosts: Vec<String>,
    /// Ignores for the build context: `.dockerignore`, `ignore=`, the `only=` inversion.
    pub context_ignores: Vec<IgnoreSet>,
    /// Ignores for the file watch (the context ignores plus the Dockerfile itself).
    pub watch_ignores: Vec<IgnoreSet>,
}

/// `custom_build`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomBuild {
    pub cmd: Cmd,
    pub deps: Vec<PathBuf>,
    pub tag: String,
    pub disable_push: bool,
    pub skips_local_docker: bool,
    pub outputs_image_ref_to: Option<PathBuf>,
    pub ignores: Vec<IgnoreSet>,
}

impl CustomBuild {
    /// Where the command leaves the image, from `skips_local_docker` and `disable_push`.
    pub fn output_mode(&self) -> CustomOutputMode {
        if self.skips_local_docker {
            CustomOutputMode::Remote
        } else if self.disable_push {
            CustomOutputMode::LocalDockerAndRemote
        } else {
            CustomOutputMode::LocalDocker
        }
    }
}

/// Where a `custom_build` command puts its image (Tilt's `CmdImageOutputMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomOutputMode {
    /// In the local daemon; lilt pushes it when a registry is configured.
    LocalDocker,
    /// In the local daemon and pushed by the command itself (`disable_push=True`).
    LocalDockerAndRemote,
    /// Only in a registry, never in the local daemon (`skips_local_docker=True`).
    Remote,
}

impl CustomOutputMode {
    /// Tilt's wire value.
    pub fn wire(self) -> &'static str {
        match self {
            CustomOutputMode::LocalDocker => "local-docker",
            CustomOutputMode::LocalDockerAndRemote => "local-docker-and-remote",
            CustomOutputMode::Remote => "remote",
        }
    }
}

/// Steps that update a running container in place instead of rebuilding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveUpdate {
    /// The directory that relative paths were resolved against.
    pub base_path: PathBuf,
    pub initial_sync: bool,
    pub fall_back_on: Vec<PathBuf>,
    pub syncs: Vec<LiveUpdateSync>,
    pub runs: Vec<LiveUpdateRun>,
    pub restart_container: bool,
}

impl LiveUpdate {
    /// The trigger paths of a `run` step, resolved against the base path.
    pub fn trigger_paths(&self, run: &LiveUpdateRun) -> Vec<PathBuf> {
        run.triggers
            .iter()
            .map(|t| crate::paths::clean(&self.base_path.join(t)))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        !self.initial_sync
            && self.fall_back_on.is_empty()
            && self.syncs.is_empty()
            && self.runs.is_empty()
            && !self.restart_container
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUpdateSync {
    pub local_path: PathBuf,
    pub remote_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUpdateRun {
    pub argv: Vec<String>,
    /// Run only when a changed file is under one of these; empty means always. Kept as
    /// written (Tilt's `triggerPaths`); relative ones resolve against
    /// [`LiveUpdate::base_path`] (see [`LiveUpdate::trigger_paths`]).
    pub triggers: Vec<String>,
    pub echo_off: bool,
}

/// What one live update did (shown in the resource's build history and `lilt describe`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveUpdateRecord {
    /// The containers it reached (`docker:<id>`, `<namespace>/<pod>/<container>`).
    pub containers: Vec<String>,
    /// Files copied into each container.
    pub files_copied: u64,
    /// Paths deleted in each container.
    pub files_deleted: u64,
    /// The `run` steps that ran, as written.
    pub runs: Vec<String>,
    /// `restart_container()` restarted the containers.
    pub restarted: bool,
    /// From the first container's start to the last one's end.
    pub elapsed: std::time::Duration,
}

/// An image an update produced: built now, or found up to date under its content tag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuiltImage {
    /// The ref as written in the Tiltfile (`ImageTarget::image_ref`).
    pub image_ref: String,
    /// The ref deployed objects use: `[registry/]name:tilt-<16 hex>`.
    pub built_ref: String,
    /// The registry's manifest digest, when the image was pushed or found there.
    pub digest: Option<String>,
    /// Nothing was built: an image with this content tag already existed where needed.
    pub cached: bool,
    /// Pushed to (or found in) a registry, rather than only in the building daemon.
    pub pushed: bool,
}
