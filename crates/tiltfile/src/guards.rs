//! Source rewrites that bring operations starlark runs unchecked to lilt's size checks
//! (`growth.rs`): `x *= n` becomes `x = x * n`, and `OBJ.replace(...)` / `OBJ.join(...)`
//! become `__lilt_method__(OBJ, "replace", ...)`.
//!
//! starlark-rust replaces binary operators with calls only in expressions; an augmented
//! assignment is a statement of its own, and a method call has no hook at all. The rewrite
//! is textual (the AST cannot be rebuilt through starlark's API) and keeps every line where
//! it was; the columns it shifts are recorded in [`Insertions`] so diagnostics still point
//! into the user's text. A `*=` target whose evaluation could have effects (`f()[0] *= n`)
//! would be evaluated twice by the rewrite, so it is left alone, as is a method call written
//! across lines or with spaces around its dot (the rewrite only ever inserts text).

use starlark::codemap::Span;
use starlark::syntax::AstModule;
use starlark_syntax::syntax::ast::{AssignOp, AssignTargetP, AstExpr, AstStmt, ExprP, StmtP};
use starlark_syntax::syntax::uniplate::Visit;

use crate::growth::{CHECKED_METHODS, METHOD_BUILTIN};

/// Characters inserted into lines by the rewrite: `(line, column before the insertion in the
/// original text, inserted length)`, 0-based, in character columns, sorted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Insertions(Vec<(usize, usize, usize)>);

impl Insertions {
    /// Translates a column of the rewritten text back to the text before the rewrite; a
    /// column inside inserted text maps to where it was inserted.
    pub(crate) fn map(&self, line: usize, col: usize) -> usize {
        let mut shift = 0;
        for &(_, at, len) in self.0.iter().filter(|(l, _, _)| *l == line) {
            let start = at + shift;
            if col < start {
                break;
            }
            if col < start + len {
                return at;
            }
            shift += len;
        }
        col - shift
    }
}

/// The rewritten text and its column map.
pub(crate) struct Rewritten {
    pub(crate) source: String,
    pub(crate) insertions: Insertions,
}

/// Whether `source` may hold something [`rewrite`] changes (a cheap test before parsing).
pub(crate) fn may_rewrite(source: &str) -> bool {
    source.contains("*=")
        || CHECKED_METHODS
            .iter()
            .any(|m| source.contains(&format!(".{m}(")))
}

/// Rewrites every `TARGET *= VALUE` of `ast` (parsed from `source`) whose target is free of
/// calls and fits on one line, and every `.replace(`/`.join(` call; `None` when there is none.
pub(crate) fn rewrite(ast: &AstModule, source: &str) -> Option<Rewritten> {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    collect(ast.statement(), source, &mut edits);
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|(begin, _, _)| *begin);
    let mut out = String::with_capacity(source.len() + edits.len() * 16);
    let mut insertions = Vec::new();
    let mut copied = 0;
    let mut cursor = Cursor::new(source);
    for (begin, end, text) in edits {
        out.push_str(&source[copied..begin]);
        let (line, col) = cursor.advance_to(begin);
        let replaced = source[begin..end].chars().count();
        let inserted = text.chars().count();
        if inserted > replaced {
            insertions.push((line, col, inserted - replaced));
        }
        out.push_str(&text);
        copied = end;
    }
    out.push_str(&source[copied..]);
    Some(Rewritten {
        source: out,
        insertions: Insertions(insertions),
    })
}

/// The edits for `stmt` and everything under it: byte ranges of `source` and their
/// replacements, outer constructs before inner ones.
fn collect(stmt: &AstStmt, source: &str, edits: &mut Vec<(usize, usize, String)>) {
    if let StmtP::AssignModify(target, AssignOp::Multiply, value) = &stmt.node
        && let Some(target_text) = pure_target(target, source)
        && let Some(op) = between(source, target.span, value.span)
    {
        let (op_begin, op_end) = op;
        let value_begin = offset(value.span.begin());
        let value_end = offset(value.span.end());
        edits.push((op_begin, op_end, format!("= {target_text} *")));
        if !binds_tightly(value) {
            edits.push((value_begin, value_begin, "(".to_owned()));
            edits.push((value_end, value_end, ")".to_owned()));
        }
    }
    stmt.visit_children(|child| match child {
        Visit::Expr(expr) => collect_expr(expr, source, edits),
        Visit::Stmt(inner) => collect(inner, source, edits),
    });
}

/// The edits of every checked method call in `expr` (outermost first).
fn collect_expr(expr: &AstExpr, source: &str, edits: &mut Vec<(usize, usize, String)>) {
    if let ExprP::Call(callee, _) = &expr.node
        && let ExprP::Dot(object, name) = &callee.node
        && CHECKED_METHODS.contains(&name.node.as_str())
        && !is_os_path(object)
    {
        // `OBJ.name(` exactly, so the replacement only adds characters.
        let dot = offset(object.span.end());
        let written = format!(".{}(", name.node);
        if source.get(dot..dot + written.len()) == Some(written.as_str()) {
            let begin = offset(object.span.begin());
            edits.push((begin, begin, format!("{METHOD_BUILTIN}(")));
            edits.push((
                dot,
                dot + written.len(),
                format!(", {:?}, ", name.node.as_str()),
            ));
        }
    }
    expr.visit_expr(|child| collect_expr(child, source, edits));
}

