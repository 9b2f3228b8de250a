//! Deploy-time rewriting of a resource's objects (tilt-compat.md §2.2 "Injection"): Tilt's
//! managed-by label, pull policy, parallel StatefulSets, built image refs, entrypoint and
//! args overrides, and the pod-template hash label.

use serde_json::{Map, Value};

use crate::error::ManifestError;
use crate::image_ref::{ImageRef, RefSelector};
use crate::images::{ImageSite, container_paths, find_images, pod_spec_paths};
use crate::jsonpath::{PathSeg, ValuePath};
use crate::object::K8sObject;
use crate::selector::ImageLocator;

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "tilt";
pub const POD_TEMPLATE_HASH_LABEL: &str = "tilt.dev/pod-template-hash";
const PULL_POLICY: &str = "IfNotPresent";

/// A built image to put into the objects.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedImage {
    /// Which references in the YAML stand for this build.
    pub selector: RefSelector,
    /// The ref the cluster pulls (registry applied, content tag).
    pub cluster_ref: ImageRef,
    pub match_in_env_vars: bool,
    /// Replaces the `command` of the containers that got this image.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the `args` of the containers that got this image.
    pub container_args: Option<Vec<String>>,
}

/// Rewrites a resource's objects for apply. `locators` are the resource's custom image
/// locators. Every image must land somewhere, else "Docker image missing from yaml".
pub fn inject(
    objects: &[K8sObject],
    images: &[DeployedImage],
    locators: &[ImageLocator],
) -> Result<Vec<K8sObject>, ManifestError> {
    let mut injected = vec![false; images.len()];
    let mut out = Vec::with_capacity(objects.len());
    for obj in objects {
        let mut obj = obj.clone();
        inject_managed_by(&mut obj);
        if !images.is_empty() {
            set_pull_policy_everywhere(&mut obj);
            if obj.kind() == "StatefulSet"
                && obj.group() == "apps"
                && let Some(spec) = obj
                    .value_mut()
                    .get_mut("spec")
                    .and_then(Value::as_object_mut)
            {
                spec.insert(
                    "podManagementPolicy".to_owned(),
                    Value::String("Parallel".to_owned()),
                );
            }
        }
        for (idx, image) in images.iter().enumerate() {
            if inject_image(&mut obj, image, locators)? {
                injected[idx] = true;
            }
        }
        inject_pod_template_hashes(&mut obj);
        out.push(obj);
    }
    if let Some(idx) = injected.iter().position(|done| !done) {
        return Err(ManifestError::ImageMissingFromYaml {
            image: images[idx].selector.image_ref().familiar_string(),
        });
    }
    Ok(out)
}

/// Adds `app.kubernetes.io/managed-by: tilt` to the object's metadata and to the metadata
/// of its job and pod templates; selectors that already carry the key get the new value.
pub fn inject_managed_by(obj: &mut K8sObject) {
    let mut metas: Vec<Vec<&str>> = vec![vec!["metadata"]];
    if obj.kind() == "CronJob" && obj.group() == "batch" {
        metas.push(vec!["spec", "jobTemplate", "metadata"]);
    }
    for template in obj.pod_template_paths() {
        if obj.value_at(template).is_some_and(Value::is_object) {
            let mut path = template.to_vec();
            path.push("metadata");
            metas.push(path);
        }
    }
    metas.retain(|path| {
        let parent = &path[..path.len() - 1];
        parent.is_empty() || obj.value_at(parent).is_some_and(Value::is_object)
    });
    let doc = obj.value_mut();
    for path in metas {
        if let Some(meta) = ensure_map(doc, &path)
            && let Some(labels) = ensure_child_map(meta, "labels")
        {
            labels.insert(
                MANAGED_BY_LABEL.to_owned(),
                Value::String(MANAGED_BY_VALUE.to_owned()),
            );
        }
    }
    for path in [
        &["spec", "selector", "matchLabels"][..],
        &["spec", "selector"][..],
    ] {
        if let Some(Value::Object(selector)) = get_mut(doc, path)
            && let Some(value) = selector.get_mut(MANAGED_BY_LABEL)
            && value.is_string()
        {
            *value = Value::String(MANAGED_BY_VALUE.to_owned());
        }
    }
}

fn set_pull_policy_everywhere(obj: &mut K8sObject) {
    let specs = pod_spec_paths(obj);
    let containers: Vec<ValuePath> = specs
        .iter()
        .flat_map(|spec| container_paths(obj.as_value(), spec))
        .collect();
    for path in containers {
        if let Some(Value::Object(container)) = path.get_mut(obj.value_mut()) {
            container.insert(
                "imagePullPolicy".to_owned(),
                Value::String(PULL_POLICY.to_owned()),
            );
        }
    }
}

