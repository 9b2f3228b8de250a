//! The ignore matcher: several dockerignore-syntax sets, each relative to its own base, plus
//! Tilt's built-in editor temp-file rules.
//!
//! A path is ignored when **any** set ignores it (Tilt's composite matcher); inside one set
//! the last matching line wins and `!` re-includes even under an excluded directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use lilt_model::IgnoreSet;
use regex::{Regex, RegexSet};

use crate::error::{IgnoreError, PatternError};
use crate::paths::{clean, components, path_str};
use crate::pattern::Pattern;

/// Where an ignore set came from, so `lilt why` can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreSource {
    /// `.tiltignore` next to the main Tiltfile.
    Tiltignore { file: PathBuf },
    /// `watch_settings(ignore=...)`.
    WatchSettings,
    /// The file a `custom_build(outputs_image_ref_to=...)` writes.
    OutputsImageRefTo { file: PathBuf },
    /// The Tiltfile, which is watched by the Tiltfile's own watch instead.
    Tiltfile { file: PathBuf },
    /// The Dockerfile of a `docker_build`, which the Tiltfile watches instead.
    Dockerfile { file: PathBuf },
    /// `.dockerignore`, `ignore=` or `only=` of a `docker_build`.
    DockerBuild { image: String },
    /// `ignore=` of a `custom_build`.
    CustomBuild { image: String },
    /// The `.dockerignore` of an image docker compose builds itself.
    ComposeBuild { service: String },
    /// A host path bind-mounted into a Docker Compose service's container.
    ComposeBindMount { service: String },
    /// `ignore=` of a `local_resource`.
    LocalResource { resource: String },
    /// The `.git` directory of a repository whose root a build directory, dep or Tiltfile
    /// directory is (Tilt's repository ignores).
    Repository { git_dir: PathBuf },
    /// Anything else, described by the caller.
    Other(String),
}

impl fmt::Display for IgnoreSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreSource::Tiltignore { file } => write!(f, ".tiltignore ({})", file.display()),
            IgnoreSource::WatchSettings => f.write_str("watch_settings(ignore=)"),
            IgnoreSource::OutputsImageRefTo { file } => {
                write!(f, "custom_build(outputs_image_ref_to={})", file.display())
            }
            IgnoreSource::Tiltfile { file } => {
                write!(
                    f,
                    "the Tiltfile {} (changes to it reload the Tiltfile)",
                    file.display()
                )
            }
            IgnoreSource::Dockerfile { file } => write!(
                f,
                "the Dockerfile {} (changes to it reload the Tiltfile)",
                file.display()
            ),
            IgnoreSource::DockerBuild { image } => write!(
                f,
                "docker_build('{image}') ignores (.dockerignore, ignore= or only=)"
            ),
            IgnoreSource::CustomBuild { image } => write!(f, "custom_build('{image}', ignore=)"),
            IgnoreSource::ComposeBuild { service } => {
                write!(f, "the .dockerignore of docker compose service '{service}'")
            }
            IgnoreSource::ComposeBindMount { service } => write!(
                f,
                "a bind mount of docker compose service '{service}' (the container sees it directly)"
            ),
            IgnoreSource::LocalResource { resource } => {
                write!(f, "local_resource('{resource}', ignore=)")
            }
            IgnoreSource::Repository { git_dir } => {
                write!(f, "the repository's own data {}", git_dir.display())
            }
            IgnoreSource::Other(text) => f.write_str(text),
        }
    }
}

/// An ignore set with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedIgnore {
    pub source: IgnoreSource,
    pub set: IgnoreSet,
}

impl SourcedIgnore {
    pub fn new(source: IgnoreSource, set: IgnoreSet) -> SourcedIgnore {
        SourcedIgnore { source, set }
    }
}

/// Which rule ignored a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreRule {
    /// The set has no patterns: its base path and everything under it are ignored.
    WholePath,
    /// The last matching line of the set.
    Pattern {
        /// As written in the set.
        pattern: String,
        /// Resolved against the set's base.
        absolute: String,
    },
}

/// The set and rule that ignored a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreHit {
    pub source: IgnoreSource,
    pub base: PathBuf,
    pub rule: IgnoreRule,
}

