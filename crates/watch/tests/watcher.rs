//! The watcher on real files in temp dirs with real inotify: which changes arrive, which
//! directories get watches, paths that appear later, and the polling fallback.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use lilt_model::IgnoreSet;
use lilt_watch::{
    IgnoreSource, InotifyLimit, SourcedIgnore, TargetId, WatchMessage, WatchSet, WatchSpec,
    WatchWarning, Watcher, WatcherConfig,
};

/// Generous: only bounds how long a failing test hangs, never asserted on.
const TIMEOUT: Duration = Duration::from_secs(20);

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("create temp dir");
        let root = fs::canonicalize(tmp.path()).expect("canonicalize temp dir");
        Fixture { _tmp: tmp, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn mkdir(&self, rel: &str) {
        fs::create_dir_all(self.path(rel)).expect("mkdir");
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir parent");
        }
        fs::write(path, text).expect("write");
    }
}

struct Running {
    watcher: Watcher,
    rx: Receiver<WatchMessage>,
    seen: BTreeSet<PathBuf>,
    warnings: Vec<WatchWarning>,
}

impl Running {
    fn start(set: WatchSet, config: WatcherConfig) -> Running {
        let (tx, rx) = channel();
        let watcher = Watcher::start(set, config, move |msg| {
            let _ = tx.send(msg);
        })
        .expect("start watcher");
        Running {
            watcher,
            rx,
            seen: BTreeSet::new(),
            warnings: Vec::new(),
        }
    }

    /// Collects batches until `path` has been reported; returns everything seen so far.
    fn wait_for(&mut self, path: &Path) -> &BTreeSet<PathBuf> {
        let deadline = Instant::now() + TIMEOUT;
        while !self.seen.contains(path) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(WatchMessage::Changes(batch)) => self.seen.extend(batch.paths),
                Ok(WatchMessage::Warning(w)) => self.warnings.push(w),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("{} was never reported; saw {:?}", path.display(), self.seen)
                }
            }
        }
        &self.seen
    }

    fn forget_seen(&mut self) {
        self.seen.clear();
    }
}

fn spec(id: &str, paths: Vec<PathBuf>, ignores: Vec<SourcedIgnore>) -> WatchSpec {
    WatchSpec {
        id: TargetId::parse(id).expect("a target id"),
        paths,
        ignores,
    }
}

fn ignore(base: &Path, patterns: &[&str]) -> SourcedIgnore {
    SourcedIgnore::new(
        IgnoreSource::Other("test".to_owned()),
        IgnoreSet {
            base_path: base.to_path_buf(),
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        },
    )
}

fn watch_set(specs: Vec<WatchSpec>, global: &[SourcedIgnore]) -> WatchSet {
    let (set, errors) = WatchSet::build(specs, global);
    assert!(errors.is_empty(), "{errors:?}");
    set
}

#[test]
fn create_modify_delete_and_rename_are_reported() {
    let fx = Fixture::new();
    fx.write("src/old.txt", "1");
    fx.write("src/keep.txt", "1");
    let set = watch_set(vec![spec("image:a", vec![fx.path("src")], vec![])], &[]);
    let mut run = Running::start(set, WatcherConfig::default());

    fx.write("src/new.txt", "created");
    run.wait_for(&fx.path("src/new.txt"));
    fx.write("src/keep.txt", "modified");
    run.wait_for(&fx.path("src/keep.txt"));
    fs::remove_file(fx.path("src/new.txt")).expect("rm");
    run.forget_seen();
    run.wait_for(&fx.path("src/new.txt"));
    fs::rename(fx.path("src/old.txt"), fx.path("src/renamed.txt")).expect("rename");
    let seen = run.wait_for(&fx.path("src/renamed.txt"));
    assert!(seen.contains(&fx.path("src/old.txt")), "{seen:?}");
}

#[test]
fn new_subdirectories_are_watched_and_their_files_reported() {
    let fx = Fixture::new();
    fx.mkdir("src");
    let set = watch_set(vec![spec("image:a", vec![fx.path("src")], vec![])], &[]);
    let mut run = Running::start(set, WatcherConfig::default());
    assert_eq!(run.watcher.stats().watched_dirs, 1);

    // Written right after mkdir, possibly before the watch on `deep` exists.
    fx.write("src/a/b/deep/file.rs", "x");
    run.wait_for(&fx.path("src/a/b/deep/file.rs"));
    fx.write("src/a/b/deep/later.rs", "y");
    run.wait_for(&fx.path("src/a/b/deep/later.rs"));
    assert_eq!(run.watcher.stats().watched_dirs, 4);
}

