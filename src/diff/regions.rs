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
    /// The steps taken.
    pub steps: usize,
    /// Whether some of `more` are paths counted without being walked (see [`walk`]): each
    /// leads to a change of its group, but some may hold no request.
    pub counted: bool,
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
    /// What the steps of the path require of each attribute, carried down it.
    known: solve::Known<'a>,
    target: &'a dyn Fn(NodeRef) -> bool,
    per_leaf: usize,
    steps_left: usize,
    out: Walk,
    index: BTreeMap<NodeRef, usize>,
    /// Whether each sub-diagram reaches a target leaf, by node (see [`Live`]).
    live: Live,
    /// Whether to skip sub-diagrams whose target leaves all have their paths already, counting
    /// their paths instead.
    skip_full: bool,
    /// The target leaves below each sub-diagram, with the number of paths to each.
    below: rustc_hash::FxHashMap<NodeRef, std::rc::Rc<[(NodeRef, u64)]>>,
    /// Each node's variable and outcomes, neighbouring ranges to one child merged
    /// ([`merge_ranges`]): read from the store the first time the walk reaches the node (of
    /// either run), not on every path through it.
    merged: Outcomes,
}

/// The paths from `root` to leaves for which `target` holds.
///
/// Every path is walked (and its satisfiable ones kept or counted) while that fits in `steps`.
/// When it does not, the walk is made again, skipping each sub-diagram whose target leaves
/// all have their `per_leaf` paths already: their paths are counted in `more` without being
/// walked (so some may be empty; [`Walk::counted`] says so). Every leaf a satisfiable path
/// reaches is still found, with its paths, since a leaf short of its paths is never skipped:
/// a change whose regions are too many to walk one by one (the complement of every other
/// rule of a library, one disjunction per rule) is then reported completely, its count of
/// further regions an upper bound.
pub fn walk(
    space: &Space,
    root: NodeRef,
    target: &dyn Fn(NodeRef) -> bool,
    per_leaf: usize,
    steps: usize,
) -> Walk {
    // Whether a node reaches a target leaf depends on neither run's bounds: both runs share
    // the answers, kept in this thread's array by node, which is taken for the walk and
    // put back after it.
    let mut live = LIVE.with(|l| std::mem::take(&mut *l.borrow_mut()));
    live.start(space.m.len());
    let run = |skip_full: bool, merged: Outcomes, live: Live| {
        let mut w = Walker {
            space,
            known: solve::Known::default(),
            target,
            per_leaf,
            steps_left: steps,
            out: Walk {
                complete: true,
                ..Walk::default()
            },
            index: BTreeMap::new(),
            live,
            skip_full,
            below: Default::default(),
            merged,
        };
        let mut path = Vec::new();
        w.go(root, &mut path);
        w.out.steps = steps - w.steps_left;
        (w.out, w.merged, w.live)
    };
    let (first, merged, live) = run(false, Outcomes::default(), live);
    let (out, live) = if first.complete || per_leaf == 0 {
        (first, live)
    } else {
        let (second, _, live) = run(true, merged, live);
        (if second.complete { second } else { first }, live)
    };
    LIVE.with(|l| *l.borrow_mut() = live);
    out
}

thread_local! {
    /// The array of [`Walker::live`], kept from walk to walk on each thread.
    static LIVE: std::cell::RefCell<Live> = std::cell::RefCell::default();
}

/// Whether each node reaches a target leaf: by node, `2 * stamp + answer` for the walk with
/// that stamp (an entry of another stamp is no answer), so that a new walk empties it by
/// taking a new stamp rather than by clearing it.
#[derive(Default)]
struct Live {
    marks: Vec<u32>,
    stamp: u32,
}

impl Live {
    /// Empties the array for a walk in a store of `len` nodes.
    fn start(&mut self, len: usize) {
        if self.marks.len() < len {
            // Zeroed memory, no stamp's: what was there before is forgotten with it.
            self.marks = vec![0; len];
        }
        if self.stamp >= u32::MAX / 2 - 1 {
            self.marks.iter_mut().for_each(|x| *x = 0);
            self.stamp = 0;
        }
        self.stamp += 1;
    }

