//! `lilt-kubedouble`: a Kubernetes API-server test double that speaks the real wire protocol
//! over HTTPS, for testing kube-rs client code (lilt's Kubernetes runtime) without a cluster.
//!
//! It serves discovery (plain and aggregated), a generic object store for the built-in kinds
//! and for CRDs registered at run time, server-side apply with managed fields and conflicts,
//! get/list/watch with resourceVersions and bookmarks, delete with propagation and garbage
//! collection, namespaces that terminate, and core/v1 Events. With its kubelet on (the
//! default), Deployments, ReplicaSets and Jobs make Pods, and every Pod runs its containers as
//! real containers on the tests' dockerd (host networking), so `pods/log`, `pods/exec` and
//! `pods/portforward` reach real processes.
//!
//! ```no_run
//! # async fn t() {
//! let double = lilt_kubedouble::KubeDouble::start().await;
//! // KUBECONFIG=double.kubeconfig_path(), context "lilt-double": any kube-rs client connects.
//! # let _ = double.kubeconfig_path();
//! # }
//! ```
//!
//! Every behaviour it mimics names, in a comment, the Kubernetes behaviour it follows; what
//! it simplifies is listed in docs/testing.md ("The Kubernetes API-server double").

mod controllers;
mod events;
mod fields;
mod kinds;
mod kubelet;
mod patch;
mod podapi;
mod resources;
mod schema;
mod selector;
mod server;
mod ssa;
mod status;
mod store;
mod time;
mod tls;
mod workloads;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use status::{ApiError, Cause};

use server::Shared;
use store::{Store, WriteCtx};

/// What can go wrong starting or driving the double.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Making the certificate or the TLS config failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Listening, writing the kubeconfig.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The Docker daemon the kubelet runs pods on.
    #[error("docker: {0} (hint: {hint})", hint = lilt_testsvc::HINT)]
    Docker(String),
    /// No such object, pod or container.
    #[error("not found: {0}")]
    NotFound(String),
    /// An API error from the store.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// One request the double answered, for assertions such as "an unchanged apply sent no write".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or the lower-cased method for non-resource paths).
    pub verb: String,
    /// The HTTP status answered (for a watch or a stream: the status of its headers).
    pub status: u16,
    /// The client's User-Agent.
    pub user_agent: String,
}

/// An injected failure: matching requests get this `Status` instead of being served.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    pub(crate) verb: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) times: Option<usize>,
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) retry_after_seconds: Option<u64>,
    /// Set by [`Fault::stall`]: the request is held this long, then served normally.
    pub(crate) stall: Option<Duration>,
}

impl Fault {
    /// Answer with this code, `Status.reason` and message (every matching request, until
    /// [`Fault::times`] limits it).
    pub fn status(code: u16, reason: &str, message: &str) -> Self {
        Fault {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    /// Holds matching requests for `d` before serving them normally, as an overloaded API
    /// server or a slow admission webhook does.
    pub fn stall(d: Duration) -> Self {
        Fault {
            stall: Some(d),
            ..Default::default()
        }
    }

    /// An RBAC denial worded as kube-apiserver's authorizer words it.
    pub fn forbidden(verb: &str, group: &str, plural: &str, namespace: &str, name: &str) -> Self {
        let what = status::qualified(group, plural);
        let message = format!(
            "{what} \"{name}\" is forbidden: User \"lilt-double\" cannot {verb} resource \"{plural}\" in API group \"{group}\" in the namespace \"{namespace}\""
        );
        Fault::status(403, "Forbidden", &message)
            .verb(verb)
            .resource(plural)
            .namespace(namespace)
    }

    /// A 413 as kube-apiserver answers a body over its limit.
    pub fn too_large() -> Self {
        Fault::status(
            413,
            "RequestEntityTooLarge",
            &format!("Request entity too large: limit is {}", server::MAX_BODY),
        )
    }

    /// Only for this verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...).
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.into());
        self
    }

    /// Only for this resource (plural, optionally `plural/subresource`, e.g. `pods/log`).
    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.into());
        self
    }

    /// Only in this namespace.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Only for this object name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    /// Adds a `Retry-After` header (as a 429 or 503 from kube-apiserver carries).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_seconds = Some(secs);
        self
    }

    pub(crate) fn error(&self) -> ApiError {
        ApiError::new(self.code, &self.reason, self.message.clone())
    }
}

/// The kubelet's restart and pull back-off (Kubernetes: 10 s doubling to 300 s).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Cap.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
        }
    }
}

/// Options for [`KubeDouble`].
#[derive(Debug, Clone)]
pub struct Builder {
    kubelet: bool,
    docker_host: Option<String>,
    bookmark_interval: Duration,
    history: usize,
    backoff: Backoff,
    context: String,
    namespace: String,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            kubelet: true,
            docker_host: None,
            bookmark_interval: Duration::from_secs(60),
            history: 10_000,
            backoff: Backoff::default(),
            context: "lilt-double".into(),
            namespace: "default".into(),
        }
    }
}

