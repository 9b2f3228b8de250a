//! The double's kubelet: runs every Pod bound to its node as real containers on a Docker
//! daemon (host networking), and reports them the way the kubelet does (`pkg/kubelet`):
//! - image pulls by `imagePullPolicy` (Always / IfNotPresent / Never), with `Pulling`/`Pulled`
//!   events, `ErrImagePull` then `ImagePullBackOff` and back-off retries;
//! - init containers one after another before the app containers;
//! - container states waiting (`ContainerCreating`, `PodInitializing`, `CrashLoopBackOff`, ...),
//!   running and terminated (`Completed`/`Error`/`OOMKilled`, exit code, times), `lastState`,
//!   `restartCount`, restarts per `restartPolicy` with the crash-loop back-off (first restart
//!   at once, then initial delay doubling to the cap);
//! - pod phase, conditions (`PodReadyToStartContainers`, `Initialized`, `ContainersReady`,
//!   `Ready`, keeping the scheduler's `PodScheduled`), readiness probes (exec, tcpSocket,
//!   httpGet) or ready-when-running;
//! - graceful deletion: `Killing` events, `docker stop` with the pod's grace period, then the
//!   pod object is removed (delete with grace 0), and its containers with it;
//! - the service account mount (token, ca.crt, namespace) and `KUBERNETES_SERVICE_*` pointing
//!   at the double, so in-cluster clients work; emptyDir, configMap and secret volumes; env
//!   with `$(VAR)` expansion, `valueFrom` (fieldRef, configMapKeyRef, secretKeyRef), `envFrom`.
//!
//! Docker containers are named as dockershim named them (`k8s_<container>_<pod>_<ns>_<uid>_<attempt>`)
//! and labelled with the double's instance and process id, so every one of them is removed
//! when the double stops, and leftovers of a crashed test process are removed at the next start.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, InspectContainerOptions,
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::controllers::set_condition;
use crate::events::{self, KUBELET, NODE};
use crate::resources::ResourceType;
use crate::status::ApiError;
use crate::store::{DeleteOpts, Store, WriteCtx, meta_str};
use crate::time;
use crate::{Backoff, ContainerInfo, Error};

const LABEL_INSTANCE: &str = "io.lilt.kubedouble.instance";
const LABEL_PID: &str = "io.lilt.kubedouble.pid";

/// How pods reach the double's API (for the service account mount).
#[derive(Clone)]
pub(crate) struct ApiAccess {
    pub port: u16,
    pub token: String,
    pub ca_pem: String,
}

/// One container's runtime record.
#[derive(Debug, Clone)]
struct CState {
    name: String,
    init: bool,
    image: String,
    image_id: String,
    restarts: u32,
    /// Docker id of the newest container made for it.
    current: Option<String>,
    /// Docker id of the one before (for `previous=true` logs).
    previous: Option<String>,
    /// `state` as ContainerStatus reports it.
    state: Value,
    last_state: Value,
    ready: bool,
    started: bool,
    running: bool,
    /// Finished for good (no restart will follow).
    done: bool,
    exit_code: Option<i64>,
}

/// The kubelet's view of one pod.
pub(crate) struct PodRt {
    uid: String,
    ns: String,
    name: String,
    state: Mutex<Vec<CState>>,
    init_done: AtomicBool,
    started_at: String,
}

struct Handle {
    tx: watch::Sender<Option<Value>>,
    rt: Arc<PodRt>,
}

pub(crate) struct Kubelet {
    store: Arc<Store>,
    docker: Docker,
    docker_host: String,
    backoff: Backoff,
    instance: String,
    dir: PathBuf,
    api: ApiAccess,
    pods: Mutex<HashMap<String, Handle>>,
    /// Every container made, with its pod's uid.
    made: Mutex<Vec<(String, ContainerInfo)>>,
    closed: AtomicBool,
}

fn docker_err(e: impl std::fmt::Display) -> Error {
    Error::Docker(e.to_string())
}

/// Connects to `unix://…`, `tcp://…` or `http://…`.
fn connect(host: &str) -> Result<Docker, Error> {
    // Streams (logs -f, wait) outlive any request timeout; bollard applies it per request.
    let timeout = 3600;
    if let Some(path) = host.strip_prefix("unix://") {
        return Docker::connect_with_unix(path, timeout, bollard::API_DEFAULT_VERSION)
            .map_err(docker_err);
    }
    let addr = host.replacen("tcp://", "http://", 1);
    Docker::connect_with_http(&addr, timeout, bollard::API_DEFAULT_VERSION).map_err(docker_err)
}

fn pod_rt(store: &Store) -> Option<Arc<ResourceType>> {
    store.resource("", "v1", "pods")
}

/// `metav1.Time` from Docker's RFC 3339 with nanoseconds.
fn k8s_time(docker: &str) -> Value {
    match time::parse_rfc3339(docker) {
        Some(n) if n > 0 => json!(time::format_nanos(n, time::Precision::Seconds)),
        _ => json!(time::now_rfc3339()),
    }
}

fn waiting(reason: &str, message: Option<&str>) -> Value {
    let mut w = json!({"reason": reason});
    if let Some(m) = message {
        w["message"] = json!(m);
    }
    json!({"waiting": w})
}

