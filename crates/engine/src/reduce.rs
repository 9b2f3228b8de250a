//! `reduce`: the only function that changes `EngineState`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use lilt_model::{BuiltImage, LiveUpdateRecord, Manifest, Plan, TILTFILE_RESOURCE};

use crate::effect::{BuildReason, Effect, LogLevel, SpanId, StopReason};
use crate::event::{Event, RuntimeReport, TiltfileFailure};
use crate::state::{
    BuildRecord, ButtonClick, EngineState, PendingButton, PendingReload, ResourceState,
    RuntimePhase, push_history,
};

/// Applies one event. Events about unknown resources or stale spans change nothing (a
/// result can arrive after its resource was removed or restarted); that is not an error.
pub fn reduce(state: &mut EngineState, event: Event) {
    match event {
        Event::Dispatched { effects, at } => dispatched(state, effects, at),
        Event::ClusterStatus { name, status } => {
            state.clusters.insert(name, status);
        }
        Event::TiltfileLoaded {
            span_id,
            at,
            outcome,
            warnings,
        } => tiltfile_loaded(state, span_id, at, outcome, warnings),
        Event::ConfigFilesChanged { paths, at } => request_reload(state, paths, at),
        Event::ResourceFilesChanged {
            resource,
            paths,
            at,
        } => {
            if let Some(res) = state.resource_mut(&resource) {
                // Disabled resources are not watched in Tilt; a stray event changes nothing.
                if res.enabled {
                    for path in paths {
                        res.pending_files.entry(path).or_insert(at);
                    }
                }
            }
        }
        Event::Trigger { resource, at } => trigger(state, resource, at),
        Event::SetTriggerMode { resource, mode } => {
            if let Some(res) = state.resource_mut(&resource) {
                res.trigger_mode = mode;
            }
        }
        Event::SetEnabled {
            resource,
            enabled,
            at,
        } => set_enabled(state, &resource, enabled, at),
        Event::SetTiltfileArgs { args, at } => {
            if args != state.tiltfile_args {
                state.tiltfile_args = args;
                request_reload(state, Vec::new(), at);
            }
        }
        Event::UpdateFinished {
            resource,
            span_id,
            at,
            error,
            warnings,
            images,
            live_update,
        } => update_finished(
            state,
            &resource,
            span_id,
            at,
            Finished {
                error,
                warnings,
                images,
                live_update,
            },
        ),
        Event::Runtime {
            resource,
            span_id,
            report,
            at,
        } => runtime_report(state, &resource, span_id, report, at),
        Event::ButtonClicked { name, inputs, at } => {
            state.button_clicks.insert(
                name.clone(),
                ButtonClick {
                    at,
                    inputs: inputs.clone(),
                },
            );
            let seq = state.next_span;
            state.next_span += 1;
            state
                .pending_buttons
                .push_back(PendingButton { seq, name, inputs });
        }
    }
}

