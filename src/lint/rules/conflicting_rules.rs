//! An `allow` and a `deny` (or `escalate`) rule about the same tool whose number ranges meet
//! at their boundary, so that both fire on the boundary value.
//!
//! `allow when tool == "transfer_funds" and args.amount <= 1000` next to `deny when tool ==
//! "transfer_funds" and args.amount >= 1000`: at exactly 1000 both match and the deny wins.
//! Ranges that touch at one value are almost always an off-by-one (`<=` where `<` was meant),
//! and the value at the boundary is the one reviewers test least.
//!
//! What is reported, precisely: both rules name the same tool (the same value of the `tool`
//! switch, or of the first switch in the bundle), both can be true on one request, neither is
//! an exception inside the other (the deny also covers requests the allow does not, and the
//! allow requests the deny does not), the allow is not wholly shadowed (that is
//! `shadowed-rule`), and on every path of the decision diagram where both are true some number
//! is pinned to a single value that neither rule pins alone (an allow with `args.n == 0` beside
//! a deny that does not test `args.n` is an overlap, not a boundary). Broader overlaps, such as "allow reads under `/data`" beside
//! "deny `.env` files", are the usual guard-and-exception style and are not reported. Rules that
//! do not name a tool (global guards such as `deny when agent.trust < 300`) are not compared.
//!
//! **Evidence.** The finding shows a request on which both conditions are true, evaluated by
//! the VM and by the reference interpreter.
//!
//! **Example.**
//! ```gov
//! rule pay:     allow when tool == "transfer_funds" and args.amount <= 1000
//! rule pay_big: deny when tool == "transfer_funds" and args.amount >= 1000 because "too much"
//! ```
//!
//! **Fix.** Make the ranges disjoint (`args.amount > 1000`), or say which rule decides the
//! boundary value.
use std::collections::{BTreeMap, BTreeSet};

use crate::compile::analysis::Branch;
use crate::compile::dd::Num;
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
            // Only overlaps at a boundary value: every path where both hold pins a number to a
            // value where the two ranges meet, that is, that neither rule pins alone (a rule's
            // own `args.n == 0` is no boundary).
            let paths = sem.a.paths(both, sem.a.m.t, 64);
            if paths.is_empty() || paths.len() >= 64 {
                continue;
            }
            let mut at_boundary = true;
            for p in &paths {
                let mut met = false;
                for st in p {
                    let Branch::Range {
                        lo: Some((l, true)),
                        hi: Some((h, true)),
                    } = st.branch
                    else {
                        continue;
                    };
                    if l != h {
                        continue;
                    }
                    let (t, f) = (sem.a.m.t, sem.a.m.f);
                    let elsewhere = sem.a.m.mk_thresh(st.var, vec![Num(l)], vec![t, f, t], f);
                    if sem.and(ta, elsewhere) != f && sem.and(td, elsewhere) != f {
                        met = true;
                        break;
                    }
                }
                if !met {
                    at_boundary = false;
                    break;
                }
            }
            if !at_boundary {
                continue;
            }
            let Some(witness) = sem.witness(both, &[a, d], &|obs| obs.is_true(a) && obs.is_true(d))
            else {
                continue;
            };
            let Some(dr) = bundle.rules.get(d) else {
                continue;
            };
            out.push(
                Finding::new(format!(
                    "`{}` and `{}` both match at the boundary of their ranges; {} wins there",
                    rule.id, dr.id, dr.effect
                ))
                .at(rule.loc, "allows")
                .related(dr.loc, format!("{} the same request", crate::lint::verb(dr.effect)))
                .help(format!(
                    "the ranges touch at one value (often `<=` where `<` was meant); make them disjoint, or decide which rule owns the boundary (`{}` or `{}`)",
                    rule.id, dr.id
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
        // A broad overlap in guard-and-exception style.
        pass(
            "G0104",
            "policy p {\n rule read: allow when tool == \"r\" and args.path starts_with \"/data/\"\n rule env: deny when tool == \"r\" and args.path matches r\"\\.env$\" because \"x\"\n}",
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
        // A number one rule pins by itself (`== 0`) is no boundary where two ranges meet.
        pass(
            "G0104",
            "tool a(n: number, flag: bool)\npolicy p {\n rule a: allow when tool == \"a\" and args.n == 0\n rule d: deny when tool == \"a\" and args.flag because \"x\"\n}",
        );
        pass(
            "G0104",
            "tool a(n: number, m: number)\npolicy p {\n rule a: allow when tool == \"a\" and args.n <= 5 and args.m > 1\n rule d: deny when tool == \"a\" and args.n == 5 because \"x\"\n}",
        );
        // Ranges that meet are still found beside such a test.
        fail(
            "G0104",
            "tool a(n: number, m: number)\npolicy p {\n rule a: allow when tool == \"a\" and args.m == 1 and args.n <= 5\n rule d: deny when tool == \"a\" and args.n >= 5 because \"x\"\n}",
        );
    }
}
