//! A command to run on the host: argv, working directory and extra environment.

use std::path::PathBuf;

/// A host command. A Tiltfile string becomes `["sh", "-c", string]`; a list is used as argv.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cmd {
    pub argv: Vec<String>,
    pub dir: PathBuf,
    /// Extra variables, in the order the Tiltfile gave them (`KEY`, `VALUE`).
    pub env: Vec<(String, String)>,
    pub echo_off: bool,
}

impl Cmd {
    pub fn is_empty(&self) -> bool {
        self.argv.is_empty()
    }

    /// The command as a user would type it, for logs: `sh -c X` shows as `X`.
    pub fn display(&self) -> String {
        match self.argv.as_slice() {
            [sh, c, script] if sh == "sh" && c == "-c" => script.clone(),
            argv => argv.join(" "),
        }
    }
}