#[test]
fn ignored_directories_are_never_watched() {
    let fx = Fixture::new();
    for idx in 0..10 {
        fx.write(&format!("app/node_modules/pkg{idx}/lib/index.js"), "x");
    }
    fx.write("app/src/main.js", "x");
    fx.write("app/src/util/u.js", "x");
    fx.write("app/.git/objects/ab/cd", "x");
    let set = watch_set(
        vec![spec(
            "image:app",
            vec![fx.path("app")],
            vec![ignore(&fx.path("app"), &["node_modules", ".git"])],
        )],
        &[],
    );
    let mut run = Running::start(set, WatcherConfig::default());
    // app, app/src, app/src/util: nothing under node_modules or .git.
    assert_eq!(run.watcher.stats().watched_dirs, 3);

    fx.write("app/node_modules/pkg1/lib/index.js", "changed");
    fx.write("app/node_modules/fresh/x.js", "new");
    fx.write("app/src/util/u.js", "sentinel");
    let seen = run.wait_for(&fx.path("app/src/util/u.js"));
    assert!(
        seen.iter()
            .all(|p| !p.to_string_lossy().contains("node_modules")),
        "{seen:?}"
    );
    assert_eq!(run.watcher.stats().watched_dirs, 3);
}

#[test]
fn a_reinclude_keeps_the_directory_watched() {
    let fx = Fixture::new();
    fx.write("ctx/docs/README.md", "x");
    fx.write("ctx/docs/other.md", "x");
    let set = watch_set(
        vec![spec(
            "image:docs",
            vec![fx.path("ctx")],
            vec![ignore(&fx.path("ctx"), &["docs", "!docs/README.md"])],
        )],
        &[],
    );
    let mut run = Running::start(set, WatcherConfig::default());
    assert_eq!(run.watcher.stats().watched_dirs, 2);
    fx.write("ctx/docs/other.md", "ignored");
    fx.write("ctx/docs/README.md", "re-included");
    let seen = run.wait_for(&fx.path("ctx/docs/README.md"));
    assert!(!seen.contains(&fx.path("ctx/docs/other.md")), "{seen:?}");
}

#[test]
fn a_watched_path_that_appears_later_is_picked_up() {
    let fx = Fixture::new();
    fx.mkdir("repo/unrelated/big");
    let set = watch_set(
        vec![spec(
            "local:gen",
            vec![fx.path("repo/generated/out")],
            vec![],
        )],
        &[],
    );
    let mut run = Running::start(set, WatcherConfig::default());
    // Only the nearest existing ancestor is watched, not its unrelated subtree.
    assert_eq!(run.watcher.stats().watched_dirs, 1);

    fx.write("repo/unrelated/big/x", "not reported");
    fx.write("repo/generated/out/a.txt", "x");
    let seen = run.wait_for(&fx.path("repo/generated/out/a.txt"));
    assert!(!seen.contains(&fx.path("repo/unrelated/big/x")), "{seen:?}");
    assert!(!seen.contains(&fx.path("repo/generated")), "{seen:?}");
    assert_eq!(run.watcher.stats().watched_dirs, 3);
}

