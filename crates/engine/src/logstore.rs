//! Bounded in-memory log lines per resource, with checkpoints for streaming and search.

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use crate::effect::{LogLevel, SpanId};

/// A position in the log: every appended line gets the next one. A client that has seen
/// everything up to `n` asks for [`LogStore::since`]`(n)`.
pub type Checkpoint = u64;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogSource {
    /// An update (build, deploy, `cmd`).
    Build,
    /// A running workload (`serve_cmd`, pod, container).
    Runtime,
    /// lilt itself (Tiltfile loads, engine messages).
    System,
}

/// One stored line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub checkpoint: Checkpoint,
    /// `None` for the global log.
    pub resource: Option<String>,
    pub span_id: Option<SpanId>,
    pub level: LogLevel,
    pub time: SystemTime,
    pub source: LogSource,
    /// The text without its trailing newline.
    pub text: String,
}

/// A line to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogLine {
    pub resource: Option<String>,
    pub span_id: Option<SpanId>,
    pub level: LogLevel,
    pub time: SystemTime,
    pub source: LogSource,
    pub text: String,
}

/// Memory limits. A line's cost is its text and resource name plus a fixed overhead for
/// the record itself, so budgets bound real memory, not just text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBudget {
    pub per_resource_bytes: usize,
    pub total_bytes: usize,
}

impl LogBudget {
    /// 8 MiB per resource, 64 MiB in all.
    pub const DEFAULT: LogBudget = LogBudget {
        per_resource_bytes: 8 << 20,
        total_bytes: 64 << 20,
    };
}

/// What was dropped to stay within budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dropped {
    pub lines: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LogStoreError {
    #[error("invalid log search pattern {pattern:?}: {source}")]
    BadPattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
}

/// What to look for in [`LogStore::search`].
#[derive(Debug, Clone)]
pub enum LogPattern {
    /// Case-sensitive substring.
    Text(String),
    Regex(regex::Regex),
}

