//! The control-plane loops that make stored objects behave: the namespace controller
//! (a Terminating namespace is emptied, then finalized), the garbage collector (ownerReference
//! cascades: background, `foregroundDeletion` and `orphan` finalizers, dangling references),
//! the CRD establishing/cleanup controllers, the ServiceAccount and root-CA publishers
//! (`default` ServiceAccount and `kube-root-ca.crt` in every namespace) and the scheduler
//! (binds pods to the double's node, or reports them Unschedulable when there is no node).
//! They run level-triggered: every committed write wakes one pass over the store, plus a
//! periodic pass for time-driven work.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::events::{self, NODE};
use crate::resources::ResourceType;
use crate::store::{DeleteOpts, Store, WriteCtx, meta_str};
use crate::time;

const KCM: &str = "kube-controller-manager";

/// What the loops need to know.
pub(crate) struct Config {
    pub ca_pem: String,
    /// Whether a node (the double's kubelet) exists to schedule onto.
    pub node: bool,
}

/// Runs every controller until shutdown.
/// `passes` gets (resourceVersion before, after) of every pass: equal means the pass found
/// nothing to do.
pub(crate) async fn run(
    store: Arc<Store>,
    cfg: Config,
    passes: watch::Sender<(u64, u64)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut rx = store.subscribe_rv();
    let mut workloads = crate::workloads::Workloads::new();
    loop {
        rx.mark_unchanged();
        let before = store.current_rv();
        pass(&store, &cfg);
        workloads.pass(&store);
        passes.send_replace((before, store.current_rv()));
        tokio::select! {
            _ = rx.changed() => {
                // Coalesce a burst of writes into one pass (the workqueue's batching).
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass of the system controllers.
pub(crate) fn pass(store: &Store, cfg: &Config) {
    crds(store);
    namespaces(store, cfg);
    gc(store);
    schedule(store, cfg);
}

fn rt(store: &Store, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
    store.resource(group, version, plural)
}

fn is_deleting(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some()
}

fn finalizers(o: &Value) -> Vec<String> {
    o.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn without_finalizer(o: &mut Value, f: &str) {
    if let Some(list) = o
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        list.retain(|x| x != f);
        if list.is_empty()
            && let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("finalizers");
        }
    }
}

const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The apiextensions controllers: NamesAccepted + Established, the cleanup finalizer.
fn crds(store: &Store) {
    let Some(crd_rt) = rt(
        store,
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
    ) else {
        return;
    };
    for crd in store.all(&crd_rt, None) {
        let name = meta_str(&crd, "name").unwrap_or_default().to_string();
        if is_deleting(&crd) {
            if finalizers(&crd).iter().any(|f| f == CRD_CLEANUP) {
                let group = crd
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let plural = crd
                    .pointer("/spec/names/plural")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                store.purge(group, plural);
                let _ = store.mutate(
                    &crd_rt,
                    "",
                    &name,
                    &WriteCtx::manager("kube-apiserver"),
                    |o| without_finalizer(o, CRD_CLEANUP),
                );
            }
            continue;
        }
        if !finalizers(&crd).iter().any(|f| f == CRD_CLEANUP) {
            let _ = store.mutate(
                &crd_rt,
                "",
                &name,
                &WriteCtx::manager("kube-apiserver"),
                |o| {
                    let mut f = finalizers(o);
                    f.push(CRD_CLEANUP.into());
                    o["metadata"]["finalizers"] = json!(f);
                },
            );
        }
        let established = crd
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            });
        if established {
            continue;
        }
        let mut names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
        let kind = names["kind"].as_str().unwrap_or_default().to_string();
        if names.get("singular").is_none() {
            names["singular"] = json!(kind.to_lowercase());
        }
        if names.get("listKind").is_none() {
            names["listKind"] = json!(format!("{kind}List"));
        }
        let storage: Vec<Value> = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter(|v| v["storage"] == true)
                    .map(|v| v["name"].clone())
                    .collect()
            })
            .unwrap_or_default();
        let now = time::now_rfc3339();
        let _ = store.mutate(&crd_rt, "", &name, &WriteCtx::status("kube-apiserver"), |o| {
            o["status"] = json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
                ],
                "acceptedNames": names,
                "storedVersions": storage,
            });
        });
    }
}

