//! Kubernetes objects as JSON values: parsing multi-document YAML, writing it back, cheap
//! accessors for the metadata Tilt looks at, and object ids.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::error::ManifestError;

/// The namespace Tilt assumes for objects that do not name one (`k8s.DefaultNamespace`).
pub const DEFAULT_NAMESPACE: &str = "default";

/// One Kubernetes object. The document is kept as JSON with its key order, so writing it
/// back changes nothing the caller did not change.
///
/// Invariant: the document is a mapping whose `kind` is a non-empty string.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sObject {
    doc: Value,
}

/// Where the pod templates of built-in kinds live, as key paths from the document root.
const TEMPLATE_AT_TEMPLATE: &[&[&str]] = &[&["template"]];
const TEMPLATE_AT_SPEC: &[&[&str]] = &[&["spec", "template"]];
const TEMPLATE_AT_JOB_TEMPLATE: &[&[&str]] = &[&["spec", "jobTemplate", "spec", "template"]];

impl K8sObject {
    /// Wraps a JSON document; it must be a mapping with a string `kind`.
    pub fn from_value(doc: Value) -> Result<K8sObject, ManifestError> {
        check_object(&doc, 0)?;
        Ok(K8sObject { doc })
    }

    pub fn as_value(&self) -> &Value {
        &self.doc
    }

    pub fn into_value(self) -> Value {
        self.doc
    }

    /// Mutable access for rewriting. Callers must leave `kind` a non-empty string.
    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.doc
    }

    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"]).unwrap_or("")
    }

    pub fn kind(&self) -> &str {
        self.str_at(&["kind"]).unwrap_or("")
    }

    /// The API group: the part of `apiVersion` before `/`, empty for the core group.
    pub fn group(&self) -> &str {
        match self.api_version().split_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"]).unwrap_or("")
    }

    /// The namespace as written; `None` when absent or empty.
    pub fn namespace(&self) -> Option<&str> {
        self.str_at(&["metadata", "namespace"])
            .filter(|ns| !ns.is_empty())
    }

    /// The namespace as Tilt compares it: `default` when the object names none.
    pub fn namespace_or_default(&self) -> &str {
        self.namespace().unwrap_or(DEFAULT_NAMESPACE)
    }

    /// `metadata.labels` (string values only).
    pub fn labels(&self) -> BTreeMap<&str, &str> {
        string_map(self.value_at(&["metadata", "labels"]))
    }

    /// The labels of each pod template the object carries (Deployment, Job, CronJob, ...).
    /// A bare Pod has no template, as in Tilt.
    pub fn pod_template_labels(&self) -> Vec<BTreeMap<&str, &str>> {
        self.pod_template_paths()
            .iter()
            .filter_map(|path| self.value_at(path))
            .map(|template| string_map(template.get("metadata").and_then(|m| m.get("labels"))))
            .collect()
    }

    /// Whether the object has at least one pod template.
    pub fn has_pod_template(&self) -> bool {
        self.pod_template_paths()
            .iter()
            .any(|path| self.value_at(path).is_some_and(Value::is_object))
    }

    /// A core Service's `spec.selector`; `None` for other kinds.
    pub fn service_selector(&self) -> Option<BTreeMap<&str, &str>> {
        if self.kind() != "Service" || !self.group().is_empty() {
            return None;
        }
        Some(string_map(self.value_at(&["spec", "selector"])))
    }

    pub fn id(&self) -> ObjectId {
        ObjectId {
            name: self.name().to_owned(),
            kind: self.kind().to_owned(),
            namespace: self.namespace_or_default().to_owned(),
            group: self.group().to_owned(),
        }
    }

    /// `name:Kind:namespace`, escaped: how Tilt lists objects in selector errors.
    pub fn selector_name(&self) -> String {
        join_selector_parts(&[self.name(), self.kind(), self.namespace_or_default()])
    }

    /// Short human form for messages: `Deployment/foo`.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }

    /// Key paths to the pod templates of this object's kind (empty for non-built-in kinds).
    pub(crate) fn pod_template_paths(&self) -> &'static [&'static [&'static str]] {
        match builtin_workload(self.group(), self.kind()) {
            Some(BuiltinWorkload::PodTemplate) => TEMPLATE_AT_TEMPLATE,
            Some(BuiltinWorkload::Templated) => TEMPLATE_AT_SPEC,
            Some(BuiltinWorkload::CronJob) => TEMPLATE_AT_JOB_TEMPLATE,
            Some(BuiltinWorkload::Pod) | None => &[],
        }
    }

    /// Key paths to the pod specs of this object's kind (empty for non-built-in kinds).
    pub(crate) fn pod_spec_paths(&self) -> Vec<Vec<&'static str>> {
        if matches!(
            builtin_workload(self.group(), self.kind()),
            Some(BuiltinWorkload::Pod)
        ) {
            return vec![vec!["spec"]];
        }
        self.pod_template_paths()
            .iter()
            .map(|path| {
                let mut p = path.to_vec();
                p.push("spec");
                p
            })
            .collect()
    }

    pub(crate) fn value_at(&self, path: &[&str]) -> Option<&Value> {
        let mut cur = &self.doc;
        for key in path {
            cur = cur.get(key)?;
        }
        Some(cur)
    }

    fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.value_at(path).and_then(Value::as_str)
    }
}

