//! The report of a run: text for people, JSON for machines, JUnit for CI, and the verdict
//! on the SLOs and the error budget.

use serde_json::{Value as Json, json};

use super::run::{Finding, RuleRef, RunReport};
use super::spec::{Experiment, Slo};
use crate::suite::report::xml_escape;

/// How the SLOs came out.
#[derive(Clone, Debug, PartialEq)]
pub struct SloResult {
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub p999: Option<u64>,
    /// (name, measured, threshold) of each latency objective that failed.
    pub latency_failed: Vec<(&'static str, u64, u64)>,
    /// Mutants that broke an invariant, over mutants tried.
    pub error_rate: f64,
    pub error_budget: f64,
    /// Error rate over error budget: 1 spends the budget exactly over the run; `None` is
    /// infinite (errors against a budget of zero).
    pub burn_rate: Option<f64>,
    pub budget_ok: bool,
}

impl SloResult {
    pub fn holds(&self) -> bool {
        self.latency_failed.is_empty() && self.budget_ok
    }
}

/// Checks the SLOs of `slo` against a run.
pub fn slo(r: &RunReport, slo: &Slo) -> SloResult {
    let p50 = r.latency.quantile(0.5);
    let p99 = r.latency.quantile(0.99);
    let p999 = r.latency.quantile(0.999);
    let mut latency_failed = Vec::new();
    for (name, got, want) in [
        ("p50", p50, slo.p50),
        ("p99", p99, slo.p99),
        ("p99.9", p999, slo.p999),
    ] {
        if let (Some(g), Some(w)) = (got, want)
            && g > w
        {
            latency_failed.push((name, g, w));
        }
    }
    let error_rate = if r.tried == 0 {
        0.0
    } else {
        r.broken as f64 / r.tried as f64
    };
    let burn_rate = if slo.error_budget > 0.0 {
        Some(error_rate / slo.error_budget)
    } else if r.broken == 0 {
        Some(0.0)
    } else {
        None
    };
    SloResult {
        p50,
        p99,
        p999,
        latency_failed,
        error_rate,
        error_budget: slo.error_budget,
        burn_rate,
        budget_ok: error_rate <= slo.error_budget,
    }
}

/// `812ns`, `1.4µs`, `2.1ms`.
pub fn show_latency(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else {
        format!("{:.1}ms", ns as f64 / 1e6)
    }
}

fn show_rule(r: &Option<RuleRef>, d: &Json) -> String {
    let verdict = d.get("decision").and_then(Json::as_str).unwrap_or("deny");
    match r {
        Some(r) => format!("{verdict} by {} ({}:{})", r.id, r.file, r.line),
        None => match d.get("error").and_then(Json::as_str) {
            Some(e) => format!("{verdict}: {}", crate::source::printable(e)),
            None => format!("{verdict} by the bundle default"),
        },
    }
}

fn compact(v: &Json) -> String {
    crate::source::printable(&v.to_string()).into_owned()
}

/// The families not tried, with why.
fn untried(r: &RunReport) -> Vec<String> {
    r.families
        .iter()
        .filter(|f| f.tried == 0)
        .map(|f| {
            let why = if f.planned == 0 {
                "no budget left for it"
            } else if f.not_applicable > 0 {
                "nothing in the seeds it applies to"
            } else {
                "the time budget ran out first"
            };
            format!("{} ({why})", f.family)
        })
        .collect()
}

/// The report for people.
pub fn human(exp: &Experiment, r: &RunReport, s: &SloResult) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "chaos-run {}: bundle {}, seed {}, {} seed events, budget {} mutants\n",
        exp.name, r.bundle, r.seed, r.seed_events, r.budget
    ));
    o.push_str("\ncoverage\n  family        planned     tried  not applicable  broken\n");
    for f in &r.families {
        o.push_str(&format!(
            "  {:<12} {:>8} {:>9} {:>15} {:>7}\n",
            f.family, f.planned, f.tried, f.not_applicable, f.broken
        ));
    }
    if r.stopped_by_time {
        o.push_str(&format!(
            "  the time budget ran out: {} of {} planned mutants were tried\n",
            r.tried, r.budget
        ));
    }
    if r.findings.is_empty() {
        o.push_str("\nfindings: none\n");
    } else {
        o.push_str(&format!("\nfindings ({})\n", r.findings.len()));
        for (i, f) in r.findings.iter().enumerate() {
            finding_human(&mut o, i + 1, f);
        }
    }
    o.push_str("\nslo\n");
    let lat = |v: Option<u64>| v.map_or("-".to_string(), |n| format!("≈{}", show_latency(n)));
    o.push_str(&format!(
        "  latency   p50 {}  p99 {}  p99.9 {}  over {} decisions\n",
        lat(s.p50),
        lat(s.p99),
        lat(s.p999),
        r.latency.total
    ));
    for (name, got, want) in &s.latency_failed {
        o.push_str(&format!(
            "  failed    {name} ≈{} is over {}\n",
            show_latency(*got),
            show_latency(*want)
        ));
    }
    let burn = match s.burn_rate {
        Some(b) => format!("{b:.2}"),
        None => "infinite".into(),
    };
    o.push_str(&format!(
        "  errors    {} of {} mutants broke an invariant ({:.4}%), error budget {:.4}%, burn rate {burn}\n",
        r.broken,
        r.tried,
        s.error_rate * 100.0,
        s.error_budget * 100.0
    ));
    o.push_str(&format!(
        "  {:.0} mutants/s on {} threads\n",
        r.tried as f64 / r.elapsed.as_secs_f64().max(1e-9),
        r.jobs
    ));
    let not = untried(r);
    o.push('\n');
    if r.findings.is_empty() {
        let tried: Vec<&str> = r
            .families
            .iter()
            .filter(|f| f.tried > 0)
            .map(|f| f.family.as_str())
            .collect();
        o.push_str(&format!(
            "no invariant broken by {} mutants of {}\n",
            r.tried,
            if tried.is_empty() {
                "no family".to_string()
            } else {
                tried.join(", ")
            }
        ));
    } else {
        o.push_str(&format!(
            "{} finding{}: {} mutants broke an invariant\n",
            r.findings.len(),
            if r.findings.len() == 1 { "" } else { "s" },
            r.broken
        ));
    }
    if !not.is_empty() {
        o.push_str(&format!(
            "not tried, so nothing is known about: {}\n",
            not.join(", ")
        ));
    }
    o
}

