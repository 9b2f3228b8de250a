//! The client's copy of the View: resources and buttons kept up to date from the stream's
//! deltas, and the readings of a UIResource that several commands share (readiness, type,
//! labels, statuses).

use std::collections::BTreeMap;

use serde_json::Value;

/// The name of the Tiltfile's own resource.
pub(crate) const TILTFILE: &str = lilt_model::TILTFILE_RESOURCE;

/// Resources and buttons by name, as of the last message applied.
#[derive(Debug, Default)]
pub(crate) struct ViewState {
    resources: BTreeMap<String, Value>,
    buttons: BTreeMap<String, Value>,
}

impl ViewState {
    /// Applies a complete View or a delta; returns the names of the resources it changed
    /// (deleted ones included), in the View's order.
    pub(crate) fn apply(&mut self, view: &Value) -> Vec<String> {
        if view["isComplete"].as_bool() == Some(true) {
            self.resources.clear();
            self.buttons.clear();
        }
        let mut changed = Vec::new();
        for res in view["uiResources"].as_array().into_iter().flatten() {
            let name = object_name(res).to_owned();
            if is_deleted(res) {
                self.resources.remove(&name);
            } else {
                self.resources.insert(name.clone(), res.clone());
            }
            changed.push(name);
        }
        for button in view["uiButtons"].as_array().into_iter().flatten() {
            let name = object_name(button).to_owned();
            if is_deleted(button) {
                self.buttons.remove(&name);
            } else {
                self.buttons.insert(name, button.clone());
            }
        }
        changed
    }

    /// All resources in the dashboard's order (`status.order`, `(Tiltfile)` first).
    pub(crate) fn resources(&self) -> Vec<&Value> {
        let mut all: Vec<&Value> = self.resources.values().collect();
        all.sort_by_key(|r| r["status"]["order"].as_i64().unwrap_or(i64::MAX));
        all
    }

    pub(crate) fn resource(&self, name: &str) -> Option<&Value> {
        self.resources.get(name)
    }

    /// The enable/disable toggle of a resource, if it has one.
    pub(crate) fn disable_toggle(&self, resource: &str) -> Option<&Value> {
        self.buttons.values().find(|b| {
            b["metadata"]["annotations"][lilt_server::convert::TILT_BUTTON_TYPE]
                == lilt_server::convert::DISABLE_TOGGLE
                && b["spec"]["location"]["componentID"] == resource
        })
    }

    /// Whether the Tiltfile has finished loading at least once (so the resource list is
    /// meaningful).
    pub(crate) fn tiltfile_loaded(&self) -> bool {
        self.resources.get(TILTFILE).is_some_and(|tf| {
            !tf["status"]["buildHistory"]
                .as_array()
                .is_none_or(Vec::is_empty)
                && tf["status"]["currentBuild"].is_null()
        })
    }
}

/// Builds a state from one complete View.
pub(crate) fn state_of(view: &Value) -> ViewState {
    let mut state = ViewState::default();
    state.apply(view);
    state
}

pub(crate) fn object_name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

fn is_deleted(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"]
        .as_str()
        .is_some_and(|t| !t.is_empty())
}

pub(crate) fn update_status(res: &Value) -> &str {
    res["status"]["updateStatus"].as_str().unwrap_or("none")
}

pub(crate) fn runtime_status(res: &Value) -> &str {
    res["status"]["runtimeStatus"].as_str().unwrap_or("none")
}

/// Ready as the dashboard says it: the runtime is ok, or there is no runtime and the last
/// update succeeded.
pub(crate) fn is_ready(res: &Value) -> bool {
    match runtime_status(res) {
        "ok" => true,
        "not_applicable" => update_status(res) == "ok",
        _ => false,
    }
}

pub(crate) fn is_disabled(res: &Value) -> bool {
    res["status"]["disableStatus"]["state"] == "Disabled"
}

/// The resource's labels, sorted.
pub(crate) fn labels(res: &Value) -> Vec<String> {
    res["metadata"]["labels"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The kind of workload, from the target specs, as the dashboard names it.
pub(crate) fn resource_type(res: &Value) -> &'static str {
    if object_name(res) == TILTFILE {
        return "Tiltfile";
    }
    let specs: Vec<&str> = res["status"]["specs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["type"].as_str())
        .collect();
    if specs.contains(&"k8s") {
        "K8s"
    } else if specs.contains(&"docker-compose") {
        "DockerCompose"
    } else if specs.contains(&"local") {
        "Local"
    } else {
        "Unknown"
    }
}

/// Tilt's names of the trigger modes (0–3).
pub(crate) fn trigger_mode(res: &Value) -> &'static str {
    match res["status"]["triggerMode"].as_i64() {
        Some(0) => "auto",
        Some(1) => "manual",
        Some(2) => "manual (no initial build)",
        Some(3) => "auto (manual initial build)",
        _ => "unknown",
    }
}

/// Why a resource waits, if it does: `waiting for resource api to be ready`-style text.
pub(crate) fn hold_reason(res: &Value) -> Option<String> {
    let waiting = &res["status"]["waiting"];
    let reason = waiting["reason"].as_str().filter(|r| !r.is_empty())?;
    let on: Vec<String> = waiting["on"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let name = o["name"].as_str()?;
            Some(match o["kind"].as_str() {
                Some(kind) if !kind.is_empty() => format!("{kind}/{name}"),
                _ => name.to_owned(),
            })
        })
        .collect();
    Some(if on.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason} ({})", on.join(", "))
    })
}

