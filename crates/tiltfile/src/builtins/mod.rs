//! Tilt's builtins, one module per family. Each module has a `register` function that adds
//! its functions to the globals.

pub(crate) mod args;
mod browser;
pub(crate) mod compose;
pub(crate) mod config;
mod core;
mod docker;
mod encoding;
pub(crate) mod git;
mod helm;
mod io;
pub(crate) mod k8s;
mod live_update;
mod local;
mod local_resource;
pub(crate) mod os;
mod settings;
pub(crate) mod v1alpha1;

use starlark::environment::GlobalsBuilder;

/// Adds every Tilt builtin to `builder`.
pub(crate) fn register(builder: &mut GlobalsBuilder) {
    core::register(builder);
    os::register(builder);
    io::register(builder);
    encoding::register(builder);
    git::register(builder);
    local::register(builder);
    settings::register(builder);
    local_resource::register(builder);
    docker::register(builder);
    live_update::register(builder);
    k8s::register(builder);
    helm::register(builder);
    compose::register(builder);
    v1alpha1::register(builder);
    browser::register(builder);
}
