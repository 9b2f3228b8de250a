//! The command line's own errors: the exit codes README.md documents.

use std::process::Command;

/// Regression: README said bad flags exit 1 while clap exits 2; the README now says 2.
#[test]
fn bad_flags_exit_2_with_clap_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_lilt"))
        .args(["up", "--no-such-flag"])
        .output()
        .expect("run lilt");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--no-such-flag"), "{stderr}");

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains("| 2 | Bad command line"),
        "README.md documents exit code 2 for bad command lines"
    );
}

/// Options with fixed values and durations are parsed by clap: a bad value is refused before
/// anything connects, with clap's message listing what is allowed.
#[test]
fn fixed_value_options_and_durations_are_checked_by_clap() {
    for (args, expected) in [
        (
            &["get", "uiresources", "-o", "xml"][..],
            "[possible values: wide, json, yaml, name]",
        ),
        (
            &["logs", "--source", "stdout"][..],
            "[possible values: all, build, runtime]",
        ),
        (
            &["logs", "--level", "info"][..],
            "[possible values: warn, error]",
        ),
        (&["logs", "--since", "5 minutes"][..], "--since <SINCE>"),
        (&["ci", "--timeout", "soon"][..], "--timeout <TIMEOUT>"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lilt"))
            .args(args)
            .output()
            .expect("run lilt");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
