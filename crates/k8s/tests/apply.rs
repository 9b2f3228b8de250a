//! Server-side apply and delete over real HTTPS against the API-server double, connected
//! through the kubeconfig it writes, as lilt connects to a real cluster.

use lilt_k8s::{Cluster, ConnectOptions, K8sError};
use lilt_kubedouble::KubeDouble;
use lilt_manifest::{K8sObject, parse_yaml_stream};

const APP: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {mode: dev}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: 'IMAGE'}]
";

async fn double() -> KubeDouble {
    KubeDouble::builder().without_kubelet().start().await
}

async fn connect(d: &KubeDouble, namespace: Option<&str>) -> Cluster {
    Cluster::connect(&ConnectOptions {
        kubeconfig: Some(d.kubeconfig_path().to_owned()),
        context: Some(d.context().to_owned()),
        namespace: namespace.map(str::to_owned),
    })
    .await
    .expect("connect")
}

fn objects(yaml: &str) -> Vec<K8sObject> {
    parse_yaml_stream(yaml).expect("yaml")
}

fn app(image: &str) -> Vec<K8sObject> {
    objects(&APP.replace("IMAGE", image))
}

fn no_log(_: String) {}

/// `app("app:1")` with another selector: a Deployment's selector is immutable (apps/v1
/// validation), so applying it over the first makes lilt delete and re-create.
fn with_other_selector() -> Vec<K8sObject> {
    objects(
        &APP.replace("IMAGE", "app:1")
            .replace("matchLabels: {app: app}", "matchLabels: {app: other}")
            .replace("labels: {app: app}", "labels: {app: other}"),
    )
}

fn writes(d: &KubeDouble) -> Vec<String> {
    d.requests()
        .into_iter()
        .filter(|r| matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete"))
        .map(|r| format!("{} {}", r.verb, r.path))
        .collect()
}

#[tokio::test]
async fn objects_without_a_namespace_go_to_the_chosen_one_and_an_unchanged_apply_sends_nothing() {
    let d = double().await;
    let cluster = connect(&d, Some("dev-alice")).await;
    assert_eq!(cluster.namespace(), "dev-alice");
    let ns = objects("apiVersion: v1\nkind: Namespace\nmetadata: {name: dev-alice}\n");
    let mut all = app("app:tilt-1111111111111111");
    all.splice(0..0, ns);
    let lines = std::sync::Mutex::new(Vec::new());
    let log = |l: String| lines.lock().unwrap().push(l);
    let applied = cluster.apply(&all, &log).await.expect("apply");
    assert!(applied.iter().all(|a| a.changed));
    let deployment = d
        .get("apps/v1", "Deployment", "dev-alice", "app")
        .expect("the Deployment is in dev-alice");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "app:tilt-1111111111111111"
    );
    assert!(
        d.get("v1", "ConfigMap", "dev-alice", "app-config")
            .is_some()
    );
    assert_eq!(
        lines.lock().unwrap().as_slice(),
        [
            "applied Namespace/dev-alice",
            "applied ConfigMap/app-config in dev-alice",
            "applied Deployment/app in dev-alice",
        ]
    );

    // The same objects again: nothing is sent, nothing changes.
    d.clear_requests();
    let again = cluster.apply(&all, &no_log).await.expect("apply");
    assert!(again.iter().all(|a| !a.changed));
    assert_eq!(writes(&d), Vec::<String>::new());
}

#[tokio::test]
async fn a_new_image_changes_only_the_workload() {
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    cluster
        .apply(&app("app:tilt-1111111111111111"), &no_log)
        .await
        .expect("first apply");
    let before = d.get("apps/v1", "Deployment", "default", "app").unwrap();
    d.clear_requests();
    let applied = cluster
        .apply(&app("app:tilt-2222222222222222"), &no_log)
        .await
        .expect("second apply");
    let changed: Vec<&str> = applied
        .iter()
        .filter(|a| a.changed)
        .map(|a| a.key.kind.as_str())
        .collect();
    assert_eq!(changed, ["Deployment"]);
    assert_eq!(writes(&d).len(), 1, "{:?}", writes(&d));
    let after = d.get("apps/v1", "Deployment", "default", "app").unwrap();
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "app:tilt-2222222222222222"
    );
    assert!(
        after["metadata"]["generation"].as_i64() > before["metadata"]["generation"].as_i64(),
        "a new pod template is a new generation: the workload rolls"
    );
}

#[tokio::test]
async fn objects_applied_by_another_manager_are_taken_over() {
    let d = double().await;
    // As if Tilt or kubectl had applied it first, with a different image.
    let client_side = connect(&d, Some("default")).await;
    let mut theirs = app("app:theirs").remove(1).into_value();
    theirs["metadata"]["namespace"] = "default".into();
    d.create(theirs).expect("create as someone else");
    let applied = client_side
        .apply(&app("app:tilt-3333333333333333"), &no_log)
        .await
        .expect("force apply takes over conflicting fields");
    assert!(applied.iter().all(|a| a.changed));
    let dep = d.get("apps/v1", "Deployment", "default", "app").unwrap();
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "app:tilt-3333333333333333"
    );
}

