//! The restart engine fault as the decision point really restarts.
//!
//! A point with an audit log (the default an experiment models, `point: {audit_log: true}`)
//! records every decision through its [`Recorder`] before the decision leaves it; when the
//! process is gone and starts again on the same log, it restores its stream state from the
//! log ([`crate::audit::restore`]) and goes on. So the restart fault decides the stretch
//! before the restart through a real `Recorder` into a temporary log, drops the recorder
//! without a clean close (a crash: no final checkpoint), opens the log again as a restarting
//! point does, and decides the rest with the stream state the restore gives. A point whose
//! log refuses the restart does not start: everything after it is denied. A point without an
//! audit log (`point: {audit_log: false}`) keeps its state in memory only, and a restart
//! starts it fresh ([`super::run`]'s lost-state stream).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::restore::Restore;
use crate::bytecode::model::Verdict;
use crate::decision::Decision;
use crate::point::Recorder;
use crate::stream::{Clock, Prepared, Preparer, Stream};
use crate::vm::{Outcome, Program, StreamLimits};

/// Decides `texts` in order as a decision point with an audit log restarted before
/// position `at`; returns the verdicts, and the decisions when `keep`.
pub(super) fn decide_restored(
    program: &Program,
    clock: Clock,
    texts: &[String],
    at: usize,
    keep: bool,
) -> (Vec<Verdict>, Vec<Decision>) {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "govern-chaos-restart-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let path = dir.join("audit.jsonl");
    let max_keys = StreamLimits::default().max_keys;
    let limits = clock.limits(max_keys);
    // The point (re)starts: the log opened, the state restored from it or fresh; `Err` when
    // the point refuses to start, with the reason.
    let start = || -> Result<(Recorder, Stream), String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let opts = crate::audit::Options {
            sync: crate::audit::SyncMode::None,
            ..crate::audit::Options::default()
        };
        let mut rec = Recorder::restoring(path.clone(), opts, Restore::default());
        let stream = match rec.open(program, limits).map_err(|e| e.to_string())? {
            Some((_, Some(state))) => Stream::restored(state),
            _ => Stream::new(program, clock, max_keys),
        };
        Ok((rec, stream))
    };
    let mut point = start();
    let mut preparer = Preparer::default();
    let mut p = Prepared::default();
    let mut out = Outcome::default();
    let mut verdicts = Vec::with_capacity(texts.len());
    let mut decisions = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        if i == at {
            // The process is gone (what it wrote stays, no clean close) and starts again.
            drop(point);
            point = start();
        }
        let (rec, stream) = match &mut point {
            Ok((rec, stream)) => (rec, stream),
            Err(why) => {
                if keep {
                    let why = format!("not decided: the decision point did not start: {why}");
                    decisions.push(Decision::error(&program.digest, why));
                }
                verdicts.push(Verdict::Deny);
                continue;
            }
        };
        // What the VM reads is what the log keeps: the event as decided.
        let decision = match preparer.prepare(program, t, clock, None, true, &mut p) {
            Err(e) => {
                let d = Decision::error(&program.digest, e.describe(t));
                let _ = rec.refusal(&d).and_then(|seq| rec.flush_to(seq));
                verdicts.push(Verdict::Deny);
                if keep {
                    decisions.push(d);
                }
                continue;
            }
            Ok(()) => {
                stream.decide_in_place(&mut preparer, program, &p, &mut out);
                rec.decision(program, &p.decided, &out)
                    .and_then(|seq| rec.flush_to(seq))
            }
        };
        match decision {
            Ok(()) => {
                verdicts.push(out.verdict.unwrap_or(program.model.default));
                if keep {
                    decisions.push(program.decision(&out));
                }
            }
            // A decision whose record cannot be written does not leave the point.
            Err(f) => {
                verdicts.push(Verdict::Deny);
                if keep {
                    let why = format!("not decided: the audit log cannot be written: {f}");
                    decisions.push(Decision::error(&program.digest, why));
                }
            }
        }
    }
    drop(point);
    let _ = std::fs::remove_dir_all(&dir);
    (verdicts, decisions)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn program(src: &str) -> Program {
        crate::pipeline::build_sources(vec![crate::diag::SourceFile::new("p.gov", src)])
            .unwrap()
            .program
    }

    /// Restarted through its audit log, a point decides as the unbroken stream does (the
    /// rate limit keeps counting); started fresh, it lets the fourth search through.
    #[test]
    fn a_point_restarted_on_its_log_decides_as_the_unbroken_stream() {
        let p = program(
            r#"default allow
policy p { rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1h, per agent.id) >= 3 }"#,
        );
        let texts: Vec<String> = (0..6)
            .map(|i| {
                format!(
                    r#"{{"tool":"web_search","agent":{{"id":"a"}},"args":{{"query":"q{i}"}},"ts":"2026-11-23T10:00:0{i}Z"}}"#
                )
            })
            .collect();
        for clock in [Clock::Event, Clock::Trusted] {
            let mut fresh = Stream::new(&p, clock, StreamLimits::default().max_keys);
            let (mut pr, mut pp, mut out) =
                (Preparer::default(), Prepared::default(), Outcome::default());
            let unbroken: Vec<Verdict> = texts
                .iter()
                .map(|t| {
                    pr.prepare(&p, t, clock, None, false, &mut pp).unwrap();
                    fresh.decide(&p, &pp, &mut out);
                    out.verdict.unwrap_or(p.model.default)
                })
                .collect();
            assert_eq!(unbroken[3], Verdict::Deny);
            for at in 1..texts.len() {
                let (v, d) = decide_restored(&p, clock, &texts, at, true);
                assert_eq!(v, unbroken, "restart before event {at}");
                assert_eq!(d.len(), texts.len());
                assert!(d.iter().all(|d| d.error.is_none()), "{d:?}");
            }
        }
    }
}
