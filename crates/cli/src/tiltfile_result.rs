//! `lilt alpha tiltfile-result`: the Plan as JSON in the shape of Tilt's
//! `tilt alpha tiltfile-result`, so tools written for Tilt can read it.
//!
//! This is a wire format: field names follow Tilt's Go structs (`Manifests`, `DeployTarget`,
//! `UpdateCmdSpec.args`, ...) even where lilt's model names things differently.

use std::path::Path;
use std::time::Duration;

use lilt_model::{
    BuildDetails, Cmd, DeployTarget, DockerComposeTarget, IgnoreSet, ImageTarget, Link,
    LocalTarget, Manifest, Plan, Probe, ProbeAction,
};
use lilt_tiltfile::LoadResult;
use serde_json::{Map, Value, json};

/// The whole document.
pub(crate) fn to_json(result: &LoadResult) -> Value {
    let plan = &result.plan;
    let error = match &result.error {
        Some(e) => Value::String(e.short()),
        None => Value::Null,
    };
    let settings = &plan.settings;
    let ci_timeout = settings.ci.timeout.unwrap_or(Duration::from_secs(30 * 60));
    let mut ci = Map::new();
    if let Some(grace) = settings.ci.k8s_grace_period {
        ci.insert(
            "k8sGracePeriod".into(),
            json!(lilt_engine::go_duration(grace)),
        );
    }
    ci.insert(
        "timeout".into(),
        json!(lilt_engine::go_duration(ci_timeout)),
    );
    ci.insert(
        "readinessTimeout".into(),
        json!(lilt_engine::go_duration(settings.ci.readiness_timeout)),
    );
    json!({
        "Manifests": plan.manifests.iter().map(|m| manifest(plan, m)).collect::<Vec<_>>(),
        "EnabledManifests": plan.enabled,
        // `LocalPath` is the directory and `Source` the file; both empty without a file.
        "Tiltignore": {
            "LocalPath": path_str(&plan.tiltignore.base_path),
            "Source": if plan.tiltignore.base_path.as_os_str().is_empty() { String::new() } else { path_str(&plan.tiltignore.base_path.join(".tiltignore")) },
            "Patterns": null_if_empty(&plan.tiltignore.patterns),
        },
        "ConfigFiles": plan.config_files.iter().map(|p| path_str(p)).collect::<Vec<_>>(),
        "FeatureFlags": settings.features.0,
        "TeamID": settings.team_id,
        // Not modelled yet (experimental_telemetry_cmd, secret scrubbing values): Tilt's
        // defaults, so readers find every top-level field.
        "TelemetrySettings": {
            "Cmd": { "Argv": null, "Dir": "", "Env": null, "EchoOff": false },
            "Workdir": "",
            "Period": 60_000_000_000u64,
        },
        "Secrets": crate::tiltfile_result_k8s::secrets(plan),
        "Error": error,
        "DockerPruneSettings": {
            "Enabled": settings.docker_prune.enabled,
            "MaxAge": nanos(settings.docker_prune.max_age),
            "NumBuilds": settings.docker_prune.num_builds,
            "Interval": nanos(settings.docker_prune.interval),
            "KeepRecent": settings.docker_prune.keep_recent,
        },
        // Tilt's analytics.Opt: 0 default, 1 opted out, 2 opted in.
        "AnalyticsOpt": match settings.analytics { None => 0, Some(false) => 1, Some(true) => 2 },
        "VersionSettings": { "CheckUpdates": settings.version.check_updates },
        "UpdateSettings": {
            "SuppressUnusedImageWarnings": null_if_empty(&settings.update.suppress_unused_image_warnings),
        },
        "WatchSettings": {
            "Ignores": if settings.watch_ignores.is_empty() { Value::Null } else { ignores(&settings.watch_ignores) },
        },
        "DefaultRegistry": crate::tiltfile_result_k8s::default_registry(plan),
        "ObjectSet": crate::tiltfile_result_objects::object_set(plan),
        "CISettings": ci,
    })
}

