//! The object store: what etcd plus the generic registry (`k8s.io/apiserver/pkg/registry/generic/registry/store.go`)
//! do for every resource. One global, strictly increasing resourceVersion (etcd's revision);
//! a bounded history of changes that watches resume from (older versions answer 410 Expired,
//! as after an etcd compaction); create / update / patch / apply / delete with the registry's
//! rules (uid, creationTimestamp, generation, optimistic concurrency, finalizers,
//! deletionTimestamp, graceful pod deletion, propagation-policy finalizers), and a write that
//! changes nothing is not a write (no new resourceVersion), as `GuaranteedUpdate` skips it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use crate::fields::Scope;
use crate::kinds;
use crate::patch;
use crate::resources::{self, ResourceType};
use crate::schema::Schema;
use crate::selector::{FieldSelector, LabelSelector};
use crate::ssa::{self, Writer};
use crate::status::{ApiError, success_status};
use crate::time;

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One committed write, as watches see it.
#[derive(Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
    pub kind: ChangeKind,
    /// The new object (for a delete: the last state, with the delete's resourceVersion).
    pub object: Arc<Value>,
    /// The object before the change (None for an add).
    pub old: Option<Arc<Value>>,
}

type Key = (String, String);
type GroupResource = (String, String);

struct Inner {
    rv: u64,
    builtin: Vec<Arc<ResourceType>>,
    custom: Vec<Arc<ResourceType>>,
    /// Stored objects; shared so scans and watches do not copy them.
    objects: HashMap<GroupResource, BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    history_cap: usize,
    /// Changes with rv <= compacted are gone from the history.
    compacted: u64,
    next_ip: u32,
}

/// Who writes and how (query parameters of the request, or a controller's identity).
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteCtx {
    pub manager: String,
    pub dry_run: bool,
    pub force: bool,
    /// `status` (or another subresource) when writing through one.
    pub subresource: Option<String>,
}

impl WriteCtx {
    pub fn manager(m: &str) -> Self {
        WriteCtx {
            manager: m.to_string(),
            ..Default::default()
        }
    }
    pub fn status(m: &str) -> Self {
        WriteCtx {
            manager: m.to_string(),
            subresource: Some("status".into()),
            ..Default::default()
        }
    }
}

/// The patch content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Strategic,
    Json,
}

/// `DeleteOptions`.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOpts {
    pub propagation: Option<String>,
    pub grace_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// The outcome of a delete.
pub(crate) enum Deleted {
    /// Still there with a deletionTimestamp (finalizers or graceful deletion pending).
    Pending(Value),
    /// Gone; the body to answer with (the object or a success Status).
    Gone(Value),
}

/// List parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListOpts {
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub exact: bool,
}

/// What a watch starts from.
pub(crate) struct WatchStart {
    /// Events to send first (synthetic ADDED for the current state, or history to replay).
    pub initial: Vec<Arc<Change>>,
    pub rx: broadcast::Receiver<Arc<Change>>,
    /// The resourceVersion the initial events bring the client to.
    pub rv: u64,
}

pub(crate) struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Change>>,
    rv_tx: watch::Sender<u64>,
    /// A random per-instance seed for uids and generated names.
    seed: std::collections::hash_map::RandomState,
    counter: std::sync::atomic::AtomicU64,
}

/// A 128-bit random-looking uid in the 8-4-4-4-12 form.
fn format_uid(a: u64, b: u64) -> String {
    let h = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub(crate) fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(key)?.as_str()
}

