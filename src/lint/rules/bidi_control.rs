//! A Unicode bidirectional control character in a policy file.
//!
//! Characters such as U+202E (right-to-left override) and U+2066–U+2069 (isolates) change the
//! order in which text is *displayed* without changing the order in which it is *parsed*
//! ("Trojan Source", CVE-2021-42574). In a policy, a reviewer can be shown a condition or a
//! string that is not the one govern evaluates. Nothing in a policy needs them; they are
//! reported wherever they appear, in strings and comments alike.
//!
//! Reported characters: U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069.
//!
//! **Fix.** Delete the character. If right-to-left text must appear in a string, write it
//! without controls, or with an escape such as `\u{202e}` so that it is visible.
use crate::check::Loc;
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::Span;

pub const LINT: Lint = Lint {
    code: "G0207",
    name: "bidi-control",
    level: Level::Error,
    source: include_str!("bidi_control.rs"),
    check,
};

pub(crate) fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    for (i, file) in cx.bundle.files.iter().enumerate() {
        let fi = u32::try_from(i).unwrap_or(u32::MAX);
        for (off, c) in file.text.char_indices() {
            if !is_bidi(c) {
                continue;
            }
            out.push(
                Finding::new(format!(
                    "bidirectional control character U+{:04X} in the source",
                    c as u32
                ))
                .at(
                    Loc { file: fi, span: Span::new(off, off + c.len_utf8()) },
                    "reorders how the text is shown",
                )
                .help(format!(
                    "delete it; if it must be in a string, write the escape `\\u{{{:x}}}` so that it is visible",
                    c as u32
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0207",
            "policy p {\n rule a: allow when args.s == \"שלום\"\n}",
        );
        // The escape is visible, so it is fine.
        pass(
            "G0207",
            "policy p {\n rule a: allow when args.s == \"\\u{202e}\"\n}",
        );
        fail(
            "G0207",
            "policy p {\n rule a: allow when args.s == \"ab\u{202e}cd\"\n}",
        );
        fail(
            "G0207",
            "// comment \u{2066}x\u{2069}\npolicy p {\n rule a: allow when tool == \"a\"\n}",
        );
    }
}
