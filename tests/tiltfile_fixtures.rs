//! Golden tests for `lilt alpha tiltfile-result`: every directory under
//! `tests/fixtures/tiltfile/<case>/` is a small project that is copied to a temp dir,
//! evaluated by the built binary, and compared with `expected.json` and `expected.stderr`.
//!
//! The case's absolute path is replaced by `$DIR` so expectations do not depend on where
//! the temp dir lives. `expected.stderr` starts with `exit: <code>` and holds what lilt
//! prints on stderr with `-v`: the `(Tiltfile)` log (print, local, warnings) and the error.
//! Optional files in a case: `args` (one Tiltfile arg per line), `symlinks` (lines of
//! `link -> target`, made in the copy because git does not keep them portable).
//! `UPDATE_EXPECT=1 cargo test -p lilt --test tiltfile_fixtures` rewrites the expectations.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files of a case directory that describe the case instead of being part of the project.
const META_FILES: &[&str] = &["expected.json", "expected.stderr", "args", "symlinks"];

struct Outcome {
    json: String,
    stderr: String,
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiltfile")
}

fn copy_tree(from: &Path, to: &Path, top: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if top && META_FILES.iter().any(|m| name == *m) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target, false)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn make_symlinks(case: &Path, dir: &Path) -> std::io::Result<()> {
    let Ok(spec) = std::fs::read_to_string(case.join("symlinks")) else {
        return Ok(());
    };
    for line in spec.lines().filter(|l| !l.trim().is_empty()) {
        if let Some((link, target)) = line.split_once(" -> ") {
            std::os::unix::fs::symlink(target.trim(), dir.join(link.trim()))?;
        }
    }
    Ok(())
}

/// Runs one case and returns its normalised output.
fn run_case(case: &Path) -> Result<Outcome, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    // Canonical, so `os.path.realpath` and the `$DIR` replacement agree.
    let root = tmp
        .path()
        .canonicalize()
        .map_err(|e| format!("canonicalize: {e}"))?;
    let dir = root.join("project");
    copy_tree(case, &dir, true).map_err(|e| format!("copy: {e}"))?;
    make_symlinks(case, &dir).map_err(|e| format!("symlinks: {e}"))?;
    let args: Vec<String> = std::fs::read_to_string(case.join("args"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_lilt"))
        .args(["-v", "alpha", "tiltfile-result", "-f", "Tiltfile", "--"])
        .args(&args)
        .current_dir(&dir)
        // A fixed environment: fixtures may print os.environ or run commands.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &root)
        .env("LILT_FIXTURE", "1")
        .env("LANG", "C.UTF-8")
        .output()
        .map_err(|e| format!("running lilt: {e}"))?;
    let dir_text = dir.display().to_string();
    let normalise = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&dir_text, "$DIR");
    let code = output
        .status
        .code()
        .map_or_else(|| "signal".to_owned(), |c| c.to_string());
    Ok(Outcome {
        json: normalise(&output.stdout),
        stderr: format!("exit: {code}\n{}", normalise(&output.stderr)),
    })
}

/// A line diff that is readable in a test log: `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    // Longest common subsequence table; the files are small.
    let mut lcs = vec![vec![0usize; act.len() + 1]; exp.len() + 1];
    for i in (0..exp.len()).rev() {
        for j in (0..act.len()).rev() {
            lcs[i][j] = if exp[i] == act[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < exp.len() || j < act.len() {
        if i < exp.len() && j < act.len() && exp[i] == act[j] {
            i += 1;
            j += 1;
        } else if j < act.len() && (i == exp.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "    +{}", act[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "    -{}", exp[i]);
            i += 1;
        }
    }
    out
}

fn check(case: &Path, file: &str, actual: &str, update: bool, failures: &mut Vec<String>) {
    let path = case.join(file);
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return;
    }
    if update {
        if let Err(e) = std::fs::write(&path, actual) {
            failures.push(format!("{}: cannot write: {e}", path.display()));
        }
        return;
    }
    let name = case.file_name().unwrap_or_default().to_string_lossy();
    failures.push(format!(
        "case {name}: {file} differs (-expected +actual):\n{}",
        diff(&expected, actual)
    ));
}

#[test]
fn tiltfile_fixtures() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures_root())
        .expect("fixtures dir exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Tiltfile").is_file())
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no fixture cases under {}",
        fixtures_root().display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        match run_case(case) {
            Ok(outcome) => {
                check(case, "expected.json", &outcome.json, update, &mut failures);
                check(
                    case,
                    "expected.stderr",
                    &outcome.stderr,
                    update,
                    &mut failures,
                );
            }
            Err(e) => failures.push(format!("case {}: {e}", case.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed (UPDATE_EXPECT=1 rewrites them):\n\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
}
