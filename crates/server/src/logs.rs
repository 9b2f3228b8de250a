//! The log endpoints that keep the dashboard fast with a large retained log: the bounded
//! tail the complete View carries, `GET /api/logs` (older lines, a page at a time) and
//! `GET /api/logs/search` (a search over everything retained).
//!
//! Every endpoint copies the lines it needs while holding the store's lock and serialises
//! after releasing it, so the engine's log appends wait for a copy of at most one page,
//! never for JSON writing.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use lilt_engine::{Checkpoint, LogLine, LogPattern, LogStore};
use lilt_model::TILTFILE_RESOURCE;
use serde::{Deserialize, Serialize};

use crate::app::{AppState, json_response};
use crate::convert;
use crate::security::{query_param, text};
use crate::wire::{Level, LogList};
use lilt_model::rfc3339;

/// How many of the newest checkpoints a complete View covers: enough for the first screen
/// of every view and then some, small enough that the first render stays fast with any
/// amount of retained log.
pub const VIEW_TAIL_LINES: u64 = 20_000;
/// The default and largest page of `/api/logs`.
pub const PAGE_DEFAULT: usize = 5_000;
pub const PAGE_MAX: usize = 50_000;
/// The default and largest number of matches `/api/logs/search` returns.
pub const SEARCH_DEFAULT: usize = 1_000;
pub const SEARCH_MAX: usize = 10_000;
/// Compiled-regex size limit for search patterns typed into the dashboard.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The newest lines for a complete View, copied out of the store.
pub struct Tail {
    pub lines: Vec<LogLine>,
    /// The store's checkpoint when copied.
    pub to: Checkpoint,
    /// Whether the store retains lines older than the first of `lines`.
    pub has_older: bool,
}

/// Copies the lines of the newest [`VIEW_TAIL_LINES`] checkpoints (none with `logs == false`).
pub fn tail(store: &LogStore, logs: bool) -> Tail {
    let to = store.checkpoint();
    let from = if logs {
        to.saturating_sub(VIEW_TAIL_LINES)
    } else {
        to
    };
    let lines: Vec<LogLine> = store.since(from, None).into_iter().cloned().collect();
    let first = lines.first().map_or(to + 1, |l| l.checkpoint);
    let has_older = store.first_checkpoint().is_some_and(|cp| cp < first);
    Tail {
        lines,
        to,
        has_older,
    }
}

/// Writes the complete View's `logList`: Tilt's fields, plus **lilt**'s `firstCheckpoint`
/// (the checkpoint of the first segment, the cursor for `/api/logs?before=`) and `hasOlder`.
pub(crate) fn write_tail_log_list(out: &mut String, tail: &Tail) {
    let first = tail.lines.first().map_or(tail.to + 1, |l| l.checkpoint);
    let from = tail.to.saturating_sub(tail.lines.len() as u64);
    let extra = format!(
        r#","firstCheckpoint":{first},"hasOlder":{}"#,
        tail.has_older
    );
    out.reserve(tail.lines.iter().map(|l| l.text.len() + 96).sum());
    convert::write_log_list_with(out, &tail.lines, from, tail.to, &extra);
}

/// Which lines a request is about: one resource's (by the name the dashboard shows them
/// under) or all.
fn resource_filter(query: &str) -> Option<String> {
    query_param(query, "resource").filter(|r| !r.is_empty() && r != "(all)")
}

/// Lines after `after` for `resource` (all when `None`), in append order. The Tiltfile's
/// lines may be stored without a resource, so `(Tiltfile)` also takes those.
fn lines_after<'a>(
    store: &'a LogStore,
    after: Checkpoint,
    resource: Option<&str>,
) -> Vec<&'a LogLine> {
    match resource {
        None => store.since(after, None),
        Some(name) => {
            let mut lines = store.since(after, Some(Some(name)));
            if name == TILTFILE_RESOURCE {
                lines.extend(
                    store
                        .since(after, Some(None))
                        .into_iter()
                        .filter(|l| convert::manifest_for(l) == TILTFILE_RESOURCE),
                );
                lines.sort_by_key(|l| l.checkpoint);
            }
            lines
        }
    }
}

