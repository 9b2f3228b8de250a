//! The async dispatcher behind `lilt up` and `lilt ci`.
//!
//! One task owns the [`EngineState`]. It asks [`decide`] what to start, records the
//! dispatch with [`Event::Dispatched`], executes the effects through the runtimes (the
//! Tiltfile evaluator on a blocking thread, local processes through `lilt-local`), and
//! turns their results, file changes and user actions back into events. After each batch
//! it publishes a [`Snapshot`] for the web server and the terminal; readers may skip
//! intermediate snapshots.
//!
//! Only this crate and the runtimes do I/O; the engine stays pure.

mod browser;
mod effects;
mod env;
mod live;
pub mod runtime;

pub use browser::to_json as model_json;
pub use env::exec_env;
pub use runtime::Runtimes;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lilt_engine::{
    Action, CiOutcome, EngineConfig, EngineMode, EngineState, Event, LogBudget, LogLevel,
    LogSource, LogStore, NewLogLine, Snapshot, SpanId, TiltfileFailure, ci_status, decide, reduce,
};
use lilt_local::{Launcher, ProcessRegistry};
use lilt_model::{Plan, TILTFILE_RESOURCE};
use lilt_tiltfile::LoadResult;
use lilt_watch::{Batch, TargetId, WatchMessage, WatchSet, Watcher, WatcherConfig};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub tiltfile: PathBuf,
    /// Tiltfile args (after `--`, or the resource names given to `lilt up`).
    pub args: Vec<String>,
    pub mode: EngineMode,
    /// `config.tilt_subcommand`.
    pub subcommand: String,
    /// Watch files (`lilt up`); `lilt ci` does not.
    pub watch: bool,
    pub web_port: u16,
    pub web_host: String,
    /// `lilt ci --timeout`.
    pub ci_timeout: Duration,
    /// How long a stopped process gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    pub watcher: WatcherConfig,
    pub log_budget: LogBudget,
    /// `--namespace`: the developer's own namespace, created and kept marked active.
    pub namespace: Option<String>,
}

impl RunnerConfig {
    pub fn new(tiltfile: PathBuf, mode: EngineMode) -> RunnerConfig {
        RunnerConfig {
            tiltfile,
            args: Vec::new(),
            mode,
            subcommand: match mode {
                EngineMode::Up => "up".to_owned(),
                EngineMode::Ci => "ci".to_owned(),
            },
            watch: mode == EngineMode::Up,
            web_port: 10350,
            web_host: "localhost".to_owned(),
            ci_timeout: Duration::from_secs(30 * 60),
            stop_grace: Duration::from_secs(5),
            watcher: WatcherConfig::default(),
            log_budget: LogBudget::DEFAULT,
            namespace: None,
        }
    }
}

/// Why the runner could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("cannot start the process registry: {0}")]
    Registry(#[from] lilt_local::LocalError),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `lilt ci` reached its verdict.
    Ci(CiOutcome),
    /// Stopped on request (Ctrl-C, SIGTERM).
    Stopped,
}

/// What readers of a running runner get: snapshots, the logs, and a way to ask for things.
#[derive(Clone)]
pub struct RunnerHandle {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub logs: Arc<Mutex<LogStore>>,
    pub actions: mpsc::UnboundedSender<Action>,
}

/// A started runner: its handle, and the future that drives it to the end.
pub struct Started {
    pub handle: RunnerHandle,
    pub done: tokio::task::JoinHandle<Outcome>,
    stop: Option<oneshot::Sender<()>>,
}

