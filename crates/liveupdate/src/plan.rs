//! Deciding what a set of changed files means for an image's live update: a batch to sync
//! into running containers, or a full rebuild, following Tilt's rules (see `docs` in
//! [`crate`] and the tests below for each rule).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lilt_model::{BuildDetails, IgnoreSet, ImageTarget, LiveUpdate};
use lilt_watch::{IgnoreError, IgnoreHit, IgnoreSource, Matcher, SourcedIgnore, editor_temp_rule};

/// What is at a changed path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathState {
    /// A file, a symlink or anything else that is not a directory.
    File,
    Dir,
    /// Nothing: the path was deleted (or renamed away).
    Missing,
}

/// A changed path and what is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute; cleaned by [`plan`].
    pub path: PathBuf,
    pub state: PathState,
}

impl Change {
    pub fn new(path: impl Into<PathBuf>, state: PathState) -> Change {
        Change {
            path: path.into(),
            state,
        }
    }

    /// Looks at the file system now (without following a final symlink: a symlink is
    /// synced as a symlink).
    pub fn stat(path: impl Into<PathBuf>) -> Change {
        let path = path.into();
        let state = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => PathState::Dir,
            Ok(_) => PathState::File,
            Err(_) => PathState::Missing,
        };
        Change { path, state }
    }
}

/// One local path to copy to a container path. A directory is copied with everything
/// under it that the image's ignores keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub local: PathBuf,
    /// Absolute, `/`-separated, clean.
    pub remote: String,
}

/// A `run` step chosen for a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    /// Executed as is (a string command was already turned into `sh -c CMD`).
    pub argv: Vec<String>,
    /// `echo_off=True`: do not log the command line.
    pub echo_off: bool,
}

impl RunStep {
    /// The command line as a user reads it.
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

/// What to do in every running container of the image for one set of changes: remove
/// `deletes`, extract `copies` (one tar stream), run `runs` in order, then restart the
/// container when `restart`.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The changed local paths this batch covers (copied or deleted), sorted: what the
    /// dashboard lists as "files synced" and what [`crate::SyncLedger`] remembers.
    pub files: Vec<PathBuf>,
    pub copies: Vec<Copy>,
    /// Container paths to `rm -rf`.
    pub deletes: Vec<String>,
    pub runs: Vec<RunStep>,
    pub restart: bool,
    /// The image's ignores, applied again while a copied directory is walked.
    pub filter: Arc<Matcher>,
}

impl Batch {
    /// Nothing to copy, delete or run, and no restart.
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty() && self.deletes.is_empty() && self.runs.is_empty() && !self.restart
    }
}

/// Why a change cannot be live-updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildReason {
    /// The path is (under) a `fall_back_on` path.
    FallBackOn { fall_back_on: PathBuf },
    /// The path is under no `sync` step's local path.
    NoSync,
    /// The image has no `sync` or `run` steps: every change rebuilds.
    NoLiveUpdate,
    /// The local path of a `sync` whose container path ends in `/` was deleted: whether it
    /// was a file (synced to `DIR/NAME`) or a directory (synced to `DIR`) is unknown now.
    AmbiguousDelete { sync_local: PathBuf },
}

impl fmt::Display for RebuildReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RebuildReason::FallBackOn { fall_back_on } => {
                write!(f, "it matches fall_back_on({})", fall_back_on.display())
            }
            RebuildReason::NoSync => f.write_str("it is under no live_update sync() path"),
            RebuildReason::NoLiveUpdate => f.write_str("the image has no live_update steps"),
            RebuildReason::AmbiguousDelete { sync_local } => write!(
                f,
                "the sync() source {} was deleted and its container path ends in '/'",
                sync_local.display()
            ),
        }
    }
}

/// The outcome of [`plan`].
#[derive(Debug, Clone)]
pub enum Decision {
    /// Every changed path was ignored: nothing to do.
    Nothing,
    LiveUpdate(Batch),
    /// Rebuild the image and redeploy. `paths` are the changed paths that caused it (all of
    /// them for [`RebuildReason::NoSync`], the first one otherwise).
    FullRebuild {
        reason: RebuildReason,
        paths: Vec<PathBuf>,
    },
}

