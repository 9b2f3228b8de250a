//! End-to-end tests of `lilt up` and `lilt ci`: the real binary on small projects, with
//! real processes and real file watching. Waits poll with generous deadlines; nothing
//! asserts on how long something took.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn lilt() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lilt"));
    cmd.env_remove("TILT_PORT").env_remove("TILT_HOST");
    cmd
}

/// A project in a temp dir.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(tiltfile: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Tiltfile"), tiltfile).expect("write Tiltfile");
        Project { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// `lilt ci` here; returns (exit code, stdout, stderr).
    fn ci(&self, extra: &[&str]) -> (i32, String, String) {
        let out = lilt()
            .current_dir(self.dir.path())
            .args(["ci", "--port", "0", "--timeout", "60s"])
            .args(extra)
            .output()
            .expect("run lilt ci");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `lilt up --stream` in the background, its output going to a file outside the project
    /// (so it never looks like a change to a watched path) that tests can read while it runs.
    fn up(&self) -> Running {
        let out_dir = tempfile::tempdir().expect("tempdir");
        let out_path = out_dir.path().join("stdout.log");
        let out_file = std::fs::File::create(&out_path).expect("output file");
        let child = lilt()
            .current_dir(self.dir.path())
            .args(["up", "--stream", "--port", "0"])
            .stdout(out_file)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lilt up");
        Running {
            child,
            out_path,
            _out_dir: out_dir,
        }
    }
}

struct Running {
    child: Child,
    out_path: PathBuf,
    _out_dir: tempfile::TempDir,
}

impl Running {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    /// SIGTERM, then wait for the exit; returns the stdout.
    fn stop(mut self) -> (Option<i32>, String) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        );
        let status = self.child.wait().ok();
        (status.and_then(|s| s.code()), self.output())
    }

    /// What `lilt up` has printed on stdout so far.
    fn output(&self) -> String {
        std::fs::read_to_string(&self.out_path).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds or the deadline passes.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.is_empty()).collect()
}

fn process_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

