//! Example requests: built from a path through a diagram, then confirmed by evaluation.
//!
//! A path says which outcome each variable on it must have (`tool` is `"file_read"`,
//! `args.amount` is in `(1000, ∞)`, the regex is false, …). [`synthesize`] looks for an event
//! whose values give exactly those outcomes: it proposes values for each attribute the path
//! reads (the constants the policies name, numbers inside each range, strings generated from
//! regexes, absence) and checks every step with a small evaluator, backtracking within a
//! budget. Paths can be infeasible because the diagram treats related tests as independent
//! variables; then no event is found and the caller tries another path.
//!
//! A candidate is only *shown* after [`Oracle`] has run it through the compiled program (the
//! VM) and through the reference interpreter, and both agree on what the lint claims.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde_json::{Map, Value as Json};

use crate::bytecode::model::{CmpOp, Func, Operand, Pred, StatefulKind, Tracker, Ty, Var};
use crate::check::Bundle;
use crate::compile::analysis::{Analysis, Branch, Step};
use crate::reference::{K3, Reference};
use crate::syntax::ast::Effect;
use crate::vm::{Event, Outcome, Program};

/// How many partial assignments one synthesis may try.
const BUDGET: usize = 4_000;

/// A value an operand has on an example event: a string or a list read from the event or
/// the policy borrowed, not copied, for each check; a function's value owned.
#[derive(Clone, Debug, PartialEq)]
enum V<'v> {
    Str(Cow<'v, str>),
    Num(f64),
    Bool(bool),
    List(Cow<'v, [Json]>),
}

/// The variables a path's steps index, with the slots and trackers their operands name: the
/// variables of one bundle ([`Analysis::space`]) or of two bundles compared (`govern diff`).
#[derive(Clone, Copy)]
pub struct Space<'a> {
    pub vars: &'a [Var],
    pub slots: &'a [Vec<String>],
    pub trackers: &'a [Tracker],
}

impl Analysis {
    /// The variables of the bundle, for [`synthesize_in`].
    pub fn space(&self) -> Space<'_> {
        Space {
            vars: &self.vars,
            slots: &self.slots,
            trackers: &self.trackers,
        }
    }
}

/// Looks for an event that follows `path`. `None` when none was found within the budget.
pub fn synthesize(a: &Analysis, path: &[Step]) -> Option<Json> {
    synthesize_in(&a.space(), path)
}

/// [`synthesize`] over any variable space.
pub fn synthesize_in(a: &Space<'_>, path: &[Step]) -> Option<Json> {
    let mut s = Synth {
        a,
        regexes: BTreeMap::new(),
        budget: BUDGET,
        memo: None,
    };
    s.run(path)
}

/// [`synthesize_in`] for many paths over one variable space: each slot's candidates, and
/// whether each candidate gives the steps that read that slot alone their outcomes, are kept
/// in `memo` for the next paths that say the same of the slot. The same candidates are tried
/// in the same order, with the same outcome.
pub fn synthesize_kept(a: &Space<'_>, path: &[Step], memo: &mut SynthMemo) -> Option<Json> {
    if memo.slots.len() >= SYNTH_MEMO_MAX {
        memo.slots.clear();
    }
    let mut s = Synth {
        a,
        regexes: BTreeMap::new(),
        budget: BUDGET,
        memo: Some(memo),
    };
    s.run(path)
}

/// What the syntheses of one variable space found of its slots, by [`SlotKey`].
#[derive(Default)]
pub struct SynthMemo {
    slots: rustc_hash::FxHashMap<SlotKey, std::rc::Rc<SlotMemo>>,
}

/// The most slots a [`SynthMemo`] keeps before it is emptied.
const SYNTH_MEMO_MAX: usize = 4096;

/// What a slot's candidates depend on: the slot, and in path order each step that reads it
/// (among others perhaps), its variable and outcome. Whether a candidate gives the steps that
/// read the slot alone their outcomes depends on the same (those steps are among them).
type SlotKey = (u32, Vec<(u32, BranchKey)>);

/// A [`Branch`] that can be hashed: a range's bounds as bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BranchKey {
    Const(u32),
    Other(Vec<u32>),
    Range(Option<(u64, bool)>, Option<(u64, bool)>),
    True,
    False,
    Unknown,
}

impl BranchKey {
    pub(crate) fn of(b: &Branch) -> BranchKey {
        let bits = |b: &Option<(f64, bool)>| b.map(|(x, inc)| (x.to_bits(), inc));
        match b {
            Branch::Const(c) => BranchKey::Const(*c),
            Branch::Other(v) => BranchKey::Other(v.clone()),
            Branch::Range { lo, hi } => BranchKey::Range(bits(lo), bits(hi)),
            Branch::True => BranchKey::True,
            Branch::False => BranchKey::False,
            Branch::Unknown => BranchKey::Unknown,
        }
    }
}

/// A slot's candidates, and for each whether it gives the steps that read the slot alone
/// their outcomes (`None` until checked).
struct SlotMemo {
    cands: Vec<Option<Json>>,
    alone: std::cell::RefCell<Vec<Option<bool>>>,
}

/// Whether `event` gives the step's variable the step's outcome (a fresh stream: counts are 0
/// and nothing has been seen).
pub fn step_holds(a: &Space<'_>, step: &Step, event: &Json) -> bool {
    Checker::new(a).holds(step, event)
}

/// Tells whether events give steps their outcomes, compiling each regex once.
pub struct Checker<'a> {
    synth: Synth<'a>,
}

impl<'a> Checker<'a> {
    pub fn new(a: &'a Space<'a>) -> Checker<'a> {
        Checker {
            synth: Synth {
                a,
                regexes: BTreeMap::new(),
                budget: 0,
                memo: None,
            },
        }
    }

    /// [`step_holds`], with the regexes compiled so far.
    pub fn holds(&mut self, step: &Step, event: &Json) -> bool {
        self.synth.step_holds(step, event)
    }
}

/// The steps of a path checked when one slot is assigned (its last slot), and the slots they
/// read.
#[derive(Clone, Default)]
struct Due {
    steps: Vec<usize>,
    /// Those of them that read this slot only …
    single: Vec<usize>,
    /// … and the others, with the slots they read.
    multi: Vec<usize>,
    slots: Vec<u32>,
}

struct Synth<'a> {
    a: &'a Space<'a>,
    regexes: BTreeMap<String, Option<std::sync::Arc<Regex>>>,
    budget: usize,
    /// Slots' candidates and their checks kept from path to path, if asked for.
    memo: Option<&'a mut SynthMemo>,
}

