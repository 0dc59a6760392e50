//! The VM: walks the verified decision diagram of a bundle over one event.
//!
//! `Program::load` decodes and verifies bytes (see [`crate::bytecode`]), then builds the
//! runtime tables: a hash table per string switch, compiled regexes, and each leaf's decision
//! computed once. Evaluating an event is then a walk from each root to a leaf (one per group,
//! usually one in all), testing each variable at most once, with no allocation once the
//! scratch buffers have grown. A diagram that forks is walked as one combined walk (see
//! [`combine`]), which reaches the same leaves in the same order; it is built when a
//! decision point loads the bundle ([`Program::combine_walks`]), or else after the first
//! few thousand decisions, so that a command deciding a few events loads as fast as before.
//! The walks that go on separately (a fork's children before the combined walk is built,
//! those past its bound after) keep what each variable that reads no stream state gave the
//! event ([`State::recall`]), and the walks after test it without evaluating it again.
//! Depends on `bytecode` only.

mod combine;
pub mod event;
pub mod exact;
mod regexes;
pub mod state;
mod strtable;

use std::fmt;

use regex_automata::meta::Regex;

use crate::builtins::Written;
use crate::bytecode::model::{
    CmpOp, Func, LeafSummary, Model, NodeDef, Operand, Pred, StatefulKind, Target, Tracker, Ty,
    Var, Verdict,
};
use crate::decision::{Decision, Warning, write_json_str};
pub use event::{Event, EventError, Paths, Val, event_as_decided};
use regexes::RegexBudget;
use state::{Rec, RecKind, TrackerValue};
pub use state::{State, StreamLimits};

/// Why a bundle could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub message: String,
    /// The regex variable that could not be compiled within the bounds, and why, if that is
    /// why.
    pub regex: Option<(u32, String)>,
}

impl LoadError {
    fn new(message: String) -> LoadError {
        LoadError {
            message,
            regex: None,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

/// A loaded, verified, ready-to-run bundle.
pub struct Program {
    pub model: Model,
    /// `sha256:` of the bundle bytes.
    pub digest: String,
    paths: Paths,
    vars: Vec<RVar>,
    nodes: Vec<RNode>,
    leaves: Vec<RLeaf>,
    roots: Vec<Target>,
    /// Display name of each slot, and its rank when names are sorted.
    slot_names: Vec<String>,
    slot_rank: Vec<u32>,
    bufs: usize,
    /// Whether each variable depends on the stream (a tracker, or `time.*`).
    var_state: Vec<bool>,
    /// The slots of `ts`, `time.hour` and `time.weekday`, when the program reads them.
    ts_slot: Option<u32>,
    /// The slot of `ts` when a variable, tracker or rule reads it ([`reads_slot`]): the
    /// compiler gives every bundle a `ts` slot, read or not, and an event only decided has
    /// its stamp's text written there only when something reads it
    /// ([`Program::stamp_to_decide`]).
    ts_read: Option<u32>,
    time_slots: [Option<u32>; 2],
    reads_time: bool,
    /// Each tracker's key group: trackers with the same `per` attributes share one, and so
    /// the key an event gives them (built once per event, see [`State::select_key`]).
    key_groups: Vec<u32>,
    /// The JSON string literals every decision repeats, escaped once at load.
    json: JsonText,
    /// The walks of the roots and their forks combined into one (see [`combine`]), when the
    /// diagram forks and the combination stays within its bounds. Its nodes are targets
    /// `nodes.len() + i` in the starts of [`Program::prewalk`]. Built on demand
    /// ([`Program::combine_walks`]): by a decision point when it loads a bundle, otherwise
    /// once [`COMBINE_AFTER`] walks have gone separately, so that a command deciding a few
    /// events does not pay for building it. Either walk reaches the same leaves in the same
    /// order: when it is built changes no decision.
    combined: std::sync::OnceLock<Option<combine::Combined>>,
    /// Walks taken separately while the combined walk was not built (counted up to
    /// [`COMBINE_AFTER`]).
    uncombined: std::sync::atomic::AtomicU32,
    /// A number no other program loaded in this process has: scratch state made for this
    /// program is told from another's by it, without comparing digests.
    id: u64,
}

/// The next [`Program`]'s `id`.
static PROGRAMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Decisions (and pre-walks) walked separately before the walks are combined, where nothing
/// asked for the combination at load: building it costs about as much as a few thousand
/// decisions save with it.
const COMBINE_AFTER: u32 = 2048;

/// Each rule's id and message and the bundle's digest as JSON string literals (quoted and
/// escaped by [`write_json_str`]): a decision copies them instead of escaping them again.
/// The text between them that is the same for every decision of a rule, or of the bundle,
/// is joined at load too, so that a decision with one determining rule and no warnings or
/// unknowns is written in three copies.
struct JsonText {
    ids: Vec<Box<str>>,
    messages: Vec<Option<Box<str>>>,
    /// Per rule, the text from its id to the opening of the messages' list when it is the
    /// only determining rule: `ID],"messages":[MESSAGE` (or `ID],"messages":[`).
    alone: Vec<Box<str>>,
    /// The end of a decision without warnings or unknowns, from the close of the messages'
    /// list: `],"warnings":[],"unknown":[],"bundle":DIGEST}`.
    plain_end: Box<str>,
    /// The end of any decision, from the close of the unknowns' list:
    /// `],"bundle":DIGEST}`.
    end: Box<str>,
}

/// The start of a decision's JSON up to its list of rules, for each verdict.
fn json_head(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "{\"decision\":\"allow\",\"rules\":[",
        Verdict::Escalate => "{\"decision\":\"escalate\",\"rules\":[",
        Verdict::Deny => "{\"decision\":\"deny\",\"rules\":[",
    }
}

/// Between a decision's rules and its messages.
const JSON_RULES_TO_MESSAGES: &str = "],\"messages\":[";

/// Whether anything a program tests or keeps reads `slot`: a variable's operand (functions'
/// arguments included) or presence test, a tracker's key, summed value or the attributes of
/// its condition, or a rule's attributes.
fn reads_slot(model: &Model, slot: u32) -> bool {
    fn operand(o: &Operand, slot: u32) -> bool {
        match o {
            Operand::Slot { slot: s, .. } => *s == slot,
            Operand::Func { arg, .. } => operand(arg, slot),
            Operand::Str(_) | Operand::Num(_) | Operand::Bool(_) | Operand::Tracker(_) => false,
        }
    }
    let var = |v: &Var| match v {
        Var::Has { slot: s } => *s == slot,
        v => v.operands().into_iter().any(|o| operand(o, slot)),
    };
    model.vars.iter().any(var)
        || model.trackers.iter().any(|t| {
            t.per.contains(&slot) || t.value == Some(slot) || t.refs.iter().any(|(s, _)| *s == slot)
        })
        || model
            .rules
            .iter()
            .any(|r| r.refs.iter().any(|(s, _)| *s == slot))
}

impl JsonText {
    fn new(model: &Model, digest: &str) -> JsonText {
        let literal = |s: &str| {
            let mut out = String::with_capacity(s.len() + 2);
            write_json_str(&mut out, s);
            out.into_boxed_str()
        };
        let ids: Vec<Box<str>> = model.rules.iter().map(|r| literal(&r.id)).collect();
        let messages: Vec<Option<Box<str>>> = model
            .rules
            .iter()
            .map(|r| r.message.as_deref().map(literal))
            .collect();
        let alone = ids
            .iter()
            .zip(&messages)
            .map(|(id, m)| {
                let mut s = String::new();
                s.push_str(id);
                s.push_str(JSON_RULES_TO_MESSAGES);
                s.push_str(m.as_deref().unwrap_or(""));
                s.into_boxed_str()
            })
            .collect();
        let digest = literal(digest);
        JsonText {
            ids,
            messages,
            alone,
            plain_end: format!("],\"warnings\":[],\"unknown\":[],\"bundle\":{digest}}}").into(),
            end: format!("],\"bundle\":{digest}}}").into(),
        }
    }
}

enum RVar {
    Switch { op: ROp, table: strtable::StrTable },
    Thresh { op: ROp },
    Bool { op: ROp },
    Has { slot: u32 },
    Pred(RPred),
}

enum ROp {
    Slot(u32, Ty),
    Str(Box<str>),
    Num(f64),
    Bool(bool),
    Func(Func, Box<ROp>),
    Tracker(u32),
}

/// What kind of value an operand yields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Num,
    Bool,
    Scalar,
    Other,
}

enum RPred {
    Cmp(Kind, CmpOp, ROp, ROp),
    In(ROp, Vec<Scalar>),
    Contains(ROp, ROp),
    StartsWith(ROp, ROp),
    EndsWith(ROp, ROp),
    Regex(ROp, Regex),
}

#[derive(Clone, Debug)]
enum Scalar {
    Str(Box<str>),
    Num(f64),
    Bool(bool),
}

/// The child a switch goes to on its constant `c`: from the jump table when there is one,
/// else the branch of `c` (branches are sorted by constant); `default` when `c` has none.
/// One lookup for the separate walks, the combined walk and its building.
#[inline]
fn switch_child<T: Copy>(branches: &[(u32, T)], dense: Option<&[T]>, default: T, c: u32) -> T {
    match dense {
        Some(d) => d.get(c as usize).copied().unwrap_or(default),
        None => branches
            .binary_search_by_key(&c, |(k, _)| *k)
            .ok()
            .and_then(|i| branches.get(i))
            .map_or(default, |(_, t)| *t),
    }
}

/// The region of a threshold node for the value `x`: `2p` when `x` lies below cut `p` (and
/// above the one before it), `2p + 1` when it equals cut `p`. One formula for the separate
/// walks, the combined walk and its building.
#[inline]
fn threshold_region(cuts: &[f64], x: f64) -> usize {
    let p = cuts.partition_point(|c| *c < x);
    if cuts.get(p) == Some(&x) {
        2 * p + 1
    } else {
        2 * p
    }
}

enum RNode {
    Switch {
        var: u32,
        branches: Box<[(u32, Target)]>,
        /// A jump table indexed by constant, when the branches are dense enough.
        dense: Option<Box<[Target]>>,
        default: Target,
        unknown: Target,
    },
    Thresh {
        var: u32,
        cuts: Box<[f64]>,
        regions: Box<[Target]>,
        unknown: Target,
    },
    Tri {
        var: u32,
        t: Target,
        f: Target,
        u: Target,
    },
    Fork(Box<[Target]>),
}

impl RNode {
    /// The variable a node tests (forks test none).
    fn var(&self) -> Option<u32> {
        match self {
            RNode::Switch { var, .. } | RNode::Thresh { var, .. } | RNode::Tri { var, .. } => {
                Some(*var)
            }
            RNode::Fork(_) => None,
        }
    }
}

impl ROp {
    /// Whether the value depends on the stream: a tracker, or `time.*` (whose `ts` may not
    /// be believed).
    fn reads_state(&self, time: &[Option<u32>; 2]) -> bool {
        match self {
            ROp::Tracker(_) => true,
            ROp::Slot(slot, _) => time.contains(&Some(*slot)),
            ROp::Func(_, arg) => arg.reads_state(time),
            _ => false,
        }
    }

