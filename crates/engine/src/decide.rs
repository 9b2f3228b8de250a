//! `decide`: what to start next and why everything else waits (Tilt's `NextTargetToBuild`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use lilt_model::{DeployTarget, TILTFILE_RESOURCE, UNCATEGORIZED_RESOURCE};

use crate::effect::{Decision, Effect, Hold, HoldReason, SpanId, SpanKind};
use crate::state::{ClusterStatus, EngineState, ResourceState};

/// Returns the effects to dispatch now and, for every resource that needs an update but
/// does not get one, the reason. Pure: calling it twice on the same state gives the same
/// answer, so nothing starts until the runner reduces `Event::Dispatched`.
pub fn decide(state: &EngineState, now: SystemTime) -> Decision {
    let mut effects = Vec::new();
    let mut next_seq = state.next_span;
    let mut span = |kind| {
        let id = SpanId {
            kind,
            seq: next_seq,
        };
        next_seq += 1;
        id
    };

    for (resource, reason) in &state.pending_stops {
        effects.push(Effect::StopRuntime {
            resource: resource.clone(),
            reason: *reason,
        });
    }
    for click in &state.pending_buttons {
        effects.push(Effect::RunButton {
            seq: click.seq,
            name: click.name.clone(),
            inputs: click.inputs.clone(),
        });
    }
    for log in &state.pending_logs {
        effects.push(Effect::Log {
            seq: log.seq,
            resource: log.resource.clone(),
            level: log.level,
            text: log.text.clone(),
        });
    }
    if state.tiltfile.current.is_none()
        && let Some(pending) = &state.tiltfile.pending
    {
        effects.push(Effect::ReloadTiltfile {
            span_id: span(SpanKind::Tiltfile),
            args: state.tiltfile_args.clone(),
            changed_files: pending.changed_files.iter().cloned().collect(),
        });
    }
    for res in &state.resources {
        if res.enabled && res.runtime.start_requested {
            effects.push(Effect::StartRuntime {
                resource: res.name().to_owned(),
                span_id: span(SpanKind::Serve),
            });
        }
    }

    let mut chosen = vec![false; state.resources.len()];
    let mut slots = state.available_slots();
    let holds = loop {
        let pick = next_target(state, &chosen, now);
        match pick.next {
            Some(idx) if slots > 0 => {
                chosen[idx] = true;
                slots -= 1;
                effects.push(update_effect(&state.resources[idx], span(SpanKind::Build)));
            }
            Some(_) => {
                let mut holds = pick.holds;
                for idx in pick.eligible {
                    holds.insert(
                        state.resources[idx].name().to_owned(),
                        Hold {
                            reason: HoldReason::WaitingForSlot,
                            on: Vec::new(),
                        },
                    );
                }
                break holds;
            }
            None => break pick.holds,
        }
    };
    Decision { effects, holds }
}

fn update_effect(res: &ResourceState, span_id: SpanId) -> Effect {
    let mut reason = res.next_build_reason();
    if reason.is_none() {
        // Chosen without a reason can only mean a trigger that raced a consumed change.
        reason.trigger = true;
    }
    let changed_files = if reason.changed_files {
        res.pending_files.keys().cloned().collect()
    } else {
        Vec::new()
    };
    Effect::Update {
        resource: res.name().to_owned(),
        span_id,
        reason,
        changed_files,
        full_rebuild: !reason.live_update_eligible(res.trigger_mode.auto_on_change()),
    }
}

struct Pick {
    next: Option<usize>,
    holds: BTreeMap<String, Hold>,
    /// Candidates with no hold, `next` included.
    eligible: Vec<usize>,
}