impl Synth<'_> {
    fn run(&mut self, path: &[Step]) -> Option<Json> {
        // The slots each step reads.
        let mut step_slots: Vec<BTreeSet<u32>> = Vec::new();
        let mut all: BTreeSet<u32> = BTreeSet::new();
        for st in path {
            let mut set = BTreeSet::new();
            if let Some(v) = self.a.vars.get(st.var as usize) {
                var_slots(self.a, v, &mut set);
            }
            all.extend(set.iter().copied());
            step_slots.push(set);
        }
        let slots: Vec<u32> = all.into_iter().collect();
        // Each slot's candidates, with what is known of them alone: kept from earlier paths
        // when the memo holds the slot's key, made (and kept) otherwise.
        let mut memos: Vec<std::rc::Rc<SlotMemo>> = Vec::with_capacity(slots.len());
        for &slot in &slots {
            let key = self.memo.is_some().then(|| {
                let steps = path
                    .iter()
                    .zip(&step_slots)
                    .filter(|(_, ss)| ss.contains(&slot))
                    .map(|(st, _)| (st.var, BranchKey::of(&st.branch)))
                    .collect::<Vec<_>>();
                (slot, steps)
            });
            let kept = match (&key, self.memo.as_ref()) {
                (Some(key), Some(memo)) => memo.slots.get(key).cloned(),
                _ => None,
            };
            if let Some(m) = kept {
                // A debug build makes them again: the key holds all they depend on.
                debug_assert!(m.cands == self.candidates(slot, path));
                memos.push(m);
                continue;
            }
            let cands = self.candidates(slot, path);
            let m = std::rc::Rc::new(SlotMemo {
                alone: std::cell::RefCell::new(vec![None; cands.len()]),
                cands,
            });
            if let (Some(key), Some(memo)) = (key, self.memo.as_mut()) {
                memo.slots.insert(key, m.clone());
            }
            memos.push(m);
        }
        let cands: Vec<&Vec<Option<Json>>> = memos.iter().map(|m| &m.cands).collect();
        // When no attribute the path reads lies inside another and none is derived from `ts`,
        // every attribute of the event is the value assigned to it: a step is then checked on
        // an event that holds only its own attributes, and the whole event is built once.
        let paths: Vec<&Vec<String>> = slots
            .iter()
            .filter_map(|s| self.a.slots.get(*s as usize))
            .collect();
        let separate = paths.len() == slots.len()
            && paths.iter().all(|p| {
                !p.is_empty()
                    && p.first().is_none_or(|h| h != "time" && h != "ts")
                    && paths
                        .iter()
                        .all(|q| std::ptr::eq(*p, *q) || !q.starts_with(p.as_slice()))
            });
        // Slots are assigned in order: a step is checked once the last of its slots is, and
        // then on the attributes it reads.
        let mut due: Vec<Due> = vec![Due::default(); slots.len()];
        for (k, ss) in step_slots.iter().enumerate() {
            let Some(last) = ss.last() else { continue };
            if let Ok(i) = slots.binary_search(last)
                && let Some(d) = due.get_mut(i)
            {
                d.steps.push(k);
                if ss.len() == 1 {
                    d.single.push(k);
                } else {
                    d.multi.push(k);
                    d.slots.extend(ss.iter().copied());
                }
            }
        }
        for d in due.iter_mut() {
            d.slots.sort_unstable();
            d.slots.dedup();
        }
        // Whether a candidate satisfies the steps that read its slot alone (the same whatever
        // the other slots hold, when they are separate) is kept in the slot's memo.
        let mut assigned: BTreeMap<u32, Option<Json>> = BTreeMap::new();
        // A slot none of whose candidates gives the steps that read it alone their outcomes
        // leaves no event to find, whatever the other slots hold: the search would end
        // without one (at its end or its budget), and here ends before it starts. Each slot
        // is checked up to its first candidate that passes, and what is checked is kept for
        // the search.
        if separate {
            for (i, &slot) in slots.iter().enumerate() {
                let (Some(options), Some(now)) = (cands.get(i), due.get(i)) else {
                    continue;
                };
                if now.single.is_empty() {
                    continue;
                }
                let Some(m) = memos.get(i) else {
                    continue;
                };
                let mut any = false;
                for (ci, c) in options.iter().enumerate() {
                    if self.alone_kept(m, ci, slot, c, path, now) {
                        any = true;
                        break;
                    }
                }
                if !any {
                    return None;
                }
            }
        }
        let found = if separate {
            self.search_separate(0, &slots, &cands, path, &due, &memos, &mut assigned)
        } else {
            self.search(0, &slots, &cands, path, &due, &mut assigned)
        };
        if found {
            return build_event(self.a, &assigned);
        }
        None
    }

    fn search(
        &mut self,
        i: usize,
        slots: &[u32],
        cands: &[&Vec<Option<Json>>],
        path: &[Step],
        due: &[Due],
        assigned: &mut BTreeMap<u32, Option<Json>>,
    ) -> bool {
        let Some(&slot) = slots.get(i) else {
            return true;
        };
        let (Some(options), Some(now)) = (cands.get(i), due.get(i)) else {
            return false;
        };
        for c in options.iter() {
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            assigned.insert(slot, c.clone());
            let Some(event) = build_event(self.a, assigned) else {
                continue;
            };
            // The steps whose slots are all assigned now, this one last.
            let ok = now
                .steps
                .iter()
                .all(|k| path.get(*k).is_some_and(|st| self.step_holds(st, &event)));
            if ok && self.search(i + 1, slots, cands, path, due, assigned) {
                return true;
            }
        }
        assigned.remove(&slot);
        false
    }

    /// [`Synth::search`] for separate slots (see `run`): the same candidates tried in the same
    /// order with the same outcome, each step checked on an event that holds only the
    /// attributes it reads, and a step of one slot checked once per candidate.
    #[allow(clippy::too_many_arguments)]
    fn search_separate(
        &mut self,
        i: usize,
        slots: &[u32],
        cands: &[&Vec<Option<Json>>],
        path: &[Step],
        due: &[Due],
        memos: &[std::rc::Rc<SlotMemo>],
        assigned: &mut BTreeMap<u32, Option<Json>>,
    ) -> bool {
        let Some(&slot) = slots.get(i) else {
            return true;
        };
        let (Some(options), Some(now), Some(m)) = (cands.get(i), due.get(i), memos.get(i)) else {
            return false;
        };
        for (ci, c) in options.iter().enumerate() {
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            if !self.alone_kept(m, ci, slot, c, path, now) {
                continue;
            }
            assigned.insert(slot, c.clone());
            if !now.multi.is_empty() {
                let own: BTreeMap<u32, Option<Json>> = now
                    .slots
                    .iter()
                    .filter_map(|s| Some((*s, assigned.get(s)?.clone())))
                    .collect();
                let ok = build_event(self.a, &own).is_some_and(|event| {
                    now.multi
                        .iter()
                        .all(|k| path.get(*k).is_some_and(|st| self.step_holds(st, &event)))
                });
                if !ok {
                    continue;
                }
            }
            if self.search_separate(i + 1, slots, cands, path, due, memos, assigned) {
                return true;
            }
        }
        assigned.remove(&slot);
        false
    }

    /// [`Synth::alone_holds`] of candidate `ci` of a slot, `c`, kept in the slot's memo.
    fn alone_kept(
        &mut self,
        m: &SlotMemo,
        ci: usize,
        slot: u32,
        c: &Option<Json>,
        path: &[Step],
        now: &Due,
    ) -> bool {
        if let Some(ok) = m.alone.borrow().get(ci).copied().flatten() {
            // A debug build checks it again: the slot's key holds all it depends on.
            debug_assert_eq!(ok, self.alone_holds(slot, c, path, now));
            return ok;
        }
        let ok = self.alone_holds(slot, c, path, now);
        if let Some(x) = m.alone.borrow_mut().get_mut(ci) {
            *x = Some(ok);
        }
        ok
    }

    /// Whether candidate `c` for `slot` gives the steps that read it alone (`now.single`)
    /// their outcomes, on an event holding only that attribute.
    fn alone_holds(&mut self, slot: u32, c: &Option<Json>, path: &[Step], now: &Due) -> bool {
        now.single.is_empty() || {
            let own = BTreeMap::from([(slot, c.clone())]);
            build_event(self.a, &own).is_some_and(|event| {
                now.single
                    .iter()
                    .all(|k| path.get(*k).is_some_and(|st| self.step_holds(st, &event)))
            })
        }
    }

    fn regex(&mut self, src: &str) -> Option<&Regex> {
        if !self.regexes.contains_key(src) {
            self.regexes.insert(src.to_string(), compiled_regex(src));
        }
        self.regexes.get(src).and_then(|r| r.as_deref())
    }

    /// Whether the event gives the step's variable the step's outcome.
    fn step_holds(&mut self, st: &Step, ev: &Json) -> bool {
        let Some(var) = self.a.vars.get(st.var as usize) else {
            return false;
        };
        match var {
            Var::Switch { operand, consts } => {
                let v = self.operand(operand, ev);
                match (&st.branch, v) {
                    (Branch::Const(c), Some(V::Str(s))) => {
                        consts.get(*c as usize).is_some_and(|k| *k == s)
                    }
                    (Branch::Other(excl), Some(V::Str(s))) => excl
                        .iter()
                        .all(|c| consts.get(*c as usize).is_none_or(|k| *k != s)),
                    (Branch::Unknown, None) => true,
                    _ => false,
                }
            }
            Var::Thresh { operand } => match (&st.branch, self.operand(operand, ev)) {
                (Branch::Range { lo, hi }, Some(V::Num(n))) => in_range(n, *lo, *hi),
                (Branch::Unknown, None) => true,
                _ => false,
            },
            Var::Bool { operand } => {
                let tv = match self.operand(operand, ev) {
                    Some(V::Bool(b)) => Some(b),
                    _ => None,
                };
                branch_is(&st.branch, tv)
            }
            Var::Has { slot } => {
                let present = present(self.a, *slot, ev);
                branch_is(&st.branch, Some(present))
            }
            Var::Pred(p) => {
                let tv = self.pred(p, ev);
                branch_is(&st.branch, tv)
            }
        }
    }

    fn pred(&mut self, p: &Pred, ev: &Json) -> Option<bool> {
        match p {
            Pred::Cmp { op, lhs, rhs } => {
                let a = self.operand(lhs, ev)?;
                let b = self.operand(rhs, ev)?;
                match (&a, &b) {
                    (V::Num(x), V::Num(y)) => Some(op.holds(*x, *y)),
                    _ => match op {
                        CmpOp::Eq => Some(a == b),
                        CmpOp::Ne => Some(a != b),
                        _ => None,
                    },
                }
            }
            Pred::In { lhs, values } => {
                let v = self.operand(lhs, ev)?;
                let mut found = false;
                for c in values {
                    if self.operand(c, ev).as_ref() == Some(&v) {
                        found = true;
                    }
                }
                Some(found)
            }
            Pred::Contains { hay, needle } => {
                let h = self.operand(hay, ev)?;
                let n = self.operand(needle, ev)?;
                match (&h, &n) {
                    (V::Str(s), V::Str(t)) => Some(s.contains(t.as_ref())),
                    (V::List(items), n) => Some(items.iter().any(|i| json_is(i, n))),
                    _ => None,
                }
            }
            Pred::StartsWith { lhs, rhs } | Pred::EndsWith { lhs, rhs } => {
                let (Some(V::Str(a)), Some(V::Str(b))) =
                    (self.operand(lhs, ev), self.operand(rhs, ev))
                else {
                    return None;
                };
                Some(if matches!(p, Pred::StartsWith { .. }) {
                    a.starts_with(b.as_ref())
                } else {
                    a.ends_with(b.as_ref())
                })
            }
            Pred::Regex { lhs, regex, .. } => {
                let Some(V::Str(s)) = self.operand(lhs, ev) else {
                    return None;
                };
                Some(self.regex(regex)?.is_match(&s))
            }
        }
    }

    fn operand<'v>(&self, o: &'v Operand, ev: &'v Json) -> Option<V<'v>> {
        match o {
            Operand::Slot { slot, ty } => lookup(self.a, *slot, *ty, ev),
            Operand::Str(s) => Some(V::Str(Cow::Borrowed(s))),
            Operand::Num(n) => Some(V::Num(*n)),
            Operand::Bool(b) => Some(V::Bool(*b)),
            Operand::Func { func, arg } => {
                let v = self.operand(arg, ev)?;
                Some(match (func, v) {
                    (Func::Len, V::Str(s)) => V::Num(s.chars().count() as f64),
                    (Func::Len, V::List(items)) => V::Num(items.len() as f64),
                    (Func::Lower, V::Str(s)) => V::Str(Cow::Owned(crate::builtins::lower(&s))),
                    (Func::Upper, V::Str(s)) => V::Str(Cow::Owned(crate::builtins::upper(&s))),
                    (Func::NormPath, V::Str(s)) => {
                        V::Str(Cow::Owned(crate::builtins::norm_path(&s)))
                    }
                    (Func::UrlHost, V::Str(s)) => V::Str(Cow::Owned(crate::builtins::url_host(&s))),
                    (Func::FoldEach, V::List(items)) => {
                        let mut out = Vec::with_capacity(items.len());
                        for i in items.iter() {
                            let Json::String(s) = i else {
                                return None;
                            };
                            match applied(Func::Fold, s)? {
                                V::Str(v) => out.push(Json::String(v.into_owned())),
                                _ => return None,
                            }
                        }
                        V::List(Cow::Owned(out))
                    }
                    (f, V::Str(s)) => applied(*f, &s)?,
                    _ => return None,
                })
            }
            Operand::Tracker(t) => {
                // A single event on a fresh stream: nothing counted yet, when the key is known.
                let tr = self.a.trackers.get(*t as usize)?;
                for &p in &tr.per {
                    lookup(self.a, p, Ty::Scalar, ev)?;
                }
                Some(match tr.kind {
                    StatefulKind::Seen => V::Bool(false),
                    _ => V::Num(0.0),
                })
            }
        }
    }

    /// Values to try for a slot, the most likely first; `None` is "absent".
    fn candidates(&mut self, slot: u32, path: &[Step]) -> Vec<Option<Json>> {
        /// The most constants of one test tried as values.
        const CANDIDATES_PER_TEST: usize = 64;
        let mut out: Vec<Option<Json>> = Vec::new();
        let push = |out: &mut Vec<Option<Json>>, v: Option<Json>| {
            if !out.contains(&v) {
                out.push(v);
            }
        };
        let is_time = self
            .a
            .slots
            .get(slot as usize)
            .is_some_and(|p| p.first().is_some_and(|s| s == "time"));
        let mut strings: Vec<String> = Vec::new();
        let mut numbers: Vec<f64> = Vec::new();
        let mut lists = false;
        let mut fold_lists: Vec<String> = Vec::new();
        let mut wants_absent = false;
        for st in path {
            let Some(var) = self.a.vars.get(st.var as usize) else {
                continue;
            };
            let mut set = BTreeSet::new();
            var_slots(self.a, var, &mut set);
            if !set.contains(&slot) {
                continue;
            }
            if st.branch == Branch::Unknown || st.branch == Branch::False {
                wants_absent = true;
            }
            match var {
                Var::Switch { operand, consts } => {
                    // The constant the path takes first, then a few others: a switch over a
                    // set of a million names needs no million candidates.
                    let func = outer_func(operand);
                    if let Branch::Const(i) = st.branch
                        && let Some(c) = consts.get(i as usize)
                    {
                        strings.insert(0, invert(func, c));
                    }
                    for c in consts.iter().take(CANDIDATES_PER_TEST) {
                        strings.push(invert(func, c));
                    }
                    strings.push("other".into());
                }
                Var::Thresh { operand } => {
                    let len = matches!(
                        operand,
                        Operand::Func {
                            func: Func::Len,
                            ..
                        }
                    );
                    if let Branch::Range { lo, hi } = &st.branch
                        && let Some(n) = pick(*lo, *hi)
                    {
                        if lo.is_some()
                            && let Some(rich) = detected_items(operand, n)
                        {
                            strings.insert(0, rich);
                        }
                        if len {
                            let k = n.clamp(0.0, 4096.0) as usize;
                            strings.insert(0, "a".repeat(k));
                        } else {
                            numbers.insert(0, n);
                        }
                    }
                }
                Var::Bool { .. } => {}
                Var::Has { .. } => {}
                Var::Pred(p) => match p {
                    Pred::Regex { regex, .. } => {
                        if let Some(ex) = regex_example(regex) {
                            if st.branch == Branch::True {
                                strings.insert(0, ex);
                            } else {
                                strings.push(ex);
                            }
                        }
                        strings.push("zz".into());
                    }
                    Pred::StartsWith { rhs, .. } => {
                        if let Operand::Str(c) = rhs {
                            strings.push(format!("{c}zz"));
                        }
                    }
                    Pred::EndsWith { rhs, .. } => {
                        if let Operand::Str(c) = rhs {
                            strings.push(format!("zz{c}"));
                        }
                    }
                    Pred::Contains { hay, needle } => {
                        let folded = matches!(
                            hay,
                            Operand::Func {
                                func: Func::FoldEach,
                                ..
                            }
                        );
                        if let Operand::Str(c) = needle {
                            strings.push(c.clone());
                            strings.push(format!("zz{c}zz"));
                            if folded {
                                // Items `fold` takes to the needle without being it, tried
                                // first as lists: a list holding one tells `fold_each(x)
                                // contains c` from `x contains c`.
                                fold_lists.push(format!(" {c}"));
                                let up = c.to_uppercase();
                                if up != *c {
                                    fold_lists.push(up);
                                }
                                fold_lists.push(c.clone());
                            }
                        }
                        if folded {
                            lists = true;
                        }
                        if matches!(
                            hay,
                            Operand::Slot {
                                ty: Ty::List(_) | Ty::StrOrList(_),
                                ..
                            }
                        ) {
                            lists = true;
                        }
                    }
                    Pred::In { values, .. } => {
                        for v in values.iter().take(CANDIDATES_PER_TEST) {
                            match v {
                                Operand::Str(s) => strings.push(s.clone()),
                                Operand::Num(n) => numbers.push(*n),
                                _ => {}
                            }
                        }
                    }
                    Pred::Cmp { lhs, rhs, .. } => {
                        for o in [lhs, rhs] {
                            match o {
                                Operand::Str(s) => strings.push(s.clone()),
                                Operand::Num(n) => numbers.push(*n),
                                _ => {}
                            }
                        }
                        strings.push("same".into());
                        numbers.push(1.0);
                    }
                },
            }
        }
        if is_time {
            // `time.*` comes from `ts`: the candidates are timestamps (handled in `build_event`
            // through the `ts` slot); the derived slot itself takes only markers.
            for n in &numbers {
                push(&mut out, Some(num_json(*n)));
            }
            for h in [10.0, 0.0, 12.0, 23.0] {
                push(&mut out, Some(Json::from(h)));
            }
            push(&mut out, None);
            return out;
        }
        if wants_absent {
            push(&mut out, None);
        }
        for s in &fold_lists {
            push(&mut out, Some(Json::Array(vec![Json::String(s.clone())])));
        }
        for s in &strings {
            push(&mut out, Some(Json::String(s.clone())));
        }
        for n in &numbers {
            push(&mut out, Some(num_json(*n)));
        }
        if lists {
            for s in &strings {
                push(&mut out, Some(Json::Array(vec![Json::String(s.clone())])));
            }
            push(&mut out, Some(Json::Array(Vec::new())));
        }
        for v in [
            Some(Json::Bool(true)),
            Some(Json::Bool(false)),
            Some(Json::Object(Map::new())),
            Some(Json::from(0)),
            Some(Json::String(String::new())),
            Some(Json::String("zz".into())),
            Some(Json::Array(Vec::new())),
            None,
        ] {
            push(&mut out, v);
        }
        out.truncate(48);
        out
    }
}

