//! OpenTelemetry GenAI traces as real instrumentations write them, read by `simulate`.
//!
//! `testdata/traces/otel/` holds exports captured from three instrumentations, made by the
//! scripts in `tests/peers/otel/`:
//!
//! - `util-genai.jsonl`: the Python `opentelemetry-util-genai` handler (an in-process agent,
//!   model and tool calls, a remote agent), one span per export request as the SDK's
//!   SimpleSpanProcessor hands them to the OTLP JSON file exporter, with content capture on and
//!   an attribute length limit that cuts one tool call's arguments;
//! - `openai-agents.jsonl`: an OpenAI Agents SDK run (a handoff between two agents) through
//!   the OpenTelemetry `openai-agents-v2` instrumentation, batched;
//! - `js-sdk.jsonl`: what the JavaScript SDK's OTLP/HTTP exporter posts, one request per line.
//!
//! The tests on the fixtures say what `simulate` derives from them. The `live_*` tests capture
//! them again with the pinned packages (tests/peers/) and fail when what `simulate` derives
//! differs from what it derives from the fixtures; `GOVERN_BLESS=1 cargo test --test otel`
//! writes the new capture over them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

#[path = "peers/mod.rs"]
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const FIXTURES: &str = "testdata/traces/otel";
const POLICY: &str = "testdata/traces/otel/policy.gov";

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    fn text(&self) -> String {
        let digest = regex::Regex::new(r"sha256:[0-9a-f]{12}…").unwrap();
        digest
            .replace_all(
                &format!(
                    "status: {}\n--- stdout\n{}--- stderr\n{}",
                    self.code, self.stdout, self.stderr
                ),
                "sha256:<digest>…",
            )
            .into_owned()
    }
}

