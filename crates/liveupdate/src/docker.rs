//! Live update of Docker containers through the Engine API: deletes and `run` steps by
//! exec, the files by one streamed `PUT /containers/{id}/archive` (no `tar` needed in the
//! image), `restart_container()` by the restart endpoint.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{RestartContainerOptions, UploadToContainerOptions};
use futures::StreamExt;
use futures::future::BoxFuture;
use lilt_build::{BuildError, Builder, DockerEnv};

use crate::apply::{
    Applied, ApplyError, ContainerRef, Containers, Output, OutputSink, RunOutput, rm_commands,
};
use crate::plan::Batch;
use crate::tar::{TarSummary, tar_stream};

/// Updates containers of one Docker daemon.
#[derive(Clone)]
pub struct DockerContainers {
    docker: Docker,
    output: Option<OutputSink>,
}

impl std::fmt::Debug for DockerContainers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerContainers").finish_non_exhaustive()
    }
}

impl DockerContainers {
    /// Uses an existing client (e.g. `lilt_build::Builder::docker()`).
    pub fn new(docker: Docker) -> DockerContainers {
        DockerContainers {
            docker,
            output: None,
        }
    }

    /// Connects to the daemon the docker CLI would use with `env`, chosen exactly as for
    /// builds (`DOCKER_HOST`, docker contexts, TLS).
    pub fn from_env(env: &DockerEnv) -> Result<DockerContainers, BuildError> {
        Ok(DockerContainers::new(
            Builder::from_env(env)?.docker().clone(),
        ))
    }

    /// Streams `run` output to `sink` as it comes.
    pub fn with_output(mut self, sink: OutputSink) -> DockerContainers {
        self.output = Some(sink);
        self
    }

    /// Runs `argv` in the container; its exit code and output.
    async fn exec(
        &self,
        target: &ContainerRef,
        id: &str,
        argv: &[String],
        action: &'static str,
        forward: bool,
    ) -> Result<(i64, String), ApplyError> {
        let transport = |e: bollard::errors::Error| ApplyError::Transport {
            container: target.clone(),
            action,
            message: e.to_string(),
        };
        let created = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(argv.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(transport)?;
        let started = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(transport)?;
        let mut out = Output::default();
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                let bytes = chunk.map_err(transport)?.into_bytes();
                out.push(&bytes);
                if forward && let Some(sink) = &self.output {
                    sink(target, &String::from_utf8_lossy(&bytes));
                }
            }
        }
        // The output ends when the process does; its exit code may take a moment to show.
        let mut wait = Duration::from_millis(1);
        loop {
            let inspect = self
                .docker
                .inspect_exec(&created.id)
                .await
                .map_err(transport)?;
            if inspect.running != Some(true) {
                return Ok((inspect.exit_code.unwrap_or(-1), out.text()));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(50));
        }
    }

    async fn rm(
        &self,
        target: &ContainerRef,
        id: &str,
        paths: &[String],
        action: &'static str,
    ) -> Result<(), ApplyError> {
        for argv in rm_commands(paths) {
            let (code, output) = self.exec(target, id, &argv, action, false).await?;
            if code != 0 {
                return Err(ApplyError::Command {
                    container: target.clone(),
                    action,
                    command: argv.join(" "),
                    exit_code: code,
                    output,
                });
            }
        }
        Ok(())
    }

    async fn apply_docker(
        &self,
        target: &ContainerRef,
        batch: &Batch,
    ) -> Result<Applied, ApplyError> {
        let ContainerRef::Docker { id } = target else {
            return Err(ApplyError::WrongKind {
                container: target.clone(),
            });
        };
        let started = Instant::now();
        let mut deleted = Vec::new();
        if !batch.deletes.is_empty() {
            self.rm(target, id, &batch.deletes, "removing deleted files")
                .await?;
            deleted.extend(batch.deletes.iter().cloned());
        }
        let mut copied = TarSummary::default();
        if !batch.copies.is_empty() {
            let (stream, done) = tar_stream(batch);
            let uploaded = self
                .docker
                .upload_to_container(
                    id,
                    Some(UploadToContainerOptions {
                        path: "/".to_owned(),
                        ..Default::default()
                    }),
                    bollard::body_try_stream(stream),
                )
                .await;
            let summary = done.summary().await;
            match (uploaded, summary) {
                (Ok(()), Ok(s)) => copied = s,
                // A read error ends the upload too; it is the cause worth showing.
                (_, Err(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(ApplyError::Archive {
                        container: target.clone(),
                        source: e,
                    });
                }
                (Err(e), _) => {
                    return Err(ApplyError::Transport {
                        container: target.clone(),
                        action: "copying files",
                        message: e.to_string(),
                    });
                }
                (Ok(()), Err(e)) => {
                    return Err(ApplyError::Archive {
                        container: target.clone(),
                        source: e,
                    });
                }
            }
            if !copied.vanished.is_empty() {
                self.rm(target, id, &copied.vanished, "removing vanished files")
                    .await?;
                deleted.extend(copied.vanished.iter().cloned());
            }
        }
        let mut runs: Vec<RunOutput> = Vec::new();
        for step in &batch.runs {
            let (code, output) = self
                .exec(target, id, &step.argv, "running a run step", true)
                .await?;
            if code != 0 {
                return Err(ApplyError::RunFailed {
                    container: target.clone(),
                    argv: step.argv.clone(),
                    exit_code: code,
                    output,
                    earlier: runs,
                });
            }
            runs.push(RunOutput {
                argv: step.argv.clone(),
                exit_code: code,
                output,
            });
        }
        if batch.restart {
            // As Tilt: no grace period, the container's process is replaced at once.
            self.docker
                .restart_container(
                    id,
                    Some(RestartContainerOptions {
                        t: Some(0),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| ApplyError::Transport {
                    container: target.clone(),
                    action: "restarting the container",
                    message: e.to_string(),
                })?;
        }
        Ok(Applied {
            container: target.clone(),
            copied,
            deleted,
            runs,
            restarted: batch.restart,
            elapsed: started.elapsed(),
        })
    }
}

impl Containers for DockerContainers {
    fn apply<'a>(
        &'a self,
        target: &'a ContainerRef,
        batch: &'a Batch,
    ) -> BoxFuture<'a, Result<Applied, ApplyError>> {
        Box::pin(self.apply_docker(target, batch))
    }
}
