//! A rule that always fires together with another rule of the same effect.
//!
//! Whenever the reported rule matches, the other one matches too and has the same effect, so
//! removing the reported rule changes no verdict (only, for deny and escalate, which rules and
//! `because` messages a decision lists). Two rules with the very same condition are reported
//! once, on the later id.
//!
//! **Proof.** On the decision diagram, *this rule matches* implies *the other rule matches* on
//! every path. The finding shows an example request, confirmed by the VM and the reference
//! interpreter, on which both match. Rules are compared only with rules that can match under
//! the same values of the `tool` switch, so the check stays fast on large bundles.
//!
//! **Example.**
//! ```gov
//! rule search:      allow when tool == "web_search"
//! rule search_fast: allow when tool == "web_search" and tokens < 1000
//! ```
//!
//! **Fix.** Delete the redundant rule, or merge its `because` message into the other rule.
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0103",
    name: "redundant-rule",
    level: Level::Warn,
    source: include_str!("redundant_rule.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let sem = cx.semantic();
    for (r, rule) in bundle.rules.iter().enumerate() {
        if !sem.reachable(r) {
            continue;
        }
        let Some(sup) = sem.match_support.get(r).cloned() else {
            continue;
        };
        let Some(&mr) = sem.matches.get(r) else {
            continue;
        };
        let mut found = None;
        for s in sem.superset_candidates(r, &sup) {
            let Some(other) = bundle.rules.get(s) else {
                continue;
            };
            if other.effect != rule.effect || !sem.reachable(s) {
                continue;
            }
            let Some(&ms) = sem.matches.get(s) else {
                continue;
            };
            if ms == mr && s > r {
                // Same function: reported on the later of the two.
                continue;
            }
            if sem.implies(mr, ms) {
                found = Some((s, ms == mr));
                break;
            }
        }
        let Some((s, same)) = found else { continue };
        let Some(other) = bundle.rules.get(s) else {
            continue;
        };
        let Some(&tr) = sem.truth.get(r) else {
            continue;
        };
        let Some(witness) = sem.witness(tr, &[r, s], &|obs| obs.matches(r) && obs.matches(s))
        else {
            continue;
        };
        let message = if same {
            format!(
                "rule `{}` matches exactly when `{}` does",
                rule.id, other.id
            )
        } else {
            format!(
                "rule `{}` always fires with `{}`, which also {}",
                rule.id,
                other.id,
                crate::lint::verb(other.effect)
            )
        };
        out.push(
            Finding::new(message)
                .at(rule.loc, "redundant")
                .related(other.loc, format!("matches whenever `{}` does", rule.name))
                .help(format!(
                    "removing `{}` changes no verdict; delete it, or merge its message into `{}`",
                    rule.id, other.id
                ))
                .witness(witness),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0103",
            "policy p {\n rule a: allow when tool == \"s\" and tokens < 10\n rule b: allow when tool == \"s\" and tokens >= 10\n}",
        );
        // Different effects are never redundant.
        pass(
            "G0103",
            "policy p {\n rule a: allow when tool == \"s\"\n rule b: deny when tool == \"s\" because \"x\"\n}",
        );
        let f = fail(
            "G0103",
            "policy p {\n rule search: allow when tool == \"s\"\n rule search_fast: allow when tool == \"s\" and tokens < 1000\n}",
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("p.search_fast"));
        let f = fail(
            "G0103",
            "policy p {\n rule a: deny when tool == \"s\" because \"x\"\n rule b: deny when tool == \"s\" because \"y\"\n}",
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.starts_with("rule `p.b`"));
        let f = fail(
            "G0103",
            "policy p {\n rule a: deny when tool == \"s\" because \"x\"\n rule b: deny when tool == \"s\" and tokens > 9 because \"y\"\n}",
        );
        assert!(
            f[0].message.ends_with("which also denies"),
            "{}",
            f[0].message
        );
    }
}
