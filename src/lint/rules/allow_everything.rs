//! An `allow` rule that allows every request (or every request that carries the attributes
//! it reads).
//!
//! A rule such as `rule all: allow` outside any scoped policy, or a condition that cannot be
//! false (`agent.trust >= 0 or agent.trust < 0`), permits everything that no deny or escalate
//! rule catches: the bundle becomes allow-by-default in all but name.
//!
//! **Proof.** The rule's decision diagram has no path to *false*: on every request the
//! condition is true, or unknown because an attribute is missing (and unknown never allows).
//!
//! **Example.**
//! ```gov
//! policy dev { rule anything: allow }
//! ```
//!
//! **Fix.** Scope the rule (`applies when "dev" in agent.roles`), name the tools it allows, or
//! suppress the finding with a reason if allowing everything is deliberate.
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::Effect;

pub const LINT: Lint = Lint {
    code: "G0106",
    name: "allow-everything",
    level: Level::Warn,
    source: include_str!("allow_everything.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let sem = cx.semantic();
    let (t, f) = (sem.a.m.t, sem.f());
    for (r, rule) in bundle.rules.iter().enumerate() {
        if rule.effect != Effect::Allow || !sem.reachable(r) {
            continue;
        }
        let Some(&d) = sem.a.rules.get(r) else {
            continue;
        };
        if sem.a.can_reach(d, f) {
            continue;
        }
        let msg = if d == t {
            format!("rule `{}` allows every request", rule.id)
        } else {
            let attrs: Vec<String> = rule
                .cond
                .attr_refs(bundle)
                .into_iter()
                .map(|(a, _)| format!("`{a}`"))
                .collect();
            format!(
                "rule `{}` allows every request that has {}",
                rule.id,
                attrs.join(", ")
            )
        };
        out.push(
            Finding::new(msg)
                .at(rule.loc, "never false")
                .help("scope the rule or name what it allows; if allowing everything is deliberate, suppress this with a reason"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass("G0106", "policy p {\n rule a: allow when tool == \"a\"\n}");
        pass(
            "G0106",
            "policy p {\n applies when \"dev\" in agent.roles\n rule a: allow\n}",
        );
        fail("G0106", "policy p {\n rule a: allow\n}");
        let f = fail(
            "G0106",
            "policy p {\n rule a: allow when agent.trust >= 0 or agent.trust < 0\n}",
        );
        assert!(f[0].message.contains("agent.trust"));
    }
}
