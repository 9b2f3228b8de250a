//! `lilt ci` exit rules: first failure, success, timeouts, ignored auto_init=False.

mod common;

use std::time::Duration;

use common::*;
use lilt_engine::{CiOutcome, RuntimeStatus, ci_status, go_duration};
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

/// A Kubernetes resource (objects only: what the engine needs to know of it).
fn k8s(name: &str) -> Manifest {
    let mut m = local(name, "true");
    m.deploy = lilt_model::DeployTarget::K8s(lilt_model::K8sTarget::default());
    m
}

const PULL_ERROR: &str = "Pod api-1 in error state due to container api: ImagePullBackOff";

/// A pod error (Tilt's runtime status `error`) fails `lilt ci` at once; while it lasts the
/// runtime status is `error`, and it clears when the pod recovers.
#[test]
fn a_pod_error_fails_at_once_without_a_grace_period() {
    let mut engine = ci_engine(vec![k8s("api")]);
    engine.run_to_quiet();
    engine.serve_started("api", 1);
    engine.probe("api", false);
    check(&engine, None);
    engine.failing("api", Some(PULL_ERROR));
    assert_eq!(engine.res("api").runtime_status(), RuntimeStatus::Error);
    assert_eq!(
        engine.res("api").runtime_error().as_deref(),
        Some(PULL_ERROR)
    );
    check(&engine, Some(&format!("error: {PULL_ERROR}")));
    engine.failing("api", None);
    assert_eq!(engine.res("api").runtime_status(), RuntimeStatus::Pending);
    check(&engine, None);
}

/// `lilt ci` on `p` (one Kubernetes resource `api`) whose running pod reports
/// [`PULL_ERROR`].
fn pull_failing(p: lilt_model::Plan) -> Engine {
    let mut engine = Engine::ci();
    engine.load(p);
    engine.run_to_quiet();
    engine.serve_started("api", 1);
    engine.probe("api", false);
    engine.failing("api", Some(PULL_ERROR));
    engine
}

/// `ci_settings(k8s_grace_period=)`: a pod error within it is "retrying" (listed by the
/// global timeout); after it, ci fails and says the grace period was exceeded.
#[test]
fn a_pod_error_is_retrying_within_the_grace_period() {
    let mut p = plan(vec![k8s("api")]);
    p.settings.ci.k8s_grace_period = Some(Duration::from_secs(60));
    p.settings.ci.readiness_timeout = Duration::ZERO;
    let mut engine = pull_failing(p);
    check(&engine, None);
    engine.advance(59);
    check(&engine, None);
    engine.advance(2);
    check(
        &engine,
        Some(&format!("error: exceeded grace period: {PULL_ERROR}")),
    );
}

#[test]
fn the_global_timeout_lists_retrying_targets() {
    let mut p = plan(vec![k8s("api")]);
    p.settings.ci.k8s_grace_period = Some(Duration::from_secs(3600));
    p.settings.ci.timeout = Some(Duration::from_secs(60));
    let mut engine = pull_failing(p);
    engine.advance(61);
    check(
        &engine,
        Some("error: Timeout after 1m0s: 1 resources retrying (api:runtime)"),
    );
}

/// The grace period is Kubernetes' only: a local server's errors are not "retrying".
#[test]
fn the_grace_period_does_not_cover_local_servers() {
    let mut p = plan(vec![server("web", "", "serve")]);
    p.settings.ci.k8s_grace_period = Some(Duration::from_secs(3600));
    let mut engine = Engine::ci();
    engine.load(p);
    engine.run_to_quiet();
    engine.serve_started("web", 1);
    engine.failing("web", Some("broken"));
    check(&engine, Some("error: broken"));
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
