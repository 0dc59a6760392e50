//! Regions: the paths of a fork-free diagram to the leaves that mark a change.
//!
//! A path fixes one outcome of each variable it tests, so it is a conjunction of conditions:
//! a region of the request space. Paths are walked depth first; a prefix whose decidable
//! steps no event can satisfy ([`super::solve`]) is cut off, so every path listed is
//! satisfiable as far as the decidable fragment goes. The walk is bounded: at most
//! `per_leaf` paths are kept for each leaf (the others are counted) and at most `steps` steps
//! are taken in all; when it stops early, [`Walk::complete`] is false.

use std::collections::BTreeMap;

use crate::compile::analysis::{Branch, Step, outcomes};
use crate::compile::dd::NodeRef;

use super::solve;
use super::space::Space;

/// The paths found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Per target leaf, in the order first reached: the paths kept.
    pub paths: Vec<(NodeRef, Vec<Vec<Step>>)>,
    /// Per target leaf: satisfiable paths found beyond those kept.
    pub more: BTreeMap<NodeRef, u64>,
    /// Whether every path was examined (none left because of the step bound).
    pub complete: bool,
    /// Paths cut off because their decidable steps contradict each other.
    pub infeasible: u64,
}

impl Walk {
    /// All kept paths of one leaf.
    pub fn of(&self, leaf: NodeRef) -> &[Vec<Step>] {
        self.paths
            .iter()
            .find(|(l, _)| *l == leaf)
            .map(|(_, p)| p.as_slice())
            .unwrap_or(&[])
    }
}

struct Walker<'a> {
    space: &'a Space,
    target: &'a dyn Fn(NodeRef) -> bool,
    per_leaf: usize,
    steps_left: usize,
    out: Walk,
    index: BTreeMap<NodeRef, usize>,
    /// Whether each sub-diagram reaches a target leaf.
    live: rustc_hash::FxHashMap<NodeRef, bool>,
}

/// The paths from `root` to leaves for which `target` holds.
pub fn walk(
    space: &Space,
    root: NodeRef,
    target: &dyn Fn(NodeRef) -> bool,
    per_leaf: usize,
    steps: usize,
) -> Walk {
    let mut w = Walker {
        space,
        target,
        per_leaf,
        steps_left: steps,
        out: Walk {
            complete: true,
            ..Walk::default()
        },
        index: BTreeMap::new(),
        live: Default::default(),
    };
    let mut path = Vec::new();
    w.go(root, &mut path);
    w.out
}

impl Walker<'_> {
    /// Whether `n` can reach a target leaf at all (ignoring feasibility).
    fn live(&mut self, n: NodeRef) -> bool {
        if let Some(&l) = self.live.get(&n) {
            return l;
        }
        let m = &self.space.m;
        let live = if m.leaf_items(n).is_some() {
            (self.target)(n)
        } else {
            let kids = m.children(n);
            kids.into_iter().any(|c| self.live(c))
        };
        self.live.insert(n, live);
        live
    }

    /// Returns false once the step bound is reached.
    fn go(&mut self, n: NodeRef, path: &mut Vec<Step>) -> bool {
        if self.steps_left == 0 {
            self.out.complete = false;
            return false;
        }
        self.steps_left -= 1;
        if !self.live(n) {
            return true;
        }
        if self.space.m.leaf_items(n).is_some() {
            let i = match self.index.get(&n) {
                Some(&i) => i,
                None => {
                    self.out.paths.push((n, Vec::new()));
                    let i = self.out.paths.len() - 1;
                    self.index.insert(n, i);
                    i
                }
            };
            if let Some((_, list)) = self.out.paths.get_mut(i) {
                if list.len() < self.per_leaf {
                    list.push(path.clone());
                } else {
                    *self.out.more.entry(n).or_insert(0) += 1;
                }
            }
            return true;
        }
        let Some((var, next)) = outcomes(&self.space.m, n) else {
            return true;
        };
        let next = merge_ranges(next);
        let exact = solve::exact(&self.space.witness_space(), var);
        for (branch, child) in next {
            // `has` is never unknown.
            if matches!(exact, Some((_, solve::Test::Has))) && branch == Branch::Unknown {
                continue;
            }
            if !self.live(child) {
                continue;
            }
            path.push(Step { var, branch });
            let feasible =
                exact.is_none() || solve::solve(&self.space.witness_space(), path).is_some();
            let go_on = if feasible {
                self.go(child, path)
            } else {
                self.out.infeasible += 1;
                true
            };
            path.pop();
            if !go_on {
                return false;
            }
        }
        true
    }
}

/// Neighbouring regions of a threshold that lead to the same place, as one range: `(100, 500)`
/// and `[500]` become `(100, 500]`.
fn merge_ranges(next: Vec<(Branch, NodeRef)>) -> Vec<(Branch, NodeRef)> {
    let mut out: Vec<(Branch, NodeRef)> = Vec::with_capacity(next.len());
    for (b, child) in next {
        if let (
            Branch::Range { hi: new_hi, .. },
            Some((Branch::Range { hi: last_hi, .. }, last_child)),
        ) = (&b, out.last_mut())
            && *last_child == child
        {
            *last_hi = *new_hi;
            continue;
        }
        out.push((b, child));
    }
    out
}
