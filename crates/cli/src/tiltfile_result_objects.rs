//! `ObjectSet` of `lilt alpha tiltfile-result`: the `v1alpha1` objects the Tiltfile
//! registered, as Tilt's `apiset.ObjectSet` prints them: keyed by group-version-resource
//! (`tilt.dev/v1alpha1, Resource=cmds`), then by name, each object as Go's typed
//! serialization writes it (metadata, spec, and a status whose time fields are `null`).

use lilt_model::{ApiObject, Plan};
use serde_json::{Map, Value, json};

/// The resource (plural) name and the zero status Go writes for each kind lilt registers.
fn resource_and_status(kind: &str) -> (String, Option<Value>) {
    match kind {
        "ConfigMap" => ("configmaps".into(), None),
        "ExtensionRepo" => (
            "extensionrepos".into(),
            Some(json!({ "lastFetchedAt": null })),
        ),
        "FileWatch" => (
            "filewatches".into(),
            Some(json!({ "monitorStartTime": null, "lastEventTime": null })),
        ),
        "KubernetesApply" => (
            "kubernetesapplys".into(),
            Some(json!({ "lastApplyTime": null, "lastApplyStartTime": null })),
        ),
        "KubernetesDiscovery" => (
            "kubernetesdiscoveries".into(),
            Some(json!({ "monitorStartTime": null, "pods": null })),
        ),
        "UIButton" => ("uibuttons".into(), Some(json!({ "lastClickedAt": null }))),
        other => (format!("{}s", other.to_ascii_lowercase()), Some(json!({}))),
    }
}

fn object(o: &ApiObject, status: Option<Value>) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(o.name));
    metadata.insert("creationTimestamp".into(), Value::Null);
    for (key, pairs) in [("labels", &o.labels), ("annotations", &o.annotations)] {
        if !pairs.is_empty() {
            let map: Map<String, Value> =
                pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            metadata.insert(key.into(), Value::Object(map));
        }
    }
    let mut out = Map::new();
    out.insert("metadata".into(), Value::Object(metadata));
    let spec = lilt_runner::model_json(&o.spec);
    match status {
        // A ConfigMap has no spec: its `data` sits at the top level.
        None => {
            if let Value::Object(fields) = spec {
                out.extend(fields);
            }
        }
        Some(status) => {
            out.insert("spec".into(), spec);
            out.insert("status".into(), status);
        }
    }
    Value::Object(out)
}

/// The whole `ObjectSet`; `{}` when the Tiltfile registered nothing.
pub(crate) fn object_set(plan: &Plan) -> Value {
    let mut set: Map<String, Value> = Map::new();
    for o in &plan.api_objects {
        let (resource, status) = resource_and_status(&o.kind);
        let typed = set
            .entry(format!("tilt.dev/v1alpha1, Resource={resource}"))
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(typed) = typed {
            typed.insert(o.name.clone(), object(o, status));
        }
    }
    Value::Object(set)
}
