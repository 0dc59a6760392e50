//! The walks of a forked diagram combined into one, built when a bundle loads.
//!
//! A fork's children are all walked, one after another, and an event reaches one leaf in
//! each (a child may reach a fork of its own, whose children are walked next, in order).
//! Forked children often test the same variables (the library's policies each switch on
//! `tool` first), so separate walks test them again, each walk paying its own way down.
//!
//! The combined diagram walks them at once: each of its nodes stands for the walks still
//! under way (the sequence of targets they have reached, forks opened in place) and tests
//! the variable of the first of them, moving every walk whose node tests that variable by
//! the same outcome. The walks at the front of the sequence that have reached their leaves
//! give them out as the next node is entered (each node holds those it gives), so an event
//! ends with the same leaves in the same order as the separate walks, and the decision
//! (verdict, rules, unknown attributes, warnings, records in the stream state) is the same:
//! the leaves are all the rest of a decision reads. A pre-walk
//! ([`super::Program::prewalk`]) stops at the first node whose variable reads stream state:
//! separate walks would have stopped the first walk there too, and reach leaves without a
//! stop only when the combined walk does.
//!
//! The combination is bounded: it is built breadth first from the root, and once it has
//! [`MAX_NODES`] nodes that test, the walks still under way at the nodes it would add next
//! go on separately from there ([`Next::Rest`]: the targets they have reached, walked as a
//! fork's children are). Past [`MAX_TARGETS`] targets held in all, or on a diagram the walks
//! could not combine (a variable tested by nodes of another kind), nothing is combined and
//! the bundle is walked separately, as before.

use rustc_hash::FxHashMap;

use super::{RNode, RVar, Target, Var, switch_child, threshold_region};

/// The most nodes that test a combined diagram may have.
pub(super) const MAX_NODES: usize = 1 << 13;

/// The most targets all the nodes' sequences may hold together while it is built.
const MAX_TARGETS: usize = 1 << 21;

/// A node of the combined diagram: the leaves it gives out when entered, and what it does
/// next.
pub(super) struct CNode {
    /// The leaves of the walks at the front of the sequence, reached on the way in.
    pub(super) give: Box<[u32]>,
    pub(super) next: Next,
}

/// What a node of the combined diagram does once entered. Targets are indices of nodes.
pub(super) enum Next {
    Switch {
        var: u32,
        state: bool,
        branches: Box<[(u32, u32)]>,
        dense: Option<Box<[u32]>>,
        default: u32,
        unknown: u32,
    },
    Thresh {
        var: u32,
        state: bool,
        cuts: Box<[f64]>,
        regions: Box<[u32]>,
        unknown: u32,
    },
    Tri {
        var: u32,
        state: bool,
        t: u32,
        f: u32,
        u: u32,
    },
    /// Every walk has reached its leaf (and given it out).
    Done,
    /// Past the bound: the targets the walks have reached (the first a node), walked on
    /// separately in this order.
    Rest(Box<[Target]>),
}

/// A combined diagram: its nodes, the root first.
pub(super) struct Combined {
    pub(super) nodes: Vec<CNode>,
}

/// Where the separate walks from `start` go next on a switch's constant `c` (the walk's own
/// lookup, [`switch_child`]).
fn switch_next(node: &RNode, c: u32) -> Option<Target> {
    let RNode::Switch {
        branches,
        dense,
        default,
        ..
    } = node
    else {
        return None;
    };
    Some(switch_child(branches, dense.as_deref(), *default, c))
}

/// Whether cuts are strictly increasing numbers (what the combination of regions assumes).
fn sorted_cuts(cuts: &[f64]) -> bool {
    cuts.iter().all(|c| !c.is_nan()) && cuts.windows(2).all(|w| matches!(w, [a, b] if a < b))
}

struct Builder<'p> {
    nodes: &'p [RNode],
    vars: &'p [RVar],
    var_state: &'p [bool],
    /// The model's variables, for the number of a switch's constants.
    defs: &'p [Var],
    ids: FxHashMap<Box<[Target]>, u32>,
    /// Each combined node's sequence (after the leaves it gives out), until it is built
    /// (breadth first).
    todo: std::collections::VecDeque<(u32, Box<[Target]>)>,
    out: Vec<Option<CNode>>,
    targets: usize,
    /// Nodes made to test.
    testing: usize,
}

