//! Kubernetes resources after execution (tilt-compat.md §1.0, §2.1, §2.2, §2.14): image
//! dependencies through `FROM` lines, the assembled resources turned into manifests with
//! their image targets, unused-image warnings, the context safety check and live-update
//! validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lilt_manifest::{ImageRef, K8sResource, PodReadiness, RefSelector, TriggerChoice};
use lilt_model::{
    BuildDetails, DepGraph, DeployTarget, ImageTarget, K8sTarget, Manifest, PodReadinessMode,
    TriggerMode, UNCATEGORIZED_RESOURCE,
};

use crate::state::TiltState;

/// Kubernetes manifests and what the unused-image warning needs.
pub(crate) struct K8sAssembled {
    /// k8s resources in creation order (custom deploys first).
    pub(crate) manifests: Vec<Manifest>,
    pub(crate) uncategorized: Option<Manifest>,
    /// Declared image refs some k8s resource deploys (directly or as a base image).
    pub(crate) matched_images: Vec<String>,
    /// Image names found in the YAML, for "Did you mean" suggestions.
    pub(crate) consumed_names: Vec<String>,
}

const ALL_UNRESOURCED_WARNING: &str = "No Kubernetes configs with images found.\n\
     If you are using CRDs, add k8s_kind() to tell Tilt how to find images.\n\
     https://docs.tilt.dev/api.html#api.k8s_kind";

const RESTART_CONTAINER_DEPRECATION: &str = "Found `restart_container()` LiveUpdate step in resource(s): [{}]. `restart_container()`  has been deprecated for k8s resources. We recommend the restart_process extension: https://github.com/tilt-dev/tilt-extensions/tree/master/restart_process. For more information, see https://docs.tilt.dev/live_update_reference.html#restarting-your-process";

