//! Conditions and operands: resolving attribute paths and giving every value a type.
//!
//! Typing is bidirectional. Built-in attributes, declared tool arguments, literals and function
//! results have known types. An *open* attribute (`annotations.*`, or an `args.*` path no
//! declared tool types) takes its type from how it is used: `annotations.score > 0.8` makes it a
//! number there. A value of another type at run time is unknown, never coerced.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::ir::*;
use super::{Checker, FileRef, codes, literal_const, pattern, schema};
use crate::diag::{Diag, did_you_mean};
use crate::syntax::ast::{self, CallArg, CmpOp, ExprKind, Span, StrOp};

/// The tools a condition can be about at some point: the `tool == "x"` / `tool in [..]`
/// constraints AND-ed around it. `None` means any tool.
#[derive(Clone, Debug, Default)]
pub struct ToolCtx {
    pub tools: Option<BTreeSet<String>>,
}

impl ToolCtx {
    pub fn any() -> ToolCtx {
        ToolCtx { tools: None }
    }

    /// The context narrowed by a further constraint.
    pub fn with(&self, t: &BTreeSet<String>) -> ToolCtx {
        let tools = match &self.tools {
            None => t.clone(),
            Some(cur) => cur.intersection(t).cloned().collect(),
        };
        ToolCtx { tools: Some(tools) }
    }
}

/// The tool names an expression fixes when it holds: `tool == "x"`, `tool in [..]`, and
/// conjunctions of those. Set names are not resolved here (only literals count).
pub fn tool_constraint(e: &ast::Expr) -> Option<BTreeSet<String>> {
    fn is_tool(e: &ast::Expr) -> bool {
        matches!(&e.kind, ExprKind::Path(p) if p.segments.len() == 1 && p.segments.first().is_some_and(|s| s.name == "tool"))
    }
    fn string(e: &ast::Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Literal(ast::Literal {
                kind: ast::LiteralKind::String(s, _),
                ..
            }) => Some(s.clone()),
            _ => None,
        }
    }
    match &e.kind {
        ExprKind::Compare {
            op: CmpOp::Eq,
            lhs,
            rhs,
        } => {
            if is_tool(lhs) {
                string(rhs).map(|s| BTreeSet::from([s]))
            } else if is_tool(rhs) {
                string(lhs).map(|s| BTreeSet::from([s]))
            } else {
                None
            }
        }
        ExprKind::In {
            negated: false,
            lhs,
            rhs,
        } if is_tool(lhs) => match &rhs.kind {
            ExprKind::List(items) => {
                let mut out = BTreeSet::new();
                for i in items {
                    match i {
                        ast::ListItem::Literal(ast::Literal {
                            kind: ast::LiteralKind::String(s, _),
                            ..
                        }) => {
                            out.insert(s.clone());
                        }
                        _ => return None,
                    }
                }
                Some(out)
            }
            _ => None,
        },
        ExprKind::And(parts) => {
            let mut acc: Option<BTreeSet<String>> = None;
            for p in parts {
                if let Some(t) = tool_constraint(p) {
                    acc = Some(match acc {
                        None => t,
                        Some(a) => a.intersection(&t).cloned().collect(),
                    });
                }
            }
            acc
        }
        _ => None,
    }
}