    fn is_tracker(&self) -> bool {
        matches!(self, ROp::Tracker(_))
    }
}

impl RVar {
    /// Whether testing this variable depends on the stream.
    fn reads_state(&self, time: &[Option<u32>; 2]) -> bool {
        match self {
            RVar::Switch { op, .. } | RVar::Thresh { op } | RVar::Bool { op } => {
                op.reads_state(time)
            }
            RVar::Has { slot } => time.contains(&Some(*slot)),
            RVar::Pred(p) => match p {
                RPred::Cmp(_, _, a, b)
                | RPred::Contains(a, b)
                | RPred::StartsWith(a, b)
                | RPred::EndsWith(a, b) => a.reads_state(time) || b.reads_state(time),
                RPred::In(a, _) | RPred::Regex(a, _) => a.reads_state(time),
            },
        }
    }
}

struct RLeaf {
    summary: LeafSummary,
    /// (slot, type) pairs to test when reporting unknown attributes, by name.
    checks: Vec<(u32, Ty)>,
    /// Trackers the unknown rules read: what their uncertain events left is reported too.
    blame: Vec<u32>,
    /// Whether reaching this leaf touches stream state (records, or blame to report).
    stateful: bool,
}

/// The result of one evaluation, reusable from event to event.
///
/// The rules a decision involves are read through [`Program::determining`],
/// [`Program::warnings`], [`Program::matched`] and [`Program::unknown_rules`]: when one leaf
/// decided (the common case) they are that leaf's precomputed lists, copied nowhere.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The verdict of the matched rules; `None` when the bundle default decides.
    pub verdict: Option<Verdict>,
    /// Unknown attributes (slots), sorted by name.
    pub unknown: Vec<u32>,
    /// Every leaf reached (one per walk: forks walk several).
    pub leaves: Vec<u32>,
    /// The lists merged from several leaves, when more than one was reached.
    merged: Merged,
}

impl Outcome {
    /// Bytes the outcome's lists hold on the heap (their capacities), for the checks of the
    /// `decode` fuzz target.
    pub fn heap_bytes(&self) -> usize {
        let m = &self.merged;
        4 * (self.unknown.capacity()
            + self.leaves.capacity()
            + m.determining.capacity()
            + m.warnings.capacity()
            + m.matched.capacity()
            + m.unknown_rules.capacity())
    }
}

#[derive(Clone, Debug, Default)]
struct Merged {
    determining: Vec<u32>,
    warnings: Vec<u32>,
    matched: Vec<u32>,
    unknown_rules: Vec<u32>,
}

/// One test on the path that decided, for `--explain`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub node: u32,
    pub var: u32,
    /// The outcome as text: `"web_search"`, `other`, `unknown`, `< 1000`, `true`, ….
    pub outcome: String,
}

/// Three truth values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum K3 {
    T,
    F,
    U,
}

fn k3(b: bool) -> K3 {
    if b { K3::T } else { K3::F }
}

impl Program {
    /// Decodes, verifies and loads a bundle.
    pub fn load(bytes: &[u8]) -> Result<Program, LoadError> {
        let (model, digest) = crate::bytecode::decode::decode_digested(bytes)
            .map_err(|e| LoadError::new(e.to_string()))?;
        Program::from_model(model, digest)
    }

