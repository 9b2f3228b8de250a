//! Watching the pods of a resource: a kube-rs watcher on a label selector, summarised the
//! way Tilt shows pods (phase, readiness, restarts, why a container waits).

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::runtime::watcher;

use crate::Cluster;

/// One pod as lilt shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`.
    pub phase: String,
    /// The pod's `Ready` condition.
    pub ready: bool,
    /// Restarts of all its containers.
    pub restarts: i32,
    /// Why a container is not running (`ContainerCreating`, `ImagePullBackOff`,
    /// `CrashLoopBackOff`, ...), with the last exit code when it crashed.
    pub waiting: Option<String>,
    /// Why the pod is in an error state, as Tilt judges it (`K8sRuntimeState.RuntimeStatus`):
    /// the pod failed, or, before it runs, a container cannot be pulled or started or
    /// exited non-zero. A crash-looping container of a running pod is not an error here
    /// (the pod is running, just not ready): like Tilt, `lilt ci` gives it the readiness
    /// timeout.
    pub error: Option<String>,
    /// Its containers, init containers first, by name.
    pub containers: Vec<String>,
    /// Its (app) containers that are running now, with the image their spec names (the ref
    /// lilt injected), for live updates.
    pub running: Vec<RunningContainer>,
    /// When the pod was created.
    pub created: Option<std::time::SystemTime>,
}

/// A running container of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningContainer {
    pub name: String,
    /// The image the pod's spec names for it.
    pub image: String,
    /// How often it restarted: a live update re-applies its files after a restart.
    pub restarts: i32,
}

impl PodState {
    /// Summarises a pod.
    pub fn of(pod: &Pod) -> PodState {
        let status = pod.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let containers = status
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        let restarts = containers.iter().map(|c| c.restart_count).sum();
        let waiting = containers.iter().find_map(|c| {
            let reason = c.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
            let exit = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| format!(" (last exit code {})", t.exit_code))
                .unwrap_or_default();
            Some(format!("{reason}{exit}"))
        });
        // A pod no node takes has no container statuses: the scheduler's reason
        // (`Unschedulable`) is why it waits.
        let waiting = waiting.or_else(|| {
            status
                .and_then(|s| s.conditions.as_ref())?
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")?
                .reason
                .clone()
        });
        let name = pod.metadata.name.clone().unwrap_or_default();
        let phase = status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".to_owned());
        let error = pod_error(pod, &name, &phase);
        let spec = pod.spec.as_ref();
        let running = spec
            .map(|s| &s.containers)
            .into_iter()
            .flatten()
            .filter(|c| {
                containers.iter().any(|st| {
                    st.name == c.name && st.state.as_ref().is_some_and(|s| s.running.is_some())
                })
            })
            .map(|c| RunningContainer {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                restarts: containers
                    .iter()
                    .find(|st| st.name == c.name)
                    .map_or(0, |st| st.restart_count),
            })
            .collect();
        let containers = spec
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .chain(spec.map(|s| &s.containers).into_iter().flatten())
            .map(|c| c.name.clone())
            .collect();
        let created = pod.metadata.creation_timestamp.as_ref().and_then(|t| {
            let secs = u64::try_from(t.0.as_second()).ok()?;
            Some(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        });
        PodState {
            name,
            containers,
            running,
            created,
            phase,
            ready,
            restarts,
            waiting,
            error,
        }
    }
}

/// Waiting reasons that mean a container will not run without a change (Tilt's
/// `k8sconv.ErrorWaitingReasons`, the dashboard's pod errors).
const ERROR_WAITING_REASONS: [&str; 6] = [
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "RunContainerError",
    "StartError",
    "Error",
];

