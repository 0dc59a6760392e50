//! [`AuditLog`]: the writer every decision point uses (docs/audit.md, "The library API").
//!
//! ```text
//! // open (or continue) the log: a `bundle` record, fresh state with the recorded limits
//! let (mut log, opened) = AuditLog::open(path, &program.digest, Options {
//!     sync: SyncMode::Batch, key: Some(key), checkpoint_every: Some(1000), rotate: None,
//!     limits: StreamLimits::trusted_time(),        // a point that stamps its own clock
//! })?;
//! let mut state = program.new_state_with(log.limits());
//! // a decision record, before the decision is used (Err: deny, fail closed)
//! let event = DecidedEvent::parse_stamped(text, now)?;      // the event as decided
//! program.read_event(event.as_str(), &mut ev)?;
//! program.eval_at(&mut ev, now, &mut state, &mut outcome);  // host time, trusted
//! log.append_outcome(&event, &program, &outcome)?;
//! // input that is not an event: log.append_decision(None, &Decision::error(digest, why))?
//! // a bundle record on reload, and fresh state as replay will have it
//! if log.change_bundle(&new.digest)? { state = new.new_state_with(log.limits()); }
//! log.checkpoint()?;                                        // also automatic
//! let head = log.close()?;                                  // final checkpoint, sync
//! ```
//!
//! **Threads.** `AuditLog` is `Send` and every call takes `&mut self`: a decision point that
//! decides on several threads keeps the log and the stream state behind **one** lock and
//! decides and appends in one critical section, so that the records are in the order the
//! state saw their decisions (replay decides them in that order with one state). The event's
//! canonical text can be made outside the lock. One log holds one stream: independent
//! streams take a log each.
//!
//! Records go to a file opened with `O_APPEND`, each whole in one `write`: `append_*` writes
//! its record before it returns; `queue_*` and [`AuditLog::flush`] write a group of records
//! with one `write` (group commit), and the caller lets the group's decisions go only after
//! the flush. Either way no decision is used before its record is in the file, so a crash of
//! the process loses no record of a decision that was used. What a power failure loses
//! depends on [`SyncMode`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64ct::Encoding as _;

use super::record::{self, DecidedEvent, GENESIS, MAX_RECORD, Parser, quote};
use crate::decision::Decision;
use crate::sign::PrivateKey;
use crate::vm::{Outcome, Program, StreamLimits};

/// When records reach the disk (`fdatasync`), and so what a power failure can lose. A crash
/// of the process alone never loses a record: each is written before its decision returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// After every record: a power failure loses nothing that was decided. Costs a disk
    /// flush per decision (milliseconds on most disks).
    Always,
    /// At most [`BATCH_INTERVAL`] after a record, from a background thread, and at every
    /// rotation and close: a power failure loses at most the records of that interval.
    #[default]
    Batch,
    /// Only at rotation and close; otherwise when the operating system writes back (about
    /// 30 s on Linux): a power failure loses what it had not written.
    None,
}

/// How long a record may wait for `fdatasync` with [`SyncMode::Batch`].
pub const BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Queued records are written once they reach this many bytes, flush or not.
pub const GROUP_BYTES: usize = 64 * 1024;

/// Records between checkpoints when a key is given and no interval is.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// The most torn lines a log may end with for the writer to continue after them.
const MAX_TORN: usize = 16;

/// How a log is written. The default: [`SyncMode::Batch`], no key (no checkpoints), one
/// file, and [`StreamLimits::trusted_time`] (the default bound on keys, every `ts` believed:
/// the limits of a live point that stamps its own clock into events).
#[derive(Debug)]
pub struct Options {
    pub sync: SyncMode,
    /// Signs checkpoints (every `checkpoint_every` records, at rotation and at close).
    pub key: Option<PrivateKey>,
    /// Records between checkpoints (default [`DEFAULT_CHECKPOINT_EVERY`] with a key).
    pub checkpoint_every: Option<u64>,
    /// Start a new file once the current one holds this many bytes.
    pub rotate: Option<u64>,
    /// The limits of the stream state the decision point decides with (recorded in every
    /// `bundle` record: replay starts its state with the same). Make every stream state with
    /// [`AuditLog::limits`]. A point that stamps the host time into events
    /// ([`Program::eval_at`]) believes its own clock: `max_skew: None`, the default. A point
    /// that decides on the events' own `ts` keeps a skew (`StreamLimits::default()`).
    pub limits: StreamLimits,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sync: SyncMode::default(),
            key: None,
            checkpoint_every: None,
            rotate: None,
            limits: StreamLimits::trusted_time(),
        }
    }
}

