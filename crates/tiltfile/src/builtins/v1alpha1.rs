//! The `v1alpha1` module: Tilt's raw API objects (`cmd`, `ui_button`, `extension_repo`,
//! ...) and their helper constructors, with the parameter names and order of Tilt's
//! generated `internal/tiltfile/v1alpha1/types.go`.
//!
//! Registering functions record an object by kind and name and return None; helpers
//! return dicts keyed by their Starlark parameter names, which is what Tilt's helpers
//! are (dict-backed values), so plain dicts work wherever a helper value does.

use std::collections::BTreeMap;
use std::fmt;

use allocative::Allocative;
use anyhow::bail;
use lilt_model::serde_json_free::Json;
use lilt_model::{
    ApiObject, ButtonAction, ButtonInput, ButtonInputKind, ButtonLocation, Cmd, UiButton,
};
use starlark::any::ProvidesStaticType;
use starlark::environment::GlobalsBuilder;
use starlark::eval::{Arguments, Evaluator};
use starlark::starlark_simple_value;
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::{NoSerialize, StarlarkPagablePanic, StarlarkValue, Value, starlark_value};

use crate::builtins::args;
use crate::state::TiltState;
use crate::values::string_like;

/// Parameters every registering function takes first.
const META: &[&str] = &["name", "labels", "annotations"];

/// `(function, Some((kind, resource plural)) for registering functions, extra parameters)`.
type FnSpec = (
    &'static str,
    Option<(&'static str, &'static str)>,
    &'static [&'static str],
);

const FUNCS: &[FnSpec] = &[
    (
        "cmd",
        Some(("Cmd", "cmds")),
        &[
            "args",
            "dir",
            "env",
            "readiness_probe",
            "restart_on",
            "start_on",
            "disable_source",
        ],
    ),
    ("config_map", Some(("ConfigMap", "configmaps")), &["data"]),
    (
        "extension",
        Some(("Extension", "extensions")),
        &["repo_name", "repo_path", "args"],
    ),
    (
        "extension_repo",
        Some(("ExtensionRepo", "extensionrepos")),
        &["url", "ref", "load_host", "git_subpath"],
    ),
    (
        "file_watch",
        Some(("FileWatch", "filewatches")),
        &["watched_paths", "ignores", "disable_source"],
    ),
    (
        "kubernetes_apply",
        Some(("KubernetesApply", "kubernetesapplys")),
        &[
            "yaml",
            "image_maps",
            "image_locators",
            "timeout",
            "kubernetes_discovery_template_spec",
            "port_forward_template_spec",
            "pod_log_stream_template_spec",
            "discovery_strategy",
            "disable_source",
            "apply_cmd",
            "restart_on",
            "delete_cmd",
            "cluster",
            "server_side_apply",
        ],
    ),
    (
        "kubernetes_discovery",
        Some(("KubernetesDiscovery", "kubernetesdiscoverys")),
        &[
            "watches",
            "extra_selectors",
            "port_forward_template_spec",
            "pod_log_stream_template_spec",
            "cluster",
        ],
    ),
    (
        "ui_button",
        Some(("UIButton", "uibuttons")),
        &[
            "location",
            "text",
            "icon_name",
            "icon_svg",
            "disabled",
            "requires_confirmation",
            "inputs",
        ],
    ),
    ("config_map_disable_source", None, &["name", "key"]),
    ("disable_source", None, &["config_map", "every_config_map"]),
    ("exec_action", None, &["command"]),
    (
        "forward",
        None,
        &["local_port", "container_port", "host", "name", "path"],
    ),
    (
        "http_get_action",
        None,
        &["path", "port", "host", "scheme", "http_headers"],
    ),
    ("http_header", None, &["name", "value"]),
    ("handler", None, &["exec", "http_get", "tcp_socket"]),
    ("ignore_def", None, &["base_path", "patterns"]),
    ("kubernetes_apply_cmd", None, &["args", "dir", "env"]),
    (
        "kubernetes_discovery_template_spec",
        None,
        &["extra_selectors"],
    ),
    (
        "kubernetes_image_locator",
        None,
        &["object_selector", "path", "object"],
    ),
    (
        "kubernetes_image_object_descriptor",
        None,
        &["repo_field", "tag_field"],
    ),
    ("kubernetes_watch_ref", None, &["uid", "namespace", "name"]),
    (
        "label_selector",
        None,
        &["match_labels", "match_expressions"],
    ),
    (
        "label_selector_requirement",
        None,
        &["key", "operator", "values"],
    ),
    (
        "object_selector",
        None,
        &[
            "api_version_regexp",
            "kind_regexp",
            "name_regexp",
            "namespace_regexp",
        ],
    ),
    (
        "pod_log_stream_template_spec",
        None,
        &["since_time", "only_containers", "ignore_containers"],
    ),
    ("port_forward_template_spec", None, &["forwards"]),
    (
        "probe",
        None,
        &[
            "handler",
            "initial_delay_seconds",
            "timeout_seconds",
            "period_seconds",
            "success_threshold",
            "failure_threshold",
        ],
    ),
    ("restart_on_spec", None, &["file_watches", "ui_buttons"]),
    ("start_on_spec", None, &["start_after", "ui_buttons"]),
    ("tcp_socket_action", None, &["port", "host"]),
    (
        "ui_bool_input_spec",
        None,
        &["default_value", "true_string", "false_string"],
    ),
    ("ui_choice_input_spec", None, &["choices"]),
    (
        "ui_component_location",
        None,
        &["component_id", "component_type"],
    ),
    ("ui_hidden_input_spec", None, &["value"]),
    (
        "ui_input_spec",
        None,
        &["name", "label", "text", "bool", "hidden", "choice"],
    ),
    (
        "ui_text_input_spec",
        None,
        &["default_value", "placeholder"],
    ),
];

