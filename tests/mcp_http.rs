//! `govern mcp-proxy --upstream URL --listen ADDR` end to end, against the official Python
//! SDK: `tests/mcp/http_server.py` runs `tests/mcp/server.py` on the SDK's Streamable HTTP
//! transport (on 127.0.0.1, a free port; every request it receives is recorded), the proxy
//! stands in front of it, and the SDK's client (`tests/mcp/proxy_client.py --url`) drives it
//! in the three protocol versions, against a server answering with SSE streams and one
//! answering with JSON bodies. Denied calls never reach the server, allowed results are the
//! server's, escalations are approved and declined by the user, results are withheld, and a
//! stateful rule counts each call once. Bad requests and a server that is not there are
//! driven by hand over a raw connection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

#[path = "peers/mod.rs"]
mod peers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const POLICY: &str = "testdata/mcp/proxy/gateway.gov";
const GOVERN: &str = env!("CARGO_BIN_EXE_govern");
const MODES: [&str; 3] = ["2025-06-18", "2025-11-25", "2026-07-28"];

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-http");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn script(name: &str) -> PathBuf {
    Path::new(ROOT).join("tests/mcp").join(name)
}

/// A child process stopped when dropped.
struct Proc {
    child: Child,
    /// Its standard error lines so far (the proxy's log).
    err: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn log(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }

    /// Stops it with SIGTERM and waits (30 s at most); its exit code.
    fn terminate(&mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            assert!(Instant::now() < deadline, "still running:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `govern ARGS…` from the repository's root: exit code and standard output.
fn govern(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(GOVERN)
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code(),
        text + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Starts `cmd`, waits (60 s at most) for a line on stdout (`from_stdout`) or stderr that
/// `found` accepts; returns the process and what `found` made of the line.
fn spawn_until(
    cmd: &mut Command,
    from_stdout: bool,
    found: impl Fn(&str) -> Option<String> + std::marker::Send + Sync + 'static,
) -> (Proc, String) {
    let mut child = cmd
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let found = Arc::new(found);
    {
        let (tx, found) = (tx.clone(), Arc::clone(&found));
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if from_stdout && let Some(v) = found(&l) {
                    let _ = tx.send(v);
                }
            }
        });
    }
    {
        let err = Arc::clone(&err);
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines() {
                let Ok(l) = l else { break };
                if !from_stdout && let Some(v) = found(&l) {
                    let _ = tx.send(v);
                }
                err.lock().unwrap().push(l);
            }
        });
    }
    let p = Proc { child, err };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(v) => (p, v),
        Err(_) => panic!("{:?} did not start:\n{}", cmd, p.log()),
    }
}

/// The SDK's server on HTTP; returns it, its URL and the file of what it received.
fn server(name: &str, flags: &[&str]) -> (Proc, String, PathBuf) {
    let received = tmp(&format!("{name}-received.jsonl"));
    let (p, port) = spawn_until(
        Command::new(peers::python())
            .arg(script("http_server.py"))
            .arg(&received)
            .args(flags),
        true,
        |l| l.strip_prefix("PORT ").map(str::to_string),
    );
    let scheme = if flags.contains(&"--tls") {
        "https"
    } else {
        "http"
    };
    (p, format!("{scheme}://127.0.0.1:{port}/mcp"), received)
}

/// The proxy in front of `upstream`; returns it and its URL.
fn proxy(upstream: &str, extra: &[&str]) -> (Proc, String) {
    let (p, addr) = spawn_until(
        Command::new(GOVERN)
            .args(["mcp-proxy", "--log-format", "json", "--upstream", upstream])
            .args(["--listen", "127.0.0.1:0"])
            .args(extra),
        false,
        |l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["event"] == "listening").then(|| v["address"].as_str().unwrap().to_string())
        },
    );
    (p, format!("http://{addr}/mcp"))
}

