//! One dockerignore pattern, compiled with moby/patternmatcher's semantics onto `regex`.
//!
//! A pattern is resolved against its base directory into an absolute pattern (the way Tilt
//! feeds patterns to its matcher), so `../x` and absolute patterns work. The base directory's
//! own characters are always literal, even when the directory name contains `*` or `[`.

use std::fmt;

use regex::Regex;

use crate::error::PatternError;

/// A compiled pattern: an ignore rule, or a `!` re-include rule.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern as the user wrote it, without the `!`.
    text: String,
    exclusion: bool,
    /// The resolved absolute pattern, for display.
    absolute: String,
    /// Leading components that contain no wildcard, joined: every match starts with them.
    literal_prefix: String,
    kind: Kind,
    /// Per-component view, used to decide whether a `!` rule can reach under a directory.
    components: Vec<Component>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// No wildcard at all: the path or one of its parents equals this string.
    Exact,
    /// Anything else: an anchored regex that also accepts any path under a match.
    Regex(Regex),
}

#[derive(Debug, Clone)]
enum Component {
    Literal(String),
    /// A single component with `*`, `?` or a class: anchored regex over that component.
    Glob(Regex),
    /// A component that holds `**`, which can span any number of components.
    Deep,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Lit(char),
    Sep,
    Star,
    DoubleStar,
    Quest,
    /// A character class, already translated to a regex class that never matches `/`.
    Class(String),
}

impl Pattern {
    /// Compiles `raw` relative to `base` (an absolute, clean directory). Returns `None` for
    /// blank lines, which dockerignore skips.
    pub fn compile(base: &str, raw: &str) -> Result<Option<Pattern>, PatternError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        let (exclusion, body) = match trimmed.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed),
        };
        if body.is_empty() {
            return Err(PatternError::new(raw, "illegal exclusion pattern: \"!\""));
        }
        let tokens = tokenize(body).map_err(|reason| PatternError::new(raw, reason))?;
        let components = resolve(base, tokens);
        let literal_prefix = literal_prefix(&components);
        let flat = flatten(&components);
        let absolute = display_tokens(&flat);
        let all_literal = flat.iter().all(|t| matches!(t, Token::Lit(_) | Token::Sep));
        let kind = if all_literal {
            Kind::Exact
        } else {
            let source = format!("(?s)^{}(?:/.*)?$", to_regex(&flat));
            Kind::Regex(Regex::new(&source).map_err(|e| PatternError::new(raw, e.to_string()))?)
        };
        let components = components
            .iter()
            .map(|c| classify(c).map_err(|e| PatternError::new(raw, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Pattern {
            text: body.to_owned(),
            exclusion,
            absolute,
            literal_prefix,
            kind,
            components,
        }))
    }

    /// True for a `!` rule.
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// The absolute pattern it was resolved to.
    pub fn absolute(&self) -> &str {
        &self.absolute
    }

    /// An anchored regex equivalent to [`Pattern::matches_or_parent`], for combining
    /// patterns into one `RegexSet`.
    pub fn regex_source(&self) -> String {
        match &self.kind {
            Kind::Exact => format!("(?s)^{}(?:/.*)?$", regex::escape(&self.literal_prefix)),
            Kind::Regex(re) => re.as_str().to_owned(),
        }
    }

    /// Whether the pattern matches `path` (absolute, clean, `/`-separated) or one of its
    /// parent directories.
    pub fn matches_or_parent(&self, path: &str) -> bool {
        if !under_or_equal(path, &self.literal_prefix) {
            return false;
        }
        match &self.kind {
            Kind::Exact => under_or_equal(path, &self.literal_prefix),
            Kind::Regex(re) => re.is_match(path),
        }
    }

    /// Whether the pattern could match some path strictly under `dir` (given as its
    /// components, without the leading empty one). Errs on the side of "yes".
    pub fn could_match_under(&self, dir: &[&str]) -> bool {
        for (idx, comp) in self.components.iter().enumerate() {
            if matches!(comp, Component::Deep) {
                return true;
            }
            let Some(name) = dir.get(idx) else {
                return true;
            };
            let ok = match comp {
                Component::Literal(lit) => lit == name,
                Component::Glob(re) => re.is_match(name),
                Component::Deep => true,
            };
            if !ok {
                return false;
            }
        }
        // The pattern has no more components than `dir`: it names `dir` or an ancestor.
        false
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exclusion {
            write!(f, "!{}", self.text)
        } else {
            f.write_str(&self.text)
        }
    }
}