/// A string in which the detector that `operand` counts finds `n` items, for a step that
/// needs at least one: `pii_count(x)` (`n` e-mail addresses) or `len(secrets(x))`, also of a
/// decoding of `x` (credentials of `n` kinds, in which `secrets` may find more kinds); `None`
/// for any other operand, or
/// when `n` is not a whole number from 1 up to the items at hand. No string made of the
/// policies' constants holds twenty e-mail addresses, so a region that needs
/// `pii_count(x) >= 20` was never reached without it. The checker still decides every step
/// on the string, like any other candidate.
pub(crate) fn detected_items(operand: &Operand, n: f64) -> Option<String> {
    /// Credentials of different kinds, each found by `secrets` (its tests hold the formats).
    const SECRETS: [&str; 4] = [
        "AKIAZ7QYXW3V2U4T6S5R",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc0000",
        "glpat-xxyyzz1234567890abcdEF",
    ];
    if n.fract() != 0.0 || !(1.0..=1000.0).contains(&n) {
        return None;
    }
    let n = n as usize;
    match operand {
        Operand::Func {
            func: Func::PiiCount,
            ..
        } => Some(vec!["person@example.com"; n].join(" ")),
        Operand::Func {
            func: Func::Len,
            arg,
        } if matches!(
            **arg,
            Operand::Func {
                func: Func::Secrets,
                ..
            }
        ) =>
        {
            Some(SECRETS.get(..n)?.join(" "))
        }
        _ => None,
    }
}

