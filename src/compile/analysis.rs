//! The decision diagrams of a bundle, for tools that reason about policies (`govern lint`).
//!
//! [`Analysis::new`] lowers the bundle exactly as [`super::compile`] does (same variables,
//! same order) but keeps one *truth-valued* diagram per rule, whose leaves are the manager's
//! `t`, `f` and `u`: the rule's condition is true, false or unknown. Because the manager is
//! canonical, two conditions are the same function exactly when their diagrams are the same
//! node, and a condition can never be true exactly when [`Analysis::truth`] gives `m.f`.
//!
//! Variables are independent in the diagram (`tool == "a"` and `lower(tool) == "b"` are two
//! variables), so a path may be infeasible: a claim that holds on *every* path holds for every
//! event, but a path is only a candidate for an example event, to be checked by evaluating it.

use super::dd::{ITEM_TRUE, Manager, Node, NodeRef};
use super::{Builder, Lowerer, lower};
use crate::bytecode::model::{Tracker, Var};
use crate::check::{Bundle, Cond, Test};
use crate::syntax::ast::Effect;

/// One bundle's diagrams.
pub struct Analysis {
    /// The diagram store; `m.t`, `m.f`, `m.u` are the three truth values.
    pub m: Manager,
    /// The variables in diagram order: a node's `var` indexes this.
    pub vars: Vec<Var>,
    /// The attribute path of each slot a variable reads.
    pub slots: Vec<Vec<String>>,
    /// The trackers behind `count`, `sum` and `seen` operands.
    pub trackers: Vec<Tracker>,
    /// The truth-valued diagram of each rule's whole condition, by rule index.
    pub rules: Vec<NodeRef>,
    /// The first rule whose diagram reached [`super::dd::MEMORY_LIMIT`]. Once the manager is
    /// [`Manager::exceeded`], no answer of the analysis is to be trusted.
    pub too_large: Option<usize>,
    lw: Lowerer,
    rank: Vec<u32>,
    consts: Vec<Vec<String>>,
}

/// One test on a path through a diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The variable (an index into [`Analysis::vars`]).
    pub var: u32,
    pub branch: Branch,
}

/// Which outcome of a variable a path takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Branch {
    /// A switch equal to its constant with this index.
    Const(u32),
    /// A switch equal to none of these constants (indices).
    Other(Vec<u32>),
    /// A number in this range; each bound is `(value, inclusive)`, `None` when unbounded.
    Range {
        lo: Option<(f64, bool)>,
        hi: Option<(f64, bool)>,
    },
    True,
    False,
    /// Absent, or present with the wrong type.
    Unknown,
}

impl Analysis {
    /// Lowers and builds the diagrams of every rule of `bundle`.
    pub fn new(bundle: &Bundle) -> Analysis {
        let lowered = lower(bundle);
        let mut m = Manager::new(lowered.shapes);
        let mut too_large = None;
        let rules = {
            let b = Builder {
                rank: &lowered.rank,
                consts: &lowered.consts,
                vars: &lowered.lw.vars,
            };
            let mut rules = Vec::with_capacity(lowered.rule_conds.len());
            for (i, l) in lowered.rule_conds.iter().enumerate() {
                rules.push(b.build(&mut m, l));
                if m.exceeded() && too_large.is_none() {
                    too_large = Some(i);
                }
            }
            rules
        };
        let lw = lowered.lw;
        let vars = lowered
            .order
            .iter()
            .map(|&v| lw.var_def(v, lowered.consts.get(v).cloned().unwrap_or_default()))
            .collect();
        let slots = lw.slots.keys().cloned().collect();
        let trackers = lw.trackers.iter().map(|(_, t)| t.clone()).collect();
        Analysis {
            m,
            vars,
            slots,
            trackers,
            rules,
            too_large,
            lw,
            rank: lowered.rank,
            consts: lowered.consts,
        }
    }