/// Tilt's verdict on one pod: `Failed` is an error; `Running` and `Succeeded` are not;
/// otherwise a container (init containers too) waiting for one of
/// [`ERROR_WAITING_REASONS`] or terminated with a non-zero code is.
fn pod_error(pod: &Pod, name: &str, phase: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    match phase {
        "Running" | "Succeeded" => return None,
        "Failed" => {
            let why = [&status.reason, &status.message]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(": ");
            return Some(if why.is_empty() {
                format!("Pod {name} failed")
            } else {
                format!("Pod {name} failed: {why}")
            });
        }
        _ => {}
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for c in containers {
        let Some(state) = &c.state else { continue };
        let reason = if let Some(t) = &state.terminated {
            (t.exit_code != 0).then(|| {
                t.reason
                    .clone()
                    .unwrap_or_else(|| format!("exit code {}", t.exit_code))
            })
        } else {
            state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .filter(|r| ERROR_WAITING_REASONS.contains(&r.as_str()))
        };
        if let Some(reason) = reason {
            return Some(format!(
                "Pod {name} in error state due to container {}: {reason}",
                c.name
            ));
        }
    }
    None
}

impl Cluster {
    /// Follows the log of `container` in `pod`, calling `on_line` per line, until the task
    /// is aborted or the pod is gone. After a dropped stream or a container restart it
    /// resumes from the last line it saw (by the kubelet's timestamps), so lines are
    /// neither repeated nor lost.
    pub fn follow_logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        mut on_line: impl FnMut(String) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let (pod, container) = (pod.to_owned(), container.to_owned());
        tokio::spawn(async move {
            use futures::AsyncBufReadExt;
            // The timestamp of the last line passed on: later streams skip up to it. Compared
            // as times, not text: the kubelet writes RFC 3339 with trailing zeros of the
            // fraction dropped (`.1Z` is before `.12Z`, though it sorts after it as text).
            let mut last: Option<Timestamp> = None;
            loop {
                let params = kube::api::LogParams {
                    follow: true,
                    container: Some(container.clone()),
                    timestamps: true,
                    // The API takes whole seconds (kube-rs rounds to the nearest, which can
                    // skip up to half a second of lines): ask from the second the last line
                    // was in, and skip what was already passed on below.
                    since_time: last.and_then(|t| Timestamp::from_second(t.as_second()).ok()),
                    ..kube::api::LogParams::default()
                };
                match api.log_stream(&pod, &params).await {
                    Ok(stream) => {
                        let mut lines = stream.lines();
                        while let Some(Ok(line)) = lines.next().await {
                            // A line without a timestamp (the kubelet's own errors, such as
                            // "unable to retrieve container logs") is passed on whole.
                            let (ts, text) = match line.split_once(' ') {
                                Some((ts, text)) => match ts.parse::<Timestamp>() {
                                    Ok(ts) => (Some(ts), text),
                                    Err(_) => (None, line.as_str()),
                                },
                                None => (None, line.as_str()),
                            };
                            if let (Some(last), Some(ts)) = (last, ts)
                                && ts <= last
                            {
                                continue;
                            }
                            last = ts.or(last);
                            on_line(text.to_owned());
                        }
                    }
                    Err(kube::Error::Api(status)) if status.code == 404 => return,
                    // Not started yet (ContainerCreating) or a transient error: retry.
                    Err(e) => tracing::debug!(pod = %pod, error = %e, "pod log"),
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    }

    /// Calls `on_change` with every pod of `namespace` matching any of `selectors` (label
    /// selectors, `a=b,c=d`: each an AND of labels, the list an OR, as
    /// `extra_pod_selectors`) each time one changes, until the returned task is aborted.
    /// The watchers resume by themselves after a dropped connection.
    pub fn watch_pods(
        &self,
        namespace: &str,
        selectors: &[String],
        mut on_change: impl FnMut(Vec<PodState>) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        // One watcher per selector (the API has no OR of label selectors), merged into one
        // stream tagged with the selector's index.
        let streams = selectors.iter().enumerate().map(|(i, selector)| {
            let config = watcher::Config::default().labels(selector);
            watcher(api.clone(), config)
                .map(move |event| (i, event))
                .boxed()
        });
        let mut events = futures::stream::select_all(streams);
        let count = selectors.len();
        tokio::spawn(async move {
            // The pods each selector's watcher knows, and its list in progress.
            let mut pods: Vec<BTreeMap<String, PodState>> = vec![BTreeMap::new(); count];
            let mut init: Vec<Option<BTreeMap<String, PodState>>> = vec![None; count];
            while let Some((i, event)) = events.next().await {
                let changed = match event {
                    Ok(watcher::Event::Init) => {
                        init[i] = Some(BTreeMap::new());
                        false
                    }
                    Ok(watcher::Event::InitApply(pod)) => {
                        let state = PodState::of(&pod);
                        if let Some(init) = init[i].as_mut() {
                            init.insert(state.name.clone(), state);
                        }
                        false
                    }
                    Ok(watcher::Event::InitDone) => {
                        pods[i] = init[i].take().unwrap_or_default();
                        true
                    }
                    Ok(watcher::Event::Apply(pod)) => {
                        let state = PodState::of(&pod);
                        pods[i].insert(state.name.clone(), state.clone()) != Some(state)
                    }
                    Ok(watcher::Event::Delete(pod)) => pods[i]
                        .remove(pod.metadata.name.as_deref().unwrap_or_default())
                        .is_some(),
                    // The watcher retries by itself; back off a little so an unreachable
                    // server does not spin.
                    Err(e) => {
                        tracing::debug!(error = %e, "pod watch");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        false
                    }
                };
                if changed {
                    // A pod several selectors match is shown once.
                    let union: BTreeMap<&String, &PodState> =
                        pods.iter().flat_map(|m| m.iter()).collect();
                    on_change(union.into_values().cloned().collect());
                }
            }
        })
    }
}

/// A Warning event about a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodWarning {
    pub pod: String,
    /// `BackOff`, `Failed`, `FailedScheduling`, ...
    pub reason: String,
    pub message: String,
}

impl Cluster {
    /// Calls `on_warning` for each Warning event in `namespace` about a pod that `wanted`
    /// accepts (new events, and again when an event's count grows), until the task is
    /// aborted.
    pub fn watch_pod_warnings(
        &self,
        namespace: &str,
        wanted: impl Fn(&str) -> bool + Send + 'static,
        mut on_warning: impl FnMut(PodWarning) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        use k8s_openapi::api::core::v1::Event;
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let config = watcher::Config::default().fields("type=Warning,involvedObject.kind=Pod");
        tokio::spawn(async move {
            // The count each event was last reported at: a watch restart replays them all.
            let mut seen: BTreeMap<String, i32> = BTreeMap::new();
            let mut events = std::pin::pin!(watcher(api, config));
            while let Some(event) = events.next().await {
                let ev = match event {
                    Ok(watcher::Event::Apply(ev) | watcher::Event::InitApply(ev)) => ev,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "event watch");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                };
                // The server may ignore the field selector: check again.
                if ev.type_.as_deref() != Some("Warning")
                    || ev.involved_object.kind.as_deref() != Some("Pod")
                {
                    continue;
                }
                let pod = ev.involved_object.name.clone().unwrap_or_default();
                if !wanted(&pod) {
                    continue;
                }
                let key = ev.metadata.uid.clone().unwrap_or_default();
                let count = ev.count.unwrap_or(1);
                if seen.get(&key).is_some_and(|c| *c >= count) {
                    continue;
                }
                seen.insert(key, count);
                on_warning(PodWarning {
                    pod,
                    reason: ev.reason.clone().unwrap_or_default(),
                    message: ev.message.clone().unwrap_or_default(),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> PodState {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api-1"},
            "spec": {"containers": [{"name": "api", "image": "api:1"}]},
            "status": status,
        }))
        .expect("a pod");
        PodState::of(&pod)
    }

    fn waiting(phase: &str, reason: &str) -> serde_json::Value {
        serde_json::json!({
            "phase": phase,
            "containerStatuses": [{
                "name": "api", "image": "api:1", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": reason}},
            }],
        })
    }

    #[test]
    fn a_pod_that_cannot_pull_or_start_is_in_error() {
        for reason in ERROR_WAITING_REASONS {
            assert_eq!(
                pod(waiting("Pending", reason)).error.as_deref(),
                Some(format!("Pod api-1 in error state due to container api: {reason}").as_str())
            );
        }
        assert_eq!(pod(waiting("Pending", "ContainerCreating")).error, None);
    }

    /// Tilt judges a running pod by readiness alone: a crash-looping container of a pod
    /// that runs is "not ready", not an error.
    #[test]
    fn a_running_pod_is_never_in_error() {
        assert_eq!(pod(waiting("Running", "CrashLoopBackOff")).error, None);
        assert_eq!(
            pod(waiting("Running", "CrashLoopBackOff"))
                .waiting
                .as_deref(),
            Some("CrashLoopBackOff")
        );
    }

    #[test]
    fn an_unschedulable_pod_waits_for_the_schedulers_reason() {
        let state = pod(serde_json::json!({
            "phase": "Pending",
            "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient memory.",
            }],
        }));
        assert_eq!(state.waiting.as_deref(), Some("Unschedulable"));
        assert_eq!(state.error, None, "it may still be scheduled");
    }

    #[test]
    fn a_failed_pod_is_in_error_with_the_servers_reason() {
        assert_eq!(
            pod(serde_json::json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}))
                .error
                .as_deref(),
            Some("Pod api-1 failed: Evicted: low on memory")
        );
        assert_eq!(
            pod(serde_json::json!({"phase": "Failed"})).error.as_deref(),
            Some("Pod api-1 failed")
        );
    }

    #[test]
    fn an_init_container_that_exited_non_zero_is_an_error() {
        let status = serde_json::json!({
            "phase": "Pending",
            "initContainerStatuses": [{
                "name": "migrate", "image": "api:1", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 2, "reason": "Error"}},
            }],
        });
        assert_eq!(
            pod(status).error.as_deref(),
            Some("Pod api-1 in error state due to container migrate: Error")
        );
    }
}
