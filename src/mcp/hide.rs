//! Which tools a policy denies whatever the arguments: what `mcp-proxy --hide-denied` removes
//! from a `tools/list` result, read from the decision diagram.
//!
//! The gateway knows everything about a call but its arguments and the time (and the stream
//! state): the action (`tool_call`), the tool, the agent and the session are the values it
//! will put in the event. [`always_denied`] walks the diagram with those values: a node that
//! tests one of them follows its one branch, a node that tests anything else (an argument,
//! `ts`, a count, a function of a value) follows every branch. The leaves reached are all the
//! leaves any call of the tool by this agent can reach, and more (branches are followed as if
//! independent): so a tool is reported as always denied only when it surely is, and a tool
//! that some arguments would allow stays listed.
//!
//! Several roots (and forks) are walked independently and their leaves merged, as the VM
//! does. A verdict is `deny` for every call when one of them reaches only leaves that match a
//! `deny` rule, or when no leaf anywhere matches an `allow` or `escalate` rule without a
//! `deny` beside it and the default is `deny`.

use serde_json::Value;

use crate::bytecode::model::{Model, NodeDef, Operand, Target, Var, Verdict};
use crate::check::Ty;

/// The most diagram nodes one check visits; beyond it the tool is kept in the list.
pub const MAX_VISITS: usize = 1 << 20;

/// What a test gives with the known values.
enum Branch {
    /// This one target.
    One(Target),
    /// Any of them.
    All,
}

/// Whether every `tools/call` event shaped like `known` (an event without `args`; its `ts`
/// is taken as unknown) is denied by `model`, whatever its arguments, time and stream state.
pub fn always_denied(model: &Model, known: &Value) -> bool {
    let mut visits = 0usize;
    let mut can_pass = false;
    for root in &model.roots {
        let mut leaves = Vec::new();
        if !reach(model, known, *root, &mut leaves, &mut visits) {
            return false;
        }
        leaves.sort_unstable();
        leaves.dedup();
        let mut all_deny = true;
        for leaf in leaves {
            let items = model
                .leaves
                .get(leaf as usize)
                .map_or(&[][..], Vec::as_slice);
            match model.summarize(items).verdict {
                Some(Verdict::Deny) => {}
                Some(Verdict::Allow | Verdict::Escalate) => {
                    all_deny = false;
                    can_pass = true;
                }
                None => all_deny = false,
            }
        }
        if all_deny {
            return true;
        }
    }
    !can_pass && model.default == Verdict::Deny
}

/// Collects the leaves reachable from `t` into `out`; `false` when the walk was cut short.
fn reach(model: &Model, known: &Value, t: Target, out: &mut Vec<u32>, visits: &mut usize) -> bool {
    let mut stack = vec![t];
    let mut seen = rustc_hash::FxHashSet::default();
    while let Some(t) = stack.pop() {
        let n = match t {
            Target::Leaf(l) => {
                out.push(l);
                continue;
            }
            Target::Node(n) => n,
        };
        if !seen.insert(n) {
            continue;
        }
        *visits += 1;
        if *visits > MAX_VISITS {
            return false;
        }
        let Some(node) = model.nodes.get(n as usize) else {
            return false;
        };
        let var = node.var().and_then(|v| model.vars.get(v as usize));
        match (node, var.map(|v| branch(model, known, v, node))) {
            (_, Some(Branch::One(t))) => stack.push(t),
            _ => stack.extend(node.targets()),
        }
    }
    true
}

/// The value of a slot when the gateway knows it: `Some(None)` for an attribute it knows to
/// be absent, `None` when it does not know (arguments, time).
fn known_slot<'a>(model: &Model, known: &'a Value, slot: u32) -> Option<Option<&'a Value>> {
    let path = model.slots.get(slot as usize)?;
    match path.first().map(String::as_str) {
        None | Some("args" | "ts") => return None,
        Some(_) => {}
    }
    let mut v = known;
    for seg in path {
        match v.get(seg) {
            Some(x) => v = x,
            None => return Some(None),
        }
    }
    Some(Some(v))
}

