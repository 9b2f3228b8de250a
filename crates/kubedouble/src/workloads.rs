//! The workload controllers of kube-controller-manager that lilt's resources meet:
//! - Deployment (`pkg/controller/deployment`): one ReplicaSet per pod template, named
//!   `<deployment>-<pod-template-hash>` with the `pod-template-hash` label in its selector and
//!   template, `deployment.kubernetes.io/revision` annotations, RollingUpdate (maxSurge /
//!   maxUnavailable: old ReplicaSets scale down as new pods become available) or Recreate (old
//!   pods gone before new ones start), `ScalingReplicaSet` events, revisionHistoryLimit, and
//!   the status (replicas, updated/ready/available/unavailable, observedGeneration, the
//!   Available and Progressing conditions);
//! - ReplicaSet (`pkg/controller/replicaset`): pods `<rs>-<5 chars>` with a controller
//!   ownerReference, scale up and down (not-ready and newest pods go first), status;
//! - Job (`pkg/controller/job`): pods until `completions` succeeded, `parallelism`, failed pods
//!   counted against `backoffLimit`, the Complete / Failed conditions (with SuccessCriteriaMet /
//!   FailureTarget), start and completion times.
//!
//! StatefulSets, DaemonSets and CronJobs are stored and served but not reconciled.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::controllers::set_condition;
use crate::events::{self, DEPLOYMENT, JOB, REPLICASET};
use crate::selector::LabelSelector;
use crate::store::{DeleteOpts, Store, WriteCtx, meta_str};
use crate::time;

const KCM: &str = "kube-controller-manager";
const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";

pub(crate) struct Workloads;

impl Workloads {
    pub fn new() -> Self {
        Workloads
    }

    /// One reconcile pass over every Deployment, ReplicaSet and Job.
    pub fn pass(&mut self, store: &Store) {
        let (Some(rst), Some(podt)) = (
            store.resource("apps", "v1", "replicasets"),
            store.resource("", "v1", "pods"),
        ) else {
            return;
        };
        // One snapshot per pass, indexed by controller uid (what the informers' indexers do).
        let pods = by_owner(store.all(&podt, None));
        let rss = by_owner(store.all(&rst, None));
        deployments(store, &rss, &pods);
        replicasets(store, &pods);
        jobs(store, &pods);
    }
}

type ByOwner = HashMap<String, Vec<Arc<Value>>>;

fn by_owner(objs: Vec<Arc<Value>>) -> ByOwner {
    let mut m: ByOwner = HashMap::new();
    for o in objs {
        if let Some(uid) = controller_uid(&o) {
            m.entry(uid.to_string()).or_default().push(o.clone());
        }
    }
    m
}

fn owned_by<'a>(m: &'a ByOwner, owner: &Value) -> &'a [Arc<Value>] {
    meta_str(owner, "uid")
        .and_then(|u| m.get(u))
        .map_or(&[], Vec::as_slice)
}

fn deleting(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some()
}

fn controller_uid(o: &Value) -> Option<&str> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| r["uid"].as_str())
}

fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "name": meta_str(owner, "name"), "uid": meta_str(owner, "uid"),
        "controller": true, "blockOwnerDeletion": true,
    })
}

fn int(v: &Value, p: &str, d: i64) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(d)
}

fn pod_ready(p: &Value) -> bool {
    !deleting(p)
        && p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
}

fn phase(p: &Value) -> &str {
    p.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// JSON with object keys sorted, so the hash does not depend on key order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// `ComputeHash`: FNV-32a of the template (and collision count), rendered with
/// `rand.SafeEncodeString` of its decimal form, as pod-template-hash values look.
pub(crate) fn pod_template_hash(template: &Value, collisions: i64) -> String {
    struct Fnv32(u32);
    impl Hasher for Fnv32 {
        fn finish(&self) -> u64 {
            u64::from(self.0)
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u32::from(*b);
                self.0 = self.0.wrapping_mul(16_777_619);
            }
        }
    }
    let mut h = Fnv32(2_166_136_261);
    h.write(canonical(template).to_string().as_bytes());
    if collisions > 0 {
        h.write(collisions.to_string().as_bytes());
    }
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.finish()
        .to_string()
        .bytes()
        .map(|b| ALPHA[b as usize % ALPHA.len()] as char)
        .collect()
}

/// A surge/unavailable value: an int or a percentage of `replicas` (rounded up for surge,
/// down for unavailable).
fn resolve(v: Option<&Value>, replicas: i64, up: bool, default: &str) -> i64 {
    let s = match v {
        Some(Value::Number(n)) => return n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.as_str(),
        _ => default,
    };
    match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
        Some(pct) => {
            let x = replicas * pct;
            if up { (x + 99) / 100 } else { x / 100 }
        }
        None => s.parse().unwrap_or(0),
    }
}

