//! Parsing, writing, accessors, ids, selector escaping and apply order.

use lilt_manifest::{
    K8sObject, ManifestError, ObjectId, ObjectIndex, join_selector_parts, parse_yaml_stream,
    sort_for_apply, sort_for_delete, split_selector, to_yaml,
};

use crate::fixtures::{deployment, deployment_in, join, namespace, parse, secret, service};

#[test]
fn parses_documents_in_order_and_skips_empty_ones() {
    let text = format!(
        "---\n{}---\n# only a comment\n---\n~\n---\n{}",
        secret("a"),
        namespace("b")
    );
    let objects = parse(&text);
    let names: Vec<(&str, &str)> = objects.iter().map(|o| (o.kind(), o.name())).collect();
    assert_eq!(names, [("Secret", "a"), ("Namespace", "b")]);
}

#[test]
fn flattens_lists() {
    let text = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: one}
- apiVersion: v1
  kind: List
  items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: two}
";
    let names: Vec<String> = parse(text).iter().map(|o| o.name().to_owned()).collect();
    assert_eq!(names, ["one", "two"]);
}

#[test]
fn yaml_errors_carry_line_and_column() {
    match parse_yaml_stream("a: 1\nb: [1,\n c: x") {
        Err(ManifestError::Yaml {
            line,
            column,
            message,
        }) => {
            assert_eq!((line, column), (2, 4));
            assert!(message.contains("unclosed bracket"), "{message}");
        }
        other => panic!("expected a yaml error, got {other:?}"),
    }
}

#[test]
fn documents_that_are_not_objects_are_errors() {
    let err = parse_yaml_stream("- 1\n- 2\n").map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err("yaml document 1: expected a mapping, found list".to_owned())
    );
    let err = parse_yaml_stream(&format!("{}---\nmetadata: {{name: x}}\n", secret("a")))
        .map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err("yaml document 2: object 'kind' is missing".to_owned())
    );
}

#[test]
fn round_trips_key_order_and_values() {
    let text = "apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  annotations:
    z: last
    a: first
data:
  enabled: \"true\"
  count: \"3\"
  script: |
    echo hi
    echo there
";
    let objects = parse(text);
    let written = to_yaml(&objects);
    assert_eq!(written, text);
    assert_eq!(parse(&written), objects);
}

#[test]
fn writes_documents_separated_by_dashes() {
    let objects = parse(&join(&[secret("a"), namespace("b")]));
    let written = to_yaml(&objects);
    assert_eq!(written.matches("---\n").count(), 1);
    assert_eq!(parse(&written), objects);
}

#[test]
fn accessors_read_metadata() {
    let objects = parse(&join(&[
        deployment_in("web", "prod", "gcr.io/web"),
        service("web", "", "web"),
    ]));
    let dep = &objects[0];
    assert_eq!(dep.api_version(), "apps/v1");
    assert_eq!(dep.group(), "apps");
    assert_eq!(dep.kind(), "Deployment");
    assert_eq!(dep.name(), "web");
    assert_eq!(dep.namespace(), Some("prod"));
    assert_eq!(dep.labels().get("app"), Some(&"web"));
    assert_eq!(dep.pod_template_labels().len(), 1);
    assert_eq!(dep.pod_template_labels()[0].get("app"), Some(&"web"));
    assert!(dep.has_pod_template());
    assert_eq!(dep.service_selector(), None);

    let svc = &objects[1];
    assert_eq!(svc.group(), "");
    assert_eq!(svc.namespace(), None);
    assert_eq!(svc.namespace_or_default(), "default");
    assert_eq!(
        svc.service_selector().and_then(|s| s.get("app").copied()),
        Some("web")
    );
    assert!(!svc.has_pod_template());
}

#[test]
fn object_ids_render_as_tilt_does() {
    let objects = parse(&join(&[deployment("Foo", "gcr.io/foo"), secret("a:b")]));
    assert_eq!(objects[0].id().to_string(), "foo:deployment:default:apps");
    assert_eq!(objects[1].id().to_string(), "a\\:b:secret:default:core");
    assert_eq!(objects[1].selector_name(), "a\\:b:Secret:default");
    let id = ObjectId {
        name: "x".to_owned(),
        kind: "Kind".to_owned(),
        namespace: "ns".to_owned(),
        group: String::new(),
    };
    assert_eq!(
        id.candidate_names(),
        ["x", "x:kind", "x:kind:ns", "x:kind:ns:core"]
    );
}

#[test]
fn selector_parts_escape_and_split() {
    assert_eq!(join_selector_parts(&["a:b", "c\\d"]), "a\\:b:c\\\\d");
    assert_eq!(
        split_selector("a\\:b:c\\\\d"),
        Ok(vec!["a:b".to_owned(), "c\\d".to_owned()])
    );
    assert_eq!(
        split_selector("qu\\u:bar"),
        Err("invalid escape sequence '\\u' in 'qu\\u:b'".to_owned())
    );
}

fn kinds(objects: &[K8sObject]) -> Vec<&str> {
    objects.iter().map(K8sObject::kind).collect()
}

#[test]
fn sorts_by_kind_for_apply_and_reverses_for_delete() {
    let text = "apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
---
apiVersion: v1
kind: Service
metadata: {name: s}
---
apiVersion: v1
kind: Namespace
metadata: {name: n}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: c}
";
    let mut objects = parse(text);
    sort_for_apply(&mut objects);
    assert_eq!(
        kinds(&objects),
        [
            "Namespace",
            "CustomResourceDefinition",
            "Service",
            "Deployment",
            "Widget",
            "Gadget"
        ]
    );
    sort_for_delete(&mut objects);
    assert_eq!(
        kinds(&objects),
        [
            "Gadget",
            "Widget",
            "Deployment",
            "Service",
            "CustomResourceDefinition",
            "Namespace"
        ]
    );
}

#[test]
fn duplicate_objects_are_reported_with_the_first_location() {
    let mut index = ObjectIndex::new();
    let first = parse(&join(&[secret("a"), deployment_in("web", "prod", "web")]));
    assert_eq!(index.register(&first, "Tiltfile:1:1", false), Ok(()));
    let err = index
        .register(&parse(&secret("a")), "Tiltfile:2:1", false)
        .map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err("Duplicate YAML: Secret a\nIgnore this error with k8s_yaml(..., allow_duplicates=True)\nYAML originally registered at: Tiltfile:1:1".to_owned())
    );
    let err = index
        .register(&parse(&deployment_in("web", "prod", "web")), "here", false)
        .map_err(|e| e.to_string());
    assert!(
        err.is_err_and(|e| e.starts_with("Duplicate YAML: Deployment web (Namespace: prod)\n"))
    );
    assert_eq!(index.register(&parse(&secret("a")), "again", true), Ok(()));
    assert_eq!(index.len(), 2);
}

#[test]
fn duplicates_within_one_call_are_reported() {
    let mut index = ObjectIndex::new();
    let objects = parse(&join(&[secret("a"), secret("a")]));
    assert!(index.register(&objects, "Tiltfile:3:1", false).is_err());
    assert!(index.is_empty());
}
