//! Makes Tilt's `while` loops run on starlark-rust, which rejects the keyword.
//!
//! Tilt's Starlark (go.starlark.net with `While` on) accepts `while COND:`. We rewrite each
//! such header, before parsing, into
//!
//! ```text
//! for _ in __lilt_while__():
//!     if not (COND): break
//! ```
//!
//! where `__lilt_while__()` is an effectively endless range; runaway loops are stopped by
//! the evaluator's step budget like any other loop. The rewrite inserts lines, so it also
//! returns a [`LineMap`] that translates positions in the rewritten text back to the
//! user's file, and every diagnostic goes through it.

/// Maps rewritten (line, column) positions back to the original source. 0-based.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineMap {
    /// One entry per rewritten line.
    lines: Vec<MappedLine>,
}

#[derive(Debug, Clone, Copy)]
struct MappedLine {
    orig_line: usize,
    /// For an inserted condition check: the rewritten column where the condition starts and
    /// the original column it came from.
    shift: Option<(usize, usize)>,
}

impl LineMap {
    /// Translates a 0-based rewritten position to a 0-based original position.
    pub(crate) fn map(&self, line: usize, col: usize) -> (usize, usize) {
        match self.lines.get(line) {
            None => (line, col),
            Some(m) => match m.shift {
                None => (m.orig_line, col),
                Some((new_start, orig_start)) => {
                    (m.orig_line, orig_start + col.saturating_sub(new_start))
                }
            },
        }
    }
}

/// The result of [`rewrite_while`]: the text to parse and, when it differs from the input,
/// the map back.
pub(crate) struct Rewritten {
    pub(crate) source: String,
    pub(crate) map: Option<LineMap>,
}

/// The name of the builtin that the rewritten loops iterate over.
pub(crate) const WHILE_ITER: &str = "__lilt_while__";

/// Lexical state carried across lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single(u8),
    Triple(u8),
}

/// Rewrites every `while` statement; returns the input unchanged when there is none.
pub(crate) fn rewrite_while(src: &str) -> Rewritten {
    if !src.contains("while") {
        return Rewritten {
            source: src.to_owned(),
            map: None,
        };
    }
    let lines: Vec<&str> = src.split('\n').collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 4);
    let mut map = LineMap::default();
    let mut changed = false;
    let mut quote = Quote::None;
    let mut depth: i32 = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let at_stmt_start = quote == Quote::None && depth == 0;
        if at_stmt_start && let Some(header) = parse_while_header(&lines, i) {
            changed = true;
            let indent = &line[..header.keyword_col];
            out.push(format!("{indent}for _ in {WHILE_ITER}():"));
            map.lines.push(MappedLine {
                orig_line: i,
                shift: None,
            });
            // Lines that held a multi-line condition become blank, so later lines keep
            // their numbers apart from the inserted check.
            for extra in i + 1..=header.end_line {
                out.push(String::new());
                map.lines.push(MappedLine {
                    orig_line: extra,
                    shift: None,
                });
            }
            let body_indent = match &header.inline_body {
                Some(_) => format!("{indent}    "),
                None => next_indent(&lines, header.end_line + 1)
                    .unwrap_or_else(|| format!("{indent}    ")),
            };
            let prefix = format!("{body_indent}if not (");
            let check = format!("{prefix}{}): break", header.condition);
            map.lines.push(MappedLine {
                orig_line: i,
                shift: Some((prefix.chars().count(), header.condition_col)),
            });
            out.push(check);
            if let Some(body) = header.inline_body {
                out.push(format!("{body_indent}{body}"));
                map.lines.push(MappedLine {
                    orig_line: header.end_line,
                    shift: None,
                });
            }
            i = header.end_line + 1;
            continue;
        }
        scan_line(line, &mut quote, &mut depth);
        out.push(line.to_owned());
        map.lines.push(MappedLine {
            orig_line: i,
            shift: None,
        });
        i += 1;
    }
    if !changed {
        return Rewritten {
            source: src.to_owned(),
            map: None,
        };
    }
    Rewritten {
        source: out.join("\n"),
        map: Some(map),
    }
}

struct WhileHeader {
    keyword_col: usize,
    condition: String,
    /// Character column of the condition's first character in the original line.
    condition_col: usize,
    end_line: usize,
    inline_body: Option<String>,
}

