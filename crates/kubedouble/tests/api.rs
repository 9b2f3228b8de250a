//! The API machinery of the double, driven by kube-rs over real HTTPS through the kubeconfig
//! it writes: discovery, server-side apply (create, no-op, change, conflict, force), CRUD with
//! selectors and optimistic concurrency, patches, immutable fields, watch with bookmarks,
//! resume and 410, `kube::runtime::watcher`, delete propagation and garbage collection,
//! namespace termination, CRDs registered at run time, and injected faults. These run without
//! a kubelet (no Docker needed).

mod common;

use std::time::Duration;

use common::{api_err, client, eventually};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use lilt_kubedouble::{Fault, KubeDouble};
use serde_json::{Value, json};

async fn double() -> KubeDouble {
    KubeDouble::builder()
        .without_kubelet()
        .bookmark_interval(Duration::from_millis(200))
        .start()
        .await
}

fn deployment(name: &str, image: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
        },
    })
}

fn rv(d: &Deployment) -> String {
    d.metadata.resource_version.clone().unwrap()
}

#[tokio::test]
async fn discovery_version_and_auth() {
    let d = double().await;
    let c = client(&d).await;
    let v = c.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    // Aggregated discovery (what lilt uses) and the classic per-group walk agree.
    for discovery in [
        Discovery::new(c.clone()).run_aggregated().await.unwrap(),
        Discovery::new(c.clone()).run().await.unwrap(),
    ] {
        let (ar, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .unwrap();
        assert_eq!(ar.plural, "deployments");
        assert_eq!(caps.scope, Scope::Namespaced);
        let (ns, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
            .unwrap();
        assert_eq!(ns.plural, "namespaces");
        assert_eq!(caps.scope, Scope::Cluster);
        for (g, v, k) in [
            ("batch", "v1", "CronJob"),
            ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
            ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            ("", "v1", "ServiceAccount"),
            ("", "v1", "Event"),
            ("apps", "v1", "StatefulSet"),
        ] {
            assert!(
                discovery
                    .resolve_gvk(&GroupVersionKind::gvk(g, v, k))
                    .is_some(),
                "{k}"
            );
        }
    }
    // A request without the token is 401 as kube-apiserver answers it.
    let https = reqwest_like_get(&d, "/api/v1/namespaces", None).await;
    assert!(https.starts_with("HTTP/1.1 401"), "{https}");
    let ok = reqwest_like_get(&d, "/api/v1/namespaces", Some(d.token())).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    // The bootstrap objects of a fresh cluster.
    let nss: Api<Namespace> = Api::all(c.clone());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.iter().any(|n| n == want), "{names:?}");
    }
    let sa = eventually(5, "default ServiceAccount", || {
        let d = &d;
        async move { d.get("v1", "ServiceAccount", "default", "default") }
    })
    .await;
    assert_eq!(sa["metadata"]["namespace"], "default");
}

