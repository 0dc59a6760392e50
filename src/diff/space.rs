//! The joint variable space of two compiled bundles, their diagrams imported into it, and the
//! operations the diff runs on them.
//!
//! Each side's variables are renamed into one space: slots by attribute path, trackers by
//! identity class (see [`super::trackers`]), switch constants by value; two variables are the
//! same when they test the same thing (the same operands, the same predicate). The joint order
//! follows the old side's order, with the new side's variables merged in where the new side
//! puts them, so the old diagram imports node for node and the new one nearly so; where the
//! orders disagree, [`Space::make`] pushes a test below the variables that must come first.
//!
//! Imports keep the bundles' diagrams as they are, forks included, with the model's leaf items
//! (rule `r` true / unknown, tracker `t` fires). [`Space::fold`] then maps a side's diagram to
//! a coarser function (its verdict, its determining rules, whether one rule matches), merging
//! the walks of a fork the way the VM merges their leaves, and only where a *care* diagram
//! says the answer matters. [`Space::apply2`] combines two fork-free diagrams leaf by leaf.

use rustc_hash::FxHashMap;

use crate::bytecode::model::{Model, NodeDef, Operand, Pred, Target, Tracker, Var};
use crate::compile::dd::{self, Manager, Node, NodeRef, Num, VarShape};

/// Index of the old side.
pub const OLD: usize = 0;
/// Index of the new side.
pub const NEW: usize = 1;

/// The deepest the operations recurse (one level per variable on a path, plus nested forks).
const DEPTH_LIMIT: usize = 4096;

/// How one side's model maps into the joint space.
#[derive(Clone, Debug, Default)]
pub struct SideMap {
    /// Model variable → joint variable.
    pub var: Vec<u32>,
    /// Model variable → (model constant index → joint constant index), for switches.
    pub consts: Vec<Vec<u32>>,
    /// Model slot → joint slot.
    pub slot: Vec<u32>,
    /// Model tracker → joint tracker.
    pub tracker: Vec<u32>,
}

/// One outcome of a variable, for cofactoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Out {
    Const(u32),
    Other,
    /// The number is exactly this cut.
    Point(Num),
    /// The open interval just above this cut (or below the first cut, for `None`), up to the
    /// next cut of the refinement being expanded.
    After(Option<Num>),
    True,
    False,
    Unknown,
}

/// The outcomes a node on one variable is expanded into.
#[derive(Clone, Debug)]
enum Outs {
    Switch(Vec<u32>),
    Thresh(Vec<Num>),
    Tri,
}

impl Outs {
    /// The outcomes in order: a switch's constants, any other string, unknown; a threshold's
    /// open interval below its first cut, then each cut and the interval above it, unknown;
    /// true, false, unknown.
    fn list(&self) -> impl Iterator<Item = Out> + '_ {
        (0..self.len()).map(move |i| self.nth(i))
    }

    /// The number of outcomes [`Outs::list`] gives.
    fn len(&self) -> usize {
        match self {
            Outs::Switch(cs) => cs.len() + 2,
            Outs::Thresh(cuts) => 2 * cuts.len() + 2,
            Outs::Tri => 3,
        }
    }

    /// Outcome `i` of [`Outs::list`].
    fn nth(&self, i: usize) -> Out {
        match self {
            Outs::Switch(cs) => match cs.get(i) {
                Some(c) => Out::Const(*c),
                None if i == cs.len() => Out::Other,
                None => Out::Unknown,
            },
            Outs::Thresh(cuts) => {
                if i == 0 {
                    return Out::After(None);
                }
                match cuts.get((i - 1) / 2) {
                    Some(c) if (i - 1).is_multiple_of(2) => Out::Point(*c),
                    Some(c) => Out::After(Some(*c)),
                    None => Out::Unknown,
                }
            }
            Outs::Tri => match i {
                0 => Out::True,
                1 => Out::False,
                _ => Out::Unknown,
            },
        }
    }
}

/// A leaf-to-leaf function for [`Space::fold`] and [`Space::apply2`].
pub type LeafFn<'a> = dyn FnMut(&[u32], &[u32]) -> Vec<u32> + 'a;

/// How [`Space::fold`] reads one side's diagram.
pub struct Fold<'a> {
    /// A model leaf (its node and items) → the items of the coarser function.
    pub leaf: &'a mut dyn FnMut(NodeRef, &[u32]) -> Vec<u32>,
    /// Merges the values of two walks of a fork.
    pub merge: &'a mut LeafFn<'a>,
    /// What to answer where the care diagram is `m.f`.
    pub dc: NodeRef,
    /// A value that `merge` leaves the other value unchanged with, if any.
    pub unit: Option<NodeRef>,
    /// Sub-diagrams all of whose leaves `leaf` maps to `unit`: they fold to `unit` without
    /// being walked (where `care` is true everywhere, or `dc` is `unit`).
    pub skip: Option<&'a dyn Fn(NodeRef) -> bool>,
}

/// For each node of a diagram, which of a few properties of leaves (bits) some leaf below it
/// has: folds that only care about leaves with a property skip the sub-diagrams without it.
pub struct Reach {
    index: FxHashMap<NodeRef, usize>,
    words: usize,
    bits: Vec<u64>,
}

impl Reach {
    /// Whether a leaf below `n` has property `bit` (true for a node the diagram lacks).
    pub fn has(&self, n: NodeRef, bit: u32) -> bool {
        let Some(&i) = self.index.get(&n) else {
            return true;
        };
        let w = i * self.words + (bit / 64) as usize;
        self.bits
            .get(w)
            .is_none_or(|x| x & (1u64 << (bit % 64)) != 0)
    }
}

/// The joint space and the diagrams in it.
#[derive(Clone)]
pub struct Space {
    pub m: Manager,
    /// Joint variables in diagram order, their operands renamed into the joint slots and
    /// trackers, switch constants united (sorted).
    pub vars: Vec<Var>,
    pub slots: Vec<Vec<String>>,
    pub trackers: Vec<Tracker>,
    pub shapes: Vec<VarShape>,
    pub sides: [SideMap; 2],
    /// Each side's whole diagram (its roots under one fork).
    pub roots: [NodeRef; 2],
    /// Which sides test each joint variable (bit 0 old, bit 1 new).
    pub used_by: Vec<u8>,
    /// What the solver knows of each joint variable.
    pub facts: super::solve::Facts,
    /// At most this many nodes exist; past it every operation stops ([`Space::over`]).
    pub budget: usize,
    over: bool,
    depth: usize,
    tops: FxHashMap<NodeRef, u32>,
    cof_memo: FxHashMap<(NodeRef, u32, Out), NodeRef>,
    make_memo: FxHashMap<(u32, Vec<NodeRef>, Vec<u64>), NodeRef>,
    /// Buffers of the outcomes and children of the nodes [`Space::apply2`] and
    /// [`Space::fold`] make, reused rather than allocated for each node.
    pool: Pool,
}

/// Emptied buffers, kept for reuse.
#[derive(Clone, Default)]
struct Pool {
    consts: Vec<Vec<u32>>,
    cuts: Vec<Vec<Num>>,
    kids: Vec<Vec<NodeRef>>,
}

/// The keys of `x` and `y` together, sorted and without repeats, added to the empty `acc`:
/// merged in one pass when the keys of each are strictly increasing already (as a node's
/// constants and cuts are), sorted otherwise. The same list either way.
fn union_sorted<E, T: Copy + Ord>(acc: &mut Vec<T>, x: &[E], y: &[E], key: impl Fn(&E) -> T) {
    let increasing = |s: &[E]| s.is_sorted_by(|p, q| key(p) < key(q));
    if !(increasing(x) && increasing(y)) {
        acc.extend(x.iter().chain(y.iter()).map(&key));
        acc.sort();
        acc.dedup();
        return;
    }
    let (mut i, mut j) = (0, 0);
    loop {
        let v = match (x.get(i).map(&key), y.get(j).map(&key)) {
            (Some(p), Some(q)) => match p.cmp(&q) {
                std::cmp::Ordering::Less => {
                    i += 1;
                    p
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    q
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    p
                }
            },
            (Some(p), None) => {
                i += 1;
                p
            }
            (None, Some(q)) => {
                j += 1;
                q
            }
            (None, None) => break,
        };
        if acc.last() != Some(&v) {
            acc.push(v);
        }
    }
}

