//! BuildKit against the real local test dockerd (20.10, `--bridge=none`): the builder
//! choice and its logged reason, parameters, plain progress lines, the failing step,
//! registry credentials for `FROM` images through the session, and cancellation.

mod common;

use std::time::Duration;

use common::*;
use lilt_build::{BuildError, BuildRequest, Builder, BuilderKind, build_all};
use lilt_model::DefaultRegistry;
use tokio_util::sync::CancellationToken;

/// The line lilt logs before sending a build, naming the builder.
fn building_line(log: &LogLines) -> String {
    log.0
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.starts_with("building "))
        .cloned()
        .unwrap_or_else(|| panic!("no building line:\n{}", log.text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_daemon_offers_buildkit_and_lilt_says_which_builder_it_uses() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let builder = Builder::from_env(&env).unwrap();
    // dockerd 20.10 on Linux, API 1.41, started with --bridge=none.
    let daemon = builder.daemon_info().await.unwrap();
    assert_eq!(daemon.os, "linux");
    assert!(!daemon.bridge_network, "{daemon:?}");
    assert_eq!(
        builder.builder_kind("host").await.unwrap(),
        BuilderKind::BuildKit
    );
    assert!(matches!(
        builder.builder_kind("").await.unwrap(),
        BuilderKind::Classic { reason } if reason.contains("no bridge network")
    ));

    let ctx = tempfile::tempdir().unwrap();
    let name = unique("kinds");
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nRUN echo {name}\n", s.base_image),
    );

    // No bridge and no network=host: the classic builder, with the reason in the log.
    let images = [docker_image(&name, ctx.path(), &[])];
    let (_, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    let line = building_line(&log);
    assert!(
        line.contains("with the classic builder (the daemon has no bridge network"),
        "{line}"
    );
    assert!(log.contains("Step 2/2 : RUN echo"), "{}", log.text());

    // network=host: BuildKit.
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nRUN echo {name}-bk\n", s.base_image),
    );
    let images = [buildkit_image(&name, ctx.path())];
    let (_, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(
        building_line(&log).contains(" with BuildKit; "),
        "{}",
        log.text()
    );

    // DOCKER_BUILDKIT=0 wins, as with the docker CLI.
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nRUN echo {name}-v1\n", s.base_image),
    );
    let classic = Builder::from_env(&env.clone().with("DOCKER_BUILDKIT", "0")).unwrap();
    let (_, log) = build_ok(&classic, &BuildRequest::new(&images)).await;
    assert!(
        building_line(&log).contains("with the classic builder (DOCKER_BUILDKIT=0 is set)"),
        "{}",
        log.text()
    );

    // DOCKER_BUILDKIT=1 forces BuildKit, even where RUN needs the missing bridge: the
    // daemon's own error reaches the caller.
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nRUN echo {name}-v2\n", s.base_image),
    );
    let images = [docker_image(&name, ctx.path(), &[])];
    let forced = Builder::from_env(&env.clone().with("DOCKER_BUILDKIT", "1")).unwrap();
    let (result, log) = build(&forced, &BuildRequest::new(&images)).await;
    assert!(
        building_line(&log).contains(" with BuildKit; "),
        "{}",
        log.text()
    );
    assert!(
        matches!(&result, Err(BuildError::BuildFailed { message, .. }) if message.contains("network bridge not found")),
        "{result:?}"
    );

    // Anything but a boolean is an error, as for the CLI.
    let wrong = Builder::from_env(&env.with("DOCKER_BUILDKIT", "maybe")).unwrap();
    let (result, _) = build(&wrong, &BuildRequest::new(&images)).await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            &err,
            BuildError::Environment {
                var: "DOCKER_BUILDKIT",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("\"maybe\" is not a boolean"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_builds_with_the_parameters_and_logs_plain_progress() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("bk-params");
    write(ctx.path(), "data.txt", "data");
    let dockerfile = format!(
        "FROM {base} AS wanted\nARG GREETING\nARG UNSET=default\nCOPY . /ctx\nRUN test \"$GREETING\" = hi && test \"$UNSET\" = default && echo args-ok-{marker}\nRUN test -f /ctx/data.txt && test ! -e /ctx/.dockerignore\nRUN grep -q 'lilt-extra-host' /etc/hosts && grep -q 'second-host' /etc/hosts\nFROM {base} AS after\nRUN exit 1\n",
        base = s.base_image,
        marker = name.replace('/', "-"),
    );
    let mut image = buildkit_image(&name, ctx.path());
    let extra_tag = format!("{name}-extra:dev");
    {
        let d = docker_build_mut(&mut image);
        // Not the context's Dockerfile: sent as `.dockerfile.lilt` (without the
        // `.dockerignore` the classic builder needs, which BuildKit would not apply).
        d.dockerfile_path = None;
        d.dockerfile_contents = dockerfile;
        d.build_args = vec![
            ("GREETING".into(), Some("hi".into())),
            ("UNSET".into(), None),
        ];
        d.target = "wanted".into();
        d.extra_tags = vec![extra_tag.clone()];
        d.extra_hosts = vec![
            "lilt-extra-host:127.0.0.9".into(),
            "second-host:127.0.0.10".into(),
        ];
        d.platform = "linux/amd64".into();
    }
    let images = [image];
    let builder = Builder::from_env(&env).unwrap();
    let (built, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(
        building_line(&log).contains(" with BuildKit; "),
        "{}",
        log.text()
    );
    let marker = name.replace('/', "-");
    let lines = log.0.lock().unwrap().clone();
    // `#N NAME` (BuildKit names the step with the build args in it), the step's output as
    // `#N LINE`, and `#N DONE …s`, as --progress=plain.
    let announce = lines
        .iter()
        .find(|l| l.starts_with('#') && l.contains("[wanted 3/5] RUN test \"hi\" = hi"))
        .unwrap_or_else(|| panic!("no step line:\n{}", log.text()));
    let number = announce.split(' ').next().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| *l == format!("{number} args-ok-{marker}")),
        "{}",
        log.text()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{number} DONE ")) && l.ends_with('s')),
        "{}",
        log.text()
    );
    // target= builds only what the target needs: BuildKit never plans the last stage.
    assert!(!log.contains("RUN exit 1"), "{}", log.text());
    // The image ID the build reported is the tagged image's, and extra_tag names it too.
    let inspect = builder
        .docker()
        .inspect_image(&built[0].local_ref)
        .await
        .unwrap();
    assert_eq!(inspect.id, built[0].image_id);
    let extra = builder.docker().inspect_image(&extra_tag).await.unwrap();
    assert_eq!(extra.id, built[0].image_id);
    // Nothing to do the second time: the content tag is found before any builder runs.
    let (again, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(again[0].cached, "{}", log.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_buildkit_step_is_named_with_the_daemons_message() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("bk-broken");
    let marker = name.replace('/', "-");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nRUN echo before-{marker}\nRUN echo failing-{marker} && exit 3\n",
            s.base_image
        ),
    );
    let images = [buildkit_image(&name, ctx.path())];
    let builder = Builder::from_env(&env).unwrap();
    let (result, log) = build(&builder, &BuildRequest::new(&images)).await;
    let err = result.unwrap_err();
    match &err {
        BuildError::BuildFailed { step, message, .. } => {
            assert_eq!(
                step.as_deref(),
                Some(format!("[3/3] RUN echo failing-{marker} && exit 3").as_str())
            );
            assert!(message.contains("exit code: 3"), "{message}");
        }
        other => panic!("expected BuildFailed, got {other:?}\n{}", log.text()),
    }
    assert!(
        err.to_string().contains("at [3/3] RUN echo failing"),
        "{err}"
    );
    // The step's output and BuildKit's error line are in the log.
    let lines = log.0.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(&format!(" before-{marker}"))),
        "{}",
        log.text()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(&format!(" failing-{marker}"))),
        "{}",
        log.text()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" ERROR: ") && l.contains("exit code: 3")),
        "{}",
        log.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_images_in_a_private_registry_are_pulled_with_session_credentials() {
    let s = svc();
    let ctx = tempfile::tempdir().unwrap();
    let base_name = unique("bk-private-base");
    write(ctx.path(), "marker.txt", &base_name);
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nCOPY marker.txt /marker.txt\n", s.base_image),
    );
    let with_creds = tempfile::tempdir().unwrap();
    std::fs::write(
        with_creds.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"username":"{}","password":"{}"}}}}}}"#,
            s.auth_registry, s.auth_user, s.auth_password
        ),
    )
    .unwrap();
    let env = local_env(&s, with_creds.path());
    let builder = Builder::from_env(&env).unwrap();
    let registry = DefaultRegistry {
        host: s.auth_registry.clone(),
        host_from_cluster: String::new(),
        single_name: String::new(),
    };
    let base = [docker_image(&base_name, ctx.path(), &[])];
    let (pushed, _) = build_ok(
        &builder,
        &BuildRequest::new(&base).with_registry(Some(&registry)),
    )
    .await;
    let base_ref = pushed[0].local_ref.clone();
    assert!(pushed[0].pushed);
    // Only the registry has it now: BuildKit must pull it.
    builder
        .docker()
        .remove_image(
            &base_ref,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
    assert!(!daemon_has(&env, &base_ref).await);

    let app_ctx = tempfile::tempdir().unwrap();
    let app_name = unique("bk-private-app");
    write(
        app_ctx.path(),
        "Dockerfile",
        &format!("FROM {base_ref}\nRUN grep -q {base_name} /marker.txt\n"),
    );
    let app = [buildkit_image(&app_name, app_ctx.path())];

    // Without credentials the registry refuses the pull: it really needs them.
    let empty = tempfile::tempdir().unwrap();
    let anonymous = Builder::from_env(&local_env(&s, empty.path())).unwrap();
    let (result, log) = build(&anonymous, &BuildRequest::new(&app)).await;
    assert!(
        building_line(&log).contains(" with BuildKit; "),
        "{}",
        log.text()
    );
    let err = result.unwrap_err();
    assert!(
        matches!(&err, BuildError::BuildFailed { message, .. }
            if message.contains("401") || message.contains("nauthorized") || message.contains("credentials")),
        "{err:?}\n{}",
        log.text()
    );

    // With them (config.json `auths`), the session hands them to BuildKit.
    let (built, log) = build_ok(&builder, &BuildRequest::new(&app)).await;
    assert!(
        building_line(&log).contains(" with BuildKit; "),
        "{}",
        log.text()
    );
    assert!(!built[0].cached);
    assert!(daemon_has(&env, &built[0].local_ref).await);
}

