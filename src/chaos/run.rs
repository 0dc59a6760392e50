//! Running an experiment: make every mutant from the seed, decide it, check the invariants,
//! shrink what breaks them, and measure.
//!
//! **Determinism.** Mutant `j` of a family is made from its own generator
//! ([`Rng::for_mutant`]), so any thread can make any mutant. The plan cuts each family's
//! mutants into fixed chunks, interleaved across families; threads take chunks in order and
//! each chunk's result is kept by its number. Findings are merged in chunk order, and within
//! a finding key the smallest example wins (shortest chain, then fewest events, then lowest
//! mutant). So the findings do not depend on `--jobs`. A time budget stops the run between
//! chunks: what was covered is then a prefix of the plan, reported as such.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::Value as Json;

use super::mutate::{self, Ctx, Family, Kind, Layout, Op, Rng, Step};
use super::spec::{Experiment, Invariant};
use crate::bytecode::model::Verdict;
use crate::decision::Decision;
use crate::stream::{Clock, Prepared, Preparer, Stream};
use crate::vm::{Outcome, Program, StreamLimits};

/// Mutants per chunk of the plan.
pub const CHUNK: u64 = 2048;
/// The most engine-fault mutants a run makes (each loads a bundle or replays a stream).
pub const MAX_ENGINE: u64 = 400;
/// Events on each side of the mutated one in a stream mutant.
pub const WINDOW: usize = 16;
/// How far apart two reordered events may be.
pub const REORDER_SPAN: usize = 8;
/// Clock skews tried (nanoseconds).
const SKEWS: [i64; 8] = [
    30_000_000_000,
    90_000_000_000,
    240_000_000_000,
    299_000_000_000,
    600_000_000_000,
    3_600_000_000_000,
    -60_000_000_000,
    -600_000_000_000,
];

/// How to run.
pub struct Options {
    pub jobs: usize,
    /// Advanced as mutants are decided (for progress).
    pub done: Option<Arc<AtomicU64>>,
    /// Overrides of the experiment's budget.
    pub mutants: Option<u64>,
    pub time: Option<u64>,
}

/// The program an experiment decides with, and its bytes (for engine faults).
pub struct Target {
    pub program: Program,
    pub bytes: Vec<u8>,
    /// User invariants compiled into one program (an `allow` rule per invariant, matched
    /// exactly when the invariant is violated).
    pub user: Option<Program>,
}

/// A rule as reported: its id, effect and place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct RuleRef {
    pub id: String,
    pub effect: String,
    pub file: String,
    pub line: u32,
}

/// A broken invariant, with the smallest example found.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    pub invariant: String,
    pub fault: String,
    /// The mutation steps, smallest chain found.
    pub mutation: Vec<String>,
    /// The attribute mutated (argument families).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// Where the original event comes from.
    pub seed: String,
    /// The original event (for a stream: the event whose decision changed).
    pub original: Json,
    pub mutated: Json,
    /// For stream families: the smallest stream (original and mutated) that shows it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub original_stream: Vec<Json>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mutated_stream: Vec<Json>,
    pub original_decision: Json,
    pub mutated_decision: Json,
    /// The rule that let the mutant through (`None`: the bundle's default decided).
    pub rule: Option<RuleRef>,
    /// The rule that decided the original and missed the mutant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed: Option<RuleRef>,
    /// Mutants that broke the invariant the same way.
    pub count: u64,
    #[serde(skip)]
    pub key: String,
    #[serde(skip)]
    pub size: (usize, usize, u64),
}

/// What one family covered.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FamilyStats {
    pub family: String,
    /// Mutants planned for the family.
    pub planned: u64,
    /// Mutants made and decided.
    pub tried: u64,
    /// Mutants that could not be made (no attribute or event the family applies to).
    pub not_applicable: u64,
    /// Mutants that broke an invariant.
    pub broken: u64,
}

/// Decision latencies on a log scale (1/16 of an octave).
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    pub total: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; 64 * 16],
            total: 0,
        }
    }
}

impl Histogram {
    fn bucket(ns: u64) -> usize {
        if ns < 16 {
            return ns as usize;
        }
        let e = 63 - u64::from(ns.leading_zeros());
        let m = (ns >> (e - 4)) & 15;
        ((e - 3) * 16 + m) as usize
    }

    /// The largest value of a bucket.
    fn upper(b: usize) -> u64 {
        if b < 16 {
            return b as u64;
        }
        let e = (b / 16) as u64 + 3;
        let m = (b % 16) as u64;
        ((16 + m + 1) << (e - 4)).saturating_sub(1)
    }

    pub fn record(&mut self, ns: u64) {
        if let Some(c) = self.counts.get_mut(Self::bucket(ns)) {
            *c += 1;
            self.total += 1;
        }
    }

    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
    }

    /// The `q` quantile (0..1), as the upper bound of its bucket (within 1/16 of an octave).
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::upper(b));
            }
        }
        None
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct RunReport {
    pub bundle: String,
    pub seed: u64,
    pub budget: u64,
    pub seed_events: usize,
    pub families: Vec<FamilyStats>,
    pub findings: Vec<Finding>,
    pub tried: u64,
    pub broken: u64,
    /// The time budget ran out before the plan was done.
    pub stopped_by_time: bool,
    pub elapsed: std::time::Duration,
    pub latency: Histogram,
    pub jobs: usize,
}

/// Everything the workers share.
struct Plan<'a> {
    exp: &'a Experiment,
    target: &'a Target,
    layouts: Vec<Layout>,
    /// Per seed event (flattened): the original verdict decided alone.
    verdicts: Vec<Verdict>,
    /// Stream and position of each flattened seed event.
    places: Vec<(usize, usize)>,
    /// Per argument family: the attributes it applies to.
    cands: BTreeMap<Family, Vec<Cand>>,
    /// Per seed event: the event as the program reads it (`None`: it does not read).
    bases: Vec<Option<Event>>,
    ctx: Ctx,
    /// (family, first local index, count) per chunk, in plan order.
    chunks: Vec<(Family, u64, u64)>,
    planned: BTreeMap<Family, u64>,
    monotone: bool,
    stateful: bool,
    fail_closed: bool,
}

/// An attribute an argument family applies to.
struct Cand {
    /// The seed event (flattened) and its leaf.
    e: u32,
    k: u32,
    /// The steps of the family that change it (what a chain may start with).
    first: Vec<Op>,
    /// Where the program reads it.
    reach: Reach,
}

/// How a mutant changes its attribute, when the event it makes can be made from the seed's
/// event as read.
#[derive(Clone, Copy, Debug)]
enum Change<'a> {
    /// Another string.
    Str(&'a str),
    /// Another JSON scalar, as text (another number form, a number as a string, a string
    /// with `\u` escapes): read by the event reader's own scanner.
    Raw(&'a str),
    /// The attribute dropped.
    Absent,
}

/// Where the program reads an attribute, so that a mutant that only changes its string can
/// be decided from the seed's event with that one string changed, without reading the
/// mutated text again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    /// The attribute's slot.
    Slot(u32),
    /// Item `1` of the list in slot `0`.
    Item(u32, u32),
    /// Nowhere: changing its value changes no slot (a member of an object that only `has`
    /// reads, an attribute no rule names).
    Unread,
    /// Somewhere a changed string cannot simply be put (`ts`, and `time.*` made from it, or
    /// slots below it): the mutated text is read.
    Text,
}