/// The source text of a target that can be evaluated twice without a difference: names,
/// attributes and indexes without calls, on one line.
fn pure_target<'s>(
    target: &starlark_syntax::syntax::ast::AstAssignTarget,
    source: &'s str,
) -> Option<&'s str> {
    let pure = match &target.node {
        AssignTargetP::Identifier(_) => true,
        AssignTargetP::Dot(object, _) => no_calls(object),
        AssignTargetP::Index(pair) => no_calls(&pair.0) && no_calls(&pair.1),
        AssignTargetP::Tuple(_) => false,
    };
    let text = source.get(offset(target.span.begin())..offset(target.span.end()))?;
    (pure && !text.contains('\n')).then_some(text)
}

fn no_calls(expr: &AstExpr) -> bool {
    match &expr.node {
        ExprP::Call(..) | ExprP::Lambda(_) => false,
        _ => {
            let mut pure = true;
            expr.visit_expr(|child| pure &= no_calls(child));
            pure
        }
    }
}

/// `os.path`, whose `join` joins paths, not a string with itself: by far the commonest
/// `.join(` of real Tiltfiles, left alone so that they are not parsed twice.
fn is_os_path(object: &AstExpr) -> bool {
    matches!(&object.node, ExprP::Dot(module, attr)
        if attr.node == "path"
            && matches!(&module.node, ExprP::Identifier(id) if id.node.ident == "os"))
}

/// Whether `x * VALUE` parses as `x * (VALUE)` without brackets.
fn binds_tightly(value: &AstExpr) -> bool {
    matches!(
        value.node,
        ExprP::Identifier(_)
            | ExprP::Literal(_)
            | ExprP::Call(..)
            | ExprP::Index(_)
            | ExprP::Index2(_)
            | ExprP::Slice(..)
            | ExprP::Dot(..)
            | ExprP::List(_)
            | ExprP::Dict(_)
            | ExprP::ListComprehension(..)
            | ExprP::DictComprehension(..)
    )
}

/// The byte range of the `*=` between a target and its value.
fn between(source: &str, target: Span, value: Span) -> Option<(usize, usize)> {
    let (from, to) = (offset(target.end()), offset(value.begin()));
    let gap = source.get(from..to)?;
    let at = gap.find("*=")?;
    Some((from + at, from + at + 2))
}

fn offset(pos: starlark::codemap::Pos) -> usize {
    pos.get() as usize
}

/// 0-based line and character column of byte offsets visited in increasing order, found in
/// one pass over the text (a rewrite has an edit for every `.join(`: rescanning from the
/// start for each made a large Tiltfile's load twice as slow).
struct Cursor<'s> {
    source: &'s str,
    byte: usize,
    line: usize,
    line_start: usize,
}

impl<'s> Cursor<'s> {
    fn new(source: &'s str) -> Cursor<'s> {
        Cursor {
            source,
            byte: 0,
            line: 0,
            line_start: 0,
        }
    }

    fn advance_to(&mut self, byte: usize) -> (usize, usize) {
        let passed = &self.source[self.byte..byte];
        if let Some(last) = passed.rfind('\n') {
            self.line += passed.matches('\n').count();
            self.line_start = self.byte + last + 1;
        }
        self.byte = byte;
        (
            self.line,
            self.source[self.line_start..byte].chars().count(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(source: &str) -> Option<Rewritten> {
        let ast = AstModule::parse("t", source.to_owned(), &starlark::syntax::Dialect::Standard)
            .expect("parses");
        rewrite(&ast, source)
    }

    #[test]
    fn an_augmented_repetition_becomes_an_assignment() {
        let r = rewritten("x = 'a'\nx *= 3\nd = {}\nd['k'] *= n + 1; y = 2\n").expect("rewritten");
        assert_eq!(
            r.source,
            "x = 'a'\nx = x * 3\nd = {}\nd['k'] = d['k'] * (n + 1); y = 2\n"
        );
        // `3` was at column 5 of line 1 and is at 8 now.
        assert_eq!(r.insertions.map(1, 8), 5);
        assert_eq!(r.insertions.map(1, 0), 0);
        // Inserted text maps to the operator.
        assert_eq!(r.insertions.map(1, 3), 2);
        // `y` after the inserted brackets.
        let line = "d['k'] = d['k'] * (n + 1); y = 2";
        let y_new = line.find('y').expect("y");
        assert_eq!(
            r.insertions.map(3, y_new),
            "d['k'] *= n + 1; y = 2".find('y').unwrap()
        );
    }

    #[test]
    fn targets_with_calls_and_other_operators_are_left_alone() {
        assert!(rewritten("f()[0] *= 2\nx += 1\nx = 2 * 3\n").is_none());
    }

    #[test]
    fn checked_methods_become_calls_of_the_builtin() {
        let source =
            "x = ', '.join(l)\ny = s.replace('a', 'b').replace('c', d.join([]))\nz = s . join(l)\n";
        let r = rewritten(source).expect("rewritten");
        assert_eq!(
            r.source,
            "x = __lilt_method__(', ', \"join\", l)\n\
             y = __lilt_method__(__lilt_method__(s, \"replace\", 'a', 'b'), \"replace\", 'c', __lilt_method__(d, \"join\", []))\n\
             z = s . join(l)\n"
        );
        // `l` was at column 14 of line 0.
        let at = r.source.find("l)").expect("l");
        assert_eq!(r.insertions.map(0, at), 14);
        assert!(may_rewrite(source) && !may_rewrite("x = 1\n"));
        assert!(rewritten("p = os.path.join('a', 'b')\n").is_none());
    }

    #[test]
    fn nested_statements_are_rewritten() {
        let r = rewritten("def f(s):\n  for i in range(2):\n    s *= 2\n  return s\n")
            .expect("rewritten");
        assert!(r.source.contains("    s = s * 2\n"), "{}", r.source);
    }
}