/// A number as JSON: an integer when it is one.
fn num_json(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Json::from(n as i64)
    } else {
        Json::from(n)
    }
}

fn branch_is(b: &Branch, tv: Option<bool>) -> bool {
    matches!(
        (b, tv),
        (Branch::True, Some(true)) | (Branch::False, Some(false)) | (Branch::Unknown, None)
    )
}

fn in_range(n: f64, lo: Option<(f64, bool)>, hi: Option<(f64, bool)>) -> bool {
    let above = match lo {
        None => true,
        Some((l, true)) => n >= l,
        Some((l, false)) => n > l,
    };
    let below = match hi {
        None => true,
        Some((h, true)) => n <= h,
        Some((h, false)) => n < h,
    };
    above && below
}

/// A number in the range, preferring round ones.
fn pick(lo: Option<(f64, bool)>, hi: Option<(f64, bool)>) -> Option<f64> {
    let cands: Vec<f64> = match (lo, hi) {
        (Some((l, true)), _) if in_range(l, lo, hi) => vec![l],
        (None, None) => vec![0.0],
        (None, Some((h, _))) => vec![(h - 1.0).floor(), h - 1.0, h - 0.5],
        (Some((l, _)), None) => vec![(l + 1.0).floor(), l + 1.0, l + 0.5],
        (Some((l, _)), Some((h, _))) => {
            vec![(l + 1.0).floor(), l.floor() + 1.0, (l + h) / 2.0]
        }
    };
    cands.into_iter().find(|n| in_range(*n, lo, hi))
}

