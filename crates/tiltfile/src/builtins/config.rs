//! The `config` module: Tiltfile settings from args and `tilt_config.json`, and resource
//! selection.
//!
//! `config` is a per-run value (its `main_path`, `main_dir` and `tilt_subcommand` differ
//! between runs), so it is set on each module rather than living in the shared globals.

use std::collections::BTreeMap;
use std::fmt;

use allocative::Allocative;
use anyhow::bail;
use serde_json::Value as Json;
use starlark::any::ProvidesStaticType;
use starlark::environment::{Methods, MethodsBuilder, MethodsStatic};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::starlark_simple_value;
use starlark::values::none::NoneType;
use starlark::values::{
    Heap, NoSerialize, StarlarkPagablePanic, StarlarkValue, Value, starlark_value,
};

use crate::builtins::args::{self, Str};
use crate::builtins::encoding::{json_to_value, parse_json};
use crate::state::{ConfigKind, ConfigSetting, EnabledResources, TiltState};

/// The name of the per-project settings file read by `config.parse()`.
pub(crate) const USER_CONFIG_FILE: &str = "tilt_config.json";

/// The `config` value for one run.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct ConfigNamespace {
    main_path: String,
    main_dir: String,
    subcommand: String,
}
starlark_simple_value!(ConfigNamespace);

pub(crate) fn namespace(state: &TiltState) -> ConfigNamespace {
    ConfigNamespace {
        main_path: state.main_path.display().to_string(),
        main_dir: state.main_dir.display().to_string(),
        subcommand: state.opts.subcommand.clone(),
    }
}

impl fmt::Display for ConfigNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<module config>")
    }
}

#[starlark_value(type = "config")]
impl<'v> StarlarkValue<'v> for ConfigNamespace {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        match attribute {
            "main_path" => Some(heap.alloc(self.main_path.as_str())),
            "main_dir" => Some(heap.alloc(self.main_dir.as_str())),
            "tilt_subcommand" => Some(heap.alloc(self.subcommand.as_str())),
            _ => None,
        }
    }

    fn dir_attr(&self) -> Vec<String> {
        ["main_dir", "main_path", "tilt_subcommand"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    fn get_methods() -> Option<&'static Methods>
    where
        Self: Sized,
    {
        static RES: MethodsStatic = MethodsStatic::new("config_methods", config_methods);
        Some(RES.methods())
    }
}

fn define(
    state: &TiltState,
    function: &str,
    kind: ConfigKind,
    name: &str,
    positional: bool,
    usage: &str,
) -> anyhow::Result<NoneType> {
    if name.is_empty() {
        bail!("'name' is required");
    }
    let mut decl = state.decl.borrow_mut();
    let config = &mut decl.config;
    if config.parse_dir.is_some() {
        bail!("{function} cannot be called after config.parse is called");
    }
    if config.settings.contains_key(name) {
        bail!("{name} defined multiple times");
    }
    if positional {
        if let Some(existing) = &config.positional {
            bail!("both {name} and {existing} are defined as positional args");
        }
        config.positional = Some(name.to_owned());
    }
    config.settings.insert(
        name.to_owned(),
        ConfigSetting {
            kind,
            usage: usage.to_owned(),
        },
    );
    Ok(NoneType)
}

#[starlark_module]
fn config_methods(builder: &mut MethodsBuilder) {
    fn define_string<'v>(
        #[starlark(this)] _this: Value<'v>,
        name: Str<'v>,
        #[starlark(default = false)] args: bool,
        #[starlark(default = Str(""))] usage: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        define(
            TiltState::get(eval)?,
            "config.define_string",
            ConfigKind::String,
            &name,
            args,
            &usage,
        )
    }

    fn define_string_list<'v>(
        #[starlark(this)] _this: Value<'v>,
        name: Str<'v>,
        #[starlark(default = false)] args: bool,
        #[starlark(default = Str(""))] usage: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        define(
            TiltState::get(eval)?,
            "config.define_string_list",
            ConfigKind::StringList,
            &name,
            args,
            &usage,
        )
    }

    fn define_bool<'v>(
        #[starlark(this)] _this: Value<'v>,
        name: Str<'v>,
        #[starlark(default = false)] args: bool,
        #[starlark(default = Str(""))] usage: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        define(
            TiltState::get(eval)?,
            "config.define_bool",
            ConfigKind::Bool,
            &name,
            args,
            &usage,
        )
    }

    fn define_object<'v>(
        #[starlark(this)] _this: Value<'v>,
        name: Str<'v>,
        #[starlark(default = false)] args: bool,
        #[starlark(default = Str(""))] usage: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        define(
            TiltState::get(eval)?,
            "config.define_object",
            ConfigKind::Object,
            &name,
            args,
            &usage,
        )
    }

    /// Reads `tilt_config.json`, overlays the Tiltfile args, and returns the settings set.
    fn parse<'v>(
        #[starlark(this)] _this: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let wd = state.cwd();
        let settings = {
            let mut decl = state.decl.borrow_mut();
            let config = &mut decl.config;
            if let Some(seen) = &config.parse_dir
                && *seen != wd
            {
                bail!(
                    "config.parse can only be called from one Tiltfile working directory per run. It was called from {} and {}",
                    seen.display(),
                    wd.display()
                );
            }
            config.parse_dir = Some(wd.clone());
            (config.settings.clone(), config.positional.clone())
        };
        let path = wd.join(USER_CONFIG_FILE);
        state.record_config_file(path.clone());
        let (defs, positional) = settings;
        let mut values = read_config_file(&path, &defs)?;
        match parse_args(&state.opts.args, &defs, positional.as_deref()) {
            Ok(from_args) => values.extend(from_args),
            Err(e) => {
                let usage = usage_text(&defs, positional.as_deref());
                bail!("invalid Tiltfile config args: {e}{usage}");
            }
        }
        let heap = eval.heap();
        let entries: Vec<(String, Value<'v>)> = values
            .into_iter()
            .map(|(k, v)| (k, json_to_value(heap, v)))
            .collect();
        Ok(heap.alloc(starlark::values::dict::AllocDict(entries)))
    }

    fn set_enabled_resources<'v>(
        #[starlark(this)] _this: Value<'v>,
        resources: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let names =
            args::strict_string_list(Some(resources), "resources must be a list of string")?;
        TiltState::get(eval)?.decl.borrow_mut().config.enabled = EnabledResources::Explicit(names);
        Ok(NoneType)
    }

    fn clear_enabled_resources<'v>(
        #[starlark(this)] _this: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?.decl.borrow_mut().config.enabled = EnabledResources::None;
        Ok(NoneType)
    }
}

