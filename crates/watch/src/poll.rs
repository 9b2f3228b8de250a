//! The polling fallback: directories that could not get an inotify watch are listed every
//! interval and compared with their last listing (mtime, size, kind).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    modified: Option<SystemTime>,
    len: u64,
    is_dir: bool,
}

/// One directory's last listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DirSnapshot {
    entries: BTreeMap<OsString, Entry>,
}

/// What changed in one directory between two listings.
#[derive(Debug, Default)]
pub(crate) struct DirDiff {
    /// Created, modified or removed entries.
    pub changed: Vec<PathBuf>,
    /// Subdirectories that appeared.
    pub new_dirs: Vec<PathBuf>,
    /// Subdirectories that disappeared.
    pub gone_dirs: Vec<PathBuf>,
}

impl DirSnapshot {
    /// Lists `dir`; a directory that cannot be read lists as empty.
    pub(crate) fn take(dir: &Path) -> DirSnapshot {
        let mut entries = BTreeMap::new();
        if let Ok(read) = std::fs::read_dir(dir) {
            for entry in read.flatten() {
                // symlink_metadata: a link is reported as itself, never followed.
                let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                    continue;
                };
                entries.insert(
                    entry.file_name(),
                    Entry {
                        modified: meta.modified().ok(),
                        len: meta.len(),
                        is_dir: meta.is_dir(),
                    },
                );
            }
        }
        DirSnapshot { entries }
    }

    /// Compares with a fresh listing of the same directory.
    pub(crate) fn diff(&self, dir: &Path, newer: &DirSnapshot) -> DirDiff {
        let mut out = DirDiff::default();
        for (name, entry) in &newer.entries {
            match self.entries.get(name) {
                None => {
                    out.changed.push(dir.join(name));
                    if entry.is_dir {
                        out.new_dirs.push(dir.join(name));
                    }
                }
                // A directory's own mtime changes when its entries do; those are reported
                // by the directory's own listing.
                Some(old) if old != entry && !(old.is_dir && entry.is_dir) => {
                    out.changed.push(dir.join(name));
                }
                Some(_) => {}
            }
        }
        for (name, entry) in &self.entries {
            if !newer.entries.contains_key(name) {
                out.changed.push(dir.join(name));
                if entry.is_dir {
                    out.gone_dirs.push(dir.join(name));
                }
            }
        }
        out
    }
}
