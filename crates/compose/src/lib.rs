//! Docker Compose for lilt: the user's Compose tool ([`cli`]) runs the services as the
//! Tiltfile resolved the project, with an override file that gives services built by
//! `docker_build` lilt's image; the Docker Engine API ([`docker`]) tells their status
//! (events and inspect, [`status`]) and streams their logs.

pub mod cli;
pub mod docker;
pub mod status;

use std::path::PathBuf;

pub use cli::{ComposeCommand, Flavor};
pub use docker::{Change, Daemon, LogCursor, ServiceKey};
pub use status::{ContainerStatus, Health, Phase, PhaseTracker, State};

/// What can go wrong driving Compose.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "no Docker Compose found: neither `docker compose` (the v2 plugin) nor `docker-compose` works; install one or set TILT_DOCKER_COMPOSE_CMD"
    )]
    NoComposeTool,
    #[error("cannot write the Compose override file {}: {source}", path.display())]
    Override {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use the Docker daemon: {0}")]
    Daemon(lilt_build::BuildError),
    #[error("Docker API: {0}")]
    Api(bollard::errors::Error),
}
