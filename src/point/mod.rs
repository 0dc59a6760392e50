//! A decision point: what `serve` (and the MCP gateway) put behind their doors.
//!
//! A [`Point`] holds the bundle in force (verified on load and on every reload, swapped
//! atomically), the stream state of its stateful rules, the host clock it decides with, the
//! bound on state keys, its metrics and its audit log. It is synchronous and safe to call
//! from any number of threads at once:
//!
//! - every event is read, stamped with the host time and pre-walked on the caller's thread
//!   ([`crate::stream::Preparer`]);
//! - a decision that needs no stream state is finished there too, in parallel with others;
//! - a decision that reads or records state is taken in the *serial section*: one at a time,
//!   in the order their audit records are written, so that `replay-audit`, deciding the log's
//!   events in order, reproduces each one exactly. With an audit log every decision passes
//!   through the serial section (a stateless one only to take its place in the log and in
//!   stream time, see [`crate::stream::Stream::pass`]);
//! - a reload verifies the new bundle first (a refused one leaves the old in force), then,
//!   inside the serial section, writes the bundle record, starts fresh stream state and swaps
//!   the bundle: a decision is taken wholly with one bundle, and the state always belongs to
//!   the bundle in force;
//! - everything fails closed: input that is not an event, a poisoned lock, an audit log that
//!   cannot be written (with `audit_required`) all end in `deny`, with the reason.

pub mod audit;
pub mod load;
pub mod log;
pub mod metrics;
pub mod parts;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arc_swap::ArcSwap;
use serde_json::{Value, json};

use crate::bytecode::model::Verdict;
use crate::decision::Decision;
use crate::diag::Diag;
use crate::stream::{Clock, Prepared, Preparer, Stream};
use crate::vm::{EventError, Outcome};
pub use audit::{AuditFailure, Recorder};
pub use load::{Loaded, Signature, Source};
use log::Log;
pub use metrics::{BadRequest, Failure, Metrics};
pub use parts::{OneValue, Part, Parts, PartsScratch};

/// How a point is set up.
pub struct Options {
    pub source: Source,
    /// The most keys each `count` / `sum` / `seen` holds (`--max-keys`).
    pub max_keys: usize,
    /// The audit log, opened by the door.
    pub audit: Recorder,
    /// Deny every decision whose record cannot be written (`--audit-required`).
    pub audit_required: bool,
    pub log: Arc<Log>,
}

/// The bundle in force, with what deciding with it needs.
pub struct InForce {
    pub loaded: Loaded,
    /// Counts bundles put in force by this point, from 1.
    pub generation: u64,
    counters: metrics::BundleCounters,
}

/// How a reload ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// A new bundle is in force.
    Changed { old: String, new: String },
    /// The files hold the bundle already in force.
    Unchanged(String),
}

/// What the last reloads did, for `GET /v1/bundle`.
#[derive(Clone, Debug, Default)]
struct ReloadStatus {
    loaded: u64,
    refused: u64,
    /// The last refusal: when (ns) and why, while no reload has succeeded since.
    last_refused: Option<(i64, String)>,
}

/// What the serial section guards: the stream of stateful decisions and the audit log.
struct Serial {
    /// The generation of the bundle the stream state belongs to.
    generation: u64,
    stream: Stream,
    audit: Recorder,
}

/// Per-thread scratch space for deciding (reused: no allocation per decision once grown).
#[derive(Default)]
pub struct Scratch {
    preparer: Preparer,
    prepared: Prepared,
    outcome: Outcome,
}

/// How a decision went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The bundle decided (any verdict).
    Decided,
    /// The input is not an event: denied, with the reason.
    BadEvent,
    /// The point could not decide: denied, with the reason.
    Failed(Failure),
}

/// The result of [`Point::decide_one`]: its decision JSON is in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: Status,
    pub verdict: Verdict,
    /// The place of its audit record, to [`Point::finish`] before the decision leaves.
    pub seq: Option<u64>,
}

