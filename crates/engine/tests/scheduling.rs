//! Scheduling: `decide`'s order, parallelism, dependencies and hold reasons.

mod common;

use common::*;
use lilt_engine::Effect;
use lilt_model::{Manifest, TriggerMode};

/// Loads `manifests`, then repeatedly steps and finishes everything started; checks the
/// batches of updates started together.
fn check_batches(manifests: Vec<Manifest>, max_parallel: u32, expected: &[&[&str]]) {
    let mut p = plan(manifests);
    p.settings.update.max_parallel_updates = max_parallel;
    let mut engine = Engine::up();
    engine.load(p);
    let mut batches: Vec<Vec<String>> = Vec::new();
    for _ in 0..20 {
        let started = updates(&engine.step());
        if started.is_empty() {
            break;
        }
        for name in &started {
            engine.finish(name, None);
        }
        batches.push(started);
    }
    let expected: Vec<Vec<String>> = expected
        .iter()
        .map(|b| b.iter().map(|s| (*s).to_owned()).collect())
        .collect();
    assert_eq!(batches, expected);
}

#[test]
fn local_resources_run_one_at_a_time_in_manifest_order() {
    check_batches(
        vec![
            local("a", "make a"),
            local("b", "make b"),
            local("c", "make c"),
        ],
        3,
        &[&["a"], &["b"], &["c"]],
    );
}

#[test]
fn allow_parallel_resources_share_the_update_slots() {
    check_batches(
        vec![
            parallel(local("a", "x")),
            parallel(local("b", "x")),
            parallel(local("c", "x")),
            parallel(local("d", "x")),
        ],
        3,
        &[&["a", "b", "c"], &["d"]],
    );
}

#[test]
fn max_parallel_updates_limits_concurrent_updates() {
    check_batches(
        vec![
            parallel(local("a", "x")),
            parallel(local("b", "x")),
            parallel(local("c", "x")),
        ],
        1,
        &[&["a"], &["b"], &["c"]],
    );
}

#[test]
fn serve_only_resources_are_parallel() {
    check_batches(
        vec![server("a", "", "serve a"), server("b", "", "serve b")],
        3,
        &[&["a", "b"]],
    );
}

#[test]
fn non_parallel_local_blocks_everything_with_waiting_for_local() {
    let mut engine = Engine::with(vec![local("a", "x"), parallel(local("b", "x"))]);
    assert_eq!(updates(&engine.step()), ["a"]);
    assert_eq!(holds(&engine.peek()), ["b: waiting-for-local [a]"]);
}

#[test]
fn non_parallel_local_waits_while_anything_builds() {
    let mut engine = Engine::with(vec![parallel(local("p", "x")), local("l", "x")]);
    assert_eq!(updates(&engine.step()), ["p"]);
    assert_eq!(holds(&engine.peek()), ["l: is-unparallelizable-local"]);
    engine.finish("p", None);
    assert_eq!(updates(&engine.step()), ["l"]);
}

#[test]
fn full_slots_hold_with_waiting_for_slot() {
    let mut p = plan(vec![parallel(local("a", "x")), parallel(local("b", "x"))]);
    p.settings.update.max_parallel_updates = 1;
    let mut engine = Engine::up();
    engine.load(p);
    let decision = engine.step();
    assert_eq!(updates(&decision), ["a"]);
    assert_eq!(holds(&decision), ["b: waiting-for-slot"]);
    assert_eq!(holds(&engine.peek()), ["b: waiting-for-slot"]);
}

#[test]
fn first_update_waits_for_dependency_success() {
    let mut engine = Engine::with(vec![
        deps(parallel(local("b", "x")), &["a"]),
        parallel(local("a", "x")),
    ]);
    let decision = engine.step();
    assert_eq!(updates(&decision), ["a"]);
    assert_eq!(holds(&decision), ["b: waiting-for-dep [a]"]);
    engine.finish("a", Some("exit status 1"));
    assert_eq!(updates(&engine.step()), Vec::<String>::new());
    assert_eq!(holds(&engine.peek()), ["b: waiting-for-dep [a]"]);
    engine.change("a", "/project/a/main.go");
    engine.advance(1);
    assert_eq!(updates(&engine.step()), ["a"]);
    engine.finish("a", None);
    assert_eq!(updates(&engine.step()), ["b"]);
}

