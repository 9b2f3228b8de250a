//! Property test: `lilt_tiltfile::load` never panics and always returns, whatever the
//! Tiltfile holds: arbitrary bytes, or the fixture Tiltfiles of the CLI's golden suite
//! mutated (lines deleted, duplicated or swapped, characters flipped, endless `while`
//! loops and deep recursion inserted). A small step budget and timeout keep runaway
//! programs short.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lilt_tiltfile::{LoadOptions, load};
use proptest::prelude::*;

/// Real Tiltfiles to mutate: the CLI's fixture cases (main Tiltfiles and loaded files).
fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiltfile");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_starlark(&path)
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.push(text);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        out.push("local_resource('a', cmd='echo a')\n".to_owned());
    }
    out
}

fn is_starlark(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "Tiltfile" || name.ends_with(".tilt")
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    FlipChar(usize, char),
    InsertWhileTrue(usize),
    InsertRecursion(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let flip_chars = prop::sample::select(vec![
        '(', ')', '[', ']', ':', '\'', '"', '\n', ' ', '\t', '#', '=', 'x', '\\', '{', '\u{e9}',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), flip_chars).prop_map(|(i, c)| Mutation::FlipChar(i, c)),
        any::<usize>().prop_map(Mutation::InsertWhileTrue),
        any::<usize>().prop_map(Mutation::InsertRecursion),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let n = lines.len().max(1);
    match m {
        Mutation::DeleteLine(i) => {
            if !lines.is_empty() {
                lines.remove(i % lines.len());
            }
        }
        Mutation::DuplicateLine(i) => {
            if !lines.is_empty() {
                let line = lines[i % lines.len()].clone();
                lines.insert(i % lines.len(), line);
            }
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                let len = lines.len();
                lines.swap(a % len, b % len);
            }
        }
        Mutation::FlipChar(i, c) => {
            let mut chars: Vec<char> = text.chars().collect();
            if !chars.is_empty() {
                let idx = i % chars.len();
                chars[idx] = *c;
            }
            return chars.into_iter().collect();
        }
        Mutation::InsertWhileTrue(i) => {
            lines.insert(i % n, "while True:\n    x = 1".to_owned());
        }
        Mutation::InsertRecursion(i) => {
            lines.insert(i % n, "def r(n):\n    return r(n + 1)\nr(0)".to_owned());
        }
        Mutation::Truncate(i) => {
            let chars: Vec<char> = text.chars().collect();
            let keep = i % (chars.len() + 1);
            return chars[..keep].iter().collect();
        }
    }
    lines.join("\n")
}

/// Writes `text` as the Tiltfile of a fresh project (with a loadable helper beside it)
/// and loads it; panics are caught and reported as test failures.
fn load_text(text: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let tiltfile: PathBuf = dir.path().join("Tiltfile");
    std::fs::write(&tiltfile, text).map_err(|e| format!("write: {e}"))?;
    std::fs::write(
        dir.path().join("assert.tilt"),
        "def _eq(a, b):\n    if a != b:\n        fail('%r != %r' % (a, b))\nassert = struct(equals=_eq)\n",
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut opts = LoadOptions::new(&tiltfile, "alpha tiltfile-result");
    opts.max_steps = 20_000;
    opts.timeout = Duration::from_secs(5);
    opts.env = Some([("PATH".to_owned(), "/usr/bin:/bin".to_owned())].into());
    let outcome = catch_unwind(AssertUnwindSafe(|| load(&opts)));
    match outcome {
        Ok(result) => {
            // The result is always complete: the main Tiltfile is a config file, and an
            // error has a message.
            if !result.plan.config_files.contains(&tiltfile) {
                return Err("the main Tiltfile is missing from the config files".to_owned());
            }
            if let Some(e) = &result.error
                && e.message.is_empty()
            {
                return Err("an error without a message".to_owned());
            }
            Ok(())
        }
        Err(_) => Err("load panicked".to_owned()),
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(120))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assert_eq!(load_text(&bytes), Ok(()));
    }
}

proptest! {
    #![proptest_config(config(250))]

    #[test]
    fn mutated_fixtures_never_panic(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let mut text = seeds[seed.index(seeds.len())].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        prop_assert_eq!(load_text(text.as_bytes()), Ok(()), "tiltfile:\n{}", text);
    }
}

/// The runaway programs the step budget must stop, run every time (not only when the
/// generator happens to pick them).
#[test]
fn runaway_programs_return_with_an_error() {
    for text in [
        "while True:\n    pass\n",
        "def r(n):\n    return r(n + 1)\nr(0)\n",
        "x = 0\nwhile x >= 0:\n    x += 1\n",
        "def f():\n    while True:\n        local_resource\nf()\n",
    ] {
        assert_eq!(load_text(text.as_bytes()), Ok(()), "{text}");
        let dir = tempfile::tempdir().expect("tempdir");
        let tiltfile = dir.path().join("Tiltfile");
        std::fs::write(&tiltfile, text).expect("write");
        let mut opts = LoadOptions::new(&tiltfile, "up");
        opts.max_steps = 20_000;
        let result = load(&opts);
        assert!(
            result.error.is_some(),
            "{text} should fail, not run forever"
        );
    }
}
