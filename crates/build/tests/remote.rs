//! Remote builders and registries: the TLS "remote" dockerd builds and pushes to the test
//! registry while the local dockerd never sees the image; registry names follow Tilt's
//! `default_registry` rules; credentials come from the docker config and a credential
//! helper program; the daemon is found through a docker context.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use common::*;
use lilt_build::{BuildError, BuildRequest, Builder, HostSource};
use lilt_model::DefaultRegistry;
use sha2::{Digest, Sha256};

fn registry(host: &str) -> DefaultRegistry {
    DefaultRegistry {
        host: host.to_owned(),
        host_from_cluster: String::new(),
        single_name: String::new(),
    }
}

fn simple_context(root: &Path, base: &str, marker: &str) {
    write(root, "marker.txt", marker);
    write(
        root,
        "Dockerfile",
        &format!("FROM {base}\nCOPY marker.txt /marker.txt\n"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_builder_pushes_and_the_local_daemon_never_holds_the_image() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let remote = remote_env(&s, cfg.path());
    let local = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("remote");
    simple_context(ctx.path(), &s.base_image, &name);
    let images = [docker_image(&name, ctx.path(), &[])];
    let reg = registry(&s.registry);

    let builder = Builder::from_env(&remote).unwrap();
    assert_eq!(builder.host(), s.remote_docker_host);
    let req = BuildRequest::new(&images).with_registry(Some(&reg));
    let (built, log) = build_ok(&builder, &req).await;
    let b = &built[0];
    // Tilt's rewriting: `<host>/<name with / : @ as _>`.
    let escaped = name.replace('/', "_");
    assert!(
        b.local_ref
            .starts_with(&format!("{}/{escaped}:tilt-", s.registry)),
        "{b:?}"
    );
    assert_content_tag(&b.local_ref);
    assert_eq!(b.built_ref, b.local_ref);
    assert!(b.pushed && !b.cached, "{b:?}");
    let digest = b.digest.clone().expect("the push reported a digest");
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(
        log.contains(&format!("pushing {}", b.local_ref)),
        "{}",
        log.text()
    );

    // Built and pushed by the remote daemon; the local one has never heard of it.
    assert!(daemon_has(&remote, &b.local_ref).await);
    assert!(!daemon_has(&local, &b.local_ref).await);

    // A teammate (here: the local daemon) with the same inputs finds the image in the
    // registry and builds nothing, and still pulls nothing: asking the registry directly,
    // and asking it through the daemon's distribution endpoint.
    for direct in [true, false] {
        let teammate = Builder::from_env(&local)
            .unwrap()
            .with_direct_registry_check(direct);
        let (again, log) = build_ok(&teammate, &req).await;
        assert!(again[0].cached && again[0].pushed, "{:?}", again[0]);
        assert_eq!(again[0].local_ref, b.local_ref);
        assert_eq!(again[0].digest.as_deref(), Some(digest.as_str()));
        assert!(
            log.contains(&format!("image up to date: {}", b.local_ref)),
            "{}",
            log.text()
        );
        assert!(!daemon_has(&local, &b.local_ref).await);
    }

    // host_from_cluster changes only the ref deployed objects use.
    let reg_cluster = DefaultRegistry {
        host_from_cluster: "registry.cluster.local:5000".to_owned(),
        ..reg.clone()
    };
    let req = BuildRequest::new(&images).with_registry(Some(&reg_cluster));
    let (viewed, _) = build_ok(&builder, &req).await;
    assert!(viewed[0].cached);
    assert_eq!(viewed[0].local_ref, b.local_ref);
    assert_eq!(
        viewed[0].built_ref,
        b.local_ref
            .replacen(&s.registry, "registry.cluster.local:5000", 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_name_puts_every_image_in_one_repository() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("single");
    simple_context(ctx.path(), &s.base_image, &name);
    let images = [docker_image(&name, ctx.path(), &[])];
    let reg = DefaultRegistry {
        single_name: "lilt-build-single".to_owned(),
        ..registry(&s.registry)
    };
    let builder = Builder::from_env(&env).unwrap();
    let (built, _) = build_ok(
        &builder,
        &BuildRequest::new(&images).with_registry(Some(&reg)),
    )
    .await;
    let base_name = name.rsplit('/').next().unwrap();
    let expected_prefix = format!("{}/lilt-build-single:{base_name}-tilt-", s.registry);
    assert!(
        built[0].local_ref.starts_with(&expected_prefix),
        "{:?}",
        built[0]
    );
    assert!(built[0].pushed && built[0].digest.is_some());
}

/// `docker-credential-lilttest` in a fresh directory: answers with the test registry's
/// user and password for `registry`, records each call, and says "not found" otherwise.
fn credential_helper(dir: &Path, registry: &str, user: &str, password: &str) {
    let script = dir.join("docker-credential-lilttest");
    let calls = dir.join("calls");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\necho \"$server\" >> {calls}\nif [ \"$server\" = \"{registry}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}\\n' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            calls = calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_a_helper_program_reach_the_auth_registry() {
    let s = svc();
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("auth");
    simple_context(ctx.path(), &s.base_image, &name);
    let images = [docker_image(&name, ctx.path(), &[])];
    let reg = registry(&s.auth_registry);

    // Without credentials the registry refuses the push: it really needs them.
    let empty = tempfile::tempdir().unwrap();
    let builder = Builder::from_env(&local_env(&s, empty.path())).unwrap();
    let req = BuildRequest::new(&images).with_registry(Some(&reg));
    let (result, _) = build(&builder, &req).await;
    assert!(
        matches!(&result, Err(BuildError::Push { .. })),
        "a push without credentials must fail: {result:?}"
    );

    // With `credsStore` naming a helper on PATH, the same push succeeds.
    let cfg = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    credential_helper(bin.path(), &s.auth_registry, &s.auth_user, &s.auth_password);
    std::fs::write(
        cfg.path().join("config.json"),
        r#"{"credsStore":"lilttest"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let env = local_env(&s, cfg.path()).with("PATH", &path);
    let builder = Builder::from_env(&env).unwrap();
    let (built, _) = build_ok(&builder, &req).await;
    assert!(
        built[0].pushed && built[0].digest.is_some(),
        "{:?}",
        built[0]
    );
    let calls = std::fs::read_to_string(bin.path().join("calls")).unwrap();
    assert!(calls.lines().any(|l| l == s.auth_registry), "{calls}");

    // The up-to-date check asks the registry with the same credentials, directly and
    // through the daemon.
    let (again, log) = build_ok(&builder, &req).await;
    assert!(again[0].cached, "{}", log.text());
    assert_eq!(again[0].digest, built[0].digest);
    let through_daemon = Builder::from_env(&env)
        .unwrap()
        .with_direct_registry_check(false);
    let (again, log) = build_ok(&through_daemon, &req).await;
    assert!(again[0].cached, "{}", log.text());
    assert_eq!(again[0].digest, built[0].digest);

    // `auths` with a base64 `auth` entry works the same way.
    let cfg2 = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", s.auth_user, s.auth_password));
    std::fs::write(
        cfg2.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            s.auth_registry
        ),
    )
    .unwrap();
    let builder = Builder::from_env(&local_env(&s, cfg2.path())).unwrap();
    let (found, log) = build_ok(&builder, &req).await;
    assert!(found[0].cached, "{}", log.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_docker_context_selects_the_remote_tls_daemon() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    // Lay out a context the way `docker context create --docker host=...,ca=...,cert=...,key=...`
    // does: metadata under the SHA-256 of the name, TLS files beside it.
    let id: String = Sha256::digest(b"lilt-remote")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let meta = cfg.path().join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        format!(
            r#"{{"Name":"lilt-remote","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{}","SkipTLSVerify":false}}}}}}"#,
            s.remote_docker_host
        ),
    )
    .unwrap();
    let tls = cfg.path().join("contexts/tls").join(&id).join("docker");
    std::fs::create_dir_all(&tls).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(s.remote_cert_path.join(f), tls.join(f)).unwrap();
    }
    std::fs::write(
        cfg.path().join("config.json"),
        r#"{"currentContext":"lilt-remote"}"#,
    )
    .unwrap();
    let env = lilt_build::DockerEnv::default()
        .with("DOCKER_CONFIG", cfg.path().to_str().unwrap())
        .with("PATH", &std::env::var("PATH").unwrap());
    let builder = Builder::from_env(&env).unwrap();
    assert_eq!(builder.host(), s.remote_docker_host);
    assert_eq!(
        builder.host_source(),
        &HostSource::Context("lilt-remote".to_owned())
    );
    let version = builder.ping().await.unwrap();
    assert!(!version.is_empty());
    // The context's TLS files are what make the connection work: without them, no answer.
    std::fs::remove_dir_all(cfg.path().join("contexts/tls")).unwrap();
    let plain = Builder::from_env(&env).unwrap();
    assert!(plain.ping().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_on_the_remote_tls_daemon_builds_and_pushes() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let remote = remote_env(&s, cfg.path());
    let local = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("remote-bk");
    write(ctx.path(), "marker.txt", &name);
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nCOPY marker.txt /marker.txt\nRUN grep -q {name} /marker.txt && echo checked-remote\n",
            s.base_image
        ),
    );
    // network="host": the test daemons have no bridge network for BuildKit's RUN steps.
    let images = [buildkit_image(&name, ctx.path())];
    let reg = registry(&s.registry);
    let builder = Builder::from_env(&remote).unwrap();
    let req = BuildRequest::new(&images).with_registry(Some(&reg));
    let (built, log) = build_ok(&builder, &req).await;
    // The session runs over the same TLS connection setup as every other request.
    assert!(
        log.contains(&format!("on {} with BuildKit; ", s.remote_docker_host)),
        "{}",
        log.text()
    );
    assert!(
        log.0
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with('#') && l.ends_with(" checked-remote")),
        "{}",
        log.text()
    );
    assert!(
        built[0].pushed && built[0].digest.is_some(),
        "{:?}",
        built[0]
    );
    assert!(daemon_has(&remote, &built[0].local_ref).await);
    assert!(!daemon_has(&local, &built[0].local_ref).await);
}
