//! The Kubernetes parts of `lilt alpha tiltfile-result`, in the shape of Tilt's Go structs:
//! `model.K8sTarget` (a `KubernetesApplySpec` plus name, readiness and links), the
//! `ImageMapSpec` and `LiveUpdateSpec` of image targets, `DefaultRegistry` and `Secrets`.

use serde_json::{Map, Value, json};

use lilt_model::{Cmd, ImageTarget, K8sTarget, Plan};

use crate::tiltfile_result::{env_list, ignores, links, path_str};
use lilt_engine::go_duration;

/// Containers whose logs Tilt never streams (service-mesh sidecars).
const IGNORED_LOG_CONTAINERS: [&str; 4] =
    ["istio-init", "istio-proxy", "linkerd-proxy", "linkerd-init"];

/// Tilt's `apis.SanitizeName`: characters not allowed in object names become `_`.
fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The name of an API object Tilt derives from a manifest and a target
/// (`apis.SanitizeName("<manifest>:<target>")`).
pub(crate) fn api_name(manifest: &str, target: &str) -> String {
    sanitize_name(&format!("{manifest}:{target}"))
}

/// The name of the `ImageMap` Tilt makes for an image ref
/// (`registry.local:5000/shop/web` → `registry.local:5000_shop_web`).
pub(crate) fn image_map_name(image_ref: &str) -> String {
    sanitize_name(image_ref)
}

/// The `ImageMapSpec` fields Tilt inlines at the start of an image target.
pub(crate) fn image_map_spec(image: &ImageTarget) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("selector".into(), json!(image.image_ref));
    if image.match_in_env_vars {
        out.insert("matchInEnvVars".into(), json!(true));
    }
    // Tilt matches a tagged ref exactly; an untagged one by repository name.
    let last = image.image_ref.rsplit('/').next().unwrap_or("");
    if last.contains(':') || image.image_ref.contains('@') {
        out.insert("matchExact".into(), json!(true));
    }
    if !image.entrypoint.is_empty() {
        out.insert(
            "overrideCommand".into(),
            json!({ "command": image.entrypoint }),
        );
    }
    if let Some(args) = &image.container_args {
        out.insert("overrideArgs".into(), json!({ "args": args }));
    }
    out
}

/// `v1alpha1.LiveUpdateSpec`: empty specs print as `{"basePath": "", "selector": {}}`.
pub(crate) fn live_update_spec(image: &ImageTarget) -> Value {
    let lu = &image.live_update;
    if lu.is_empty() {
        return json!({ "basePath": "", "selector": {} });
    }
    let base = &lu.base_path;
    let rel = |p: &std::path::Path| {
        p.strip_prefix(base)
            .map(|r| {
                let s = path_str(r);
                if s.is_empty() { ".".to_owned() } else { s }
            })
            .unwrap_or_else(|_| path_str(p))
    };
    let mut out = Map::new();
    out.insert("basePath".into(), json!(path_str(base)));
    if !lu.fall_back_on.is_empty() {
        out.insert(
            "stopPaths".into(),
            json!(
                lu.fall_back_on
                    .iter()
                    .map(|p| rel(&base.join(p)))
                    .collect::<Vec<_>>()
            ),
        );
    }
    // Tilt fills the selector when it creates the LiveUpdate object, not at load time.
    out.insert("selector".into(), json!({}));
    if !lu.syncs.is_empty() {
        out.insert(
            "syncs".into(),
            Value::Array(
                lu.syncs
                    .iter()
                    .map(|s| json!({ "localPath": rel(&s.local_path), "containerPath": s.remote_path }))
                    .collect(),
            ),
        );
    }
    if !lu.runs.is_empty() {
        out.insert(
            "execs".into(),
            Value::Array(
                lu.runs
                    .iter()
                    .map(|r| {
                        // `triggerPaths` and `echoOff` have no omitempty in Go.
                        let triggers = if r.triggers.is_empty() {
                            Value::Null
                        } else {
                            json!(r.triggers)
                        };
                        json!({ "args": r.argv, "triggerPaths": triggers, "echoOff": r.echo_off })
                    })
                    .collect(),
            ),
        );
    }
    if lu.restart_container {
        out.insert("restart".into(), json!("always"));
    }
    if lu.initial_sync {
        out.insert("initialSync".into(), json!({}));
    }
    Value::Object(out)
}

fn cmd_spec(cmd: &Cmd) -> Value {
    let mut o = Map::new();
    o.insert("args".into(), json!(cmd.argv));
    o.insert("dir".into(), json!(path_str(&cmd.dir)));
    // `KubernetesApplyCmd.env` has no omitempty.
    o.insert(
        "env".into(),
        if cmd.env.is_empty() {
            Value::Null
        } else {
            json!(env_list(cmd))
        },
    );
    Value::Object(o)
}