impl Started {
    /// Asks the runner to stop: every process is stopped (SIGTERM, then SIGKILL after the
    /// grace period) before `done` resolves.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An update in flight: how to cancel it, and whether it is still building images.
pub(crate) struct RunningUpdate {
    pub(crate) cancel: CancellationToken,
    pub(crate) building: Arc<AtomicBool>,
}

/// Inputs of the loop besides the user's actions.
pub(crate) enum Input {
    Engine(Event),
    Loaded {
        span_id: SpanId,
        started: SystemTime,
        result: Box<LoadResult>,
    },
    Files(Batch),
    WatchWarning(String),
    /// New log lines arrived; republish so readers see them.
    Logs,
}

/// Starts the runner on the current tokio runtime, with the standard runtimes.
pub fn start(config: RunnerConfig) -> Result<Started, RunnerError> {
    let runtimes = Runtimes::standard();
    start_with(config, runtimes)
}

/// Starts the runner with these runtimes (tests plug in fakes here).
pub fn start_with(config: RunnerConfig, runtimes: Runtimes) -> Result<Started, RunnerError> {
    let registry = ProcessRegistry::new()?;
    let now = SystemTime::now();
    let state = EngineState::new(
        EngineConfig {
            mode: config.mode,
            tiltfile_args: config.args.clone(),
            ci_timeout: config.ci_timeout,
        },
        now,
    );
    let logs = Arc::new(Mutex::new(LogStore::new(config.log_budget)));
    let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
    let (actions_tx, actions_rx) = mpsc::unbounded_channel();
    let first = Snapshot {
        state: state.clone(),
        holds: BTreeMap::new(),
        plan: None,
        log_checkpoint: 0,
        fatal_error: String::new(),
        at: now,
    };
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(first));
    let (stop_tx, stop_rx) = oneshot::channel();
    let logs_dirty = Arc::new(AtomicBool::new(false));
    let launcher = Launcher::new(
        registry.clone(),
        env::exec_env(&[], config.web_port, &config.web_host),
    )
    .with_grace(config.stop_grace);
    let runner = Loop {
        config,
        state,
        plan: None,
        watch_set: WatchSet::default(),
        watcher: None,
        watched_config: Vec::new(),
        logs: Arc::clone(&logs),
        logs_dirty,
        inputs_tx,
        snapshot_tx,
        launcher,
        registry,
        runtimes,
        updates: HashMap::new(),
        live: live::LiveState::default(),
        cancel_loads: Arc::new(AtomicBool::new(false)),
    };
    let done = tokio::spawn(runner.run(inputs_rx, actions_rx, stop_rx));
    Ok(Started {
        handle: RunnerHandle {
            snapshots: snapshot_rx,
            logs,
            actions: actions_tx,
        },
        done,
        stop: Some(stop_tx),
    })
}

struct Loop {
    config: RunnerConfig,
    state: EngineState,
    /// The last Plan that loaded.
    plan: Option<Arc<Plan>>,
    watch_set: WatchSet,
    watcher: Option<Watcher>,
    /// Config files of the last load, good or failed: what the watcher watches for reloads.
    watched_config: Vec<PathBuf>,
    logs: Arc<Mutex<LogStore>>,
    logs_dirty: Arc<AtomicBool>,
    inputs_tx: mpsc::UnboundedSender<Input>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    launcher: Launcher,
    registry: ProcessRegistry,
    runtimes: Runtimes,
    /// The running update of each resource.
    updates: HashMap<String, RunningUpdate>,
    /// What live updates keep across updates (ignore rules, synced files, failures).
    live: live::LiveState,
    /// The cancel flag of the latest Tiltfile evaluation (a fresh one per evaluation): set
    /// on shutdown or by "Cancel load", it stops that evaluation.
    cancel_loads: Arc<AtomicBool>,
}

