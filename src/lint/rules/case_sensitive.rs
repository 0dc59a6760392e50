//! A string comparison that case (or URL syntax) makes wrong: hosts and tool names compared
//! where `lower()` or `url_host()` is needed.
//!
//! Four shapes are reported:
//!
//! - **Never equal.** `lower(x) == "Admin"`, `url_host(u) == "Example.com"` or
//!   `url_host(u) == "https://example.com"`: the function's result can never be that string
//!   (`lower` has no capitals, `url_host` is a lower-cased host without scheme or path), so
//!   the test is always false (or, with `!=`, always true).
//! - **Tool name case.** `tool == "Web_Search"` when the bundle declares `web_search`: tool
//!   names are compared exactly, so the rule never sees the calls it names.
//! - **Hosts in deny rules.** `args.host == "evil.com"` in a `deny`, `escalate` or `warn`
//!   rule: host names are case-insensitive, so `EVIL.com` walks past it. Wrap the value in
//!   `lower(…)`.
//! - **URL prefixes.** `args.url starts_with "https://example.com"` is also true for
//!   `https://example.com.evil.net` and `https://example.com@evil.net`.
//!
//! **Example.**
//! ```gov
//! rule blocked: deny when args.host in ["evil.com", "bad.org"] because "…"
//! ```
//!
//! **Fix.** `lower(args.host) in [...]`; `url_host(args.url) == "example.com"`; the declared
//! spelling of the tool.
use crate::check::{Bundle, Const};
use crate::lint::walk::{self, Place, path_of, segs, string_lit};
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::{self, CmpOp, Effect, ExprKind, ListItem, LiteralKind, Span, StrOp};

pub const LINT: Lint = Lint {
    code: "G0206",
    name: "case-sensitive-comparison",
    level: Level::Warn,
    source: include_str!("case_sensitive.rs"),
    check,
};

const HOST_NAMES: &[&str] = &["host", "hostname", "domain"];
const URL_NAMES: &[&str] = &["url", "uri", "href", "link", "endpoint"];

