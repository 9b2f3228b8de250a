//! `custom_build` against the real local test dockerd and registry: the command gets
//! `EXPECTED_REF` and friends, its output reaches the log, `deps` decide the content tag,
//! `tag=`, `outputs_image_ref_to`, `skips_local_docker`, failures and cancellation.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use lilt_build::{BuildError, BuildRequest, Builder, build_all};
use lilt_model::DefaultRegistry;
use tokio_util::sync::CancellationToken;

fn registry(host: &str) -> DefaultRegistry {
    DefaultRegistry {
        host: host.to_owned(),
        host_from_cluster: String::new(),
        single_name: String::new(),
    }
}

/// A script that records the EXPECTED_* variables to `$OUT` and tags the base image as
/// `$EXPECTED_REF` in the daemon `DOCKER_HOST` names (the builder's).
fn tagging_script(base: &str) -> String {
    format!(
        "echo \"$EXPECTED_REF|$EXPECTED_IMAGE|$EXPECTED_TAG|${{EXPECTED_REGISTRY:-none}}\" > \"$OUT\"\necho building \"$EXPECTED_REF\"\ndocker tag {base} \"$EXPECTED_REF\""
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_builds_expected_ref_and_deps_decide_the_tag() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    write(&src, "main.txt", "v1");
    let name = unique("custom");
    let out = work.path().join("expected.txt");
    let images = [custom_image(
        &name,
        &tagging_script(&s.base_image),
        work.path(),
        vec![src.clone()],
    )];
    let mut req = BuildRequest::new(&images);
    req.env = vec![("OUT".into(), out.display().to_string())];
    let builder = Builder::from_env(&env).unwrap();
    let (built, log) = build_ok(&builder, &req).await;
    let b = &built[0];
    assert_content_tag(&b.local_ref);
    assert!(b.local_ref.starts_with(&format!("{name}:tilt-")));
    let tag = b.local_ref.rsplit(':').next().unwrap();
    let path = name.split_once('/').map(|(_, p)| p).unwrap_or(&name);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        format!("{}|lilt-build-test/{path}|{tag}|none", b.local_ref)
    );
    assert!(
        log.contains(&format!("building {}", b.local_ref)),
        "{}",
        log.text()
    );
    assert!(daemon_has(&env, &b.local_ref).await);
    assert!(!b.cached && !b.pushed);

    // Same deps: the command does not run again.
    std::fs::remove_file(&out).unwrap();
    let (again, log) = build_ok(&builder, &req).await;
    assert!(again[0].cached, "{}", log.text());
    assert_eq!(again[0].local_ref, b.local_ref);
    assert!(!out.exists(), "the command ran although nothing changed");

    // A changed dep: a new tag, and the command runs.
    write(&src, "main.txt", "v2");
    let (changed, _) = build_ok(&builder, &req).await;
    assert_ne!(changed[0].local_ref, b.local_ref);
    assert!(!changed[0].cached && out.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lilt_pushes_a_custom_image_to_the_registry() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let work = tempfile::tempdir().unwrap();
    write(work.path(), "dep.txt", &unique("dep"));
    let name = unique("custom-push");
    let out = work.path().join("expected.txt");
    let images = [custom_image(
        &name,
        &tagging_script(&s.base_image),
        work.path(),
        vec![work.path().join("dep.txt")],
    )];
    let reg = registry(&s.registry);
    let mut req = BuildRequest::new(&images).with_registry(Some(&reg));
    req.env = vec![("OUT".into(), out.display().to_string())];
    let builder = Builder::from_env(&env).unwrap();
    let (built, _) = build_ok(&builder, &req).await;
    let b = &built[0];
    assert!(
        b.local_ref.starts_with(&format!("{}/", s.registry)),
        "{b:?}"
    );
    assert!(b.pushed && b.digest.is_some(), "{b:?}");
    let recorded = std::fs::read_to_string(&out).unwrap();
    assert!(
        recorded.trim().ends_with(&format!("|{}", s.registry)),
        "EXPECTED_REGISTRY: {recorded}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_outputs_image_ref_to_and_skips_local_docker() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let work = tempfile::tempdir().unwrap();
    write(work.path(), "dep.txt", &unique("dep"));
    let builder = Builder::from_env(&env).unwrap();
    let dep = vec![work.path().join("dep.txt")];

    // tag=: the command builds `name:TAG`; lilt re-tags it with the content tag.
    let name = unique("fixed-tag");
    let mut image = custom_image(
        &name,
        &format!(
            "test \"$EXPECTED_REF\" = \"{name}:dev\" && docker tag {} \"$EXPECTED_REF\"",
            s.base_image
        ),
        work.path(),
        dep.clone(),
    );
    custom_build_mut(&mut image).tag = "dev".into();
    let images = [image];
    let (built, _) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert_content_tag(&built[0].local_ref);
    assert!(daemon_has(&env, &built[0].local_ref).await);

    // outputs_image_ref_to: the command decides the ref. The file it writes lies inside
    // a dep and is left out of the hash (else every run would change the inputs).
    let name = unique("outputs");
    let written = format!("{name}:from-the-command");
    let ref_file = work.path().join("ref.txt");
    let dep = vec![work.path().to_path_buf()];
    let mut image = custom_image(
        &name,
        &format!(
            "docker tag {} {written} && echo {written} > {}",
            s.base_image,
            ref_file.display()
        ),
        work.path(),
        dep.clone(),
    );
    custom_build_mut(&mut image).outputs_image_ref_to = Some(ref_file.clone());
    let images = [image];
    let (built, _) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert_eq!(built[0].built_ref, written);
    assert_eq!(built[0].local_ref, written);
    let (again, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(
        again[0].cached,
        "same inputs, ref still there:\n{}",
        log.text()
    );

    let dep = vec![work.path().join("dep.txt")];

    // skips_local_docker: the command pushes by itself and removes its local copy; lilt
    // never looks in the daemon, and finds the image in the registry next time.
    let name = unique("remote-only");
    let mut image = custom_image(
        &name,
        &format!(
            "docker tag {} \"$EXPECTED_REF\" && docker push -q \"$EXPECTED_REF\" && docker rmi \"$EXPECTED_REF\"",
            s.base_image
        ),
        work.path(),
        dep,
    );
    custom_build_mut(&mut image).skips_local_docker = true;
    let images = [image];
    let reg = registry(&s.registry);
    let req = BuildRequest::new(&images).with_registry(Some(&reg));
    let (built, log) = build_ok(&builder, &req).await;
    assert!(built[0].pushed, "{:?}", built[0]);
    assert!(
        !daemon_has(&env, &built[0].local_ref).await,
        "{}",
        log.text()
    );
    let (again, log) = build_ok(&builder, &req).await;
    assert!(again[0].cached, "{}", log.text());
    assert!(again[0].digest.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_deps_are_built_first_and_passed_to_the_command() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let base_ctx = tempfile::tempdir().unwrap();
    let base_name = unique("cb-base");
    write(
        base_ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nRUN echo {base_name} > /base.txt\n", s.base_image),
    );
    let base = docker_image(&base_name, base_ctx.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    write(work.path(), "dep.txt", &unique("dep"));
    let out = work.path().join("maps.txt");
    // The command re-tags the dependency it was given as its own image.
    let mut image = custom_image(
        &unique("cb-app"),
        &format!(
            "echo \"$TILT_IMAGE_MAP_0 $TILT_IMAGE_0\" > {} && docker tag \"$TILT_IMAGE_0\" \"$EXPECTED_REF\"",
            out.display()
        ),
        work.path(),
        vec![work.path().join("dep.txt")],
    );
    image.image_deps = vec![base_name.clone()];
    let images = [base, image];
    let builder = Builder::from_env(&env).unwrap();
    let (built, _) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        format!("{base_name} {}", built[0].local_ref)
    );
    assert_eq!(
        built[1].image_id, built[0].image_id,
        "the app is the base, re-tagged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_or_silent_commands_are_errors() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let work = tempfile::tempdir().unwrap();
    write(work.path(), "dep.txt", &unique("dep"));
    let builder = Builder::from_env(&env).unwrap();
    let dep = vec![work.path().join("dep.txt")];

    let images = [custom_image(
        &unique("fails"),
        "echo oops >&2; exit 4",
        work.path(),
        dep.clone(),
    )];
    let (result, log) = build(&builder, &BuildRequest::new(&images)).await;
    match result {
        Err(BuildError::CommandFailed { status, .. }) => assert_eq!(status, "exit status 4"),
        other => panic!("{other:?}"),
    }
    assert!(
        log.has_line("oops"),
        "stderr reaches the log:\n{}",
        log.text()
    );

    let images = [custom_image(&unique("silent"), "true", work.path(), dep)];
    let (result, _) = build(&builder, &BuildRequest::new(&images)).await;
    let err = result.unwrap_err();
    assert!(matches!(err, BuildError::CommandOutput { .. }), "{err:?}");
    assert!(err.to_string().contains("EXPECTED_REF"), "{err}");
}

fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie has exited; only its parent has not collected it yet.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_kills_the_command_and_its_children() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let work = tempfile::tempdir().unwrap();
    write(work.path(), "dep.txt", &unique("dep"));
    let shell_pid = work.path().join("shell.pid");
    let child_pid = work.path().join("child.pid");
    let script = format!(
        "echo $$ > {}; sleep 300 & echo $! > {}; echo started; wait",
        shell_pid.display(),
        child_pid.display()
    );
    let images = [custom_image(
        &unique("cancel"),
        &script,
        work.path(),
        vec![work.path().join("dep.txt")],
    )];
    let builder = Builder::from_env(&env).unwrap();
    let log = LogLines::default();
    let sink = log.sink();
    let cancel = CancellationToken::new();
    let req = BuildRequest::new(&images);
    let run = build_all(&builder, &req, &sink, &cancel);
    let watcher = async {
        log.wait_for_line("started").await;
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(run, watcher);
    assert!(
        matches!(
            &result,
            Err(e) if matches!(e.error, BuildError::Cancelled) && e.built.is_empty()
        ),
        "{result:?}"
    );
    let pids = [read_pid(&shell_pid), read_pid(&child_pid)];
    let mut alive = pids.to_vec();
    for _ in 0..300 {
        alive.retain(|p| pid_alive(*p));
        if alive.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        alive.is_empty(),
        "still running after cancellation: {alive:?}"
    );
}
