//! The `lilt` binary: command-line parsing, exit codes, and wiring of the crates.

mod client;
mod debug_log;
mod down;
mod namespaces;
mod terminal;
mod tiltfile_result;
mod tiltfile_result_k8s;
mod tiltfile_result_objects;
mod token;
mod up;
mod why;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use lilt_engine::EngineMode;
use lilt_tiltfile::{LoadOptions, LogLevel};

/// Exit code when lilt itself cannot run (bad flags, I/O errors), or `ci` fails.
const EXIT_FAILURE: u8 = 1;
/// Exit code when the Tiltfile has an error (Tilt's `TiltfileErrExitCode`).
const EXIT_TILTFILE_ERROR: u8 = 5;

/// The version line, in Tilt's `v<version>` shape.
const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Parser)]
#[command(name = "lilt", version = VERSION, about = "A fast, Tilt-compatible dev-loop orchestrator")]
struct Cli {
    /// Print more: the Tiltfile log on stderr, debug information.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Record the engine's events, effects and timings in .lilt/debug.log (LILT_LOG=<filter>
    /// does too, with its own filter).
    #[arg(short, long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

/// Flags of the commands that start lilt's web server.
#[derive(Debug, clap::Args)]
struct ServerFlags {
    /// Port for the dashboard and API (0 turns the server off).
    #[arg(long, env = "TILT_PORT", default_value_t = 10350)]
    port: u16,
    /// Host for the dashboard and API; also the default port-forward host.
    #[arg(long, env = "TILT_HOST", default_value = "localhost")]
    host: String,
}

/// Kubernetes flags of the commands that deploy or delete.
#[derive(Debug, clap::Args)]
struct KubeFlags {
    /// Your own namespace: every namespaced object that names none goes there. lilt creates
    /// it when missing (labelled as lilt's and yours) and keeps it marked active while it
    /// runs, so `lilt namespaces prune` leaves it alone. Default: the kube context's.
    #[arg(long, env = "LILT_NAMESPACE")]
    namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the dev loop: run the Tiltfile's resources and keep them up to date.
    Up {
        /// Path to the Tiltfile.
        #[arg(short, long, default_value = "Tiltfile")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerFlags,
        #[command(flatten)]
        kube: KubeFlags,
        /// Print plain log lines prefixed with the resource name instead of a status view.
        #[arg(long)]
        stream: bool,
        /// How long file changes must pause before lilt acts on them (Go duration; Tilt
        /// uses 200ms).
        #[arg(long, env = "LILT_WATCH_WINDOW", default_value = "20ms", value_parser = go_duration_arg)]
        watch_window: Duration,
        /// Resources to enable (with their dependencies), then Tiltfile args after `--`.
        args: Vec<String>,
    },
    /// Run until every resource is ready (exit 0) or one fails (exit 1).
    Ci {
        /// Path to the Tiltfile.
        #[arg(short, long, default_value = "Tiltfile")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerFlags,
        #[command(flatten)]
        kube: KubeFlags,
        /// Give up after this long (Go duration such as `30m`; `0` waits forever).
        #[arg(long, default_value = "30m", value_parser = go_duration_arg)]
        timeout: Duration,
        /// Tiltfile args.
        args: Vec<String>,
    },
    /// Delete what `lilt up` deployed.
    Down {
        /// Path to the Tiltfile.
        #[arg(short, long, default_value = "Tiltfile")]
        file: PathBuf,
        #[command(flatten)]
        kube: KubeFlags,
        /// Delete Namespace objects the Tiltfile defines too (by default they are kept).
        #[arg(long)]
        delete_namespaces: bool,
        /// Delete the Docker Compose projects' volumes too (by default they are kept).
        #[arg(long)]
        delete_volumes: bool,
        /// Wait until what was deleted is gone from the cluster (`--wait=false` returns once
        /// the deletes are accepted).
        #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        wait: bool,
        /// How long `--wait` waits at most (Go duration such as `2m`).
        #[arg(long, default_value = "60s", value_parser = go_duration_arg)]
        timeout: Duration,
        /// Tiltfile args.
        args: Vec<String>,
    },
    /// Explain which resources a change to PATH would trigger, and why the others would not.
    Why {
        /// Path to the Tiltfile.
        #[arg(short, long, default_value = "Tiltfile")]
        file: PathBuf,
        /// The file or directory to explain.
        path: PathBuf,
        /// Tiltfile args (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// The per-developer namespaces lilt made on the cluster: list, prune, schedule pruning.
    Namespaces {
        /// The kube context (default: the kubeconfig's current one).
        #[arg(long, global = true)]
        context: Option<String>,
        #[command(subcommand)]
        command: NamespacesSub,
    },
    /// Commands whose output may change.
    Alpha {
        #[command(subcommand)]
        command: AlphaCommand,
    },
    /// Display resources of a running lilt: `lilt get uiresources [NAME...]`.
    Get {
        #[command(flatten)]
        connect: client::ConnectFlags,
        /// `uiresources` (also `uiresource`, `uir`) then names, or `uiresource/NAME`.
        #[arg(required = true)]
        args: Vec<String>,
        /// Output format (the table when not given).
        #[arg(short, long, value_enum)]
        output: Option<client::GetFormat>,
        /// After listing, print the resources that change, as they change.
        #[arg(short, long)]
        watch: bool,
    },
    /// Print the logs of a running lilt (optionally only those of some resources).
    Logs {
        #[command(flatten)]
        connect: client::ConnectFlags,
        #[command(flatten)]
        opts: client::LogsOptions,
    },
    /// Trigger an update for a resource of a running lilt.
    Trigger {
        #[command(flatten)]
        connect: client::ConnectFlags,
        /// The resource to update.
        resource: String,
    },
    /// Open a browser button of a running lilt: start its browser on its URL.
    Open {
        #[command(flatten)]
        connect: client::ConnectFlags,
        /// The button's name (the first argument of `browser_button`).
        name: String,
    },
    /// Enable resources of a running lilt: `--all`, `[--only] RESOURCE...` or `-l LABEL`.
    Enable {
        #[command(flatten)]
        connect: client::ConnectFlags,
        /// Enable all resources.
        #[arg(long)]
        all: bool,
        /// Enable the named resources and disable all the others.
        #[arg(long)]
        only: bool,
        /// Enable all resources with these labels.
        #[arg(short = 'l', long = "labels", value_delimiter = ',')]
        labels: Vec<String>,
        /// Resources to enable.
        resources: Vec<String>,
    },
    /// Disable resources of a running lilt: `--all`, `RESOURCE...` or `-l LABEL`.
    Disable {
        #[command(flatten)]
        connect: client::ConnectFlags,
        /// Disable all resources.
        #[arg(long)]
        all: bool,
        /// Disable all resources with these labels.
        #[arg(short = 'l', long = "labels", value_delimiter = ',')]
        labels: Vec<String>,
        /// Resources to disable.
        resources: Vec<String>,
    },
    /// Change the Tiltfile args of a running lilt (it reloads the Tiltfile); with none,
    /// edit them in $TILT_EDITOR or $EDITOR.
    Args {
        #[command(flatten)]
        connect: client::ConnectFlags,
        /// Clear the Tiltfile args, as if lilt had been started without any.
        #[arg(long)]
        clear: bool,
        /// The new Tiltfile args (put flags after `--`).
        args: Vec<String>,
    },
    /// Wait until resources of a running lilt are ready:
    /// `lilt wait --for=condition=Ready uiresource/NAME...`.
    Wait {
        #[command(flatten)]
        connect: client::ConnectFlags,
        /// The condition: `condition=Ready`.
        #[arg(long = "for", required = true)]
        condition: String,
        /// Give up after this long (Go duration).
        #[arg(long, default_value = "30s", value_parser = go_duration_arg)]
        timeout: Duration,
        /// `uiresource/NAME...`.
        #[arg(required = true)]
        args: Vec<String>,
    },
    /// Describe resources of a running lilt: `lilt describe uiresource [NAME]`.
    Describe {
        #[command(flatten)]
        connect: client::ConnectFlags,
        /// `uiresource` then a name (or name prefix), or `uiresource/NAME`.
        #[arg(required = true)]
        args: Vec<String>,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
enum NamespacesSub {
    /// List lilt's namespaces with their owner and how long they have been idle.
    List,
    /// Delete lilt's namespaces idle for longer than `--idle` (never one without lilt's
    /// label, never the context's current one).
    Prune {
        /// Go duration, such as `72h`.
        #[arg(long, value_parser = go_duration_arg)]
        idle: Duration,
        /// Say what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Namespaces never to delete (repeatable).
        #[arg(long)]
        keep: Vec<String>,
    },
    /// Print a CronJob (with its ServiceAccount and RBAC) that runs the prune in the cluster.
    Cronjob {
        #[arg(long, value_parser = go_duration_arg)]
        idle: Duration,
        /// A lilt image (see `deploy/Dockerfile`).
        #[arg(long)]
        image: String,
        /// Where the CronJob runs.
        #[arg(long = "in", default_value = "lilt-system")]
        in_namespace: String,
        /// Cron schedule.
        #[arg(long, default_value = "0 * * * *")]
        schedule: String,
    },
}

#[derive(Debug, Subcommand)]
enum AlphaCommand {
    /// Evaluate the Tiltfile offline and print the result as JSON.
    ///
    /// Exit code 0: the Tiltfile loaded. 5: the Tiltfile has an error (the JSON's `Error`
    /// says which, and stderr shows it with its location). 1: lilt itself failed.
    TiltfileResult {
        /// Path to the Tiltfile.
        #[arg(short, long, default_value = "Tiltfile")]
        file: PathBuf,
        /// Tiltfile args (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
}

/// The `lilt` binary's entry point (the `lilt` package's `src/main.rs` calls it).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Says where the debug log goes, so the user can find it for a bug report.
fn announce_debug_log(path: Option<PathBuf>) {
    if let Some(path) = path {
        eprintln!("lilt: debug log at {}", path.display());
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let verbose = cli.verbose || cli.debug;
    match cli.command {
        Command::Version => {
            println!("{VERSION}");
            Ok(0)
        }
        Command::Up {
            file,
            server,
            kube,
            stream,
            watch_window,
            args,
        } => {
            announce_debug_log(debug_log::init(cli.debug, &file)?);
            up::run(
                EngineMode::Up,
                up::UpOptions {
                    file,
                    args,
                    port: server.port,
                    host: server.host,
                    stream,
                    timeout: None,
                    watch_window: Some(watch_window),
                    namespace: kube.namespace,
                },
            )
        }
        Command::Ci {
            file,
            server,
            kube,
            timeout,
            args,
        } => {
            announce_debug_log(debug_log::init(cli.debug, &file)?);
            up::run(
                EngineMode::Ci,
                up::UpOptions {
                    file,
                    args,
                    port: server.port,
                    host: server.host,
                    stream: true,
                    timeout: Some(timeout),
                    watch_window: None,
                    namespace: kube.namespace,
                },
            )
        }
        Command::Down {
            file,
            kube,
            delete_namespaces,
            delete_volumes,
            wait,
            timeout,
            args,
        } => down::run(down::DownOptions {
            file,
            args,
            namespace: kube.namespace,
            delete: lilt_runner::runtime::DeleteOptions {
                delete_namespaces,
                delete_volumes,
                wait: wait.then_some(timeout),
            },
        }),
        Command::Why { file, path, args } => why::run(file, args, path),
        Command::Namespaces { context, command } => namespaces::run(
            context,
            match command {
                NamespacesSub::List => namespaces::NamespacesCommand::List,
                NamespacesSub::Prune {
                    idle,
                    dry_run,
                    keep,
                } => namespaces::NamespacesCommand::Prune {
                    idle,
                    dry_run,
                    keep,
                },
                NamespacesSub::Cronjob {
                    idle,
                    image,
                    in_namespace,
                    schedule,
                } => namespaces::NamespacesCommand::Cronjob {
                    idle,
                    image,
                    namespace: in_namespace,
                    schedule,
                },
            },
        ),
        Command::Alpha {
            command: AlphaCommand::TiltfileResult { file, args },
        } => tiltfile_result_cmd(file, args, verbose),
        Command::Get {
            connect,
            args,
            output,
            watch,
        } => client::get(
            connect,
            client::GetOptions {
                args,
                output,
                watch,
            },
        ),
        Command::Logs { connect, opts } => client::logs(connect, opts),
        Command::Trigger { connect, resource } => client::trigger(connect, resource),
        Command::Open { connect, name } => client::open(connect, name),
        Command::Enable {
            connect,
            all,
            only,
            labels,
            resources,
        } => client::enable(
            connect,
            client::EnableOptions {
                enable: true,
                all,
                only,
                labels,
                resources,
            },
        ),
        Command::Disable {
            connect,
            all,
            labels,
            resources,
        } => client::enable(
            connect,
            client::EnableOptions {
                enable: false,
                all,
                only: false,
                labels,
                resources,
            },
        ),
        Command::Args {
            connect,
            clear,
            args,
        } => client::args(connect, client::ArgsOptions { clear, args }),
        Command::Wait {
            connect,
            condition,
            timeout,
            args,
        } => client::wait(
            connect,
            client::WaitOptions {
                condition,
                args,
                timeout,
            },
        ),
        Command::Describe { connect, args } => client::describe(connect, args),
    }
}

fn tiltfile_result_cmd(file: PathBuf, args: Vec<String>, verbose: bool) -> anyhow::Result<u8> {
    let mut opts = LoadOptions::new(file, "alpha tiltfile-result");
    opts.args = args;
    // A slow `local()` is reported as it happens, not only when evaluation ends.
    opts.progress = Some(lilt_tiltfile::Progress(std::sync::Arc::new(|text| {
        eprintln!("{text}");
    })));
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    opts.cancel = Some(cancel.clone());
    cancel_on_signals(cancel);
    let result = lilt_tiltfile::load(&opts);
    let mut stderr = std::io::stderr().lock();
    if verbose || result.error.is_some() {
        for line in &result.log {
            if line.level == LogLevel::Error {
                continue;
            }
            writeln!(stderr, "{}", line.text)?;
        }
    }
    if let Some(e) = &result.error {
        writeln!(stderr, "{e}")?;
    }
    let json = tiltfile_result::to_json(&result);
    // Stdout is line-buffered: unbuffered, the pretty JSON took one write(2) per line.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut stdout, &json)?;
    writeln!(stdout)?;
    stdout.flush()?;
    Ok(if result.error.is_some() {
        EXIT_TILTFILE_ERROR
    } else {
        0
    })
}

/// Ctrl-C or SIGTERM cancels the evaluation: a running `local()` is killed, a read that
/// blocks is given up, and the error says the evaluation was cancelled, with exit code 5 as
/// for any Tiltfile error. Without this the signal's default action ended lilt with no
/// report (and a shell that starts lilt in the background leaves SIGINT ignored, so a
/// blocked read could not be interrupted at all).
fn cancel_on_signals(cancel: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            else {
                return;
            };
            let signalled = rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut term) = signal(SignalKind::terminate()) else {
                    return false;
                };
                tokio::select! {
                    r = tokio::signal::ctrl_c() => r.is_ok(),
                    _ = term.recv() => true,
                }
            });
            if signalled {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for Ctrl-C during evaluation: {e}");
    }
}

/// Go's duration syntax (`30m`, `1h30m`, `0`), as Tilt's `--timeout` takes it; clap shows
/// the error with the flag's name.
pub(crate) fn go_duration_arg(text: &str) -> Result<Duration, String> {
    lilt_model::parse_go_duration(text).map_err(|e| e.to_string())
}