    fn get(&self, n: NodeRef) -> Option<bool> {
        let x = *self.marks.get(n as usize)?;
        (x >> 1 == self.stamp).then_some(x & 1 == 1)
    }

    fn set(&mut self, n: NodeRef, live: bool) {
        if let Some(x) = self.marks.get_mut(n as usize) {
            *x = self.stamp << 1 | u32::from(live);
        }
    }
}

impl<'a> Walker<'a> {
    /// Whether `n` can reach a target leaf at all (ignoring feasibility).
    fn live(&mut self, n: NodeRef) -> bool {
        if let Some(l) = self.live.get(n) {
            return l;
        }
        let m = &self.space.m;
        let live = if m.leaf_items(n).is_some() {
            (self.target)(n)
        } else {
            let kids = m.children(n);
            kids.into_iter().any(|c| self.live(c))
        };
        self.live.set(n, live);
        live
    }

    /// The target leaves below `n`, with the number of paths to each (saturating), branching
    /// as [`Walker::go`] does.
    fn below(&mut self, n: NodeRef) -> std::rc::Rc<[(NodeRef, u64)]> {
        if let Some(b) = self.below.get(&n) {
            return b.clone();
        }
        let m = &self.space.m;
        let out: std::rc::Rc<[(NodeRef, u64)]> = if m.leaf_items(n).is_some() {
            if (self.target)(n) {
                vec![(n, 1)].into()
            } else {
                Vec::new().into()
            }
        } else {
            let mut acc: BTreeMap<NodeRef, u64> = BTreeMap::new();
            if let Some((var, next)) = outcomes(m, n) {
                let has = self.space.facts.is_has(var);
                for (branch, child) in merge_ranges(next) {
                    if has && branch == Branch::Unknown {
                        continue;
                    }
                    for (leaf, k) in self.below(child).iter() {
                        let e = acc.entry(*leaf).or_insert(0);
                        *e = e.saturating_add(*k);
                    }
                }
            }
            acc.into_iter().collect::<Vec<_>>().into()
        };
        self.below.insert(n, out.clone());
        out
    }

    /// Whether `leaf` has its paths already.
    fn full(&self, leaf: NodeRef) -> bool {
        self.index
            .get(&leaf)
            .and_then(|i| self.out.paths.get(*i))
            .is_some_and(|(_, list)| self.per_leaf > 0 && list.len() >= self.per_leaf)
    }

    /// With `skip_full`, counts the paths below `n` instead of walking them when every target
    /// leaf below it has its paths; returns whether it did.
    fn skipped(&mut self, n: NodeRef) -> bool {
        if !self.skip_full {
            return false;
        }
        let below = self.below(n);
        if below.is_empty() || !below.iter().all(|(leaf, _)| self.full(*leaf)) {
            return false;
        }
        for (leaf, k) in below.iter() {
            let e = self.out.more.entry(*leaf).or_insert(0);
            *e = e.saturating_add(*k);
        }
        self.out.counted = true;
        true
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
        let space: &'a Space = self.space;
        let Some((var, next)) = self
            .merged
            .entry(n)
            .or_insert_with(|| {
                outcomes(&space.m, n).map(|(v, next)| (v, merge_ranges(next).into()))
            })
            .clone()
        else {
            return true;
        };
        let facts = &space.facts;
        let ws = space.witness_space();
        for (branch, child) in next.iter() {
            let child = *child;
            // `has` is never unknown.
            if facts.is_has(var) && *branch == Branch::Unknown {
                continue;
            }
            if !self.live(child) || self.skipped(child) {
                continue;
            }
            let step = Step {
                var,
                branch: branch.clone(),
            };
            // The new step against what the path requires so far, as `consistent` asks it of
            // the whole path.
            let feasible = self.known.consistent(&ws, facts, &step);
            debug_assert_eq!(feasible, solve::consistent(&ws, facts, path, &step));
            let go_on = if feasible {
                self.known.push_checked(&ws, facts, &step);
                path.push(step);
                let go_on = self.go(child, path);
                path.pop();
                self.known.pop();
                go_on
            } else {
                self.out.infeasible += 1;
                true
            };
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

/// A bound of a range: the value and whether it is included; `None` when unbounded.
type Bound = Option<(f64, bool)>;

/// Whether two ranges (lower and upper bounds) meet.
fn ranges_meet(a: (Bound, Bound), b: (Bound, Bound)) -> bool {
    // The larger lower bound (exclusive when equal and either is) …
    let lo = match (a.0, b.0) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) => Some(if x.0 > y.0 {
            x
        } else if y.0 > x.0 {
            y
        } else {
            (x.0, x.1 && y.1)
        }),
    };
    // … and the smaller upper bound.
    let hi = match (a.1, b.1) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) => Some(if x.0 < y.0 {
            x
        } else if y.0 < x.0 {
            y
        } else {
            (x.0, x.1 && y.1)
        }),
    };
    match (lo, hi) {
        (Some(l), Some(h)) => l.0 < h.0 || (l.0 == h.0 && l.1 && h.1),
        _ => true,
    }
}

