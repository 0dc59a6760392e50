//! Deciding an ordered stream of events with state: the one place that knows how events are
//! read, stamped, pre-walked in parallel and decided in order.
//!
//! Every command that decides a stream is a door onto this module: `simulate` and `eval` run
//! traces through [`engine::run`]; a live decision point ([`crate::point`], behind `serve`)
//! prepares each request's event with [`Prepared`] on whatever thread received it and decides
//! it in the stream's order with [`Stream`]. The rules they share:
//!
//! - **Order.** Stream state (windows of `count`, `sum`, `seen`, and stream time) changes only
//!   in the order events are decided, on one thread at a time; everything before that (parsing,
//!   stamping, the part of the decision diagram that reads no state, see
//!   [`Program::prewalk`]) may run anywhere, ahead and in parallel. So decisions never depend on
//!   the number of threads.
//! - **Time** ([`Clock`]). Traces are decided at the time their events say (within the skew of
//!   stream time); a live point decides each event at the host's time, writes that time into
//!   the event (its `ts`), and decides with it believed: the event *as decided* is what an
//!   audit log keeps, and deciding it again with [`Clock::Trusted`] gives the same decision.
//! - **Stateless decisions** (every walk ends at a leaf that neither reads nor records state)
//!   need nothing from the stream but their place in it: [`Stream::pass`] moves stream time
//!   as deciding them in order would have, so a point can decide them in parallel and a replay
//!   of its log, deciding every event in order, still sees the same state.

pub mod engine;

use crate::audit::DecidedEvent;
use crate::bytecode::model::Target;
use crate::vm::{Event, EventError, Outcome, Paths, Program, State, StreamLimits};

/// Where the time of a stream's events comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// Each event's own `ts`, believed when it lies within the skew of stream time (recorded
    /// traces, whose clocks the reader does not vouch for).
    #[default]
    Event,
    /// This host's clock: each event is stamped with the time it is read (any `ts` it
    /// carried is replaced) and decided at that time. What a live decision point does.
    Host,
    /// Each event's own `ts`, always believed: events whose time was vouched for when they
    /// were decided (an audit log's events as decided, policy suites).
    Trusted,
}

impl Clock {
    /// The state limits for this clock with `max_keys` keys per tracker.
    pub fn limits(self, max_keys: usize) -> StreamLimits {
        StreamLimits {
            max_keys,
            max_skew: match self {
                Clock::Event => Some(StreamLimits::MAX_SKEW),
                Clock::Host | Clock::Trusted => None,
            },
        }
    }
}

/// This host's clock: nanoseconds since the Unix epoch (0 for a clock set before it).
pub fn now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// The event in `text` as decided, into `out` (its buffers reused): the canonical (RFC 8785)
/// text of the JSON object, with its `ts` set to `now` when given (the host time of a live
/// point; any `ts` it carried is replaced). What an audit log records, and what the VM reads
/// when one is kept: one canonicalizer for every door ([`DecidedEvent`]).
pub fn as_decided(text: &str, now: Option<i64>, out: &mut DecidedEvent) -> Result<(), EventError> {
    out.set(text, now).map_err(|message| EventError {
        offset: 0,
        message,
        eof: false,
    })
}

/// Why [`read_decided`] could not read an event, by the step that refused it.
#[derive(Debug)]
pub enum DecidedError {
    /// The VM's reading of the text as given: `describe` it with that text.
    Event(EventError),
    /// The text has no canonical form ([`as_decided`]): the message says why.
    NotCanonical(EventError),
    /// The VM's reading of the canonical text: `describe` it with that text.
    Decided(EventError),
}

impl DecidedError {
    /// The error, whichever step it came from.
    pub fn into_inner(self) -> EventError {
        match self {
            DecidedError::Event(e) | DecidedError::NotCanonical(e) | DecidedError::Decided(e) => e,
        }
    }
}

