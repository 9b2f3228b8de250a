//! `lilt logs [RESOURCE...]`: the running lilt's log from the `/ws/view` stream, filtered as
//! Tilt's `tilt logs` filters it (resources, source, level, since, tail), as text or JSON
//! lines; `-f` keeps printing new lines until lilt stops.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::bail;
use lilt_server::wire::{Level as WireLevel, View, is_build_span};
use serde::Serialize;

use super::time::parse_rfc3339;
use super::{Client, ConnectFlags};

/// Which lines to print and how: `lilt logs`' own flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LogsOptions {
    /// Resources whose logs to print (all when none).
    pub(crate) resources: Vec<String>,
    /// Keep printing new lines until lilt stops.
    #[arg(short, long)]
    pub(crate) follow: bool,
    /// Only lines at most this old (Go duration such as `5m`, `1h`, `30s`).
    #[arg(long, value_parser = crate::go_duration_arg)]
    pub(crate) since: Option<Duration>,
    /// Number of lines to show from the end of the logs (-1 for all); lines streamed later
    /// all print.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub(crate) tail: i64,
    /// Print JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    /// Log source.
    #[arg(long, value_enum, default_value_t = Source::All)]
    pub(crate) source: Source,
    /// Only lines of this level.
    #[arg(long, value_enum)]
    pub(crate) level: Option<Level>,
}

/// `--source`: which spans' lines to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Source {
    All,
    Build,
    Runtime,
}

/// `--level`: only lines of this level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Level {
    Warn,
    Error,
}

/// The filter, resolved from the options.
struct Filter {
    resources: Vec<String>,
    source: Source,
    level: Option<WireLevel>,
    since: Option<SystemTime>,
    tail: Option<usize>,
}

/// One log line, with its resource resolved through the span table.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    resource: String,
    span_id: String,
    time: String,
    level: WireLevel,
    text: String,
}

/// One line of `--json` output.
#[derive(Serialize)]
struct JsonLine<'a> {
    time: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    resource: &'a str,
    /// Lower case, as `tilt logs --json` writes it.
    level: String,
    message: &'a str,
    #[serde(rename = "spanID")]
    span_id: &'a str,
    source: &'static str,
}

pub(crate) async fn run(flags: ConnectFlags, opts: LogsOptions) -> anyhow::Result<u8> {
    let filter = Filter::new(&opts, SystemTime::now())?;
    let client = Client::connect(&flags).await?;
    let mut stream = client.watch().await?;
    let mut spans: HashMap<String, String> = HashMap::new();
    let mut watermark: i64 = 0;
    let mut first = true;
    let prefix = opts.resources.len() != 1 && !opts.json;
    while let Some(msg) = stream.next().await? {
        let lines = new_lines(&msg, &mut spans, &mut watermark);
        let mut shown: Vec<&Line> = lines.iter().filter(|l| filter.matches(l)).collect();
        if first && let Some(n) = filter.tail {
            let skip = shown.len().saturating_sub(n);
            shown.drain(..skip);
        }
        let mut out = std::io::stdout().lock();
        for line in shown {
            print_line(&mut out, line, opts.json, prefix)?;
        }
        out.flush()?;
        if !opts.follow {
            return Ok(0);
        }
        first = false;
    }
    Ok(0)
}

/// The log lines of a View message not seen before, in order.
fn new_lines(msg: &View, spans: &mut HashMap<String, String>, watermark: &mut i64) -> Vec<Line> {
    let Some(list) = &msg.log_list else {
        return Vec::new();
    };
    if list.from_checkpoint < 0 {
        return Vec::new();
    }
    for (id, span) in &list.spans {
        spans.insert(id.clone(), span.manifest_name.clone());
    }
    // A complete View restarts the count; a delta that overlaps what we have is trimmed.
    let skip = if msg.is_complete {
        0
    } else {
        usize::try_from(*watermark - list.from_checkpoint).unwrap_or(0)
    };
    *watermark = list.to_checkpoint;
    list.segments
        .iter()
        .skip(skip)
        .map(|seg| Line {
            resource: spans.get(&seg.span_id).cloned().unwrap_or_default(),
            time: seg.time.clone(),
            level: seg.level,
            text: seg.text.strip_suffix('\n').unwrap_or(&seg.text).to_owned(),
            span_id: seg.span_id.clone(),
        })
        .collect()
}

impl Filter {
    fn new(opts: &LogsOptions, now: SystemTime) -> anyhow::Result<Filter> {
        let level = opts.level.map(|l| match l {
            Level::Warn => WireLevel::Warn,
            Level::Error => WireLevel::Error,
        });
        if opts.tail < -1 {
            bail!(
                "invalid --tail {}: use a count of lines, or -1 for all",
                opts.tail
            );
        }
        Ok(Filter {
            resources: opts.resources.clone(),
            source: opts.source,
            level,
            since: opts
                .since
                .map(|d| now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH)),
            tail: usize::try_from(opts.tail).ok(),
        })
    }

    fn matches(&self, line: &Line) -> bool {
        if !self.resources.is_empty() && !self.resources.contains(&line.resource) {
            return false;
        }
        let build = is_build_span(&line.span_id);
        match self.source {
            Source::Build if !build => return false,
            Source::Runtime if build => return false,
            _ => {}
        }
        if let Some(level) = self.level
            && line.level != level
        {
            return false;
        }
        match (self.since, parse_rfc3339(&line.time)) {
            (Some(since), Some(t)) => t >= since,
            _ => true,
        }
    }
}

