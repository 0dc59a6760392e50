//! `govern simulate` end to end: reports, flips, gates and exit codes, input formats, bad
//! records, determinism across `--jobs`, and bounded memory on a large generated trace.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const POLICY: &str = "testdata/simulate/policy";
const BASELINE: &str = "testdata/simulate/baseline";
const SAMPLE: &str = "testdata/traces/sample.jsonl";

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    /// A printable record with bundle digests redacted (they change with the compiler).
    fn text(&self) -> String {
        redact(&format!(
            "status: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        ))
    }
}

fn redact(s: &str) -> String {
    let full = regex::Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let short = regex::Regex::new(r"sha256:[0-9a-f]{12}…").unwrap();
    let s = full.replace_all(s, "sha256:<digest>");
    short.replace_all(&s, "sha256:<digest>…").into_owned()
}

/// Runs `govern args…` from the repository root, feeding `stdin` from another thread.
fn govern(args: &[&str], stdin: Option<Vec<u8>>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        if let Some(bytes) = stdin {
            let _ = input.write_all(&bytes);
        }
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn simulate(extra: &[&str]) -> Run {
    let mut args = vec!["simulate"];
    args.extend_from_slice(extra);
    govern(&args, None)
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("simulate");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn text_report_with_recorded_decisions_and_a_baseline() {
    let r = simulate(&["--policy", POLICY, "--baseline", BASELINE, SAMPLE]);
    assert_eq!(r.code, 0, "{}", r.text());
    snap!("simulate_text_report", r.text());
}

#[test]
fn json_report_adds_up() {
    let r = simulate(&[
        "--policy",
        POLICY,
        "--baseline",
        BASELINE,
        "--format",
        "json",
        SAMPLE,
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    snap!("simulate_json_report", r.text());
    let v = json(&r.stdout);
    let events = v["events"].as_u64().unwrap();
    let verdicts = &v["verdicts"];
    let sum: u64 = ["allow", "deny", "escalate"]
        .iter()
        .map(|k| verdicts[*k].as_u64().unwrap())
        .sum();
    assert_eq!(events, sum);
    assert_eq!(
        events,
        std::fs::read_to_string(format!("{ROOT}/{SAMPLE}"))
            .unwrap()
            .lines()
            .count() as u64
    );
    let by_tool: u64 = v["by_tool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["events"].as_u64().unwrap())
        .sum();
    assert_eq!(by_tool, events);
    // Every flip is counted once per transition, and the groups cover them all.
    for key in ["recorded", "baseline"] {
        let c = &v[key];
        let flipped = c["flipped"].as_u64().unwrap();
        let from_transitions: u64 = c["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["from"] != t["to"])
            .map(|t| t["events"].as_u64().unwrap())
            .sum();
        assert_eq!(flipped, from_transitions, "{key}");
        assert_eq!(
            c["compared"].as_u64().unwrap(),
            c["agree"].as_u64().unwrap() + flipped
        );
        let grouped: u64 = c["flips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["events"].as_u64().unwrap())
            .sum();
        assert!(grouped >= flipped, "{key}");
    }
    // The burst trips the rate rule: 24 of its 34 searches flip from allow to deny.
    let rate = v["baseline"]["flips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["rule"] == "guard.search_rate")
        .unwrap();
    assert_eq!(rate["from"], "allow");
    assert_eq!(rate["to"], "deny");
    assert_eq!(rate["events"], 24);
    assert_eq!(rate["examples"][0]["file"], SAMPLE);
    assert_eq!(rate["examples"][0]["agent"], "res-7");
}

#[test]
fn gates_and_exit_codes() {
    let base = ["--policy", POLICY, "--baseline", BASELINE, SAMPLE];
    let with = |gates: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(gates);
        a.extend_from_slice(&["--format", "json"]);
        simulate(&a)
    };
    // The status-page rule newly allows one event.
    let r = with(&["--fail-on", "new-allow"]);
    assert_eq!(r.code, 1, "{}", r.text());
    let v = json(&r.stdout);
    assert_eq!(v["gates"][0]["gate"], "new-allow");
    assert_eq!(v["gates"][0]["passed"], false);
    let r = with(&["--fail-on", "any-flip"]);
    assert_eq!(r.code, 1);
    let r = with(&["--fail-on", "deny-rate>60%"]);
    assert_eq!(r.code, 0, "{}", r.text());
    let r = with(&["--fail-on", "deny-rate>0.1"]);
    assert_eq!(r.code, 1);
    let r = with(&["--fail-on", "deny-rate>0.9,any-flip"]);
    assert_eq!(r.code, 1);
    assert_eq!(json(&r.stdout)["gates"].as_array().unwrap().len(), 2);
    // Text output shows the gates.
    let r = simulate(&[
        "--policy",
        POLICY,
        SAMPLE,
        "--fail-on",
        "new-allow",
        "--fail-on",
        "deny-rate>90%",
    ]);
    assert_eq!(r.code, 1);
    snap!(
        "simulate_gates_text",
        r.text()
            .split("\ngates\n")
            .nth(1)
            .unwrap_or("no gates section")
            .to_string()
    );
    // A comparison gate with nothing to compare with is a usage error.
    let r = simulate(&[
        "--policy",
        POLICY,
        "testdata/traces/mcp-client.jsonl",
        "--fail-on",
        "new-allow",
    ]);
    assert_eq!(r.code, 2);
    snap!("simulate_gate_without_comparison", r.text());
    // A malformed gate is refused by the argument parser.
    let r = simulate(&["--policy", POLICY, SAMPLE, "--fail-on", "deny-rate>2"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not a rate"), "{}", r.stderr);
}

#[test]
fn jsonl_output_is_one_decision_per_event_with_its_source() {
    let r = simulate(&[
        "--policy",
        POLICY,
        "--baseline",
        BASELINE,
        "--format",
        "jsonl",
        SAMPLE,
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 66);
    for (i, l) in lines.iter().enumerate() {
        let v = json(l);
        assert_eq!(v["file"], SAMPLE);
        assert_eq!(v["line"], i as u64 + 1);
        assert!(v["baseline"].is_string());
        assert!(v["bundle"].as_str().unwrap().starts_with("sha256:"));
    }
    snap!("simulate_jsonl", redact(&lines[..12].join("\n")));
}

#[test]
fn gzip_and_stdin_read_the_same_events() {
    let plain = simulate(&["--policy", POLICY, "--format", "json", SAMPLE]);
    assert_eq!(plain.code, 0);
    let bytes = std::fs::read(format!("{ROOT}/{SAMPLE}")).unwrap();
    let gz = tmp("sample.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&bytes).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let gz_name = gz.to_str().unwrap();
    let zipped = simulate(&["--policy", POLICY, "--format", "json", gz_name]);
    assert_eq!(zipped.code, 0, "{}", zipped.text());
    assert_eq!(zipped.stdout.replace(gz_name, SAMPLE), plain.stdout);
    // Standard input, plain and gzipped.
    let piped = govern(
        &["simulate", "--policy", POLICY, "--format", "json", "-"],
        Some(bytes),
    );
    assert_eq!(piped.code, 0, "{}", piped.text());
    assert_eq!(piped.stdout.replace("<stdin>", SAMPLE), plain.stdout);
    let piped_gz = govern(
        &["simulate", "--policy", POLICY, "--format", "json", "-"],
        Some(std::fs::read(&gz).unwrap()),
    );
    assert_eq!(piped_gz.stdout, piped.stdout);
}

#[test]
fn otel_and_mcp_inputs_are_detected_and_read() {
    // A directory: every format, auto-detected, each file its own stream.
    let r = simulate(&["--policy", POLICY, "testdata/traces"]);
    assert_eq!(r.code, 0, "{}", r.text());
    snap!("simulate_all_formats", r.text());
    // OTLP spans keep their line and column; a pretty-printed document too.
    let r = simulate(&[
        "--policy",
        POLICY,
        "--input-format",
        "otel",
        "--format",
        "jsonl",
        "testdata/traces/otel-genai-pretty.json",
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let lines: Vec<serde_json::Value> = r.stdout.lines().map(json).collect();
    assert_eq!(lines.len(), 12);
    assert!(lines.iter().all(|v| v["line"].as_u64().unwrap() > 1));
    assert!(lines.iter().all(|v| v["column"].as_u64().unwrap() > 1));
    snap!("simulate_otel_jsonl", redact(&r.stdout));
    // MCP: calls and results, with the recorded decisions of the gateway.
    let r = simulate(&[
        "--policy",
        POLICY,
        "--input-format",
        "mcp",
        "--format",
        "json",
        "testdata/traces/mcp-gateway.jsonl",
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v = json(&r.stdout);
    assert_eq!(v["inputs"][0]["format"], "mcp");
    assert_eq!(v["not_events"], 10);
    assert!(v["recorded"]["compared"].as_u64().unwrap() > 0);
    // The client log: the result that carries a key is denied.
    let r = simulate(&[
        "--policy",
        POLICY,
        "--format",
        "jsonl",
        "testdata/traces/mcp-client.jsonl",
    ]);
    snap!("simulate_mcp_client_jsonl", redact(&r.stdout));
    // The wrong format is an error at the first record, not an empty report.
    let r = simulate(&["--policy", POLICY, "--input-format", "mcp", SAMPLE]);
    assert_eq!(r.code, 2);
    snap!("simulate_wrong_format", r.text());
    let r = simulate(&["--policy", POLICY, "--input-format", "otel", SAMPLE]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no `resourceSpans`"), "{}", r.stderr);
}

#[test]
fn bad_records_stop_the_run_unless_skipped() {
    let bad = "testdata/simulate/bad.jsonl";
    let r = simulate(&["--policy", POLICY, bad]);
    assert_eq!(r.code, 2);
    snap!("simulate_bad_line_stops", r.text());
    let r = simulate(&["--policy", POLICY, "--max-errors", "1", bad]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("bad.jsonl:5"), "{}", r.stderr);
    assert!(r.stderr.contains("skipped bad record 1 of at most 1"));
    let r = simulate(&["--policy", POLICY, "--max-errors", "2", bad]);
    assert_eq!(r.code, 0, "{}", r.text());
    snap!("simulate_bad_lines_skipped", r.text());
    let r = simulate(&[
        "--policy",
        POLICY,
        "--max-errors",
        "5",
        "--format",
        "json",
        bad,
    ]);
    let v = json(&r.stdout);
    assert_eq!(v["errors"], 2);
    assert_eq!(v["events"], 6);
    assert_eq!(v["error_list"][0]["line"], 3);
    assert_eq!(v["error_list"][1]["line"], 5);
}

#[test]
fn inputs_that_cannot_be_read() {
    let r = simulate(&["--policy", POLICY, "testdata/traces/nope.jsonl"]);
    assert_eq!(r.code, 2);
    snap!("simulate_missing_trace", r.text());
    let empty = tmp("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    let r = simulate(&["--policy", POLICY, empty.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no events in the traces"), "{}", r.stderr);
    let r = simulate(&["--policy", POLICY, "-", "-"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("standard input is named twice"));
}

fn generated(events: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    govern::trace::generator::write_trace(
        &govern::trace::generator::GenOptions {
            events,
            seed,
            ..Default::default()
        },
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn output_does_not_depend_on_jobs() {
    let a = tmp("gen-a.jsonl");
    let b = tmp("gen-b.jsonl.gz");
    std::fs::write(&a, generated(30_000, 1)).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&generated(20_000, 2)).unwrap();
    std::fs::write(&b, enc.finish().unwrap()).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    for format in ["jsonl", "json"] {
        let run = |jobs: &str| {
            let r = simulate(&[
                "--policy",
                POLICY,
                "--baseline",
                BASELINE,
                "--format",
                format,
                "--jobs",
                jobs,
                a,
                b,
            ]);
            assert_eq!(r.code, 0, "{}", r.text());
            r.stdout
        };
        let one = run("1");
        let four = run("4");
        assert!(one.len() > 1000);
        assert!(
            one == four,
            "--jobs 1 and --jobs 4 differ for --format {format}"
        );
    }
}

#[test]
fn memory_stays_bounded_on_a_large_trace() {
    // About 100 MB of events through standard input: peak memory must not follow the input.
    let trace = generated(400_000, 3);
    assert!(trace.len() > 90_000_000);
    let r = govern(
        &[
            "simulate", "--policy", POLICY, "--format", "json", "--stats", "--jobs", "2", "-",
        ],
        Some(trace),
    );
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(json(&r.stdout)["events"], 400_000);
    let stats = r.stderr.lines().find(|l| l.starts_with("stats:")).unwrap();
    let mb: f64 = regex::Regex::new(r"peak memory ([0-9.]+) MB")
        .unwrap()
        .captures(stats)
        .unwrap_or_else(|| panic!("{stats}"))[1]
        .parse()
        .unwrap();
    assert!(mb < 60.0, "{stats}");
    // State holds one rate window per agent (40 of them), not one per event or session.
    let keys: u64 = regex::Regex::new(r"at most ([0-9,]+) stream state keys")
        .unwrap()
        .captures(stats)
        .unwrap()[1]
        .replace(',', "")
        .parse()
        .unwrap();
    assert!(keys <= 40, "{stats}");
}

#[test]
fn a_truncated_gzip_trace_is_a_corrupt_input_at_the_line_it_breaks() {
    use std::io::Read;
    let trace = generated(20_000, 11);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&trace).unwrap();
    let mut gz = enc.finish().unwrap();
    gz.truncate(gz.len() / 2);
    // The lines that can be read whole before the stream breaks.
    let mut readable = Vec::new();
    let _ = flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut readable);
    let whole = readable.iter().filter(|&&b| b == b'\n').count();
    let path = tmp("truncated.jsonl.gz");
    std::fs::write(&path, &gz).unwrap();
    let name = path.to_str().unwrap();
    for jobs in ["1", "3"] {
        for max_errors in ["0", "10"] {
            let r = simulate(&[
                "--policy",
                POLICY,
                "--jobs",
                jobs,
                "--max-errors",
                max_errors,
                "--format",
                "jsonl",
                name,
            ]);
            assert_eq!(r.code, 2, "{}", r.text());
            // The part of a line before the break is not a bad record: the input is corrupt.
            assert!(!r.stderr.contains("skipped bad record"), "{}", r.stderr);
            assert!(
                r.stderr
                    .contains(&format!("{name}:{}: corrupt input", whole + 1)),
                "expected the break at line {}: {}",
                whole + 1,
                r.stderr
            );
            // Every whole line before it was decided.
            assert_eq!(r.stdout.lines().count(), whole, "jobs {jobs}");
        }
    }
}

#[test]
fn names_from_a_trace_cannot_write_to_the_terminal() {
    // A tool name that would erase the line, an agent name that reverses what follows it, and
    // a bad record whose text carries an escape sequence.
    let trace = concat!(
        r#"{"ts":"2026-01-01T00:00:00Z","action":"tool_call","tool":"x\u001b[2K\rall clear","agent":{"id":"evil\u202e"}}"#,
        "\n",
        "{\"oops\u{1b}[31m\n",
    );
    let r = govern(
        &["simulate", "--policy", POLICY, "--max-errors", "1", "-"],
        Some(trace.as_bytes().to_vec()),
    );
    assert_eq!(r.code, 0, "{}", r.text());
    for s in [&r.stdout, &r.stderr] {
        assert!(
            !s.contains(['\u{1b}', '\r', '\u{202e}']),
            "raw control or bidi character in {s:?}"
        );
    }
    assert!(r.stdout.contains(r"x\u{1b}[2K\rall clear"), "{}", r.stdout);
    assert!(r.stdout.contains(r"evil\u{202e}"), "{}", r.stdout);
}

/// With room for one key per count, the sample trace's six agents cannot all be held: the
/// report counts the refused records and the JSON report carries them.
#[test]
fn the_key_bound_is_reported() {
    let r = simulate(&[
        "--policy",
        POLICY,
        "--max-keys",
        "1",
        "testdata/traces/sample.jsonl",
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(
        r.stdout.contains("refused at --max-keys 1: keys the state could not hold were decided unknown (fail closed)"),
        "{}",
        r.text()
    );
    let r = simulate(&[
        "--policy",
        POLICY,
        "--max-keys",
        "1",
        "--format",
        "json",
        "testdata/traces/sample.jsonl",
    ]);
    let v = json(&r.stdout);
    assert_eq!(v["max_keys"], 1);
    assert!(v["refused"].as_u64().unwrap() > 0, "{}", r.text());
    assert_eq!(v["untimed"], 0);
}