impl Kubelet {
    pub fn new(
        store: Arc<Store>,
        host: &str,
        backoff: Backoff,
        api: ApiAccess,
    ) -> Result<Arc<Self>, Error> {
        let docker = connect(host)?;
        let instance = format!("{}-{:x}", std::process::id(), time::now_nanos());
        let dir = std::env::temp_dir().join(format!("lilt-kubelet-{instance}"));
        std::fs::create_dir_all(&dir)?;
        let k = Arc::new(Kubelet {
            store,
            docker,
            docker_host: host.to_string(),
            backoff,
            instance,
            dir,
            api,
            pods: Mutex::new(HashMap::new()),
            made: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        k.remove_leftovers_blocking();
        Ok(k)
    }

    /// `docker -H <host>` with the caller's Docker variables cleared.
    fn docker_cli(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new("docker");
        for v in [
            "DOCKER_HOST",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_CONTEXT",
        ] {
            cmd.env_remove(v);
        }
        cmd.arg("-H").arg(&self.docker_host);
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    }

    /// Removes containers of doubles whose test process is gone (a crash or a kill -9).
    fn remove_leftovers_blocking(&self) {
        let out = std::process::Command::new("docker")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .args(["-H", &self.docker_host, "ps", "-a", "--filter"])
            .arg(format!("label={LABEL_PID}"))
            .args([
                "--format",
                &format!("{{{{.ID}}}} {{{{.Label \"{LABEL_PID}\"}}}}"),
            ])
            .output();
        let Ok(out) = out else { return };
        let dead: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (id, pid) = l.split_once(' ')?;
                let alive = std::path::Path::new(&format!("/proc/{}", pid.trim())).exists();
                (!alive).then(|| id.to_string())
            })
            .collect();
        if !dead.is_empty() {
            let _ = self.docker_cli().args(["rm", "-f"]).args(&dead).status();
        }
    }

