//! The watcher on a generated 200,000-file tree (10,000 directories × 20 files): time until
//! every watch is in place, and file saved → batch delivered latency with the default quiet
//! window. Run with `cargo bench -p lilt-watch --bench watcher`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use lilt_model::IgnoreSet;
use lilt_watch::{
    IgnoreSource, SourcedIgnore, TargetId, WatchMessage, WatchSet, WatchSpec, Watcher,
    WatcherConfig,
};

const TOP_DIRS: usize = 100;
const SUB_DIRS: usize = 100;
const FILES_PER_DIR: usize = 20;

static TREE: OnceLock<PathBuf> = OnceLock::new();

fn main() {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("cannot create the benchmark tree's temp dir: {e}"),
    };
    let root = tmp.path().join("tree");
    generate(&root);
    let _ = TREE.set(root);
    eprintln!(
        "inotify: max_user_watches={} max_user_instances={}",
        read_proc("max_user_watches"),
        read_proc("max_user_instances")
    );
    divan::main();
    latency_report(tmp.path());
}

fn read_proc(name: &str) -> String {
    fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// 100 top directories × 100 subdirectories, 20 small files in each subdirectory.
fn generate(root: &Path) {
    for top in 0..TOP_DIRS {
        for sub in 0..SUB_DIRS {
            let dir = root
                .join(format!("pkg{top:03}"))
                .join(format!("mod{sub:03}"));
            if let Err(e) = fs::create_dir_all(&dir) {
                panic!("mkdir {}: {e}", dir.display());
            }
            for file in 0..FILES_PER_DIR {
                if let Err(e) = fs::write(dir.join(format!("f{file:02}.rs")), b"x") {
                    panic!("write: {e}");
                }
            }
        }
    }
}

fn tree_set(ignores: Vec<SourcedIgnore>) -> WatchSet {
    let root = TREE.get().cloned().unwrap_or_default();
    let (set, _) = WatchSet::build(
        vec![WatchSpec {
            id: TargetId::image("tree"),
            paths: vec![root],
            ignores,
        }],
        &[],
    );
    set
}

fn start(set: WatchSet) -> Watcher {
    match Watcher::start(set, WatcherConfig::default(), |_| {}) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    }
}

/// Walk + one inotify watch per directory (10,101 watches).
#[divan::bench(sample_count = 5)]
fn ready_200k_files(bencher: divan::Bencher) {
    bencher.bench_local(|| {
        let watcher = start(tree_set(Vec::new()));
        assert_eq!(
            watcher.stats().watched_dirs,
            TOP_DIRS * SUB_DIRS + TOP_DIRS + 1
        );
        watcher
    });
}

/// The same tree with half the top directories ignored, so they are never walked.
#[divan::bench(sample_count = 5)]
fn ready_200k_files_half_ignored(bencher: divan::Bencher) {
    let root = TREE.get().cloned().unwrap_or_default();
    let ignores = vec![SourcedIgnore::new(
        IgnoreSource::Other("bench".to_owned()),
        IgnoreSet {
            base_path: root,
            patterns: (0..TOP_DIRS / 2).map(|i| format!("pkg{i:03}")).collect(),
        },
    )];
    bencher.bench_local(|| {
        let watcher = start(tree_set(ignores.clone()));
        assert_eq!(
            watcher.stats().watched_dirs,
            (TOP_DIRS / 2) * (SUB_DIRS + 1) + 1
        );
        watcher
    });
}

/// Saves one file 200 times (one save at a time) and prints p50/p99 of the time from the
/// write returning to the batch arriving, with the default quiet window.
fn latency_report(tmp: &Path) {
    let dir = tmp.join("latency");
    if let Err(e) = fs::create_dir_all(&dir) {
        panic!("{e}");
    }
    let (set, _) = WatchSet::build(
        vec![WatchSpec {
            id: TargetId::image("latency"),
            paths: vec![dir.clone()],
            ignores: Vec::new(),
        }],
        &[],
    );
    let (tx, rx) = channel();
    let watcher = match Watcher::start(set, WatcherConfig::default(), move |msg| {
        let _ = tx.send(msg);
    }) {
        Ok(w) => w,
        Err(e) => panic!("{e}"),
    };
    let file = dir.join("main.rs");
    let mut samples = Vec::new();
    for round in 0..200 {
        let started = Instant::now();
        if let Err(e) = fs::write(&file, format!("fn main() {{ {round} }}")) {
            panic!("{e}");
        }
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(WatchMessage::Changes(batch)) if batch.paths.contains(&file) => break,
                Ok(_) => {}
                Err(e) => panic!("no batch: {e}"),
            }
        }
        samples.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(watcher);
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "save_to_batch_latency (quiet window {} ms, {} saves): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lilt_watch::DEFAULT_QUIET.as_millis(),
        samples.len(),
        pick(0.5).as_secs_f64() * 1000.0,
        pick(0.99).as_secs_f64() * 1000.0,
        pick(1.0).as_secs_f64() * 1000.0,
    );
}
