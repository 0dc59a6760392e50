//! `govern eval` for audited and host-clock decisions: each event is read, stamped with the
//! host's time when `--clock host`, decided and recorded in the audit log before its decision
//! is printed (docs/audit.md). `eval` hands a run over to this path when `--audit-log` or
//! `--clock host` is given; it reads JSON events (one per line, or one object over several
//! lines, gzipped or not), not the trace formats of `--input-format`.

use std::io::{Read, Write as _};

use super::eval::{EventSink, read_events};
use crate::audit::{AuditLog, DecidedEvent};
use crate::bytecode::model::Verdict;
use crate::cli::{Clock, DiagFormat, EvalArgs};

use crate::commands::{Ctx, Out, exit};
use crate::decision::Decision;
use crate::vm::{Event, Outcome, Program, State, Step, StreamLimits};

pub(super) fn run(ctx: &Ctx, args: &EvalArgs) -> u8 {
    let Some(program) = super::eval::load_program(ctx, args) else {
        return exit::ERROR;
    };
    let (name, reader): (String, Box<dyn Read + Send>) = match &args.events {
        None => ("<stdin>".into(), Box::new(std::io::stdin())),
        Some(p) if p.as_os_str() == "-" => ("<stdin>".into(), Box::new(std::io::stdin())),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => (crate::source::display(p), Box::new(f)),
            Err(e) => {
                ctx.error(format!("cannot read {}: {e}", crate::source::display(p)));
                return exit::ERROR;
            }
        },
    };
    // Gzipped events are read as `simulate` and the other paths of `eval` read them.
    let reader = match crate::trace::decompressed(&name, reader) {
        Ok(r) => r,
        Err(e) => {
            ctx.error(e.to_string());
            return exit::ERROR;
        }
    };
    // A point that keeps time itself believes its clock: every `ts` it stamps.
    let limits = StreamLimits {
        max_keys: args.max_keys,
        max_skew: match args.clock {
            Clock::Host => None,
            Clock::Event => StreamLimits::default().max_skew,
        },
    };
    let audit = match &args.audit.audit_log {
        Some(path) => match open_audit(ctx, path, &args.audit, &program.digest, limits) {
            Some(log) => Some(log),
            None => return exit::ERROR,
        },
        None => None,
    };
    let mut ev_run = Run {
        audit,
        audit_failed: None,
        recorded: false,
        decided: DecidedEvent::default(),
        held: String::new(),
        held_lines: Vec::new(),
        clock: args.clock,
        program: &program,
        state: program.new_state_with(limits),
        event: Event::default(),
        outcome: Outcome::default(),
        trace: Vec::new(),
        out: Out::new(),
        explain: args.explain,
        worst: None,
        errors: 0,
        count: 0,
        ctx,
        name: name.clone(),
        first_refused: None,
        first_untimed: None,
    };
    let read_ok = read_events(reader, &mut ev_run);
    if let Err(e) = read_ok {
        ctx.error(format!("cannot read {name}: {e}"));
        return exit::ERROR;
    }
    ev_run.release();
    ev_run.out.flush();
    ev_run.report_state(args.max_keys);
    if let Some(log) = ev_run.audit.take()
        && let Err(e) = log.close()
    {
        ctx.report(&[e.to_diag()], DiagFormat::Human);
        return exit::ERROR;
    }
    if ev_run.audit_failed.is_some() {
        return exit::ERROR;
    }

    if ev_run.count == 0 && ev_run.errors == 0 {
        ctx.error(format!("no events in {name}"));
        return exit::ERROR;
    }
    if ev_run.errors > 0 {
        return exit::ERROR;
    }
    if args.exit_code {
        return match ev_run.worst {
            Some(Verdict::Deny) => 1,
            Some(Verdict::Escalate) => 3,
            _ => exit::OK,
        };
    }
    exit::OK
}

