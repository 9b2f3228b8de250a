//! Live update of Kubernetes containers through the API server's `pods/exec` (as Tilt's
//! exec updater): `rm -rf` the deletes, `tar -C / -x -f -` with the archive streamed on
//! stdin, then the `run` steps. The image needs `rm` and `tar` (and `sh` for `run` steps
//! written as strings); a missing `tar` shows as an [`ApplyError::Command`] or
//! [`ApplyError::Transport`] naming the command.

use std::time::Instant;

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::apply::{
    Applied, ApplyError, ContainerRef, Containers, Output, OutputSink, RunOutput, rm_commands,
    tar_command,
};
use crate::plan::Batch;
use crate::tar::{CHUNK, TarDone, TarSummary, tar_stream};

/// A tar stream to feed to a command's stdin.
type TarBytes =
    std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

/// Updates containers of pods through one cluster's API server.
#[derive(Clone)]
pub struct KubeContainers {
    client: kube::Client,
    output: Option<OutputSink>,
}

impl std::fmt::Debug for KubeContainers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeContainers").finish_non_exhaustive()
    }
}

/// The exit code a `pods/exec` status reports: 0 on success, the `ExitCode` cause of a
/// `NonZeroExitCode` failure; `Err` with the message for any other failure (the command
/// could not start, the container is gone).
fn exit_code(status: Option<Status>) -> Result<i64, String> {
    let Some(status) = status else {
        return Err("the exec stream ended without a status".to_owned());
    };
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        let code = status
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|causes| {
                causes
                    .iter()
                    .find(|c| c.reason.as_deref() == Some("ExitCode"))
            })
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.parse::<i64>().ok());
        if let Some(code) = code {
            return Ok(code);
        }
    }
    Err(status
        .message
        .unwrap_or_else(|| "exec failed without a message".to_owned()))
}

impl KubeContainers {
    pub fn new(client: kube::Client) -> KubeContainers {
        KubeContainers {
            client,
            output: None,
        }
    }

    /// Streams `run` output to `sink` as it comes.
    pub fn with_output(mut self, sink: OutputSink) -> KubeContainers {
        self.output = Some(sink);
        self
    }

    /// Runs `argv` in the container, feeding it `stdin` when given; its exit code and
    /// output (stdout and stderr interleaved).
    async fn exec(
        &self,
        target: &ContainerRef,
        argv: &[String],
        stdin: Option<(TarBytes, TarDone)>,
        action: &'static str,
        forward: bool,
    ) -> Result<(i64, String, Option<TarSummary>), ApplyError> {
        let ContainerRef::Kubernetes {
            namespace,
            pod,
            container,
        } = target
        else {
            return Err(ApplyError::WrongKind {
                container: target.clone(),
            });
        };
        let transport = |message: String| ApplyError::Transport {
            container: target.clone(),
            action,
            message,
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = AttachParams {
            container: Some(container.clone()),
            stdin: stdin.is_some(),
            stdout: true,
            stderr: true,
            tty: false,
            max_stdin_buf_size: Some(CHUNK),
            max_stdout_buf_size: Some(CHUNK),
            max_stderr_buf_size: Some(CHUNK),
        };
        let mut attached = pods
            .exec(pod, argv.to_vec(), &params)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = attached
            .take_status()
            .ok_or_else(|| transport("no status channel".to_owned()))?;
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let mut readers = Vec::new();
        for reader in [attached.stdout(), attached.stderr()].into_iter().flatten() {
            let tx = out_tx.clone();
            readers.push(tokio::spawn(async move {
                let mut reader = reader;
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = reader.read(&mut buf).await {
                    if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }));
        }
        drop(out_tx);
        let feed = async {
            let Some((mut stream, done)) = stdin else {
                return Ok(None);
            };
            let Some(mut writer) = attached.stdin() else {
                return Err(transport("no stdin".to_owned()));
            };
            let mut write_err = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => {
                        if let Err(e) = writer.write_all(&chunk).await {
                            write_err = Some(e.to_string());
                            break;
                        }
                    }
                    // The archive's own error is reported by `done` below.
                    Err(_) => break,
                }
            }
            drop(stream);
            let summary = done.summary().await;
            match summary {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(ApplyError::Archive {
                    container: target.clone(),
                    source: e,
                }),
                Err(e) => Err(transport(write_err.unwrap_or_else(|| e.to_string()))),
                Ok(s) => {
                    if let Some(e) = write_err {
                        return Err(transport(e));
                    }
                    // End of input: tar finishes and exits.
                    writer
                        .shutdown()
                        .await
                        .map_err(|e| transport(e.to_string()))?;
                    Ok(Some(s))
                }
            }
        };
        let collect = async {
            let mut out = Output::default();
            while let Some(bytes) = out_rx.recv().await {
                out.push(&bytes);
                if forward && let Some(sink) = &self.output {
                    sink(target, &String::from_utf8_lossy(&bytes));
                }
            }
            out
        };
        let (fed, out, status) = tokio::join!(feed, collect, status);
        let summary = fed?;
        for r in readers {
            let _ = r.await;
        }
        let _ = attached.join().await;
        let code = exit_code(status).map_err(|m| {
            let text = out.text();
            if text.trim().is_empty() {
                transport(m)
            } else {
                transport(format!("{m}: {}", text.trim_end()))
            }
        })?;
        Ok((code, out.text(), summary))
    }

