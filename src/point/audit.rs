//! The audit log of a decision point, behind one small API so that every door records the
//! same way: each decision recorded in the order the stream decided it, before the
//! decision leaves the point; a bundle record when the bundle in force changes; a final
//! checkpoint on a clean close.
//!
//! A [`Recorder`] is the writer ([`crate::audit::AuditLog`], docs/audit.md) as a point holds
//! it: inside the point's serial section, together with the stream state, so that the
//! records are in the order the state saw their decisions and `replay-audit` reproduces
//! them. Decisions are *queued* there ([`Recorder::decision`], [`Recorder::refusal`]) and
//! written by [`Recorder::flush_to`] before any of them leaves the point: one `write` for
//! every record queued meanwhile (group commit). After a write error the log takes no more
//! records: every later call fails with the same [`AuditFailure`], and the point either
//! denies (`--audit-required`) or goes on deciding without a record, saying so.

use std::path::PathBuf;

use crate::audit::restore::Restore;
use crate::audit::{AuditError, AuditLog, DecidedEvent, Head, Opened};
use crate::decision::Decision;
use crate::vm::{Outcome, Program, State, StreamLimits};

/// Why the log could not take a record. After one, the log takes no more: with
/// `--audit-required` every later decision is a denial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFailure(pub String);

impl std::fmt::Display for AuditFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<AuditError> for AuditFailure {
    fn from(e: AuditError) -> AuditFailure {
        AuditFailure(e.to_string())
    }
}

enum Log {
    /// No audit log.
    None,
    /// To be opened when the point knows the bundle in force ([`Recorder::open`]).
    Pending(Box<(PathBuf, crate::audit::Options, Restore)>),
    Open(Box<AuditLog>),
    /// Closed cleanly.
    Closed,
}

/// The audit log of a point, or none.
pub struct Recorder {
    log: Log,
    /// The highest seq queued, and the highest known to be written.
    queued: Option<u64>,
    written: Option<u64>,
    failed: Option<AuditFailure>,
    /// Every record waits for the disk (`--audit-sync always`).
    syncs_each: bool,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::none()
    }
}

impl Recorder {
    /// A point without an audit log.
    pub fn none() -> Recorder {
        Recorder {
            log: Log::None,
            queued: None,
            written: None,
            failed: None,
            syncs_each: false,
        }
    }

    /// A point that writes the audit log at `path` with `opts`, opened (or continued) by
    /// [`Recorder::open`] once the bundle in force is known; `opts.limits` is set there to
    /// the limits the point's stream state is made with.
    pub fn to(path: PathBuf, opts: crate::audit::Options) -> Recorder {
        Recorder::restoring(path, opts, Restore::default())
    }

    /// Like [`Recorder::to`], restarting as `restore` says: by default a log whose last
    /// bundle record has the bundle and limits of the point gives back the stream state
    /// ([`crate::audit::restore`]).
    pub fn restoring(path: PathBuf, opts: crate::audit::Options, restore: Restore) -> Recorder {
        Recorder {
            syncs_each: opts.sync == crate::audit::SyncMode::Always,
            log: Log::Pending(Box::new((path, opts, restore))),
            ..Recorder::none()
        }
    }

    /// Opens the log for a point deciding with `program` and stream state made with
    /// `limits`: its first record is a `bundle` record, and the stream state is restored
    /// from the log when it can be (returned; `None`: fresh state). Nothing without a log.
    pub fn open(
        &mut self,
        program: &Program,
        limits: StreamLimits,
    ) -> Result<Option<(Opened, Option<State>)>, AuditError> {
        match std::mem::replace(&mut self.log, Log::None) {
            Log::Pending(pending) => {
                let (path, mut opts, restore) = *pending;
                opts.limits = limits;
                let (log, opened, state) =
                    crate::audit::restore::open(&path, program, opts, restore)?;
                self.log = Log::Open(Box::new(log));
                Ok(Some((opened, state)))
            }
            other => {
                self.log = other;
                Ok(None)
            }
        }
    }