fn manifest(plan: &Plan, m: &Manifest) -> Value {
    let is_compose = matches!(m.deploy, DeployTarget::DockerCompose(_));
    // Tilt gives Compose resources an empty list rather than null.
    let image_targets = if m.image_targets.is_empty() && !is_compose {
        Value::Null
    } else {
        Value::Array(
            m.image_targets
                .iter()
                .map(|i| image_target(&m.name, i))
                .collect(),
        )
    };
    let deploy = match &m.deploy {
        DeployTarget::Local(local) => local_target(&m.name, local),
        DeployTarget::K8s(k8s) => crate::tiltfile_result_k8s::k8s_target(plan, &m.name, k8s),
        DeployTarget::DockerCompose(dc) => compose_target(&m.name, dc),
    };
    json!({
        "Name": m.name,
        "ImageTargets": image_targets,
        "DeployTarget": deploy,
        "TriggerMode": m.trigger_mode.wire(),
        "ResourceDependencies": null_if_empty(&m.resource_deps),
        "SourceTiltfile": m.source_tiltfile,
        "Labels": m.labels,
    })
}

fn local_target(name: &str, local: &LocalTarget) -> Value {
    let update = match &local.update_cmd {
        None => Value::Null,
        Some(cmd) => {
            let mut spec = Map::new();
            spec.insert("args".into(), json!(cmd.argv));
            spec.insert("dir".into(), json!(path_str(&cmd.dir)));
            if !cmd.env.is_empty() {
                spec.insert("env".into(), json!(env_list(cmd)));
            }
            Value::Object(spec)
        }
    };
    let serve = match &local.serve_cmd {
        None => json!({ "Argv": null, "Dir": "", "Env": null, "EchoOff": false }),
        Some(cmd) => json!({
            "Argv": cmd.argv,
            "Dir": path_str(&cmd.dir),
            "Env": if cmd.env.is_empty() { Value::Null } else { json!(env_list(cmd)) },
            "EchoOff": cmd.echo_off,
        }),
    };
    json!({
        "UpdateCmdSpec": update,
        "Name": name,
        "ServeCmd": serve,
        "Links": links(&local.links),
        "Deps": if local.deps.is_empty() { Value::Null } else { json!(local.deps.iter().map(|p| path_str(p)).collect::<Vec<_>>()) },
        "FileWatchIgnores": if local.ignores.is_empty() { Value::Null } else { ignores(&local.ignores) },
        "AllowParallel": local.allow_parallel,
        "ReadinessProbe": local.readiness_probe.as_ref().map_or(Value::Null, probe),
        "ServeCmdDisableSource": null,
    })
}

/// A Compose service as Tilt prints it (`model.DockerComposeTarget`).
fn compose_target(name: &str, dc: &DockerComposeTarget) -> Value {
    let mut project = Map::new();
    project.insert(
        "configPaths".into(),
        json!(
            dc.project
                .config_paths
                .iter()
                .map(|p| path_str(p))
                .collect::<Vec<_>>()
        ),
    );
    project.insert(
        "projectPath".into(),
        json!(path_str(&dc.project.project_path)),
    );
    project.insert("name".into(), json!(dc.project.name));
    if let Some(env_file) = &dc.project.env_file {
        project.insert("envFile".into(), json!(path_str(env_file)));
    }
    if !dc.project.profiles.is_empty() {
        project.insert("profiles".into(), json!(dc.project.profiles));
    }
    if dc.project.wait {
        project.insert("wait".into(), json!(true));
    }
    let mut spec = Map::new();
    spec.insert("service".into(), json!(dc.service));
    spec.insert("project".into(), Value::Object(project));
    if !dc.image_maps.is_empty() {
        let names: Vec<String> = dc
            .image_maps
            .iter()
            .map(|r| crate::tiltfile_result_k8s::image_map_name(r))
            .collect();
        spec.insert("imageMaps".into(), json!(names));
    }
    json!({
        "Spec": spec,
        "Name": name,
        "ServiceYAML": dc.service_yaml,
        "Links": links(&dc.links),
    })
}

