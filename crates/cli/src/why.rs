//! `lilt why PATH`: which resources a change to PATH triggers, and for every other target
//! the exact rule that excludes it; for resources with a live update, whether the change
//! would be synced into their containers, rebuild the image, or be ignored.

use std::path::PathBuf;

use std::path::Path;

use lilt_model::Plan;
use lilt_tiltfile::LoadOptions;
use lilt_watch::{TargetId, Verdict, WatchSet};

pub(crate) fn run(file: PathBuf, args: Vec<String>, path: PathBuf) -> anyhow::Result<u8> {
    let mut load = LoadOptions::new(file, "why");
    load.args = args;
    let result = lilt_tiltfile::load(&load);
    if let Some(error) = &result.error {
        eprintln!("{error}");
        return Ok(5);
    }
    let cwd = std::env::current_dir()?;
    let abs = lilt_watch::clean_path(&cwd.join(&path));
    let (set, errors) = WatchSet::from_plan(&result.plan);
    for error in errors {
        eprintln!("warning: {error}");
    }
    let explanation = set.explain(&abs);
    let mut triggered = Vec::new();
    let mut excluded = Vec::new();
    for verdict in &explanation.verdicts {
        match &verdict.verdict {
            Verdict::Triggers { watched } => triggered.push(format!(
                "  {:<28} (watches {})",
                describe(&verdict.target),
                watched.display()
            )),
            Verdict::DoesNotTrigger(reason) => {
                excluded.push(format!("  {:<28} {reason}", describe(&verdict.target)))
            }
        }
    }
    println!("{}", abs.display());
    if triggered.is_empty() {
        println!("triggers nothing.");
    } else {
        println!("triggers:");
        for line in &triggered {
            println!("{line}");
        }
    }
    if !excluded.is_empty() {
        println!("does not trigger:");
        for line in &excluded {
            println!("{line}");
        }
    }
    let live = live_update_lines(&result.plan, &explanation, &abs);
    if !live.is_empty() {
        println!("live update:");
        for line in &live {
            println!("{line}");
        }
    }
    Ok(0)
}

/// For each resource with a live update, and each of its images: what a change to `path`
/// does to it, by the rules the loop follows (`lilt_liveupdate::explain` for an image the
/// path is an input of; the watch rule that drops it otherwise).
fn live_update_lines(plan: &Plan, watched: &lilt_watch::Explanation, path: &Path) -> Vec<String> {
    let (_, global) = WatchSet::specs_from_plan(plan);
    let mut lines = Vec::new();
    for manifest in &plan.manifests {
        // As the loop decides: a resource live-updates when one of its images has a sync
        // or a run step; the others always rebuild.
        let has_live_update = manifest
            .image_targets
            .iter()
            .any(|i| !i.live_update.syncs.is_empty() || !i.live_update.runs.is_empty());
        if !has_live_update {
            continue;
        }
        for image in &manifest.image_targets {
            let target = TargetId::image(&image.image_ref);
            // Images of disabled resources are not watched: nothing to say about them.
            let Some(verdict) = watched.verdicts.iter().find(|v| v.target == target) else {
                continue;
            };
            let what = match &verdict.verdict {
                Verdict::DoesNotTrigger(reason) => format!("ignored: {reason}"),
                Verdict::Triggers { .. } => match lilt_liveupdate::image_matcher(image, &global) {
                    Ok(matcher) => {
                        lilt_liveupdate::explain(&image.live_update, &matcher, path).to_string()
                    }
                    Err(e) => format!("cannot tell: {e}"),
                },
            };
            lines.push(format!(
                "  {:<28} image {}: {what}",
                manifest.name, image.image_ref
            ));
        }
    }
    lines
}

/// A target as users know it: the resource, the image, or the Tiltfile reload.
fn describe(target: &TargetId) -> String {
    match target {
        TargetId::Local(name) | TargetId::K8s(name) => name.clone(),
        TargetId::Image(image) => format!("image {image}"),
        TargetId::Configs => "(Tiltfile) reload".to_owned(),
    }
}
