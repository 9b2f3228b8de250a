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

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    assert!(
        readme.contains("| 2 | Bad command line"),
        "README.md documents exit code 2 for bad command lines"
    );
}
