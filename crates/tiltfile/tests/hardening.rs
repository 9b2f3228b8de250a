//! Issue 9: nothing a Tiltfile does may take the evaluating process down. Each test is
//! named after the bug it guards against.

mod common;

use std::os::unix::fs::OpenOptionsExt;

use common::Project;

/// Tilt (go.starlark.net, whose goroutine stacks grow) evaluates deeply nested expressions;
/// lilt evaluated them on a small stack and aborted the whole process at ~1,000 levels.
#[test]
fn deep_nesting_aborts_the_process() {
    let deep = 10_000;
    let text = format!(
        "x = {}1{}\nprint('after')\n",
        "(".repeat(deep),
        ")".repeat(deep)
    );
    let project = Project::new(&[("Tiltfile", &text)]);
    let error = project
        .result()
        .error
        .expect("nesting 10,000 deep is refused");
    assert!(error.message.contains("nesting too deep"), "{error}");
    let location = error.location.expect("the error has a position");
    assert_eq!(location.file, project.path("Tiltfile"));
    assert_eq!(location.line, 1);
    assert_eq!(location.col, 5 + lilt_tiltfile::MAX_NESTING);

    // What Tilt accepts at a depth that used to abort lilt evaluates normally.
    let ok = 1_000;
    let lists = format!("x = {}{}\nprint(len(x))\n", "[".repeat(ok), "]".repeat(ok));
    let project = Project::new(&[("Tiltfile", &lists)]);
    let result = project.result();
    assert!(result.error.is_none(), "{:?}", result.error);
    assert!(result.log.iter().any(|l| l.text == "1"), "{:?}", result.log);
}

/// The limit covers every construct that recurses in the parser or compiler, in loaded
/// files too, and the error names the loaded file.
#[test]
fn deep_nesting_aborts_the_process_through_operators_blocks_and_loads() {
    let n = 20_000;
    let cases = [
        format!("x = 1{}\n", " + 1".repeat(n)),
        format!("x = {}1\n", "-".repeat(n)),
        format!("x = {}True\n", "not ".repeat(n)),
        format!("x = {}1\n", "1 if True else ".repeat(n)),
    ];
    for text in &cases {
        let project = Project::new(&[("Tiltfile", text)]);
        let error = project.result().error.expect("refused");
        assert!(error.message.contains("nesting too deep"), "{error}");
        assert_eq!(error.location.map(|l| l.line), Some(1));
    }
    let blocks: String = (0..6_000)
        .map(|i| format!("{}if True:\n", " ".repeat(i)))
        .collect();
    let project = Project::new(&[
        ("Tiltfile", "load('./lib.star', 'y')\n"),
        (
            "lib.star",
            &format!("y = 1\n{blocks}{}pass\n", " ".repeat(6_000)),
        ),
    ]);
    let error = project.result().error.expect("refused");
    assert!(error.message.contains("nesting too deep"), "{error}");
    let location = error.location.expect("position");
    assert_eq!(location.file, project.path("lib.star"));
    assert_eq!(location.line, 2 + lilt_tiltfile::MAX_NESTING);
}

/// A chain of files, each loading the next, recursed once per file on the stack.
#[test]
fn deep_nesting_aborts_the_process_through_load_chains() {
    let chain = |n: usize| -> Vec<(String, String)> {
        let mut files = vec![(
            "Tiltfile".to_owned(),
            "load('./f1.star', 'x')\nprint(x)\n".to_owned(),
        )];
        for i in 1..n {
            files.push((
                format!("f{i}.star"),
                format!("load('./f{}.star', 'x')\n", i + 1),
            ));
        }
        files.push((format!("f{n}.star"), "x = 'end'\n".to_owned()));
        files
    };
    let files = chain(lilt_tiltfile::MAX_LOAD_DEPTH + 1);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let project = Project::new(&refs);
    let error = project.result().error.expect("refused");
    assert!(
        error
            .to_string()
            .contains("load chain deeper than 1000 files"),
        "{error}"
    );

    let files = chain(lilt_tiltfile::MAX_LOAD_DEPTH - 1);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let project = Project::new(&refs);
    let result = project.result();
    assert!(result.error.is_none(), "{:?}", result.error);
    assert!(
        result.log.iter().any(|l| l.text == "end"),
        "{:?}",
        result.log
    );
}

