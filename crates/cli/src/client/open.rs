//! `lilt open NAME`: clicks a `browser_button` of the running lilt, which starts the
//! configured browser (with its profile, flags and preferences) on the button's URL. Going
//! through the running lilt keeps one behaviour for the CLI and the dashboard: the button's
//! readiness gate applies and the launch is written to the resource's log.

use anyhow::bail;
use lilt_server::wire::{ButtonStatusBody, ClickMetadata, ClickStatus, ComponentType, UiButton};

use super::{Client, ConnectFlags};

pub(crate) async fn run(flags: ConnectFlags, name: String) -> anyhow::Result<u8> {
    let client = Client::connect(&flags).await?;
    let view = client.view(false).await?;
    // The server marks browser buttons with an annotation.
    let buttons: Vec<&UiButton> = view
        .ui_buttons
        .iter()
        .filter(|b| b.is_browser_button())
        .collect();
    let Some(button) = buttons.iter().find(|b| b.metadata.name == name) else {
        let known: Vec<&str> = buttons.iter().map(|b| b.metadata.name.as_str()).collect();
        if known.is_empty() {
            bail!(
                "no browser button named {name:?}: the Tiltfile declares none (see browser_button)"
            );
        }
        bail!(
            "no browser button named {name:?}; the Tiltfile declares: {}",
            known.join(", ")
        );
    };
    if button.spec.disabled {
        let reason = match button.status.disabled_reason.as_str() {
            "" => "it is disabled",
            reason => reason,
        };
        bail!("cannot open {name}: {reason}");
    }
    let body = ButtonStatusBody {
        metadata: Some(ClickMetadata { name: name.clone() }),
        status: ClickStatus {
            last_clicked_at: Some(super::time::format_rfc3339(std::time::SystemTime::now())),
            inputs: Vec::new(),
        },
    };
    let path = format!("/proxy/apis/tilt.dev/v1alpha1/uibuttons/{name}/status");
    let resp = client.put_json(&path, &body).await?;
    match resp.status {
        200 => {
            let location = &button.spec.location;
            let location = match location.component_type {
                ComponentType::Resource => format!(
                    " (its launch is logged on resource {})",
                    location.component_id
                ),
                ComponentType::Global => String::new(),
            };
            println!("Opening {name}{location}");
            Ok(0)
        }
        409 => bail!("cannot open {name}: {}", resp.text()),
        status => bail!("({status}): {}", resp.text()),
    }
}
