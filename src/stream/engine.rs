//! The replay engine: read traces, decide every event with the policy (and a baseline),
//! count, compare, and optionally write one decision per event. `simulate` and `eval` run on
//! it (and later `replay-audit` and `chaos-run`).
//!
//! Parallelism keeps the exact sequential semantics: a reader thread cuts each input into
//! blocks of lines, `jobs` worker threads parse blocks into events (JSON scanning is most of
//! the work), stamp them with the host time when the clock says so, and pre-walk them; the
//! calling thread decides the parsed events strictly in input order, with one stream state
//! per input. Output therefore does not depend on `jobs`. Memory is bounded: a fixed pool of
//! blocks circulates between the threads, stream state is bounded by the rules' windows and
//! `--max-keys`, and report tables keep at most [`MAX_KEYS`] names each.
//!
//! An interactive input (a pipe or a terminal, see [`Options::interactive`]) is read and
//! decided on the calling thread, and each block ends as soon as the lines read so far are
//! whole, so that a program writing one event and waiting gets its decision at once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::Clock;
use crate::audit::DecidedEvent;
use crate::bytecode::model::{Target, Verdict};
use crate::decision::{Decision, write_json_str};
use crate::trace::{Block, Input, InputFormat, TraceError, TraceReader};
use crate::vm::{Event, Outcome, Paths, Program, State, Step, StreamLimits, Val};

/// The most distinct tools or agents a report table keeps; later ones count as `(other)`.
pub const MAX_KEYS: usize = 10_000;
/// Example events kept per flip group.
pub const EXAMPLES: usize = 3;
/// Bad records listed in the report (all are counted).
pub const LISTED_ERRORS: usize = 100;
/// Events with truncated tool arguments listed in the report (all are counted).
pub const LISTED_TRUNCATED: usize = 10;

/// How to run.
pub struct Options<'a> {
    pub policy: &'a Program,
    pub baseline: Option<&'a Program>,
    pub format: InputFormat,
    /// Threads that parse events; 1 runs everything on the calling thread.
    pub jobs: usize,
    /// Bad records to skip (and count) before stopping.
    pub max_errors: u64,
    /// Advanced as input bytes are read and events decided (for progress).
    pub counters: Option<Arc<Counters>>,
    /// Limits of each stream's state (`max_skew` follows from `clock`).
    pub limits: StreamLimits,
    /// Where event time comes from.
    pub clock: Clock,
    /// Decide bad records (`deny`, with the reason) in their place and go on, instead of
    /// skipping up to `max_errors` of them (`eval`: one decision per record).
    pub deny_bad: bool,
    /// Decision lines as `eval` prints them (the decision alone) rather than as `simulate
    /// --format jsonl` does (with the file, line, recorded and baseline verdicts).
    pub plain_lines: bool,
    /// Read on the calling thread and end each block as soon as its lines are whole (a pipe
    /// or terminal with a program waiting for each decision).
    pub interactive: bool,
    /// Keep each event's text as decided ([`super::as_decided`]; the VM reads that text) and
    /// give it to [`Sink::event`]: what an audit log records.
    pub keep_decided: bool,
    /// Record the tests on each deciding path for [`Sink::event`] (`eval --explain`).
    pub trace: bool,
    /// The state the first stream begins with instead of fresh state: a decision point
    /// restarted on its audit log ([`crate::audit::restore`]).
    pub initial: Option<&'a State>,
}

impl<'a> Options<'a> {
    /// Options for replaying traces through `policy`: event time, skipping no bad record,
    /// annotated lines, one thread per core.
    pub fn new(policy: &'a Program) -> Options<'a> {
        Options {
            policy,
            baseline: None,
            format: InputFormat::Auto,
            jobs: 1,
            max_errors: 0,
            counters: None,
            limits: StreamLimits::default(),
            clock: Clock::Event,
            deny_bad: false,
            plain_lines: false,
            interactive: false,
            keep_decided: false,
            trace: false,
            initial: None,
        }
    }
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Counters {
    pub bytes: Arc<AtomicU64>,
    pub events: AtomicU64,
}

/// A record that could not be read, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    pub file: String,
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    pub message: String,
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a run stopped before the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// More bad records than `max_errors`: this one was the first too many.
    BadRecord(BadRecord),
    /// An input could not be opened or read.
    Input(TraceError),
}

/// One event as decided, for [`Sink::event`].
pub struct Decided<'e> {
    pub program: &'e Program,
    pub outcome: &'e Outcome,
    /// The tests on the deciding path (with [`Options::trace`]).
    pub trace: &'e [Step],
    /// The event as decided (with [`Options::keep_decided`]).
    pub text: Option<&'e DecidedEvent>,
    pub file: &'e str,
    pub line: u64,
    pub column: u32,
    /// Records the stream state has refused at the key bound, and events whose `ts` it did
    /// not believe, so far in this input.
    pub refused: u64,
    pub untimed: u64,
}

/// What happens during a run besides counting. Calls come in input order: for each block,
/// [`Sink::event`] and [`Sink::bad`] per record, then [`Sink::decisions`] with the block's
/// decision lines, then [`Sink::block_end`].
pub trait Sink {
    /// The decision lines (JSONL) of a block, when `wants_decisions`.
    fn decisions(&mut self, _lines: &str) {}
    fn wants_decisions(&self) -> bool {
        false
    }
    /// Each event as it is decided, when `wants_events`.
    fn event(&mut self, _d: &Decided<'_>) {}
    fn wants_events(&self) -> bool {
        false
    }
    /// A bad record: skipped (`n` of at most `max`), or with [`Options::deny_bad`] decided
    /// `deny` in its place (`max` is then `u64::MAX`).
    fn bad(&mut self, _bad: &BadRecord, _n: u64, _max: u64) {}
    /// After each block: what the sink holds may go out now.
    fn block_end(&mut self) {}
    /// The events as read (one JSON object per line, in decision order), when
    /// `wants_event_lines`.
    fn event_lines(&mut self, _lines: &str) {}
    fn wants_event_lines(&self) -> bool {
        false
    }
}

/// A sink that keeps nothing.
pub struct NoSink;
impl Sink for NoSink {}

// ---------------------------------------------------------------------------------------
// The report.

/// Counts by verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub allow: u64,
    pub deny: u64,
    pub escalate: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.allow + self.deny + self.escalate
    }

    fn add(&mut self, v: usize, n: u64) {
        match v {
            0 => self.allow += n,
            1 => self.deny += n,
            _ => self.escalate += n,
        }
    }

    pub fn get(&self, v: Verdict) -> u64 {
        match v {
            Verdict::Allow => self.allow,
            Verdict::Deny => self.deny,
            Verdict::Escalate => self.escalate,
        }
    }
}

/// Where an event is in its input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Position {
    pub file: String,
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        Ok(())
    }
}

/// Events whose tool arguments the exporter cut short (OTLP attribute length limits): decided
/// with `args` unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Truncated {
    pub events: u64,
    /// The first [`LISTED_TRUNCATED`] of them.
    pub examples: Vec<Position>,
}

/// One attribute that was unknown in some decisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownAttr {
    pub attribute: String,
    /// Decisions in which it was unknown (to a rule whose condition came out unknown).
    pub decisions: u64,
    /// Of those, how often it was absent (or `null`), and how often of another type.
    pub absent: u64,
    pub mistyped: u64,
    /// Events (of all) in which it was present, of whatever type: 0 when no event sets it.
    pub present: u64,
    /// Decisions it decided: the verdict came from rules it made unknown (see [`Unknowns`]).
    pub decided: u64,
}

/// An attribute as one rule found it unknown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownUse {
    pub attribute: String,
    pub decisions: u64,
}

/// One rule whose condition came out unknown in some decisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownRule {
    pub rule: String,
    pub effect: String,
    /// Decisions in which its condition was unknown.
    pub decisions: u64,
    /// Of those, the ones its unknown condition decided.
    pub decided: u64,
    /// The attributes that made it unknown, most frequent first.
    pub attributes: Vec<UnknownUse>,
}

