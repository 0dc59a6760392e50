//! Stream state: stream time, and one tracker per distinct `count` / `sum` / `seen`, keyed by
//! its `per` values.
//!
//! **Time.** Stream time is monotonic: an event happens at `max(its ts, stream time)` when its
//! `ts` is believed. A `ts` is believed when it lies within [`StreamLimits::max_skew`] of
//! stream time, or when it jumps further ahead and the next event confirms the jump (its own
//! `ts` within the skew of the claimed time); otherwise the event is decided with `ts` unknown
//! and happens at stream time, which it does not move. Time a caller supplies
//! ([`crate::vm::Program::eval_at`], a host clock) is always believed. So windows only ever
//! slide forward, entries older than a window can be dropped for good, and one event cannot
//! move the time of everyone's windows.
//!
//! **Ranges.** An event whose condition is unknown is recorded as one that *may* count; for
//! `sum`, one whose value is not a number makes the sum unbounded while it is in the window.
//! A tracker's value is then a range ([`TrackerValue`]). Sums are exact ([`Exact`]), so a
//! window adds values as they enter and subtracts them as they leave.
//!
//! **Keys.** Each tracker holds at most [`StreamLimits::max_keys`] keys with an event in their
//! window, ordered by their latest record, so the expired ones are dropped from the front in
//! time order and the count of live keys is exact. A record that would need a key beyond the
//! bound is refused; until it has left the window, the tracker takes no new key and its value
//! for any key it does not hold is unknown (fail closed), and [`State::refused`] counts it.

use std::collections::VecDeque;

use hashlink::LinkedHashMap;
use rustc_hash::FxBuildHasher;

use super::exact::Exact;
use crate::bytecode::model::{StatefulKind, Tracker};

/// Limits of one stream's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// The most keys one `count` / `sum` / `seen` holds (keys with an event in the window, or
    /// ever for one without a window).
    pub max_keys: usize,
    /// How far (ns) an event's `ts` may lie from stream time and be believed; `None` believes
    /// every `ts` (for time the caller vouches for: policy suites, decided events).
    pub max_skew: Option<i64>,
}

impl StreamLimits {
    /// The default bound on keys per tracker.
    pub const MAX_KEYS: usize = 100_000;
    /// The default skew: five minutes.
    pub const MAX_SKEW: i64 = 5 * 60 * 1_000_000_000;

    /// Every `ts` believed, keys bounded by default.
    pub fn trusted_time() -> StreamLimits {
        StreamLimits {
            max_skew: None,
            ..StreamLimits::default()
        }
    }
}

impl Default for StreamLimits {
    fn default() -> StreamLimits {
        StreamLimits {
            max_keys: StreamLimits::MAX_KEYS,
            max_skew: Some(StreamLimits::MAX_SKEW),
        }
    }
}

/// The state of one stream.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Stream time in nanoseconds since the epoch: the latest believed time.
    pub clock: i64,
    /// Whether an event has set the clock yet.
    clock_set: bool,
    /// A time beyond the skew that the previous event claimed.
    ahead: Option<i64>,
    pub(crate) trackers: Vec<TrackerState>,
    limits: StreamLimits,
    /// Events evaluated so far.
    pub events: u64,
    /// Records refused at the key bound, and the number of the event (from 1) that first had
    /// one refused.
    pub refused: u64,
    pub first_refused: Option<u64>,
    /// Events whose `ts` was not believed (outside the skew), and the first of them.
    pub untimed: u64,
    pub first_untimed: Option<u64>,
    pub(crate) key: Vec<u8>,
    pub(crate) bufs: Vec<String>,
    /// Walks still to make (fork children), reused from event to event.
    pub(crate) pending: Vec<crate::bytecode::model::Target>,
    /// Records of the event being decided, and the slots their uncertain events leave.
    pub(crate) recs: Vec<Rec>,
    pub(crate) blame: Vec<u32>,
    /// The event with `time.*` hidden, when its `ts` is not believed.
    pub(crate) hidden: super::Event,
}

type Map = LinkedHashMap<Box<[u8]>, KeyState, FxBuildHasher>;

#[derive(Clone, Debug)]
pub(crate) struct TrackerState {
    /// Keys by their latest record, oldest first.
    map: Map,
    /// Until when (inclusive) a refused record is in the window.
    overflow_until: Option<i64>,
}

