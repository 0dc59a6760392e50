//! Deciding an event its door has already read ([`Point::decide_parts`]): the MCP gateway
//! finds a call's tool, arguments, agent and session while it checks the message, and would
//! otherwise write them as event text only for the point to read that text again.
//!
//! The event is made through the VM's own reader and slots: the members given as JSON text
//! (a call's `args`, as the client wrote them) are read by [`crate::vm::Paths`] from a text of
//! those members alone, and each string member is put in the slot the program reads it at, as
//! reading the whole text would have put it. Then the event is stamped and walked as
//! [`crate::stream::Preparer::prepare`] does, and decided as [`Point::decide`] decides. The
//! decision, the stream state and the metrics are those of [`Point::decide`] on the text
//! [`Parts::write`] writes (`parts_decide_as_their_text` checks it); whatever this path does
//! not take (an audit log, whose record is the canonical text; members that cannot be read
//! so) goes to [`Point::decide`] with that text, so the audit record is its own.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::{Answer, Failure, InForce, Point, Scratch, lock};
use crate::bytecode::model::Verdict;
use crate::stream::now_ns;
use crate::vm::{Program, Val};

/// A member of an event.
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    /// A string, as its value (not JSON text).
    Str(&'a str),
    /// One JSON value, as written: checked to be one ([`OneValue::check`]) each time it is
    /// put in slots.
    Json(&'a str),
    /// One JSON value, as written, that its reader has read as one: not checked again.
    Value(OneValue<'a>),
    /// An object of string members (`agent: {id}`), its keys the door's own names.
    Object(&'a [(&'static str, &'a str)]),
}

/// The text of one JSON value, known to be one: made by [`OneValue::check`], or from a value
/// the MCP scanner read whole ([`crate::mcp::scan::Json`], [`crate::mcp::scan::OwnedJson`]),
/// whose text is one value by how it was found.
#[derive(Clone, Copy, Debug)]
pub struct OneValue<'a>(&'a str);

impl<'a> OneValue<'a> {
    /// `text`, when it can only be read as one value in a member's place.
    pub fn check(text: &'a str) -> Option<OneValue<'a>> {
        one_value(text).then_some(OneValue(text))
    }

    /// The text of a value the MCP scanner read.
    pub fn scanned(v: crate::mcp::scan::Json<'a>) -> OneValue<'a> {
        OneValue(v.get())
    }

    /// The value's text, as written.
    pub fn get(self) -> &'a str {
        self.0
    }
}

/// An event (a JSON object) as its members, in the order its text has them. The keys are the
/// door's own names (`&'static str`, never freed): a plan kept for a shape tells the same key
/// given again by its address and length, before comparing bytes ([`Plan::fits`]).
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    pub members: &'a [(&'static str, Part<'a>)],
}

/// Writes `s` as a JSON string, as `serde_json` writes it.
fn string(out: &mut Vec<u8>, s: &str) {
    // Writing to memory does not fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

impl Parts<'_> {
    /// The event's text: its members in order, each string written as `serde_json`
    /// writes it, each JSON member as given.
    pub fn write(&self, out: &mut String) {
        let mut buf = std::mem::take(out).into_bytes();
        buf.clear();
        buf.push(b'{');
        for (i, (key, part)) in self.members.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            string(&mut buf, key);
            buf.push(b':');
            match part {
                Part::Str(s) => string(&mut buf, s),
                Part::Json(text) | Part::Value(OneValue(text)) => {
                    buf.extend_from_slice(text.as_bytes());
                }
                Part::Object(members) => {
                    buf.push(b'{');
                    for (j, (k, v)) in members.iter().enumerate() {
                        if j > 0 {
                            buf.push(b',');
                        }
                        string(&mut buf, k);
                        buf.push(b':');
                        string(&mut buf, v);
                    }
                    buf.push(b'}');
                }
            }
        }
        buf.push(b'}');
        // Keys and strings are written by serde_json and JSON members are `str`s: UTF-8.
        *out = String::from_utf8(buf).unwrap_or_default();
    }

    /// Whether the members can be put in slots directly: keys given once (in the event and
    /// in each object), the keys of JSON members written without escapes ([`plain_shape`]),
    /// and each JSON member one value (nothing of it can reach another member's place).
    #[cfg(test)]
    fn plain(&self) -> bool {
        plain_shape(self.members) && self.one_values()
    }

    /// Whether each JSON member is one value ([`one_value`]; a [`Part::Value`] is one).
    fn one_values(&self) -> bool {
        self.members.iter().all(|(_, part)| match part {
            Part::Json(text) => one_value(text),
            Part::Value(_) | Part::Str(_) | Part::Object(_) => true,
        })
    }
}

/// Whether parts of this shape can be put in slots directly, as far as their keys say: keys
/// given once (in the event and in each object), and the keys of JSON members written
/// without escapes (their text is joined with them).
fn plain_shape(members: &[(&str, Part<'_>)]) -> bool {
    let plain_key = |k: &str| !k.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    once_each(members)
        && members.iter().all(|(k, part)| match part {
            Part::Json(_) | Part::Value(_) => plain_key(k),
            Part::Str(_) => true,
            Part::Object(m) => once_each(m),
        })
}

/// Where a slot the program reads takes its value from, in parts of one shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fill {
    /// The string member at this place.
    Str(usize),
    /// The object member (its own slot: present).
    Object,
    /// The string at place `.1` of the object member at place `.0`.
    ObjectStr(usize, usize),
    /// Nothing (below a string, or a key the object lacks), but the slot must still be
    /// empty after the JSON members are read.
    Empty,
}

/// A member of a shape: its key, and what it is (an object's keys follow it).
#[derive(Debug, PartialEq, Eq)]
enum Shaped {
    Str(&'static str),
    Json(&'static str),
    /// An object member, and how many keys follow it.
    Object(&'static str, usize),
    /// A key of the object before it.
    Key(&'static str),
}

/// What deciding parts of one shape with one program needs of the shape, found once: whether
/// its keys let it be put in slots ([`plain_shape`]), and where each slot the program reads
/// takes its value from.
#[derive(Debug)]
struct Plan {
    /// How many members the shape has (to tell shapes apart at once).
    members: usize,
    shape: Vec<Shaped>,
    plain: bool,
    /// In the order of the slots.
    fills: Vec<(usize, Fill)>,
}

impl Plan {
    /// The plan of `parts`' shape for `program`: each slot as [`prepare`] found it from the
    /// members by comparing paths (see there).
    fn of(program: &Program, parts: &Parts<'_>) -> Plan {
        let members = parts.members;
        let mut shape = Vec::with_capacity(members.len() + 1);
        for (k, part) in members {
            match part {
                Part::Str(_) => shape.push(Shaped::Str(k)),
                Part::Json(_) | Part::Value(_) => shape.push(Shaped::Json(k)),
                Part::Object(m) => {
                    shape.push(Shaped::Object(k, m.len()));
                    shape.extend(m.iter().map(|(k, _)| Shaped::Key(k)));
                }
            }
        }
        let plain = plain_shape(members);
        let mut fills = Vec::new();
        if plain {
            for (slot, path) in program.model.slots.iter().enumerate() {
                let Some((first, rest)) = path.split_first() else {
                    continue;
                };
                // `time.*` is made from the stamp, never read.
                if first == "time" {
                    continue;
                }
                // Keys are given once (plain): the first is the one.
                let Some((i, (_, part))) =
                    members.iter().enumerate().find(|(_, (k, _))| k == first)
                else {
                    continue;
                };
                let fill = match (part, rest) {
                    (Part::Json(_) | Part::Value(_), _) => continue,
                    (Part::Str(_), []) => Fill::Str(i),
                    (Part::Object(_), []) => Fill::Object,
                    (Part::Object(m), [key]) => match m.iter().position(|(k, _)| k == key) {
                        Some(j) => Fill::ObjectStr(i, j),
                        None => Fill::Empty,
                    },
                    // Below a string, or below an object's string: nothing.
                    _ => Fill::Empty,
                };
                fills.push((slot, fill));
            }
        }
        Plan {
            members: members.len(),
            shape,
            plain,
            fills,
        }
    }

    /// Whether `parts` have this plan's shape: the same keys, in the same order, of the same
    /// kinds (an object's keys too).
    fn fits(&self, parts: &Parts<'_>) -> bool {
        if self.members != parts.members.len() {
            return false;
        }
        let mut shape = self.shape.iter();
        for (k, part) in parts.members {
            let same =
                match (part, shape.next()) {
                    (Part::Str(_), Some(Shaped::Str(s)))
                    | (Part::Json(_) | Part::Value(_), Some(Shaped::Json(s))) => same_key(s, k),
                    (Part::Object(m), Some(Shaped::Object(s, n))) => same_key(s, k)
                        && *n == m.len()
                        && m.iter().all(
                            |(k, _)| matches!(shape.next(), Some(Shaped::Key(s)) if same_key(s, k)),
                        ),
                    _ => false,
                };
            if !same {
                return false;
            }
        }
        shape.next().is_none()
    }
}

/// Whether two keys are the same: the same text in the same place (a `'static` text is
/// never freed, so no other text can take its place: the same address and length are the
/// same bytes), else compared byte by byte in place (keys are short: a call of `memcmp`
/// costs more than the comparison).
#[inline]
fn same_key(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || (a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y))
}

/// The plans of the last two shapes decided, each with the bundle it was made for (a
/// gateway's call and its result have two shapes, and alternate).
#[derive(Default)]
struct Plans {
    kept: [Option<(Weak<InForce>, Plan)>; 2],
    /// The one made last.
    last: usize,
}

impl Plans {
    /// The plan of `parts`' shape for `bundle`: one kept, else one made (in place of the
    /// older of the two).
    fn of(&mut self, bundle: &Arc<InForce>, parts: &Parts<'_>) -> Option<&Plan> {
        // A `Weak` keeps its allocation: no other bundle can be at the same address while a
        // plan for this one is kept.
        let found = self.kept.iter().position(|k| {
            k.as_ref().is_some_and(|(b, plan)| {
                std::ptr::eq(b.as_ptr(), Arc::as_ptr(bundle)) && plan.fits(parts)
            })
        });
        let at = match found {
            Some(at) => at,
            None => {
                let at = 1 - self.last;
                let plan = Plan::of(&bundle.loaded.program, parts);
                if let Some(k) = self.kept.get_mut(at) {
                    *k = Some((Arc::downgrade(bundle), plan));
                }
                self.last = at;
                at
            }
        };
        self.kept.get(at)?.as_ref().map(|(_, plan)| plan)
    }
}

/// Whether no key is given twice among `members`: keys in strictly ascending order (as the
/// gateway gives them) are, by one comparison of each with the next; others are compared
/// pair by pair.
fn once_each<T>(members: &[(&str, T)]) -> bool {
    let ascending = members
        .iter()
        .zip(members.iter().skip(1))
        .all(|((a, _), (b, _))| a < b);
    ascending
        || members
            .iter()
            .enumerate()
            .all(|(i, (k, _))| members.iter().skip(i + 1).all(|(o, _)| o != k))
}

/// Whether `text` can only be read as one JSON value in a member's place: no comma outside
/// strings and brackets, nothing after the value's closing bracket or quote, no bracket
/// closed that it did not open. (Whether it is JSON at all the VM's reader says.)
fn one_value(text: &str) -> bool {
    let mut depth = 0usize;
    let (mut in_string, mut escaped, mut closed) = (false, false, false);
    for &c in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
                closed = depth == 0;
            }
            continue;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ if closed => return false,
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                let Some(d) = depth.checked_sub(1) else {
                    return false;
                };
                depth = d;
                closed = depth == 0;
            }
            b',' | b':' if depth == 0 => return false,
            _ => {}
        }
    }
    !in_string && depth == 0
}

/// Scratch space for [`Point::decide_parts`] (one per thread, reused).
#[derive(Default)]
pub struct PartsScratch {
    pub scratch: Scratch,
    /// The JSON members' text, for the VM's reader.
    json: String,
    /// The event's text, when it is decided from its text.
    text: String,
    /// The plans of the shapes decided last.
    plans: Plans,
}

/// Puts `s` in the event's arena: the value a string read there has.
fn str_val(arena: &mut String, s: &str) -> Option<Val> {
    let start = u32::try_from(arena.len()).ok()?;
    let len = u32::try_from(s.len()).ok()?;
    arena.push_str(s);
    Some(Val::Str { start, len })
}

/// Makes in `s.prepared` the event `parts` is, read for `program` and stamped with `now`, and
/// walks it, as [`crate::stream::Preparer::prepare`] makes and walks the event read from the
/// parts' text with [`crate::stream::Clock::Host`]. `plan` is the plan of the parts' shape for
/// `program`, plain ([`Plan::of`]). False when it cannot be made so (the text is read then).
fn prepare(
    program: &Program,
    plan: &Plan,
    parts: &Parts<'_>,
    now: i64,
    json: &mut String,
    s: &mut Scratch,
) -> bool {
    let p = &mut s.prepared;
    p.now = Some(now);
    p.stateless = false;
    p.starts.clear();
    // The JSON members alone, in their order: the reader puts their values in their slots
    // (and validates them) as it would in the whole text. One member (a call's `args`) is
    // read as that object without its text written.
    let mut jsons = parts.members.iter().filter_map(|(key, part)| match part {
        Part::Json(text) | Part::Value(OneValue(text)) => Some((*key, *text)),
        Part::Str(_) | Part::Object(_) => None,
    });
    let read = match (jsons.next(), jsons.next()) {
        (Some((key, text)), None) => program.read_member_to_stamp(key, text, &mut p.event),
        _ => {
            json.clear();
            json.push('{');
            for (key, part) in parts.members {
                if let Part::Json(text) | Part::Value(OneValue(text)) = part {
                    if json.len() > 1 {
                        json.push(',');
                    }
                    json.push('"');
                    json.push_str(key);
                    json.push_str("\":");
                    json.push_str(text);
                }
            }
            json.push('}');
            program.read_event_to_stamp(json, &mut p.event)
        }
    };
    if read.is_err() {
        return false;
    }
    let ev = &mut p.event;
    let members = parts.members;
    for &(slot, fill) in &plan.fills {
        let Some(place) = ev.vals.get_mut(slot) else {
            return false;
        };
        // A JSON member is one value: nothing it holds reaches another member's slots (when
        // something did, its text is not one value: the whole text is read instead).
        if *place != Val::Absent {
            return false;
        }
        let v = match fill {
            Fill::Str(i) => match members.get(i) {
                Some((_, Part::Str(s))) => str_val(&mut ev.arena, s),
                _ => None,
            },
            Fill::Object => Some(Val::Object),
            Fill::ObjectStr(i, j) => match members.get(i) {
                Some((_, Part::Object(m))) => m.get(j).and_then(|(_, s)| str_val(&mut ev.arena, s)),
                _ => None,
            },
            Fill::Empty => continue,
        };
        let Some(v) = v else {
            return false;
        };
        *place = v;
    }
    program.stamp_to_decide(ev, now);
    s.preparer.walk(program, p);
    true
}

impl Point {
    /// Decides the event `parts` makes, as [`Point::decide`] decides its text
    /// ([`Parts::write`]): the same decision JSON in `out`, the same stream state, metrics and
    /// audit record. The event is made from the parts without reading its text again, unless
    /// an audit log is kept (its record is the event's canonical text) or the parts cannot
    /// be put in slots so (see [`Parts`]): then its text is written and decided.
    pub fn decide_parts(
        &self,
        parts: &Parts<'_>,
        s: &mut PartsScratch,
        out: &mut String,
    ) -> Answer {
        self.decide_parts_as(parts, s, out, false)
    }

    /// [`Point::decide_parts`], but a decision made from the parts that allows without
    /// warnings writes no decision JSON (`out` is left as it was): for a door that needs
    /// only the verdict of such a decision. Any other decision's JSON is written, as is
    /// every decision of the parts' text (an audit log kept, parts that cannot be put in
    /// slots).
    pub fn decide_parts_brief(
        &self,
        parts: &Parts<'_>,
        s: &mut PartsScratch,
        out: &mut String,
    ) -> Answer {
        self.decide_parts_as(parts, s, out, true)
    }

    fn decide_parts_as(
        &self,
        parts: &Parts<'_>,
        s: &mut PartsScratch,
        out: &mut String,
        brief: bool,
    ) -> Answer {
        if self.audited {
            return self.decide_text(parts, s, out);
        }
        let t0 = Instant::now();
        let mut bundle = self.in_force.load();
        let audit_down = self.audit_required && self.audit_down.load(Ordering::Relaxed);
        let now = now_ns();
        // What the shape says (whether its keys let the parts be put in slots, and where)
        // found once per shape; the JSON members checked each time.
        let made = match s.plans.of(&bundle, parts) {
            Some(plan) if plan.plain && parts.one_values() => (!audit_down).then(|| {
                prepare(
                    &bundle.loaded.program,
                    plan,
                    parts,
                    now,
                    &mut s.json,
                    &mut s.scratch,
                )
            }),
            _ => Some(false),
        };
        match made {
            Some(true) => {}
            Some(false) => {
                drop(bundle);
                return self.decide_text(parts, s, out);
            }
            None => {
                let why = self.audit_down_why();
                return self.failed(&bundle, Failure::Audit, &why, out, t0);
            }
        }
        let sc = &mut s.scratch;
        if sc.prepared.stateless {
            // No state, no log: decided here, in parallel with anything else.
            sc.preparer
                .decide_stateless(&bundle.loaded.program, &sc.prepared, &mut sc.outcome);
            return self.answer_parts(&bundle, sc, out, t0, brief);
        }
        let Some(mut serial) = lock(&self.serial) else {
            return self.failed(
                &bundle,
                Failure::Internal,
                "the stream state is unusable",
                out,
                t0,
            );
        };
        if serial.generation != bundle.generation {
            // A reload came in between: decide with the bundle in force now, which the stream
            // belongs to, at the same time.
            bundle = self.in_force.load();
            let made = match s.plans.of(&bundle, parts) {
                Some(plan) if plan.plain => {
                    prepare(&bundle.loaded.program, plan, parts, now, &mut s.json, sc)
                }
                _ => false,
            };
            if !made {
                drop(serial);
                return self.decide_text(parts, s, out);
            }
        }
        let program = &bundle.loaded.program;
        serial
            .stream
            .decide_in_place(&mut sc.preparer, program, &sc.prepared, &mut sc.outcome);
        if !sc.prepared.stateless {
            self.metrics.state_keys(serial.stream.state().keys());
        }
        // No audit log is kept (above): nothing to record.
        drop(serial);
        self.answer_parts(&bundle, sc, out, t0, brief)
    }

    /// [`Point::answer`] of a decision made from parts (no audit record): its JSON not
    /// written when `brief` and it allows without warnings.
    fn answer_parts(
        &self,
        bundle: &InForce,
        s: &Scratch,
        out: &mut String,
        t0: Instant,
        brief: bool,
    ) -> Answer {
        let program = &bundle.loaded.program;
        let verdict = s.outcome.verdict.unwrap_or(program.model.default);
        if brief && verdict == Verdict::Allow && program.warnings(&s.outcome).is_empty() {
            self.metrics
                .decided(&bundle.counters, program, &s.outcome, verdict, t0.elapsed());
            return Answer {
                status: super::Status::Decided,
                verdict,
                seq: None,
            };
        }
        self.answer(bundle, s, None, out, t0)
    }

    /// Decides the parts' text.
    fn decide_text(&self, parts: &Parts<'_>, s: &mut PartsScratch, out: &mut String) -> Answer {
        parts.write(&mut s.text);
        self.decide(&s.text, &mut s.scratch, out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::{Just, Strategy, prop, prop_oneof};

    use super::*;
    use crate::point::{Options, Recorder, Source};
    use crate::vm::Event;

    /// A policy that reads every member of a gateway's events, at and below them, with state.
    const POLICY: &str = r#"default deny

policy p {
  rule small: allow when tool == "t" and args.n <= 5
  rule no_x: deny when args.s contains "x" because "no x"
  rule ops: warn when agent.id == "ops" because "ops is watched"
  rule ok: allow when action == "tool_result" and content contains "ok" and session == "s"
  rule listed: deny when args.list contains "a" because "a listed"
  rule deep: escalate when args.o.x == "y" because "deep y"
  rule flag: allow when args.flag == true and has ts and time.hour >= 0 and tool != "u"
  rule many: deny when count(tool == "t", within 1m, per agent.id) >= 4 because "too many"
}
"#;

    fn point(dir: &std::path::Path) -> Point {
        static BUILT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let bytes = BUILT.get_or_init(|| {
            crate::pipeline::build_sources(vec![crate::diag::SourceFile::new("p.gov", POLICY)])
                .unwrap()
                .bytes
        });
        open(dir, bytes)
    }

    /// A point deciding with the bundle `bytes`, written in `dir`.
    fn open(dir: &std::path::Path, bytes: &[u8]) -> Point {
        std::fs::create_dir_all(dir).unwrap();
        let bundle = dir.join("p.govb");
        std::fs::write(&bundle, bytes).unwrap();
        Point::open(Options {
            source: Source {
                bundle,
                signature: None,
                trust: None,
                state: None,
            },
            max_keys: 1000,
            audit: Recorder::none(),
            audit_required: false,
            log: Arc::new(crate::point::log::Log::discard()),
        })
        .unwrap_or_else(|_| panic!("the bundle opens"))
    }

    /// The parts of a call by the agent `agent` (`[("id", …)]`): `tool`, `args` as given,
    /// `session` "s".
    fn call_parts<'a>(
        agent: &'a [(&'static str, &'a str)],
        tool: &'a str,
        args: &'a str,
    ) -> [(&'static str, Part<'a>); 5] {
        [
            ("action", Part::Str("tool_call")),
            ("agent", Part::Object(agent)),
            ("args", Part::Json(args)),
            ("session", Part::Str("s")),
            ("tool", Part::Str(tool)),
        ]
    }

    /// Arguments with every member the policy reads (none unknown).
    const ARGS: &str = r#"{"n":1,"s":"","list":[],"o":{"x":""},"flag":false}"#;
    const ARGS_X: &str = r#"{"n":1,"s":"x","list":[],"o":{"x":""},"flag":false}"#;

    #[test]
    fn a_brief_allow_writes_no_text() {
        let dir = std::env::temp_dir().join(format!("govern-parts-brief-{}", std::process::id()));
        let p = point(&dir);
        let mut s = PartsScratch::default();
        let a1 = [("id", "a1")];
        let allowed = call_parts(&a1, "t", ARGS);
        let mut out = String::new();
        let a = p.decide_parts_brief(&Parts { members: &allowed }, &mut s, &mut out);
        assert_eq!(
            (a.status, a.verdict),
            (crate::point::Status::Decided, Verdict::Allow)
        );
        assert_eq!(out, "");
        // A denial, and an allow with a warning, are written in full.
        out.clear();
        let denied = call_parts(&a1, "t", ARGS_X);
        let d = p.decide_parts_brief(&Parts { members: &denied }, &mut s, &mut out);
        assert_eq!(d.verdict, Verdict::Deny);
        assert!(out.contains("no x"), "{out}");
        let ops = [("id", "ops")];
        let warned = call_parts(&ops, "t", ARGS);
        out.clear();
        let w = p.decide_parts_brief(&Parts { members: &warned }, &mut s, &mut out);
        assert_eq!(w.verdict, Verdict::Allow);
        assert!(out.contains("ops is watched"), "{out}");
    }

    /// A plan is kept per shape and per bundle: after a reload to a bundle whose program
    /// reads other slots, the same shape is decided by a plan made for the new one.
    #[test]
    fn plans_are_made_again_for_a_new_bundle() {
        let dir = std::env::temp_dir().join(format!("govern-parts-reload-{}", std::process::id()));
        let p = point(&dir);
        let mut s = PartsScratch::default();
        let mut out = String::new();
        let a1 = [("id", "a1")];
        let call = call_parts(&a1, "t", ARGS);
        // Not counted by the policy's `count` (of `tool == "t"`).
        let result = [
            ("action", Part::Str("tool_result")),
            ("agent", Part::Object(&a1)),
            ("args", Part::Json(ARGS)),
            ("content", Part::Str("ok")),
            ("session", Part::Str("s")),
            ("tool", Part::Str("u")),
        ];
        for _ in 0..2 {
            for parts in [&call[..], &result[..]] {
                out.clear();
                let a = p.decide_parts(&Parts { members: parts }, &mut s, &mut out);
                assert_eq!(a.verdict, Verdict::Allow, "{out}");
            }
        }
        // Another policy: the tool read first, `session` decides.
        let other = r#"default deny

policy q {
  rule by_session: deny when session == "s" because "session s"
  rule named: allow when tool == "t"
}
"#;
        let bytes =
            crate::pipeline::build_sources(vec![crate::diag::SourceFile::new("q.gov", other)])
                .unwrap()
                .bytes;
        std::fs::write(dir.join("p.govb"), bytes).unwrap();
        assert!(matches!(
            p.reload(),
            Ok(crate::point::Reloaded::Changed { .. })
        ));
        for parts in [&call[..], &result[..]] {
            out.clear();
            let a = p.decide_parts(&Parts { members: parts }, &mut s, &mut out);
            assert_eq!(a.verdict, Verdict::Deny, "{out}");
            assert!(out.contains("session s"), "{out}");
        }
    }

    /// A program that reads `ts` (the language reads it only by `has ts`, in a rule or in a
    /// tracker's condition: it is neither compared nor a key) is told so at load, and a
    /// decision point's event has the host time in `ts` when it decides, from the text and
    /// from the parts alike, whatever the event's own `ts` was (absent included); one that
    /// does not read it is told so.
    #[test]
    fn a_program_reading_ts_is_given_the_host_time() {
        let build = |rules: &str| {
            let src = format!("default allow\n\npolicy p {{\n  {rules}\n}}\n");
            crate::pipeline::build_sources(vec![crate::diag::SourceFile::new(
                "p.gov",
                src.as_str(),
            )])
            .unwrap_or_else(|d| {
                panic!(
                    "{src}: {}",
                    d.iter().map(|d| d.short()).collect::<Vec<_>>().join("\n")
                )
            })
        };
        let decided = [
            r#"rule a: deny when tool == "t" and has ts because "stamped""#,
            r#"rule a: deny when count(tool == "t" and has ts, within 1h) >= 1 because "stamped""#,
        ];
        let texts = [
            r#"{"tool":"t","ts":"1999-01-01T00:00:00Z"}"#,
            r#"{"tool":"t"}"#,
            r#"{"tool":"t","ts":5}"#,
            r#"{"ts":"1999-01-01T00:00:00Z","tool":"t"}"#,
        ];
        for (i, rules) in decided.iter().enumerate() {
            let built = build(rules);
            assert!(built.program.reads_ts(), "{rules}");
            let dir =
                std::env::temp_dir().join(format!("govern-parts-ts-{}-{i}", std::process::id()));
            let p = open(&dir, &built.bytes);
            let (mut s, mut ps) = (Scratch::default(), PartsScratch::default());
            for text in texts {
                let mut out = String::new();
                let a = p.decide(text, &mut s, &mut out);
                assert_eq!(a.verdict, Verdict::Deny, "{rules} {text}: {out}");
                assert!(out.contains("stamped"), "{rules} {text}: {out}");
            }
            for own in [None, Some("1999-01-01T00:00:00Z")] {
                let mut members = vec![("tool", Part::Str("t"))];
                members.extend(own.map(|t| ("ts", Part::Str(t))));
                let mut out = String::new();
                let a = p.decide_parts(&Parts { members: &members }, &mut ps, &mut out);
                assert_eq!(a.verdict, Verdict::Deny, "{rules} {own:?}: {out}");
                assert!(out.contains("stamped"), "{rules} {own:?}: {out}");
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        for rules in [
            r#"rule a: deny when tool == "t" and time.hour >= 0"#,
            r#"rule a: deny when count(tool == "t", within 1h, per agent.id) >= 2"#,
        ] {
            assert!(!build(rules).program.reads_ts(), "{rules}");
        }
    }

    #[test]
    fn keys_given_twice_are_found_in_any_order() {
        let m = |keys: &[&'static str]| -> Vec<(&'static str, ())> {
            keys.iter().map(|k| (*k, ())).collect()
        };
        assert!(once_each(&m(&[])));
        assert!(once_each(&m(&["a"])));
        assert!(once_each(&m(&["action", "agent", "args", "tool"])));
        assert!(once_each(&m(&["tool", "args", "agent"])));
        assert!(!once_each(&m(&["args", "args"])));
        assert!(!once_each(&m(&["args", "tool", "args"])));
        assert!(!once_each(&m(&["a", "b", "c", "b"])));
        assert!(!once_each(&m(&["b", "a", "b"])));
    }

    /// An event's slots as their values (strings and lists resolved), and its time.
    fn slots(ev: &Event, n: usize) -> Vec<String> {
        let mut out = crate::vm::event::shown_slots(ev, n);
        out.push(format!("{:?}", ev.ts));
        out
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("a"),
                Just("x"),
                Just("ok"),
                Just("\""),
                Just("\\"),
                Just("\n"),
                Just("\u{1}"),
                Just("\u{e9}"),
                Just("\u{1f600}"),
                Just(" "),
            ],
            0..5,
        )
        .prop_map(|v| v.concat())
    }

    /// JSON text for a member: values of every kind, keys the policy reads given twice,
    /// spacing, and (rarely) text that is not one value.
    fn json() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("1".to_string()),
            Just("7.5".to_string()),
            Just("-0".to_string()),
            Just("1e400".to_string()),
            Just("true".to_string()),
            Just("null".to_string()),
            Just("\"y\"".to_string()),
            text().prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just("\"\\u0078\"".to_string()),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("n"),
                            Just("s"),
                            Just("list"),
                            Just("o"),
                            Just("x"),
                            Just("flag"),
                            Just("tool"),
                            Just("agent"),
                        ],
                        inner
                    ),
                    0..5
                )
                .prop_map(|v| {
                    let m: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\" : {x}")).collect();
                    format!("{{ {} }}", m.join(","))
                }),
            ]
        });
        prop_oneof![
            8 => value,
            1 => Just(r#"{"n":1},"tool":"t""#.to_string()),
            1 => Just(r#"{"n":1},"agent":"z""#.to_string()),
            1 => Just(r#"{"n":1}}"#.to_string()),
            1 => Just(r#"{"n":1"#.to_string()),
            1 => Just(r#"{"s":"a,b:c}"}"#.to_string()),
        ]
    }

    #[derive(Clone, Debug)]
    struct Ev {
        action: String,
        agent: Option<String>,
        args: Option<String>,
        content: Option<String>,
        session: String,
        tool: String,
        /// `agent` given twice in its object, or a member twice in the event.
        twice: u8,
    }

    fn event() -> impl Strategy<Value = Ev> {
        (
            prop_oneof![
                Just("tool_call".to_string()),
                Just("tool_result".to_string())
            ],
            prop::option::of(prop_oneof![Just("ops".to_string()), text()]),
            prop::option::of(json()),
            prop::option::of(text()),
            prop_oneof![Just("s".to_string()), text()],
            prop_oneof![Just("t".to_string()), Just("u".to_string()), text()],
            0u8..8,
        )
            .prop_map(|(action, agent, args, content, session, tool, twice)| Ev {
                action,
                agent,
                args,
                content,
                session,
                tool,
                twice,
            })
    }

    /// Decides `ev` through `f` with its parts, as the gateway gives them.
    fn with_parts<R>(ev: &Ev, f: impl FnOnce(&Parts<'_>) -> R) -> R {
        let agent = ev.agent.as_deref().unwrap_or_default();
        let id = [("id", agent), ("id", "other")];
        let id = if ev.twice == 1 { &id[..] } else { &id[..1] };
        let mut members: Vec<(&str, Part<'_>)> = vec![("action", Part::Str(&ev.action))];
        if ev.agent.is_some() {
            members.push(("agent", Part::Object(id)));
        }
        if let Some(a) = &ev.args {
            // As a value its reader read as one (the gateway's scanned arguments), or as text
            // checked when it is put in slots.
            let part = match OneValue::check(a) {
                Some(v) if ev.twice >= 5 => Part::Value(v),
                _ => Part::Json(a),
            };
            members.push(("args", part));
        }
        if let Some(c) = &ev.content {
            members.push(("content", Part::Str(c)));
        }
        members.push(("session", Part::Str(&ev.session)));
        members.push(("tool", Part::Str(&ev.tool)));
        if ev.twice == 2 {
            members.push(("tool", Part::Str("t")));
        }
        f(&Parts { members: &members })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            failure_persistence: None,
            .. proptest::prelude::ProptestConfig::default()
        })]

        /// The event made from the parts is, slot for slot, the one read from their text at
        /// the same time, walked alike; or, when it cannot be made so, none is made.
        #[test]
        fn parts_make_the_event_of_their_text(ev in event()) {
            static POINT: std::sync::OnceLock<Point> = std::sync::OnceLock::new();
            let p = POINT.get_or_init(|| {
                point(&std::env::temp_dir().join(format!("govern-parts-ev-{}", std::process::id())))
            });
            let bundle = p.in_force();
            let program = &bundle.loaded.program;
            let n = program.model.slots.len();
            with_parts(&ev, |parts| {
                let mut text = String::new();
                parts.write(&mut text);
                let now = 1_767_000_000_123_456_789;
                let mut read = Scratch::default();
                let by_text = read.preparer.prepare(
                    program, &text, crate::stream::Clock::Host, Some(now), false, &mut read.prepared,
                );
                let mut made = Scratch::default();
                let mut json = String::new();
                let plan = Plan::of(program, parts);
                assert_eq!(plan.plain, plain_shape(parts.members));
                assert!(plan.fits(parts));
                let by_parts = parts.plain() && prepare(program, &plan, parts, now, &mut json, &mut made);
                if by_parts {
                    assert!(by_text.is_ok(), "{text}");
                    assert_eq!(slots(&made.prepared.event, n), slots(&read.prepared.event, n), "{text}");
                    assert_eq!(made.prepared.starts, read.prepared.starts, "{text}");
                    assert_eq!(made.prepared.stateless, read.prepared.stateless);
                    assert_eq!(made.prepared.now, read.prepared.now);
                }
                // Parts that may be made so are made so: a member twice, or text that is
                // not one value, are left to the text.
                if ev.twice > 2 && ev.args.as_deref().is_none_or(one_value) && by_text.is_ok() {
                    assert!(by_parts, "{text}");
                }
            });
        }

    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 400,
            failure_persistence: None,
            .. proptest::prelude::ProptestConfig::default()
        })]

        /// Two points on the same bundle, one given each event's text and the other its
        /// parts, decide a run of events alike: the same decision JSON and answer, the same
        /// stream state (the `count` rule), the same figures.
        #[test]
        fn parts_decide_as_their_text(evs in prop::collection::vec(event(), 1..8)) {
            let dir = std::env::temp_dir().join(format!("govern-parts-{}", std::process::id()));
            let (a, b) = (point(&dir.join("a")), point(&dir.join("b")));
            let c = point(&dir.join("c"));
            let (mut sa, mut sb) = (Scratch::default(), PartsScratch::default());
            let mut sc = PartsScratch::default();
            for ev in &evs {
                with_parts(ev, |parts| {
                    let mut text = String::new();
                    parts.write(&mut text);
                    let (mut oa, mut ob, mut oc) = (String::new(), String::new(), String::new());
                    let x = a.decide(&text, &mut sa, &mut oa);
                    let y = b.decide_parts(parts, &mut sb, &mut ob);
                    assert_eq!(oa, ob, "{text}");
                    assert_eq!(x, y, "{text}");
                    // Briefly: no text only for an allow without warnings, else the same.
                    let z = c.decide_parts_brief(parts, &mut sc, &mut oc);
                    assert_eq!(x, z, "{text}");
                    if oc.is_empty() {
                        assert_eq!(x.status, crate::point::Status::Decided);
                        assert_eq!(x.verdict, Verdict::Allow);
                        assert!(oa.contains(r#""warnings":[]"#), "{oa}");
                    } else {
                        assert_eq!(oa, oc, "{text}");
                    }
                });
            }
            let state = |p: &Point| lock(&p.serial).unwrap().stream.state().keys();
            assert_eq!(state(&a), state(&b));
            assert_eq!(state(&a), state(&c));
            let figures = |p: &Point| {
                p.metrics
                    .text()
                    .lines()
                    .filter(|l| !l.contains("seconds"))
                    .map(str::to_string)
                    .collect::<std::collections::BTreeSet<_>>()
            };
            assert_eq!(figures(&a), figures(&b));
            assert_eq!(figures(&a), figures(&c));
        }
    }

    #[test]
    fn one_value_is_one_value() {
        for t in [
            r#"{"a":[1,{"b":"}"}]}"#,
            "1",
            " \"a,b\" ",
            "[]",
            "null",
            r#""\"""#,
        ] {
            assert!(one_value(t), "{t}");
        }
        for t in [
            r#"{"a":1},"b":2"#,
            r#"1,"b":2"#,
            r#""a","b":2"#,
            "1}",
            "]",
            r#"{"a":1} {"#,
            r#""\""#,
        ] {
            assert!(!one_value(t), "{t}");
        }
    }
}
