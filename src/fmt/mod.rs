//! `govern fmt`: one canonical layout for `.gov` files (`docs/fmt.md` describes it).
//!
//! The file is parsed, then printed from the syntax tree; ordinary `//` comments, which the
//! parser drops, are recovered from the text by position ([`comments`]) and put back next to
//! the item, member or rule they were written at. The printed file parses to the same tree
//! (`parse(fmt(x)) == parse(x)`, spans aside) and formatting is idempotent.

pub mod comments;

use crate::diag::{Diag, SourceFile};
use crate::syntax::ast::{
    self, CallArg, Expr, ExprKind, Item, ListItem, Literal, LiteralKind, Member, Meta, Param, Path,
    Policy, Rule, StringStyle, TypeExpr, TypeKind, quote_string,
};
use comments::Comment;

/// The line width the layout aims for.
pub const WIDTH: usize = 100;
/// One level of indentation.
const INDENT: &str = "  ";

/// How a file ends its lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
}

impl LineEnding {
    /// CRLF when every line break of `text` is `\r\n` (and there is one); LF otherwise. A
    /// file with mixed breaks gets the canonical LF.
    pub fn of(text: &str) -> LineEnding {
        let bytes = text.as_bytes();
        let mut any = false;
        for i in memchr::memchr_iter(b'\n', bytes) {
            if i == 0 || bytes.get(i - 1) != Some(&b'\r') {
                return LineEnding::Lf;
            }
            any = true;
        }
        if any {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        }
    }

    /// `text` (with LF breaks, or CRLF ones where it already has them) with this ending.
    pub fn apply(self, text: String) -> String {
        match self {
            LineEnding::Lf => text,
            LineEnding::CrLf => {
                let mut out = String::with_capacity(text.len() + text.len() / 16);
                let mut prev = '\0';
                for c in text.chars() {
                    if c == '\n' && prev != '\r' {
                        out.push('\r');
                    }
                    out.push(c);
                    prev = c;
                }
                out
            }
        }
    }
}

/// Formats one file as `govern fmt` writes it: [`format`], keeping CRLF line breaks when every
/// line of the file has them (a file saved by a Windows editor stays as it was saved).
/// Breaks inside raw strings are then CRLF already and are kept as they are.
pub fn format_file(file: &SourceFile) -> Result<String, Vec<Diag>> {
    let out = format(file)?;
    Ok(LineEnding::of(&file.text).apply(out))
}

/// Formats one file. Files with syntax errors are refused with their diagnostics.
pub fn format(file: &SourceFile) -> Result<String, Vec<Diag>> {
    let ast = crate::syntax::parse_file(file)?;
    let text: &str = &file.text;
    let comments: Vec<Comment> = comments::scan(text)
        .into_iter()
        .filter(|c| !c.doc)
        .collect();
    let mut p = Printer {
        text,
        comments,
        next: 0,
        out: String::new(),
    };
    p.file(&ast);
    Ok(p.out)
}

struct Printer<'t> {
    text: &'t str,
    comments: Vec<Comment>,
    /// The first comment not printed yet.
    next: usize,
    out: String,
}

/// What kind of item, for the blank lines between items.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tool,
    Attribute,
    Set,
    Default,
    Policy,
}

fn kind(item: &Item) -> Kind {
    match item {
        Item::Tool(_) => Kind::Tool,
        Item::Attribute(_) => Kind::Attribute,
        Item::Set(_) => Kind::Set,
        Item::Default(_) => Kind::Default,
        Item::Policy(_) => Kind::Policy,
    }
}

