//! The runner against scripted runtimes: effects reach the runtime the deploy target names,
//! images are built before the deploy and reach it, results come back as runtime-neutral
//! events, and button clicks go through the engine.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use lilt_engine::{Action, EngineMode, RuntimeReport, Snapshot};
use lilt_model::BuiltImage;
use lilt_runner::runtime::{
    BuildFailure, BuildJob, DeleteJob, ImageBuilder, LocalRuntime, Runtime, StartJob, UpdateJob,
    UpdateOutcome,
};
use lilt_runner::{RunnerConfig, Runtimes, Started};

/// What the fakes were asked to do, in order.
type Calls = Arc<Mutex<Vec<String>>>;

/// A deploy runtime that records its calls. `update` fails with `fail` when set; `start`
/// reports Running then Ready, the way a Kubernetes or Compose runtime would.
struct FakeRuntime {
    calls: Calls,
    fail: Option<&'static str>,
}

impl Runtime for FakeRuntime {
    fn update(&self, job: UpdateJob) -> BoxFuture<'static, UpdateOutcome> {
        let refs: Vec<&str> = job.images.iter().map(|i| i.built_ref.as_str()).collect();
        self.calls
            .lock()
            .unwrap()
            .push(format!("update {} {}", job.manifest.name, refs.join(",")));
        let outcome = match self.fail {
            Some(error) => UpdateOutcome::failed(error),
            None => UpdateOutcome::ok(),
        };
        futures::future::ready(outcome).boxed()
    }

    fn start(&self, job: StartJob) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("start {}", job.manifest.name));
        job.reporter.runtime(
            job.span_id,
            RuntimeReport::Running {
                pid: None,
                ready: false,
            },
        );
        job.reporter
            .runtime(job.span_id, RuntimeReport::Ready(true));
    }

    fn stop(&self, resource: &str) {
        self.calls.lock().unwrap().push(format!("stop {resource}"));
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        self.calls.lock().unwrap().push("shutdown".to_owned());
        futures::future::ready(()).boxed()
    }

    fn delete(&self, job: DeleteJob) -> BoxFuture<'static, Result<(), String>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("delete {}", job.manifest.name));
        futures::future::ready(Ok(())).boxed()
    }
}

/// Builds every image as `<ref>:tilt-fake<n>`, or fails on the image named `fail_on`
/// after building the ones before it.
struct FakeBuilder {
    calls: Calls,
    fail_on: Option<&'static str>,
}

impl ImageBuilder for FakeBuilder {
    fn build(&self, job: BuildJob) -> BoxFuture<'static, Result<Vec<BuiltImage>, BuildFailure>> {
        let mut built = Vec::new();
        for image in &job.images {
            self.calls
                .lock()
                .unwrap()
                .push(format!("build {}", image.image_ref));
            if Some(image.image_ref.as_str()) == self.fail_on {
                return futures::future::ready(Err(BuildFailure {
                    error: format!("build of {} failed at step 2", image.image_ref),
                    built,
                }))
                .boxed();
            }
            built.push(BuiltImage {
                image_ref: image.image_ref.clone(),
                built_ref: format!("{}:tilt-fake{}", image.image_ref, built.len()),
                digest: None,
                cached: false,
                pushed: false,
            });
        }
        futures::future::ready(Ok(built)).boxed()
    }
}

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
        image: shop/app
";

/// A project with a base image, an app image built FROM it, and a Deployment using the app.
fn project(dir: &Path, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("base")).unwrap();
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("base/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(dir.join("app/Dockerfile"), "FROM shop/base\n").unwrap();
    std::fs::write(dir.join("app.yaml"), DEPLOYMENT).unwrap();
    let tiltfile = dir.join("Tiltfile");
    std::fs::write(
        &tiltfile,
        format!(
            "docker_build('shop/base', 'base')\n\
             docker_build('shop/app', 'app')\n\
             k8s_yaml('app.yaml')\n\
             k8s_resource('app')\n{extra}"
        ),
    )
    .unwrap();
    tiltfile
}

fn runtimes(
    calls: &Calls,
    fail_deploy: Option<&'static str>,
    fail_build: Option<&'static str>,
) -> Runtimes {
    let fake = Arc::new(FakeRuntime {
        calls: calls.clone(),
        fail: fail_deploy,
    });
    Runtimes {
        local: Arc::new(LocalRuntime::default()),
        k8s: fake.clone(),
        compose: fake,
        images: Arc::new(FakeBuilder {
            calls: calls.clone(),
            fail_on: fail_build,
        }),
    }
}