/// A decision point. See the module documentation.
pub struct Point {
    source: Source,
    max_keys: usize,
    in_force: ArcSwap<InForce>,
    serial: Mutex<Serial>,
    reloads: Mutex<ReloadStatus>,
    pub metrics: Metrics,
    audit_required: bool,
    /// Whether an audit log is kept (every decision then goes through the serial section).
    audited: bool,
    /// Whether each record waits for the disk (`--audit-sync always`).
    waits_for_disk: bool,
    /// The audit log failed (or is closed): no more records.
    audit_down: AtomicBool,
    /// Why, the first time.
    audit_why: std::sync::OnceLock<AuditFailure>,
    log: Arc<Log>,
}

fn lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    m.lock().ok()
}

impl Point {
    /// Loads and verifies the bundle, and opens the point with fresh stream state.
    pub fn open(opts: Options) -> Result<Point, Vec<Diag>> {
        let loaded = load::load(&opts.source)?;
        let metrics = Metrics::new();
        let counters = metrics.for_bundle(&loaded.program);
        metrics.in_force(&loaded.program.digest, None);
        let mut stream = Stream::new(&loaded.program, Clock::Host, opts.max_keys);
        let mut audit = opts.audit;
        let audited = audit.is_on();
        let waits_for_disk = audit.waits_for_disk();
        // The log's bundle record names the limits the stream state is made with; a restart
        // with the same bundle and limits continues with the state the log rebuilds.
        let opened = audit
            .open(&loaded.program, Clock::Host.limits(opts.max_keys))
            .map_err(|e| vec![e.to_diag()])?;
        let opened = opened.map(|(o, state)| {
            if let Some(state) = state {
                stream = Stream::restored(state);
            }
            o
        });
        if let Some(o) = &opened {
            for t in &o.torn {
                opts.log.warn(
                    "audit_torn",
                    &format!(
                        "{} ends with a line cut short by a crash ({} bytes); the chain continues after it",
                        t.file, t.bytes
                    ),
                    &[("digest", json!(t.digest)), ("seq", json!(o.seq))],
                );
            }
            opts.log.info(
                "audit",
                if o.continued {
                    "continuing the audit log"
                } else {
                    "starting a new audit log"
                },
                &[
                    ("file", json!(crate::source::display(&o.file))),
                    ("seq", json!(o.seq)),
                ],
            );
            match o.begins {
                crate::audit::Begins::Restored(r) => opts.log.info(
                    "audit",
                    "the stream state is restored from the audit log",
                    &[
                        ("from_seq", json!(r.from)),
                        ("decisions", json!(r.decisions)),
                    ],
                ),
                crate::audit::Begins::FreshAnyway(f) => opts.log.info(
                    "audit",
                    "the stream state starts fresh",
                    &[("why", json!(f.as_str()))],
                ),
                crate::audit::Begins::Fresh => {}
            }
        }
        Ok(Point {
            source: opts.source,
            max_keys: opts.max_keys,
            in_force: ArcSwap::from_pointee(InForce {
                loaded,
                generation: 1,
                counters,
            }),
            serial: Mutex::new(Serial {
                generation: 1,
                stream,
                audit,
            }),
            reloads: Mutex::new(ReloadStatus::default()),
            metrics,
            audit_required: opts.audit_required,
            audited,
            waits_for_disk,
            audit_down: AtomicBool::new(false),
            audit_why: std::sync::OnceLock::new(),
            log: opts.log,
        })
    }

    /// The bundle in force now.
    pub fn in_force(&self) -> Arc<InForce> {
        self.in_force.load_full()
    }

    /// Whether an audit log is kept.
    pub fn audited(&self) -> bool {
        self.audited
    }

    /// Whether a decision may wait for the disk (an audit log synced after every record):
    /// a door then decides it off its event loop, within a time budget.
    pub fn waits_for_disk(&self) -> bool {
        self.waits_for_disk
    }

    /// The files whose change may change the bundle (for a watcher).
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Decides one event (JSON text) and writes its decision JSON to `out`, its audit
    /// record (if any) written first. Never fails: whatever goes wrong is a `deny` with the
    /// reason.
    pub fn decide(&self, text: &str, s: &mut Scratch, out: &mut String) -> Answer {
        let start = out.len();
        let a = self.decide_one(text, s, out);
        match self.finish(a.seq) {
            Ok(()) => a,
            Err(f) => {
                out.truncate(start);
                self.denial(&f, out)
            }
        }
    }

