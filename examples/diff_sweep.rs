//! The edits a reviewer makes to one rule of the policy library, each compared by `govern diff`
//! with the library as it is: `cargo run --release --example diff_sweep [-- FILTER…]`.
//!
//! For every rule of `policies/` (or of the directory in `GOVERN_SWEEP_DIR`), the sweep makes
//! each single edit of these kinds, one at a time:
//!
//! - `effect`: the effect flipped (allow ↔ deny, escalate → allow, warn → deny);
//! - `unless`: the `unless` clause dropped;
//! - `conjunct`: one conjunct of the `when` clause dropped (each in turn);
//! - `op`: a comparison's operator changed (`<` ↔ `<=`, `>` ↔ `>=`, `==` ↔ `!=`);
//! - `bound`: a comparison's numeric bound moved (`n + 1`, and `2n` when that differs);
//! - `item`: an item removed from a list in a rule (each in turn, at most six per list: the
//!   first, the last and those in between evenly) or from a `set` declaration.
//!
//! Each edited library is compiled (an edit that does not compile is counted and skipped) and
//! compared with the unedited one by `govern::diff::diff`. One line per edit: whether the report
//! is complete, its groups, its regions by status, and the time of the comparison alone (the
//! sides are compiled before the clock starts; the time is the CPU time of the comparing
//! thread, so that other work on the machine does not count). Then the distribution of the
//! times, the worst edits, and every incomplete report. Arguments filter the edits by a
//! substring of their names (`asi03`, `spawn_more_privileged`, `op`).
//! `GOVERN_SWEEP_REPEAT=N` runs each comparison N times and keeps the fastest;
//! `GOVERN_SWEEP_EVERY=K` takes every K-th edit only (a sample spread over the whole library);
//! `GOVERN_SWEEP_LIMIT=S` stops an edit after S seconds of wall time (default 10; each edit
//! then runs in a process of its own, stopped by its own handle; 0: no limit, all in this
//! process). A stopped edit counts as incomplete, at its limit. `GOVERN_SWEEP_WRITE=DIR`
//! also writes each edited library to `DIR/NNNN/` (its edit in `EDIT`) and, with a time
//! limit, the report of `govern diff POLICIES DIR/NNNN --format json --jobs 1` to
//! `DIR/NNNN.json` (compared once more, untimed), to hold it to another build's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use govern::diag::SourceFile;
use govern::diff::{Options, Side, Status, diff};
use govern::syntax::ast::{
    CmpOp, Effect, Expr, ExprKind, Item, ListItem, LiteralKind, Rule, SetBody, Span,
};

