//! Over real HTTP: each action's status codes, texts and the engine Action it sends.

mod common;

use common::{TestServer, sample_logs, sample_snapshot, start};
use lilt_engine::Action;
use lilt_model::TriggerMode;

async fn server() -> TestServer {
    start(sample_snapshot(), sample_logs()).await
}

const BUTTON: &str = "/proxy/apis/tilt.dev/v1alpha1/uibuttons";

#[tokio::test]
async fn trigger() {
    let mut s = server().await;
    let ok = s
        .send(
            "POST",
            "/api/trigger",
            r#"{"manifest_names":["api"],"build_reason":16}"#,
        )
        .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, ""));
    assert_eq!(
        s.next_action().await,
        Some(Action::Trigger {
            resource: "api".into()
        })
    );

    let tiltfile = s
        .send(
            "POST",
            "/api/trigger",
            r#"{"manifest_names":["(Tiltfile)"],"build_reason":32}"#,
        )
        .await;
    assert_eq!(tiltfile.status, 200);
    assert_eq!(
        s.next_action().await,
        Some(Action::Trigger {
            resource: "(Tiltfile)".into()
        })
    );

    let disabled = s
        .send("POST", "/api/trigger", r#"{"manifest_names":["worker"]}"#)
        .await;
    assert_eq!(
        (disabled.status, disabled.body.as_str()),
        (200, r#"resource "worker" is currently disabled"#)
    );

    let unknown = s
        .send("POST", "/api/trigger", r#"{"manifest_names":["foo"]}"#)
        .await;
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (404, "resource \"foo\" does not exist\n")
    );

    let two = s
        .send(
            "POST",
            "/api/trigger",
            r#"{"manifest_names":["api","web"]}"#,
        )
        .await;
    assert_eq!(two.status, 400);
    assert!(
        two.body
            .contains("currently supports exactly one manifest name, got 2")
    );

    let malformed = s
        .send("POST", "/api/trigger", r#"{"manifest_names":"#)
        .await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.body.contains("error parsing JSON"));

    let get = s.send("GET", "/api/trigger", "").await;
    assert_eq!(get.status, 400);
    assert!(get.body.contains("must be POST request"));
    assert!(s.no_action());
}

#[tokio::test]
async fn override_trigger_mode() {
    let mut s = server().await;
    let ok = s
        .send(
            "POST",
            "/api/override/trigger_mode",
            r#"{"manifest_names":["api","web"],"trigger_mode":1}"#,
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        s.next_action().await,
        Some(Action::SetTriggerMode {
            resources: vec!["api".into(), "web".into()],
            mode: TriggerMode::ManualWithAutoInit
        })
    );

    let bad_name = s
        .send(
            "POST",
            "/api/override/trigger_mode",
            r#"{"manifest_names":["api","bar"],"trigger_mode":2}"#,
        )
        .await;
    assert_eq!(bad_name.status, 400);
    assert!(bad_name.body.contains("no manifest found with name 'bar'"));

    let bad_mode = s
        .send(
            "POST",
            "/api/override/trigger_mode",
            r#"{"manifest_names":["api"],"trigger_mode":12345}"#,
        )
        .await;
    assert_eq!(bad_mode.status, 400);
    assert!(bad_mode.body.contains("invalid trigger mode: 12345"));

    let unknown_field = s
        .send(
            "POST",
            "/api/override/trigger_mode",
            r#"{"manifest_names":["api"],"trigger_mode":0,"extra":1}"#,
        )
        .await;
    assert_eq!(unknown_field.status, 400);
    assert!(unknown_field.body.contains("unknown field"));

    let get = s.send("GET", "/api/override/trigger_mode", "").await;
    assert_eq!(get.status, 400);
    assert!(s.no_action());
}

#[tokio::test]
async fn set_tiltfile_args() {
    let mut s = server().await;
    let ok = s
        .send(
            "POST",
            "/api/set_tiltfile_args",
            r#"["--foo", "bar", "as df"]"#,
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        s.next_action().await,
        Some(Action::SetTiltfileArgs {
            args: vec!["--foo".into(), "bar".into(), "as df".into()]
        })
    );
    let bad = s
        .send("POST", "/api/set_tiltfile_args", r#"{"args":1}"#)
        .await;
    assert_eq!(bad.status, 400);
    assert!(s.no_action());
}

#[tokio::test]
async fn disable_toggle_clicks_set_enabled() {
    let mut s = server().await;
    let off = r#"{"metadata":{"name":"api-disable"},"status":{"lastClickedAt":"2026-01-01T00:00:00Z","inputs":[{"name":"action","hidden":{"value":"off"}}]}}"#;
    let resp = s
        .send("PUT", &format!("{BUTTON}/api-disable/status"), off)
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        s.next_action().await,
        Some(Action::SetEnabled {
            resources: vec!["api".into()],
            enabled: false
        })
    );

    let on = r#"{"status":{"inputs":[{"name":"action","hidden":{"value":"on"}}]}}"#;
    let resp = s
        .send("PUT", &format!("{BUTTON}/worker-disable/status"), on)
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        s.next_action().await,
        Some(Action::SetEnabled {
            resources: vec!["worker".into()],
            enabled: true
        })
    );

    let missing = s
        .send(
            "PUT",
            &format!("{BUTTON}/api-disable/status"),
            r#"{"status":{}}"#,
        )
        .await;
    assert_eq!(missing.status, 400);
    assert!(s.no_action());
}