/// Replaces every reference to `image` in `obj`; returns whether anything was replaced.
fn inject_image(
    obj: &mut K8sObject,
    image: &DeployedImage,
    locators: &[ImageLocator],
) -> Result<bool, ManifestError> {
    let env_selectors: Vec<&RefSelector> = if image.match_in_env_vars {
        vec![&image.selector]
    } else {
        Vec::new()
    };
    let hits: Vec<_> = find_images(obj, locators, &env_selectors)?
        .into_iter()
        .filter(|hit| image.selector.matches(&hit.image_ref))
        .collect();
    let familiar = image.cluster_ref.familiar_string();
    let mut containers = Vec::new();
    for hit in &hits {
        let doc = obj.value_mut();
        match &hit.site {
            ImageSite::Container => {
                set_string(doc, &hit.path, &familiar);
                set_sibling(doc, &hit.path, "imagePullPolicy", PULL_POLICY, true);
                if let Some(parent) = hit.path.parent() {
                    containers.push(parent);
                }
            }
            ImageSite::ImageVolume => {
                set_string(doc, &hit.path, &familiar);
                set_sibling(doc, &hit.path, "pullPolicy", PULL_POLICY, true);
            }
            ImageSite::EnvVar => set_string(doc, &hit.path, &familiar),
            ImageSite::JsonPath => {
                set_string(doc, &hit.path, &familiar);
                set_sibling(doc, &hit.path, "imagePullPolicy", PULL_POLICY, false);
            }
            ImageSite::ImageObject {
                repo_field,
                tag_field,
            } => {
                if let Some(Value::Object(map)) = hit.path.get_mut(doc) {
                    map.insert(
                        repo_field.clone(),
                        Value::String(image.cluster_ref.familiar_name()),
                    );
                    if let Some(tag) = image.cluster_ref.tag() {
                        map.insert(tag_field.clone(), Value::String(tag.to_owned()));
                    }
                }
            }
        }
    }
    if !hits.is_empty() && (image.entrypoint.is_some() || image.container_args.is_some()) {
        if containers.is_empty() {
            return Err(ManifestError::CommandInjection {
                command: image.entrypoint.clone().unwrap_or_default(),
                object: obj.name().to_owned(),
                reference: familiar,
            });
        }
        for container in containers {
            if let Some(Value::Object(map)) = container.get_mut(obj.value_mut()) {
                if let Some(command) = &image.entrypoint {
                    map.insert("command".to_owned(), string_list(command));
                }
                if let Some(args) = &image.container_args {
                    map.insert("args".to_owned(), string_list(args));
                }
            }
        }
    }
    Ok(!hits.is_empty())
}

/// Labels each pod template with a hash of its content, so that pods of a new template can
/// be told apart from old ones. Run last, so the hash covers the injected images.
pub fn inject_pod_template_hashes(obj: &mut K8sObject) {
    let templates = obj.pod_template_paths();
    for path in templates {
        let Some(template) = get_mut(obj.value_mut(), path) else {
            continue;
        };
        let Some(template_map) = template.as_object_mut() else {
            continue;
        };
        let Some(labels) = ensure_child_map(
            match ensure_child_map(template_map, "metadata") {
                Some(meta) => meta,
                None => continue,
            },
            "labels",
        ) else {
            continue;
        };
        labels.remove(POD_TEMPLATE_HASH_LABEL);
        let hash = hash_template(template);
        if let Some(labels) = template
            .get_mut("metadata")
            .and_then(|m| m.get_mut("labels"))
            .and_then(Value::as_object_mut)
        {
            labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), Value::String(hash));
        }
    }
}

/// 20 hex chars of a 128-bit FNV-1a hash of the template's JSON. Not security relevant:
/// it only has to change when the template does and stay stable across runs.
fn hash_template(template: &Value) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let text = template.to_string();
    let mut hash = OFFSET;
    for byte in text.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    format!("{hash:032x}")[..20].to_owned()
}

fn string_list(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn set_string(doc: &mut Value, path: &ValuePath, text: &str) {
    if let Some(slot) = path.get_mut(doc) {
        *slot = Value::String(text.to_owned());
    }
}

/// Sets `key` next to the value at `path` (in the same map). With `create` false, only an
/// existing key is overwritten.
fn set_sibling(doc: &mut Value, path: &ValuePath, key: &str, value: &str, create: bool) {
    let Some(PathSeg::Key(_)) = path.0.last() else {
        return;
    };
    let Some(parent) = path.parent() else {
        return;
    };
    if let Some(Value::Object(map)) = parent.get_mut(doc)
        && (create || map.contains_key(key))
    {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

fn get_mut<'a>(doc: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for key in path {
        cur = cur.get_mut(*key)?;
    }
    Some(cur)
}

/// The map at `path`, creating empty maps on the way for missing or null keys. `None` when
/// something in the way is not a map.
fn ensure_map<'a>(doc: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = doc.as_object_mut()?;
    for key in path {
        cur = ensure_child_map(cur, key)?;
    }
    Some(cur)
}

fn ensure_child_map<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let slot = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hash_is_stable_and_content_sensitive() {
        let a = serde_json::json!({"spec": {"containers": [{"image": "a"}]}});
        let b = serde_json::json!({"spec": {"containers": [{"image": "b"}]}});
        assert_eq!(hash_template(&a), hash_template(&a.clone()));
        assert_ne!(hash_template(&a), hash_template(&b));
        assert_eq!(hash_template(&a).len(), 20);
        assert!(hash_template(&a).chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn ensure_map_creates_missing_levels_but_not_through_scalars() {
        let mut doc = serde_json::json!({"metadata": null, "spec": "scalar"});
        assert!(ensure_map(&mut doc, &["metadata", "labels"]).is_some());
        assert_eq!(doc["metadata"], serde_json::json!({"labels": {}}));
        assert!(ensure_map(&mut doc, &["spec", "x"]).is_none());
    }
}