/// The namespace controller plus the per-namespace publishers.
fn namespaces(store: &Store, cfg: &Config) {
    let Some(ns_rt) = rt(store, "", "v1", "namespaces") else {
        return;
    };
    let sa_rt = rt(store, "", "v1", "serviceaccounts");
    let cm_rt = rt(store, "", "v1", "configmaps");
    for ns in store.all(&ns_rt, None) {
        let name = meta_str(&ns, "name").unwrap_or_default().to_string();
        if is_deleting(&ns) {
            let contents = store.namespace_contents(&name);
            if contents.is_empty() {
                let _ = store.mutate(
                    &ns_rt,
                    "",
                    &name,
                    &WriteCtx {
                        manager: "namespace-controller".into(),
                        subresource: Some("finalize".into()),
                        ..Default::default()
                    },
                    |o| o["spec"] = json!({"finalizers": []}),
                );
            } else {
                for (t, obj) in contents {
                    let _ = store.delete(&t, &name, &obj, &DeleteOpts::default());
                }
            }
            continue;
        }
        let ctx = WriteCtx::manager(KCM);
        if let Some(sa) = &sa_rt
            && store.get(sa, &name, "default").is_err()
        {
            let _ = store.create(
                sa,
                "v1",
                &name,
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
                &ctx,
            );
        }
        if let Some(cm) = &cm_rt
            && store.get(cm, &name, "kube-root-ca.crt").is_err()
        {
            let _ = store.create(
                cm,
                "v1",
                &name,
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": cfg.ca_pem}}),
                &ctx,
            );
        }
    }
}

/// The garbage collector (`pkg/controller/garbagecollector`), level-triggered.
fn gc(store: &Store) {
    let all = store.everything();
    let by_uid: HashMap<String, (&Arc<ResourceType>, &Arc<Value>)> = all
        .iter()
        .filter_map(|(t, o)| Some((meta_str(o, "uid")?.to_string(), (t, o))))
        .collect();
    let mut referenced: HashSet<String> = HashSet::new();
    let ctx = WriteCtx::manager("generic-garbage-collector");
    for (t, o) in &all {
        let refs: Vec<Value> = o
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if refs.is_empty() {
            continue;
        }
        let ns = meta_str(o, "namespace").unwrap_or_default().to_string();
        let name = meta_str(o, "name").unwrap_or_default().to_string();
        let mut absent = Vec::new();
        let mut orphaning = Vec::new();
        let mut foreground = 0;
        for r in &refs {
            let uid = r["uid"].as_str().unwrap_or_default().to_string();
            match by_uid.get(&uid) {
                None => absent.push(uid),
                Some((_, owner)) => {
                    referenced.insert(uid.clone());
                    let fs = finalizers(owner);
                    if is_deleting(owner) && fs.iter().any(|f| f == "orphan") {
                        orphaning.push(uid);
                    } else if is_deleting(owner) && fs.iter().any(|f| f == "foregroundDeletion") {
                        foreground += 1;
                    }
                }
            }
        }
        if !orphaning.is_empty() {
            let _ = store.mutate(t, &ns, &name, &ctx, |obj| {
                if let Some(list) = obj
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    list.retain(|r| !orphaning.iter().any(|u| r["uid"] == u.as_str()));
                }
                if obj
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty)
                    && let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut)
                {
                    m.remove("ownerReferences");
                }
            });
            continue;
        }
        if is_deleting(o) {
            continue;
        }
        if absent.len() == refs.len() {
            let _ = store.delete(t, &ns, &name, &DeleteOpts::default());
        } else if foreground > 0 && foreground + absent.len() == refs.len() {
            let _ = store.delete(
                t,
                &ns,
                &name,
                &DeleteOpts {
                    propagation: Some("Foreground".into()),
                    ..Default::default()
                },
            );
        } else if !absent.is_empty() {
            let _ = store.mutate(t, &ns, &name, &ctx, |obj| {
                if let Some(list) = obj
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    list.retain(|r| !absent.iter().any(|u| r["uid"] == u.as_str()));
                }
            });
        }
    }
    // Owners whose dependents are gone (foreground) or released (orphan) lose the finalizer.
    for (t, o) in &all {
        if !is_deleting(o) {
            continue;
        }
        let uid = meta_str(o, "uid").unwrap_or_default();
        if referenced.contains(uid) {
            continue;
        }
        let fs = finalizers(o);
        if !fs
            .iter()
            .any(|f| f == "orphan" || f == "foregroundDeletion")
        {
            continue;
        }
        let ns = meta_str(o, "namespace").unwrap_or_default().to_string();
        let name = meta_str(o, "name").unwrap_or_default().to_string();
        let _ = store.mutate(t, &ns, &name, &ctx, |obj| {
            without_finalizer(obj, "orphan");
            without_finalizer(obj, "foregroundDeletion");
        });
    }
}

