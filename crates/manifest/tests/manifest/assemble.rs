//! Assembly: workloads, default names, Service grouping, leftovers, readiness.

use lilt_manifest::{
    AssembleInput, Assembly, BuildImage, ImageLocator, ImageRef, JsonPath, K8sObject, KindRule,
    NamingFunction, ObjectId, ObjectSelector, PodReadiness, RefSelector, assemble, unique_names,
};

use crate::fixtures::{deployment, deployment_in, join, namespace, parse, secret, service};

pub fn builds(refs: &[&str]) -> Vec<BuildImage> {
    let refs: Vec<ImageRef> = refs
        .iter()
        .map(|r| ImageRef::parse(r).unwrap_or_else(|e| panic!("{r}: {e}")))
        .collect();
    RefSelector::for_builds(&refs)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|selector| BuildImage {
            selector,
            match_in_env_vars: false,
        })
        .collect()
}

pub fn run(yaml: &str, images: Vec<BuildImage>) -> Assembly {
    assemble(AssembleInput {
        objects: parse(yaml),
        images,
        ..AssembleInput::default()
    })
    .unwrap_or_else(|e| panic!("assembly failed: {e}"))
}

/// `name: Kind/obj, Kind/obj` per resource, then `uncategorized: ...`.
pub fn summary(assembly: &Assembly) -> Vec<String> {
    let line = |name: &str, objects: &[K8sObject]| {
        let objs: Vec<String> = objects.iter().map(K8sObject::display_name).collect();
        format!("{name}: {}", objs.join(", "))
    };
    let mut out: Vec<String> = assembly
        .resources
        .iter()
        .map(|r| line(&r.name, &r.objects))
        .collect();
    if let Some(u) = &assembly.uncategorized {
        out.push(line(&u.name, &u.objects));
    }
    out
}

#[test]
fn basic_workload_with_its_service() {
    let yaml = join(&[deployment("foo", "gcr.io/foo"), service("foo", "", "foo")]);
    let assembly = run(&yaml, builds(&["gcr.io/foo"]));
    assert_eq!(summary(&assembly), ["foo: Service/foo, Deployment/foo"]);
    let res = &assembly.resources[0];
    assert_eq!(res.image_deps, [0]);
    assert_eq!(res.image_refs[0].to_string(), "gcr.io/foo");
    assert_eq!(res.pod_readiness, PodReadiness::Wait);
    assert!(res.auto_init);
}

#[test]
fn images_do_not_need_a_build() {
    let assembly = run(&deployment("redis", "redis:7"), Vec::new());
    assert_eq!(summary(&assembly), ["redis: Deployment/redis"]);
    assert!(assembly.resources[0].image_deps.is_empty());
}

#[test]
fn two_workloads_share_one_image() {
    let yaml = join(&[
        deployment("a", "gcr.io/foo:v1"),
        deployment("b", "gcr.io/foo"),
    ]);
    let assembly = run(&yaml, builds(&["gcr.io/foo"]));
    assert_eq!(summary(&assembly), ["a: Deployment/a", "b: Deployment/b"]);
    assert_eq!(assembly.resources[0].image_deps, [0]);
    assert_eq!(assembly.resources[1].image_deps, [0]);
}

#[test]
fn images_with_same_name_match_exactly() {
    let yaml = join(&[
        deployment("a", "gcr.io/foo"),
        deployment("b", "gcr.io/foo:stable"),
    ]);
    let assembly = run(&yaml, builds(&["gcr.io/foo", "gcr.io/foo:stable"]));
    assert_eq!(assembly.resources[0].image_deps, [0]);
    assert_eq!(assembly.resources[1].image_deps, [1]);
}

#[test]
fn conflicting_workload_names_get_longer() {
    let yaml = join(&[
        deployment_in("foo", "ns1", "gcr.io/foo"),
        deployment_in("foo", "ns2", "gcr.io/foo"),
        deployment("redis", "redis"),
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: redis}\nspec:\n  template:\n    spec:\n      containers: [{name: r, image: redis}]\n".to_owned(),
    ]);
    let names: Vec<String> = run(&yaml, Vec::new())
        .resources
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(
        names,
        [
            "foo:deployment:ns1",
            "foo:deployment:ns2",
            "redis:deployment",
            "redis:statefulset"
        ]
    );
}

