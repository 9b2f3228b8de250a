//! Per-kind behaviour of the registry strategies in `pkg/registry/*`: what a create prepares
//! (Namespace finalizers and metadata label, Service clusterIP allocation, Job selector and
//! labels, Secret `stringData`), the defaults of `pkg/apis/*/v1/defaults.go` for the fields
//! workloads use, validation (`pkg/apis/*/validation`) including the immutable fields client
//! code meets (Deployment/Job selector, Job template, Service clusterIP, immutable
//! ConfigMaps/Secrets, Pod spec), and what bumps `metadata.generation`.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::resources::ResourceType;
use crate::selector::LabelSelector;
use crate::status::{self, ApiError, Cause};

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
/// `TotalAnnotationSizeLimitB` in apimachinery's validation.
pub(crate) const ANNOTATIONS_LIMIT: usize = 256 * 1024;

pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// Where PodSpecs sit in this kind, as JSON pointers.
pub(crate) fn pod_spec_pointer(rt: &ResourceType) -> Option<&'static str> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") | ("batch", "Job") => {
            Some("/spec/template/spec")
        }
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The field path prefix (for messages) of the pod spec pointer.
fn spec_field(ptr: &str) -> String {
    ptr.trim_start_matches('/').replace('/', ".")
}

fn set_default(m: &mut Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.to_string(), v);
    }
}

/// `SetDefaults_Container`'s pull policy: Always for `:latest` or no tag, else IfNotPresent.
pub(crate) fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    set_default(m, "restartPolicy", json!("Always"));
    set_default(m, "dnsPolicy", json!("ClusterFirst"));
    set_default(m, "schedulerName", json!("default-scheduler"));
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    set_default(m, "securityContext", json!({}));
    set_default(m, "enableServiceLinks", json!(true));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                let Some(cm) = c.as_object_mut() else {
                    continue;
                };
                let image = cm
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                set_default(cm, "imagePullPolicy", json!(default_pull_policy(&image)));
                set_default(cm, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(cm, "terminationMessagePolicy", json!("File"));
                set_default(cm, "resources", json!({}));
                if let Some(ports) = cm.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        if let Some(pm) = p.as_object_mut() {
                            set_default(pm, "protocol", json!("TCP"));
                        }
                    }
                }
            }
        }
    }
}

