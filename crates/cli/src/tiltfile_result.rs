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
        "Tiltignore": {
            "LocalPath": if plan.tiltignore.patterns.is_empty() { String::new() } else { path_str(&plan.tiltignore.base_path.join(".tiltignore")) },
            "Source": "",
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
        "AnalyticsOpt": match settings.analytics { None => 0, Some(true) => 1, Some(false) => 2 },
        "VersionSettings": { "CheckUpdates": settings.version.check_updates },
        "UpdateSettings": {
            "SuppressUnusedImageWarnings": null_if_empty(&settings.update.suppress_unused_image_warnings),
        },
        "WatchSettings": {
            "Ignores": if settings.watch_ignores.is_empty() { Value::Null } else { ignores(&settings.watch_ignores) },
        },
        "DefaultRegistry": crate::tiltfile_result_k8s::default_registry(plan),
        "ObjectSet": {},
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
                .map(|i| image_target(plan, &m.name, i))
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
    let update = if local.update_cmd.is_empty() {
        Value::Null
    } else {
        let mut spec = Map::new();
        spec.insert("args".into(), json!(local.update_cmd.argv));
        spec.insert("dir".into(), json!(path_str(&local.update_cmd.dir)));
        if !local.update_cmd.env.is_empty() {
            spec.insert("env".into(), json!(env_list(&local.update_cmd)));
        }
        Value::Object(spec)
    };
    let serve = if local.serve_cmd.is_empty() {
        json!({ "Argv": null, "Dir": "", "Env": null, "EchoOff": false })
    } else {
        json!({
            "Argv": local.serve_cmd.argv,
            "Dir": path_str(&local.serve_cmd.dir),
            "Env": if local.serve_cmd.env.is_empty() { Value::Null } else { json!(env_list(&local.serve_cmd)) },
            "EchoOff": local.serve_cmd.echo_off,
        })
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
        spec.insert("imageMaps".into(), json!(dc.image_maps));
    }
    json!({
        "Spec": spec,
        "Name": name,
        "ServiceYAML": dc.service_yaml,
        "Links": links(&dc.links),
    })
}

/// An image target as Tilt prints it (`model.ImageTarget`).
fn image_target(plan: &Plan, manifest: &str, image: &ImageTarget) -> Value {
    let _ = plan;
    let build = match &image.build {
        BuildDetails::Docker(d) => {
            let mut b = Map::new();
            b.insert("ref".into(), json!(""));
            b.insert("dockerfileContents".into(), json!(d.dockerfile_contents));
            b.insert("context".into(), json!(path_str(&d.context)));
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
            if !d.target.is_empty() {
                b.insert("target".into(), json!(d.target));
            }
            if let Some(path) = &d.dockerfile_path {
                b.insert("dockerfile".into(), json!(path_str(path)));
            }
            b.insert("contextIgnores".into(), ignores(&d.context_ignores));
            Value::Object(b)
        }
        BuildDetails::Custom(c) => json!({
            "args": c.cmd.argv,
            "dir": path_str(&c.cmd.dir),
            "deps": c.deps.iter().map(|p| path_str(p)).collect::<Vec<_>>(),
            "outputTag": c.tag,
            "outputsImageRefTo": c.outputs_image_ref_to.as_deref().map(path_str).unwrap_or_default(),
        }),
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
    out.insert("IsLiveUpdateOnly".into(), json!(false));
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
            .map(|l| json!({ "URL": l.url, "Name": l.name }))
            .collect(),
    )
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
            h.insert("host".into(), json!(host));
            h.insert("scheme".into(), json!(scheme.to_ascii_uppercase()));
            o.insert("httpGet".into(), Value::Object(h));
        }
        ProbeAction::TcpSocket { host, port } => {
            o.insert("tcpSocket".into(), json!({ "port": port, "host": host }));
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
