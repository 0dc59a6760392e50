//! A test in a rule's condition that is always true, or always false, wherever it matters.
//!
//! The rule's condition is true for exactly the same requests as if the test were replaced by
//! `true` (or by `false`): given the rest of the condition (and the policy's `applies when`),
//! the test never changes whether the rule holds. Typical causes: a test repeated or implied by another (`tool == "a" and
//! tool != "b"`), an alternative that can never hold next to the others (`tool == "a" and
//! (tool == "b" or …)`), or a bound that another bound already decides.
//!
//! **Proof.** Where the rule is true, as a decision diagram, is the same diagram with the test
//! replaced by the constant as without (diagrams are canonical, so equal functions are equal
//! nodes). Only where an attribute is missing can the test still make a difference: a test on
//! a missing attribute is unknown, and unknown conditions fire deny rules (fail-closed).
//!
//! Rules that can never match are reported by `unreachable-rule` instead. Only tests written in
//! the rule itself are reported, not those of the policy's `applies when`, and a rule that
//! restates a test of its policy's scope (`applies when action == "tool_call"` and a rule
//! `when action == "tool_call" and …`) is taken as written on purpose.
//!
//! **Example.**
//! ```gov
//! rule r: deny when tool == "shell" and (tool == "exec" or args.cmd contains "rm") because "…"
//! ```
//! `tool == "exec"` is always false where it is evaluated: the rule is `tool == "shell" and
//! args.cmd contains "rm"`.
//!
//! **Fix.** Remove the test, or correct it to what was meant.
use crate::check::{Loc, Test};
use crate::lint::rules::snippet;
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0105",
    name: "constant-condition",
    level: Level::Warn,
    source: include_str!("constant_condition.rs"),
    check,
};

fn inside(outer: Option<Loc>, inner: Loc) -> bool {
    outer.is_some_and(|o| {
        o.file == inner.file && o.span.start <= inner.span.start && inner.span.end <= o.span.end
    })
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let sem = cx.semantic();
    for (r, rule) in bundle.rules.iter().enumerate() {
        if !sem.reachable(r) {
            continue;
        }
        let Some(&whole) = sem.truth.get(r) else {
            continue;
        };
        let mut tests: Vec<&Test> = Vec::new();
        rule.cond.for_each_test(bundle, false, &mut |t| {
            if inside(rule.when_loc, t.loc) || inside(rule.unless_loc, t.loc) {
                tests.push(t);
            }
        });
        // Tests of the policy's scope, which rules often restate on purpose.
        let mut scope: Vec<&Test> = Vec::new();
        if let Some(applies) = bundle
            .policies
            .get(rule.policy)
            .and_then(|p| p.applies.as_ref())
        {
            applies.for_each_test(bundle, false, &mut |t| scope.push(t));
        }
        let mut reported: Vec<Loc> = Vec::new();
        for t in tests {
            if reported.contains(&t.loc) {
                continue;
            }
            let as_true = sem
                .a
                .cond(&rule.cond, Some((t, true)))
                .map(|d| sem.a.truth(d));
            let as_false = sem
                .a
                .cond(&rule.cond, Some((t, false)))
                .map(|d| sem.a.truth(d));
            let text = snippet(bundle, t.loc);
            let (msg, label) = match (as_true == Some(whole), as_false == Some(whole)) {
                (true, true) => (
                    format!("`{text}` never changes what `{}` decides", rule.id),
                    "has no effect",
                ),
                (true, false) if scope.iter().any(|s| s.kind == t.kind) => continue,
                (true, false) => (
                    format!("`{text}` is always true where it matters in `{}`", rule.id),
                    "always true here",
                ),
                (false, true) => (
                    format!("`{text}` is always false where it matters in `{}`", rule.id),
                    "always false here",
                ),
                (false, false) => continue,
            };
            reported.push(t.loc);
            out.push(
                Finding::new(msg)
                    .at(t.loc, label)
                    .related(rule.loc, "in this rule")
                    .help("the rule's condition is true for exactly the same requests without this test: remove it, or correct it to what was meant"),
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
            "G0105",
            "policy p {\n rule a: allow when tool == \"a\" and args.n > 5\n}",
        );
        // A rule restating the policy's scope is not reported.
        pass(
            "G0105",
            "policy p {\n applies when action == \"tool_call\"\n rule a: allow when action == \"tool_call\" and tool == \"a\"\n}",
        );
        // Scope tests of `applies when` are not reported.
        pass(
            "G0105",
            "policy p {\n applies when tool in [\"a\", \"b\"]\n rule a: allow when tool == \"a\"\n}",
        );
        let f = fail(
            "G0105",
            "policy p {\n rule a: allow when tool == \"a\" and tool != \"b\"\n}",
        );
        assert!(f[0].message.contains("always true"), "{}", f[0].message);
        let f = fail(
            "G0105",
            "policy p {\n rule a: deny when tool == \"shell\" and (tool == \"exec\" or args.cmd contains \"rm\") because \"x\"\n}",
        );
        assert!(
            f[0].message.contains("`tool == \"exec\"` is always false"),
            "{}",
            f[0].message
        );
        fail(
            "G0105",
            "policy p {\n rule a: allow when args.n > 10 and args.n > 5\n}",
        );
    }
}
