//! The dashboard's wire types: Tilt's `View`, `UISession`, `UIResource`, `UIButton` and log
//! list, with Tilt's JSON field names (`pkg/webview/view.go`, `uiresource_types.go`,
//! `uibutton_types.go`), and the fixed values some fields take. The server serializes them
//! and the CLI deserializes the same types, so the two cannot disagree on a field name or a
//! status value; the model stays serde-free.
//!
//! Every struct read back (`Deserialize`) defaults each field Tilt may leave out: its Go
//! types omit empty fields, and deletion stubs in deltas carry only `metadata`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The API group and version of the objects (`apiVersion`), which the View leaves out.
pub const API_VERSION: &str = "tilt.dev/v1alpha1";
/// The API group alone, as `waiting.on[].group` names it.
pub const API_GROUP: &str = "tilt.dev";
/// The version alone, as `waiting.on[].apiVersion` names it.
pub const API_GROUP_VERSION: &str = "v1alpha1";
/// `kind` of a resource, also what `waiting.on[].kind` says for a resource.
pub const UIRESOURCE_KIND: &str = "UIResource";
/// What `waiting.on[].kind` says for an image a resource waits on.
pub const IMAGEMAP_KIND: &str = "ImageMap";

/// Annotation Tilt puts on the enable/disable toggle of each resource.
pub const TILT_BUTTON_TYPE: &str = "tilt.dev/uibutton-type";
/// [`TILT_BUTTON_TYPE`]'s value on a toggle.
pub const DISABLE_TOGGLE: &str = "DisableToggle";
/// lilt's annotation for buttons that start a browser.
pub const LILT_BUTTON_TYPE: &str = "lilt.dev/uibutton-type";
/// [`LILT_BUTTON_TYPE`]'s value on a browser button.
pub const BROWSER: &str = "Browser";
/// The hidden input of a toggle that says what a click does.
pub const TOGGLE_INPUT: &str = "action";
/// [`TOGGLE_INPUT`]'s value that enables the resource.
pub const TOGGLE_ENABLE: &str = "on";
/// [`TOGGLE_INPUT`]'s value that disables the resource.
pub const TOGGLE_DISABLE: &str = "off";

/// The name of a resource's enable/disable toggle.
pub fn toggle_name(resource: &str) -> String {
    format!("{resource}-disable")
}

/// Span id prefixes. The prefix classifies a log line: the Tiltfile's and builds' spans (and
/// Tilt's `cmdimage:`) hold build logs, all others runtime logs.
pub const BUILD_SPAN_PREFIX: &str = "build:";
pub const TILTFILE_SPAN_PREFIX: &str = "tiltfile:";
pub const CMDIMAGE_SPAN_PREFIX: &str = "cmdimage:";
pub const LOCALSERVE_SPAN_PREFIX: &str = "localserve:";
pub const UNKNOWN_SPAN_PREFIX: &str = "unknown:";

/// Whether a line of this span is a build log (else a runtime log).
pub fn is_build_span(span_id: &str) -> bool {
    [
        BUILD_SPAN_PREFIX,
        CMDIMAGE_SPAN_PREFIX,
        TILTFILE_SPAN_PREFIX,
    ]
    .iter()
    .any(|p| span_id.starts_with(p))
}

/// `updateStatus`: where the resource's last or current update stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    #[default]
    None,
    Pending,
    InProgress,
    Ok,
    Error,
    NotApplicable,
}

impl UpdateStatus {
    /// The wire text, as the table of `lilt get` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::None => "none",
            UpdateStatus::Pending => "pending",
            UpdateStatus::InProgress => "in_progress",
            UpdateStatus::Ok => "ok",
            UpdateStatus::Error => "error",
            UpdateStatus::NotApplicable => "not_applicable",
        }
    }
}

/// `runtimeStatus`: whether what the resource runs is up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeStatus {
    #[default]
    None,
    Pending,
    Ok,
    Error,
    NotApplicable,
}

impl RuntimeStatus {
    /// The wire text, as the table of `lilt get` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::None => "none",
            RuntimeStatus::Pending => "pending",
            RuntimeStatus::Ok => "ok",
            RuntimeStatus::Error => "error",
            RuntimeStatus::NotApplicable => "not_applicable",
        }
    }
}

/// Ready as the dashboard says it: the runtime is ok, or there is no runtime and the last
/// update succeeded.
pub fn is_ready(update: UpdateStatus, runtime: RuntimeStatus) -> bool {
    match runtime {
        RuntimeStatus::Ok => true,
        RuntimeStatus::NotApplicable => update == UpdateStatus::Ok,
        RuntimeStatus::None | RuntimeStatus::Pending | RuntimeStatus::Error => false,
    }
}

