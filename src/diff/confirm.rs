//! Witnesses: an event for each region, decided by both bundles with the VM and, where the
//! side has sources, the reference interpreter; a region is only shown as a change when the
//! decisions confirm it.

use std::rc::Rc;

use serde_json::Value as Json;

use crate::compile::analysis::{Branch, Step};
use crate::decision::Decision;
use crate::lint::witness::{BranchKey, SynthMemo, build_event, synthesize_kept};
use crate::reference::Reference;
use crate::vm::{Event, Outcome, State};

use super::Side;
use super::solve;
use super::space::Space;

/// How sure a region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A witness event confirms the change.
    Differs,
    /// The region depends on tests the diff cannot decide (regexes, globs, substrings,
    /// functions, stream state) and no event was found that confirms it: it may or may not
    /// contain requests that change.
    MayDiffer,
    /// The evaluators disagree with each other or with the diagram: a defect in govern, shown
    /// so that it is not hidden.
    Unconfirmed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Differs => "differs",
            Status::MayDiffer => "may-differ",
            Status::Unconfirmed => "unconfirmed",
        }
    }
}

/// What was found for one region.
#[derive(Clone, Debug)]
pub struct Proof {
    pub status: Status,
    /// The witness (or, for `MayDiffer`, the best event found: it satisfies the decidable
    /// conditions of the region).
    pub event: Option<Json>,
    /// The decisions of the old and the new bundle on `event`.
    pub decisions: Option<[Decision; 2]>,
    pub note: Option<String>,
}

/// Decides events with both sides.
pub struct Judge<'a> {
    pub sides: [&'a Side; 2],
    /// Per side, what deciding one event needs (an event read, a stream state reset to fresh
    /// before each decision, an outcome), kept from one decision to the next.
    scratch: [std::cell::RefCell<Option<Scratch>>; 2],
    /// Per side, the decisions already made, by the event's text: an event is decided on a
    /// fresh stream, so its decision depends on its text alone, and the searches of many
    /// regions try the same events (the solver's event of every region that differs from
    /// another only in tests outside the decidable fragment). Emptied past [`DECIDED_MAX`].
    decided: [std::cell::RefCell<rustc_hash::FxHashMap<String, Result<Decision, String>>>; 2],
    /// The repair's string candidates of slots, made once for all the regions whose steps
    /// say the same of a slot.
    candidates: std::cell::RefCell<Candidates>,
    /// The syntheses' candidates of slots and their checks, kept for all the regions.
    synth: std::cell::RefCell<SynthMemo>,
}

/// The most decisions a [`Judge`] keeps per side.
const DECIDED_MAX: usize = 4096;

/// What one side decides an event in, kept from one decision to the next.
struct Scratch {
    ev: Event,
    state: State,
    out: Outcome,
}

