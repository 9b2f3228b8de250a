//! Dev-loop figures of the real binary (issue 4), printed as p50/p99 and resource usage:
//!
//! - file saved → the affected resource's `cmd` started (the command stamps its own start
//!   time with `date +%s%N`);
//! - an idle `lilt up` with 50 local resources: CPU share of one core and memory.
//!
//! Run with `cargo bench -p lilt --bench dev_loop` (release build). A distribution, not a
//! single timing, is the point, so this bench has its own harness instead of divan's.

mod common;

use common::status_kb;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    // `cargo bench` passes `--bench`; anything else (such as a filter) is ignored.
    let samples = std::env::var("LILT_BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    file_to_cmd(samples);
    idle(50, Duration::from_secs(30));
}

fn lilt_up(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lilt"))
        .current_dir(dir)
        .args(["up", "--stream", "--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lilt up")
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn file_to_cmd(samples: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("src/input.txt"), "0").expect("write");
    std::fs::write(
        dir.path().join("Tiltfile"),
        "local_resource('r', cmd='date +%s%N > started', deps=['src'], allow_parallel=True)\n",
    )
    .expect("write Tiltfile");
    let mut child = lilt_up(dir.path());
    let started = dir.path().join("started");
    let read = || std::fs::read_to_string(&started).unwrap_or_default();
    assert!(
        wait_for(|| !read().is_empty()),
        "initial run did not happen"
    );
    // Let the initial run and its file events settle.
    std::thread::sleep(Duration::from_millis(500));
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let before = read();
        let t0 = now_nanos();
        std::fs::write(dir.path().join("src/input.txt"), i.to_string()).expect("write");
        if !wait_for(|| {
            let now = read();
            !now.trim().is_empty() && now != before
        }) {
            eprintln!("sample {i}: no run within 20 s");
            continue;
        }
        let stamp: u128 = read().trim().parse().unwrap_or(t0);
        latencies.push((stamp.saturating_sub(t0)) as f64 / 1e6);
        // Keep samples apart so one batch never holds two writes.
        std::thread::sleep(Duration::from_millis(150));
    }
    let _ = child.kill();
    let _ = child.wait();
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!(
        "file saved -> cmd started: n={} p50={:.1} ms p99={:.1} ms min={:.1} ms max={:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.first().copied().unwrap_or_default(),
        latencies.last().copied().unwrap_or_default()
    );
}

/// CPU ticks (user + system) of a process.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields after the command: state is [0]; utime and stime are the 14th and 15th stat
    // fields, i.e. [11] and [12] here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn idle(resources: usize, window: Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tiltfile = String::new();
    for i in 0..resources {
        std::fs::create_dir_all(dir.path().join(format!("src/{i}"))).expect("mkdir");
        tiltfile.push_str(&format!(
            "local_resource('r{i}', cmd='true', serve_cmd='exec sleep 100000', deps=['src/{i}'], labels=['group{}'])\n",
            i % 5
        ));
    }
    std::fs::write(dir.path().join("Tiltfile"), tiltfile).expect("write Tiltfile");
    let mut child = lilt_up(dir.path());
    let pid = child.id();
    // Everything starts within a few seconds; then lilt has nothing to do.
    std::thread::sleep(Duration::from_secs(10));
    let ticks_per_sec = 100.0; // USER_HZ on Linux.
    let before = cpu_ticks(pid).unwrap_or_default();
    let t0 = Instant::now();
    std::thread::sleep(window);
    let after = cpu_ticks(pid).unwrap_or_default();
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu_percent = (after.saturating_sub(before)) as f64 / ticks_per_sec / elapsed * 100.0;
    let rss = status_kb(pid, "VmRSS:").unwrap_or_default();
    let hwm = status_kb(pid, "VmHWM:").unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "idle lilt up, {resources} local resources: cpu={cpu_percent:.3}% of one core over {:.0} s, rss={:.1} MB, peak rss={:.1} MB",
        elapsed,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}
