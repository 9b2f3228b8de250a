//! Issue 9, over real HTTP on 127.0.0.1: what a local process can hold is bounded. Idle and
//! half-sent connections time out, the connection cap closes unauthenticated connections
//! first, a client that stops reading a response is let go, and WebSockets are capped.
//! Waits are bounded; nothing asserts on how long something took.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    TOKEN, build_span, log_line, request, sample_logs, sample_snapshot, start_with_limits,
    ws_connect, ws_next,
};
use lilt_engine::{LogBudget, LogSource, LogStore};
use lilt_server::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Long enough for any request in these tests, short enough to wait for.
fn short_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// Whether the server closed `stream` (EOF or reset) within a generous bound, reading and
/// discarding whatever it sends first.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = vec![0u8; 64 << 10];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .is_ok()
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; returns the status.
async fn read_response(stream: &mut TcpStream) -> u16 {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "connection closed mid-response");
            raw.extend_from_slice(&buf[..n]);
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if raw.len() >= end + 4 + length {
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
                return status.expect("status");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a response within 10 s")
}

fn view_request(addr: SocketAddr) -> String {
    format!("GET /api/view?logs=false HTTP/1.1\r\nHost: {addr}\r\nX-Tilt-Token: {TOKEN}\r\n\r\n")
}

#[tokio::test]
async fn connections_exhaust_the_server_idle_and_half_sent_ones_time_out() {
    let server = start_with_limits(sample_snapshot(), sample_logs(), short_limits()).await;
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    // A request head that never ends.
    let mut half = TcpStream::connect(server.addr).await.expect("connect");
    half.write_all(b"GET /api/view HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tilt-")
        .await
        .expect("write");
    // A kept-alive connection after one answered request.
    let mut kept = TcpStream::connect(server.addr).await.expect("connect");
    kept.write_all(view_request(server.addr).as_bytes())
        .await
        .expect("write");
    assert_eq!(read_response(&mut kept).await, 200);

    assert!(closed_by_server(&mut silent).await, "silent connection");
    assert!(closed_by_server(&mut half).await, "half-sent request head");
    assert!(
        closed_by_server(&mut kept).await,
        "idle keep-alive connection"
    );
}

#[tokio::test]
async fn connections_exhaust_the_server_unauthenticated_ones_go_first_at_the_cap() {
    let limits = Limits {
        max_connections: 8,
        ..Limits::default()
    };
    let server = start_with_limits(sample_snapshot(), sample_logs(), limits).await;
    // A client that presented the token keeps its connection alive between requests.
    let mut authed = TcpStream::connect(server.addr).await.expect("connect");
    authed
        .write_all(view_request(server.addr).as_bytes())
        .await
        .expect("write");
    assert_eq!(read_response(&mut authed).await, 200);

    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    // A fresh client is still served...
    let fresh = request(
        server.addr,
        "GET",
        "/api/view?logs=false",
        &[("X-Tilt-Token", TOKEN)],
        "",
    )
    .await;
    assert_eq!(fresh.status, 200);
    // ...because the oldest unauthenticated connections were closed to make room: of the
    // 20, at most 7 fit beside the authenticated one.
    for (idx, stream) in idle.iter_mut().take(13).enumerate() {
        assert!(
            closed_by_server(stream).await,
            "idle connection {idx} is still open"
        );
    }
    // The authenticated connection was left alone.
    authed
        .write_all(view_request(server.addr).as_bytes())
        .await
        .expect("write");
    assert_eq!(read_response(&mut authed).await, 200);
}

/// A View of several megabytes: more than loopback's socket buffers hold.
fn big_logs() -> LogStore {
    let mut store = LogStore::new(LogBudget {
        per_resource_bytes: 64 << 20,
        total_bytes: 64 << 20,
    });
    let text = "x".repeat(400);
    for idx in 0..20_000 {
        store.append(log_line(
            Some("api"),
            build_span(2),
            LogSource::Build,
            &format!("{idx} {text}"),
        ));
    }
    store
}

#[tokio::test]
async fn slow_clients_hold_a_view_each_a_stalled_http_reader_is_let_go() {
    let server = start_with_limits(sample_snapshot(), big_logs(), short_limits()).await;
    let socket = TcpSocket::new_v4().expect("socket");
    // A fixed receive window: the kernel does not grow it to take the whole View.
    socket.set_recv_buffer_size(64 << 10).expect("SO_RCVBUF");
    let mut stream = socket.connect(server.addr).await.expect("connect");
    let req = format!(
        "GET /api/view HTTP/1.1\r\nHost: {}\r\nX-Tilt-Token: {TOKEN}\r\n\r\n",
        server.addr
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    // Not reading, for longer than the idle timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw)).await;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the response began");
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    assert!(
        read.is_ok() && raw.len() - end - 4 < length,
        "the stalled client was kept, with its View, until it read ({} of {length} bytes)",
        raw.len() - end - 4
    );
}

#[tokio::test]
async fn slow_websocket_clients_cost_a_view_each_sockets_are_capped() {
    let limits = Limits {
        max_websockets: 2,
        ..Limits::default()
    };
    let server = start_with_limits(sample_snapshot(), sample_logs(), limits).await;
    let auth = [("X-Tilt-Token", TOKEN)];
    let mut first = ws_connect(server.addr, &auth).await.expect("first");
    let mut second = ws_connect(server.addr, &auth).await.expect("second");
    ws_next(&mut first).await;
    ws_next(&mut second).await;
    assert_eq!(ws_connect(server.addr, &auth).await.err(), Some(503));
    // A place frees up when a socket closes.
    drop(first);
    let mut admitted = false;
    for _ in 0..100 {
        if ws_connect(server.addr, &auth).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a new socket is admitted after one closed");
}
