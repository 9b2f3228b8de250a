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
    api_version: Option<FieldMatch>,
    kind: Option<FieldMatch>,
    name: Option<FieldMatch>,
    namespace: Option<FieldMatch>,
}

/// One field's case-insensitive regexp.
#[derive(Debug, Clone)]
enum FieldMatch {
    Regex(Regex),
    /// A regexp that is only an ASCII literal (`(?i)Job`, `^(?i:web)$`), matched by hand:
    /// building a regex costs about a millisecond, and selectors are built for every
    /// Tiltfile load, object fragment and `k8s_kind`. The match is the regexp's.
    Literal {
        source: String,
        literal: String,
        whole: bool,
    },
}

impl FieldMatch {
    /// `(?i)pattern`, or `^(?i:pattern)$` when `whole`, for a `pattern` with no regexp syntax.
    fn literal(pattern: &str, whole: bool) -> Option<FieldMatch> {
        // Characters that are never regexp syntax outside a class: enough for names,
        // kinds, namespaces and apiVersions.
        let plain = |b: u8| b.is_ascii_alphanumeric() || b"-_/:@=".contains(&b);
        if !pattern.bytes().all(plain) {
            return None;
        }
        let source = if whole {
            format!("^(?i:{pattern})$")
        } else {
            format!("(?i){pattern}")
        };
        Some(FieldMatch::Literal {
            source,
            literal: pattern.to_owned(),
            whole,
        })
    }

    fn as_str(&self) -> &str {
        match self {
            FieldMatch::Regex(re) => re.as_str(),
            FieldMatch::Literal { source, .. } => source,
        }
    }

    fn is_match(&self, value: &str) -> bool {
        match self {
            FieldMatch::Regex(re) => re.is_match(value),
            FieldMatch::Literal { literal, whole, .. } => {
                if *whole {
                    folds_to(value, literal)
                } else {
                    value
                        .char_indices()
                        .any(|(i, _)| starts_with_folded(&value[i..], literal))
                }
            }
        }
    }
}

/// Whether `text` starts with the ASCII `literal` under the simple case folding that the
/// `regex` crate's `(?i)` uses: ASCII letters match either case, and `k`/`s` also match
/// KELVIN SIGN and LATIN SMALL LETTER LONG S, the only non-ASCII characters that fold to
/// an ASCII letter.
fn starts_with_folded(text: &str, literal: &str) -> bool {
    let mut chars = text.chars();
    literal.bytes().all(|l| {
        chars.next().is_some_and(|c| {
            c.eq_ignore_ascii_case(&char::from(l))
                || (l.eq_ignore_ascii_case(&b'k') && c == '\u{212A}')
                || (l.eq_ignore_ascii_case(&b's') && c == '\u{17F}')
        })
    })
}

/// The whole of `text` matches the ASCII `literal` case-insensitively (see
/// [`starts_with_folded`]).
fn folds_to(text: &str, literal: &str) -> bool {
    text.chars().count() == literal.len() && starts_with_folded(text, literal)
}

impl PartialEq for ObjectSelector {
    fn eq(&self, other: &ObjectSelector) -> bool {
        fn src(r: &Option<FieldMatch>) -> Option<&str> {
            r.as_ref().map(FieldMatch::as_str)
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
            |field: &'static str, pattern: &str| -> Result<Option<FieldMatch>, ManifestError> {
                if pattern.is_empty() {
                    return Ok(None);
                }
                if let Some(literal) = FieldMatch::literal(pattern, false) {
                    return Ok(Some(literal));
                }
                Regex::new(&format!("(?i){pattern}"))
                    .map(|re| Some(FieldMatch::Regex(re)))
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
                FieldMatch::literal(s, true).or_else(|| {
                    // An escaped literal always compiles.
                    Regex::new(&format!("^(?i:{})$", regex::escape(s)))
                        .ok()
                        .map(FieldMatch::Regex)
                })
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
        fn ok(m: &Option<FieldMatch>, value: &str) -> bool {
            m.as_ref().is_none_or(|m| m.is_match(value))
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

/// Built once: assembly runs on every Tiltfile load.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn object(api_version: &str, kind: &str) -> K8sObject {
        let doc =
            serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}});
        K8sObject::from_value(doc).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn builtin_kind_rules_match_like_partial_regexps() {
        let rules = KindRule::builtin();
        let matching = |api: &str, kind: &str| -> Vec<Option<PodReadiness>> {
            let obj = object(api, kind);
            rules
                .iter()
                .filter(|r| r.selector.matches(&obj))
                .map(|r| r.pod_readiness)
                .collect()
        };
        assert_eq!(matching("batch/v1", "Job"), [Some(PodReadiness::Succeeded)]);
        assert_eq!(matching("BATCH/V1", "job"), [Some(PodReadiness::Succeeded)]);
        assert_eq!(
            matching("batch/v1", "CronJob"),
            [Some(PodReadiness::Succeeded), Some(PodReadiness::Ignore)]
        );
        assert!(matching("apps/v1", "Job").is_empty());
        assert!(matching("batch/v1", "Deployment").is_empty());
    }

    /// Literal patterns skip the regex engine; they must match exactly what the regexp
    /// they stand for matches, Unicode case folding included.
    #[test]
    fn literal_fields_match_what_their_regexp_matches() {
        let patterns = [
            "Job", "web", "kafka", "Secret", "batch/v1", "a-b_c", "x", "k=v:s@n",
        ];
        let haystacks = [
            "",
            "job",
            "JOB",
            "CronJob",
            "Jo",
            "xjobx",
            "web",
            "WEB",
            "web2",
            "kafka",
            "\u{212A}afka",
            "KAFKA",
            "\u{17F}ecret",
            "SECRET",
            "secrets",
            "batch/v1",
            "BATCH/V1",
            "batch/v1beta1",
            "a-b_c",
            "A-B_C",
            "\u{e9}",
            "x\u{e9}",
            "\u{e9}x",
            "K=V:\u{17F}@N",
            "k=v:s@nn",
        ];
        for pattern in patterns {
            for whole in [false, true] {
                let literal = FieldMatch::literal(pattern, whole)
                    .unwrap_or_else(|| panic!("{pattern} is a literal"));
                let re = Regex::new(literal.as_str()).unwrap_or_else(|e| panic!("{e}"));
                for hay in haystacks {
                    assert_eq!(
                        literal.is_match(hay),
                        re.is_match(hay),
                        "{} on {hay:?}",
                        re.as_str()
                    );
                }
            }
        }
        assert!(FieldMatch::literal("Jo.", false).is_none());
        assert!(FieldMatch::literal("^Job$", false).is_none());
        assert!(FieldMatch::literal("caf\u{e9}", true).is_none());
    }

    #[test]
    fn regexp_fields_still_use_the_regex_engine() {
        let sel =
            ObjectSelector::partial("", "^(Cron)?Job$", "", "").unwrap_or_else(|e| panic!("{e}"));
        assert!(sel.matches(&object("batch/v1", "cronjob")));
        assert!(!sel.matches(&object("batch/v1", "JobX")));
        assert!(ObjectSelector::partial("", "(", "", "").is_err());
    }
}