/// Opens the audit log of `--audit-log` for a point deciding with bundle `digest`,
/// reporting errors and torn lines.
pub fn open_audit(
    ctx: &Ctx,
    path: &std::path::Path,
    a: &crate::cli::AuditArgs,
    digest: &str,
    limits: StreamLimits,
) -> Option<AuditLog> {
    let key = match &a.audit_key {
        Some(k) => {
            let name = crate::source::display(k);
            let text = match std::fs::read_to_string(k) {
                Ok(t) => zeroize::Zeroizing::new(t),
                Err(e) => {
                    ctx.error(format!("cannot read the audit key {name}: {e}"));
                    return None;
                }
            };
            match crate::sign::PrivateKey::from_pem(&text) {
                Ok(k) => Some(k),
                Err(e) => {
                    ctx.error(format!("{name}: {e}"));
                    return None;
                }
            }
        }
        None => None,
    };
    let opts = crate::audit::Options {
        sync: match a.audit_sync {
            crate::cli::AuditSync::Always => crate::audit::SyncMode::Always,
            crate::cli::AuditSync::Batch => crate::audit::SyncMode::Batch,
            crate::cli::AuditSync::None => crate::audit::SyncMode::None,
        },
        key,
        checkpoint_every: a.checkpoint_every,
        rotate: a.audit_rotate,
        limits,
    };
    match AuditLog::open(path, digest, opts) {
        Ok((log, opened)) => {
            for t in &opened.torn {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "warning: {} holds a line cut short by a crash ({} bytes, {}); the chain continues after it at seq {}",
                    t.file, t.bytes, t.digest, opened.seq
                );
            }
            Some(log)
        }
        Err(e) => {
            ctx.report(&[e.to_diag()], DiagFormat::Human);
            None
        }
    }
}

struct Run<'a> {
    /// The audit log, when one is written.
    audit: Option<AuditLog>,
    /// Why the audit log stopped: every later event is denied.
    audit_failed: Option<String>,
    /// The current event's record is written (by `event`, before it reports a bad event).
    recorded: bool,
    /// The event as decided, reused from event to event.
    decided: DecidedEvent,
    /// What is printed for the decisions whose records wait to be written (group commit):
    /// released once they are, replaced by denials if they cannot be.
    held: String,
    /// The input line of each held decision.
    held_lines: Vec<usize>,
    clock: Clock,
    program: &'a Program,
    state: State,
    event: Event,
    outcome: Outcome,
    trace: Vec<Step>,
    out: Out,
    explain: bool,
    worst: Option<Verdict>,
    errors: usize,
    count: usize,
    ctx: &'a Ctx,
    name: String,
    /// The lines of the first event with a record refused at the key bound, and of the first
    /// whose `ts` was not believed.
    first_refused: Option<usize>,
    first_untimed: Option<usize>,
}

impl EventSink for Run<'_> {
    fn event(&mut self, line: usize, text: &str) -> Result<(), String> {
        Run::event(self, line, text)
    }

    fn bad(&mut self, line: usize, message: &str) {
        Run::bad(self, line, message)
    }
}