/// An image target as Tilt prints it (`model.ImageTarget`).
fn image_target(manifest: &str, image: &ImageTarget) -> Value {
    let image_maps: Vec<String> = image
        .image_deps
        .iter()
        .map(|dep| crate::tiltfile_result_k8s::image_map_name(dep))
        .collect();
    let build = match &image.build {
        // `v1alpha1.DockerImageSpec`, in Go's field order, empty fields left out.
        BuildDetails::Docker(d) => {
            let mut b = Map::new();
            b.insert("ref".into(), json!(""));
            b.insert("dockerfileContents".into(), json!(d.dockerfile_contents));
            b.insert("context".into(), json!(path_str(&d.context)));
            b.insert("contextIgnores".into(), ignores(&d.context_ignores));
            if !d.build_args.is_empty() {
                let args: Vec<String> = d
                    .build_args
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    })
                    .collect();
                b.insert("args".into(), json!(args));
            }
            put_str(&mut b, "target", &d.target);
            put_list(&mut b, "sshAgentConfigs", &d.ssh);
            put_list(&mut b, "secrets", &d.secret);
            put_str(&mut b, "network", &d.network);
            if d.pull {
                b.insert("pull".into(), json!(true));
            }
            put_list(&mut b, "cacheFrom", &d.cache_from);
            put_str(&mut b, "platform", &d.platform);
            put_list(&mut b, "extraTags", &d.extra_tags);
            put_list(&mut b, "imageMaps", &image_maps);
            put_list(&mut b, "extraHosts", &d.extra_hosts);
            Value::Object(b)
        }
        // `model.CustomBuild`: the `CmdImageSpec` inlined, then `Deps`.
        BuildDetails::Custom(c) => {
            let mut b = Map::new();
            b.insert("ref".into(), json!(""));
            b.insert("args".into(), json!(c.cmd.argv));
            b.insert("dir".into(), json!(path_str(&c.cmd.dir)));
            if !c.cmd.env.is_empty() {
                b.insert("env".into(), json!(env_list(&c.cmd)));
            }
            put_list(&mut b, "imageMaps", &image_maps);
            b.insert("outputMode".into(), json!(c.output_mode().wire()));
            if !c.tag.is_empty() {
                b.insert("outputTag".into(), json!(c.tag));
            }
            if let Some(path) = &c.outputs_image_ref_to {
                b.insert("outputsImageRefTo".into(), json!(path_str(path)));
            }
            b.insert(
                "Deps".into(),
                if c.deps.is_empty() {
                    Value::Null
                } else {
                    json!(c.deps.iter().map(|p| path_str(p)).collect::<Vec<_>>())
                },
            );
            Value::Object(b)
        }
        BuildDetails::DockerCompose(dc) => json!({
            "Service": dc.service,
            "Context": path_str(&dc.context),
        }),
    };
    let watch_ignores = match &image.build {
        BuildDetails::Docker(d) => ignores(&d.watch_ignores),
        BuildDetails::Custom(c) => ignores(&c.ignores),
        BuildDetails::DockerCompose(dc) => ignores(&dc.watch_ignores),
    };
    let mut out = crate::tiltfile_result_k8s::image_map_spec(image);
    let live_update = crate::tiltfile_result_k8s::live_update_spec(image);
    let has_live_update = !image.live_update.is_empty();
    let object_name = |kind: bool| {
        if kind {
            crate::tiltfile_result_k8s::api_name(manifest, &image.image_ref)
        } else {
            String::new()
        }
    };
    out.insert("LiveUpdateName".into(), json!(object_name(has_live_update)));
    out.insert("LiveUpdateSpec".into(), live_update);
    out.insert("LiveUpdateReconciler".into(), json!(has_live_update));
    out.insert(
        "DockerImageName".into(),
        json!(object_name(matches!(image.build, BuildDetails::Docker(_)))),
    );
    out.insert(
        "CmdImageName".into(),
        json!(object_name(matches!(image.build, BuildDetails::Custom(_)))),
    );
    out.insert("BuildDetails".into(), build);
    out.insert(
        "IsLiveUpdateOnly".into(),
        json!(image.is_live_update_only()),
    );
    out.insert("FileWatchIgnores".into(), watch_ignores);
    Value::Object(out)
}