impl Printer<'_> {
    /// Whether the source has a blank line between two offsets.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let Some(t) = self.text.get(from.min(to)..to) else {
            return false;
        };
        let lines: Vec<&str> = t.split('\n').collect();
        lines.len() >= 3
            && lines
                .get(1..lines.len() - 1)
                .is_some_and(|mid| mid.iter().any(|l| l.trim().is_empty()))
    }

    fn line_end(&self, pos: usize) -> usize {
        self.text
            .get(pos..)
            .and_then(|t| t.find('\n'))
            .map_or(self.text.len(), |i| pos + i)
    }

    /// Prints the comments that start before `pos`, each on its own line; returns where the
    /// last one ended (or `prev`).
    fn leading(&mut self, pos: usize, prev: usize, indent: &str, at_start: bool) -> usize {
        let mut prev = prev;
        let mut first = at_start;
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= pos {
                break;
            }
            let c = c.clone();
            if !first && self.blank_between(prev, c.start) {
                self.out.push('\n');
            }
            self.out.push_str(indent);
            self.out.push_str(&c.text);
            self.out.push('\n');
            prev = c.end;
            first = false;
            self.next += 1;
        }
        prev
    }

    /// The comment at the end of the line `end` is on, if any; it is consumed.
    fn trailing(&mut self, end: usize) -> Option<Comment> {
        let line_end = self.line_end(end);
        let c = self.comments.get(self.next)?;
        if c.start >= end && c.start < line_end.max(end + 1) && !c.own_line {
            let c = c.clone();
            self.next += 1;
            return Some(c);
        }
        None
    }

    /// Emits the comments inside `[start, end)` that are not at the end of the node's last
    /// line, as own-line comments (they cannot keep their place inside a reflowed node).
    fn inner(&mut self, start: usize, end: usize, indent: &str) {
        let last_line_start = self
            .text
            .get(..end)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1)
            .max(start);
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= end || (c.start >= last_line_start && !c.own_line && c.start > start) {
                break;
            }
            if c.start < start {
                break;
            }
            let c = c.clone();
            self.out.push_str(indent);
            self.out.push_str(&c.text);
            self.out.push('\n');
            self.next += 1;
        }
    }

    /// Appends a trailing comment to the last line printed (which ends with `\n`).
    fn attach(&mut self, c: Option<Comment>) {
        if let Some(c) = c {
            if self.out.ends_with('\n') {
                self.out.pop();
            }
            self.out.push(' ');
            self.out.push_str(&c.text);
            self.out.push('\n');
        }
    }

    fn file(&mut self, f: &ast::File) {
        let mut prev = 0usize;
        let mut prev_kind: Option<Kind> = None;
        for item in &f.items {
            let span = item.span();
            let start = span.start as usize;
            let end = comments::trim_trivia(self.text, start, span.end as usize);
            let k = kind(item);
            // A blank line between items of different kinds, around policies, and where the
            // source had one.
            let forced = prev_kind.is_some_and(|pk| pk != k || k == Kind::Policy);
            let first_comment = self.comments.get(self.next).map(|c| c.start);
            let has_leading = first_comment.is_some_and(|c| c < start);
            if prev_kind.is_some() {
                let gap_to = if has_leading {
                    first_comment.unwrap_or(start)
                } else {
                    start
                };
                if forced || self.blank_between(prev, gap_to) {
                    self.out.push('\n');
                }
            }
            let after = self.leading(start, prev, "", true);
            if has_leading && self.blank_between(after, start) {
                self.out.push('\n');
            }
            match item {
                Item::Policy(p) => self.policy(p),
                _ => {
                    self.inner(start, end, "");
                    self.meta(item.meta(), "");
                    let line = self.simple_item(item);
                    self.out.push_str(&line);
                    self.out.push('\n');
                }
            }
            let t = self.trailing(end);
            let endpos = t.as_ref().map_or(end, |c| c.end);
            self.attach(t);
            prev = endpos;
            prev_kind = Some(k);
        }
        // Comments after the last item.
        let any_before = !self.out.is_empty();
        let mut first = true;
        while let Some(c) = self.comments.get(self.next).cloned() {
            if (any_before || !first) && self.blank_between(prev, c.start) {
                self.out.push('\n');
            }
            self.out.push_str(&c.text);
            self.out.push('\n');
            prev = c.end;
            first = false;
            self.next += 1;
        }
    }

    fn meta(&mut self, m: &Meta, indent: &str) {
        for d in &m.docs {
            self.out.push_str(indent);
            if d.node.is_empty() {
                self.out.push_str("///");
            } else {
                self.out.push_str("/// ");
                self.out.push_str(&d.node);
            }
            self.out.push('\n');
        }
        for a in &m.annotations {
            self.out.push_str(indent);
            self.out.push('@');
            self.out.push_str(&a.name.node);
            if !a.args.is_empty() {
                let args: Vec<String> = a.args.iter().map(literal).collect();
                self.out.push('(');
                self.out.push_str(&args.join(", "));
                self.out.push(')');
            }
            self.out.push('\n');
        }
    }

    fn simple_item(&self, item: &Item) -> String {
        match item {
            Item::Tool(t) => {
                let params: Vec<String> = t.params.iter().map(param).collect();
                let one = format!("tool {}({})", t.name.node, params.join(", "));
                if one.chars().count() <= WIDTH || params.is_empty() {
                    one
                } else {
                    let mut s = format!("tool {}(\n", t.name.node);
                    for p in params {
                        s.push_str(INDENT);
                        s.push_str(&p);
                        s.push_str(",\n");
                    }
                    s.push(')');
                    s
                }
            }
            Item::Attribute(a) => format!("attribute {}: {}", path(&a.path), type_expr(&a.ty)),
            Item::Set(ast::SetDecl {
                name,
                body: ast::SetBody::File(file),
                ..
            }) => format!("set {} = file({})", name.node, quote_string(&file.node)),
            Item::Set(
                set @ ast::SetDecl {
                    body: ast::SetBody::List(items),
                    ..
                },
            ) => {
                let items: Vec<String> = items.iter().map(list_item).collect();
                let one = format!("set {} = [{}]", set.name.node, items.join(", "));
                if one.chars().count() <= WIDTH || items.is_empty() {
                    one
                } else {
                    let mut s = format!("set {} = [\n", set.name.node);
                    for i in items {
                        s.push_str(INDENT);
                        s.push_str(&i);
                        s.push_str(",\n");
                    }
                    s.push(']');
                    s
                }
            }
            Item::Default(d) => format!("default {}", d.effect.node),
            Item::Policy(_) => String::new(),
        }
    }

    fn policy(&mut self, p: &Policy) {
        let start = p.span.start as usize;
        let end = p.span.end as usize;
        // Everything before the opening brace is the header.
        let brace = self
            .text
            .get(p.name.span.end as usize..end)
            .and_then(|t| t.find('{'))
            .map_or(p.name.span.end as usize, |i| p.name.span.end as usize + i);
        self.inner(start, brace, "");
        self.meta(&p.meta, "");
        self.out.push_str(&format!("policy {} {{\n", p.name.node));
        let t = self.trailing(brace + 1);
        let mut prev = t.as_ref().map_or(brace + 1, |c| c.end);
        self.attach(t);
        let mut first = true;
        for m in &p.order {
            let (mstart, mend) = match m {
                Member::Description => match &p.description {
                    Some(d) => (
                        keyword_start(self.text, d.span.start as usize, "description"),
                        d.span.end as usize,
                    ),
                    None => continue,
                },
                Member::Applies => match &p.applies {
                    Some(e) => (
                        keyword_start(
                            self.text,
                            keyword_start(self.text, e.span.start as usize, "when"),
                            "applies",
                        ),
                        comments::trim_trivia(
                            self.text,
                            e.span.start as usize,
                            e.span.end as usize,
                        ),
                    ),
                    None => continue,
                },
                Member::Rule(i) => match p.rules.get(*i) {
                    Some(r) => (
                        r.span.start as usize,
                        comments::trim_trivia(
                            self.text,
                            r.span.start as usize,
                            r.span.end as usize,
                        ),
                    ),
                    None => continue,
                },
            };
            let first_comment = self.comments.get(self.next).map(|c| c.start);
            let has_leading = first_comment.is_some_and(|c| c < mstart);
            if !first {
                let gap_to = if has_leading {
                    first_comment.unwrap_or(mstart)
                } else {
                    mstart
                };
                if self.blank_between(prev, gap_to) {
                    self.out.push('\n');
                }
            }
            let after = self.leading(mstart, prev, INDENT, true);
            if has_leading && self.blank_between(after, mstart) {
                self.out.push('\n');
            }
            self.inner(mstart, mend, INDENT);
            match m {
                Member::Description => {
                    if let Some(d) = &p.description {
                        self.out
                            .push_str(&format!("{INDENT}description {}\n", quote_string(&d.node)));
                    }
                }
                Member::Applies => {
                    if let Some(e) = &p.applies {
                        let s = clause(INDENT, "applies when", e);
                        self.out.push_str(&s);
                    }
                }
                Member::Rule(i) => {
                    if let Some(r) = p.rules.get(*i) {
                        self.rule(r);
                    }
                }
            }
            let t = self.trailing(mend);
            prev = t.as_ref().map_or(mend, |c| c.end);
            self.attach(t);
            first = false;
        }
        // Comments before the closing brace.
        let close = end.saturating_sub(1);
        let mut firstc = true;
        while let Some(c) = self.comments.get(self.next).cloned() {
            if c.start >= close {
                break;
            }
            if !(first && firstc) && self.blank_between(prev, c.start) {
                self.out.push('\n');
            }
            self.out.push_str(INDENT);
            self.out.push_str(&c.text);
            self.out.push('\n');
            prev = c.end;
            firstc = false;
            self.next += 1;
        }
        self.out.push_str("}\n");
    }

    fn rule(&mut self, r: &Rule) {
        self.meta(&r.meta, INDENT);
        let head = format!("{INDENT}rule {}: {}", r.name.node, r.effect.node);
        let mut one = head.clone();
        if let Some(w) = &r.when {
            one.push_str(" when ");
            one.push_str(&expr(w));
        }
        if let Some(u) = &r.unless {
            one.push_str(" unless ");
            one.push_str(&expr(u));
        }
        if let Some(b) = &r.because {
            one.push_str(" because ");
            one.push_str(&quote_string(&b.node));
        }
        if one.chars().count() <= WIDTH {
            self.out.push_str(&one);
            self.out.push('\n');
            return;
        }
        self.out.push_str(&head);
        self.out.push('\n');
        let inner = format!("{INDENT}{INDENT}");
        if let Some(w) = &r.when {
            self.out.push_str(&clause(&inner, "when", w));
        }
        if let Some(u) = &r.unless {
            self.out.push_str(&clause(&inner, "unless", u));
        }
        if let Some(b) = &r.because {
            self.out
                .push_str(&format!("{inner}because {}\n", quote_string(&b.node)));
        }
    }
}