/// What unknown attributes did to the decisions. A decision is *decided by unknown* when
/// its verdict would not stand without them: every determining rule matched only because its
/// condition was unknown (fail-closed `deny` or `escalate`), or the default decided while an
/// `allow` rule came out unknown (and the default is not `allow`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Unknowns {
    /// Decisions with at least one unknown attribute.
    pub decisions: u64,
    /// Decisions decided by unknown, by verdict.
    pub decided: Counts,
    /// Most decided first.
    pub attributes: Vec<UnknownAttr>,
    /// Most decided first.
    pub rules: Vec<UnknownRule>,
}

/// One input and what was read from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InputStats {
    pub file: String,
    pub format: String,
    pub events: u64,
    pub errors: u64,
    pub not_events: u64,
}

/// One row of a breakdown by tool or by agent; `name` is `None` for events without one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub name: Option<String>,
    /// The row for names beyond [`MAX_KEYS`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub other: bool,
    pub events: u64,
    #[serde(flatten)]
    pub verdicts: Counts,
}

/// How often a rule determined the decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleRow {
    pub rule: String,
    pub effect: String,
    pub events: u64,
}

/// One event that flipped, for people to look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Example {
    pub file: String,
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    pub session: Option<String>,
    pub agent: Option<String>,
    pub tool: Option<String>,
    /// The policy's determining rules.
    pub rules: Vec<String>,
    /// The baseline's determining rules (baseline comparisons only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_rules: Option<Vec<String>>,
}

/// How many events went from one verdict to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    #[serde(serialize_with = "ser_verdict")]
    pub from: Verdict,
    #[serde(serialize_with = "ser_verdict")]
    pub to: Verdict,
    pub events: u64,
}

/// Flips of one kind, by the policy's determining rule and the tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlipGroup {
    #[serde(serialize_with = "ser_verdict")]
    pub from: Verdict,
    #[serde(serialize_with = "ser_verdict")]
    pub to: Verdict,
    /// `None` when the policy's default decided.
    pub rule: Option<String>,
    pub tool: Option<String>,
    pub events: u64,
    pub examples: Vec<Example>,
}

/// The policy against another source of verdicts (recorded decisions or a baseline).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Events compared.
    pub compared: u64,
    pub agree: u64,
    pub flipped: u64,
    /// Every (from, to) pair that occurred, `from` being the recorded or baseline verdict.
    pub transitions: Vec<Transition>,
    /// Flips by rule and tool, most frequent first. An event whose decision several rules
    /// determined counts under each.
    pub flips: Vec<FlipGroup>,
}

impl Comparison {
    /// Events that went from another verdict to `to`.
    pub fn into_verdict(&self, to: Verdict) -> u64 {
        self.transitions
            .iter()
            .filter(|t| t.to == to && t.from != to)
            .map(|t| t.events)
            .sum()
    }
}

/// Everything a run found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub bundle: String,
    pub baseline_bundle: Option<String>,
    pub inputs: Vec<InputStats>,
    pub events: u64,
    pub verdicts: Counts,
    /// Share of events denied (0 when there are none).
    pub deny_rate: f64,
    /// Bad records skipped under `--max-errors`.
    pub errors: u64,
    pub max_errors: u64,
    /// The first [`LISTED_ERRORS`] of them.
    pub error_list: Vec<BadRecord>,
    /// Records that are not agent actions (OTLP spans of other operations, MCP messages
    /// other than tool calls and results).
    pub not_events: u64,
    /// [`Report::not_events`] by kind (`"mcp handshake"`, `"span of another operation"`, …).
    pub not_event_kinds: BTreeMap<String, u64>,
    pub by_tool: Vec<Row>,
    pub by_agent: Vec<Row>,
    /// Rules that determined at least one decision, most frequent first.
    pub by_rule: Vec<RuleRow>,
    /// Events the bundle default decided.
    pub by_default: u64,
    #[serde(serialize_with = "ser_verdict")]
    pub default_verdict: Verdict,
    /// Against the `decision` recorded in the events (when any event has one).
    pub recorded: Option<Comparison>,
    /// Against the baseline policy (when given).
    pub baseline: Option<Comparison>,
    /// Which attributes were unknown, and what that decided.
    pub unknown: Unknowns,
    /// Events decided with tool arguments cut short by the exporter.
    pub truncated_args: Truncated,
    /// The key bound of stream state (`--max-keys`), and the records it refused (in the
    /// policy's and the baseline's state): keys it could not hold were decided unknown.
    pub max_keys: usize,
    pub refused: u64,
    /// Events whose `ts` stream time did not believe (decided with `ts` unknown).
    pub untimed: u64,
}

fn ser_verdict<S: serde::Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// Figures about the run itself (not part of the report: they vary between runs).
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// The most keys the stream state held at the end of a block.
    pub max_state_keys: usize,
    pub blocks: u64,
}

// ---------------------------------------------------------------------------------------
// Parsing (on worker threads).

/// What workers need to turn lines into events.
struct Reader {
    paths: Paths,
    /// Baseline slot → slot of the shared scan.
    base_map: Option<Vec<u32>>,
    s_decision: u32,
    s_decision_inner: u32,
    s_tool: u32,
    s_agent: u32,
    s_session: u32,
}

impl Reader {
    fn new(policy: &Program, baseline: Option<&Program>) -> Reader {
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        let mut extra = vec![
            p(&["decision"]),
            p(&["decision", "decision"]),
            p(&["tool"]),
            p(&["agent", "id"]),
            p(&["session"]),
        ];
        let fixed = extra.len();
        if let Some(b) = baseline {
            extra.extend(b.model.slots.iter().cloned());
        }
        let (paths, ids) = Paths::with_extra(&policy.model.slots, &extra);
        let id = |i: usize| ids.get(i).copied().unwrap_or(u32::MAX);
        Reader {
            paths,
            base_map: baseline.map(|_| ids.get(fixed..).unwrap_or(&[]).to_vec()),
            s_decision: id(0),
            s_decision_inner: id(1),
            s_tool: id(2),
            s_agent: id(3),
            s_session: id(4),
        }
    }