pub(crate) fn ignores(sets: &[IgnoreSet]) -> Value {
    Value::Array(
        sets.iter()
            .map(|s| {
                let mut o = Map::new();
                o.insert("basePath".into(), json!(path_str(&s.base_path)));
                if !s.patterns.is_empty() {
                    o.insert("patterns".into(), json!(s.patterns));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

pub(crate) fn links(links: &[Link]) -> Value {
    if links.is_empty() {
        return Value::Null;
    }
    Value::Array(
        links
            .iter()
            .map(|l| json!({ "URL": go_url(&l.url), "Name": l.name }))
            .collect(),
    )
}

/// A URL as Go's `encoding/json` writes a `*url.URL` (Tilt's `model.Link.URL`): the parsed
/// parts as fields. lilt keeps percent-escapes in `Path` as written and leaves `RawPath`
/// empty (Go decodes `Path` and keeps the escaped form in `RawPath` only when it differs).
fn go_url(url: &str) -> Value {
    let (rest, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    let force_query = url.contains('?') && query.is_empty();
    let (scheme, rest) = match rest.split_once(':') {
        Some((scheme, r))
            if !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            (scheme.to_ascii_lowercase(), r)
        }
        _ => (String::new(), rest),
    };
    let (opaque, user, host, path) = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let (authority, path) = match authority_and_path.find('/') {
                Some(i) => authority_and_path.split_at(i),
                None => (authority_and_path, ""),
            };
            let (user, host) = match authority.rsplit_once('@') {
                // Go's Userinfo has only unexported fields: it prints as `{}`.
                Some((_, host)) => (json!({}), host),
                None => (Value::Null, authority),
            };
            (String::new(), user, host.to_owned(), path.to_owned())
        }
        None if !scheme.is_empty() && !rest.starts_with('/') => {
            (rest.to_owned(), Value::Null, String::new(), String::new())
        }
        None => (String::new(), Value::Null, String::new(), rest.to_owned()),
    };
    json!({
        "Scheme": scheme,
        "Opaque": opaque,
        "User": user,
        "Host": host,
        "Path": path,
        "RawPath": "",
        "OmitHost": false,
        "ForceQuery": force_query,
        "RawQuery": query,
        "Fragment": fragment,
        "RawFragment": "",
    })
}

fn probe(p: &Probe) -> Value {
    let mut o = Map::new();
    match &p.action {
        ProbeAction::Exec { command } => {
            o.insert("exec".into(), json!({ "command": command }));
        }
        ProbeAction::HttpGet {
            host,
            port,
            scheme,
            path,
        } => {
            let mut h = Map::new();
            if !path.is_empty() {
                h.insert("path".into(), json!(path));
            }
            h.insert("port".into(), json!(port));
            put_str(&mut h, "host", host);
            put_str(&mut h, "scheme", &scheme.to_ascii_uppercase());
            o.insert("httpGet".into(), Value::Object(h));
        }
        ProbeAction::TcpSocket { host, port } => {
            let mut t = Map::new();
            t.insert("port".into(), json!(port));
            put_str(&mut t, "host", host);
            o.insert("tcpSocket".into(), Value::Object(t));
        }
    }
    for (key, value) in [
        ("initialDelaySeconds", p.initial_delay_secs),
        ("timeoutSeconds", p.timeout_secs),
        ("periodSeconds", p.period_secs),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if value != 0 {
            o.insert(key.into(), json!(value));
        }
    }
    Value::Object(o)
}

pub(crate) fn env_list(cmd: &Cmd) -> Vec<String> {
    cmd.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Inserts a string field that Go leaves out when empty (`omitempty`).
fn put_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.into(), json!(value));
    }
}

/// Inserts a list field that Go leaves out when empty (`omitempty`).
fn put_list(map: &mut Map<String, Value>, key: &str, items: &[String]) {
    if !items.is_empty() {
        map.insert(key.into(), json!(items));
    }
}

fn null_if_empty(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

pub(crate) fn path_str(path: &Path) -> String {
    path.display().to_string()
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}