#[test]
fn first_update_waits_for_dependency_readiness_probe() {
    let mut engine = Engine::with(vec![
        probed(server("db", "", "run-db")),
        deps(local("app", "x"), &["db"]),
    ]);
    assert_eq!(updates(&engine.step()), ["db"]);
    engine.finish("db", None);
    engine.step();
    engine.serve_started("db", 100);
    assert_eq!(holds(&engine.peek()), ["app: waiting-for-dep [db]"]);
    engine.probe("db", true);
    assert_eq!(updates(&engine.step()), ["app"]);
}

#[test]
fn later_updates_ignore_dependencies() {
    let mut engine = Engine::with(vec![
        probed(server("db", "", "run-db")),
        deps(local("app", "x"), &["db"]),
    ]);
    engine.step();
    engine.finish("db", None);
    engine.step();
    engine.serve_started("db", 100);
    engine.probe("db", true);
    engine.step();
    engine.finish("app", None);
    engine.serve_exited("db", 1);
    engine.advance(5);
    engine.change("app", "/project/app/x.go");
    assert_eq!(updates(&engine.step()), ["app"]);
}

#[test]
fn unknown_dependency_waits_forever() {
    let mut engine = Engine::with(vec![deps(local("a", "x"), &["ghost"])]);
    let decision = engine.step();
    assert!(updates(&decision).is_empty());
    assert_eq!(holds(&decision), ["a: waiting-for-dep [ghost]"]);
}

#[test]
fn file_changes_update_auto_resources_oldest_first() {
    let mut p = plan(vec![parallel(local("a", "x")), parallel(local("b", "x"))]);
    p.settings.update.max_parallel_updates = 1;
    let mut engine = Engine::up();
    engine.load(p);
    engine.run_to_quiet();
    engine.advance(1);
    engine.change("b", "/project/b/1");
    engine.advance(1);
    engine.change("a", "/project/a/1");
    let decision = engine.step();
    assert_eq!(updates(&decision), ["b"]);
    assert_eq!(holds(&decision), ["a: waiting-for-slot"]);
    let Some(Effect::Update {
        changed_files,
        reason,
        full_rebuild,
        ..
    }) = decision
        .effects
        .iter()
        .find(|e| matches!(e, Effect::Update { .. }))
    else {
        panic!("an update was started");
    };
    assert_eq!(changed_files, &[std::path::PathBuf::from("/project/b/1")]);
    assert!(reason.changed_files && !reason.trigger && !reason.initial);
    assert!(!full_rebuild);
}

#[test]
fn equal_change_times_keep_manifest_order() {
    let mut p = plan(vec![parallel(local("a", "x")), parallel(local("b", "x"))]);
    p.settings.update.max_parallel_updates = 1;
    let mut engine = Engine::up();
    engine.load(p);
    engine.run_to_quiet();
    engine.advance(1);
    engine.change("b", "/project/b/1");
    engine.change("a", "/project/a/1");
    assert_eq!(updates(&engine.step()), ["a"]);
}

#[test]
fn changes_during_an_update_stay_pending_and_hold_building_component() {
    let mut engine = Engine::with(vec![local("a", "x")]);
    engine.step();
    engine.advance(1);
    engine.change("a", "/project/a/late");
    let decision = engine.peek();
    assert!(updates(&decision).is_empty());
    assert_eq!(holds(&decision), ["a: waiting-for-local [a]"]);
    engine.finish("a", None);
    assert!(engine.res("a").has_pending_changes());
    assert_eq!(updates(&engine.step()), ["a"]);
    assert!(!engine.res("a").has_pending_changes());
}

#[test]
fn parallel_resource_with_changes_while_building_holds_building_component() {
    let mut engine = Engine::with(vec![parallel(local("a", "x"))]);
    engine.step();
    engine.advance(1);
    engine.change("a", "/project/a/late");
    assert_eq!(holds(&engine.peek()), ["a: building-component"]);
}

#[test]
fn manual_resources_wait_for_a_trigger_after_changes() {
    let mut engine = Engine::with(vec![mode(local("m", "x"), TriggerMode::ManualWithAutoInit)]);
    assert_eq!(engine.run_to_quiet(), ["m"]);
    engine.advance(1);
    engine.change("m", "/project/m/f");
    let decision = engine.step();
    assert!(updates(&decision).is_empty());
    assert!(decision.holds.is_empty());
    assert!(engine.res("m").has_pending_changes());
    engine.trigger("m");
    assert_eq!(updates(&engine.step()), ["m"]);
}

