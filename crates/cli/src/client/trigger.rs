//! `lilt trigger RESOURCE`: asks the running lilt to update a resource now, as Tilt's
//! `tilt trigger` does (`POST /api/trigger` with the CLI build reason).

use anyhow::bail;
use lilt_server::actions::{BUILD_REASON_CLI, TriggerPayload};

use super::{Client, ConnectFlags};

pub(crate) async fn run(flags: ConnectFlags, resource: String) -> anyhow::Result<u8> {
    let client = Client::connect(&flags).await?;
    let payload = TriggerPayload {
        manifest_names: vec![resource.clone()],
        build_reason: BUILD_REASON_CLI,
    };
    let resp = client.post_json("/api/trigger", &payload).await?;
    let body = resp.text();
    match resp.status {
        200 if body.is_empty() => {
            println!("Successfully triggered update for resource: {resource:?}");
            Ok(0)
        }
        // "resource \"x\" is currently disabled", passed through as Tilt does.
        200 => bail!("{body}"),
        404 => bail!("resource {resource:?} not found"),
        status => bail!("({status}): {body}"),
    }
}