/// Why the log could not be opened or written. After a write error the log refuses every
/// further record: the decision point must fail closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditError {
    pub file: String,
    pub message: String,
    pub help: Option<String>,
}

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for AuditError {}

impl AuditError {
    pub(crate) fn new(file: &Path, message: impl Into<String>) -> AuditError {
        AuditError {
            file: crate::source::display(file),
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> AuditError {
        self.help = Some(help.into());
        self
    }

    /// As a diagnostic (`govern::audit`).
    pub fn to_diag(&self) -> crate::diag::Diag {
        let d = crate::diag::Diag::error("govern::audit", self.message.clone())
            .in_file(self.file.clone(), None);
        match &self.help {
            Some(h) => d.help(h.clone()),
            None => d,
        }
    }
}

/// Lines at the end of a log that a crash cut short, found when it was opened again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torn {
    pub file: String,
    pub bytes: usize,
    /// `sha256:` of the line's bytes, recorded in the record that continues after it.
    pub digest: String,
}

/// What opening found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The file records go to.
    pub file: PathBuf,
    /// The seq of the first record this writer appends (0 for a new log).
    pub seq: u64,
    /// Whether an existing chain is continued.
    pub continued: bool,
    /// How the stream state begins, as the `bundle` record written on opening says.
    pub begins: Begins,
    /// Torn lines the chain continues after.
    pub torn: Vec<Torn>,
}

/// How the stream state begins at a `bundle` record written on opening a log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Begins {
    /// Fresh (a new log, another bundle than the log's last, or a reload).
    #[default]
    Fresh,
    /// Fresh although the log's last bundle record has the same bundle, and why.
    FreshAnyway(record::Fresh),
    /// Restored from the log ([`crate::audit::restore`]).
    Restored(record::Restored),
}

/// An existing log as [`AuditLog::open_with`] found it, under its lock.
#[derive(Debug)]
pub struct Prior<'a> {
    /// The log's name (its first file).
    pub base: &'a Path,
    /// Its files that exist, by number ([`segments`]).
    pub segments: &'a [(u64, PathBuf)],
    /// The seq of its last record (`None`: no record yet).
    pub head: Option<u64>,
    /// The limits the point's stream state is made with ([`Options::limits`]).
    pub limits: StreamLimits,
}

/// The chain position after a record: the record's seq and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// An open audit log. See the module documentation.
pub struct AuditLog {
    base: PathBuf,
    path: PathBuf,
    segment: u64,
    file: File,
    /// Held for the writer's life: one writer per log.
    _lock: File,
    size: u64,
    /// The seq of the next record.
    seq: u64,
    /// The hash of the last record.
    last: String,
    bundle: String,
    since_checkpoint: u64,
    checkpoint_every: Option<u64>,
    key: Option<PrivateKey>,
    sync: SyncMode,
    rotate: Option<u64>,
    limits: StreamLimits,
    syncer: Option<Syncer>,
    /// The start of the decision records of the bundle in force, hashed.
    prefix: record::DecisionPrefix,
    /// The decision objects of the bundle in force, by leaves.
    outcomes: record::OutcomeCache,
    line: String,
    tail: String,
    next: String,
    /// Record lines waiting for one `write` (see [`AuditLog::flush`]): decision records
    /// are written here directly.
    pending: String,
    failed: Option<String>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log at `path` (or the newest file of its rotated series), continuing its
    /// chain, or creates it; then appends a `bundle` record: `bundle` is in force from here,
    /// with fresh stream state. Lines a crash left torn at the end are kept, reported in
    /// [`Opened::torn`], and named (by digest) in that record. A log whose last record is
    /// damaged is refused: the chain cannot be continued from it.
    pub fn open(
        path: &Path,
        bundle: &str,
        opts: Options,
    ) -> Result<(AuditLog, Opened), AuditError> {
        Self::open_with(path, bundle, opts, |_| Ok((Begins::Fresh, ()))).map(|(l, o, ())| (l, o))
    }

