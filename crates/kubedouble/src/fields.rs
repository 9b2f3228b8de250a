//! Field sets and `metadata.managedFields`, as structured-merge-diff (the library behind
//! kube-apiserver's server-side apply) models them: a set of paths whose elements are `f:name`
//! (a field), `k:{"name":"app"}` (an associative-list item by key), `v:"x"` (a set member) and
//! `i:0` (an index), serialized as the nested `fieldsV1` object with `.` marking a member
//! that also has members below it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::schema::{Schema, Shape, key_default};

/// One path element per entry: `f:spec`, `k:{...}`, `v:...`, `i:N`.
pub(crate) type Path = Vec<String>;
/// A set of owned paths.
pub(crate) type FieldSet = BTreeSet<Path>;

/// Metadata fields the server owns; never part of a field set.
const SYSTEM_META: [&str; 10] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Which part of an object a write touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource; `status` included only for kinds without a status subresource.
    Main { with_status: bool },
    /// The `/status` subresource: `status` only.
    Status,
}

/// The key of an associative-list item, as SMD serializes it: the key fields sorted, JSON values.
pub(crate) fn item_key(item: &Value, keys: &[String]) -> String {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let parts: Vec<String> = sorted
        .iter()
        .map(|k| {
            let v = item
                .get(k.as_str())
                .cloned()
                .or_else(|| key_default(k))
                .unwrap_or(Value::Null);
            format!("{}:{}", Value::String((*k).clone()), v)
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn item_matches(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter().all(|(k, want)| {
        let got = item.get(k).cloned().or_else(|| key_default(k));
        got.as_ref() == Some(want)
    })
}

/// The field set of `obj` (the whole object, or its status).
pub(crate) fn collect(obj: &Value, schema: &Schema, scope: Scope) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if scope == Scope::Status {
                    continue;
                }
                if let Some(meta) = v.as_object() {
                    for (mk, mv) in meta {
                        if SYSTEM_META.contains(&mk.as_str()) || mv.is_null() {
                            continue;
                        }
                        let mut names = vec!["metadata", mk.as_str()];
                        let mut prefix = vec!["f:metadata".to_string(), format!("f:{mk}")];
                        walk(mv, schema, &mut names, &mut prefix, &mut out);
                    }
                }
            }
            "status" => {
                let include = match scope {
                    Scope::Status => true,
                    Scope::Main { with_status } => with_status,
                };
                if include && !v.is_null() {
                    walk(
                        v,
                        schema,
                        &mut vec!["status"],
                        &mut vec!["f:status".into()],
                        &mut out,
                    );
                }
            }
            _ => {
                if scope != Scope::Status && !v.is_null() {
                    walk(
                        v,
                        schema,
                        &mut vec![k.as_str()],
                        &mut vec![format!("f:{k}")],
                        &mut out,
                    );
                }
            }
        }
    }
    out
}

fn walk<'a>(
    v: &'a Value,
    schema: &Schema,
    names: &mut Vec<&'a str>,
    prefix: &mut Path,
    out: &mut FieldSet,
) {
    match (schema.shape(names, v), v) {
        (Shape::Granular, Value::Object(m)) if !m.is_empty() => {
            for (k, child) in m {
                if child.is_null() {
                    continue;
                }
                names.push(k.as_str());
                prefix.push(format!("f:{k}"));
                walk(child, schema, names, prefix, out);
                prefix.pop();
                names.pop();
            }
        }
        (Shape::Assoc(keys), Value::Array(items)) => {
            for item in items {
                prefix.push(format!("k:{}", item_key(item, &keys)));
                out.insert(prefix.clone());
                if let Some(m) = item.as_object() {
                    for (k, child) in m {
                        if child.is_null() {
                            continue;
                        }
                        names.push(k.as_str());
                        prefix.push(format!("f:{k}"));
                        walk(child, schema, names, prefix, out);
                        prefix.pop();
                        names.pop();
                    }
                }
                prefix.pop();
            }
            if items.is_empty() {
                out.insert(prefix.clone());
            }
        }
        (Shape::Set, Value::Array(items)) => {
            for item in items {
                prefix.push(format!("v:{item}"));
                out.insert(prefix.clone());
                prefix.pop();
            }
            if items.is_empty() {
                out.insert(prefix.clone());
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// The value at a path, if present.
pub(crate) fn get_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for pe in path {
        cur = step(cur, pe)?;
    }
    Some(cur)
}

fn step<'a>(cur: &'a Value, pe: &str) -> Option<&'a Value> {
    if let Some(f) = pe.strip_prefix("f:") {
        return cur.get(f);
    }
    let items = cur.as_array()?;
    if let Some(k) = pe.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        return items.iter().find(|i| item_matches(i, &key));
    }
    if let Some(v) = pe.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return items.iter().find(|i| **i == want);
    }
    if let Some(i) = pe.strip_prefix("i:") {
        return items.get(i.parse::<usize>().ok()?);
    }
    None
}

