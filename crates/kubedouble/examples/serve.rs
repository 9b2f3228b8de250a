//! Runs a double until Ctrl-C or SIGTERM, for trying clients by hand:
//! `cargo run -p lilt-kubedouble --example serve [-- --no-kubelet]`, then
//! `KUBECONFIG=<printed path> kubectl get pods -A`.

use std::io::Write;

#[tokio::main]
async fn main() {
    let no_kubelet = std::env::args().any(|a| a == "--no-kubelet");
    let mut b = lilt_kubedouble::KubeDouble::builder();
    if no_kubelet {
        b = b.without_kubelet();
    }
    let double = b.start().await;
    println!("{}", double.kubeconfig_path().display());
    let _ = std::io::stdout().flush();
    // Both signals end it cleanly, so its containers are removed.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    double.stop().await;
}
