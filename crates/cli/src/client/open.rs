//! `lilt open NAME`: clicks a `browser_button` of the running lilt, which starts the
//! configured browser (with its profile, flags and preferences) on the button's URL. Going
//! through the running lilt keeps one behaviour for the CLI and the dashboard: the button's
//! readiness gate applies and the launch is written to the resource's log.

use anyhow::bail;
use serde_json::{Value, json};

use super::{Client, ConnectFlags, view};

/// The server marks browser buttons with this annotation.
fn is_browser_button(button: &Value) -> bool {
    use lilt_server::convert::{BROWSER, LILT_BUTTON_TYPE};
    button["metadata"]["annotations"][LILT_BUTTON_TYPE].as_str() == Some(BROWSER)
}

pub(crate) async fn run(flags: ConnectFlags, name: String) -> anyhow::Result<u8> {
    let client = Client::connect(&flags).await?;
    let view_json = client.view(false).await?;
    let buttons: Vec<&Value> = view_json["uiButtons"]
        .as_array()
        .map(|b| b.iter().filter(|b| is_browser_button(b)).collect())
        .unwrap_or_default();
    let Some(button) = buttons.iter().find(|b| view::object_name(b) == name) else {
        let known: Vec<&str> = buttons.iter().map(|b| view::object_name(b)).collect();
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
    if button["spec"]["disabled"].as_bool() == Some(true) {
        let reason = button["status"]["disabledReason"]
            .as_str()
            .unwrap_or("it is disabled");
        bail!("cannot open {name}: {reason}");
    }
    let body = json!({
        "metadata": {"name": name},
        "status": {
            "lastClickedAt": super::time::format_rfc3339(std::time::SystemTime::now()),
            "inputs": [],
        },
    });
    let path = format!("/proxy/apis/tilt.dev/v1alpha1/uibuttons/{name}/status");
    let resp = client.put_json(&path, &body).await?;
    match resp.status {
        200 => {
            let location = match button["spec"]["location"]["componentType"].as_str() {
                Some("Resource") => format!(
                    " (its launch is logged on resource {})",
                    button["spec"]["location"]["componentID"]
                        .as_str()
                        .unwrap_or("?")
                ),
                _ => String::new(),
            };
            println!("Opening {name}{location}");
            Ok(0)
        }
        409 => bail!("cannot open {name}: {}", resp.text()),
        status => bail!("({status}): {}", resp.text()),
    }
}