impl<'a> Judge<'a> {
    /// A judge of the two sides. The regexes their checked bundles compiled are made known
    /// to the witness searches, which then do not compile them again.
    pub fn new(sides: [&'a Side; 2]) -> Judge<'a> {
        for side in sides {
            if let Some(bundle) = &side.bundle {
                crate::lint::witness::share_regexes(bundle);
            }
        }
        Judge {
            sides,
            scratch: Default::default(),
            decided: Default::default(),
            candidates: Default::default(),
            synth: Default::default(),
        }
    }
}

impl Judge<'_> {
    /// One event on a fresh stream, decided by side `s`: by the VM, and checked against the
    /// reference interpreter when the side has sources. The stream state is made again for
    /// each event ([`State::reset`]: the fresh state it was made as), not allocated again.
    /// An event decided before is not decided again: its result is kept.
    pub fn decide(&self, s: usize, event: &Json) -> Result<Decision, String> {
        let text = event.to_string();
        let memo = self.decided.get(s).ok_or("no such side")?;
        if let Some(d) = memo.borrow().get(&text) {
            return d.clone();
        }
        let d = self.decide_text(s, event, &text);
        let mut memo = memo.borrow_mut();
        if memo.len() >= DECIDED_MAX {
            memo.clear();
        }
        memo.insert(text, d.clone());
        d
    }

    /// [`Judge::decide`] without the kept results; `text` is `event` as JSON text.
    fn decide_text(&self, s: usize, event: &Json, text: &str) -> Result<Decision, String> {
        let side = self.sides.get(s).ok_or("no such side")?;
        let p = &side.program;
        let mut slot = self.scratch.get(s).ok_or("no such side")?.borrow_mut();
        let sc = slot.get_or_insert_with(|| Scratch {
            ev: Event::default(),
            state: p.new_state(),
            out: Outcome::default(),
        });
        p.read_event(text, &mut sc.ev).map_err(|e| e.to_string())?;
        sc.state.reset();
        // Decided alone on a fresh stream: nothing need be recorded for the next event.
        p.eval_alone(&sc.ev, &mut sc.state, &mut sc.out);
        let vm = p.decision(&sc.out);
        drop(slot);
        if let Some(bundle) = &side.bundle {
            let mut r = Reference::new(bundle, p.digest.clone());
            let oracle = r.eval(event);
            if oracle != vm {
                return Err(format!(
                    "the VM and the reference interpreter disagree on {text}: {} vs {}",
                    vm.to_json_line(),
                    oracle.to_json_line()
                ));
            }
        }
        Ok(vm)
    }

    fn both(&self, event: &Json) -> Result<[Decision; 2], String> {
        Ok([self.decide(0, event)?, self.decide(1, event)?])
    }

    /// A witness for the region `path`: an event on which `claim` holds of the two decisions.
    pub fn prove(
        &self,
        space: &Space,
        path: &[Step],
        claim: &dyn Fn(&Decision, &Decision) -> bool,
    ) -> Proof {
        let ws = space.witness_space();
        let all_exact = path.iter().all(|s| space.facts.is_exact(s.var));
        let exact_event = solve::solve(&ws, &space.facts, path).and_then(|a| build_event(&ws, &a));
        let mut tried: Vec<Json> = Vec::new();
        if !all_exact && let Some(ev) = synthesize_kept(&ws, path, &mut self.synth.borrow_mut()) {
            tried.push(ev);
        }
        if let Some(ev) = &exact_event
            && !tried.contains(ev)
        {
            tried.push(ev.clone());
        }
        if !all_exact
            && tried.len() < 2
            && let Some(start) = exact_event.clone()
            && let Some(ev) = repair(&ws, &space.facts, path, start, &self.candidates)
            && !tried.contains(&ev)
        {
            tried.insert(0, ev);
        }
        let mut best: Option<(Json, [Decision; 2])> = None;
        for ev in tried {
            match self.both(&ev) {
                Ok(ds) => {
                    let [o, n] = &ds;
                    if claim(o, n) {
                        return Proof {
                            status: Status::Differs,
                            event: Some(ev),
                            decisions: Some(ds),
                            note: None,
                        };
                    }
                    if best.is_none() {
                        best = Some((ev, ds));
                    }
                }
                Err(e) => {
                    return Proof {
                        status: Status::Unconfirmed,
                        event: Some(ev),
                        decisions: None,
                        note: Some(e),
                    };
                }
            }
        }
        let (event, decisions) = match best {
            Some((e, d)) => (Some(e), Some(d)),
            None => (exact_event, None),
        };
        if all_exact {
            // The decidable fragment is decided exactly: an event that follows the path must
            // show the change. If it does not, the diagram and the evaluators disagree.
            return Proof {
                status: Status::Unconfirmed,
                event,
                decisions,
                note: Some(
                    "the event that follows this region does not show the change: the decision \
                     diagram and the evaluators disagree"
                        .into(),
                ),
            };
        }
        Proof {
            status: Status::MayDiffer,
            event,
            decisions,
            note: None,
        }
    }
}

/// Strings worth trying for an attribute that tests of `path` read through regexes, globs,
/// prefixes, suffixes, substrings, functions or constants: examples of each pattern made
/// several ways, with something before or after, and pairs of them joined.
fn string_candidates(
    space: &crate::lint::witness::Space<'_>,
    path: &[Step],
    slot: u32,
) -> Vec<String> {
    use crate::bytecode::model::{Func, Operand, Pred, Var};
    fn reads(o: &Operand, slot: u32) -> Option<Option<Func>> {
        match o {
            Operand::Slot { slot: s, .. } if *s == slot => Some(None),
            Operand::Func { func, arg } => reads(arg, slot).map(|inner| inner.or(Some(*func))),
            _ => None,
        }
    }
    let wrap = |f: Option<Func>, s: String| match f {
        Some(Func::UrlHost) => format!("https://{s}/"),
        _ => s,
    };
    let mut base: Vec<String> = Vec::new();
    // Strings rich in what a detector counts, tried after all the others (see
    // `detected_items`).
    let mut rich: Vec<String> = Vec::new();
    let add = |v: &mut Vec<String>, s: String| {
        if !v.contains(&s) {
            v.push(s);
        }
    };
    for st in path {
        let Some(var) = space.vars.get(st.var as usize) else {
            continue;
        };
        match var {
            Var::Switch { operand, consts } => {
                if let Some(f) = reads(operand, slot) {
                    for c in consts {
                        add(&mut base, wrap(f, c.clone()));
                    }
                }
            }
            Var::Thresh { operand } => {
                if reads(operand, slot).is_some()
                    && let Branch::Range { lo, hi } = &st.branch
                    && let Some(n) = solve::pick_number(*lo, *hi)
                    && (0.0..=4096.0).contains(&n)
                    && n.fract() == 0.0
                {
                    add(&mut base, "a".repeat(n as usize));
                    if lo.is_some()
                        && let Some(s) = crate::lint::witness::detected_items(operand, n)
                    {
                        rich.push(s);
                    }
                }
            }
            Var::Pred(p) => match p {
                Pred::Regex { lhs, regex, .. } => {
                    if let Some(f) = reads(lhs, slot) {
                        for ex in crate::lint::witness::regex_examples(regex) {
                            for v in [
                                ex.clone(),
                                format!("a{ex}"),
                                format!("{ex}a"),
                                format!("/{ex}"),
                                format!("a/{ex}"),
                                format!("a.{ex}"),
                                format!(" {ex} "),
                            ] {
                                add(&mut base, wrap(f, v));
                            }
                        }
                    }
                }
                Pred::StartsWith {
                    lhs,
                    rhs: Operand::Str(c),
                } => {
                    if let Some(f) = reads(lhs, slot) {
                        add(&mut base, wrap(f, c.clone()));
                        add(&mut base, wrap(f, format!("{c}x")));
                        add(&mut base, wrap(f, format!("x{c}")));
                    }
                }
                Pred::EndsWith {
                    lhs,
                    rhs: Operand::Str(c),
                } => {
                    if let Some(f) = reads(lhs, slot) {
                        add(&mut base, wrap(f, c.clone()));
                        add(&mut base, wrap(f, format!("x{c}")));
                        add(&mut base, wrap(f, format!("{c}x")));
                    }
                }
                Pred::Contains {
                    hay,
                    needle: Operand::Str(c),
                } => {
                    if let Some(f) = reads(hay, slot) {
                        add(&mut base, wrap(f, c.clone()));
                        add(&mut base, wrap(f, format!("x{c}x")));
                    }
                }
                Pred::Cmp { lhs, rhs, .. } => {
                    for (a, b) in [(lhs, rhs), (rhs, lhs)] {
                        if let (Some(f), Operand::Str(c)) = (reads(a, slot), b) {
                            add(&mut base, wrap(f, c.clone()));
                        }
                    }
                }
                Pred::In { lhs, values } => {
                    if let Some(f) = reads(lhs, slot) {
                        for v in values {
                            if let Operand::Str(c) = v {
                                add(&mut base, wrap(f, c.clone()));
                            }
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    let mut out = base.clone();
    for a in base.iter().take(12) {
        for b in base.iter().take(12) {
            if a != b {
                add(&mut out, format!("{a}{b}"));
            }
        }
    }
    for s in ["x", "", "zz"] {
        add(&mut out, s.to_string());
    }
    out.truncate(120);
    for s in rich {
        add(&mut out, s);
    }
    out
}

/// The string candidates of slots made so far in one comparison, by [`CandidateKey`].
pub type Candidates = rustc_hash::FxHashMap<CandidateKey, Rc<SlotCandidates>>;

/// A slot's string candidates, and what is known of each on its own: for a step that reads
/// that slot only (its variable and outcome), whether the candidate gives it its outcome
/// (`None` until checked). An event whose attribute is set to the candidate gives such a
/// step the same outcome whatever else it holds, so a check made for one region holds for
/// every region of the comparison.
pub struct SlotCandidates {
    list: Vec<String>,
    alone: std::cell::RefCell<AloneChecks>,
}

/// Per step that reads one slot only (its variable and outcome), whether each candidate of
/// the slot gives it its outcome (`None` until checked).
type AloneChecks = rustc_hash::FxHashMap<(u32, BranchKey), Vec<Option<bool>>>;

impl SlotCandidates {
    fn new(list: Vec<String>) -> SlotCandidates {
        SlotCandidates {
            list,
            alone: Default::default(),
        }
    }

    /// Whether candidate `ci` gives `st`, a step that reads this slot only, its outcome on
    /// `event` (whose attribute holds the candidate): kept from the first check.
    fn holds(
        &self,
        checker: &mut crate::lint::witness::Checker<'_>,
        st: &Step,
        ci: usize,
        event: &Json,
    ) -> bool {
        let key = (st.var, BranchKey::of(&st.branch));
        let known = self
            .alone
            .borrow()
            .get(&key)
            .and_then(|v| v.get(ci).copied().flatten());
        if let Some(ok) = known {
            // A debug build checks it again: the step reads nothing else.
            debug_assert_eq!(ok, checker.holds(st, event));
            return ok;
        }
        let ok = checker.holds(st, event);
        let mut alone = self.alone.borrow_mut();
        let v = alone
            .entry(key)
            .or_insert_with(|| vec![None; self.list.len()]);
        if let Some(x) = v.get_mut(ci) {
            *x = Some(ok);
        }
        ok
    }
}

/// What [`string_candidates`] of a slot depends on: the slot, and in path order, each step
/// that reads it (among others perhaps): its variable and, for a number's range, the range
/// (bounds as bits, and whether each is included). The candidates are a function of these
/// alone (the variables of one joint space), so paths that say the same of a slot share
/// them.
pub type CandidateKey = (u32, Vec<(u32, Option<RangeBits>)>);

/// A range's bounds as bits, each with whether it is included.
type RangeBits = (Option<(u64, bool)>, Option<(u64, bool)>);

/// The most slots' candidates kept per comparison before the store is emptied.
const CANDIDATES_MAX: usize = 4096;

fn candidate_key(
    path: &[Step],
    step_slots: &[std::collections::BTreeSet<u32>],
    slot: u32,
) -> CandidateKey {
    let bits = |b: &Option<(f64, bool)>| b.map(|(x, inc)| (x.to_bits(), inc));
    let steps = path
        .iter()
        .zip(step_slots)
        .filter(|(_, slots)| slots.contains(&slot))
        .map(|(st, _)| {
            let range = match &st.branch {
                Branch::Range { lo, hi } => Some((bits(lo), bits(hi))),
                _ => None,
            };
            (st.var, range)
        })
        .collect();
    (slot, steps)
}

/// `event` with the attribute at `path` set to `value`.
fn with_value(event: &Json, path: &[String], value: Json) -> Option<Json> {
    let mut ev = event.clone();
    let (last, parents) = path.split_last()?;
    let mut cur = ev.as_object_mut()?;
    for seg in parents {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| Json::Object(serde_json::Map::new()));
        if !entry.is_object() {
            *entry = Json::Object(serde_json::Map::new());
        }
        cur = entry.as_object_mut()?;
    }
    cur.insert(last.clone(), value);
    Some(ev)
}

/// Sets the attribute at `path` of `event`, which holds it (as [`with_value`] leaves it), to
/// the string `value`, reusing the string already there.
fn set_string(event: &mut Json, path: &[String], value: &str) {
    let mut cur = Some(event);
    for seg in path {
        cur = cur
            .and_then(|c| c.as_object_mut())
            .and_then(|m| m.get_mut(seg));
    }
    match cur {
        Some(Json::String(s)) => {
            s.clear();
            s.push_str(value);
        }
        Some(other) => *other = Json::String(value.to_string()),
        None => {}
    }
}

/// Starting from `start`, changes one attribute at a time to the candidate that satisfies the
/// most steps of `path`, until every step holds (the event is returned) or nothing helps.
pub fn repair(
    space: &crate::lint::witness::Space<'_>,
    facts: &solve::Facts,
    path: &[Step],
    start: Json,
    made: &std::cell::RefCell<Candidates>,
) -> Option<Json> {
    let mut checker = crate::lint::witness::Checker::new(space);
    // The slots each step reads.
    let step_slots: Vec<std::collections::BTreeSet<u32>> = path
        .iter()
        .map(|st| {
            let mut set = std::collections::BTreeSet::new();
            if let Some(v) = space.vars.get(st.var as usize) {
                crate::lint::witness::var_slots(space, v, &mut set);
            }
            set
        })
        .collect();
    // The attributes each step reads: a step that reads none inside, around or at the one a
    // candidate changes, and nothing of the time, holds on the changed event as it held
    // before, so only the others are checked again for each candidate.
    let reads: Vec<Vec<&Vec<String>>> = step_slots
        .iter()
        .map(|set| {
            set.iter()
                .filter_map(|s| space.slots.get(*s as usize))
                .collect()
        })
        .collect();
    // A slot's candidates, made once per comparison for the steps that read it.
    let candidates_of = |slot: u32| -> Rc<SlotCandidates> {
        let key = candidate_key(path, &step_slots, slot);
        if let Some(c) = made.borrow().get(&key) {
            // A debug build makes them again: the key holds all they depend on.
            debug_assert!(c.list == string_candidates(space, path, slot));
            return c.clone();
        }
        let c = Rc::new(SlotCandidates::new(string_candidates(space, path, slot)));
        let mut made = made.borrow_mut();
        if made.len() >= CANDIDATES_MAX {
            made.clear();
        }
        made.insert(key, c.clone());
        c
    };
    let touched = |k: usize, p: &[String]| {
        reads.get(k).is_none_or(|qs| {
            qs.iter().any(|q| {
                q.starts_with(p) || p.starts_with(q) || q.first().is_some_and(|h| h == "time")
            })
        })
    };
    let mut ev = start;
    let mut holds: Vec<bool> = path.iter().map(|s| checker.holds(s, &ev)).collect();
    let mut best = holds.iter().filter(|h| **h).count();
    // The candidates of a slot depend on the path and the slot only: made once per slot.
    let mut candidates: std::collections::BTreeMap<u32, Rc<SlotCandidates>> =
        std::collections::BTreeMap::new();
    // An attribute that no other the path reads lies inside or around keeps its value
    // unless it is itself changed, to one of its candidates: when neither its value nor any
    // candidate gives the steps that read it alone their outcomes, no event is reached, and
    // the search ends before it starts. Each attribute is checked up to its first value that
    // passes.
    if best < path.len() {
        let mut all = std::collections::BTreeSet::new();
        for st in path {
            if let Some(v) = space.vars.get(st.var as usize) {
                crate::lint::witness::var_slots(space, v, &mut all);
            }
        }
        for &slot in &all {
            let Some(p) = space.slots.get(slot as usize) else {
                continue;
            };
            let apart = p.first().is_some_and(|h| h != "time")
                && all.iter().all(|q| {
                    *q == slot
                        || space
                            .slots
                            .get(*q as usize)
                            .is_some_and(|q| !q.starts_with(p) && !p.starts_with(q))
                });
            let alone: Vec<usize> = (0..path.len())
                .filter(|k| {
                    reads
                        .get(*k)
                        .is_some_and(|qs| qs.len() == 1 && qs.first() == Some(&p))
                })
                .collect();
            if !apart || alone.is_empty() || alone.iter().all(|k| holds.get(*k) == Some(&true)) {
                continue;
            }
            let cands = candidates
                .entry(slot)
                .or_insert_with(|| candidates_of(slot));
            let mut next = with_value(&ev, p, Json::String(String::new()));
            let reachable = cands.list.iter().enumerate().any(|(ci, cand)| {
                next.as_mut().is_some_and(|next| {
                    set_string(next, p, cand);
                    alone.iter().all(|k| {
                        path.get(*k)
                            .is_some_and(|st| cands.holds(&mut checker, st, ci, next))
                    })
                })
            });
            if !reachable {
                return None;
            }
        }
    }
    for _ in 0..6 {
        if best == path.len() {
            return Some(ev);
        }
        let mut slots = std::collections::BTreeSet::new();
        for (st, h) in path.iter().zip(&holds) {
            if *h || facts.is_exact(st.var) {
                continue;
            }
            if let Some(v) = space.vars.get(st.var as usize) {
                crate::lint::witness::var_slots(space, v, &mut slots);
            }
        }
        let mut improved: Option<(Json, usize)> = None;
        for slot in slots {
            let Some(p) = space.slots.get(slot as usize) else {
                continue;
            };
            if p.first().is_some_and(|s| s == "time") {
                continue;
            }
            let again: Vec<usize> = (0..path.len()).filter(|k| touched(*k, p)).collect();
            let kept = holds
                .iter()
                .enumerate()
                .filter(|(k, h)| **h && !again.contains(k))
                .count();
            let cands = candidates
                .entry(slot)
                .or_insert_with(|| candidates_of(slot));
            // One copy of the event per slot, its attribute set to each candidate in turn:
            // the event `with_value` would give for that candidate.
            let Some(mut next) = with_value(&ev, p, Json::String(String::new())) else {
                continue;
            };
            // The steps to check again, each with whether it reads this attribute only (its
            // outcome for each candidate is then kept with the candidates).
            let again: Vec<(&Step, bool)> = again
                .iter()
                .filter_map(|k| {
                    let only = reads
                        .get(*k)
                        .is_some_and(|qs| qs.len() == 1 && qs.first() == Some(&p));
                    path.get(*k).map(|st| (st, only))
                })
                .collect();
            for (ci, cand) in cands.list.iter().enumerate() {
                set_string(&mut next, p, cand);
                let s = kept
                    + again
                        .iter()
                        .filter(|(st, only)| {
                            if *only {
                                cands.holds(&mut checker, st, ci, &next)
                            } else {
                                checker.holds(st, &next)
                            }
                        })
                        .count();
                if s > improved.as_ref().map_or(best, |(_, b)| *b) {
                    improved = Some((next.clone(), s));
                }
            }
        }
        match improved {
            Some((next, s)) => {
                ev = next;
                holds = path.iter().map(|st| checker.holds(st, &ev)).collect();
                best = s;
                debug_assert_eq!(best, holds.iter().filter(|h| **h).count());
            }
            None => return None,
        }
    }
    (best == path.len()).then_some(ev)
}