impl Reach {
    /// Where the slots of `program` (paths of keys) read the attribute at `segs` (keys and
    /// `[i]` for list items).
    fn of(program: &Program, segs: &[String]) -> Reach {
        if matches!(segs.first().map(String::as_str), Some("ts" | "time")) {
            return Reach::Text;
        }
        let index = segs
            .last()
            .and_then(|s| s.strip_prefix('['))
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<u32>().ok());
        let mut reach = Reach::Unread;
        for (i, path) in program.model.slots.iter().enumerate() {
            let Ok(slot) = u32::try_from(i) else {
                return Reach::Text;
            };
            if path.len() >= segs.len() && path.get(..segs.len()) == Some(segs) {
                if path.len() > segs.len() {
                    return Reach::Text;
                }
                reach = Reach::Slot(slot);
            } else if path.len() + 1 == segs.len()
                && segs.get(..path.len()) == Some(path.as_slice())
                && let Some(n) = index
            {
                reach = Reach::Item(slot, n);
            }
        }
        reach
    }
}

/// What one chunk produced.
#[derive(Default)]
struct ChunkResult {
    findings: BTreeMap<String, Finding>,
    stats: BTreeMap<Family, FamilyStats>,
    latency: Histogram,
}

/// Per-thread scratch.
struct Worker {
    preparer: Preparer,
    prepared: Prepared,
    outcome: Outcome,
    text: String,
    chain: Vec<Step>,
    /// Fresh streams, by bundle digest, reset after each use (no allocation per mutant).
    fresh: Vec<(String, Stream)>,
}

impl Worker {
    fn new() -> Worker {
        Worker {
            preparer: Preparer::default(),
            prepared: Prepared::default(),
            outcome: Outcome::default(),
            text: String::new(),
            chain: Vec::new(),
            fresh: Vec::new(),
        }
    }

    /// A fresh stream for `program`, first in `fresh`.
    fn fresh<'a>(
        fresh: &'a mut Vec<(String, Stream)>,
        program: &Program,
    ) -> Option<&'a mut Stream> {
        match fresh.iter().position(|(d, _)| *d == program.digest) {
            Some(0) => {}
            Some(i) => fresh.swap(0, i),
            None => fresh.insert(
                0,
                (
                    program.digest.clone(),
                    Stream::new(program, Clock::Event, StreamLimits::default().max_keys),
                ),
            ),
        }
        fresh.first_mut().map(|(_, s)| s)
    }

    /// Decides one event alone (fresh stream state); a text that is not an event is denied.
    fn decide_alone(&mut self, program: &Program, text: &str) -> Verdict {
        if self
            .preparer
            .prepare(program, text, Clock::Event, None, false, &mut self.prepared)
            .is_err()
        {
            self.outcome = Outcome::default();
            return Verdict::Deny;
        }
        self.decide_walked(program)
    }

    /// Makes the event of seed `e` with `change` at `reach`, ready to decide with
    /// [`Worker::decide_made`]: the event reading the mutated text would give. False when it
    /// cannot be made so (the text must be read).
    fn make(&mut self, plan: &Plan<'_>, e: u32, reach: Reach, change: Change<'_>) -> bool {
        if reach == Reach::Text {
            return false;
        }
        let Some(Some(base)) = plan.bases.get(e as usize) else {
            return false;
        };
        let ev = &mut self.prepared.event;
        ev.copy_from(base);
        self.prepared.now = None;
        let (slot, item) = match reach {
            Reach::Slot(slot) => (slot, None),
            Reach::Item(slot, i) => (slot, Some(i)),
            Reach::Unread => return true,
            Reach::Text => return false,
        };
        match (change, item) {
            (Change::Str(s), _) => ev.set_str(slot, item, s),
            (Change::Raw(t), _) => ev.set_raw(slot, item, t),
            (Change::Absent, None) => ev.set_absent(slot),
            (Change::Absent, Some(_)) => false,
        }
    }

    /// Decides the event [`Worker::make`] made, alone (fresh stream state).
    fn decide_made(&mut self, program: &Program) -> Verdict {
        self.preparer.walk(program, &mut self.prepared);
        self.decide_walked(program)
    }

    /// Decides the walked event in `prepared` alone.
    fn decide_walked(&mut self, program: &Program) -> Verdict {
        if self.prepared.stateless {
            self.preparer
                .decide_stateless(program, &self.prepared, &mut self.outcome);
        } else {
            let Worker {
                fresh,
                prepared,
                outcome,
                ..
            } = self;
            match Worker::fresh(fresh, program) {
                Some(s) => {
                    // Alone: nothing it would record is read again.
                    s.decide_unrecorded(program, prepared, outcome);
                    s.reset();
                }
                None => {
                    let mut s =
                        Stream::new(program, Clock::Event, StreamLimits::default().max_keys);
                    s.decide(program, prepared, outcome);
                }
            }
        }
        self.outcome.verdict.unwrap_or(program.model.default)
    }

    /// The decision, as data, of a text decided alone.
    fn decision_alone(&mut self, program: &Program, text: &str) -> Decision {
        match program.read_event(text, &mut Event::default()) {
            Err(e) => Decision::error(&program.digest, e.describe(text)),
            Ok(()) => {
                self.decide_alone(program, text);
                program.decision(&self.outcome)
            }
        }
    }
}

use crate::vm::Event;

/// Decides stream `s`'s `texts` across a restart of the decision point before position `at`:
/// with an audit log the point restores its state from the log
/// ([`super::restart::decide_restored`]); without one it starts fresh (a restart that lost
/// the state).
fn decide_restart(
    plan: &Plan<'_>,
    s: usize,
    texts: &[String],
    at: usize,
    keep: bool,
) -> (Vec<Verdict>, Vec<Decision>) {
    let program = &plan.target.program;
    if plan.exp.audit_log {
        super::restart::decide_restored(program, clock_of(plan, s), texts, at, keep)
    } else {
        decide_stream(program, clock_of(plan, s), texts, Some(at), None, keep)
    }
}

/// Decides a stream from fresh state; `restart` starts fresh state again before that
/// position (a restart that lost the state). Returns the verdicts and decisions.
fn decide_stream(
    program: &Program,
    clock: Clock,
    texts: &[String],
    restart: Option<usize>,
    lat: Option<&mut Histogram>,
    keep: bool,
) -> (Vec<Verdict>, Vec<Decision>) {
    let mut preparer = Preparer::default();
    let mut p = Prepared::default();
    let mut out = Outcome::default();
    let mut stream = Stream::new(program, clock, StreamLimits::default().max_keys);
    let mut verdicts = Vec::with_capacity(texts.len());
    let mut decisions = Vec::new();
    let mut lat = lat;
    for (i, t) in texts.iter().enumerate() {
        if restart == Some(i) {
            stream = Stream::new(program, clock, StreamLimits::default().max_keys);
        }
        let t0 = Instant::now();
        let v = match preparer.prepare(program, t, clock, None, false, &mut p) {
            Err(e) => {
                if keep {
                    decisions.push(Decision::error(&program.digest, e.describe(t)));
                }
                verdicts.push(Verdict::Deny);
                continue;
            }
            Ok(()) => {
                stream.decide_in_place(&mut preparer, program, &p, &mut out);
                out.verdict.unwrap_or(program.model.default)
            }
        };
        if let Some(h) = lat.as_deref_mut() {
            h.record(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        if keep {
            decisions.push(program.decision(&out));
        }
        verdicts.push(v);
    }
    (verdicts, decisions)
}

fn rule_ref(program: &Program, r: u32) -> Option<RuleRef> {
    let info = program.model.rules.get(r as usize)?;
    Some(RuleRef {
        id: info.id.clone(),
        effect: info.effect.as_str().to_string(),
        file: program
            .model
            .files
            .get(info.file as usize)
            .cloned()
            .unwrap_or_default(),
        line: info.line,
    })
}

fn rule_of(program: &Program, d: &Decision) -> Option<RuleRef> {
    let id = d.rules.first()?;
    let i = program.model.rules.iter().position(|r| r.id == *id)?;
    rule_ref(program, u32::try_from(i).ok()?)
}

fn parse_json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_string()))
}