fn set_meta(obj: &mut Value, key: &str, v: Value) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if v.is_null() {
            m.remove(key);
        } else {
            m.insert(key.to_string(), v);
        }
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether deletion of this object still waits on something (finalizers, the namespace
/// controller, or a kubelet's graceful termination).
fn deletion_blocked(rt: &ResourceType, obj: &Value) -> bool {
    if !finalizers(obj).is_empty() {
        return true;
    }
    if rt.group.is_empty()
        && rt.kind == "Namespace"
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    {
        return true;
    }
    rt.group.is_empty()
        && rt.kind == "Pod"
        && obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .is_some_and(|g| g > 0)
}

fn pod_is_terminal(obj: &Value) -> bool {
    matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

impl Store {
    pub fn new(history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(16 * 1024);
        let (rv_tx, _) = watch::channel(0);
        Store {
            inner: Mutex::new(Inner {
                rv: 0,
                builtin: resources::builtin().into_iter().map(Arc::new).collect(),
                custom: Vec::new(),
                objects: HashMap::new(),
                history: VecDeque::new(),
                history_cap: history_cap.max(16),
                compacted: 0,
                next_ip: 1,
            }),
            tx,
            rv_tx,
            seed: std::collections::hash_map::RandomState::new(),
            counter: std::sync::atomic::AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (writes are committed whole).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn random(&self) -> u64 {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut h = self.seed.build_hasher();
        h.write_u64(n);
        h.write_i128(time::now_nanos());
        h.finish()
    }

    pub fn new_uid(&self) -> String {
        format_uid(self.random(), self.random())
    }

    /// Five characters from the alphabet `utilrand.String` uses for generateName suffixes.
    pub fn random_suffix(&self, n: usize) -> String {
        const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut r = self.random();
        (0..n)
            .map(|_| {
                let c = ALPHA[(r % ALPHA.len() as u64) as usize] as char;
                r /= ALPHA.len() as u64;
                c
            })
            .collect()
    }

    /// Wakes when anything is committed (controllers use it).
    pub fn subscribe_rv(&self) -> watch::Receiver<u64> {
        self.rv_tx.subscribe()
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Drops the whole history, as an etcd compaction does: every watch or list from an
    /// older resourceVersion now gets 410 Expired.
    pub fn compact(&self) {
        let mut g = self.lock();
        g.history.clear();
        g.compacted = g.rv;
    }

    pub fn types(&self) -> Vec<Arc<ResourceType>> {
        let g = self.lock();
        g.builtin.iter().chain(g.custom.iter()).cloned().collect()
    }

    /// The type served at group/version/plural.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        let g = self.lock();
        g.builtin
            .iter()
            .chain(g.custom.iter())
            .find(|r| r.group == group && r.plural == plural && r.serves(version))
            .cloned()
    }

    /// The type of a group + kind (any served version).
    pub fn resource_for_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let g = self.lock();
        g.builtin
            .iter()
            .chain(g.custom.iter())
            .find(|r| r.group == group && r.kind == kind)
            .cloned()
    }

    fn commit(
        &self,
        g: &mut Inner,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        new: Option<Value>,
    ) -> Option<Value> {
        let key = (ns.to_string(), name.to_string());
        let gr = (rt.group.clone(), rt.plural.clone());
        g.rv += 1;
        let rv = g.rv;
        let map = g.objects.entry(gr).or_default();
        let old = map.get(&key).cloned();
        let (kind, object) = match new {
            Some(mut v) => {
                set_meta(&mut v, "resourceVersion", json!(rv.to_string()));
                let v = Arc::new(v);
                map.insert(key, v.clone());
                (
                    if old.is_some() {
                        ChangeKind::Modified
                    } else {
                        ChangeKind::Added
                    },
                    v,
                )
            }
            None => {
                let mut last = (*map.remove(&key)?).clone();
                set_meta(&mut last, "resourceVersion", json!(rv.to_string()));
                (ChangeKind::Deleted, Arc::new(last))
            }
        };
        let change = Arc::new(Change {
            rv,
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: ns.to_string(),
            name: name.to_string(),
            kind,
            object: object.clone(),
            old,
        });
        g.history.push_back(change.clone());
        while g.history.len() > g.history_cap {
            if let Some(c) = g.history.pop_front() {
                g.compacted = c.rv;
            }
        }
        if rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition" {
            let crds: Vec<Arc<Value>> = g
                .objects
                .get(&(rt.group.clone(), rt.plural.clone()))
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            g.custom = crds
                .iter()
                .filter_map(|c| resources::from_crd(c))
                .map(Arc::new)
                .collect();
        }
        let _ = self.tx.send(change);
        self.rv_tx.send_replace(rv);
        Some((*object).clone())
    }

    fn schema<'a>(rt: &'a ResourceType, version: &str) -> Schema<'a> {
        Schema {
            group: &rt.group,
            kind: &rt.kind,
            custom: if rt.custom { rt.schema(version) } else { None },
        }
    }

    fn scope(rt: &ResourceType, ctx: &WriteCtx) -> Scope {
        if ctx.subresource.as_deref() == Some("status") {
            Scope::Status
        } else {
            Scope::Main {
                with_status: !rt.has_status(),
            }
        }
    }

    fn check_namespace(
        g: &Inner,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        creating: bool,
    ) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let nsobj = g
            .objects
            .get(&(String::new(), "namespaces".to_string()))
            .and_then(|m| m.get(&(String::new(), ns.to_string())));
        match nsobj {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if creating && n.pointer("/metadata/deletionTimestamp").is_some() => {
                // The NamespaceLifecycle admission plugin's answer.
                let mut e = ApiError::forbidden(format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    crate::status::qualified(&rt.group, &rt.plural),
                ));
                e.details = Some(Box::new(
                    json!({"name": name, "kind": rt.plural, "causes": [{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {ns} is being terminated"),
                    "field": "metadata.namespace"}]}),
                ));
                Err(e)
            }
            _ => Ok(()),
        }
    }

    fn get_locked<'a>(g: &'a Inner, rt: &ResourceType, ns: &str, name: &str) -> Option<&'a Value> {
        g.objects
            .get(&(rt.group.clone(), rt.plural.clone()))?
            .get(&(ns.to_string(), name.to_string()))
            .map(|a| a.as_ref())
    }

    /// Converts a stored object to the requested version (only apiVersion changes: custom
    /// resources with several versions use conversion strategy None).
    pub fn present(rt: &ResourceType, version: &str, mut obj: Value) -> Value {
        obj["apiVersion"] = json!(rt.api_version(version));
        obj["kind"] = json!(rt.kind);
        obj
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        let g = self.lock();
        Self::get_locked(&g, rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// Every object of a type (in a namespace, or all).
    pub fn all(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Arc<Value>> {
        let g = self.lock();
        g.objects
            .get(&(rt.group.clone(), rt.plural.clone()))
            .map(|m| {
                m.iter()
                    .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks apiVersion/kind of a body against the endpoint.
    fn check_types(rt: &ResourceType, version: &str, obj: &Value) -> Result<(), ApiError> {
        let av = obj.get("apiVersion").and_then(Value::as_str);
        let kind = obj.get("kind").and_then(Value::as_str);
        let want_av = rt.api_version(version);
        match (av, kind) {
            (Some(a), Some(k)) if a == want_av && k == rt.kind => Ok(()),
            (None, None) => Ok(()),
            (a, k) => Err(ApiError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({want_av}) or the kind in the data ({}) does not match the expected kind ({})",
                a.unwrap_or(""),
                k.unwrap_or(""),
                rt.kind
            ))),
        }
    }

    fn check_body_namespace(rt: &ResourceType, ns: &str, obj: &mut Value) -> Result<(), ApiError> {
        if !rt.namespaced {
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("namespace");
            }
            return Ok(());
        }
        match meta_str(obj, "namespace") {
            Some(n) if !n.is_empty() && n != ns => Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            )),
            _ => {
                set_meta(obj, "namespace", json!(ns));
                Ok(())
            }
        }
    }

    /// Everything after the object is assembled: defaults, validation, ownership,
    /// generation, finalizer-driven removal, no-op detection, commit.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        g: &mut Inner,
        rt: &ResourceType,
        version: &str,
        ns: &str,
        name: &str,
        old: Option<&Value>,
        mut new: Value,
        ctx: &WriteCtx,
        record_update: bool,
    ) -> Result<Value, ApiError> {
        new["apiVersion"] = json!(rt.storage_api_version());
        new["kind"] = json!(rt.kind);
        kinds::prepare_write(rt, &mut new);
        if let Some(o) = old
            && ctx.subresource.as_deref() != Some("finalize")
        {
            kinds::prepare_update(rt, o, &mut new);
        }
        kinds::defaults(rt, &mut new);
        kinds::validate(rt, &new, old)?;
        let now = time::now_rfc3339();
        if record_update {
            let av = rt.api_version(version);
            let w = Writer {
                manager: &ctx.manager,
                api_version: &av,
                subresource: ctx.subresource.as_deref(),
                now: &now,
            };
            ssa::record_update(
                old,
                &mut new,
                &Self::schema(rt, version),
                Self::scope(rt, ctx),
                &w,
            );
        }
        if rt.generation {
            let gen_ = match old {
                None => 1,
                Some(o) => {
                    let prev = o
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    if kinds::spec_changed(o, &new) {
                        prev + 1
                    } else {
                        prev
                    }
                }
            };
            set_meta(&mut new, "generation", json!(gen_));
        }
        if let Some(o) = old {
            if *o == new {
                return Ok(o.clone());
            }
            if o.pointer("/metadata/deletionTimestamp").is_some() && !deletion_blocked(rt, &new) {
                // The last finalizer is gone: the registry deletes the object.
                if ctx.dry_run {
                    return Ok(new);
                }
                return self
                    .commit(g, rt, ns, name, None)
                    .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name));
            }
        }
        if ctx.dry_run {
            return Ok(new);
        }
        self.commit(g, rt, ns, name, Some(new))
            .ok_or_else(|| ApiError::internal("commit failed"))
    }

    /// POST: create.
    pub fn create(
        &self,
        rt: &ResourceType,
        version: &str,
        ns: &str,
        mut obj: Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        Self::check_types(rt, version, &obj)?;
        Self::check_body_namespace(rt, ns, &mut obj)?;
        if meta_str(&obj, "resourceVersion").is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        if obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(gen_) = meta_str(&obj, "generateName").map(str::to_string)
        {
            let n = format!("{gen_}{}", self.random_suffix(5));
            set_meta(&mut obj, "name", json!(n));
        }
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        let mut g = self.lock();
        Self::check_namespace(&g, rt, ns, &name, true)?;
        if !name.is_empty() && Self::get_locked(&g, rt, ns, &name).is_some() {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "generation",
        ] {
            set_meta(&mut obj, k, Value::Null);
        }
        set_meta(&mut obj, "uid", json!(self.new_uid()));
        set_meta(&mut obj, "creationTimestamp", json!(time::now_rfc3339()));
        if rt.has_status() {
            obj.as_object_mut().map(|m| m.remove("status"));
        }
        kinds::prepare_create(rt, &mut obj, &mut g.next_ip);
        self.finish(&mut g, rt, version, ns, &name, None, obj, ctx, true)
    }

    /// Restores what clients cannot change from the old object.
    fn keep_system_meta(old: &Value, new: &mut Value) {
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            set_meta(
                new,
                k,
                old.pointer(&format!("/metadata/{k}"))
                    .cloned()
                    .unwrap_or(Value::Null),
            );
        }
    }

    /// Takes from `body` what a write through `ctx` may change: the status only (status
    /// subresource), or everything but the status (main resource of a kind with one).
    fn split_status(rt: &ResourceType, ctx: &WriteCtx, old: &Value, body: Value) -> Value {
        if ctx.subresource.as_deref() == Some("status") {
            let mut new = old.clone();
            match body.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    new.as_object_mut().map(|m| m.remove("status"));
                }
            }
            return new;
        }
        let mut new = body;
        if rt.has_status() {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    new.as_object_mut().map(|m| m.remove("status"));
                }
            }
        }
        new
    }

    /// PUT: update (optimistic concurrency on metadata.resourceVersion when given).
    pub fn update(
        &self,
        rt: &ResourceType,
        version: &str,
        ns: &str,
        name: &str,
        mut body: Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        Self::check_types(rt, version, &body)?;
        Self::check_body_namespace(rt, ns, &mut body)?;
        match meta_str(&body, "name") {
            Some(n) if n == name => {}
            Some(n) => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            None => set_meta(&mut body, "name", json!(name)),
        }
        let mut g = self.lock();
        let old = Self::get_locked(&g, rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if let Some(rv) = meta_str(&body, "resourceVersion").filter(|s| !s.is_empty())
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::stale(&rt.group, &rt.plural, name));
        }
        if let Some(uid) = meta_str(&body, "uid").filter(|s| !s.is_empty())
            && Some(uid) != meta_str(&old, "uid")
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&old, "uid").unwrap_or_default()
                ),
            ));
        }
        let mut new = Self::split_status(rt, ctx, &old, body);
        Self::keep_system_meta(&old, &mut new);
        if rt.kind == "Namespace" && ctx.subresource.as_deref() == Some("finalize") {
            let f = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
            new = old.clone();
            new["spec"] = json!({"finalizers": f});
        }
        self.finish(&mut g, rt, version, ns, name, Some(&old), new, ctx, true)
    }

    /// PATCH with a merge, strategic-merge or JSON patch.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &ResourceType,
        version: &str,
        ns: &str,
        name: &str,
        ty: PatchType,
        body: &Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        let mut g = self.lock();
        let old = Self::get_locked(&g, rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let mut doc = Self::present(rt, version, old.clone());
        match ty {
            PatchType::Merge => patch::merge_patch(&mut doc, body),
            PatchType::Strategic => {
                if rt.custom {
                    return Err(ApiError::unsupported_media(
                        "application/strategic-merge-patch+json",
                    ));
                }
                patch::strategic(&mut doc, body, &Self::schema(rt, version));
            }
            PatchType::Json => {
                patch::json_patch(&mut doc, body).map_err(|e| ApiError::new(422, "Invalid", e))?
            }
        }
        if let Some(rv) = meta_str(&doc, "resourceVersion").filter(|s| !s.is_empty())
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::stale(&rt.group, &rt.plural, name));
        }
        if meta_str(&doc, "name") != Some(name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&doc, "name").unwrap_or_default()
            )));
        }
        let mut new = Self::split_status(rt, ctx, &old, doc);
        Self::keep_system_meta(&old, &mut new);
        self.finish(&mut g, rt, version, ns, name, Some(&old), new, ctx, true)
    }

    /// PATCH with `application/apply-patch+yaml`: server-side apply. Returns the object and
    /// whether it was created.
    pub fn apply(
        &self,
        rt: &ResourceType,
        version: &str,
        ns: &str,
        name: &str,
        mut applied: Value,
        ctx: &WriteCtx,
    ) -> Result<(Value, bool), ApiError> {
        if !applied.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        if ctx.manager.is_empty() {
            return Err(ApiError::new(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let av = applied.get("apiVersion").and_then(Value::as_str);
        let kind = applied.get("kind").and_then(Value::as_str);
        if av.is_none() || kind.is_none() {
            return Err(ApiError::bad_request(
                "error decoding YAML: Object 'Kind' is missing in the applied configuration (apiVersion and kind are required)",
            ));
        }
        Self::check_types(rt, version, &applied)?;
        if applied
            .pointer("/metadata/managedFields")
            .is_some_and(|v| !v.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        match meta_str(&applied, "name") {
            Some(n) if n == name => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta_str(&applied, "name").unwrap_or_default()
                )));
            }
        }
        Self::check_body_namespace(rt, ns, &mut applied)?;
        let mut g = self.lock();
        let old = Self::get_locked(&g, rt, ns, name).cloned();
        let creating = old.is_none();
        if creating {
            if ctx.subresource.is_some() {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            }
            Self::check_namespace(&g, rt, ns, name, true)?;
        }
        let base = match &old {
            Some(o) => Self::present(rt, version, o.clone()),
            None => {
                let mut meta = json!({"name": name});
                if rt.namespaced {
                    meta["namespace"] = json!(ns);
                }
                json!({"apiVersion": rt.api_version(version), "kind": rt.kind, "metadata": meta})
            }
        };
        let now = time::now_rfc3339();
        let av = rt.api_version(version);
        let w = Writer {
            manager: &ctx.manager,
            api_version: &av,
            subresource: ctx.subresource.as_deref(),
            now: &now,
        };
        let mut merged = ssa::apply(
            &base,
            &applied,
            &Self::schema(rt, version),
            Self::scope(rt, ctx),
            &w,
            ctx.force,
        )
        .map_err(|c| ssa::conflict_error(&c, &rt.group, &rt.plural, name))?;
        let out = match &old {
            // `base` carried the old system metadata and the apply never touches it.
            Some(o) => self.finish(&mut g, rt, version, ns, name, Some(o), merged, ctx, false)?,
            None => {
                set_meta(&mut merged, "uid", json!(self.new_uid()));
                set_meta(&mut merged, "creationTimestamp", json!(time::now_rfc3339()));
                if rt.has_status() {
                    merged.as_object_mut().map(|m| m.remove("status"));
                }
                kinds::prepare_create(rt, &mut merged, &mut g.next_ip);
                self.finish(&mut g, rt, version, ns, name, None, merged, ctx, false)?
            }
        };
        Ok((out, creating))
    }

    /// DELETE of one object.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Deleted, ApiError> {
        let mut g = self.lock();
        let old = Self::get_locked(&g, rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let uid = meta_str(&old, "uid").unwrap_or_default().to_string();
        if let Some(want) = &opts.precondition_uid
            && *want != uid
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
                ),
            ));
        }
        if let Some(want) = &opts.precondition_rv
            && Some(want.as_str()) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {}",
                    meta_str(&old, "resourceVersion").unwrap_or_default()
                ),
            ));
        }
        let is_pod = rt.group.is_empty() && rt.kind == "Pod";
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            // Already terminating: a pod's grace period can only shorten; 0 finishes it.
            if is_pod
                && opts.grace_seconds == Some(0)
                && finalizers(&old).is_empty()
                && !opts.dry_run
            {
                let last = self.commit(&mut g, rt, ns, name, None).unwrap_or(old);
                return Ok(Deleted::Gone(last));
            }
            return Ok(Deleted::Pending(old));
        }
        let mut new = old.clone();
        let mut fins = finalizers(&old);
        match opts.propagation.as_deref() {
            Some("Orphan") if !fins.iter().any(|f| f == "orphan") => fins.push("orphan".into()),
            Some("Foreground") if !fins.iter().any(|f| f == "foregroundDeletion") => {
                fins.push("foregroundDeletion".into())
            }
            _ => {}
        }
        if !fins.is_empty() {
            set_meta(&mut new, "finalizers", json!(fins));
        }
        // Graceful pod deletion (pkg/registry/core/pod/strategy.go CheckGracefulDelete):
        // only a scheduled, non-terminal pod waits for its kubelet.
        let mut grace = 0;
        if is_pod {
            let scheduled = old
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            if scheduled && !pod_is_terminal(&old) {
                grace = opts.grace_seconds.unwrap_or_else(|| {
                    old.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(30)
                });
            }
        }
        let blocked =
            !fins.is_empty() || grace > 0 || (rt.kind == "Namespace" && rt.group.is_empty());
        if !blocked {
            if opts.dry_run {
                return Ok(Deleted::Gone(old));
            }
            let last = self.commit(&mut g, rt, ns, name, None).unwrap_or(old);
            return Ok(Deleted::Gone(last));
        }
        set_meta(
            &mut new,
            "deletionTimestamp",
            json!(if grace > 0 {
                time::rfc3339_in(grace)
            } else {
                time::now_rfc3339()
            }),
        );
        set_meta(&mut new, "deletionGracePeriodSeconds", json!(grace));
        if rt.generation {
            let gen_ = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            set_meta(&mut new, "generation", json!(gen_ + 1));
        }
        if rt.kind == "Namespace" && rt.group.is_empty() {
            new["status"] = json!({"phase": "Terminating"});
        }
        if opts.dry_run {
            return Ok(Deleted::Pending(new));
        }
        let stored = self
            .commit(&mut g, rt, ns, name, Some(new))
            .ok_or_else(|| ApiError::internal("commit failed"))?;
        Ok(Deleted::Pending(stored))
    }

    /// The body a finished delete answers with.
    pub fn deleted_body(rt: &ResourceType, version: &str, obj: Value) -> Value {
        if rt.return_deleted {
            return Self::present(rt, version, obj);
        }
        success_status(
            &rt.group,
            &rt.plural,
            meta_str(&obj, "name").unwrap_or_default(),
            meta_str(&obj, "uid").unwrap_or_default(),
        )
    }

    /// A controller's read-modify-write (never conflicts; no-op when `f` changes nothing).
    pub fn mutate(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        ctx: &WriteCtx,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        let mut g = self.lock();
        let old = Self::get_locked(&g, rt, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let mut new = old.clone();
        f(&mut new);
        Self::keep_system_meta(&old, &mut new);
        // Finalizers may be edited by controllers (GC, namespace controller).
        let version = rt.versions[0].clone();
        self.finish(&mut g, rt, &version, ns, name, Some(&old), new, ctx, true)
    }

    /// Objects as they were at `rv` (the history undone back to it), or 410.
    fn state_at(
        g: &Inner,
        rt: &ResourceType,
        rv: u64,
    ) -> Result<BTreeMap<Key, Arc<Value>>, ApiError> {
        if rv < g.compacted {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                g.compacted + 1
            )));
        }
        let mut state = g
            .objects
            .get(&(rt.group.clone(), rt.plural.clone()))
            .cloned()
            .unwrap_or_default();
        for c in g.history.iter().rev() {
            if c.rv <= rv {
                break;
            }
            if c.group != rt.group || c.plural != rt.plural {
                continue;
            }
            let key = (c.namespace.clone(), c.name.clone());
            match &c.old {
                Some(o) => {
                    state.insert(key, o.clone());
                }
                None => {
                    state.remove(&key);
                }
            }
        }
        Ok(state)
    }

    /// LIST with selectors, limit/continue (snapshot-consistent through the history) and
    /// resourceVersion semantics.
    pub fn list(
        &self,
        rt: &ResourceType,
        version: &str,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> Result<Value, ApiError> {
        let g = self.lock();
        let mut start_after: Option<Key> = None;
        let (rv, state) = if let Some(tok) = &opts.continue_token {
            let (rv, start) = decode_continue(tok)?;
            let state = Self::state_at(&g, rt, rv).map_err(|_| {
                ApiError::gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
            })?;
            start_after = Some(start);
            (rv, state)
        } else if opts.exact {
            let rv: u64 = opts
                .resource_version
                .as_deref()
                .unwrap_or("")
                .parse()
                .map_err(|_| {
                    ApiError::bad_request("resourceVersionMatch=Exact requires a resourceVersion")
                })?;
            if rv > g.rv {
                return Err(ApiError::new(
                    504,
                    "Timeout",
                    format!("Too large resource version: {rv}, current: {}", g.rv),
                ));
            }
            (rv, Self::state_at(&g, rt, rv)?)
        } else {
            (
                g.rv,
                g.objects
                    .get(&(rt.group.clone(), rt.plural.clone()))
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        drop(g);
        let mut items: Vec<(Key, Arc<Value>)> = state
            .into_iter()
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .filter(|(_, v)| opts.labels.as_ref().is_none_or(|s| s.matches_object(v)))
            .filter(|(_, v)| opts.fields.as_ref().is_none_or(|f| f.matches(v)))
            .filter(|(k, _)| start_after.as_ref().is_none_or(|s| k > s))
            .collect();
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if let Some(limit) = opts.limit.filter(|l| *l > 0)
            && items.len() > limit
        {
            let remaining = items.len() - limit;
            items.truncate(limit);
            if let Some((last, _)) = items.last() {
                meta["continue"] = json!(encode_continue(rv, last));
            }
            if opts.labels.as_ref().is_none_or(LabelSelector::is_empty) && opts.fields.is_none() {
                meta["remainingItemCount"] = json!(remaining);
            }
        }
        let items: Vec<Value> = items
            .into_iter()
            .map(|(_, v)| {
                let mut v = (*v).clone();
                if rt.custom {
                    Self::present(rt, version, v)
                } else {
                    // Built-in list items carry no apiVersion/kind, as kube-apiserver sends them.
                    if let Some(m) = v.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                    v
                }
            })
            .collect();
        Ok(json!({
            "kind": rt.list_kind(),
            "apiVersion": rt.api_version(version),
            "metadata": meta,
            "items": items,
        }))
    }

    /// Starts a watch: current state as ADDED (no rv, "0", or sendInitialEvents) or the
    /// history after `rv`; 410 when `rv` is older than the history.
    pub fn watch(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        rv: Option<&str>,
        send_initial: bool,
    ) -> Result<WatchStart, ApiError> {
        let g = self.lock();
        let rx = self.tx.subscribe();
        let from = rv.filter(|s| !s.is_empty() && *s != "0");
        if let Some(from) = from.filter(|_| !send_initial) {
            let from: u64 = from
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {from}")))?;
            if from < g.compacted {
                return Err(ApiError::gone(format!(
                    "too old resource version: {from} ({})",
                    g.compacted + 1
                )));
            }
            let initial = g
                .history
                .iter()
                .filter(|c| c.rv > from && c.group == rt.group && c.plural == rt.plural)
                .filter(|c| ns.is_none_or(|n| n == c.namespace))
                .cloned()
                .collect();
            return Ok(WatchStart {
                initial,
                rx,
                rv: g.rv.max(from),
            });
        }
        let initial = g
            .objects
            .get(&(rt.group.clone(), rt.plural.clone()))
            .map(|m| {
                m.iter()
                    .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
                    .map(|((n, name), v)| {
                        Arc::new(Change {
                            rv: g.rv,
                            group: rt.group.clone(),
                            plural: rt.plural.clone(),
                            namespace: n.clone(),
                            name: name.clone(),
                            kind: ChangeKind::Added,
                            object: v.clone(),
                            old: None,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(WatchStart {
            initial,
            rx,
            rv: g.rv,
        })
    }

    /// Every namespaced object in a namespace (any type), for the namespace controller.
    pub fn namespace_contents(&self, ns: &str) -> Vec<(Arc<ResourceType>, String)> {
        let g = self.lock();
        let types: Vec<Arc<ResourceType>> =
            g.builtin.iter().chain(g.custom.iter()).cloned().collect();
        let mut out = Vec::new();
        for ((group, plural), objs) in &g.objects {
            let Some(rt) = types
                .iter()
                .find(|r| r.group == *group && r.plural == *plural && r.namespaced)
            else {
                continue;
            };
            for (n, name) in objs.keys() {
                if n == ns {
                    out.push((rt.clone(), name.clone()));
                }
            }
        }
        out
    }

    /// Every stored object with its type, for the garbage collector.
    pub fn everything(&self) -> Vec<(Arc<ResourceType>, Arc<Value>)> {
        let g = self.lock();
        let types: Vec<Arc<ResourceType>> =
            g.builtin.iter().chain(g.custom.iter()).cloned().collect();
        let mut out = Vec::new();
        for ((group, plural), objs) in &g.objects {
            let Some(rt) = types
                .iter()
                .find(|r| r.group == *group && r.plural == *plural)
            else {
                continue;
            };
            for v in objs.values() {
                out.push((rt.clone(), v.clone()));
            }
        }
        out
    }

    /// Removes every object of a resource (a CRD's instances once its cleanup finalizer runs).
    pub fn purge(&self, group: &str, plural: &str) {
        let mut g = self.lock();
        let keys: Vec<Key> = g
            .objects
            .get(&(group.to_string(), plural.to_string()))
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let fake = ResourceType {
            group: group.into(),
            versions: vec!["v1".into()],
            plural: plural.into(),
            singular: String::new(),
            kind: String::new(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            subresources: vec![],
            generation: false,
            return_deleted: false,
            field_labels: vec![],
            schemas: vec![],
            custom: true,
        };
        for (ns, name) in keys {
            self.commit(&mut g, &fake, &ns, &name, None);
        }
    }
}

/// The continue token, shaped as the etcd3 store's (`{"v":"meta.k8s.io/v1","rv":N,"start":"key\u0000"}`).
fn encode_continue(rv: u64, last: &Key) -> String {
    let start = format!("{}/{}\u{0}", last.0, last.1);
    let tok = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tok.to_string())
}

fn decode_continue(tok: &str) -> Result<(u64, Key), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {tok}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tok.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .trim_end_matches('\u{0}');
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, (ns.to_string(), name.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_ns(ns: &str) -> (Store, Arc<ResourceType>) {
        let s = Store::new(1000);
        let nst = s.resource("", "v1", "namespaces").unwrap();
        s.create(
            &nst,
            "v1",
            "",
            json!({"metadata": {"name": ns}}),
            &WriteCtx::manager("t"),
        )
        .unwrap();
        let cm = s.resource("", "v1", "configmaps").unwrap();
        (s, cm)
    }

    #[test]
    fn create_get_update_noop() {
        let (s, cm) = store_with_ns("a");
        let c = s
            .create(&cm, "v1", "a", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}), &WriteCtx::manager("t"))
            .unwrap();
        let rv = meta_str(&c, "resourceVersion").unwrap().to_string();
        let again = s
            .update(&cm, "v1", "a", "x", c.clone(), &WriteCtx::manager("t"))
            .unwrap();
        assert_eq!(
            meta_str(&again, "resourceVersion").unwrap(),
            rv,
            "a no-op update is no write"
        );
        let err = s
            .create(
                &cm,
                "v1",
                "missing",
                json!({"metadata": {"name": "x"}}),
                &WriteCtx::manager("t"),
            )
            .unwrap_err();
        assert_eq!(err.code, 404);
        assert_eq!(err.message, "namespaces \"missing\" not found");
    }

    #[test]
    fn paging_is_snapshot_consistent() {
        let (s, cm) = store_with_ns("a");
        for i in 0..5 {
            s.create(
                &cm,
                "v1",
                "a",
                json!({"metadata": {"name": format!("c{i}")}}),
                &WriteCtx::manager("t"),
            )
            .unwrap();
        }
        let page = s
            .list(
                &cm,
                "v1",
                Some("a"),
                &ListOpts {
                    limit: Some(2),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        assert_eq!(page["metadata"]["remainingItemCount"], 3);
        s.delete(&cm, "a", "c4", &DeleteOpts::default()).ok();
        let tok = page["metadata"]["continue"].as_str().unwrap().to_string();
        let rest = s
            .list(
                &cm,
                "v1",
                Some("a"),
                &ListOpts {
                    continue_token: Some(tok.clone()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            rest["items"].as_array().unwrap().len(),
            3,
            "c4 still in the snapshot"
        );
        s.compact();
        let err = s
            .list(
                &cm,
                "v1",
                Some("a"),
                &ListOpts {
                    continue_token: Some(tok),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.code, 410);
    }
}
