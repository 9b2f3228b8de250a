//! `k8s_resource` calls applied after assembly, ported in spirit from Tilt's
//! `TestK8sResource*` tests.

use std::collections::BTreeMap;

use lilt_manifest::{
    AssembleInput, Assembly, DiscoveryStrategy, K8sResourceCall, ManifestError, PodReadiness,
    TriggerChoice, assemble,
};
use lilt_model::{Link, PortForward};

use crate::assemble::summary;
use crate::fixtures::{deployment, join, namespace, parse, secret};

fn call(workload: &str, objects: &[&str]) -> K8sResourceCall {
    K8sResourceCall {
        workload: workload.to_owned(),
        objects: objects.iter().map(|s| s.to_string()).collect(),
        ..K8sResourceCall::default()
    }
}

fn new_resource(name: &str, objects: &[&str]) -> K8sResourceCall {
    K8sResourceCall {
        new_name: name.to_owned(),
        ..call("", objects)
    }
}

fn run(yaml: &str, calls: Vec<K8sResourceCall>) -> Result<Assembly, ManifestError> {
    assemble(AssembleInput {
        objects: parse(yaml),
        calls,
        ..AssembleInput::default()
    })
}

fn check(yaml: &str, calls: Vec<K8sResourceCall>, want: &[&str]) {
    match run(yaml, calls) {
        Ok(assembly) => assert_eq!(summary(&assembly), want),
        Err(err) => panic!("assembly failed: {err}"),
    }
}

fn check_err(yaml: &str, calls: Vec<K8sResourceCall>, want: &str) {
    match run(yaml, calls) {
        Ok(assembly) => panic!("expected an error, got {:?}", summary(&assembly)),
        Err(err) => assert_eq!(err.to_string(), want),
    }
}

fn foo_bar_baz() -> String {
    join(&[
        deployment("foo", "gcr.io/foo"),
        secret("bar"),
        namespace("baz"),
    ])
}

#[test]
fn objects_move_into_a_workload() {
    check(
        &foo_bar_baz(),
        vec![call("foo", &["bar", "baz:namespace:default"])],
        &["foo: Namespace/baz, Secret/bar, Deployment/foo"],
    );
}

#[test]
fn selectors_are_case_insensitive_and_partial_forms_work() {
    let yaml = join(&[
        deployment("foo", "gcr.io/foo"),
        secret("bar"),
        namespace("bar"),
    ]);
    check(
        &yaml,
        vec![call("foo", &["BAR:Secret", "bar:namespace"])],
        &["foo: Namespace/bar, Secret/bar, Deployment/foo"],
    );
}

#[test]
fn ambiguous_fragments_are_errors() {
    let yaml = join(&[
        deployment("foo", "gcr.io/foo"),
        secret("bar"),
        namespace("bar"),
    ]);
    check_err(
        &yaml,
        vec![call("foo", &["bar"])],
        "\"bar\" is not a unique fragment. Objects that match \"bar\" are \"bar:Secret:default\", \"bar:Namespace:default\"",
    );
    let yaml = join(&[deployment("foo", "gcr.io/foo"), secret("foo")]);
    check_err(
        &yaml,
        vec![call("foo", &["foo"])],
        "\"foo\" is not a unique fragment. Objects that match \"foo\" are \"foo:Deployment:default\", \"foo:Secret:default\"",
    );
}

#[test]
fn unknown_fragments_list_every_object() {
    check_err(
        &foo_bar_baz(),
        vec![call("foo", &["baz:secret:default"])],
        "No object identified by the fragment \"baz:secret:default\" could be found. Possible objects are: \"foo:Deployment:default\", \"bar:Secret:default\", \"baz:Namespace:default\"",
    );
    check_err(
        &foo_bar_baz(),
        vec![call("foo", &["ba"])],
        "No object identified by the fragment \"ba\" could be found. Possible objects are: \"foo:Deployment:default\", \"bar:Secret:default\", \"baz:Namespace:default\"",
    );
    check_err(
        &foo_bar_baz(),
        vec![call("foo", &["baz:namespace:qux"])],
        "No object identified by the fragment \"baz:namespace:qux\" could be found. Possible objects are: \"foo:Deployment:default\", \"bar:Secret:default\", \"baz:Namespace:default\"",
    );
}

