//! The build context: walk the context directory with the image's ignore rules, hash every
//! file that goes into it (path, mode, contents), and stream exactly those files as a tar.
//!
//! The walk produces a [`ContextManifest`]; the tar is written from the manifest, not from
//! a second walk, so the content tag computed before the build describes exactly what is
//! sent. A file whose size or modification time differs from the manifest when it is sent
//! stops the build ([`crate::BuildError::ContextChanged`]).
//!
//! File hashes are cached per context root by (device, inode, size, mtime, ctime, mode), so
//! an up-to-date check of an unchanged tree reads no file contents, only metadata. A file
//! modified less than [`RACY_WINDOW`] before it was hashed is not cached, since a second
//! write within the file system's timestamp granularity would not change its stamp.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lilt_watch::Matcher;
use sha2::{Digest, Sha256};

/// Files modified this recently before hashing are hashed again next time.
pub const RACY_WINDOW: Duration = Duration::from_secs(1);

/// How much tar data is handed to the HTTP body at a time.
const CHUNK: usize = 256 * 1024;

/// How many chunks may wait between the tar writer and the daemon connection. With
/// [`CHUNK`] this bounds the memory a build's upload holds, whatever the context size.
const CHANNEL_DEPTH: usize = 4;

/// What a context entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File {
        size: u64,
        /// Modification time in nanoseconds since the epoch, to detect changes while sending.
        mtime_ns: i128,
        /// SHA-256 of the contents.
        sha256: [u8; 32],
    },
    Dir,
    Symlink {
        target: PathBuf,
    },
}

/// One file, directory or symlink of the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the context root, `/`-separated.
    pub rel: String,
    pub kind: EntryKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Whole seconds, for the tar header.
    pub mtime: i64,
}

/// The context as it will be sent: every entry that survives the ignore rules, in path order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextManifest {
    pub root: PathBuf,
    pub entries: Vec<Entry>,
    /// How many files had to be read (the others' hashes came from the cache).
    pub files_read: usize,
}

impl ContextManifest {
    /// SHA-256 over every entry's path, kind, mode and content hash (not times or owners:
    /// those do not change what a Dockerfile builds).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for e in &self.entries {
            match &e.kind {
                EntryKind::File { sha256, .. } => {
                    field(&mut h, b"f");
                    field(&mut h, e.rel.as_bytes());
                    h.update(e.mode.to_be_bytes());
                    h.update(sha256);
                }
                EntryKind::Dir => {
                    field(&mut h, b"d");
                    field(&mut h, e.rel.as_bytes());
                    h.update(e.mode.to_be_bytes());
                }
                EntryKind::Symlink { target } => {
                    field(&mut h, b"l");
                    field(&mut h, e.rel.as_bytes());
                    field(&mut h, target.as_os_str().as_encoded_bytes());
                }
            }
        }
        h.finalize().into()
    }

    /// Total bytes of file contents.
    pub fn content_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }

    /// Whether an entry with this relative path is present.
    pub fn contains(&self, rel: &str) -> bool {
        self.entries
            .binary_search_by(|e| e.rel.as_str().cmp(rel))
            .is_ok()
    }
}

/// A length-prefixed field, so that no two different inputs hash the same byte stream.
pub(crate) fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// What identifies an unchanged file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    mode: u32,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            mode: meta.mode(),
        }
    }
}

/// A file's stamp and content hash.
type Hashed = (Stamp, [u8; 32]);

/// Content hashes of files seen before, per context root.
#[derive(Debug, Default)]
pub struct HashCache {
    roots: Mutex<HashMap<PathBuf, HashMap<String, Hashed>>>,
}

impl HashCache {
    pub fn new() -> HashCache {
        HashCache::default()
    }

    /// Forgets every hash (benchmarks use it to measure a cold check).
    pub fn clear(&self) {
        if let Ok(mut roots) = self.roots.lock() {
            roots.clear();
        }
    }
}

/// Why a context could not be read.
#[derive(Debug)]
pub enum ScanError {
    Io { path: PathBuf, source: io::Error },
}

