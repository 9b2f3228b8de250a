//! Shared harness of the browser tests: Debian's `chromedriver` on a free port, headless
//! Chromium sessions with fresh profiles, and the real `lilt up --stream` on a fixture
//! project. Every process started here is stopped when its guard drops.
#![allow(
    dead_code,
    reason = "each test binary (and the scale bench) uses a different subset"
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// How long any wait in these tests may take before it is a failure.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Chromium flags for a quiet headless browser on a machine without outside network.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

pub fn chromium() -> PathBuf {
    ["chromium", "chromium-browser"]
        .iter()
        .find_map(|n| on_path(n))
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// A port nobody listens on right now (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Stops a process group: SIGTERM, up to `grace`, then SIGKILL.
fn stop_group(child: &mut Child, grace: Duration) {
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The leader is gone; make sure nothing it left in its group lingers.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = child.wait();
}

/// The tool's path; when it is missing, `None` (the test is skipped, with a message) outside
/// CI, and a failure under CI.
pub fn required_tool(name: &str, found: Option<PathBuf>, ci: bool) -> Option<PathBuf> {
    if found.is_none() {
        let install = "apt-get install -y chromium chromium-driver";
        assert!(!ci, "CI is set but {name} is not installed ({install})");
        eprintln!("skipping: {name} is not installed ({install})");
    }
    found
}

/// `chromedriver --port=<free>`, stopped on drop.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        stop_group(&mut self.child, Duration::from_secs(5));
    }
}

/// Starts chromedriver, or returns `None` after printing why the test is skipped: only
/// when chromedriver is not installed and `CI` is not set. Under CI a missing browser is a
/// failure, so a broken install step cannot hide behind skipped tests.
pub fn driver() -> Option<Driver> {
    let path = required_tool(
        "chromedriver",
        on_path("chromedriver"),
        std::env::var_os("CI").is_some(),
    )?;
    let port = free_port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(driver)
}

/// A headless Chromium session with its own fresh profile in `profile`.
pub async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("--window-size=1400,900".to_owned());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({ "binary": chromium(), "args": args }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session through chromedriver")
}

/// Waits for a CSS selector to match.
pub async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

/// Runs `script` (a function body) in the page.
pub async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Polls `script` until it returns `true`.
pub async fn wait_js(client: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if js(client, script).await == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a condition outside the browser.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The texts of the rendered log lines.
pub async fn log_lines(client: &Client) -> Vec<String> {
    let v = js(
        client,
        "return [...document.querySelectorAll('#log .ll')].map(e => { const c = e.cloneNode(true); c.querySelector('.src')?.remove(); return c.textContent; });",
    )
    .await;
    serde_json::from_value(v).unwrap_or_default()
}

/// A project directory with the given files.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, text) in files {
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write fixture");
    }
    dir
}

/// The real `lilt up --stream` on a project, stopped on drop.
pub struct Lilt {
    child: Child,
    /// The dashboard URL with the token, as printed.
    pub url: String,
    pub port: u16,
    /// Everything printed so far (the log stream).
    pub output: Arc<Mutex<String>>,
    _state: tempfile::TempDir,
}

impl Lilt {
    pub fn start(project: &Path) -> Lilt {
        Lilt::start_with(project, &[], &[])
    }

    /// `lilt up` with Tiltfile `args` (after `--`) and extra environment variables.
    pub fn start_with(project: &Path, args: &[String], env: &[(String, String)]) -> Lilt {
        let state = tempfile::tempdir().expect("state dir");
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lilt"))
            .current_dir(project)
            .args(["up", "--stream", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(args)
            .env_remove("TILT_PORT")
            .env_remove("TILT_HOST")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("LILT_STATE_DIR", state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("start lilt up");
        let stdout = child.stdout.take().expect("piped stdout");
        let output = Arc::new(Mutex::new(String::new()));
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut first = Some(first_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = first.take() {
                    let _ = tx.send(line.clone());
                }
                let mut out = sink.lock().unwrap_or_else(|e| e.into_inner());
                out.push_str(&line);
                out.push('\n');
            }
        });
        let mut lilt = Lilt {
            child,
            url: String::new(),
            port,
            output,
            _state: state,
        };
        let first = first_rx
            .recv_timeout(PATIENCE)
            .expect("lilt up printed its first line");
        lilt.url = first
            .strip_prefix("lilt: dashboard at ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .trim()
            .to_owned();
        assert!(lilt.url.contains("?token="), "{}", lilt.url);
        lilt
    }

    /// `http://127.0.0.1:PORT` + `path`, without the token.
    pub fn plain(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Lilt {
    fn drop(&mut self) {
        stop_group(&mut self.child, Duration::from_secs(15));
    }
}

/// Processes whose command line has `needle` (from /proc), for processes started by others
/// on our behalf, such as the browser a button launches.
pub fn pids_with_arg(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| raw.split(|b| *b == 0).any(|arg| arg == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Kills the processes (and their groups) that carry `needle` in their arguments.
pub fn kill_with_arg(needle: &str) {
    for pid in pids_with_arg(needle) {
        let pid = Pid::from_raw(pid);
        // A leader of its own group (as lilt starts browsers) takes its helpers with it.
        let leads = nix::unistd::getpgid(Some(pid)).is_ok_and(|pgid| pgid == pid);
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        if leads {
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }
}
