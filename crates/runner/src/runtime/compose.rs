//! The Docker Compose runtime: an update runs the user's Compose tool (`lilt-compose`)
//! with `up --detach --no-deps SERVICE` for the resource's service, the project exactly as
//! the Tiltfile resolved it and an override file giving the service the image lilt built;
//! the runtime part follows the service's container through the Docker Engine API (events
//! and inspect) and its log; disabling removes the container; `lilt down` runs Compose's
//! `down` once per project.
//!
//! Compose decides what to recreate: a new image (a new content tag) or a changed service
//! configuration recreates the container, an unchanged one leaves it running.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use futures::FutureExt;
use futures::future::BoxFuture;
use lilt_build::{DockerEnv, HostSource};
use lilt_compose::{Change, ComposeCommand, Daemon, Flavor, Phase, PhaseTracker, ServiceKey};
use lilt_engine::{LogLevel, LogSource, RuntimeInfo, RuntimeReport, SpanId};
use lilt_local::{Launcher, LogSink, RunOutcome};
use lilt_model::{BuildDetails, Cmd, DeployTarget, DockerComposeTarget, Manifest, Plan};
use tokio::sync::Notify;

use super::{DeleteJob, Reporter, Runtime, StartJob, UpdateJob, UpdateOutcome};

/// How often `docker-compose up` runs for one update before it fails (see its call).
const UP_ATTEMPTS: u32 = 2;

/// Runs Compose services on the daemon the docker CLI would use.
#[derive(Default)]
pub struct ComposeRuntime {
    shared: Arc<Shared>,
    /// The status watch of each started resource.
    watches: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// Projects `lilt down` has taken down already (one `down` per project).
    downed: Arc<tokio::sync::Mutex<HashSet<String>>>,
}

/// What update tasks share with the runtime.
#[derive(Default)]
struct Shared {
    /// The Compose tool, found on first use.
    command: tokio::sync::OnceCell<Result<ComposeCommand, String>>,
    /// The Engine API connection, made on first use.
    daemon: OnceLock<Result<Daemon, String>>,
    /// The service each deployed resource runs.
    services: Mutex<HashMap<String, ServiceKey>>,
    /// The containers of each resource already brought up to date after they started (live
    /// update catch-up); kept across restarts of the status watch.
    caught_up: Mutex<HashMap<String, Arc<Mutex<HashSet<String>>>>>,
    /// The log streams of each resource. They outlive restarts of the status watch (every
    /// successful update restarts it), so no line is shown twice.
    logs: Mutex<HashMap<String, Streams>>,
}

/// One resource's log streams, by container id, and what wakes a stream waiting for its
/// stopped container to run again (the status watch, on every event).
#[derive(Default)]
struct Streams {
    wake: Arc<Notify>,
    tasks: HashMap<String, tokio::task::JoinHandle<()>>,
}

impl Drop for Streams {
    fn drop(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
    }
}

impl Shared {
    fn daemon(&self, launcher: &Launcher) -> Result<Daemon, String> {
        self.daemon
            .get_or_init(|| {
                Daemon::from_env(&docker_env(launcher))
                    .map_err(|e| format!("cannot follow Compose services: {e}"))
            })
            .clone()
    }

    async fn command(&self, env: &[(String, String)]) -> Result<ComposeCommand, String> {
        self.command
            .get_or_init(|| async { ComposeCommand::detect(env).await.map_err(|e| e.to_string()) })
            .await
            .clone()
    }
}

/// Lilt's launcher environment, as the docker CLI would read it.
fn docker_env(launcher: &Launcher) -> DockerEnv {
    DockerEnv::from_vars(string_env(launcher))
}

fn string_env(launcher: &Launcher) -> Vec<(String, String)> {
    launcher
        .env()
        .vars()
        .iter()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v.to_str()?.to_owned())))
        .collect()
}

