//! A regex that is not anchored where a whole-value match was meant.
//!
//! `matches` *searches*: `r"example\.com$"` is true for `evilexample.com`, and
//! `r"^https://example\.com"` for `https://example.com.evil.net`. Two shapes are reported:
//!
//! - a pattern that tests a host (the value is `url_host(…)` or an attribute named `host`,
//!   `hostname` or `domain`, or the pattern itself is a dotted host name such as
//!   `example\.com`) and is not anchored at both ends (`^…$`, `\A…\z`, or `(^|\.)…$` to
//!   allow subdomains);
//! - anchors on a top-level alternation of plain words, `^admin|root$`: `^` binds to the first
//!   alternative and `$` to the last only, so `admin` is only a prefix and `root` only a
//!   suffix. Alternatives with groups, classes or quantifiers are often anchored one by one on
//!   purpose, so they are not reported.
//!
//! The finding shows a value the pattern accepts that was probably not meant, checked against
//! the compiled regex.
//!
//! **Example.**
//! ```gov
//! rule docs: allow when url_host(args.url) matches r"docs\.example\.com$"
//! ```
//!
//! **Fix.** Anchor both ends, `r"^docs\.example\.com$"`, or compare without a regex:
//! `url_host(args.url) == "docs.example.com"`; for alternatives write `^(?:a|b)$`.
use crate::lint::regex_text::{anchored_end, anchored_start, scan, uses};
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::ExprKind;

pub const LINT: Lint = Lint {
    code: "G0204",
    name: "regex-unanchored",
    level: Level::Warn,
    source: include_str!("regex_unanchored.rs"),
    check,
};

const HOST_NAMES: &[&str] = &["host", "hostname", "domain"];

fn tests_host(lhs: &crate::syntax::ast::Expr) -> bool {
    match &lhs.kind {
        ExprKind::Call { name, .. } => name.node == "url_host",
        ExprKind::Path(p) => p
            .segments
            .last()
            .is_some_and(|s| HOST_NAMES.contains(&s.name.to_ascii_lowercase().as_str())),
        _ => false,
    }
}

/// Whether the pattern is a dotted host name: `label\.label\.tld`.
fn looks_like_host(p: &str) -> bool {
    let core = p.trim_start_matches('^').trim_end_matches('$');
    let parts: Vec<&str> = core.split(r"\.").collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && parts
            .last()
            .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()))
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    for u in uses(cx.bundle) {
        if u.glob {
            continue;
        }
        let p = u.pattern;
        let Ok(re) = crate::check::pattern::build_regex(p) else {
            continue;
        };
        let alts = scan(p).top_alts;
        if !alts.is_empty() && (p.starts_with('^') || anchored_end(p)) {
            let branches: Vec<&str> = split_at(p, &alts);
            // Only alternatives of plain words: `^admin|root$`. Alternatives with groups,
            // classes or quantifiers are anchored one by one on purpose often enough
            // (`^\s*drop\b|\bdelete from .*$`) that nothing can be claimed.
            if branches.iter().all(|b| plain(b)) {
                let grouped = format!(
                    "^(?:{})$",
                    branches
                        .iter()
                        .map(|b| b.trim_start_matches('^').trim_end_matches('$'))
                        .collect::<Vec<_>>()
                        .join("|")
                );
                let loose = branches
                    .iter()
                    .find(|b| !(b.starts_with('^') && anchored_end(b)))
                    .copied();
                let example = loose.and_then(|l| {
                    let core = crate::lint::witness::regex_example(l)?;
                    Some(if l.starts_with('^') {
                        format!("{core}x")
                    } else {
                        format!("x{core}")
                    })
                });
                let whole = crate::check::pattern::build_regex(&grouped).ok();
                if let (Some(l), Some(ex), Some(whole)) = (loose, example, whole)
                    && re.is_match(&ex)
                    && !whole.is_match(&ex)
                {
                    out.push(
                            Finding::new(format!(
                                "the anchors of `{p}` bind to single alternatives: `{l}` also matches `{ex}`"
                            ))
                            .at(u.loc, "anchors bind to one alternative")
                            .help(format!("group the alternatives: `{grouped}`")),
                        );
                }
            }
            continue;
        }
        if !alts.is_empty() {
            continue;
        }
        // A class written as a word is `regex-class-looks-like-word`'s finding.
        let word_class = scan(p).classes.iter().any(|c| {
            p.get(c.clone())
                .and_then(|t| t.strip_prefix('['))
                .and_then(|t| t.strip_suffix(']'))
                .is_some_and(super::regex_class_word::word_like)
        });
        if word_class {
            continue;
        }
        if !(tests_host(u.lhs) || looks_like_host(p)) {
            continue;
        }
        let (start, end) = (anchored_start(p), anchored_end(p));
        if start && end {
            continue;
        }
        let Some(base) = crate::lint::witness::regex_example(p) else {
            continue;
        };
        let example = match (start, end) {
            (false, _) => format!("evil{base}"),
            _ => format!("{base}.evil.net"),
        };
        if !re.is_match(&example) {
            continue;
        }
        let fixed = format!(
            "{}{}{}",
            if start { "" } else { "^" },
            p,
            if end { "" } else { "$" }
        );
        out.push(
            Finding::new(format!(
                "`{p}` also matches `{example}`: `matches` searches anywhere in the value"
            ))
            .at(
                u.loc,
                if start {
                    "not anchored at the end"
                } else {
                    "not anchored at the start"
                },
            )
            .help(format!(
                "anchor it, `r\"{fixed}\"`, or compare the value with `==`"
            )),
        );
    }
}

/// A branch of plain text: letters, digits, `_ - / : @`, escaped punctuation, and anchors at
/// its ends.
fn plain(b: &str) -> bool {
    let core = b.strip_prefix('^').unwrap_or(b);
    let core = core.strip_suffix('$').unwrap_or(core);
    let mut chars = core.chars();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        match c {
            '\\' => match chars.next() {
                Some(n) if n.is_ascii_punctuation() => {}
                _ => return false,
            },
            c if c.is_ascii_alphanumeric() || "_-/:@".contains(c) => {}
            _ => return false,
        }
    }
    any
}

fn split_at<'p>(p: &'p str, at: &[usize]) -> Vec<&'p str> {
    let mut out = Vec::new();
    let mut start = 0;
    for &i in at {
        out.push(p.get(start..i).unwrap_or(""));
        start = i + 1;
    }
    out.push(p.get(start..).unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0204",
            "policy p {\n rule a: allow when url_host(args.u) matches r\"^docs\\.example\\.com$\"\n}",
        );
        pass(
            "G0204",
            "policy p {\n rule a: allow when url_host(args.u) matches r\"(^|\\.)example\\.com$\"\n}",
        );
        pass(
            "G0204",
            "policy p {\n rule a: deny when args.cmd matches r\"rm -rf\" because \"x\"\n}",
        );
        pass(
            "G0204",
            "policy p {\n rule a: allow when args.s matches r\"^(?:a|b)$\"\n}",
        );
        let f = fail(
            "G0204",
            "policy p {\n rule a: allow when url_host(args.u) matches r\"docs\\.example\\.com$\"\n}",
        );
        assert!(
            f[0].message.contains("evildocs.example.com"),
            "{}",
            f[0].message
        );
        let f = fail(
            "G0204",
            "policy p {\n rule a: allow when args.u matches r\"^example\\.com\"\n}",
        );
        assert!(
            f[0].message.contains("example.com.evil.net"),
            "{}",
            f[0].message
        );
        fail(
            "G0204",
            "policy p {\n rule a: allow when args.s matches r\"^a|b$\"\n}",
        );
    }
}
