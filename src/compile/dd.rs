//! Multi-terminal decision diagrams over multi-way variables, hash-consed and canonical.
//!
//! A node tests one variable (its index is its rank in the global order) and branches on the
//! outcome:
//! - **switch** on a string: one branch per constant the bundle compares it with, a default
//!   branch for any other string, and an unknown branch (absent or mistyped);
//! - **threshold** on a number: the cut points split the line into open intervals and points,
//!   `2k + 1` regions for `k` cuts, plus the unknown branch;
//! - **three-way** on a boolean-valued test: true, false, unknown.
//!
//! Leaves are sorted sets of item codes (which rules hold, which are unknown, which trackers
//! fire). Nodes are kept canonical (no redundant tests, no branch equal to the default, no cut
//! whose neighbouring regions agree), so hash-consing makes equal functions the same node.

use rustc_hash::FxHashMap;

/// A node or leaf of the manager.
pub type NodeRef = u32;

/// A number with total equality and hashing (-0 is +0; NaN never occurs).
#[derive(Clone, Copy, Debug)]
pub struct Num(pub f64);

impl Num {
    fn bits(self) -> u64 {
        if self.0 == 0.0 { 0 } else { self.0.to_bits() }
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        self.bits() == other.bits()
    }
}

impl Eq for Num {}

impl std::hash::Hash for Num {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bits().hash(state);
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Num) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Num) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Leaf(Box<[u32]>),
    Switch {
        var: u32,
        /// Sorted by constant index; never a child equal to `default`.
        branches: Box<[(u32, NodeRef)]>,
        default: NodeRef,
        unknown: NodeRef,
    },
    Thresh {
        var: u32,
        /// Strictly increasing.
        cuts: Box<[Num]>,
        /// `2 * cuts.len() + 1` children: below the first cut, at it, between, …, above the last.
        regions: Box<[NodeRef]>,
        unknown: NodeRef,
    },
    Tri {
        var: u32,
        t: NodeRef,
        f: NodeRef,
        u: NodeRef,
    },
}

impl Node {
    fn var(&self) -> u32 {
        match self {
            Node::Leaf(_) => u32::MAX,
            Node::Switch { var, .. } | Node::Thresh { var, .. } | Node::Tri { var, .. } => *var,
        }
    }
}

/// The kind of outcome a variable has; fixed per variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarShape {
    Switch,
    Thresh,
    Tri,
}

/// Item codes reserved for the three truth values while a single condition is built.
pub const ITEM_TRUE: u32 = u32::MAX - 1;
pub const ITEM_UNKNOWN: u32 = u32::MAX;

/// Operations `apply` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    And,
    Or,
    Not,
    /// Union of the item sets of two diagrams of disjoint rules.
    Union,
    /// Turns a truth-valued diagram into one with the items `on_true` / `on_unknown`.
    Map {
        on_true: Option<u32>,
        on_unknown: Option<u32>,
    },
}

/// The diagram store.
pub struct Manager {
    nodes: Vec<Node>,
    unique: FxHashMap<Node, NodeRef>,
    shapes: Vec<VarShape>,
    memo: FxHashMap<(Op, NodeRef, NodeRef), NodeRef>,
    /// Nodes created by the current operation, and the limit (for `union_within`).
    created: usize,
    limit: usize,
    exceeded: bool,
    empty: Node,
    pub f: NodeRef,
    pub t: NodeRef,
    pub u: NodeRef,
}

/// The three truth values of a truth-valued leaf.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tv {
    T,
    F,
    U,
}

impl Manager {
    pub fn new(shapes: Vec<VarShape>) -> Manager {
        let mut m = Manager {
            nodes: Vec::new(),
            unique: FxHashMap::default(),
            shapes,
            memo: FxHashMap::default(),
            created: 0,
            limit: usize::MAX,
            exceeded: false,
            empty: Node::Leaf(Box::new([])),
            f: 0,
            t: 0,
            u: 0,
        };
        m.f = m.leaf(Vec::new());
        m.t = m.leaf(vec![ITEM_TRUE]);
        m.u = m.leaf(vec![ITEM_UNKNOWN]);
        m
    }