/// Per seed event, the event as the program reads it (`None`: it does not read).
fn read_bases(program: &Program, layouts: &[Layout]) -> Vec<Option<Event>> {
    layouts
        .iter()
        .map(|l| {
            let mut ev = Event::default();
            program.read_event(&l.text, &mut ev).ok().map(|()| ev)
        })
        .collect()
}

/// Per argument family of the experiment, the attributes of the seed events it applies to,
/// with the first steps that change them.
fn candidates(
    exp: &Experiment,
    program: &Program,
    layouts: &[Layout],
    ctx: &Ctx,
) -> BTreeMap<Family, Vec<Cand>> {
    let mut cands = BTreeMap::new();
    for f in exp.faults.iter().filter(|f| f.kind() == Kind::Argument) {
        let mut v = Vec::new();
        for (e, l) in layouts.iter().enumerate() {
            for (k, leaf) in l.leaves.iter().enumerate() {
                let first = mutate::applicable_ops(*f, l, leaf, ctx);
                if !first.is_empty() {
                    v.push(Cand {
                        e: e as u32,
                        k: k as u32,
                        first,
                        reach: Reach::of(program, &leaf.segs),
                    });
                }
            }
        }
        cands.insert(*f, v);
    }
    cands
}

/// Runs the experiment.
pub fn run(exp: &Experiment, target: &Target, opts: &Options) -> RunReport {
    let started = Instant::now();
    let program = &target.program;
    let mut layouts = Vec::new();
    let mut places = Vec::new();
    for (s, st) in exp.streams.iter().enumerate() {
        for (i, e) in st.events.iter().enumerate() {
            layouts.push(Layout::new(&e.value, &exp.targets));
            places.push((s, i));
        }
    }
    let mut w = Worker::new();
    let verdicts: Vec<Verdict> = layouts
        .iter()
        .map(|l| w.decide_alone(program, &l.text))
        .collect();
    let ctx = Ctx::new(layouts.iter());
    let bases = read_bases(program, &layouts);
    let cands = candidates(exp, program, &layouts, &ctx);
    // The plan: the budget shared between the families, engine faults capped.
    let budget = opts.mutants.unwrap_or(exp.mutants);
    let nf = exp.faults.len() as u64;
    let mut planned = BTreeMap::new();
    let engine = if exp.faults.contains(&Family::Engine) {
        (budget / nf.max(1)).min(MAX_ENGINE)
    } else {
        0
    };
    let others: Vec<Family> = exp
        .faults
        .iter()
        .copied()
        .filter(|f| *f != Family::Engine)
        .collect();
    let rest = budget.saturating_sub(engine);
    for (i, f) in others.iter().enumerate() {
        let n = others.len() as u64;
        let share = rest / n + u64::from((i as u64) < rest % n);
        planned.insert(*f, share);
    }
    if engine > 0 {
        planned.insert(Family::Engine, engine);
    }
    let mut per: Vec<Vec<(Family, u64, u64)>> = exp
        .faults
        .iter()
        .map(|f| {
            let n = planned.get(f).copied().unwrap_or(0);
            (0..n.div_ceil(CHUNK))
                .map(|c| (*f, c * CHUNK, CHUNK.min(n - c * CHUNK)))
                .collect()
        })
        .collect();
    let mut chunks = Vec::new();
    let mut round = 0;
    loop {
        let mut any = false;
        for list in &mut per {
            if let Some(c) = list.get(round) {
                chunks.push(*c);
                any = true;
            }
        }
        if !any {
            break;
        }
        round += 1;
    }
    let plan = Plan {
        exp,
        target,
        layouts,
        verdicts,
        places,
        cands,
        bases,
        ctx,
        chunks,
        planned: planned.clone(),
        monotone: exp.invariants.contains(&Invariant::Monotone),
        stateful: exp.invariants.contains(&Invariant::Stateful),
        fail_closed: exp.invariants.contains(&Invariant::FailClosed),
    };
    let deadline = opts
        .time
        .or(exp.time)
        .map(|ns| started + std::time::Duration::from_nanos(ns));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<BTreeMap<usize, ChunkResult>> = Mutex::new(BTreeMap::new());
    let jobs = opts.jobs.max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let mut w = Worker::new();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(f, from, n)) = plan.chunks.get(i) else {
                        break;
                    };
                    let r = run_chunk(&plan, &mut w, f, from, n, opts.done.as_deref());
                    if let Ok(mut m) = results.lock() {
                        m.insert(i, r);
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    // Only a prefix of the plan counts, so that what is reported is what was covered.
    let mut done = 0;
    while results.contains_key(&done) {
        done += 1;
    }
    let stopped_by_time = done < plan.chunks.len();
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    let mut stats: BTreeMap<Family, FamilyStats> = BTreeMap::new();
    let mut latency = Histogram::default();
    for (i, r) in results {
        if i >= done {
            break;
        }
        latency.merge(&r.latency);
        for (f, s) in r.stats {
            let t = stats.entry(f).or_default();
            t.tried += s.tried;
            t.not_applicable += s.not_applicable;
            t.broken += s.broken;
        }
        for (k, f) in r.findings {
            match findings.get_mut(&k) {
                Some(old) => {
                    let count = old.count + f.count;
                    if f.size < old.size {
                        *old = f;
                    }
                    old.count = count;
                }
                None => {
                    findings.insert(k, f);
                }
            }
        }
    }
    let families = exp
        .faults
        .iter()
        .map(|f| {
            let s = stats.get(f).cloned().unwrap_or_default();
            FamilyStats {
                family: f.name().to_string(),
                planned: plan.planned.get(f).copied().unwrap_or(0),
                ..s
            }
        })
        .collect::<Vec<_>>();
    let tried = families.iter().map(|f| f.tried).sum();
    let broken = families.iter().map(|f| f.broken).sum();
    let mut findings: Vec<Finding> = findings.into_values().collect();
    findings
        .sort_by(|a, b| (&a.invariant, &a.fault, &a.key).cmp(&(&b.invariant, &b.fault, &b.key)));
    RunReport {
        bundle: program.digest.clone(),
        seed: exp.seed,
        budget,
        seed_events: plan.layouts.len(),
        families,
        findings,
        tried,
        broken,
        stopped_by_time,
        elapsed: started.elapsed(),
        latency,
        jobs,
    }
}

fn run_chunk(
    plan: &Plan<'_>,
    w: &mut Worker,
    family: Family,
    from: u64,
    n: u64,
    done: Option<&AtomicU64>,
) -> ChunkResult {
    let mut r = ChunkResult::default();
    for j in from..from + n {
        match family.kind() {
            Kind::Argument => argument_mutant(plan, w, family, j, &mut r),
            Kind::Stream => stream_mutant(plan, family, j, &mut r),
            Kind::Engine => engine_mutant(plan, w, j, &mut r),
        }
        if let Some(d) = done
            && (j + 1) % 256 == 0
        {
            d.fetch_add(256, Ordering::Relaxed);
        }
    }
    if let Some(d) = done {
        d.fetch_add(n % 256, Ordering::Relaxed);
    }
    r
}

fn stat(r: &mut ChunkResult, f: Family) -> &mut FamilyStats {
    r.stats.entry(f).or_default()
}