    /// Loads an already verified model.
    pub fn from_model(model: Model, digest: String) -> Result<Program, LoadError> {
        let mut regexes = RegexBudget::new(&model);
        let mut vars = Vec::with_capacity(model.vars.len());
        for (i, v) in model.vars.iter().enumerate() {
            let rv = match v {
                Var::Switch { operand, consts } => {
                    let table = strtable::StrTable::new(consts).ok_or_else(|| {
                        LoadError::new(format!(
                            "variable {i}: the switch constants are repeated or too large"
                        ))
                    })?;
                    RVar::Switch {
                        op: rop(&model, operand)?,
                        table,
                    }
                }
                Var::Thresh { operand } => RVar::Thresh {
                    op: rop(&model, operand)?,
                },
                Var::Bool { operand } => RVar::Bool {
                    op: rop(&model, operand)?,
                },
                Var::Has { slot } => RVar::Has { slot: *slot },
                Var::Pred(p) => RVar::Pred(match p {
                    Pred::Cmp { op, lhs, rhs } => {
                        let (l, r) = (rop(&model, lhs)?, rop(&model, rhs)?);
                        let kind = match (kind(&model, &l), kind(&model, &r)) {
                            (Kind::Num, Kind::Num) => Kind::Num,
                            (Kind::Str, Kind::Str) => Kind::Str,
                            (Kind::Bool, Kind::Bool) => Kind::Bool,
                            _ => {
                                return Err(LoadError::new(format!(
                                    "variable {i} compares values of different kinds"
                                )));
                            }
                        };
                        if kind != Kind::Num && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                            return Err(LoadError::new(format!(
                                "variable {i} orders values that are not numbers"
                            )));
                        }
                        RPred::Cmp(kind, *op, l, r)
                    }
                    Pred::In { lhs, values } => {
                        let l = rop(&model, lhs)?;
                        let mut vs = Vec::with_capacity(values.len());
                        for v in values {
                            vs.push(match v {
                                Operand::Str(s) => Scalar::Str(s.as_str().into()),
                                Operand::Num(n) => Scalar::Num(*n),
                                Operand::Bool(b) => Scalar::Bool(*b),
                                _ => {
                                    return Err(LoadError::new(format!(
                                        "variable {i} tests membership in a non-constant"
                                    )));
                                }
                            });
                        }
                        RPred::In(l, vs)
                    }
                    Pred::Contains { hay, needle } => {
                        RPred::Contains(rop(&model, hay)?, rop(&model, needle)?)
                    }
                    Pred::StartsWith { lhs, rhs } => {
                        RPred::StartsWith(rop(&model, lhs)?, rop(&model, rhs)?)
                    }
                    Pred::EndsWith { lhs, rhs } => {
                        RPred::EndsWith(rop(&model, lhs)?, rop(&model, rhs)?)
                    }
                    Pred::Regex { lhs, regex, .. } => {
                        let re = regexes.compile(regex).map_err(|e| LoadError {
                            message: format!("variable {i}: regex refused: {e}"),
                            regex: u32::try_from(i).ok().map(|i| (i, e)),
                        })?;
                        RPred::Regex(rop(&model, lhs)?, re)
                    }
                }),
            };
            vars.push(rv);
        }
        let nodes: Vec<RNode> = model
            .nodes
            .iter()
            .map(|n| match n {
                NodeDef::Switch {
                    var,
                    branches,
                    default,
                    unknown,
                } => {
                    let nconsts = match model.vars.get(*var as usize) {
                        Some(Var::Switch { consts, .. }) => consts.len(),
                        _ => 0,
                    };
                    let dense = (branches.len() >= 8 && nconsts <= branches.len() * 4).then(|| {
                        let mut table = vec![*default; nconsts];
                        for (c, t) in branches {
                            if let Some(x) = table.get_mut(*c as usize) {
                                *x = *t;
                            }
                        }
                        table.into_boxed_slice()
                    });
                    RNode::Switch {
                        var: *var,
                        branches: branches.clone().into_boxed_slice(),
                        dense,
                        default: *default,
                        unknown: *unknown,
                    }
                }
                NodeDef::Thresh {
                    var,
                    cuts,
                    regions,
                    unknown,
                } => RNode::Thresh {
                    var: *var,
                    cuts: cuts.clone().into_boxed_slice(),
                    regions: regions.clone().into_boxed_slice(),
                    unknown: *unknown,
                },
                NodeDef::Tri { var, t, f, u } => RNode::Tri {
                    var: *var,
                    t: *t,
                    f: *f,
                    u: *u,
                },
                NodeDef::Fork { children } => RNode::Fork(children.clone().into_boxed_slice()),
            })
            .collect();
        let slot_names: Vec<String> = (0..model.slots.len())
            .map(|s| model.slot_name(s as u32))
            .collect();
        let mut by_name: Vec<u32> = (0..slot_names.len() as u32).collect();
        by_name.sort_by(|a, b| {
            slot_names
                .get(*a as usize)
                .cmp(&slot_names.get(*b as usize))
        });
        let mut slot_rank = vec![0u32; slot_names.len()];
        for (rank, s) in by_name.iter().enumerate() {
            if let Some(r) = slot_rank.get_mut(*s as usize) {
                *r = rank as u32;
            }
        }
        let leaves = model
            .leaves
            .iter()
            .map(|items| {
                let summary = model.summarize(items);
                let mut checks: Vec<(u32, Ty)> = summary
                    .unknown
                    .iter()
                    .filter_map(|r| model.rules.get(*r as usize))
                    .flat_map(|r| r.refs.iter().copied())
                    .collect();
                checks.sort_by_key(|(s, t)| (slot_rank.get(*s as usize).copied(), *t));
                checks.dedup();
                let mut blame: Vec<u32> = summary
                    .unknown
                    .iter()
                    .filter_map(|r| model.rules.get(*r as usize))
                    .flat_map(|r| r.trackers.iter().copied())
                    .collect();
                blame.sort_unstable();
                blame.dedup();
                let stateful =
                    !(summary.fires.is_empty() && summary.maybes.is_empty() && blame.is_empty());
                RLeaf {
                    summary,
                    checks,
                    blame,
                    stateful,
                }
            })
            .collect();
        let slot_of = |path: &[&str]| {
            model
                .slots
                .iter()
                .position(|p| p.iter().map(String::as_str).eq(path.iter().copied()))
                .map(|i| i as u32)
        };
        let ts_slot = slot_of(&["ts"]);
        let ts_read = ts_slot.filter(|s| reads_slot(&model, *s));
        let time_slots = [slot_of(&["time", "hour"]), slot_of(&["time", "weekday"])];
        let reads_time = time_slots.iter().any(Option::is_some);
        let var_state: Vec<bool> = vars.iter().map(|v| v.reads_state(&time_slots)).collect();
        let json = JsonText::new(&model, &digest);
        let mut pers: Vec<&[u32]> = Vec::new();
        let key_groups = model
            .trackers
            .iter()
            .map(|t| {
                let g = match pers.iter().position(|p| *p == t.per.as_slice()) {
                    Some(g) => g,
                    None => {
                        pers.push(&t.per);
                        pers.len() - 1
                    }
                };
                u32::try_from(g).unwrap_or(u32::MAX)
            })
            .collect();
        Ok(Program {
            combined: std::sync::OnceLock::new(),
            uncombined: std::sync::atomic::AtomicU32::new(0),
            id: PROGRAMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            json,
            key_groups,
            var_state,
            ts_slot,
            ts_read,
            time_slots,
            reads_time,
            paths: Paths::new(&model.slots),
            roots: model.roots.clone(),
            vars,
            nodes,
            leaves,
            slot_names,
            slot_rank,
            // Two buffers for each side of a comparison (see `eval_str`).
            bufs: 4,
            digest,
            model,
        })
    }

    /// Bytes of scratch space a stream's state holds for decisions (string buffers and the
    /// stack of walks), for the checks of the `decode` fuzz target.
    pub fn scratch_bytes(st: &State) -> usize {
        st.bufs.iter().map(String::capacity).sum::<usize>()
            + st.pending.capacity() * std::mem::size_of::<Target>()
    }

    /// Fresh state for a new stream, with the default [`StreamLimits`].
    pub fn new_state(&self) -> State {
        self.new_state_with(StreamLimits::default())
    }

    /// Fresh state for a new stream with these limits.
    pub fn new_state_with(&self, limits: StreamLimits) -> State {
        State::new(&self.model.trackers, self.bufs, limits)
    }

    /// Reads one event's JSON text into `ev`.
    pub fn read_event(&self, text: &str, ev: &mut Event) -> Result<(), EventError> {
        self.paths.read(text, ev)
    }

    /// Reads one event's JSON text into `ev` to [`Program::stamp`] it next: what
    /// `read_event` then `stamp` make, without parsing the `ts` the stamp replaces.
    pub fn read_event_to_stamp(&self, text: &str, ev: &mut Event) -> Result<(), EventError> {
        self.paths.read_to_stamp(text, ev)
    }

    /// [`Program::read_event_to_stamp`] of the event whose one member is `key` with the JSON
    /// value `value`, without its text written ([`Paths::read_member_to_stamp`]).
    pub fn read_member_to_stamp(
        &self,
        key: &str,
        value: &str,
        ev: &mut Event,
    ) -> Result<(), EventError> {
        self.paths.read_member_to_stamp(key, value, ev)
    }

    /// The reader of [`Program::read_event`].
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The display name of a slot.
    pub fn slot_name(&self, slot: u32) -> &str {
        self.slot_names
            .get(slot as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }

    /// Decides one event at the time its `ts` says (when the stream believes it, see
    /// [`State`]), then records it in the stream state.
    pub fn eval(&self, ev: &Event, st: &mut State, out: &mut Outcome) {
        self.run(&self.roots, ev, st, out, None, false, true);
    }

    /// Decides one event at time `now` (nanoseconds since the epoch) taken from a clock the
    /// caller trusts, such as the host's at a live decision point: `ev`'s `ts` (and
    /// `time.*`) become `now`, and the stream believes it. Record the event as decided with
    /// [`event_as_decided`] (the same `now`): deciding that text again with trusted time
    /// ([`StreamLimits::trusted_time`]) gives the same decision and state.
    pub fn eval_at(&self, ev: &mut Event, now: i64, st: &mut State, out: &mut Outcome) {
        ev.stamp(now, self.ts_slot, self.time_slots);
        self.run(&self.roots, ev, st, out, None, true, true);
    }

    /// Sets `ev`'s `ts` (and `time.*`) to `now`, as [`Program::eval_at`] does before it
    /// decides: for callers that read and decide an event in separate steps (a stream whose
    /// state is another thread's, see [`crate::stream`]). Decide it then with every `ts`
    /// believed ([`StreamLimits::trusted_time`]) to decide as `eval_at` does.
    pub fn stamp(&self, ev: &mut Event, now: i64) {
        ev.stamp(now, self.ts_slot, self.time_slots);
    }

    /// [`Program::stamp`] for an event that is only decided next (a decision point's): its
    /// time and `time.*` are `now`, but the text of `now` is written into the `ts` slot only
    /// when the program reads that slot (a variable, a tracker's key, value or condition, or
    /// a rule). Otherwise the slot keeps what reading the event put there, which nothing
    /// reads: the same decision and state as [`Program::stamp`], without writing a text
    /// nobody reads. Callers that show an event's slots (`simulate`'s attributes) stamp
    /// with [`Program::stamp`].
    pub fn stamp_to_decide(&self, ev: &mut Event, now: i64) {
        ev.stamp(now, self.ts_read, self.time_slots);
    }

    /// Whether [`Program::stamp_to_decide`] writes the `ts` slot: the program reads it.
    pub fn reads_ts(&self) -> bool {
        self.ts_read.is_some()
    }

    /// Whether the walks [`Program::prewalk`] stopped at (`starts`) all reached leaves that
    /// neither read nor record stream state: the decision is then the same whatever the
    /// state, and deciding it leaves the state as it was but for stream time (see
    /// [`State::pass`]).
    pub fn is_stateless(&self, starts: &[Target]) -> bool {
        !starts.is_empty()
            && starts.iter().all(|t| match t {
                Target::Leaf(l) => self.leaves.get(*l as usize).is_some_and(|l| !l.stateful),
                Target::Node(_) => false,
            })
    }

    /// The part of a decision that does not depend on stream state, which may run on another
    /// thread than the stream (and ahead of it): walks the diagram, forks included, while the
    /// tested variables do not read state (the compiler orders those last). `starts`
    /// receives where the walks stopped, in walking order; [`Program::eval_from`] finishes
    /// the decision. `scratch` is any state of this program (only its scratch buffers are
    /// used).
    pub fn prewalk(&self, ev: &Event, scratch: &mut State, starts: &mut Vec<Target>) {
        starts.clear();
        scratch.new_event();
        let mut bufs = std::mem::take(&mut scratch.bufs);
        if bufs.len() < self.bufs {
            bufs.resize(self.bufs, String::new());
        }
        let mut pending = std::mem::take(&mut scratch.pending);
        pending.clear();
        match self.combined_now() {
            Some(c) => {
                let give = &mut |leaves: &[u32]| {
                    starts.extend(leaves.iter().map(|l| Target::Leaf(*l)));
                };
                match self.walk_combined(c, 0, false, ev, scratch, &mut bufs, 0, true, give) {
                    CReached::Done => {}
                    CReached::Stopped(i) => starts.push(Target::Node(self.combined_target(i))),
                    CReached::Rest(rest) => pending.extend(rest.iter().rev().copied()),
                }
            }
            None => pending.extend(self.roots.iter().rev().copied()),
        }
        while let Some(start) = pending.pop() {
            match self.walk(start, ev, scratch, &mut bufs, 0, None, true) {
                Reached::Leaf(l) => starts.push(Target::Leaf(l)),
                Reached::Stopped(n) => starts.push(Target::Node(n)),
                Reached::Fork(children) => pending.extend(children.iter().rev().copied()),
            }
        }
        scratch.pending = pending;
        scratch.bufs = bufs;
    }

    /// Finishes a decision begun by [`Program::prewalk`] on the same event: the same
    /// outcome and state as [`Program::eval`]. An empty `starts` ends in the fail-closed
    /// decision; targets that do not come from `prewalk` of this program give no meaningful
    /// decision.
    pub fn eval_from(&self, ev: &Event, starts: &[Target], st: &mut State, out: &mut Outcome) {
        if starts.is_empty() {
            self.run(&[Target::Leaf(u32::MAX)], ev, st, out, None, false, true);
            return;
        }
        self.run(starts, ev, st, out, None, false, true);
    }

    /// Finishes a decision begun by [`Program::prewalk`] as [`Program::eval_from`] does,
    /// without recording the event in the trackers (stream time and the event count still
    /// move): the same outcome, for an event whose mark on the state is not wanted, such as
    /// one decided alone on a fresh stream that is reset after it (nothing recorded, nothing
    /// to clear).
    pub fn eval_unrecorded(
        &self,
        ev: &Event,
        starts: &[Target],
        st: &mut State,
        out: &mut Outcome,
    ) {
        if starts.is_empty() {
            self.run(&[Target::Leaf(u32::MAX)], ev, st, out, None, false, false);
            return;
        }
        self.run(starts, ev, st, out, None, false, false);
    }

    /// Decides one event as [`Program::eval`] does, without recording it in the trackers
    /// (stream time and the event count still move, as in [`Program::eval_unrecorded`]): the
    /// same outcome, for an event decided alone on a fresh stream that is reset after it,
    /// whose reset then has no keys to clear.
    pub fn eval_alone(&self, ev: &Event, st: &mut State, out: &mut Outcome) {
        self.run(&self.roots, ev, st, out, None, false, false);
    }

    /// Like [`Program::eval`], also returning the tests on the path that decided.
    pub fn eval_traced(
        &self,
        ev: &Event,
        st: &mut State,
        out: &mut Outcome,
        trace: &mut Vec<Step>,
    ) {
        self.run(&self.roots, ev, st, out, Some(trace), false, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        roots: &[Target],
        ev: &Event,
        st: &mut State,
        out: &mut Outcome,
        trace: Option<&mut Vec<Step>>,
        trusted: bool,
        record: bool,
    ) {
        let (now, believed) = st.advance(ev.ts, trusted);
        if !believed && self.reads_time && ev.ts.is_some() {
            // A `ts` the stream does not believe: `time.*` is unknown for this event.
            let mut hidden = std::mem::take(&mut st.hidden);
            hidden.copy_from(ev);
            hidden.hide_time(self.time_slots);
            self.run_at(roots, &hidden, st, out, trace, now, record);
            st.hidden = hidden;
        } else {
            self.run_at(roots, ev, st, out, trace, now, record);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_at(
        &self,
        roots: &[Target],
        ev: &Event,
        st: &mut State,
        out: &mut Outcome,
        mut trace: Option<&mut Vec<Step>>,
        now: i64,
        record: bool,
    ) {
        st.new_event();
        out.leaves.clear();
        let mut bufs = std::mem::take(&mut st.bufs);
        if bufs.len() < self.bufs {
            bufs.resize(self.bufs, String::new());
        }
        // Walk from each root; a fork pushes its children, walked in order.
        let mut pending = std::mem::take(&mut st.pending);
        pending.clear();
        // The whole diagram from its roots, untraced: the combined walk when there is one
        // (a trace names the separate walks' nodes).
        let combined_root = [Target::Node(self.combined_target(0))];
        let roots = if trace.is_none()
            && std::ptr::eq(roots, self.roots.as_slice())
            && self.combined_now().is_some()
        {
            &combined_root[..]
        } else {
            roots
        };
        match roots {
            // The common case: one walk that ends in a leaf, no stack needed.
            [root] => {
                if let Some((c, i)) = self.combined_node(*root) {
                    // From the root, or from where a pre-walk stopped (its leaves given).
                    let resumed = roots.as_ptr() != combined_root.as_ptr();
                    let give = &mut |leaves: &[u32]| push_leaves(&mut out.leaves, leaves);
                    match self.walk_combined(c, i, resumed, ev, st, &mut bufs, now, false, give) {
                        CReached::Done => {}
                        CReached::Rest(rest) => pending.extend(rest.iter().rev().copied()),
                        CReached::Stopped(_) => out.leaves.push(u32::MAX),
                    }
                } else {
                    match self.walk(*root, ev, st, &mut bufs, now, trace.as_deref_mut(), false) {
                        Reached::Leaf(l) => out.leaves.push(l),
                        Reached::Fork(children) => pending.extend(children.iter().rev().copied()),
                        Reached::Stopped(_) => out.leaves.push(u32::MAX),
                    }
                }
            }
            roots => pending.extend(roots.iter().rev().copied()),
        }
        while let Some(start) = pending.pop() {
            // A walk the pre-walk took to its leaf: nothing to walk (what `walk` returns).
            if let Target::Leaf(l) = start {
                out.leaves.push(l);
                continue;
            }
            // Where the pre-walk's combined walk stopped: the rest of it.
            if let Some((c, i)) = self.combined_node(start) {
                let give = &mut |leaves: &[u32]| push_leaves(&mut out.leaves, leaves);
                match self.walk_combined(c, i, true, ev, st, &mut bufs, now, false, give) {
                    CReached::Done => {}
                    CReached::Rest(rest) => pending.extend(rest.iter().rev().copied()),
                    CReached::Stopped(_) => out.leaves.push(u32::MAX),
                }
                continue;
            }
            match self.walk(start, ev, st, &mut bufs, now, trace.as_deref_mut(), false) {
                Reached::Leaf(l) => out.leaves.push(l),
                Reached::Fork(children) => pending.extend(children.iter().rev().copied()),
                Reached::Stopped(_) => out.leaves.push(u32::MAX),
            }
        }
        st.pending = pending;
        st.bufs = bufs;
        self.merge_leaves(ev, out);
        let stateful = out
            .leaves
            .iter()
            .any(|l| self.leaves.get(*l as usize).is_some_and(|l| l.stateful));
        if stateful {
            self.blame_unknown(ev, out, st, now);
            if record {
                self.record(ev, out, st, now);
            }
        }
        st.tick();
    }

    /// Records the event in the trackers whose conditions hold or are unknown. What uncertain
    /// records leave behind is worked out first, from the state the decision saw.
    fn record(&self, ev: &Event, out: &Outcome, st: &mut State, now: i64) {
        st.recs.clear();
        st.blame.clear();
        for &leaf in &out.leaves {
            let Some(l) = self.leaves.get(leaf as usize) else {
                continue;
            };
            let sure = l.summary.fires.iter().map(|&t| (t, true));
            let maybe = l.summary.maybes.iter().map(|&t| (t, false));
            for (t, holds) in sure.chain(maybe) {
                let Some(def) = self.model.trackers.get(t as usize) else {
                    continue;
                };
                let value = def.value.map(|slot| match ev.val(slot) {
                    Val::Num(n) => Some(n),
                    _ => None,
                });
                let kind = match (holds, value) {
                    (_, Some(None)) => RecKind::Unbounded,
                    (true, _) => RecKind::Sure,
                    (false, _) => RecKind::Maybe,
                };
                let from = st.blame.len() as u32;
                if kind != RecKind::Sure {
                    for &(slot, ty) in &def.refs {
                        if !typed(ev, slot, ty) {
                            st.blame.push(slot);
                        }
                    }
                    for &i in &def.inner {
                        let Some(idef) = self.model.trackers.get(i as usize) else {
                            continue;
                        };
                        if self.select_key(i, idef, ev, st) {
                            st.blame_of(i, idef, now);
                        }
                    }
                    let added = st.blame.get_mut(from as usize..).unwrap_or_default();
                    added.sort_unstable();
                    let n = dedup_sorted(added);
                    st.blame.truncate(from as usize + n);
                }
                st.recs.push(Rec {
                    tracker: t,
                    kind,
                    value: value.flatten().unwrap_or(0.0),
                    from,
                    to: st.blame.len() as u32,
                });
            }
        }
        let recs = std::mem::take(&mut st.recs);
        let blame = std::mem::take(&mut st.blame);
        for rec in &recs {
            let Some(def) = self.model.trackers.get(rec.tracker as usize) else {
                continue;
            };
            if !self.select_key(rec.tracker, def, ev, st) {
                continue;
            }
            let slots = blame
                .get(rec.from as usize..rec.to as usize)
                .unwrap_or_default();
            st.record(def, now, *rec, slots);
        }
        st.recs = recs;
        st.blame = blame;
    }

    /// Adds to the unknown attributes what uncertain earlier events left behind in the
    /// trackers the unknown rules read.
    fn blame_unknown(&self, ev: &Event, out: &mut Outcome, st: &mut State, now: i64) {
        let mut blamed = false;
        for &leaf in &out.leaves {
            let Some(l) = self.leaves.get(leaf as usize) else {
                continue;
            };
            for &t in &l.blame {
                let Some(def) = self.model.trackers.get(t as usize) else {
                    continue;
                };
                if self.select_key(t, def, ev, st) {
                    st.blame.clear();
                    st.blame_of(t, def, now);
                    out.unknown.extend_from_slice(&st.blame);
                    blamed |= !st.blame.is_empty();
                }
            }
        }
        if blamed {
            let rank_of = |s: &u32| self.slot_rank.get(*s as usize).copied().unwrap_or(u32::MAX);
            out.unknown.sort_by_key(rank_of);
            out.unknown.dedup();
        }
    }

    fn merge_leaves(&self, ev: &Event, out: &mut Outcome) {
        out.unknown.clear();
        if out
            .leaves
            .iter()
            .any(|l| self.leaves.get(*l as usize).is_none())
        {
            // Cannot happen with a verified program; if it did, fail closed.
            out.verdict = Some(Verdict::Deny);
            return;
        }
        if let [leaf] = out.leaves.as_slice() {
            if let Some(l) = self.leaves.get(*leaf as usize) {
                out.verdict = l.summary.verdict;
                for &(slot, ty) in &l.checks {
                    if !typed(ev, slot, ty) && out.unknown.last() != Some(&slot) {
                        out.unknown.push(slot);
                    }
                }
            }
            return;
        }
        // Several leaves: merge them.
        let m = &mut out.merged;
        m.determining.clear();
        m.warnings.clear();
        m.matched.clear();
        m.unknown_rules.clear();
        let mut best: Option<Verdict> = None;
        for &leaf in &out.leaves {
            if let Some(v) = self
                .leaves
                .get(leaf as usize)
                .and_then(|l| l.summary.verdict)
                && best.is_none_or(|b| rank(v) > rank(b))
            {
                best = Some(v);
            }
        }
        out.verdict = best;
        for &leaf in &out.leaves {
            let Some(l) = self.leaves.get(leaf as usize) else {
                continue;
            };
            // Most leaves' lists are empty: appended only when not (the same lists).
            let s = &l.summary;
            if s.verdict == best && best.is_some() && !s.determining.is_empty() {
                out.merged.determining.extend_from_slice(&s.determining);
            }
            if !s.warnings.is_empty() {
                out.merged.warnings.extend_from_slice(&s.warnings);
            }
            if !s.matched.is_empty() {
                out.merged.matched.extend_from_slice(&s.matched);
            }
            if !s.unknown.is_empty() {
                out.merged.unknown_rules.extend_from_slice(&s.unknown);
            }
            for &(slot, ty) in &l.checks {
                if !typed(ev, slot, ty) {
                    out.unknown.push(slot);
                }
            }
        }
        for list in [
            &mut out.merged.determining,
            &mut out.merged.warnings,
            &mut out.merged.matched,
            &mut out.merged.unknown_rules,
        ] {
            list.sort_unstable();
            list.dedup();
        }
        let rank_of = |s: &u32| self.slot_rank.get(*s as usize).copied().unwrap_or(u32::MAX);
        out.unknown.sort_by_key(rank_of);
        out.unknown.dedup();
    }

    /// Walks from `root` to a leaf or a fork; with `stop_at_state`, stops earlier at the
    /// first node whose variable reads stream state.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        root: Target,
        ev: &Event,
        st: &mut State,
        bufs: &mut [String],
        now: i64,
        mut trace: Option<&mut Vec<Step>>,
        stop_at_state: bool,
    ) -> Reached<'_> {
        let mut at = root;
        st.room_to_remember(self.vars.len());
        loop {
            let n = match at {
                Target::Leaf(l) => return Reached::Leaf(l),
                Target::Node(n) => n,
            };
            // Verified: every node index is valid; a missing one ends in the fail-closed leaf.
            let Some(node) = self.nodes.get(n as usize) else {
                return Reached::Leaf(u32::MAX);
            };
            if stop_at_state
                && node
                    .var()
                    .is_some_and(|v| self.var_state.get(v as usize).copied().unwrap_or(true))
            {
                return Reached::Stopped(n);
            }
            let (next, var, outcome) = match node {
                RNode::Switch {
                    var,
                    branches,
                    dense,
                    default,
                    unknown,
                } => {
                    let Some(RVar::Switch { op, table }) = self.vars.get(*var as usize) else {
                        return Reached::Leaf(u32::MAX);
                    };
                    let tested = match st.recall(*var) {
                        Some(t) => t,
                        None => {
                            let t = match self.eval_str(op, ev, bufs) {
                                None => Tested::Unknown,
                                Some(s) => match table.find(s) {
                                    None => Tested::Other,
                                    Some(c) => Tested::Const(c),
                                },
                            };
                            self.remember(st, *var, t);
                            t
                        }
                    };
                    let (next, outcome) = match tested {
                        Tested::Const(c) => (
                            switch_child(branches, dense.as_deref(), *default, c),
                            Outcome3::Const(c),
                        ),
                        Tested::Other => (*default, Outcome3::Other),
                        _ => (*unknown, Outcome3::Unknown),
                    };
                    (next, *var, outcome)
                }
                RNode::Thresh {
                    var,
                    cuts,
                    regions,
                    unknown,
                } => {
                    let Some(RVar::Thresh { op }) = self.vars.get(*var as usize) else {
                        return Reached::Leaf(u32::MAX);
                    };
                    let x = match st.recall(*var) {
                        Some(Tested::Num(x)) => Some(x),
                        Some(_) => None,
                        None => {
                            let x = self.eval_num(op, ev, st, bufs, now);
                            self.remember(st, *var, x.map_or(Tested::Unknown, Tested::Num));
                            x
                        }
                    };
                    match x {
                        None => (*unknown, *var, Outcome3::Unknown),
                        Some(x) => {
                            let region = threshold_region(cuts, x);
                            (
                                regions.get(region).copied().unwrap_or(*unknown),
                                *var,
                                Outcome3::Region(region as u32, x),
                            )
                        }
                    }
                }
                RNode::Tri { var, t, f, u } => {
                    let v = match st.recall(*var) {
                        Some(Tested::Truth(v)) => v,
                        _ => {
                            let v = self.test(*var, ev, st, bufs, now);
                            self.remember(st, *var, Tested::Truth(v));
                            v
                        }
                    };
                    let next = match v {
                        K3::T => *t,
                        K3::F => *f,
                        K3::U => *u,
                    };
                    (next, *var, Outcome3::Truth(v))
                }
                RNode::Fork(children) => return Reached::Fork(children),
            };
            if let Some(tr) = trace.as_deref_mut() {
                let mut text = self.describe(var, node, &outcome);
                if let Outcome3::Truth(_) = outcome {
                    self.describe_trackers(var, ev, st, now, &mut text);
                }
                tr.push(Step {
                    node: n,
                    var,
                    outcome: text,
                });
            }
            at = next;
        }
    }

    /// Keeps what variable `var` gave the event being decided, for the walks after this one
    /// ([`Program::walk`]), unless it reads stream state.
    #[inline]
    fn remember(&self, st: &mut State, var: u32, t: Tested) {
        if self.var_state.get(var as usize) == Some(&false) {
            st.remember(var, t);
        }
    }

    /// The target that names node `i` of the combined walk: past the diagram's own nodes.
    fn combined_target(&self, i: u32) -> u32 {
        u32::try_from(self.nodes.len())
            .unwrap_or(u32::MAX)
            .saturating_add(i)
    }

    /// Builds the combined walk now if it is not built yet (see [`combine`]): a decision
    /// point does so when it loads a bundle, so that its decisions take the combined walk
    /// from the first. Whether the diagram's walks combine.
    pub fn combine_walks(&self) -> bool {
        self.combination().is_some()
    }

    fn combination(&self) -> Option<&combine::Combined> {
        self.combined
            .get_or_init(|| {
                combine::combine(
                    &self.nodes,
                    &self.vars,
                    &self.var_state,
                    &self.model.vars,
                    &self.model.roots,
                )
            })
            .as_ref()
    }

    /// The combined walk to take a whole decision with: built once [`COMBINE_AFTER`] walks
    /// have gone without it, if nothing built it before.
    #[inline]
    fn combined_now(&self) -> Option<&combine::Combined> {
        if let Some(c) = self.combined.get() {
            return c.as_ref();
        }
        self.combine_later()
    }

    #[cold]
    #[inline(never)]
    fn combine_later(&self) -> Option<&combine::Combined> {
        use std::sync::atomic::Ordering;
        if self.uncombined.load(Ordering::Relaxed) < COMBINE_AFTER {
            self.uncombined.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.combination()
    }

    /// The combined walk's node a target names, if it names one.
    fn combined_node(&self, t: Target) -> Option<(&combine::Combined, u32)> {
        let (Target::Node(n), Some(Some(c))) = (t, self.combined.get()) else {
            return None;
        };
        let i = n.checked_sub(u32::try_from(self.nodes.len()).ok()?)?;
        ((i as usize) < c.nodes.len()).then_some((c, i))
    }

    /// Walks the combined diagram from its node `at` until every walk has reached its leaf,
    /// giving out the leaves in walking order to `give` (those of `at` too, unless the walk
    /// `resumed` there after a pre-walk that gave them); with `stop_at_state`, stops
    /// earlier at the first node whose variable reads stream state. Each node tests its
    /// variable as [`Program::walk`] does.
    #[allow(clippy::too_many_arguments)]
    fn walk_combined<'c>(
        &self,
        c: &'c combine::Combined,
        mut at: u32,
        resumed: bool,
        ev: &Event,
        st: &mut State,
        bufs: &mut [String],
        now: i64,
        stop_at_state: bool,
        give: &mut impl FnMut(&[u32]),
    ) -> CReached<'c> {
        use combine::Next;
        let mut entered = !resumed;
        loop {
            // Built at load: every index is valid; a missing one ends in the fail-closed leaf.
            let Some(node) = c.nodes.get(at as usize) else {
                give(&[u32::MAX]);
                return CReached::Done;
            };
            if entered && !node.give.is_empty() {
                give(&node.give);
            }
            entered = true;
            at = match &node.next {
                Next::Done => return CReached::Done,
                Next::Rest(rest) => return CReached::Rest(rest),
                Next::Switch {
                    var,
                    state,
                    branches,
                    dense,
                    default,
                    unknown,
                } => {
                    if stop_at_state && *state {
                        return CReached::Stopped(at);
                    }
                    let Some(RVar::Switch { op, table }) = self.vars.get(*var as usize) else {
                        give(&[u32::MAX]);
                        return CReached::Done;
                    };
                    match self.eval_str(op, ev, bufs) {
                        None => *unknown,
                        Some(s) => match table.find(s) {
                            None => *default,
                            Some(k) => switch_child(branches, dense.as_deref(), *default, k),
                        },
                    }
                }
                Next::Thresh {
                    var,
                    state,
                    cuts,
                    regions,
                    unknown,
                } => {
                    if stop_at_state && *state {
                        return CReached::Stopped(at);
                    }
                    let Some(RVar::Thresh { op }) = self.vars.get(*var as usize) else {
                        give(&[u32::MAX]);
                        return CReached::Done;
                    };
                    match self.eval_num(op, ev, st, bufs, now) {
                        None => *unknown,
                        Some(x) => regions
                            .get(threshold_region(cuts, x))
                            .copied()
                            .unwrap_or(*unknown),
                    }
                }
                Next::Tri {
                    var,
                    state,
                    t,
                    f,
                    u,
                } => {
                    if stop_at_state && *state {
                        return CReached::Stopped(at);
                    }
                    match self.test(*var, ev, st, bufs, now) {
                        K3::T => *t,
                        K3::F => *f,
                        K3::U => *u,
                    }
                }
            };
        }
    }

    /// A number that tells this program from any other loaded in this process (even one of
    /// the same bundle).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the walks are combined (see [`combine`]; built now if they were not), and
    /// into how many nodes.
    pub fn combined_nodes(&self) -> Option<usize> {
        self.combination().map(|c| c.nodes.len())
    }

    /// Whether the combined walk has been built (and the walks combine), without building
    /// it. For tests of when it is built.
    #[doc(hidden)]
    pub fn combined_built(&self) -> bool {
        matches!(self.combined.get(), Some(Some(_)))
    }

    /// Drops the combined walk: the diagram is walked fork by fork. For tests that hold the
    /// two to each other.
    #[doc(hidden)]
    pub fn walk_separately(&mut self) {
        self.combined = std::sync::OnceLock::from(None);
    }

    fn describe(&self, var: u32, node: &RNode, o: &Outcome3) -> String {
        match o {
            Outcome3::Unknown => "unknown".into(),
            Outcome3::Other => "another value".into(),
            Outcome3::Const(c) => match self.model.vars.get(var as usize) {
                Some(Var::Switch { consts, .. }) => consts
                    .get(*c as usize)
                    .map(|s| crate::syntax::ast::quote_string(s))
                    .unwrap_or_default(),
                _ => String::new(),
            },
            Outcome3::Region(region, x) => {
                let range = match node {
                    RNode::Thresh { cuts, .. } => crate::bytecode::listing::regions(cuts)
                        .get(*region as usize)
                        .cloned()
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                format!("{} ({range})", crate::check::format_number(*x))
            }
            Outcome3::Truth(v) => match v {
                K3::T => "true".into(),
                K3::F => "false".into(),
                K3::U => "unknown".into(),
            },
        }
    }

    /// Appends the value of the count or sum a test reads: ` (value 3)`,
    /// ` (value from 2 to 5)`, ` (value unknown)`.
    fn describe_trackers(&self, var: u32, ev: &Event, st: &mut State, now: i64, out: &mut String) {
        let ops: [Option<&ROp>; 2] = match self.vars.get(var as usize) {
            Some(RVar::Pred(RPred::Cmp(_, _, a, b))) => [Some(a), Some(b)],
            Some(RVar::Pred(RPred::In(a, _))) => [Some(a), None],
            _ => return,
        };
        for op in ops.into_iter().flatten() {
            let ROp::Tracker(t) = op else { continue };
            let fmt = crate::check::format_number;
            match self.tracker(*t, ev, st, now) {
                Some(TrackerValue::Num { lo, hi }) if lo == hi => {
                    out.push_str(&format!(" (value {})", fmt(lo)));
                }
                Some(TrackerValue::Num { lo, hi }) if lo.is_infinite() && hi.is_infinite() => {
                    out.push_str(" (value unbounded: an earlier value is not a number)");
                }
                Some(TrackerValue::Num { lo, hi }) => {
                    out.push_str(&format!(" (value from {} to {})", fmt(lo), fmt(hi)));
                }
                _ => out.push_str(" (value unknown)"),
            }
        }
    }

    /// A three-valued test variable. Inlined where a walk tests: the tests of an
    /// attribute's presence and of a boolean attribute take a few instructions, and a call
    /// to the larger functions (predicates, functions of attributes) only when they are
    /// needed.
    #[inline(always)]
    fn test(&self, var: u32, ev: &Event, st: &mut State, bufs: &mut [String], now: i64) -> K3 {
        match self.vars.get(var as usize) {
            Some(RVar::Has { slot }) => k3(!matches!(ev.val(*slot), Val::Absent)),
            // What `eval_bool` gives for an attribute, without the call.
            Some(RVar::Bool {
                op: ROp::Slot(slot, Ty::Bool),
            }) => match ev.val(*slot) {
                Val::Bool(b) => k3(b),
                _ => K3::U,
            },
            Some(RVar::Bool { op }) => match self.eval_bool(op, ev, st, bufs, now) {
                Some(b) => k3(b),
                None => K3::U,
            },
            Some(RVar::Pred(p)) => self.pred(p, ev, st, bufs, now),
            _ => K3::U,
        }
    }

    #[inline(never)]
    fn pred(&self, p: &RPred, ev: &Event, st: &mut State, bufs: &mut [String], now: i64) -> K3 {
        let half = bufs.len() / 2;
        let (ba, bb) = bufs.split_at_mut(half);
        match p {
            RPred::Cmp(Kind::Num, op, l, r) if l.is_tracker() || r.is_tracker() => {
                let (Some(a), Some(b)) = (
                    self.eval_range(l, ev, st, ba, now),
                    self.eval_range(r, ev, st, bb, now),
                ) else {
                    return K3::U;
                };
                range_cmp(*op, a, b)
            }
            RPred::In(l, values) if l.is_tracker() => {
                let Some((lo, hi)) = self.eval_range(l, ev, st, ba, now) else {
                    return K3::U;
                };
                let inside = |c: &Scalar| matches!(c, Scalar::Num(n) if lo <= *n && *n <= hi);
                if lo == hi && values.iter().any(inside) {
                    K3::T
                } else if values.iter().any(inside) {
                    K3::U
                } else {
                    K3::F
                }
            }
            RPred::Cmp(kind, op, l, r) => match kind {
                Kind::Num => {
                    let (Some(a), Some(b)) = (
                        self.eval_num(l, ev, st, ba, now),
                        self.eval_num(r, ev, st, bb, now),
                    ) else {
                        return K3::U;
                    };
                    k3(op.holds(a, b))
                }
                Kind::Bool => {
                    let (Some(a), Some(b)) = (
                        self.eval_bool(l, ev, st, ba, now),
                        self.eval_bool(r, ev, st, bb, now),
                    ) else {
                        return K3::U;
                    };
                    k3((a == b) == (*op == CmpOp::Eq))
                }
                _ => {
                    let (Some(a), Some(b)) = (self.eval_str(l, ev, ba), self.eval_str(r, ev, bb))
                    else {
                        return K3::U;
                    };
                    k3((a == b) == (*op == CmpOp::Eq))
                }
            },
            RPred::In(l, values) => {
                let Some(v) = self.eval_scalar(l, ev, st, ba, now) else {
                    return K3::U;
                };
                k3(values.iter().any(|c| v.is(c)))
            }
            RPred::Contains(hay, needle) => {
                let Some(n) = self.eval_scalar(needle, ev, st, bb, now) else {
                    return K3::U;
                };
                match hay {
                    ROp::Slot(slot, ty) => {
                        if !typed(ev, *slot, *ty) {
                            return K3::U;
                        }
                        let v = ev.val(*slot);
                        if let Some(s) = ev.str_of(v) {
                            return match n {
                                SRef::Str(t) => k3(s.contains(t)),
                                _ => K3::U,
                            };
                        }
                        match ev.items_of(v) {
                            Some(items) => k3(items.iter().any(|i| item_eq(ev, *i, &n))),
                            None => K3::U,
                        }
                    }
                    ROp::Func(f, _) if is_list(*f) => match (self.eval_list(hay, ev, ba), n) {
                        (Some(list), SRef::Str(t)) => {
                            k3(crate::builtins::list_items(list).any(|i| i == t))
                        }
                        _ => K3::U,
                    },
                    _ => match (self.eval_str(hay, ev, ba), n) {
                        (Some(s), SRef::Str(t)) => k3(s.contains(t)),
                        _ => K3::U,
                    },
                }
            }
            RPred::StartsWith(l, r) | RPred::EndsWith(l, r) => {
                let (Some(a), Some(b)) = (self.eval_str(l, ev, ba), self.eval_str(r, ev, bb))
                else {
                    return K3::U;
                };
                k3(if matches!(p, RPred::StartsWith(..)) {
                    a.starts_with(b)
                } else {
                    a.ends_with(b)
                })
            }
            RPred::Regex(l, re) => match self.eval_str(l, ev, ba) {
                Some(s) => k3(re.is_match(s)),
                None => K3::U,
            },
        }
    }

    /// A function chain's value. Functions apply from the innermost out, each reading the
    /// buffer the one before wrote and writing the other: two buffers whatever the nesting, so
    /// a decision holds at most two copies of a value per operand. Every function but the
    /// outermost must give a string; the outermost may give any kind ([`Written`]).
    fn eval_chain<'a>(
        &'a self,
        op: &'a ROp,
        ev: &'a Event,
        bufs: &'a mut [String],
    ) -> Option<(Written, &'a str)> {
        let mut base = op;
        let mut depth = 0usize;
        while let ROp::Func(f, arg) = base {
            if *f == Func::Len {
                return None;
            }
            depth += 1;
            base = arg;
        }
        if depth == 0 {
            return match base {
                ROp::Slot(slot, Ty::String) => Some((Written::Str, ev.str_of(ev.val(*slot))?)),
                ROp::Str(s) => Some((Written::Str, s)),
                _ => None,
            };
        }
        let [a, b, ..] = bufs else {
            return None;
        };
        let (mut out, mut last) = (a, b);
        let mut written = Written::Str;
        let mut first = 0;
        let value: &'a str = match base {
            ROp::Slot(slot, Ty::String) => ev.str_of(ev.val(*slot))?,
            ROp::Str(s) => s,
            // A list attribute: only `fold_each` takes one, as the innermost function.
            ROp::Slot(slot, ty @ Ty::List(_)) => {
                let mut inner = op;
                for _ in 1..depth {
                    if let ROp::Func(_, arg) = inner {
                        inner = arg;
                    }
                }
                if !matches!(inner, ROp::Func(Func::FoldEach, _)) {
                    return None;
                }
                if !typed(ev, *slot, *ty) {
                    return None;
                }
                let items = ev.items_of(ev.val(*slot))?;
                written = crate::builtins::fold_each_into(
                    items.iter().filter_map(|i| ev.str_of(*i)),
                    out,
                )?;
                std::mem::swap(&mut out, &mut last);
                first = 1;
                ""
            }
            _ => return None,
        };
        for k in first..depth {
            // Every function but the outermost gives a string, or a list to `fold_each`.
            // The k-th function from the inside is `depth - 1 - k` steps below the top.
            let mut at = op;
            for _ in 0..depth - 1 - k {
                if let ROp::Func(_, arg) = at {
                    at = arg;
                }
            }
            let ROp::Func(f, _) = at else {
                return None;
            };
            let want = if *f == Func::FoldEach {
                Written::List
            } else {
                Written::Str
            };
            if written != want {
                return None;
            }
            let input: &str = if k == 0 { value } else { last.as_str() };
            written = match f {
                Func::FoldEach => {
                    crate::builtins::fold_each_into(crate::builtins::list_items(input), out)?
                }
                Func::Lower => {
                    crate::builtins::lower_into(input, out);
                    Written::Str
                }
                Func::Upper => {
                    crate::builtins::upper_into(input, out);
                    Written::Str
                }
                Func::NormPath => {
                    crate::builtins::norm_path_into(input, out);
                    Written::Str
                }
                Func::UrlHost => {
                    crate::builtins::url_host_into(input, out);
                    Written::Str
                }
                Func::Len => return None,
                _ => crate::builtins::apply_into(*f, input, out)?,
            };
            std::mem::swap(&mut out, &mut last);
        }
        Some((written, last.as_str()))
    }

    /// A string value (see [`Program::eval_chain`]).
    fn eval_str<'a>(
        &'a self,
        op: &'a ROp,
        ev: &'a Event,
        bufs: &'a mut [String],
    ) -> Option<&'a str> {
        match self.eval_chain(op, ev, bufs)? {
            (Written::Str, s) => Some(s),
            _ => None,
        }
    }

    /// A list-valued function's items, as [`crate::builtins::apply_into`] writes them.
    fn eval_list<'a>(
        &'a self,
        op: &'a ROp,
        ev: &'a Event,
        bufs: &'a mut [String],
    ) -> Option<&'a str> {
        match op {
            ROp::Func(f, _) if is_list(*f) => match self.eval_chain(op, ev, bufs)? {
                (Written::List, s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The number or boolean a function of a string gives.
    fn eval_func_scalar(&self, op: &ROp, ev: &Event, bufs: &mut [String]) -> Option<Written> {
        self.eval_chain(op, ev, bufs).map(|(w, _)| w)
    }

    fn eval_num(
        &self,
        op: &ROp,
        ev: &Event,
        st: &mut State,
        bufs: &mut [String],
        now: i64,
    ) -> Option<f64> {
        match op {
            ROp::Slot(slot, Ty::Number) => match ev.val(*slot) {
                Val::Num(n) => Some(n),
                _ => None,
            },
            ROp::Num(n) => Some(*n),
            ROp::Func(Func::Len, arg) => match &**arg {
                ROp::Func(f, _) if is_list(*f) => self
                    .eval_list(arg, ev, bufs)
                    .map(|l| crate::builtins::list_items(l).count() as f64),
                ROp::Slot(slot, ty) => {
                    if !typed(ev, *slot, *ty) {
                        return None;
                    }
                    let v = ev.val(*slot);
                    if let Some(s) = ev.str_of(v) {
                        return Some(crate::builtins::str_len(s) as f64);
                    }
                    ev.items_of(v).map(|items| items.len() as f64)
                }
                other => self
                    .eval_str(other, ev, bufs)
                    .map(|s| crate::builtins::str_len(s) as f64),
            },
            ROp::Func(f, _) if f.result() == Ty::Number => {
                match self.eval_func_scalar(op, ev, bufs)? {
                    Written::Num(n) => Some(n),
                    _ => None,
                }
            }
            // A range is no single number: a threshold on it is unknown.
            ROp::Tracker(t) => match self.tracker(*t, ev, st, now)? {
                TrackerValue::Num { lo, hi } if lo == hi => Some(lo),
                _ => None,
            },
            _ => None,
        }
    }

    /// A number, or the range of values a count or a sum may have.
    fn eval_range(
        &self,
        op: &ROp,
        ev: &Event,
        st: &mut State,
        bufs: &mut [String],
        now: i64,
    ) -> Option<(f64, f64)> {
        match op {
            ROp::Tracker(t) => match self.tracker(*t, ev, st, now)? {
                TrackerValue::Num { lo, hi } => Some((lo, hi)),
                _ => None,
            },
            _ => self.eval_num(op, ev, st, bufs, now).map(|x| (x, x)),
        }
    }

    fn eval_bool(
        &self,
        op: &ROp,
        ev: &Event,
        st: &mut State,
        bufs: &mut [String],
        now: i64,
    ) -> Option<bool> {
        match op {
            ROp::Slot(slot, Ty::Bool) => match ev.val(*slot) {
                Val::Bool(b) => Some(b),
                _ => None,
            },
            ROp::Bool(b) => Some(*b),
            ROp::Func(f, _) if f.result() == Ty::Bool => {
                match self.eval_func_scalar(op, ev, bufs)? {
                    Written::Bool(b) => Some(b),
                    _ => None,
                }
            }
            ROp::Tracker(t) => match self.tracker(*t, ev, st, now)? {
                TrackerValue::Bool(b) => b,
                _ => None,
            },
            _ => None,
        }
    }

    /// A scalar of any kind (for membership tests), borrowed where it can be.
    fn eval_scalar<'a>(
        &'a self,
        op: &'a ROp,
        ev: &'a Event,
        st: &mut State,
        bufs: &'a mut [String],
        now: i64,
    ) -> Option<SRef<'a>> {
        match op {
            ROp::Slot(slot, ty) => {
                if !typed(ev, *slot, *ty) {
                    return None;
                }
                match ev.val(*slot) {
                    v @ Val::Str { .. } => ev.str_of(v).map(SRef::Str),
                    Val::Num(n) => Some(SRef::Num(n)),
                    Val::Bool(b) => Some(SRef::Bool(b)),
                    _ => None,
                }
            }
            ROp::Str(s) => Some(SRef::Str(s)),
            ROp::Num(n) => Some(SRef::Num(*n)),
            ROp::Bool(b) => Some(SRef::Bool(*b)),
            ROp::Func(f, _) => match f.result() {
                Ty::Number => self.eval_num(op, ev, st, bufs, now).map(SRef::Num),
                Ty::Bool => self.eval_bool(op, ev, st, bufs, now).map(SRef::Bool),
                Ty::String => self.eval_str(op, ev, bufs).map(SRef::Str),
                _ => None,
            },
            ROp::Tracker(t) => match self.tracker(*t, ev, st, now)? {
                TrackerValue::Num { lo, hi } if lo == hi => Some(SRef::Num(lo)),
                TrackerValue::Bool(Some(b)) => Some(SRef::Bool(b)),
                _ => None,
            },
        }
    }

    fn tracker(&self, t: u32, ev: &Event, st: &mut State, now: i64) -> Option<TrackerValue> {
        let def: &Tracker = self.model.trackers.get(t as usize)?;
        if !self.select_key(t, def, ev, st) {
            return None;
        }
        st.lookup(t, def, now)
    }

    /// Makes the `per` key of tracker `t` (`def`) for `ev` the state's current key; false
    /// when a part is absent or not a scalar. Built once per event and key group.
    #[inline]
    fn select_key(&self, t: u32, def: &Tracker, ev: &Event, st: &mut State) -> bool {
        let group = self.key_groups.get(t as usize).copied().unwrap_or(u32::MAX);
        st.select_key(group, |key| make_key(&def.per, ev, key))
    }

    /// The leaf summary when exactly one leaf decided.
    fn single<'a>(&'a self, out: &Outcome) -> Option<&'a LeafSummary> {
        match out.leaves.as_slice() {
            [leaf] => self.leaves.get(*leaf as usize).map(|l| &l.summary),
            _ => None,
        }
    }

    /// The determining rules of a decision (rule indices, in id order).
    pub fn determining<'a>(&'a self, out: &'a Outcome) -> &'a [u32] {
        self.single(out)
            .map_or(&out.merged.determining, |s| &s.determining)
    }

    /// The matched `warn` rules of a decision.
    pub fn warnings<'a>(&'a self, out: &'a Outcome) -> &'a [u32] {
        self.single(out)
            .map_or(&out.merged.warnings, |s| &s.warnings)
    }

    /// Every matched rule of a decision: true, or unknown for deny / escalate / warn.
    pub fn matched<'a>(&'a self, out: &'a Outcome) -> &'a [u32] {
        self.single(out).map_or(&out.merged.matched, |s| &s.matched)
    }

    /// The attributes rule `rule` reads from `ev` that are absent or of another type than it
    /// needs: what made its condition unknown (for a rule in [`Program::unknown_rules`]).
    /// Written to `out`, in the rule's reference order, each once.
    pub fn unknown_refs(&self, rule: u32, ev: &Event, out: &mut Vec<u32>) {
        out.clear();
        if let Some(r) = self.model.rules.get(rule as usize) {
            for &(slot, ty) in &r.refs {
                if !typed(ev, slot, ty) && !out.contains(&slot) {
                    out.push(slot);
                }
            }
        }
    }

    /// The rules whose condition was unknown.
    pub fn unknown_rules<'a>(&'a self, out: &'a Outcome) -> &'a [u32] {
        self.single(out)
            .map_or(&out.merged.unknown_rules, |s| &s.unknown)
    }

    /// The decision as data.
    pub fn decision(&self, out: &Outcome) -> Decision {
        let rule = |r: &u32| self.model.rules.get(*r as usize);
        Decision {
            verdict: out.verdict.unwrap_or(self.model.default),
            rules: self
                .determining(out)
                .iter()
                .filter_map(rule)
                .map(|r| r.id.clone())
                .collect(),
            messages: self
                .determining(out)
                .iter()
                .filter_map(rule)
                .filter_map(|r| r.message.clone())
                .collect(),
            warnings: self
                .warnings(out)
                .iter()
                .filter_map(rule)
                .map(|r| Warning {
                    rule: r.id.clone(),
                    message: r.message.clone(),
                })
                .collect(),
            unknown: out
                .unknown
                .iter()
                .map(|s| self.slot_name(*s).to_string())
                .collect(),
            bundle: self.digest.clone(),
            error: None,
        }
    }

    /// Appends the decision's JSON line (without a newline) to `buf`, without building it.
    pub fn write_json(&self, out: &Outcome, buf: &mut String) {
        // The rules' ids and messages and the digest were escaped at load, and the pieces
        // every decision of a rule or of the bundle shares joined (see `JsonText`).
        let id = |r: &u32| self.json.ids.get(*r as usize).map(|s| &**s);
        let message = |r: &u32| self.json.messages.get(*r as usize)?.as_deref();
        let (determining, warnings) = match self.single(out) {
            Some(s) => (&s.determining, &s.warnings),
            None => (&out.merged.determining, &out.merged.warnings),
        };
        buf.push_str(json_head(out.verdict.unwrap_or(self.model.default)));
        match determining.as_slice() {
            [] => buf.push_str(JSON_RULES_TO_MESSAGES),
            // A rule without an id (none: the lists are the model's rules) writes nothing.
            [r] => buf.push_str(
                self.json
                    .alone
                    .get(*r as usize)
                    .map_or(JSON_RULES_TO_MESSAGES, |a| &**a),
            ),
            determining => {
                for (i, r) in determining.iter().filter_map(id).enumerate() {
                    if i > 0 {
                        buf.push(',');
                    }
                    buf.push_str(r);
                }
                buf.push_str(JSON_RULES_TO_MESSAGES);
                for (i, m) in determining.iter().filter_map(message).enumerate() {
                    if i > 0 {
                        buf.push(',');
                    }
                    buf.push_str(m);
                }
            }
        }
        if warnings.is_empty() && out.unknown.is_empty() {
            buf.push_str(&self.json.plain_end);
            return;
        }
        buf.push_str("],\"warnings\":[");
        for (i, (r, m)) in warnings
            .iter()
            .filter_map(|r| Some((id(r)?, message(r))))
            .enumerate()
        {
            if i > 0 {
                buf.push(',');
            }
            buf.push_str("{\"rule\":");
            buf.push_str(r);
            if let Some(m) = m {
                buf.push_str(",\"message\":");
                buf.push_str(m);
            }
            buf.push('}');
        }
        buf.push_str("],\"unknown\":[");
        for (i, s) in out.unknown.iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            write_json_str(buf, self.slot_name(*s));
        }
        buf.push_str(&self.json.end);
    }

    /// A human description of a diagram variable.
    pub fn describe_var(&self, var: u32) -> String {
        self.model
            .vars
            .get(var as usize)
            .map(|v| crate::bytecode::listing::var(&self.model, v))
            .unwrap_or_default()
    }
}

