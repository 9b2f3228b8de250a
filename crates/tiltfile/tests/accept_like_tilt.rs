//! What real Tiltfiles do and Tilt accepts (issue 8; the `quirks` project of
//! shared/examples/tiltfile-result): each test is named after the behaviour, and the
//! expected values come from Tilt's source (`internal/tiltfile/...`, cited per test).

mod common;

use common::Project;

/// The `(Tiltfile)` log lines (print output, local output).
fn log(p: &Project) -> Vec<String> {
    p.result().log.iter().map(|l| l.text.clone()).collect()
}

/// The local target of resource `name`.
fn local_target(plan: &lilt_model::Plan, name: &str) -> lilt_model::LocalTarget {
    match plan.manifest(name).map(|m| &m.deploy) {
        Some(lilt_model::DeployTarget::Local(t)) => t.clone(),
        other => panic!("{name}: not a local resource: {other:?}"),
    }
}

/// Evaluates `tiltfile` and returns its log; fails on a load error.
fn run(files: &[(&str, &str)]) -> (Project, Vec<String>) {
    let p = Project::new(files);
    if let Some(e) = &p.result().error {
        panic!("unexpected load error: {e}");
    }
    let lines = log(&p);
    (p, lines)
}

// k8scontext.go: `ValueOrSequenceToSlice(None)` is empty, so nothing is added.
#[test]
fn allow_k8s_contexts_none_is_a_no_op() {
    let (p, lines) = run(&[(
        "Tiltfile",
        "allow_k8s_contexts(None)\nallow_k8s_contexts([])\nprint('after')\n",
    )]);
    assert_eq!(lines, ["after"]);
    assert!(p.plan().manifests.is_empty());
}

// io.go: listdir walks with filepath.WalkDir and its callback ignores the root's error.
#[test]
fn listdir_of_a_missing_directory_is_empty() {
    let (_, lines) = run(&[
        ("a-file", "x"),
        (
            "Tiltfile",
            "print(listdir('tilt.d'))\nprint(listdir('tilt.d', recursive=True))\nprint(listdir('a-file'))\n",
        ),
    ]);
    assert_eq!(lines, ["[]", "[]", "[]"]);
}

// WalkDir visits each directory's entries in name order, depth first, and reports
// symlinks (even to directories) as files without following them.
#[test]
fn listdir_walks_in_go_order_and_lists_symlinks_as_files() {
    let p = Project::new(&[
        ("d/b/x", ""),
        ("d/b.txt", ""),
        ("d/a", ""),
        ("target/inside", ""),
        (
            "Tiltfile",
            "local('ln -s ../target d/link', quiet=True, echo_off=True)\n\
             print([f[len(os.getcwd()) + 1:] for f in listdir('d', recursive=True)])\n\
             print([f[len(os.getcwd()) + 1:] for f in listdir('d')])\n",
        ),
    ]);
    assert_eq!(
        log(&p),
        [
            r#"["d/a", "d/b/x", "d/b.txt", "d/link"]"#,
            r#"["d/a", "d/b.txt", "d/link"]"#,
        ]
    );
}

// os/environ.go and environ_methods.go: os.environ is a dict over the environment.
#[test]
fn os_environ_behaves_as_a_dict() {
    let (p, lines) = run(&[(
        "Tiltfile",
        "os.environ.update({'SHOP_MODE': 'dev'}, SHOP_EXTRA='1')\n\
         os.environ.update([('SHOP_PAIR', 'p')])\n\
         print(os.environ['SHOP_MODE'], os.environ.get('SHOP_EXTRA'), os.environ.get('NOPE', 'd'))\n\
         print('SHOP_PAIR' in os.environ, 'NOPE' in os.environ, 3 in os.environ)\n\
         print(os.environ.setdefault('SHOP_MODE', 'x'), os.environ.setdefault('SHOP_NEW', 'n'))\n\
         os.environ['SHOP_SET'] = 'v'\n\
         print(os.environ.pop('SHOP_EXTRA'), os.environ.pop('NOPE', 'gone'))\n\
         print([k for k in os.environ.keys() if k.startswith('SHOP_')])\n\
         print([kv for kv in os.environ.items() if kv[0].startswith('SHOP_')])\n\
         print(len([v for v in os.environ.values() if v == 'dev']))\n\
         print(os.getenv('SHOP_SET'), bool(os.environ))\n\
         print(str(local('echo $SHOP_MODE-$SHOP_SET', quiet=True, echo_off=True)).strip())\n",
    )]);
    assert_eq!(
        lines,
        [
            "dev 1 d",
            "True False False",
            "dev n",
            "1 gone",
            r#"["SHOP_MODE", "SHOP_NEW", "SHOP_PAIR", "SHOP_SET"]"#,
            r#"[("SHOP_MODE", "dev"), ("SHOP_NEW", "n"), ("SHOP_PAIR", "p"), ("SHOP_SET", "v")]"#,
            "1",
            "v True",
            "dev-v",
        ]
    );
    let changes = p.result().env_changes;
    assert_eq!(changes.get("SHOP_MODE"), Some(&Some("dev".to_owned())));
    assert_eq!(changes.get("SHOP_SET"), Some(&Some("v".to_owned())));
    assert!(!changes.contains_key("SHOP_EXTRA"));
}

