//! Label and field selectors with the syntax and semantics of
//! `k8s.io/apimachinery/pkg/labels` (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`,
//! `!a`) and `pkg/fields` (`path=value`, `path!=value`), plus `metav1.LabelSelector` objects
//! (`matchLabels` + `matchExpressions`) as workload selectors carry them.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed label selector: all requirements must hold. Empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' => {
                depth += 1;
                cur.push(ch);
            }
            ')' => {
                depth -= 1;
                cur.push(ch);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set, found '{rest}'"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in split_terms(s) {
            if let Some(key) = term.strip_prefix('!') {
                reqs.push(Requirement {
                    key: key.trim().to_string(),
                    op: Op::DoesNotExist,
                    values: vec![],
                });
                continue;
            }
            if let Some((k, v)) = term.split_once("!=") {
                reqs.push(Requirement {
                    key: k.trim().to_string(),
                    op: Op::NotEq,
                    values: vec![v.trim().to_string()],
                });
                continue;
            }
            if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                reqs.push(Requirement {
                    key: k.trim().to_string(),
                    op: Op::Eq,
                    values: vec![v.trim().to_string()],
                });
                continue;
            }
            let words: Vec<&str> = term.splitn(2, char::is_whitespace).collect();
            if words.len() == 2 {
                let rest = words[1].trim_start();
                if let Some(set) = rest.strip_prefix("notin") {
                    reqs.push(Requirement {
                        key: words[0].to_string(),
                        op: Op::NotIn,
                        values: parse_set(set)?,
                    });
                    continue;
                }
                if let Some(set) = rest.strip_prefix("in") {
                    reqs.push(Requirement {
                        key: words[0].to_string(),
                        op: Op::In,
                        values: parse_set(set)?,
                    });
                    continue;
                }
                return Err(format!("unable to parse requirement: '{term}'"));
            }
            if term.contains('(') || term.contains(')') {
                return Err(format!("unable to parse requirement: '{term}'"));
            }
            reqs.push(Requirement {
                key: term.clone(),
                op: Op::Exists,
                values: vec![],
            });
        }
        for r in &reqs {
            if r.key.is_empty() {
                return Err("invalid label key: empty".into());
            }
        }
        Ok(LabelSelector { reqs })
    }

    /// Builds a selector from a `metav1.LabelSelector` object. `None` (no selector object)
    /// matches nothing, as `LabelSelectorAsSelector(nil)` does; `{}` matches everything.
    pub fn from_object(sel: Option<&Value>) -> Result<Option<Self>, String> {
        let Some(sel) = sel.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let mut reqs = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                reqs.push(Requirement {
                    key: k.clone(),
                    op: Op::Eq,
                    values: vec![v.as_str().unwrap_or_default().to_string()],
                });
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => Op::In,
                    Some("NotIn") => Op::NotIn,
                    Some("Exists") => Op::Exists,
                    Some("DoesNotExist") => Op::DoesNotExist,
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                };
                reqs.push(Requirement { key, op, values });
            }
        }
        Ok(Some(LabelSelector { reqs }))
    }

    /// True when there are no requirements.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether `labels` (a JSON object, or absent) satisfies every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r.op {
            Op::Eq => get(&r.key) == Some(r.values[0].as_str()),
            Op::NotEq => get(&r.key) != Some(r.values[0].as_str()),
            Op::In => get(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
            Op::NotIn => get(&r.key).is_none_or(|v| !r.values.iter().any(|x| x == v)),
            Op::Exists => get(&r.key).is_some(),
            Op::DoesNotExist => get(&r.key).is_none(),
        })
    }

    /// Whether an object's `metadata.labels` satisfies the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }
}

/// A parsed field selector: `path=value` / `path!=value` terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses `fieldSelector`; `supported` lists the field labels this resource accepts
    /// (`metadata.name` and `metadata.namespace` always), as the apiserver's per-type
    /// field-label conversion funcs do.
    pub fn parse(s: &str, supported: &[&str]) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in split_terms(s) {
            let (k, neg, v) = if let Some((k, v)) = term.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, false, v)
            } else {
                return Err(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                ));
            };
            let k = k.trim();
            if k != "metadata.name" && k != "metadata.namespace" && !supported.contains(&k) {
                return Err(format!("field label not supported: {k}"));
            }
            terms.push((k.to_string(), neg, v.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    /// Whether the object satisfies every term (a missing field reads as "").
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(path, neg, want)| {
            let mut cur = Some(obj);
            for part in path.split('.') {
                cur = cur.and_then(|c| c.get(part));
            }
            let got = match cur {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            (got == *want) != *neg
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn label_syntax() {
        let l = labels(json!({"app": "web", "tier": "front"}));
        let ok = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&l));
        assert!(ok("app=web"));
        assert!(ok("app==web,tier"));
        assert!(!ok("app!=web"));
        assert!(ok("app in (web, api)"));
        assert!(!ok("app notin (web)"));
        assert!(ok("!missing"));
        assert!(!ok("missing"));
        assert!(ok(""));
        assert!(LabelSelector::parse("app in web").is_err());
    }

    #[test]
    fn label_selector_objects() {
        let sel = LabelSelector::from_object(Some(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]
        })))
        .unwrap()
        .unwrap();
        assert!(sel.matches(Some(&labels(json!({"app": "web", "tier": "front"})))));
        assert!(!sel.matches(Some(&labels(json!({"app": "web"})))));
        assert!(LabelSelector::from_object(None).unwrap().is_none());
    }

    #[test]
    fn field_selectors() {
        let pod =
            json!({"metadata": {"name": "a", "namespace": "n"}, "status": {"phase": "Running"}});
        let f = FieldSelector::parse("metadata.name=a,status.phase!=Failed", &["status.phase"])
            .unwrap();
        assert!(f.matches(&pod));
        assert!(
            FieldSelector::parse("spec.foo=1", &[])
                .unwrap_err()
                .contains("not supported")
        );
    }
}