/// Walks `root`, leaving out what `matcher` ignores, and hashes every file (from `cache`
/// when its stamp is unchanged).
pub fn scan(
    root: &Path,
    matcher: &Matcher,
    cache: &HashCache,
) -> Result<ContextManifest, ScanError> {
    scan_at(root, matcher, cache, SystemTime::now())
}

/// [`scan`] as if it started at `started` (the racy-window rule is relative to it).
fn scan_at(
    root: &Path,
    matcher: &Matcher,
    cache: &HashCache,
    started: SystemTime,
) -> Result<ContextManifest, ScanError> {
    let root = lilt_watch::clean_path(root);
    let io_err = |path: &Path, source: io::Error| ScanError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut entries: Vec<Entry> = Vec::new();
    // Files whose contents must be read: (index into entries, absolute path).
    let mut to_hash: Vec<(usize, PathBuf)> = Vec::new();
    let previous = cache
        .roots
        .lock()
        .ok()
        .and_then(|mut roots| roots.remove(&root))
        .unwrap_or_default();
    let mut stamps: Vec<Option<Stamp>> = Vec::new();

    let mut walk = walkdir::WalkDir::new(&root)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(next) = walk.next() {
        let entry = match next {
            Ok(entry) => entry,
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.clone());
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("file system loop"));
                return Err(io_err(&path, source));
            }
        };
        let path = entry.path();
        let file_type = entry.file_type();
        if matcher.matches(path) {
            if file_type.is_dir() && matcher.matches_entire_dir(path) {
                walk.skip_current_dir();
            }
            continue;
        }
        let Ok(rel) = path.strip_prefix(&root) else {
            continue;
        };
        let Some(rel) = rel.to_str() else {
            return Err(io_err(
                path,
                io::Error::new(io::ErrorKind::InvalidData, "file name is not UTF-8"),
            ));
        };
        let meta = entry.metadata().map_err(|e| {
            let source = e
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("metadata"));
            io_err(path, source)
        })?;
        let mode = meta.mode() & 0o7777;
        let mtime = meta.mtime();
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| io_err(path, e))?;
            EntryKind::Symlink { target }
        } else if file_type.is_file() {
            let stamp = Stamp::of(&meta);
            let cached = previous
                .get(rel)
                .filter(|(s, _)| *s == stamp)
                .map(|(_, h)| *h);
            if cached.is_none() {
                to_hash.push((entries.len(), path.to_path_buf()));
            }
            stamps.resize(entries.len() + 1, None);
            stamps[entries.len()] = Some(stamp);
            EntryKind::File {
                size: stamp.size,
                mtime_ns: stamp.mtime_ns,
                sha256: cached.unwrap_or_default(),
            }
        } else {
            // Sockets, FIFOs and devices cannot be sent to a daemon; docker skips them too.
            continue;
        };
        entries.push(Entry {
            rel: rel.to_owned(),
            kind,
            mode,
            mtime,
        });
    }
    stamps.resize(entries.len(), None);

    for (idx, result) in hash_files(&to_hash) {
        let (stamp, sha) = result.map_err(|e| io_err(&to_hash[idx].1, e))?;
        let entry_idx = to_hash[idx].0;
        // Hash and stamp from the same open file: the stamp taken while walking may be
        // older than the contents read.
        stamps[entry_idx] = Some(stamp);
        let entry = &mut entries[entry_idx];
        entry.mode = stamp.mode & 0o7777;
        entry.mtime = i64::try_from(stamp.mtime_ns / 1_000_000_000).unwrap_or(0);
        entry.kind = EntryKind::File {
            size: stamp.size,
            mtime_ns: stamp.mtime_ns,
            sha256: sha,
        };
    }

    let mut fresh: HashMap<String, Hashed> = HashMap::with_capacity(entries.len());
    let racy_before = started
        .checked_sub(RACY_WINDOW)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    for (entry, stamp) in entries.iter().zip(&stamps) {
        if let (EntryKind::File { sha256, .. }, Some(stamp)) = (&entry.kind, stamp)
            && stamp.mtime_ns < racy_before
            && stamp.ctime_ns < racy_before
        {
            fresh.insert(entry.rel.clone(), (*stamp, *sha256));
        }
    }
    if let Ok(mut roots) = cache.roots.lock() {
        roots.insert(root.clone(), fresh);
    }
    Ok(ContextManifest {
        root,
        entries,
        files_read: to_hash.len(),
    })
}