/// `disableStatus.state`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisableState {
    #[default]
    Enabled,
    Disabled,
}

impl DisableState {
    pub fn as_str(self) -> &'static str {
        match self {
            DisableState::Enabled => "Enabled",
            DisableState::Disabled => "Disabled",
        }
    }
}

/// `specs[].type`: the kind of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetType {
    #[serde(rename = "image")]
    Image,
    #[serde(rename = "k8s")]
    K8s,
    #[serde(rename = "docker-compose")]
    DockerCompose,
    #[serde(rename = "local")]
    Local,
}

impl TargetType {
    /// The wire text, also the prefix of a target id (`dc` for Docker Compose aside).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Image => "image",
            TargetType::K8s => "k8s",
            TargetType::DockerCompose => "docker-compose",
            TargetType::Local => "local",
        }
    }
}

/// `location.componentType` of a button (the default only fills deletion stubs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComponentType {
    #[default]
    Global,
    Resource,
}

/// A log segment's `level`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl Level {
    /// The wire text (`INFO`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One message of `/ws/view`, or the reply of `/api/view`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct View {
    pub is_complete: bool,
    pub tilt_start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_session: Option<UiSession>,
    pub ui_resources: Vec<UiResource>,
    pub ui_buttons: Vec<UiButton>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_list: Option<LogList>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
}

