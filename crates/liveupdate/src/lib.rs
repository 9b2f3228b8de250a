//! Live update for lilt: sync changed files into running containers instead of rebuilding.
//!
//! The pieces, in the order the runner uses them:
//! - [`plan`] decides, from an image's `live_update` steps and ignores and a set of changed
//!   paths, whether the change is a [`Batch`] to apply or a full rebuild (Tilt's rules:
//!   ignored paths dropped, `fall_back_on` and paths under no `sync` rebuild, deletes
//!   propagate, `run` steps filtered by their triggers). [`explain`] answers `lilt why`.
//! - [`tar_stream`] turns a batch's copies into one tar stream, read from disk while it is
//!   sent, so memory stays flat whatever the size of the change.
//! - [`Containers`] applies a batch to one container: [`DockerContainers`] through the
//!   Engine API, [`KubeContainers`] through `pods/exec`. [`apply_all`] does every
//!   container of a resource at once.
//! - [`SyncLedger`] remembers what was synced since an image was built, so a restarted or
//!   replaced container can be brought up to date.

mod apply;
mod docker;
mod kube;
mod ledger;
mod plan;
mod tar;

pub use apply::{
    Applied, ApplyError, ContainerRef, Containers, OUTPUT_LIMIT, OutputSink, RunOutput, apply_all,
};
pub use docker::DockerContainers;
pub use kube::KubeContainers;
pub use ledger::SyncLedger;
pub use plan::{
    Batch, Change, Copy, Decision, Explanation, PathState, RebuildReason, RunStep, explain,
    image_matcher, initial_sync, plan, plan_paths, triggered_runs,
};
pub use tar::{CHUNK, CHUNKS_AHEAD, TarDone, TarSummary, tar_stream, write_tar};
