//! Resources (Tilt calls them manifests) and what they deploy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{Cmd, DockerComposeTarget, ImageTarget, K8sTarget, Probe};

/// How a resource reacts to file changes and to its first build (`pkg/model/trigger_mode.go`).
/// The discriminants are Tilt's wire values, used by the dashboard API and `tiltfile-result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TriggerMode {
    #[default]
    Auto = 0,
    ManualWithAutoInit = 1,
    Manual = 2,
    AutoWithManualInit = 3,
}

impl TriggerMode {
    /// Combines the Tiltfile's `trigger_mode` (auto or manual) with `auto_init`.
    pub fn from_parts(auto: bool, auto_init: bool) -> TriggerMode {
        match (auto, auto_init) {
            (true, true) => TriggerMode::Auto,
            (false, true) => TriggerMode::ManualWithAutoInit,
            (false, false) => TriggerMode::Manual,
            (true, false) => TriggerMode::AutoWithManualInit,
        }
    }

    pub fn from_wire(value: i64) -> Option<TriggerMode> {
        Some(match value {
            0 => TriggerMode::Auto,
            1 => TriggerMode::ManualWithAutoInit,
            2 => TriggerMode::Manual,
            3 => TriggerMode::AutoWithManualInit,
            _ => return None,
        })
    }

    pub fn wire(self) -> i64 {
        self as i64
    }

    /// File changes start a build by themselves.
    pub fn auto_on_change(self) -> bool {
        matches!(self, TriggerMode::Auto | TriggerMode::AutoWithManualInit)
    }

    /// The first build starts without a trigger.
    pub fn auto_initial(self) -> bool {
        matches!(self, TriggerMode::Auto | TriggerMode::ManualWithAutoInit)
    }
}

/// A set of dockerignore-syntax patterns and the directory they are relative to.
/// An empty pattern list means "ignore `base_path` itself and everything under it".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IgnoreSet {
    pub base_path: PathBuf,
    pub patterns: Vec<String>,
}

/// A link shown on a resource in the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub name: String,
}

/// A port forward from the host into a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    pub local_port: u16,
    /// 0 means "infer from the pod".
    pub container_port: u16,
    /// Empty means "the `--host` web host".
    pub host: String,
    pub name: String,
    pub link_path: String,
}

/// One resource: what it builds, how it deploys, and how it is scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: String,
    /// Images this resource deploys, dependencies first.
    pub image_targets: Vec<ImageTarget>,
    pub deploy: DeployTarget,
    pub trigger_mode: TriggerMode,
    pub resource_deps: Vec<String>,
    /// Tilt stores labels as a map `{label: label}`.
    pub labels: BTreeMap<String, String>,
    /// The Tiltfile that declared the resource; empty for the main one.
    pub source_tiltfile: String,
}

impl Manifest {
    pub fn links(&self) -> &[Link] {
        match &self.deploy {
            DeployTarget::Local(local) => &local.links,
            DeployTarget::K8s(k8s) => &k8s.links,
            DeployTarget::DockerCompose(dc) => &dc.endpoint_links,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match &self.deploy {
            DeployTarget::Local(_) => "local",
            DeployTarget::K8s(_) => "k8s",
            DeployTarget::DockerCompose(_) => "docker-compose",
        }
    }
}

/// How a resource is deployed. Kubernetes and Docker Compose targets join this enum as
/// their runtimes land; the engine matches on it, so a new variant is a compile error
/// everywhere it must be handled.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployTarget {
    Local(LocalTarget),
    /// `k8s_yaml` objects grouped into a resource, or `k8s_custom_deploy`.
    K8s(K8sTarget),
    /// A Docker Compose service (`docker_compose`, `dc_resource`).
    DockerCompose(DockerComposeTarget),
}

/// `local_resource`: a command run on each update and/or a supervised server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalTarget {
    /// `cmd`; `None` when only `serve_cmd` is given.
    pub update_cmd: Option<Cmd>,
    /// `serve_cmd`; `None` when only `cmd` is given.
    pub serve_cmd: Option<Cmd>,
    /// Absolute paths whose changes trigger an update.
    pub deps: Vec<PathBuf>,
    /// `ignore=` patterns, relative to the declaring Tiltfile's directory.
    pub ignores: Vec<IgnoreSet>,
    pub allow_parallel: bool,
    pub readiness_probe: Option<Probe>,
    pub links: Vec<Link>,
}
