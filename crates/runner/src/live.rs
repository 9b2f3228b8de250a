//! Live update in the loop: whether an update of a deployed resource can sync the changed
//! files into its running containers (Tilt's rules, decided by `lilt-liveupdate`), and
//! doing it through the runtime that runs those containers.
//!
//! The engine already knows when an update *may* be live (only file changes since the last
//! deploy). Here the files decide: every changed file must be an input of one of the
//! resource's images, each such image must have live-update steps that cover it, and every
//! image touched must be deployed, with running containers. Anything else is a full
//! rebuild, and so is the next change after a failed `run` step (as in Tilt).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lilt_engine::LogLevel;
use lilt_liveupdate::{Applied, ApplyError, Batch, Decision, SyncLedger, apply_all};
use lilt_model::{BuiltImage, ImageTarget, LiveUpdateRecord, Manifest, Plan};
use lilt_watch::{Matcher, TargetId, WatchSet};

use crate::runtime::{CatchUp, Reporter, Runtime};

/// One image's part of a live update.
pub(crate) struct LiveStep {
    pub(crate) image: ImageTarget,
    /// The image the containers run (from the last deploy).
    pub(crate) built: BuiltImage,
    pub(crate) batch: Batch,
}

/// How an update goes.
pub(crate) enum Route {
    /// Build and deploy; the reason is logged when a live update was possible in principle.
    Full(Option<String>),
    /// Sync into the running containers (no step: the changes were all ignored).
    Live(Vec<LiveStep>),
}

/// What the loop keeps for live updates across updates.
#[derive(Clone, Default)]
pub(crate) struct LiveState {
    /// Each image's ignore rules, compiled once per Plan.
    matchers: Arc<Mutex<HashMap<String, Arc<Matcher>>>>,
    /// Files synced since each image was built.
    pub(crate) ledger: Arc<Mutex<SyncLedger>>,
    /// Resources whose last live update failed in a `run` step: their next update is full.
    pub(crate) broken: Arc<Mutex<HashSet<String>>>,
}

impl LiveState {
    /// A new Plan: its images' ignore rules may have changed.
    pub(crate) fn plan_loaded(&self) {
        if let Ok(mut m) = self.matchers.lock() {
            m.clear();
        }
    }

    fn matcher(&self, plan: &Plan, image: &ImageTarget) -> Result<Arc<Matcher>, String> {
        let mut matchers = self.matchers.lock().map_err(|e| e.to_string())?;
        if let Some(m) = matchers.get(&image.image_ref) {
            return Ok(m.clone());
        }
        let (_, global) = WatchSet::specs_from_plan(plan);
        let matcher = Arc::new(
            lilt_liveupdate::image_matcher(image, &global)
                .map_err(|e| format!("{}: {e}", image.image_ref))?,
        );
        matchers.insert(image.image_ref.clone(), matcher.clone());
        Ok(matcher)
    }

