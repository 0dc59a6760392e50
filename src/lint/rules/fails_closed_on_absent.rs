//! A `deny` or `escalate` rule that fires on requests that simply lack `tool` or an `args`
//! attribute, because nothing guards it with `has` or `action`.
//!
//! A test on a missing attribute is *unknown*, and a deny or escalate rule whose condition is
//! unknown matches (fail-closed). So `escalate when tool == "transfer_funds" and
//! args.amount > 1000` also escalates every `llm_call`, every `input` and every call of a
//! tool that has no `amount` argument: `tool == "transfer_funds"` is unknown when there is no
//! tool, and `unknown and unknown` is unknown. Fail-closed is the right default for malformed
//! requests, but here it catches well-formed requests the author never meant to touch, and
//! the resulting denials are hard to explain.
//!
//! This lint exists because those denials surprise people more than any other behaviour of
//! the language: the rule reads as being about one tool, yet it decides requests of every
//! kind. It only reports what it can show: a request, evaluated by the VM and the reference
//! interpreter, on which the rule's condition is unknown *only* because `tool` is absent or
//! because the request's tool does not declare the `args` attribute the rule reads. A
//! request that lacks an attribute it should have (an `args.path` missing from a call of a
//! tool that declares `path`) is malformed, and denying it is intended: it is not reported.
//!
//! A match that a two-valued reading expects anyway is not reported either: in
//! `deny when agent.trust < 300 unless tool == "web_search"`, a request without a tool is
//! denied fail-closed, but taking "no tool" as "not `web_search`" gives the same denial.
//!
//! **Example.**
//! ```gov
//! rule big_payments: escalate when tool == "transfer_funds" and args.amount > 1000 because "…"
//! ```
//!
//! **Fix.** Guard the rule: `when action == "tool_call" and tool == "transfer_funds" and …`,
//! or `when has tool and …`. A test on `action` or a `has` test is never unknown for
//! well-formed requests, and `false and unknown` is false.
use serde_json::Value as Json;

use crate::bytecode::model::{Operand as BOperand, Pred, Var};
use crate::check::{Attr, Bundle, Cond, Operand, OperandKind, Rule, TestKind};
use crate::compile::analysis::{Analysis, Branch};
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::CmpOp;
use crate::syntax::ast::Effect;

pub const LINT: Lint = Lint {
    code: "G0108",
    name: "fails-closed-on-absent",
    level: Level::Warn,
    source: include_str!("fails_closed_on_absent.rs"),
    check,
};

