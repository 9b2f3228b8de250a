//! The dashboard's status vocabulary, computed from state (never stored).

use std::fmt;
use std::time::SystemTime;

use crate::state::{ResourceState, RuntimePhase, TiltfileState};

/// Tilt's `UpdateStatus` (`updatestatus_types.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateStatus {
    Ok,
    Pending,
    InProgress,
    Error,
    NotApplicable,
    None,
}

/// Tilt's `RuntimeStatus` (`runtimestatus_types.go`). Tilt also has `unknown`, for a
/// runtime that never reported; lilt shows it as `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeStatus {
    Ok,
    Pending,
    Error,
    NotApplicable,
    None,
}

impl UpdateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Ok => "ok",
            UpdateStatus::Pending => "pending",
            UpdateStatus::InProgress => "in_progress",
            UpdateStatus::Error => "error",
            UpdateStatus::NotApplicable => "not_applicable",
            UpdateStatus::None => "none",
        }
    }
}

impl RuntimeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::Ok => "ok",
            RuntimeStatus::Pending => "pending",
            RuntimeStatus::Error => "error",
            RuntimeStatus::NotApplicable => "not_applicable",
            RuntimeStatus::None => "none",
        }
    }
}

impl fmt::Display for UpdateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ResourceState {
    /// Tilt's `ManifestTarget.UpdateStatus`.
    pub fn update_status(&self) -> UpdateStatus {
        if !self.enabled {
            return UpdateStatus::None;
        }
        let status = self.raw_update_status();
        if self.has_update_step() {
            return status;
        }
        // A serve-only local resource has a no-op update: "in progress" is still pending
        // and success is "not applicable", so the UI never shows a success that did
        // nothing.
        match status {
            UpdateStatus::InProgress => UpdateStatus::Pending,
            UpdateStatus::Ok => UpdateStatus::NotApplicable,
            other => other,
        }
    }

    fn raw_update_status(&self) -> UpdateStatus {
        let pending = self.queued()
            || (self.trigger_mode.auto_on_change() && self.has_pending_changes())
            || (self.trigger_mode.auto_initial()
                && self.current_build.is_none()
                && self.history.is_empty());
        let last_error = self.last_build().is_some_and(|b| b.error.is_some());
        if self.current_build.is_some() {
            UpdateStatus::InProgress
        } else if pending {
            UpdateStatus::Pending
        } else if last_error {
            UpdateStatus::Error
        } else if self.last_build().is_some() {
            UpdateStatus::Ok
        } else {
            UpdateStatus::None
        }
    }

    /// Tilt's `ManifestTarget.RuntimeStatus`: the process state, with "not started yet"
    /// refined by whether an update is on its way.
    pub fn runtime_status(&self) -> RuntimeStatus {
        if !self.has_runtime() {
            return RuntimeStatus::NotApplicable;
        }
        if !self.enabled {
            return RuntimeStatus::None;
        }
        let process = match &self.runtime.phase {
            RuntimePhase::Running { .. } if self.runtime.error.is_some() => {
                return RuntimeStatus::Error;
            }
            RuntimePhase::Running { .. } if self.runtime.ready => Some(RuntimeStatus::Ok),
            RuntimePhase::Running { .. } | RuntimePhase::Starting { .. } => {
                Some(RuntimeStatus::Pending)
            }
            RuntimePhase::Exited { .. } => return RuntimeStatus::Error,
            RuntimePhase::Idle if self.runtime.start_requested => Some(RuntimeStatus::Pending),
            RuntimePhase::Idle => None,
        };
        if process == Some(RuntimeStatus::Ok) {
            return RuntimeStatus::Ok;
        }
        match self.update_status() {
            UpdateStatus::None => RuntimeStatus::None,
            UpdateStatus::Pending | UpdateStatus::InProgress => RuntimeStatus::Pending,
            _ => process.unwrap_or(RuntimeStatus::None),
        }
    }

    /// The runtime's error, as Tilt words it.
    pub fn runtime_error(&self) -> Option<String> {
        match &self.runtime.phase {
            RuntimePhase::Running { .. } => self.runtime.error.clone(),
            // A runtime that could not say it with an exit code says why.
            RuntimePhase::Exited {
                reason: Some(reason),
                exit_code: None,
                ..
            } => Some(reason.clone()),
            RuntimePhase::Exited { pid, .. } => Some(format!(
                "Process {} exited with non-zero status",
                pid.unwrap_or(0)
            )),
            _ => None,
        }
    }

    /// Ready: the update succeeded and, with a serve_cmd, the process runs and its probe
    /// (if any) passes.
    pub fn is_ready(&self) -> bool {
        let updated = self.last_build().is_some_and(|b| b.error.is_none());
        if !self.has_runtime() {
            return updated;
        }
        updated && matches!(self.runtime.phase, RuntimePhase::Running { .. }) && self.runtime.ready
    }

    /// When the serve process started (running or exited), for `lilt ci`'s readiness
    /// timeout and the dashboard.
    pub fn runtime_start_time(&self) -> Option<SystemTime> {
        match &self.runtime.phase {
            RuntimePhase::Running { since, .. }
            | RuntimePhase::Starting { since, .. }
            | RuntimePhase::Exited { since, .. } => Some(*since),
            RuntimePhase::Idle => None,
        }
    }
}

impl TiltfileState {
    pub fn update_status(&self) -> UpdateStatus {
        if self.current.is_some() {
            UpdateStatus::InProgress
        } else if self.pending.is_some() {
            UpdateStatus::Pending
        } else if self.history.back().is_some_and(|b| b.error.is_some()) {
            UpdateStatus::Error
        } else if self.history.is_empty() {
            UpdateStatus::None
        } else {
            UpdateStatus::Ok
        }
    }

    /// The error of the last evaluation, if it failed.
    pub fn last_error(&self) -> Option<&str> {
        self.history.back().and_then(|b| b.error.as_deref())
    }
}