    /// Like [`AuditLog::open`], but how the stream state begins is decided by `begin`, which
    /// sees the log as it is ([`Prior`]) once this writer holds its lock and before the
    /// `bundle` record is written; the record then says what `begin` returned
    /// ([`Begins`]). An error from `begin` leaves the log as it was. See
    /// [`crate::audit::restore`].
    pub fn open_with<T>(
        path: &Path,
        bundle: &str,
        opts: Options,
        begin: impl FnOnce(&Prior<'_>) -> Result<(Begins, T), AuditError>,
    ) -> Result<(AuditLog, Opened, T), AuditError> {
        if !record::is_digest(bundle) {
            return Err(AuditError::new(
                path,
                format!("`{bundle}` is not a bundle digest"),
            ));
        }
        if opts.checkpoint_every == Some(0) {
            return Err(AuditError::new(path, "checkpoints every 0 records")
                .help("give --checkpoint-every a number of records of 1 or more"));
        }
        if opts.checkpoint_every.is_some() && opts.key.is_none() {
            return Err(AuditError::new(path, "checkpoints need a signing key")
                .help("pass --audit-key with a private key (`govern keygen`)"));
        }
        if opts.rotate == Some(0) {
            return Err(AuditError::new(path, "rotation at 0 bytes"));
        }
        let lock = open_append(path, true)?;
        lock.try_lock().map_err(|_| {
            AuditError::new(path, "the audit log is in use by another process")
                .help("one decision point writes one log: give each its own file")
        })?;
        let segments = segments(path).map_err(|e| io_error(path, "cannot list", &e))?;
        let (segment, active) = segments
            .last()
            .cloned()
            .unwrap_or_else(|| (0, path.to_path_buf()));
        // The chain head: the last record of the newest file that has one.
        let mut head: Option<(u64, String)> = None;
        let mut torn = Vec::new();
        let mut needs_newline = false;
        for (i, (_, p)) in segments.iter().enumerate().rev() {
            let tail = read_tail(p)?;
            if i + 1 == segments.len() {
                needs_newline = tail.unterminated_record;
            }
            torn.splice(0..0, tail.torn);
            if let Some(h) = tail.head {
                head = Some(h);
                break;
            }
        }
        let file = open_append(&active, true)?;
        let size = file
            .metadata()
            .map_err(|e| io_error(&active, "cannot read", &e))?
            .len();
        let continued = head.is_some();
        let (seq, last) = match head {
            Some((seq, hash)) => (seq + 1, hash),
            None if !torn.is_empty() => {
                return Err(AuditError::new(
                    &active,
                    "the log holds no complete record, only a torn line",
                )
                .help("move the file aside to start a new log"));
            }
            None => (0, GENESIS.to_string()),
        };
        let (begins, out) = begin(&Prior {
            base: path,
            segments: &segments,
            head: continued.then(|| seq - 1),
            limits: opts.limits,
        })?;
        let key = opts.key;
        let mut log = AuditLog {
            base: path.to_path_buf(),
            path: active.clone(),
            segment,
            file,
            _lock: lock,
            size,
            seq,
            last,
            bundle: bundle.to_string(),
            since_checkpoint: 0,
            checkpoint_every: opts
                .checkpoint_every
                .or(key.as_ref().map(|_| DEFAULT_CHECKPOINT_EVERY)),
            key,
            sync: opts.sync,
            rotate: opts.rotate,
            limits: opts.limits,
            syncer: None,
            prefix: record::DecisionPrefix::new(bundle),
            outcomes: record::OutcomeCache::default(),
            line: String::with_capacity(1024),
            tail: String::with_capacity(128),
            next: String::with_capacity(71),
            pending: String::with_capacity(GROUP_BYTES + 4096),
            failed: None,
        };
        if log.sync == SyncMode::Batch {
            log.syncer = Some(Syncer::start(&log.file, &log.path)?);
        }
        let opened = Opened {
            file: active,
            seq,
            continued,
            begins,
            torn: torn
                .iter()
                .map(|(file, bytes)| Torn {
                    file: file.clone(),
                    bytes: bytes.len(),
                    digest: record::digest_of(bytes),
                })
                .collect(),
        };
        let digests: Vec<String> = opened.torn.iter().map(|t| quote(&t.digest)).collect();
        let prefix = if needs_newline || !torn.is_empty() && !ends_with_newline(&log.path) {
            "\n"
        } else {
            ""
        };
        log.bundle_record(&digests, prefix, begins)?;
        log.flush()?;
        Ok((log, opened, out))
    }

    /// The seq and hash of the last record written.
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq.saturating_sub(1),
            hash: self.last.clone(),
        }
    }

    /// The file records go to now.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bundle in force.
    pub fn bundle(&self) -> &str {
        &self.bundle
    }

    /// The stream limits the log records in its `bundle` records ([`Options::limits`]): a
    /// decision point starts every stream state with them (`program.new_state_with(
    /// log.limits())`), so that replay decides with the same.
    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    /// Appends a decision, written to the file before this returns; returns its seq.
    /// `event` is the event as decided (`None` for input that could not be read as an
    /// event: the decision must then be the fail-closed deny with an error). An error means
    /// the record is not written: the decision must not be used (deny instead), and every
    /// later append fails too.
    pub fn append_decision(
        &mut self,
        event: Option<&DecidedEvent>,
        decision: &Decision,
    ) -> Result<u64, AuditError> {
        let seq = self.queue_decision(event, decision)?;
        self.flush()?;
        Ok(seq)
    }

    /// Appends the decision `program` took on `event` (the fast path of
    /// [`AuditLog::append_decision`]).
    pub fn append_outcome(
        &mut self,
        event: &DecidedEvent,
        program: &Program,
        outcome: &Outcome,
    ) -> Result<u64, AuditError> {
        let seq = self.queue_outcome(event, program, outcome)?;
        self.flush()?;
        Ok(seq)
    }

    /// Like [`AuditLog::append_decision`], but the record waits (in memory, at most
    /// [`GROUP_BYTES`]) to be written with others by one `write`: group commit. The caller
    /// must [`flush`](AuditLog::flush) before it lets the decision go. With
    /// [`SyncMode::Always`] every record is written and synced at once.
    pub fn queue_decision(
        &mut self,
        event: Option<&DecidedEvent>,
        decision: &Decision,
    ) -> Result<u64, AuditError> {
        if decision.error.is_none() && event.is_none() {
            return Err(AuditError::new(&self.path, "a decision without its event")
                .help("only input that could not be read as an event is recorded without one"));
        }
        self.decision_record(
            &decision.bundle,
            event.map(DecidedEvent::as_str),
            |out, _, _| {
                record::write_decision(decision, out);
                None
            },
        )
    }

    /// Like [`AuditLog::append_outcome`], queued as [`AuditLog::queue_decision`] is.
    pub fn queue_outcome(
        &mut self,
        event: &DecidedEvent,
        program: &Program,
        outcome: &Outcome,
    ) -> Result<u64, AuditError> {
        self.decision_record(
            &program.digest,
            Some(event.as_str()),
            |out, prefix, cache| cache.write_sealed(program, outcome, prefix, out),
        )
    }

    /// Puts `bundle` in force. Returns `true` when it differs from the bundle in force: a
    /// `bundle` record was appended, and the caller must decide what follows with fresh
    /// stream state (`program.new_state_with(log.limits())`), as replay will. The same
    /// digest again changes nothing.
    pub fn change_bundle(&mut self, bundle: &str) -> Result<bool, AuditError> {
        if !record::is_digest(bundle) {
            return Err(AuditError::new(
                &self.path,
                format!("`{bundle}` is not a bundle digest"),
            ));
        }
        if bundle == self.bundle {
            return Ok(false);
        }
        self.bundle = bundle.to_string();
        self.prefix = record::DecisionPrefix::new(bundle);
        self.outcomes.clear();
        self.bundle_record(&[], "", Begins::Fresh)?;
        self.flush()?;
        Ok(true)
    }

    /// Appends a signed checkpoint now and returns its seq (nothing without a key, or right
    /// after another).
    pub fn checkpoint(&mut self) -> Result<Option<u64>, AuditError> {
        self.check()?;
        if self.key.is_none() || self.since_checkpoint == 0 {
            return Ok(None);
        }
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let ts = crate::trace::format_ts(crate::sign::now_ns());
        let msg =
            record::checkpoint_message(self.seq, &self.last, key.id(), &self.last, self.seq, &ts);
        let sig = base64ct::Base64::encode_string(&key.sign(msg.as_bytes()));
        let (seq, head, keyid) = (self.seq.to_string(), quote(&self.last), quote(key.id()));
        let members = [
            ("count", seq.as_str()),
            ("head", head.as_str()),
            ("keyid", keyid.as_str()),
            ("kind", "\"checkpoint\""),
            ("prev", head.as_str()),
            ("seq", seq.as_str()),
            ("sig", &quote(&sig)),
            ("ts", &quote(&ts)),
        ];
        let mut line = std::mem::take(&mut self.line);
        let mut hash = record::seal(&members, &mut line);
        let r = self.emit(&line, "", &mut hash, true);
        self.line = line;
        r.map(Some)
    }

    /// Ends the log cleanly: a final checkpoint (with a key), and everything on disk.
    pub fn close(mut self) -> Result<Head, AuditError> {
        self.checkpoint()?;
        self.flush()?;
        self.stop_syncer()?;
        self.file
            .sync_data()
            .map_err(|e| io_error(&self.path, "cannot sync", &e))?;
        Ok(self.head())
    }

    fn check(&self) -> Result<(), AuditError> {
        match &self.failed {
            Some(m) => Err(AuditError::new(
                &self.path,
                format!("the log stopped after an error: {m}"),
            )
            .help(
                "the decision point must stop deciding; open the log again to continue its chain",
            )),
            None => Ok(()),
        }
    }

    fn decision_record(
        &mut self,
        bundle: &str,
        event: Option<&str>,
        decision: impl FnOnce(
            &mut String,
            &record::DecisionPrefix,
            &mut record::OutcomeCache,
        ) -> Option<(sha2::Sha256, usize)>,
    ) -> Result<u64, AuditError> {
        self.check()?;
        if bundle != self.bundle {
            return Err(AuditError::new(
                &self.path,
                format!("a decision by {bundle} while {} is in force", self.bundle),
            )
            .help("call change_bundle when the bundle in force changes"));
        }
        // Written where it waits to be written, hashed on the way.
        let start = self.pending.len();
        let mut hash = std::mem::take(&mut self.next);
        let len = record::seal_decision(
            &mut self.pending,
            &mut self.tail,
            &mut hash,
            &self.prefix,
            |out, prefix| decision(out, prefix, &mut self.outcomes),
            event,
            &self.last,
            self.seq,
            crate::sign::now_ns(),
        );
        let r = match self.too_large(len) {
            Some(e) => {
                self.pending.truncate(start);
                Err(e)
            }
            None => self.moved(len, &mut hash, false),
        };
        self.next = hash;
        let seq = r?;
        self.after_record()?;
        Ok(seq)
    }

    fn bundle_record(
        &mut self,
        torn: &[String],
        prefix: &str,
        begins: Begins,
    ) -> Result<u64, AuditError> {
        self.check()?;
        let ts = crate::trace::format_ts(crate::sign::now_ns());
        let (b, prev, seq) = (quote(&self.bundle), quote(&self.last), self.seq.to_string());
        let torn_list = format!("[{}]", torn.join(","));
        let limits = record::limits_json(&self.limits);
        let (fresh, restored) = match begins {
            Begins::Fresh => (None, None),
            Begins::FreshAnyway(f) => (Some(quote(f.as_str())), None),
            Begins::Restored(r) => (None, Some(r.to_json())),
        };
        let mut members = vec![("bundle", b.as_str())];
        if let Some(f) = &fresh {
            members.push(("fresh", f.as_str()));
        }
        members.extend([
            ("kind", "\"bundle\""),
            ("limits", limits.as_str()),
            ("prev", prev.as_str()),
        ]);
        if let Some(r) = &restored {
            members.push(("restored", r.as_str()));
        }
        members.push(("seq", seq.as_str()));
        if !torn.is_empty() {
            members.push(("torn", &torn_list));
        }
        let ts = quote(&ts);
        members.push(("ts", &ts));
        let mut line = std::mem::take(&mut self.line);
        let mut hash = record::seal(&members, &mut line);
        let r = self.emit(&line, prefix, &mut hash, false);
        self.line = line;
        let seq = r?;
        self.after_record()?;
        Ok(seq)
    }

    /// Checkpoint and rotation after a record.
    fn after_record(&mut self) -> Result<(), AuditError> {
        if let Some(n) = self.checkpoint_every
            && self.since_checkpoint >= n
        {
            self.checkpoint()?;
        }
        if let Some(max) = self.rotate
            && self.size >= max
        {
            self.rotate_now()?;
        }
        Ok(())
    }

    /// Adds a record line (after `prefix`, a newline ending a torn line) to the group
    /// waiting to be written, and moves the chain on; writes the group when the mode says
    /// so (`always`) or it is large. Returns the record's seq.
    fn emit(
        &mut self,
        line: &str,
        prefix: &str,
        hash: &mut String,
        checkpoint: bool,
    ) -> Result<u64, AuditError> {
        if let Some(e) = self.too_large(line.len()) {
            return Err(e);
        }
        self.pending.push_str(prefix);
        self.pending.push_str(line);
        self.moved(prefix.len() + line.len(), hash, checkpoint)
    }

    /// A record line of `len` bytes is too large to write.
    fn too_large(&self, len: usize) -> Option<AuditError> {
        (len > MAX_RECORD).then(|| {
            AuditError::new(
                &self.path,
                format!(
                    "a record of {len} bytes is larger than the {} MiB a record may be",
                    MAX_RECORD >> 20
                ),
            )
        })
    }

    /// Moves the chain on past a record of `len` bytes just added to the group (its hash in
    /// `hash`, swapped with the previous one); writes the group when the mode says so
    /// (`always`) or it is large. Returns the record's seq.
    fn moved(
        &mut self,
        len: usize,
        hash: &mut String,
        checkpoint: bool,
    ) -> Result<u64, AuditError> {
        self.size += len as u64;
        let seq = self.seq;
        self.seq += 1;
        std::mem::swap(&mut self.last, hash);
        self.since_checkpoint = if checkpoint {
            0
        } else {
            self.since_checkpoint + 1
        };
        if self.sync == SyncMode::Always || self.pending.len() >= GROUP_BYTES {
            self.flush()?;
        }
        Ok(seq)
    }

    /// Writes the records queued so far ([`AuditLog::queue_outcome`]) with one `write`,
    /// each of them whole. A decision point calls it before it lets any of their decisions
    /// go; on an error none of them may be used (the log may hold some of them: it then
    /// shows decisions that were denied instead, never misses one that was acted upon).
    pub fn flush(&mut self) -> Result<(), AuditError> {
        self.check()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(s) = &self.syncer
            && let Some(e) = s.error()
        {
            self.failed = Some(format!("cannot sync: {e}"));
            return Err(AuditError::new(&self.path, format!("cannot sync: {e}")));
        }
        loop {
            match self.file.write(self.pending.as_bytes()) {
                Ok(n) if n == self.pending.len() => break,
                Ok(n) => {
                    let m = format!(
                        "only {n} of {} bytes of records were written (disk full?)",
                        self.pending.len()
                    );
                    self.failed = Some(m.clone());
                    return Err(AuditError::new(&self.path, m));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = Some(e.to_string());
                    return Err(io_error(&self.path, "cannot write", &e));
                }
            }
        }
        self.pending.clear();
        match self.sync {
            SyncMode::Always => {
                if let Err(e) = self.file.sync_data() {
                    self.failed = Some(format!("cannot sync: {e}"));
                    return Err(io_error(&self.path, "cannot sync", &e));
                }
            }
            SyncMode::Batch => {
                if let Some(s) = &self.syncer {
                    s.dirty.store(true, Ordering::Release);
                }
            }
            SyncMode::None => {}
        }
        Ok(())
    }

    fn rotate_now(&mut self) -> Result<(), AuditError> {
        self.checkpoint()?;
        self.flush()?;
        if let Err(e) = self.file.sync_data() {
            self.failed = Some(format!("cannot sync: {e}"));
            return Err(io_error(&self.path, "cannot sync", &e));
        }
        let next = self.segment + 1;
        let path = segment_path(&self.base, next);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode_0600()
            .open(&path)
            .map_err(|e| {
                self.failed = Some(e.to_string());
                io_error(&path, "cannot create", &e)
            })?;
        sync_dir(&path);
        if let Some(s) = &self.syncer
            && let Ok(f) = file.try_clone()
        {
            s.switch(f);
        }
        self.file = file;
        self.path = path;
        self.segment = next;
        self.size = 0;
        Ok(())
    }

    fn stop_syncer(&mut self) -> Result<(), AuditError> {
        if let Some(s) = self.syncer.take() {
            let err = s.stop();
            if let Some(e) = err {
                return Err(AuditError::new(&self.path, format!("cannot sync: {e}")));
            }
        }
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // Not a clean shutdown (no checkpoint), but what was queued is written and what was
        // written reaches the disk.
        if self.failed.is_none() {
            let _ = self.flush();
        }
        if let Some(s) = self.syncer.take() {
            let _ = s.stop();
        }
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            self.mode(0o600);
        }
        self
    }
}

