//! Docker Compose files read natively: `.env`/`env_file` interpolation, merging several
//! files in order, profiles, and the per-service facts Tilt needs (image, build, ports,
//! bind mounts, depends_on, env_files). No `docker compose` process is started, so
//! evaluation stays fast and works without Docker.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::paths;

/// Why a Compose project could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ComposeError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("service {service:?} depends on undefined service {dependency:?}")]
    UnknownDependency { service: String, dependency: String },
    #[error("{path}: required variable {var} is missing a value: {message}")]
    Required {
        path: PathBuf,
        var: String,
        message: String,
    },
}

/// The inputs of one Compose project.
pub(crate) struct ProjectInput<'a> {
    pub(crate) config_paths: &'a [PathBuf],
    pub(crate) project_path: &'a Path,
    pub(crate) env_file: Option<&'a Path>,
    pub(crate) profiles: &'a [String],
    /// The environment the Tiltfile sees; it wins over `.env` values, as in Compose.
    pub(crate) env: &'a BTreeMap<String, String>,
}

/// A service after merging and normalising, in Compose's long syntax.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) name: String,
    /// The normalised configuration (build/ports/volumes/depends_on in long form).
    pub(crate) config: Map<String, Value>,
    pub(crate) image: Option<String>,
    /// `(context, dockerfile)` when the service has `build:`; the context is empty for
    /// remote (git URL) contexts.
    pub(crate) build: Option<(String, String)>,
    pub(crate) depends_on: Vec<String>,
    pub(crate) published_ports: Vec<u16>,
    pub(crate) bind_mounts: Vec<PathBuf>,
    pub(crate) env_files: Vec<PathBuf>,
}

/// Compose's project name rule: lowercase, only `[a-z0-9_-]`, no leading `_` or `-`.
pub(crate) fn normalize_project_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_owned()
}

/// Reads, interpolates and merges the project's files; returns its enabled services,
/// dependencies first, otherwise in file order.
pub(crate) fn load_project(input: &ProjectInput<'_>) -> Result<Vec<Service>, ComposeError> {
    let mut vars = input.env.clone();
    let dotenv_path = match input.env_file {
        Some(p) => Some(p.to_path_buf()),
        None => Some(input.project_path.join(".env")).filter(|p| p.is_file()),
    };
    if let Some(path) = dotenv_path {
        let text = crate::paths::read_text(&path).map_err(|source| ComposeError::Read {
            path: path.clone(),
            source,
        })?;
        for (k, v) in parse_dotenv(&text, &vars) {
            vars.entry(k).or_insert(v);
        }
    }

    let mut merged: Map<String, Value> = Map::new();
    for path in input.config_paths {
        let text = crate::paths::read_text(path).map_err(|source| ComposeError::Read {
            path: path.clone(),
            source,
        })?;
        let doc: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_saphyr::from_str(&text).map_err(|e| ComposeError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?
        };
        let doc = interpolate_tree(doc, &vars, path)?;
        let services = match doc.get("services") {
            None | Some(Value::Null) => continue,
            Some(Value::Object(s)) => s.clone(),
            Some(_) => {
                return Err(ComposeError::Invalid {
                    path: path.clone(),
                    message: "services must be a mapping".to_owned(),
                });
            }
        };
        for (name, svc) in services {
            let svc = match svc {
                Value::Object(m) => m,
                Value::Null => Map::new(),
                _ => {
                    return Err(ComposeError::Invalid {
                        path: path.clone(),
                        message: format!("service {name:?} must be a mapping"),
                    });
                }
            };
            let svc = normalize_service(svc, input.project_path, path)?;
            match merged.get_mut(&name) {
                Some(Value::Object(existing)) => merge_service(existing, svc),
                _ => {
                    merged.insert(name, Value::Object(svc));
                }
            }
        }
    }

    let active: HashSet<&str> = input.profiles.iter().map(String::as_str).collect();
    let mut services: Vec<Service> = Vec::new();
    for (name, config) in &merged {
        let Value::Object(config) = config else {
            continue;
        };
        let profiles = strings(config.get("profiles"));
        let enabled = profiles.is_empty()
            || active.contains("*")
            || profiles.iter().any(|p| active.contains(p.as_str()));
        if enabled {
            services.push(to_service(name, config));
        }
    }
    let names: HashSet<String> = services.iter().map(|s| s.name.clone()).collect();
    for svc in &services {
        for dep in &svc.depends_on {
            if !names.contains(dep) {
                return Err(ComposeError::UnknownDependency {
                    service: svc.name.clone(),
                    dependency: dep.clone(),
                });
            }
        }
    }
    Ok(dependency_order(services))
}

