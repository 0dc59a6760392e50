//! A regex character class that looks like a word, such as `[^example.com$]`.
//!
//! `[…]` matches *one* character from the set inside. `[^example.com$]` does not mean "not
//! example.com": it matches any single character other than `e x a m p l . c o $`, so it is
//! true for almost every string. Classes written like words (letters repeated, a `$` or a
//! host name inside) are almost always a misunderstanding of this.
//!
//! Reported when a class of four or more members repeats a character, contains `$`, or
//! contains a dotted name, or when the whole pattern is one such class between anchors
//! (`^[admin]$` accepts the one-letter values `a`, `d`, `m`, `i`, `n`). Ranges such as
//! `[a-z0-9]` are fine.
//!
//! **Example.**
//! ```gov
//! rule other_hosts: deny when url_host(args.url) matches r"[^example.com$]" because "…"
//! ```
//!
//! **Fix.** Say what was meant with the language instead of the class:
//! `not (url_host(args.url) == "example.com")`, or a group `(?:example\.com)`.
use crate::lint::regex_text::{scan, uses};
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0202",
    name: "regex-class-looks-like-word",
    level: Level::Warn,
    source: include_str!("regex_class_word.rs"),
    check,
};

/// Whether a class body (without the brackets) reads like a word.
pub(crate) fn word_like(body: &str) -> bool {
    let body = body.strip_prefix('^').unwrap_or(body);
    if body.contains("[:") || body.contains('[') {
        return false;
    }
    let chars: Vec<char> = body.chars().collect();
    let mut members: Vec<char> = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c == '\\' {
            // An escape such as \d or \. stands for itself here; so does a character written by
            // its code, `\x22` or `\x{22}`.
            i += match (chars.get(i + 1), chars.get(i + 2)) {
                (Some('x'), Some('{')) => chars
                    .iter()
                    .skip(i)
                    .position(|&c| c == '}')
                    .map_or(2, |p| p + 1),
                (Some('x'), _) => 4,
                _ => 2,
            };
            continue;
        }
        if chars.get(i + 1) == Some(&'-')
            && chars.get(i + 2).is_some_and(|n| *n != ']')
            && chars.get(i + 2).is_some()
        {
            i += 3;
            continue;
        }
        members.push(c);
        i += 1;
    }
    if members.len() < 4 {
        return false;
    }
    let mut seen = std::collections::BTreeSet::new();
    let repeated = members
        .iter()
        .filter(|c| c.is_alphanumeric())
        .any(|c| !seen.insert(*c));
    let dollar = members.contains(&'$');
    let dotted = body
        .split('.')
        .filter(|part| part.chars().any(char::is_alphabetic))
        .count()
        >= 2;
    repeated || dollar || dotted
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    for u in uses(cx.bundle) {
        if u.glob {
            continue;
        }
        for class in scan(u.pattern).classes {
            let Some(text) = u.pattern.get(class.clone()) else {
                continue;
            };
            let body = text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or("");
            // The whole value is one character of a long class: `^[admin]$`.
            let whole = u.pattern == format!("^{text}$")
                && body.trim_start_matches('^').chars().count() >= 4;
            if !word_like(body) && !whole {
                continue;
            }
            let negated = body.starts_with('^');
            out.push(
                Finding::new(format!(
                    "`{text}` is a character class: it matches one character{}, not a word",
                    if negated { " that is none of those listed" } else { " among those listed" }
                ))
                .at(u.loc, "a class, not a word")
                .help("to test a whole word, compare the value (`==`, `ends_with`) or use a group such as `(?:example\\.com)`; to exclude it, put `not (…)` around the test"),
            );
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0202",
            "policy p {\n rule a: allow when args.s matches r\"^[a-z0-9_]+$\"\n}",
        );
        pass(
            "G0202",
            "policy p {\n rule a: allow when args.s matches r\"[aeiou]\"\n}",
        );
        pass(
            "G0202",
            "policy p {\n rule a: allow when args.s matches r\"[^abc]\"\n}",
        );
        fail(
            "G0202",
            "policy p {\n rule a: deny when args.u matches r\"[^example.com$]\" because \"x\"\n}",
        );
        fail(
            "G0202",
            "policy p {\n rule a: allow when args.u matches r\"^[admin]$\"\n}",
        );
        assert!(super::word_like("^example.com$"));
        assert!(!super::word_like("A-Za-z"));
    }
}
