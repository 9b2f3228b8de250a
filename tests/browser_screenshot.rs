//! The dashboard of the repository's `Tiltfile.example` (its Docker Compose mode, on the
//! tests' dockerd), screenshotted by headless Chromium: every resource of the example is in
//! the table and the page renders to a PNG; `lilt down` removes its containers after. With
//! `LILT_WRITE_SCREENSHOT=1` the picture replaces `docs/dashboard.png`. Skipped (with a
//! message) only when chromedriver is not installed and `CI` is unset (under CI it fails).

mod browser_support;

use std::path::Path;

use browser_support::{Lilt, browser, driver, free_port, wait_for, wait_js};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_dashboard_renders() {
    let Some(driver) = driver() else { return };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("project");
    std::fs::copy(repo.join("Tiltfile.example"), dir.path().join("Tiltfile")).expect("Tiltfile");
    copy_dir(&repo.join("example"), &dir.path().join("example"));
    // The example in its Docker Compose mode on the tests' daemon (no kubeconfig), on free
    // ports and a project name of its own, so the screenshot shows it running.
    let svc = lilt_testsvc::services();
    let tagged = svc
        .docker()
        .args(["tag", &svc.base_image, "lilt-example/busybox:latest"])
        .status()
        .expect("docker tag");
    assert!(tagged.success(), "tag the example's base image");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    let args: Vec<String> = [
        "--",
        "--api-port",
        &free_port().to_string(),
        "--frontend-port",
        &free_port().to_string(),
        "--project",
        &format!("shot{}x{nanos}", std::process::id()),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let env = vec![
        ("DOCKER_HOST".to_owned(), svc.docker_host.clone()),
        (
            "KUBECONFIG".to_owned(),
            dir.path().join("no-kubeconfig").display().to_string(),
        ),
    ];
    // `lilt down` removes the example's containers however the test ends (after `lilt up`
    // is stopped: locals drop in reverse order).
    let _down = Down {
        dir: dir.path().to_owned(),
        args: args.clone(),
        env: env.clone(),
    };
    let lilt = Lilt::start_with(dir.path(), &args, &env);
    let profile = tempfile::tempdir().expect("profile");
    let client = browser(&driver, profile.path()).await;
    client
        .set_window_size(1400, 860)
        .await
        .expect("window size");
    client.goto(&lilt.url).await.expect("open dashboard");
    wait_for(&client, "html[data-complete-rendered-ms]").await;
    wait_js(
        &client,
        "every resource of Tiltfile.example",
        "const names = new Set([...document.querySelectorAll('tr.res-row')].map(r => r.dataset.resource));
         return ['codegen', 'api', 'worker', 'frontend', 'tests'].every(n => names.has(n));",
    )
    .await;
    // A realistic moment: the servers have come up (or given up), nothing is mid-build.
    wait_js(
        &client,
        "the example to settle",
        "const rows = [...document.querySelectorAll('tr.res-row td.status-cell')];
         return rows.length > 0 && rows.every(c => !['building', 'pending'].includes(c.dataset.status));",
    )
    .await;
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 10_000,
        "a picture with content ({} bytes)",
        png.len()
    );
    if std::env::var_os("LILT_WRITE_SCREENSHOT").is_some_and(|v| v == "1") {
        std::fs::write(repo.join("docs/dashboard.png"), &png).expect("write docs/dashboard.png");
    }
    client.close().await.expect("close browser");
}

/// Runs `lilt down` for the example when dropped.
struct Down {
    dir: std::path::PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Drop for Down {
    fn drop(&mut self) {
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_lilt"))
            .current_dir(&self.dir)
            .arg("down")
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output();
    }
}
