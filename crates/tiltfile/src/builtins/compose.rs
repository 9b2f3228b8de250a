//! `docker_compose` and `dc_resource`: Compose services as resources, and their assembly
//! into manifests (image matching, Compose-built images, links, dependencies).

#![expect(
    clippy::too_many_arguments,
    reason = "builtins take Tilt's keyword parameters one by one"
)]
#![expect(
    non_snake_case,
    reason = "docker_compose's first parameter is named configPaths"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use lilt_manifest::{ImageRef, RefSelector};
use lilt_model::{
    BuildDetails, ComposeProject, DeployTarget, DockerComposeBuild, DockerComposeTarget, IgnoreSet,
    ImageTarget, Link, LiveUpdate, Manifest, TriggerMode,
};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::none::NoneType;
use starlark::values::{Value, ValueLike};

use crate::builtins::args;
use crate::compose_file::{self, ProjectInput, Service};
use crate::state::TiltState;
use crate::values::Blob;

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    compose_builtins(builder);
}

/// Every Compose project the Tiltfile declared, in first-declaration order.
#[derive(Default)]
pub(crate) struct ComposeState {
    pub(crate) projects: Vec<ProjectDecl>,
}

pub(crate) struct ProjectDecl {
    pub(crate) project: ComposeProject,
    /// Services as resources, in Compose order; names are resource names (after renames).
    pub(crate) services: Vec<ServiceDecl>,
    /// `dc_resource` options by resource name; they survive a re-read of the project.
    options: HashMap<String, DcOptions>,
    source_tiltfile: String,
}

pub(crate) struct ServiceDecl {
    pub(crate) name: String,
    pub(crate) parsed: Service,
}

/// What `dc_resource` set on a service.
#[derive(Debug, Clone, Default)]
struct DcOptions {
    image_from_user: Option<String>,
    trigger_auto: Option<bool>,
    infer_links: Option<bool>,
    links: Vec<Link>,
    auto_init: Option<bool>,
    labels: Vec<String>,
    resource_deps: Vec<String>,
}

impl ComposeState {
    pub(crate) fn service_count(&self) -> usize {
        self.projects.iter().map(|p| p.services.len()).sum()
    }

    pub(crate) fn has_service(&self, name: &str) -> bool {
        self.projects
            .iter()
            .any(|p| p.services.iter().any(|s| s.name == name))
    }
}

/// Tilt's single namespace for resource names: a Compose service may not reuse a
/// `local_resource` name and vice versa.
pub(crate) fn check_resource_conflict(state: &TiltState, name: &str) -> anyhow::Result<()> {
    if state
        .decl
        .borrow()
        .local_resources
        .iter()
        .any(|r| r.name == name)
    {
        bail!("local_resource named {name:?} already exists");
    }
    if state.compose.borrow().has_service(name) {
        bail!("dc_resource named {name:?} already exists");
    }
    Ok(())
}

/// Blobs are written to files (Compose runs from files): one per content, in a per-user
/// temp directory, named after a hash of the text so reloads reuse it.
fn write_blob(text: &str) -> anyhow::Result<PathBuf> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let dir = std::env::temp_dir().join("lilt-compose");
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("unable to store yaml blob: {}: {e}", dir.display()))?;
    let path = dir.join(format!("{hash:016x}.yml"));
    std::fs::write(&path, text)
        .map_err(|e| anyhow::anyhow!("unable to store yaml blob: {}: {e}", path.display()))?;
    Ok(path)
}

