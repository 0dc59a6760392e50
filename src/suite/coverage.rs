//! Coverage: which rules decided at least one event, which diagram leaves were reached.
//!
//! **Rule coverage** is the share of a bundle's rules that *determined* at least one evaluated
//! event of the run (were among the decision's `rules`), counting a `warn` rule when it was
//! among the decision's `warnings`: `covered / rules × 100`. Every evaluated event counts,
//! stream steps without `expect` included. Over several bundles the counts add up. A bundle
//! without rules is fully covered. This is the number `--min-coverage` checks.
//!
//! **Leaf coverage** is the share of the decision diagram's leaves that some event reached
//! (`Outcome::leaves`). A leaf stands for one combination of rule outcomes; some combinations
//! cannot happen in any request (two regexes that exclude each other), so 100% is not always
//! reachable, which is why it is reported but not gated.

use crate::bytecode::listing;
use crate::bytecode::model::{Effect, Model, NodeDef, Target, Var};
use crate::vm::{Outcome, Program};

/// Hit counts for one bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// Per rule (rule table order): events it determined (or warned on).
    pub rules: Vec<u64>,
    /// Per leaf: events that reached it.
    pub leaves: Vec<u64>,
    pub events: u64,
}

impl Coverage {
    pub fn new(p: &Program) -> Coverage {
        Coverage {
            rules: vec![0; p.model.rules.len()],
            leaves: vec![0; p.model.leaves.len()],
            events: 0,
        }
    }

    /// Counts one evaluated event.
    pub fn record(&mut self, p: &Program, out: &Outcome) {
        self.events += 1;
        for r in p.determining(out).iter().chain(p.warnings(out)) {
            if let Some(n) = self.rules.get_mut(*r as usize) {
                *n += 1;
            }
        }
        for l in &out.leaves {
            if let Some(n) = self.leaves.get_mut(*l as usize) {
                *n += 1;
            }
        }
    }

    pub fn rules_covered(&self) -> usize {
        self.rules.iter().filter(|n| **n > 0).count()
    }

    pub fn leaves_reached(&self) -> usize {
        self.leaves.iter().filter(|n| **n > 0).count()
    }
}

/// `covered / total × 100`; 100 when there is nothing to cover.
pub fn percent(covered: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        covered as f64 * 100.0 / total as f64
    }
}

/// A percentage with one decimal, rounded down so that a shortfall never shows as 100.0.
pub fn show_percent(covered: usize, total: usize) -> String {
    if total == 0 || covered >= total {
        return "100.0%".into();
    }
    let tenths = (covered as u128 * 1000) / total as u128;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// Whether `covered / total` reaches `min` percent (exactly, without rounding).
pub fn meets(covered: usize, total: usize, min: f64) -> bool {
    total == 0 || covered as f64 * 100.0 >= min * total as f64
}

/// A rule that never decided: (effect, id, `file:line`).
pub fn uncovered_rules(m: &Model, c: &Coverage) -> Vec<(Effect, String, String)> {
    m.rules
        .iter()
        .zip(&c.rules)
        .filter(|(_, n)| **n == 0)
        .map(|(r, _)| {
            let file = m
                .files
                .get(r.file as usize)
                .map(String::as_str)
                .unwrap_or("?");
            (r.effect, r.id.clone(), format!("{file}:{}", r.line))
        })
        .collect()
}

/// A leaf never reached: its index, what it decides, and one path of tests that leads to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissedLeaf {
    pub leaf: u32,
    pub decides: String,
    pub path: Vec<String>,
}

/// The leaves no event reached, each with the shortest path of tests to it.
pub fn missed_leaves(m: &Model, c: &Coverage) -> Vec<MissedLeaf> {
    let paths = leaf_paths(m);
    c.leaves
        .iter()
        .enumerate()
        .filter(|(_, n)| **n == 0)
        .map(|(i, _)| MissedLeaf {
            leaf: i as u32,
            decides: leaf_text(m, i),
            path: paths.get(i).cloned().flatten().unwrap_or_default(),
        })
        .collect()
}

