//! A command run synchronously, outside tokio (the Tiltfile's `local()` at load time), yet
//! covered like every other process lilt starts: it leads its own process group, which the
//! [`ProcessRegistry`] and its watchdog end if lilt stops or dies.

use std::process::{Child, Command};

use nix::sys::signal::Signal;

use crate::group::{ExitInfo, signal_group};
use crate::reaper::ProcessRegistry;

/// A started command leading its own process group. Dropping it without
/// [`release`](BlockingGroup::release) SIGKILLs the whole group and reaps the leader.
pub struct BlockingGroup {
    child: Child,
    pid: u32,
    registry: ProcessRegistry,
    released: bool,
}

impl BlockingGroup {
    /// Starts `command` as the leader of a new process group and registers the group.
    /// The caller sets program, arguments, environment and pipes.
    pub fn spawn(
        mut command: Command,
        registry: &ProcessRegistry,
    ) -> std::io::Result<BlockingGroup> {
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn()?;
        let pid = child.id();
        registry.register(pid);
        Ok(BlockingGroup {
            child,
            pid,
            registry: registry.clone(),
            released: false,
        })
    }

    /// The leader's pid, which is also the process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The leader, to take its pipes.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// How the leader ended, if it has.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitInfo>> {
        Ok(self.child.try_wait()?.map(ExitInfo::from))
    }

    /// SIGKILLs the whole group, reaps the leader and forgets the group.
    pub fn kill(&mut self) {
        signal_group(self.pid, Signal::SIGKILL);
        let _ = self.child.wait();
        self.release();
    }

    /// Forgets the group without killing what may be left of it (a command may start a
    /// daemon with `&` on purpose).
    pub fn release(&mut self) {
        if !self.released {
            self.registry.unregister(self.pid);
            self.released = true;
        }
    }
}

impl Drop for BlockingGroup {
    fn drop(&mut self) {
        if !self.released {
            self.kill();
        }
    }
}
