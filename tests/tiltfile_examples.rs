//! Compares `lilt alpha tiltfile-result` with Tilt's own recorded output for the `images`,
//! `compose-deps` and `quirks` example projects (`tests/fixtures/examples/<name>`, copies of
//! `shared/examples/tiltfile-result/<name>` with Tilt's `tilt-output.json`), field by field.
//!
//! The differences allowed are named here and in docs/compatibility.md:
//!
//! * `Hashes` (analytics only) is not produced.
//! * `DeployTarget.yaml` is compared as data: lilt keeps the YAML's own key order and does
//!   not add the zero values Go's typed round trip writes (`strategy: {}`, `resources: {}`,
//!   `targetPort: 0`).
//! * `podLogStreamTemplateSpec.sinceTime` is the load time in Tilt; lilt leaves it out.

mod tilt_compare;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tilt_compare::{copy_tree, differences, yaml_data};

/// Where Tilt ran: the recorded outputs show the project at this path, with HOME one up.
const TILT_DIR: &str = "/home/dev/project";
const TILT_HOME: &str = "/home/dev";

/// Runs lilt on a copy of the example in a git repository whose directory has the example's
/// name (Compose derives the project name from it), and Tilt's output with its paths moved
/// to that copy.
fn run(example: &str) -> (Value, Value, String) {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/examples")
        .join(example);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let dir = root.join(example);
    copy_tree(&fixture, &dir);
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&dir)
        .status()
        .expect("git is installed (scripts/lib.sh installs it)");
    assert!(git.success(), "git init failed");
    let (actual, stderr) = tilt_compare::tiltfile_result(&dir, &root, false);

    let recorded = std::fs::read_to_string(fixture.join("tilt-output.json")).expect("recorded");
    let moved = recorded
        .replace(TILT_DIR, &dir.display().to_string())
        .replace(TILT_HOME, &root.display().to_string());
    let expected: Value = serde_json::from_str(&moved).expect("valid JSON");
    drop_dir_on_exit(tmp);
    (expected, actual, stderr)
}

/// Keeps nothing on disk after the comparison.
fn drop_dir_on_exit(tmp: tempfile::TempDir) {
    let _ = tmp.close();
}

/// Removes the documented differences from both documents, then lists what still differs.
fn compare(mut expected: Value, mut actual: Value) -> Vec<String> {
    expected.as_object_mut().expect("object").remove("Hashes");
    let mut diffs = Vec::new();
    let count = expected["Manifests"].as_array().map_or(0, Vec::len);
    for i in 0..count {
        for doc in [&mut expected, &mut actual] {
            let Some(deploy) = doc["Manifests"].get_mut(i).map(|m| &mut m["DeployTarget"]) else {
                continue;
            };
            if let Some(spec) = deploy
                .get_mut("podLogStreamTemplateSpec")
                .and_then(Value::as_object_mut)
            {
                spec.remove("sinceTime");
            }
        }
        let yaml = |doc: &mut Value| {
            doc["Manifests"][i]["DeployTarget"]
                .get_mut("yaml")
                .map(Value::take)
        };
        match (yaml(&mut expected), yaml(&mut actual)) {
            (Some(e), Some(a)) => {
                let (e, a) = (e.as_str().unwrap_or(""), a.as_str().unwrap_or(""));
                if yaml_data(e) != yaml_data(a) {
                    diffs.push(format!("Manifests[{i}].DeployTarget.yaml:\n{e}\n!=\n{a}"));
                }
            }
            (None, None) => {}
            (e, a) => diffs.push(format!("Manifests[{i}].DeployTarget.yaml: {e:?} != {a:?}")),
        }
    }
    differences("", &expected, &actual, &mut diffs);
    diffs
}

fn assert_matches_tilt(example: &str) -> Value {
    let (expected, actual, _) = run(example);
    let diffs = compare(expected, actual.clone());
    assert!(
        diffs.is_empty(),
        "{example}: differences from Tilt:\n{}",
        diffs.join("\n")
    );
    actual
}

#[test]
fn images_example_matches_tilt_field_by_field() {
    let actual = assert_matches_tilt("images");
    // The comparison is only meaningful if the image dependency is really there.
    let api = &actual["Manifests"][1];
    assert_eq!(api["Name"], "api");
    assert_eq!(
        api["ImageTargets"][1]["BuildDetails"]["imageMaps"][0],
        "shop_base"
    );
}

#[test]
fn compose_deps_example_matches_tilt_field_by_field() {
    let actual = assert_matches_tilt("compose-deps");
    assert_eq!(actual["Manifests"][2]["ResourceDependencies"][0], "api");
}

#[test]
fn quirks_example_matches_tilt_field_by_field() {
    let actual = assert_matches_tilt("quirks");
    assert_eq!(actual["AnalyticsOpt"], 1);
}

#[test]
fn example_copies_match_shared() {
    // The committed copies are Tilt's recorded outputs; when shared/ is beside the checkout
    // they must not have drifted from it.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/tiltfile-result");
    if !shared.is_dir() {
        // A checkout without shared/ beside it has only the committed copies; CI always
        // has shared/, so there a missing folder is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but {} is missing",
            shared.display()
        );
        return;
    }
    for example in ["images", "compose-deps", "quirks"] {
        let ours = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/examples")
            .join(example)
            .join("tilt-output.json");
        let theirs = shared.join(example).join("tilt-output.json");
        assert_eq!(
            std::fs::read_to_string(&ours).expect("committed copy"),
            std::fs::read_to_string(&theirs).expect("shared output"),
            "{example}: tests/fixtures/examples differs from shared/"
        );
    }
}
