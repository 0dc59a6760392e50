//! Reading an audit log back: every check of `govern replay-audit`, in one pass over the
//! records in chain order, in bounded memory.
//!
//! Checks, each failure named by file, line and seq: the record's hash; `seq` contiguous
//! and `prev` linked to the record before (across rotated files); lines that are not
//! records (accepted only as the torn lines a crash leaves, when the record after them
//! names them, or at the very end); every checkpoint's signature, head and count; the
//! bundle a decision names is the one in force; and replay, which re-decides every event
//! with the bundle named by its digest and compares the decisions byte for byte.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::record::{self, GENESIS, Kind, MAX_RECORD, Parser, Record};
use super::replay::{self, Scratch};
use crate::bytecode::model::Verdict;
use crate::sign::{PublicKey, Trust};
use crate::vm::{Event, Outcome, Paths, Program, State, Val};

/// Divergences shown in full (all are counted).
pub const SHOWN: usize = 20;
/// Examples kept per flip group of `--against`.
pub const EXAMPLES: usize = 3;

/// Where replay finds bundles.
#[derive(Clone, Debug)]
pub enum Bundles {
    /// No replay.
    None,
    /// One `.govb` file.
    One(PathBuf),
    /// A folder of `.govb` files (as `govern build --store` fills it).
    Dir(PathBuf),
}

/// The public keys checkpoints may be signed with.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    pub keys: Vec<PublicKey>,
    pub trust: Option<Trust>,
}

impl Keys {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.trust.is_none()
    }
}

/// What to check.
pub struct Options<'a> {
    pub keys: Keys,
    pub bundles: Bundles,
    pub expect_head: Option<String>,
    pub expect_count: Option<u64>,
    /// Re-decide every event with this bundle too and report the flips.
    pub against: Option<&'a Program>,
}

/// Whether a failed check shows tampering or divergence (exit 1), or that the input does
/// not allow the check (exit 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Failed,
    BadInput,
}

/// One failed check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub file: String,
    /// 0 when the finding is about a whole file or the whole log.
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divergence: Option<Divergence>,
}

/// A decision replay did not reproduce.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Divergence {
    pub recorded: serde_json::Value,
    pub replayed: serde_json::Value,
    /// The fields that differ.
    pub fields: Vec<String>,
    /// The rules that decided on replay, with their source locations.
    pub rules: Vec<String>,
}

/// One file of the series, in chain order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

/// A bundle the log names.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BundleSummary {
    pub digest: String,
    pub decisions: u64,
    /// Where replay found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

/// Counts by verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdicts {
    pub allow: u64,
    pub deny: u64,
    pub escalate: u64,
}

impl Verdicts {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Allow => self.allow += 1,
            Verdict::Deny => self.deny += 1,
            Verdict::Escalate => self.escalate += 1,
        }
    }
}

/// A line the writer left torn by a crash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TornLine {
    pub file: String,
    pub line: u64,
    pub bytes: usize,
    /// Continued after by the record at this seq (`None`: at the end of the log).
    pub continued_at: Option<u64>,
}

/// Flips of one kind under `--against`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flip {
    pub from: String,
    pub to: String,
    /// The other bundle's determining rule (`None`: its default).
    pub rule: Option<String>,
    pub tool: Option<String>,
    pub events: u64,
    /// `file:line (seq N)`.
    pub examples: Vec<String>,
}

/// The log against another bundle.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Against {
    pub bundle: String,
    pub compared: u64,
    pub agree: u64,
    pub flipped: u64,
    pub flips: Vec<Flip>,
}

/// Everything a check found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub files: Vec<FileSummary>,
    pub records: u64,
    pub decisions: u64,
    pub bundle_records: u64,
    pub checkpoints: u64,
    /// Checkpoints whose signature, head and count were verified.
    pub checkpoints_verified: u64,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub first_seq: Option<u64>,
    /// The last record: its seq and hash (the head to keep elsewhere).
    pub head_seq: Option<u64>,
    pub head: Option<String>,
    /// The seq of the last verified checkpoint.
    pub last_checkpoint: Option<u64>,
    pub bundles: Vec<BundleSummary>,
    /// Recorded verdicts.
    pub verdicts: Verdicts,
    /// Decisions re-decided and found the same.
    pub replayed: u64,
    pub divergent: u64,
    /// Decisions not re-decided (no bundle, or state before the given files).
    pub not_replayed: u64,
    /// Records read through their canonical form (rewritten by another tool).
    pub not_canonical: u64,
    pub torn: Vec<TornLine>,
    pub findings: Vec<Finding>,
    /// What the inputs given cannot prove.
    pub not_proved: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<Against>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Failed)
    }

    pub fn bad_input(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::BadInput)
    }

    /// 0 intact and reproducible, 1 tampered or divergent, 2 inputs that do not allow the
    /// checks (a proven failure wins).
    pub fn exit_code(&self) -> u8 {
        if self.failed() {
            1
        } else if self.bad_input() {
            2
        } else {
            0
        }
    }
}

/// A log file that could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    pub file: String,
    pub message: String,
}

/// Checks the log made of `files` (one file or a rotated series, in any order).
///
/// Reading, parsing and hashing records (most of the work) is shared by a few worker
/// threads, a batch of lines at a time; the calling thread checks the chain and replays, in
/// order, putting the batches back in the order they were read. Memory is bounded by the
/// batches in flight ([`IN_FLIGHT`]).
pub fn verify(files: &[PathBuf], opts: &Options<'_>) -> Report {
    let mut v = Verifier::new(opts);
    check(files, &mut v);
    v.report
}

/// The stream state a decision point restarted with `program` continues with: the checks
/// of [`verify`] over `files` (the log from the file that holds record `from` on), replaying
/// with `program` the decisions from the bundle record at seq `from` (the last one that
/// started fresh state) to the end, carrying the state across the `restored` bundle records
/// of earlier restarts, as replay-audit does. Decisions before `from` are checked (hash,
/// chain) but not re-decided, and checkpoint signatures are not checked (no key is needed
/// to restart). Returns the report and, when the state in force at the end of the log is the
/// one begun at `from` with `program`, that state and the number of decision records it
/// was built from. The caller must refuse the state when the report has any finding.
pub fn restore(files: &[PathBuf], program: &Program, from: u64) -> (Report, Option<(State, u64)>) {
    let opts = Options {
        keys: Keys::default(),
        bundles: Bundles::None,
        expect_head: None,
        expect_count: None,
        against: None,
    };
    let mut v = Verifier::new(&opts);
    v.restore = Some((program, from));
    check(files, &mut v);
    let state = match v.stream.take() {
        Some(Stream {
            from: f,
            program: Some(_),
            state: Some(state),
            decisions,
            ..
        }) if f == from => Some((state, decisions)),
        _ => None,
    };
    (v.report, state)
}

