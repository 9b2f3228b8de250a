//! The dashboard in real headless Chromium against the real `lilt up`: the table shows every
//! resource, a trigger click re-runs one, the log filters (text, /regex/, source, level)
//! show only matching lines, and without the session token the page says it is not
//! authorised, and "Cancel load" ends a stuck Tiltfile load. Skipped (with a message) only when chromedriver is not installed and `CI` is unset (under CI it fails).

mod browser_support;

use browser_support::{
    Lilt, browser, driver, js, log_lines, project, wait_for, wait_js, wait_until,
};
use fantoccini::Locator;

const TILTFILE: &str = r#"
local_resource('counter', cmd='sh count.sh', labels=['app'])
local_resource('logger', cmd='sh build.sh', serve_cmd='sh serve.sh', labels=['app'])
local_resource('failing', cmd='sh fail.sh', labels=['checks'])
local_resource('manual', cmd='true', trigger_mode=TRIGGER_MODE_MANUAL, auto_init=False)
"#;

fn fixture() -> tempfile::TempDir {
    project(&[
        ("Tiltfile", TILTFILE),
        ("count.sh", "echo run >> runs.txt\necho counted\n"),
        (
            "build.sh",
            "echo 'alpha one'\necho 'beta two'\necho 'alpha three'\n",
        ),
        ("serve.sh", "echo 'runtime-side marker'\nexec sleep 3600\n"),
        ("fail.sh", "echo 'about to fail'\nexit 3\n"),
    ])
}

