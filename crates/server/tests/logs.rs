//! The log endpoints over real HTTP: the complete View's bounded tail, `/api/logs` pages back
//! to the oldest retained line, `/api/logs/search`, and the WebSocket falling back to a
//! complete View for a client further behind than the tail.

mod common;

use common::{TOKEN, local, log_line, resource, sample_snapshot, start, ws_connect, ws_next};
use lilt_engine::{LogBudget, LogSource, LogStore};
use lilt_server::logs::VIEW_TAIL_LINES;

/// A snapshot whose resources are `busy` and `rare`.
fn snapshot() -> lilt_engine::Snapshot {
    let mut snap = sample_snapshot();
    snap.state.resources = vec![
        resource(local("busy", "", "./run")),
        resource(local("rare", "", "./run")),
    ];
    snap
}

/// `n` lines: every 100th in `rare`, the rest in `busy`; texts are `line <checkpoint>`.
fn big_store(n: u64) -> LogStore {
    let mut store = LogStore::new(LogBudget {
        per_resource_bytes: 1 << 30,
        total_bytes: 1 << 30,
    });
    for cp in 1..=n {
        let res = if cp % 100 == 0 { "rare" } else { "busy" };
        store.append(log_line(
            Some(res),
            None,
            LogSource::Runtime,
            &format!("line {cp}"),
        ));
    }
    store
}

fn texts(log_list: &serde_json::Value) -> Vec<String> {
    log_list["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| s["text"].as_str().expect("text").trim_end().to_owned())
        .collect()
}

#[tokio::test]
async fn complete_view_carries_the_tail_and_pages_reach_every_line() {
    let total = VIEW_TAIL_LINES + 7_000;
    let s = start(snapshot(), big_store(total)).await;

    let view = s.get_authed("/api/view").await.json();
    let log = &view["logList"];
    let tail = texts(log);
    assert_eq!(tail.len() as u64, VIEW_TAIL_LINES);
    assert_eq!(
        tail.last().map(String::as_str),
        Some(&*format!("line {total}"))
    );
    assert_eq!(log["toCheckpoint"], total);
    assert_eq!(log["fromCheckpoint"], total - VIEW_TAIL_LINES);
    assert_eq!(log["firstCheckpoint"], total - VIEW_TAIL_LINES + 1);
    assert_eq!(log["hasOlder"], true);

    // Page back through everything older, 3,000 at a time.
    let mut before = log["firstCheckpoint"].as_u64().expect("cursor");
    let mut older: Vec<String> = Vec::new();
    loop {
        let page = s
            .get_authed(&format!("/api/logs?before={before}&limit=3000"))
            .await;
        assert_eq!(page.status, 200);
        let page = page.json();
        let mut lines = texts(&page["logList"]);
        assert!(lines.len() <= 3000);
        lines.append(&mut older);
        older = lines;
        if page["hasOlder"] != true {
            break;
        }
        before = page["firstCheckpoint"].as_u64().expect("cursor");
    }
    let want: Vec<String> = (1..=total - VIEW_TAIL_LINES)
        .map(|cp| format!("line {cp}"))
        .collect();
    assert_eq!(older.len(), want.len());
    assert!(
        older == want,
        "pages are not the lines before the tail, in order"
    );

    // One resource's lines, which the busy one pushed out of the tail.
    let page = s
        .get_authed(&format!(
            "/api/logs?resource=rare&before={}&limit=50",
            total - VIEW_TAIL_LINES + 1
        ))
        .await
        .json();
    let lines = texts(&page["logList"]);
    assert_eq!(lines.len(), 50);
    assert_eq!(
        lines[49],
        format!("line {}", (total - VIEW_TAIL_LINES) / 100 * 100)
    );
    assert_eq!(
        page["logList"]["spans"]["unknown:rare"]["manifestName"],
        "rare"
    );
    assert_eq!(page["hasOlder"], true);
}

#[tokio::test]
async fn search_covers_every_retained_line() {
    let s = start(snapshot(), big_store(30_000)).await;
    // "line 12345" is older than the tail; the regex matches 10 lines, all of "rare".
    let r = s.get_authed("/api/logs/search?q=LINE%2012345").await.json();
    assert_eq!(r["total"], 1);
    assert_eq!(r["matches"][0]["checkpoint"], 12345);
    assert_eq!(r["matches"][0]["manifestName"], "busy");
    assert_eq!(r["matches"][0]["text"], "line 12345");

    let r = s
        .get_authed("/api/logs/search?q=%2F%5Eline%201%5Cd00%24%2F&limit=4")
        .await
        .json();
    assert_eq!(r["total"], 10);
    assert_eq!(r["truncated"], true);
    let cps: Vec<u64> = r["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| m["checkpoint"].as_u64().expect("checkpoint"))
        .collect();
    assert_eq!(cps, [1600, 1700, 1800, 1900]);

    let r = s
        .get_authed("/api/logs/search?q=%2F%5Eline%201%5Cd00%24%2F&resource=rare")
        .await
        .json();
    assert_eq!(r["total"], 10);

    let bad = s.get_authed("/api/logs/search?q=%2Fa(%2F").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.starts_with("invalid regex"), "{}", bad.body);
    assert_eq!(s.get_authed("/api/logs/search").await.status, 400);
    assert_eq!(s.get_authed("/api/logs?before=x").await.status, 400);
    // Like every API route, both need the token.
    assert_eq!(s.get("/api/logs/search?q=x", &[]).await.status, 401);
    assert_eq!(s.get("/api/logs", &[]).await.status, 401);
}

#[tokio::test]
async fn a_socket_far_behind_gets_a_complete_view() {
    let s = start(snapshot(), big_store(10)).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .expect("socket");
    let first = ws_next(&mut ws).await;
    assert_eq!(first["isComplete"], true);
    {
        let mut store = s.logs.lock().expect("store");
        for idx in 0..VIEW_TAIL_LINES + 10 {
            store.append(log_line(
                Some("busy"),
                None,
                LogSource::Runtime,
                &format!("more {idx}"),
            ));
        }
    }
    let next = ws_next(&mut ws).await;
    assert_eq!(next["isComplete"], true);
    assert_eq!(texts(&next["logList"]).len() as u64, VIEW_TAIL_LINES);
    assert_eq!(next["logList"]["hasOlder"], true);
}