/// `model.K8sTarget`.
pub(crate) fn k8s_target(plan: &Plan, name: &str, k8s: &K8sTarget) -> Value {
    let mut spec = Map::new();
    if !k8s.yaml.is_empty() {
        spec.insert("yaml".into(), json!(k8s.yaml));
    }
    if !k8s.image_maps.is_empty() {
        spec.insert(
            "imageMaps".into(),
            json!(
                k8s.image_maps
                    .iter()
                    .map(|r| image_map_name(r))
                    .collect::<Vec<_>>()
            ),
        );
    }
    if !k8s.image_locators.is_empty() {
        let locators: Vec<Value> = k8s
            .image_locators
            .iter()
            .map(|l| {
                let mut o = Map::new();
                // k8s_kind and k8s_image_json_path match case-insensitively and leave
                // unset fields out (Tilt's NewPartialMatchObjectSelector).
                let mut selector = Map::new();
                for (key, value) in [
                    ("apiVersionRegexp", &l.api_version),
                    ("kindRegexp", &l.kind),
                    ("nameRegexp", &l.name),
                    ("namespaceRegexp", &l.namespace),
                ] {
                    if !value.is_empty() {
                        selector.insert(key.into(), json!(format!("(?i){value}")));
                    }
                }
                o.insert("objectSelector".into(), Value::Object(selector));
                o.insert("path".into(), json!(l.path));
                if !l.repo_field.is_empty() {
                    o.insert(
                        "object".into(),
                        json!({ "repoField": l.repo_field, "tagField": l.tag_field }),
                    );
                }
                Value::Object(o)
            })
            .collect();
        spec.insert("imageLocators".into(), Value::Array(locators));
    }
    spec.insert(
        "timeout".into(),
        json!(go_duration(plan.settings.update.k8s_upsert_timeout)),
    );
    if !k8s.extra_pod_selectors.is_empty() {
        spec.insert(
            "kubernetesDiscoveryTemplateSpec".into(),
            json!({
                "extraSelectors": k8s
                    .extra_pod_selectors
                    .iter()
                    .map(|labels| json!({ "matchLabels": labels }))
                    .collect::<Vec<_>>(),
            }),
        );
    }
    if !k8s.port_forwards.is_empty() {
        let forwards: Vec<Value> = k8s
            .port_forwards
            .iter()
            .map(|pf| {
                let mut o = Map::new();
                o.insert("localPort".into(), json!(pf.local_port));
                o.insert("containerPort".into(), json!(pf.container_port));
                // An empty host means the web host (`--host`, normally localhost).
                let host = if pf.host.is_empty() {
                    "localhost"
                } else {
                    &pf.host
                };
                o.insert("host".into(), json!(host));
                if !pf.name.is_empty() {
                    o.insert("name".into(), json!(pf.name));
                }
                if !pf.link_path.is_empty() {
                    o.insert("path".into(), json!(pf.link_path));
                }
                Value::Object(o)
            })
            .collect();
        spec.insert(
            "portForwardTemplateSpec".into(),
            json!({ "forwards": forwards }),
        );
    }
    // Tilt also sets `sinceTime` (the load time); it is left out to keep output stable.
    spec.insert(
        "podLogStreamTemplateSpec".into(),
        json!({ "ignoreContainers": IGNORED_LOG_CONTAINERS }),
    );
    if k8s.selectors_only {
        spec.insert("discoveryStrategy".into(), json!("selectors-only"));
    }
    let mut file_watch_ignores = Value::Null;
    if let Some(custom) = &k8s.custom_deploy {
        spec.insert("applyCmd".into(), cmd_spec(&custom.apply_cmd));
        spec.insert(
            "restartOn".into(),
            json!({ "fileWatches": [api_name(name, "apply")] }),
        );
        spec.insert("deleteCmd".into(), cmd_spec(&custom.delete_cmd));
        // Paths live update syncs are not re-applied on change.
        let lu = &custom.live_update;
        let synced: Vec<lilt_model::IgnoreSet> = lu
            .syncs
            .iter()
            .map(|s| s.local_path.clone())
            .chain(lu.fall_back_on.iter().map(|p| lu.base_path.join(p)))
            .map(|p| lilt_model::IgnoreSet {
                base_path: p,
                patterns: Vec::new(),
            })
            .collect();
        if !synced.is_empty() {
            file_watch_ignores = ignores(&synced);
        }
    }
    spec.insert("cluster".into(), json!("default"));
    spec.insert("Name".into(), json!(name));
    spec.insert("PodReadinessMode".into(), json!(k8s.pod_readiness.as_str()));
    spec.insert("Links".into(), links(&k8s.links));
    spec.insert("FileWatchIgnores".into(), file_watch_ignores);
    Value::Object(spec)
}

/// `DefaultRegistry`: a `RegistryHosting`, or null.
pub(crate) fn default_registry(plan: &Plan) -> Value {
    let Some(reg) = &plan.default_registry else {
        return Value::Null;
    };
    let mut o = Map::new();
    o.insert("host".into(), json!(reg.host));
    if !reg.host_from_cluster.is_empty() {
        o.insert(
            "hostFromClusterNetwork".into(),
            json!(reg.host_from_cluster),
        );
    }
    if !reg.single_name.is_empty() {
        o.insert("singleName".into(), json!(reg.single_name));
    }
    Value::Object(o)
}

/// `Secrets`: Tilt's `SecretSet`, keyed by the secret value; Go prints `[]byte` fields
/// as base64.
pub(crate) fn secrets(plan: &Plan) -> Value {
    let mut o = Map::new();
    for s in &plan.secrets {
        let replacement = format!("[redacted secret {}:{}]", s.name, s.key);
        o.insert(
            s.value.clone(),
            json!({
                "Name": s.name,
                "Key": s.key,
                "Value": s.value_encoded,
                "ValueEncoded": lilt_model::base64::encode(s.value_encoded.as_bytes()),
                "Replacement": lilt_model::base64::encode(replacement.as_bytes()),
            }),
        );
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized() {
        assert_eq!(
            api_name("example", "example-image"),
            "example:example-image"
        );
        assert_eq!(api_name("fe", "gcr.io/a/b"), "fe:gcr.io_a_b");
    }
}
