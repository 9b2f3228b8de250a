//! The Docker Engine API side: a service's container found by Compose's labels, its status
//! followed through the events API (each relevant event re-inspects it), and its log
//! followed with timestamps so that a reconnect resumes without repeating a line.
//!
//! The daemon is the one the docker CLI would use (`lilt-build` resolves it), the same one
//! the Compose command is pointed at.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    EventsOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions,
};
use futures::StreamExt;
use lilt_build::DockerEnv;
use tokio::sync::Notify;

use crate::ComposeError;
use crate::status::ContainerStatus;

/// Compose's label naming the project of a container.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// Compose's label naming the service of a container.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// Compose's label on `run` containers, which are not the service's.
pub const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";

/// How long to wait before resubscribing after the daemon dropped a stream, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A connection to the daemon Compose deploys to.
#[derive(Clone)]
pub struct Daemon {
    docker: Docker,
    host: String,
}

/// Where a service's containers are: a project and a service name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    pub project: String,
    pub service: String,
}

impl ServiceKey {
    fn label_filters(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{PROJECT_LABEL}={}", self.project),
                format!("{SERVICE_LABEL}={}", self.service),
            ],
        )])
    }
}

impl Daemon {
    /// Connects (lazily: no request yet) to the daemon the docker CLI would use with `env`.
    pub fn from_env(env: &DockerEnv) -> Result<Daemon, ComposeError> {
        let builder = lilt_build::Builder::from_env(env).map_err(ComposeError::Daemon)?;
        Ok(Daemon {
            docker: builder.docker().clone(),
            host: builder.host().to_owned(),
        })
    }

