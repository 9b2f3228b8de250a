//! Tiltfile loads and reloads: resources added, kept, changed, removed; failures; holds.

mod common;

use std::path::PathBuf;

use common::*;
use lilt_engine::{Event, StopReason, UpdateStatus};
use lilt_model::{Manifest, TriggerMode};

/// Loads `before`, runs everything, reloads with `after`; checks what the reload's next
/// decision does (updates and runtime effects) and the resources left.
fn check_reload(before: Vec<Manifest>, after: Vec<Manifest>, updated: &[&str], effects: &[&str]) {
    let mut engine = Engine::with(before);
    engine.run_to_quiet();
    engine.advance(10);
    engine.send(Event::ConfigFilesChanged {
        paths: vec![PathBuf::from("/project/Tiltfile")],
        at: engine.now,
    });
    let names: Vec<String> = after.iter().map(|m| m.name.clone()).collect();
    engine.load(plan(after));
    let decision = engine.step();
    assert_eq!(updates(&decision), updated, "updates after reload");
    assert_eq!(
        runtime_effects(&decision),
        effects,
        "runtime effects after reload"
    );
    let left: Vec<String> = engine
        .state
        .resources
        .iter()
        .map(|r| r.name().to_owned())
        .collect();
    assert_eq!(left, names);
}

#[test]
fn unchanged_resources_are_left_alone() {
    check_reload(
        vec![parallel(local("a", "x")), parallel(local("b", "y"))],
        vec![parallel(local("a", "x")), parallel(local("b", "y"))],
        &[],
        &[],
    );
}

#[test]
fn new_resources_are_added_and_built() {
    check_reload(
        vec![parallel(local("a", "x"))],
        vec![parallel(local("a", "x")), parallel(local("b", "y"))],
        &["b"],
        &[],
    );
}

#[test]
fn changed_definitions_rebuild_in_auto_mode() {
    check_reload(
        vec![parallel(local("a", "x")), parallel(local("b", "y"))],
        vec![parallel(local("a", "x2")), parallel(local("b", "y"))],
        &["a"],
        &[],
    );
}

#[test]
fn label_only_changes_do_not_rebuild() {
    let mut labelled = parallel(local("a", "x"));
    labelled.labels.insert("backend".into(), "backend".into());
    check_reload(vec![parallel(local("a", "x"))], vec![labelled], &[], &[]);
}

#[test]
fn vanished_resources_are_stopped_and_removed() {
    check_reload(
        vec![
            parallel(local("a", "x")),
            parallel(server("b", "", "serve")),
        ],
        vec![parallel(local("a", "x"))],
        &[],
        &["stop b Removed"],
    );
}

#[test]
fn changed_definitions_wait_for_a_trigger_in_manual_mode() {
    let manual = |cmd| mode(local("m", cmd), TriggerMode::ManualWithAutoInit);
    let mut engine = Engine::with(vec![manual("x")]);
    engine.run_to_quiet();
    engine.trigger("(Tiltfile)");
    engine.load(plan(vec![manual("x2")]));
    assert!(updates(&engine.step()).is_empty());
    let res = engine.res("m");
    assert!(res.has_pending_changes());
    assert_eq!(res.update_status(), UpdateStatus::Ok);
    engine.trigger("m");
    let decision = engine.step();
    assert_eq!(updates(&decision), ["m"]);
    let current = engine.res("m").current_build.as_ref().map(|b| b.reason);
    assert!(current.is_some_and(|r| r.config_changed && r.trigger));
}

#[test]
fn nothing_starts_while_a_reload_is_pending_or_running() {
    let mut engine = Engine::with(vec![parallel(local("a", "x"))]);
    engine.run_to_quiet();
    engine.advance(1);
    engine.change("a", "/project/a/f");
    engine.send(Event::ConfigFilesChanged {
        paths: vec![PathBuf::from("/project/Tiltfile")],
        at: engine.now,
    });
    let decision = engine.peek();
    assert_eq!(runtime_effects(&decision), ["reload []"]);
    assert!(updates(&decision).is_empty());
    assert_eq!(holds(&decision), ["a: tiltfile-reload [(Tiltfile)]"]);
    engine.step();
    let running = engine.peek();
    assert!(running.effects.is_empty());
    assert_eq!(holds(&running), ["a: tiltfile-reload [(Tiltfile)]"]);
}

#[test]
fn first_load_holds_nothing_because_nothing_exists() {
    let engine = Engine::up();
    let decision = engine.peek();
    assert_eq!(runtime_effects(&decision), ["reload []"]);
    assert!(decision.holds.is_empty());
}