/// `a and b and …` with nested conjunctions flattened and `true` dropped.
pub fn and_all(parts: Vec<Cond>) -> Cond {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Cond::Const(true) => {}
            Cond::And(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    match out.len() {
        0 => Cond::Const(true),
        1 => out.pop().unwrap_or(Cond::Const(true)),
        _ => Cond::And(out),
    }
}

/// The result of looking at a value before its use is known.
enum Synth {
    Known(Operand),
    /// An attribute whose type comes from its use.
    Open(Attr),
    /// A record such as `agent` or a declared record argument: only `has` can test it.
    Record(Attr),
}

impl Checker<'_> {
    /// Checks a condition.
    pub(crate) fn cond(&mut self, f: FileRef<'_>, e: &ast::Expr, ctx: &ToolCtx) -> Option<Cond> {
        match &e.kind {
            ExprKind::And(parts) => {
                let mut inner = ctx.clone();
                for p in parts {
                    if let Some(t) = tool_constraint(p) {
                        inner = inner.with(&t);
                    }
                }
                let mut out = Vec::new();
                let mut ok = true;
                for p in parts {
                    match self.cond(f, p, &inner) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then(|| and_all(out))
            }
            ExprKind::Or(parts) => {
                let mut out = Vec::new();
                let mut ok = true;
                for p in parts {
                    let narrowed = tool_constraint(p).map_or_else(|| ctx.clone(), |t| ctx.with(&t));
                    match self.cond(f, p, &narrowed) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then_some(Cond::Or(out))
            }
            ExprKind::Not(inner) => {
                let narrowed = tool_constraint(inner).map_or_else(|| ctx.clone(), |t| ctx.with(&t));
                self.cond(f, inner, &narrowed)
                    .map(|c| Cond::Not(Box::new(c)))
            }
            ExprKind::Has(path) => {
                // `has` takes any attribute or record, known or open.
                match self.path(f, path, ctx)? {
                    Synth::Known(Operand {
                        kind: OperandKind::Attr(a),
                        ..
                    })
                    | Synth::Open(a)
                    | Synth::Record(a) => Some(Cond::Has(a, f.loc(e.span))),
                    Synth::Known(_) => None,
                }
            }
            ExprKind::Literal(l) => match &l.kind {
                ast::LiteralKind::Bool(b) => Some(Cond::Const(*b)),
                _ => {
                    self.error(
                        Diag::error(codes::TYPE, "a literal is not a condition")
                            .at(f.src, e.span, "expected a condition")
                            .help("compare it with something, e.g. `tool == \"web_search\"`"),
                    );
                    None
                }
            },
            ExprKind::List(_) => {
                self.error(Diag::error(codes::TYPE, "a list is not a condition").at(
                    f.src,
                    e.span,
                    "expected a condition",
                ));
                None
            }
            ExprKind::Path(_) | ExprKind::Call { .. } => {
                let s = self.synth(f, e, ctx)?;
                let op = self.expect(f, s, Ty::Bool, e.span, "a condition")?;
                Some(Cond::Test(Test {
                    kind: TestKind::Truthy(op),
                    loc: f.loc(e.span),
                }))
            }
            ExprKind::Compare { op, lhs, rhs } => self.compare(f, e, *op, lhs, rhs, ctx),
            ExprKind::In { negated, lhs, rhs } => self.in_test(f, e, *negated, lhs, rhs, ctx),
            ExprKind::StrTest { op, lhs, rhs } => self.str_test(f, e, *op, lhs, rhs, ctx),
        }
    }

    fn test(&self, f: FileRef<'_>, e: &ast::Expr, kind: TestKind) -> Cond {
        Cond::Test(Test {
            kind,
            loc: f.loc(e.span),
        })
    }

    fn compare(
        &mut self,
        f: FileRef<'_>,
        e: &ast::Expr,
        op: CmpOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        ctx: &ToolCtx,
    ) -> Option<Cond> {
        let l = self.synth(f, lhs, ctx);
        let r = self.synth(f, rhs, ctx);
        let (l, r) = (l?, r?);
        let (l, r) = match (l, r) {
            (Synth::Open(a), Synth::Open(b)) => {
                self.error(
                    Diag::error(
                        codes::TYPE,
                        format!("cannot tell the types of `{a}` and `{b}`"),
                    )
                    .at(f.src, e.span, "both sides take their type from the other")
                    .help("compare one of them with a literal, or declare the tool's arguments"),
                );
                return None;
            }
            (Synth::Open(a), Synth::Known(o)) => {
                let ty = self.scalar_of(f, &o, rhs.span)?;
                (attr_operand(a, ty), o)
            }
            (Synth::Known(o), Synth::Open(b)) => {
                let ty = self.scalar_of(f, &o, lhs.span)?;
                (o, attr_operand(b, ty))
            }
            (Synth::Known(a), Synth::Known(b)) => (a, b),
            (Synth::Record(a), _) | (_, Synth::Record(a)) => {
                self.record_error(f, &a, e.span);
                return None;
            }
        };
        let ls = self.scalar_of(f, &l, lhs.span)?;
        let rs = self.scalar_of(f, &r, rhs.span)?;
        if ls != rs {
            self.error(
                Diag::error(
                    codes::TYPE,
                    format!("cannot compare {} with {}", ty_phrase(&l), ty_phrase(&r)),
                )
                .at(f.src, rhs.span, format!("this is {}", ty_article(rs)))
                .label(lhs.span, format!("this is {}", ty_article(ls)))
                .help("values of different types are never equal; compare like with like"),
            );
            return None;
        }
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) && ls != Ty::Number {
            self.error(
                Diag::error(codes::TYPE, format!("`{}` compares numbers", op.as_str()))
                    .at(f.src, lhs.span, format!("this is {}", ty_article(ls)))
                    .help("strings and booleans compare with `==` and `!=` only"),
            );
            return None;
        }
        // Constant on the right.
        let (op, l, r) = if l.constant().is_some() && r.constant().is_none() {
            (op.flip(), r, l)
        } else {
            (op, l, r)
        };
        if let (Some(a), Some(b)) = (l.constant(), r.constant()) {
            return Some(Cond::Const(fold_cmp(op, a, b)));
        }
        if let Some(Const::String(s)) = r.constant() {
            self.check_action(f, &l, s, rhs.span);
        }
        Some(self.test(f, e, TestKind::Cmp { op, lhs: l, rhs: r }))
    }

    fn in_test(
        &mut self,
        f: FileRef<'_>,
        e: &ast::Expr,
        negated: bool,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        ctx: &ToolCtx,
    ) -> Option<Cond> {
        // `x in [..]` or `x in set`: constants.
        let values =
            match &rhs.kind {
                ExprKind::List(items) => Some(Arc::from(self.list_values(f, items)?)),
                ExprKind::Path(p) if p.segments.len() == 1 => {
                    let name = p.segments.first().map(|s| s.name.as_str()).unwrap_or("");
                    if let Some(set) = self.sets.get(name) {
                        Some(set.values.clone())
                    } else if self.bad_sets.contains(name) {
                        return None;
                    } else if schema::builtin(name).is_none()
                        && !schema::RECORDS.contains(&name)
                        && !self.is_declared_root(name)
                    {
                        let mut d =
                            Diag::error(codes::UNDEFINED_SET, format!("undefined set `{name}`"))
                                .at(f.src, rhs.span, "no set or attribute has this name");
                        if let Some(s) = did_you_mean(name, self.sets.keys().map(String::as_str)) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        self.error(d);
                        return None;
                    } else {
                        None
                    }
                }
                _ => None,
            };
        if let Some(values) = values {
            let kind = values.first().map(Const::scalar);
            let l = match self.synth(f, lhs, ctx)? {
                Synth::Open(a) => attr_operand(a, kind.map_or(Ty::Scalar, Ty::of_scalar)),
                Synth::Known(o) => o,
                Synth::Record(a) => {
                    self.record_error(f, &a, lhs.span);
                    return None;
                }
            };
            if matches!(l.ty, Ty::List(_)) {
                self.error(
                    Diag::error(codes::TYPE, format!("{} is a list", ty_phrase(&l)))
                        .at(f.src, lhs.span, "a list is never in a list of values")
                        .help("test one value: `\"admin\" in agent.roles`"),
                );
                return None;
            }
            let ls = if l.ty == Ty::Scalar {
                Some(Ty::Scalar)
            } else {
                self.scalar_of(f, &l, lhs.span)
            }?;
            if let Some(k) = kind
                && ls != Ty::Scalar
                && ls != Ty::of_scalar(k)
            {
                self.error(
                    Diag::error(
                        codes::TYPE,
                        format!("{} is never in a list of {}s", ty_phrase(&l), k.name()),
                    )
                    .at(f.src, rhs.span, format!("a list of {}s", k.name()))
                    .label(lhs.span, format!("this is {}", ty_article(ls))),
                );
                return None;
            }
            if let Some(c) = l.constant() {
                let found = values.contains(c);
                return Some(Cond::Const(found != negated));
            }
            // Only `action` has a closed set of values (and a data file may hold a million).
            if matches!(&l.kind, OperandKind::Attr(a) if a.segments() == ["action"]) {
                for v in values.iter() {
                    if let Const::String(s) = v {
                        self.check_action(f, &l, s, rhs.span);
                    }
                }
            }
            return Some(self.test(
                f,
                e,
                TestKind::In {
                    lhs: l,
                    values,
                    negated,
                },
            ));
        }
        // `x in list_attribute`: membership.
        let hay = self.synth(f, rhs, ctx)?;
        let needle = self.synth(f, lhs, ctx)?;
        let (hay, needle) = self.membership(f, e, hay, rhs.span, needle, lhs.span, false)?;
        Some(self.test(
            f,
            e,
            TestKind::Contains {
                hay,
                needle,
                negated,
            },
        ))
    }

    /// Types `hay contains needle`. With `substring`, a string hay is allowed.
    #[allow(clippy::too_many_arguments)]
    fn membership(
        &mut self,
        f: FileRef<'_>,
        e: &ast::Expr,
        hay: Synth,
        hay_span: Span,
        needle: Synth,
        needle_span: Span,
        substring: bool,
    ) -> Option<(Operand, Operand)> {
        match (hay, needle) {
            (Synth::Open(a), Synth::Open(b)) => {
                self.error(
                    Diag::error(
                        codes::TYPE,
                        format!("cannot tell the types of `{a}` and `{b}`"),
                    )
                    .at(f.src, e.span, "both sides take their type from the other")
                    .help("test against a literal, or declare the tool's arguments"),
                );
                None
            }
            (Synth::Record(a), _) | (_, Synth::Record(a)) => {
                self.record_error(f, &a, e.span);
                None
            }
            (Synth::Open(a), Synth::Known(n)) => {
                let s = self.scalar_of(f, &n, needle_span)?.scalar()?;
                let ty = if substring && s == Scalar::String {
                    Ty::StrOrList(Scalar::String)
                } else {
                    Ty::List(s)
                };
                Some((attr_operand(a, ty), n))
            }
            (Synth::Known(h), needle) => {
                let elem = match h.ty {
                    Ty::List(s) => s,
                    Ty::String if substring => Scalar::String,
                    Ty::StrOrList(s) if substring => s,
                    _ => {
                        let what = if substring {
                            "a string or a list"
                        } else {
                            "a list"
                        };
                        let mut d =
                            Diag::error(codes::TYPE, format!("{} is not {what}", ty_phrase(&h)))
                                .at(f.src, hay_span, format!("expected {what}"));
                        if h.ty == Ty::String && !substring {
                            d = d.help("for a substring, write `s contains \"text\"`");
                        }
                        self.error(d);
                        return None;
                    }
                };
                let n = match needle {
                    Synth::Open(b) => attr_operand(b, Ty::of_scalar(elem)),
                    Synth::Known(n) => n,
                    Synth::Record(_) => return None,
                };
                let ns = self.scalar_of(f, &n, needle_span)?;
                if ns != Ty::of_scalar(elem) {
                    self.error(
                        Diag::error(
                            codes::TYPE,
                            format!("{} never holds {}", ty_phrase(&h), ty_article(ns)),
                        )
                        .at(f.src, needle_span, format!("this is {}", ty_article(ns)))
                        .label(hay_span, format!("this holds {}s", elem.name())),
                    );
                    return None;
                }
                Some((h, n))
            }
        }
    }

    fn str_test(
        &mut self,
        f: FileRef<'_>,
        e: &ast::Expr,
        op: StrOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        ctx: &ToolCtx,
    ) -> Option<Cond> {
        if let ExprKind::List(_) = rhs.kind {
            self.error(
                Diag::error(
                    codes::TYPE,
                    format!("`{}` takes one value, not a list", op.as_str()),
                )
                .at(f.src, rhs.span, "a list")
                .help("combine several tests with `or`"),
            );
            return None;
        }
        match op {
            StrOp::Matches | StrOp::Like => {
                let ExprKind::Literal(ast::Literal {
                    kind: ast::LiteralKind::String(src, _),
                    span,
                }) = &rhs.kind
                else {
                    self.error(
                        Diag::error(
                            codes::TYPE,
                            format!("`{}` needs a literal pattern", op.as_str()),
                        )
                        .at(f.src, rhs.span, "not a string literal")
                        .help(
                            "patterns are compiled when the bundle is built; write them as r\"…\"",
                        ),
                    );
                    return None;
                };
                let compiled = if op == StrOp::Matches {
                    pattern::regex(src).map_err(|m| (codes::REGEX, "invalid regex", m))
                } else {
                    pattern::glob(src).map_err(|m| (codes::GLOB, "invalid glob", m))
                };
                let l = self.synth(f, lhs, ctx);
                let pattern = match compiled {
                    Ok(p) => p,
                    Err((code, what, m)) => {
                        self.error(
                            Diag::error(code, format!("{what} `{src}`"))
                                .at(f.src, *span, m)
                                .help("patterns are checked when the bundle is built; a bundle never holds one that cannot run"),
                        );
                        return None;
                    }
                };
                let l = self.expect(f, l?, Ty::String, lhs.span, "a string")?;
                let kind = if op == StrOp::Matches {
                    TestKind::Matches { lhs: l, pattern }
                } else {
                    TestKind::Like { lhs: l, pattern }
                };
                Some(self.test(f, e, kind))
            }
            StrOp::StartsWith | StrOp::EndsWith => {
                let l = self.synth(f, lhs, ctx);
                let r = self.synth(f, rhs, ctx);
                let l = self.expect(f, l?, Ty::String, lhs.span, "a string");
                let r = self.expect(f, r?, Ty::String, rhs.span, "a string");
                let (l, r) = (l?, r?);
                if let (Some(Const::String(a)), Some(Const::String(b))) =
                    (l.constant(), r.constant())
                {
                    let v = if op == StrOp::StartsWith {
                        a.starts_with(b.as_str())
                    } else {
                        a.ends_with(b.as_str())
                    };
                    return Some(Cond::Const(v));
                }
                let kind = if op == StrOp::StartsWith {
                    TestKind::StartsWith { lhs: l, rhs: r }
                } else {
                    TestKind::EndsWith { lhs: l, rhs: r }
                };
                Some(self.test(f, e, kind))
            }
            StrOp::Contains => {
                let hay = self.synth(f, lhs, ctx);
                let needle = self.synth(f, rhs, ctx);
                let (hay, needle) =
                    self.membership(f, e, hay?, lhs.span, needle?, rhs.span, true)?;
                if let (Some(Const::String(a)), Some(Const::String(b))) =
                    (hay.constant(), needle.constant())
                {
                    return Some(Cond::Const(a.contains(b.as_str())));
                }
                Some(self.test(
                    f,
                    e,
                    TestKind::Contains {
                        hay,
                        needle,
                        negated: false,
                    },
                ))
            }
        }
    }

    fn list_values(&mut self, f: FileRef<'_>, items: &[ast::ListItem]) -> Option<Vec<Const>> {
        let mut values: Vec<Const> = Vec::new();
        let mut first: Option<(Scalar, Span)> = None;
        let mut ok = true;
        for item in items {
            let (vals, span) = match item {
                ast::ListItem::Literal(l) => match literal_const(l) {
                    Some(c) => (vec![c], l.span),
                    None => {
                        self.error(
                            Diag::error(codes::TYPE, "a duration cannot be in a list").at(
                                f.src,
                                l.span,
                                "durations only follow `within`",
                            ),
                        );
                        ok = false;
                        continue;
                    }
                },
                ast::ListItem::Set(name) => match self.sets.get(&name.node) {
                    Some(s) => (s.values.to_vec(), name.span),
                    None if self.bad_sets.contains(&name.node) => {
                        ok = false;
                        continue;
                    }
                    None => {
                        let mut d = Diag::error(
                            codes::UNDEFINED_SET,
                            format!("undefined set `{}`", name.node),
                        )
                        .at(f.src, name.span, "no set has this name");
                        if let Some(s) =
                            did_you_mean(&name.node, self.sets.keys().map(String::as_str))
                        {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        self.error(d);
                        ok = false;
                        continue;
                    }
                },
            };
            for v in vals {
                match first {
                    None => first = Some((v.scalar(), span)),
                    Some((k, fs)) if k != v.scalar() => {
                        self.error(
                            Diag::error(
                                codes::TYPE,
                                format!("the list mixes {}s and {}s", k.name(), v.scalar().name()),
                            )
                            .at(f.src, span, format!("a {}", v.scalar().name()))
                            .label(fs, format!("a {}", k.name())),
                        );
                        ok = false;
                    }
                    _ => {}
                }
                values.push(v);
            }
        }
        ok.then(|| dedup_consts(values))
    }

    /// Refuses comparisons of `action` with names that are not actions.
    fn check_action(&mut self, f: FileRef<'_>, l: &Operand, value: &str, span: Span) {
        let OperandKind::Attr(a) = &l.kind else {
            return;
        };
        if a.segments() != ["action"] || schema::ACTIONS.contains(&value) {
            return;
        }
        let mut d = Diag::error(codes::ACTION, format!("unknown action `{value}`")).at(
            f.src,
            span,
            "`action` never has this value",
        );
        d = d.help(match did_you_mean(value, schema::ACTIONS.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("actions are {}", schema::ACTIONS.join(", ")),
        });
        self.error(d);
    }

    /// The scalar type of an operand used in a comparison, or an error.
    fn scalar_of(&mut self, f: FileRef<'_>, o: &Operand, span: Span) -> Option<Ty> {
        match o.ty {
            Ty::String | Ty::Number | Ty::Bool => Some(o.ty),
            Ty::Timestamp => {
                self.timestamp_error(f, span);
                None
            }
            _ => {
                self.error(
                    Diag::error(codes::TYPE, format!("{} cannot be compared", ty_phrase(o)))
                        .at(f.src, span, format!("this is {}", ty_article(o.ty)))
                        .help("compare strings, numbers or booleans; test list members with `in` or `contains`"),
                );
                None
            }
        }
    }

    fn timestamp_error(&mut self, f: FileRef<'_>, span: Span) {
        self.error(
            Diag::error(codes::TYPE, "`ts` is a timestamp and cannot be compared")
                .at(f.src, span, "the event time")
                .help("use `time.hour` or `time.weekday`, a `within` window, or `has ts`"),
        );
    }

    fn record_error(&mut self, f: FileRef<'_>, a: &Attr, span: Span) {
        self.error(
            Diag::error(codes::TYPE, format!("`{a}` is a record, not a value"))
                .at(f.src, span, "a record")
                .help(format!(
                    "name one of its fields, e.g. `{a}.…`, or test it with `has {a}`"
                )),
        );
    }

    /// Gives `s` the type `want`, or reports why it cannot have it.
    fn expect(
        &mut self,
        f: FileRef<'_>,
        s: Synth,
        want: Ty,
        span: Span,
        what: &str,
    ) -> Option<Operand> {
        match s {
            Synth::Open(a) => Some(attr_operand(a, want)),
            Synth::Record(a) => {
                self.record_error(f, &a, span);
                None
            }
            Synth::Known(o) => {
                let fits = match want {
                    Ty::Seq => matches!(o.ty, Ty::String | Ty::List(_) | Ty::Seq),
                    w => o.ty == w,
                };
                if fits {
                    return Some(o);
                }
                if o.ty == Ty::Timestamp {
                    self.timestamp_error(f, span);
                    return None;
                }
                let mut d = Diag::error(
                    codes::TYPE,
                    format!("expected {what}, found {}", ty_phrase(&o)),
                )
                .at(f.src, span, format!("this is {}", ty_article(o.ty)));
                if want == Ty::Bool {
                    d = d.help("compare it to get a condition, e.g. `agent.trust > 500`");
                } else if want == Ty::String {
                    d = d.help(
                        "`matches`, `like`, `starts_with`, `ends_with` and the string functions (`lower`, `fold`, `decoded`, …) work on strings; values are never converted",
                    );
                }
                self.error(d);
                None
            }
        }
    }

    /// Looks at a value expression.
    fn synth(&mut self, f: FileRef<'_>, e: &ast::Expr, ctx: &ToolCtx) -> Option<Synth> {
        match &e.kind {
            ExprKind::Literal(l) => match literal_const(l) {
                Some(c) => {
                    let ty = Ty::of_scalar(c.scalar());
                    Some(Synth::Known(Operand {
                        kind: OperandKind::Const(c),
                        ty,
                    }))
                }
                None => {
                    self.error(
                        Diag::error(codes::TYPE, "a duration is not a value here")
                            .at(f.src, e.span, "durations only follow `within`")
                            .help("write windows as `count(COND, within 5m)`"),
                    );
                    None
                }
            },
            ExprKind::Path(p) => self.path(f, p, ctx),
            ExprKind::Call { name, args } => self.call(f, e, name, args, ctx).map(Synth::Known),
            ExprKind::List(_) => {
                self.error(
                    Diag::error(codes::TYPE, "a list literal can only follow `in`").at(
                        f.src,
                        e.span,
                        "not allowed here",
                    ),
                );
                None
            }
            _ => {
                self.error(
                    Diag::error(codes::TYPE, "a condition is not a value")
                        .at(f.src, e.span, "expected a value")
                        .help("parenthesized conditions combine with `and`/`or`, they cannot be compared"),
                );
                None
            }
        }
    }

    /// Resolves an attribute path.
    fn path(&mut self, f: FileRef<'_>, p: &ast::Path, ctx: &ToolCtx) -> Option<Synth> {
        let names: Vec<String> = p.segments.iter().map(|s| s.name.clone()).collect();
        let attr = Attr::new(names.iter().cloned());
        let (root, rest) = names.split_first()?;
        if rest.is_empty() && self.sets.contains_key(root) {
            self.error(
                Diag::error(codes::TYPE, format!("set `{root}` is not a value"))
                    .at(f.src, p.span, "a set")
                    .help(format!("test membership with `… in {root}`")),
            );
            return None;
        }
        if let Some(found) = self.declared_path(f, p, &names, &attr) {
            return found;
        }
        if schema::OPEN_ROOTS.contains(&root.as_str()) {
            if rest.is_empty() {
                return Some(Synth::Record(attr));
            }
            if root == "args" {
                return self.arg_path(f, p, rest, attr, ctx);
            }
            return Some(Synth::Open(attr));
        }
        let dotted = names.join(".");
        if let Some(b) = schema::builtin(&dotted) {
            return Some(Synth::Known(attr_operand(attr, b.ty)));
        }
        if rest.is_empty() && schema::RECORDS.contains(&root.as_str()) {
            return Some(Synth::Record(attr));
        }
        let mut d = Diag::error(
            codes::UNKNOWN_ATTRIBUTE,
            format!("unknown attribute `{}`", p.display()),
        )
        .at(f.src, p.span, "not an attribute of the request");
        // A record on its own is no suggestion for a longer path (`annotation.pi` is not
        // `annotations`); the same path in lower case is the likeliest one, then the one
        // attribute the path begins (`agent.tr` → `agent.trust`, not the closer `agent.id`).
        let lower = dotted.to_lowercase();
        let declared = self.declared_names();
        let mut known: Vec<&str> = schema::attribute_names().collect();
        known.extend(declared.iter().map(String::as_str));
        let names = || {
            known
                .iter()
                .copied()
                .filter(|n| rest.is_empty() || !schema::RECORDS.iter().any(|r| r == n))
        };
        let mut prefixed = names().filter(|n| lower.len() >= 3 && n.starts_with(&lower));
        let only_prefixed = match (prefixed.next(), prefixed.next()) {
            (Some(n), None) => Some(n),
            _ => None,
        };
        let suggestion = names()
            .find(|n| *n == lower)
            .or(only_prefixed)
            .or_else(|| did_you_mean(&dotted, names()))
            .map(str::to_string)
            .or_else(|| {
                // A misspelled open root: `arg.path` → `args.path`.
                let root_lower = root.to_lowercase();
                let open = schema::OPEN_ROOTS.iter().copied();
                let open_root = open
                    .clone()
                    .find(|r| *r == root_lower)
                    .or_else(|| did_you_mean(root, open));
                open_root.map(|r| {
                    let mut s = vec![r.to_string()];
                    s.extend(rest.iter().cloned());
                    crate::syntax::ast::display_path(s.iter().map(String::as_str))
                })
            });
        let mut roots: Vec<&str> = self
            .attrs
            .keys()
            .filter_map(|k| k.first().map(String::as_str))
            .filter(|r| !schema::RECORDS.contains(r))
            .collect();
        roots.dedup();
        d = d.help(match suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None if roots.is_empty() => "attributes are ts, time.*, session, agent.*, action, tool, args.*, tokens, cost, target, content, labels and annotations.*; declare others with `attribute PATH: TYPE`".to_string(),
            None => format!(
                "attributes are ts, time.*, session, agent.*, action, tool, args.*, tokens, cost, target, content, labels, annotations.* and the declared {}.*",
                roots.join(".*, ")
            ),
        });
        self.error(d);
        None
    }

    /// A path a declared attribute covers: `Some(Some(_))` with its type (or as a record),
    /// `Some(None)` when the path goes where the declaration has nothing (reported), `None`
    /// when no declaration concerns it.
    fn declared_path(
        &mut self,
        f: FileRef<'_>,
        p: &ast::Path,
        names: &[String],
        attr: &Attr,
    ) -> Option<Option<Synth>> {
        let found = self
            .attrs
            .values()
            .find_map(|d| d.type_at(names).map(|r| (d, r)));
        let Some((d, r)) = found else {
            // A prefix of declared paths (`has context`) is a record.
            let inside = self
                .attrs
                .keys()
                .any(|k| k.len() > names.len() && k.starts_with(names));
            return inside.then(|| Some(Synth::Record(attr.clone())));
        };
        match r {
            Ok(ty) => Some(Some(match decl_ty(ty) {
                Some(t) => Synth::Known(attr_operand(attr.clone(), t)),
                None => Synth::Record(attr.clone()),
            })),
            Err(k) => {
                let prefix: Vec<&str> = names.iter().take(k).map(String::as_str).collect();
                let shown_prefix = crate::syntax::ast::display_path(prefix.iter().copied());
                let seg = names.get(k).map(String::as_str).unwrap_or("");
                let ty = match d.type_at(names.get(..k).unwrap_or(&[])) {
                    Some(Ok(t)) => t.clone(),
                    _ => d.ty.clone(),
                };
                let mut e = Diag::error(
                    codes::UNKNOWN_ATTRIBUTE,
                    format!("unknown attribute `{}`", p.display()),
                );
                e = match &ty {
                    DeclTy::Record(fields) => {
                        let e = e.at(
                            f.src,
                            p.span,
                            format!("the declared record `{shown_prefix}` has no field `{seg}`"),
                        );
                        let fields: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                        match did_you_mean(seg, fields.iter().copied()) {
                            Some(s) => e.help(format!("did you mean `{shown_prefix}.{s}`?")),
                            None => {
                                e.help(format!("`{shown_prefix}` declares {}", fields.join(", ")))
                            }
                        }
                    }
                    other => e
                        .at(
                            f.src,
                            p.span,
                            format!("`{shown_prefix}` is declared {other}, not a record"),
                        )
                        .help(format!("test `{shown_prefix}` itself")),
                };
                self.error(e);
                Some(None)
            }
        }
    }

    /// `args.…`: typed by the declarations of the tools the context allows.
    fn arg_path(
        &mut self,
        f: FileRef<'_>,
        p: &ast::Path,
        rest: &[String],
        attr: Attr,
        ctx: &ToolCtx,
    ) -> Option<Synth> {
        let candidates: Vec<&ToolSig> = match &ctx.tools {
            Some(set) => set.iter().filter_map(|t| self.tools.get(t)).collect(),
            None => self
                .tools
                .values()
                .filter(|t| t.arg_type(rest).is_some())
                .collect(),
        };
        let mut found: Vec<(&str, &DeclTy)> = Vec::new();
        for t in &candidates {
            match t.arg_type(rest) {
                Some(ty) => found.push((&t.name, ty)),
                None => {
                    let first = rest.first().map(String::as_str).unwrap_or("");
                    let mut d = Diag::error(
                        codes::UNKNOWN_ARGUMENT,
                        format!("tool `{}` has no argument `{}`", t.name, p.display()),
                    )
                    .at(
                        f.src,
                        p.span,
                        format!("not declared for `{}`", t.name),
                    );
                    let names: Vec<&str> = t.params.iter().map(|(n, _)| n.as_str()).collect();
                    d = d.help(match did_you_mean(first, names.iter().copied()) {
                        Some(s) => format!("did you mean `args.{s}`?"),
                        None if names.is_empty() => {
                            format!("`{}` is declared without arguments", t.name)
                        }
                        None => format!("`{}` declares {}", t.name, names.join(", ")),
                    });
                    self.error(d);
                    return None;
                }
            }
        }
        let Some((first_tool, first_ty)) = found.first().copied() else {
            return Some(Synth::Open(attr));
        };
        if let Some((other, ty)) = found.iter().find(|(_, t)| *t != first_ty) {
            self.error(
                Diag::error(
                    codes::TYPE,
                    format!("`{}` has different types for different tools", p.display()),
                )
                .at(f.src, p.span, "the type depends on the tool")
                .help(format!(
                    "`{first_tool}` declares it {first_ty} and `{other}` declares it {ty}; fix the tool first, e.g. `tool == \"{first_tool}\" and …`"
                )),
            );
            return None;
        }
        Some(match decl_ty(first_ty) {
            Some(ty) => Synth::Known(attr_operand(attr, ty)),
            None => Synth::Record(attr),
        })
    }

    fn call(
        &mut self,
        f: FileRef<'_>,
        e: &ast::Expr,
        name: &ast::Ident,
        args: &[CallArg],
        ctx: &ToolCtx,
    ) -> Option<Operand> {
        let kind = match name.node.as_str() {
            "count" => Some(StatefulKind::Count),
            "sum" => Some(StatefulKind::Sum),
            "seen" => Some(StatefulKind::Seen),
            _ => None,
        };
        if let Some(kind) = kind {
            return self.stateful(f, e, kind, args);
        }
        let Some(func) = Func::ALL.iter().copied().find(|fu| fu.name() == name.node) else {
            let mut names: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
            names.extend(["count", "sum", "seen"]);
            let mut d = Diag::error(codes::FUNCTION, format!("unknown function `{}`", name.node))
                .at(f.src, name.span, "not a function");
            d = d.help(match did_you_mean(&name.node, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("functions are {}", names.join(", ")),
            });
            self.error(d);
            return None;
        };
        let [CallArg::Expr(arg)] = args else {
            self.error(
                Diag::error(
                    codes::FUNCTION,
                    format!("`{}` takes one argument", func.name()),
                )
                .at(f.src, e.span, format!("{} arguments", args.len())),
            );
            return None;
        };
        let s = self.synth(f, arg, ctx)?;
        let want = func.arg();
        if let Synth::Known(o) = &s {
            // The two folds mixed up: say which one fits.
            let swap = match (func, o.ty) {
                (Func::Fold, Ty::List(_) | Ty::StrOrList(_)) => Some(("a string", "fold_each")),
                (Func::FoldEach, Ty::String) => Some(("a list of strings", "fold")),
                _ => None,
            };
            if let Some((takes, other)) = swap {
                self.error(
                    Diag::error(
                        codes::TYPE,
                        format!(
                            "`{}` takes {takes}, found {}",
                            func.name(),
                            ty_phrase(o)
                        ),
                    )
                    .at(f.src, arg.span, format!("this is {}", ty_article(o.ty)))
                    .help(format!(
                        "use `{other}(…)`: `fold_each` folds every item of a list of strings, `fold` one string"
                    )),
                );
                return None;
            }
        }
        let what = match want {
            Ty::Seq => "a string or a list",
            Ty::List(_) => "a list of strings",
            _ => "a string",
        };
        let result = func.result();
        let inner = self.expect(f, s, want, arg.span, what)?;
        // Fold functions of literals (a value that is unknown or a list stays a call).
        if let Some(Const::String(s)) = inner.constant() {
            let folded = match crate::builtins::apply(func, s) {
                Some(crate::builtins::FnValue::Str(v)) => Some(Const::String(v)),
                Some(crate::builtins::FnValue::Num(n)) => Some(Const::Number(n)),
                Some(crate::builtins::FnValue::Bool(b)) => Some(Const::Bool(b)),
                Some(crate::builtins::FnValue::List(_)) | None => None,
            };
            if let Some(v) = folded {
                return Some(Operand {
                    kind: OperandKind::Const(v),
                    ty: result,
                });
            }
        }
        Some(Operand {
            kind: OperandKind::Func(func, Box::new(inner)),
            ty: result,
        })
    }

    fn stateful(
        &mut self,
        f: FileRef<'_>,
        e: &ast::Expr,
        kind: StatefulKind,
        args: &[CallArg],
    ) -> Option<Operand> {
        let usage = match kind {
            StatefulKind::Count => "count(CONDITION [, within DURATION] [, per PATH, …])",
            StatefulKind::Sum => "sum(PATH, CONDITION [, within DURATION] [, per PATH, …])",
            StatefulKind::Seen => "seen(CONDITION [, within DURATION] [, per PATH, …])",
        };
        let mut exprs = Vec::new();
        let mut within = None;
        let mut per = None;
        let mut bad = None;
        for a in args {
            match a {
                CallArg::Expr(x) => {
                    if within.is_some() || per.is_some() {
                        bad = Some(x.span);
                    }
                    exprs.push(x);
                }
                CallArg::Within(d) => {
                    if within.is_some() || per.is_some() {
                        bad = Some(d.span);
                    }
                    within = Some(d);
                }
                CallArg::Per(paths, span) => {
                    if per.is_some() {
                        bad = Some(*span);
                    }
                    per = Some((paths, *span));
                }
            }
        }
        let want_exprs = if kind == StatefulKind::Sum { 2 } else { 1 };
        if bad.is_some() || exprs.len() != want_exprs {
            self.error(
                Diag::error(
                    codes::STATEFUL,
                    format!("wrong arguments to `{}`", kind.name()),
                )
                .at(f.src, bad.unwrap_or(e.span), "here")
                .help(format!("write {usage}")),
            );
            return None;
        }
        let any = ToolCtx::any();
        let mut value = None;
        let mut ok = true;
        let cond_expr = if kind == StatefulKind::Sum {
            let (path_expr, cond_expr) = match exprs.as_slice() {
                [p, c] => (*p, *c),
                _ => return None,
            };
            match &path_expr.kind {
                ExprKind::Path(p) => {
                    let s = self.path(f, p, &any);
                    match s.and_then(|s| self.expect(f, s, Ty::Number, path_expr.span, "a number"))
                    {
                        Some(Operand {
                            kind: OperandKind::Attr(a),
                            ..
                        }) => value = Some(a),
                        _ => ok = false,
                    }
                }
                _ => {
                    self.error(
                        Diag::error(codes::STATEFUL, "`sum` adds up an attribute")
                            .at(f.src, path_expr.span, "not an attribute path")
                            .help(format!("write {usage}")),
                    );
                    ok = false;
                }
            }
            cond_expr
        } else {
            match exprs.first() {
                Some(c) => *c,
                None => return None,
            }
        };
        let cond = self.cond(f, cond_expr, &any);
        let mut keys = Vec::new();
        match per {
            None => keys.push(Attr::new(["session"])),
            Some((paths, _)) => {
                for p in paths {
                    match self.path(f, p, &any) {
                        Some(Synth::Open(a)) => keys.push(a),
                        Some(Synth::Known(Operand {
                            kind: OperandKind::Attr(a),
                            ty: Ty::String | Ty::Number | Ty::Bool,
                        })) => keys.push(a),
                        Some(Synth::Known(o)) => {
                            self.error(
                                Diag::error(codes::STATEFUL, format!("cannot key by {}", ty_phrase(&o)))
                                    .at(f.src, p.span, "not a string, number or bool")
                                    .help("`per` takes attributes with one value each, such as agent.id or session"),
                            );
                            ok = false;
                        }
                        Some(Synth::Record(a)) => {
                            self.record_error(f, &a, p.span);
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
                let mut seen = BTreeSet::new();
                for k in &keys {
                    if !seen.insert(k.clone()) {
                        self.error(
                            Diag::error(codes::STATEFUL, format!("`{k}` is named twice in `per`"))
                                .at(f.src, e.span, "repeated key"),
                        );
                        ok = false;
                    }
                }
            }
        }
        let cond = cond?;
        if !ok {
            return None;
        }
        let id = StatefulId(u32::try_from(self.statefuls.len()).ok()?);
        self.statefuls.push(Stateful {
            kind,
            cond,
            within: within.and_then(|d| d.node.nanos()),
            per: keys,
            value,
            loc: f.loc(e.span),
        });
        let ty = if kind == StatefulKind::Seen {
            Ty::Bool
        } else {
            Ty::Number
        };
        Some(Operand {
            kind: OperandKind::Stateful(id),
            ty,
        })
    }
}

fn attr_operand(a: Attr, ty: Ty) -> Operand {
    Operand {
        kind: OperandKind::Attr(a),
        ty,
    }
}

/// The type of a declared argument as seen by conditions; `None` for records.
fn decl_ty(d: &DeclTy) -> Option<Ty> {
    Some(match d {
        DeclTy::String => Ty::String,
        DeclTy::Number => Ty::Number,
        DeclTy::Bool => Ty::Bool,
        DeclTy::List(inner) => Ty::List(match **inner {
            DeclTy::Number => Scalar::Number,
            DeclTy::Bool => Scalar::Bool,
            _ => Scalar::String,
        }),
        DeclTy::Record(_) => return None,
    })
}

fn fold_cmp(op: CmpOp, a: &Const, b: &Const) -> bool {
    match (a, b) {
        (Const::Number(x), Const::Number(y)) => op.holds(*x, *y),
        _ => match op {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            _ => false,
        },
    }
}

/// "`agent.trust` (a number)" or "the literal 5".
fn ty_phrase(o: &Operand) -> String {
    match &o.kind {
        OperandKind::Attr(a) => format!("`{a}` ({})", ty_article(o.ty)),
        OperandKind::Const(c) => format!("the literal {c}"),
        OperandKind::Func(func, _) => format!("`{}(…)` ({})", func.name(), ty_article(o.ty)),
        OperandKind::Stateful(_) => format!("a stateful value ({})", ty_article(o.ty)),
    }
}

fn ty_article(t: Ty) -> String {
    let n = t.name();
    match n.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {n}"),
        _ => format!("a {n}"),
    }
}