/// The string literals a test compares with, and where each is.
fn literals<'a>(bundle: &'a Bundle, e: &'a ast::Expr) -> Vec<(String, Span)> {
    if let Some((s, span)) = string_lit(e) {
        return vec![(s.to_string(), span)];
    }
    match &e.kind {
        ExprKind::List(items) => items
            .iter()
            .filter_map(|i| match i {
                ListItem::Literal(ast::Literal {
                    kind: LiteralKind::String(s, _),
                    span,
                }) => Some((s.clone(), *span)),
                _ => None,
            })
            .collect(),
        ExprKind::Path(p) if p.segments.len() == 1 => {
            let name = p.segments.first().map(|s| s.name.as_str()).unwrap_or("");
            bundle
                .sets
                .iter()
                .filter(|s| s.name == name)
                .flat_map(|s| s.values.iter())
                .filter_map(|c| match c {
                    Const::String(s) => Some((s.clone(), e.span)),
                    _ => None,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn last_seg(e: &ast::Expr) -> Option<String> {
    path_of(e)
        .and_then(|p| p.segments.last())
        .map(|s| s.name.to_ascii_lowercase())
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    walk::exprs(bundle, &mut |place: Place<'_>, e| {
        let (lhs, rhs, positive, prefix) = match &e.kind {
            ExprKind::Compare {
                op: op @ (CmpOp::Eq | CmpOp::Ne),
                lhs,
                rhs,
            } => {
                if string_lit(lhs).is_some() && string_lit(rhs).is_none() {
                    (&**rhs, &**lhs, *op == CmpOp::Eq, false)
                } else {
                    (&**lhs, &**rhs, *op == CmpOp::Eq, false)
                }
            }
            ExprKind::In { negated, lhs, rhs } => (&**lhs, &**rhs, !*negated, false),
            ExprKind::StrTest {
                op: op @ (StrOp::StartsWith | StrOp::EndsWith | StrOp::Contains),
                lhs,
                rhs,
            } => (&**lhs, &**rhs, true, *op == StrOp::StartsWith),
            _ => return,
        };
        let lits = literals(bundle, rhs);
        if lits.is_empty() {
            return;
        }
        // Never equal: a function result compared with a string it cannot produce.
        if let ExprKind::Call { name, .. } = &lhs.kind {
            for (s, span) in &lits {
                let impossible = match name.node.as_str() {
                    "lower" => crate::builtins::lower(s) != *s,
                    "upper" => crate::builtins::upper(s) != *s,
                    "url_host" => {
                        crate::builtins::lower(s) != *s || s.contains("://") || s.contains('/')
                    }
                    "fold_each" => folded(s).is_none_or(|f| f != *s),
                    _ => false,
                };
                if impossible {
                    let what = match name.node.as_str() {
                        "url_host" => "a lower-cased host name without scheme or path",
                        "fold_each" => "a list of folded strings (`fold`)",
                        "lower" => "lower case",
                        _ => "upper case",
                    };
                    out.push(
                        Finding::new(format!(
                            "`{}(…)` is never {}: its result is {what}",
                            name.node,
                            crate::syntax::ast::quote_string(s)
                        ))
                        .at(
                            place.loc(*span),
                            if positive {
                                "this test is always false"
                            } else {
                                "this test is always true"
                            },
                        )
                        .help(match name.node.as_str() {
                            "url_host" => format!(
                                "compare with the bare host: {}",
                                crate::syntax::ast::quote_string(&host_of(s))
                            ),
                            "fold_each" => match folded(s) {
                                Some(f) => format!(
                                    "write the constant as `fold` gives it: {}",
                                    crate::syntax::ast::quote_string(&f)
                                ),
                                None => "write the constant as `fold` gives it".to_string(),
                            },
                            "lower" => format!(
                                "write the constant in lower case: {}",
                                crate::syntax::ast::quote_string(&crate::builtins::lower(s))
                            ),
                            _ => format!(
                                "write the constant in upper case: {}",
                                crate::syntax::ast::quote_string(&crate::builtins::upper(s))
                            ),
                        }),
                    );
                }
            }
            return;
        }
        let Some(path) = path_of(lhs) else { return };
        let names = segs(path);
        // Tool names spelled in another case than declared.
        if names == ["tool"] && !bundle.tools.is_empty() {
            for (s, span) in &lits {
                if bundle.tools.iter().any(|t| t.name == *s) {
                    continue;
                }
                if let Some(t) = bundle.tools.iter().find(|t| t.name.eq_ignore_ascii_case(s)) {
                    out.push(
                        Finding::new(format!(
                            "tool `{s}` is not declared; the declared tool is `{}` (tool names are compared exactly)",
                            t.name
                        ))
                        .at(place.loc(*span), "different case")
                        .related(t.loc, "declared here")
                        .help(format!("write `{}`", t.name)),
                    );
                }
            }
            return;
        }
        let last = last_seg(lhs).unwrap_or_default();
        let denies = matches!(
            place.effect(),
            Some(Effect::Deny | Effect::Escalate | Effect::Warn)
        );
        if HOST_NAMES.contains(&last.as_str()) && denies && positive {
            let span = lits.first().map(|(_, s)| *s).unwrap_or(e.span);
            let example = lits
                .first()
                .map(|(s, _)| crate::builtins::upper(s))
                .unwrap_or_default();
            out.push(
                Finding::new(format!(
                    "`{}` is compared case-sensitively: host names are not, so `{example}` is not caught",
                    path.display()
                ))
                .at(place.loc(span), "case-sensitive")
                .help(format!("compare `lower({})` with lower-case names", path.display())),
            );
            return;
        }
        if URL_NAMES.contains(&last.as_str()) && prefix {
            for (s, span) in &lits {
                let rest = s
                    .strip_prefix("https://")
                    .or_else(|| s.strip_prefix("http://"));
                let Some(rest) = rest else { continue };
                if rest.is_empty() || rest.contains('/') {
                    continue;
                }
                out.push(
                    Finding::new(format!(
                        "`{} starts_with {}` is also true for `{s}.evil.net` and `{s}@evil.net`",
                        path.display(),
                        crate::syntax::ast::quote_string(s)
                    ))
                    .at(place.loc(*span), "a URL prefix is not a host check")
                    .help(format!(
                        "compare the host: `url_host({}) == {}`",
                        path.display(),
                        crate::syntax::ast::quote_string(&crate::builtins::lower(rest))
                    )),
                );
            }
        }
    });
}

/// The host of a URL-like constant, for the help text.
fn host_of(s: &str) -> String {
    let rest = s.split("://").nth(1).unwrap_or(s);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    crate::builtins::lower(host)
}

/// `fold(s)`, when known.
fn folded(s: &str) -> Option<String> {
    match crate::builtins::apply(crate::check::Func::Fold, s)? {
        crate::builtins::FnValue::Str(f) => Some(f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0206",
            "policy p {\n rule a: allow when url_host(args.u) == \"example.com\"\n}",
        );
        pass(
            "G0206",
            "policy p {\n rule a: deny when lower(args.host) == \"evil.com\" because \"x\"\n}",
        );
        pass(
            "G0206",
            "tool web_search(q: string)\npolicy p {\n rule a: allow when tool == \"web_search\"\n}",
        );
        pass(
            "G0206",
            "policy p {\n rule a: allow when args.host == \"ok.com\"\n}",
        );
        pass(
            "G0206",
            "policy p {\n rule a: allow when args.url starts_with \"https://example.com/\"\n}",
        );
        let f = fail(
            "G0206",
            "policy p {\n rule a: allow when url_host(args.u) == \"Example.com\"\n}",
        );
        assert!(f[0].label.contains("always false"));
        fail(
            "G0206",
            "policy p {\n rule a: allow when url_host(args.u) == \"https://example.com\"\n}",
        );
        fail(
            "G0206",
            "policy p {\n rule a: allow when lower(args.u) in [\"Admin\"]\n}",
        );
        fail(
            "G0206",
            "tool web_search(q: string)\npolicy p {\n rule a: allow when tool == \"Web_Search\"\n}",
        );
        fail(
            "G0206",
            "set bad = [\"evil.com\"]\npolicy p {\n rule a: deny when args.host in bad because \"x\"\n}",
        );
        fail(
            "G0206",
            "policy p {\n rule a: allow when args.url starts_with \"https://example.com\"\n}",
        );
        pass(
            "G0206",
            "policy p {\n rule a: deny when fold_each(args.scopes) contains \"*\" because \"x\"\n}",
        );
        let f = fail(
            "G0206",
            "policy p {\n rule a: deny when fold_each(args.scopes) contains \"Admin \" because \"x\"\n}",
        );
        assert!(f[0].label.contains("always false"));
    }
}
