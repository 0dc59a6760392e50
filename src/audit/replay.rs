//! The replay decision loop: one recorded event, re-decided exactly as the live decision
//! point decided it.
//!
//! The rules replay relies on (docs/audit.md, "Replay"):
//! - the VM reads the event text recorded in the log, which is the very text it read live
//!   (the canonical event as decided, host time included);
//! - stream state starts fresh at every `bundle` record and carries from one decision to
//!   the next otherwise, across rotated files;
//! - input that could not be read as an event changes no state.

use super::record;
use crate::decision::Decision;
use crate::vm::{Event, Outcome, Program, State};

/// Scratch space for re-deciding, reused from event to event.
#[derive(Default)]
pub struct Scratch {
    pub event: Event,
    pub outcome: Outcome,
}

/// Re-decides `event` (canonical text from a decision record) with `program` and the stream
/// `state` the previous records left; writes the canonical decision into `decision`
/// (cleared first), to compare byte for byte with the recorded one. Returns whether the
/// event could be read (when not, the decision is the fail-closed deny and `state` is
/// untouched, as it was live).
pub fn redecide(
    program: &Program,
    event: &str,
    state: &mut State,
    scratch: &mut Scratch,
    decision: &mut String,
) -> bool {
    decision.clear();
    match program.read_event(event, &mut scratch.event) {
        Ok(()) => {
            program.eval(&scratch.event, state, &mut scratch.outcome);
            record::write_outcome(program, &scratch.outcome, decision);
            true
        }
        Err(e) => {
            record::write_decision(&unreadable(program, event, &e), decision);
            false
        }
    }
}

/// The decision a point records for an event the VM could not read: deny, with the
/// reason (which names the column and the field, never an input line the log does not hold).
pub fn unreadable(program: &Program, event: &str, e: &crate::vm::EventError) -> Decision {
    Decision::error(&program.digest, e.describe(event))
}
