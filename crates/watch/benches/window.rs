//! How many batches an editor save and a `git checkout` produce for several quiet windows:
//! the measurement behind `DEFAULT_QUIET`. Run with `cargo bench -p lilt-watch --bench window`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use lilt_model::IgnoreSet;
use lilt_watch::{
    CoalesceConfig, DEFAULT_MAX, IgnoreSource, SourcedIgnore, TargetId, WatchMessage, WatchSet,
    WatchSpec, Watcher, WatcherConfig,
};

const WINDOWS_MS: &[u64] = &[5, 10, 20, 30, 50, 100, 200];
const SAVES: usize = 30;
const CHECKOUTS: usize = 6;
const REPO_FILES: usize = 3000;

fn main() {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let repo = tmp.path().join("repo");
    make_repo(&repo);
    println!(
        "quiet window | batches per editor save | batches per git checkout of {REPO_FILES} files"
    );
    for &ms in WINDOWS_MS {
        let quiet = Duration::from_millis(ms);
        let saves = editor_saves(&tmp.path().join(format!("edit{ms}")), quiet);
        let checkouts = checkouts(&repo, quiet);
        println!("{ms:>9} ms | {saves:>23.2} | {checkouts:>10.2}");
    }
}

/// Watches `dir` ignoring `.git`, as Tilt does for the repository roots it watches.
fn watch(dir: &Path, quiet: Duration) -> (Watcher, Receiver<WatchMessage>) {
    let git_dir = SourcedIgnore::new(
        IgnoreSource::Other(".git".to_owned()),
        IgnoreSet {
            base_path: dir.join(".git"),
            patterns: Vec::new(),
        },
    );
    let (set, _) = WatchSet::build(
        vec![WatchSpec {
            id: TargetId::image("x"),
            paths: vec![dir.to_path_buf()],
            ignores: vec![git_dir],
        }],
        &[],
    );
    let (tx, rx) = channel();
    let config = WatcherConfig {
        coalesce: CoalesceConfig {
            quiet,
            max: DEFAULT_MAX,
        },
        ..WatcherConfig::default()
    };
    match Watcher::start(set, config, move |m| {
        let _ = tx.send(m);
    }) {
        Ok(w) => (w, rx),
        Err(e) => panic!("{e}"),
    }
}

/// Waits until no batch has arrived for a while, and counts the batches.
fn count_batches(rx: &Receiver<WatchMessage>, settle: Duration) -> usize {
    let mut n = 0;
    while let Ok(msg) = rx.recv_timeout(settle) {
        if matches!(msg, WatchMessage::Changes(_)) {
            n += 1;
        }
    }
    n
}

/// Vim's save with `backupcopy=no` and `writebackup`: probe file 4913, rename the original
/// to a backup, write the new file, fsync, restore the mode, delete the backup.
fn vim_save(file: &Path, round: usize) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("/"));
    let probe = dir.join("4913");
    fs::write(&probe, b"")?;
    fs::remove_file(&probe)?;
    let backup = PathBuf::from(format!("{}~", file.display()));
    fs::rename(file, &backup)?;
    let out = fs::File::create(file)?;
    std::io::Write::write_all(&mut &out, format!("round {round}\n").repeat(200).as_bytes())?;
    out.sync_all()?;
    fs::set_permissions(file, fs::metadata(&backup)?.permissions())?;
    fs::remove_file(&backup)
}

fn editor_saves(dir: &Path, quiet: Duration) -> f64 {
    if let Err(e) = fs::create_dir_all(dir) {
        panic!("{e}");
    }
    let file = dir.join("main.rs");
    if let Err(e) = fs::write(&file, b"start") {
        panic!("{e}");
    }
    let (watcher, rx) = watch(dir, quiet);
    let settle = quiet * 4 + Duration::from_millis(100);
    let mut total = 0;
    for round in 0..SAVES {
        if let Err(e) = vim_save(&file, round) {
            panic!("{e}");
        }
        total += count_batches(&rx, settle);
    }
    drop(watcher);
    total as f64 / SAVES as f64
}

fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
        ])
        .args(args)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => panic!("git {args:?}: {other:?}"),
    }
}

/// A repository whose branches `a` and `b` differ in every one of its files.
fn make_repo(repo: &Path) {
    if let Err(e) = fs::create_dir_all(repo) {
        panic!("{e}");
    }
    git(repo, &["init", "-q", "-b", "a"]);
    let write_all = |tag: &str| {
        for idx in 0..REPO_FILES {
            let path = repo.join(format!("pkg{:02}/file{idx:04}.go", idx % 60));
            if let Some(parent) = path.parent() {
                let _ = fs::create_dir_all(parent);
            }
            if let Err(e) = fs::write(&path, format!("package x // {tag} {idx}\n").repeat(40)) {
                panic!("{e}");
            }
        }
    };
    write_all("a");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "a"]);
    git(repo, &["checkout", "-q", "-b", "b"]);
    write_all("b");
    git(repo, &["commit", "-q", "-a", "-m", "b"]);
}

fn checkouts(repo: &Path, quiet: Duration) -> f64 {
    let (watcher, rx) = watch(repo, quiet);
    let settle = quiet * 4 + Duration::from_millis(300);
    let mut total = 0;
    for round in 0..CHECKOUTS {
        let branch = if round % 2 == 0 { "a" } else { "b" };
        git(repo, &["checkout", "-q", branch]);
        total += count_batches(&rx, settle);
    }
    drop(watcher);
    total as f64 / CHECKOUTS as f64
}
