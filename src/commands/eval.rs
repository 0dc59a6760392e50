//! `govern eval`: decide a stream of events, one JSON decision per event.
//!
//! The events are read and decided by the stream engine ([`crate::stream::engine`]), as
//! `simulate` reads traces: JSONL, pretty-printed JSON objects, OTLP/JSON spans or MCP
//! messages, gzipped or not. A record that is not an event is reported on standard error with
//! its line and decided `deny` (with an `error` field) in its place, so the output keeps one
//! decision per event; the exit status is then 2.
//!
//! When the input is a pipe or a terminal, each decision is flushed as soon as its event is
//! read (a coprocess: write an event, read its decision); a file is read in large blocks and
//! parsed on every core, decided in order all the same.
//!
//! With `--audit-log` the sink is also the decision point's audit log: each decision (and each
//! record that is not an event, with `"event": null`) is queued in the log in decision order
//! with the event as decided, and a block's output is let go only once the log has taken its
//! records (group commit); when the log cannot, each decision of the block and every later one
//! is a `deny` saying why. `--clock host` stamps each event with the host time.

use crate::audit::AuditLog;
use crate::bytecode::model::{NodeDef, Var};
use crate::cli::{DiagFormat, EvalArgs};
use crate::commands::{Ctx, Out, exit};
use crate::decision::Decision;
use crate::stream::Clock;
use crate::stream::engine::{self, BadRecord, Decided, Options, Sink, Stop};
use crate::trace::Input;
use crate::vm::{Outcome, Program, Step, StreamLimits};

pub fn run(ctx: &Ctx, args: &EvalArgs) -> u8 {
    let Some(program) = load_program(ctx, args) else {
        return exit::ERROR;
    };
    let input = match &args.events {
        Some(p) if p.as_os_str() != "-" => Input::Path(p.clone()),
        _ => Input::Stdin,
    };
    let interactive = is_interactive(&input);
    if interactive {
        // A program may be waiting for each decision (a coprocess): the walks are combined
        // now, not in the middle of its stream after its first decisions.
        program.combine_walks();
    }
    let jobs = if interactive {
        1
    } else {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    };
    // A point that keeps time itself believes its clock: every `ts` it stamps.
    let clock = match args.clock {
        crate::cli::Clock::Host => Clock::Host,
        crate::cli::Clock::Event => Clock::Event,
    };
    let limits = clock.limits(args.max_keys);
    let mut restored = None;
    let audit = match &args.audit.audit_log {
        Some(path) => match open_audit(ctx, path, &args.audit, &program, limits) {
            Some((log, state)) => Some(Audited {
                log,
                failed: None,
                held: String::new(),
                held_at: Vec::new(),
                files: Vec::new(),
                denied: 0,
            })
            .inspect(|_| restored = state),
            None => return exit::ERROR,
        },
        None => None,
    };
    let opts = Options {
        format: args.input_format.input(),
        jobs,
        limits,
        clock,
        deny_bad: true,
        plain_lines: true,
        interactive,
        trace: args.explain,
        // What the VM reads is what the log keeps: the event as decided.
        keep_decided: audit.is_some(),
        initial: restored.as_ref(),
        ..Options::new(&program)
    };
    let mut sink = EvalSink {
        ctx,
        out: Out::new(),
        explain: args.explain,
        interactive,
        count: 0,
        first_refused: None,
        first_untimed: None,
        digest: &program.digest,
        audit,
    };
    let result = engine::run(&opts, std::slice::from_ref(&input), &mut sink);
    sink.release();
    sink.out.flush();
    let audit_failed = match sink.audit.take() {
        Some(a) => {
            let failed = a.failed.is_some();
            if !failed && let Err(e) = a.log.close() {
                ctx.report(&[e.to_diag()], DiagFormat::Human);
                return exit::ERROR;
            }
            failed
        }
        None => false,
    };
    let report = match result {
        Ok((report, _)) => report,
        // Bad records are decided in place, so only an input that cannot be read stops.
        Err(Stop::Input(e)) => {
            ctx.error(e.to_string());
            return exit::ERROR;
        }
        Err(Stop::BadRecord(b)) => {
            ctx.error(b.to_string());
            return exit::ERROR;
        }
    };
    sink.report_state(&report, args.max_keys);
    if audit_failed {
        return exit::ERROR;
    }
    let name = input.name();
    if report.events == 0 && report.errors == 0 {
        if report.not_events > 0 {
            ctx.error(format!(
                "no events in {name}: {} records were read, but none is an agent action (check --input-format)",
                report.not_events
            ));
        } else {
            ctx.error(format!("no events in {name}"));
        }
        return exit::ERROR;
    }
    if report.errors > 0 {
        return exit::ERROR;
    }
    if args.exit_code {
        let v = &report.verdicts;
        if v.deny > 0 {
            return 1;
        }
        if v.escalate > 0 {
            return 3;
        }
    }
    exit::OK
}

