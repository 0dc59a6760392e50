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
//!
//! A **fork** holds sub-diagrams that are all walked and whose leaves are united. Uniting two
//! diagrams that test the same variable merges them branch by branch; uniting two that test
//! unrelated variables copies one under every path of the other, which multiplies their sizes.
//! When that product would outgrow the inputs by more than `copy_factor`, the union becomes a
//! fork instead. So independent conditions (typically the rules left undecided when an
//! attribute such as `tool` is absent) cost one walk each on that rare path, while the common
//! paths remain a single walk.

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
    /// Sub-diagrams that are all walked; sorted, distinct, at least two, none `f`; a child
    /// may itself be a large fork, which keeps it shared.
    Fork(Box<[NodeRef]>),
}

impl Node {
    /// The variable tested; `u32::MAX` for leaves and forks.
    pub fn var(&self) -> u32 {
        match self {
            Node::Leaf(_) | Node::Fork(_) => u32::MAX,
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

/// Unions whose result is at most this many nodes always copy rather than fork.
pub const SMALL_PRODUCT: u64 = 256;

/// A merged threshold may reach this many leaf items before their growth is watched.
pub const ITEM_FLOOR: u64 = 4096;

/// A fork with at most this many children is flattened into a fork that contains it.
const FLATTEN_MAX: usize = 8;

/// How many of a fork's last children a union tries to merge an incoming diagram into.
const FORK_SCAN: usize = 4;

/// A leaf is copied into the leaves of a diagram of at most this many nodes, no larger.
pub const LEAF_COPY_MAX: u64 = 32;

/// The most memory the diagrams of one compilation may take, intermediate results and the
/// memo tables of the operation in progress included (estimated from what is stored: each
/// node twice with its branches, as when the table that shares equal nodes held a copy of
/// each; it now holds a hash and a number per node, so the estimate is high, and the limits
/// stay where they were). A
/// condition whose diagram grows exponentially under the variable order (`(a0 or b0) and (a1
/// or b1) and …` over many attributes) reaches it within seconds and is refused instead of
/// running on into gigabytes. A set of a million strings needs some 60 MB of it; the
/// 10,000-rule benchmark bundle about 40 MB.
pub const MEMORY_LIMIT: usize = 256 << 20;

/// The deepest an operation on diagrams may recurse: one level per variable along a path, so
/// this many different tests one after another in a single condition. Deeper recursion runs
/// on stack segments allocated as needed, and stops here with the same error as
/// [`MEMORY_LIMIT`] rather than exhausting memory.
pub const DEPTH_LIMIT: usize = 1 << 16;

/// Stack kept free before an operation recurses, and the size of each segment added.
const RED_ZONE: usize = 128 * 1024;
const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// Runs `f` with at least [`RED_ZONE`] bytes of stack, adding a segment when less is left:
/// for the functions that recurse once per variable of a path.
pub fn deep<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, f)
}

/// An empty slot of the table that shares equal nodes.
const EMPTY_SLOT: u64 = u64::MAX;

/// The fewest slots of the table that shares equal nodes (a power of two).
const MIN_SLOTS: usize = 64;

/// The estimated bytes one stored node takes (see [`MEMORY_LIMIT`]).
fn node_bytes(n: &Node) -> usize {
    let payload = match n {
        Node::Leaf(items) => items.len() * 4,
        Node::Switch { branches, .. } => branches.len() * 8,
        Node::Thresh { cuts, regions, .. } => cuts.len() * 8 + regions.len() * 4,
        Node::Tri { .. } => 0,
        Node::Fork(cs) => cs.len() * 4,
    };
    2 * (std::mem::size_of::<Node>() + payload) + 24
}

/// The estimated bytes of one slot of the memo table.
const MEMO_SLOT: usize = std::mem::size_of::<((Op, NodeRef, NodeRef), NodeRef)>() + 1;

/// A leaf with more items than this is not copied into the leaves of a diagram.
pub const BIG_LEAF: usize = 16;

/// How much larger than its inputs a union may grow before it forks instead.
pub const DEFAULT_COPY_FACTOR: u64 = 8;

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

/// A node as it is looked up in the store: its parts borrowed, so that finding a node that is
/// stored already (most lookups, in the folds of `govern diff`) allocates nothing.
#[derive(Clone, Copy)]
enum View<'a> {
    Leaf(&'a [u32]),
    Switch {
        var: u32,
        branches: &'a [(u32, NodeRef)],
        default: NodeRef,
        unknown: NodeRef,
    },
    Thresh {
        var: u32,
        cuts: &'a [Num],
        regions: &'a [NodeRef],
        unknown: NodeRef,
    },
    Tri {
        var: u32,
        t: NodeRef,
        f: NodeRef,
        u: NodeRef,
    },
    Fork(&'a [NodeRef]),
}

impl View<'_> {
    /// The key of the table that shares equal nodes: equal views hash alike.
    fn hash(&self) -> u64 {
        use std::hash::Hasher;
        let mut h = rustc_hash::FxHasher::default();
        match *self {
            View::Leaf(items) => {
                h.write_u8(0);
                h.write_usize(items.len());
                for x in items {
                    h.write_u32(*x);
                }
            }
            View::Switch {
                var,
                branches,
                default,
                unknown,
            } => {
                h.write_u8(1);
                h.write_u32(var);
                h.write_usize(branches.len());
                for (c, x) in branches {
                    h.write_u32(*c);
                    h.write_u32(*x);
                }
                h.write_u32(default);
                h.write_u32(unknown);
            }
            View::Thresh {
                var,
                cuts,
                regions,
                unknown,
            } => {
                h.write_u8(2);
                h.write_u32(var);
                h.write_usize(cuts.len());
                for c in cuts {
                    h.write_u64(c.bits());
                }
                for x in regions {
                    h.write_u32(*x);
                }
                h.write_u32(unknown);
            }
            View::Tri { var, t, f, u } => {
                h.write_u8(3);
                h.write_u32(var);
                h.write_u32(t);
                h.write_u32(f);
                h.write_u32(u);
            }
            View::Fork(cs) => {
                h.write_u8(4);
                h.write_usize(cs.len());
                for x in cs {
                    h.write_u32(*x);
                }
            }
        }
        h.finish()
    }

    /// Whether `n` is this node.
    fn is(&self, n: &Node) -> bool {
        match (*self, n) {
            (View::Leaf(a), Node::Leaf(b)) => a == &b[..],
            (
                View::Switch {
                    var,
                    branches,
                    default,
                    unknown,
                },
                Node::Switch {
                    var: v,
                    branches: b,
                    default: d,
                    unknown: u,
                },
            ) => var == *v && default == *d && unknown == *u && branches == &b[..],
            (
                View::Thresh {
                    var,
                    cuts,
                    regions,
                    unknown,
                },
                Node::Thresh {
                    var: v,
                    cuts: c,
                    regions: r,
                    unknown: u,
                },
            ) => var == *v && unknown == *u && regions == &r[..] && cuts == &c[..],
            (
                View::Tri { var, t, f, u },
                Node::Tri {
                    var: v,
                    t: a,
                    f: b,
                    u: c,
                },
            ) => var == *v && t == *a && f == *b && u == *c,
            (View::Fork(a), Node::Fork(b)) => a == &b[..],
            _ => false,
        }
    }

    /// The node to store.
    fn node(&self) -> Node {
        match *self {
            View::Leaf(items) => Node::Leaf(items.into()),
            View::Switch {
                var,
                branches,
                default,
                unknown,
            } => Node::Switch {
                var,
                branches: branches.into(),
                default,
                unknown,
            },
            View::Thresh {
                var,
                cuts,
                regions,
                unknown,
            } => Node::Thresh {
                var,
                cuts: cuts.into(),
                regions: regions.into(),
                unknown,
            },
            View::Tri { var, t, f, u } => Node::Tri { var, t, f, u },
            View::Fork(cs) => Node::Fork(cs.into()),
        }
    }
}

/// The diagram store.
#[derive(Clone)]
pub struct Manager {
    nodes: Vec<Node>,
    /// The table that shares equal nodes: open addressing with linear probing, a power of two
    /// of slots, at most half of them used. A slot is one word: the low 32 bits of the node's
    /// hash above its number ([`EMPTY_SLOT`]: none), so that a lookup reads one cache line
    /// of the table (where a map keyed by the hash read its control bytes and its entries,
    /// two), and compares a stored node only when the 32 bits match. A node's first slot is
    /// given by the high bits of its hash. Nodes are stored once, in `nodes`, and each node
    /// has a slot, taken in the order of the nodes' numbers: [`Manager::truncate`] then
    /// empties the slots of the newest nodes first, which leaves the table as it was.
    table: Vec<u64>,
    /// `64 - log2(table.len())`: a hash shifted right by it is a slot's index.
    table_shift: u32,
    /// Each node's hash.
    hashes: Vec<u64>,
    /// Buffers reused by [`Manager::mk_fork`], [`Manager::mk_switch_of`] and
    /// [`Manager::mk_thresh_of`].
    scratch: Vec<NodeRef>,
    scratch_branches: Vec<(u32, NodeRef)>,
    scratch_cuts: Vec<Num>,
    shapes: Vec<VarShape>,
    memo: FxHashMap<(Op, NodeRef, NodeRef), NodeRef>,
    /// An upper bound on the nodes reachable from each node (shared nodes counted again).
    sizes: Vec<u64>,
    /// Exact item counts over the distinct leaves reachable from a node, computed on demand.
    exact_items: FxHashMap<NodeRef, u64>,
    /// A union may copy one diagram under another when the result stays within
    /// `copy_factor` times the two inputs (or `SMALL_PRODUCT`); otherwise it forks.
    pub copy_factor: u64,
    /// At most this many bytes are used ([`MEMORY_LIMIT`] by default, estimated). Past it the
    /// manager stops building: every operation answers the unknown leaf at once and
    /// [`Manager::exceeded`] tells the caller that the diagrams are not to be used.
    pub memory_limit: usize,
    /// The estimated bytes of the stored nodes.
    bytes: usize,
    /// How deep the operation in progress has recursed.
    depth: usize,
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
            table: vec![EMPTY_SLOT; MIN_SLOTS],
            table_shift: 64 - MIN_SLOTS.trailing_zeros(),
            hashes: Vec::new(),
            scratch: Vec::new(),
            scratch_branches: Vec::new(),
            scratch_cuts: Vec::new(),
            shapes,
            memo: FxHashMap::default(),
            sizes: Vec::new(),
            exact_items: FxHashMap::default(),
            copy_factor: DEFAULT_COPY_FACTOR,
            memory_limit: MEMORY_LIMIT,
            bytes: 0,
            depth: 0,
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

