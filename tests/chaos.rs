//! `chaos-run` against small policies: for each fault family a policy it breaks (the finding
//! must appear) and one that withstands it (no finding); shrinking to a known minimum;
//! determinism across runs and `--jobs`; engine faults that end in deny; bad experiments.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use govern::chaos::run::{self, Finding, RunReport};
use govern::chaos::{load_target, spec};
use serde_json::{Value, json};

/// Writes a policy, a trace and an experiment into a fresh directory.
fn setup(name: &str, policy: &str, events: &[Value], experiment: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("chaos")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.gov"), policy).unwrap();
    let trace: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(dir.join("t.jsonl"), trace).unwrap();
    let path = dir.join("e.chaos.yaml");
    std::fs::write(
        &path,
        format!("policy: p.gov\ntraces: [t.jsonl]\nseed: 7\n{experiment}"),
    )
    .unwrap();
    path
}

fn run_with(path: &std::path::Path, jobs: usize) -> RunReport {
    let exp = spec::load(path).unwrap_or_else(|d| panic!("{d:?}"));
    let target = load_target(&exp).unwrap_or_else(|d| panic!("{d:?}"));
    run::run(
        &exp,
        &target,
        &run::Options {
            jobs,
            done: None,
            mutants: None,
            time: None,
        },
    )
}

fn findings(name: &str, policy: &str, events: &[Value], experiment: &str) -> Vec<Finding> {
    let r = run_with(&setup(name, policy, events, experiment), 2);
    for f in &r.families {
        assert!(
            f.tried > 0,
            "{name}: family {} was not tried: {f:?}",
            f.family
        );
    }
    r.findings
}

fn has(fs: &[Finding], invariant: &str, fault: &str) -> bool {
    fs.iter()
        .any(|f| f.invariant == invariant && f.fault == fault)
}

fn ev(tool: &str, args: Value) -> Value {
    json!({"ts": "2026-11-23T10:00:00Z", "session": "s-1", "agent": {"id": "a1", "roles": ["dev"]},
           "action": "tool_call", "tool": tool, "args": args})
}

/// Asserts that `weak` breaks `invariant` under `fault` and `strong` does not.
fn breaks_and_withstands(fault: &str, invariant: &str, weak: &str, strong: &str, events: &[Value]) {
    let exp = format!("budget: {{mutants: 1500}}\nfaults: [{fault}]\ninvariants: [{invariant}]\n");
    let w = findings(&format!("{fault}-weak"), weak, events, &exp);
    assert!(
        has(&w, invariant, fault),
        "{fault}: the weak policy was not broken: {w:#?}"
    );
    let s = findings(&format!("{fault}-strong"), strong, events, &exp);
    assert!(
        s.is_empty(),
        "{fault}: the strong policy was broken: {:#?}",
        s.first()
    );
}

#[test]
fn path_family() {
    breaks_and_withstands(
        "path",
        "monotone",
        r#"default allow
policy p { rule secrets: deny when tool == "file_read" and args.path == "/etc/shadow" }"#,
        r#"default allow
policy p { rule secrets: deny when tool == "file_read" and (norm_path(args.path) == "/etc/shadow" or args.path contains "\\" or args.path starts_with "~") }"#,
        &[ev("file_read", json!({"path": "/etc/shadow"}))],
    );
}

#[test]
fn url_family() {
    let events = [
        ev("http_request", json!({"url": "https://evil.example/x"})),
        ev(
            "http_request",
            json!({"url": "https://api.github.com/repos"}),
        ),
        ev("http_request", json!({"url": "http://10.0.0.1/admin"})),
    ];
    breaks_and_withstands(
        "url",
        "monotone",
        r#"default allow
policy p { rule blocked: deny when tool == "http_request" and url_host(args.url) in ["evil.example", "10.0.0.1"] }"#,
        r#"default allow
policy p { rule approved: deny when tool == "http_request" and url_host(args.url) not in ["api.github.com"] }"#,
        &events,
    );
}

#[test]
fn case_family() {
    breaks_and_withstands(
        "case",
        "monotone",
        r#"default allow
policy p { rule no_delete: deny when tool == "http_request" and args.method == "DELETE" }"#,
        r#"default allow
policy p { rule no_delete: deny when tool == "http_request" and upper(args.method) == "DELETE" }"#,
        &[ev("http_request", json!({"method": "DELETE"}))],
    );
}