#[test]
fn ci_runs_dependencies_first_and_succeeds() {
    let p = Project::new(
        "local_resource('c', cmd='echo c >> order.txt', resource_deps=['b'])\n\
         local_resource('b', cmd='echo b >> order.txt', resource_deps=['a'])\n\
         local_resource('a', cmd='echo a >> order.txt')\n",
    );
    let (code, out, err) = p.ci(&[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("SUCCESS. All workloads are healthy."), "{out}");
    assert_eq!(lines(&p.read("order.txt")), ["a", "b", "c"]);
}

#[test]
fn ci_fails_when_a_command_fails() {
    let p = Project::new("local_resource('bad', cmd='echo oops; exit 3')\n");
    let (code, out, err) = p.ci(&[]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("oops"),
        "the command's output is streamed: {out}"
    );
    assert!(err.contains("exit status 3"), "{err}");
}

#[test]
fn ci_fails_when_a_server_exits() {
    // The probe never passes, so the only possible verdict is the server's exit (without a
    // probe a server is ready as soon as it starts, and ci could succeed first, as in Tilt).
    let p = Project::new(
        "local_resource('srv', serve_cmd='echo starting; sleep 1; exit 0',\n\
         readiness_probe=probe(exec=exec_action(['test', '-e', 'never']), period_secs=1))\n",
    );
    let (code, _out, err) = p.ci(&[]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn ci_fails_on_a_tiltfile_error() {
    let p = Project::new("local_resource('x', cmd='true')\nfail('broken on purpose')\n");
    let (code, out, err) = p.ci(&[]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(format!("{out}{err}").contains("broken on purpose"));
}

#[test]
fn ci_waits_for_readiness_probes() {
    let p = Project::new(
        "local_resource('web', serve_cmd='sleep 1; python3 -m http.server 0 --bind 127.0.0.1 >/dev/null 2>&1 & echo $! > pid; sleep 1000',\n\
         readiness_probe=probe(exec=exec_action(['test', '-s', 'pid']), period_secs=1))\n\
         local_resource('after', cmd='echo done > after.txt', resource_deps=['web'])\n",
    );
    let (code, out, err) = p.ci(&[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(p.read("after.txt").trim(), "done");
}

#[test]
fn ci_ignores_resources_that_never_start_and_manual_modes() {
    let p = Project::new(
        "local_resource('auto', cmd='echo auto > auto.txt')\n\
         local_resource('later', cmd='echo later > later.txt', auto_init=False)\n\
         local_resource('manual', cmd='echo manual > manual.txt', trigger_mode=TRIGGER_MODE_MANUAL)\n",
    );
    let (code, out, err) = p.ci(&[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(p.read("auto.txt").trim(), "auto");
    assert_eq!(
        p.read("manual.txt").trim(),
        "manual",
        "manual with auto_init runs once"
    );
    assert!(
        !p.path("later.txt").exists(),
        "auto_init=False never runs in ci"
    );
}

#[test]
fn ci_selects_resources_by_argument() {
    let p = Project::new(
        "local_resource('a', cmd='echo a >> ran.txt')\n\
         local_resource('b', cmd='echo b >> ran.txt', resource_deps=['a'])\n\
         local_resource('c', cmd='echo c >> ran.txt')\n",
    );
    let (code, out, err) = p.ci(&["b"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        lines(&p.read("ran.txt")),
        ["a", "b"],
        "b and its dependency only"
    );
}

#[test]
fn file_change_reruns_exactly_the_affected_resources() {
    let p = Project::new(
        "local_resource('a', cmd='echo run >> a.log', deps=['src/a'])\n\
         local_resource('b', cmd='echo run >> b.log', deps=['src/b'])\n",
    );
    p.write("src/a/x.txt", "1");
    p.write("src/b/y.txt", "1");
    let up = p.up();
    wait_for("initial runs", || {
        lines(&p.read("a.log")).len() == 1 && lines(&p.read("b.log")).len() == 1
    });
    p.write("src/a/x.txt", "2");
    wait_for("a to re-run", || lines(&p.read("a.log")).len() == 2);
    // Give b every chance to run if it (wrongly) would, then check it did not.
    p.write("src/a/x.txt", "3");
    wait_for("a to re-run again", || lines(&p.read("a.log")).len() == 3);
    assert_eq!(lines(&p.read("b.log")).len(), 1, "b's deps did not change");
    let (code, _) = up.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn serve_cmd_restarts_on_change_and_stops_with_lilt() {
    let p = Project::new(
        "local_resource('srv', serve_cmd='echo $$ >> pids.txt; exec sleep 1000', deps=['conf'])\n",
    );
    p.write("conf/app.conf", "v1");
    let up = p.up();
    wait_for("the server to start", || {
        lines(&p.read("pids.txt")).len() == 1
    });
    let first: i32 = p.read("pids.txt").trim().parse().expect("pid");
    p.write("conf/app.conf", "v2");
    wait_for("the server to restart", || {
        lines(&p.read("pids.txt")).len() == 2
    });
    let pids: Vec<i32> = lines(&p.read("pids.txt"))
        .iter()
        .map(|l| l.parse().expect("pid"))
        .collect();
    wait_for("the old server to be gone", || !process_alive(first));
    assert!(process_alive(pids[1]), "the new server runs");
    let (code, _) = up.stop();
    assert_eq!(code, Some(0));
    wait_for("the server to stop with lilt", || !process_alive(pids[1]));
}

#[test]
fn no_orphans_even_when_lilt_is_killed() {
    let p = Project::new(
        "local_resource('tree', serve_cmd='sleep 1000 & echo $! >> pids.txt; sleep 1000 & echo $! >> pids.txt; wait')\n",
    );
    let mut up = p.up();
    wait_for("the process tree", || lines(&p.read("pids.txt")).len() == 2);
    let pids: Vec<i32> = lines(&p.read("pids.txt"))
        .iter()
        .map(|l| l.parse().expect("pid"))
        .collect();
    assert!(pids.iter().all(|pid| process_alive(*pid)));
    let _ = up.child.kill(); // SIGKILL: lilt gets no chance to clean up itself.
    let _ = up.child.wait();
    wait_for("the watchdog to end the tree", || {
        pids.iter().all(|pid| !process_alive(*pid))
    });
}

#[test]
fn a_broken_reload_keeps_the_last_good_resources_running() {
    let good = "local_resource('srv', serve_cmd='echo $$ >> pids.txt; exec sleep 1000')\n";
    let p = Project::new(good);
    let up = p.up();
    wait_for("the server", || lines(&p.read("pids.txt")).len() == 1);
    let pid: i32 = p.read("pids.txt").trim().parse().expect("pid");
    p.write("Tiltfile", &format!("{good}this is not starlark\n"));
    // The error is shown once, pointing at the broken line, while the server keeps running.
    wait_for("the Tiltfile error", || up.output().contains("Tiltfile:2:"));
    assert!(process_alive(pid), "the server survives a broken Tiltfile");
    p.write(
        "Tiltfile",
        &format!("{good}local_resource('new', cmd='echo new > new.txt')\n"),
    );
    wait_for("the new resource", || p.read("new.txt").trim() == "new");
    assert!(
        process_alive(pid),
        "an unchanged resource is left alone by a reload"
    );
    assert_eq!(lines(&p.read("pids.txt")).len(), 1);
    let (_, out) = up.stop();
    assert!(
        out.contains("Tiltfile:2:6: Parse error"),
        "the error names the file, line and column: {out}"
    );
}

#[test]
fn tilt_port_and_host_reach_commands() {
    let p = Project::new("local_resource('env', cmd='echo $TILT_PORT $TILT_HOST > env.txt')\n");
    let out = lilt()
        .current_dir(p.dir.path())
        .args(["ci", "--port", "0", "--host", "127.0.0.1"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(p.read("env.txt").trim(), "0 127.0.0.1");
}

#[test]
fn why_explains_triggers_and_exclusions() {
    let p = Project::new(
        "local_resource('a', cmd='true', deps=['src'], ignore=['src/gen'])\n\
         local_resource('b', cmd='true', deps=['docs'])\n",
    );
    p.write("src/gen/out.txt", "");
    let out = lilt()
        .current_dir(p.dir.path())
        .args(["why", "src/main.rs"])
        .output()
        .expect("run why");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.contains("triggers:"), "{text}");
    let triggers = text.split("does not trigger:").next().unwrap_or_default();
    assert!(triggers.contains("  a "), "{text}");
    assert!(!triggers.contains("  b "), "{text}");
    let out = lilt()
        .current_dir(p.dir.path())
        .args(["why", "src/gen/out.txt"])
        .output()
        .expect("run why");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("triggers nothing."), "{text}");
    assert!(
        text.contains("src/gen"),
        "the exclusion names the pattern: {text}"
    );
}

#[test]
fn why_says_what_a_live_update_does_with_a_path() {
    let p = Project::new(
        "docker_build('shop/api', '.', ignore=['tmp'], live_update=[\n\
           fall_back_on(['package.json']),\n\
           sync('src', '/app/src'),\n\
           run('make', trigger=['src/build.mk']),\n\
           run('echo synced'),\n\
         ])\n\
         k8s_yaml('deploy.yaml')\n",
    );
    p.write("Dockerfile", "FROM scratch\nCOPY . /app\n");
    p.write(
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  \
         selector: {matchLabels: {app: api}}\n  template:\n    \
         metadata: {labels: {app: api}}\n    spec:\n      \
         containers: [{name: app, image: shop/api}]\n",
    );
    p.write("src/main.go", "package main\n");
    p.write("package.json", "{}\n");
    let why = |path: &str| {
        let out = lilt()
            .current_dir(p.dir.path())
            .args(["why", path])
            .output()
            .expect("run why");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let live = text
            .split("live update:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no live update section: {text}"))
            .to_owned();
        assert!(live.contains("  api "), "{text}");
        live
    };
    // Under a sync: copied to the container path, with the run steps it triggers (a step
    // without trigger= runs on every update).
    let live = why("src/main.go");
    assert!(
        live.contains(
            "image shop/api: live-updated to /app/src/main.go, then runs: sh -c echo synced"
        ),
        "{live}"
    );
    let live = why("src/build.mk");
    assert!(
        live.contains(
            "live-updated to /app/src/build.mk, then runs: sh -c make; sh -c echo synced"
        ),
        "{live}"
    );
    // fall_back_on wins over everything else.
    let live = why("package.json");
    assert!(
        live.contains("full rebuild because it matches fall_back_on(")
            && live.contains("package.json)"),
        "{live}"
    );
    // An input of the image that no sync covers.
    let live = why("README.md");
    assert!(
        live.contains("full rebuild because it is under no live_update sync() path"),
        "{live}"
    );
    // Not an input of the image at all: the rule that drops it.
    let live = why("tmp/scratch.txt");
    assert!(
        live.contains("image shop/api: ignored: ") && live.contains("pattern \"tmp\""),
        "{live}"
    );
}

#[test]
fn down_succeeds_for_local_resources() {
    let p = Project::new(
        "local_resource('a', cmd='true')\nprint('evaluated as', config.tilt_subcommand)\n",
    );
    let out = lilt()
        .current_dir(p.dir.path())
        .args(["down"])
        .output()
        .expect("run down");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("evaluated as down"));
}

/// `--debug` records the engine's events, effects and their timings in `.lilt/debug.log`;
/// without it (and without LILT_LOG) nothing is written.
#[test]
fn debug_flag_writes_the_engine_trace_to_a_file() {
    let p = Project::new("local_resource('hello', cmd='echo hi')\n");
    let (code, _, stderr) = p.ci(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!p.path(".lilt/debug.log").exists());

    let (code, _, stderr) = p.ci(&["--debug"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("debug log at"), "{stderr}");
    let log = p.read(".lilt/debug.log");
    for expected in [
        "tiltfile evaluated",
        "dispatch",
        "Update",
        "reduce",
        "UpdateFinished",
        "elapsed_us=",
    ] {
        assert!(log.contains(expected), "{expected:?} missing from:\n{log}");
    }
}

/// Issue 9: with `--stream`, the error of a broken Tiltfile was printed twice (once from the
/// evaluation's log, once more when the failure was applied). `lilt ci` streams through the
/// same printer and runs to its verdict, so every line it would print is there.
#[test]
fn errors_of_a_broken_tiltfile_print_once_with_stream() {
    let p = Project::new("local_resource('x', cmd='true')\nfail('broken on purpose')\n");
    let (code, out, err) = p.ci(&[]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let printed = out
        .lines()
        .filter(|l| l.contains("Error in fail: broken on purpose"))
        .count();
    assert_eq!(printed, 1, "the error is printed once:\n{out}");
}

/// Issue 9: a command started by `local()` while the Tiltfile loads outlived a SIGKILLed
/// `lilt alpha tiltfile-result` (re-parented to PID 1).
#[test]
fn local_during_evaluation_escapes_the_watchdog() {
    let p = Project::new("local('sleep 1000 & echo $! > pid; wait')\n");
    let mut child = lilt()
        .current_dir(p.dir.path())
        .args(["alpha", "tiltfile-result"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lilt alpha tiltfile-result");
    wait_for("the local() command", || !p.read("pid").trim().is_empty());
    let pid: i32 = p.read("pid").trim().parse().expect("pid");
    assert!(process_alive(pid));
    let _ = child.kill(); // SIGKILL: lilt gets no chance to clean up itself.
    let _ = child.wait();
    wait_for("the watchdog to end the local() command", || {
        !process_alive(pid)
    });
}

/// Issue 9: `read_file` of a named pipe nothing writes to hung `lilt alpha tiltfile-result`
/// without a word. Now the read is reported, and SIGINT cancels the evaluation, which fails
/// with the usual Tiltfile-error exit code and says why (before, SIGINT killed lilt with no
/// report).
#[test]
fn a_fifo_nobody_writes_blocks_tiltfile_result() {
    let p = Project::new("x = read_file('pipe')\n");
    let status = Command::new("mkfifo")
        .arg(p.dir.path().join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let mut child = lilt()
        .current_dir(p.dir.path())
        .args(["alpha", "tiltfile-result"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lilt alpha tiltfile-result");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("a line on stderr");
    assert!(
        first.contains("pipe is still being read after 5s"),
        "{first}"
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr to its end");
    assert!(rest.contains("cancelled"), "{rest}");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(5), "{rest}");
}

/// The same for `lilt up`: its load-time `local()` belongs to its registry.
#[test]
fn local_during_evaluation_escapes_the_watchdog_of_lilt_up() {
    let p = Project::new("local('sleep 1000 & echo $! > pid; wait')\n");
    let mut up = p.up();
    wait_for("the local() command", || !p.read("pid").trim().is_empty());
    let pid: i32 = p.read("pid").trim().parse().expect("pid");
    assert!(process_alive(pid));
    let _ = up.child.kill();
    let _ = up.child.wait();
    wait_for("the watchdog to end the local() command", || {
        !process_alive(pid)
    });
}

/// Issue 9: a `local()` that never ends hung `lilt up`'s Tiltfile load without a word, and
/// stopping lilt left the command running.
#[test]
fn local_that_never_ends_hangs_evaluation_silently() {
    let p = Project::new("local('echo $$ > pid; exec sleep 1000')\n");
    let up = p.up();
    wait_for("the local() command", || !p.read("pid").trim().is_empty());
    let pid: i32 = p.read("pid").trim().parse().expect("pid");
    wait_for("the slow-command notice", || {
        up.output()
            .contains("local: echo $$ > pid; exec sleep 1000 is still running after 5s")
    });
    let (code, _) = up.stop();
    assert!(code.is_some(), "lilt exits on SIGTERM");
    wait_for("the command to end with lilt", || !process_alive(pid));
}

/// Issue 9: a reload into a Tiltfile nested 10,000 deep overflowed the stack and took
/// `lilt up` down; now it is a Tiltfile error and the last good resources keep running.
#[test]
fn deep_nesting_aborts_the_process() {
    let good = "local_resource('srv', serve_cmd='echo $$ >> pids.txt; exec sleep 1000')\n";
    let p = Project::new(good);
    let up = p.up();
    wait_for("the server", || lines(&p.read("pids.txt")).len() == 1);
    let pid: i32 = p.read("pids.txt").trim().parse().expect("pid");
    let deep = 10_000;
    p.write(
        "Tiltfile",
        &format!("{good}x = {}1{}\n", "[".repeat(deep), "]".repeat(deep)),
    );
    wait_for("the Tiltfile error", || {
        up.output().contains("Tiltfile:2:") && up.output().contains("nesting too deep")
    });
    assert!(process_alive(pid), "the server survives the bad Tiltfile");
    let (code, _) = up.stop();
    assert!(
        code.is_some(),
        "lilt was still running and exits on SIGTERM"
    );
}

/// Regression: a Kubernetes resource waited on a cluster forever, so `lilt ci` ran into its
/// timeout with an empty reason; now its update runs and says why it cannot deploy (here:
/// no cluster), and `lilt ci` fails with that message.
#[test]
fn ci_fails_a_resource_it_cannot_deploy() {
    let p = Project::new(
        "k8s_yaml(blob('apiVersion: v1\\nkind: Pod\\nmetadata:\\n  name: web\\nspec:\\n  containers:\\n  - name: c\\n    image: busybox\\n'))\n",
    );
    let out = lilt()
        .current_dir(p.dir.path())
        .env("KUBECONFIG", p.dir.path().join("no-kubeconfig"))
        .args(["ci", "--port", "0", "--timeout", "60s"])
        .output()
        .expect("run lilt ci");
    let (code, out, err) = (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("cannot reach the cluster"),
        "stdout:\n{out}\nstderr:\n{err}"
    );
}