fn dependency_order(services: Vec<Service>) -> Vec<Service> {
    fn visit(
        idx: usize,
        services: &[Service],
        index: &BTreeMap<&str, usize>,
        seen: &mut Vec<bool>,
        out: &mut Vec<usize>,
    ) {
        if seen[idx] {
            return;
        }
        seen[idx] = true;
        for dep in &services[idx].depends_on {
            if let Some(&d) = index.get(dep.as_str()) {
                visit(d, services, index, seen, out);
            }
        }
        out.push(idx);
    }
    let index: BTreeMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut seen = vec![false; services.len()];
    let mut order = Vec::new();
    for i in 0..services.len() {
        visit(i, &services, &index, &mut seen, &mut order);
    }
    let mut slots: Vec<Option<Service>> = services.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

fn to_service(name: &str, config: &Map<String, Value>) -> Service {
    let build = config.get("build").and_then(Value::as_object).map(|b| {
        (
            b.get("context")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            b.get("dockerfile")
                .and_then(Value::as_str)
                .unwrap_or("Dockerfile")
                .to_owned(),
        )
    });
    let depends_on = config
        .get("depends_on")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let published_ports = config
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("published").and_then(Value::as_str))
        .filter_map(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .collect();
    let bind_mounts = config
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("type").and_then(Value::as_str) == Some("bind"))
        .filter_map(|v| v.get("source").and_then(Value::as_str))
        .map(PathBuf::from)
        .collect();
    let env_files = config
        .get("env_file")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("path").and_then(Value::as_str))
        .map(PathBuf::from)
        .collect();
    Service {
        name: name.to_owned(),
        config: config.clone(),
        image: config
            .get("image")
            .and_then(Value::as_str)
            .map(str::to_owned),
        build,
        depends_on,
        published_ports,
        bind_mounts,
        env_files,
    }
}