/// Where a walk ended.
enum Reached<'p> {
    Leaf(u32),
    /// A fork: its children are walked next.
    Fork(&'p [Target]),
    /// A node whose variable reads stream state (only when asked to stop there).
    Stopped(u32),
}

/// Where a combined walk ended.
enum CReached<'c> {
    /// Every walk reached its leaf, all given out.
    Done,
    /// A node of the combined walk whose variable reads stream state (only when asked to
    /// stop there); the leaves before it given out.
    Stopped(u32),
    /// Past the combination's bound: the targets to walk on separately, in order.
    Rest(&'c [Target]),
}

enum Outcome3 {
    Unknown,
    Other,
    Const(u32),
    Region(u32, f64),
    Truth(K3),
}

/// What a variable that reads no stream state gave the event being decided, kept in the
/// state ([`State::remember`]) for the separate walks of a fork, which test the same
/// variables again and again: the switch's constant (or none among them, or unknown), the
/// threshold's number (or unknown), the test's truth.
#[derive(Clone, Copy, Debug)]
enum Tested {
    Unknown,
    Other,
    Const(u32),
    Num(f64),
    Truth(K3),
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Deny => 3,
        Verdict::Escalate => 2,
        Verdict::Allow => 1,
    }
}

fn rop(model: &Model, o: &Operand) -> Result<ROp, LoadError> {
    Ok(match o {
        Operand::Slot { slot, ty } => ROp::Slot(*slot, *ty),
        Operand::Str(s) => ROp::Str(s.as_str().into()),
        Operand::Num(n) => ROp::Num(*n),
        Operand::Bool(b) => ROp::Bool(*b),
        Operand::Func { func, arg } => ROp::Func(*func, Box::new(rop(model, arg)?)),
        Operand::Tracker(t) => {
            if model.trackers.get(*t as usize).is_none() {
                return Err(LoadError::new(format!("tracker {t} does not exist")));
            }
            ROp::Tracker(*t)
        }
    })
}

