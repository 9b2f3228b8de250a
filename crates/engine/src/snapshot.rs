//! What the runner publishes for readers (the web server, CLI clients) and what they may
//! ask of it. Readers never touch `EngineState` directly: they get an immutable snapshot
//! after each batch of events and send [`Action`]s back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use lilt_model::{Plan, TriggerMode};

use crate::effect::Hold;
use crate::logstore::Checkpoint;
use crate::state::EngineState;

/// One published state. Cheap to clone: share it behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: EngineState,
    /// Why each resource that could update is waiting, from the last `decide`.
    pub holds: BTreeMap<String, Hold>,
    /// The last Plan that loaded (buttons, links); `None` before the first good load.
    pub plan: Option<Arc<Plan>>,
    /// The log store's checkpoint when this snapshot was taken.
    pub log_checkpoint: Checkpoint,
    /// A fatal error that stops lilt (shown by the dashboard), empty otherwise.
    pub fatal_error: String,
    pub at: SystemTime,
}

/// What the dashboard and CLI clients can ask the runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Trigger {
        resource: String,
    },
    SetTriggerMode {
        resources: Vec<String>,
        mode: TriggerMode,
    },
    SetEnabled {
        resources: Vec<String>,
        enabled: bool,
    },
    SetTiltfileArgs {
        args: Vec<String>,
    },
    ClickButton {
        name: String,
        inputs: Vec<(String, String)>,
    },
    /// Stop the Tiltfile evaluation that is running (a `local()` that never ends); the last
    /// good state keeps running. Nothing happens when no evaluation runs.
    CancelTiltfileLoad,
}
