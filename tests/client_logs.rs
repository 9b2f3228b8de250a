//! `lilt logs` against a real `lilt up` on loopback: the serve output, the resource prefix,
//! JSON lines, source and tail filters, and `-f` following new lines.

mod client_support;

use std::process::Stdio;

use client_support::{Lilt, Lines, stop};
use serde_json::Value;

fn wait_serving(lilt: &Lilt) {
    lilt.ok(&[
        "wait",
        "--for=condition=Ready",
        "uiresource/server",
        "uiresource/builder",
    ]);
    // Readiness comes with the process start; its first line may follow a moment later.
    lilt.wait_for("the serve output", || {
        lilt.ok(&["logs", "server"])
            .lines()
            .any(|l| l == "serving")
            .then_some(())
    });
}

#[test]
fn logs_show_lines_with_and_without_prefix() {
    let lilt = Lilt::start();
    wait_serving(&lilt);

    // One resource: bare lines.
    let server = lilt.ok(&["logs", "server"]);
    assert!(server.lines().any(|l| l == "serving"), "{server}");
    assert!(!server.contains("Running cmd: echo built"), "{server}");

    // All resources: each line names its resource, as `lilt up --stream` does.
    let all = lilt.ok(&["logs"]);
    assert!(all.lines().any(|l| l == "      server │ serving"), "{all}");
    assert!(
        all.lines()
            .any(|l| l == "     builder │ Running cmd: echo built >> build.log"),
        "{all}"
    );
    assert!(
        all.lines()
            .any(|l| l.starts_with("  (Tiltfile) │ Loading Tiltfile")),
        "{all}"
    );

    let two = lilt.ok(&["logs", "server", "builder"]);
    assert!(two.contains("      server │ serving"), "{two}");
    assert!(!two.contains("(Tiltfile)"), "{two}");
}

#[test]
fn logs_filter_by_source_and_tail_and_print_json() {
    let lilt = Lilt::start();
    wait_serving(&lilt);

    let build = lilt.ok(&["logs", "--source", "build"]);
    assert!(build.contains("Running cmd: echo built"), "{build}");
    assert!(build.contains("Loading Tiltfile"), "{build}");
    assert!(!build.contains("serving"), "{build}");
    let runtime = lilt.ok(&["logs", "--source", "runtime"]);
    assert!(runtime.contains("│ serving"), "{runtime}");
    assert!(!runtime.contains("Running cmd: echo built"), "{runtime}");

    let all = lilt.ok(&["logs"]);
    let last = all.lines().last().expect("a line");
    assert_eq!(lilt.ok(&["logs", "--tail", "1"]), format!("{last}\n"));
    assert_eq!(lilt.ok(&["logs", "--tail", "0"]), "");
    assert_eq!(lilt.ok(&["logs", "--since", "1h"]), all);

    let json = lilt.ok(&["logs", "server", "--json"]);
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let serving = lines
        .iter()
        .find(|l| l["message"] == "serving")
        .expect("the serving line");
    assert_eq!(serving["resource"], "server");
    assert_eq!(serving["source"], "runtime");
    assert_eq!(serving["level"], "info");
    assert!(serving["spanID"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(serving["time"].as_str().is_some_and(|t| t.ends_with('Z')));

    let (code, _, err) = lilt.run(&["logs", "--source", "pods"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid value 'pods' for '--source <SOURCE>'"),
        "{err}"
    );
}

#[test]
fn logs_follow_prints_new_lines() {
    let lilt = Lilt::start();
    wait_serving(&lilt);
    let mut follower = lilt
        .command(&["logs", "-f", "server"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start logs -f");
    let mut lines = Lines::new(follower.stdout.take().expect("stdout"));
    lines.wait_for("the history", |l| l == "serving");
    // The serve loop prints the file's content, then removes it.
    std::fs::write(lilt.path("poke"), "hello-follow\n").expect("poke");
    lines.wait_for("the new line", |l| l == "hello-follow");
    stop(&mut follower);
}
