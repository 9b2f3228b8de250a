//! Issue 9: nothing a Tiltfile does may take the evaluating process down. Each test is
//! named after the bug it guards against.

mod common;

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

/// `encode_json` of a value built deep in a loop recursed without bound.
#[test]
fn deep_nesting_aborts_the_process_in_encode_json() {
    let text = "x = []\nfor i in range(200000):\n  x = [x]\ns = encode_json(x)\n";
    let project = Project::new(&[("Tiltfile", text)]);
    let error = project.result().error.expect("refused");
    assert!(error.message.contains("too deep"), "{error}");

    let cycle = "x = []\nx.append(x)\ns = encode_yaml(x)\n";
    let project = Project::new(&[("Tiltfile", cycle)]);
    let error = project.result().error.expect("refused");
    assert!(error.message.contains("contains itself"), "{error}");
}
