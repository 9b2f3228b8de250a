//! Server-side apply and field ownership, following structured-merge-diff as kube-apiserver
//! runs it (`k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager`):
//! - an apply owns exactly the fields of the applied configuration (entry `operation: Apply`);
//! - a field another manager owns with a *different* value is a conflict (409) unless
//!   `force=true`, which moves the field to the applier; an equal value is shared ownership;
//! - fields the applier applied before but no longer applies are removed from the object,
//!   unless another manager still owns them;
//! - updates (create, PUT, merge/strategic/JSON patch) take ownership of every field they
//!   change, from whoever owned it, and never conflict (entry `operation: Update`).

use serde_json::{Value, json};

use crate::fields::{self, Entry, FieldSet, Path, Scope};
use crate::schema::{Schema, Shape};
use crate::status::{ApiError, Cause};

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conflict {
    pub manager: String,
    pub api_version: String,
    pub path: Path,
}

/// Who is writing.
pub(crate) struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub now: &'a str,
}

fn is_member_path(p: &Path) -> bool {
    p.last()
        .is_some_and(|pe| pe.starts_with("k:") || pe.starts_with("v:"))
}

/// Whether applying `applied` would change the owned value at `p` of `live`.
fn differs(applied: &Value, live: &Value, p: &Path) -> bool {
    match (fields::get_at(applied, p), fields::get_at(live, p)) {
        (Some(a), Some(l)) => !is_member_path(p) && a != l,
        _ => false,
    }
}

/// Applies `applied` (apiVersion/kind/metadata.name already checked) onto `live`, returning
/// the merged object with its `managedFields` updated, or the conflicts.
pub(crate) fn apply(
    live: &Value,
    applied: &Value,
    schema: &Schema,
    scope: Scope,
    w: &Writer,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let mut entries = fields::read_entries(live);
    let new_set = fields::collect(applied, schema, scope);
    let mine = entries
        .iter()
        .position(|e| e.same_slot(w.manager, "Apply", w.subresource));
    let prev: FieldSet = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();

    let mut conflicts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == mine || e.manager == w.manager {
            continue;
        }
        for p in new_set.intersection(&e.fields) {
            if differs(applied, live, p) {
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    api_version: e.api_version.clone(),
                    path: p.clone(),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflicts);
        }
        for e in entries.iter_mut() {
            if e.manager == w.manager {
                continue;
            }
            for c in &conflicts {
                if c.manager == e.manager {
                    e.fields.remove(&c.path);
                }
            }
        }
    }

    // Fields this manager stopped applying and nobody else owns are removed.
    let others: Vec<&FieldSet> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != mine)
        .map(|(_, e)| &e.fields)
        .collect();
    let mut to_remove: Vec<&Path> = prev
        .difference(&new_set)
        .filter(|p| {
            !others
                .iter()
                .any(|set| set.iter().any(|q| q.starts_with(p)))
        })
        .collect();
    // Shallow first: a list item goes whole, before its key fields could be removed from it.
    to_remove.sort_by_key(|p| p.len());
    let mut obj = live.clone();
    for p in to_remove {
        fields::remove_at(&mut obj, p);
    }

    let mut names = Vec::new();
    merge_root(&mut obj, applied, schema, scope, &mut names);

    match mine {
        Some(i) => {
            if entries[i].fields != new_set || entries[i].api_version != w.api_version {
                entries[i].fields = new_set;
                entries[i].api_version = w.api_version.to_string();
                entries[i].time = Some(w.now.to_string());
            }
        }
        None => entries.push(Entry {
            manager: w.manager.to_string(),
            operation: "Apply".into(),
            api_version: w.api_version.to_string(),
            time: Some(w.now.to_string()),
            subresource: w.subresource.map(str::to_string),
            fields: new_set,
        }),
    }
    fields::write_entries(&mut obj, &entries);
    Ok(obj)
}

fn merge_root<'a>(
    obj: &mut Value,
    applied: &'a Value,
    schema: &Schema,
    scope: Scope,
    names: &mut Vec<&'a str>,
) {
    let Some(src) = applied.as_object() else {
        return;
    };
    if !obj.is_object() {
        *obj = json!({});
    }
    for (k, v) in src {
        let wanted = match (k.as_str(), scope) {
            ("apiVersion" | "kind", _) => false,
            ("status", Scope::Status) => true,
            (_, Scope::Status) => false,
            ("status", Scope::Main { with_status }) => with_status,
            _ => true,
        };
        if !wanted {
            continue;
        }
        names.push(k.as_str());
        if k == "metadata" {
            // System metadata comes from the live object, never from the applied config.
            if let (Some(dst), Some(meta)) = (obj.get_mut("metadata"), v.as_object()) {
                for (mk, mv) in meta {
                    if matches!(
                        mk.as_str(),
                        "name"
                            | "namespace"
                            | "uid"
                            | "resourceVersion"
                            | "generation"
                            | "creationTimestamp"
                            | "deletionTimestamp"
                            | "deletionGracePeriodSeconds"
                            | "managedFields"
                            | "selfLink"
                    ) {
                        continue;
                    }
                    names.push(mk.as_str());
                    merge_field(dst, mk, mv, schema, names);
                    names.pop();
                }
            }
        } else if let Some(m) = obj.as_object_mut() {
            let slot = m.entry(k.clone()).or_insert(Value::Null);
            if v.is_null() {
                m.remove(k);
            } else {
                merge_value(slot, v, schema, names);
            }
        }
        names.pop();
    }
}

