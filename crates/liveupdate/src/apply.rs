//! Applying a batch to containers: the [`Containers`] trait, what an update did
//! ([`Applied`]) and why it failed ([`ApplyError`]: a failing `run` step is told apart
//! from failures to reach or write to the container).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::plan::Batch;
use crate::tar::TarSummary;

/// Output kept per command: the last bytes of a chatty command are the ones that explain a
/// failure.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// One container to update.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContainerRef {
    /// A container of the Docker daemon the applier talks to (Compose services, `docker run`).
    Docker { id: String },
    /// A container of a pod, reached through the API server's `pods/exec`.
    Kubernetes {
        namespace: String,
        pod: String,
        container: String,
    },
}

impl fmt::Display for ContainerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerRef::Docker { id } => f.write_str(id.get(..12).unwrap_or(id)),
            ContainerRef::Kubernetes {
                namespace,
                pod,
                container,
            } => write!(f, "{namespace}/{pod}/{container}"),
        }
    }
}

/// A `run` step that ran, with its output (stdout and stderr interleaved, at most the last
/// [`OUTPUT_LIMIT`] bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    pub argv: Vec<String>,
    pub exit_code: i64,
    pub output: String,
}

/// What an update did in one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub container: ContainerRef,
    /// What the tar stream carried (its `vanished` paths were deleted afterwards).
    pub copied: TarSummary,
    /// Container paths removed (the batch's deletes and the vanished copies).
    pub deleted: Vec<String>,
    pub runs: Vec<RunOutput>,
    pub restarted: bool,
    pub elapsed: Duration,
}

/// Why an update of one container failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A `run` step exited non-zero. As in Tilt, the runner shows the output and makes the
    /// next change a full rebuild. The steps after it did not run.
    #[error("{container}: run step `{}` failed with exit code {exit_code}{}", argv.join(" "), tail(output))]
    RunFailed {
        container: ContainerRef,
        argv: Vec<String>,
        exit_code: i64,
        output: String,
        /// The steps that ran before it.
        earlier: Vec<RunOutput>,
    },
    /// `restart_container()` on Kubernetes, which Tilt refuses too.
    #[error(
        "{container}: restart_container() is not supported on Kubernetes; use the restart_process extension (docker_build_with_restart from load('ext://restart_process', ...)) to restart the process after a live update"
    )]
    RestartUnsupported { container: ContainerRef },
    /// `rm` or `tar` in the container exited non-zero (read-only file system, no `tar` in
    /// the image, permissions).
    #[error(
        "{container}: {action}: `{command}` exited with code {exit_code}{}",
        tail(output)
    )]
    Command {
        container: ContainerRef,
        action: &'static str,
        command: String,
        exit_code: i64,
        output: String,
    },
    /// The daemon or API server could not be reached or refused the request (container
    /// gone or not running, connection lost).
    #[error("{container}: {action}: {message}")]
    Transport {
        container: ContainerRef,
        action: &'static str,
        message: String,
    },
    /// A local file could not be read for the archive.
    #[error("{container}: reading the files to sync: {source}")]
    Archive {
        container: ContainerRef,
        #[source]
        source: std::io::Error,
    },
    /// The target is not one this applier can reach (a Kubernetes container given to the
    /// Docker applier, or the other way round).
    #[error("{container}: not a container this applier updates")]
    WrongKind { container: ContainerRef },
}

fn tail(output: &str) -> String {
    let trimmed = output.trim_end();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(":\n{trimmed}")
    }
}

impl ApplyError {
    /// A failing `run` step (the container was updated, the command failed), as opposed to
    /// a failure to update the container.
    pub fn is_run_failure(&self) -> bool {
        matches!(self, ApplyError::RunFailed { .. })
    }

    pub fn container(&self) -> &ContainerRef {
        match self {
            ApplyError::RunFailed { container, .. }
            | ApplyError::RestartUnsupported { container }
            | ApplyError::Command { container, .. }
            | ApplyError::Transport { container, .. }
            | ApplyError::Archive { container, .. }
            | ApplyError::WrongKind { container } => container,
        }
    }
}

