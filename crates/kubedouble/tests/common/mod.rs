//! Shared helpers for the double's tests: a kube-rs client from the kubeconfig the double
//! wrote (as lilt will connect), and polling with a generous failure guard (never a timing
//! assertion).

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use lilt_kubedouble::KubeDouble;

/// A client built the way `kubectl` resolves a kubeconfig: file, named context, TLS with the CA.
pub async fn client(d: &KubeDouble) -> Client {
    let kc = Kubeconfig::read_from(d.kubeconfig_path()).expect("read the double's kubeconfig");
    let cfg = Config::from_custom_kubeconfig(
        kc,
        &KubeConfigOptions {
            context: Some(d.context().to_string()),
            ..Default::default()
        },
    )
    .await
    .expect("kubeconfig to config");
    Client::try_from(cfg).expect("client")
}

/// Polls `f` until it returns Some, failing the test after `secs` (a guard against a hang,
/// not a performance assertion).
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The API error of a kube-rs result (panics if it succeeded or failed otherwise).
pub fn api_err<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Box<kube::core::Status> {
    match r {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
