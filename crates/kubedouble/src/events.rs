//! core/v1 Events as client-go's event recorder writes them for the kubelet, the scheduler
//! and the controllers: named `<object>.<hex nanos>`, in the object's namespace, with
//! `involvedObject`, `source`, `reportingComponent`, first/last timestamps, and the
//! correlator's aggregation (a repeat of the same reason and message bumps `count` and
//! `lastTimestamp` instead of adding an event).

use serde_json::{Value, json};

use crate::store::{Store, WriteCtx, meta_str};
use crate::time;

/// The host name the double's node reports.
pub(crate) const NODE: &str = "lilt-kubedouble";

/// Who reports.
#[derive(Clone, Copy)]
pub(crate) struct Source {
    pub component: &'static str,
    pub host: bool,
}

pub(crate) const KUBELET: Source = Source {
    component: "kubelet",
    host: true,
};
pub(crate) const SCHEDULER: Source = Source {
    component: "default-scheduler",
    host: false,
};
pub(crate) const DEPLOYMENT: Source = Source {
    component: "deployment-controller",
    host: false,
};
pub(crate) const REPLICASET: Source = Source {
    component: "replicaset-controller",
    host: false,
};
pub(crate) const JOB: Source = Source {
    component: "job-controller",
    host: false,
};

/// Records an event about `obj` (a stored object with apiVersion/kind/metadata).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    store: &Store,
    obj: &Value,
    field_path: Option<&str>,
    ty: &str,
    reason: &str,
    message: &str,
    source: Source,
) {
    let Some(rt) = store.resource("", "v1", "events") else {
        return;
    };
    let ns = meta_str(obj, "namespace")
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_string();
    let uid = meta_str(obj, "uid").unwrap_or_default().to_string();
    let now = time::now_rfc3339();
    let existing = store.all(&rt, Some(&ns)).into_iter().find(|e| {
        e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid.as_str())
            && e["reason"] == reason
            && e["message"] == message
            && e.pointer("/source/component").and_then(Value::as_str) == Some(source.component)
            && e.pointer("/involvedObject/fieldPath")
                .and_then(Value::as_str)
                == field_path
    });
    let ctx = WriteCtx::manager(source.component);
    if let Some(e) = existing {
        let name = meta_str(&e, "name").unwrap_or_default().to_string();
        let _ = store.mutate(&rt, &ns, &name, &ctx, |ev| {
            let count = ev.get("count").and_then(Value::as_i64).unwrap_or(1);
            ev["count"] = json!(count + 1);
            ev["lastTimestamp"] = json!(now);
        });
        return;
    }
    let mut involved = json!({
        "kind": obj.get("kind").cloned().unwrap_or(Value::Null),
        "namespace": meta_str(obj, "namespace"),
        "name": meta_str(obj, "name"),
        "uid": uid,
        "apiVersion": obj.get("apiVersion").cloned().unwrap_or(Value::Null),
        "resourceVersion": meta_str(obj, "resourceVersion"),
    });
    if let Some(fp) = field_path {
        involved["fieldPath"] = json!(fp);
    }
    let mut src = json!({"component": source.component});
    if source.host {
        src["host"] = json!(NODE);
    }
    let name = format!(
        "{}.{:x}",
        meta_str(obj, "name").unwrap_or("object"),
        time::now_nanos()
    );
    let ev = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": src,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": ty,
        "eventTime": null,
        "reportingComponent": source.component,
        "reportingInstance": if source.host { NODE } else { "" },
    });
    let _ = store.create(&rt, "v1", &ns, ev, &ctx);
}