    /// The daemon address (`unix:///…`, `tcp://…`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The Engine API client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The ids of the service's containers (not `run` one-offs), newest first.
    pub async fn containers(&self, key: &ServiceKey) -> Result<Vec<String>, ComposeError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(key.label_filters()),
            ..ListContainersOptions::default()
        };
        let mut list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(ComposeError::Api)?;
        list.retain(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(ONEOFF_LABEL))
                .is_none_or(|v| !v.eq_ignore_ascii_case("true"))
        });
        list.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or(0)));
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    /// The status of the service's current (newest) container, `None` when it has none.
    pub async fn status(&self, key: &ServiceKey) -> Result<Option<ContainerStatus>, ComposeError> {
        let Some(id) = self.containers(key).await?.into_iter().next() else {
            return Ok(None);
        };
        self.inspect(&id).await
    }

    /// One container's status; `None` when it is gone.
    pub async fn inspect(&self, id: &str) -> Result<Option<ContainerStatus>, ComposeError> {
        match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspect) => Ok(ContainerStatus::from_inspect(&inspect)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(ComposeError::Api(e)),
        }
    }

    /// Stops and removes the service's containers (the resource was disabled).
    pub async fn remove_service(&self, key: &ServiceKey) -> Result<usize, ComposeError> {
        let ids = self.containers(key).await?;
        for id in &ids {
            let _ = self
                .docker
                .stop_container(id, None::<StopContainerOptions>)
                .await;
            match self
                .docker
                .remove_container(
                    id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..RemoveContainerOptions::default()
                    }),
                )
                .await
            {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(ComposeError::Api(e)),
            }
        }
        Ok(ids.len())
    }

    /// Follows the service's status until the task is dropped: calls `on_change` with the
    /// current container's status now and after every event about the service's
    /// containers (`None` when it has none), and with each `die` event first. When the daemon drops the events stream, it
    /// resubscribes from shortly before the drop and inspects again, so no change is lost;
    /// `on_error` hears about each drop.
    pub async fn watch(
        &self,
        key: &ServiceKey,
        mut on_change: impl FnMut(Change) + Send,
        on_error: impl Fn(String) + Send,
    ) {
        let mut backoff = Duration::from_millis(200);
        // The newest `die` event handled: a resubscription replays the last second.
        let mut last_die = 0i64;
        loop {
            // Events since a second before the inspect: one that lands between the inspect
            // and the subscription is replayed (an extra inspect is harmless).
            let since = unix_seconds(SystemTime::now()).saturating_sub(1);
            match self.status(key).await {
                Ok(status) => {
                    backoff = Duration::from_millis(200);
                    on_change(Change::Status(status));
                }
                Err(e) => {
                    on_error(format!("cannot inspect the container: {e}"));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
            let mut filters = key.label_filters();
            filters.insert("type".to_owned(), vec!["container".to_owned()]);
            let mut events = self.docker.events(Some(EventsOptions {
                since: Some(since.to_string()),
                until: None,
                filters: Some(filters),
            }));
            loop {
                match events.next().await {
                    Some(Ok(event)) => {
                        // Health checks run as execs, which change nothing by themselves.
                        let action = event.action.as_deref().unwrap_or_default();
                        if action.starts_with("exec_") {
                            continue;
                        }
                        // An exit is taken from the event itself: by the time of an
                        // inspect, a restart policy may have started the container again.
                        if action == "die"
                            && let Some(actor) = &event.actor
                            && let Some(id) = &actor.id
                        {
                            let at = event.time_nano.unwrap_or(0);
                            if at > last_die {
                                last_die = at;
                                let exit_code = actor
                                    .attributes
                                    .as_ref()
                                    .and_then(|a| a.get("exitCode"))
                                    .and_then(|c| c.parse().ok());
                                on_change(Change::Died {
                                    id: id.clone(),
                                    exit_code,
                                });
                            }
                        }
                        match self.status(key).await {
                            Ok(status) => on_change(Change::Status(status)),
                            Err(e) => {
                                on_error(format!("cannot inspect the container: {e}"));
                                break;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        on_error(format!("Docker events stream ended: {e}"));
                        break;
                    }
                    None => {
                        on_error("Docker events stream ended".to_owned());
                        break;
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Follows one container's log (stdout and stderr) until the container is removed or
    /// the task is dropped, calling `on_line` once per line. The stream ends when the
    /// container stops; it is reopened when `wake` is notified (the status watch saw an
    /// event) and the container runs again, and after a dropped connection. Lines carry
    /// the daemon's timestamps, so a reopened stream resumes after the last line shown.
    pub async fn follow_logs(&self, id: &str, wake: Arc<Notify>, on_line: impl Fn(String) + Send) {
        let mut cursor = LogCursor::default();
        let mut backoff = Duration::from_millis(200);
        loop {
            let options = LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                timestamps: true,
                since: cursor.since(),
                tail: "all".to_owned(),
                ..LogsOptions::default()
            };
            let mut stream = self.docker.logs(id, Some(options));
            let mut pending = Vec::new();
            let mut failed = false;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(output) => {
                        let bytes = match &output {
                            LogOutput::StdOut { message }
                            | LogOutput::StdErr { message }
                            | LogOutput::Console { message }
                            | LogOutput::StdIn { message } => message,
                        };
                        pending.extend_from_slice(bytes);
                        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=end).collect();
                            let line = String::from_utf8_lossy(&line[..end]);
                            if let Some(text) = cursor.accept(line.trim_end_matches('\r')) {
                                on_line(text);
                            }
                        }
                    }
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => return,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if !pending.is_empty() && !failed {
                let line = String::from_utf8_lossy(&pending).into_owned();
                if let Some(text) = cursor.accept(&line) {
                    on_line(text);
                }
            }
            if failed {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            backoff = Duration::from_millis(200);
            // The stream ended: the container stopped, or the daemon went away. Reopen
            // once it runs again; stop following once it is gone.
            loop {
                match self.inspect(id).await {
                    Ok(None) => return,
                    Ok(Some(status)) if status.state == crate::status::State::Running => break,
                    Ok(Some(_)) => {}
                    Err(_) => {}
                }
                // Woken by the status watch on every event; the timeout covers a daemon
                // restart, after which the watch itself is resubscribing.
                let _ = tokio::time::timeout(MAX_BACKOFF, wake.notified()).await;
            }
        }
    }
}

/// What [`Daemon::watch`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The service's current container now (`None`: it has none).
    Status(Option<ContainerStatus>),
    /// A container of the service died (from the `die` event).
    Died { id: String, exit_code: Option<i64> },
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where a container's log was read up to: the last line's timestamp (RFC 3339 with nine
/// fixed fraction digits, so they order as strings) and how many lines carried exactly
/// that timestamp. A reopened stream starts at that second (`since` has whole seconds)
/// and skips what was shown already.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogCursor {
    last: Option<String>,
    at_last: usize,
    /// Lines with the last timestamp seen in the current stream, to compare with `at_last`.
    seen_at_last: usize,
    reopened: bool,
}

impl LogCursor {
    /// The `since` of the next request: 0 (everything) at first, then the last line's second.
    pub fn since(&mut self) -> i32 {
        self.reopened = self.last.is_some();
        self.seen_at_last = 0;
        self.last
            .as_deref()
            .and_then(rfc3339_seconds)
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or(0)
    }

    /// Takes one `TIMESTAMP TEXT` line: the text when it is new, `None` when it was shown.
    pub fn accept(&mut self, line: &str) -> Option<String> {
        let Some((ts, text)) = line
            .split_once(' ')
            .filter(|(ts, _)| looks_like_timestamp(ts))
        else {
            // Not timestamped (should not happen): show it.
            return Some(line.to_owned());
        };
        if self.reopened
            && let Some(last) = &self.last
        {
            match ts.cmp(last.as_str()) {
                std::cmp::Ordering::Less => return None,
                std::cmp::Ordering::Equal => {
                    self.seen_at_last += 1;
                    if self.seen_at_last <= self.at_last {
                        return None;
                    }
                    self.at_last += 1;
                    return Some(text.to_owned());
                }
                std::cmp::Ordering::Greater => self.reopened = false,
            }
        }
        if self.last.as_deref() == Some(ts) {
            self.at_last += 1;
        } else {
            self.last = Some(ts.to_owned());
            self.at_last = 1;
        }
        Some(text.to_owned())
    }
}

fn looks_like_timestamp(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T'
}

/// Whole seconds since the epoch of an RFC 3339 timestamp (`2024-05-01T10:00:00.1Z`).
fn rfc3339_seconds(ts: &str) -> Option<i64> {
    let t = lilt_model::rfc3339::parse(ts)?;
    i64::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_to_epoch_seconds() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00.000000000Z"), Some(0));
        assert_eq!(
            rfc3339_seconds("2024-03-01T12:34:56.123456789Z"),
            Some(1_709_296_496)
        );
    }

    #[test]
    fn a_reopened_stream_repeats_no_line() {
        let mut c = LogCursor::default();
        assert_eq!(c.since(), 0);
        let a = "2024-03-01T12:34:56.000000001Z";
        let b = "2024-03-01T12:34:57.000000002Z";
        assert_eq!(c.accept(&format!("{a} one")).as_deref(), Some("one"));
        assert_eq!(c.accept(&format!("{b} two")).as_deref(), Some("two"));
        assert_eq!(
            c.accept(&format!("{b} two-bis")).as_deref(),
            Some("two-bis")
        );
        // Reopened from b's second: the daemon sends b's lines again, then new ones.
        assert_eq!(c.since(), 1_709_296_497);
        assert_eq!(c.accept(&format!("{b} two")), None);
        assert_eq!(c.accept(&format!("{b} two-bis")), None);
        assert_eq!(
            c.accept("2024-03-01T12:34:58.000000000Z three").as_deref(),
            Some("three")
        );
        // And once more, with a line sharing the last timestamp that is new.
        let d = "2024-03-01T12:34:58.000000000Z";
        c.since();
        assert_eq!(c.accept(&format!("{d} three")), None);
        assert_eq!(
            c.accept(&format!("{d} three-new")).as_deref(),
            Some("three-new")
        );
    }
}
