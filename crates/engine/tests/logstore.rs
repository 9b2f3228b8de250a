//! The bounded log store: checkpoints, budgets, dropping, search.

use std::time::{Duration, SystemTime};

use lilt_engine::{
    LogBudget, LogLevel, LogLine, LogPattern, LogSource, LogStore, LogStoreError, NewLogLine,
};

fn line(resource: Option<&str>, text: &str) -> NewLogLine {
    NewLogLine {
        resource: resource.map(str::to_owned),
        span_id: None,
        level: LogLevel::Info,
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
        source: LogSource::Runtime,
        text: text.to_owned(),
    }
}

fn texts(lines: &[&LogLine]) -> Vec<String> {
    lines.iter().map(|l| l.text.clone()).collect()
}

/// The cost of one line, measured the way the store does, so budgets can be set in lines.
fn one_line_cost(resource: &str, text: &str) -> usize {
    let mut store = LogStore::new(LogBudget::DEFAULT);
    store.append(line(Some(resource), text));
    store.retained_bytes()
}

/// Appends `(resource, text)` lines under a budget measured in lines of 2-byte text on
/// 1-byte names; checks the retained text in order and the count dropped.
fn check_budget(
    per_resource: usize,
    total: usize,
    lines: &[(&str, &str)],
    kept: &[&str],
    dropped: u64,
) {
    let unit = one_line_cost("a", "xx");
    let mut store = LogStore::new(LogBudget {
        per_resource_bytes: per_resource * unit,
        total_bytes: total * unit,
    });
    for (resource, text) in lines {
        store.append(line(Some(resource), text));
    }
    assert_eq!(texts(&store.since(0, None)), kept);
    assert_eq!(store.dropped().lines, dropped);
    assert!(store.retained_bytes() <= total * unit);
}

#[test]
fn per_resource_budget_drops_that_resources_oldest_lines() {
    check_budget(
        2,
        100,
        &[
            ("a", "a1"),
            ("b", "b1"),
            ("a", "a2"),
            ("a", "a3"),
            ("b", "b2"),
        ],
        &["b1", "a2", "a3", "b2"],
        1,
    );
}

#[test]
fn global_budget_drops_the_globally_oldest_lines() {
    check_budget(
        10,
        3,
        &[
            ("a", "a1"),
            ("b", "b1"),
            ("a", "a2"),
            ("c", "c1"),
            ("b", "b2"),
        ],
        &["a2", "c1", "b2"],
        2,
    );
}

#[test]
fn an_oversized_line_is_kept_alone() {
    let mut store = LogStore::new(LogBudget {
        per_resource_bytes: 10,
        total_bytes: 10,
    });
    store.append(line(Some("a"), "first"));
    store.append(line(Some("a"), &"x".repeat(100)));
    assert_eq!(store.retained_lines(), 1);
    assert_eq!(store.resource_dropped(Some("a")).lines, 1);
}

#[test]
fn checkpoints_stream_deltas() {
    let mut store = LogStore::new(LogBudget::DEFAULT);
    let first = store.append(line(Some("a"), "one\n"));
    let second = store.append(line(None, "global"));
    assert!(second > first);
    let mark = store.checkpoint();
    store.append(line(Some("b"), "three\r\n"));
    store.append(line(Some("a"), "four"));
    assert_eq!(texts(&store.since(mark, None)), ["three", "four"]);
    assert_eq!(texts(&store.since(0, Some(Some("a")))), ["one", "four"]);
    assert_eq!(texts(&store.since(0, Some(None))), ["global"]);
    assert!(store.since(store.checkpoint(), None).is_empty());
}

#[test]
fn dropped_lines_move_the_first_checkpoint() {
    let unit = one_line_cost("a", "xx");
    let mut store = LogStore::new(LogBudget {
        per_resource_bytes: 2 * unit,
        total_bytes: 2 * unit,
    });
    for text in ["l1", "l2", "l3"] {
        store.append(line(Some("a"), text));
    }
    assert_eq!(store.first_checkpoint(), Some(2));
    assert_eq!(store.resource_bytes(Some("a")), 2 * unit);
    assert_eq!(store.dropped().bytes, unit as u64);
}

#[test]
fn append_text_splits_lines() {
    let mut store = LogStore::new(LogBudget::DEFAULT);
    let last = store.append_text(line(Some("a"), "x\ny\nz\n"));
    assert_eq!(last, 3);
    assert_eq!(texts(&store.since(0, None)), ["x", "y", "z"]);
}

#[test]
fn search_by_text_and_regex() {
    let mut store = LogStore::new(LogBudget::DEFAULT);
    store.append(line(Some("api"), "GET /health 200"));
    store.append(line(Some("api"), "GET /items 500"));
    store.append(line(Some("web"), "compiled in 500ms"));
    let text = LogPattern::Text("500".into());
    assert_eq!(
        texts(&store.search(&text, None)),
        ["GET /items 500", "compiled in 500ms"]
    );
    assert_eq!(
        texts(&store.search(&text, Some(Some("web")))),
        ["compiled in 500ms"]
    );
    let re = LogPattern::regex(r"^GET /\w+ 2\d\d$").expect("valid regex");
    assert_eq!(texts(&store.search(&re, None)), ["GET /health 200"]);
}

#[test]
fn bad_regex_is_an_error_not_a_panic() {
    let err = LogPattern::regex("(unclosed").map(|_| ()).unwrap_err();
    assert!(matches!(err, LogStoreError::BadPattern { ref pattern, .. } if pattern == "(unclosed"));
    assert!(
        err.to_string()
            .starts_with("invalid log search pattern \"(unclosed\"")
    );
}