/// Parameters that hold local paths, made absolute against the executing file.
const PATH_PARAMS: &[(&str, &str)] = &[
    ("cmd", "dir"),
    ("kubernetes_apply_cmd", "dir"),
    ("file_watch", "watched_paths"),
    ("ignore_def", "base_path"),
];

/// Fields whose dict keys are data, not field names (kept as written).
const MAP_FIELDS: &[&str] = &["data", "labels", "annotations", "match_labels"];

/// Registered objects, by kind then name, in registration order.
#[derive(Default)]
pub(crate) struct ApiState {
    pub(crate) objects: Vec<ApiObject>,
    /// Extension repositories already on disk in this run, by repo name.
    pub(crate) resolved_repos: std::collections::HashMap<String, std::path::PathBuf>,
}

impl ApiState {
    pub(crate) fn get(&self, kind: &str, name: &str) -> Option<&ApiObject> {
        self.objects
            .iter()
            .find(|o| o.kind == kind && o.name == name)
    }
}

/// One `v1alpha1.*` function as a callable value.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
struct V1Function {
    index: usize,
}
starlark_simple_value!(V1Function);

impl fmt::Display for V1Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1alpha1.{}", FUNCS[self.index].0)
    }
}

#[starlark_value(type = "builtin_function_or_method")]
impl<'v> StarlarkValue<'v> for V1Function {
    fn invoke(
        &self,
        _me: Value<'v>,
        arguments: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        call(self.index, arguments, eval).map_err(starlark::Error::new_other)
    }
}

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    builder.namespace("v1alpha1", |ns| {
        for (index, (name, _, _)) in FUNCS.iter().enumerate() {
            ns.set(name, V1Function { index });
        }
    });
}

