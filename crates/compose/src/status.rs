//! A service container's status as the Docker Engine API reports it (inspect), and the
//! phases lilt reports from a sequence of them.

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};

/// The container's lifecycle state (`State.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

/// The health check's verdict (`State.Health.Status`); `None` when there is no check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// One inspect of the service's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub state: State,
    pub health: Option<Health>,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    /// `RestartCount`: restarts by the restart policy.
    pub restarts: u32,
    /// `State.StartedAt`, which changes on every (re)start.
    pub started_at: String,
    pub error: String,
}

impl ContainerStatus {
    /// The status in an inspect response; `None` when it says too little to use.
    pub fn from_inspect(inspect: &ContainerInspectResponse) -> Option<ContainerStatus> {
        let id = inspect.id.clone()?;
        let st = inspect.state.as_ref()?;
        let state = match st.status? {
            ContainerStateStatusEnum::CREATED | ContainerStateStatusEnum::EMPTY => State::Created,
            // Still running while it is being stopped.
            ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::STOPPING => {
                State::Running
            }
            ContainerStateStatusEnum::PAUSED => State::Paused,
            ContainerStateStatusEnum::RESTARTING => State::Restarting,
            ContainerStateStatusEnum::REMOVING => State::Removing,
            ContainerStateStatusEnum::EXITED => State::Exited,
            ContainerStateStatusEnum::DEAD => State::Dead,
        };
        let health = st
            .health
            .as_ref()
            .and_then(|h| h.status)
            .and_then(|s| match s {
                HealthStatusEnum::STARTING => Some(Health::Starting),
                HealthStatusEnum::HEALTHY => Some(Health::Healthy),
                HealthStatusEnum::UNHEALTHY => Some(Health::Unhealthy),
                HealthStatusEnum::NONE | HealthStatusEnum::EMPTY => None,
            });
        Some(ContainerStatus {
            id,
            name: inspect
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            state,
            health,
            exit_code: st.exit_code,
            oom_killed: st.oom_killed.unwrap_or(false),
            restarts: inspect
                .restart_count
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            started_at: st.started_at.clone().unwrap_or_default(),
            error: st.error.clone().unwrap_or_default(),
        })
    }

    /// Ready: running, and healthy when it has a health check.
    pub fn ready(&self) -> bool {
        self.state == State::Running && matches!(self.health, None | Some(Health::Healthy))
    }

    /// What the dashboard shows: `running`, `healthy`, `unhealthy`, `starting`,
    /// `exited (code 3)`, `restarting`, ...
    pub fn display(&self) -> String {
        match (self.state, self.health) {
            (State::Running, Some(Health::Healthy)) => "healthy".to_owned(),
            (State::Running, Some(Health::Unhealthy)) => "unhealthy".to_owned(),
            (State::Running, Some(Health::Starting)) => "starting".to_owned(),
            (State::Running, None) => "running".to_owned(),
            (State::Created, _) => "created".to_owned(),
            (State::Paused, _) => "paused".to_owned(),
            (State::Restarting, _) => "restarting".to_owned(),
            (State::Removing, _) => "removing".to_owned(),
            (State::Exited | State::Dead, _) => self.exit_reason(),
        }
    }

    /// Why it ended: `exited with code 3`, `OOMKilled`, ...
    pub fn exit_reason(&self) -> String {
        if self.oom_killed {
            return "OOMKilled".to_owned();
        }
        let mut reason = match self.exit_code {
            Some(code) => format!("exited with code {code}"),
            None => "exited".to_owned(),
        };
        if self.state == State::Dead {
            reason = format!("dead ({reason})");
        }
        if !self.error.is_empty() {
            reason.push_str(&format!(": {}", self.error));
        }
        reason
    }
}

/// A phase change to report, in the runtime-neutral terms of lilt's engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// It runs (again, after a restart); `ready` as [`ContainerStatus::ready`].
    Running { ready: bool },
    /// Readiness changed while running (a health check's verdict).
    Ready(bool),
    /// It ended by itself.
    Exited {
        exit_code: Option<i32>,
        reason: String,
    },
}

/// Turns successive statuses of a service's container into phase changes, each reported
/// once: a run is identified by the container and its start time, so a restart (by the
/// restart policy or `docker restart`) is a new run, and repeated inspects of the same
/// state report nothing.
#[derive(Debug, Default)]
pub struct PhaseTracker {
    /// The run last reported: (container id, started at), whether it was reported
    /// running (and ready), and whether its end was reported.
    run: Option<(String, String)>,
    ready: Option<bool>,
    ended: bool,
}