/// `encode_json` of a value built deep in a loop recursed without bound.
#[test]
fn deep_nesting_aborts_the_process_in_encode_json() {
    let text = "x = []\nfor i in range(200000):\n  x = [x]\ns = encode_json(x)\n";
    let project = Project::new(&[("Tiltfile", text)]);
    let error = project.result().error.expect("refused");
    assert!(error.message.contains("too deep"), "{error}");

    let in_struct = "x = []\nfor i in range(200000):\n  x = [x]\ns = encode_json(struct(a=x))\n";
    let project = Project::new(&[("Tiltfile", in_struct)]);
    let error = project.result().error.expect("refused");
    assert!(error.message.contains("too deep"), "{error}");

    let cycle = "x = []\nx.append(x)\ns = encode_yaml(x)\n";
    let project = Project::new(&[("Tiltfile", cycle)]);
    let error = project.result().error.expect("refused");
    assert!(error.message.contains("contains itself"), "{error}");
}

/// Evaluates `tiltfile` in a temp dir with `change` applied to the options.
fn load_with(
    tiltfile: &str,
    change: impl FnOnce(&mut lilt_tiltfile::LoadOptions),
) -> (tempfile::TempDir, lilt_tiltfile::LoadResult) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonicalize");
    std::fs::write(root.join("Tiltfile"), tiltfile).expect("write Tiltfile");
    let mut vars = std::collections::BTreeMap::new();
    vars.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    let mut opts = lilt_tiltfile::LoadOptions::new(root.join("Tiltfile"), "up");
    opts.env = Some(vars);
    change(&mut opts);
    let result = lilt_tiltfile::load(&opts);
    (tmp, result)
}

fn load_error(tiltfile: &str, change: impl FnOnce(&mut lilt_tiltfile::LoadOptions)) -> String {
    let (_tmp, result) = load_with(tiltfile, change);
    match result.error {
        Some(e) => e.to_string(),
        None => panic!("expected an error from {tiltfile:?}; log: {:?}", result.log),
    }
}

/// The lines a Tiltfile printed; it must load without an error.
fn printed(tiltfile: &str, change: impl FnOnce(&mut lilt_tiltfile::LoadOptions)) -> Vec<String> {
    let (_tmp, result) = load_with(tiltfile, change);
    assert!(result.error.is_none(), "{tiltfile:?}: {:?}", result.error);
    result.log.into_iter().map(|l| l.text).collect()
}

/// Makes the evaluation report its progress lines to the returned list and cancels it at
/// the first one.
fn cancel_at_first_notice(
    o: &mut lilt_tiltfile::LoadOptions,
) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let cancel = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    o.cancel = Some(cancel.clone());
    let lines = seen.clone();
    o.progress = Some(lilt_tiltfile::Progress(Arc::new(move |line| {
        lines.lock().expect("lock").push(line.to_owned());
        cancel.store(true, Ordering::Relaxed);
    })));
    seen
}