/// Runs every check over `files` with `v`.
fn check<'a>(files: &[PathBuf], v: &mut Verifier<'a>) {
    let ordered = v.order(files);
    let names: Vec<String> = ordered.iter().map(|(n, _)| n.clone()).collect();
    let workers = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, MAX_WORKERS);
    let source = std::sync::Mutex::new(Source::new(&ordered));
    // The free batches: a worker takes one before it reads, the checking thread gives it back
    // once checked, so no more than IN_FLIGHT batches exist at once.
    let (free, free_rx) = std::sync::mpsc::channel::<Batch>();
    for _ in 0..IN_FLIGHT {
        let _ = free.send(Batch::default());
    }
    let free_rx = std::sync::Mutex::new(free_rx);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<(u64, Batch)>();
        let mut started = 0;
        let mut error = None;
        for _ in 0..workers {
            let tx = tx.clone();
            let (source, free_rx) = (&source, &free_rx);
            match std::thread::Builder::new()
                .name("audit-read".into())
                .spawn_scoped(scope, move || read_batches(source, free_rx, &tx))
            {
                Ok(_) => started += 1,
                Err(e) => error = Some(e),
            }
        }
        drop(tx);
        if started == 0 {
            let e = error.map(|e| e.to_string()).unwrap_or_default();
            v.finding(
                "read",
                Severity::BadInput,
                "",
                0,
                None,
                format!("cannot start a thread: {e}"),
            );
            return;
        }
        // Batches that came before their turn.
        let mut early: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut next = 0u64;
        for (n, batch) in rx {
            early.insert(n, batch);
            while let Some(mut batch) = early.remove(&next) {
                for item in batch.items.drain(..) {
                    v.item(&names, &batch.bytes, item);
                }
                batch.bytes.clear();
                let _ = free.send(batch);
                next += 1;
            }
        }
    });
    v.finish();
}

/// Worker threads that read and parse (at most; one per core).
const MAX_WORKERS: usize = 4;
/// Batches of lines in memory at once (read, parsed, or waiting for their turn).
const IN_FLIGHT: usize = 8;

/// Lines read, end to end in `bytes`, and what each is; the items come in file order.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    items: Vec<Item>,
}

/// What a batch holds, in order (most items are lines: no boxing).
#[allow(clippy::large_enum_variant)]
enum Item {
    FileStart(usize),
    FileEnd,
    /// One line (its bytes in the batch, without the `\n`) and what it is.
    Line {
        file: usize,
        line: u64,
        bytes: std::ops::Range<usize>,
        terminated: bool,
        parsed: Parsed,
    },
    /// A file that could not be read from this line on.
    Failed {
        file: usize,
        line: u64,
        check: &'static str,
        message: String,
    },
}

#[allow(clippy::large_enum_variant)]
enum Parsed {
    /// Not parsed yet.
    Unread,
    /// A record: its fields in its text (the canonical text, when the line is not).
    Record {
        canon: Option<String>,
        at: record::At,
    },
    NotRecord {
        incomplete: bool,
        message: String,
    },
}

/// A batch is handed on once it holds about this many bytes of lines.
const BATCH_BYTES: usize = 256 * 1024;

/// The files, read in order, a batch at a time, by whichever worker asks.
struct Source<'f> {
    files: &'f [(String, PathBuf)],
    next_file: usize,
    /// The file being read: its index, its reader and the number of its last line read.
    current: Option<(usize, BufReader<File>, u64)>,
    /// Batches handed out.
    batches: u64,
}

impl<'f> Source<'f> {
    fn new(files: &'f [(String, PathBuf)]) -> Source<'f> {
        Source {
            files,
            next_file: 0,
            current: None,
            batches: 0,
        }
    }

    /// Reads the next lines into `b` (emptied first), not parsed yet; returns the batch's
    /// number (from 0, in reading order), or `None` when everything has been read.
    fn fill(&mut self, b: &mut Batch) -> Option<u64> {
        b.bytes.clear();
        b.items.clear();
        while b.bytes.len() < BATCH_BYTES {
            let Some((i, r, line_no)) = self.current.as_mut() else {
                let i = self.next_file;
                let Some((_, path)) = self.files.get(i) else {
                    break;
                };
                self.next_file += 1;
                b.items.push(Item::FileStart(i));
                match File::open(path) {
                    Ok(f) => self.current = Some((i, BufReader::with_capacity(1 << 18, f), 0)),
                    Err(e) => {
                        b.items.push(Item::Failed {
                            file: i,
                            line: 0,
                            check: "read",
                            message: format!("cannot read: {e}"),
                        });
                        b.items.push(Item::FileEnd);
                    }
                }
                continue;
            };
            let (i, start) = (*i, b.bytes.len());
            let read = r
                .take(MAX_RECORD as u64 + 1)
                .read_until(b'\n', &mut b.bytes);
            let failed = match read {
                Err(e) => {
                    b.bytes.truncate(start);
                    Some((*line_no + 1, "read", format!("cannot read: {e}")))
                }
                Ok(0) => None,
                Ok(_) => {
                    *line_no += 1;
                    let terminated = b.bytes.last() == Some(&b'\n');
                    if terminated {
                        b.bytes.pop();
                    }
                    if !terminated && b.bytes.len() - start > MAX_RECORD {
                        b.bytes.truncate(start);
                        Some((
                            *line_no,
                            "malformed",
                            format!(
                                "a line longer than {} MiB: not an audit record",
                                MAX_RECORD >> 20
                            ),
                        ))
                    } else {
                        b.items.push(Item::Line {
                            file: i,
                            line: *line_no,
                            bytes: start..b.bytes.len(),
                            terminated,
                            parsed: Parsed::Unread,
                        });
                        continue;
                    }
                }
            };
            // The end of this file (or what could be read of it).
            if let Some((line, check, message)) = failed {
                b.items.push(Item::Failed {
                    file: i,
                    line,
                    check,
                    message,
                });
            }
            b.items.push(Item::FileEnd);
            self.current = None;
        }
        if b.items.is_empty() {
            return None;
        }
        self.batches += 1;
        Some(self.batches - 1)
    }
}

/// One worker: takes a free batch, fills it with the next lines, parses and hashes them,
/// and hands it to the checking thread, until everything has been read.
fn read_batches(
    source: &std::sync::Mutex<Source<'_>>,
    free: &std::sync::Mutex<std::sync::mpsc::Receiver<Batch>>,
    tx: &std::sync::mpsc::Sender<(u64, Batch)>,
) {
    let mut parser = Parser::default();
    loop {
        let Some(mut batch) = free.lock().ok().and_then(|f| f.recv().ok()) else {
            return;
        };
        let Some(n) = source.lock().ok().and_then(|mut s| s.fill(&mut batch)) else {
            return;
        };
        let Batch { bytes, items } = &mut batch;
        for item in items.iter_mut() {
            if let Item::Line {
                bytes: range,
                terminated,
                parsed,
                ..
            } = item
            {
                let raw = bytes.get(range.clone()).unwrap_or(&[]);
                *parsed = parse_line(&mut parser, raw, *terminated);
            }
        }
        if tx.send((n, batch)).is_err() {
            return;
        }
    }
}

/// What one line is.
fn parse_line(parser: &mut Parser, bytes: &[u8], terminated: bool) -> Parsed {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // A multi-byte character cut by the end of a torn line: what comes before decides.
            let cut = e.error_len().is_none() && !terminated;
            let valid =
                std::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or("");
            let incomplete = cut && matches!(parser.parse(valid), Err(m) if m.incomplete);
            return Parsed::NotRecord {
                incomplete,
                message: "not valid UTF-8".into(),
            };
        }
    };
    if text.is_empty() {
        return Parsed::NotRecord {
            incomplete: false,
            message: "an empty line".into(),
        };
    }
    match parser.parse_at(text) {
        Ok(at) => {
            let canon = (!at.canonical()).then(|| parser.canonical_text().to_string());
            Parsed::Record { canon, at }
        }
        Err(m) => Parsed::NotRecord {
            incomplete: m.incomplete,
            message: m.message,
        },
    }
}