impl Builder {
    /// Without a kubelet: no Node, so pods stay Pending (PodScheduled=False, Unschedulable)
    /// and no Docker daemon is needed.
    pub fn without_kubelet(mut self) -> Self {
        self.kubelet = false;
        self
    }

    /// The dockerd pods run on (`unix://…` or `tcp://…`); default: the test services'
    /// (`lilt_testsvc::services().docker_host`).
    pub fn docker_host(mut self, host: &str) -> Self {
        self.docker_host = Some(host.into());
        self
    }

    /// How often open watches that asked for bookmarks get one (kube-apiserver: about a
    /// minute; tests shorten it).
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }

    /// How many changes the watch history keeps before older resourceVersions expire (410).
    pub fn history(mut self, n: usize) -> Self {
        self.history = n;
        self
    }

    /// The kubelet's crash-loop and image-pull back-off.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    /// The kubeconfig's context (and cluster and user) name.
    pub fn context(mut self, name: &str) -> Self {
        self.context = name.into();
        self
    }

    /// The kubeconfig context's namespace.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = ns.into();
        self
    }

    /// Starts the double; panics with a hint when it cannot (a test helper).
    pub async fn start(self) -> KubeDouble {
        match self.try_start().await {
            Ok(d) => d,
            Err(e) => panic!("lilt-kubedouble could not start: {e}"),
        }
    }

    /// Starts the double.
    pub async fn try_start(self) -> Result<KubeDouble, Error> {
        let identity = tls::identity()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let url = format!("https://127.0.0.1:{}", addr.port());
        let token = format!("lilt-double-{:x}", time::now_nanos());
        let store = Arc::new(Store::new(self.history));
        controllers::bootstrap(&store);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let kubelet = if self.kubelet {
            let host = match &self.docker_host {
                Some(h) => h.clone(),
                None => lilt_testsvc::services().docker_host,
            };
            controllers::register_node(&store);
            let api = kubelet::ApiAccess {
                port: addr.port(),
                token: token.clone(),
                ca_pem: identity.ca_pem.clone(),
            };
            Some(kubelet::Kubelet::new(
                store.clone(),
                &host,
                self.backoff,
                api,
            )?)
        } else {
            None
        };
        let (drop_tx, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            store: store.clone(),
            token: token.clone(),
            server_addr: format!("127.0.0.1:{}", addr.port()),
            bookmark_interval: self.bookmark_interval,
            faults: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            drop_watches: drop_tx,
            shutdown: shutdown_rx.clone(),
            pods: kubelet.clone(),
        });
        remove_stale_dirs();
        let dir = std::env::temp_dir().join(format!(
            "lilt-kubedouble-{}-{}",
            std::process::id(),
            addr.port()
        ));
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = tls::kubeconfig(
            &url,
            &identity.ca_pem,
            &token,
            &self.context,
            &self.namespace,
        );
        let kubeconfig_path = dir.join("kubeconfig");
        std::fs::write(&kubeconfig_path, &kubeconfig)?;
        let mut tasks = Vec::new();
        let acceptor = tokio_rustls::TlsAcceptor::from(identity.server.clone());
        tasks.push(tokio::spawn(server::serve(
            listener,
            acceptor,
            shared.clone(),
        )));
        let (passes_tx, passes) = watch::channel((0u64, u64::MAX));
        tasks.push(tokio::spawn(controllers::run(
            store.clone(),
            controllers::Config {
                ca_pem: identity.ca_pem.clone(),
                node: kubelet.is_some(),
            },
            passes_tx,
            shutdown_rx.clone(),
        )));
        if let Some(k) = &kubelet {
            tasks.push(tokio::spawn(k.clone().run(shutdown_rx.clone())));
        }
        Ok(KubeDouble {
            shared,
            shutdown: shutdown_tx,
            dir,
            kubeconfig_path,
            kubeconfig,
            url,
            ca_pem: identity.ca_pem,
            token,
            context: self.context,
            tasks,
            kubelet,
            passes,
        })
    }
}

/// Removes the temp dirs (kubeconfigs, pod volumes) of doubles whose process is gone.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rest = name
            .strip_prefix("lilt-kubedouble-")
            .or_else(|| name.strip_prefix("lilt-kubelet-"));
        let Some(pid) = rest.and_then(|r| r.split('-').next()) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A running API-server double. Dropping it (or [`KubeDouble::stop`]) stops the server and
/// removes every container it made.
pub struct KubeDouble {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    dir: PathBuf,
    kubeconfig_path: PathBuf,
    kubeconfig: String,
    url: String,
    ca_pem: String,
    token: String,
    context: String,
    tasks: Vec<JoinHandle<()>>,
    kubelet: Option<Arc<kubelet::Kubelet>>,
    passes: watch::Receiver<(u64, u64)>,
}

