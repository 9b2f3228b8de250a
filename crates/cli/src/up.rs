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
    config.args = opts.args;
    config.web_port = opts.port;
    config.web_host = opts.host.clone();
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

    let url = format!("http://{}:{}/", display_host(&opts.host), opts.port);
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