#[test]
fn a_watched_file_reports_only_itself() {
    let fx = Fixture::new();
    fx.write("proj/config.yaml", "a: 1");
    fx.write("proj/sub/other.txt", "x");
    let set = watch_set(
        vec![spec(
            "configs:(Tiltfile)",
            vec![fx.path("proj/config.yaml")],
            vec![],
        )],
        &[],
    );
    let mut run = Running::start(set, WatcherConfig::default());
    assert_eq!(run.watcher.stats().watched_dirs, 1);
    fx.write("proj/sibling.txt", "not reported");
    fx.write("proj/config.yaml", "a: 2");
    let seen = run.wait_for(&fx.path("proj/config.yaml"));
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[test]
fn ignore_sets_from_several_sources_combine() {
    let fx = Fixture::new();
    fx.write("repo/api/main.go", "x");
    fx.write("repo/web/index.js", "x");
    let tiltignore = SourcedIgnore::new(
        IgnoreSource::Tiltignore {
            file: fx.path("repo/.tiltignore"),
        },
        IgnoreSet {
            base_path: fx.path("repo"),
            patterns: vec!["**/*.log".to_owned()],
        },
    );
    let settings = SourcedIgnore::new(
        IgnoreSource::WatchSettings,
        IgnoreSet {
            base_path: fx.path("repo"),
            patterns: vec!["web/tmp".to_owned()],
        },
    );
    let set = watch_set(
        vec![
            spec(
                "image:api",
                vec![fx.path("repo/api")],
                vec![ignore(&fx.path("repo/api"), &["*.gen.go"])],
            ),
            spec("image:web", vec![fx.path("repo/web")], vec![]),
        ],
        &[tiltignore, settings],
    );
    let mapping = set.clone();
    let mut run = Running::start(set, WatcherConfig::default());
    for rel in [
        "repo/api/debug.log",
        "repo/api/x.gen.go",
        "repo/web/tmp/cache",
        "repo/web/.index.js.swp",
        "repo/web/index.js~",
    ] {
        fx.write(rel, "ignored");
    }
    fx.write("repo/api/main.go", "changed");
    fx.write("repo/web/index.js", "changed");
    run.wait_for(&fx.path("repo/api/main.go"));
    let seen = run.wait_for(&fx.path("repo/web/index.js")).clone();
    let expected: BTreeSet<PathBuf> =
        [fx.path("repo/api/main.go"), fx.path("repo/web/index.js")].into();
    assert_eq!(seen, expected);
    let targets = mapping.affected(seen.iter().map(PathBuf::as_path));
    assert_eq!(
        targets,
        vec![TargetId::image("api"), TargetId::image("web")]
    );
}

#[test]
fn a_deleted_and_recreated_directory_is_watched_again() {
    let fx = Fixture::new();
    fx.write("w/sub/a.txt", "x");
    let set = watch_set(vec![spec("image:w", vec![fx.path("w")], vec![])], &[]);
    let mut run = Running::start(set, WatcherConfig::default());
    assert_eq!(run.watcher.stats().watched_dirs, 2);
    fs::remove_dir_all(fx.path("w/sub")).expect("rm -r");
    run.wait_for(&fx.path("w/sub"));
    fx.write("w/sub/b.txt", "x");
    run.wait_for(&fx.path("w/sub/b.txt"));
    fx.write("w/sub/c.txt", "x");
    run.wait_for(&fx.path("w/sub/c.txt"));
    assert_eq!(run.watcher.stats().watched_dirs, 2);
}

#[test]
fn a_directory_moved_in_is_walked() {
    let fx = Fixture::new();
    fx.write("outside/pkg/inner/f.txt", "x");
    fx.mkdir("w");
    let set = watch_set(vec![spec("image:w", vec![fx.path("w")], vec![])], &[]);
    let mut run = Running::start(set, WatcherConfig::default());
    fs::rename(fx.path("outside/pkg"), fx.path("w/pkg")).expect("mv");
    run.wait_for(&fx.path("w/pkg/inner/f.txt"));
    fx.write("w/pkg/inner/g.txt", "x");
    run.wait_for(&fx.path("w/pkg/inner/g.txt"));
    assert_eq!(run.watcher.stats().watched_dirs, 3);
}

#[test]
fn past_the_watch_limit_directories_are_polled() {
    let fx = Fixture::new();
    fx.write("w/a/f.txt", "x");
    fx.write("w/b/f.txt", "x");
    fx.write("w/c/f.txt", "x");
    let set = watch_set(vec![spec("image:w", vec![fx.path("w")], vec![])], &[]);
    let config = WatcherConfig {
        poll_interval: Duration::from_millis(50),
        max_watches: Some(2),
        ..WatcherConfig::default()
    };
    let mut run = Running::start(set, config);
    let stats = run.watcher.stats();
    assert_eq!((stats.watched_dirs, stats.polled_dirs), (2, 2));

    fx.write("w/c/f.txt", "changed and longer");
    fx.write("w/b/new.txt", "created");
    run.wait_for(&fx.path("w/c/f.txt"));
    run.wait_for(&fx.path("w/b/new.txt"));
    fx.write("w/c/d/deep.txt", "new dir under a polled one");
    run.wait_for(&fx.path("w/c/d/deep.txt"));

    let limit = run.warnings.iter().find_map(|w| match w {
        WatchWarning::Limit(report) => Some(report.clone()),
        _ => None,
    });
    let Some(report) = limit else {
        panic!("no limit warning among {:?}", run.warnings)
    };
    assert_eq!(report.limit, InotifyLimit::Configured(2));
    assert_eq!(
        report.to_string(),
        "reached the configured maximum of 2 watched directories: 2 directories are polled \
         every 50 ms instead of watched, so changes there are seen later"
    );
}