fn govern(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otel");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// What `simulate` made of a trace: the events as derived (`--dump-events`), each with its
/// decision, and the JSON report.
struct Derived {
    /// (event, decision line) pairs, in decision order.
    events: Vec<(Value, Value)>,
    report: Value,
}

fn derive(trace: &str) -> Derived {
    let name = Path::new(trace).file_name().unwrap().to_string_lossy();
    let dump = tmp(&format!("{name}.events.jsonl"));
    let r = govern(&[
        "simulate",
        "--policy",
        POLICY,
        "--format",
        "jsonl",
        "--dump-events",
        dump.to_str().unwrap(),
        trace,
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let decisions: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<Value> = std::fs::read_to_string(&dump)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events.len(),
        decisions.len(),
        "one dumped event per decision"
    );
    let r = govern(&["simulate", "--policy", POLICY, "--format", "json", trace]);
    assert_eq!(r.code, 0, "{}", r.text());
    Derived {
        events: events.into_iter().zip(decisions).collect(),
        report: serde_json::from_str(&r.stdout).unwrap(),
    }
}

/// The events with what differs from one capture to the next (times, trace ids standing in
/// for a session, positions) taken out, with their verdicts and the report's counts.
fn comparable(d: &Derived) -> Value {
    let trace_id = regex::Regex::new("^[0-9a-f]{32}$").unwrap();
    let events: Vec<Value> = d
        .events
        .iter()
        .map(|(ev, dec)| {
            let mut ev = ev.clone();
            let o = ev.as_object_mut().unwrap();
            o.remove("ts");
            if o["session"].as_str().is_some_and(|s| trace_id.is_match(s)) {
                o.insert("session".into(), json!("<trace id>"));
            }
            json!({
                "event": ev,
                "decision": dec["decision"],
                "rules": dec["rules"],
                "unknown": dec["unknown"],
                "args_truncated": dec.get("args_truncated"),
            })
        })
        .collect();
    json!({
        "events": events,
        "not_event_kinds": d.report["not_event_kinds"],
        "truncated_args": d.report["truncated_args"]["events"],
        "errors": d.report["errors"],
    })
}

fn actions(d: &Derived) -> Vec<String> {
    d.events
        .iter()
        .map(|(e, dec)| {
            format!(
                "{} {} {} {} -> {}",
                e["action"].as_str().unwrap(),
                e.get("tool")
                    .or(e.get("target"))
                    .and_then(Value::as_str)
                    .unwrap_or("-"),
                e["agent"]["id"].as_str().unwrap_or("-"),
                e["session"].as_str().unwrap_or("-"),
                dec["decision"].as_str().unwrap()
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The captured fixtures.

#[test]
fn util_genai_tool_spans_inherit_the_conversation_and_the_agent() {
    let d = derive(&fixture("util-genai.jsonl"));
    // The tool and model spans carry neither conversation nor agent: both come from the
    // `invoke_agent` span above them, written after them. The agent's own span is no
    // message; the remote call to `billing` is one, from `support`.
    assert_eq!(
        actions(&d),
        [
            "llm_call - support conv-7f3a -> allow",
            "tool_call file_read support conv-7f3a -> deny",
            "llm_call - support conv-7f3a -> allow",
            "tool_call file_read support conv-7f3a -> deny",
            "llm_call - support conv-7f3a -> allow",
            "tool_call web_search support conv-7f3a -> deny",
            "send_message billing support conv-7f3a -> allow",
            "llm_call - research conv-9b21 -> allow",
            "tool_call web_search research conv-9b21 -> deny",
        ]
    );
    assert_eq!(
        d.report["not_event_kinds"]["agent's own invoke_agent span"],
        2
    );
    // Every span is its own export request, on its own line, children first.
    let lines: Vec<u64> = d
        .events
        .iter()
        .map(|(_, dec)| dec["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7, 9, 10]);
    // The SDK cut the long search arguments: decided with `args` unknown, counted, not a bad
    // record.
    let (cut, dec) = &d.events[5];
    assert!(cut.get("args").is_none(), "{cut}");
    assert_eq!(dec["args_truncated"], true);
    assert_eq!(dec["unknown"], json!(["agent.trust", "args.query"]));
    assert_eq!(d.report["truncated_args"]["events"], 1);
    assert_eq!(d.report["errors"], 0);
    assert_eq!(d.events[1].0["args"], json!({"path": "/srv/kb/faq.md"}));
}

#[test]
fn openai_agents_spans_are_read_with_the_agent_of_each_step() {
    let d = derive(&fixture("openai-agents.jsonl"));
    // The instrumentation writes `gen_ai.agent.id` = "agent" and `gen_ai.agent.name` =
    // "OpenAI Agent" on every span unless configured, and the agent's real name only on its
    // `invoke_agent` span: `agent.id` is what it wrote, `agent.name` the enclosing agent's.
    let agents: Vec<(String, String, String)> = d
        .events
        .iter()
        .map(|(e, _)| {
            (
                e["action"].as_str().unwrap().to_string(),
                e.get("tool")
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_string(),
                e["agent"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let agents: Vec<(&str, &str, &str)> = agents
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        agents,
        [
            ("llm_call", "-", "support"),
            ("tool_call", "file_read", "support"),
            ("llm_call", "-", "support"),
            ("llm_call", "-", "billing"),
            ("tool_call", "transfer_funds", "billing"),
            ("llm_call", "-", "billing"),
        ]
    );
    for (e, _) in &d.events {
        assert_eq!(e["agent"]["id"], "agent");
        // No conversation id is written: the trace is the session.
        assert!(e["session"].as_str().unwrap().len() == 32, "{e}");
    }
    assert_eq!(
        d.events[4].0["args"],
        json!({"amount": 20, "to": "ACME GmbH", "currency": "EUR"})
    );
    // The workflow's root and each agent's own span are no messages.
    assert_eq!(
        d.report["not_event_kinds"]["agent's own invoke_agent span"],
        3
    );
    assert_eq!(d.report["errors"], 0);
}

#[test]
fn js_sdk_export_requests_are_read() {
    let d = derive(&fixture("js-sdk.jsonl"));
    assert_eq!(
        actions(&d),
        [
            "llm_call - research-js conv-js-31 -> allow",
            "tool_call web_search research-js conv-js-31 -> deny",
            "tool_call http_request research-js conv-js-31 -> deny",
            "send_message summarizer research-js conv-js-31 -> allow",
        ]
    );
    // The exporter writes integers as JSON numbers, and cut the long URL.
    assert_eq!(d.events[0].0["tokens"], 688);
    assert_eq!(d.events[1].0["args"], json!({"query": "agent sandboxing"}));
    assert_eq!(d.events[2].1["args_truncated"], true);
    assert!(d.events[2].0.get("args").is_none());
    assert_eq!(d.report["truncated_args"]["events"], 1);
}

#[test]
fn the_report_says_which_attributes_were_unknown_and_what_they_decided() {
    // No instrumentation sets `govern.agent.trust`: every tool call falls to the default,
    // and the report says so instead of leaving the deny rate to guesswork.
    let r = govern(&["simulate", "--policy", POLICY, &fixture("util-genai.jsonl")]);
    assert_eq!(r.code, 0, "{}", r.text());
    snap!("otel_util_genai_report", r.text());
    let d = derive(&fixture("util-genai.jsonl"));
    let u = &d.report["unknown"];
    assert_eq!(u["decided"]["deny"], 3);
    let trust = &u["attributes"][0];
    assert_eq!(trust["attribute"], "agent.trust");
    assert_eq!(
        (
            &trust["decisions"],
            &trust["absent"],
            &trust["present"],
            &trust["decided"]
        ),
        (&json!(4), &json!(4), &json!(0), &json!(2))
    );
}

#[test]
fn dumped_events_decide_as_the_spans_did() {
    // `--dump-events` writes what the policy saw: read back as JSONL, the same decisions.
    for name in ["util-genai.jsonl", "openai-agents.jsonl", "js-sdk.jsonl"] {
        let d = derive(&fixture(name));
        let dump = tmp(&format!("{name}.events.jsonl"));
        let again = derive(dump.to_str().unwrap());
        assert_eq!(d.events.len(), again.events.len(), "{name}");
        for ((e1, d1), (e2, d2)) in d.events.iter().zip(&again.events) {
            assert_eq!(e1, e2, "{name}");
            for k in ["decision", "rules", "unknown"] {
                assert_eq!(d1[k], d2[k], "{name}: {e1}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Live captures with the pinned instrumentations.

fn python_capture(script: &str, out: &Path, env: &[(&str, &str)]) {
    let python = peers::python();
    let _ = std::fs::remove_file(out);
    let run = Command::new(&python)
        .arg(Path::new(ROOT).join("tests/peers/otel").join(script))
        .arg(out)
        .envs(env.iter().copied())
        // Nothing leaves the machine: the Agents SDK's own trace export needs a key.
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

fn js_capture(out: &Path) {
    let dir = peers::node_dir();
    let script = dir.join("js_sdk.mjs");
    std::fs::copy(Path::new(ROOT).join("tests/peers/otel/js_sdk.mjs"), &script).unwrap();
    let run = Command::new("node")
        .arg(&script)
        .arg(out)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "js_sdk.mjs failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Compares a live capture with its fixture (or, with GOVERN_BLESS, replaces the fixture).
fn compare_live(live: &Path, name: &str) {
    let fixed = Path::new(ROOT).join(FIXTURES).join(name);
    if std::env::var_os("GOVERN_BLESS").is_some() {
        std::fs::copy(live, &fixed).unwrap();
    }
    let live = comparable(&derive(live.to_str().unwrap()));
    let fixed = comparable(&derive(&fixture(name)));
    assert_eq!(
        serde_json::to_string_pretty(&live).unwrap(),
        serde_json::to_string_pretty(&fixed).unwrap(),
        "a live capture is no longer read as the fixture {name} is: re-capture with \
         `GOVERN_BLESS=1 cargo test --test otel` and look at the difference"
    );
}

#[test]
fn live_util_genai_reads_like_the_fixture() {
    if peers::skipped("capturing spans with opentelemetry-util-genai") {
        return;
    }
    let out = tmp("live-util-genai.jsonl");
    python_capture(
        "util_genai.py",
        &out,
        &[
            (
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                "SPAN_ONLY",
            ),
            (
                "OTEL_SEMCONV_STABILITY_OPT_IN",
                "gen_ai_latest_experimental",
            ),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "200"),
        ],
    );
    compare_live(&out, "util-genai.jsonl");
}

#[test]
fn live_openai_agents_reads_like_the_fixture() {
    if peers::skipped("capturing spans with the openai-agents instrumentation") {
        return;
    }
    let out = tmp("live-openai-agents.jsonl");
    python_capture(
        "openai_agents.py",
        &out,
        &[(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "span_only",
        )],
    );
    compare_live(&out, "openai-agents.jsonl");
}

#[test]
fn live_js_sdk_reads_like_the_fixture() {
    if peers::skipped("capturing spans with the OpenTelemetry JavaScript SDK") {
        return;
    }
    let out = tmp("live-js-sdk.jsonl");
    js_capture(&out);
    compare_live(&out, "js-sdk.jsonl");
}

#[test]
fn dump_events_says_when_it_cannot_write_and_keeps_what_was_decided() {
    let r = govern(&[
        "simulate",
        "--policy",
        POLICY,
        "--dump-events",
        // A folder cannot be made under a file, so this cannot be written.
        "Cargo.toml/events.jsonl",
        &fixture("js-sdk.jsonl"),
    ]);
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(
        r.stderr.contains("cannot write Cargo.toml/events.jsonl"),
        "{}",
        r.text()
    );
    // A run stopped by a bad record: the dump holds the events decided before it.
    let trace = tmp("stops.jsonl");
    std::fs::write(
        &trace,
        "{\"action\":\"llm_call\"}\n{\"action\":\"tool_call\",\"tool\":\"file_read\"}\nnot json\n{}\n",
    )
    .unwrap();
    let dump = tmp("stops.events.jsonl");
    let _ = std::fs::remove_file(&dump);
    let r = govern(&[
        "simulate",
        "--policy",
        POLICY,
        "--dump-events",
        dump.to_str().unwrap(),
        trace.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.text());
    assert_eq!(
        std::fs::read_to_string(&dump).unwrap(),
        "{\"action\":\"llm_call\"}\n{\"action\":\"tool_call\",\"tool\":\"file_read\"}\n"
    );
}
