//! `lilt enable` and `lilt disable`: click each chosen resource's `<name>-disable` toggle,
//! with Tilt's selection rules (`--all`, `--only`, `-l LABEL`, names).

use anyhow::bail;
use lilt_server::wire::{
    ButtonStatusBody, ClickMetadata, ClickStatus, HiddenValue, InputStatus, TOGGLE_DISABLE,
    TOGGLE_ENABLE, TOGGLE_INPUT,
};

use super::view::{self, ViewState};
use super::{Client, ConnectFlags};

/// What to enable or disable.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnableOptions {
    /// `true` for `enable`, `false` for `disable`.
    pub(crate) enable: bool,
    pub(crate) all: bool,
    /// Enable the named resources and disable all the others (`enable` only).
    pub(crate) only: bool,
    pub(crate) labels: Vec<String>,
    pub(crate) resources: Vec<String>,
}

pub(crate) async fn run(flags: ConnectFlags, opts: EnableOptions) -> anyhow::Result<u8> {
    if opts.all {
        if opts.only {
            bail!("cannot use --all with --only");
        }
        if !opts.resources.is_empty() {
            bail!("cannot use --all with resource names");
        }
    } else if opts.resources.is_empty() && opts.labels.is_empty() {
        bail!("must specify at least one resource");
    }
    let client = Client::connect(&flags).await?;
    let state = view::state_of(&client.view(false).await?);
    let changes = plan(&state, &opts)?;
    for (toggle, enable) in changes {
        let action = if enable {
            TOGGLE_ENABLE
        } else {
            TOGGLE_DISABLE
        };
        let body = ButtonStatusBody {
            metadata: Some(ClickMetadata {
                name: toggle.clone(),
            }),
            status: ClickStatus {
                last_clicked_at: Some(super::time::format_rfc3339(std::time::SystemTime::now())),
                inputs: vec![InputStatus {
                    name: TOGGLE_INPUT.to_owned(),
                    hidden: Some(HiddenValue {
                        value: action.to_owned(),
                    }),
                    ..InputStatus::default()
                }],
            },
        };
        let path = format!("/proxy/apis/tilt.dev/v1alpha1/uibuttons/{toggle}/status");
        let resp = client.put_json(&path, &body).await?;
        if resp.status != 200 {
            bail!("({}): {}", resp.status, resp.text());
        }
    }
    Ok(0)
}

/// The toggles to click, each with the state to set: only resources whose state changes.
fn plan(state: &ViewState, opts: &EnableOptions) -> anyhow::Result<Vec<(String, bool)>> {
    // Check every name before changing anything.
    for name in &opts.resources {
        if state.resource(name).is_none() {
            bail!("no such resource {name:?}");
        }
        if state.disable_toggle(name).is_none() {
            bail!("{name} cannot be enabled or disabled");
        }
    }
    let mut changes = Vec::new();
    for res in state.resources() {
        let name = res.metadata.name.as_str();
        // Resources without a toggle, such as (Tiltfile), are always enabled.
        let Some(toggle) = state.disable_toggle(name) else {
            continue;
        };
        let target = if opts.resources.iter().any(|r| r == name) {
            opts.enable
        } else if !opts.labels.is_empty() {
            let labels = view::labels(res);
            if !opts.labels.iter().any(|l| labels.contains(l)) {
                continue;
            }
            opts.enable
        } else if opts.all {
            opts.enable
        } else if opts.only {
            !opts.enable
        } else {
            continue;
        };
        // Already in the wanted state.
        if view::is_disabled(res) != target {
            continue;
        }
        changes.push((toggle.metadata.name.clone(), target));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use lilt_server::wire::{DISABLE_TOGGLE, TILT_BUTTON_TYPE, toggle_name};

    fn sample() -> ViewState {
        let res = |name: &str, order: i64, labels: Value, state: &str| {
            json!({"metadata": {"name": name, "labels": labels},
                   "status": {"order": order, "disableStatus": {"state": state}}})
        };
        let toggle = |name: &str| {
            json!({"metadata": {"name": toggle_name(name),
                                "annotations": {TILT_BUTTON_TYPE: DISABLE_TOGGLE}},
                   "spec": {"location": {"componentType": "Resource", "componentID": name}}})
        };
        view::state_of(
            &serde_json::from_value(json!({
                "isComplete": true,
                "uiResources": [
                    res("(Tiltfile)", 1, json!({}), "Enabled"),
                    res("api", 2, json!({"backend": "backend"}), "Enabled"),
                    res("db", 3, json!({"backend": "backend"}), "Disabled"),
                    res("web", 4, json!({"frontend": "frontend"}), "Enabled"),
                ],
                "uiButtons": [toggle("api"), toggle("db"), toggle("web")],
            }))
            .unwrap(),
        )
    }

    fn opts(enable: bool) -> EnableOptions {
        EnableOptions {
            enable,
            ..EnableOptions::default()
        }
    }

    #[test]
    fn only_changes_what_differs() {
        let state = sample();
        let all_off = EnableOptions {
            all: true,
            ..opts(false)
        };
        assert_eq!(
            plan(&state, &all_off).unwrap(),
            [
                ("api-disable".to_owned(), false),
                ("web-disable".to_owned(), false)
            ]
        );
        let only_db = EnableOptions {
            only: true,
            resources: vec!["db".into()],
            ..opts(true)
        };
        assert_eq!(
            plan(&state, &only_db).unwrap(),
            [
                ("api-disable".to_owned(), false),
                ("db-disable".to_owned(), true),
                ("web-disable".to_owned(), false)
            ]
        );
        let by_label = EnableOptions {
            labels: vec!["backend".into()],
            ..opts(false)
        };
        assert_eq!(
            plan(&state, &by_label).unwrap(),
            [("api-disable".to_owned(), false)]
        );
    }

    #[test]
    fn unknown_and_untoggleable_names_are_errors() {
        let state = sample();
        let unknown = EnableOptions {
            resources: vec!["nope".into()],
            ..opts(true)
        };
        assert_eq!(
            plan(&state, &unknown).unwrap_err().to_string(),
            "no such resource \"nope\""
        );
        let tiltfile = EnableOptions {
            resources: vec!["(Tiltfile)".into()],
            ..opts(false)
        };
        assert_eq!(
            plan(&state, &tiltfile).unwrap_err().to_string(),
            "(Tiltfile) cannot be enabled or disabled"
        );
    }
}
