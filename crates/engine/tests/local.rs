//! Local resources: `cmd` on update, `serve_cmd` restarts, probes, exits and readiness.

mod common;

use common::*;
use lilt_engine::{Event, RuntimePhase, RuntimeStatus, UpdateStatus};
use lilt_model::Manifest;

/// What a resource looks like to the dashboard at one moment.
#[derive(Debug, PartialEq)]
struct Seen {
    update: UpdateStatus,
    runtime: RuntimeStatus,
    ready: bool,
    pid: Option<u32>,
}

fn seen(engine: &Engine, name: &str) -> Seen {
    let res = engine.res(name);
    Seen {
        update: res.update_status(),
        runtime: res.runtime_status(),
        ready: res.is_ready(),
        pid: res.pid(),
    }
}

/// Runs `manifest` through its first update (ending with `error`), then checks
/// whether a serve start was dispatched and what the dashboard sees.
fn check_first_update(manifest: Manifest, error: Option<&str>, starts: bool, expected: Seen) {
    let name = manifest.name.clone();
    let mut engine = Engine::with(vec![manifest]);
    assert_eq!(updates(&engine.step()), std::slice::from_ref(&name));
    engine.finish(&name, error);
    let decision = engine.step();
    let started = runtime_effects(&decision) == [format!("start {name}")];
    assert_eq!(started, starts);
    if started {
        engine.serve_started(&name, 4242);
    }
    assert_eq!(seen(&engine, &name), expected);
}

#[test]
fn cmd_only_success_is_ready_with_no_runtime() {
    check_first_update(
        local("gen", "make"),
        None,
        false,
        Seen {
            update: UpdateStatus::Ok,
            runtime: RuntimeStatus::NotApplicable,
            ready: true,
            pid: None,
        },
    );
}

#[test]
fn cmd_failure_is_an_update_error() {
    check_first_update(
        local("gen", "make"),
        Some("exit status 2"),
        false,
        Seen {
            update: UpdateStatus::Error,
            runtime: RuntimeStatus::NotApplicable,
            ready: false,
            pid: None,
        },
    );
}

#[test]
fn serve_starts_after_a_successful_cmd() {
    check_first_update(
        server("web", "npm ci", "npm start"),
        None,
        true,
        Seen {
            update: UpdateStatus::Ok,
            runtime: RuntimeStatus::Ok,
            ready: true,
            pid: Some(4242),
        },
    );
}

#[test]
fn serve_does_not_start_after_a_failed_cmd() {
    check_first_update(
        server("web", "npm ci", "npm start"),
        Some("exit status 1"),
        false,
        Seen {
            update: UpdateStatus::Error,
            runtime: RuntimeStatus::None,
            ready: false,
            pid: None,
        },
    );
}

#[test]
fn serve_only_update_is_not_applicable() {
    check_first_update(
        server("web", "", "npm start"),
        None,
        true,
        Seen {
            update: UpdateStatus::NotApplicable,
            runtime: RuntimeStatus::Ok,
            ready: true,
            pid: Some(4242),
        },
    );
}

#[test]
fn probe_gates_readiness() {
    check_first_update(
        probed(server("web", "", "npm start")),
        None,
        true,
        Seen {
            update: UpdateStatus::NotApplicable,
            runtime: RuntimeStatus::Pending,
            ready: false,
            pid: Some(4242),
        },
    );
}

#[test]
fn probe_results_flip_readiness() {
    let mut engine = Engine::with(vec![probed(server("web", "", "npm start"))]);
    engine.run_to_quiet();
    engine.serve_started("web", 7);
    engine.probe("web", true);
    assert_eq!(engine.res("web").runtime_status(), RuntimeStatus::Ok);
    assert!(engine.res("web").is_ready());
    engine.probe("web", false);
    assert_eq!(engine.res("web").runtime_status(), RuntimeStatus::Pending);
    assert!(!engine.res("web").is_ready());
    assert!(engine.res("web").last_ready_or_succeeded.is_some());
}

#[test]
fn serve_only_update_in_progress_shows_pending() {
    let mut engine = Engine::with(vec![server("web", "", "npm start")]);
    engine.step();
    assert_eq!(engine.res("web").update_status(), UpdateStatus::Pending);
    assert_eq!(engine.res("web").runtime_status(), RuntimeStatus::Pending);
}

#[test]
fn serve_exit_is_a_runtime_error() {
    let mut engine = Engine::with(vec![server("web", "", "npm start")]);
    engine.run_to_quiet();
    engine.serve_started("web", 99);
    engine.advance(3);
    engine.serve_exited("web", 0);
    let res = engine.res("web");
    assert_eq!(res.runtime_status(), RuntimeStatus::Error);
    assert_eq!(
        res.runtime_error().as_deref(),
        Some("Process 99 exited with non-zero status")
    );
    assert!(!res.is_ready());
    assert_eq!(res.pid(), None);
}

