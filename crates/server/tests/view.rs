//! The pure conversion: the complete View of a snapshot with several resources (golden
//! JSON), and the rules behind individual fields.

mod common;

use common::{log_line, sample_logs, sample_snapshot, t};
use lilt_engine::{LogSource, SpanId, SpanKind};
use lilt_server::convert;
use serde_json::{Value, json};

fn complete(snapshot: &lilt_engine::Snapshot) -> Value {
    let store = sample_logs();
    let lines: Vec<_> = store.since(0, None).into_iter().cloned().collect();
    let view = convert::complete_view(snapshot, &lines, store.checkpoint());
    serde_json::to_value(&view).expect("serializable")
}

fn by_name<'a>(view: &'a Value, key: &str, name: &str) -> &'a Value {
    view[key]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["metadata"]["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {key}"))
}

#[test]
fn complete_view_golden() {
    // Snapshot serde_json's own text: insta's serializer would print numbers as a private
    // struct when starlark turns on serde_json's `arbitrary_precision` in a workspace build.
    let text = serde_json::to_string_pretty(&complete(&sample_snapshot())).expect("json");
    insta::assert_snapshot!("complete_view", text);
}

#[test]
fn tiltfile_comes_first_and_order_follows_the_manifests() {
    let view = complete(&sample_snapshot());
    let names: Vec<_> = view["uiResources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metadata"]["name"].as_str().unwrap().to_owned(),
                r["status"]["order"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("(Tiltfile)", 1),
            ("api", 2),
            ("web", 3),
            ("worker", 4),
            ("job", 5)
        ]
        .map(|(n, o)| (n.to_owned(), o))
    );
}

#[test]
fn tiltfile_error_is_in_its_last_build() {
    let mut snap = sample_snapshot();
    snap.state
        .tiltfile
        .history
        .push_back(lilt_engine::BuildRecord {
            span_id: SpanId {
                kind: SpanKind::Tiltfile,
                seq: 9,
            },
            error: Some("Tiltfile:3:1: undefined: foo".to_owned()),
            ..common::build(9, 30, Some(31), None)
        });
    let view = complete(&snap);
    let tf = by_name(&view, "uiResources", "(Tiltfile)");
    assert_eq!(tf["status"]["updateStatus"], "error");
    assert_eq!(
        tf["status"]["buildHistory"][0]["error"],
        "Tiltfile:3:1: undefined: foo"
    );
    assert_eq!(
        tf["status"]["buildHistory"][0]["spanID"],
        "tiltfile:(Tiltfile):9"
    );
    assert_eq!(tf["status"]["buildHistory"][1]["error"], "");
}

#[test]
fn builds_carry_their_images_and_local_builds_keep_tilts_shape() {
    let mut snap = sample_snapshot();
    let api = snap
        .state
        .resources
        .iter_mut()
        .find(|r| r.name() == "api")
        .unwrap();
    let mut record = api.history.back().unwrap().clone();
    record.images = vec![lilt_model::BuiltImage {
        image_ref: "shop/api".to_owned(),
        built_ref: "127.0.0.1:5100/shop_api:tilt-0123456789abcdef".to_owned(),
        digest: Some("sha256:aa".to_owned()),
        cached: true,
        pushed: true,
    }];
    api.history.push_back(record);
    let view = complete(&snap);
    let api = by_name(&view, "uiResources", "api");
    assert_eq!(
        api["status"]["buildHistory"][0]["images"],
        json!([{
            "imageRef": "shop/api",
            "ref": "127.0.0.1:5100/shop_api:tilt-0123456789abcdef",
            "digest": "sha256:aa",
            "cached": true,
            "pushed": true,
        }])
    );
    // A build without images has no `images` key at all, as in Tilt.
    let older = api["status"]["buildHistory"][1].as_object().unwrap();
    assert!(!older.contains_key("images"), "{older:?}");
}

