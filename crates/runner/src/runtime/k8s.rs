//! The Kubernetes runtime: an update injects the built images into the resource's objects
//! and server-side applies them (`lilt-k8s`); the runtime part watches the pods of its
//! workloads and reports their phases; `lilt down` deletes the objects.
//!
//! The cluster is the one the Tiltfile saw (`Plan::k8s_context`), reached through the
//! kubeconfig as kubectl would; lilt connects on the first deploy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use lilt_engine::{LogLevel, RuntimeReport};
use lilt_k8s::namespaces::NamespaceClaim;
use lilt_k8s::{Cluster, ConnectOptions, PodState};
use lilt_liveupdate::{ContainerRef, KubeContainers};
use lilt_manifest::{
    DeployedImage, ImageRef, K8sObject, POD_TEMPLATE_HASH_LABEL, RefSelector, inject,
    parse_yaml_stream, sort_for_apply, sort_for_delete,
};
use lilt_model::{BuiltImage, DeployTarget, K8sTarget, Manifest, Plan, PodReadinessMode};

use super::{DeleteJob, Runtime, StartJob, UpdateJob, UpdateOutcome};

/// A resource's last applied objects and the cluster they went to.
type Deployed = (Arc<Cluster>, Vec<K8sObject>);
/// Container runs, as (pod, container, restarts).
type SeenRuns = std::collections::HashSet<(String, String, i32)>;
/// A resource's pods as its watch last saw them, and their namespace.
type SeenPods = (String, Vec<PodState>);

/// One resource's port forwards, by local address.
type Forwards = HashMap<SocketAddr, tokio::task::JoinHandle<()>>;

/// A kube context and namespace.
type ContextKey = (String, String);

/// Deploys to the cluster of the Tiltfile's kube context.
#[derive(Default)]
pub struct K8sRuntime {
    connection: Arc<Connection>,
    /// What each resource's last successful update applied, and to which cluster: the pod
    /// watch selects on its workloads.
    deployed: Arc<Mutex<HashMap<String, Deployed>>>,
    /// The pod watch of each started resource.
    watches: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// The container runs each resource has brought up to date (see `CatchUpRuns`).
    caught_up: Mutex<HashMap<String, Arc<Mutex<SeenRuns>>>>,
    /// The pods each watch last saw (with their namespace): where live updates go.
    pods: Arc<Mutex<HashMap<String, SeenPods>>>,
    /// The log streams of each started resource (they end when the resource stops).
    logs: Mutex<HashMap<String, Arc<Mutex<LogFollowers>>>>,
    /// The port forwards of each resource, by local address. They outlive restarts (each
    /// connection finds the current pod), and end when the resource stops.
    forwards: Arc<Mutex<HashMap<String, Forwards>>>,
    /// The developer's own namespace (`K8sContext::developer_namespace`), made on the first
    /// deploy into it and marked active every `heartbeat_every()` while lilt runs.
    heartbeat: Heartbeat,
}

/// The namespace being kept active, and the task doing it.
type Heartbeat = Arc<tokio::sync::Mutex<Option<(String, tokio::task::JoinHandle<()>)>>>;

/// How often `lilt up` marks its own namespace active (`LILT_NAMESPACE_HEARTBEAT`, a Go
/// duration; 5m by default).
fn heartbeat_every() -> std::time::Duration {
    std::env::var("LILT_NAMESPACE_HEARTBEAT")
        .ok()
        .and_then(|v| lilt_model::parse_go_duration(&v).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(std::time::Duration::from_secs(300))
}

/// Who owns the namespaces lilt creates: the user name of the environment.
fn owner() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Makes sure the developer's namespace `name` exists, then keeps it marked active (a
/// reload that names another namespace moves the heartbeat there).
async fn ensure_own_namespace(
    cluster: &Arc<Cluster>,
    name: &str,
    heartbeat: &Heartbeat,
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<(), String> {
    let mut heartbeat = heartbeat.lock().await;
    if heartbeat.as_ref().is_some_and(|(n, _)| n == name) {
        return Ok(());
    }
    match cluster
        .ensure_namespace(name, &owner())
        .await
        .map_err(|e| e.to_string())?
    {
        NamespaceClaim::Created => log(format!("created namespace {name} (owner {})", owner())),
        NamespaceClaim::Existing => {}
        NamespaceClaim::OwnedBy(other) => log(format!(
            "namespace {name} belongs to {other}: deploying there, its owner stays {other}"
        )),
    }
    let cluster = cluster.clone();
    let every = heartbeat_every();
    let task = {
        let name = name.to_owned();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                if let Err(e) = cluster.touch_namespace(&name).await {
                    tracing::warn!(namespace = %name, error = %e, "namespace heartbeat");
                }
            }
        })
    };
    if let Some((_, previous)) = heartbeat.replace((name.to_owned(), task)) {
        previous.abort();
    }
    Ok(())
}

