//! A command running as the leader of its own process group, and how to end the group.
//!
//! Signals go to the whole group (`killpg`), so `sh -c 'a & b & wait'` trees stop together,
//! the way Tilt does it (`pkg/procutil/procutil_unix.go`).

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use lilt_model::Cmd;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::env::ExecEnv;
use crate::error::LocalError;
use crate::log::{LogSink, Stream, pump};
use crate::reaper::ProcessRegistry;

/// How long to keep waiting for a group to vanish after SIGKILL before giving up on it
/// (a process stuck in uninterruptible sleep cannot be helped).
const KILL_WAIT_LIMIT: Duration = Duration::from_secs(5);

/// How long to keep reading output once every process we know of is dead: a process that
/// escaped the group (`setsid`) may still hold the pipe.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit code, if the process exited normally.
    pub code: Option<i32>,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The code a shell would report: the exit code, or 128 plus the signal number.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => -1,
        }
    }
}

impl From<ExitStatus> for ExitInfo {
    fn from(status: ExitStatus) -> Self {
        ExitInfo {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit status {code}"),
            (None, Some(sig)) => match Signal::try_from(sig) {
                Ok(s) => write!(f, "killed by signal {}", s.as_str()),
                Err(_) => write!(f, "killed by signal {sig}"),
            },
            (None, None) => f.write_str("exited"),
        }
    }
}

/// A started command leading its own process group, with its output being pumped.
///
/// Dropping a group that was not [`released`](Group::release) SIGKILLs the whole group, so
/// a cancelled future never leaves processes behind.
pub(crate) struct Group {
    child: Child,
    pid: u32,
    display: String,
    pumps: Vec<JoinHandle<()>>,
    registry: ProcessRegistry,
    exit: Option<ExitInfo>,
    done: bool,
}

impl Group {
    /// Starts `cmd` with exactly `env`, stdin from /dev/null, stdout and stderr into `sink`.
    pub(crate) fn spawn(
        cmd: &Cmd,
        env: &ExecEnv,
        sink: &LogSink,
        registry: &ProcessRegistry,
    ) -> Result<Group, LocalError> {
        let Some((program, args)) = cmd.argv.split_first() else {
            return Err(LocalError::EmptyCommand);
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .envs(env.for_command(&cmd.env).vars().iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if !cmd.dir.as_os_str().is_empty() {
            command.current_dir(&cmd.dir);
        }
        let spawn_error = |source| LocalError::Spawn {
            command: cmd.display(),
            dir: cmd.dir.clone(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let Some(pid) = child.id() else {
            return Err(spawn_error(std::io::Error::other(
                "process exited before its pid was known",
            )));
        };
        registry.register(pid);
        let mut pumps = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(out, Stream::Stdout, sink.clone())));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(err, Stream::Stderr, sink.clone())));
        }
        Ok(Group {
            child,
            pid,
            display: cmd.display(),
            pumps,
            registry: registry.clone(),
            exit: None,
            done: false,
        })
    }

    /// The leader's pid, which is also the process group id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until the leader exits (cancel-safe); other group members may live on.
    pub(crate) async fn wait_leader(&mut self) -> Result<ExitInfo, LocalError> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        let status = self.child.wait().await.map_err(|source| LocalError::Wait {
            command: self.display.clone(),
            pid: self.pid,
            source,
        })?;
        let exit = ExitInfo::from(status);
        self.exit = Some(exit);
        Ok(exit)
    }

    /// Waits until both output streams are closed (cancel-safe).
    pub(crate) async fn wait_output_closed(&mut self) {
        while let Some(handle) = self.pumps.last_mut() {
            let _ = handle.await;
            self.pumps.pop();
        }
    }

    /// Sends `signal` to every process in the group.
    pub(crate) fn signal(&self, signal: Signal) {
        signal_group(self.pid, signal);
    }

    /// Ends the group: SIGTERM, up to `grace` for the leader and everyone else to exit,
    /// then SIGKILL; returns once the group is gone and its output is read.
    pub(crate) async fn terminate(&mut self, grace: Duration) -> Option<ExitInfo> {
        self.signal(Signal::SIGTERM);
        let graceful = tokio::time::timeout(grace, async {
            let _ = self.wait_leader().await;
            wait_group_gone(self.pid).await;
        })
        .await;
        if graceful.is_err() {
            self.signal(Signal::SIGKILL);
        }
        self.finish().await;
        self.exit
    }

    /// After the leader has exited on its own: SIGKILLs what is left of the group (what
    /// Tilt does for servers) and reads the remaining output.
    pub(crate) async fn kill_rest(&mut self) {
        self.signal(Signal::SIGKILL);
        self.finish().await;
    }

    /// Forgets the group without killing what may be left of it, after waiting for the
    /// leader (a `cmd` may start a daemon with `&` on purpose, as in Tilt).
    pub(crate) fn release(&mut self) {
        self.registry.unregister(self.pid);
        self.done = true;
    }

    async fn finish(&mut self) {
        let _ = tokio::time::timeout(KILL_WAIT_LIMIT, async {
            let _ = self.wait_leader().await;
            wait_group_gone(self.pid).await;
        })
        .await;
        if tokio::time::timeout(DRAIN_LIMIT, self.wait_output_closed())
            .await
            .is_err()
        {
            for handle in self.pumps.drain(..) {
                handle.abort();
            }
        }
        self.release();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.done {
            self.signal(Signal::SIGKILL);
            self.registry.unregister(self.pid);
        }
        for handle in &self.pumps {
            handle.abort();
        }
    }
}

/// Sends `signal` to process group `pgid`; a group that is already gone is not an error.
pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pgid)
        && raw > 1
    {
        let _ = killpg(Pid::from_raw(raw), signal);
    }
}

/// Whether any process of group `pgid` is still alive (zombies do not count: they are
/// dead and only wait for their parent, possibly a PID 1 that never reaps).
pub fn group_alive(pgid: u32) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    match killpg(Pid::from_raw(raw), None) {
        Err(Errno::ESRCH) => false,
        Err(_) => true,
        Ok(()) => {
            if cfg!(target_os = "linux") {
                !crate::procfs::group_members(pgid).is_empty()
            } else {
                true
            }
        }
    }
}

/// Polls until group `pgid` has no live process left.
pub(crate) async fn wait_group_gone(pgid: u32) {
    let mut delay = Duration::from_millis(2);
    while group_alive(pgid) {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}
