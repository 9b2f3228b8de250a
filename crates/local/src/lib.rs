//! Running `local_resource` commands and servers on the host, for real.
//!
//! Every command leads its own process group, starts with an explicit environment
//! ([`ExecEnv`]), reads stdin from /dev/null, and streams stdout and stderr line by line to
//! a [`LogSink`]. A [`Launcher`] runs one-shot `cmd`s ([`Launcher::run`]) and starts
//! `serve_cmd` servers ([`Launcher::serve`]) whose [`Server`] handle stops and restarts
//! them and reports exits and readiness ([`ServeEvent`]). The [`ProcessRegistry`], created
//! once per lilt process, tracks every group, ends them all on shutdown
//! ([`ProcessRegistry::kill_all`]) and, through a watchdog, even when lilt is SIGKILLed.
//!
//! [`BlockingGroup`] runs a command synchronously under the same registry, for callers
//! outside tokio such as the Tiltfile's `local()`.
//!
//! Unix only: process groups and signals are the mechanism.

mod blocking;
mod env;
mod error;
mod group;
mod launcher;
mod log;
mod probe;
pub mod procfs;
mod reaper;
mod serve;

pub use blocking::BlockingGroup;
pub use env::ExecEnv;
pub use error::LocalError;
pub use group::{ExitInfo, group_alive};
pub use launcher::{DEFAULT_GRACE, Launcher, RunOutcome};
pub use log::{LogLine, LogSink, MAX_LINE_BYTES, Stream};
pub use probe::{ProbeTask, ProbeTiming, Readiness};
pub use reaper::{DEFAULT_WATCHDOG_GRACE, ProcessRegistry};
pub use serve::{ServeEvent, Server};