/// One round of Tilt's algorithm, with `chosen` marking updates this decision already
/// started (they count as building and are no longer candidates).
fn next_target(state: &EngineState, chosen: &[bool], now: SystemTime) -> Pick {
    let resources = &state.resources;
    let building = |idx: usize| chosen[idx] || resources[idx].is_building();
    let started = |idx: usize| chosen[idx] || resources[idx].started_first_build();
    let candidates: Vec<usize> = (0..resources.len())
        .filter(|&idx| !chosen[idx] && needs_any_update(&resources[idx]))
        .collect();
    let mut holds = HoldSet::default();
    let done = |holds: HoldSet| Pick {
        next: None,
        holds: holds.0,
        eligible: Vec::new(),
    };

    // The Tiltfile must settle first: it may change every resource.
    if state.tiltfile_busy() {
        holds.fill(
            state,
            &candidates,
            HoldReason::TiltfileReload,
            &[TILTFILE_RESOURCE],
        );
        return done(holds);
    }

    let building_local = (0..resources.len())
        .find(|&idx| building(idx) && is_unparallelizable_local(&resources[idx]));
    if let Some(local_idx) = building_local {
        let on = [resources[local_idx].name()];
        holds.fill(state, &candidates, HoldReason::WaitingForLocal, &on);
        return done(holds);
    }

    let building_any = (0..resources.len()).any(building);
    if building_any {
        for &idx in &candidates {
            if is_unparallelizable_local(&resources[idx]) {
                holds.set(
                    &resources[idx],
                    HoldReason::IsUnparallelizableLocal,
                    Vec::new(),
                );
            }
        }
    }

    let building_uncategorized = (0..resources.len())
        .any(|idx| building(idx) && resources[idx].name() == UNCATEGORIZED_RESOURCE);
    if building_uncategorized {
        for &idx in &candidates {
            if is_k8s(&resources[idx]) {
                let on = vec![UNCATEGORIZED_RESOURCE.to_owned()];
                holds.add(&resources[idx], HoldReason::WaitingForUncategorized, on);
            }
        }
    }

    hold_building_components(state, &candidates, &building, &mut holds);

    for &idx in &candidates {
        if started(idx) {
            continue;
        }
        let waiting_on: Vec<String> = resources[idx]
            .manifest
            .resource_deps
            .iter()
            .filter(|dep| {
                state
                    .resource(dep)
                    .is_none_or(|d| d.last_ready_or_succeeded.is_none())
            })
            .cloned()
            .collect();
        if !waiting_on.is_empty() {
            holds.add(&resources[idx], HoldReason::WaitingForDep, waiting_on);
        }
    }

    hold_waiting_on_cluster(state, &candidates, &mut holds);

    let eligible: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&idx| !holds.0.contains_key(resources[idx].name()))
        .collect();
    let pick = |next: Option<usize>, holds: HoldSet| Pick {
        next,
        holds: holds.0,
        eligible: eligible.clone(),
    };

    let unbuilt: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|&idx| !started(idx) && resources[idx].trigger_mode.auto_initial())
        .collect();
    if !unbuilt.is_empty() {
        return pick(Some(next_unbuilt(resources, &unbuilt)), holds);
    }

    for name in &state.trigger_queue {
        if let Some(&idx) = eligible.iter().find(|&&i| resources[i].name() == name) {
            return pick(Some(idx), holds);
        }
    }

    // Live updates of k8s/compose resources wait for their pod here
    // (`waiting-for-deploy`); local resources have no live update, so nothing is held yet.

    let mut best: Option<(usize, SystemTime)> = None;
    for &idx in &eligible {
        let res = &resources[idx];
        if !res.trigger_mode.auto_on_change() {
            continue;
        }
        let Some(at) = res.earliest_pending_change() else {
            continue;
        };
        if at > now {
            continue;
        }
        // Ties keep the first in manifest order.
        if best.is_none_or(|(_, t)| at < t) {
            best = Some((idx, at));
        }
    }
    pick(best.map(|(idx, _)| idx), holds)
}

/// Tilt's `FindTargetsNeedingAnyBuild`: the union of every reason to update.
fn needs_any_update(res: &ResourceState) -> bool {
    if !res.enabled {
        return false;
    }
    (!res.started_first_build() && res.trigger_mode.auto_initial())
        || res.queued()
        || (res.has_pending_changes() && res.trigger_mode.auto_on_change())
}

