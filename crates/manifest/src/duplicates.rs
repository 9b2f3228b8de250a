//! Duplicate detection for `k8s_yaml`: registering the same object twice is an error unless
//! `allow_duplicates=True`.

use std::collections::HashMap;

use crate::error::ManifestError;
use crate::object::K8sObject;

/// What makes two objects "the same" for `k8s_yaml`: name, namespace as written, kind and
/// apiVersion.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ObjectAddress {
    name: String,
    namespace: String,
    kind: String,
    api_version: String,
}

impl ObjectAddress {
    fn of(obj: &K8sObject) -> ObjectAddress {
        ObjectAddress {
            name: obj.name().to_owned(),
            namespace: obj.namespace().unwrap_or("").to_owned(),
            kind: obj.kind().to_owned(),
            api_version: obj.api_version().to_owned(),
        }
    }

    /// `Kind name`, or `Kind name (Namespace: ns)`.
    fn human(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!(
                "{} {} (Namespace: {})",
                self.kind, self.name, self.namespace
            )
        }
    }
}

/// Every object registered so far and where it was registered.
#[derive(Debug, Clone, Default)]
pub struct ObjectIndex {
    registered_at: HashMap<ObjectAddress, String>,
}

impl ObjectIndex {
    pub fn new() -> ObjectIndex {
        ObjectIndex::default()
    }

    /// Records `objects` as registered at `location` (a stack trace or `file:line`).
    /// A second registration of an object is an error that names the first location,
    /// unless `allow_duplicates`. Nothing is recorded when it fails.
    pub fn register(
        &mut self,
        objects: &[K8sObject],
        location: &str,
        allow_duplicates: bool,
    ) -> Result<(), ManifestError> {
        if !allow_duplicates {
            let mut seen = std::collections::HashSet::new();
            for obj in objects {
                let address = ObjectAddress::of(obj);
                let first = match self.registered_at.get(&address) {
                    Some(first) => Some(first.as_str()),
                    None if seen.contains(&address) => Some(location),
                    None => None,
                };
                if let Some(first) = first {
                    return Err(ManifestError::DuplicateYaml {
                        object: address.human(),
                        first_registered_at: first.lines().collect::<Vec<_>>().join("\n  "),
                    });
                }
                seen.insert(address);
            }
        }
        for obj in objects {
            self.registered_at
                .insert(ObjectAddress::of(obj), location.to_owned());
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.registered_at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.registered_at.is_empty()
    }
}
