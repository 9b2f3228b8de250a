//! Test harness: a fake clock, manifest builders and an engine driver that plays the runner.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use lilt_engine::{
    Decision, Effect, EngineConfig, EngineMode, EngineState, Event, ResourceState, RuntimePhase,
    RuntimeReport, SpanId, TiltfileFailure, decide, reduce,
};
use lilt_model::{Cmd, DeployTarget, LocalTarget, Manifest, Plan, Probe, ProbeAction, TriggerMode};

/// The fake clock: `t(n)` is n seconds after an arbitrary fixed origin.
pub fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// `sh -c SCRIPT`; an empty script is no command.
fn sh(script: &str) -> Option<Cmd> {
    if script.is_empty() {
        return None;
    }
    Some(Cmd {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        dir: PathBuf::from("/project"),
        ..Cmd::default()
    })
}

/// `local_resource(name, cmd=cmd)`.
pub fn local(name: &str, cmd: &str) -> Manifest {
    Manifest {
        name: name.to_owned(),
        image_targets: Vec::new(),
        deploy: DeployTarget::Local(LocalTarget {
            update_cmd: sh(cmd),
            deps: vec![PathBuf::from(format!("/project/{name}"))],
            ..LocalTarget::default()
        }),
        trigger_mode: TriggerMode::Auto,
        resource_deps: Vec::new(),
        labels: Default::default(),
        source_tiltfile: String::new(),
    }
}

/// `local_resource(name, cmd=cmd, serve_cmd=serve)`.
pub fn server(name: &str, cmd: &str, serve: &str) -> Manifest {
    let mut m = local(name, cmd);
    local_mut(&mut m).serve_cmd = sh(serve);
    m
}

pub fn local_mut(m: &mut Manifest) -> &mut LocalTarget {
    match &mut m.deploy {
        DeployTarget::Local(l) => l,
        // Added with the Kubernetes deploy target: these helpers only build local resources.
        other => unreachable!("not a local resource: {other:?}"),
    }
}

pub fn parallel(mut m: Manifest) -> Manifest {
    local_mut(&mut m).allow_parallel = true;
    m
}

pub fn deps(mut m: Manifest, on: &[&str]) -> Manifest {
    m.resource_deps = on.iter().map(|s| (*s).to_owned()).collect();
    m
}

pub fn mode(mut m: Manifest, mode: TriggerMode) -> Manifest {
    m.trigger_mode = mode;
    m
}

pub fn probed(mut m: Manifest) -> Manifest {
    local_mut(&mut m).readiness_probe = Some(Probe {
        initial_delay_secs: 0,
        timeout_secs: 1,
        period_secs: 10,
        success_threshold: 1,
        failure_threshold: 3,
        action: ProbeAction::TcpSocket {
            host: "localhost".into(),
            port: 8080,
        },
    });
    m
}

/// A Plan that enables every resource.
pub fn plan(manifests: Vec<Manifest>) -> Plan {
    let enabled = manifests.iter().map(|m| m.name.clone()).collect();
    Plan {
        tiltfile: PathBuf::from("/project/Tiltfile"),
        manifests,
        enabled,
        config_files: BTreeSet::from([PathBuf::from("/project/Tiltfile")]),
        ..Plan::default()
    }
}

pub fn updates(d: &Decision) -> Vec<String> {
    d.updates().into_iter().map(str::to_owned).collect()
}

/// Holds as `name: reason [on,...]` lines, for compact assertions.
pub fn holds(d: &Decision) -> Vec<String> {
    d.holds
        .iter()
        .map(|(name, hold)| {
            if hold.on.is_empty() {
                format!("{name}: {}", hold.reason)
            } else {
                format!("{name}: {} [{}]", hold.reason, hold.on.join(","))
            }
        })
        .collect()
}

/// Plays the runner: decides, dispatches, and feeds results back, all at `now`.
pub struct Engine {
    pub state: EngineState,
    pub now: SystemTime,
}

impl Engine {
    pub fn new(mode: EngineMode) -> Engine {
        let config = EngineConfig {
            mode,
            tiltfile_args: Vec::new(),
            ci_timeout: Duration::from_secs(30 * 60),
        };
        Engine {
            state: EngineState::new(config, t(0)),
            now: t(0),
        }
    }

    pub fn up() -> Engine {
        Engine::new(EngineMode::Up)
    }

    pub fn ci() -> Engine {
        Engine::new(EngineMode::Ci)
    }