fn docker_compose_impl(
    state: &TiltState,
    config_paths: Value<'_>,
    env_file: Value<'_>,
    project_name: &str,
    profiles: Value<'_>,
    wait: bool,
) -> anyhow::Result<NoneType> {
    let items = if config_paths.is_none() {
        Vec::new()
    } else {
        args::sequence(config_paths).unwrap_or_else(|| vec![config_paths])
    };
    let items: Vec<Value<'_>> = items.into_iter().filter(|v| !v.is_none()).collect();
    if items.is_empty() {
        bail!("Nothing to compose");
    }
    let mut project = ComposeProject {
        name: project_name.to_owned(),
        profiles: args::string_list(Some(profiles), "profiles")?,
        wait,
        ..ComposeProject::default()
    };
    if let Some(file) = args::opt_string(Some(env_file), "env_file")? {
        let path = state.abs(&file);
        state.record_config_file(path.clone());
        project.env_file = Some(path);
    }
    for item in items {
        if let Some(blob) = item.downcast_ref::<Blob>() {
            project.config_paths.push(write_blob(&blob.text)?);
            continue;
        }
        let Some(text) = item.unpack_str() else {
            bail!(
                "expected blob | path (string). Actual type: {}",
                go_type_name(item)
            );
        };
        let path = state.abs(text);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if project.project_path.as_os_str().is_empty() {
            project.project_path = dir.clone();
        }
        if project.name.is_empty() {
            let base = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            project.name = compose_file::normalize_project_name(&base);
        }
        state.record_config_file(path.clone());
        project.config_paths.push(path);
    }
    // Blobs only: the executing Tiltfile's directory stands in for the project's.
    let cwd = state.cwd();
    if project.name.is_empty() {
        let base = cwd
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        project.name = compose_file::normalize_project_name(&base);
    }
    if project.project_path.as_os_str().is_empty() {
        project.project_path = cwd;
    }
    let profiles_given = !profiles.is_none();
    if !profiles_given
        && let Some(env_profiles) = state.env_var("COMPOSE_PROFILES").filter(|p| !p.is_empty())
    {
        state.print(format!(
            "Compose project {:?} loading profiles from environment: {env_profiles}",
            project.name
        ));
        project.profiles = env_profiles.split(',').map(str::to_owned).collect();
    }

    // Calls with the same project name add files to it and re-read it.
    let existing = state
        .compose
        .borrow()
        .projects
        .iter()
        .position(|p| p.project.name == project.name);
    let project = match existing {
        Some(idx) => {
            let mut compose = state.compose.borrow_mut();
            let decl = &mut compose.projects[idx];
            for p in project.config_paths {
                if !decl.project.config_paths.contains(&p) {
                    decl.project.config_paths.push(p);
                }
            }
            if project.env_file.is_some() {
                decl.project.env_file = project.env_file;
            }
            // The re-read replaces this project's services, so they do not conflict.
            decl.services.clear();
            decl.project.clone()
        }
        None => project,
    };

    let env = state.env.borrow().clone();
    let services = compose_file::load_project(&ProjectInput {
        config_paths: &project.config_paths,
        project_path: &project.project_path,
        env_file: project.env_file.as_deref(),
        profiles: &project.profiles,
        env: &env,
    })?;
    let mut decls = Vec::new();
    for svc in services {
        check_resource_conflict(state, &svc.name)?;
        if decls.iter().any(|d: &ServiceDecl| d.name == svc.name) {
            bail!("dc_resource named {:?} already exists", svc.name);
        }
        for f in &svc.env_files {
            state.record_config_file(f.clone());
        }
        decls.push(ServiceDecl {
            name: svc.name.clone(),
            parsed: svc,
        });
    }
    let mut compose = state.compose.borrow_mut();
    match existing {
        Some(idx) => compose.projects[idx].services = decls,
        None => compose.projects.push(ProjectDecl {
            project,
            services: decls,
            options: HashMap::new(),
            source_tiltfile: state.source_tiltfile(),
        }),
    }
    Ok(NoneType)
}

/// go.starlark.net's Go type names, which Tilt's error texts show.
fn go_type_name(value: Value<'_>) -> String {
    match value.get_type() {
        "bool" => "starlark.Bool".to_owned(),
        "int" => "starlark.Int".to_owned(),
        "float" => "starlark.Float".to_owned(),
        "dict" => "*starlark.Dict".to_owned(),
        "list" => "*starlark.List".to_owned(),
        "tuple" => "starlark.Tuple".to_owned(),
        other => other.to_owned(),
    }
}