/// A bare HTTPS GET with rustls (trusting the double's CA), to see raw status lines.
async fn reqwest_like_get(d: &KubeDouble, path: &str, token: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    let pem = d.ca_pem().to_string();
    let der = pem_to_der(&pem);
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let port = d.url().rsplit(':').next().unwrap();
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[tokio::test]
async fn server_side_apply_create_noop_change_conflict_force() {
    let d = double().await;
    let c = client(&d).await;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let pp = PatchParams::apply("lilt");

    // Create through apply.
    let created = api
        .patch("web", &pp, &Patch::Apply(deployment("web", "img:v1", 1)))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    let mf = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("lilt"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    let fields = serde_json::to_value(mf[0].fields_v1.as_ref().unwrap()).unwrap();
    // Owned at container granularity, by name; the atomic selector as a whole; no defaults.
    let c0 = &fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
    assert!(c0.get("f:image").is_some(), "{fields}");
    assert!(
        c0.get("f:imagePullPolicy").is_none(),
        "defaults are not owned: {fields}"
    );
    assert_eq!(fields["f:spec"]["f:selector"], json!({}));
    // Defaults were applied.
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.revision_history_limit, Some(10));
    let ctr = &spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(ctr.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        ctr.ports.as_ref().unwrap()[0].protocol.as_deref(),
        Some("TCP")
    );

    // An identical re-apply changes neither resourceVersion nor generation (once the
    // deployment controller has written its status, as on a real cluster).
    d.settled().await;
    let created = api.get("web").await.unwrap();
    let rv_before = d.resource_version();
    let same = api
        .patch("web", &pp, &Patch::Apply(deployment("web", "img:v1", 1)))
        .await
        .unwrap();
    assert_eq!(rv(&same), rv(&created));
    assert_eq!(same.metadata.generation, Some(1));
    assert_eq!(d.resource_version(), rv_before, "a no-op apply is no write");

    // A changed image bumps generation.
    let changed = api
        .patch("web", &pp, &Patch::Apply(deployment("web", "img:v2", 1)))
        .await
        .unwrap();
    assert_eq!(changed.metadata.generation, Some(2));
    assert_ne!(rv(&changed), rv(&created));

    // Another manager setting replicas to another value conflicts, naming lilt and the field.
    let other = PatchParams::apply("other");
    let err = api_err(
        api.patch("web", &other, &Patch::Apply(deployment("web", "img:v2", 3)))
            .await,
    );
    assert_eq!(err.code, 409);
    assert_eq!(err.reason, "Conflict");
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"lilt\" using apps/v1: .spec.replicas"
    );
    // The same values are shared ownership, not a conflict.
    let shared = api
        .patch("web", &other, &Patch::Apply(deployment("web", "img:v2", 1)))
        .await
        .unwrap();
    let appliers: Vec<String> = shared
        .metadata
        .managed_fields
        .as_ref()
        .unwrap()
        .iter()
        .filter(|m| m.operation.as_deref() == Some("Apply"))
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(appliers, ["lilt", "other"]);
    // The deployment controller's status writes are its own entry, on the status subresource.
    assert!(
        shared
            .metadata
            .managed_fields
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| {
                m.manager.as_deref() == Some("kube-controller-manager")
                    && m.subresource.as_deref() == Some("status")
            })
    );
    // Forced: other takes replicas; lilt no longer owns it.
    let forced = api
        .patch(
            "web",
            &other.clone().force(),
            &Patch::Apply(deployment("web", "img:v2", 3)),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(3));
    let lilt = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("lilt"))
        .unwrap();
    let lf = serde_json::to_value(lilt.fields_v1.unwrap()).unwrap();
    assert!(lf["f:spec"].get("f:replicas").is_none(), "{lf}");
    // lilt re-applying its replicas now conflicts with "other" unless forced (Tilt's force).
    let err = api_err(
        api.patch("web", &pp, &Patch::Apply(deployment("web", "img:v2", 1)))
            .await,
    );
    assert!(
        err.message.contains("conflict with \"other\""),
        "{}",
        err.message
    );
    let back = api
        .patch(
            "web",
            &pp.clone().force(),
            &Patch::Apply(deployment("web", "img:v2", 1)),
        )
        .await
        .unwrap();
    assert_eq!(back.spec.unwrap().replicas, Some(1));

    // A field dropped from lilt's applied config is removed, unless another manager still
    // owns it: the labels are shared with "other", the annotation is lilt's alone.
    let mut annotated = deployment("web", "img:v2", 1);
    annotated["metadata"]["annotations"] = json!({"only": "lilt"});
    api.patch("web", &pp.clone().force(), &Patch::Apply(annotated))
        .await
        .unwrap();
    let mut bare = deployment("web", "img:v2", 1);
    bare["metadata"].as_object_mut().unwrap().remove("labels");
    let dropped = api
        .patch("web", &pp.clone().force(), &Patch::Apply(bare))
        .await
        .unwrap();
    assert!(dropped.metadata.annotations.unwrap_or_default().is_empty());
    assert_eq!(
        dropped
            .metadata
            .labels
            .unwrap_or_default()
            .get("app")
            .map(String::as_str),
        Some("web"),
        "still owned by \"other\""
    );

    // Apply requires a field manager and rejects managedFields.
    let mut with_mf = deployment("web", "img:v2", 1);
    with_mf["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    let err = api_err(api.patch("web", &pp, &Patch::Apply(with_mf)).await);
    assert_eq!(err.code, 400);
}

