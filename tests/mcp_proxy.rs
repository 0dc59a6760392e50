//! `govern mcp-proxy` end to end, against the official Python SDK: its client drives
//! `tests/mcp/server.py` (written with the SDK) through the proxy, in the three protocol
//! versions the SDK speaks (the `initialize` handshake of 2025-06-18 and 2025-11-25, and
//! the stateless 2026-07-28). Taps (`tests/mcp/tap.py`) on both sides of the proxy record
//! the exact lines each side sent and received: denied calls never reach the server, allowed
//! results reach the client byte for byte, escalations are approved and declined by the
//! user, results are withheld. Bad input and a dying server are driven by hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

#[path = "peers/mod.rs"]
mod peers;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const POLICY: &str = "testdata/mcp/proxy/gateway.gov";
const GOVERN: &str = env!("CARGO_BIN_EXE_govern");

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

/// Runs `govern` with these arguments in the project's root, no input, plain output: its exit
/// code, standard output and standard error.
fn govern(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(GOVERN)
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-proxy");
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// An empty directory `name` under [`tmp`]'s, whatever an earlier run left there.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn script(name: &str) -> PathBuf {
    Path::new(ROOT).join("tests/mcp").join(name)
}

/// A tap's log: (direction, exact line) for each line.
type Tap = Vec<(String, String)>;