impl PhaseTracker {
    /// A `die` event of container `id`: ends the current run when it is that container's
    /// (a recreated service's old container dying is not the service exiting).
    pub fn died(&mut self, id: &str, exit_code: Option<i64>) -> Vec<Phase> {
        match &self.run {
            Some((run_id, _)) if run_id == id && !self.ended => {
                self.ended = true;
                self.ready = None;
                vec![Phase::Exited {
                    exit_code: exit_code.and_then(|c| i32::try_from(c).ok()),
                    reason: match exit_code {
                        Some(code) => format!("exited with code {code}"),
                        None => "exited".to_owned(),
                    },
                }]
            }
            _ => Vec::new(),
        }
    }

    /// A status from an inspect.
    pub fn observe(&mut self, status: &ContainerStatus) -> Vec<Phase> {
        let mut out = Vec::new();
        let run = (status.id.clone(), status.started_at.clone());
        match status.state {
            State::Running | State::Paused => {
                let ready = status.ready();
                if self.run.as_ref() != Some(&run) || self.ended || self.ready.is_none() {
                    self.run = Some(run);
                    self.ended = false;
                    self.ready = Some(ready);
                    out.push(Phase::Running { ready });
                } else if self.ready != Some(ready) {
                    self.ready = Some(ready);
                    out.push(Phase::Ready(ready));
                }
            }
            State::Exited | State::Dead => {
                // A run that was never seen running (it ended before the first inspect)
                // is reported too: its exit code is what the user needs.
                if self.run.as_ref() != Some(&run) || !self.ended {
                    self.run = Some(run);
                    self.ended = true;
                    self.ready = None;
                    out.push(Phase::Exited {
                        exit_code: status.exit_code.and_then(|c| i32::try_from(c).ok()),
                        reason: status.exit_reason(),
                    });
                }
            }
            // Between runs: the next `Running` reports the new run.
            State::Created | State::Restarting | State::Removing => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, started: &str, state: State, health: Option<Health>) -> ContainerStatus {
        ContainerStatus {
            id: id.into(),
            name: "p-web-1".into(),
            state,
            health,
            exit_code: (state == State::Exited).then_some(3),
            oom_killed: false,
            restarts: 0,
            started_at: started.into(),
            error: String::new(),
        }
    }

    #[test]
    fn health_checks_gate_readiness() {
        let mut t = PhaseTracker::default();
        let s = |h| status("a", "t1", State::Running, h);
        assert_eq!(
            t.observe(&s(Some(Health::Starting))),
            [Phase::Running { ready: false }]
        );
        assert_eq!(t.observe(&s(Some(Health::Starting))), []);
        assert_eq!(t.observe(&s(Some(Health::Healthy))), [Phase::Ready(true)]);
        assert_eq!(
            t.observe(&s(Some(Health::Unhealthy))),
            [Phase::Ready(false)]
        );
        assert_eq!(s(Some(Health::Unhealthy)).display(), "unhealthy");
    }

    #[test]
    fn exit_then_restart_is_a_new_run() {
        let mut t = PhaseTracker::default();
        assert_eq!(
            t.observe(&status("a", "t1", State::Running, None)),
            [Phase::Running { ready: true }]
        );
        let exited = status("a", "t1", State::Exited, None);
        assert_eq!(
            t.observe(&exited),
            [Phase::Exited {
                exit_code: Some(3),
                reason: "exited with code 3".into()
            }]
        );
        assert_eq!(t.observe(&exited), []);
        assert_eq!(t.observe(&status("a", "t1", State::Restarting, None)), []);
        assert_eq!(
            t.observe(&status("a", "t2", State::Running, None)),
            [Phase::Running { ready: true }]
        );
        assert_eq!(exited.display(), "exited with code 3");
    }

    #[test]
    fn a_die_event_ends_the_run_even_when_the_inspect_shows_it_restarted() {
        let mut t = PhaseTracker::default();
        t.observe(&status("a", "t1", State::Running, None));
        assert_eq!(t.died("other", Some(137)), []);
        assert_eq!(
            t.died("a", Some(7)),
            [Phase::Exited {
                exit_code: Some(7),
                reason: "exited with code 7".into()
            }]
        );
        assert_eq!(t.died("a", Some(7)), []);
        // The inspect that follows may still show the old run's end: nothing new.
        assert_eq!(t.observe(&status("a", "t1", State::Exited, None)), []);
        assert_eq!(
            t.observe(&status("a", "t2", State::Running, None)),
            [Phase::Running { ready: true }]
        );
    }

    #[test]
    fn a_recreated_container_is_a_new_run() {
        let mut t = PhaseTracker::default();
        t.observe(&status("a", "t1", State::Running, None));
        assert_eq!(t.observe(&status("a", "t1", State::Running, None)), []);
        assert_eq!(
            t.observe(&status("b", "t9", State::Running, None)),
            [Phase::Running { ready: true }]
        );
    }
}
