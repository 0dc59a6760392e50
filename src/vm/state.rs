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
//! **Entries.** A key's `count` / `sum` window keeps one entry per instant (per record, for a
//! `sum`) while it holds fewer than [`StreamLimits::EXACT_ENTRIES`]; past that, a record less
//! than a 1,024th of the window after the newest entry's first time is merged into it, making
//! it a span. So a key's window holds at most `2 · EXACT_ENTRIES + 2` entries at any rate.
//! When the window's low edge is inside a span, which of its records left is unknown: its sure
//! records become uncertain (a count's move from sure to maybe, a sum's values from the sure
//! part to the positive and negative uncertain parts) until the edge passes the span's last
//! time. The range then holds the exact value, and is exact whenever no span straddles the
//! edge (at most one does, for at most a 1,024th of the window).
//!
//! **Keys.** Each tracker holds at most [`StreamLimits::max_keys`] keys with an event in their
//! window, ordered by their latest record, so the expired ones are dropped from the front in
//! time order and the count of live keys is exact. A record that would need a key beyond the
//! bound is refused; until it has left the window, the tracker takes no new key and its value
//! for any key it does not hold is unknown (fail closed), and [`State::refused`] counts it.

use std::collections::VecDeque;

use std::hash::BuildHasher;

use hashlink::LinkedHashMap;
use hashlink::linked_hash_map::RawEntryMut;
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
    /// Entries a key's `count` / `sum` window keeps exact. Beyond them, a record less than
    /// `within / EXACT_ENTRIES` (rounded up, at least 1 ns) after the newest entry's first time
    /// is merged into it, so a key's window holds at most `2 · EXACT_ENTRIES + 2` entries
    /// whatever the rate.
    pub const EXACT_ENTRIES: usize = 1024;

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
    /// The key [`State::lookup`], [`State::blame_of`] and [`State::record`] use when no key
    /// group is selected.
    pub(crate) key: Vec<u8>,
    /// The keys of the event being decided, by key group, each built at most once per
    /// event.
    keys: Vec<KeyMemo>,
    /// The key group selected ([`State::select_key`]): its key is the current one.
    key_group: Option<u32>,
    /// Counts events whose keys are built (see [`State::new_event`]): a memo of another
    /// event is stale.
    key_event: u64,
    pub(crate) bufs: Vec<String>,
    /// Walks still to make (fork children), reused from event to event.
    pub(crate) pending: Vec<crate::bytecode::model::Target>,
    /// Records of the event being decided, and the slots their uncertain events leave.
    pub(crate) recs: Vec<Rec>,
    pub(crate) blame: Vec<u32>,
    /// The event with `time.*` hidden, when its `ts` is not believed.
    pub(crate) hidden: super::Event,
    /// By variable: what it gave the event being decided (see [`State::recall`]), and the
    /// [`State::key_event`] it was for (`u64::MAX`: none yet).
    tested: Vec<(u64, super::Tested)>,
}

/// The key an event gives one key group.
#[derive(Clone, Debug, Default)]
struct KeyMemo {
    /// The [`State::key_event`] it was built for (0: never).
    event: u64,
    /// Whether every part of the key is a scalar.
    ok: bool,
    bytes: Vec<u8>,
    /// The hash of `bytes` the trackers' maps use ([`key_hash`]), made with the key: each
    /// tracker of the group looks it up and records it without hashing it again.
    hash: u64,
}

/// The hash a tracker's map gives `key` (its hasher's, over the key as a `Box<[u8]>` hashes).
#[inline]
fn key_hash(key: &[u8]) -> u64 {
    FxBuildHasher.hash_one(key)
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
    /// (first, last, sure, maybe): the records from time `first` to `last`, oldest first
    /// (empty without a window); `sure + maybe` fits a `u32`. `first < last` only for a span
    /// merged past [`StreamLimits::EXACT_ENTRIES`].
    q: VecDeque<(i64, i64, u32, u32)>,
    sure: u64,
    maybe: u64,
}