/// Variables that point Compose at the daemon lilt builds on and watches: when that daemon
/// comes from a docker context, Compose v1 would not read the context, so its address is
/// passed as `DOCKER_HOST` (with the context's TLS files).
fn compose_env(env: &DockerEnv) -> Vec<(String, String)> {
    let Ok(resolved) = lilt_build::resolve_host(env) else {
        return Vec::new();
    };
    if !matches!(resolved.source, HostSource::Context(_)) {
        return Vec::new();
    }
    let mut vars = vec![("DOCKER_HOST".to_owned(), resolved.host.clone())];
    if let Some(tls) = &resolved.tls
        && let Some(dir) = tls.ca.parent()
    {
        vars.push(("DOCKER_TLS_VERIFY".to_owned(), "1".to_owned()));
        vars.push(("DOCKER_CERT_PATH".to_owned(), dir.display().to_string()));
    }
    vars
}

/// Where lilt keeps its override files: `.lilt/compose/` beside the Tiltfile, else a
/// directory of lilt's own under the system temp dir.
fn state_dir(plan: &Plan) -> PathBuf {
    match plan.tiltfile.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(".lilt").join("compose"),
        _ => std::env::temp_dir().join("lilt-compose"),
    }
}

fn key_of(target: &DockerComposeTarget) -> ServiceKey {
    ServiceKey {
        project: target.project.name.clone(),
        service: target.service.clone(),
    }
}

/// Whether Compose builds the service's image itself (`build:` without a `docker_build`).
fn compose_builds(manifest: &Manifest) -> bool {
    manifest
        .image_targets
        .iter()
        .any(|i| matches!(i.build, BuildDetails::DockerCompose(_)))
}

impl ComposeRuntime {
    /// The ids of the containers running `resource`'s service, newest first (for live
    /// updates, which copy files into them). Empty when it was never deployed.
    pub async fn containers(&self, resource: &str) -> Result<Vec<String>, String> {
        let key = self
            .shared
            .services
            .lock()
            .ok()
            .and_then(|s| s.get(resource).cloned());
        let Some(key) = key else {
            return Ok(Vec::new());
        };
        let daemon = match self.shared.daemon.get() {
            Some(daemon) => daemon.clone()?,
            None => return Ok(Vec::new()),
        };
        daemon.containers(&key).await.map_err(|e| e.to_string())
    }

    fn stop_watch(&self, resource: &str) {
        if let Some(watch) = self
            .watches
            .lock()
            .ok()
            .and_then(|mut w| w.remove(resource))
        {
            watch.abort();
        }
    }
}