/// A runtime's report for the span it was started with; stale spans change nothing.
fn runtime_report(
    state: &mut EngineState,
    resource: &str,
    span_id: SpanId,
    report: RuntimeReport,
    at: SystemTime,
) {
    let Some(res) = state.resource_mut(resource) else {
        return;
    };
    match report {
        RuntimeReport::Running { pid, ready } => {
            // From Starting, or again after it exited: a container restarted by its restart
            // policy runs again under the same start.
            if !matches!(res.runtime.phase,
                RuntimePhase::Starting { span_id: s, .. } | RuntimePhase::Exited { span_id: s, .. }
                    if s == span_id)
            {
                return;
            }
            res.runtime.phase = RuntimePhase::Running {
                span_id,
                pid,
                since: at,
            };
            res.runtime.ready = ready;
            res.runtime.error = None;
            if ready {
                res.last_ready_or_succeeded = Some(at);
            }
        }
        RuntimeReport::Ready(ready) => {
            if !matches!(res.runtime.phase, RuntimePhase::Running { span_id: s, .. } if s == span_id)
            {
                return;
            }
            if ready && !res.runtime.ready {
                res.last_ready_or_succeeded = Some(at);
            }
            res.runtime.ready = ready;
        }
        RuntimeReport::Info(info) => {
            if runtime_span(&res.runtime.phase) == Some(span_id) {
                res.runtime.info = Some(info);
            }
        }
        RuntimeReport::Failing(error) => {
            if matches!(res.runtime.phase, RuntimePhase::Running { span_id: s, .. } if s == span_id)
            {
                res.runtime.error = error;
            }
        }
        RuntimeReport::Exited { exit_code, reason } => {
            let (pid, since) = match res.runtime.phase {
                RuntimePhase::Running {
                    span_id: s,
                    pid,
                    since,
                } if s == span_id => (pid, since),
                RuntimePhase::Starting { span_id: s, since } if s == span_id => (None, since),
                _ => return,
            };
            res.runtime.phase = RuntimePhase::Exited {
                span_id,
                pid,
                exit_code,
                reason,
                since,
                at,
            };
            res.runtime.ready = false;
        }
    }
}

/// The span of the runtime that runs now (or is starting, or exited).
fn runtime_span(phase: &RuntimePhase) -> Option<SpanId> {
    match phase {
        RuntimePhase::Starting { span_id, .. }
        | RuntimePhase::Running { span_id, .. }
        | RuntimePhase::Exited { span_id, .. } => Some(*span_id),
        RuntimePhase::Idle => None,
    }
}

fn dispatched(state: &mut EngineState, effects: Vec<Effect>, at: SystemTime) {
    for effect in effects {
        match effect {
            Effect::ReloadTiltfile {
                span_id,
                changed_files,
                ..
            } => {
                bump_span(state, span_id);
                state.tiltfile.pending = None;
                state.tiltfile.current = Some(BuildRecord {
                    span_id,
                    reason: BuildReason {
                        changed_files: !changed_files.is_empty(),
                        ..BuildReason::default()
                    },
                    changed_files,
                    start_time: at,
                    finish_time: None,
                    error: None,
                    warnings: Vec::new(),
                    images: Vec::new(),
                    live_update: None,
                });
            }
            Effect::Update {
                resource,
                span_id,
                reason,
                changed_files,
                ..
            } => {
                bump_span(state, span_id);
                state.trigger_queue.retain(|n| *n != resource);
                let Some(res) = state.resource_mut(&resource) else {
                    continue;
                };
                // Only changes seen before the update started are consumed; later ones
                // stay pending for the next update.
                for path in &changed_files {
                    if res.pending_files.get(path).is_some_and(|t| *t <= at) {
                        res.pending_files.remove(path);
                    }
                }
                if res.pending_config_change.is_some_and(|t| t <= at) {
                    res.pending_config_change = None;
                }
                res.triggered_at = None;
                res.build_count += 1;
                res.current_build = Some(BuildRecord {
                    span_id,
                    reason,
                    changed_files,
                    start_time: at,
                    finish_time: None,
                    error: None,
                    warnings: Vec::new(),
                    images: Vec::new(),
                    live_update: None,
                });
            }
            Effect::StartRuntime { resource, span_id } => {
                bump_span(state, span_id);
                if let Some(res) = state.resource_mut(&resource) {
                    res.runtime.start_requested = false;
                    res.runtime.ready = false;
                    res.runtime.error = None;
                    res.runtime.phase = RuntimePhase::Starting { span_id, since: at };
                }
            }
            Effect::StopRuntime { resource, reason } => {
                state
                    .pending_stops
                    .retain(|(n, r)| !(*n == resource && *r == reason));
            }
            Effect::Log { seq, .. } => {
                state.pending_logs.retain(|l| l.seq != seq);
            }
            Effect::RunButton { seq, .. } => {
                state.pending_buttons.retain(|b| b.seq != seq);
            }
        }
    }
}