#[derive(Clone, Debug, Default)]
struct SumWin {
    /// Records oldest first (empty without a window).
    q: VecDeque<SumEntry>,
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

#[derive(Clone, Debug)]
enum SumEntry {
    /// One record: time, value, kind.
    One(i64, f64, RecKind),
    /// Records merged past [`StreamLimits::EXACT_ENTRIES`].
    Span(Box<SumSpan>),
}

/// Records from `first` to `last`, their values summed as [`SumWin`] sums them.
#[derive(Clone, Debug, Default)]
struct SumSpan {
    first: i64,
    last: i64,
    /// Values of sure records, the positive and the negative apart: once the window's edge
    /// is inside the span, any of them may have left, so they become uncertain.
    sure_pos: Exact,
    sure_neg: Exact,
    pos: Exact,
    neg: Exact,
    unbounded: u64,
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
            keys: _,
            key_group,
            key_event,
            bufs: _,
            pending,
            recs,
            blame,
            hidden: _,
            tested: _,
        } = self;
        (*clock, *clock_set, *ahead) = (0, false, None);
        for t in trackers {
            if !t.map.is_empty() {
                t.map.clear();
            }
            t.overflow_until = None;
        }
        (*events, *refused, *first_refused, *untimed, *first_untimed) = (0, 0, None, 0, None);
        key.clear();
        *key_group = None;
        // Every memo is stale from the next event on.
        *key_event = key_event.wrapping_add(1);
        pending.clear();
        recs.clear();
        blame.clear();
    }

    /// Starts the keys of a new event: the memo of the event before is stale.
    #[inline]
    pub(crate) fn new_event(&mut self) {
        self.key_event = self.key_event.wrapping_add(1);
    }

    /// Makes room to remember what `vars` variables gave the event being decided.
    #[inline]
    pub(super) fn room_to_remember(&mut self, vars: usize) {
        if self.tested.len() < vars {
            self.tested.resize(vars, (u64::MAX, super::Tested::Unknown));
        }
    }

    /// What variable `var` gave the event being decided, if [`State::remember`] kept it
    /// since [`State::new_event`].
    #[inline]
    pub(super) fn recall(&self, var: u32) -> Option<super::Tested> {
        match self.tested.get(var as usize) {
            Some(&(event, t)) if event == self.key_event => Some(t),
            _ => None,
        }
    }

    /// Keeps what variable `var` gave the event being decided.
    #[inline]
    pub(super) fn remember(&mut self, var: u32, t: super::Tested) {
        let event = self.key_event;
        if let Some(slot) = self.tested.get_mut(var as usize) {
            *slot = (event, t);
        }
    }

    /// Makes the key of key group `group` for the event being decided the current key,
    /// building it with `build` (which returns whether it is a key) only the first time the
    /// event asks for it. Returns what `build` returned.
    #[inline]
    pub(crate) fn select_key(
        &mut self,
        group: u32,
        build: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        let event = self.key_event;
        if let Some(m) = self.keys.get_mut(group as usize) {
            self.key_group = Some(group);
            if m.event != event || event == 0 {
                m.ok = build(&mut m.bytes);
                m.event = event;
                m.hash = key_hash(&m.bytes);
            }
            return m.ok;
        }
        self.select_key_new(group, build)
    }

    /// [`State::select_key`] for a group not seen yet.
    #[cold]
    fn select_key_new(&mut self, group: u32, build: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        self.key_group = None;
        if group == u32::MAX {
            // No group: built each time, nothing remembered.
            return build(&mut self.key);
        }
        self.keys.resize(group as usize + 1, KeyMemo::default());
        self.select_key(group, build)
    }

    /// The current key and its hash ([`key_hash`]): the selected group's, made with it, or
    /// `key`, hashed now.
    #[inline]
    fn current_key<'a>(
        keys: &'a [KeyMemo],
        key_group: Option<u32>,
        key: &'a [u8],
    ) -> (&'a [u8], u64) {
        match key_group.and_then(|g| keys.get(g as usize)) {
            Some(m) => (m.bytes.as_slice(), m.hash),
            None if key_group.is_some() => (&[][..], key_hash(&[])),
            None => (key, key_hash(key)),
        }
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
        let (key, hash) = State::current_key(&self.keys, self.key_group, &self.key);
        let ts = self.trackers.get_mut(t as usize)?;
        let overflowed = ts.overflowed(now);
        let live = match ts.map.raw_entry_mut().from_key_hashed_nocheck(hash, key) {
            RawEntryMut::Occupied(o) => Some(o.into_mut()),
            RawEntryMut::Vacant(_) => None,
        };
        let live = live.filter(|k| lo.is_none_or(|lo| k.last >= lo));
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
        let (key, hash) = State::current_key(&self.keys, self.key_group, &self.key);
        match ts
            .map
            .raw_entry()
            .from_key_hashed_nocheck(hash, key)
            .map(|(_, k)| k)
        {
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
        let (key, hash) = State::current_key(&self.keys, self.key_group, &self.key);
        let refuse = ts.overflowed(now) || ts.map.len() >= max_keys;
        let k = match ts.map.raw_entry_mut().from_key_hashed_nocheck(hash, key) {
            RawEntryMut::Occupied(mut o) => {
                o.to_back();
                o.into_mut()
            }
            RawEntryMut::Vacant(v) => {
                if refuse {
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
                v.insert_hashed_nocheck(
                    hash,
                    key.into(),
                    KeyState {
                        last: now,
                        blame: Vec::new(),
                        agg,
                    },
                )
                .1
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
                if let (Some(lo), Some(d)) = (lo, def.within) {
                    let full = w.q.len() >= StreamLimits::EXACT_ENTRIES;
                    match w.q.back_mut() {
                        Some((first, last, ls, lm))
                            if *first >= lo
                                && ls.checked_add(*lm).is_some_and(|n| n < u32::MAX)
                                && (*last == now
                                    || (full && now.saturating_sub(*first) < granularity(d))) =>
                        {
                            *last = now;
                            *ls += s;
                            *lm += m;
                        }
                        _ => w.q.push_back((now, now, s, m)),
                    }
                }
            }
            Agg::Sum(w) => {
                if let Some(lo) = lo {
                    w.prune(lo);
                }
                w.apply(rec.kind, rec.value, true);
                if let (Some(lo), Some(d)) = (lo, def.within) {
                    let full = w.q.len() >= StreamLimits::EXACT_ENTRIES;
                    let first = match w.q.back() {
                        Some(SumEntry::One(t, ..)) => Some(*t),
                        Some(SumEntry::Span(sp)) => Some(sp.first),
                        None => None,
                    };
                    let merge = full
                        && first.is_some_and(|f| f >= lo && now.saturating_sub(f) < granularity(d));
                    match w.q.back_mut() {
                        Some(back) if merge => {
                            if let SumEntry::One(t, v, kind) = *back {
                                let mut sp = SumSpan {
                                    first: t,
                                    last: t,
                                    ..SumSpan::default()
                                };
                                sp.add(kind, v);
                                *back = SumEntry::Span(Box::new(sp));
                            }
                            if let SumEntry::Span(sp) = back {
                                sp.last = now;
                                sp.add(rec.kind, rec.value);
                            }
                        }
                        _ => w.q.push_back(SumEntry::One(now, rec.value, rec.kind)),
                    }
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

/// How close (ns) a record must be to the first time of the newest entry of a full window of
/// `d` ns to be merged into it.
fn granularity(d: i64) -> i64 {
    let n = StreamLimits::EXACT_ENTRIES as i64;
    (d.saturating_add(n - 1) / n).max(1)
}

impl CountWin {
    fn prune(&mut self, lo: i64) {
        while let Some((first, last, s, m)) = self.q.front_mut() {
            if *last < lo {
                self.sure -= u64::from(*s);
                self.maybe -= u64::from(*m);
                self.q.pop_front();
                continue;
            }
            if *first < lo && *s > 0 {
                // The edge is inside a merged span: which of its records have left is no
                // longer known, so each may count.
                self.sure -= u64::from(*s);
                self.maybe += u64::from(*s);
                *m += *s;
                *s = 0;
            }
            break;
        }
    }
}

impl SumSpan {
    /// Adds a record as [`SumWin::apply`] adds it.
    fn add(&mut self, kind: RecKind, v: f64) {
        match kind {
            RecKind::Sure if v < 0.0 => self.sure_neg.add(v),
            RecKind::Sure => self.sure_pos.add(v),
            RecKind::Maybe if v < 0.0 => self.neg.add(v),
            RecKind::Maybe => self.pos.add(v),
            RecKind::Unbounded => self.unbounded += 1,
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
        while let Some(front) = self.q.front_mut() {
            match front {
                SumEntry::One(t, v, kind) => {
                    if *t >= lo {
                        break;
                    }
                    let (v, kind) = (*v, *kind);
                    self.q.pop_front();
                    self.apply(kind, v, false);
                }
                SumEntry::Span(sp) => {
                    if sp.last < lo {
                        self.cache = None;
                        self.sure.sub_exact(&sp.sure_pos);
                        self.sure.sub_exact(&sp.sure_neg);
                        self.pos.sub_exact(&sp.pos);
                        self.neg.sub_exact(&sp.neg);
                        self.unbounded -= sp.unbounded;
                        self.q.pop_front();
                        continue;
                    }
                    if sp.first < lo && !(sp.sure_pos.is_zero() && sp.sure_neg.is_zero()) {
                        // The edge is inside a merged span: any of its sure records may have
                        // left, so their values may be added or not.
                        self.cache = None;
                        self.sure.sub_exact(&sp.sure_pos);
                        self.sure.sub_exact(&sp.sure_neg);
                        self.pos.add_exact(&sp.sure_pos);
                        self.neg.add_exact(&sp.sure_neg);
                        let (p, n) = (
                            std::mem::take(&mut sp.sure_pos),
                            std::mem::take(&mut sp.sure_neg),
                        );
                        sp.pos.add_exact(&p);
                        sp.neg.add_exact(&n);
                    }
                    break;
                }
            }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    /// The three-valued `x >= n` on a range.
    fn at_least(lo: f64, hi: f64, n: f64) -> Option<bool> {
        if lo >= n {
            Some(true)
        } else if hi < n {
            Some(false)
        } else {
            None
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The key's window: its entry count, and whether a merged span straddles `lo`.
    fn window(st: &State, lo: i64) -> (usize, bool) {
        let Some(k) = st.trackers[0].map.get(b"k".as_slice()) else {
            return (0, false);
        };
        match &k.agg {
            Agg::Count(w) => (
                w.q.len(),
                w.q.front().is_some_and(|e| e.0 < lo && lo <= e.1),
            ),
            Agg::Sum(w) => (
                w.q.len(),
                matches!(w.q.front(), Some(SumEntry::Span(sp)) if sp.first < lo && lo <= sp.last),
            ),
            Agg::Seen(_) => (0, false),
        }
    }

    /// Drives one key of a `count` or `sum` over `within` with `n` events at random close
    /// times (bursts at one instant, gaps of a few ns, now and then a quiet spell), checking
    /// every value against the records kept one by one.
    fn drive(kind: StatefulKind, seed: u64, within: i64, n: usize, max_gap: u64) -> String {
        let def = Tracker {
            kind,
            within: Some(within),
            per: vec![],
            value: None,
            refs: vec![],
            inner: vec![],
        };
        let mut st = State::new(std::slice::from_ref(&def), 0, StreamLimits::trusted_time());
        st.key = b"k".to_vec();
        let mut rng = Rng(seed | 1);
        // Every record in the window, one by one, with the exact totals.
        let mut all: VecDeque<(i64, RecKind, f64)> = VecDeque::new();
        let (mut sure, mut maybe, mut unbounded) = (0u64, 0u64, 0u64);
        let (mut ssum, mut pos, mut neg) = (Exact::new(), Exact::new(), Exact::new());
        let mut now = 1_000_000_000i64;
        let (mut merged, mut straddled, mut decided_while_straddled) = (0usize, 0usize, 0usize);
        for i in 0..n {
            now += match rng.below(5) {
                _ if i == n / 2 => within + rng.below(within as u64) as i64,
                0 => 0,
                _ => rng.below(max_gap + 1) as i64,
            };
            let lo = now - within;
            while all.front().is_some_and(|e| e.0 < lo) {
                let (_, k, v) = all.pop_front().unwrap();
                match k {
                    RecKind::Sure => {
                        sure -= 1;
                        ssum.sub(v);
                    }
                    RecKind::Maybe => {
                        maybe -= 1;
                        if v < 0.0 { neg.sub(v) } else { pos.sub(v) }
                    }
                    RecKind::Unbounded => unbounded -= 1,
                }
            }
            let (elo, ehi) = match kind {
                StatefulKind::Count => (sure as f64, (sure + maybe) as f64),
                _ if unbounded > 0 => (f64::NEG_INFINITY, f64::INFINITY),
                _ => {
                    let (mut l, mut h) = (ssum.clone(), ssum.clone());
                    l.add_exact(&neg);
                    h.add_exact(&pos);
                    (l.value(), h.value())
                }
            };
            let Some(TrackerValue::Num { lo: vlo, hi: vhi }) = st.lookup(0, &def, now) else {
                panic!("no value");
            };
            let (len, straddles) = window(&st, lo);
            assert!(
                len <= 2 * StreamLimits::EXACT_ENTRIES + 2,
                "event {i}: {len} entries"
            );
            merged = merged.max(len);
            assert!(
                vlo <= elo && ehi <= vhi,
                "event {i}: [{vlo}, {vhi}] does not contain [{elo}, {ehi}]"
            );
            if straddles {
                straddled += 1;
            } else {
                assert_eq!((vlo, vhi), (elo, ehi), "event {i}: not exact");
            }
            // A rule on the value: decided only where the exact value decides it the same way.
            let near = [elo - 1000.0, elo - 1.0, ehi + 1.0, ehi + 1000.0];
            for t in [1.0, 10.0, 100.0, 1000.0, 1e4, 1e5, -50.0, 0.5]
                .into_iter()
                .chain(near)
            {
                let (v, e) = (at_least(vlo, vhi, t), at_least(elo, ehi, t));
                if v.is_some() {
                    assert_eq!(v, e, "event {i}: >= {t}");
                    decided_while_straddled += usize::from(straddles);
                }
                if !straddles {
                    assert_eq!(v, e);
                }
            }
            let (rk, value) = match rng.below(100) {
                0..=59 => (RecKind::Sure, 0.0),
                60..=84 => (RecKind::Maybe, 0.0),
                85 if kind == StatefulKind::Sum && rng.below(50) == 0 => {
                    (RecKind::Unbounded, f64::NAN)
                }
                _ => {
                    st.tick();
                    continue;
                }
            };
            let value = match (kind, rk) {
                (StatefulKind::Count, _) | (_, RecKind::Unbounded) => value,
                // Huge values early on only, so that later ranges are narrow enough to decide.
                _ => match rng.below(10) {
                    0 if i < n / 16 => 1e300,
                    1 if i < n / 16 => -1e300,
                    2 => -(rng.below(1000) as f64) / 8.0,
                    _ => rng.below(1000) as f64 / 10.0,
                },
            };
            let rec = Rec {
                tracker: 0,
                kind: rk,
                value,
                from: 0,
                to: 0,
            };
            assert!(st.record(&def, now, rec, &[]));
            st.tick();
            all.push_back((now, rk, value));
            match rk {
                RecKind::Sure => {
                    sure += 1;
                    ssum.add(value);
                }
                RecKind::Maybe => {
                    maybe += 1;
                    if value < 0.0 {
                        neg.add(value)
                    } else {
                        pos.add(value)
                    }
                }
                RecKind::Unbounded => unbounded += 1,
            }
        }
        // The stream ran long enough to merge, and to decide rules with a span on the edge.
        assert!(merged > StreamLimits::EXACT_ENTRIES, "{merged}");
        assert!(
            straddled > 0 && decided_while_straddled > 0,
            "{straddled} {decided_while_straddled}"
        );
        format!(
            "{:?}",
            st.trackers[0].map.get(b"k".as_slice()).map(|k| &k.agg)
        )
    }

    #[test]
    fn a_busy_key_keeps_a_bounded_window_whose_range_holds_the_exact_count() {
        for seed in [1, 2, 3] {
            drive(StatefulKind::Count, seed, 500_000, 40_000, 120);
        }
        // A window shorter than the exact entries: spans of one instant.
        drive(StatefulKind::Count, 4, 1_500, 20_000, 1);
    }

    #[test]
    fn a_busy_key_keeps_a_bounded_window_whose_range_holds_the_exact_sum() {
        for seed in [5, 6] {
            drive(StatefulKind::Sum, seed, 500_000, 40_000, 120);
        }
    }

    #[test]
    fn the_same_events_make_the_same_spans() {
        let a = drive(StatefulKind::Sum, 7, 500_000, 40_000, 120);
        assert_eq!(a, drive(StatefulKind::Sum, 7, 500_000, 40_000, 120));
        let a = drive(StatefulKind::Count, 8, 500_000, 40_000, 120);
        assert_eq!(a, drive(StatefulKind::Count, 8, 500_000, 40_000, 120));
    }
}