impl Decision {
    /// A one-line text for logs and the dashboard.
    pub fn describe(&self) -> String {
        match self {
            Decision::Nothing => "no change to sync (all changed paths are ignored)".to_owned(),
            Decision::LiveUpdate(b) => format!(
                "live update: {} to copy, {} to delete, {} command(s){}",
                b.copies.len(),
                b.deletes.len(),
                b.runs.len(),
                if b.restart { ", then restart" } else { "" }
            ),
            Decision::FullRebuild { reason, paths } => {
                let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                format!("full rebuild: {} changed and {reason}", list.join(", "))
            }
        }
    }
}

/// The ignore rules of an image's file watch, which are also what a live update leaves
/// out: `.dockerignore`, `ignore=`, the `only=` inversion and the Dockerfile for a
/// `docker_build`; `ignore=` for a `custom_build`; the `.dockerignore` and bind mounts for
/// an image Compose builds. `global` holds the ignores of every watch (`.tiltignore`,
/// `watch_settings(ignore=)`), which the caller has in its watch set.
pub fn image_matcher(
    image: &ImageTarget,
    global: &[SourcedIgnore],
) -> Result<Matcher, IgnoreError> {
    let (sets, source): (&[IgnoreSet], IgnoreSource) = match &image.build {
        BuildDetails::Docker(d) => (
            &d.watch_ignores,
            IgnoreSource::DockerBuild {
                image: image.image_ref.clone(),
            },
        ),
        BuildDetails::Custom(c) => (
            &c.ignores,
            IgnoreSource::CustomBuild {
                image: image.image_ref.clone(),
            },
        ),
        BuildDetails::DockerCompose(dc) => (
            &dc.watch_ignores,
            IgnoreSource::ComposeBuild {
                service: dc.service.clone(),
            },
        ),
    };
    let mut sourced: Vec<SourcedIgnore> = sets
        .iter()
        .map(|set| SourcedIgnore::new(source.clone(), set.clone()))
        .collect();
    sourced.extend(global.iter().cloned());
    Matcher::new(&sourced)
}

/// Resolves a Tiltfile path against the live update's base path, and cleans it.
fn resolve(lu: &LiveUpdate, path: &Path) -> PathBuf {
    lilt_watch::clean_path(&lu.base_path.join(path))
}

/// `path` relative to `dir` when it is `dir` or under it (both clean): `Some("")` for
/// `dir` itself.
fn child_of<'a>(dir: &Path, path: &'a Path) -> Option<&'a Path> {
    path.strip_prefix(dir).ok()
}

/// Joins a relative local path onto a container path, like Go's `path.Join`.
fn remote_join(remote: &str, rel: &Path) -> String {
    let mut out = remote.trim_end_matches('/').to_owned();
    for comp in rel.components() {
        out.push('/');
        out.push_str(&comp.as_os_str().to_string_lossy());
    }
    clean_remote(&out)
}