/// Opens (or continues) the audit log of `--audit-log` for a point deciding with `program`
/// and stream state made with `limits`, reporting errors and torn lines; with the stream
/// state restored from the log when its last bundle record has the same bundle and limits
/// (unless `--fresh-state`).
fn open_audit(
    ctx: &Ctx,
    path: &std::path::Path,
    a: &crate::cli::AuditArgs,
    program: &Program,
    limits: StreamLimits,
) -> Option<(AuditLog, Option<crate::vm::State>)> {
    let opts = crate::audit::Options {
        limits,
        ..super::audit_options(ctx, a)?
    };
    match crate::audit::restore::open(path, program, opts, super::restore(a)) {
        Ok((log, opened, state)) => {
            for t in &opened.torn {
                ctx.warn(format!(
                    "{} holds a line cut short by a crash ({} bytes, {}); the chain continues after it at seq {}",
                    t.file, t.bytes, t.digest, opened.seq
                ));
            }
            Some((log, state))
        }
        Err(e) => {
            ctx.report(&[e.to_diag()], DiagFormat::Human);
            None
        }
    }
}

/// The program `eval` decides with: a bundle (verified against `--trust`, with `--state`), or
/// the policy sources compiled; `None` once the reason is reported.
pub(super) fn load_program(ctx: &Ctx, args: &EvalArgs) -> Option<Program> {
    match (&args.bundle, &args.trust) {
        (Some(path), Some(trust)) => {
            let t = crate::pipeline::Trusted {
                trust,
                signature: args.signature.as_deref(),
                state: args.state.as_deref(),
            };
            match crate::pipeline::load_signed_bundle(path, t) {
                Ok(p) => Some(p),
                Err(diags) => {
                    ctx.report(&diags, DiagFormat::Human);
                    None
                }
            }
        }
        (Some(path), None) => match crate::pipeline::load_bundle(path) {
            Ok(p) => Some(p),
            Err(d) => {
                ctx.report(&[d], DiagFormat::Human);
                None
            }
        },
        (None, _) => match crate::pipeline::build_paths(&args.policy) {
            Ok(b) => Some(b.program),
            Err(diags) => {
                ctx.report(&diags, DiagFormat::Human);
                None
            }
        },
    }
}

/// Whether `input` is a pipe, a terminal or a socket (a program may be waiting for each
/// decision) rather than a file.
fn is_interactive(input: &Input) -> bool {
    use std::os::fd::AsFd;
    let meta = match input {
        Input::Path(p) => std::fs::metadata(p),
        _ => std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata()),
    };
    meta.is_ok_and(|m| !m.file_type().is_file())
}

/// Writes what the engine decides: decision lines (or explanations), bad records on
/// standard error, and a flush after each block when a program is waiting. With an audit
/// log, what a block decided is held until the log has its records.
struct EvalSink<'a> {
    ctx: &'a Ctx,
    out: Out,
    explain: bool,
    interactive: bool,
    /// Decisions written (events and bad records), for explanations.
    count: u64,
    /// Where the first record refused at the key bound, and the first event whose `ts` was
    /// not believed, were.
    first_refused: Option<(String, u64)>,
    first_untimed: Option<(String, u64)>,
    digest: &'a str,
    audit: Option<Audited>,
}

/// The audit log of an `eval` run, and what waits for it.
struct Audited {
    log: AuditLog,
    /// Why the log stopped: every decision since is denied.
    failed: Option<String>,
    /// The output of the decisions whose records are queued, and where each decision's
    /// input was (file, line, explanation number).
    held: String,
    /// (the file is an index into `files`: no allocation per decision).
    held_at: Vec<(usize, u64, u64)>,
    /// The names of the files held decisions come from.
    files: Vec<String>,
    /// Decisions denied because their records could not be written.
    denied: u64,
}

impl Audited {
    /// Holds a decision of `file`, line `line`, explanation `n`.
    fn hold(&mut self, file: &str, line: u64, n: u64) {
        if self.files.last().is_none_or(|f| f != file) {
            self.files.push(file.to_string());
        }
        self.held_at
            .push((self.files.len().saturating_sub(1), line, n));
    }