fn deployments(store: &Store, rs_by_owner: &ByOwner, pods_by_owner: &ByOwner) {
    let (Some(dt), Some(rst)) = (
        store.resource("apps", "v1", "deployments"),
        store.resource("apps", "v1", "replicasets"),
    ) else {
        return;
    };
    for d in store.all(&dt, None) {
        if deleting(&d) {
            continue;
        }
        let ns = meta_str(&d, "namespace").unwrap_or_default().to_string();
        let name = meta_str(&d, "name").unwrap_or_default().to_string();
        let replicas = int(&d, "/spec/replicas", 1);
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let collisions = int(&d, "/status/collisionCount", 0);
        let hash = pod_template_hash(&template, collisions);
        let owned: Vec<Value> = owned_by(rs_by_owner, &d)
            .iter()
            .map(|a| (**a).clone())
            .collect();
        let revision_of = |rs: &Value| -> i64 {
            rs.pointer("/metadata/annotations")
                .and_then(|a| a.get(REVISION))
                .and_then(Value::as_str)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0)
        };
        let max_rev = owned.iter().map(revision_of).max().unwrap_or(0);
        let new_rs = owned
            .iter()
            .find(|rs| {
                rs.pointer(&format!("/metadata/labels/{HASH_LABEL}"))
                    .and_then(Value::as_str)
                    == Some(hash.as_str())
            })
            .cloned();
        let paused = d.pointer("/spec/paused") == Some(&json!(true));
        let ctx = WriteCtx::manager(KCM);
        let new_rs = match new_rs {
            Some(rs) => {
                // A template that is current again becomes the newest revision (a rollback).
                if revision_of(&rs) < max_rev {
                    let rs_name = meta_str(&rs, "name").unwrap_or_default().to_string();
                    let _ = store.mutate(&rst, &ns, &rs_name, &ctx, |o| {
                        o["metadata"]["annotations"][REVISION] = json!((max_rev + 1).to_string());
                    });
                }
                rs
            }
            None if paused => continue,
            None => {
                let mut t = template.clone();
                t["metadata"]["labels"][HASH_LABEL] = json!(hash);
                let mut sel = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
                sel["matchLabels"][HASH_LABEL] = json!(hash);
                let mut labels = t["metadata"]["labels"].clone();
                labels[HASH_LABEL] = json!(hash);
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {
                        "name": format!("{name}-{hash}"),
                        "namespace": ns,
                        "labels": labels,
                        "annotations": {
                            REVISION: (max_rev + 1).to_string(),
                            "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                            "deployment.kubernetes.io/max-replicas": (replicas + resolve(d.pointer("/spec/strategy/rollingUpdate/maxSurge"), replicas, true, "25%")).to_string(),
                        },
                        "ownerReferences": [owner_ref(&d, "apps/v1", "Deployment")],
                    },
                    "spec": {"replicas": 0, "selector": sel, "template": t,
                        "minReadySeconds": int(&d, "/spec/minReadySeconds", 0)},
                });
                match store.create(&rst, "v1", &ns, rs, &ctx) {
                    Ok(rs) => rs,
                    Err(_) => continue,
                }
            }
        };
        let new_name = meta_str(&new_rs, "name").unwrap_or_default().to_string();
        let olds: Vec<Value> = owned
            .iter()
            .filter(|rs| meta_str(rs, "name") != Some(new_name.as_str()))
            .cloned()
            .collect();
        let pods_of = |rs: &Value| -> Vec<&Value> {
            owned_by(pods_by_owner, rs)
                .iter()
                .map(|a| a.as_ref())
                .collect()
        };
        let available =
            |rs: &Value| pods_of(rs).into_iter().filter(|p| pod_ready(p)).count() as i64;
        let spec_replicas = |rs: &Value| int(rs, "/spec/replicas", 0);
        let scale = |rs: &Value, to: i64, d: &Value| {
            let from = spec_replicas(rs);
            if from == to {
                return;
            }
            let rs_name = meta_str(rs, "name").unwrap_or_default().to_string();
            let _ = store.mutate(&rst, &ns, &rs_name, &ctx, |o| {
                o["spec"]["replicas"] = json!(to);
                o["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                    json!(replicas.to_string());
            });
            let verb = if to > from { "up" } else { "down" };
            events::record(
                store,
                d,
                None,
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled {verb} replica set {rs_name} from {from} to {to}"),
                DEPLOYMENT,
            );
        };
        if !paused {
            let recreate = d.pointer("/spec/strategy/type") == Some(&json!("Recreate"));
            if recreate {
                for o in &olds {
                    scale(o, 0, &d);
                }
                let old_pods_left = olds.iter().any(|o| !pods_of(o).is_empty());
                if !old_pods_left {
                    scale(&new_rs, replicas, &d);
                }
            } else {
                let surge = resolve(
                    d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
                    replicas,
                    true,
                    "25%",
                );
                let mut unavailable = resolve(
                    d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
                    replicas,
                    false,
                    "25%",
                );
                if surge == 0 && unavailable == 0 {
                    unavailable = 1;
                }
                // Scale up the new ReplicaSet within replicas + maxSurge.
                let total: i64 =
                    spec_replicas(&new_rs) + olds.iter().map(spec_replicas).sum::<i64>();
                let room = (replicas + surge - total).max(0);
                let target_new = if olds.iter().all(|o| spec_replicas(o) == 0) {
                    replicas
                } else {
                    (spec_replicas(&new_rs) + room).min(replicas)
                };
                scale(&new_rs, target_new, &d);
                // Scale old ones down while at least replicas - maxUnavailable stay available.
                let all_available: i64 =
                    available(&new_rs) + olds.iter().map(available).sum::<i64>();
                let mut can_remove = (all_available - (replicas - unavailable)).max(0);
                let mut olds_sorted = olds.clone();
                olds_sorted.sort_by_key(revision_of);
                for o in &olds_sorted {
                    let cur = spec_replicas(o);
                    if cur == 0 {
                        continue;
                    }
                    // Old pods that are not available can go at once.
                    let unhealthy = (cur - available(o)).max(0);
                    let down = (can_remove + unhealthy).min(cur);
                    if down > 0 {
                        scale(o, cur - down, &d);
                        can_remove = (can_remove - (down - unhealthy).max(0)).max(0);
                    }
                }
            }
            // revisionHistoryLimit: drop the oldest scaled-down ReplicaSets.
            let limit = int(&d, "/spec/revisionHistoryLimit", 10) as usize;
            let mut idle: Vec<&Value> = olds
                .iter()
                .filter(|o| spec_replicas(o) == 0 && pods_of(o).is_empty())
                .collect();
            if idle.len() > limit {
                idle.sort_by_key(|o| revision_of(o));
                for o in &idle[..idle.len() - limit] {
                    let _ = store.delete(
                        &rst,
                        &ns,
                        meta_str(o, "name").unwrap_or_default(),
                        &DeleteOpts::default(),
                    );
                }
            }
        }
        // Status.
        // Statuses as of this pass (a scale just made shows in the next one).
        let rs_now: Vec<Value> = olds
            .iter()
            .cloned()
            .chain(std::iter::once(new_rs.clone()))
            .collect();
        let new_now = rs_now
            .iter()
            .find(|rs| meta_str(rs, "name") == Some(new_name.as_str()));
        let sum = |p: &str| -> i64 { rs_now.iter().map(|rs| int(rs, p, 0)).sum() };
        let total = sum("/status/replicas");
        let ready = sum("/status/readyReplicas");
        let avail = sum("/status/availableReplicas");
        let updated = new_now.map_or(0, |rs| int(rs, "/status/replicas", 0));
        let updated_avail = new_now.map_or(0, |rs| int(rs, "/status/availableReplicas", 0));
        let unavailable_allowed = if d.pointer("/spec/strategy/type") == Some(&json!("Recreate")) {
            0
        } else {
            resolve(
                d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
                replicas,
                false,
                "25%",
            )
        };
        let complete = updated == replicas && updated_avail == replicas && total == replicas;
        let generation = int(&d, "/metadata/generation", 1);
        let now = time::now_rfc3339();
        let _ = store.mutate(&dt, &ns, &name, &WriteCtx::status(KCM), |o| {
            let st = &mut o["status"];
            if !st.is_object() {
                *st = json!({});
            }
            st["observedGeneration"] = json!(generation);
            st["replicas"] = json!(total);
            st["updatedReplicas"] = json!(updated);
            st["readyReplicas"] = json!(ready);
            st["availableReplicas"] = json!(avail);
            st["unavailableReplicas"] = json!((replicas - avail).max(0));
            for k in ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"] {
                if st[k] == json!(0) && let Some(m) = st.as_object_mut() {
                    m.remove(k);
                }
            }
            let min_ok = avail >= replicas - unavailable_allowed;
            let mut a = json!({"type": "Available", "status": if min_ok { "True" } else { "False" },
                "lastUpdateTime": now, "lastTransitionTime": now,
                "reason": if min_ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                "message": if min_ok { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }});
            keep_update_time(st, &mut a);
            set_condition(st, a);
            let (reason, msg) = if complete {
                ("NewReplicaSetAvailable", format!("ReplicaSet \"{new_name}\" has successfully progressed."))
            } else {
                ("ReplicaSetUpdated", format!("ReplicaSet \"{new_name}\" is progressing."))
            };
            let mut p = json!({"type": "Progressing", "status": "True", "lastUpdateTime": now,
                "lastTransitionTime": now, "reason": reason, "message": msg});
            keep_update_time(st, &mut p);
            set_condition(st, p);
        });
    }
}

