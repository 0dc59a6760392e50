//! An `allow` rule that can never decide, because a `deny` or `escalate` always fires with it.
//!
//! Deny beats escalate beats allow, whatever the order in the source. When every request that
//! makes an allow rule true also makes some deny or escalate rule match, the allow never
//! decides a request: it is dead code that reads as if it permitted something.
//!
//! **Proof.** On the decision diagram, *allow is true* implies *one of the deny or escalate
//! rules matches* on every path, so for every request. The finding names the rule (or rules)
//! that shadow it and shows an example request, evaluated by the VM and by the reference
//! interpreter: the allow's condition is true there and the shadowing rule matches. When no
//! such request can be built (for example because the allow is only true after earlier events
//! of a stream), nothing is reported.
//!
//! **Example.**
//! ```gov
//! rule read:    allow when tool == "file_read"
//! rule no_read: deny when tool in ["file_read", "file_write"] because "read-only agents do not touch files"
//! ```
//!
//! **Fix.** Narrow the deny (or escalate) rule so that it leaves room for the allow, or delete
//! the allow.
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::Effect;

pub const LINT: Lint = Lint {
    code: "G0102",
    name: "shadowed-rule",
    level: Level::Error,
    source: include_str!("shadowed_rule.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let sem = cx.semantic();
    let blockers: Vec<usize> = (0..bundle.rules.len())
        .filter(|&r| matches!(sem.effect(r), Effect::Deny | Effect::Escalate))
        .collect();
    if blockers.is_empty() {
        return;
    }
    let ms: Vec<_> = blockers
        .iter()
        .filter_map(|&d| sem.matches.get(d).copied())
        .collect();
    let any_blocker = sem.or_all(&ms);
    for (a, rule) in bundle.rules.iter().enumerate() {
        if rule.effect != Effect::Allow || !sem.reachable(a) {
            continue;
        }
        let Some(&ta) = sem.truth.get(a) else {
            continue;
        };
        if !sem.implies(ta, any_blocker) {
            continue;
        }
        // Which rule shadows it: one alone if one does, else those that overlap.
        let support = sem.truth_support.get(a).cloned();
        let mut single = None;
        for &d in &blockers {
            let fits = match (&support, sem.match_support.get(d)) {
                (Some(s), Some(ds)) => s.is_subset(ds),
                _ => true,
            };
            let Some(&md) = sem.matches.get(d) else {
                continue;
            };
            if fits && sem.implies(ta, md) {
                single = Some(d);
                break;
            }
        }
        let named: Vec<usize> = match single {
            Some(d) => vec![d],
            None => {
                let mut v = Vec::new();
                for &d in &blockers {
                    let Some(&md) = sem.matches.get(d) else {
                        continue;
                    };
                    if sem.and(ta, md) != sem.f() {
                        v.push(d);
                    }
                }
                v
            }
        };
        let mut involved = named.clone();
        involved.push(a);
        let witness = sem.witness(ta, &involved, &|obs| {
            obs.is_true(a) && named.iter().any(|&d| obs.matches(d))
        });
        let Some(witness) = witness else { continue };
        let names: Vec<String> = named
            .iter()
            .filter_map(|&d| bundle.rules.get(d))
            .map(|d| format!("`{}`", d.id))
            .collect();
        let by = if names.len() == 1 {
            format!("{} always fires with it", names.join(""))
        } else {
            format!("one of {} always fires with it", names.join(", "))
        };
        let mut f = Finding::new(format!("allow rule `{}` can never decide: {by}", rule.id))
            .at(rule.loc, "never decides a request")
            .help(format!(
                "whenever `{}` is true a deny or escalate rule matches and wins; narrow that rule or delete this one",
                rule.id
            ))
            .witness(witness);
        for &d in named.iter().take(4) {
            if let Some(dr) = bundle.rules.get(d) {
                f = f.related(
                    dr.loc,
                    format!("{} fires whenever `{}` does", dr.effect, rule.name),
                );
            }
        }
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0102",
            "policy p {\n rule read: allow when tool == \"file_read\"\n rule secrets: deny when tool == \"file_read\" and args.path == \"/etc/shadow\" because \"no\"\n}",
        );
        // A regex deny never shadows: it may not match.
        pass(
            "G0102",
            "policy p {\n rule read: allow when tool == \"file_read\" and args.path == \"/a\"\n rule secrets: deny when args.path matches r\"^/a\" because \"no\"\n}",
        );
        let f = fail(
            "G0102",
            "policy p {\n rule read: allow when tool == \"file_read\"\n rule no_read: deny when tool in [\"file_read\", \"file_write\"] because \"no\"\n}",
        );
        assert!(f[0].message.contains("p.no_read"));
        assert_eq!(f[0].witness.as_ref().unwrap()["tool"], "file_read");
        // Two rules together.
        fail(
            "G0102",
            "policy p {\n rule pay: allow when tool == \"pay\" and args.n > 0\n rule small: deny when args.n < 10 because \"a\"\n rule big: escalate when args.n >= 10 because \"b\"\n}",
        );
    }
}
