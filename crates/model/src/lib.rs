//! The Plan: what a Tiltfile evaluates to, as plain data with no I/O.
//!
//! Everything the engine, the runtimes and the dashboard need to know about a project is
//! here. The types are deliberately not `Serialize`: wire formats (Tilt's
//! `tiltfile-result` JSON, the dashboard API) live at the edge and convert by hand, so
//! this crate can change shape without breaking a wire contract.

mod api_object;
pub mod base64;
mod button;
mod cmd;
mod compose;
pub mod duration;
mod graph;
mod image;
mod k8s;
pub mod paths;
mod plan;
mod probe;
mod resource;
pub mod rfc3339;
mod settings;

pub use api_object::ApiObject;
pub use button::{
    BrowserLaunch, ButtonAction, ButtonInput, ButtonInputKind, ButtonLocation, UiButton,
    serde_json_free,
};
pub use cmd::Cmd;
pub use compose::{ComposeProject, DockerComposeBuild, DockerComposeTarget};
pub use duration::{DurationError, format_go_duration, parse_go_duration};
pub use graph::DepGraph;
pub use image::{
    BuildDetails, BuiltImage, CustomBuild, CustomOutputMode, DockerBuild, ImageTarget, LiveUpdate,
    LiveUpdateRecord, LiveUpdateRun, LiveUpdateSync,
};
pub use k8s::{
    DefaultRegistry, ImageLocatorSpec, K8sContext, K8sCustomDeploy, K8sTarget, PodReadinessMode,
    SecretValue,
};
pub use plan::{Plan, TILTFILE_RESOURCE, UNCATEGORIZED_RESOURCE};
pub use probe::{Probe, ProbeAction};
pub use resource::{
    DeployTarget, IgnoreSet, Link, LocalTarget, Manifest, PortForward, TriggerMode,
};
pub use settings::{
    CiSettings, DockerPruneSettings, FeatureFlags, Settings, UpdateSettings, VersionSettings,
};
