//! The acting endpoints: trigger, trigger-mode override, Tiltfile args and button clicks.
//! Each checks its request against the current snapshot and sends one engine `Action`;
//! status codes and texts follow Tilt's `internal/hud/server/server.go`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lilt_engine::Action;
use lilt_model::{ButtonInputKind, TILTFILE_RESOURCE, TriggerMode};
use serde::Deserialize;

use crate::app::AppState;
use crate::convert::button_disabled_reason;
use crate::security::text;
use crate::wire::{ButtonStatusBody, InputStatus, TOGGLE_DISABLE, TOGGLE_ENABLE, TOGGLE_INPUT};

/// `POST /api/trigger`'s body (Tilt's `triggerPayload`), also written by `lilt trigger`.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct TriggerPayload {
    #[serde(default)]
    pub manifest_names: Vec<String>,
    /// Accepted for Tilt compatibility; the engine does not record it.
    #[serde(default)]
    pub build_reason: i64,
}

/// Tilt's `BuildReasonFlagTriggerCLI`: the build reason `tilt trigger` sends.
pub const BUILD_REASON_CLI: i64 = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerModePayload {
    #[serde(default)]
    manifest_names: Vec<String>,
    #[serde(default)]
    trigger_mode: i64,
}

/// A refused request: its status and the text shown to the user.
#[derive(Debug)]
pub(crate) struct Reject {
    status: StatusCode,
    message: String,
}

impl Reject {
    fn new(status: StatusCode, message: impl Into<String>) -> Reject {
        Reject {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        text(self.status, &self.message)
    }
}

type Reply = Result<Response, Reject>;

pub(crate) async fn must_post() -> Response {
    text(StatusCode::BAD_REQUEST, "must be POST request")
}

pub(crate) async fn must_put() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "must be PUT request")
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Reject> {
    serde_json::from_slice(body).map_err(|err| {
        Reject::new(
            StatusCode::BAD_REQUEST,
            format!("error parsing JSON payload: {err}"),
        )
    })
}

fn send(state: &AppState, action: Action) -> Result<(), Reject> {
    state
        .deps
        .actions
        .send(action)
        .map_err(|_| Reject::new(StatusCode::SERVICE_UNAVAILABLE, "lilt is shutting down"))
}

pub(crate) async fn trigger(State(state): State<Arc<AppState>>, body: Bytes) -> Reply {
    let payload: TriggerPayload = parse(&body)?;
    if payload.manifest_names.len() != 1 {
        return Err(Reject::new(
            StatusCode::BAD_REQUEST,
            format!(
                "/api/trigger currently supports exactly one manifest name, got {}",
                payload.manifest_names.len()
            ),
        ));
    }
    let name = &payload.manifest_names[0];
    if name != TILTFILE_RESOURCE {
        let snap = state.snapshot();
        match snap.state.resource(name) {
            None => {
                return Err(Reject::new(
                    StatusCode::NOT_FOUND,
                    format!("resource {name:?} does not exist"),
                ));
            }
            // Tilt answers 200 here: the request was fine, the resource just is off.
            Some(res) if !res.enabled => {
                return Ok((
                    StatusCode::OK,
                    format!("resource {name:?} is currently disabled"),
                )
                    .into_response());
            }
            Some(_) => {}
        }
    }
    send(
        &state,
        Action::Trigger {
            resource: name.clone(),
        },
    )?;
    Ok(StatusCode::OK.into_response())
}

