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
    /// Run only when a changed file is under one of these; empty means always.
    pub triggers: Vec<PathBuf>,
    pub echo_off: bool,
}
