//! A temporary project directory evaluated with `lilt_tiltfile::load` and a fixed
//! environment, shared by the integration tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lilt_model::Plan;
use lilt_tiltfile::{LoadOptions, LoadResult, load};

pub struct Project {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    result: LoadResult,
}

/// Writes `files` (relative path, content) under `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, text).expect("write file");
    }
}

impl Project {
    pub fn new(files: &[(&str, &str)]) -> Project {
        Project::with_env(files, &[])
    }

    /// Evaluates `Tiltfile` with only `PATH`, `HOME` (the temp dir) and `env` set.
    pub fn with_env(files: &[(&str, &str)], env: &[(&str, &str)]) -> Project {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().canonicalize().expect("canonicalize");
        let root = base.join("my-project");
        write_files(&root, files);
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        vars.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        vars.insert("HOME".into(), base.display().to_string());
        for (k, v) in env {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut opts = LoadOptions::new(root.join("Tiltfile"), "up");
        opts.env = Some(vars);
        let result = load(&opts);
        Project {
            _tmp: tmp,
            root,
            result,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.root.clone()
    }

    pub fn dir_name(&self) -> String {
        "my-project".to_owned()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn result(&self) -> LoadResult {
        self.result.clone()
    }

    /// The Plan; fails the test when evaluation failed.
    pub fn plan(&self) -> Plan {
        if let Some(e) = &self.result.error {
            panic!("unexpected load error: {e}\nlog: {:?}", self.result.log);
        }
        self.result.plan.clone()
    }

    /// The load error's text; fails the test when evaluation succeeded.
    pub fn error(&self) -> String {
        match &self.result.error {
            Some(e) => e.to_string(),
            None => panic!(
                "expected a load error, got a plan with {} resources",
                self.result.plan.manifests.len()
            ),
        }
    }
}
