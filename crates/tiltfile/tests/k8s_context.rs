//! The `allow_k8s_contexts` safety check against a real kubeconfig in `$HOME/.kube/config`
//! (tilt-compat.md §2.14): the `Stop!` load error, the `local()` guard, dev-cluster
//! detection, and `k8s_context()`/`k8s_namespace()`.

mod common;

use common::Project;

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n";

fn kubeconfig(cluster: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: prod\n  context:\n    cluster: {cluster}\n    namespace: team-a\nclusters:\n- name: {cluster}\n  cluster:\n    server: https://127.0.0.1:6443\n"
    )
}

#[test]
fn production_context_stops_the_load() {
    let config = kubeconfig("gke_proj_us-central1_prod");
    let p = Project::new(&[
        ("../.kube/config", &config),
        ("pod.yaml", POD),
        ("Tiltfile", "k8s_yaml('pod.yaml')\n"),
    ]);
    assert_eq!(
        p.error(),
        "Stop! prod might be production.\nIf you're sure you want to deploy there, add:\n\tallow_k8s_contexts('prod')\nto your Tiltfile. Otherwise, switch k8s contexts and restart Tilt."
    );
}

#[test]
fn allowed_context_loads_and_reports_the_context() {
    let config = kubeconfig("gke_proj_us-central1_prod");
    let p = Project::new(&[
        ("../.kube/config", &config),
        ("pod.yaml", POD),
        (
            "Tiltfile",
            "allow_k8s_contexts(k8s_context())\nk8s_yaml('pod.yaml')\nprint(k8s_namespace())\n",
        ),
    ]);
    let plan = p.plan();
    assert_eq!(plan.k8s_context.context, "prod");
    assert_eq!(plan.k8s_context.namespace, "team-a");
    assert_eq!(plan.manifests[0].name, "p");
    assert!(p.result().log.iter().any(|l| l.text == "team-a"));
}

#[test]
fn local_refuses_to_run_before_allow_k8s_contexts() {
    let config = kubeconfig("arn:aws:eks:us-east-1:1:cluster/prod");
    let p = Project::new(&[
        ("../.kube/config", &config),
        ("Tiltfile", "local('echo hi')\n"),
    ]);
    assert!(
        p.error().contains(
            "Refusing to run 'local' because prod might be a production kube context.\nIf you're sure you want to continue add:\n\tallow_k8s_contexts('prod')\nbefore this function call in your Tiltfile."
        ),
        "{}",
        p.error()
    );
    let ok = Project::new(&[
        ("../.kube/config", &config),
        (
            "Tiltfile",
            "allow_k8s_contexts(['other', 'prod'])\nlocal('echo hi')\n",
        ),
    ]);
    assert!(ok.result().error.is_none(), "{:?}", ok.result().error);
}

#[test]
fn dev_clusters_and_yaml_free_tiltfiles_need_no_allow_list() {
    for cluster in [
        "kind-kind",
        "minikube",
        "k3d-dev",
        "docker-desktop",
        "orbstack",
    ] {
        let config = kubeconfig(cluster);
        let p = Project::new(&[
            ("../.kube/config", &config),
            ("pod.yaml", POD),
            ("Tiltfile", "k8s_yaml('pod.yaml')\nlocal('true')\n"),
        ]);
        assert!(
            p.result().error.is_none(),
            "{cluster}: {:?}",
            p.result().error
        );
    }
    let config = kubeconfig("gke_x");
    let p = Project::new(&[
        ("../.kube/config", &config),
        ("Tiltfile", "local_resource('a', cmd='true')\n"),
    ]);
    assert_eq!(p.plan().manifests.len(), 1);
}

#[test]
fn kubeconfig_env_var_and_context_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    // A second, dev context next to the production one.
    let config = kubeconfig("gke_x").replace(
        "contexts:\n",
        "contexts:\n- name: dev\n  context:\n    cluster: kind-dev\n",
    );
    common::write_files(
        &root,
        &[
            ("kube/config", config.as_str()),
            ("pod.yaml", POD),
            (
                "Tiltfile",
                "k8s_yaml('pod.yaml')\nprint(k8s_context(), k8s_namespace())\n",
            ),
        ],
    );
    let env = |extra: &[(&str, String)]| {
        let mut vars = std::collections::BTreeMap::new();
        vars.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
        vars.insert("HOME".to_owned(), root.display().to_string());
        vars.insert(
            "KUBECONFIG".to_owned(),
            format!("/nonexistent:{}", root.join("kube/config").display()),
        );
        for (k, v) in extra {
            vars.insert((*k).to_owned(), v.clone());
        }
        vars
    };
    let mut opts = lilt_tiltfile::LoadOptions::new(root.join("Tiltfile"), "up");
    opts.env = Some(env(&[]));
    let prod = lilt_tiltfile::load(&opts);
    assert!(
        prod.error
            .as_ref()
            .is_some_and(|e| e.to_string().starts_with("Stop! prod")),
        "{:?}",
        prod.error
    );
    opts.kube_context = Some("dev".to_owned());
    opts.kube_namespace = Some("ns1".to_owned());
    let dev = lilt_tiltfile::load(&opts);
    assert!(dev.error.is_none(), "{:?}", dev.error);
    assert_eq!(dev.plan.k8s_context.context, "dev");
    assert!(dev.log.iter().any(|l| l.text == "dev ns1"), "{:?}", dev.log);
}

/// `update_settings(k8s_namespace=)` names the developer's namespace (as `--namespace`
/// does, which wins over it), `k8s_namespace()` reports it, and a bad name is an error with
/// a hint.
#[test]
fn update_settings_names_the_developers_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("Tiltfile"),
        "update_settings(k8s_namespace='dev-alice')\nprint('ns=' + k8s_namespace())\n",
    )
    .unwrap();
    let mut opts = lilt_tiltfile::LoadOptions::new(root.join("Tiltfile"), "up");
    let r = lilt_tiltfile::load(&opts);
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.plan.k8s_context.namespace, "dev-alice");
    assert!(r.plan.k8s_context.developer_namespace);
    assert!(
        r.log.iter().any(|l| l.text == "ns=dev-alice"),
        "{:?}",
        r.log
    );

    opts.kube_namespace = Some("dev-bob".to_owned());
    let r = lilt_tiltfile::load(&opts);
    assert_eq!(r.plan.k8s_context.namespace, "dev-bob", "the flag wins");
    assert!(r.plan.k8s_context.developer_namespace);

    std::fs::write(
        root.join("Tiltfile"),
        "update_settings(k8s_namespace='Dev_Alice')\n",
    )
    .unwrap();
    opts.kube_namespace = None;
    let r = lilt_tiltfile::load(&opts);
    let error = r.error.expect("an invalid name fails").to_string();
    assert!(error.contains("not a valid namespace name"), "{error}");
    assert!(error.contains("Tiltfile:1"), "{error}");

    std::fs::write(root.join("Tiltfile"), "print(k8s_namespace())\n").unwrap();
    let r = lilt_tiltfile::load(&opts);
    assert!(
        !r.plan.k8s_context.developer_namespace,
        "no setting, no flag"
    );
}