#[test]
fn live_updates_carry_their_record_and_other_builds_leave_it_out() {
    let mut snap = sample_snapshot();
    let api = snap
        .state
        .resources
        .iter_mut()
        .find(|r| r.name() == "api")
        .unwrap();
    let mut record = api.history.back().unwrap().clone();
    record.error = Some("live update: `make` exited with 2".to_owned());
    record.live_update = Some(lilt_model::LiveUpdateRecord {
        containers: vec!["default/api-1/app".to_owned(), "docker:0123abcd".to_owned()],
        files_copied: 2,
        files_deleted: 1,
        runs: vec!["make".to_owned()],
        restarted: true,
        elapsed: std::time::Duration::from_micros(84_900),
    });
    api.history.push_back(record);
    let view = complete(&snap);
    let api = by_name(&view, "uiResources", "api");
    let newest = &api["status"]["buildHistory"][0];
    assert_eq!(
        newest["liveUpdate"],
        json!({
            "containers": ["default/api-1/app", "docker:0123abcd"],
            "filesCopied": 2,
            "filesDeleted": 1,
            "runs": ["make"],
            "restarted": true,
            "elapsedMs": 84,
        })
    );
    // The failure's reason stays where every build's error is.
    assert_eq!(newest["error"], "live update: `make` exited with 2");
    // Builds that were not live updates have no `liveUpdate` key, as in Tilt.
    let older = api["status"]["buildHistory"][1].as_object().unwrap();
    assert!(!older.contains_key("liveUpdate"), "{older:?}");
}

#[test]
fn a_kubernetes_resource_shows_its_current_pod() {
    let mut snap = sample_snapshot();
    let manifest = lilt_model::Manifest {
        name: "db".to_owned(),
        image_targets: Vec::new(),
        deploy: lilt_model::DeployTarget::K8s(lilt_model::K8sTarget::default()),
        trigger_mode: lilt_model::TriggerMode::Auto,
        resource_deps: Vec::new(),
        labels: Default::default(),
        source_tiltfile: String::new(),
    };
    let mut db = common::resource(manifest);
    db.runtime.info = Some(lilt_engine::RuntimeInfo {
        name: "db-7c9f-x2".to_owned(),
        status: "CrashLoopBackOff (last exit code 1)".to_owned(),
        restarts: 3,
        created: Some(t(20)),
        all_ready: false,
        health: None,
    });
    snap.state.resources.push(db);
    let view = complete(&snap);
    let db = by_name(&view, "uiResources", "db");
    assert_eq!(
        db["status"]["k8sResourceInfo"],
        json!({
            "podName": "db-7c9f-x2",
            "podCreationTime": lilt_model::rfc3339::format(t(20)),
            "podStatus": "CrashLoopBackOff (last exit code 1)",
            "allContainersReady": false,
            "podRestarts": 3,
            "spanID": "pod:db:db-7c9f-x2",
        })
    );
    let api = by_name(&view, "uiResources", "api");
    assert!(
        api["status"].get("k8sResourceInfo").is_none(),
        "local resources have none"
    );
}