fn finding_human(o: &mut String, n: usize, f: &Finding) {
    o.push_str(&format!(
        "  {n}. {} broken by {}{} ({} mutant{})\n",
        f.invariant,
        f.fault,
        f.attribute
            .as_ref()
            .map(|a| format!(" on {a}"))
            .unwrap_or_default(),
        f.count,
        if f.count == 1 { "" } else { "s" }
    ));
    o.push_str(&format!("     mutation  {}\n", f.mutation.join(", then ")));
    if !f.seed.is_empty() {
        o.push_str(&format!("     seed      {}\n", f.seed));
    }
    o.push_str(&format!("     original  {}\n", compact(&f.original)));
    o.push_str(&format!(
        "               {}\n",
        show_rule(&f.missed, &f.original_decision)
    ));
    o.push_str(&format!("     mutated   {}\n", compact(&f.mutated)));
    o.push_str(&format!(
        "               {}\n",
        show_rule(&f.rule, &f.mutated_decision)
    ));
    if !f.mutated_stream.is_empty() {
        o.push_str(&format!(
            "     stream    {} events (smallest found); the whole stream is in --format json\n",
            f.mutated_stream.len()
        ));
    }
}

/// The report for machines.
pub fn json(exp: &Experiment, r: &RunReport, s: &SloResult, status: u8) -> Json {
    let lat = |v: Option<u64>| v.map_or(Json::Null, |n| json!(n));
    json!({
        "experiment": exp.name,
        "bundle": r.bundle,
        "seed": r.seed,
        "budget": {"mutants": r.budget, "time_ns": exp.time},
        "seed_events": r.seed_events,
        "tried": r.tried,
        "broken": r.broken,
        "complete": !r.stopped_by_time,
        "families": r.families,
        "not_tried": untried(r),
        "findings": r.findings,
        "slo": {
            "p50_ns": lat(s.p50),
            "p99_ns": lat(s.p99),
            "p99_9_ns": lat(s.p999),
            "thresholds_ns": {"p50": exp.slo.p50, "p99": exp.slo.p99, "p99.9": exp.slo.p999},
            "latency_failed": s.latency_failed.iter().map(|(n, g, w)| json!({"objective": n, "measured_ns": g, "threshold_ns": w})).collect::<Vec<_>>(),
            "error_rate": s.error_rate,
            "error_budget": s.error_budget,
            "burn_rate": s.burn_rate,
            "holds": s.holds(),
        },
        "status": if status == 0 { "pass" } else { "fail" },
    })
}

/// The report for CI (one `<testsuite>`): one test case per family (skipped when not tried) and one for the
/// SLOs; each finding is a failure of its family's case.
pub fn junit(exp: &Experiment, r: &RunReport, s: &SloResult) -> String {
    let mut cases = String::new();
    let mut failures = 0;
    let mut skipped = 0;
    for f in &r.families {
        let name = xml_escape(&format!("{} mutants", f.family));
        cases.push_str(&format!(
            "    <testcase classname=\"chaos.{}\" name=\"{name}\">\n",
            xml_escape(&f.family)
        ));
        if f.tried == 0 {
            skipped += 1;
            cases.push_str("      <skipped message=\"not tried\"/>\n");
        }
        // One failure per case (JUnit readers take one), listing every finding.
        let mut body = String::new();
        let mut n = 0;
        for fi in r.findings.iter().filter(|x| x.fault == f.family) {
            n += 1;
            finding_human(&mut body, n, fi);
        }
        if n > 0 {
            failures += 1;
            cases.push_str(&format!(
                "      <failure message=\"{}\">{}</failure>\n",
                xml_escape(&format!(
                    "{n} finding{} under {}",
                    if n == 1 { "" } else { "s" },
                    f.family
                )),
                xml_escape(&body)
            ));
        }
        cases.push_str("    </testcase>\n");
    }
    cases.push_str("    <testcase classname=\"chaos.slo\" name=\"slo\">\n");
    if !s.holds() {
        failures += 1;
        cases.push_str(&format!(
            "      <failure message=\"the SLOs do not hold\">error rate {:.6}, budget {:.6}, latency objectives failed: {}</failure>\n",
            s.error_rate,
            s.error_budget,
            s.latency_failed.len()
        ));
    }
    cases.push_str("    </testcase>\n");
    format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n{cases}  </testsuite>\n",
        xml_escape(&exp.name),
        r.families.len() + 1
    )
}