pub(crate) async fn override_trigger_mode(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Reply {
    let payload: TriggerModePayload = parse(&body)?;
    let snap = state.snapshot();
    for name in &payload.manifest_names {
        if snap.state.resource(name).is_none() {
            return Err(Reject::new(
                StatusCode::BAD_REQUEST,
                format!("no manifest found with name '{name}'"),
            ));
        }
    }
    let Some(mode) = TriggerMode::from_wire(payload.trigger_mode) else {
        return Err(Reject::new(
            StatusCode::BAD_REQUEST,
            format!("invalid trigger mode: {}", payload.trigger_mode),
        ));
    };
    send(
        &state,
        Action::SetTriggerMode {
            resources: payload.manifest_names,
            mode,
        },
    )?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /api/tiltfile/cancel` (a lilt addition): stops the running Tiltfile evaluation,
/// for a `local()` that never ends. 200 whether or not an evaluation was running.
pub(crate) async fn cancel_tiltfile_load(State(state): State<Arc<AppState>>) -> Reply {
    send(&state, Action::CancelTiltfileLoad)?;
    Ok(StatusCode::OK.into_response())
}

pub(crate) async fn set_tiltfile_args(State(state): State<Arc<AppState>>, body: Bytes) -> Reply {
    let args: Vec<String> = parse(&body)?;
    send(&state, Action::SetTiltfileArgs { args })?;
    Ok(StatusCode::OK.into_response())
}

/// A click: `status.inputs` hold the values. A DisableToggle becomes `SetEnabled`, any
/// other button `ClickButton` with a value for each of its inputs.
pub(crate) async fn click_button(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    let body: ButtonStatusBody = parse(&body)?;
    if let Some(meta) = &body.metadata
        && !meta.name.is_empty()
        && meta.name != name
    {
        return Err(Reject::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the name of the object ({:?}) does not match the name in the URL ({name:?})",
                meta.name
            ),
        ));
    }
    let snap = state.snapshot();
    if let Some(resource) = name.strip_suffix("-disable")
        && snap.state.resource(resource).is_some()
    {
        let value = body
            .status
            .inputs
            .iter()
            .find(|i| i.name == TOGGLE_INPUT)
            .and_then(string_value);
        let enabled = match value.as_deref() {
            Some(TOGGLE_ENABLE) => true,
            Some(TOGGLE_DISABLE) => false,
            _ => {
                return Err(Reject::new(
                    StatusCode::BAD_REQUEST,
                    "a DisableToggle click needs the hidden input \"action\" set to \"on\" or \"off\"",
                ));
            }
        };
        send(
            &state,
            Action::SetEnabled {
                resources: vec![resource.to_owned()],
                enabled,
            },
        )?;
        return Ok(StatusCode::OK.into_response());
    }
    let Some(button) = snap
        .plan
        .as_ref()
        .and_then(|plan| plan.buttons.iter().find(|b| b.name == name))
    else {
        return Err(Reject::new(
            StatusCode::NOT_FOUND,
            format!("uibuttons.tilt.dev {name:?} not found"),
        ));
    };
    if let Some(reason) = button_disabled_reason(&snap, button) {
        let reason = if reason.is_empty() {
            format!("button {name:?} is disabled")
        } else {
            reason
        };
        return Err(Reject::new(StatusCode::CONFLICT, reason));
    }
    for given in &body.status.inputs {
        if !button.inputs.iter().any(|i| i.name == given.name) {
            return Err(Reject::new(
                StatusCode::BAD_REQUEST,
                format!("button {name:?} has no input {:?}", given.name),
            ));
        }
    }
    let mut inputs = Vec::with_capacity(button.inputs.len());
    for spec in &button.inputs {
        let given = body.status.inputs.iter().find(|i| i.name == spec.name);
        let value = input_value(&name, spec, given)?;
        inputs.push((spec.name.clone(), value));
    }
    send(&state, Action::ClickButton { name, inputs })?;
    Ok(StatusCode::OK.into_response())
}

fn string_value(input: &InputStatus) -> Option<String> {
    input
        .hidden
        .as_ref()
        .map(|h| h.value.clone())
        .or_else(|| input.text.as_ref().map(|t| t.value.clone()))
        .or_else(|| input.choice.as_ref().map(|c| c.value.clone()))
}

/// The value passed on for one input: the click's, else the default. Hidden inputs always
/// keep the Tiltfile's value, so a client cannot change what a button was defined to send.
fn input_value(
    button: &str,
    spec: &lilt_model::ButtonInput,
    given: Option<&InputStatus>,
) -> Result<String, Reject> {
    Ok(match &spec.kind {
        ButtonInputKind::Text { default_value, .. } => given
            .and_then(string_value)
            .unwrap_or_else(|| default_value.clone()),
        ButtonInputKind::Bool {
            default_value,
            true_string,
            false_string,
        } => {
            let value = given
                .and_then(|g| g.bool.as_ref().map(|b| b.value))
                .unwrap_or(*default_value);
            match (value, true_string.is_empty(), false_string.is_empty()) {
                (true, false, _) => true_string.clone(),
                (true, true, _) => "true".to_owned(),
                (false, _, false) => false_string.clone(),
                (false, _, true) => "false".to_owned(),
            }
        }
        ButtonInputKind::Hidden { value } => value.clone(),
        ButtonInputKind::Choice { choices } => {
            let value = given
                .and_then(string_value)
                .or_else(|| choices.first().cloned())
                .unwrap_or_default();
            if !choices.is_empty() && !choices.contains(&value) {
                return Err(Reject::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "input {:?} of button {button:?} must be one of {choices:?}, got {value:?}",
                        spec.name
                    ),
                ));
            }
            value
        }
    })
}
