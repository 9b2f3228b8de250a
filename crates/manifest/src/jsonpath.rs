//! The subset of Kubernetes JSONPath that image locators use (`{.spec.image}`,
//! `{.spec.containers[*].image}`, `{..image}`, `[?(@.name=='X')]`), evaluated to the
//! locations of the matches so that injection can rewrite them in place.

use std::fmt;

use serde_json::Value;

use crate::error::ManifestError;

/// One step from a JSON value to a child.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// Where a value sits inside a document, from the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ValuePath(pub Vec<PathSeg>);

impl ValuePath {
    pub fn push_key(&self, key: &str) -> ValuePath {
        let mut segs = self.0.clone();
        segs.push(PathSeg::Key(key.to_owned()));
        ValuePath(segs)
    }

    pub fn push_index(&self, idx: usize) -> ValuePath {
        let mut segs = self.0.clone();
        segs.push(PathSeg::Index(idx));
        ValuePath(segs)
    }

    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut cur = root;
        for seg in &self.0 {
            cur = match seg {
                PathSeg::Key(k) => cur.get(k.as_str())?,
                PathSeg::Index(i) => cur.get(*i)?,
            };
        }
        Some(cur)
    }

    pub fn get_mut<'a>(&self, root: &'a mut Value) -> Option<&'a mut Value> {
        let mut cur = root;
        for seg in &self.0 {
            cur = match seg {
                PathSeg::Key(k) => cur.get_mut(k.as_str())?,
                PathSeg::Index(i) => cur.get_mut(*i)?,
            };
        }
        Some(cur)
    }

    /// The path of the enclosing value, `None` at the root.
    pub fn parent(&self) -> Option<ValuePath> {
        let (_, rest) = self.0.split_last()?;
        Some(ValuePath(rest.to_vec()))
    }
}

impl fmt::Display for ValuePath {
    /// `.spec.containers[0].image`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for seg in &self.0 {
            match seg {
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A parsed JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    /// `.*`: every member of a map or list.
    Wildcard,
    /// `..`: the value and all its descendants.
    Recursive,
    /// `[n]`, `[a:b:c]`, `[*]`.
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
        single: bool,
    },
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<Step>,
    op: Option<CompareOp>,
    right: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    None,
    Literal(Value),
    Path(Vec<Step>),
}

impl JsonPath {
    /// Parses `{.spec.image}`; the braces may be left out.
    pub fn parse(text: &str) -> Result<JsonPath, ManifestError> {
        let syntax = |message: String| ManifestError::JsonPathSyntax {
            path: text.to_owned(),
            message,
        };
        let trimmed = text.trim();
        let inner = match trimmed.strip_prefix('{') {
            Some(rest) => rest
                .strip_suffix('}')
                .ok_or_else(|| syntax(format!("unclosed action in {text}")))?,
            None => trimmed,
        };
        let inner = inner.trim();
        let inner = inner.strip_prefix('$').unwrap_or(inner);
        let steps = Parser::new(inner).steps(false).map_err(syntax)?;
        Ok(JsonPath {
            text: text.to_owned(),
            steps,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Every value the expression selects, with its location. A missing field is an error
    /// (`foo is not found`), as in Kubernetes' JSONPath without `allowMissingKeys`.
    pub fn find<'a>(&self, doc: &'a Value) -> Result<Vec<(ValuePath, &'a Value)>, ManifestError> {
        eval(&self.steps, vec![(ValuePath::default(), doc)]).map_err(|message| {
            ManifestError::JsonPathEval {
                path: self.text.clone(),
                message,
            }
        })
    }

    /// Every string the expression selects; anything else is an error (Tilt's rule).
    pub fn find_strings<'a>(
        &self,
        doc: &'a Value,
    ) -> Result<Vec<(ValuePath, &'a str)>, ManifestError> {
        self.find(doc)?
            .into_iter()
            .map(|(path, value)| match value.as_str() {
                Some(s) => Ok((path, s)),
                None => Err(ManifestError::JsonPathNotString {
                    path: self.text.clone(),
                    found: go_type_name(value).to_owned(),
                }),
            })
            .collect()
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Type names as Go prints them, since Tilt's messages show them.
pub(crate) fn go_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

type Matches<'a> = Vec<(ValuePath, &'a Value)>;

fn eval<'a>(steps: &[Step], mut cur: Matches<'a>) -> Result<Matches<'a>, String> {
    for step in steps {
        cur = eval_step(step, cur)?;
    }
    Ok(cur)
}

