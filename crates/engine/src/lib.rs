//! The engine of `lilt up` and `lilt ci`: one state, one event enum, a reducer and a pure
//! scheduler. No I/O, no threads, no clock: every time is passed in.
//!
//! # The loop
//!
//! ```text
//! let mut state = EngineState::new(config, now);
//! loop {
//!     let decision = decide(&state, now);                  // pure
//!     reduce(&mut state, Event::Dispatched { effects: decision.effects.clone(), at: now });
//!     runner.execute(decision.effects);                     // I/O happens only here
//!     publish(state.clone());                               // snapshot for the UI / CLI
//!     for event in runner.next_batch().await { reduce(&mut state, event) }
//! }
//! ```
//!
//! * [`reduce`] is the only mutation. [`decide`] is a pure function of the state and the
//!   current time: calling it twice without a `reduce` in between returns the same
//!   effects, so **nothing counts as started until the runner reduces
//!   [`Event::Dispatched`]** with the effects it is about to execute. Dispatch the
//!   effects of one decision in order and report all of them in one `Dispatched`, before
//!   calling `decide` again; otherwise the same update would be returned twice.
//! * Snapshots: [`EngineState`] is `Clone` and cheap to clone (manifests are shared
//!   through `Arc`, histories are capped). The runner publishes one after each batch of
//!   events through a `tokio::sync::watch`; subscribers see the latest snapshot only and
//!   may skip intermediate states, so no client may rely on seeing every state (a
//!   build that starts and fails within one batch is seen only as failed). Logs are not
//!   in the snapshot: they live in a [`LogStore`] the runner owns, streamed by checkpoint.
//!
//! # Events (who sends them, what they mean)
//!
//! | Event | Sender | Meaning |
//! |---|---|---|
//! | `Dispatched` | runner | these effects are being executed now: updates become current builds (consuming the pending changes they name and their trigger), the reload becomes running, runtimes become starting, stops and logs are done |
//! | `TiltfileLoaded` | runner | an evaluation finished: on success the Plan is applied (new resources added, changed ones marked pending, vanished ones stopped and removed, settings taken); on failure the error is shown on `(Tiltfile)` and the last good resources stay |
//! | `ConfigFilesChanged` | watcher | a config file changed: a reload is pending |
//! | `ResourceFilesChanged` | watcher | a resource's watched files changed: pending changes |
//! | `Trigger` | UI, `lilt trigger` | queue an update (FIFO); `(Tiltfile)` reloads; a disabled or unknown resource only logs a message |
//! | `SetTriggerMode` | UI | override the trigger mode at runtime |
//! | `SetEnabled` | UI, `lilt enable/disable` | disabling stops the runtime and forgets builds; enabling starts over with an initial update |
//! | `SetTiltfileArgs` | `lilt args` | new args: a reload with them, if they differ |
//! | `UpdateFinished` | runner | an update ended, `error: None` on success, with the images it built; success (re)starts the runtime |
//! | `Runtime { report }` | runner (any runtime) | the runtime reports a phase: `Running` (ready or not), `Ready(bool)`, `Exited` (a runtime error), or `Info` (the current pod, for display) |
//! | `ButtonClicked` | UI, API | a button was clicked: recorded for the view, its action queued as `RunButton` |
//!
//! Result events name the [`SpanId`] of the effect they answer; results for a superseded
//! span (a restarted server, a removed resource) are ignored.
//!
//! # Effects (what the runner must do)
//!
//! | Effect | Ask |
//! |---|---|
//! | `ReloadTiltfile { args, .. }` | evaluate the Tiltfile, answer `TiltfileLoaded` |
//! | `Update { resource, reason, changed_files, full_rebuild, .. }` | update the resource through the runtime its `DeployTarget` names (local: run `cmd`, which may be empty); answer `UpdateFinished` |
//! | `StartRuntime { resource, .. }` | (re)start the long-running part (local: `serve_cmd`), stopping the previous one |
//! | `StopRuntime { resource, reason }` | stop everything running for the resource (disable, removal); nothing to stop is fine |
//! | `Log { resource, level, text, .. }` | append an engine message to the [`LogStore`] |
//! | `RunButton { name, inputs, .. }` | run a clicked button's action (a command, a browser) |
//!
//! # Scheduling
//!
//! [`decide`] follows Tilt's `NextTargetToBuild`: nothing starts while the Tiltfile is
//! pending or running (`tiltfile-reload`); a non-parallel local update blocks everything
//! (`waiting-for-local`); first updates wait for their `resource_deps` to have been ready
//! once (`waiting-for-dep`); initial updates go first (local, `uncategorized`, deploy-only
//! Kubernetes, manifest order), then the trigger queue, then the oldest pending file
//! change among auto-mode resources; at most `max_parallel_updates` run at once
//! (`waiting-for-slot`, lilt's name for what Tilt leaves unnamed).
//!
//! `lilt ci` asks [`ci_status`] after each batch of events (and on a timer for the
//! timeouts); it follows Tilt's Session exit rules.

mod ci;
mod decide;
mod effect;
mod event;
mod logstore;
mod reduce;
mod snapshot;
mod state;
mod status;

pub use ci::{
    CiOutcome, CiTarget, CiTargetKind, CiTargetState, ci_status, ci_targets, go_duration,
};
pub use decide::decide;
pub use effect::{
    BuildReason, Decision, Effect, Hold, HoldReason, LogLevel, SpanId, SpanKind, StopReason,
};
pub use event::{Event, RuntimeInfo, RuntimeReport, TiltfileFailure};
pub use logstore::{
    Checkpoint, Dropped, LogBudget, LogLine, LogPattern, LogSource, LogStore, LogStoreError,
    NewLogLine,
};
pub use reduce::reduce;
pub use snapshot::{Action, Snapshot};
pub use state::{
    BuildRecord, ButtonClick, ClusterStatus, EngineConfig, EngineLog, EngineMode, EngineState,
    PendingButton, PendingReload, ResourceState, RuntimePhase, RuntimeState, TiltfileState,
};
pub use status::{RuntimeStatus, UpdateStatus};
