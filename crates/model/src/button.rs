//! Dashboard buttons: `v1alpha1.ui_button` objects and lilt's browser buttons.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::Cmd;

/// Where a button shows: on one resource, or in the dashboard's top bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonLocation {
    Resource(String),
    Global,
}

/// A button input, as `v1alpha1.ui_*_input_spec` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonInput {
    pub name: String,
    pub label: String,
    pub kind: ButtonInputKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonInputKind {
    Text {
        default_value: String,
        placeholder: String,
    },
    Bool {
        default_value: bool,
        true_string: String,
        false_string: String,
    },
    Hidden {
        value: String,
    },
    Choice {
        choices: Vec<String>,
    },
}

/// What a click does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonAction {
    /// Nothing by itself (a `ui_button` that a `cmd`'s `start_on`/`restart_on` watches).
    None,
    /// Runs a command; the inputs' values are passed as environment variables.
    Cmd(Cmd),
    /// Starts a browser (lilt's `browser_button`).
    Browser(BrowserLaunch),
}

/// A preconfigured browser to start, typically pointed at a dev cluster's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserLaunch {
    /// The URL as written; `resource_url` (below) may replace it at click time.
    pub url: String,
    /// Take the URL from this resource's first link (or the named one) when set.
    pub url_from_link: Option<(String, String)>,
    /// The browser executable: a path or a name looked up in PATH; empty means Chromium.
    pub browser: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Chromium profile preferences (`Default/Preferences` JSON), as dotted keys.
    pub prefs: BTreeMap<String, serde_json_free::Json>,
    /// Persistent profile directory (absolute); created on first use.
    pub profile_dir: PathBuf,
}

/// A button shown on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiButton {
    pub name: String,
    pub location: ButtonLocation,
    pub text: String,
    pub icon_name: String,
    pub icon_svg: String,
    pub disabled: bool,
    pub requires_confirmation: bool,
    pub inputs: Vec<ButtonInput>,
    pub action: ButtonAction,
    /// Disabled (with a reason) until this resource is ready.
    pub requires_ready: Option<String>,
}

/// JSON values without a serde dependency in the model: preferences are small trees.
pub mod serde_json_free {
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Json {
        Null,
        Bool(bool),
        /// Kept as text so the model needs no float equality.
        Number(String),
        String(String),
        Array(Vec<Json>),
        Object(BTreeMap<String, Json>),
    }
}