impl Loop {
    async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        mut actions: mpsc::UnboundedReceiver<Action>,
        mut stop: oneshot::Receiver<()>,
    ) -> Outcome {
        // lilt ci's timeouts need the clock to move even when nothing happens; lilt up
        // sleeps until something happens, so an idle lilt uses no CPU.
        let tick_every = match self.state.mode {
            EngineMode::Ci => Duration::from_millis(500),
            EngineMode::Up => Duration::from_secs(3600),
        };
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = loop {
            let now = SystemTime::now();
            let started = std::time::Instant::now();
            let decision = decide(&self.state, now);
            tracing::debug!(
                elapsed_us = started.elapsed().as_micros() as u64,
                effects = decision.effects.len(),
                holds = decision.holds.len(),
                "decide"
            );
            if !decision.effects.is_empty() {
                reduce(
                    &mut self.state,
                    Event::Dispatched {
                        effects: decision.effects.clone(),
                        at: now,
                    },
                );
                for effect in decision.effects {
                    tracing::debug!(?effect, "dispatch");
                    self.execute(effect);
                }
            }
            self.publish(decision.holds, now);
            if self.state.mode == EngineMode::Ci
                && let Some(verdict) = ci_status(&self.state, now)
            {
                break Outcome::Ci(verdict);
            }
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => self.handle(input),
                    None => break Outcome::Stopped,
                },
                action = actions.recv() => {
                    if let Some(action) = action {
                        self.handle_action(action);
                    }
                }
                _ = tick.tick() => {}
                _ = &mut stop => break Outcome::Stopped,
            }
            // Take everything that is already waiting as one batch before deciding again.
            while let Ok(input) = inputs.try_recv() {
                self.handle(input);
            }
            while let Ok(action) = actions.try_recv() {
                self.handle_action(action);
            }
        };
        self.shutdown().await;
        outcome
    }

    fn publish(&mut self, holds: BTreeMap<String, lilt_engine::Hold>, now: SystemTime) {
        tracing::trace!(holds = holds.len(), "publish snapshot");
        self.logs_dirty.store(false, Ordering::Release);
        let checkpoint = self.logs.lock().map(|l| l.checkpoint()).unwrap_or_default();
        let snapshot = Snapshot {
            state: self.state.clone(),
            holds,
            plan: self.plan.clone(),
            log_checkpoint: checkpoint,
            fatal_error: String::new(),
            at: now,
        };
        self.snapshot_tx.send_replace(Arc::new(snapshot));
    }

    fn handle(&mut self, input: Input) {
        let now = SystemTime::now();
        match input {
            // Describing an event costs a format: only when the debug log is on.
            Input::Engine(event) if tracing::enabled!(tracing::Level::DEBUG) => {
                let started = std::time::Instant::now();
                let what = describe(&event);
                reduce(&mut self.state, event);
                tracing::debug!(
                    event = %what,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "reduce"
                );
            }
            Input::Engine(event) => reduce(&mut self.state, event),
            Input::Loaded {
                span_id,
                started,
                result,
            } => self.loaded(span_id, started, *result),
            Input::Files(batch) => self.files_changed(batch, now),
            Input::WatchWarning(text) => {
                self.log(None, None, LogLevel::Warn, LogSource::System, &text)
            }
            Input::Logs => {}
        }
    }

    fn handle_action(&mut self, action: Action) {
        let now = SystemTime::now();
        match action {
            Action::Trigger { resource } => {
                reduce(&mut self.state, Event::Trigger { resource, at: now })
            }
            Action::SetTriggerMode { resources, mode } => {
                for resource in resources {
                    reduce(&mut self.state, Event::SetTriggerMode { resource, mode });
                }
            }
            Action::SetEnabled { resources, enabled } => {
                for resource in resources {
                    reduce(
                        &mut self.state,
                        Event::SetEnabled {
                            resource,
                            enabled,
                            at: now,
                        },
                    );
                }
            }
            Action::SetTiltfileArgs { args } => {
                reduce(&mut self.state, Event::SetTiltfileArgs { args, at: now })
            }
            Action::ClickButton { name, inputs } => reduce(
                &mut self.state,
                Event::ButtonClicked {
                    name,
                    inputs,
                    at: now,
                },
            ),
            Action::CancelTiltfileLoad => {
                // Each evaluation has its own flag, so this cannot cancel the next one.
                if !self.cancel_loads.swap(true, Ordering::Relaxed) {
                    self.log(
                        Some(TILTFILE_RESOURCE),
                        None,
                        LogLevel::Warn,
                        LogSource::System,
                        "Cancelling the Tiltfile evaluation (asked from the dashboard or API)",
                    );
                }
            }
        }
    }

    /// Appends one line to the log store.
    fn log(
        &self,
        resource: Option<&str>,
        span_id: Option<SpanId>,
        level: LogLevel,
        source: LogSource,
        text: &str,
    ) {
        append_log(
            &self.logs,
            &self.logs_dirty,
            &self.inputs_tx,
            NewLogLine {
                resource: resource.map(str::to_owned),
                span_id,
                level,
                time: SystemTime::now(),
                source,
                text: text.to_owned(),
            },
        );
    }

    /// A Tiltfile evaluation finished: record its log, apply the Plan, rewatch.
    fn loaded(&mut self, span_id: SpanId, started: SystemTime, result: LoadResult) {
        tracing::debug!(
            ?span_id,
            elapsed_ms = SystemTime::now()
                .duration_since(started)
                .unwrap_or_default()
                .as_millis() as u64,
            manifests = result.plan.manifests.len(),
            error = result.error.as_ref().map(|e| e.to_string()),
            "tiltfile evaluated"
        );
        let resource = Some(TILTFILE_RESOURCE);
        for line in &result.log {
            let level = match line.level {
                lilt_tiltfile::LogLevel::Info => LogLevel::Info,
                lilt_tiltfile::LogLevel::Warn => LogLevel::Warn,
                lilt_tiltfile::LogLevel::Error => LogLevel::Error,
            };
            self.log(resource, Some(span_id), level, LogSource::Build, &line.text);
        }
        let now = SystemTime::now();
        let config_files: Vec<PathBuf> = result.plan.config_files.iter().cloned().collect();
        let outcome = match result.error {
            None => {
                let took = now.duration_since(started).unwrap_or_default();
                self.log(
                    resource,
                    Some(span_id),
                    LogLevel::Info,
                    LogSource::Build,
                    &format!(
                        "Successfully loaded Tiltfile ({})",
                        lilt_engine::go_duration(took)
                    ),
                );
                let plan = Arc::new(result.plan);
                self.launcher = Launcher::new(
                    self.registry.clone(),
                    env::exec_env(
                        &plan.env_changes,
                        self.config.web_port,
                        &self.config.web_host,
                    ),
                )
                .with_grace(self.config.stop_grace);
                self.plan = Some(Arc::clone(&plan));
                Ok(Box::new((*plan).clone()))
            }
            Some(error) => Err(TiltfileFailure {
                message: error.to_string(),
                config_files: config_files.clone(),
            }),
        };
        self.watched_config = config_files;
        self.rewatch();
        reduce(
            &mut self.state,
            Event::TiltfileLoaded {
                span_id,
                at: now,
                outcome,
                warnings: result.warnings,
            },
        );
    }

    /// Rebuilds the file watch from the last good Plan and the latest config files.
    fn rewatch(&mut self) {
        let mut plan = match &self.plan {
            Some(plan) => (**plan).clone(),
            None => Plan {
                tiltfile: self.config.tiltfile.clone(),
                ..Plan::default()
            },
        };
        plan.config_files
            .extend(self.watched_config.iter().cloned());
        let (set, errors) = WatchSet::from_plan(&plan);
        for error in errors {
            self.log(
                None,
                None,
                LogLevel::Warn,
                LogSource::System,
                &error.to_string(),
            );
        }
        self.watch_set = set.clone();
        self.live.plan_loaded();
        if !self.config.watch {
            return;
        }
        // Drop the old watcher first so its thread stops before the new walk starts.
        self.watcher = None;
        let tx = self.inputs_tx.clone();
        let sink = move |msg: WatchMessage| {
            let _ = match msg {
                WatchMessage::Changes(batch) => tx.send(Input::Files(batch)),
                WatchMessage::Warning(w) => tx.send(Input::WatchWarning(w.to_string())),
            };
        };
        match Watcher::start(set, self.config.watcher, sink) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => self.log(
                None,
                None,
                LogLevel::Error,
                LogSource::System,
                &format!("file watching is off: {e}"),
            ),
        }
    }

    /// Maps a batch of changed paths to config reloads and resource changes.
    fn files_changed(&mut self, batch: Batch, now: SystemTime) {
        let mut config = Vec::new();
        let mut by_resource: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let mut image_inputs: BTreeSet<String> = BTreeSet::new();
        for path in &batch.paths {
            for target in self.watch_set.affected([path.as_path()]) {
                if target == TargetId::configs() {
                    config.push(path.clone());
                    continue;
                }
                let is_image = matches!(target, TargetId::Image(_));
                for resource in self.resources_of(&target) {
                    if is_image {
                        image_inputs.insert(resource.clone());
                    }
                    by_resource.entry(resource).or_default().push(path.clone());
                }
            }
        }
        // A build whose inputs just changed would produce a stale image: stop it, and the
        // engine starts the update over with the new change (Tilt lets it finish first).
        for resource in &image_inputs {
            if let Some(update) = self.updates.get(resource)
                && update.building.load(Ordering::Acquire)
                && !update.cancel.is_cancelled()
            {
                update.cancel.cancel();
                self.log(
                    Some(resource),
                    None,
                    LogLevel::Info,
                    LogSource::Build,
                    "Files changed during the build: cancelling it to build again",
                );
            }
        }
        if !config.is_empty() {
            reduce(
                &mut self.state,
                Event::ConfigFilesChanged {
                    paths: config,
                    at: now,
                },
            );
        }
        for (resource, paths) in by_resource {
            reduce(
                &mut self.state,
                Event::ResourceFilesChanged {
                    resource,
                    paths,
                    at: now,
                },
            );
        }
    }

    /// The resources a watch target belongs to.
    fn resources_of(&self, target: &TargetId) -> Vec<String> {
        match target {
            // A local resource's deps, or a k8s_custom_deploy's deps (re-applied on change).
            TargetId::Local(name) | TargetId::K8s(name) => vec![name.clone()],
            TargetId::Image(image) => self.plan.as_ref().map_or_else(Vec::new, |plan| {
                plan.manifests
                    .iter()
                    .filter(|m| m.image_targets.iter().any(|i| i.image_ref == *image))
                    .map(|m| m.name.clone())
                    .collect()
            }),
            TargetId::Configs => Vec::new(),
        }
    }

    async fn shutdown(&mut self) {
        self.cancel_loads.store(true, Ordering::Relaxed);
        self.watcher = None;
        for (_, update) in self.updates.drain() {
            update.cancel.cancel();
        }
        self.runtimes.shutdown().await;
        let registry = self.registry.clone();
        let grace = Duration::from_secs(1);
        let _ = tokio::task::spawn_blocking(move || registry.kill_all(grace)).await;
    }
}

/// Appends a line and wakes the loop once per burst, so readers see new logs promptly
/// without one snapshot per line.
pub(crate) fn append_log(
    logs: &Mutex<LogStore>,
    dirty: &AtomicBool,
    inputs: &mpsc::UnboundedSender<Input>,
    line: NewLogLine,
) {
    if let Ok(mut store) = logs.lock() {
        store.append_text(line);
    }
    if !dirty.swap(true, Ordering::AcqRel) {
        let _ = inputs.send(Input::Logs);
    }
}

/// An event for the debug log: the Plan of a loaded Tiltfile is summarised, not dumped.
fn describe(event: &Event) -> String {
    match event {
        Event::TiltfileLoaded {
            span_id, outcome, ..
        } => match outcome {
            Ok(plan) => format!(
                "TiltfileLoaded {{ span_id: {span_id:?}, manifests: {} }}",
                plan.manifests.len()
            ),
            Err(failure) => {
                format!("TiltfileLoaded {{ span_id: {span_id:?}, error: {failure:?} }}")
            }
        },
        other => format!("{other:?}"),
    }
}
