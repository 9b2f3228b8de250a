//! Deploy-time injection and `filter_yaml`.

use std::collections::BTreeMap;

use lilt_manifest::{
    DeployedImage, ImageLocator, ImageRef, JsonPath, K8sObject, ObjectSelector, RefSelector,
    YamlFilter, filter_yaml, inject, to_yaml,
};
use serde_json::{Value, json};

use crate::fixtures::{deployment, join, namespace, parse, secret, service};

fn deployed(selector: &str, cluster_ref: &str) -> DeployedImage {
    DeployedImage {
        selector: RefSelector::parse(selector).unwrap_or_else(|e| panic!("{e}")),
        cluster_ref: ImageRef::parse(cluster_ref).unwrap_or_else(|e| panic!("{e}")),
        match_in_env_vars: false,
        entrypoint: None,
        container_args: None,
    }
}

fn at<'a>(obj: &'a K8sObject, pointer: &str) -> &'a Value {
    obj.as_value().pointer(pointer).unwrap_or(&Value::Null)
}

const CONTAINER: &str = "/spec/template/spec/containers/0";

#[test]
fn replaces_images_and_sets_tilt_fields() {
    let objects = parse(&join(&[
        deployment("foo", "gcr.io/foo:v1"),
        service("foo", "", "foo"),
    ]));
    let out = inject(
        &objects,
        &[deployed("gcr.io/foo", "localhost:5000/gcr.io_foo:tilt-abc")],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dep = &out[0];
    assert_eq!(
        at(dep, &format!("{CONTAINER}/image")),
        "localhost:5000/gcr.io_foo:tilt-abc"
    );
    assert_eq!(
        at(dep, &format!("{CONTAINER}/imagePullPolicy")),
        "IfNotPresent"
    );
    assert_eq!(
        at(dep, "/metadata/labels/app.kubernetes.io~1managed-by"),
        "tilt"
    );
    assert_eq!(
        at(
            dep,
            "/spec/template/metadata/labels/app.kubernetes.io~1managed-by"
        ),
        "tilt"
    );
    let hash = at(
        dep,
        "/spec/template/metadata/labels/tilt.dev~1pod-template-hash",
    );
    assert_eq!(hash.as_str().map(str::len), Some(20));
    assert_eq!(
        at(&out[1], "/metadata/labels/app.kubernetes.io~1managed-by"),
        "tilt"
    );
    // The service's selector does not carry the managed-by key, so it is left alone.
    assert_eq!(at(&out[1], "/spec/selector"), &json!({"app": "foo"}));
    // The input is not modified.
    assert_eq!(
        at(&objects[0], &format!("{CONTAINER}/image")),
        "gcr.io/foo:v1"
    );
}

#[test]
fn pod_template_hash_follows_the_template() {
    let objects = parse(&deployment("foo", "gcr.io/foo"));
    let hash = |cluster_ref: &str| {
        let out = inject(&objects, &[deployed("gcr.io/foo", cluster_ref)], &[])
            .unwrap_or_else(|e| panic!("{e}"));
        at(
            &out[0],
            "/spec/template/metadata/labels/tilt.dev~1pod-template-hash",
        )
        .clone()
    };
    assert_eq!(hash("gcr.io/foo:tilt-1"), hash("gcr.io/foo:tilt-1"));
    assert_ne!(hash("gcr.io/foo:tilt-1"), hash("gcr.io/foo:tilt-2"));
    // Injecting twice gives the same result as injecting once.
    let once = inject(
        &objects,
        &[deployed("gcr.io/foo", "gcr.io/foo:tilt-1")],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let twice = inject(&once, &[deployed("gcr.io/foo", "gcr.io/foo:tilt-1")], &[])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(once, twice);
}

#[test]
fn statefulsets_go_parallel_only_with_images() {
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  template:\n    spec:\n      containers: [{name: db, image: gcr.io/db}]\n";
    let objects = parse(sts);
    let with = inject(&objects, &[deployed("gcr.io/db", "gcr.io/db:tilt-1")], &[])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(at(&with[0], "/spec/podManagementPolicy"), "Parallel");
    let without = inject(&objects, &[], &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(at(&without[0], "/spec/podManagementPolicy"), &Value::Null);
    assert_eq!(
        at(
            &without[0],
            "/spec/template/spec/containers/0/imagePullPolicy"
        ),
        &Value::Null
    );
}

#[test]
fn entrypoint_and_args_replace_command_and_args() {
    let objects = parse(&join(&[
        deployment("foo", "gcr.io/foo"),
        deployment("bar", "gcr.io/bar"),
    ]));
    let mut image = deployed("gcr.io/foo", "gcr.io/foo:tilt-1");
    image.entrypoint = Some(vec!["/bin/app".to_owned(), "--dev".to_owned()]);
    image.container_args = Some(vec!["x".to_owned()]);
    let out = inject(&objects, &[image], &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        at(&out[0], &format!("{CONTAINER}/command")),
        &json!(["/bin/app", "--dev"])
    );
    assert_eq!(at(&out[0], &format!("{CONTAINER}/args")), &json!(["x"]));
    assert_eq!(at(&out[1], &format!("{CONTAINER}/command")), &Value::Null);
    assert_eq!(at(&out[1], &format!("{CONTAINER}/image")), "gcr.io/bar");
}

#[test]
fn env_values_are_replaced_when_asked() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: gcr.io/main\n        env: [{name: FETCHER, value: gcr.io/fetcher}]\n";
    let objects = parse(yaml);
    let mut fetcher = deployed("gcr.io/fetcher", "gcr.io/fetcher:tilt-9");
    fetcher.match_in_env_vars = true;
    let out = inject(
        &objects,
        &[deployed("gcr.io/main", "gcr.io/main:tilt-1"), fetcher],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        at(&out[0], &format!("{CONTAINER}/env/0/value")),
        "gcr.io/fetcher:tilt-9"
    );
    assert_eq!(
        at(&out[0], &format!("{CONTAINER}/image")),
        "gcr.io/main:tilt-1"
    );
}

#[test]
fn locators_rewrite_custom_resources() {
    let crd = "apiVersion: foo/v1\nkind: Foo\nmetadata: {name: f}\nspec:\n  image: gcr.io/foo:stable\n  imagePullPolicy: Always\n  obj: {repo: gcr.io/foo, tag: stable}\n";
    let objects = parse(crd);
    let selector = || ObjectSelector::exact("", "Foo", "", "");
    let locators = [
        ImageLocator::JsonPath {
            selector: selector(),
            path: JsonPath::parse("{.spec.image}").unwrap_or_else(|e| panic!("{e}")),
        },
        ImageLocator::ImageObject {
            selector: selector(),
            path: JsonPath::parse("{.spec.obj}").unwrap_or_else(|e| panic!("{e}")),
            repo_field: "repo".to_owned(),
            tag_field: "tag".to_owned(),
        },
    ];
    let digest = "sha256:2baf1f40105d9501fe319a8ec463fdf4325a2a5df445adf3f572f626253678c9";
    let out = inject(
        &objects,
        &[deployed(
            "gcr.io/foo",
            &format!("localhost:3000/gcr_io_foo:tilt-1@{digest}"),
        )],
        &locators,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        at(&out[0], "/spec/image").as_str(),
        Some(format!("localhost:3000/gcr_io_foo:tilt-1@{digest}").as_str())
    );
    assert_eq!(at(&out[0], "/spec/imagePullPolicy"), "IfNotPresent");
    assert_eq!(
        at(&out[0], "/spec/obj"),
        &json!({"repo": "localhost:3000/gcr_io_foo", "tag": "tilt-1"})
    );
}

#[test]
fn missing_images_and_command_targets_are_errors() {
    let objects = parse(&deployment("foo", "gcr.io/foo"));
    assert_eq!(
        inject(
            &objects,
            &[deployed("gcr.io/other", "gcr.io/other:tilt-1")],
            &[]
        )
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Err("Docker image missing from yaml: gcr.io/other".to_owned())
    );
    let crd =
        parse("apiVersion: foo/v1\nkind: Foo\nmetadata: {name: f}\nspec: {image: gcr.io/foo}\n");
    let locator = ImageLocator::JsonPath {
        selector: ObjectSelector::exact("", "Foo", "", ""),
        path: JsonPath::parse("{.spec.image}").unwrap_or_else(|e| panic!("{e}")),
    };
    let mut image = deployed("gcr.io/foo", "gcr.io/foo:tilt-1");
    image.entrypoint = Some(vec!["run".to_owned()]);
    let err = inject(&crd, &[image], &[locator])
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert!(
        err.is_err_and(|e| e.starts_with("could not inject command [\"run\"] into entity: f."))
    );
}

fn names(objects: &[K8sObject]) -> Vec<String> {
    objects.iter().map(K8sObject::display_name).collect()
}

#[test]
fn filter_yaml_by_fields_and_labels() {
    let objects = parse(&join(&[
        deployment("foo", "foo"),
        deployment("bar", "bar"),
        secret("foo-secret"),
        namespace("FOO"),
    ]));
    let by_name = YamlFilter {
        name: "^foo".to_owned(),
        ..YamlFilter::default()
    };
    let (matching, rest) = filter_yaml(objects.clone(), &by_name).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        names(&matching),
        ["Deployment/foo", "Secret/foo-secret", "Namespace/FOO"]
    );
    assert_eq!(names(&rest), ["Deployment/bar"]);

    let by_kind_and_label = YamlFilter {
        kind: "deploy".to_owned(),
        labels: BTreeMap::from([("app".to_owned(), "bar".to_owned())]),
        ..YamlFilter::default()
    };
    let (matching, rest) =
        filter_yaml(objects.clone(), &by_kind_and_label).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&matching), ["Deployment/bar"]);
    assert_eq!(
        names(&rest),
        ["Secret/foo-secret", "Namespace/FOO", "Deployment/foo"]
    );

    let by_version = YamlFilter {
        api_version: "^v1$".to_owned(),
        ..YamlFilter::default()
    };
    let (matching, _) = filter_yaml(objects.clone(), &by_version).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&matching), ["Secret/foo-secret", "Namespace/FOO"]);
    assert!(to_yaml(&matching).contains("kind: Namespace"));

    let bad = YamlFilter {
        kind: "*".to_owned(),
        ..YamlFilter::default()
    };
    let err = filter_yaml(objects, &bad)
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert!(err.is_err_and(|e| e.starts_with("error parsing kind regexp: ")));
}