/// Conditions keep their lastUpdateTime when nothing but the time would change, so a
/// steady state is not rewritten on every pass.
fn keep_update_time(status: &Value, new: &mut Value) {
    let Some(old) = status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == new["type"]))
    else {
        return;
    };
    if old["status"] == new["status"]
        && old["reason"] == new["reason"]
        && old["message"] == new["message"]
    {
        new["lastUpdateTime"] = old["lastUpdateTime"].clone();
    }
}

fn replicasets(store: &Store, pods_by_owner: &ByOwner) {
    let (Some(rst), Some(podt)) = (
        store.resource("apps", "v1", "replicasets"),
        store.resource("", "v1", "pods"),
    ) else {
        return;
    };
    let ctx = WriteCtx::manager(KCM);
    for rs in store.all(&rst, None) {
        if deleting(&rs) {
            continue;
        }
        let ns = meta_str(&rs, "namespace").unwrap_or_default().to_string();
        let name = meta_str(&rs, "name").unwrap_or_default().to_string();
        let want = int(&rs, "/spec/replicas", 1);
        let all_pods = owned_by(pods_by_owner, &rs);
        let mut pods: Vec<&Value> = all_pods
            .iter()
            .map(|a| a.as_ref())
            .filter(|p| !deleting(p) && !matches!(phase(p), "Succeeded" | "Failed"))
            .collect();
        let have = pods.len() as i64;
        if have < want {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in 0..(want - have) {
                let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
                meta["generateName"] = json!(format!("{name}-"));
                meta["namespace"] = json!(ns);
                meta["ownerReferences"] = json!([owner_ref(&rs, "apps/v1", "ReplicaSet")]);
                if let Some(m) = meta.as_object_mut() {
                    m.remove("name");
                }
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                    "spec": template.get("spec").cloned().unwrap_or(json!({}))});
                match store.create(&podt, "v1", &ns, pod, &ctx) {
                    Ok(p) => events::record(
                        store,
                        &rs,
                        None,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", meta_str(&p, "name").unwrap_or_default()),
                        REPLICASET,
                    ),
                    Err(e) => {
                        events::record(
                            store,
                            &rs,
                            None,
                            "Warning",
                            "FailedCreate",
                            &format!("Error creating: {}", e.message),
                            REPLICASET,
                        );
                        break;
                    }
                }
            }
        } else if have > want {
            // Not-ready pods first, then the newest.
            pods.sort_by(|a, b| {
                pod_ready(a)
                    .cmp(&pod_ready(b))
                    .then(meta_str(b, "creationTimestamp").cmp(&meta_str(a, "creationTimestamp")))
            });
            for p in pods.iter().take((have - want) as usize) {
                let pname = meta_str(p, "name").unwrap_or_default().to_string();
                if store
                    .delete(&podt, &ns, &pname, &DeleteOpts::default())
                    .is_ok()
                {
                    events::record(
                        store,
                        &rs,
                        None,
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted pod: {pname}"),
                        REPLICASET,
                    );
                }
            }
        }
        let pods: Vec<&Value> = all_pods
            .iter()
            .map(|a| a.as_ref())
            .filter(|p| !deleting(p) && !matches!(phase(p), "Succeeded" | "Failed"))
            .collect();
        let selector = LabelSelector::from_object(rs.pointer("/spec/selector"))
            .ok()
            .flatten();
        let labeled = pods
            .iter()
            .filter(|p| selector.as_ref().is_some_and(|s| s.matches_object(p)))
            .count();
        let ready = pods.iter().filter(|p| pod_ready(p)).count();
        let generation = int(&rs, "/metadata/generation", 1);
        let _ = store.mutate(&rst, &ns, &name, &WriteCtx::status(KCM), |o| {
            let mut st = json!({"replicas": pods.len(), "observedGeneration": generation});
            if labeled > 0 {
                st["fullyLabeledReplicas"] = json!(labeled);
            }
            if ready > 0 {
                st["readyReplicas"] = json!(ready);
                st["availableReplicas"] = json!(ready);
            }
            o["status"] = st;
        });
    }
}

