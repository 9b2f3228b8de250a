//! Selecting objects: regexp selectors (`k8s_kind`, `k8s_image_json_path`, `filter_yaml`),
//! `name[:kind[:namespace]]` fragments (`k8s_resource(objects=)`), and the kind rules that
//! make objects workloads and say where their images live.

use regex::Regex;

use crate::error::ManifestError;
use crate::jsonpath::JsonPath;
use crate::object::{K8sObject, split_selector};

/// Matches objects whose apiVersion, kind, name and namespace each match a regexp; an
/// absent regexp matches everything. Namespace is compared as Tilt does (`default` when
/// the object names none); apiVersion is `group/version`, or `v1` for the core group.
#[derive(Debug, Clone)]
pub struct ObjectSelector {
    api_version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
}

impl PartialEq for ObjectSelector {
    fn eq(&self, other: &ObjectSelector) -> bool {
        fn src(r: &Option<Regex>) -> Option<&str> {
            r.as_ref().map(Regex::as_str)
        }
        src(&self.api_version) == src(&other.api_version)
            && src(&self.kind) == src(&other.kind)
            && src(&self.name) == src(&other.name)
            && src(&self.namespace) == src(&other.namespace)
    }
}

impl ObjectSelector {
    /// Case-insensitive regexps that match anywhere in the field (use `^foo$` for exact),
    /// as `k8s_kind`, `k8s_image_json_path` and `filter_yaml` take them. Empty = any.
    pub fn partial(
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: &str,
    ) -> Result<ObjectSelector, ManifestError> {
        let compile =
            |field: &'static str, pattern: &str| -> Result<Option<Regex>, ManifestError> {
                if pattern.is_empty() {
                    return Ok(None);
                }
                Regex::new(&format!("(?i){pattern}"))
                    .map(Some)
                    .map_err(|err| ManifestError::InvalidRegex {
                        field,
                        message: regex_message(&err),
                    })
            };
        Ok(ObjectSelector {
            api_version: compile("apiVersion", api_version)?,
            kind: compile("kind", kind)?,
            name: compile("name", name)?,
            namespace: compile("namespace", namespace)?,
        })
    }

    /// Case-insensitive whole-field literal matches. Empty = any.
    pub fn exact(api_version: &str, kind: &str, name: &str, namespace: &str) -> ObjectSelector {
        let literal = |s: &str| {
            if s.is_empty() {
                None
            } else {
                // An escaped literal always compiles.
                Regex::new(&format!("^(?i:{})$", regex::escape(s))).ok()
            }
        };
        ObjectSelector {
            api_version: literal(api_version),
            kind: literal(kind),
            name: literal(name),
            namespace: literal(namespace),
        }
    }

    /// Parses an object fragment `name[:kind[:namespace]]`, with `\:` and `\\` escapes.
    pub fn from_fragment(fragment: &str) -> Result<ObjectSelector, ManifestError> {
        let invalid = |message: String| ManifestError::InvalidSelector {
            selector: fragment.to_owned(),
            message,
        };
        let parts = split_selector(fragment).map_err(invalid)?;
        if fragment.is_empty() {
            return Err(invalid("selector can't be empty".to_owned()));
        }
        match parts.as_slice() {
            [name] => Ok(ObjectSelector::exact("", "", name, "")),
            [name, kind] => Ok(ObjectSelector::exact("", kind, name, "")),
            [name, kind, namespace] => Ok(ObjectSelector::exact("", kind, name, namespace)),
            _ => Err(invalid(format!(
                "Too many parts in selector. Selectors must contain between 1 and 3 parts (colon separated), found {} parts in {fragment}",
                parts.len()
            ))),
        }
    }

    pub fn matches(&self, obj: &K8sObject) -> bool {
        fn ok(re: &Option<Regex>, value: &str) -> bool {
            re.as_ref().is_none_or(|re| re.is_match(value))
        }
        ok(&self.api_version, obj.api_version())
            && ok(&self.kind, obj.kind())
            && ok(&self.name, obj.name())
            && ok(&self.namespace, obj.namespace_or_default())
    }
}

fn regex_message(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find(|l| l.starts_with("error: "))
            .map_or_else(
                || text.clone(),
                |l| l.trim_start_matches("error: ").to_owned(),
            ),
        other => other.to_string(),
    }
}

/// Where images live in objects that Kubernetes' built-in types do not describe.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageLocator {
    /// `image_json_path`: each match is an image reference string.
    JsonPath {
        selector: ObjectSelector,
        path: JsonPath,
    },
    /// `image_object`: each match is a map with the repository and the tag in two fields.
    ImageObject {
        selector: ObjectSelector,
        path: JsonPath,
        repo_field: String,
        tag_field: String,
    },
}

impl ImageLocator {
    pub fn selector(&self) -> &ObjectSelector {
        match self {
            ImageLocator::JsonPath { selector, .. }
            | ImageLocator::ImageObject { selector, .. } => selector,
        }
    }

    pub fn path(&self) -> &JsonPath {
        match self {
            ImageLocator::JsonPath { path, .. } | ImageLocator::ImageObject { path, .. } => path,
        }
    }
}

/// How a resource's pods count as ready (`pod_readiness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodReadiness {
    /// Wait for the pods to be ready.
    Wait,
    /// Do not wait for pods.
    Ignore,
    /// Wait for the pods to complete (Jobs).
    Succeeded,
}

impl PodReadiness {
    /// Parses Tilt's values; `""` is `None` (unset).
    pub fn parse(text: &str) -> Result<Option<PodReadiness>, String> {
        match text {
            "" => Ok(None),
            "wait" => Ok(Some(PodReadiness::Wait)),
            "ignore" => Ok(Some(PodReadiness::Ignore)),
            "succeeded" => Ok(Some(PodReadiness::Succeeded)),
            other => Err(format!(
                "Invalid value. Allowed: {{ignore, wait}}. Got: {other}"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PodReadiness::Wait => "wait",
            PodReadiness::Ignore => "ignore",
            PodReadiness::Succeeded => "succeeded",
        }
    }
}

/// A `k8s_kind()` (or `k8s_image_json_path()`) registration: objects matching `selector`
/// are workloads, their images are at `locators`, and their pods' readiness mode.
#[derive(Debug, Clone, PartialEq)]
pub struct KindRule {
    pub selector: ObjectSelector,
    pub locators: Vec<ImageLocator>,
    pub pod_readiness: Option<PodReadiness>,
}

impl KindRule {
    /// The rules every Tiltfile starts with: `batch/v1` Job waits for success and CronJob
    /// is not waited for. Like Tilt, these are partial regexps, so `Job` also matches
    /// `CronJob` (and `ignore` wins over `succeeded` there).
    pub fn builtin() -> Vec<KindRule> {
        BUILTIN_KINDS.clone()
    }
}

/// Compiled once: assembly runs on every Tiltfile load.
static BUILTIN_KINDS: std::sync::LazyLock<Vec<KindRule>> = std::sync::LazyLock::new(|| {
    let rule = |kind: &str, readiness| KindRule {
        selector: ObjectSelector::partial("batch/v1", kind, "", "")
            .unwrap_or_else(|_| ObjectSelector::exact("batch/v1", kind, "", "")),
        locators: Vec::new(),
        pod_readiness: Some(readiness),
    };
    vec![
        rule("Job", PodReadiness::Succeeded),
        rule("CronJob", PodReadiness::Ignore),
    ]
});
