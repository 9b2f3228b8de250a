//! Measurements for docs/performance.md (not a test: it asserts nothing and prints figures):
//! the latency from a published snapshot to the WebSocket message that shows it (p50/p99
//! over 200 changes, with 5 and with 1,000 resources), and the size and build time of the
//! complete View with 1,000 resources and 1,000,000 retained log lines over `/api/view`.
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
    let t0 = Instant::now();
    let refs = store.since(0, None);
    let collected = t0.elapsed();
    let t0 = Instant::now();
    let mut json = String::with_capacity(150 << 20);
    lilt_server::convert::write_complete_log_list(&mut json, &refs, store.checkpoint());
    let written = t0.elapsed();
    println!(
        "  in process: collect lines {:.0} ms, write JSON {:.0} ms ({:.1} MB)",
        collected.as_secs_f64() * 1e3,
        written.as_secs_f64() * 1e3,
        json.len() as f64 / 1e6
    );
    drop((refs, json));
    let s = start(many_resources(resources), store).await;
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
