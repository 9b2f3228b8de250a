//! How server-side apply and strategic merge see each field: granular map/struct, atomic value,
//! associative list (merged by key, `+listType=map` / `patchMergeKey`), or set. For built-in
//! kinds this is the part of the Kubernetes OpenAPI extensions (`x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`) that matters for workloads; for custom
//! resources it is read from the CRD's `openAPIV3Schema`, as kube-apiserver does.

use serde_json::Value;

/// How a field's value merges and is owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Each key/field is its own member (structs and maps by default).
    Granular,
    /// Owned and replaced as a whole (scalars, lists by default, `structType=atomic`).
    Atomic,
    /// A list of objects keyed by these fields (`listType=map`).
    Assoc(Vec<String>),
    /// A list of scalars, each a member (`listType=set`).
    Set,
}

/// The schema of one kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schema<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    /// A custom resource's `openAPIV3Schema` (None for built-ins).
    pub custom: Option<&'a Value>,
}

/// The default of a list key field missing from an item (what defaulting would fill in),
/// so `{containerPort: 80}` is keyed as `{"containerPort":80,"protocol":"TCP"}` as on a real server.
pub(crate) fn key_default(field: &str) -> Option<Value> {
    match field {
        "protocol" => Some(Value::String("TCP".into())),
        _ => None,
    }
}

/// Where the PodSpec sits in each workload kind.
fn pod_spec_prefix(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Pod") => Some(&["spec"]),
        ("", "PodTemplate") => Some(&["template", "spec"]),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => Some(&["spec", "template", "spec"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

fn keys(k: &[&str]) -> Shape {
    Shape::Assoc(k.iter().map(|s| s.to_string()).collect())
}

/// The PodSpec's list types (from `k8s.io/api/core/v1` markers).
fn pod_spec_shape(rel: &[&str]) -> Option<Shape> {
    const CONTAINERS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
    match rel {
        [c] if CONTAINERS.contains(c) => Some(keys(&["name"])),
        ["volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"] => {
            Some(keys(&["name"]))
        }
        ["hostAliases"] => Some(keys(&["ip"])),
        ["topologySpreadConstraints"] => Some(keys(&["topologyKey", "whenUnsatisfiable"])),
        [c, "ports"] if CONTAINERS.contains(c) => Some(keys(&["containerPort", "protocol"])),
        [c, "env"] if CONTAINERS.contains(c) => Some(keys(&["name"])),
        [c, "volumeMounts"] if CONTAINERS.contains(c) => Some(keys(&["mountPath"])),
        [c, "volumeDevices"] if CONTAINERS.contains(c) => Some(keys(&["devicePath"])),
        [c, "resizePolicy"] if CONTAINERS.contains(c) => Some(keys(&["resourceName"])),
        _ => None,
    }
}

impl Schema<'_> {
    /// The shape of the field at `path` (field names from the root; list items are
    /// transparent), given its value.
    pub fn shape(&self, path: &[&str], value: &Value) -> Shape {
        let default = match value {
            Value::Object(_) => Shape::Granular,
            _ => Shape::Atomic,
        };
        if let Some(schema) = self.custom {
            return custom_shape(schema, path).unwrap_or(default);
        }
        self.builtin_shape(path).unwrap_or(default)
    }

    fn builtin_shape(&self, path: &[&str]) -> Option<Shape> {
        match path {
            ["metadata", "ownerReferences"] => return Some(keys(&["uid"])),
            ["metadata", "finalizers"] => return Some(Shape::Set),
            ["status", "conditions"] => return Some(keys(&["type"])),
            _ => {}
        }
        if let Some(prefix) = pod_spec_prefix(self.group, self.kind)
            && path.len() > prefix.len()
            && path[..prefix.len()] == *prefix
            && let Some(s) = pod_spec_shape(&path[prefix.len()..])
        {
            return Some(s);
        }
        match (self.group, self.kind, path) {
            // metav1.LabelSelector is `+structType=atomic`.
            (
                "apps" | "batch",
                "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job",
                ["spec", "selector"],
            ) => Some(Shape::Atomic),
            // Service.spec.selector is `+mapType=atomic`; ports are keyed by port+protocol.
            ("", "Service", ["spec", "selector"]) => Some(Shape::Atomic),
            ("", "Service", ["spec", "ports"]) => Some(keys(&["port", "protocol"])),
            ("apiextensions.k8s.io", "CustomResourceDefinition", ["spec", "versions"]) => {
                Some(keys(&["name"]))
            }
            ("", "Namespace", ["spec", "finalizers"]) => Some(Shape::Atomic),
            _ => None,
        }
    }
}

/// Walks a CRD's OpenAPI v3 schema along `path`.
fn custom_shape(root: &Value, path: &[&str]) -> Option<Shape> {
    let mut node = root;
    for name in path {
        if node.get("type").and_then(Value::as_str) == Some("array") {
            node = node.get("items")?;
        }
        node = match node.get("properties").and_then(|p| p.get(*name)) {
            Some(n) => n,
            None => match node.get("additionalProperties") {
                Some(ap) if ap.is_object() => ap,
                _ => return None,
            },
        };
    }
    match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => {
            let ks: Vec<String> = node
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            return Some(Shape::Assoc(ks));
        }
        Some("set") => return Some(Shape::Set),
        Some("atomic") => return Some(Shape::Atomic),
        _ => {}
    }
    match node.get("x-kubernetes-map-type").and_then(Value::as_str) {
        Some("atomic") => Some(Shape::Atomic),
        Some("granular") => Some(Shape::Granular),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workloads_key_containers_by_name() {
        let s = Schema {
            group: "apps",
            kind: "Deployment",
            custom: None,
        };
        assert_eq!(
            s.shape(&["spec", "template", "spec", "containers"], &json!([])),
            Shape::Assoc(vec!["name".into()])
        );
        assert_eq!(
            s.shape(
                &["spec", "template", "spec", "containers", "ports"],
                &json!([])
            ),
            Shape::Assoc(vec!["containerPort".into(), "protocol".into()])
        );
        assert_eq!(s.shape(&["spec", "selector"], &json!({})), Shape::Atomic);
        assert_eq!(
            s.shape(
                &["spec", "template", "spec", "containers", "args"],
                &json!([])
            ),
            Shape::Atomic
        );
        assert_eq!(
            s.shape(&["metadata", "labels"], &json!({})),
            Shape::Granular
        );
    }

    #[test]
    fn crd_schema_markers() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                "items": {"type": "object", "properties": {"tags": {"type": "array", "x-kubernetes-list-type": "set"}}}},
            "opaque": {"type": "object", "x-kubernetes-map-type": "atomic"}}}}});
        let s = Schema {
            group: "example.com",
            kind: "Widget",
            custom: Some(&schema),
        };
        assert_eq!(
            s.shape(&["spec", "items"], &json!([])),
            Shape::Assoc(vec!["id".into()])
        );
        assert_eq!(s.shape(&["spec", "items", "tags"], &json!([])), Shape::Set);
        assert_eq!(s.shape(&["spec", "opaque"], &json!({})), Shape::Atomic);
        assert_eq!(s.shape(&["spec", "other"], &json!([])), Shape::Atomic);
    }
}
