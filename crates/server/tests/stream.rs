//! Over a real WebSocket: the complete first View, deltas after state changes and new log
//! lines, deletions, and `/api/view`/`/api/snapshot` for comparison.

mod common;

use std::sync::Arc;

use common::{
    TOKEN, build_span, log_line, names, sample_logs, sample_snapshot, start, ws_connect, ws_next,
};
use lilt_engine::LogSource;

#[tokio::test]
async fn first_message_is_the_complete_view() {
    let s = start(sample_snapshot(), sample_logs()).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .unwrap();
    let first = ws_next(&mut ws).await;
    assert_eq!(first["isComplete"], true);
    assert_eq!(
        names(&first, "uiResources"),
        ["(Tiltfile)", "api", "web", "worker", "job"]
    );
    assert_eq!(first["logList"]["segments"].as_array().unwrap().len(), 4);
    assert_eq!(first["logList"]["toCheckpoint"], 4);

    // /api/view gives the same complete View.
    let view = s.get_authed("/api/view").await;
    assert_eq!(view.header("content-type"), Some("application/json"));
    assert_eq!(view.json(), first);
    let no_logs = s.get_authed("/api/view?logs=false").await.json();
    assert_eq!(no_logs["logList"]["segments"].as_array().unwrap().len(), 0);
    assert_eq!(no_logs["logList"]["toCheckpoint"], 4);
    assert_eq!(no_logs["uiResources"], first["uiResources"]);

    let snapshot = s.get_authed("/api/snapshot").await.json();
    assert_eq!(snapshot["view"], first);
    assert!(snapshot["createdAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn state_change_sends_only_the_changed_resource() {
    let s = start(sample_snapshot(), sample_logs()).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .unwrap();
    ws_next(&mut ws).await;

    let mut snap = sample_snapshot();
    snap.state.resources[3].triggered_at = None; // job leaves the queue
    s.snapshots.send(Arc::new(snap)).unwrap();
    let delta = ws_next(&mut ws).await;
    assert_eq!(delta["isComplete"], false);
    assert_eq!(names(&delta, "uiResources"), ["job"]);
    assert_eq!(delta["uiResources"][0]["status"]["queued"], false);
    assert_eq!(names(&delta, "uiButtons"), Vec::<String>::new());
    assert!(delta.get("uiSession").is_none());
    assert!(delta.get("logList").is_none());

    // Disabling a resource changes it and its toggle.
    let mut snap = sample_snapshot();
    snap.state.resources[3].triggered_at = None;
    snap.state.resources[0].enabled = false;
    s.snapshots.send(Arc::new(snap)).unwrap();
    let delta = ws_next(&mut ws).await;
    assert_eq!(names(&delta, "uiResources"), ["api"]);
    assert_eq!(names(&delta, "uiButtons"), ["api-disable"]);
    assert_eq!(
        delta["uiButtons"][0]["spec"]["inputs"][0]["hidden"]["value"],
        "on"
    );
}

#[tokio::test]
async fn new_log_lines_arrive_as_a_delta() {
    let s = start(sample_snapshot(), sample_logs()).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .unwrap();
    ws_next(&mut ws).await;

    {
        let mut store = s.logs.lock().unwrap();
        store.append(log_line(
            Some("web"),
            build_span(5),
            LogSource::Build,
            "step 1",
        ));
        store.append(log_line(
            Some("web"),
            build_span(5),
            LogSource::Build,
            "step 2",
        ));
    }
    // No snapshot is published: the socket finds the lines by itself.
    let delta = ws_next(&mut ws).await;
    assert_eq!(delta["isComplete"], false);
    assert_eq!(delta["logList"]["fromCheckpoint"], 4);
    assert_eq!(delta["logList"]["toCheckpoint"], 6);
    let texts: Vec<_> = delta["logList"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["step 1\n", "step 2\n"]);
    assert_eq!(delta["logList"]["spans"]["build:5"]["manifestName"], "web");
    assert_eq!(names(&delta, "uiResources"), Vec::<String>::new());
}

#[tokio::test]
async fn removed_resources_are_sent_as_deletions() {
    let s = start(sample_snapshot(), sample_logs()).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .unwrap();
    ws_next(&mut ws).await;

    let mut snap = sample_snapshot();
    snap.state.resources.retain(|r| r.name() != "worker");
    s.snapshots.send(Arc::new(snap)).unwrap();
    let delta = ws_next(&mut ws).await;
    // job moved up one place (its `order` changed); worker is gone.
    assert_eq!(names(&delta, "uiResources"), ["job", "worker"]);
    assert_eq!(delta["uiResources"][0]["status"]["order"], 4);
    assert!(delta["uiResources"][1]["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(names(&delta, "uiButtons"), ["worker-disable"]);
    assert!(delta["uiButtons"][0]["metadata"]["deletionTimestamp"].is_string());
}

#[tokio::test]
async fn dropped_lines_make_the_socket_start_over() {
    let mut logs = lilt_engine::LogStore::new(lilt_engine::LogBudget {
        per_resource_bytes: 2_000,
        total_bytes: 100_000,
    });
    logs.append(log_line(
        Some("api"),
        build_span(2),
        LogSource::Build,
        "first",
    ));
    let s = start(sample_snapshot(), logs).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .unwrap();
    ws_next(&mut ws).await;
    {
        // More lines than the budget keeps: some the client never saw are gone.
        let mut store = s.logs.lock().unwrap();
        for idx in 0..100 {
            store.append(log_line(
                Some("api"),
                build_span(2),
                LogSource::Build,
                &format!("line {idx}"),
            ));
        }
    }
    let next = ws_next(&mut ws).await;
    assert_eq!(next["isComplete"], true);
    let segs = next["logList"]["segments"].as_array().unwrap();
    assert!(segs.len() < 100);
    assert_eq!(segs.last().unwrap()["text"], "line 99\n");
    assert_eq!(next["logList"]["toCheckpoint"], 101);
}

#[tokio::test]
async fn many_clients_each_get_their_deltas() {
    let s = start(sample_snapshot(), sample_logs()).await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
            .await
            .unwrap();
        ws_next(&mut ws).await;
        sockets.push(ws);
    }
    let mut snap = sample_snapshot();
    snap.fatal_error = "boom".to_owned();
    s.snapshots.send(Arc::new(snap)).unwrap();
    for ws in &mut sockets {
        let delta = ws_next(ws).await;
        assert_eq!(delta["uiSession"]["status"]["fatalError"], "boom");
        assert_eq!(names(&delta, "uiResources"), Vec::<String>::new());
    }
}

#[tokio::test]
async fn socket_closes_when_the_engine_goes_away() {
    use futures::StreamExt;
    let s = start(sample_snapshot(), sample_logs()).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .unwrap();
    ws_next(&mut ws).await;
    let common::TestServer { snapshots, .. } = s;
    drop(snapshots);
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return true,
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(end, Ok(true));
}

#[tokio::test]
async fn bursts_are_coalesced_into_few_complete_deltas() {
    let s = start(sample_snapshot(), sample_logs()).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .unwrap();
    ws_next(&mut ws).await;
    for idx in 0..50 {
        let mut snap = sample_snapshot();
        snap.fatal_error = format!("error {idx}");
        s.snapshots.send(Arc::new(snap)).unwrap();
    }
    // Intermediate states may be skipped; every message carries a change, and the last
    // state always arrives. The 50 states are published without a pause, so a stream that
    // coalesces sends a handful of messages (at most one per MIN_INTERVAL while the burst
    // lasts); one that forwards every state sends 50. The bound leaves room for a stalled
    // machine, not for a stream that does not coalesce.
    let mut messages = 0;
    loop {
        let delta = ws_next(&mut ws).await;
        messages += 1;
        assert!(delta.get("uiSession").is_some(), "an empty delta: {delta}");
        if delta["uiSession"]["status"]["fatalError"] == "error 49" {
            break;
        }
    }
    assert!(
        messages <= 5,
        "{messages} messages for one burst: states were not coalesced"
    );
}

#[tokio::test]
async fn unknown_api_paths_are_not_found() {
    let s = start(sample_snapshot(), sample_logs()).await;
    assert_eq!(s.get_authed("/api/nope").await.status, 404);
    assert_eq!(
        s.get_authed("/proxy/apis/tilt.dev/v1alpha1/uiresources/api")
            .await
            .status,
        404
    );
}
