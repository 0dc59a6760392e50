//! `govern chaos-run`: run chaos experiments against a policy (see [`crate::chaos`]).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::chaos::{self, report, run, spec};
use crate::cli::{ChaosFormat, ChaosRunArgs};
use crate::commands::{Ctx, Out, exit};

pub fn run(ctx: &Ctx, args: &ChaosRunArgs) -> u8 {
    let time = match &args.time {
        Some(t) => match spec::parse_duration_ns(t) {
            Some(ns) if ns > 0 => Some(ns),
            _ => {
                ctx.error(format!(
                    "invalid --time `{}`: a duration is a number and a unit, such as `30s` or `5m`",
                    crate::source::printable(t)
                ));
                return exit::ERROR;
            }
        },
        None => None,
    };
    let jobs = args.jobs.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    // Every experiment is read and its policy built before any runs: bad input is found first.
    let mut loaded = Vec::new();
    let mut bad = false;
    for path in &args.experiments {
        match spec::load(path).and_then(|mut e| {
            if let Some(s) = args.seed {
                e.seed = s;
            }
            let t = chaos::load_target(&e)?;
            Ok((e, t))
        }) {
            Ok(x) => loaded.push(x),
            Err(ds) => {
                ctx.report(&ds, args.diagnostics);
                bad = true;
            }
        }
    }
    if bad {
        return exit::ERROR;
    }
    let mut out = Out::new();
    let mut status = exit::OK;
    let mut docs = Vec::new();
    let mut suites = String::new();
    for (exp, target) in &loaded {
        let show = ctx.stderr_tty && !args.no_progress;
        let done = show.then(|| Arc::new(AtomicU64::new(0)));
        let opts = run::Options {
            jobs,
            done: done.clone(),
            mutants: args.mutants,
            time,
        };
        let total = args.mutants.unwrap_or(exp.mutants);
        let finished = AtomicBool::new(false);
        let r = std::thread::scope(|scope| {
            if let Some(d) = &done {
                let finished = &finished;
                let name = exp.name.clone();
                scope.spawn(move || progress(d, total, finished, &name));
            }
            let r = run::run(exp, target, &opts);
            finished.store(true, Ordering::Relaxed);
            r
        });
        let slo = report::slo(&r, &exp.slo);
        let st = if slo.holds() {
            exit::OK
        } else {
            exit::FINDINGS
        };
        status = status.max(st);
        match args.format {
            ChaosFormat::Human => {
                if !docs.is_empty() || !suites.is_empty() {
                    out.line("");
                }
                out.write_str(&report::human(exp, &r, &slo));
                docs.push(serde_json::Value::Null);
            }
            ChaosFormat::Json => docs.push(report::json(exp, &r, &slo, st)),
            ChaosFormat::Junit => suites.push_str(&report::junit(exp, &r, &slo)),
        }
    }
    match args.format {
        ChaosFormat::Human => {}
        ChaosFormat::Json => {
            let doc = if docs.len() == 1 {
                docs.pop().unwrap_or_default()
            } else {
                serde_json::Value::Array(docs)
            };
            out.line(&serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        ChaosFormat::Junit => {
            out.write_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
            out.write_str(&suites);
            out.write_str("</testsuites>\n");
        }
    }
    out.flush();
    status
}

/// A progress bar on standard error with mutants per second, until `finished`.
fn progress(done: &AtomicU64, total: u64, finished: &AtomicBool, name: &str) {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} mutants, {per_sec}, {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(crate::source::printable(name).into_owned());
    while !finished.load(Ordering::Relaxed) {
        bar.set_position(done.load(Ordering::Relaxed).min(total));
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
    let _ = std::io::stderr().flush();
}
