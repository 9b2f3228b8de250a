//! Triggers, trigger-mode overrides, and enabling/disabling at runtime.

mod common;

use std::path::PathBuf;

use common::*;
use lilt_engine::{Effect, Event, RuntimeStatus, UpdateStatus};
use lilt_model::{Manifest, TriggerMode};

/// Builds `manifest` once, applies `changes`, triggers it; checks the update it starts:
/// (changed files, full rebuild).
fn check_trigger(manifest: Manifest, changes: &[&str], files: &[&str], full: bool) {
    let name = manifest.name.clone();
    let mut engine = Engine::with(vec![manifest]);
    engine.run_to_quiet();
    engine.advance(1);
    for path in changes {
        engine.change(&name, path);
    }
    // Auto-mode changes would start by themselves; trigger before deciding.
    engine.trigger(&name);
    let decision = engine.step();
    let Some(Effect::Update {
        changed_files,
        full_rebuild,
        reason,
        ..
    }) = decision
        .effects
        .iter()
        .find(|e| matches!(e, Effect::Update { .. }))
    else {
        panic!("the trigger started an update");
    };
    let expected: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    assert_eq!(changed_files, &expected);
    assert_eq!(*full_rebuild, full);
    assert!(reason.trigger);
    assert!(!engine.res(&name).queued());
}

#[test]
fn trigger_without_changes_forces_a_full_update() {
    check_trigger(local("a", "x"), &[], &[], true);
}

#[test]
fn trigger_applies_pending_changes_of_a_manual_resource() {
    check_trigger(
        mode(local("m", "x"), TriggerMode::ManualWithAutoInit),
        &["/project/m/a", "/project/m/b"],
        &["/project/m/a", "/project/m/b"],
        false,
    );
}

#[test]
fn trigger_of_an_auto_resource_is_always_a_full_update() {
    check_trigger(local("a", "x"), &["/project/a/f"], &["/project/a/f"], true);
}

#[test]
fn trigger_of_a_disabled_resource_only_logs() {
    let mut engine = Engine::with(vec![local("a", "x")]);
    engine.set_enabled("a", false);
    engine.step();
    engine.trigger("a");
    assert!(engine.state.trigger_queue.is_empty());
    let decision = engine.step();
    assert!(updates(&decision).is_empty());
    assert_eq!(logs(&decision), [r#"resource "a" is currently disabled"#]);
    assert!(engine.peek().effects.is_empty(), "a log is dispatched once");
}

#[test]
fn trigger_of_an_unknown_resource_only_logs() {
    let mut engine = Engine::with(vec![local("a", "x")]);
    engine.run_to_quiet();
    engine.trigger("nope");
    assert_eq!(logs(&engine.step()), [r#"resource "nope" does not exist"#]);
}

#[test]
fn trigger_while_building_runs_after_the_update() {
    let mut engine = Engine::with(vec![local("a", "x")]);
    engine.step();
    engine.trigger("a");
    assert!(engine.res("a").queued());
    assert!(updates(&engine.step()).is_empty());
    engine.finish("a", None);
    assert_eq!(updates(&engine.step()), ["a"]);
}

#[test]
fn repeated_triggers_queue_once() {
    let mut engine = Engine::with(vec![mode(local("m", "x"), TriggerMode::Manual)]);
    engine.trigger("m");
    engine.trigger("m");
    assert_eq!(engine.state.trigger_queue, ["m"]);
    assert_eq!(engine.run_to_quiet(), ["m"]);
}

#[test]
fn trigger_mode_can_be_overridden_at_runtime() {
    let mut engine = Engine::with(vec![local("a", "x")]);
    engine.run_to_quiet();
    engine.send(Event::SetTriggerMode {
        resource: "a".into(),
        mode: TriggerMode::ManualWithAutoInit,
    });
    engine.advance(1);
    engine.change("a", "/project/a/f");
    assert!(engine.run_to_quiet().is_empty());
    engine.send(Event::SetTriggerMode {
        resource: "a".into(),
        mode: TriggerMode::Auto,
    });
    assert_eq!(engine.run_to_quiet(), ["a"]);
}

#[test]
fn disabling_stops_the_runtime_and_enabling_starts_over() {
    let mut engine = Engine::with(vec![server("web", "make", "serve")]);
    engine.run_to_quiet();
    engine.step();
    engine.serve_started("web", 42);
    assert_eq!(engine.res("web").runtime_status(), RuntimeStatus::Ok);

    engine.set_enabled("web", false);
    let decision = engine.step();
    assert_eq!(runtime_effects(&decision), ["stop web Disabled"]);
    assert_eq!(
        logs(&decision),
        [r#"Resource "web" disabled. To enable/disable it, use the Tilt Web UI."#]
    );
    let res = engine.res("web");
    assert_eq!(res.update_status(), UpdateStatus::None);
    assert_eq!(res.runtime_status(), RuntimeStatus::None);
    assert_eq!(res.pid(), None);
    assert!(res.build_history().is_empty());

    // The old process's exit, caused by the stop, is not an error.
    let old_span = lilt_engine::SpanId {
        kind: lilt_engine::SpanKind::Serve,
        seq: 1,
    };
    engine.send(Event::Runtime {
        resource: "web".into(),
        span_id: old_span,
        report: lilt_engine::RuntimeReport::Exited {
            exit_code: Some(143),
            reason: None,
        },
        at: engine.now,
    });
    assert!(engine.res("web").runtime_error().is_none());

    engine.set_enabled("web", true);
    assert_eq!(engine.res("web").update_status(), UpdateStatus::Pending);
    engine.step();
    engine.finish("web", None);
    assert_eq!(runtime_effects(&engine.step()), ["start web"]);
    assert!(matches!(
        engine.res("web").runtime.phase,
        lilt_engine::RuntimePhase::Starting { .. }
    ));
}

#[test]
fn disable_then_enable_before_dispatch_cancels_the_stop() {
    let mut engine = Engine::with(vec![local("a", "x")]);
    engine.run_to_quiet();
    engine.set_enabled("a", false);
    engine.set_enabled("a", true);
    let decision = engine.step();
    assert!(runtime_effects(&decision).is_empty());
    assert_eq!(updates(&decision), ["a"]);
}

#[test]
fn disabling_removes_the_resource_from_the_trigger_queue() {
    let mut engine = Engine::with(vec![mode(local("m", "x"), TriggerMode::Manual)]);
    engine.trigger("m");
    engine.set_enabled("m", false);
    assert!(engine.state.trigger_queue.is_empty());
    assert!(updates(&engine.step()).is_empty());
}

#[test]
fn file_changes_of_disabled_resources_are_dropped() {
    let mut engine = Engine::with(vec![local("a", "x")]);
    engine.set_enabled("a", false);
    engine.change("a", "/project/a/f");
    assert!(!engine.res("a").has_pending_changes());
}
