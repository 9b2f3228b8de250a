//! `lilt why PATH`: which resources a change to PATH triggers, and for every other target
//! the exact rule that excludes it.

use std::path::PathBuf;

use lilt_tiltfile::LoadOptions;
use lilt_watch::{Verdict, WatchSet};

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
    Ok(0)
}

/// A target as users know it: the resource, the image, or the Tiltfile reload.
fn describe(target: &lilt_watch::TargetId) -> String {
    use lilt_watch::TargetId;
    match target {
        TargetId::Local(name) | TargetId::K8s(name) => name.clone(),
        TargetId::Image(image) => format!("image {image}"),
        TargetId::Configs => "(Tiltfile) reload".to_owned(),
    }
}