/// Reads the event in `text` as decided: its canonical text (stamped with `now` when given)
/// into `decided`, and the VM's reading of that very text into `ev`. One canonical pass and
/// one reading when the text is an event; otherwise the reading of the text as given comes
/// first, so that the error names the column and the field where the input went wrong. Both
/// the VM's reader and the canonical writer refuse exactly the texts that are not JSON or nest
/// deeper than 128 levels (the canonical writer also numbers beyond the doubles, which the
/// reader refuses where it keeps them), so the fast path accepts exactly what reading the
/// text first would have accepted (`tests` below check it at the limits).
pub fn read_decided(
    paths: &Paths,
    text: &str,
    now: Option<i64>,
    decided: &mut DecidedEvent,
    ev: &mut Event,
) -> Result<(), DecidedError> {
    if as_decided(text, now, decided).is_ok() && paths.read(decided.as_str(), ev).is_ok() {
        return Ok(());
    }
    paths.read(text, ev).map_err(DecidedError::Event)?;
    as_decided(text, now, decided).map_err(DecidedError::NotCanonical)?;
    paths
        .read(decided.as_str(), ev)
        .map_err(DecidedError::Decided)
}

/// One event read, stamped and walked as far as it goes without stream state: ready to take
/// its place in the stream. Reused from event to event (no allocation once grown).
#[derive(Default)]
pub struct Prepared {
    /// The event read; stamped with [`Clock::Host`], its `ts` slot holds the host time's
    /// text only when the program reads that slot ([`Program::stamp_to_decide`]).
    pub event: Event,
    /// Where the walks stopped ([`Program::prewalk`]).
    pub starts: Vec<Target>,
    /// The event as decided ([`as_decided`]), when asked for.
    pub decided: DecidedEvent,
    /// The host time the event was stamped with ([`Clock::Host`]).
    pub now: Option<i64>,
    /// Whether the decision needs no stream state ([`Program::is_stateless`]).
    pub stateless: bool,
}

/// What a thread needs to prepare events: scratch state for pre-walks and stateless
/// decisions (one per thread; it holds nothing between events).
#[derive(Default)]
pub struct Preparer {
    /// Scratch state, and the [`Program::id`] of the program it is for.
    scratch: Option<(u64, State)>,
}

impl Preparer {
    /// Reads `text` into `p` for `program`: with [`Clock::Host`] stamped with `now` (taken
    /// from the host clock when `None`); with `keep_decided` also keeping the text as
    /// decided, which is then what the VM reads. Then pre-walks it. An error leaves nothing
    /// to decide: the caller fails closed.
    pub fn prepare(
        &mut self,
        program: &Program,
        text: &str,
        clock: Clock,
        now: Option<i64>,
        keep_decided: bool,
        p: &mut Prepared,
    ) -> Result<(), EventError> {
        p.now = match clock {
            Clock::Host => Some(now.unwrap_or_else(now_ns)),
            Clock::Event | Clock::Trusted => None,
        };
        p.stateless = false;
        p.starts.clear();
        if keep_decided {
            // The VM reads the canonical text, the one the audit log keeps.
            read_decided(program.paths(), text, p.now, &mut p.decided, &mut p.event)
                .map_err(DecidedError::into_inner)?;
        } else if p.now.is_some() {
            // Its `ts` is replaced by the stamp below: not parsed.
            program.read_event_to_stamp(text, &mut p.event)?;
        } else {
            program.read_event(text, &mut p.event)?;
        }
        if let Some(now) = p.now {
            // Only decided: the `ts` slot gets the stamp's text when the program reads it.
            program.stamp_to_decide(&mut p.event, now);
        }
        self.walk(program, p);
        Ok(())
    }

    /// Pre-walks the event already in `p` (read, and stamped when its clock says so): what
    /// [`Preparer::prepare`] does after reading. For callers that make an event by changing
    /// one read before rather than by reading text.
    pub fn walk(&mut self, program: &Program, p: &mut Prepared) {
        p.starts.clear();
        let scratch = self.scratch(program);
        program.prewalk(&p.event, scratch, &mut p.starts);
        p.stateless = program.is_stateless(&p.starts);
    }