/// Hashes files on a few threads (a cold context of thousands of files is dominated by
/// reading and hashing).
fn hash_files(files: &[(usize, PathBuf)]) -> Vec<(usize, io::Result<Hashed>)> {
    if files.is_empty() {
        return Vec::new();
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(files.len().div_ceil(64));
    if workers <= 1 {
        let mut buf = vec![0u8; 64 * 1024];
        return files
            .iter()
            .enumerate()
            .map(|(i, (_, p))| (i, hash_file(p, &mut buf)))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out = Vec::with_capacity(files.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((_, path)) = files.get(i) else { break };
                        done.push((i, hash_file(path, &mut buf)));
                    }
                    done
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(done) => out.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    out
}

fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<Hashed> {
    let mut file = File::open(path)?;
    let stamp = Stamp::of(&file.metadata()?);
    let mut h = Sha256::new();
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok((stamp, h.finalize().into()))
}

/// A file lilt adds to the tar that is not in the context directory (a generated
/// Dockerfile, a `.dockerignore`).
#[derive(Debug, Clone)]
pub struct ExtraFile {
    pub rel: String,
    pub contents: Vec<u8>,
}

/// Why the tar stream stopped early.
#[derive(Debug)]
pub enum TarError {
    /// A file differs from the manifest (size or modification time).
    Changed(PathBuf),
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

/// Where the tar writer leaves the reason it failed, for the caller to report once the
/// build request fails with a body error.
pub type TarFailure = Arc<Mutex<Option<TarError>>>;

/// Streams the context as a tar: `extra` files first, then every manifest entry except
/// those whose relative path is in `skip`. Memory stays bounded: the writer runs on a
/// blocking thread and waits whenever [`CHANNEL_DEPTH`] chunks are unsent.
///
/// Dropping the stream stops the writer at its next chunk.
pub fn tar_stream(
    manifest: Arc<ContextManifest>,
    extra: Vec<ExtraFile>,
    skip: Vec<String>,
) -> (
    impl futures::Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    TarFailure,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(CHANNEL_DEPTH);
    let failure: TarFailure = Arc::new(Mutex::new(None));
    let slot = failure.clone();
    tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = write_tar(&manifest, &extra, &skip, &mut writer);
        match result {
            Ok(()) => {
                let _ = writer.flush();
            }
            Err(e) => {
                let message = match &e {
                    TarError::Changed(p) => format!("{} changed while being sent", p.display()),
                    TarError::Io { path, source } => format!("{}: {source}", path.display()),
                };
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(e);
                }
                let _ = tx.blocking_send(Err(io::Error::other(message)));
            }
        }
    });
    (channel_stream(rx), failure)
}