/// First updates: local resources first (they may write files the others read), then
/// `uncategorized` (namespaces, CRDs), then Kubernetes resources without images, then
/// manifest order.
fn next_unbuilt(resources: &[ResourceState], unbuilt: &[usize]) -> usize {
    if let Some(&idx) = unbuilt.iter().find(|&&i| is_local(&resources[i])) {
        return idx;
    }
    if let Some(&idx) = unbuilt
        .iter()
        .find(|&&i| resources[i].name() == UNCATEGORIZED_RESOURCE)
    {
        return idx;
    }
    if let Some(&idx) = unbuilt
        .iter()
        .find(|&&i| is_k8s(&resources[i]) && resources[i].manifest.image_targets.is_empty())
    {
        return idx;
    }
    unbuilt[0]
}

/// A resource waits while it, or an image it shares with a building resource, is being
/// built.
fn hold_building_components(
    state: &EngineState,
    candidates: &[usize],
    building: &dyn Fn(usize) -> bool,
    holds: &mut HoldSet,
) {
    let resources = &state.resources;
    let building_images: Vec<&str> = (0..resources.len())
        .filter(|&idx| building(idx))
        .flat_map(|idx| resources[idx].manifest.image_targets.iter())
        .map(|image| image.image_ref.as_str())
        .collect();
    for &idx in candidates {
        let res = &resources[idx];
        let shared: Vec<String> = res
            .manifest
            .image_targets
            .iter()
            .filter(|image| building_images.contains(&image.image_ref.as_str()))
            .map(|image| image.image_ref.clone())
            .collect();
        if building(idx) || !shared.is_empty() {
            holds.add(res, HoldReason::BuildingComponent, shared);
        }
    }
}

/// Resources deployed to a cluster wait while its runtime reports the connection as being
/// made. A cluster no runtime reports (none exists yet) holds nothing back, so such a
/// resource is dispatched and its runtime says plainly what it cannot do, instead of the
/// resource waiting forever.
fn hold_waiting_on_cluster(state: &EngineState, candidates: &[usize], holds: &mut HoldSet) {
    for &idx in candidates {
        let res = &state.resources[idx];
        let connecting = cluster_name(res)
            .is_some_and(|name| state.clusters.get(name) == Some(&ClusterStatus::Connecting));
        if connecting {
            holds.add(res, HoldReason::WaitingForCluster, Vec::new());
        }
    }
}

fn cluster_name(res: &ResourceState) -> Option<&str> {
    match &res.manifest.deploy {
        // Compose services run on the Docker daemon, not on a cluster.
        DeployTarget::Local(_) | DeployTarget::DockerCompose(_) => None,
        // Tilt's one Kubernetes Cluster object is named `default`.
        DeployTarget::K8s(_) => Some("default"),
    }
}

pub(crate) fn is_local(res: &ResourceState) -> bool {
    matches!(res.manifest.deploy, DeployTarget::Local(_))
}

pub(crate) fn is_k8s(res: &ResourceState) -> bool {
    match &res.manifest.deploy {
        DeployTarget::Local(_) | DeployTarget::DockerCompose(_) => false,
        DeployTarget::K8s(_) => true,
    }
}

/// Local resources run one at a time unless `allow_parallel`; one with only a serve_cmd
/// has nothing to run on update and is always parallel.
fn is_unparallelizable_local(res: &ResourceState) -> bool {
    match &res.manifest.deploy {
        DeployTarget::Local(local) => !local.allow_parallel && local.update_cmd.is_some(),
        DeployTarget::K8s(_) | DeployTarget::DockerCompose(_) => false,
    }
}

#[derive(Default)]
struct HoldSet(BTreeMap<String, Hold>);

impl HoldSet {
    /// Adds a hold unless the resource already has one: the first reason found wins.
    fn add(&mut self, res: &ResourceState, reason: HoldReason, on: Vec<String>) {
        self.0
            .entry(res.name().to_owned())
            .or_insert(Hold { reason, on });
    }

    fn set(&mut self, res: &ResourceState, reason: HoldReason, on: Vec<String>) {
        self.0.insert(res.name().to_owned(), Hold { reason, on });
    }

    fn fill(&mut self, state: &EngineState, candidates: &[usize], reason: HoldReason, on: &[&str]) {
        for &idx in candidates {
            let on = on.iter().map(|s| (*s).to_owned()).collect();
            self.set(&state.resources[idx], reason, on);
        }
    }
}
