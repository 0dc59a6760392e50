//! Rendering a run: for people (side-by-side failures), JSON, and JUnit XML for CI.

use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use super::CaseKind;
use super::coverage::{self, Coverage};
use super::run::{CaseResult, Diff, Failure, RunReport, Status, SuiteResult};
use super::spec::ExpectOne;
use crate::bytecode::model::Effect;
use crate::diag::Diag;

/// What to include, and how.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub color: bool,
    /// Print coverage.
    pub coverage: bool,
    /// Fail when rule coverage is below this percentage.
    pub min_coverage: Option<f64>,
    /// Red-team gate: attacks that are allowed are counted, not failed, and the run fails when
    /// fewer than this percentage of a variant's attacks are blocked.
    pub min_blocked: Option<f64>,
}

/// Exit status: 2 when anything could not run, else 1 when a case failed (an attack allowed
/// counts only without `min_blocked`), coverage is short or too few attacks were blocked,
/// else 0.
pub fn exit_status(r: &RunReport, opts: &Options) -> u8 {
    let t = r.totals();
    if t.errors > 0 || r.bundles.iter().any(|b| !b.errors.is_empty()) {
        2
    } else if t.failed > excused(r, opts) || coverage_short(r, opts) || blocked_short(r, opts) {
        1
    } else {
        0
    }
}

/// Failed cases that do not fail the run: attacks allowed, under `min_blocked`.
fn excused(r: &RunReport, opts: &Options) -> usize {
    if opts.min_blocked.is_none() {
        return 0;
    }
    r.suites
        .iter()
        .flat_map(|s| &s.cases)
        .filter(|c| c.status == Status::Fail && c.missed_attack())
        .count()
}

/// Whether a case's failure is only counted (an attack allowed under `min_blocked`).
fn is_excused(c: &CaseResult, opts: &Options) -> bool {
    opts.min_blocked.is_some() && c.status == Status::Fail && c.missed_attack()
}

/// Attacks and benign cases of one variant, and how many of them were decided right.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindRates {
    /// The variant, or `None` for cases of suites without variants.
    pub variant: Option<String>,
    pub attacks: usize,
    pub blocked: usize,
    pub benign: usize,
    pub allowed: usize,
}

impl KindRates {
    /// Whether `blocked / attacks` is at least `min` percent (exactly, as for coverage).
    pub fn meets(&self, min: f64) -> bool {
        coverage::meets(self.blocked, self.attacks, min)
    }
}

/// Red-team rates per variant, in the order variants first appear; empty when no case has a
/// kind.
pub fn kind_rates(r: &RunReport) -> Vec<KindRates> {
    let mut out: Vec<KindRates> = Vec::new();
    for c in r.suites.iter().flat_map(|s| &s.cases) {
        let Some(kind) = c.kind else { continue };
        let i = match out.iter().position(|k| k.variant == c.variant) {
            Some(i) => i,
            None => {
                out.push(KindRates {
                    variant: c.variant.clone(),
                    ..KindRates::default()
                });
                out.len() - 1
            }
        };
        let Some(k) = out.get_mut(i) else { continue };
        let ok = c.status == Status::Pass;
        match kind {
            CaseKind::Attack => {
                k.attacks += 1;
                k.blocked += usize::from(ok);
            }
            CaseKind::Benign => {
                k.benign += 1;
                k.allowed += usize::from(ok);
            }
        }
    }
    out
}

fn blocked_short(r: &RunReport, opts: &Options) -> bool {
    opts.min_blocked
        .is_some_and(|m| kind_rates(r).iter().any(|k| k.attacks > 0 && !k.meets(m)))
}

fn coverage_short(r: &RunReport, opts: &Options) -> bool {
    let (c, n, _, _) = r.coverage_totals();
    opts.min_coverage.is_some_and(|m| !coverage::meets(c, n, m))
}

