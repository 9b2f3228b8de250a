//! `lilt logs [RESOURCE...]`: the running lilt's log from the `/ws/view` stream, filtered as
//! Tilt's `tilt logs` filters it (resources, source, level, since, tail), as text or JSON
//! lines; `-f` keeps printing new lines until lilt stops.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::bail;
use serde_json::{Value, json};

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
    level: Option<&'static str>,
    since: Option<SystemTime>,
    tail: Option<usize>,
}

/// One log line, with its resource resolved through the span table.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    resource: String,
    span_id: String,
    time: String,
    level: String,
    text: String,
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
fn new_lines(msg: &Value, spans: &mut HashMap<String, String>, watermark: &mut i64) -> Vec<Line> {
    let list = &msg["logList"];
    let from = list["fromCheckpoint"].as_i64().unwrap_or(-1);
    if list.is_null() || from < 0 {
        return Vec::new();
    }
    for (id, span) in list["spans"].as_object().into_iter().flatten() {
        let name = span["manifestName"].as_str().unwrap_or_default();
        spans.insert(id.clone(), name.to_owned());
    }
    // A complete View restarts the count; a delta that overlaps what we have is trimmed.
    let skip = if msg["isComplete"].as_bool() == Some(true) {
        0
    } else {
        usize::try_from(*watermark - from).unwrap_or(0)
    };
    if let Some(to) = list["toCheckpoint"].as_i64() {
        *watermark = to;
    }
    list["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .skip(skip)
        .map(|seg| {
            let span_id = seg["spanId"].as_str().unwrap_or_default().to_owned();
            let text = seg["text"].as_str().unwrap_or_default();
            Line {
                resource: spans.get(&span_id).cloned().unwrap_or_default(),
                time: seg["time"].as_str().unwrap_or_default().to_owned(),
                level: seg["level"].as_str().unwrap_or("INFO").to_ascii_lowercase(),
                text: text.strip_suffix('\n').unwrap_or(text).to_owned(),
                span_id,
            }
        })
        .collect()
}

/// Build logs are the Tiltfile's and the update commands'; everything else is runtime.
fn is_build_span(span_id: &str) -> bool {
    ["build:", "cmdimage:", "tiltfile:"]
        .iter()
        .any(|p| span_id.starts_with(p))
}

impl Filter {
    fn new(opts: &LogsOptions, now: SystemTime) -> anyhow::Result<Filter> {
        let level = opts.level.map(|l| match l {
            Level::Warn => "warn",
            Level::Error => "error",
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
        let mut obj = json!({"time": line.time});
        if !line.resource.is_empty() {
            obj["resource"] = json!(line.resource);
        }
        obj["level"] = json!(line.level);
        obj["message"] = json!(line.text);
        obj["spanID"] = json!(line.span_id);
        obj["source"] = json!(source);
        return writeln!(out, "{obj}");
    }
    let marker = match line.level.as_str() {
        "warn" => "WARNING: ",
        "error" => "ERROR: ",
        _ => "",
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

    fn complete() -> Value {
        json!({"isComplete": true, "logList": {
            "spans": {"build:1": {"manifestName": "api"}, "localserve:2": {"manifestName": "api"}, "tiltfile:(Tiltfile):1": {"manifestName": "(Tiltfile)"}},
            "segments": [
                {"spanId": "tiltfile:(Tiltfile):1", "time": "2026-11-26T07:00:00Z", "text": "Loading\n", "level": "INFO"},
                {"spanId": "build:1", "time": "2026-11-26T07:00:01Z", "text": "compiling\n", "level": "INFO"},
                {"spanId": "localserve:2", "time": "2026-11-26T07:00:02Z", "text": "careful\n", "level": "WARN"},
                {"spanId": "localserve:2", "time": "2026-11-26T07:00:03Z", "text": "listening\n", "level": "INFO"},
            ],
            "fromCheckpoint": 0, "toCheckpoint": 4}})
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
        let delta = json!({"isComplete": false, "logList": {
            "spans": {},
            "segments": [
                {"spanId": "localserve:2", "time": "2026-11-26T07:00:03Z", "text": "listening\n", "level": "INFO"},
                {"spanId": "localserve:2", "time": "2026-11-26T07:00:04Z", "text": "new\n", "level": "INFO"},
            ],
            "fromCheckpoint": 3, "toCheckpoint": 5}});
        let lines = new_lines(&delta, &mut spans, &mut mark);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "new");
        assert_eq!(lines[0].resource, "api");
        assert!(new_lines(&json!({"isComplete": false}), &mut spans, &mut mark).is_empty());
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
        let obj: Value = serde_json::from_str(rows.next().unwrap()).unwrap();
        assert_eq!(obj["resource"], "api");
        assert_eq!(obj["message"], "compiling");
        assert_eq!(obj["source"], "build");
        assert_eq!(obj["level"], "info");
    }
}
