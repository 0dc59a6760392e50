//! `govern lint` on a generated 1,000-rule bundle, every lint on (semantic ones included).
//!
//! Run: `cargo bench --bench lint -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{Criterion, criterion_group, criterion_main};
use govern::diag::SourceFile;

/// 100 tools with 10 rules each (allows with thresholds and path tests, denies with sets and
/// regexes, escalations, warnings), plus a few global guards: 1,003 rules.
pub fn bundle_source(tools: usize) -> String {
    let mut s = String::new();
    s.push_str("set secret_paths = [\"/etc/shadow\", \"/etc/passwd\", \"/root/.ssh\"]\n");
    for t in 0..tools {
        s.push_str(&format!(
            "tool t{t}(amount: number, path: string, url: string, to: string)\n"
        ));
    }
    s.push_str("policy guards {\n");
    s.push_str("  rule low_trust: deny when action == \"tool_call\" and agent.trust < 100 because \"untrusted\"\n");
    s.push_str(
        "  rule injection: deny when annotations.prompt_injection > 0.9 because \"injection\"\n",
    );
    s.push_str("  rule night: warn when time.hour < 6 because \"night\"\n");
    s.push_str("}\n");
    for t in 0..tools {
        let g = format!("action == \"tool_call\" and tool == \"t{t}\"");
        s.push_str(&format!("policy p{t} {{\n"));
        s.push_str(&format!(
            "  applies when \"team{}\" in agent.roles\n",
            t % 7
        ));
        s.push_str(&format!(
            "  rule small: allow when {g} and args.amount <= {}\n",
            100 * (t + 1)
        ));
        s.push_str(&format!(
            "  rule big: escalate when {g} and args.amount > {} because \"big\"\n",
            100 * (t + 1)
        ));
        s.push_str(&format!(
            "  rule huge: deny when {g} and args.amount > {} because \"huge\"\n",
            1000 * (t + 1)
        ));
        s.push_str(&format!(
            "  rule read: allow when {g} and args.path starts_with \"/data/{t}/\"\n"
        ));
        s.push_str(&format!(
            "  rule secrets: deny when {g} and norm_path(args.path) in secret_paths because \"secret\"\n"
        ));
        s.push_str(&format!(
            "  rule env: deny when {g} and args.path matches r\"\\.env$\" because \"env\"\n"
        ));
        s.push_str(&format!(
            "  rule host: allow when {g} and url_host(args.url) == \"api{t}.example.com\"\n"
        ));
        s.push_str(&format!(
            "  rule to: deny when {g} and lower(args.to) in [\"evil{t}\", \"bad\"] because \"recipient\"\n"
        ));
        s.push_str(&format!(
            "  rule rate: deny when {g} and count(tool == \"t{t}\", within 1m, per agent.id) >= 20 because \"rate\"\n"
        ));
        s.push_str(&format!(
            "  rule audit: warn when {g} and args.amount >= {} because \"audit\"\n",
            50 * (t + 1)
        ));
        s.push_str("}\n");
    }
    s
}

fn bench(c: &mut Criterion) {
    let src = bundle_source(100);
    let bundle = govern::check::check_sources(vec![SourceFile::new("bench.gov", src.clone())])
        .expect("the generated bundle checks");
    assert!(bundle.rules.len() >= 1000);
    let levels = govern::lint::Levels::default();
    let mut g = c.benchmark_group("lint");
    g.sample_size(10);
    g.bench_function("all_lints_1000_rules", |b| {
        b.iter(|| govern::lint::run(&bundle, &levels).unwrap())
    });
    // The same bundle without the `action` guards and with touching ranges: 700 findings,
    // each semantic one with an example request confirmed by the VM and the reference.
    let findings_src = src
        .replace("action == \"tool_call\" and tool ==", "tool ==")
        .replace("rule big: escalate when", "rule big: deny when")
        .replace(" and args.amount > ", " and args.amount >= ");
    let noisy = govern::check::check_sources(vec![SourceFile::new("bench.gov", findings_src)])
        .expect("the generated bundle checks");
    let found = govern::lint::run(&noisy, &levels).unwrap().len();
    assert!(found >= 500, "{found} findings");
    g.bench_function("all_lints_1000_rules_700_findings", |b| {
        b.iter(|| govern::lint::run(&noisy, &levels).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