/// Applies the defaults of this kind (idempotent).
pub(crate) fn defaults(rt: &ResourceType, obj: &mut Value) {
    if let Some(ptr) = pod_spec_pointer(rt)
        && let Some(spec) = obj.pointer_mut(ptr)
    {
        default_pod_spec(spec);
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        if rt.kind == "Secret"
            && let Some(m) = obj.as_object_mut()
        {
            set_default(m, "type", json!("Opaque"));
        }
        return;
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
            if let Some(st) = spec.get_mut("strategy").and_then(Value::as_object_mut) {
                set_default(st, "type", json!("RollingUpdate"));
                if st.get("type") == Some(&json!("RollingUpdate")) {
                    set_default(st, "rollingUpdate", json!({}));
                    if let Some(ru) = st.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
                        set_default(ru, "maxSurge", json!("25%"));
                        set_default(ru, "maxUnavailable", json!("25%"));
                    }
                }
            }
        }
        ("apps", "ReplicaSet") => set_default(spec, "replicas", json!(1)),
        ("apps", "StatefulSet") => {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
        }
        ("apps", "DaemonSet") => {
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
            );
        }
        ("batch", "Job") => {
            if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
                spec.insert("completions".into(), json!(1));
            }
            set_default(spec, "parallelism", json!(1));
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completionMode", json!("NonIndexed"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
        }
        ("batch", "CronJob") => {
            set_default(spec, "concurrencyPolicy", json!("Allow"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
        }
        ("", "Service") => {
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            if spec.get("type") != Some(&json!("ExternalName")) {
                set_default(spec, "ipFamilies", json!(["IPv4"]));
                set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if let Some(pm) = p.as_object_mut() {
                        set_default(pm, "protocol", json!("TCP"));
                        if let Some(port) = pm.get("port").cloned() {
                            set_default(pm, "targetPort", port);
                        }
                    }
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            set_default(spec, "conversion", json!({"strategy": "None"}));
        }
        _ => {}
    }
}

/// What a create prepares besides defaults (`PrepareForCreate` and admission).
pub(crate) fn prepare_create(rt: &ResourceType, obj: &mut Value, next_ip: &mut u32) {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "Pod") => {
            // The ServiceAccount admission plugin.
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                set_default(spec, "serviceAccountName", json!("default"));
                let sa = spec.get("serviceAccountName").cloned().unwrap_or_default();
                spec.insert("serviceAccount".into(), sa);
                set_default(spec, "priority", json!(0));
                set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
            }
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        ("", "Service") => {
            let spec = &mut obj["spec"];
            let external = spec.get("type") == Some(&json!("ExternalName"));
            let headless = spec.get("clusterIP") == Some(&json!("None"));
            if !external && !headless && spec.get("clusterIP").is_none_or(Value::is_null) {
                // A fake ClusterIP from 10.96.0.0/12; nothing listens there.
                *next_ip += 1;
                let ip = format!("10.96.{}.{}", (*next_ip >> 8) & 0xff, *next_ip & 0xff);
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            } else if headless {
                spec["clusterIPs"] = json!(["None"]);
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        ("batch", "Job") => {
            let uid = obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
            let name = obj
                .pointer("/metadata/name")
                .cloned()
                .unwrap_or(Value::Null);
            let manual = obj.pointer("/spec/manualSelector") == Some(&json!(true));
            if !manual && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert(
                    "selector".into(),
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
                );
                let tmpl = spec.entry("template").or_insert(json!({}));
                let meta = tmpl
                    .as_object_mut()
                    .map(|t| t.entry("metadata").or_insert(json!({})));
                if let Some(meta) = meta.and_then(Value::as_object_mut) {
                    let labels = meta.entry("labels").or_insert(json!({}));
                    if let Some(l) = labels.as_object_mut() {
                        l.insert("batch.kubernetes.io/controller-uid".into(), uid.clone());
                        l.insert("batch.kubernetes.io/job-name".into(), name.clone());
                        l.insert("controller-uid".into(), uid);
                        l.insert("job-name".into(), name);
                    }
                }
            }
            obj["status"] = json!({});
        }
        _ if rt.has_status() => {
            obj["status"] = json!({});
        }
        _ => {}
    }
}

/// What every write prepares: Secret `stringData` folded into `data`, and the Namespace
/// name label (`kubernetes.io/metadata.name`, kept by the NamespaceDefaultLabelName feature).
pub(crate) fn prepare_write(rt: &ResourceType, obj: &mut Value) {
    match rt.kind.as_str() {
        "Secret" if rt.group.is_empty() => {
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                let data = obj
                    .as_object_mut()
                    .map(|m| m.entry("data").or_insert(json!({})));
                if let Some(Value::Object(d)) = data {
                    for (k, v) in sd {
                        let s = v.as_str().unwrap_or_default();
                        d.insert(
                            k,
                            json!(base64::engine::general_purpose::STANDARD.encode(s)),
                        );
                    }
                }
            }
        }
        "Namespace" if rt.group.is_empty() => {
            let name = obj
                .pointer("/metadata/name")
                .cloned()
                .unwrap_or(Value::Null);
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                let labels = meta.entry("labels").or_insert(json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), name);
                }
            }
        }
        _ => {}
    }
}

/// What an update carries over from the old object (`patchAllocatedValues` for Services).
pub(crate) fn prepare_update(rt: &ResourceType, old: &Value, new: &mut Value) {
    if rt.group.is_empty() && rt.kind == "Service" {
        for k in ["clusterIP", "clusterIPs"] {
            if new
                .pointer(&format!("/spec/{k}"))
                .is_none_or(Value::is_null)
                && let Some(v) = old.pointer(&format!("/spec/{k}")).cloned()
                && let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.insert(k.into(), v);
            }
        }
    }
    if rt.group.is_empty() && rt.kind == "Namespace" {
        // spec.finalizers only changes through the finalize subresource.
        if let Some(f) = old.pointer("/spec/finalizers").cloned() {
            new["spec"] = json!({"finalizers": f});
        }
    }
}

