//! `govern serve` end to end: the binary started on loopback with an ephemeral port (or a
//! Unix socket) by each test and stopped by it, spoken to over real sockets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

#[path = "peers/mod.rs"]
mod peers;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_govern");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("serve")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `govern args…` in `dir` with `stdin`; (status, stdout, stderr).
fn govern(dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compiles `source` into `dir/name`.
fn bundle(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.gov"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let (code, _, err) = govern(
        dir,
        &["build", src.to_str().unwrap(), "-o", out.to_str().unwrap()],
        "",
    );
    assert_eq!(code, 0, "{err}");
    out
}

/// The decisions `govern eval` takes on `events` (one per line).
fn eval(dir: &Path, bundle: &Path, events: &[String]) -> Vec<String> {
    let input: String = events.iter().map(|e| format!("{e}\n")).collect();
    let (_, out, err) = govern(dir, &["eval", "--bundle", bundle.to_str().unwrap()], &input);
    let lines: Vec<String> = out.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), events.len(), "{err}");
    lines
}

/// A running `govern serve`, killed when dropped.
struct Server {
    child: Mutex<Option<Child>>,
    pid: u32,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `govern serve` with `args` on an ephemeral loopback port, JSON logs.
    fn start(dir: &Path, args: &[&str]) -> Server {
        Server::start_in(dir, Command::new(BIN), args)
    }

