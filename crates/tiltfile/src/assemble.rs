//! Turns what the builtins recorded into a [`Plan`], after execution, in Tilt's order:
//! unused-image warnings, live-update step checks, local resources, dependency checks,
//! and resource selection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use lilt_model::{
    DepGraph, DeployTarget, IgnoreSet, LocalTarget, Manifest, Plan, TriggerMode,
    UNCATEGORIZED_RESOURCE,
};

use crate::state::{EnabledResources, TiltState};

const NO_DEPLOY_WARNING: &str = "We could not find any deployment instructions, e.g. `k8s_yaml` or `docker_compose`.\n\
     Skipping all image builds until we know how to deploy them.";

pub(crate) fn assemble(state: &TiltState, tiltignore_path: PathBuf) -> Result<Plan, String> {
    // Kubernetes comes first in Tilt's order: base images, then the assembled resources.
    crate::k8s_assemble::resolve_image_deps(state)?;
    let k8s_default_auto = {
        let decl = state.decl.borrow();
        decl.trigger_mode.as_ref().is_none_or(|(auto, _)| *auto)
    };
    let k8s = crate::k8s_assemble::translate(state, k8s_default_auto)?;
    let decl = state.decl.borrow();

    // Images no resource deploys are skipped, with a warning unless suppressed.
    let suppress = &decl.settings.update.suppress_unused_image_warnings;
    let default_auto = decl.trigger_mode.as_ref().is_none_or(|(auto, _)| *auto);
    let compose = crate::builtins::compose::assemble(state, &decl.images, default_auto)?;
    let unmatched: Vec<&String> = decl
        .images
        .iter()
        .map(|i| &i.image_ref)
        .filter(|r| !suppress.iter().any(|s| s == "*" || s == *r))
        .filter(|r| !compose.matched_images.contains(r))
        .filter(|r| !k8s.matched_images.contains(r))
        .collect();
    let mut warnings = Vec::new();
    let no_k8s = k8s.manifests.is_empty() && k8s.uncategorized.is_none();
    if let Some(first) = unmatched.first() {
        if compose.manifests.is_empty() && no_k8s {
            warnings.push(NO_DEPLOY_WARNING.to_owned());
        } else if compose.manifests.is_empty() || k8s.manifests.is_empty() && !no_k8s {
            warnings.extend(crate::k8s_assemble::unused_image_warning(&k8s, first));
        } else {
            warnings.push(crate::builtins::compose::unused_image_warning(
                first,
                &compose.consumed_names,
            ));
        }
    }

    crate::k8s_assemble::check_context(state, &k8s)?;
    crate::k8s_assemble::validate_live_updates(&k8s.manifests)?;

    let unused: Vec<&String> = decl
        .steps_created
        .iter()
        .filter(|(pos, _)| !decl.steps_used.contains(*pos))
        .map(|(_, description)| description)
        .collect();
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        return Err(format!(
            "found {} live_update steps that were created but not used in a live_update:\n{}",
            unused.len(),
            list.join("\n\t")
        ));
    }

    let mut manifests: Vec<Manifest> = k8s.manifests;
    manifests.extend(compose.manifests);
    manifests.extend(decl.local_resources.iter().map(|r| {
        Manifest {
            name: r.name.clone(),
            image_targets: Vec::new(),
            deploy: DeployTarget::Local(LocalTarget {
                update_cmd: r.update_cmd.clone(),
                serve_cmd: r.serve_cmd.clone(),
                deps: r.deps.clone(),
                ignores: local_ignores(r),
                allow_parallel: r.allow_parallel,
                readiness_probe: r.readiness_probe.clone(),
                links: r.links.clone(),
            }),
            trigger_mode: TriggerMode::from_parts(
                r.trigger_auto.unwrap_or(default_auto),
                r.auto_init,
            ),
            resource_deps: r.resource_deps.clone(),
            labels: r
                .labels
                .iter()
                .map(|l| (l.clone(), l.clone()))
                .collect::<BTreeMap<_, _>>(),
            source_tiltfile: r.source_tiltfile.clone(),
        }
    }));
    manifests.extend(k8s.uncategorized);

    warnings.extend(sanitize_dependencies(&mut manifests)?);
    let enabled = enabled_resources(state, &decl.config.enabled, &manifests)?;
    drop(decl);
    for w in warnings {
        state.warn(w);
    }

    let tiltignore = read_tiltignore(&tiltignore_path);
    let decl = state.decl.borrow();
    Ok(Plan {
        tiltfile: state.main_path.clone(),
        manifests,
        images: decl.images.clone(),
        enabled,
        config_files: Default::default(),
        tiltignore,
        settings: decl.settings.clone(),
        args: state.opts.args.clone(),
        buttons: crate::builtins::v1alpha1::buttons(&state.api.borrow())
            .into_iter()
            .chain(decl.buttons.iter().cloned())
            .collect(),
        env_changes: Vec::new(),
        api_objects: state.api.borrow().objects.clone(),
        default_registry: decl.k8s.default_registry.clone(),
        k8s_context: lilt_model::K8sContext {
            context: state.kube.context.clone(),
            namespace: crate::builtins::k8s::namespace(state, &decl.settings.update),
            cluster: state.kube.cluster.clone(),
            developer_namespace: state.opts.kube_namespace.is_some()
                || decl.settings.update.k8s_namespace.is_some(),
        },
        secrets: if decl.settings.secret_scrub {
            crate::builtins::k8s::secrets(state)
        } else {
            Vec::new()
        },
    })
}