#[tokio::test]
async fn button_clicks_send_their_inputs() {
    let mut s = server().await;
    let click = r#"{"metadata":{"name":"seed"},"spec":{"text":"x"},"status":{"lastClickedAt":"2026-01-01T00:00:00Z","inputs":[{"name":"rows","text":{"value":"7"}}]}}"#;
    let resp = s.send("PUT", &format!("{BUTTON}/seed/status"), click).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        s.next_action().await,
        Some(Action::ClickButton {
            name: "seed".into(),
            inputs: vec![("rows".into(), "7".into())]
        })
    );

    // Inputs left out take their default.
    let resp = s
        .send("PUT", &format!("{BUTTON}/seed/status"), r#"{"status":{}}"#)
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        s.next_action().await,
        Some(Action::ClickButton {
            name: "seed".into(),
            inputs: vec![("rows".into(), "100".into())]
        })
    );

    let global = s
        .send("PUT", &format!("{BUTTON}/reset/status"), r#"{"status":{}}"#)
        .await;
    assert_eq!(global.status, 200);
    assert_eq!(
        s.next_action().await,
        Some(Action::ClickButton {
            name: "reset".into(),
            inputs: vec![]
        })
    );
}

#[tokio::test]
async fn bad_button_clicks() {
    let mut s = server().await;
    let disabled = s
        .send(
            "PUT",
            &format!("{BUTTON}/migrate/status"),
            r#"{"status":{}}"#,
        )
        .await;
    assert_eq!(
        (disabled.status, disabled.body.as_str()),
        (409, "waiting for resource web to be ready\n")
    );

    let unknown = s
        .send("PUT", &format!("{BUTTON}/nope/status"), r#"{"status":{}}"#)
        .await;
    assert_eq!(unknown.status, 404);

    let bad_input = s
        .send(
            "PUT",
            &format!("{BUTTON}/seed/status"),
            r#"{"status":{"inputs":[{"name":"nope","text":{"value":"1"}}]}}"#,
        )
        .await;
    assert_eq!(bad_input.status, 400);

    let wrong_name = s
        .send(
            "PUT",
            &format!("{BUTTON}/seed/status"),
            r#"{"metadata":{"name":"reset"},"status":{}}"#,
        )
        .await;
    assert_eq!(wrong_name.status, 400);

    let malformed = s.send("PUT", &format!("{BUTTON}/seed/status"), "{").await;
    assert_eq!(malformed.status, 400);

    let post = s
        .send("POST", &format!("{BUTTON}/seed/status"), r#"{"status":{}}"#)
        .await;
    assert_eq!(post.status, 405);
    assert!(s.no_action());
}

#[tokio::test]
async fn actions_after_the_engine_stopped_get_503() {
    let mut s = server().await;
    s.actions.close();
    let resp = s
        .send("POST", "/api/trigger", r#"{"manifest_names":["api"]}"#)
        .await;
    assert_eq!(resp.status, 503);
}

/// lilt's addition: the dashboard's "Cancel load" stops a Tiltfile evaluation stuck in a
/// `local()` that never ends (issue 9).
#[tokio::test]
async fn cancel_tiltfile_load() {
    let mut s = server().await;
    let ok = s.send("POST", "/api/tiltfile/cancel", "{}").await;
    assert_eq!((ok.status, ok.body.as_str()), (200, ""));
    assert_eq!(s.next_action().await, Some(Action::CancelTiltfileLoad));
    // Like Tilt's action endpoints: another method is a 400 "must be POST request".
    let wrong_method = s.send("GET", "/api/tiltfile/cancel", "").await;
    assert_eq!(
        (wrong_method.status, wrong_method.body.trim()),
        (400, "must be POST request")
    );
}