/// The items of a channel as a stream, ending when every sender is gone. Dropping the
/// stream closes the channel, which is how its producer learns to stop.
pub(crate) fn channel_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// Writes the whole tar into `out` (used by [`tar_stream`] and by tests and benchmarks).
pub fn write_tar<W: Write>(
    manifest: &ContextManifest,
    extra: &[ExtraFile],
    skip: &[String],
    out: W,
) -> Result<(), TarError> {
    let mut builder = tar::Builder::new(out);
    let sink_err = |source: io::Error| TarError::Io {
        path: PathBuf::from("<daemon connection>"),
        source,
    };
    for file in extra {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(file.contents.len() as u64);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, &file.rel, file.contents.as_slice())
            .map_err(sink_err)?;
    }
    for entry in &manifest.entries {
        if skip.contains(&entry.rel) {
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.mode);
        header.set_mtime(u64::try_from(entry.mtime).unwrap_or(0));
        header.set_uid(0);
        header.set_gid(0);
        match &entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, &entry.rel, io::empty())
                    .map_err(sink_err)?;
            }
            EntryKind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder
                    .append_link(&mut header, &entry.rel, target)
                    .map_err(sink_err)?;
            }
            EntryKind::File { size, mtime_ns, .. } => {
                let path = manifest.root.join(&entry.rel);
                let io_err = |source: io::Error| TarError::Io {
                    path: path.clone(),
                    source,
                };
                let file = File::open(&path).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        TarError::Changed(path.clone())
                    } else {
                        io_err(e)
                    }
                })?;
                let before = Stamp::of(&file.metadata().map_err(io_err)?);
                if before.size != *size || before.mtime_ns != *mtime_ns {
                    return Err(TarError::Changed(path));
                }
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(*size);
                let mut reader = Exact {
                    inner: io::BufReader::with_capacity(128 * 1024, &file).take(*size),
                    left: *size,
                };
                if let Err(e) = builder.append_data(&mut header, &entry.rel, &mut reader) {
                    return Err(if reader.left > 0 {
                        TarError::Changed(path)
                    } else {
                        sink_err(e)
                    });
                }
                let after = Stamp::of(&file.metadata().map_err(io_err)?);
                if after.mtime_ns != *mtime_ns || after.size != *size {
                    return Err(TarError::Changed(path));
                }
            }
        }
    }
    builder.into_inner().map_err(sink_err)?;
    Ok(())
}

