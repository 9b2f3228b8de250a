//! The cluster side of lilt's Kubernetes runtime, on kube-rs: connect with the kubeconfig
//! as kubectl does, apply a resource's objects with server-side apply, delete them.
//!
//! Objects come from `lilt-manifest` already injected (built image refs, lilt's labels) and
//! in apply order; this crate only talks to the API server. Every call is plain kube-rs over
//! HTTP, so the same code runs against a real cluster and the tests' API-server double.

mod apply;
mod error;
mod forward;
pub mod namespaces;
mod pods;

pub use apply::{AppliedObject, DeleteOptions, ObjectKey};
pub use error::K8sError;
pub use forward::Forward;
pub use pods::{PodState, PodWarning, RunningContainer};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{ApiCapabilities, ApiResource};

/// The field manager lilt applies as. Objects another manager applied (Tilt, kubectl) are
/// taken over: lilt applies with `force`.
pub const FIELD_MANAGER: &str = "lilt";

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// A kubeconfig file; `None` reads `KUBECONFIG` or `~/.kube/config`, then the in-cluster
    /// service account, as kubectl does.
    pub kubeconfig: Option<PathBuf>,
    /// The context; `None` is the kubeconfig's current context.
    pub context: Option<String>,
    /// The namespace for objects that name none; `None` is the context's (else `default`).
    pub namespace: Option<String>,
}

/// A connection to one cluster, with what lilt learned about it (API discovery, what it
/// applied).
pub struct Cluster {
    client: kube::Client,
    namespace: String,
    /// Discovered kinds, by `apiVersion` + `kind`.
    kinds: Mutex<HashMap<(String, String), (ApiResource, ApiCapabilities)>>,
    /// What lilt last applied, per object: an identical apply is not sent again.
    applied: Mutex<HashMap<ObjectKey, AppliedObject>>,
}

impl Cluster {
    /// Connects the way kubectl does. No request is made yet.
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, K8sError> {
        let kube_opts = KubeConfigOptions {
            context: opts.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &opts.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| K8sError::Config {
                    message: format!("{}: {e}", path.display()),
                })?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &kube_opts).await
            }
            // No context asked for: the kubeconfig, else the pod's service account (lilt
            // running inside the cluster, as the prune CronJob does).
            None if opts.context.is_none() => kube::Config::infer().await.map_err(|e| {
                kube::config::KubeconfigError::ReadConfig(
                    std::io::Error::other(e.to_string()),
                    PathBuf::from("KUBECONFIG"),
                )
            }),
            None => kube::Config::from_kubeconfig(&kube_opts).await,
        }
        .map_err(|e| K8sError::Config {
            message: e.to_string(),
        })?;
        let namespace = opts
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).map_err(|e| K8sError::Config {
            message: e.to_string(),
        })?;
        Ok(Cluster {
            client,
            namespace,
            kinds: Mutex::new(HashMap::new()),
            applied: Mutex::new(HashMap::new()),
        })
    }

    /// The namespace objects without one go to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The kube-rs client, for watches and streams.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }
}