    /// Decides how `changed` updates `manifest`, deployed with `deployed`.
    pub(crate) fn route(
        &self,
        plan: &Plan,
        watch_set: &WatchSet,
        manifest: &Manifest,
        deployed: &[BuiltImage],
        changed: &[PathBuf],
    ) -> Route {
        let has_live_update = manifest
            .image_targets
            .iter()
            .any(|i| !i.live_update.syncs.is_empty() || !i.live_update.runs.is_empty());
        if !has_live_update || changed.is_empty() {
            return Route::Full(None);
        }
        if self.broken.lock().is_ok_and(|b| b.contains(&manifest.name)) {
            return Route::Full(Some(
                "the last live update failed: rebuilding the image".to_owned(),
            ));
        }
        // Each changed file to the images of this resource it is an input of.
        let mut by_image: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
        for path in changed {
            let images: Vec<String> = watch_set
                .affected([path.as_path()])
                .into_iter()
                .filter_map(|t| match t {
                    TargetId::Image(r) => Some(r),
                    _ => None,
                })
                .collect();
            let mine: Vec<&ImageTarget> = manifest
                .image_targets
                .iter()
                .filter(|i| images.contains(&i.image_ref))
                .collect();
            if mine.is_empty() {
                return Route::Full(Some(format!(
                    "{} changed, which no image of {} builds from",
                    path.display(),
                    manifest.name
                )));
            }
            for image in mine {
                by_image
                    .entry(image.image_ref.as_str())
                    .or_default()
                    .push(path.clone());
            }
        }
        let mut steps = Vec::new();
        for (image_ref, files) in by_image {
            let Some(image) = manifest
                .image_targets
                .iter()
                .find(|i| i.image_ref == image_ref)
            else {
                continue;
            };
            let Some(built) = deployed.iter().find(|b| b.image_ref == image_ref) else {
                return Route::Full(Some(format!("{image_ref} has not been deployed yet")));
            };
            let matcher = match self.matcher(plan, image) {
                Ok(m) => m,
                Err(e) => return Route::Full(Some(e)),
            };
            match lilt_liveupdate::plan_paths(&image.live_update, &matcher, &files) {
                Decision::Nothing => {}
                Decision::LiveUpdate(batch) => steps.push(LiveStep {
                    image: image.clone(),
                    built: built.clone(),
                    batch,
                }),
                full @ Decision::FullRebuild { .. } => {
                    return Route::Full(Some(format!("{image_ref}: {}", full.describe())));
                }
            }
        }
        Route::Live(steps)
    }
}

/// How a live update ended.
pub(crate) enum LiveOutcome {
    /// Applied everywhere.
    Done(LiveUpdateRecord),
    /// A `run` step failed: shown as the update's error; the next change rebuilds.
    RunFailed(String, LiveUpdateRecord),
    /// It could not be done (no running container, a container gone, an API error): the
    /// caller rebuilds now.
    FallBack(String),
}

/// Applies `steps` to every running container of each image, through `runtime`.
pub(crate) async fn apply(
    runtime: &Arc<dyn Runtime>,
    live: &LiveState,
    steps: &[LiveStep],
    reporter: &Reporter,
    span_id: lilt_engine::SpanId,
) -> LiveOutcome {
    let log = |level: LogLevel, text: String| reporter.build_log(span_id, level, text);
    let all_started = Instant::now();
    let mut record = LiveUpdateRecord::default();
    for step in steps {
        let started = Instant::now();
        let targets = match runtime
            .live_targets(reporter.resource(), &step.built, reporter.clone(), span_id)
            .await
        {
            Ok(t) if !t.containers.is_empty() => t,
            Ok(_) => {
                return LiveOutcome::FallBack(format!(
                    "no running container runs {}",
                    step.built.built_ref
                ));
            }
            Err(e) => return LiveOutcome::FallBack(e),
        };
        log(
            LogLevel::Info,
            format!(
                "Live update of {} ({}): {} file(s) to copy, {} to delete, {} command(s){}, in {} container(s)",
                step.image.image_ref,
                step.built.built_ref,
                step.batch.copies.len(),
                step.batch.deletes.len(),
                step.batch.runs.len(),
                if step.batch.restart {
                    ", then restart"
                } else {
                    ""
                },
                targets.containers.len()
            ),
        );
        let results = apply_all(targets.applier.as_ref(), &targets.containers, &step.batch).await;
        let mut run_failure = None;
        let mut other_failure = None;
        for result in results {
            match result {
                Ok(applied) => {
                    log(LogLevel::Info, summary(&applied));
                    record.containers.push(applied.container.to_string());
                    record.files_copied = record.files_copied.max(applied.copied.files);
                    record.files_deleted = record
                        .files_deleted
                        .max(u64::try_from(applied.deleted.len()).unwrap_or(u64::MAX));
                    for run in &applied.runs {
                        let text = run.argv.join(" ");
                        if !record.runs.contains(&text) {
                            record.runs.push(text);
                        }
                    }
                    record.restarted |= applied.restarted;
                }
                Err(e @ ApplyError::RunFailed { .. }) => {
                    log(LogLevel::Error, e.to_string());
                    run_failure.get_or_insert(e.to_string());
                }
                Err(e) => {
                    log(LogLevel::Warn, e.to_string());
                    other_failure.get_or_insert(e.to_string());
                }
            }
        }
        // What reached the containers is recorded even when a later step failed: a
        // container that restarts gets it again.
        if let Ok(mut ledger) = live.ledger.lock() {
            ledger.record(
                &step.image.image_ref,
                &step.built.built_ref,
                &step.batch.files,
            );
        }
        if let Some(error) = run_failure {
            if let Ok(mut broken) = live.broken.lock() {
                broken.insert(reporter.resource().to_owned());
            }
            record.elapsed = all_started.elapsed();
            return LiveOutcome::RunFailed(error, record);
        }
        if let Some(error) = other_failure {
            return LiveOutcome::FallBack(error);
        }
        log(
            LogLevel::Info,
            format!(
                "Live update of {} done in {} ms",
                step.image.image_ref,
                started.elapsed().as_millis()
            ),
        );
    }
    record.elapsed = all_started.elapsed();
    LiveOutcome::Done(record)
}

