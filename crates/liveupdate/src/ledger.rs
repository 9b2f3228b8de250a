//! What has been live-updated into an image's containers since the image was built, so a
//! container that restarts (or a pod that is replaced) from that same image — and so
//! starts again from the image's files — can be brought up to date with one batch.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use lilt_model::LiveUpdate;
use lilt_watch::Matcher;

use crate::plan::{Change, Decision, plan};

/// Per image (by the ref the Tiltfile declares), the local paths synced since its current
/// build (by built ref).
#[derive(Debug, Default, Clone)]
pub struct SyncLedger {
    images: HashMap<String, Synced>,
}

#[derive(Debug, Default, Clone)]
struct Synced {
    built_ref: String,
    files: BTreeSet<PathBuf>,
}

impl SyncLedger {
    pub fn new() -> SyncLedger {
        SyncLedger::default()
    }

    /// The image was (re)built as `built_ref`: its containers start from files that include
    /// every change so far, so nothing needs re-applying.
    pub fn image_built(&mut self, image_ref: &str, built_ref: &str) {
        self.images.insert(
            image_ref.to_owned(),
            Synced {
                built_ref: built_ref.to_owned(),
                files: BTreeSet::new(),
            },
        );
    }

    /// Remembers the paths of a batch applied to containers of `built_ref` (copied or
    /// deleted). A `built_ref` other than the one recorded means the image was rebuilt:
    /// what was recorded for the old build is forgotten.
    pub fn record(&mut self, image_ref: &str, built_ref: &str, files: &[PathBuf]) {
        let entry = self.images.entry(image_ref.to_owned()).or_default();
        if entry.built_ref != built_ref {
            entry.built_ref = built_ref.to_owned();
            entry.files.clear();
        }
        entry.files.extend(files.iter().cloned());
    }

    /// The local paths synced into containers of `built_ref` since it was built, sorted.
    pub fn synced(&self, image_ref: &str, built_ref: &str) -> Vec<PathBuf> {
        match self.images.get(image_ref) {
            Some(s) if s.built_ref == built_ref => s.files.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The batch that brings a fresh container of `built_ref` up to date: every path synced
    /// since the build, with its content on disk now (a path deleted since is deleted in
    /// the container), and the `run` steps those paths trigger. [`Decision::Nothing`] when
    /// nothing was synced since that build (or the container runs another build).
    pub fn catch_up(
        &self,
        image_ref: &str,
        built_ref: &str,
        lu: &LiveUpdate,
        matcher: &Arc<Matcher>,
    ) -> Decision {
        let files = self.synced(image_ref, built_ref);
        if files.is_empty() {
            return Decision::Nothing;
        }
        let changes: Vec<Change> = files.into_iter().map(Change::stat).collect();
        plan(lu, matcher, &changes)
    }

    /// Forgets an image (removed from the Tiltfile).
    pub fn forget(&mut self, image_ref: &str) {
        self.images.remove(image_ref);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lilt_model::{LiveUpdateRun, LiveUpdateSync};

    fn lu(root: &std::path::Path) -> LiveUpdate {
        LiveUpdate {
            base_path: root.to_path_buf(),
            syncs: vec![LiveUpdateSync {
                local_path: PathBuf::from("src"),
                remote_path: "/app".into(),
            }],
            runs: vec![LiveUpdateRun {
                argv: vec!["make".into()],
                triggers: vec!["src/Makefile".into()],
                echo_off: false,
            }],
            ..LiveUpdate::default()
        }
    }

    #[test]
    fn a_fresh_container_gets_every_path_synced_since_the_build_as_it_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a"), "1").unwrap();
        std::fs::write(root.join("src/Makefile"), "all:").unwrap();
        let l = lu(root);
        let m = Arc::new(Matcher::default());
        let mut ledger = SyncLedger::new();
        ledger.image_built("app", "app:tilt-1");
        assert!(matches!(
            ledger.catch_up("app", "app:tilt-1", &l, &m),
            Decision::Nothing
        ));
        ledger.record(
            "app",
            "app:tilt-1",
            &[root.join("src/a"), root.join("src/gone")],
        );
        ledger.record(
            "app",
            "app:tilt-1",
            &[root.join("src/Makefile"), root.join("src/a")],
        );
        assert_eq!(ledger.synced("app", "app:tilt-1").len(), 3);
        let Decision::LiveUpdate(b) = ledger.catch_up("app", "app:tilt-1", &l, &m) else {
            panic!("expected a batch");
        };
        let remotes: Vec<&str> = b.copies.iter().map(|c| c.remote.as_str()).collect();
        assert_eq!(remotes, ["/app/Makefile", "/app/a"]);
        assert_eq!(b.deletes, ["/app/gone"]);
        assert_eq!(b.runs.len(), 1, "the Makefile trigger fires again");

        // A file synced earlier and deleted since is deleted in the fresh container.
        std::fs::remove_file(root.join("src/a")).unwrap();
        let Decision::LiveUpdate(b) = ledger.catch_up("app", "app:tilt-1", &l, &m) else {
            panic!("expected a batch");
        };
        assert_eq!(b.deletes, ["/app/a", "/app/gone"]);
    }

    #[test]
    fn a_rebuild_resets_and_another_build_gets_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let l = lu(dir.path());
        let m = Arc::new(Matcher::default());
        let mut ledger = SyncLedger::new();
        ledger.record("app", "app:tilt-1", &[dir.path().join("src/a")]);
        assert!(matches!(
            ledger.catch_up("app", "app:tilt-0", &l, &m),
            Decision::Nothing
        ));
        ledger.image_built("app", "app:tilt-2");
        assert!(ledger.synced("app", "app:tilt-1").is_empty());
        assert!(ledger.synced("app", "app:tilt-2").is_empty());
        // Recording against a new build without image_built also starts over.
        ledger.record("app", "app:tilt-2", &[dir.path().join("src/b")]);
        ledger.record("app", "app:tilt-3", &[dir.path().join("src/c")]);
        assert_eq!(
            ledger.synced("app", "app:tilt-3"),
            [dir.path().join("src/c")]
        );
        // Images are independent.
        ledger.record("other", "other:tilt-1", &[dir.path().join("src/d")]);
        assert_eq!(ledger.synced("app", "app:tilt-3").len(), 1);
        ledger.forget("app");
        assert!(ledger.synced("app", "app:tilt-3").is_empty());
        assert_eq!(ledger.synced("other", "other:tilt-1").len(), 1);
    }
}
