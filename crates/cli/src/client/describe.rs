//! `lilt describe uiresource [NAME]`: a readable, kubectl-describe-style account of
//! resources: labels, type, statuses, hold reason, endpoints, process, build history.

use std::fmt::Write as _;
use std::time::SystemTime;

use anyhow::bail;
use lilt_server::wire::{API_VERSION, LiveUpdate, UIRESOURCE_KIND, UiResource};

use super::time::{age_of, build_duration, parse_rfc3339};
use super::view::{self, ViewState};
use super::{Client, ConnectFlags};

pub(crate) async fn run(flags: ConnectFlags, args: Vec<String>) -> anyhow::Result<u8> {
    let names = view::uiresource_names(&args, "describe")?;
    let client = Client::connect(&flags).await?;
    let state = view::state_of(&client.view(false).await?);
    let now = SystemTime::now();
    let mut missing = Vec::new();
    let mut shown = Vec::new();
    if names.is_empty() {
        shown = state.resources();
    }
    for name in &names {
        let found = matching(&state, name);
        if found.is_empty() {
            missing.push(name);
        }
        shown.extend(found);
    }
    let texts: Vec<String> = shown.iter().map(|r| describe(r, now)).collect();
    print!("{}", texts.join("\n\n"));
    if !texts.is_empty() {
        println!();
    }
    for name in &missing {
        eprintln!("Error from server (NotFound): uiresources.tilt.dev {name:?} not found");
    }
    if !missing.is_empty() {
        return Ok(1);
    }
    if shown.is_empty() {
        bail!("no uiresources found");
    }
    Ok(0)
}

/// The resource named exactly, else those whose names start with `prefix` (kubectl's rule).
fn matching<'a>(state: &'a ViewState, prefix: &str) -> Vec<&'a UiResource> {
    if let Some(res) = state.resource(prefix) {
        return vec![res];
    }
    state
        .resources()
        .into_iter()
        .filter(|r| r.metadata.name.starts_with(prefix))
        .collect()
}