/// Cleans a container path: no `.`, `..` resolved, no trailing `/`, absolute.
fn clean_remote(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Why a path is ignored: the ignore rule, or an editor temp file rule.
fn ignored(matcher: &Matcher, path: &Path) -> Option<String> {
    if let Some(rule) = editor_temp_rule(path) {
        return Some(format!("editor temp file (rule {rule})"));
    }
    matcher.explain(path).map(|hit: IgnoreHit| hit.to_string())
}

/// The first `fall_back_on` path that `path` is or is under.
fn fall_back_hit(lu: &LiveUpdate, path: &Path) -> Option<PathBuf> {
    lu.fall_back_on
        .iter()
        .map(|f| resolve(lu, f))
        .find(|f| child_of(f, path).is_some())
}

/// Where a path goes in the container: `Ok(None)` when it is under no sync.
///
/// As Tilt: the **first** sync (in Tiltfile order) whose local path is the path or one of
/// its parents wins, not the most specific one. A sync of a file to a container path
/// ending in `/` puts the file in that directory under its own name.
fn map_to_sync(lu: &LiveUpdate, change: &Change) -> Result<Option<String>, RebuildReason> {
    for sync in &lu.syncs {
        let local = resolve(lu, &sync.local_path);
        let Some(rel) = child_of(&local, &change.path) else {
            continue;
        };
        if rel.as_os_str().is_empty() && sync.remote_path.ends_with('/') {
            return match change.state {
                PathState::File => {
                    let name = local.file_name().map(Path::new).unwrap_or(Path::new(""));
                    Ok(Some(remote_join(&sync.remote_path, name)))
                }
                PathState::Dir => Ok(Some(clean_remote(&sync.remote_path))),
                PathState::Missing => Err(RebuildReason::AmbiguousDelete { sync_local: local }),
            };
        }
        return Ok(Some(remote_join(&sync.remote_path, rel)));
    }
    Ok(None)
}

/// The `run` steps that a set of changed local paths triggers, in order: a step without
/// triggers always runs; one with triggers runs when a path is (under) one of them.
/// Relative triggers resolve against the live update's base path.
pub fn triggered_runs<'a>(
    lu: &LiveUpdate,
    paths: impl IntoIterator<Item = &'a Path> + Clone,
) -> Vec<RunStep> {
    lu.runs
        .iter()
        .filter(|run| {
            if run.triggers.is_empty() {
                return true;
            }
            let triggers = lu.trigger_paths(run);
            paths
                .clone()
                .into_iter()
                .any(|p| triggers.iter().any(|t| child_of(t, p).is_some()))
        })
        .map(|run| RunStep {
            argv: run.argv.clone(),
            echo_off: run.echo_off,
        })
        .collect()
}

/// Decides what `changes` mean for an image with live update `lu` and ignore rules
/// `matcher` (see [`image_matcher`]). Pure: the file system is not read (the caller says
/// in each [`Change`] what is there now).
///
/// The rules, as Tilt's:
/// 1. Ignored paths (the image's ignores, editor temp files) are dropped; if nothing is
///    left, [`Decision::Nothing`].
/// 2. Without `sync`/`run` steps, any change rebuilds.
/// 3. A path that is or is under a `fall_back_on` path rebuilds.
/// 4. A path under no `sync` rebuilds (all such paths are listed).
/// 5. Otherwise each path maps through the first sync that contains it: present → copied,
///    missing → deleted in the container. `run` steps are kept when they have no trigger or
///    a mapped path is under a trigger. `restart_container()` sets `restart`.
pub fn plan(lu: &LiveUpdate, matcher: &Arc<Matcher>, changes: &[Change]) -> Decision {
    let mut kept: Vec<Change> = changes
        .iter()
        .map(|c| Change::new(lilt_watch::clean_path(&c.path), c.state))
        .filter(|c| ignored(matcher, &c.path).is_none())
        .collect();
    kept.sort_by(|a, b| a.path.cmp(&b.path));
    kept.dedup_by(|a, b| a.path == b.path);
    if kept.is_empty() {
        return Decision::Nothing;
    }
    if lu.syncs.is_empty() && lu.runs.is_empty() {
        return Decision::FullRebuild {
            reason: RebuildReason::NoLiveUpdate,
            paths: vec![kept[0].path.clone()],
        };
    }
    for c in &kept {
        if let Some(fall_back_on) = fall_back_hit(lu, &c.path) {
            return Decision::FullRebuild {
                reason: RebuildReason::FallBackOn { fall_back_on },
                paths: vec![c.path.clone()],
            };
        }
    }
    let mut copies = Vec::new();
    let mut deletes = Vec::new();
    let mut unsynced = Vec::new();
    let mut files = Vec::new();
    for c in &kept {
        match map_to_sync(lu, c) {
            Err(reason) => {
                return Decision::FullRebuild {
                    reason,
                    paths: vec![c.path.clone()],
                };
            }
            Ok(None) => unsynced.push(c.path.clone()),
            Ok(Some(remote)) => {
                files.push(c.path.clone());
                match c.state {
                    PathState::Missing => deletes.push(remote),
                    PathState::File | PathState::Dir => copies.push(Copy {
                        local: c.path.clone(),
                        remote,
                    }),
                }
            }
        }
    }
    if !unsynced.is_empty() {
        return Decision::FullRebuild {
            reason: RebuildReason::NoSync,
            paths: unsynced,
        };
    }
    let runs = triggered_runs(lu, files.iter().map(PathBuf::as_path));
    Decision::LiveUpdate(Batch {
        files,
        copies,
        deletes,
        runs,
        restart: lu.restart_container,
        filter: Arc::clone(matcher),
    })
}

