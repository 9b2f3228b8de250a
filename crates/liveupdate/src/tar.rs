//! The tar stream of a batch: the copied files read from disk while the archive is
//! written, directories walked recursively with the image's ignores, sent in bounded
//! chunks so memory does not grow with the size of the change.
//!
//! A path that disappeared between the plan and the moment it is read is not an error:
//! it is listed in [`TarSummary::vanished`] (its container path), and the appliers delete
//! it in the container after extracting, as if the plan had seen it deleted.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use bytes::Bytes;
use futures::Stream;
use lilt_watch::{Matcher, editor_temp_rule};
use tokio::sync::mpsc;

use crate::plan::{Batch, Copy};

/// Bytes per chunk handed to the transport.
pub const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the transport at most: with [`CHUNK`], at most 256 KiB of the
/// archive is in memory per stream, whatever the size of the change.
pub const CHUNKS_AHEAD: usize = 4;

/// What went into an archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarSummary {
    /// Entries written: files, directories and symlinks.
    pub entries: u64,
    /// Regular files among them.
    pub files: u64,
    /// File content bytes.
    pub bytes: u64,
    /// Container paths of copies whose local path was gone when it was read.
    pub vanished: Vec<String>,
}

/// Writes the archive of `copies` to `out` (paths relative to `/`, owner root, modes and
/// modification times from disk), leaving out what `filter` ignores below a copied
/// directory.
pub fn write_tar<W: Write>(copies: &[Copy], filter: &Matcher, out: W) -> io::Result<TarSummary> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let mut summary = TarSummary::default();
    for copy in copies {
        let meta = match std::fs::symlink_metadata(&copy.local) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                summary.vanished.push(copy.remote.clone());
                continue;
            }
            Err(e) => return Err(with_path(e, &copy.local)),
        };
        let name = copy.remote.trim_start_matches('/');
        if !meta.is_dir() {
            if !append_entry(&mut builder, &copy.local, name, &meta, &mut summary)? {
                summary.vanished.push(copy.remote.clone());
            }
            continue;
        }
        append_entry(&mut builder, &copy.local, name, &meta, &mut summary)?;
        let mut walk = walkdir::WalkDir::new(&copy.local)
            .follow_links(false)
            .sort_by_file_name()
            .min_depth(1)
            .into_iter();
        while let Some(next) = walk.next() {
            let entry = match next {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf);
                    match e.into_io_error() {
                        // Deleted while walking: the delete's own event syncs it.
                        Some(io) if io.kind() == io::ErrorKind::NotFound => continue,
                        Some(io) => {
                            return Err(match path {
                                Some(p) => with_path(io, &p),
                                None => io,
                            });
                        }
                        None => return Err(io::Error::other("file system loop")),
                    }
                }
            };
            let path = entry.path();
            if filter.matches(path) || editor_temp_rule(path).is_some() {
                if entry.file_type().is_dir() && filter.matches_entire_dir(path) {
                    walk.skip_current_dir();
                }
                continue;
            }
            let Ok(rel) = path.strip_prefix(&copy.local) else {
                continue;
            };
            let child = format!("{name}/{}", rel.to_string_lossy());
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(_) => continue,
            };
            append_entry(&mut builder, path, &child, &meta, &mut summary)?;
        }
    }
    builder.into_inner()?.flush()?;
    Ok(summary)
}

