//! Shared by the `client_*` tests: a real `lilt up --stream` on a loopback port with its
//! own state directory, a small project of local resources, and helpers to run client
//! commands against it and poll its API. Waits poll with generous deadlines; nothing asserts
//! on how long something took.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any wait may last before the test fails (a failure bound, not a measurement).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A project with a serve_cmd, a cmd, a manual resource, labels, and a Tiltfile that
/// records its `config.parse()` args in `args.log`.
pub const TILTFILE: &str = r#"
config.define_string_list("to-run", args=True)
config.define_string("mode")
cfg = config.parse()
local("echo 'args: %s mode: %s' >> args.log" % (",".join(cfg.get("to-run", [])), cfg.get("mode", "")))
local_resource(
    "server",
    serve_cmd="echo serving; while true; do if [ -f poke ]; then cat poke; rm -f poke; fi; sleep 0.1; done",
    labels=["backend"],
    links=["http://localhost:4321"],
)
local_resource("builder", cmd="echo built >> build.log", labels=["backend"])
local_resource(
    "manual",
    cmd="echo manual-ran >> manual.log",
    trigger_mode=TRIGGER_MODE_MANUAL,
    auto_init=False,
    labels=["tools"],
)
"#;

/// A running `lilt up` and its project.
pub struct Lilt {
    pub dir: tempfile::TempDir,
    pub state: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

/// A free loopback port (the race with another process taking it is accepted).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

impl Lilt {
    /// Starts `lilt up` on [`TILTFILE`] and waits until the API answers and the Tiltfile
    /// has loaded.
    pub fn start() -> Lilt {
        Lilt::start_with(TILTFILE, &[])
    }

    /// Like [`Lilt::start`] with another Tiltfile and extra files (path, content, executable).
    pub fn start_with(tiltfile: &str, files: &[(&str, &str, bool)]) -> Lilt {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = tempfile::tempdir().expect("state dir");
        std::fs::write(dir.path().join("Tiltfile"), tiltfile).expect("write Tiltfile");
        for (path, content, executable) in files {
            let path = dir.path().join(path);
            std::fs::write(&path, content).expect("write file");
            if *executable {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            }
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("up.log")).expect("up.log");
        let child = Command::new(env!("CARGO_BIN_EXE_lilt"))
            .current_dir(dir.path())
            .env_remove("TILT_PORT")
            .env_remove("TILT_HOST")
            .env("LILT_STATE_DIR", state.path())
            .args(["up", "--stream", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("start lilt up");
        let lilt = Lilt {
            dir,
            state,
            port,
            child,
        };
        lilt.wait_for("the Tiltfile to load", || {
            let view = lilt.try_view()?;
            let tiltfile = view["uiResources"]
                .as_array()?
                .iter()
                .find(|r| r["metadata"]["name"] == "(Tiltfile)")?
                .clone();
            (tiltfile["status"]["updateStatus"] == "ok").then_some(())
        });
        lilt
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// A client command (`lilt SUBCOMMAND --port P --host 127.0.0.1 ARGS...`), ready to
    /// run; the flags come first so that args after `--` stay the command's own.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = client_command(self.state.path());
        cmd.current_dir(self.dir.path())
            .args(&args[..1])
            .args(["--port", &self.port.to_string(), "--host", "127.0.0.1"])
            .args(&args[1..]);
        cmd
    }

    /// Runs a client command; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        output(self.command(args))
    }

    /// Runs a client command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code, 0,
            "lilt {args:?} failed:\nstdout: {out}\nstderr: {err}"
        );
        out
    }

    /// The complete View without logs, or `None` while the API does not answer.
    pub fn try_view(&self) -> Option<Value> {
        let token =
            std::fs::read_to_string(self.state.path().join(format!("token-{}", self.port))).ok()?;
        api_get(self.port, token.trim(), "/api/view?logs=false")
    }

    /// `POST path` with the session token and a JSON body; the status code, or `None` while
    /// the API does not answer.
    pub fn post(&self, path: &str, body: &str) -> Option<u16> {
        let token =
            std::fs::read_to_string(self.state.path().join(format!("token-{}", self.port))).ok()?;
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Tilt-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            token.trim(),
            body.len()
        )
        .ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).ok()?;
        let text = String::from_utf8_lossy(&raw);
        text.split_whitespace().nth(1)?.parse().ok()
    }

    /// A resource as the API shows it now.
    pub fn resource(&self, name: &str) -> Value {
        let view = self.try_view().expect("the API answers");
        view["uiResources"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["metadata"]["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no resource {name} in {view}"))
    }

    /// Polls `check` until it gives a value; fails the test after [`DEADLINE`].
    pub fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = check() {
                return v;
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "gave up waiting for {what}; lilt up printed:\n{}",
                    self.read("up.log")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lilt {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lilt` with a state directory and no ambient TILT_* or editor settings.
pub fn client_command(state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lilt"));
    cmd.env_remove("TILT_PORT")
        .env_remove("TILT_HOST")
        .env_remove("TILT_EDITOR")
        .env_remove("EDITOR")
        .env("LILT_STATE_DIR", state)
        .stdin(Stdio::null());
    cmd
}

pub fn output(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().expect("run lilt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A blocking GET on loopback with the token; `None` unless a 200 with JSON comes back.
pub fn api_get(port: u16, token: &str, path: &str) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Tilt-Token: {token}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    serde_json::from_str(body).ok()
}

/// Lines of a child's stdout, read on a thread so a test can wait for one with a deadline.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    pub fn new(stdout: ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line for which `pred` holds; fails the test after [`DEADLINE`].
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {what}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }
}

/// Ends a child started by a test (a client left following a stream).
pub fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether a process with this pid exists.
pub fn process_exists(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}