fn kind(model: &Model, op: &ROp) -> Kind {
    match op {
        ROp::Slot(_, Ty::String) | ROp::Str(_) => Kind::Str,
        ROp::Slot(_, Ty::Number) | ROp::Num(_) => Kind::Num,
        ROp::Slot(_, Ty::Bool) | ROp::Bool(_) => Kind::Bool,
        ROp::Slot(_, Ty::Scalar) => Kind::Scalar,
        ROp::Slot(..) => Kind::Other,
        ROp::Func(f, _) => match f.result() {
            Ty::Number => Kind::Num,
            Ty::Bool => Kind::Bool,
            Ty::String => Kind::Str,
            _ => Kind::Other,
        },
        ROp::Tracker(t) => match model.trackers.get(*t as usize).map(|t| t.kind) {
            Some(StatefulKind::Seen) => Kind::Bool,
            _ => Kind::Num,
        },
    }
}

/// Whether a function gives a list.
fn is_list(f: Func) -> bool {
    matches!(f.result(), Ty::List(_))
}

/// Whether the slot's value has type `ty` (else it is unknown there).
fn typed(ev: &Event, slot: u32, ty: Ty) -> bool {
    use crate::check::Scalar as S;
    let v = ev.val(slot);
    let item_ok = |s: S, i: &Val| {
        matches!(
            (s, i),
            (S::String, Val::Str { .. }) | (S::Number, Val::Num(_)) | (S::Bool, Val::Bool(_))
        )
    };
    match ty {
        Ty::String => matches!(v, Val::Str { .. }),
        Ty::Number => matches!(v, Val::Num(_)),
        Ty::Bool => matches!(v, Val::Bool(_)),
        Ty::List(s) => ev
            .items_of(v)
            .is_some_and(|items| items.iter().all(|i| item_ok(s, i))),
        Ty::Seq => matches!(v, Val::Str { .. } | Val::List { .. }),
        Ty::StrOrList(s) => {
            matches!(v, Val::Str { .. })
                || ev
                    .items_of(v)
                    .is_some_and(|items| items.iter().all(|i| item_ok(s, i)))
        }
        Ty::Scalar => matches!(v, Val::Str { .. } | Val::Num(_) | Val::Bool(_)),
        Ty::Timestamp => ev.str_of(v).and_then(crate::time::parse_rfc3339).is_some(),
    }
}