    /// Whether decisions are recorded.
    pub fn is_on(&self) -> bool {
        !matches!(self.log, Log::None)
    }

    /// Whether writing a record waits for the disk (`fdatasync` per record): a door then
    /// decides off its event loop, within a time budget. Otherwise a write goes to the page
    /// cache and costs about what a decision does.
    pub fn waits_for_disk(&self) -> bool {
        self.is_on() && self.syncs_each
    }

    /// Why the log stopped, if it has.
    pub fn failed(&self) -> Option<&AuditFailure> {
        self.failed.as_ref()
    }

    /// The open log, or why there is none to write to.
    fn log(&mut self) -> Result<&mut AuditLog, AuditFailure> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        match &mut self.log {
            Log::Open(log) => Ok(log),
            Log::Closed => Err(AuditFailure("the audit log is closed".into())),
            Log::None | Log::Pending(_) => Err(AuditFailure("no audit log is open".into())),
        }
    }

    /// Keeps the first failure: the log takes no more records after it.
    fn fail(&mut self, e: AuditError) -> AuditFailure {
        let f = AuditFailure::from(e);
        self.failed.get_or_insert(f).clone()
    }

    fn queued(&mut self, r: Result<u64, AuditError>) -> Result<u64, AuditFailure> {
        match r {
            Ok(seq) => {
                self.queued = Some(seq);
                Ok(seq)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Queues the record of `program`'s decision `outcome` on `decided` (the event as
    /// decided, the text the VM read); returns its seq (for [`Recorder::flush_to`]).
    pub fn decision(
        &mut self,
        program: &Program,
        decided: &DecidedEvent,
        outcome: &Outcome,
    ) -> Result<u64, AuditFailure> {
        let r = self.log()?.queue_outcome(decided, program, outcome);
        self.queued(r)
    }

    /// Queues the record of input that could not be read as an event (`"event": null`)
    /// and the fail-closed decision taken on it.
    pub fn refusal(&mut self, decision: &Decision) -> Result<u64, AuditFailure> {
        let r = self.log()?.queue_decision(None, decision);
        self.queued(r)
    }

    /// Writes what is queued, if record `seq` is not written yet (group commit: one write
    /// for every record queued meanwhile).
    pub fn flush_to(&mut self, seq: u64) -> Result<(), AuditFailure> {
        if self.written.is_some_and(|w| w >= seq) {
            return self.failed.clone().map_or(Ok(()), Err);
        }
        let r = self.log()?.flush();
        match r {
            Ok(()) => {
                self.written = self.queued;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Puts the bundle `digest` in force: a bundle record when it changes (the caller then
    /// decides with fresh stream state). Returns whether it changed.
    pub fn change_bundle(&mut self, digest: &str) -> Result<bool, AuditFailure> {
        if matches!(self.log, Log::None) {
            return Ok(false);
        }
        let r = self.log()?.change_bundle(digest);
        match r {
            Ok(changed) => {
                // The bundle record is written with everything queued before it.
                self.written = self.queued;
                Ok(changed)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Ends the log cleanly: a final signed checkpoint (with a key), everything on disk.
    /// Returns the head to keep elsewhere (none without a log).
    pub fn close(&mut self) -> Result<Option<Head>, AuditFailure> {
        match std::mem::replace(&mut self.log, Log::Closed) {
            Log::Open(log) => {
                if let Some(f) = &self.failed {
                    // Dropping writes nothing more to a log that stopped.
                    drop(log);
                    return Err(f.clone());
                }
                match log.close() {
                    Ok(head) => Ok(Some(head)),
                    Err(e) => Err(self.fail(e)),
                }
            }
            Log::None => {
                self.log = Log::None;
                Ok(None)
            }
            Log::Pending(_) | Log::Closed => Ok(None),
        }
    }
}