/// Adds one entry; `false` when a regular file was gone when it was opened.
fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    local: &Path,
    name: &str,
    meta: &std::fs::Metadata,
    summary: &mut TarSummary,
) -> io::Result<bool> {
    let mut header = tar::Header::new_gnu();
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    let ft = meta.file_type();
    if ft.is_dir() {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(meta.mode() & 0o7777);
        header.set_size(0);
        builder.append_data(&mut header, format!("{name}/"), io::empty())?;
    } else if ft.is_symlink() {
        let target = match std::fs::read_link(local) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(with_path(e, local)),
        };
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        builder.append_link(&mut header, name, target)?;
    } else if ft.is_file() {
        let file = match File::open(local) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(with_path(e, local)),
        };
        // Size and mode from the open file: what is read below.
        let meta = file.metadata().map_err(|e| with_path(e, local))?;
        let size = meta.len();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(meta.mode() & 0o7777);
        header.set_size(size);
        builder.append_data(&mut header, name, Exact::new(file, size))?;
        summary.files += 1;
        summary.bytes += size;
    } else {
        // Sockets, FIFOs and devices are not synced.
        return Ok(true);
    }
    summary.entries += 1;
    Ok(true)
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Exactly `size` bytes of a file that may change while it is read: cut when it grew,
/// zero-filled when it shrank (the archive stays well-formed; the change that altered the
/// file brings the right content in the next batch).
struct Exact<R> {
    inner: R,
    left: u64,
    eof: bool,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, size: u64) -> Exact<R> {
        Exact {
            inner,
            left: size,
            eof: false,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = if self.eof {
            buf[..want].fill(0);
            want
        } else {
            match self.inner.read(&mut buf[..want])? {
                0 => {
                    self.eof = true;
                    buf[..want].fill(0);
                    want
                }
                n => n,
            }
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// A writer that hands full chunks to a bounded channel, blocking while the transport is
/// behind (this is what keeps memory flat).
struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the tar stream's reader went away",
            )
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
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

/// The end of a [`tar_stream`]: what went in, once the stream is consumed.
pub struct TarDone {
    task: tokio::task::JoinHandle<io::Result<TarSummary>>,
}

impl TarDone {
    /// Waits for the writer; an error when a file could not be read or the stream was
    /// dropped before its end.
    pub async fn summary(self) -> io::Result<TarSummary> {
        self.task
            .await
            .map_err(|e| io::Error::other(format!("tar writer: {e}")))?
    }
}

/// Streams the archive of the batch's copies: a blocking task reads the files and writes
/// the tar into at most [`CHUNKS_AHEAD`] chunks of [`CHUNK`] bytes ahead of the consumer.
/// A read error ends the stream with that error. Must be called inside a Tokio runtime.
pub fn tar_stream(
    batch: &Batch,
) -> (
    impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    TarDone,
) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_AHEAD);
    let copies = batch.copies.clone();
    let filter = batch.filter.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut w = ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx: tx.clone(),
        };
        let result = write_tar(&copies, &filter, &mut w);
        if let Err(e) = &result {
            // The consumer sees the failure as the stream's last item.
            let _ = tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        result
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (stream, TarDone { task })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use lilt_model::IgnoreSet;
    use std::sync::Arc;

    fn names(data: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut ar = tar::Archive::new(data);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().display().to_string();
                let mut body = Vec::new();
                e.read_to_end(&mut body).unwrap();
                (name, body)
            })
            .collect()
    }

    fn copy(local: &Path, remote: &str) -> Copy {
        Copy {
            local: local.to_path_buf(),
            remote: remote.to_owned(),
        }
    }

    #[test]
    fn files_directories_and_symlinks_with_ignores_and_vanished_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("pkg/sub")).unwrap();
        std::fs::create_dir_all(root.join("pkg/node_modules/x")).unwrap();
        std::fs::write(root.join("pkg/a.txt"), "alpha").unwrap();
        std::fs::write(root.join("pkg/sub/b.txt"), "beta").unwrap();
        std::fs::write(root.join("pkg/skip.log"), "no").unwrap();
        std::fs::write(root.join("pkg/node_modules/x/y"), "no").unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("pkg/link")).unwrap();
        std::fs::write(root.join("single"), "one").unwrap();
        let filter = Matcher::from_ignore_sets(&[IgnoreSet {
            base_path: root.to_path_buf(),
            patterns: vec!["**/*.log".into(), "**/node_modules".into()],
        }])
        .unwrap();
        let mut out = Vec::new();
        let summary = write_tar(
            &[
                copy(&root.join("pkg"), "/app/pkg"),
                copy(&root.join("single"), "/etc/one"),
                copy(&root.join("gone"), "/app/gone"),
            ],
            &filter,
            &mut out,
        )
        .unwrap();
        let got = names(&out);
        let listed: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            listed,
            [
                "app/pkg/",
                "app/pkg/a.txt",
                "app/pkg/link",
                "app/pkg/sub/",
                "app/pkg/sub/b.txt",
                "etc/one"
            ]
        );
        assert_eq!(got[1].1, b"alpha");
        assert_eq!(got[5].1, b"one");
        assert_eq!(summary.vanished, ["/app/gone"]);
        assert_eq!(summary.files, 3);
        assert_eq!(summary.entries, 6);
        assert_eq!(summary.bytes, 5 + 4 + 3);
        let mut ar = tar::Archive::new(out.as_slice());
        let link = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap() == Path::new("app/pkg/link"))
            .unwrap();
        assert_eq!(link.link_name().unwrap().unwrap(), Path::new("a.txt"));
    }

    #[test]
    fn long_names_survive() {
        let dir = tempfile::tempdir().unwrap();
        let long = "d".repeat(120);
        std::fs::create_dir_all(dir.path().join(&long)).unwrap();
        let file = dir.path().join(&long).join("f".repeat(100));
        std::fs::write(&file, "x").unwrap();
        let remote = format!("/app/{long}/{}", "f".repeat(100));
        let mut out = Vec::new();
        write_tar(&[copy(&file, &remote)], &Matcher::default(), &mut out).unwrap();
        assert_eq!(names(&out)[0].0, remote.trim_start_matches('/'));
    }

    #[test]
    fn a_file_that_shrinks_while_read_keeps_the_archive_well_formed() {
        let data = b"abc".as_slice();
        let mut r = Exact::new(data, 6);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc\0\0\0");
        let mut r = Exact::new(b"abcdef".as_slice(), 2);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab");
    }

    fn batch_of(copies: Vec<Copy>) -> Batch {
        Batch {
            files: copies.iter().map(|c| c.local.clone()).collect(),
            copies,
            deletes: vec![],
            runs: vec![],
            restart: false,
            filter: Arc::new(Matcher::default()),
        }
    }

    #[tokio::test]
    async fn the_stream_carries_the_same_archive() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..50 {
            std::fs::write(
                dir.path().join(format!("f{i}")),
                vec![b'a' + (i % 26) as u8; 10_000],
            )
            .unwrap();
        }
        let b = batch_of(vec![copy(dir.path(), "/data")]);
        let (stream, done) = tar_stream(&b);
        let chunks: Vec<Bytes> = stream.map(|c| c.unwrap()).collect().await;
        assert!(chunks.len() > 1, "the archive came in one piece");
        let all: Vec<u8> = chunks.concat();
        let got = names(&all);
        assert_eq!(got.len(), 51);
        let s = done.summary().await.unwrap();
        assert_eq!(s.files, 50);
        assert_eq!(s.bytes, 500_000);
    }

    #[tokio::test]
    async fn the_writer_stays_a_bounded_distance_ahead_of_a_slow_reader() {
        // 64 MiB of file content; nothing is read from the stream for a while. The writer
        // must stop after a few chunks instead of buffering the archive.
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let f = File::create(&big).unwrap();
        f.set_len(64 << 20).unwrap();
        let b = batch_of(vec![copy(&big, "/big")]);
        let (stream, done) = tar_stream(&b);
        let mut stream = Box::pin(stream);
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.len(), CHUNK);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // Unbuffered, the writer would long be done with 64 MiB of zeros; it is waiting.
        assert!(
            !done.task.is_finished(),
            "the writer ran ahead of its reader"
        );
        // Drain, counting: everything still arrives in CHUNK-sized pieces.
        let mut total = first.len() as u64;
        let mut biggest = first.len();
        while let Some(c) = stream.next().await {
            let c = c.unwrap();
            biggest = biggest.max(c.len());
            total += c.len() as u64;
        }
        assert!(biggest <= CHUNK);
        assert!(total > 64 << 20);
        assert_eq!(done.summary().await.unwrap().bytes, 64 << 20);
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        File::create(&big).unwrap().set_len(64 << 20).unwrap();
        let b = batch_of(vec![copy(&big, "/big")]);
        let (stream, done) = tar_stream(&b);
        drop(stream);
        let err = done.summary().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