fn type_name(kind: ConfigKind) -> &'static str {
    match kind {
        ConfigKind::String => "string",
        ConfigKind::StringList => "list of strings",
        ConfigKind::Bool => "bool",
        ConfigKind::Object => "object",
    }
}

fn read_config_file(
    path: &std::path::Path,
    defs: &BTreeMap<String, ConfigSetting>,
) -> anyhow::Result<BTreeMap<String, Json>> {
    let text = match crate::paths::read_text(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => bail!("error opening {}: {e}", path.display()),
    };
    let Json::Object(map) = parse_json(&text)
        .map_err(|e| anyhow::anyhow!("error parsing json from {}: {e}", path.display()))?
    else {
        bail!(
            "error parsing json from {}: expected an object",
            path.display()
        );
    };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let Some(def) = defs.get(&key) else {
            bail!("{} specified unknown setting name '{key}'", path.display());
        };
        let ok = match def.kind {
            ConfigKind::String => value.is_string(),
            ConfigKind::Bool => value.is_boolean(),
            ConfigKind::StringList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Json::is_string)),
            ConfigKind::Object => true,
        };
        if !ok {
            bail!(
                "{} specified invalid value for setting {key}: expected {}, found {value}",
                path.display(),
                type_name(def.kind)
            );
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// Parses `--name value`, `--name=value`, bare `--flag` for bools, and positional args,
/// the way Tilt's flag parser (pflag) does.
fn parse_args(
    args: &[String],
    defs: &BTreeMap<String, ConfigSetting>,
    positional: Option<&str>,
) -> anyhow::Result<BTreeMap<String, Json>> {
    let mut out: BTreeMap<String, Json> = BTreeMap::new();
    let mut rest: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            rest.extend(args[i..].iter().cloned());
            break;
        }
        let Some(flag) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-').filter(|s| !s.is_empty()))
        else {
            rest.push(arg.clone());
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        let def = defs.get(name).filter(|_| Some(name) != positional);
        let Some(def) = def else {
            bail!("unknown flag: --{name}");
        };
        let raw = match (inline, def.kind) {
            (Some(v), _) => v,
            (None, ConfigKind::Bool) => "true".to_owned(),
            (None, _) => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => bail!("flag needs an argument: --{name}"),
            },
        };
        set_value(&mut out, name, def.kind, &raw)
            .map_err(|e| anyhow::anyhow!("invalid argument {raw:?} for \"--{name}\" flag: {e}"))?;
    }
    if !rest.is_empty() {
        let Some(name) = positional else {
            bail!(
                "positional CLI args ({:?}) were specified, but none were expected.\nSee https://docs.tilt.dev/tiltfile_config.html#positional-arguments for examples.",
                rest.join(" ")
            );
        };
        let kind = defs
            .get(name)
            .map(|d| d.kind)
            .unwrap_or(ConfigKind::StringList);
        for arg in rest {
            set_value(&mut out, name, kind, &arg)
                .map_err(|e| anyhow::anyhow!("invalid positional args ({name}): {e}"))?;
        }
    }
    Ok(out)
}

