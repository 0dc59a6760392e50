//! MCP end to end: `govern mcp-import` (snapshots; a live server written with the official
//! Python SDK), and traces of real SDK sessions read by `simulate`.
//!
//! The traces in `testdata/mcp/sdk/` were captured from `tests/mcp/server.py` driven by
//! `tests/mcp/client.py` (the SDK's own client and server) through the recording relay
//! `tests/mcp/relay.py`, in the three protocol versions the SDK speaks: the `initialize`
//! handshake of 2025-06-18 and 2025-11-25, and the stateless 2026-07-28. `live_capture_*`
//! captures them again and fails when what `simulate` reads from them differs from the
//! fixtures; `GOVERN_BLESS=1 cargo test --test mcp` writes the new capture over them.
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

use govern::trace::{Input, InputFormat, TraceReader, for_each_record};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SDK_TRACES: &str = "testdata/mcp/sdk";
const POLICY: &str = "testdata/mcp/demo-bank.gov";
const TOOLS: &str = "testdata/mcp/demo-bank-tools.json";
/// The 2025-11-25 session as two one-direction logs.
const SPLIT: &str = "testdata/mcp/sdk-split";

/// The captured sessions: (protocol, session, agent).
const SESSIONS: [(&str, &str, &str); 3] = [
    ("2025-06-18", "handshake-2025-06-18", "finance-agent"),
    ("2025-11-25", "handshake-2025-11-25", "support-agent"),
    ("2026-07-28", "stateless-2026-07-28", "ops-agent"),
];

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
        format!(
            "status: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn govern(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
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
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The events `simulate` reads from an input, as JSON.
fn events(input: &Input) -> Vec<Value> {
    let mut r = TraceReader::open(input, InputFormat::Auto, None).unwrap();
    let mut out = Vec::new();
    for_each_record(&mut r, |rec, o| {
        match rec {
            Ok(t) => out.push(serde_json::from_str(t).unwrap()),
            Err(e) => panic!("{}:{}: {e}", input.name(), o.line),
        }
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    out
}

fn fixture(name: &str) -> PathBuf {
    Path::new(ROOT).join(SDK_TRACES).join(name)
}

fn split(name: &str) -> PathBuf {
    Path::new(ROOT).join(SPLIT).join(name)
}

// ---------------------------------------------------------------------------------------
// mcp-import

#[test]
fn mcp_import_declares_the_tools_of_a_list() {
    let r = govern(&["mcp-import", TOOLS]);
    assert_eq!(r.code, 0, "{}", r.text());
    snap!("mcp_import_declarations", r.text());
}

#[test]
fn mcp_import_skeleton_lints_and_formats_clean() {
    for (list, name) in [(TOOLS, "demo"), ("testdata/mcp/odd-tools.json", "odd")] {
        let out = tmp(&format!("{name}.gov"));
        let r = govern(&[
            "mcp-import",
            "--skeleton",
            list,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.text());
        assert_eq!(r.stdout, "", "the text goes to the file");
        let text = std::fs::read_to_string(&out).unwrap();
        snap!(format!("mcp_import_skeleton_{name}"), text);
        let lint = govern(&["lint", out.to_str().unwrap()]);
        assert_eq!(lint.code, 0, "{}", lint.text());
        assert!(lint.stdout.contains("no findings"), "{}", lint.text());
        let fmt = govern(&["fmt", "--check", out.to_str().unwrap()]);
        assert_eq!(fmt.code, 0, "{}", fmt.text());
        // Every tool is denied until a rule says otherwise.
        let ev = tmp(&format!("{name}-events.jsonl"));
        std::fs::write(
            &ev,
            "{\"action\":\"tool_call\",\"tool\":\"web_search\",\"args\":{\"query\":\"x\"}}\n{\"action\":\"tool_call\",\"tool\":\"create_issue\",\"args\":{}}\n",
        )
        .unwrap();
        let eval = govern(&[
            "eval",
            "--policy",
            out.to_str().unwrap(),
            ev.to_str().unwrap(),
        ]);
        assert_eq!(eval.code, 0, "{}", eval.text());
        assert!(
            eval.stdout
                .lines()
                .all(|l| l.starts_with("{\"decision\":\"deny\"")),
            "{}",
            eval.text()
        );
    }
}

#[test]
fn mcp_import_reports_what_the_language_cannot_express() {
    let r = govern(&["mcp-import", "testdata/mcp/odd-tools.json"]);
    assert_eq!(r.code, 0, "{}", r.text());
    snap!("mcp_import_odd_tools", r.text());
    let r = govern(&[
        "mcp-import",
        "--format",
        "json",
        "testdata/mcp/odd-tools.json",
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["notes"].as_array().unwrap().len(), 5);
    assert_eq!(
        v["tools"][0]["arguments"]["assignee"]["record"]["id"],
        "number"
    );
    assert_eq!(v["tools"][1]["declared"], false);
    snap!(
        "mcp_import_odd_tools_json",
        serde_json::to_string_pretty(&v).unwrap()
    );
}

#[test]
fn mcp_import_refuses_what_is_not_a_tool_list() {
    let bad = tmp("not-json.json");
    std::fs::write(&bad, "{\"tools\": [").unwrap();
    let r = govern(&["mcp-import", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(r.stderr.contains("not valid JSON"), "{}", r.text());
    let r = govern(&["mcp-import", "testdata/events.jsonl"]);
    assert_eq!(r.code, 2, "{}", r.text());
    let r = govern(&["mcp-import", "testdata/mcp/demo-bank.gov"]);
    assert_eq!(r.code, 2);
    let r = govern(&["mcp-import", "no/such/file.json"]);
    assert_eq!(r.code, 2);
    let r = govern(&["mcp-import", "--from-server", "--", "/no/such/server"]);
    assert_eq!(r.code, 2);
    snap!("mcp_import_no_server", r.text());
    let r = govern(&["mcp-import"]);
    assert_eq!(r.code, 2);
}

#[test]
fn mcp_import_help() {
    let r = govern(&["mcp-import", "--help"]);
    assert_eq!(r.code, 0);
    snap!("cli_help_mcp_import", r.text());
}

// ---------------------------------------------------------------------------------------
// Traces of real SDK sessions

/// What matters of a session's events: (action, tool), with agent and session checked.
fn check_session(evs: &[Value], session: &str, agent: &str) {
    let calls: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            assert_eq!(e["session"], session, "{e}");
            assert_eq!(e["agent"]["id"], agent, "{e}");
            (
                e["action"].as_str().unwrap().to_string(),
                e["tool"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let tools = [
        "web_search",
        "transfer_funds",
        "transfer_funds",
        "list_workspace",
        "summarize",
        "health",
        "web_search",
    ];
    let want: Vec<(String, String)> = tools
        .iter()
        .flat_map(|t| {
            [
                ("tool_call".to_string(), t.to_string()),
                ("tool_result".to_string(), t.to_string()),
            ]
        })
        .collect();
    assert_eq!(calls, want, "{session}");
    // Results are paired with their own call, whatever ids the server's requests used.
    assert_eq!(evs[3]["content"], "sent 2500 to ACME");
    assert_eq!(evs[3]["args"]["to"], "ACME");
    assert_eq!(evs[5]["content"], "transfer cancelled");
    assert_eq!(evs[5]["args"]["to"], "Mallory");
    assert_eq!(evs[7]["content"], "file:///work/project");
    assert_eq!(evs[9]["content"], "a short summary");
}

#[test]
fn sdk_traces_are_read_with_their_agents_sessions_and_calls() {
    for (protocol, session, agent) in SESSIONS {
        let path = fixture(&format!("{session}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(protocol), "{session} speaks {protocol}");
        let evs = events(&Input::Path(path));
        check_session(&evs, session, agent);
    }
    // The stateless protocol: no initialize, and each call that asked for input came back.
    let stateless = std::fs::read_to_string(fixture("stateless-2026-07-28.jsonl")).unwrap();
    assert!(!stateless.contains("\"initialize\""));
    assert_eq!(stateless.matches("\"input_required\"").count(), 4);
    assert_eq!(stateless.matches("\"requestState\"").count(), 8);
}

#[test]
fn simulate_reports_the_sdk_sessions() {
    let r = govern(&[
        "simulate", "--policy", POLICY, SDK_TRACES, "--format", "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    // 3 sessions of 7 calls, each with its result; nothing bad, nothing unexplained.
    assert_eq!(v["events"], 42, "{}", r.stdout);
    assert_eq!(v["errors"], 0);
    let mut agents: Vec<(String, u64)> = v["by_agent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["events"].as_u64().unwrap(),
            )
        })
        .collect();
    agents.sort();
    assert_eq!(
        agents,
        [
            ("finance-agent".to_string(), 14),
            ("ops-agent".to_string(), 14),
            ("support-agent".to_string(), 14),
        ]
    );
    let kinds = &v["not_event_kinds"];
    // The stateless session's four input_required answers and four retries are one call each.
    assert_eq!(kinds["mcp input_required result"], 4);
    assert_eq!(kinds["mcp tools/call retry"], 4);
    // The handshake sessions' requests from the server: two elicitations, roots, sampling
    // and a ping each.
    assert_eq!(kinds["mcp request from the server"], 10);
    // One transfer per session: the first needs a person, the second is denied.
    assert_eq!(v["verdicts"]["deny"], 3, "{}", r.stdout);
    assert_eq!(v["verdicts"]["escalate"], 3, "{}", r.stdout);
    snap!("simulate_mcp_sdk", {
        let text = govern(&["simulate", "--policy", POLICY, SDK_TRACES]);
        regex::Regex::new(r"sha256:[0-9a-f]{12}…")
            .unwrap()
            .replace_all(&text.text(), "sha256:<digest>…")
            .into_owned()
    });
}

#[test]
fn one_direction_logs_read_like_the_envelope_log() {
    let pair = Input::McpPair {
        client: Box::new(Input::Path(split("client-sent.jsonl"))),
        server: Box::new(Input::Path(split("server-sent.jsonl"))),
    };
    let mut from_pair = events(&pair);
    for e in &mut from_pair {
        e["session"] = Value::String("handshake-2025-11-25".into());
    }
    let whole = events(&Input::Path(fixture("handshake-2025-11-25.jsonl")));
    assert_eq!(from_pair, whole);
    let r = govern(&[
        "simulate",
        "--policy",
        POLICY,
        "--mcp-pair",
        &format!("{SPLIT}/client-sent.jsonl"),
        &format!("{SPLIT}/server-sent.jsonl"),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["events"], 14);
}

/// Captures the three sessions (and the split logs of the 2025-11-25 one) into `dir`.
fn capture(dir: &Path) {
    let python = peers::python();
    std::fs::create_dir_all(dir).unwrap();
    let client = Path::new(ROOT).join("tests/mcp/client.py");
    for (protocol, session, agent) in SESSIONS {
        let mut cmd = Command::new(&python);
        cmd.arg(&client)
            .args([protocol, agent])
            .arg(dir.join(format!("{session}.jsonl")))
            .arg(session);
        if protocol == "2025-11-25" {
            cmd.arg(dir.join("client-sent.jsonl"))
                .arg(dir.join("server-sent.jsonl"));
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "capturing {session} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn live_capture_with_the_sdk_reads_like_the_fixtures() {
    if peers::skipped("capturing MCP sessions with the official Python SDK") {
        return;
    }
    let dir = tmp("capture");
    let _ = std::fs::remove_dir_all(&dir);
    capture(&dir);
    let bless = std::env::var_os("GOVERN_BLESS").is_some();
    let mut files: Vec<(PathBuf, PathBuf)> = SESSIONS
        .iter()
        .map(|(_, s, _)| {
            let name = format!("{s}.jsonl");
            (dir.join(&name), fixture(&name))
        })
        .collect();
    for name in ["client-sent.jsonl", "server-sent.jsonl"] {
        files.push((dir.join(name), split(name)));
    }
    for (live, fixed) in &files {
        if bless {
            std::fs::create_dir_all(fixed.parent().unwrap()).unwrap();
            std::fs::copy(live, fixed).unwrap();
        }
    }
    let pair = |client: PathBuf, server: PathBuf| Input::McpPair {
        client: Box::new(Input::Path(client)),
        server: Box::new(Input::Path(server)),
    };
    let mut compared = files
        .iter()
        .take(SESSIONS.len())
        .map(|(live, fixed)| (Input::Path(live.clone()), Input::Path(fixed.clone())))
        .collect::<Vec<_>>();
    compared.push((
        pair(dir.join("client-sent.jsonl"), dir.join("server-sent.jsonl")),
        pair(split("client-sent.jsonl"), split("server-sent.jsonl")),
    ));
    for (live, fixed) in &compared {
        let mut live_events = events(live);
        // The pair's default session is named after its files.
        for e in &mut live_events {
            if let Some(s) = e["session"].as_str()
                && s.contains("client-sent.jsonl+")
            {
                e["session"] = Value::String(fixed.name());
            }
        }
        let mut fixed_events = events(fixed);
        for e in &mut fixed_events {
            if let Some(s) = e["session"].as_str()
                && s.contains("client-sent.jsonl+")
            {
                e["session"] = Value::String(fixed.name());
            }
        }
        assert_eq!(
            live_events,
            fixed_events,
            "the SDK's session is no longer read as the fixture {} is: re-capture with `GOVERN_BLESS=1 cargo test --test mcp` and look at the difference",
            fixed.name()
        );
        assert_eq!(live_events.len(), 14);
    }
}

#[test]
fn mcp_import_asks_a_live_sdk_server() {
    if peers::skipped("mcp-import --from-server against the official Python SDK") {
        return;
    }
    let python = peers::python();
    let server = Path::new(ROOT).join("tests/mcp/server.py");
    let r = govern(&[
        "mcp-import",
        "--from-server",
        "--",
        python.to_str().unwrap(),
        server.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    let from_file = govern(&["mcp-import", TOOLS]);
    assert_eq!(r.stdout, from_file.stdout);
    let r = govern(&[
        "mcp-import",
        "--skeleton",
        "--from-server",
        "--",
        python.to_str().unwrap(),
        server.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(
        r.stdout.starts_with(
            "// Generated by `govern mcp-import` from the tools/list of `demo-bank` 1.0.0."
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("policy demo_bank {"), "{}", r.stdout);
}