/// The `.tiltignore` beside the main Tiltfile; an empty base path when there is none (as in
/// Tilt, where a missing file gives an empty `Dockerignore`).
fn read_tiltignore(path: &std::path::Path) -> IgnoreSet {
    match crate::paths::read_text(path) {
        Ok(text) => IgnoreSet {
            base_path: path.parent().map(PathBuf::from).unwrap_or_default(),
            patterns: lilt_model::paths::parse_ignore_file(&text),
        },
        Err(_) => IgnoreSet::default(),
    }
}

/// Drops unknown deps (with a warning), rejects self-dependencies and cycles.
fn sanitize_dependencies(manifests: &mut [Manifest]) -> Result<Vec<String>, String> {
    let known: HashSet<String> = manifests.iter().map(|m| m.name.clone()).collect();
    let mut warnings = Vec::new();
    for m in manifests.iter_mut() {
        let mut kept = Vec::new();
        for dep in &m.resource_deps {
            if *dep == m.name {
                return Err(format!(
                    "resource {} specified a dependency on itself",
                    m.name
                ));
            }
            if !known.contains(dep) {
                warnings.push(format!(
                    "resource {} specified a dependency on unknown resource {dep} - dependency ignored",
                    m.name
                ));
                continue;
            }
            if !kept.contains(dep) {
                kept.push(dep.clone());
            }
        }
        m.resource_deps = kept;
    }
    let mut graph = DepGraph::new(manifests.iter().map(|m| m.name.as_str()));
    for m in manifests.iter() {
        for dep in &m.resource_deps {
            graph.depends_on(&m.name, dep);
        }
    }
    if let Some(cycle) = graph.cycle() {
        return Err(format!(
            "cycle detected in resource dependency graph: {}",
            cycle.join(" -> ")
        ));
    }
    Ok(warnings)
}

/// Which resources run: all, the ones named (plus their transitive deps), or none.
fn enabled_resources(
    state: &TiltState,
    selection: &EnabledResources,
    manifests: &[Manifest],
) -> Result<Vec<String>, String> {
    let requested: Vec<String> = match selection {
        EnabledResources::None => return Ok(Vec::new()),
        EnabledResources::Explicit(names) => names.clone(),
        EnabledResources::FromArgs => {
            let parse_called = state.decl.borrow().config.parse_dir.is_some();
            if parse_called {
                Vec::new()
            } else {
                state.opts.args.clone()
            }
        }
    };
    if requested.is_empty() {
        return Ok(manifests.iter().map(|m| m.name.clone()).collect());
    }
    let by_name: HashMap<&str, &Manifest> =
        manifests.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut selected: HashSet<&str> = HashSet::new();
    let mut unknown = Vec::new();
    for name in &requested {
        if !by_name.contains_key(name.as_str()) {
            unknown.push(name.clone());
            continue;
        }
        let mut stack = vec![name.as_str()];
        while let Some(n) = stack.pop() {
            if selected.insert(n)
                && let Some(m) = by_name.get(n)
            {
                stack.extend(m.resource_deps.iter().map(String::as_str));
            }
        }
    }
    if !unknown.is_empty() {
        let quoted = |names: Vec<&str>| {
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let existing: Vec<&str> = manifests
            .iter()
            .map(|m| m.name.as_str())
            .filter(|n| !requested.iter().any(|r| r == n))
            .collect();
        return Err(format!(
            "You specified some resources that could not be found: {}\nIs this a typo? Existing resources in Tiltfile: {}",
            quoted(unknown.iter().map(String::as_str).collect()),
            quoted(existing)
        ));
    }
    Ok(manifests
        .iter()
        .filter(|m| selected.contains(m.name.as_str()) || m.name == UNCATEGORIZED_RESOURCE)
        .map(|m| m.name.clone())
        .collect())
}

/// A local resource's ignores as Tilt builds them: the `.git` of any repository root among
/// its deps and its Tiltfile's directory, then `ignore=` relative to that directory.
fn local_ignores(r: &crate::state::LocalResourceDecl) -> Vec<IgnoreSet> {
    let mut out = crate::ignores::repo_ignores(
        r.deps
            .iter()
            .map(|p| p.as_path())
            .chain(std::iter::once(r.dir.as_path())),
    );
    if !r.ignores.is_empty() {
        out.push(IgnoreSet {
            base_path: r.dir.clone(),
            patterns: r.ignores.clone(),
        });
    }
    out
}