/// One line per container: what was copied, deleted and run, and how long it took.
fn summary(applied: &Applied) -> String {
    let runs: Vec<String> = applied
        .runs
        .iter()
        .map(|r| format!("`{}` (exit {})", r.argv.join(" "), r.exit_code))
        .collect();
    format!(
        "  {}: {} file(s) copied ({} bytes), {} deleted{}{} in {} ms",
        applied.container,
        applied.copied.files,
        applied.copied.bytes,
        applied.deleted.len(),
        if runs.is_empty() {
            String::new()
        } else {
            format!(", ran {}", runs.join(", "))
        },
        if applied.restarted { ", restarted" } else { "" },
        applied.elapsed.as_millis()
    )
}

/// The files a starting container of one resource must get: everything live-updated into
/// its image since the image was built (the ledger), or all synced files for
/// `initial_sync()`.
pub(crate) struct CatchUpFiles {
    live: LiveState,
    plan: Arc<Plan>,
    manifest: Arc<Manifest>,
    /// The images the resource runs.
    images: Vec<BuiltImage>,
}

impl CatchUpFiles {
    /// `None` when no image of the resource has live-update steps.
    pub(crate) fn for_resource(
        live: &LiveState,
        plan: Arc<Plan>,
        manifest: Arc<Manifest>,
        images: Vec<BuiltImage>,
    ) -> Option<Arc<dyn CatchUp>> {
        let any = manifest
            .image_targets
            .iter()
            .any(|i| !i.live_update.syncs.is_empty());
        any.then(|| {
            Arc::new(CatchUpFiles {
                live: live.clone(),
                plan,
                manifest,
                images,
            }) as Arc<dyn CatchUp>
        })
    }
}

impl CatchUp for CatchUpFiles {
    fn built_refs(&self) -> Vec<String> {
        self.images
            .iter()
            .filter(|b| {
                self.manifest
                    .image_targets
                    .iter()
                    .any(|i| i.image_ref == b.image_ref && !i.live_update.syncs.is_empty())
            })
            .map(|b| b.built_ref.clone())
            .collect()
    }

    fn batch(&self, built_ref: &str) -> Option<Batch> {
        let built = self.images.iter().find(|b| b.built_ref == built_ref)?;
        let image = self
            .manifest
            .image_targets
            .iter()
            .find(|i| i.image_ref == built.image_ref)?;
        let matcher = self.live.matcher(&self.plan, image).ok()?;
        let lu = &image.live_update;
        if lu.initial_sync {
            return lilt_liveupdate::initial_sync(lu, &matcher)
                .ok()
                .filter(|b| !b.is_empty());
        }
        let decision =
            self.live
                .ledger
                .lock()
                .ok()?
                .catch_up(&image.image_ref, built_ref, lu, &matcher);
        match decision {
            Decision::LiveUpdate(batch) if !batch.is_empty() => Some(batch),
            _ => None,
        }
    }
}
