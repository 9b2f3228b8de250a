//! `lilt ci` exit rules: first failure, success, timeouts, ignored auto_init=False.

mod common;

use std::time::Duration;

use common::*;
use lilt_engine::{CiOutcome, ci_status, go_duration};
use lilt_model::{Manifest, TriggerMode};

fn ci_engine(manifests: Vec<Manifest>) -> Engine {
    let mut engine = Engine::ci();
    engine.load(plan(manifests));
    engine
}

fn check(engine: &Engine, expected: Option<&str>) {
    let got = ci_status(&engine.state, engine.now).map(|o| match o {
        CiOutcome::Success => CiOutcome::SUCCESS_MESSAGE.to_owned(),
        CiOutcome::Error(e) => format!("error: {e}"),
    });
    assert_eq!(got.as_deref(), expected);
}

#[test]
fn succeeds_when_every_target_is_done_or_ready() {
    let mut engine = ci_engine(vec![local("gen", "make"), server("web", "", "serve")]);
    check(&engine, None);
    engine.run_to_quiet();
    check(&engine, None);
    engine.serve_started("web", 10);
    check(&engine, Some("SUCCESS. All workloads are healthy."));
}

#[test]
fn needs_a_target_besides_the_tiltfile() {
    let mut engine = Engine::ci();
    check(&engine, None);
    engine.load(plan(Vec::new()));
    check(&engine, None);
}

#[test]
fn tiltfile_error_fails_at_once() {
    let mut engine = Engine::ci();
    engine.load_err("Tiltfile:1:1: syntax error", Vec::new());
    check(&engine, Some("error: Tiltfile:1:1: syntax error"));
}

#[test]
fn update_failure_fails() {
    let mut engine = ci_engine(vec![local("gen", "make"), local("other", "make")]);
    engine.step();
    engine.finish("gen", Some("exit status 2"));
    check(&engine, Some("error: exit status 2"));
}

#[test]
fn serve_exit_fails() {
    let mut engine = ci_engine(vec![server("web", "", "serve")]);
    engine.run_to_quiet();
    engine.serve_started("web", 31);
    engine.serve_exited("web", 0);
    check(
        &engine,
        Some("error: Process 31 exited with non-zero status"),
    );
}

#[test]
fn auto_init_false_resources_are_ignored() {
    let mut engine = ci_engine(vec![
        local("gen", "make"),
        mode(server("later", "make", "serve"), TriggerMode::Manual),
        mode(local("auto_later", "make"), TriggerMode::AutoWithManualInit),
    ]);
    engine.run_to_quiet();
    check(&engine, Some("SUCCESS. All workloads are healthy."));
}

#[test]
fn disabled_resources_are_ignored() {
    let mut p = plan(vec![local("gen", "make"), local("off", "make")]);
    p.enabled = vec!["gen".into()];
    let mut engine = Engine::ci();
    engine.load(p);
    engine.run_to_quiet();
    check(&engine, Some("SUCCESS. All workloads are healthy."));
}

#[test]
fn global_timeout_lists_what_is_waiting_and_not_ready() {
    let mut p = plan(vec![
        probed(server("db", "", "run-db")),
        deps(local("app", "make"), &["db"]),
    ]);
    // Zero turns the readiness timeout off, so the global one is what fires.
    p.settings.ci.readiness_timeout = Duration::ZERO;
    let mut engine = Engine::ci();
    engine.load(p);
    engine.run_to_quiet();
    engine.serve_started("db", 3);
    engine.advance(30 * 60);
    check(&engine, None);
    engine.advance(1);
    check(
        &engine,
        Some(
            "error: Timeout after 30m0s: 1 resources waiting (app:update waiting-for-dep), \
             1 resources not ready (db:serve)",
        ),
    );
}

#[test]
fn ci_settings_timeout_overrides_the_flag() {
    let mut p = plan(vec![deps(local("app", "make"), &["ghost"])]);
    p.settings.ci.timeout = Some(Duration::from_secs(90));
    let mut engine = Engine::ci();
    engine.load(p);
    engine.advance(91);
    check(
        &engine,
        Some("error: Timeout after 1m30s: 1 resources waiting (app:update waiting-for-dep)"),
    );
}

#[test]
fn readiness_timeout_fails_a_server_that_never_gets_ready() {
    let mut p = plan(vec![probed(server("web", "", "serve"))]);
    p.settings.ci.readiness_timeout = Duration::from_secs(60);
    let mut engine = Engine::ci();
    engine.load(p);
    engine.run_to_quiet();
    engine.serve_started("web", 8);
    engine.advance(60);
    check(&engine, None);
    engine.advance(1);
    check(
        &engine,
        Some("error: Readiness timeout after 1m0s: target web:serve not ready"),
    );
}

#[test]
fn go_duration_matches_go() {
    let cases = [
        (Duration::from_secs(30 * 60), "30m0s"),
        (Duration::from_secs(300), "5m0s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_secs(3725), "1h2m5s"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_millis(250), "250ms"),
        (Duration::from_micros(1500), "1.5ms"),
        (Duration::from_nanos(7), "7ns"),
        (Duration::ZERO, "0s"),
        (Duration::from_millis(61_250), "1m1.25s"),
    ];
    for (d, want) in cases {
        assert_eq!(go_duration(d), want, "{d:?}");
    }
}
