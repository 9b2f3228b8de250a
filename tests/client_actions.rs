//! `lilt trigger`, `lilt enable`/`disable` and `lilt args` against a real `lilt up` on
//! loopback, checked by their effects: commands re-run, processes stop and start, the
//! Tiltfile reloads with new args.

mod client_support;

use std::os::unix::fs::PermissionsExt;

use client_support::{Lilt, process_exists};

fn server_pid(lilt: &Lilt) -> Option<i32> {
    let res = lilt.resource("server");
    if res["status"]["runtimeStatus"] != "ok" {
        return None;
    }
    res["status"]["localResourceInfo"]["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
}

#[test]
fn trigger_reruns_the_command() {
    let lilt = Lilt::start();
    lilt.wait_for("the first build", || {
        (lilt.read("build.log").lines().count() == 1).then_some(())
    });
    assert_eq!(
        lilt.ok(&["trigger", "builder"]),
        "Successfully triggered update for resource: \"builder\"\n"
    );
    lilt.wait_for("the second build", || {
        (lilt.read("build.log").lines().count() == 2).then_some(())
    });

    // A manual resource without an initial build runs when triggered.
    assert_eq!(lilt.read("manual.log"), "");
    lilt.ok(&["trigger", "manual"]);
    lilt.wait_for("the manual run", || {
        (lilt.read("manual.log") == "manual-ran\n").then_some(())
    });

    let (code, out, err) = lilt.run(&["trigger", "nope"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err.trim(), "Error: resource \"nope\" not found");
}

#[test]
fn disable_stops_the_server_and_enable_brings_it_back() {
    let lilt = Lilt::start();
    let pid = lilt.wait_for("the server to run", || server_pid(&lilt));
    assert!(process_exists(pid));

    assert_eq!(lilt.ok(&["disable", "server"]), "");
    lilt.wait_for("the server process to end", || {
        (!process_exists(pid)).then_some(())
    });
    lilt.wait_for("server disabled", || {
        (lilt.resource("server")["status"]["disableStatus"]["state"] == "Disabled").then_some(())
    });
    let table = lilt.ok(&["get", "uir", "server"]);
    assert!(table.contains("Disabled"), "{table}");
    let (code, _, err) = lilt.run(&["trigger", "server"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "Error: resource \"server\" is currently disabled"
    );

    lilt.ok(&["enable", "server"]);
    let again = lilt.wait_for("the server to run again", || server_pid(&lilt));
    assert_ne!(again, pid);
    assert!(process_exists(again));
}

#[test]
fn enable_and_disable_by_label_all_and_only() {
    let lilt = Lilt::start();
    let state = |name: &str| {
        lilt.resource(name)["status"]["disableStatus"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let wait_states = |want: [&str; 3]| {
        lilt.wait_for(&format!("states {want:?}"), || {
            let now = [state("server"), state("builder"), state("manual")];
            (now == want).then_some(())
        })
    };

    lilt.ok(&["disable", "-l", "backend"]);
    wait_states(["Disabled", "Disabled", "Enabled"]);
    lilt.ok(&["enable", "--all"]);
    wait_states(["Enabled", "Enabled", "Enabled"]);
    lilt.ok(&["enable", "--only", "manual"]);
    wait_states(["Disabled", "Disabled", "Enabled"]);
    lilt.ok(&["enable", "-l", "backend"]);
    wait_states(["Enabled", "Enabled", "Enabled"]);
    lilt.ok(&["disable", "--all"]);
    wait_states(["Disabled", "Disabled", "Disabled"]);
    // The Tiltfile has no toggle: --all leaves it alone.
    assert_eq!(state("(Tiltfile)"), "Enabled");

    for (args, message) in [
        (
            vec!["disable", "(Tiltfile)"],
            "Error: (Tiltfile) cannot be enabled or disabled",
        ),
        (vec!["enable", "nope"], "Error: no such resource \"nope\""),
        (vec!["enable"], "Error: must specify at least one resource"),
        (
            vec!["enable", "--all", "--only"],
            "Error: cannot use --all with --only",
        ),
        (
            vec!["disable", "--all", "server"],
            "Error: cannot use --all with resource names",
        ),
    ] {
        let (code, _, err) = lilt.run(&args);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(err.trim(), message, "{args:?}");
    }
}

#[test]
fn args_reload_the_tiltfile() {
    let lilt = Lilt::start();
    let loads = |n: usize| {
        lilt.wait_for(&format!("{n} Tiltfile loads"), || {
            let log = lilt.read("args.log");
            (log.lines().count() >= n).then(|| log.lines().nth(n - 1).unwrap_or("").to_owned())
        })
    };
    assert_eq!(loads(1), "args:  mode: ");

    let (code, out, err) = lilt.run(&["args", "web", "api", "--", "--mode", "fast"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(
        err.contains("Changed config args for lilt running at 127.0.0.1:")
            && err.contains("to [web api --mode fast]"),
        "{err}"
    );
    assert_eq!(loads(2), "args: web,api mode: fast");

    lilt.ok(&["args", "--clear"]);
    assert_eq!(loads(3), "args:  mode: ");

    // With no args, the editor gets a one-line file and its line becomes the args.
    let editor = lilt.path("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf '# the args\\nedited \"two words\" --mode=slow\\n' > \"$1\"\n",
    )
    .expect("write editor");
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut cmd = lilt.command(&["args"]);
    cmd.env("EDITOR", &editor);
    let out = cmd.output().expect("run lilt args");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(loads(4), "args: edited,two words mode: slow");

    // No editor: nothing changes, and the error says how to set args.
    let (code, _, err) = lilt.run(&["args"]);
    assert_eq!(code, 1);
    assert!(err.contains("set TILT_EDITOR or EDITOR"), "{err}");
    let (code, _, err) = lilt.run(&["args", "--clear", "x"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "Error: --clear cannot be specified with other values"
    );
}

/// Issue 9: a reload stuck in a `local()` that never ends is shown, and "Cancel load" in the
/// dashboard (`POST /api/tiltfile/cancel`) ends it: the command's process dies, the load
/// fails with "cancelled", and what ran before keeps running.
#[test]
fn a_stuck_tiltfile_load_is_cancelled_from_the_dashboard() {
    let good = "local_resource('srv', serve_cmd='echo $$ > srv.pid; exec sleep 1000')\n";
    let lilt = Lilt::start_with(good, &[]);
    let srv: i32 = lilt.wait_for("the server", || lilt.read("srv.pid").trim().parse().ok());
    std::fs::write(
        lilt.path("Tiltfile"),
        format!("{good}local('sleep 1000 & echo $! > stuck.pid; wait')\n"),
    )
    .expect("write Tiltfile");
    let stuck: i32 = lilt.wait_for("the stuck local()", || {
        lilt.read("stuck.pid").trim().parse().ok()
    });
    assert!(process_exists(stuck));
    assert_eq!(lilt.post("/api/tiltfile/cancel", "{}"), Some(200));
    lilt.wait_for("the command to end", || {
        (!process_exists(stuck)).then_some(())
    });
    lilt.wait_for("the load to fail as cancelled", || {
        let tiltfile = lilt.resource("(Tiltfile)");
        let error = tiltfile["status"]["buildHistory"][0]["error"]
            .as_str()?
            .to_owned();
        error.contains("cancelled").then_some(())
    });
    assert!(process_exists(srv), "the last good state keeps running");
}

/// Regression: the watcher reported changes to a `k8s_custom_deploy`'s deps and the runner
/// dropped them, so editing them did nothing. Now the resource updates again: its apply_cmd
/// runs again (with no cluster here, the update then ends with "cannot reach the cluster").
#[test]
fn k8s_custom_deploy_deps_changes_update_the_resource() {
    let lilt = Lilt::start_with(
        "k8s_custom_deploy('custom', apply_cmd='true', delete_cmd='true', deps=['dep.txt'])\n",
        &[("dep.txt", "one\n", false)],
    );
    let builds = |lilt: &Lilt| {
        lilt.resource("custom")["status"]["buildHistory"]
            .as_array()
            .map(|h| {
                h.iter()
                    .filter_map(|b| b["finishTime"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let first = lilt.wait_for("the first update", || builds(&lilt).first().cloned());
    std::fs::write(lilt.path("dep.txt"), "two\n").expect("edit dep");
    lilt.wait_for("an update for the changed dep", || {
        builds(&lilt)
            .first()
            .filter(|latest| **latest != first)
            .map(|_| ())
    });
}