fn parse_while_header(lines: &[&str], start: usize) -> Option<WhileHeader> {
    let line = lines[start];
    let trimmed = line.trim_start_matches([' ', '\t']);
    let keyword_col = line.len() - trimmed.len();
    let rest = trimmed.strip_prefix("while")?;
    if !rest.starts_with([' ', '\t', '(', '[', '{', '"', '\'']) {
        return None;
    }
    // Find the header's closing colon at bracket depth 0, outside strings, possibly on a
    // later line when brackets span lines.
    let mut cond = String::new();
    let mut quote = Quote::None;
    let mut depth: i32 = 0;
    let mut line_idx = start;
    let mut text: &str = rest;
    let cond_byte_start = line.len() - rest.len();
    loop {
        let bytes = text.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            let b = bytes[j];
            match quote {
                Quote::None => match b {
                    b'#' => break,
                    b'\'' | b'"' => {
                        if bytes[j..].starts_with(&[b, b, b]) {
                            quote = Quote::Triple(b);
                            j += 2;
                        } else {
                            quote = Quote::Single(b);
                        }
                    }
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => depth -= 1,
                    b':' if depth == 0 => {
                        cond.push_str(&text[..j]);
                        let after = text[j + 1..].trim();
                        let inline_body = if after.is_empty() || after.starts_with('#') {
                            None
                        } else {
                            Some(after.to_owned())
                        };
                        let condition = cond.trim().to_owned();
                        let leading = cond.len() - cond.trim_start().len();
                        let condition_col = line[..cond_byte_start].chars().count()
                            + cond[..leading].chars().count();
                        if condition.is_empty() {
                            return None;
                        }
                        return Some(WhileHeader {
                            keyword_col,
                            condition,
                            condition_col,
                            end_line: line_idx,
                            inline_body,
                        });
                    }
                    _ => {}
                },
                Quote::Single(q) => {
                    if b == b'\\' {
                        j += 1;
                    } else if b == q {
                        quote = Quote::None;
                    }
                }
                Quote::Triple(q) => {
                    if b == b'\\' {
                        j += 1;
                    } else if bytes[j..].starts_with(&[q, q, q]) {
                        quote = Quote::None;
                        j += 2;
                    }
                }
            }
            j += 1;
        }
        // The header continues on the next line only inside brackets or a triple string.
        if depth <= 0 && !matches!(quote, Quote::Triple(_)) {
            return None;
        }
        let upto = text
            .find('#')
            .filter(|_| quote == Quote::None)
            .unwrap_or(text.len());
        cond.push_str(&text[..upto]);
        cond.push(if matches!(quote, Quote::Triple(_)) {
            '\n'
        } else {
            ' '
        });
        line_idx += 1;
        text = lines.get(line_idx)?;
    }
}

/// The indentation of the first non-blank, non-comment line at or after `from`.
fn next_indent(lines: &[&str], from: usize) -> Option<String> {
    lines[from.min(lines.len())..].iter().find_map(|l| {
        let t = l.trim_start_matches([' ', '\t']);
        if t.is_empty() || t.starts_with('#') {
            None
        } else {
            Some(l[..l.len() - t.len()].to_owned())
        }
    })
}

/// Advances the lexical state over one line, so statement starts are found correctly.
fn scan_line(line: &str, quote: &mut Quote, depth: &mut i32) {
    let bytes = line.as_bytes();
    let mut j = 0;
    while j < bytes.len() {
        let b = bytes[j];
        match *quote {
            Quote::None => match b {
                b'#' => break,
                b'\'' | b'"' => {
                    if bytes[j..].starts_with(&[b, b, b]) {
                        *quote = Quote::Triple(b);
                        j += 2;
                    } else {
                        *quote = Quote::Single(b);
                    }
                }
                b'(' | b'[' | b'{' => *depth += 1,
                b')' | b']' | b'}' => *depth = (*depth - 1).max(0),
                _ => {}
            },
            Quote::Single(q) => {
                if b == b'\\' {
                    j += 1;
                } else if b == q {
                    *quote = Quote::None;
                }
            }
            Quote::Triple(q) => {
                if b == b'\\' {
                    j += 1;
                } else if bytes[j..].starts_with(&[q, q, q]) {
                    *quote = Quote::None;
                    j += 2;
                }
            }
        }
        j += 1;
    }
    // A single-quoted string cannot span lines; a backslash continuation keeps the
    // statement open, which we model as one bracket level for the next line.
    if let Quote::Single(_) = quote {
        *quote = Quote::None;
    }
}

/// Words starlark-rust reserves that go.starlark.net accepts as identifiers (Tilt's own
/// tests `load('assert.tilt', 'assert')`), with same-length stand-ins so columns stay put.
const GO_IDENTIFIERS: &[(&str, &str)] =
    &[("assert", "asser_"), ("async", "asyn_"), ("await", "awai_")];

