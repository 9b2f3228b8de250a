//! Port forwards against the double's kubelet: real containers on the tests' dockerd, the
//! API server's pods/portforward over WebSocket. A forward reaches the pod, and reaches the
//! new pod after a rollout replaced the old one.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lilt_k8s::{Cluster, ConnectOptions, Forward};
use lilt_kubedouble::KubeDouble;
use lilt_manifest::parse_yaml_stream;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Deployment whose pod serves `text` over HTTP on `port` (host networking).
fn deployment(image: &str, port: u16, text: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  # Pods share the host's network here: the old pod must free the port first.
  strategy: {{type: Recreate}}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      # httpd as PID 1 ignores SIGTERM: do not wait the default 30 s for it.
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'mkdir -p /tmp/www && echo {text} > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:{port} -h /tmp/www']
"
    )
}

/// GET / through `addr`; `None` when the connection fails or the answer is not a 200.
fn get(addr: SocketAddr) -> Option<String> {
    let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    conn.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    let _ = conn.read_to_string(&mut text);
    // busybox httpd answers HTTP/1.1 even to a 1.0 request.
    text.split_whitespace()
        .nth(1)
        .is_some_and(|code| code == "200")
        .then_some(text)
}

/// Retries `get` until the body holds `want` (bounded: a hang guard, not a timing check).
async fn eventually_serves(addr: SocketAddr, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = tokio::task::spawn_blocking(move || get(addr))
            .await
            .unwrap();
        if got.as_deref().is_some_and(|t| t.contains(want)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} never served {want:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_reaches_the_pod_and_follows_a_rollout() {
    let svc = lilt_testsvc::services();
    let d = KubeDouble::start().await;
    let cluster = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(d.kubeconfig_path().to_owned()),
        context: Some(d.context().to_owned()),
        namespace: Some("default".to_owned()),
    })
    .await
    .unwrap();
    let pod_port = free_port();
    let apply =
        |text: &str| parse_yaml_stream(&deployment(&svc.base_image, pod_port, text)).unwrap();
    cluster.apply(&apply("first"), &|_| {}).await.unwrap();
    let local: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let task = cluster
        .port_forward(
            Forward {
                namespace: "default".to_owned(),
                selector: "app=web".to_owned(),
                local,
                remote_port: pod_port,
            },
            |line| eprintln!("{line}"),
        )
        .await
        .expect("listen");
    eventually_serves(local, "first").await;

    // A rollout replaces the pod; the forward reaches the new one.
    cluster.apply(&apply("second"), &|_| {}).await.unwrap();
    eventually_serves(local, "second").await;
    task.abort();
    d.stop().await;
}