fn merge_field<'a>(
    dst: &mut Value,
    key: &str,
    src: &'a Value,
    schema: &Schema,
    names: &mut Vec<&'a str>,
) {
    let Some(m) = dst.as_object_mut() else {
        return;
    };
    if src.is_null() {
        m.remove(key);
        return;
    }
    let slot = m.entry(key.to_string()).or_insert(Value::Null);
    merge_value(slot, src, schema, names);
}

/// Merges an applied value into a live one along the schema.
pub(crate) fn merge_value<'a>(
    dst: &mut Value,
    src: &'a Value,
    schema: &Schema,
    names: &mut Vec<&'a str>,
) {
    match (schema.shape(names, src), src) {
        (Shape::Granular, Value::Object(sm)) => {
            if !dst.is_object() {
                *dst = json!({});
            }
            for (k, sv) in sm {
                names.push(k.as_str());
                merge_field(dst, k, sv, schema, names);
                names.pop();
            }
        }
        (Shape::Assoc(keys), Value::Array(items)) => {
            if !dst.is_array() {
                *dst = json!([]);
            }
            for si in items {
                let key = fields::item_key(si, &keys);
                let arr = dst.as_array_mut().map(std::mem::take).unwrap_or_default();
                let mut arr = arr;
                match arr.iter().position(|di| fields::item_key(di, &keys) == key) {
                    Some(i) => {
                        if let Some(sm) = si.as_object() {
                            if !arr[i].is_object() {
                                arr[i] = json!({});
                            }
                            for (k, sv) in sm {
                                names.push(k.as_str());
                                merge_field(&mut arr[i], k, sv, schema, names);
                                names.pop();
                            }
                        } else {
                            arr[i] = si.clone();
                        }
                    }
                    None => arr.push(si.clone()),
                }
                *dst = Value::Array(arr);
            }
        }
        (Shape::Set, Value::Array(items)) => {
            if !dst.is_array() {
                *dst = json!([]);
            }
            if let Some(arr) = dst.as_array_mut() {
                for si in items {
                    if !arr.contains(si) {
                        arr.push(si.clone());
                    }
                }
            }
        }
        _ => *dst = src.clone(),
    }
}

/// Records an update's ownership: `writer` takes every field that changed between `old`
/// (None for a create) and `new`; removed fields leave every manager.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    schema: &Schema,
    scope: Scope,
    w: &Writer,
) {
    let mut entries = old.map(fields::read_entries).unwrap_or_default();
    let old_set = old
        .map(|o| fields::collect(o, schema, scope))
        .unwrap_or_default();
    let new_set = fields::collect(new, schema, scope);
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| match old {
            None => true,
            Some(o) => {
                !old_set.contains(*p)
                    || (!is_member_path(p) && fields::get_at(o, p) != fields::get_at(new, p))
            }
        })
        .cloned()
        .collect();
    let removed: FieldSet = old_set.difference(&new_set).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        fields::write_entries(new, &entries);
        return;
    }
    let mine = entries
        .iter()
        .position(|e| e.same_slot(w.manager, "Update", w.subresource));
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) == mine {
            continue;
        }
        let before = e.fields.len();
        e.fields
            .retain(|p| !changed.contains(p) && !removed.contains(p));
        let _ = before;
    }
    match mine {
        Some(i) => {
            let e = &mut entries[i];
            let mut f: FieldSet = e.fields.difference(&removed).cloned().collect();
            f.extend(changed.iter().cloned());
            if f != e.fields || e.api_version != w.api_version {
                e.fields = f;
                e.api_version = w.api_version.to_string();
                e.time = Some(w.now.to_string());
            }
        }
        None if !changed.is_empty() => entries.push(Entry {
            manager: w.manager.to_string(),
            operation: "Update".into(),
            api_version: w.api_version.to_string(),
            time: Some(w.now.to_string()),
            subresource: w.subresource.map(str::to_string),
            fields: changed,
        }),
        None => {}
    }
    fields::write_entries(new, &entries);
}

