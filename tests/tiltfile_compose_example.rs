//! Compares `lilt alpha tiltfile-result` with Tilt's own output for the `compose` example
//! project (`tests/fixtures/tiltfile/compose_example`, a copy of
//! `shared/examples/tiltfile-result/compose`), field by field. The differences allowed are
//! the documented ones (docs/compatibility.md, "Docker Compose, extensions and `v1alpha1`
//! objects"):
//!
//! * Service order: Tilt's follows Go map iteration; lilt's follows the file (with
//!   dependencies first). Manifests are compared by name, `EnabledManifests` as a set.
//! * `Hashes` (analytics only) is not produced.

mod tilt_compare;

use std::path::Path;

use serde_json::Value;
use tilt_compare::{copy_tree, differences};

const TILT_DIR: &str = "/home/dev/project";

fn expected() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tilt-output/compose.json");
    let text = std::fs::read_to_string(&path).expect("a recorded Tilt output");
    serde_json::from_str(&text).expect("valid JSON")
}

fn sort_by_name(doc: &mut Value) {
    if let Some(Value::Array(ms)) = doc.get_mut("Manifests") {
        ms.sort_by_key(|m| m["Name"].as_str().unwrap_or_default().to_owned());
    }
    if let Some(Value::Array(names)) = doc.get_mut("EnabledManifests") {
        names.sort_by_key(|n| n.as_str().unwrap_or_default().to_owned());
    }
}

#[test]
fn compose_example_matches_tilt_field_by_field() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiltfile/compose_example");
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonicalize");
    // Tilt's project directory was named `ex-compose`: the project name comes from it.
    let dir = root.join("ex-compose");
    copy_tree(&fixture, &dir);
    let (actual, err) = tilt_compare::tiltfile_result(&dir, &root, true);
    let text = serde_json::to_string(&actual)
        .expect("serialize")
        .replace(&dir.display().to_string(), TILT_DIR);
    let mut actual: Value = serde_json::from_str(&text).expect("reparse");
    let mut expected = expected();
    if let Value::Object(m) = &mut expected {
        m.remove("Hashes");
    }
    // lilt's order: file order, dependencies first.
    let order: Vec<&str> = actual["Manifests"]
        .as_array()
        .map(|ms| ms.iter().filter_map(|m| m["Name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(order, ["cache", "web", "seed"]);
    sort_by_name(&mut expected);
    sort_by_name(&mut actual);
    let mut diffs = Vec::new();
    differences("", &expected, &actual, &mut diffs);
    assert!(
        diffs.is_empty(),
        "differences from Tilt:\n{}",
        diffs.join("\n")
    );
    // Tilt warns that `docker_build('ex-compose-web', ...)` matches no service.
    assert!(
        err.contains(
            "Image not used in any Docker Compose config:\n    ✕ ex-compose-web\nDid you mean…\n    - ex-compose_web\n"
        ),
        "{err}"
    );
}
