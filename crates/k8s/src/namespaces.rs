//! A namespace per developer: lilt creates it labelled with its owner, keeps a last-active
//! annotation fresh while `lilt up` runs, and prunes the ones nobody used for a while, so a
//! shared cluster can scale down. Only namespaces carrying lilt's label are ever deleted.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use lilt_model::rfc3339::{self, Precision};
use serde_json::json;

use crate::error::server_message;
use crate::{Cluster, FIELD_MANAGER, K8sError};

/// The label that marks a namespace as lilt's (the only ones `prune` deletes).
pub const MANAGED_LABEL: &str = "lilt.dev/managed";
/// The label naming the developer who owns it.
pub const OWNER_LABEL: &str = "lilt.dev/owner";
/// The annotation `lilt up` refreshes: when the namespace was last used (RFC 3339).
pub const LAST_ACTIVE_ANNOTATION: &str = "lilt.dev/last-active";

/// One of lilt's namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub name: String,
    pub owner: String,
    /// From the annotation; `None` when missing or unreadable (treated as idle since its
    /// creation).
    pub last_active: Option<SystemTime>,
    pub created: Option<SystemTime>,
    /// `Active` or `Terminating`.
    pub phase: String,
}

impl NamespaceInfo {
    /// How long nobody used it, at `now`.
    pub fn idle(&self, now: SystemTime) -> Duration {
        self.last_active
            .or(self.created)
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    }
}

/// What [`Cluster::ensure_namespace`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceClaim {
    /// It did not exist: created, with the caller as owner.
    Created,
    /// It existed, unowned or the caller's.
    Existing,
    /// It belongs to another developer (the owner label's value), who stays its owner.
    OwnedBy(String),
}

/// What `prune` did (or would do, with `dry_run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub name: String,
    pub owner: String,
    pub idle: Duration,
}

impl Cluster {
    /// Creates (or takes over) namespace `name`, labelled as lilt's and `owner`'s, and marks
    /// it active now. A namespace another developer owns keeps its owner (the label is
    /// theirs: `lilt namespaces` and `prune` report it under their name); it is marked
    /// active all the same, since it is in use.
    pub async fn ensure_namespace(
        &self,
        name: &str,
        owner: &str,
    ) -> Result<NamespaceClaim, K8sError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let existed = api.get_opt(name).await.map_err(|e| K8sError::Apply {
            object: format!("Namespace/{name}"),
            message: server_message(&e),
        })?;
        let ours = label_value(owner);
        let current_owner = existed
            .as_ref()
            .and_then(|ns| ns.metadata.labels.as_ref())
            .and_then(|l| l.get(OWNER_LABEL))
            .filter(|o| !o.is_empty())
            .cloned();
        let claim = match (&existed, current_owner) {
            (None, _) => NamespaceClaim::Created,
            (Some(_), Some(other)) if other != ours => NamespaceClaim::OwnedBy(other),
            (Some(_), _) => NamespaceClaim::Existing,
        };
        // Every lilt applies as the same field manager: the label sent is the one kept.
        let label = match &claim {
            NamespaceClaim::OwnedBy(other) => other.clone(),
            _ => ours,
        };
        let body = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": { MANAGED_LABEL: "true", OWNER_LABEL: label },
                "annotations": { LAST_ACTIVE_ANNOTATION: kube_time(SystemTime::now()) },
            },
        });
        api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| K8sError::Apply {
            object: format!("Namespace/{name}"),
            message: server_message(&e),
        })?;
        Ok(claim)
    }

    /// Refreshes the last-active annotation of `name` (a merge patch: only the annotation).
    pub async fn touch_namespace(&self, name: &str) -> Result<(), K8sError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let patch = json!({"metadata": {"annotations": {LAST_ACTIVE_ANNOTATION: kube_time(SystemTime::now())}}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| K8sError::Apply {
                object: format!("Namespace/{name}"),
                message: server_message(&e),
            })
    }

    /// lilt's namespaces (those with its label), by name.
    pub async fn lilt_namespaces(&self) -> Result<Vec<NamespaceInfo>, K8sError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let list = api
            .list(&ListParams::default().labels(&format!("{MANAGED_LABEL}=true")))
            .await
            .map_err(|e| K8sError::Apply {
                object: "Namespaces".to_owned(),
                message: server_message(&e),
            })?;
        let mut out: Vec<NamespaceInfo> = list
            .items
            .iter()
            .map(|ns| {
                let meta = &ns.metadata;
                NamespaceInfo {
                    name: meta.name.clone().unwrap_or_default(),
                    owner: meta
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(OWNER_LABEL).cloned())
                        .unwrap_or_default(),
                    last_active: meta
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(LAST_ACTIVE_ANNOTATION))
                        .and_then(|t| rfc3339::parse(t)),
                    created: meta
                        .creation_timestamp
                        .as_ref()
                        .and_then(|t| rfc3339::parse(&t.0.to_string())),
                    phase: ns
                        .status
                        .as_ref()
                        .and_then(|s| s.phase.clone())
                        .unwrap_or_else(|| "Active".to_owned()),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes lilt's namespaces idle for longer than `idle` at `now`, except `keep` (the
    /// current one) and those already terminating. With `dry_run`, deletes nothing.
    pub async fn prune_namespaces(
        &self,
        idle: Duration,
        keep: &[&str],
        dry_run: bool,
        now: SystemTime,
    ) -> Result<Vec<Pruned>, K8sError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let mut pruned = Vec::new();
        for ns in self.lilt_namespaces().await? {
            let was_idle = ns.idle(now);
            if was_idle <= idle || keep.contains(&ns.name.as_str()) || ns.phase == "Terminating" {
                continue;
            }
            if !dry_run {
                match api.delete(&ns.name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => continue,
                    Err(e) => {
                        return Err(K8sError::Delete {
                            object: format!("Namespace/{}", ns.name),
                            message: server_message(&e),
                        });
                    }
                }
            }
            pruned.push(Pruned {
                name: ns.name,
                owner: ns.owner,
                idle: was_idle,
            });
        }
        Ok(pruned)
    }
}

/// A label value from a user name: at most 63 characters of `[A-Za-z0-9._-]`, starting and
/// ending with an alphanumeric (Kubernetes' label syntax); anything else becomes `-`.
pub fn label_value(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// RFC 3339 in UTC with whole seconds, as Kubernetes writes times.
fn kube_time(t: SystemTime) -> String {
    rfc3339::format_with(t, Precision::Seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_become_valid_label_values() {
        assert_eq!(label_value("alice"), "alice");
        assert_eq!(label_value("Alice Smith"), "Alice-Smith");
        assert_eq!(label_value("_bob@corp_"), "bob-corp");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
    }

    #[test]
    fn times_round_trip_through_rfc3339() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_225_395);
        assert_eq!(kube_time(t), "2026-12-02T15:29:55Z");
        assert_eq!(rfc3339::parse(&kube_time(t)), Some(t));
    }
}
