//! `lilt down`: evaluate the Tiltfile as `down` and delete what `up` deployed, dependents
//! first.
//!
//! Each resource is deleted by its runtime, through the same seam `lilt up` deploys with
//! (`lilt_runner::Runtimes::for_deploy`). Local resources leave nothing behind (their
//! processes end with `lilt up`). Runtimes that have not landed say which resources they
//! could not clean up, and `down` exits 1, as Tilt does when a delete fails.

use std::collections::BTreeSet;
use std::path::PathBuf;

use std::sync::Arc;

use lilt_model::{Manifest, Plan};
use lilt_runner::Runtimes;
use lilt_runner::runtime::{DeleteJob, DeleteOptions};
use lilt_tiltfile::LoadOptions;

pub(crate) struct DownOptions {
    pub(crate) file: PathBuf,
    pub(crate) args: Vec<String>,
    /// `--namespace`, as given to `lilt up`.
    pub(crate) namespace: Option<String>,
    pub(crate) delete: DeleteOptions,
}

pub(crate) fn run(opts: DownOptions) -> anyhow::Result<u8> {
    let mut load = LoadOptions::new(opts.file, "down");
    load.args = opts.args;
    load.kube_namespace = opts.namespace;
    let result = lilt_tiltfile::load(&load);
    for line in &result.log {
        println!("{}", line.text);
    }
    if let Some(error) = &result.error {
        eprintln!("Error: {error}");
        return Ok(1);
    }
    let plan = Arc::new(result.plan);
    let runtimes = Runtimes::standard();
    let registry = lilt_local::ProcessRegistry::new()?;
    // Delete commands (a k8s_custom_deploy's delete_cmd) see the Tiltfile's env changes, as in `up`.
    let launcher = lilt_local::Launcher::new(
        registry,
        lilt_runner::exec_env(&plan.env_changes, 10350, "localhost"),
    );
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failures = Vec::new();
    for manifest in down_order(&plan) {
        let job = DeleteJob {
            manifest: Arc::new(manifest.clone()),
            plan: plan.clone(),
            launcher: launcher.clone(),
            options: opts.delete.clone(),
        };
        if let Err(e) = tokio.block_on(runtimes.for_deploy(&manifest.deploy).delete(job)) {
            failures.push(e);
        }
    }
    for failure in &failures {
        eprintln!("Error: {failure}");
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}

/// The enabled resources, each after every resource that depends on it, in Tilt's order:
/// the Tiltfile's resources taken last to first, each preceded by its dependents (see
/// Tilt's `sortManifestsForDeletion`). On a graph whose edges run from a resource to its
/// dependents, that is `deps_first` from the resources in reverse order.
pub(crate) fn down_order(plan: &Plan) -> Vec<&Manifest> {
    let reversed: Vec<&Manifest> = plan.manifests.iter().rev().collect();
    let mut graph = lilt_model::DepGraph::new(reversed.iter().map(|m| m.name.as_str()));
    for m in &reversed {
        for dep in &m.resource_deps {
            if plan.manifest(dep).is_some() {
                graph.depends_on(dep, &m.name);
            }
        }
    }
    let roots: Vec<&str> = reversed.iter().map(|m| m.name.as_str()).collect();
    let enabled: BTreeSet<&str> = plan.enabled.iter().map(String::as_str).collect();
    graph
        .deps_first(&roots)
        .iter()
        .filter(|name| enabled.contains(name.as_str()))
        .filter_map(|name| plan.manifest(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lilt_model::{DeployTarget, LocalTarget, TriggerMode};

    fn manifest(name: &str, deps: &[&str]) -> Manifest {
        Manifest {
            name: name.to_owned(),
            image_targets: Vec::new(),
            deploy: DeployTarget::Local(LocalTarget::default()),
            trigger_mode: TriggerMode::Auto,
            resource_deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            labels: Default::default(),
            source_tiltfile: String::new(),
        }
    }

    #[test]
    fn dependents_come_before_their_dependencies() {
        let plan = Plan {
            manifests: vec![
                manifest("db", &[]),
                manifest("api", &["db"]),
                manifest("web", &["api"]),
                manifest("tool", &[]),
            ],
            enabled: vec!["db".into(), "api".into(), "web".into(), "tool".into()],
            ..Plan::default()
        };
        let names: Vec<&str> = down_order(&plan).iter().map(|m| m.name.as_str()).collect();
        // Tilt's order: last resource first, each after its dependents.
        assert_eq!(names, ["tool", "web", "api", "db"]);
    }

    #[test]
    fn only_enabled_resources_are_affected() {
        let plan = Plan {
            manifests: vec![manifest("a", &[]), manifest("b", &[])],
            enabled: vec!["b".into()],
            ..Plan::default()
        };
        let names: Vec<&str> = down_order(&plan).iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["b"]);
    }
}