#[test]
fn whitespace_family() {
    breaks_and_withstands(
        "whitespace",
        "monotone",
        r#"default allow
policy p { rule no_rm: deny when tool == "shell" and args.command contains "rm -rf" }"#,
        r#"default allow
policy p { rule no_rm: deny when tool == "shell" and args.command matches r"rm\s+-rf" }"#,
        &[ev("shell", json!({"command": "rm -rf /"}))],
    );
}

#[test]
fn encoding_family() {
    breaks_and_withstands(
        "encoding",
        "monotone",
        r#"default allow
policy p { rule admin: deny when tool == "http_request" and args.url contains "/admin" }"#,
        r#"default allow
policy p { rule admin: deny when tool == "http_request" and not (args.url == "https://api.github.com/repos") }"#,
        &[ev(
            "http_request",
            json!({"url": "https://api.github.com/admin"}),
        )],
    );
}

#[test]
fn confusable_family() {
    breaks_and_withstands(
        "confusable",
        "monotone",
        r#"default allow
policy p { rule blocked: deny when tool == "http_request" and url_host(args.url) == "evil.example" }"#,
        r#"default allow
policy p { rule approved: deny when tool == "http_request" and url_host(args.url) not in ["api.github.com"] }"#,
        &[ev("http_request", json!({"url": "https://evil.example/x"}))],
    );
}

const PAYMENTS_WEAK: &str = r#"tool transfer(amount: number, to: string)
default deny
policy p {
  rule small: allow when tool == "transfer" and "finance" in agent.roles and args.amount <= 1000
  rule large: escalate when tool == "transfer" and args.amount > 1000
}"#;

const PAYMENTS_STRONG: &str = r#"tool transfer(amount: number, to: string)
default deny
policy p {
  rule small: allow when tool == "transfer" and "finance" in agent.roles and args.amount <= 1000
  rule large: escalate when tool == "transfer" and args.amount > 1000
  rule others: deny when tool == "transfer" and not ("finance" in agent.roles)
}"#;

#[test]
fn type_family() {
    breaks_and_withstands(
        "type",
        "monotone",
        PAYMENTS_WEAK,
        PAYMENTS_STRONG,
        &[ev("transfer", json!({"amount": 20, "to": "x"}))],
    );
}

#[test]
fn drop_family() {
    breaks_and_withstands(
        "drop",
        "monotone",
        PAYMENTS_WEAK,
        PAYMENTS_STRONG,
        &[ev("transfer", json!({"amount": 20, "to": "x"}))],
    );
}

/// Calls of one agent, `gap_s` seconds apart from 10:00:00.
fn calls(tool: &str, args: &[Value], gap_s: u64, session: &str) -> Vec<Value> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            let t = i as u64 * gap_s;
            json!({"ts": format!("2026-11-23T10:{:02}:{:02}Z", t / 60, t % 60), "session": session,
                   "agent": {"id": "a1", "roles": ["dev"]}, "action": "tool_call", "tool": tool, "args": a})
        })
        .collect()
}

#[test]
fn reorder_family() {
    // Big transfers are denied only once two transfers came before: an order the caller
    // chooses. A plain rate limit does not care about the order of equal calls.
    let amounts: Vec<Value> = [500, 10, 10, 500]
        .iter()
        .map(|a| json!({"amount": a, "to": "x"}))
        .collect();
    breaks_and_withstands(
        "reorder",
        "stateful",
        r#"default allow
policy p { rule late_big: deny when tool == "transfer" and args.amount > 100 and count(tool == "transfer", within 1h, per agent.id) >= 2 }"#,
        r#"default allow
policy p { rule rate: deny when tool == "transfer" and count(tool == "transfer", within 1h, per agent.id) >= 3 }"#,
        &calls("transfer", &amounts, 1, "s-1"),
    );
}

#[test]
fn duplicate_family() {
    // The first transfer of a session needs a person; a retry sails through.
    let args = vec![json!({"amount": 5, "to": "x"})];
    breaks_and_withstands(
        "duplicate",
        "stateful",
        r#"default allow
policy p { rule first: escalate when tool == "transfer" and not seen(tool == "transfer", per session) }"#,
        r#"default allow
policy p { rule first: escalate when tool == "transfer" }"#,
        &calls("transfer", &args, 1, "s-1"),
    );
}

