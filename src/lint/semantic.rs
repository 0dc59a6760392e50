//! What the semantic lints share: the diagrams of the bundle, where each rule is true and where
//! it matches, an index that keeps pairwise checks from being quadratic, and the oracle that
//! confirms example requests.
//!
//! **Grouping.** Pairwise questions ("does rule R always fire with rule S?") are only asked of
//! pairs that can overlap on one discrete variable, the grouping variable: the `tool` switch
//! when the bundle has one, else the first switch in diagram order. For each rule the index
//! keeps the outcomes of that variable under which the rule can match (its *support*: some of
//! the constants, any other value, unknown); `R ⇒ S` needs `support(R) ⊆ support(S)`, and an
//! overlap needs the supports to meet, so most pairs are never built as diagrams.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::bytecode::model::{Operand, Var};
use crate::check::Bundle;
use crate::compile::analysis::{Analysis, Step};
use crate::compile::dd::{Node, NodeRef};
use crate::syntax::ast::Effect;

use super::witness::{Observed, Oracle, synthesize};

/// An outcome of the grouping variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Const(u32),
    Other,
    Unknown,
}

/// The outcomes of the grouping variable under which a diagram is not `f`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// Every outcome (the diagram does not depend on the variable on some path).
    All,
    Some(BTreeSet<Key>),
}

impl Support {
    pub fn contains(&self, k: Key) -> bool {
        match self {
            Support::All => true,
            Support::Some(s) => s.contains(&k),
        }
    }

    pub fn is_subset(&self, other: &Support) -> bool {
        match (self, other) {
            (_, Support::All) => true,
            (Support::All, Support::Some(_)) => false,
            (Support::Some(a), Support::Some(b)) => a.is_subset(b),
        }
    }

    pub fn meets(&self, other: &Support) -> bool {
        match (self, other) {
            (Support::All, s) | (s, Support::All) => !matches!(s, Support::Some(x) if x.is_empty()),
            (Support::Some(a), Support::Some(b)) => a.intersection(b).next().is_some(),
        }
    }

