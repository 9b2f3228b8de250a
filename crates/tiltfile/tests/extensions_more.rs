//! helm_remote, secret, cert_manager and git_resource loaded through `ext://` from a git
//! repository the test creates (cloned into the extension cache, as Tilt's default
//! repository is). The extension Tiltfiles under `ext_fixtures/` follow tilt-extensions'
//! (same builtins, arguments and control flow). Helm charts and git repositories are served
//! by a Python stdlib HTTP server on 127.0.0.1; `helm`, `kubectl` and `git` are the real
//! tools. Only cert_manager, which talks to a cluster at load time, runs against recording
//! stand-ins for `kubectl`, `docker` and `kind`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use lilt_model::{DeployTarget, Manifest, Plan, UNCATEGORIZED_RESOURCE};
use lilt_tiltfile::{LoadOptions, LoadResult, load};

fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dirs");
    }
    std::fs::write(path, text).expect("write file");
}

/// A git repository holding the extensions, as a `file://` URL for `LILT_EXTENSIONS_REPO`.
fn extension_repo(root: &Path) -> String {
    let repo = root.join("tilt-extensions");
    let files: [(&str, &str); 6] = [
        (
            "global_vars/Tiltfile",
            include_str!("ext_fixtures/global_vars/Tiltfile"),
        ),
        (
            "helm_remote/Tiltfile",
            include_str!("ext_fixtures/helm_remote/Tiltfile"),
        ),
        (
            "secret/Tiltfile",
            include_str!("ext_fixtures/secret/Tiltfile"),
        ),
        (
            "cert_manager/Tiltfile",
            include_str!("ext_fixtures/cert_manager/Tiltfile"),
        ),
        (
            "git_resource/Tiltfile",
            include_str!("ext_fixtures/git_resource/Tiltfile"),
        ),
        ("README.md", "test extensions\n"),
    ];
    for (rel, text) in files {
        write(&repo.join(rel), text);
    }
    git_commit(&repo, "extensions");
    format!("file://{}", repo.display())
}

fn git_commit(repo: &Path, msg: &str) {
    if !repo.join(".git").exists() {
        run(repo, "git", &["init", "-q", "-b", "main"], &[]);
    }
    run(repo, "git", &["add", "-A"], &[]);
    run(repo, "git", &["commit", "-q", "-m", msg], &[]);
}

/// `python3 -m http.server`, but on a free loopback port it reports, and silent.
const SERVER: &str = r#"
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=sys.argv[1]))
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// A directory served over HTTP on 127.0.0.1 until dropped.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn dir(dir: &Path) -> Served {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(SERVER)
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut port = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut port)
            .expect("server prints its port");
        let port: u16 = port.trim().parse().expect("a port number");
        Served {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sandbox: a project directory, an extension cache and the environment lilt sees.
struct Sandbox {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    env: BTreeMap<String, String>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().canonicalize().expect("canonicalize");
        let url = extension_repo(&base);
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
        env.insert("HOME".to_owned(), base.join("home").display().to_string());
        env.insert(
            "XDG_CACHE_HOME".to_owned(),
            base.join("cache").display().to_string(),
        );
        env.insert("LILT_EXTENSIONS_REPO".to_owned(), url);
        for (var, dir) in [
            ("HELM_CONFIG_HOME", "helm/config"),
            ("HELM_CACHE_HOME", "helm/cache"),
            ("HELM_DATA_HOME", "helm/data"),
        ] {
            env.insert(var.to_owned(), base.join(dir).display().to_string());
        }
        Sandbox {
            _tmp: tmp,
            base,
            env,
        }
    }

    fn project(&self) -> PathBuf {
        self.base.join("project")
    }

    /// Where the extension repository is cloned, and where Tilt-style caches settle.
    fn ext_cache(&self) -> PathBuf {
        self.base.join("cache/lilt/extensions")
    }

    fn ext_file(&self, name: &str) -> PathBuf {
        let clone = self.ext_cache().join(
            self.base
                .join("tilt-extensions")
                .strip_prefix("/")
                .expect("absolute"),
        );
        clone.join(name).join("Tiltfile")
    }

    fn env_list(&self) -> Vec<(&str, String)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect()
    }

    fn eval(&self, tiltfile: &str) -> LoadResult {
        write(&self.project().join("Tiltfile"), tiltfile);
        let mut opts = LoadOptions::new(self.project().join("Tiltfile"), "up");
        opts.env = Some(self.env.clone());
        load(&opts)
    }
}