/// The 409 an apply with conflicts gets, worded as kube-apiserver words it.
pub(crate) fn conflict_error(
    conflicts: &[Conflict],
    group: &str,
    plural: &str,
    name: &str,
) -> ApiError {
    let n = conflicts.len();
    let mut by_manager: Vec<(String, Vec<&Conflict>)> = Vec::new();
    for c in conflicts {
        let who = if c.api_version.is_empty() {
            format!("\"{}\"", c.manager)
        } else {
            format!("\"{}\" using {}", c.manager, c.api_version)
        };
        match by_manager.iter_mut().find(|(w, _)| *w == who) {
            Some((_, list)) => list.push(c),
            None => by_manager.push((who, vec![c])),
        }
    }
    let body = if n == 1 {
        format!(
            "conflict with {}: {}",
            by_manager[0].0,
            fields::render(&conflicts[0].path)
        )
    } else {
        by_manager
            .iter()
            .map(|(who, list)| {
                let lines: Vec<String> = list
                    .iter()
                    .map(|c| format!("- {}", fields::render(&c.path)))
                    .collect();
                format!("conflicts with {who}:\n{}", lines.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let message = format!(
        "Apply failed with {n} conflict{}: {body}",
        if n == 1 { "" } else { "s" }
    );
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|c| Cause {
            reason: "FieldManagerConflict".into(),
            message: if c.api_version.is_empty() {
                format!("conflict with \"{}\"", c.manager)
            } else {
                format!("conflict with \"{}\" using {}", c.manager, c.api_version)
            },
            field: fields::render(&c.path),
        })
        .collect();
    let mut d = json!({
        "name": name,
        "kind": plural,
        "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
    });
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    ApiError {
        code: 409,
        reason: "Conflict".into(),
        message,
        details: Some(Box::new(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Schema<'static> = Schema {
        group: "apps",
        kind: "Deployment",
        custom: None,
    };
    const MAIN: Scope = Scope::Main { with_status: false };

    fn w<'a>(m: &'a str) -> Writer<'a> {
        Writer {
            manager: m,
            api_version: "apps/v1",
            subresource: None,
            now: "2026-01-01T00:00:00Z",
        }
    }

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
    }

    #[test]
    fn apply_owns_conflicts_and_forces() {
        let live =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let a = apply(&live, &deploy(1, "x"), &S, MAIN, &w("alice"), false).unwrap();
        assert_eq!(a["spec"]["replicas"], 1);
        // Same values: shared, no conflict.
        let b = apply(&a, &deploy(1, "x"), &S, MAIN, &w("bob"), false).unwrap();
        assert_eq!(fields::read_entries(&b).len(), 2);
        // Different value: conflict naming alice.
        let err = apply(&b, &deploy(3, "x"), &S, MAIN, &w("carol"), false).unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}"); // alice and bob both own replicas
        let e = conflict_error(&err, "apps", "deployments", "web");
        assert!(
            e.message.contains("conflicts with \"alice\" using apps/v1"),
            "{}",
            e.message
        );
        // Forced: carol takes replicas from both.
        let c = apply(&b, &deploy(3, "x"), &S, MAIN, &w("carol"), true).unwrap();
        assert_eq!(c["spec"]["replicas"], 3);
        let alice = fields::read_entries(&c)
            .into_iter()
            .find(|e| e.manager == "alice")
            .unwrap();
        assert!(
            !alice
                .fields
                .contains(&vec!["f:spec".to_string(), "f:replicas".to_string()])
        );
    }

    #[test]
    fn dropped_fields_are_removed_unless_shared() {
        let live =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let mut with_label = deploy(1, "x");
        with_label["metadata"]["labels"] = json!({"a": "1"});
        let a = apply(&live, &with_label, &S, MAIN, &w("alice"), false).unwrap();
        let b = apply(&a, &deploy(1, "x"), &S, MAIN, &w("alice"), false).unwrap();
        assert!(b["metadata"].get("labels").is_none(), "{b}");
        // A second container dropped from the applied config goes away too.
        let mut two = deploy(1, "x");
        two["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "side", "image": "y"}));
        let c = apply(&b, &two, &S, MAIN, &w("alice"), false).unwrap();
        assert_eq!(
            c["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let d = apply(&c, &deploy(1, "x"), &S, MAIN, &w("alice"), false).unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn updates_steal_ownership() {
        let live =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let a = apply(&live, &deploy(1, "x"), &S, MAIN, &w("alice"), false).unwrap();
        let mut b = a.clone();
        b["spec"]["replicas"] = json!(5);
        record_update(Some(&a), &mut b, &S, MAIN, &w("kubectl-scale"));
        let es = fields::read_entries(&b);
        let scale = es.iter().find(|e| e.manager == "kubectl-scale").unwrap();
        assert_eq!(scale.fields.len(), 1);
        // Alice re-applying 1 now conflicts with the scaler.
        let err = apply(&b, &deploy(1, "x"), &S, MAIN, &w("alice"), false).unwrap_err();
        assert_eq!(err[0].manager, "kubectl-scale");
    }
}