/// Whether `metadata.generation` must be bumped: anything but metadata and status changed.
pub(crate) fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
            m.remove("apiVersion");
            m.remove("kind");
        }
        v
    };
    strip(old) != strip(new)
}

fn name_causes(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = obj.pointer("/metadata/name").and_then(Value::as_str);
    match name {
        None | Some("") => causes.push(status::required(
            "metadata.name",
            "name or generateName is required",
        )),
        Some(n) => {
            let label = matches!(rt.kind.as_str(), "Namespace" | "Service") && rt.group.is_empty();
            if rt.kind == "Event" || rt.custom && is_dns_subdomain(n) {
                // Events and custom resources take any path-segment name.
            } else if label && !is_dns_label(n) {
                causes.push(status::invalid_value(
                    "metadata.name",
                    &json!(n),
                    DNS1123_LABEL_MSG,
                ));
            } else if !label && !is_dns_subdomain(n) && !rt.custom {
                causes.push(status::invalid_value(
                    "metadata.name",
                    &json!(n),
                    DNS1123_SUBDOMAIN_MSG,
                ));
            }
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !is_qualified_name(k) {
                causes.push(status::invalid_value("metadata.labels", &json!(k), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
            }
            match v.as_str() {
                Some(s) if is_label_value(s) => {}
                _ => causes.push(status::invalid_value("metadata.labels", v, LABEL_VALUE_MSG)),
            }
        }
    }
    if let Some(ann) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let size: usize = ann
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if size > ANNOTATIONS_LIMIT {
            causes.push(status::too_long("metadata.annotations", ANNOTATIONS_LIMIT));
        }
    }
    causes
}

fn pod_spec_causes(spec: &Value, field: &str, allowed_restart: &[&str]) -> Vec<Cause> {
    let mut causes = Vec::new();
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => causes.push(status::required(&format!("{field}.containers"), "")),
        Some(cs) if cs.is_empty() => {
            causes.push(status::required(&format!("{field}.containers"), ""))
        }
        _ => {}
    }
    for list in ["initContainers", "containers"] {
        let mut seen = Vec::new();
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{field}.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => causes.push(status::required(&format!("{at}.name"), "")),
                Some(n) => {
                    if !is_dns_label(n) {
                        causes.push(status::invalid_value(
                            &format!("{at}.name"),
                            &json!(n),
                            DNS1123_LABEL_MSG,
                        ));
                    }
                    if seen.contains(&n) {
                        causes.push(status::duplicate(&format!("{at}.name"), &json!(n)));
                    }
                    seen.push(n);
                }
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(status::required(&format!("{at}.image"), ""));
            }
            for (j, p) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let port = p.get("containerPort").and_then(Value::as_i64).unwrap_or(0);
                if !(1..=65535).contains(&port) {
                    causes.push(status::invalid_value(
                        &format!("{at}.ports[{j}].containerPort"),
                        &json!(port),
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
    }
    if let Some(rp) = spec.get("restartPolicy").and_then(Value::as_str)
        && !allowed_restart.contains(&rp)
    {
        if allowed_restart.len() == 2 && rp == "Always" {
            causes.push(status::required(
                &format!("{field}.restartPolicy"),
                "valid values: \"OnFailure\", \"Never\"",
            ));
        } else {
            causes.push(status::not_supported(
                &format!("{field}.restartPolicy"),
                &json!(rp),
                allowed_restart,
            ));
        }
    }
    causes
}

fn selector_causes(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let sel = obj.pointer("/spec/selector");
    match LabelSelector::from_object(sel) {
        Ok(None) => causes.push(status::required("spec.selector", "")),
        Ok(Some(s)) => {
            if s.is_empty() {
                causes.push(status::invalid_value(
                    "spec.selector",
                    sel.unwrap_or(&Value::Null),
                    "empty selector is invalid for deployment",
                ));
            } else {
                let labels = obj.pointer("/spec/template/metadata/labels");
                if !s.matches(labels.and_then(Value::as_object)) {
                    causes.push(status::invalid_value(
                        "spec.template.metadata.labels",
                        labels.unwrap_or(&Value::Null),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
        Err(e) => causes.push(status::invalid_value(
            "spec.selector",
            sel.unwrap_or(&Value::Null),
            &e,
        )),
    }
    causes
}

fn immutable(field: &str, value: &Value) -> Cause {
    status::invalid_value(field, value, "field is immutable")
}

/// Validates a create (`old` None) or an update; `Err` is the 422 to answer.
pub(crate) fn validate(
    rt: &ResourceType,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let mut causes = name_causes(rt, obj);
    let ptr = |p: &str| obj.pointer(p).cloned().unwrap_or(Value::Null);
    let old_ptr = |p: &str| {
        old.and_then(|o| o.pointer(p))
            .cloned()
            .unwrap_or(Value::Null)
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            causes.extend(selector_causes(obj));
            if let Some(spec) = obj.pointer("/spec/template/spec") {
                causes.extend(pod_spec_causes(spec, "spec.template.spec", &["Always"]));
            } else {
                causes.push(status::required("spec.template", ""));
            }
            if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
                && r < 0
            {
                causes.push(status::invalid_value(
                    "spec.replicas",
                    &json!(r),
                    "must be greater than or equal to 0",
                ));
            }
            if old.is_some() && ptr("/spec/selector") != old_ptr("/spec/selector") {
                causes.push(immutable("spec.selector", &ptr("/spec/selector")));
            }
            if rt.kind == "StatefulSet" && old.is_some() {
                for f in ["serviceName", "podManagementPolicy", "volumeClaimTemplates"] {
                    let p = format!("/spec/{f}");
                    if ptr(&p) != old_ptr(&p) {
                        causes.push(status::forbidden_field("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
                        break;
                    }
                }
            }
        }
        ("batch", "Job") => {
            if let Some(spec) = obj.pointer("/spec/template/spec") {
                causes.extend(pod_spec_causes(
                    spec,
                    "spec.template.spec",
                    &["OnFailure", "Never"],
                ));
            } else {
                causes.push(status::required("spec.template", ""));
            }
            if old.is_some() {
                if ptr("/spec/selector") != old_ptr("/spec/selector") {
                    causes.push(immutable("spec.selector", &ptr("/spec/selector")));
                }
                if ptr("/spec/template") != old_ptr("/spec/template") {
                    causes.push(immutable("spec.template", &ptr("/spec/template")));
                }
                if ptr("/spec/completions") != old_ptr("/spec/completions") {
                    causes.push(immutable("spec.completions", &ptr("/spec/completions")));
                }
            }
        }
        ("batch", "CronJob") => {
            if obj.pointer("/spec/schedule").is_none() {
                causes.push(status::required("spec.schedule", ""));
            }
            if let Some(spec) = obj.pointer("/spec/jobTemplate/spec/template/spec") {
                causes.extend(pod_spec_causes(
                    spec,
                    "spec.jobTemplate.spec.template.spec",
                    &["OnFailure", "Never"],
                ));
            }
        }
        ("", "Pod") => {
            if let Some(spec) = obj.get("spec") {
                causes.extend(pod_spec_causes(
                    spec,
                    "spec",
                    &["Always", "OnFailure", "Never"],
                ));
            } else {
                causes.push(status::required("spec", ""));
            }
            if let Some(o) = old {
                let mut a = o.get("spec").cloned().unwrap_or(Value::Null);
                let mut b = obj.get("spec").cloned().unwrap_or(Value::Null);
                for s in [&mut a, &mut b] {
                    for list in ["containers", "initContainers"] {
                        if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                            for c in cs {
                                if let Some(m) = c.as_object_mut() {
                                    m.remove("image");
                                }
                            }
                        }
                    }
                    if let Some(m) = s.as_object_mut() {
                        m.remove("activeDeadlineSeconds");
                        m.remove("tolerations");
                        // Set by the scheduler through the binding subresource.
                        m.remove("nodeName");
                    }
                }
                if a != b {
                    causes.push(status::forbidden_field("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
                }
            }
        }
        ("", "Service") => {
            let ty = obj
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let headless = obj.pointer("/spec/clusterIP") == Some(&json!("None"));
            if ty != "ExternalName"
                && !headless
                && obj
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            {
                causes.push(status::required("spec.ports", ""));
            }
            if let Some(o) = old {
                let was = o
                    .pointer("/spec/clusterIPs")
                    .cloned()
                    .unwrap_or(Value::Null);
                let now = ptr("/spec/clusterIPs");
                if !was.is_null() && was != now {
                    causes.push(status::invalid_value(
                        "spec.clusterIPs[0]",
                        &now,
                        "may not change once set",
                    ));
                }
            }
        }
        ("", "ConfigMap" | "Secret") => {
            if let Some(o) = old
                && o.get("immutable") == Some(&json!(true))
            {
                for f in ["data", "binaryData"] {
                    if o.get(f) != obj.get(f) {
                        causes.push(status::forbidden_field(
                            f,
                            "field is immutable when `immutable` is set",
                        ));
                    }
                }
                if obj.get("immutable") != Some(&json!(true)) {
                    causes.push(status::forbidden_field(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
            if rt.kind == "Secret"
                && let Some(o) = old
                && o.get("type") != obj.get("type")
            {
                causes.push(immutable("type", &ptr("/type")));
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let plural = obj.pointer("/spec/names/plural").and_then(Value::as_str);
            let group = obj.pointer("/spec/group").and_then(Value::as_str);
            let name = obj.pointer("/metadata/name").and_then(Value::as_str);
            match (plural, group) {
                (Some(p), Some(g)) => {
                    if name != Some(&format!("{p}.{g}")) {
                        causes.push(status::invalid_value(
                            "metadata.name",
                            &json!(name),
                            "must be spec.names.plural+\".\"+spec.group",
                        ));
                    }
                }
                _ => {
                    if plural.is_none() {
                        causes.push(status::required("spec.names.plural", ""));
                    }
                    if group.is_none() {
                        causes.push(status::required("spec.group", ""));
                    }
                }
            }
            if obj.pointer("/spec/names/kind").is_none() {
                causes.push(status::required("spec.names.kind", ""));
            }
            match obj.pointer("/spec/scope").and_then(Value::as_str) {
                Some("Namespaced" | "Cluster") => {}
                other => causes.push(status::not_supported(
                    "spec.scope",
                    &json!(other),
                    &["Cluster", "Namespaced"],
                )),
            }
            let versions = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let storage = versions
                .iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .count();
            if versions.is_empty() {
                causes.push(status::required(
                    "spec.versions",
                    "must have exactly one version marked as storage version",
                ));
            } else if storage != 1 {
                causes.push(status::invalid_value(
                    "spec.versions",
                    &json!(
                        versions
                            .iter()
                            .map(|v| v.get("name").cloned().unwrap_or_default())
                            .collect::<Vec<_>>()
                    ),
                    "must have exactly one version marked as storage version",
                ));
            }
            if let Some(o) = old {
                for f in ["/spec/group", "/spec/names/plural", "/spec/scope"] {
                    let (a, b) = (o.pointer(f), obj.pointer(f));
                    if a != b && f != "/spec/names/plural" {
                        causes.push(immutable(&spec_field(f), &ptr(f)));
                    }
                }
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(ApiError::invalid(&rt.group, &rt.kind, name, causes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;

    fn rt(kind: &str) -> ResourceType {
        builtin().into_iter().find(|r| r.kind == kind).unwrap()
    }

    #[test]
    fn pull_policy_defaults() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("127.0.0.1:5100/app:v1"), "IfNotPresent");
        assert_eq!(default_pull_policy("127.0.0.1:5100/app"), "Always");
        assert_eq!(default_pull_policy("app@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn deployment_selector_is_immutable() {
        let d = rt("Deployment");
        let mk = |app: &str| {
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": app}},
                "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}}})
        };
        assert!(validate(&d, &mk("a"), None).is_ok());
        let err = validate(&d, &mk("b"), Some(&mk("a"))).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.contains("spec.selector") && err.message.contains("field is immutable"),
            "{}",
            err.message
        );
    }

    #[test]
    fn names_and_labels() {
        let cm = rt("ConfigMap");
        let err = validate(&cm, &json!({"metadata": {"name": "Bad_Name"}}), None).unwrap_err();
        assert!(err.message.contains("RFC 1123 subdomain"));
        let err = validate(
            &cm,
            &json!({"metadata": {"name": "ok", "labels": {"a": "b c"}}}),
            None,
        )
        .unwrap_err();
        assert!(err.message.contains("metadata.labels"));
    }
}