    /// The truth-valued diagram of a condition of the bundle (a rule's, or part of one), with
    /// `forced` (a test inside `c`, by address) replaced by a constant. `None` when the
    /// condition reads a variable no rule of the bundle reads.
    pub fn cond(&mut self, c: &Cond, forced: Option<(&Test, bool)>) -> Option<NodeRef> {
        let before = self.lw.vars.len();
        self.lw.forced = forced.map(|(t, b)| (t as *const Test, b));
        let l = self.lw.cond(c);
        self.lw.forced = None;
        if self.lw.vars.len() != before {
            // A new variable has no place in the order: undo and refuse.
            self.lw.vars.truncate(before);
            self.lw.var_ids.retain(|_, v| *v < before);
            self.lw.var_consts.retain(|v, _| *v < before);
            return None;
        }
        let b = Builder {
            rank: &self.rank,
            consts: &self.consts,
            vars: &self.lw.vars,
        };
        Some(b.build(&mut self.m, &l))
    }

    /// Where the condition `d` is true: a two-valued diagram (`t` / `f` leaves).
    pub fn truth(&mut self, d: NodeRef) -> NodeRef {
        self.m.map(d, Some(ITEM_TRUE), None)
    }

    /// Where the condition `d` is true or unknown.
    pub fn true_or_unknown(&mut self, d: NodeRef) -> NodeRef {
        self.m.map(d, Some(ITEM_TRUE), Some(ITEM_TRUE))
    }

    /// Where a rule with condition `d` and this effect matches: when the condition is true,
    /// and for `deny`, `escalate` and `warn` also when it is unknown.
    pub fn matches(&mut self, d: NodeRef, effect: Effect) -> NodeRef {
        match effect {
            Effect::Allow => self.truth(d),
            _ => self.true_or_unknown(d),
        }
    }

    /// Whether the leaf `leaf` can be reached from `d`.
    pub fn can_reach(&self, d: NodeRef, leaf: NodeRef) -> bool {
        self.m.reachable(&[d]).contains(&leaf)
    }

    /// Up to `limit` paths from `d` to `leaf`, paths with known outcomes first.
    pub fn paths(&self, d: NodeRef, leaf: NodeRef, limit: usize) -> Vec<Vec<Step>> {
        let mut live: rustc_hash::FxHashMap<NodeRef, bool> = rustc_hash::FxHashMap::default();
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.walk(d, leaf, limit, &mut live, &mut path, &mut out);
        out
    }

    fn reaches(
        &self,
        n: NodeRef,
        leaf: NodeRef,
        live: &mut rustc_hash::FxHashMap<NodeRef, bool>,
    ) -> bool {
        if n == leaf {
            return true;
        }
        if let Some(&r) = live.get(&n) {
            return r;
        }
        let r = super::dd::deep(|| {
            self.m
                .children(n)
                .into_iter()
                .any(|c| self.reaches(c, leaf, live))
        });
        live.insert(n, r);
        r
    }

    fn walk(
        &self,
        n: NodeRef,
        leaf: NodeRef,
        limit: usize,
        live: &mut rustc_hash::FxHashMap<NodeRef, bool>,
        path: &mut Vec<Step>,
        out: &mut Vec<Vec<Step>>,
    ) {
        if out.len() >= limit || !self.reaches(n, leaf, live) {
            return;
        }
        if n == leaf {
            out.push(path.clone());
            return;
        }
        // Forks only come from unions, which analysis never builds.
        let Some((var, next)) = outcomes(&self.m, n) else {
            return;
        };
        for (branch, child) in next {
            path.push(Step { var, branch });
            super::dd::deep(|| self.walk(child, leaf, limit, live, path, out));
            path.pop();
            if out.len() >= limit {
                return;
            }
        }
    }

    /// The constants of a switch variable, sorted (what [`Branch::Const`] indexes).
    pub fn consts(&self, var: u32) -> &[String] {
        match self.vars.get(var as usize) {
            Some(Var::Switch { consts, .. }) => consts,
            _ => &[],
        }
    }
}

