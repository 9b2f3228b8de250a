//! `lilt args`: replaces the running lilt's Tiltfile args (`POST /api/set_tiltfile_args`),
//! which reloads the Tiltfile; with no args, edits them in `$TILT_EDITOR`/`$EDITOR`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};

use super::{Client, ConnectFlags};

/// The args to set.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArgsOptions {
    /// Send an empty list, as if lilt had been started without args.
    pub(crate) clear: bool,
    pub(crate) args: Vec<String>,
}

pub(crate) async fn run(flags: ConnectFlags, opts: ArgsOptions) -> anyhow::Result<u8> {
    let args = if opts.clear {
        if !opts.args.is_empty() {
            bail!("--clear cannot be specified with other values");
        }
        Vec::new()
    } else if opts.args.is_empty() {
        // Check that lilt runs before opening an editor for nothing.
        Client::connect(&flags).await?;
        edit_args()?
    } else {
        opts.args
    };
    let client = Client::connect(&flags).await?;
    let resp = client.post_json("/api/set_tiltfile_args", &args).await?;
    if resp.status != 200 {
        bail!("({}): {}", resp.status, resp.text());
    }
    eprintln!(
        "Changed config args for lilt running at {} to [{}]",
        client.authority(),
        args.join(" ")
    );
    Ok(0)
}

/// Opens the user's editor on a one-line file and reads the args back.
fn edit_args() -> anyhow::Result<Vec<String>> {
    let editor = ["TILT_EDITOR", "EDITOR"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|v| !v.trim().is_empty());
    let Some(editor) = editor else {
        bail!(
            "no editor to edit the args in: set TILT_EDITOR or EDITOR, or pass the new args (`lilt args -- ARG...`; `lilt args --clear` removes them)"
        );
    };
    let path = std::env::temp_dir().join(format!("lilt-args-{}.txt", std::process::id()));
    let result = edit_file(&editor, &path);
    let _ = std::fs::remove_file(&path);
    parse_edit_result(&result?)
}

fn edit_file(editor: &str, path: &Path) -> anyhow::Result<String> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    // lilt's API does not report the args in use, so the line starts empty.
    file.write_all(
        b"# edit args for the running lilt here: one line, quoted like a shell command\n\n",
    )?;
    drop(file);
    // The variable may hold flags (`code --wait`), so the shell splits it.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} failed ({status}): args unchanged");
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Exactly one non-comment line, split like a shell would.
fn parse_edit_result(text: &str) -> anyhow::Result<Vec<String>> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(line) = lines.next() else {
        bail!(
            "must have exactly one non-comment line, found zero. If you want to clear the args, use `lilt args --clear`"
        );
    };
    if lines.next().is_some() {
        bail!("cannot have multiple non-comment lines");
    }
    split_shell_words(line).with_context(|| format!("error parsing {line:?}"))
}

/// Splits a line into words with shell quoting, as `shlex.split` does in a Tiltfile.
fn split_shell_words(line: &str) -> anyhow::Result<Vec<String>> {
    lilt_tiltfile::shell_split(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_shell_words(r#"a 'b c' "d \"e\"" f\ g "#).unwrap(),
            ["a", "b c", "d \"e\"", "f g"]
        );
        assert_eq!(split_shell_words("''").unwrap(), [""]);
        assert!(split_shell_words("'open").is_err());
    }

    #[test]
    fn takes_exactly_one_line() {
        assert_eq!(
            parse_edit_result("# comment\n\n  web --mode=dev \n").unwrap(),
            ["web", "--mode=dev"]
        );
        let none = parse_edit_result("# only a comment\n")
            .unwrap_err()
            .to_string();
        assert!(none.contains("found zero"), "{none}");
        let two = parse_edit_result("a\nb\n").unwrap_err().to_string();
        assert_eq!(two, "cannot have multiple non-comment lines");
    }
}