/// Whether the outcome `b` of a node may be taken by a request the step `s` (on the same
/// variable, from another node) allows.
fn compatible(s: &Branch, b: &Branch) -> bool {
    match (s, b) {
        (Branch::Const(x), Branch::Const(y)) => x == y,
        (Branch::Const(x), Branch::Other(excl)) => !excl.contains(x),
        (Branch::Other(excl), Branch::Const(y)) => !excl.contains(y),
        (Branch::Other(_), Branch::Other(_)) => true,
        (Branch::Range { lo, hi }, Branch::Range { lo: l2, hi: h2 }) => {
            ranges_meet((*lo, *hi), (*l2, *h2))
        }
        (Branch::True, Branch::True)
        | (Branch::False, Branch::False)
        | (Branch::Unknown, Branch::Unknown) => true,
        _ => false,
    }
}

/// `path` without the steps that do not matter: a step is dropped when every request the
/// other steps allow (as far as the decidable fragment tells which are possible) still ends
/// in `leaf`. The region grows, and stays inside the change.
pub fn widen(space: &Space, root: NodeRef, leaf: NodeRef, path: &[Step]) -> Vec<Step> {
    Widener::default().widen(space, root, leaf, path)
}

/// The tables of [`widen`], kept from one path to the next: paths widened in the same store
/// (until nodes are dropped from it) read each node's outcomes once, and the tables of each
/// check are arrays by node, emptied by a new stamp rather than cleared.
#[derive(Default)]
pub struct Widener {
    /// The outcomes of each node, read once for all the checks.
    outs: Outcomes,
    /// By node: `2 * stamp + answer` of [`Uniform::holds`] in the check with that stamp. A
    /// node is read once per check, so whether each of its outcomes is possible under the
    /// fixed steps is asked once too.
    memo: Vec<u32>,
    /// The stamp of the check in progress (from 1).
    stamp: u32,
    /// By variable: 1 + the index in the path being widened of the step on it, 0 for none;
    /// emptied again at the end of each path.
    at: Vec<u32>,
    /// By index in the path being widened: whether the step is among the check's fixed steps.
    kept: Vec<bool>,
}