fn call<'v>(
    index: usize,
    arguments: &Arguments<'v, '_>,
    eval: &mut Evaluator<'v, '_, '_>,
) -> anyhow::Result<Value<'v>> {
    let (fname, kind, extra) = FUNCS[index];
    let full = format!("v1alpha1.{fname}");
    let params: Vec<&str> = match kind {
        Some(_) => META.iter().chain(extra.iter()).copied().collect(),
        None => extra.to_vec(),
    };
    let heap = eval.heap();
    let mut values: Vec<Option<Value<'v>>> = vec![None; params.len()];
    let positional: Vec<Value<'v>> = arguments
        .positions(heap)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .collect();
    if positional.len() > params.len() {
        bail!(
            "{full}: got {} arguments, want at most {}",
            positional.len(),
            params.len()
        );
    }
    for (i, v) in positional.into_iter().enumerate() {
        values[i] = Some(v);
    }
    let named = arguments.names_map().map_err(|e| anyhow::anyhow!("{e}"))?;
    for (key, v) in named.iter() {
        let key = key.as_str();
        let Some(i) = params.iter().position(|p| *p == key) else {
            bail!("{full}: unexpected keyword argument {key:?}");
        };
        if values[i].is_some() {
            bail!("{full}: got multiple values for parameter {key:?}");
        }
        values[i] = Some(*v);
    }
    let state = TiltState::get(eval)?;
    let set: Vec<(&str, Value<'v>)> = params
        .iter()
        .zip(values)
        .filter_map(|(p, v)| v.filter(|v| !v.is_none()).map(|v| (*p, v)))
        .collect();
    // Path parameters resolve against the file executing now, as Tilt's unpacker does.
    let mut set_abs: Vec<(&str, Value<'v>)> = Vec::with_capacity(set.len());
    for (p, v) in set {
        if PATH_PARAMS.contains(&(fname, p)) {
            let resolved = match string_like(v) {
                Some(s) => heap.alloc(state.abs(&s).display().to_string()),
                None => {
                    let items = args::string_list(Some(v), &format!("{full}: {p}"))?;
                    heap.alloc(
                        items
                            .iter()
                            .map(|s| state.abs(s).display().to_string())
                            .collect::<Vec<_>>(),
                    )
                }
            };
            set_abs.push((p, resolved));
        } else {
            set_abs.push((p, v));
        }
    }
    let Some((kind, plural)) = kind else {
        return Ok(heap.alloc(AllocDict(set_abs)));
    };
    let mut name = String::new();
    let mut labels = Vec::new();
    let mut annotations = Vec::new();
    let mut spec = BTreeMap::new();
    for (p, v) in set_abs {
        match p {
            "name" => {
                name = string_like(v)
                    .ok_or_else(|| anyhow::anyhow!("{full}: name: expected a string"))?;
            }
            "labels" => labels = args::string_dict(Some(v), &format!("{full}: labels"))?,
            "annotations" => {
                annotations = args::string_dict(Some(v), &format!("{full}: annotations"))?;
            }
            _ => {
                // Map-valued parameters (a ConfigMap's `data`) keep their keys as written.
                spec.insert(camel(p), to_json(v, MAP_FIELDS.contains(&p), &full)?);
            }
        }
    }
    if name.is_empty() {
        bail!("{full}: missing argument for name");
    }
    validate(kind, &name, &spec)?;
    let object = ApiObject {
        kind: kind.to_owned(),
        name,
        labels,
        annotations,
        spec: Json::Object(spec),
    };
    let mut api = state.api.borrow_mut();
    match api
        .objects
        .iter()
        .position(|o| o.kind == object.kind && o.name == object.name)
    {
        Some(i) if api.objects[i] != object => {
            bail!("{plural} {:?} already registered", object.name)
        }
        Some(_) => {}
        None => api.objects.push(object),
    }
    Ok(Value::new_none())
}

fn validate(kind: &str, name: &str, spec: &BTreeMap<String, Json>) -> anyhow::Result<()> {
    let text = |k: &str| match spec.get(k) {
        Some(Json::String(s)) => s.as_str(),
        _ => "",
    };
    match kind {
        "ExtensionRepo" => {
            let url = text("url");
            // Tilt's ExtensionRepo.Validate: http:// is accepted as well as https://.
            let is_web = url.starts_with("https://") || url.starts_with("http://");
            let file_path = url.strip_prefix("file://");
            if !is_web && file_path.is_none() {
                bail!(
                    "extensionrepos {name:?}: spec.url: Invalid value: {url:?}: URLs must start with http(s):// or file://"
                );
            }
            if file_path.is_some_and(|p| !p.starts_with('/')) {
                bail!(
                    "extensionrepos {name:?}: spec.url: Invalid value: {url:?}: file:// URLs must be absolute (e.g., file:///home/user/repo)"
                );
            }

            if url.starts_with("file://") && !text("ref").is_empty() {
                bail!(
                    "extensionrepos {name:?}: spec.ref: Invalid value: file:// URLs do not support refs"
                );
            }
        }
        "UIButton" => {
            if text("text").is_empty() {
                bail!("uibuttons {name:?}: spec.text: Required value");
            }
            let has_location =
                matches!(spec.get("location"), Some(Json::Object(m)) if !m.is_empty());
            if !has_location {
                bail!("uibuttons {name:?}: spec.location: Required value");
            }
        }
        _ => {}
    }
    Ok(())
}

/// Tilt's JSON field names: `component_id` → `componentID`, `http_get` → `httpGet`.
fn camel(snake: &str) -> String {
    let mut out = String::new();
    for (i, part) in snake.split('_').enumerate() {
        if i == 0 {
            out.push_str(part);
        } else if part == "id" || part == "svg" {
            out.push_str(&part.to_ascii_uppercase());
        } else {
            let mut chars = part.chars();
            if let Some(c) = chars.next() {
                out.push(c.to_ascii_uppercase());
                out.extend(chars);
            }
        }
    }
    out
}

/// A Starlark value as a spec tree; dict keys are field names unless `data` is set.
fn to_json(value: Value<'_>, data: bool, what: &str) -> anyhow::Result<Json> {
    if value.is_none() {
        return Ok(Json::Null);
    }
    if let Some(b) = value.unpack_bool() {
        return Ok(Json::Bool(b));
    }
    if let Some(i) = value.unpack_i32() {
        return Ok(Json::Number(i.to_string()));
    }
    if let Some(s) = string_like(value) {
        return Ok(Json::String(s));
    }
    if let Some(items) = args::sequence(value) {
        return items
            .into_iter()
            .map(|v| to_json(v, false, what))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Json::Array);
    }
    if let Some(dict) = DictRef::from_value(value) {
        let mut out = BTreeMap::new();
        for (k, v) in dict.iter() {
            let Some(key) = string_like(k) else {
                bail!("{what}: key must be string. Got: {}", k.get_type());
            };
            let child_is_data = MAP_FIELDS.contains(&key.as_str());
            let key = if data { key } else { camel(&key) };
            out.insert(key, to_json(v, child_is_data, what)?);
        }
        return Ok(Json::Object(out));
    }
    if value.get_type() == "float" {
        return Ok(Json::Number(value.to_str()));
    }
    bail!("{what}: unsupported value of type {}", value.get_type())
}