    /// Decides a stateless event on its own (any thread): the decision [`Stream::decide`]
    /// would take, without the stream. The event must still [`Stream::pass`] through the
    /// stream in its place when an order is kept (an audit log).
    pub fn decide_stateless(&mut self, program: &Program, p: &Prepared, out: &mut Outcome) {
        let scratch = self.scratch(program);
        program.eval_from(&p.event, &p.starts, scratch, out);
    }

    /// Scratch state of `program` (every `ts` believed: it decides nothing about time).
    fn scratch(&mut self, program: &Program) -> &mut State {
        if self
            .scratch
            .as_ref()
            .is_some_and(|(id, _)| *id != program.id())
        {
            self.scratch = None;
        }
        let (_, st) = self.scratch.get_or_insert_with(|| {
            (
                program.id(),
                program.new_state_with(StreamLimits::trusted_time()),
            )
        });
        st
    }
}

/// One stream's state, decided in order.
pub struct Stream {
    state: State,
}

impl Stream {
    /// A fresh stream for `program`.
    pub fn new(program: &Program, clock: Clock, max_keys: usize) -> Stream {
        Stream {
            state: program.new_state_with(clock.limits(max_keys)),
        }
    }

    /// A stream that continues with `state` (restored from an audit log).
    pub fn restored(state: State) -> Stream {
        Stream { state }
    }

    /// Makes this the fresh stream it was made as, keeping the memory it has grown.
    pub fn reset(&mut self) {
        self.state.reset();
    }

    /// Decides a prepared event in its place.
    pub fn decide(&mut self, program: &Program, p: &Prepared, out: &mut Outcome) {
        program.eval_from(&p.event, &p.starts, &mut self.state, out);
    }

    /// Decides a prepared event as [`Stream::decide`] does, without recording it in the
    /// trackers ([`Program::eval_unrecorded`]): for an event decided alone on a fresh stream
    /// that is [`Stream::reset`] after it, whose reset then has no keys to clear.
    pub fn decide_unrecorded(&mut self, program: &Program, p: &Prepared, out: &mut Outcome) {
        program.eval_unrecorded(&p.event, &p.starts, &mut self.state, out);
    }

    /// Decides a prepared event in its place: a stateless one on `preparer`'s scratch state
    /// ([`Preparer::decide_stateless`], no stream keys looked up) while stream time passes as
    /// deciding it here would have moved it, any other on the stream's own state.
    pub fn decide_in_place(
        &mut self,
        preparer: &mut Preparer,
        program: &Program,
        p: &Prepared,
        out: &mut Outcome,
    ) {
        if p.stateless {
            self.pass(p);
            preparer.decide_stateless(program, p, out);
        } else {
            self.decide(program, p, out);
        }
    }

    /// Takes a stateless event decided elsewhere ([`Preparer::decide_stateless`]) in its
    /// place: stream time moves as deciding it here would have moved it.
    pub fn pass(&mut self, p: &Prepared) {
        self.state.pass(p.event.ts);
    }