#[test]
fn file_change_reruns_cmd_then_restarts_serve() {
    let mut engine = Engine::with(vec![server("web", "npm ci", "npm start")]);
    engine.run_to_quiet();
    let first = engine.serve_span("web");
    engine.serve_started("web", 1);
    engine.advance(1);
    engine.change("web", "/project/web/package.json");
    assert_eq!(updates(&engine.step()), ["web"]);
    // The old server keeps running while cmd runs.
    assert_eq!(engine.res("web").pid(), Some(1));
    engine.finish("web", None);
    assert_eq!(runtime_effects(&engine.step()), ["start web"]);
    let second = engine.serve_span("web");
    assert_ne!(first, second);
    // The old process's exit (killed by the restart) carries the old span: ignored.
    engine.send(Event::Runtime {
        resource: "web".into(),
        span_id: first,
        report: lilt_engine::RuntimeReport::Exited {
            exit_code: None,
            reason: None,
        },
        at: engine.now,
    });
    assert!(matches!(
        engine.res("web").runtime.phase,
        RuntimePhase::Starting { .. }
    ));
    engine.serve_started("web", 2);
    assert_eq!(engine.res("web").pid(), Some(2));
}

#[test]
fn trigger_restarts_serve() {
    let mut engine = Engine::with(vec![server("web", "", "npm start")]);
    engine.run_to_quiet();
    engine.serve_started("web", 1);
    engine.serve_exited("web", 1);
    engine.trigger("web");
    assert_eq!(updates(&engine.step()), ["web"]);
    engine.finish("web", None);
    assert_eq!(runtime_effects(&engine.step()), ["start web"]);
    engine.serve_started("web", 2);
    assert_eq!(engine.res("web").runtime_status(), RuntimeStatus::Ok);
}

#[test]
fn failed_update_keeps_the_old_server() {
    let mut engine = Engine::with(vec![server("web", "npm ci", "npm start")]);
    engine.run_to_quiet();
    engine.serve_started("web", 1);
    engine.advance(1);
    engine.change("web", "/project/web/package.json");
    engine.step();
    engine.finish("web", Some("exit status 1"));
    let decision = engine.step();
    assert!(runtime_effects(&decision).is_empty());
    assert_eq!(engine.res("web").pid(), Some(1));
    assert_eq!(engine.res("web").update_status(), UpdateStatus::Error);
}

#[test]
fn runtime_info_is_kept_for_the_current_run_only() {
    let mut engine = Engine::with(vec![server("web", "npm ci", "npm start")]);
    engine.run_to_quiet();
    let first = engine.serve_span("web");
    engine.serve_started("web", 1);
    let info = |name: &str| lilt_engine::RuntimeInfo {
        name: name.to_owned(),
        status: "Running".to_owned(),
        restarts: 0,
        created: None,
        all_ready: true,
        health: None,
    };
    engine.send(Event::Runtime {
        resource: "web".into(),
        span_id: first,
        report: lilt_engine::RuntimeReport::Info(info("web-1")),
        at: engine.now,
    });
    assert_eq!(engine.res("web").runtime.info, Some(info("web-1")));
    assert!(engine.res("web").runtime.ready, "info changes nothing else");

    engine.change("web", "/project/web/package.json");
    engine.step();
    engine.finish("web", None);
    engine.step();
    // A late report from the previous run does not replace what the new one reports.
    engine.send(Event::Runtime {
        resource: "web".into(),
        span_id: first,
        report: lilt_engine::RuntimeReport::Info(info("stale")),
        at: engine.now,
    });
    assert_eq!(engine.res("web").runtime.info, Some(info("web-1")));
}

/// A live update changes files inside what already runs: the runtime is not started again
/// (its watch, logs and forwards go on), while a full update restarts it.
#[test]
fn a_live_update_does_not_restart_the_runtime() {
    let mut engine = Engine::with(vec![server("web", "make", "serve")]);
    engine.step();
    engine.finish("web", None);
    assert_eq!(runtime_effects(&engine.step()), ["start web"]);
    engine.serve_started("web", 4242);
    engine.change("web", "src/page.html");
    assert_eq!(updates(&engine.step()), ["web"]);
    let span_id = engine.current_span("web");
    let now = engine.now;
    engine.send(Event::UpdateFinished {
        resource: "web".to_owned(),
        span_id,
        at: now,
        error: None,
        warnings: Vec::new(),
        images: Vec::new(),
        live_update: Some(lilt_model::LiveUpdateRecord::default()),
    });
    assert!(
        runtime_effects(&engine.step()).is_empty(),
        "no restart after a live update"
    );
    assert!(
        engine
            .res("web")
            .history
            .back()
            .is_some_and(|b| b.live_update.is_some()),
        "recorded as a live update"
    );
    engine.change("web", "src/page.html");
    engine.step();
    engine.finish("web", None);
    assert_eq!(
        runtime_effects(&engine.step()),
        ["start web"],
        "a full update restarts it"
    );
}
