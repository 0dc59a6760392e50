//! `govern simulate`: replay recorded traffic through a policy and report what it decides,
//! what changes against the recorded decisions and a baseline policy, and CI gates on it.
//!
//! The engine ([`crate::stream::engine`]) reads and decides; [`report`] draws. This file wires the command
//! line to them: loading policies, the progress bar, gates, output and exit status.

pub mod report;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::bytecode::model::Verdict;
use crate::cli::{DiagFormat, Gate, SimulateArgs, SimulateFormat};
use crate::commands::{Ctx, Out, exit};
use crate::diag::{Diag, Location};
use crate::stream::engine::{self, BadRecord, Counters, Options, Report, Sink, Stop};
use crate::trace::Input;
use crate::vm::Program;
use report::GateResult;

pub fn run(ctx: &Ctx, args: &SimulateArgs) -> u8 {
    let trust = args.trust.as_deref().map(|trust| crate::pipeline::Trusted {
        trust,
        signature: None,
        state: args.state.as_deref(),
    });
    let Some(policy) = load(ctx, args.bundle.as_deref(), &args.policy, trust) else {
        return exit::ERROR;
    };
    let has_baseline = args.baseline_bundle.is_some() || !args.baseline.is_empty();
    let baseline = if has_baseline {
        match load(ctx, args.baseline_bundle.as_deref(), &args.baseline, trust) {
            Some(p) => Some(p),
            None => return exit::ERROR,
        }
    } else {
        None
    };
    let mut inputs = match crate::trace::expand(&args.traces) {
        Ok(i) => i,
        Err(e) => {
            report_trace_error(ctx, &e);
            return exit::ERROR;
        }
    };
    for pair in args.mcp_pair.chunks(2) {
        if let [client, server] = pair {
            inputs.push(Input::McpPair {
                client: Box::new(Input::Path(client.clone())),
                server: Box::new(Input::Path(server.clone())),
            });
        }
    }
    let jobs = args.jobs.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    let show_progress = ctx.stderr_tty && !args.no_progress;
    let counters = (show_progress || args.stats).then(|| Arc::new(Counters::default()));
    let opts = Options {
        policy: &policy,
        baseline: baseline.as_ref(),
        format: args.input_format.input(),
        jobs,
        max_errors: args.max_errors,
        counters: counters.clone(),
        limits: crate::vm::StreamLimits {
            max_keys: args.max_keys,
            ..crate::vm::StreamLimits::default()
        },
        ..Options::new(&policy)
    };
    let dump = match &args.dump_events {
        Some(path) => match crate::fsutil::AtomicFile::create(path, None) {
            Ok(f) => Some((path.as_path(), f)),
            Err(e) => {
                ctx.error(format!(
                    "cannot write {}: {e}",
                    crate::source::display(path)
                ));
                return exit::ERROR;
            }
        },
        None => None,
    };
    let mut sink = CliSink {
        ctx,
        out: Out::new(),
        jsonl: args.format == SimulateFormat::Jsonl,
        progress_shown: show_progress,
        dump,
        dump_failed: None,
    };
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        if let (true, Some(c)) = (show_progress, &counters) {
            let total = inputs.iter().map(Input::size).sum::<Option<u64>>();
            let done = &done;
            scope.spawn(move || progress(c, total, done, started));
        }
        let r = engine::run(&opts, &inputs, &mut sink);
        done.store(true, Ordering::Relaxed);
        r
    });
    sink.out.flush();
    // The events decided so far are written even when the run stopped: they show what the
    // policy saw up to there.
    if let Some((path, f)) = sink.dump.take() {
        let done = match sink.dump_failed.take() {
            Some(e) => Err(e),
            None => f.commit(),
        };
        if let Err(e) = done {
            ctx.error(format!(
                "cannot write {}: {e}",
                crate::source::display(path)
            ));
            return exit::ERROR;
        }
    }
    let elapsed = started.elapsed();
    let (report, run_stats) = match result {
        Ok(r) => r,
        Err(Stop::BadRecord(b)) => {
            report_bad_record(ctx, &b, args.max_errors);
            return exit::ERROR;
        }
        Err(Stop::Input(e)) => {
            report_trace_error(ctx, &e);
            return exit::ERROR;
        }
    };
    if args.stats {
        let events = report.events;
        let secs = elapsed.as_secs_f64().max(1e-9);
        let bytes = counters
            .as_ref()
            .map_or(0, |c| c.bytes.load(Ordering::Relaxed));
        let rss = peak_rss()
            .map(|b| format!("{:.1} MB", b as f64 / 1e6))
            .unwrap_or_else(|| "unknown".into());
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "stats: {} events in {:.2} s ({} events/s), {:.1} MB read, peak memory {rss}, at most {} stream state keys, {jobs} jobs",
            report::thousands(events),
            secs,
            report::thousands((events as f64 / secs) as u64),
            bytes as f64 / 1e6,
            report::thousands(run_stats.max_state_keys as u64),
        );
    }
    if report.events == 0 {
        let mut d = Diag::error("govern::trace", "no events in the traces");
        if report.not_events > 0 {
            d = d.help(format!(
                "{} records were read, but none is an agent action: check --input-format",
                report.not_events
            ));
        } else {
            d = d.help("simulate needs at least one event (one JSON object per line)");
        }
        ctx.report(&[d], DiagFormat::Human);
        return exit::ERROR;
    }
    let gates = match gates(&args.fail_on, &report) {
        Ok(g) => g,
        Err(d) => {
            ctx.report(&[d], DiagFormat::Human);
            return exit::ERROR;
        }
    };
    let policy_name = policy_label(args.bundle.as_deref(), &args.policy);
    let baseline_name =
        has_baseline.then(|| policy_label(args.baseline_bundle.as_deref(), &args.baseline));
    let mut out = sink.out;
    match args.format {
        SimulateFormat::Text => {
            let fancy = ctx.stdout_tty && std::io::stdout().is_terminal();
            out.write_str(&report::text(
                &report,
                &policy_name,
                baseline_name.as_deref(),
                &gates,
                fancy,
            ));
        }
        SimulateFormat::Json => {
            let doc = report::JsonReport {
                version: 1,
                policy: &policy_name,
                baseline_policy: baseline_name.as_deref(),
                report: &report,
                gates: &gates,
            };
            match serde_json::to_string_pretty(&doc) {
                Ok(s) => out.line(&s),
                Err(e) => {
                    ctx.error(format!("cannot write the report: {e}"));
                    return exit::ERROR;
                }
            }
        }
        SimulateFormat::Jsonl => {
            for g in gates.iter().filter(|g| !g.passed) {
                ctx.error(format!("gate `{}` failed: {}", g.gate, g.detail));
            }
        }
    }
    out.flush();
    if gates.iter().any(|g| !g.passed) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// Compiles policies or loads a bundle (verifying its signature when a trust file is given),