fn print_line(out: &mut impl Write, line: &Line, json: bool, prefix: bool) -> std::io::Result<()> {
    if json {
        let source = if is_build_span(&line.span_id) {
            "build"
        } else {
            "runtime"
        };
        let obj = JsonLine {
            time: &line.time,
            resource: &line.resource,
            level: line.level.as_str().to_ascii_lowercase(),
            message: &line.text,
            span_id: &line.span_id,
            source,
        };
        let text = serde_json::to_string(&obj).map_err(std::io::Error::other)?;
        return writeln!(out, "{text}");
    }
    let marker = match line.level {
        WireLevel::Warn => "WARNING: ",
        WireLevel::Error => "ERROR: ",
        WireLevel::Debug | WireLevel::Info => "",
    };
    if prefix {
        // The same shape as `lilt up --stream`.
        let name = if line.resource.is_empty() {
            "lilt"
        } else {
            &line.resource
        };
        writeln!(out, "{name:>12} │ {marker}{}", line.text)
    } else {
        writeln!(out, "{marker}{}", line.text)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn opts() -> LogsOptions {
        LogsOptions {
            resources: Vec::new(),
            follow: false,
            since: None,
            tail: -1,
            json: false,
            source: Source::All,
            level: None,
        }
    }

    fn view(v: Value) -> View {
        serde_json::from_value(v).unwrap()
    }

    fn complete() -> View {
        view(json!({"isComplete": true, "logList": {
            "spans": {"build:1": {"manifestName": "api"}, "localserve:2": {"manifestName": "api"}, "tiltfile:(Tiltfile):1": {"manifestName": "(Tiltfile)"}},
            "segments": [
                {"spanId": "tiltfile:(Tiltfile):1", "time": "2026-11-26T07:00:00Z", "text": "Loading\n", "level": "INFO"},
                {"spanId": "build:1", "time": "2026-11-26T07:00:01Z", "text": "compiling\n", "level": "INFO"},
                {"spanId": "localserve:2", "time": "2026-11-26T07:00:02Z", "text": "careful\n", "level": "WARN"},
                {"spanId": "localserve:2", "time": "2026-11-26T07:00:03Z", "text": "listening\n", "level": "INFO"},
            ],
            "fromCheckpoint": 0, "toCheckpoint": 4}}))
    }

    fn texts(lines: &[Line], filter: &Filter) -> Vec<String> {
        lines
            .iter()
            .filter(|l| filter.matches(l))
            .map(|l| l.text.clone())
            .collect()
    }

    #[test]
    fn filters_by_resource_source_level_and_time() {
        let mut spans = HashMap::new();
        let mut mark = 0;
        let lines = new_lines(&complete(), &mut spans, &mut mark);
        assert_eq!(mark, 4);
        let now = parse_rfc3339("2026-11-26T07:00:10Z").unwrap();
        let f = |o: LogsOptions| Filter::new(&o, now).unwrap();
        assert_eq!(texts(&lines, &f(opts())).len(), 4);
        let api = LogsOptions {
            resources: vec!["api".into()],
            ..opts()
        };
        assert_eq!(
            texts(&lines, &f(api)),
            ["compiling", "careful", "listening"]
        );
        let build = LogsOptions {
            source: Source::Build,
            ..opts()
        };
        assert_eq!(texts(&lines, &f(build)), ["Loading", "compiling"]);
        let runtime = LogsOptions {
            source: Source::Runtime,
            ..opts()
        };
        assert_eq!(texts(&lines, &f(runtime)), ["careful", "listening"]);
        let warn = LogsOptions {
            level: Some(Level::Warn),
            ..opts()
        };
        assert_eq!(texts(&lines, &f(warn)), ["careful"]);
        let since = LogsOptions {
            since: Some(Duration::from_secs(8)),
            ..opts()
        };
        assert_eq!(texts(&lines, &f(since)), ["careful", "listening"]);
    }

    #[test]
    fn deltas_skip_what_was_already_seen() {
        let mut spans = HashMap::new();
        let mut mark = 0;
        new_lines(&complete(), &mut spans, &mut mark);
        let delta = view(json!({"isComplete": false, "logList": {
            "spans": {},
            "segments": [
                {"spanId": "localserve:2", "time": "2026-11-26T07:00:03Z", "text": "listening\n", "level": "INFO"},
                {"spanId": "localserve:2", "time": "2026-11-26T07:00:04Z", "text": "new\n", "level": "INFO"},
            ],
            "fromCheckpoint": 3, "toCheckpoint": 5}}));
        let lines = new_lines(&delta, &mut spans, &mut mark);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "new");
        assert_eq!(lines[0].resource, "api");
        assert!(new_lines(&view(json!({"isComplete": false})), &mut spans, &mut mark).is_empty());
    }

    #[test]
    fn prints_text_and_json_lines() {
        let mut spans = HashMap::new();
        let mut mark = 0;
        let lines = new_lines(&complete(), &mut spans, &mut mark);
        let mut out = Vec::new();
        print_line(&mut out, &lines[2], false, true).unwrap();
        print_line(&mut out, &lines[3], false, false).unwrap();
        print_line(&mut out, &lines[1], true, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut rows = text.lines();
        assert_eq!(rows.next(), Some("         api │ WARNING: careful"));
        assert_eq!(rows.next(), Some("listening"));
        let json_row = rows.next().unwrap();
        // Field order and spelling as `tilt logs --json` writes them.
        assert_eq!(
            json_row,
            r#"{"time":"2026-11-26T07:00:01Z","resource":"api","level":"info","message":"compiling","spanID":"build:1","source":"build"}"#
        );
        let obj: Value = serde_json::from_str(json_row).unwrap();
        assert_eq!(obj["resource"], "api");
        assert_eq!(obj["message"], "compiling");
        assert_eq!(obj["source"], "build");
        assert_eq!(obj["level"], "info");
    }
}