/// The innermost function applied directly to a slot in a switch operand.
fn outer_func(o: &Operand) -> Option<Func> {
    match o {
        Operand::Func { func, .. } => Some(*func),
        _ => None,
    }
}

/// A string `s` such that `func(s)` is `c`, when one is easy to give.
fn invert(func: Option<Func>, c: &str) -> String {
    match func {
        Some(Func::UrlHost) => format!("https://{c}/"),
        _ => c.to_string(),
    }
}

/// The slots a variable reads, including the keys of trackers.
pub(crate) fn var_slots(a: &Space<'_>, v: &Var, out: &mut BTreeSet<u32>) {
    fn op(a: &Space<'_>, o: &Operand, out: &mut BTreeSet<u32>) {
        match o {
            Operand::Slot { slot, .. } => {
                out.insert(*slot);
            }
            Operand::Func { arg, .. } => op(a, arg, out),
            Operand::Tracker(t) => {
                if let Some(tr) = a.trackers.get(*t as usize) {
                    out.extend(tr.per.iter().copied());
                }
            }
            _ => {}
        }
    }
    match v {
        Var::Switch { operand, .. } | Var::Thresh { operand } | Var::Bool { operand } => {
            op(a, operand, out)
        }
        Var::Has { slot } => {
            out.insert(*slot);
        }
        Var::Pred(p) => match p {
            Pred::Cmp { lhs, rhs, .. }
            | Pred::StartsWith { lhs, rhs }
            | Pred::EndsWith { lhs, rhs } => {
                op(a, lhs, out);
                op(a, rhs, out);
            }
            Pred::Contains { hay, needle } => {
                op(a, hay, out);
                op(a, needle, out);
            }
            Pred::In { lhs, values } => {
                op(a, lhs, out);
                for v in values {
                    op(a, v, out);
                }
            }
            Pred::Regex { lhs, .. } => op(a, lhs, out),
        },
    }
}

/// The event holding the assigned values. `time.*` slots set `ts` to a time with that hour
/// (or weekday). `None` when two assignments collide (a value where a record must be).
pub(crate) fn build_event(a: &Space<'_>, assigned: &BTreeMap<u32, Option<Json>>) -> Option<Json> {
    let mut root = Map::new();
    let mut hour: Option<f64> = None;
    let mut weekday: Option<f64> = None;
    let mut time_absent = false;
    for (slot, v) in assigned {
        let path = a.slots.get(*slot as usize)?;
        if path.first().is_some_and(|s| s == "time") {
            match v {
                None => time_absent = true,
                Some(j) => {
                    let n = j.as_f64()?;
                    match path.get(1).map(String::as_str) {
                        Some("hour") => hour = Some(n),
                        Some("weekday") => weekday = Some(n),
                        _ => {}
                    }
                }
            }
            continue;
        }
        let Some(v) = v else { continue };
        insert(&mut root, path, v.clone())?;
    }
    if hour.is_some() || weekday.is_some() {
        if time_absent {
            return None;
        }
        let h = hour.unwrap_or(10.0);
        let w = weekday.unwrap_or(1.0);
        if !(0.0..24.0).contains(&h) || h.fract() != 0.0 || !(1.0..=7.0).contains(&w) {
            return None;
        }
        // 2026-11-23 is a Monday.
        let day = 23 + (w as i64 - 1);
        let ts = format!("2026-11-{day:02}T{:02}:00:00Z", h as i64);
        if root
            .get("ts")
            .is_some_and(|t| t.as_str() != Some(ts.as_str()))
        {
            return None;
        }
        root.insert("ts".into(), Json::String(ts));
    } else if time_absent
        && let Some(t) = root.get("ts")
        && t.as_str().and_then(crate::time::parse_rfc3339).is_some()
    {
        return None;
    }
    Some(Json::Object(root))
}

fn insert(root: &mut Map<String, Json>, path: &[String], v: Json) -> Option<()> {
    let (last, parents) = path.split_last()?;
    let mut cur = root;
    for seg in parents {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| Json::Object(Map::new()));
        cur = entry.as_object_mut()?;
    }
    match (cur.get(last), &v) {
        // A record already filled by a deeper path stays; a value cannot replace it.
        (Some(Json::Object(_)), Json::Object(_)) => Some(()),
        (Some(_), _) => None,
        (None, _) => {
            cur.insert(last.clone(), v);
            Some(())
        }
    }
}