    /// The node behind a reference. References only ever come from this manager; an unknown
    /// one reads as the empty leaf.
    pub fn node(&self, r: NodeRef) -> &Node {
        self.nodes.get(r as usize).unwrap_or(&self.empty)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn intern(&mut self, n: Node) -> NodeRef {
        if let Some(&r) = self.unique.get(&n) {
            return r;
        }
        let r = NodeRef::try_from(self.nodes.len()).unwrap_or(NodeRef::MAX);
        self.nodes.push(n.clone());
        self.unique.insert(n, r);
        self.created += 1;
        if self.created > self.limit {
            self.exceeded = true;
        }
        r
    }

    /// A leaf with these items (sorted and deduplicated here).
    pub fn leaf(&mut self, mut items: Vec<u32>) -> NodeRef {
        items.sort_unstable();
        items.dedup();
        self.intern(Node::Leaf(items.into_boxed_slice()))
    }

    pub fn leaf_items(&self, r: NodeRef) -> Option<&[u32]> {
        match self.nodes.get(r as usize)? {
            Node::Leaf(items) => Some(items),
            _ => None,
        }
    }

    pub fn mk_switch(
        &mut self,
        var: u32,
        branches: Vec<(u32, NodeRef)>,
        default: NodeRef,
        unknown: NodeRef,
    ) -> NodeRef {
        let branches: Vec<(u32, NodeRef)> = branches
            .into_iter()
            .filter(|&(_, c)| c != default)
            .collect();
        if branches.is_empty() && default == unknown {
            return default;
        }
        self.intern(Node::Switch {
            var,
            branches: branches.into_boxed_slice(),
            default,
            unknown,
        })
    }

    pub fn mk_thresh(
        &mut self,
        var: u32,
        cuts: Vec<Num>,
        regions: Vec<NodeRef>,
        unknown: NodeRef,
    ) -> NodeRef {
        // Drop every cut whose point and both neighbouring intervals lead to the same place.
        let mut out_cuts: Vec<Num> = Vec::with_capacity(cuts.len());
        let mut out_regions: Vec<NodeRef> = Vec::with_capacity(regions.len());
        let Some(&first) = regions.first() else {
            return unknown;
        };
        out_regions.push(first);
        for (i, cut) in cuts.iter().enumerate() {
            let at = regions.get(2 * i + 1).copied().unwrap_or(first);
            let above = regions.get(2 * i + 2).copied().unwrap_or(first);
            let below = out_regions.last().copied().unwrap_or(first);
            if at == below && above == below {
                continue;
            }
            out_cuts.push(*cut);
            out_regions.push(at);
            out_regions.push(above);
        }
        if out_cuts.is_empty() && first == unknown {
            return first;
        }
        self.intern(Node::Thresh {
            var,
            cuts: out_cuts.into_boxed_slice(),
            regions: out_regions.into_boxed_slice(),
            unknown,
        })
    }

    pub fn mk_tri(&mut self, var: u32, t: NodeRef, f: NodeRef, u: NodeRef) -> NodeRef {
        if t == f && f == u {
            return t;
        }
        self.intern(Node::Tri { var, t, f, u })
    }

    fn tv(&self, r: NodeRef) -> Option<Tv> {
        if r == self.t {
            Some(Tv::T)
        } else if r == self.f {
            Some(Tv::F)
        } else if r == self.u {
            Some(Tv::U)
        } else {
            None
        }
    }

    fn of_tv(&self, v: Tv) -> NodeRef {
        match v {
            Tv::T => self.t,
            Tv::F => self.f,
            Tv::U => self.u,
        }
    }

    pub fn and(&mut self, a: NodeRef, b: NodeRef) -> NodeRef {
        self.run(Op::And, a, b)
    }

    pub fn or(&mut self, a: NodeRef, b: NodeRef) -> NodeRef {
        self.run(Op::Or, a, b)
    }

    pub fn not(&mut self, a: NodeRef) -> NodeRef {
        self.run(Op::Not, a, a)
    }

    /// Replaces true / unknown leaves of a truth-valued diagram with item sets.
    pub fn map(&mut self, a: NodeRef, on_true: Option<u32>, on_unknown: Option<u32>) -> NodeRef {
        self.run(
            Op::Map {
                on_true,
                on_unknown,
            },
            a,
            a,
        )
    }

    /// The union of two diagrams, or `None` when it would create more than `limit` nodes.
    pub fn union_within(&mut self, a: NodeRef, b: NodeRef, limit: usize) -> Option<NodeRef> {
        self.created = 0;
        self.limit = limit;
        self.exceeded = false;
        self.memo.clear();
        let r = self.apply(Op::Union, a, b);
        self.limit = usize::MAX;
        self.memo.clear();
        if self.exceeded { None } else { Some(r) }
    }

    fn run(&mut self, op: Op, a: NodeRef, b: NodeRef) -> NodeRef {
        self.memo.clear();
        self.apply(op, a, b)
    }

    fn leaf_op(&mut self, op: Op, a: NodeRef, b: NodeRef) -> Option<NodeRef> {
        match op {
            Op::And | Op::Or => {
                let (x, y) = (self.tv(a)?, self.tv(b)?);
                let v = if op == Op::And {
                    match (x, y) {
                        (Tv::F, _) | (_, Tv::F) => Tv::F,
                        (Tv::U, _) | (_, Tv::U) => Tv::U,
                        _ => Tv::T,
                    }
                } else {
                    match (x, y) {
                        (Tv::T, _) | (_, Tv::T) => Tv::T,
                        (Tv::U, _) | (_, Tv::U) => Tv::U,
                        _ => Tv::F,
                    }
                };
                Some(self.of_tv(v))
            }
            Op::Not => {
                let v = match self.tv(a)? {
                    Tv::T => Tv::F,
                    Tv::F => Tv::T,
                    Tv::U => Tv::U,
                };
                Some(self.of_tv(v))
            }
            Op::Map {
                on_true,
                on_unknown,
            } => {
                let item = match self.tv(a)? {
                    Tv::T => on_true,
                    Tv::U => on_unknown,
                    Tv::F => None,
                };
                Some(self.leaf(item.into_iter().collect()))
            }
            Op::Union => {
                let mut items: Vec<u32> = self.leaf_items(a)?.to_vec();
                items.extend_from_slice(self.leaf_items(b)?);
                Some(self.leaf(items))
            }
        }
    }

    fn apply(&mut self, op: Op, a: NodeRef, b: NodeRef) -> NodeRef {
        // Shortcuts that do not need to look inside.
        match op {
            Op::And if a == self.f || b == self.f => return self.f,
            Op::And if a == self.t => return b,
            Op::And if b == self.t => return a,
            Op::Or if a == self.t || b == self.t => return self.t,
            Op::Or if a == self.f => return b,
            Op::Or if b == self.f => return a,
            Op::Union if a == self.f => return b,
            Op::Union if b == self.f => return a,
            _ => {}
        }
        let unary = matches!(op, Op::Not | Op::Map { .. });
        let (na, nb) = (self.node(a).clone(), self.node(b).clone());
        if matches!(na, Node::Leaf(_)) && (unary || matches!(nb, Node::Leaf(_))) {
            if let Some(r) = self.leaf_op(op, a, b) {
                return r;
            }
            return self.u;
        }
        if self.exceeded {
            return self.f;
        }
        let key = (op, a, b);
        if let Some(&r) = self.memo.get(&key) {
            return r;
        }
        let var = if unary {
            na.var()
        } else {
            na.var().min(nb.var())
        };
        let shape = self
            .shapes
            .get(var as usize)
            .copied()
            .unwrap_or(VarShape::Tri);
        let r = match shape {
            VarShape::Switch => {
                let (ba, da, ua) = switch_parts(&na, var, a);
                let (bb, db, ub) = if unary {
                    (Vec::new(), b, b)
                } else {
                    switch_parts(&nb, var, b)
                };
                let mut consts: Vec<u32> = ba
                    .iter()
                    .map(|(c, _)| *c)
                    .chain(bb.iter().map(|(c, _)| *c))
                    .collect();
                consts.sort_unstable();
                consts.dedup();
                let mut branches = Vec::with_capacity(consts.len());
                for c in consts {
                    let ca = lookup(&ba, c).unwrap_or(da);
                    let cb = if unary {
                        ca
                    } else {
                        lookup(&bb, c).unwrap_or(db)
                    };
                    branches.push((c, self.apply(op, ca, cb)));
                }
                let default = self.apply(op, da, if unary { da } else { db });
                let unknown = self.apply(op, ua, if unary { ua } else { ub });
                self.mk_switch(var, branches, default, unknown)
            }
            VarShape::Thresh => {
                let (ca, ra, ua) = thresh_parts(&na, var, a);
                let (cb, rb, ub) = if unary {
                    (ca.clone(), ra.clone(), ua)
                } else {
                    thresh_parts(&nb, var, b)
                };
                let mut cuts: Vec<Num> = ca.iter().chain(cb.iter()).copied().collect();
                cuts.sort();
                cuts.dedup();
                let ma = region_map(&cuts, &ca);
                let mb = region_map(&cuts, &cb);
                let mut regions = Vec::with_capacity(2 * cuts.len() + 1);
                for (ia, ib) in ma.iter().zip(mb.iter()) {
                    let x = ra.get(*ia).copied().unwrap_or(ua);
                    let y = rb.get(*ib).copied().unwrap_or(ub);
                    regions.push(self.apply(op, x, y));
                }
                let unknown = self.apply(op, ua, ub);
                self.mk_thresh(var, cuts, regions, unknown)
            }
            VarShape::Tri => {
                let (ta, fa, uu_a) = tri_parts(&na, var, a);
                let (tb, fb, uu_b) = if unary {
                    (ta, fa, uu_a)
                } else {
                    tri_parts(&nb, var, b)
                };
                let t = self.apply(op, ta, tb);
                let f = self.apply(op, fa, fb);
                let u = self.apply(op, uu_a, uu_b);
                self.mk_tri(var, t, f, u)
            }
        };
        self.memo.insert(key, r);
        r
    }

    /// Every node and leaf reachable from `roots`, parents before children, in a fixed order.
    pub fn reachable(&self, roots: &[NodeRef]) -> Vec<NodeRef> {
        let mut state: FxHashMap<NodeRef, bool> = FxHashMap::default();
        let mut post = Vec::new();
        for &root in roots {
            // Iterative depth-first post-order.
            let mut stack: Vec<(NodeRef, bool)> = vec![(root, false)];
            while let Some((n, expanded)) = stack.pop() {
                if expanded {
                    post.push(n);
                    continue;
                }
                if state.contains_key(&n) {
                    continue;
                }
                state.insert(n, true);
                stack.push((n, true));
                let children = self.children(n);
                for c in children.into_iter().rev() {
                    if !state.contains_key(&c) {
                        stack.push((c, false));
                    }
                }
            }
        }
        post.reverse();
        post
    }

    /// The children of a node in branch order.
    pub fn children(&self, n: NodeRef) -> Vec<NodeRef> {
        match self.node(n) {
            Node::Leaf(_) => Vec::new(),
            Node::Switch {
                branches,
                default,
                unknown,
                ..
            } => branches
                .iter()
                .map(|(_, c)| *c)
                .chain([*default, *unknown])
                .collect(),
            Node::Thresh {
                regions, unknown, ..
            } => regions.iter().copied().chain([*unknown]).collect(),
            Node::Tri { t, f, u, .. } => vec![*t, *f, *u],
        }
    }
}

fn lookup(branches: &[(u32, NodeRef)], c: u32) -> Option<NodeRef> {
    branches
        .binary_search_by_key(&c, |(k, _)| *k)
        .ok()
        .and_then(|i| branches.get(i))
        .map(|(_, n)| *n)
}

fn switch_parts(n: &Node, var: u32, me: NodeRef) -> (Vec<(u32, NodeRef)>, NodeRef, NodeRef) {
    match n {
        Node::Switch {
            var: v,
            branches,
            default,
            unknown,
        } if *v == var => (branches.to_vec(), *default, *unknown),
        _ => (Vec::new(), me, me),
    }
}

fn thresh_parts(n: &Node, var: u32, me: NodeRef) -> (Vec<Num>, Vec<NodeRef>, NodeRef) {
    match n {
        Node::Thresh {
            var: v,
            cuts,
            regions,
            unknown,
        } if *v == var => (cuts.to_vec(), regions.to_vec(), *unknown),
        _ => (Vec::new(), vec![me], me),
    }
}

fn tri_parts(n: &Node, var: u32, me: NodeRef) -> (NodeRef, NodeRef, NodeRef) {
    match n {
        Node::Tri { var: v, t, f, u } if *v == var => (*t, *f, *u),
        _ => (me, me, me),
    }
}

/// For each region of the fine partition `fine`, the region of the coarse partition `coarse`
/// (a subset of `fine`) that contains it.
fn region_map(fine: &[Num], coarse: &[Num]) -> Vec<usize> {
    let mut out = Vec::with_capacity(2 * fine.len() + 1);
    // `k` = number of coarse cuts strictly below the current position.
    let mut k = 0usize;
    for cut in fine {
        // The open interval below `cut`.
        out.push(2 * k);
        if coarse.get(k) == Some(cut) {
            out.push(2 * k + 1);
            k += 1;
        } else {
            out.push(2 * k);
        }
    }
    out.push(2 * k);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_map_refines() {
        let fine = [Num(1.0), Num(2.0), Num(3.0)];
        let coarse = [Num(2.0)];
        // (-inf,1) [1] (1,2) [2] (2,3) [3] (3,inf)
        assert_eq!(region_map(&fine, &coarse), vec![0, 0, 0, 1, 2, 2, 2]);
        assert_eq!(region_map(&fine, &[]), vec![0; 7]);
    }

    #[test]
    fn canonical_forms_share() {
        let mut m = Manager::new(vec![VarShape::Thresh, VarShape::Switch]);
        let (t, f, u) = (m.t, m.f, m.u);
        // x < 5, built twice.
        let a = m.mk_thresh(0, vec![Num(5.0)], vec![t, f, f], u);
        let b = m.mk_thresh(0, vec![Num(5.0)], vec![t, f, f], u);
        assert_eq!(a, b);
        // x < 5 or x >= 5 is "known": true unless unknown.
        let ge = m.mk_thresh(0, vec![Num(5.0)], vec![f, t, t], u);
        let either = m.or(a, ge);
        let known = m.mk_thresh(0, vec![], vec![t], u);
        assert_eq!(either, known);
        // Redundant tests disappear.
        assert_eq!(m.mk_tri(1, t, t, t), t);
    }

    #[test]
    fn kleene_logic_on_leaves() {
        let mut m = Manager::new(vec![]);
        let (t, f, u) = (m.t, m.f, m.u);
        assert_eq!(m.and(f, u), f);
        assert_eq!(m.and(t, u), u);
        assert_eq!(m.or(t, u), t);
        assert_eq!(m.or(f, u), u);
        assert_eq!(m.not(u), u);
        assert_eq!(m.not(t), f);
    }
}
