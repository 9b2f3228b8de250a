//! `lilt open NAME` against a real `lilt up`: the browser button's gate, and the browser it
//! starts with the configured profile, flags, environment, preferences and URL. A small
//! script stands in for the browser and records how it was started (the real-Chromium
//! path is covered by the browser tests).

mod client_support;

use client_support::Lilt;

const TILTFILE: &str = r#"
local_resource(
    'web',
    serve_cmd='sleep 1000',
    links=[link('http://127.0.0.1:9/hello', 'hello')],
    readiness_probe=probe(exec=exec_action(['test', '-e', 'ready.flag']), period_secs=1),
)
browser_button(
    'inspect',
    url='link:web/hello',
    resource='web',
    browser=os.path.join(config.main_dir, 'fake-browser.sh'),
    args=['--flag-one'],
    env={'LILT_TEST_ENV': 'yes'},
    prefs={'intl.accept_languages': 'en-US'},
)
"#;

/// Records its argv and environment next to itself, as a browser would receive them.
const FAKE_BROWSER: &str = "#!/bin/sh\n\
    dir=$(dirname \"$0\")\n\
    env > \"$dir/browser-env.tmp\" && mv \"$dir/browser-env.tmp\" \"$dir/browser-env.txt\"\n\
    printf '%s\\n' \"$@\" > \"$dir/browser-args.tmp\" && mv \"$dir/browser-args.tmp\" \"$dir/browser-args.txt\"\n";

#[test]
fn open_waits_for_readiness_then_starts_the_configured_browser() {
    let lilt = Lilt::start_with(TILTFILE, &[("fake-browser.sh", FAKE_BROWSER, true)]);

    let (code, _, err) = lilt.run(&["open", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no browser button named \"nope\"; the Tiltfile declares: inspect"),
        "{err}"
    );

    // The resource is not ready yet: the button says why and nothing starts.
    let (code, _, err) = lilt.run(&["open", "inspect"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot open inspect: waiting for resource web to be ready"),
        "{err}"
    );
    assert!(!lilt.path("browser-args.txt").exists());

    std::fs::write(lilt.path("ready.flag"), "").expect("write flag");
    lilt.wait_for("web to be ready", || {
        (lilt.resource("web")["status"]["runtimeStatus"] == "ok").then_some(())
    });
    let out = lilt.ok(&["open", "inspect"]);
    assert_eq!(
        out,
        "Opening inspect (its launch is logged on resource web)\n"
    );

    let args = lilt.wait_for("the browser to start", || {
        let text = lilt.read("browser-args.txt");
        (!text.is_empty()).then_some(text)
    });
    let profile = lilt.path(".lilt/browser/inspect");
    let args: Vec<&str> = args.lines().collect();
    assert!(
        args.contains(&format!("--user-data-dir={}", profile.display()).as_str()),
        "{args:?}"
    );
    assert!(args.contains(&"--flag-one"), "{args:?}");
    assert_eq!(
        args.last(),
        Some(&"http://127.0.0.1:9/hello"),
        "the named link is the URL"
    );
    assert!(
        lilt.read("browser-env.txt")
            .lines()
            .any(|l| l == "LILT_TEST_ENV=yes")
    );
    let prefs = std::fs::read_to_string(profile.join("Default/Preferences")).expect("prefs");
    let prefs: serde_json::Value = serde_json::from_str(&prefs).expect("json prefs");
    assert_eq!(prefs["intl"]["accept_languages"], "en-US");

    let logs = lilt.ok(&["logs", "web"]);
    assert!(
        logs.contains("button inspect: opened http://127.0.0.1:9/hello in a browser"),
        "{logs}"
    );
}