fn dc_resource_impl(
    state: &TiltState,
    name: &str,
    image: Value<'_>,
    trigger_mode: Value<'_>,
    resource_deps: Value<'_>,
    infer_links: Value<'_>,
    links: Value<'_>,
    labels: Value<'_>,
    auto_init: Value<'_>,
    project_name: &str,
    new_name: &str,
) -> anyhow::Result<NoneType> {
    if name.is_empty() {
        bail!("dc_resource: `name` must not be empty");
    }
    let image = match image {
        v if v.is_none() => None,
        v => match v.unpack_str() {
            Some(s) => {
                ImageRef::parse(s).map_err(|e| anyhow::anyhow!("{e}"))?;
                Some(s.to_owned())
            }
            None => bail!("image arg must be a string; got {}", go_type_name(v)),
        },
    };
    let trigger = args::trigger_mode(Some(trigger_mode))?;
    let links = args::links(Some(links))?;
    let labels = args::labels(Some(labels))?;
    let deps = args::string_list(Some(resource_deps), "dc_resource: resource_deps")?;
    let infer_links = bool_arg(infer_links, "infer_links")?;
    let auto_init = bool_arg(auto_init, "auto_init")?;

    // Find the service, across projects unless `project_name` narrows it.
    let (pidx, mut name) = {
        let compose = state.compose.borrow();
        let mut found = None;
        let mut all = Vec::new();
        for (i, p) in compose.projects.iter().enumerate() {
            if !project_name.is_empty() && p.project.name != project_name {
                continue;
            }
            for s in &p.services {
                if s.name == name {
                    if found.is_some() {
                        bail!(
                            "found multiple resources named {name:?}, please specify which one with project_name= argument"
                        );
                    }
                    found = Some(i);
                }
                all.push(s.name.clone());
            }
        }
        match found {
            Some(i) => (i, name.to_owned()),
            None => bail!(
                "no Docker Compose service found with name {name:?}. Found these instead:\n\t{}",
                all.join("; ")
            ),
        }
    };
    if !new_name.is_empty() {
        check_resource_conflict(state, new_name)?;
        let mut compose = state.compose.borrow_mut();
        let project = &mut compose.projects[pidx];
        if let Some(opts) = project.options.remove(&name) {
            project.options.insert(new_name.to_owned(), opts);
        }
        for svc in &mut project.services {
            if svc.name == name {
                svc.name = new_name.to_owned();
            } else if let Some(pos) = svc.parsed.depends_on.iter().position(|d| *d == name) {
                svc.parsed.depends_on[pos] = new_name.to_owned();
            }
        }
        for opts in project.options.values_mut() {
            for dep in &mut opts.resource_deps {
                if *dep == name {
                    *dep = new_name.to_owned();
                }
            }
        }
        name = new_name.to_owned();
    }
    let mut compose = state.compose.borrow_mut();
    let opts = compose.projects[pidx].options.entry(name).or_default();
    if trigger.is_some() {
        opts.trigger_auto = trigger;
    }
    if infer_links.is_some() {
        opts.infer_links = infer_links;
    }
    opts.links.extend(links);
    for l in labels {
        if !opts.labels.contains(&l) {
            opts.labels.push(l);
        }
    }
    if image.is_some() {
        opts.image_from_user = image;
    }
    for d in deps {
        if !opts.resource_deps.contains(&d) {
            opts.resource_deps.push(d);
        }
    }
    if auto_init.is_some() {
        opts.auto_init = auto_init;
    }
    Ok(NoneType)
}

fn bool_arg(value: Value<'_>, what: &str) -> anyhow::Result<Option<bool>> {
    if value.is_none() {
        return Ok(None);
    }
    match value.unpack_bool() {
        Some(b) => Ok(Some(b)),
        None => bail!("{what}: expected a bool, got {}", value.get_type()),
    }
}

