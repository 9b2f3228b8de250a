//! `filter_yaml`: splits objects into those that match and the rest.

use std::collections::BTreeMap;

use crate::error::ManifestError;
use crate::object::K8sObject;
use crate::selector::ObjectSelector;

/// The arguments of `filter_yaml`. Name, namespace, kind and api_version are
/// case-insensitive regexps that may match anywhere (`^foo$` for exact); every label must
/// be present with that value in `metadata.labels`. Empty means "any".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct YamlFilter {
    pub labels: BTreeMap<String, String>,
    pub name: String,
    pub namespace: String,
    pub kind: String,
    pub api_version: String,
}

/// Returns `(matching, rest)`, each in input order, except that objects failing only the
/// label test come after the other non-matching ones (Tilt's order).
pub fn filter_yaml(
    objects: Vec<K8sObject>,
    filter: &YamlFilter,
) -> Result<(Vec<K8sObject>, Vec<K8sObject>), ManifestError> {
    let selector = ObjectSelector::partial(
        &filter.api_version,
        &filter.kind,
        &filter.name,
        &filter.namespace,
    )?;
    let (matching, mut rest): (Vec<K8sObject>, Vec<K8sObject>) =
        objects.into_iter().partition(|o| selector.matches(o));
    if filter.labels.is_empty() {
        return Ok((matching, rest));
    }
    let (with_labels, without): (Vec<K8sObject>, Vec<K8sObject>) = matching
        .into_iter()
        .partition(|o| has_labels(o, &filter.labels));
    rest.extend(without);
    Ok((with_labels, rest))
}

fn has_labels(obj: &K8sObject, wanted: &BTreeMap<String, String>) -> bool {
    let labels = obj.labels();
    wanted
        .iter()
        .all(|(k, v)| labels.get(k.as_str()) == Some(&v.as_str()))
}
