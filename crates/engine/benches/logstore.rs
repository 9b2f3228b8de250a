//! Benchmarks appending to the bounded log store and prints bytes retained versus budget.

use std::time::{Duration, SystemTime};

use lilt_engine::{LogBudget, LogLevel, LogSource, LogStore, NewLogLine};

const LINES: usize = 1_000_000;
const RESOURCES: usize = 20;

fn main() {
    // One plain run first so the retained-vs-budget figure is printed once, outside the
    // timed iterations.
    let store = fill();
    let budget = store.budget();
    println!(
        "appended {LINES} lines over {RESOURCES} resources: retained {} lines, {} bytes \
         (budget {} total, {} per resource), dropped {} lines / {} bytes",
        store.retained_lines(),
        store.retained_bytes(),
        budget.total_bytes,
        budget.per_resource_bytes,
        store.dropped().lines,
        store.dropped().bytes,
    );
    divan::main();
}

fn fill() -> LogStore {
    let mut store = LogStore::new(LogBudget::DEFAULT);
    let names: Vec<String> = (0..RESOURCES).map(|i| format!("resource-{i}")).collect();
    let base = SystemTime::UNIX_EPOCH;
    for i in 0..LINES {
        store.append(NewLogLine {
            resource: Some(names[i % RESOURCES].clone()),
            span_id: None,
            level: LogLevel::Info,
            time: base + Duration::from_millis(i as u64),
            source: LogSource::Runtime,
            text: format!("{i:>8} GET /api/items?page={} 200 OK in 3ms", i % 97),
        });
    }
    store
}

#[divan::bench(sample_count = 3)]
fn append_one_million_lines() -> LogStore {
    fill()
}

#[divan::bench(sample_count = 3)]
fn since_and_search(bencher: divan::Bencher) {
    let store = fill();
    let pattern = lilt_engine::LogPattern::Text("page=42 ".to_owned());
    bencher.bench(|| {
        let tail = store
            .since(store.checkpoint().saturating_sub(1000), None)
            .len();
        let hits = store.search(&pattern, Some(Some("resource-3"))).len();
        (tail, hits)
    });
}