#[test]
fn statuses_come_from_the_engine() {
    let view = complete(&sample_snapshot());
    let api = &by_name(&view, "uiResources", "api")["status"];
    assert_eq!(api["updateStatus"], "ok");
    assert_eq!(api["runtimeStatus"], "ok");
    assert_eq!(api["localResourceInfo"]["pid"], 4242);
    assert_eq!(
        api["endpointLinks"],
        json!([{"url": "http://localhost:8080/", "name": "api"}])
    );
    assert_eq!(
        api["specs"],
        json!([{"id": "local:api", "type": "local", "hasLiveUpdate": false}])
    );

    let web = &by_name(&view, "uiResources", "web")["status"];
    assert_eq!(web["updateStatus"], "in_progress");
    assert_eq!(web["currentBuild"]["spanID"], "build:5");
    assert_eq!(web["buildHistory"][0]["error"], "exit status 2");
    assert_eq!(web["hasPendingChanges"], true);
    assert_eq!(web["pendingBuildSince"], "2026-09-21T14:13:29.000000Z");

    let worker = &by_name(&view, "uiResources", "worker")["status"];
    assert_eq!(worker["updateStatus"], "none");
    assert_eq!(worker["runtimeStatus"], "none");
    assert_eq!(worker["disableStatus"]["state"], "Disabled");
    assert_eq!(worker["disableStatus"]["disabledCount"], 1);

    let job = &by_name(&view, "uiResources", "job")["status"];
    assert_eq!(job["queued"], true);
    assert_eq!(job["triggerMode"], 2);
    assert_eq!(
        job["waiting"],
        json!({"reason": "waiting-for-dep", "on": [{"group": "tilt.dev", "apiVersion": "v1alpha1", "kind": "UIResource", "name": "api"}]})
    );
    assert_eq!(
        by_name(&view, "uiResources", "api")["metadata"]["labels"],
        json!({"backend": "backend"})
    );
}

#[test]
fn disable_toggles_follow_the_resource_state() {
    let view = complete(&sample_snapshot());
    let on = by_name(&view, "uiButtons", "api-disable");
    assert_eq!(
        on["metadata"]["annotations"]["tilt.dev/uibutton-type"],
        "DisableToggle"
    );
    assert_eq!(
        on["spec"]["location"],
        json!({"componentType": "Resource", "componentID": "api"})
    );
    assert_eq!(on["spec"]["text"], "Disable Resource");
    assert_eq!(on["spec"]["requiresConfirmation"], true);
    assert_eq!(
        on["spec"]["inputs"],
        json!([{"name": "action", "label": "", "hidden": {"value": "off"}}])
    );

    let off = by_name(&view, "uiButtons", "worker-disable");
    assert_eq!(off["spec"]["text"], "Enable Resource");
    assert_eq!(off["spec"]["requiresConfirmation"], false);
    assert_eq!(off["spec"]["inputs"][0]["hidden"]["value"], "on");
}

#[test]
fn plan_buttons_carry_location_inputs_clicks_and_readiness() {
    let view = complete(&sample_snapshot());
    let seed = by_name(&view, "uiButtons", "seed");
    assert_eq!(
        seed["spec"]["inputs"],
        json!([{"name": "rows", "label": "ROWS", "text": {"defaultValue": "100", "placeholder": ""}}])
    );
    assert_eq!(
        seed["status"]["lastClickedAt"],
        "2026-09-21T14:13:32.000000Z"
    );
    assert_eq!(
        seed["status"]["inputs"],
        json!([{"name": "rows", "text": {"value": "5"}}])
    );

    let reset = by_name(&view, "uiButtons", "reset");
    assert_eq!(reset["spec"]["location"]["componentType"], "Global");
    assert_eq!(reset["spec"]["requiresConfirmation"], true);

    let migrate = by_name(&view, "uiButtons", "migrate");
    assert_eq!(migrate["spec"]["disabled"], true);
    assert_eq!(
        migrate["status"]["disabledReason"],
        "waiting for resource web to be ready"
    );

    // Once web is ready, the button is enabled.
    let mut snap = sample_snapshot();
    let web = snap
        .state
        .resources
        .iter_mut()
        .find(|r| r.name() == "web")
        .unwrap();
    web.current_build = None;
    web.history.push_back(common::build(6, 12, Some(13), None));
    let view = complete(&snap);
    let migrate = by_name(&view, "uiButtons", "migrate");
    assert_eq!(migrate["spec"]["disabled"], false);
    assert!(migrate["status"].get("disabledReason").is_none());
}

