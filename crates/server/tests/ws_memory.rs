//! Issue 9: slow WebSocket clients cost a full View each. Clients that open `/ws/view` and
//! never read must not each hold a copy of the complete View (megabytes with a long log),
//! and the memory must come back when they leave. Alone in its test binary, so the
//! process's resident memory is this test's.

mod common;

use std::time::Duration;

use common::{TOKEN, build_span, log_line, sample_snapshot, start, ws_connect, ws_next};
use lilt_engine::{LogBudget, LogSource, LogStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const CLIENTS: usize = 40;

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Opens `/ws/view` with a tiny receive buffer and reads only the upgrade response.
async fn non_reading_client(addr: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(addr).await.expect("connect");
    let req = format!(
        "GET /ws/view HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         X-Tilt-Token: {TOKEN}\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .await
            .expect("upgrade response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_websocket_clients_cost_a_full_view_each() {
    let mut logs = LogStore::new(LogBudget {
        per_resource_bytes: 64 << 20,
        total_bytes: 64 << 20,
    });
    let text = "x".repeat(250);
    for idx in 0..20_000 {
        logs.append(log_line(
            Some("api"),
            build_span(2),
            LogSource::Build,
            &format!("{idx} {text}"),
        ));
    }
    let server = start(sample_snapshot(), logs).await;
    // A reading client first: the View is built and its size known.
    let mut reader = ws_connect(server.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .expect("socket");
    let view_bytes = ws_next(&mut reader).await.to_string().len();
    assert!(view_bytes > 4 << 20, "the View is {view_bytes} bytes");
    let baseline = rss_bytes();

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(non_reading_client(server.addr).await);
    }
    // Let every socket task write until its client's buffers are full.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_clients = rss_bytes();
    let grown = with_clients.saturating_sub(baseline);
    // One View per client would be CLIENTS × view_bytes; a shared View and bounded write
    // buffers stay far below even a quarter of that.
    assert!(
        grown < CLIENTS * view_bytes / 4,
        "{CLIENTS} non-reading clients grew memory by {} MB (View: {} MB)",
        grown >> 20,
        view_bytes >> 20
    );
    drop(clients);
    drop(reader);
    server.stop().await.expect("stop");
}