fn start(tiltfile: &Path, runtimes: Runtimes) -> Started {
    let mut config = RunnerConfig::new(tiltfile.to_owned(), EngineMode::Up);
    config.watch = false;
    config.stop_grace = Duration::from_millis(200);
    lilt_runner::start_with(config, runtimes).unwrap()
}

/// Waits (bounded) for a snapshot that satisfies `pred`.
async fn wait_for(
    started: &mut Started,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let rx = &mut started.handle.snapshots;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let snap = rx.borrow_and_update().clone();
        if pred(&snap) {
            return snap;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "timed out waiting for {what}; last state: {:#?}",
                snap.state.resources
            ),
        }
    }
}

fn calls_of(calls: &Calls) -> Vec<String> {
    calls.lock().unwrap().clone()
}

#[tokio::test]
async fn images_are_built_deps_first_and_reach_the_runtime_that_deploys_them() {
    let dir = tempfile::tempdir().unwrap();
    let tiltfile = project(dir.path(), "");
    let calls = Calls::default();
    let mut started = start(&tiltfile, runtimes(&calls, None, None));
    let snap = wait_for(&mut started, "app ready", |s| {
        s.state.resource("app").is_some_and(|r| r.is_ready())
    })
    .await;
    let app = snap.state.resource("app").unwrap();
    let refs: Vec<&str> = app.images.iter().map(|i| i.built_ref.as_str()).collect();
    assert_eq!(refs, ["shop/base:tilt-fake0", "shop/app:tilt-fake1"]);
    let last = app.last_build().unwrap();
    assert_eq!(last.error, None);
    assert_eq!(last.images, app.images, "the build record keeps the images");
    started.stop();
    started.done.await.unwrap();
    assert_eq!(
        calls_of(&calls),
        [
            "build shop/base",
            "build shop/app",
            "update app shop/base:tilt-fake0,shop/app:tilt-fake1",
            "start app",
            "shutdown",
            "shutdown",
        ],
        "k8s and compose share the fake, so it is shut down twice"
    );
}

#[tokio::test]
async fn a_failed_build_skips_the_deploy_and_shows_the_error_and_what_was_built() {
    let dir = tempfile::tempdir().unwrap();
    let tiltfile = project(dir.path(), "");
    let calls = Calls::default();
    let mut started = start(&tiltfile, runtimes(&calls, None, Some("shop/app")));
    let snap = wait_for(&mut started, "app's update to fail", |s| {
        s.state
            .resource("app")
            .and_then(|r| r.last_build())
            .is_some_and(|b| b.error.is_some())
    })
    .await;
    let app = snap.state.resource("app").unwrap();
    let last = app.last_build().unwrap();
    assert_eq!(
        last.error.as_deref(),
        Some("build of shop/app failed at step 2")
    );
    let refs: Vec<&str> = last.images.iter().map(|i| i.built_ref.as_str()).collect();
    assert_eq!(refs, ["shop/base:tilt-fake0"]);
    assert!(!app.is_ready());
    started.stop();
    started.done.await.unwrap();
    let calls = calls_of(&calls);
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("update") || c.starts_with("start")),
        "nothing deployed after a failed build: {calls:?}"
    );
}

#[tokio::test]
async fn a_deploy_error_from_the_runtime_is_the_update_error_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tiltfile = project(dir.path(), "");
    let calls = Calls::default();
    let mut started = start(&tiltfile, runtimes(&calls, Some("admission denied"), None));
    let snap = wait_for(&mut started, "app's update to fail", |s| {
        s.state
            .resource("app")
            .and_then(|r| r.last_build())
            .is_some_and(|b| b.error.is_some())
    })
    .await;
    let app = snap.state.resource("app").unwrap();
    assert_eq!(
        app.last_build().unwrap().error.as_deref(),
        Some("admission denied")
    );
    // The images were built before the deploy failed: they are still the current ones.
    assert_eq!(app.images.len(), 2);
    started.stop();
    started.done.await.unwrap();
    assert!(!calls_of(&calls).iter().any(|c| c == "start app"));
}

#[tokio::test]
async fn disabling_a_resource_stops_it_in_its_own_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let tiltfile = project(dir.path(), "");
    let calls = Calls::default();
    let mut started = start(&tiltfile, runtimes(&calls, None, None));
    wait_for(&mut started, "app ready", |s| {
        s.state.resource("app").is_some_and(|r| r.is_ready())
    })
    .await;
    started
        .handle
        .actions
        .send(Action::SetEnabled {
            resources: vec!["app".to_owned()],
            enabled: false,
        })
        .unwrap();
    wait_for(&mut started, "app disabled", |s| {
        s.state.resource("app").is_some_and(|r| !r.enabled)
    })
    .await;
    // The stop is dispatched in the batch after the disable.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !calls_of(&calls).iter().any(|c| c == "stop app") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stop: {:?}",
            calls_of(&calls)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.stop();
    started.done.await.unwrap();
}

