//! Tilt's special Starlark value types: `blob`, live-update steps, probes, links, port
//! forwards, trigger modes and the `custom_build` result.
//!
//! Each is a plain Rust value wrapped for Starlark. They never hold other Starlark values,
//! so they stay "simple values": no tracing, no freezing logic.

use std::fmt;

use allocative::Allocative;
use lilt_model::{Link, PortForward, Probe, ProbeAction};
use starlark::any::ProvidesStaticType;
use starlark::starlark_simple_value;
use starlark::values::{
    Heap, NoSerialize, StarlarkPagablePanic, StarlarkValue, Value, ValueLike, starlark_value,
};

/// File content (as opposed to a path string). Returned by `local()`, `read_file()`, ...
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct Blob {
    pub(crate) text: String,
}
starlark_simple_value!(Blob);

impl fmt::Display for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[starlark_value(type = "blob")]
impl<'v> StarlarkValue<'v> for Blob {
    fn to_bool(&self) -> bool {
        !self.text.is_empty()
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other
            .downcast_ref::<Blob>()
            .is_some_and(|o| o.text == self.text))
    }
}

/// The kinds of live-update step, in the order Tilt requires them.
#[derive(Debug, Clone, PartialEq, Eq, Allocative)]
pub(crate) enum StepKind {
    InitialSync,
    FallBackOn {
        paths: Vec<String>,
    },
    Sync {
        local: String,
        remote: String,
    },
    Run {
        argv: Vec<String>,
        triggers: Vec<String>,
        echo_off: bool,
    },
    RestartContainer,
}

impl StepKind {
    /// Position in the required order: initial_sync, fall_back_on, sync, run, restart.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            StepKind::InitialSync => 0,
            StepKind::FallBackOn { .. } => 1,
            StepKind::Sync { .. } => 2,
            StepKind::Run { .. } => 3,
            StepKind::RestartContainer => 4,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            StepKind::InitialSync => "initial_sync",
            StepKind::FallBackOn { .. } => "fall_back_on",
            StepKind::Sync { .. } => "sync",
            StepKind::Run { .. } => "run",
            StepKind::RestartContainer => "restart_container",
        }
    }
}

/// One live-update step. `id` lets the loader report steps created but never used.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct LiveUpdateStep {
    pub(crate) id: u64,
    pub(crate) kind: StepKind,
    /// Where the step was created, for error messages.
    pub(crate) position: String,
}
starlark_simple_value!(LiveUpdateStep);

impl fmt::Display for LiveUpdateStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StepKind::InitialSync => write!(f, "initial_sync()"),
            StepKind::FallBackOn { paths } => write!(f, "fall_back_on({paths:?})"),
            StepKind::Sync { local, remote } => write!(f, "sync({local:?}, {remote:?})"),
            StepKind::Run { argv, triggers, .. } => {
                write!(f, "run({argv:?}, trigger={triggers:?})")
            }
            StepKind::RestartContainer => write!(f, "restart_container()"),
        }
    }
}

#[starlark_value(type = "live_update_step")]
impl<'v> StarlarkValue<'v> for LiveUpdateStep {}

/// `probe(...)`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct ProbeValue(#[allocative(skip)] pub(crate) Probe);
starlark_simple_value!(ProbeValue);

impl fmt::Display for ProbeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "probe(period_secs={}, ...)", self.0.period_secs)
    }
}

#[starlark_value(type = "Probe")]
impl<'v> StarlarkValue<'v> for ProbeValue {}

/// `exec_action`, `http_get_action`, `tcp_socket_action`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct ActionValue(#[allocative(skip)] pub(crate) ProbeAction);
starlark_simple_value!(ActionValue);

impl fmt::Display for ActionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[starlark_value(type = "ProbeAction")]
impl<'v> StarlarkValue<'v> for ActionValue {}

/// `link(url, name)`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct LinkValue(#[allocative(skip)] pub(crate) Link);
starlark_simple_value!(LinkValue);

impl fmt::Display for LinkValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link({:?}, {:?})", self.0.url, self.0.name)
    }
}

#[starlark_value(type = "Link")]
impl<'v> StarlarkValue<'v> for LinkValue {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        match attribute {
            "url" => Some(heap.alloc(self.0.url.as_str())),
            "name" => Some(heap.alloc(self.0.name.as_str())),
            _ => None,
        }
    }

    fn dir_attr(&self) -> Vec<String> {
        vec!["name".to_owned(), "url".to_owned()]
    }
}

/// `port_forward(...)`.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct PortForwardValue(#[allocative(skip)] pub(crate) PortForward);
starlark_simple_value!(PortForwardValue);

impl fmt::Display for PortForwardValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "port_forward({}, {})",
            self.0.local_port, self.0.container_port
        )
    }
}

#[starlark_value(type = "PortForward")]
impl<'v> StarlarkValue<'v> for PortForwardValue {}

/// `TRIGGER_MODE_AUTO` / `TRIGGER_MODE_MANUAL`.
#[derive(Debug, Clone, Copy, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct TriggerModeValue {
    pub(crate) auto: bool,
}
starlark_simple_value!(TriggerModeValue);

impl fmt::Display for TriggerModeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.auto {
            "TRIGGER_MODE_AUTO"
        } else {
            "TRIGGER_MODE_MANUAL"
        })
    }
}

#[starlark_value(type = "TriggerMode")]
impl<'v> StarlarkValue<'v> for TriggerModeValue {
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other
            .downcast_ref::<TriggerModeValue>()
            .is_some_and(|o| o.auto == self.auto))
    }
}

/// What `custom_build` returns: an opaque handle naming the image.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct CustomBuildValue {
    pub(crate) image_ref: String,
}
starlark_simple_value!(CustomBuildValue);

impl fmt::Display for CustomBuildValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "custom_build({:?})", self.image_ref)
    }
}

#[starlark_value(type = "custom_build")]
impl<'v> StarlarkValue<'v> for CustomBuildValue {}

/// The text of a string or a blob: Tilt accepts a blob wherever it expects a string.
pub(crate) fn string_like(value: Value<'_>) -> Option<String> {
    if let Some(s) = value.unpack_str() {
        return Some(s.to_owned());
    }
    value.downcast_ref::<Blob>().map(|b| b.text.clone())
}