fn raw<'e>(ev: &'e Json, path: &[String]) -> Option<&'e Json> {
    let mut cur = ev;
    for seg in path {
        cur = cur.as_object()?.get(seg)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn event_ts(ev: &Json) -> Option<i64> {
    ev.get("ts")
        .and_then(Json::as_str)
        .and_then(crate::time::parse_rfc3339)
}

fn present(a: &Space<'_>, slot: u32, ev: &Json) -> bool {
    let Some(path) = a.slots.get(slot as usize) else {
        return false;
    };
    if path.first().is_some_and(|s| s == "time") {
        return event_ts(ev).is_some();
    }
    raw(ev, path).is_some()
}

fn lookup<'v>(a: &Space<'_>, slot: u32, ty: Ty, ev: &'v Json) -> Option<V<'v>> {
    let path = a.slots.get(slot as usize)?;
    if path.first().is_some_and(|s| s == "time") {
        let ts = event_ts(ev)?;
        let n = match path.get(1).map(String::as_str) {
            Some("hour") => crate::time::hour(ts),
            Some("weekday") => crate::time::weekday(ts),
            _ => return None,
        };
        return matches!(ty, Ty::Number | Ty::Scalar).then_some(V::Num(n));
    }
    typed(raw(ev, path)?, ty)
}

fn typed(v: &Json, ty: Ty) -> Option<V<'_>> {
    use crate::check::Scalar;
    fn scalar(v: &Json, s: Scalar) -> Option<V<'_>> {
        match (v, s) {
            (Json::String(x), Scalar::String) => Some(V::Str(Cow::Borrowed(x))),
            (Json::Number(n), Scalar::Number) => n.as_f64().map(V::Num),
            (Json::Bool(b), Scalar::Bool) => Some(V::Bool(*b)),
            _ => None,
        }
    }
    match ty {
        Ty::String => scalar(v, Scalar::String),
        Ty::Number => scalar(v, Scalar::Number),
        Ty::Bool => scalar(v, Scalar::Bool),
        Ty::List(s) => {
            let items = v.as_array()?;
            if items.iter().all(|i| scalar(i, s).is_some()) {
                Some(V::List(Cow::Borrowed(items)))
            } else {
                None
            }
        }
        Ty::Seq => match v {
            Json::String(s) => Some(V::Str(Cow::Borrowed(s))),
            Json::Array(items) => Some(V::List(Cow::Borrowed(items))),
            _ => None,
        },
        Ty::StrOrList(s) => match v {
            Json::String(x) => Some(V::Str(Cow::Borrowed(x))),
            _ => typed(v, Ty::List(s)),
        },
        Ty::Scalar => match v {
            Json::String(x) => Some(V::Str(Cow::Borrowed(x))),
            Json::Number(n) => n.as_f64().map(V::Num),
            Json::Bool(b) => Some(V::Bool(*b)),
            _ => None,
        },
        Ty::Timestamp => {
            let s = v.as_str()?;
            crate::time::parse_rfc3339(s).map(|_| V::Str(Cow::Borrowed(s)))
        }
    }
}

fn json_is(item: &Json, v: &V) -> bool {
    match (item, v) {
        (Json::String(a), V::Str(b)) => a.as_str() == b.as_ref(),
        (Json::Number(a), V::Num(b)) => a.as_f64() == Some(*b),
        (Json::Bool(a), V::Bool(b)) => a == b,
        _ => false,
    }
}

/// A short string the regex matches (searching), or `None` when the pattern is not simple
/// enough to generate from.
pub fn regex_example(pattern: &str) -> Option<String> {
    remembered(&EXAMPLE, pattern, || {
        four_examples(pattern).first().cloned().flatten()
    })
}

/// Several strings the regex matches, made different ways: repetitions as few as allowed or
/// at least once, the first or the last alternative.
pub fn regex_examples(pattern: &str) -> Vec<String> {
    remembered(&EXAMPLES, pattern, || examples_of(pattern))
}

/// The most entries a cache of [`remembered`] holds before it is emptied.
const REMEMBERED: usize = 4096;

thread_local! {
    /// [`regex_example`] of the patterns asked about on this thread.
    static EXAMPLE: std::cell::RefCell<rustc_hash::FxHashMap<String, Option<String>>> =
        Default::default();
    /// [`four_examples`] of the patterns asked about on this thread.
    static FOUR: std::cell::RefCell<rustc_hash::FxHashMap<String, std::rc::Rc<[Option<String>; 4]>>> =
        Default::default();
    /// [`regex_examples`] of the patterns asked about on this thread.
    static EXAMPLES: std::cell::RefCell<rustc_hash::FxHashMap<String, Vec<String>>> =
        Default::default();
    /// The regexes [`Synth`]s of this thread compiled (`None`: the pattern does not compile).
    static COMPILED: std::cell::RefCell<rustc_hash::FxHashMap<String, Option<std::sync::Arc<Regex>>>> =
        Default::default();
}

/// `make()`, remembered by `key` in a cache of this thread: the witness searches of one
/// comparison ask about the same few patterns for every region. The values are pure
/// functions of the key, so a remembered one is the one `make` would give.
fn remembered<T: Clone>(
    cache: &'static std::thread::LocalKey<std::cell::RefCell<rustc_hash::FxHashMap<String, T>>>,
    key: &str,
    make: impl FnOnce() -> T,
) -> T {
    if let Some(v) = cache.with(|c| c.borrow().get(key).cloned()) {
        return v;
    }
    let v = make();
    cache.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= REMEMBERED {
            c.clear();
        }
        c.insert(key.to_string(), v.clone());
    });
    v
}

/// `func(s)` as a value, for a function of a string ([`crate::builtins::apply`]),
/// remembered per thread: the searches of a comparison check the same candidate strings
/// against the same functions (`secrets(decoded(x))`, `pii_count(x)`) for every step that
/// reads them and every region. The functions are pure, so a remembered value is the one
/// `apply` would give; the cache is emptied past [`REMEMBERED`] strings.
fn applied(func: Func, s: &str) -> Option<V<'static>> {
    type Values = rustc_hash::FxHashMap<Func, rustc_hash::FxHashMap<String, Option<V<'static>>>>;
    thread_local! {
        static APPLIED: std::cell::RefCell<(Values, usize)> = Default::default();
    }
    let found = APPLIED.with(|c| c.borrow().0.get(&func).and_then(|m| m.get(s).cloned()));
    if let Some(v) = found {
        return v;
    }
    let v = crate::builtins::apply(func, s).map(|v| match v {
        crate::builtins::FnValue::Str(v) => V::Str(Cow::Owned(v)),
        crate::builtins::FnValue::Num(n) => V::Num(n),
        crate::builtins::FnValue::Bool(b) => V::Bool(b),
        crate::builtins::FnValue::List(items) => {
            V::List(Cow::Owned(items.into_iter().map(Json::String).collect()))
        }
    });
    APPLIED.with(|c| {
        let mut c = c.borrow_mut();
        if c.1 >= REMEMBERED {
            c.0.clear();
            c.1 = 0;
        }
        c.1 += 1;
        c.0.entry(func)
            .or_default()
            .insert(s.to_string(), v.clone());
    });
    v
}

