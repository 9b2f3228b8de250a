//! Load figures for docs/performance.md (issue 9), through the real `lilt up` with 50
//! resources (each `serve_cmd` prints 400 lines, so a complete View carries 20,000): 20,000
//! idle or half-sent connections and 100 WebSocket clients that never read. Prints the
//! `/api/view` latency from a fresh connection (p50/p99 over 100 requests) before and under
//! that load, lilt's VmRSS (before, peak under load, 10 s after every client closed), and
//! what the server did with the connections. Loopback only, bounded, stops by itself.
//!
//! The idle connections are held by two helper processes (this binary again, 10,000 each),
//! so that no process needs more than the usual 20,000 descriptors.
//! Run with `cargo bench -p lilt --bench server_load`.

#[path = "../tests/browser_support/mod.rs"]
mod browser_support;
mod common;

use common::vm_rss_kb;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use browser_support::{Lilt, project};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const RESOURCES: usize = 50;
const IDLE: usize = 20_000;
const HELPERS: usize = 2;
const WEBSOCKETS: usize = 100;
const SAMPLES: usize = 100;
const ROUNDS: usize = 2;

fn tiltfile() -> String {
    let mut out = String::new();
    for i in 0..RESOURCES {
        out.push_str(&format!(
            "local_resource('svc-{i:02}', cmd='true', serve_cmd='for n in $(seq 1 400); do echo \"svc-{i:02} line $n: the quick brown fox jumps over the lazy dog\"; done; exec sleep 100000')\n"
        ));
    }
    out
}

/// `GET path` on a fresh connection: (status, body bytes, time to the last byte).
async fn get(addr: SocketAddr, path: &str, token: &str) -> (u16, usize, Duration) {
    let start = Instant::now();
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-Tilt-Token: {token}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let status = String::from_utf8_lossy(&raw[..end])
            .split(' ')
            .nth(1)?
            .parse()
            .ok()?;
        Some((status, raw.len() - end - 4))
    };
    match tokio::time::timeout(Duration::from_secs(30), exchange).await {
        Ok(Some((status, len))) => (status, len, start.elapsed()),
        _ => (0, 0, start.elapsed()),
    }
}

async fn latency(addr: SocketAddr, token: &str, label: &str) {
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut failed = 0;
    let mut size = 0;
    for _ in 0..SAMPLES {
        let (status, len, took) = get(addr, "/api/view", token).await;
        if status == 200 {
            size = len;
        } else {
            failed += 1;
        }
        samples.push(took);
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "{label}: GET /api/view ({:.1} MB) from a fresh connection: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {failed} of {SAMPLES} failed",
        size as f64 / 1e6,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
    );
}

/// Opens `/ws/view` with the token and a small receive buffer, then never reads past the
/// upgrade response. `None` when refused.
async fn non_reading_websocket(addr: SocketAddr, token: &str) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.set_recv_buffer_size(4096).ok()?;
    let mut stream = socket.connect(addr).await.ok()?;
    let req = format!(
        "GET /ws/view HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         X-Tilt-Token: {token}\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.ok()?;
        head.push(byte[0]);
    }
    head.starts_with(b"HTTP/1.1 101").then_some(stream)
}

/// An idle connection; every fourth sends half a request head and stops.
async fn idle_connection(addr: SocketAddr, idx: usize) -> Option<TcpStream> {
    let mut stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    if idx.is_multiple_of(4) {
        let _ = stream
            .write_all(b"GET /api/view HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tilt-To")
            .await;
    }
    Some(stream)
}