/// Dashboard buttons from the registered `UIButton` objects; a `Cmd` object started or
/// restarted by a button becomes that button's action (the `uibutton` extension's way).
pub(crate) fn buttons(api: &ApiState) -> Vec<UiButton> {
    let field = |j: &Json, k: &str| -> Option<Json> {
        match j {
            Json::Object(m) => m.get(k).cloned(),
            _ => None,
        }
    };
    let text = |j: Option<Json>| match j {
        Some(Json::String(s)) => s,
        _ => String::new(),
    };
    let flag = |j: Option<Json>| matches!(j, Some(Json::Bool(true)));
    let strings = |j: Option<Json>| match j {
        Some(Json::Array(items)) => items
            .into_iter()
            .filter_map(|i| match i {
                Json::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for obj in api.objects.iter().filter(|o| o.kind == "UIButton") {
        let spec = &obj.spec;
        let location = field(spec, "location").unwrap_or(Json::Null);
        let location = match text(field(&location, "componentType"))
            .to_ascii_lowercase()
            .as_str()
        {
            "global" => ButtonLocation::Global,
            _ => ButtonLocation::Resource(text(field(&location, "componentID"))),
        };
        let inputs = match field(spec, "inputs") {
            Some(Json::Array(items)) => items
                .iter()
                .map(|i| {
                    let kind = if let Some(t) = field(i, "text") {
                        ButtonInputKind::Text {
                            default_value: text(field(&t, "defaultValue")),
                            placeholder: text(field(&t, "placeholder")),
                        }
                    } else if let Some(b) = field(i, "bool") {
                        ButtonInputKind::Bool {
                            default_value: flag(field(&b, "defaultValue")),
                            true_string: text(field(&b, "trueString")),
                            false_string: text(field(&b, "falseString")),
                        }
                    } else if let Some(h) = field(i, "hidden") {
                        ButtonInputKind::Hidden {
                            value: text(field(&h, "value")),
                        }
                    } else if let Some(c) = field(i, "choice") {
                        ButtonInputKind::Choice {
                            choices: strings(field(&c, "choices")),
                        }
                    } else {
                        ButtonInputKind::Text {
                            default_value: String::new(),
                            placeholder: String::new(),
                        }
                    };
                    ButtonInput {
                        name: text(field(i, "name")),
                        label: text(field(i, "label")),
                        kind,
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        let triggered_by = |cmd: &ApiObject, key: &str| {
            field(&cmd.spec, key)
                .map(|s| strings(field(&s, "uiButtons")))
                .unwrap_or_default()
                .contains(&obj.name)
        };
        let action = api
            .objects
            .iter()
            .filter(|o| o.kind == "Cmd")
            .find(|c| triggered_by(c, "startOn") || triggered_by(c, "restartOn"))
            .map(|c| {
                ButtonAction::Cmd(Cmd {
                    argv: strings(field(&c.spec, "args")),
                    dir: text(field(&c.spec, "dir")).into(),
                    env: strings(field(&c.spec, "env"))
                        .into_iter()
                        .map(|kv| match kv.split_once('=') {
                            Some((k, v)) => (k.to_owned(), v.to_owned()),
                            None => (kv, String::new()),
                        })
                        .collect(),
                    echo_off: false,
                })
            })
            .unwrap_or(ButtonAction::None);
        out.push(UiButton {
            name: obj.name.clone(),
            location,
            text: text(field(spec, "text")),
            icon_name: text(field(spec, "iconName")),
            icon_svg: text(field(spec, "iconSVG")),
            disabled: flag(field(spec, "disabled")),
            requires_confirmation: flag(field(spec, "requiresConfirmation")),
            inputs,
            action,
            requires_ready: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::camel;

    #[test]
    fn field_names_follow_tilt() {
        assert_eq!(camel("component_id"), "componentID");
        assert_eq!(camel("http_get"), "httpGet");
        assert_eq!(camel("api_version_regexp"), "apiVersionRegexp");
        assert_eq!(camel("uid"), "uid");
        assert_eq!(camel("icon_svg"), "iconSVG");
    }
}