/// The regex of a pattern as the VM compiles it, compiled once per thread, or taken from
/// the regexes a checked bundle of this process already compiled ([`share_regexes`]). The
/// regex itself is shared, not cloned: a clone of a `Regex` has a pool of scratch caches of
/// its own, and every search on a fresh cache builds its lazy DFA's states again.
fn compiled_regex(src: &str) -> Option<std::sync::Arc<Regex>> {
    remembered(&COMPILED, src, || {
        let shared = SHARED.read().ok().and_then(|m| m.get(src).cloned());
        shared.or_else(|| {
            crate::check::pattern::build_regex(src)
                .ok()
                .map(std::sync::Arc::new)
        })
    })
}

/// The regexes checked bundles of this process compiled, by the regex source they were
/// compiled from ([`share_regexes`]); emptied past [`REMEMBERED`] patterns.
type SharedRegexes = rustc_hash::FxHashMap<String, std::sync::Arc<Regex>>;
static SHARED: std::sync::LazyLock<std::sync::RwLock<SharedRegexes>> =
    std::sync::LazyLock::new(Default::default);

/// Makes the regexes of `bundle`'s `matches` and `like` tests (those of its rules and of the
/// conditions of its `count`, `sum` and `seen` calls) known to the witness searches of every
/// thread, so that a pattern the bundle compiled when it was checked is not compiled again
/// for a search. Each is the regex [`crate::check::pattern::build_regex`] made of the same
/// source, the one a search would compile.
pub fn share_regexes(bundle: &Bundle) {
    let Ok(mut shared) = SHARED.write() else {
        return;
    };
    let mut add = |t: &crate::check::ir::Test| {
        if let crate::check::ir::TestKind::Matches { pattern, .. }
        | crate::check::ir::TestKind::Like { pattern, .. } = &t.kind
            && !shared.contains_key(&pattern.regex_source)
        {
            if shared.len() >= REMEMBERED {
                shared.clear();
            }
            shared.insert(pattern.regex_source.clone(), pattern.regex.clone());
        }
    };
    for r in &bundle.rules {
        r.cond.for_each_test(bundle, true, &mut add);
    }
    for st in &bundle.statefuls {
        st.cond.for_each_test(bundle, true, &mut add);
    }
}

/// The ways [`regex_examples`] makes examples, `(once, last)` of [`regex_example_with`]; the
/// first is [`regex_example`]'s.
const WAYS: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// [`regex_example_with`] of `pattern` each of the [`WAYS`], the pattern parsed once for
/// all four, remembered per thread.
fn four_examples(pattern: &str) -> std::rc::Rc<[Option<String>; 4]> {
    remembered(&FOUR, pattern, || {
        let hir = regex_syntax::Parser::new().parse(pattern).ok();
        let four = WAYS.map(|(once, last)| {
            let e = hir.as_ref().and_then(|h| example_of(h, once, last));
            debug_assert_eq!(e, regex_example_with(pattern, once, last));
            e
        });
        std::rc::Rc::new(four)
    })
}

fn examples_of(pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in four_examples(pattern).iter().flatten() {
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    out
}

/// A string the regex matches; with `once`, every repetition is taken at least once, with
/// `last`, the last alternative of every alternation.
fn regex_example_with(pattern: &str, once: bool, last: bool) -> Option<String> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    example_of(&hir, once, last)
}

/// [`regex_example_with`] of a parsed pattern.
fn example_of(hir: &regex_syntax::hir::Hir, once: bool, last: bool) -> Option<String> {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn generate(h: &Hir, out: &mut String, depth: usize, once: bool, last: bool) -> Option<()> {
        if depth > 64 || out.len() > 256 {
            return None;
        }
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => Some(()),
            HirKind::Literal(l) => {
                out.push_str(std::str::from_utf8(&l.0).ok()?);
                Some(())
            }
            HirKind::Class(Class::Unicode(c)) => {
                let ranges = c.ranges();
                let pick = ranges
                    .iter()
                    .find_map(|r| {
                        ['a', 'x', '0', 'A']
                            .into_iter()
                            .find(|ch| r.start() <= *ch && *ch <= r.end())
                    })
                    .or_else(|| ranges.first().map(|r| r.start()))?;
                out.push(pick);
                Some(())
            }
            HirKind::Class(Class::Bytes(c)) => {
                let b = c.ranges().first()?.start();
                out.push(char::from(b).is_ascii().then_some(char::from(b))?);
                Some(())
            }
            HirKind::Repetition(r) => {
                let n = if once { r.min.max(1) } else { r.min };
                let n = match r.max {
                    Some(max) => n.min(max),
                    None => n,
                };
                for _ in 0..n.min(64) {
                    generate(&r.sub, out, depth + 1, once, last)?;
                }
                Some(())
            }
            HirKind::Capture(c) => generate(&c.sub, out, depth + 1, once, last),
            HirKind::Concat(parts) => {
                for p in parts {
                    generate(p, out, depth + 1, once, last)?;
                }
                Some(())
            }
            HirKind::Alternation(alts) => {
                let alt = if last { alts.last() } else { alts.first() };
                generate(alt?, out, depth + 1, once, last)
            }
        }
    }
    let mut out = String::new();
    generate(hir, &mut out, 0, once, last)?;
    Some(out)
}

/// What the VM and the reference interpreter make of one example event, for the rules asked
/// about (by their index in the whole bundle).
pub struct Observed {
    /// Rules whose condition is true (both evaluators agree).
    pub true_rules: Vec<usize>,
    /// Rules whose condition is unknown (both evaluators agree).
    pub unknown_rules: Vec<usize>,
    /// Rules that match: true, or unknown for deny / escalate / warn.
    pub matched: Vec<usize>,
}

impl Observed {
    /// Whether rule `r` matches.
    pub fn matches(&self, r: usize) -> bool {
        self.matched.contains(&r)
    }

    /// Whether rule `r`'s condition is true (not merely unknown).
    pub fn is_true(&self, r: usize) -> bool {
        self.true_rules.contains(&r)
    }

    /// Whether rule `r`'s condition is unknown.
    pub fn is_unknown(&self, r: usize) -> bool {
        self.unknown_rules.contains(&r)
    }
}

/// A bundle holding only some rules of `bundle` (with every stateful call, so that ids stay
/// valid), for evaluation only. A rule's truth on an event depends on its own condition only, so evaluating it in
/// this bundle gives what the whole bundle gives, at the cost of compiling a few rules.
pub fn sub_bundle(bundle: &Bundle, rules: &[usize]) -> Bundle {
    let mut keep: Vec<usize> = rules.to_vec();
    keep.sort_unstable();
    keep.dedup();
    // Evaluation reads neither the source texts nor the declarations: leave them out, so that
    // building many small bundles stays cheap.
    Bundle {
        files: bundle
            .files
            .iter()
            .map(|f| crate::diag::SourceFile::new(f.name.clone(), ""))
            .collect(),
        asts: Vec::new(),
        tools: Vec::new(),
        attributes: Vec::new(),
        sets: Vec::new(),
        data: Vec::new(),
        default: bundle.default,
        default_loc: bundle.default_loc,
        policies: Vec::new(),
        rules: keep
            .iter()
            .filter_map(|&r| bundle.rules.get(r).cloned())
            .collect(),
        statefuls: bundle.statefuls.clone(),
        source_digest: bundle.source_digest,
    }
}