#[starlark_module]
fn compose_builtins(builder: &mut GlobalsBuilder) {
    fn docker_compose<'v>(
        configPaths: Value<'v>,
        #[starlark(default = NoneType)] env_file: Value<'v>,
        #[starlark(default = "")] project_name: &str,
        #[starlark(default = NoneType)] profiles: Value<'v>,
        #[starlark(default = false)] wait: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        docker_compose_impl(state, configPaths, env_file, project_name, profiles, wait)
    }

    fn dc_resource<'v>(
        name: &str,
        #[starlark(default = NoneType)] image: Value<'v>,
        #[starlark(default = NoneType)] trigger_mode: Value<'v>,
        #[starlark(default = NoneType)] resource_deps: Value<'v>,
        #[starlark(default = NoneType)] infer_links: Value<'v>,
        #[starlark(default = NoneType)] links: Value<'v>,
        #[starlark(default = NoneType)] labels: Value<'v>,
        #[starlark(default = NoneType)] auto_init: Value<'v>,
        #[starlark(default = "")] project_name: &str,
        #[starlark(default = "")] new_name: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        dc_resource_impl(
            state,
            name,
            image,
            trigger_mode,
            resource_deps,
            infer_links,
            links,
            labels,
            auto_init,
            project_name,
            new_name,
        )
    }
}

/// What Compose assembly produced.
pub(crate) struct Assembled {
    pub(crate) manifests: Vec<Manifest>,
    /// Images a Compose service uses (declared ones matched, plus Compose-built ones).
    pub(crate) matched_images: Vec<String>,
    /// Image names the services consume, for "did you mean" suggestions.
    pub(crate) consumed_names: Vec<String>,
}