#[test]
fn burst_family() {
    let args = vec![json!({"amount": 5, "to": "x"})];
    breaks_and_withstands(
        "burst",
        "stateful",
        r#"default allow
policy p { rule first: escalate when tool == "transfer" and not seen(tool == "transfer", per agent.id) }"#,
        r#"default allow
policy p { rule rate: deny when tool == "transfer" and count(tool == "transfer", within 1m, per agent.id) >= 3 }"#,
        &calls("transfer", &args, 1, "s-1"),
    );
}

#[test]
fn second_session_is_a_duplicate() {
    // The same agent under a second session: a limit per agent must still trip. A limit per
    // session is a count per session by design (the key allows the split), so it is no
    // finding; a limit that only counts calls of the first session breaks.
    let args: Vec<Value> = (0..4).map(|i| json!({"query": format!("q{i}")})).collect();
    let events = calls("web_search", &args, 5, "s-1");
    let exp = "budget: {mutants: 1500}\nfaults: [duplicate]\ninvariants: [stateful]\n";
    let weak = findings(
        "session-weak",
        r#"default allow
policy p { rule rate: deny when tool == "web_search" and count(tool == "web_search" and session == "s-1", within 1m, per agent.id) >= 3 }"#,
        &events,
        exp,
    );
    assert!(
        weak.iter()
            .any(|f| f.mutation == ["the agent under a second session"]),
        "{weak:#?}"
    );
    for (name, key) in [
        ("session-per-agent", "agent.id"),
        ("session-per-session", "session"),
    ] {
        let policy = format!(
            r#"default allow
policy p {{ rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1m, per {key}) >= 3 }}"#
        );
        let strong = findings(name, &policy, &events, exp);
        assert!(strong.is_empty(), "{key}: {strong:#?}");
    }
}

#[test]
fn clock_skew_family() {
    let args: Vec<Value> = (0..4).map(|i| json!({"query": format!("q{i}")})).collect();
    breaks_and_withstands(
        "clock-skew",
        "stateful",
        r#"default allow
policy p { rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1m, per agent.id) >= 3 }"#,
        r#"default allow
policy p { rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1h, per agent.id) >= 3 }"#,
        &calls("web_search", &args, 10, "s-1"),
    );
}

#[test]
fn engine_faults_end_in_deny() {
    // A stateless policy: corrupted and truncated bundles are refused, an exhausted budget is
    // a denial, a restart loses nothing.
    let path = setup(
        "engine-stateless",
        r#"default allow
policy p { rule secrets: deny when tool == "file_read" and norm_path(args.path) == "/etc/shadow" }"#,
        &[
            ev("file_read", json!({"path": "/etc/shadow"})),
            ev("file_read", json!({"path": "/tmp/x"})),
        ],
        "budget: {mutants: 200}\nfaults: [engine]\ninvariants: [fail-closed]\n",
    );
    let r = run_with(&path, 2);
    let engine = &r.families[0];
    assert_eq!(engine.family, "engine");
    assert!(engine.tried >= 150, "{engine:?}");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn a_restart_that_loses_state_is_reported() {
    // A point without an audit log keeps its stream state in memory only: after a restart a
    // rate limit starts from zero. That is an engine fault the policy cannot withstand, and
    // chaos-run says so.
    let args: Vec<Value> = (0..6).map(|i| json!({"query": format!("q{i}")})).collect();
    let path = setup(
        "engine-restart",
        r#"default allow
policy p { rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1h, per agent.id) >= 3 }"#,
        &calls("web_search", &args, 1, "s-1"),
        "budget: {mutants: 200}\nfaults: [engine]\ninvariants: [fail-closed]\npoint: {audit_log: false}\n",
    );
    let r = run_with(&path, 2);
    let f = r
        .findings
        .iter()
        .find(|f| f.mutation == ["a restart that lost the stream state"])
        .unwrap_or_else(|| panic!("{:#?}", r.findings));
    assert_eq!(f.invariant, "fail-closed");
    assert_eq!(f.original_decision["decision"], "deny");
    assert_eq!(f.mutated_decision["decision"], "allow");
    // Shrunk: the three searches that trip the limit, then the restart before the fourth.
    assert_eq!(f.mutated_stream.len(), 4, "{f:#?}");
}