/// Records a broken invariant: the first of its key in a chunk is kept (shrunk by the
/// caller), later ones only counted.
fn record(r: &mut ChunkResult, f: Finding) {
    match r.findings.get_mut(&f.key) {
        Some(old) => {
            old.count += 1;
            if f.size < old.size {
                let c = old.count;
                *old = f;
                old.count = c;
            }
        }
        None => {
            r.findings.insert(f.key.clone(), f);
        }
    }
}

/// A chain of steps of `family` whose first step is one of `first` (the steps that change
/// the attribute); later steps may be any of the family's (those that do not apply to what
/// the earlier ones made are skipped).
fn make_chain(family: Family, first: &[Op], rng: &mut Rng, chain: &mut Vec<Step>) {
    chain.clear();
    let ops = family.ops();
    let len = match family {
        Family::Type | Family::Drop => 1,
        _ => 1 + rng.below(3),
    };
    for i in 0..len {
        let from = if i == 0 { first } else { ops };
        chain.push(Step {
            op: from
                .get(rng.below(from.len()))
                .copied()
                .unwrap_or(Op::DropKey),
            r: rng.next_u64(),
        });
    }
}

fn argument_mutant(plan: &Plan<'_>, w: &mut Worker, family: Family, j: u64, r: &mut ChunkResult) {
    let program = &plan.target.program;
    let mut rng = Rng::for_mutant(plan.exp.seed, family, j);
    let Some(cands) = plan.cands.get(&family).filter(|c| !c.is_empty()) else {
        stat(r, family).not_applicable += 1;
        return;
    };
    let Some(cand) = cands.get(rng.below(cands.len())) else {
        return;
    };
    let (e, k) = (cand.e, cand.k);
    let (Some(layout), Some(&orig)) = (plan.layouts.get(e as usize), plan.verdicts.get(e as usize))
    else {
        return;
    };
    let Some(leaf) = layout.leaves.get(k as usize) else {
        return;
    };
    // The first step changes the attribute (only such steps are planned).
    let mut chain = std::mem::take(&mut w.chain);
    make_chain(family, &cand.first, &mut rng, &mut chain);
    let mut text = std::mem::take(&mut w.text);
    text.clear();
    let value = mutate::mutate_value(leaf, &chain, &plan.ctx);
    let t0 = Instant::now();
    // A changed value or a dropped attribute is put into the seed's event as read; a step
    // that rewrites the layout (a key moved or written twice, which is what the reader must
    // get right) is written out and read again.
    let change = match (&value, chain.first()) {
        (Some((mutate::V::Str(s), _)), _) => Some(Change::Str(s)),
        (Some((mutate::V::Raw(t), _)), _) => Some(Change::Raw(t)),
        (
            None,
            Some(Step {
                op: Op::DropKey, ..
            }),
        ) if leaf.key.is_some() => Some(Change::Absent),
        _ => None,
    };
    let made = change.is_some_and(|c| w.make(plan, e, cand.reach, c));
    if !made {
        let applied = match &value {
            Some((v, n)) => {
                mutate::write_mutant(layout, leaf, v, &mut text);
                *n
            }
            None => mutate::apply(layout, leaf, &chain, &plan.ctx, &mut text),
        };
        if applied == 0 {
            stat(r, family).not_applicable += 1;
            w.text = text;
            w.chain = chain;
            return;
        }
    }
    stat(r, family).tried += 1;
    let v = if made {
        w.decide_made(program)
    } else {
        w.decide_alone(program, &text)
    };
    r.latency
        .record(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
    if made && (plan.target.user.is_some() || (plan.monotone && v < orig)) {
        match &value {
            Some((value, _)) => mutate::write_mutant(layout, leaf, value, &mut text),
            None => {
                mutate::apply(layout, leaf, &chain, &plan.ctx, &mut text);
            }
        }
    }
    let mut broke = false;
    if plan.monotone && v < orig {
        broke = true;
        let f = shrink_argument(plan, w, family, e, k, &chain, "monotone", j);
        record(r, f);
    }
    if let Some(user) = &plan.target.user {
        let vs = v.as_str();
        let with = with_chaos(&text, vs, orig.as_str(), family.name());
        let uv = w.decide_alone(user, &with);
        if uv == Verdict::Allow {
            broke = true;
            let names: Vec<String> = user
                .determining(&w.outcome)
                .iter()
                .filter_map(|i| user.model.rules.get(*i as usize))
                .map(|ri| ri.id.trim_start_matches("invariants.").to_string())
                .collect();
            for name in names {
                let f = shrink_argument(plan, w, family, e, k, &chain, &name, j);
                record(r, f);
            }
        }
    }
    if broke {
        stat(r, family).broken += 1;
    }
    w.text = text;
    w.chain = chain;
}

/// The mutant text with the `chaos` attributes user invariants read.
fn with_chaos(text: &str, decision: &str, original: &str, fault: &str) -> String {
    let mut s = String::with_capacity(text.len() + 96);
    s.push_str("{\"chaos\":{\"decision\":\"");
    s.push_str(decision);
    s.push_str("\",\"original_decision\":\"");
    s.push_str(original);
    s.push_str("\",\"fault\":\"");
    s.push_str(fault);
    s.push_str("\"}");
    let rest = text.get(1..).unwrap_or("}");
    if !rest.starts_with('}') {
        s.push(',');
    }
    s.push_str(rest);
    s
}

/// Whether the chain still breaks `invariant` on the event.
fn breaks(
    plan: &Plan<'_>,
    w: &mut Worker,
    family: Family,
    e: u32,
    k: u32,
    chain: &[Step],
    invariant: &str,
) -> Option<String> {
    let layout = plan.layouts.get(e as usize)?;
    let leaf = layout.leaves.get(k as usize)?;
    let orig = *plan.verdicts.get(e as usize)?;
    let mut text = String::new();
    if mutate::apply(layout, leaf, chain, &plan.ctx, &mut text) == 0 {
        return None;
    }
    let v = w.decide_alone(&plan.target.program, &text);
    if invariant == "monotone" {
        return (v < orig).then_some(text);
    }
    let user = plan.target.user.as_ref()?;
    let with = with_chaos(&text, v.as_str(), orig.as_str(), family.name());
    if w.decide_alone(user, &with) != Verdict::Allow {
        return None;
    }
    let hit = user
        .determining(&w.outcome)
        .iter()
        .filter_map(|i| user.model.rules.get(*i as usize))
        .any(|ri| ri.id.trim_start_matches("invariants.") == invariant);
    hit.then_some(text)
}

#[allow(clippy::too_many_arguments)]
fn shrink_argument(
    plan: &Plan<'_>,
    w: &mut Worker,
    family: Family,
    e: u32,
    k: u32,
    chain: &[Step],
    invariant: &str,
    j: u64,
) -> Finding {
    let program = &plan.target.program;
    // Only the steps that changed something, then drop steps while it still breaks.
    let mut chain: Vec<Step> = chain.to_vec();
    let mut text = breaks(plan, w, family, e, k, &chain, invariant).unwrap_or_default();
    let mut changed = true;
    while changed && chain.len() > 1 {
        changed = false;
        for i in 0..chain.len() {
            let mut shorter = chain.clone();
            shorter.remove(i);
            if let Some(t) = breaks(plan, w, family, e, k, &shorter, invariant) {
                chain = shorter;
                text = t;
                changed = true;
                break;
            }
        }
    }
    let layout = plan.layouts.get(e as usize);
    let original_text = layout.map(|l| l.text.clone()).unwrap_or_default();
    let attribute = layout
        .and_then(|l| l.leaves.get(k as usize))
        .map(|l| l.path.clone());
    let od = w.decision_alone(program, &original_text);
    let md = w.decision_alone(program, &text);
    let rule = rule_of(program, &md);
    let missed = rule_of(program, &od);
    let key = format!(
        "{invariant}|{}|{}|{}|{}",
        family.name(),
        attribute.as_deref().unwrap_or(""),
        od.rules.join(","),
        md.rules.join(",")
    );
    let seed = plan
        .places
        .get(e as usize)
        .and_then(|(s, i)| plan.exp.streams.get(*s)?.events.get(*i))
        .map(|ev| ev.origin.clone())
        .unwrap_or_default();
    Finding {
        invariant: invariant.to_string(),
        fault: family.name().to_string(),
        mutation: chain.iter().map(|s| s.op.name().to_string()).collect(),
        attribute,
        seed,
        original: parse_json(&original_text),
        mutated: parse_json(&text),
        original_stream: Vec::new(),
        mutated_stream: Vec::new(),
        original_decision: od.to_json(),
        mutated_decision: md.to_json(),
        rule,
        missed,
        count: 1,
        key,
        size: (chain.len(), text.len(), j),
    }
}

/// A stream mutation, in terms of seed positions so that it can be replayed on fewer events.
#[derive(Clone, Copy, Debug)]
enum StreamOp {
    /// `k` copies of event `p` right before it (a retry, a burst).
    Copies { p: usize, k: usize },
    /// From event `p` on, the agent of `p` speaks under a second session.
    SecondSession { p: usize },
    /// Calls `p` and `q` in each other's place (each place keeps its time).
    Swap { p: usize, q: usize },
    /// Event `p`'s clock is `delta` ns off.
    Skew { p: usize, delta: i64 },
}

impl StreamOp {
    fn name(self) -> String {
        match self {
            StreamOp::Copies { k: 1, .. } => "the call sent twice".into(),
            StreamOp::Copies { k, .. } => format!("the call sent {} times", k + 1),
            StreamOp::SecondSession { .. } => "the agent under a second session".into(),
            StreamOp::Swap { .. } => "two calls in each other's place".into(),
            StreamOp::Skew { delta, .. } => format!(
                "clock {} by {}",
                if delta > 0 { "ahead" } else { "behind" },
                show_ns(delta.unsigned_abs())
            ),
        }
    }

    /// Positions that must stay when shrinking.
    fn anchors(self) -> Vec<usize> {
        match self {
            StreamOp::Copies { p, .. }
            | StreamOp::SecondSession { p }
            | StreamOp::Skew { p, .. } => vec![p],
            StreamOp::Swap { p, q } => vec![p, q],
        }
    }
}

fn show_ns(ns: u64) -> String {
    if ns.is_multiple_of(3_600_000_000_000) {
        format!("{}h", ns / 3_600_000_000_000)
    } else if ns.is_multiple_of(60_000_000_000) {
        format!("{}m", ns / 60_000_000_000)
    } else {
        format!("{}s", ns / 1_000_000_000)
    }
}

fn field<'a>(v: &'a Json, path: &[&str]) -> Option<&'a Json> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

