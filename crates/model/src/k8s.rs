//! Kubernetes deploy targets (`k8s_yaml` + `k8s_resource`, `k8s_custom_deploy`), the image
//! registry from `default_registry`, and secrets to scrub from logs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{Cmd, Link, LiveUpdate, PortForward};

/// How a Kubernetes resource's pods count as ready (`pod_readiness=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PodReadinessMode {
    /// Wait for the pods to be ready.
    #[default]
    Wait,
    /// Do not wait for pods.
    Ignore,
    /// Wait for the pods to complete (Jobs).
    Succeeded,
}

impl PodReadinessMode {
    /// Tilt's wire value (`wait`, `ignore`, `succeeded`).
    pub fn as_str(self) -> &'static str {
        match self {
            PodReadinessMode::Wait => "wait",
            PodReadinessMode::Ignore => "ignore",
            PodReadinessMode::Succeeded => "succeeded",
        }
    }
}

/// Where images live in objects Kubernetes' built-in types do not describe
/// (`k8s_kind(image_json_path=|image_object=)`, `k8s_image_json_path`). The selector fields
/// are case-insensitive regexps; empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageLocatorSpec {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// A JSONPath such as `{.spec.image}`.
    pub path: String,
    /// For `image_object`: the repository and tag fields of the map at `path`; both empty
    /// for a plain `image_json_path` locator.
    pub repo_field: String,
    pub tag_field: String,
}

/// `k8s_custom_deploy`: commands that apply and delete the resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct K8sCustomDeploy {
    /// Must print the YAML of what it applied on stdout.
    pub apply_cmd: Cmd,
    pub delete_cmd: Cmd,
    /// Changes to these re-apply (except paths covered by live-update syncs).
    pub deps: Vec<PathBuf>,
    /// With `live_update`: which containers to update, by image (`image_selector=`) ...
    pub image_selector: String,
    /// ... or by container name (`container_selector=`).
    pub container_selector: String,
    pub live_update: LiveUpdate,
}

/// A Kubernetes resource: objects to apply (or a custom deploy), and how to watch its pods.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct K8sTarget {
    /// The objects as one YAML stream, in apply order. Empty for a custom deploy.
    pub yaml: String,
    /// Image refs (as declared) of the builds this resource deploys, in the order found.
    pub image_maps: Vec<String>,
    /// Where images live in custom kinds, for injection at deploy time.
    pub image_locators: Vec<ImageLocatorSpec>,
    pub port_forwards: Vec<PortForward>,
    /// Each map is an AND of labels; the list is an OR.
    pub extra_pod_selectors: Vec<BTreeMap<String, String>>,
    pub pod_readiness: PodReadinessMode,
    /// `true` for `discovery_strategy='selectors-only'`.
    pub selectors_only: bool,
    pub links: Vec<Link>,
    /// Built by `k8s_custom_deploy` rather than from YAML.
    pub custom_deploy: Option<K8sCustomDeploy>,
}

/// `default_registry(host, host_from_cluster=, single_name=)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DefaultRegistry {
    pub host: String,
    pub host_from_cluster: String,
    pub single_name: String,
}

/// The Kubernetes context the Tiltfile was evaluated against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct K8sContext {
    /// The kube context name; empty when there is no kubeconfig.
    pub context: String,
    /// The default namespace (`--namespace`, the context's, else `default`).
    pub namespace: String,
    /// The cluster name the context points at.
    pub cluster: String,
    /// `namespace` is the developer's own (`--namespace`, `LILT_NAMESPACE` or
    /// `update_settings(k8s_namespace=)`): lilt creates it when missing, labelled with its
    /// owner, and keeps it marked active while `lilt up` runs.
    pub developer_namespace: bool,
}

/// A Secret value found in `k8s_yaml` input, scrubbed from logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValue {
    /// The Secret's name.
    pub name: String,
    pub key: String,
    /// The decoded value.
    pub value: String,
    /// The value as it appears base64-encoded in the YAML.
    pub value_encoded: String,
}