fn tap(path: &Path) -> Tap {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["direction"].as_str().unwrap().to_string(),
                v["line"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// Runs the SDK client through the proxy; returns its lines and the two taps.
fn drive(mode: &str, name: &str, proxy: &[&str]) -> (Vec<Value>, Tap, Tap) {
    let python = peers::python();
    let (client_tap, server_tap) = (
        tmp(&format!("{name}-client.jsonl")),
        tmp(&format!("{name}-server.jsonl")),
    );
    let out = Command::new(&python)
        .arg(script("proxy_client.py"))
        .args([mode, "support-agent"])
        .arg(&client_tap)
        .arg(&server_tap)
        .arg("--")
        .args(proxy)
        .env("GOVERN_BIN", GOVERN)
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{mode}: the client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout.lines().map(parse).collect();
    (lines, tap(&client_tap), tap(&server_tap))
}

/// The `tools/call` requests a tap saw: (tool, arguments).
fn calls(tap: &[(String, String)]) -> Vec<(String, Value)> {
    tap.iter()
        .filter(|(d, _)| d == "client->server")
        .map(|(_, l)| parse(l))
        .filter(|m| m["method"] == "tools/call")
        .map(|m| {
            (
                m["params"]["name"].as_str().unwrap().to_string(),
                m["params"]["arguments"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_sdk_client_and_server_through_the_proxy() {
    if peers::skipped("driving the official Python MCP SDK through mcp-proxy") {
        return;
    }
    // Every decision of the session goes to an audit log, replayed at the end of each run.
    let dir = fresh_dir("audit");
    let run = govern;
    let (key, store) = (dir.join("point"), dir.join("bundles"));
    let (key, store) = (key.to_str().unwrap(), store.to_str().unwrap());
    assert_eq!(run(&["keygen", "-o", key]).0, Some(0));
    assert_eq!(run(&["build", POLICY, "--store", store]).0, Some(0));
    for mode in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        let log = dir.join(format!("{mode}.jsonl"));
        let (log, key_file) = (log.to_str().unwrap(), format!("{key}.key"));
        let (lines, client, server) = drive(
            mode,
            mode,
            &[
                "--policy",
                POLICY,
                "--hide-denied",
                "--log-format",
                "json",
                "--audit-log",
                log,
                "--audit-key",
                &key_file,
            ],
        );
        let (code, out, err) = run(&[
            "replay-audit",
            log,
            "--bundles",
            store,
            "--key",
            &format!("{key}.pub"),
            "--format",
            "json",
        ]);
        assert_eq!(code, Some(0), "{mode}: {out}{err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        // The six calls, and the results of the four forwarded: each decided once.
        let decisions = report["decisions"].as_u64().unwrap();
        assert_eq!(decisions, 10, "{mode}: {report:#}");
        assert_eq!(report["replayed"], decisions, "{mode}");
        assert_eq!(
            report["last_checkpoint"], report["head_seq"],
            "{mode}: closed with a checkpoint"
        );
        let records = std::fs::read_to_string(log).unwrap();
        assert!(records.contains("\"action\":\"tool_result\""), "{mode}");
        assert!(records.contains("summaries are switched off"), "{mode}");
        assert_eq!(
            lines,
            [
                // `summarize` is denied whatever its arguments: hidden.
                json!({"tools": ["web_search", "transfer_funds", "list_workspace", "health"]}),
                json!({"call": "web_search", "is_error": false, "text": "results for fx rates"}),
                json!({"call": "summarize", "is_error": true, "text": "denied by policy: summaries are switched off"}),
                // Escalated, approved by the user, then confirmed to the server.
                json!({"call": "transfer_funds", "is_error": false, "text": "sent 2500 to ACME"}),
                json!({"call": "transfer_funds", "is_error": true,
                       "text": "denied by policy: transfers over 1000 need a human approver (the user did not approve: decline)"}),
                json!({"call": "web_search", "is_error": true,
                       "text": "result withheld by policy: results that mention secrets are withheld"}),
                json!({"call": "health", "is_error": false, "text": "ok"}),
                json!({"asked": [
                    "Policy: transfers over 1000 need a human approver. Allow the call of `transfer_funds` with {\"amount\":2500,\"to\":\"ACME\"}?",
                    "Transfer 2500 to ACME?",
                    "Policy: transfers over 1000 need a human approver. Allow the call of `transfer_funds` with {\"amount\":90000,\"to\":\"Mallory\"}?",
                ]}),
            ],
            "{mode}"
        );

        // Denied calls never reach the server; the approved one does, without what was
        // the gateway's.
        let mut received = calls(&server);
        received.dedup(); // 2026-07-28 retries a call with the server's own input
        assert_eq!(
            received,
            [
                ("web_search".into(), json!({"query": "fx rates"})),
                (
                    "transfer_funds".into(),
                    json!({"amount": 2500, "to": "ACME"})
                ),
                ("web_search".into(), json!({"query": "secret plans"})),
                ("health".into(), json!({})),
            ],
            "{mode}"
        );
        for (_, l) in server.iter().filter(|(d, _)| d == "client->server") {
            assert!(!l.contains("govern"), "{mode}: {l}");
        }

        // What the server sent reaches the client byte for byte, except the tool list
        // (filtered) and the withheld result.
        let received: Vec<&str> = client
            .iter()
            .filter(|(d, _)| d == "server->client")
            .map(|(_, l)| l.as_str())
            .collect();
        let mut same = 0;
        for (_, line) in server.iter().filter(|(d, _)| d == "server->client") {
            let m = parse(line);
            if m["result"]["tools"].is_array() || line.contains("secret plans") {
                assert!(!received.contains(&line.as_str()), "{mode}: {line}");
                continue;
            }
            assert!(
                received.contains(&line.as_str()),
                "{mode}: not passed on as sent: {line}"
            );
            same += 1;
        }
        assert!(same >= 4, "{mode}: {same}");
    }
}

#[test]
fn denials_as_json_rpc_errors() {
    if peers::skipped("driving the official Python MCP SDK through mcp-proxy") {
        return;
    }
    let (lines, _, server) = drive(
        "2025-11-25",
        "rpc-error",
        &["--policy", POLICY, "--deny-with", "rpc-error"],
    );
    // Without --hide-denied the list is the server's.
    assert_eq!(
        lines[0],
        json!({"tools": ["web_search", "transfer_funds", "list_workspace", "summarize", "health"]})
    );
    assert_eq!(
        lines[2],
        json!({"call": "summarize", "error": "denied by policy: summaries are switched off"})
    );
    assert!(!calls(&server).iter().any(|(t, _)| t == "summarize"));
}

/// A proxy in front of `server` (a command), fed `input` line by line; once the answer to
/// request `last` is out (or the proxy stops), its input is closed. Returns its output lines,
/// its standard error and its exit status.
fn proxy_raw(server: &[&str], input: &[Vec<u8>], last: i64) -> (Vec<Value>, String, i32) {
    proxy_raw_with(&["--policy", POLICY], server, input, last)
}

/// [`proxy_raw`] with the proxy's options `args`.
fn proxy_raw_with(
    args: &[&str],
    server: &[&str],
    input: &[Vec<u8>],
    last: i64,
) -> (Vec<Value>, String, i32) {
    let mut child = Command::new(GOVERN)
        .arg("mcp-proxy")
        .args(args)
        .arg("--")
        .args(server)
        .current_dir(ROOT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            if tx.send(parse(&l.unwrap())).is_err() {
                break;
            }
        }
    });
    for line in input {
        if stdin.write_all(line).is_err() || stdin.write_all(b"\n").is_err() {
            break;
        }
    }
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while let Ok(m) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        let done = m["id"] == last;
        lines.push(m);
        if done {
            break;
        }
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    lines.extend(rx.iter());
    (
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn line(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[test]
fn bad_input_is_answered_never_forwarded_and_the_session_goes_on() {
    if peers::skipped("the official Python MCP SDK's server behind mcp-proxy") {
        return;
    }
    let python = peers::python();
    let server_tap = tmp("bad-input-server.jsonl");
    let py = python.to_str().unwrap();
    let input = vec![
        line(
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"desk","version":"1"}}}),
        ),
        line(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
        b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",".to_vec(),
        line(
            json!([{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"a"}}}]),
        ),
        line(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":5}})),
        line(
            json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"web_search","arguments":"q"}}),
        ),
        line(json!({"id":6,"method":"tools/call","params":{"name":"web_search"}})),
        // Over the 32 MiB limit.
        [
            b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"web_search\",\"arguments\":{\"query\":\"".as_slice(),
            &vec![b'a'; 33 << 20],
            b"\"}}}",
        ]
        .concat(),
        line(
            json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"still here"}}}),
        ),
    ];
    let (tap_py, server_py) = (script("tap.py"), script("server.py"));
    let server = [
        py,
        tap_py.to_str().unwrap(),
        server_tap.to_str().unwrap(),
        "--",
        py,
        server_py.to_str().unwrap(),
    ];
    let (lines, stderr, code) = proxy_raw(&server, &input, 8);
    assert_eq!(code, 0, "{stderr}");
    let answers: Vec<(Value, Value)> = lines
        .iter()
        .filter(|m| m["id"] != 1)
        .map(|m| {
            (
                m["id"].clone(),
                m["error"]["code"]
                    .clone()
                    .as_i64()
                    .map_or_else(|| m["result"]["content"][0]["text"].clone(), |c| json!(c)),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            (Value::Null, json!(-32700)),
            (Value::Null, json!(-32600)),
            (json!(4), json!(-32602)),
            (json!(5), json!(-32602)),
            (json!(6), json!(-32600)),
            (Value::Null, json!(-32600)),
            (json!(8), json!("results for still here")),
        ],
        "{stderr}"
    );
    // Only the handshake and the last call reached the server.
    let sent: Vec<Value> = tap(&server_tap)
        .into_iter()
        .filter(|(d, _)| d == "client->server")
        .map(|(_, l)| parse(&l)["id"].clone())
        .collect();
    assert_eq!(sent, [json!(1), Value::Null, json!(8)]);
    assert!(stderr.contains("over the limit"), "{stderr}");
}

