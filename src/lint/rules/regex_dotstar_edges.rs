//! A regex with `.*` at both ends, such as `r".*secret.*"`.
//!
//! `matches` already searches anywhere in the value, so leading and trailing `.*` change
//! nothing, and they suggest the author believed the pattern had to match the whole value. If
//! that belief shaped the rest of the pattern (missing anchors elsewhere, a class meant as a
//! word), the test may not do what was meant. For a plain word, `contains` says it directly.
//!
//! **Example.**
//! ```gov
//! rule secrets: deny when args.path matches r".*secret.*" because "…"
//! ```
//!
//! **Fix.** Drop them, `matches r"secret"`, or write `args.path contains "secret"`.
use crate::lint::regex_text::uses;
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0205",
    name: "regex-dotstar-edges",
    level: Level::Warn,
    source: include_str!("regex_dotstar_edges.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    for u in uses(cx.bundle) {
        if u.glob {
            continue;
        }
        let p = u.pattern;
        let core = p.strip_prefix('^').unwrap_or(p);
        let core = core.strip_suffix('$').unwrap_or(core);
        let Some(inner) = core.strip_prefix(".*").and_then(|c| c.strip_suffix(".*")) else {
            continue;
        };
        if inner.is_empty() || inner.ends_with('\\') {
            continue;
        }
        let plain = inner
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == ' ');
        let help = if plain {
            format!(
                "`matches r\"{inner}\"` does the same; for a plain word `contains \"{inner}\"` says it directly"
            )
        } else {
            format!("`matches r\"{inner}\"` does the same")
        };
        out.push(
            Finding::new(format!("`.*` at both ends of `{p}` does nothing: `matches` already searches the whole value"))
                .at(u.loc, "`.*` at both ends")
                .help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0205",
            "policy p {\n rule a: deny when args.p matches r\"secret\" because \"x\"\n}",
        );
        pass(
            "G0205",
            "policy p {\n rule a: deny when args.p matches r\"^/a/.*\" because \"x\"\n}",
        );
        pass(
            "G0205",
            "policy p {\n rule a: deny when args.p like \"*secret*\" because \"x\"\n}",
        );
        let f = fail(
            "G0205",
            "policy p {\n rule a: deny when args.p matches r\".*secret.*\" because \"x\"\n}",
        );
        assert!(f[0].help.as_ref().unwrap().contains("contains \"secret\""));
    }
}
