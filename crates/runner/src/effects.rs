//! Executing the engine's effects: Tiltfile reloads, updates, runtimes, logs, and button
//! actions. Each long-running piece runs in its own task and reports back as an `Input`.

use std::time::SystemTime;

use lilt_engine::{Effect, Event, LogLevel, LogSource, SpanId};
use lilt_local::{LogSink, RunOutcome};
use lilt_model::{ButtonAction, DeployTarget, TILTFILE_RESOURCE};
use lilt_tiltfile::LoadOptions;
use tokio::sync::oneshot;

use crate::serve::{Reporter, ServeCtl};
use crate::{Input, Loop, append_log};

impl Loop {
    pub(crate) fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::ReloadTiltfile { span_id, args, .. } => self.reload(span_id, args),
            Effect::Update {
                resource, span_id, ..
            } => self.update(resource, span_id),
            Effect::StartRuntime { resource, span_id } => self.start_runtime(resource, span_id),
            Effect::StopRuntime { resource, .. } => {
                if let Some(cancel) = self.updates.remove(&resource) {
                    let _ = cancel.send(());
                }
                if let Some(ctl) = self.serves.get(&resource) {
                    ctl.stop();
                }
            }
            Effect::Log {
                resource,
                level,
                text,
                ..
            } => {
                self.log(resource.as_deref(), None, level, LogSource::System, &text);
            }
        }
    }

    fn reload(&mut self, span_id: SpanId, args: Vec<String>) {
        let mut opts = LoadOptions::new(self.config.tiltfile.clone(), &self.config.subcommand);
        opts.args = args;
        opts.web_port = self.config.web_port;
        opts.web_host = self.config.web_host.clone();
        // `local()` commands belong to this lilt's registry: they end with it, even when it
        // is SIGKILLed, and on Ctrl-C with the cancel flag.
        opts.processes = Some(self.registry.clone());
        // A fresh flag per evaluation: a cancel (Ctrl-C, the dashboard) ends this one only.
        self.cancel_loads = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        opts.cancel = Some(self.cancel_loads.clone());
        let reporter = self.reporter(TILTFILE_RESOURCE);
        opts.progress = Some(lilt_tiltfile::Progress(std::sync::Arc::new(move |text| {
            build_log(&reporter, span_id, LogLevel::Info, text.to_owned());
        })));
        let tx = self.inputs_tx.clone();
        self.log(
            Some(TILTFILE_RESOURCE),
            Some(span_id),
            LogLevel::Info,
            LogSource::Build,
            &format!("Loading Tiltfile at: {}", self.config.tiltfile.display()),
        );
        let started = SystemTime::now();
        // Evaluation is synchronous and its values are not Send: it gets its own thread.
        tokio::task::spawn_blocking(move || {
            let result = lilt_tiltfile::load(&opts);
            let _ = tx.send(Input::Loaded {
                span_id,
                started,
                result: Box::new(result),
            });
        });
    }

    fn reporter(&self, resource: &str) -> Reporter {
        Reporter {
            resource: resource.to_owned(),
            logs: self.logs.clone(),
            dirty: self.logs_dirty.clone(),
            inputs: self.inputs_tx.clone(),
        }
    }

    fn update(&mut self, resource: String, span_id: SpanId) {
        let Some(res) = self.state.resource(&resource) else {
            self.finish_update(resource, span_id, Some("unknown resource".to_owned()));
            return;
        };
        let cmd = match &res.manifest.deploy {
            DeployTarget::Local(local) => local.update_cmd.clone(),
            // Kubernetes and Compose runtimes are not wired into the runner yet: say so on
            // the resource instead of pretending it deployed.
            DeployTarget::K8s(_) | DeployTarget::DockerCompose(_) => {
                let kind = res.manifest.type_name();
                self.finish_update(
                    resource,
                    span_id,
                    Some(format!("lilt cannot deploy {kind} resources yet")),
                );
                return;
            }
        };
        if cmd.is_empty() {
            self.finish_update(resource, span_id, None);
            return;
        }
        let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
        if let Some(previous) = self.updates.insert(resource.clone(), cancel_tx) {
            let _ = previous.send(());
        }
        let launcher = self.launcher.clone();
        let reporter = self.reporter(&resource);
        let sink = {
            let reporter = reporter.clone();
            LogSink::new(move |line| build_log(&reporter, span_id, LogLevel::Info, line.text))
        };
        build_log(
            &reporter,
            span_id,
            LogLevel::Info,
            format!("Running cmd: {}", cmd.display()),
        );
        tokio::spawn(async move {
            let cancel = async {
                let _ = cancel_rx.await;
            };
            let error = match launcher.run(&cmd, &sink, cancel).await {
                Ok(RunOutcome::Exited(exit)) if exit.success() => None,
                Ok(RunOutcome::Exited(exit)) => Some(format!(
                    "Command {:?} failed: exit status {}",
                    cmd.display(),
                    exit.shell_code()
                )),
                Ok(RunOutcome::Cancelled) => Some("cancelled".to_owned()),
                Err(e) => Some(format!("cannot run {:?}: {e}", cmd.display())),
            };
            if let Some(error) = &error {
                build_log(&reporter, span_id, LogLevel::Error, error.clone());
            }
            let _ = reporter.inputs.send(Input::Engine(Event::UpdateFinished {
                resource: reporter.resource.clone(),
                span_id,
                at: SystemTime::now(),
                error,
                warnings: Vec::new(),
            }));
        });
    }

    fn finish_update(&mut self, resource: String, span_id: SpanId, error: Option<String>) {
        let _ = self.inputs_tx.send(Input::Engine(Event::UpdateFinished {
            resource,
            span_id,
            at: SystemTime::now(),
            error,
            warnings: Vec::new(),
        }));
    }

    fn start_runtime(&mut self, resource: String, span_id: SpanId) {
        let Some(res) = self.state.resource(&resource) else {
            return;
        };
        let (cmd, probe) = match &res.manifest.deploy {
            DeployTarget::Local(local) => (local.serve_cmd.clone(), local.readiness_probe.clone()),
            DeployTarget::K8s(_) | DeployTarget::DockerCompose(_) => return,
        };
        if cmd.is_empty() {
            return;
        }
        let reporter = self.reporter(&resource);
        let ctl = self
            .serves
            .entry(resource)
            .or_insert_with(|| ServeCtl::spawn(reporter));
        ctl.start(span_id, self.launcher.clone(), cmd, probe);
    }
}