/// The description of one resource.
fn describe(res: &UiResource, now: SystemTime) -> String {
    let status = &res.status;
    let mut out = String::new();
    let labels = view::labels(res);
    let field = |out: &mut String, indent: usize, key: &str, value: &str| {
        let key = format!("{key}:");
        let _ = writeln!(
            out,
            "{:indent$}{key:<width$}{value}",
            "",
            width = 20 - indent
        );
    };
    field(&mut out, 0, "Name", &res.metadata.name);
    field(&mut out, 0, "Kind", UIRESOURCE_KIND);
    field(&mut out, 0, "API Version", API_VERSION);
    field(
        &mut out,
        0,
        "Labels",
        &if labels.is_empty() {
            "<none>".to_owned()
        } else {
            labels.join(", ")
        },
    );
    field(&mut out, 0, "Type", view::resource_type(res));
    field(&mut out, 0, "Trigger Mode", view::trigger_mode(res));
    let _ = writeln!(out, "Status:");
    let ready = if view::is_ready(res) { "True" } else { "False" };
    field(&mut out, 2, "Ready", ready);
    field(&mut out, 2, "Update Status", status.update_status.as_str());
    field(
        &mut out,
        2,
        "Runtime Status",
        status.runtime_status.as_str(),
    );
    field(
        &mut out,
        2,
        "Disable Status",
        status.disable_status.state.as_str(),
    );
    field(
        &mut out,
        2,
        "Waiting",
        &view::hold_reason(res).unwrap_or_else(|| "<none>".to_owned()),
    );
    field(&mut out, 2, "Queued", bool_text(status.queued));
    field(
        &mut out,
        2,
        "Pending Changes",
        bool_text(status.has_pending_changes),
    );
    if let Some(since) = &status.pending_build_since {
        field(&mut out, 2, "Pending Since", &timestamp(Some(since), now));
    }
    field(
        &mut out,
        2,
        "Last Deploy Time",
        &timestamp(status.last_deploy_time.as_deref(), now),
    );
    let current_text = match &status.current_build {
        Some(build) => format!("started {}", timestamp(Some(&build.start_time), now)),
        None => "<none>".to_owned(),
    };
    field(&mut out, 2, "Current Build", &current_text);
    let links: Vec<String> = status
        .endpoint_links
        .iter()
        .map(|l| {
            if l.name.is_empty() {
                l.url.clone()
            } else {
                format!("{} ({})", l.url, l.name)
            }
        })
        .collect();
    if links.is_empty() {
        field(&mut out, 2, "Endpoints", "<none>");
    } else {
        let _ = writeln!(out, "  Endpoints:");
        for link in links {
            let _ = writeln!(out, "    {link}");
        }
    }
    if let Some(pod) = &status.k8s_resource_info {
        let _ = writeln!(out, "  Pod:");
        field(&mut out, 4, "Name", &pod.pod_name);
        field(&mut out, 4, "Status", &pod.pod_status);
        field(&mut out, 4, "Ready", bool_text(pod.all_containers_ready));
        field(&mut out, 4, "Restarts", &pod.pod_restarts.to_string());
        field(
            &mut out,
            4,
            "Created",
            &timestamp(pod.pod_creation_time.as_deref(), now),
        );
    }
    if let Some(local) = &status.local_resource_info {
        let _ = writeln!(out, "  Local Resource:");
        let pid = local
            .pid
            .filter(|p| *p > 0)
            .map(|p| p.to_string())
            .unwrap_or_else(|| "<none>".to_owned());
        field(&mut out, 4, "PID", &pid);
        field(&mut out, 4, "Is Test", bool_text(local.is_test));
    }
    let history = &status.build_history;
    if history.is_empty() {
        let _ = write!(out, "Build History:      <none>");
        return out;
    }
    let _ = writeln!(out, "Build History:");
    for (i, build) in history.iter().enumerate() {
        let start = Some(build.start_time.as_str());
        let duration = match (
            parse_rfc3339(&build.start_time),
            parse_rfc3339(&build.finish_time),
        ) {
            (Some(s), Some(f)) => build_duration(f.duration_since(s).unwrap_or_default()),
            _ => "?".to_owned(),
        };
        let error = build.error.trim();
        let result = if error.is_empty() { "ok" } else { "error" };
        let crash = if build.is_crash_rebuild {
            " (crash rebuild)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  #{:<3} {}   {duration}   {result}{crash}",
            i + 1,
            timestamp(start, now)
        );
        for image in &build.images {
            let how = if image.cached { "up to date" } else { "built" };
            let pushed = if image.pushed {
                ", in the registry"
            } else {
                ""
            };
            let _ = writeln!(out, "        image {} ({how}{pushed})", image.built_ref);
        }
        if let Some(live) = &build.live_update {
            let _ = writeln!(out, "        {}", live_update_line(live));
        }
        for line in error.lines() {
            let _ = writeln!(out, "        {line}");
        }
        for warning in &build.warnings {
            let _ = writeln!(out, "        warning: {}", warning.trim());
        }
    }
    out.trim_end().to_owned()
}

/// `Live update: 2 file(s) copied, 1 deleted, ran `make`, restarted, 84 ms, in: ns/pod/app`.
fn live_update_line(live: &LiveUpdate) -> String {
    let mut parts = vec![format!("{} file(s) copied", live.files_copied)];
    if live.files_deleted > 0 {
        parts.push(format!("{} deleted", live.files_deleted));
    }
    for run in &live.runs {
        parts.push(format!("ran `{run}`"));
    }
    if live.restarted {
        parts.push("restarted".to_owned());
    }
    parts.push(format!("{} ms", live.elapsed_ms));
    let into = if live.containers.is_empty() {
        "<none>".to_owned()
    } else {
        live.containers.join(", ")
    };
    format!("Live update: {}, in: {into}", parts.join(", "))
}