/// Reads exactly the size the tar header announced; a shorter file is an error rather than
/// a corrupt archive.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being sent",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Collects tar bytes into chunks and hands them to the HTTP body.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "build request dropped"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(root: &Path, rel: &str, contents: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// A matcher for `patterns` relative to `root`; no patterns ignores nothing (an
    /// `IgnoreSet` with no patterns would ignore the whole root).
    fn matcher(root: &Path, patterns: &[&str]) -> Matcher {
        if patterns.is_empty() {
            return Matcher::default();
        }
        lilt_watch::matcher_for(root, patterns).unwrap()
    }

    fn rels(m: &ContextManifest) -> Vec<&str> {
        m.entries.iter().map(|e| e.rel.as_str()).collect()
    }

    #[test]
    fn ignores_apply_and_entries_are_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "b.txt", "b");
        write(root, "a/x.txt", "x");
        write(root, "node_modules/pkg/index.js", "js");
        write(root, "logs/keep.log", "k");
        write(root, "logs/drop.log", "d");
        std::os::unix::fs::symlink("b.txt", root.join("link")).unwrap();
        let m = matcher(root, &["node_modules", "logs/*.log", "!logs/keep.log"]);
        let manifest = scan(root, &m, &HashCache::new()).unwrap();
        // `logs` itself is ignored by nothing, keep.log is re-included.
        assert_eq!(
            rels(&manifest),
            vec!["a", "a/x.txt", "b.txt", "link", "logs", "logs/keep.log"]
        );
        assert!(matches!(
            &manifest.entries[3].kind,
            EntryKind::Symlink { target } if target == Path::new("b.txt")
        ));
    }

    #[test]
    fn digest_covers_contents_mode_and_paths_but_not_ignored_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "src/main.rs", "fn main() {}");
        write(root, "tmp/scratch", "1");
        let m = matcher(root, &["tmp"]);
        let cache = HashCache::new();
        let d0 = scan(root, &m, &cache).unwrap().digest();
        // An ignored file changing does not change the digest.
        write(root, "tmp/scratch", "2");
        assert_eq!(scan(root, &m, &cache).unwrap().digest(), d0);
        // Contents do.
        write(root, "src/main.rs", "fn main() { }");
        let d1 = scan(root, &m, &cache).unwrap().digest();
        assert_ne!(d1, d0);
        // So does the mode.
        let path = root.join("src/main.rs");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let d2 = scan(root, &m, &cache).unwrap().digest();
        assert_ne!(d2, d1);
        // And a rename with the same contents.
        std::fs::rename(&path, root.join("src/lib.rs")).unwrap();
        assert_ne!(scan(root, &m, &cache).unwrap().digest(), d2);
    }

    #[test]
    fn cache_reuses_hashes_of_settled_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a.txt", "aaa");
        write(root, "b.txt", "bbb");
        let cache = HashCache::new();
        let m = matcher(root, &[]);
        // Just written: inside the racy window, so nothing is cached.
        let first = scan(root, &m, &cache).unwrap();
        assert_eq!(first.files_read, 2);
        let second = scan(root, &m, &cache).unwrap();
        assert_eq!(second.files_read, 2);
        // Seen from a moment well after the writes, both hashes are kept...
        let later = SystemTime::now() + Duration::from_secs(10);
        scan_at(root, &m, &cache, later).unwrap();
        let warm = scan_at(root, &m, &cache, later).unwrap();
        assert_eq!(warm.files_read, 0);
        assert_eq!(warm.digest(), first.digest());
        // ...until a file's stamp changes: then only that one is read again.
        write(root, "b.txt", "BBBB");
        let changed = scan_at(root, &m, &cache, later).unwrap();
        assert_eq!(changed.files_read, 1);
        assert_ne!(changed.digest(), first.digest());
    }

    #[test]
    fn tar_holds_extra_files_and_the_manifest_minus_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", "FROM scratch");
        write(root, "app/run.sh", "#!/bin/sh");
        std::fs::set_permissions(
            root.join("app/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let long = format!("{}/file.txt", "d".repeat(120));
        write(root, &long, "deep");
        let manifest = scan(root, &matcher(root, &[]), &HashCache::new()).unwrap();
        let mut out = Vec::new();
        write_tar(
            &manifest,
            &[ExtraFile {
                rel: ".dockerfile.lilt".to_owned(),
                contents: b"FROM busybox\n".to_vec(),
            }],
            &["Dockerfile".to_owned()],
            &mut out,
        )
        .unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = entry.header().mode().unwrap();
            let uid = entry.header().uid().unwrap();
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            seen.push((path, mode, uid, body));
        }
        let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                ".dockerfile.lilt",
                "app",
                "app/run.sh",
                &"d".repeat(120),
                long.as_str()
            ]
        );
        assert_eq!(seen[0].3, "FROM busybox\n");
        assert_eq!(seen[2].1, 0o755);
        assert_eq!(seen[2].2, 0);
        assert_eq!(seen[4].3, "deep");
    }

    #[test]
    fn a_file_changed_after_scanning_stops_the_tar() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a.txt", "one");
        let manifest = scan(root, &matcher(root, &[]), &HashCache::new()).unwrap();
        write(root, "a.txt", "three");
        let err = write_tar(&manifest, &[], &[], io::sink()).unwrap_err();
        assert!(matches!(err, TarError::Changed(p) if p.ends_with("a.txt")));
        std::fs::remove_file(root.join("a.txt")).unwrap();
        let err = write_tar(&manifest, &[], &[], io::sink()).unwrap_err();
        assert!(matches!(err, TarError::Changed(_)));
    }

    #[tokio::test]
    async fn streamed_tar_equals_the_written_one() {
        use futures::StreamExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..50 {
            write(root, &format!("f{i}.bin"), &"x".repeat(20_000 + i));
        }
        let manifest = Arc::new(scan(root, &matcher(root, &[]), &HashCache::new()).unwrap());
        let mut expected = Vec::new();
        write_tar(&manifest, &[], &[], &mut expected).unwrap();
        let (stream, failure) = tar_stream(manifest, Vec::new(), Vec::new());
        let chunks: Vec<Bytes> = stream.map(|c| c.unwrap()).collect().await;
        assert!(chunks.len() > 1, "a 1 MB context arrives in several chunks");
        assert!(chunks.iter().all(|c| c.len() <= CHUNK));
        assert_eq!(chunks.concat(), expected);
        assert!(failure.lock().unwrap().is_none());
    }
}
