//! The `lilt` binary: command-line parsing, exit codes, and wiring of the crates.

mod down;
mod terminal;
mod tiltfile_result;
mod tiltfile_result_k8s;
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
    /// Print debug information.
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the dev loop: run the Tiltfile's resources and keep them up to date.
    Up {
        /// Path to the Tiltfile.
        #[arg(short, long, default_value = "Tiltfile")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerFlags,
        /// Print plain log lines prefixed with the resource name instead of a status view.
        #[arg(long)]
        stream: bool,
        /// How long file changes must pause before lilt acts on them (Go duration; Tilt
        /// uses 200ms).
        #[arg(long, env = "LILT_WATCH_WINDOW", default_value = "20ms")]
        watch_window: String,
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
        /// Give up after this long (Go duration such as `30m`; `0` waits forever).
        #[arg(long, default_value = "30m")]
        timeout: String,
        /// Tiltfile args.
        args: Vec<String>,
    },
    /// Delete what `lilt up` deployed.
    Down {
        /// Path to the Tiltfile.
        #[arg(short, long, default_value = "Tiltfile")]
        file: PathBuf,
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
    /// Commands whose output may change.
    Alpha {
        #[command(subcommand)]
        command: AlphaCommand,
    },
    /// Print the version.
    Version,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
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
            stream,
            watch_window,
            args,
        } => up::run(
            EngineMode::Up,
            up::UpOptions {
                file,
                args,
                port: server.port,
                host: server.host,
                stream,
                timeout: None,
                watch_window: Some(parse_duration(&watch_window)?),
            },
        ),
        Command::Ci {
            file,
            server,
            timeout,
            args,
        } => {
            let timeout = parse_duration(&timeout)?;
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
                },
            )
        }
        Command::Down { file, args } => down::run(down::DownOptions { file, args }),
        Command::Why { file, path, args } => why::run(file, args, path),
        Command::Alpha {
            command: AlphaCommand::TiltfileResult { file, args },
        } => tiltfile_result_cmd(file, args, verbose),
    }
}

fn tiltfile_result_cmd(file: PathBuf, args: Vec<String>, verbose: bool) -> anyhow::Result<u8> {
    let mut opts = LoadOptions::new(file, "alpha tiltfile-result");
    opts.args = args;
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
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &json)?;
    writeln!(stdout)?;
    Ok(if result.error.is_some() {
        EXIT_TILTFILE_ERROR
    } else {
        0
    })
}

/// Go's duration syntax (`30m`, `1h30m`, `0`), as Tilt's `--timeout` takes it.
fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..n]
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid duration {text:?}"))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => anyhow::bail!("invalid duration {text:?}: use a unit such as 30s, 10m or 1h"),
        };
        total += number * scale;
        rest = &rest[u..];
    }
    Ok(Duration::from_secs_f64(total))
}