fn bool_text(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

/// `2026-11-26T07:00:00.123456Z (12s ago)`, or `<none>`.
fn timestamp(text: Option<&str>, now: SystemTime) -> String {
    match text.filter(|t| parse_rfc3339(t).is_some()) {
        Some(t) => format!("{t} ({} ago)", age_of(Some(t), now)),
        None => "<none>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn describes_statuses_endpoints_process_and_builds() {
        let res: UiResource = serde_json::from_value(json!({"metadata": {"name": "api", "labels": {"backend": "backend"}}, "status": {
        "order": 2, "triggerMode": 1, "updateStatus": "error", "runtimeStatus": "ok",
        "lastDeployTime": "2026-11-26T07:00:02Z", "queued": false, "hasPendingChanges": true,
        "endpointLinks": [{"url": "http://localhost:8000", "name": "web"}],
        "localResourceInfo": {"pid": 4242, "isTest": false},
        "k8sResourceInfo": {"podName": "api-5f4bb8d45-q476g", "podCreationTime": "2026-11-26T07:00:30Z", "podStatus": "CrashLoopBackOff (last exit code 3)", "allContainersReady": false, "podRestarts": 4, "spanID": "pod:api:api-5f4bb8d45-q476g"},
        "specs": [{"type": "local"}],
        "disableStatus": {"state": "Enabled"},
        "buildHistory": [
            {"error": "", "warnings": [], "startTime": "2026-11-26T07:00:00Z", "finishTime": "2026-11-26T07:00:01.5Z", "spanID": "build:1", "isCrashRebuild": false},
            {"error": "exit status 2\nno such file", "warnings": ["slow"], "startTime": "2026-11-26T07:00:10Z", "finishTime": "2026-11-26T07:00:10.25Z", "spanID": "build:2", "isCrashRebuild": false,
             "images": [{"imageRef": "shop/api", "ref": "r:5000/shop_api:tilt-0123456789abcdef", "cached": true, "pushed": true},
                        {"imageRef": "shop/web", "ref": "shop/web:tilt-fedcba9876543210", "cached": false, "pushed": false}]},
            {"error": "", "warnings": [], "startTime": "2026-11-26T07:00:20Z", "finishTime": "2026-11-26T07:00:20.1Z", "spanID": "build:3", "isCrashRebuild": false,
             "liveUpdate": {"containers": ["ns/api-1/app", "ns/api-2/app"], "filesCopied": 2, "filesDeleted": 1, "runs": ["cp a b"], "restarted": true, "elapsedMs": 84}},
            {"error": "live update: run `make` failed: exit status 2", "warnings": [], "startTime": "2026-11-26T07:00:30Z", "finishTime": "2026-11-26T07:00:30.5Z", "spanID": "build:4", "isCrashRebuild": false,
             "liveUpdate": {"containers": ["docker:0123abcd"], "filesCopied": 1, "filesDeleted": 0, "runs": [], "restarted": false, "elapsedMs": 500}},
        ]}}))
        .unwrap();
        let now = parse_rfc3339("2026-11-26T07:01:00Z").unwrap();
        let text = describe(&res, now);
        for expected in [
            "Name:               api",
            "Labels:             backend",
            "Type:               Local",
            "Trigger Mode:       manual",
            "  Ready:            True",
            "  Update Status:    error",
            "  Runtime Status:   ok",
            "  Pending Changes:  true",
            "  Last Deploy Time: 2026-11-26T07:00:02Z (58s ago)",
            "    http://localhost:8000 (web)",
            "    PID:            4242",
            "  Pod:\n    Name:           api-5f4bb8d45-q476g\n    Status:         CrashLoopBackOff (last exit code 3)\n    Ready:          false\n    Restarts:       4\n    Created:        2026-11-26T07:00:30Z (30s ago)",
            "  #1   2026-11-26T07:00:00Z (1m ago)   1.5s   ok",
            "  #2   2026-11-26T07:00:10Z (50s ago)   250ms   error",
            "        image r:5000/shop_api:tilt-0123456789abcdef (up to date, in the registry)\n        image shop/web:tilt-fedcba9876543210 (built)\n        exit status 2",
            "        no such file",
            "        warning: slow",
            "  #3   2026-11-26T07:00:20Z (40s ago)   100ms   ok\n        Live update: 2 file(s) copied, 1 deleted, ran `cp a b`, restarted, 84 ms, in: ns/api-1/app, ns/api-2/app\n",
            "  #4   2026-11-26T07:00:30Z (30s ago)   500ms   error\n        Live update: 1 file(s) copied, 500 ms, in: docker:0123abcd\n        live update: run `make` failed: exit status 2",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn prefixes_match_like_kubectl() {
        let state = view::state_of(
            &serde_json::from_value(json!({"isComplete": true, "uiResources": [
                {"metadata": {"name": "api"}, "status": {"order": 1}},
                {"metadata": {"name": "api-db"}, "status": {"order": 2}},
                {"metadata": {"name": "web"}, "status": {"order": 3}},
            ]}))
            .unwrap(),
        );
        fn names(v: Vec<&UiResource>) -> Vec<&str> {
            v.into_iter().map(|r| r.metadata.name.as_str()).collect()
        }
        assert_eq!(names(matching(&state, "api")), ["api"]);
        assert_eq!(names(matching(&state, "ap")), ["api", "api-db"]);
        assert!(matching(&state, "x").is_empty());
    }
}