struct Last {
    seq: u64,
    hash: String,
    file: String,
    line: u64,
}

/// A line that is not a record, waiting for the record after it.
struct Pending {
    file: String,
    line: u64,
    bytes: usize,
    digest: String,
    /// It has no newline (the end of a file).
    unterminated: bool,
}

struct Stream<'a> {
    digest: String,
    limits: crate::vm::StreamLimits,
    /// The seq of the bundle record that began this state fresh (the state carries across
    /// the `restored` bundle records of restarts).
    from: u64,
    /// Decision records decided with this state.
    decisions: u64,
    /// The bundle in force, when replay has it.
    program: Option<Prog<'a>>,
    state: Option<State>,
    against: Option<State>,
}

/// A bundle replay decides with: loaded from the store, or given (a restore).
enum Prog<'a> {
    Loaded(std::rc::Rc<Program>),
    Given(&'a Program),
}

impl std::ops::Deref for Prog<'_> {
    type Target = Program;
    fn deref(&self) -> &Program {
        match self {
            Prog::Loaded(p) => p,
            Prog::Given(p) => p,
        }
    }
}

struct Verifier<'a> {
    opts: &'a Options<'a>,
    report: Report,
    last: Option<Last>,
    pending: Vec<Pending>,
    /// The bundle in force and the stream state (`None` until a bundle record).
    stream: Option<Stream<'a>>,
    /// Restoring a point's state ([`restore`]): the bundle and the seq of the bundle record
    /// whose state is wanted.
    restore: Option<(&'a Program, u64)>,
    store: Store,
    scratch: Scratch,
    decision: String,
    bundles: BTreeMap<String, BundleSummary>,
    missing_key_reported: bool,
    expect_head_at: Option<u64>,
    file: FileSummary,
    against: Option<AgainstRun<'a>>,
    before_bundle: u64,
    /// `restored` bundle records met with no state in force (it began before the files).
    restarts_unknown: u64,
    /// Where each bundle digest is first named: file, line, seq.
    first_use: FxHashMap<String, (String, u64, u64)>,
    /// A line that is not a record came since the last record: links across it cannot be
    /// checked (the malformed line is the failure).
    gap: bool,
}