impl Runtime for ComposeRuntime {
    fn update(&self, job: UpdateJob) -> BoxFuture<'static, UpdateOutcome> {
        // The old container dies when Compose recreates it: that is not the service
        // exiting, so the watch stops until the next start.
        self.stop_watch(&job.manifest.name);
        let shared = self.shared.clone();
        async move {
            let DeployTarget::DockerCompose(target) = &job.manifest.deploy else {
                return UpdateOutcome::failed("not a Docker Compose resource");
            };
            let fail = |error: String| {
                job.reporter
                    .build_log(job.span_id, LogLevel::Error, error.clone());
                UpdateOutcome::failed(error)
            };
            let env = string_env(&job.launcher);
            let command = match shared.command(&env).await {
                Ok(command) => command,
                Err(error) => return fail(error),
            };
            // The image lilt built for this service (a docker_build the service uses).
            let image = job
                .images
                .iter()
                .find(|b| target.image_maps.contains(&b.image_ref));
            let mut extra_files = Vec::new();
            if let Some(image) = image {
                match lilt_compose::cli::write_override(
                    &state_dir(&job.plan),
                    &target.project,
                    &target.service,
                    &image.built_ref,
                ) {
                    Ok(path) => extra_files.push(path),
                    Err(e) => return fail(e.to_string()),
                }
            }
            let wait = target.project.wait && command.flavor == Flavor::V2Plugin;
            let args =
                lilt_compose::cli::up_args(&target.service, compose_builds(&job.manifest), wait);
            let cmd = Cmd {
                argv: command.argv(&target.project, &extra_files, &args),
                dir: target.project.project_path.clone(),
                env: compose_env(&DockerEnv::from_vars(env)),
                echo_off: false,
            };
            job.reporter.build_log(
                job.span_id,
                LogLevel::Info,
                format!("Running cmd: {}", cmd.display()),
            );
            let sink = job.reporter.sink(job.span_id, LogSource::Build);
            // `up` is idempotent, and docker-compose v1 races with itself when services of
            // one project come up at once (one `up` lists the project's containers while
            // another replaces one: "No such container"; seen in CI): a failed `up` is
            // tried once more, and says so, before the update fails.
            let mut attempt = 1;
            loop {
                match job.launcher.run(&cmd, &sink, job.cancel.cancelled()).await {
                    Ok(RunOutcome::Exited(exit)) if exit.success() => break,
                    Ok(RunOutcome::Exited(exit)) if attempt < UP_ATTEMPTS => {
                        job.reporter.build_log(
                            job.span_id,
                            LogLevel::Warn,
                            format!(
                                "{} up failed (exit status {}); trying once more",
                                command.program.join(" "),
                                exit.shell_code()
                            ),
                        );
                        attempt += 1;
                    }
                    Ok(RunOutcome::Exited(exit)) => {
                        return fail(format!(
                            "{} up failed: exit status {}",
                            command.program.join(" "),
                            exit.shell_code()
                        ));
                    }
                    Ok(RunOutcome::Cancelled) => return UpdateOutcome::failed("cancelled"),
                    Err(e) => {
                        return fail(format!("cannot run {}: {e}", command.program.join(" ")));
                    }
                }
            }
            if let Ok(mut services) = shared.services.lock() {
                services.insert(job.manifest.name.clone(), key_of(target));
            }
            UpdateOutcome::ok()
        }
        .boxed()
    }

    fn start(&self, job: StartJob) {
        let DeployTarget::DockerCompose(target) = &job.manifest.deploy else {
            return;
        };
        let name = job.manifest.name.clone();
        self.stop_watch(&name);
        let reporter = job.reporter.clone();
        let span_id = job.span_id;
        let daemon = match self.shared.daemon(&job.launcher) {
            Ok(daemon) => daemon,
            Err(error) => {
                reporter.runtime_log(span_id, LogLevel::Error, error.clone());
                reporter.runtime(
                    span_id,
                    RuntimeReport::Exited {
                        exit_code: None,
                        reason: Some(error),
                    },
                );
                return;
            }
        };
        let key = key_of(target);
        if let Ok(mut services) = self.shared.services.lock() {
            services.insert(name.clone(), key.clone());
        }
        let shared = self.shared.clone();
        let wake = self
            .shared
            .logs
            .lock()
            .map(|mut l| l.entry(name.clone()).or_default().wake.clone())
            .unwrap_or_default();
        let catch_up = job.catch_up.clone();
        let caught_up = self
            .shared
            .caught_up
            .lock()
            .map(|mut c| c.entry(name.clone()).or_default().clone())
            .unwrap_or_default();
        let watch = tokio::spawn(async move {
            let mut tracker = PhaseTracker::default();
            let mut shown: Option<RuntimeInfo> = None;
            let error_reporter = reporter.clone();
            let on_change = |change: Change| {
                wake.notify_waiters();
                let phases = match change {
                    Change::Status(Some(status)) => {
                        follow_logs(&shared, &daemon, &name, &status.id, &reporter, span_id);
                        // A container running for the first time (created by an update, or
                        // recreated) gets `initial_sync` or what was live-updated since its
                        // image was built; a restart keeps its files.
                        if status.state == lilt_compose::State::Running
                            && caught_up
                                .lock()
                                .is_ok_and(|mut c| c.insert(status.id.clone()))
                            && let Some(catch_up) = &catch_up
                        {
                            catch_up_container(
                                &daemon,
                                catch_up.as_ref(),
                                &status.id,
                                &reporter,
                                span_id,
                            );
                        }
                        let info = RuntimeInfo {
                            name: status.name.clone(),
                            status: status.display(),
                            restarts: status.restarts,
                            created: None,
                            all_ready: status.ready(),
                            health: status.health.map(|h| {
                                match h {
                                    lilt_compose::Health::Starting => "starting",
                                    lilt_compose::Health::Healthy => "healthy",
                                    lilt_compose::Health::Unhealthy => "unhealthy",
                                }
                                .to_owned()
                            }),
                        };
                        if shown.as_ref() != Some(&info) {
                            shown = Some(info.clone());
                            reporter.runtime(span_id, RuntimeReport::Info(info));
                        }
                        tracker.observe(&status)
                    }
                    Change::Died { id, exit_code } => tracker.died(&id, exit_code),
                    Change::Status(None) => Vec::new(),
                };
                for phase in phases {
                    report(&reporter, span_id, phase);
                }
            };
            let on_error = move |error: String| {
                error_reporter.runtime_log(span_id, LogLevel::Warn, error);
            };
            daemon.watch(&key, on_change, on_error).await;
        });
        if let Ok(mut watches) = self.watches.lock() {
            watches.insert(job.manifest.name.clone(), watch);
        }
    }

    fn stop(&self, resource: &str) {
        self.stop_watch(resource);
        // Dropping a resource's streams ends them.
        if let Ok(mut logs) = self.shared.logs.lock() {
            logs.remove(resource);
        }
        // Disabled: the service's container goes, as `docker compose rm --stop` would.
        let key = self
            .shared
            .services
            .lock()
            .ok()
            .and_then(|mut s| s.remove(resource));
        if let (Some(key), Some(Ok(daemon))) = (key, self.shared.daemon.get().cloned()) {
            tokio::spawn(async move {
                if let Err(e) = daemon.remove_service(&key).await {
                    tracing::warn!(service = %key.service, error = %e, "removing a compose service");
                }
            });
        }
    }

    /// lilt leaves Compose services running when it exits, as Tilt does (`lilt down`
    /// removes them); only the watches and log streams end.
    fn shutdown(&self) -> BoxFuture<'static, ()> {
        if let Ok(mut watches) = self.watches.lock() {
            for (_, watch) in watches.drain() {
                watch.abort();
            }
        }
        if let Ok(mut logs) = self.shared.logs.lock() {
            logs.clear();
        }
        futures::future::ready(()).boxed()
    }

    /// The service's running containers (normally one), reached through the Engine API:
    /// the archive upload, exec, and restart for `restart_container()`.
    fn live_targets(
        &self,
        resource: &str,
        _built: &lilt_model::BuiltImage,
        reporter: Reporter,
        span_id: SpanId,
    ) -> BoxFuture<'static, Result<super::LiveTargets, String>> {
        let key = self
            .shared
            .services
            .lock()
            .ok()
            .and_then(|s| s.get(resource).cloned());
        let daemon = self.shared.daemon.get().cloned();
        let resource = resource.to_owned();
        async move {
            let key = key.ok_or_else(|| format!("{resource} is not deployed"))?;
            let daemon = daemon.ok_or_else(|| format!("{resource} is not running"))??;
            let mut containers = Vec::new();
            for id in daemon.containers(&key).await.map_err(|e| e.to_string())? {
                let running = daemon
                    .inspect(&id)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some_and(|st| st.state == lilt_compose::State::Running);
                if running {
                    containers.push(lilt_liveupdate::ContainerRef::Docker { id });
                }
            }
            let applier = lilt_liveupdate::DockerContainers::new(daemon.docker().clone())
                .with_output(reporter.live_output(span_id));
            Ok(super::LiveTargets {
                containers,
                applier: Arc::new(applier),
            })
        }
        .boxed()
    }

    fn delete(&self, job: DeleteJob) -> BoxFuture<'static, Result<(), String>> {
        let shared = self.shared.clone();
        let downed = self.downed.clone();
        async move {
            let DeployTarget::DockerCompose(target) = &job.manifest.deploy else {
                return Ok(());
            };
            let mut downed = downed.lock().await;
            if !downed.insert(target.project.name.clone()) {
                return Ok(());
            }
            let env = string_env(&job.launcher);
            let command = shared.command(&env).await?;
            let cmd = Cmd {
                argv: command.argv(
                    &target.project,
                    &[],
                    &lilt_compose::cli::down_args(job.options.delete_volumes),
                ),
                dir: target.project.project_path.clone(),
                env: compose_env(&DockerEnv::from_vars(env)),
                echo_off: false,
            };
            println!("Running cmd: {}", cmd.display());
            let sink = LogSink::new(|line| println!("{}", line.text));
            match job
                .launcher
                .run(&cmd, &sink, std::future::pending::<()>())
                .await
            {
                Ok(RunOutcome::Exited(exit)) if exit.success() => Ok(()),
                Ok(RunOutcome::Exited(exit)) => Err(format!(
                    "{}: {} down failed: exit status {}",
                    target.project.name,
                    command.program.join(" "),
                    exit.shell_code()
                )),
                Ok(RunOutcome::Cancelled) => Err("cancelled".to_owned()),
                Err(e) => Err(format!("cannot run {}: {e}", command.program.join(" "))),
            }
        }
        .boxed()
    }
}