/// Runs the SDK client with `govern mcp-proxy PROXY_ARGS… -- server` on stdio (its taps in
/// `STEM-c.jsonl` and `STEM-s.jsonl`); its output lines and the server side's tap.
fn stdio_client(
    mode: &str,
    stem: &str,
    proxy_args: &[&str],
    calls: Option<Value>,
) -> (Vec<Value>, PathBuf) {
    let (ct, st) = (
        tmp(&format!("{stem}-c.jsonl")),
        tmp(&format!("{stem}-s.jsonl")),
    );
    let mut cmd = Command::new(peers::python());
    cmd.arg(script("proxy_client.py"))
        .args([mode, "support-agent"])
        .arg(&ct)
        .arg(&st)
        .arg("--")
        .args(proxy_args)
        .env("GOVERN_BIN", GOVERN)
        .current_dir(ROOT)
        .stdin(Stdio::null());
    if let Some(c) = calls {
        cmd.env("MCP_CALLS", c.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{stem}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, st)
}

/// Runs the SDK client against `url`; its output lines.
fn client(mode: &str, url: &str, calls: Option<Value>) -> Vec<Value> {
    let mut cmd = Command::new(peers::python());
    cmd.arg(script("proxy_client.py"))
        .args([mode, "support-agent", "--url", url])
        .current_dir(ROOT)
        .stdin(Stdio::null());
    if let Some(c) = calls {
        cmd.env("MCP_CALLS", c.to_string());
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{mode}: the client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `tools/call` requests the server received: (tool, arguments), and each whole body.
fn received_calls(path: &Path) -> (Vec<(String, Value)>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut calls = Vec::new();
    let mut bodies = Vec::new();
    for l in text.lines() {
        let r: Value = serde_json::from_str(l).unwrap();
        if r.get("sent").is_some() {
            continue;
        }
        let body = r["body"].as_str().unwrap().to_string();
        if let Ok(m) = serde_json::from_str::<Value>(&body)
            && m["method"] == "tools/call"
        {
            calls.push((
                m["params"]["name"].as_str().unwrap().to_string(),
                m["params"]["arguments"].clone(),
            ));
        }
        bodies.push(body);
    }
    (calls, bodies)
}

fn expected_lines() -> Vec<Value> {
    vec![
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
    ]
}

#[test]
fn the_sdk_client_and_server_through_the_http_proxy() {
    if peers::skipped("driving the official Python MCP SDK through mcp-proxy over HTTP") {
        return;
    }
    // Every decision over HTTP goes to the point's audit log too, replayed after each run.
    let dir = tmp("audit");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (keys, store) = (dir.join("point"), dir.join("bundles"));
    let (keys, store) = (keys.to_str().unwrap(), store.to_str().unwrap());
    assert_eq!(govern(&["keygen", "-o", keys]).0, Some(0));
    assert_eq!(govern(&["build", POLICY, "--store", store]).0, Some(0));
    for (answers, flags) in [("sse", &[][..]), ("json", &["--json-response"][..])] {
        for mode in MODES {
            let name = format!("{mode}-{answers}");
            let audit = tmp(&format!("{name}-audit.jsonl"));
            let audit = audit.to_str().unwrap();
            let (_server, upstream, received) = server(&name, flags);
            // The same client straight to the server: what an allowed call returns there.
            let direct = client(mode, &upstream, None);
            let before = received_calls(&received).0.len();
            let direct_lines = std::fs::read_to_string(&received).unwrap().lines().count();
            let trace = tmp(&format!("{name}-trace.jsonl"));
            let key_file = format!("{keys}.key");
            let (mut proxy, url) = proxy(
                &upstream,
                &[
                    "--policy",
                    POLICY,
                    "--hide-denied",
                    "--trace",
                    trace.to_str().unwrap(),
                    "--audit-log",
                    audit,
                    "--audit-key",
                    &key_file,
                ],
            );
            let lines = client(mode, &url, None);
            // The approved transfer is then the server's to confirm: a server answering with
            // JSON bodies has no stream to ask the user on with the handshake protocols, and
            // fails that call with or without the proxy.
            let mut want = expected_lines();
            if answers == "sse" || mode == "2026-07-28" {
                assert_eq!(direct[3], want[3], "{name}");
            } else {
                assert!(direct[3]["error"].is_string(), "{name}: {}", direct[3]);
                want[3] = direct[3].clone();
                want[7]["asked"].as_array_mut().unwrap().remove(1);
            }
            assert_eq!(lines, want, "{name}\n{}", proxy.log());
            // Allowed calls return what the server returns without the proxy.
            for (i, call) in [(1, "web_search"), (6, "health")] {
                assert_eq!(lines[i]["call"], call);
                assert_eq!(lines[i], direct[i], "{name}");
            }
            // Denied calls never reach the server; the approved one does, without what was
            // the gateway's.
            let (calls, bodies) = received_calls(&received);
            let mut calls = calls[before..].to_vec();
            calls.dedup(); // 2026-07-28 retries a call with the server's own input
            assert_eq!(
                calls,
                [
                    ("web_search".into(), json!({"query": "fx rates"})),
                    (
                        "transfer_funds".into(),
                        json!({"amount": 2500, "to": "ACME"})
                    ),
                    ("web_search".into(), json!({"query": "secret plans"})),
                    ("health".into(), json!({})),
                ],
                "{name}\n{}",
                proxy.log()
            );
            for b in &bodies {
                assert!(!b.contains("govern"), "{name}: {b}");
            }
            // What the server sent reaches the client byte for byte, but the filtered tool
            // list and the withheld result.
            let raw_trace = std::fs::read_to_string(&trace).unwrap();
            let mut same = 0;
            for l in std::fs::read_to_string(&received)
                .unwrap()
                .lines()
                .skip(direct_lines)
            {
                let r: Value = serde_json::from_str(l).unwrap();
                let Some(sent) = r["sent"].as_str() else {
                    continue;
                };
                let m: Value = serde_json::from_str(sent).unwrap();
                if m["result"]["tools"].is_array() || sent.contains("secret plans") {
                    assert!(!raw_trace.contains(sent), "{name}: passed on: {sent}");
                    continue;
                }
                // The trace holds each message as the client received it, byte for byte.
                assert!(
                    raw_trace.contains(&format!("\"message\":{sent}}}")),
                    "{name}: not passed on as sent: {sent}"
                );
                same += 1;
            }
            assert!(same >= 4, "{name}: {same}");
            // SIGTERM closes the log with a signed checkpoint; it replays intact, every
            // decided call and result in it.
            assert_eq!(proxy.terminate(), Some(0), "{name}\n{}", proxy.log());
            let (code, out) = govern(&[
                "replay-audit",
                audit,
                "--bundles",
                store,
                "--key",
                &format!("{keys}.pub"),
                "--format",
                "json",
            ]);
            assert_eq!(code, Some(0), "{name}: {out}");
            let report: Value = serde_json::from_str(&out).unwrap();
            let decisions = report["decisions"].as_u64().unwrap();
            assert!(decisions >= 6, "{name}: {report:#}");
            assert_eq!(report["replayed"], decisions, "{name}");
            assert_eq!(report["last_checkpoint"], report["head_seq"], "{name}");
            let records = std::fs::read_to_string(audit).unwrap();
            assert!(records.contains("\"tool\":\"transfer_funds\""), "{name}");
            assert!(records.contains("\"action\":\"tool_result\""), "{name}");
        }
    }
}

#[test]
fn denials_as_json_rpc_errors_over_http() {
    if peers::skipped("driving the official Python MCP SDK through mcp-proxy over HTTP") {
        return;
    }
    let (_server, upstream, received) = server("rpc-error", &[]);
    let (proxy, url) = proxy(&upstream, &["--policy", POLICY, "--deny-with", "rpc-error"]);
    let lines = client("2025-11-25", &url, None);
    assert_eq!(
        lines[0],
        json!({"tools": ["web_search", "transfer_funds", "list_workspace", "summarize", "health"]}),
        "{}",
        proxy.log()
    );
    assert_eq!(
        lines[2],
        json!({"call": "summarize", "error": "denied by policy: summaries are switched off"})
    );
    assert!(
        !received_calls(&received)
            .0
            .iter()
            .any(|(t, _)| t == "summarize")
    );
}

/// A stateful rule behind the proxy (HTTP and stdio): at most two transfers per session. On
/// 2026-07-28 the server asks the user to confirm each transfer (`input_required`) and the
/// client sends the call again: that retry is the same call and is not counted again.
#[test]
fn a_stateful_rule_counts_each_call_once() {
    if peers::skipped("driving the official Python MCP SDK through mcp-proxy over HTTP") {
        return;
    }
    let policy = tmp("two-transfers.gov");
    std::fs::write(
        &policy,
        r#"default deny

policy limits {
  applies when action == "tool_call"

  rule transfers: allow when tool == "transfer_funds"

  rule at_most_two: deny
    when tool == "transfer_funds"
      and count(action == "tool_call" and tool == "transfer_funds", per session) >= 2
    because "at most 2 transfers per session"
}

policy results {
  applies when action == "tool_result"
  rule pass: allow
}
"#,
    )
    .unwrap();
    let calls = json!([
        ["transfer_funds", {"amount": 10, "to": "A"}],
        ["transfer_funds", {"amount": 20, "to": "B"}],
        ["transfer_funds", {"amount": 30, "to": "C"}],
    ]);
    for mode in MODES {
        let (_server, upstream, received) = server(&format!("limit-{mode}"), &[]);
        let (proxy, url) = proxy(&upstream, &["--policy", policy.to_str().unwrap()]);
        let lines = client(mode, &url, Some(calls.clone()));
        assert_eq!(
            &lines[1..4],
            [
                json!({"call": "transfer_funds", "is_error": false, "text": "sent 10 to A"}),
                json!({"call": "transfer_funds", "is_error": false, "text": "sent 20 to B"}),
                json!({"call": "transfer_funds", "is_error": true, "text": "denied by policy: at most 2 transfers per session"}),
            ],
            "{mode}\n{}",
            proxy.log()
        );
        let mut got = received_calls(&received).0;
        got.dedup();
        assert_eq!(got.len(), 2, "{mode}: {got:?}");

        // The same on stdio.
        let (stdio, st) = stdio_client(
            mode,
            &format!("limit-{mode}"),
            &["--policy", policy.to_str().unwrap()],
            Some(calls.clone()),
        );
        assert_eq!(stdio[1..4], lines[1..4], "{mode} on stdio");
        let mut got: Vec<Value> = std::fs::read_to_string(&st)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|t| t["direction"] == "client->server")
            .map(|t| serde_json::from_str::<Value>(t["line"].as_str().unwrap()).unwrap())
            .filter(|m| m["method"] == "tools/call")
            .map(|m| m["params"]["arguments"].clone())
            .collect();
        got.dedup();
        assert_eq!(got.len(), 2, "{mode} on stdio: {got:?}");
    }
}

/// One raw HTTP/1.1 exchange (the connection closed after it): status, headers, body.
fn raw(addr: &str, method: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} /mcp HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\naccept: application/json, text/event-stream\r\ncontent-type: application/json\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| *k == "host") {
        req.push_str(&format!("host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // A refused body may be answered before it is all sent.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// The JSON-RPC message of a body (JSON, or the last event of an SSE stream; a chunked
/// body's framing is skipped).
fn message_of(body: &str) -> Value {
    body.lines()
        .rev()
        .filter_map(|l| {
            let l = l.strip_prefix("data: ").unwrap_or(l);
            serde_json::from_str::<Value>(l).ok()
        })
        .find(Value::is_object)
        .unwrap_or(Value::Null)
}

#[test]
fn bad_requests_and_a_missing_server_over_http() {
    // Nothing listens on the upstream port: every request is answered with an error.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/mcp", free.local_addr().unwrap());
    drop(free);
    let (proxy, url) = proxy(&dead, &["--policy", POLICY, "--upstream-timeout", "5"]);
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let call = |id: i64, tool: &str| {
        json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{"query":"x"},
            "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"desk","version":"1"}}}})
        .to_string()
    };
    let (status, _, body) = raw(&addr, "POST", &[], call(1, "web_search").as_bytes());
    assert_eq!(status, 200, "{body}\n{}", proxy.log());
    let m = message_of(&body);
    assert_eq!(m["id"], 1, "{body}");
    assert_eq!(m["error"]["code"], -32000, "{body}");
    assert!(
        m["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect to the MCP server"),
        "{body}"
    );
    // A denied call is answered by the proxy alone.
    let (status, _, body) = raw(&addr, "POST", &[], call(2, "summarize").as_bytes());
    assert_eq!(status, 200);
    assert_eq!(
        message_of(&body)["result"]["content"][0]["text"],
        "denied by policy: summaries are switched off"
    );
    // Headers that say another tool than the body: refused.
    let (status, _, body) = raw(
        &addr,
        "POST",
        &[("mcp-method", "tools/call"), ("mcp-name", "health")],
        call(3, "web_search").as_bytes(),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(message_of(&body)["error"]["code"], -32020);
    // So is a protocol version other than the body's, a routing header sent twice, an
    // argument header for a tool whose declarations the proxy has not seen listed.
    for (headers, says) in [
        (
            &[("mcp-protocol-version", "2025-11-25")][..],
            "MCP-Protocol-Version header does not match",
        ),
        (
            &[("mcp-name", "web_search"), ("mcp-name", "health")][..],
            "appears more than once",
        ),
        (&[("mcp-param-region", "eu-west")][..], "cannot be checked"),
    ] {
        let (status, _, body) = raw(&addr, "POST", headers, call(3, "web_search").as_bytes());
        assert_eq!(status, 400, "{body}");
        let m = message_of(&body);
        assert_eq!(m["error"]["code"], -32020, "{body}");
        assert!(
            m["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
    // An unknown session.
    let (status, _, _) = raw(
        &addr,
        "POST",
        &[("mcp-session-id", "nope")],
        call(4, "web_search").as_bytes(),
    );
    assert_eq!(status, 404);
    // Not JSON.
    let (status, _, body) = raw(&addr, "POST", &[], b"{not json");
    assert_eq!(status, 400, "{body}");
    assert_eq!(message_of(&body)["error"]["code"], -32700);
    // Over the 32 MiB limit.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"web_search","arguments":{{"query":"{}"}}}}}}"#,
        "a".repeat(33 << 20)
    );
    let (status, _, _) = raw(&addr, "POST", &[], big.as_bytes());
    assert_eq!(status, 413);
    // What a page of another site could send (DNS rebinding, cross-origin): refused.
    for h in [
        ("host", "evil.example:8788"),
        ("origin", "http://evil.example"),
    ] {
        let (status, _, body) = raw(&addr, "POST", &[h], call(7, "health").as_bytes());
        assert_eq!(status, 403, "{h:?}: {body}");
    }
    let (status, _, _) = raw(
        &addr,
        "POST",
        &[
            ("host", "localhost:8788"),
            ("origin", "http://localhost:3000"),
        ],
        call(8, "summarize").as_bytes(),
    );
    assert_eq!(status, 200);
    // The proxy is still there.
    let (status, _, body) = raw(&addr, "POST", &[], call(6, "summarize").as_bytes());
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.log().contains("cannot connect") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(proxy.log().contains("cannot connect"), "{}", proxy.log());
}

// ---------------------------------------------------------------------------------------
// Traces the proxy captures (`--trace`), read by `simulate`

/// Where the captured runs are kept.
const TRACES: &str = "testdata/mcp/proxy/traces";

/// The captured runs: (file stem, transport, protocol). Each is the client's view of one
/// session of `proxy_client.py` through the proxy with `gateway.gov` and `--hide-denied`.
const CAPTURES: [(&str, &str, &str); 6] = [
    ("stdio-2025-06-18", "stdio", "2025-06-18"),
    ("stdio-2025-11-25", "stdio", "2025-11-25"),
    ("stdio-2026-07-28", "stdio", "2026-07-28"),
    ("http-2025-06-18", "http", "2025-06-18"),
    ("http-2025-11-25", "http", "2025-11-25"),
    ("http-2026-07-28", "http", "2026-07-28"),
];

/// Runs every capture into `dir` (one trace file per run).
fn capture_all(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (stem, transport, mode) in CAPTURES {
        let trace = dir.join(format!("{stem}.jsonl"));
        let _ = std::fs::remove_file(&trace);
        let trace_arg = trace.to_str().unwrap().to_string();
        let common = [
            "--policy",
            POLICY,
            "--hide-denied",
            "--session",
            stem,
            "--trace",
            &trace_arg,
        ];
        let lines = if transport == "stdio" {
            stdio_client(mode, stem, &common, None).0
        } else {
            let (_server, upstream, _) = server(stem, &[]);
            let (_proxy, url) = proxy(&upstream, &common);
            client(mode, &url, None)
        };
        assert_eq!(lines, expected_lines(), "{stem}");
    }
}

/// What `simulate` makes of a trace: its events (without their times, which differ from run
/// to run), and its JSON report.
fn read_trace(path: &Path) -> (Vec<Value>, Value) {
    let report = Command::new(GOVERN)
        .args(["simulate", "--policy", POLICY, "--format", "json"])
        .arg(path)
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&report.stderr)
    );
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let input = govern::trace::Input::Path(path.to_path_buf());
    let mut r =
        govern::trace::TraceReader::open(&input, govern::trace::InputFormat::Auto, None).unwrap();
    let mut evs = Vec::new();
    govern::trace::for_each_record(&mut r, |rec, o| {
        match rec {
            Ok(t) => {
                let mut e: Value = serde_json::from_str(t).unwrap();
                e.as_object_mut().unwrap().remove("ts");
                evs.push(e);
            }
            Err(e) => panic!("{}:{}: {e}", path.display(), o.line),
        }
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    (evs, report)
}

/// A captured trace reads as the session it was: the client's agent, one session, six calls
/// each with its one result (an approval round trip or an `input_required` retry is no call
/// of its own), and the policy decides them as the proxy did.
fn check_trace(stem: &str, mode: &str, evs: &[Value], report: &Value) {
    let session = if stem.starts_with("http") && mode != "2026-07-28" {
        format!("{stem}-1")
    } else {
        stem.to_string()
    };
    let seen: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            assert_eq!(e["session"], session.as_str(), "{stem}: {e}");
            assert_eq!(e["agent"]["id"], "support-agent", "{stem}: {e}");
            (
                e["action"].as_str().unwrap().to_string(),
                e["tool"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        "web_search",
        "summarize",
        "transfer_funds",
        "transfer_funds",
        "web_search",
        "health",
    ]
    .iter()
    .flat_map(|t| {
        [
            ("tool_call".to_string(), t.to_string()),
            ("tool_result".to_string(), t.to_string()),
        ]
    })
    .collect();
    assert_eq!(seen, want, "{stem}");
    assert_eq!(evs[5]["args"]["to"], "ACME", "{stem}");
    assert_eq!(evs[5]["content"], "sent 2500 to ACME", "{stem}");
    assert_eq!(report["events"], 12, "{stem}: {report}");
    assert_eq!(report["errors"], 0, "{stem}: {report}");
    // summarize and the withheld result denied, the two large transfers escalated.
    assert_eq!(report["verdicts"]["deny"], 2, "{stem}: {report}");
    assert_eq!(report["verdicts"]["escalate"], 2, "{stem}: {report}");
    let kinds = &report["not_event_kinds"];
    if mode == "2026-07-28" {
        // The gateway's two approvals and the server's confirmation: three input_required
        // answers, three retries.
        assert_eq!(kinds["mcp input_required result"], 3, "{stem}: {report}");
        assert_eq!(kinds["mcp tools/call retry"], 3, "{stem}: {report}");
    } else {
        // The gateway's two approvals and the server's confirmation and ping.
        assert_eq!(kinds["mcp request from the server"], 4, "{stem}: {report}");
    }
}

#[test]
fn captured_traces_are_read_with_their_agents_sessions_and_calls() {
    for (stem, _, mode) in CAPTURES {
        let path = Path::new(ROOT).join(TRACES).join(format!("{stem}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(mode), "{stem} speaks {mode}");
        let (evs, report) = read_trace(&path);
        check_trace(stem, mode, &evs, &report);
    }
}

/// Captures every run again and checks that the fresh traces read as the fixtures do, so that
/// the fixtures cannot silently fall behind the proxy or the SDK;
/// `GOVERN_BLESS=1 cargo test --test mcp_http` writes the fresh capture over them.
#[test]
fn a_fresh_capture_reads_like_the_fixtures() {
    if peers::skipped("capturing MCP sessions through mcp-proxy with the official Python SDK") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-http-capture");
    let _ = std::fs::remove_dir_all(&dir);
    capture_all(&dir);
    let bless = std::env::var_os("GOVERN_BLESS").is_some();
    for (stem, _, mode) in CAPTURES {
        let live = dir.join(format!("{stem}.jsonl"));
        let fixed = Path::new(ROOT).join(TRACES).join(format!("{stem}.jsonl"));
        if bless {
            std::fs::create_dir_all(fixed.parent().unwrap()).unwrap();
            std::fs::copy(&live, &fixed).unwrap();
        }
        let (live_events, live_report) = read_trace(&live);
        check_trace(stem, mode, &live_events, &live_report);
        let (fixed_events, _) = read_trace(&fixed);
        assert_eq!(
            live_events, fixed_events,
            "{stem}: a fresh capture no longer reads as the fixture: re-capture with `GOVERN_BLESS=1 cargo test --test mcp_http` and look at the difference"
        );
    }
}

#[test]
fn sigterm_stops_the_http_proxy_cleanly() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}/mcp", free.local_addr().unwrap());
    drop(free);
    let (mut proxy, _) = proxy(&upstream, &["--policy", POLICY]);
    assert_eq!(proxy.terminate(), Some(0), "{}", proxy.log());
    // The log's reader thread may lag the exit a little.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy.log().contains("SIGTERM") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(proxy.log().contains("SIGTERM: stopping"), "{}", proxy.log());
}

#[test]
fn mcp_proxy_refuses_a_bad_upstream() {
    for (url, says) in [
        ("ftp://example.com/", "is not an http:// or https:// URL"),
        (
            "http://example.com/mcp --upstream-ca ca.pem",
            "only applies to an https",
        ),
        (
            "https://example.com/mcp --upstream-ca /nonexistent/ca.pem",
            "cannot read the CA file",
        ),
    ] {
        let out = Command::new(GOVERN)
            .args(["mcp-proxy", "--policy", POLICY, "--upstream"])
            .args(url.split(' '))
            .current_dir(ROOT)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
    // An address already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(GOVERN)
        .args([
            "mcp-proxy",
            "--policy",
            POLICY,
            "--upstream",
            "http://127.0.0.1:1/mcp",
        ])
        .args(["--listen", &addr])
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot listen on"), "{err}");
}

/// The SDK's server over https, with a certificate signed by a CA the server makes
/// (tests/mcp/http_server.py `--tls`): the proxy trusts that CA with `--upstream-ca` and the
/// SDK's client runs every protocol version through it as over http. Without the CA (the
/// system's roots) or with a certificate for another host, nothing reaches the server and the
/// client is told why.
#[test]
fn https_upstreams_are_verified_and_fail_closed() {
    if peers::skipped("driving the official Python MCP SDK through mcp-proxy over https") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-http-tls");
    let _ = std::fs::remove_dir_all(&dir);
    let (good, wrong) = (dir.join("good"), dir.join("wrong"));
    let (_server, upstream, received) = server("tls", &["--tls", good.to_str().unwrap()]);
    assert!(upstream.starts_with("https://127.0.0.1:"), "{upstream}");
    let ca = good.join("ca.pem");
    let (proxy_ok, url) = proxy(
        &upstream,
        &[
            "--policy",
            POLICY,
            "--hide-denied",
            "--upstream-ca",
            ca.to_str().unwrap(),
        ],
    );
    for mode in MODES {
        let lines = client(mode, &url, None);
        assert_eq!(lines, expected_lines(), "{mode}\n{}", proxy_ok.log());
    }
    let (calls, _) = received_calls(&received);
    assert!(!calls.is_empty());
    assert!(
        calls.iter().all(|(tool, _)| tool != "summarize"),
        "{calls:?}"
    );
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"web_search","arguments":{"query":"x"},
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"desk","version":"1"}}}})
    .to_string();
    let addr_of = |url: &str| {
        url.trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .to_string()
    };
    // The system's roots do not know the test's CA.
    let seen = std::fs::read_to_string(&received).unwrap().lines().count();
    let (untrusted, url) = proxy(&upstream, &["--policy", POLICY]);
    let (status, _, body) = raw(&addr_of(&url), "POST", &[], call.as_bytes());
    let m = message_of(&body);
    assert_eq!(status, 200, "{body}");
    assert_eq!(m["error"]["code"], -32000, "{body}");
    let why = m["error"]["message"].as_str().unwrap();
    assert!(
        why.contains("TLS certificate was refused: UnknownIssuer") && why.contains("--upstream-ca"),
        "{why}\n{}",
        untrusted.log()
    );
    // The log's reader thread may lag the answer a little.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !untrusted.log().contains("UnknownIssuer") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        untrusted.log().contains("UnknownIssuer"),
        "{}",
        untrusted.log()
    );
    // A certificate from the trusted CA, but for another host.
    let (_other, other_upstream, other_received) = server(
        "tls-wrong-name",
        &[
            "--tls",
            wrong.to_str().unwrap(),
            "--tls-name",
            "other.example",
        ],
    );
    let wrong_ca = wrong.join("ca.pem");
    let (misnamed, url) = proxy(
        &other_upstream,
        &[
            "--policy",
            POLICY,
            "--upstream-ca",
            wrong_ca.to_str().unwrap(),
        ],
    );
    let (_, _, body) = raw(&addr_of(&url), "POST", &[], call.as_bytes());
    let m = message_of(&body);
    assert_eq!(m["error"]["code"], -32000, "{body}");
    let why = m["error"]["message"].as_str().unwrap();
    assert!(why.contains("NotValidForName"), "{why}\n{}", misnamed.log());
    // Nothing reached either server.
    assert_eq!(
        std::fs::read_to_string(&received).unwrap().lines().count(),
        seen
    );
    assert_eq!(
        std::fs::read_to_string(&other_received).unwrap_or_default(),
        ""
    );
}

/// Reads from `s` until the proxy closes it (true) or `within` passes (false).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A client that sends nothing, stops half way through a request's head, or keeps a
/// connection open after its answer is disconnected; a call that takes longer than the idle
/// time (nothing moves on its connection while the tool runs) is not.
#[test]
fn idle_and_slow_clients_cannot_hold_the_http_proxy() {
    if peers::skipped("driving the official Python MCP SDK through mcp-proxy over HTTP") {
        return;
    }
    let (_server, upstream, _) = server("idle", &[]);
    let (gate, url) = proxy(
        &upstream,
        &[
            "--policy",
            POLICY,
            "--idle-timeout",
            "1",
            "--request-timeout",
            "30",
        ],
    );
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    // Connected, nothing sent (the request timeout is far longer).
    let mut silent = TcpStream::connect(&addr).unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(20)),
        "a silent connection was kept\n{}",
        gate.log()
    );
    // Kept alive after an answer, then silent.
    let mut kept = TcpStream::connect(&addr).unwrap();
    kept.write_all(
        format!("DELETE /mcp HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\n\r\n").as_bytes(),
    )
    .unwrap();
    assert!(closed_within(&mut kept, Duration::from_secs(20)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gate.log().contains("\"event\":\"idle\"") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gate.log().contains("\"event\":\"idle\""), "{}", gate.log());
    // A slow call: nothing moves on the client's connection for 3 s while the tool runs.
    for mode in ["2025-11-25", "2026-07-28"] {
        let lines = client(
            mode,
            &url,
            Some(json!([["web_search", {"query": "wait 3"}]])),
        );
        assert_eq!(
            lines[1],
            json!({"call": "web_search", "is_error": false, "text": "results for wait 3"}),
            "{mode}\n{}",
            gate.log()
        );
    }
    // Half a head, with a short request timeout.
    let (slow_proxy, url) = proxy(&upstream, &["--policy", POLICY, "--request-timeout", "1"]);
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"POST /mcp HTTP/1.1\r\nhost: ").unwrap();
    assert!(
        closed_within(&mut half, Duration::from_secs(20)),
        "{}",
        slow_proxy.log()
    );
}
