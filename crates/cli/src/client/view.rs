//! The client's copy of the View: resources and buttons kept up to date from the stream's
//! deltas, and the readings of a UIResource that several commands share (readiness, type,
//! labels, statuses). The View arrives as the server's own wire types.

use std::collections::BTreeMap;

use lilt_model::TriggerMode;
use lilt_server::wire::{DisableState, TargetType, UiButton, UiResource, View};

/// The name of the Tiltfile's own resource.
pub(crate) const TILTFILE: &str = lilt_model::TILTFILE_RESOURCE;

/// Resources and buttons by name, as of the last message applied.
#[derive(Debug, Default)]
pub(crate) struct ViewState {
    resources: BTreeMap<String, UiResource>,
    buttons: BTreeMap<String, UiButton>,
}

impl ViewState {
    /// Applies a complete View or a delta; returns the names of the resources it changed
    /// (deleted ones included), in the View's order.
    pub(crate) fn apply(&mut self, view: &View) -> Vec<String> {
        if view.is_complete {
            self.resources.clear();
            self.buttons.clear();
        }
        let mut changed = Vec::new();
        for res in &view.ui_resources {
            let name = res.metadata.name.clone();
            if res.metadata.is_deleted() {
                self.resources.remove(&name);
            } else {
                self.resources.insert(name.clone(), res.clone());
            }
            changed.push(name);
        }
        for button in &view.ui_buttons {
            let name = button.metadata.name.clone();
            if button.metadata.is_deleted() {
                self.buttons.remove(&name);
            } else {
                self.buttons.insert(name, button.clone());
            }
        }
        changed
    }

    /// All resources in the dashboard's order (`status.order`, `(Tiltfile)` first).
    pub(crate) fn resources(&self) -> Vec<&UiResource> {
        let mut all: Vec<&UiResource> = self.resources.values().collect();
        all.sort_by_key(|r| r.status.order);
        all
    }

    pub(crate) fn resource(&self, name: &str) -> Option<&UiResource> {
        self.resources.get(name)
    }

    /// The enable/disable toggle of a resource, if it has one.
    pub(crate) fn disable_toggle(&self, resource: &str) -> Option<&UiButton> {
        self.buttons
            .values()
            .find(|b| b.is_disable_toggle_of(resource))
    }

    /// Whether the Tiltfile has finished loading at least once (so the resource list is
    /// meaningful).
    pub(crate) fn tiltfile_loaded(&self) -> bool {
        self.resources.get(TILTFILE).is_some_and(|tf| {
            !tf.status.build_history.is_empty() && tf.status.current_build.is_none()
        })
    }
}

/// Builds a state from one complete View.
pub(crate) fn state_of(view: &View) -> ViewState {
    let mut state = ViewState::default();
    state.apply(view);
    state
}

/// Ready as the dashboard says it (the rule lives with the wire types).
pub(crate) fn is_ready(res: &UiResource) -> bool {
    res.status.is_ready()
}

pub(crate) fn is_disabled(res: &UiResource) -> bool {
    res.status.disable_status.state == DisableState::Disabled
}

/// The resource's labels, sorted.
pub(crate) fn labels(res: &UiResource) -> Vec<String> {
    res.metadata.labels.keys().cloned().collect()
}

/// The kind of workload, from the target specs, as the dashboard names it.
pub(crate) fn resource_type(res: &UiResource) -> &'static str {
    if res.metadata.name == TILTFILE {
        return "Tiltfile";
    }
    let has = |kind: TargetType| res.status.specs.iter().any(|s| s.kind == kind);
    if has(TargetType::K8s) {
        "K8s"
    } else if has(TargetType::DockerCompose) {
        "DockerCompose"
    } else if has(TargetType::Local) {
        "Local"
    } else {
        "Unknown"
    }
}

/// Tilt's names of the trigger modes.
pub(crate) fn trigger_mode(res: &UiResource) -> &'static str {
    match TriggerMode::from_wire(res.status.trigger_mode) {
        Some(TriggerMode::Auto) => "auto",
        Some(TriggerMode::ManualWithAutoInit) => "manual",
        Some(TriggerMode::Manual) => "manual (no initial build)",
        Some(TriggerMode::AutoWithManualInit) => "auto (manual initial build)",
        None => "unknown",
    }
}

/// Why a resource waits, if it does: `waiting for resource api to be ready`-style text.
pub(crate) fn hold_reason(res: &UiResource) -> Option<String> {
    let waiting = res.status.waiting.as_ref()?;
    if waiting.reason.is_empty() {
        return None;
    }
    let on: Vec<String> = waiting
        .on
        .iter()
        .map(|o| {
            if o.kind.is_empty() {
                o.name.clone()
            } else {
                format!("{}/{}", o.kind, o.name)
            }
        })
        .collect();
    Some(if on.is_empty() {
        waiting.reason.clone()
    } else {
        format!("{} ({})", waiting.reason, on.join(", "))
    })
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
    use serde_json::{Value, json};

    use super::*;

    fn res(name: &str, order: i64, runtime: &str, update: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"order": order, "runtimeStatus": runtime, "updateStatus": update}})
    }

    fn view(v: Value) -> View {
        serde_json::from_value(v).unwrap()
    }

    fn names(state: &ViewState) -> Vec<&str> {
        state
            .resources()
            .into_iter()
            .map(|r| r.metadata.name.as_str())
            .collect()
    }

    #[test]
    fn deltas_replace_and_delete_resources() {
        let mut state = ViewState::default();
        state.apply(&view(
            json!({"isComplete": true, "uiResources": [res("b", 2, "ok", "ok"), res("a", 1, "none", "none")]}),
        ));
        assert_eq!(names(&state), ["a", "b"]);
        // A deletion stub carries only metadata, as the server sends it.
        let changed = state.apply(&view(json!({"isComplete": false, "uiResources": [
            res("a", 1, "ok", "ok"),
            {"metadata": {"name": "b", "deletionTimestamp": "2026-01-01T00:00:00Z"}}
        ]})));
        assert_eq!(changed, ["a", "b"]);
        assert!(state.resource("b").is_none());
        assert_eq!(
            state.resource("a").unwrap().status.runtime_status,
            lilt_server::wire::RuntimeStatus::Ok
        );
    }

    #[test]
    fn readiness_follows_the_dashboard_rules() {
        let ready = |v: Value| is_ready(&serde_json::from_value(v).unwrap());
        assert!(ready(res("s", 1, "ok", "not_applicable")));
        assert!(ready(res("c", 1, "not_applicable", "ok")));
        assert!(!ready(res("c", 1, "not_applicable", "error")));
        assert!(!ready(res("s", 1, "pending", "ok")));
        assert!(!ready(res("s", 1, "error", "ok")));
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