#[test]
fn browser_buttons_are_annotated() {
    let mut snap = sample_snapshot();
    let mut plan = (**snap.plan.as_ref().unwrap()).clone();
    let mut open = common::button("open", lilt_model::ButtonLocation::Resource("api".into()));
    open.action = lilt_model::ButtonAction::Browser(lilt_model::BrowserLaunch {
        url: "http://localhost:8080/".into(),
        url_from_link: None,
        browser: String::new(),
        args: Vec::new(),
        env: Vec::new(),
        prefs: Default::default(),
        profile_dir: "/tmp/profile".into(),
    });
    plan.buttons.push(open);
    snap.plan = Some(std::sync::Arc::new(plan));
    let view = complete(&snap);
    assert_eq!(
        by_name(&view, "uiButtons", "open")["metadata"]["annotations"],
        json!({"lilt.dev/uibutton-type": "Browser"})
    );
}

#[test]
fn session_holds_flags_key_and_fatal_error() {
    let mut snap = sample_snapshot();
    snap.fatal_error = "cluster unreachable".to_owned();
    let view = complete(&snap);
    let status = &view["uiSession"]["status"];
    assert_eq!(view["uiSession"]["metadata"]["name"], "Tiltfile");
    assert_eq!(status["fatalError"], "cluster unreachable");
    assert_eq!(status["tiltfileKey"], "/project/Tiltfile");
    assert_eq!(status["tiltStartTime"], view["tiltStartTime"]);
    assert!(
        status["featureFlags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "disable_resources" && f["value"] == true)
    );
    assert_eq!(
        status["runningTiltBuild"]["version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn log_segments_and_spans() {
    let view = complete(&sample_snapshot());
    let logs = &view["logList"];
    assert_eq!(logs["fromCheckpoint"], 0);
    assert_eq!(logs["toCheckpoint"], 4);
    assert_eq!(
        logs["spans"],
        json!({
            "tiltfile:(Tiltfile):1": {"manifestName": "(Tiltfile)"},
            "build:2": {"manifestName": "api"},
            "build:4": {"manifestName": "web"},
            "localserve:3": {"manifestName": "api"},
        })
    );
    let segs = logs["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 4);
    assert_eq!(
        segs[2],
        json!({"spanId": "build:4", "time": "2026-09-21T14:13:40.000000Z", "text": "deprecated flag\n", "level": "WARN"})
    );
}

#[test]
fn lines_without_span_get_stable_classified_ids() {
    let mut store = lilt_engine::LogStore::new(lilt_engine::LogBudget::DEFAULT);
    store.append(log_line(None, None, LogSource::System, "global"));
    store.append(log_line(Some("api"), None, LogSource::Build, "b"));
    store.append(log_line(Some("api"), None, LogSource::Runtime, "r"));
    let lines: Vec<_> = store.since(0, None).into_iter().cloned().collect();
    let list = serde_json::to_value(convert::log_list(&lines, 0, 3)).unwrap();
    let ids: Vec<_> = list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["spanId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["", "build:api:0", "unknown:api"]);
    assert!(list["spans"].get("").is_none());
    assert_eq!(list["spans"]["build:api:0"]["manifestName"], "api");
}

#[test]
fn complete_log_list_counts_back_from_the_newest_checkpoint() {
    // After trimming, the View starts where the retained lines start, so a client that has
    // everything up to checkpoint c skips exactly c - from segments.
    let mut store = lilt_engine::LogStore::new(lilt_engine::LogBudget {
        per_resource_bytes: 400,
        total_bytes: 10_000,
    });
    for idx in 0..20 {
        store.append(log_line(
            Some("api"),
            None,
            LogSource::Build,
            &format!("line {idx}"),
        ));
    }
    let lines: Vec<_> = store.since(0, None).into_iter().cloned().collect();
    let list = convert::complete_log_list(&lines, store.checkpoint());
    assert!(lines.len() < 20);
    assert_eq!(list.to_checkpoint, 20);
    assert_eq!(list.from_checkpoint, 20 - lines.len() as i64);
    assert_eq!(list.segments.last().unwrap().text, "line 19\n");
    let _ = t(0);
}
