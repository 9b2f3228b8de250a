//! The browser button end to end: a click in the dashboard (headless Chromium) makes the
//! real `lilt up` start the configured browser with its own profile, flags and prefs on a
//! resource's link; a local test server records the request and its User-Agent. Skipped
//! (with a message) only when chromedriver is not installed and `CI` is unset (under CI it fails).

mod browser_support;

use browser_support::{
    Lilt, browser, chromium, driver, free_port, kill_with_arg, pids_with_arg, project, wait_for,
    wait_js, wait_until,
};
use fantoccini::Locator;

/// Records `<path> <user-agent>` per request in requests.txt.
const SERVER: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open('requests.txt', 'a') as f:
            f.write(self.path + ' ' + self.headers.get('User-Agent', '') + '\n')
        self.send_response(200)
        self.send_header('Content-Type', 'text/html')
        self.end_headers()
        self.wfile.write(b'<title>recorded</title>ok')
    def log_message(self, *args):
        pass
print('recorder listening', flush=True)
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_starts_the_configured_browser() {
    let Some(driver) = driver() else { return };
    let port = free_port();
    let tiltfile = format!(
        r#"
local_resource(
    'site',
    serve_cmd='python3 -u recorder.py {port}',
    readiness_probe=probe(tcp_socket=tcp_socket_action({port}, host='127.0.0.1'), period_secs=1),
    links=[link('http://127.0.0.1:{port}/landing?from=lilt', 'site')],
)
browser_button(
    'inspect',
    url='link:site',
    resource='site',
    text='Open the site',
    browser='{browser}',
    args=['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
          '--disable-background-networking', '--disable-component-update', '--disable-sync',
          '--user-agent=lilt-browser-button-test'],
    prefs={{'lilt_test': {{'marker': 'from-the-tiltfile'}}}},
)
"#,
        browser = chromium().display()
    );
    let dir = project(&[("Tiltfile", &tiltfile), ("recorder.py", SERVER)]);
    let lilt = Lilt::start(dir.path());
    let profile_dir = dir.path().join(".lilt/browser/inspect");
    let needle = format!("--user-data-dir={}", profile_dir.display());
    // Whatever happens below, the launched browser does not outlive the test.
    let _reaper = Reaper(needle.clone());

    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;
    client
        .goto(&lilt.url)
        .await
        .expect("open dashboard with token");
    wait_for(&client, "html[data-complete-rendered-ms]").await;
    client
        .goto(&lilt.plain("/r/site/overview"))
        .await
        .expect("resource view");
    let button = "#resource-buttons [data-button=\"inspect\"]";
    wait_for(&client, button).await;
    // Disabled with a reason until the site is ready, then enabled.
    wait_js(
        &client,
        "the button enabled once the site is ready",
        &format!("const b = document.querySelector('{button}'); return !!b && !b.disabled;"),
    )
    .await;
    client
        .find(Locator::Css(button))
        .await
        .expect("button")
        .click()
        .await
        .expect("click the browser button");
    // A button without inputs or confirmation runs at once; accept a dialog if one shows.
    if let Ok(ok) = client
        .find(Locator::Css("#button-dialog[open] #button-dialog-ok"))
        .await
    {
        ok.click().await.expect("confirm");
    }

    let requests = dir.path().join("requests.txt");
    wait_until("the launched browser to reach the site", || {
        std::fs::read_to_string(&requests)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                l.starts_with("/landing?from=lilt ") && l.ends_with(" lilt-browser-button-test")
            })
    })
    .await;
    assert!(
        !pids_with_arg(&needle).is_empty(),
        "a browser runs with the button's profile"
    );
    let prefs = profile_dir.join("Default/Preferences");
    wait_until("the pref in Default/Preferences", || {
        std::fs::read_to_string(&prefs)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["lilt_test"]["marker"] == "from-the-tiltfile")
    })
    .await;

    // The launch is in the resource's log, on the dashboard.
    wait_js(
        &client,
        "the launch in the site's log",
        "const t = document.getElementById('log')?.textContent || '';
         return t.includes('button inspect: opened http://127.0.0.1:') && t.includes('/landing?from=lilt');",
    )
    .await;

    client.close().await.expect("close browser");
    drop(lilt);
}

/// Kills the button's browser (found by its profile flag in /proc) on drop.
struct Reaper(String);

impl Drop for Reaper {
    fn drop(&mut self) {
        kill_with_arg(&self.0);
    }
}