/// Renames identifiers that Go's Starlark allows but starlark-rust reserves, outside
/// strings and comments, plus the symbol names in `load()` statements. Returns the input
/// unchanged when there is nothing to rename.
pub(crate) fn rename_reserved(src: &str) -> String {
    if !GO_IDENTIFIERS.iter().any(|(word, _)| src.contains(word)) {
        return src.to_owned();
    }
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut j = 0;
    let mut depth: i32 = 0;
    // The bracket depth inside a `load(` statement, and how many strings it has had.
    let mut load: Option<(i32, usize)> = None;
    // The last byte of the previous token, to tell `x.load(` from a `load(` statement.
    let mut last_token_end: u8 = b'\n';
    while j < bytes.len() {
        let b = bytes[j];
        let prev_token_end = last_token_end;
        if !b.is_ascii_whitespace() && b != b'#' {
            last_token_end = b;
        }
        match b {
            b'#' => {
                let end = src[j..].find('\n').map_or(src.len(), |k| j + k);
                out.push_str(&src[j..end]);
                j = end;
            }
            b'\'' | b'"' => {
                let triple = bytes[j..].starts_with(&[b, b, b]);
                let quote_len = if triple { 3 } else { 1 };
                let mut k = j + quote_len;
                loop {
                    if k >= bytes.len() {
                        break;
                    }
                    if bytes[k] == b'\\' {
                        k += 2;
                        continue;
                    }
                    if triple && bytes[k..].starts_with(&[b, b, b]) {
                        k += 3;
                        break;
                    }
                    if !triple && (bytes[k] == b || bytes[k] == b'\n') {
                        k += 1;
                        break;
                    }
                    k += 1;
                }
                let k = k.min(bytes.len());
                let literal = &src[j..k];
                let renamed = match &mut load {
                    Some((d, n)) if *d == depth => {
                        *n += 1;
                        let inner = literal.get(quote_len..literal.len().saturating_sub(quote_len));
                        let hit = GO_IDENTIFIERS.iter().find(|(w, _)| Some(*w) == inner);
                        match hit {
                            Some((_, stand_in)) if *n > 1 => {
                                let q = &literal[..quote_len];
                                Some(format!("{q}{stand_in}{q}"))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                out.push_str(renamed.as_deref().unwrap_or(literal));
                j = k;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                out.push(b as char);
                j += 1;
            }
            b')' | b']' | b'}' => {
                depth -= 1;
                if load.is_some_and(|(d, _)| d > depth) {
                    load = None;
                }
                out.push(b as char);
                j += 1;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let mut k = j;
                while k < bytes.len() && (bytes[k].is_ascii_alphanumeric() || bytes[k] == b'_') {
                    k += 1;
                }
                let word = &src[j..k];
                let preceded_by_dot = prev_token_end == b'.';
                match GO_IDENTIFIERS.iter().find(|(w, _)| *w == word) {
                    Some((_, stand_in)) => out.push_str(stand_in),
                    None => {
                        if word == "load"
                            && !preceded_by_dot
                            && src[k..].trim_start().starts_with('(')
                        {
                            load = Some((depth + 1, 0));
                        }
                        out.push_str(word);
                    }
                }
                j = k;
            }
            _ if b.is_ascii_digit() => {
                // Numbers such as `1e5` must not start an identifier midway.
                let mut k = j;
                while k < bytes.len() && (bytes[k].is_ascii_alphanumeric() || bytes[k] == b'.') {
                    k += 1;
                }
                out.push_str(&src[j..k]);
                j = k;
            }
            _ => {
                let ch_len = src[j..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&src[j..j + ch_len]);
                j += ch_len;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_sources_without_while_alone() {
        let r = rewrite_while("x = 1\nworthwhile = 2\n");
        assert_eq!(r.source, "x = 1\nworthwhile = 2\n");
        assert!(r.map.is_none());
    }

    #[test]
    fn rewrites_block_while_and_maps_lines() {
        let src = "i = 0\nwhile i < 3:\n    i += 1\nprint(i)\n";
        let r = rewrite_while(src);
        assert_eq!(
            r.source,
            "i = 0\nfor _ in __lilt_while__():\n    if not (i < 3): break\n    i += 1\nprint(i)\n"
        );
        let map = r.map.expect("map");
        assert_eq!(map.map(4, 0), (3, 0), "print(i) keeps its original line");
        assert_eq!(
            map.map(2, 12),
            (1, 6),
            "the condition maps back to the while line"
        );
    }

    #[test]
    fn rewrites_inline_body_and_multiline_condition() {
        let r = rewrite_while("while (a and\n       b): a = False\n");
        assert_eq!(
            r.source,
            "for _ in __lilt_while__():\n\n    if not ((a and        b)): break\n    a = False\n"
        );
    }

    #[test]
    fn renames_go_only_identifiers_outside_strings() {
        let src =
            "load('assert.tilt', 'assert', a2='await')\nassert.equals('assert', x) # assert\n";
        assert_eq!(
            rename_reserved(src),
            "load('assert.tilt', 'asser_', a2='awai_')\nasser_.equals('assert', x) # assert\n"
        );
    }

    #[test]
    fn ignores_while_inside_strings() {
        let src = "s = \"\"\"\nwhile x:\n\"\"\"\n";
        assert!(rewrite_while(src).map.is_none());
    }
}