    /// Decides one event, appending its decision JSON to `out`, and queues its audit
    /// record: call [`Point::finish`] with its `seq` (or the largest of a batch) before the
    /// decision leaves the point, and deny instead when that fails.
    pub fn decide_one(&self, text: &str, s: &mut Scratch, out: &mut String) -> Answer {
        let t0 = Instant::now();
        // A guard, not a clone of the `Arc`: no shared counter is touched per decision.
        let mut bundle = self.in_force.load();
        if self.audit_required && self.audit_down.load(Ordering::Relaxed) {
            let why = self.audit_down_why();
            return self.failed(&bundle, Failure::Audit, &why, out, t0);
        }
        let prepared = s.preparer.prepare(
            &bundle.loaded.program,
            text,
            Clock::Host,
            None,
            self.audited,
            &mut s.prepared,
        );
        if let Err(e) = &prepared
            && !self.audited
        {
            return self.bad_event(&bundle, text, e, None, out, t0);
        }
        if prepared.is_ok() && s.prepared.stateless && !self.audited {
            // No state, no log: decided here, in parallel with anything else.
            s.preparer
                .decide_stateless(&bundle.loaded.program, &s.prepared, &mut s.outcome);
            return self.answer(&bundle, s, None, out, t0);
        }
        let Some(mut serial) = lock(&self.serial) else {
            return self.failed(
                &bundle,
                Failure::Internal,
                "the stream state is unusable",
                out,
                t0,
            );
        };
        let mut prepared = prepared;
        if serial.generation != bundle.generation {
            // A reload came in between: decide with the bundle in force now, which the stream
            // belongs to, at the same time.
            bundle = self.in_force.load();
            prepared = s.preparer.prepare(
                &bundle.loaded.program,
                text,
                Clock::Host,
                s.prepared.now,
                self.audited,
                &mut s.prepared,
            );
        }
        if let Err(e) = &prepared {
            return self.bad_event(&bundle, text, e, Some(serial), out, t0);
        }
        let program = &bundle.loaded.program;
        serial
            .stream
            .decide_in_place(&mut s.preparer, program, &s.prepared, &mut s.outcome);
        if !s.prepared.stateless {
            self.metrics.state_keys(serial.stream.state().keys());
        }
        let recorded = if serial.audit.is_on() {
            serial
                .audit
                .decision(program, &s.prepared.decided, &s.outcome)
                .map(Some)
        } else {
            Ok(None)
        };
        drop(serial);
        match recorded {
            Ok(seq) => self.answer(&bundle, s, seq, out, t0),
            Err(f) => {
                self.audit_failed(&f);
                if self.audit_required {
                    let why = format!("the audit log cannot be written: {f}");
                    return self.failed(&bundle, Failure::Audit, &why, out, t0);
                }
                self.answer(&bundle, s, None, out, t0)
            }
        }
    }

    /// Makes sure the audit record `seq` (and every one before it) is written; an error
    /// means the decisions waiting for it must be denied (with `audit_required`).
    pub fn finish(&self, seq: Option<u64>) -> Result<(), AuditFailure> {
        let Some(seq) = seq else {
            return Ok(());
        };
        let Some(mut serial) = lock(&self.serial) else {
            return Err(AuditFailure("the audit log is unusable".into()));
        };
        match serial.audit.flush_to(seq) {
            Ok(()) => Ok(()),
            Err(f) => {
                drop(serial);
                self.audit_failed(&f);
                if self.audit_required { Err(f) } else { Ok(()) }
            }
        }
    }

    /// Writes the denial of a decision that could not be recorded.
    pub fn denial(&self, f: &AuditFailure, out: &mut String) -> Answer {
        let bundle = self.in_force.load_full();
        self.failed(
            &bundle,
            Failure::Audit,
            &format!("the audit log cannot be written: {f}"),
            out,
            Instant::now(),
        )
    }