impl fmt::Display for IgnoreHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            IgnoreRule::WholePath => write!(
                f,
                "{} and everything under it is ignored by {}",
                self.base.display(),
                self.source
            ),
            IgnoreRule::Pattern { pattern, .. } => write!(
                f,
                "ignored by pattern {pattern:?} (relative to {}) from {}",
                self.base.display(),
                self.source
            ),
        }
    }
}

/// Several ignore sets; a path is ignored when any set ignores it.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    sets: Vec<CompiledSet>,
}

#[derive(Debug, Clone)]
struct CompiledSet {
    source: IgnoreSource,
    base: PathBuf,
    base_str: String,
    rule: Rule,
}

#[derive(Debug, Clone)]
enum Rule {
    WholeBase,
    Patterns {
        patterns: Vec<Pattern>,
        /// All patterns in one automaton: a single pass over the path finds every
        /// matching line, and the last one decides.
        combined: RegexSet,
        has_exclusions: bool,
    },
}

impl Matcher {
    /// Compiles every set; fails on the first bad pattern.
    pub fn new(sets: &[SourcedIgnore]) -> Result<Matcher, IgnoreError> {
        let mut out = Matcher::default();
        for set in sets {
            out.sets.push(compile_set(set)?);
        }
        Ok(out)
    }

    /// Compiles every set, skipping (like Tilt) a set that holds a bad pattern and
    /// returning why.
    pub fn best_effort(sets: &[SourcedIgnore]) -> (Matcher, Vec<IgnoreError>) {
        let mut out = Matcher::default();
        let mut errors = Vec::new();
        for set in sets {
            match compile_set(set) {
                Ok(compiled) => out.sets.push(compiled),
                Err(e) => errors.push(e),
            }
        }
        (out, errors)
    }

    /// Compiles plain ignore sets, labelling them as "ignore set N".
    pub fn from_ignore_sets(sets: &[IgnoreSet]) -> Result<Matcher, IgnoreError> {
        let sourced: Vec<SourcedIgnore> = sets
            .iter()
            .enumerate()
            .map(|(idx, set)| {
                SourcedIgnore::new(
                    IgnoreSource::Other(format!("ignore set {}", idx + 1)),
                    set.clone(),
                )
            })
            .collect();
        Matcher::new(&sourced)
    }

    /// Whether `path` (absolute and clean) is ignored.
    pub fn matches(&self, path: &Path) -> bool {
        let text = path_str(path);
        self.sets.iter().any(|set| set.decide(&text).is_some())
    }

    /// The first set (in order) that ignores `path`, and the deciding rule.
    pub fn explain(&self, path: &Path) -> Option<IgnoreHit> {
        let path = clean(path);
        let text = path_str(&path);
        self.sets.iter().find_map(|set| {
            set.decide(&text).map(|rule| IgnoreHit {
                source: set.source.clone(),
                base: set.base.clone(),
                rule: match rule {
                    None => IgnoreRule::WholePath,
                    Some(p) => IgnoreRule::Pattern {
                        pattern: p.to_string(),
                        absolute: p.absolute().to_owned(),
                    },
                },
            })
        })
    }

    /// Whether `dir` and everything that could ever be under it is ignored, so a walker may
    /// skip it. Conservative: a `!` rule that might re-include something below keeps it.
    pub fn matches_entire_dir(&self, dir: &Path) -> bool {
        let text = path_str(dir);
        let comps = components(&text);
        self.sets.iter().any(|set| set.covers_dir(&text, &comps))
    }

    /// True when no set was compiled.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

impl CompiledSet {
    /// `None` when this set does not ignore the path; otherwise the deciding pattern, or
    /// `Some(None)` for a whole-base set.
    fn decide(&self, path: &str) -> Option<Option<&Pattern>> {
        match &self.rule {
            Rule::WholeBase => under_or_equal(path, &self.base_str).then_some(None),
            Rule::Patterns {
                patterns, combined, ..
            } => {
                let last = combined.matches(path).iter().next_back()?;
                let pattern = &patterns[last];
                (!pattern.is_exclusion()).then_some(Some(pattern))
            }
        }
    }

