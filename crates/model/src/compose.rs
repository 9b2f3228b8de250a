//! Docker Compose resources (`docker_compose`, `dc_resource`) and images Compose builds.

use std::path::PathBuf;

use crate::{IgnoreSet, Link};

/// A Compose project: the files `docker compose -p <name> -f ... up` is run with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComposeProject {
    pub name: String,
    /// Compose files in merge order (blobs are written to files first).
    pub config_paths: Vec<PathBuf>,
    /// The directory relative paths in the files resolve against.
    pub project_path: PathBuf,
    /// `env_file=`: `--env-file` for Compose; `None` means the project's `.env`.
    pub env_file: Option<PathBuf>,
    pub profiles: Vec<String>,
    /// `wait=True`: `up --wait`.
    pub wait: bool,
}

/// One Compose service run as a resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DockerComposeTarget {
    /// The service's name in the Compose files (the resource may be renamed).
    pub service: String,
    pub project: ComposeProject,
    /// The service's resolved configuration as YAML, used to detect changes.
    pub service_yaml: String,
    /// Image refs (as declared) of the builds this service uses.
    pub image_maps: Vec<String>,
    /// Ports published on the host, in file order.
    pub published_ports: Vec<u16>,
    /// `infer_links=`: whether published ports become links.
    pub infer_links: bool,
    /// `dc_resource(links=)`.
    pub links: Vec<Link>,
    /// What the dashboard shows: inferred `http://localhost:<port>/` links, then `links`.
    pub endpoint_links: Vec<Link>,
    /// Host paths bind-mounted into the container.
    pub mounted_paths: Vec<PathBuf>,
}

/// An image Compose builds itself (a service with `build:` and no `docker_build`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DockerComposeBuild {
    pub service: String,
    /// The build context; empty when it is not a local directory (a git URL).
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    /// Paths whose changes do not rebuild: the `.dockerignore` patterns, the Dockerfile,
    /// and the service's bind-mounted sources.
    pub watch_ignores: Vec<IgnoreSet>,
}