fn eval_step<'a>(step: &Step, input: Matches<'a>) -> Result<Matches<'a>, String> {
    let mut out = Vec::new();
    match step {
        Step::Field(name) => {
            if input.is_empty() {
                return Ok(out);
            }
            for (path, value) in &input {
                if let Some(child) = value.as_object().and_then(|m| m.get(name)) {
                    out.push((path.push_key(name), child));
                }
            }
            if out.is_empty() {
                return Err(format!("{name} is not found"));
            }
        }
        Step::Wildcard => {
            for (path, value) in input {
                push_children(&path, value, &mut out);
            }
        }
        Step::Recursive => {
            for (path, value) in input {
                push_recursive(path, value, &mut out);
            }
        }
        Step::Slice {
            start,
            end,
            step,
            single,
        } => {
            for (path, value) in input {
                if value.is_null() {
                    continue;
                }
                let Some(items) = value.as_array() else {
                    return Err(format!("{} is not array or slice", go_type_name(value)));
                };
                let len = items.len() as i64;
                let mut from = start.unwrap_or(0);
                if from < 0 {
                    from += len;
                }
                let mut to = match (end, single) {
                    (Some(e), _) => *e,
                    (None, true) => from + 1,
                    (None, false) => len,
                };
                if to < 0 {
                    to += len;
                }
                if from == to {
                    continue;
                }
                if from < 0 || from >= len {
                    return Err(format!(
                        "array index out of bounds: index {from}, length {len}"
                    ));
                }
                if to < 0 || to > len {
                    return Err(format!(
                        "array index out of bounds: index {}, length {len}",
                        to - 1
                    ));
                }
                if from > to {
                    return Err(format!(
                        "starting index {from} is greater than ending index {to}"
                    ));
                }
                let stride = step.unwrap_or(1);
                if stride <= 0 {
                    return Err("step must be > 0".to_owned());
                }
                let mut idx = from;
                while idx < to {
                    let i = idx as usize;
                    out.push((path.push_index(i), &items[i]));
                    idx += stride;
                }
            }
        }
        Step::Filter(filter) => {
            for (path, value) in input {
                let items: Vec<(ValuePath, &Value)> = match value {
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (path.push_index(i), v))
                        .collect(),
                    Value::Object(map) => map.iter().map(|(k, v)| (path.push_key(k), v)).collect(),
                    other => {
                        return Err(format!(
                            "{other} is not array, slice or map and cannot be filtered"
                        ));
                    }
                };
                for (item_path, item) in items {
                    if filter_passes(filter, &item_path, item)? {
                        out.push((item_path, item));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn push_children<'a>(path: &ValuePath, value: &'a Value, out: &mut Matches<'a>) {
    match value {
        Value::Object(map) => out.extend(map.iter().map(|(k, v)| (path.push_key(k), v))),
        Value::Array(items) => out.extend(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (path.push_index(i), v)),
        ),
        _ => {}
    }
}

fn push_recursive<'a>(path: ValuePath, value: &'a Value, out: &mut Matches<'a>) {
    let mut children = Vec::new();
    push_children(&path, value, &mut children);
    if children.is_empty() {
        return;
    }
    out.push((path, value));
    for (child_path, child) in children {
        push_recursive(child_path, child, out);
    }
}

fn filter_passes(filter: &Filter, path: &ValuePath, item: &Value) -> Result<bool, String> {
    let lefts = eval(&filter.left, vec![(path.clone(), item)]);
    let Some(op) = filter.op else {
        return Ok(lefts.is_ok_and(|l| !l.is_empty()));
    };
    let lefts = lefts?;
    let left = match lefts.as_slice() {
        [] => return Ok(false),
        [(_, one)] => *one,
        _ => return Err("can only compare one element at a time".to_owned()),
    };
    let right_value;
    let right = match &filter.right {
        Operand::None => return Ok(false),
        Operand::Literal(v) => v,
        Operand::Path(steps) => {
            let rights = eval(steps, vec![(path.clone(), item)])?;
            match rights.as_slice() {
                [] => return Ok(false),
                [(_, one)] => {
                    right_value = (*one).clone();
                    &right_value
                }
                _ => return Err("can only compare one element at a time".to_owned()),
            }
        }
    };
    compare(left, op, right)
}

fn compare(left: &Value, op: CompareOp, right: &Value) -> Result<bool, String> {
    use std::cmp::Ordering;
    let ordering = match (left, right) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ordering) {
        (CompareOp::Eq, Some(o)) => Ok(o == Ordering::Equal),
        (CompareOp::Ne, Some(o)) => Ok(o != Ordering::Equal),
        (CompareOp::Eq, None) => Ok(false),
        (CompareOp::Ne, None) => Ok(true),
        (CompareOp::Lt, Some(o)) => Ok(o == Ordering::Less),
        (CompareOp::Gt, Some(o)) => Ok(o == Ordering::Greater),
        (CompareOp::Le, Some(o)) => Ok(o != Ordering::Greater),
        (CompareOp::Ge, Some(o)) => Ok(o != Ordering::Less),
        (_, None) => Err("incompatible types for comparison".to_owned()),
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

/// Characters that end a field name.
fn ends_field(c: char) -> bool {
    matches!(
        c,
        '.' | '[' | ']' | ',' | ' ' | '$' | '@' | '{' | '}' | '(' | ')' | '=' | '!' | '<' | '>'
    )
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Parses steps until the end, or (inside a filter) until a comparison or `)`.
    fn steps(&mut self, in_filter: bool) -> Result<Vec<Step>, String> {
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some('.') => {
                    self.bump();
                    match self.peek() {
                        Some('.') => {
                            self.bump();
                            steps.push(Step::Recursive);
                            if self.peek().is_some_and(|c| !ends_field(c) && c != '*') {
                                steps.push(Step::Field(self.field_name()));
                            }
                        }
                        Some('*') => {
                            self.bump();
                            steps.push(Step::Wildcard);
                        }
                        Some(c) if !ends_field(c) => steps.push(Step::Field(self.field_name())),
                        // A lone trailing `.` (as in `{.}`) selects the current value.
                        _ => {}
                    }
                }
                Some('[') => {
                    self.bump();
                    steps.push(self.bracket()?);
                }
                Some(c) if in_filter && (c == ')' || c == ' ' || "=!<>".contains(c)) => break,
                Some(_) => {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != ' ' && c != '}') {
                        self.bump();
                    }
                    return Err(format!(
                        "unrecognized identifier {}",
                        &self.text[start..self.pos]
                    ));
                }
            }
        }
        Ok(steps)
    }

    fn field_name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| !ends_field(c)) {
            self.bump();
        }
        self.text[start..self.pos].to_owned()
    }

    fn bracket(&mut self) -> Result<Step, String> {
        self.skip_spaces();
        match self.peek() {
            Some('?') => {
                self.bump();
                self.expect('(')?;
                let filter = self.filter()?;
                self.expect(')')?;
                self.skip_spaces();
                self.expect(']')?;
                Ok(Step::Filter(Box::new(filter)))
            }
            Some(q @ ('\'' | '"')) => {
                self.bump();
                let key = self.quoted(q)?;
                self.skip_spaces();
                self.expect(']')?;
                Ok(Step::Field(key))
            }
            Some('*') => {
                self.bump();
                self.skip_spaces();
                self.expect(']')?;
                Ok(Step::Slice {
                    start: None,
                    end: None,
                    step: None,
                    single: false,
                })
            }
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != ']') {
                    self.bump();
                }
                let body = self.text[start..self.pos].trim();
                self.expect(']')?;
                parse_slice(body)
            }
        }
    }

    fn filter(&mut self) -> Result<Filter, String> {
        self.skip_spaces();
        self.expect('@')?;
        let left = self.steps(true)?;
        self.skip_spaces();
        let op = match self.rest() {
            r if r.starts_with("==") => Some((CompareOp::Eq, 2)),
            r if r.starts_with("!=") => Some((CompareOp::Ne, 2)),
            r if r.starts_with("<=") => Some((CompareOp::Le, 2)),
            r if r.starts_with(">=") => Some((CompareOp::Ge, 2)),
            r if r.starts_with('<') => Some((CompareOp::Lt, 1)),
            r if r.starts_with('>') => Some((CompareOp::Gt, 1)),
            _ => None,
        };
        let Some((op, width)) = op else {
            return Ok(Filter {
                left,
                op: None,
                right: Operand::None,
            });
        };
        self.pos += width;
        self.skip_spaces();
        let right = match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.bump();
                Operand::Literal(Value::String(self.quoted(q)?))
            }
            Some('@') => {
                self.bump();
                Operand::Path(self.steps(true)?)
            }
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != ')' && c != ' ') {
                    self.bump();
                }
                let word = &self.text[start..self.pos];
                let literal = match word {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => serde_json::from_str::<serde_json::Number>(word)
                        .map(Value::Number)
                        .map_err(|_| format!("unrecognized filter operand {word}"))?,
                };
                Operand::Literal(literal)
            }
        };
        self.skip_spaces();
        Ok(Filter {
            left,
            op: Some(op),
            right,
        })
    }

    fn quoted(&mut self, quote: char) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err("unterminated quoted string".to_owned()),
                Some('\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => return Err("unterminated quoted string".to_owned()),
                },
                Some(c) if c == quote => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.bump();
        }
    }

    fn expect(&mut self, want: char) -> Result<(), String> {
        match self.bump() {
            Some(c) if c == want => Ok(()),
            Some(c) => Err(format!("expected {want:?}, found {c:?}")),
            None => Err(format!("expected {want:?}, found end of expression")),
        }
    }
}

