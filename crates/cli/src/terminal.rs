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

/// The status table as text (pure, for tests).
pub(crate) fn render_status(snapshot: &Snapshot, url: &str, now: SystemTime) -> String {
    let state = &snapshot.state;
    let mut out = format!("lilt: dashboard at {url}   (ctrl-c to stop)\n");
    let tiltfile = match state
        .tiltfile
        .history
        .back()
        .and_then(|b| b.error.as_deref())
    {
        _ if state.tiltfile_busy() => "loading…".to_owned(),
        Some(err) => format!("error: {}", first_line(err)),
        None => "ok".to_owned(),
    };
    out.push_str(&format!("  {:<24} {}\n", "(Tiltfile)", tiltfile));
    for res in &state.resources {
        let name = res.manifest.name.as_str();
        let status = if !res.enabled {
            "disabled".to_owned()
        } else if let Some(hold) = snapshot.holds.get(name) {
            let on = if hold.on.is_empty() {
                String::new()
            } else {
                format!(" ({})", hold.on.join(", "))
            };
            format!("waiting: {}{on}", hold.reason)
        } else {
            let update = res.update_status().as_str();
            let runtime = res.runtime_status().as_str();
            let mut s = format!("update {update:<11} runtime {runtime}");
            if let Some(err) = res.last_build().and_then(|b| b.error.as_deref()) {
                s.push_str(&format!("  — {}", first_line(err)));
            } else if let Some(err) = res.runtime_error() {
                s.push_str(&format!("  — {}", first_line(&err)));
            }
            s
        };
        let age = res
            .last_deploy_time
            .and_then(|t| now.duration_since(t).ok())
            .map(|d| format!("{}s ago", d.as_secs()))
            .unwrap_or_default();
        out.push_str(&format!("  {name:<24} {status}  {age}\n"));
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}