fn raw<'e>(ev: &'e Json, a: &Attr) -> Option<&'e Json> {
    let mut cur = ev;
    for s in a.segments() {
        cur = cur.as_object()?.get(s)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// The attributes the rule reads that the event lacks, if all of them are explained by the
/// request's kind (no tool, or a tool without that argument); `None` otherwise.
fn explained(bundle: &Bundle, rule: &Rule, ev: &Json) -> Option<Vec<String>> {
    let tool = ev.get("tool").and_then(Json::as_str);
    let action = ev.get("action").and_then(Json::as_str);
    if tool.is_none() && matches!(action, Some("tool_call" | "tool_result")) {
        // A tool call without a tool is malformed: denying it is intended.
        return None;
    }
    let mut missing = Vec::new();
    for (a, _) in rule.cond.attr_refs(bundle) {
        if raw(ev, &a).is_some() {
            continue;
        }
        let segs = a.segments();
        match segs.first().map(String::as_str) {
            Some("tool") if segs.len() == 1 => {}
            Some("args") => {
                let rest = segs.get(1..).unwrap_or(&[]);
                match tool {
                    None => {}
                    Some(t) => {
                        let sig = bundle.tools.iter().find(|s| s.name == t)?;
                        if sig.arg_type(rest).is_some() {
                            return None;
                        }
                    }
                }
            }
            _ => return None,
        }
        missing.push(a.to_string());
    }
    (!missing.is_empty()).then_some(missing)
}

/// The condition as a two-valued reading would take it: every test on a missing attribute
/// is false, except `!=` and `not in`, which are true.
fn naive(c: &Cond, missing: &[Attr]) -> Cond {
    fn reads(o: &Operand, missing: &[Attr]) -> bool {
        match &o.kind {
            OperandKind::Attr(a) => missing.contains(a),
            OperandKind::Func(_, inner) => reads(inner, missing),
            _ => false,
        }
    }
    match c {
        Cond::And(ps) => Cond::And(ps.iter().map(|p| naive(p, missing)).collect()),
        Cond::Or(ps) => Cond::Or(ps.iter().map(|p| naive(p, missing)).collect()),
        Cond::Not(p) => Cond::Not(Box::new(naive(p, missing))),
        Cond::Test(t) if t.operands().into_iter().any(|o| reads(o, missing)) => {
            Cond::Const(matches!(
                t.kind,
                TestKind::Cmp { op: CmpOp::Ne, .. }
                    | TestKind::In { negated: true, .. }
                    | TestKind::Contains { negated: true, .. }
            ))
        }
        other => other.clone(),
    }
}

/// Whether a reader who takes a missing attribute as "not equal to anything" would expect the
/// rule to fire on `ev` anyway (then the fail-closed match is no surprise).
fn expected_anyway(bundle: &Bundle, r: usize, ev: &Json, missing: &[String]) -> bool {
    let Some(rule) = bundle.rules.get(r) else {
        return true;
    };
    let attrs: Vec<Attr> = rule
        .cond
        .attr_refs(bundle)
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| missing.contains(&a.to_string()))
        .collect();
    let mut b = crate::lint::witness::sub_bundle(bundle, &[r]);
    if let Some(x) = b.rules.first_mut() {
        x.cond = naive(&rule.cond, &attrs);
    }
    let reference = crate::reference::Reference::new(&b, "");
    match reference.rule_values(ev) {
        Some(vs) => vs.first() != Some(&crate::reference::K3::False),
        None => true,
    }
}

