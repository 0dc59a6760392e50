//! `govern test`: run policy test suites, print coverage, record golden suites, watch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{DiagFormat, TestArgs, TestFormat, TraceFormat};
use crate::commands::{Ctx, Out, exit};
use crate::suite::{self, RunReport, report};

pub fn run(ctx: &Ctx, args: &TestArgs) -> u8 {
    if !args.record.is_empty() {
        return record(ctx, args);
    }
    if args.watch {
        return watch(ctx, args);
    }
    let (paths, errors) = suite::discover(&args.paths);
    if paths.is_empty() && errors.is_empty() {
        let names: Vec<String> = args
            .paths
            .iter()
            .map(|p| crate::source::display(p))
            .collect();
        ctx.error(format!(
            "no `*.test.yaml` suites found in {}",
            names.join(", ")
        ));
        return exit::ERROR;
    }
    run_and_print(ctx, args, &paths, errors)
}

fn options(ctx: &Ctx, args: &TestArgs) -> report::Options {
    report::Options {
        color: ctx.color_out && args.format == TestFormat::Human,
        coverage: args.coverage,
        min_coverage: args.min_coverage,
        min_blocked: args.min_blocked,
    }
}

/// Runs `paths`, prints the report, returns the exit status.
fn run_and_print(
    ctx: &Ctx,
    args: &TestArgs,
    paths: &[PathBuf],
    errors: Vec<crate::diag::Diag>,
) -> u8 {
    let opts = suite::Options {
        filter: args.filter.clone(),
        trust: args.trust.clone(),
        state: args.state.clone(),
    };
    let mut r: RunReport = suite::run::run_suites(paths, &opts);
    r.errors.extend(errors);
    let diags: Vec<crate::diag::Diag> = report::diagnostics(&r).into_iter().cloned().collect();
    ctx.report(&diags, DiagFormat::Human);
    if let Some(f) = &args.filter
        && r.suites.is_empty()
        && diags.is_empty()
    {
        ctx.error(format!("no case name contains `{f}`"));
        return exit::ERROR;
    }
    let ropts = options(ctx, args);
    let text = match args.format {
        TestFormat::Human => report::human(&r, &ropts),
        TestFormat::Json => report::json(&r, &ropts),
        TestFormat::Junit => report::junit(&r, &ropts),
    };
    let mut out = Out::new();
    out.write_str(&text);
    out.flush();
    report::exit_status(&r, &ropts)
}