fn plan(result: &LoadResult) -> &Plan {
    if let Some(e) = &result.error {
        panic!("unexpected load error: {e}\nlog: {:#?}", result.log);
    }
    &result.plan
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.manifests.iter().map(|m| m.name.as_str()).collect()
}

fn yaml(m: &Manifest) -> &str {
    match &m.deploy {
        DeployTarget::K8s(k) => &k.yaml,
        other => panic!("{} is not a Kubernetes resource: {other:?}", m.name),
    }
}

/// `(kind, name)` of every object in a resource's YAML.
fn objects(m: &Manifest) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for doc in yaml(m).split("\n---\n") {
        let value: serde_json::Value = serde_saphyr::from_str(doc).expect("yaml parses");
        let field = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        out.push((field(&value["kind"]), field(&value["metadata"]["name"])));
    }
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn log_text(result: &LoadResult) -> String {
    result
        .log
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A chart repository: `helm create` charts, packaged and indexed, served over HTTP.
fn chart_repo(sb: &Sandbox) -> Served {
    let env = sb.env_list();
    let charts = sb.base.join("charts");
    let repo = sb.base.join("chart-repo");
    std::fs::create_dir_all(&charts).expect("charts dir");
    for chart in ["hello", "worker", "crontab"] {
        run(&charts, "helm", &["create", chart], &env);
    }
    write(
        &charts.join("crontab/crds/crontab.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\n\
         kind: CustomResourceDefinition\n\
         metadata:\n  name: crontabs.stable.example.com\n\
         spec:\n  group: stable.example.com\n  scope: Namespaced\n\
         \x20 names:\n    plural: crontabs\n    singular: crontab\n    kind: CronTab\n\
         \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n\
         \x20   schema:\n      openAPIV3Schema:\n        type: object\n",
    );
    let repo_text = repo.display().to_string();
    for chart in ["hello", "worker", "crontab"] {
        run(&charts, "helm", &["package", chart, "-d", &repo_text], &env);
    }
    run(&charts, "helm", &["repo", "index", &repo_text], &env);
    Served::dir(&repo)
}

#[test]
fn helm_remote_pulls_from_a_chart_repository_and_reuses_the_cache() {
    let sb = Sandbox::new();
    let charts = chart_repo(&sb);
    write(&sb.project().join("hello-values.yaml"), "replicaCount: 3\n");
    let tiltfile = format!(
        "load('ext://helm_remote', 'helm_remote')\n\
         helm_remote('hello', repo_url='{url}', repo_name='local-charts', namespace='web', create_namespace=True, values=['hello-values.yaml'], set=['service.port=8080'])\n\
         helm_remote('worker', repo_url='{url}', repo_name='local-charts', release_name='jobs')\n",
        url = charts.url
    );
    let first = sb.eval(&tiltfile);
    let p = plan(&first);
    assert_eq!(names(p), ["hello", "jobs-worker", UNCATEGORIZED_RESOURCE]);
    let hello = p.manifest("hello").expect("hello");
    assert_eq!(
        objects(hello),
        pairs(&[("Service", "hello"), ("Deployment", "hello")])
    );
    assert!(yaml(hello).contains("replicas: 3"), "{}", yaml(hello));
    assert!(yaml(hello).contains("port: 8080"), "{}", yaml(hello));
    assert!(
        yaml(hello).contains("image: nginx:1.16.0"),
        "{}",
        yaml(hello)
    );
    let unc = p.manifest(UNCATEGORIZED_RESOURCE).expect("uncategorized");
    assert_eq!(
        objects(unc),
        pairs(&[
            ("Namespace", "web"),
            ("ServiceAccount", "hello"),
            ("ServiceAccount", "jobs-worker")
        ])
    );
    assert!(p.images.is_empty());

    // The charts land in `<module cache root>/.helm/<repo>/<version>/<chart>`, which the
    // extension also excludes from file watching.
    let cache = sb.ext_cache().join(".helm/local-charts/latest");
    assert!(cache.join("hello/Chart.yaml").is_file());
    for f in [
        sb.ext_file("helm_remote"),
        sb.ext_file("global_vars"),
        sb.project().join("hello-values.yaml"),
        cache.join("hello"),
        cache.join("worker"),
    ] {
        assert!(p.config_files.contains(&f), "{f:?} in {:?}", p.config_files);
    }
    let log = log_text(&first);
    assert!(
        log.contains(&format!("local: helm repo add local-charts {}", charts.url)),
        "{log}"
    );
    assert!(log.contains("local: helm repo update"), "{log}");
    assert!(
        log.contains(&format!(
            "local: helm pull local-charts/hello --untar --destination {}",
            cache.display()
        )),
        "{log}"
    );
    // The repo was added for `hello`, then refreshed once for `worker`.
    assert_eq!(
        first
            .env_changes
            .get("TILT_GLOBAL_VAR_HELM_REMOTE_SKIP_UPDATES"),
        Some(&Some("True".to_owned()))
    );

    // A second load finds the charts cached: it reads Chart.yaml, asks the repository for
    // the latest version and pulls nothing.
    let second = sb.eval(&tiltfile);
    let p2 = plan(&second);
    assert_eq!(names(p2), names(p));
    let log = log_text(&second);
    assert!(log.contains("local: helm search repo local-charts/hello --output yaml"));
    assert!(!log.contains("helm pull"), "{log}");
    assert!(p2.config_files.contains(&cache.join("hello/Chart.yaml")));
}

#[test]
fn helm_remote_applies_crds_once_the_chart_is_cached() {
    let sb = Sandbox::new();
    let charts = chart_repo(&sb);
    let tiltfile = format!(
        "load('ext://helm_remote', 'helm_remote')\n\
         helm_remote('crontab', repo_url='{}')\n",
        charts.url
    );
    // First load: the CRD scan runs before the pull, finds nothing, and the CRD comes from
    // `helm template --include-crds` into `uncategorized`.
    let first = sb.eval(&tiltfile);
    let p = plan(&first);
    assert_eq!(names(p), ["crontab", UNCATEGORIZED_RESOURCE]);
    let unc = p.manifest(UNCATEGORIZED_RESOURCE).expect("uncategorized");
    assert_eq!(
        objects(unc),
        pairs(&[
            ("CustomResourceDefinition", "crontabs.stable.example.com"),
            ("ServiceAccount", "crontab")
        ])
    );

    // Second load: the scan runs on the cached chart (in `.helm/<chart>`: the extension
    // passes repo name and version before defaulting them) and applies its crds/ file through
    // two local resources and k8s_yaml. helm's copy got namespace `default` from `helm()`,
    // so the two are different objects to the duplicate check, as in Tilt.
    let second = sb.eval(&tiltfile);
    let p = plan(&second);
    assert_eq!(
        names(p),
        [
            "crontab",
            "crontab-crds-install",
            "crontab-crds-ready",
            UNCATEGORIZED_RESOURCE
        ]
    );
    let crd_file = sb
        .ext_cache()
        .join(".helm/crontab/latest/crontab/crds/crontab.yaml");
    match &p.manifest("crontab-crds-install").expect("install").deploy {
        DeployTarget::Local(l) => {
            assert_eq!(
                l.update_cmd.as_ref().unwrap().argv[2],
                format!("kubectl apply -f {}", crd_file.display())
            );
            assert_eq!(l.deps, std::slice::from_ref(&crd_file));
        }
        other => panic!("{other:?}"),
    }
    let ready = p.manifest("crontab-crds-ready").expect("ready");
    assert_eq!(ready.resource_deps, ["crontab-crds-install"]);
    let unc = p.manifest(UNCATEGORIZED_RESOURCE).expect("uncategorized");
    let crd = ("CustomResourceDefinition", "crontabs.stable.example.com");
    assert_eq!(
        objects(unc),
        pairs(&[crd, crd, ("ServiceAccount", "crontab")])
    );
    assert!(p.config_files.contains(&crd_file));

    // Without the CRD step the cached chart loads again.
    let third = sb.eval(&format!(
        "load('ext://helm_remote', 'helm_remote')\n\
         helm_remote('crontab', repo_url='{}', install_crds=False)\n",
        charts.url
    ));
    assert_eq!(names(plan(&third)), ["crontab", UNCATEGORIZED_RESOURCE]);

    // A repository used in place has no Tilt module directory above it: helm_remote's own
    // check fails, as it does in Tilt with a file:// extension repo.
    let mut in_place = Sandbox::new();
    let dir = in_place.base.join("tilt-extensions").display().to_string();
    in_place.env.insert("LILT_EXTENSIONS_REPO".to_owned(), dir);
    let err = in_place
        .eval("load('ext://helm_remote', 'helm_remote')\n")
        .error
        .expect("no tilt_modules")
        .to_string();
    assert!(err.contains("Could not find root Tiltfile"), "{err}");
}

#[test]
fn secret_renders_with_kubectl_and_values_are_scrubbed() {
    let mut sb = Sandbox::new();
    sb.env
        .insert("SOME_TOKEN".to_owned(), "tok-from-env-123".to_owned());
    let project = sb.project();
    write(&project.join(".pgpass"), "db:5432:app:app:pg-pass-456\n");
    write(&project.join("app.env"), "API_KEY=key-789\nMODE=dev\n");
    write(
        &project.join("job.yaml"),
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: busybox\n        envFrom:\n        - secretRef:\n            name: api-keys\n",
    );
    std::fs::create_dir_all(&project).expect("project dir");
    run(
        &project,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.crt",
            "-subj",
            "/CN=example.com",
            "-days",
            "1",
        ],
        &[],
    );
    let result = sb.eval(
        "load('ext://secret', 'secret_from_dict', 'secret_create_generic', 'secret_create_tls', 'secret_create_docker_registry')\n\
         k8s_yaml(secret_from_dict('api-keys', inputs={'TOKEN': os.getenv('SOME_TOKEN')}))\n\
         secret_create_generic('pgpass', namespace='db', from_file='.pgpass=./.pgpass')\n\
         secret_create_generic('app-env', from_env_file='app.env', secret_type='Opaque')\n\
         secret_create_tls('web-tls', 'tls.crt', 'tls.key')\n\
         secret_create_docker_registry('regcred', username='robot', password='reg-pass-000', server='registry.example.com')\n\
         k8s_yaml('job.yaml')\n",
    );
    let p = plan(&result);
    assert_eq!(names(p), ["migrate", UNCATEGORIZED_RESOURCE]);
    let unc = p.manifest(UNCATEGORIZED_RESOURCE).expect("uncategorized");
    let mut secrets = objects(unc);
    secrets.sort();
    assert_eq!(
        secrets,
        pairs(&[
            ("Secret", "api-keys"),
            ("Secret", "app-env"),
            ("Secret", "pgpass"),
            ("Secret", "regcred"),
            ("Secret", "web-tls"),
        ])
    );
    assert!(yaml(unc).contains("namespace: db"), "{}", yaml(unc));
    assert!(
        yaml(unc).contains("type: kubernetes.io/dockerconfigjson"),
        "{}",
        yaml(unc)
    );

    // Every value is recorded for scrubbing, decoded and as written in the YAML.
    let recorded = |name: &str, key: &str| {
        p.secrets
            .iter()
            .find(|s| s.name == name && s.key == key)
            .unwrap_or_else(|| panic!("secret {name}/{key} in {:?}", p.secrets))
    };
    let token = recorded("api-keys", "TOKEN");
    assert_eq!(token.value, "tok-from-env-123");
    assert_eq!(token.value_encoded, "dG9rLWZyb20tZW52LTEyMw==");
    assert_eq!(
        recorded("pgpass", ".pgpass").value,
        "db:5432:app:app:pg-pass-456\n"
    );
    assert_eq!(recorded("app-env", "API_KEY").value, "key-789");
    assert!(
        recorded("regcred", ".dockerconfigjson")
            .value
            .contains("reg-pass-000")
    );
    assert!(recorded("web-tls", "tls.key").value.contains("PRIVATE KEY"));

    // `quiet=True, echo_off=True`: neither the commands nor their output reach the log.
    let log = log_text(&result);
    for value in [
        "tok-from-env-123",
        "pg-pass-456",
        "key-789",
        "reg-pass-000",
        "kubectl",
    ] {
        assert!(!log.contains(value), "{value} in {log}");
    }
    // Files kubectl reads are not Tiltfile inputs; the YAML file and the extension are.
    assert!(p.config_files.contains(&project.join("job.yaml")));
    assert!(p.config_files.contains(&sb.ext_file("secret")));
    assert!(!p.config_files.contains(&project.join(".pgpass")));

    let err = sb
        .eval("load('ext://secret', 'secret_create_generic')\nsecret_create_generic('x')\n")
        .error
        .expect("no source")
        .to_string();
    assert!(err.contains("No secret generator specified"), "{err}");
}

/// Stands in for a tool that needs a cluster or a registry: appends its argv, then its
/// stdin, to `$TOOL_RECORD`, and succeeds.
const RECORDER: &str = "#!/bin/sh\n\
    { printf '%s' \"$(basename \"$0\")\"; for a in \"$@\"; do printf ' %s' \"$a\"; done; echo; cat; } >> \"$TOOL_RECORD\"\n";

#[test]
fn cert_manager_installs_and_checks_at_load_time() {
    use std::os::unix::fs::PermissionsExt;

    let mut sb = Sandbox::new();
    let bin = sb.base.join("bin");
    for tool in ["kubectl", "docker", "kind"] {
        write(&bin.join(tool), RECORDER);
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let record = sb.base.join("record.txt");
    let path = format!("{}:{}", bin.display(), sb.env["PATH"]);
    sb.env.insert("PATH".to_owned(), path);
    sb.env
        .insert("TOOL_RECORD".to_owned(), record.display().to_string());
    let result = sb.eval(
        "load('ext://cert_manager', 'deploy_cert_manager')\n\
         deploy_cert_manager(version='v1.12.0', load_to_kind=True, kind_cluster_name='dev')\n\
         local_resource('verify-cert-manager', cmd='kubectl wait --for=condition=Available --timeout=300s -n cert-manager deployment/cert-manager')\n",
    );
    let p = plan(&result);
    // cert_manager registers nothing: everything it does happens while loading.
    assert_eq!(names(p), ["verify-cert-manager"]);
    assert!(p.config_files.contains(&sb.ext_file("cert_manager")));

    let calls = std::fs::read_to_string(&record).expect("tools ran");
    let mut lines = calls.lines();
    for image in [
        "cert-manager-controller",
        "cert-manager-cainjector",
        "cert-manager-webhook",
    ] {
        assert_eq!(
            lines.next(),
            Some(format!("docker pull quay.io/jetstack/{image}:v1.12.0").as_str())
        );
        assert_eq!(
            lines.next(),
            Some(
                format!("kind load docker-image --name dev quay.io/jetstack/{image}:v1.12.0")
                    .as_str()
            )
        );
    }
    assert_eq!(
        lines.next(),
        Some(
            "kubectl apply -f https://github.com/cert-manager/cert-manager/releases/download/v1.12.0/cert-manager.yaml"
        )
    );
    for deployment in [
        "cert-manager",
        "cert-manager-cainjector",
        "cert-manager-webhook",
    ] {
        assert_eq!(
            lines.next(),
            Some(format!("kubectl wait --for=condition=Available --timeout=300s -n cert-manager deployment/{deployment}").as_str())
        );
    }
    // The check objects go through a shell here-document: `{{}}` became `{}`.
    assert_eq!(lines.next(), Some("kubectl apply -f -"));
    let rest: Vec<&str> = lines.collect();
    let applied = rest.join("\n");
    assert!(
        applied.contains("apiVersion: cert-manager.io/v1\nkind: Issuer"),
        "{applied}"
    );
    assert!(applied.contains("  selfSigned: {}\n"), "{applied}");
    assert!(applied.contains(
        "kubectl wait --for=condition=Ready --timeout=300s -n cert-manager-test certificate/selfsigned-cert\n"
    ));
    assert!(applied.contains("kubectl delete -f -\n"), "{applied}");

    // `print` reaches the log; the silenced commands do not.
    let log = log_text(&result);
    for step in [
        "Loading images to kind",
        "Installing cert-manager",
        "Waiting for cert-manager to start",
        "Testing cert-manager",
    ] {
        assert!(log.contains(step), "{step} in {log}");
    }
    assert!(!log.contains("quay.io"), "{log}");

    // cert-manager before v1 used the v1alpha2 API for its check objects.
    std::fs::remove_file(&record).expect("reset record");
    plan(&sb.eval(
        "load('ext://cert_manager', 'deploy_cert_manager')\ndeploy_cert_manager(version='v0.16.1')\n",
    ));
    let calls = std::fs::read_to_string(&record).expect("tools ran");
    assert!(!calls.contains("docker pull"), "{calls}");
    assert!(
        calls.contains("apiVersion: cert-manager.io/v1alpha2\nkind: Certificate"),
        "{calls}"
    );
}

#[test]
fn cert_manager_manifest_vendored_into_k8s_yaml() {
    // The usual alternative to the extension: the release manifest, checked in.
    let sb = Sandbox::new();
    write(
        &sb.project().join("cert-manager.yaml"),
        include_str!("ext_fixtures/cert_manager/cert-manager.yaml"),
    );
    let result = sb.eval(
        "k8s_yaml('cert-manager.yaml')\n\
         local_resource('verify-cert-manager', cmd='kubectl wait --for=condition=Available -n cert-manager deployment/cert-manager-webhook', resource_deps=['cert-manager-webhook'])\n",
    );
    let p = plan(&result);
    assert_eq!(
        names(p),
        [
            "cert-manager-cainjector",
            "cert-manager",
            "cert-manager-webhook",
            "verify-cert-manager",
            UNCATEGORIZED_RESOURCE
        ]
    );
    // Services join the Deployment their selector matches.
    let controller = p.manifest("cert-manager").expect("controller");
    assert_eq!(
        objects(controller),
        pairs(&[("Service", "cert-manager"), ("Deployment", "cert-manager")])
    );
    let webhook = p.manifest("cert-manager-webhook").expect("webhook");
    assert_eq!(
        objects(webhook),
        pairs(&[
            ("Service", "cert-manager-webhook"),
            ("Deployment", "cert-manager-webhook")
        ])
    );
    // In Tilt's apply order (kustomize's kind order: validating webhooks go last).
    let unc = p.manifest(UNCATEGORIZED_RESOURCE).expect("uncategorized");
    assert_eq!(
        objects(unc),
        pairs(&[
            ("Namespace", "cert-manager"),
            ("CustomResourceDefinition", "certificates.cert-manager.io"),
            ("MutatingWebhookConfiguration", "cert-manager-webhook"),
            ("ServiceAccount", "cert-manager"),
            ("ServiceAccount", "cert-manager-webhook"),
            ("ClusterRole", "cert-manager-controller-certificates"),
            ("ClusterRoleBinding", "cert-manager-controller-certificates"),
            ("ValidatingWebhookConfiguration", "cert-manager-webhook"),
        ])
    );
    assert_eq!(
        p.manifest("verify-cert-manager")
            .expect("verify")
            .resource_deps,
        ["cert-manager-webhook"]
    );
    assert!(
        p.config_files
            .contains(&sb.project().join("cert-manager.yaml"))
    );
}

fn image_of<'a>(p: &'a Plan, image_ref: &str) -> &'a lilt_model::DockerBuild {
    match p.images.iter().find(|i| i.image_ref == image_ref) {
        Some(lilt_model::ImageTarget {
            build: lilt_model::BuildDetails::Docker(d),
            ..
        }) => d,
        other => panic!("no docker_build {image_ref}: {other:?}"),
    }
}

