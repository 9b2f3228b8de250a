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

impl PortForward {
    /// The dashboard link for this forward; a forward with no host is shown on `localhost`.
    pub fn link(&self) -> Link {
        let host = if self.host.is_empty() {
            "localhost"
        } else {
            &self.host
        };
        Link {
            url: format!(
                "http://{host}:{}/{}",
                self.local_port,
                self.link_path.trim_start_matches('/')
            ),
            name: self.name.clone(),
        }
    }
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
    /// The links the dashboard shows for the resource, in Tilt's order: for Kubernetes the
    /// explicit `links=` and then one per port forward (`http://<host>:<port>/<link_path>`).
    pub fn links(&self) -> Vec<Link> {
        match &self.deploy {
            DeployTarget::Local(local) => local.links.clone(),
            DeployTarget::K8s(k8s) => k8s
                .links
                .iter()
                .cloned()
                .chain(k8s.port_forwards.iter().map(PortForward::link))
                .collect(),
            DeployTarget::DockerCompose(dc) => dc.endpoint_links.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::K8sTarget;

    fn forward(local_port: u16, host: &str, name: &str, link_path: &str) -> PortForward {
        PortForward {
            local_port,
            container_port: 0,
            host: host.to_owned(),
            name: name.to_owned(),
            link_path: link_path.to_owned(),
        }
    }

    /// Tilt's order: explicit links, then one per forward (`localhost` when no host).
    #[test]
    fn k8s_links_are_explicit_links_then_forwards() {
        let manifest = Manifest {
            name: "web".to_owned(),
            image_targets: Vec::new(),
            deploy: DeployTarget::K8s(K8sTarget {
                links: vec![Link {
                    url: "http://docs.example/".to_owned(),
                    name: "docs".to_owned(),
                }],
                port_forwards: vec![
                    forward(8000, "", "", ""),
                    forward(9000, "127.0.0.2", "api", "/v1/health"),
                ],
                ..K8sTarget::default()
            }),
            trigger_mode: TriggerMode::default(),
            resource_deps: Vec::new(),
            labels: BTreeMap::new(),
            source_tiltfile: String::new(),
        };
        let links: Vec<(String, String)> = manifest
            .links()
            .into_iter()
            .map(|l| (l.url, l.name))
            .collect();
        assert_eq!(
            links,
            [
                ("http://docs.example/".to_owned(), "docs".to_owned()),
                ("http://localhost:8000/".to_owned(), String::new()),
                (
                    "http://127.0.0.2:9000/v1/health".to_owned(),
                    "api".to_owned()
                ),
            ]
        );
    }
}
