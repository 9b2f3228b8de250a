//! Watch specs and the pure mapping "changed paths → affected targets", with explanations
//! for `lilt why PATH`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use lilt_model::{BuildDetails, DeployTarget, IgnoreSet, ImageTarget, Plan, TILTFILE_RESOURCE};

use crate::error::IgnoreError;
use crate::matcher::{IgnoreHit, IgnoreSource, Matcher, SourcedIgnore, editor_temp_rule};
use crate::paths::{clean, is_under};

/// Identifies a watching target. Its text form is Tilt's `type:name` (`image:app`,
/// `local:api`, `k8s:deploy`, `configs:(Tiltfile)`); the variants are in that text's order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetId {
    /// The watch on the Tiltfile's config files: a change reloads the Tiltfile.
    Configs,
    /// An image's build inputs (by the ref the Tiltfile declared).
    Image(String),
    /// A `k8s_custom_deploy`'s deps (by resource name).
    K8s(String),
    /// A local resource's deps (by resource name).
    Local(String),
}

impl TargetId {
    pub fn image(image_ref: &str) -> TargetId {
        TargetId::Image(image_ref.to_owned())
    }

    pub fn local(resource: &str) -> TargetId {
        TargetId::Local(resource.to_owned())
    }

    pub fn k8s(resource: &str) -> TargetId {
        TargetId::K8s(resource.to_owned())
    }

    /// The watch on the Tiltfile's config files.
    pub fn configs() -> TargetId {
        TargetId::Configs
    }

    /// Reads the text form back (`None` for anything else).
    pub fn parse(text: &str) -> Option<TargetId> {
        let (kind, name) = text.split_once(':')?;
        match kind {
            "configs" if name == TILTFILE_RESOURCE => Some(TargetId::Configs),
            "image" => Some(TargetId::image(name)),
            "k8s" => Some(TargetId::k8s(name)),
            "local" => Some(TargetId::local(name)),
            _ => None,
        }
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetId::Configs => write!(f, "configs:{TILTFILE_RESOURCE}"),
            TargetId::Image(image) => write!(f, "image:{image}"),
            TargetId::K8s(name) => write!(f, "k8s:{name}"),
            TargetId::Local(name) => write!(f, "local:{name}"),
        }
    }
}

/// What one target watches: absolute paths (directories or files, existing or not) and its
/// own ignores. Global ignores are given separately to [`WatchSet::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    pub id: TargetId,
    pub paths: Vec<PathBuf>,
    pub ignores: Vec<SourcedIgnore>,
}

/// Why a change to a path does, or does not, reach one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The change triggers the target; `watched` is the (innermost) watched path holding it.
    Triggers {
        watched: PathBuf,
    },
    DoesNotTrigger(Reason),
}

/// Why a change does not trigger a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The path is under none of the target's watched paths.
    OutsideWatchedPaths { watched: Vec<PathBuf> },
    /// An ignore rule matched.
    Ignored(IgnoreHit),
    /// One of Tilt's built-in editor temp-file rules matched.
    EditorTempFile { pattern: &'static str },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::OutsideWatchedPaths { watched } => {
                f.write_str("outside every watched path (")?;
                for (idx, path) in watched.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", path.display())?;
                }
                f.write_str(")")
            }
            Reason::Ignored(hit) => write!(f, "{hit}"),
            Reason::EditorTempFile { pattern } => write!(
                f,
                "looks like an editor temp file (built-in rule {pattern:?}), which is always ignored"
            ),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Triggers { watched } => {
                write!(f, "triggers (under watched path {})", watched.display())
            }
            Verdict::DoesNotTrigger(reason) => write!(f, "does not trigger: {reason}"),
        }
    }
}

/// One target's verdict for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVerdict {
    pub target: TargetId,
    pub verdict: Verdict,
}

impl fmt::Display for TargetVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.verdict)
    }
}

/// The answer to `lilt why PATH`: a verdict for every target, in spec order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub path: PathBuf,
    pub verdicts: Vec<TargetVerdict>,
}