fn io_error(path: &Path, what: &str, e: &io::Error) -> AuditError {
    AuditError::new(path, format!("{what}: {e}"))
}

fn open_append(path: &Path, create: bool) -> Result<File, AuditError> {
    let created = !path.exists();
    let f = OpenOptions::new()
        .append(true)
        .read(true)
        .create(true)
        .mode_0600()
        .open(path)
        .map_err(|e| io_error(path, "cannot open the audit log", &e))?;
    if create && created {
        sync_dir(path);
    }
    Ok(f)
}

/// Makes a new file's name durable (best effort: not every system can sync a directory).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The name of rotated file `n` of the log at `base`: `audit.jsonl` → `audit.1.jsonl`.
pub fn segment_path(base: &Path, n: u64) -> PathBuf {
    if n == 0 {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}.{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{n}"),
    };
    base.with_file_name(name)
}

/// The files of the log at `base` that exist, by number: `base` itself and its rotations.
pub fn segments(base: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    if base.exists() {
        out.push((0, base.to_path_buf()));
    }
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    for entry in std::fs::read_dir(&dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let n = name
            .strip_prefix(&format!("{stem}."))
            .and_then(|r| r.strip_suffix(&ext))
            .filter(|n| {
                !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) && !n.starts_with('0')
            })
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            out.push((n, dir.join(&name)));
        }
    }
    out.sort();
    Ok(out)
}

