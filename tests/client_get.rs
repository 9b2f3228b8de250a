//! `lilt get`, `lilt describe` and `lilt wait` against a real `lilt up` on loopback, and the
//! error when no lilt runs.

mod client_support;

use std::process::Stdio;

use client_support::{Lilt, Lines, client_command, free_port, output, stop};
use serde_json::Value;

#[test]
fn wait_then_get_in_every_format() {
    let lilt = Lilt::start();
    let out = lilt.ok(&[
        "wait",
        "--for=condition=Ready",
        "uiresource/server",
        "uir/builder",
    ]);
    assert_eq!(
        out,
        "uiresource.tilt.dev/server condition met\nuiresource.tilt.dev/builder condition met\n"
    );

    let table = lilt.ok(&["get", "uiresources"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME",
            "READY",
            "UPDATE STATUS",
            "RUNTIME STATUS",
            "LAST DEPLOY"
        ]
    );
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0]).collect();
    assert_eq!(names, ["(Tiltfile)", "server", "builder", "manual"]);
    assert_eq!(rows[2][1..4], ["True", "not_applicable", "ok"]);
    assert_eq!(rows[3][1..4], ["True", "ok", "not_applicable"]);
    assert_eq!(rows[4][1..5], ["False", "none", "not_applicable", "<none>"]);

    let wide = lilt.ok(&["get", "uir", "server", "-o", "wide"]);
    assert!(wide.contains("TRIGGER MODE"), "{wide}");
    assert!(wide.contains("http://localhost:4321"), "{wide}");
    assert!(wide.contains("backend"), "{wide}");

    let one: Value = serde_json::from_str(&lilt.ok(&["get", "uiresource/server", "-o", "json"]))
        .expect("json object");
    assert_eq!(one["kind"], "UIResource");
    assert_eq!(one["apiVersion"], "tilt.dev/v1alpha1");
    assert_eq!(one["metadata"]["name"], "server");
    assert_eq!(one["metadata"]["labels"]["backend"], "backend");
    assert_eq!(one["status"]["runtimeStatus"], "ok");

    let list: Value =
        serde_json::from_str(&lilt.ok(&["get", "uiresources", "-o", "json"])).expect("json list");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(4));
    assert_eq!(list["items"][3]["metadata"]["name"], "manual");

    let yaml = lilt.ok(&["get", "uiresource", "builder", "-o", "yaml"]);
    let parsed: Value = serde_saphyr::from_str(&yaml).expect("yaml");
    assert_eq!(parsed["metadata"]["name"], "builder");
    assert_eq!(parsed["status"]["updateStatus"], "ok");
    assert_eq!(parsed["status"]["triggerMode"], 0);

    assert_eq!(
        lilt.ok(&["get", "uir", "server", "manual", "-o", "name"]),
        "uiresource.tilt.dev/server\nuiresource.tilt.dev/manual\n"
    );

    let (code, out, err) = lilt.run(&["get", "uir", "server", "nope"]);
    assert_eq!(code, 1);
    assert!(out.contains("server"), "{out}");
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): uiresources.tilt.dev \"nope\" not found"
    );

    let (code, _, err) = lilt.run(&["get", "pods"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("doesn't have a resource type \"pods\""),
        "{err}"
    );
    // A format lilt does not print is refused by clap (exit 2), listing the allowed ones.
    let (code, _, err) = lilt.run(&["get", "uir", "-o", "xml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("[possible values: wide, json, yaml, name]"),
        "{err}"
    );
}

#[test]
fn describe_shows_statuses_endpoints_process_and_builds() {
    let lilt = Lilt::start();
    lilt.ok(&["wait", "--for=condition=Ready", "uiresource/server"]);
    let pid = lilt.resource("server")["status"]["localResourceInfo"]["pid"]
        .as_u64()
        .expect("server pid");
    let text = lilt.ok(&["describe", "uiresource", "server"]);
    for expected in [
        "Name:               server".to_owned(),
        "Labels:             backend".to_owned(),
        "Type:               Local".to_owned(),
        "Trigger Mode:       auto".to_owned(),
        "  Ready:            True".to_owned(),
        "  Runtime Status:   ok".to_owned(),
        "  Waiting:          <none>".to_owned(),
        "    http://localhost:4321".to_owned(),
        format!("    PID:            {pid}"),
        "Build History:".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    let builder = lilt.ok(&["describe", "uiresource/builder"]);
    assert!(builder.contains("  #1 "), "{builder}");
    assert!(builder.contains("ok"), "{builder}");

    // A prefix matches every resource it starts; with no name, all are described.
    let all = lilt.ok(&["describe", "uir"]);
    assert_eq!(
        all.matches("\nKind:               UIResource").count(),
        4,
        "{all}"
    );

    let (code, _, err) = lilt.run(&["describe", "uir", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("uiresources.tilt.dev \"nope\" not found"),
        "{err}"
    );
}

#[test]
fn wait_times_out_on_a_resource_that_never_gets_ready() {
    let lilt = Lilt::start();
    let (code, out, err) = lilt.run(&[
        "wait",
        "--for=condition=Ready",
        "uiresource/manual",
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        err.trim(),
        "Error: timed out waiting for the condition on uiresources/manual"
    );
    let (code, _, err) = lilt.run(&["wait", "--for=condition=Ready", "uiresource/ghost"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("uiresources.tilt.dev \"ghost\" not found"),
        "{err}"
    );
    let (code, _, err) = lilt.run(&["wait", "--for=delete", "uiresource/server"]);
    assert_eq!(code, 1);
    assert!(err.contains("unrecognized condition"), "{err}");
}

#[test]
fn get_watch_prints_a_resource_when_it_changes() {
    let lilt = Lilt::start();
    let mut watcher = lilt
        .command(&["get", "uir", "manual", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start get -w");
    let mut lines = Lines::new(watcher.stdout.take().expect("stdout"));
    lines.wait_for("the header", |l| l.starts_with("NAME"));
    let first = lines.wait_for("the manual row", |l| l.starts_with("manual"));
    assert!(first.contains("none"), "{first}");
    lilt.ok(&["trigger", "manual"]);
    let done = lines.wait_for("manual updated", |l| {
        l.starts_with("manual") && l.contains("True") && l.contains(" ok ")
    });
    assert!(!done.starts_with("NAME"));
    // The header was printed once only.
    stop(&mut watcher);
    assert_eq!(
        lines.seen.iter().filter(|l| l.starts_with("NAME")).count(),
        1
    );
}

#[test]
fn no_running_lilt_is_a_clear_error() {
    let state = tempfile::tempdir().expect("state dir");
    let port = free_port().to_string();
    for args in [
        vec!["get", "uiresources"],
        vec!["trigger", "api"],
        vec!["logs"],
        vec!["disable", "--all"],
        vec!["args", "--clear"],
        vec!["wait", "--for=condition=Ready", "uiresource/api"],
        vec!["describe", "uiresource", "api"],
    ] {
        let mut cmd = client_command(state.path());
        cmd.args(&args).args(["--port", &port]);
        let (code, out, err) = output(cmd);
        assert_eq!(code, 1, "{args:?}: {out}");
        assert_eq!(
            err.trim(),
            format!(
                "Error: no lilt is running on localhost:{port}: start one with `lilt up`, or pass --port"
            ),
            "{args:?}"
        );
    }
}