#[tokio::test]
async fn apply_dynamic_objects_and_immutable_fields() {
    let d = double().await;
    let c = client(&d).await;
    let discovery = Discovery::new(c.clone()).run_aggregated().await.unwrap();
    let (ar, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(deployment("imm", "img:v1", 1)).unwrap();
    api.patch(
        "imm",
        &PatchParams::apply("lilt").force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap();
    // Deployment spec.selector is immutable in apps/v1: 422 Invalid, "field is immutable".
    let mut changed = deployment("imm", "img:v1", 1);
    changed["spec"]["selector"]["matchLabels"] = json!({"app": "imm", "tier": "x"});
    changed["spec"]["template"]["metadata"]["labels"] = json!({"app": "imm", "tier": "x"});
    let obj: DynamicObject = serde_json::from_value(changed).unwrap();
    let err = api_err(
        api.patch(
            "imm",
            &PatchParams::apply("lilt").force(),
            &Patch::Apply(&obj),
        )
        .await,
    );
    assert_eq!(err.code, 422);
    assert_eq!(err.reason, "Invalid");
    assert!(
        err.message.contains("spec.selector") && err.message.contains("field is immutable"),
        "{}",
        err.message
    );
    // A selector that does not match the template is invalid on create.
    let mut bad = deployment("bad", "img:v1", 1);
    bad["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
    let obj: DynamicObject = serde_json::from_value(bad).unwrap();
    let err = api_err(
        api.patch("bad", &PatchParams::apply("lilt"), &Patch::Apply(&obj))
            .await,
    );
    assert!(
        err.message
            .contains("`selector` does not match template `labels`"),
        "{}",
        err.message
    );
    // Applying into a namespace that does not exist is 404 for the namespace.
    let api2: Api<DynamicObject> = Api::namespaced_with(c.clone(), "nope", &ar);
    let obj: DynamicObject = serde_json::from_value(deployment("x", "img:v1", 1)).unwrap();
    let err = api_err(
        api2.patch("x", &PatchParams::apply("lilt"), &Patch::Apply(&obj))
            .await,
    );
    assert_eq!(err.code, 404);
    assert_eq!(err.message, "namespaces \"nope\" not found");
}

#[tokio::test]
async fn crud_selectors_patches_and_concurrency() {
    let d = double().await;
    let c = client(&d).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": name}
        }))
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let err = api_err(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap(),
        )
        .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    let web = cms
        .list(&ListParams::default().labels("tier=web"))
        .await
        .unwrap();
    assert_eq!(web.items.len(), 2);
    let notweb = cms
        .list(&ListParams::default().labels("tier!=web,tier"))
        .await
        .unwrap();
    assert_eq!(notweb.items.len(), 1);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(by_name.items[0].metadata.name.as_deref(), Some("b"));
    let err = api_err(cms.list(&ListParams::default().fields("data.k=a")).await);
    assert_eq!(err.code, 400);
    assert!(err.message.contains("field label not supported"));
    // Paging.
    let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let tok = page.metadata.continue_.clone().unwrap();
    let rest = cms
        .list(&ListParams::default().limit(2).continue_token(&tok))
        .await
        .unwrap();
    assert!(!rest.items.is_empty());

    // Optimistic concurrency on replace.
    let mut a = cms.get("a").await.unwrap();
    let stale = a.clone();
    a.data.as_mut().unwrap().insert("k".into(), "a2".into());
    cms.replace("a", &PostParams::default(), &a).await.unwrap();
    let err = api_err(cms.replace("a", &PostParams::default(), &stale).await);
    assert_eq!(err.code, 409);
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    // Merge, strategic and JSON patches.
    let p = cms
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data.unwrap().get("m").map(String::as_str), Some("1"));
    let p = cms
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        p.metadata.labels.unwrap().get("x").map(String::as_str),
        Some("y")
    );
    // JSON patch through the client's raw request path (same wire format kube-rs sends).
    let req = hyper::Request::patch("/api/v1/namespaces/default/configmaps/b?fieldManager=jp")
        .header("Content-Type", "application/json-patch+json")
        .body(serde_json::to_vec(&json!([{"op": "remove", "path": "/data/m"}])).unwrap())
        .unwrap();
    let p: ConfigMap = c.request(req).await.unwrap();
    assert!(!p.data.unwrap().contains_key("m"));
    // The patches were recorded as Update operations of the request's manager.
    let mf = p.metadata.managed_fields.unwrap();
    assert!(mf.iter().any(|m| m.operation.as_deref() == Some("Update")));

    // Delete answers with a Success Status for ConfigMaps.
    let gone = cms.delete("c", &DeleteParams::default()).await.unwrap();
    assert!(gone.is_right());
    let err = api_err(cms.get("c").await);
    assert_eq!(err.code, 404);
    assert_eq!(err.message, "configmaps \"c\" not found");

    // Immutable ConfigMaps.
    let imm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "frozen"}, "data": {"k": "v"}, "immutable": true
    }))
    .unwrap();
    cms.create(&PostParams::default(), &imm).await.unwrap();
    let err = api_err(
        cms.patch(
            "frozen",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await,
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("field is immutable when `immutable` is set")
    );
}