/// The image refs a Dockerfile's `FROM` and `COPY --from=` lines name, with `ARG` defaults
/// declared before the first stage and `build_args` substituted. Stage names (`FROM a AS b`,
/// `FROM b`, `COPY --from=b` or a stage index) and `scratch` are not images. Like Tilt, every
/// stage counts, whatever `target=` builds.
pub(crate) fn from_images(
    dockerfile: &str,
    build_args: &[(String, Option<String>)],
) -> Vec<String> {
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut seen_from = false;
    // Line continuations join physical lines into one instruction.
    let joined = dockerfile.replace("\\\r\n", " ").replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match instr.to_ascii_uppercase().as_str() {
            "ARG" if !seen_from => {
                for decl in rest.split_whitespace() {
                    let (k, v) = decl.split_once('=').unwrap_or((decl, ""));
                    let given = build_args
                        .iter()
                        .find(|(name, _)| name == k)
                        .and_then(|(_, v)| v.clone());
                    args.insert(k.to_owned(), given.unwrap_or_else(|| unquote(v)));
                }
            }
            "FROM" => {
                seen_from = true;
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let Some(image) = words.first() else { continue };
                let image = substitute(image, &args);
                let is_stage = stages.contains(&image.to_ascii_lowercase());
                if let [_, as_kw, name] = words.as_slice()
                    && as_kw.eq_ignore_ascii_case("as")
                {
                    stages.push(name.to_ascii_lowercase());
                }
                if image.is_empty() || image == "scratch" || is_stage {
                    continue;
                }
                out.push(image);
            }
            // `COPY --from=<image>` copies out of another image; Tilt counts it as a
            // dependency too (a stage name is not an image).
            "COPY" => {
                for word in rest.split_whitespace().take_while(|w| w.starts_with("--")) {
                    let Some(from) = word.strip_prefix("--from=") else {
                        continue;
                    };
                    let image = substitute(from, &args);
                    let is_stage = stages.contains(&image.to_ascii_lowercase())
                        || image.chars().all(|c| c.is_ascii_digit());
                    if !image.is_empty() && !is_stage && !out.contains(&image) {
                        out.push(image);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn unquote(v: &str) -> String {
    v.trim_matches(|c| c == '"' || c == '\'').to_owned()
}

/// `$NAME`, `${NAME}` and `${NAME:-default}` from the build args.
fn substitute(text: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{')
            && let Some(end) = chars[i..].iter().position(|&c| c == '}')
        {
            let inner: String = chars[i + 2..i + end].iter().collect();
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n.to_owned(), Some(d.to_owned())),
                None => (inner.clone(), None),
            };
            match args.get(&name).filter(|v| !v.is_empty()) {
                Some(v) => out.push_str(v),
                None => out.push_str(&default.unwrap_or_default()),
            }
            i += end + 1;
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        out.push_str(args.get(&name).map(String::as_str).unwrap_or(""));
        i += 1 + name.chars().count();
    }
    out
}

/// Fills `image_deps` of `docker_build` images from their Dockerfiles' `FROM` lines.
pub(crate) fn resolve_image_deps(state: &TiltState) -> Result<(), String> {
    let mut decl = state.decl.borrow_mut();
    let selectors = selectors(&decl.images);
    let mut found: Vec<Vec<String>> = Vec::new();
    for image in &decl.images {
        let mut deps = Vec::new();
        if let BuildDetails::Docker(d) = &image.build {
            for from in from_images(&d.dockerfile_contents, &d.build_args) {
                let Ok(parsed) = ImageRef::parse(&from) else {
                    continue;
                };
                if let Some(idx) = selectors
                    .iter()
                    .position(|s| s.as_ref().is_some_and(|s| s.matches(&parsed)))
                {
                    let dep = decl.images[idx].image_ref.clone();
                    if !deps.contains(&dep) {
                        deps.push(dep);
                    }
                }
            }
        }
        found.push(deps);
    }
    for (image, deps) in decl.images.iter_mut().zip(found) {
        for dep in deps {
            if !image.image_deps.contains(&dep) {
                image.image_deps.push(dep);
            }
        }
    }
    Ok(())
}

fn selectors(images: &[ImageTarget]) -> Vec<Option<RefSelector>> {
    let refs: Vec<Option<ImageRef>> = images
        .iter()
        .map(|i| ImageRef::parse(&i.image_ref).ok())
        .collect();
    let valid: Vec<ImageRef> = refs.iter().flatten().cloned().collect();
    let mut built = RefSelector::for_builds(&valid)
        .unwrap_or_default()
        .into_iter();
    refs.iter()
        .map(|r| r.as_ref().and_then(|_| built.next()))
        .collect()
}

/// The image targets for `direct` (indices into `images`), each after its dependencies (a
/// base image is built before the images built `FROM` it).
pub(crate) fn targets_with_deps(
    images: &[ImageTarget],
    direct: &[usize],
) -> Result<Vec<ImageTarget>, String> {
    let mut graph = DepGraph::new(images.iter().map(|i| i.image_ref.as_str()));
    for image in images {
        for dep in &image.image_deps {
            if !images.iter().any(|i| i.image_ref == *dep) {
                return Err(format!(
                    "image {:?}: image dep {:?} not found",
                    image.image_ref, dep
                ));
            }
            graph.depends_on(&image.image_ref, dep);
        }
    }
    let roots: Vec<&str> = direct
        .iter()
        .map(|&i| images[i].image_ref.as_str())
        .collect();
    let needed = graph.deps_first(&roots);
    // Only a cycle among the images these resources need is an error, as in Tilt.
    let needed_images = images.iter().filter(|i| needed.contains(&i.image_ref));
    let mut sub = DepGraph::new(needed_images.clone().map(|i| i.image_ref.as_str()));
    for image in needed_images {
        for dep in &image.image_deps {
            sub.depends_on(&image.image_ref, dep);
        }
    }
    if let Some(cycle) = sub.cycle() {
        return Err(format!("Image dependency cycle: {}", cycle[0]));
    }
    Ok(needed
        .iter()
        .filter_map(|r| images.iter().find(|i| i.image_ref == *r).cloned())
        .collect())
}

fn readiness(p: PodReadiness) -> PodReadinessMode {
    match p {
        PodReadiness::Wait => PodReadinessMode::Wait,
        PodReadiness::Ignore => PodReadinessMode::Ignore,
        PodReadiness::Succeeded => PodReadinessMode::Succeeded,
    }
}

/// Turns the assembly recorded when the main Tiltfile ended into manifests.
pub(crate) fn translate(state: &TiltState, default_auto: bool) -> Result<K8sAssembled, String> {
    let assembly = match state.decl.borrow_mut().k8s.assembly.take() {
        Some(result) => result?,
        None => {
            return Ok(K8sAssembled {
                manifests: Vec::new(),
                uncategorized: None,
                matched_images: Vec::new(),
                consumed_names: Vec::new(),
            });
        }
    };
    let decl = state.decl.borrow();
    let images = &decl.images;
    let mut matched: Vec<String> = Vec::new();
    let mut consumed: Vec<String> = Vec::new();
    let mut manifests = Vec::new();

    let mut to_manifest = |r: &K8sResource| -> Result<Manifest, String> {
        for image_ref in &r.image_refs {
            let name = image_ref.familiar_name();
            if !consumed.contains(&name) {
                consumed.push(name);
            }
        }
        let mut direct: Vec<usize> = r.image_deps.clone();
        let custom = decl
            .k8s
            .custom_deploys
            .iter()
            .find(|d| r.custom_deploy && d.name == r.name);
        if let Some(custom) = custom {
            let sels = selectors(images);
            for dep in &custom.image_deps {
                let parsed = ImageRef::parse(dep).map_err(|e| e.to_string())?;
                let idx = sels
                    .iter()
                    .position(|s| s.as_ref().is_some_and(|s| s.matches(&parsed)))
                    .ok_or_else(|| {
                        format!(
                            "resource {:?}: image {dep:?} is required by k8s_custom_deploy(image_deps=) but no docker_build or custom_build declares it",
                            r.name
                        )
                    })?;
                if !direct.contains(&idx) {
                    direct.push(idx);
                }
            }
        }
        let image_targets = targets_with_deps(images, &direct)?;
        for t in &image_targets {
            if !matched.contains(&t.image_ref) {
                matched.push(t.image_ref.clone());
            }
        }
        let trigger_auto = match r.trigger_mode {
            Some(TriggerChoice::Auto) => true,
            Some(TriggerChoice::Manual) => false,
            None => default_auto,
        };
        let target = K8sTarget {
            yaml: if r.objects.is_empty() {
                String::new()
            } else {
                lilt_manifest::to_yaml(&r.objects)
            },
            // Live-update-only images are never injected (Tilt's FilterLiveUpdateOnly).
            image_maps: direct
                .iter()
                .filter(|&&i| !images[i].is_live_update_only())
                .map(|&i| images[i].image_ref.clone())
                .collect(),
            image_locators: r
                .image_locators
                .iter()
                .filter_map(|l| decl.k8s.locator_spec(l))
                .collect(),
            port_forwards: r.port_forwards.clone(),
            extra_pod_selectors: r.extra_pod_selectors.clone(),
            pod_readiness: readiness(r.pod_readiness),
            selectors_only: r.discovery_strategy
                == Some(lilt_manifest::DiscoveryStrategy::SelectorsOnly),
            links: r.links.clone(),
            custom_deploy: custom.map(|c| c.deploy.clone()),
        };
        Ok(Manifest {
            name: r.name.clone(),
            image_targets,
            deploy: DeployTarget::K8s(target),
            trigger_mode: TriggerMode::from_parts(trigger_auto, r.auto_init),
            resource_deps: r.resource_deps.clone(),
            labels: r.labels.clone(),
            source_tiltfile: String::new(),
        })
    };
    for r in &assembly.resources {
        manifests.push(to_manifest(r)?);
    }
    let uncategorized = match &assembly.uncategorized {
        Some(r) => {
            let mut m = to_manifest(r)?;
            m.name = UNCATEGORIZED_RESOURCE.to_owned();
            Some(m)
        }
        None => None,
    };
    Ok(K8sAssembled {
        manifests,
        uncategorized,
        matched_images: matched,
        consumed_names: consumed,
    })
}

/// The unused-image warning for a Tiltfile with Kubernetes YAML: Tilt reports only the
/// first unused image. `None` when there is nothing to say.
pub(crate) fn unused_image_warning(k8s: &K8sAssembled, first_unused: &str) -> Option<String> {
    if k8s.manifests.is_empty() && k8s.uncategorized.is_some() {
        return Some(ALL_UNRESOURCED_WARNING.to_owned());
    }
    let name = ImageRef::parse(first_unused)
        .map(|r| r.familiar_name())
        .unwrap_or_else(|_| first_unused.to_owned());
    let mut text = format!("Image not used in any Kubernetes config:\n    ✕ {first_unused}\n");
    let suggestions = closest(&name, &k8s.consumed_names, 3);
    if !suggestions.is_empty() {
        text.push_str("Did you mean…\n");
        for s in suggestions {
            text.push_str(&format!("    - {s}\n"));
        }
    }
    text.push_str(&format!(
        "Skipping this image build\nIf this is deliberate, suppress this warning with: update_settings(suppress_unused_image_warnings=[{first_unused:?}])"
    ));
    Some(text)
}

/// Candidates ranked by shared character n-grams of sizes 2 to 4 (Tilt uses the
/// closestmatch library with these bag sizes).
fn closest(target: &str, candidates: &[String], n: usize) -> Vec<String> {
    let grams = |s: &str| -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        (2..=4)
            .flat_map(|size| {
                chars
                    .windows(size)
                    .map(|w| w.iter().collect::<String>())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let t = grams(target);
    let mut scored: Vec<(usize, &String)> = candidates
        .iter()
        .map(|c| (grams(c).iter().filter(|g| t.contains(g)).count(), c))
        .filter(|(score, _)| *score > 0)
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    scored.into_iter().take(n).map(|(_, c)| c.clone()).collect()
}

/// The `allow_k8s_contexts` check, made when there is Kubernetes YAML to deploy.
pub(crate) fn check_context(state: &TiltState, k8s: &K8sAssembled) -> Result<(), String> {
    if (k8s.manifests.is_empty() && k8s.uncategorized.is_none())
        || crate::builtins::k8s::context_allowed(state)
    {
        return Ok(());
    }
    let ctx = &state.kube.context;
    Err(format!(
        "Stop! {ctx} might be production.\nIf you're sure you want to deploy there, add:\n\tallow_k8s_contexts('{ctx}')\nto your Tiltfile. Otherwise, switch k8s contexts and restart Tilt."
    ))
}

fn is_child_of_one(roots: &[PathBuf], path: &Path) -> bool {
    roots.iter().any(|r| path.starts_with(r))
}

/// Tilt's live-update checks for Kubernetes manifests: `restart_container()` is
/// deprecated there, and sync sources and fall_back_on paths must be under a watched path.
pub(crate) fn validate_live_updates(manifests: &[Manifest]) -> Result<(), String> {
    let restarting: Vec<&str> = manifests
        .iter()
        .filter(|m| {
            m.image_targets
                .iter()
                .any(|i| i.live_update.restart_container)
        })
        .map(|m| m.name.as_str())
        .collect();
    if !restarting.is_empty() {
        return Err(RESTART_CONTAINER_DEPRECATION.replace("{}", &restarting.join(", ")));
    }
    for m in manifests {
        for (idx, image) in m.image_targets.iter().enumerate() {
            if image.live_update.is_empty() {
                continue;
            }
            // The image and everything it is built from (they precede it in the list).
            let mut watched: Vec<PathBuf> = Vec::new();
            let mut stack = vec![image];
            let mut seen = Vec::new();
            while let Some(t) = stack.pop() {
                if seen.contains(&t.image_ref) {
                    continue;
                }
                seen.push(t.image_ref.clone());
                watched.extend(t.watched_paths());
                for dep in &t.image_deps {
                    if let Some(d) = m.image_targets[..idx].iter().find(|i| i.image_ref == *dep) {
                        stack.push(d);
                    }
                }
            }
            let shown = || {
                format!(
                    "[{}]",
                    watched
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            for sync in &image.live_update.syncs {
                if !is_child_of_one(&watched, &sync.local_path) {
                    return Err(format!(
                        "sync step source '{}' is not a child of any watched filepaths ({})",
                        sync.local_path.display(),
                        shown()
                    ));
                }
            }
            for path in &image.live_update.fall_back_on {
                let resolved = image.live_update.base_path.join(path);
                if !is_child_of_one(&watched, &resolved) {
                    return Err(format!(
                        "fall_back_on paths '{}' is not a child of any watched filepaths ({})",
                        resolved.display(),
                        shown()
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines_with_args_and_stages() {
        let df = "ARG BASE=base:1\nARG REG\nFROM ${REG}/builder AS build\nFROM $BASE\nFROM build\nFROM --platform=linux/amd64 scratch\n";
        let args = vec![("REG".to_owned(), Some("gcr.io/x".to_owned()))];
        assert_eq!(from_images(df, &args), ["gcr.io/x/builder", "base:1"]);
        let over = vec![("BASE".to_owned(), Some("other".to_owned()))];
        assert_eq!(from_images("ARG BASE=a\nFROM $BASE\n", &over), ["other"]);
        assert_eq!(
            from_images("ARG V\nFROM img:${V:-latest}\n", &[]),
            ["img:latest"]
        );
    }

    #[test]
    fn copy_from_an_image_is_a_dependency_but_not_from_a_stage() {
        let df = "ARG TOOLS=shop/tools\nFROM shop/base AS build\nCOPY --from=build /a /a\nFROM scratch\nCOPY --chown=1 --from=$TOOLS /bin/t /t\nCOPY --from=0 /b /b\n";
        assert_eq!(from_images(df, &[]), ["shop/base", "shop/tools"]);
    }

    #[test]
    fn closest_prefers_more_shared_ngrams() {
        let names = vec!["gcr.io/foo".to_owned(), "bar".to_owned(), "fooo".to_owned()];
        assert_eq!(closest("foo", &names, 3), ["fooo", "gcr.io/foo"]);
    }
}
