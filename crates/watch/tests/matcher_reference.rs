//! Property tests: the regex-based matcher agrees with a small backtracking reference
//! implementation of moby/patternmatcher, and `matches_entire_dir` never skips a directory
//! holding a path that is not ignored.

use std::path::{Path, PathBuf};

use lilt_watch::matcher_for;
use proptest::prelude::*;

const BASE: &str = "/base";

/// A pattern element of the reference implementation.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    Star,
    Quest,
    Class(Vec<char>, bool),
    /// `**` followed by more pattern: matches "" or anything ending in `/` (eats one `/`).
    DeepPrefix,
    /// `**` at the end: matches anything.
    DeepRest,
}

fn parse(pattern: &str) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut idx = 0;
    while idx < chars.len() {
        match chars[idx] {
            '*' if chars.get(idx + 1) == Some(&'*') => {
                idx += 2;
                if chars.get(idx) == Some(&'/') {
                    idx += 1;
                }
                out.push(if idx >= chars.len() {
                    Tok::DeepRest
                } else {
                    Tok::DeepPrefix
                });
                continue;
            }
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::Quest),
            '[' => {
                let mut set = Vec::new();
                let mut neg = false;
                idx += 1;
                if chars.get(idx) == Some(&'^') {
                    neg = true;
                    idx += 1;
                }
                while chars[idx] != ']' {
                    set.push(chars[idx]);
                    idx += 1;
                }
                out.push(Tok::Class(set, neg));
            }
            c => out.push(Tok::Lit(c)),
        }
        idx += 1;
    }
    out
}

fn glob(toks: &[Tok], s: &[char]) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(c) => s.first() == Some(c) && glob(rest, &s[1..]),
        Tok::Quest => s.first().is_some_and(|c| *c != '/') && glob(rest, &s[1..]),
        Tok::Class(set, neg) => {
            s.first()
                .is_some_and(|c| *c != '/' && set.contains(c) != *neg)
                && glob(rest, &s[1..])
        }
        Tok::Star => {
            for len in 0..=s.len() {
                if s[..len].contains(&'/') {
                    break;
                }
                if glob(rest, &s[len..]) {
                    return true;
                }
            }
            false
        }
        Tok::DeepRest => true,
        Tok::DeepPrefix => {
            glob(rest, s) || (1..=s.len()).any(|len| s[len - 1] == '/' && glob(rest, &s[len..]))
        }
    }
}

/// Pattern or one of its parent directories matches `path` (relative, clean).
fn matches_or_parent(pattern: &str, path: &str) -> bool {
    let toks = parse(pattern);
    let chars: Vec<char> = path.chars().collect();
    if glob(&toks, &chars) {
        return true;
    }
    (0..chars.len()).any(|end| chars[end] == '/' && glob(&toks, &chars[..end]))
}

/// moby's loop: the last pattern that matches decides.
fn reference(patterns: &[String], path: &str) -> bool {
    let mut ignored = false;
    for raw in patterns {
        let (exclusion, pattern) = match raw.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, raw.as_str()),
        };
        if matches_or_parent(pattern, path) {
            ignored = !exclusion;
        }
    }
    ignored
}

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("ab".to_owned()),
        Just("*".to_owned()),
        Just("?".to_owned()),
        Just("**".to_owned()),
        Just("a*".to_owned()),
        Just("*b".to_owned()),
        Just("a**".to_owned()),
        Just("[ab]".to_owned()),
        Just("[^a]".to_owned()),
        Just("?b".to_owned()),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(component(), 1..4)).prop_map(|(neg, comps)| {
        let body = comps.join("/");
        if neg { format!("!{body}") } else { body }
    })
}

fn rel_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("ab"),
            Just("ba"),
            Just("bb"),
            Just("c")
        ],
        1..5,
    )
    .prop_map(|comps| comps.join("/"))
}

fn abs(rel: &str) -> PathBuf {
    Path::new(BASE).join(rel)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn agrees_with_the_reference(
        patterns in prop::collection::vec(pattern(), 1..5),
        paths in prop::collection::vec(rel_path(), 1..8),
    ) {
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let m = matcher_for(Path::new(BASE), &refs).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for path in &paths {
            prop_assert_eq!(
                m.matches(&abs(path)),
                reference(&patterns, path),
                "patterns {:?} path {:?}", patterns, path
            );
        }
    }

    #[test]
    fn entire_dir_skips_only_fully_ignored_dirs(
        patterns in prop::collection::vec(pattern(), 1..5),
        dir in rel_path(),
        suffixes in prop::collection::vec(rel_path(), 1..8),
    ) {
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let m = matcher_for(Path::new(BASE), &refs).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if m.matches_entire_dir(&abs(&dir)) {
            for suffix in &suffixes {
                let child = format!("{dir}/{suffix}");
                prop_assert!(
                    reference(&patterns, &child),
                    "dir {:?} skipped but {:?} is not ignored by {:?}", dir, child, patterns
                );
            }
        }
    }
}