#[tokio::test]
async fn a_button_click_goes_through_the_engine_and_runs_its_command() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("clicked");
    let tiltfile = project(
        dir.path(),
        &format!(
            "v1alpha1.ui_button(name='mark', text='Mark', \
               location=v1alpha1.ui_component_location(component_id='global', component_type='Global'), \
               inputs=[v1alpha1.ui_input_spec(name='WHO', text=v1alpha1.ui_text_input_spec())])\n\
             v1alpha1.cmd(name='mark', args=['sh', '-c', 'echo \"$WHO\" > {}'], \
               start_on=v1alpha1.start_on_spec(ui_buttons=['mark']))\n",
            marker.display()
        ),
    );
    let calls = Calls::default();
    let mut started = start(&tiltfile, runtimes(&calls, None, None));
    wait_for(&mut started, "the Tiltfile loaded", |s| s.plan.is_some()).await;
    started
        .handle
        .actions
        .send(Action::ClickButton {
            name: "mark".to_owned(),
            inputs: vec![("WHO".to_owned(), "lilt".to_owned())],
        })
        .unwrap();
    let snap = wait_for(&mut started, "the click recorded", |s| {
        s.state.button_clicks.contains_key("mark")
    })
    .await;
    assert_eq!(
        snap.state.button_clicks["mark"].inputs,
        [("WHO".to_owned(), "lilt".to_owned())]
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&marker)
            && text.trim() == "lilt"
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the button's command did not run"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The click was dispatched in the same batch it was recorded in.
    assert!(snap.state.pending_buttons.is_empty());
    started.stop();
    started.done.await.unwrap();
}

/// Blocks its first build until cancelled, then builds at once.
struct StallingBuilder {
    calls: Calls,
}

impl ImageBuilder for StallingBuilder {
    fn build(&self, job: BuildJob) -> BoxFuture<'static, Result<Vec<BuiltImage>, BuildFailure>> {
        let first = {
            let mut calls = self.calls.lock().unwrap();
            calls.push("build".to_owned());
            calls.iter().filter(|c| *c == "build").count() == 1
        };
        let calls = self.calls.clone();
        async move {
            if first {
                job.cancel.cancelled().await;
                calls.lock().unwrap().push("cancelled".to_owned());
                return Err(BuildFailure {
                    error: "build cancelled".to_owned(),
                    built: Vec::new(),
                });
            }
            Ok(job
                .images
                .iter()
                .map(|i| BuiltImage {
                    image_ref: i.image_ref.clone(),
                    built_ref: format!("{}:tilt-second", i.image_ref),
                    ..BuiltImage::default()
                })
                .collect())
        }
        .boxed()
    }
}

#[tokio::test]
async fn a_change_during_a_build_cancels_it_and_builds_again() {
    let dir = tempfile::tempdir().unwrap();
    let tiltfile = project(dir.path(), "");
    let calls = Calls::default();
    let mut runtimes = runtimes(&calls, None, None);
    runtimes.images = Arc::new(StallingBuilder {
        calls: calls.clone(),
    });
    let mut config = RunnerConfig::new(tiltfile.clone(), EngineMode::Up);
    config.stop_grace = Duration::from_millis(200);
    let mut started = lilt_runner::start_with(config, runtimes).unwrap();
    wait_for(&mut started, "the first build", |s| {
        s.state.resource("app").is_some_and(|r| r.is_building())
    })
    .await;
    // The watcher may still be starting: keep changing the input until the build stops.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    while !calls_of(&calls).iter().any(|c| c == "cancelled") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not cancelled: {:?}",
            calls_of(&calls)
        );
        n += 1;
        std::fs::write(dir.path().join("app/main.txt"), format!("edit {n}\n")).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let snap = wait_for(&mut started, "app ready after the second build", |s| {
        s.state.resource("app").is_some_and(|r| r.is_ready())
    })
    .await;
    let app = snap.state.resource("app").unwrap();
    assert_eq!(app.images[1].built_ref, "shop/app:tilt-second");
    let history: Vec<Option<&str>> = app.history.iter().map(|b| b.error.as_deref()).collect();
    assert_eq!(history, [Some("build cancelled"), None]);
    started.stop();
    started.done.await.unwrap();
}