/// Processes whose command line contains `marker` (the build's `RUN` step runs on this
/// machine, under dockerd's BuildKit, outside any container the Engine API lists).
fn processes_with(marker: &str) -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.bytes().all(|b| b.is_ascii_digit()) && name != me
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_a_long_buildkit_step() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("bk-cancel");
    let marker = name.replace('/', "-");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            // Not `sleep` last: busybox sh would exec it, and its command line would
            // lose the marker.
            "FROM {}\nRUN echo started-{marker} && sleep 300 && echo never-{marker}\n",
            s.base_image
        ),
    );
    let images = [buildkit_image(&name, ctx.path())];
    let builder = Builder::from_env(&env).unwrap();
    let log = LogLines::default();
    let cancel = CancellationToken::new();
    let req = BuildRequest::new(&images);
    let sink = log.sink();
    let run = build_all(&builder, &req, &sink, &cancel);
    let output = format!(" started-{marker}");
    let watcher = async {
        log.wait_for(&output, |l| l.starts_with('#') && l.ends_with(&output))
            .await;
        assert!(processes_with(&marker) >= 1, "the RUN step is running");
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(run, watcher);
    assert!(
        matches!(&result, Err(e) if matches!(e.error, BuildError::Cancelled)),
        "{result:?}"
    );
    // The daemon stops the step once the build's connection is gone.
    let mut left = 1;
    for _ in 0..600 {
        left = processes_with(&marker);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the RUN step still runs after cancellation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_only_dockerfile_syntax_builds_with_buildkit_only() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("bk-mount");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nRUN --mount=type=cache,target=/cache echo {name} > /cache/seen && cat /cache/seen\n",
            s.base_image
        ),
    );
    let images = [buildkit_image(&name, ctx.path())];
    let builder = Builder::from_env(&env).unwrap();
    let (_, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(log.contains(" with BuildKit; "), "{}", log.text());
    // The classic builder does not know `RUN --mount`: the daemon's own error. (Another
    // name: the builder is not an input, so the same name would be found up to date.)
    let images = [buildkit_image(&unique("bk-mount-classic"), ctx.path())];
    let classic = Builder::from_env(&env.with("DOCKER_BUILDKIT", "0")).unwrap();
    let (result, log) = build(&classic, &BuildRequest::new(&images)).await;
    assert!(
        matches!(&result, Err(BuildError::BuildFailed { .. })),
        "{result:?}\n{}",
        log.text()
    );
}