/// An operand renamed into the joint space.
fn rename_operand(o: &Operand, map: &SideMap) -> Operand {
    match o {
        Operand::Slot { slot, ty } => Operand::Slot {
            slot: map.slot.get(*slot as usize).copied().unwrap_or(u32::MAX),
            ty: *ty,
        },
        Operand::Func { func, arg } => Operand::Func {
            func: *func,
            arg: Box::new(rename_operand(arg, map)),
        },
        Operand::Tracker(t) => {
            Operand::Tracker(map.tracker.get(*t as usize).copied().unwrap_or(u32::MAX))
        }
        Operand::Str(_) | Operand::Num(_) | Operand::Bool(_) => o.clone(),
    }
}

/// A variable renamed into the joint space, switch constants left out.
fn rename_var(v: &Var, map: &SideMap) -> Var {
    let r = |o: &Operand| rename_operand(o, map);
    match v {
        Var::Switch { operand, .. } => Var::Switch {
            operand: r(operand),
            consts: Vec::new(),
        },
        Var::Thresh { operand } => Var::Thresh {
            operand: r(operand),
        },
        Var::Bool { operand } => Var::Bool {
            operand: r(operand),
        },
        Var::Has { slot } => Var::Has {
            slot: map.slot.get(*slot as usize).copied().unwrap_or(u32::MAX),
        },
        Var::Pred(p) => Var::Pred(match p {
            Pred::Cmp { op, lhs, rhs } => Pred::Cmp {
                op: *op,
                lhs: r(lhs),
                rhs: r(rhs),
            },
            Pred::In { lhs, values } => Pred::In {
                lhs: r(lhs),
                values: values.iter().map(r).collect(),
            },
            Pred::Contains { hay, needle } => Pred::Contains {
                hay: r(hay),
                needle: r(needle),
            },
            Pred::StartsWith { lhs, rhs } => Pred::StartsWith {
                lhs: r(lhs),
                rhs: r(rhs),
            },
            Pred::EndsWith { lhs, rhs } => Pred::EndsWith {
                lhs: r(lhs),
                rhs: r(rhs),
            },
            Pred::Regex {
                lhs,
                regex,
                written,
                glob,
            } => Pred::Regex {
                lhs: r(lhs),
                regex: regex.clone(),
                written: written.clone(),
                glob: *glob,
            },
        }),
    }
}

/// A variable as a hash key: two keys are equal exactly when the variables test the same
/// thing, field by field. `-0` and `0` are one number, as they are to the VM, and every NaN is
/// one value.
struct VarKey<'a>(&'a Var);

impl PartialEq for VarKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_var(self.0, other.0)
    }
}

impl Eq for VarKey<'_> {}

impl std::hash::Hash for VarKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        hash_var(self.0, h);
    }
}