/// One edit: its name and the edited text of one file.
struct Edit {
    name: String,
    file: usize,
    text: String,
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Picks at most six indices of `0..n`: the first, the last and evenly between.
fn picks(n: usize) -> Vec<usize> {
    if n <= 6 {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..6).map(|k| k * (n - 1) / 5).collect();
    v.dedup();
    v
}

/// The variants of an expression with one edit each, named.
fn variants(e: &Expr) -> Vec<(String, Expr)> {
    let mut out = Vec::new();
    let with = |kind: ExprKind| Expr { kind, span: e.span };
    match &e.kind {
        ExprKind::Compare { op, lhs, rhs } => {
            let other = match op {
                CmpOp::Lt => CmpOp::Le,
                CmpOp::Le => CmpOp::Lt,
                CmpOp::Gt => CmpOp::Ge,
                CmpOp::Ge => CmpOp::Gt,
                CmpOp::Eq => CmpOp::Ne,
                CmpOp::Ne => CmpOp::Eq,
            };
            let shown = govern::fmt::expr(e);
            out.push((
                format!("op `{shown}`: {} → {}", op.as_str(), other.as_str()),
                with(ExprKind::Compare {
                    op: other,
                    lhs: lhs.clone(),
                    rhs: rhs.clone(),
                }),
            ));
            for (side, operand) in [(0, lhs), (1, rhs)] {
                let ExprKind::Literal(lit) = &operand.kind else {
                    continue;
                };
                let LiteralKind::Number(n, _) = lit.kind else {
                    continue;
                };
                let mut bounds = vec![n + 1.0];
                if n != 0.0 && n * 2.0 != n + 1.0 {
                    bounds.push(n * 2.0);
                }
                for b in bounds {
                    let mut l2 = lit.clone();
                    l2.kind = LiteralKind::Number(b, number_text(b));
                    let moved = Box::new(Expr {
                        kind: ExprKind::Literal(l2),
                        span: operand.span,
                    });
                    let (l, r) = if side == 0 {
                        (moved, rhs.clone())
                    } else {
                        (lhs.clone(), moved)
                    };
                    out.push((
                        format!("bound `{shown}`: {} → {}", number_text(n), number_text(b)),
                        with(ExprKind::Compare {
                            op: *op,
                            lhs: l,
                            rhs: r,
                        }),
                    ));
                }
            }
        }
        ExprKind::In { negated, lhs, rhs } => {
            if let ExprKind::List(items) = &rhs.kind
                && items.len() >= 2
            {
                for i in picks(items.len()) {
                    let mut fewer = items.clone();
                    let gone = fewer.remove(i);
                    out.push((
                        format!(
                            "item `{}` from `{}`",
                            item_text(&gone),
                            govern::fmt::expr(lhs)
                        ),
                        with(ExprKind::In {
                            negated: *negated,
                            lhs: lhs.clone(),
                            rhs: Box::new(Expr {
                                kind: ExprKind::List(fewer),
                                span: rhs.span,
                            }),
                        }),
                    ));
                }
            }
        }
        ExprKind::Not(inner) => {
            for (d, v) in variants(inner) {
                out.push((d, with(ExprKind::Not(Box::new(v)))));
            }
        }
        ExprKind::And(xs) | ExprKind::Or(xs) => {
            let and = matches!(e.kind, ExprKind::And(_));
            for (i, x) in xs.iter().enumerate() {
                for (d, v) in variants(x) {
                    let mut ys = xs.clone();
                    ys[i] = v;
                    out.push((
                        d,
                        with(if and {
                            ExprKind::And(ys)
                        } else {
                            ExprKind::Or(ys)
                        }),
                    ));
                }
            }
        }
        _ => {}
    }
    out
}

fn item_text(i: &ListItem) -> String {
    govern::fmt::expr(&Expr {
        kind: ExprKind::List(vec![i.clone()]),
        span: Span::new(0, 0),
    })
    .trim_start_matches('[')
    .trim_end_matches(']')
    .to_string()
}

/// A rule written on one line.
fn rule_text(r: &Rule) -> String {
    let mut s = format!("rule {}: {}", r.name.node, r.effect.node);
    if let Some(w) = &r.when {
        s.push_str(" when ");
        s.push_str(&govern::fmt::expr(w));
    }
    if let Some(u) = &r.unless {
        s.push_str(" unless ");
        s.push_str(&govern::fmt::expr(u));
    }
    if let Some(b) = &r.because {
        s.push_str(" because ");
        s.push_str(&govern::syntax::ast::quote_string(&b.node));
    }
    s
}

/// The edits of one rule, as whole rule texts.
fn rule_edits(r: &Rule) -> Vec<(String, Rule)> {
    let mut out = Vec::new();
    let flipped = match r.effect.node {
        Effect::Allow => Effect::Deny,
        Effect::Deny => Effect::Allow,
        Effect::Escalate => Effect::Allow,
        Effect::Warn => Effect::Deny,
    };
    let mut e = r.clone();
    e.effect.node = flipped;
    out.push((format!("effect {} → {flipped}", r.effect.node), e));
    if r.unless.is_some() {
        let mut e = r.clone();
        e.unless = None;
        out.push(("unless dropped".to_string(), e));
    }
    if let Some(w) = &r.when {
        if let ExprKind::And(xs) = &w.kind {
            for i in 0..xs.len() {
                let mut ys = xs.clone();
                let gone = ys.remove(i);
                let mut e = r.clone();
                e.when = Some(if ys.len() == 1 {
                    ys.remove(0)
                } else {
                    Expr {
                        kind: ExprKind::And(ys),
                        span: w.span,
                    }
                });
                out.push((
                    format!("conjunct `{}` dropped", govern::fmt::expr(&gone)),
                    e,
                ));
            }
        }
        for (d, v) in variants(w) {
            let mut e = r.clone();
            e.when = Some(v);
            out.push((format!("{d} (when)"), e));
        }
    }
    if let Some(u) = &r.unless {
        for (d, v) in variants(u) {
            let mut e = r.clone();
            e.unless = Some(v);
            out.push((format!("{d} (unless)"), e));
        }
    }
    out
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    format!("{}{}{}", &text[..start], with, &text[end..])
}

fn edits(files: &[SourceFile]) -> Vec<Edit> {
    let mut out = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        let ast = govern::syntax::parse_file(f).unwrap_or_else(|_| panic!("{} parses", f.name));
        let short = f.name.rsplit('/').next().unwrap_or(&f.name).to_string();
        for item in &ast.items {
            match item {
                Item::Policy(p) => {
                    for r in &p.rules {
                        // From the `rule` keyword to the end of the rule.
                        let start = f.text[..r.name.span.range().start].rfind("rule").unwrap();
                        for (d, e) in rule_edits(r) {
                            out.push(Edit {
                                name: format!("{short} {}.{}: {d}", p.name.node, r.name.node),
                                file: fi,
                                text: splice(&f.text, start, r.span.range().end, &rule_text(&e)),
                            });
                        }
                    }
                }
                Item::Set(s) => {
                    let SetBody::List(items) = &s.body else {
                        continue;
                    };
                    if items.len() < 2 {
                        continue;
                    }
                    for i in picks(items.len()) {
                        let mut fewer = items.clone();
                        let gone = fewer.remove(i);
                        let list = govern::fmt::expr(&Expr {
                            kind: ExprKind::List(fewer),
                            span: s.span,
                        });
                        let start = f.text[..s.name.span.range().start].rfind("set").unwrap();
                        out.push(Edit {
                            name: format!(
                                "{short} set {}: item `{}` removed",
                                s.name.node,
                                item_text(&gone)
                            ),
                            file: fi,
                            text: splice(
                                &f.text,
                                start,
                                s.span.range().end,
                                &format!("set {} = {list}", s.name.node),
                            ),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}

struct Row {
    name: String,
    complete: bool,
    /// Stopped at the time limit: nothing else is known.
    timed_out: bool,
    groups: usize,
    differs: usize,
    may: usize,
    unconfirmed: usize,
    time: Duration,
    unproved: Vec<String>,
}

/// The CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds, not
/// the 10 ms ticks of `stat`); `None` where it cannot be read.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Compares the library with edit `e`, keeping the fastest of `repeat` runs: the CPU time
/// of the comparison (the thread's own, so other work on the machine does not count), or
/// its wall time where the CPU time cannot be read. `None` when the edit does not compile.
fn compare(old: &Side, lib: &[SourceFile], e: &Edit, opts: &Options, repeat: u32) -> Option<Row> {
    let mut files = lib.to_vec();
    files[e.file] = SourceFile::new(lib[e.file].name.clone(), e.text.clone());
    let new = Side::from_sources("edited", files).ok()?;
    let mut best = Duration::MAX;
    let mut report = None;
    for _ in 0..repeat {
        let (t, c) = (Instant::now(), thread_cpu());
        let r = diff(old, &new, opts);
        let took = match (c, thread_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => t.elapsed(),
        };
        best = best.min(took);
        report = Some(r);
    }
    let r = report.unwrap();
    Some(Row {
        name: e.name.clone(),
        complete: r.complete(),
        timed_out: false,
        groups: r.groups.len(),
        differs: r.count(Status::Differs),
        may: r.count(Status::MayDiffer),
        unconfirmed: r.count(Status::Unconfirmed),
        time: best,
        unproved: r.unproved.clone(),
    })
}

/// Runs edit number `index` in a process of its own (this program, told so by
/// `GOVERN_SWEEP_ONE`), stopped after `limit`: `None` when the edit does not compile.
fn compare_apart(e: &Edit, index: usize, limit: Duration) -> Option<Row> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("GOVERN_SWEEP_ONE", index.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    // Read on a thread of its own, so that a full pipe cannot stall the child.
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).ok();
        s
    });
    let mut timed_out = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            // This child, by its own handle: nothing else is stopped.
            child.kill().ok();
            child.wait().ok();
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = reader.join().unwrap();
    if timed_out {
        return Some(Row {
            name: e.name.clone(),
            complete: false,
            timed_out: true,
            groups: 0,
            differs: 0,
            may: 0,
            unconfirmed: 0,
            time: limit,
            unproved: vec![format!("stopped after {} s", limit.as_secs_f64())],
        });
    }
    let mut lines = out.lines();
    let first = lines.next()?;
    let f: Vec<&str> = first.split('\t').collect();
    if f.first() != Some(&"ROW") {
        return None;
    }
    Some(Row {
        name: e.name.clone(),
        complete: f[1] == "1",
        timed_out: false,
        groups: f[2].parse().unwrap(),
        differs: f[3].parse().unwrap(),
        may: f[4].parse().unwrap(),
        unconfirmed: f[5].parse().unwrap(),
        time: Duration::from_nanos(f[6].parse().unwrap()),
        unproved: lines.map(str::to_string).collect(),
    })
}

/// The library compared: `policies/`, or `GOVERN_SWEEP_DIR`.
fn lib_root() -> PathBuf {
    std::env::var("GOVERN_SWEEP_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies"),
        PathBuf::from,
    )
}

fn main() {
    let root = lib_root();
    let filters: Vec<String> = std::env::args().skip(1).collect();
    let env_num = |name: &str, default: f64| -> f64 {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let repeat = env_num("GOVERN_SWEEP_REPEAT", 1.0).max(1.0) as u32;
    let every = env_num("GOVERN_SWEEP_EVERY", 1.0).max(1.0) as usize;
    let limit = env_num("GOVERN_SWEEP_LIMIT", 10.0).max(0.0);
    let lib = govern::source::load(&[root]).unwrap();
    let old = Side::from_sources("library", lib.clone()).unwrap();
    let opts = Options::default();
    let all = edits(&lib);
    if let Ok(one) = std::env::var("GOVERN_SWEEP_ONE") {
        // One edit, for the process that runs the sweep.
        let e = &all[one.parse::<usize>().unwrap()];
        if let Ok(dir) = std::env::var("GOVERN_SWEEP_WRITE") {
            // The report as `govern diff ROOT DIR/NNNN --format json` gives it.
            let at = PathBuf::from(dir).join(format!("{:04}", one.parse::<usize>().unwrap()));
            let root = lib_root();
            let a = Side::from_sources(
                root.display().to_string(),
                govern::source::load(std::slice::from_ref(&root)).unwrap(),
            );
            let b = Side::from_sources(
                at.display().to_string(),
                govern::source::load(std::slice::from_ref(&at)).unwrap(),
            );
            if let (Ok(a), Ok(b)) = (a, b) {
                let r = diff(
                    &a,
                    &b,
                    &Options {
                        jobs: 1,
                        ..opts.clone()
                    },
                );
                let json = govern::diff::output::json(&r);
                std::fs::write(at.with_extension("json"), json).unwrap();
            }
        }
        if let Some(r) = compare(&old, &lib, e, &opts, repeat) {
            println!(
                "ROW\t{}\t{}\t{}\t{}\t{}\t{}",
                u8::from(r.complete),
                r.groups,
                r.differs,
                r.may,
                r.unconfirmed,
                r.time.as_nanos()
            );
            for u in &r.unproved {
                println!("{u}");
            }
        }
        return;
    }
    let mut rows = Vec::new();
    let mut not_compiled = Vec::new();
    for (index, e) in all
        .iter()
        .enumerate()
        .filter(|(_, e)| filters.is_empty() || filters.iter().any(|f| e.name.contains(f.as_str())))
        .step_by(every)
    {
        if let Ok(dir) = std::env::var("GOVERN_SWEEP_WRITE") {
            // The edited library, to compare with `govern diff` itself.
            let to = PathBuf::from(dir).join(format!("{index:04}"));
            std::fs::create_dir_all(&to).unwrap();
            for (fi, f) in lib.iter().enumerate() {
                let name = f.name.rsplit('/').next().unwrap_or(&f.name);
                let text: &str = if fi == e.file { &e.text } else { &f.text };
                std::fs::write(to.join(name), text.as_bytes()).unwrap();
            }
            std::fs::write(to.join("EDIT"), format!("{}\n", e.name)).unwrap();
        }
        let row = if limit > 0.0 {
            compare_apart(e, index, Duration::from_secs_f64(limit))
        } else {
            compare(&old, &lib, e, &opts, repeat)
        };
        let Some(row) = row else {
            not_compiled.push(e.name.clone());
            continue;
        };
        println!(
            "{:>9.2} ms  {}  {:>2} groups  {:>3} differ {:>2} may {:>1} unconf  {}",
            row.time.as_secs_f64() * 1e3,
            if row.timed_out {
                "STOPPED   "
            } else if row.complete {
                "complete  "
            } else {
                "INCOMPLETE"
            },
            row.groups,
            row.differs,
            row.may,
            row.unconfirmed,
            row.name
        );
        rows.push(row);
    }
    let n = rows.len();
    println!();
    println!("{n} edits compared, {} did not compile", not_compiled.len());
    for name in &not_compiled {
        println!("  does not compile: {name}");
    }
    if n == 0 {
        return;
    }
    let mut times: Vec<Duration> = rows.iter().map(|r| r.time).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let q = |p: f64| times[((n - 1) as f64 * p).round() as usize];
    println!(
        "comparison time: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} over 50 ms \
         (a stopped edit counts as its limit)",
        ms(q(0.5)),
        ms(q(0.9)),
        ms(q(0.99)),
        ms(times[n - 1]),
        times.iter().filter(|t| ms(**t) > 50.0).count()
    );
    let incomplete: Vec<&Row> = rows.iter().filter(|r| !r.complete).collect();
    println!(
        "complete: {} of {n} ({} stopped at the limit); complete and ≤ 50 ms: {}; with may-differ \
         regions: {}; with unconfirmed regions: {}",
        n - incomplete.len(),
        rows.iter().filter(|r| r.timed_out).count(),
        rows.iter()
            .filter(|r| r.complete && ms(r.time) <= 50.0)
            .count(),
        rows.iter().filter(|r| r.may > 0).count(),
        rows.iter().filter(|r| r.unconfirmed > 0).count()
    );
    rows.sort_by_key(|r| std::cmp::Reverse(r.time));
    println!("slowest:");
    for r in rows.iter().take(10) {
        println!("  {:>9.2} ms  {}", ms(r.time), r.name);
    }
    for r in rows.iter().filter(|r| !r.complete) {
        println!("incomplete: {}", r.name);
        for u in &r.unproved {
            println!("    {u}");
        }
    }
    for r in rows.iter().filter(|r| r.may > 0 || r.unconfirmed > 0) {
        println!(
            "may differ ({} regions, {} unconfirmed): {}",
            r.may, r.unconfirmed, r.name
        );
    }
}