// The errors Tilt gives for os.environ misuse (go.starlark.net's index error; Tilt's
// forked dict methods).
#[test]
fn os_environ_errors_as_tilt() {
    let cases = [
        ("os.environ['NOPE']", r#"key "NOPE" not in environ"#),
        ("os.environ.pop('NOPE')", "pop: missing key"),
        (
            "os.environ.setdefault('NOPE')",
            "setdefault: putenv() value must be a string, not NoneType",
        ),
        (
            "os.environ.update({'A': 1})",
            "update: putenv() value must be a string, not int",
        ),
        (
            "os.environ.update({}, {})",
            "update: got 2 arguments, want at most 1",
        ),
        (
            "os.environ[1] = 'x'",
            "putenv() key must be a string, not int",
        ),
    ];
    for (code, want) in cases {
        let p = Project::new(&[("Tiltfile", code)]);
        assert!(p.error().contains(want), "{code}: {}", p.error());
    }
}

// os.go: putenv/getenv/unsetenv take value.Stringable; decode_json/decode_yaml too
// (encoding/*.go); lilt also takes a blob for every other string parameter.
#[test]
fn blob_accepted_where_a_string_is_expected() {
    let (p, lines) = run(&[
        ("value.txt", "from-file"),
        ("data.json", "{\"k\": \"v\"}"),
        ("name.txt", "value.txt"),
        (
            "Tiltfile",
            "os.putenv('SHOP_TILTFILE', read_file('value.txt'))\n\
             print(os.getenv(blob('SHOP_TILTFILE')))\n\
             print(decode_json(read_file('data.json'))['k'])\n\
             print(shlex.quote(blob('a b')))\n\
             print(str(read_file(read_file('name.txt'))))\n\
             print(os.path.join(blob('a'), blob('b')))\n\
             print(str(local(blob('echo hi'), quiet=True, echo_off=True)).strip())\n\
             os.unsetenv(blob('SHOP_TILTFILE'))\n\
             print(os.getenv('SHOP_TILTFILE'))\n\
             local_resource(blob('res'), cmd=blob('echo x'), labels=blob('lbl'))\n",
        ),
    ]);
    assert_eq!(
        lines,
        ["from-file", "v", "'a b'", "from-file", "a/b", "hi", "None"]
    );
    let plan = p.plan();
    let res = plan.manifest("res").expect("resource from blob name");
    assert_eq!(res.labels.keys().collect::<Vec<_>>(), ["lbl"]);
}

// git/git.go, git/repo.go: the repo needs a .git entry; `.paths(p)` is
// filepath.Join(root, p); the repo stands for its root as a path argument.
#[test]
fn local_git_repo_paths_join_the_repo_root() {
    let p = Project::new(&[
        (".git/HEAD", "ref: refs/heads/main\n"),
        ("sub/f.txt", "in sub"),
        (
            "Tiltfile",
            "repo = local_git_repo('.')\n\
             print(repo.paths('sub/f.txt'))\n\
             print(repo.paths('/abs/../x'))\n\
             print(repo.paths(''))\n\
             print(str(repo) == \"[git.Repo] '%s'\" % os.getcwd(), type(repo), bool(repo))\n\
             print(read_file(repo.paths('sub/f.txt')))\n\
             print(len(listdir(repo, recursive=True)) >= 2)\n",
        ),
    ]);
    let root = p.root().display().to_string();
    assert_eq!(
        log(&p),
        [
            format!("{root}/sub/f.txt"),
            format!("{root}/x"),
            root.clone(),
            "True git.Repo True".to_owned(),
            "in sub".to_owned(),
            "True".to_owned(),
        ]
    );
}

#[test]
fn local_git_repo_requires_a_git_directory() {
    let p = Project::new(&[("sub/f", ""), ("Tiltfile", "local_git_repo('sub')\n")]);
    let sub = p.path("sub").display().to_string();
    assert!(
        p.error().contains(&format!(
            "{sub} isn't a valid git repo: it doesn't have a .git/ directory"
        )),
        "{}",
        p.error()
    );
    let p = Project::new(&[("Tiltfile", "local_git_repo('nope')\n")]);
    let nope = p.path("nope").display().to_string();
    assert!(
        p.error().contains(&format!(
            "Reading paths {nope}: stat {nope}: no such file or directory"
        )),
        "{}",
        p.error()
    );
}

// loaddynamic/load.go returns the file's globals; __file__, __name__ and config are
// predeclared in Tilt (starkit/environment.go), so they are not among them.
#[test]
fn load_dynamic_returns_only_what_the_file_defines() {
    let (_, lines) = run(&[
        (
            "dyn.tilt",
            "load('helper.tilt', 'h')\nanswer = 42\ndef helper():\n    return h\n",
        ),
        ("helper.tilt", "h = 1\n"),
        (
            "Tiltfile",
            "d = load_dynamic(blob('dyn.tilt'))\nprint(sorted(d.keys()), d['helper']())\n",
        ),
    ]);
    assert_eq!(lines, [r#"["answer", "helper"] 1"#]);
}

// ExtensionRepo.Validate (pkg/apis/core/v1alpha1/extensionrepo_types.go) accepts http://,
// https:// and absolute file:// URLs.
#[test]
fn extension_repo_accepts_an_http_url() {
    let (p, _) = run(&[(
        "Tiltfile",
        "v1alpha1.extension_repo(name='mirror', url='http://git.example.com/exts')\n",
    )]);
    assert!(
        p.plan()
            .api_objects
            .iter()
            .any(|o| o.kind == "ExtensionRepo" && o.name == "mirror")
    );
    let p = Project::new(&[(
        "Tiltfile",
        "v1alpha1.extension_repo(name='x', url='file://relative/dir')\n",
    )]);
    assert!(
        p.error()
            .contains("file:// URLs must be absolute (e.g., file:///home/user/repo)"),
        "{}",
        p.error()
    );
}

// encoding/json.go: a json.Encoder with a two-space indent over Go maps (sorted keys,
// HTML escaping, a final newline), returned as a string.
#[test]
fn encode_json_writes_like_go() {
    let (_, lines) = run(&[(
        "Tiltfile",
        "print(repr(encode_json({'mode': 'dev', 'extra': []})))\n\
         print(type(encode_json({})))\n\
         print(repr(encode_json({'z': {'b': 1, 'a': '<&>'}, 'f': [1.0, 1.5, 1e21, 0.0000001]})))\n",
    )]);
    assert_eq!(
        lines,
        [
            r#""{\n  \"extra\": [],\n  \"mode\": \"dev\"\n}\n""#,
            "string",
            r#""{\n  \"f\": [\n    1,\n    1.5,\n    1e+21,\n    1e-7\n  ],\n  \"z\": {\n    \"a\": \"\\u003c\\u0026\\u003e\",\n    \"b\": 1\n  }\n}\n""#,
        ]
    );
}

// The recorded Tilt output of the quirks project: a command string is trimmed
// (model.ToUnixCmd), so the JSON's final newline does not reach the argv.
#[test]
fn command_strings_are_trimmed_like_tilt() {
    let (p, _) = run(&[(
        "Tiltfile",
        "local_resource('config', cmd='echo ' + encode_json({'mode': 'dev', 'extra': []}))\n\
         local_resource('spaces', cmd='  ', serve_cmd='\\n  run  \\n')\n",
    )]);
    let plan = p.plan();
    let local = local_target(&plan, "config");
    assert_eq!(
        local.update_cmd.as_ref().unwrap().argv,
        [
            "sh",
            "-c",
            "echo {\n  \"extra\": [],\n  \"mode\": \"dev\"\n}"
        ]
    );
    let local = local_target(&plan, "spaces");
    assert_eq!(local.update_cmd.as_ref().unwrap().argv, ["sh", "-c", ""]);
    assert_eq!(local.serve_cmd.as_ref().unwrap().argv, ["sh", "-c", "run"]);
}

// encoding/yaml.go: sigs.k8s.io/yaml marshals Go maps, so keys come out sorted, and goes
// through JSON, so integral floats come out as integers.
#[test]
fn encode_yaml_sorts_keys_like_go() {
    let (_, lines) = run(&[(
        "Tiltfile",
        "print(str(encode_yaml({'b': 1, 'a': {'q': 2, 'p': 3}})))\n\
         print(str(encode_yaml_stream([{'d': 1, 'c': 2}])))\n\
         print(str(encode_yaml({'f': [1.0, -2.0, 0.5]})))\n",
    )]);
    assert_eq!(
        lines,
        [
            "a:\n  p: 3\n  q: 2\nb: 1\n",
            "c: 2\nd: 1\n",
            "f:\n- 1\n- -2\n- 0.5\n"
        ]
    );
}

// os/os.go: basename, dirname and join are Go's filepath functions, and relpath is
// filepath.Rel on the arguments as given.
#[test]
fn os_path_functions_have_go_semantics() {
    let (p, lines) = run(&[(
        "Tiltfile",
        "print(os.path.basename('a/b/'), os.path.basename(''), os.path.basename('/'))\n\
         print(os.path.dirname('a/b/'), os.path.dirname('a'), os.path.dirname('/a'), os.path.dirname(''))\n\
         print(os.path.join('a', '/b'), os.path.join('a', '', 'c/'), repr(os.path.join('')))\n\
         print(os.path.relpath('a/b', 'a'), os.path.relpath(os.getcwd() + '/x/y'))\n",
    )]);
    assert_eq!(lines, ["b . /", "a/b . / .", r#"a/b a/c """#, "b x/y"]);
    drop(p);
    let p = Project::new(&[("Tiltfile", "os.path.relpath('x')\n")]);
    let root = p.root().display().to_string();
    assert!(
        p.error()
            .contains(&format!("Rel: can't make x relative to {root}")),
        "{}",
        p.error()
    );
}

// encoding/json.go and yaml.go: `default` is any value, and passing None explicitly is a
// default (Go tells it from "not passed"), so a missing file gives None.
#[test]
fn read_json_and_read_yaml_default_none_gives_none() {
    let (_, lines) = run(&[(
        "Tiltfile",
        "print(read_json('missing.json', default=None), read_yaml('missing.yaml', default=None))\n\
         print(read_json('missing.json', None), read_yaml('missing.yaml', default=[1]))\n",
    )]);
    assert_eq!(lines, ["None None", "None [1]"]);
    let p = Project::new(&[("Tiltfile", "read_json('missing.json')\n")]);
    assert!(
        p.error()
            .contains("missing.json: no such file or directory"),
        "{}",
        p.error()
    );
}

// value/value.go: a command's dir goes through ValueToAbsPath, and deps through
// LocalPathList, which take a git repo (a PathMaker) as its root.
#[test]
fn local_git_repo_as_a_command_dir() {
    let p = Project::new(&[
        ("sub/.git/HEAD", "ref: refs/heads/main\n"),
        (
            "Tiltfile",
            "repo = local_git_repo('sub')\n\
             print(str(local('pwd', dir=repo, quiet=True, echo_off=True)).strip())\n\
             local_resource('r', cmd='true', dir=repo, deps=[repo, 'x'])\n",
        ),
    ]);
    let sub = p.path("sub");
    assert_eq!(log(&p), [sub.display().to_string()]);
    let r = local_target(&p.plan(), "r");
    assert_eq!(r.update_cmd.as_ref().unwrap().dir, sub);
    assert_eq!(r.deps, [sub.clone(), p.path("x")]);
}

// go.starlark.net's print takes `sep=` (Tilt keeps that builtin, only redirecting output).
#[test]
fn print_accepts_sep_like_go_starlark() {
    let (_, lines) = run(&[(
        "Tiltfile",
        "print('a', 1, None, blob('b'))\nprint('a', 'b', sep='-')\nprint()\n",
    )]);
    assert_eq!(lines, ["a 1 None b", "a-b", ""]);
}

// loaddynamic/load.go and include/include.go go through Thread.Load, so `ext://` names
// resolve as they do for load().
#[test]
fn load_dynamic_and_include_resolve_ext_names() {
    let exts = tempfile::tempdir().expect("tempdir");
    common::write_files(
        exts.path(),
        &[("hello/Tiltfile", "greeting = 'hi'\nprint('hello ran')\n")],
    );
    let tiltfile = format!(
        "v1alpha1.extension_repo(name='mine', url='file://{}', load_host='mine')\n\
         d = load_dynamic('ext://mine/hello')\n\
         include('ext://mine/hello')\n\
         print(d['greeting'], sorted(d.keys()))\n",
        exts.path().display()
    );
    let (_, lines) = run(&[("Tiltfile", &tiltfile)]);
    assert_eq!(lines, ["hello ran", r#"hi ["greeting"]"#]);
}

// go.starlark.net's dict() copies any IterableMapping, os.environ included; the other
// forms of dict() are Starlark's.
#[test]
fn dict_of_os_environ_is_a_copy() {
    let (p, lines) = run(&[(
        "Tiltfile",
        "os.environ['SHOP_A'] = 'a'\n\
         env = dict(os.environ, SHOP_B='b')\n\
         env['SHOP_C'] = 'c'\n\
         print(type(env), env['SHOP_A'], env['SHOP_B'], 'SHOP_C' in os.environ, 'SHOP_B' in os.environ)\n\
         print(dict(), dict(a=1), dict([('a', 1)], b=2), dict({'a': 1}))\n",
    )]);
    assert_eq!(
        lines,
        [
            "dict a b False False",
            r#"{} {"a": 1} {"a": 1, "b": 2} {"a": 1}"#
        ]
    );
    assert!(!p.result().env_changes.contains_key("SHOP_B"));
}