/// `read_file('/dev/zero')`, `local('yes')` and friends read until memory ran out.
#[test]
fn unbounded_reads_exhaust_memory() {
    // The documented default applies without any setting.
    assert_eq!(
        lilt_tiltfile::LoadOptions::new("Tiltfile", "up").max_read_bytes,
        64 << 20
    );
    let small = |o: &mut lilt_tiltfile::LoadOptions| o.max_read_bytes = 1 << 20;
    for call in [
        "read_file('/dev/zero')",
        "read_yaml('/dev/zero')",
        "read_json('/dev/zero')",
        "load('/dev/zero', 'x')",
        "k8s_yaml('/dev/zero')",
        "docker_compose('/dev/zero')",
        "docker_build('img', '.', dockerfile='/dev/zero')",
    ] {
        let error = load_error(&format!("{call}\n"), small);
        assert!(
            error.contains("larger than lilt's read limit of 1 MiB")
                && error.contains("LILT_MAX_READ_BYTES"),
            "{call}: {error}"
        );
    }
    let error = load_error("local('yes')\n", small);
    assert!(
        error.contains("printed more than lilt's limit of 1 MiB and was killed"),
        "{error}"
    );
    // Under the limit, reads work as before.
    let lines = printed(
        "x = local('head -c 1000 /dev/zero | tr \"\\\\0\" a', quiet=True)\nprint(len(str(x)))\n",
        small,
    );
    assert!(lines.iter().any(|l| l == "1000"), "{lines:?}");
}

/// A group killed for printing too much leaves nothing behind.
#[test]
fn unbounded_reads_exhaust_memory_kill_the_process_group() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pid_file = tmp.path().join("pid");
    let tiltfile = format!(
        "local('sleep 1000 & echo $! > {}; yes')\n",
        pid_file.display()
    );
    let error = load_error(&tiltfile, |o| o.max_read_bytes = 1 << 20);
    assert!(error.contains("printed more than"), "{error}");
    let pid = std::fs::read_to_string(&pid_file).expect("pid written");
    assert!(
        !alive(pid.trim()),
        "the background sleep was killed with its group"
    );
}

/// A string grown without end used all memory.
#[test]
fn unbounded_reads_exhaust_memory_through_giant_strings() {
    let small = |o: &mut lilt_tiltfile::LoadOptions| o.max_heap_bytes = 64 << 20;
    for tiltfile in [
        "s = 'x' * (1 << 27)\nfor i in range(2000):\n  pass\n",
        "s = ''\nfor i in range(100000000):\n  s += 'x' * 100000\n",
        "l = []\nfor i in range(100000000):\n  l.append([i, i])\n",
    ] {
        let error = load_error(tiltfile, small);
        assert!(
            error.contains("memory limit of 64 MiB") && error.contains("LILT_MAX_HEAP_BYTES"),
            "{tiltfile}: {error}"
        );
    }
}

/// One repetition is a single allocation inside starlark, between two of lilt's heap
/// checks: `('x' * 1000) * 2147483647` took all the machine's memory, `[1] * 2147483647`
/// panicked in starlark's heap and a repetition of 2 GiB passed a 64 MiB limit before the
/// next statement noticed. Now `*` (and `*=`) is sized before it runs.
#[test]
fn unbounded_reads_exhaust_memory_through_one_repetition() {
    let small = |o: &mut lilt_tiltfile::LoadOptions| o.max_heap_bytes = 64 << 20;
    let cases = [
        (
            "x = 1\ny = ('x' * 1000) * 2147483647\n",
            "`*` would make a string of 2.0 TiB, larger than the 4 GiB a Starlark value can hold",
        ),
        (
            "def f(n):\n  return n * [1]\ny = f(2147483647)\n",
            "`*` would make a list of 16.0 GiB, larger than the 4 GiB a Starlark value can hold",
        ),
        (
            "x = 1\ny = ('x' * 1000) * 2000000\n",
            "`*` would make a string of 1.9 GiB, which with the",
        ),
        (
            "x = 1\ny = (1, 2) * 100000000\n",
            "`*` would make a tuple of 1.5 GiB",
        ),
        // An augmented assignment is a statement, not an operator: rewritten to reach the check.
        (
            "s = 'x' * 1000\nfor i in range(1):\n  s *= 2147483647\n",
            "`*` would make a string of 2.0 TiB",
        ),
    ];
    for (tiltfile, expected) in cases {
        let error = load_error(tiltfile, small);
        assert!(error.contains(expected), "{tiltfile}: {error}");
        assert!(
            error.contains("Tiltfile:2:") || error.contains("Tiltfile:3:"),
            "{tiltfile}: the error has the line of the `*`: {error}"
        );
        // The operator's error, as Go prints it; not the name of lilt's helper.
        assert!(!error.contains("__lilt"), "{error}");
    }
    let error = load_error("x = ('x' * 1000) * 2000000\n", small);
    assert!(
        error
            .contains("memory limit of 64 MiB for one file (set LILT_MAX_HEAP_BYTES to change it)"),
        "{error}"
    );
}