    fn covers_dir(&self, dir: &str, comps: &[&str]) -> bool {
        match &self.rule {
            Rule::WholeBase => under_or_equal(dir, &self.base_str),
            Rule::Patterns {
                patterns,
                has_exclusions,
                ..
            } => {
                if self.decide(dir).is_none() {
                    return false;
                }
                !*has_exclusions
                    || !patterns
                        .iter()
                        .any(|p| p.is_exclusion() && p.could_match_under(comps))
            }
        }
    }
}

fn under_or_equal(path: &str, base: &str) -> bool {
    if base == "/" {
        return path.starts_with('/');
    }
    match path.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn compile_set(set: &SourcedIgnore) -> Result<CompiledSet, IgnoreError> {
    // Tilt writes one base path relative (a custom build's `.git`): it means the working
    // directory, as in Tilt.
    let base = if set.set.base_path.is_relative() {
        clean(
            &std::env::current_dir()
                .unwrap_or_default()
                .join(&set.set.base_path),
        )
    } else {
        clean(&set.set.base_path)
    };
    let base_str = path_str(&base).into_owned();
    let rule = if set.set.patterns.is_empty() {
        Rule::WholeBase
    } else {
        let mut patterns = Vec::new();
        for raw in &set.set.patterns {
            let compiled = Pattern::compile(&base_str, raw).map_err(|error| IgnoreError {
                source_label: set.source.to_string(),
                error,
            })?;
            patterns.extend(compiled);
        }
        let has_exclusions = patterns.iter().any(Pattern::is_exclusion);
        let combined =
            RegexSet::new(patterns.iter().map(Pattern::regex_source)).map_err(|e| IgnoreError {
                source_label: set.source.to_string(),
                error: PatternError::new(&set.set.patterns.join(", "), e.to_string()),
            })?;
        Rule::Patterns {
            patterns,
            combined,
            has_exclusions,
        }
    };
    Ok(CompiledSet {
        source: set.source.clone(),
        base,
        base_str,
        rule,
    })
}

/// Tilt's always-ignored editor and tool temp files (`internal/ignore/ephemeral.go`).
pub const EDITOR_TEMP_PATTERNS: &[&str] = &[
    // GoLand / IntelliJ
    "**/*___jb_old___",
    "**/*___jb_tmp___",
    "**/.idea/**",
    // Emacs
    "**/.#*",
    "**/#*#",
    "**/flymake_*.*",
    // Vim: its write probe, backups, and the first few swap-file names.
    "**/4913",
    "**/*~",
    "**/.*.swp",
    "**/.*.swx",
    "**/.*.swo",
    "**/.*.swn",
    // Kate
    "**/.*.kate-swp",
    // Go's umask probe
    "**/*-go-tmp-umask",
];

struct EditorTemp {
    patterns: Vec<(&'static str, Pattern)>,
    /// Any of them, in one pass; the individual patterns are only consulted to explain.
    any: Option<Regex>,
}

static EDITOR_TEMP: LazyLock<EditorTemp> = LazyLock::new(|| {
    let patterns: Vec<(&'static str, Pattern)> = EDITOR_TEMP_PATTERNS
        .iter()
        .filter_map(|raw| match Pattern::compile("/", raw) {
            Ok(Some(p)) => Some((*raw, p)),
            _ => None,
        })
        .collect();
    let alternation: Vec<String> = patterns
        .iter()
        .map(|(_, p)| format!("(?:{})", p.regex_source()))
        .collect();
    let any = Regex::new(&alternation.join("|")).ok();
    EditorTemp { patterns, any }
});

/// The built-in editor temp-file pattern that `path` (absolute, clean) matches, if any.
pub fn editor_temp_rule(path: &Path) -> Option<&'static str> {
    let text = path_str(path);
    let temp = &*EDITOR_TEMP;
    if let Some(any) = &temp.any
        && !any.is_match(&text)
    {
        return None;
    }
    temp.patterns
        .iter()
        .find(|(_, p)| p.matches_or_parent(&text))
        .map(|(raw, _)| *raw)
}

/// Reads the text of a `.dockerignore` or `.tiltignore` (see
/// [`lilt_model::paths::parse_ignore_file`]).
pub fn parse_dockerignore(text: &str) -> Vec<String> {
    lilt_model::paths::parse_ignore_file(text)
}

/// A convenience for tests and callers holding plain patterns: an error-free matcher or the
/// first error.
pub fn matcher_for(base: &Path, patterns: &[&str]) -> Result<Matcher, PatternError> {
    let set = IgnoreSet {
        base_path: base.to_path_buf(),
        patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
    };
    Matcher::from_ignore_sets(&[set]).map_err(|e| e.error)
}
