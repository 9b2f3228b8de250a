//! `lilt ci`'s exit rules (Tilt's Session targets and exit condition), as pure functions.

use std::time::{Duration, SystemTime};

use crate::decide::decide;
use crate::effect::Decision;
use crate::state::{EngineState, ResourceState, RuntimePhase};

/// How `lilt ci` ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiOutcome {
    /// Every requested target is done or ready.
    Success,
    /// The first failure, or a timeout, with Tilt's message.
    Error(String),
}

impl CiOutcome {
    pub const SUCCESS_MESSAGE: &'static str = "SUCCESS. All workloads are healthy.";
}

/// Whether a target runs to completion or keeps serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiTargetKind {
    Job,
    Server,
}

/// The state of one Session target (`tilt get session`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiTargetState {
    /// Never requested (auto_init=False and never triggered): ignored by the exit rules.
    Inactive,
    Disabled,
    Waiting {
        reason: String,
    },
    Active {
        start_time: Option<SystemTime>,
        ready: bool,
        last_ready_time: Option<SystemTime>,
    },
    Terminated {
        start_time: Option<SystemTime>,
        finish_time: Option<SystemTime>,
        error: Option<String>,
    },
    /// In an error state within `ci_settings(k8s_grace_period=)` of its deploy: it may still
    /// recover (Tilt's terminated target with grace status `tolerated`).
    Retrying {
        error: String,
    },
}

/// One Session target: `tiltfile:update`, `<res>:update` or `<res>:serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiTarget {
    pub name: String,
    pub resource: String,
    pub kind: CiTargetKind,
    pub state: CiTargetState,
}