impl<'a> Verifier<'a> {
    fn new(opts: &'a Options<'a>) -> Verifier<'a> {
        Verifier {
            opts,
            report: Report::default(),
            last: None,
            pending: Vec::new(),
            stream: None,
            restore: None,
            store: Store::new(opts.bundles.clone()),
            scratch: Scratch::default(),
            decision: String::with_capacity(512),
            bundles: BTreeMap::new(),
            missing_key_reported: false,
            expect_head_at: None,
            file: FileSummary::default(),
            against: opts.against.map(AgainstRun::new),
            before_bundle: 0,
            restarts_unknown: 0,
            first_use: FxHashMap::default(),
            gap: false,
        }
    }

    fn finding(
        &mut self,
        check: &'static str,
        severity: Severity,
        file: &str,
        line: u64,
        seq: Option<u64>,
        message: impl Into<String>,
    ) {
        self.report.findings.push(Finding {
            check,
            severity,
            file: file.to_string(),
            line,
            seq,
            message: message.into(),
            divergence: None,
        });
    }

    /// The files in chain order, by the seq of their first record.
    fn order(&mut self, files: &[PathBuf]) -> Vec<(String, PathBuf)> {
        let mut keyed: Vec<(u64, String, PathBuf)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for p in files {
            let name = crate::source::display(p);
            if !seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())) {
                continue;
            }
            match first_seq(p) {
                Ok(Some(seq)) => keyed.push((seq, name, p.clone())),
                Ok(None) => {
                    if std::fs::metadata(p).map(|m| m.len() == 0).unwrap_or(false) {
                        self.report.not_proved.push(format!("{name} is empty"));
                    } else {
                        self.finding(
                            "not-an-audit-log",
                            Severity::BadInput,
                            &name,
                            0,
                            None,
                            "no line of this file is an audit record",
                        );
                    }
                }
                Err(e) => self.finding("read", Severity::BadInput, &name, 0, None, e),
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        for w in keyed.windows(2) {
            if let [a, b] = w
                && a.0 == b.0
            {
                let msg = format!(
                    "{} and {} both start at seq {}: two copies, or two logs",
                    a.1, b.1, a.0
                );
                self.finding("order", Severity::BadInput, &b.1, 0, Some(b.0), msg);
            }
        }
        keyed.into_iter().map(|(_, n, p)| (n, p)).collect()
    }

    /// One item from the reading thread, in order.
    fn item(&mut self, names: &[String], bytes: &[u8], item: Item) {
        let name = |i: usize| names.get(i).map(String::as_str).unwrap_or("");
        match item {
            Item::FileStart(i) => {
                self.file = FileSummary {
                    file: name(i).to_string(),
                    ..FileSummary::default()
                };
            }
            Item::FileEnd => {
                let summary = std::mem::take(&mut self.file);
                self.report.files.push(summary);
            }
            Item::Failed {
                file,
                line,
                check,
                message,
            } => self.finding(check, Severity::BadInput, name(file), line, None, message),
            Item::Line {
                file,
                line,
                bytes: range,
                terminated,
                parsed,
            } => match parsed {
                Parsed::Record { canon, at } => {
                    let raw = bytes.get(range).unwrap_or(&[]);
                    let text = match &canon {
                        Some(c) => c.as_str(),
                        None => std::str::from_utf8(raw).unwrap_or(""),
                    };
                    let r = at.view(text);
                    self.record(name(file), line, text, &r);
                }
                Parsed::NotRecord {
                    incomplete,
                    message,
                } => {
                    let raw = bytes.get(range).unwrap_or(&[]);
                    self.not_a_record(name(file), line, raw, incomplete, !terminated, message)
                }
                // Every line is parsed before its batch is handed on; were one not, it
                // would be a failure, never a line passed over.
                Parsed::Unread => {
                    let raw = bytes.get(range).unwrap_or(&[]);
                    let message = "the line was not read".to_string();
                    self.not_a_record(name(file), line, raw, false, !terminated, message)
                }
            },
        }
    }

    fn not_a_record(
        &mut self,
        file: &str,
        line: u64,
        bytes: &[u8],
        incomplete: bool,
        at_eof: bool,
        message: String,
    ) {
        if incomplete {
            self.pending.push(Pending {
                file: file.to_string(),
                line,
                bytes: bytes.len(),
                digest: record::digest_of(bytes),
                unterminated: at_eof,
            });
            return;
        }
        // The record after it cannot be linked to what this line was.
        self.gap = true;
        let seq = self.last.as_ref().map(|l| l.seq + 1);
        let what = if self.report.records == 0 && self.last.is_none() {
            "not an audit log: "
        } else {
            ""
        };
        self.finding(
            "malformed",
            Severity::BadInput,
            file,
            line,
            None,
            format!(
                "{what}not a record: {message}{}",
                seq.map(|s| format!(" (after seq {})", s - 1))
                    .unwrap_or_default()
            ),
        );
    }

    /// Pending lines before a record: torn lines the record names, or failures.
    fn settle_pending(&mut self, r: &Record<'_>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let named = r.kind == Kind::Bundle
            && r.torn.len() == pending.len()
            && r.torn.iter().zip(&pending).all(|(d, p)| *d == p.digest);
        for p in &pending {
            if named {
                self.report.torn.push(TornLine {
                    file: p.file.clone(),
                    line: p.line,
                    bytes: p.bytes,
                    continued_at: Some(r.seq),
                });
            } else {
                self.finding(
                    "torn",
                    Severity::Failed,
                    &p.file,
                    p.line,
                    None,
                    format!(
                        "a cut-short line that the record after it (seq {}) does not name as torn",
                        r.seq
                    ),
                );
            }
        }
    }

    fn record(&mut self, file: &str, line: u64, text: &str, r: &Record<'_>) {
        self.settle_pending(r);
        if r.kind == Kind::Bundle
            && !r.torn.is_empty()
            && !self
                .report
                .torn
                .iter()
                .any(|t| t.continued_at == Some(r.seq))
        {
            self.finding(
                "torn",
                Severity::Failed,
                file,
                line,
                Some(r.seq),
                "the record names torn lines that are not before it",
            );
        }
        self.report.records += 1;
        self.file.records += 1;
        self.file.first_seq.get_or_insert(r.seq);
        self.file.last_seq = Some(r.seq);
        if !r.canonical {
            self.report.not_canonical += 1;
        }
        if self.report.first_ts.is_none() {
            self.report.first_ts = Some(r.ts.to_string());
        }
        match &mut self.report.last_ts {
            Some(t) => {
                t.clear();
                t.push_str(r.ts);
            }
            None => self.report.last_ts = Some(r.ts.to_string()),
        }
        if r.hash != r.content_hash {
            self.finding(
                "hash",
                Severity::Failed,
                file,
                line,
                Some(r.seq),
                format!(
                    "the record does not match its hash (its content hashes to {})",
                    r.content_hash
                ),
            );
        }
        let gap = std::mem::take(&mut self.gap);
        // Compared in place; the messages are built only for a failure.
        let broken = self
            .last
            .as_ref()
            .map(|l| (r.seq != l.seq + 1, r.prev != l.hash));
        match broken {
            Some(_) if gap => {}
            None => {
                self.report.first_seq = Some(r.seq);
                if r.seq == 0 && r.prev != GENESIS {
                    self.finding(
                        "link",
                        Severity::Failed,
                        file,
                        line,
                        Some(0),
                        "the first record's prev is not the genesis value (64 zeros)",
                    );
                } else if r.seq > 0 {
                    self.report.not_proved.push(format!(
                        "the log given starts at seq {} ({file}:{line}): the {} records before it are not here, and its first prev ({}) cannot be checked",
                        r.seq, r.seq, r.prev
                    ));
                }
            }
            Some((false, false)) => {}
            Some((bad_seq, bad_link)) => {
                let (lseq, lfile, lline) = self
                    .last
                    .as_ref()
                    .map(|l| (l.seq, l.file.clone(), l.line))
                    .unwrap_or_default();
                let expected = lseq + 1;
                if bad_seq {
                    let msg = if r.seq > expected {
                        format!(
                            "seq {} follows seq {lseq} ({lfile}:{lline}): {} record{} missing",
                            r.seq,
                            r.seq - expected,
                            if r.seq - expected == 1 {
                                " is"
                            } else {
                                "s are"
                            }
                        )
                    } else {
                        format!(
                            "seq {} follows seq {lseq} ({lfile}:{lline}): a record repeated or out of order",
                            r.seq
                        )
                    };
                    self.finding("seq", Severity::Failed, file, line, Some(r.seq), msg);
                }
                if bad_link {
                    let msg = format!(
                        "prev does not match the hash of the record before it (seq {lseq} at {lfile}:{lline})"
                    );
                    self.finding("link", Severity::Failed, file, line, Some(r.seq), msg);
                }
            }
        }
        if self.opts.expect_head.as_deref() == Some(r.hash) {
            self.expect_head_at = Some(r.seq);
        }
        if r.kind != Kind::Checkpoint && !self.first_use.contains_key(r.bundle) {
            self.first_use
                .insert(r.bundle.to_string(), (file.to_string(), line, r.seq));
        }
        match r.kind {
            Kind::Bundle => self.bundle(file, line, r),
            Kind::Decision => self.decision(file, line, r),
            // What it vouches for includes the line that is not a record: it cannot hold.
            Kind::Checkpoint if gap => self.report.checkpoints += 1,
            Kind::Checkpoint => self.checkpoint(file, line, text, r),
        }
        match &mut self.last {
            Some(l) => {
                l.seq = r.seq;
                l.hash.clear();
                l.hash.push_str(r.hash);
                if l.file != file {
                    l.file = file.to_string();
                }
                l.line = line;
            }
            None => {
                self.last = Some(Last {
                    seq: r.seq,
                    hash: r.hash.to_string(),
                    file: file.to_string(),
                    line,
                })
            }
        }
    }

    fn bundle(&mut self, file: &str, line: u64, r: &Record<'_>) {
        self.report.bundle_records += 1;
        self.bundles
            .entry(r.bundle.to_string())
            .or_insert_with(|| BundleSummary {
                digest: r.bundle.to_string(),
                ..BundleSummary::default()
            });
        if let Some(restored) = r.restored {
            // A restart that restored the state: it carries on, when it is the state in force.
            let why = match &self.stream {
                // The state began before the files given: what follows cannot be re-decided.
                None => {
                    self.restarts_unknown += 1;
                    return;
                }
                Some(s) if s.digest != r.bundle => Some(format!(
                    "the record says the stream state of bundle {} was restored, but {} is in force",
                    r.bundle, s.digest
                )),
                Some(s) if s.limits != r.limits => Some(format!(
                    "the record says the stream state was restored with limits {}, but the state in force has {}",
                    record::limits_json(&r.limits),
                    record::limits_json(&s.limits)
                )),
                Some(s) if s.from != restored.from || s.decisions != restored.decisions => {
                    Some(format!(
                        "the record says the stream state was restored from {} decisions since seq {}, but the state in force holds {} decisions since seq {}",
                        restored.decisions, restored.from, s.decisions, s.from
                    ))
                }
                Some(_) => None,
            };
            match why {
                None => return,
                Some(m) => {
                    self.finding("restore", Severity::Failed, file, line, Some(r.seq), m);
                    // No state is known to be the one the point decided with.
                    self.stream = Some(Stream {
                        digest: r.bundle.to_string(),
                        limits: r.limits,
                        from: r.seq,
                        decisions: 0,
                        program: None,
                        state: None,
                        against: None,
                    });
                    return;
                }
            }
        }
        let program = match self.restore {
            Some((p, from)) => (r.seq == from && r.bundle == p.digest).then_some(Prog::Given(p)),
            None => self.store.get(r.bundle).map(Prog::Loaded),
        };
        let state = program.as_ref().map(|p| p.new_state_with(r.limits));
        let against = self
            .against
            .as_ref()
            .map(|a| a.program.new_state_with(r.limits));
        self.stream = Some(Stream {
            digest: r.bundle.to_string(),
            limits: r.limits,
            from: r.seq,
            decisions: 0,
            program,
            state,
            against,
        });
    }

    fn decision(&mut self, file: &str, line: u64, r: &Record<'_>) {
        self.report.decisions += 1;
        match self.bundles.get_mut(r.bundle) {
            Some(b) => b.decisions += 1,
            None => {
                self.bundles.insert(
                    r.bundle.to_string(),
                    BundleSummary {
                        digest: r.bundle.to_string(),
                        decisions: 1,
                        found: None,
                    },
                );
            }
        }
        let recorded = verdict_of(r.decision);
        match recorded {
            Some(v) => self.report.verdicts.add(v),
            None => self.finding("malformed", Severity::BadInput, file, line, Some(r.seq),
                "the decision has no verdict (`decision` must be \"allow\", \"deny\" or \"escalate\")"),
        }
        let Some(stream) = self.stream.as_mut() else {
            self.before_bundle += 1;
            self.report.not_replayed += 1;
            return;
        };
        stream.decisions += 1;
        let in_force = (stream.digest != r.bundle).then(|| stream.digest.clone());
        // The other bundle of --against, with its own state.
        if let (Some(a), Some(st), Some(rec), Some(ev)) = (
            self.against.as_mut(),
            stream.against.as_mut(),
            recorded,
            r.event,
        ) {
            a.decide(ev, st, rec, file, line, r.seq);
        }
        let outcome = match (stream.state.as_mut(), stream.program.as_deref()) {
            (Some(state), Some(program)) => match r.event {
                Some(ev) => {
                    replay::redecide(program, ev, state, &mut self.scratch, &mut self.decision);
                    if self.decision == r.decision {
                        Replayed::Same
                    } else {
                        Replayed::Differs(diverge(
                            program,
                            &self.scratch.outcome,
                            r.decision,
                            &self.decision,
                        ))
                    }
                }
                // Input that was not an event: only the fail-closed deny with a reason.
                None => {
                    let ok = serde_json::from_str::<serde_json::Value>(r.decision).is_ok_and(|d| {
                        let f = |k: &str| d.get(k).cloned().unwrap_or_default();
                        f("decision") == "deny"
                            && f("error").is_string()
                            && f("rules") == serde_json::json!([])
                            && f("warnings") == serde_json::json!([])
                            && f("bundle") == r.bundle
                    });
                    if ok {
                        Replayed::Same
                    } else {
                        Replayed::NotFailClosed
                    }
                }
            },
            _ => Replayed::Not,
        };
        if let Some(d) = in_force {
            let msg = format!("the decision names bundle {} but {d} is in force", r.bundle);
            self.finding("bundle", Severity::Failed, file, line, Some(r.seq), msg);
        }
        match outcome {
            Replayed::Same => self.report.replayed += 1,
            Replayed::Not => self.report.not_replayed += 1,
            Replayed::NotFailClosed => {
                self.report.divergent += 1;
                self.finding("replay", Severity::Failed, file, line, Some(r.seq),
                    "a record without an event must be a deny with an error (input that could not be read)");
            }
            Replayed::Differs(divergence) => {
                self.report.divergent += 1;
                let msg = match &divergence {
                    Some(d) => format!("replay decides differently ({})", d.fields.join(", ")),
                    None => "replay decides differently".to_string(),
                };
                self.finding("replay", Severity::Failed, file, line, Some(r.seq), msg);
                if self.report.divergent as usize <= SHOWN
                    && let Some(f) = self.report.findings.last_mut()
                {
                    f.divergence = divergence;
                }
            }
        }
    }

    fn checkpoint(&mut self, file: &str, line: u64, text: &str, r: &Record<'_>) {
        self.report.checkpoints += 1;
        let (head, count) = match &self.last {
            Some(l) => (l.hash.clone(), l.seq + 1),
            None => (r.prev.to_string(), r.seq),
        };
        if r.head != head || r.head != r.prev {
            self.finding(
                "checkpoint",
                Severity::Failed,
                file,
                line,
                Some(r.seq),
                "the checkpoint's head is not the hash of the record before it",
            );
            return;
        }
        if r.count != count || r.count != r.seq {
            self.finding(
                "checkpoint",
                Severity::Failed,
                file,
                line,
                Some(r.seq),
                format!(
                    "the checkpoint counts {} records; {} come before it",
                    r.count, count
                ),
            );
            return;
        }
        if self.opts.keys.is_empty() {
            if !self.missing_key_reported && self.restore.is_none() {
                self.missing_key_reported = true;
                self.finding("key", Severity::BadInput, file, line, Some(r.seq),
                    format!("the log has signed checkpoints (key {}) and no key was given to check them", r.keyid));
            }
            return;
        }
        let Some(key) = self.key_for(file, line, r) else {
            return;
        };
        let signed = record::signed_part(text);
        let sig = crate::sign::dsse::decode(r.sig).and_then(|b| <[u8; 64]>::try_from(b).ok());
        let ok = match (signed, sig) {
            (Some(m), Some(s)) => key.verify(m.as_bytes(), &s),
            _ => false,
        };
        if !ok {
            self.finding(
                "signature",
                Severity::Failed,
                file,
                line,
                Some(r.seq),
                format!("the checkpoint's signature by {} does not verify", r.keyid),
            );
            return;
        }
        self.report.checkpoints_verified += 1;
        self.report.last_checkpoint = Some(r.seq);
    }

    /// The key a checkpoint names, if it may sign: given with --key, or trusted, not
    /// revoked and valid at the checkpoint's time by the trust file.
    fn key_for(&mut self, file: &str, line: u64, r: &Record<'_>) -> Option<PublicKey> {
        if let Some(k) = self.opts.keys.keys.iter().find(|k| k.id() == r.keyid) {
            return Some(k.clone());
        }
        if let Some(t) = &self.opts.keys.trust {
            if t.revoked.contains(r.keyid) {
                let msg = format!(
                    "the checkpoint is signed by {}, which {} revokes",
                    r.keyid, t.path
                );
                self.finding("key", Severity::Failed, file, line, Some(r.seq), msg);
                return None;
            }
            if let Some(k) = t.keys.get(r.keyid) {
                let at = crate::time::parse_rfc3339(r.ts).unwrap_or(0);
                let early = k.not_before.as_ref().is_some_and(|(_, nb)| at < *nb);
                let late = k.not_after.as_ref().is_some_and(|(_, na)| at > *na);
                if early || late {
                    let msg = format!(
                        "the checkpoint ({}) is outside the validity of key `{}` in {}",
                        r.ts, k.name, t.path
                    );
                    self.finding("key", Severity::Failed, file, line, Some(r.seq), msg);
                    return None;
                }
                return Some(k.key.clone());
            }
        }
        let msg = format!(
            "the checkpoint is signed by {}, which is not among the keys given",
            r.keyid
        );
        self.finding("key", Severity::Failed, file, line, Some(r.seq), msg);
        None
    }

    fn finish(&mut self) {
        // Lines left at the very end: a torn tail when the last is cut short without its
        // newline, as a write interrupted by a crash leaves it; else failures.
        let pending = std::mem::take(&mut self.pending);
        let tail = pending.last().is_some_and(|p| p.unterminated);
        for p in pending {
            if tail {
                self.report.torn.push(TornLine {
                    file: p.file.clone(),
                    line: p.line,
                    bytes: p.bytes,
                    continued_at: None,
                });
            } else {
                self.finding("torn", Severity::Failed, &p.file, p.line, None,
                    "a cut-short line at the end of the log that ends with a newline: not what a write interrupted by a crash leaves");
            }
        }
        if let Some(t) = self.report.torn.iter().find(|t| t.continued_at.is_none()) {
            self.report.not_proved.push(format!(
                "the log ends with a cut-short line ({}:{}, {} bytes), as a crash while writing leaves: it is not a record and proves nothing",
                t.file, t.line, t.bytes
            ));
        }
        if let Some(l) = &self.last {
            self.report.head_seq = Some(l.seq);
            self.report.head = Some(l.hash.clone());
        }
        // Bundles: where each was found, and the missing ones.
        for (digest, b) in &mut self.bundles {
            b.found = self.store.found(digest);
        }
        self.report.bundles = self.bundles.values().cloned().collect();
        let missing: Vec<(String, String)> = self.store.missing();
        for (digest, why) in missing {
            let (file, line, seq) = self.first_use.get(&digest).cloned().unwrap_or_default();
            self.report.findings.push(Finding {
                check: "bundle",
                severity: Severity::BadInput,
                file,
                line,
                seq: Some(seq),
                message: format!("replay needs bundle {digest}, {why}"),
                divergence: None,
            });
        }
        if matches!(self.opts.bundles, Bundles::None) && self.report.decisions > 0 {
            self.report.not_proved.push(format!(
                "{} decisions were not re-decided: no bundles were given (--bundle or --bundles)",
                self.report.decisions
            ));
        }
        if self.before_bundle > 0 {
            self.report.not_proved.push(format!(
                "{} decisions before the first bundle record were not re-decided: the stream state they were decided with begins before the files given",
                self.before_bundle
            ));
        }
        if self.restarts_unknown > 0 {
            self.report.not_proved.push(format!(
                "{} restart{} restored stream state that begins before the files given: the decisions after {} were not re-decided",
                self.restarts_unknown,
                if self.restarts_unknown == 1 { "" } else { "s" },
                if self.restarts_unknown == 1 { "it" } else { "them" }
            ));
        }
        self.expectations();
        self.vouching();
        if let Some(a) = self.against.take() {
            self.report.against = Some(a.finish());
        }
    }

    fn expectations(&mut self) {
        let count = self.last.as_ref().map_or(0, |l| l.seq + 1);
        let (file, line) = self
            .last
            .as_ref()
            .map_or((String::new(), 0), |l| (l.file.clone(), l.line));
        if let Some(n) = self.opts.expect_count
            && count < n
        {
            self.finding(
                "expect",
                Severity::Failed,
                &file,
                line,
                self.last.as_ref().map(|l| l.seq),
                format!(
                    "the log holds {count} records; {n} were expected: the last {} are missing",
                    n - count
                ),
            );
        }
        if let Some(h) = &self.opts.expect_head {
            match (self.expect_head_at, self.opts.expect_count) {
                (None, _) => {
                    let msg = format!("no record has the expected head {h}");
                    self.finding("expect", Severity::Failed, &file, line, None, msg);
                }
                (Some(at), Some(n)) if at + 1 != n => {
                    let msg = format!(
                        "the expected head {h} is record {at}, not record {} (the {n}th)",
                        n.saturating_sub(1)
                    );
                    self.finding("expect", Severity::Failed, &file, line, Some(at), msg);
                }
                _ => {}
            }
        }
    }

    /// What checkpoints (and expectations) vouch for.
    fn vouching(&mut self) {
        let Some(head) = self.last.as_ref().map(|l| l.seq) else {
            return;
        };
        let vouched = match (self.report.last_checkpoint, self.expect_head_at) {
            (Some(c), Some(e)) => Some(c.max(e)),
            (c, e) => c.or(e),
        };
        if !self.opts.keys.is_empty()
            && self.report.checkpoints_verified == 0
            && self.report.checkpoints == 0
        {
            let file = self
                .last
                .as_ref()
                .map(|l| l.file.clone())
                .unwrap_or_default();
            self.finding(
                "checkpoint",
                Severity::Failed,
                &file,
                0,
                None,
                "keys were given but the log has no checkpoint: nothing in it is signed",
            );
        }
        match vouched {
            Some(v) if v >= head => {}
            Some(v) => self.report.not_proved.push(format!(
                "records {}–{head} come after the last checkpoint: no signature vouches for them (anyone who can write the log could have changed or dropped them); to vouch for them, compare with a head kept elsewhere: --expect-head {} --expect-count {}",
                v + 1,
                self.report.head.clone().unwrap_or_default(),
                head + 1
            )),
            None if self.report.checkpoints == 0 => self.report.not_proved.push(format!(
                "the log has no checkpoints: nothing vouches for it against being rewritten whole (write it with --audit-key); its head is {} after {} records",
                self.report.head.clone().unwrap_or_default(),
                head + 1
            )),
            None => self.report.not_proved.push(
                "no checkpoint could be verified: nothing vouches for the log against being rewritten whole".to_string(),
            ),
        }
    }
}