#[test]
fn objects_cannot_be_taken_twice() {
    let yaml = join(&[
        deployment("foo", "gcr.io/foo"),
        secret("bar"),
        secret("qux"),
    ]);
    check_err(
        &yaml,
        vec![call("foo", &["bar", "bar:secret:default"])],
        "No object identified by the fragment \"bar:secret:default\" could be found in remaining YAML. Valid remaining fragments are: \"qux:Secret:default\"",
    );
}

#[test]
fn selector_syntax_errors() {
    check_err(
        &foo_bar_baz(),
        vec![call("foo", &[""])],
        "Error making selector from string \"\": selector can't be empty",
    );
    check_err(
        &foo_bar_baz(),
        vec![call("foo", &["baz:namespace:default:core"])],
        "Error making selector from string \"baz:namespace:default:core\": Too many parts in selector. Selectors must contain between 1 and 3 parts (colon separated), found 4 parts in baz:namespace:default:core",
    );
    check_err(
        &foo_bar_baz(),
        vec![call("foo", &["qu\\u:bar"])],
        "Error making selector from string \"qu\\\\u:bar\": invalid escape sequence '\\u' in 'qu\\u:b'",
    );
}

#[test]
fn escaped_names() {
    let yaml = join(&[
        deployment("foo", "gcr.io/foo"),
        secret("quu:bar"),
        secret("back\\slash"),
    ]);
    check(
        &yaml,
        vec![call("foo", &["quu\\:bar", "back\\\\slash"])],
        &["foo: Secret/quu:bar, Secret/back\\slash, Deployment/foo"],
    );
    check_err(
        &yaml,
        vec![call("foo", &["quu:bar"])],
        "No object identified by the fragment \"quu:bar\" could be found. Possible objects are: \"foo:Deployment:default\", \"quu\\\\:bar:Secret:default\", \"back\\\\\\\\slash:Secret:default\"",
    );
}

#[test]
fn unknown_workload_lists_known_resources() {
    let yaml = join(&[deployment("foo", "foo"), deployment("bar", "bar")]);
    let mut c = call("baz", &[]);
    c.position = "Tiltfile:4:1".to_owned();
    check_err(
        &yaml,
        vec![c],
        "Tiltfile:4:1: k8s_resource specified unknown resource \"baz\". known k8s resources: foo, bar",
    );
}

#[test]
fn new_resources_from_objects() {
    let yaml = join(&[secret("bar"), namespace("baz")]);
    let assembly = run(
        &yaml,
        vec![new_resource("foo", &["bar", "baz:namespace:default"])],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary(&assembly), ["foo: Namespace/baz, Secret/bar"]);
    assert!(assembly.resources[0].manually_grouped);
    assert_eq!(assembly.resources[0].pod_readiness, PodReadiness::Ignore);
    assert_eq!(assembly.uncategorized, None);
}

#[test]
fn new_resources_are_additive() {
    let yaml = join(&[namespace("a"), namespace("b")]);
    check(
        &yaml,
        vec![
            new_resource("namespaces", &["a"]),
            call("namespaces", &["b"]),
        ],
        &["namespaces: Namespace/a, Namespace/b"],
    );
}

#[test]
fn new_resource_names_must_be_free() {
    let yaml = join(&[deployment("a", "a"), namespace("b"), namespace("c")]);
    check_err(
        &yaml,
        vec![call("a", &["b"]), new_resource("a", &["c"])],
        "k8s_resource named \"a\" already exists",
    );
}

#[test]
fn renames_apply_in_order_and_later_calls_use_the_new_name() {
    let yaml = deployment("foo", "foo");
    let mut first = call("foo", &[]);
    first.new_name = "bar".to_owned();
    let mut second = call("bar", &[]);
    second.new_name = "baz".to_owned();
    check(&yaml, vec![first, second], &["baz: Deployment/foo"]);

    let mut stale = call("foo", &[]);
    stale.new_name = "x".to_owned();
    let mut again = call("foo", &[]);
    again.new_name = "y".to_owned();
    check_err(
        &yaml,
        vec![stale, again],
        "k8s_resource specified unknown resource \"foo\". known k8s resources: x",
    );
}

