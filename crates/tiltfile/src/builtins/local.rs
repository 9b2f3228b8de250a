//! `local()`: runs a command at load time and returns its stdout as a blob.

#![expect(
    clippy::too_many_arguments,
    reason = "builtins take Tilt's keyword parameters one by one"
)]

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::bail;
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

/// Runs `cmd` to completion, logging like Tilt, and returns its stdout.
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
    let spawned = child.spawn();
    let output = spawned.and_then(|mut child| {
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Written from a thread so a command that prints before reading cannot deadlock.
            std::thread::spawn(move || {
                let _ = pipe.write_all(text.as_bytes());
            });
        }
        child.wait_with_output()
    });
    let output = match output {
        Ok(output) => output,
        Err(e) => bail!("command {shown:?} failed.\nerror: {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if log_output {
        for line in stdout.lines().chain(stderr.lines()) {
            state.print(format!("{OUTPUT_PREFIX}{line}"));
        }
    }
    if !output.status.success() {
        let status = match output.status.code() {
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