/// The Session's targets, sorted by name as Tilt does.
pub fn ci_targets(state: &EngineState, now: SystemTime) -> Vec<CiTarget> {
    let decision = decide(state, now);
    let mut targets = vec![tiltfile_target(state)];
    for res in &state.resources {
        if let Some(target) = update_target(res, &decision) {
            targets.push(target);
        }
        if let Some(target) = serve_target(state, res, &decision, now) {
            targets.push(target);
        }
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets
}

/// `None` while `lilt ci` should keep going; otherwise how it ends.
pub fn ci_status(state: &EngineState, now: SystemTime) -> Option<CiOutcome> {
    let targets = ci_targets(state, now);
    let mut waiting = Vec::new();
    let mut not_ready = Vec::new();
    let mut retrying = Vec::new();
    for target in &targets {
        match &target.state {
            CiTargetState::Inactive | CiTargetState::Disabled => {}
            CiTargetState::Terminated {
                error: Some(error), ..
            } => return Some(CiOutcome::Error(error.clone())),
            CiTargetState::Terminated { .. } => {}
            CiTargetState::Waiting { reason } => waiting.push(format!("{} {reason}", target.name)),
            CiTargetState::Active { ready: false, .. } => not_ready.push(target.name.clone()),
            CiTargetState::Active { ready: true, .. } => {}
            CiTargetState::Retrying { .. } => retrying.push(target.name.clone()),
        }
    }
    // The Tiltfile is always a target: require one more so that ci does not succeed
    // before any resource exists.
    if waiting.is_empty() && not_ready.is_empty() && retrying.is_empty() && targets.len() > 1 {
        return Some(CiOutcome::Success);
    }

    let readiness_timeout = state.settings.ci.readiness_timeout;
    if !readiness_timeout.is_zero() {
        for target in &targets {
            let CiTargetState::Active {
                ready: false,
                start_time,
                last_ready_time,
            } = &target.state
            else {
                continue;
            };
            if target.kind == CiTargetKind::Job {
                continue;
            }
            let Some(since) = last_ready_time.or(*start_time) else {
                continue;
            };
            if elapsed(since, now) > readiness_timeout {
                return Some(CiOutcome::Error(format!(
                    "Readiness timeout after {}: target {} not ready",
                    go_duration(readiness_timeout),
                    target.name
                )));
            }
        }
    }

    let timeout = state.settings.ci.timeout.unwrap_or(state.ci_timeout);
    if !timeout.is_zero() && elapsed(state.start_time, now) > timeout {
        let mut summary = Vec::new();
        for (label, items) in [
            ("waiting", &waiting),
            ("not ready", &not_ready),
            ("retrying", &retrying),
        ] {
            if !items.is_empty() {
                summary.push(format!(
                    "{} resources {label} ({})",
                    items.len(),
                    items.join(",")
                ));
            }
        }
        return Some(CiOutcome::Error(format!(
            "Timeout after {}: {}",
            go_duration(timeout),
            summary.join(", ")
        )));
    }
    None
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or(Duration::ZERO)
}

fn tiltfile_target(state: &EngineState) -> CiTarget {
    let tiltfile = &state.tiltfile;
    let target_state = if let Some(current) = &tiltfile.current {
        CiTargetState::Active {
            start_time: Some(current.start_time),
            ready: false,
            last_ready_time: None,
        }
    } else if tiltfile.pending.is_some() && !tiltfile.history.is_empty() {
        CiTargetState::Waiting {
            reason: "config-changed".to_owned(),
        }
    } else if let Some(last) = tiltfile.history.back() {
        CiTargetState::Terminated {
            start_time: Some(last.start_time),
            finish_time: last.finish_time,
            error: last.error.clone(),
        }
    } else {
        CiTargetState::Waiting {
            reason: "initial-build".to_owned(),
        }
    };
    CiTarget {
        name: "tiltfile:update".to_owned(),
        resource: lilt_model::TILTFILE_RESOURCE.to_owned(),
        kind: CiTargetKind::Job,
        state: target_state,
    }
}

fn waiting(res: &ResourceState, decision: &Decision) -> CiTargetState {
    let reason = decision
        .holds
        .get(res.name())
        .map_or("unknown", |hold| hold.reason.as_str());
    CiTargetState::Waiting {
        reason: reason.to_owned(),
    }
}

fn update_target(res: &ResourceState, decision: &Decision) -> Option<CiTarget> {
    if !res.has_update_step() {
        return None;
    }
    let target_state = if !res.enabled {
        CiTargetState::Disabled
    } else if !res.next_build_reason().is_none() {
        waiting(res, decision)
    } else if let Some(current) = &res.current_build {
        CiTargetState::Active {
            start_time: Some(current.start_time),
            ready: false,
            last_ready_time: None,
        }
    } else if let Some(last) = res.last_build() {
        CiTargetState::Terminated {
            start_time: Some(last.start_time),
            finish_time: last.finish_time,
            error: last.error.clone(),
        }
    } else {
        CiTargetState::Inactive
    };
    Some(CiTarget {
        name: format!("{}:update", res.name()),
        resource: res.name().to_owned(),
        kind: CiTargetKind::Job,
        state: target_state,
    })
}

fn serve_target(
    state: &EngineState,
    res: &ResourceState,
    decision: &Decision,
    now: SystemTime,
) -> Option<CiTarget> {
    if !res.has_runtime() {
        return None;
    }
    let target_state = if !res.enabled {
        CiTargetState::Disabled
    } else if let (RuntimePhase::Running { since, .. }, Some(error)) =
        (&res.runtime.phase, &res.runtime.error)
    {
        // Tilt counts the grace period from the deploy, and applies it to Kubernetes
        // resources only.
        match state.settings.ci.k8s_grace_period.filter(|g| !g.is_zero()) {
            Some(grace) if matches!(res.manifest.deploy, lilt_model::DeployTarget::K8s(_)) => {
                if elapsed(*since, now) < grace {
                    CiTargetState::Retrying {
                        error: error.clone(),
                    }
                } else {
                    CiTargetState::Terminated {
                        start_time: Some(*since),
                        finish_time: None,
                        error: Some(format!("exceeded grace period: {error}")),
                    }
                }
            }
            _ => CiTargetState::Terminated {
                start_time: Some(*since),
                finish_time: None,
                error: Some(error.clone()),
            },
        }
    } else if let RuntimePhase::Exited { since, at, .. } = &res.runtime.phase {
        CiTargetState::Terminated {
            start_time: Some(*since),
            finish_time: Some(*at),
            error: res.runtime_error(),
        }
    } else if let RuntimePhase::Running { since, .. } = &res.runtime.phase {
        CiTargetState::Active {
            start_time: Some(*since),
            ready: res.runtime.ready,
            last_ready_time: res.last_ready_or_succeeded,
        }
    } else if res.trigger_mode.auto_initial() || res.started_first_build() {
        waiting(res, decision)
    } else {
        CiTargetState::Inactive
    };
    Some(CiTarget {
        // Tilt's Session names: `serve` for a local serve_cmd, `runtime` for the rest.
        name: match res.manifest.deploy {
            lilt_model::DeployTarget::Local(_) => format!("{}:serve", res.name()),
            _ => format!("{}:runtime", res.name()),
        },
        resource: res.name().to_owned(),
        kind: CiTargetKind::Server,
        state: target_state,
    })
}

/// Formats a duration as Go's `time.Duration.String` does (`30m0s`), because Tilt's timeout
/// messages use it.
pub use lilt_model::format_go_duration as go_duration;