/// One container the kubelet made, as seen on the Docker daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name in the pod spec.
    pub container: String,
    /// The Docker container id.
    pub id: String,
    /// The restart attempt it belongs to (0 for the first run).
    pub attempt: u32,
}

impl KubeDouble {
    /// Starts a double with the defaults (kubelet on, Docker from the test services).
    pub async fn start() -> KubeDouble {
        Builder::default().start().await
    }

    /// Options.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The kubeconfig file the double wrote (CA, server URL, token, context).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The kubeconfig's text.
    pub fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA certificate (PEM) that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token the kubeconfig carries.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The kubeconfig's context name.
    pub fn context(&self) -> &str {
        &self.context
    }

    fn type_of(&self, api_version: &str, kind: &str) -> Option<Arc<resources::ResourceType>> {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        self.shared.store.resource_for_kind(group, kind)
    }

    /// An object as stored (None when absent); `namespace` is ignored for cluster-scoped kinds.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = self.type_of(api_version, kind)?;
        let ns = if rt.namespaced { namespace } else { "" };
        self.shared.store.get(&rt, ns, name).ok()
    }

    /// Every object of a kind (in a namespace, or everywhere with `None`).
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        match self.type_of(api_version, kind) {
            Some(rt) => self
                .shared
                .store
                .all(&rt, namespace)
                .into_iter()
                .map(|v| (*v).clone())
                .collect(),
            None => Vec::new(),
        }
    }

    /// The core/v1 Events about an object (by namespace and name).
    pub fn events_for(&self, namespace: &str, name: &str) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .list("v1", "Event", Some(namespace))
            .into_iter()
            .filter(|e| e.pointer("/involvedObject/name").and_then(Value::as_str) == Some(name))
            .collect();
        out.sort_by(|a, b| {
            a["firstTimestamp"]
                .as_str()
                .cmp(&b["firstTimestamp"].as_str())
                .then(
                    a["metadata"]["name"]
                        .as_str()
                        .cmp(&b["metadata"]["name"].as_str()),
                )
        });
        out
    }

    /// Creates an object directly in the store (manager `lilt-kubedouble`), for test setup.
    pub fn create(&self, obj: Value) -> Result<Value, Error> {
        let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let rt = self
            .type_of(av, kind)
            .ok_or_else(|| Error::NotFound(format!("{av} {kind}")))?;
        let version = av.rsplit('/').next().unwrap_or("v1").to_string();
        let ns = if rt.namespaced {
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        Ok(self.shared.store.create(
            &rt,
            &version,
            &ns,
            obj,
            &WriteCtx::manager("lilt-kubedouble"),
        )?)
    }

    /// The current (global) resourceVersion: it grows by one per committed write.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.current_rv()
    }

    /// Waits until the controllers have nothing left to do: a whole pass at the current
    /// resourceVersion wrote nothing. (Containers run on their own; this does not wait for
    /// pods to start.) Deterministic, so tests can compare resourceVersions after it.
    pub async fn settled(&self) {
        let mut rx = self.passes.clone();
        loop {
            let rv = self.resource_version();
            let (before, after) = *rx.borrow_and_update();
            if before == after && after == rv {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        if let Ok(mut r) = self.shared.requests.lock() {
            r.clear();
        }
    }

    /// Injects a fault (see [`Fault`]); the first matching fault answers a request.
    pub fn inject(&self, fault: Fault) {
        if let Ok(mut f) = self.shared.faults.lock() {
            f.push(fault);
        }
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        if let Ok(mut f) = self.shared.faults.lock() {
            f.clear();
        }
    }

    /// Ends every open watch and followed log stream now, as a dropped connection would
    /// (watch clients must resume from their last resourceVersion, log clients from their
    /// last line).
    pub fn drop_watches(&self) {
        self.shared.drop_watches.send_modify(|n| *n += 1);
    }

    /// Forgets the watch history, as an etcd compaction: a watch or continue from any
    /// resourceVersion before now gets 410 Expired.
    pub fn compact(&self) {
        self.shared.store.compact();
    }

    /// Kills a running container of a pod (SIGKILL, exit code 137), as if it crashed; the
    /// kubelet then restarts it per the pod's restartPolicy.
    pub async fn kill_container(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<(), Error> {
        match &self.kubelet {
            Some(k) => k.kill(namespace, pod, container).await,
            None => Err(Error::NotFound("the double runs without a kubelet".into())),
        }
    }

    /// The containers the kubelet has made and not yet removed.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        self.kubelet
            .as_ref()
            .map(|k| k.containers())
            .unwrap_or_default()
    }

    /// Stops serving and removes every container it made.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(k) = self.kubelet.take() {
            k.remove_all().await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for KubeDouble {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(k) = self.kubelet.take() {
            k.remove_all_blocking();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
