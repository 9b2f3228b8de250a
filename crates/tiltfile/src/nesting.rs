//! A cheap scan, before parsing, that rejects source nested deeper than [`MAX_NESTING`].
//!
//! starlark's parser, compiler and AST drop recurse once per level of nesting, and a stack
//! overflow aborts the process: it cannot be caught. So depth is measured on the text first
//! and excessive depth becomes an ordinary Tiltfile error with file:line:col.
//!
//! The measure is an upper bound of the syntax tree's depth at each token: open brackets,
//! indented blocks, and operators chained in the same expression (`a + b + c` nests to the
//! left, `- - x` and `not not x` to the right). Commas, colons, semicolons and line ends
//! and `=` start a new expression. Strings and comments are skipped. Each operator character
//! counts (so `**` counts 2): over-counting only matters for absurdly long expressions.

/// The deepest nesting accepted. Far beyond real Tiltfiles (a few dozen levels), far below
/// what the evaluation stack ([`crate::EVAL_STACK_BYTES`]) holds: about 60,000 levels of
/// nested lists in a debug build, the most stack-hungry construct measured.
pub const MAX_NESTING: usize = 5_000;

/// Where the source first nests deeper than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooDeep {
    /// Byte offset of the token that went over the limit.
    pub(crate) offset: usize,
}

const KEYWORD_OPERATORS: [&str; 8] = ["and", "or", "not", "if", "else", "lambda", "in", "is"];

/// Scans `source` and returns where it first nests deeper than `limit`.
pub(crate) fn check(source: &str, limit: usize) -> Result<(), TooDeep> {
    let bytes = source.as_bytes();
    // One chain counter per open bracket, plus the statement level at index 0.
    let mut chains: Vec<usize> = vec![0];
    // Indentation widths of the enclosing blocks; the top level is width 0.
    let mut indents: Vec<usize> = vec![0];
    // Sum of `chains`, plus open brackets, plus enclosing blocks: the depth bound.
    let mut depth: usize = 0;
    let mut at_line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        if at_line_start {
            at_line_start = false;
            let start = i;
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                i += 1;
            }
            let blank = i >= bytes.len() || matches!(bytes[i], b'\n' | b'\r' | b'#');
            if !blank && chains.len() == 1 {
                let width = i - start;
                while indents.len() > 1 && indents.last().is_some_and(|&w| w > width) {
                    indents.pop();
                    depth -= 1;
                }
                if indents.last().is_some_and(|&w| w < width) {
                    indents.push(width);
                    depth += 1;
                    if depth > limit {
                        return Err(TooDeep { offset: i });
                    }
                }
            }
            continue;
        }
        let c = bytes[i];
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\n' if chains.len() == 1 => {
                depth -= chains[0];
                chains[0] = 0;
                at_line_start = true;
            }
            b'\\' if bytes.get(i + 1) == Some(&b'\n') => {
                // A line continuation: the statement goes on.
                i += 2;
                continue;
            }
            b'\'' | b'"' => {
                i = skip_string(bytes, i);
                continue;
            }
            b'(' | b'[' | b'{' => {
                chains.push(0);
                depth += 1;
                if depth > limit {
                    return Err(TooDeep { offset: i });
                }
            }
            b')' | b']' | b'}' if chains.len() > 1 => {
                let inner = chains.pop().unwrap_or(0);
                depth -= inner + 1;
                // The closed group may be called, indexed or operated on: one more level.
                bump(&mut chains, &mut depth);
                if depth > limit {
                    return Err(TooDeep { offset: i });
                }
            }
            b'=' if bytes.get(i + 1) == Some(&b'=') => {
                bump(&mut chains, &mut depth);
                if depth > limit {
                    return Err(TooDeep { offset: i });
                }
                i += 2;
                continue;
            }
            // The end of `<=`, `>=`, `!=`, counted at their first character.
            b'=' if i > 0 && matches!(bytes[i - 1], b'<' | b'>' | b'!') => {}
            // Assignment, augmented assignment and keyword arguments start an expression.
            b',' | b';' | b':' | b'=' => {
                if let Some(last) = chains.last_mut() {
                    depth -= *last;
                    *last = 0;
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>' | b'!'
            | b'.' => {
                bump(&mut chains, &mut depth);
                if depth > limit {
                    return Err(TooDeep { offset: i });
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &source[start..i];
                // A string prefix (r'...', b"...") belongs to the string that follows.
                if KEYWORD_OPERATORS.contains(&word) {
                    bump(&mut chains, &mut depth);
                    if depth > limit {
                        return Err(TooDeep { offset: start });
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn bump(chains: &mut [usize], depth: &mut usize) {
    if let Some(last) = chains.last_mut() {
        *last += 1;
        *depth += 1;
    }
}

/// Returns the offset just past the string that starts at `start` (a quote). An unclosed
/// string runs to the end: the parser reports it.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        match bytes[i] {
            // Raw strings too cannot end in an escaped quote, so skipping is right for both.
            b'\\' => i += 2,
            b'\n' if !triple => return i,
            q if q == quote => {
                if !triple {
                    return i + 1;
                }
                if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                    return i + 3;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::{TooDeep, check};

    fn depth_ok(source: &str, limit: usize) -> bool {
        check(source, limit).is_ok()
    }

    #[test]
    fn brackets_count_and_close() {
        assert!(depth_ok("x = ((((1))))\ny = ((((2))))\n", 6));
        assert_eq!(check("x = (((1)))", 2), Err(TooDeep { offset: 6 }));
        assert!(depth_ok("f(a = (1), b = (2))", 2));
        assert!(!depth_ok("x = 1 == 1 == 1", 1));
        assert!(depth_ok("x = 1 <= 1", 1));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let source = "x = '((((' + \"[[[[\" # {{{{\ny = '''\n((((\n''' + r'\\'(((('\n";
        assert!(depth_ok(source, 4));
    }

    #[test]
    fn operator_chains_count_until_a_comma_or_line_end() {
        assert!(!depth_ok("x = 1 + 1 + 1 + 1 + 1", 3));
        assert!(depth_ok("x = 1 + 1 + 1 + 1 + 1", 4));
        assert!(depth_ok("x = [1 + 1, 1 + 1, 1 + 1]\ny = 1 + 1", 4));
        assert!(!depth_ok("x = - - - - - 1", 4));
        assert!(!depth_ok("x = not not not not not True", 4));
    }

    #[test]
    fn indented_blocks_count() {
        let nested: String = (0..6)
            .map(|i| format!("{}if x:\n", " ".repeat(i)))
            .collect();
        assert!(!depth_ok(&format!("{nested}      pass\n"), 4));
        let flat = "if x:\n  pass\nif y:\n  pass\nif z:\n  pass\n";
        assert!(depth_ok(flat, 2));
    }

    #[test]
    fn continuation_lines_inside_brackets_keep_depth() {
        assert!(depth_ok("x = [\n  1,\n  2,\n]\n", 2));
        assert!(!depth_ok("x = [[\n[[\n1]]]]\n", 3));
    }
}