/// Whether `stream` was closed by the server (EOF or reset), reading what it sent first.
fn closed(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// A helper process: opens `count` idle connections to `addr`, says how many, then on each
/// line of stdin reports how many the server has closed; exits when stdin closes.
async fn helper(spec: &str) {
    let (addr, count) = spec.split_once(',').expect("addr,count");
    let addr: SocketAddr = addr.parse().expect("addr");
    let count: usize = count.parse().expect("count");
    let mut idle = Vec::with_capacity(count);
    let mut failed = 0;
    for batch in (0..count).step_by(1000) {
        let opened = futures::future::join_all(
            (batch..(batch + 1000).min(count)).map(|i| idle_connection(addr, i)),
        )
        .await;
        for stream in opened {
            match stream {
                Some(s) => idle.push(s),
                None => failed += 1,
            }
        }
    }
    println!("{} {failed}", idle.len());
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        if line.is_err() {
            break;
        }
        println!("{}", idle.iter().filter(|s| closed(s)).count());
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(spec) = std::env::var("LILT_LOAD_HELPER") {
        helper(&spec).await;
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = project(&[("Tiltfile", &tiltfile())]);
    let lilt = Lilt::start(dir.path());
    let pid = lilt.pid();
    let token = lilt
        .url
        .split("token=")
        .nth(1)
        .expect("token in the URL")
        .to_owned();
    let addr: SocketAddr = format!("127.0.0.1:{}", lilt.port).parse().expect("addr");

    // Every serve_cmd has printed its lines.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, len, _) = get(addr, "/api/view", &token).await;
        if status == 200 && len > 20_000 * 60 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resources did not print their lines"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = vm_rss_kb(pid);
    println!(
        "lilt up, {RESOURCES} resources, settled: VmRSS {:.1} MB",
        before as f64 / 1024.0
    );
    latency(addr, &token, "no load").await;
    println!(
        "after those 100 requests, before any load: VmRSS {:.1} MB",
        vm_rss_kb(pid) as f64 / 1024.0
    );

    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(vm_rss_kb(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // Which load to apply (`ws`, `idle` or both), to tell their costs apart.
    let parts = std::env::var("LILT_LOAD_PARTS").unwrap_or_else(|_| "ws,idle".to_owned());
    // A second identical round shows whether memory kept after the first is reused.
    for round in 1..=ROUNDS {
        let mut websockets = Vec::new();
        for _ in 0..if parts.contains("ws") { WEBSOCKETS } else { 0 } {
            if let Some(ws) = non_reading_websocket(addr, &token).await {
                websockets.push(ws);
            }
        }
        let exe = std::env::current_exe().expect("own path");
        let mut helpers = Vec::new();
        let (mut opened, mut failed_connects) = (0, 0);
        for _ in 0..if parts.contains("idle") { HELPERS } else { 0 } {
            let mut child = Command::new(&exe)
                .env("LILT_LOAD_HELPER", format!("{addr},{}", IDLE / HELPERS))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a helper");
            let mut out = BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            out.read_line(&mut line).expect("helper ready");
            let mut nums = line
                .split_whitespace()
                .map(|n| n.parse::<usize>().unwrap_or(0));
            opened += nums.next().unwrap_or(0);
            failed_connects += nums.next().unwrap_or(0);
            helpers.push((child, out));
        }
        println!(
            "opened {opened} idle connections, one in four with half a request head ({failed_connects} connects failed), and {} non-reading WebSockets ({} refused)",
            websockets.len(),
            WEBSOCKETS - websockets.len()
        );
        latency(addr, &token, &format!("round {round}, under load")).await;
        let mut closed_by_server = 0;
        for (child, out) in &mut helpers {
            let stdin = child.stdin.as_mut().expect("stdin");
            writeln!(stdin, "report").expect("ask the helper");
            stdin.flush().expect("flush");
            let mut line = String::new();
            out.read_line(&mut line).expect("helper report");
            closed_by_server += line.trim().parse::<usize>().unwrap_or(0);
        }
        let ws_closed = websockets.iter().filter(|s| closed(s)).count();
        println!(
            "round {round}, under load: the server had closed {closed_by_server} of {opened} idle connections and {ws_closed} of {} WebSockets; VmRSS peak {:.1} MB",
            websockets.len(),
            peak.load(Ordering::Relaxed) as f64 / 1024.0
        );

        for (mut child, _) in helpers {
            drop(child.stdin.take());
            let _ = child.wait();
        }
        drop(websockets);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let after = vm_rss_kb(pid);
        println!(
            "round {round}, 10 s after every client closed: VmRSS {:.1} MB ({:+.0} % of the settled {:.1} MB)",
            after as f64 / 1024.0,
            (after as f64 / before as f64 - 1.0) * 100.0,
            before as f64 / 1024.0
        );
        latency(addr, &token, &format!("round {round}, after load")).await;
    }
    sampler.abort();
    drop(lilt);
}