fn runs(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("runs.txt"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_trigger_and_log_filters() {
    let Some(driver) = driver() else { return };
    let dir = fixture();
    let lilt = Lilt::start(dir.path());
    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;

    // The table renders every resource of the fixture.
    client.goto(&lilt.url).await.expect("open dashboard");
    wait_for(&client, "html[data-complete-rendered-ms]").await;
    wait_js(
        &client,
        "every resource in the table",
        "const names = new Set([...document.querySelectorAll('tr.res-row')].map(r => r.dataset.resource));
         return ['(Tiltfile)', 'counter', 'logger', 'failing', 'manual'].every(n => names.has(n));",
    )
    .await;
    wait_js(
        &client,
        "the failing resource shown as an error",
        "return document.querySelector('tr.res-row[data-resource=\"failing\"] td.status-cell')?.dataset.status === 'error';",
    )
    .await;

    // A trigger click re-runs the resource: the file its command appends to grows.
    wait_until("the first run of counter", || runs(dir.path()) >= 1).await;
    let trigger = "tr.res-row[data-resource=\"counter\"] [data-action=\"trigger\"]";
    wait_js(
        &client,
        "counter's trigger button enabled",
        &format!("const b = document.querySelector('{trigger}'); return !!b && !b.disabled;"),
    )
    .await;
    let before = runs(dir.path());
    client
        .find(Locator::Css(trigger))
        .await
        .expect("trigger button")
        .click()
        .await
        .expect("click trigger");
    wait_until("counter to run again", || runs(dir.path()) > before).await;

    // Log filters on one resource's view: text, /regex/, source.
    client
        .goto(&lilt.plain("/r/logger/overview"))
        .await
        .expect("resource view");
    wait_for(&client, "html[data-complete-rendered-ms]").await;
    wait_js(
        &client,
        "logger's build and runtime lines",
        "const t = document.getElementById('log')?.textContent || '';
         return t.includes('alpha three') && t.includes('runtime-side marker');",
    )
    .await;
    let filter = client
        .find(Locator::Css("#log-filter"))
        .await
        .expect("filter box");
    filter.send_keys("ALPHA").await.expect("type filter");
    wait_js(
        &client,
        "the text filter",
        "return document.querySelectorAll('#log .ll').length === 2;",
    )
    .await;
    assert_eq!(log_lines(&client).await, ["alpha one", "alpha three"]);
    assert!(
        client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains("term=ALPHA")
    );

    filter.clear().await.expect("clear filter");
    filter.send_keys("/^b\\w+ two$/").await.expect("type regex");
    wait_js(
        &client,
        "the regex filter",
        "return document.querySelectorAll('#log .ll').length === 1 && document.getElementById('log-filter-note').textContent === 'regex';",
    )
    .await;
    assert_eq!(log_lines(&client).await, ["beta two"]);

    // WebDriver's clear fires no input event; empty the box the way typing would.
    js(
        &client,
        "const e = document.getElementById('log-filter'); e.value = ''; e.dispatchEvent(new Event('input')); return true;",
    )
    .await;
    client
        .find(Locator::Css("[data-filter-source=\"runtime\"]"))
        .await
        .expect("runtime filter")
        .click()
        .await
        .expect("click runtime");
    wait_js(
        &client,
        "the runtime-only filter",
        "const t = document.getElementById('log').textContent;
         return t.includes('runtime-side marker') && !t.includes('alpha');",
    )
    .await;
    client
        .find(Locator::Css("[data-filter-source=\"build\"]"))
        .await
        .expect("build filter")
        .click()
        .await
        .expect("click build");
    wait_js(
        &client,
        "the build-only filter",
        "const t = document.getElementById('log').textContent;
         return t.includes('alpha one') && t.includes('beta two') && !t.includes('runtime-side marker');",
    )
    .await;

    // Level: only the error line of the failing resource.
    client
        .goto(&lilt.plain("/r/failing/overview?level=error"))
        .await
        .expect("failing view");
    wait_for(&client, "html[data-complete-rendered-ms]").await;
    wait_js(
        &client,
        "the error-level filter",
        "return document.querySelectorAll('#log .ll').length > 0 && document.querySelector('[data-filter-level=\"error\"]').getAttribute('aria-pressed') === 'true';",
    )
    .await;
    let lines = log_lines(&client).await;
    assert!(
        lines.iter().all(|l| l.contains("exit status 3")),
        "{lines:?}"
    );
    let levels = js(
        &client,
        "return [...document.querySelectorAll('#log .ll')].every(e => e.dataset.level === 'error');",
    )
    .await;
    assert_eq!(levels, true);
    client
        .find(Locator::Css("[data-filter-level=\"\"]"))
        .await
        .expect("all levels")
        .click()
        .await
        .expect("click all levels");
    wait_js(
        &client,
        "all levels again",
        "return document.getElementById('log').textContent.includes('about to fail');",
    )
    .await;

    client.close().await.expect("close browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required() {
    let Some(driver) = driver() else { return };
    let dir = fixture();
    let lilt = Lilt::start(dir.path());
    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;

    // A fresh profile opening the dashboard without ?token=: the page loads, the API does not.
    client
        .goto(&lilt.plain("/"))
        .await
        .expect("open without token");
    wait_for(&client, "#socket-bar[data-state=\"unauthorized\"]").await;
    let text = js(
        &client,
        "return document.getElementById('socket-bar').textContent;",
    )
    .await;
    assert!(
        text.as_str().unwrap_or_default().contains("Not authorised"),
        "{text}"
    );
    let status = js(&client, "return fetch('api/view').then(r => r.status);").await;
    assert_eq!(status, 401);
    let rows = js(
        &client,
        "return document.querySelectorAll('tr.res-row').length;",
    )
    .await;
    assert_eq!(rows, 0);

    // The printed URL sets the cookie; then everything works, and keeps working without it.
    client.goto(&lilt.url).await.expect("open with token");
    wait_for(&client, "html[data-complete-rendered-ms]").await;
    wait_for(&client, "tr.res-row[data-resource=\"counter\"]").await;
    let status = js(
        &client,
        "return fetch('api/view?logs=false').then(r => r.status);",
    )
    .await;
    assert_eq!(status, 200);
    let url = client.current_url().await.expect("url");
    assert!(
        !url.as_str().contains("token="),
        "the token is not left in the address bar: {url}"
    );

    client.close().await.expect("close browser");
}

/// Regression: the browser tests passed silently without chromedriver. Under CI a missing
/// driver now fails the test; outside CI it is skipped with a message.
#[test]
fn browser_tests_fail_under_ci_when_chromedriver_is_missing() {
    let under_ci =
        std::panic::catch_unwind(|| browser_support::required_tool("chromedriver", None, true));
    assert!(
        under_ci.is_err(),
        "a missing chromedriver must fail under CI"
    );
    assert_eq!(
        browser_support::required_tool("chromedriver", None, false),
        None
    );
    let found = std::path::PathBuf::from("/usr/bin/chromedriver");
    assert_eq!(
        browser_support::required_tool("chromedriver", Some(found.clone()), true),
        Some(found)
    );
}

/// Issue 9: while `(Tiltfile)` evaluates a `local()` that never ends, its page shows
/// "Cancel load"; a click ends the command and the load, and the button goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_load_button_ends_a_stuck_tiltfile_load() {
    let Some(driver) = driver() else { return };
    let good = "local_resource('ok', cmd='true')\n";
    let dir = project(&[("Tiltfile", good)]);
    let lilt = Lilt::start(dir.path());
    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;
    // The printed URL carries the token and sets the session cookie.
    client.goto(&lilt.url).await.expect("open dashboard");
    wait_for(&client, "html[data-complete-rendered-ms]").await;
    client
        .goto(&lilt.plain("/r/(Tiltfile)/overview"))
        .await
        .expect("the Tiltfile's page");
    wait_for(&client, "html[data-complete-rendered-ms]").await;

    std::fs::write(
        dir.path().join("Tiltfile"),
        format!("{good}local('sleep 1000 & echo $! > stuck.pid; wait')\n"),
    )
    .expect("write Tiltfile");
    let pid_file = dir.path().join("stuck.pid");
    wait_until("the stuck local()", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| !t.trim().is_empty())
    })
    .await;
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let alive = |pid: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(alive(pid));
    let button = "#resource-cancel-load";
    wait_js(
        &client,
        "the Cancel load button",
        &format!("const b = document.querySelector('{button}'); return !!b && !b.hidden;"),
    )
    .await;
    client
        .find(Locator::Css(button))
        .await
        .expect("cancel button")
        .click()
        .await
        .expect("click cancel");
    wait_until("the stuck command to end", || !alive(pid)).await;
    wait_js(
        &client,
        "the button gone once the load ended",
        &format!("return document.querySelector('{button}')?.hidden === true;"),
    )
    .await;
}
