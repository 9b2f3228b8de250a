//! `lilt up` and `lilt ci`: start the runner, show progress, stop cleanly on signals.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use lilt_engine::{CiOutcome, EngineMode};
use lilt_runner::{Outcome, RunnerConfig};
use tokio::signal::unix::{SignalKind, signal};

use crate::terminal;

/// Options shared by `up` and `ci`.
pub(crate) struct UpOptions {
    pub(crate) file: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) port: u16,
    pub(crate) host: String,
    pub(crate) stream: bool,
    pub(crate) timeout: Option<Duration>,
    /// The file-watch quiet window; `None` keeps the default.
    pub(crate) watch_window: Option<Duration>,
    /// `--namespace`: the developer's own namespace.
    pub(crate) namespace: Option<String>,
}

/// Runs until stopped (`up`) or until the verdict (`ci`); returns the exit code.
pub(crate) fn run(mode: EngineMode, opts: UpOptions) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_async(mode, opts))
}

async fn run_async(mode: EngineMode, opts: UpOptions) -> anyhow::Result<u8> {
    let mut config = RunnerConfig::new(opts.file.clone(), mode);
    config.args = opts.args.clone();
    config.web_port = opts.port;
    config.web_host = opts.host.clone();
    config.namespace = opts.namespace.clone();
    if let Some(window) = opts.watch_window {
        config.watcher.coalesce.quiet = window;
    }
    if let Some(timeout) = opts.timeout {
        // `--timeout 0` means no timeout.
        config.ci_timeout = if timeout.is_zero() {
            Duration::from_secs(u64::MAX / 4)
        } else {
            timeout
        };
    }
    let mut started = lilt_runner::start(config)?;
    let handle = started.handle.clone();

    let web = if opts.port == 0 {
        None
    } else {
        Some(start_web(&opts, &handle).await?)
    };
    let url = match &web {
        Some(web) => web.url.clone(),
        None => "(web server off: --port 0)".to_owned(),
    };
    if !(mode == EngineMode::Up && !opts.stream && std::io::stdout().is_terminal()) {
        println!("lilt: dashboard at {url}");
    }
    let show_status = mode == EngineMode::Up && !opts.stream && std::io::stdout().is_terminal();
    let printer = if show_status {
        tokio::spawn(terminal::status_view(handle.snapshots.clone(), url))
    } else {
        tokio::spawn(terminal::stream_logs(
            handle.snapshots.clone(),
            handle.logs.clone(),
        ))
    };

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let outcome = tokio::select! {
        outcome = &mut started.done => outcome?,
        _ = tokio::signal::ctrl_c() => stop(&mut started).await?,
        _ = sigterm.recv() => stop(&mut started).await?,
        _ = sighup.recv() => stop(&mut started).await?,
    };
    // The runner has dropped its snapshot sender: the printer prints what is left (the
    // logs written while stopping) and returns.
    drop(handle);
    let _ = tokio::time::timeout(Duration::from_secs(2), printer).await;
    if let Some(web) = web {
        web.stop().await;
    }
    Ok(match outcome {
        Outcome::Stopped => 0,
        Outcome::Ci(CiOutcome::Success) => {
            println!("{}", CiOutcome::SUCCESS_MESSAGE);
            0
        }
        Outcome::Ci(CiOutcome::Error(message)) => {
            eprintln!("Error: {message}");
            1
        }
    })
}

/// Stops the runner; a second signal while stopping exits at once.
async fn stop(started: &mut lilt_runner::Started) -> anyhow::Result<Outcome> {
    eprintln!("lilt: stopping (press ctrl-c again to force)");
    started.stop();
    tokio::select! {
        outcome = &mut started.done => Ok(outcome?),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("lilt: forced exit");
            std::process::exit(1);
        }
    }
}

/// `0.0.0.0` listens everywhere but is not a browsable address.
fn display_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        h => h,
    }
}

/// The most descriptors lilt asks for: the server needs far fewer, and the processes lilt
/// starts inherit the soft limit (some close or track every possible descriptor).
const FD_LIMIT_CAP: u64 = 65_536;

