//! Server-side apply of one resource's objects, and their deletion.
//!
//! Order: Namespaces and CustomResourceDefinitions first (waiting until each CRD is
//! established, so objects of its kind can follow), then the rest in the order given (the
//! manifest crate's apply order). Objects without a namespace get the cluster's default when
//! their kind is namespaced. An object whose last apply by this lilt was identical is not
//! sent again: an unchanged apply does not touch the cluster.

use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use lilt_manifest::{K8sObject, MANAGED_BY_LABEL};
use serde_json::Value;

use crate::error::server_message;
use crate::{Cluster, FIELD_MANAGER, K8sError};

/// How long a new CRD may take to become established before its objects are applied.
const ESTABLISHED_WITHIN: Duration = Duration::from_secs(30);

/// Identifies an object in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{} in {}", self.kind, self.name, self.namespace)
        }
    }
}

/// An object as the server holds it after lilt applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedObject {
    pub key: ObjectKey,
    pub uid: String,
    pub resource_version: String,
    pub generation: Option<i64>,
    /// The body lilt sent, to tell whether the next apply changes anything.
    sent: Value,
    /// False when the apply changed nothing (not sent, or the server kept the version).
    pub changed: bool,
}

impl Cluster {
    /// Applies `objects` (already injected, in apply order); `log` gets one line per object
    /// that changed. The first failure stops the apply and names the object.
    pub async fn apply(
        &self,
        objects: &[K8sObject],
        log: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Vec<AppliedObject>, K8sError> {
        let (first, rest): (Vec<&K8sObject>, Vec<&K8sObject>) =
            objects.iter().partition(|o| is_namespace(o) || is_crd(o));
        let mut out = Vec::with_capacity(objects.len());
        for obj in &first {
            let applied = self.apply_one(obj, log).await?;
            if is_crd(obj) {
                self.wait_established(obj.name()).await?;
            }
            out.push(applied);
        }
        for obj in rest {
            out.push(self.apply_one(obj, log).await?);
        }
        Ok(out)
    }

    async fn apply_one(
        &self,
        obj: &K8sObject,
        log: &(dyn Fn(String) + Send + Sync),
    ) -> Result<AppliedObject, K8sError> {
        let (resource, caps) = self.kind_of(obj).await?;
        let mut body = obj.as_value().clone();
        let namespace = match caps.scope {
            Scope::Namespaced => {
                let ns = obj.namespace().unwrap_or(&self.namespace).to_owned();
                if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("namespace".into(), Value::String(ns.clone()));
                }
                ns
            }
            Scope::Cluster => String::new(),
        };
        let key = ObjectKey {
            api_version: obj.api_version().to_owned(),
            kind: obj.kind().to_owned(),
            namespace: namespace.clone(),
            name: obj.name().to_owned(),
        };
        if let Some(previous) = self.last_applied(&key)
            && previous.sent == body
        {
            return Ok(AppliedObject {
                changed: false,
                ..previous
            });
        }
        let object: DynamicObject =
            serde_json::from_value(body.clone()).map_err(|e| K8sError::Invalid {
                object: key.to_string(),
                message: e.to_string(),
            })?;
        let api = self.api(&resource, &namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let result = match api.patch(obj.name(), &params, &Patch::Apply(&object)).await {
            Ok(result) => result,
            // Tilt's fallbacks: an immutable field changed (a Deployment's selector, a Job's
            // template) → delete and create again; the body is over the server's limit
            // (SSA keeps it in managedFields too) → replace it.
            Err(kube::Error::Api(status))
                if status.code == 422 && status.message.contains("immutable") =>
            {
                log(format!("re-creating {key}: {}", status.message));
                self.delete_and_wait(&api, obj.name(), &key).await?;
                api.patch(obj.name(), &params, &Patch::Apply(&object))
                    .await
                    .map_err(|e| K8sError::Apply {
                        object: key.to_string(),
                        message: server_message(&e),
                    })?
            }
            Err(kube::Error::Api(status)) if status.code == 413 => {
                log(format!("replacing {key}: too large to apply server-side"));
                self.replace(&api, obj.name(), object.clone(), &key).await?
            }
            Err(e) => {
                return Err(K8sError::Apply {
                    object: key.to_string(),
                    message: server_message(&e),
                });
            }
        };
        let resource_version = result.metadata.resource_version.clone().unwrap_or_default();
        let changed = self
            .last_applied(&key)
            .is_none_or(|p| p.resource_version != resource_version);
        if changed {
            log(format!("applied {key}"));
        }
        let applied = AppliedObject {
            key: key.clone(),
            uid: result.metadata.uid.unwrap_or_default(),
            resource_version,
            generation: result.metadata.generation,
            sent: body,
            changed,
        };
        if let Ok(mut map) = self.applied.lock() {
            map.insert(key, applied.clone());
        }
        Ok(applied)
    }

    /// Deletes one object and waits until the server no longer has it, as Tilt does before
    /// re-creating: in the background, so the wait is for the object alone. Its dependents
    /// (the old pods, with their termination grace period) go away on their own; waiting
    /// for them (a foreground delete) could outlast the upsert timeout and leave the
    /// object deleted.
    async fn delete_and_wait(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        key: &ObjectKey,
    ) -> Result<(), K8sError> {
        let failed = |e: kube::Error| K8sError::Delete {
            object: key.to_string(),
            message: server_message(&e),
        };
        let uid = match api.delete(name, &DeleteParams::background()).await {
            Ok(either) => either.left().and_then(|o| o.metadata.uid),
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
            Err(e) => return Err(failed(e)),
        };
        let deadline = tokio::time::Instant::now() + ESTABLISHED_WITHIN;
        // Gone, or another object of that name (someone else created it meanwhile).
        while let Some(current) = api.get_opt(name).await.map_err(failed)?
            && (uid.is_none() || current.metadata.uid == uid)
        {
            if tokio::time::Instant::now() >= deadline {
                return Err(K8sError::Delete {
                    object: key.to_string(),
                    message: format!("still there after {}s", ESTABLISHED_WITHIN.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Replaces (PUT) an object with `object`, creating it when missing.
    async fn replace(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        mut object: DynamicObject,
        key: &ObjectKey,
    ) -> Result<DynamicObject, K8sError> {
        let failed = |e: kube::Error| K8sError::Apply {
            object: key.to_string(),
            message: server_message(&e),
        };
        match api.get_opt(name).await.map_err(failed)? {
            Some(current) => {
                object.metadata.resource_version = current.metadata.resource_version;
                api.replace(name, &Default::default(), &object)
                    .await
                    .map_err(failed)
            }
            None => api
                .create(&Default::default(), &object)
                .await
                .map_err(failed),
        }
    }

    fn last_applied(&self, key: &ObjectKey) -> Option<AppliedObject> {
        self.applied.lock().ok()?.get(key).cloned()
    }

    /// Deletes `objects` (in the order given: dependents first, see `sort_for_delete`), as
    /// `lilt down` does. Kept: objects annotated `tilt.dev/down-policy: keep`, Namespaces
    /// unless `options.delete_namespaces`, and objects lilt (or Tilt) did not apply, found by
    /// the `app.kubernetes.io/managed-by` label or a `lilt` field manager. Missing objects
    /// are fine. With `options.wait`, waits (at most that long) until every deleted object is
    /// gone from the server.
    pub async fn delete(
        &self,
        objects: &[K8sObject],
        options: &DeleteOptions,
        log: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), K8sError> {
        let mut deleted: Vec<(Api<DynamicObject>, ObjectKey)> = Vec::new();
        for obj in objects {
            if obj
                .as_value()
                .pointer("/metadata/annotations/tilt.dev~1down-policy")
                .and_then(Value::as_str)
                == Some("keep")
            {
                log(format!(
                    "keeping {} (tilt.dev/down-policy: keep)",
                    obj.display_name()
                ));
                continue;
            }
            if obj.kind() == "Namespace" && obj.api_version() == "v1" && !options.delete_namespaces
            {
                log(format!(
                    "keeping {} (namespaces are kept unless --delete-namespaces)",
                    obj.display_name()
                ));
                continue;
            }
            let (resource, caps) = self.kind_of(obj).await?;
            let namespace = match caps.scope {
                Scope::Namespaced => obj.namespace().unwrap_or(&self.namespace).to_owned(),
                Scope::Cluster => String::new(),
            };
            let key = ObjectKey {
                api_version: obj.api_version().to_owned(),
                kind: obj.kind().to_owned(),
                namespace: namespace.clone(),
                name: obj.name().to_owned(),
            };
            let failed = |e: kube::Error| K8sError::Delete {
                object: key.to_string(),
                message: server_message(&e),
            };
            let api = self.api(&resource, &namespace);
            let Some(live) = api.get_opt(obj.name()).await.map_err(failed)? else {
                continue;
            };
            if !applied_by_us(&live) {
                log(format!(
                    "keeping {key}: it was not applied by lilt or Tilt (no {MANAGED_BY_LABEL} label, no {FIELD_MANAGER:?} field manager)"
                ));
                continue;
            }
            match api.delete(obj.name(), &DeleteParams::background()).await {
                Ok(_) => log(format!("deleted {key}")),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(failed(e)),
            }
            if let Ok(mut map) = self.applied.lock() {
                map.remove(&key);
            }
            deleted.push((api, key));
        }
        if let Some(within) = options.wait {
            let deadline = tokio::time::Instant::now() + within;
            for (api, key) in &deleted {
                loop {
                    match api.get_opt(&key.name).await {
                        Ok(None) => break,
                        Ok(Some(_)) if tokio::time::Instant::now() >= deadline => {
                            return Err(K8sError::Delete {
                                object: key.to_string(),
                                message: format!(
                                    "still there after {}s (finalizers or dependents?)",
                                    within.as_secs()
                                ),
                            });
                        }
                        Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                        Err(e) => {
                            return Err(K8sError::Delete {
                                object: key.to_string(),
                                message: server_message(&e),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn api(&self, resource: &ApiResource, namespace: &str) -> Api<DynamicObject> {
        if namespace.is_empty() {
            Api::all_with(self.client.clone(), resource)
        } else {
            Api::namespaced_with(self.client.clone(), namespace, resource)
        }
    }

    /// The API resource serving `obj`'s kind, from discovery (cached; a miss asks again, so
    /// kinds of a CRD applied a moment ago are found).
    async fn kind_of(&self, obj: &K8sObject) -> Result<(ApiResource, ApiCapabilities), K8sError> {
        let cache_key = (obj.api_version().to_owned(), obj.kind().to_owned());
        if let Some(found) = self
            .kinds
            .lock()
            .ok()
            .and_then(|k| k.get(&cache_key).cloned())
        {
            return Ok(found);
        }
        let (group, version) = match obj.api_version().split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", obj.api_version()),
        };
        let gvk = kube::api::GroupVersionKind::gvk(group, version, obj.kind());
        let found = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| K8sError::UnknownKind {
                object: obj.display_name(),
                api_version: obj.api_version().to_owned(),
                kind: obj.kind().to_owned(),
                message: server_message(&e),
            })?;
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.insert(cache_key, found.clone());
        }
        Ok(found)
    }

    /// Waits until the CRD `name` reports `Established=True` (Kubernetes serves its kind
    /// only then).
    async fn wait_established(&self, name: &str) -> Result<(), K8sError> {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let deadline = tokio::time::Instant::now() + ESTABLISHED_WITHIN;
        loop {
            if let Ok(crd) = api.get(name).await {
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                if established {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(K8sError::NotEstablished {
                    name: name.to_owned(),
                    secs: ESTABLISHED_WITHIN.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn is_namespace(obj: &K8sObject) -> bool {
    obj.kind() == "Namespace" && obj.group().is_empty()
}

fn is_crd(obj: &K8sObject) -> bool {
    obj.kind() == "CustomResourceDefinition" && obj.group() == "apiextensions.k8s.io"
}

/// What `lilt down` deletes and how long it waits.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Delete Namespace objects too (`--delete-namespaces`); by default they are kept.
    pub delete_namespaces: bool,
    /// Wait at most this long until the deleted objects are gone; `None` returns at once.
    pub wait: Option<Duration>,
}

/// Whether a live object was applied by lilt (its field manager) or carries the
/// `app.kubernetes.io/managed-by` label lilt and Tilt put on what they apply.
fn applied_by_us(live: &DynamicObject) -> bool {
    let labelled = live
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == lilt_manifest::MANAGED_BY_VALUE);
    let managed = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|m| m.manager.as_deref() == Some(FIELD_MANAGER));
    labelled || managed
}