fn ends_with_newline(path: &Path) -> bool {
    let Ok(mut f) = File::open(path) else {
        return true;
    };
    let Ok(len) = f.seek(SeekFrom::End(0)) else {
        return true;
    };
    if len == 0 {
        return true;
    }
    let mut b = [0u8; 1];
    f.seek(SeekFrom::End(-1)).is_err() || f.read_exact(&mut b).is_err() || b[0] == b'\n'
}

/// The end of one file: its last record (seq, hash), the torn lines after it (file, bytes),
/// and whether that record lacks its newline.
struct Tail {
    head: Option<(u64, String)>,
    torn: Vec<(String, Vec<u8>)>,
    unterminated_record: bool,
}

/// Reads backwards from the end of `path` to its last complete, intact record.
fn read_tail(path: &Path) -> Result<Tail, AuditError> {
    let name = crate::source::display(path);
    let mut f = File::open(path).map_err(|e| io_error(path, "cannot read", &e))?;
    let len = f
        .seek(SeekFrom::End(0))
        .map_err(|e| io_error(path, "cannot read", &e))?;
    let mut want: u64 = 1 << 20;
    loop {
        let from = len.saturating_sub(want);
        let mut buf = Vec::with_capacity((len - from) as usize);
        f.seek(SeekFrom::Start(from))
            .and_then(|_| (&mut f).take(len - from).read_to_end(&mut buf))
            .map_err(|e| io_error(path, "cannot read", &e))?;
        let mut lines: Vec<&[u8]> = buf.split(|&c| c == b'\n').collect();
        // The bytes after the last newline: empty when the file ends with one.
        let fragment = lines.pop().unwrap_or(&[]);
        if from > 0 {
            if lines.is_empty() {
                // Not one whole line yet.
                want = grow(path, want)?;
                continue;
            }
            // The first piece may start mid-line.
            lines.remove(0);
        }
        let mut torn = Vec::new();
        if !fragment.is_empty() {
            match classify(fragment) {
                Line::Record(seq, hash) => {
                    return Ok(Tail {
                        head: Some((seq, hash)),
                        torn,
                        unterminated_record: true,
                    });
                }
                Line::Incomplete => torn.push((name.clone(), fragment.to_vec())),
                Line::Damaged(m) => return Err(damaged(path, &m)),
            }
        }
        while let Some(line) = lines.pop() {
            match classify(line) {
                Line::Record(seq, hash) => {
                    torn.reverse();
                    return Ok(Tail {
                        head: Some((seq, hash)),
                        torn,
                        unterminated_record: false,
                    });
                }
                Line::Incomplete if torn.len() < MAX_TORN => {
                    torn.push((name.clone(), line.to_vec()));
                }
                Line::Incomplete => {
                    return Err(AuditError::new(path, "too many torn lines at the end of the log")
                        .help("check the log with `govern replay-audit`; move it aside to start a new one"));
                }
                Line::Damaged(m) => return Err(damaged(path, &m)),
            }
        }
        if from == 0 {
            torn.reverse();
            return Ok(Tail {
                head: None,
                torn,
                unterminated_record: false,
            });
        }
        want = grow(path, want)?;
    }
}