/// Whether every attribute a variable reads is `tool` or under `args`.
fn reads_only_tool_or_args(a: &Analysis, v: &Var) -> bool {
    fn op(a: &Analysis, o: &BOperand) -> bool {
        match o {
            BOperand::Slot { slot, .. } => a.slots.get(*slot as usize).is_some_and(|p| {
                p.first().is_some_and(|r| r == "args") || p.as_slice() == ["tool"]
            }),
            BOperand::Func { arg, .. } => op(a, arg),
            BOperand::Tracker(_) => false,
            _ => true,
        }
    }
    match v {
        Var::Switch { operand, .. } | Var::Thresh { operand } | Var::Bool { operand } => {
            op(a, operand)
        }
        Var::Has { .. } => false,
        Var::Pred(p) => match p {
            Pred::Cmp { lhs, rhs, .. }
            | Pred::StartsWith { lhs, rhs }
            | Pred::EndsWith { lhs, rhs } => op(a, lhs) && op(a, rhs),
            Pred::Contains { hay, needle } => op(a, hay) && op(a, needle),
            Pred::In { lhs, values } => op(a, lhs) && values.iter().all(|v| op(a, v)),
            Pred::Regex { lhs, .. } => op(a, lhs),
        },
    }
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let sem = cx.semantic();
    for (r, rule) in bundle.rules.iter().enumerate() {
        if !matches!(rule.effect, Effect::Deny | Effect::Escalate) {
            continue;
        }
        let Some(&d) = sem.a.rules.get(r) else {
            continue;
        };
        let any = sem.a.true_or_unknown(d);
        let truth = sem.a.truth(d);
        let unknown = sem.and_not(any, truth);
        if unknown == sem.f() {
            continue;
        }
        let t = sem.a.m.t;
        let paths = sem.a.paths(unknown, t, 32);
        let mut shown = None;
        for p in &paths {
            // Only paths whose unknown outcomes are all on `tool` or `args.*` can be explained
            // by the kind of request; skip the others before building anything.
            let mut any = false;
            let explainable = p.iter().all(|st| {
                if st.branch != Branch::Unknown {
                    return true;
                }
                any = true;
                sem.a
                    .vars
                    .get(st.var as usize)
                    .is_some_and(|v| reads_only_tool_or_args(&sem.a, v))
            });
            if !explainable || !any {
                continue;
            }
            let Some(mut ev) = crate::lint::witness::synthesize(&sem.a, p) else {
                continue;
            };
            // Give the request a kind: a tool call when it names a tool, else an LLM call.
            if let Some(obj) = ev.as_object_mut()
                && !obj.contains_key("action")
            {
                let kind = if obj.contains_key("tool") {
                    "tool_call"
                } else {
                    "llm_call"
                };
                obj.insert("action".into(), Json::String(kind.into()));
            }
            // A tool call names a tool: the first declared one the rule's attributes miss.
            let calls_tool = ev.get("action").and_then(Json::as_str) == Some("tool_call");
            if calls_tool && ev.get("tool").is_none() {
                for sig in &bundle.tools {
                    let mut with = ev.clone();
                    if let Some(obj) = with.as_object_mut() {
                        obj.insert("tool".into(), Json::String(sig.name.clone()));
                    }
                    if explained(bundle, rule, &with).is_some() {
                        ev = with;
                        break;
                    }
                }
            }
            let Some(missing) = explained(bundle, rule, &ev) else {
                continue;
            };
            let Some(obs) = sem.oracle.observe(&[r], &ev) else {
                continue;
            };
            if obs.is_unknown(r) && obs.matches(r) && !expected_anyway(bundle, r, &ev, &missing) {
                shown = Some((ev, missing));
                break;
            }
        }
        let Some((ev, _)) = shown else { continue };
        let ev = sem.minimize(&[r], ev, &|e, obs| {
            obs.is_unknown(r)
                && obs.matches(r)
                && explained(bundle, rule, e).is_some_and(|m| !expected_anyway(bundle, r, e, &m))
        });
        let Some(missing) = explained(bundle, rule, &ev) else {
            continue;
        };
        let kind = match ev.get("tool").and_then(Json::as_str) {
            Some(t) => format!("calls of `{t}`"),
            None => format!(
                "`{}` requests",
                ev.get("action").and_then(Json::as_str).unwrap_or("these")
            ),
        };
        let verb = if rule.effect == Effect::Deny {
            "denies"
        } else {
            "escalates"
        };
        out.push(
            Finding::new(format!(
                "rule `{}` {verb} {kind}: {} {} missing there, and unknown fails closed",
                rule.id,
                missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
                if missing.len() == 1 { "is" } else { "are" }
            ))
            .at(rule.loc, format!("{verb} more than it names"))
            .help("guard the condition with `action == \"tool_call\" and …` or `has …` so that it is false, not unknown, on other requests")
            .witness(ev),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0108",
            "policy p {\n rule a: escalate when action == \"tool_call\" and tool == \"pay\" and args.amount > 1000 because \"x\"\n}",
        );
        pass(
            "G0108",
            "policy p {\n rule a: deny when has tool and tool == \"pay\" because \"x\"\n}",
        );
        // A declared argument that is missing is a malformed request: denying it is intended.
        pass(
            "G0108",
            "tool pay(amount: number)\npolicy p {\n rule a: deny when action == \"tool_call\" and tool == \"pay\" and args.amount > 5 because \"x\"\n}",
        );
        let f = fail(
            "G0108",
            "policy p {\n rule a: escalate when tool == \"pay\" and args.amount > 1000 because \"x\"\n}",
        );
        let w = f[0].witness.as_ref().unwrap();
        assert_eq!(w["action"], "llm_call");
        assert!(w.get("tool").is_none());
        // Denied anyway when "no tool" reads as "not web_search".
        pass(
            "G0108",
            "policy p {\n rule a: deny when agent.trust < 300 unless tool == \"web_search\" because \"x\"\n}",
        );
        // An undeclared argument of another tool.
        fail(
            "G0108",
            "tool search(query: string)\ntool read(path: string)\npolicy p {\n rule a: deny when action == \"tool_call\" and args.path == \"/etc/shadow\" because \"x\"\n}",
        );
    }
}