/// Built-in kinds whose pods Tilt finds through the typed Kubernetes structs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuiltinWorkload {
    Pod,
    PodTemplate,
    /// Pod template at `spec.template`.
    Templated,
    CronJob,
}

fn builtin_workload(group: &str, kind: &str) -> Option<BuiltinWorkload> {
    match (group, kind) {
        ("", "Pod") => Some(BuiltinWorkload::Pod),
        ("", "PodTemplate") => Some(BuiltinWorkload::PodTemplate),
        ("", "ReplicationController") => Some(BuiltinWorkload::Templated),
        ("apps" | "extensions", "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet") => {
            Some(BuiltinWorkload::Templated)
        }
        ("batch", "Job") => Some(BuiltinWorkload::Templated),
        ("batch", "CronJob") => Some(BuiltinWorkload::CronJob),
        _ => None,
    }
}

fn string_map(value: Option<&Value>) -> BTreeMap<&str, &str> {
    match value.and_then(Value::as_object) {
        Some(map) => map
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
            .collect(),
        None => BTreeMap::new(),
    }
}

fn check_object(doc: &Value, document: usize) -> Result<(), ManifestError> {
    let Some(map) = doc.as_object() else {
        return Err(ManifestError::NotAnObject {
            document,
            reason: format!("expected a mapping, found {}", value_type_name(doc)),
        });
    };
    match map.get("kind").and_then(Value::as_str) {
        Some(kind) if !kind.is_empty() => Ok(()),
        _ => Err(ManifestError::NotAnObject {
            document,
            reason: "object 'kind' is missing".to_owned(),
        }),
    }
}

pub(crate) fn value_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Parses a multi-document YAML stream into objects, in order. Empty and `null` documents
/// are skipped and `kind: List` documents are replaced by their items.
pub fn parse_yaml_stream(text: &str) -> Result<Vec<K8sObject>, ManifestError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(yaml_error)?;
    let mut out = Vec::with_capacity(docs.len());
    for (idx, doc) in docs.into_iter().enumerate() {
        push_document(doc, idx + 1, &mut out)?;
    }
    Ok(out)
}

fn push_document(
    doc: Value,
    document: usize,
    out: &mut Vec<K8sObject>,
) -> Result<(), ManifestError> {
    if doc.is_null() {
        return Ok(());
    }
    if is_list(&doc) {
        if let Value::Object(mut map) = doc
            && let Some(Value::Array(items)) = map.remove("items")
        {
            for item in items {
                push_document(item, document, out)?;
            }
        }
        return Ok(());
    }
    check_object(&doc, document)?;
    out.push(K8sObject { doc });
    Ok(())
}

fn is_list(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("List")
        && doc.get("items").is_some_and(Value::is_array)
}

fn yaml_error(err: serde_saphyr::Error) -> ManifestError {
    let (line, column) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    // The rendered error carries a source snippet after the first line; the first line has
    // the message, prefixed with "error: line L column C: ".
    let rendered = err.to_string();
    let first = rendered.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let message = match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_owned(),
        _ => first.to_owned(),
    };
    ManifestError::Yaml {
        line,
        column,
        message,
    }
}