/// A build-log line of `reporter`'s resource.
fn build_log(reporter: &Reporter, span_id: SpanId, level: LogLevel, text: String) {
    append_log(
        &reporter.logs,
        &reporter.dirty,
        &reporter.inputs,
        lilt_engine::NewLogLine {
            resource: Some(reporter.resource.clone()),
            span_id: Some(span_id),
            level,
            time: SystemTime::now(),
            source: LogSource::Build,
            text,
        },
    );
}

/// Runs what a dashboard button does. Input values reach commands as environment variables.
pub(crate) fn run_button(runner: &mut Loop, name: &str, inputs: &[(String, String)]) {
    let Some(plan) = runner.plan.clone() else {
        return;
    };
    let Some(button) = plan.buttons.iter().find(|b| b.name == name) else {
        return;
    };
    let resource = match &button.location {
        lilt_model::ButtonLocation::Resource(r) => Some(r.clone()),
        lilt_model::ButtonLocation::Global => None,
    };
    match &button.action {
        ButtonAction::None => {}
        ButtonAction::Cmd(cmd) => {
            let mut cmd = cmd.clone();
            cmd.env.extend(inputs.iter().cloned());
            let launcher = runner.launcher.clone();
            let logs = runner.logs.clone();
            let dirty = runner.logs_dirty.clone();
            let tx = runner.inputs_tx.clone();
            let label = name.to_owned();
            tokio::spawn(async move {
                let emit = move |level: LogLevel, text: String| {
                    append_log(
                        &logs,
                        &dirty,
                        &tx,
                        lilt_engine::NewLogLine {
                            resource: resource.clone(),
                            span_id: None,
                            level,
                            time: SystemTime::now(),
                            source: LogSource::Runtime,
                            text,
                        },
                    );
                };
                emit(
                    LogLevel::Info,
                    format!("button {label}: running {}", cmd.display()),
                );
                let sink_emit = emit.clone();
                let sink = LogSink::new(move |line| sink_emit(LogLevel::Info, line.text));
                match launcher
                    .run(&cmd, &sink, std::future::pending::<()>())
                    .await
                {
                    Ok(RunOutcome::Exited(exit)) if exit.success() => {}
                    Ok(RunOutcome::Exited(exit)) => emit(
                        LogLevel::Error,
                        format!("button {label}: exit status {}", exit.shell_code()),
                    ),
                    Ok(RunOutcome::Cancelled) => {}
                    Err(e) => emit(LogLevel::Error, format!("button {label}: {e}")),
                }
            });
        }
        ButtonAction::Browser(launch) => open_browser(runner, name, resource, launch, &plan),
    }
}

/// Starts a `browser_button`'s browser; the launch and the browser's exit go to the log of
/// the button's resource.
fn open_browser(
    runner: &Loop,
    name: &str,
    resource: Option<String>,
    launch: &lilt_model::BrowserLaunch,
    plan: &lilt_model::Plan,
) {
    let log = |level: LogLevel, text: String| {
        runner.log(resource.as_deref(), None, level, LogSource::Runtime, &text)
    };
    if let Some(button) = plan.buttons.iter().find(|b| b.name == name)
        && let Some(needed) = &button.requires_ready
        && !runner.state.resource(needed).is_some_and(|r| r.is_ready())
    {
        log(
            LogLevel::Warn,
            format!("button {name}: waiting for resource {needed} to be ready"),
        );
        return;
    }
    let url = match crate::browser::resolve_url(launch, plan) {
        Ok(url) => url,
        Err(e) => return log(LogLevel::Error, format!("button {name}: {e}")),
    };
    let mut launched = match crate::browser::launch(launch, &url, runner.launcher.env().vars()) {
        Ok(launched) => launched,
        Err(e) => return log(LogLevel::Error, format!("button {name}: {e}")),
    };
    log(
        LogLevel::Info,
        format!(
            "button {name}: opened {url} in a browser (pid {}, profile {})",
            launched.pid,
            launch.profile_dir.display()
        ),
    );
    log(LogLevel::Debug, format!("$ {}", launched.command));
    // Reap it when it exits, and say so; its own output is browser noise.
    let logs = runner.logs.clone();
    let dirty = runner.logs_dirty.clone();
    let tx = runner.inputs_tx.clone();
    let label = name.to_owned();
    tokio::spawn(async move {
        let text = match launched.child.wait().await {
            Ok(status) => format!("button {label}: browser exited ({status})"),
            Err(e) => format!("button {label}: browser: {e}"),
        };
        append_log(
            &logs,
            &dirty,
            &tx,
            lilt_engine::NewLogLine {
                resource,
                span_id: None,
                level: LogLevel::Info,
                time: SystemTime::now(),
                source: LogSource::Runtime,
                text,
            },
        );
    });
}
