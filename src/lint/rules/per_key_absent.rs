//! A `per` key that is always absent on the events a `count`, `sum` or `seen` looks at.
//!
//! Events only count towards a stateful value when their `per` key is present; on the current
//! event an absent key makes the value unknown. A key of `args.x` where no declared tool has an
//! argument `x`, or where the counted condition fixes the tool to ones that do not declare
//! `x`, is absent on every counted event: the count stays 0, `seen` stays false, and every
//! rule using it either never fires or (deny, escalate) fires fail-closed whenever the key is
//! missing on the current event.
//!
//! The same holds for any key, built-in or declared (`attribute context.tenant: string`), when
//! the counted condition requires its absence: `count(not has context.tenant, within 1m, per
//! context.tenant)` counts events that never have the key.
//!
//! The `args` case is only reported when the bundle declares tools, since the catalogue is
//! what says which arguments exist.
//!
//! **Example.**
//! ```gov
//! tool web_search(query: string)
//! policy p { rule rate: deny when count(tool == "web_search", within 1m, per args.user) > 10 because "…" }
//! ```
//!
//! **Fix.** Key by an attribute the counted events carry (`per agent.id`, `per session`), or
//! declare the argument.
use std::collections::BTreeSet;

use crate::check::{Attr, Cond, Const, OperandKind, TestKind};
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::CmpOp;

pub const LINT: Lint = Lint {
    code: "G0213",
    name: "per-key-absent",
    level: Level::Warn,
    source: include_str!("per_key_absent.rs"),
    check,
};

/// The tools a condition fixes with top-level `tool == …` / `tool in […]` conjuncts.
fn fixed_tools(c: &Cond) -> Option<BTreeSet<String>> {
    let parts: Vec<&Cond> = match c {
        Cond::And(ps) => ps.iter().collect(),
        other => vec![other],
    };
    let mut acc: Option<BTreeSet<String>> = None;
    for p in parts {
        let Cond::Test(t) = p else { continue };
        let set: BTreeSet<String> = match &t.kind {
            TestKind::Cmp {
                op: CmpOp::Eq,
                lhs,
                rhs,
            } => match (&lhs.kind, rhs.constant()) {
                (OperandKind::Attr(a), Some(Const::String(s))) if a.segments() == ["tool"] => {
                    BTreeSet::from([s.clone()])
                }
                _ => continue,
            },
            TestKind::In {
                lhs,
                values,
                negated: false,
            } => match &lhs.kind {
                OperandKind::Attr(a) if a.segments() == ["tool"] => values
                    .iter()
                    .filter_map(|v| match v {
                        Const::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => continue,
            },
            _ => continue,
        };
        acc = Some(match acc {
            None => set,
            Some(a) => a.intersection(&set).cloned().collect(),
        });
    }
    acc
}

/// A `has P` the condition denies outright (`not has P` among its top-level conjuncts) for a
/// `P` that is `key` or holds it: the counted events never carry `key`.
fn denied_presence<'c>(c: &'c Cond, key: &Attr) -> Option<&'c Attr> {
    let parts: Vec<&Cond> = match c {
        Cond::And(ps) => ps.iter().collect(),
        other => vec![other],
    };
    parts.into_iter().find_map(|p| match p {
        Cond::Not(inner) => match inner.as_ref() {
            Cond::Has(a, _) if key.segments().starts_with(a.segments()) => Some(a),
            _ => None,
        },
        _ => None,
    })
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    for s in &bundle.statefuls {
        for key in &s.per {
            if let Some(a) = denied_presence(&s.cond, key) {
                out.push(
                    Finding::new(format!(
                        "`{}` keyed `per {key}` never counts anything: its condition requires `not has {a}`",
                        s.kind.name()
                    ))
                    .at(s.loc, "the key is always absent")
                    .help("key by an attribute the counted events carry, or drop `not has` from the condition"),
                );
                continue;
            }
            if bundle.tools.is_empty() {
                continue;
            }
            let segs = key.segments();
            let (Some(root), Some(rest)) = (segs.first(), segs.get(1..)) else {
                continue;
            };
            if root != "args" || rest.is_empty() {
                continue;
            }
            let having: Vec<&str> = bundle
                .tools
                .iter()
                .filter(|t| t.arg_type(rest).is_some())
                .map(|t| t.name.as_str())
                .collect();
            let why = if having.is_empty() {
                format!("no declared tool has `{key}`")
            } else {
                let Some(fixed) = fixed_tools(&s.cond) else {
                    continue;
                };
                if fixed.is_empty()
                    || fixed.iter().any(|t| {
                        having.contains(&t.as_str()) || !bundle.tools.iter().any(|d| d.name == *t)
                    })
                {
                    continue;
                }
                format!(
                    "the counted events call {}, which {} not declare `{key}`",
                    fixed
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if fixed.len() == 1 { "does" } else { "do" }
                )
            };
            out.push(
                Finding::new(format!("`{}` keyed `per {key}` never counts anything: {why}", s.kind.name()))
                    .at(s.loc, "the key is always absent")
                    .help("key by an attribute the counted events carry, such as `per agent.id` or `per session`"),
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
            "G0213",
            "tool s(user: string)\npolicy p {\n rule r: deny when count(tool == \"s\", within 1m, per args.user) > 3 because \"x\"\n}",
        );
        pass(
            "G0213",
            "tool s(q: string)\npolicy p {\n rule r: deny when count(tool == \"s\", within 1m, per agent.id) > 3 because \"x\"\n}",
        );
        fail(
            "G0213",
            "tool s(q: string)\npolicy p {\n rule r: deny when count(tool == \"s\", within 1m, per args.user) > 3 because \"x\"\n}",
        );
        fail(
            "G0213",
            "attribute context.tenant: string\npolicy p {\n rule r: deny when count(not has context and true, within 1m, per context.tenant) > 3 because \"x\"\n}",
        );
        pass(
            "G0213",
            "attribute context.tenant: string\npolicy p {\n rule r: deny when count(has context.tenant, within 1m, per context.tenant) > 3 because \"x\"\n}",
        );
        fail(
            "G0213",
            "tool s(q: string)\ntool t(user: string)\npolicy p {\n rule r: deny when count(tool == \"s\", within 1m, per args.user) > 3 because \"x\"\n}",
        );
    }
}