#[derive(Clone, Debug)]
struct KeyState {
    /// The time of the latest record.
    last: i64,
    /// Slots uncertain events left behind, with the latest time each was left.
    blame: Vec<(u32, i64)>,
    agg: Agg,
}

#[derive(Clone, Debug)]
enum Agg {
    Count(CountWin),
    Sum(Box<SumWin>),
    Seen(SeenWin),
}

#[derive(Clone, Debug, Default)]
struct CountWin {
    /// (time, sure, maybe) records at that time, oldest first (empty without a window).
    q: VecDeque<(i64, u32, u32)>,
    sure: u64,
    maybe: u64,
}

#[derive(Clone, Debug, Default)]
struct SumWin {
    /// (time, value, kind) oldest first (empty without a window).
    q: VecDeque<(i64, f64, RecKind)>,
    sure: Exact,
    /// Values of uncertain records: the positive ones may raise the sum, the negative ones
    /// lower it.
    pos: Exact,
    neg: Exact,
    /// Uncertain records without a number.
    unbounded: u64,
    /// The bounds, rounded, while nothing changes.
    cache: Option<(f64, f64)>,
}

#[derive(Clone, Copy, Debug, Default)]
struct SeenWin {
    sure: Option<i64>,
    maybe: Option<i64>,
}

/// How an event is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecKind {
    /// The condition holds (and a summed value is a number).
    Sure,
    /// The condition is unknown.
    Maybe,
    /// A summed value that is not a number, the condition true or unknown.
    Unbounded,
}

/// One record of the event being decided.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    pub tracker: u32,
    pub kind: RecKind,
    pub value: f64,
    /// `blame[from..to]` are the slots it leaves behind.
    pub from: u32,
    pub to: u32,
}

/// What a tracker says now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum TrackerValue {
    /// A count or a sum: every value from `lo` to `hi` is possible (one value when equal).
    Num { lo: f64, hi: f64 },
    /// `seen`: `None` when an uncertain event might have been a match.
    Bool(Option<bool>),
    /// The key bound refused a record this key may have had.
    Unknown,
}

impl TrackerState {
    fn new() -> TrackerState {
        TrackerState {
            map: Map::with_hasher(FxBuildHasher),
            overflow_until: None,
        }
    }

    fn overflowed(&self, now: i64) -> bool {
        self.overflow_until.is_some_and(|u| now <= u)
    }

    /// Drops the keys whose latest record has left the window.
    fn expire(&mut self, lo: Option<i64>) {
        let Some(lo) = lo else { return };
        while self.map.front().is_some_and(|(_, k)| k.last < lo) {
            self.map.pop_front();
        }
    }
}

impl State {
    pub(crate) fn new(trackers: &[Tracker], bufs: usize, limits: StreamLimits) -> State {
        State {
            trackers: trackers.iter().map(|_| TrackerState::new()).collect(),
            limits,
            bufs: vec![String::new(); bufs.max(2)],
            ..State::default()
        }
    }

    /// Makes this the fresh state it was made as (same trackers and limits), keeping the
    /// memory it has grown: for deciding many events each from fresh state.
    pub fn reset(&mut self) {
        let State {
            clock,
            clock_set,
            ahead,
            trackers,
            limits: _,
            events,
            refused,
            first_refused,
            untimed,
            first_untimed,
            key,
            bufs: _,
            pending,
            recs,
            blame,
            hidden: _,
        } = self;
        (*clock, *clock_set, *ahead) = (0, false, None);
        for t in trackers {
            t.map.clear();
            t.overflow_until = None;
        }
        (*events, *refused, *first_refused, *untimed, *first_untimed) = (0, 0, None, 0, None);
        key.clear();
        pending.clear();
        recs.clear();
        blame.clear();
    }

