//! Stream state: one tracker per distinct `count` / `sum` / `seen`, keyed by its `per` values.
//!
//! Stream time is monotonic: each event happens at `max(its ts, the latest time so far)` (an
//! event without a valid `ts` happens at the latest time). So windows only ever slide forward,
//! entries older than a window can be dropped for good, and memory stays bounded by the window.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::bytecode::model::{StatefulKind, Tracker};

/// The state of one stream.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Stream time in nanoseconds since the epoch.
    pub clock: i64,
    pub(crate) trackers: Vec<TrackerState>,
    /// Events evaluated so far.
    pub events: u64,
    /// When the next sweep of expired keys happens.
    next_sweep: u64,
    pub(crate) key: Vec<u8>,
    pub(crate) bufs: Vec<String>,
    /// Walks still to make (fork children), reused from event to event.
    pub(crate) pending: Vec<crate::bytecode::model::Target>,
}

#[derive(Clone, Debug)]
pub(crate) enum TrackerState {
    Count(FxHashMap<Box<[u8]>, CountWin>),
    Sum(FxHashMap<Box<[u8]>, SumWin>),
    /// The time of the latest match per key.
    Seen(FxHashMap<Box<[u8]>, i64>),
}

#[derive(Clone, Debug, Default)]
pub(crate) struct CountWin {
    /// (time, how many matches at that time), oldest first.
    q: VecDeque<(i64, u32)>,
    total: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct SumWin {
    q: VecDeque<(i64, f64)>,
}

const SWEEP_EVERY: u64 = 1 << 16;

impl State {
    pub(crate) fn new(trackers: &[Tracker], bufs: usize) -> State {
        State {
            clock: 0,
            trackers: trackers
                .iter()
                .map(|t| match t.kind {
                    StatefulKind::Count => TrackerState::Count(FxHashMap::default()),
                    StatefulKind::Sum => TrackerState::Sum(FxHashMap::default()),
                    StatefulKind::Seen => TrackerState::Seen(FxHashMap::default()),
                })
                .collect(),
            events: 0,
            next_sweep: SWEEP_EVERY,
            key: Vec::new(),
            bufs: vec![String::new(); bufs.max(2)],
            pending: Vec::new(),
        }
    }

    /// Moves the clock to the event's time and returns it.
    pub(crate) fn advance(&mut self, ts: Option<i64>) -> i64 {
        if let Some(t) = ts
            && t > self.clock
        {
            self.clock = t;
        }
        self.clock
    }

    /// The value of tracker `t` for the key in `self.key`, at time `now`.
    pub(crate) fn lookup(&mut self, t: u32, def: &Tracker, now: i64) -> Option<TrackerValue> {
        let lo = def.within.map(|d| now.saturating_sub(d));
        let key: &[u8] = &self.key;
        match self.trackers.get_mut(t as usize)? {
            TrackerState::Count(map) => {
                let n = match map.get_mut(key) {
                    Some(w) => {
                        if let Some(lo) = lo {
                            w.prune(lo);
                        }
                        w.total
                    }
                    None => 0,
                };
                Some(TrackerValue::Num(n as f64))
            }
            TrackerState::Sum(map) => {
                let total = match map.get_mut(key) {
                    Some(w) => {
                        if let Some(lo) = lo {
                            while w.q.front().is_some_and(|(t, _)| *t < lo) {
                                w.q.pop_front();
                            }
                        }
                        // Left to right, as the language defines the sum.
                        w.q.iter().fold(0.0, |acc, (_, v)| acc + v)
                    }
                    None => 0.0,
                };
                Some(TrackerValue::Num(total))
            }
            TrackerState::Seen(map) => {
                let hit = map
                    .get(key)
                    .is_some_and(|&last| lo.is_none_or(|lo| last >= lo));
                Some(TrackerValue::Bool(hit))
            }
        }
    }

    /// Records a match of tracker `t` for the key in `self.key` at time `now`, dropping
    /// entries that have left the window.
    pub(crate) fn record(&mut self, t: u32, def: &Tracker, now: i64, value: Option<f64>) {
        let lo = def.within.map(|d| now.saturating_sub(d));
        let key: &[u8] = &self.key;
        match self.trackers.get_mut(t as usize) {
            Some(TrackerState::Count(map)) => {
                let w = match map.get_mut(key) {
                    Some(w) => w,
                    None => map.entry(key.into()).or_default(),
                };
                if let Some(lo) = lo {
                    w.prune(lo);
                }
                match w.q.back_mut() {
                    Some((last, n)) if *last == now => *n = n.saturating_add(1),
                    _ => w.q.push_back((now, 1)),
                }
                w.total += 1;
            }
            Some(TrackerState::Sum(map)) => {
                if let Some(v) = value {
                    let w = match map.get_mut(key) {
                        Some(w) => w,
                        None => map.entry(key.into()).or_default(),
                    };
                    if let Some(lo) = lo {
                        while w.q.front().is_some_and(|(t, _)| *t < lo) {
                            w.q.pop_front();
                        }
                    }
                    w.q.push_back((now, v));
                }
            }
            Some(TrackerState::Seen(map)) => match map.get_mut(key) {
                Some(last) => *last = now,
                None => {
                    map.insert(key.into(), now);
                }
            },
            None => {}
        }
    }

    /// Called once per event: from time to time, forgets keys whose windows are empty.
    pub(crate) fn tick(&mut self, defs: &[Tracker]) {
        self.events += 1;
        if self.events < self.next_sweep {
            return;
        }
        self.next_sweep = self.events + SWEEP_EVERY;
        let now = self.clock;
        for (st, def) in self.trackers.iter_mut().zip(defs) {
            let Some(d) = def.within else { continue };
            let lo = now.saturating_sub(d);
            match st {
                TrackerState::Count(map) => map.retain(|_, w| {
                    w.prune(lo);
                    w.total > 0
                }),
                TrackerState::Sum(map) => {
                    map.retain(|_, w| w.q.back().is_some_and(|(t, _)| *t >= lo))
                }
                TrackerState::Seen(map) => map.retain(|_, last| *last >= lo),
            }
        }
    }

    /// How many keys all trackers hold (for tests of bounded memory).
    pub fn keys(&self) -> usize {
        self.trackers
            .iter()
            .map(|t| match t {
                TrackerState::Count(m) => m.len(),
                TrackerState::Sum(m) => m.len(),
                TrackerState::Seen(m) => m.len(),
            })
            .sum()
    }
}

impl CountWin {
    fn prune(&mut self, lo: i64) {
        while let Some(&(t, n)) = self.q.front() {
            if t >= lo {
                break;
            }
            self.total -= u64::from(n);
            self.q.pop_front();
        }
    }
}

/// What a tracker says now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum TrackerValue {
    Num(f64),
    Bool(bool),
}
