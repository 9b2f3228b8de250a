//! Executing the engine's effects: Tiltfile reloads, updates, runtimes, logs, and button
//! actions. Each long-running piece runs in its own task and reports back as an `Input`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use lilt_engine::{Effect, Event, LogLevel, LogSource, SpanId};
use lilt_local::{LogSink, RunOutcome};
use lilt_model::{ButtonAction, TILTFILE_RESOURCE};
use lilt_tiltfile::LoadOptions;
use tokio_util::sync::CancellationToken;

use crate::live::{self, LiveOutcome, LiveState, Route};
use crate::runtime::{self, BuildJob, Reporter, StartJob, UpdateJob, UpdateOutcome};
use crate::{Input, Loop, RunningUpdate, append_log};

impl Loop {
    pub(crate) fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::ReloadTiltfile { span_id, args, .. } => self.reload(span_id, args),
            Effect::Update {
                resource,
                span_id,
                changed_files,
                full_rebuild,
                ..
            } => self.update(resource, span_id, changed_files, full_rebuild),
            Effect::StartRuntime { resource, span_id } => self.start_runtime(resource, span_id),
            Effect::StopRuntime { resource, .. } => self.stop_runtime(resource),
            Effect::RunButton { name, inputs, .. } => run_button(self, &name, &inputs),
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
        opts.kube_namespace = self.config.namespace.clone();
        // `local()` commands belong to this lilt's registry: they end with it, even when it
        // is SIGKILLed, and on Ctrl-C with the cancel flag.
        opts.processes = Some(self.registry.clone());
        // A fresh flag per evaluation: a cancel (Ctrl-C, the dashboard) ends this one only.
        self.cancel_loads = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        opts.cancel = Some(self.cancel_loads.clone());
        let reporter = self.reporter(TILTFILE_RESOURCE);
        opts.progress = Some(lilt_tiltfile::Progress(std::sync::Arc::new(move |text| {
            reporter.build_log(span_id, LogLevel::Info, text.to_owned());
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

    pub(crate) fn reporter(&self, resource: &str) -> Reporter {
        Reporter {
            resource: resource.to_owned(),
            logs: self.logs.clone(),
            dirty: self.logs_dirty.clone(),
            inputs: self.inputs_tx.clone(),
        }
    }

    /// Updates a resource, one task per update, answered with `UpdateFinished`: a live
    /// update of its running containers when the changed files allow it (see `live`),
    /// else its images built and deployed through its runtime.
    fn update(
        &mut self,
        resource: String,
        span_id: SpanId,
        changed_files: Vec<PathBuf>,
        full_rebuild: bool,
    ) {
        let (Some(res), Some(plan)) = (self.state.resource(&resource), self.plan.clone()) else {
            self.finish_update(resource, span_id, Some("unknown resource".to_owned()));
            return;
        };
        let manifest = res.manifest.clone();
        let deployed = res.images.clone();
        let route = if full_rebuild {
            Route::Full(None)
        } else {
            self.live
                .route(&plan, &self.watch_set, &manifest, &deployed, &changed_files)
        };
        let cancel = CancellationToken::new();
        let building = Arc::new(AtomicBool::new(false));
        let running = RunningUpdate {
            cancel: cancel.clone(),
            building: building.clone(),
        };
        if let Some(previous) = self.updates.insert(resource.clone(), running) {
            previous.cancel.cancel();
        }
        let runtime = self.runtimes.for_deploy(&manifest.deploy).clone();
        let reporter = self.reporter(&resource);
        let full = FullUpdate {
            images: runtime::images_to_build(&manifest),
            manifest,
            plan,
            runtime: runtime.clone(),
            builder: self.runtimes.images.clone(),
            reporter: reporter.clone(),
            launcher: self.launcher.clone(),
            cancel,
            building,
            span_id,
            changed_files,
            full_rebuild,
            live: self.live.clone(),
        };
        let live = self.live.clone();
        tokio::spawn(async move {
            // A live update builds no image: it finishes with none (the resource keeps the
            // ones it runs) and with what it did.
            let (outcome, images, live_update) = match route {
                Route::Live(steps) => {
                    match live::apply(&runtime, &live, &steps, &reporter, span_id).await {
                        LiveOutcome::Done(record) => {
                            (UpdateOutcome::ok(), Vec::new(), Some(record))
                        }
                        LiveOutcome::RunFailed(error, record) => {
                            (UpdateOutcome::failed(error), Vec::new(), Some(record))
                        }
                        LiveOutcome::FallBack(why) => {
                            reporter.build_log(
                                span_id,
                                LogLevel::Warn,
                                format!(
                                    "Live update failed ({why}): falling back to a full rebuild"
                                ),
                            );
                            let (outcome, images) = full.run().await;
                            (outcome, images, None)
                        }
                    }
                }
                Route::Full(why) => {
                    if let Some(why) = why {
                        reporter.build_log(span_id, LogLevel::Info, format!("Full rebuild: {why}"));
                    }
                    let (outcome, images) = full.run().await;
                    (outcome, images, None)
                }
            };
            let _ = reporter.inputs.send(Input::Engine(Event::UpdateFinished {
                resource: reporter.resource().to_owned(),
                span_id,
                at: SystemTime::now(),
                error: outcome.error,
                warnings: outcome.warnings,
                images,
                live_update,
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
            images: Vec::new(),
            live_update: None,
        }));
    }

    fn start_runtime(&mut self, resource: String, span_id: SpanId) {
        let Some(res) = self.state.resource(&resource) else {
            return;
        };
        let catch_up = self.plan.clone().and_then(|plan| {
            live::CatchUpFiles::for_resource(
                &self.live,
                plan,
                res.manifest.clone(),
                res.images.clone(),
            )
        });
        let job = StartJob {
            manifest: res.manifest.clone(),
            span_id,
            launcher: self.launcher.clone(),
            reporter: self.reporter(&resource),
            catch_up,
        };
        self.runtimes.for_deploy(&res.manifest.deploy).start(job);
    }

    fn stop_runtime(&mut self, resource: String) {
        if let Some(update) = self.updates.remove(&resource) {
            update.cancel.cancel();
        }
        match self.state.resource(&resource) {
            Some(res) => self
                .runtimes
                .for_deploy(&res.manifest.deploy)
                .stop(&resource),
            // Already gone from the Plan: whichever runtime ran it stops it.
            None => {
                self.runtimes.local.stop(&resource);
                self.runtimes.k8s.stop(&resource);
                self.runtimes.compose.stop(&resource);
            }
        }
    }
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

/// A full update: the images built (or found up to date), then deployed by the runtime.
struct FullUpdate {
    manifest: Arc<lilt_model::Manifest>,
    plan: Arc<lilt_model::Plan>,
    runtime: Arc<dyn runtime::Runtime>,
    builder: Arc<dyn runtime::ImageBuilder>,
    reporter: Reporter,
    launcher: lilt_local::Launcher,
    images: Vec<lilt_model::ImageTarget>,
    cancel: CancellationToken,
    /// Set while building: a change to the images' inputs then cancels the build and the
    /// engine starts it over (see `Loop::files_changed`).
    building: Arc<AtomicBool>,
    span_id: SpanId,
    changed_files: Vec<PathBuf>,
    full_rebuild: bool,
    live: LiveState,
}

impl FullUpdate {
    async fn run(self) -> (UpdateOutcome, Vec<lilt_model::BuiltImage>) {
        let FullUpdate {
            manifest,
            plan,
            runtime,
            builder,
            reporter,
            launcher,
            images,
            cancel,
            building,
            span_id,
            changed_files,
            full_rebuild,
            live,
        } = self;
        let built = if images.is_empty() {
            Ok(Vec::new())
        } else {
            building.store(true, Ordering::Release);
            let job = BuildJob {
                resource: reporter.resource().to_owned(),
                deploy: manifest.deploy.clone(),
                images,
                plan: plan.clone(),
                span_id,
                launcher: launcher.clone(),
                reporter: reporter.clone(),
                cancel: cancel.clone(),
            };
            let built = builder.build(job).await;
            building.store(false, Ordering::Release);
            built
        };
        match built {
            Ok(images) => {
                for image in &images {
                    reporter.build_log(
                        span_id,
                        LogLevel::Info,
                        format!("image ready: {}", image.built_ref),
                    );
                }
                let resource = reporter.resource().to_owned();
                let job = UpdateJob {
                    manifest,
                    plan,
                    span_id,
                    changed_files,
                    full_rebuild,
                    images: images.clone(),
                    launcher,
                    reporter,
                    cancel,
                };
                let outcome = runtime.update(job).await;
                if outcome.error.is_none() {
                    // Containers now run these images as built: nothing synced into them yet.
                    if let Ok(mut ledger) = live.ledger.lock() {
                        for image in images.iter().filter(|i| !i.cached) {
                            ledger.image_built(&image.image_ref, &image.built_ref);
                        }
                    }
                    if let Ok(mut broken) = live.broken.lock() {
                        broken.remove(&resource);
                    }
                }
                (outcome, images)
            }
            Err(failure) => {
                reporter.build_log(span_id, LogLevel::Error, failure.error.clone());
                (UpdateOutcome::failed(failure.error), failure.built)
            }
        }
    }
}
