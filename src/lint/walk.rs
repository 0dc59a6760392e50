//! Walking the syntax trees of a bundle: every expression, every string, with where it is.

use crate::check::{Bundle, Loc};
use crate::syntax::ast::{self, CallArg, Effect, ExprKind, ListItem, LiteralKind, Span};

/// Where an expression sits.
#[derive(Clone, Copy)]
pub struct Place<'a> {
    pub file: u32,
    pub policy: Option<&'a ast::Policy>,
    /// The rule, when the expression is in a rule's `when` or `unless`.
    pub rule: Option<&'a ast::Rule>,
}

impl Place<'_> {
    pub fn loc(&self, span: Span) -> Loc {
        Loc {
            file: self.file,
            span,
        }
    }

    /// The effect of the enclosing rule, if any.
    pub fn effect(&self) -> Option<Effect> {
        self.rule.map(|r| r.effect.node)
    }
}

/// Calls `f` on every expression of every rule and `applies` condition, outer ones first.
pub fn exprs<'a>(bundle: &'a Bundle, f: &mut dyn FnMut(Place<'a>, &'a ast::Expr)) {
    for (i, file) in bundle.asts.iter().enumerate() {
        let fi = u32::try_from(i).unwrap_or(u32::MAX);
        for item in &file.items {
            let ast::Item::Policy(p) = item else { continue };
            let place = Place {
                file: fi,
                policy: Some(p),
                rule: None,
            };
            if let Some(e) = &p.applies {
                expr(place, e, f);
            }
            for r in &p.rules {
                let place = Place {
                    rule: Some(r),
                    ..place
                };
                for e in [&r.when, &r.unless].into_iter().flatten() {
                    expr(place, e, f);
                }
            }
        }
    }
}

fn expr<'a>(place: Place<'a>, e: &'a ast::Expr, f: &mut dyn FnMut(Place<'a>, &'a ast::Expr)) {
    f(place, e);
    match &e.kind {
        ExprKind::Literal(_) | ExprKind::List(_) | ExprKind::Path(_) | ExprKind::Has(_) => {}
        ExprKind::Call { args, .. } => {
            for a in args {
                if let CallArg::Expr(x) = a {
                    expr(place, x, f);
                }
            }
        }
        ExprKind::Not(x) => expr(place, x, f),
        ExprKind::And(xs) | ExprKind::Or(xs) => {
            for x in xs {
                expr(place, x, f);
            }
        }
        ExprKind::Compare { lhs, rhs, .. }
        | ExprKind::In { lhs, rhs, .. }
        | ExprKind::StrTest { lhs, rhs, .. } => {
            expr(place, lhs, f);
            expr(place, rhs, f);
        }
    }
}

/// What a string in the source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrKind {
    /// A string value in a condition or a set.
    Value,
    /// A `because` message, a `description` or an annotation argument.
    Message,
    /// A quoted name: `args["x-y"]`, a quoted argument name.
    Name,
}

/// Calls `f` on every string literal and quoted name of the bundle.
pub fn strings(bundle: &Bundle, f: &mut dyn FnMut(Loc, &str, StrKind)) {
    for (i, file) in bundle.asts.iter().enumerate() {
        let fi = u32::try_from(i).unwrap_or(u32::MAX);
        let loc = |span| Loc { file: fi, span };
        let lit = |l: &ast::Literal, kind: StrKind, f: &mut dyn FnMut(Loc, &str, StrKind)| {
            if let LiteralKind::String(s, _) = &l.kind {
                f(loc(l.span), s, kind);
            }
        };
        let meta = |m: &ast::Meta, f: &mut dyn FnMut(Loc, &str, StrKind)| {
            for a in &m.annotations {
                for l in &a.args {
                    lit(l, StrKind::Message, f);
                }
            }
        };
        fn params(
            ps: &[ast::Param],
            loc: &dyn Fn(Span) -> Loc,
            f: &mut dyn FnMut(Loc, &str, StrKind),
        ) {
            for p in ps {
                if p.quoted {
                    f(loc(p.name.span), &p.name.node, StrKind::Name);
                }
                if let ast::TypeKind::Record(inner) = &p.ty.kind {
                    params(inner, loc, f);
                }
            }
        }
        for item in &file.items {
            meta(item.meta(), f);
            match item {
                ast::Item::Tool(t) => params(&t.params, &loc, f),
                ast::Item::Attribute(a) => {
                    for seg in &a.path.segments {
                        if seg.quoted {
                            f(loc(seg.span), &seg.name, StrKind::Name);
                        }
                    }
                    if let ast::TypeKind::Record(inner) = &a.ty.kind {
                        params(inner, &loc, f);
                    }
                }
                ast::Item::Set(s) => {
                    if let ast::SetBody::List(items) = &s.body {
                        for it in items {
                            if let ListItem::Literal(l) = it {
                                lit(l, StrKind::Value, f);
                            }
                        }
                    }
                }
                ast::Item::Default(_) => {}
                ast::Item::Policy(p) => {
                    if let Some(d) = &p.description {
                        f(loc(d.span), &d.node, StrKind::Message);
                    }
                    for r in &p.rules {
                        meta(&r.meta, f);
                        if let Some(b) = &r.because {
                            f(loc(b.span), &b.node, StrKind::Message);
                        }
                    }
                }
            }
        }
    }
    exprs(bundle, &mut |place, e| match &e.kind {
        ExprKind::Literal(l) => {
            if let LiteralKind::String(s, _) = &l.kind {
                f(place.loc(l.span), s, StrKind::Value);
            }
        }
        ExprKind::List(items) => {
            for it in items {
                if let ListItem::Literal(l) = it
                    && let LiteralKind::String(s, _) = &l.kind
                {
                    f(place.loc(l.span), s, StrKind::Value);
                }
            }
        }
        ExprKind::Path(p) | ExprKind::Has(p) => {
            for seg in &p.segments {
                if seg.quoted {
                    f(place.loc(seg.span), &seg.name, StrKind::Name);
                }
            }
        }
        ExprKind::Call { args, .. } => {
            for a in args {
                if let CallArg::Per(paths, _) = a {
                    for p in paths {
                        for seg in &p.segments {
                            if seg.quoted {
                                f(place.loc(seg.span), &seg.name, StrKind::Name);
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    });
}

/// The attribute path an expression names, if it is a path.
pub fn path_of(e: &ast::Expr) -> Option<&ast::Path> {
    match &e.kind {
        ExprKind::Path(p) => Some(p),
        _ => None,
    }
}

/// The path's segments as strings.
pub fn segs(p: &ast::Path) -> Vec<&str> {
    p.segments.iter().map(|s| s.name.as_str()).collect()
}

/// A string literal's value.
pub fn string_lit(e: &ast::Expr) -> Option<(&str, Span)> {
    match &e.kind {
        ExprKind::Literal(ast::Literal {
            kind: LiteralKind::String(s, _),
            span,
        }) => Some((s, *span)),
        _ => None,
    }
}