/// A phase of the service's container, in the engine's terms.
fn report(reporter: &Reporter, span_id: SpanId, phase: Phase) {
    let report = match phase {
        Phase::Running { ready } => RuntimeReport::Running { pid: None, ready },
        Phase::Ready(ready) => {
            // Only a health check changes readiness while running: say its verdict.
            let (level, verdict) = if ready {
                (LogLevel::Info, "healthy")
            } else {
                (LogLevel::Warn, "unhealthy")
            };
            reporter.runtime_log(span_id, level, format!("container is {verdict}"));
            RuntimeReport::Ready(ready)
        }
        Phase::Exited { exit_code, reason } => {
            reporter.runtime_log(span_id, LogLevel::Warn, format!("container {reason}"));
            RuntimeReport::Exited {
                exit_code,
                reason: Some(reason),
            }
        }
    };
    reporter.runtime(span_id, report);
}

/// Follows container `id`'s log into the resource's log unless it is followed already;
/// streams of containers the service no longer has end by themselves (Compose removed
/// them) and are forgotten here.
fn follow_logs(
    shared: &Arc<Shared>,
    daemon: &Daemon,
    resource: &str,
    id: &str,
    reporter: &Reporter,
    span_id: SpanId,
) {
    let Ok(mut logs) = shared.logs.lock() else {
        return;
    };
    let streams = logs.entry(resource.to_owned()).or_default();
    streams.tasks.retain(|_, task| !task.is_finished());
    if streams.tasks.contains_key(id) {
        return;
    }
    let daemon = daemon.clone();
    let reporter = reporter.clone();
    let wake = streams.wake.clone();
    let container = id.to_owned();
    let task = tokio::spawn(async move {
        daemon
            .follow_logs(&container, wake, move |line| {
                reporter.runtime_log(span_id, LogLevel::Info, line);
            })
            .await;
    });
    streams.tasks.insert(id.to_owned(), task);
}

/// Sends a new container the files it must get first (see [`super::CatchUp`]).
fn catch_up_container(
    daemon: &Daemon,
    catch_up: &dyn super::CatchUp,
    id: &str,
    reporter: &Reporter,
    span_id: SpanId,
) {
    let Some(batch) = catch_up
        .built_refs()
        .first()
        .and_then(|built_ref| catch_up.batch(built_ref))
    else {
        return;
    };
    let applier = lilt_liveupdate::DockerContainers::new(daemon.docker().clone())
        .with_output(reporter.live_output(span_id));
    let target = lilt_liveupdate::ContainerRef::Docker { id: id.to_owned() };
    let reporter = reporter.clone();
    tokio::spawn(async move {
        use lilt_liveupdate::Containers;
        let line = match applier.apply(&target, &batch).await {
            Ok(applied) => format!(
                "{target} started: {} live-updated file(s) synced, {} deleted, in {} ms",
                applied.copied.files,
                applied.deleted.len(),
                applied.elapsed.as_millis()
            ),
            Err(e) => format!("{target} started: syncing live-updated files failed: {e}"),
        };
        reporter.runtime_log(span_id, LogLevel::Info, line);
    });
}
