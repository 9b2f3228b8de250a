//! `local()`: runs a command at load time and returns its stdout as a blob.

#![expect(
    clippy::too_many_arguments,
    reason = "builtins take Tilt's keyword parameters one by one"
)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::bail;
use lilt_local::{BlockingGroup, ExitInfo};
use lilt_model::Cmd;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::none::NoneType;

use crate::builtins::args;
use crate::state::TiltState;
use crate::values::Blob;

/// Prefix of command output lines in the `(Tiltfile)` log.
const OUTPUT_PREFIX: &str = " → ";

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    local_builtins(builder);
}

/// The environment a command started by the Tiltfile gets: the Tiltfile's view of the
/// environment, lilt's own variables, then the command's `env=`.
pub(crate) fn command_env(state: &TiltState, cmd: &Cmd) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = state
        .env
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.push(("TILT_PORT".to_owned(), state.opts.web_port.to_string()));
    env.push(("TILT_HOST".to_owned(), state.opts.web_host.clone()));
    env.push(("TILT_DISABLE_ANALYTICS".to_owned(), "1".to_owned()));
    env.extend(cmd.env.iter().cloned());
    env
}

#[starlark_module]
fn local_builtins(builder: &mut GlobalsBuilder) {
    fn local<'v>(
        command: Value<'v>,
        #[starlark(default = false)] quiet: bool,
        #[starlark(default = NoneType)] command_bat: Value<'v>,
        #[starlark(default = false)] echo_off: bool,
        #[starlark(default = NoneType)] env: Value<'v>,
        #[starlark(default = NoneType)] dir: Value<'v>,
        #[starlark(default = NoneType)] stdin: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let _ = command_bat; // Windows only.
        let state = TiltState::get(eval)?;
        if !crate::builtins::k8s::context_allowed(state) {
            let ctx = &state.kube.context;
            bail!(
                "Refusing to run 'local' because {ctx} might be a production kube context.\n\
                 If you're sure you want to continue add:\n\
                 \tallow_k8s_contexts('{ctx}')\n\
                 before this function call in your Tiltfile. Otherwise, switch k8s contexts and restart Tilt."
            );
        }
        let env = args::string_dict(Some(env), "local: env")?;
        let dir = match args::opt_path(Some(dir), "local: dir")? {
            Some(d) => state.abs(&d),
            None => state.cwd(),
        };
        let cmd = args::command(Some(command), dir, env, "local: command")?;
        if cmd.is_empty() {
            bail!("local: command must not be empty");
        }
        let stdin = args::opt_string(Some(stdin), "local: stdin")?;
        let out = run(state, &cmd, stdin, !quiet, !echo_off)?;
        Ok(eval.heap().alloc(Blob { text: out }))
    }
}

/// Runs a generator's command (`helm`, `kustomize`): logs `local: <cmd>`, not its output,
/// which is returned (and shown in the error when the command fails).
pub(crate) fn run_logged_command(state: &TiltState, cmd: &Cmd) -> anyhow::Result<String> {
    run(state, cmd, None, false, true)
}

/// Runs a command without logging anything (tool version probes).
pub(crate) fn run_quiet(state: &TiltState, cmd: &Cmd) -> anyhow::Result<String> {
    run(state, cmd, None, false, false)
}

/// When a command still runs after this long, the log says so, and again every period.
const SLOW_COMMAND_NOTICE: Duration = Duration::from_secs(5);
const SLOW_COMMAND_PERIOD: Duration = Duration::from_secs(30);
/// How often a running command is checked for cancellation and the time limit.
const POLL: Duration = Duration::from_millis(50);

/// What the pipe readers report.
enum Piped {
    Closed(bool, Vec<u8>),
    TooMuch,
    Failed(std::io::Error),
}