fn item_eq(ev: &Event, item: Val, n: &SRef<'_>) -> bool {
    match (item, n) {
        (Val::Num(a), SRef::Num(b)) => a == *b,
        (Val::Bool(a), SRef::Bool(b)) => a == *b,
        (v @ Val::Str { .. }, SRef::Str(b)) => ev.str_of(v) == Some(*b),
        _ => false,
    }
}

/// A scalar value, borrowing strings from the event, the program or a scratch buffer.
#[derive(Clone, Copy, Debug)]
enum SRef<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
}

impl SRef<'_> {
    fn is(&self, c: &Scalar) -> bool {
        match (self, c) {
            (SRef::Str(a), Scalar::Str(b)) => *a == &**b,
            (SRef::Num(a), Scalar::Num(b)) => a == b,
            (SRef::Bool(a), Scalar::Bool(b)) => a == b,
            _ => false,
        }
    }
}

/// Appends the leaves a combined walk gives out (one or two as a rule) one by one: cheaper
/// than copying a slice of a few items (the same items in the same order).
#[inline(always)]
fn push_leaves(to: &mut Vec<u32>, leaves: &[u32]) {
    for &l in leaves {
        to.push(l);
    }
}

/// The `per` key of the event into `key`; false when a part is absent or not a scalar.
fn make_key(per: &[u32], ev: &Event, key: &mut Vec<u8>) -> bool {
    key.clear();
    for &slot in per {
        match ev.val(slot) {
            v @ Val::Str { .. } => {
                let s = ev.str_of(v).unwrap_or("");
                key.push(1);
                key.extend_from_slice(&(s.len() as u64).to_le_bytes());
                key.extend_from_slice(s.as_bytes());
            }
            Val::Num(n) => {
                key.push(2);
                let bits = if n == 0.0 { 0 } else { n.to_bits() };
                key.extend_from_slice(&bits.to_le_bytes());
            }
            Val::Bool(b) => {
                key.push(3);
                key.push(u8::from(b));
            }
            _ => return false,
        }
    }
    true
}

