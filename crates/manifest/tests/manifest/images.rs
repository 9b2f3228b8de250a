//! Finding images in objects: built-in pod specs, image volumes, env vars, locators.

use lilt_manifest::{
    ImageLocator, ImageRef, ImageSite, JsonPath, ObjectSelector, RefSelector, find_images,
};

use crate::fixtures::{deployment, parse};

fn found(yaml: &str, locators: &[ImageLocator], env: &[&RefSelector]) -> Vec<(String, String)> {
    let objects = parse(yaml);
    find_images(&objects[0], locators, env)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|h| (h.path.to_string(), h.image_ref.familiar_string()))
        .collect()
}

#[test]
fn finds_container_images_of_built_in_kinds() {
    assert_eq!(
        found(&deployment("foo", "gcr.io/foo:v1"), &[], &[]),
        [(
            ".spec.template.spec.containers[0].image".to_owned(),
            "gcr.io/foo:v1".to_owned()
        )]
    );
    let cronjob = "apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  schedule: '* * * * *'
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
          - {name: init, image: busybox}
          containers:
          - {name: main, image: app}
          volumes:
          - name: data
            image: {reference: 'data:v1'}
";
    assert_eq!(
        found(cronjob, &[], &[]),
        [
            (
                ".spec.jobTemplate.spec.template.spec.containers[0].image".to_owned(),
                "app".to_owned()
            ),
            (
                ".spec.jobTemplate.spec.template.spec.initContainers[0].image".to_owned(),
                "busybox".to_owned()
            ),
            (
                ".spec.jobTemplate.spec.template.spec.volumes[0].image.reference".to_owned(),
                "data:v1".to_owned()
            ),
        ]
    );
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: 'redis:7'}\n";
    assert_eq!(
        found(pod, &[], &[]),
        [(".spec.containers[0].image".to_owned(), "redis:7".to_owned())]
    );
}

#[test]
fn custom_resources_need_locators() {
    let crd = "apiVersion: fission.io/v1\nkind: Environment\nmetadata: {name: env}\nspec:\n  runtime:\n    image: gcr.io/env:v1\n  containers:\n  - image: ignored\n";
    assert!(found(crd, &[], &[]).is_empty());
    let locator = ImageLocator::JsonPath {
        selector: ObjectSelector::partial("", "Environment", "", "")
            .unwrap_or_else(|e| panic!("{e}")),
        path: JsonPath::parse("{.spec.runtime.image}").unwrap_or_else(|e| panic!("{e}")),
    };
    assert_eq!(
        found(crd, std::slice::from_ref(&locator), &[]),
        [(".spec.runtime.image".to_owned(), "gcr.io/env:v1".to_owned())]
    );
    let other_kind = ImageLocator::JsonPath {
        selector: ObjectSelector::partial("", "Other", "", "").unwrap_or_else(|e| panic!("{e}")),
        path: JsonPath::parse("{.spec.nothing}").unwrap_or_else(|e| panic!("{e}")),
    };
    assert!(found(crd, &[other_kind], &[]).is_empty());
}

#[test]
fn image_object_locators_join_repo_and_tag() {
    let crd = "apiVersion: x/v1\nkind: UselessMachine\nmetadata: {name: m}\nspec:\n  image: {repo: frontend, tag: v2}\n";
    let locator = ImageLocator::ImageObject {
        selector: ObjectSelector::partial("", "UselessMachine", "", "")
            .unwrap_or_else(|e| panic!("{e}")),
        path: JsonPath::parse("{.spec.image}").unwrap_or_else(|e| panic!("{e}")),
        repo_field: "repo".to_owned(),
        tag_field: "tag".to_owned(),
    };
    let objects = parse(crd);
    let hits = find_images(&objects[0], &[locator], &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].image_ref.familiar_string(), "frontend:v2");
    assert_eq!(
        hits[0].site,
        ImageSite::ImageObject {
            repo_field: "repo".to_owned(),
            tag_field: "tag".to_owned()
        }
    );
}

#[test]
fn env_vars_count_only_for_selected_builds() {
    let yaml = "apiVersion: apps/v1
kind: Deployment
metadata: {name: sancho}
spec:
  template:
    spec:
      containers:
      - name: sancho
        image: gcr.io/some-project-162817/sancho
        env:
        - {name: foo, value: gcr.io/some-project-162817/sancho2}
        - {name: bar, value: 'not an image!'}
";
    assert_eq!(found(yaml, &[], &[]).len(), 1);
    let sancho2 =
        RefSelector::parse("gcr.io/some-project-162817/sancho2").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        found(yaml, &[], &[&sancho2])[1],
        (
            ".spec.template.spec.containers[0].env[0].value".to_owned(),
            "gcr.io/some-project-162817/sancho2".to_owned()
        )
    );
}

#[test]
fn malformed_container_images_are_errors() {
    let objects = parse(&deployment("foo", "Not/A/Ref"));
    let err = find_images(&objects[0], &[], &[]).map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err("finding images in Deployment/foo: parsing Not/A/Ref: invalid reference format: repository name (A/Ref) must be lowercase".to_owned())
    );
    assert!(ImageRef::parse("not/a/ref").is_ok());
}