/// The seq of the first record in a file, reading only as far as needed.
pub(crate) fn first_seq(path: &Path) -> Result<Option<u64>, String> {
    let f = File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut r = BufReader::new(f);
    let mut buf = Vec::new();
    let mut parser = Parser::default();
    for _ in 0..64 {
        buf.clear();
        let n = (&mut r)
            .take(MAX_RECORD as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("cannot read: {e}"))?;
        if n == 0 {
            return Ok(None);
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let Ok(t) = std::str::from_utf8(line)
            && let Ok(rec) = parser.parse(t)
        {
            return Ok(Some(rec.seq));
        }
    }
    Ok(None)
}

/// The verdict of a canonical decision object, read from its fixed prefix when it has one.
fn verdict_of(decision: &str) -> Option<Verdict> {
    // `{"bundle":"sha256:<64>","decision":"…"`
    const AT: usize = "{\"bundle\":\"sha256:".len() + 64 + "\",\"decision\":\"".len();
    if decision.get(AT - 13..AT) == Some(",\"decision\":\"")
        && let Some(rest) = decision.get(AT..)
    {
        for v in [Verdict::Allow, Verdict::Deny, Verdict::Escalate] {
            if rest.starts_with(v.as_str())
                && rest
                    .get(v.as_str().len()..)
                    .is_some_and(|r| r.starts_with('"'))
            {
                return Some(v);
            }
        }
    }
    record::verdict_of(decision)
}

/// The field-by-field difference of two decisions, and the rules that decided on replay.
fn diverge(p: &Program, o: &Outcome, recorded: &str, replayed: &str) -> Option<Divergence> {
    let a: serde_json::Value = serde_json::from_str(recorded).ok()?;
    let b: serde_json::Value = serde_json::from_str(replayed).ok()?;
    let mut fields: Vec<String> = Vec::new();
    for k in [
        "decision", "rules", "messages", "warnings", "unknown", "bundle", "error",
    ] {
        if a.get(k) != b.get(k) {
            fields.push(k.to_string());
        }
    }
    if let (Some(x), Some(y)) = (a.as_object(), b.as_object()) {
        for k in x.keys().chain(y.keys()) {
            if !fields.contains(k) && x.get(k) != y.get(k) {
                fields.push(k.clone());
            }
        }
    }
    let rules = p
        .determining(o)
        .iter()
        .filter_map(|r| p.model.rules.get(*r as usize))
        .map(|r| {
            let file = p
                .model
                .files
                .get(r.file as usize)
                .map(String::as_str)
                .unwrap_or("?");
            format!("{} {} ({file}:{})", r.effect, r.id, r.line)
        })
        .collect();
    Some(Divergence {
        recorded: a,
        replayed: b,
        fields,
        rules,
    })
}

enum Replayed {
    Same,
    Differs(Option<Divergence>),
    NotFailClosed,
    /// No bundle, or no state to replay with.
    Not,
}

// ---------------------------------------------------------------------------------------
// Bundles.

struct Store {
    source: Bundles,
    loaded: FxHashMap<String, Result<(std::rc::Rc<Program>, String), String>>,
    /// Digest → file, for the bundles in a folder (filled when a name lookup fails).
    index: Option<FxHashMap<String, PathBuf>>,
}

impl Store {
    fn new(source: Bundles) -> Store {
        Store {
            source,
            loaded: FxHashMap::default(),
            index: None,
        }
    }

    /// The bundle with `digest`, loaded once.
    fn get(&mut self, digest: &str) -> Option<std::rc::Rc<Program>> {
        if matches!(self.source, Bundles::None) {
            return None;
        }
        if !self.loaded.contains_key(digest) {
            let r = self.load(digest).map(|(p, at)| (std::rc::Rc::new(p), at));
            self.loaded.insert(digest.to_string(), r);
        }
        match self.loaded.get(digest) {
            Some(Ok((p, _))) => Some(std::rc::Rc::clone(p)),
            _ => None,
        }
    }

    fn found(&self, digest: &str) -> Option<String> {
        match self.loaded.get(digest) {
            Some(Ok((_, at))) => Some(at.clone()),
            _ => None,
        }
    }

    fn missing(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .loaded
            .iter()
            .filter_map(|(d, r)| r.as_ref().err().map(|e| (d.clone(), e.clone())))
            .collect();
        out.sort();
        out
    }

    fn load(&mut self, digest: &str) -> Result<(Program, String), String> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        match &self.source {
            Bundles::None => Err("and no bundles were given".into()),
            Bundles::One(path) => {
                let name = crate::source::display(path);
                let bytes =
                    std::fs::read(path).map_err(|e| format!("but {name} cannot be read: {e}"))?;
                let have = crate::bytecode::digest(&bytes);
                if have != digest {
                    return Err(format!("but --bundle {name} is {have}"));
                }
                let p = Program::load(&bytes).map_err(|e| format!("{name} is refused: {e}"))?;
                Ok((p, name))
            }
            Bundles::Dir(dir) => {
                let dir = dir.clone();
                let dname = crate::source::display(&dir);
                let by_name = dir.join(format!("{hex}.govb"));
                if let Ok(bytes) = std::fs::read(&by_name)
                    && crate::bytecode::digest(&bytes) == digest
                {
                    let p = Program::load(&bytes).map_err(|e| {
                        format!("{} is refused: {e}", crate::source::display(&by_name))
                    })?;
                    return Ok((p, crate::source::display(&by_name)));
                }
                let index = self.index.get_or_insert_with(|| index_dir(&dir));
                match index.get(digest) {
                    Some(path) => {
                        let name = crate::source::display(path);
                        let bytes =
                            std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
                        let p =
                            Program::load(&bytes).map_err(|e| format!("{name} is refused: {e}"))?;
                        Ok((p, name))
                    }
                    None => Err(format!(
                        "which is not in {dname} (looked for {hex}.govb, and at the digest of every .govb file there: {})",
                        index.len()
                    )),
                }
            }
        }
    }
}