#[test]
fn unique_names_fall_back_to_group_then_index() {
    let id = |kind: &str, group: &str| ObjectId {
        name: "x".to_owned(),
        kind: kind.to_owned(),
        namespace: "default".to_owned(),
        group: group.to_owned(),
    };
    assert_eq!(
        unique_names(&[
            id("Thing", "a.io"),
            id("Thing", "b.io"),
            id("Other", ""),
            id("Other", "")
        ]),
        [
            "x:thing:default:a.io",
            "x:thing:default:b.io",
            "x:other:default:core:2",
            "x:other:default:core:3"
        ]
    );
}

#[test]
fn services_join_the_first_matching_workload_in_yaml_order() {
    let yaml = join(&[
        service("svc", "", "shared"),
        deployment("one", "one").replace("app: one", "app: shared"),
        deployment("two", "two").replace("app: two", "app: shared"),
    ]);
    let assembly = run(&yaml, Vec::new());
    assert_eq!(
        summary(&assembly),
        ["one: Service/svc, Deployment/one", "two: Deployment/two"]
    );
}

#[test]
fn services_only_match_in_their_own_namespace() {
    let yaml = join(&[
        deployment_in("web", "ns1", "web"),
        service("web-other", "ns2", "web"),
        service("web-same", "ns1", "web"),
        service("web-none", "", "web"),
    ]);
    assert_eq!(
        summary(&run(&yaml, Vec::new())),
        [
            "web: Service/web-same, Service/web-none, Deployment/web",
            "uncategorized: Service/web-other"
        ]
    );
}

#[test]
fn service_without_selector_matches_nothing_and_other_kinds_are_not_grouped() {
    let no_selector =
        "apiVersion: v1\nkind: Service\nmetadata: {name: bare}\nspec:\n  ports: [{port: 80}]\n";
    let yaml = join(&[
        deployment("foo", "foo"),
        no_selector.to_owned(),
        secret("foo"),
        namespace("foo"),
    ]);
    assert_eq!(
        summary(&run(&yaml, Vec::new())),
        [
            "foo: Deployment/foo",
            "uncategorized: Namespace/foo, Secret/foo, Service/bare"
        ]
    );
    let uncategorized = run(&yaml, Vec::new())
        .uncategorized
        .unwrap_or_else(|| panic!("no leftovers"));
    assert_eq!(uncategorized.pod_readiness, PodReadiness::Ignore);
}

#[test]
fn leftover_pod_templates_become_resources() {
    let no_image = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: empty}\nspec:\n  template:\n    metadata:\n      labels: {app: empty}\n    spec:\n      containers: [{name: c}]\n";
    let yaml = join(&[
        no_image.to_owned(),
        service("empty", "", "empty"),
        secret("s"),
    ]);
    assert_eq!(
        summary(&run(&yaml, Vec::new())),
        [
            "empty: Service/empty, Deployment/empty",
            "uncategorized: Secret/s"
        ]
    );
}

#[test]
fn jobs_and_cronjobs_are_workloads_with_their_readiness() {
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  template:\n    spec:\n      containers: [{name: m, image: migrate}]\n";
    let cron = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: n, image: nightly}]\n";
    let assembly = run(&join(&[job.to_owned(), cron.to_owned()]), Vec::new());
    let modes: Vec<PodReadiness> = assembly.resources.iter().map(|r| r.pod_readiness).collect();
    assert_eq!(modes, [PodReadiness::Succeeded, PodReadiness::Ignore]);
}

fn environment_kind(readiness: Option<PodReadiness>) -> KindRule {
    KindRule {
        selector: ObjectSelector::partial("", "Environment", "", "")
            .unwrap_or_else(|e| panic!("{e}")),
        locators: vec![ImageLocator::JsonPath {
            selector: ObjectSelector::partial("", "Environment", "", "")
                .unwrap_or_else(|e| panic!("{e}")),
            path: JsonPath::parse("{.spec.runtime.image}").unwrap_or_else(|e| panic!("{e}")),
        }],
        pod_readiness: readiness,
    }
}

const ENVIRONMENT: &str = "apiVersion: fission.io/v1\nkind: Environment\nmetadata: {name: mycrd}\nspec:\n  runtime:\n    image: test/mycrd-env\n";

