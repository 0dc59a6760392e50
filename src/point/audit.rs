//! The audit log of a decision point, behind one small API so that every door records the
//! same way: each decision recorded in the order the stream decided it, before the
//! decision leaves the point; a bundle record when the bundle in force changes; a final
//! checkpoint on a clean close.
//!
//! Not wired yet: the writer (`crate::audit::AuditLog`, docs/audit.md) is not behind this
//! API, so a point runs without a log: `serve` and `mcp-proxy` take no `--audit-log` yet
//! (`eval --audit-log` writes through the writer directly). Every call site already goes
//! through [`Recorder`], and each of its calls has one counterpart in the writer's API.

use crate::decision::Decision;
use crate::vm::{Outcome, Program};

/// Why the log could not take a record. After one, the log takes no more: with
/// `--audit-required` every later decision is a denial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFailure(pub String);

impl std::fmt::Display for AuditFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The audit log of a point, or none.
#[derive(Default)]
pub struct Recorder {
    /// Records queued and not yet written, by seq.
    queued: u64,
    written: u64,
    failed: Option<AuditFailure>,
}

impl Recorder {
    /// A point without an audit log.
    pub fn none() -> Recorder {
        Recorder::default()
    }

    /// Whether decisions are recorded.
    pub fn is_on(&self) -> bool {
        false
    }

    /// Why the log stopped, if it has.
    pub fn failed(&self) -> Option<&AuditFailure> {
        self.failed.as_ref()
    }

    /// Queues the record of `program`'s decision `outcome` on `decided` (the event as
    /// decided); returns its place in the log (for [`Recorder::flush_to`]).
    pub fn decision(
        &mut self,
        _program: &Program,
        _decided: &str,
        _outcome: &Outcome,
    ) -> Result<u64, AuditFailure> {
        self.check()?;
        self.queued += 1;
        Ok(self.queued)
    }

    /// Queues the record of input that could not be read as an event (`"event": null`)
    /// and the fail-closed decision taken on it.
    pub fn refusal(&mut self, _decision: &Decision) -> Result<u64, AuditFailure> {
        self.check()?;
        self.queued += 1;
        Ok(self.queued)
    }

    /// Writes what is queued, if record `seq` is not written yet (group commit: one write
    /// for every record queued meanwhile).
    pub fn flush_to(&mut self, seq: u64) -> Result<(), AuditFailure> {
        self.check()?;
        if self.written < seq {
            self.written = self.queued;
        }
        Ok(())
    }

    /// Puts the bundle `digest` in force: a bundle record when it changes.
    pub fn change_bundle(&mut self, _digest: &str) -> Result<(), AuditFailure> {
        self.check()
    }

    /// Ends the log cleanly: a final signed checkpoint, everything on disk.
    pub fn close(&mut self) -> Result<(), AuditFailure> {
        self.check()
    }

    fn check(&self) -> Result<(), AuditFailure> {
        match &self.failed {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }
}