/// Writes objects as one multi-document YAML stream, `---` between documents.
pub fn to_yaml(objects: &[K8sObject]) -> String {
    let mut out = String::new();
    for (idx, obj) in objects.iter().enumerate() {
        if idx > 0 {
            out.push_str("---\n");
        }
        // Serializing a JSON value to YAML cannot fail: every key is a string and there
        // are no non-finite floats in a serde_json::Value.
        match serde_saphyr::to_string(&PlainNumbers(&obj.doc)) {
            Ok(text) => out.push_str(&text),
            Err(err) => out.push_str(&format!("# lilt: could not serialize object: {err}\n")),
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// YAML text for one JSON value, numbers written as plain ints and floats (see
/// [`PlainNumbers`]). The one place lilt turns JSON data into YAML text.
pub fn value_to_yaml(value: &Value) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(&PlainNumbers(value))
}

/// YAML text for one JSON value laid out as Go's `gopkg.in/yaml.v3` writes it: four-space
/// indentation, list items indented under their key, multi-line strings quoted. Compose
/// writes a service's configuration this way, and Tilt records that text (`ServiceYAML`).
pub fn value_to_go_yaml(value: &Value) -> Result<String, serde_saphyr::SerializeError> {
    let options = serde_saphyr::ser_options! {
        indent_step: 4,
        compact_list_indent: false,
        prefer_block_scalars: false,
    };
    serde_saphyr::to_string_with_options(&PlainNumbers(value), options)
}

/// Serializes a JSON value with numbers as plain ints and floats. serde_json's own
/// `Serialize` writes numbers as a private map when another crate in the build turns on
/// its `arbitrary_precision` feature (starlark does), which YAML would print verbatim.
struct PlainNumbers<'a>(&'a Value);

impl serde::Serialize for PlainNumbers<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Null => ser.serialize_unit(),
            Value::Bool(b) => ser.serialize_bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    ser.serialize_i64(i)
                } else if let Some(u) = n.as_u64() {
                    ser.serialize_u64(u)
                } else {
                    ser.serialize_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => ser.serialize_str(s),
            Value::Array(items) => {
                let mut seq = ser.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&PlainNumbers(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut out = ser.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, &PlainNumbers(v))?;
                }
                out.end()
            }
        }
    }
}

/// Identifies an object the way Tilt does for naming and for `workload_to_resource_function`.
/// `namespace` is `default` when the object names none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub name: String,
    pub kind: String,
    pub namespace: String,
    /// Empty for the core group.
    pub group: String,
}

impl ObjectId {
    /// The candidate resource names in order of preference: `name`, `name:kind`,
    /// `name:kind:namespace`, `name:kind:namespace:group`, lower-cased and escaped.
    pub fn candidate_names(&self) -> [String; 4] {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        let parts = [
            self.name.as_str(),
            self.kind.as_str(),
            self.namespace.as_str(),
            group,
        ];
        [1, 2, 3, 4].map(|n| join_selector_parts(&parts[..n]).to_lowercase())
    }
}

impl fmt::Display for ObjectId {
    /// `name:kind:namespace:group`, lower-cased, `core` for the empty group.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [.., full] = self.candidate_names();
        f.write_str(&full)
    }
}

/// Joins selector parts with `:`, escaping `\` and `:` inside parts with `\`.
pub fn join_selector_parts(parts: &[&str]) -> String {
    let mut out = String::new();
    for (idx, part) in parts.iter().enumerate() {
        if idx > 0 {
            out.push(':');
        }
        for c in part.chars() {
            if c == '\\' || c == ':' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// Splits a selector on unescaped `:`, undoing `\:` and `\\`. Other escapes are errors with
/// Tilt's text.
pub fn split_selector(selector: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for (idx, c) in selector.char_indices() {
        if escaped {
            if c == ':' || c == '\\' {
                cur.push(c);
                escaped = false;
                continue;
            }
            // Show the few bytes around the bad escape, as Tilt does.
            let start = floor_char_boundary(selector, idx.saturating_sub(3));
            let end = floor_char_boundary(selector, (idx + 3).min(selector.len()));
            return Err(format!(
                "invalid escape sequence '\\{c}' in '{}'",
                &selector[start..end]
            ));
        }
        match c {
            ':' => parts.push(std::mem::take(&mut cur)),
            '\\' => escaped = true,
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    Ok(parts)
}

fn floor_char_boundary(s: &str, mut idx: usize) -> usize {
    while idx > 0 && !s.is_char_boundary(idx) {
        idx -= 1;
    }
    idx
}

/// Kinds applied first, in this order; all others follow in their YAML order
/// (Tilt's `kustomize.OrderFirst`).
const APPLY_ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "PriorityClass",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

fn apply_rank(kind: &str) -> usize {
    APPLY_ORDER_FIRST
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(APPLY_ORDER_FIRST.len())
}

/// Stable sort into apply order: namespaces, CRDs, RBAC, config, services, then workloads.
pub fn sort_for_apply(objects: &mut [K8sObject]) {
    objects.sort_by_key(|o| apply_rank(o.kind()));
}

/// Delete order: the exact reverse of the apply order.
pub fn sort_for_delete(objects: &mut [K8sObject]) {
    sort_for_apply(objects);
    objects.reverse();
}