impl Builder<'_> {
    /// Appends `t` to `seq`, a fork opened in place (its children in order, forks within
    /// opened too); a node that does not exist is the fail-closed leaf, as `walk` takes it.
    fn push_open(&self, t: Target, seq: &mut Vec<Target>) {
        let mut stack = vec![t];
        while let Some(t) = stack.pop() {
            match t {
                Target::Leaf(_) => seq.push(t),
                Target::Node(n) => match self.nodes.get(n as usize) {
                    None => seq.push(Target::Leaf(u32::MAX)),
                    Some(RNode::Fork(children)) => stack.extend(children.iter().rev().copied()),
                    Some(_) => seq.push(t),
                },
            }
        }
    }

    /// The combined node of a sequence of targets (forks already opened): it gives out the
    /// leaves at its front.
    fn id(&mut self, seq: Vec<Target>) -> Option<u32> {
        if let Some(id) = self.ids.get(seq.as_slice()) {
            return Some(*id);
        }
        self.targets += seq.len();
        if self.targets > MAX_TARGETS {
            return None;
        }
        let id = u32::try_from(self.out.len()).ok()?;
        let front = seq
            .iter()
            .position(|t| matches!(t, Target::Node(_)))
            .unwrap_or(seq.len());
        let give: Box<[u32]> = seq
            .get(..front)
            .unwrap_or_default()
            .iter()
            .map(|t| match t {
                Target::Leaf(l) => *l,
                Target::Node(_) => u32::MAX,
            })
            .collect();
        let rest: Box<[Target]> = seq.get(front..).unwrap_or_default().into();
        self.ids.insert(seq.into(), id);
        if rest.is_empty() {
            self.out.push(Some(CNode {
                give,
                next: Next::Done,
            }));
        } else if self.testing >= MAX_NODES {
            self.out.push(Some(CNode {
                give,
                next: Next::Rest(rest),
            }));
        } else {
            self.testing += 1;
            self.todo.push_back((id, rest));
            self.out.push(Some(CNode {
                give,
                next: Next::Done,
            }));
        }
        Some(id)
    }

    /// The combined node after the walks testing `var` in `seq` moved by `next`.
    fn after(
        &mut self,
        seq: &[Target],
        var: u32,
        mut next: impl FnMut(&RNode) -> Option<Target>,
    ) -> Option<u32> {
        let mut moved = Vec::with_capacity(seq.len());
        for &t in seq {
            match t {
                Target::Node(n) => {
                    let node = self.nodes.get(n as usize)?;
                    if node.var() == Some(var) {
                        self.push_open(next(node)?, &mut moved);
                    } else {
                        moved.push(t);
                    }
                }
                Target::Leaf(_) => moved.push(t),
            }
        }
        self.id(moved)
    }

    /// What a node does whose sequence (after the leaves it gives out) is `seq`, the first
    /// a node: tests the first walk's variable.
    fn build(&mut self, seq: &[Target]) -> Option<Next> {
        let Some(Target::Node(first)) = seq.first() else {
            return None;
        };
        let var = self.nodes.get(*first as usize)?.var()?;
        let state = *self.var_state.get(var as usize)?;
        let testing: Vec<&RNode> = seq
            .iter()
            .filter_map(|t| match t {
                Target::Node(n) => self.nodes.get(*n as usize),
                Target::Leaf(_) => None,
            })
            .filter(|n| n.var() == Some(var))
            .collect();
        match self.vars.get(var as usize)? {
            RVar::Switch { .. } => {
                let mut consts = Vec::new();
                for node in &testing {
                    let RNode::Switch { branches, .. } = node else {
                        return None;
                    };
                    consts.extend(branches.iter().map(|(c, _)| *c));
                }
                consts.sort_unstable();
                consts.dedup();
                let default = self.after(seq, var, |n| match n {
                    RNode::Switch { default, .. } => Some(*default),
                    _ => None,
                })?;
                let unknown = self.after(seq, var, |n| match n {
                    RNode::Switch { unknown, .. } => Some(*unknown),
                    _ => None,
                })?;
                let mut branches = Vec::with_capacity(consts.len());
                for c in consts {
                    let to = self.after(seq, var, |n| switch_next(n, c))?;
                    if to != default {
                        branches.push((c, to));
                    }
                }
                let nconsts = match self.defs.get(var as usize) {
                    Some(Var::Switch { consts, .. }) => consts.len(),
                    _ => 0,
                };
                let dense = (branches.len() >= 8 && nconsts <= branches.len() * 4).then(|| {
                    let mut d = vec![default; nconsts];
                    for (c, t) in &branches {
                        if let Some(x) = d.get_mut(*c as usize) {
                            *x = *t;
                        }
                    }
                    d.into_boxed_slice()
                });
                Some(Next::Switch {
                    var,
                    state,
                    branches: branches.into(),
                    dense,
                    default,
                    unknown,
                })
            }
            RVar::Thresh { .. } => {
                let mut cuts: Vec<f64> = Vec::new();
                for node in &testing {
                    let RNode::Thresh { cuts: c, .. } = node else {
                        return None;
                    };
                    if !sorted_cuts(c) {
                        return None;
                    }
                    cuts.extend_from_slice(c);
                }
                cuts.sort_by(f64::total_cmp);
                cuts.dedup_by(|a, b| a == b);
                if !sorted_cuts(&cuts) {
                    return None;
                }
                let unknown = self.after(seq, var, |n| match n {
                    RNode::Thresh { unknown, .. } => Some(*unknown),
                    _ => None,
                })?;
                let mut regions = Vec::with_capacity(2 * cuts.len() + 1);
                for r in 0..=2 * cuts.len() {
                    // A cut: each node's region for that value, by the walk's own formula.
                    // Between cuts (none of any node's there): as many cuts below as the
                    // node has up to the cut below.
                    let below = r.checked_sub(1).map(|i| i / 2).and_then(|i| cuts.get(i));
                    let at = cuts.get(r / 2).copied();
                    let to = self.after(seq, var, |n| {
                        let RNode::Thresh {
                            cuts: c,
                            regions,
                            unknown,
                            ..
                        } = n
                        else {
                            return None;
                        };
                        let region = if r % 2 == 1 {
                            threshold_region(c, at?)
                        } else {
                            2 * below.map_or(0, |b| c.partition_point(|x| x <= b))
                        };
                        Some(regions.get(region).copied().unwrap_or(*unknown))
                    })?;
                    regions.push(to);
                }
                Some(Next::Thresh {
                    var,
                    state,
                    cuts: cuts.into(),
                    regions: regions.into(),
                    unknown,
                })
            }
            RVar::Bool { .. } | RVar::Has { .. } | RVar::Pred(_) => {
                let mut arm = |pick: fn(&RNode) -> Option<Target>| self.after(seq, var, pick);
                let t = arm(|n| match n {
                    RNode::Tri { t, .. } => Some(*t),
                    _ => None,
                })?;
                let f = arm(|n| match n {
                    RNode::Tri { f, .. } => Some(*f),
                    _ => None,
                })?;
                let u = arm(|n| match n {
                    RNode::Tri { u, .. } => Some(*u),
                    _ => None,
                })?;
                Some(Next::Tri {
                    var,
                    state,
                    t,
                    f,
                    u,
                })
            }
        }
    }
}

/// Combines the walks from `roots` (walked like a fork's children), or `None` when there is
/// nothing to combine (no fork on the way) or the combination would pass the bounds.
pub(super) fn combine(
    nodes: &[RNode],
    vars: &[RVar],
    var_state: &[bool],
    defs: &[Var],
    roots: &[Target],
) -> Option<Combined> {
    let forked = roots.len() > 1 || nodes.iter().any(|n| matches!(n, RNode::Fork(_)));
    if !forked {
        return None;
    }
    let mut b = Builder {
        nodes,
        vars,
        var_state,
        defs,
        ids: FxHashMap::default(),
        todo: std::collections::VecDeque::new(),
        out: Vec::new(),
        targets: 0,
        testing: 0,
    };
    let mut seq = Vec::new();
    for &r in roots {
        b.push_open(r, &mut seq);
    }
    b.id(seq)?;
    while let Some((id, seq)) = b.todo.pop_front() {
        let next = b.build(&seq)?;
        b.out.get_mut(id as usize)?.as_mut()?.next = next;
    }
    let nodes = b.out.into_iter().collect::<Option<Vec<CNode>>>()?;
    Some(Combined { nodes })
}
