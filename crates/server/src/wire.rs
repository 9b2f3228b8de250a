//! The dashboard's wire types: Tilt's `View`, `UISession`, `UIResource`, `UIButton` and log
//! list, with Tilt's JSON field names (`pkg/webview/view.go`, `uiresource_types.go`,
//! `uibutton_types.go`). Only the server serializes them; the model stays serde-free.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One message of `/ws/view`, or the reply of `/api/view`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UiSession {
    pub metadata: ObjectMeta,
    pub status: UiSessionStatus,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UiSessionStatus {
    pub feature_flags: Vec<FeatureFlag>,
    pub running_tilt_build: TiltBuild,
    pub tilt_start_time: String,
    pub tiltfile_key: String,
    pub fatal_error: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FeatureFlag {
    pub name: String,
    pub value: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TiltBuild {
    pub version: String,
    pub dev: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UiResource {
    pub metadata: ObjectMeta,
    pub status: UiResourceStatus,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UiResourceStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deploy_time: Option<String>,
    pub trigger_mode: i64,
    pub build_history: Vec<BuildTerminated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_build: Option<BuildRunning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_build_since: Option<String>,
    pub has_pending_changes: bool,
    pub endpoint_links: Vec<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_resource_info: Option<LocalResourceInfo>,
    pub runtime_status: String,
    pub update_status: String,
    pub specs: Vec<TargetSpec>,
    pub queued: bool,
    pub order: i64,
    pub disable_status: DisableStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BuildTerminated {
    pub error: String,
    pub warnings: Vec<String>,
    pub start_time: String,
    pub finish_time: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub is_crash_rebuild: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BuildRunning {
    pub start_time: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LocalResourceInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub is_test: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TargetSpec {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub has_live_update: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DisableStatus {
    pub enabled_count: u32,
    pub disabled_count: u32,
    pub state: String,
    pub sources: Vec<DisableSource>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DisableSource {
    pub config_map: ConfigMapSource,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConfigMapSource {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub on: Vec<WaitingOn>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WaitingOn {
    pub group: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UiButton {
    pub metadata: ObjectMeta,
    pub spec: UiButtonSpec,
    pub status: UiButtonStatus,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub component_type: String,
    #[serde(rename = "componentID")]
    pub component_id: String,
}

/// One input of a button; exactly one of the kinds is set, as in Tilt.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TextInputSpec {
    pub default_value: String,
    pub placeholder: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BoolInputSpec {
    pub default_value: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub true_string: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub false_string: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChoiceInputSpec {
    pub choices: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
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
pub struct InputStatus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<StringValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bool: Option<BoolValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<HiddenValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<StringValue>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StringValue {
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BoolValue {
    #[serde(default)]
    pub value: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HiddenValue {
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogList {
    pub spans: BTreeMap<String, SpanInfo>,
    pub segments: Vec<Segment>,
    pub from_checkpoint: i64,
    pub to_checkpoint: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpanInfo {
    pub manifest_name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    pub span_id: String,
    pub time: String,
    pub text: String,
    pub level: &'static str,
}

/// The body of `PUT /proxy/apis/tilt.dev/v1alpha1/uibuttons/{name}/status`: a UIButton whose
/// status holds the click. Metadata and spec are echoed by the dashboard and ignored here,
/// except for a name that must match the path.
#[derive(Debug, Clone, Deserialize)]
pub struct ButtonStatusBody {
    #[serde(default)]
    pub metadata: Option<ClickMetadata>,
    #[serde(default)]
    pub status: ClickStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClickMetadata {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickStatus {
    #[serde(default)]
    pub last_clicked_at: Option<String>,
    #[serde(default)]
    pub inputs: Vec<InputStatus>,
}