/// A page of older lines: at most `limit` lines before `before`, the newest of them.
pub struct Page {
    pub lines: Vec<LogLine>,
    pub has_older: bool,
    pub to: Checkpoint,
}

/// The store keys to page through for all resources: the global log, the Tiltfile's and each
/// resource of the snapshot. Going key by key and merging only the page avoids sorting every
/// retained line by checkpoint (what [`LogStore::since`] does for all keys at once).
pub fn resource_keys(snapshot: &lilt_engine::Snapshot) -> Vec<Option<String>> {
    let mut keys = vec![None, Some(TILTFILE_RESOURCE.to_owned())];
    keys.extend(
        snapshot
            .state
            .resources
            .iter()
            .map(|r| Some(r.name().to_owned())),
    );
    keys
}

/// Finds the page by looking back over a window of checkpoints that grows until it holds
/// `limit` lines or reaches the oldest retained line, so a page of a sparse resource deep in
/// a busy log does not collect every line of the store. `keys` (see [`resource_keys`]) are
/// the logs that make up "all resources".
pub fn page(
    store: &LogStore,
    keys: &[Option<String>],
    resource: Option<&str>,
    before: Option<Checkpoint>,
    limit: usize,
) -> Page {
    let to = store.checkpoint();
    let before = before.unwrap_or(to + 1).min(to + 1);
    let oldest = store.first_checkpoint().unwrap_or(to + 1);
    let mut window = (limit as u64).max(64);
    loop {
        let after = before.saturating_sub(window + 1);
        let reached_oldest = after < oldest;
        // The page, and whether lines before it were left in the window.
        let (lines, more) = match resource {
            Some(name) => {
                let lines = lines_after(store, after, Some(name));
                let end = lines.partition_point(|l| l.checkpoint < before);
                let start = end.saturating_sub(limit);
                (lines[start..end].to_vec(), start > 0)
            }
            None => newest_before(store, keys, after, before, limit),
        };
        if more || lines.len() >= limit || reached_oldest {
            return Page {
                lines: lines.into_iter().cloned().collect(),
                // Short of scanning further we cannot tell that a sparse resource has nothing
                // older; then the next request gets an empty page with `hasOlder: false`.
                has_older: more || !reached_oldest,
                to,
            };
        }
        window = window.saturating_mul(4);
    }
}

/// The newest `limit` lines with `after < checkpoint < before` over `keys`, in order, and
/// whether older ones were left over.
fn newest_before<'a>(
    store: &'a LogStore,
    keys: &[Option<String>],
    after: Checkpoint,
    before: Checkpoint,
    limit: usize,
) -> (Vec<&'a LogLine>, bool) {
    let runs: Vec<Vec<&LogLine>> = keys
        .iter()
        .map(|key| {
            let mut lines = store.since(after, Some(key.as_deref()));
            lines.truncate(lines.partition_point(|l| l.checkpoint < before));
            lines
        })
        .filter(|run| !run.is_empty())
        .collect();
    // A k-way merge from the newest end, stopping after `limit` lines.
    let mut heads: std::collections::BinaryHeap<(Checkpoint, usize)> = runs
        .iter()
        .enumerate()
        .map(|(idx, run)| (run[run.len() - 1].checkpoint, idx))
        .collect();
    let mut ends: Vec<usize> = runs.iter().map(Vec::len).collect();
    let mut out = Vec::with_capacity(limit.min(1 << 16));
    while out.len() < limit {
        let Some((_, idx)) = heads.pop() else { break };
        ends[idx] -= 1;
        out.push(runs[idx][ends[idx]]);
        if ends[idx] > 0 {
            heads.push((runs[idx][ends[idx] - 1].checkpoint, idx));
        }
    }
    out.reverse();
    (out, !heads.is_empty())
}