    /// Queues a record (`Err` is reported once; the log then takes no more).
    fn queue(
        &mut self,
        ctx: &Ctx,
        r: impl FnOnce(&mut AuditLog) -> Result<u64, crate::audit::AuditError>,
    ) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = r(&mut self.log) {
            ctx.report(&[e.to_diag()], DiagFormat::Human);
            self.failed = Some(e.message);
        }
    }
}

impl Sink for EvalSink<'_> {
    fn wants_decisions(&self) -> bool {
        !self.explain
    }

    fn decisions(&mut self, lines: &str) {
        match self.audit.as_mut() {
            // The block's decision lines come once, at its end, each after its record was
            // queued: the records are written, then the lines go out as they are (not
            // copied to be held first).
            Some(a) if a.held.is_empty() => self.release_with(lines),
            Some(a) => a.held.push_str(lines),
            None => self.out.write_str(lines),
        }
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn event(&mut self, d: &Decided<'_>) {
        self.count += 1;
        if self.first_refused.is_none() && d.refused > 0 {
            self.first_refused = Some((d.file.to_string(), d.line));
        }
        if self.first_untimed.is_none() && d.untimed > 0 {
            self.first_untimed = Some((d.file.to_string(), d.line));
        }
        let text = self
            .explain
            .then(|| explain(d.program, d.outcome, d.trace, self.count, d.file, d.line));
        match self.audit.as_mut() {
            Some(a) => {
                match d.text {
                    Some(event) => a.queue(self.ctx, |log| {
                        log.queue_outcome(event, d.program, d.outcome)
                    }),
                    None => a.queue(self.ctx, |_| {
                        Err(crate::audit::AuditError {
                            file: String::new(),
                            message: "internal error: the event as decided was not kept".into(),
                            help: None,
                        })
                    }),
                }
                a.hold(d.file, d.line, self.count);
                if let Some(t) = text {
                    a.held.push_str(&t);
                }
            }
            None => {
                if let Some(t) = text {
                    self.out.write_str(&t);
                }
            }
        }
    }

    fn bad(&mut self, bad: &BadRecord, _n: u64, _max: u64) {
        self.count += 1;
        self.ctx.error(bad.to_string());
        let text = self.explain.then(|| {
            format!(
                "event {} ({}:{}): deny\n  error      {}\n\n",
                self.count, bad.file, bad.line, bad.message
            )
        });
        match self.audit.as_mut() {
            Some(a) => {
                // The decision the engine writes in its place, recorded without an event.
                let d = Decision::error(self.digest, format!("line {}: {}", bad.line, bad.message));
                a.queue(self.ctx, |log| log.queue_decision(None, &d));
                a.hold(&bad.file, bad.line, self.count);
                if let Some(t) = text {
                    a.held.push_str(&t);
                }
            }
            None => {
                if let Some(t) = text {
                    self.out.write_str(&t);
                }
            }
        }
    }

    fn block_end(&mut self) {
        self.release();
        if self.interactive {
            self.out.flush();
        }
    }
}

impl EvalSink<'_> {
    /// Writes the records of the held decisions, then lets the decisions go; if the records
    /// cannot be written, each held decision is a deny instead, reported with its line.
    fn release(&mut self) {
        self.release_with("");
    }

    /// [`EvalSink::release`], with `lines` the output of the held decisions after what is
    /// held.
    fn release_with(&mut self, lines: &str) {
        let Some(a) = self.audit.as_mut() else {
            return;
        };
        if a.held_at.is_empty() {
            a.held.clear();
            return;
        }
        if a.failed.is_none()
            && let Err(e) = a.log.flush()
        {
            self.ctx.report(&[e.to_diag()], DiagFormat::Human);
            a.failed = Some(e.message);
        }
        match &a.failed {
            None => {
                self.out.write_str(&a.held);
                self.out.write_str(lines);
            }
            Some(m) => {
                let why = format!("not decided: the audit log cannot be written ({m})");
                for &(file, line, n) in &a.held_at {
                    let file = a.files.get(file).map_or("", String::as_str);
                    self.ctx.error(format!("{file}:{line}: {why}"));
                    a.denied += 1;
                    if self.explain {
                        self.out.write_str(&format!(
                            "event {n} ({file}:{line}): deny\n  error      {why}\n\n"
                        ));
                    } else {
                        let d = Decision::error(self.digest, format!("line {line}: {why}"));
                        self.out.line(&d.to_json_line());
                    }
                }
            }
        }
        a.held.clear();
        a.held_at.clear();
        a.files.clear();
    }

    /// Warns about what the stream state could not take as it came.
    fn report_state(&self, report: &engine::Report, max_keys: usize) {
        if let Some((file, line)) = &self.first_untimed {
            let n = report.untimed;
            self.ctx.warn(format!(
                "{n} {} a `ts` more than {} from stream time and {} decided with `ts` unknown (first {file}:{line})",
                if n == 1 { "event had" } else { "events had" },
                crate::bytecode::listing::duration(StreamLimits::MAX_SKEW),
                if n == 1 { "was" } else { "were" },
            ));
        }
        if let Some((file, line)) = &self.first_refused {
            let n = report.refused;
            self.ctx.warn(format!(
                "the stream state reached --max-keys {max_keys} (first {file}:{line}): {n} {} refused, and keys it could not hold were decided unknown (fail closed)",
                if n == 1 { "record was" } else { "records were" },
            ));
        }
    }
}