    /// The recorded decision of an event, if any.
    fn recorded(&self, ev: &Event) -> Result<Option<Verdict>, String> {
        let verdict = |s: &str| {
            Verdict::parse(s).ok_or_else(|| {
                format!(
                    "recorded `decision` must be \"allow\", \"deny\" or \"escalate\", found {}",
                    quoted(s)
                )
            })
        };
        match ev.val(self.s_decision) {
            Val::Absent => Ok(None),
            v @ Val::Str { .. } => verdict(ev.str_of(v).unwrap_or("")).map(Some),
            Val::Object => match ev.val(self.s_decision_inner) {
                v @ Val::Str { .. } => verdict(ev.str_of(v).unwrap_or("")).map(Some),
                _ => Err("recorded `decision` object has no `decision` verdict string".into()),
            },
            _ => Err("recorded `decision` must be a verdict string or a decision object".into()),
        }
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::new();
    write_json_str(&mut out, s);
    out
}

#[derive(Clone, Debug)]
enum RecKind {
    Event {
        idx: u32,
        recorded: Option<Verdict>,
        /// The event's text in the block's data.
        start: u32,
        len: u32,
        /// Its tool arguments were cut short (see [`crate::trace::Origin::truncated`]).
        truncated: bool,
    },
    Bad(Box<str>),
}

#[derive(Clone, Debug)]
struct Rec {
    line: u64,
    column: u32,
    kind: RecKind,
}

/// A block of one input on its way through the threads.
#[derive(Default)]
struct Work {
    seq: u64,
    input: usize,
    format: Option<InputFormat>,
    block: Block,
    /// The input ends with this block.
    last: bool,
    /// The input failed after this block.
    fatal: Option<TraceError>,
    recs: Vec<Rec>,
    events: Vec<Event>,
    base: Vec<Event>,
    /// Where each event's stateless walks stopped (see [`Program::prewalk`]): event `i`'s
    /// targets are `starts[ends[i - 1]..ends[i]]`; the same for the baseline.
    starts: Vec<Target>,
    ends: Vec<u32>,
    base_starts: Vec<Target>,
    base_ends: Vec<u32>,
    /// Event `i` as decided (with [`Options::keep_decided`]); reused from block to block.
    decided: Vec<DecidedEvent>,
    /// Per policy attribute (slot), the events of the block in which it is present.
    present: Vec<u64>,
}

/// What a parsing thread keeps between blocks.
struct Scratch {
    state: State,
    base_state: Option<State>,
    targets: Vec<Target>,
}

impl Scratch {
    fn new(opts: &Options<'_>) -> Scratch {
        Scratch {
            state: opts.policy.new_state(),
            base_state: opts.baseline.map(Program::new_state),
            targets: Vec::new(),
        }
    }
}

impl Work {
    /// Parses the block's lines into events, and walks each event's decision as far as it
    /// goes without stream state (see [`Program::prewalk`]).
    fn parse(&mut self, r: &Reader, opts: &Options<'_>, scratch: &mut Scratch) {
        self.recs.clear();
        self.starts.clear();
        self.ends.clear();
        self.base_starts.clear();
        self.base_ends.clear();
        let mut n = 0usize;
        let slots = opts.policy.model.slots.len();
        self.present.clear();
        self.present.resize(slots, 0);
        let valid_utf8 = std::str::from_utf8(&self.block.data).is_ok();
        let base = self.block.data.as_ptr() as usize;
        for (text, origin) in self.block.lines() {
            let at = |kind| Rec {
                line: origin.line,
                column: origin.column,
                kind,
            };
            if let Some(e) = &origin.error {
                self.recs.push(at(RecKind::Bad(e.as_str().into())));
                continue;
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = if valid_utf8 {
                std::str::from_utf8(text).unwrap_or("")
            } else {
                match std::str::from_utf8(text) {
                    Ok(t) => t,
                    Err(e) => {
                        self.recs.push(at(RecKind::Bad(
                            format!("not valid UTF-8 (byte {})", e.valid_up_to() + 1).into(),
                        )));
                        continue;
                    }
                }
            };
            if self.events.len() <= n {
                self.events.push(Event::default());
            }
            let Some(ev) = self.events.get_mut(n) else {
                continue;
            };
            // The message names the column and the field (`… at column 28, in
            // `agent.trust``).
            let described = |e: &crate::vm::EventError| {
                let hint = if e.eof && text.trim_start().starts_with('{') {
                    " (an event must be one JSON object on one line)"
                } else {
                    ""
                };
                format!("{}{hint}", e.describe(text))
            };
            let now = match opts.clock {
                Clock::Host => Some(super::now_ns()),
                Clock::Event | Clock::Trusted => None,
            };
            let read = if opts.keep_decided {
                // What the VM reads is what is kept: the event as decided.
                if self.decided.len() <= n {
                    self.decided.push(DecidedEvent::default());
                }
                match self.decided.get_mut(n) {
                    Some(d) => {
                        super::read_decided(&r.paths, text, now, d, ev).map_err(|e| match e {
                            super::DecidedError::Event(e) => described(&e),
                            super::DecidedError::NotCanonical(e) => e.message,
                            super::DecidedError::Decided(e) => e.describe(d.as_str()),
                        })
                    }
                    None => Err("internal error: no room for the event".to_string()),
                }
            } else {
                r.paths.read(text, ev).map_err(|e| described(&e))
            };
            if let Err(m) = read {
                self.recs.push(at(RecKind::Bad(m.into())));
                continue;
            }
            if let (Some(now), Some(ev)) = (now, self.events.get_mut(n)) {
                opts.policy.stamp(ev, now);
            }
            let Some(ev) = self.events.get(n) else {
                continue;
            };
            let recorded = match r.recorded(ev) {
                Ok(v) => v,
                Err(m) => {
                    self.recs.push(at(RecKind::Bad(m.into())));
                    continue;
                }
            };
            if let Some(ev) = self.events.get(n) {
                for (slot, p) in self.present.iter_mut().enumerate() {
                    if ev.val(slot as u32) != Val::Absent {
                        *p += 1;
                    }
                }
                opts.policy
                    .prewalk(ev, &mut scratch.state, &mut scratch.targets);
                self.starts.extend_from_slice(&scratch.targets);
                self.ends
                    .push(u32::try_from(self.starts.len()).unwrap_or(u32::MAX));
            }
            if let (Some(map), Some(bp), Some(bst)) =
                (&r.base_map, opts.baseline, scratch.base_state.as_mut())
            {
                if self.base.len() <= n {
                    self.base.push(Event::default());
                }
                if let (Some(ev), Some(b)) = (self.events.get(n), self.base.get_mut(n)) {
                    ev.project(map, b);
                    if let (Clock::Host, Some(now)) = (opts.clock, ev.ts) {
                        bp.stamp(b, now);
                    }
                    bp.prewalk(b, bst, &mut scratch.targets);
                    self.base_starts.extend_from_slice(&scratch.targets);
                    self.base_ends
                        .push(u32::try_from(self.base_starts.len()).unwrap_or(u32::MAX));
                }
            }
            let start = (text.as_ptr() as usize).saturating_sub(base);
            self.recs.push(at(RecKind::Event {
                idx: u32::try_from(n).unwrap_or(u32::MAX),
                recorded,
                start: u32::try_from(start).unwrap_or(u32::MAX),
                len: u32::try_from(text.len()).unwrap_or(0),
                truncated: origin.truncated,
            }));
            n += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation (on the calling thread, in order).

/// Names (tools, agents) → dense ids with verdict counts, at most [`MAX_KEYS`] of them.
#[derive(Default)]
struct Table {
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Option<Box<str>>>,
    counts: Vec<Counts>,
    none: Option<u32>,
    other: Option<u32>,
}

impl Table {
    fn id(&mut self, name: Option<&str>) -> u32 {
        let Some(name) = name else {
            if let Some(id) = self.none {
                return id;
            }
            let id = self.push(None);
            self.none = Some(id);
            return id;
        };
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        if self.ids.len() >= MAX_KEYS {
            if let Some(id) = self.other {
                return id;
            }
            let id = self.push(None);
            self.other = Some(id);
            return id;
        }
        let id = self.push(Some(name.into()));
        self.ids.insert(name.into(), id);
        id
    }

    fn push(&mut self, name: Option<Box<str>>) -> u32 {
        self.names.push(name);
        self.counts.push(Counts::default());
        u32::try_from(self.names.len() - 1).unwrap_or(u32::MAX)
    }

    fn name(&self, id: u32) -> Option<String> {
        self.names
            .get(id as usize)
            .and_then(|n| n.as_deref())
            .map(str::to_string)
    }

    fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .names
            .iter()
            .zip(&self.counts)
            .enumerate()
            .map(|(i, (name, c))| Row {
                name: name.as_deref().map(str::to_string),
                other: Some(i as u32) == self.other,
                events: c.total(),
                verdicts: *c,
            })
            .collect();
        // Most events first; the `(other)` row last; names break ties.
        rows.sort_by(|a, b| {
            a.other
                .cmp(&b.other)
                .then(b.events.cmp(&a.events))
                .then(a.name.cmp(&b.name))
        });
        rows
    }
}

const DEFAULT_RULE: u32 = u32::MAX;

/// Counts of unknown attributes as decisions go by (see [`Unknowns`]); bounded by the
/// bundle's rules and attributes.
#[derive(Default)]
struct UnknownCounter {
    /// Per policy attribute, the events in which it is present.
    present: Vec<u64>,
    decisions: u64,
    decided: Counts,
    /// Slot → (decisions, absent, mistyped, decided).
    attrs: FxHashMap<u32, [u64; 4]>,
    /// Rule → (decisions, decided, slot → decisions).
    rules: FxHashMap<u32, (u64, u64, FxHashMap<u32, u64>)>,
    refs: Vec<u32>,
    deciding_slots: Vec<u32>,
}

impl UnknownCounter {
    fn count(&mut self, p: &Program, ev: &Event, out: &Outcome, verdict: Verdict) {
        let unknown_rules = p.unknown_rules(out);
        if out.unknown.is_empty() && unknown_rules.is_empty() {
            return;
        }
        if !out.unknown.is_empty() {
            self.decisions += 1;
        }
        let effect = |r: u32| p.model.rules.get(r as usize).map(|x| x.effect);
        let determining = p.determining(out);
        // Which unknown rules decided: all the determining ones, when each came out unknown;
        // the unknown `allow` rules, when the default (not `allow`) decided.
        let decided = if determining.is_empty() {
            p.model.default != Verdict::Allow
                && unknown_rules
                    .iter()
                    .any(|r| effect(*r) == Some(crate::bytecode::model::Effect::Allow))
        } else {
            determining.iter().all(|d| unknown_rules.contains(d))
        };
        for &slot in &out.unknown {
            let c = self.attrs.entry(slot).or_default();
            c[0] += 1;
            if ev.val(slot) == Val::Absent {
                c[1] += 1;
            } else {
                c[2] += 1;
            }
        }
        self.deciding_slots.clear();
        for &r in unknown_rules {
            p.unknown_refs(r, ev, &mut self.refs);
            let deciding = decided
                && if determining.is_empty() {
                    effect(r) == Some(crate::bytecode::model::Effect::Allow)
                } else {
                    determining.contains(&r)
                };
            let row = self.rules.entry(r).or_default();
            row.0 += 1;
            if deciding {
                row.1 += 1;
                self.deciding_slots.extend_from_slice(&self.refs);
            }
            for &slot in &self.refs {
                *row.2.entry(slot).or_default() += 1;
            }
        }
        if decided {
            self.decided.add(vidx(verdict), 1);
            self.deciding_slots.sort_unstable();
            self.deciding_slots.dedup();
            for &slot in &self.deciding_slots {
                self.attrs.entry(slot).or_default()[3] += 1;
            }
        }
    }

    fn finish(self, p: &Program) -> Unknowns {
        let name = |slot: u32| p.slot_name(slot).to_string();
        let mut attributes: Vec<UnknownAttr> = self
            .attrs
            .into_iter()
            .map(
                |(slot, [decisions, absent, mistyped, decided])| UnknownAttr {
                    attribute: name(slot),
                    decisions,
                    absent,
                    mistyped,
                    present: self.present.get(slot as usize).copied().unwrap_or(0),
                    decided,
                },
            )
            .collect();
        attributes.sort_by(|a, b| {
            b.decided
                .cmp(&a.decided)
                .then(b.decisions.cmp(&a.decisions))
                .then(a.attribute.cmp(&b.attribute))
        });
        let mut rules: Vec<UnknownRule> = self
            .rules
            .into_iter()
            .filter_map(|(r, (decisions, decided, slots))| {
                let rule = p.model.rules.get(r as usize)?;
                let mut attributes: Vec<UnknownUse> = slots
                    .into_iter()
                    .map(|(slot, decisions)| UnknownUse {
                        attribute: name(slot),
                        decisions,
                    })
                    .collect();
                attributes.sort_by(|a, b| {
                    b.decisions
                        .cmp(&a.decisions)
                        .then(a.attribute.cmp(&b.attribute))
                });
                Some(UnknownRule {
                    rule: rule.id.clone(),
                    effect: rule.effect.as_str().to_string(),
                    decisions,
                    decided,
                    attributes,
                })
            })
            .collect();
        rules.sort_by(|a, b| {
            b.decided
                .cmp(&a.decided)
                .then(b.decisions.cmp(&a.decisions))
                .then(a.rule.cmp(&b.rule))
        });
        Unknowns {
            decisions: self.decisions,
            decided: self.decided,
            attributes,
            rules,
        }
    }
}

#[derive(Default)]
struct Group {
    events: u64,
    examples: Vec<Example>,
}

#[derive(Default)]
struct Compare {
    compared: u64,
    agree: u64,
    transitions: [[u64; 3]; 3],
    /// (from, to, rule, tool) → flips.
    groups: FxHashMap<(u8, u8, u32, u32), Group>,
}

fn vidx(v: Verdict) -> usize {
    match v {
        Verdict::Allow => 0,
        Verdict::Deny => 1,
        Verdict::Escalate => 2,
    }
}

const VERDICTS: [Verdict; 3] = [Verdict::Allow, Verdict::Deny, Verdict::Escalate];

fn verdict_at(i: u8) -> Verdict {
    VERDICTS
        .get(usize::from(i))
        .copied()
        .unwrap_or(Verdict::Deny)
}

/// What an example needs, gathered lazily (only for the first few of a group).
struct Seen<'e> {
    file: &'e str,
    line: u64,
    column: u32,
    ev: &'e Event,
    tool: u32,
}

struct Evaluator<'a> {
    opts: &'a Options<'a>,
    reader: &'a Reader,
    names: Vec<String>,
    /// Each input name as a JSON string, for decision lines.
    names_json: Vec<String>,
    state: State,
    /// The state the first stream begins with ([`Options::initial`]), until it does.
    initial: Option<State>,
    base_state: Option<State>,
    out: Outcome,
    base_out: Outcome,
    current: Option<usize>,
    verdicts: Counts,
    inputs: Vec<InputStats>,
    errors: u64,
    error_list: Vec<BadRecord>,
    not_events: u64,
    not_event_kinds: BTreeMap<&'static str, u64>,
    tools: Table,
    agents: Table,
    rules: Vec<u64>,
    by_default: u64,
    recorded: Compare,
    baseline: Compare,
    unknown: UnknownCounter,
    truncated: Truncated,
    buf: String,
    /// Event lines for [`Sink::events`].
    events_buf: String,
    lines: LineCache,
    run: RunStats,
    /// From the states of finished streams.
    refused: u64,
    untimed: u64,
    limits: StreamLimits,
    trace: Vec<Step>,
}

/// Decision lines by leaves: everything in a decision but its `unknown` attributes follows
/// from the leaves reached (one per diagram group), so that part of the line is written once
/// per combination of leaves and copied afterwards.
#[derive(Default)]
struct LineCache {
    /// Leaves → the line up to the `unknown` list, and the rest after it.
    parts: FxHashMap<Box<[u32]>, LineParts>,
    scratch: String,
}

type LineParts = (Box<str>, Box<str>);

/// Combinations of leaves whose lines are kept.
const CACHED_LINES: usize = 16_384;

impl LineCache {
    /// Appends the decision's JSON object without its closing brace.
    fn write(&mut self, p: &Program, out: &Outcome, buf: &mut String) {
        let leaves = out.leaves.as_slice();
        if !self.parts.contains_key(leaves) {
            if self.parts.len() >= CACHED_LINES {
                return Self::direct(p, out, buf);
            }
            let mut known = out.clone();
            known.unknown.clear();
            self.scratch.clear();
            p.write_json(&known, &mut self.scratch);
            // The key cannot occur unescaped inside a string value, so this is the key.
            let Some(at) = self.scratch.rfind(",\"unknown\":[") else {
                return Self::direct(p, out, buf);
            };
            let head = self.scratch.get(..at + 12).unwrap_or("");
            let tail = self.scratch.get(at + 12..).unwrap_or("");
            let tail = tail.strip_suffix('}').unwrap_or(tail);
            self.parts.insert(leaves.into(), (head.into(), tail.into()));
        }
        let Some((head, tail)) = self.parts.get(leaves) else {
            return Self::direct(p, out, buf);
        };
        buf.push_str(head);
        for (i, s) in out.unknown.iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            write_json_str(buf, p.slot_name(*s));
        }
        // `tail` starts with the `]` that closes the (empty) list it was cut from.
        buf.push_str(tail);
    }

