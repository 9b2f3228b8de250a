//! Compares `lilt alpha tiltfile-result` with Tilt's own output for the `k8s-local` example
//! project (`tests/fixtures/tiltfile/k8s_local_example`, a copy of
//! `shared/examples/tiltfile-result/k8s-local`), field by field. The differences allowed
//! are the documented ones (docs/compatibility.md, "Kubernetes, Helm and Kustomize"):
//!
//! * `DeployTarget.yaml`: lilt keeps the YAML's own key order and does not add the
//!   zero values Go's typed serialization writes (`strategy: {}`, `resources: {}`), so
//!   it is compared as data with those removed.
//! * `podLogStreamTemplateSpec.sinceTime` is the load time in Tilt; lilt leaves it out.
//! * `Hashes` (analytics only) is not produced.
//! * `BuildDetails.dockerfile`: lilt also names the Dockerfile path.

mod tilt_compare;

use std::path::{Path, PathBuf};

use serde_json::Value;
use tilt_compare::{copy_tree, differences, yaml_data};

const TILT_DIR: &str = "/home/dev/project";

fn tilt_output() -> Option<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/examples/tiltfile-result/k8s-local/tilt-output.json");
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Tilt's recorded output, or the copy committed next to the fixture when `shared/` is
/// not beside the checkout.
fn expected() -> Value {
    if let Some(v) = tilt_output() {
        return v;
    }
    let copy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tilt-output/k8s-local.json");
    let text = std::fs::read_to_string(&copy).expect("a recorded Tilt output");
    serde_json::from_str(&text).expect("valid JSON")
}

#[test]
fn k8s_local_example_matches_tilt_field_by_field() {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiltfile/k8s_local_example");
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let dir = root.join("project");
    copy_tree(&fixture, &dir);
    let (mut actual, _) = tilt_compare::tiltfile_result(&dir, &root, false);

    // Tilt's paths, moved to where this run's project lives.
    let text = serde_json::to_string(&expected()).expect("serialize");
    let mut expected: Value =
        serde_json::from_str(&text.replace(TILT_DIR, &dir.display().to_string())).expect("reparse");

    // Documented differences.
    expected.as_object_mut().expect("object").remove("Hashes");
    let m = |v: &mut Value| -> Value { v["Manifests"][0].take() };
    let mut exp_k8s = m(&mut expected);
    let mut act_k8s = m(&mut actual);
    let exp_yaml = exp_k8s["DeployTarget"]["yaml"].take();
    let act_yaml = act_k8s["DeployTarget"]["yaml"].take();
    assert_eq!(
        yaml_data(exp_yaml.as_str().expect("yaml")),
        yaml_data(act_yaml.as_str().expect("yaml")),
        "the deployed objects differ"
    );
    exp_k8s["DeployTarget"]["podLogStreamTemplateSpec"]
        .as_object_mut()
        .expect("log spec")
        .remove("sinceTime");
    act_k8s["ImageTargets"][0]["BuildDetails"]
        .as_object_mut()
        .expect("build details")
        .remove("dockerfile");

    let mut diffs = Vec::new();
    differences("Manifests[0]", &exp_k8s, &act_k8s, &mut diffs);
    differences("", &expected, &actual, &mut diffs);
    assert!(
        diffs.is_empty(),
        "differences from Tilt:\n{}",
        diffs.join("\n")
    );
    // The comparison above is only meaningful if the resource is really there.
    assert_eq!(act_k8s["Name"], "example");
    assert_eq!(act_k8s["DeployTarget"]["imageMaps"][0], "example-image");
}