/// A query the log endpoints refuse (400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadQuery {
    #[error("query parameter {name:?} must be a non-negative integer, got {value:?}")]
    Number { name: &'static str, value: String },
    #[error("query parameter \"q\" is required")]
    MissingTerm,
    #[error("invalid regex: {0}")]
    Regex(String),
}

fn number(query: &str, name: &'static str) -> Result<Option<u64>, BadQuery> {
    match query_param(query, name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(value) => value
            .parse::<u64>()
            .map(Some)
            .map_err(|_| BadQuery::Number { name, value }),
    }
}

pub(crate) async fn logs_handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let parsed = number(&query, "before").and_then(|before| {
        let limit =
            number(&query, "limit")?.map_or(PAGE_DEFAULT, |n| (n as usize).clamp(1, PAGE_MAX));
        Ok((before, limit))
    });
    let (before, limit) = match parsed {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let resource = resource_filter(&query);
    let built = tokio::task::spawn_blocking(move || {
        let keys = resource_keys(&state.snapshot());
        let page = page(&state.logs(), &keys, resource.as_deref(), before, limit);
        page_json(&page)
    })
    .await;
    match built {
        Ok(json) => json_response(json),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "failed to read the logs"),
    }
}

/// The reply of `GET /api/logs`, as [`page_json`] writes it (by hand, for speed) and a client
/// reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogPage {
    pub log_list: LogList,
    /// The cursor for the next page (`before=`); 0 when the page is empty.
    pub first_checkpoint: Checkpoint,
    pub has_older: bool,
}

/// `{"logList": …, "firstCheckpoint": n, "hasOlder": bool}` (a [`LogPage`]);
/// `firstCheckpoint` is the cursor for the next page (`before=`).
pub(crate) fn page_json(page: &Page) -> String {
    let first = page.lines.first().map_or(0, |l| l.checkpoint);
    let last = page.lines.last().map_or(page.to, |l| l.checkpoint);
    let mut out =
        String::with_capacity(page.lines.iter().map(|l| l.text.len() + 96).sum::<usize>() + 128);
    out.push_str(r#"{"logList":"#);
    convert::write_log_list(&mut out, &page.lines, first.saturating_sub(1), last);
    out.push_str(&format!(
        r#","firstCheckpoint":{first},"hasOlder":{}}}"#,
        page.has_older
    ));
    out
}

/// A search term as the dashboard's filter box has it: `/re/` is a regex, anything else a
/// substring; both ignore case and match the text without ANSI escapes.
pub fn term_regex(q: &str) -> Result<regex::Regex, BadQuery> {
    let q = q.trim();
    if q.is_empty() {
        return Err(BadQuery::MissingTerm);
    }
    let pattern = if q.len() >= 2 && q.starts_with('/') && q.ends_with('/') {
        q[1..q.len() - 1].to_owned()
    } else {
        regex::escape(q)
    };
    regex::RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| BadQuery::Regex(e.to_string()))
}

/// One search hit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Match {
    pub checkpoint: Checkpoint,
    pub manifest_name: String,
    pub span_id: String,
    pub time: String,
    pub level: Level,
    pub text: String,
}

/// The reply of `GET /api/logs/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchResult {
    /// The newest `limit` matches, in append order.
    pub matches: Vec<Match>,
    /// All matches among the retained lines.
    pub total: usize,
    pub truncated: bool,
    /// The oldest retained checkpoint (0 when none): matches in lines before it are gone.
    pub first_checkpoint: Checkpoint,
    pub to_checkpoint: Checkpoint,
}

