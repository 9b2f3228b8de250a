//! `lilt wait --for=condition=Ready uiresource/NAME...`: waits on the `/ws/view` stream until
//! each resource is ready (the dashboard's rule: runtime ok, or no runtime and the update
//! ok), printing kubectl's `condition met` line for each.

use std::time::Duration;

use anyhow::bail;
use tokio::time::Instant;

use super::view::{self, ViewState};
use super::{Client, ConnectFlags};

/// What to wait for.
#[derive(Debug, Clone)]
pub(crate) struct WaitOptions {
    /// The `--for` value; only `condition=Ready` is served.
    pub(crate) condition: String,
    /// `uiresource/NAME...` or `uiresource NAME...`.
    pub(crate) args: Vec<String>,
    pub(crate) timeout: Duration,
}

pub(crate) async fn run(flags: ConnectFlags, opts: WaitOptions) -> anyhow::Result<u8> {
    check_condition(&opts.condition)?;
    let mut pending = view::uiresource_names(&opts.args, "wait")?;
    if pending.is_empty() {
        bail!(
            "name the resources to wait for, for example `lilt wait --for=condition=Ready uiresource/api`"
        );
    }
    let client = Client::connect(&flags).await?;
    let mut stream = client.watch().await?;
    let deadline = Instant::now() + opts.timeout;
    let mut state = ViewState::default();
    // The first message is read whatever the timeout, so `--timeout 0` checks once.
    let mut first = true;
    loop {
        let msg = if first {
            stream.next().await?
        } else {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(msg) => msg?,
                Err(_) => bail!(
                    "timed out waiting for the condition on uiresources/{}",
                    pending[0]
                ),
            }
        };
        first = false;
        let Some(msg) = msg else {
            bail!("lilt stopped before uiresources/{} was ready", pending[0]);
        };
        state.apply(&msg);
        let mut still = Vec::new();
        for name in pending {
            match state.resource(&name) {
                Some(res) if view::is_ready(res) => {
                    println!("uiresource.tilt.dev/{name} condition met");
                }
                // Before the Tiltfile has loaded, a resource may still appear.
                None if state.tiltfile_loaded() => {
                    bail!("uiresources.tilt.dev {name:?} not found")
                }
                _ => still.push(name),
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(0);
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out waiting for the condition on uiresources/{}",
                pending[0]
            );
        }
    }
}

/// `condition=Ready` (any case, optionally `=true`).
fn check_condition(text: &str) -> anyhow::Result<()> {
    let lower = text.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("condition=") else {
        bail!("unrecognized condition: {text:?} (lilt waits for --for=condition=Ready)");
    };
    match rest {
        "ready" | "ready=true" => Ok(()),
        _ => bail!(
            "unsupported condition {text:?}: uiresources have the condition Ready (--for=condition=Ready)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ready_condition() {
        assert!(check_condition("condition=Ready").is_ok());
        assert!(check_condition("condition=ready=True").is_ok());
        assert!(check_condition("condition=UpToDate").is_err());
        assert!(check_condition("delete").is_err());
    }
}