/// Where the keyword in front of `pos` starts (only whitespace between), else `pos`.
fn keyword_start(text: &str, pos: usize, kw: &str) -> usize {
    let before = text.get(..pos).unwrap_or("");
    let trimmed = before.trim_end();
    if trimmed.ends_with(kw) {
        trimmed.len() - kw.len()
    } else {
        pos
    }
}

/// `KEYWORD COND` at `indent`, breaking a long top-level `and` / `or` chain one operand per
/// line, with the operator first.
fn clause(indent: &str, keyword: &str, e: &Expr) -> String {
    let one = format!("{indent}{keyword} {}\n", expr(e));
    if one.trim_end().chars().count() <= WIDTH {
        return one;
    }
    let (op, parts) = match &e.kind {
        ExprKind::And(ps) => ("and", ps),
        ExprKind::Or(ps) => ("or", ps),
        _ => return one,
    };
    let mut s = String::new();
    for (i, p) in parts.iter().enumerate() {
        let text = if op == "and" {
            and_operand(p)
        } else {
            or_operand(p)
        };
        if i == 0 {
            s.push_str(&format!("{indent}{keyword} {text}\n"));
        } else {
            s.push_str(&format!("{indent}{INDENT}{op} {text}\n"));
        }
    }
    s
}

fn param(p: &Param) -> String {
    let name = if p.quoted {
        quote_string(&p.name.node)
    } else {
        p.name.node.clone()
    };
    format!("{name}: {}", type_expr(&p.ty))
}