#[test]
fn git_resource_clones_builds_and_deploys_then_follows_the_remote() {
    let sb = Sandbox::new();
    let src = sb.base.join("src/hello-svc");
    write(&src.join("Dockerfile"), "FROM alpine:3.19\n");
    write(&src.join("main.sh"), "echo hi\n");
    git_commit(&src, "v1");
    // A bare copy served over (dumb) HTTP, as a remote host would serve it.
    let served = sb.base.join("served");
    std::fs::create_dir_all(&served).expect("served dir");
    let bare = served.join("hello-svc.git");
    let bare_text = bare.display().to_string();
    run(
        &served,
        "git",
        &[
            "clone",
            "-q",
            "--bare",
            &src.display().to_string(),
            &bare_text,
        ],
        &[],
    );
    run(&bare, "git", &["update-server-info"], &[]);
    let http = Served::dir(&served);

    let tiltfile = format!(
        "load('ext://git_resource', 'git_resource', 'git_checkout')\n\
         local_resource('db', cmd='true')\n\
         git_resource('hello-svc', '{http}/hello-svc.git', resource_deps=['db'], port_forwards=['8080:80'])\n\
         vendored = git_checkout('file://{bare_text}#main', checkout_dir='vendor/hello')\n\
         git_resource('vendored', vendored, namespace='tools')\n",
        http = http.url
    );
    let first = sb.eval(&tiltfile);
    let p = plan(&first);
    assert_eq!(names(p), ["hello-svc", "vendored", "db"]);

    // Remote repositories are cloned under `<module cache root>/.git-sources/<name>`.
    let checkout = sb.ext_cache().join(".git-sources/hello-svc");
    let hello = p.manifest("hello-svc").expect("hello-svc");
    assert_eq!(hello.resource_deps, ["db"]);
    let image_refs: Vec<&str> = hello
        .image_targets
        .iter()
        .map(|i| i.image_ref.as_str())
        .collect();
    assert_eq!(image_refs, ["hello-svc-image"]);
    let build = image_of(p, "hello-svc-image");
    assert_eq!(build.context, checkout);
    assert_eq!(build.dockerfile_path, Some(checkout.join("Dockerfile")));
    assert_eq!(build.dockerfile_contents, "FROM alpine:3.19\n");
    assert_eq!(build.ssh, ["default"]);
    match &hello.deploy {
        DeployTarget::K8s(k) => {
            assert_eq!(k.image_maps, ["hello-svc-image"]);
            let fwd: Vec<(u16, u16)> = k
                .port_forwards
                .iter()
                .map(|f| (f.local_port, f.container_port))
                .collect();
            assert_eq!(fwd, [(8080, 80)]);
            assert!(k.yaml.contains("namespace: default"), "{}", k.yaml);
            assert!(k.yaml.contains("image: hello-svc-image"), "{}", k.yaml);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(objects(hello), pairs(&[("Deployment", "hello-svc")]));

    let vendor = sb.project().join("vendor/hello");
    let vendored = p.manifest("vendored").expect("vendored");
    assert!(
        yaml(vendored).contains("namespace: tools"),
        "{}",
        yaml(vendored)
    );
    assert_eq!(image_of(p, "vendored-image").context, vendor);
    for f in [
        sb.ext_file("git_resource"),
        checkout.join("Dockerfile"),
        vendor.join("Dockerfile"),
    ] {
        assert!(p.config_files.contains(&f), "{f:?} in {:?}", p.config_files);
    }

    // A new commit upstream. On the next load both checkouts fetch it; only the one with a
    // branch (`#main`) checks it out, the other keeps its working tree, as in Tilt.
    write(&src.join("Dockerfile"), "FROM alpine:3.20\n");
    git_commit(&src, "v2");
    run(&src, "git", &["push", "-q", &bare_text, "main"], &[]);
    run(&bare, "git", &["update-server-info"], &[]);
    let second = sb.eval(&tiltfile);
    let p = plan(&second);
    assert_eq!(
        image_of(p, "vendored-image").dockerfile_contents,
        "FROM alpine:3.20\n"
    );
    assert_eq!(
        image_of(p, "hello-svc-image").dockerfile_contents,
        "FROM alpine:3.19\n"
    );
    let log = log_text(&second);
    assert!(log.contains("local: git fetch -a origin"), "{log}");
    assert!(log.contains("local: git checkout -f origin/main"), "{log}");

    // Local edits in a checkout stop the load rather than being overwritten.
    write(&vendor.join("Dockerfile"), "FROM scratch\n");
    let err = sb
        .eval(&tiltfile)
        .error
        .expect("dirty checkout")
        .to_string();
    assert!(
        err.contains("git_checkout() failed: local modifications present and safe_mode is enabled"),
        "{err}"
    );
}
