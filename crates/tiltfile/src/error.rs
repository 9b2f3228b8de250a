//! Tiltfile errors as users see them: message, file:line:col, the source line, and the
//! Starlark call stack through loaded files.

use std::fmt;
use std::path::PathBuf;

/// A position in a user's file. Lines and columns are 1-based, as editors show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    /// The text of that line, for the caret display.
    pub source_line: String,
    /// How many characters the span covers on that line (at least 1).
    pub width: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// One frame of the Starlark call stack: where a function was called from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The function being executed at that point (`<toplevel>` for module code).
    pub function: String,
    pub location: Location,
}

/// Why a Tiltfile failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The message alone, without position.
    pub message: String,
    /// Where the error happened, when it is known.
    pub location: Option<Location>,
    /// Outermost first: the main Tiltfile's frame, then loads and calls inward.
    pub frames: Vec<Frame>,
    /// The function that raised the error when it was raised by the call itself (a builtin
    /// such as `local`), printed as Go's Starlark does: `Error in local: ...`.
    pub function: Option<String>,
}

impl LoadError {
    pub(crate) fn new(message: impl Into<String>) -> LoadError {
        LoadError {
            message: message.into(),
            location: None,
            frames: Vec::new(),
            function: None,
        }
    }

    /// The one-line form: `file:line:col: message`.
    pub fn short(&self) -> String {
        match &self.location {
            Some(loc) => format!("{loc}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for LoadError {
    /// Tilt's report (go.starlark.net's backtrace), with each frame's source line added:
    /// `Traceback (most recent call last):`, one `  file:line:col: in fn` per frame, then
    /// `Error in fn: message` (or `Error: message`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.frames.is_empty() {
            writeln!(f, "Traceback (most recent call last):")?;
            for frame in &self.frames {
                writeln!(f, "  {}: in {}", frame.location, frame.function)?;
                let text = frame.location.source_line.trim();
                if !text.is_empty() {
                    writeln!(f, "    {text}")?;
                }
            }
        }
        match (&self.function, &self.location) {
            (Some(name), _) => write!(f, "Error in {name}: {}", self.message),
            // Errors before execution (syntax) are `file:line:col: message` in Go.
            (None, Some(loc)) if self.frames.is_empty() => write!(f, "{loc}: {}", self.message),
            // Errors found after execution (assembly) are plain messages.
            (None, None) if self.frames.is_empty() => write!(f, "{}", self.message),
            (None, _) => write!(f, "Error: {}", self.message),
        }
    }
}

/// Raised by `exit()`: stops execution without an error.
#[derive(Debug, thiserror::Error)]
#[error("exit() called")]
pub(crate) struct ExitRequested;

/// Raised when a loaded file failed; the inner error is already recorded in the state.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NestedFailure(pub(crate) String);
