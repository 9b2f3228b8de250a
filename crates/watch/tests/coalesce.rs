//! The coalescer as a pure state machine: instants are made up, nothing sleeps.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lilt_watch::{Batch, CoalesceConfig, Coalescer};

const QUIET: Duration = Duration::from_millis(30);
const MAX: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn p(name: &str) -> PathBuf {
    PathBuf::from(format!("/w/{name}"))
}

fn coalescer() -> Coalescer {
    Coalescer::new(CoalesceConfig {
        quiet: QUIET,
        max: MAX,
    })
}

fn paths(batch: &Batch) -> Vec<PathBuf> {
    batch.paths.iter().cloned().collect()
}

#[test]
fn an_idle_coalescer_has_no_deadline_and_no_batch() {
    let mut c = coalescer();
    let t0 = Instant::now();
    assert_eq!(c.deadline(), None);
    assert_eq!(c.poll(t0 + ms(1000)), None);
    c.push(t0, Vec::new());
    assert!(c.is_idle());
}

#[test]
fn a_burst_closes_after_the_quiet_window() {
    let mut c = coalescer();
    let t0 = Instant::now();
    c.push(t0, [p("a")]);
    c.push(t0 + ms(10), [p("b")]);
    c.push(t0 + ms(20), [p("a")]);
    assert_eq!(c.deadline(), Some(t0 + ms(50)));
    assert_eq!(c.poll(t0 + ms(49)), None);
    let batch = c.poll(t0 + ms(50));
    assert_eq!(batch.as_ref().map(paths), Some(vec![p("a"), p("b")]));
    assert!(c.is_idle());
}

#[test]
fn events_after_a_gap_start_a_new_batch() {
    let mut c = coalescer();
    let t0 = Instant::now();
    c.push(t0, [p("a")]);
    assert!(c.poll(t0 + ms(31)).is_some());
    c.push(t0 + ms(100), [p("b")]);
    assert_eq!(c.deadline(), Some(t0 + ms(130)));
    assert_eq!(c.poll(t0 + ms(130)).map(|b| paths(&b)), Some(vec![p("b")]));
}

#[test]
fn a_continuous_stream_is_cut_at_the_maximum() {
    let mut c = coalescer();
    let t0 = Instant::now();
    let mut now = t0;
    let mut batches = Vec::new();
    // One event every 10 ms for 25 s: never quiet, so only the maximum closes batches.
    for step in 0..2500u64 {
        c.push(now, [p(&format!("f{}", step % 7))]);
        now = t0 + ms(10 * (step + 1));
        if let Some(batch) = c.poll(now) {
            batches.push((now, batch));
        }
    }
    let times: Vec<Duration> = batches.iter().map(|(at, _)| *at - t0).collect();
    assert_eq!(times, vec![ms(10_000), ms(20_000)]);
    assert_eq!(batches[0].1.paths.len(), 7);
}

#[test]
fn the_deadline_is_the_earlier_of_quiet_and_max() {
    let mut c = Coalescer::new(CoalesceConfig {
        quiet: ms(30),
        max: ms(50),
    });
    let t0 = Instant::now();
    c.push(t0, [p("a")]);
    c.push(t0 + ms(40), [p("b")]);
    assert_eq!(c.deadline(), Some(t0 + ms(50)));
}

#[test]
fn overflow_marks_the_batch_and_carries_the_roots() {
    let mut c = coalescer();
    let t0 = Instant::now();
    c.push(t0, [p("a")]);
    c.push_overflow(t0 + ms(5), [PathBuf::from("/w")]);
    let batch = c.poll(t0 + ms(35));
    assert_eq!(
        batch,
        Some(Batch {
            paths: [PathBuf::from("/w"), p("a")].into_iter().collect(),
            overflowed: true,
        })
    );
    c.push(t0 + ms(100), [p("b")]);
    assert_eq!(c.poll(t0 + ms(200)).map(|b| b.overflowed), Some(false));
}

#[test]
fn flush_closes_the_batch_early() {
    let mut c = coalescer();
    let t0 = Instant::now();
    assert_eq!(c.flush(), None);
    c.push(t0, [p("a")]);
    assert_eq!(c.flush().map(|b| paths(&b)), Some(vec![p("a")]));
    assert_eq!(c.poll(t0 + ms(1000)), None);
}