/// What a leaf decides: `deny by p.a, p.b`, `the default (deny)`, with warnings.
pub fn leaf_text(m: &Model, leaf: usize) -> String {
    let Some(items) = m.leaves.get(leaf) else {
        return String::new();
    };
    let s = m.summarize(items);
    let ids = |rs: &[u32]| {
        rs.iter()
            .filter_map(|r| m.rules.get(*r as usize))
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut t = match s.verdict {
        Some(v) => format!("{v} by {}", ids(&s.determining)),
        None => format!("the default ({})", m.default),
    };
    if !s.warnings.is_empty() {
        t.push_str(&format!(", warns {}", ids(&s.warnings)));
    }
    t
}

/// For each leaf, the tests on a shortest path from a root to it (`None` if unreachable).
pub fn leaf_paths(m: &Model) -> Vec<Option<Vec<String>>> {
    // Breadth first from the roots; the first edge into a node or leaf is kept.
    let mut node_via: Vec<Option<(Option<u32>, String)>> = vec![None; m.nodes.len()];
    let mut leaf_via: Vec<Option<(Option<u32>, String)>> = vec![None; m.leaves.len()];
    let mut queue = std::collections::VecDeque::new();
    for root in &m.roots {
        match *root {
            Target::Leaf(l) => {
                if let Some(v) = leaf_via.get_mut(l as usize) {
                    v.get_or_insert((None, String::new()));
                }
            }
            Target::Node(n) => {
                if let Some(v) = node_via.get_mut(n as usize)
                    && v.is_none()
                {
                    *v = Some((None, String::new()));
                    queue.push_back(n);
                }
            }
        }
    }
    while let Some(n) = queue.pop_front() {
        let Some(node) = m.nodes.get(n as usize) else {
            continue;
        };
        for (t, label) in edges(m, node) {
            match t {
                Target::Leaf(l) => {
                    if let Some(v) = leaf_via.get_mut(l as usize) {
                        v.get_or_insert((Some(n), label));
                    }
                }
                Target::Node(k) => {
                    if let Some(v) = node_via.get_mut(k as usize)
                        && v.is_none()
                    {
                        *v = Some((Some(n), label));
                        queue.push_back(k);
                    }
                }
            }
        }
    }
    leaf_via
        .iter()
        .map(|via| {
            let (mut parent, label) = via.clone()?;
            let mut path = Vec::new();
            if !label.is_empty() {
                path.push(label);
            }
            let mut guard = 0usize;
            while let Some(p) = parent {
                guard += 1;
                if guard > m.nodes.len() {
                    return None;
                }
                let (up, label) = node_via.get(p as usize).cloned().flatten()?;
                if !label.is_empty() {
                    path.push(label);
                }
                parent = up;
            }
            path.reverse();
            Some(path)
        })
        .collect()
}

/// The edges out of a node, each with the test outcome that takes it.
fn edges(m: &Model, node: &NodeDef) -> Vec<(Target, String)> {
    let var = node.var().and_then(|v| m.vars.get(v as usize));
    match (node, var) {
        (NodeDef::Fork { children }, _) => children.iter().map(|c| (*c, String::new())).collect(),
        (
            NodeDef::Switch {
                branches,
                default,
                unknown,
                ..
            },
            Some(Var::Switch { operand, consts }),
        ) => {
            let op = listing::operand(m, operand);
            let mut out: Vec<(Target, String)> = branches
                .iter()
                .map(|(c, t)| {
                    let v = consts
                        .get(*c as usize)
                        .map(|s| crate::syntax::ast::quote_string(s))
                        .unwrap_or_default();
                    (*t, format!("{op} == {v}"))
                })
                .collect();
            out.push((*default, format!("{op} is another value")));
            out.push((*unknown, format!("{op} is unknown")));
            out
        }
        (
            NodeDef::Thresh {
                cuts,
                regions,
                unknown,
                ..
            },
            Some(Var::Thresh { operand }),
        ) => {
            let op = listing::operand(m, operand);
            let names = listing::regions(cuts);
            let mut out: Vec<(Target, String)> = regions
                .iter()
                .zip(names)
                .map(|(t, r)| {
                    let text = if r == "any" {
                        format!("{op} is a number")
                    } else if r.starts_with('(') {
                        format!("{op} in {r}")
                    } else {
                        format!("{op} {r}")
                    };
                    (*t, text)
                })
                .collect();
            out.push((*unknown, format!("{op} is unknown")));
            out
        }
        (NodeDef::Tri { t, f, u, .. }, Some(v)) => {
            let text = listing::var(m, v);
            let text = text.trim_start_matches("bool ");
            vec![
                (*t, format!("{text} is true")),
                (*f, format!("{text} is false")),
                (*u, format!("{text} is unknown")),
            ]
        }
        _ => node
            .targets()
            .into_iter()
            .map(|t| (t, "?".into()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_down_and_gate_exactly() {
        assert_eq!(show_percent(1999, 2000), "99.9%");
        assert_eq!(show_percent(2, 3), "66.6%");
        assert_eq!(show_percent(0, 0), "100.0%");
        assert_eq!(show_percent(3, 3), "100.0%");
        assert!(meets(2, 3, 66.0));
        assert!(!meets(2, 3, 66.7));
        assert!(!meets(39, 40, 100.0));
        assert!(meets(0, 0, 100.0));
        assert_eq!(percent(1, 4), 25.0);
    }

    #[test]
    fn counts_and_paths_on_a_real_bundle() {
        let src = crate::diag::SourceFile::new(
            "p.gov",
            "tool pay(amount: number)\npolicy p {\n  rule small: allow when tool == \"pay\" and args.amount <= 10\n  rule big: escalate when tool == \"pay\" and args.amount > 10 because \"big\"\n  rule other: warn when tool == \"x\"\n}\n",
        );
        let built = crate::pipeline::build_sources(vec![src]).unwrap();
        let p = &built.program;
        let mut c = Coverage::new(p);
        let mut ev = crate::vm::Event::default();
        let mut st = p.new_state();
        let mut out = Outcome::default();
        p.read_event(r#"{"tool":"pay","args":{"amount":5}}"#, &mut ev)
            .unwrap();
        p.eval(&ev, &mut st, &mut out);
        c.record(p, &out);
        assert_eq!(c.events, 1);
        assert_eq!(c.rules_covered(), 1);
        let missing: Vec<String> = uncovered_rules(&p.model, &c)
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(missing, ["p.big", "p.other"]);
        assert_eq!(c.leaves_reached(), 1);
        let missed = missed_leaves(&p.model, &c);
        assert_eq!(missed.len(), p.model.leaves.len() - 1);
        let big = missed
            .iter()
            .find(|l| l.decides == "escalate by p.big")
            .unwrap();
        assert!(
            big.path.iter().any(|s| s.contains("args.amount")),
            "{big:?}"
        );
        assert!(
            big.path.iter().any(|s| s.contains("tool == \"pay\"")),
            "{big:?}"
        );
        // Every leaf has a path from a root.
        assert!(leaf_paths(&p.model).iter().all(Option::is_some));
    }
}
