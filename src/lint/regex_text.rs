//! Reading regex and glob patterns as text, for the authoring lints on patterns.

use crate::check::{Bundle, Loc};
use crate::syntax::ast::{self, ExprKind, StrOp};

use super::walk::{self, Place};

/// One `matches` or `like` test with a literal pattern.
pub struct PatternUse<'a> {
    pub place: Place<'a>,
    /// The tested value.
    pub lhs: &'a ast::Expr,
    pub pattern: &'a str,
    /// Where the pattern literal is.
    pub loc: Loc,
    /// `like` (a glob) rather than `matches` (a regex).
    pub glob: bool,
}

/// Every `matches` / `like` test whose pattern is a literal.
pub fn uses(bundle: &Bundle) -> Vec<PatternUse<'_>> {
    let mut out = Vec::new();
    walk::exprs(bundle, &mut |place, e| {
        if let ExprKind::StrTest {
            op: op @ (StrOp::Matches | StrOp::Like),
            lhs,
            rhs,
        } = &e.kind
            && let Some((p, span)) = walk::string_lit(rhs)
        {
            out.push(PatternUse {
                place,
                lhs,
                pattern: p,
                loc: place.loc(span),
                glob: *op == StrOp::Like,
            });
        }
    });
    out
}

/// The structure of a regex as far as the lints need it.
#[derive(Debug, Default)]
pub struct Scan {
    /// Byte ranges of character classes, brackets included.
    pub classes: Vec<std::ops::Range<usize>>,
    /// Positions of `.` outside classes and not escaped.
    pub dots: Vec<usize>,
    /// Positions of `|` outside any group or class.
    pub top_alts: Vec<usize>,
}

pub fn scan(p: &str) -> Scan {
    let b = p.as_bytes();
    let mut s = Scan::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b.get(i) {
            Some(b'\\') => i += 2,
            Some(b'[') => {
                let start = i;
                let mut j = i + 1;
                if b.get(j) == Some(&b'^') {
                    j += 1;
                }
                if b.get(j) == Some(&b']') {
                    j += 1;
                }
                let mut nest = 0usize;
                while j < b.len() {
                    match b.get(j) {
                        Some(b'\\') => j += 1,
                        Some(b'[') if b.get(j + 1) == Some(&b':') => {
                            // [:alpha:]
                            while j < b.len()
                                && !(b.get(j) == Some(&b':') && b.get(j + 1) == Some(&b']'))
                            {
                                j += 1;
                            }
                            j += 1;
                        }
                        Some(b'[') => nest += 1,
                        Some(b']') if nest == 0 => break,
                        Some(b']') => nest -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                s.classes.push(start..(j + 1).min(b.len()));
                i = j + 1;
            }
            Some(b'(') => {
                depth += 1;
                i += 1;
            }
            Some(b')') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Some(b'|') => {
                if depth == 0 {
                    s.top_alts.push(i);
                }
                i += 1;
            }
            Some(b'.') => {
                s.dots.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    s
}

/// Whether the pattern is anchored at its start: `^`, `\A`, or a `(^|\.)` label boundary.
pub fn anchored_start(p: &str) -> bool {
    [
        "^",
        r"\A",
        r"(^|\.)",
        r"(?:^|\.)",
        r"(^|.*\.)",
        r"(?:^|.*\.)",
    ]
    .iter()
    .any(|a| p.starts_with(a))
}

/// Whether the pattern is anchored at its end: `$` (not escaped) or `\z`.
pub fn anchored_end(p: &str) -> bool {
    if p.ends_with(r"\z") {
        return true;
    }
    if !p.ends_with('$') {
        return false;
    }
    // An escaped `\$` is a literal dollar.
    let backslashes = p
        .trim_end_matches('$')
        .chars()
        .rev()
        .take_while(|c| *c == '\\')
        .count();
    backslashes % 2 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans() {
        let s = scan(r"^[^example.com$]|a\.b.c(x|y)");
        assert_eq!(s.classes, vec![1..16]);
        assert_eq!(s.top_alts, vec![16]);
        assert_eq!(s.dots, vec![21]);
        assert!(anchored_end("a$") && !anchored_end(r"a\$") && anchored_end(r"a\\$"));
        assert!(anchored_start(r"(^|\.)example\.com$"));
    }
}