#[tokio::test]
async fn watch_with_bookmarks_resume_and_expiry() {
    let d = double().await;
    let c = client(&d).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let start = cms.list(&ListParams::default()).await.unwrap();
    let start_rv = start.metadata.resource_version.unwrap();

    let mut stream = cms
        .watch(&WatchParams::default().labels("app=w"), &start_rv)
        .await
        .unwrap()
        .boxed();
    let mk = |n: &str| -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": n, "labels": {"app": "w"}}, "data": {"v": "1"}}),
        )
        .unwrap()
    };
    cms.create(&PostParams::default(), &mk("w1")).await.unwrap();
    cms.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    // Dropping the label makes it leave the selector: DELETED for this watch.
    cms.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": null}}})),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut bookmark_rv = None;
    while seen.len() < 3 || bookmark_rv.is_none() {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("watch event")
            .unwrap()
            .expect("stream open");
        match ev {
            WatchEvent::Added(o) => seen.push(("ADDED", o.metadata.resource_version.unwrap())),
            WatchEvent::Modified(o) => {
                seen.push(("MODIFIED", o.metadata.resource_version.unwrap()))
            }
            WatchEvent::Deleted(o) => seen.push(("DELETED", o.metadata.resource_version.unwrap())),
            WatchEvent::Bookmark(b) => {
                if seen.len() == 3 {
                    bookmark_rv = Some(b.metadata.resource_version);
                }
            }
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    let last_rv: u64 = seen[2].1.parse().unwrap();
    let bm: u64 = bookmark_rv.unwrap().parse().unwrap();
    assert!(bm >= last_rv, "a bookmark is never behind the events sent");

    // The server drops every watch; the client resumes from its last resourceVersion and
    // misses nothing that happened in between.
    d.drop_watches();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.try_next().await {
                Ok(Some(WatchEvent::Bookmark(_))) => continue,
                other => return other.map(|o| o.is_none()).unwrap_or(true),
            }
        }
    })
    .await
    .unwrap();
    assert!(end, "the stream ends");
    cms.create(&PostParams::default(), &mk("w2")).await.unwrap();
    let mut resumed = cms
        .watch(&WatchParams::default().labels("app=w"), &seen[2].1)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(Duration::from_secs(10), resumed.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("w2")),
        other => panic!("expected w2 ADDED, got {other:?}"),
    }

    // After a compaction, resuming from an old resourceVersion gets ERROR 410 Expired.
    d.compact();
    let mut old = cms
        .watch(&WatchParams::default(), &start_rv)
        .await
        .unwrap()
        .boxed();
    match old.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn runtime_watcher_and_reflector_follow_the_store() {
    let d = double().await;
    let c = client(&d).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let (reader, writer) = reflector::store();
    let cfg = watcher::Config::default().labels("app=r");
    let task = tokio::spawn(
        watcher(cms.clone(), cfg)
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .for_each(|_| async {}),
    );
    // Streaming lists (sendInitialEvents + the initial-events-end bookmark) too.
    let (sreader, swriter) = reflector::store();
    let stask = tokio::spawn(
        watcher(
            cms.clone(),
            watcher::Config::default().labels("app=r").streaming_lists(),
        )
        .default_backoff()
        .reflect(swriter)
        .applied_objects()
        .for_each(|_| async {}),
    );
    for i in 0..3 {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("r{i}"), "labels": {"app": "r"}}}),
        )
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    eventually(10, "reflectors see 3 objects", || {
        let (r, s) = (reader.clone(), sreader.clone());
        async move { (r.state().len() == 3 && s.state().len() == 3).then_some(()) }
    })
    .await;
    // Watches dropped and history compacted: the watcher re-lists and converges.
    d.drop_watches();
    d.compact();
    cms.delete("r0", &DeleteParams::default()).await.unwrap();
    eventually(15, "reflectors see the delete after a relist", || {
        let (r, s) = (reader.clone(), sreader.clone());
        async move { (r.state().len() == 2 && s.state().len() == 2).then_some(()) }
    })
    .await;
    task.abort();
    stask.abort();
}

fn owned_cm(name: &str, owner: &ConfigMap) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap",
            "name": owner.metadata.name, "uid": owner.metadata.uid,
            "controller": true, "blockOwnerDeletion": true,
        }]},
    }))
    .unwrap()
}

