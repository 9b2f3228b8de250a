//! What the Kubernetes end-to-end tests share: a running `lilt up` against the API-server
//! double, and bounded polling.

use std::path::Path;
use std::process::Command;

use lilt_kubedouble::KubeDouble;

/// A running `lilt up --stream --port 0` in `dir`, its output in a file outside the project;
/// killed when dropped.
pub struct Up {
    child: std::process::Child,
    out: std::path::PathBuf,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Up {
    pub fn start(dir: &Path, double: &KubeDouble, extra: &[&str], env: &[(&str, &str)]) -> Up {
        let out_dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("up.log");
        let child = Command::new(env!("CARGO_BIN_EXE_lilt"))
            .current_dir(dir)
            .env("KUBECONFIG", double.kubeconfig_path())
            .env("LILT_STATE_DIR", state.path())
            .envs(env.iter().copied())
            .args(["up", "--stream", "--port", "0"])
            .args(extra)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Up {
            child,
            out,
            _dirs: (out_dir, state),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits until the output satisfies `pred` (bounded: a hang guard, not a timing check).
    pub async fn wait_for_log(&self, what: &str, pred: impl Fn(&str) -> bool) {
        let log = || {
            let text = self.log();
            pred(&text).then_some(())
        };
        if eventually(log).await.is_none() {
            panic!("timed out waiting for {what} in:\n{}", self.log());
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 100 ms until it gives `Some`, for at most 60 s (then `None`).
pub async fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