    fn direct(p: &Program, out: &Outcome, buf: &mut String) {
        let start = buf.len();
        p.write_json(out, buf);
        if buf.len() > start && buf.ends_with('}') {
            buf.pop();
        }
    }
}

impl<'a> Evaluator<'a> {
    fn new(opts: &'a Options<'a>, reader: &'a Reader, inputs: &[Input]) -> Evaluator<'a> {
        let names: Vec<String> = inputs.iter().map(Input::name).collect();
        let names_json = names.iter().map(|n| quoted(n)).collect();
        let limits = match opts.clock {
            Clock::Event => opts.limits,
            Clock::Host | Clock::Trusted => opts.clock.limits(opts.limits.max_keys),
        };
        Evaluator {
            opts,
            reader,
            names,
            names_json,
            state: opts.policy.new_state_with(limits),
            initial: opts.initial.cloned(),
            base_state: opts.baseline.map(|b| b.new_state_with(limits)),
            limits,
            trace: Vec::new(),
            out: Outcome::default(),
            base_out: Outcome::default(),
            current: None,
            verdicts: Counts::default(),
            inputs: Vec::new(),
            errors: 0,
            error_list: Vec::new(),
            not_events: 0,
            not_event_kinds: BTreeMap::new(),
            tools: Table::default(),
            agents: Table::default(),
            rules: vec![0; opts.policy.model.rules.len()],
            by_default: 0,
            recorded: Compare::default(),
            baseline: Compare::default(),
            unknown: UnknownCounter::default(),
            truncated: Truncated::default(),
            buf: String::new(),
            events_buf: String::new(),
            lines: LineCache::default(),
            run: RunStats::default(),
            refused: 0,
            untimed: 0,
        }
    }

    /// Fresh states for a new stream, after counting what the old ones refused.
    fn new_streams(&mut self) {
        self.refused += self.state.refused + self.base_state.as_ref().map_or(0, |s| s.refused);
        self.untimed += self.state.untimed;
        self.state = match self.initial.take() {
            Some(s) => s,
            None => self.opts.policy.new_state_with(self.limits),
        };
        self.base_state = self.opts.baseline.map(|b| b.new_state_with(self.limits));
    }

    /// Takes one block, in order.
    fn work(&mut self, w: &Work, sink: &mut dyn Sink) -> Result<(), Stop> {
        if self.current != Some(w.input) {
            // A new input is a new stream.
            self.current = Some(w.input);
            self.new_streams();
            self.inputs.push(InputStats {
                file: self.names.get(w.input).cloned().unwrap_or_default(),
                format: w.format.unwrap_or(InputFormat::Jsonl).as_str().to_string(),
                events: 0,
                errors: 0,
                not_events: 0,
            });
        }
        let write = sink.wants_decisions();
        let dump = sink.wants_event_lines();
        self.buf.clear();
        self.events_buf.clear();
        let file = self.names.get(w.input).cloned().unwrap_or_default();
        let file = file.as_str();
        let mut events = 0u64;
        for rec in &w.recs {
            match &rec.kind {
                RecKind::Bad(message) => {
                    let bad = BadRecord {
                        file: file.to_string(),
                        line: rec.line,
                        column: (rec.column > 0).then_some(rec.column),
                        message: message.to_string(),
                    };
                    self.errors += 1;
                    if let Some(i) = self.inputs.last_mut() {
                        i.errors += 1;
                    }
                    if self.opts.deny_bad {
                        // Decided in its place: deny, with the reason.
                        sink.bad(&bad, self.errors, u64::MAX);
                        if write {
                            let d = Decision::error(
                                &self.opts.policy.digest,
                                format!("line {}: {}", bad.line, bad.message),
                            );
                            d.write_json(&mut self.buf);
                            self.buf.push('\n');
                        }
                        if self.error_list.len() < LISTED_ERRORS {
                            self.error_list.push(bad);
                        }
                        continue;
                    }
                    if self.errors > self.opts.max_errors {
                        if !self.buf.is_empty() {
                            sink.decisions(&self.buf);
                        }
                        if !self.events_buf.is_empty() {
                            sink.event_lines(&self.events_buf);
                        }
                        return Err(Stop::BadRecord(bad));
                    }
                    sink.bad(&bad, self.errors, self.opts.max_errors);
                    if self.error_list.len() < LISTED_ERRORS {
                        self.error_list.push(bad);
                    }
                }
                RecKind::Event {
                    idx,
                    recorded,
                    start,
                    len,
                    truncated,
                } => {
                    let Some(ev) = w.events.get(*idx as usize) else {
                        continue;
                    };
                    if dump {
                        let at = *start as usize;
                        let text = w.block.data.get(at..at + *len as usize).unwrap_or(&[]);
                        self.events_buf
                            .push_str(std::str::from_utf8(text).unwrap_or(""));
                        self.events_buf.push('\n');
                    }
                    let i = *idx as usize;
                    let base_ev = w.base.get(i);
                    let starts = slice_of(&w.starts, &w.ends, i);
                    let base_starts = slice_of(&w.base_starts, &w.base_ends, i);
                    let text = if self.opts.keep_decided {
                        w.decided.get(i)
                    } else {
                        None
                    };
                    self.event(
                        ev,
                        starts,
                        base_ev,
                        base_starts,
                        *recorded,
                        *truncated,
                        file,
                        w.input,
                        rec,
                        write,
                        text,
                        sink,
                    );
                    events += 1;
                }
            }
        }
        if let Some(i) = self.inputs.last_mut() {
            i.events += events;
            i.not_events += w.block.not_events;
        }
        if self.unknown.present.len() < w.present.len() {
            self.unknown.present.resize(w.present.len(), 0);
        }
        for (a, b) in self.unknown.present.iter_mut().zip(&w.present) {
            *a += b;
        }
        self.not_events += w.block.not_events;
        for (k, n) in &w.block.not_event_kinds {
            *self.not_event_kinds.entry(k).or_default() += n;
        }
        if write && !self.buf.is_empty() {
            sink.decisions(&self.buf);
        }
        if dump && !self.events_buf.is_empty() {
            sink.event_lines(&self.events_buf);
        }
        sink.block_end();
        if let Some(c) = &self.opts.counters {
            c.events.fetch_add(events, Ordering::Relaxed);
        }
        self.run.blocks += 1;
        let keys = self.state.keys() + self.base_state.as_ref().map_or(0, State::keys);
        self.run.max_state_keys = self.run.max_state_keys.max(keys);
        if let Some(f) = &w.fatal {
            return Err(Stop::Input(f.clone()));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        ev: &Event,
        starts: &[Target],
        base_ev: Option<&Event>,
        base_starts: &[Target],
        recorded: Option<Verdict>,
        truncated: bool,
        file: &str,
        input: usize,
        rec: &Rec,
        write: bool,
        text: Option<&DecidedEvent>,
        sink: &mut dyn Sink,
    ) {
        let policy = self.opts.policy;
        if self.opts.trace {
            self.trace.clear();
            policy.eval_traced(ev, &mut self.state, &mut self.out, &mut self.trace);
        } else {
            policy.eval_from(ev, starts, &mut self.state, &mut self.out);
        }
        if sink.wants_events() {
            sink.event(&Decided {
                program: policy,
                outcome: &self.out,
                trace: &self.trace,
                text,
                file,
                line: rec.line,
                column: rec.column,
                refused: self.state.refused,
                untimed: self.state.untimed,
            });
        }
        let v = self.out.verdict.unwrap_or(policy.model.default);
        let vi = vidx(v);
        self.verdicts.add(vi, 1);
        self.unknown.count(policy, ev, &self.out, v);
        if truncated {
            self.truncated.events += 1;
            if self.truncated.examples.len() < LISTED_TRUNCATED {
                self.truncated.examples.push(Position {
                    file: file.to_string(),
                    line: rec.line,
                    column: (rec.column > 0).then_some(rec.column),
                });
            }
        }
        let r = self.reader;
        let tool = self.tools.id(ev.str_of(ev.val(r.s_tool)));
        if let Some(c) = self.tools.counts.get_mut(tool as usize) {
            c.add(vi, 1);
        }
        let agent = self.agents.id(ev.str_of(ev.val(r.s_agent)));
        if let Some(c) = self.agents.counts.get_mut(agent as usize) {
            c.add(vi, 1);
        }
        let determining = policy.determining(&self.out);
        if determining.is_empty() {
            self.by_default += 1;
        }
        for &d in determining {
            if let Some(n) = self.rules.get_mut(d as usize) {
                *n += 1;
            }
        }
        let seen = Seen {
            file,
            line: rec.line,
            column: rec.column,
            ev,
            tool,
        };
        if let Some(from) = recorded {
            compare(
                &mut self.recorded,
                from,
                v,
                &self.out,
                None,
                policy,
                None,
                &seen,
                r,
                &self.tools,
            );
        }
        let mut base_verdict = None;
        if let (Some(bp), Some(bst), Some(bev)) =
            (self.opts.baseline, self.base_state.as_mut(), base_ev)
        {
            bp.eval_from(bev, base_starts, bst, &mut self.base_out);
            let bv = self.base_out.verdict.unwrap_or(bp.model.default);
            base_verdict = Some(bv);
            compare(
                &mut self.baseline,
                bv,
                v,
                &self.out,
                Some(&self.base_out),
                policy,
                Some(bp),
                &seen,
                r,
                &self.tools,
            );
        }
        if write && self.opts.plain_lines {
            self.lines.write(policy, &self.out, &mut self.buf);
            self.buf.push_str("}\n");
        } else if write {
            self.lines.write(policy, &self.out, &mut self.buf);
            let b = &mut self.buf;
            b.push_str(",\"file\":");
            b.push_str(
                self.names_json
                    .get(input)
                    .map(String::as_str)
                    .unwrap_or("\"\""),
            );
            b.push_str(",\"line\":");
            push_u64(b, rec.line);
            if rec.column > 0 {
                b.push_str(",\"column\":");
                push_u64(b, u64::from(rec.column));
            }
            if let Some(rv) = recorded {
                b.push_str(",\"recorded\":\"");
                b.push_str(rv.as_str());
                b.push('"');
            }
            if let Some(bv) = base_verdict {
                b.push_str(",\"baseline\":\"");
                b.push_str(bv.as_str());
                b.push('"');
            }
            if truncated {
                b.push_str(",\"args_truncated\":true");
            }
            b.push_str("}\n");
        }
    }

    fn finish(mut self) -> (Report, RunStats) {
        self.new_streams();
        let policy = self.opts.policy;
        let rule_name = |r: u32| -> Option<String> {
            (r != DEFAULT_RULE)
                .then(|| policy.model.rules.get(r as usize).map(|x| x.id.clone()))
                .flatten()
        };
        let mut by_rule: Vec<RuleRow> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| {
                policy.model.rules.get(i).map(|r| RuleRow {
                    rule: r.id.clone(),
                    effect: r.effect.as_str().to_string(),
                    events: *n,
                })
            })
            .collect();
        by_rule.sort_by(|a, b| b.events.cmp(&a.events).then(a.rule.cmp(&b.rule)));
        let comparison = |c: Compare| -> Comparison {
            let mut transitions = Vec::new();
            for (fi, from) in VERDICTS.iter().enumerate() {
                for (ti, to) in VERDICTS.iter().enumerate() {
                    let n = c
                        .transitions
                        .get(fi)
                        .and_then(|row| row.get(ti))
                        .copied()
                        .unwrap_or(0);
                    if n > 0 {
                        transitions.push(Transition {
                            from: *from,
                            to: *to,
                            events: n,
                        });
                    }
                }
            }
            let mut flips: Vec<FlipGroup> = c
                .groups
                .into_iter()
                .map(|((f, t, rule, tool), g)| FlipGroup {
                    from: verdict_at(f),
                    to: verdict_at(t),
                    rule: rule_name(rule),
                    tool: self.tools.name(tool),
                    events: g.events,
                    examples: g.examples,
                })
                .collect();
            flips.sort_by(|a, b| {
                b.events
                    .cmp(&a.events)
                    .then(vidx(a.from).cmp(&vidx(b.from)))
                    .then(vidx(a.to).cmp(&vidx(b.to)))
                    .then(a.rule.cmp(&b.rule))
                    .then(a.tool.cmp(&b.tool))
            });
            Comparison {
                compared: c.compared,
                agree: c.agree,
                flipped: c.compared - c.agree,
                transitions,
                flips,
            }
        };
        let events = self.verdicts.total();
        let unknown = self.unknown.finish(policy);
        let recorded = (self.recorded.compared > 0).then(|| comparison(self.recorded));
        let baseline = self.opts.baseline.map(|_| comparison(self.baseline));
        let report = Report {
            bundle: policy.digest.clone(),
            baseline_bundle: self.opts.baseline.map(|b| b.digest.clone()),
            inputs: self.inputs,
            events,
            verdicts: self.verdicts,
            deny_rate: if events == 0 {
                0.0
            } else {
                self.verdicts.deny as f64 / events as f64
            },
            errors: self.errors,
            max_errors: self.opts.max_errors,
            error_list: self.error_list,
            not_events: self.not_events,
            not_event_kinds: self
                .not_event_kinds
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect(),
            by_tool: self.tools.rows(),
            by_agent: self.agents.rows(),
            by_rule,
            by_default: self.by_default,
            default_verdict: policy.model.default,
            recorded,
            baseline,
            unknown,
            truncated_args: self.truncated,
            max_keys: self.opts.limits.max_keys,
            refused: self.refused,
            untimed: self.untimed,
        };
        (report, self.run)
    }
}

/// Event `i`'s targets in a flat list cut at `ends` (empty, so failing closed, when absent).
fn slice_of<'t>(all: &'t [Target], ends: &[u32], i: usize) -> &'t [Target] {
    let start = match i.checked_sub(1) {
        Some(j) => ends.get(j).copied().unwrap_or(u32::MAX) as usize,
        None => 0,
    };
    let end = ends.get(i).copied().unwrap_or(0) as usize;
    all.get(start..end).unwrap_or(&[])
}