/// `path` equals `prefix` or lies under it. `prefix` never ends with `/` except the root.
fn under_or_equal(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() || prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn tokenize(body: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '/' => out.push(Token::Sep),
            '*' => {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    out.push(Token::DoubleStar);
                } else {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::Quest),
            '\\' => match chars.next() {
                Some(next) => out.push(Token::Lit(next)),
                None => return Err("syntax error in pattern: trailing backslash".to_owned()),
            },
            '[' => out.push(Token::Class(class(&mut chars)?)),
            other => out.push(Token::Lit(other)),
        }
    }
    Ok(out)
}

/// Reads a character class after its `[` and returns a regex class that excludes `/`,
/// since in Go's `filepath.Match` a class never matches the separator.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut negated = false;
    if chars.peek() == Some(&'^') {
        chars.next();
        negated = true;
    }
    let mut items = String::new();
    let mut count = 0;
    loop {
        let Some(ch) = chars.next() else {
            return Err("syntax error in pattern: unclosed character class".to_owned());
        };
        let ch = match ch {
            ']' => break,
            '\\' => chars
                .next()
                .ok_or_else(|| "syntax error in pattern: trailing backslash".to_owned())?,
            '-' if count > 0 && chars.peek().is_some_and(|c| *c != ']') => {
                items.push('-');
                continue;
            }
            other => other,
        };
        count += 1;
        push_class_char(&mut items, ch);
    }
    if count == 0 {
        return Err("syntax error in pattern: empty character class".to_owned());
    }
    let neg = if negated { "^" } else { "" };
    Ok(format!("[[{neg}{items}]&&[^/]]"))
}

fn push_class_char(items: &mut String, ch: char) {
    if matches!(ch, '\\' | ']' | '[' | '^' | '-' | '&' | '~') {
        items.push('\\');
    }
    items.push(ch);
}

/// Splits on separators, joins onto `base` and cleans `.`/`..` lexically like
/// `filepath.Clean(filepath.Join(base, pattern))`.
fn resolve(base: &str, tokens: Vec<Token>) -> Vec<Vec<Token>> {
    let absolute = tokens.first() == Some(&Token::Sep);
    let mut comps: Vec<Vec<Token>> = Vec::new();
    if !absolute {
        for part in base.split('/').filter(|p| !p.is_empty()) {
            comps.push(part.chars().map(Token::Lit).collect());
        }
    }
    for comp in tokens.split(|t| *t == Token::Sep) {
        if comp.is_empty() || comp == [Token::Lit('.')] {
            continue;
        }
        if comp == [Token::Lit('.'), Token::Lit('.')] {
            comps.pop();
            continue;
        }
        comps.push(comp.to_vec());
    }
    comps
}