impl Widener {
    /// [`widen`], with the outcomes of nodes read by earlier calls (the store must not have
    /// dropped nodes since).
    pub fn widen(
        &mut self,
        space: &Space,
        root: NodeRef,
        leaf: NodeRef,
        path: &[Step],
    ) -> Vec<Step> {
        let mut steps = path.to_vec();
        if self.memo.len() < space.m.len() {
            self.memo.resize(space.m.len(), 0);
        }
        let chain = self.chain(space, root, path);
        // Which fixed step is on a node's variable, found by index, not by going over the
        // fixed steps: the checks only ever take steps out of the path and put them back, so
        // the fixed step on a variable is the path's own, when it is fixed. A path with two
        // steps on one variable is searched as before.
        let indexed = self.index(path);
        // What the fixed steps of a check require of each attribute, taken in on the check's
        // first consistency question. The steps before `i` are the path's own in every check,
        // and the checks go from the last step to the first: those pushed for one check stay
        // for the next as far as they are its steps too.
        let mut known = solve::Known::default();
        for i in (0..steps.len()).rev() {
            // The check fixes every step but `i`: it is taken out of `steps` (moved, not
            // copied) and put back unless the check holds without it.
            let Some(dropped) = (i < steps.len()).then(|| steps.remove(i)) else {
                continue;
            };
            // The steps before `i` are the path's own, so `i` is the dropped step's index in
            // the path too.
            if let Some(k) = self.kept.get_mut(i) {
                *k = false;
            }
            // The steps before `i` are all fixed in this check and lead from the root down a
            // chain of single children to the node of step `i`, one visit each: the check
            // starts there, its budget less those visits, with the same answer.
            let (start, spent) = match chain.get(i) {
                Some(&n) => (n, i),
                None => (root, 0),
            };
            // A new stamp empties the memo; after 2^31 checks, the memo itself is.
            if self.stamp >= u32::MAX / 2 - 1 {
                self.memo.iter_mut().for_each(|x| *x = 0);
                self.stamp = 0;
            }
            self.stamp += 1;
            while known.depth() > i {
                known.pop();
            }
            let mut u = Uniform {
                space,
                leaf,
                fixed: &steps,
                index: indexed.then_some(FixedIndex {
                    path,
                    at: &self.at,
                    kept: &self.kept,
                }),
                memo: &mut self.memo,
                stamp: self.stamp,
                outs: &mut self.outs,
                budget: WIDEN_BUDGET - spent,
                known: &mut known,
                known_fixed: false,
                prefix: i,
            };
            if u.holds(start) != Some(true) {
                steps.insert(i, dropped);
                if let Some(k) = self.kept.get_mut(i) {
                    *k = true;
                }
            }
        }
        for s in path {
            if let Some(a) = self.at.get_mut(s.var as usize) {
                *a = 0;
            }
        }
        steps
    }

    /// Fills `at` and `kept` for `path`; false (and `at` left empty) when two of its steps are
    /// on one variable.
    fn index(&mut self, path: &[Step]) -> bool {
        self.kept.clear();
        self.kept.resize(path.len(), true);
        for (j, s) in path.iter().enumerate() {
            let v = s.var as usize;
            if self.at.len() <= v {
                self.at.resize(v + 1, 0);
            }
            let fresh = self.at.get(v).is_some_and(|a| *a == 0);
            if !fresh || u32::try_from(j + 1).is_err() {
                for s in path.iter().take(j) {
                    if let Some(a) = self.at.get_mut(s.var as usize) {
                        *a = 0;
                    }
                }
                return false;
            }
            if let Some(a) = self.at.get_mut(v) {
                *a = j as u32 + 1;
            }
        }
        true
    }
}

/// The fixed step on a variable, by index (see [`Widener::index`]).
struct FixedIndex<'a> {
    path: &'a [Step],
    at: &'a [u32],
    kept: &'a [bool],
}

impl<'a> FixedIndex<'a> {
    fn find(&self, var: u32) -> Option<&'a Step> {
        let j = (*self.at.get(var as usize)?).checked_sub(1)? as usize;
        if *self.kept.get(j)? {
            self.path.get(j)
        } else {
            None
        }
    }
}

/// The node visits each widening check may make.
const WIDEN_BUDGET: usize = 20_000;

impl Widener {
    /// The nodes `path` passes through from `root`, as far as each of them is reached from the
    /// one before by a chain of single children: node `j` tests the variable of step `j` (the
    /// only step on it), and every outcome of it that step allows leads to node `j + 1`. A
    /// check that fixes steps `0..j` (each allowing, at its node, only outcomes that lead to
    /// the next) visits exactly these nodes on its way to node `j`, one each.
    fn chain(&mut self, space: &Space, root: NodeRef, path: &[Step]) -> Vec<NodeRef> {
        let m = &space.m;
        let mut chain = Vec::with_capacity(path.len());
        let mut n = root;
        for (j, step) in path.iter().enumerate() {
            if j >= WIDEN_BUDGET / 2 || m.leaf_items(n).is_some() {
                break;
            }
            chain.push(n);
            let Some((var, next)) = outcomes_kept(&mut self.outs, m, n) else {
                break;
            };
            if var != step.var || path.iter().position(|s| s.var == var) != Some(j) {
                break;
            }
            let mut child = None;
            let mut single = true;
            for (branch, c) in next.iter() {
                if compatible(&step.branch, branch) {
                    single &= child.is_none_or(|x| x == *c);
                    child = Some(*c);
                }
            }
            match child {
                Some(c) if single => n = c,
                _ => break,
            }
        }
        // Node `j` is kept only when reached: the last node pushed is where the chain ends.
        chain
    }
}