    /// The limits this state was made with.
    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    /// Moves stream time for an event with `ts` (`trusted` when the caller vouches for it);
    /// returns the time the event happens at and whether its `ts` is believed.
    pub(crate) fn advance(&mut self, ts: Option<i64>, trusted: bool) -> (i64, bool) {
        let Some(t) = ts else {
            self.ahead = None;
            return (self.clock, false);
        };
        let believed = match self.limits.max_skew {
            _ if trusted || !self.clock_set => true,
            None => true,
            Some(s) => {
                let near = |a: i64, b: i64| a.abs_diff(b) <= s.unsigned_abs();
                near(t, self.clock) || (t > self.clock && self.ahead.is_some_and(|a| near(t, a)))
            }
        };
        if believed {
            self.clock = self.clock.max(t);
            self.clock_set = true;
            self.ahead = None;
        } else {
            self.ahead = (t > self.clock).then_some(t);
            self.untimed += 1;
            self.first_untimed.get_or_insert(self.events + 1);
        }
        (self.clock, believed)
    }

    /// The value of tracker `t` for the key in `self.key`, at time `now`.
    pub(crate) fn lookup(&mut self, t: u32, def: &Tracker, now: i64) -> Option<TrackerValue> {
        let lo = def.within.map(|d| now.saturating_sub(d));
        let key: &[u8] = &self.key;
        let ts = self.trackers.get_mut(t as usize)?;
        let overflowed = ts.overflowed(now);
        let live = match ts.map.get_mut(key) {
            Some(k) if lo.is_none_or(|lo| k.last >= lo) => Some(k),
            _ => None,
        };
        let Some(k) = live else {
            if overflowed {
                return Some(TrackerValue::Unknown);
            }
            return Some(match def.kind {
                StatefulKind::Seen => TrackerValue::Bool(Some(false)),
                _ => TrackerValue::Num { lo: 0.0, hi: 0.0 },
            });
        };
        Some(match &mut k.agg {
            Agg::Count(w) => {
                if let Some(lo) = lo {
                    w.prune(lo);
                }
                let sure = w.sure as f64;
                TrackerValue::Num {
                    lo: sure,
                    hi: sure + w.maybe as f64,
                }
            }
            Agg::Sum(w) => {
                if let Some(lo) = lo {
                    w.prune(lo);
                }
                let (lo, hi) = w.bounds();
                TrackerValue::Num { lo, hi }
            }
            Agg::Seen(w) => {
                let within = |t: Option<i64>| t.is_some_and(|t| lo.is_none_or(|lo| t >= lo));
                TrackerValue::Bool(if within(w.sure) {
                    Some(true)
                } else if within(w.maybe) {
                    None
                } else {
                    Some(false)
                })
            }
        })
    }

    /// Appends to `self.blame` the slots that uncertain events in the window of tracker `t`,
    /// for the key in `self.key`, left behind; and the key slots when the key bound made its
    /// value unknown.
    pub(crate) fn blame_of(&mut self, t: u32, def: &Tracker, now: i64) {
        let lo = def.within.map(|d| now.saturating_sub(d));
        let Some(ts) = self.trackers.get(t as usize) else {
            return;
        };
        match ts.map.get(self.key.as_slice()) {
            Some(k) if lo.is_none_or(|lo| k.last >= lo) => {
                for &(slot, at) in &k.blame {
                    if lo.is_none_or(|lo| at >= lo) {
                        self.blame.push(slot);
                    }
                }
            }
            _ => {
                if ts.overflowed(now) {
                    self.blame.extend_from_slice(&def.per);
                }
            }
        }
    }