impl ObjectMeta {
    /// Whether this is a deletion stub of a delta (Tilt's convention: the timestamp set).
    pub fn is_deleted(&self) -> bool {
        self.deletion_timestamp
            .as_deref()
            .is_some_and(|t| !t.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiSession {
    pub metadata: ObjectMeta,
    pub status: UiSessionStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UiSessionStatus {
    pub feature_flags: Vec<FeatureFlag>,
    pub running_tilt_build: TiltBuild,
    pub tilt_start_time: String,
    pub tiltfile_key: String,
    pub fatal_error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureFlag {
    pub name: String,
    pub value: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TiltBuild {
    pub version: String,
    pub dev: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiResource {
    pub metadata: ObjectMeta,
    pub status: UiResourceStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UiResourceStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deploy_time: Option<String>,
    /// Tilt's trigger mode number (`lilt_model::TriggerMode::wire`).
    pub trigger_mode: i64,
    pub build_history: Vec<BuildTerminated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_build: Option<BuildRunning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_build_since: Option<String>,
    pub has_pending_changes: bool,
    pub endpoint_links: Vec<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s_resource_info: Option<K8sResourceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_resource_info: Option<LocalResourceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose_resource_info: Option<ComposeResourceInfo>,
    pub runtime_status: RuntimeStatus,
    pub update_status: UpdateStatus,
    pub specs: Vec<TargetSpec>,
    pub queued: bool,
    pub order: i64,
    pub disable_status: DisableStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

impl UiResourceStatus {
    /// Ready as the dashboard says it (see [`is_ready`]).
    pub fn is_ready(&self) -> bool {
        is_ready(self.update_status, self.runtime_status)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildTerminated {
    pub error: String,
    pub warnings: Vec<String>,
    pub start_time: String,
    pub finish_time: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub is_crash_rebuild: bool,
    /// lilt's addition: the images this update built or found up to date. Left out when
    /// empty, so local resources keep Tilt's exact shape.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<BuiltImage>,
    /// lilt's addition: what this update did when it was a live update (files synced into
    /// running containers instead of a rebuild). Left out for every other update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_update: Option<LiveUpdate>,
}

/// A live update's record (lilt's addition to Tilt's build records).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LiveUpdate {
    /// The containers it reached (`docker:<id>`, `<namespace>/<pod>/<container>`).
    pub containers: Vec<String>,
    /// Files copied into each container.
    pub files_copied: u64,
    /// Paths deleted in each container.
    pub files_deleted: u64,
    /// The `run` steps that ran, as written in the Tiltfile.
    pub runs: Vec<String>,
    /// The containers were restarted (`restart_container()`).
    pub restarted: bool,
    /// From the first container's start to the last one's end, in milliseconds.
    pub elapsed_ms: u64,
}

/// An image an update produced (lilt's addition to Tilt's build records).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BuiltImage {
    /// The ref as written in the Tiltfile.
    pub image_ref: String,
    /// The ref deployed objects use (`[registry/]name:tilt-<16 hex>`).
    #[serde(rename = "ref")]
    pub built_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Found up to date: nothing was built.
    pub cached: bool,
    /// In a registry (pushed now or found there).
    pub pushed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildRunning {
    pub start_time: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Link {
    pub url: String,
    pub name: String,
}

/// The current pod of a Kubernetes resource (Tilt's `K8sResourceInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct K8sResourceInfo {
    pub pod_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_creation_time: Option<String>,
    pub pod_status: String,
    pub all_containers_ready: bool,
    pub pod_restarts: u32,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LocalResourceInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub is_test: bool,
}

/// A Compose service's container, as Tilt's `UIResourceCompose`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ComposeResourceInfo {
    /// The health check's verdict (`starting`, `healthy`, `unhealthy`); empty without one.
    pub health_status: String,
}

/// One target of a resource; `type` has no default: a spec without one says nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetSpec {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: TargetType,
    #[serde(default)]
    pub has_live_update: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DisableStatus {
    pub enabled_count: u32,
    pub disabled_count: u32,
    pub state: DisableState,
    pub sources: Vec<DisableSource>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DisableSource {
    pub config_map: ConfigMapSource,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigMapSource {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Waiting {
    pub reason: String,
    pub on: Vec<WaitingOn>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WaitingOn {
    pub group: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiButton {
    pub metadata: ObjectMeta,
    pub spec: UiButtonSpec,
    pub status: UiButtonStatus,
}

impl UiButton {
    /// Whether this is the enable/disable toggle of `resource`.
    pub fn is_disable_toggle_of(&self, resource: &str) -> bool {
        self.metadata
            .annotations
            .get(TILT_BUTTON_TYPE)
            .map(String::as_str)
            == Some(DISABLE_TOGGLE)
            && self.spec.location.component_id == resource
    }

    /// Whether this button starts a browser.
    pub fn is_browser_button(&self) -> bool {
        self.metadata
            .annotations
            .get(LILT_BUTTON_TYPE)
            .map(String::as_str)
            == Some(BROWSER)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UiButtonSpec {
    pub location: Location,
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_name: String,
    #[serde(rename = "iconSVG", skip_serializing_if = "String::is_empty")]
    pub icon_svg: String,
    pub disabled: bool,
    pub requires_confirmation: bool,
    pub inputs: Vec<InputSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Location {
    pub component_type: ComponentType,
    #[serde(rename = "componentID")]
    pub component_id: String,
}

/// One input of a button; exactly one of the kinds is set, as in Tilt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InputSpec {
    pub name: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<TextInputSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bool: Option<BoolInputSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<HiddenValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice: Option<ChoiceInputSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TextInputSpec {
    pub default_value: String,
    pub placeholder: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BoolInputSpec {
    pub default_value: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub true_string: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub false_string: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChoiceInputSpec {
    pub choices: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UiButtonStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_clicked_at: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputStatus>,
    /// lilt: why the button is disabled.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub disabled_reason: String,
}

/// An input value, in a click (`PUT …/status`) or in a button's status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct InputStatus {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<StringValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bool: Option<BoolValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<HiddenValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice: Option<StringValue>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct StringValue {
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BoolValue {
    pub value: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct HiddenValue {
    pub value: String,
}

/// A View's log lines. The complete View's list also carries lilt's `firstCheckpoint` and
/// `hasOlder` (see `logs`); deltas and [`crate::convert::log_list`] leave them out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogList {
    pub spans: BTreeMap<String, SpanInfo>,
    pub segments: Vec<Segment>,
    pub from_checkpoint: i64,
    pub to_checkpoint: i64,
    /// lilt: the checkpoint of the first segment, the cursor for `/api/logs?before=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_checkpoint: Option<u64>,
    /// lilt: whether the server retains lines older than the first segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_older: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SpanInfo {
    pub manifest_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Segment {
    pub span_id: String,
    pub time: String,
    pub text: String,
    pub level: Level,
}

/// The body of `PUT /proxy/apis/tilt.dev/v1alpha1/uibuttons/{name}/status`: a UIButton whose
/// status holds the click. Metadata and spec are echoed by the dashboard and ignored here,
/// except for a name that must match the path. `lilt enable` and `lilt open` send it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ButtonStatusBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ClickMetadata>,
    pub status: ClickStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClickMetadata {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClickStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_clicked_at: Option<String>,
    pub inputs: Vec<InputStatus>,
}