#[test]
fn a_dying_server_is_reported_to_the_client() {
    if peers::skipped("a Python MCP server that dies behind mcp-proxy") {
        return;
    }
    let python = peers::python();
    let py = python.to_str().unwrap();
    let server = [py, "-c", "import sys; sys.stdin.readline(); sys.exit(3)"];
    let input = vec![
        line(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"a"}}}),
        ),
        line(json!({"jsonrpc":"2.0","id":2,"method":"tools/list"})),
    ];
    let (lines, stderr, code) = proxy_raw(&server, &input, 2);
    assert_eq!(code, 1, "{stderr}");
    // Both requests went to the server before it died: both are answered.
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (m, id) in lines.iter().zip([1, 2]) {
        assert_eq!(m["id"], id);
        assert_eq!(m["error"]["code"], -32000);
        assert_eq!(
            m["error"]["message"],
            "the MCP server is gone: it exited (exit status 3)"
        );
    }
}

#[test]
fn mcp_proxy_refuses_what_it_cannot_start() {
    let run = |args: &[&str]| {
        let (code, _, err) = govern(args);
        (code.unwrap(), err)
    };
    let (code, err) = run(&["mcp-proxy", "--policy", "no/such.gov", "--", "true"]);
    assert_eq!(code, 2, "{err}");
    let (code, err) = run(&[
        "mcp-proxy",
        "--policy",
        POLICY,
        "--",
        "no-such-server-command",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot start the MCP server `no-such-server-command`"),
        "{err}"
    );
    let (code, err) = run(&["mcp-proxy", "--policy", "Cargo.toml", "--", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a policy file"), "{err}");
}

#[test]
fn mcp_proxy_help() {
    let out = Command::new(GOVERN)
        .args(["mcp-proxy", "--help"])
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success());
    snap!("cli_help_mcp-proxy", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn sighup_puts_a_new_policy_in_force() {
    if peers::skipped("the official Python MCP SDK's server behind mcp-proxy") {
        return;
    }
    let python = peers::python();
    let policy = tmp("reload.gov");
    let write = |allowed: &str| {
        std::fs::write(
            &policy,
            format!(
                "default deny\npolicy p {{\n  rule reads: allow when tool in [{allowed}]\n}}\n"
            ),
        )
        .unwrap();
    };
    write("\"health\"");
    let mut child = Command::new(GOVERN)
        .args(["mcp-proxy", "--log-format", "json", "--policy"])
        .arg(&policy)
        .arg("--")
        .arg(&python)
        .arg(script("server.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines() {
            let _ = tx.send(l.unwrap());
        }
    });
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"desk","version":"1"}}});
    writeln!(stdin, "{init}").unwrap();
    assert_eq!(parse(&stdout.next().unwrap().unwrap())["id"], 1);
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc":"2.0","method":"notifications/initialized"})
    )
    .unwrap();
    let mut call = |id: i64| {
        let m = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"x"}}});
        writeln!(stdin, "{m}").unwrap();
        parse(&stdout.next().unwrap().unwrap())
    };
    let before = call(2);
    assert_eq!(before["result"]["isError"], true, "{before}");
    write("\"health\", \"web_search\"");
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let l = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("no reload logged");
        if l.contains("\"event\":\"reload\"") {
            assert!(l.contains("a new bundle is in force"), "{l}");
            break;
        }
    }
    let after = call(3);
    assert_eq!(
        after["result"]["content"][0]["text"], "results for x",
        "{after}"
    );
    drop(stdin);
    let _ = child.wait();
}

