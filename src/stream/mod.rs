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
use crate::vm::{Event, EventError, Outcome, Program, State, StreamLimits};

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

/// One event read, stamped and walked as far as it goes without stream state: ready to take
/// its place in the stream. Reused from event to event (no allocation once grown).
#[derive(Default)]
pub struct Prepared {
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
    /// Scratch state, and the digest of the bundle it is for.
    scratch: Option<(String, State)>,
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
        // The VM's reading comes first: its messages name the column and the field.
        program.read_event(text, &mut p.event)?;
        if keep_decided {
            as_decided(text, p.now, &mut p.decided)?;
            program.read_event(p.decided.as_str(), &mut p.event)?;
        }
        if let Some(now) = p.now {
            program.stamp(&mut p.event, now);
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
            .is_some_and(|(digest, _)| *digest != program.digest)
        {
            self.scratch = None;
        }
        let (_, st) = self.scratch.get_or_insert_with(|| {
            (
                program.digest.clone(),
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

    /// Makes this the fresh stream it was made as, keeping the memory it has grown.
    pub fn reset(&mut self) {
        self.state.reset();
    }

    /// Decides a prepared event in its place.
    pub fn decide(&mut self, program: &Program, p: &Prepared, out: &mut Outcome) {
        program.eval_from(&p.event, &p.starts, &mut self.state, out);
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