impl LogPattern {
    pub fn regex(pattern: &str) -> Result<LogPattern, LogStoreError> {
        regex::Regex::new(pattern)
            .map(LogPattern::Regex)
            .map_err(|source| LogStoreError::BadPattern {
                pattern: pattern.to_owned(),
                source,
            })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            LogPattern::Text(needle) => text.contains(needle.as_str()),
            LogPattern::Regex(re) => re.is_match(text),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ResourceLog {
    lines: VecDeque<LogLine>,
    bytes: usize,
    dropped: Dropped,
}

/// Per-resource log lines within a byte budget; the oldest lines go first.
#[derive(Debug, Clone)]
pub struct LogStore {
    budget: LogBudget,
    /// Keyed by resource; the global log is under `None`.
    logs: BTreeMap<Option<String>, ResourceLog>,
    total_bytes: usize,
    next_checkpoint: Checkpoint,
    dropped: Dropped,
}

const LINE_OVERHEAD: usize = std::mem::size_of::<LogLine>();

fn cost(resource: Option<&str>, text: &str) -> usize {
    LINE_OVERHEAD + text.len() + resource.map_or(0, str::len)
}

impl LogStore {
    pub fn new(budget: LogBudget) -> LogStore {
        LogStore {
            budget,
            logs: BTreeMap::new(),
            total_bytes: 0,
            next_checkpoint: 1,
            dropped: Dropped::default(),
        }
    }

    /// Appends one line (a trailing newline is removed) and returns its checkpoint.
    /// A line larger than the per-resource budget is still kept, alone: the newest line
    /// is never the one dropped.
    pub fn append(&mut self, line: NewLogLine) -> Checkpoint {
        let checkpoint = self.next_checkpoint;
        self.next_checkpoint += 1;
        let mut text = line.text;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        let bytes = cost(line.resource.as_deref(), &text);
        let key = line.resource.clone();
        let log = self.logs.entry(key.clone()).or_default();
        log.lines.push_back(LogLine {
            checkpoint,
            resource: line.resource,
            span_id: line.span_id,
            level: line.level,
            time: line.time,
            source: line.source,
            text,
        });
        log.bytes += bytes;
        self.total_bytes += bytes;
        while log.bytes > self.budget.per_resource_bytes && log.lines.len() > 1 {
            let freed = drop_front(log);
            self.total_bytes -= freed;
            self.dropped.lines += 1;
            self.dropped.bytes += freed as u64;
        }
        while self.total_bytes > self.budget.total_bytes {
            if !self.drop_oldest(checkpoint) {
                break;
            }
        }
        checkpoint
    }

    /// Appends text that may hold several lines, one record per line.
    pub fn append_text(&mut self, line: NewLogLine) -> Checkpoint {
        let mut last = self.next_checkpoint.saturating_sub(1);
        for part in line.text.lines() {
            last = self.append(NewLogLine {
                text: part.to_owned(),
                ..line.clone()
            });
        }
        last
    }

    /// Drops the globally oldest line other than `keep`; false when nothing else is left.
    fn drop_oldest(&mut self, keep: Checkpoint) -> bool {
        let oldest = self
            .logs
            .iter()
            .filter_map(|(key, log)| log.lines.front().map(|l| (l.checkpoint, key)))
            .filter(|(cp, _)| *cp != keep)
            .min_by_key(|(cp, _)| *cp)
            .map(|(_, key)| key.clone());
        let Some(key) = oldest else {
            return false;
        };
        let Some(log) = self.logs.get_mut(&key) else {
            return false;
        };
        let freed = drop_front(log);
        self.total_bytes -= freed;
        self.dropped.lines += 1;
        self.dropped.bytes += freed as u64;
        true
    }

    /// Lines after `checkpoint`, in append order, optionally for one resource
    /// (`Some(None)` is the global log).
    pub fn since(&self, checkpoint: Checkpoint, resource: Option<Option<&str>>) -> Vec<&LogLine> {
        let mut out: Vec<&LogLine> = Vec::new();
        for (key, log) in &self.logs {
            if resource.is_some_and(|want| want != key.as_deref()) {
                continue;
            }
            let start = log.lines.partition_point(|l| l.checkpoint <= checkpoint);
            out.extend(log.lines.range(start..));
        }
        out.sort_by_key(|l| l.checkpoint);
        out
    }

    /// Retained lines matching `pattern`, in append order, optionally for one resource.
    pub fn search(&self, pattern: &LogPattern, resource: Option<Option<&str>>) -> Vec<&LogLine> {
        let mut out: Vec<&LogLine> = self
            .logs
            .iter()
            .filter(|(key, _)| resource.is_none_or(|want| want == key.as_deref()))
            .flat_map(|(_, log)| log.lines.iter())
            .filter(|l| pattern.matches(&l.text))
            .collect();
        out.sort_by_key(|l| l.checkpoint);
        out
    }

    /// The checkpoint of the newest line (0 when empty): pass it to `since` next time.
    pub fn checkpoint(&self) -> Checkpoint {
        self.next_checkpoint - 1
    }

    /// The oldest checkpoint still retained; a client behind it missed dropped lines.
    pub fn first_checkpoint(&self) -> Option<Checkpoint> {
        self.logs
            .values()
            .filter_map(|log| log.lines.front().map(|l| l.checkpoint))
            .min()
    }

    pub fn retained_bytes(&self) -> usize {
        self.total_bytes
    }

    pub fn retained_lines(&self) -> usize {
        self.logs.values().map(|log| log.lines.len()).sum()
    }

    pub fn resource_bytes(&self, resource: Option<&str>) -> usize {
        self.logs
            .get(&resource.map(str::to_owned))
            .map_or(0, |log| log.bytes)
    }

    /// Everything dropped so far.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// What was dropped from one resource's log by either budget.
    pub fn resource_dropped(&self, resource: Option<&str>) -> Dropped {
        self.logs
            .get(&resource.map(str::to_owned))
            .map_or(Dropped::default(), |log| log.dropped)
    }

    pub fn budget(&self) -> LogBudget {
        self.budget
    }
}

fn drop_front(log: &mut ResourceLog) -> usize {
    let Some(line) = log.lines.pop_front() else {
        return 0;
    };
    let freed = cost(line.resource.as_deref(), &line.text);
    log.bytes -= freed;
    log.dropped.lines += 1;
    log.dropped.bytes += freed as u64;
    freed
}