/// Runs `cmd` to completion, logging like Tilt, and returns its stdout.
///
/// The command leads its own process group, registered with lilt's process registry, so
/// it ends with lilt even when lilt is SIGKILLed. Its output is capped at
/// [`LoadOptions::max_read_bytes`](crate::LoadOptions::max_read_bytes) (stdout and stderr
/// together); a command that takes long is reported while it runs, and is killed when the
/// evaluation is cancelled or exceeds its time limit.
fn run(
    state: &TiltState,
    cmd: &Cmd,
    stdin: Option<String>,
    log_output: bool,
    log_command: bool,
) -> anyhow::Result<String> {
    let shown = cmd.display();
    if log_command {
        state.print(format!("local: {shown}"));
    }
    let mut child = Command::new(&cmd.argv[0]);
    child
        .args(&cmd.argv[1..])
        .current_dir(&cmd.dir)
        .env_clear()
        .envs(command_env(state, cmd))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut group = match BlockingGroup::spawn(child, state.processes()) {
        Ok(group) => group,
        Err(e) => bail!("command {shown:?} failed.\nerror: {e}"),
    };
    if let (Some(text), Some(mut pipe)) = (stdin, group.child_mut().stdin.take()) {
        // Written from a thread so a command that prints before reading cannot deadlock.
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let limit = state.opts.max_read_bytes;
    let budget = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    let mut open = 0;
    if let Some(out) = group.child_mut().stdout.take() {
        spawn_reader(out, true, limit, &budget, tx.clone());
        open += 1;
    }
    if let Some(err) = group.child_mut().stderr.take() {
        spawn_reader(err, false, limit, &budget, tx.clone());
        open += 1;
    }
    drop(tx);
    let started = Instant::now();
    let deadline = started + state.opts.timeout;
    let mut next_notice = started + SLOW_COMMAND_NOTICE;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut exit = None;
    let mut idle = Duration::from_millis(1);
    loop {
        if open > 0 {
            match rx.recv_timeout(POLL) {
                Ok(Piped::Closed(is_stdout, bytes)) => {
                    open -= 1;
                    if is_stdout {
                        stdout = bytes;
                    } else {
                        stderr = bytes;
                    }
                }
                Ok(Piped::TooMuch) => {
                    group.kill();
                    bail!(
                        "command {shown:?} printed more than lilt's limit of {} and was killed \
                         (set LILT_MAX_READ_BYTES to change the limit)",
                        crate::paths::human_bytes(limit)
                    );
                }
                Ok(Piped::Failed(e)) => {
                    group.kill();
                    bail!("command {shown:?} failed.\nerror: reading its output: {e}");
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => open = 0,
            }
        } else {
            // Output is closed; the leader exits about now.
            match group.try_wait() {
                Ok(Some(status)) => exit = Some(status),
                Ok(None) => {
                    std::thread::sleep(idle);
                    idle = (idle * 2).min(POLL);
                }
                Err(e) => {
                    group.kill();
                    bail!("command {shown:?} failed.\nerror: {e}");
                }
            }
        }
        if open == 0
            && let Some(exit) = exit
        {
            group.release();
            return finish(state, &shown, exit, stdout, stderr, log_output, log_command);
        }
        let now = Instant::now();
        if state.cancelled() {
            group.kill();
            bail!("command {shown:?} was killed: Tiltfile evaluation cancelled (lilt is stopping)");
        }
        if now > deadline {
            group.kill();
            bail!(
                "command {shown:?} was killed: Tiltfile evaluation took longer than {}s",
                state.opts.timeout.as_secs()
            );
        }
        if now >= next_notice {
            state.progress(format!(
                "local: {shown} is still running after {}s",
                now.duration_since(started).as_secs()
            ));
            next_notice = now + SLOW_COMMAND_PERIOD;
        }
    }
}

/// Reads `pipe` to its end on a thread of its own, counting against the shared `budget`.
fn spawn_reader(
    mut pipe: impl Read + Send + 'static,
    is_stdout: bool,
    limit: u64,
    budget: &Arc<AtomicU64>,
    tx: mpsc::Sender<Piped>,
) {
    let budget = Arc::clone(budget);
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let total = budget.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                    if total > limit {
                        let _ = tx.send(Piped::TooMuch);
                        return;
                    }
                    bytes.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Piped::Failed(e));
                    return;
                }
            }
        }
        let _ = tx.send(Piped::Closed(is_stdout, bytes));
    });
}

/// Logs the output and turns a failed exit into Tilt's error.
fn finish(
    state: &TiltState,
    shown: &str,
    exit: ExitInfo,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    log_output: bool,
    log_command: bool,
) -> anyhow::Result<String> {
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    if log_output {
        for line in stdout.lines().chain(stderr.lines()) {
            state.print(format!("{OUTPUT_PREFIX}{line}"));
        }
    }
    if !exit.success() {
        let status = match exit.code {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_owned(),
        };
        let mut msg = format!("command {shown:?} failed.\nerror: {status}");
        if !log_output {
            msg.push_str(&format!("\nstdout:\n{stdout}\nstderr:\n{stderr}\n"));
        }
        bail!(msg);
    }
    if log_command && log_output && stdout.is_empty() && stderr.is_empty() {
        state.print(format!("{OUTPUT_PREFIX}[no output]"));
    }
    Ok(stdout)
}