fn grow(path: &Path, want: u64) -> Result<u64, AuditError> {
    if want >= 4 * MAX_RECORD as u64 {
        return Err(
            AuditError::new(path, "no complete record near the end of the log")
                .help("check the log with `govern replay-audit`"),
        );
    }
    Ok(want * 4)
}

fn damaged(path: &Path, m: &str) -> AuditError {
    AuditError::new(
        path,
        format!("the last record of the log is damaged ({m}): its chain cannot be continued"),
    )
    .help("check the log with `govern replay-audit`; move it aside to start a new log")
}

enum Line {
    Record(u64, String),
    Incomplete,
    Damaged(String),
}

fn classify(bytes: &[u8]) -> Line {
    if bytes.is_empty() {
        return Line::Damaged("an empty line".into());
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        // A multi-byte character cut at the end: what comes before decides.
        Err(e) if e.error_len().is_none() => {
            match std::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or(&[])) {
                Ok(t) => {
                    return match record::Parser::default().parse(t) {
                        Err(m) if m.incomplete => Line::Incomplete,
                        _ if t.is_empty() || t == "{" => Line::Incomplete,
                        _ => Line::Damaged("not valid UTF-8".into()),
                    };
                }
                Err(_) => return Line::Damaged("not valid UTF-8".into()),
            }
        }
        Err(_) => return Line::Damaged("not valid UTF-8".into()),
    };
    let mut p = Parser::default();
    match p.parse(text) {
        Ok(r) if r.hash == r.content_hash => Line::Record(r.seq, r.hash.to_string()),
        Ok(r) => Line::Damaged(format!("record {} does not match its hash", r.seq)),
        Err(m) if m.incomplete => Line::Incomplete,
        Err(m) => Line::Damaged(m.message),
    }
}

