//! Witnesses: an event for each region, decided by both bundles with the VM and, where the
//! side has sources, the reference interpreter; a region is only shown as a change when the
//! decisions confirm it.

use serde_json::Value as Json;

use crate::compile::analysis::Step;
use crate::decision::Decision;
use crate::lint::witness::{build_event, synthesize_in};
use crate::reference::Reference;
use crate::vm::{Event, Outcome};

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
}

impl Judge<'_> {
    /// One event on a fresh stream, decided by side `s`: by the VM, and checked against the
    /// reference interpreter when the side has sources.
    pub fn decide(&self, s: usize, event: &Json) -> Result<Decision, String> {
        let side = self.sides.get(s).ok_or("no such side")?;
        let p = &side.program;
        let text = event.to_string();
        let mut ev = Event::default();
        p.read_event(&text, &mut ev).map_err(|e| e.to_string())?;
        let mut state = p.new_state();
        let mut out = Outcome::default();
        p.eval(&ev, &mut state, &mut out);
        let vm = p.decision(&out);
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
        let all_exact = path.iter().all(|s| solve::exact(&ws, s.var).is_some());
        let exact_event = solve::solve(&ws, path).and_then(|a| build_event(&ws, &a));
        let mut tried: Vec<Json> = Vec::new();
        if !all_exact && let Some(ev) = synthesize_in(&ws, path) {
            tried.push(ev);
        }
        if let Some(ev) = &exact_event
            && !tried.contains(ev)
        {
            tried.push(ev.clone());
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