    /// Writes the fail-closed decision for a request the door refused before the point
    /// could decide it (`why` says what was wrong), and counts it.
    pub fn refuse(&self, why: BadRequest, message: &str, out: &mut String) -> Answer {
        self.metrics.bad_request(why);
        let bundle = self.in_force.load_full();
        let d = Decision::error(&bundle.loaded.program.digest, message);
        if self.audited {
            // Recorded like any input that is not an event: `"event": null`, the deny.
            let recorded = match lock(&self.serial) {
                Some(mut serial) if serial.generation == bundle.generation => {
                    serial.audit.refusal(&d).map(Some)
                }
                // A reload came in between: the refusal names the bundle in force now.
                Some(mut serial) => {
                    let now = self.in_force.load_full();
                    let d = Decision::error(&now.loaded.program.digest, message);
                    serial.audit.refusal(&d).map(Some)
                }
                None => Err(AuditFailure("the audit log is unusable".into())),
            };
            match recorded {
                // A failure to write is counted and said by `finish`; the answer is a deny
                // either way.
                Ok(seq) => {
                    let _ = self.finish(seq);
                }
                Err(f) => self.audit_failed(&f),
            }
        }
        d.write_json(out);
        self.metrics
            .denied(&bundle.counters, std::time::Duration::ZERO);
        Answer {
            status: Status::BadEvent,
            verdict: Verdict::Deny,
            seq: None,
        }
    }

    /// Writes the fail-closed decision for a decision the door gave up on (its time
    /// budget ran out), and counts it.
    pub fn give_up(&self, why: Failure, message: &str, out: &mut String) -> Answer {
        let bundle = self.in_force.load_full();
        self.failed(&bundle, why, message, out, Instant::now())
    }

    fn answer(
        &self,
        bundle: &InForce,
        s: &Scratch,
        seq: Option<u64>,
        out: &mut String,
        t0: Instant,
    ) -> Answer {
        let program = &bundle.loaded.program;
        program.write_json(&s.outcome, out);
        let verdict = s.outcome.verdict.unwrap_or(program.model.default);
        self.metrics
            .decided(&bundle.counters, program, &s.outcome, verdict, t0.elapsed());
        Answer {
            status: Status::Decided,
            verdict,
            seq,
        }
    }

    fn bad_event(
        &self,
        bundle: &InForce,
        text: &str,
        e: &EventError,
        serial: Option<MutexGuard<'_, Serial>>,
        out: &mut String,
        t0: Instant,
    ) -> Answer {
        self.metrics.bad_request(BadRequest::Malformed);
        let d = Decision::error(&bundle.loaded.program.digest, e.describe(text));
        let mut seq = None;
        if let Some(mut serial) = serial
            && serial.audit.is_on()
        {
            match serial.audit.refusal(&d) {
                Ok(s) => seq = Some(s),
                Err(f) => {
                    drop(serial);
                    self.audit_failed(&f);
                }
            }
        }
        d.write_json(out);
        self.metrics.denied(&bundle.counters, t0.elapsed());
        Answer {
            status: Status::BadEvent,
            verdict: Verdict::Deny,
            seq,
        }
    }

    fn failed(
        &self,
        bundle: &InForce,
        why: Failure,
        message: &str,
        out: &mut String,
        t0: Instant,
    ) -> Answer {
        self.metrics.failed(why);
        let text = match why {
            Failure::Audit => format!("not decided: {message}"),
            Failure::Budget => format!("not decided in time: {message}"),
            Failure::Internal => format!("not decided: internal error: {message}"),
        };
        Decision::error(&bundle.loaded.program.digest, text).write_json(out);
        self.metrics.denied(&bundle.counters, t0.elapsed());
        Answer {
            status: Status::Failed(why),
            verdict: Verdict::Deny,
            seq: None,
        }
    }

    /// Why records are no longer written, for a denial.
    fn audit_down_why(&self) -> String {
        match self.audit_why.get() {
            Some(f) => format!("the audit log cannot be written: {f}"),
            None => "the audit log is closed".into(),
        }
    }

    /// Counts a record that could not be written; the first time, says loudly that the log
    /// stopped and what follows.
    fn audit_failed(&self, f: &AuditFailure) {
        self.metrics.audit_error();
        let _ = self.audit_why.set(f.clone());
        if !self.audit_down.swap(true, Ordering::Relaxed) {
            let then = if self.audit_required {
                "every decision is denied from now on (--audit-required)"
            } else {
                "decisions go on without a record (pass --audit-required to deny instead)"
            };
            self.log.error(
                "audit",
                &format!("the audit log cannot be written: {f}; {then}"),
                &[],
            );
        }
    }

