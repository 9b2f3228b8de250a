//! `docker_build` against the real local test dockerd: builds, content tags and the
//! up-to-date check, ignores, FROM dependencies, parameters, failures (with the images
//! built before them) and cancellation. These images build with the classic builder: the
//! test dockerd has no bridge network (see tests/buildkit.rs).

mod common;

use std::time::Duration;

use bollard::query_parameters::ListContainersOptionsBuilder;
use common::*;
use lilt_build::{BuildError, BuildRequest, Builder, build_all};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_on_the_local_daemon_and_tags_by_content() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("local");
    write(ctx.path(), "hello.txt", &format!("hello {name}\n"));
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nCOPY hello.txt /hello.txt\nRUN grep -q 'hello {name}' /hello.txt\n",
            s.base_image
        ),
    );
    let images = [docker_image(&name, ctx.path(), &[])];
    let builder = Builder::from_env(&env).unwrap();
    assert_eq!(builder.host(), s.docker_host);
    let (built, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    let b = &built[0];
    assert_eq!(b.image_ref, name);
    assert!(b.local_ref.starts_with(&format!("{name}:")), "{b:?}");
    assert_content_tag(&b.local_ref);
    assert_eq!(b.built_ref, b.local_ref);
    assert!(!b.cached && !b.pushed && b.digest.is_none());
    // The daemon holds the image under that tag, with the ID the build reported.
    let inspect = builder.docker().inspect_image(&b.local_ref).await.unwrap();
    assert_eq!(inspect.id, b.image_id);
    // The step output reached the log.
    assert!(log.contains("Step 3/3 : RUN grep"), "{}", log.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_inputs_build_nothing_even_after_a_restart() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("cached");
    write(ctx.path(), "a.txt", &name);
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nCOPY a.txt /a.txt\n", s.base_image),
    );
    let images = [docker_image(&name, ctx.path(), &[])];
    let builder = Builder::from_env(&env).unwrap();
    let (first, _) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(!first[0].cached);
    let (second, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(second[0].cached);
    assert_eq!(second[0].local_ref, first[0].local_ref);
    assert_eq!(second[0].image_id, first[0].image_id);
    assert!(
        log.contains(&format!("image up to date: {}", first[0].local_ref)),
        "{}",
        log.text()
    );
    assert!(
        !log.contains("Step 1/"),
        "nothing was sent to the builder:\n{}",
        log.text()
    );
    // A new Builder (a restarted lilt: no hash cache) finds it too.
    let restarted = Builder::from_env(&env).unwrap();
    let (third, _) = build_ok(&restarted, &BuildRequest::new(&images)).await;
    assert!(third[0].cached);
    assert_eq!(third[0].local_ref, first[0].local_ref);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_files_do_not_change_the_tag_and_are_not_sent() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("ignores");
    write(ctx.path(), "src/app.txt", &name);
    write(ctx.path(), "debug.log", "one");
    write(ctx.path(), "tmp/scratch.txt", "one");
    // The image proves what was sent: the ignored files must be missing from the context.
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nCOPY . /ctx\nRUN test -f /ctx/src/app.txt && test ! -e /ctx/debug.log && test ! -e /ctx/tmp\n",
            s.base_image
        ),
    );
    let images = [docker_image(&name, ctx.path(), &["*.log", "tmp"])];
    let builder = Builder::from_env(&env).unwrap();
    let (first, _) = build_ok(&builder, &BuildRequest::new(&images)).await;
    write(ctx.path(), "debug.log", "two, longer");
    write(ctx.path(), "tmp/scratch.txt", "two");
    let (second, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert_eq!(second[0].local_ref, first[0].local_ref);
    assert!(second[0].cached, "{}", log.text());
    // A file that is sent changes the tag.
    write(ctx.path(), "src/app.txt", &format!("{name} changed"));
    let (third, _) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert_ne!(third[0].local_ref, first[0].local_ref);
    assert!(!third[0].cached);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_dependencies_build_first_and_are_substituted() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let base_ctx = tempfile::tempdir().unwrap();
    let app_ctx = tempfile::tempdir().unwrap();
    let base_name = unique("base");
    let app_name = unique("app");
    write(
        base_ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nRUN echo {base_name} > /base.txt\n", s.base_image),
    );
    // The app is built FROM the base by its Tiltfile name; only the built base has the file.
    write(
        app_ctx.path(),
        "Dockerfile",
        &format!("ARG BASE={base_name}\nFROM ${{BASE}}\nRUN grep -q {base_name} /base.txt\n"),
    );
    let base = docker_image(&base_name, base_ctx.path(), &[]);
    let mut app = docker_image(&app_name, app_ctx.path(), &[]);
    app.image_deps = vec![base_name.clone()];
    let images = [base, app];
    let builder = Builder::from_env(&env).unwrap();
    let (built, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert_eq!(built[0].image_ref, base_name);
    assert_eq!(built[1].image_ref, app_name);
    assert!(
        log.contains(&format!("Step 2/3 : FROM {}", built[0].local_ref)),
        "the app's FROM names the base's built ref:\n{}",
        log.text()
    );
    // A change to the base changes the app's tag too (its inputs include the base's ref).
    write(
        base_ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nRUN echo {base_name} v2 > /base.txt\n",
            s.base_image
        ),
    );
    let mut images = images;
    images[0] = docker_image(&base_name, base_ctx.path(), &[]);
    let (rebuilt, _) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert_ne!(rebuilt[0].local_ref, built[0].local_ref);
    assert_ne!(rebuilt[1].local_ref, built[1].local_ref);
    // Listing a dependency that comes later is an error, not a silent reorder.
    let reversed = [images[1].clone(), images[0].clone()];
    let (result, _) = build(&builder, &BuildRequest::new(&reversed)).await;
    assert!(
        matches!(result, Err(BuildError::MissingDependency { ref dep, .. }) if *dep == base_name),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_dockerfile_reports_the_failing_step() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("broken");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nRUN echo before-{name}\nRUN echo failing && exit 3\n",
            s.base_image
        ),
    );
    let images = [docker_image(&name, ctx.path(), &[])];
    let builder = Builder::from_env(&env).unwrap();
    let (result, log) = build(&builder, &BuildRequest::new(&images)).await;
    let err = result.unwrap_err();
    match &err {
        BuildError::BuildFailed { step, message, .. } => {
            assert_eq!(
                step.as_deref(),
                Some("Step 3/3 : RUN echo failing && exit 3")
            );
            assert!(message.contains("returned a non-zero code: 3"), "{message}");
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("Step 3/3"), "{shown}");
    // The output before the failure stays in the log.
    assert!(log.contains(&format!("before-{name}")), "{}", log.text());
    assert!(log.contains("failing"), "{}", log.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_build_parameters_reach_the_classic_builder() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    // network="host" below would let BuildKit build it (tests/buildkit.rs covers that).
    let env = local_env(&s, cfg.path()).with("DOCKER_BUILDKIT", "0");
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("params");
    write(ctx.path(), "data.txt", "data");
    // Not the context's Dockerfile: sent under a generated name that the daemon drops from
    // the context (so COPY . sees neither it nor the .dockerignore lilt adds).
    let dockerfile = format!(
        "FROM {base} AS wanted\nARG GREETING\nARG UNSET=default\nCOPY . /ctx\nRUN test \"$GREETING\" = hi && test \"$UNSET\" = default\nRUN test -f /ctx/data.txt && test ! -e /ctx/.dockerfile.lilt && test ! -e /ctx/.dockerignore\nRUN grep -q 'lilt-extra-host' /etc/hosts && grep -q 'second-host' /etc/hosts\nFROM {base} AS after\nRUN exit 1\n",
        base = s.base_image
    );
    let mut image = docker_image(&name, ctx.path(), &[]);
    let extra_tag = format!("{name}-extra:dev");
    {
        let d = docker_build_mut(&mut image);
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
        d.network = "host".into();
        d.platform = "linux/amd64".into();
        d.cache_from = vec![s.base_image.clone()];
    }
    let images = [image.clone()];
    let builder = Builder::from_env(&env).unwrap();
    let (built, log) = build_ok(&builder, &BuildRequest::new(&images)).await;
    assert!(
        log.contains("with the classic builder (DOCKER_BUILDKIT=0 is set)"),
        "{}",
        log.text()
    );
    assert!(
        !log.contains("RUN exit 1"),
        "target= stopped before the last stage:\n{}",
        log.text()
    );
    assert!(daemon_has(&env, &extra_tag).await, "extra_tag applied");
    let extra = builder.docker().inspect_image(&extra_tag).await.unwrap();
    assert_eq!(extra.id, built[0].image_id);

    // Build args are inputs: another value is another tag.
    let mut other = image.clone();
    docker_build_mut(&mut other).build_args[0].1 = Some("hello".into());
    let images = [other];
    let (result, _) = build(&builder, &BuildRequest::new(&images)).await;
    assert!(
        matches!(&result, Err(BuildError::BuildFailed { .. })),
        "GREETING=hello fails the test in the Dockerfile: {result:?}"
    );

    // pull=True makes the daemon pull the base image, which only exists locally here.
    let mut pulled = image.clone();
    docker_build_mut(&mut pulled).pull = true;
    docker_build_mut(&mut pulled).dockerfile_contents =
        format!("FROM {}\nRUN echo {name}-pull\n", s.base_image);
    let images = [pulled];
    let (result, _) = build(&builder, &BuildRequest::new(&images)).await;
    assert!(
        matches!(&result, Err(BuildError::BuildFailed { .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_and_secret_need_buildkit() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), "Dockerfile", "FROM scratch\n");
    let builder = Builder::from_env(&env).unwrap();
    for param in ["ssh", "secret"] {
        let mut image = docker_image(&unique(param), ctx.path(), &[]);
        let d = docker_build_mut(&mut image);
        if param == "ssh" {
            d.ssh = vec!["default".into()];
        } else {
            d.secret = vec!["id=token,src=/dev/null".into()];
        }
        let images = [image];
        let (result, _) = build(&builder, &BuildRequest::new(&images)).await;
        let err = result.unwrap_err();
        assert!(
            matches!(&err, BuildError::NeedsBuildKit { param: p, .. } if *p == param),
            "{err:?}"
        );
        assert!(err.to_string().contains(&format!("{param}=")), "{err}");
    }
}

/// Containers of the classic builder running a command that contains `marker`.
async fn running_with(builder: &Builder, marker: &str) -> usize {
    let options = ListContainersOptionsBuilder::default().all(false).build();
    let containers = builder
        .docker()
        .list_containers(Some(options))
        .await
        .unwrap();
    containers
        .iter()
        .filter(|c| c.command.as_deref().unwrap_or("").contains(marker))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_a_long_build() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("cancel");
    let marker = name.replace('/', "-");
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {}\nRUN echo started-{marker} && sleep 300\n",
            s.base_image
        ),
    );
    let images = [docker_image(&name, ctx.path(), &[])];
    let builder = Builder::from_env(&env).unwrap();
    let log = LogLines::default();
    let cancel = CancellationToken::new();
    let req = BuildRequest::new(&images);
    let sink = log.sink();
    let run = build_all(&builder, &req, &sink, &cancel);
    let watcher = async {
        log.wait_for_line(&format!("started-{marker}")).await;
        assert_eq!(
            running_with(&builder, &marker).await,
            1,
            "the RUN step is running"
        );
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
    // The daemon stops the step once the connection is gone (long before `sleep 300` ends).
    let mut left = 1;
    for _ in 0..600 {
        left = running_with(&builder, &marker).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        left, 0,
        "the build's container still runs after cancellation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_returns_the_images_built_before_the_failure() {
    let s = svc();
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path());
    let good_ctx = tempfile::tempdir().unwrap();
    let bad_ctx = tempfile::tempdir().unwrap();
    let good_name = unique("partial-good");
    let bad_name = unique("partial-bad");
    let never_name = unique("partial-never");
    write(
        good_ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nRUN echo {good_name}\n", s.base_image),
    );
    write(
        bad_ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nRUN echo {bad_name} && exit 4\n", s.base_image),
    );
    let images = [
        docker_image(&good_name, good_ctx.path(), &[]),
        docker_image(&bad_name, bad_ctx.path(), &[]),
        docker_image(&never_name, good_ctx.path(), &[]),
    ];
    let builder = Builder::from_env(&env).unwrap();
    let (result, log) = build_full(&builder, &BuildRequest::new(&images)).await;
    let failed = result.unwrap_err();
    // The first image is built and reported; the third never started.
    assert_eq!(failed.built.len(), 1, "{:?}", failed.built);
    let good = &failed.built[0];
    assert_eq!(good.image_ref, good_name);
    assert_content_tag(&good.local_ref);
    assert!(daemon_has(&env, &good.local_ref).await);
    assert!(
        matches!(&failed.error, BuildError::BuildFailed { image, .. } if *image == bad_name),
        "{:?}",
        failed.error
    );
    // It reads as the single image's error.
    assert_eq!(failed.to_string(), failed.error.to_string());
    assert!(!log.contains(&never_name), "{}", log.text());
    // Found up to date counts as done too.
    let (result, _) = build_full(&builder, &BuildRequest::new(&images)).await;
    let failed = result.unwrap_err();
    assert_eq!(failed.built.len(), 1);
    assert!(failed.built[0].cached);
    assert_eq!(failed.built[0].local_ref, good.local_ref);
}