/// The bits a number is keyed by: one for both zeros, one for every NaN.
fn num_bits(x: f64) -> u64 {
    if x == 0.0 {
        0
    } else if x.is_nan() {
        f64::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

fn same_operand(a: &Operand, b: &Operand) -> bool {
    // By the first operand's variant, every variant named: a new one must say how it compares.
    match a {
        Operand::Slot { slot: s, ty: t } => {
            matches!(b, Operand::Slot { slot: u, ty: v } if s == u && t == v)
        }
        Operand::Str(x) => matches!(b, Operand::Str(y) if x == y),
        Operand::Num(x) => matches!(b, Operand::Num(y) if num_bits(*x) == num_bits(*y)),
        Operand::Bool(x) => matches!(b, Operand::Bool(y) if x == y),
        Operand::Func { func: f, arg: x } => {
            matches!(b, Operand::Func { func: g, arg: y } if f == g && same_operand(x, y))
        }
        Operand::Tracker(x) => matches!(b, Operand::Tracker(y) if x == y),
    }
}

fn hash_operand<H: std::hash::Hasher>(o: &Operand, h: &mut H) {
    use std::hash::Hash;
    std::mem::discriminant(o).hash(h);
    match o {
        Operand::Slot { slot, ty } => {
            slot.hash(h);
            ty.hash(h);
        }
        Operand::Str(s) => s.hash(h),
        Operand::Num(x) => num_bits(*x).hash(h),
        Operand::Bool(b) => b.hash(h),
        Operand::Func { func, arg } => {
            func.hash(h);
            hash_operand(arg, h);
        }
        Operand::Tracker(t) => t.hash(h),
    }
}

fn same_operands(a: &[Operand], b: &[Operand]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_operand(x, y))
}

fn same_var(a: &Var, b: &Var) -> bool {
    // By the first variable's variant, every variant named (as in `same_operand`).
    match a {
        Var::Switch {
            operand: x,
            consts: c,
        } => matches!(b, Var::Switch { operand: y, consts: d } if same_operand(x, y) && c == d),
        Var::Thresh { operand: x } => {
            matches!(b, Var::Thresh { operand: y } if same_operand(x, y))
        }
        Var::Bool { operand: x } => matches!(b, Var::Bool { operand: y } if same_operand(x, y)),
        Var::Has { slot: x } => matches!(b, Var::Has { slot: y } if x == y),
        Var::Pred(p) => matches!(b, Var::Pred(q) if same_pred(p, q)),
    }
}

fn same_pred(p: &Pred, q: &Pred) -> bool {
    match p {
        Pred::Cmp {
            op: o,
            lhs: a1,
            rhs: a2,
        } => matches!(q, Pred::Cmp { op: r, lhs: b1, rhs: b2 }
            if o == r && same_operand(a1, b1) && same_operand(a2, b2)),
        Pred::In { lhs: x, values: v } => {
            matches!(q, Pred::In { lhs: y, values: w } if same_operand(x, y) && same_operands(v, w))
        }
        Pred::Contains {
            hay: a1,
            needle: a2,
        } => matches!(q, Pred::Contains { hay: b1, needle: b2 }
            if same_operand(a1, b1) && same_operand(a2, b2)),
        Pred::StartsWith { lhs: a1, rhs: a2 } => matches!(q, Pred::StartsWith { lhs: b1, rhs: b2 }
            if same_operand(a1, b1) && same_operand(a2, b2)),
        Pred::EndsWith { lhs: a1, rhs: a2 } => matches!(q, Pred::EndsWith { lhs: b1, rhs: b2 }
            if same_operand(a1, b1) && same_operand(a2, b2)),
        Pred::Regex {
            lhs: x,
            regex: r,
            written: w,
            glob: g,
        } => matches!(q, Pred::Regex { lhs: y, regex: s, written: v, glob: k }
            if same_operand(x, y) && r == s && w == v && g == k),
    }
}

fn hash_var<H: std::hash::Hasher>(v: &Var, h: &mut H) {
    use std::hash::Hash;
    std::mem::discriminant(v).hash(h);
    match v {
        Var::Switch { operand, consts } => {
            hash_operand(operand, h);
            consts.hash(h);
        }
        Var::Thresh { operand } | Var::Bool { operand } => hash_operand(operand, h),
        Var::Has { slot } => slot.hash(h),
        Var::Pred(p) => {
            std::mem::discriminant(p).hash(h);
            match p {
                Pred::Cmp { op, lhs, rhs } => {
                    op.hash(h);
                    hash_operand(lhs, h);
                    hash_operand(rhs, h);
                }
                Pred::In { lhs, values } => {
                    hash_operand(lhs, h);
                    values.len().hash(h);
                    for x in values {
                        hash_operand(x, h);
                    }
                }
                Pred::Contains {
                    hay: lhs,
                    needle: rhs,
                }
                | Pred::StartsWith { lhs, rhs }
                | Pred::EndsWith { lhs, rhs } => {
                    hash_operand(lhs, h);
                    hash_operand(rhs, h);
                }
                Pred::Regex {
                    lhs,
                    regex,
                    written,
                    glob,
                } => {
                    hash_operand(lhs, h);
                    regex.hash(h);
                    written.hash(h);
                    glob.hash(h);
                }
            }
        }
    }
}

/// The two sequences of distinct keys `0..n` merged into one: each keeps its own order where
/// it can; where they disagree about two shared keys, the first sequence's order wins.
fn merge_orders(a: &[u32], b: &[u32], n: usize) -> Vec<u32> {
    let mut in_a = vec![false; n];
    let mut in_b = vec![false; n];
    let mut placed = vec![false; n];
    let mark = |set: &mut Vec<bool>, xs: &[u32]| {
        for &x in xs {
            if let Some(m) = set.get_mut(x as usize) {
                *m = true;
            }
        }
    };
    mark(&mut in_a, a);
    mark(&mut in_b, b);
    let has = |set: &[bool], x: u32| set.get(x as usize).copied().unwrap_or(false);
    let mut out = Vec::with_capacity(n);
    let (mut i, mut j) = (0, 0);
    loop {
        while a.get(i).is_some_and(|&x| has(&placed, x)) {
            i += 1;
        }
        while b.get(j).is_some_and(|&x| has(&placed, x)) {
            j += 1;
        }
        let pick = match (a.get(i), b.get(j)) {
            (None, None) => break,
            (Some(&x), None) | (None, Some(&x)) => x,
            (Some(&x), Some(&y)) => {
                if x == y || !has(&in_b, x) {
                    x
                } else if !has(&in_a, y) {
                    y
                } else {
                    x
                }
            }
        };
        if let Some(m) = placed.get_mut(pick as usize) {
            *m = true;
        }
        out.push(pick);
    }
    out
}

impl Space {
    /// The joint space of two models. `classes[s][t]` is the joint tracker of side `s`'s
    /// tracker `t`; `ntrackers` joint trackers in all.
    pub fn new(
        models: [&Model; 2],
        classes: [&[u32]; 2],
        ntrackers: usize,
        budget: usize,
    ) -> Space {
        // Slots: every path either side reads, sorted.
        let mut paths: std::collections::BTreeSet<Vec<String>> = Default::default();
        for m in models {
            paths.extend(m.slots.iter().cloned());
        }
        let slots: Vec<Vec<String>> = paths.into_iter().collect();
        let slot_of = |p: &Vec<String>| {
            slots
                .binary_search(p)
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                .unwrap_or(u32::MAX)
        };
        let mut sides: [SideMap; 2] = Default::default();
        for (s, m) in models.iter().enumerate() {
            if let Some(map) = sides.get_mut(s) {
                map.slot = m.slots.iter().map(slot_of).collect();
                map.tracker = classes.get(s).map(|c| c.to_vec()).unwrap_or_default();
            }
        }
        // Trackers: one per class, from the first side that has it.
        let mut trackers: Vec<Option<Tracker>> = vec![None; ntrackers];
        for (s, m) in models.iter().enumerate() {
            let Some(map) = sides.get(s) else { continue };
            for (t, tr) in m.trackers.iter().enumerate() {
                let Some(&k) = map.tracker.get(t) else {
                    continue;
                };
                if let Some(slot) = trackers.get_mut(k as usize)
                    && slot.is_none()
                {
                    *slot = Some(Tracker {
                        kind: tr.kind,
                        within: tr.within,
                        per: tr
                            .per
                            .iter()
                            .map(|p| map.slot.get(*p as usize).copied().unwrap_or(u32::MAX))
                            .collect(),
                        value: tr
                            .value
                            .map(|v| map.slot.get(v as usize).copied().unwrap_or(u32::MAX)),
                        refs: tr
                            .refs
                            .iter()
                            .map(|(p, ty)| {
                                (map.slot.get(*p as usize).copied().unwrap_or(u32::MAX), *ty)
                            })
                            .collect(),
                        inner: tr
                            .inner
                            .iter()
                            .map(|i| map.tracker.get(*i as usize).copied().unwrap_or(u32::MAX))
                            .collect(),
                    });
                }
            }
        }
        let trackers: Vec<Tracker> = trackers
            .into_iter()
            .map(|t| {
                t.unwrap_or(Tracker {
                    kind: crate::check::StatefulKind::Seen,
                    within: None,
                    per: Vec::new(),
                    value: None,
                    refs: Vec::new(),
                    inner: Vec::new(),
                })
            })
            .collect();
        // Variables: renamed, numbered by what they test (the same number for the same test,
        // on either side), merged in order.
        let mut renamed: [Vec<Var>; 2] = Default::default();
        for (s, m) in models.iter().enumerate() {
            let (Some(map), Some(out)) = (sides.get(s), renamed.get_mut(s)) else {
                continue;
            };
            *out = m.vars.iter().map(|v| rename_var(v, map)).collect();
        }
        let mut numbers: FxHashMap<VarKey<'_>, u32> = FxHashMap::default();
        let ids: [Vec<u32>; 2] = [OLD, NEW].map(|s| {
            renamed.get(s).map_or_else(Vec::new, |list| {
                list.iter()
                    .map(|r| {
                        let next = u32::try_from(numbers.len()).unwrap_or(u32::MAX);
                        *numbers.entry(VarKey(r)).or_insert(next)
                    })
                    .collect()
            })
        });
        let order = merge_orders(&ids[OLD], &ids[NEW], numbers.len());
        // Number → joint variable.
        let mut index = vec![u32::MAX; numbers.len()];
        for (i, &k) in order.iter().enumerate() {
            if let Some(x) = index.get_mut(k as usize) {
                *x = u32::try_from(i).unwrap_or(u32::MAX);
            }
        }
        let mut vars: Vec<Option<Var>> = vec![None; order.len()];
        let mut consts: Vec<std::collections::BTreeSet<String>> =
            vec![Default::default(); order.len()];
        let mut used_by = vec![0u8; order.len()];
        for (s, m) in models.iter().enumerate() {
            let (Some(list), Some(keys)) = (renamed.get(s), ids.get(s)) else {
                continue;
            };
            let mut var_map = Vec::with_capacity(list.len());
            for ((r, &k), orig) in list.iter().zip(keys).zip(m.vars.iter()) {
                let j = index.get(k as usize).copied().unwrap_or(u32::MAX);
                var_map.push(j);
                if let Some(slot) = vars.get_mut(j as usize)
                    && slot.is_none()
                {
                    *slot = Some(r.clone());
                }
                if let Some(u) = used_by.get_mut(j as usize) {
                    *u |= 1 << s;
                }
                if let (Var::Switch { consts: cs, .. }, Some(set)) =
                    (orig, consts.get_mut(j as usize))
                {
                    set.extend(cs.iter().cloned());
                }
            }
            if let Some(map) = sides.get_mut(s) {
                map.var = var_map;
            }
        }
        let consts: Vec<Vec<String>> = consts
            .into_iter()
            .map(|s| s.into_iter().collect())
            .collect();
        let vars: Vec<Var> = vars
            .into_iter()
            .zip(consts.iter())
            .map(|(v, cs)| match v {
                Some(Var::Switch { operand, .. }) => Var::Switch {
                    operand,
                    consts: cs.clone(),
                },
                Some(v) => v,
                None => Var::Has { slot: u32::MAX },
            })
            .collect();
        for (s, m) in models.iter().enumerate() {
            let Some(map) = sides.get_mut(s) else {
                continue;
            };
            map.consts = m
                .vars
                .iter()
                .zip(map.var.iter())
                .map(|(v, &j)| match (v, consts.get(j as usize)) {
                    (Var::Switch { consts: cs, .. }, Some(joint)) => cs
                        .iter()
                        .map(|c| {
                            joint
                                .binary_search(c)
                                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                                .unwrap_or(u32::MAX)
                        })
                        .collect(),
                    _ => Vec::new(),
                })
                .collect();
        }
        let shapes: Vec<VarShape> = vars
            .iter()
            .map(|v| match v {
                Var::Switch { .. } => VarShape::Switch,
                Var::Thresh { .. } => VarShape::Thresh,
                _ => VarShape::Tri,
            })
            .collect();
        let m = Manager::new(shapes.clone());
        // The node budget is the diff's own (see `check`), so that a stage past it can be left
        // behind and the next one started; the compiler's memory limit stays as a last bound.
        let f = m.f;
        let mut space = Space {
            m,
            vars,
            slots,
            trackers,
            shapes,
            sides,
            roots: [f, f],
            used_by,
            facts: Default::default(),
            budget,
            over: false,
            depth: 0,
            tops: FxHashMap::default(),
            cof_memo: FxHashMap::default(),
            make_memo: FxHashMap::default(),
            pool: Pool::default(),
        };
        space.facts = super::solve::Facts::new(&space.witness_space());
        for (s, model) in models.iter().enumerate() {
            let root = space.import(s, model);
            if let Some(r) = space.roots.get_mut(s) {
                *r = root;
            }
        }
        space
    }

    /// Whether the node budget (or the depth limit) was reached: results since are not to be
    /// used.
    pub fn over(&self) -> bool {
        self.over || self.m.exceeded()
    }

    /// Starts a new stage with a fresh allowance of `more` nodes.
    pub fn allow(&mut self, more: usize) {
        self.budget = self.m.len().saturating_add(more);
        self.over = false;
    }

    /// Forgets every node made since the store held `mark` nodes (see [`Manager::truncate`])
    /// and the operations' memo tables: the next piece of work starts from the same store
    /// whatever ran before it.
    pub fn truncate(&mut self, mark: usize) {
        self.m.truncate(mark);
        self.forget();
    }

    /// Empties the operations' memo tables (they only save time).
    pub fn forget(&mut self) {
        self.tops.clear();
        self.cof_memo.clear();
        self.make_memo.clear();
    }

    /// Forgets that the last stage went past its budget (its results are dropped).
    pub fn reset_over(&mut self) {
        self.over = false;
        self.depth = 0;
    }

    fn check(&mut self) -> bool {
        if self.m.len() >= self.budget || self.m.exceeded() || self.depth >= DEPTH_LIMIT {
            self.over = true;
        }
        self.over
    }

    /// The first variable either side tests.
    pub fn first_var(&mut self) -> u32 {
        let [a, b] = self.roots;
        self.top(a).min(self.top(b))
    }

    /// The outcomes of `var` that split the space into parts, each with a two-valued diagram
    /// true exactly on it. Thresholds are split at the cuts the top nodes of either side make.
    pub fn guards(&mut self, var: u32) -> Vec<(crate::compile::analysis::Step, NodeRef)> {
        use crate::compile::analysis::{Branch, Step};
        let (t, f) = (self.m.t, self.m.f);
        let mut out = Vec::new();
        let step = |branch| Step { var, branch };
        match self.vars.get(var as usize).cloned() {
            Some(Var::Switch { consts, .. }) => {
                let all: Vec<u32> = (0..consts.len() as u32).collect();
                for &c in &all {
                    let g = self.m.mk_switch(var, vec![(c, t)], f, f);
                    out.push((step(Branch::Const(c)), g));
                }
                let g = self
                    .m
                    .mk_switch(var, all.iter().map(|c| (*c, f)).collect(), t, f);
                out.push((step(Branch::Other(all.clone())), g));
                let g = self.m.mk_switch(var, Vec::new(), f, t);
                out.push((step(Branch::Unknown), g));
            }
            Some(Var::Thresh { .. }) => {
                let mut outs = Outs::Thresh(Vec::new());
                let [a, b] = self.roots;
                self.gather(a, var, &mut outs);
                self.gather(b, var, &mut outs);
                Self::sort_outs(&mut outs);
                let cuts = match outs {
                    Outs::Thresh(c) => c,
                    _ => Vec::new(),
                };
                let n = 2 * cuts.len() + 1;
                for i in 0..n {
                    let regions = (0..n).map(|j| if j == i { t } else { f }).collect();
                    let g = self.m.mk_thresh(var, cuts.clone(), regions, f);
                    let k = i / 2;
                    let branch = if i % 2 == 1 {
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
                    out.push((step(branch), g));
                }
                let g = self.m.mk_thresh(var, Vec::new(), vec![f], t);
                out.push((step(Branch::Unknown), g));
            }
            Some(v) => {
                out.push((step(Branch::True), self.m.mk_tri(var, t, f, f)));
                out.push((step(Branch::False), self.m.mk_tri(var, f, t, f)));
                if !matches!(v, Var::Has { .. }) {
                    out.push((step(Branch::Unknown), self.m.mk_tri(var, f, f, t)));
                }
            }
            None => out.push((step(Branch::True), t)),
        }
        out
    }

    /// `a ∧ b` of two-valued diagrams (`m.t` / `m.f` leaves).
    pub fn and(&mut self, a: NodeRef, b: NodeRef) -> NodeRef {
        let (t, f) = (self.m.t, self.m.f);
        let mut memo = FxHashMap::default();
        let short = move |_: &Manager, x: NodeRef, y: NodeRef| {
            if x == f || y == f {
                Some(f)
            } else if x == t {
                Some(y)
            } else if y == t || x == y {
                Some(x)
            } else {
                None
            }
        };
        let mut leaf = |x: &[u32], y: &[u32]| {
            if x.is_empty() || y.is_empty() {
                Vec::new()
            } else {
                vec![dd::ITEM_TRUE]
            }
        };
        self.apply2(a, b, &mut leaf, &short, &mut memo)
    }

    /// The diagram `root` of `other` made in this store. `other` is a copy of this store
    /// made when it held `shared` nodes: below that the two number the same nodes, and
    /// each may have made nodes of its own since. Nodes are made after their children, so
    /// `other`'s own nodes below `root` are made here in the order of their numbers.
    pub fn adopt(&mut self, other: &Space, root: NodeRef, shared: usize) -> NodeRef {
        let below = |n: NodeRef| (n as usize) < shared;
        if below(root) {
            return root;
        }
        let mut own: Vec<NodeRef> = Vec::new();
        let mut seen: FxHashMap<NodeRef, NodeRef> = FxHashMap::default();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if below(n) || seen.insert(n, n).is_some() {
                continue;
            }
            own.push(n);
            stack.extend(other.m.children(n));
        }
        own.sort_unstable();
        for n in own {
            let made = self.m.remake(&other.m, n, &mut |c| {
                if below(c) {
                    c
                } else {
                    seen.get(&c).copied().unwrap_or(c)
                }
            });
            seen.insert(n, made);
        }
        seen.get(&root).copied().unwrap_or(root)
    }

    /// The fork-free diagram `a` where `care` is not `m.f`, and `m.f` elsewhere.
    pub fn within(&mut self, a: NodeRef, care: NodeRef) -> NodeRef {
        let f = self.m.f;
        let mut memo = FxHashMap::default();
        let short = move |_: &Manager, x: NodeRef, y: NodeRef| {
            if x == f || y == f { Some(f) } else { None }
        };
        let mut leaf = |x: &[u32], y: &[u32]| {
            if y.is_empty() { Vec::new() } else { x.to_vec() }
        };
        self.apply2(a, care, &mut leaf, &short, &mut memo)
    }

    /// The fork-free node `n` with each child equal to `child` replaced by `by`, and every
    /// other child by `m.f`: `by` where `n`'s outcomes lead to `child`, false elsewhere.
    pub fn only_child(&mut self, n: NodeRef, child: NodeRef, by: NodeRef) -> NodeRef {
        let f = self.m.f;
        let mut pick = |c: NodeRef| if c == child { by } else { f };
        match self.m.node(n) {
            Node::Leaf(_) | Node::Fork(_) => pick(n),
            node => {
                let node = node.clone();
                self.m.with_children(&node, &mut pick)
            }
        }
    }

    /// `¬a` of a two-valued diagram.
    pub fn not(&mut self, a: NodeRef) -> NodeRef {
        self.map(a, &mut |x: &[u32]| {
            if x.is_empty() {
                vec![dd::ITEM_TRUE]
            } else {
                Vec::new()
            }
        })
    }

    /// The joint view of the variables, for example synthesis.
    pub fn witness_space(&self) -> crate::lint::witness::Space<'_> {
        crate::lint::witness::Space {
            vars: &self.vars,
            slots: &self.slots,
            trackers: &self.trackers,
        }
    }

    /// Imports one side's diagram, node for node.
    fn import(&mut self, side: usize, model: &Model) -> NodeRef {
        let leaves: Vec<NodeRef> = model
            .leaves
            .iter()
            .map(|items| self.m.leaf(items.clone()))
            .collect();
        let mut done: Vec<NodeRef> = vec![self.m.f; model.nodes.len()];
        let map = self.sides.get(side).cloned().unwrap_or_default();
        let fail = self.m.u;
        for (i, n) in model.nodes.iter().enumerate().rev() {
            let t = |t: &Target| match t {
                Target::Leaf(l) => leaves.get(*l as usize).copied().unwrap_or(fail),
                Target::Node(k) => done.get(*k as usize).copied().unwrap_or(fail),
            };
            let j = |v: &u32| map.var.get(*v as usize).copied().unwrap_or(u32::MAX);
            let r = match n {
                NodeDef::Switch {
                    var,
                    branches,
                    default,
                    unknown,
                } => {
                    let cmap = map.consts.get(*var as usize);
                    let branches: Vec<(u32, NodeRef)> = branches
                        .iter()
                        .map(|(c, x)| {
                            let jc = cmap
                                .and_then(|m| m.get(*c as usize))
                                .copied()
                                .unwrap_or(u32::MAX);
                            (jc, t(x))
                        })
                        .collect();
                    let (consts, children): (Vec<u32>, Vec<NodeRef>) = branches.into_iter().unzip();
                    let mut kids = children;
                    kids.push(t(default));
                    kids.push(t(unknown));
                    self.make(j(var), Outs::Switch(consts), kids)
                }
                NodeDef::Thresh {
                    var,
                    cuts,
                    regions,
                    unknown,
                } => {
                    let cuts: Vec<Num> = cuts
                        .iter()
                        .map(|c| Num(if *c == 0.0 { 0.0 } else { *c }))
                        .collect();
                    let mut kids: Vec<NodeRef> = regions.iter().map(t).collect();
                    kids.push(t(unknown));
                    self.make(j(var), Outs::Thresh(cuts), kids)
                }
                NodeDef::Tri { var, t: a, f, u } => {
                    let kids = vec![t(a), t(f), t(u)];
                    self.make(j(var), Outs::Tri, kids)
                }
                NodeDef::Fork { children } => {
                    let kids = children.iter().map(t).collect();
                    self.m.mk_fork(kids)
                }
            };
            if let Some(d) = done.get_mut(i) {
                *d = r;
            }
        }
        let roots: Vec<NodeRef> = model
            .roots
            .iter()
            .map(|t| match t {
                Target::Leaf(l) => leaves.get(*l as usize).copied().unwrap_or(fail),
                Target::Node(k) => done.get(*k as usize).copied().unwrap_or(fail),
            })
            .collect();
        match roots.as_slice() {
            [one] => *one,
            _ => self.m.mk_fork(roots),
        }
    }

    /// The first variable a diagram tests on any walk (through forks); `u32::MAX` for a leaf.
    fn top(&mut self, n: NodeRef) -> u32 {
        match self.m.node(n) {
            Node::Leaf(_) => u32::MAX,
            Node::Fork(cs) => {
                if let Some(&t) = self.tops.get(&n) {
                    return t;
                }
                let cs = cs.clone();
                let t = cs.iter().map(|c| self.top(*c)).min().unwrap_or(u32::MAX);
                self.tops.insert(n, t);
                t
            }
            other => other.var(),
        }
    }

    /// The constants or cuts under which nodes on `var` at the top of `n` (through forks)
    /// branch, added to `outs`.
    fn gather(&self, n: NodeRef, var: u32, outs: &mut Outs) {
        match (self.m.node(n), outs) {
            (Node::Fork(cs), outs) => {
                for c in cs.iter() {
                    self.gather(*c, var, outs);
                }
            }
            (
                Node::Switch {
                    var: v, branches, ..
                },
                Outs::Switch(acc),
            ) if *v == var => {
                acc.extend(branches.iter().map(|(c, _)| *c));
            }
            (Node::Thresh { var: v, cuts, .. }, Outs::Thresh(acc)) if *v == var => {
                acc.extend(cuts.iter().copied());
            }
            _ => {}
        }
    }

    fn empty_outs(&self, var: u32) -> Outs {
        match self.shapes.get(var as usize) {
            Some(VarShape::Switch) => Outs::Switch(Vec::new()),
            Some(VarShape::Thresh) => Outs::Thresh(Vec::new()),
            _ => Outs::Tri,
        }
    }

    fn sort_outs(outs: &mut Outs) {
        match outs {
            Outs::Switch(cs) => {
                cs.sort_unstable();
                cs.dedup();
            }
            Outs::Thresh(cuts) => {
                cuts.sort();
                cuts.dedup();
            }
            Outs::Tri => {}
        }
    }

    /// `n` restricted to the outcome `o` of `var`, which no variable before it is tested in
    /// `n` above a node on `var`.
    fn cofactor(&mut self, n: NodeRef, var: u32, o: Out) -> NodeRef {
        if matches!(self.m.node(n), Node::Fork(_)) {
            if self.top(n) > var {
                return n;
            }
            let key = (n, var, o);
            if let Some(&r) = self.cof_memo.get(&key) {
                return r;
            }
            let cs: Vec<NodeRef> = self.m.children(n);
            let kids: Vec<NodeRef> = cs.iter().map(|c| self.cofactor(*c, var, o)).collect();
            let r = self.m.mk_fork(kids);
            self.cof_memo.insert(key, r);
            return r;
        }
        let node = self.m.node(n);
        match node {
            Node::Leaf(_) | Node::Fork(_) => n,
            Node::Switch {
                var: v,
                branches,
                default,
                unknown,
            } if *v == var => match o {
                Out::Const(c) => dd::lookup(branches, c).unwrap_or(*default),
                Out::Unknown => *unknown,
                _ => *default,
            },
            Node::Thresh {
                var: v,
                cuts,
                regions,
                unknown,
            } if *v == var => {
                let region = match o {
                    Out::Point(x) => {
                        let p = cuts.partition_point(|c| c.0 < x.0);
                        if cuts.get(p).is_some_and(|c| c.0 == x.0) {
                            2 * p + 1
                        } else {
                            2 * p
                        }
                    }
                    Out::After(None) => 0,
                    Out::After(Some(lo)) => 2 * cuts.partition_point(|c| c.0 <= lo.0),
                    _ => return *unknown,
                };
                regions.get(region).copied().unwrap_or(*unknown)
            }
            Node::Tri { var: v, t, f, u } if *v == var => match o {
                Out::True => *t,
                Out::False => *f,
                _ => *u,
            },
            _ => n,
        }
    }

    /// The cofactors of node `n` on each outcome of `outs` (see [`Outs::list`]), in order,
    /// added to `into`: what [`Space::cofactor`] gives for each, found in one pass over the
    /// node's constants or cuts beside those of `outs` (both increasing) rather than by a
    /// search per outcome. False, with nothing added, for a fork (whose cofactors are made)
    /// or outcomes of another kind than the node's: [`Space::cofactor`] is then asked.
    fn cofactors(&self, n: NodeRef, var: u32, outs: &Outs, into: &mut Vec<NodeRef>) -> bool {
        match (self.m.node(n), outs) {
            (
                Node::Switch {
                    var: v,
                    branches,
                    default,
                    unknown,
                },
                Outs::Switch(cs),
            ) if *v == var && cs.is_sorted_by(|a, b| a < b) => {
                let mut rest = branches.iter().peekable();
                for c in cs {
                    while rest.next_if(|(k, _)| k < c).is_some() {}
                    into.push(match rest.peek() {
                        Some((k, child)) if k == c => *child,
                        _ => *default,
                    });
                }
                into.push(*default);
                into.push(*unknown);
                true
            }
            (
                Node::Thresh {
                    var: v,
                    cuts,
                    regions,
                    unknown,
                },
                Outs::Thresh(xs),
            ) if *v == var
                && xs.is_sorted_by(|a, b| a.0 < b.0)
                && !cuts.iter().chain(xs.iter()).any(|c| c.0.is_nan()) =>
            {
                // `below`: the cuts under the outcome's number; `upto`: those at or under it
                // (the partition points `cofactor` searches for), each only growing.
                let region = |r: usize| regions.get(r).copied().unwrap_or(*unknown);
                into.push(region(0));
                let (mut below, mut upto) = (0usize, 0usize);
                for x in xs {
                    while cuts.get(below).is_some_and(|c| c.0 < x.0) {
                        below += 1;
                    }
                    while cuts.get(upto).is_some_and(|c| c.0 <= x.0) {
                        upto += 1;
                    }
                    let at = cuts.get(below).is_some_and(|c| c.0 == x.0);
                    into.push(region(2 * below + usize::from(at)));
                    into.push(region(2 * upto));
                }
                into.push(*unknown);
                true
            }
            (Node::Tri { var: v, t, f, u }, Outs::Tri) if *v == var => {
                into.extend([*t, *f, *u]);
                true
            }
            // A leaf, or a node on another variable: the same node on every outcome.
            (Node::Leaf(_), _) => {
                into.extend(std::iter::repeat_n(n, outs.len()));
                true
            }
            (node @ (Node::Switch { .. } | Node::Thresh { .. } | Node::Tri { .. }), _)
                if node.var() != var =>
            {
                into.extend(std::iter::repeat_n(n, outs.len()));
                true
            }
            _ => false,
        }
    }

    /// [`Space::cofactors`] of two nodes, into a buffer each: true when both were found in
    /// one pass (checked against [`Space::cofactor`] in a debug build); false when either
    /// needs [`Space::cofactor`] outcome by outcome.
    fn cofactors_of_both(
        &mut self,
        [a, b]: [NodeRef; 2],
        var: u32,
        outs: &Outs,
        [xs, ys]: [&mut Vec<NodeRef>; 2],
    ) -> bool {
        let found = self.cofactors(a, var, outs, xs) && self.cofactors(b, var, outs, ys);
        #[cfg(debug_assertions)]
        if found {
            self.check_cofactors(a, var, outs, xs);
            self.check_cofactors(b, var, outs, ys);
        }
        found
    }

    /// Checks (in a debug build) that [`Space::cofactors`] gave what [`Space::cofactor`]
    /// gives outcome by outcome.
    #[cfg(debug_assertions)]
    fn check_cofactors(&mut self, n: NodeRef, var: u32, outs: &Outs, got: &[NodeRef]) {
        let want: Vec<NodeRef> = outs.list().map(|o| self.cofactor(n, var, o)).collect();
        debug_assert_eq!(want, got, "the cofactors of node {n} on variable {var}");
    }

    /// A node on `var` with these children (one per outcome of `outs`, in order), in the
    /// joint order: when a child tests a variable that comes before `var`, that variable is
    /// tested first and `var` below it.
    fn make(&mut self, var: u32, outs: Outs, kids: Vec<NodeRef>) -> NodeRef {
        if self.check() {
            return self.m.u;
        }
        let w = kids.iter().map(|k| self.top(*k)).min().unwrap_or(u32::MAX);
        if w > var {
            return self.mk(var, &outs, &kids);
        }
        let key_outs: Vec<u64> = match &outs {
            Outs::Switch(cs) => cs.iter().map(|c| u64::from(*c)).collect(),
            Outs::Thresh(cuts) => cuts.iter().map(|c| c.0.to_bits()).collect(),
            Outs::Tri => Vec::new(),
        };
        let key = (var, kids.clone(), key_outs);
        if let Some(&r) = self.make_memo.get(&key) {
            return r;
        }
        // Expand on `w` first.
        let mut wouts = self.empty_outs(w);
        for k in &kids {
            self.gather(*k, w, &mut wouts);
        }
        Self::sort_outs(&mut wouts);
        let mut results = Vec::new();
        self.depth += 1;
        for o in wouts.list() {
            let sub: Vec<NodeRef> = kids.iter().map(|k| self.cofactor(*k, w, o)).collect();
            results.push(self.make(var, outs.clone(), sub));
        }
        self.depth -= 1;
        let r = self.mk(w, &wouts, &results);
        self.make_memo.insert(key, r);
        r
    }

    /// A canonical node from outcome results.
    fn mk(&mut self, var: u32, outs: &Outs, kids: &[NodeRef]) -> NodeRef {
        let u = self.m.u;
        match outs {
            Outs::Switch(cs) => {
                let n = cs.len();
                let default = kids.get(n).copied().unwrap_or(u);
                let unknown = kids.get(n + 1).copied().unwrap_or(u);
                self.m.mk_switch_of(var, cs, kids, default, unknown)
            }
            Outs::Thresh(cuts) => {
                let n = 2 * cuts.len() + 1;
                let unknown = kids.get(n).copied().unwrap_or(u);
                let regions = kids.get(..n).unwrap_or(kids);
                self.m.mk_thresh_of(var, cuts, regions, unknown)
            }
            Outs::Tri => {
                let t = kids.first().copied().unwrap_or(u);
                let f = kids.get(1).copied().unwrap_or(u);
                let un = kids.get(2).copied().unwrap_or(u);
                self.m.mk_tri(var, t, f, un)
            }
        }
    }

    /// The outcomes `var` is expanded into to combine fork-free nodes `a` and `b`, in a
    /// buffer of the pool (see [`Space::give`]).
    fn outs_of(&mut self, var: u32, a: NodeRef, b: NodeRef) -> Outs {
        let mut outs = match self.shapes.get(var as usize) {
            Some(VarShape::Switch) => Outs::Switch(self.pool.consts.pop().unwrap_or_default()),
            Some(VarShape::Thresh) => Outs::Thresh(self.pool.cuts.pop().unwrap_or_default()),
            _ => Outs::Tri,
        };
        let on = |n: NodeRef| Some(self.m.node(n)).filter(|x| x.var() == var);
        let (na, nb) = (on(a), on(b));
        match &mut outs {
            Outs::Switch(acc) => {
                let none: &[(u32, NodeRef)] = &[];
                let (x, y) = match (na, nb) {
                    (
                        Some(Node::Switch { branches: x, .. }),
                        Some(Node::Switch { branches: y, .. }),
                    ) => (&**x, &**y),
                    (Some(Node::Switch { branches: x, .. }), _)
                    | (_, Some(Node::Switch { branches: x, .. })) => (&**x, none),
                    _ => (none, none),
                };
                union_sorted(acc, x, y, |(c, _)| *c);
            }
            Outs::Thresh(acc) => {
                let none: &[Num] = &[];
                let (x, y) = match (na, nb) {
                    (Some(Node::Thresh { cuts: x, .. }), Some(Node::Thresh { cuts: y, .. })) => {
                        (&**x, &**y)
                    }
                    (Some(Node::Thresh { cuts: x, .. }), _)
                    | (_, Some(Node::Thresh { cuts: x, .. })) => (&**x, none),
                    _ => (none, none),
                };
                union_sorted(acc, x, y, |c| *c);
            }
            Outs::Tri => {}
        }
        outs
    }

    /// An emptied buffer of children from the pool.
    fn kids(&mut self) -> Vec<NodeRef> {
        self.pool.kids.pop().unwrap_or_default()
    }

    /// Gives a buffer of children back to the pool, emptied.
    fn give_kids(&mut self, mut kids: Vec<NodeRef>) {
        kids.clear();
        self.pool.kids.push(kids);
    }

    /// Gives the buffers of a node made back to the pool, emptied.
    fn give(&mut self, outs: Outs, mut kids: Vec<NodeRef>) {
        match outs {
            Outs::Switch(mut cs) => {
                cs.clear();
                self.pool.consts.push(cs);
            }
            Outs::Thresh(mut cuts) => {
                cuts.clear();
                self.pool.cuts.push(cuts);
            }
            Outs::Tri => {}
        }
        kids.clear();
        self.pool.kids.push(kids);
    }

    /// Combines two fork-free diagrams leaf by leaf; `f` gets the two leaves' items. `short`
    /// may answer without looking inside (for units and absorbing values).
    pub fn apply2(
        &mut self,
        a: NodeRef,
        b: NodeRef,
        f: &mut LeafFn<'_>,
        short: &dyn Fn(&Manager, NodeRef, NodeRef) -> Option<NodeRef>,
        memo: &mut FxHashMap<(NodeRef, NodeRef), NodeRef>,
    ) -> NodeRef {
        if self.check() {
            return self.m.u;
        }
        if let Some(r) = short(&self.m, a, b) {
            return r;
        }
        if let Some(&r) = memo.get(&(a, b)) {
            return r;
        }
        if let (Some(x), Some(y)) = (self.m.leaf_items(a), self.m.leaf_items(b)) {
            let items = f(x, y);
            let r = self.m.leaf(items);
            memo.insert((a, b), r);
            return r;
        }
        let var = self.m.node(a).var().min(self.m.node(b).var());
        let outs = self.outs_of(var, a, b);
        let mut kids = self.kids();
        let (mut xs, mut ys) = (self.kids(), self.kids());
        self.depth += 1;
        if self.cofactors_of_both([a, b], var, &outs, [&mut xs, &mut ys]) {
            for (x, y) in xs.iter().zip(&ys) {
                kids.push(self.apply2(*x, *y, f, short, memo));
            }
        } else {
            for o in outs.list() {
                let x = self.cofactor(a, var, o);
                let y = self.cofactor(b, var, o);
                kids.push(self.apply2(x, y, f, short, memo));
            }
        }
        self.depth -= 1;
        self.give_kids(xs);
        self.give_kids(ys);
        let r = self.mk(var, &outs, &kids);
        self.give(outs, kids);
        memo.insert((a, b), r);
        r
    }

    /// Which of `width` properties the leaves below each node of `root` have; `bits` sets a
    /// leaf's properties.
    pub fn reach(
        &self,
        root: NodeRef,
        width: usize,
        bits: &mut dyn FnMut(&[u32], &mut [u64]),
    ) -> Reach {
        let words = width.div_ceil(64).max(1);
        let mut r = Reach {
            index: FxHashMap::default(),
            words,
            bits: Vec::new(),
        };
        // Post-order without recursion: a node is done once its children are.
        let mut stack: Vec<(NodeRef, bool)> = vec![(root, false)];
        while let Some((n, expanded)) = stack.pop() {
            if r.index.contains_key(&n) {
                continue;
            }
            if !expanded {
                stack.push((n, true));
                for c in self.m.children(n) {
                    if !r.index.contains_key(&c) {
                        stack.push((c, false));
                    }
                }
                continue;
            }
            let mut own = vec![0u64; words];
            match self.m.node(n) {
                Node::Leaf(items) => bits(items, &mut own),
                _ => {
                    for c in self.m.children(n) {
                        if let Some(&i) = r.index.get(&c) {
                            let from = r.bits.get(i * words..(i + 1) * words).unwrap_or(&[]);
                            for (o, x) in own.iter_mut().zip(from) {
                                *o |= x;
                            }
                        }
                    }
                }
            }
            r.index.insert(n, r.bits.len() / words);
            r.bits.extend(own);
        }
        r
    }

    /// One side's diagram read through `h`, only where `care` (a fork-free diagram) is not
    /// `m.f`; there the answer is `h.dc`.
    pub fn fold(&mut self, n: NodeRef, care: NodeRef, h: &mut Fold<'_>) -> NodeRef {
        let mut memo = FxHashMap::default();
        let mut merge_memo = FxHashMap::default();
        self.fold_in(n, care, h, &mut memo, &mut merge_memo)
    }

    fn fold_in(
        &mut self,
        n: NodeRef,
        care: NodeRef,
        h: &mut Fold<'_>,
        memo: &mut FxHashMap<(NodeRef, NodeRef), NodeRef>,
        merge_memo: &mut FxHashMap<(NodeRef, NodeRef), NodeRef>,
    ) -> NodeRef {
        if care == self.m.f {
            return h.dc;
        }
        if self.check() {
            return h.dc;
        }
        // A leaf folds to the same node under any care but `m.f`: remembered once.
        let leaf = matches!(self.m.node(n), Node::Leaf(_));
        let key = (n, if leaf { NodeRef::MAX } else { care });
        if let Some(&r) = memo.get(&key) {
            return r;
        }
        if let (Some(skip), Some(unit)) = (h.skip, h.unit)
            && (care == self.m.t || h.dc == unit)
            && skip(n)
        {
            return unit;
        }
        // The node is read in place: only a fork's children are copied.
        enum Kind {
            Leaf(Vec<u32>),
            Fork(Vec<NodeRef>),
            Test(u32),
        }
        let kind = match self.m.node(n) {
            Node::Leaf(items) => Kind::Leaf((h.leaf)(n, items)),
            Node::Fork(cs) => Kind::Fork(cs.to_vec()),
            other => Kind::Test(other.var()),
        };
        self.depth += 1;
        let r = match kind {
            Kind::Leaf(out) => self.m.leaf(out),
            Kind::Fork(cs) => {
                let mut level: Vec<NodeRef> = Vec::with_capacity(cs.len());
                for c in cs.iter() {
                    let x = self.fold_in(*c, care, h, memo, merge_memo);
                    level.push(x);
                }
                // Balanced merging keeps intermediate results small.
                while level.len() > 1 {
                    let mut next = Vec::with_capacity(level.len() / 2 + 1);
                    for pair in level.chunks(2) {
                        match pair {
                            [x, y] => {
                                let (dc, unit) = (h.dc, h.unit);
                                let short = move |_: &Manager, a: NodeRef, b: NodeRef| {
                                    if a == dc || b == dc {
                                        Some(dc)
                                    } else if Some(a) == unit || a == b {
                                        Some(b)
                                    } else if Some(b) == unit {
                                        Some(a)
                                    } else {
                                        None
                                    }
                                };
                                let merged = self.apply2(*x, *y, &mut *h.merge, &short, merge_memo);
                                next.push(merged);
                            }
                            [x] => next.push(*x),
                            _ => {}
                        }
                    }
                    level = next;
                }
                level.first().copied().unwrap_or(h.dc)
            }
            Kind::Test(v) => {
                let w = self.m.node(care).var();
                let var = v.min(w);
                let outs = if v == var && w == var {
                    self.outs_of(var, n, care)
                } else if v == var {
                    self.outs_of(var, n, n)
                } else {
                    self.outs_of(var, care, care)
                };
                let mut kids = self.kids();
                let (mut xs, mut cs) = (self.kids(), self.kids());
                if self.cofactors_of_both([n, care], var, &outs, [&mut xs, &mut cs]) {
                    for (x, c) in xs.iter().zip(&cs) {
                        kids.push(self.fold_in(*x, *c, h, memo, merge_memo));
                    }
                } else {
                    for o in outs.list() {
                        let x = self.cofactor(n, var, o);
                        let c = self.cofactor(care, var, o);
                        kids.push(self.fold_in(x, c, h, memo, merge_memo));
                    }
                }
                self.give_kids(xs);
                self.give_kids(cs);
                let r = self.mk(var, &outs, &kids);
                self.give(outs, kids);
                r
            }
        };
        self.depth -= 1;
        memo.insert(key, r);
        r
    }

    /// A side's diagram with its leaves mapped by `f`, forks and tests kept as they are: a
    /// pass over the nodes, no product. Leaves mapped to the same items become one node, so
    /// the parts of the two sides that `f` cannot tell apart become the same sub-diagrams.
    pub fn relabel(
        &mut self,
        n: NodeRef,
        f: &mut dyn FnMut(NodeRef, &[u32]) -> Vec<u32>,
        memo: &mut FxHashMap<NodeRef, NodeRef>,
    ) -> NodeRef {
        if let Some(&r) = memo.get(&n) {
            return r;
        }
        if self.check() {
            return self.m.u;
        }
        let node = self.m.node(n).clone();
        self.depth += 1;
        let r = match node {
            Node::Leaf(items) => {
                let out = f(n, &items);
                self.m.leaf(out)
            }
            Node::Fork(cs) => {
                let kids = cs.iter().map(|c| self.relabel(*c, f, memo)).collect();
                self.m.mk_fork(kids)
            }
            Node::Switch {
                var,
                branches,
                default,
                unknown,
            } => {
                let branches = branches
                    .iter()
                    .map(|(c, x)| (*c, self.relabel(*x, f, memo)))
                    .collect();
                let default = self.relabel(default, f, memo);
                let unknown = self.relabel(unknown, f, memo);
                self.m.mk_switch(var, branches, default, unknown)
            }
            Node::Thresh {
                var,
                cuts,
                regions,
                unknown,
            } => {
                let regions = regions.iter().map(|x| self.relabel(*x, f, memo)).collect();
                let unknown = self.relabel(unknown, f, memo);
                self.m.mk_thresh(var, cuts.to_vec(), regions, unknown)
            }
            Node::Tri { var, t, f: no, u } => {
                let t = self.relabel(t, f, memo);
                let no = self.relabel(no, f, memo);
                let u = self.relabel(u, f, memo);
                self.m.mk_tri(var, t, no, u)
            }
        };
        self.depth -= 1;
        memo.insert(n, r);
        r
    }

    /// The largest value any walk of `n` (through forks) reaches, for diagrams whose leaves
    /// hold at most one value; 0 for the empty leaf. Only called where no walk tests a
    /// variable.
    fn leaf_max(&self, n: NodeRef) -> u32 {
        match self.m.node(n) {
            Node::Leaf(items) => items.first().copied().unwrap_or(0),
            Node::Fork(cs) => cs.iter().map(|c| self.leaf_max(*c)).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// A two-valued, fork-free diagram true at least wherever the values of `a` and `b`
    /// differ, for diagrams with forks whose leaves hold at most one value and whose forks
    /// take the largest value of their walks (a verdict rank).
    ///
    /// Only what can differ is expanded: equal sub-diagrams are false at once, and the
    /// children two forks share are dropped from both, since `max(c, x) ≠ max(c, y)` needs
    /// `x ≠ y`. What remains is expanded variable by variable, as [`Space::fold`] does, but
    /// only on the differing part. The result may be true where the values agree after all
    /// (where a shared child's value covers both); it is meant as the care set of an exact
    /// fold.
    pub fn differ(
        &mut self,
        a: NodeRef,
        b: NodeRef,
        memo: &mut FxHashMap<(NodeRef, NodeRef), NodeRef>,
    ) -> NodeRef {
        let (t, f) = (self.m.t, self.m.f);
        if a == b {
            return f;
        }
        if self.check() {
            return t;
        }
        let key = if a < b { (a, b) } else { (b, a) };
        if let Some(&r) = memo.get(&key) {
            return r;
        }
        let fork_a = matches!(self.m.node(a), Node::Fork(_));
        let fork_b = matches!(self.m.node(b), Node::Fork(_));
        if fork_a || fork_b {
            let ca = if fork_a { self.m.children(a) } else { vec![a] };
            let cb = if fork_b { self.m.children(b) } else { vec![b] };
            // Both lists are sorted (a fork's children are, and a single node is).
            if ca.iter().any(|x| cb.binary_search(x).is_ok()) {
                let ra: Vec<NodeRef> = ca
                    .iter()
                    .copied()
                    .filter(|x| cb.binary_search(x).is_err())
                    .collect();
                let rb: Vec<NodeRef> = cb
                    .iter()
                    .copied()
                    .filter(|x| ca.binary_search(x).is_err())
                    .collect();
                let (ra, rb) = (self.m.mk_fork(ra), self.m.mk_fork(rb));
                self.depth += 1;
                let r = self.differ(ra, rb, memo);
                self.depth -= 1;
                memo.insert(key, r);
                return r;
            }
        }
        let var = self.top(a).min(self.top(b));
        if var == u32::MAX {
            // No walk of either tests a variable.
            let r = if self.leaf_max(a) == self.leaf_max(b) {
                f
            } else {
                t
            };
            memo.insert(key, r);
            return r;
        }
        let mut outs = self.empty_outs(var);
        self.gather(a, var, &mut outs);
        self.gather(b, var, &mut outs);
        Self::sort_outs(&mut outs);
        let mut kids = Vec::new();
        self.depth += 1;
        for o in outs.list() {
            let x = self.cofactor(a, var, o);
            let y = self.cofactor(b, var, o);
            kids.push(self.differ(x, y, memo));
        }
        self.depth -= 1;
        let r = self.mk(var, &outs, &kids);
        memo.insert(key, r);
        r
    }

    /// A unary map of a fork-free diagram's leaves.
    pub fn map(&mut self, a: NodeRef, f: &mut dyn FnMut(&[u32]) -> Vec<u32>) -> NodeRef {
        let mut memo = FxHashMap::default();
        let mut g = |x: &[u32], _: &[u32]| f(x);
        self.apply2(a, a, &mut g, &|_, _, _| None, &mut memo)
    }

    /// Combines two fork-free diagrams leaf by leaf.
    pub fn zip(&mut self, a: NodeRef, b: NodeRef, f: &mut LeafFn<'_>) -> NodeRef {
        let mut memo = FxHashMap::default();
        self.apply2(a, b, f, &|_, _, _| None, &mut memo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_merge() {
        // a b c x y
        assert_eq!(merge_orders(&[0, 1, 2], &[0, 3, 2, 4], 5), [0, 1, 3, 2, 4]);
        // Disagreement: the first order wins.
        assert_eq!(merge_orders(&[0, 1], &[1, 0], 2), [0, 1]);
    }

    #[test]
    fn variables_keyed_by_what_they_test() {
        let num = |x: f64| {
            Var::Pred(Pred::In {
                lhs: Operand::Slot {
                    slot: 0,
                    ty: crate::check::ir::Ty::Number,
                },
                values: vec![Operand::Num(x), Operand::Str("-0.0,".into())],
            })
        };
        let key = |v: &Var| {
            use std::hash::BuildHasher;
            rustc_hash::FxBuildHasher.hash_one(VarKey(v))
        };
        let (zero, minus, nan, one) = (num(0.0), num(-0.0), num(f64::NAN), num(1.0));
        assert!(VarKey(&zero) == VarKey(&minus) && key(&zero) == key(&minus));
        assert!(VarKey(&nan) == VarKey(&num(-f64::NAN)) && key(&nan) == key(&num(-f64::NAN)));
        assert!(VarKey(&zero) != VarKey(&one) && VarKey(&zero) != VarKey(&nan));
        let s = |x: &str| Var::Switch {
            operand: Operand::Str(x.into()),
            consts: Vec::new(),
        };
        assert!(VarKey(&s("a-0.0,")) != VarKey(&s("a0.0,")));
        assert!(VarKey(&s("a")) == VarKey(&s("a")) && VarKey(&s("a")) != VarKey(&one));
    }
}