/// The explanation of one decision, for people.
pub(super) fn explain(
    p: &Program,
    o: &Outcome,
    trace: &[Step],
    n: u64,
    file: &str,
    line: u64,
) -> String {
    let m = &p.model;
    let verdict = o.verdict.unwrap_or(m.default);
    let rule = |r: &u32| m.rules.get(*r as usize);
    let mut s = format!("event {n} ({file}:{line}): {verdict}\n");
    if p.determining(o).is_empty() {
        s.push_str(&format!(
            "  {:<11}the default ({})\n",
            "decided by", m.default
        ));
    }
    for (i, r) in p.determining(o).iter().filter_map(rule).enumerate() {
        let head = if i == 0 {
            "  decided by "
        } else {
            "             "
        };
        let file = m
            .files
            .get(r.file as usize)
            .map(String::as_str)
            .unwrap_or("?");
        s.push_str(&format!("{head}{} {}  ({file}:{})", r.effect, r.id, r.line));
        if let Some(msg) = &r.message {
            s.push_str(&format!(": {msg}"));
        }
        s.push('\n');
    }
    let others: Vec<&u32> = p
        .matched(o)
        .iter()
        .filter(|r| !p.determining(o).contains(r))
        .collect();
    for (i, r) in others.iter().filter_map(|r| rule(r)).enumerate() {
        let head = if i == 0 {
            "  also       "
        } else {
            "             "
        };
        s.push_str(&format!("{head}{} {}\n", r.effect, r.id));
    }
    for (i, r) in p.unknown_rules(o).iter().filter_map(rule).enumerate() {
        let head = if i == 0 {
            "  undecided  "
        } else {
            "             "
        };
        let note = if r.effect == crate::bytecode::model::Effect::Allow {
            "does not permit"
        } else {
            "matches (fail-closed)"
        };
        s.push_str(&format!("{head}{} {} is unknown: {note}\n", r.effect, r.id));
    }
    for (i, step) in trace.iter().enumerate() {
        let head = if i == 0 {
            "  path       "
        } else {
            "             "
        };
        s.push_str(&format!("{head}{}\n", step_text(p, step)));
    }
    if o.unknown.is_empty() {
        s.push_str("  unknown    none\n");
    } else {
        let names: Vec<&str> = o.unknown.iter().map(|u| p.slot_name(*u)).collect();
        s.push_str(&format!("  unknown    {}\n", names.join(", ")));
    }
    s.push('\n');
    s
}

fn step_text(p: &Program, step: &Step) -> String {
    let m = &p.model;
    let node = m.nodes.get(step.node as usize);
    let var = m.vars.get(step.var as usize);
    let name = |o| crate::bytecode::listing::operand(m, o);
    match (node, var) {
        (Some(NodeDef::Switch { .. }), Some(Var::Switch { operand, .. })) => match step
            .outcome
            .as_str()
        {
            "unknown" => format!("{} is unknown", name(operand)),
            "another value" => format!("{} is none of the values the rules name", name(operand)),
            v => format!("{} == {v}", name(operand)),
        },
        (Some(NodeDef::Thresh { .. }), Some(Var::Thresh { operand })) => {
            match step.outcome.as_str() {
                "unknown" => format!("{} is unknown", name(operand)),
                v => format!("{} = {v}", name(operand)),
            }
        }
        (_, Some(v)) => format!(
            "{} → {}",
            crate::bytecode::listing::var(m, v).trim_start_matches("bool "),
            step.outcome
        ),
        _ => step.outcome.clone(),
    }
}