    /// The manager loop: starts a worker per pod bound to the node, feeds it its pod.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(pods) = pod_rt(&self.store) else {
            return;
        };
        let mut rx = self.store.subscribe_rv();
        loop {
            rx.mark_unchanged();
            let current: Vec<Value> = self
                .store
                .all(&pods, None)
                .into_iter()
                .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(NODE))
                .map(|p| (*p).clone())
                .collect();
            let mut seen = Vec::new();
            for p in current {
                let uid = meta_str(&p, "uid").unwrap_or_default().to_string();
                seen.push(uid.clone());
                let mut map = match self.pods.lock() {
                    Ok(m) => m,
                    Err(e) => e.into_inner(),
                };
                if let Some(h) = map.get(&uid) {
                    h.tx.send_if_modified(|old| {
                        let changed = old.as_ref().map(|o| meta_str(o, "resourceVersion"))
                            != Some(meta_str(&p, "resourceVersion"));
                        if changed {
                            *old = Some(p.clone());
                        }
                        changed
                    });
                    continue;
                }
                let (tx, wrx) = watch::channel(Some(p.clone()));
                let rt = Arc::new(PodRt {
                    uid: uid.clone(),
                    ns: meta_str(&p, "namespace").unwrap_or_default().to_string(),
                    name: meta_str(&p, "name").unwrap_or_default().to_string(),
                    state: Mutex::new(Vec::new()),
                    init_done: AtomicBool::new(false),
                    started_at: time::now_rfc3339(),
                });
                map.insert(uid.clone(), Handle { tx, rt: rt.clone() });
                drop(map);
                let k = self.clone();
                let sd = shutdown.clone();
                tokio::spawn(async move {
                    k.clone().pod_worker(rt, wrx, sd).await;
                    if let Ok(mut m) = k.pods.lock() {
                        m.remove(&uid);
                    }
                });
            }
            if let Ok(map) = self.pods.lock() {
                for (uid, h) in map.iter() {
                    if !seen.contains(uid) {
                        h.tx.send_replace(None);
                    }
                }
            }
            tokio::select! {
                _ = rx.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    fn lock_state<'a>(&self, rt: &'a PodRt) -> std::sync::MutexGuard<'a, Vec<CState>> {
        rt.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the pod's status from the runtime records (a no-op write is no write).
    fn write_status(&self, rt: &PodRt, pod: &Value) {
        let Some(pods) = pod_rt(&self.store) else {
            return;
        };
        let states = self.lock_state(rt).clone();
        let policy = pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always")
            .to_string();
        let status_of = |c: &CState| {
            let mut s = json!({
                "name": c.name,
                "image": c.image,
                "imageID": c.image_id,
                "ready": c.ready,
                "started": c.started,
                "restartCount": c.restarts,
                "state": c.state,
                "lastState": c.last_state,
            });
            if let Some(id) = &c.current {
                s["containerID"] = json!(format!("docker://{id}"));
            }
            s
        };
        let init: Vec<Value> = states.iter().filter(|c| c.init).map(status_of).collect();
        let main: Vec<&CState> = states.iter().filter(|c| !c.init).collect();
        let main_status: Vec<Value> = main.iter().map(|c| status_of(c)).collect();
        let init_done = rt.init_done.load(Ordering::SeqCst);
        let all_done = !main.is_empty() && main.iter().all(|c| c.done);
        let phase = if all_done {
            if main.iter().all(|c| c.exit_code == Some(0)) {
                "Succeeded"
            } else {
                "Failed"
            }
        } else if states
            .iter()
            .any(|c| c.init && c.done && c.exit_code != Some(0))
            && policy == "Never"
        {
            "Failed"
        } else if init_done && !main.is_empty() && main.iter().all(|c| c.started || c.restarts > 0)
        {
            "Running"
        } else {
            "Pending"
        };
        let unready: Vec<&str> = main
            .iter()
            .filter(|c| !c.ready)
            .map(|c| c.name.as_str())
            .collect();
        let incomplete: Vec<&str> = states
            .iter()
            .filter(|c| c.init && !(c.done && c.exit_code == Some(0)))
            .map(|c| c.name.as_str())
            .collect();
        let terminal = phase == "Succeeded" || phase == "Failed";
        let _ = self
            .store
            .mutate(&pods, &rt.ns, &rt.name, &WriteCtx::status("kubelet"), |o| {
                let st = &mut o["status"];
                if !st.is_object() {
                    *st = json!({});
                }
                st["phase"] = json!(phase);
                st["hostIP"] = json!("127.0.0.1");
                st["hostIPs"] = json!([{"ip": "127.0.0.1"}]);
                st["podIP"] = json!("127.0.0.1");
                st["podIPs"] = json!([{"ip": "127.0.0.1"}]);
                st["startTime"] = json!(rt.started_at);
                st["qosClass"] = json!("BestEffort");
                let cond = |ty: &str, ok: bool, reason: Option<&str>, msg: Option<String>| {
                    let mut c = json!({"type": ty, "status": if ok { "True" } else { "False" },
                    "lastProbeTime": null, "lastTransitionTime": time::now_rfc3339()});
                    if let Some(r) = reason {
                        c["reason"] = json!(r);
                    }
                    if let Some(m) = msg {
                        c["message"] = json!(m);
                    }
                    c
                };
                set_condition(st, cond("PodReadyToStartContainers", !terminal, None, None));
                if incomplete.is_empty() {
                    set_condition(st, cond("Initialized", true, None, None));
                } else {
                    set_condition(
                        st,
                        cond(
                            "Initialized",
                            false,
                            Some("ContainersNotInitialized"),
                            Some(format!(
                                "containers with incomplete status: [{}]",
                                incomplete.join(" ")
                            )),
                        ),
                    );
                }
                let (ok, reason, msg) = if terminal {
                    (false, Some("PodCompleted"), None)
                } else if unready.is_empty() && !main.is_empty() {
                    (true, None, None)
                } else {
                    (
                        false,
                        Some("ContainersNotReady"),
                        Some(format!(
                            "containers with unready status: [{}]",
                            unready.join(" ")
                        )),
                    )
                };
                set_condition(st, cond("ContainersReady", ok, reason, msg.clone()));
                set_condition(st, cond("Ready", ok, reason, msg));
                if !init.is_empty() {
                    st["initContainerStatuses"] = json!(init);
                }
                st["containerStatuses"] = json!(main_status);
            });
    }

    fn update(&self, rt: &PodRt, name: &str, init: bool, f: impl FnOnce(&mut CState)) {
        let mut g = self.lock_state(rt);
        if let Some(c) = g.iter_mut().find(|c| c.name == name && c.init == init) {
            f(c);
        }
    }

    fn event(&self, pod: &Value, c: Option<(&str, bool)>, ty: &str, reason: &str, msg: &str) {
        let fp = c.map(|(name, init)| {
            format!(
                "spec.{}{{{name}}}",
                if init { "initContainers" } else { "containers" }
            )
        });
        events::record(&self.store, pod, fp.as_deref(), ty, reason, msg, KUBELET);
    }

    /// One pod's life.
    async fn pod_worker(
        self: Arc<Self>,
        rt: Arc<PodRt>,
        mut rx: watch::Receiver<Option<Value>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Some(pod) = rx.borrow().clone() else {
            return;
        };
        let spec = pod.get("spec").cloned().unwrap_or(json!({}));
        let list = |k: &str| -> Vec<Value> {
            spec.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let (inits, mains) = (list("initContainers"), list("containers"));
        {
            let mut g = self.lock_state(&rt);
            for (c, init) in inits
                .iter()
                .map(|c| (c, true))
                .chain(mains.iter().map(|c| (c, false)))
            {
                g.push(CState {
                    name: c["name"].as_str().unwrap_or_default().to_string(),
                    init,
                    image: c["image"].as_str().unwrap_or_default().to_string(),
                    image_id: String::new(),
                    restarts: 0,
                    current: None,
                    previous: None,
                    state: if init || inits.is_empty() {
                        waiting(
                            if init {
                                "PodInitializing"
                            } else {
                                "ContainerCreating"
                            },
                            None,
                        )
                    } else {
                        waiting("PodInitializing", None)
                    },
                    last_state: json!({}),
                    ready: false,
                    started: false,
                    running: false,
                    done: false,
                    exit_code: None,
                });
            }
        }
        if inits.is_empty() {
            rt.init_done.store(true, Ordering::SeqCst);
        }
        let already_terminal = matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        let (stop_tx, stop_rx) = watch::channel::<Option<i64>>(None);
        if !already_terminal && pod.pointer("/metadata/deletionTimestamp").is_none() {
            self.write_status(&rt, &pod);
            let volumes = self.prepare_volumes(&rt, &pod);
            let k = self.clone();
            let rt2 = rt.clone();
            let pod2 = pod.clone();
            let stop2 = stop_rx.clone();
            tokio::spawn(async move {
                k.run_containers(rt2, pod2, inits, mains, volumes, stop2)
                    .await;
            });
        }
        // Wait for deletion (graceful: deletionTimestamp; forced: object gone) or shutdown.
        let grace = loop {
            let cur = rx.borrow().clone();
            match cur {
                None => break 0,
                Some(p) if p.pointer("/metadata/deletionTimestamp").is_some() => {
                    break p
                        .pointer("/metadata/deletionGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(30);
                }
                _ => {}
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { break 0 },
                _ = shutdown.changed() => return,
            }
        };
        let _ = stop_tx.send(Some(grace));
        // Kill what runs: SIGTERM, then SIGKILL after the grace period (`docker stop -t`).
        let running: Vec<(String, bool, String)> = self
            .lock_state(&rt)
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.init, c.current.clone()?)))
            .collect();
        let latest = rx.borrow().clone();
        for (name, init, id) in &running {
            let is_running = self
                .lock_state(&rt)
                .iter()
                .any(|c| c.name == *name && c.init == *init && c.running);
            if is_running {
                if let Some(p) = &latest {
                    self.event(
                        p,
                        Some((name, *init)),
                        "Normal",
                        "Killing",
                        &format!("Stopping container {name}"),
                    );
                }
                let _ = self
                    .docker
                    .stop_container(
                        id,
                        Some(
                            StopContainerOptionsBuilder::default()
                                .t(grace.clamp(0, 3600) as i32)
                                .build(),
                        ),
                    )
                    .await;
            }
        }
        // Give the container loops a moment to record the exits.
        for _ in 0..50 {
            if self.lock_state(&rt).iter().all(|c| !c.running) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(p) = &latest {
            self.write_status(&rt, p);
            if let Some(pods) = pod_rt(&self.store) {
                let _ = self.store.delete(
                    &pods,
                    &rt.ns,
                    &rt.name,
                    &DeleteOpts {
                        grace_seconds: Some(0),
                        precondition_uid: Some(rt.uid.clone()),
                        ..Default::default()
                    },
                );
            }
        }
        self.remove_pod_containers(&rt.uid).await;
        let _ = std::fs::remove_dir_all(self.dir.join("pods").join(&rt.uid));
    }

    /// Init containers in order, then the app containers, each in its own loop.
    async fn run_containers(
        self: Arc<Self>,
        rt: Arc<PodRt>,
        pod: Value,
        inits: Vec<Value>,
        mains: Vec<Value>,
        volumes: Vec<String>,
        stop: watch::Receiver<Option<i64>>,
    ) {
        let policy = pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always")
            .to_string();
        for c in &inits {
            let ok = self
                .clone()
                .container_loop(
                    rt.clone(),
                    pod.clone(),
                    c.clone(),
                    true,
                    &policy,
                    volumes.clone(),
                    stop.clone(),
                )
                .await;
            if !ok {
                return;
            }
        }
        rt.init_done.store(true, Ordering::SeqCst);
        {
            let mut g = self.lock_state(&rt);
            for c in g.iter_mut().filter(|c| !c.init) {
                c.state = waiting("ContainerCreating", None);
            }
        }
        self.write_status(&rt, &pod);
        let mut handles = Vec::new();
        for c in mains {
            let k = self.clone();
            let (rt, pod, policy, volumes, stop) = (
                rt.clone(),
                pod.clone(),
                policy.clone(),
                volumes.clone(),
                stop.clone(),
            );
            handles.push(tokio::spawn(async move {
                k.container_loop(rt, pod, c, false, &policy, volumes, stop)
                    .await;
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    }

    /// Sleeps unless the pod is being stopped; false when stopped.
    async fn pause(stop: &mut watch::Receiver<Option<i64>>, d: Duration) -> bool {
        if stop.borrow().is_some() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => stop.borrow().is_none(),
            _ = stop.changed() => false,
        }
    }

    /// Runs one container until it is done for good (returns true when it completed with 0,
    /// which is what an init container must do), restarting it per the restart policy.
    #[allow(clippy::too_many_arguments)]
    async fn container_loop(
        self: Arc<Self>,
        rt: Arc<PodRt>,
        pod: Value,
        spec: Value,
        init: bool,
        policy: &str,
        volumes: Vec<String>,
        mut stop: watch::Receiver<Option<i64>>,
    ) -> bool {
        let name = spec["name"].as_str().unwrap_or_default().to_string();
        let image = spec["image"].as_str().unwrap_or_default().to_string();
        let pull_policy = spec["imagePullPolicy"]
            .as_str()
            .unwrap_or("IfNotPresent")
            .to_string();
        let who = Some((name.as_str(), init));
        let mut pull_delay: Option<Duration> = None;
        let mut crash_delay: Option<Duration> = None;
        loop {
            if stop.borrow().is_some() || self.closed.load(Ordering::SeqCst) {
                return false;
            }
            // Image.
            match self.ensure_image(&pod, who, &image, &pull_policy).await {
                Ok(id) => {
                    pull_delay = None;
                    self.update(&rt, &name, init, |c| c.image_id = id);
                }
                Err(msg) => {
                    let never = pull_policy == "Never";
                    let reason = if never {
                        "ErrImageNeverPull"
                    } else {
                        "ErrImagePull"
                    };
                    self.update(&rt, &name, init, |c| c.state = waiting(reason, Some(&msg)));
                    self.write_status(&rt, &pod);
                    let d =
                        pull_delay.map_or(self.backoff.initial, |d| (d * 2).min(self.backoff.max));
                    pull_delay = Some(d);
                    if !Self::pause(&mut stop, Duration::from_millis(300).min(d)).await {
                        return false;
                    }
                    if !never {
                        self.update(&rt, &name, init, |c| {
                            c.state = waiting(
                                "ImagePullBackOff",
                                Some(&format!(
                                    "Back-off pulling image \"{image}\": {reason}: {msg}"
                                )),
                            )
                        });
                        self.write_status(&rt, &pod);
                        self.event(
                            &pod,
                            who,
                            "Normal",
                            "BackOff",
                            &format!("Back-off pulling image \"{image}\""),
                        );
                        self.event(&pod, who, "Warning", "Failed", "Error: ImagePullBackOff");
                    }
                    if !Self::pause(&mut stop, d).await {
                        return false;
                    }
                    continue;
                }
            }
            // Create and start.
            let attempt = self
                .lock_state(&rt)
                .iter()
                .find(|c| c.name == name && c.init == init)
                .map_or(0, |c| c.restarts);
            let id = match self.create(&rt, &pod, &spec, attempt, &volumes).await {
                Ok(id) => id,
                Err(msg) => {
                    self.update(&rt, &name, init, |c| {
                        c.state = waiting("CreateContainerError", Some(&msg))
                    });
                    self.write_status(&rt, &pod);
                    self.event(&pod, who, "Warning", "Failed", &format!("Error: {msg}"));
                    let d =
                        crash_delay.map_or(self.backoff.initial, |d| (d * 2).min(self.backoff.max));
                    crash_delay = Some(d);
                    if !Self::pause(&mut stop, d).await {
                        return false;
                    }
                    continue;
                }
            };
            self.update(&rt, &name, init, |c| {
                c.previous = c.current.replace(id.clone());
            });
            self.event(
                &pod,
                who,
                "Normal",
                "Created",
                &format!("Created container: {name}"),
            );
            let started = self
                .docker
                .start_container(
                    &id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await;
            let (exit, reason, started_at, finished_at) = match started {
                Err(e) => {
                    // The runtime could not start the process (bad command): StartError, 128.
                    let msg = e.to_string();
                    self.event(&pod, who, "Warning", "Failed", &format!("Error: {msg}"));
                    (
                        128,
                        "StartError".to_string(),
                        time::now_rfc3339(),
                        time::now_rfc3339(),
                    )
                }
                Ok(()) => {
                    let info = self
                        .docker
                        .inspect_container(&id, None::<InspectContainerOptions>)
                        .await
                        .ok();
                    let started_at = info
                        .as_ref()
                        .and_then(|i| i.state.as_ref()?.started_at.clone())
                        .map_or_else(|| json!(time::now_rfc3339()), |s| k8s_time(&s));
                    self.event(
                        &pod,
                        who,
                        "Normal",
                        "Started",
                        &format!("Started container {name}"),
                    );
                    let has_probe =
                        !init && spec.get("readinessProbe").is_some_and(Value::is_object);
                    self.update(&rt, &name, init, |c| {
                        c.state = json!({"running": {"startedAt": started_at}});
                        c.running = true;
                        c.started = true;
                        c.ready = !has_probe && !init;
                    });
                    self.write_status(&rt, &pod);
                    let probe = if has_probe {
                        let k = self.clone();
                        let (rt, pod, spec, id) =
                            (rt.clone(), pod.clone(), spec.clone(), id.clone());
                        Some(tokio::spawn(async move {
                            k.probe_loop(rt, pod, spec, id).await
                        }))
                    } else {
                        None
                    };
                    let mut wait = self.docker.wait_container(
                        &id,
                        Some(
                            WaitContainerOptionsBuilder::default()
                                .condition("not-running")
                                .build(),
                        ),
                    );
                    let _ = wait.next().await;
                    if let Some(p) = probe {
                        p.abort();
                    }
                    let info = self
                        .docker
                        .inspect_container(&id, None::<InspectContainerOptions>)
                        .await
                        .ok();
                    let st = info.and_then(|i| i.state);
                    let code = st.as_ref().and_then(|s| s.exit_code).unwrap_or(-1);
                    let oom = st.as_ref().and_then(|s| s.oom_killed).unwrap_or(false);
                    let finished = st
                        .as_ref()
                        .and_then(|s| s.finished_at.clone())
                        .map_or_else(|| json!(time::now_rfc3339()), |s| k8s_time(&s));
                    let reason = if oom {
                        "OOMKilled"
                    } else if code == 0 {
                        "Completed"
                    } else {
                        "Error"
                    };
                    (
                        code,
                        reason.to_string(),
                        started_at.as_str().unwrap_or_default().to_string(),
                        finished.as_str().unwrap_or_default().to_string(),
                    )
                }
            };
            let terminated = json!({"terminated": {
                "exitCode": exit, "reason": reason, "startedAt": started_at,
                "finishedAt": finished_at, "containerID": format!("docker://{id}")}});
            let stopping = stop.borrow().is_some() || self.closed.load(Ordering::SeqCst);
            let restart = !stopping
                && match policy {
                    "Always" => !init,
                    "OnFailure" => exit != 0,
                    _ => false,
                }
                || (!stopping && init && exit != 0 && policy != "Never");
            self.update(&rt, &name, init, |c| {
                c.running = false;
                c.ready = false;
                c.exit_code = Some(exit);
                c.state = terminated.clone();
                if !restart {
                    c.done = true;
                }
            });
            self.write_status(&rt, &pod);
            if !restart {
                return exit == 0;
            }
            // The crash-loop back-off: the first restart at once, then initial, doubling.
            let delay = crash_delay;
            crash_delay =
                Some(crash_delay.map_or(self.backoff.initial, |d| (d * 2).min(self.backoff.max)));
            self.update(&rt, &name, init, |c| {
                c.last_state = terminated.clone();
                c.restarts += 1;
            });
            if let Some(d) = delay {
                let msg = format!(
                    "back-off {}s restarting failed container={name} pod={}_{}({})",
                    d.as_secs(),
                    rt.name,
                    rt.ns,
                    rt.uid
                );
                self.update(&rt, &name, init, |c| {
                    c.state = waiting("CrashLoopBackOff", Some(&msg))
                });
                self.write_status(&rt, &pod);
                self.event(
                    &pod,
                    who,
                    "Warning",
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {name} in pod {}_{}({})",
                        rt.name, rt.ns, rt.uid
                    ),
                );
                if !Self::pause(&mut stop, d).await {
                    return false;
                }
            }
        }
    }

    /// Pulls per policy; Ok(imageID) or Err(message).
    async fn ensure_image(
        &self,
        pod: &Value,
        who: Option<(&str, bool)>,
        image: &str,
        policy: &str,
    ) -> Result<String, String> {
        let present = self.docker.inspect_image(image).await.ok();
        let id_of = |i: &bollard::models::ImageInspect| -> String {
            match i.repo_digests.as_ref().and_then(|d| d.first()) {
                Some(d) => format!("docker-pullable://{d}"),
                None => format!("docker://{}", i.id.clone().unwrap_or_default()),
            }
        };
        match (policy, &present) {
            ("Never", Some(i)) | ("IfNotPresent", Some(i)) => {
                self.event(
                    pod,
                    who,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                );
                return Ok(id_of(i));
            }
            ("Never", None) => {
                let msg =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                self.event(pod, who, "Warning", "ErrImageNeverPull", &msg);
                return Err(msg);
            }
            _ => {}
        }
        self.event(
            pod,
            who,
            "Normal",
            "Pulling",
            &format!("Pulling image \"{image}\""),
        );
        let started = std::time::Instant::now();
        let mut stream = self.docker.create_image(
            Some(
                CreateImageOptionsBuilder::default()
                    .from_image(image)
                    .build(),
            ),
            None,
            None,
        );
        let mut err = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        err = Some(e);
                    }
                }
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(e) = err {
            self.event(
                pod,
                who,
                "Warning",
                "Failed",
                &format!("Failed to pull image \"{image}\": {e}"),
            );
            self.event(pod, who, "Warning", "Failed", "Error: ErrImagePull");
            return Err(e);
        }
        let took = started.elapsed();
        let inspected = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| e.to_string())?;
        self.event(
            pod,
            who,
            "Normal",
            "Pulled",
            &format!(
                "Successfully pulled image \"{image}\" in {took:.3?} ({took:.3?} including waiting). Image size: {} bytes.",
                inspected.size.unwrap_or(0)
            ),
        );
        Ok(id_of(&inspected))
    }

    /// The env of a container: the service-link-free basics, env, envFrom, `$(VAR)` expansion.
    fn env(&self, pod: &Value, spec: &Value) -> Vec<String> {
        let ns = meta_str(pod, "namespace").unwrap_or_default();
        let mut vars: Vec<(String, String)> = vec![
            ("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()),
            ("KUBERNETES_SERVICE_PORT".into(), self.api.port.to_string()),
            (
                "KUBERNETES_SERVICE_PORT_HTTPS".into(),
                self.api.port.to_string(),
            ),
            (
                "KUBERNETES_PORT".into(),
                format!("tcp://127.0.0.1:{}", self.api.port),
            ),
            (
                "HOSTNAME".into(),
                meta_str(pod, "name").unwrap_or_default().into(),
            ),
        ];
        let lookup = |kind: &str, name: &str| -> Option<Value> {
            let plural = if kind == "secret" {
                "secrets"
            } else {
                "configmaps"
            };
            let rt = self.store.resource("", "v1", plural)?;
            self.store.get(&rt, ns, name).ok()
        };
        let data_of = |kind: &str, obj: &Value| -> Vec<(String, String)> {
            obj.get("data")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let s = v.as_str().unwrap_or_default();
                            let s = if kind == "secret" {
                                base64::engine::general_purpose::STANDARD
                                    .decode(s)
                                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                                    .unwrap_or_default()
                            } else {
                                s.to_string()
                            };
                            (k.clone(), s)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        for ef in spec
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let prefix = ef["prefix"].as_str().unwrap_or_default();
            for (kind, key) in [("configmap", "configMapRef"), ("secret", "secretRef")] {
                if let Some(name) = ef.pointer(&format!("/{key}/name")).and_then(Value::as_str)
                    && let Some(obj) = lookup(kind, name)
                {
                    for (k, v) in data_of(kind, &obj) {
                        vars.push((format!("{prefix}{k}"), v));
                    }
                }
            }
        }
        for e in spec
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = e["name"].as_str() else {
                continue;
            };
            let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
                expand(v, &vars)
            } else if let Some(path) = e
                .pointer("/valueFrom/fieldRef/fieldPath")
                .and_then(Value::as_str)
            {
                field_ref(pod, path)
            } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
                lookup("configmap", r["name"].as_str().unwrap_or_default())
                    .and_then(|o| {
                        data_of("configmap", &o)
                            .into_iter()
                            .find(|(k, _)| Some(k.as_str()) == r["key"].as_str())
                    })
                    .map(|(_, v)| v)
                    .unwrap_or_default()
            } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                lookup("secret", r["name"].as_str().unwrap_or_default())
                    .and_then(|o| {
                        data_of("secret", &o)
                            .into_iter()
                            .find(|(k, _)| Some(k.as_str()) == r["key"].as_str())
                    })
                    .map(|(_, v)| v)
                    .unwrap_or_default()
            } else {
                String::new()
            };
            vars.retain(|(k, _)| k != name);
            vars.push((name.to_string(), value));
        }
        vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Host directories for the pod's volumes and the service account, as `-v` binds per
    /// volume name (resolved per container through its volumeMounts).
    fn prepare_volumes(&self, rt: &PodRt, pod: &Value) -> Vec<String> {
        let base = self.dir.join("pods").join(&rt.uid);
        let mut named = Vec::new();
        for v in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = v["name"].as_str() else {
                continue;
            };
            let dir = base.join("volumes").join(name);
            let _ = std::fs::create_dir_all(&dir);
            let source = if let Some(cm) = v.pointer("/configMap/name").and_then(Value::as_str) {
                Some(("configmaps", cm, false))
            } else {
                v.pointer("/secret/secretName")
                    .and_then(Value::as_str)
                    .map(|s| ("secrets", s, true))
            };
            if let Some((plural, obj_name, secret)) = source
                && let Some(t) = self.store.resource("", "v1", plural)
                && let Ok(obj) = self.store.get(&t, &rt.ns, obj_name)
            {
                for (k, val) in obj
                    .get("data")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    let s = val.as_str().unwrap_or_default();
                    let bytes = if secret {
                        base64::engine::general_purpose::STANDARD
                            .decode(s)
                            .unwrap_or_default()
                    } else {
                        s.as_bytes().to_vec()
                    };
                    let _ = std::fs::write(dir.join(k), bytes);
                }
            }
            named.push(format!("{name}={}", dir.display()));
        }
        let automount = pod.pointer("/spec/automountServiceAccountToken") != Some(&json!(false));
        if automount {
            let sa = base.join("serviceaccount");
            let _ = std::fs::create_dir_all(&sa);
            let _ = std::fs::write(sa.join("token"), &self.api.token);
            let _ = std::fs::write(sa.join("ca.crt"), &self.api.ca_pem);
            let _ = std::fs::write(sa.join("namespace"), &rt.ns);
            named.push(format!("\u{0}sa={}", sa.display()));
        }
        named
    }

    async fn create(
        &self,
        rt: &PodRt,
        pod: &Value,
        spec: &Value,
        attempt: u32,
        volumes: &[String],
    ) -> Result<String, String> {
        if self.closed.load(Ordering::SeqCst) {
            return Err("the double is stopping".into());
        }
        let name = spec["name"].as_str().unwrap_or_default();
        let strs = |k: &str| -> Option<Vec<String>> {
            spec.get(k).and_then(Value::as_array).map(|a| {
                a.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect()
            })
        };
        let env = self.env(pod, spec);
        let env_pairs: Vec<(String, String)> = env
            .iter()
            .filter_map(|e| {
                e.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let command = strs("command").map(|c| c.iter().map(|s| expand(s, &env_pairs)).collect());
        let args: Option<Vec<String>> =
            strs("args").map(|c| c.iter().map(|s| expand(s, &env_pairs)).collect());
        let mut binds = Vec::new();
        for m in spec
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(vname), Some(path)) = (m["name"].as_str(), m["mountPath"].as_str()) else {
                continue;
            };
            if let Some(host) = volumes
                .iter()
                .find_map(|v| v.strip_prefix(&format!("{vname}=")))
            {
                let ro = if m["readOnly"] == true { ":ro" } else { "" };
                binds.push(format!("{host}:{path}{ro}"));
            }
        }
        if let Some(sa) = volumes.iter().find_map(|v| v.strip_prefix("\u{0}sa=")) {
            binds.push(format!(
                "{sa}:/var/run/secrets/kubernetes.io/serviceaccount:ro"
            ));
        }
        let mut labels = HashMap::new();
        labels.insert(LABEL_INSTANCE.to_string(), self.instance.clone());
        labels.insert(LABEL_PID.to_string(), std::process::id().to_string());
        labels.insert("io.kubernetes.pod.name".to_string(), rt.name.clone());
        labels.insert("io.kubernetes.pod.namespace".to_string(), rt.ns.clone());
        labels.insert("io.kubernetes.pod.uid".to_string(), rt.uid.clone());
        labels.insert("io.kubernetes.container.name".to_string(), name.to_string());
        let user = spec
            .pointer("/securityContext/runAsUser")
            .or_else(|| pod.pointer("/spec/securityContext/runAsUser"))
            .and_then(Value::as_i64)
            .map(|u| u.to_string());
        let body = ContainerCreateBody {
            image: spec["image"].as_str().map(str::to_string),
            entrypoint: command,
            cmd: args,
            env: Some(env),
            working_dir: spec["workingDir"].as_str().map(str::to_string),
            tty: spec["tty"].as_bool(),
            open_stdin: spec["stdin"].as_bool(),
            user,
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                binds: Some(binds),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cname = format!("k8s_{name}_{}_{}_{}_{attempt}", rt.name, rt.ns, rt.uid);
        let created = self
            .docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(&cname)
                        .build(),
                ),
                body,
            )
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut m) = self.made.lock() {
            m.push((
                rt.uid.clone(),
                ContainerInfo {
                    namespace: rt.ns.clone(),
                    pod: rt.name.clone(),
                    container: name.to_string(),
                    id: created.id.clone(),
                    attempt,
                },
            ));
        }
        if self.closed.load(Ordering::SeqCst) {
            let _ = self
                .docker
                .remove_container(
                    &created.id,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await;
            return Err("the double is stopping".into());
        }
        Ok(created.id)
    }

    /// A readiness probe (exec, tcpSocket, httpGet) every periodSeconds after initialDelaySeconds.
    async fn probe_loop(self: Arc<Self>, rt: Arc<PodRt>, pod: Value, spec: Value, id: String) {
        let p = &spec["readinessProbe"];
        let secs = |k: &str, d: u64| p.get(k).and_then(Value::as_u64).unwrap_or(d);
        let (initial, period) = (
            secs("initialDelaySeconds", 0),
            secs("periodSeconds", 10).max(1),
        );
        let (success_t, failure_t) = (
            secs("successThreshold", 1).max(1),
            secs("failureThreshold", 3).max(1),
        );
        let name = spec["name"].as_str().unwrap_or_default().to_string();
        tokio::time::sleep(Duration::from_secs(initial)).await;
        let (mut ok_n, mut fail_n) = (0u64, 0u64);
        loop {
            let ok = self.probe_once(p, &id).await;
            if ok {
                ok_n += 1;
                fail_n = 0;
            } else {
                fail_n += 1;
                ok_n = 0;
            }
            let ready = self
                .lock_state(&rt)
                .iter()
                .find(|c| c.name == name && !c.init)
                .is_some_and(|c| c.ready);
            let flip = if !ready && ok_n >= success_t {
                Some(true)
            } else if ready && fail_n >= failure_t {
                Some(false)
            } else {
                None
            };
            if let Some(r) = flip {
                self.update(&rt, &name, false, |c| c.ready = r);
                self.write_status(&rt, &pod);
            }
            if !ok && fail_n == 1 {
                self.event(
                    &pod,
                    Some((&name, false)),
                    "Warning",
                    "Unhealthy",
                    "Readiness probe failed",
                );
            }
            tokio::time::sleep(Duration::from_secs(period)).await;
        }
    }

    async fn probe_once(&self, p: &Value, id: &str) -> bool {
        if let Some(cmd) = p.pointer("/exec/command").and_then(Value::as_array) {
            let cmd: Vec<String> = cmd
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            return crate::podapi::exec_status(&self.docker, id, cmd).await == Some(0);
        }
        let port = |v: &Value| v.get("port").and_then(Value::as_u64).unwrap_or(0) as u16;
        if let Some(t) = p.get("tcpSocket") {
            return tokio::net::TcpStream::connect(("127.0.0.1", port(t)))
                .await
                .is_ok();
        }
        if let Some(h) = p.get("httpGet") {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let path = h["path"].as_str().unwrap_or("/");
            let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port(h))).await else {
                return false;
            };
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kube-probe/1.33\r\nConnection: close\r\n\r\n"
            );
            if s.write_all(req.as_bytes()).await.is_err() {
                return false;
            }
            let mut buf = [0u8; 32];
            let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n]);
            let code: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            return (200..400).contains(&code);
        }
        true
    }

    async fn remove_pod_containers(&self, uid: &str) {
        let ids: Vec<String> = self
            .made
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(u, _)| u == uid)
                    .map(|(_, c)| c.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in &ids {
            let _ = self
                .docker
                .remove_container(
                    id,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await;
        }
        if let Ok(mut m) = self.made.lock() {
            m.retain(|(_, c)| !ids.contains(&c.id));
        }
    }

    /// The docker id of a pod's container: `previous` or the newest (running or not).
    pub fn container_id(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<(String, bool), ApiError> {
        let map = self
            .pods
            .lock()
            .map_err(|_| ApiError::internal("kubelet state"))?;
        let h = map
            .values()
            .find(|h| h.rt.ns == ns && h.rt.name == pod)
            .ok_or_else(|| {
                ApiError::bad_request(format!("pod \"{pod}\" is not running on the node"))
            })?;
        let g = self.lock_state(&h.rt);
        let c = g.iter().find(|c| c.name == container).ok_or_else(|| {
            ApiError::bad_request(format!("container {container} is not valid for pod {pod}"))
        })?;
        if previous {
            return c.previous.clone().map(|id| (id, false)).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                ))
            });
        }
        match &c.current {
            Some(id) => Ok((id.clone(), c.running)),
            None => {
                let reason = c
                    .state
                    .pointer("/waiting/reason")
                    .and_then(Value::as_str)
                    .unwrap_or("ContainerCreating");
                Err(ApiError::bad_request(format!(
                    "container \"{container}\" in pod \"{pod}\" is waiting to start: {reason}"
                )))
            }
        }
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub async fn kill(&self, ns: &str, pod: &str, container: &str) -> Result<(), Error> {
        let (id, running) = self
            .container_id(ns, pod, container, false)
            .map_err(|e| Error::NotFound(e.message))?;
        if !running {
            return Err(Error::NotFound(format!(
                "container {container} of {ns}/{pod} is not running"
            )));
        }
        self.docker
            .kill_container(
                &id,
                Some(
                    KillContainerOptionsBuilder::default()
                        .signal("SIGKILL")
                        .build(),
                ),
            )
            .await
            .map_err(docker_err)
    }

    pub fn containers(&self) -> Vec<ContainerInfo> {
        self.made
            .lock()
            .map(|m| m.iter().map(|(_, c)| c.clone()).collect())
            .unwrap_or_default()
    }

    /// Removes every container this kubelet made (and anything else with its instance label).
    pub async fn remove_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_string(),
            vec![format!("{LABEL_INSTANCE}={}", self.instance)],
        );
        let listed = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .unwrap_or_default();
        let mut ids: Vec<String> = listed.into_iter().filter_map(|c| c.id).collect();
        ids.extend(self.containers().into_iter().map(|c| c.id));
        ids.sort();
        ids.dedup();
        for id in ids {
            let _ = self
                .docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await;
        }
        if let Ok(mut m) = self.made.lock() {
            m.clear();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// The same from a `Drop` (no async available): `docker rm -f` by label.
    pub fn remove_all_blocking(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let out = std::process::Command::new("docker")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .args(["-H", &self.docker_host, "ps", "-aq", "--filter"])
            .arg(format!("label={LABEL_INSTANCE}={}", self.instance))
            .output();
        let mut ids: Vec<String> = out
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        ids.extend(self.containers().into_iter().map(|c| c.id));
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            let _ = self.docker_cli().args(["rm", "-f"]).args(&ids).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `$(VAR)` expansion as the kubelet does it (`$$` escapes; unknown references stay).
fn expand(s: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The downward API's `fieldRef`.
fn field_ref(pod: &Value, path: &str) -> String {
    let s = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match path {
        "metadata.name" => s("/metadata/name"),
        "metadata.namespace" => s("/metadata/namespace"),
        "metadata.uid" => s("/metadata/uid"),
        "spec.nodeName" => NODE.to_string(),
        "spec.serviceAccountName" => s("/spec/serviceAccountName"),
        "status.podIP" | "status.hostIP" => "127.0.0.1".to_string(),
        p => {
            if let Some(key) = p
                .strip_prefix("metadata.labels['")
                .and_then(|k| k.strip_suffix("']"))
            {
                return pod
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
            }
            if let Some(key) = p
                .strip_prefix("metadata.annotations['")
                .and_then(|k| k.strip_suffix("']"))
            {
                return pod
                    .pointer("/metadata/annotations")
                    .and_then(|l| l.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
            }
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_expansion() {
        let vars = vec![("A".to_string(), "1".to_string())];
        assert_eq!(expand("x$(A)y", &vars), "x1y");
        assert_eq!(expand("$(B)", &vars), "$(B)");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("a$b", &vars), "a$b");
    }
}