/// The rules of one sub-bundle, compiled and verified.
struct Compiled {
    bundle: Bundle,
    program: Program,
    /// Index in the sub-bundle → index in the whole bundle.
    original: Vec<usize>,
}

/// Runs example events through the compiled program (the VM) and the reference interpreter.
pub struct Oracle<'b> {
    bundle: &'b Bundle,
    cache: BTreeMap<Vec<usize>, Option<Compiled>>,
}

impl<'b> Oracle<'b> {
    pub fn new(bundle: &'b Bundle) -> Oracle<'b> {
        Oracle {
            bundle,
            cache: BTreeMap::new(),
        }
    }

    fn compiled(&mut self, rules: &[usize]) -> Option<&Compiled> {
        let mut key = rules.to_vec();
        key.sort_unstable();
        key.dedup();
        let bundle = self.bundle;
        self.cache
            .entry(key.clone())
            .or_insert_with(|| {
                let sub = sub_bundle(bundle, &key);
                let model = crate::compile::compile(&sub).ok()?;
                let bytes = crate::bytecode::encode(&model);
                let program = Program::load(&bytes).ok()?;
                Some(Compiled {
                    bundle: sub,
                    program,
                    original: key,
                })
            })
            .as_ref()
    }

    /// Evaluates one event on a fresh stream with both evaluators, for the rules `rules`.
    /// `None` when the event cannot be read or the evaluators disagree about any of them.
    pub fn observe(&mut self, rules: &[usize], event: &Json) -> Option<Observed> {
        let c = self.compiled(rules)?;
        let text = event.to_string();
        let mut ev = Event::default();
        c.program.read_event(&text, &mut ev).ok()?;
        let mut state = c.program.new_state();
        let mut out = Outcome::default();
        c.program.eval(&ev, &mut state, &mut out);
        let reference = Reference::new(&c.bundle, c.program.digest.clone());
        let values = reference.rule_values(event)?;
        let mut obs = Observed {
            true_rules: Vec::new(),
            unknown_rules: Vec::new(),
            matched: Vec::new(),
        };
        for (i, rule) in c.bundle.rules.iter().enumerate() {
            let orig = *c.original.get(i)?;
            let v = values.get(i).copied()?;
            let vm_match = c.program.matched(&out).contains(&(i as u32));
            let vm_unknown = c.program.unknown_rules(&out).contains(&(i as u32));
            let ref_match = match v {
                K3::True => true,
                K3::Unknown => rule.effect != Effect::Allow,
                K3::False => false,
            };
            // Both evaluators must agree, or the example proves nothing.
            if vm_match != ref_match || vm_unknown != (v == K3::Unknown) {
                return None;
            }
            match v {
                K3::True => obs.true_rules.push(orig),
                K3::Unknown => obs.unknown_rules.push(orig),
                K3::False => {}
            }
            if ref_match {
                obs.matched.push(orig);
            }
        }
        Some(obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::analysis::Analysis;
    use crate::diag::SourceFile;

    fn bundle(src: &str) -> Bundle {
        crate::check::check_sources(vec![SourceFile::new("t.gov", src)]).unwrap()
    }

    #[test]
    fn detected_items_are_found_by_their_detectors() {
        let slot = || {
            Box::new(Operand::Slot {
                slot: 0,
                ty: Ty::String,
            })
        };
        let pii = Operand::Func {
            func: Func::PiiCount,
            arg: slot(),
        };
        for n in [1.0, 20.0, 21.0, 50.0] {
            let s = detected_items(&pii, n).unwrap();
            assert_eq!(crate::builtins::detect::pii_count(&s), Some(n as usize));
        }
        let decoded = Box::new(Operand::Func {
            func: Func::Decoded,
            arg: slot(),
        });
        for arg in [slot(), decoded] {
            let secrets = Operand::Func {
                func: Func::Len,
                arg: Box::new(Operand::Func {
                    func: Func::Secrets,
                    arg,
                }),
            };
            let n_of = |s: &str| match applied(Func::Secrets, s) {
                Some(V::List(items)) => items.len(),
                _ => 0,
            };
            for n in 1..=4 {
                let s = detected_items(&secrets, f64::from(n)).unwrap();
                assert!(n_of(&s) >= n as usize, "{s}");
                let d = match applied(Func::Decoded, &s) {
                    Some(V::Str(d)) => d.into_owned(),
                    _ => panic!("decoded({s})"),
                };
                assert!(n_of(&d) >= n as usize, "{d}");
            }
            assert_eq!(detected_items(&secrets, 5.0), None);
        }
        assert_eq!(detected_items(&pii, 0.0), None);
        assert_eq!(detected_items(&pii, 1.5), None);
        assert_eq!(detected_items(&Operand::Num(1.0), 1.0), None);
    }

    #[test]
    fn regex_examples_match() {
        for p in [
            r"\.env$",
            r"^/etc/(passwd|shadow)$",
            r"[a-z]+@corp\.com",
            "a{3}b",
        ] {
            let ex = regex_example(p).unwrap();
            assert!(Regex::new(p).unwrap().is_match(&ex), "{p} -> {ex}");
        }
    }

    #[test]
    fn synthesizes_and_confirms() {
        let b = bundle(
            "policy p {\n rule a: allow when tool == \"pay\" and args.amount <= 1000 and url_host(args.url) == \"example.com\"\n rule d: deny when tool == \"pay\" and args.amount >= 1000 because \"no\"\n}",
        );
        let mut a = Analysis::new(&b);
        let ta = a.truth(a.rules[0]);
        let td = a.truth(a.rules[1]);
        let both = a.m.and(ta, td);
        let t = a.m.t;
        let paths = a.paths(both, t, 4);
        let ev = paths.iter().find_map(|p| synthesize(&a, p)).unwrap();
        assert_eq!(ev["tool"], "pay");
        assert_eq!(ev["args"]["amount"], 1000.0);
        let mut o = Oracle::new(&b);
        let obs = o.observe(&[0, 1], &ev).unwrap();
        assert!(obs.is_true(0) && obs.is_true(1));
        // One rule at a time gives the same answer for it.
        assert!(o.observe(&[1], &ev).unwrap().is_true(1));
    }

    #[test]
    fn infeasible_paths_give_nothing() {
        // `tool == "a"` and `lower(tool) == "b"` are independent in the diagram.
        let b = bundle("policy p {\n rule a: allow when tool == \"a\" and lower(tool) == \"b\"\n}");
        let mut a = Analysis::new(&b);
        let t = a.truth(a.rules[0]);
        let tt = a.m.t;
        let paths = a.paths(t, tt, 4);
        assert!(!paths.is_empty());
        assert!(paths.iter().all(|p| synthesize(&a, p).is_none()));
    }
}