#[tokio::test]
async fn a_changed_immutable_field_re_creates_the_object() {
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    cluster
        .apply(&app("app:1"), &no_log)
        .await
        .expect("first apply");
    let before = d.get("apps/v1", "Deployment", "default", "app").unwrap();
    // A Deployment's selector is immutable (apps/v1 validation): Tilt deletes and re-creates.
    let lines = std::sync::Mutex::new(Vec::new());
    let log = |l: String| lines.lock().unwrap().push(l);
    cluster
        .apply(&with_other_selector(), &log)
        .await
        .expect("re-created");
    let after = d.get("apps/v1", "Deployment", "default", "app").unwrap();
    assert_ne!(
        after["metadata"]["uid"], before["metadata"]["uid"],
        "a new object"
    );
    assert_eq!(after["spec"]["selector"]["matchLabels"]["app"], "other");
    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("re-creating Deployment/app in default: ")
                && l.contains("immutable")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_re_create_does_not_wait_for_the_old_objects_dependents() {
    // The old pods of a re-created Deployment may take their whole termination grace
    // period to go (30 s by default, as long as the upsert timeout): the re-create waits
    // for the Deployment alone. A dependent that never goes (a finalizer nobody removes)
    // stands for them: a foreground delete would wait for it, and fail.
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    cluster
        .apply(&app("app:1"), &no_log)
        .await
        .expect("first apply");
    let before = d.get("apps/v1", "Deployment", "default", "app").unwrap();
    d.create(serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "held", "namespace": "default",
            "finalizers": ["example.com/hold"],
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": "app",
                "uid": before["metadata"]["uid"], "blockOwnerDeletion": true,
            }],
        },
    }))
    .expect("dependent");
    cluster
        .apply(&with_other_selector(), &no_log)
        .await
        .expect("re-created without waiting for the dependent");
    let after = d.get("apps/v1", "Deployment", "default", "app").unwrap();
    assert_ne!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert!(
        writes(&d).contains(&"delete /apis/apps/v1/namespaces/default/deployments/app".to_owned()),
        "{:?}",
        writes(&d)
    );
    // The dependent is still there, held by its finalizer, and being deleted by the
    // garbage collector: nothing waited for it.
    d.settled().await;
    let held = d.get("v1", "ConfigMap", "default", "held").expect("held");
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
}

#[tokio::test]
async fn a_refused_apply_names_the_object_and_the_servers_message() {
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    d.inject(lilt_kubedouble::Fault::forbidden(
        "patch",
        "apps",
        "deployments",
        "default",
        "app",
    ));
    let err = cluster
        .apply(&app("app:1"), &no_log)
        .await
        .expect_err("forbidden");
    let K8sError::Apply { object, message } = &err else {
        panic!("not an apply error: {err}");
    };
    assert_eq!(object, "Deployment/app in default");
    assert!(message.contains("is forbidden"), "{message}");
    assert!(message.contains("(Forbidden)"), "{message}");
}

#[tokio::test]
async fn an_object_too_large_to_apply_is_replaced() {
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    cluster
        .apply(&app("app:1"), &no_log)
        .await
        .expect("first apply");
    d.inject(
        lilt_kubedouble::Fault::too_large()
            .verb("patch")
            .resource("configmaps")
            .times(1),
    );
    let bigger = APP
        .replace("IMAGE", "app:1")
        .replace("mode: dev", "mode: prod");
    let lines = std::sync::Mutex::new(Vec::new());
    let log = |l: String| lines.lock().unwrap().push(l);
    cluster
        .apply(&objects(&bigger), &log)
        .await
        .expect("replaced");
    let cm = d.get("v1", "ConfigMap", "default", "app-config").unwrap();
    assert_eq!(cm["data"]["mode"], "prod");
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l
                == "replacing ConfigMap/app-config in default: too large to apply server-side"),
        "{:?}",
        lines.lock().unwrap()
    );
}

#[tokio::test]
async fn an_unknown_kind_is_a_clear_error() {
    let d = double().await;
    let cluster = connect(&d, None).await;
    let err = cluster
        .apply(
            &objects("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"),
            &no_log,
        )
        .await
        .expect_err("no such kind");
    assert!(
        matches!(&err, K8sError::UnknownKind { kind, .. } if kind == "Widget"),
        "{err}"
    );
}

#[tokio::test]
async fn a_crd_is_established_before_its_objects_are_applied() {
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    let yaml = "apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";
    // The Widget comes first in the file: lilt still applies the CRD first.
    let applied = cluster.apply(&objects(yaml), &no_log).await.expect("apply");
    let kinds: Vec<&str> = applied.iter().map(|a| a.key.kind.as_str()).collect();
    assert_eq!(kinds, ["CustomResourceDefinition", "Widget"]);
    let widget = d
        .get("example.com/v1", "Widget", "default", "w")
        .expect("the Widget exists");
    assert_eq!(widget["spec"]["size"], 3);
}