/// Compose's merge rules for the keys Tilt cares about: mappings merge key by key,
/// `ports`/`expose`/`env_file`/`profiles` are appended without duplicates, `volumes` merge
/// by target, and everything else (image, command, ...) is replaced.
fn merge_service(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (key, value) in over {
        match (key.as_str(), base.get_mut(&key), value) {
            (
                "build" | "environment" | "labels" | "depends_on" | "annotations",
                Some(Value::Object(b)),
                Value::Object(o),
            ) => {
                for (k, v) in o {
                    b.insert(k, v);
                }
            }
            (
                "ports" | "expose" | "env_file" | "profiles",
                Some(Value::Array(b)),
                Value::Array(o),
            ) => {
                for v in o {
                    if !b.contains(&v) {
                        b.push(v);
                    }
                }
            }
            ("volumes", Some(Value::Array(b)), Value::Array(o)) => {
                for v in o {
                    let target = v.get("target").cloned();
                    match b
                        .iter_mut()
                        .find(|e| target.is_some() && e.get("target").cloned() == target)
                    {
                        Some(slot) => *slot = v,
                        None => b.push(v),
                    }
                }
            }
            (_, _, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Rewrites a service into Compose's long syntax with absolute local paths.
fn normalize_service(
    mut svc: Map<String, Value>,
    project_path: &Path,
    file: &Path,
) -> Result<Map<String, Value>, ComposeError> {
    let invalid = |message: String| ComposeError::Invalid {
        path: file.to_path_buf(),
        message,
    };
    if let Some(build) = svc.remove("build") {
        let mut b = match build {
            Value::String(ctx) => {
                let mut m = Map::new();
                m.insert("context".into(), Value::String(ctx));
                m
            }
            Value::Object(m) => m,
            other => {
                return Err(invalid(format!(
                    "build must be a string or a mapping, got {other}"
                )));
            }
        };
        let ctx = b
            .get("context")
            .and_then(Value::as_str)
            .unwrap_or(".")
            .to_owned();
        let ctx = if is_remote_context(&ctx) {
            ctx
        } else {
            paths::absolute(project_path, &ctx).display().to_string()
        };
        b.insert("context".into(), Value::String(ctx));
        if !b.contains_key("dockerfile") {
            b.insert("dockerfile".into(), Value::String("Dockerfile".into()));
        }
        svc.insert("build".into(), Value::Object(b));
    }
    if let Some(cmd) = svc
        .get("command")
        .and_then(Value::as_str)
        .map(str::to_owned)
    {
        let argv = crate::builtins::os::shell_split(&cmd)
            .map_err(|e| invalid(format!("command: {e:#}")))?;
        svc.insert(
            "command".into(),
            Value::Array(argv.into_iter().map(Value::String).collect()),
        );
    }
    if let Some(env) = svc.remove("environment") {
        svc.insert("environment".into(), Value::Object(key_values(env)));
    }
    if let Some(labels) = svc.remove("labels") {
        svc.insert("labels".into(), Value::Object(key_values(labels)));
    }
    if let Some(deps) = svc.remove("depends_on") {
        let mut out = Map::new();
        let default_dep = || {
            let mut d = Map::new();
            d.insert("condition".into(), Value::String("service_started".into()));
            d.insert("required".into(), Value::Bool(true));
            d
        };
        match deps {
            Value::Array(items) => {
                for item in items {
                    if let Some(name) = scalar_string(&item) {
                        out.insert(name, Value::Object(default_dep()));
                    }
                }
            }
            Value::Object(m) => {
                for (name, spec) in m {
                    let mut d = default_dep();
                    if let Value::Object(spec) = spec {
                        for (k, v) in spec {
                            d.insert(k, v);
                        }
                    }
                    out.insert(name, Value::Object(d));
                }
            }
            _ => return Err(invalid("depends_on must be a list or a mapping".to_owned())),
        }
        svc.insert("depends_on".into(), Value::Object(out));
    }
    if let Some(files) = svc.remove("env_file") {
        let items = match files {
            Value::Array(items) => items,
            other => vec![other],
        };
        let mut out = Vec::new();
        for item in items {
            let (path, required) = match &item {
                Value::Object(m) => (
                    m.get("path")
                        .and_then(scalar_string_ref)
                        .unwrap_or_default(),
                    m.get("required").and_then(Value::as_bool).unwrap_or(true),
                ),
                other => (scalar_string(other).unwrap_or_default(), true),
            };
            let mut m = Map::new();
            m.insert(
                "path".into(),
                Value::String(paths::absolute(project_path, &path).display().to_string()),
            );
            m.insert("required".into(), Value::Bool(required));
            out.push(Value::Object(m));
        }
        svc.insert("env_file".into(), Value::Array(out));
    }
    if let Some(ports) = svc.remove("ports") {
        let Value::Array(items) = ports else {
            return Err(invalid("ports must be a list".to_owned()));
        };
        let mut out = Vec::new();
        for item in items {
            out.extend(port_long_form(&item).map_err(invalid)?);
        }
        svc.insert("ports".into(), Value::Array(out));
    }
    if let Some(volumes) = svc.remove("volumes") {
        let Value::Array(items) = volumes else {
            return Err(invalid("volumes must be a list".to_owned()));
        };
        let out = items
            .into_iter()
            .map(|v| volume_long_form(v, project_path))
            .collect();
        svc.insert("volumes".into(), Value::Array(out));
    }
    if !svc.contains_key("network_mode") && !svc.contains_key("networks") {
        let mut n = Map::new();
        n.insert("default".into(), Value::Null);
        svc.insert("networks".into(), Value::Object(n));
    }
    Ok(svc)
}

fn is_remote_context(ctx: &str) -> bool {
    ctx.contains("://") || ctx.starts_with("git@") || ctx.starts_with("github.com/")
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn scalar_string_ref(value: &Value) -> Option<String> {
    scalar_string(value)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_string).collect(),
        Some(v) => scalar_string(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// `KEY=VALUE` lists and mappings both become mappings; a bare `KEY` maps to null.
fn key_values(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Null => Value::Null,
                    other => Value::String(scalar_string(&other).unwrap_or_default()),
                };
                (k, v)
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(scalar_string)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_owned(), Value::String(v.to_owned())),
                None => (item, Value::Null),
            })
            .collect(),
        _ => Map::new(),
    }
}

/// One `ports:` entry in long syntax; a range gives one entry per port.
fn port_long_form(item: &Value) -> Result<Vec<Value>, String> {
    let entry = |target: u64, published: &str, host_ip: &str, protocol: &str| {
        let mut m = Map::new();
        m.insert("mode".into(), Value::String("ingress".into()));
        if !host_ip.is_empty() {
            m.insert("host_ip".into(), Value::String(host_ip.to_owned()));
        }
        m.insert("target".into(), Value::from(target));
        if !published.is_empty() {
            m.insert("published".into(), Value::String(published.to_owned()));
        }
        m.insert("protocol".into(), Value::String(protocol.to_owned()));
        Value::Object(m)
    };
    match item {
        Value::Object(m) => {
            let target = m
                .get("target")
                .and_then(|t| scalar_string(t)?.parse::<u64>().ok())
                .ok_or_else(|| "a long-syntax port needs a numeric target".to_owned())?;
            let published = m
                .get("published")
                .and_then(scalar_string)
                .unwrap_or_default();
            let host_ip = m.get("host_ip").and_then(scalar_string).unwrap_or_default();
            let protocol = m
                .get("protocol")
                .and_then(scalar_string)
                .unwrap_or_else(|| "tcp".to_owned());
            Ok(vec![entry(target, &published, &host_ip, &protocol)])
        }
        other => {
            let spec = scalar_string(other).ok_or_else(|| format!("invalid port {other}"))?;
            let (spec, protocol) = match spec.rsplit_once('/') {
                Some((s, p)) => (s.to_owned(), p.to_owned()),
                None => (spec.clone(), "tcp".to_owned()),
            };
            // [HOST_IP:]HOST:CONTAINER or CONTAINER; IPv6 host IPs are bracketed.
            let (host_ip, rest) = match spec.strip_prefix('[') {
                Some(r) => match r.split_once("]:") {
                    Some((ip, rest)) => (ip.to_owned(), rest.to_owned()),
                    None => return Err(format!("invalid port {spec:?}")),
                },
                None => {
                    let parts: Vec<&str> = spec.split(':').collect();
                    match parts.len() {
                        3 => (parts[0].to_owned(), format!("{}:{}", parts[1], parts[2])),
                        _ => (String::new(), spec.clone()),
                    }
                }
            };
            let (published, target) = match rest.split_once(':') {
                Some((p, t)) => (p.to_owned(), t.to_owned()),
                None => (String::new(), rest),
            };
            let range = |s: &str| -> Result<(u64, u64), String> {
                let bad = || format!("invalid port {spec:?}");
                match s.split_once('-') {
                    Some((a, b)) => {
                        Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
                    }
                    None => {
                        let n = s.parse().map_err(|_| bad())?;
                        Ok((n, n))
                    }
                }
            };
            let (t0, t1) = range(&target)?;
            let published_range = if published.is_empty() {
                None
            } else {
                Some(range(&published)?)
            };
            let mut out = Vec::new();
            for (i, t) in (t0..=t1).enumerate() {
                let published = match published_range {
                    Some((p0, p1)) if p1 - p0 == t1 - t0 => (p0 + i as u64).to_string(),
                    Some((p0, p1)) if p0 == p1 => p0.to_string(),
                    Some((p0, p1)) => format!("{p0}-{p1}"),
                    None => String::new(),
                };
                out.push(entry(t, &published, &host_ip, &protocol));
            }
            Ok(out)
        }
    }
}

/// One `volumes:` entry in long syntax; local sources become absolute bind mounts.
fn volume_long_form(item: Value, project_path: &Path) -> Value {
    let is_local = |s: &str| s.starts_with('.') || s.starts_with('/') || s.starts_with('~');
    match item {
        Value::String(spec) => {
            let parts: Vec<&str> = spec.split(':').collect();
            let mut m = Map::new();
            match parts.as_slice() {
                [target] => {
                    m.insert("type".into(), Value::String("volume".into()));
                    m.insert("target".into(), Value::String((*target).to_owned()));
                }
                [source, target, rest @ ..] => {
                    let local = is_local(source);
                    m.insert(
                        "type".into(),
                        Value::String(if local { "bind" } else { "volume" }.into()),
                    );
                    let source = if local {
                        paths::absolute(project_path, source).display().to_string()
                    } else {
                        (*source).to_owned()
                    };
                    m.insert("source".into(), Value::String(source));
                    m.insert("target".into(), Value::String((*target).to_owned()));
                    if rest
                        .first()
                        .is_some_and(|mode| mode.split(',').any(|o| o == "ro"))
                    {
                        m.insert("read_only".into(), Value::Bool(true));
                    }
                    if local {
                        let mut bind = Map::new();
                        bind.insert("create_host_path".into(), Value::Bool(true));
                        m.insert("bind".into(), Value::Object(bind));
                    } else {
                        m.insert("volume".into(), Value::Object(Map::new()));
                    }
                }
                [] => {}
            }
            Value::Object(m)
        }
        Value::Object(mut m) => {
            if m.get("type").and_then(Value::as_str) == Some("bind")
                && let Some(src) = m.get("source").and_then(Value::as_str)
            {
                let abs = paths::absolute(project_path, src).display().to_string();
                m.insert("source".into(), Value::String(abs));
            }
            Value::Object(m)
        }
        other => other,
    }
}

/// Parses a `.env` file: `KEY=VALUE`, optional `export `, `#` comments, quoted values
/// (double quotes interpolate and unescape `\n`).
pub(crate) fn parse_dotenv(text: &str, env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_owned();
        let value = value.trim();
        let value = if let Some(v) = value.strip_prefix('\'') {
            v.split_once('\'').map_or(v, |(v, _)| v).to_owned()
        } else if let Some(v) = value.strip_prefix('"') {
            let inner = v.rsplit_once('"').map_or(v, |(v, _)| v);
            let known: BTreeMap<String, String> = env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(out.iter().cloned())
                .collect();
            interpolate(&inner.replace("\\n", "\n").replace("\\\"", "\""), &known)
                .unwrap_or_else(|_| inner.to_owned())
        } else {
            let v = match value.find(" #") {
                Some(i) => value[..i].trim_end(),
                None => value,
            };
            let known: BTreeMap<String, String> = env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(out.iter().cloned())
                .collect();
            interpolate(v, &known).unwrap_or_else(|_| v.to_owned())
        };
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
    }
    out
}