/// [`plan`] for paths whose current state is read from the file system now.
pub fn plan_paths(lu: &LiveUpdate, matcher: &Arc<Matcher>, paths: &[PathBuf]) -> Decision {
    let changes: Vec<Change> = paths.iter().map(Change::stat).collect();
    plan(lu, matcher, &changes)
}

/// The batch `initial_sync()` sends to a container it sees for the first time: every file
/// under every sync path that the ignores keep (no deletes), with the `run` steps those
/// files trigger. Missing sync paths are skipped, as Tilt does.
pub fn initial_sync(lu: &LiveUpdate, matcher: &Arc<Matcher>) -> std::io::Result<Batch> {
    let mut changes = Vec::new();
    for sync in &lu.syncs {
        let local = resolve(lu, &sync.local_path);
        if std::fs::symlink_metadata(&local).is_err() {
            continue;
        }
        let mut walk = walkdir::WalkDir::new(&local)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry.map_err(|e| {
                e.into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("file system loop"))
            })?;
            let path = entry.path();
            if matcher.matches(path) || editor_temp_rule(path).is_some() {
                if entry.file_type().is_dir() && matcher.matches_entire_dir(path) {
                    walk.skip_current_dir();
                }
                continue;
            }
            if !entry.file_type().is_dir() {
                changes.push(Change::new(path, PathState::File));
            }
        }
    }
    let mut batch = match plan(lu, matcher, &changes) {
        Decision::LiveUpdate(batch) => batch,
        // Every walked file is under a sync and not ignored; a fall_back_on file inside a
        // sync is still synced by initial_sync (it only uploads), so plan without it.
        Decision::Nothing | Decision::FullRebuild { .. } => {
            let mut no_fallback = lu.clone();
            no_fallback.fall_back_on.clear();
            match plan(&no_fallback, matcher, &changes) {
                Decision::LiveUpdate(batch) => batch,
                _ => Batch {
                    files: Vec::new(),
                    copies: Vec::new(),
                    deletes: Vec::new(),
                    runs: Vec::new(),
                    restart: false,
                    filter: Arc::clone(matcher),
                },
            }
        }
    };
    // A first sync of a freshly started container does not restart it.
    batch.restart = false;
    Ok(batch)
}

/// What `lilt why PATH` says about one path for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Explanation {
    /// Dropped: the changed path does not concern this image.
    Ignored { because: String },
    /// A change rebuilds the image.
    FullRebuild { reason: RebuildReason },
    /// A change is copied (or deleted) at `remote` in the container, and runs `runs`.
    LiveUpdate { remote: String, runs: Vec<String> },
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Explanation::Ignored { because } => write!(f, "ignored: {because}"),
            Explanation::FullRebuild { reason } => write!(f, "full rebuild because {reason}"),
            Explanation::LiveUpdate { remote, runs } => {
                write!(f, "live-updated to {remote}")?;
                if !runs.is_empty() {
                    write!(f, ", then runs: {}", runs.join("; "))?;
                }
                Ok(())
            }
        }
    }
}

