//! Dashboard figures at scale for docs/performance.md, through the real `lilt up` and
//! headless Chromium: 999 resources running `true` and one printing 1,000,000 lines
//! (`seq 1000000`). Prints the first render (navigation start → table, and → the big
//! resource's log view, read from `html[data-complete-rendered-at]`), the lilt process's
//! VmRSS with those logs retained, and the retained line count and search time.
//!
//! Run with `cargo bench -p lilt --bench dashboard_scale` (needs chromium and chromedriver).

#[path = "../tests/browser_support/mod.rs"]
mod browser_support;
mod common;

use common::vm_rss_kb;

use std::time::{Duration, Instant};

use browser_support::{Lilt, browser, driver, js, project};

const TILTFILE: &str = r#"
for i in range(999):
    local_resource('svc-' + str(1000 + i), cmd='true', labels=['group-' + str(i % 20)])
local_resource('big', cmd='seq 1000000', labels=['logs'])
"#;

async fn first_render(client: &fantoccini::Client, url: &str, ready: &str) -> f64 {
    client.goto(url).await.expect("navigate");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = js(
            client,
            &format!(
                "const at = document.documentElement.dataset.completeRenderedAt; return at && ({ready}) ? Number(at) : null;"
            ),
        )
        .await;
        if let Some(ms) = v.as_f64() {
            return ms;
        }
        assert!(Instant::now() < deadline, "{url} did not render");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Some(driver) = driver() else { return };
    let dir = project(&[("Tiltfile", TILTFILE)]);
    let started = Instant::now();
    let lilt = Lilt::start(dir.path());
    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;
    client.set_window_size(1400, 900).await.expect("window");
    client.goto(&lilt.url).await.expect("open with token");
    // Wait for every update to finish, the big one included.
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let done = js(
            &client,
            "return fetch('api/view?logs=false').then(r => r.json()).then(v =>
               v.uiResources.length === 1001 &&
               v.uiResources.every(r => ['ok', 'not_applicable'].includes(r.status.updateStatus)));",
        )
        .await;
        if done == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resources did not all finish"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "all 1,000 resources updated and 1,000,000 lines printed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let retained = js(
        &client,
        "return fetch('api/logs/search?resource=big&limit=1&q=' + encodeURIComponent('/^[0-9]+$/')).then(r => r.json()).then(r => r.total);",
    )
    .await;
    let search_ms = t0.elapsed().as_secs_f64() * 1e3;
    let rss = vm_rss_kb(lilt.pid());

    let mut table = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..5 {
        table.push(
            first_render(
                &client,
                &lilt.plain("/"),
                "document.querySelectorAll('tr.res-row').length > 0",
            )
            .await,
        );
        logs.push(
            first_render(
                &client,
                &lilt.plain("/r/big/overview"),
                "document.querySelector('#log .ll') !== null",
            )
            .await,
        );
    }
    let lines = js(&client, "return document.documentElement.dataset.lines;").await;
    println!(
        "first render, navigation start -> on screen (median of 5): table {:.0} ms (runs {:?}), big's log view {:.0} ms (runs {:?}); lines in the page {lines}",
        median(table.clone()),
        table.iter().map(|v| v.round()).collect::<Vec<_>>(),
        median(logs.clone()),
        logs.iter().map(|v| v.round()).collect::<Vec<_>>(),
    );
    println!(
        "lilt VmRSS with the logs retained: {:.0} MB; big's retained lines (default budget 8 MiB per resource): {retained}; search over them {search_ms:.0} ms",
        rss as f64 / 1024.0
    );
    client.close().await.expect("close");
}