struct Uniform<'a, 's> {
    space: &'s Space,
    leaf: NodeRef,
    fixed: &'a [Step],
    /// The fixed step on each variable, when the path has at most one per variable.
    index: Option<FixedIndex<'a>>,
    /// See [`Widener::memo`]: an entry counts only with this check's stamp.
    memo: &'a mut [u32],
    stamp: u32,
    outs: &'a mut Outcomes,
    budget: usize,
    /// What the fixed steps require of each attribute, once `known_fixed` says they are in;
    /// before, it holds the first steps of `fixed`, no more than `prefix` of them.
    known: &'a mut solve::Known<'s>,
    known_fixed: bool,
    prefix: usize,
}

/// The outcomes of nodes (see [`outcomes`]), by node.
/// A node's variable and its outcomes, shared by the checks that read them.
type Out = (u32, std::rc::Rc<[(Branch, NodeRef)]>);
type Outcomes = rustc_hash::FxHashMap<NodeRef, Option<Out>>;

/// Node `n`'s outcomes, read from the store the first time and kept in `outs` after.
fn outcomes_kept(outs: &mut Outcomes, m: &crate::compile::dd::Manager, n: NodeRef) -> Option<Out> {
    outs.entry(n)
        .or_insert_with(|| outcomes(m, n).map(|(v, next)| (v, next.into())))
        .clone()
}

impl<'s> Uniform<'_, 's> {
    /// Whether every request the fixed steps allow ends in the leaf from `n`; `None` when the
    /// check ran out of budget.
    fn holds(&mut self, n: NodeRef) -> Option<bool> {
        if let Some(&x) = self.memo.get(n as usize)
            && x >> 1 == self.stamp
        {
            return Some(x & 1 == 1);
        }
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        if self.space.m.leaf_items(n).is_some() {
            return Some(n == self.leaf);
        }
        let m = &self.space.m;
        let Some((var, next)) = outcomes_kept(self.outs, m, n) else {
            return Some(false);
        };
        let space: &'s Space = self.space;
        let ws = space.witness_space();
        let facts = &space.facts;
        let step = match &self.index {
            Some(ix) => ix.find(var),
            None => self.fixed.iter().find(|s| s.var == var),
        };
        debug_assert_eq!(step, self.fixed.iter().find(|s| s.var == var));
        let mut ok = true;
        for (branch, child) in next.iter() {
            let take = match step {
                Some(s) => compatible(&s.branch, branch),
                None => {
                    if facts.is_has(var) && *branch == Branch::Unknown {
                        false
                    } else if facts.slot(var).is_some() {
                        if !self.known_fixed {
                            while self.known.depth() > self.prefix {
                                self.known.pop();
                            }
                            for st in self.fixed.iter().skip(self.known.depth()) {
                                self.known.push(&ws, facts, st);
                            }
                            self.known_fixed = true;
                        }
                        let step = Step {
                            var,
                            branch: branch.clone(),
                        };
                        let feasible = self.known.consistent(&ws, facts, &step);
                        debug_assert_eq!(
                            feasible,
                            solve::consistent(&ws, facts, self.fixed, &step)
                        );
                        feasible
                    } else {
                        true
                    }
                }
            };
            if take && !self.holds(*child)? {
                ok = false;
                break;
            }
        }
        if let Some(slot) = self.memo.get_mut(n as usize) {
            *slot = self.stamp << 1 | u32::from(ok);
        }
        Some(ok)
    }
}