fn bump_span(state: &mut EngineState, span_id: SpanId) {
    state.next_span = state.next_span.max(span_id.seq + 1);
}

fn request_reload(state: &mut EngineState, paths: Vec<std::path::PathBuf>, at: SystemTime) {
    let pending = state.tiltfile.pending.get_or_insert_with(|| PendingReload {
        since: at,
        changed_files: BTreeSet::new(),
    });
    pending.changed_files.extend(paths);
}

fn trigger(state: &mut EngineState, resource: String, at: SystemTime) {
    if resource == TILTFILE_RESOURCE {
        request_reload(state, Vec::new(), at);
        return;
    }
    let Some(res) = state.resource_mut(&resource) else {
        state.log(
            None,
            LogLevel::Warn,
            format!("resource {resource:?} does not exist"),
        );
        return;
    };
    if !res.enabled {
        state.log(
            Some(&resource),
            LogLevel::Warn,
            format!("resource {resource:?} is currently disabled"),
        );
        return;
    }
    if res.triggered_at.is_none() {
        res.triggered_at = Some(at);
        state.trigger_queue.push(resource);
    }
}

fn set_enabled(state: &mut EngineState, resource: &str, enabled: bool, _at: SystemTime) {
    let Some(res) = state.resource_mut(resource) else {
        return;
    };
    if res.enabled == enabled {
        return;
    }
    res.enabled = enabled;
    if enabled {
        state.pending_stops.retain(|(n, _)| n != resource);
    } else {
        // Watches are off while disabled, so nothing built before can be trusted:
        // re-enabling starts over with an initial update, as in Tilt.
        let fresh = ResourceState::new(Arc::clone(&res.manifest), false);
        let last_ready = res.last_ready_or_succeeded;
        let trigger_mode = res.trigger_mode;
        *res = fresh;
        res.trigger_mode = trigger_mode;
        res.last_ready_or_succeeded = last_ready;
        state.trigger_queue.retain(|n| n != resource);
        state
            .pending_stops
            .push((resource.to_owned(), StopReason::Disabled));
    }
    let verb = if enabled { "enabled" } else { "disabled" };
    state.log(
        Some(resource),
        LogLevel::Info,
        format!("Resource {resource:?} {verb}. To enable/disable it, use the Tilt Web UI."),
    );
}

#[allow(clippy::too_many_arguments)] // one per field of the event
/// How an update ended (`Event::UpdateFinished`'s payload).
struct Finished {
    error: Option<String>,
    warnings: Vec<String>,
    images: Vec<BuiltImage>,
    live_update: Option<LiveUpdateRecord>,
}

fn update_finished(
    state: &mut EngineState,
    resource: &str,
    span_id: SpanId,
    at: SystemTime,
    finished: Finished,
) {
    let Finished {
        error,
        warnings,
        images,
        live_update,
    } = finished;
    let Some(res) = state.resource_mut(resource) else {
        return;
    };
    let Some(mut record) = res.current_build.take_if(|b| b.span_id == span_id) else {
        return;
    };
    record.finish_time = Some(at);
    record.warnings = warnings;
    let succeeded = error.is_none();
    record.error = error;
    // Images built before a failing deploy are real: they are shown, and kept as the
    // resource's current images so the next update finds them up to date.
    if !images.is_empty() {
        res.images = images.clone();
    }
    record.images = images;
    let live = live_update.is_some();
    record.live_update = live_update;
    push_history(&mut res.history, record);
    if !succeeded {
        return;
    }
    res.last_deploy_time = Some(at);
    // As in Tilt, a successful update counts as "ready" for dependents unless a probe,
    // pods or containers must say so.
    if !res.readiness_from_runtime() {
        res.last_ready_or_succeeded = Some(at);
    }
    // A live update changed files inside the running containers: what runs goes on (its
    // watch, logs and forwards are not restarted), as in Tilt.
    if res.has_runtime() && !live {
        res.runtime.start_requested = true;
    }
}