fn same_call(a: &Json, b: &Json) -> bool {
    ["action", "tool"].iter().all(|k| a.get(k) == b.get(k))
        && field(a, &["agent", "id"]) == field(b, &["agent", "id"])
}

/// The mutated stream over the seed positions `keep` (sorted), with each event's origin
/// (its index in `keep`), or `None` when the mutation does not apply.
fn mutate_stream(
    events: &[super::spec::SeedEvent],
    keep: &[usize],
    op: StreamOp,
) -> Option<Vec<(Json, Option<usize>)>> {
    let get = |i: usize| events.get(i).map(|e| e.value.clone());
    let mut out: Vec<(Json, Option<usize>)> = Vec::with_capacity(keep.len() + 16);
    match op {
        StreamOp::Copies { p, k } => {
            for (n, &i) in keep.iter().enumerate() {
                if i == p {
                    for _ in 0..k {
                        out.push((get(i)?, None));
                    }
                }
                out.push((get(i)?, Some(n)));
            }
        }
        StreamOp::SecondSession { p } => {
            let agent = field(&events.get(p)?.value, &["agent", "id"])?.clone();
            for (n, &i) in keep.iter().enumerate() {
                let mut v = get(i)?;
                if i >= p && field(&v, &["agent", "id"]) == Some(&agent) {
                    let s = match v.get("session") {
                        Some(Json::String(s)) => format!("{s}~2"),
                        _ => "chaos~2".to_string(),
                    };
                    if let Some(o) = v.as_object_mut() {
                        o.insert("session".into(), Json::String(s));
                    }
                }
                out.push((v, Some(n)));
            }
        }
        StreamOp::Swap { p, q } => {
            let np = keep.iter().position(|&i| i == p)?;
            let nq = keep.iter().position(|&i| i == q)?;
            for (n, &i) in keep.iter().enumerate() {
                let from = if n == np {
                    nq
                } else if n == nq {
                    np
                } else {
                    n
                };
                // The calls change places; the times stay where they were (time order holds:
                // out-of-order timestamps are the clock-skew family's).
                let mut v = get(*keep.get(from)?)?;
                if from != n
                    && let (Some(ts), Some(o)) = (get(i)?.get("ts").cloned(), v.as_object_mut())
                {
                    o.insert("ts".into(), ts);
                }
                out.push((v, Some(from)));
            }
        }
        StreamOp::Skew { p, delta } => {
            for (n, &i) in keep.iter().enumerate() {
                let mut v = get(i)?;
                if i == p {
                    let ts = v.get("ts")?.as_str()?;
                    let t = crate::time::parse_rfc3339(ts)?;
                    let s = crate::trace::format_ts(t.checked_add(delta)?);
                    v.as_object_mut()?.insert("ts".into(), Json::String(s));
                }
                out.push((v, Some(n)));
            }
        }
    }
    Some(out)
}

/// Checks a stream mutation over `keep`: the first event (index into `keep`) whose decision
/// became more permissive, with the stream texts and decisions.
struct StreamBreak {
    event: usize,
    orig_texts: Vec<String>,
    mut_texts: Vec<String>,
    /// Index in the mutated stream of the event whose decision changed.
    mut_event: usize,
}

fn check_stream(
    plan: &Plan<'_>,
    s: usize,
    keep: &[usize],
    op: StreamOp,
    restart: Option<usize>,
    lat: Option<&mut Histogram>,
) -> Option<StreamBreak> {
    let events = &plan.exp.streams.get(s)?.events;
    let program = &plan.target.program;
    if let StreamOp::Skew { p, .. } = op
        && keep.first() == Some(&p)
    {
        // The first event of a stream sets its time: there is nothing to be skewed against.
        return None;
    }
    let orig_texts: Vec<String> = keep
        .iter()
        .filter_map(|&i| events.get(i).map(|e| e.value.to_string()))
        .collect();
    let (mut_texts, origins, restart_at) = match restart {
        Some(p) => {
            let at = keep.iter().position(|&i| i == p)?;
            (
                orig_texts.clone(),
                (0..keep.len()).map(Some).collect(),
                Some(at),
            )
        }
        None => {
            let m = mutate_stream(events, keep, op)?;
            let texts = m.iter().map(|(v, _)| v.to_string()).collect::<Vec<_>>();
            (texts, m.iter().map(|(_, o)| *o).collect::<Vec<_>>(), None)
        }
    };
    let (ov, _) = decide_stream(program, clock_of(plan, s), &orig_texts, None, None, false);
    let (mv, _) = match restart_at {
        Some(at) => decide_restart(plan, s, &mut_texts, at, false),
        None => decide_stream(program, clock_of(plan, s), &mut_texts, None, lat, false),
    };
    if let (StreamOp::Swap { .. }, None) = (op, restart) {
        // Out-of-order delivery moves which call trips a limit: the stream as a whole must
        // be no more permissive (as many denials, as many denials or escalations).
        for t in [Verdict::Deny, Verdict::Escalate] {
            let o = ov.iter().filter(|v| **v >= t).count();
            let m = mv.iter().filter(|v| **v >= t).count();
            if m < o {
                let (mi, oi) = mv
                    .iter()
                    .zip(&origins)
                    .enumerate()
                    .find_map(|(mi, (v, o))| {
                        let oi = (*o)?;
                        (*v < *ov.get(oi)?).then_some((mi, oi))
                    })?;
                return Some(StreamBreak {
                    event: oi,
                    orig_texts,
                    mut_texts,
                    mut_event: mi,
                });
            }
        }
        return None;
    }
    for (mi, (v, o)) in mv.iter().zip(&origins).enumerate() {
        if let Some(oi) = *o
            && ov.get(oi).is_some_and(|ovv| v < ovv)
        {
            return Some(StreamBreak {
                event: oi,
                orig_texts,
                mut_texts,
                mut_event: mi,
            });
        }
    }
    None
}