    /// The state, for figures (keys held, records refused).
    pub fn state(&self) -> &State {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading the text first, then its canonical form: what [`read_decided`] must agree
    /// with, error for error.
    fn slow(
        p: &Program,
        text: &str,
        now: Option<i64>,
        d: &mut DecidedEvent,
        ev: &mut Event,
    ) -> Result<(), String> {
        p.read_event(text, ev).map_err(|e| e.describe(text))?;
        as_decided(text, now, d).map_err(|e| e.message)?;
        p.read_event(d.as_str(), ev)
            .map_err(|e| e.describe(d.as_str()))
    }

    fn nested(open: &str, close: &str, inner: &str, n: usize) -> String {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    }

    /// The fast path (canonical text first) accepts and refuses exactly what reading the
    /// text as given first does, with the same reading: at the nesting limit (in attributes
    /// the bundle reads and in ones it skips, in members a later duplicate or the host time
    /// replaces), with numbers beyond the doubles, bad escapes and surrogates.
    #[test]
    fn the_canonical_text_first_refuses_what_the_text_first_does() {
        let p = crate::pipeline::build_sources(vec![crate::diag::SourceFile::new(
            "t.gov",
            "tool t(path: string, n: number)\ndefault deny\npolicy p {\n  rule a: allow when tool == \"t\" and \"x\" in agent.roles and args.n > 1 and agent.trust == 2\n}\n",
        )])
        .map_err(|d| d.iter().map(|d| d.short()).collect::<Vec<_>>().join("\n"))
        .unwrap()
        .program;
        let mut texts = vec![
            r#"{"tool":"t","args":{"n":2,"path":"a"},"agent":{"roles":["x"],"trust":2}}"#
                .to_string(),
            r#"{"tool":"t","args":{"n":1e400}}"#.into(),
            r#"{"tool":"t","other":1e400}"#.into(),
            r#"{"tool":"t","args":{"n":2,"n":1e400}}"#.into(),
            r#"{"tool":"t","other":1e400,"other":1}"#.into(),
            r#"{"tool":"t","x":"\ud800"}"#.into(),
            r#"{"tool":"t","x":"\q"}"#.into(),
            r#"{"tool":"t","ts":"\ud800","ts":"2026-01-01T00:00:00Z"}"#.into(),
            r#"{"tool":"t","ts":1e400}"#.into(),
            r#"{"tool":"t","ts":"x"}"#.into(),
            "{\"tool\":\"t\",\"x\":\"a\u{1}\"}".into(),
            r#"{"b":1,"a":2,"b":3}"#.into(),
            "[1]".into(),
            "{".into(),
            "{\"tool\":\"t\"} x".into(),
        ];
        for n in 124..=130 {
            for (open, close, inner) in [("[", "]", "1"), ("[", "]", "{}"), ("[", "]", "{\"k\":1}")]
            {
                let deep = nested(open, close, inner, n);
                for member in ["other", "ts", "args", "agent"] {
                    texts.push(format!(r#"{{"tool":"t","{member}":{deep}}}"#));
                    texts.push(format!(r#"{{"tool":"t","{member}":{deep},"{member}":1}}"#));
                }
                texts.push(format!(r#"{{"tool":"t","args":{{"n":{deep}}}}}"#));
                texts.push(format!(r#"{{"tool":"t","args":{{"n":{deep},"n":2}}}}"#));
                texts.push(format!(r#"{{"tool":"t","agent":{{"roles":{deep}}}}}"#));
                texts.push(format!(
                    r#"{{"tool":"t","agent":{{"roles":{deep},"roles":["x"]}}}}"#
                ));
            }
            let objects = format!("{}1{}", "{\"k\":".repeat(n), "}".repeat(n));
            texts.push(objects.clone());
            texts.push(format!(r#"{{"tool":"t","agent":{objects}}}"#));
            texts.push(format!(r#"{{"tool":"t","agent":{objects},"agent":{{}}}}"#));
            texts.push(format!(r#"{{"tool":"t","other":{objects},"other":1}}"#));
        }
        let (mut d1, mut d2) = (DecidedEvent::default(), DecidedEvent::default());
        let (mut e1, mut e2) = (Event::default(), Event::default());
        let mut refused = 0;
        for text in &texts {
            for now in [None, Some(1_700_000_000_123_456_789)] {
                let fast = read_decided(p.paths(), text, now, &mut d1, &mut e1);
                let slow = slow(&p, text, now, &mut d2, &mut e2);
                assert_eq!(fast.is_ok(), slow.is_ok(), "{text}: {fast:?} {slow:?}");
                match (fast, slow) {
                    (Ok(()), Ok(())) => {
                        assert_eq!(d1.as_str(), d2.as_str());
                        assert_eq!(e1.vals, e2.vals, "{text}");
                    }
                    (Err(f), Err(s)) => {
                        refused += 1;
                        let f = match f {
                            DecidedError::Event(e) => e.describe(text),
                            DecidedError::NotCanonical(e) => e.message,
                            DecidedError::Decided(e) => e.describe(d1.as_str()),
                        };
                        assert_eq!(f, s, "{text}");
                    }
                    _ => unreachable!(),
                }
            }
        }
        // Both sides of the limits were tried.
        assert!(refused > 20 && refused < 2 * texts.len() - 20, "{refused}");
    }
}
