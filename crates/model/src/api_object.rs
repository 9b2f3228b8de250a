//! Raw API objects registered with `v1alpha1.*` (Cmd, ConfigMap, FileWatch, ...), kept as
//! plain trees so the runner and dashboard can act on the kinds they understand.

use crate::serde_json_free::Json;

/// One registered object, e.g. kind `Cmd` named `my-cmd` with its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiObject {
    /// Tilt's kind name: `Cmd`, `ConfigMap`, `Extension`, `ExtensionRepo`, `FileWatch`,
    /// `KubernetesApply`, `KubernetesDiscovery`, `UIButton`.
    pub kind: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    /// The spec with Tilt's camelCase field names; unset fields are absent.
    pub spec: Json,
}
