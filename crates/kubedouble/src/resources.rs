//! The resource types the double serves and its discovery documents: the built-in kinds
//! (core/v1, apps/v1, batch/v1, rbac, networking, apiextensions) and the custom resources of
//! every Established CustomResourceDefinition, shaped as kube-apiserver's `/api`, `/apis`,
//! `/api/v1`, `/apis/{group}/{version}` documents and the aggregated discovery (apidiscovery.k8s.io/v2)
//! that kube-rs's `Discovery::run_aggregated` asks for.

use serde_json::{Value, json};

/// One served resource (all versions of it share one store, as in kube-apiserver where a
/// resource has one storage version and every served version reads the same objects).
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    pub group: String,
    /// Served versions, the preferred first.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Subresources served besides the object: `status`, `scale`, `log`, `exec`, ...
    pub subresources: Vec<String>,
    /// `metadata.generation` is maintained (set to 1, bumped on spec changes).
    pub generation: bool,
    /// A delete answers with the object, not a `Status` (`ReturnDeletedObject` in the
    /// registry's store: pods, services, serviceaccounts, namespaces).
    pub return_deleted: bool,
    /// Field labels accepted in `fieldSelector` besides metadata.name/namespace.
    pub field_labels: Vec<&'static str>,
    /// For custom resources: the CRD's `openAPIV3Schema` of each version (for list types).
    pub schemas: Vec<(String, Value)>,
    /// A custom resource (served from a CRD).
    pub custom: bool,
}

impl ResourceType {
    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }

    /// `group/version` (or `version` for the core group) for the given version.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// The storage (first) version's apiVersion.
    pub fn storage_api_version(&self) -> String {
        self.api_version(&self.versions[0])
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// The OpenAPI schema of a custom resource's version, if the CRD gave one.
    pub fn schema(&self, version: &str) -> Option<&Value> {
        self.schemas
            .iter()
            .find(|(v, _)| v == version)
            .or_else(|| self.schemas.first())
            .map(|(_, s)| s)
    }
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

#[allow(clippy::too_many_arguments)]
fn rt(
    group: &str,
    version: &str,
    plural: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    subresources: &[&str],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        versions: vec![version.into()],
        plural: plural.into(),
        singular: singular.into(),
        kind: kind.into(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        subresources: subresources.iter().map(|s| s.to_string()).collect(),
        generation: false,
        return_deleted: false,
        field_labels: vec![],
        schemas: vec![],
        custom: false,
    }
}

/// The built-in resources, with the short names, categories and subresources a v1.33
/// kube-apiserver reports for them.
pub(crate) fn builtin() -> Vec<ResourceType> {
    let all = |mut r: ResourceType| {
        r.categories = vec!["all".into()];
        r
    };
    let gen_ = |mut r: ResourceType| {
        r.generation = true;
        r
    };
    let ret = |mut r: ResourceType| {
        r.return_deleted = true;
        r
    };
    let fields = |mut r: ResourceType, f: &[&'static str]| {
        r.field_labels = f.to_vec();
        r
    };
    vec![
        ret(fields(
            rt(
                "",
                "v1",
                "namespaces",
                "namespace",
                "Namespace",
                false,
                &["ns"],
                &["status", "finalize"],
            ),
            &["status.phase"],
        )),
        ret(all(fields(
            rt(
                "",
                "v1",
                "pods",
                "pod",
                "Pod",
                true,
                &["po"],
                &["status", "log", "exec", "portforward"],
            ),
            &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
        ))),
        ret(all(rt(
            "",
            "v1",
            "services",
            "service",
            "Service",
            true,
            &["svc"],
            &["status"],
        ))),
        rt(
            "",
            "v1",
            "configmaps",
            "configmap",
            "ConfigMap",
            true,
            &["cm"],
            &[],
        ),
        fields(
            rt("", "v1", "secrets", "secret", "Secret", true, &[], &[]),
            &["type"],
        ),
        ret(rt(
            "",
            "v1",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            true,
            &["sa"],
            &[],
        )),
        fields(
            rt("", "v1", "events", "event", "Event", true, &["ev"], &[]),
            &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
        ),
        rt(
            "",
            "v1",
            "endpoints",
            "endpoints",
            "Endpoints",
            true,
            &["ep"],
            &[],
        ),
        rt(
            "",
            "v1",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            true,
            &["pvc"],
            &["status"],
        ),
        fields(
            rt(
                "",
                "v1",
                "nodes",
                "node",
                "Node",
                false,
                &["no"],
                &["status"],
            ),
            &["spec.unschedulable"],
        ),
        gen_(all(rt(
            "apps",
            "v1",
            "deployments",
            "deployment",
            "Deployment",
            true,
            &["deploy"],
            &["status", "scale"],
        ))),
        gen_(all(fields(
            rt(
                "apps",
                "v1",
                "replicasets",
                "replicaset",
                "ReplicaSet",
                true,
                &["rs"],
                &["status", "scale"],
            ),
            &["status.replicas"],
        ))),
        gen_(all(rt(
            "apps",
            "v1",
            "statefulsets",
            "statefulset",
            "StatefulSet",
            true,
            &["sts"],
            &["status", "scale"],
        ))),
        gen_(all(rt(
            "apps",
            "v1",
            "daemonsets",
            "daemonset",
            "DaemonSet",
            true,
            &["ds"],
            &["status"],
        ))),
        rt(
            "apps",
            "v1",
            "controllerrevisions",
            "controllerrevision",
            "ControllerRevision",
            true,
            &[],
            &[],
        ),
        gen_(all(fields(
            rt("batch", "v1", "jobs", "job", "Job", true, &[], &["status"]),
            &["status.successful"],
        ))),
        gen_(all(rt(
            "batch",
            "v1",
            "cronjobs",
            "cronjob",
            "CronJob",
            true,
            &["cj"],
            &["status"],
        ))),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "role",
            "Role",
            true,
            &[],
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "rolebinding",
            "RoleBinding",
            true,
            &[],
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "clusterrole",
            "ClusterRole",
            false,
            &[],
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            false,
            &[],
            &[],
        ),
        gen_(rt(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "ingress",
            "Ingress",
            true,
            &["ing"],
            &["status"],
        )),
        gen_(rt(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            &["status"],
        )),
    ]
}