fn pick_stream_op(
    plan: &Plan<'_>,
    family: Family,
    rng: &mut Rng,
) -> Option<(usize, usize, StreamOp)> {
    let total = plan.places.len();
    for _ in 0..8 {
        let &(s, p) = plan.places.get(rng.below(total))?;
        let events = &plan.exp.streams.get(s)?.events;
        let op = match family {
            Family::Duplicate => {
                if rng.below(2) == 0 {
                    StreamOp::Copies { p, k: 1 }
                } else {
                    if field(&events.get(p)?.value, &["agent", "id"]).is_none() {
                        continue;
                    }
                    StreamOp::SecondSession { p }
                }
            }
            Family::Burst => StreamOp::Copies {
                p,
                k: 2 + rng.below(15),
            },
            Family::Reorder => {
                let ev = &events.get(p)?.value;
                let lo = p.saturating_sub(REORDER_SPAN);
                let hi = (p + REORDER_SPAN).min(events.len().saturating_sub(1));
                let qs: Vec<usize> = (lo..=hi)
                    .filter(|&q| q != p && events.get(q).is_some_and(|e| same_call(&e.value, ev)))
                    .collect();
                let Some(&q) = qs.get(rng.below(qs.len())) else {
                    continue;
                };
                StreamOp::Swap { p, q }
            }
            Family::ClockSkew => {
                if plan.exp.streams.get(s).is_some_and(|st| st.trusted) {
                    // A suite's times are vouched for: nothing to skew.
                    continue;
                }
                let ts = events.get(p)?.value.get("ts").and_then(Json::as_str);
                if ts.and_then(crate::time::parse_rfc3339).is_none() {
                    continue;
                }
                StreamOp::Skew {
                    p,
                    delta: *SKEWS.get(rng.below(SKEWS.len()))?,
                }
            }
            _ => return None,
        };
        return Some((s, p, op));
    }
    None
}

fn window(len: usize, p: usize) -> Vec<usize> {
    (p.saturating_sub(WINDOW)..(p + WINDOW + 1).min(len)).collect()
}

fn stream_mutant(plan: &Plan<'_>, family: Family, j: u64, r: &mut ChunkResult) {
    let mut rng = Rng::for_mutant(plan.exp.seed, family, j);
    let Some((s, p, op)) = pick_stream_op(plan, family, &mut rng) else {
        stat(r, family).not_applicable += 1;
        return;
    };
    let len = plan.exp.streams.get(s).map_or(0, |st| st.events.len());
    let keep = window(len, p);
    stat(r, family).tried += 1;
    if !plan.stateful {
        // Decided for the latency figures, checked against nothing.
        let mut lat = std::mem::take(&mut r.latency);
        let _ = check_stream(plan, s, &keep, op, None, Some(&mut lat));
        r.latency = lat;
        return;
    }
    let mut lat = std::mem::take(&mut r.latency);
    let hit = check_stream(plan, s, &keep, op, None, Some(&mut lat));
    r.latency = lat;
    if hit.is_some()
        && let Some(f) = shrink_stream(plan, s, keep, op, None, "stateful", family.name(), j)
    {
        stat(r, family).broken += 1;
        record(r, f);
    }
}

#[allow(clippy::too_many_arguments)]
fn shrink_stream(
    plan: &Plan<'_>,
    s: usize,
    mut keep: Vec<usize>,
    mut op: StreamOp,
    restart: Option<usize>,
    invariant: &str,
    fault: &str,
    j: u64,
) -> Option<Finding> {
    let program = &plan.target.program;
    let mut hit = check_stream(plan, s, &keep, op, restart, None)?;
    // Fewer copies first, then fewer events: drop any event the break does not need.
    if let StreamOp::Copies { p, k } = op {
        let mut k = k;
        while k > 1 {
            let fewer = StreamOp::Copies { p, k: k - 1 };
            match check_stream(plan, s, &keep, fewer, restart, None) {
                Some(h) => {
                    hit = h;
                    op = fewer;
                    k -= 1;
                }
                None => break,
            }
        }
    }
    let mut anchors = op.anchors();
    anchors.extend(restart);
    let events = &plan.exp.streams.get(s)?.events;
    let full: BTreeMap<usize, Verdict> = {
        let texts: Vec<String> = keep
            .iter()
            .filter_map(|&i| events.get(i).map(|e| e.value.to_string()))
            .collect();
        let (v, _) = decide_stream(program, clock_of(plan, s), &texts, None, None, false);
        keep.iter().copied().zip(v).collect()
    };
    let mut changed = true;
    while changed {
        changed = false;
        let mut i = 0;
        while i < keep.len() {
            let pos = *keep.get(i)?;
            if anchors.contains(&pos) {
                i += 1;
                continue;
            }
            let mut fewer = keep.clone();
            fewer.remove(i);
            // A smaller stream must keep the original's decisions: removing events must not
            // make the original itself decide differently (a gap in time it cannot confirm,
            // a count it no longer reaches), or the finding would be the shrinking's own.
            let same = {
                let texts: Vec<String> = fewer
                    .iter()
                    .filter_map(|&i| events.get(i).map(|e| e.value.to_string()))
                    .collect();
                let (v, _) = decide_stream(program, clock_of(plan, s), &texts, None, None, false);
                fewer
                    .iter()
                    .zip(&v)
                    .all(|(pos, v)| full.get(pos) == Some(v))
            };
            if !same {
                i += 1;
                continue;
            }
            match check_stream(plan, s, &fewer, op, restart, None) {
                Some(h) => {
                    keep = fewer;
                    hit = h;
                    changed = true;
                }
                None => i += 1,
            }
        }
    }
    let (_, od) = decide_stream(
        program,
        clock_of(plan, s),
        &hit.orig_texts,
        None,
        None,
        true,
    );
    let restart_at = restart.and_then(|p| keep.iter().position(|&i| i == p));
    let (_, md) = match restart_at {
        Some(at) => decide_restart(plan, s, &hit.mut_texts, at, true),
        None => decide_stream(program, clock_of(plan, s), &hit.mut_texts, None, None, true),
    };
    let o = od.get(hit.event)?;
    let m = md.get(hit.mut_event)?;
    if let StreamOp::SecondSession { .. } = op
        && keyed_by_session(program, o)
    {
        // The rule counts per session: a second session is a second count by design.
        return None;
    }
    if let StreamOp::Swap { .. } = op
        && order_dependent(program, o)
    {
        return None;
    }
    let seed = events
        .get(*keep.get(hit.event)?)
        .map(|e| e.origin.clone())
        .unwrap_or_default();
    let mutation = match restart {
        Some(_) if plan.exp.audit_log => {
            vec!["a restart that restored the stream state from the audit log".to_string()]
        }
        Some(_) => vec!["a restart that lost the stream state".to_string()],
        None => vec![op.name()],
    };
    let key = format!(
        "{invariant}|{fault}|{}|{}|{}",
        mutation.join(","),
        o.rules.join(","),
        m.rules.join(",")
    );
    Some(Finding {
        invariant: invariant.to_string(),
        fault: fault.to_string(),
        mutation,
        attribute: None,
        seed,
        original: parse_json(hit.orig_texts.get(hit.event)?),
        mutated: parse_json(hit.mut_texts.get(hit.mut_event)?),
        original_stream: hit.orig_texts.iter().map(|t| parse_json(t)).collect(),
        mutated_stream: hit.mut_texts.iter().map(|t| parse_json(t)).collect(),
        original_decision: o.to_json(),
        mutated_decision: m.to_json(),
        rule: rule_of(program, m),
        missed: rule_of(program, o),
        count: 1,
        key,
        size: (
            hit.mut_texts.len(),
            hit.mut_texts.iter().map(String::len).sum(),
            j,
        ),
    })
}

