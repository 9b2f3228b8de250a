//! Why a build could not run or failed. Every variant that concerns one image names it, so
//! the runner can show the message on the resource as it is.

use std::path::PathBuf;

/// A build failure. Messages are lowercase fragments, as elsewhere in lilt.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `DOCKER_HOST` or the docker context names a daemon lilt cannot talk to.
    #[error("docker host {host:?}: {message}")]
    Host { host: String, message: String },

    /// The docker context store (`$DOCKER_CONFIG/contexts`) could not be read.
    #[error("docker context {name:?}: {message}")]
    DockerContext { name: String, message: String },

    /// `config.json` of the docker CLI is unreadable or malformed.
    #[error("docker config {}: {message}", path.display())]
    Config { path: PathBuf, message: String },

    /// A credential helper failed (not "no credentials": that is not an error).
    #[error("credentials for {registry} from docker-credential-{helper}: {message}")]
    Credentials {
        registry: String,
        helper: String,
        message: String,
    },

    /// The daemon refused or failed a request outside the build itself.
    #[error("image {image}: docker daemon at {host}: {message}")]
    Daemon {
        image: String,
        host: String,
        message: String,
    },

    /// The Tiltfile ref (or a rewritten one) is not a valid image reference.
    #[error("image {image}: {message}")]
    Reference { image: String, message: String },

    /// An image listed in `image_deps` was not built earlier in the same request.
    #[error("image {image}: missing image dependency {dep} (it must be built before it)")]
    MissingDependency { image: String, dep: String },

    /// The ignore rules of the build context do not compile.
    #[error("image {image}: ignore rules of the build context: {message}")]
    Ignore { image: String, message: String },

    /// A file of the build context could not be read.
    #[error("image {image}: reading build context {}: {source}", path.display())]
    ContextRead {
        image: String,
        path: PathBuf,
        source: std::io::Error,
    },

    /// A file changed between hashing the inputs and sending it; the tag would lie about
    /// the content, so the build stops (the change itself triggers the next build).
    #[error("image {image}: {} changed while the build context was being sent", path.display())]
    ContextChanged { image: String, path: PathBuf },

    /// A `docker_build` parameter that needs a BuildKit session provider lilt does not
    /// have: its session (bollard's) serves registry credentials only, not ssh agents or
    /// secrets, and the classic builder supports neither.
    #[error(
        "image {image}: docker_build({param}=...) is not supported: it needs a BuildKit session that forwards ssh agents and secrets, and lilt's BuildKit session serves registry credentials only"
    )]
    NeedsBuildKit { image: String, param: &'static str },

    /// The Dockerfile could not be rewritten to use a dependency's built ref.
    #[error("image {image}: could not substitute image {dep} into the Dockerfile: {message}")]
    Inject {
        image: String,
        dep: String,
        message: String,
    },

    /// The daemon reported a failed build step.
    #[error("image {image}: build failed{}: {message}", step.as_ref().map(|s| format!(" at {s}")).unwrap_or_default())]
    BuildFailed {
        image: String,
        /// The step being run when it failed, e.g. `step 2/3 : RUN false`.
        step: Option<String>,
        message: String,
    },

    /// Pushing to the registry failed.
    #[error("image {image}: push of {reference} failed: {message}")]
    Push {
        image: String,
        reference: String,
        message: String,
    },

    /// A `custom_build` command could not be started.
    #[error("image {image}: custom_build command {command:?} could not start: {source}")]
    CommandSpawn {
        image: String,
        command: String,
        source: std::io::Error,
    },

    /// A `custom_build` command exited unsuccessfully.
    #[error("image {image}: custom_build command {command:?} failed: {status}")]
    CommandFailed {
        image: String,
        command: String,
        status: String,
    },

    /// A `custom_build` command succeeded but the image it was asked for is not there.
    #[error(
        "image {image}: custom_build command succeeded but did not produce {reference}: {message}"
    )]
    CommandOutput {
        image: String,
        reference: String,
        message: String,
    },

    /// An environment variable that steers builds has a value lilt cannot use.
    #[error("{var}: {message}")]
    Environment { var: &'static str, message: String },

    /// The build was cancelled (a newer change, shutdown).
    #[error("build cancelled")]
    Cancelled,
}

impl BuildError {
    /// The image the error concerns, when it concerns one.
    pub fn image(&self) -> Option<&str> {
        match self {
            BuildError::Daemon { image, .. }
            | BuildError::Reference { image, .. }
            | BuildError::MissingDependency { image, .. }
            | BuildError::Ignore { image, .. }
            | BuildError::ContextRead { image, .. }
            | BuildError::ContextChanged { image, .. }
            | BuildError::NeedsBuildKit { image, .. }
            | BuildError::Inject { image, .. }
            | BuildError::BuildFailed { image, .. }
            | BuildError::Push { image, .. }
            | BuildError::CommandSpawn { image, .. }
            | BuildError::CommandFailed { image, .. }
            | BuildError::CommandOutput { image, .. } => Some(image),
            BuildError::Host { .. }
            | BuildError::DockerContext { .. }
            | BuildError::Config { .. }
            | BuildError::Credentials { .. }
            | BuildError::Environment { .. }
            | BuildError::Cancelled => None,
        }
    }
}

/// A failed [`build_all`](crate::build_all): the error, with the images the request built
/// (or found up to date) before it, in request order, so the caller can use them.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BuildAllError {
    /// The images done before the failure.
    pub built: Vec<crate::BuiltImage>,
    /// What failed (names the image when it concerns one).
    pub error: BuildError,
}