#[test]
fn rename_onto_a_taken_name_is_an_error() {
    let yaml = join(&[deployment("foo", "foo"), deployment("bar", "bar")]);
    let mut c = call("foo", &[]);
    c.new_name = "bar".to_owned();
    check_err(
        &yaml,
        vec![c],
        "k8s_resource specified to rename \"foo\" to \"bar\": k8s_resource named \"bar\" already exists",
    );
}

#[test]
fn missing_names_and_objects_are_rejected() {
    check_err(
        &deployment("foo", "foo"),
        vec![call("", &[])],
        "Resource name missing. Must give a name for an existing resource or a new_name to create a new resource.",
    );
    assert_eq!(
        new_resource("foo", &[]).validate().map_err(|e| e.to_string()),
        Err("k8s_resource doesn't specify a workload or any objects. All non-workload resources must specify 1 or more objects".to_owned())
    );
}

#[test]
fn options_append_or_overwrite() {
    let pf = |port| PortForward {
        local_port: port,
        container_port: 0,
        host: String::new(),
        name: String::new(),
        link_path: String::new(),
    };
    let link = |url: &str| Link {
        url: url.to_owned(),
        name: String::new(),
    };
    let labels = |l: &str| BTreeMap::from([(l.to_owned(), l.to_owned())]);
    let first = K8sResourceCall {
        port_forwards: vec![pf(8000)],
        links: vec![link("http://a")],
        labels: labels("a"),
        resource_deps: vec!["db".to_owned()],
        extra_pod_selectors: vec![BTreeMap::from([("x".to_owned(), "1".to_owned())])],
        trigger_mode: Some(TriggerChoice::Manual),
        auto_init: Some(false),
        pod_readiness: Some(PodReadiness::Ignore),
        discovery_strategy: Some(DiscoveryStrategy::SelectorsOnly),
        ..call("foo", &[])
    };
    let second = K8sResourceCall {
        port_forwards: vec![pf(9000)],
        links: vec![link("http://b")],
        labels: labels("b"),
        resource_deps: vec!["cache".to_owned()],
        trigger_mode: Some(TriggerChoice::Auto),
        pod_readiness: Some(PodReadiness::Wait),
        ..call("foo", &[])
    };
    let assembly =
        run(&deployment("foo", "foo"), vec![first, second]).unwrap_or_else(|e| panic!("{e}"));
    let r = &assembly.resources[0];
    assert_eq!(
        r.port_forwards
            .iter()
            .map(|p| p.local_port)
            .collect::<Vec<_>>(),
        [8000, 9000]
    );
    assert_eq!(r.links.len(), 2);
    assert_eq!(r.labels.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(r.resource_deps, ["db", "cache"]);
    assert_eq!(r.extra_pod_selectors.len(), 1);
    assert_eq!(r.trigger_mode, Some(TriggerChoice::Auto));
    assert!(!r.auto_init);
    assert_eq!(r.pod_readiness, PodReadiness::Wait);
    assert_eq!(r.discovery_strategy, Some(DiscoveryStrategy::SelectorsOnly));
}

#[test]
fn manual_group_with_pod_selectors_waits() {
    let c = K8sResourceCall {
        extra_pod_selectors: vec![BTreeMap::from([("app".to_owned(), "x".to_owned())])],
        ..new_resource("group", &["bar"])
    };
    let assembly = run(&secret("bar"), vec![c]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(assembly.resources[0].pod_readiness, PodReadiness::Wait);
}

#[test]
fn leftovers_stay_uncategorized_after_calls() {
    let yaml = join(&[
        deployment("foo", "foo"),
        secret("bar"),
        namespace("qux"),
        deployment("baz", "baz"),
    ]);
    check(
        &yaml,
        vec![call("foo", &["bar"]), call("baz", &[])],
        &[
            "foo: Secret/bar, Deployment/foo",
            "baz: Deployment/baz",
            "uncategorized: Namespace/qux",
        ],
    );
}

#[test]
fn custom_deploys_exist_before_assembly() {
    let input = AssembleInput {
        objects: parse(&secret("s")),
        custom_deploys: vec!["deployer".to_owned()],
        calls: vec![call("deployer", &["s"])],
        ..AssembleInput::default()
    };
    let assembly = assemble(input).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary(&assembly), ["deployer: Secret/s"]);
    assert!(assembly.resources[0].custom_deploy);
}
