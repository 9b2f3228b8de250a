//! What `lilt up` and `lilt ci` print: streamed log lines (`--stream`, no TTY, `ci`) or a
//! compact live status view redrawn in place on a terminal.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lilt_engine::{Checkpoint, LogLevel, LogStore, Snapshot};
use tokio::sync::watch;

/// Prints every new log line as `resource │ text`, until the snapshots end.
pub(crate) async fn stream_logs(
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    logs: Arc<Mutex<LogStore>>,
) {
    let mut printed: Checkpoint = 0;
    loop {
        printed = print_new(&logs, printed);
        if snapshots.changed().await.is_err() {
            print_new(&logs, printed);
            return;
        }
    }
}

/// Prints lines after `after`; returns the last checkpoint printed.
pub(crate) fn print_new(logs: &Mutex<LogStore>, after: Checkpoint) -> Checkpoint {
    let Ok(store) = logs.lock() else { return after };
    let lines = store.since(after, None);
    let mut last = after;
    let mut out = std::io::stdout().lock();
    for line in lines {
        let name = line.resource.as_deref().unwrap_or("lilt");
        let marker = match line.level {
            LogLevel::Warn => "WARNING: ",
            LogLevel::Error => "ERROR: ",
            _ => "",
        };
        let _ = writeln!(out, "{name:>12} │ {marker}{}", line.text);
        last = line.checkpoint;
    }
    let _ = out.flush();
    last
}

/// Redraws a status table in place, a few times a second, until the snapshots end.
pub(crate) async fn status_view(mut snapshots: watch::Receiver<Arc<Snapshot>>, url: String) {
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut drawn_lines = 0usize;
    loop {
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = ticker.tick() => {}
        }
        let snapshot = snapshots.borrow().clone();
        let text = render_status(&snapshot, &url, SystemTime::now());
        let mut out = std::io::stdout().lock();
        // Move up over the previous frame and clear it, then draw the new one.
        if drawn_lines > 0 {
            let _ = write!(out, "\x1b[{drawn_lines}A\x1b[J");
        }
        let _ = write!(out, "{text}");
        let _ = out.flush();
        drawn_lines = text.lines().count();
    }
}

/// The status table as text (pure, for tests): one line per resource with a symbol, a
/// plain-words status (the hold reason when it waits), its first endpoint and its age.
pub(crate) fn render_status(snapshot: &Snapshot, url: &str, now: SystemTime) -> String {
    let state = &snapshot.state;
    let mut out = format!("lilt: dashboard at {url}   (ctrl-c to stop)\n\n");
    let tiltfile = if state.tiltfile_busy() {
        ("…", "loading the Tiltfile".to_owned())
    } else {
        match state
            .tiltfile
            .history
            .back()
            .and_then(|b| b.error.as_deref())
        {
            Some(err) => ("✖", format!("error: {}", first_line(err))),
            None => ("✔", "loaded".to_owned()),
        }
    };
    out.push_str(&format!(
        "{} {:<24} {}\n",
        tiltfile.0, "(Tiltfile)", tiltfile.1
    ));
    for res in &state.resources {
        let name = res.manifest.name.as_str();
        let (symbol, status) = resource_status(snapshot, res);
        let links = res.manifest.links();
        let link = links.first().map(|l| l.url.as_str()).unwrap_or("");
        let age = res
            .last_deploy_time
            .and_then(|t| now.duration_since(t).ok())
            .map(|d| format!("{}s ago", d.as_secs()))
            .unwrap_or_default();
        out.push_str(&format!(
            "{symbol} {name:<24} {status:<44} {link:<28} {age}\n"
        ));
    }
    out
}