/// The resource type a CustomResourceDefinition defines, once it is Established (an
/// unestablished CRD is not served, as in kube-apiserver's `crdHandler`).
pub(crate) fn from_crd(crd: &Value) -> Option<ResourceType> {
    let established = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
    if !established || crd.pointer("/metadata/deletionTimestamp").is_some() {
        return None;
    }
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let plural = s(names, "plural")?;
    let kind = s(names, "kind")?;
    let list = |k: &str| -> Vec<String> {
        names
            .get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut versions = Vec::new();
    let mut schemas = Vec::new();
    let mut status = false;
    let mut scale = false;
    let mut storage = None;
    for v in spec.get("versions").and_then(Value::as_array)? {
        let name = s(v, "name")?;
        if v.get("served").and_then(Value::as_bool) != Some(false) {
            if v.get("storage").and_then(Value::as_bool) == Some(true) {
                storage = Some(name.clone());
            }
            versions.push(name.clone());
            if v.pointer("/subresources/status").is_some() {
                status = true;
            }
            if v.pointer("/subresources/scale").is_some() {
                scale = true;
            }
            if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
                schemas.push((name, schema.clone()));
            }
        }
    }
    if versions.is_empty() {
        return None;
    }
    // The storage version is what stored objects carry; serve it first.
    if let Some(st) = storage
        && let Some(pos) = versions.iter().position(|v| *v == st)
    {
        let v = versions.remove(pos);
        versions.insert(0, v);
    }
    let mut subresources = Vec::new();
    if status {
        subresources.push("status".to_string());
    }
    if scale {
        subresources.push("scale".to_string());
    }
    Some(ResourceType {
        group: s(spec, "group")?,
        versions,
        singular: s(names, "singular").unwrap_or_else(|| kind.to_lowercase()),
        plural,
        kind,
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: list("shortNames"),
        categories: list("categories"),
        subresources,
        generation: true,
        return_deleted: false,
        field_labels: vec![],
        schemas,
        custom: true,
    })
}

/// Verbs and response kind of a subresource, as discovery lists them.
fn subresource_info(r: &ResourceType, sub: &str) -> (String, String, String, Vec<&'static str>) {
    match sub {
        "status" => (
            r.group.clone(),
            r.versions[0].clone(),
            r.kind.clone(),
            vec!["get", "patch", "update"],
        ),
        "scale" => (
            "autoscaling".into(),
            "v1".into(),
            "Scale".into(),
            vec!["get", "patch", "update"],
        ),
        "log" => (String::new(), "v1".into(), "Pod".into(), vec!["get"]),
        "exec" => (
            String::new(),
            "v1".into(),
            "PodExecOptions".into(),
            vec!["create", "get"],
        ),
        "portforward" => (
            String::new(),
            "v1".into(),
            "PodPortForwardOptions".into(),
            vec!["create", "get"],
        ),
        "finalize" => (
            String::new(),
            "v1".into(),
            "Namespace".into(),
            vec!["update"],
        ),
        _ => (
            r.group.clone(),
            r.versions[0].clone(),
            r.kind.clone(),
            vec!["get"],
        ),
    }
}