fn step_mut<'a>(cur: &'a mut Value, pe: &str) -> Option<&'a mut Value> {
    if let Some(f) = pe.strip_prefix("f:") {
        return cur.get_mut(f);
    }
    let items = cur.as_array_mut()?;
    if let Some(k) = pe.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        return items.iter_mut().find(|i| item_matches(i, &key));
    }
    if let Some(v) = pe.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return items.iter_mut().find(|i| **i == want);
    }
    if let Some(i) = pe.strip_prefix("i:") {
        return items.get_mut(i.parse::<usize>().ok()?);
    }
    None
}

/// Removes the value at a path; then removes maps left empty along it (but never
/// `metadata`), so dropping one's last label does not leave `labels: {}` behind.
pub(crate) fn remove_at(obj: &mut Value, path: &[String]) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let removed = match navigate_mut(obj, parent_path) {
        Some(parent) => remove_child(parent, last),
        None => false,
    };
    if removed && parent_path.len() > 1 && get_at(obj, parent_path).is_some_and(is_empty_map) {
        remove_at(obj, parent_path);
    }
    removed
}

fn navigate_mut<'a>(obj: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for pe in path {
        cur = step_mut(cur, pe)?;
    }
    Some(cur)
}

fn is_empty_map(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

fn remove_child(parent: &mut Value, pe: &str) -> bool {
    if let Some(f) = pe.strip_prefix("f:") {
        return parent
            .as_object_mut()
            .is_some_and(|m| m.remove(f).is_some());
    }
    let Some(items) = parent.as_array_mut() else {
        return false;
    };
    let before = items.len();
    if let Some(k) = pe.strip_prefix("k:") {
        if let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) {
            items.retain(|i| !item_matches(i, &key));
        }
    } else if let Some(v) = pe.strip_prefix("v:") {
        if let Ok(want) = serde_json::from_str::<Value>(v) {
            items.retain(|i| *i != want);
        }
    } else if let Some(i) = pe.strip_prefix("i:")
        && let Ok(i) = i.parse::<usize>()
        && i < items.len()
    {
        items.remove(i);
    }
    items.len() != before
}

/// A path as conflict messages print it: `.spec.template.spec.containers[name="app"].image`.
pub(crate) fn render(path: &[String]) -> String {
    let mut out = String::new();
    for pe in path {
        if let Some(f) = pe.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = pe.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = pe.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else if let Some(i) = pe.strip_prefix("i:") {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<String, Node>,
}

/// A field set as the `fieldsV1` object.
pub(crate) fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut n = &mut root;
        for pe in path {
            n = n.children.entry(pe.clone()).or_default();
        }
        n.member = true;
    }
    fn ser(n: &Node) -> Value {
        let mut m = Map::new();
        if n.member && !n.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &n.children {
            m.insert(k.clone(), ser(c));
        }
        Value::Object(m)
    }
    ser(&root)
}

/// A `fieldsV1` object as a field set.
pub(crate) fn from_fields_v1(v: &Value) -> FieldSet {
    fn walk(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        for (k, child) in m {
            if k == "." {
                out.insert(prefix.clone());
                continue;
            }
            prefix.push(k.clone());
            if child.as_object().is_none_or(Map::is_empty) {
                out.insert(prefix.clone());
            } else {
                walk(child, prefix, out);
            }
            prefix.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl Entry {
    pub fn same_slot(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }
}

/// Reads `metadata.managedFields`.
pub(crate) fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Entry {
                manager: s("manager")?,
                operation: s("operation").unwrap_or_else(|| "Update".into()),
                api_version: s("apiVersion").unwrap_or_default(),
                time: s("time"),
                subresource: s("subresource"),
                fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
            })
        })
        .collect()
}

/// Writes `metadata.managedFields` (empty entries dropped; the key removed when none remain).
pub(crate) fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
            });
            if let Some(t) = &e.time {
                v["time"] = json!(t);
            }
            v["fieldsType"] = json!("FieldsV1");
            v["fieldsV1"] = to_fields_v1(&e.fields);
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy_schema() -> Schema<'static> {
        Schema {
            group: "apps",
            kind: "Deployment",
            custom: None,
        }
    }

    #[test]
    fn collects_like_smd() {
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "x", "ports": [{"containerPort": 80}]}]}}},
            "status": {"replicas": 2},
        });
        let set = collect(&d, &deploy_schema(), Scope::Main { with_status: false });
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1,
            json!({"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:selector": {},
                  "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                     ".": {}, "f:image": {}, "f:name": {},
                     "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}})
        );
        assert_eq!(from_fields_v1(&v1), set);
        let img: Path = vec![
            "f:spec".into(),
            "f:template".into(),
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"app\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(get_at(&d, &img), Some(&json!("x")));
        assert_eq!(
            render(&img),
            ".spec.template.spec.containers[name=\"app\"].image"
        );
    }

    #[test]
    fn removes_and_prunes_empty_maps() {
        let mut o = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": {"y": 1}}});
        assert!(remove_at(
            &mut o,
            &["f:spec".into(), "f:x".into(), "f:y".into()]
        ));
        assert_eq!(o, json!({"metadata": {"labels": {"a": "1"}}, "spec": {}}));
        assert!(remove_at(
            &mut o,
            &["f:metadata".into(), "f:labels".into(), "f:a".into()]
        ));
        assert_eq!(o["metadata"], json!({}));
    }
}
