//! Finding image references in an object: container images of every pod spec of the
//! built-in kinds, image volumes, env var values (for builds that ask for it), and custom
//! locators. Each hit carries its location so that injection can replace it.

use serde_json::Value;

use crate::error::ManifestError;
use crate::image_ref::{ImageRef, RefSelector};
use crate::jsonpath::{ValuePath, go_type_name};
use crate::object::K8sObject;
use crate::selector::ImageLocator;

/// The container lists of a pod spec.
pub(crate) const CONTAINER_LISTS: [&str; 3] =
    ["containers", "initContainers", "ephemeralContainers"];

/// What kind of field an image reference was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSite {
    /// A container's `image`; `path` points at the string.
    Container,
    /// An image volume's `reference`; `path` points at the string.
    ImageVolume,
    /// A container env var's `value`; `path` points at the string.
    EnvVar,
    /// A custom `image_json_path` locator; `path` points at the string.
    JsonPath,
    /// An `image_object` locator; `path` points at the map holding both fields.
    ImageObject {
        repo_field: String,
        tag_field: String,
    },
}

/// One image reference found in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHit {
    pub image_ref: ImageRef,
    pub path: ValuePath,
    pub site: ImageSite,
}

/// Finds every image reference in `obj`, in Tilt's order: containers, image volumes,
/// locators, env vars. Env var values count only when they match one of `env_selectors`
/// (the builds declared with `match_in_env_vars=True`).
pub fn find_images(
    obj: &K8sObject,
    locators: &[ImageLocator],
    env_selectors: &[&RefSelector],
) -> Result<Vec<ImageHit>, ManifestError> {
    let mut hits = Vec::new();
    let doc = obj.as_value();
    let spec_paths = pod_spec_paths(obj);
    let parse = |text: &str| {
        ImageRef::parse(text).map_err(|source| ManifestError::ImageInObject {
            object: obj.display_name(),
            reference: text.to_owned(),
            source,
        })
    };

    for spec in &spec_paths {
        for (path, image) in container_fields(doc, spec, "image") {
            hits.push(ImageHit {
                image_ref: parse(image)?,
                path,
                site: ImageSite::Container,
            });
        }
    }
    for spec in &spec_paths {
        let Some(volumes) = spec
            .get(doc)
            .and_then(|s| s.get("volumes"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (idx, volume) in volumes.iter().enumerate() {
            let Some(reference) = volume
                .get("image")
                .and_then(|i| i.get("reference"))
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            else {
                continue;
            };
            hits.push(ImageHit {
                image_ref: parse(reference)?,
                path: spec
                    .push_key("volumes")
                    .push_index(idx)
                    .push_key("image")
                    .push_key("reference"),
                site: ImageSite::ImageVolume,
            });
        }
    }
    for locator in locators {
        locate(obj, locator, &mut hits)?;
    }
    if !env_selectors.is_empty() {
        for spec in &spec_paths {
            for (path, value) in env_values(doc, spec) {
                let Ok(image_ref) = ImageRef::parse(value) else {
                    continue;
                };
                if env_selectors.iter().any(|s| s.matches(&image_ref)) {
                    hits.push(ImageHit {
                        image_ref,
                        path,
                        site: ImageSite::EnvVar,
                    });
                }
            }
        }
    }
    Ok(hits)
}

/// Paths of the pod specs of a built-in workload.
pub(crate) fn pod_spec_paths(obj: &K8sObject) -> Vec<ValuePath> {
    obj.pod_spec_paths()
        .into_iter()
        .filter(|keys| obj.value_at(keys).is_some_and(Value::is_object))
        .map(|keys| {
            ValuePath(
                keys.into_iter()
                    .map(|k| crate::jsonpath::PathSeg::Key(k.to_owned()))
                    .collect(),
            )
        })
        .collect()
}

/// The `field` string of every container of the pod spec at `spec`, with its path.
/// Empty strings are skipped.
pub(crate) fn container_fields<'a>(
    doc: &'a Value,
    spec: &ValuePath,
    field: &str,
) -> Vec<(ValuePath, &'a str)> {
    let mut out = Vec::new();
    let Some(spec_value) = spec.get(doc) else {
        return out;
    };
    for list in CONTAINER_LISTS {
        let Some(containers) = spec_value.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (idx, container) in containers.iter().enumerate() {
            if let Some(value) = container
                .get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                out.push((spec.push_key(list).push_index(idx).push_key(field), value));
            }
        }
    }
    out
}

/// Paths of every container of the pod spec at `spec`.
pub(crate) fn container_paths(doc: &Value, spec: &ValuePath) -> Vec<ValuePath> {
    let mut out = Vec::new();
    let Some(spec_value) = spec.get(doc) else {
        return out;
    };
    for list in CONTAINER_LISTS {
        if let Some(containers) = spec_value.get(list).and_then(Value::as_array) {
            for (idx, container) in containers.iter().enumerate() {
                if container.is_object() {
                    out.push(spec.push_key(list).push_index(idx));
                }
            }
        }
    }
    out
}

fn env_values<'a>(doc: &'a Value, spec: &ValuePath) -> Vec<(ValuePath, &'a str)> {
    let mut out = Vec::new();
    for container in container_paths(doc, spec) {
        let Some(env) = container
            .get(doc)
            .and_then(|c| c.get("env"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (idx, var) in env.iter().enumerate() {
            if let Some(value) = var.get("value").and_then(Value::as_str) {
                out.push((
                    container.push_key("env").push_index(idx).push_key("value"),
                    value,
                ));
            }
        }
    }
    out
}

fn locate(
    obj: &K8sObject,
    locator: &ImageLocator,
    hits: &mut Vec<ImageHit>,
) -> Result<(), ManifestError> {
    if !locator.selector().matches(obj) {
        return Ok(());
    }
    let doc = obj.as_value();
    match locator {
        ImageLocator::JsonPath { path, .. } => {
            for (at, text) in path.find_strings(doc)? {
                let image_ref =
                    ImageRef::parse(text).map_err(|source| ManifestError::JsonPathEval {
                        path: path.as_str().to_owned(),
                        message: format!("error parsing image '{text}': {source}"),
                    })?;
                hits.push(ImageHit {
                    image_ref,
                    path: at,
                    site: ImageSite::JsonPath,
                });
            }
        }
        ImageLocator::ImageObject {
            path,
            repo_field,
            tag_field,
            ..
        } => {
            for (at, value) in path.find(doc)? {
                let text = image_object_text(value, repo_field, tag_field).ok_or_else(|| {
                    ManifestError::JsonPathNotMap {
                        path: path.as_str().to_owned(),
                        found: go_type_name(value).to_owned(),
                    }
                })?;
                let image_ref =
                    ImageRef::parse(&text).map_err(|source| ManifestError::ImageInObject {
                        object: obj.display_name(),
                        reference: text.clone(),
                        source,
                    })?;
                hits.push(ImageHit {
                    image_ref,
                    path: at,
                    site: ImageSite::ImageObject {
                        repo_field: repo_field.clone(),
                        tag_field: tag_field.clone(),
                    },
                });
            }
        }
    }
    Ok(())
}

/// `repo:tag` from an image object map, or `repo` when the tag is empty or absent.
pub(crate) fn image_object_text(
    value: &Value,
    repo_field: &str,
    tag_field: &str,
) -> Option<String> {
    let map = value.as_object()?;
    let repo = map.get(repo_field).and_then(Value::as_str).unwrap_or("");
    match map.get(tag_field).and_then(Value::as_str) {
        Some(tag) if !tag.is_empty() => Some(format!("{repo}:{tag}")),
        _ => Some(repo.to_owned()),
    }
}
