//! Just enough Dockerfile reading to build images in dependency order: find the images of
//! `FROM` and `COPY --from=` (after `ARG` substitution) and rewrite those that name another
//! image of the same build to that image's built ref, as Tilt does before sending the
//! Dockerfile. Every other line is sent exactly as written.

use lilt_manifest::{ImageRef, RefSelector};

/// One instruction, possibly spread over several physical lines.
struct Instruction {
    /// Physical lines `first..=last` hold it.
    first: usize,
    last: usize,
    /// The lines joined, continuation characters and comment lines removed.
    text: String,
}

/// The instructions of a Dockerfile, with the escape character of its `# escape=` directive.
fn instructions(lines: &[&str]) -> Vec<Instruction> {
    let mut escape = '\\';
    let mut in_directives = true;
    let mut out = Vec::new();
    let mut current: Option<Instruction> = None;
    for (idx, raw) in lines.iter().enumerate() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if current.is_none() {
            if in_directives {
                if let Some(value) = directive(trimmed, "escape") {
                    if let Some(c) = value.chars().next() {
                        escape = c;
                    }
                    continue;
                }
                if directive_like(trimmed) {
                    continue;
                }
                in_directives = false;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
        } else if trimmed.starts_with('#') {
            // Comment lines inside a continued instruction are dropped by Docker's parser.
            continue;
        }
        let (body, continues) = match line.trim_end().strip_suffix(escape) {
            Some(body) => (body, true),
            None => (line, false),
        };
        let ins = current.get_or_insert_with(|| Instruction {
            first: idx,
            last: idx,
            text: String::new(),
        });
        ins.last = idx;
        ins.text.push_str(body);
        if continues {
            ins.text.push(' ');
        } else if let Some(done) = current.take() {
            out.push(done);
        }
    }
    if let Some(done) = current {
        out.push(done);
    }
    out
}

fn directive<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix('#')?.trim_start();
    let (key, value) = rest.split_once('=')?;
    key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
}

fn directive_like(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('#') else {
        return false;
    };
    match rest.trim_start().split_once('=') {
        Some((key, _)) => {
            let key = key.trim();
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Splits an instruction into its keyword and its arguments.
fn keyword(text: &str) -> (String, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (text[..end].to_ascii_uppercase(), text[end..].trim())
}

/// Words split on whitespace, with simple double or single quotes kept together.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Variables visible to `FROM`: the global `ARG`s (before the first `FROM`), with build
/// args overriding their defaults.
struct Args {
    vars: Vec<(String, String)>,
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `$X`, `${X}`, `${X:-default}` and `${X:+alternative}` expanded; unknown ones are empty.
    fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                out.push(c);
                continue;
            }
            match chars.peek() {
                Some('{') => {
                    chars.next();
                    let mut inner = String::new();
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                        inner.push(c);
                    }
                    if let Some((name, default)) = inner.split_once(":-") {
                        match self.get(name) {
                            Some(v) if !v.is_empty() => out.push_str(v),
                            _ => out.push_str(&self.expand(default)),
                        }
                    } else if let Some((name, alt)) = inner.split_once(":+") {
                        if self.get(name).is_some_and(|v| !v.is_empty()) {
                            out.push_str(&self.expand(alt));
                        }
                    } else {
                        out.push_str(self.get(&inner).unwrap_or(""));
                    }
                }
                Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
                    let mut name = String::new();
                    while let Some(c) = chars.peek() {
                        if c.is_ascii_alphanumeric() || *c == '_' {
                            name.push(*c);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    out.push_str(self.get(&name).unwrap_or(""));
                }
                _ => out.push('$'),
            }
        }
        out
    }
}

/// A reference to an image found in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// The image as written after `ARG` substitution.
    pub image: String,
    /// True for `COPY --from=`, false for `FROM`.
    pub copy_from: bool,
}

/// What to do with one instruction.
enum Use {
    From {
        flags: Vec<String>,
        image: String,
        alias: Option<String>,
    },
    CopyFrom {
        image: String,
    },
}

