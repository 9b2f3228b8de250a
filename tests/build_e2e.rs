//! Image builds through the whole binary: `lilt ci` builds a `docker_build` image on the
//! remote TLS builder, which pushes it to the registry; the local daemon never gets it; a
//! second run on the unchanged tree builds nothing; a change to an ignored file builds
//! nothing; a change to a COPYed file builds a new tag. There is no cluster here (the
//! kubeconfig points nowhere), so the deploy then fails with that message and `lilt ci`
//! fails; the Kubernetes runtime has its own tests against the API-server double.
//! Real dockerd, real registry (see docs/testing.md).

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: IMAGE
";

/// A repository name no earlier run has pushed (the registry outlives test runs).
fn unique_repo() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("e2e-{}-{nanos}/app", std::process::id())
}

fn write_project(dir: &Path, image: &str, base: &str) {
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {base}\nCOPY app.txt /app.txt\n"),
    )
    .unwrap();
    std::fs::write(dir.join("app.txt"), "one\n").unwrap();
    std::fs::write(dir.join("notes.md"), "ignored\n").unwrap();
    std::fs::write(dir.join(".dockerignore"), "notes.md\n").unwrap();
    std::fs::write(dir.join("app.yaml"), DEPLOYMENT.replace("IMAGE", image)).unwrap();
    std::fs::write(
        dir.join("Tiltfile"),
        format!("docker_build('{image}', '.')\nk8s_yaml('app.yaml')\n"),
    )
    .unwrap();
}

/// `lilt ci` in `dir` with `env`; (exit code, stdout + stderr).
fn ci(dir: &Path, env: &[(String, String)]) -> (i32, String) {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lilt"))
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .env("LILT_STATE_DIR", state.path())
        .env("DOCKER_CONFIG", dir.join(".no-docker-config"))
        .args(["ci", "--port", "0", "--timeout", "120s"])
        .output()
        .expect("run lilt ci");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The ref lilt reported for the image (`image ready: REF`).
fn built_ref(log: &str) -> String {
    log.lines()
        .find_map(|l| l.split("image ready: ").nth(1))
        .unwrap_or_else(|| panic!("no 'image ready' line in:\n{log}"))
        .trim()
        .to_owned()
}

/// The HTTP status of `HEAD /v2/NAME/manifests/TAG` on a plain-HTTP registry.
fn manifest_status(registry: &str, reference: &str) -> u16 {
    let rest = reference
        .strip_prefix(&format!("{registry}/"))
        .unwrap_or_else(|| panic!("{reference} is not in {registry}"));
    let (name, tag) = rest.rsplit_once(':').expect("a tag");
    let mut stream = std::net::TcpStream::connect(registry).expect("connect to the registry");
    write!(
        stream,
        "HEAD /v2/{name}/manifests/{tag} HTTP/1.0\r\nHost: {registry}\r\n\
         Accept: application/vnd.docker.distribution.manifest.v2+json\r\n\
         Accept: application/vnd.oci.image.manifest.v1+json\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {response}"))
}

#[test]
fn remote_builder_pushes_and_an_unchanged_tree_builds_nothing() {
    let svc = lilt_testsvc::services();
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/{}", svc.registry, unique_repo());
    write_project(dir.path(), &image, &svc.base_image);
    let env = svc.remote_docker_env();

    // 1. Built on the remote daemon and pushed from there.
    let (code, log) = ci(dir.path(), &env);
    assert_eq!(
        code, 1,
        "there is no cluster to deploy to, so ci fails:\n{log}"
    );
    assert!(log.contains("cannot reach the cluster"), "{log}");
    assert!(log.contains(&format!("building {image}:tilt-")), "{log}");
    assert!(
        log.contains(&svc.remote_docker_host.replace("tcp://", "")),
        "built on the remote daemon:\n{log}"
    );
    let first = built_ref(&log);
    assert!(first.starts_with(&format!("{image}:tilt-")), "{first}");
    assert_eq!(
        first.rsplit_once(":tilt-").unwrap().1.len(),
        16,
        "Tilt's tag shape: {first}"
    );
    assert_eq!(manifest_status(&svc.registry, &first), 200, "pushed");
    let local = svc
        .docker()
        .args(["image", "inspect", &first])
        .output()
        .unwrap();
    assert!(
        !local.status.success(),
        "the local daemon never gets a remotely built image"
    );

    // 2. Nothing changed: nothing is built.
    let (_, log) = ci(dir.path(), &env);
    assert!(log.contains(&format!("image up to date: {first}")), "{log}");
    assert!(!log.contains("building "), "{log}");
    assert_eq!(built_ref(&log), first);

    // 3. An ignored file changed: same inputs, same tag, nothing built.
    std::fs::write(dir.path().join("notes.md"), "still ignored\n").unwrap();
    let (_, log) = ci(dir.path(), &env);
    assert!(!log.contains("building "), "{log}");
    assert_eq!(built_ref(&log), first);

    // 4. A COPYed file changed: a new tag, built and pushed.
    std::fs::write(dir.path().join("app.txt"), "two\n").unwrap();
    let (_, log) = ci(dir.path(), &env);
    assert!(log.contains("building "), "{log}");
    let second = built_ref(&log);
    assert_ne!(second, first);
    assert_eq!(manifest_status(&svc.registry, &second), 200);
}

#[test]
fn a_broken_dockerfile_fails_the_resource_with_the_failing_step() {
    let svc = lilt_testsvc::services();
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/{}", svc.registry, unique_repo());
    write_project(dir.path(), &image, &svc.base_image);
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {}\nRUN exit 3\n", svc.base_image),
    )
    .unwrap();
    let (code, log) = ci(dir.path(), &svc.local_docker_env());
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("exit 3"), "the failing step is named:\n{log}");
    assert!(
        !log.contains("cannot reach the cluster"),
        "no deploy after a failed build:\n{log}"
    );
}
