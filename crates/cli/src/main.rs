//! The `lilt` binary: command-line parsing, exit codes, and wiring of the crates.

mod tiltfile_result;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lilt_tiltfile::{LoadOptions, LogLevel};

/// Exit code when lilt itself cannot run (bad flags, I/O errors).
const EXIT_FAILURE: u8 = 1;
/// Exit code when the Tiltfile has an error (Tilt's `TiltfileErrExitCode`).
const EXIT_TILTFILE_ERROR: u8 = 5;

/// The version line, in Tilt's `v<version>, built <date>` shape.
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

#[derive(Debug, Subcommand)]
enum Command {
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
    match cli.command {
        Command::Version => {
            println!("{VERSION}");
            Ok(0)
        }
        Command::Alpha {
            command: AlphaCommand::TiltfileResult { file, args },
        } => {
            let mut opts = LoadOptions::new(file, "alpha tiltfile-result");
            opts.args = args;
            let result = lilt_tiltfile::load(&opts);
            let verbose = cli.verbose || cli.debug;
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
    }
}