/// Explains what a change to `path` would do (the path's current state decides the
/// container path of a file synced into a directory).
pub fn explain(lu: &LiveUpdate, matcher: &Matcher, path: &Path) -> Explanation {
    let change = Change::stat(lilt_watch::clean_path(path));
    if let Some(because) = ignored(matcher, &change.path) {
        return Explanation::Ignored { because };
    }
    if lu.syncs.is_empty() && lu.runs.is_empty() {
        return Explanation::FullRebuild {
            reason: RebuildReason::NoLiveUpdate,
        };
    }
    if let Some(fall_back_on) = fall_back_hit(lu, &change.path) {
        return Explanation::FullRebuild {
            reason: RebuildReason::FallBackOn { fall_back_on },
        };
    }
    match map_to_sync(lu, &change) {
        Err(reason) => Explanation::FullRebuild { reason },
        Ok(None) => Explanation::FullRebuild {
            reason: RebuildReason::NoSync,
        },
        Ok(Some(remote)) => Explanation::LiveUpdate {
            remote,
            runs: triggered_runs(lu, [change.path.as_path()])
                .iter()
                .map(RunStep::display)
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lilt_model::{LiveUpdateRun, LiveUpdateSync};

    fn lu(syncs: &[(&str, &str)]) -> LiveUpdate {
        LiveUpdate {
            base_path: PathBuf::from("/proj"),
            syncs: syncs
                .iter()
                .map(|(l, r)| LiveUpdateSync {
                    local_path: PathBuf::from(l),
                    remote_path: (*r).to_owned(),
                })
                .collect(),
            ..LiveUpdate::default()
        }
    }

    fn run(cmd: &str, triggers: &[&str]) -> LiveUpdateRun {
        LiveUpdateRun {
            argv: vec!["sh".into(), "-c".into(), cmd.into()],
            triggers: triggers.iter().map(|t| (*t).to_owned()).collect(),
            echo_off: false,
        }
    }

    fn no_ignores() -> Arc<Matcher> {
        Arc::new(Matcher::default())
    }

    fn file(p: &str) -> Change {
        Change::new(p, PathState::File)
    }

    fn batch(d: Decision) -> Batch {
        match d {
            Decision::LiveUpdate(b) => b,
            other => panic!("expected a live update, got {other:?}"),
        }
    }

    fn copies(b: &Batch) -> Vec<(String, String)> {
        b.copies
            .iter()
            .map(|c| (c.local.display().to_string(), c.remote.clone()))
            .collect()
    }

    #[test]
    fn a_file_under_a_sync_is_copied_to_the_mapped_container_path() {
        let l = lu(&[("/proj/src", "/app/src")]);
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/src/a/b.txt")]));
        assert_eq!(
            copies(&b),
            [("/proj/src/a/b.txt".into(), "/app/src/a/b.txt".into())]
        );
        assert!(b.deletes.is_empty());
        assert_eq!(b.files, [PathBuf::from("/proj/src/a/b.txt")]);
    }

    #[test]
    fn relative_sync_paths_resolve_against_the_base_path() {
        let l = lu(&[("src", "/app")]);
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/src/x.py")]));
        assert_eq!(copies(&b), [("/proj/src/x.py".into(), "/app/x.py".into())]);
    }

    #[test]
    fn a_deleted_file_becomes_a_container_delete() {
        let l = lu(&[("/proj/src", "/app")]);
        let b = batch(plan(
            &l,
            &no_ignores(),
            &[
                Change::new("/proj/src/gone.txt", PathState::Missing),
                file("/proj/src/kept"),
            ],
        ));
        assert_eq!(b.deletes, ["/app/gone.txt"]);
        assert_eq!(copies(&b), [("/proj/src/kept".into(), "/app/kept".into())]);
        assert_eq!(b.files.len(), 2);
    }

    #[test]
    fn a_changed_directory_is_copied_as_a_whole() {
        let l = lu(&[("/proj/src", "/app")]);
        let b = batch(plan(
            &l,
            &no_ignores(),
            &[Change::new("/proj/src/pkg", PathState::Dir)],
        ));
        assert_eq!(copies(&b), [("/proj/src/pkg".into(), "/app/pkg".into())]);
    }

    #[test]
    fn the_sync_root_itself_maps_to_the_container_path() {
        let l = lu(&[("/proj/src", "/app/")]);
        let b = batch(plan(
            &l,
            &no_ignores(),
            &[Change::new("/proj/src", PathState::Dir)],
        ));
        assert_eq!(copies(&b), [("/proj/src".into(), "/app".into())]);
    }

    #[test]
    fn a_file_synced_to_a_path_ending_in_slash_keeps_its_name() {
        let l = lu(&[("/proj/config.yaml", "/etc/app/")]);
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/config.yaml")]));
        assert_eq!(
            copies(&b),
            [("/proj/config.yaml".into(), "/etc/app/config.yaml".into())]
        );
        // Without the slash the file is written at the container path itself.
        let l = lu(&[("/proj/config.yaml", "/etc/app.yaml")]);
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/config.yaml")]));
        assert_eq!(
            copies(&b),
            [("/proj/config.yaml".into(), "/etc/app.yaml".into())]
        );
    }

    #[test]
    fn a_deleted_sync_root_synced_into_a_directory_is_ambiguous_and_rebuilds() {
        let l = lu(&[("/proj/config.yaml", "/etc/app/")]);
        let d = plan(
            &l,
            &no_ignores(),
            &[Change::new("/proj/config.yaml", PathState::Missing)],
        );
        assert!(matches!(
            d,
            Decision::FullRebuild {
                reason: RebuildReason::AmbiguousDelete { .. },
                ..
            }
        ));
    }

    #[test]
    fn nested_syncs_use_the_first_matching_sync_not_the_most_specific() {
        // Tilt walks the syncs in order and takes the first whose local path contains the file.
        let l = lu(&[("/proj", "/app"), ("/proj/static", "/srv/static")]);
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/static/i.css")]));
        assert_eq!(
            copies(&b),
            [("/proj/static/i.css".into(), "/app/static/i.css".into())]
        );
        let l = lu(&[("/proj/static", "/srv/static"), ("/proj", "/app")]);
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/static/i.css")]));
        assert_eq!(
            copies(&b),
            [("/proj/static/i.css".into(), "/srv/static/i.css".into())]
        );
    }

    #[test]
    fn a_sibling_with_a_common_prefix_is_not_under_the_sync() {
        let l = lu(&[("/proj/src", "/app")]);
        let d = plan(&l, &no_ignores(), &[file("/proj/src2/a")]);
        assert!(matches!(
            d,
            Decision::FullRebuild {
                reason: RebuildReason::NoSync,
                ..
            }
        ));
    }

    #[test]
    fn a_file_under_no_sync_rebuilds_and_lists_every_such_file() {
        let l = lu(&[("/proj/src", "/app")]);
        let d = plan(
            &l,
            &no_ignores(),
            &[
                file("/proj/src/ok"),
                file("/proj/Makefile"),
                file("/proj/README"),
            ],
        );
        match d {
            Decision::FullRebuild { reason, paths } => {
                assert_eq!(reason, RebuildReason::NoSync);
                assert_eq!(
                    paths,
                    [
                        PathBuf::from("/proj/Makefile"),
                        PathBuf::from("/proj/README")
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fall_back_on_rebuilds_even_inside_a_sync_and_covers_directories() {
        let mut l = lu(&[("/proj", "/app")]);
        l.fall_back_on = vec![PathBuf::from("package.json"), PathBuf::from("/proj/deps")];
        let d = plan(
            &l,
            &no_ignores(),
            &[file("/proj/src/a.js"), file("/proj/package.json")],
        );
        match d {
            Decision::FullRebuild { reason, paths } => {
                assert_eq!(
                    reason,
                    RebuildReason::FallBackOn {
                        fall_back_on: PathBuf::from("/proj/package.json")
                    }
                );
                assert_eq!(paths, [PathBuf::from("/proj/package.json")]);
            }
            other => panic!("{other:?}"),
        }
        let d = plan(&l, &no_ignores(), &[file("/proj/deps/x/y")]);
        assert!(matches!(
            d,
            Decision::FullRebuild {
                reason: RebuildReason::FallBackOn { .. },
                ..
            }
        ));
        // A sibling whose name only starts the same is not covered.
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/package.json.bak")]));
        assert_eq!(b.copies.len(), 1);
    }

    #[test]
    fn ignored_paths_are_dropped_and_only_ignored_paths_mean_nothing() {
        let l = lu(&[("/proj", "/app")]);
        let m = Arc::new(
            Matcher::from_ignore_sets(&[IgnoreSet {
                base_path: PathBuf::from("/proj"),
                patterns: vec!["*.log".into(), "node_modules".into()],
            }])
            .unwrap(),
        );
        let d = plan(
            &l,
            &m,
            &[file("/proj/x.log"), file("/proj/node_modules/a/b.js")],
        );
        assert!(matches!(d, Decision::Nothing));
        let b = batch(plan(&l, &m, &[file("/proj/x.log"), file("/proj/main.go")]));
        assert_eq!(
            copies(&b),
            [("/proj/main.go".into(), "/app/main.go".into())]
        );
        // An ignored file outside every sync does not force a rebuild.
        let l2 = lu(&[("/proj/src", "/app")]);
        assert!(matches!(
            plan(&l2, &m, &[file("/proj/debug.log")]),
            Decision::Nothing
        ));
        // Editor temp files are always dropped.
        assert!(matches!(
            plan(&l, &m, &[file("/proj/.main.go.swp")]),
            Decision::Nothing
        ));
    }

    #[test]
    fn only_is_respected_through_its_ignore_inversion() {
        // `only=['src']` becomes "ignore everything, then re-include src" in the model.
        let l = lu(&[("/proj", "/app")]);
        let m = Arc::new(
            Matcher::from_ignore_sets(&[IgnoreSet {
                base_path: PathBuf::from("/proj"),
                patterns: vec!["**".into(), "!src".into()],
            }])
            .unwrap(),
        );
        assert!(matches!(
            plan(&l, &m, &[file("/proj/other.txt")]),
            Decision::Nothing
        ));
        let b = batch(plan(&l, &m, &[file("/proj/src/a")]));
        assert_eq!(b.copies.len(), 1);
    }

    #[test]
    fn runs_without_triggers_always_run_and_with_triggers_only_on_a_match() {
        let mut l = lu(&[("/proj", "/app")]);
        l.runs = vec![
            run("always", &[]),
            run("deps", &["requirements.txt"]),
            run("web", &["/proj/web"]),
        ];
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/main.py")]));
        let names: Vec<&str> = b.runs.iter().map(|r| r.argv[2].as_str()).collect();
        assert_eq!(names, ["always"]);
        // A relative trigger resolves against the base path.
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/requirements.txt")]));
        let names: Vec<&str> = b.runs.iter().map(|r| r.argv[2].as_str()).collect();
        assert_eq!(names, ["always", "deps"]);
        // A trigger directory covers the files under it; deletes trigger too. Order is
        // the Tiltfile's.
        let b = batch(plan(
            &l,
            &no_ignores(),
            &[
                Change::new("/proj/web/x.js", PathState::Missing),
                file("/proj/requirements.txt"),
            ],
        ));
        let names: Vec<&str> = b.runs.iter().map(|r| r.argv[2].as_str()).collect();
        assert_eq!(names, ["always", "deps", "web"]);
    }

    #[test]
    fn restart_container_sets_restart() {
        let mut l = lu(&[("/proj", "/app")]);
        l.restart_container = true;
        assert!(batch(plan(&l, &no_ignores(), &[file("/proj/a")])).restart);
    }

    #[test]
    fn no_live_update_steps_means_every_change_rebuilds() {
        let l = lu(&[]);
        let d = plan(&l, &no_ignores(), &[file("/proj/a")]);
        assert!(matches!(
            d,
            Decision::FullRebuild {
                reason: RebuildReason::NoLiveUpdate,
                ..
            }
        ));
    }

    #[test]
    fn duplicate_changes_are_merged_and_paths_cleaned() {
        let l = lu(&[("/proj", "/app")]);
        let b = batch(plan(
            &l,
            &no_ignores(),
            &[file("/proj/a"), file("/proj/./a"), file("/proj/x/../a")],
        ));
        assert_eq!(copies(&b), [("/proj/a".into(), "/app/a".into())]);
    }

    #[test]
    fn container_paths_are_cleaned() {
        let l = lu(&[("/proj", "/app/./sub/../dest/")]);
        let b = batch(plan(&l, &no_ignores(), &[file("/proj/a")]));
        assert_eq!(b.copies[0].remote, "/app/dest/a");
    }

    #[test]
    fn explain_names_the_outcome_for_why() {
        let mut l = lu(&[("/proj/src", "/app")]);
        l.fall_back_on = vec![PathBuf::from("/proj/src/package.json")];
        l.runs = vec![run("npm i", &["/proj/src/lock"])];
        let m = Matcher::from_ignore_sets(&[IgnoreSet {
            base_path: PathBuf::from("/proj"),
            patterns: vec!["**/*.tmp".into()],
        }])
        .unwrap();
        let e = explain(&l, &m, Path::new("/proj/src/a/b.js"));
        assert_eq!(
            e,
            Explanation::LiveUpdate {
                remote: "/app/a/b.js".into(),
                runs: vec![]
            }
        );
        assert_eq!(e.to_string(), "live-updated to /app/a/b.js");
        let e = explain(&l, &m, Path::new("/proj/src/lock"));
        assert_eq!(
            e.to_string(),
            "live-updated to /app/lock, then runs: sh -c npm i"
        );
        let e = explain(&l, &m, Path::new("/proj/src/package.json"));
        assert!(
            e.to_string()
                .starts_with("full rebuild because it matches fall_back_on"),
            "{e}"
        );
        let e = explain(&l, &m, Path::new("/proj/Dockerfile"));
        assert_eq!(
            e.to_string(),
            "full rebuild because it is under no live_update sync() path"
        );
        let e = explain(&l, &m, Path::new("/proj/src/x.tmp"));
        assert!(matches!(e, Explanation::Ignored { .. }), "{e}");
        assert!(e.to_string().contains("*.tmp"), "{e}");
    }

    #[test]
    fn initial_sync_lists_every_kept_file_and_never_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/sub")).unwrap();
        std::fs::write(root.join("src/a"), "a").unwrap();
        std::fs::write(root.join("src/sub/b"), "b").unwrap();
        std::fs::write(root.join("src/skip.log"), "x").unwrap();
        let mut l = LiveUpdate {
            base_path: root.to_path_buf(),
            initial_sync: true,
            syncs: vec![
                LiveUpdateSync {
                    local_path: PathBuf::from("src"),
                    remote_path: "/app".into(),
                },
                LiveUpdateSync {
                    local_path: PathBuf::from("missing"),
                    remote_path: "/m".into(),
                },
            ],
            ..LiveUpdate::default()
        };
        l.runs = vec![run("b-changed", &["src/sub"]), run("never", &["nope"])];
        l.restart_container = true;
        let m = Arc::new(
            Matcher::from_ignore_sets(&[IgnoreSet {
                base_path: root.to_path_buf(),
                patterns: vec!["**/*.log".into()],
            }])
            .unwrap(),
        );
        let b = initial_sync(&l, &m).unwrap();
        let remotes: Vec<&str> = b.copies.iter().map(|c| c.remote.as_str()).collect();
        assert_eq!(remotes, ["/app/a", "/app/sub/b"]);
        assert!(b.deletes.is_empty());
        assert_eq!(b.runs.len(), 1);
        assert_eq!(b.runs[0].argv[2], "b-changed");
        assert!(!b.restart);
    }

    #[test]
    fn stat_tells_files_directories_and_missing_paths_apart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "").unwrap();
        assert_eq!(Change::stat(dir.path().join("f")).state, PathState::File);
        assert_eq!(Change::stat(dir.path()).state, PathState::Dir);
        assert_eq!(
            Change::stat(dir.path().join("nope")).state,
            PathState::Missing
        );
    }
}
