//! The kube context the Tiltfile runs against, read from the kubeconfig (`$KUBECONFIG`, a
//! `:`-separated list, else `~/.kube/config`), and Tilt's dev-cluster detection for the
//! `allow_k8s_contexts` safety check (tilt-compat.md §2.14).
//!
//! Only the fields Tilt looks at are read: `current-context`, each context's cluster and
//! namespace, and each cluster's `certificate-authority`. An unreadable or malformed file
//! counts as "no kubeconfig", as it does for Tilt, which then has no kube context at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The cluster product, as far as the safety check cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Product {
    /// No kube context at all: nothing can be deployed, so nothing is unsafe.
    None,
    /// A local development cluster (minikube, kind, k3d, Docker Desktop, ...).
    Dev(&'static str),
    /// GKE, EKS or anything unrecognised.
    Other,
}

/// What the Tiltfile sees of Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KubeEnv {
    pub(crate) context: String,
    pub(crate) namespace: String,
    pub(crate) cluster: String,
    pub(crate) product: Product,
}

impl KubeEnv {
    /// Reads the kubeconfig named by `env` (`KUBECONFIG`, `HOME`), with the `--context`
    /// and `--namespace` overrides applied.
    pub(crate) fn detect(
        env: &BTreeMap<String, String>,
        context_override: Option<&str>,
        namespace_override: Option<&str>,
    ) -> KubeEnv {
        let files = kubeconfig_files(env);
        let config = merged(&files);
        let context = context_override
            .map(str::to_owned)
            .or(config.current_context.clone())
            .unwrap_or_default();
        let entry = config.contexts.get(&context);
        let cluster = entry.map(|c| c.cluster.clone()).unwrap_or_default();
        let namespace = namespace_override
            .map(str::to_owned)
            .or_else(|| entry.map(|c| c.namespace.clone()).filter(|n| !n.is_empty()))
            .unwrap_or_else(|| "default".to_owned());
        let product = if context.is_empty() {
            Product::None
        } else {
            let ca = config
                .cluster_cas
                .get(&cluster)
                .map(String::as_str)
                .unwrap_or("");
            let origin = entry.map(|c| c.origin.as_path());
            product_of(&cluster, ca, origin, env.get("HOME").map(Path::new))
        };
        KubeEnv {
            context,
            namespace,
            cluster,
            product,
        }
    }

    /// Whether deploying here is allowed without `allow_k8s_contexts`.
    pub(crate) fn is_dev_or_none(&self) -> bool {
        !matches!(self.product, Product::Other)
    }
}

fn kubeconfig_files(env: &BTreeMap<String, String>) -> Vec<PathBuf> {
    match env.get("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => list
            .split(':')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect(),
        None => env
            .get("HOME")
            .map(|home| vec![Path::new(home).join(".kube").join("config")])
            .unwrap_or_default(),
    }
}

struct ContextEntry {
    cluster: String,
    namespace: String,
    /// The file that defined the context (client-go's `LocationOfOrigin`).
    origin: PathBuf,
}

#[derive(Default)]
struct Merged {
    current_context: Option<String>,
    contexts: BTreeMap<String, ContextEntry>,
    cluster_cas: BTreeMap<String, String>,
}

/// client-go's merge rules: the first file that sets a value wins.
fn merged(files: &[PathBuf]) -> Merged {
    let mut out = Merged::default();
    for file in files {
        let Ok(text) = crate::paths::read_text(file) else {
            continue;
        };
        let Ok(doc) = serde_saphyr::from_str::<Value>(&text) else {
            continue;
        };
        let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        if out.current_context.is_none() {
            out.current_context = field(&doc, "current-context").filter(|c| !c.is_empty());
        }
        for ctx in doc
            .get("contexts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = field(ctx, "name") else {
                continue;
            };
            let body = ctx.get("context").cloned().unwrap_or(Value::Null);
            out.contexts.entry(name).or_insert_with(|| ContextEntry {
                cluster: field(&body, "cluster").unwrap_or_default(),
                namespace: field(&body, "namespace").unwrap_or_default(),
                origin: file.clone(),
            });
        }
        for cluster in doc
            .get("clusters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = field(cluster, "name") else {
                continue;
            };
            let body = cluster.get("cluster").cloned().unwrap_or(Value::Null);
            out.cluster_cas
                .entry(name)
                .or_insert_with(|| field(&body, "certificate-authority").unwrap_or_default());
        }
    }
    out
}