    /// Whether building stopped at [`Manager::memory_limit`] or [`DEPTH_LIMIT`]: the diagrams
    /// made since are wrong.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The estimated bytes in use: stored nodes and the memo table.
    pub fn bytes(&self) -> usize {
        self.bytes
            .saturating_add(self.memo.capacity().saturating_mul(MEMO_SLOT))
    }

    fn over_budget(&mut self) -> bool {
        if self.bytes() > self.memory_limit {
            self.exceeded = true;
        }
        self.exceeded
    }

    /// The stored node equal to `v`, stored now if there is none: only a new node is
    /// allocated.
    fn intern(&mut self, v: View<'_>) -> NodeRef {
        let hash = v.hash();
        let tag = hash & 0xffff_ffff;
        let mask = self.table.len().wrapping_sub(1);
        let mut i = (hash >> self.table_shift) as usize & mask;
        loop {
            let slot = self.table.get(i).copied().unwrap_or(EMPTY_SLOT);
            if slot == EMPTY_SLOT {
                break;
            }
            if slot >> 32 == tag {
                let at = slot as NodeRef;
                if self
                    .nodes
                    .get(at as usize)
                    .is_some_and(|stored| v.is(stored))
                {
                    return at;
                }
            }
            i = (i + 1) & mask;
        }
        let n = v.node();
        self.bytes = self.bytes.saturating_add(node_bytes(&n));
        if self.over_budget() {
            return self.u;
        }
        let r = NodeRef::try_from(self.nodes.len()).unwrap_or(NodeRef::MAX);
        let sum = |cs: &mut dyn Iterator<Item = NodeRef>| {
            cs.map(|c| self.size(c)).fold(0u64, u64::saturating_add)
        };
        let below = match &n {
            Node::Leaf(_) => 0,
            Node::Fork(cs) => sum(&mut cs.iter().copied()),
            Node::Switch {
                branches,
                default,
                unknown,
                ..
            } => sum(&mut branches.iter().map(|(_, c)| *c).chain([*default, *unknown])),
            Node::Thresh {
                regions, unknown, ..
            } => sum(&mut regions.iter().copied().chain([*unknown])),
            Node::Tri { t, f, u, .. } => sum(&mut [*t, *f, *u].into_iter()),
        };
        let size = 1u64.saturating_add(below);
        self.nodes.push(n);
        self.hashes.push(hash);
        self.sizes.push(size.min(u64::MAX / 4));
        if self.nodes.len() * 2 > self.table.len() {
            self.grow_table();
        } else if let Some(slot) = self.table.get_mut(i) {
            *slot = (tag << 32) | u64::from(r);
        }
        r
    }

