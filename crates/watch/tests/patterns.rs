//! The dockerignore matcher against moby/patternmatcher's behaviour table and Tilt's own
//! dockerignore cases, plus `matches_entire_dir`, editor temp files and file parsing.

use std::path::{Path, PathBuf};

use lilt_watch::{
    EDITOR_TEMP_PATTERNS, Matcher, clean_path, editor_temp_rule, matcher_for, parse_dockerignore,
};

const BASE: &str = "/ctx/root";

fn matcher(patterns: &[&str]) -> Matcher {
    match matcher_for(Path::new(BASE), patterns) {
        Ok(m) => m,
        Err(e) => panic!("patterns {patterns:?} rejected: {e}"),
    }
}

fn abs(rel: &str) -> PathBuf {
    clean_path(&Path::new(BASE).join(rel))
}

/// One row of the table: does `patterns` ignore `rel` (relative to the base)?
fn check(patterns: &[&str], rel: &str, expected: bool) {
    let got = matcher(patterns).matches(&abs(rel));
    assert_eq!(got, expected, "patterns {patterns:?} on {rel:?}");
}

fn check_dir(patterns: &[&str], rel: &str, expected: bool) {
    let got = matcher(patterns).matches_entire_dir(&abs(rel));
    assert_eq!(
        got, expected,
        "entire dir: patterns {patterns:?} on {rel:?}"
    );
}

#[test]
fn moby_single_pattern_table() {
    let rows: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
    ];
    for (pattern, path, expected) in rows {
        check(&[pattern], path, *expected);
    }
}