impl Explanation {
    pub fn triggered(&self) -> impl Iterator<Item = &TargetId> {
        self.verdicts
            .iter()
            .filter(|v| matches!(v.verdict, Verdict::Triggers { .. }))
            .map(|v| &v.target)
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.verdicts.is_empty() {
            return write!(f, "{}: no target watches any files", self.path.display());
        }
        writeln!(f, "{}:", self.path.display())?;
        for verdict in &self.verdicts {
            writeln!(f, "  {verdict}")?;
        }
        Ok(())
    }
}

/// All watching targets with their compiled ignores (own ignores first, then the global
/// ones). Pure: no I/O.
#[derive(Debug, Clone, Default)]
pub struct WatchSet {
    targets: Vec<CompiledTarget>,
}

#[derive(Debug, Clone)]
struct CompiledTarget {
    id: TargetId,
    paths: Vec<PathBuf>,
    matcher: Matcher,
}

impl WatchSet {
    /// Compiles the specs. A set with a bad pattern is skipped, as Tilt does, and reported.
    /// Specs without paths watch nothing and are dropped.
    pub fn build(specs: Vec<WatchSpec>, global: &[SourcedIgnore]) -> (WatchSet, Vec<IgnoreError>) {
        let mut errors = Vec::new();
        let mut targets = Vec::new();
        for spec in specs {
            if spec.paths.is_empty() {
                continue;
            }
            let mut sets = spec.ignores;
            sets.extend(global.iter().cloned());
            let (matcher, errs) = Matcher::best_effort(&sets);
            for e in errs {
                if !errors.contains(&e) {
                    errors.push(e);
                }
            }
            targets.push(CompiledTarget {
                id: spec.id,
                paths: spec.paths.iter().map(|p| clean(p)).collect(),
                matcher,
            });
        }
        (WatchSet { targets }, errors)
    }

    /// The watch specs Tilt would create for a Plan (`tiltfile/filewatch.go`): one per
    /// image, one per enabled local resource, one for the config files, with the global
    /// ignores (`.tiltignore`, `watch_settings`, `outputs_image_ref_to` files) separate.
    pub fn specs_from_plan(plan: &Plan) -> (Vec<WatchSpec>, Vec<SourcedIgnore>) {
        let mut specs = Vec::new();
        let mut seen_images = BTreeSet::new();
        let enabled: BTreeSet<&str> = plan.enabled.iter().map(String::as_str).collect();
        for manifest in &plan.manifests {
            if !enabled.contains(manifest.name.as_str()) {
                continue;
            }
            for image in &manifest.image_targets {
                if seen_images.insert(image.image_ref.clone()) {
                    specs.push(image_spec(image));
                }
            }
            match &manifest.deploy {
                DeployTarget::Local(local) => specs.push(WatchSpec {
                    id: TargetId::local(&manifest.name),
                    paths: local.deps.clone(),
                    ignores: local
                        .ignores
                        .iter()
                        .map(|set| {
                            let source = repository_source(set).unwrap_or_else(|| {
                                IgnoreSource::LocalResource {
                                    resource: manifest.name.clone(),
                                }
                            });
                            SourcedIgnore::new(source, set.clone())
                        })
                        .collect(),
                }),
                DeployTarget::K8s(k8s) => {
                    if let Some(custom) = &k8s.custom_deploy {
                        specs.push(WatchSpec {
                            id: TargetId::k8s(&manifest.name),
                            paths: custom.deps.clone(),
                            ignores: Vec::new(),
                        });
                    }
                }
                // A Compose service watches nothing itself; the images it builds do.
                DeployTarget::DockerCompose(_) => {}
            }
        }
        let config_paths = if plan.config_files.is_empty() {
            vec![plan.tiltfile.clone()]
        } else {
            plan.config_files.iter().cloned().collect()
        };
        specs.push(WatchSpec {
            id: TargetId::configs(),
            paths: config_paths,
            ignores: Vec::new(),
        });

        let mut global = Vec::new();
        // lilt's own files beside the Tiltfile (Compose override files, browser profiles, debug
        // logs) change while it runs: a build context or dep that holds them must not rebuild
        // on every write (an override written by each deploy would rebuild forever).
        if let Some(dir) = plan.tiltfile.parent().filter(|d| d.is_absolute()) {
            global.push(SourcedIgnore::new(
                IgnoreSource::Other("lilt's own state directory (.lilt)".to_owned()),
                IgnoreSet {
                    base_path: dir.join(".lilt"),
                    patterns: Vec::new(),
                },
            ));
        }
        // An empty .tiltignore means "no patterns", not "ignore the whole project".
        if !plan.tiltignore.patterns.is_empty() {
            global.push(SourcedIgnore::new(
                IgnoreSource::Tiltignore {
                    file: plan.tiltignore.base_path.join(".tiltignore"),
                },
                plan.tiltignore.clone(),
            ));
        }
        for set in &plan.settings.watch_ignores {
            global.push(SourcedIgnore::new(IgnoreSource::WatchSettings, set.clone()));
        }
        for image in &plan.images {
            if let BuildDetails::Custom(custom) = &image.build
                && let Some(file) = &custom.outputs_image_ref_to
            {
                global.push(SourcedIgnore::new(
                    IgnoreSource::OutputsImageRefTo { file: file.clone() },
                    IgnoreSet {
                        base_path: file.clone(),
                        patterns: Vec::new(),
                    },
                ));
            }
        }
        (specs, global)
    }