#[test]
fn k8s_kind_makes_custom_resources_workloads() {
    let input = AssembleInput {
        objects: parse(ENVIRONMENT),
        kinds: vec![environment_kind(Some(PodReadiness::Ignore))],
        images: builds(&["test/mycrd-env"]),
        ..AssembleInput::default()
    };
    let assembly = assemble(input).unwrap_or_else(|e| panic!("{e}"));
    let res = &assembly.resources[0];
    assert_eq!(res.name, "mycrd");
    assert_eq!(res.image_deps, [0]);
    assert_eq!(res.pod_readiness, PodReadiness::Ignore);
    assert_eq!(res.image_locators.len(), 1);

    let without = run(ENVIRONMENT, builds(&["test/mycrd-env"]));
    assert_eq!(summary(&without), ["uncategorized: Environment/mycrd"]);
}

#[test]
fn k8s_kind_without_images_still_makes_a_workload() {
    let rule = KindRule {
        selector: ObjectSelector::partial("", "Environment", "", "")
            .unwrap_or_else(|e| panic!("{e}")),
        locators: Vec::new(),
        pod_readiness: None,
    };
    let input = AssembleInput {
        objects: parse(ENVIRONMENT),
        kinds: vec![rule],
        ..AssembleInput::default()
    };
    let assembly = assemble(input).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary(&assembly), ["mycrd: Environment/mycrd"]);
    assert_eq!(assembly.resources[0].pod_readiness, PodReadiness::Wait);
}

#[test]
fn env_var_images_make_workloads_only_when_asked() {
    let yaml = "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: tmpl}\ntemplate:\n  spec:\n    containers:\n    - name: c\n      image: ''\n      env: [{name: IMG, value: gcr.io/fetcher}]\n";
    let mut images = builds(&["gcr.io/fetcher"]);
    assert_eq!(
        summary(&run(yaml, images.clone())),
        ["tmpl: PodTemplate/tmpl"]
    );
    assert!(run(yaml, images.clone()).resources[0].image_deps.is_empty());
    images[0].match_in_env_vars = true;
    assert_eq!(run(yaml, images).resources[0].image_deps, [0]);
}

#[test]
fn naming_function_replaces_default_names() {
    let mut namer = |id: &ObjectId| Ok(format!("hello-{}", id.name));
    let input = AssembleInput {
        objects: parse(&join(&[deployment("foo", "foo"), deployment("bar", "bar")])),
        naming: Some(NamingFunction {
            position: String::new(),
            func: &mut namer,
        }),
        ..AssembleInput::default()
    };
    let names: Vec<String> = assemble(input)
        .unwrap_or_else(|e| panic!("{e}"))
        .resources
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["hello-foo", "hello-bar"]);
}

#[test]
fn naming_function_collisions_and_errors() {
    let mut same = |_: &ObjectId| Ok("same".to_owned());
    let input = AssembleInput {
        objects: parse(&join(&[deployment("foo", "foo"), deployment("bar", "bar")])),
        naming: Some(NamingFunction {
            position: "Tiltfile:3:5".to_owned(),
            func: &mut same,
        }),
        ..AssembleInput::default()
    };
    assert_eq!(
        assemble(input).map(|_| ()).map_err(|e| e.to_string()),
        Err("Tiltfile:3:5: error applying workload_to_resource_function: both 'bar:deployment:default:apps' and 'foo:deployment:default:apps' mapped to resource name 'same'".to_owned())
    );
    let mut failing = |_: &ObjectId| Err("boom".to_owned());
    let input = AssembleInput {
        objects: parse(&deployment("foo", "foo")),
        naming: Some(NamingFunction {
            position: String::new(),
            func: &mut failing,
        }),
        ..AssembleInput::default()
    };
    assert_eq!(
        assemble(input).map(|_| ()).map_err(|e| e.to_string()),
        Err("error applying workload_to_resource_function: error determining resource name for 'foo:deployment:default:apps': boom".to_owned())
    );
}

#[test]
fn workload_names_clash_with_local_resources() {
    let input = AssembleInput {
        objects: parse(&deployment("foo", "foo")),
        local_resources: vec!["foo".to_owned()],
        ..AssembleInput::default()
    };
    assert_eq!(
        assemble(input).map(|_| ()).map_err(|e| e.to_string()),
        Err("local_resource named \"foo\" already exists".to_owned())
    );
}