/// The clock a seed stream is decided with: a suite's times are vouched for (as `govern
/// test` decides them), a trace's are believed within the skew of stream time.
fn clock_of(plan: &Plan<'_>, s: usize) -> Clock {
    match plan.exp.streams.get(s) {
        Some(st) if st.trusted => Clock::Trusted,
        _ => Clock::Event,
    }
}

/// Whether a rule that decided `d` reads a `seen` or a `sum`: what was seen before depends
/// on the order by design, and so does which call of several amounts crosses a budget (a
/// budget that counts refused calls may refuse more of them in one order than in another,
/// letting less through). Only `count`s must trip as often in any order.
fn order_dependent(program: &Program, d: &Decision) -> bool {
    let m = &program.model;
    d.rules
        .iter()
        .filter_map(|id| m.rules.iter().find(|r| r.id == *id))
        .flat_map(|r| {
            r.trackers
                .iter()
                .filter_map(|t| m.trackers.get(*t as usize))
        })
        .any(|t| t.kind != crate::check::StatefulKind::Count)
}

/// Whether every stateful rule that decided `d` keys its state by `session`.
fn keyed_by_session(program: &Program, d: &Decision) -> bool {
    let m = &program.model;
    let session = m
        .slots
        .iter()
        .position(|p| p.len() == 1 && p.first().is_some_and(|s| s == "session"));
    let Some(session) = session.and_then(|i| u32::try_from(i).ok()) else {
        return false;
    };
    let trackers: Vec<&crate::bytecode::model::Tracker> = d
        .rules
        .iter()
        .filter_map(|id| m.rules.iter().find(|r| r.id == *id))
        .flat_map(|r| {
            r.trackers
                .iter()
                .filter_map(|t| m.trackers.get(*t as usize))
        })
        .collect();
    !trackers.is_empty() && trackers.iter().all(|t| t.per.contains(&session))
}

/// Engine faults, in turn: a corrupted bundle, a truncated one, a decision whose time budget
/// ran out or whose audit log cannot be written, a restart of the decision point (restoring
/// its stream state from its audit log, or losing it without one).
fn engine_mutant(plan: &Plan<'_>, w: &mut Worker, j: u64, r: &mut ChunkResult) {
    let fam = Family::Engine;
    let mut rng = Rng::for_mutant(plan.exp.seed, fam, j);
    let program = &plan.target.program;
    let bytes = &plan.target.bytes;
    let check = plan.fail_closed;
    match j % 4 {
        0 | 1 => {
            // A bundle damaged on disk or in transit: the loader must refuse it (a point
            // then keeps the bundle in force, or does not start: nothing is allowed).
            let mut bad = bytes.clone();
            if j.is_multiple_of(4) {
                let at = rng.below(bad.len());
                if let Some(b) = bad.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            } else {
                bad.truncate(rng.below(bad.len()));
            }
            stat(r, fam).tried += 1;
            if let Ok(p) = crate::pipeline::load_bundle_bytes("<corrupt>", &bad)
                && check
            {
                // Loaded: it must decide no seed more permissively than the real bundle.
                let Some(layout) = plan.layouts.get(rng.below(plan.layouts.len())) else {
                    return;
                };
                let o = w.decide_alone(program, &layout.text);
                let m = w.decide_alone(&p, &layout.text);
                if m < o {
                    stat(r, fam).broken += 1;
                    let od = w.decision_alone(program, &layout.text);
                    let md = w.decision_alone(&p, &layout.text);
                    record(
                        r,
                        Finding {
                            invariant: "fail-closed".into(),
                            fault: fam.name().into(),
                            mutation: vec!["a corrupted bundle that loaded".into()],
                            attribute: None,
                            seed: String::new(),
                            original: parse_json(&layout.text),
                            mutated: parse_json(&layout.text),
                            original_stream: Vec::new(),
                            mutated_stream: Vec::new(),
                            original_decision: od.to_json(),
                            mutated_decision: md.to_json(),
                            rule: rule_of(&p, &md),
                            missed: rule_of(program, &od),
                            count: 1,
                            key: "fail-closed|engine|corrupt".into(),
                            size: (1, 0, j),
                        },
                    );
                }
            }
        }
        2 => {
            // In turn: a decision whose time budget ran out at the decision point, and a
            // seed event decided by a point whose audit log (`--audit-required`) cannot be
            // written.
            let audit = (j / 4) % 2 == 1;
            let layout = if audit {
                let Some(l) = plan.layouts.get(rng.below(plan.layouts.len())) else {
                    return;
                };
                Some(l)
            } else {
                None
            };
            stat(r, fam).tried += 1;
            let mut out = String::new();
            let d = match layout {
                Some(l) => audit_unwritable(plan, &l.text, &mut out),
                None => budget_exhausted(plan, &mut out),
            };
            if check && d != Some(Verdict::Deny) {
                stat(r, fam).broken += 1;
                let (what, key) = if audit {
                    (
                        "the audit log could not be written",
                        "fail-closed|engine|audit",
                    )
                } else {
                    (
                        "the decision's time budget ran out",
                        "fail-closed|engine|budget",
                    )
                };
                let event = layout.map_or(Json::Null, |l| parse_json(&l.text));
                record(
                    r,
                    Finding {
                        invariant: "fail-closed".into(),
                        fault: fam.name().into(),
                        mutation: vec![what.into()],
                        attribute: None,
                        seed: String::new(),
                        original: event.clone(),
                        mutated: event,
                        original_stream: Vec::new(),
                        mutated_stream: Vec::new(),
                        original_decision: Json::String("deny".into()),
                        mutated_decision: parse_json(&out),
                        rule: None,
                        missed: None,
                        count: 1,
                        key: key.into(),
                        size: (1, 0, j),
                    },
                );
            }
        }
        _ => {
            // A restart of the decision point in the middle of a stretch of a stream: its state
            // restored from its audit log, or lost when the point has none.
            let Some(&(s, p)) = plan.places.get(rng.below(plan.places.len())) else {
                return;
            };
            let len = plan.exp.streams.get(s).map_or(0, |st| st.events.len());
            let keep = window(len, p);
            if keep.first() == Some(&p) {
                stat(r, fam).not_applicable += 1;
                return;
            }
            stat(r, fam).tried += 1;
            let op = StreamOp::Copies { p, k: 0 };
            if check
                && check_stream(plan, s, &keep, op, Some(p), None).is_some()
                && let Some(f) =
                    shrink_stream(plan, s, keep, op, Some(p), "fail-closed", fam.name(), j)
            {
                stat(r, fam).broken += 1;
                record(r, f);
            }
        }
    }
}