/// The events of one trace, read as `simulate` and `eval` read traces (any format,
/// gzipped or not); every record that is not an event is reported as `name:line: message`.
/// `None` once the input itself could not be read (reported).
fn read_trace(ctx: &Ctx, path: &Path, format: TraceFormat) -> Option<suite::record::Trace> {
    let input = crate::trace::Input::Path(path.to_path_buf());
    let name = input.name();
    let mut reader = match crate::trace::TraceReader::open(&input, format.input(), None) {
        Ok(r) => r,
        Err(e) => {
            super::simulate::report_trace_error(ctx, &e);
            return None;
        }
    };
    let mut events = Vec::new();
    let mut bad = 0usize;
    let read = crate::trace::for_each_record(&mut reader, |record, origin| {
        let line = usize::try_from(origin.line).unwrap_or(usize::MAX);
        let parsed = record.map_err(str::to_string).and_then(|text| {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) if v.is_object() => Ok(v),
                Ok(_) => Err("an event is a JSON object".to_string()),
                Err(e) => Err(format!("not a JSON event: {e}")),
            }
        });
        match parsed {
            Ok(value) => events.push(suite::record::TraceEvent { line, value }),
            Err(m) => {
                bad += 1;
                ctx.error(format!("{name}:{}: {m}", origin.line));
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    let not_events = match read {
        Ok(n) => n,
        Err(e) => {
            super::simulate::report_trace_error(ctx, &e);
            return None;
        }
    };
    if bad > 0 {
        return None;
    }
    if events.is_empty() {
        if not_events > 0 {
            ctx.error(format!(
                "no events in {name}: {not_events} records were read as {}, but none is an agent action (check --input-format)",
                reader.format()
            ));
        } else {
            ctx.error(format!("no events in {name}"));
        }
        return None;
    }
    Some(suite::record::Trace { name, events })
}

fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    suite::load::normalize(&abs)
}

/// `target` relative to the directory `base`, lexically.
fn relative(target: &Path, base: &Path) -> PathBuf {
    let (t, b) = (absolute(target), absolute(base));
    let tc: Vec<_> = t.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = tc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return t;
    }
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in tc.iter().skip(common) {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn record(ctx: &Ctx, args: &TestArgs) -> u8 {
    let Some(output) = &args.output else {
        ctx.error("`--record` needs `-o FILE`");
        return exit::ERROR;
    };
    let built = match crate::pipeline::build_paths(&args.policy) {
        Ok(b) => b,
        Err(diags) => {
            ctx.report(&diags, DiagFormat::Human);
            return exit::ERROR;
        }
    };
    let mut traces = Vec::new();
    let mut failed = false;
    for path in &args.record {
        match read_trace(ctx, path, args.input_format) {
            Some(t) => traces.push(t),
            None => failed = true,
        }
    }
    if failed {
        ctx.error("nothing was written: fix the traces and record again");
        return exit::ERROR;
    }
    let out_dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let bundle: Vec<String> = args
        .policy
        .iter()
        .map(|p| crate::source::display(&relative(p, &out_dir)))
        .collect();
    let rec = match suite::record::record(&traces, &built.program, &bundle) {
        Ok(r) => r,
        Err(e) => {
            ctx.error(format!("cannot record {e}"));
            return exit::ERROR;
        }
    };
    let out_name = crate::source::display(output);
    if let Err(e) = crate::fsutil::write_atomic(output, rec.text.as_bytes(), None) {
        ctx.error(format!("cannot write {out_name}: {e}"));
        return exit::ERROR;
    }
    let mut out = Out::new();
    out.line(&format!(
        "recorded {} in {out_name}: {} pinned to bundle {}",
        if rec.cases == 1 {
            "1 case".to_string()
        } else {
            format!("{} cases", rec.cases)
        },
        if rec.events == 1 {
            "1 decision".to_string()
        } else {
            format!("{} decisions", rec.events)
        },
        built.program.digest
    ));
    for w in &rec.whole {
        out.line(&format!(
            "  {w}: one case for the whole trace (its sessions share state or time, so they cannot be replayed apart)"
        ));
    }
    exit::OK
}

/// Whether a changed file can change a test result.
fn relevant(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    !name.starts_with('.')
        && (name.ends_with(".gov") || name.ends_with(".govb") || suite::is_suite_name(&name))
}

/// The suites a change touches: the changed suites themselves, and those whose bundle
/// contains a changed policy file.
pub fn affected(suites: &[PathBuf], changed: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let changed_abs: Vec<PathBuf> = changed.iter().map(|p| absolute(p)).collect();
    suites
        .iter()
        .filter(|s| {
            let abs = absolute(s);
            if changed_abs.contains(&abs) {
                return true;
            }
            match suite::load::load_file(s) {
                Ok(loaded) => loaded.bundle.paths().iter().any(|b| {
                    let b = absolute(b);
                    changed_abs.iter().any(|c| c.starts_with(&b))
                }),
                // A suite that cannot be read is shown again, so its errors stay in view.
                Err(_) => true,
            }
        })
        .cloned()
        .collect()
}

/// What to watch: the given paths and the bundles of the suites found there.
fn watch_roots(args: &TestArgs, suites: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut roots: BTreeSet<PathBuf> = args.paths.iter().map(|p| absolute(p)).collect();
    for s in suites {
        if let Ok(loaded) = suite::load::load_file(s) {
            for b in loaded.bundle.paths() {
                roots.insert(absolute(b));
            }
        }
    }
    // Drop roots inside other roots (watched recursively already).
    let all: Vec<PathBuf> = roots.iter().cloned().collect();
    roots.retain(|r| !all.iter().any(|o| o != r && r.starts_with(o)));
    roots
}

fn watch(ctx: &Ctx, args: &TestArgs) -> u8 {
    use notify::Watcher;
    let (tx, rx) = std::sync::mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = match notify::recommended_watcher(move |res| {
        let _ = tx.send(res);
    }) {
        Ok(w) => w,
        Err(e) => {
            ctx.error(format!("cannot watch files: {e}"));
            return exit::ERROR;
        }
    };
    let clear = || {
        if ctx.stdout_tty {
            let mut out = Out::new();
            out.write_str("\x1b[2J\x1b[H");
            out.flush();
        }
    };
    let (mut suites, errors) = suite::discover(&args.paths);
    clear();
    run_and_print(ctx, args, &suites, errors);
    let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
    loop {
        let roots = watch_roots(args, &suites);
        for r in roots.difference(&watched) {
            if let Err(e) = watcher.watch(r, notify::RecursiveMode::Recursive) {
                ctx.error(format!("cannot watch {}: {e}", crate::source::display(r)));
            }
        }
        watched = roots;
        let mut out = Out::new();
        out.line("watching for changes (Ctrl-C to stop)");
        out.flush();
        drop(out);
        // Wait for a change, then let the burst settle for 200 ms.
        let mut changed: BTreeSet<PathBuf> = BTreeSet::new();
        loop {
            let first = match rx.recv() {
                Ok(ev) => ev,
                Err(_) => return exit::ERROR,
            };
            collect(first, &mut changed, ctx);
            while let Ok(ev) = rx.recv_timeout(Duration::from_millis(200)) {
                collect(ev, &mut changed, ctx);
            }
            if !changed.is_empty() {
                break;
            }
        }
        let (found, errors) = suite::discover(&args.paths);
        suites = found;
        let todo = affected(&suites, &changed);
        clear();
        let names: Vec<String> = changed
            .iter()
            .map(|p| crate::source::display(&relative(p, Path::new("."))))
            .collect();
        let mut out = Out::new();
        out.line(&format!("changed: {}", names.join(", ")));
        out.flush();
        drop(out);
        if todo.is_empty() && errors.is_empty() {
            let mut out = Out::new();
            out.line("no suite is affected");
            continue;
        }
        run_and_print(ctx, args, &todo, errors);
    }
}

fn collect(ev: notify::Result<notify::Event>, changed: &mut BTreeSet<PathBuf>, ctx: &Ctx) {
    match ev {
        Ok(ev) => {
            if matches!(ev.kind, notify::EventKind::Access(_)) {
                return;
            }
            for p in ev.paths {
                if relevant(&p) {
                    changed.insert(p);
                }
            }
        }
        Err(e) => ctx.error(format!("watch error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("policies"), Path::new("regress")),
            PathBuf::from("../policies")
        );
        assert_eq!(
            relative(Path::new("a/b"), Path::new("a")),
            PathBuf::from("b")
        );
        assert_eq!(relative(Path::new("a"), Path::new("a")), PathBuf::from("."));
        assert!(relevant(Path::new("x/p.gov")));
        assert!(relevant(Path::new("x/p.test.yaml")));
        assert!(!relevant(Path::new("x/.p.gov.tmp.1.0")));
        assert!(!relevant(Path::new("x/notes.md")));
    }
}