    /// The first empty slot for a node of hash `hash`.
    fn empty_slot(&self, hash: u64) -> usize {
        let mask = self.table.len().wrapping_sub(1);
        let mut i = (hash >> self.table_shift) as usize & mask;
        while self.table.get(i).is_some_and(|&s| s != EMPTY_SLOT) {
            i = (i + 1) & mask;
        }
        i
    }

    /// The table that shares equal nodes made again with twice as many slots, every node put
    /// in it in the order of their numbers.
    fn grow_table(&mut self) {
        let slots = (self.table.len() * 2).max(MIN_SLOTS);
        self.table.clear();
        self.table.resize(slots, EMPTY_SLOT);
        self.table_shift = 64 - slots.trailing_zeros();
        for r in 0..self.hashes.len() {
            let Some(&hash) = self.hashes.get(r) else {
                break;
            };
            let i = self.empty_slot(hash);
            if let Some(slot) = self.table.get_mut(i) {
                *slot = ((hash & 0xffff_ffff) << 32) | r as u64;
            }
        }
    }

    /// Forgets every node made since the store held `mark` nodes, and what was remembered of
    /// them: the store is as it was then (references to those nodes are no longer valid), and
    /// keeps the memory it has grown. For work whose results are read before it is dropped.
    pub fn truncate(&mut self, mark: usize) {
        if mark >= self.nodes.len() {
            return;
        }
        // Newest first: no node older than the one whose slot is emptied passed that slot
        // when it was put in the table (the slot was empty then), and every newer one is gone
        // already, so each lookup probes as it did before the node was stored.
        let mask = self.table.len().wrapping_sub(1);
        for r in (mark..self.nodes.len()).rev() {
            if let Some(n) = self.nodes.get(r) {
                self.bytes = self.bytes.saturating_sub(node_bytes(n));
            }
            let Some(&hash) = self.hashes.get(r) else {
                continue;
            };
            let mut i = (hash >> self.table_shift) as usize & mask;
            while let Some(slot) = self.table.get_mut(i) {
                if *slot == EMPTY_SLOT {
                    break;
                }
                if *slot as u32 as usize == r {
                    *slot = EMPTY_SLOT;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        self.nodes.truncate(mark);
        self.hashes.truncate(mark);
        self.sizes.truncate(mark);
        let old = |r: NodeRef| (r as usize) < mark;
        if !self.memo.is_empty() {
            self.memo
                .retain(|&(_, a, b), r| old(a) && old(b) && old(*r));
        }
        if !self.exact_items.is_empty() {
            self.exact_items.retain(|r, _| old(*r));
        }
    }

    /// An upper bound on the number of nodes reachable from `r`.
    pub fn size(&self, r: NodeRef) -> u64 {
        self.sizes.get(r as usize).copied().unwrap_or(1)
    }

    /// The number of items in the distinct leaves reachable from `r`.
    pub fn item_count(&mut self, r: NodeRef) -> u64 {
        if let Some(&n) = self.exact_items.get(&r) {
            return n;
        }
        let mut seen: rustc_hash::FxHashSet<NodeRef> = rustc_hash::FxHashSet::default();
        let mut stack = vec![r];
        let mut total = 0u64;
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            match self.node(n) {
                Node::Leaf(items) => total += items.len() as u64,
                _ => stack.extend(self.children(n)),
            }
        }
        self.exact_items.insert(r, total);
        total
    }

    /// A leaf with these items (sorted and deduplicated here).
    pub fn leaf(&mut self, mut items: Vec<u32>) -> NodeRef {
        items.sort_unstable();
        items.dedup();
        self.intern(View::Leaf(&items))
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
        mut branches: Vec<(u32, NodeRef)>,
        default: NodeRef,
        unknown: NodeRef,
    ) -> NodeRef {
        self.switch(var, &mut branches, default, unknown)
    }

    /// [`Manager::mk_switch`] of borrowed parts: the constants `consts`, each with the child
    /// of `kids` at its place; nothing is allocated when the node is stored already.
    pub fn mk_switch_of(
        &mut self,
        var: u32,
        consts: &[u32],
        kids: &[NodeRef],
        default: NodeRef,
        unknown: NodeRef,
    ) -> NodeRef {
        let mut branches = std::mem::take(&mut self.scratch_branches);
        branches.clear();
        branches.extend(consts.iter().copied().zip(kids.iter().copied()));
        let r = self.switch(var, &mut branches, default, unknown);
        self.scratch_branches = branches;
        r
    }

    /// [`Manager::mk_switch`], the branches to `default` dropped where they are.
    fn switch(
        &mut self,
        var: u32,
        branches: &mut Vec<(u32, NodeRef)>,
        default: NodeRef,
        unknown: NodeRef,
    ) -> NodeRef {
        branches.retain(|&(_, c)| c != default);
        if branches.is_empty() && default == unknown {
            return default;
        }
        self.intern(View::Switch {
            var,
            branches,
            default,
            unknown,
        })
    }

    /// [`Manager::mk_thresh`] of borrowed parts; nothing is allocated when the node is stored
    /// already.
    pub fn mk_thresh_of(
        &mut self,
        var: u32,
        cuts: &[Num],
        regions: &[NodeRef],
        unknown: NodeRef,
    ) -> NodeRef {
        let (mut c, mut r) = (
            std::mem::take(&mut self.scratch_cuts),
            std::mem::take(&mut self.scratch),
        );
        c.clear();
        c.extend_from_slice(cuts);
        r.clear();
        r.extend_from_slice(regions);
        let out = self.thresh(var, &mut c, &mut r, unknown);
        (self.scratch_cuts, self.scratch) = (c, r);
        out
    }

    pub fn mk_thresh(
        &mut self,
        var: u32,
        mut cuts: Vec<Num>,
        mut regions: Vec<NodeRef>,
        unknown: NodeRef,
    ) -> NodeRef {
        self.thresh(var, &mut cuts, &mut regions, unknown)
    }

    /// [`Manager::mk_thresh`], the cuts and regions compacted where they are.
    fn thresh(
        &mut self,
        var: u32,
        cuts: &mut Vec<Num>,
        regions: &mut Vec<NodeRef>,
        unknown: NodeRef,
    ) -> NodeRef {
        // Drop every cut whose point and both neighbouring intervals lead to the same place,
        // in place: the cuts and regions kept move to the front (a missing region reads as
        // the first).
        let Some(&first) = regions.first() else {
            return unknown;
        };
        regions.resize(2 * cuts.len() + 1, first);
        let mut kept = 0;
        let mut below = first;
        for i in 0..cuts.len() {
            let at = regions.get(2 * i + 1).copied().unwrap_or(first);
            let above = regions.get(2 * i + 2).copied().unwrap_or(first);
            if at == below && above == below {
                continue;
            }
            if let Some(c) = cuts.get(i).copied()
                && let Some(slot) = cuts.get_mut(kept)
            {
                *slot = c;
            }
            if let Some(slot) = regions.get_mut(2 * kept + 1) {
                *slot = at;
            }
            if let Some(slot) = regions.get_mut(2 * kept + 2) {
                *slot = above;
            }
            kept += 1;
            below = above;
        }
        cuts.truncate(kept);
        regions.truncate(2 * kept + 1);
        if cuts.is_empty() && first == unknown {
            return first;
        }
        self.intern(View::Thresh {
            var,
            cuts,
            regions,
            unknown,
        })
    }

    /// The node `r` of the store `from` made in this one, each child `c` of it taken as
    /// `here(c)`: the node equal to `r` when `here` gives the node equal to each child (the two
    /// stores may number their nodes otherwise).
    pub fn remake(
        &mut self,
        from: &Manager,
        r: NodeRef,
        here: &mut dyn FnMut(NodeRef) -> NodeRef,
    ) -> NodeRef {
        self.with_children(from.node(r), here)
    }

    /// A node like `node` (of this store or another) with each child `c` taken as `here(c)`:
    /// its variable, constants and cuts kept, made in this store; a leaf made with its items.
    pub fn with_children(
        &mut self,
        node: &Node,
        here: &mut dyn FnMut(NodeRef) -> NodeRef,
    ) -> NodeRef {
        match node {
            Node::Leaf(items) => self.leaf(items.to_vec()),
            Node::Switch {
                var,
                branches,
                default,
                unknown,
            } => {
                let branches = branches.iter().map(|&(k, c)| (k, here(c))).collect();
                let (default, unknown) = (here(*default), here(*unknown));
                self.mk_switch(*var, branches, default, unknown)
            }
            Node::Thresh {
                var,
                cuts,
                regions,
                unknown,
            } => {
                let regions = regions.iter().map(|&c| here(c)).collect();
                let unknown = here(*unknown);
                self.mk_thresh(*var, cuts.to_vec(), regions, unknown)
            }
            Node::Tri { var, t, f, u } => {
                let (t, f, u) = (here(*t), here(*f), here(*u));
                self.mk_tri(*var, t, f, u)
            }
            Node::Fork(cs) => {
                let cs = cs.iter().map(|&c| here(c)).collect();
                self.mk_fork(cs)
            }
        }
    }

    pub fn mk_tri(&mut self, var: u32, t: NodeRef, f: NodeRef, u: NodeRef) -> NodeRef {
        if t == f && f == u {
            return t;
        }
        self.intern(View::Tri { var, t, f, u })
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

    /// The union of two diagrams of disjoint rules: merged where that stays small, forked
    /// where it would not.
    pub fn union(&mut self, a: NodeRef, b: NodeRef) -> NodeRef {
        self.run(Op::Union, a, b)
    }

    /// Whether copying one of `a`, `b` under every path of the other stays affordable.
    fn can_copy(&self, a: NodeRef, b: NodeRef) -> bool {
        if self.copy_factor == 0 {
            // Fork wherever the variables differ (tests use this to exercise forks).
            return false;
        }
        // A leaf copied into every leaf of a diagram makes a private copy of the diagram (and
        // multiplies items when the leaf is big): beside a large or shared diagram, the leaf
        // stays a sibling instead, and the diagram stays shared.
        let leaf_beside = |x: NodeRef, other: NodeRef| match self.leaf_items(x) {
            Some(items) => {
                self.leaf_items(other).is_none()
                    && (items.len() > BIG_LEAF || self.size(other) > LEAF_COPY_MAX)
            }
            None => false,
        };
        if leaf_beside(a, b) || leaf_beside(b, a) {
            return false;
        }
        let (x, y) = (self.size(a), self.size(b));
        let product = x.saturating_mul(y);
        product <= SMALL_PRODUCT || product <= self.copy_factor.saturating_mul(x.saturating_add(y))
    }

    /// A fork of `children`: small forks flattened (large ones stay nested, and shared),
    /// empty diagrams dropped, sorted, deduplicated.
    pub fn mk_fork(&mut self, children: Vec<NodeRef>) -> NodeRef {
        let mut flat = std::mem::take(&mut self.scratch);
        flat.clear();
        for c in children {
            match self.node(c) {
                Node::Fork(inner) if inner.len() <= FLATTEN_MAX => {
                    flat.extend(inner.iter().copied())
                }
                _ if c == self.f => {}
                _ => flat.push(c),
            }
        }
        flat.sort_unstable();
        flat.dedup();
        let r = match flat.len() {
            0 => self.f,
            1 => flat.first().copied().unwrap_or(self.f),
            _ => self.intern(View::Fork(&flat)),
        };
        self.scratch = flat;
        r
    }

    /// Union where at least one side is a fork. An incoming diagram merges into the child
    /// that tests the same variable, or else into one of the last few children when copying
    /// stays affordable; otherwise it becomes a sibling, and a large fork is kept whole (and
    /// shared) as a child of the new fork rather than copied.
    fn union_fork(&mut self, a: NodeRef, b: NodeRef) -> NodeRef {
        let fork_len = |m: &Manager, x: NodeRef| match m.node(x) {
            Node::Fork(cs) => cs.len(),
            _ => 0,
        };
        let (a, b) = if fork_len(self, a) >= fork_len(self, b) {
            (a, b)
        } else {
            (b, a)
        };
        if fork_len(self, b) > FLATTEN_MAX {
            // Two large forks: side by side, each kept whole.
            return self.mk_fork(vec![a, b]);
        }
        let mut children: Vec<NodeRef> = match self.node(a) {
            Node::Fork(cs) => cs.to_vec(),
            _ => vec![a],
        };
        let incoming: Vec<NodeRef> = match self.node(b) {
            Node::Fork(cs) => cs.to_vec(),
            _ => vec![b],
        };
        let mut by_var: FxHashMap<u32, usize> = FxHashMap::default();
        for (i, &c) in children.iter().enumerate() {
            let v = self.node(c).var();
            if v != u32::MAX {
                by_var.entry(v).or_insert(i);
            }
        }
        let mut merged_any = false;
        let mut apart = Vec::new();
        for y in incoming {
            let vy = self.node(y).var();
            let same = (vy != u32::MAX).then(|| by_var.get(&vy).copied()).flatten();
            let target = same.or_else(|| {
                let from = children.len().saturating_sub(FORK_SCAN);
                (from..children.len())
                    .find(|&i| children.get(i).is_some_and(|&c| self.can_copy(c, y)))
            });
            match target.and_then(|i| children.get(i).copied().map(|c| (i, c))) {
                Some((i, c)) => {
                    let merged = self.apply(Op::Union, c, y);
                    if let Some(slot) = children.get_mut(i) {
                        *slot = merged;
                    }
                    merged_any = true;
                }
                None => apart.push(y),
            }
        }
        if !merged_any && children.len() > FLATTEN_MAX {
            // Nothing merged into the large fork: keep it whole beside the newcomers.
            apart.push(a);
            return self.mk_fork(apart);
        }
        children.extend(apart);
        self.mk_fork(children)
    }

    fn run(&mut self, op: Op, a: NodeRef, b: NodeRef) -> NodeRef {
        // A table grown large by one operation is not kept for the many small ones that follow
        // (clearing costs its capacity).
        if self.memo.capacity() > 4096 && self.memo.capacity() > 4 * self.memo.len() {
            self.memo = FxHashMap::default();
        } else {
            self.memo.clear();
        }
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

    /// [`Manager::apply_here`] with the recursion depth counted and bounded, on a stack that
    /// grows as needed.
    fn apply(&mut self, op: Op, a: NodeRef, b: NodeRef) -> NodeRef {
        if self.exceeded {
            return self.u;
        }
        if self.depth >= DEPTH_LIMIT {
            self.exceeded = true;
            return self.u;
        }
        self.depth += 1;
        let r = deep(|| self.apply_here(op, a, b));
        self.depth -= 1;
        r
    }

    fn apply_here(&mut self, op: Op, a: NodeRef, b: NodeRef) -> NodeRef {
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
        let key = (op, a, b);
        if let Some(&r) = self.memo.get(&key) {
            return r;
        }
        let r = if op == Op::Union && (matches!(na, Node::Fork(_)) || matches!(nb, Node::Fork(_))) {
            // Forks only arise from unions, and only unions ever meet them.
            self.union_fork(a, b)
        } else if op == Op::Union && na.var() != nb.var() && !self.can_copy(a, b) {
            self.mk_fork(vec![a, b])
        } else if op == Op::Union && matches!(na, Node::Thresh { .. }) {
            // Two thresholds on one number: merge region by region, unless the merged leaves
            // pile up items faster than the inputs (overlapping `x > 1`, `x > 2`, …).
            let merged = self.expand(op, a, b, &na, &nb, unary);
            let out = self.item_count(merged);
            let inputs = self.item_count(a).saturating_add(self.item_count(b));
            if self.copy_factor > 0
                && out > ITEM_FLOOR
                && out.saturating_mul(2) > inputs.saturating_mul(3)
            {
                self.mk_fork(vec![a, b])
            } else {
                merged
            }
        } else {
            self.expand(op, a, b, &na, &nb, unary)
        };
        self.memo.insert(key, r);
        self.over_budget();
        r
    }

    /// Shannon expansion on the first variable either diagram tests.
    fn expand(
        &mut self,
        op: Op,
        a: NodeRef,
        b: NodeRef,
        na: &Node,
        nb: &Node,
        unary: bool,
    ) -> NodeRef {
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
        match shape {
            VarShape::Switch => {
                let (ba, da, ua) = switch_parts(na, var, a);
                let (bb, db, ub) = if unary {
                    (Vec::new(), b, b)
                } else {
                    switch_parts(nb, var, b)
                };
                // Both branch lists are sorted by constant: one merge, in constant order,
                // rather than a search per constant (a switch may have a million branches).
                let mut branches = Vec::with_capacity(ba.len().max(bb.len()));
                let (mut ia, mut ib) = (ba.iter().peekable(), bb.iter().peekable());
                loop {
                    let (c, ca, cb) = match (ia.peek(), ib.peek()) {
                        (None, None) => break,
                        (Some(&&(c, n)), None) => {
                            ia.next();
                            (c, n, db)
                        }
                        (None, Some(&&(c, n))) => {
                            ib.next();
                            (c, da, n)
                        }
                        (Some(&&(c, n)), Some(&&(k, m))) => {
                            if c < k {
                                ia.next();
                                (c, n, db)
                            } else if k < c {
                                ib.next();
                                (k, da, m)
                            } else {
                                ia.next();
                                ib.next();
                                (c, n, m)
                            }
                        }
                    };
                    let cb = if unary { ca } else { cb };
                    branches.push((c, self.apply(op, ca, cb)));
                }
                let default = self.apply(op, da, if unary { da } else { db });
                let unknown = self.apply(op, ua, if unary { ua } else { ub });
                self.mk_switch(var, branches, default, unknown)
            }
            VarShape::Thresh => {
                let (ca, ra, ua) = thresh_parts(na, var, a);
                let (cb, rb, ub) = if unary {
                    (ca.clone(), ra.clone(), ua)
                } else {
                    thresh_parts(nb, var, b)
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
                let (ta, fa, uu_a) = tri_parts(na, var, a);
                let (tb, fb, uu_b) = if unary {
                    (ta, fa, uu_a)
                } else {
                    tri_parts(nb, var, b)
                };
                let t = self.apply(op, ta, tb);
                let f = self.apply(op, fa, fb);
                let u = self.apply(op, uu_a, uu_b);
                self.mk_tri(var, t, f, u)
            }
        }
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
        self.children_of(self.node(n))
    }

    fn children_of(&self, n: &Node) -> Vec<NodeRef> {
        match n {
            Node::Fork(cs) => cs.to_vec(),
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

pub(crate) fn lookup(branches: &[(u32, NodeRef)], c: u32) -> Option<NodeRef> {
    branches
        .binary_search_by_key(&c, |(k, _)| *k)
        .ok()
        .and_then(|i| branches.get(i))
        .map(|(_, n)| *n)
}

pub(crate) fn switch_parts(
    n: &Node,
    var: u32,
    me: NodeRef,
) -> (Vec<(u32, NodeRef)>, NodeRef, NodeRef) {
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

pub(crate) fn thresh_parts(n: &Node, var: u32, me: NodeRef) -> (Vec<Num>, Vec<NodeRef>, NodeRef) {
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

pub(crate) fn tri_parts(n: &Node, var: u32, me: NodeRef) -> (NodeRef, NodeRef, NodeRef) {
    match n {
        Node::Tri { var: v, t, f, u } if *v == var => (*t, *f, *u),
        _ => (me, me, me),
    }
}

/// For each region of the fine partition `fine`, the region of the coarse partition `coarse`
/// (a subset of `fine`) that contains it.
pub(crate) fn region_map(fine: &[Num], coarse: &[Num]) -> Vec<usize> {
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
    fn the_depth_limit_stops_deep_recursion() {
        // A chain over more variables than the depth limit: building on it recurses once per
        // variable, and stops at the limit instead of exhausting the stack.
        let n = DEPTH_LIMIT as u32 + 10;
        let mut m = Manager::new(vec![VarShape::Tri; n as usize + 1]);
        let (t, f, u) = (m.t, m.f, m.u);
        let mut d = t;
        for v in (0..n).rev() {
            d = m.mk_tri(v, d, f, u);
        }
        assert!(!m.exceeded());
        let last = m.mk_tri(n, t, f, u);
        let r = m.and(d, last);
        assert!(m.exceeded());
        assert_eq!(r, m.u);
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