/// `/api/v1` or `/apis/{group}/{version}`: an `APIResourceList`.
pub(crate) fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in types
        .iter()
        .filter(|r| r.group == group && r.serves(version))
    {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        resources.push(e);
        for sub in &r.subresources {
            let (g, v, kind, verbs) = subresource_info(r, sub);
            let mut e = json!({
                "name": format!("{}/{}", r.plural, sub),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if g != r.group {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            resources.push(e);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// The non-core groups in discovery order, each with its served versions (preferred first).
fn groups(types: &[ResourceType]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in types.iter().filter(|r| !r.group.is_empty()) {
        let entry = match out.iter_mut().position(|(g, _)| *g == r.group) {
            Some(i) => &mut out[i],
            None => {
                out.push((r.group.clone(), Vec::new()));
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        for v in &r.versions {
            if !entry.1.contains(v) {
                entry.1.push(v.clone());
            }
        }
    }
    out
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs[0]})
}

/// `/apis`: an `APIGroupList`.
pub(crate) fn group_list(types: &[ResourceType]) -> Value {
    let gs: Vec<Value> = groups(types)
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

/// `/apis/{group}`: an `APIGroup`.
pub(crate) fn group(types: &[ResourceType], name: &str) -> Option<Value> {
    let (g, vs) = groups(types).into_iter().find(|(g, _)| g == name)?;
    let mut v = group_json(&g, &vs);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Some(v)
}

/// `/api`: `APIVersions`.
pub(crate) fn api_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}],
    })
}

/// The aggregated discovery document (`APIGroupDiscoveryList`, apidiscovery.k8s.io/v2) of
/// the core group (`/api`) or of all other groups (`/apis`).
pub(crate) fn aggregated(types: &[ResourceType], core: bool) -> Value {
    let gvk = |g: &str, v: &str, k: &str| json!({"group": g, "version": v, "kind": k});
    let mut items = Vec::new();
    let group_names: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        groups(types)
    };
    for (g, versions) in group_names {
        let mut vs = Vec::new();
        for v in &versions {
            let mut resources = Vec::new();
            for r in types.iter().filter(|r| r.group == g && r.serves(v)) {
                let subs: Vec<Value> = r
                    .subresources
                    .iter()
                    .map(|s| {
                        let (sg, sv, sk, verbs) = subresource_info(r, s);
                        json!({"subresource": s, "responseKind": gvk(&sg, &sv, &sk), "verbs": verbs})
                    })
                    .collect();
                let mut e = json!({
                    "resource": r.plural,
                    "responseKind": gvk(&r.group, v, &r.kind),
                    "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                    "singularResource": r.singular,
                    "verbs": VERBS,
                });
                if !r.short_names.is_empty() {
                    e["shortNames"] = json!(r.short_names);
                }
                if !r.categories.is_empty() {
                    e["categories"] = json!(r.categories);
                }
                if !subs.is_empty() {
                    e["subresources"] = json!(subs);
                }
                resources.push(e);
            }
            vs.push(json!({"version": v, "resources": resources, "freshness": "Current"}));
        }
        let meta = if g.is_empty() {
            json!({})
        } else {
            json!({"name": g})
        };
        items.push(json!({"metadata": meta, "versions": vs}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_core_and_groups() {
        let types = builtin();
        let core = resource_list(&types, "", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods/log") && names.contains(&"namespaces"));
        let gl = group_list(&types);
        assert!(
            gl["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "apps")
        );
        let agg = aggregated(&types, false);
        assert!(agg["items"].as_array().unwrap().len() >= 5);
    }

    #[test]
    fn a_crd_is_served_only_when_established() {
        let mut crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]},
        });
        assert!(from_crd(&crd).is_none());
        crd["status"] = json!({"conditions": [{"type": "Established", "status": "True"}]});
        let r = from_crd(&crd).unwrap();
        assert_eq!(r.kind, "Widget");
        assert!(r.has_status() && r.namespaced);
    }
}
