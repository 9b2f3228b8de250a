//! Build-context costs for a context of 10,000 files / 100 MB (100 directories of 100
//! files of 10 kB): walking and hashing it (cold, then with the hash cache warm), and
//! producing its tar through the streamed body the daemon receives.
//!
//! Before the benchmarks, `main` prints the peak RSS growth while the 100 MB tar is
//! streamed, next to the growth when the same tar is built in memory, to show that the
//! streamed body does not grow with the context.
//!
//! Run with `cargo bench -p lilt-build --bench context`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use lilt_build::{ContextManifest, HashCache, scan, tar_stream, write_tar};
use lilt_watch::Matcher;

mod fixture;
use fixture::{DIRS, FILES_PER_DIR};

/// The fixture, made once per process.
fn fixture() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        fixture::write_context(dir.path(), 0x9e37_79b9_7f4a_7c15);
        dir
    })
    .path()
}

fn manifest() -> Arc<ContextManifest> {
    static M: OnceLock<Arc<ContextManifest>> = OnceLock::new();
    M.get_or_init(|| {
        Arc::new(scan(fixture(), &Matcher::default(), &HashCache::new()).expect("scan"))
    })
    .clone()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `VmHWM` (peak RSS) in kB.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets the peak-RSS mark to the current RSS (Linux: write 5 to `clear_refs`).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak RSS growth (kB) while `f` runs.
fn peak_growth(f: impl FnOnce()) -> Option<u64> {
    if !reset_peak() {
        return None;
    }
    let before = rss_kb();
    f();
    Some(peak_rss_kb().saturating_sub(before))
}

fn report_memory() {
    let manifest = manifest();
    let rt = runtime();
    let bytes = manifest.content_bytes();
    // Warm the page cache so both runs read the same way.
    drain_streamed(&rt, &manifest);
    let streamed = peak_growth(|| {
        drain_streamed(&rt, &manifest);
    });
    let in_memory = peak_growth(|| {
        let mut out = Vec::new();
        write_tar(&manifest, &[], &[], &mut out).expect("tar");
        std::hint::black_box(out.len());
    });
    match (streamed, in_memory) {
        (Some(s), Some(m)) => eprintln!(
            "peak RSS growth for a {} MB context: streamed tar {} kB, tar built in memory {} kB",
            bytes / 1_000_000,
            s,
            m
        ),
        _ => eprintln!("peak RSS growth: /proc/self/clear_refs is not writable here"),
    }
}

fn main() {
    report_memory();
    divan::main();
}

/// Streams the tar as the build does and counts the bytes (the daemon's side is left out).
fn drain_streamed(rt: &tokio::runtime::Runtime, manifest: &Arc<ContextManifest>) -> usize {
    rt.block_on(async {
        let (stream, _failure) = tar_stream(manifest.clone(), Vec::new(), Vec::new());
        let mut total = 0usize;
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            total += chunk.expect("chunk").len();
        }
        total
    })
}

/// Walk + hash of every file, nothing cached (a fresh lilt on a tree it has not seen).
#[divan::bench(sample_count = 10)]
fn scan_cold_10k_files_100mb(bencher: divan::Bencher) {
    let root: PathBuf = fixture().to_path_buf();
    bencher
        .with_inputs(HashCache::new)
        .bench_local_values(|cache| scan(&root, &Matcher::default(), &cache).expect("scan"));
}

/// Walk + hash with every file's hash cached (the dev loop: nothing changed since the last
/// check): metadata only, no file contents read.
#[divan::bench(sample_count = 20)]
fn scan_warm_10k_files_100mb(bencher: divan::Bencher) {
    let root: PathBuf = fixture().to_path_buf();
    let cache = HashCache::new();
    let first = scan(&root, &Matcher::default(), &cache).expect("scan");
    assert_eq!(first.files_read, DIRS * FILES_PER_DIR);
    bencher.bench_local(|| {
        let m = scan(&root, &Matcher::default(), &cache).expect("scan");
        assert_eq!(m.files_read, 0);
        m.digest()
    });
}

/// The tar of 10,000 files / 100 MB through the streamed body (bounded channel of 256 kB
/// chunks), drained as fast as it comes.
#[divan::bench(sample_count = 10)]
fn tar_streamed_10k_files_100mb(bencher: divan::Bencher) {
    let manifest = manifest();
    let rt = runtime();
    bencher.bench_local(|| drain_streamed(&rt, &manifest));
}