#[test]
fn trigger_modes_and_auto_init() {
    let mut engine = Engine::with(vec![
        mode(local("auto", "x"), TriggerMode::Auto),
        mode(local("manual_init", "x"), TriggerMode::ManualWithAutoInit),
        mode(local("manual", "x"), TriggerMode::Manual),
        mode(local("auto_no_init", "x"), TriggerMode::AutoWithManualInit),
    ]);
    assert_eq!(engine.run_to_quiet(), ["auto", "manual_init"]);
    engine.advance(1);
    engine.change("manual", "/project/manual/f");
    engine.change("auto_no_init", "/project/auto_no_init/f");
    assert_eq!(engine.run_to_quiet(), ["auto_no_init"]);
    engine.trigger("manual");
    assert_eq!(engine.run_to_quiet(), ["manual"]);
}

#[test]
fn trigger_queue_is_first_come_first_served() {
    let mut p = plan(vec![
        parallel(mode(local("x", "x"), TriggerMode::Manual)),
        parallel(mode(local("y", "x"), TriggerMode::Manual)),
        parallel(mode(local("z", "x"), TriggerMode::Manual)),
    ]);
    p.settings.update.max_parallel_updates = 1;
    let mut engine = Engine::up();
    engine.load(p);
    engine.trigger("z");
    engine.trigger("x");
    engine.trigger("y");
    assert_eq!(engine.run_to_quiet(), ["z", "x", "y"]);
}

#[test]
fn initial_updates_come_before_triggers_and_changes() {
    let mut p = plan(vec![
        parallel(local("built", "x")),
        parallel(mode(local("manual", "x"), TriggerMode::Manual)),
        parallel(mode(local("late", "x"), TriggerMode::Auto)),
    ]);
    p.settings.update.max_parallel_updates = 1;
    let mut engine = Engine::up();
    engine.load(p);
    engine.trigger("manual");
    engine.change("built", "/project/built/f");
    assert_eq!(engine.run_to_quiet(), ["built", "late", "manual"]);
}

#[test]
fn disabled_resources_are_never_scheduled() {
    let mut p = plan(vec![local("a", "x"), local("b", "x")]);
    p.enabled = vec!["b".to_owned()];
    let mut engine = Engine::up();
    engine.load(p);
    assert_eq!(engine.run_to_quiet(), ["b"]);
    engine.change("a", "/project/a/f");
    assert!(engine.run_to_quiet().is_empty());
}

#[test]
fn decide_is_pure_until_dispatched() {
    let engine = Engine::with(vec![parallel(local("a", "x")), parallel(local("b", "x"))]);
    assert_eq!(engine.peek(), engine.peek());
    assert_eq!(updates(&engine.peek()), ["a", "b"]);
}

#[test]
fn span_ids_are_unique_across_decisions() {
    let mut engine = Engine::with(vec![parallel(local("a", "x")), parallel(local("b", "x"))]);
    engine.step();
    let first = (engine.current_span("a"), engine.current_span("b"));
    engine.finish("a", None);
    engine.finish("b", None);
    engine.trigger("a");
    engine.step();
    let second = engine.current_span("a");
    assert_ne!(first.0, first.1);
    assert!(second.seq > first.1.seq);
    assert_eq!(second.to_string(), format!("build:{}", second.seq));
}

/// A Kubernetes resource as the Tiltfile gives it (objects only; no runtime needed here).
fn k8s(name: &str) -> Manifest {
    let mut m = local(name, "true");
    m.deploy = lilt_model::DeployTarget::K8s(lilt_model::K8sTarget::default());
    m
}

/// Regression: a resource deployed to a cluster was held as `waiting-for-cluster` forever,
/// because nothing reports a cluster yet, so its runtime's message never showed. Only a
/// cluster reported as connecting holds resources back.
#[test]
fn cluster_resources_wait_only_while_their_cluster_is_connecting() {
    let mut engine = Engine::up();
    engine.load(plan(vec![k8s("api")]));
    assert_eq!(
        updates(&engine.peek()),
        ["api"],
        "no cluster reported: dispatched"
    );

    let mut engine = Engine::up();
    engine.send(lilt_engine::Event::ClusterStatus {
        name: "default".into(),
        status: lilt_engine::ClusterStatus::Connecting,
    });
    engine.load(plan(vec![k8s("api")]));
    let held = engine.peek();
    assert!(updates(&held).is_empty());
    assert_eq!(holds(&held), ["api: waiting-for-cluster"]);
    engine.send(lilt_engine::Event::ClusterStatus {
        name: "default".into(),
        status: lilt_engine::ClusterStatus::Ready,
    });
    assert_eq!(updates(&engine.peek()), ["api"]);
}