#[tokio::test]
async fn delete_removes_what_apply_made_and_missing_objects_are_fine() {
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    let objs = app("app:1");
    cluster.apply(&objs, &no_log).await.expect("apply");
    let mut reversed = objs.clone();
    reversed.reverse();
    cluster
        .delete(&reversed, &lilt_k8s::DeleteOptions::default(), &no_log)
        .await
        .expect("delete");
    assert!(d.get("apps/v1", "Deployment", "default", "app").is_none());
    assert!(d.get("v1", "ConfigMap", "default", "app-config").is_none());
    cluster
        .delete(&reversed, &lilt_k8s::DeleteOptions::default(), &no_log)
        .await
        .expect("deleting what is gone is fine");
    // After a delete, the same apply is sent again (lilt forgets what it applied).
    let applied = cluster.apply(&objs, &no_log).await.expect("apply again");
    assert!(applied.iter().all(|a| a.changed));
}

#[tokio::test]
async fn objects_marked_down_policy_keep_survive_delete() {
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    let objs = objects(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: keep-me
  annotations: {tilt.dev/down-policy: keep}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: drop-me}
data: {a: b}
",
    );
    cluster.apply(&objs, &no_log).await.expect("apply");
    let lines = std::sync::Mutex::new(Vec::new());
    let log = |l: String| lines.lock().unwrap().push(l);
    cluster
        .delete(&objs, &lilt_k8s::DeleteOptions::default(), &log)
        .await
        .expect("delete");
    assert!(d.get("v1", "ConfigMap", "default", "keep-me").is_some());
    assert!(d.get("v1", "ConfigMap", "default", "drop-me").is_none());
    assert!(
        lines
            .lock()
            .unwrap()
            .contains(&"keeping ConfigMap/keep-me (tilt.dev/down-policy: keep)".to_owned()),
        "{:?}",
        lines.lock().unwrap()
    );
}

/// `lilt down`'s rules: Namespaces stay unless asked, objects someone else made stay, and
/// `wait` returns only once what was deleted is gone (or names what is still there).
#[tokio::test]
async fn delete_keeps_namespaces_and_foreign_objects_and_waits_until_gone() {
    let d = double().await;
    let cluster = connect(&d, Some("default")).await;
    let objs = objects(
        "apiVersion: v1
kind: Namespace
# The label `lilt up` puts on what it applies (an apply of nothing but a name leaves no
# field manager entry, as in kube-apiserver).
metadata: {name: team-a, labels: {app.kubernetes.io/managed-by: tilt}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ours, namespace: team-a}
data: {a: b}
",
    );
    cluster.apply(&objs, &no_log).await.expect("apply");
    // Someone else's ConfigMap with a name the Tiltfile also uses.
    d.create(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "theirs", "namespace": "default"},
        "data": {"x": "y"},
    }))
    .unwrap();
    let theirs = objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: theirs}\n");

    let lines = std::sync::Mutex::new(Vec::new());
    let log = |l: String| lines.lock().unwrap().push(l);
    let wait = lilt_k8s::DeleteOptions {
        delete_namespaces: false,
        wait: Some(std::time::Duration::from_secs(10)),
    };
    let mut reversed: Vec<K8sObject> = objs.iter().rev().cloned().collect();
    reversed.extend(theirs.iter().cloned());
    cluster
        .delete(&reversed, &wait, &log)
        .await
        .expect("delete");
    assert!(d.get("v1", "ConfigMap", "team-a", "ours").is_none());
    assert!(d.get("v1", "Namespace", "", "team-a").is_some(), "kept");
    assert!(
        d.get("v1", "ConfigMap", "default", "theirs").is_some(),
        "not ours"
    );
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("keeping Namespace/team-a")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ConfigMap/theirs") && l.contains("not applied by lilt")),
        "{lines:?}"
    );

    // With --delete-namespaces it goes; a finalizer nobody removes makes `wait` give up
    // with the object's name.
    let held = objects(
        "apiVersion: v1
kind: ConfigMap
metadata: {name: held, finalizers: [example.com/hold]}
data: {a: b}
",
    );
    cluster.apply(&held, &no_log).await.expect("apply");
    let short = lilt_k8s::DeleteOptions {
        delete_namespaces: true,
        wait: Some(std::time::Duration::from_millis(500)),
    };
    let error = cluster
        .delete(&held, &short, &no_log)
        .await
        .expect_err("still there");
    assert!(error.to_string().contains("ConfigMap/held"), "{error}");
    assert!(error.to_string().contains("still there"), "{error}");
    cluster
        .delete(&objs[..1], &short, &no_log)
        .await
        .expect("delete the namespace");
    let ns = d.get("v1", "Namespace", "", "team-a");
    assert!(
        ns.is_none() || ns.is_some_and(|n| n["metadata"]["deletionTimestamp"].is_string()),
        "the namespace is deleted (or terminating)"
    );
}
