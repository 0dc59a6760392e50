//! A rule whose condition can never be true.
//!
//! No request satisfies every part of the condition (`tool == "a" and tool == "b"`,
//! `args.amount > 100 and args.amount < 50`, a `when` that contradicts the policy's
//! `applies when`, an `unless` that always holds where the `when` does), so the rule never
//! decides anything. A `deny`, `escalate` or `warn` rule with such a condition still fires when
//! an attribute it reads is missing (fail-closed), which is rarely what was meant either.
//!
//! **Proof.** The rule's decision diagram has no path to *true*. Every request follows some
//! path, so no request can make the condition true. Regular expressions, globs and other
//! string tests are treated as able to give any result, so a rule is never reported
//! unreachable because of what a pattern can or cannot match.
//!
//! **Example.**
//! ```gov
//! rule pay: allow when tool == "transfer_funds" and args.amount > 1000 and args.amount < 500
//! ```
//!
//! **Fix.** Correct the contradictory tests, or delete the rule.
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::Effect;

pub const LINT: Lint = Lint {
    code: "G0101",
    name: "unreachable-rule",
    level: Level::Error,
    source: include_str!("unreachable_rule.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let sem = cx.semantic();
    let f = sem.f();
    for (r, rule) in bundle.rules.iter().enumerate() {
        if sem.reachable(r) {
            continue;
        }
        let on_unknown = rule.effect != Effect::Allow && sem.matches.get(r) != Some(&f);
        let (label, help) = if on_unknown {
            (
                "its condition is never true".to_string(),
                format!(
                    "no request makes the condition of `{}` true; it only fires when an attribute it reads is missing or mistyped (fail-closed). Fix the contradictory tests or delete the rule",
                    rule.id
                ),
            )
        } else {
            (
                "its condition is never true".to_string(),
                format!(
                    "no request makes the condition of `{}` true, so it never decides anything. Fix the contradictory tests or delete the rule",
                    rule.id
                ),
            )
        };
        out.push(
            Finding::new(format!("rule `{}` can never match", rule.id))
                .at(rule.loc, label)
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
            "G0101",
            "policy p {\n rule a: allow when tool == \"a\" and args.n > 5\n}",
        );
        pass(
            "G0101",
            "policy p {\n rule a: allow when args.s matches r\"^a$\" and args.s matches r\"^b$\"\n}",
        );
        let f = fail(
            "G0101",
            "policy p {\n rule a: allow when tool == \"a\" and tool == \"b\"\n}",
        );
        assert!(f[0].message.contains("p.a"));
        fail(
            "G0101",
            "policy p {\n rule a: deny when args.n > 100 and args.n < 50 because \"x\"\n}",
        );
        fail(
            "G0101",
            "policy p {\n applies when tool == \"a\"\n rule a: allow when tool == \"b\"\n}",
        );
        fail(
            "G0101",
            "policy p {\n rule a: allow when tool == \"a\" unless tool in [\"a\", \"b\"]\n}",
        );
    }
}