/// Walks the instructions and reports, for each, the image it uses.
fn uses(lines: &[&str], build_args: &[(String, Option<String>)]) -> Vec<(Instruction, Use)> {
    let mut args = Args { vars: Vec::new() };
    let mut seen_from = false;
    let mut stages: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for ins in instructions(lines) {
        let (kw, rest) = keyword(&ins.text);
        match kw.as_str() {
            "ARG" if !seen_from => {
                for word in words(rest) {
                    let (name, default) = match word.split_once('=') {
                        Some((n, d)) => (n.to_owned(), Some(d.to_owned())),
                        None => (word.clone(), None),
                    };
                    let given = build_args
                        .iter()
                        .find(|(k, _)| *k == name)
                        .and_then(|(_, v)| v.clone());
                    if let Some(value) = given.or(default) {
                        args.vars.push((name, value));
                    }
                }
            }
            "FROM" => {
                seen_from = true;
                let parts = words(rest);
                let mut flags = Vec::new();
                let mut iter = parts.into_iter().peekable();
                while let Some(w) = iter.peek() {
                    if w.starts_with("--") {
                        flags.push(iter.next().unwrap_or_default());
                    } else {
                        break;
                    }
                }
                let Some(image) = iter.next() else { continue };
                let alias = match (iter.next(), iter.next()) {
                    (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("as") => Some(name),
                    _ => None,
                };
                let image = args.expand(&image);
                let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(&image));
                if let Some(alias) = &alias {
                    stages.push(alias.clone());
                }
                if !is_stage {
                    out.push((
                        ins,
                        Use::From {
                            flags,
                            image,
                            alias,
                        },
                    ));
                }
            }
            "COPY" => {
                let from = words(rest)
                    .into_iter()
                    .take_while(|w| w.starts_with("--"))
                    .find_map(|w| {
                        let lower = w.to_ascii_lowercase();
                        lower
                            .starts_with("--from=")
                            .then(|| w["--from=".len()..].to_owned())
                    });
                if let Some(image) = from {
                    let is_stage = image.parse::<usize>().is_ok()
                        || stages.iter().any(|s| s.eq_ignore_ascii_case(&image));
                    if !is_stage {
                        out.push((ins, Use::CopyFrom { image }));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The images a Dockerfile uses in `FROM` and `COPY --from=`, in order, stage names left out.
pub fn image_uses(text: &str, build_args: &[(String, Option<String>)]) -> Vec<ImageUse> {
    let lines: Vec<&str> = text.split('\n').collect();
    uses(&lines, build_args)
        .into_iter()
        .map(|(_, u)| match u {
            Use::From { image, .. } => ImageUse {
                image,
                copy_from: false,
            },
            Use::CopyFrom { image } => ImageUse {
                image,
                copy_from: true,
            },
        })
        .collect()
}

/// An image to substitute: references matching `selector` become `replacement`.
pub struct Substitution<'a> {
    pub selector: &'a RefSelector,
    pub replacement: &'a str,
}

/// The Dockerfile with every `FROM`/`COPY --from=` naming a substituted image rewritten,
/// and for each substitution whether it was used.
pub fn inject(
    text: &str,
    build_args: &[(String, Option<String>)],
    subs: &[Substitution<'_>],
) -> (String, Vec<bool>) {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut used = vec![false; subs.len()];
    // Physical line index → replacement text for the instruction starting there.
    let mut rewrites: Vec<(usize, usize, String)> = Vec::new();
    for (ins, u) in uses(&lines, build_args) {
        let image = match &u {
            Use::From { image, .. } | Use::CopyFrom { image } => image,
        };
        let Ok(parsed) = ImageRef::parse(image) else {
            continue;
        };
        let Some(idx) = subs.iter().position(|s| s.selector.matches(&parsed)) else {
            continue;
        };
        used[idx] = true;
        let replacement = subs[idx].replacement;
        let new_line = match u {
            Use::From { flags, alias, .. } => {
                let mut parts = vec!["FROM".to_owned()];
                parts.extend(flags);
                parts.push(replacement.to_owned());
                if let Some(alias) = alias {
                    parts.push("AS".to_owned());
                    parts.push(alias);
                }
                parts.join(" ")
            }
            Use::CopyFrom { image } => replace_copy_from(&ins.text, &image, replacement),
        };
        rewrites.push((ins.first, ins.last, new_line));
    }
    if rewrites.is_empty() {
        return (text.to_owned(), used);
    }
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut idx = 0;
    let mut next = rewrites.into_iter().peekable();
    while idx < lines.len() {
        match next.peek() {
            Some((first, last, _)) if *first == idx => {
                let last = *last;
                if let Some((_, _, line)) = next.next() {
                    out.push(line);
                }
                idx = last + 1;
            }
            _ => {
                out.push(lines[idx].to_owned());
                idx += 1;
            }
        }
    }
    (out.join("\n"), used)
}

fn replace_copy_from(instruction: &str, image: &str, replacement: &str) -> String {
    let parts = words(instruction);
    parts
        .into_iter()
        .map(|w| {
            if w.len() > "--from=".len()
                && w[.."--from=".len()].eq_ignore_ascii_case("--from=")
                && w["--from=".len()..] == *image
            {
                format!("--from={replacement}")
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    fn images(text: &str, build_args: &[(String, Option<String>)]) -> Vec<String> {
        image_uses(text, build_args)
            .into_iter()
            .map(|u| u.image)
            .collect()
    }

    #[test]
    fn from_images_with_args_stages_and_continuations() {
        let text = "# syntax=docker/dockerfile:1\nARG BASE=busybox\nARG TAG\nFROM --platform=linux/amd64 ${BASE}:${TAG:-1.0} AS build\nRUN make\nFROM \\\n  build\nFROM app-base\nCOPY --from=build /a /a\nCOPY --from=tools:2 /t /t\nCOPY --from=0 /z /z\n";
        assert_eq!(
            images(text, &[]),
            vec!["busybox:1.0", "app-base", "tools:2"]
        );
        assert_eq!(
            images(text, &args(&[("BASE", Some("alpine")), ("TAG", Some("3"))])),
            vec!["alpine:3", "app-base", "tools:2"]
        );
        // A bare build arg (no value) leaves the ARG default in place.
        assert_eq!(
            images(text, &args(&[("BASE", None)])),
            vec!["busybox:1.0", "app-base", "tools:2"]
        );
    }

    fn selector(text: &str) -> RefSelector {
        RefSelector::parse(text).unwrap()
    }

    #[test]
    fn inject_rewrites_matching_from_and_copy_from_only() {
        let text = "FROM base AS b\n# keep me\nRUN echo hi \\\n  there\nFROM docker.io/library/base:v1\nFROM other\nCOPY --from=base /x /y\n";
        let base = selector("base");
        let subs = [Substitution {
            selector: &base,
            replacement: "localhost:5100/base:tilt-0123456789abcdef",
        }];
        let (out, used) = inject(text, &[], &subs);
        assert_eq!(used, vec![true]);
        assert_eq!(
            out,
            "FROM localhost:5100/base:tilt-0123456789abcdef AS b\n# keep me\nRUN echo hi \\\n  there\nFROM localhost:5100/base:tilt-0123456789abcdef\nFROM other\nCOPY --from=localhost:5100/base:tilt-0123456789abcdef /x /y\n"
        );
    }

    #[test]
    fn inject_through_args_and_multiline_from() {
        let text = "ARG BASE=app-base\nFROM \\\n  --platform=linux/amd64 \\\n  ${BASE}\nRUN true";
        let base = selector("app-base");
        let subs = [Substitution {
            selector: &base,
            replacement: "app-base:tilt-aaaaaaaaaaaaaaaa",
        }];
        let (out, used) = inject(text, &[], &subs);
        assert_eq!(used, vec![true]);
        assert_eq!(
            out,
            "ARG BASE=app-base\nFROM --platform=linux/amd64 app-base:tilt-aaaaaaaaaaaaaaaa\nRUN true"
        );
    }

    #[test]
    fn exact_selectors_need_the_tag() {
        let text = "FROM base:dev\n";
        let exact = selector("base:prod");
        let subs = [Substitution {
            selector: &exact,
            replacement: "x:tilt-1",
        }];
        let (out, used) = inject(text, &[], &subs);
        assert_eq!(used, vec![false]);
        assert_eq!(out, text);
    }

    #[test]
    fn escape_directive_changes_the_continuation_character() {
        let text = "# escape=`\nFROM `\n  base\n";
        let base = selector("base");
        let subs = [Substitution {
            selector: &base,
            replacement: "base:tilt-2",
        }];
        let (out, used) = inject(text, &[], &subs);
        assert_eq!(used, vec![true]);
        assert_eq!(out, "# escape=`\nFROM base:tilt-2\n");
    }
}