/// Raises the soft limit on open files towards the hard one (up to [`FD_LIMIT_CAP`]), so
/// that connections to the dashboard cannot use up what lilt needs for its processes,
/// pipes and watches; returns the limit now in force.
fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let target = hard.min(FD_LIMIT_CAP);
    if soft < target && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
        target
    } else {
        soft
    }
}

/// The server's limits for `nofile` descriptors, with the `LILT_WEB_*` overrides.
fn server_limits(nofile: u64) -> lilt_server::Limits {
    let mut limits = lilt_server::Limits::for_fd_limit(nofile);
    let read = |name: &str| -> Option<f64> {
        let value = std::env::var(name).ok()?;
        match value.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Some(n),
            _ => {
                eprintln!("lilt: WARNING: ignoring {name}={value:?}: expected a positive number");
                None
            }
        }
    };
    if let Some(n) = read("LILT_WEB_MAX_CONNECTIONS") {
        limits.max_connections = n as usize;
    }
    if let Some(n) = read("LILT_WEB_MAX_WEBSOCKETS") {
        limits.max_websockets = n as usize;
    }
    if let Some(secs) = read("LILT_WEB_HEADER_READ_TIMEOUT") {
        limits.header_read_timeout = Duration::from_secs_f64(secs);
    }
    if let Some(secs) = read("LILT_WEB_IDLE_TIMEOUT") {
        limits.idle_timeout = Duration::from_secs_f64(secs);
    }
    if let Some(secs) = read("LILT_WEB_WS_SEND_TIMEOUT") {
        limits.ws_send_timeout = Duration::from_secs_f64(secs);
    }
    limits
}

/// The running dashboard server.
struct Web {
    url: String,
    token_file: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Web {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
        let _ = std::fs::remove_file(&self.token_file);
    }
}

/// Binds the dashboard, writes the token file for client commands, and serves in the
/// background. The token reaches a browser only through the printed URL.
async fn start_web(opts: &UpOptions, handle: &lilt_runner::RunnerHandle) -> anyhow::Result<Web> {
    let token = lilt_server::generate_token()?;
    let loopback = matches!(
        opts.host.as_str(),
        "localhost" | "127.0.0.1" | "::1" | "[::1]"
    );
    let config = lilt_server::ServerConfig {
        token: token.clone(),
        host: opts.host.clone(),
        port: opts.port,
        allowed_hosts: if loopback {
            Vec::new()
        } else {
            vec![opts.host.clone()]
        },
        limits: server_limits(raise_fd_limit()),
    };
    let listener = lilt_server::bind(&config).await.map_err(|e| {
        anyhow::anyhow!(
            "lilt cannot start because another process is using port {} ({e}); stop it or pass --port",
            opts.port
        )
    })?;
    if !loopback {
        eprintln!(
            "lilt: WARNING: the dashboard listens on {}, which other machines may reach; every request still needs the session token",
            opts.host
        );
    }
    let token_file = crate::token::write_token(opts.port, &token)?;
    let deps = lilt_server::ServerDeps {
        snapshots: handle.snapshots.clone(),
        logs: handle.logs.clone(),
        actions: handle.actions.clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = lilt_server::serve(listener, config, deps, shutdown).await {
            eprintln!("lilt: web server stopped: {e}");
        }
    });
    let url = format!(
        "http://{}:{}/?token={token}",
        display_host(&opts.host),
        opts.port
    );
    Ok(Web {
        url,
        token_file,
        stop,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::resource::{Resource, getrlimit};

    #[test]
    fn fd_limit_is_raised_towards_the_hard_limit() {
        let (before, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        let now = raise_fd_limit();
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!(soft, now);
        assert_eq!(now, before.max(hard.min(FD_LIMIT_CAP)));
        // The server's share leaves the rest for lilt's own work.
        let limits = server_limits(now);
        assert!((limits.max_connections as u64) <= now / 2);
    }
}
