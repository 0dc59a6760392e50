//! An `allow` and a `deny` (or `escalate`) rule about the same tool that both fire on some
//! request, where neither is an exception carved out of the other.
//!
//! "Allow reads, deny reads of secret files" is the usual, intended shape: the deny is an
//! exception inside the allow, and it is not reported. What is reported is a partial overlap
//! between two rules that both name the same tool (or the same value of the first switch in
//! the bundle): each also covers requests the other does not, and some requests are covered
//! by both, often an off-by-one at a boundary (`<= 1000` against `>= 1000`). The deny wins on
//! the overlap, which is likely not what the author of the allow expected.
//!
//! Rules that do not name a tool (global guards such as `deny when agent.trust < 300`) are
//! not compared here; an allow that a deny covers completely is reported as `shadowed-rule`.
//!
//! **Evidence.** The finding shows a request on which both conditions are true, evaluated by
//! the VM and by the reference interpreter. Overlaps that only come from a missing attribute
//! (a deny that fires fail-closed) are not reported.
//!
//! **Example.**
//! ```gov
//! rule pay:     allow when tool == "transfer_funds" and args.amount <= 1000
//! rule pay_big: deny when tool == "transfer_funds" and args.amount >= 1000 because "too much"
//! ```
//!
//! **Fix.** Make the conditions disjoint (`args.amount > 1000`), or turn one into an explicit
//! exception of the other.
use std::collections::{BTreeMap, BTreeSet};

use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::Effect;

pub const LINT: Lint = Lint {
    code: "G0104",
    name: "conflicting-rules",
    level: Level::Warn,
    source: include_str!("conflicting_rules.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let sem = cx.semantic();
    // Deny and escalate rules indexed by the constants of the grouping switch they name.
    let mut by_const: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (d, rule) in bundle.rules.iter().enumerate() {
        if !matches!(rule.effect, Effect::Deny | Effect::Escalate) || !sem.reachable(d) {
            continue;
        }
        if let Some(cs) = sem.truth_support.get(d).and_then(|s| s.only_consts()) {
            for c in cs {
                by_const.entry(c).or_default().push(d);
            }
        }
    }
    for (a, rule) in bundle.rules.iter().enumerate() {
        if rule.effect != Effect::Allow || !sem.reachable(a) {
            continue;
        }
        let Some(consts) = sem.truth_support.get(a).and_then(|s| s.only_consts()) else {
            continue;
        };
        let mut cands: BTreeSet<usize> = BTreeSet::new();
        for c in consts {
            if let Some(v) = by_const.get(&c) {
                cands.extend(v.iter().copied());
            }
        }
        let (Some(&ta), f) = (sem.truth.get(a), sem.f()) else {
            continue;
        };
        for d in cands {
            let (Some(&td), Some(&md)) = (sem.truth.get(d), sem.matches.get(d)) else {
                continue;
            };
            let both = sem.and(ta, td);
            if both == f {
                continue;
            }
            // Shadowed entirely: reported by `shadowed-rule`.
            if sem.and_not(ta, md) == f {
                continue;
            }
            // The deny is an exception inside the allow: intended.
            if sem.and_not(td, ta) == f {
                continue;
            }
            let Some(witness) = sem.witness(both, &|obs, _| obs.is_true(a) && obs.is_true(d))
            else {
                continue;
            };
            let Some(dr) = bundle.rules.get(d) else {
                continue;
            };
            out.push(
                Finding::new(format!(
                    "`{}` and `{}` both match some requests; {} wins there",
                    rule.id, dr.id, dr.effect
                ))
                .at(rule.loc, "allows")
                .related(dr.loc, format!("{} the same request", crate::lint::verb(dr.effect)))
                .help(format!(
                    "the two conditions overlap without one being an exception of the other; make them disjoint, or narrow `{}` to the requests it should decide",
                    rule.id
                ))
                .witness(witness),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        // An exception inside the allow is intended.
        pass(
            "G0104",
            "policy p {\n rule read: allow when tool == \"file_read\"\n rule secrets: deny when tool == \"file_read\" and args.path == \"/etc/shadow\" because \"no\"\n}",
        );
        // Global guards are not compared.
        pass(
            "G0104",
            "policy p {\n rule read: allow when tool == \"file_read\"\n rule low: deny when agent.trust < 300 because \"no\"\n}",
        );
        // Disjoint.
        pass(
            "G0104",
            "policy p {\n rule pay: allow when tool == \"pay\" and args.amount <= 1000\n rule big: escalate when tool == \"pay\" and args.amount > 1000 because \"x\"\n}",
        );
        let f = fail(
            "G0104",
            "policy p {\n rule pay: allow when tool == \"pay\" and args.amount <= 1000\n rule big: deny when tool == \"pay\" and args.amount >= 1000 because \"x\"\n}",
        );
        let w = f[0].witness.as_ref().unwrap();
        assert_eq!(w["args"]["amount"], 1000.0);
        assert_eq!(w["tool"], "pay");
    }
}