/// `a OP b` where each side may be a range: true when it holds for every pair of values,
/// false for none, unknown otherwise.
fn range_cmp(op: CmpOp, (a1, a2): (f64, f64), (b1, b2): (f64, f64)) -> K3 {
    let (t, f) = match op {
        CmpOp::Lt => (a2 < b1, a1 >= b2),
        CmpOp::Le => (a2 <= b1, a1 > b2),
        CmpOp::Gt => (a1 > b2, a2 <= b1),
        CmpOp::Ge => (a1 >= b2, a2 < b1),
        CmpOp::Eq | CmpOp::Ne => {
            let all = a1 == a2 && b1 == b2 && a1 == b1;
            let none = a2 < b1 || b2 < a1;
            if op == CmpOp::Eq {
                (all, none)
            } else {
                (none, all)
            }
        }
    };
    if t {
        K3::T
    } else if f {
        K3::F
    } else {
        K3::U
    }
}

/// Removes repeats from a sorted slice in place; returns how many distinct items lead it.
fn dedup_sorted(items: &mut [u32]) -> usize {
    let mut n = 0;
    for i in 0..items.len() {
        let v = items.get(i).copied().unwrap_or(0);
        if n == 0 || items.get(n - 1) != Some(&v) {
            if let Some(x) = items.get_mut(n) {
                *x = v;
            }
            n += 1;
        }
    }
    n
}