    /// The constants of the support, when it is only constants (a rule about named tools).
    pub fn only_consts(&self) -> Option<BTreeSet<u32>> {
        match self {
            Support::All => None,
            Support::Some(s) => s
                .iter()
                .map(|k| match k {
                    Key::Const(c) => Some(*c),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// Shared state of the semantic lints.
pub struct Semantic<'b> {
    pub bundle: &'b Bundle,
    pub a: Analysis,
    /// Where each rule's condition is true.
    pub truth: Vec<NodeRef>,
    /// Where each rule matches (true, or unknown for deny / escalate / warn).
    pub matches: Vec<NodeRef>,
    /// The grouping variable.
    pub group_var: Option<u32>,
    /// Support of each rule's `matches` on the grouping variable.
    pub match_support: Vec<Support>,
    /// Support of each rule's `truth` on the grouping variable.
    pub truth_support: Vec<Support>,
    not_cache: BTreeMap<NodeRef, NodeRef>,
    pub oracle: Oracle<'b>,
}

impl<'b> Semantic<'b> {
    pub fn new(bundle: &'b Bundle) -> Semantic<'b> {
        let mut a = Analysis::new(bundle);
        let mut truth = Vec::with_capacity(bundle.rules.len());
        let mut matches = Vec::with_capacity(bundle.rules.len());
        for (r, rule) in bundle.rules.iter().enumerate() {
            let d = a.rules.get(r).copied().unwrap_or(a.m.f);
            truth.push(a.truth(d));
            matches.push(a.matches(d, rule.effect));
        }
        let group_var = grouping_var(&a, bundle);
        let mut memo = BTreeMap::new();
        let match_support = matches
            .iter()
            .map(|&d| support(&a, group_var, d, &mut memo))
            .collect();
        let truth_support = truth
            .iter()
            .map(|&d| support(&a, group_var, d, &mut memo))
            .collect();
        Semantic {
            bundle,
            a,
            truth,
            matches,
            group_var,
            match_support,
            truth_support,
            not_cache: BTreeMap::new(),
            oracle: Oracle::new(bundle),
        }
    }

    pub fn f(&self) -> NodeRef {
        self.a.m.f
    }

    /// Whether rule `r`'s condition can be true (on some path).
    pub fn reachable(&self, r: usize) -> bool {
        self.truth.get(r).is_some_and(|&d| d != self.a.m.f)
    }

    pub fn not(&mut self, d: NodeRef) -> NodeRef {
        if let Some(&n) = self.not_cache.get(&d) {
            return n;
        }
        let n = self.a.m.not(d);
        self.not_cache.insert(d, n);
        n
    }

    /// Whether `x ⇒ y` for two-valued diagrams.
    pub fn implies(&mut self, x: NodeRef, y: NodeRef) -> bool {
        let ny = self.not(y);
        self.a.m.and(x, ny) == self.a.m.f
    }

    /// `x ∧ ¬y`
    pub fn and_not(&mut self, x: NodeRef, y: NodeRef) -> NodeRef {
        let ny = self.not(y);
        self.a.m.and(x, ny)
    }

    pub fn and(&mut self, x: NodeRef, y: NodeRef) -> NodeRef {
        self.a.m.and(x, y)
    }

    /// The union of many two-valued diagrams, balanced.
    pub fn or_all(&mut self, ds: &[NodeRef]) -> NodeRef {
        let mut level: Vec<NodeRef> = ds.to_vec();
        if level.is_empty() {
            return self.a.m.f;
        }
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len() / 2 + 1);
            for pair in level.chunks(2) {
                match pair {
                    [x, y] => next.push(self.a.m.or(*x, *y)),
                    [x] => next.push(*x),
                    _ => {}
                }
            }
            level = next;
        }
        level.first().copied().unwrap_or(self.a.m.f)
    }

    /// Rules (other than `r`) whose match support contains all of `r`'s: the only candidates
    /// for "r always fires with s".
    pub fn superset_candidates(&self, r: usize, of: &Support) -> Vec<usize> {
        self.match_support
            .iter()
            .enumerate()
            .filter(|(s, sup)| *s != r && of.is_subset(sup))
            .map(|(s, _)| s)
            .collect()
    }

    /// Looks for a confirmed example event on the paths of `d` to true: one on which the VM and
    /// the reference interpreter agree about `rules` and that satisfies `ok`; it is then shrunk.
    pub fn witness(
        &mut self,
        d: NodeRef,
        rules: &[usize],
        ok: &dyn Fn(&Observed) -> bool,
    ) -> Option<Json> {
        let t = self.a.m.t;
        let paths: Vec<Vec<Step>> = self.a.paths(d, t, 24);
        for p in &paths {
            let Some(ev) = synthesize(&self.a, p) else {
                continue;
            };
            let Some(obs) = self.oracle.observe(rules, &ev) else {
                continue;
            };
            if ok(&obs) {
                return Some(self.minimize(rules, ev, &|_, o| ok(o)));
            }
        }
        None
    }

    /// The example with every attribute removed that `ok` does not need (the VM and the
    /// reference interpreter still agree and `ok` still holds without it).
    pub fn minimize(
        &mut self,
        rules: &[usize],
        ev: Json,
        ok: &dyn Fn(&Json, &Observed) -> bool,
    ) -> Json {
        let mut cur = ev;
        let mut paths: Vec<Vec<String>> = Vec::new();
        leaf_paths(&cur, &mut Vec::new(), &mut paths);
        for p in paths {
            if p.len() == 1 && p.first().is_some_and(|k| k == "action") {
                continue;
            }
            let mut cand = cur.clone();
            if !remove_path(&mut cand, &p) {
                continue;
            }
            if let Some(obs) = self.oracle.observe(rules, &cand)
                && ok(&cand, &obs)
            {
                cur = cand;
            }
        }
        cur
    }

    /// The effect of rule `r`.
    pub fn effect(&self, r: usize) -> Effect {
        self.bundle
            .rules
            .get(r)
            .map(|x| x.effect)
            .unwrap_or(Effect::Warn)
    }
}

/// The paths of the leaves of a JSON object (records themselves are not leaves).
fn leaf_paths(v: &Json, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v.as_object() {
        Some(obj) if !obj.is_empty() || prefix.is_empty() => {
            for (k, child) in obj {
                prefix.push(k.clone());
                leaf_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

/// Removes the value at `path`, and records left empty by it. `false` when it is not there.
fn remove_path(v: &mut Json, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let Some(obj) = v.as_object_mut() else {
        return false;
    };
    if rest.is_empty() {
        return obj.remove(first).is_some();
    }
    let Some(child) = obj.get_mut(first) else {
        return false;
    };
    let removed = remove_path(child, rest);
    if removed && child.as_object().is_some_and(|o| o.is_empty()) {
        obj.remove(first);
    }
    removed
}

/// The `tool` switch when there is one, else the first switch variable.
fn grouping_var(a: &Analysis, bundle: &Bundle) -> Option<u32> {
    let tool_slot = a
        .slots
        .iter()
        .position(|p| p.len() == 1 && p.first().is_some_and(|s| s == "tool"));
    let mut first = None;
    for (i, v) in a.vars.iter().enumerate() {
        if let Var::Switch { operand, .. } = v {
            if let (Operand::Slot { slot, .. }, Some(ts)) = (operand, tool_slot)
                && *slot as usize == ts
            {
                return u32::try_from(i).ok();
            }
            if first.is_none() {
                first = u32::try_from(i).ok();
            }
        }
    }
    let _ = bundle;
    first
}

/// The outcomes of `var` under which `d` can be non-`f`.
fn support(
    a: &Analysis,
    var: Option<u32>,
    d: NodeRef,
    memo: &mut BTreeMap<NodeRef, Support>,
) -> Support {
    let Some(var) = var else {
        return if d == a.m.f {
            Support::Some(BTreeSet::new())
        } else {
            Support::All
        };
    };
    if d == a.m.f {
        return Support::Some(BTreeSet::new());
    }
    if let Some(s) = memo.get(&d) {
        return s.clone();
    }
    let node_var = match a.m.node(d) {
        // A fork (never built by analysis) is read as "any outcome", which is conservative.
        Node::Leaf(_) | Node::Fork(_) => u32::MAX,
        Node::Switch { var, .. } | Node::Thresh { var, .. } | Node::Tri { var, .. } => *var,
    };
    let s = if node_var > var {
        // The variable is not tested below here: any outcome.
        Support::All
    } else if node_var == var {
        match a.m.node(d) {
            Node::Switch {
                branches,
                default,
                unknown,
                ..
            } => {
                let mut keys = BTreeSet::new();
                for (c, child) in branches.iter() {
                    if *child != a.m.f {
                        keys.insert(Key::Const(*c));
                    }
                }
                if *default != a.m.f {
                    // Any other constant of the variable reaches the default branch too.
                    keys.insert(Key::Other);
                    for (i, _) in a.consts(var).iter().enumerate() {
                        let i = i as u32;
                        if !branches.iter().any(|(c, _)| *c == i) {
                            keys.insert(Key::Const(i));
                        }
                    }
                }
                if *unknown != a.m.f {
                    keys.insert(Key::Unknown);
                }
                Support::Some(keys)
            }
            _ => Support::All,
        }
    } else {
        let mut acc = Support::Some(BTreeSet::new());
        for c in a.m.children(d) {
            let s = support(a, Some(var), c, memo);
            acc = match (acc, s) {
                (Support::All, _) | (_, Support::All) => Support::All,
                (Support::Some(mut x), Support::Some(y)) => {
                    x.extend(y);
                    Support::Some(x)
                }
            };
            if acc == Support::All {
                break;
            }
        }
        acc
    };
    memo.insert(d, s.clone());
    s
}