fn branch(model: &Model, known: &Value, var: &Var, node: &NodeDef) -> Branch {
    match (var, node) {
        (
            Var::Switch {
                operand: Operand::Slot { slot, ty },
                consts,
            },
            NodeDef::Switch {
                branches,
                default,
                unknown,
                ..
            },
        ) => match known_slot(model, known, *slot) {
            None => Branch::All,
            Some(Some(Value::String(s))) if matches!(ty, Ty::String) => {
                match consts.binary_search(s) {
                    Ok(i) => {
                        let i = u32::try_from(i).unwrap_or(u32::MAX);
                        match branches.iter().find(|(c, _)| *c == i) {
                            Some((_, t)) => Branch::One(*t),
                            None => Branch::One(*default),
                        }
                    }
                    Err(_) => Branch::One(*default),
                }
            }
            Some(_) if matches!(ty, Ty::String) => Branch::One(*unknown),
            Some(_) => Branch::All,
        },
        (Var::Has { slot }, NodeDef::Tri { t, f, .. }) => match known_slot(model, known, *slot) {
            None => Branch::All,
            Some(Some(_)) => Branch::One(*t),
            Some(None) => Branch::One(*f),
        },
        (
            Var::Bool {
                operand: Operand::Slot { slot, .. },
            },
            NodeDef::Tri { t, f, u, .. },
        ) => match known_slot(model, known, *slot) {
            None => Branch::All,
            Some(Some(Value::Bool(true))) => Branch::One(*t),
            Some(Some(Value::Bool(false))) => Branch::One(*f),
            Some(_) => Branch::One(*u),
        },
        _ => Branch::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;
    use serde_json::json;

    fn model(src: &str) -> Model {
        let built = crate::pipeline::build_sources(vec![SourceFile::new("p.gov", src)])
            .unwrap_or_else(|d| panic!("{d:?}"));
        built.program.model.clone()
    }

    fn hidden(m: &Model, tool: &str, agent: &str) -> bool {
        always_denied(
            m,
            &json!({"session":"s","agent":{"id":agent},"action":"tool_call","tool":tool}),
        )
    }

    const POLICY: &str = r#"
tool web_search(query: string)
tool transfer(amount: number)
tool summarize(text: string)
tool shell(cmd: string)
default deny
policy p {
  applies when action == "tool_call"
  rule reads: allow when tool == "web_search" or tool == "summarize"
  rule small: allow when tool == "transfer" and args.amount <= 100
  rule big: escalate when tool == "transfer" and args.amount > 100
  rule no_summaries: deny when tool == "summarize" and agent.id == "intern" because "no"
  rule secrets: deny when tool == "web_search" and args.query contains "secret"
  rule ops_shell: allow when tool == "shell" and agent.id == "ops"
}
"#;

    #[test]
    fn tools_denied_whatever_the_arguments_are_found() {
        let m = model(POLICY);
        // Allowed for some arguments: listed.
        assert!(!hidden(&m, "web_search", "intern"));
        assert!(!hidden(&m, "transfer", "intern"));
        // Denied for this agent whatever the arguments.
        assert!(hidden(&m, "summarize", "intern"));
        assert!(!hidden(&m, "summarize", "ops"));
        // No rule allows it: the default denies.
        assert!(hidden(&m, "shell", "intern"));
        assert!(!hidden(&m, "shell", "ops"));
        assert!(hidden(&m, "unknown_tool", "ops"));
    }

    #[test]
    fn an_allowing_default_hides_only_what_a_rule_denies() {
        let m = model(
            r#"
default allow
policy p {
  rule no_shell: deny when tool == "shell" because "never"
  rule no_big: deny when tool == "pay" and args.amount > 10
}
"#,
        );
        assert!(hidden(&m, "shell", "a"));
        assert!(!hidden(&m, "pay", "a"));
        assert!(!hidden(&m, "read", "a"));
    }
}