#[test]
fn failed_reload_keeps_the_last_good_resources() {
    let mut engine = Engine::with(vec![parallel(local("a", "x"))]);
    engine.run_to_quiet();
    engine.trigger("(Tiltfile)");
    let extra = PathBuf::from("/project/lib.star");
    engine.load_err("Tiltfile:3:1: undefined: foo", vec![extra.clone()]);
    assert_eq!(engine.state.resources.len(), 1);
    assert_eq!(engine.res("a").update_status(), UpdateStatus::Ok);
    assert_eq!(engine.state.tiltfile.update_status(), UpdateStatus::Error);
    assert_eq!(
        engine.state.tiltfile.last_error(),
        Some("Tiltfile:3:1: undefined: foo")
    );
    assert!(engine.state.config_files.contains(&extra));
    let decision = engine.step();
    // The evaluation's log carries the error; logging it again printed it twice (issue 9).
    assert!(logs(&decision).is_empty(), "{:?}", logs(&decision));
    assert!(updates(&decision).is_empty());
    // Fixing the file reloads and clears the error.
    engine.send(Event::ConfigFilesChanged {
        paths: vec![extra],
        at: engine.now,
    });
    engine.load(plan(vec![parallel(local("a", "x"))]));
    assert_eq!(engine.state.tiltfile.update_status(), UpdateStatus::Ok);
}

#[test]
fn changes_during_a_reload_queue_another_reload() {
    let mut engine = Engine::up();
    let first = engine.step();
    let span_id = reload_span(&first).expect("initial reload");
    engine.send(Event::ConfigFilesChanged {
        paths: vec![PathBuf::from("/project/Tiltfile")],
        at: engine.now,
    });
    assert!(
        reload_span(&engine.peek()).is_none(),
        "one reload at a time"
    );
    engine.send(Event::TiltfileLoaded {
        span_id,
        at: engine.now,
        outcome: Ok(Box::new(plan(vec![local("a", "x")]))),
        warnings: vec!["deprecated".into()],
    });
    let next = engine.peek();
    assert!(reload_span(&next).is_some());
    assert!(updates(&next).is_empty());
    assert_eq!(engine.state.tiltfile.warnings, ["deprecated"]);
}

#[test]
fn stale_tiltfile_results_are_ignored() {
    let mut engine = Engine::up();
    let first = engine.step();
    let span_id = reload_span(&first).expect("initial reload");
    let mut stale = span_id;
    stale.seq += 100;
    engine.send(Event::TiltfileLoaded {
        span_id: stale,
        at: engine.now,
        outcome: Ok(Box::new(plan(vec![local("a", "x")]))),
        warnings: Vec::new(),
    });
    assert!(engine.state.resources.is_empty());
    assert!(engine.state.tiltfile.current.is_some());
}

#[test]
fn tiltfile_args_reload_with_the_new_args() {
    let mut engine = Engine::with(vec![local("a", "x")]);
    engine.run_to_quiet();
    engine.send(Event::SetTiltfileArgs {
        args: Vec::new(),
        at: engine.now,
    });
    assert!(
        reload_span(&engine.peek()).is_none(),
        "same args: no reload"
    );
    engine.send(Event::SetTiltfileArgs {
        args: vec!["a".into()],
        at: engine.now,
    });
    assert_eq!(runtime_effects(&engine.peek()), [r#"reload ["a"]"#]);
}

#[test]
fn enabled_list_selects_resources_and_reload_applies_its_changes() {
    let manifests = || vec![parallel(local("a", "x")), parallel(local("b", "x"))];
    let mut first = plan(manifests());
    first.enabled = vec!["a".into()];
    let mut engine = Engine::up();
    engine.load(first.clone());
    assert!(!engine.res("b").enabled);
    assert_eq!(engine.run_to_quiet(), ["a"]);

    // A UI toggle survives a reload whose enabled list did not change.
    engine.set_enabled("b", true);
    engine.trigger("(Tiltfile)");
    engine.load(first);
    assert!(engine.res("b").enabled);
    assert_eq!(engine.run_to_quiet(), ["b"]);

    // A reload that drops `a` from the list disables it and stops its runtime.
    let mut second = plan(manifests());
    second.enabled = vec!["b".into()];
    engine.trigger("(Tiltfile)");
    engine.load(second);
    assert!(!engine.res("a").enabled);
    let decision = engine.step();
    assert_eq!(runtime_effects(&decision), ["stop a Disabled"]);
    assert!(engine.state.pending_stops.is_empty());
}

#[test]
fn removal_cleans_the_trigger_queue() {
    let mut engine = Engine::with(vec![mode(local("m", "x"), TriggerMode::Manual)]);
    engine.trigger("m");
    engine.trigger("(Tiltfile)");
    engine.load(plan(Vec::new()));
    assert!(engine.state.trigger_queue.is_empty());
    let decision = engine.step();
    assert_eq!(
        runtime_effects(&decision),
        [format!("stop m {:?}", StopReason::Removed)]
    );
}