/// Every `.govb` file directly in `dir`, by digest.
fn index_dir(dir: &Path) -> FxHashMap<String, PathBuf> {
    let mut out = FxHashMap::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "govb") && p.is_file())
        .collect();
    paths.sort();
    for p in paths {
        if let Ok(bytes) = std::fs::read(&p) {
            out.entry(crate::bytecode::digest(&bytes)).or_insert(p);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// --against.

/// (recorded, other bundle's verdict, its determining rule, tool).
type FlipKey = (Verdict, Verdict, Option<u32>, Option<String>);

struct AgainstRun<'a> {
    program: &'a Program,
    paths: Paths,
    tool: u32,
    ev: Event,
    out: Outcome,
    report: Against,
    groups: FxHashMap<FlipKey, (u64, Vec<String>)>,
}

impl<'a> AgainstRun<'a> {
    fn new(program: &'a Program) -> AgainstRun<'a> {
        let (paths, ids) = Paths::with_extra(&program.model.slots, &[vec!["tool".to_string()]]);
        AgainstRun {
            program,
            paths,
            tool: ids.first().copied().unwrap_or(u32::MAX),
            ev: Event::default(),
            out: Outcome::default(),
            report: Against {
                bundle: program.digest.clone(),
                ..Against::default()
            },
            groups: FxHashMap::default(),
        }
    }

    fn decide(
        &mut self,
        event: &str,
        state: &mut State,
        recorded: Verdict,
        file: &str,
        line: u64,
        seq: u64,
    ) {
        let p = self.program;
        let (verdict, rule) = match self.paths.read(event, &mut self.ev) {
            Ok(()) => {
                p.eval(&self.ev, state, &mut self.out);
                (
                    self.out.verdict.unwrap_or(p.model.default),
                    p.determining(&self.out).first().copied(),
                )
            }
            Err(_) => (Verdict::Deny, None),
        };
        self.report.compared += 1;
        if verdict == recorded {
            self.report.agree += 1;
            return;
        }
        self.report.flipped += 1;
        let tool = match self.ev.val(self.tool) {
            v @ Val::Str { .. } => self.ev.str_of(v).map(str::to_string),
            _ => None,
        };
        let g = self
            .groups
            .entry((recorded, verdict, rule, tool))
            .or_default();
        g.0 += 1;
        if g.1.len() < EXAMPLES {
            g.1.push(format!("{file}:{line} (seq {seq})"));
        }
    }

    fn finish(self) -> Against {
        let p = self.program;
        let mut report = self.report;
        let mut flips: Vec<Flip> = self
            .groups
            .into_iter()
            .map(|((from, to, rule, tool), (events, examples))| Flip {
                from: from.as_str().to_string(),
                to: to.as_str().to_string(),
                rule: rule
                    .and_then(|r| p.model.rules.get(r as usize))
                    .map(|r| r.id.clone()),
                tool,
                events,
                examples,
            })
            .collect();
        flips.sort_by(|a, b| {
            b.events.cmp(&a.events).then_with(|| {
                (&a.from, &a.to, &a.rule, &a.tool).cmp(&(&b.from, &b.to, &b.rule, &b.tool))
            })
        });
        report.flips = flips;
        report
    }
}