/// `s.replace(a, b)` and `sep.join(l)` build a string whose size multiplies their inputs'
/// (`a` found everywhere, `b` large; one large string in the list many times) in one call
/// inside starlark: `('x' * 100000).replace('x', 'y' * 100000)` aborted lilt in the
/// allocator or took the machine's memory. Now both are sized first.
#[test]
fn unbounded_reads_exhaust_memory_through_one_string_method() {
    let small = |o: &mut lilt_tiltfile::LoadOptions| o.max_heap_bytes = 64 << 20;
    let cases = [
        (
            "a = 'x' * 100000\nb = a.replace('x', 'y' * 100000)\n",
            "Tiltfile:2:14",
            "Error in replace: replace would make a string of 9.3 GiB, larger than the 4 GiB",
        ),
        (
            "a = ['y' * 100000] * 1000\nb = ''.join(a)\n",
            "Tiltfile:2:12",
            "Error in join: join would make a string of 95.4 MiB, which with the",
        ),
        (
            "a = ['y' * 1000] * 100\ndef f(sep):\n  return sep.join(a)\nf('-' * 1000000)\n",
            "Tiltfile:3:18",
            "join would make a string of 94.5 MiB",
        ),
    ];
    for (tiltfile, at, expected) in cases {
        let error = load_error(tiltfile, small);
        assert!(error.contains(expected), "{tiltfile}: {error}");
        assert!(error.contains(at), "{tiltfile}: {error}");
        assert!(!error.contains("__lilt"), "{error}");
    }
}

/// `encode_json`/`encode_yaml` write a shared value out once per copy: a list holding one
/// 1 MB string a hundred times is 1 MB in the Starlark heap and 100 MB written out (a million
/// times: 1 TB). The conversion now counts what it writes against the heap limit.
#[test]
fn unbounded_reads_exhaust_memory_through_encoders() {
    let small = |o: &mut lilt_tiltfile::LoadOptions| o.max_heap_bytes = 64 << 20;
    for encoder in ["encode_json", "encode_yaml"] {
        let tiltfile = format!("big = ['x' * 1000000] * 100\ns = {encoder}({{'items': big}})\n");
        let error = load_error(&tiltfile, small);
        assert!(
            error.contains(&format!(
                "{encoder}: the value written out takes more than lilt's memory limit of 64 MiB"
            )),
            "{error}"
        );
        assert!(error.contains("Tiltfile:2:"), "{error}");
    }
    // Within the limit, as before.
    let lines = printed(
        "big = ['x' * 1000] * 100\nprint(len(encode_json(big)))\n",
        small,
    );
    assert!(lines.iter().any(|l| l == "100603"), "{lines:?}");
}

/// The rewrite behind the string-method check changes neither results nor error reports.
#[test]
fn string_method_checks_keep_results_and_errors() {
    let lines = printed(
        "print('abc'.replace('b', 'X'), ', '.join(['a', 'b']), '-'.join(('p',)), \
         'ab'.replace('', '-'), 'x'.replace('x', 'yy', 1), os.path.join('a', 'b'))\n\
         s = struct(join = lambda l: 'custom')\nprint(s.join([1]))\n",
        |_| {},
    );
    assert!(
        lines.iter().any(|l| l == "aXc a, b p -a-b- yy a/b"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l == "custom"), "{lines:?}");

    // The same reports as without the rewrite (taken from lilt before it).
    let error = load_error("x = 'a'.replace(1, 2)\n", |_| {});
    assert!(error.contains("Tiltfile:1:16: in <toplevel>"), "{error}");
    assert!(
        error.ends_with(
            "Error in replace: Type of parameter `old` doesn't match, expected `str`, actual `int (repr: 1)`"
        ),
        "{error}"
    );
    let error = load_error("x = 1\ny = x.join([])\n", |_| {});
    assert!(error.contains("Tiltfile:2:5: in <toplevel>"), "{error}");
    assert!(
        error.ends_with("Error: int has no .join field or method"),
        "{error}"
    );
}