    /// A running `lilt up` with `manifests` loaded.
    pub fn with(manifests: Vec<Manifest>) -> Engine {
        let mut engine = Engine::up();
        engine.load(plan(manifests));
        engine
    }

    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
    }

    pub fn send(&mut self, event: Event) {
        reduce(&mut self.state, event);
    }

    /// What `decide` says now, without dispatching it.
    pub fn peek(&self) -> Decision {
        decide(&self.state, self.now)
    }

    /// Decides and dispatches everything decided.
    pub fn step(&mut self) -> Decision {
        let decision = decide(&self.state, self.now);
        let effects = decision.effects.clone();
        self.send(Event::Dispatched {
            effects,
            at: self.now,
        });
        decision
    }

    /// Runs the pending reload to a successful end with `plan`; returns the reload's
    /// decision (other effects in it were dispatched too).
    pub fn load(&mut self, plan: Plan) -> Decision {
        let decision = self.step();
        let span_id = reload_span(&decision).expect("a reload was pending");
        self.send(Event::TiltfileLoaded {
            span_id,
            at: self.now,
            outcome: Ok(Box::new(plan)),
            warnings: Vec::new(),
        });
        decision
    }

    pub fn load_err(&mut self, message: &str, config_files: Vec<PathBuf>) -> Decision {
        let decision = self.step();
        let span_id = reload_span(&decision).expect("a reload was pending");
        self.send(Event::TiltfileLoaded {
            span_id,
            at: self.now,
            outcome: Err(TiltfileFailure {
                message: message.to_owned(),
                config_files,
            }),
            warnings: Vec::new(),
        });
        decision
    }

    pub fn res(&self, name: &str) -> &ResourceState {
        self.state.resource(name).expect("resource exists")
    }

    pub fn current_span(&self, name: &str) -> SpanId {
        self.res(name)
            .current_build
            .as_ref()
            .expect("resource is building")
            .span_id
    }

    pub fn finish(&mut self, name: &str, error: Option<&str>) {
        let span_id = self.current_span(name);
        self.send(Event::UpdateFinished {
            resource: name.to_owned(),
            span_id,
            at: self.now,
            error: error.map(str::to_owned),
            warnings: Vec::new(),
            images: Vec::new(),
            live_update: None,
        });
    }

    pub fn change(&mut self, name: &str, path: &str) {
        self.send(Event::ResourceFilesChanged {
            resource: name.to_owned(),
            paths: vec![PathBuf::from(path)],
            at: self.now,
        });
    }

    pub fn trigger(&mut self, name: &str) {
        self.send(Event::Trigger {
            resource: name.to_owned(),
            at: self.now,
        });
    }

    pub fn set_enabled(&mut self, name: &str, enabled: bool) {
        self.send(Event::SetEnabled {
            resource: name.to_owned(),
            enabled,
            at: self.now,
        });
    }

    pub fn serve_span(&self, name: &str) -> SpanId {
        match self.res(name).runtime.phase {
            RuntimePhase::Starting { span_id, .. }
            | RuntimePhase::Running { span_id, .. }
            | RuntimePhase::Exited { span_id, .. } => span_id,
            RuntimePhase::Idle => panic!("{name} has no serve process"),
        }
    }

    pub fn serve_started(&mut self, name: &str, pid: u32) {
        let span_id = self.serve_span(name);
        // The local runtime reports "ready" at once when there is no probe to wait for.
        let ready = match &self.res(name).manifest.deploy {
            DeployTarget::Local(local) => local.readiness_probe.is_none(),
            _ => true,
        };
        self.send(Event::Runtime {
            resource: name.to_owned(),
            span_id,
            report: RuntimeReport::Running {
                pid: Some(pid),
                ready,
            },
            at: self.now,
        });
    }

    pub fn probe(&mut self, name: &str, ready: bool) {
        let span_id = self.serve_span(name);
        self.send(Event::Runtime {
            resource: name.to_owned(),
            span_id,
            report: RuntimeReport::Ready(ready),
            at: self.now,
        });
    }

    /// The runtime reports an error state it may recover from (`None`: recovered).
    pub fn failing(&mut self, name: &str, error: Option<&str>) {
        let span_id = self.serve_span(name);
        self.send(Event::Runtime {
            resource: name.to_owned(),
            span_id,
            report: RuntimeReport::Failing(error.map(str::to_owned)),
            at: self.now,
        });
    }

    pub fn serve_exited(&mut self, name: &str, code: i32) {
        let span_id = self.serve_span(name);
        self.send(Event::Runtime {
            resource: name.to_owned(),
            span_id,
            report: RuntimeReport::Exited {
                exit_code: Some(code),
                reason: None,
            },
            at: self.now,
        });
    }

    /// Steps and finishes every update until nothing more starts; returns the update
    /// order.
    pub fn run_to_quiet(&mut self) -> Vec<String> {
        let mut order = Vec::new();
        for _ in 0..100 {
            let started = updates(&self.step());
            if started.is_empty() {
                break;
            }
            for name in &started {
                self.finish(name, None);
            }
            order.extend(started);
        }
        order
    }
}

pub fn reload_span(d: &Decision) -> Option<SpanId> {
    d.effects.iter().find_map(|e| match e {
        Effect::ReloadTiltfile { span_id, .. } => Some(*span_id),
        _ => None,
    })
}

/// Effects other than updates and logs, in a compact form.
pub fn runtime_effects(d: &Decision) -> Vec<String> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartRuntime { resource, .. } => Some(format!("start {resource}")),
            Effect::StopRuntime { resource, reason } => Some(format!("stop {resource} {reason:?}")),
            Effect::ReloadTiltfile { args, .. } => Some(format!("reload {args:?}")),
            _ => None,
        })
        .collect()
}

pub fn logs(d: &Decision) -> Vec<String> {
    d.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}