    /// Shorthand for [`WatchSet::specs_from_plan`] followed by [`WatchSet::build`].
    pub fn from_plan(plan: &Plan) -> (WatchSet, Vec<IgnoreError>) {
        let (specs, global) = WatchSet::specs_from_plan(plan);
        WatchSet::build(specs, &global)
    }

    pub fn targets(&self) -> impl Iterator<Item = &TargetId> {
        self.targets.iter().map(|t| &t.id)
    }

    /// Every target that at least one of `paths` (absolute, clean) triggers, in spec order.
    pub fn affected<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> Vec<TargetId> {
        let paths: Vec<&Path> = paths
            .into_iter()
            .filter(|p| editor_temp_rule(p).is_none())
            .collect();
        self.targets
            .iter()
            .filter(|t| paths.iter().any(|p| t.triggered_by(p)))
            .map(|t| t.id.clone())
            .collect()
    }

    /// Whether a change to `path` (absolute, clean) triggers any target: the watcher's
    /// event filter.
    pub fn is_relevant(&self, path: &Path) -> bool {
        editor_temp_rule(path).is_none() && self.targets.iter().any(|t| t.triggered_by(path))
    }

    /// For every target, whether a change to `path` triggers it and, if not, why.
    pub fn explain(&self, path: &Path) -> Explanation {
        let path = clean(path);
        let editor = editor_temp_rule(&path);
        let verdicts = self
            .targets
            .iter()
            .map(|t| TargetVerdict {
                target: t.id.clone(),
                verdict: t.verdict(&path, editor),
            })
            .collect();
        Explanation { path, verdicts }
    }

    /// Every watched path, with paths nested in another one dropped.
    pub fn roots(&self) -> Vec<PathBuf> {
        let all: BTreeSet<&PathBuf> = self.targets.iter().flat_map(|t| &t.paths).collect();
        let mut out: Vec<PathBuf> = Vec::new();
        // BTreeSet order puts a parent right before its children.
        for path in all {
            if !out.iter().any(|kept| is_under(path, kept)) {
                out.push(path.clone());
            }
        }
        out
    }

    /// Whether the walker may skip `dir` and everything under it: no target can be
    /// triggered by anything there. Watched paths and their ancestors are never skipped,
    /// so a watched path that does not exist yet is seen when it appears.
    pub fn should_skip_dir(&self, dir: &Path) -> bool {
        for target in &self.targets {
            for root in &target.paths {
                if is_under(root, dir) {
                    return false;
                }
                if is_under(dir, root) && !target.matcher.matches_entire_dir(dir) {
                    return false;
                }
            }
        }
        true
    }
}