fn set_value(
    out: &mut BTreeMap<String, Json>,
    name: &str,
    kind: ConfigKind,
    raw: &str,
) -> anyhow::Result<()> {
    match kind {
        ConfigKind::StringList => {
            let entry = out
                .entry(name.to_owned())
                .or_insert_with(|| Json::Array(Vec::new()));
            if let Json::Array(items) = entry {
                items.push(Json::String(raw.to_owned()));
            }
        }
        ConfigKind::String | ConfigKind::Bool | ConfigKind::Object => {
            if let Some(previous) = out.get(name) {
                let what = match kind {
                    ConfigKind::String => "string",
                    ConfigKind::Bool => "bool",
                    _ => "object",
                };
                let last = match previous {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                bail!(
                    "{what} settings can only be specified once. multiple values found (last value: {last})"
                );
            }
            let value = match kind {
                ConfigKind::String => Json::String(raw.to_owned()),
                ConfigKind::Bool => Json::Bool(parse_bool(raw)?),
                _ => serde_json::from_str(raw)
                    .map_err(|e| anyhow::anyhow!("decoding JSON, got {raw:?}: {e}"))?,
            };
            out.insert(name.to_owned(), value);
        }
    }
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn parse_bool(raw: &str) -> anyhow::Result<bool> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => bail!("strconv.ParseBool: parsing {raw:?}: invalid syntax"),
    }
}

fn usage_text(defs: &BTreeMap<String, ConfigSetting>, positional: Option<&str>) -> String {
    let lines: Vec<String> = defs
        .iter()
        .filter(|(name, _)| Some(name.as_str()) != positional)
        .map(|(name, def)| {
            let kind = match def.kind {
                ConfigKind::String => " string",
                ConfigKind::StringList => " stringArray",
                ConfigKind::Object => " object",
                ConfigKind::Bool => "",
            };
            format!("      --{name}{kind}   {}", def.usage)
        })
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("\nUsage:\n{}", lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> BTreeMap<String, ConfigSetting> {
        [
            ("name", ConfigKind::String),
            ("items", ConfigKind::StringList),
            ("debug", ConfigKind::Bool),
            ("obj", ConfigKind::Object),
        ]
        .into_iter()
        .map(|(n, kind)| {
            (
                n.to_owned(),
                ConfigSetting {
                    kind,
                    usage: String::new(),
                },
            )
        })
        .collect()
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_of_every_kind() {
        let out = parse_args(
            &args(&[
                "--name",
                "x",
                "--items=a",
                "--items",
                "b",
                "--debug",
                "--obj",
                "{\"k\":1}",
            ]),
            &defs(),
            None,
        )
        .expect("parses");
        assert_eq!(out["name"], Json::from("x"));
        assert_eq!(out["items"], serde_json::json!(["a", "b"]));
        assert_eq!(out["debug"], Json::Bool(true));
        assert_eq!(out["obj"], serde_json::json!({"k": 1}));
    }

    #[test]
    fn positional_args_fill_the_positional_setting() {
        let out = parse_args(&args(&["a", "b"]), &defs(), Some("items")).expect("parses");
        assert_eq!(out["items"], serde_json::json!(["a", "b"]));
        let err = parse_args(&args(&["a"]), &defs(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("were specified, but none were expected"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_flag() {
        let err = parse_args(&args(&["--nope"]), &defs(), None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "unknown flag: --nope");
        let err = parse_args(&args(&["--name", "a", "--name", "b"]), &defs(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("can only be specified once"), "{err}");
        let err = parse_args(&args(&["--debug=maybe"]), &defs(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid argument"), "{err}");
    }
}