#[test]
fn a_restart_of_a_point_with_an_audit_log_loses_nothing() {
    // The same policy and stream, the point modelled as it runs by default (with an audit
    // log): every restart goes through the real restore, and the rate limit keeps counting.
    let args: Vec<Value> = (0..6).map(|i| json!({"query": format!("q{i}")})).collect();
    for point in ["", "point: {audit_log: true}\n"] {
        let path = setup(
            "engine-restart-logged",
            r#"default allow
policy p { rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1h, per agent.id) >= 3 }"#,
            &calls("web_search", &args, 1, "s-1"),
            &format!(
                "budget: {{mutants: 200}}\nfaults: [engine]\ninvariants: [fail-closed]\n{point}"
            ),
        );
        let r = run_with(&path, 2);
        // A quarter of the engine mutants are restarts, all of them after the first event.
        assert!(r.families[0].tried >= 150, "{:?}", r.families);
        assert!(r.findings.is_empty(), "{:#?}", r.findings);
    }
    // A malformed declaration is bad input, with its line.
    let path = setup(
        "engine-restart-bad",
        "default allow\npolicy p { rule r: deny when tool == \"x\" }",
        &calls("web_search", &args, 1, "s-1"),
        "point: {audit_log: maybe}\n",
    );
    let e = spec::load(&path).unwrap_err();
    assert!(format!("{e:?}").contains("audit_log"), "{e:?}");
}

#[test]
fn shrinking_reaches_the_known_minimum() {
    // Only `.` segments, `//` and trailing slashes matter to this policy's equality; whatever
    // chain found the bypass, the reported one is a single step, and a burst that breaks the
    // first-call rule needs one copy, on a stream of just that call.
    let path = setup(
        "shrink-path",
        r#"default allow
policy p { rule secrets: deny when tool == "file_read" and args.path == "/etc/shadow" }"#,
        &[ev("file_read", json!({"path": "/etc/shadow"}))],
        "budget: {mutants: 3000}\nfaults: [path]\ninvariants: [monotone]\n",
    );
    let r = run_with(&path, 1);
    assert!(!r.findings.is_empty());
    for f in &r.findings {
        assert_eq!(f.mutation.len(), 1, "{f:#?}");
        assert!(f.count >= 1);
    }
    let mut events = calls(
        "web_search",
        &(0..10).map(|i| json!({"query": i})).collect::<Vec<_>>(),
        1,
        "s-1",
    );
    events.extend(calls(
        "transfer",
        &[json!({"amount": 5, "to": "x"})],
        1,
        "s-1",
    ));
    let path = setup(
        "shrink-burst",
        r#"default allow
policy p { rule first: escalate when tool == "transfer" and not seen(tool == "transfer", per agent.id) }"#,
        &events,
        "budget: {mutants: 3000}\nfaults: [burst]\ninvariants: [stateful]\n",
    );
    let r = run_with(&path, 2);
    let f = r.findings.first().unwrap_or_else(|| panic!("no finding"));
    assert_eq!(f.mutation, ["the call sent twice"], "{f:#?}");
    assert_eq!(f.mutated_stream.len(), 2, "{f:#?}");
    assert_eq!(f.original_stream.len(), 1, "{f:#?}");
}

#[test]
fn findings_do_not_depend_on_runs_or_jobs() {
    let mut events = vec![
        ev("file_read", json!({"path": "/etc/shadow"})),
        ev(
            "http_request",
            json!({"url": "https://evil.example/x", "method": "DELETE"}),
        ),
        ev("transfer", json!({"amount": 20, "to": "x"})),
    ];
    events.extend(calls(
        "web_search",
        &(0..5).map(|i| json!({"query": i})).collect::<Vec<_>>(),
        10,
        "s-1",
    ));
    let path = setup(
        "determinism",
        r#"tool transfer(amount: number, to: string)
default allow
policy p {
  rule secrets: deny when tool == "file_read" and args.path == "/etc/shadow"
  rule blocked: deny when tool == "http_request" and url_host(args.url) == "evil.example"
  rule no_delete: deny when tool == "http_request" and args.method == "DELETE"
  rule large: escalate when tool == "transfer" and args.amount > 1000
  rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1m, per session) >= 3
}"#,
        &events,
        // A point without an audit log: its restarts lose the state, which finds more.
        "budget: {mutants: 6000}\npoint: {audit_log: false}\n",
    );
    let one = run_with(&path, 1);
    let again = run_with(&path, 1);
    let two = run_with(&path, 2);
    let four = run_with(&path, 4);
    assert!(one.findings.len() >= 5, "{:#?}", one.findings);
    let show = |r: &RunReport| serde_json::to_string(&r.findings).unwrap();
    assert_eq!(show(&one), show(&again));
    assert_eq!(show(&one), show(&two));
    assert_eq!(show(&one), show(&four));
    assert_eq!(one.families, four.families);
}