/// Opens a decision point on the bundle, written into a folder of its own (removed after),
/// with the audit log `audit` makes in that folder (and whether it is required), and returns
/// what `ask` makes of it.
fn with_point(
    plan: &Plan<'_>,
    audit: impl FnOnce(&std::path::Path) -> Option<(crate::point::Recorder, bool)>,
    ask: impl FnOnce(&std::path::Path, &crate::point::Point) -> Option<Verdict>,
) -> Option<Verdict> {
    use crate::point::{Options as PointOptions, Point, Source};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "govern-chaos-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("bundle.govb");
    let result = (|| {
        std::fs::write(&path, &plan.target.bytes).ok()?;
        let (recorder, audit_required) = audit(&dir)?;
        let point = Point::open(PointOptions {
            source: Source {
                bundle: path.clone(),
                signature: None,
                trust: None,
                state: None,
            },
            max_keys: StreamLimits::default().max_keys,
            audit: recorder,
            audit_required,
            log: Arc::new(crate::point::log::Log::discard()),
        })
        .ok()?;
        ask(&dir, &point)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Decides `event` at a decision point, opened on the bundle with `--audit-required`, whose
/// audit log cannot be written (its folder is gone when the log must start its next file);
/// returns its verdict.
fn audit_unwritable(plan: &Plan<'_>, event: &str, out: &mut String) -> Option<Verdict> {
    let opts = crate::audit::Options {
        rotate: Some(1),
        ..crate::audit::Options::default()
    };
    with_point(
        plan,
        |dir| {
            std::fs::create_dir_all(dir.join("log")).ok()?;
            let log = dir.join("log").join("audit.jsonl");
            Some((crate::point::Recorder::to(log, opts), true))
        },
        |dir, point| {
            std::fs::remove_dir_all(dir.join("log")).ok()?;
            let a = point.decide(event, &mut crate::point::Scratch::default(), out);
            // A denial for any other reason would prove nothing about the log: only the
            // point's own answer to the failure counts (anything else is reported).
            out.contains("the audit log cannot be written")
                .then_some(a.verdict)
        },
    )
}

/// Asks a decision point, opened on the bundle, for the decision of a request whose time
/// budget ran out; returns its verdict.
fn budget_exhausted(plan: &Plan<'_>, out: &mut String) -> Option<Verdict> {
    with_point(
        plan,
        |_| Some((crate::point::Recorder::none(), false)),
        |_, point| {
            let a = point.give_up(
                crate::point::Failure::Budget,
                "the decision took longer than its budget",
                out,
            );
            Some(a.verdict)
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    /// A plan over a shipped experiment, as [`run`] makes it (the parts mutants need).
    fn plan_of<'a>(exp: &'a Experiment, target: &'a Target) -> Plan<'a> {
        let program = &target.program;
        let mut layouts = Vec::new();
        for st in &exp.streams {
            for e in &st.events {
                layouts.push(Layout::new(&e.value, &exp.targets));
            }
        }
        let ctx = Ctx::new(layouts.iter());
        let bases = read_bases(program, &layouts);
        let cands = candidates(exp, program, &layouts, &ctx);
        Plan {
            exp,
            target,
            layouts,
            verdicts: Vec::new(),
            places: Vec::new(),
            cands,
            bases,
            ctx,
            chunks: Vec::new(),
            planned: BTreeMap::new(),
            monotone: true,
            stateful: false,
            fail_closed: false,
        }
    }

    /// Every mutant made by changing the seed's event as read decides exactly as reading
    /// its text does (the decision as data: verdict, rules, reasons), and every step planned
    /// first changes its attribute.
    #[test]
    fn a_mutant_made_in_the_event_decides_as_its_text() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        for path in [
            "testdata/chaos/library.chaos.yaml",
            "examples/chaos/weak.chaos.yaml",
        ] {
            let exp = super::super::spec::load(&root.join(path)).unwrap();
            let target = super::super::load_target(&exp).unwrap();
            let plan = plan_of(&exp, &target);
            let program = &target.program;
            let mut w = Worker::new();
            let (mut made, mut slots, mut items) = (0, 0, 0);
            let mut text = String::new();
            for (family, cands) in &plan.cands {
                for (n, cand) in cands.iter().enumerate() {
                    let layout = &plan.layouts[cand.e as usize];
                    let leaf = &layout.leaves[cand.k as usize];
                    for (i, op) in cand.first.iter().enumerate() {
                        let mut rng = Rng::for_mutant(7, *family, (n * 16 + i) as u64);
                        let mut chain = Vec::new();
                        make_chain(*family, std::slice::from_ref(op), &mut rng, &mut chain);
                        assert!(
                            mutate::apply(layout, leaf, &chain, &plan.ctx, &mut text) > 0,
                            "{op:?} was planned first on {} but changes nothing",
                            leaf.path
                        );
                        let value = mutate::mutate_value(leaf, &chain, &plan.ctx);
                        let change = match &value {
                            Some((mutate::V::Str(s), _)) => Change::Str(s),
                            Some((mutate::V::Raw(t), _)) => Change::Raw(t),
                            None if *op == Op::DropKey => Change::Absent,
                            None => continue,
                        };
                        if !w.make(&plan, cand.e, cand.reach, change) {
                            continue;
                        }
                        made += 1;
                        match cand.reach {
                            Reach::Slot(_) => slots += 1,
                            Reach::Item(..) => items += 1,
                            _ => {}
                        }
                        let v = w.decide_made(program);
                        let quick = program.decision(&w.outcome).to_json();
                        let read = w.decide_alone(program, &text);
                        let slow = program.decision(&w.outcome).to_json();
                        assert_eq!(v, read, "{path}: {text}");
                        assert_eq!(quick, slow, "{path}: {text}");
                    }
                }
            }
            assert!(made > 100 && slots > 20, "{path}: {made} {slots}");
            if path.contains("library") {
                assert!(items > 0, "no list item was changed in place");
            }
        }
    }

    #[test]
    fn where_an_attribute_is_read() {
        let built = crate::pipeline::build_sources(vec![crate::diag::SourceFile::new(
            "p.gov",
            "policy p {\n  rule a: deny when args.path == \"/x\"\n  rule b: deny when args.cmd contains \"rm\"\n  rule c: deny when has args.opts\n  rule d: deny when args.deep.x == \"y\"\n}\n"
                .to_string(),
        )])
        .unwrap();
        let p = &built.program;
        let segs = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let slot = |s: &[&str]| {
            let s = segs(s);
            p.model.slots.iter().position(|x| *x == s).unwrap() as u32
        };
        assert_eq!(
            Reach::of(p, &segs(&["args", "path"])),
            Reach::Slot(slot(&["args", "path"]))
        );
        assert_eq!(
            Reach::of(p, &segs(&["args", "cmd", "[2]"])),
            Reach::Item(slot(&["args", "cmd"]), 2)
        );
        assert_eq!(Reach::of(p, &segs(&["args", "opts", "k"])), Reach::Unread);
        assert_eq!(Reach::of(p, &segs(&["args", "other"])), Reach::Unread);
        assert_eq!(Reach::of(p, &segs(&["args", "deep"])), Reach::Text);
        assert_eq!(Reach::of(p, &segs(&["ts"])), Reach::Text);
    }
}