/// `*` keeps starlark's meaning everywhere it can be written, and its errors keep Go's words.
#[test]
fn repetition_checks_keep_what_star_means() {
    let lines = printed(
        "def f(n):\n  return [n * 2 for n in range(n)]\n\
         print(2 * 3, 'ab' * 2, 3 * 'cd', [1] * 2, (1,) * 2, 2.5 * 2, -1 * 'a', 0 * [1], f(3))\n\
         g = lambda s: s * 2\nprint(g('z'), 7 // 2 * 2, 2 if False else 5 * 5)\n",
        |_| {},
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "6 abab cdcdcd [1, 1] (1, 1) 5.0  [] [0, 2, 4]"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l == "zz 6 25"), "{lines:?}");

    let error = load_error("x = 1\ny = 'a' * 'b'\n", |_| {});
    assert!(
        error.ends_with("Error: unknown binary op: string * string"),
        "{error}"
    );
}

/// A `local()` that never ends hung evaluation without a word; now it is reported while it
/// runs and ends when the evaluation is cancelled.
#[test]
fn local_that_never_ends_hangs_evaluation_silently() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pid_file = tmp.path().join("pid");
    let tiltfile = format!(
        "local('echo $$ > {}; exec sleep 1000')\n",
        pid_file.display()
    );
    let mut seen = None;
    let (_tmp, result) = load_with(&tiltfile, |o| seen = Some(cancel_at_first_notice(o)));
    let seen = seen.expect("set up").lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("local: echo $$ >") && seen[0].contains("is still running after 5s"),
        "{seen:?}"
    );
    let error = result.error.expect("cancelled").to_string();
    assert!(error.contains("cancelled"), "{error}");
    let pid = std::fs::read_to_string(&pid_file).expect("pid written");
    assert!(!alive(pid.trim()), "the command was killed");
}

/// `read_file` of a named pipe nothing writes to waited in silence until lilt ended; now it
/// is reported like a slow `local()`, ends when the load is cancelled, and the reading
/// thread is let go.
#[test]
fn a_fifo_nobody_writes_blocks_evaluation_silently() {
    let (mut fifo, mut seen) = (std::path::PathBuf::new(), None);
    let (_tmp, result) = load_with("x = read_file('pipe')\n", |o| {
        fifo = o.tiltfile.with_file_name("pipe");
        mkfifo(&fifo);
        seen = Some(cancel_at_first_notice(o));
    });
    let seen = seen.expect("set up").lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0],
        format!(
            "read: {} is still being read after 5s (a pipe or terminal that nothing writes to?)",
            fifo.display()
        )
    );
    let error = result.error.expect("cancelled").to_string();
    assert!(error.contains("cancelled"), "{error}");
    // The helper was released: it no longer holds the pipe open for reading, so a writer
    // that does not wait for a reader finds none.
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    assert!(writer.is_err(), "a reader still holds the pipe");
}

/// A named pipe that is written to reads as it does in Tilt.
#[test]
fn a_fifo_that_is_written_reads_normally() {
    let mut writer = None;
    let lines = printed("print(read_file('pipe'))\n", |o| {
        let fifo = o.tiltfile.with_file_name("pipe");
        mkfifo(&fifo);
        writer = Some(std::thread::spawn(move || {
            std::fs::write(&fifo, "from the pipe").expect("write the pipe")
        }));
    });
    writer.expect("set up").join().expect("writer");
    assert!(lines.iter().any(|l| l == "from the pipe"), "{lines:?}");
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

/// Whether process `pid` is alive (a zombie is not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}
