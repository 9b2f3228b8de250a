//! The dashboard's status vocabulary and build history, as functions of state.

mod common;

use std::time::Duration;

use common::*;
use lilt_engine::{Event, RuntimeStatus, UpdateStatus};
use lilt_model::TriggerMode;

fn check_status(engine: &Engine, name: &str, update: UpdateStatus, runtime: RuntimeStatus) {
    let res = engine.res(name);
    assert_eq!(
        (res.update_status(), res.runtime_status()),
        (update, runtime)
    );
}

#[test]
fn update_status_follows_the_update_lifecycle() {
    let mut engine = Engine::with(vec![server("web", "make", "serve")]);
    check_status(
        &engine,
        "web",
        UpdateStatus::Pending,
        RuntimeStatus::Pending,
    );
    engine.step();
    check_status(
        &engine,
        "web",
        UpdateStatus::InProgress,
        RuntimeStatus::Pending,
    );
    engine.finish("web", Some("boom"));
    check_status(&engine, "web", UpdateStatus::Error, RuntimeStatus::None);
    engine.trigger("web");
    check_status(
        &engine,
        "web",
        UpdateStatus::Pending,
        RuntimeStatus::Pending,
    );
    engine.step();
    engine.finish("web", None);
    check_status(&engine, "web", UpdateStatus::Ok, RuntimeStatus::Pending);
    engine.step();
    engine.serve_started("web", 5);
    check_status(&engine, "web", UpdateStatus::Ok, RuntimeStatus::Ok);
}

#[test]
fn manual_resources_never_triggered_have_no_status() {
    let engine = Engine::with(vec![mode(
        server("m", "make", "serve"),
        TriggerMode::Manual,
    )]);
    check_status(&engine, "m", UpdateStatus::None, RuntimeStatus::None);
}

#[test]
fn auto_pending_changes_show_pending() {
    let mut engine = Engine::with(vec![local("a", "make")]);
    engine.run_to_quiet();
    engine.change("a", "/project/a/f");
    check_status(
        &engine,
        "a",
        UpdateStatus::Pending,
        RuntimeStatus::NotApplicable,
    );
    assert!(engine.res("a").has_pending_changes());
}

#[test]
fn history_keeps_two_finished_builds_plus_the_current_one() {
    let mut engine = Engine::with(vec![local("a", "make")]);
    for i in 0..3 {
        engine.advance(10);
        if i > 0 {
            engine.trigger("a");
        }
        engine.step();
        engine.advance(2);
        let error = (i == 1).then_some("exit status 1");
        engine.send(Event::UpdateFinished {
            resource: "a".into(),
            span_id: engine.current_span("a"),
            at: engine.now,
            error: error.map(str::to_owned),
            warnings: vec![format!("warning {i}")],
            images: Vec::new(),
            live_update: None,
        });
    }
    engine.advance(10);
    engine.trigger("a");
    engine.step();
    let res = engine.res("a");
    let history = res.build_history();
    assert_eq!(history.len(), 3);
    let summary: Vec<(Option<u64>, Option<&str>, Vec<String>)> = history
        .iter()
        .map(|b| {
            let took = b
                .finish_time
                .and_then(|f| f.duration_since(b.start_time).ok())
                .map(|d| d.as_secs());
            (took, b.error.as_deref(), b.warnings.clone())
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some(2), Some("exit status 1"), vec!["warning 1".to_owned()]),
            (Some(2), None, vec!["warning 2".to_owned()]),
            (None, None, Vec::new()),
        ]
    );
    assert_eq!(history[2].start_time, engine.now);
    assert_eq!(history[2].span_id, engine.current_span("a"));
    assert_eq!(
        res.last_deploy_time,
        Some(engine.now - Duration::from_secs(10))
    );
    assert_eq!(res.build_count, 4);
}

#[test]
fn queued_flag_and_stale_results() {
    let mut engine = Engine::with(vec![mode(local("m", "make"), TriggerMode::Manual)]);
    engine.trigger("m");
    assert!(engine.res("m").queued());
    engine.step();
    assert!(!engine.res("m").queued());
    let span = engine.current_span("m");
    let mut stale = span;
    stale.seq += 50;
    engine.send(Event::UpdateFinished {
        resource: "m".into(),
        span_id: stale,
        at: engine.now,
        error: None,
        warnings: Vec::new(),
        images: Vec::new(),
        live_update: None,
    });
    assert!(
        engine.res("m").is_building(),
        "a result for another span is ignored"
    );
}

#[test]
fn tiltfile_status_vocabulary() {
    let mut engine = Engine::up();
    assert_eq!(engine.state.tiltfile.update_status(), UpdateStatus::Pending);
    engine.step();
    assert_eq!(
        engine.state.tiltfile.update_status(),
        UpdateStatus::InProgress
    );
    let mut engine = Engine::with(Vec::new());
    assert_eq!(engine.state.tiltfile.update_status(), UpdateStatus::Ok);
    engine.trigger("(Tiltfile)");
    assert_eq!(engine.state.tiltfile.update_status(), UpdateStatus::Pending);
}

#[test]
fn status_strings_match_tilt() {
    let update: Vec<&str> = [
        UpdateStatus::Ok,
        UpdateStatus::Pending,
        UpdateStatus::InProgress,
        UpdateStatus::Error,
        UpdateStatus::NotApplicable,
        UpdateStatus::None,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    assert_eq!(
        update,
        [
            "ok",
            "pending",
            "in_progress",
            "error",
            "not_applicable",
            "none"
        ]
    );
    let runtime: Vec<String> = [
        RuntimeStatus::Ok,
        RuntimeStatus::Pending,
        RuntimeStatus::Error,
        RuntimeStatus::NotApplicable,
        RuntimeStatus::None,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        runtime,
        ["ok", "pending", "error", "not_applicable", "none"]
    );
}

#[test]
fn snapshots_are_independent_of_later_events() {
    let mut engine = Engine::with(vec![local("a", "make")]);
    let snapshot = engine.state.clone();
    engine.run_to_quiet();
    assert_eq!(
        snapshot.resource("a").map(|r| r.update_status()),
        Some(UpdateStatus::Pending)
    );
    assert_eq!(engine.res("a").update_status(), UpdateStatus::Ok);
}

#[test]
fn a_runtime_that_runs_again_after_exiting_is_ok_again() {
    // A Compose container restarted by its restart policy: same start, running again.
    let mut engine = Engine::with(vec![server("web", "make", "serve")]);
    engine.step();
    engine.finish("web", None);
    engine.step();
    engine.serve_started("web", 5);
    engine.serve_exited("web", 3);
    check_status(&engine, "web", UpdateStatus::Ok, RuntimeStatus::Error);
    engine.serve_started("web", 6);
    check_status(&engine, "web", UpdateStatus::Ok, RuntimeStatus::Ok);
}