#[test]
fn moby_multi_pattern_table() {
    check(&["**", "!util/docker/web"], "util/docker/web/foo", false);
    check(
        &["**", "!util/docker/web", "util/docker/web/foo"],
        "util/docker/web/foo",
        true,
    );
    check(
        &[
            "**",
            "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        ],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    );
    check(
        &["**", "!dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    );
}

#[test]
fn patterns_are_anchored_at_the_base() {
    check(&["foo"], "foo", true);
    check(&["foo"], "a/foo", false);
    check(&["foo"], "foo/bar/baz", true);
    check(&["*.pyc"], "x.pyc", true);
    check(&["*.pyc"], "sub/x.pyc", false);
    check(&["**/*.pyc"], "sub/x.pyc", true);
}

#[test]
fn star_and_question_mark_never_cross_a_slash() {
    check(&["a*c"], "a/c", false);
    check(&["a?c"], "a/c", false);
    check(&["a?c"], "abc", true);
    check(&["a[/]c"], "a/c", false);
    check(&["a[^x]c"], "a/c", false);
}

#[test]
fn leading_slash_dot_segments_and_trailing_slash_are_cleaned() {
    check(&["./foo/"], "foo", true);
    check(&["foo/./bar/../baz"], "foo/baz", true);
    check(&["  node_modules  "], "node_modules/x", true);
    // A leading `/` in a file is stripped by `parse_dockerignore`; in a pattern list it
    // is an absolute pattern, as Tilt resolves them.
    check(&["/ctx/root/abs"], "abs/x", true);
    assert_eq!(parse_dockerignore("/foo\n!/bar/\n"), vec!["foo", "!bar"]);
}

#[test]
fn the_last_matching_line_wins_and_reincludes_work_inside_excluded_dirs() {
    check(&["docs", "!docs/README.md"], "docs/stuff.md", true);
    check(&["docs", "!docs/README.md"], "docs/README.md", false);
    check(&["a", "!a/b", "a/b/c"], "a/b/c/d", true);
    check(&["a", "!a/b", "a/b/c"], "a/b/x", false);
    check(&["!a", "a"], "a/x", true);
    check(&["a", "!a"], "a/x", false);
}

#[test]
fn tilt_dockerignore_cases() {
    check(&["node_modules"], "node_modules/foo", true);
    check(&["node_modules"], "node_modules/foo/bar/baz", true);
    check(&["node_modules"], "foo/bar", false);
    check(&["*/temp*"], "somedir/temporary.txt", true);
    check(&["*/temp*"], "somedir/temp", true);
    for (rel, expected) in [
        ("a/temporary.txt", true),
        ("a/b/temporary.txt", true),
        ("a/b/c/temporary.txt", true),
        ("../a/b/temporary.txt", false),
    ] {
        check(&["**/temp*"], rel, expected);
    }
    for (rel, expected) in [
        ("a/temporary.txt", true),
        ("a/b/temporary.txt", true),
        ("b/c/temporary.txt", false),
        ("../a/b/temporary.txt", false),
    ] {
        check(&["a/**/temp*"], rel, expected);
    }
    check(&["../a/b.txt"], "../a/b.txt", true);
    check(&["../a/b.txt"], "a/b.txt", false);
    check(&["../**/b.txt"], "../a/b.txt", true);
    check(&["../**/b.txt"], "a/b.txt", true);
    for (rel, expected) in [
        ("a/temporary.txt", false),
        ("a/b", true),
        ("a/b/temporary.txt", true),
        ("a/b/c/d/temporary.txt", true),
        ("a/b2/c/d/temporary.txt", false),
    ] {
        check(&["../**/b"], rel, expected);
    }
    check(&["temp?"], "tempa", true);
    check(&["temp?"], "tempeh", false);
    check(&["temp?"], "temp", false);
    let only_go = ["*", "!pkg/**/*.go", "!go.mod", "!go.sum"];
    for (rel, expected) in [
        ("pkg/hello.txt", true),
        ("pkg/internal/hello.txt", true),
        ("pkg/hello.go", false),
        ("pkg/internal/module/hello.go", false),
        ("go.mod", false),
    ] {
        check(&only_go, rel, expected);
    }
}

#[test]
fn matches_entire_dir_is_conservative_with_reincludes() {
    check_dir(&["node_modules"], "node_modules", true);
    check_dir(&["node_modules"], "node_modules/a/b", true);
    check_dir(&["node_modules"], "foo", false);
    check_dir(&["docs", "!docs/README.md"], "docs", false);
    check_dir(&["a", "!a/b", "a/b/c"], "a", false);
    check_dir(&["a", "!a/b", "a/b/c"], "a/b", false);
    check_dir(&["a", "!a/b", "a/b/c"], "a/b/c", true);
    check_dir(&["a", "b", "!b/README.md"], "a", true);
    check_dir(&["a", "b", "!b/README.md"], "b", false);
    let only_go = ["*", "!pkg/**/*.go", "!go.mod", "!go.sum"];
    check_dir(&only_go, "pkg", false);
    check_dir(&only_go, "pkg/internal/module", false);
    check_dir(&only_go, "vendor", true);
    // A `!` rule for top-level files cannot reach inside node_modules.
    check_dir(&["node_modules", "!*.md"], "node_modules", true);
    check_dir(&["node_modules", "!**/*.md"], "node_modules", false);
}

#[test]
fn an_empty_pattern_list_ignores_the_base_and_everything_under_it() {
    let m = matcher(&[]);
    assert!(m.matches(Path::new(BASE)));
    assert!(m.matches(&abs("a/b")));
    assert!(!m.matches(Path::new("/ctx/rootx")));
    assert!(!m.matches(Path::new("/ctx")));
    assert!(m.matches_entire_dir(&abs("sub")));
}

#[test]
fn bad_patterns_are_rejected_with_the_pattern_named() {
    for bad in ["a\\", "[abc", "!", "x/[]"] {
        match matcher_for(Path::new(BASE), &[bad]) {
            Ok(_) => panic!("{bad:?} should be rejected"),
            Err(e) => assert_eq!(e.pattern, bad),
        }
    }
}

#[test]
fn base_paths_with_glob_characters_are_literal() {
    let m = match matcher_for(Path::new("/w/[x]*"), &["*.o"]) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert!(m.matches(Path::new("/w/[x]*/a.o")));
    assert!(!m.matches(Path::new("/w/xy/a.o")));
}

#[test]
fn editor_temp_files_are_recognised() {
    let cases = [
        ("/p/src/main.go___jb_old___", Some("**/*___jb_old___")),
        ("/p/src/main.go___jb_tmp___", Some("**/*___jb_tmp___")),
        ("/p/.idea/workspace.xml", Some("**/.idea/**")),
        ("/p/src/.#main.c", Some("**/.#*")),
        ("/p/src/#main.c#", Some("**/#*#")),
        ("/p/src/flymake_main.c", Some("**/flymake_*.*")),
        ("/p/src/4913", Some("**/4913")),
        ("/p/src/main.c~", Some("**/*~")),
        ("/p/src/.main.c.swp", Some("**/.*.swp")),
        ("/p/src/.main.c.swx", Some("**/.*.swx")),
        ("/p/src/.main.c.swo", Some("**/.*.swo")),
        ("/p/src/.main.c.swn", Some("**/.*.swn")),
        ("/p/src/.main.c.kate-swp", Some("**/.*.kate-swp")),
        ("/p/src/x-go-tmp-umask", Some("**/*-go-tmp-umask")),
        ("/p/src/main.c", None),
        ("/p/src/main.swp", None),
        ("/p/src/49130", None),
        ("/p/.idea", None),
    ];
    for (path, expected) in cases {
        assert_eq!(editor_temp_rule(Path::new(path)), expected, "{path}");
    }
    assert_eq!(EDITOR_TEMP_PATTERNS.len(), 14);
}

#[test]
fn dockerignore_files_have_comments_only_in_column_one() {
    let text =
        "\u{feff}# generated\nnode_modules\n  # not a comment\n\n!keep.md\n! spaced\n*.log  \n";
    assert_eq!(
        parse_dockerignore(text),
        vec![
            "node_modules",
            "# not a comment",
            "!keep.md",
            "!spaced",
            "*.log"
        ]
    );
    // A pattern that looks like a comment but is indented is a real (literal) pattern.
    check(&["# not a comment"], "# not a comment", true);
    assert!(parse_dockerignore("# generated code\n").is_empty());
}

/// `only=['./src', 'requirements.txt']` is written as Tilt writes it: `**` then `!<path as
/// given>`. The paths re-included keep everything under them, `./` or not, and
/// `matches_entire_dir` must not prune a re-included directory.
#[test]
fn only_patterns_spelled_as_tilt_reinclude_their_trees() {
    let only = ["**", "!./src", "!requirements.txt"];
    check(&only, "src/main.py", false);
    check(&only, "src/pkg/deep.py", false);
    check(&only, "requirements.txt", false);
    check(&only, "Dockerfile", true);
    check(&only, "tests/test_main.py", true);
    check_dir(&only, "src", false);
    check_dir(&only, "tests", true);
}
