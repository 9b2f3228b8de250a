//! The three non-apply patch types kube-apiserver accepts: JSON merge patch (RFC 7386),
//! strategic merge patch (lists with a patch merge key merge by key, `$patch: delete|replace`,
//! `$retainKeys`; the `$setElementOrder` directives are accepted and ignored), and JSON patch
//! (RFC 6902, with `test`).

use serde_json::{Map, Value};

use crate::fields::item_key;
use crate::schema::{Schema, Shape};

/// RFC 7386.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(pm) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Some(tm) = target.as_object_mut() {
        for (k, v) in pm {
            if v.is_null() {
                tm.remove(k);
            } else {
                merge_patch(tm.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Strategic merge patch of `patch` into `target` (the object root).
pub(crate) fn strategic(target: &mut Value, patch: &Value, schema: &Schema) {
    let mut names = Vec::new();
    strategic_at(target, patch, schema, &mut names);
}

fn strategic_at<'a>(
    target: &mut Value,
    patch: &'a Value,
    schema: &Schema,
    names: &mut Vec<&'a str>,
) {
    let Value::Object(pm) = patch else {
        *target = patch.clone();
        return;
    };
    match pm.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut clean = pm.clone();
            strip_directives(&mut clean);
            *target = Value::Object(clean);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let retain: Option<Vec<String>> = pm.get("$retainKeys").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    });
    let Some(tm) = target.as_object_mut() else {
        return;
    };
    if let Some(keep) = retain {
        tm.retain(|k, _| keep.contains(k));
    }
    for (k, v) in pm {
        if k.starts_with('$') {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (tm.get_mut(field), v.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            tm.remove(k);
            continue;
        }
        names.push(k.as_str());
        let slot = tm.entry(k.clone()).or_insert(Value::Null);
        match (schema.shape(names, v), v) {
            (Shape::Assoc(keys), Value::Array(items)) => {
                if !slot.is_array() {
                    *slot = Value::Array(vec![]);
                }
                if let Some(arr) = slot.as_array_mut() {
                    for item in items {
                        let key = item_key(item, &keys);
                        let pos = arr.iter().position(|d| item_key(d, &keys) == key);
                        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                        match (pos, delete) {
                            (Some(i), true) => {
                                arr.remove(i);
                            }
                            (None, true) => {}
                            (Some(i), false) => strategic_at(&mut arr[i], item, schema, names),
                            (None, false) => {
                                let mut clean = item.clone();
                                if let Some(m) = clean.as_object_mut() {
                                    strip_directives(m);
                                }
                                arr.push(clean);
                            }
                        }
                    }
                }
            }
            (Shape::Set, Value::Array(items)) => {
                if !slot.is_array() {
                    *slot = Value::Array(vec![]);
                }
                if let Some(arr) = slot.as_array_mut() {
                    for item in items {
                        if !arr.contains(item) {
                            arr.push(item.clone());
                        }
                    }
                }
            }
            (Shape::Granular, Value::Object(_)) => {
                strategic_at(slot, v, schema, names);
                if slot.is_null() {
                    tm.remove(k);
                }
            }
            _ => *slot = v.clone(),
        }
        names.pop();
    }
}

fn strip_directives(m: &mut Map<String, Value>) {
    m.retain(|k, _| !k.starts_with('$'));
}

/// Applies an RFC 6902 JSON patch; the error is the message kube-apiserver would give.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("the JSON patch must be an array of operations")?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).ok_or("missing op")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("missing path")?;
        match kind {
            "add" => add(target, path, value_of(op)?.clone())?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, value_of(op)?.clone())?;
            }
            "move" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("missing from")?;
                let v = remove(target, from)?;
                add(target, path, v)?;
            }
            "copy" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("missing from")?;
                let v = target
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("copy from {from}: missing value"))?;
                add(target, path, v)?;
            }
            "test" => {
                if target.pointer(path) != Some(value_of(op)?) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(())
}

fn value_of(op: &Value) -> Result<&Value, String> {
    op.get("value").ok_or_else(|| "missing value".to_string())
}

fn split(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid JSON pointer: {path}"))?;
    Ok((
        parent.to_string(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn add(target: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = v;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    let p = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("add operation does not apply: doc is missing path: \"{path}\""))?;
    match p {
        Value::Object(m) => {
            m.insert(last, v);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| format!("invalid index {last}"))?;
            if i > a.len() {
                return Err(format!(
                    "add operation does not apply: index {i} out of bounds"
                ));
            }
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!(
            "add operation does not apply: doc is missing path: \"{path}\""
        )),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\"");
    match target.pointer_mut(&parent).ok_or_else(missing)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i >= a.len() {
                return Err(missing());
            }
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 4}, "e": [1]}));
        assert_eq!(t, json!({"b": {"c": 4, "d": 3}, "e": [1]}));
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let s = Schema {
            group: "apps",
            kind: "Deployment",
            custom: None,
        };
        let mut t = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}}});
        strategic(
            &mut t,
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "9"}, {"name": "b", "$patch": "delete"}, {"name": "c", "image": "3"}]}}}}),
            &s,
        );
        assert_eq!(
            t["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "9"}, {"name": "c", "image": "3"}])
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        json_patch(
            &mut t,
            &json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "test", "path": "/list/0", "value": 1},
            ]),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"metadata": {"labels": {"b": "2"}}, "list": [1, 2, 3]})
        );
        assert!(
            json_patch(
                &mut t,
                &json!([{"op": "test", "path": "/list/0", "value": 5}])
            )
            .is_err()
        );
    }
}
