//! A `deny` or `escalate` rule without a `because` message.
//!
//! The `because` text is what the agent, its user and the on-call reviewer see when a request
//! is refused or held for approval. Without it a decision only names the rule id, and nobody
//! downstream can tell whether to rephrase the request, ask for an exception or give up.
//!
//! **Example.**
//! ```gov
//! set secret_paths = ["/etc/shadow", "/etc/passwd"]
//! policy files {
//!   rule no_secrets: deny when tool == "file_read" and args.path in secret_paths
//! }
//! ```
//!
//! **Fix.** Add `because "…"` saying what is refused and why, in words the agent's user
//! understands: `because "secret files are off limits"`.
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::{Effect, Item};

pub const LINT: Lint = Lint {
    code: "G0201",
    name: "missing-because",
    level: Level::Warn,
    source: include_str!("missing_because.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    for (i, file) in cx.bundle.asts.iter().enumerate() {
        let fi = u32::try_from(i).unwrap_or(u32::MAX);
        for item in &file.items {
            let Item::Policy(p) = item else { continue };
            for r in &p.rules {
                if !matches!(r.effect.node, Effect::Deny | Effect::Escalate) || r.because.is_some()
                {
                    continue;
                }
                out.push(
                    Finding::new(format!(
                        "{} rule `{}.{}` has no `because` message",
                        r.effect.node, p.name.node, r.name.node
                    ))
                    .at(
                        crate::check::Loc {
                            file: fi,
                            span: r.name.span,
                        },
                        "no `because`",
                    )
                    .help(format!(
                        "add `because \"…\"` to say why the request is {}",
                        if r.effect.node == Effect::Deny {
                            "refused"
                        } else {
                            "held for approval"
                        }
                    )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0201",
            "policy p {\n rule a: deny when tool == \"a\" because \"no\"\n rule b: allow when tool == \"b\"\n rule c: warn when tool == \"c\"\n}",
        );
        let f = fail(
            "G0201",
            "policy p {\n rule a: deny when tool == \"a\"\n rule b: escalate when tool == \"b\"\n}",
        );
        assert_eq!(f.len(), 2);
    }
}