fn push_u64(b: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    b.push_str(std::str::from_utf8(digits.get(i..).unwrap_or(&[])).unwrap_or(""));
}

#[allow(clippy::too_many_arguments)]
fn compare(
    c: &mut Compare,
    from: Verdict,
    to: Verdict,
    out: &Outcome,
    base_out: Option<&Outcome>,
    policy: &Program,
    baseline: Option<&Program>,
    seen: &Seen<'_>,
    r: &Reader,
    tools: &Table,
) {
    c.compared += 1;
    let (fi, ti) = (vidx(from), vidx(to));
    if let Some(n) = c.transitions.get_mut(fi).and_then(|row| row.get_mut(ti)) {
        *n += 1;
    }
    if from == to {
        c.agree += 1;
        return;
    }
    let determining = policy.determining(out);
    let rules: &[u32] = if determining.is_empty() {
        &[DEFAULT_RULE]
    } else {
        determining
    };
    for &rule in rules {
        let g = c
            .groups
            .entry((fi as u8, ti as u8, rule, seen.tool))
            .or_default();
        g.events += 1;
        if g.examples.len() < EXAMPLES {
            let ev = seen.ev;
            let s = |slot: u32| ev.str_of(ev.val(slot)).map(str::to_string);
            let ids = |p: &Program, o: &Outcome| -> Vec<String> {
                p.determining(o)
                    .iter()
                    .filter_map(|d| p.model.rules.get(*d as usize))
                    .map(|x| x.id.clone())
                    .collect()
            };
            g.examples.push(Example {
                file: seen.file.to_string(),
                line: seen.line,
                column: (seen.column > 0).then_some(seen.column),
                session: s(r.s_session),
                agent: s(r.s_agent),
                tool: tools.name(seen.tool),
                rules: ids(policy, out),
                baseline_rules: match (baseline, base_out) {
                    (Some(b), Some(o)) => Some(ids(b, o)),
                    _ => None,
                },
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// Driving the threads.

/// Replays `inputs` (each its own stream, in order) and returns the report, or why it stopped.
pub fn run(
    opts: &Options<'_>,
    inputs: &[Input],
    sink: &mut dyn Sink,
) -> Result<(Report, RunStats), Stop> {
    let reader = Reader::new(opts.policy, opts.baseline);
    let mut eval = Evaluator::new(opts, &reader, inputs);
    if opts.jobs <= 1 || opts.interactive {
        run_single(opts, inputs, &reader, &mut eval, sink)?;
    } else {
        run_parallel(opts, inputs, &reader, &mut eval, sink)?;
    }
    Ok(eval.finish())
}

/// Opens input `i` and reads its next block into `w`; returns whether the input goes on.
struct Feeder<'i> {
    inputs: &'i [Input],
    format: InputFormat,
    bytes: Option<Arc<AtomicU64>>,
    next: usize,
    open: Option<TraceReader>,
    seq: u64,
    interactive: bool,
}

impl Feeder<'_> {
    /// Fills `w` with the next block of the next input; false when all are done.
    fn fill(&mut self, w: &mut Work) -> bool {
        w.fatal = None;
        w.last = false;
        w.block.clear();
        if self.open.is_none() {
            let Some(input) = self.inputs.get(self.next) else {
                return false;
            };
            match TraceReader::open(input, self.format, self.bytes.clone()) {
                Ok(mut r) => {
                    r.set_interactive(self.interactive);
                    self.open = Some(r);
                }
                Err(e) => {
                    w.seq = self.seq;
                    self.seq += 1;
                    w.input = self.next;
                    w.format = None;
                    w.fatal = Some(e);
                    w.last = true;
                    self.next += 1;
                    return true;
                }
            }
        }
        let Some(r) = self.open.as_mut() else {
            return false;
        };
        w.seq = self.seq;
        self.seq += 1;
        w.input = self.next;
        w.format = Some(r.format());
        match r.next_block(&mut w.block) {
            Ok(true) => {}
            Ok(false) => {
                w.last = true;
            }
            Err(e) => {
                w.fatal = Some(e);
                w.last = true;
            }
        }
        if w.last {
            self.open = None;
            self.next += 1;
        }
        true
    }
}

fn run_single(
    opts: &Options<'_>,
    inputs: &[Input],
    reader: &Reader,
    eval: &mut Evaluator<'_>,
    sink: &mut dyn Sink,
) -> Result<(), Stop> {
    let mut feeder = Feeder {
        inputs,
        format: opts.format,
        bytes: opts.counters.as_ref().map(|c| Arc::clone(&c.bytes)),
        next: 0,
        open: None,
        seq: 0,
        interactive: opts.interactive,
    };
    let mut w = Work::default();
    let mut scratch = Scratch::new(opts);
    while feeder.fill(&mut w) {
        w.parse(reader, opts, &mut scratch);
        eval.work(&w, sink)?;
    }
    Ok(())
}

fn run_parallel(
    opts: &Options<'_>,
    inputs: &[Input],
    reader: &Reader,
    eval: &mut Evaluator<'_>,
    sink: &mut dyn Sink,
) -> Result<(), Stop> {
    let pool = opts.jobs * 2 + 2;
    let stop = AtomicBool::new(false);
    let (free_tx, free_rx) = mpsc::sync_channel::<Box<Work>>(pool);
    for _ in 0..pool {
        let _ = free_tx.send(Box::default());
    }
    let (work_tx, work_rx) = mpsc::sync_channel::<Box<Work>>(pool);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<Box<Work>>();
    let bytes = opts.counters.as_ref().map(|c| Arc::clone(&c.bytes));
    std::thread::scope(|scope| {
        let stop = &stop;
        scope.spawn(move || {
            let mut feeder = Feeder {
                inputs,
                format: opts.format,
                bytes,
                next: 0,
                open: None,
                seq: 0,
                interactive: false,
            };
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut w) = free_rx.recv() else {
                    break;
                };
                if !feeder.fill(&mut w) {
                    break;
                }
                if work_tx.send(w).is_err() {
                    break;
                }
            }
        });
        for _ in 0..opts.jobs {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                let mut scratch = Scratch::new(opts);
                loop {
                    let next = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => break,
                    };
                    let Ok(mut w) = next else {
                        break;
                    };
                    w.parse(reader, opts, &mut scratch);
                    if done_tx.send(w).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut next = 0u64;
        let mut waiting: BTreeMap<u64, Box<Work>> = BTreeMap::new();
        let mut result = Ok(());
        'outer: while let Ok(w) = done_rx.recv() {
            waiting.insert(w.seq, w);
            while let Some(w) = waiting.remove(&next) {
                next += 1;
                let r = eval.work(&w, sink);
                let _ = free_tx.send(w);
                if r.is_err() {
                    result = r;
                    break 'outer;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        drop(free_tx);
        drop(done_rx);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(src: &str) -> Program {
        crate::pipeline::build_sources(vec![crate::diag::SourceFile::new("t.gov", src)])
            .map_err(|d| d.iter().map(|d| d.short()).collect::<Vec<_>>().join("\n"))
            .unwrap()
            .program
    }

    /// A program whose diagram forks wherever it can (several leaves per decision).
    fn forked(src: &str) -> Program {
        let files = vec![crate::diag::SourceFile::new("g.gov", src)];
        let bundle = crate::check::check_sources(files).unwrap();
        let model = crate::compile::compile_with(&bundle, 0).unwrap();
        let p = Program::load(&crate::bytecode::encode(&model)).unwrap();
        assert!(
            p.model
                .nodes
                .iter()
                .any(|n| matches!(n, crate::bytecode::model::NodeDef::Fork { .. }))
        );
        p
    }

    struct Lines(String);
    impl Sink for Lines {
        fn decisions(&mut self, lines: &str) {
            self.0.push_str(lines);
        }
        fn wants_decisions(&self) -> bool {
            true
        }
    }

    fn bytes(name: &str, s: &str) -> Input {
        Input::Bytes {
            name: name.into(),
            data: Arc::from(s.as_bytes()),
        }
    }

    const POLICY: &str = r#"
tool web_search(query: string)
tool file_read(path: string)
default deny
policy p {
  rule read: allow when tool in ["web_search", "file_read"]
  rule secrets: deny when tool == "file_read" and args.path ends_with ".env" because "no secrets"
  rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1m, per agent.id) >= 2
}
"#;

    #[test]
    fn counts_flips_and_state_per_input() {
        let p = program(POLICY);
        let base = program(
            "default deny\npolicy p { rule read: allow when tool in [\"web_search\", \"file_read\"] }",
        );
        let a = r#"{"ts":"2026-11-23T10:00:00Z","agent":{"id":"a"},"tool":"web_search","decision":"allow"}
{"ts":"2026-11-23T10:00:01Z","agent":{"id":"a"},"tool":"web_search","decision":"allow"}
{"ts":"2026-11-23T10:00:02Z","agent":{"id":"a"},"tool":"web_search","decision":"allow"}
{"ts":"2026-11-23T10:00:03Z","agent":{"id":"b"},"tool":"file_read","args":{"path":"/app/.env"},"decision":{"decision":"allow"}}
"#;
        // The same agent in a second file starts a fresh stream.
        let b = r#"{"ts":"2026-11-23T10:00:04Z","agent":{"id":"a"},"tool":"web_search"}"#;
        let opts = Options {
            policy: &p,
            baseline: Some(&base),
            format: InputFormat::Auto,
            jobs: 1,
            max_errors: 0,
            counters: None,
            limits: StreamLimits::default(),
            ..Options::new(&p)
        };
        let inputs = [bytes("a.jsonl", a), bytes("b.jsonl", b)];
        let mut sink = Lines(String::new());
        let (r, _) = run(&opts, &inputs, &mut sink).unwrap();
        assert_eq!(r.events, 5);
        assert_eq!(
            r.verdicts,
            Counts {
                allow: 3,
                deny: 2,
                escalate: 0
            }
        );
        let rec = r.recorded.as_ref().unwrap();
        assert_eq!((rec.compared, rec.agree, rec.flipped), (4, 2, 2));
        let base = r.baseline.as_ref().unwrap();
        assert_eq!(base.flipped, 2);
        assert_eq!(base.flips.len(), 2);
        let rate = &base.flips[0];
        assert_eq!(rate.rule.as_deref(), Some("p.rate"));
        assert_eq!(rate.examples[0].line, 3);
        assert_eq!(
            rate.examples[0].baseline_rules,
            Some(vec!["p.read".to_string()])
        );
        assert_eq!(r.inputs.len(), 2);
        let lines: Vec<&str> = sink.0.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[2].contains("\"decision\":\"deny\""), "{}", lines[2]);
        assert!(
            lines[2]
                .ends_with(r#""file":"a.jsonl","line":3,"recorded":"allow","baseline":"allow"}"#),
            "{}",
            lines[2]
        );
        assert!(lines[4].contains("\"decision\":\"allow\""));
        for l in lines {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
    }

    #[test]
    fn bad_records_stop_or_are_skipped() {
        let p = program(POLICY);
        let text = "{\"tool\":\"web_search\"}\n{\"tool\":\n{\"tool\":\"x\",\"decision\":\"maybe\"}\n{\"tool\":\"file_read\"}\n";
        let mut opts = Options {
            policy: &p,
            baseline: None,
            format: InputFormat::Jsonl,
            jobs: 1,
            max_errors: 0,
            counters: None,
            limits: StreamLimits::default(),
            ..Options::new(&p)
        };
        let inputs = [bytes("t.jsonl", text)];
        match run(&opts, &inputs, &mut NoSink) {
            Err(Stop::BadRecord(b)) => {
                assert_eq!((b.line, b.column), (2, None));
                assert!(
                    b.message.starts_with("unexpected end of input")
                        && b.message.contains("at column 9, in `tool`"),
                    "{}",
                    b.message
                );
            }
            other => panic!("{other:?}"),
        }
        opts.max_errors = 2;
        let (r, _) = run(&opts, &inputs, &mut NoSink).unwrap();
        assert_eq!((r.events, r.errors), (2, 2));
        assert_eq!(r.error_list[1].line, 3);
        assert!(r.error_list[1].message.contains("found \"maybe\""));
    }

    #[test]
    fn prewalk_then_eval_from_equals_eval() {
        let mut trace = Vec::new();
        crate::trace::generator::write_trace(
            &crate::trace::generator::GenOptions {
                events: 5_000,
                agents: 5,
                ..Default::default()
            },
            &mut trace,
        )
        .unwrap();
        let text = String::from_utf8(trace).unwrap();
        for src in [
            POLICY.to_string(),
            crate::trace::generator::policy_source(24),
        ] {
            let p = program(&src);
            let (mut a, mut b, mut scratch) = (p.new_state(), p.new_state(), p.new_state());
            let (mut oa, mut ob) = (Outcome::default(), Outcome::default());
            let mut ev = Event::default();
            let mut starts = Vec::new();
            let mut stopped_early = 0;
            for line in text.lines().chain(["{\"tool\":7}", "{}"]) {
                p.read_event(line, &mut ev).unwrap();
                p.eval(&ev, &mut a, &mut oa);
                p.prewalk(&ev, &mut scratch, &mut starts);
                stopped_early += starts
                    .iter()
                    .filter(|t| matches!(t, Target::Node(_)))
                    .count();
                p.eval_from(&ev, &starts, &mut b, &mut ob);
                assert_eq!(format!("{oa:?}"), format!("{ob:?}"), "{line}");
                assert_eq!(a.keys(), b.keys());
            }
            // The rate rules make some walks stop before a tracker test.
            assert!(stopped_early > 0);
        }
        // Targets that do not fit the program fail closed.
        let p = program(POLICY);
        let mut ev = Event::default();
        p.read_event("{\"tool\":\"web_search\"}", &mut ev).unwrap();
        let mut out = Outcome::default();
        p.eval_from(&ev, &[], &mut p.new_state(), &mut out);
        assert_eq!(p.decision(&out).verdict, Verdict::Deny);
        p.eval_from(&ev, &[Target::Node(u32::MAX)], &mut p.new_state(), &mut out);
        assert_eq!(p.decision(&out).verdict, Verdict::Deny);
    }

    /// A reset state decides as a fresh one: after a stream that filled it (keys, records
    /// refused at the key bound, times not believed), the next stream decides the same
    /// with it as with a new state.
    #[test]
    fn a_reset_state_decides_as_a_fresh_one() {
        let mut trace = Vec::new();
        crate::trace::generator::write_trace(
            &crate::trace::generator::GenOptions {
                events: 3_000,
                agents: 9,
                ..Default::default()
            },
            &mut trace,
        )
        .unwrap();
        let text = String::from_utf8(trace).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (first, second) = lines.split_at(lines.len() / 2);
        let p = program(&crate::trace::generator::policy_source(24));
        let limits = StreamLimits {
            max_keys: 3,
            max_skew: Some(1_000_000_000),
        };
        let (mut reused, mut out, mut want) = (
            p.new_state_with(limits),
            Outcome::default(),
            Outcome::default(),
        );
        let mut ev = Event::default();
        // Out of order by more than the skew: some times are not believed.
        for line in first.iter().rev() {
            p.read_event(line, &mut ev).unwrap();
            p.eval(&ev, &mut reused, &mut out);
        }
        assert!(reused.refused > 0 && reused.untimed > 0 && reused.keys() > 0);
        reused.reset();
        let mut fresh = p.new_state_with(limits);
        for line in second {
            p.read_event(line, &mut ev).unwrap();
            p.eval(&ev, &mut reused, &mut out);
            p.eval(&ev, &mut fresh, &mut want);
            assert_eq!(format!("{out:?}"), format!("{want:?}"), "{line}");
            assert_eq!(reused.keys(), fresh.keys());
        }
        let counters = |s: &crate::vm::State| {
            (
                s.clock,
                s.events,
                s.refused,
                s.first_refused,
                s.untimed,
                s.first_untimed,
            )
        };
        assert_eq!(counters(&reused), counters(&fresh));
        assert_eq!(reused.limits(), fresh.limits());
    }

    #[test]
    fn cached_decision_lines_equal_written_ones() {
        let p = program(POLICY);
        let mut cache = LineCache::default();
        let mut st = p.new_state();
        let mut out = Outcome::default();
        let mut ev = Event::default();
        for line in [
            r#"{"tool":"web_search","agent":{"id":"a"},"ts":"2026-11-23T10:00:00Z"}"#,
            r#"{"tool":"file_read","args":{"path":"/x/.env"}}"#,
            r#"{"tool":"file_read","args":{"path":7}}"#,
            r#"{"tool":"file_read","args":{"path":"/x/.env"}}"#,
            r#"{"tool":"file_read"}"#,
            r#"{}"#,
            r#"{"tool":"web_search","agent":{"id":"a"},"ts":"2026-11-23T10:00:01Z"}"#,
            r#"{"tool":"web_search","agent":{"id":"a"},"ts":"2026-11-23T10:00:02Z"}"#,
        ] {
            p.read_event(line, &mut ev).unwrap();
            p.eval(&ev, &mut st, &mut out);
            let mut want = String::new();
            p.write_json(&out, &mut want);
            let mut got = String::new();
            cache.write(&p, &out, &mut got);
            got.push('}');
            assert_eq!(got, want, "{line}");
        }
        assert!(!cache.parts.is_empty());
        // Several diagram groups: the cache keys on all their leaves.
        let p = forked(&crate::trace::generator::policy_source(24));
        let mut trace = Vec::new();
        crate::trace::generator::write_trace(
            &crate::trace::generator::GenOptions {
                events: 2_000,
                ..Default::default()
            },
            &mut trace,
        )
        .unwrap();
        let mut cache = LineCache::default();
        let mut st = p.new_state();
        for line in String::from_utf8(trace).unwrap().lines() {
            p.read_event(line, &mut ev).unwrap();
            p.eval(&ev, &mut st, &mut out);
            let mut want = String::new();
            p.write_json(&out, &mut want);
            let mut got = String::new();
            cache.write(&p, &out, &mut got);
            got.push('}');
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn parallel_equals_sequential() {
        let p = program(POLICY);
        let mut trace = Vec::new();
        crate::trace::generator::write_trace(
            &crate::trace::generator::GenOptions {
                events: 30_000,
                ..Default::default()
            },
            &mut trace,
        )
        .unwrap();
        let inputs = [
            Input::Bytes {
                name: "g.jsonl".into(),
                data: Arc::from(trace.as_slice()),
            },
            bytes("b.jsonl", "{\"tool\":\"web_search\"}\n"),
        ];
        let mut outs = Vec::new();
        for jobs in [1, 2, 4] {
            let opts = Options {
                policy: &p,
                baseline: None,
                format: InputFormat::Auto,
                jobs,
                max_errors: 0,
                counters: None,
                limits: StreamLimits::default(),
                ..Options::new(&p)
            };
            let mut sink = Lines(String::new());
            let (r, _) = run(&opts, &inputs, &mut sink).unwrap();
            outs.push((format!("{r:?}"), sink.0));
        }
        assert_eq!(outs[0], outs[1]);
        assert_eq!(outs[0], outs[2]);
    }
}