/// Searches every retained line of `resource` (all when `None`).
pub fn search(
    store: &LogStore,
    re: &regex::Regex,
    resource: Option<&str>,
    limit: usize,
) -> SearchResult {
    // The store filters (and sorts only what passes): lines the term matches as stored, and
    // lines with escapes, which are matched again without them.
    let candidates = regex::RegexBuilder::new(&format!("(?i:{})|\\x1b", re.as_str()))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_or_else(|_| LogPattern::Regex(re.clone()), LogPattern::Regex);
    let mut lines = store.search(&candidates, resource.map(Some));
    if resource == Some(TILTFILE_RESOURCE) {
        lines.extend(
            store
                .search(&candidates, Some(None))
                .into_iter()
                .filter(|l| convert::manifest_for(l) == TILTFILE_RESOURCE),
        );
        lines.sort_by_key(|l| l.checkpoint);
    }
    let first_checkpoint = store.first_checkpoint().unwrap_or(0);
    let mut hits: std::collections::VecDeque<&LogLine> = std::collections::VecDeque::new();
    let mut total = 0;
    let mut plain = String::new();
    for line in lines {
        let matched = if line.text.contains('\u{1b}') {
            strip_ansi_into(&line.text, &mut plain);
            re.is_match(&plain)
        } else {
            true
        };
        if matched {
            total += 1;
            if hits.len() == limit {
                hits.pop_front();
            }
            hits.push_back(line);
        }
    }
    // Copy the hits (small) under the lock; formatting happens in the caller afterwards.
    let matches = hits
        .into_iter()
        .map(|l| Match {
            checkpoint: l.checkpoint,
            manifest_name: convert::manifest_for(l),
            span_id: convert::span_id_string(l.span_id, l.resource.as_deref(), l.source),
            time: rfc3339::format(l.time),
            level: convert::level(l.level),
            text: l.text.clone(),
        })
        .collect::<Vec<_>>();
    SearchResult {
        truncated: total > matches.len(),
        matches,
        total,
        first_checkpoint,
        to_checkpoint: store.checkpoint(),
    }
}

/// Removes ANSI CSI sequences (`ESC [ … final`) and other two-byte escapes.
fn strip_ansi_into(text: &str, out: &mut String) {
    out.clear();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                // OSC: up to BEL or ESC \.
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
}