/// Receives the output of `run` steps as it comes (for the resource's log), with the
/// container it comes from.
pub type OutputSink = Arc<dyn Fn(&ContainerRef, &str) + Send + Sync>;

/// Something that can apply a batch to a container: in order, `rm -rf` the deletes,
/// extract the copies from one tar stream at `/`, delete the copies that vanished while
/// archiving, run the `run` steps (stopping at the first failure), restart when asked.
pub trait Containers: Send + Sync {
    fn apply<'a>(
        &'a self,
        target: &'a ContainerRef,
        batch: &'a Batch,
    ) -> BoxFuture<'a, Result<Applied, ApplyError>>;
}

/// Applies `batch` to every target at once (each gets its own tar stream), in the order
/// of `targets`.
pub async fn apply_all(
    containers: &dyn Containers,
    targets: &[ContainerRef],
    batch: &Batch,
) -> Vec<Result<Applied, ApplyError>> {
    futures::future::join_all(targets.iter().map(|t| containers.apply(t, batch))).await
}

/// Collects command output, keeping the last [`OUTPUT_LIMIT`] bytes.
#[derive(Default)]
pub(crate) struct Output {
    buf: Vec<u8>,
}

impl Output {
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        if self.buf.len() > 2 * OUTPUT_LIMIT {
            let cut = self.buf.len() - OUTPUT_LIMIT;
            self.buf.drain(..cut);
        }
    }

    pub(crate) fn text(&self) -> String {
        let start = self.buf.len().saturating_sub(OUTPUT_LIMIT);
        String::from_utf8_lossy(&self.buf[start..]).into_owned()
    }
}

/// The `rm -rf` command lines for `paths`, a bounded number of paths each (argument lists
/// have a size limit).
pub(crate) fn rm_commands(paths: &[String]) -> Vec<Vec<String>> {
    paths
        .chunks(500)
        .map(|chunk| {
            // Container paths are absolute, so none can be read as an option.
            let mut argv = vec!["rm".to_owned(), "-rf".to_owned()];
            argv.extend(chunk.iter().cloned());
            argv
        })
        .collect()
}

/// The command that extracts the archive in the container (Tilt's).
pub(crate) fn tar_command() -> Vec<String> {
    ["tar", "-C", "/", "-x", "-f", "-"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_the_tail() {
        let mut o = Output::default();
        for _ in 0..10 {
            o.push(&vec![b'a'; OUTPUT_LIMIT / 2]);
        }
        o.push(b"END");
        let t = o.text();
        assert_eq!(t.len(), OUTPUT_LIMIT);
        assert!(t.ends_with("aEND"));
    }

    #[test]
    fn rm_commands_split_long_lists() {
        let paths: Vec<String> = (0..1200).map(|i| format!("/p{i}")).collect();
        let cmds = rm_commands(&paths);
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0][..2], ["rm", "-rf"]);
        assert_eq!(cmds.iter().map(|c| c.len() - 2).sum::<usize>(), 1200);
    }

    #[test]
    fn errors_read_well() {
        let c = ContainerRef::Kubernetes {
            namespace: "default".into(),
            pod: "web-1".into(),
            container: "app".into(),
        };
        let e = ApplyError::RunFailed {
            container: c.clone(),
            argv: vec!["sh".into(), "-c".into(), "make".into()],
            exit_code: 2,
            output: "make: *** no rule\n".into(),
            earlier: vec![],
        };
        assert!(e.is_run_failure());
        assert_eq!(
            e.to_string(),
            "default/web-1/app: run step `sh -c make` failed with exit code 2:\nmake: *** no rule"
        );
        let e = ApplyError::RestartUnsupported { container: c };
        assert!(!e.is_run_failure());
        assert!(e.to_string().contains("restart_process"));
        let d = ContainerRef::Docker {
            id: "0123456789abcdef0123".into(),
        };
        assert_eq!(d.to_string(), "0123456789ab");
    }
}
