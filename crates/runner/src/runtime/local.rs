//! The local runtime: a resource's `cmd` is its update, its `serve_cmd` the long-running
//! part (one supervisor task per resource, see `serve`).

use std::collections::HashMap;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use lilt_engine::{LogLevel, LogSource};
use lilt_local::RunOutcome;
use lilt_model::DeployTarget;

use super::serve::ServeCtl;
use super::{DeleteJob, Runtime, StartJob, UpdateJob, UpdateOutcome};

/// Local processes, in lilt's process registry (they never outlive lilt).
#[derive(Default)]
pub struct LocalRuntime {
    /// One supervisor per resource with a `serve_cmd`.
    serves: Mutex<HashMap<String, ServeCtl>>,
}

impl Runtime for LocalRuntime {
    fn update(&self, job: UpdateJob) -> BoxFuture<'static, UpdateOutcome> {
        let DeployTarget::Local(local) = &job.manifest.deploy else {
            return futures::future::ready(UpdateOutcome::failed("not a local resource")).boxed();
        };
        let cmd = local.update_cmd.clone();
        async move {
            let Some(cmd) = cmd else {
                return UpdateOutcome::ok();
            };
            let span_id = job.span_id;
            let reporter = job.reporter;
            reporter.build_log(
                span_id,
                LogLevel::Info,
                format!("Running cmd: {}", cmd.display()),
            );
            let sink = reporter.sink(span_id, LogSource::Build);
            let error = match job.launcher.run(&cmd, &sink, job.cancel.cancelled()).await {
                Ok(RunOutcome::Exited(exit)) if exit.success() => None,
                Ok(RunOutcome::Exited(exit)) => Some(format!(
                    "Command {:?} failed: exit status {}",
                    cmd.display(),
                    exit.shell_code()
                )),
                Ok(RunOutcome::Cancelled) => Some("cancelled".to_owned()),
                Err(e) => Some(format!("cannot run {:?}: {e}", cmd.display())),
            };
            if let Some(error) = &error {
                reporter.build_log(span_id, LogLevel::Error, error.clone());
            }
            UpdateOutcome {
                error,
                warnings: Vec::new(),
            }
        }
        .boxed()
    }

    fn start(&self, job: StartJob) {
        let DeployTarget::Local(local) = &job.manifest.deploy else {
            return;
        };
        let Some(serve_cmd) = local.serve_cmd.clone() else {
            return;
        };
        let Ok(mut serves) = self.serves.lock() else {
            return;
        };
        let resource = job.reporter.resource().to_owned();
        let ctl = serves
            .entry(resource)
            .or_insert_with(|| ServeCtl::spawn(job.reporter.clone()));
        ctl.start(
            job.span_id,
            job.launcher,
            serve_cmd,
            local.readiness_probe.clone(),
        );
    }

    fn stop(&self, resource: &str) {
        if let Ok(serves) = self.serves.lock()
            && let Some(ctl) = serves.get(resource)
        {
            ctl.stop();
        }
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let ctls: Vec<ServeCtl> = match self.serves.lock() {
            Ok(mut serves) => serves.drain().map(|(_, ctl)| ctl).collect(),
            Err(_) => Vec::new(),
        };
        let stops: Vec<_> = ctls.into_iter().map(ServeCtl::stop_and_wait).collect();
        async move {
            futures::future::join_all(stops).await;
        }
        .boxed()
    }

    /// Local processes end with `lilt up`: nothing is left to delete.
    fn delete(&self, _job: DeleteJob) -> BoxFuture<'static, Result<(), String>> {
        futures::future::ready(Ok(())).boxed()
    }
}