/// Tilt's product detection (the vendored `clusterid.ProductFromContext`): by the cluster
/// name's prefix, then by where the kubeconfig or the CA file lives.
fn product_of(cluster: &str, ca: &str, origin: Option<&Path>, home: Option<&Path>) -> Product {
    let prefixes: &[(&str, &'static str)] = &[
        ("minikube", "minikube"),
        ("docker-for-desktop-cluster", "docker-desktop"),
        ("docker-desktop", "docker-desktop"),
    ];
    if let Some((_, p)) = prefixes.iter().find(|(pre, _)| cluster.starts_with(pre)) {
        return Product::Dev(p);
    }
    if cluster.starts_with("gke") || cluster.starts_with("arn:aws:eks:") {
        return Product::Other;
    }
    if cluster.ends_with(".eksctl.io") {
        return Product::Other;
    }
    if cluster == "kind" || cluster.starts_with("kind-") {
        return Product::Dev("kind");
    }
    let later: &[(&str, &'static str)] = &[
        ("microk8s", "microk8s"),
        ("api-crc-testing", "crc"),
        ("krucible-", "krucible"),
        ("k3d-", "k3d"),
        ("rancher-desktop", "rancher-desktop"),
        ("colima", "colima"),
    ];
    if let Some((_, p)) = later.iter().find(|(pre, _)| cluster.starts_with(pre)) {
        return Product::Dev(p);
    }
    if cluster == "orbstack" {
        return Product::Dev("orbstack");
    }
    let Some(home) = home else {
        return Product::Other;
    };
    if origin.is_some_and(|o| o.starts_with(home.join(".config").join("k3d"))) {
        return Product::Dev("k3d");
    }
    if !ca.is_empty() && Path::new(ca).starts_with(home.join(".minikube")) {
        return Product::Dev("minikube");
    }
    if origin
        .and_then(Path::file_name)
        .is_some_and(|n| n.to_string_lossy().starts_with("kind-config-"))
    {
        return Product::Dev("kind");
    }
    Product::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(kubeconfig: &Path, home: &Path) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("KUBECONFIG".to_owned(), kubeconfig.display().to_string()),
            ("HOME".to_owned(), home.display().to_string()),
        ])
    }

    const CONFIG: &str = "apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n\
        - name: prod\n  context:\n    cluster: gke_proj_us-central1_prod\n    namespace: team\n\
        - name: dev\n  context:\n    cluster: kind-kind\n\
        - name: mini\n  context:\n    cluster: custom\nclusters:\n\
        - name: custom\n  cluster:\n    certificate-authority: HOME/.minikube/ca.crt\n";

    #[test]
    fn reads_current_context_cluster_and_namespace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        std::fs::write(&path, CONFIG).expect("write");
        let env = KubeEnv::detect(&env_with(&path, dir.path()), None, None);
        assert_eq!(env.context, "prod");
        assert_eq!(env.cluster, "gke_proj_us-central1_prod");
        assert_eq!(env.namespace, "team");
        assert_eq!(env.product, Product::Other);
        assert!(!env.is_dev_or_none());
    }

    #[test]
    fn overrides_and_dev_products() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        let text = CONFIG.replace("HOME", &dir.path().display().to_string());
        std::fs::write(&path, text).expect("write");
        let env = KubeEnv::detect(&env_with(&path, dir.path()), Some("dev"), Some("ns1"));
        assert_eq!(
            (env.context.as_str(), env.namespace.as_str()),
            ("dev", "ns1")
        );
        assert_eq!(env.product, Product::Dev("kind"));
        let mini = KubeEnv::detect(&env_with(&path, dir.path()), Some("mini"), None);
        assert_eq!(mini.product, Product::Dev("minikube"));
        assert_eq!(mini.namespace, "default");
    }

    #[test]
    fn missing_kubeconfig_means_no_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = KubeEnv::detect(&env_with(&dir.path().join("nope"), dir.path()), None, None);
        assert_eq!(env.context, "");
        assert_eq!(env.namespace, "default");
        assert_eq!(env.product, Product::None);
        assert!(env.is_dev_or_none());
    }

    #[test]
    fn first_file_in_the_list_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "contexts:\n- name: x\n  context:\n    cluster: k3d-x\n").expect("a");
        std::fs::write(
            &b,
            "current-context: x\ncontexts:\n- name: x\n  context:\n    cluster: gke_x\n",
        )
        .expect("b");
        let mut env = env_with(&a, dir.path());
        env.insert(
            "KUBECONFIG".to_owned(),
            format!("{}:{}", a.display(), b.display()),
        );
        let k = KubeEnv::detect(&env, None, None);
        assert_eq!(k.context, "x");
        assert_eq!(k.product, Product::Dev("k3d"));
    }
}
