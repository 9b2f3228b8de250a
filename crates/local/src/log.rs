//! Streaming a child's stdout and stderr, line by line, to a caller-provided sink.
//!
//! Output is never buffered whole: a line longer than [`MAX_LINE_BYTES`] is handed on in
//! pieces marked `partial`, bytes that are not UTF-8 become U+FFFD, and a last line without
//! a trailing newline is still delivered when the stream closes.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

/// Lines longer than this many bytes are split into several [`LogLine`]s.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One line of output, without its line terminator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the line was complete.
    pub time: SystemTime,
    pub stream: Stream,
    pub text: String,
    /// The line was longer than [`MAX_LINE_BYTES`]; the next line of the same stream
    /// continues it.
    pub partial: bool,
}

/// Where output lines go. Cheap to clone; called from the reader tasks, so it must not block.
#[derive(Clone)]
pub struct LogSink(Arc<dyn Fn(LogLine) + Send + Sync>);

impl LogSink {
    pub fn new(f: impl Fn(LogLine) + Send + Sync + 'static) -> Self {
        LogSink(Arc::new(f))
    }

    /// A sink that drops every line.
    pub fn discard() -> Self {
        LogSink::new(|_| {})
    }

    pub fn emit(&self, line: LogLine) {
        (self.0)(line)
    }
}

impl From<mpsc::UnboundedSender<LogLine>> for LogSink {
    fn from(tx: mpsc::UnboundedSender<LogLine>) -> Self {
        // A closed receiver means nobody wants the logs any more; the process keeps running.
        LogSink::new(move |line| {
            let _ = tx.send(line);
        })
    }
}

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogSink")
    }
}

/// Reads `reader` to its end, emitting each line; read errors end the stream quietly
/// because there is nothing more to deliver.
pub(crate) async fn pump(reader: impl AsyncRead + Unpin, stream: Stream, sink: LogSink) {
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut line: Vec<u8> = Vec::new();
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let room = MAX_LINE_BYTES - line.len();
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) if i <= room => {
                line.extend_from_slice(&buf[..i]);
                reader.consume(i + 1);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                emit(&sink, stream, &mut line, false);
            }
            _ => {
                let take = buf.len().min(room);
                line.extend_from_slice(&buf[..take]);
                reader.consume(take);
                if line.len() >= MAX_LINE_BYTES {
                    emit(&sink, stream, &mut line, true);
                }
            }
        }
    }
    if !line.is_empty() {
        emit(&sink, stream, &mut line, false);
    }
}

/// Emits `line` and clears it. A partial piece keeps an incomplete UTF-8 sequence at its
/// end for the next piece, so splitting never garbles a character.
fn emit(sink: &LogSink, stream: Stream, line: &mut Vec<u8>, partial: bool) {
    let carry = if partial {
        let keep = line.len() - incomplete_tail(line);
        line.split_off(keep)
    } else {
        Vec::new()
    };
    let text = String::from_utf8_lossy(line).into_owned();
    sink.emit(LogLine {
        time: SystemTime::now(),
        stream,
        text,
        partial,
    });
    line.clear();
    line.extend_from_slice(&carry);
}

/// How many bytes at the end of `b` start a UTF-8 sequence that is not complete yet.
fn incomplete_tail(b: &[u8]) -> usize {
    for back in 1..=b.len().min(3) {
        let byte = b[b.len() - back];
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let needed = match byte {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if needed > back { back } else { 0 };
    }
    0
}