/// The background `fdatasync` of [`SyncMode::Batch`].
struct Syncer {
    tx: mpsc::Sender<Msg>,
    handle: Option<std::thread::JoinHandle<()>>,
    dirty: Arc<AtomicBool>,
    /// Set with `err`, read without a lock on every record.
    failed: Arc<AtomicBool>,
    err: Arc<Mutex<Option<String>>>,
}

enum Msg {
    Switch(File),
    Stop,
}

impl Syncer {
    fn start(file: &File, path: &Path) -> Result<Syncer, AuditError> {
        let mut f = file
            .try_clone()
            .map_err(|e| io_error(path, "cannot open", &e))?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let dirty = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicBool::new(false));
        let err = Arc::new(Mutex::new(None));
        let (d, e, fl) = (Arc::clone(&dirty), Arc::clone(&err), Arc::clone(&failed));
        let handle = std::thread::Builder::new()
            .name("audit-sync".into())
            .spawn(move || {
                let sync = |f: &File| {
                    if d.swap(false, Ordering::AcqRel)
                        && let Err(x) = f.sync_data()
                        && let Ok(mut slot) = e.lock()
                    {
                        slot.get_or_insert(x.to_string());
                        fl.store(true, Ordering::Release);
                    }
                };
                loop {
                    match rx.recv_timeout(BATCH_INTERVAL) {
                        Ok(Msg::Switch(next)) => {
                            // The old file was synced before rotating.
                            f = next;
                        }
                        Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                            sync(&f);
                            return;
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => sync(&f),
                    }
                }
            })
            .map_err(|e| io_error(path, "cannot start the sync thread", &e))?;
        Ok(Syncer {
            tx,
            handle: Some(handle),
            dirty,
            failed,
            err,
        })
    }

    fn error(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.err.lock().ok().and_then(|e| e.clone())
    }

    fn switch(&self, f: File) {
        let _ = self.tx.send(Msg::Switch(f));
    }

    fn stop(mut self) -> Option<String> {
        let _ = self.tx.send(Msg::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        let b = Path::new("/x/audit.jsonl");
        assert_eq!(segment_path(b, 0), PathBuf::from("/x/audit.jsonl"));
        assert_eq!(segment_path(b, 3), PathBuf::from("/x/audit.3.jsonl"));
        assert_eq!(segment_path(Path::new("log"), 2), PathBuf::from("log.2"));
    }

    #[test]
    fn prefixes_of_records_are_incomplete() {
        let event =
            DecidedEvent::parse(r#"{"a":[1e+21,-0.5,true,null,"é€😀"],"b":{"c":false}}"#).unwrap();
        let d = Decision::error(GENESIS, "x");
        let mut p = Parser::default();
        let _ = &mut p;
        let mut line = String::new();
        let mut dec = String::new();
        record::write_decision(&d, &mut dec);
        record::seal(
            &[
                ("bundle", &quote(GENESIS)),
                ("decision", &dec),
                ("event", event.as_str()),
                ("prev", &quote(GENESIS)),
                ("seq", "12"),
                ("ts", "\"2026-01-01T00:00:00.123Z\""),
            ],
            &mut line,
        );
        let bytes = line.trim_end().as_bytes();
        assert!(matches!(classify(bytes), Line::Record(12, _)));
        for cut in 1..bytes.len() {
            assert!(
                matches!(classify(&bytes[..cut]), Line::Incomplete),
                "prefix of {cut} bytes: {:?}",
                String::from_utf8_lossy(&bytes[..cut])
            );
        }
        // A complete record followed by a stray byte is damage, not a torn write.
        let mut extra = bytes.to_vec();
        extra.push(0x0b);
        assert!(matches!(classify(&extra), Line::Damaged(_)));
    }
}