fn tiltfile_loaded(
    state: &mut EngineState,
    span_id: SpanId,
    at: SystemTime,
    outcome: Result<Box<Plan>, TiltfileFailure>,
    warnings: Vec<String>,
) {
    let Some(mut record) = state.tiltfile.current.take_if(|b| b.span_id == span_id) else {
        return;
    };
    record.finish_time = Some(at);
    record.warnings = warnings.clone();
    state.tiltfile.warnings = warnings;
    match outcome {
        Ok(plan) => {
            apply_plan(state, *plan, at);
        }
        Err(failure) => {
            // The last good resources keep running; the files read so far are watched
            // so that fixing the error reloads. The error is not logged here: the
            // evaluation's own log already ends with it, in the load's span.
            state.config_files.extend(failure.config_files);
            record.error = Some(failure.message);
        }
    }
    push_history(&mut state.tiltfile.history, record);
}

fn apply_plan(state: &mut EngineState, plan: Plan, at: SystemTime) {
    let new_enabled: BTreeSet<String> = plan.enabled.iter().cloned().collect();
    let mut old: Vec<ResourceState> = std::mem::take(&mut state.resources);
    let mut resources = Vec::with_capacity(plan.manifests.len());
    let mut newly_disabled = Vec::new();
    for manifest in plan.manifests {
        let wanted = new_enabled.contains(&manifest.name);
        let position = old.iter().position(|r| r.manifest.name == manifest.name);
        let Some(position) = position else {
            resources.push(ResourceState::new(Arc::new(manifest), wanted));
            continue;
        };
        let mut res = old.swap_remove(position);
        if changes_invalidate_build(&res.manifest, &manifest) && res.started_first_build() {
            res.pending_config_change.get_or_insert(at);
        }
        if res.manifest.trigger_mode != manifest.trigger_mode {
            res.trigger_mode = manifest.trigger_mode;
        }
        res.manifest = Arc::new(manifest);
        // A reload only overrides a runtime toggle when the Tiltfile's own choice for
        // this resource changed; otherwise the UI's choice stands.
        let was_wanted = state.plan_enabled.contains(&res.manifest.name);
        if wanted != was_wanted && wanted != res.enabled {
            if !wanted {
                newly_disabled.push(res.manifest.name.clone());
            } else {
                res.enabled = true;
            }
        }
        resources.push(res);
    }
    for gone in old {
        let name = gone.manifest.name.clone();
        state.trigger_queue.retain(|n| *n != name);
        state.pending_stops.retain(|(n, _)| *n != name);
        state.pending_stops.push((name, StopReason::Removed));
    }
    state.resources = resources;
    for name in newly_disabled {
        set_enabled(state, &name, false, at);
    }
    state.plan_enabled = new_enabled;
    state.settings = plan.settings;
    // `plan.args` is not copied back: args set while this load ran must win.
    state.config_files = plan.config_files;
}

/// Whether a new definition needs a new update. Labels and links are display-only;
/// trigger mode and resource_deps only change scheduling.
fn changes_invalidate_build(old: &Manifest, new: &Manifest) -> bool {
    old.image_targets != new.image_targets || !same_deploy(old, new)
}

fn same_deploy(old: &Manifest, new: &Manifest) -> bool {
    use lilt_model::DeployTarget;
    match (&old.deploy, &new.deploy) {
        (DeployTarget::Local(a), DeployTarget::Local(b)) => {
            a.update_cmd == b.update_cmd
                && a.serve_cmd == b.serve_cmd
                && a.deps == b.deps
                && a.ignores == b.ignores
                && a.allow_parallel == b.allow_parallel
                && a.readiness_probe == b.readiness_probe
        }
        // Added with the Kubernetes deploy target; any change to it is a new deploy.
        (DeployTarget::K8s(a), DeployTarget::K8s(b)) => a == b,
        _ => false,
    }
}