/// A member given twice in a call's arguments: the server acts on the last (Python's `json`,
/// as most readers), and so must the decision. The proxy decides the arguments as the client
/// wrote them: the event it decides and records carries them as they came, and the decision
/// point's reader keeps the last of equal keys. A call whose last `query` is denied is never
/// forwarded, whatever the first; one whose last is allowed is, and the server answers it;
/// the audit log of the run replays.
#[test]
fn arguments_given_twice_are_decided_as_the_server_reads_them() {
    if peers::skipped("the official Python MCP SDK's server behind mcp-proxy") {
        return;
    }
    let dir = fresh_dir("twice");
    let policy = dir.join("twice.gov");
    std::fs::write(
        &policy,
        r#"tool web_search(query: string)

default deny

policy calls {
  applies when action == "tool_call"
  rule fx_only: allow when tool == "web_search" and args.query == "fx rates"
}

policy results {
  applies when action == "tool_result"
  rule pass: allow
}
"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let (code, out, err) = govern(args);
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
        out
    };
    let (key, store, log) = (
        dir.join("point"),
        dir.join("bundles"),
        dir.join("audit.jsonl"),
    );
    let (key, store, log) = (
        key.to_str().unwrap(),
        store.to_str().unwrap(),
        log.to_str().unwrap(),
    );
    let policy = policy.to_str().unwrap();
    run(&["keygen", "-o", key]);
    run(&["build", policy, "--store", store]);
    let python = peers::python();
    let server_tap = dir.join("server.jsonl");
    let py = python.to_str().unwrap();
    let input: Vec<Vec<u8>> = vec![
        line(
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"desk","version":"1"}}}),
        ),
        line(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
        br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"fx rates","query":"the secret plan"}}}"#.to_vec(),
        br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"the secret plan","query":"fx rates"}}}"#.to_vec(),
        br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"web_search","arguments":{ "query" : "fx\u0020rates" }}}"#.to_vec(),
    ];
    let (tap_py, server_py) = (script("tap.py"), script("server.py"));
    let server = [
        py,
        tap_py.to_str().unwrap(),
        server_tap.to_str().unwrap(),
        "--",
        py,
        server_py.to_str().unwrap(),
    ];
    let key_file = format!("{key}.key");
    let (lines, stderr, code) = proxy_raw_with(
        &[
            "--policy",
            policy,
            "--audit-log",
            log,
            "--audit-key",
            &key_file,
        ],
        &server,
        &input,
        4,
    );
    assert_eq!(code, 0, "{stderr}");
    let answers: Vec<(Value, Value, Value)> = lines
        .iter()
        .filter(|m| m["id"] != 1)
        .map(|m| {
            (
                m["id"].clone(),
                m["result"]["isError"].clone(),
                m["result"]["content"][0]["text"].clone(),
            )
        })
        .collect();
    assert_eq!(answers.len(), 3, "{lines:?}");
    assert_eq!(answers[0].0, json!(2));
    assert_eq!(answers[0].1, json!(true), "{lines:?}");
    assert_eq!(
        answers[1..],
        [
            (json!(3), json!(false), json!("results for fx rates")),
            (json!(4), json!(false), json!("results for fx rates")),
        ]
    );
    // The denied call never reached the server.
    let sent: Vec<Value> = tap(&server_tap)
        .into_iter()
        .filter(|(d, _)| d == "client->server")
        .map(|(_, l)| parse(&l)["id"].clone())
        .collect();
    assert_eq!(sent, [json!(1), Value::Null, json!(3), json!(4)]);
    // The log records each event as decided (its tree: of equal keys, the last), and replays.
    let records: Vec<Value> = std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(parse)
        .filter(|r| r.get("event").is_some())
        .collect();
    let calls: Vec<(Value, Value)> = records
        .iter()
        .filter(|r| r["event"]["action"] == "tool_call")
        .map(|r| {
            (
                r["event"]["args"].clone(),
                r["decision"]["decision"].clone(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            (json!({"query": "the secret plan"}), json!("deny")),
            (json!({"query": "fx rates"}), json!("allow")),
            (json!({"query": "fx rates"}), json!("allow")),
        ]
    );
    let report: Value = serde_json::from_str(&run(&[
        "replay-audit",
        log,
        "--bundles",
        store,
        "--key",
        &format!("{key}.pub"),
        "--format",
        "json",
    ]))
    .unwrap();
    // Three calls, two results.
    assert_eq!(report["decisions"], 5, "{report:#}");
    assert_eq!(report["replayed"], 5, "{report:#}");
}