/// Turns the Compose declarations into manifests. `images` are the declared builds.
pub(crate) fn assemble(
    state: &TiltState,
    images: &[ImageTarget],
    default_auto: bool,
) -> Result<Assembled, String> {
    let compose = state.compose.borrow();
    let mut out = Assembled {
        manifests: Vec::new(),
        matched_images: Vec::new(),
        consumed_names: Vec::new(),
    };
    if compose.service_count() == 0 {
        return Ok(out);
    }
    if state.decl.borrow().k8s.default_registry.is_some() {
        return Err("default_registry is not supported with docker compose".to_owned());
    }
    let selectors: Vec<Option<RefSelector>> = images
        .iter()
        .map(|i| RefSelector::parse(&i.image_ref).ok())
        .collect();
    for project in &compose.projects {
        for svc in &project.services {
            let opts = project.options.get(&svc.name).cloned().unwrap_or_default();
            let image_name = opts
                .image_from_user
                .clone()
                .or_else(|| svc.parsed.image.clone())
                .unwrap_or_else(|| format!("{}_{}", project.project.name, svc.parsed.name));
            let consumed = ImageRef::parse(&image_name).map_err(|e| {
                format!(
                    "getting service {}: Error parsing image name {image_name:?}: {e}",
                    svc.parsed.name
                )
            })?;
            let familiar = consumed.familiar_name();
            if !out.consumed_names.contains(&familiar) {
                out.consumed_names.push(familiar);
            }
            let matched = selectors
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.matches(&consumed)));
            let mut image_targets = Vec::new();
            match matched {
                Some(idx) => {
                    let image = &images[idx];
                    if !image.entrypoint.is_empty() {
                        return Err(
                            "docker_build/custom_build.entrypoint not supported for Docker Compose resources"
                                .to_owned(),
                        );
                    }
                    // Images this one is built from (transitively) come first.
                    for target in crate::k8s_assemble::targets_with_deps(images, &[idx])? {
                        out.matched_images.push(target.image_ref.clone());
                        image_targets.push(target);
                    }
                }
                None => {
                    if let Some((context, dockerfile)) = &svc.parsed.build
                        && !context.is_empty()
                    {
                        image_targets.push(compose_build_image(
                            state,
                            &consumed.familiar_string(),
                            &svc.parsed,
                            context,
                            dockerfile,
                        ));
                    }
                }
            }
            let mut deps: Vec<String> = svc.parsed.depends_on.clone();
            deps.sort();
            deps.dedup();
            for d in &opts.resource_deps {
                if !deps.contains(d) {
                    deps.push(d.clone());
                }
            }
            let infer_links = opts.infer_links.unwrap_or(true);
            let mut endpoint_links: Vec<Link> = if infer_links {
                svc.parsed
                    .published_ports
                    .iter()
                    .map(|p| Link {
                        url: format!("http://localhost:{p}/"),
                        name: String::new(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            endpoint_links.extend(opts.links.iter().cloned());
            let target = DockerComposeTarget {
                service: svc.parsed.name.clone(),
                project: project.project.clone(),
                service_yaml: compose_file::service_yaml(&svc.parsed.config),
                image_maps: image_targets.iter().map(|i| i.image_ref.clone()).collect(),
                published_ports: svc.parsed.published_ports.clone(),
                infer_links,
                links: opts.links.clone(),
                endpoint_links,
                mounted_paths: svc.parsed.bind_mounts.clone(),
            };
            out.manifests.push(Manifest {
                name: svc.name.clone(),
                image_targets,
                deploy: DeployTarget::DockerCompose(target),
                trigger_mode: TriggerMode::from_parts(
                    opts.trigger_auto.unwrap_or(default_auto),
                    opts.auto_init.unwrap_or(true),
                ),
                resource_deps: deps,
                labels: opts.labels.iter().map(|l| (l.clone(), l.clone())).collect(),
                source_tiltfile: project.source_tiltfile.clone(),
            });
        }
    }
    Ok(out)
}

/// A `DockerComposeBuild` image: Compose builds it; Tilt watches the context but not
/// the Dockerfile (read by Compose) nor bind-mounted sources (the container sees them).
fn compose_build_image(
    state: &TiltState,
    selector: &str,
    svc: &Service,
    context: &str,
    dockerfile: &str,
) -> ImageTarget {
    let context = PathBuf::from(context);
    let dockerfile = if Path::new(dockerfile).is_absolute() {
        PathBuf::from(dockerfile)
    } else {
        context.join(dockerfile)
    };
    let mut watch_ignores = crate::ignores::repo_ignores([dockerfile.as_path(), context.as_path()]);
    watch_ignores.extend(crate::ignores::build_dir_ignores(
        state,
        std::slice::from_ref(&context),
        &[],
        &[],
        Some(&dockerfile),
    ));
    watch_ignores.push(IgnoreSet {
        base_path: dockerfile.clone(),
        patterns: Vec::new(),
    });
    for mount in &svc.bind_mounts {
        watch_ignores.push(IgnoreSet {
            base_path: mount.clone(),
            patterns: Vec::new(),
        });
    }
    ImageTarget {
        image_ref: selector.to_owned(),
        build: BuildDetails::DockerCompose(DockerComposeBuild {
            service: svc.name.clone(),
            context,
            dockerfile,
            watch_ignores,
        }),
        live_update: LiveUpdate::default(),
        match_in_env_vars: false,
        entrypoint: Vec::new(),
        container_args: None,
        image_deps: Vec::new(),
    }
}

/// The unused-image warning when Compose services exist (Tilt reports the first one).
pub(crate) fn unused_image_warning(image_ref: &str, consumed: &[String]) -> String {
    let name = ImageRef::parse(image_ref)
        .map(|r| r.familiar_name())
        .unwrap_or_else(|_| image_ref.to_owned());
    let suggestions = closest(&name, consumed, 3);
    let mut text = format!("Image not used in any Docker Compose config:\n    ✕ {image_ref}\n");
    if !suggestions.is_empty() {
        text.push_str("Did you mean…\n");
        for s in suggestions {
            text.push_str(&format!("    - {s}\n"));
        }
    }
    text.push_str(&format!(
        "Skipping this image build\nIf this is deliberate, suppress this warning with: update_settings(suppress_unused_image_warnings=[{image_ref:?}])"
    ));
    text
}

/// Candidates ranked by shared character n-grams (sizes 2 to 4), as Tilt's closestmatch.
fn closest(target: &str, candidates: &[String], n: usize) -> Vec<String> {
    let grams = |s: &str| -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        let mut out = Vec::new();
        for size in 2..=4 {
            for w in chars.windows(size) {
                out.push(w.iter().collect());
            }
        }
        out
    };
    let t = grams(target);
    let mut scored: Vec<(usize, &String)> = candidates
        .iter()
        .map(|c| {
            let g = grams(c);
            (g.iter().filter(|x| t.contains(x)).count(), c)
        })
        .filter(|(score, _)| *score > 0)
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    scored.into_iter().take(n).map(|(_, c)| c.clone()).collect()
}