impl Run<'_> {
    fn note(&mut self, v: Verdict) {
        let rank = |v: Verdict| match v {
            Verdict::Allow => 0,
            Verdict::Escalate => 1,
            Verdict::Deny => 2,
        };
        if self.worst.is_none_or(|w| rank(v) > rank(w)) {
            self.worst = Some(v);
        }
    }

    /// Queues a decision's record in the audit log; on failure reports it once and makes
    /// every later decision a deny.
    fn record(&mut self, event: Option<&DecidedEvent>, outcome: Option<&Decision>) -> bool {
        let Some(log) = self.audit.as_mut() else {
            return true;
        };
        if self.audit_failed.is_some() {
            return false;
        }
        let r = match outcome {
            Some(d) => log.queue_decision(event, d),
            None => match event {
                Some(ev) => log.queue_outcome(ev, self.program, &self.outcome),
                None => return false,
            },
        };
        match r {
            Ok(_) => true,
            Err(e) => {
                self.ctx.report(&[e.to_diag()], DiagFormat::Human);
                self.audit_failed = Some(e.message);
                false
            }
        }
    }

    /// Prints what one event decided: at once without an audit log, else held until its
    /// record is written.
    fn show(&mut self, line: usize, text: &str) {
        if self.audit.is_none() || self.audit_failed.is_some() {
            self.out.write_str(text);
            return;
        }
        self.held.push_str(text);
        self.held_lines.push(line);
        if self.held_lines.len() >= 256 || self.held.len() >= 32 * 1024 {
            self.release();
        }
    }

    /// Writes the records of the held decisions, then prints them; if the records cannot
    /// be written, each held event is denied instead.
    fn release(&mut self) {
        let Some(log) = self.audit.as_mut() else {
            return;
        };
        let flushed = match &self.audit_failed {
            Some(m) => Err(m.clone()),
            None => log.flush().map_err(|e| {
                self.ctx.report(&[e.to_diag()], DiagFormat::Human);
                e.message
            }),
        };
        match flushed {
            Ok(()) => self.out.write_str(&self.held),
            Err(m) => {
                self.audit_failed = Some(m.clone());
                for line in std::mem::take(&mut self.held_lines) {
                    let why = format!("not decided: the audit log cannot be written ({m})");
                    self.ctx.error(format!("{}:{line}: {why}", self.name));
                    self.errors += 1;
                    self.note(Verdict::Deny);
                    let d = Decision::error(&self.program.digest, format!("line {line}: {why}"));
                    self.out.line(&d.to_json_line());
                }
            }
        }
        self.held.clear();
        self.held_lines.clear();
    }

    /// A line that could not be read as an event: reported, and decided deny.
    fn bad(&mut self, line: usize, message: &str) {
        let message = match &self.audit_failed {
            Some(m) if !self.recorded => {
                format!("not decided: the audit log cannot be written ({m})")
            }
            _ => message.to_string(),
        };
        let message = message.as_str();
        self.errors += 1;
        self.count += 1;
        self.ctx.error(format!("{}:{line}: {message}", self.name));
        let d = Decision::error(&self.program.digest, format!("line {line}: {message}"));
        if !std::mem::take(&mut self.recorded) && self.audit_failed.is_none() {
            self.record(None, Some(&d));
        }
        self.note(Verdict::Deny);
        let text = if self.explain {
            format!(
                "event {} ({}:{line}): deny\n  error      {message}\n\n",
                self.count, self.name
            )
        } else {
            format!("{}\n", d.to_json_line())
        };
        self.show(line, &text);
    }

    fn event(&mut self, line: usize, text: &str) -> Result<(), String> {
        if let Some(m) = &self.audit_failed {
            return Err(format!(
                "not decided: the audit log cannot be written ({m})"
            ));
        }
        // The event as decided: what the VM reads is what the audit log keeps.
        let decided = if self.audit.is_some() || self.clock == Clock::Host {
            let mut d = std::mem::take(&mut self.decided);
            let ts = (self.clock == Clock::Host).then(crate::sign::now_ns);
            if let Err(e) = d.set(text, ts) {
                self.decided = d;
                return Err(e);
            }
            Some(d)
        } else {
            None
        };
        let r = self.decide(
            line,
            decided.as_ref().map_or(text, DecidedEvent::as_str),
            decided.as_ref(),
        );
        if let Some(d) = decided {
            self.decided = d;
        }
        r
    }

    fn decide(
        &mut self,
        line: usize,
        text: &str,
        decided: Option<&DecidedEvent>,
    ) -> Result<(), String> {
        if let Err(e) = self.program.read_event(text, &mut self.event) {
            let why = e.describe(text);
            if let Some(ev) = decided {
                let d = crate::audit::replay::unreadable(self.program, text, &e);
                self.recorded = true;
                if !self.record(Some(ev), Some(&d)) {
                    self.recorded = false;
                }
            }
            return Err(why);
        }
        if self.explain {
            self.trace.clear();
            self.program.eval_traced(
                &self.event,
                &mut self.state,
                &mut self.outcome,
                &mut self.trace,
            );
        } else {
            self.program
                .eval(&self.event, &mut self.state, &mut self.outcome);
        }
        // Recorded before it is shown: no decision leaves without its record.
        if let Some(ev) = decided
            && !self.record(Some(ev), None)
        {
            return Err(format!(
                "not decided: the audit log cannot be written ({})",
                self.audit_failed.clone().unwrap_or_default()
            ));
        }
        self.count += 1;
        if self.explain {
            let text = super::eval::explain(
                self.program,
                &self.outcome,
                &self.trace,
                self.count as u64,
                &self.name,
                line as u64,
            );
            self.show(line, &text);
        } else {
            let mut buf = String::with_capacity(256);
            self.program.write_json(&self.outcome, &mut buf);
            buf.push('\n');
            self.show(line, &buf);
        }
        let v = self.outcome.verdict.unwrap_or(self.program.model.default);
        self.note(v);
        if self.first_refused.is_none() && self.state.refused > 0 {
            self.first_refused = Some(line);
        }
        if self.first_untimed.is_none() && self.state.untimed > 0 {
            self.first_untimed = Some(line);
        }
        Ok(())
    }

    /// Warns about what the stream state could not take as it came.
    fn report_state(&self, max_keys: usize) {
        let st = &self.state;
        if let Some(line) = self.first_untimed {
            self.ctx.warn(format!(
                "{} {} a `ts` more than {} from stream time and {} decided with `ts` unknown (first {}:{line})",
                st.untimed,
                if st.untimed == 1 { "event had" } else { "events had" },
                crate::bytecode::listing::duration(StreamLimits::MAX_SKEW),
                if st.untimed == 1 { "was" } else { "were" },
                self.name,
            ));
        }
        if let Some(line) = self.first_refused {
            self.ctx.warn(format!(
                "the stream state reached --max-keys {max_keys} (first {}:{line}): {} {} refused, and keys it could not hold were decided unknown (fail closed)",
                self.name,
                st.refused,
                if st.refused == 1 { "record was" } else { "records were" },
            ));
        }
    }
}