fn type_expr(t: &TypeExpr) -> String {
    match &t.kind {
        TypeKind::Named(n) => n.clone(),
        TypeKind::List(inner) => format!("list<{}>", type_expr(inner)),
        TypeKind::Record(fields) => {
            let fs: Vec<String> = fields.iter().map(param).collect();
            if fs.is_empty() {
                "{}".to_string()
            } else {
                format!("{{ {} }}", fs.join(", "))
            }
        }
    }
}

fn literal(l: &Literal) -> String {
    match &l.kind {
        LiteralKind::Bool(b) => b.to_string(),
        LiteralKind::Number(_, text) => text.clone(),
        LiteralKind::String(s, StringStyle::Quoted) => quote_string(s),
        LiteralKind::String(s, StringStyle::Raw(n)) => {
            let hashes = "#".repeat(usize::from(*n));
            format!("r{hashes}\"{s}\"{hashes}")
        }
        LiteralKind::Duration(d) => d.to_string(),
    }
}

fn list_item(i: &ListItem) -> String {
    match i {
        ListItem::Literal(l) => literal(l),
        ListItem::Set(name) => name.node.clone(),
    }
}

fn path(p: &Path) -> String {
    let mut s = String::new();
    for (i, seg) in p.segments.iter().enumerate() {
        if seg.quoted && i > 0 {
            s.push('[');
            s.push_str(&quote_string(&seg.name));
            s.push(']');
        } else {
            if i > 0 {
                s.push('.');
            }
            s.push_str(&seg.name);
        }
    }
    s
}