/// A symbol and a short status in plain words.
fn resource_status(
    snapshot: &Snapshot,
    res: &lilt_engine::ResourceState,
) -> (&'static str, String) {
    use lilt_engine::{RuntimeStatus as R, UpdateStatus as U};
    let name = res.manifest.name.as_str();
    if !res.enabled {
        return ("-", "disabled".to_owned());
    }
    if let Some(hold) = snapshot.holds.get(name) {
        let on = if hold.on.is_empty() {
            String::new()
        } else {
            format!(": {}", hold.on.join(", "))
        };
        return ("…", format!("waiting ({}{on})", hold.reason));
    }
    match (res.update_status(), res.runtime_status()) {
        (U::InProgress, _) => ("…", "updating".to_owned()),
        (U::Error, _) => {
            let err = res
                .last_build()
                .and_then(|b| b.error.as_deref())
                .unwrap_or("update failed");
            ("✖", format!("update failed: {}", first_line(err)))
        }
        (_, R::Error) => {
            let err = res
                .runtime_error()
                .unwrap_or_else(|| "runtime error".to_owned());
            ("✖", format!("error: {}", first_line(&err)))
        }
        (U::Pending, _) => ("…", "update pending".to_owned()),
        (_, R::Pending) => ("…", "starting".to_owned()),
        (_, R::Ok) => ("✔", "running".to_owned()),
        (U::Ok, _) => ("✔", "up to date".to_owned()),
        (U::None, _) if !res.trigger_mode.auto_initial() => {
            ("-", "not started (manual)".to_owned())
        }
        _ => ("…", "waiting".to_owned()),
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use lilt_engine::{
        EngineConfig, EngineMode, EngineState, Event, Snapshot, SpanId, SpanKind, decide, reduce,
    };
    use lilt_model::{Cmd, DeployTarget, LocalTarget, Manifest, Plan, TriggerMode};

    use super::render_status;

    fn local(name: &str, deps: &[&str]) -> Manifest {
        Manifest {
            name: name.to_owned(),
            image_targets: Vec::new(),
            deploy: DeployTarget::Local(LocalTarget {
                update_cmd: Some(Cmd {
                    argv: vec!["true".into()],
                    ..Cmd::default()
                }),
                ..LocalTarget::default()
            }),
            trigger_mode: TriggerMode::Auto,
            resource_deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            labels: BTreeMap::new(),
            source_tiltfile: String::new(),
        }
    }

    #[test]
    fn status_lines_say_what_each_resource_does_and_why_it_waits() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let config = EngineConfig {
            mode: EngineMode::Up,
            tiltfile_args: Vec::new(),
            ci_timeout: Duration::from_secs(60),
        };
        let mut state = EngineState::new(config, now);
        let decision = decide(&state, now);
        reduce(
            &mut state,
            Event::Dispatched {
                effects: decision.effects,
                at: now,
            },
        );
        let plan = Plan {
            manifests: vec![local("db", &[]), local("api", &["db"])],
            enabled: vec!["db".into(), "api".into()],
            ..Plan::default()
        };
        reduce(
            &mut state,
            Event::TiltfileLoaded {
                span_id: SpanId {
                    kind: SpanKind::Tiltfile,
                    seq: 1,
                },
                at: now,
                outcome: Ok(Box::new(plan)),
                warnings: Vec::new(),
            },
        );
        let decision = decide(&state, now);
        let holds = decision.holds.clone();
        reduce(
            &mut state,
            Event::Dispatched {
                effects: decision.effects,
                at: now,
            },
        );
        let snapshot = Snapshot {
            state,
            holds,
            plan: None,
            log_checkpoint: 0,
            fatal_error: String::new(),
            at: now,
        };
        let text = render_status(&snapshot, "http://localhost:10350/", now);
        let line = |name: &str| {
            text.lines()
                .find(|l| l.contains(name))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(line("(Tiltfile)").contains("loaded"), "{text}");
        assert!(line("db").contains("updating"), "{text}");
        // db is a local command without allow_parallel: nothing else starts while it runs.
        assert!(
            line("api").contains("waiting (waiting-for-local: db)"),
            "{text}"
        );
    }
}
