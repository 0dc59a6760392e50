//! Restoring a restarted decision point's stream state from its audit log (docs/audit.md,
//! "Restarts keep the stream state").
//!
//! A point that opens an existing log and finds the same bundle (digest and stream limits)
//! in force as the log's last `bundle` record rebuilds the state that bundle's stream had
//! when the point stopped: it re-decides, in order, every decision record since the bundle
//! record that began that state fresh, with the replay `replay-audit` uses
//! ([`verify::restore`]: the same checks of hashes, chain, torn lines and decisions, one
//! mechanism). It then writes a `bundle` record that says so (`"restored": {"from": S,
//! "decisions": N}`), and `replay-audit` carries its state across that record as the point
//! did. Otherwise the state starts fresh, as it always did: with another bundle (the record's
//! digest shows the change), or with the same one and `"fresh"` saying why (other limits,
//! or `--fresh-state`).
//!
//! **Failing closed.** A log that does not verify over the records read, a decision replay
//! does not reproduce, records that are missing (older rotated files removed), or more
//! records to re-decide than allowed ([`Restore::max_records`]): the point refuses to start,
//! saying why, and the log is left as it was. It never continues with a state it could not
//! rebuild exactly, nor silently with fresh state; `--fresh-state` is the operator's way to
//! start fresh, and the log records it. A torn last line (a crash in the middle of a write)
//! does not stop a restore: the decision in it was never let go (a decision leaves the point
//! only after its record is written), the state is rebuilt from the whole records before
//! it, and the bundle record names the torn line, as it always has.
//!
//! **Cost.** Time is linear in the records since that bundle record (each hashed, linked
//! and re-decided) plus the records before it in the same file (hashed and linked);
//! `--audit-rotate` bounds the latter and [`Restore::max_records`] the former. Memory is the
//! stream state itself (bounded by `--max-keys`) and a few batches of lines in flight.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use super::record::{self, Kind, MAX_RECORD, Parser, Restored};
use super::verify;
use super::writer::{AuditError, AuditLog, Begins, Opened, Options, Prior};
use crate::vm::{Program, State, StreamLimits};

/// How a point restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restore {
    /// Start with fresh state whatever the log holds (`--fresh-state`): the bundle record
    /// says so (`"fresh": "opted-out"`) when the bundle is the same.
    pub fresh: bool,
    /// The most records since the bundle record a restore re-reads (`--restore-max`); a
    /// log with more refuses the restart.
    pub max_records: u64,
}

impl Restore {
    /// The default bound on the records a restore re-reads.
    pub const MAX_RECORDS: u64 = 10_000_000;
}

impl Default for Restore {
    fn default() -> Restore {
        Restore {
            fresh: false,
            max_records: Restore::MAX_RECORDS,
        }
    }
}

/// Opens (or continues) the log at `path` for a point deciding with `program`, restoring
/// the stream state when the log's last bundle record has the same bundle and limits
/// ([`Options::limits`]): returns the state to decide with (`None`: fresh, made with
/// `program.new_state_with(log.limits())`). See the module documentation.
pub fn open(
    path: &std::path::Path,
    program: &Program,
    opts: Options,
    how: Restore,
) -> Result<(AuditLog, Opened, Option<State>), AuditError> {
    AuditLog::open_with(path, &program.digest, opts, |prior| {
        begin(prior, program, how)
    })
}

/// The last bundle record of a log: where it is and what it says.
struct Last {
    seq: u64,
    bundle: String,
    limits: StreamLimits,
    restored: Option<Restored>,
    /// Its file's place in the series.
    segment: usize,
}