    /// Whether the point can decide: not when its audit log failed and records are
    /// required (then every decision is a denial).
    pub fn ready(&self) -> Result<(), String> {
        if self.audit_required && self.audit_down.load(Ordering::Relaxed) {
            return Err(format!(
                "{}; every decision is denied",
                self.audit_down_why()
            ));
        }
        Ok(())
    }

    /// Reads the bundle files again and puts the bundle in force if it verifies and
    /// differs. A refused bundle leaves the one in force, and the reason is kept for
    /// [`Point::bundle_info`].
    pub fn reload(&self) -> Result<Reloaded, Vec<Diag>> {
        let Some(mut status) = lock(&self.reloads) else {
            return Err(vec![Diag::error(
                "govern::internal",
                "reload state unusable",
            )]);
        };
        let loaded = match load::load(&self.source) {
            Ok(l) => l,
            Err(diags) => {
                status.refused += 1;
                let why = diags
                    .iter()
                    .map(|d| d.short())
                    .collect::<Vec<_>>()
                    .join("; ");
                status.last_refused = Some((crate::stream::now_ns(), why));
                self.metrics.reload("refused");
                return Err(diags);
            }
        };
        let old = self.in_force.load_full();
        let digest = loaded.program.digest.clone();
        if digest == old.loaded.program.digest {
            self.metrics.reload("unchanged");
            status.last_refused = None;
            return Ok(Reloaded::Unchanged(digest));
        }
        let counters = self.metrics.for_bundle(&loaded.program);
        let Some(mut serial) = lock(&self.serial) else {
            return Err(vec![Diag::error(
                "govern::internal",
                "stream state unusable",
            )]);
        };
        let generation = serial.generation + 1;
        if let Err(f) = serial.audit.change_bundle(&digest).map(drop) {
            drop(serial);
            self.audit_failed(&f);
            if self.audit_required {
                status.refused += 1;
                let why = format!("the audit log cannot record the change: {f}");
                status.last_refused = Some((crate::stream::now_ns(), why.clone()));
                self.metrics.reload("refused");
                return Err(vec![Diag::error("govern::audit", why)]);
            }
            serial = match lock(&self.serial) {
                Some(s) => s,
                None => {
                    return Err(vec![Diag::error(
                        "govern::internal",
                        "stream state unusable",
                    )]);
                }
            };
        }
        serial.stream = Stream::new(&loaded.program, Clock::Host, self.max_keys);
        serial.generation = generation;
        self.in_force.store(Arc::new(InForce {
            loaded,
            generation,
            counters,
        }));
        drop(serial);
        self.metrics
            .in_force(&digest, Some(&old.loaded.program.digest));
        self.metrics.reload("loaded");
        status.loaded += 1;
        status.last_refused = None;
        Ok(Reloaded::Changed {
            old: old.loaded.program.digest.clone(),
            new: digest,
        })
    }

    /// What `GET /v1/bundle` says: the bundle in force and the last reloads.
    pub fn bundle_info(&self) -> Value {
        let b = self.in_force.load_full();
        let p = &b.loaded.program;
        let status = lock(&self.reloads).map(|s| s.clone()).unwrap_or_default();
        let mut v = json!({
            "digest": p.digest,
            "file": b.loaded.file,
            "rules": p.model.rules.len(),
            "default": p.model.default.as_str(),
            "stateful": !p.model.trackers.is_empty(),
            "signature": b.loaded.signature,
            "loaded_at": crate::time::format_rfc3339_exact(b.loaded.loaded_at),
            "reloads": { "loaded": status.loaded, "refused": status.refused },
        });
        if let (Some((at, why)), Some(obj)) = (&status.last_refused, v.as_object_mut()) {
            obj.insert(
                "last_refused".into(),
                json!({ "at": crate::time::format_rfc3339_exact(*at), "error": why }),
            );
        }
        v
    }

    /// Closes the audit log cleanly (a final signed checkpoint, everything on disk) and
    /// returns its head (none without a log). Decisions after this are not recorded (and
    /// denied with `audit_required`).
    pub fn close(&self) -> Result<Option<crate::audit::Head>, AuditFailure> {
        let Some(mut serial) = lock(&self.serial) else {
            return Err(AuditFailure("the audit log is unusable".into()));
        };
        self.audit_down.store(true, Ordering::Relaxed);
        serial.audit.close()
    }
}