    async fn rm(
        &self,
        target: &ContainerRef,
        paths: &[String],
        action: &'static str,
    ) -> Result<(), ApplyError> {
        for argv in rm_commands(paths) {
            let (code, output, _) = self.exec(target, &argv, None, action, false).await?;
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

    async fn apply_kube(
        &self,
        target: &ContainerRef,
        batch: &Batch,
    ) -> Result<Applied, ApplyError> {
        if !matches!(target, ContainerRef::Kubernetes { .. }) {
            return Err(ApplyError::WrongKind {
                container: target.clone(),
            });
        }
        // Refused before touching the container, as Tilt does.
        if batch.restart {
            return Err(ApplyError::RestartUnsupported {
                container: target.clone(),
            });
        }
        let started = Instant::now();
        let mut deleted = Vec::new();
        if !batch.deletes.is_empty() {
            self.rm(target, &batch.deletes, "removing deleted files")
                .await?;
            deleted.extend(batch.deletes.iter().cloned());
        }
        let mut copied = TarSummary::default();
        if !batch.copies.is_empty() {
            let (stream, done) = tar_stream(batch);
            let argv = tar_command();
            let (code, output, summary) = self
                .exec(
                    target,
                    &argv,
                    Some((Box::pin(stream), done)),
                    "copying files",
                    false,
                )
                .await?;
            if code != 0 {
                return Err(ApplyError::Command {
                    container: target.clone(),
                    action: "copying files",
                    command: argv.join(" "),
                    exit_code: code,
                    output,
                });
            }
            copied = summary.unwrap_or_default();
            if !copied.vanished.is_empty() {
                self.rm(target, &copied.vanished, "removing vanished files")
                    .await?;
                deleted.extend(copied.vanished.iter().cloned());
            }
        }
        let mut runs: Vec<RunOutput> = Vec::new();
        for step in &batch.runs {
            let (code, output, _) = self
                .exec(target, &step.argv, None, "running a run step", true)
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
        Ok(Applied {
            container: target.clone(),
            copied,
            deleted,
            runs,
            restarted: false,
            elapsed: started.elapsed(),
        })
    }
}

impl Containers for KubeContainers {
    fn apply<'a>(
        &'a self,
        target: &'a ContainerRef,
        batch: &'a Batch,
    ) -> BoxFuture<'a, Result<Applied, ApplyError>> {
        Box::pin(self.apply_kube(target, batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    #[test]
    fn exit_codes_from_exec_statuses() {
        let ok = Status {
            status: Some("Success".into()),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(ok)), Ok(0));
        let failed = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("3".into()),
                    ..StatusCause::default()
                }]),
                ..StatusDetails::default()
            }),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(failed)), Ok(3));
        let other = Status {
            status: Some("Failure".into()),
            message: Some("executable file not found".into()),
            ..Status::default()
        };
        assert_eq!(
            exit_code(Some(other)),
            Err("executable file not found".into())
        );
        assert!(exit_code(None).is_err());
    }
}
