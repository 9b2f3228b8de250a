//! Measurements for docs/performance.md (not a test: it asserts nothing and prints figures):
//! the latency from a published snapshot to the WebSocket message that shows it (p50/p99
//! over 200 changes, with 5 and with 1,000 resources), and the size and build time of the
//! complete View (which carries the newest 20,000 lines) with 1,000 resources and 1,000,000
//! retained log lines over `/api/view`, and the log pages and search over that log.
//!
//! Run with `cargo bench -p lilt-server --bench view`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    TOKEN, build_span, local, log_line, resource, sample_logs, sample_snapshot, start, ws_connect,
    ws_next,
};
use lilt_engine::{LogBudget, LogSource, LogStore, Snapshot};

const CHANGES: usize = 200;

fn many_resources(n: usize) -> Snapshot {
    let mut snap = sample_snapshot();
    snap.state.resources = (0..n)
        .map(|idx| resource(local(&format!("svc-{idx:04}"), "make", "./run")))
        .collect();
    snap
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

async fn latency(label: &str, base: Snapshot) {
    let s = start(base.clone(), sample_logs()).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .expect("socket");
    ws_next(&mut ws).await;
    let mut samples = Vec::with_capacity(CHANGES);
    for idx in 0..CHANGES {
        // Changes arrive further apart than the coalescing interval, as a person's edits do.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut snap = base.clone();
        snap.fatal_error = format!("change {idx}");
        let sent = Instant::now();
        s.snapshots.send(Arc::new(snap)).expect("publish");
        let msg = ws_next(&mut ws).await;
        samples.push(sent.elapsed());
        assert_eq!(
            msg["uiSession"]["status"]["fatalError"],
            format!("change {idx}")
        );
    }
    samples.sort();
    println!(
        "snapshot change -> WebSocket message, {label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {CHANGES} changes",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
    );
}

async fn complete_view() {
    let resources = 1_000;
    let lines = 1_000_000;
    let mut store = LogStore::new(LogBudget {
        per_resource_bytes: 1 << 30,
        total_bytes: 1 << 30,
    });
    for idx in 0..lines {
        let res = format!("svc-{:04}", idx % resources);
        store.append(log_line(
            Some(&res),
            build_span((idx % resources) as u64 + 10),
            LogSource::Build,
            &format!(
                "line {idx}: processed batch {} of records in {} ms",
                idx % 1000,
                idx % 300
            ),
        ));
    }
    // What each endpoint holds the log lock for: copying its lines (the JSON is written
    // after the lock is released).
    let t0 = Instant::now();
    let tail = lilt_server::logs::tail(&store, true);
    let tail_copy = t0.elapsed();
    let snap = many_resources(resources);
    let keys = lilt_server::logs::resource_keys(&snap);
    let t0 = Instant::now();
    let page = lilt_server::logs::page(&store, &keys, None, Some(5_001), 5_000);
    let deep_page = t0.elapsed();
    let t0 = Instant::now();
    let rare = lilt_server::logs::page(&store, &keys, Some("svc-0007"), Some(500_000), 200);
    let resource_page = t0.elapsed();
    let re = lilt_server::logs::term_regex("/batch 99[0-9] of/").expect("regex");
    let t0 = Instant::now();
    let found = lilt_server::logs::search(&store, &re, None, 1_000);
    let searched = t0.elapsed();
    println!(
        "  log lock held: complete-View tail copy {:.1} ms ({} lines); oldest 5,000-line page {:.0} ms; one resource's 200-line page {:.1} ms; regex search of all {lines} lines {:.0} ms ({} matches)",
        tail_copy.as_secs_f64() * 1e3,
        tail.lines.len(),
        deep_page.as_secs_f64() * 1e3,
        resource_page.as_secs_f64() * 1e3,
        searched.as_secs_f64() * 1e3,
        found.total,
    );
    assert_eq!(page.lines.len(), 5_000);
    assert_eq!(rare.lines.len(), 200);
    drop((tail, page, rare, found));
    let s = start(snap, store).await;
    for _ in 0..2 {
        let t0 = Instant::now();
        let resp = s.get_authed("/api/view?logs=false").await;
        println!(
            "  without logs: {:.1} ms ({} bytes)",
            t0.elapsed().as_secs_f64() * 1e3,
            resp.body.len()
        );
    }
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t0 = Instant::now();
        let resp = s.get_authed("/api/view").await;
        times.push(t0.elapsed());
        assert_eq!(resp.status, 200);
        size = resp.body.len();
    }
    times.sort();
    let t0 = Instant::now();
    let no_logs = s.get_authed("/api/view?logs=false").await;
    let no_logs_time = t0.elapsed();
    println!(
        "complete View, {resources} resources + {lines} log lines over /api/view: {:.1} MB, median {:.0} ms (min {:.0} ms) of 5; without logs {:.2} MB in {:.1} ms",
        size as f64 / 1e6,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        no_logs.body.len() as f64 / 1e6,
        no_logs_time.as_secs_f64() * 1e3,
    );
    let endpoint = |label: &'static str, path: &'static str| {
        let s = &s;
        async move {
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..5 {
                let t0 = Instant::now();
                let resp = s.get_authed(path).await;
                times.push(t0.elapsed());
                assert_eq!(resp.status, 200, "{path}");
                size = resp.body.len();
            }
            times.sort();
            println!(
                "  {label}: median {:.1} ms of 5 ({:.2} MB)",
                percentile(&times, 0.5).as_secs_f64() * 1e3,
                size as f64 / 1e6
            );
        }
    };
    endpoint("GET /api/logs (5,000 lines, newest)", "/api/logs").await;
    endpoint(
        "GET /api/logs?before=5001 (the oldest 5,000)",
        "/api/logs?before=5001",
    )
    .await;
    endpoint(
        "GET /api/logs?resource=svc-0007&before=500000&limit=200",
        "/api/logs?resource=svc-0007&before=500000&limit=200",
    )
    .await;
    endpoint(
        "GET /api/logs/search?q=/batch 99[0-9] of/ (all lines)",
        "/api/logs/search?q=%2Fbatch%2099%5B0-9%5D%20of%2F",
    )
    .await;
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run only checks it builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        latency("5 resources", sample_snapshot()).await;
        latency("1,000 resources", many_resources(1_000)).await;
        complete_view().await;
    });
}