fn literal_prefix(comps: &[Vec<Token>]) -> String {
    let mut out = String::new();
    for comp in comps {
        let mut text = String::new();
        for tok in comp {
            match tok {
                Token::Lit(c) => text.push(*c),
                _ => return if out.is_empty() { "/".to_owned() } else { out },
            }
        }
        out.push('/');
        out.push_str(&text);
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

fn flatten(comps: &[Vec<Token>]) -> Vec<Token> {
    let mut out = Vec::new();
    for comp in comps {
        out.push(Token::Sep);
        out.extend(comp.iter().cloned());
    }
    if out.is_empty() {
        out.push(Token::Sep);
    }
    out
}

fn display_tokens(tokens: &[Token]) -> String {
    let mut out = String::new();
    for tok in tokens {
        match tok {
            Token::Lit(c) => {
                if matches!(c, '*' | '?' | '[' | '\\') {
                    out.push('\\');
                }
                out.push(*c);
            }
            Token::Sep => out.push('/'),
            Token::Star => out.push('*'),
            Token::DoubleStar => out.push_str("**"),
            Token::Quest => out.push('?'),
            Token::Class(_) => out.push_str("[…]"),
        }
    }
    out
}

/// moby's glob → regex translation: `**/` → `(.*/)?`, trailing `**` → `.*`, `*` → `[^/]*`,
/// `?` → `[^/]`.
fn to_regex(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut idx = 0;
    while idx < tokens.len() {
        match &tokens[idx] {
            Token::Lit(c) => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            Token::Sep => out.push('/'),
            Token::Star => out.push_str("[^/]*"),
            Token::Quest => out.push_str("[^/]"),
            Token::Class(class) => out.push_str(class),
            Token::DoubleStar => {
                if tokens.get(idx + 1) == Some(&Token::Sep) {
                    idx += 1;
                }
                if idx + 1 >= tokens.len() {
                    out.push_str(".*");
                } else {
                    out.push_str("(?:.*/)?");
                }
            }
        }
        idx += 1;
    }
    out
}

fn classify(comp: &[Token]) -> Result<Component, String> {
    if comp.contains(&Token::DoubleStar) {
        return Ok(Component::Deep);
    }
    if comp.iter().all(|t| matches!(t, Token::Lit(_))) {
        return Ok(Component::Literal(
            comp.iter()
                .map(|t| match t {
                    Token::Lit(c) => *c,
                    _ => '\0',
                })
                .collect(),
        ));
    }
    let source = format!("(?s)^{}$", to_regex(comp));
    Regex::new(&source)
        .map(Component::Glob)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(base: &str, raw: &str) -> Pattern {
        match Pattern::compile(base, raw) {
            Ok(Some(p)) => p,
            other => panic!("pattern {raw:?} did not compile: {other:?}"),
        }
    }

    #[test]
    fn resolves_relative_and_uplevel_patterns() {
        assert_eq!(compile("/ctx", "a/b").absolute(), "/ctx/a/b");
        assert_eq!(compile("/ctx", "./a/../b/").absolute(), "/ctx/b");
        assert_eq!(compile("/ctx/sub", "../x").absolute(), "/ctx/x");
        assert_eq!(compile("/ctx", "/abs/x").absolute(), "/abs/x");
        assert_eq!(compile("/c*x", "a").absolute(), "/c\\*x/a");
    }

    #[test]
    fn base_directory_characters_are_literal() {
        let p = compile("/we[ird]/b*se", "*.txt");
        assert!(p.matches_or_parent("/we[ird]/b*se/a.txt"));
        assert!(!p.matches_or_parent("/wei/base/a.txt"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for raw in ["a[", "a\\", "!", "[]", "a[b"] {
            let err = Pattern::compile("/b", raw).err();
            assert!(err.is_some(), "{raw:?} should be rejected");
        }
        assert!(matches!(Pattern::compile("/b", "   "), Ok(None)));
    }

    #[test]
    fn could_match_under_is_conservative_only_where_needed() {
        let dir = ["ctx", "node_modules"];
        assert!(!compile("/ctx", "!*.md").could_match_under(&dir));
        assert!(compile("/ctx", "!node_modules/keep").could_match_under(&dir));
        assert!(!compile("/ctx", "!src/keep").could_match_under(&dir));
        assert!(compile("/ctx", "!**/*.md").could_match_under(&dir));
        assert!(compile("/ctx", "!node_*/x").could_match_under(&dir));
        assert!(!compile("/ctx", "!node_modules").could_match_under(&dir));
    }
}
