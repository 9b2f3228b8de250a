//! Watching the pods of a resource: a kube-rs watcher on a label selector, summarised the
//! way Tilt shows pods (phase, readiness, restarts, why a container waits).

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
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
        PodState {
            name: pod.metadata.name.clone().unwrap_or_default(),
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".to_owned()),
            ready,
            restarts,
            waiting,
        }
    }
}

impl Cluster {
    /// Calls `on_change` with every pod of `namespace` matching `selector` (a label
    /// selector, `a=b,c=d`) each time one changes, until the returned task is aborted. The
    /// watcher resumes by itself after a dropped connection.
    pub fn watch_pods(
        &self,
        namespace: &str,
        selector: &str,
        mut on_change: impl FnMut(Vec<PodState>) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let config = watcher::Config::default().labels(selector);
        tokio::spawn(async move {
            let mut pods: BTreeMap<String, PodState> = BTreeMap::new();
            let mut init: Option<BTreeMap<String, PodState>> = None;
            let mut events = std::pin::pin!(watcher(api, config));
            while let Some(event) = events.next().await {
                let changed = match event {
                    Ok(watcher::Event::Init) => {
                        init = Some(BTreeMap::new());
                        false
                    }
                    Ok(watcher::Event::InitApply(pod)) => {
                        let state = PodState::of(&pod);
                        if let Some(init) = init.as_mut() {
                            init.insert(state.name.clone(), state);
                        }
                        false
                    }
                    Ok(watcher::Event::InitDone) => {
                        pods = init.take().unwrap_or_default();
                        true
                    }
                    Ok(watcher::Event::Apply(pod)) => {
                        let state = PodState::of(&pod);
                        pods.insert(state.name.clone(), state.clone()) != Some(state)
                    }
                    Ok(watcher::Event::Delete(pod)) => pods
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
                    on_change(pods.values().cloned().collect());
                }
            }
        })
    }
}