fn jobs(store: &Store, pods_by_owner: &ByOwner) {
    let (Some(jt), Some(podt)) = (
        store.resource("batch", "v1", "jobs"),
        store.resource("", "v1", "pods"),
    ) else {
        return;
    };
    let ctx = WriteCtx::manager(KCM);
    for job in store.all(&jt, None) {
        if deleting(&job) {
            continue;
        }
        let finished = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
                })
            });
        if finished || job.pointer("/spec/suspend") == Some(&json!(true)) {
            continue;
        }
        let ns = meta_str(&job, "namespace").unwrap_or_default().to_string();
        let name = meta_str(&job, "name").unwrap_or_default().to_string();
        let pods: Vec<&Value> = owned_by(pods_by_owner, &job)
            .iter()
            .map(|a| a.as_ref())
            .collect();
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
        let active: Vec<&Value> = pods
            .iter()
            .copied()
            .filter(|p| !deleting(p) && !matches!(phase(p), "Succeeded" | "Failed"))
            .collect();
        let completions = int(&job, "/spec/completions", 1);
        let parallelism = int(&job, "/spec/parallelism", 1);
        let backoff_limit = int(&job, "/spec/backoffLimit", 6);
        let now = time::now_rfc3339();
        let mut outcome: Option<(&str, &str, &str)> = None;
        if succeeded >= completions {
            outcome = Some((
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ));
        } else if failed > backoff_limit {
            outcome = Some((
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
            for p in &active {
                let _ = store.delete(
                    &podt,
                    &ns,
                    meta_str(p, "name").unwrap_or_default(),
                    &DeleteOpts::default(),
                );
            }
        } else {
            let want_active = parallelism.min(completions - succeeded);
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in 0..(want_active - active.len() as i64).max(0) {
                let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
                meta["generateName"] = json!(format!("{name}-"));
                meta["ownerReferences"] = json!([owner_ref(&job, "batch/v1", "Job")]);
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                    "spec": template.get("spec").cloned().unwrap_or(json!({}))});
                match store.create(&podt, "v1", &ns, pod, &ctx) {
                    Ok(p) => events::record(
                        store,
                        &job,
                        None,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", meta_str(&p, "name").unwrap_or_default()),
                        JOB,
                    ),
                    Err(_) => break,
                }
            }
        }
        let ready = active.iter().filter(|p| pod_ready(p)).count();
        let n_active = if outcome.is_some() { 0 } else { active.len() };
        let _ = store.mutate(&jt, &ns, &name, &WriteCtx::status("job-controller"), |o| {
            let st = &mut o["status"];
            if !st.is_object() {
                *st = json!({});
            }
            if st.get("startTime").is_none() {
                st["startTime"] = json!(now);
            }
            for (k, v) in [("active", n_active as i64), ("succeeded", succeeded), ("failed", failed)] {
                if v > 0 {
                    st[k] = json!(v);
                } else if let Some(m) = st.as_object_mut() {
                    m.remove(k);
                }
            }
            st["ready"] = json!(ready);
            st["terminating"] = json!(0);
            st["uncountedTerminatedPods"] = json!({});
            if let Some((ty, reason, msg)) = outcome {
                let target = if ty == "Complete" { "SuccessCriteriaMet" } else { "FailureTarget" };
                let c = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": msg});
                set_condition(st, c(target));
                set_condition(st, c(ty));
                if ty == "Complete" {
                    st["completionTime"] = json!(now);
                }
            }
        });
        if let Some((ty, reason, msg)) = outcome {
            let (t, r) = if ty == "Complete" {
                ("Normal", "Completed")
            } else {
                ("Warning", reason)
            };
            events::record(
                store,
                &job,
                None,
                t,
                r,
                if ty == "Complete" {
                    "Job completed"
                } else {
                    msg
                },
                JOB,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hash_is_stable_and_safe() {
        let a = pod_template_hash(&json!({"spec": {"a": 1, "b": 2}}), 0);
        let b = pod_template_hash(&json!({"spec": {"b": 2, "a": 1}}), 0);
        assert_eq!(a, b);
        assert_ne!(a, pod_template_hash(&json!({"spec": {"a": 2}}), 0));
        assert!(
            a.bytes()
                .all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(&c))
        );
        assert_eq!(resolve(Some(&json!("25%")), 1, true, "25%"), 1);
        assert_eq!(resolve(Some(&json!("25%")), 1, false, "25%"), 0);
        assert_eq!(resolve(Some(&json!(2)), 1, false, "25%"), 2);
    }
}