impl CompiledTarget {
    fn triggered_by(&self, path: &Path) -> bool {
        self.paths.iter().any(|root| is_under(path, root)) && !self.matcher.matches(path)
    }

    fn verdict(&self, path: &Path, editor: Option<&'static str>) -> Verdict {
        let Some(watched) = self
            .paths
            .iter()
            .filter(|root| is_under(path, root))
            .max_by_key(|root| root.components().count())
        else {
            return Verdict::DoesNotTrigger(Reason::OutsideWatchedPaths {
                watched: self.paths.clone(),
            });
        };
        if let Some(pattern) = editor {
            return Verdict::DoesNotTrigger(Reason::EditorTempFile { pattern });
        }
        if let Some(hit) = self.matcher.explain(path) {
            return Verdict::DoesNotTrigger(Reason::Ignored(hit));
        }
        Verdict::Triggers {
            watched: watched.clone(),
        }
    }
}

/// A whole-directory ignore of a repository's `.git` (the Tiltfile adds one for each
/// repository root among a target's paths).
fn repository_source(set: &IgnoreSet) -> Option<IgnoreSource> {
    (set.patterns.is_empty() && set.base_path.file_name() == Some(std::ffi::OsStr::new(".git")))
        .then(|| IgnoreSource::Repository {
            git_dir: set.base_path.clone(),
        })
}

fn image_spec(image: &ImageTarget) -> WatchSpec {
    let id = TargetId::image(&image.image_ref);
    match &image.build {
        BuildDetails::Docker(docker) => {
            let ignores = docker
                .watch_ignores
                .iter()
                .map(|set| {
                    let dockerfile = docker
                        .dockerfile_path
                        .clone()
                        .unwrap_or_else(|| docker.context.join("Dockerfile"));
                    let source = if let Some(repo) = repository_source(set) {
                        repo
                    } else if set.patterns.is_empty() && set.base_path == dockerfile {
                        IgnoreSource::Dockerfile {
                            file: set.base_path.clone(),
                        }
                    } else if set.patterns.is_empty() {
                        IgnoreSource::Tiltfile {
                            file: set.base_path.clone(),
                        }
                    } else {
                        IgnoreSource::DockerBuild {
                            image: image.image_ref.clone(),
                        }
                    };
                    SourcedIgnore::new(source, set.clone())
                })
                .collect();
            WatchSpec {
                id,
                paths: vec![docker.context.clone()],
                ignores,
            }
        }
        BuildDetails::Custom(custom) => {
            let ignores = custom
                .ignores
                .iter()
                .map(|set| {
                    let source = if let Some(repo) = repository_source(set) {
                        repo
                    } else if set.patterns.is_empty() {
                        IgnoreSource::Tiltfile {
                            file: set.base_path.clone(),
                        }
                    } else {
                        IgnoreSource::CustomBuild {
                            image: image.image_ref.clone(),
                        }
                    };
                    SourcedIgnore::new(source, set.clone())
                })
                .collect();
            WatchSpec {
                id,
                paths: custom.deps.clone(),
                ignores,
            }
        }
        BuildDetails::DockerCompose(dc) => WatchSpec {
            id,
            // An empty context is a remote one (a git URL): nothing local to watch.
            paths: if dc.context.as_os_str().is_empty() {
                Vec::new()
            } else {
                vec![dc.context.clone()]
            },
            // The Dockerfile, the .dockerignore patterns and the service's bind mounts
            // (the container sees those changes directly).
            ignores: dc
                .watch_ignores
                .iter()
                .map(|set| {
                    let source = if let Some(repo) = repository_source(set) {
                        repo
                    } else if !set.patterns.is_empty() {
                        IgnoreSource::ComposeBuild {
                            service: dc.service.clone(),
                        }
                    } else if set.base_path == dc.dockerfile {
                        IgnoreSource::Dockerfile {
                            file: set.base_path.clone(),
                        }
                    } else {
                        IgnoreSource::ComposeBindMount {
                            service: dc.service.clone(),
                        }
                    };
                    SourcedIgnore::new(source, set.clone())
                })
                .collect(),
        },
    }
}
