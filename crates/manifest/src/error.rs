//! The errors of this crate. Texts that Tilt users grep for (tilt-compat.md Appendix B) are
//! kept word for word, so some fragments start with a capital letter.

use thiserror::Error;

/// Why a Docker image reference did not parse. The texts are those of Docker's reference
/// library, which Tilt shows unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct ImageRefError {
    /// The text that failed to parse.
    pub input: String,
    pub reason: String,
}

impl ImageRefError {
    pub(crate) fn new(input: &str, reason: impl Into<String>) -> ImageRefError {
        ImageRefError {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Everything that can go wrong while reading, grouping or rewriting Kubernetes objects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    /// The YAML text itself is malformed.
    #[error("line {line} column {column}: {message}")]
    Yaml {
        line: u64,
        column: u64,
        message: String,
    },

    /// A YAML document parsed but is not a Kubernetes object (not a mapping, or no kind).
    #[error("yaml document {document}: {reason}")]
    NotAnObject { document: usize, reason: String },

    /// An image reference inside an object is malformed.
    #[error("finding images in {object}: parsing {reference}: {source}")]
    ImageInObject {
        object: String,
        reference: String,
        source: ImageRefError,
    },

    /// An image reference given by the caller is malformed.
    #[error("parsing image reference {:?}: {source}", source.input)]
    ImageRef {
        #[from]
        source: ImageRefError,
    },

    /// `docker_build`/`custom_build` declared the same ref twice.
    #[error("Image for ref {reference:?} has already been defined")]
    DuplicateImage { reference: String },

    /// Applying a registry produced a name Docker does not accept.
    #[error("Error parsing {rewritten} after applying default registry {host}: {source}")]
    Registry {
        rewritten: String,
        host: String,
        source: ImageRefError,
    },

    /// A JSONPath expression (from `k8s_kind` or `k8s_image_json_path`) does not parse.
    #[error("{message}")]
    JsonPathSyntax { path: String, message: String },

    /// A JSONPath expression parsed but failed on an object (Tilt's text).
    #[error("Matching (json_path={path:?}): {message}")]
    JsonPathEval { path: String, message: String },

    /// A JSONPath image locator matched something that is not a string (Tilt's text).
    #[error("May only match strings (json_path={path:?})\nGot Type: {found}")]
    JsonPathNotString { path: String, found: String },

    /// An `image_object` locator matched something that is not a map (Tilt's text).
    #[error("May only match maps (json_path={path:?})\nGot Type: {found}")]
    JsonPathNotMap { path: String, found: String },

    /// A `k8s_kind`/`filter_yaml` regexp does not compile (Tilt's text).
    #[error("error parsing {field} regexp: {message}")]
    InvalidRegex {
        field: &'static str,
        message: String,
    },

    /// An object selector `name[:kind[:namespace]]` is malformed (Tilt's text).
    #[error("Error making selector from string {selector:?}: {message}")]
    InvalidSelector { selector: String, message: String },

    /// `k8s_resource` without a workload name or a new name (Tilt's text).
    #[error(
        "Resource name missing. Must give a name for an existing resource or a new_name to create a new resource."
    )]
    MissingResourceName,

    /// `k8s_resource(new_name=...)` without objects (Tilt's text).
    #[error(
        "k8s_resource doesn't specify a workload or any objects. All non-workload resources must specify 1 or more objects"
    )]
    NoObjects,

    /// `k8s_resource` named a workload that does not exist (Tilt's text).
    #[error("{}k8s_resource specified unknown resource {name:?}. known k8s resources: {}", prefix(position), known.join(", "))]
    UnknownResource {
        position: String,
        name: String,
        known: Vec<String>,
    },

    /// A resource of that name already exists (Tilt's text).
    #[error("{existing_kind} named {name:?} already exists")]
    ResourceExists { name: String, existing_kind: String },

    /// `k8s_resource(new_name=)` renames onto a taken name (Tilt's text).
    #[error(
        "{}k8s_resource specified to rename {from:?} to {to:?}: {existing_kind} named {to:?} already exists",
        prefix(position)
    )]
    RenameConflict {
        position: String,
        from: String,
        to: String,
        existing_kind: String,
    },

    /// An object fragment matches nothing at all (Tilt's text).
    #[error(
        "No object identified by the fragment {fragment:?} could be found. Possible objects are: {}",
        quoted(candidates)
    )]
    FragmentNotFound {
        fragment: String,
        candidates: Vec<String>,
    },

    /// An object fragment matches more than one object (Tilt's text).
    #[error(
        "{fragment:?} is not a unique fragment. Objects that match {fragment:?} are {}",
        quoted(matches)
    )]
    FragmentNotUnique {
        fragment: String,
        matches: Vec<String>,
    },

    /// An object fragment names an object another resource already took (Tilt's text).
    #[error(
        "No object identified by the fragment {fragment:?} could be found in remaining YAML. Valid remaining fragments are: {}",
        quoted(remaining)
    )]
    FragmentAlreadyTaken {
        fragment: String,
        remaining: Vec<String>,
    },

    /// The `workload_to_resource_function` callback failed.
    #[error(
        "{}error applying workload_to_resource_function: error determining resource name for '{object}': {message}",
        prefix(position)
    )]
    NamingFunction {
        position: String,
        object: String,
        message: String,
    },

    /// Two workloads got the same name from `workload_to_resource_function` (Tilt's text).
    #[error(
        "{}error applying workload_to_resource_function: both '{first}' and '{second}' mapped to resource name '{name}'",
        prefix(position)
    )]
    NameCollision {
        position: String,
        first: String,
        second: String,
        name: String,
    },

    /// A resource ended up with no objects (Tilt's text).
    #[error(
        "resource {name:?}: could not associate any k8s_yaml() or k8s_custom_deploy() with this resource"
    )]
    EmptyResource { name: String },

    /// `k8s_yaml` registered the same object twice (Tilt's text).
    #[error(
        "Duplicate YAML: {object}\nIgnore this error with k8s_yaml(..., allow_duplicates=True)\nYAML originally registered at: {first_registered_at}"
    )]
    DuplicateYaml {
        object: String,
        first_registered_at: String,
    },

    /// A built image was not found in the resource's objects at deploy time (Tilt's text).
    #[error("Docker image missing from yaml: {image}")]
    ImageMissingFromYaml { image: String },

    /// `entrypoint`/`container_args` found no container to go into (Tilt's text).
    #[error(
        "could not inject command {command:?} into entity: {object}. No container found matching ref: {reference}. Note: command overrides only supported on containers with images, not on CRDs"
    )]
    CommandInjection {
        command: Vec<String>,
        object: String,
        reference: String,
    },
}

fn prefix(position: &str) -> String {
    if position.is_empty() {
        String::new()
    } else {
        format!("{position}: ")
    }
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