/// The outcomes of a node's variable and the child each leads to, in branch order (switch
/// constants, another string, unknown; threshold regions from below, unknown; true, false,
/// unknown); `None` for leaves and forks.
pub fn outcomes(m: &Manager, n: NodeRef) -> Option<(u32, Vec<(Branch, NodeRef)>)> {
    let mut next: Vec<(Branch, NodeRef)> = Vec::new();
    let var = match m.node(n) {
        Node::Leaf(_) | Node::Fork(_) => return None,
        Node::Switch {
            var,
            branches,
            default,
            unknown,
        } => {
            for (c, child) in branches.iter() {
                next.push((Branch::Const(*c), *child));
            }
            next.push((
                Branch::Other(branches.iter().map(|(c, _)| *c).collect()),
                *default,
            ));
            next.push((Branch::Unknown, *unknown));
            *var
        }
        Node::Thresh {
            var,
            cuts,
            regions,
            unknown,
        } => {
            for (i, child) in regions.iter().enumerate() {
                let k = i / 2;
                let range = if i % 2 == 1 {
                    let c = cuts.get(k).map(|c| c.0).unwrap_or(0.0);
                    Branch::Range {
                        lo: Some((c, true)),
                        hi: Some((c, true)),
                    }
                } else {
                    Branch::Range {
                        lo: k
                            .checked_sub(1)
                            .and_then(|j| cuts.get(j))
                            .map(|c| (c.0, false)),
                        hi: cuts.get(k).map(|c| (c.0, false)),
                    }
                };
                next.push((range, *child));
            }
            next.push((Branch::Unknown, *unknown));
            *var
        }
        Node::Tri { var, t, f, u } => {
            next.push((Branch::True, *t));
            next.push((Branch::False, *f));
            next.push((Branch::Unknown, *u));
            *var
        }
    };
    Some((var, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;

    fn bundle(src: &str) -> Bundle {
        crate::check::check_sources(vec![SourceFile::new("t.gov", src)]).unwrap()
    }

    #[test]
    fn equal_conditions_are_equal_nodes() {
        let b = bundle(
            "policy p {\n rule a: allow when tool == \"x\" and agent.trust > 5\n rule b: allow when agent.trust > 5 and tool == \"x\"\n rule c: allow when tool == \"y\"\n}",
        );
        let a = Analysis::new(&b);
        assert_eq!(a.rules[0], a.rules[1]);
        assert_ne!(a.rules[0], a.rules[2]);
    }

    #[test]
    fn contradictions_are_never_true() {
        let b = bundle(
            "policy p {\n rule a: deny when tool == \"x\" and tool == \"y\" because \"no\"\n}",
        );
        let mut a = Analysis::new(&b);
        let d = a.rules[0];
        assert_eq!(a.truth(d), a.m.f);
        // Unknown when `tool` is absent: a deny still matches then.
        assert_ne!(a.matches(d, Effect::Deny), a.m.f);
    }

    #[test]
    fn paths_reach_the_leaf() {
        let b = bundle("policy p {\n rule a: allow when tool == \"x\" and agent.trust > 5\n}");
        let mut a = Analysis::new(&b);
        let t = a.truth(a.rules[0]);
        let paths = a.paths(t, a.m.t, 8);
        assert_eq!(paths.len(), 1);
        let steps = &paths[0];
        assert_eq!(steps.len(), 2);
        assert!(steps.iter().any(|s| matches!(s.branch, Branch::Const(_))));
        assert!(steps.iter().any(|s| matches!(
            s.branch,
            Branch::Range {
                lo: Some((5.0, false)),
                hi: None
            }
        )));
    }

    #[test]
    fn forcing_a_test_changes_the_function() {
        let b = bundle(
            "policy p {\n rule a: allow when tool == \"x\" and (tool == \"x\" or agent.trust > 5)\n}",
        );
        let mut a = Analysis::new(&b);
        let rule = &b.rules[0];
        let mut tests = Vec::new();
        rule.cond.for_each_test(&b, false, &mut |t| tests.push(t));
        let whole = a.cond(&rule.cond, None).unwrap();
        assert_eq!(whole, a.rules[0]);
        // `agent.trust > 5` never matters.
        let last = tests[2];
        assert_eq!(a.cond(&rule.cond, Some((last, true))), Some(whole));
        assert_eq!(a.cond(&rule.cond, Some((last, false))), Some(whole));
        // The first test does.
        assert_ne!(a.cond(&rule.cond, Some((tests[0], true))), Some(whole));
    }
}
