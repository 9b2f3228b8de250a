//! Helpers shared by the tests that compare lilt's `tiltfile-result` with Tilt's own recorded
//! output for the example projects.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

/// Copies a fixture project, leaving out its `expected.*` files and Tilt's recorded output.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("expected.") || name == "tilt-output.json" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every path where the two values differ, as `a.b[0].c: expected != actual`.
pub fn differences(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => differences(&p, ev, av, out),
                    None => out.push(format!("{p}: missing in lilt")),
                }
            }
            for k in a.keys().filter(|k| !e.contains_key(*k)) {
                out.push(format!("{path}.{k}: only in lilt"));
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                differences(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{path}: {expected} != {actual}")),
    }
}

/// YAML as data, without the zero values Go's typed serializer adds on its round trip
/// (`strategy: {}`, `resources: {}`, `creationTimestamp: null`, `targetPort: 0`).
pub fn yaml_data(text: &str) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|k, v| {
                    !(v.as_object().is_some_and(|o| o.is_empty())
                        || (k == "creationTimestamp" && v.is_null())
                        || (k == "targetPort" && v == &Value::from(0)))
                });
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = Value::Array(serde_saphyr::from_multiple(text).expect("valid YAML"));
    strip(&mut v);
    v
}

/// `lilt [-v] alpha tiltfile-result -f Tiltfile` in `dir` with only PATH and HOME set, as
/// Tilt's recorded runs had; asserts it succeeded and returns stdout and stderr.
pub fn tiltfile_result(dir: &Path, home: &Path, verbose: bool) -> (Value, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lilt"));
    if verbose {
        cmd.arg("-v");
    }
    let out = cmd
        .args(["alpha", "tiltfile-result", "-f", "Tiltfile"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .output()
        .expect("run lilt");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "lilt failed: {stderr}");
    let json = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    (json, stderr)
}
