//! Live update through the whole binary, on Kubernetes: `lilt up` builds an image on the
//! tests' dockerd, deploys two replicas to the API-server double (whose kubelet runs them as
//! real containers on that dockerd), and then syncs edits into both running containers
//! through `pods/exec` instead of rebuilding: new, changed and deleted files, `run` steps
//! with and without triggers, a failing `run` (the next change rebuilds), and a change
//! outside every `sync` (rebuilds). Real dockerd, real binary (see docs/testing.md).

use lilt_kubedouble::KubeDouble;

mod k8s_support;
use k8s_support::Up;

/// `cat PATH` in a container of the tests' dockerd; `None` when the file is missing.
fn cat(svc: &lilt_testsvc::Services, id: &str, path: &str) -> Option<String> {
    let out = svc
        .docker()
        .args(["exec", id, "cat", path])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The running containers of the app's pods (the latest attempt of each pod).
fn app_containers(double: &KubeDouble) -> Vec<String> {
    double
        .containers()
        .into_iter()
        .filter(|c| c.container == "app")
        .map(|c| c.id)
        .collect()
}

fn count(text: &str, what: &str) -> usize {
    text.matches(what).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reach_every_replica_without_a_rebuild() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A repository name of its own: runs never see each other's images.
    let image = format!(
        "lilt-e2e/live-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    std::fs::create_dir(root.join("www")).unwrap();
    std::fs::write(root.join("www/index.html"), "v1\n").unwrap();
    std::fs::write(root.join("www/old.txt"), "old\n").unwrap();
    std::fs::write(root.join("www/check.sh"), "exit 0\n").unwrap();
    std::fs::write(root.join("other.txt"), "outside every sync\n").unwrap();
    std::fs::write(
        root.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY www /www\nCOPY other.txt /other.txt\nCMD [\"sleep\", \"100000\"]\n",
            svc.base_image
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("app.yaml"),
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {image}
"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("Tiltfile"),
        format!(
            "allow_k8s_contexts('{ctx}')
docker_build('{image}', '.', live_update=[
    sync('./www', '/www'),
    run('cp /www/index.html /www/copy.html', trigger=['./www/index.html']),
    run('sh /www/check.sh', trigger=['./www/check.sh']),
    run('date > /tmp/last-sync'),
])
k8s_yaml('app.yaml')
",
            ctx = double.context()
        ),
    )
    .unwrap();
    let no_config = root.join(".no-docker-config");
    let up = Up::start(
        root,
        &double,
        &[],
        &[
            ("DOCKER_HOST", &svc.docker_host),
            ("DOCKER_CONFIG", no_config.to_str().unwrap()),
        ],
    );
    up.wait_for_log("the first deploy", |t| t.contains("image ready:"))
        .await;
    // Both replicas running their containers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let ids = loop {
        let ids = app_containers(&double);
        if ids.len() == 2
            && ids
                .iter()
                .all(|id| cat(&svc, id, "/www/index.html").is_some())
        {
            break ids;
        }
        assert!(std::time::Instant::now() < deadline, "{}", up.log());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    up.wait_for_log("the pods ready", |t| {
        t.lines().filter(|l| l.contains("pod app-")).count() > 0 || t.contains("Running")
    })
    .await;
    let builds = count(&up.log(), "image ready:");

    // A change under the sync: copied into both containers, the triggered run runs.
    std::fs::write(root.join("www/index.html"), "v2\n").unwrap();
    std::fs::write(root.join("www/new.txt"), "new\n").unwrap();
    std::fs::remove_file(root.join("www/old.txt")).unwrap();
    up.wait_for_log("the live update", |t| {
        t.contains("Live update of") && t.contains("done in")
    })
    .await;
    for id in &ids {
        assert_eq!(
            cat(&svc, id, "/www/index.html").as_deref(),
            Some("v2\n"),
            "{}",
            up.log()
        );
        assert_eq!(cat(&svc, id, "/www/new.txt").as_deref(), Some("new\n"));
        assert_eq!(cat(&svc, id, "/www/old.txt"), None, "deletes propagate");
        assert_eq!(
            cat(&svc, id, "/www/copy.html").as_deref(),
            Some("v2\n"),
            "the run step triggered by index.html ran"
        );
        assert!(
            cat(&svc, id, "/tmp/last-sync").is_some(),
            "the untriggered run ran"
        );
    }
    let text = up.log();
    assert_eq!(count(&text, "image ready:"), builds, "no rebuild:\n{text}");
    assert_eq!(
        app_containers(&double),
        ids,
        "the same containers, no rollout"
    );

    // A container that restarts (killed; the kubelet starts a new one from the image) gets
    // the files synced since the image was built before the resource is ready again.
    let victim = double
        .containers()
        .into_iter()
        .find(|c| c.container == "app")
        .expect("an app container");
    double
        .kill_container(&victim.namespace, &victim.pod, "app")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let restarted = loop {
        let next = double
            .containers()
            .into_iter()
            .find(|c| c.pod == victim.pod && c.container == "app" && c.attempt > victim.attempt);
        if let Some(next) = next
            && cat(&svc, &next.id, "/www/index.html").as_deref() == Some("v2\n")
        {
            break next.id;
        }
        assert!(std::time::Instant::now() < deadline, "{}", up.log());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(
        cat(&svc, &restarted, "/www/new.txt").as_deref(),
        Some("new\n")
    );
    assert_eq!(
        cat(&svc, &restarted, "/www/old.txt"),
        None,
        "the delete too"
    );
    up.wait_for_log("the catch-up in the log", |t| {
        t.contains("live-updated file(s) re-applied")
    })
    .await;
    let text = up.log();
    assert_eq!(
        count(&text, "image ready:"),
        builds,
        "still no rebuild:\n{text}"
    );

    // A failing run step: the update fails with its exit code; the next change rebuilds.
    let lives = count(&text, "Live update of");
    std::fs::write(root.join("www/check.sh"), "echo checking; exit 3\n").unwrap();
    up.wait_for_log("the failed run step", |t| {
        count(t, "Live update of") > lives && t.contains("failed with exit code 3")
    })
    .await;
    std::fs::write(root.join("www/index.html"), "v3\n").unwrap();
    up.wait_for_log("the rebuild after the failure", |t| {
        t.contains("Full rebuild: the last live update failed") && count(t, "image ready:") > builds
    })
    .await;
    let builds = count(&up.log(), "image ready:");

    // A file outside every sync rebuilds.
    std::fs::write(root.join("www/check.sh"), "exit 0\n").unwrap();
    std::fs::write(root.join("other.txt"), "changed\n").unwrap();
    up.wait_for_log("the rebuild for a file under no sync", |t| {
        t.contains("other.txt") && t.contains("Full rebuild:") && count(t, "image ready:") > builds
    })
    .await;
    drop(up);
    double.stop().await;
}

/// `initial_sync()` and the restart_process pattern (Tilt's `docker_build_with_restart`
/// extension: an entrypoint wrapper that restarts the process whenever a `run` step writes
/// `/tmp/.restart-proc`). The image has no `/www`: the first container gets it from the
/// initial sync (the Dockerfile does not copy it), and every edit restarts the process
/// inside the same container. The
/// wrapper is written here (the extension's own helper image cannot be pulled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_and_a_restart_wrapper_behave_as_with_tilt() {
    let svc = lilt_testsvc::services();
    let double = KubeDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let image = format!(
        "lilt-e2e/restart-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    std::fs::create_dir(root.join("www")).unwrap();
    std::fs::write(root.join("www/msg"), "v1\n").unwrap();
    std::fs::write(
        root.join("restart.sh"),
        r#"# Runs "$@"; restarts it whenever /tmp/.restart-proc is written.
seen=$(stat -c %y /tmp/.restart-proc 2>/dev/null)
while true; do
  "$@" &
  child=$!
  while kill -0 $child 2>/dev/null; do
    now=$(stat -c %y /tmp/.restart-proc 2>/dev/null)
    if [ "$now" != "$seen" ]; then
      seen=$now
      kill $child
      wait $child
      break
    fi
    sleep 0.1
  done
done
"#,
    )
    .unwrap();
    std::fs::write(
        root.join("Dockerfile"),
        format!("FROM {}\nCOPY restart.sh /restart.sh\n", svc.base_image),
    )
    .unwrap();
    std::fs::write(
        root.join("app.yaml"),
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {image}
"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("Tiltfile"),
        format!(
            "allow_k8s_contexts('{ctx}')
docker_build('{image}', '.',
    entrypoint=['sh', '/restart.sh', 'sh', '-c', 'echo serving $(cat /www/msg); exec sleep 100000'],
    live_update=[
        initial_sync(),
        sync('./www', '/www'),
        run('date > /tmp/.restart-proc'),
    ])
k8s_yaml('app.yaml')
",
            ctx = double.context()
        ),
    )
    .unwrap();
    let no_config = root.join(".no-docker-config");
    let up = Up::start(
        root,
        &double,
        &[],
        &[
            ("DOCKER_HOST", &svc.docker_host),
            ("DOCKER_CONFIG", no_config.to_str().unwrap()),
        ],
    );
    up.wait_for_log("the initially synced file served", |t| {
        t.contains("serving v1")
    })
    .await;
    let first: Vec<String> = app_containers(&double);
    std::fs::write(root.join("www/msg"), "v2\n").unwrap();
    up.wait_for_log("the process restarted by the wrapper", |t| {
        t.contains("serving v2")
    })
    .await;
    assert_eq!(
        app_containers(&double),
        first,
        "the same container: the wrapper restarted the process, not Kubernetes"
    );
    let text = up.log();
    assert_eq!(count(&text, "image ready:"), 1, "one build only:\n{text}");
    drop(up);
    double.stop().await;
}