fn load_error(name: &str, experiment: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("chaos")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.gov"), "default allow\n").unwrap();
    std::fs::write(dir.join("t.jsonl"), "{\"tool\":\"x\"}\n").unwrap();
    let path = dir.join("e.chaos.yaml");
    std::fs::write(&path, experiment).unwrap();
    let ds = spec::load(&path).expect_err("the experiment should be refused");
    ds.iter()
        .map(|d| {
            let (file, line, _) = d.position().unwrap_or_default();
            let file = file.rsplit('/').next().unwrap_or("").to_string();
            format!("{file}:{line}: {}", d.message)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bad_experiments_name_file_and_line() {
    assert_eq!(
        load_error(
            "bad-fault",
            "policy: p.gov\ntraces: [t.jsonl]\nfaults:\n  - path\n  - pth\n  - bursts\n"
        ),
        "e.chaos.yaml:5: unknown fault family `pth`\ne.chaos.yaml:6: unknown fault family `bursts`"
    );
    assert_eq!(
        load_error(
            "bad-invariant",
            "policy: p.gov\ntraces: [t.jsonl]\ninvariants: [monotone, montone]\n"
        ),
        "e.chaos.yaml:3: unknown invariant `montone`"
    );
    assert_eq!(
        load_error(
            "missing-trace",
            "policy: p.gov\ntraces:\n  - t.jsonl\n  - gone.jsonl\n"
        ),
        "e.chaos.yaml:4: trace `gone.jsonl` does not exist"
    );
    let yaml = load_error("bad-yaml", "policy: p.gov\ntraces: [t.jsonl\n");
    assert!(yaml.starts_with("e.chaos.yaml:"), "{yaml}");
    assert!(yaml.contains("invalid experiment"), "{yaml}");
    assert_eq!(
        load_error(
            "unknown-field",
            "policy: p.gov\ntraces: [t.jsonl]\nseeds: 4\n"
        ),
        "e.chaos.yaml:3: invalid experiment: unknown field `seeds`, expected one of `policy`, `bundle`, `trust`, `traces`, `seed`, `budget`, `faults`, `invariants`, `targets`, `slo`, `point`"
    );
}

#[test]
fn user_invariants_are_rules_over_the_mutant() {
    // "No read of a path under /etc is ever allowed", checked on every mutant: the equality
    // test lets `/etc/./shadow` through, and the user invariant says so.
    let path = setup(
        "user-invariant",
        r#"default allow
policy p { rule secrets: deny when tool == "file_read" and args.path == "/etc/shadow" }"#,
        &[ev("file_read", json!({"path": "/etc/shadow"}))],
        "budget: {mutants: 1000}\nfaults: [path]\ninvariants:\n  - name: no_etc_reads\n    violated_when: tool == \"file_read\" and norm_path(args.path) starts_with \"/etc/\" and chaos.decision == \"allow\"\n",
    );
    let r = run_with(&path, 2);
    assert!(
        r.findings.iter().any(|f| f.invariant == "no_etc_reads"),
        "{:#?}",
        r.findings
    );
    assert!(r.findings.iter().all(|f| f.invariant == "no_etc_reads"));
}

#[test]
fn the_error_budget_and_its_burn_rate() {
    let path = setup(
        "budget",
        r#"default allow
policy p { rule secrets: deny when tool == "file_read" and norm_path(args.path) == "/etc/shadow" }"#,
        &[ev("file_read", json!({"path": "/etc/shadow"}))],
        "budget: {mutants: 1000}\nfaults: [path]\ninvariants: [monotone]\nslo: {error_budget: 50%}\n",
    );
    let exp = spec::load(&path).unwrap();
    let r = run_with(&path, 2);
    let s = govern::chaos::report::slo(&r, &exp.slo);
    let rate = r.broken as f64 / r.tried as f64;
    assert!(r.broken > 0 && rate < 0.5, "{} of {}", r.broken, r.tried);
    assert!((s.error_rate - rate).abs() < 1e-12);
    // Burn rate = error rate / error budget: below 1 keeps within the budget.
    assert!((s.burn_rate.unwrap() - rate / 0.5).abs() < 1e-12);
    assert!(s.holds());
    let strict = spec::Slo {
        error_budget: 0.0,
        ..exp.slo.clone()
    };
    let s = govern::chaos::report::slo(&r, &strict);
    assert_eq!(s.burn_rate, None);
    assert!(!s.holds());
}

/// Findings chaos-run reports on the policy library that are known and open (see
/// policies/README.md): `(invariant, fault, attribute, rule that decided the original)`.
/// A finding outside this list is a new bypass and fails the test; when one is fixed, remove
/// it here.
const LIBRARY_OPEN: &[(&str, &str, &str, &str)] = &[
    // Not a bypass: the dropped body was what carried the credential, so the mutant e-mail
    // sends none (the drop family's equivalence does not hold for the payload itself).
    (
        "monotone",
        "drop",
        "args.body",
        "output_handling.secrets_in_arguments",
    ),
];

/// Findings of the red-team experiment that are known: see policies/README.md.
const REDTEAM_OPEN: &[(&str, &str, &str, &str)] = &[
    // Not bypasses: the dropped attribute carried the credential or the personal data.
    (
        "monotone",
        "drop",
        "args.body",
        "output_handling.bulk_personal_data",
    ),
    (
        "monotone",
        "drop",
        "args.body",
        "output_handling.secrets_in_arguments",
    ),
    (
        "monotone",
        "drop",
        "args.query",
        "output_handling.secrets_in_arguments",
    ),
];

fn run_shipped(path: &str, mutants: u64) -> RunReport {
    let exp = spec::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let target = load_target(&exp).unwrap_or_else(|d| panic!("{d:?}"));
    run::run(
        &exp,
        &target,
        &run::Options {
            jobs: 2,
            done: None,
            mutants: Some(mutants),
            time: None,
        },
    )
}

#[test]
fn the_policy_library_withstands_what_it_claims() {
    let r = run_shipped("testdata/chaos/library.chaos.yaml", 12_000);
    assert!(!r.stopped_by_time);
    for f in &r.families {
        assert!(f.tried > 0, "family {} was not tried", f.family);
    }
    // Only mutations that change something are planned: every argument mutant is decided.
    for f in &r.families {
        let family = govern::chaos::mutate::Family::parse(&f.family).unwrap();
        if family.kind() == govern::chaos::mutate::Kind::Argument {
            assert_eq!(
                (f.tried, f.not_applicable),
                (f.planned, 0),
                "family {} planned mutants that change nothing",
                f.family
            );
        }
    }
    for f in &r.findings {
        let missed = f.missed.as_ref().map_or("", |m| m.id.as_str());
        let key = (
            f.invariant.as_str(),
            f.fault.as_str(),
            f.attribute.as_deref().unwrap_or(""),
            missed,
        );
        assert!(
            LIBRARY_OPEN.contains(&key),
            "a new bypass in the policy library: {key:?}\n{}",
            serde_json::to_string_pretty(f).unwrap()
        );
    }
    let r = run_shipped("testdata/chaos/library-engine.chaos.yaml", 400);
    assert!(r.families[0].tried > 300, "{:?}", r.families);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn the_red_team_corpus_respelt_finds_only_what_is_known() {
    let r = run_shipped("testdata/chaos/redteam.chaos.yaml", 6_000);
    assert!(!r.stopped_by_time);
    // Suites carry no `ts`: clock-skew has nothing to move there; the rest is tried.
    let tried: u64 = r.families.iter().map(|f| f.tried).sum();
    assert!(tried > 3_000, "{:?}", r.families);
    for f in &r.findings {
        let missed = f.missed.as_ref().map_or("", |m| m.id.as_str());
        let key = (
            f.invariant.as_str(),
            f.fault.as_str(),
            f.attribute.as_deref().unwrap_or(""),
            missed,
        );
        assert!(
            REDTEAM_OPEN.contains(&key) || LIBRARY_OPEN.contains(&key),
            "a new bypass in the policy library on the red-team corpus: {key:?}\n{}",
            serde_json::to_string_pretty(f).unwrap()
        );
    }
}