/// The cluster connection, made on first use and kept per (context, namespace): a reload
/// that switches either reconnects.
#[derive(Default)]
struct Connection {
    slot: tokio::sync::Mutex<Option<(ContextKey, Arc<Cluster>)>>,
}

impl Connection {
    async fn get(&self, plan: &Plan) -> Result<Arc<Cluster>, String> {
        let ctx = &plan.k8s_context;
        let key = (ctx.context.clone(), ctx.namespace.clone());
        let mut slot = self.slot.lock().await;
        if let Some((k, cluster)) = slot.as_ref()
            && *k == key
        {
            return Ok(cluster.clone());
        }
        let opts = ConnectOptions {
            kubeconfig: None,
            context: (!ctx.context.is_empty()).then(|| ctx.context.clone()),
            namespace: (!ctx.namespace.is_empty()).then(|| ctx.namespace.clone()),
        };
        let cluster = Arc::new(
            Cluster::connect(&opts)
                .await
                .map_err(|e| format!("cannot reach the cluster: {e}"))?,
        );
        *slot = Some((key, cluster.clone()));
        Ok(cluster)
    }
}

impl Runtime for K8sRuntime {
    fn update(&self, job: UpdateJob) -> BoxFuture<'static, UpdateOutcome> {
        let deployed = self.deployed.clone();
        let connection = self.connection.clone();
        let heartbeat = self.heartbeat.clone();
        async move {
            let DeployTarget::K8s(target) = &job.manifest.deploy else {
                return UpdateOutcome::failed("not a Kubernetes resource");
            };
            let ctx = &job.plan.k8s_context;
            if ctx.developer_namespace {
                let reporter = job.reporter.clone();
                let span_id = job.span_id;
                let log = move |line: String| reporter.build_log(span_id, LogLevel::Info, line);
                let ensured = match connection.get(&job.plan).await {
                    Ok(cluster) => {
                        ensure_own_namespace(&cluster, &ctx.namespace, &heartbeat, &log).await
                    }
                    Err(error) => Err(error),
                };
                if let Err(error) = ensured {
                    job.reporter
                        .build_log(job.span_id, LogLevel::Error, error.clone());
                    return UpdateOutcome::failed(error);
                }
            }
            if let Some(custom) = &target.custom_deploy {
                return custom_apply(&job, custom, &connection, &deployed).await;
            }
            let objects = match objects_for(&job.manifest, target, &job.images) {
                Ok(objects) => objects,
                Err(error) => {
                    job.reporter
                        .build_log(job.span_id, LogLevel::Error, error.clone());
                    return UpdateOutcome::failed(error);
                }
            };
            let cluster = match connection.get(&job.plan).await {
                Ok(cluster) => cluster,
                Err(error) => {
                    job.reporter
                        .build_log(job.span_id, LogLevel::Error, error.clone());
                    return UpdateOutcome::failed(error);
                }
            };
            let reporter = job.reporter.clone();
            let span_id = job.span_id;
            let log = move |line: String| reporter.build_log(span_id, LogLevel::Info, line);
            // `update_settings(k8s_upsert_timeout_secs=...)` bounds the whole apply.
            let timeout = job.plan.settings.update.k8s_upsert_timeout;
            let applied = tokio::select! {
                applied = tokio::time::timeout(timeout, cluster.apply(&objects, &log)) => match applied {
                    Ok(applied) => applied,
                    Err(_) => {
                        let error = format!(
                            "applying took longer than {}s (k8s_upsert_timeout_secs)",
                            timeout.as_secs()
                        );
                        job.reporter.build_log(job.span_id, LogLevel::Error, error.clone());
                        return UpdateOutcome::failed(error);
                    }
                },
                () = job.cancel.cancelled() => return UpdateOutcome::failed("cancelled"),
            };
            match applied {
                Ok(applied) => {
                    if applied.iter().all(|a| !a.changed) {
                        job.reporter.build_log(
                            job.span_id,
                            LogLevel::Info,
                            "objects unchanged: nothing applied".to_owned(),
                        );
                    }
                    if let Ok(mut map) = deployed.lock() {
                        map.insert(job.manifest.name.clone(), (cluster, objects));
                    }
                    UpdateOutcome::ok()
                }
                Err(e) => {
                    let error = e.to_string();
                    job.reporter
                        .build_log(job.span_id, LogLevel::Error, error.clone());
                    UpdateOutcome::failed(error)
                }
            }
        }
        .boxed()
    }

    fn start(&self, job: StartJob) {
        let DeployTarget::K8s(target) = &job.manifest.deploy else {
            return;
        };
        let name = job.manifest.name.clone();
        let Some((cluster, objects)) = self
            .deployed
            .lock()
            .ok()
            .and_then(|map| map.get(&name).cloned())
        else {
            return;
        };
        if let Some(previous) = self.watches.lock().ok().and_then(|mut w| w.remove(&name)) {
            previous.abort();
        }
        let reporter = job.reporter.clone();
        let span_id = job.span_id;
        let Some((namespace, selectors)) = pod_selectors(&objects, target, cluster.namespace())
        else {
            // No workload (ConfigMaps, Secrets, CRDs): applied is all there is.
            reporter.runtime(
                span_id,
                RuntimeReport::Running {
                    pid: None,
                    ready: true,
                },
            );
            return;
        };
        // A forward goes to a pod of the first selector (the first workload's, else the
        // first extra selector), without the pod-template hash: a forward outlives updates,
        // and the pods of a changed template carry another hash.
        let forward_selector = selectors[0]
            .split(',')
            .filter(|l| !l.starts_with(&format!("{POD_TEMPLATE_HASH_LABEL}=")))
            .collect::<Vec<_>>()
            .join(",");
        self.forward_ports(
            &name,
            target,
            &cluster,
            &objects,
            &namespace,
            &forward_selector,
            &reporter,
            span_id,
        );
        let wait_ready = target.pod_readiness != PodReadinessMode::Ignore;
        reporter.runtime(
            span_id,
            RuntimeReport::Running {
                pid: None,
                ready: !wait_ready,
            },
        );
        let succeeded_mode = target.pod_readiness == PodReadinessMode::Succeeded;
        // What was last reported: ready, each pod's waiting reason, the error.
        let mut last: Option<(bool, Vec<Option<String>>, Option<String>)> = None;
        // Container runs already brought up to date outlive a restart of the watch (every
        // full update restarts it): a container that kept running is not caught up twice.
        let seen = self
            .caught_up
            .lock()
            .map(|mut c| c.entry(name.clone()).or_default().clone())
            .unwrap_or_default();
        let catch_up = CatchUpRuns::new(
            job.catch_up.clone(),
            seen,
            cluster.clone(),
            namespace.clone(),
            reporter.clone(),
            span_id,
            wait_ready,
        );
        // The log streams outlive a restart of the watch (every successful update restarts
        // it): a stream already following a container goes on from where it is, so no line
        // is shown twice.
        let logs = self
            .logs
            .lock()
            .map(|mut l| l.entry(name.clone()).or_default().clone())
            .unwrap_or_default();
        let log_cluster = cluster.clone();
        let log_reporter = reporter.clone();
        let log_namespace = namespace.clone();
        // Warning events about the resource's pods go to its log. The pods the watch knows
        // are shared with the event watch; a pod the watch has not listed yet is matched by
        // its workload's name prefix (`<workload>-...`), as its first events can come first.
        let pod_names: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let prefix = objects
            .iter()
            .find(|o| o.has_pod_template())
            .map(|o| format!("{}-", o.name()))
            .unwrap_or_default();
        let events = {
            let pod_names = pod_names.clone();
            let reporter = reporter.clone();
            cluster.watch_pod_warnings(
                &namespace,
                move |pod| {
                    (!prefix.is_empty() && pod.starts_with(&prefix))
                        || pod_names.lock().is_ok_and(|names| names.contains(pod))
                },
                move |w| {
                    reporter.runtime_log(
                        span_id,
                        LogLevel::Warn,
                        format!("pod {}: {}: {}", w.pod, w.reason, w.message),
                    )
                },
            )
        };
        // Owned by the pod watch's callback: aborting the watch (stop) drops it, and that
        // ends the event watch too.
        let events = AbortOnDrop(events);
        let seen = self.pods.clone();
        let seen_namespace = namespace.clone();
        let seen_name = name.clone();
        let watch = cluster.watch_pods(&namespace, &selectors, move |pods: Vec<PodState>| {
            let _ = &events;
            if let Ok(mut seen) = seen.lock() {
                seen.insert(seen_name.clone(), (seen_namespace.clone(), pods.clone()));
            }
            if let Ok(mut names) = pod_names.lock() {
                *names = pods.iter().map(|p| p.name.clone()).collect();
            }
            if let Ok(mut logs) = logs.lock() {
                logs.follow(&log_cluster, &log_namespace, &pods, &log_reporter, span_id);
            }
            // The newest pod is the one the dashboard shows (after a rollout, the new one).
            if let Some(pod) = pods.iter().max_by_key(|p| p.created) {
                log_reporter.runtime(
                    span_id,
                    RuntimeReport::Info(lilt_engine::RuntimeInfo {
                        name: pod.name.clone(),
                        status: pod.waiting.clone().unwrap_or_else(|| pod.phase.clone()),
                        restarts: u32::try_from(pod.restarts).unwrap_or_default(),
                        created: pod.created,
                        all_ready: pod.ready,
                        health: None,
                    }),
                );
            }
            catch_up.started(&pods);
            // Tilt judges the newest pod: an error (failed, or cannot pull or start its
            // containers) makes the runtime status `error` until it recovers; a Job's pod
            // (`pod_readiness='succeeded'`) is done when it succeeded.
            let newest = pods.iter().max_by_key(|p| p.created);
            let error = if wait_ready {
                newest.and_then(|p| p.error.clone())
            } else {
                None
            };
            let pods_ready = if succeeded_mode {
                newest.is_some_and(|p| p.phase == "Succeeded")
            } else {
                !pods.is_empty() && pods.iter().all(|p| p.ready)
            };
            // A container still getting its live-updated files is not ready yet.
            let ready = catch_up.ready(pods_ready);
            let waiting: Vec<Option<String>> = pods.iter().map(|p| p.waiting.clone()).collect();
            if last
                .as_ref()
                .is_some_and(|(r, w, e)| *r == ready && *w == waiting && *e == error)
            {
                return;
            }
            if last
                .as_ref()
                .map_or(error.is_some(), |(_, _, e)| *e != error)
            {
                reporter.runtime(span_id, RuntimeReport::Failing(error.clone()));
            }
            for pod in &pods {
                if let Some(why) = &pod.waiting {
                    reporter.runtime_log(
                        span_id,
                        LogLevel::Warn,
                        format!("pod {}: {why}", pod.name),
                    );
                }
            }
            if wait_ready && last.as_ref().is_none_or(|(r, _, _)| *r != ready) {
                reporter.runtime(span_id, RuntimeReport::Ready(ready));
            }
            last = Some((ready, waiting, error));
        });
        if let Ok(mut watches) = self.watches.lock() {
            watches.insert(name, watch);
        }
    }

    fn stop(&self, resource: &str) {
        if let Some(watch) = self
            .watches
            .lock()
            .ok()
            .and_then(|mut w| w.remove(resource))
        {
            watch.abort();
        }
        if let Ok(mut pods) = self.pods.lock() {
            pods.remove(resource);
        }
        if let Ok(mut caught_up) = self.caught_up.lock() {
            caught_up.remove(resource);
        }
        // Dropping the last handle of a resource's streams ends them.
        if let Ok(mut logs) = self.logs.lock() {
            logs.remove(resource);
        }
        if let Some(forwards) = self
            .forwards
            .lock()
            .ok()
            .and_then(|mut f| f.remove(resource))
        {
            for (_, task) in forwards {
                task.abort();
            }
        }
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        if let Ok(mut watches) = self.watches.lock() {
            for (_, watch) in watches.drain() {
                watch.abort();
            }
        }
        if let Ok(mut logs) = self.logs.lock() {
            logs.clear();
        }
        if let Ok(mut forwards) = self.forwards.lock() {
            for (_, tasks) in forwards.drain() {
                for (_, task) in tasks {
                    task.abort();
                }
            }
        }
        let heartbeat = self.heartbeat.clone();
        async move {
            if let Some((_, task)) = heartbeat.lock().await.take() {
                task.abort();
            }
        }
        .boxed()
    }

    /// Every running container, in every pod of the resource, whose spec names the image
    /// the last update deployed; reached through `pods/exec`.
    fn live_targets(
        &self,
        resource: &str,
        built: &BuiltImage,
        reporter: super::Reporter,
        span_id: lilt_engine::SpanId,
    ) -> BoxFuture<'static, Result<super::LiveTargets, String>> {
        let cluster = self
            .deployed
            .lock()
            .ok()
            .and_then(|d| d.get(resource).map(|(cluster, _)| cluster.clone()));
        let containers: Vec<ContainerRef> = self
            .pods
            .lock()
            .ok()
            .and_then(|p| p.get(resource).cloned())
            .map(|(namespace, pods)| {
                pods.iter()
                    .flat_map(|pod| {
                        let namespace = namespace.clone();
                        pod.running
                            .iter()
                            .filter(|c| c.image == built.built_ref)
                            .map(move |c| ContainerRef::Kubernetes {
                                namespace: namespace.clone(),
                                pod: pod.name.clone(),
                                container: c.name.clone(),
                            })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let resource = resource.to_owned();
        async move {
            let cluster = cluster.ok_or_else(|| format!("{resource} is not deployed"))?;
            let applier = KubeContainers::new(cluster.client().clone())
                .with_output(reporter.live_output(span_id));
            Ok(super::LiveTargets {
                containers,
                applier: Arc::new(applier),
            })
        }
        .boxed()
    }

    fn delete(&self, job: DeleteJob) -> BoxFuture<'static, Result<(), String>> {
        let connection = self.connection.clone();
        async move {
            let DeployTarget::K8s(target) = &job.manifest.deploy else {
                return Ok(());
            };
            if let Some(custom) = &target.custom_deploy {
                println!("Running cmd: {}", custom.delete_cmd.display());
                let sink = lilt_local::LogSink::new(|line| println!("{}", line.text));
                return match job
                    .launcher
                    .run(&custom.delete_cmd, &sink, std::future::pending::<()>())
                    .await
                {
                    Ok(lilt_local::RunOutcome::Exited(exit)) if exit.success() => Ok(()),
                    Ok(lilt_local::RunOutcome::Exited(exit)) => Err(format!(
                        "{}: delete_cmd failed: exit status {}",
                        job.manifest.name,
                        exit.shell_code()
                    )),
                    Ok(lilt_local::RunOutcome::Cancelled) => Err("cancelled".to_owned()),
                    Err(e) => Err(format!("{}: cannot run delete_cmd: {e}", job.manifest.name)),
                };
            }
            let mut objects = parse_yaml_stream(&target.yaml)
                .map_err(|e| format!("{}: {e}", job.manifest.name))?;
            sort_for_delete(&mut objects);
            let cluster = connection.get(&job.plan).await?;
            cluster
                .delete(
                    &objects,
                    &lilt_k8s::DeleteOptions {
                        delete_namespaces: job.options.delete_namespaces,
                        wait: job.options.wait,
                    },
                    &|line| println!("{line}"),
                )
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }
}

impl K8sRuntime {
    /// Starts the resource's `port_forwards` that do not run yet.
    #[allow(clippy::too_many_arguments)] // the parts of one start, borrowed
    fn forward_ports(
        &self,
        resource: &str,
        target: &K8sTarget,
        cluster: &Arc<Cluster>,
        objects: &[K8sObject],
        namespace: &str,
        selector: &str,
        reporter: &super::Reporter,
        span_id: lilt_engine::SpanId,
    ) {
        for pf in &target.port_forwards {
            let host = match pf.host.as_str() {
                "" | "localhost" => "127.0.0.1",
                host => host,
            };
            let Ok(local) = format!("{host}:{}", pf.local_port).parse::<SocketAddr>() else {
                reporter.runtime_log(
                    span_id,
                    LogLevel::Warn,
                    format!("port-forward: cannot listen on {host}:{}", pf.local_port),
                );
                continue;
            };
            // Tilt forwards to the same port number when neither the Tiltfile nor the pod
            // names one.
            let remote_port = match pf.container_port {
                0 => first_container_port(objects).unwrap_or(pf.local_port),
                port => port,
            };
            let exists = self
                .forwards
                .lock()
                .is_ok_and(|f| f.get(resource).is_some_and(|m| m.contains_key(&local)));
            if exists {
                continue;
            }
            let forward = lilt_k8s::Forward {
                namespace: namespace.to_owned(),
                selector: selector.to_owned(),
                local,
                remote_port,
            };
            let cluster = cluster.clone();
            let reporter = reporter.clone();
            let forwards = self.forwards.clone();
            let owner = resource.to_owned();
            let slot = tokio::spawn(async move {
                let log_reporter = reporter.clone();
                let log =
                    move |line: String| log_reporter.runtime_log(span_id, LogLevel::Warn, line);
                match cluster.port_forward(forward, log).await {
                    Ok(task) => {
                        reporter.runtime_log(
                            span_id,
                            LogLevel::Info,
                            format!("port-forward {local} -> pod port {remote_port}"),
                        );
                        // The listener runs in `task`; this task only holds it, so aborting
                        // this one (the resource stops) ends the listener too.
                        let _listener = AbortOnDrop(task);
                        std::future::pending::<()>().await;
                    }
                    Err(e) => {
                        reporter.runtime_log(
                            span_id,
                            LogLevel::Error,
                            format!("port-forward: cannot listen on {local}: {e}"),
                        );
                        if let Ok(mut f) = forwards.lock()
                            && let Some(m) = f.get_mut(&owner)
                        {
                            m.remove(&local);
                        }
                    }
                }
            });
            if let Ok(mut f) = self.forwards.lock() {
                f.entry(resource.to_owned())
                    .or_default()
                    .insert(local, slot);
            }
        }
    }
}

/// Aborts a task when dropped (dropping a task's handle alone does not).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The first `containerPort` of the first workload's pod template.
fn first_container_port(objects: &[K8sObject]) -> Option<u16> {
    let workload = objects.iter().find(|o| o.has_pod_template())?;
    let value = workload.as_value();
    let template = value
        .pointer("/spec/template")
        .or_else(|| value.pointer("/spec/jobTemplate/spec/template"))?;
    template
        .pointer("/spec/containers")?
        .as_array()?
        .iter()
        .filter_map(|c| {
            c.get("ports")?
                .as_array()?
                .first()?
                .get("containerPort")?
                .as_u64()
        })
        .find_map(|p| u16::try_from(p).ok())
}

/// `k8s_custom_deploy`: runs `apply_cmd` with the built images in `TILT_IMAGE_<i>` /
/// `TILT_IMAGE_MAP_<i>` (as Tilt does); its stdout is the YAML of what it deployed, which
/// the pod watch, logs and forwards then follow; its stderr goes to the log.
async fn custom_apply(
    job: &UpdateJob,
    custom: &lilt_model::K8sCustomDeploy,
    connection: &Connection,
    deployed: &Mutex<HashMap<String, Deployed>>,
) -> UpdateOutcome {
    let fail = |error: String| {
        job.reporter
            .build_log(job.span_id, LogLevel::Error, error.clone());
        UpdateOutcome::failed(error)
    };
    let mut cmd = custom.apply_cmd.clone();
    for (i, image) in job.images.iter().enumerate() {
        cmd.env
            .push((format!("TILT_IMAGE_MAP_{i}"), image.image_ref.clone()));
        cmd.env
            .push((format!("TILT_IMAGE_{i}"), image.built_ref.clone()));
    }
    job.reporter.build_log(
        job.span_id,
        LogLevel::Info,
        format!("Running cmd: {}", cmd.display()),
    );
    let stdout = Arc::new(Mutex::new(String::new()));
    let sink = {
        let stdout = stdout.clone();
        let reporter = job.reporter.clone();
        let span_id = job.span_id;
        lilt_local::LogSink::new(move |line| match line.stream {
            lilt_local::Stream::Stdout => {
                if let Ok(mut out) = stdout.lock() {
                    out.push_str(&line.text);
                    if !line.partial {
                        out.push('\n');
                    }
                }
            }
            lilt_local::Stream::Stderr => reporter.build_log(span_id, LogLevel::Info, line.text),
        })
    };
    match job.launcher.run(&cmd, &sink, job.cancel.cancelled()).await {
        Ok(lilt_local::RunOutcome::Exited(exit)) if exit.success() => {}
        Ok(lilt_local::RunOutcome::Exited(exit)) => {
            return fail(format!(
                "apply_cmd {:?} failed: exit status {}",
                cmd.display(),
                exit.shell_code()
            ));
        }
        Ok(lilt_local::RunOutcome::Cancelled) => return fail("cancelled".to_owned()),
        Err(e) => return fail(format!("cannot run apply_cmd {:?}: {e}", cmd.display())),
    }
    let text = stdout.lock().map(|s| s.clone()).unwrap_or_default();
    let objects = match parse_yaml_stream(&text) {
        Ok(objects) => flatten_lists(objects),
        Err(e) => {
            return fail(format!(
                "apply_cmd must print the YAML of what it deployed on stdout: {e}"
            ));
        }
    };
    let cluster = match connection.get(&job.plan).await {
        Ok(cluster) => cluster,
        Err(error) => return fail(error),
    };
    for obj in &objects {
        job.reporter.build_log(
            job.span_id,
            LogLevel::Info,
            format!("deployed {}", obj.display_name()),
        );
    }
    if let Ok(mut map) = deployed.lock() {
        map.insert(job.manifest.name.clone(), (cluster, objects));
    }
    UpdateOutcome::ok()
}

/// `kubectl ... -o yaml` prints several objects as one `List`: its items are the objects.
fn flatten_lists(objects: Vec<K8sObject>) -> Vec<K8sObject> {
    let mut out = Vec::with_capacity(objects.len());
    for obj in objects {
        if obj.kind() == "List" {
            let items = obj
                .as_value()
                .get("items")
                .and_then(|i| i.as_array())
                .cloned();
            out.extend(
                items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|item| K8sObject::from_value(item).ok()),
            );
        } else {
            out.push(obj);
        }
    }
    out
}

/// The log streams of a resource's current pods, one per container; dropped with the pod
/// watch that owns them, which stops them all.
#[derive(Default)]
struct LogFollowers {
    streams: HashMap<(String, String), tokio::task::JoinHandle<()>>,
}

impl LogFollowers {
    /// Follows every container of `pods` not followed yet, and stops following pods that
    /// are gone (a rollout replaced them). Lines carry `[container]` when a pod has several.
    fn follow(
        &mut self,
        cluster: &Arc<Cluster>,
        namespace: &str,
        pods: &[PodState],
        reporter: &super::Reporter,
        span_id: lilt_engine::SpanId,
    ) {
        self.streams.retain(|(pod, _), task| {
            let keep = pods.iter().any(|p| p.name == *pod);
            if !keep {
                task.abort();
            }
            keep
        });
        for pod in pods {
            for container in &pod.containers {
                let key = (pod.name.clone(), container.clone());
                if self.streams.contains_key(&key) {
                    continue;
                }
                let reporter = reporter.clone();
                let prefix = if pod.containers.len() > 1 {
                    format!("[{container}] ")
                } else {
                    String::new()
                };
                let task = cluster.follow_logs(namespace, &pod.name, container, move |line| {
                    reporter.runtime_log(span_id, LogLevel::Info, format!("{prefix}{line}"));
                });
                self.streams.insert(key, task);
            }
        }
    }
}

impl Drop for LogFollowers {
    fn drop(&mut self) {
        for (_, task) in self.streams.drain() {
            task.abort();
        }
    }
}

/// The resource's objects, ready to apply: parsed, with the built images and lilt's labels
/// injected, in apply order.
fn objects_for(
    manifest: &Manifest,
    target: &K8sTarget,
    images: &[BuiltImage],
) -> Result<Vec<K8sObject>, String> {
    let objects = parse_yaml_stream(&target.yaml).map_err(|e| e.to_string())?;
    let mut deployed = Vec::with_capacity(images.len());
    for built in images {
        let Some(image) = manifest
            .image_targets
            .iter()
            .find(|i| i.image_ref == built.image_ref)
        else {
            continue;
        };
        let selector = RefSelector::parse(&image.image_ref).map_err(|e| e.to_string())?;
        let cluster_ref = ImageRef::parse(&built.built_ref).map_err(|e| e.to_string())?;
        deployed.push(DeployedImage {
            selector,
            cluster_ref,
            match_in_env_vars: image.match_in_env_vars,
            entrypoint: (!image.entrypoint.is_empty()).then(|| image.entrypoint.clone()),
            container_args: image.container_args.clone(),
        });
    }
    let mut objects = inject(&objects, &deployed, &[]).map_err(|e| e.to_string())?;
    sort_for_apply(&mut objects);
    Ok(objects)
}

/// The namespace and label selectors of the resource's pods: each workload's pod template
/// labels (unless `discovery_strategy='selectors-only'`), then `extra_pod_selectors`; `None`
/// when there is nothing to watch (ConfigMaps, Secrets, CRDs).
fn pod_selectors(
    objects: &[K8sObject],
    target: &K8sTarget,
    default_namespace: &str,
) -> Option<(String, Vec<String>)> {
    let workloads: Vec<&K8sObject> = objects.iter().filter(|o| o.has_pod_template()).collect();
    let mut selectors: Vec<String> = Vec::new();
    if !target.selectors_only {
        for workload in &workloads {
            if let Some(labels) = workload.pod_template_labels().into_iter().next()
                && !labels.is_empty()
            {
                selectors.push(label_selector(labels));
            }
        }
    }
    selectors.extend(
        target
            .extra_pod_selectors
            .iter()
            .filter(|s| !s.is_empty())
            .map(label_selector),
    );
    selectors.dedup();
    if selectors.is_empty() {
        return None;
    }
    let namespace = workloads
        .first()
        .and_then(|w| w.namespace())
        .or_else(|| objects.iter().find_map(|o| o.namespace()))
        .unwrap_or(default_namespace)
        .to_owned();
    Some((namespace, selectors))
}

/// A label selector (`a=b,c=d`) from labels.
fn label_selector<K: std::fmt::Display, V: std::fmt::Display>(
    labels: impl IntoIterator<Item = (K, V)>,
) -> String {
    labels
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Brings containers that start running a live-updated image up to date (see
/// [`super::CatchUp`]) before the resource counts as ready again.
struct CatchUpRuns {
    catch_up: Option<Arc<dyn super::CatchUp>>,
    cluster: Arc<Cluster>,
    namespace: String,
    reporter: super::Reporter,
    span_id: lilt_engine::SpanId,
    wait_ready: bool,
    /// Container runs already seen: (pod, container, restarts).
    seen: Arc<Mutex<SeenRuns>>,
    /// Catch-ups in flight, and whether the pods were ready at the last look.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    pods_ready: Arc<std::sync::atomic::AtomicBool>,
}

impl CatchUpRuns {
    fn new(
        catch_up: Option<Arc<dyn super::CatchUp>>,
        seen: Arc<Mutex<SeenRuns>>,
        cluster: Arc<Cluster>,
        namespace: String,
        reporter: super::Reporter,
        span_id: lilt_engine::SpanId,
        wait_ready: bool,
    ) -> CatchUpRuns {
        CatchUpRuns {
            catch_up,
            cluster,
            namespace,
            reporter,
            span_id,
            wait_ready,
            seen,
            in_flight: Arc::default(),
            pods_ready: Arc::default(),
        }
    }

    /// Whether the resource is ready: its pods are, and no container is catching up.
    fn ready(&self, pods_ready: bool) -> bool {
        use std::sync::atomic::Ordering;
        self.pods_ready.store(pods_ready, Ordering::Release);
        pods_ready && self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Sends the catch-up batch to every container run not seen before.
    fn started(&self, pods: &[PodState]) {
        use std::sync::atomic::Ordering;
        let Some(catch_up) = &self.catch_up else {
            return;
        };
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        for pod in pods {
            for c in &pod.running {
                if !seen.insert((pod.name.clone(), c.name.clone(), c.restarts)) {
                    continue;
                }
                let Some(batch) = catch_up.batch(&c.image) else {
                    continue;
                };
                let target = ContainerRef::Kubernetes {
                    namespace: self.namespace.clone(),
                    pod: pod.name.clone(),
                    container: c.name.clone(),
                };
                let applier = KubeContainers::new(self.cluster.client().clone())
                    .with_output(self.reporter.live_output(self.span_id));
                let reporter = self.reporter.clone();
                let span_id = self.span_id;
                let in_flight = self.in_flight.clone();
                let pods_ready = self.pods_ready.clone();
                let wait_ready = self.wait_ready;
                in_flight.fetch_add(1, Ordering::AcqRel);
                tokio::spawn(async move {
                    use lilt_liveupdate::Containers;
                    let line = match applier.apply(&target, &batch).await {
                        Ok(applied) => format!(
                            "{target} started: {} live-updated file(s) re-applied, {} deleted, in {} ms",
                            applied.copied.files,
                            applied.deleted.len(),
                            applied.elapsed.as_millis()
                        ),
                        Err(e) => {
                            format!("{target} started: re-applying live-updated files failed: {e}")
                        }
                    };
                    reporter.runtime_log(span_id, LogLevel::Info, line);
                    let left = in_flight.fetch_sub(1, Ordering::AcqRel) - 1;
                    if left == 0 && wait_ready && pods_ready.load(Ordering::Acquire) {
                        reporter.runtime(span_id, RuntimeReport::Ready(true));
                    }
                });
            }
        }
    }
}