/// Whether an expression is a `value` of the grammar (no parentheses needed as an operand).
fn is_value(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Literal(_)
            | ExprKind::List(_)
            | ExprKind::Has(_)
            | ExprKind::Call { .. }
            | ExprKind::Path(_)
    )
}

/// An operand of a comparison or string test: a value, or a parenthesized condition.
fn value(e: &Expr) -> String {
    if is_value(e) {
        expr(e)
    } else {
        format!("({})", expr(e))
    }
}

/// A part of an `and` chain: an `or` needs parentheses.
fn and_operand(e: &Expr) -> String {
    match e.kind {
        ExprKind::Or(_) | ExprKind::And(_) => format!("({})", expr(e)),
        _ => expr(e),
    }
}

/// A part of an `or` chain: a nested `or` keeps its parentheses (the tree has it nested).
fn or_operand(e: &Expr) -> String {
    match e.kind {
        ExprKind::Or(_) => format!("({})", expr(e)),
        _ => expr(e),
    }
}

/// An expression on one line, with the fewest parentheses that keep its tree.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Literal(l) => literal(l),
        ExprKind::List(items) => {
            let is: Vec<String> = items.iter().map(list_item).collect();
            format!("[{}]", is.join(", "))
        }
        ExprKind::Path(p) => path(p),
        ExprKind::Has(p) => format!("has {}", path(p)),
        ExprKind::Call { name, args } => {
            let a: Vec<String> = args
                .iter()
                .map(|a| match a {
                    CallArg::Expr(x) => expr(x),
                    CallArg::Within(d) => format!("within {}", d.node),
                    CallArg::Per(ps, _) => {
                        let ps: Vec<String> = ps.iter().map(path).collect();
                        format!("per {}", ps.join(", "))
                    }
                })
                .collect();
            format!("{}({})", name.node, a.join(", "))
        }
        ExprKind::Not(inner) => match inner.kind {
            // `not (a == b)` reads as the negation of the whole test, which it is.
            ExprKind::And(_)
            | ExprKind::Or(_)
            | ExprKind::Compare { .. }
            | ExprKind::In { .. }
            | ExprKind::StrTest { .. } => format!("not ({})", expr(inner)),
            _ => format!("not {}", expr(inner)),
        },
        ExprKind::And(parts) => {
            let ps: Vec<String> = parts.iter().map(and_operand).collect();
            ps.join(" and ")
        }
        ExprKind::Or(parts) => {
            let ps: Vec<String> = parts.iter().map(or_operand).collect();
            ps.join(" or ")
        }
        ExprKind::Compare { op, lhs, rhs } => {
            format!("{} {} {}", value(lhs), op.as_str(), value(rhs))
        }
        ExprKind::In { negated, lhs, rhs } => format!(
            "{} {}in {}",
            value(lhs),
            if *negated { "not " } else { "" },
            value(rhs)
        ),
        ExprKind::StrTest { op, lhs, rhs } => {
            format!("{} {} {}", value(lhs), op.as_str(), value(rhs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(src: &str) -> String {
        format(&SourceFile::new("t.gov", src)).unwrap()
    }

    fn same_tree(a: &str, b: &str) {
        let pa = crate::syntax::parse_file(&SourceFile::new("a.gov", a)).unwrap();
        let pb = crate::syntax::parse_file(&SourceFile::new("b.gov", b)).unwrap();
        assert_eq!(pa, pb, "\n{a}\n---\n{b}");
    }

    #[test]
    fn formats_the_brief_example() {
        let src = include_str!("../../testdata/examples/brief.gov");
        let once = fmt(src);
        same_tree(src, &once);
        assert_eq!(fmt(&once), once, "idempotent");
        for c in comments::scan(src) {
            assert!(once.contains(&c.text), "lost {}", c.text);
        }
    }

    #[test]
    fn minimal_parentheses_keep_the_tree() {
        for src in [
            "policy p { rule a: allow when (a.b == 1 or c == 2) and not (d == 3 and e == 4) }",
            "policy p { rule a: allow when a == 1 or (b == 2 or c == 3) }",
            "policy p { rule a: allow when (a == 1 and b == 2) and c == 3 }",
            "policy p { rule a: allow when not not has x }",
            "policy p { rule a: allow when (a == 1) == true }",
            "policy p { rule a: allow when args[\"x-y\"].z in [1, 2.50, s] unless count(tool == \"x\", within 5m, per agent.id, session) > 3 }",
        ] {
            let out = fmt(src);
            same_tree(src, &out);
            assert_eq!(fmt(&out), out);
        }
    }

    #[test]
    fn keeps_comments_in_place() {
        let src = "// header\n\ntool a(x: string) // trailing\n// about b\ntool b()\npolicy p { // open\n  // lead\n  rule r: allow when tool == \"a\" // end\n  // last\n}\n// eof\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "// header\n\ntool a(x: string) // trailing\n// about b\ntool b()\n\npolicy p { // open\n  // lead\n  rule r: allow when tool == \"a\" // end\n  // last\n}\n// eof\n"
        );
    }

    #[test]
    fn breaks_long_rules() {
        let src = "policy p { rule no_secrets: deny when tool == \"file_read\" and (norm_path(args.path) in secret_paths or args.path matches r\"\\.env$\") because \"secret files are off limits\" }";
        let out = fmt(src);
        assert_eq!(
            out,
            "policy p {\n  rule no_secrets: deny\n    when tool == \"file_read\"\n      and (norm_path(args.path) in secret_paths or args.path matches r\"\\.env$\")\n    because \"secret files are off limits\"\n}\n"
        );
        same_tree(src, &out);
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let src = "default deny\r\n// note\r\npolicy p {\r\n  rule r: deny when args.x matches r\"a\r\nb\"   // why\r\n}\r\n";
        let file = SourceFile::new("t.gov", src);
        let out = format_file(&file).unwrap();
        assert_eq!(LineEnding::of(&out), LineEnding::CrLf, "{out:?}");
        assert!(!out.contains("\r\r"), "{out:?}");
        // The same layout as LF, and the raw string's own break kept.
        assert_eq!(out.replace("\r\n", "\n"), fmt(&src.replace("\r\n", "\n")));
        assert!(out.contains("r\"a\r\nb\""), "{out:?}");
        assert_eq!(
            format_file(&SourceFile::new("t.gov", out.as_str())).unwrap(),
            out
        );
        // Mixed breaks get LF.
        let mixed = "default deny\r\npolicy p {\n}\n";
        let out = format_file(&SourceFile::new("m.gov", mixed)).unwrap();
        assert!(!out.contains('\r'), "{out:?}");
    }
}