/// Every diagnostic of the run, each once, in report order (for standard error).
pub fn diagnostics(r: &RunReport) -> Vec<&Diag> {
    let mut out: Vec<&Diag> = r.errors.iter().collect();
    let mut shown = vec![false; r.bundles.len()];
    for s in &r.suites {
        if let Some(b) = s.bundle
            && let (Some(seen), Some(br)) = (shown.get_mut(b), r.bundles.get(b))
            && !*seen
        {
            *seen = true;
            out.extend(&br.errors);
        }
        out.extend(&s.errors);
        for c in &s.cases {
            out.extend(&c.errors);
        }
    }
    out
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn loc(file: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// The report for people.
pub fn human(r: &RunReport, opts: &Options) -> String {
    let p = Paint { on: opts.color };
    let mut o = String::new();
    for s in &r.suites {
        suite_human(&mut o, s, opts, &p);
    }
    kinds_human(&mut o, r, opts, &p);
    if opts.coverage || opts.min_coverage.is_some() {
        coverage_human(&mut o, r, opts, &p);
    }
    let t = r.totals();
    let missed = excused(r, opts);
    let mut line = format!("{} passed, {} failed", t.passed, t.failed - missed);
    if missed > 0 {
        line.push_str(&format!(
            ", {}",
            plural(missed, "attack allowed", "attacks allowed")
        ));
    }
    if t.errors > 0 {
        line.push_str(&format!(", {}", plural(t.errors, "error", "errors")));
    }
    let ok = exit_status(r, opts) == 0;
    let _ = writeln!(
        o,
        "{} {line}",
        if ok {
            p.green("result:")
        } else {
            p.red("result:")
        }
    );
    o
}

fn suite_human(o: &mut String, s: &SuiteResult, opts: &Options, p: &Paint) {
    let missed = s.cases.iter().filter(|c| is_excused(c, opts)).count();
    let (pass, fail, err) = (
        s.count(Status::Pass),
        s.count(Status::Fail) - missed,
        s.count(Status::Error),
    );
    if !s.errors.is_empty() {
        let first = s.errors.first().map(|d| d.message.as_str()).unwrap_or("");
        let _ = writeln!(o, "{} {}  {first}", p.red("ERROR"), s.file);
        return;
    }
    let mut counts = vec![format!("{pass} passed")];
    if fail > 0 {
        counts.push(format!("{fail} failed"));
    }
    if missed > 0 {
        counts.push(plural(missed, "attack allowed", "attacks allowed"));
    }
    if err > 0 {
        counts.push(plural(err, "error", "errors"));
    }
    let tag = if err > 0 {
        p.red("ERROR")
    } else if fail > 0 {
        p.red("FAIL ")
    } else {
        p.green("ok   ")
    };
    let _ = writeln!(o, "{tag} {}  ({})", s.file, counts.join(", "));
    for c in &s.cases {
        match c.status {
            Status::Pass => {}
            Status::Error => {
                let _ = writeln!(
                    o,
                    "  {} {}  ({})",
                    p.red("!"),
                    p.bold(&c.name),
                    loc(&s.file, c.line)
                );
                for d in &c.errors {
                    let _ = writeln!(o, "      {}", d.message);
                }
            }
            Status::Fail if is_excused(c, opts) => {
                let got = c
                    .failures
                    .first()
                    .map(|f| decision_summary(&f.actual))
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "  {} {}  ({})  {got}",
                    p.red("–"),
                    c.name,
                    loc(&s.file, c.line)
                );
            }
            Status::Fail => case_failure_human(o, s, c, p),
        }
    }
}

/// The red-team table: attacks blocked and benign cases allowed, per variant.
fn kinds_human(o: &mut String, r: &RunReport, opts: &Options, p: &Paint) {
    let rates = kind_rates(r);
    if rates.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{}", p.bold("red team:"));
    let name = |k: &KindRates| k.variant.clone().unwrap_or_else(|| "(as written)".into());
    let width = rates
        .iter()
        .map(|k| name(k).chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    let _ = writeln!(
        o,
        "  {:<width$}  {:>22}  {:>22}",
        "variant", "attacks blocked", "benign allowed"
    );
    for k in &rates {
        let cell = |n: usize, of: usize| {
            if of == 0 {
                "–".to_string()
            } else {
                format!("{n}/{of} {:>7}", coverage::show_percent(n, of))
            }
        };
        let attacks = cell(k.blocked, k.attacks);
        let benign = cell(k.allowed, k.benign);
        let attacks = if opts
            .min_blocked
            .is_some_and(|m| k.attacks > 0 && !k.meets(m))
        {
            p.red(&format!("{attacks:>22}"))
        } else {
            format!("{attacks:>22}")
        };
        let benign = if k.allowed < k.benign {
            p.red(&format!("{benign:>22}"))
        } else {
            format!("{benign:>22}")
        };
        let _ = writeln!(o, "  {:<width$}  {attacks}  {benign}", name(k));
    }
    if let Some(min) = opts.min_blocked {
        if blocked_short(r, opts) {
            let _ = writeln!(
                o,
                "  {} fewer than {}% of the attacks were blocked",
                p.red("✗"),
                show_min(min)
            );
        } else {
            let _ = writeln!(
                o,
                "  every variant blocks at least {}% of the attacks",
                show_min(min)
            );
        }
    }
    o.push('\n');
}

fn case_failure_human(o: &mut String, s: &SuiteResult, c: &CaseResult, p: &Paint) {
    let _ = writeln!(
        o,
        "  {} {}  ({})",
        p.red("✗"),
        p.bold(&c.name),
        loc(&s.file, c.line)
    );
    for f in &c.failures {
        o.push_str(&failure_table(f, c.events, p));
    }
    if c.failed_events > c.failures.len() {
        let _ = writeln!(
            o,
            "      … and {} more failing events",
            c.failed_events - c.failures.len()
        );
    }
    o.push('\n');
}

fn none_if_empty(v: Vec<String>) -> Vec<String> {
    if v.is_empty() {
        vec!["(none)".into()]
    } else {
        v
    }
}

fn warning_cells(w: &[(String, Option<String>)]) -> Vec<String> {
    none_if_empty(
        w.iter()
            .map(|(r, m)| match m {
                Some(m) => format!("{r}: {m}"),
                None => r.clone(),
            })
            .collect(),
    )
}

/// Where an event sits in its case, for streams.
fn event_place(f: &Failure, events: usize) -> Option<String> {
    let s = f.step.as_ref()?;
    let mut t = format!(
        "event {} of {events}: step {} of {}",
        f.event, s.step, s.steps
    );
    if s.repeats > 1 {
        t.push_str(&format!(", repeat {} of {}", s.repeat, s.repeats));
    }
    if let Some(l) = s.line {
        t.push_str(&format!(" (line {l})"));
    }
    Some(t)
}

/// Expected vs actual, side by side, then what matched and what was unknown.
fn failure_table(f: &Failure, events: usize, p: &Paint) -> String {
    let e: &ExpectOne = &f.expected;
    let a = &f.actual;
    // (label, differs, expected cells, actual cells)
    let mut rows: Vec<(&str, bool, Vec<String>, Vec<String>)> = Vec::new();
    rows.push((
        "decision",
        f.diff.decision,
        vec![expected_decision(e)],
        vec![a.verdict.to_string()],
    ));
    if let Some(r) = &e.rules {
        rows.push((
            "rules",
            f.diff.rules,
            none_if_empty(r.clone()),
            none_if_empty(a.rules.clone()),
        ));
    }
    if let Some(m) = &e.messages {
        rows.push((
            "messages",
            f.diff.messages,
            none_if_empty(m.clone()),
            none_if_empty(a.messages.clone()),
        ));
    }
    if let Some(w) = &e.warnings {
        let want: Vec<(String, Option<String>)> = w
            .iter()
            .map(|w| (w.rule.clone(), w.message.clone()))
            .collect();
        let got: Vec<(String, Option<String>)> = a
            .warnings
            .iter()
            .map(|w| (w.rule.clone(), w.message.clone()))
            .collect();
        rows.push((
            "warnings",
            f.diff.warnings,
            warning_cells(&want),
            warning_cells(&got),
        ));
    }
    if let Some(u) = &e.unknown {
        rows.push((
            "unknown",
            f.diff.unknown,
            none_if_empty(u.clone()),
            none_if_empty(a.unknown.clone()),
        ));
    }
    let width = rows
        .iter()
        .flat_map(|r| r.2.iter())
        .map(|s| s.chars().count())
        .chain(["expected".len()])
        .max()
        .unwrap_or(8);
    let mut o = String::new();
    if let Some(place) = event_place(f, events) {
        let _ = writeln!(o, "      {place}");
    }
    let _ = writeln!(o, "      {:<10}  {:<width$}  actual", "", "expected");
    for (label, differs, exp, act) in &rows {
        let n = exp.len().max(act.len());
        for i in 0..n {
            let l = if i == 0 { *label } else { "" };
            let mark = if i == 0 && *differs {
                p.red("✗")
            } else {
                " ".into()
            };
            let ex = exp.get(i).map(String::as_str).unwrap_or("");
            let ac = act.get(i).map(String::as_str).unwrap_or("");
            let ac = if *differs { p.red(ac) } else { ac.to_string() };
            let line = format!("    {mark} {l:<10}  {ex:<width$}  {ac}");
            let _ = writeln!(o, "{}", line.trim_end());
        }
    }
    let effects = |v: &[(Effect, String)]| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.iter()
                .map(|(e, id)| format!("{} {id}", e.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(o, "      {:<10}  {}", p.dim("matched"), effects(&f.matched));
    if !f.undecided.is_empty() {
        let _ = writeln!(
            o,
            "      {:<10}  {}",
            p.dim("undecided"),
            effects(&f.undecided)
        );
    }
    if e.unknown.is_none() {
        let u = if a.unknown.is_empty() {
            "(none)".to_string()
        } else {
            a.unknown.join(", ")
        };
        let _ = writeln!(o, "      {:<10}  {u}", p.dim("unknown"));
    }
    let mut req = f.request.to_string();
    if req.chars().count() > 160 {
        req = req.chars().take(159).collect::<String>() + "…";
    }
    let _ = writeln!(o, "      {:<10}  {req}", p.dim("request"));
    o
}

fn coverage_human(o: &mut String, r: &RunReport, opts: &Options, p: &Paint) {
    const MAX_GROUPS: usize = 8;
    o.push('\n');
    for b in &r.bundles {
        let (Some(l), Some(c)) = (&b.loaded, &b.coverage) else {
            continue;
        };
        if !opts.coverage {
            // `--min-coverage` alone: only what it takes to reach the line.
            if opts.min_coverage.is_some() && coverage_short(r, opts) {
                let rules = coverage::uncovered_rules(&l.program.model, c);
                if !rules.is_empty() {
                    let _ = writeln!(o, "rules of {} that never decided:", b.name);
                    for (e, id, at) in &rules {
                        let _ = writeln!(o, "  {:<8} {id}  ({at})", e.as_str());
                    }
                }
            }
            continue;
        }
        let m = &l.program.model;
        let _ = writeln!(
            o,
            "{} {}  ({} events)",
            p.bold("coverage:"),
            b.name,
            c.events
        );
        let _ = writeln!(
            o,
            "  rules   {} of {} decided at least once ({})",
            c.rules_covered(),
            c.rules.len(),
            coverage::show_percent(c.rules_covered(), c.rules.len())
        );
        let _ = writeln!(
            o,
            "  leaves  {} of {} reached ({})",
            c.leaves_reached(),
            c.leaves.len(),
            coverage::show_percent(c.leaves_reached(), c.leaves.len())
        );
        let rules = coverage::uncovered_rules(m, c);
        if !rules.is_empty() {
            let _ = writeln!(o, "  rules that never decided:");
            for (e, id, at) in &rules {
                let _ = writeln!(o, "    {:<8} {id}  ({at})", e.as_str());
            }
        }
        let leaves = coverage::missed_leaves(m, c);
        if !leaves.is_empty() {
            // Grouped by what they decide, in leaf order, with one path to each.
            let mut groups: Vec<(&str, usize, &coverage::MissedLeaf)> = Vec::new();
            for l in &leaves {
                match groups.iter_mut().find(|g| g.0 == l.decides) {
                    Some(g) => g.1 += 1,
                    None => groups.push((&l.decides, 1, l)),
                }
            }
            let _ = writeln!(o, "  leaves never reached, by what they decide:");
            for (decides, n, l) in groups.iter().take(MAX_GROUPS) {
                let path = if l.path.is_empty() {
                    "always".to_string()
                } else {
                    l.path.join(", ")
                };
                let _ = writeln!(o, "    {n:>4} × {decides}");
                let _ = writeln!(o, "           e.g. L{} when {path}", l.leaf);
            }
            if groups.len() > MAX_GROUPS {
                let _ = writeln!(
                    o,
                    "    … and {} more outcomes (`--format json` lists more)",
                    groups.len() - MAX_GROUPS
                );
            }
        }
    }
    let (c, n, lr, ln) = r.coverage_totals();
    if r.bundles.iter().filter(|b| b.coverage.is_some()).count() > 1 {
        let _ = writeln!(
            o,
            "{} rules {} ({c} of {n}), leaves {} ({lr} of {ln})",
            p.bold("coverage (all bundles):"),
            coverage::show_percent(c, n),
            coverage::show_percent(lr, ln)
        );
    }
    if let Some(min) = opts.min_coverage {
        if coverage::meets(c, n, min) {
            let _ = writeln!(
                o,
                "rule coverage {} meets the minimum of {}%",
                coverage::show_percent(c, n),
                show_min(min)
            );
        } else {
            let _ = writeln!(
                o,
                "{} rule coverage {} is below the minimum of {}%",
                p.red("FAIL"),
                coverage::show_percent(c, n),
                show_min(min)
            );
        }
    }
    o.push('\n');
}

fn show_min(m: f64) -> String {
    crate::check::format_number(m)
}

fn expect_json(e: &ExpectOne) -> Json {
    let mut m = serde_json::Map::new();
    if let Some(v) = e.decision {
        m.insert("decision".into(), v.as_str().into());
    }
    if let Some(vs) = &e.decision_in {
        let vs: Vec<&str> = vs.iter().map(|v| v.as_str()).collect();
        m.insert("decision".into(), json!(vs));
    }
    if let Some(r) = &e.rules {
        m.insert("rules".into(), json!(r));
    }
    if let Some(x) = &e.messages {
        m.insert("messages".into(), json!(x));
    }
    if let Some(w) = &e.warnings {
        let ws: Vec<Json> = w
            .iter()
            .map(|w| match &w.message {
                Some(msg) => json!({"rule": w.rule, "message": msg}),
                None => json!({"rule": w.rule}),
            })
            .collect();
        m.insert("warnings".into(), Json::Array(ws));
    }
    if let Some(u) = &e.unknown {
        m.insert("unknown".into(), json!(u));
    }
    Json::Object(m)
}

fn diff_json(d: Diff) -> Json {
    let mut v = Vec::new();
    for (on, name) in [
        (d.decision, "decision"),
        (d.rules, "rules"),
        (d.messages, "messages"),
        (d.warnings, "warnings"),
        (d.unknown, "unknown"),
    ] {
        if on {
            v.push(Json::from(name));
        }
    }
    Json::Array(v)
}

fn failure_json(f: &Failure) -> Json {
    let rules = |v: &[(Effect, String)]| -> Json {
        v.iter()
            .map(|(e, id)| json!({"rule": id, "effect": e.as_str()}))
            .collect()
    };
    let mut o = json!({
        "event": f.event,
        "request": f.request,
        "expected": expect_json(&f.expected),
        "actual": f.actual.to_json(),
        "differs": diff_json(f.diff),
        "matched": rules(&f.matched),
        "undecided": rules(&f.undecided),
    });
    if let (Some(s), Json::Object(m)) = (&f.step, &mut o) {
        m.insert(
            "step".into(),
            json!({"step": s.step, "steps": s.steps, "repeat": s.repeat, "repeats": s.repeats, "line": s.line}),
        );
    }
    o
}

fn coverage_json(r: &RunReport, opts: &Options) -> Json {
    let bundles: Vec<Json> = r
        .bundles
        .iter()
        .filter_map(|b| {
            let (l, c) = (b.loaded.as_ref()?, b.coverage.as_ref()?);
            Some(bundle_coverage_json(
                &b.name,
                &l.program.model,
                &l.program.digest,
                c,
            ))
        })
        .collect();
    let (c, n, lr, ln) = r.coverage_totals();
    let mut o = json!({
        "bundles": bundles,
        "rules": {"covered": c, "total": n, "percent": coverage::percent(c, n)},
        "leaves": {"reached": lr, "total": ln, "percent": coverage::percent(lr, ln)},
    });
    if let (Some(min), Json::Object(m)) = (opts.min_coverage, &mut o) {
        m.insert("min".into(), json!(min));
        m.insert("ok".into(), json!(coverage::meets(c, n, min)));
    }
    o
}

/// The most groups of missed leaves listed per bundle in JSON.
const MAX_JSON_OUTCOMES: usize = 200;

fn bundle_coverage_json(
    name: &str,
    m: &crate::bytecode::model::Model,
    digest: &str,
    c: &Coverage,
) -> Json {
    let rules: Vec<Json> = m
        .rules
        .iter()
        .zip(&c.rules)
        .map(|(r, n)| json!({"rule": r.id, "effect": r.effect.as_str(), "decided": n}))
        .collect();
    // Missed leaves grouped by what they decide, each with a count and one path to it; a
    // large bundle has far too many leaves to list one by one.
    let mut groups: Vec<(String, usize, coverage::MissedLeaf)> = Vec::new();
    for l in coverage::missed_leaves(m, c) {
        match groups.iter_mut().find(|g| g.0 == l.decides) {
            Some(g) => g.1 += 1,
            None => groups.push((l.decides.clone(), 1, l)),
        }
    }
    let outcomes = groups.len();
    let missed: Vec<Json> = groups
        .into_iter()
        .take(MAX_JSON_OUTCOMES)
        .map(|(d, n, l)| json!({"decides": d, "leaves": n, "example": {"leaf": l.leaf, "path": l.path}}))
        .collect();
    json!({
        "bundle": name,
        "digest": digest,
        "events": c.events,
        "rules": {"covered": c.rules_covered(), "total": c.rules.len(),
                  "percent": coverage::percent(c.rules_covered(), c.rules.len()), "counts": rules},
        "leaves": {"reached": c.leaves_reached(), "total": c.leaves.len(),
                   "percent": coverage::percent(c.leaves_reached(), c.leaves.len()),
                   "missed_outcomes": outcomes, "missed": missed},
    })
}

/// The report as one JSON document (docs/testing.md, "JSON output").
pub fn json(r: &RunReport, opts: &Options) -> String {
    let t = r.totals();
    let suites: Vec<Json> = r
        .suites
        .iter()
        .map(|s| {
            let bundle = s.bundle.and_then(|b| r.bundles.get(b));
            let cases: Vec<Json> = s
                .cases
                .iter()
                .map(|c| {
                    let mut j = json!({
                        "name": c.name,
                        "line": c.line,
                        "status": c.status.as_str(),
                        "events": c.events,
                        "failed_events": c.failed_events,
                        "failures": c.failures.iter().map(failure_json).collect::<Vec<_>>(),
                        "errors": c.errors.iter().map(Diag::to_json).collect::<Vec<_>>(),
                    });
                    if let Json::Object(m) = &mut j {
                        if let Some(k) = c.kind {
                            m.insert("kind".into(), k.as_str().into());
                        }
                        if let Some(v) = &c.variant {
                            m.insert("variant".into(), v.as_str().into());
                        }
                    }
                    j
                })
                .collect();
            let excused = s.cases.iter().filter(|c| is_excused(c, opts)).count();
            let status = if !s.errors.is_empty() || s.count(Status::Error) > 0 {
                "error"
            } else if s.count(Status::Fail) > excused {
                "fail"
            } else {
                "pass"
            };
            json!({
                "file": s.file,
                "bundle": bundle.map(|b| b.name.clone()),
                "digest": bundle.and_then(|b| b.loaded.as_ref()).map(|l| l.program.digest.clone()),
                "status": status,
                "errors": s.errors.iter().map(Diag::to_json).collect::<Vec<_>>(),
                "cases": cases,
            })
        })
        .collect();
    let mut errors: Vec<Json> = r.errors.iter().map(Diag::to_json).collect();
    for b in &r.bundles {
        errors.extend(b.errors.iter().map(Diag::to_json));
    }
    let mut doc = json!({
        "version": 1,
        "summary": {"suites": t.suites, "cases": t.cases, "passed": t.passed, "failed": t.failed,
                    "errors": t.errors, "exit": exit_status(r, opts)},
        "suites": suites,
        "errors": errors,
    });
    if (opts.coverage || opts.min_coverage.is_some())
        && let Json::Object(m) = &mut doc
    {
        m.insert("coverage".into(), coverage_json(r, opts));
    }
    let rates = kind_rates(r);
    if !rates.is_empty()
        && let Json::Object(m) = &mut doc
    {
        m.insert("redteam".into(), kinds_json(r, &rates, opts));
    }
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The red-team summary: per variant, attacks blocked and benign cases allowed; the attacks
/// allowed and the benign cases not allowed, by file, line and name.
fn kinds_json(r: &RunReport, rates: &[KindRates], opts: &Options) -> Json {
    let variants: Vec<Json> = rates
        .iter()
        .map(|k| {
            json!({
                "variant": k.variant,
                "attacks": k.attacks,
                "blocked": k.blocked,
                "blocked_percent": coverage::percent(k.blocked, k.attacks),
                "benign": k.benign,
                "allowed": k.allowed,
                "allowed_percent": coverage::percent(k.allowed, k.benign),
            })
        })
        .collect();
    let list = |want: CaseKind| -> Vec<Json> {
        r.suites
            .iter()
            .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
            .filter(|(_, c)| c.kind == Some(want) && c.status != Status::Pass)
            .map(|(s, c)| json!({"file": s.file, "line": c.line, "name": c.name, "variant": c.variant}))
            .collect()
    };
    let mut o = json!({
        "variants": variants,
        "attacks_allowed": list(CaseKind::Attack),
        "benign_refused": list(CaseKind::Benign),
    });
    if let (Some(min), Json::Object(m)) = (opts.min_blocked, &mut o) {
        m.insert("min_blocked".into(), json!(min));
        m.insert("ok".into(), json!(!blocked_short(r, opts)));
    }
    o
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot carry become
/// `\u{…}` escapes.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn secs(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// `policies/asi01.test.yaml` → `policies.asi01`: a class name CI tools group by.
fn classname(file: &str) -> String {
    let stem = file
        .strip_suffix(".test.yaml")
        .or_else(|| file.strip_suffix(".test.yml"))
        .unwrap_or(file);
    stem.replace(['/', '\\'], ".")
}

/// The report as JUnit XML (the Ant/Surefire schema most CI systems read).
pub fn junit(r: &RunReport, opts: &Options) -> String {
    let t = r.totals();
    let total_time: std::time::Duration = r.suites.iter().map(|s| s.time).sum();
    let short = coverage_short(r, opts);
    let gate = opts.min_coverage.is_some();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite_errors = r.suites.iter().filter(|s| !s.errors.is_empty()).count();
    let _ = writeln!(
        o,
        "<testsuites name=\"govern test\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        t.cases + suite_errors + usize::from(gate) + r.errors.len(),
        t.failed - excused(r, opts) + usize::from(short),
        t.errors,
        secs(total_time)
    );
    for e in &r.errors {
        let _ = writeln!(
            o,
            "  <testsuite name=\"govern\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0.000\">\n    <testcase name=\"find suites\" classname=\"govern\" time=\"0.000\">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>\n  </testsuite>",
            xml_escape(&e.message),
            xml_escape(&e.code),
            xml_escape(&e.short())
        );
    }
    for s in &r.suites {
        let class = xml_escape(&classname(&s.file));
        let file = xml_escape(&s.file);
        if !s.errors.is_empty() {
            let first = s
                .errors
                .first()
                .map(|d| d.message.clone())
                .unwrap_or_default();
            let text: Vec<String> = s.errors.iter().map(Diag::short).collect();
            let _ = writeln!(
                o,
                "  <testsuite name=\"{file}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"{}\">",
                secs(s.time)
            );
            let code = s.errors.first().map(|d| d.code.clone()).unwrap_or_default();
            let _ = writeln!(
                o,
                "    <testcase name=\"(suite)\" classname=\"{class}\" file=\"{file}\" time=\"{}\">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>\n  </testsuite>",
                secs(s.time),
                xml_escape(&first),
                xml_escape(&code),
                xml_escape(&text.join("\n"))
            );
            continue;
        }
        let skipped = s.cases.iter().filter(|c| is_excused(c, opts)).count();
        let _ = writeln!(
            o,
            "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{skipped}\" time=\"{}\">",
            s.cases.len(),
            s.count(Status::Fail) - skipped,
            s.count(Status::Error),
            secs(s.time)
        );
        for c in &s.cases {
            let line = c.line.map(|l| format!(" line=\"{l}\"")).unwrap_or_default();
            let head = format!(
                "    <testcase name=\"{}\" classname=\"{class}\" file=\"{file}\"{line} time=\"{}\"",
                xml_escape(&c.name),
                secs(c.time)
            );
            match c.status {
                Status::Pass => {
                    let _ = writeln!(o, "{head}/>");
                }
                Status::Fail if is_excused(c, opts) => {
                    let got = c
                        .failures
                        .first()
                        .map(|f| decision_summary(&f.actual))
                        .unwrap_or_default();
                    let _ = writeln!(
                        o,
                        "{head}>\n      <skipped message=\"attack allowed ({}), counted against --min-blocked\"/>\n    </testcase>",
                        xml_escape(&got)
                    );
                }
                Status::Fail => {
                    let msg = c
                        .failures
                        .first()
                        .map(|f| {
                            format!(
                                "expected {}, got {}",
                                expect_summary(&f.expected),
                                decision_summary(&f.actual)
                            )
                        })
                        .unwrap_or_default();
                    let mut body = String::new();
                    for f in &c.failures {
                        body.push_str(&failure_table(f, c.events, &Paint { on: false }));
                    }
                    let _ = writeln!(
                        o,
                        "{head}>\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>",
                        xml_escape(&msg),
                        xml_escape(&body)
                    );
                }
                Status::Error => {
                    let first = c
                        .errors
                        .first()
                        .map(|d| d.message.clone())
                        .unwrap_or_default();
                    let code = c.errors.first().map(|d| d.code.clone()).unwrap_or_default();
                    let text: Vec<String> = c.errors.iter().map(Diag::short).collect();
                    let _ = writeln!(
                        o,
                        "{head}>\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>",
                        xml_escape(&first),
                        xml_escape(&code),
                        xml_escape(&text.join("\n"))
                    );
                }
            }
        }
        let _ = writeln!(o, "  </testsuite>");
    }
    if let Some(min) = opts.min_coverage {
        let (c, n, _, _) = r.coverage_totals();
        let _ = writeln!(
            o,
            "  <testsuite name=\"coverage\" tests=\"1\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0.000\">",
            usize::from(short)
        );
        let name = format!("rule coverage is at least {}%", show_min(min));
        if short {
            let _ = writeln!(
                o,
                "    <testcase name=\"{}\" classname=\"coverage\" time=\"0.000\">\n      <failure message=\"rule coverage {} is below {}%\" type=\"coverage\"/>\n    </testcase>",
                xml_escape(&name),
                coverage::show_percent(c, n),
                show_min(min)
            );
        } else {
            let _ = writeln!(
                o,
                "    <testcase name=\"{}\" classname=\"coverage\" time=\"0.000\"/>",
                xml_escape(&name)
            );
        }
        let _ = writeln!(o, "  </testsuite>");
    }
    o.push_str("</testsuites>\n");
    o
}

/// The expected decision as text: `deny`, `deny or escalate`, `(any)`.
fn expected_decision(e: &ExpectOne) -> String {
    match (&e.decision, &e.decision_in) {
        (Some(v), _) => v.to_string(),
        (None, Some(vs)) => vs
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
        (None, None) => "(any)".into(),
    }
}

fn expect_summary(e: &ExpectOne) -> String {
    let mut s = match expected_decision(e).as_str() {
        "(any)" => "any decision".to_string(),
        d => d.to_string(),
    };
    if let Some(r) = &e.rules {
        s.push_str(&format!(" by [{}]", r.join(", ")));
    }
    s
}

fn decision_summary(d: &crate::decision::Decision) -> String {
    format!("{} by [{}]", d.verdict, d.rules.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>\u{1}\n"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\\u{1}\n"
        );
        assert_eq!(classname("policies/asi01.test.yaml"), "policies.asi01");
    }
}