/// How the state begins for a point with `program` on the log `prior`.
fn begin(
    prior: &Prior<'_>,
    program: &Program,
    how: Restore,
) -> Result<(Begins, Option<State>), AuditError> {
    let Some(head) = prior.head else {
        return Ok((Begins::Fresh, None));
    };
    let base = prior.base;
    let refuse = |message: String| {
        AuditError::new(base, message).help(
            "check the log with `govern replay-audit`; pass --fresh-state to start with fresh stream state (the log records it), or move the log aside",
        )
    };
    let Some(last) = last_bundle_record(prior.segments)? else {
        return Err(refuse(
            "the log holds no bundle record: the stream state its decisions were taken with cannot be restored".into(),
        ));
    };
    if last.bundle != program.digest {
        return Ok((Begins::Fresh, None));
    }
    if last.limits != prior.limits {
        return Ok((Begins::FreshAnyway(record::Fresh::LimitsChanged), None));
    }
    if how.fresh {
        return Ok((Begins::FreshAnyway(record::Fresh::OptedOut), None));
    }
    let from = last.restored.map_or(last.seq, |r| r.from);
    let records = head.saturating_sub(from) + 1;
    if records > how.max_records {
        return Err(AuditError::new(
            base,
            format!(
                "restoring the stream state means re-deciding the {records} records since seq {from}, more than --restore-max {}",
                how.max_records
            ),
        )
        .help("raise --restore-max, or pass --fresh-state to start with fresh stream state (the log records it)"));
    }
    // The files from the one that holds record `from` on.
    let mut start = None;
    for i in (0..=last.segment).rev() {
        let Some((_, path)) = prior.segments.get(i) else {
            continue;
        };
        let first = verify::first_seq(path).map_err(|m| AuditError::new(path, m))?;
        if first.is_some_and(|f| f <= from) {
            start = Some(i);
            break;
        }
    }
    let Some(start) = start else {
        return Err(refuse(format!(
            "the stream state began at seq {from}, and no file of the log holds that record (were older files removed?)"
        )));
    };
    let mut files: Vec<PathBuf> = prior
        .segments
        .get(start..)
        .unwrap_or(&[])
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    // A newest file that holds no record yet, only the torn line a crash left right after a
    // rotation (the writer has checked that it is one), is not part of the chain to check.
    while files.len() > 1
        && let Some(last) = files.last()
        && matches!(verify::first_seq(last), Ok(None))
    {
        files.pop();
    }
    let (report, state) = verify::restore(&files, program, from);
    if let Some(f) = report.findings.first() {
        let seq = f.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
        let at = if f.line > 0 {
            format!("{}:{}{seq}", f.file, f.line)
        } else {
            format!("{}{seq}", f.file)
        };
        let more = match report.findings.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        return Err(refuse(format!(
            "the stream state cannot be restored: {at}: {}{more}",
            f.message
        )));
    }
    match state {
        Some((state, decisions)) => {
            Ok((Begins::Restored(Restored { from, decisions }), Some(state)))
        }
        None => Err(refuse(format!(
            "the stream state cannot be restored: the state in force at the end of the log does not begin at seq {from}"
        ))),
    }
}

/// Finds the last bundle record, reading the newest file first and older ones only while
/// none is found. Lines that are not records are passed over here: the restore's checks
/// report them.
fn last_bundle_record(segments: &[(u64, PathBuf)]) -> Result<Option<Last>, AuditError> {
    let mut parser = Parser::default();
    let mut buf = Vec::new();
    for (i, (_, path)) in segments.iter().enumerate().rev() {
        let f = File::open(path).map_err(|e| AuditError::new(path, format!("cannot read: {e}")))?;
        let mut r = BufReader::with_capacity(1 << 18, f);
        let mut found = None;
        loop {
            buf.clear();
            let n = (&mut r)
                .take(MAX_RECORD as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| AuditError::new(path, format!("cannot read: {e}")))?;
            if n == 0 {
                break;
            }
            // Only bundle records and checkpoints have a `kind`: the others are not parsed.
            if memchr::memmem::find(&buf, b"\"kind\"").is_none() {
                continue;
            }
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            if let Ok(t) = std::str::from_utf8(line)
                && let Ok(rec) = parser.parse(t)
                && rec.kind == Kind::Bundle
            {
                found = Some(Last {
                    seq: rec.seq,
                    bundle: rec.bundle.to_string(),
                    limits: rec.limits,
                    restored: rec.restored,
                    segment: i,
                });
            }
        }
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}