fn interpolate_tree(
    value: Value,
    vars: &BTreeMap<String, String>,
    path: &Path,
) -> Result<Value, ComposeError> {
    Ok(match value {
        Value::String(s) => Value::String(interpolate(&s, vars).map_err(|(var, message)| {
            ComposeError::Required {
                path: path.to_path_buf(),
                var,
                message,
            }
        })?),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| interpolate_tree(v, vars, path))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| Ok((k, interpolate_tree(v, vars, path)?)))
                .collect::<Result<_, ComposeError>>()?,
        ),
        other => other,
    })
}

/// Compose's variable syntax: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`, and `$$` for a literal `$`.
/// Unset variables without a default become empty strings, as in Compose.
/// An error is `(variable, message)` for a required variable.
pub(crate) fn interpolate(
    text: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, (String, String)> {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // Find the matching brace, allowing nested `${...}` in defaults.
                let mut depth = 1;
                let mut j = i + 2;
                while j < chars.len() && depth > 0 {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                if depth > 0 {
                    out.extend(&chars[i..]);
                    break;
                }
                let inner: String = chars[i + 2..j - 1].iter().collect();
                out.push_str(&expand_braced(&inner, vars)?);
                i = j;
            }
            Some(n) if n.is_ascii_alphabetic() || *n == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(vars.get(&name).map_or("", String::as_str));
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn expand_braced(inner: &str, vars: &BTreeMap<String, String>) -> Result<String, (String, String)> {
    let name_end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(name_end);
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let expand = |s: &str| interpolate(s, vars);
    let (op, arg) = [":-", ":?", ":+", "-", "?", "+"]
        .iter()
        .find_map(|o| op.strip_prefix(o).map(|rest| (*o, rest)))
        .unwrap_or(("", ""));
    Ok(match op {
        ":-" if !set_nonempty => expand(arg)?,
        "-" if value.is_none() => expand(arg)?,
        ":?" if !set_nonempty => return Err((name.to_owned(), expand(arg)?)),
        "?" if value.is_none() => return Err((name.to_owned(), expand(arg)?)),
        ":+" => {
            if set_nonempty {
                expand(arg)?
            } else {
                String::new()
            }
        }
        "+" => {
            if value.is_some() {
                expand(arg)?
            } else {
                String::new()
            }
        }
        _ => value.cloned().unwrap_or_default(),
    })
}

/// The service's configuration as YAML in the shape Tilt records it (`ServiceYAML`):
/// Compose's key order, 4-space indentation, published ports as strings.
pub(crate) fn service_yaml(config: &Map<String, Value>) -> String {
    const ORDER: &[&str] = &[
        "profiles",
        "annotations",
        "attach",
        "build",
        "develop",
        "cap_add",
        "cap_drop",
        "cgroup_parent",
        "cpus",
        "command",
        "configs",
        "container_name",
        "depends_on",
        "deploy",
        "devices",
        "dns",
        "domainname",
        "entrypoint",
        "environment",
        "env_file",
        "expose",
        "extends",
        "external_links",
        "extra_hosts",
        "group_add",
        "hostname",
        "healthcheck",
        "image",
        "init",
        "ipc",
        "labels",
        "links",
        "logging",
        "mem_limit",
        "network_mode",
        "networks",
        "pid",
        "platform",
        "ports",
        "privileged",
        "pull_policy",
        "read_only",
        "restart",
        "secrets",
        "security_opt",
        "shm_size",
        "stdin_open",
        "stop_grace_period",
        "stop_signal",
        "tmpfs",
        "tty",
        "ulimits",
        "user",
        "volumes",
        "volumes_from",
        "working_dir",
    ];
    let mut keys: Vec<&String> = config.keys().collect();
    keys.sort_by_key(|k| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
    let ordered: Map<String, Value> = keys
        .into_iter()
        .map(|k| (k.clone(), config[k.as_str()].clone()))
        .collect();
    // A JSON value always serializes (string keys, finite numbers); the text is only shown.
    lilt_manifest::value_to_go_yaml(&Value::Object(ordered)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn interpolation_follows_compose() {
        let v = vars(&[("A", "x"), ("EMPTY", "")]);
        let i = |s: &str| interpolate(s, &v).unwrap_or_else(|(a, b)| format!("ERR {a} {b}"));
        assert_eq!(i("$A ${A}"), "x x");
        assert_eq!(
            i("${B:-def} ${B-def} ${EMPTY:-def} ${EMPTY-def}"),
            "def def def "
        );
        assert_eq!(i("$$A $$"), "$A $");
        assert_eq!(i("${A:+alt} ${B:+alt}"), "alt ");
        assert_eq!(i("${B:-${A}}"), "x");
        assert_eq!(i("${B:?must be set}"), "ERR B must be set");
        assert_eq!(i("$UNSET-"), "-");
    }

    #[test]
    fn project_names_are_normalized() {
        assert_eq!(normalize_project_name("My Project.v2"), "myprojectv2");
        assert_eq!(normalize_project_name("__ex-compose"), "ex-compose");
    }

    #[test]
    fn dotenv_parsing() {
        let parsed = parse_dotenv(
            "# c\nexport A=1\nB='two words'\nC=\"x${A}y\"\nD=plain # comment\n",
            &BTreeMap::new(),
        );
        assert_eq!(
            parsed,
            vec![
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "two words".to_owned()),
                ("C".to_owned(), "x1y".to_owned()),
                ("D".to_owned(), "plain".to_owned()),
            ]
        );
    }

    #[test]
    fn short_port_syntax() {
        let p = |s: &str| port_long_form(&Value::String(s.into())).unwrap_or_default();
        let one = p("127.0.0.1:8080:80/udp");
        assert_eq!(one[0]["host_ip"], "127.0.0.1");
        assert_eq!(one[0]["published"], "8080");
        assert_eq!(one[0]["target"], 80);
        assert_eq!(one[0]["protocol"], "udp");
        assert_eq!(p("3000-3001:4000-4001").len(), 2);
        assert!(p("80")[0].get("published").is_none());
    }

    #[test]
    fn command_strings_split_like_sh() {
        let split = |cmd: &str| {
            let mut svc = Map::new();
            svc.insert("command".into(), Value::String(cmd.into()));
            normalize_service(svc, Path::new("/p"), Path::new("/p/compose.yml"))
                .map(|s| s["command"].clone())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            split("sh -c 'node server.js' \"a b\""),
            Ok(serde_json::json!(["sh", "-c", "node server.js", "a b"]))
        );
        // Compose rejects an unclosed quote rather than guessing.
        let err = split("sh -c 'oops").unwrap_err();
        assert!(err.contains("unclosed single quote"), "{err}");
    }
}