#[tokio::test]
async fn delete_propagation_and_garbage_collection() {
    let d = double().await;
    let c = client(&d).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let pp = PostParams::default();
    let mk = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()
    };

    // Background: the owner goes at once, the GC removes dependents after.
    let owner = cms.create(&pp, &mk("bg")).await.unwrap();
    cms.create(&pp, &owned_cm("bg-dep", &owner)).await.unwrap();
    assert!(
        cms.delete("bg", &DeleteParams::background())
            .await
            .unwrap()
            .is_right()
    );
    eventually(10, "background dependent collected", || {
        let cms = cms.clone();
        async move { cms.get_opt("bg-dep").await.unwrap().is_none().then_some(()) }
    })
    .await;

    // Foreground: the owner stays (deletionTimestamp, foregroundDeletion finalizer) until its
    // dependents are gone; a dependent held by a finalizer holds the owner too.
    let owner = cms.create(&pp, &mk("fg")).await.unwrap();
    let mut dep = owned_cm("fg-dep", &owner);
    dep.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&pp, &dep).await.unwrap();
    let pending = cms.delete("fg", &DeleteParams::foreground()).await.unwrap();
    let pending = pending.left().expect("the owner is still there");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(
        pending
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string())
    );
    let held = eventually(10, "dependent marked for deletion", || {
        let cms = cms.clone();
        async move {
            let o = cms.get("fg-dep").await.unwrap();
            o.metadata.deletion_timestamp.is_some().then_some(o)
        }
    })
    .await;
    assert!(
        cms.get_opt("fg").await.unwrap().is_some(),
        "owner waits for the dependent"
    );
    let _ = held;
    cms.patch(
        "fg-dep",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually(10, "owner and dependent gone", || {
        let cms = cms.clone();
        async move {
            (cms.get_opt("fg").await.unwrap().is_none()
                && cms.get_opt("fg-dep").await.unwrap().is_none())
            .then_some(())
        }
    })
    .await;

    // Orphan: dependents stay, without the ownerReference.
    let owner = cms.create(&pp, &mk("or")).await.unwrap();
    cms.create(&pp, &owned_cm("or-dep", &owner)).await.unwrap();
    cms.delete("or", &DeleteParams::orphan()).await.unwrap();
    let orphan = eventually(10, "orphaned dependent released", || {
        let cms = cms.clone();
        async move {
            let o = cms.get("or-dep").await.unwrap();
            o.metadata.owner_references.is_none().then_some(o)
        }
    })
    .await;
    assert!(orphan.metadata.deletion_timestamp.is_none());
    eventually(10, "orphaning owner gone", || {
        let cms = cms.clone();
        async move { cms.get_opt("or").await.unwrap().is_none().then_some(()) }
    })
    .await;

    // Preconditions.
    let p = cms.create(&pp, &mk("pre")).await.unwrap();
    let err = api_err(
        cms.delete(
            "pre",
            &DeleteParams::default().preconditions(kube::api::Preconditions {
                uid: Some("not-the-uid".into()),
                resource_version: None,
            }),
        )
        .await,
    );
    assert_eq!(err.code, 409);
    assert!(
        cms.delete(
            "pre",
            &DeleteParams::default().preconditions(kube::api::Preconditions {
                uid: p.metadata.uid.clone(),
                resource_version: None,
            })
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn namespace_deletion_terminates_then_removes_its_objects() {
    let d = double().await;
    let c = client(&d).await;
    let nss: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(
        json!({"metadata": {"name": "dev-alice", "labels": {"owner": "alice"}}}),
    )
    .unwrap();
    let created = nss.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    assert_eq!(
        created
            .metadata
            .labels
            .unwrap()
            .get("kubernetes.io/metadata.name")
            .map(String::as_str),
        Some("dev-alice")
    );
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "dev-alice");
    let mut held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/x"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();
    let deleting = nss
        .delete("dev-alice", &DeleteParams::default())
        .await
        .unwrap();
    let deleting = deleting
        .left()
        .expect("a namespace is returned while it terminates");
    assert_eq!(
        deleting.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    // New content is refused while it terminates.
    let err = api_err(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
        )
        .await,
    );
    assert_eq!(err.code, 403);
    assert!(
        err.message.contains("because it is being terminated"),
        "{}",
        err.message
    );
    // The finalizer holds the namespace until it is removed.
    held = eventually(10, "content marked for deletion", || {
        let cms = cms.clone();
        async move {
            let o = cms.get("held").await.unwrap();
            o.metadata.deletion_timestamp.is_some().then_some(o)
        }
    })
    .await;
    assert!(nss.get_opt("dev-alice").await.unwrap().is_some());
    let _ = held;
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually(10, "namespace gone", || {
        let nss = nss.clone();
        async move {
            nss.get_opt("dev-alice")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert!(d.list("v1", "ConfigMap", Some("dev-alice")).is_empty());
}

#[tokio::test]
async fn crds_are_served_once_established() {
    let d = double().await;
    let c = client(&d).await;
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                    "parts": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                        "items": {"type": "object", "properties": {"id": {"type": "string"}, "size": {"type": "integer"}}}}}}}}}}]},
    }))
    .unwrap();
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("lilt"),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    // Wait for Established, as lilt must before applying custom resources.
    eventually(10, "CRD established", || {
        let crds = crds.clone();
        async move {
            let o = crds.get("widgets.example.com").await.unwrap();
            o.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        }
    })
    .await;
    let discovery = Discovery::new(c.clone()).run_aggregated().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("served after Established");
    assert_eq!(caps.scope, Scope::Namespaced);
    let widgets: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
    let w = |parts: Value| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"parts": parts}}))
        .unwrap()
    };
    widgets
        .patch(
            "w",
            &PatchParams::apply("a"),
            &Patch::Apply(w(json!([{"id": "x", "size": 1}]))),
        )
        .await
        .unwrap();
    // The CRD's list-map marker makes two managers' items merge by key.
    let both = widgets
        .patch(
            "w",
            &PatchParams::apply("b"),
            &Patch::Apply(w(json!([{"id": "y", "size": 2}]))),
        )
        .await
        .unwrap();
    assert_eq!(
        both.data["spec"]["parts"].as_array().unwrap().len(),
        2,
        "{:?}",
        both.data
    );
    let listed = widgets.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].types.as_ref().unwrap().kind, "Widget");
    // Strategic merge patch is not for custom resources.
    let err = api_err(
        widgets
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {}})),
            )
            .await,
    );
    assert_eq!(err.code, 415);
    // Deleting the CRD removes its objects and stops serving it.
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "CRD gone", || {
        let crds = crds.clone();
        async move {
            crds.get_opt("widgets.example.com")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
    let err = api_err(widgets.get("w").await);
    assert_eq!(err.code, 404);
    let _ = ApiResource::erase::<Pod>(&());
}

#[tokio::test]
async fn without_a_node_pods_are_unschedulable() {
    let d = double().await;
    let c = client(&d).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(
        spec.containers[0].image_pull_policy.as_deref(),
        Some("Always")
    );
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let p = eventually(10, "PodScheduled=False", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("p").await.unwrap();
            let cond = p
                .status
                .clone()?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "PodScheduled")?;
            (cond.reason.as_deref() == Some("Unschedulable")).then_some(p)
        }
    })
    .await;
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
    let evs = d.events_for("default", "p");
    assert!(
        evs.iter()
            .any(|e| e["reason"] == "FailedScheduling" && e["type"] == "Warning"),
        "{evs:?}"
    );
    // An unscheduled pod is deleted at once (no kubelet to wait for), and returned.
    let gone = pods.delete("p", &DeleteParams::default()).await.unwrap();
    assert!(gone.is_left(), "pods answer a delete with the object");
    assert!(pods.get_opt("p").await.unwrap().is_none());
}

#[tokio::test]
async fn injected_faults_and_request_log() {
    let d = double().await;
    let c = client(&d).await;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "default");
    d.inject(Fault::forbidden("patch", "apps", "deployments", "default", "web").times(1));
    let err = api_err(
        api.patch(
            "web",
            &PatchParams::apply("lilt"),
            &Patch::Apply(deployment("web", "i:1", 1)),
        )
        .await,
    );
    assert_eq!(err.code, 403);
    assert!(
        err.message
            .contains("cannot patch resource \"deployments\""),
        "{}",
        err.message
    );
    // Only once: the next apply goes through.
    api.patch(
        "web",
        &PatchParams::apply("lilt"),
        &Patch::Apply(deployment("web", "i:1", 1)),
    )
    .await
    .unwrap();
    d.inject(
        Fault::status(500, "InternalError", "etcdserver: request timed out")
            .verb("get")
            .times(1),
    );
    assert_eq!(api_err(api.get("web").await).code, 500);
    assert!(api.get("web").await.is_ok());
    let log = d.requests();
    let patches = log.iter().filter(|r| r.verb == "patch").count();
    assert_eq!(patches, 2, "{log:?}");
    assert!(log.iter().any(|r| r.verb == "get" && r.status == 500));
}
