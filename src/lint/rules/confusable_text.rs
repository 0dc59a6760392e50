//! A string or quoted name with characters that look like other characters: Cyrillic or
//! Greek letters mixed into Latin text, fullwidth forms, invisible characters, unusual spaces.
//!
//! `tool == "fіle_read"` with a Cyrillic `і` looks like `file_read` in review but never
//! matches it; an invisible zero-width space makes `"admin\u{200b}"` differ from `"admin"`.
//! In a deny rule that is a silent bypass, in an allow rule a rule that never fires.
//!
//! Reported in values and quoted names (`args["…"]`): zero-width and other invisible
//! characters (U+00AD, U+200B–U+200D, U+2060, U+FEFF), spaces other than U+0020, fullwidth
//! ASCII (U+FF01–U+FF5E), and Latin text mixed with Cyrillic or Greek letters that have a
//! Latin look-alike. Text wholly in another script (a `because` message in Russian) is fine;
//! messages are only checked for invisible characters. Only characters typed as themselves
//! count: an escape such as `\u{200b}` shows what it is.
//!
//! **Fix.** Retype the string in plain ASCII, or write an escape (`\u{200b}`) if the character
//! is really meant.
use crate::lint::walk::{StrKind, strings};
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0208",
    name: "confusable-text",
    level: Level::Warn,
    source: include_str!("confusable_text.rs"),
    check,
};

fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

fn odd_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn fullwidth(c: char) -> bool {
    ('\u{FF01}'..='\u{FF5E}').contains(&c)
}

/// The Latin letter a Cyrillic or Greek letter looks like.
pub(crate) fn lookalike(c: char) -> Option<char> {
    Some(match c {
        'а' => 'a',
        'в' => 'B',
        'е' => 'e',
        'ё' => 'e',
        'к' => 'k',
        'м' => 'M',
        'н' => 'H',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 'T',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'һ' => 'h',
        'ӏ' => 'l',
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'І' => 'I',
        'Ј' => 'J',
        'Ѕ' => 'S',
        'α' => 'a',
        'ο' => 'o',
        'ρ' => 'p',
        'ν' => 'v',
        'ι' => 'i',
        'κ' => 'k',
        'τ' => 't',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        _ => return None,
    })
}

/// Why the string is confusable, naming the first offending character.
pub(crate) fn reason(s: &str, kind: StrKind) -> Option<String> {
    for c in s.chars() {
        if invisible(c) {
            return Some(format!(
                "contains the invisible character U+{:04X}",
                c as u32
            ));
        }
    }
    if kind == StrKind::Message {
        return None;
    }
    for c in s.chars() {
        if odd_space(c) {
            return Some(format!(
                "contains the space U+{:04X}, which is not an ordinary space",
                c as u32
            ));
        }
        if fullwidth(c) {
            return Some(format!(
                "contains the fullwidth `{c}` (U+{:04X}), not ASCII",
                c as u32
            ));
        }
    }
    let latin = s.chars().any(|c| c.is_ascii_alphabetic());
    if latin {
        for c in s.chars() {
            if let Some(l) = lookalike(c) {
                return Some(format!(
                    "mixes Latin letters with `{c}` (U+{:04X}), which looks like `{l}`",
                    c as u32
                ));
            }
        }
    }
    None
}

/// The characters of a string literal as typed in the source (`"…"`, `r"…"`, `r#"…"#`),
/// without the quotes and without escape sequences: an escape such as `\u{200b}` shows the
/// character it stands for, so it is not confusable.
fn typed_chars(literal: &str) -> String {
    let raw = literal.strip_prefix('r');
    let body = raw
        .unwrap_or(literal)
        .trim_start_matches('#')
        .strip_prefix('"')
        .unwrap_or(literal);
    let body = body.trim_end_matches('#');
    let body = body.strip_suffix('"').unwrap_or(body);
    if raw.is_some() {
        return body.to_string();
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('u') {
            // `\u{…}`: skip to the closing brace.
            for d in chars.by_ref() {
                if d == '}' {
                    break;
                }
            }
        }
    }
    out
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    strings(bundle, &mut |loc, s, kind| {
        let typed = bundle
            .file(loc)
            .and_then(|f| f.text.get(loc.span.start as usize..loc.span.end as usize))
            .map(typed_chars);
        if let Some(why) = reason(typed.as_deref().unwrap_or(s), kind) {
            out.push(
                Finding::new(format!("{} {why}", crate::syntax::ast::quote_string(s)))
                    .at(loc, "looks like something else")
                    .help("retype it in plain ASCII, or write the character as an escape (`\\u{…}`) if it is meant"),
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0208",
            "policy p {\n rule a: allow when tool == \"file_read\"\n}",
        );
        pass(
            "G0208",
            "policy p {\n rule a: deny when tool == \"x\" because \"запрещено\"\n}",
        );
        pass(
            "G0208",
            "policy p {\n rule a: allow when args.s == \"привет\"\n}",
        );
        let f = fail(
            "G0208",
            "policy p {\n rule a: allow when tool == \"f\u{456}le_read\"\n}",
        );
        assert!(f[0].message.contains("U+0456"));
        fail(
            "G0208",
            "policy p {\n rule a: allow when args.u == \"admin\u{200b}\"\n}",
        );
        fail(
            "G0208",
            "policy p {\n rule a: allow when args[\"x\u{a0}y\"] == \"a\"\n}",
        );
        fail(
            "G0208",
            "set s = [\"ｅvil\"]\npolicy p {\n rule a: allow when args.s in s\n}",
        );
        // Written as escapes, the characters are visible: that is the fix the lint asks for.
        pass(
            "G0208",
            "policy p {\n rule a: allow when args.u == \"admin\\u{200b}\" or args.u == \"\\u{456}nfo\\u{a0}\"\n}",
        );
        pass(
            "G0208",
            "policy p {\n rule a: allow when args.u == \"пр\\nивет\" or args[\"r\\u{ff45}\"] == r\"привет\"\n}",
        );
        fail(
            "G0208",
            "policy p {\n rule a: allow when args.u == r#\"admin\u{200b}\"#\n}",
        );
        fail(
            "G0208",
            "policy p {\n description \"d\u{200b}\"\n rule a: deny when args.u == \"x\" because \"m\"\n}",
        );
        fail(
            "G0208",
            "policy p {\n rule a: deny when args.u == \"x\" because \"m\u{200b}\"\n}",
        );
        pass(
            "G0208",
            "policy p {\n description \"d\\u{200b}\"\n rule a: deny when args.u == \"x\" because \"m\\u{200b}\"\n}",
        );
    }
}
