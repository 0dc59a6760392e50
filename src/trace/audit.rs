//! Audit logs (docs/audit.md), read as events: each decision record gives the event as it
//! was decided, with the decision recorded in it as its `decision`, so that `simulate`
//! compares a policy with what was decided live.
//!
//! Bundle records and checkpoints are not agent actions (counted, not read), nor is a
//! decision on input that could not be read as an event. A line that is not a record is a
//! bad record. Nothing is verified here: `govern replay-audit` checks hashes, links and
//! signatures, and replays with the stream state reset where the log says.

use serde_json::Value;

use super::Block;
use crate::audit::record::{Kind, Parser};

/// Reads one audit log.
#[derive(Default)]
pub struct Adapter {
    parser: Parser,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter").finish_non_exhaustive()
    }
}

impl Adapter {
    /// One line of the log.
    pub fn line(&mut self, text: &str, line: u64, b: &mut Block) {
        let r = match self.parser.parse(text) {
            Ok(r) => r,
            Err(m) => {
                let what = if m.incomplete {
                    "a record cut short (a torn line)".to_string()
                } else {
                    format!("not an audit record: {}", m.message)
                };
                b.push_error(line, 0, what);
                return;
            }
        };
        let Some(event) = r.event.filter(|_| r.kind == Kind::Decision) else {
            b.not_events += 1;
            return;
        };
        let (Ok(mut ev), Ok(decision)) = (
            serde_json::from_str::<Value>(event),
            serde_json::from_str::<Value>(r.decision),
        ) else {
            b.push_error(line, 0, "the record's event or decision is not JSON");
            return;
        };
        match ev.as_object_mut() {
            Some(o) => {
                o.insert("decision".into(), decision);
                b.push_event(&ev, line, 0);
            }
            None => b.push_error(line, 0, "the record's event is not an object"),
        }
    }
}
