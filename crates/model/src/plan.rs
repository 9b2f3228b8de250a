//! The Plan: the whole result of evaluating a Tiltfile.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::{
    ApiObject, DefaultRegistry, IgnoreSet, ImageTarget, K8sContext, Manifest, SecretValue,
    Settings, UiButton,
};

/// The name of the pseudo-resource that stands for the Tiltfile itself.
pub const TILTFILE_RESOURCE: &str = "(Tiltfile)";
/// The resource that holds Kubernetes objects no other resource claimed.
pub const UNCATEGORIZED_RESOURCE: &str = "uncategorized";

/// What a Tiltfile asked for. Built by `lilt-tiltfile`, run by the engine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// The main Tiltfile, absolute.
    pub tiltfile: PathBuf,
    /// Resources in Tilt's order: Kubernetes, Docker Compose, local, then `uncategorized`.
    pub manifests: Vec<Manifest>,
    /// Every image declared, in declaration order, used or not.
    pub images: Vec<ImageTarget>,
    /// Names of the resources to run; the others are shown disabled.
    pub enabled: Vec<String>,
    /// Files whose change re-runs the Tiltfile.
    pub config_files: BTreeSet<PathBuf>,
    /// `.tiltignore` next to the main Tiltfile.
    pub tiltignore: IgnoreSet,
    pub settings: Settings,
    /// The Tiltfile args this Plan was evaluated with.
    pub args: Vec<String>,
    /// Dashboard buttons (`v1alpha1.ui_button`, `browser_button`).
    pub buttons: Vec<UiButton>,
    /// Environment changes the Tiltfile made (`os.putenv`, `os.environ`): `None` removes.
    /// Commands lilt starts get them applied, as Tilt's process environment would.
    pub env_changes: Vec<(String, Option<String>)>,
    /// `default_registry(...)`, if called.
    pub default_registry: Option<DefaultRegistry>,
    /// The kube context and namespace the Tiltfile saw.
    pub k8s_context: K8sContext,
    /// Values of Secrets in the Kubernetes YAML, scrubbed from logs.
    pub secrets: Vec<SecretValue>,
    /// Objects registered with `v1alpha1.*`, in registration order.
    pub api_objects: Vec<ApiObject>,
}

impl Plan {
    pub fn manifest(&self, name: &str) -> Option<&Manifest> {
        self.manifests.iter().find(|m| m.name == name)
    }

    /// Every ignore pattern that applies to all file watches.
    pub fn global_ignores(&self) -> Vec<IgnoreSet> {
        // An IgnoreSet without patterns means "everything under the base"; an empty or
        // missing .tiltignore must ignore nothing.
        let mut out = Vec::new();
        if !self.tiltignore.patterns.is_empty() {
            out.push(self.tiltignore.clone());
        }
        out.extend(self.settings.watch_ignores.iter().cloned());
        out
    }
}