fn parse_slice(body: &str) -> Result<Step, String> {
    if body.contains(',') {
        return Err(format!("unions are not supported: [{body}]"));
    }
    let parts: Vec<&str> = body.split(':').map(str::trim).collect();
    if parts.len() > 3 || body.is_empty() {
        return Err(format!("invalid array index [{body}]"));
    }
    let num = |s: &str| -> Result<Option<i64>, String> {
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse::<i64>()
                .map(Some)
                .map_err(|_| format!("invalid array index {s}"))
        }
    };
    Ok(Step::Slice {
        start: num(parts[0])?,
        end: match parts.get(1) {
            Some(p) => num(p)?,
            None => None,
        },
        step: match parts.get(2) {
            Some(p) => num(p)?,
            None => None,
        },
        single: parts.len() == 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_parse() {
        assert_eq!(
            parse_slice("1:3"),
            Ok(Step::Slice {
                start: Some(1),
                end: Some(3),
                step: None,
                single: false
            })
        );
        assert_eq!(
            parse_slice("-1"),
            Ok(Step::Slice {
                start: Some(-1),
                end: None,
                step: None,
                single: true
            })
        );
        assert!(parse_slice("a").is_err());
        assert!(parse_slice("0,1").is_err());
    }

    #[test]
    fn value_paths_read_and_write() {
        let mut doc = serde_json::json!({"a": [{"b": 1}]});
        let path = ValuePath::default()
            .push_key("a")
            .push_index(0)
            .push_key("b");
        assert_eq!(path.to_string(), ".a[0].b");
        assert_eq!(path.get(&doc), Some(&serde_json::json!(1)));
        if let Some(slot) = path.get_mut(&mut doc) {
            *slot = serde_json::json!(2);
        }
        assert_eq!(doc, serde_json::json!({"a": [{"b": 2}]}));
        assert_eq!(
            path.parent().map(|p| p.to_string()),
            Some(".a[0]".to_owned())
        );
    }
}