/// The UIResource as an API object, with the `apiVersion` and `kind` the View leaves out.
pub(crate) fn as_api_object(res: &Value) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("apiVersion".into(), "tilt.dev/v1alpha1".into());
    obj.insert("kind".into(), "UIResource".into());
    if let Some(fields) = res.as_object() {
        for (k, v) in fields {
            obj.insert(k.clone(), v.clone());
        }
    }
    Value::Object(obj)
}

/// Accepts `uiresource`, `uiresources`, `uir` and `uiresources.tilt.dev` (any case).
pub(crate) fn is_uiresource_type(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "uiresource"
            | "uiresources"
            | "uir"
            | "uiresource.tilt.dev"
            | "uiresources.tilt.dev"
            | "uiresource.v1alpha1.tilt.dev"
            | "uiresources.v1alpha1.tilt.dev"
    )
}

/// Splits kubectl-style arguments (`TYPE [NAME...]` or `TYPE/NAME...`) into resource names;
/// only the uiresource type is served.
pub(crate) fn uiresource_names(args: &[String], verb: &str) -> anyhow::Result<Vec<String>> {
    let Some(first) = args.first() else {
        anyhow::bail!(
            "you must specify the type of resource to {verb}: lilt serves `uiresources` (for example `lilt {verb} uiresources`)"
        );
    };
    if first.contains('/') {
        let mut names = Vec::new();
        for arg in args {
            let Some((kind, name)) = arg.split_once('/') else {
                anyhow::bail!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'lilt {verb} uiresource/api' instead of 'lilt {verb} uiresource api')"
                );
            };
            check_type(kind)?;
            if name.is_empty() {
                anyhow::bail!("{arg:?}: a resource name is required after the slash");
            }
            names.push(name.to_owned());
        }
        return Ok(names);
    }
    check_type(first)?;
    Ok(args[1..].to_vec())
}

fn check_type(kind: &str) -> anyhow::Result<()> {
    if is_uiresource_type(kind) {
        Ok(())
    } else {
        anyhow::bail!(
            "the server doesn't have a resource type {kind:?} (lilt serves `uiresources`)"
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn res(name: &str, order: i64, runtime: &str, update: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"order": order, "runtimeStatus": runtime, "updateStatus": update}})
    }

    #[test]
    fn deltas_replace_and_delete_resources() {
        let mut state = ViewState::default();
        state.apply(&json!({"isComplete": true, "uiResources": [res("b", 2, "ok", "ok"), res("a", 1, "none", "none")]}));
        let names: Vec<&str> = state.resources().into_iter().map(object_name).collect();
        assert_eq!(names, ["a", "b"]);
        let changed = state.apply(&json!({"isComplete": false, "uiResources": [
            res("a", 1, "ok", "ok"),
            {"metadata": {"name": "b", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {}}
        ]}));
        assert_eq!(changed, ["a", "b"]);
        assert!(state.resource("b").is_none());
        assert_eq!(runtime_status(state.resource("a").unwrap()), "ok");
    }

    #[test]
    fn readiness_follows_the_dashboard_rules() {
        assert!(is_ready(&res("s", 1, "ok", "not_applicable")));
        assert!(is_ready(&res("c", 1, "not_applicable", "ok")));
        assert!(!is_ready(&res("c", 1, "not_applicable", "error")));
        assert!(!is_ready(&res("s", 1, "pending", "ok")));
        assert!(!is_ready(&res("s", 1, "error", "ok")));
    }

    #[test]
    fn kubectl_style_arguments() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            uiresource_names(&args(&["uir", "a", "b"]), "get").unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            uiresource_names(&args(&["uiresource/a", "uiresources/b"]), "get").unwrap(),
            ["a", "b"]
        );
        assert!(
            uiresource_names(&args(&["uiresources"]), "get")
                .unwrap()
                .is_empty()
        );
        let err = uiresource_names(&args(&["pods"]), "get")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("doesn't have a resource type \"pods\""),
            "{err}"
        );
        assert!(uiresource_names(&args(&["uiresource/a", "b"]), "get").is_err());
        assert!(uiresource_names(&[], "get").is_err());
    }
}
