//! A namespace per developer against the API-server double: creation with lilt's labels,
//! the last-active heartbeat, listing, and pruning only lilt's idle namespaces.

use std::time::{Duration, SystemTime};

use lilt_k8s::namespaces::{LAST_ACTIVE_ANNOTATION, MANAGED_LABEL, NamespaceClaim, OWNER_LABEL};
use lilt_k8s::{Cluster, ConnectOptions};
use lilt_kubedouble::KubeDouble;
use lilt_model::rfc3339::{Precision, format_with};
use serde_json::json;

async fn setup() -> (KubeDouble, Cluster) {
    let d = KubeDouble::builder().without_kubelet().start().await;
    let cluster = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(d.kubeconfig_path().to_owned()),
        context: Some(d.context().to_owned()),
        namespace: None,
    })
    .await
    .expect("connect");
    (d, cluster)
}

/// A namespace as someone made it earlier: lilt's or not, last active `hours` ago.
fn old_namespace(d: &KubeDouble, name: &str, lilt: bool, hours: u64) {
    let then = SystemTime::now() - Duration::from_secs(hours * 3600);
    let labels = if lilt {
        json!({MANAGED_LABEL: "true", OWNER_LABEL: "bob"})
    } else {
        json!({})
    };
    d.create(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {LAST_ACTIVE_ANNOTATION: format_with(then, Precision::Seconds)},
        },
    }))
    .expect("create namespace");
}

#[tokio::test]
async fn ensure_creates_a_labelled_namespace_once_and_touch_refreshes_it() {
    let (d, cluster) = setup().await;
    assert_eq!(
        cluster
            .ensure_namespace("dev-alice", "alice")
            .await
            .unwrap(),
        NamespaceClaim::Created
    );
    let ns = d.get("v1", "Namespace", "", "dev-alice").expect("created");
    assert_eq!(ns["metadata"]["labels"][MANAGED_LABEL], "true");
    assert_eq!(ns["metadata"]["labels"][OWNER_LABEL], "alice");
    assert!(ns["metadata"]["annotations"][LAST_ACTIVE_ANNOTATION].is_string());
    assert_eq!(
        cluster
            .ensure_namespace("dev-alice", "alice")
            .await
            .unwrap(),
        NamespaceClaim::Existing,
        "it exists now"
    );

    // Another developer deploying into alice's namespace leaves it hers.
    assert_eq!(
        cluster.ensure_namespace("dev-alice", "bob").await.unwrap(),
        NamespaceClaim::OwnedBy("alice".to_owned())
    );
    let ns = d
        .get("v1", "Namespace", "", "dev-alice")
        .expect("still there");
    assert_eq!(ns["metadata"]["labels"][OWNER_LABEL], "alice");

    old_namespace(&d, "dev-bob", true, 10);
    cluster.touch_namespace("dev-bob").await.unwrap();
    let listed = cluster.lilt_namespaces().await.unwrap();
    let bob = listed.iter().find(|n| n.name == "dev-bob").unwrap();
    assert!(
        bob.idle(SystemTime::now()) < Duration::from_secs(3600),
        "touched just now: {bob:?}"
    );
    assert_eq!(bob.owner, "bob");
}

#[tokio::test]
async fn prune_deletes_only_lilts_idle_namespaces_and_never_the_current_one() {
    let (d, cluster) = setup().await;
    old_namespace(&d, "dev-idle", true, 100);
    old_namespace(&d, "dev-recent", true, 1);
    old_namespace(&d, "dev-current", true, 100);
    old_namespace(&d, "team-shared", false, 1000);
    let names = |list: &[lilt_k8s::namespaces::Pruned]| -> Vec<String> {
        list.iter().map(|p| p.name.clone()).collect()
    };

    let dry = cluster
        .prune_namespaces(
            Duration::from_secs(72 * 3600),
            &["dev-current"],
            true,
            SystemTime::now(),
        )
        .await
        .unwrap();
    assert_eq!(names(&dry), ["dev-idle"]);
    assert!(
        d.get("v1", "Namespace", "", "dev-idle").is_some(),
        "a dry run deletes nothing"
    );

    let pruned = cluster
        .prune_namespaces(
            Duration::from_secs(72 * 3600),
            &["dev-current"],
            false,
            SystemTime::now(),
        )
        .await
        .unwrap();
    assert_eq!(names(&pruned), ["dev-idle"]);
    assert!(pruned[0].idle >= Duration::from_secs(99 * 3600));
    let gone_or_terminating = d
        .get("v1", "Namespace", "", "dev-idle")
        .is_none_or(|ns| ns["status"]["phase"] == "Terminating");
    assert!(gone_or_terminating);
    for kept in ["dev-recent", "dev-current", "team-shared"] {
        assert!(
            d.get("v1", "Namespace", "", kept).is_some(),
            "{kept} is kept"
        );
    }
    let listed: Vec<String> = cluster
        .lilt_namespaces()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert!(
        !listed.contains(&"team-shared".to_owned()),
        "not lilt's: {listed:?}"
    );
}
