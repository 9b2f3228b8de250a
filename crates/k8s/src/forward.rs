//! Port forwards (`port_forwards=`): a local listener whose every connection is forwarded
//! through the API server's `pods/portforward` to the current ready pod of the resource.
//!
//! Each connection picks the pod afresh, so when a rollout replaces the pod or a stream
//! drops, the next connection reaches the new pod at once (Tilt's forwards often stay dead
//! until a restart).

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use tokio::net::{TcpListener, TcpStream};

use crate::Cluster;

/// What one forward connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub namespace: String,
    /// The label selector of the resource's pods (`a=b,c=d`).
    pub selector: String,
    /// Where to listen (`127.0.0.1:8080`).
    pub local: SocketAddr,
    /// The pod's port.
    pub remote_port: u16,
}

impl Cluster {
    /// Listens on `forward.local` and forwards each connection; `log` hears about failures.
    /// Runs until the task is aborted. Fails at once when the local port cannot be bound.
    pub async fn port_forward(
        &self,
        forward: Forward,
        log: impl Fn(String) + Send + Sync + 'static,
    ) -> std::io::Result<tokio::task::JoinHandle<()>> {
        let listener = TcpListener::bind(forward.local).await?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &forward.namespace);
        let log = std::sync::Arc::new(log);
        Ok(tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let api = api.clone();
                let forward = forward.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(&api, &forward, conn).await {
                        log(format!(
                            "port-forward {} -> {}: {e}",
                            forward.local, forward.remote_port
                        ));
                    }
                });
            }
        }))
    }
}

/// Forwards one local connection to the current ready pod.
async fn serve(api: &Api<Pod>, forward: &Forward, mut conn: TcpStream) -> Result<(), String> {
    let pods = api
        .list(&ListParams::default().labels(&forward.selector))
        .await
        .map_err(|e| e.to_string())?;
    let ready = |p: &&Pod| {
        p.metadata.deletion_timestamp.is_none()
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    let pod = pods
        .items
        .iter()
        .filter(ready)
        .max_by_key(|p| p.metadata.creation_timestamp.clone())
        .and_then(|p| p.metadata.name.clone())
        .ok_or_else(|| "no ready pod to forward to".to_owned())?;
    let mut pf = api
        .portforward(&pod, &[forward.remote_port])
        .await
        .map_err(|e| format!("pod {pod}: {e}"))?;
    let mut upstream = pf
        .take_stream(forward.remote_port)
        .ok_or_else(|| format!("pod {pod}: no stream for port {}", forward.remote_port))?;
    // Either side closing ends the connection; the pod side's EOF may lag (see crates.md).
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    drop(upstream);
    let _ = pf.join().await;
    Ok(())
}