    /// Records `rec` in its tracker for the key in `self.key` at time `now`, with the slots
    /// `blame` it leaves behind. Returns false when the key bound refused it.
    pub(crate) fn record(&mut self, def: &Tracker, now: i64, rec: Rec, blame: &[u32]) -> bool {
        let lo = def.within.map(|d| now.saturating_sub(d));
        let max_keys = self.limits.max_keys;
        let Some(ts) = self.trackers.get_mut(rec.tracker as usize) else {
            return true;
        };
        ts.expire(lo);
        let k = match ts.map.to_back(self.key.as_slice()) {
            Some(k) => k,
            None => {
                if ts.overflowed(now) || ts.map.len() >= max_keys {
                    let until = def.within.map_or(i64::MAX, |d| now.saturating_add(d));
                    ts.overflow_until = Some(ts.overflow_until.map_or(until, |u| u.max(until)));
                    self.refused += 1;
                    self.first_refused.get_or_insert(self.events + 1);
                    return false;
                }
                let agg = match def.kind {
                    StatefulKind::Count => Agg::Count(CountWin::default()),
                    StatefulKind::Sum => Agg::Sum(Box::default()),
                    StatefulKind::Seen => Agg::Seen(SeenWin::default()),
                };
                ts.map.insert(
                    self.key.as_slice().into(),
                    KeyState {
                        last: now,
                        blame: Vec::new(),
                        agg,
                    },
                );
                match ts.map.back_entry() {
                    Some(e) => e.into_mut(),
                    None => return true,
                }
            }
        };
        k.last = now;
        for &slot in blame {
            match k.blame.iter_mut().find(|(s, _)| *s == slot) {
                Some(b) => b.1 = now,
                None => k.blame.push((slot, now)),
            }
        }
        if let Some(lo) = lo {
            k.blame.retain(|&(_, at)| at >= lo);
        }
        let windowed = lo.is_some();
        match &mut k.agg {
            Agg::Count(w) => {
                if let Some(lo) = lo {
                    w.prune(lo);
                }
                let (s, m) = match rec.kind {
                    RecKind::Sure => (1, 0),
                    _ => (0, 1),
                };
                w.sure += u64::from(s);
                w.maybe += u64::from(m);
                if windowed {
                    match w.q.back_mut() {
                        Some((last, ls, lm)) if *last == now => {
                            *ls = ls.saturating_add(s);
                            *lm = lm.saturating_add(m);
                        }
                        _ => w.q.push_back((now, s, m)),
                    }
                }
            }
            Agg::Sum(w) => {
                if let Some(lo) = lo {
                    w.prune(lo);
                }
                w.apply(rec.kind, rec.value, true);
                if windowed {
                    w.q.push_back((now, rec.value, rec.kind));
                }
            }
            Agg::Seen(w) => match rec.kind {
                RecKind::Sure => w.sure = Some(now),
                _ => w.maybe = Some(now),
            },
        }
        true
    }

    /// Called once per event, after its records.
    pub(crate) fn tick(&mut self) {
        self.events += 1;
    }

    /// Takes in its place an event whose decision needed no state
    /// ([`crate::vm::Program::is_stateless`]) and was taken elsewhere: stream time and the
    /// event count move exactly as deciding it here would have moved them.
    pub fn pass(&mut self, ts: Option<i64>) {
        self.advance(ts, false);
        self.tick();
    }

    /// How many keys all trackers hold.
    pub fn keys(&self) -> usize {
        self.trackers.iter().map(|t| t.map.len()).sum()
    }
}

impl CountWin {
    fn prune(&mut self, lo: i64) {
        while let Some(&(t, s, m)) = self.q.front() {
            if t >= lo {
                break;
            }
            self.sure -= u64::from(s);
            self.maybe -= u64::from(m);
            self.q.pop_front();
        }
    }
}

impl SumWin {
    /// Adds (`add`) or takes away a record.
    fn apply(&mut self, kind: RecKind, v: f64, add: bool) {
        self.cache = None;
        let acc = match kind {
            RecKind::Sure => &mut self.sure,
            RecKind::Maybe if v < 0.0 => &mut self.neg,
            RecKind::Maybe => &mut self.pos,
            RecKind::Unbounded => {
                if add {
                    self.unbounded += 1;
                } else {
                    self.unbounded -= 1;
                }
                return;
            }
        };
        if add { acc.add(v) } else { acc.sub(v) }
    }

    fn prune(&mut self, lo: i64) {
        while let Some(&(t, v, kind)) = self.q.front() {
            if t >= lo {
                break;
            }
            self.apply(kind, v, false);
            self.q.pop_front();
        }
    }

    /// The smallest and largest possible sum.
    fn bounds(&mut self) -> (f64, f64) {
        if let Some(b) = self.cache {
            return b;
        }
        let b = if self.unbounded > 0 {
            (f64::NEG_INFINITY, f64::INFINITY)
        } else if self.pos.is_zero() && self.neg.is_zero() {
            let v = self.sure.value();
            (v, v)
        } else {
            let mut lo = self.sure.clone();
            lo.add_exact(&self.neg);
            let mut hi = self.sure.clone();
            hi.add_exact(&self.pos);
            (lo.value(), hi.value())
        };
        self.cache = Some(b);
        b
    }
}
