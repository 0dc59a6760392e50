//! `govern test` end to end: suites that pass and fail, every output format, coverage, golden
//! recording, bad suites, the policy library, and `--watch`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `govern args…` in `dir`, returning a printable record and the exit status.
fn run_in(dir: &Path, args: &[&str]) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let text = format!(
        "status: {code}\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, code)
}

fn run(args: &[&str]) -> (String, i32) {
    run_in(Path::new(ROOT), args)
}

/// Digests and durations change with the compiler and the machine; snapshots hide them.
fn redact(s: &str) -> String {
    let digest = regex::Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let time = regex::Regex::new(r#"time="[0-9.]+""#).unwrap();
    let s = digest.replace_all(s, "sha256:[digest]");
    time.replace_all(&s, r#"time="[t]""#).into_owned()
}

/// A fresh directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("testcmd")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn a_passing_suite() {
    let (text, code) = run(&["test", "testdata/suites/brief.test.yaml"]);
    assert_eq!(code, 0, "{text}");
    snap!("testcmd_pass", text);
}

#[test]
fn failures_show_expected_and_actual_side_by_side() {
    let (text, code) = run(&["test", "testdata/suites/failing.test.yaml"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("testdata/suites/failing.test.yaml:11"),
        "{text}"
    );
    snap!("testcmd_failure", text);
}

#[test]
fn json_report() {
    let (text, code) = run(&[
        "test",
        "testdata/suites/failing.test.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{text}");
    let stdout = text
        .split("--- stdout\n")
        .nth(1)
        .unwrap()
        .split("--- stderr\n")
        .next()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(stdout).unwrap();
    assert_eq!(doc["summary"]["failed"], 2);
    assert_eq!(doc["summary"]["exit"], 1);
    let failure = &doc["suites"][0]["cases"][1]["failures"][0];
    assert_eq!(failure["expected"]["decision"], "deny");
    assert_eq!(failure["actual"]["decision"], "allow");
    assert_eq!(
        failure["differs"],
        serde_json::json!(["decision", "rules", "messages"])
    );
    snap!("testcmd_json", redact(&text));
}

/// A small well-formedness check: tags nest, attributes are quoted, entities are known.
fn check_xml(xml: &str) {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    let entity = regex::Regex::new(r"^&(amp|lt|gt|quot|apos);").unwrap();
    let attr = regex::Regex::new(r#"^([A-Za-z_]+)="([^"<]*)"\s*"#).unwrap();
    while !rest.is_empty() {
        if let Some(tag) = rest.strip_prefix('<') {
            let end = tag.find('>').expect("unclosed tag");
            let inner = &tag[..end];
            assert!(!inner.contains('<'), "`<` inside a tag: {inner}");
            if let Some(name) = inner.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let self_closing = inner.ends_with('/');
                let inner = inner.trim_end_matches('/');
                let name = inner.split_whitespace().next().unwrap().to_string();
                let attrs = inner[name.len()..].trim();
                let mut a = attrs;
                while !a.is_empty() {
                    let m = attr
                        .captures(a)
                        .unwrap_or_else(|| panic!("bad attributes: {a}"));
                    for (i, _) in m[2].match_indices('&') {
                        assert!(entity.is_match(&m[2][i..]), "bad entity in {}", &m[2]);
                    }
                    a = &a[m[0].len()..];
                }
                if !self_closing {
                    stack.push(name);
                }
            }
            rest = &tag[end + 1..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..end];
            for (i, _) in text.match_indices('&') {
                assert!(entity.is_match(&text[i..]), "bad entity in text: {text}");
            }
            assert!(
                !text
                    .chars()
                    .any(|c| (c as u32) < 0x20 && !"\t\n\r".contains(c)),
                "control character in text"
            );
            rest = &rest[end..];
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

#[test]
fn junit_report_is_well_formed_xml() {
    let (text, code) = run(&[
        "test",
        "testdata/suites/failing.test.yaml",
        "testdata/suites/bad/syntax.test.yaml",
        "--format",
        "junit",
        "--min-coverage",
        "100",
    ]);
    assert_eq!(code, 2, "{text}");
    let stdout = text
        .split("--- stdout\n")
        .nth(1)
        .unwrap()
        .split("--- stderr\n")
        .next()
        .unwrap();
    check_xml(stdout);
    assert!(
        stdout.contains(r#"<testsuites name="govern test" tests="5" failures="3" errors="1""#),
        "{stdout}"
    );
    snap!("testcmd_junit", redact(&text));
}

#[test]
fn coverage_lists_rules_and_leaves() {
    let (text, code) = run(&["test", "testdata/suites/brief.test.yaml", "--coverage"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("rules   6 of 6 decided at least once (100.0%)"),
        "{text}"
    );
    snap!("testcmd_coverage", text);
}

#[test]
fn min_coverage_fails_below_the_line() {
    // Only the payments matrix: most rules never decide.
    let (text, code) = run(&[
        "test",
        "testdata/suites/brief.test.yaml",
        "--filter",
        "amounts",
        "--min-coverage",
        "90",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("rule coverage 33.3% is below the minimum of 90%"),
        "{text}"
    );
    snap!("testcmd_min_coverage", text);
    let (text, code) = run(&[
        "test",
        "testdata/suites/brief.test.yaml",
        "--filter",
        "amounts",
        "--min-coverage",
        "33",
    ]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn bad_suites_are_errors_with_file_and_line() {
    let (text, code) = run(&["test", "testdata/suites/bad"]);
    assert_eq!(code, 2, "{text}");
    for at in [
        "[testdata/suites/bad/impossible.test.yaml:8:38]",
        "[testdata/suites/bad/impossible.test.yaml:13:5]",
        "[testdata/suites/bad/impossible.test.yaml:17:38]",
        "[testdata/suites/bad/impossible.test.yaml:19:5]",
        "[testdata/suites/bad/syntax.test.yaml:5:11]",
        "[testdata/suites/bad/unknown_field.test.yaml:5:5]",
        "[testdata/suites/bad/duplicate_key.test.yaml:6:32]",
    ] {
        assert!(text.contains(at), "missing {at} in\n{text}");
    }
    // The one good case of a suite with bad ones still runs, and nothing bad counts as passed.
    assert!(
        text.contains("result: 1 passed, 0 failed, 7 errors"),
        "{text}"
    );
    snap!("testcmd_bad_suites", text);
}

/// Expectations that check nothing, or that no decision could meet, are errors found before
/// anything runs: they never pass, and they do not pass for failures of the policy either.
#[test]
fn vacuous_and_impossible_expectations_are_errors() {
    let dir = scratch("impossible_expectations");
    std::fs::write(
        dir.join("p.gov"),
        "policy p {\n  rule read: allow when action == \"tool_call\" and tool == \"file_read\"\n  \
         rule secrets: deny when action == \"tool_call\" and tool == \"file_read\" and has args.path because \"no secrets\"\n  \
         rule quiet: deny when action == \"input\"\n  \
         rule w: warn when action == \"tool_call\" because \"careful\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("a.test.yaml"),
        "bundle: p.gov\n\
         fixtures:\n  read: {action: tool_call, tool: file_read}\n\
         tests:\n\
         \x20 - name: checks nothing\n    use: read\n    expect: {}\n\
         \x20 - name: an allow has no deny message\n    use: read\n    expect: {decision: allow, messages: [no secrets]}\n\
         \x20 - name: these rules do not have this message\n    use: read\n    expect: {rules: [p.read], messages: [no secrets]}\n\
         \x20 - name: these rules have a message\n    use: read\n    request: {args: {path: x}}\n    expect: {rules: [p.secrets], messages: []}\n\
         \x20 - name: a warning with another message\n    use: read\n    expect: {warnings: [{rule: p.w, message: carefull}]}\n\
         \x20 - name: a rule without a message\n    request: {action: input}\n    expect: {rules: [p.quiet], messages: [no secrets]}\n\
         \x20 - name: fine\n    use: read\n    request: {args: {path: x}}\n    expect: {decision: deny, rules: [p.secrets], messages: [no secrets], warnings: [{rule: p.w, message: careful}]}\n",
    )
    .unwrap();
    let (text, code) = run_in(&dir, &["test", "a.test.yaml"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("result: 1 passed, 0 failed, 6 errors"),
        "{text}"
    );
    for at in [
        "[a.test.yaml:7:5]",
        "[a.test.yaml:10:42]",
        "[a.test.yaml:13:31]",
        "[a.test.yaml:17:34]",
        "[a.test.yaml:20:25]",
        "[a.test.yaml:23:32]",
    ] {
        assert!(text.contains(at), "missing {at} in\n{text}");
    }
}

/// YAML allows a byte order mark at the start of a file; some editors write one.
#[test]
fn a_suite_with_a_byte_order_mark_runs() {
    let dir = scratch("bom");
    std::fs::write(
        dir.join("p.gov"),
        "policy p {\n  rule a: allow when action == \"input\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("a.test.yaml"),
        "\u{feff}bundle: p.gov\ntests:\n  - name: a\n    request: {action: input}\n    expect: allow\n",
    )
    .unwrap();
    let (text, code) = run_in(&dir, &["test", "a.test.yaml"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("result: 1 passed, 0 failed"), "{text}");
}

#[test]
fn nothing_to_run_is_an_error() {
    let (text, code) = run(&["test", "testdata/examples"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("no `*.test.yaml` suites found in testdata/examples"),
        "{text}"
    );
    let (text, code) = run(&["test", "testdata/suites/brief.test.yaml", "--filter", "zzz"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no case name contains `zzz`"), "{text}");
    let (text, code) = run(&[
        "test",
        "testdata/suites/brief.test.yaml",
        "--min-coverage",
        "101",
    ]);
    assert_eq!(code, 2, "{text}");
}

#[test]
fn policies_that_do_not_compile_are_errors() {
    let dir = scratch("broken_policy");
    std::fs::write(
        dir.join("p.gov"),
        "policy p {\n  rule r: allow when tool ==\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p.test.yaml"),
        "bundle: p.gov\ntests:\n  - name: a\n    request: {tool: x}\n    expect: allow\n",
    )
    .unwrap();
    let (text, code) = run_in(&dir, &["test", "."]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("cannot run: the bundle `p.gov` cannot be used"),
        "{text}"
    );
    assert!(text.contains("[p.gov:3:1]"), "{text}");
}

const TRACE: &str = r#"{"ts":"2026-11-23T10:00:00Z","session":"s-1","agent":{"id":"a1","roles":["finance"],"trust":700},"action":"tool_call","tool":"web_search","args":{"query":"fx"},"decision":"allow"}
{"ts":"2026-11-23T10:00:01Z","session":"s-2","agent":{"id":"a2","roles":["finance"],"trust":700},"action":"tool_call","tool":"transfer_funds","args":{"amount":1500,"to":"ACME","currency":"EUR"}}
{"ts":"2026-11-23T10:00:02Z","session":"s-1","agent":{"id":"a1","roles":["finance"],"trust":700},"action":"tool_call","tool":"transfer_funds","args":{"amount":900,"to":"ACME","currency":"EUR"}}
{"ts":"2026-11-23T10:00:03Z","session":"s-2","agent":{"id":"a2","roles":["finance"],"trust":700},"action":"tool_call","tool":"file_read","args":{"path":"/srv/app/.env"}}
"#;

#[test]
fn record_round_trip() {
    let dir = scratch("record");
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::create_dir_all(dir.join("regress")).unwrap();
    let policy =
        std::fs::read_to_string(Path::new(ROOT).join("testdata/examples/brief.gov")).unwrap();
    std::fs::write(dir.join("policies/brief.gov"), &policy).unwrap();
    std::fs::write(dir.join("trace.jsonl"), TRACE).unwrap();

    let (text, code) = run_in(
        &dir,
        &[
            "test",
            "--record",
            "trace.jsonl",
            "--policy",
            "policies",
            "-o",
            "regress/golden.test.yaml",
        ],
    );
    assert_eq!(code, 0, "{text}");
    snap!("testcmd_record", redact(&text));
    let suite = std::fs::read_to_string(dir.join("regress/golden.test.yaml")).unwrap();
    snap!("testcmd_record_suite", redact(&suite));

    // Today's decisions pass.
    let (text, code) = run_in(&dir, &["test", "regress"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("result: 2 passed, 0 failed"), "{text}");

    // Raise the approval line: exactly the session with the 1500 payment changes.
    std::fs::write(
        dir.join("policies/brief.gov"),
        policy
            .replace("args.amount <= 1000", "args.amount <= 2000")
            .replace("args.amount > 1000", "args.amount > 2000"),
    )
    .unwrap();
    let (text, code) = run_in(&dir, &["test", "regress"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("result: 1 passed, 1 failed"), "{text}");
    snap!("testcmd_record_changed", text);
}

#[test]
fn record_refuses_bad_traces_and_writes_nothing() {
    let dir = scratch("record_bad");
    std::fs::write(
        dir.join("trace.jsonl"),
        "{\"action\":\"tool_call\"}\nnot json\n",
    )
    .unwrap();
    let (text, code) = run_in(
        &dir,
        &[
            "test",
            "--record",
            "trace.jsonl",
            "--policy",
            &format!("{ROOT}/testdata/examples/brief.gov"),
            "-o",
            "out.test.yaml",
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("trace.jsonl:2:"), "{text}");
    assert!(!dir.join("out.test.yaml").exists());
}

/// `--record` reads traces as `simulate` and `eval` do: gzip by its bytes, the format detected
/// (or given with `--input-format`), OTLP spans and MCP messages turned into events.
#[test]
fn record_reads_every_trace_format() {
    use std::io::Write;
    let dir = scratch("record_formats");
    let policy = format!("{ROOT}/testdata/examples/brief.gov");
    std::fs::write(dir.join("trace.jsonl"), TRACE).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(TRACE.as_bytes()).unwrap();
    std::fs::write(dir.join("trace.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let record = |trace: &str, out: &str, extra: &[&str]| {
        let mut args = vec!["test", "--record", trace, "--policy", &policy, "-o", out];
        args.extend_from_slice(extra);
        run_in(&dir, &args)
    };

    // The gzipped trace records the same suite as the plain one.
    let (text, code) = record("trace.jsonl", "plain.test.yaml", &[]);
    assert_eq!(code, 0, "{text}");
    let (text, code) = record("trace.jsonl.gz", "gz.test.yaml", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("4 decisions"), "{text}");
    let plain = std::fs::read_to_string(dir.join("plain.test.yaml")).unwrap();
    let gz = std::fs::read_to_string(dir.join("gz.test.yaml")).unwrap();
    assert_eq!(gz.replace("trace.jsonl.gz", "trace.jsonl"), plain);

    // OTLP spans and MCP messages: the events govern derives, as many as `eval` decides.
    for (trace, format) in [
        ("testdata/traces/otel-genai.jsonl", "otel"),
        ("testdata/traces/otel-genai-pretty.json", "otel"),
        ("testdata/traces/mcp-client.jsonl", "mcp"),
    ] {
        let trace = format!("{ROOT}/{trace}");
        let (eval, code) = run_in(&dir, &["eval", "--policy", &policy, &trace]);
        assert_eq!(code, 0, "{eval}");
        let decided = eval.lines().filter(|l| l.starts_with('{')).count();
        assert!(decided > 0, "{eval}");
        for extra in [&[][..], &["--input-format", format][..]] {
            let (text, code) = record(&trace, "derived.test.yaml", extra);
            assert_eq!(code, 0, "{text}");
            assert!(
                text.contains(&format!("{decided} decisions")),
                "{trace} {extra:?}: {text}"
            );
            let suite = std::fs::read_to_string(dir.join("derived.test.yaml")).unwrap();
            assert!(
                !suite.contains("resourceSpans") && !suite.contains("jsonrpc"),
                "{suite}"
            );
            let (text, code) = run_in(&dir, &["test", "derived.test.yaml"]);
            assert_eq!(code, 0, "{text}");
        }
    }

    // Events read as MCP messages are not MCP messages: each line is reported, nothing is
    // recorded.
    let (text, code) = record("trace.jsonl", "none.test.yaml", &["--input-format", "mcp"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("trace.jsonl:4: not an MCP JSON-RPC message"),
        "{text}"
    );
    assert!(!dir.join("none.test.yaml").exists());

    // A gzip stream cut short is an error naming the file; nothing is written.
    let whole = std::fs::read(dir.join("trace.jsonl.gz")).unwrap();
    std::fs::write(dir.join("cut.jsonl.gz"), &whole[..whole.len() / 2]).unwrap();
    let (text, code) = record("cut.jsonl.gz", "cut.test.yaml", &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cut.jsonl.gz"), "{text}");
    assert!(!dir.join("cut.test.yaml").exists());
}

#[test]
fn the_policy_library_passes_with_full_rule_coverage() {
    let (text, code) = run(&["test", "policies", "--min-coverage", "100"]);
    assert_eq!(code, 0, "{text}");
    for risk in 1..=10 {
        let tag = format!("ASI-{risk:02}");
        let file = std::fs::read_dir(Path::new(ROOT).join("policies"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.extension().is_some_and(|e| e == "gov")
                    && std::fs::read_to_string(p)
                        .unwrap()
                        .contains(&format!("@tag(\"{tag}\")"))
            })
            .unwrap_or_else(|| panic!("no policy tagged {tag}"));
        let suite = file.with_extension("test.yaml");
        assert!(suite.exists(), "{} has no suite", file.display());
    }
    snap!("testcmd_library", text);
}

#[test]
fn suite_schema_matches_the_fields_govern_accepts() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("docs/schemas/test-suite.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    // The fields serde names when it refuses an unknown one.
    let accepted = |yaml: &str| -> Vec<String> {
        let dir = scratch("schema");
        std::fs::write(dir.join("s.test.yaml"), yaml).unwrap();
        let (text, _) = run_in(&dir, &["test", "s.test.yaml"]);
        let list = text
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("{text}"))
            .lines()
            .next()
            .unwrap()
            .to_string();
        let mut k: Vec<String> = regex::Regex::new(r"`([a-z_]+)`")
            .unwrap()
            .captures_iter(&list)
            .map(|c| c[1].to_string())
            .collect();
        k.sort();
        k
    };
    let defs = &schema["$defs"];
    assert_eq!(keys(&schema), accepted("bundle: p\nzzz: 1\ntests: []\n"));
    assert_eq!(
        keys(&defs["case"]),
        accepted("bundle: p\ntests:\n  - {name: a, zzz: 1}\n")
    );
    assert_eq!(
        keys(&defs["step"]),
        accepted("bundle: p\ntests:\n  - {name: a, stream: [{zzz: 1}]}\n")
    );
    assert_eq!(
        keys(&defs["expectOne"]["oneOf"][1]),
        accepted("bundle: p\ntests:\n  - {name: a, expect: {zzz: 1}}\n")
    );
    // The docs point at the schema.
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/testing.md")).unwrap();
    assert!(doc.contains("schemas/test-suite.schema.json"));
}

#[test]
fn watch_reruns_the_suites_a_change_affects() {
    let dir = scratch("watch");
    let policy =
        std::fs::read_to_string(Path::new(ROOT).join("testdata/examples/brief.gov")).unwrap();
    std::fs::write(dir.join("brief.gov"), &policy).unwrap();
    std::fs::write(
        dir.join("a.test.yaml"),
        "bundle: brief.gov\ntests:\n  - name: big payments escalate\n    request: {agent: {id: a, roles: [finance], trust: 700}, action: tool_call, tool: transfer_funds, args: {amount: 1500, to: x, currency: EUR}}\n    expect: escalate\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(["test", ".", "--watch"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |want: &str| -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                let done = line.contains(want);
                seen.push(line);
                if done {
                    return seen;
                }
            }
        }
        panic!("no `{want}` within a minute; saw {seen:?}");
    };
    let first = wait_for("watching for changes");
    assert!(
        first.iter().any(|l| l == "result: 1 passed, 0 failed"),
        "{first:?}"
    );
    // Raise the approval line: the suite that uses this policy runs again and now fails.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        dir.join("brief.gov"),
        policy
            .replace("args.amount <= 1000", "args.amount <= 2000")
            .replace("args.amount > 1000", "args.amount > 2000"),
    )
    .unwrap();
    let second = wait_for("watching for changes");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        second
            .iter()
            .any(|l| l.starts_with("changed: ") && l.contains("brief.gov")),
        "{second:?}"
    );
    assert!(
        second.iter().any(|l| l == "result: 0 passed, 1 failed"),
        "{second:?}"
    );
}

#[test]
fn a_red_team_suite_reports_attacks_blocked_and_benign_allowed_per_variant() {
    let suite = "testdata/suites/redteam.test.yaml";
    // Without a gate, the attack that gets through is a failing case.
    let (text, code) = run(&["test", suite]);
    assert_eq!(code, 1, "{text}");
    snap!("testcmd_redteam", text);
    // With --min-blocked, it is counted: 4 of 5 attacks is 80%.
    let (text, code) = run(&["test", suite, "--min-blocked", "80"]);
    assert_eq!(code, 0, "{text}");
    snap!("testcmd_redteam_gate", text);
    let (text, code) = run(&["test", suite, "--min-blocked", "81"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("fewer than 81% of the attacks were blocked"),
        "{text}"
    );
    let (text, code) = run(&["test", suite, "--min-blocked", "90", "--format", "json"]);
    assert_eq!(code, 1);
    let body = text.split("--- stdout\n").nth(1).unwrap();
    let body = body.split("--- stderr").next().unwrap();
    let doc: serde_json::Value = serde_json::from_str(body).unwrap();
    let rt = &doc["redteam"];
    assert_eq!(rt["ok"], false);
    assert_eq!(rt["variants"][1]["variant"], "privileged");
    assert_eq!(rt["variants"][1]["attacks"], 5);
    assert_eq!(rt["variants"][1]["blocked"], 4);
    assert_eq!(rt["variants"][1]["benign"], 2);
    assert_eq!(rt["variants"][1]["allowed"], 2);
    assert_eq!(rt["attacks_allowed"].as_array().unwrap().len(), 2);
    let case = &doc["suites"][0]["cases"][0];
    assert_eq!(case["kind"], "attack");
    assert_eq!(case["variant"], "as_written");
    // JUnit: the counted attacks are skipped, not failed.
    let (text, code) = run(&["test", suite, "--min-blocked", "80", "--format", "junit"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("skipped=\"2\""), "{text}");
    assert!(text.contains("failures=\"0\""), "{text}");
}

#[test]
fn a_benign_case_that_is_refused_fails_even_under_the_gate() {
    let dir = scratch("redteam_fp");
    let policy =
        std::fs::read_to_string(Path::new(ROOT).join("testdata/examples/brief.gov")).unwrap();
    std::fs::write(dir.join("brief.gov"), &policy).unwrap();
    std::fs::write(
        dir.join("fp.test.yaml"),
        "bundle: brief.gov\nkind: benign\nvariants: {plain: {}, low_trust: {agent: {trust: 100}}}\ntests:\n  - name: reading a report\n    request: {agent: {id: a, roles: [finance], trust: 700}, action: tool_call, tool: file_read, args: {path: /r.csv}}\n",
    )
    .unwrap();
    let (text, code) = run_in(&dir, &["test", "fp.test.yaml", "--min-blocked", "0"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("reading a report @low_trust"), "{text}");
    assert!(text.contains("0/1"), "{text}");
    // A variant that is not a mapping is refused with its line.
    std::fs::write(
        dir.join("bad.test.yaml"),
        "bundle: brief.gov\nvariants:\n  plain: 3\ntests:\n  - {name: a, kind: benign, request: {tool: x}}\n",
    )
    .unwrap();
    let (text, code) = run_in(&dir, &["test", "bad.test.yaml"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("variant `plain` is not a mapping"), "{text}");
    assert!(text.contains("bad.test.yaml:3"), "{text}");
}
