//! The wire types read back what the server writes with them, so a client decoding the API
//! into them (the `lilt` CLI does) sees what the server meant: the converter's View survives
//! a JSON round trip unchanged and byte for byte, and so do the live server's replies
//! (`/api/view`, `/ws/view` deltas with deletion stubs, `/api/logs`, `/api/logs/search`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TOKEN, sample_logs, sample_snapshot, start, ws_connect};
use futures::StreamExt;
use lilt_engine::{Hold, HoldReason, LogLine, Snapshot};
use lilt_model::{ButtonInput, ButtonInputKind, ButtonLocation};
use lilt_server::convert;
use lilt_server::logs::{LogPage, SearchResult};
use lilt_server::wire::{
    ComponentType, DisableState, IMAGEMAP_KIND, Level, RuntimeStatus, TargetType, UpdateStatus,
    View,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The sample, plus what it lacks: every input kind, an icon, a fatal error and a hold on
/// an image.
fn rich_snapshot() -> Snapshot {
    let mut snap = sample_snapshot();
    let mut plan = (**snap.plan.as_ref().expect("plan")).clone();
    let mut form = common::button("form", ButtonLocation::Global);
    form.icon_name = "build".into();
    form.icon_svg = "<svg/>".into();
    form.inputs = vec![
        ButtonInput {
            name: "verbose".into(),
            label: "Verbose".into(),
            kind: ButtonInputKind::Bool {
                default_value: true,
                true_string: "yes".into(),
                false_string: "no".into(),
            },
        },
        ButtonInput {
            name: "env".into(),
            label: "Env".into(),
            kind: ButtonInputKind::Choice {
                choices: vec!["dev".into(), "prod".into()],
            },
        },
        ButtonInput {
            name: "secret".into(),
            label: String::new(),
            kind: ButtonInputKind::Hidden {
                value: "s3cr3t".into(),
            },
        },
        common::text_input("note", "hello \"quoted\" \u{1b}[1mbold\u{1b}[0m ✓"),
    ];
    plan.buttons.push(form);
    snap.plan = Some(Arc::new(plan));
    snap.state.button_clicks.insert(
        "form".into(),
        lilt_engine::ButtonClick {
            at: common::t(12),
            inputs: vec![
                ("verbose".into(), "yes".into()),
                ("env".into(), "prod".into()),
                ("secret".into(), "s3cr3t".into()),
                ("note".into(), "hi".into()),
            ],
        },
    );
    snap.holds.insert(
        "api".into(),
        Hold {
            reason: HoldReason::BuildingComponent,
            on: vec!["gcr.io/app".into()],
        },
    );
    snap.fatal_error = "cluster unreachable".into();
    snap
}

fn lines() -> (Vec<LogLine>, u64) {
    let store = sample_logs();
    let lines = store.since(0, None).into_iter().cloned().collect();
    (lines, store.checkpoint())
}

/// `text` decoded as `T` and encoded again gives `text` back, byte for byte.
fn assert_round_trip<T: Serialize + DeserializeOwned>(text: &str) -> T {
    let read: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(serde_json::to_string(&read).expect("serializable"), text);
    read
}

#[test]
fn the_converters_view_round_trips_to_equal_structs_and_bytes() {
    let (lines, to) = lines();
    let view = convert::complete_view(&rich_snapshot(), &lines, to);
    let text = serde_json::to_string(&view).expect("serializable");
    let back: View = assert_round_trip(&text);
    assert_eq!(back, view);

    // The sample reaches the typed fields, so the equality above covers them.
    let res = |name: &str| {
        back.ui_resources
            .iter()
            .find(|r| r.metadata.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(res("api").status.runtime_status, RuntimeStatus::Ok);
    assert_eq!(res("web").status.update_status, UpdateStatus::InProgress);
    assert_eq!(
        res("(Tiltfile)").status.runtime_status,
        RuntimeStatus::NotApplicable
    );
    assert_eq!(
        res("worker").status.disable_status.state,
        DisableState::Disabled
    );
    assert_eq!(res("job").status.specs[0].kind, TargetType::Local);
    assert_eq!(
        res("api").status.waiting.as_ref().expect("held").on[0].kind,
        IMAGEMAP_KIND
    );
    let button = |name: &str| {
        back.ui_buttons
            .iter()
            .find(|b| b.metadata.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert!(button("worker-disable").is_disable_toggle_of("worker"));
    assert_eq!(
        button("form").spec.location.component_type,
        ComponentType::Global
    );
    assert_eq!(button("form").status.inputs.len(), 4);
    let log = back.log_list.as_ref().expect("log list");
    assert!(log.segments.iter().any(|s| s.level == Level::Warn));

    // Each object alone, as deltas carry them.
    for res in &view.ui_resources {
        assert_round_trip::<lilt_server::wire::UiResource>(
            &serde_json::to_string(res).expect("serializable"),
        );
    }
    for button in &view.ui_buttons {
        assert_round_trip::<lilt_server::wire::UiButton>(
            &serde_json::to_string(button).expect("serializable"),
        );
    }
}

#[tokio::test]
async fn the_servers_replies_read_back_into_the_wire_types() {
    let (lines, to) = lines();
    let expected = convert::complete_view(&rich_snapshot(), &lines, to);
    let s = start(rich_snapshot(), sample_logs()).await;

    let resp = s.get_authed("/api/view").await;
    assert_eq!(resp.status, 200);
    let view: View = serde_json::from_str(&resp.body).expect("a View");
    assert!(view.is_complete);
    assert_eq!(view.ui_session, expected.ui_session);
    assert_eq!(view.ui_resources, expected.ui_resources);
    assert_eq!(view.ui_buttons, expected.ui_buttons);
    let log = view.log_list.as_ref().expect("log list");
    let want = expected.log_list.as_ref().expect("log list");
    assert_eq!(log.segments, want.segments);
    assert_eq!(log.spans, want.spans);
    // lilt's additions to the complete View's list are read too.
    assert_eq!(log.first_checkpoint, Some(1));
    assert_eq!(log.has_older, Some(false));
    // Nothing the server wrote is lost in the types.
    let raw: serde_json::Value = serde_json::from_str(&resp.body).expect("JSON");
    assert_eq!(serde_json::to_value(&view).expect("serializable"), raw);
    // The objects the CLI prints again (`lilt get -o json`) come out as the server wrote them.
    assert_eq!(
        serde_json::to_string(&view.ui_resources).expect("serializable"),
        raw["uiResources"].to_string()
    );

    let page = s.get_authed("/api/logs?before=4&limit=2").await;
    assert_eq!(page.status, 200);
    let read: LogPage = serde_json::from_str(&page.body).expect("a log page");
    assert_eq!(read.first_checkpoint, 2);
    assert!(read.has_older);
    assert_eq!(read.log_list.segments, want.segments[1..3]);
    let raw: serde_json::Value = serde_json::from_str(&page.body).expect("JSON");
    assert_eq!(serde_json::to_value(&read).expect("serializable"), raw);

    let found = s.get_authed("/api/logs/search?q=deprecated").await;
    assert_eq!(found.status, 200);
    let result: SearchResult = assert_round_trip(&found.body);
    assert_eq!(result.total, 1);
    assert_eq!(result.matches[0].level, Level::Warn);
    assert_eq!(result.matches[0].manifest_name, "web");

    s.stop().await.expect("clean stop");
}

#[tokio::test]
async fn stream_deltas_and_deletion_stubs_read_back() {
    let s = start(rich_snapshot(), sample_logs()).await;
    let mut ws = ws_connect(s.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .expect("upgrade");
    let first = next_view(&mut ws).await;
    assert!(first.is_complete);
    assert!(
        first
            .ui_resources
            .iter()
            .any(|r| r.metadata.name == "worker")
    );

    let mut snap = rich_snapshot();
    snap.state.resources.retain(|r| r.name() != "worker");
    s.snapshots.send(Arc::new(snap)).expect("send");
    let delta = next_view(&mut ws).await;
    assert!(!delta.is_complete);
    let gone: Vec<&str> = delta
        .ui_resources
        .iter()
        .filter(|r| r.metadata.is_deleted())
        .map(|r| r.metadata.name.as_str())
        .collect();
    assert_eq!(gone, ["worker"]);
    let stub = delta
        .ui_resources
        .iter()
        .find(|r| r.metadata.is_deleted())
        .expect("stub");
    // A stub carries only metadata; the rest is the defaults.
    assert_eq!(stub.status, Default::default());
    assert!(
        delta
            .ui_buttons
            .iter()
            .any(|b| b.metadata.name == "worker-disable" && b.metadata.is_deleted())
    );
    s.stop().await.expect("clean stop");
}

/// The next text message decoded as a View, as the CLI decodes it, within 5 s.
async fn next_view(ws: &mut common::Ws) -> View {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("socket open")
            .expect("no socket error");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        }
    }
}
