//! The Kubernetes runtime through the whole binary, against the API-server double over real
//! HTTPS (the kubeconfig it writes is the only link, as with a real cluster): `lilt ci`
//! applies a resource's objects into the namespace the kubeconfig names, and `lilt down`
//! deletes them.

use std::path::Path;
use std::process::Command;

use lilt_kubedouble::KubeDouble;

const OBJECTS: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: dev}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: s3cr3t}
";

fn lilt(dir: &Path, double: &KubeDouble, args: &[&str]) -> (i32, String) {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lilt"))
        .current_dir(dir)
        .env("KUBECONFIG", double.kubeconfig_path())
        .env("LILT_STATE_DIR", state.path())
        .args(args)
        .output()
        .expect("run lilt");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_applies_objects_and_down_deletes_them() {
    let double = KubeDouble::builder().without_kubelet().start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objects.yaml"), OBJECTS).unwrap();
    std::fs::write(
        dir.path().join("Tiltfile"),
        format!(
            "allow_k8s_contexts('{}')\nk8s_yaml('objects.yaml')\n",
            double.context()
        ),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let d = &double;
    let (code, log) =
        tokio::task::block_in_place(|| lilt(&path, d, &["ci", "--port", "0", "--timeout", "60s"]));
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("applied ConfigMap/settings in default"),
        "{log}"
    );
    let cm = double
        .get("v1", "ConfigMap", "default", "settings")
        .expect("the ConfigMap was applied");
    assert_eq!(cm["data"]["mode"], "dev");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"], "tilt",
        "Tilt's managed-by label, so Tilt's tools recognise lilt's objects"
    );
    assert!(double.get("v1", "Secret", "default", "creds").is_some());

    let (code, log) = tokio::task::block_in_place(|| lilt(&path, d, &["down"]));
    assert_eq!(code, 0, "{log}");
    assert!(
        double
            .get("v1", "ConfigMap", "default", "settings")
            .is_none(),
        "{log}"
    );
    assert!(
        double.get("v1", "Secret", "default", "creds").is_none(),
        "{log}"
    );
}