    /// Starts `govern serve` with `args` as `cmd` runs it (a shell setting limits first).
    fn start_in(dir: &Path, mut cmd: Command, args: &[&str]) -> Server {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--log-format", "json"];
        all.extend_from_slice(args);
        let mut child = cmd
            .args(&all)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["event"] == "listening"
                    && let Some(a) = v["address"].as_str()
                {
                    let _ = tx.send(a.to_string());
                }
                l.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start: {:?}", log.lock().unwrap());
            }
        };
        Server {
            pid: child.id(),
            child: Mutex::new(Some(child)),
            addr,
            log,
        }
    }

    fn connect(&self) -> Conn {
        Conn::new(TcpStream::connect(&self.addr).unwrap())
    }

    fn post(&self, path: &str, body: &str) -> Resp {
        self.connect().request(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    }

    fn get(&self, path: &str) -> Resp {
        self.connect().request("GET", path, &[], b"")
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Sends SIGTERM and waits for the exit status.
    fn stop(&self) -> i32 {
        self.signal("TERM");
        let mut child = self.child.lock().unwrap().take().unwrap();
        let started = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("serve did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until a log line with `event` appears (at least `n` of them).
    fn wait_log(&self, event: &str, n: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let lines: Vec<Value> = self
                .log()
                .into_iter()
                .filter(|v| v["event"] == event)
                .collect();
            if lines.len() >= n {
                return lines;
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!("no `{event}` in the log: {:?}", self.log.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// A deny decision saying why (every refusal carries one).
    fn assert_deny(&self) -> String {
        let v = self.json();
        assert_eq!(v["decision"], "deny", "{self:?}");
        assert_eq!(
            self.headers.get("govern-decision").map(String::as_str),
            Some("deny")
        );
        v["error"].as_str().unwrap_or_default().to_string()
    }
}

/// A keep-alive HTTP/1.1 connection: a small client of our own for exact control of what
/// is sent (the peer tests use real client libraries).
struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn new(s: TcpStream) -> Conn {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        self.try_request(method, path, headers, body).unwrap()
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" {
            req.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.w.write_all(&bytes)?;
        self.read()
    }

    fn read(&mut self) -> std::io::Result<Resp> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = HashMap::new();
        loop {
            line.clear();
            self.r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.r.read_exact(&mut body)?;
        Ok(Resp {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        })
    }
}

const BRIEF: &str = "testdata/examples/brief.gov";

fn brief(dir: &Path) -> PathBuf {
    bundle(
        dir,
        "brief.govb",
        &std::fs::read_to_string(Path::new(ROOT).join(BRIEF)).unwrap(),
    )
}

fn events() -> Vec<String> {
    [
        r#"{"tool":"web_search","agent":{"id":"a","trust":900,"roles":["finance"]}}"#,
        r#"{"tool":"file_read","args":{"path":"/etc/passwd"},"agent":{"id":"a","trust":900,"roles":["finance"]}}"#,
        r#"{"tool":"transfer_funds","args":{"amount":5000,"to":"x","currency":"EUR"},"agent":{"id":"a","trust":900,"roles":["finance"]}}"#,
        r#"{"tool":"transfer_funds","args":{"amount":50,"to":"x","currency":"EUR"},"agent":{"id":"b","trust":100,"roles":["finance"]}}"#,
        r#"{"tool":"transfer_funds","args":{"amount":"lots"},"agent":{"id":"a","trust":900,"roles":["finance"]}}"#,
        r#"{"tool":"file_read","args":{"path":"/srv/report.txt"},"agent":{"id":"c","roles":["finance"]}}"#,
        r#"{}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn decides_as_eval_does() {
    let dir = scratch("decide");
    let b = brief(&dir);
    let want = eval(&dir, &b, &events());
    let server = Server::start(&dir, &["--bundle", b.to_str().unwrap()]);
    let mut conn = server.connect();
    for (e, want) in events().iter().zip(&want) {
        let r = conn.request(
            "POST",
            "/v1/decide",
            &[("content-type", "application/json")],
            e.as_bytes(),
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(&r.body, want, "{e}");
        let v: Value = serde_json::from_str(want).unwrap();
        assert_eq!(
            r.headers.get("govern-decision").map(String::as_str),
            v["decision"].as_str()
        );
    }
    // The verdicts cover all three.
    let verdicts: std::collections::BTreeSet<String> = want
        .iter()
        .map(|w| serde_json::from_str::<Value>(w).unwrap()["decision"].to_string())
        .collect();
    assert_eq!(verdicts.len(), 3, "{want:?}");

    // A batch decides in order, as an array or as JSON lines.
    let array = format!("[{}]", events().join(","));
    let r = server.post("/v1/decide/batch", &array);
    assert_eq!(r.status, 200);
    let want_values: Vec<Value> = want
        .iter()
        .map(|w| serde_json::from_str(w).unwrap())
        .collect();
    assert_eq!(r.json().as_array().unwrap(), &want_values);
    let lines = events().join("\n");
    let r = server.connect().request(
        "POST",
        "/v1/decide/batch",
        &[("content-type", "application/x-ndjson")],
        lines.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let got: Vec<&str> = r.body.lines().collect();
    assert_eq!(got, want);
    assert_eq!(r.headers["govern-decision"], "deny");

    // The bundle, health, readiness and metrics.
    let info = server.get("/v1/bundle").json();
    let digest = serde_json::from_str::<Value>(&want[0]).unwrap()["bundle"].clone();
    assert_eq!(info["digest"], digest);
    assert_eq!(info["rules"], 6);
    assert_eq!(info["signature"]["verified"], false);
    assert_eq!(server.get("/healthz").status, 200);
    let ready = server.get("/readyz");
    assert_eq!(
        (ready.status, ready.json()["bundle"].clone()),
        (200, digest)
    );
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    for want in [
        // Three rounds of the seven events.
        "govern_decisions_total{verdict=\"escalate\"} 6",
        "govern_decisions_total{verdict=\"allow\"} 3",
        "govern_decisions_total{verdict=\"deny\"} 12",
        "govern_rule_decisions_total{rule=\"finance_agent.no_secrets\",verdict=\"deny\"} 6",
        "govern_decision_seconds_count 21",
        "# EOF",
    ] {
        assert!(metrics.body.contains(want), "{want} in\n{}", metrics.body);
    }

    // A body that arrives in pieces (chunked, with pauses, so that the server reads it in
    // several reads) is decided as the whole event, and so is one that comes at once.
    for pause in [Duration::from_millis(60), Duration::ZERO] {
        let e = &events()[1];
        let (a, b) = e.split_at(e.len() / 2);
        let mut c = server.connect();
        c.w.write_all(b"POST /v1/decide HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n").unwrap();
        for piece in [a, b] {
            c.w.write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())
                .unwrap();
            std::thread::sleep(pause);
        }
        c.w.write_all(b"0\r\n\r\n").unwrap();
        let r = c.read().unwrap();
        assert_eq!((r.status, &r.body), (200, &want[1]), "{pause:?}");
    }
    assert_eq!(server.stop(), 0);
}

/// A request (method, path, headers, body) and the status and reason it gets.
type Case<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<u8>,
    u16,
    &'a str,
);

#[test]
fn bad_requests_are_denied_with_the_reason() {
    let dir = scratch("bad");
    let b = brief(&dir);
    let server = Server::start(
        &dir,
        &[
            "--bundle",
            b.to_str().unwrap(),
            "--request-timeout",
            "1",
            "--idle-timeout",
            "2",
        ],
    );
    let json = [("content-type", "application/json")];
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/decide",
            json.to_vec(),
            b"{\"tool\":".to_vec(),
            400,
            "unexpected end of input",
        ),
        (
            "POST",
            "/v1/decide",
            json.to_vec(),
            b"[1,2]".to_vec(),
            400,
            "not a JSON object",
        ),
        (
            "POST",
            "/v1/decide",
            json.to_vec(),
            b"".to_vec(),
            400,
            "empty input",
        ),
        (
            "POST",
            "/v1/decide",
            json.to_vec(),
            b"{\"tool\":\"x\"} {}".to_vec(),
            400,
            "trailing",
        ),
        (
            "POST",
            "/v1/decide",
            json.to_vec(),
            b"{\"tool\":\"\xff\"}".to_vec(),
            400,
            "not valid UTF-8",
        ),
        (
            "POST",
            "/v1/decide",
            json.to_vec(),
            format!("{}1{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
            400,
            "nesting deeper than 128",
        ),
        (
            "POST",
            "/v1/decide",
            json.to_vec(),
            format!("{{\"args\":{}1{}}}", "{\"a\":".repeat(200), "}".repeat(200)).into_bytes(),
            400,
            "nesting deeper than 128",
        ),
        (
            "POST",
            "/v1/decide",
            vec![("content-type", "text/html")],
            b"{}".to_vec(),
            415,
            "is not JSON",
        ),
        (
            "POST",
            "/v1/decide/batch",
            json.to_vec(),
            b"[{},".to_vec(),
            400,
            "not a JSON array",
        ),
        ("GET", "/v1/decide", vec![], vec![], 405, "not allowed"),
        ("DELETE", "/v1/bundle", vec![], vec![], 405, "not allowed"),
        (
            "GET",
            "/v2/nothing%1b[31m",
            vec![],
            vec![],
            404,
            "no such endpoint",
        ),
    ];
    for (method, path, headers, body, status, reason) in cases {
        let mut c = server.connect();
        let r = c.request(method, path, &headers, &body);
        assert_eq!(
            r.status,
            status,
            "{method} {path} {:?}: {r:?}",
            String::from_utf8_lossy(&body)
        );
        let why = r.assert_deny();
        assert!(why.contains(reason), "{reason} in {why:?}");
        // Never a terminal escape from the input in the reason.
        assert!(!why.contains('\x1b'), "{why:?}");
    }
    // What is not HTTP at all (a control byte in the request line, a header without a
    // colon) is refused by the HTTP parser itself: 400 and the connection closed.
    for head in [
        &b"GET /x\x1b[31m HTTP/1.1\r\nhost: t\r\n\r\n"[..],
        b"POST /v1/decide HTTP/1.1\r\nno colon here\r\n\r\n",
    ] {
        let mut c = server.connect();
        c.w.write_all(head).unwrap();
        let r = c.read().unwrap();
        assert_eq!(r.status, 400, "{r:?}");
        assert_eq!(
            r.headers.get("connection").map(String::as_str),
            Some("close")
        );
    }
    // In a batch, an event that is not one is denied in its place; the others are decided.
    let r = server.post("/v1/decide/batch", r#"[{"tool":"web_search"}, 7, "x"]"#);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert!(
        v[1]["error"]
            .as_str()
            .unwrap()
            .contains("not a JSON object"),
        "{v}"
    );
    // So is one nested too deep.
    let r = server.post(
        "/v1/decide/batch",
        &format!("[{{}},{}1{}]", "[".repeat(200), "]".repeat(200)),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(
        v[1]["error"]
            .as_str()
            .unwrap()
            .contains("nesting deeper than 128"),
        "{v}"
    );

    // Too large: said up front (content-length), or found while reading (chunked).
    let big = vec![b' '; (32 << 20) + 1];
    let mut c = server.connect();
    let head = format!(
        "POST /v1/decide HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        big.len()
    );
    c.w.write_all(head.as_bytes()).unwrap();
    // The answer may come (and the connection close) before the body is all sent.
    let _ = c.w.write_all(&big);
    let r = c.read().unwrap();
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.assert_deny().contains("over the limit"));
    let mut c = server.connect();
    let head = "POST /v1/decide HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    c.w.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 1 << 20];
    let mut refused = None;
    for _ in 0..40 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if c.w.write_all(&frame).is_err() {
            break;
        }
    }
    if let Ok(r) = c.read() {
        refused = Some(r);
    }
    let r = refused.expect("a response to an oversized chunked body");
    assert_eq!(r.status, 413, "{r:?}");
    r.assert_deny();

    // Slow clients: a body that never arrives gets 408 and a deny; headers that never end,
    // and a connection that says nothing, are closed.
    let mut c = server.connect();
    c.w.write_all(b"POST /v1/decide HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"to").unwrap();
    let r = c.read().unwrap();
    assert_eq!(r.status, 408, "{r:?}");
    r.assert_deny();
    for partial in [&b"POST /v1/decide HTTP/1.1\r\nhost: t\r\n"[..], b""] {
        let mut c = server.connect();
        c.w.write_all(partial).unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        let n = c.r.read_to_end(&mut buf);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "a slow client held its connection"
        );
        // Closed: at most an error response, then the end of the stream.
        assert!(n.is_ok() || buf.is_empty(), "{n:?}");
    }
    // A head sent a byte at a time moves bytes well within the idle timeout (2 s) but never
    // ends: it is cut off after the request timeout (1 s), long before it is all sent.
    let mut c = server.connect();
    let drip = b"POST /v1/decide HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\nx-slow: ";
    let mut cut = false;
    for i in 0..60 {
        let byte = drip.get(i).copied().unwrap_or(b'a');
        if c.w.write_all(&[byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !cut {
        // The last writes may have gone through after the server closed: the end of the
        // stream is there already then (not after the idle timeout, 2 s after the last byte).
        c.w.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = Vec::new();
        cut = c.r.read_to_end(&mut buf).is_ok();
    }
    assert!(
        cut,
        "a head sent a byte every 100 ms held its connection for 6 s"
    );
    // A request's headers never reach an answer (the server reuses requests' header maps
    // for its answers), on one connection and across connections.
    let mut c = server.connect();
    for i in 0..3 {
        let r = c.request(
            "POST",
            "/v1/decide",
            &[
                ("content-type", "application/json"),
                ("x-leak", "1"),
                ("x-other", "2"),
            ],
            events()[0].as_bytes(),
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        assert_eq!(
            r.headers.get("govern-decision").map(String::as_str),
            Some("allow")
        );
        assert!(
            !r.headers.contains_key("x-leak") && !r.headers.contains_key("x-other"),
            "{i}: {r:?}"
        );
        let r = server.get("/healthz");
        assert!(!r.headers.contains_key("x-leak"), "{r:?}");
    }
    // A client that shuts its writing side once its request is sent (a half-close) still
    // gets the answer, and then the end of the stream. (Before half-closes were allowed,
    // hyper often saw the end of the stream while the request was being decided and closed
    // the connection without an answer: 21 times in 50.)
    for i in 0..20 {
        // Each from its own agent: the bundle's rate limit does not deny them.
        let ev = events()[0].replace(r#""id":"a""#, &format!(r#""id":"half-{i}""#));
        let req = format!(
            "POST /v1/decide HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ev}",
            ev.len()
        );
        let mut c = server.connect();
        c.w.write_all(req.as_bytes()).unwrap();
        c.w.shutdown(std::net::Shutdown::Write).unwrap();
        let r = c
            .read()
            .unwrap_or_else(|e| panic!("{i}: no answer to a half-closed request: {e}"));
        assert_eq!(
            (r.status, r.json()["decision"].clone()),
            (200, Value::from("allow")),
            "{r:?}"
        );
        let mut rest = Vec::new();
        c.r.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{rest:?}");
    }
    // Bad requests are counted.
    let metrics = server.get("/metrics").body;
    for reason in ["malformed", "too_large", "header", "not_found", "timeout"] {
        assert!(
            metrics.contains(&format!("govern_bad_requests_total{{reason=\"{reason}\"}}")),
            "{reason}:\n{metrics}"
        );
    }
    // It still decides.
    let r = server.post("/v1/decide", &events()[0]);
    assert_eq!(
        (r.status, r.json()["decision"].clone()),
        (200, Value::from("allow"))
    );
}

/// Several clients at once, each an agent with its own rate limit: each client's decisions
/// are exactly those `eval` takes on that client's events, however the requests interleave.
#[test]
fn concurrent_clients_decide_as_eval() {
    let dir = scratch("concurrent");
    let b = bundle(
        &dir,
        "rate.govb",
        r#"
tool web_search(query: string)
tool file_read(path: string)
default deny
policy p {
  rule read: allow when tool in ["web_search", "file_read"]
  rule secrets: deny when tool == "file_read" and args.path ends_with ".env" because "no secrets"
  rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1h, per agent.id) >= 7 because "slow down"
}
"#,
    );
    let server = Server::start(&dir, &["--bundle", b.to_str().unwrap()]);
    let clients = 8;
    let per = 60;
    let streams: Vec<Vec<String>> = (0..clients)
        .map(|c| {
            (0..per)
                .map(|i| match i % 3 {
                    0 | 1 => format!(r#"{{"tool":"web_search","agent":{{"id":"agent-{c}"}},"args":{{"query":"q{i}"}}}}"#),
                    _ => format!(r#"{{"tool":"file_read","agent":{{"id":"agent-{c}"}},"args":{{"path":"/x/{i}.env"}}}}"#),
                })
                .collect()
        })
        .collect();
    let got: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = streams
            .iter()
            .map(|events| {
                let server = &server;
                s.spawn(move || {
                    let mut c = server.connect();
                    events
                        .iter()
                        .map(|e| {
                            let r = c.request(
                                "POST",
                                "/v1/decide",
                                &[("content-type", "application/json")],
                                e.as_bytes(),
                            );
                            assert_eq!(r.status, 200);
                            r.body
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (events, got) in streams.iter().zip(&got) {
        assert_eq!(got, &eval(&dir, &b, events));
    }
    // The rate limit did fire, for every agent.
    for got in &got {
        assert!(got.iter().any(|d| d.contains("slow down")));
        assert!(got.iter().filter(|d| d.contains("\"allow\"")).count() >= 7);
    }
}

/// Bundles swapped under load: every request is answered, each wholly by one bundle (its
/// verdict is the one its digest gives), and both bundles were seen.
#[test]
fn hot_reload_under_load_never_mixes_bundles() {
    let dir = scratch("reload");
    let allow = bundle(
        &dir,
        "allow.govb",
        "default deny\npolicy p { rule ok: allow when tool == \"web_search\" }\n",
    );
    let deny = bundle(
        &dir,
        "deny.govb",
        "default deny\npolicy p { rule no: deny when tool == \"web_search\" because \"off\" }\n",
    );
    let digest = |p: &Path| {
        let (_, out, _) = govern(&dir, &["eval", "--bundle", p.to_str().unwrap()], "{}\n");
        serde_json::from_str::<Value>(&out).unwrap()["bundle"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (da, dd) = (digest(&allow), digest(&deny));
    let live = dir.join("live.govb");
    std::fs::copy(&allow, &live).unwrap();
    let server = Server::start(&dir, &["--bundle", "live.govb"]);
    let stop = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    let seen = Mutex::new(std::collections::BTreeSet::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut c = server.connect();
                while !stop.load(Ordering::Relaxed) {
                    let r = c.request(
                        "POST",
                        "/v1/decide",
                        &[("content-type", "application/json")],
                        br#"{"tool":"web_search"}"#,
                    );
                    assert_eq!(r.status, 200, "{r:?}");
                    let v = r.json();
                    let b = v["bundle"].as_str().unwrap().to_string();
                    let want = if b == da {
                        "allow"
                    } else if b == dd {
                        "deny"
                    } else {
                        panic!("unknown bundle {b}")
                    };
                    assert_eq!(v["decision"], want, "{v}");
                    seen.lock().unwrap().insert(b);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // Replace the bundle as a deployment does (write aside, rename over).
        for i in 0..12 {
            std::thread::sleep(Duration::from_millis(150));
            let from = if i % 2 == 0 { &deny } else { &allow };
            let tmp = dir.join("live.govb.tmp");
            std::fs::copy(from, &tmp).unwrap();
            std::fs::rename(&tmp, &live).unwrap();
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(answered.load(Ordering::Relaxed) > 100);
    let reloads = server.wait_log("reload", 2);
    assert!(reloads.iter().any(|r| r["bundle"] == dd));
    let info = server.get("/v1/bundle").json();
    assert!(info["reloads"]["loaded"].as_u64().unwrap() >= 2, "{info}");

    // SIGHUP reloads too (file watching off).
    assert_eq!(server.stop(), 0);
    std::fs::copy(&allow, &live).unwrap();
    let server = Server::start(&dir, &["--bundle", "live.govb", "--no-watch"]);
    std::fs::copy(&deny, dir.join("live.govb.tmp")).unwrap();
    std::fs::rename(dir.join("live.govb.tmp"), &live).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.post("/v1/decide", r#"{"tool":"web_search"}"#).json()["bundle"],
        da
    );
    server.signal("HUP");
    server.wait_log("reload", 1);
    assert_eq!(
        server.post("/v1/decide", r#"{"tool":"web_search"}"#).json()["bundle"],
        dd
    );
}

/// With a trust file, a bundle whose signature does not verify is refused on reload: the
/// bundle in force stays, and the log, /v1/bundle and the metrics say so.
#[test]
fn a_tampered_bundle_is_refused_on_reload() {
    let dir = scratch("tampered");
    let b = brief(&dir);
    let (code, keyid, err) = govern(&dir, &["keygen", "-o", "publisher"], "");
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        dir.join("trust.yaml"),
        format!(
            "version: 1\nkeys:\n  {}:\n    name: publisher\n    path: publisher.pub\n",
            keyid.trim()
        ),
    )
    .unwrap();
    let (code, _, err) = govern(
        &dir,
        &[
            "sign",
            "brief.govb",
            "--key",
            "publisher.key",
            "--version",
            "1.0.0",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let server = Server::start(&dir, &["--bundle", "brief.govb", "--trust", "trust.yaml"]);
    let info = server.get("/v1/bundle").json();
    assert_eq!(info["signature"]["verified"], true);
    assert_eq!(info["signature"]["version"], "1.0.0");
    let digest = info["digest"].clone();
    // Flip one byte of the bundle (what a compromised deployment might do).
    let mut bytes = std::fs::read(&b).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(dir.join("brief.govb.tmp"), &bytes).unwrap();
    std::fs::rename(dir.join("brief.govb.tmp"), &b).unwrap();
    let refused = server.wait_log("reload_refused", 1);
    // Reading the files to verify them is not a change: one refusal, not one every reload.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(server.wait_log("reload_refused", 1).len(), 1);
    assert!(
        refused[0]["errors"].to_string().contains("refused bundle"),
        "{refused:?}"
    );
    let info = server.get("/v1/bundle").json();
    assert_eq!(info["digest"], digest);
    assert!(
        info["last_refused"]["error"]
            .as_str()
            .unwrap()
            .contains("refused bundle")
    );
    assert!(
        server
            .get("/metrics")
            .body
            .contains("govern_reloads_total{result=\"refused\"} 1")
    );
    let r = server.post("/v1/decide", &events()[0]);
    assert_eq!(
        (r.status, r.json()["bundle"].clone()),
        (200, digest.clone())
    );
    // An unreadable bundle file is refused the same way.
    std::fs::remove_file(&b).unwrap();
    server.signal("HUP");
    server.wait_log("reload_refused", 2);
    assert_eq!(
        server.post("/v1/decide", &events()[0]).json()["bundle"],
        digest
    );
    // A bundle that fails at start is not served at all.
    let (code, _, err) = govern(
        &dir,
        &["serve", "--bundle", "brief.govb", "--trust", "trust.yaml"],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("brief.govb"), "{err}");
}

/// SIGTERM while clients are deciding: every request that got an answer got a whole one,
/// and the server exits 0 once those in flight are done.
#[test]
fn sigterm_drains_requests_in_flight() {
    let dir = scratch("sigterm");
    let b = brief(&dir);
    let server = Server::start(&dir, &["--bundle", b.to_str().unwrap()]);
    let answered = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    // Stateless and allowed (a web search would meet the rate limit).
    let event = r#"{"tool":"file_read","args":{"path":"/srv/report.txt"},"agent":{"id":"a","trust":900,"roles":["finance"]}}"#;
    let code = std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut c = server.connect();
                // Until the connection closes between requests: the drain is done with it.
                while let Ok(r) = c.try_request(
                    "POST",
                    "/v1/decide",
                    &[("content-type", "application/json")],
                    event.as_bytes(),
                ) {
                    assert_eq!(r.status, 200, "{r:?}");
                    assert_eq!(r.json()["decision"], "allow", "{r:?}");
                    answered.fetch_add(1, Ordering::Relaxed);
                    if r.headers.get("connection").map(String::as_str) == Some("close") {
                        break;
                    }
                }
                finished.fetch_add(1, Ordering::Relaxed);
            });
        }
        while answered.load(Ordering::Relaxed) < 200 {
            if finished.load(Ordering::Relaxed) > 0 {
                // A client stopped early: it failed, and the scope reports its panic once the
                // server is stopped.
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        server.stop()
    });
    assert_eq!(code, 0);
    let log = server.log();
    assert!(log.iter().any(|v| v["event"] == "draining"));
    assert!(log.iter().any(|v| v["event"] == "stopped"));
    assert!(TcpStream::connect(&server.addr).is_err());
}

#[test]
fn listens_on_a_unix_socket() {
    let dir = scratch("unix");
    let b = brief(&dir);
    let sock = dir.join("govern.sock");
    let listen = format!("unix:{}", sock.display());
    let server = Server::start(
        &dir,
        &["--bundle", b.to_str().unwrap(), "--listen", &listen],
    );
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let body = &events()[1];
    write!(
        s,
        "POST /v1/decide HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("secret files are off limits"), "{text}");
    assert_eq!(server.stop(), 0);
    assert!(!sock.exists(), "the socket is removed on a clean stop");
}

/// Real clients: Python's standard library and the `requests` library, against the API.
#[test]
fn http_client_peers() {
    if peers::skipped("http client peers") {
        return;
    }
    let dir = scratch("peers");
    let b = brief(&dir);
    let want = eval(&dir, &b, &events());
    let server = Server::start(&dir, &["--bundle", b.to_str().unwrap()]);
    let script = r#"
import http.client, json, sys, requests
host, port = sys.argv[1].rsplit(":", 1)
events = json.loads(sys.argv[2])
out = []
conn = http.client.HTTPConnection(host, int(port))
for e in events:
    conn.request("POST", "/v1/decide", body=json.dumps(e), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read().decode()
    assert r.status == 200, (r.status, body)
    assert r.getheader("govern-decision") == json.loads(body)["decision"]
    out.append(body)
with requests.Session() as s:
    r = s.post(f"http://{sys.argv[1]}/v1/decide/batch", json=events)
    r.raise_for_status()
    out.append(json.dumps([json.dumps(d, separators=(",", ":")) for d in r.json()]))
    bad = s.post(f"http://{sys.argv[1]}/v1/decide", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["decision"] == "deny", bad.text
    assert s.get(f"http://{sys.argv[1]}/readyz").json()["status"] == "ready"
print(json.dumps(out))
"#;
    let events_json: Vec<Value> = events()
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let (ok, out, err) = peers::run_python(
        script,
        &[
            server.addr.as_ref(),
            serde_json::to_string(&events_json).unwrap().as_ref(),
        ],
    );
    assert!(ok, "{err}");
    let got: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(&got[..want.len()], &want[..]);
    // The batch through `requests` decides the same (compared as JSON values).
    let batch: Vec<String> = serde_json::from_str(&got[want.len()]).unwrap();
    for (g, w) in batch.iter().zip(&want) {
        assert_eq!(
            serde_json::from_str::<Value>(g).unwrap(),
            serde_json::from_str::<Value>(w).unwrap()
        );
    }
}

// ---------------------------------------------------------------------------------------
// `govern eval` as a coprocess.

/// One event written to a child `govern eval`, its decision read before the next is written:
/// each decision comes as soon as its line is read (a buffered eval would never answer), and
/// the decisions are those of the same events read from a file (decided in parallel blocks).
#[test]
fn eval_answers_each_line_of_a_pipe_at_once() {
    let dir = scratch("coprocess");
    let b = brief(&dir);
    // A stream with state (the rate limit fires after ten searches) and bad lines.
    let sample = events();
    let mut events = Vec::new();
    for i in 0..40 {
        events.push(match i % 4 {
            0 | 1 => format!(r#"{{"tool":"web_search","args":{{"query":"q{i}"}},"agent":{{"id":"a","trust":900,"roles":["finance"]}}}}"#),
            2 => sample[i % 7].clone(),
            _ if i == 19 => "not json".to_string(),
            _ => format!(r#"{{"tool":"file_read","args":{{"path":"/srv/{i}.env"}},"agent":{{"id":"b","trust":900,"roles":["finance"]}}}}"#),
        });
    }
    let file = dir.join("events.jsonl");
    std::fs::write(
        &file,
        events.iter().map(|e| format!("{e}\n")).collect::<String>(),
    )
    .unwrap();
    let (code, out, err) = govern(
        &dir,
        &[
            "eval",
            "--bundle",
            b.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 2, "{err}");
    let want: Vec<&str> = out.lines().collect();
    assert_eq!(want.len(), events.len());
    assert!(
        want.iter().any(|d| d.contains("\"finance_agent.rate\"")),
        "{out}"
    );

    let mut child = Command::new(BIN)
        .args(["eval", "--bundle", b.to_str().unwrap()])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    // Lines arrive on a channel so that a decision that never comes fails the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    for (i, (e, w)) in events.iter().zip(&want).enumerate() {
        stdin.write_all(format!("{e}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        let got = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!("no decision for event {} while eval waits for more", i + 1)
            });
        assert_eq!(&got, w, "event {}", i + 1);
    }
    // Nothing more than one decision per event.
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    drop(stdin);
    assert_eq!(
        child.wait().unwrap().code(),
        Some(2),
        "a bad line makes the status 2"
    );
}

/// `eval` reads what `simulate` reads: OTLP spans, MCP messages (only tool calls are events),
/// gzipped files and standard input; its decisions are simulate's, one per event.
#[test]
fn eval_reads_traces_as_simulate_does() {
    let dir = scratch("eval-formats");
    let b = brief(&dir);
    let traces = Path::new(ROOT).join("testdata/traces");
    for (name, format) in [
        ("otel-genai.jsonl", "otel"),
        ("otel-genai-pretty.json", "otel"),
        ("mcp-gateway.jsonl", "mcp"),
        ("mcp-client.jsonl", "mcp"),
    ] {
        let path = traces.join(name);
        let (code, sim, err) = govern(
            &dir,
            &[
                "simulate",
                "--bundle",
                b.to_str().unwrap(),
                "--format",
                "jsonl",
                path.to_str().unwrap(),
            ],
            "",
        );
        assert_eq!(code, 0, "{name}: {err}");
        // simulate's lines with what only simulate says (where, recorded) taken out.
        let want: Vec<Value> = sim
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                for k in ["file", "line", "column", "recorded"] {
                    v.as_object_mut().unwrap().remove(k);
                }
                v
            })
            .collect();
        assert!(!want.is_empty(), "{name}");
        let decisions = |out: &str| -> Vec<Value> {
            out.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let gz = dir.join(format!("{name}.gz"));
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let bundle = b.to_str().unwrap();
        for args in [
            vec!["eval", "--bundle", bundle, path.to_str().unwrap()],
            vec![
                "eval",
                "--bundle",
                bundle,
                "--input-format",
                format,
                path.to_str().unwrap(),
            ],
            vec!["eval", "--bundle", bundle, gz.to_str().unwrap()],
        ] {
            let (code, out, err) = govern(&dir, &args, "");
            assert_eq!(code, 0, "{args:?}: {err}");
            assert_eq!(decisions(&out), want, "{args:?}");
        }
        // Standard input, gzipped, through a pipe.
        let (code, out, err) = {
            let mut child = Command::new(BIN)
                .args(["eval", "--bundle", bundle])
                .current_dir(&dir)
                .stdin(std::fs::File::open(&gz).unwrap())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let _ = child.stdin.take();
            let o = child.wait_with_output().unwrap();
            (
                o.status.code(),
                String::from_utf8(o.stdout).unwrap(),
                String::from_utf8(o.stderr).unwrap(),
            )
        };
        assert_eq!(code, Some(0), "{name} on stdin: {err}");
        assert_eq!(decisions(&out), want, "{name} on stdin");
    }
    // Read as plain events, an MCP log's messages are each an event (and decided deny):
    // more decisions than tool calls.
    let mcp = traces.join("mcp-gateway.jsonl");
    let (_, as_mcp, _) = govern(
        &dir,
        &[
            "eval",
            "--bundle",
            b.to_str().unwrap(),
            mcp.to_str().unwrap(),
        ],
        "",
    );
    let (_, as_jsonl, _) = govern(
        &dir,
        &[
            "eval",
            "--bundle",
            b.to_str().unwrap(),
            "--input-format",
            "jsonl",
            mcp.to_str().unwrap(),
        ],
        "",
    );
    assert!(as_jsonl.lines().count() > as_mcp.lines().count());
    // A log with no event in it says so.
    std::fs::write(
        dir.join("hello.jsonl"),
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}\n",
    )
    .unwrap();
    let (code, out, err) = govern(
        &dir,
        &["eval", "--bundle", b.to_str().unwrap(), "hello.jsonl"],
        "",
    );
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("none is an agent action"), "{err}");
}

/// The Python client example (standard library only), against `govern serve` over TCP and a
/// Unix socket and against a `govern eval` coprocess: the tool runs exactly when the decision
/// is allow, and a server that is gone is a refusal.
#[test]
fn python_client_example() {
    if peers::skipped("python client example") {
        return;
    }
    let dir = scratch("client-example");
    let b = brief(&dir);
    let example = Path::new(ROOT).join("examples/govern_client.py");
    let want: Vec<String> = eval(&dir, &b, &events())
        .iter()
        .map(|d| {
            let v: Value = serde_json::from_str(d).unwrap();
            match v["decision"].as_str().unwrap() {
                "allow" => "ran".to_string(),
                other => format!("refused {other}"),
            }
        })
        .collect();
    assert!(want.iter().any(|w| w == "ran") && want.iter().any(|w| w == "refused escalate"));
    let input: String = events().iter().map(|e| format!("{e}\n")).collect();
    let run = |args: &[&str]| -> Vec<String> {
        let mut child = Command::new(peers::python())
            .arg(&example)
            .args(args)
            .current_dir(&dir)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    Path::new(BIN).parent().unwrap().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            // "refused deny: secret files are off limits" → "refused deny"
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    let server = Server::start(&dir, &["--bundle", b.to_str().unwrap()]);
    assert_eq!(run(&["serve", &server.addr]), want);
    let sock = dir.join("govern.sock");
    let listen = format!("unix:{}", sock.display());
    let unix = Server::start(
        &dir,
        &["--bundle", b.to_str().unwrap(), "--listen", &listen],
    );
    assert_eq!(run(&["serve", &listen]), want);
    assert_eq!(run(&["eval", b.to_str().unwrap()]), want);

    // The wrapper: the tool function runs only on allow; reasons reach the caller; a server
    // that has stopped is a refusal, not a call.
    let script = r#"
import sys
sys.path.insert(0, sys.argv[1])
import govern_client as g
calls = []
c = g.ServeClient(sys.argv[2])
agent = {"id": "a", "trust": 900, "roles": ["finance"]}
read = g.guarded(c.decide, "file_read", lambda path: calls.append(path) or "contents", agent)
assert read(path="/srv/report.txt") == "contents"
try:
    read(path="/etc/passwd")
    raise SystemExit("a denied call ran")
except g.Refused as r:
    assert r.verdict == "deny" and "secret files" in r.reason, r
pay = g.guarded(c.decide, "transfer_funds", lambda **a: calls.append(a), agent)
try:
    pay(amount=5000, to="x", currency="EUR")
    raise SystemExit("an escalated call ran")
except g.Refused as r:
    assert r.verdict == "escalate" and "human approver" in r.reason, r
assert calls == ["/srv/report.txt"], calls
c.close()
print("ok")
"#;
    let (ok, out, err) = peers::run_python(
        script,
        &[example.parent().unwrap().as_os_str(), server.addr.as_ref()],
    );
    assert!(ok && out.trim() == "ok", "{out}{err}");
    let addr = server.addr.clone();
    assert_eq!(server.stop(), 0);
    let script = r#"
import sys
sys.path.insert(0, sys.argv[1])
import govern_client as g
ran = []
f = g.guarded(g.ServeClient(sys.argv[2], timeout=2).decide, "web_search", lambda query: ran.append(1))
try:
    f(query="x")
    raise SystemExit("ran without a decision")
except g.Refused as r:
    assert r.verdict == "deny" and "no decision" in r.reason, r
assert not ran
print("ok")
"#;
    let (ok, out, err) = peers::run_python(
        script,
        &[example.parent().unwrap().as_os_str(), addr.as_ref()],
    );
    assert!(ok && out.trim() == "ok", "{out}{err}");
    drop(unix);
}

/// The OpenAPI document is valid (openapi-spec-validator), and what the server answers fits
/// the schemas it gives (jsonschema): decisions, refusals, batches, the bundle, readiness.
#[test]
fn openapi_document_describes_the_server() {
    if peers::skipped("openapi document") {
        return;
    }
    let dir = scratch("openapi");
    let b = brief(&dir);
    let server = Server::start(&dir, &["--bundle", b.to_str().unwrap()]);
    let mut samples = serde_json::Map::new();
    samples.insert(
        "Decision".into(),
        server.post("/v1/decide", &events()[2]).json(),
    );
    samples.insert("Refused".into(), server.post("/v1/decide", "{oops").json());
    samples.insert(
        "Batch".into(),
        server
            .post("/v1/decide/batch", &format!("[{}]", events().join(",")))
            .json(),
    );
    samples.insert("BundleInfo".into(), server.get("/v1/bundle").json());
    samples.insert("Ready".into(), server.get("/readyz").json());
    let script = r##"
import json, sys
from openapi_spec_validator import validate
import jsonschema
spec = json.load(open(sys.argv[1]))
validate(spec)
samples = json.loads(sys.argv[2])
def check(ref, value):
    schema = {"$ref": ref, "components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(value)
check("#/components/schemas/Decision", samples["Decision"])
check("#/components/schemas/Decision", samples["Refused"])
for d in samples["Batch"]:
    check("#/components/schemas/Decision", d)
check("#/components/schemas/BundleInfo", samples["BundleInfo"])
ready = spec["paths"]["/readyz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
check("#/components/schemas/Digest", samples["Ready"]["bundle"])
jsonschema.Draft202012Validator(dict(ready, components=spec["components"])).validate(samples["Ready"])
# The schemas can fail: a decision without its verdict does not fit.
bad = dict(samples["Decision"]); del bad["decision"]
try:
    check("#/components/schemas/Decision", bad)
    raise SystemExit("a decision without a verdict fit the schema")
except jsonschema.ValidationError:
    pass
print("ok")
"##;
    let spec = Path::new(ROOT).join("docs/schemas/serve-openapi.json");
    let (ok, out, err) = peers::run_python(
        script,
        &[
            spec.as_os_str(),
            serde_json::to_string(&samples).unwrap().as_ref(),
        ],
    );
    assert!(ok && out.trim() == "ok", "{out}{err}");
}

/// A stateful policy: the `n`th web search of an agent within an hour is denied.
fn rate_policy(n: u32) -> String {
    format!(
        r#"
tool web_search(query: string)
tool file_read(path: string)
default deny
policy p {{
  rule read: allow when tool in ["web_search", "file_read"]
  rule secrets: deny when tool == "file_read" and args.path ends_with ".env" because "no secrets"
  rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1h, per agent.id) >= {n} because "slow down"
}}
"#
    )
}

/// Runs `govern replay-audit args…` in `dir`: (status, JSON report, stderr).
fn replay(dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["replay-audit", "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = govern(dir, &all, "");
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

/// The audit log of a server deciding for concurrent clients with a stateful policy, with a
/// hot reload in the middle of the run and a few requests that are not events: every answer
/// is in the log, in an order `replay-audit` decides again exactly (rate limits included,
/// fresh state at the reload); the last record is the signed checkpoint SIGTERM wrote; one
/// flipped byte and the log no longer verifies.
#[test]
fn audit_log_of_a_serve_run_replays() {
    let dir = scratch("audit");
    let store = dir.join("store");
    std::fs::create_dir_all(&store).unwrap();
    let v1 = bundle(&store, "v1.govb", &rate_policy(5));
    let v2 = bundle(&store, "v2.govb", &rate_policy(3));
    let live = dir.join("live.govb");
    std::fs::copy(&v1, &live).unwrap();
    let (code, _, err) = govern(&dir, &["keygen", "-o", "point"], "");
    assert_eq!(code, 0, "{err}");
    let server = Server::start(
        &dir,
        &[
            "--bundle",
            "live.govb",
            "--audit-log",
            "audit.jsonl",
            "--audit-key",
            "point.key",
            "--checkpoint-every",
            "40",
        ],
    );
    let v1_digest = server.get("/v1/bundle").json()["digest"].clone();
    let answered = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let replies: Mutex<Vec<Value>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for c in 0..4 {
            let (answered, stop, replies, server) = (&answered, &stop, &replies, &server);
            s.spawn(move || {
                let mut conn = server.connect();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = match i % 7 {
                        6 if c == 0 => r#"{"tool": "web_search", "#.to_string(),
                        5 => format!(r#"{{"tool":"file_read","agent":{{"id":"agent-{c}"}},"args":{{"path":"/x/{i}.env"}}}}"#),
                        _ => format!(r#"{{"tool":"web_search","agent":{{"id":"agent-{c}"}},"args":{{"query":"q{i}"}}}}"#),
                    };
                    let r = conn.request(
                        "POST",
                        "/v1/decide",
                        &[("content-type", "application/json")],
                        body.as_bytes(),
                    );
                    assert!(r.status == 200 || r.status == 400, "{r:?}");
                    replies.lock().unwrap().push(r.json());
                    answered.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        let wait_for = |n: usize| {
            let t = Instant::now();
            while answered.load(Ordering::Relaxed) < n {
                assert!(t.elapsed() < Duration::from_secs(120), "clients stalled");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        wait_for(150);
        // A new bundle, swapped in by a rename while the clients decide.
        std::fs::copy(&v2, dir.join("live.tmp")).unwrap();
        std::fs::rename(dir.join("live.tmp"), &live).unwrap();
        server.wait_log("reload", 1);
        let after = answered.load(Ordering::Relaxed);
        wait_for(after + 150);
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(server.stop(), 0, "{:?}", server.log());
    let replies = replies.into_inner().unwrap();
    // Both bundles decided, and the rate limits fired under each.
    let by = |digest: &Value| replies.iter().filter(|r| r["bundle"] == *digest).count();
    assert!(by(&v1_digest) > 0);
    assert!(by(&v1_digest) < replies.len());
    assert!(replies.iter().any(|r| r["messages"][0] == "slow down"));
    assert!(replies.iter().any(|r| r["error"].is_string()));

    let text = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Every answer is recorded, with the decision the client got.
    let mut recorded: Vec<String> = records
        .iter()
        .filter(|r| r.get("kind").is_none())
        .map(|r| r["decision"].to_string())
        .collect();
    let mut got: Vec<String> = replies
        .iter()
        .map(|r| {
            // The record holds the decision with its members sorted.
            let v: Value = serde_json::from_str(&r.to_string()).unwrap();
            v.to_string()
        })
        .collect();
    recorded.sort();
    got.sort();
    assert_eq!(recorded, got);
    assert_eq!(
        records.iter().filter(|r| r["kind"] == "bundle").count(),
        2,
        "one bundle record at start, one at the reload"
    );
    assert_eq!(records.last().unwrap()["kind"], "checkpoint");
    assert!(
        records
            .iter()
            .any(|r| r.get("kind").is_none() && r["event"].is_null())
    );

    let (code, report, err) = replay(
        &dir,
        &["audit.jsonl", "--bundles", "store", "--key", "point.pub"],
    );
    assert_eq!(code, 0, "{report:#}\n{err}");
    assert_eq!(report["decisions"], replies.len() as u64);
    assert_eq!(report["replayed"], replies.len() as u64);
    assert_eq!(report["divergent"], 0);
    assert_eq!(report["last_checkpoint"], report["head_seq"]);

    // One byte changed in the middle of the log (a hex digit of a record's hash, so that the
    // record still reads): caught as tampering.
    let mid = text.len() / 2;
    let at = mid + text[mid..].find("\"hash\":\"sha256:").unwrap() + 20;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(dir.join("audit.jsonl"), &bytes).unwrap();
    let (code, _, _) = replay(
        &dir,
        &["audit.jsonl", "--bundles", "store", "--key", "point.pub"],
    );
    assert_eq!(code, 1);
}

/// An audit log that stops taking records (the file size limit of a full disk): without
/// --audit-required the server keeps deciding, counts the error and says so; with it, every
/// later decision is a `503` deny saying why, and the server is not ready.
#[test]
fn an_audit_log_that_cannot_be_written() {
    for required in [false, true] {
        let dir = scratch(if required {
            "audit-required"
        } else {
            "audit-optional"
        });
        let b = bundle(&dir, "rate.govb", &rate_policy(1000));
        // Writes past 64 KiB fail (EFBIG) instead of killing the process.
        let mut sh = Command::new("sh");
        sh.args(["-c", "trap '' XFSZ; ulimit -f 128; exec \"$0\" \"$@\"", BIN]);
        let mut args = vec![
            "--bundle",
            b.to_str().unwrap(),
            "--audit-log",
            "audit.jsonl",
            "--audit-sync",
            "always",
        ];
        if required {
            args.push("--audit-required");
        }
        let server = Server::start_in(&dir, sh, &args);
        let event = r#"{"tool":"web_search","agent":{"id":"a"},"args":{"query":"a query long enough to fill the log quickly with few requests"}}"#;
        let stopped = |s: &Server| {
            s.log()
                .iter()
                .any(|v| v["event"] == "audit" && v["level"] == "error")
        };
        let mut conn = server.connect();
        let mut after = 0;
        for _ in 0..5000 {
            let down = stopped(&server);
            let r = conn.request(
                "POST",
                "/v1/decide",
                &[("content-type", "application/json")],
                event.as_bytes(),
            );
            let d = r.json();
            if !required {
                assert_eq!(
                    (r.status, d["decision"].clone()),
                    (200, "allow".into()),
                    "{r:?}"
                );
            } else if r.status != 200 || down {
                // The decision whose record failed, and every one after it.
                assert_eq!(r.status, 503, "{r:?}");
                assert_eq!(d["decision"], "deny");
                let why = d["error"].as_str().unwrap();
                assert!(why.contains("the audit log cannot be written"), "{why}");
            }
            if down {
                after += 1;
                if after == 3 {
                    break;
                }
            }
        }
        assert_eq!(after, 3, "the log never stopped: {:?}", server.log());
        let audit_errors = server
            .log()
            .into_iter()
            .filter(|v| v["event"] == "audit" && v["level"] == "error")
            .collect::<Vec<_>>();
        assert_eq!(audit_errors.len(), 1, "said once: {:?}", server.log());
        let said = audit_errors[0]["message"].as_str().unwrap().to_string();
        assert!(said.contains("cannot be written"), "{said}");
        let metrics = server.get("/metrics").body;
        let line = metrics
            .lines()
            .find(|l| l.starts_with("govern_audit_write_errors_total"))
            .unwrap()
            .to_string();
        assert_ne!(line, "govern_audit_write_errors_total 0", "{metrics}");
        let ready = server.get("/readyz");
        if required {
            assert!(said.contains("every decision is denied"), "{said}");
            assert_eq!(ready.status, 503);
        } else {
            assert!(said.contains("without a record"), "{said}");
            assert_eq!(ready.status, 200);
            let r = server.post("/v1/decide", event);
            assert_eq!(
                (r.status, r.json()["decision"].clone()),
                (200, "allow".into())
            );
        }
        server.stop();
    }
}

/// `--state` pins what was loaded: a rollback to an older signed version, or a bundle signed
/// under another name, is refused at start and on reload (the bundle in force stays).
#[test]
fn state_file_refuses_rollbacks_at_start_and_reload() {
    let dir = scratch("state");
    brief(&dir);
    let (code, keyid, err) = govern(&dir, &["keygen", "-o", "publisher"], "");
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        dir.join("trust.yaml"),
        format!(
            "version: 1\nkeys:\n  {}:\n    name: publisher\n    path: publisher.pub\n",
            keyid.trim()
        ),
    )
    .unwrap();
    let sign = |version: &str, name: &str| {
        let (code, _, err) = govern(
            &dir,
            &[
                "sign",
                "brief.govb",
                "--key",
                "publisher.key",
                "--version",
                version,
                "--name",
                name,
            ],
            "",
        );
        assert_eq!(code, 0, "{err}");
        let sig = std::fs::read(dir.join("brief.govb.sig.json")).unwrap();
        std::fs::remove_file(dir.join("brief.govb.sig.json")).unwrap();
        sig
    };
    let old = sign("1.0.0", "brief");
    let other = sign("3.0.0", "other");
    let new = sign("2.0.0", "brief");
    std::fs::write(dir.join("brief.govb.sig.json"), &new).unwrap();
    let put = |sig: &[u8]| {
        std::fs::write(dir.join("sig.tmp"), sig).unwrap();
        std::fs::rename(dir.join("sig.tmp"), dir.join("brief.govb.sig.json")).unwrap();
    };
    let args = [
        "--bundle",
        "brief.govb",
        "--trust",
        "trust.yaml",
        "--state",
        "state.json",
    ];
    let server = Server::start(&dir, &args);
    assert_eq!(
        server.get("/v1/bundle").json()["signature"]["version"],
        "2.0.0"
    );
    assert!(
        std::fs::read_to_string(dir.join("state.json"))
            .unwrap()
            .contains("2.0.0")
    );
    // The older release put back: refused on reload, 2.0.0 stays in force.
    put(&old);
    let refused = server.wait_log("reload_refused", 1);
    assert!(
        refused[0]["errors"].to_string().contains("older"),
        "{refused:?}"
    );
    let info = server.get("/v1/bundle").json();
    assert_eq!(info["signature"]["version"], "2.0.0");
    assert!(
        info["last_refused"]["error"]
            .as_str()
            .unwrap()
            .contains("older")
    );
    // Signed under another name: refused too.
    put(&other);
    let refused = server.wait_log("reload_refused", 2);
    assert!(
        refused[1]["errors"].to_string().contains("another name"),
        "{refused:?}"
    );
    assert_eq!(server.stop(), 0);
    // And at start: neither is served.
    for (sig, why) in [(&old, "older"), (&other, "another name")] {
        put(sig);
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(&args);
        let (code, _, err) = govern(&dir, &all, "");
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(why), "{err}");
    }
    // Without the state file the rollback would have been served: the pin is what refused it.
    put(&old);
    let server = Server::start(&dir, &args[..4]);
    assert_eq!(
        server.get("/v1/bundle").json()["signature"]["version"],
        "1.0.0"
    );
    server.stop();
}

/// Stops a server, which must drain and exit 0 even when the SIGTERM comes right after it
/// says it listens (it takes its signals before it binds).
fn stopped(s: &Server) {
    let code = s.stop();
    assert_eq!(code, 0, "{:?}", s.log());
}

/// A server restarted on its audit log keeps its limits: the searches an agent made before a
/// crash (SIGKILL) and before a clean stop still count after the restart, the restarts are
/// bundle records saying the state was restored, and replay-audit reproduces the whole log.
/// Started with --fresh-state, the count resets (and the log says so): the test can fail.
#[test]
fn a_restarted_server_keeps_its_limits() {
    let dir = scratch("restart");
    let store = dir.join("store");
    std::fs::create_dir_all(&store).unwrap();
    let b = bundle(&store, "p.govb", &rate_policy(3));
    std::fs::copy(&b, dir.join("p.govb")).unwrap();
    let search = |i: u32| {
        format!(r#"{{"tool":"web_search","agent":{{"id":"a"}},"args":{{"query":"q{i}"}}}}"#)
    };
    let args = ["--bundle", "p.govb", "--audit-log", "audit.jsonl"];
    let verdict = |s: &Server, i: u32| s.post("/v1/decide", &search(i)).json()["decision"].clone();
    let s = Server::start(&dir, &args);
    assert_eq!(verdict(&s, 1), "allow");
    assert_eq!(verdict(&s, 2), "allow");
    // A crash: no clean close, no checkpoint.
    drop(s);
    let s = Server::start(&dir, &args);
    let restored = s.wait_log("audit", 2);
    assert!(
        restored.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("restored"))
            && l["decisions"] == 2),
        "{restored:?}"
    );
    assert_eq!(verdict(&s, 3), "allow");
    let r = s.post("/v1/decide", &search(4)).json();
    assert_eq!(r["decision"], "deny", "the fourth search in the hour: {r}");
    assert_eq!(r["messages"][0], "slow down");
    stopped(&s);
    // A clean restart: still denied.
    let s = Server::start(&dir, &args);
    assert_eq!(verdict(&s, 5), "deny");
    stopped(&s);
    // Fresh state on request: the count starts again.
    let mut fresh = args.to_vec();
    fresh.push("--fresh-state");
    let s = Server::start(&dir, &fresh);
    assert_eq!(verdict(&s, 6), "allow");
    stopped(&s);
    let text = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    let bundles: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "bundle")
        .collect();
    assert_eq!(bundles.len(), 4);
    assert_eq!(
        bundles[1]["restored"],
        serde_json::json!({"from": 0, "decisions": 2})
    );
    assert_eq!(
        bundles[2]["restored"],
        serde_json::json!({"from": 0, "decisions": 4})
    );
    assert_eq!(bundles[3]["fresh"], "opted-out");
    let (code, report, err) = replay(&dir, &["audit.jsonl", "--bundles", "store"]);
    assert_eq!(code, 0, "{report:#}\n{err}");
    assert_eq!(report["replayed"], 6);
    assert_eq!(report["divergent"], 0);
}