pub(crate) async fn search_handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let parsed = term_regex(&query_param(&query, "q").unwrap_or_default()).and_then(|re| {
        let limit =
            number(&query, "limit")?.map_or(SEARCH_DEFAULT, |n| (n as usize).clamp(1, SEARCH_MAX));
        Ok((re, limit))
    });
    let (re, limit) = match parsed {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let resource = resource_filter(&query);
    let built = tokio::task::spawn_blocking(move || {
        let result = search(&state.logs(), &re, resource.as_deref(), limit);
        serde_json::to_string(&result).unwrap_or_else(|_| "null".to_owned())
    })
    .await;
    match built {
        Ok(json) => json_response(json),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to search the logs",
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use lilt_engine::{LogBudget, LogLevel, LogSource, NewLogLine};

    use super::*;

    fn store(lines: &[(&str, &str)]) -> LogStore {
        let mut store = LogStore::new(LogBudget::DEFAULT);
        for (res, text) in lines {
            store.append(NewLogLine {
                resource: Some((*res).to_owned()),
                span_id: None,
                level: LogLevel::Info,
                time: UNIX_EPOCH,
                source: LogSource::Runtime,
                text: (*text).to_owned(),
            });
        }
        store
    }

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn pages_walk_back_to_the_oldest_line() {
        let lines: Vec<(String, String)> = (0..1000)
            .map(|i| {
                (
                    (if i % 10 == 0 { "a" } else { "b" }).to_owned(),
                    format!("l{i}"),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = lines
            .iter()
            .map(|(r, t)| (r.as_str(), t.as_str()))
            .collect();
        let store = store(&refs);
        let keys = [None, Some("a".to_owned()), Some("b".to_owned())];

        let p = page(&store, &keys, None, Some(501), 100);
        assert_eq!(p.lines.len(), 100);
        assert_eq!(p.lines[0].checkpoint, 401);
        assert_eq!(p.lines[99].text, "l499");
        assert!(p.has_older);

        // Resource "a" has a line every 10 checkpoints: the window has to grow.
        let mut before = None;
        let mut seen = Vec::new();
        loop {
            let p = page(&store, &keys, Some("a"), before, 30);
            seen.splice(0..0, p.lines.iter().map(|l| l.text.clone()));
            before = p.lines.first().map(|l| l.checkpoint);
            if !p.has_older {
                break;
            }
            assert!(
                before.is_some(),
                "an empty page says there is nothing older"
            );
        }
        let want: Vec<String> = (0..1000).step_by(10).map(|i| format!("l{i}")).collect();
        assert_eq!(seen, want);

        let p = page(&store, &keys, None, Some(1), 100);
        assert!(p.lines.is_empty());
        assert!(!p.has_older);
    }

    #[test]
    fn tail_is_bounded_and_says_whether_older_lines_exist() {
        let store = store(&[("a", "one"), ("a", "two")]);
        let t = tail(&store, true);
        assert_eq!(texts(&t.lines), ["one", "two"]);
        assert!(!t.has_older);
        let t = tail(&store, false);
        assert!(t.lines.is_empty());
        assert!(t.has_older);
        let mut out = String::new();
        write_tail_log_list(&mut out, &tail(&store, true));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["firstCheckpoint"], 1);
        assert_eq!(v["hasOlder"], false);
        assert_eq!(v["toCheckpoint"], 2);
        assert_eq!(v["segments"][1]["text"], "two\n");
    }

    #[test]
    fn pages_read_back_as_log_pages() {
        let store = store(&[("a", "one"), ("b", "two \"quoted\""), ("a", "three")]);
        let keys = [None, Some("a".to_owned()), Some("b".to_owned())];
        let p = page(&store, &keys, None, Some(3), 10);
        let read: LogPage = serde_json::from_str(&page_json(&p)).unwrap();
        assert_eq!(read.first_checkpoint, 1);
        assert!(!read.has_older);
        assert_eq!(read.log_list.from_checkpoint, 0);
        assert_eq!(read.log_list.to_checkpoint, 2);
        let texts: Vec<&str> = read
            .log_list
            .segments
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(texts, ["one\n", "two \"quoted\"\n"]);
        assert_eq!(read.log_list.segments[1].level, Level::Info);
        assert_eq!(read.log_list.spans["unknown:b"].manifest_name, "b");
        // What the hand-written JSON says is what the struct says: no field is lost.
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::from_str::<serde_json::Value>(&page_json(&p)).unwrap()
        );
    }

    #[test]
    fn search_results_read_back() {
        let store = store(&[("a", "Error one"), ("b", "fine")]);
        let result = search(&store, &term_regex("error").unwrap(), None, 10);
        let json = serde_json::to_string(&result).unwrap();
        let read: SearchResult = serde_json::from_str(&json).unwrap();
        assert_eq!(read, result);
        assert_eq!(serde_json::to_string(&read).unwrap(), json);
    }

    #[test]
    fn search_terms_ignore_case_and_ansi() {
        let store = store(&[
            ("a", "Error: \u{1b}[31mdisk\u{1b}[0m full"),
            ("b", "all good"),
            ("a", "error again"),
            ("b", "ERROR in b"),
        ]);
        let r = search(&store, &term_regex("error: disk").unwrap(), None, 10);
        assert_eq!(r.total, 1);
        assert_eq!(r.matches[0].checkpoint, 1);

        let r = search(&store, &term_regex("/^error/").unwrap(), None, 2);
        assert_eq!(r.total, 3);
        assert!(r.truncated);
        let hits: Vec<&str> = r.matches.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(hits, ["error again", "ERROR in b"]);

        let r = search(&store, &term_regex("error").unwrap(), Some("b"), 10);
        assert_eq!(r.total, 1);
        assert_eq!(r.matches[0].manifest_name, "b");

        assert_eq!(term_regex("  ").unwrap_err(), BadQuery::MissingTerm);
        assert!(matches!(term_regex("/a(/"), Err(BadQuery::Regex(_))));
        // A slash-delimited term is a regex; the same characters otherwise are literal.
        assert!(term_regex("a(").unwrap().is_match("xa(y"));
    }
}