fn condition(ty: &str, status: &str, reason: Option<&str>, message: Option<&str>) -> Value {
    let mut c = json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": time::now_rfc3339()});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// Sets (or replaces) a condition, keeping lastTransitionTime when the status is unchanged.
pub(crate) fn set_condition(status: &mut Value, new: Value) {
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|c| c["type"] == new["type"]) {
        Some(c) => {
            let keep_time = c["status"] == new["status"];
            let t = c["lastTransitionTime"].clone();
            *c = new;
            if keep_time {
                c["lastTransitionTime"] = t;
            }
            if c["reason"] == Value::Null
                && let Some(m) = c.as_object_mut()
            {
                m.remove("reason");
            }
        }
        None => list.push(new),
    }
}

/// The scheduler: one node (the double's kubelet) or none.
fn schedule(store: &Store, cfg: &Config) {
    let Some(pods) = rt(store, "", "v1", "pods") else {
        return;
    };
    for pod in store.all(&pods, None) {
        if is_deleting(&pod)
            || pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
        {
            continue;
        }
        let ns = meta_str(&pod, "namespace").unwrap_or_default().to_string();
        let name = meta_str(&pod, "name").unwrap_or_default().to_string();
        if !cfg.node {
            let already = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
                });
            if already {
                continue;
            }
            let msg = "no nodes available to schedule pods";
            let _ = store.mutate(
                &pods,
                &ns,
                &name,
                &WriteCtx::status("kube-scheduler"),
                |o| {
                    set_condition(
                        &mut o["status"],
                        condition("PodScheduled", "False", Some("Unschedulable"), Some(msg)),
                    );
                },
            );
            events::record(
                store,
                &pod,
                None,
                "Warning",
                "FailedScheduling",
                msg,
                events::SCHEDULER,
            );
            continue;
        }
        // The binding subresource sets spec.nodeName; the scheduler then reports PodScheduled.
        let bound = store.mutate(
            &pods,
            &ns,
            &name,
            &WriteCtx::manager("kube-scheduler"),
            |o| {
                o["spec"]["nodeName"] = json!(NODE);
            },
        );
        if let Ok(bound) = bound {
            let _ = store.mutate(
                &pods,
                &ns,
                &name,
                &WriteCtx::status("kube-scheduler"),
                |o| {
                    set_condition(
                        &mut o["status"],
                        condition("PodScheduled", "True", None, None),
                    );
                },
            );
            events::record(
                store,
                &bound,
                None,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {ns}/{name} to {NODE}"),
                events::SCHEDULER,
            );
        }
    }
}

/// The Node object the double's kubelet registers.
pub(crate) fn register_node(store: &Store) {
    let Some(nodes) = rt(store, "", "v1", "nodes") else {
        return;
    };
    let now = time::now_rfc3339();
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE, "labels": {
            "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/control-plane": ""}},
        "spec": {},
    });
    let ctx = WriteCtx::manager("kubelet");
    if store.create(&nodes, "v1", "", node, &ctx).is_ok() {
        let _ = store.mutate(&nodes, "", NODE, &WriteCtx::status("kubelet"), |o| {
            o["status"] = json!({
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                    {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
                    {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
                    {"type": "Ready", "status": "True", "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": "KubeletReady", "message": "kubelet is posting ready status"},
                ],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE}],
                "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
                "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"kubeletVersion": "v1.33.0", "kubeProxyVersion": "v1.33.0", "containerRuntimeVersion": "docker://lilt-test",
                    "operatingSystem": "linux", "architecture": "amd64", "osImage": "lilt kubedouble", "kernelVersion": "",
                    "machineID": "", "systemUUID": "", "bootID": ""},
            });
        });
    }
}

/// The namespaces a fresh cluster has, as `kube-apiserver`'s system namespaces controller makes them.
pub(crate) fn bootstrap(store: &Store) {
    let Some(ns_rt) = rt(store, "", "v1", "namespaces") else {
        return;
    };
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let _ = store.create(
            &ns_rt,
            "v1",
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}),
            &WriteCtx::manager("kube-apiserver"),
        );
    }
    if let Some(svc) = rt(store, "", "v1", "services") {
        let _ = store.create(
            &svc,
            "v1",
            "default",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 6443}], "clusterIP": "10.96.0.1"}}),
            &WriteCtx::manager("kube-apiserver"),
        );
    }
}