/// reporting errors.
fn load(
    ctx: &Ctx,
    bundle: Option<&std::path::Path>,
    paths: &[std::path::PathBuf],
    trust: Option<crate::pipeline::Trusted<'_>>,
) -> Option<Program> {
    match (bundle, trust) {
        (Some(b), Some(trust)) => match crate::pipeline::load_signed_bundle(b, trust) {
            Ok(p) => Some(p),
            Err(diags) => {
                ctx.report(&diags, DiagFormat::Human);
                None
            }
        },
        (Some(b), None) => match crate::pipeline::load_bundle(b) {
            Ok(p) => Some(p),
            Err(d) => {
                ctx.report(&[d], DiagFormat::Human);
                None
            }
        },
        (None, _) => match crate::pipeline::build_paths(paths) {
            Ok(b) => Some(b.program),
            Err(diags) => {
                ctx.report(&diags, DiagFormat::Human);
                None
            }
        },
    }
}

fn policy_label(bundle: Option<&std::path::Path>, paths: &[std::path::PathBuf]) -> String {
    match bundle {
        Some(b) => crate::source::display(b),
        None => paths
            .iter()
            .map(|p| crate::source::display(p))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Evaluates the gates; a gate that needs a comparison the run does not have is an error.
fn gates(wanted: &[Gate], r: &Report) -> Result<Vec<GateResult>, Diag> {
    let comparisons: Vec<(&str, &engine::Comparison)> = [
        ("the baseline", r.baseline.as_ref()),
        ("the recorded decisions", r.recorded.as_ref()),
    ]
    .into_iter()
    .filter_map(|(n, c)| c.map(|c| (n, c)))
    .collect();
    let mut out = Vec::new();
    for g in wanted {
        let needs = matches!(g, Gate::NewAllow | Gate::AnyFlip);
        if needs && comparisons.is_empty() {
            return Err(Diag::error(
                "govern::usage",
                format!("`--fail-on {g}` has nothing to compare with"),
            )
            .help("pass a baseline (--baseline or --baseline-bundle), or traces whose events carry a recorded `decision`"));
        }
        let (passed, detail) = match g {
            Gate::NewAllow => {
                let parts: Vec<String> = comparisons
                    .iter()
                    .map(|(n, c)| {
                        format!(
                            "{} newly allowed against {n}",
                            report::thousands(c.into_verdict(Verdict::Allow))
                        )
                    })
                    .collect();
                let any = comparisons
                    .iter()
                    .any(|(_, c)| c.into_verdict(Verdict::Allow) > 0);
                (!any, parts.join("; "))
            }
            Gate::AnyFlip => {
                let parts: Vec<String> = comparisons
                    .iter()
                    .map(|(n, c)| format!("{} flipped against {n}", report::thousands(c.flipped)))
                    .collect();
                let any = comparisons.iter().any(|(_, c)| c.flipped > 0);
                (!any, parts.join("; "))
            }
            Gate::DenyRate(x) => {
                let passed = r.deny_rate <= *x;
                (
                    passed,
                    format!(
                        "deny rate {:.2}% {} {:.2}%",
                        r.deny_rate * 100.0,
                        if passed { "<=" } else { ">" },
                        x * 100.0
                    ),
                )
            }
        };
        out.push(GateResult {
            gate: g.to_string(),
            passed,
            detail,
        });
    }
    Ok(out)
}

pub(super) fn report_trace_error(ctx: &Ctx, e: &crate::trace::TraceError) {
    let mut d = Diag::error("govern::trace", e.message.clone());
    d.location = Some(Location {
        path: e.file.clone(),
        line: e.line.map(|l| l as usize),
        column: None,
    });
    if let Some(h) = &e.help {
        d = d.help(h.clone());
    }
    ctx.report(&[d], DiagFormat::Human);
}

fn report_bad_record(ctx: &Ctx, b: &BadRecord, max: u64) {
    let message = match b.column {
        Some(c) => format!("{} (column {c})", b.message),
        None => b.message.clone(),
    };
    let mut d = Diag::error("govern::trace", message);
    d.location = Some(Location {
        path: b.file.clone(),
        line: Some(b.line as usize),
        column: b.column.map(|c| c as usize),
    });
    let help = if max == 0 {
        "fix the record, or pass `--max-errors N` to skip up to N bad records and count them in the report".to_string()
    } else {
        format!(
            "this is bad record number {}, more than --max-errors {max} allows",
            max + 1
        )
    };
    ctx.report(&[d.help(help)], DiagFormat::Human);
}

/// Writes decision lines to standard output and skipped records to standard error.
struct CliSink<'a> {
    ctx: &'a Ctx,
    out: Out,
    jsonl: bool,
    progress_shown: bool,
    /// `--dump-events`: where, and the file being written.
    dump: Option<(&'a std::path::Path, crate::fsutil::AtomicFile)>,
    dump_failed: Option<std::io::Error>,
}

impl Sink for CliSink<'_> {
    fn event_lines(&mut self, lines: &str) {
        if self.dump_failed.is_some() {
            return;
        }
        if let Some((_, f)) = self.dump.as_mut()
            && let Err(e) = f.write_all(lines.as_bytes())
        {
            self.dump_failed = Some(e);
        }
    }

    fn wants_event_lines(&self) -> bool {
        self.dump.is_some()
    }

    fn decisions(&mut self, lines: &str) {
        self.out.write_str(lines);
    }

    fn wants_decisions(&self) -> bool {
        self.jsonl
    }

    fn bad(&mut self, bad: &BadRecord, n: u64, max: u64) {
        let mut err = std::io::stderr().lock();
        let clear = if self.progress_shown { "\r\x1b[2K" } else { "" };
        let head = if self.ctx.color_err {
            "\x1b[1;33mwarning\x1b[0m"
        } else {
            "warning"
        };
        let _ = writeln!(
            err,
            "{clear}{head}: skipped bad record {n} of at most {max}: {bad}"
        );
    }
}

/// Draws a progress line on standard error until `done`.
fn progress(c: &Counters, total: Option<u64>, done: &AtomicBool, started: Instant) {
    let mut last = Instant::now();
    let mut drawn = false;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        if last.elapsed() < Duration::from_millis(200) {
            continue;
        }
        last = Instant::now();
        let events = c.events.load(Ordering::Relaxed);
        let bytes = c.bytes.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let rate = events as f64 / secs;
        let mut line = String::from("\r\x1b[2K");
        if let Some(t) = total.filter(|t| *t > 0) {
            let frac = (bytes as f64 / t as f64).clamp(0.0, 1.0);
            let width = 24usize;
            let filled = (frac * width as f64) as usize;
            line.push_str(&"█".repeat(filled));
            line.push_str(&"░".repeat(width - filled));
            line.push_str(&format!(
                " {:>3.0}%  {} / {}",
                frac * 100.0,
                mb(bytes),
                mb(t)
            ));
        } else {
            line.push_str(&mb(bytes));
        }
        line.push_str(&format!(
            "  {} events  {} events/s",
            report::thousands(events),
            report::thousands(rate as u64)
        ));
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
        drawn = true;
    }
    if drawn {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\r\x1b[2K");
        let _ = err.flush();
    }
}

fn mb(b: u64) -> String {
    if b >= 1_000_000_000 {
        format!("{:.2} GB", b as f64 / 1e9)
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
