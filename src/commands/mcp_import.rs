//! `govern mcp-import`: an MCP server's `tools/list` → `tool` declarations, or a
//! deny-by-default skeleton policy (see [`crate::mcp::import`]).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{DiagFormat, ImportFormat, McpImportArgs};
use crate::commands::{Ctx, Out, exit};
use crate::diag::{Diag, SourceFile};
use crate::mcp::import::{self, Imported, is_ident};
use crate::mcp::{Message, Peer, SERVER_INFO_META};

/// The largest tool list read (a file, standard input, or one line from a server):
/// [`crate::limits::TOOL_LIST`].
pub const MAX_INPUT: usize = crate::limits::TOOL_LIST.max as usize;
/// The most `tools/list` pages asked of a server.
pub const MAX_PAGES: usize = 1000;

pub fn run(ctx: &Ctx, args: &McpImportArgs) -> u8 {
    let (list, server, source) = if args.from_server {
        match ask_server(&args.command, Duration::from_secs(args.timeout)) {
            Ok((tools, server)) => {
                let source = match &server {
                    Some(p) => format!(
                        "the tools/list of `{}`{}",
                        p.name,
                        p.version
                            .as_deref()
                            .map(|v| format!(" {v}"))
                            .unwrap_or_default()
                    ),
                    None => "the tools/list of an MCP server".into(),
                };
                (tools, server, source)
            }
            Err(e) => {
                let shown: Vec<String> = args
                    .command
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                ctx.report(
                    &[Diag::error("govern::mcp", format!("cannot ask the MCP server: {e}"))
                        .help(format!(
                            "check that `{}` starts an MCP server speaking over standard input and output",
                            crate::source::printable(&shown.join(" "))
                        ))],
                    DiagFormat::Human,
                );
                return exit::ERROR;
            }
        }
    } else {
        let path = args.input.clone().unwrap_or_default();
        let name = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            crate::source::display(&path)
        };
        match read_input(&path).and_then(|text| {
            serde_json::from_slice::<Value>(&text).map_err(|e| format!("not valid JSON: {e}"))
        }) {
            Ok(v) => (v, None, name),
            Err(e) => {
                ctx.report(
                    &[
                        Diag::error("govern::mcp", format!("cannot read {name}: {e}"))
                            .in_file(name, None),
                    ],
                    DiagFormat::Human,
                );
                return exit::ERROR;
            }
        }
    };
    let imported = match import::tools_of(&list).and_then(import::import) {
        Ok(i) => i,
        Err(e) => {
            ctx.report(
                &[Diag::error("govern::mcp", format!("{source}: {e}"))
                    .help("pass a `tools/list` result: `{\"tools\":[…]}`, its JSON-RPC response, or an array of tools")],
                DiagFormat::Human,
            );
            return exit::ERROR;
        }
    };
    let policy_name = policy_name(args, server.as_ref());
    let raw = if args.skeleton {
        let subject = match &server {
            Some(p) => format!("the MCP server `{}`", p.name),
            None => source.clone(),
        };
        import::skeleton(&imported, &policy_name, &source, &subject)
    } else {
        import::declarations(&imported)
    };
    // The canonical layout, which also proves the text parses.
    let text = if raw.is_empty() {
        raw
    } else {
        match crate::fmt::format(&SourceFile::new("generated.gov", raw.as_str())) {
            Ok(t) => t,
            Err(diags) => {
                ctx.report(&diags, DiagFormat::Human);
                return exit::ERROR;
            }
        }
    };
    if let Some(path) = &args.output
        && let Err(e) = crate::fsutil::write_atomic(path, text.as_bytes(), None)
    {
        ctx.error(format!(
            "cannot write {}: {e}",
            crate::source::display(path)
        ));
        return exit::ERROR;
    }
    let mut out = Out::new();
    match args.format {
        ImportFormat::Text => {
            if args.output.is_none() {
                out.write_str(&text);
            }
            report_notes(ctx, &imported);
        }
        ImportFormat::Json => {
            out.line(&json_report(&imported, server.as_ref(), &source, &text).to_string());
        }
    }
    exit::OK
}

/// The skeleton's policy name: `--name`, else the server's name, else the file's stem, made
/// an identifier.
fn policy_name(args: &McpImportArgs, server: Option<&Peer>) -> String {
    let base = args
        .name
        .clone()
        .or_else(|| server.map(|p| p.name.clone()))
        .or_else(|| {
            args.input
                .as_ref()
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| s != "-")
        })
        .unwrap_or_else(|| "mcp_tools".into());
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !is_ident(&name) {
        name.insert_str(0, "mcp_");
    }
    if !is_ident(&name) {
        name = "mcp_tools".into();
    }
    name
}

fn report_notes(ctx: &Ctx, imported: &Imported) {
    let mut err = std::io::stderr().lock();
    for n in &imported.notes {
        let what = match &n.path {
            Some(p) => format!("tool `{}`, {p}", n.tool),
            None => format!("tool `{}`", n.tool),
        };
        let line = format!("{what}: {}", n.message);
        let line = crate::source::printable(&line);
        let _ = if ctx.color_err {
            writeln!(err, "\x1b[1;33mwarning\x1b[0m: {line}")
        } else {
            writeln!(err, "warning: {line}")
        };
    }
    if !imported.notes.is_empty() {
        let _ = writeln!(
            err,
            "{} {} of the tool list could not be declared (see above)",
            imported.notes.len(),
            if imported.notes.len() == 1 {
                "thing"
            } else {
                "things"
            }
        );
    }
}

fn type_json(t: &import::Type) -> Value {
    match t {
        import::Type::String => json!("string"),
        import::Type::Number => json!("number"),
        import::Type::Bool => json!("bool"),
        import::Type::List(t) => json!({"list": type_json(t)}),
        import::Type::Record(fields) => {
            let fields: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, t)| (k.clone(), type_json(t)))
                .collect();
            json!({ "record": fields })
        }
    }
}

fn json_report(imported: &Imported, server: Option<&Peer>, source: &str, text: &str) -> Value {
    let tools: Vec<Value> = imported
        .tools
        .iter()
        .map(|t| {
            let args: serde_json::Map<String, Value> = t
                .params
                .iter()
                .map(|(k, ty)| (k.clone(), type_json(ty)))
                .collect();
            json!({"name": t.name, "declared": t.declared, "arguments": args})
        })
        .collect();
    json!({
        "version": 1,
        "source": source,
        "server": server.map(|p| json!({"name": p.name, "version": p.version})),
        "tools": tools,
        "notes": imported.notes,
        "text": text,
    })
}

fn read_input(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let limit = (MAX_INPUT + 1) as u64;
    let read = if path.as_os_str() == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    read.map_err(|e| e.to_string())?;
    if buf.len() > MAX_INPUT {
        return Err(format!("larger than {} MiB", MAX_INPUT >> 20));
    }
    Ok(buf)
}

/// A server started as a child, spoken to over its standard input and output.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Result<Vec<u8>, String>>,
    timeout: Duration,
    /// The last 8 KiB the server wrote on standard error.
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stdin = None;
        // A server that does not stop when its input closes is stopped.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(command: &[OsString], timeout: Duration) -> Result<Server, String> {
        let Some((program, rest)) = command.split_first() else {
            return Err("no command after `--`".into());
        };
        let mut child = Command::new(program)
            .args(rest)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", program.to_string_lossy()))?;
        let stdout = child.stdout.take().ok_or("no standard output")?;
        let stderr = child.stderr.take().ok_or("no standard error")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match (&mut r)
                    .take((MAX_INPUT + 1) as u64)
                    .read_until(b'\n', &mut line)
                {
                    Ok(0) => break,
                    Ok(_) if line.len() > MAX_INPUT => {
                        let _ = tx.send(Err(format!(
                            "the server sent a line longer than {} MiB",
                            MAX_INPUT >> 20
                        )));
                        break;
                    }
                    Ok(_) => {
                        if tx.send(Ok(line)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("reading the server's output: {e}")));
                        break;
                    }
                }
            }
        });
        // The last 8 KiB of what the server says on standard error, for when it fails.
        let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = std::sync::Arc::clone(&tail);
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let Ok(mut tail) = keep.lock() else { break };
                tail.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                if tail.len() > 8192 {
                    let cut = tail.len() - 8192;
                    tail.drain(..cut);
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(Server {
            child,
            stdin,
            lines: rx,
            timeout,
            stderr: tail,
        })
    }

    fn send(&mut self, msg: &Value) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the server's input is closed")?;
        let mut text = msg.to_string();
        text.push('\n');
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to the server: {e}"))
    }

    /// Waits for the response to request `id`, answering the server's own requests
    /// (`ping` with an empty result, anything else with "method not found").
    fn response(&mut self, id: i64) -> Result<Message, String> {
        let deadline = Instant::now() + self.timeout;
        let want = crate::mcp::Id::of(&json!(id));
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l?,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("no answer within {} s", self.timeout.as_secs()));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the server closed its output before answering".into());
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let v: Value = serde_json::from_slice(&line).map_err(|e| {
                format!("the server wrote something that is not JSON on its standard output: {e}")
            })?;
            let msg =
                Message::parse(v).map_err(|e| format!("the server sent a bad message: {e}"))?;
            match &msg {
                Message::Response { id: Some(got), .. } if Some(got) == want.as_ref() => {
                    return Ok(msg);
                }
                Message::Request { id, method, .. } => {
                    let id: Value = serde_json::from_str(id.as_json()).unwrap_or(Value::Null);
                    let answer = if method == "ping" {
                        json!({"jsonrpc": "2.0", "id": id, "result": {}})
                    } else {
                        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "govern mcp-import answers no requests"}})
                    };
                    self.send(&answer)?;
                }
                _ => {}
            }
        }
    }

    /// Sends a request and waits for its result.
    fn call(
        &mut self,
        id: i64,
        method: &str,
        params: Value,
    ) -> Result<Result<Value, Value>, String> {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        match self.response(id)? {
            Message::Response {
                result: Some(r), ..
            } => Ok(Ok(r)),
            Message::Response { error: Some(e), .. } => Ok(Err(e)),
            _ => Err("a response with neither result nor error".into()),
        }
    }
}

fn error_text(e: &Value) -> String {
    e.get("message")
        .and_then(Value::as_str)
        .unwrap_or("(no message)")
        .to_string()
}

/// Starts the server, asks it for every page of `tools/list`, and stops it: the tool list
/// (as `{"tools":[…]}`) and the server's declared identity.
fn ask_server(command: &[OsString], timeout: Duration) -> Result<(Value, Option<Peer>), String> {
    let mut server = Server::start(command, timeout)?;
    ask(&mut server).map_err(|e| {
        let _ = server.child.kill();
        let _ = server.child.wait();
        // Give the reader of standard error a moment to take in the last words.
        std::thread::sleep(Duration::from_millis(50));
        let tail = server
            .stderr
            .lock()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        let tail = tail.trim();
        if tail.is_empty() {
            e
        } else {
            format!(
                "{e}; the server said on standard error:\n{}",
                crate::source::printable(tail)
            )
        }
    })
}

fn ask(server: &mut Server) -> Result<(Value, Option<Peer>), String> {
    let client_info = json!({"name": "govern", "version": env!("CARGO_PKG_VERSION")});
    let init = server.call(
        0,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client_info}),
    )?;
    let (mut peer, modern) = match init {
        Ok(r) => {
            server.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
            (r.get("serverInfo").and_then(Peer::of), false)
        }
        // A server of the stateless protocol only: no handshake, `_meta` on every request.
        Err(_) => (None, true),
    };
    let mut tools = Vec::new();
    let mut cursor: Option<Value> = None;
    for page in 0..MAX_PAGES {
        let mut params = serde_json::Map::new();
        if modern {
            params.insert(
                "_meta".into(),
                json!({
                    crate::mcp::PROTOCOL_VERSION_META: "2026-07-28",
                    crate::mcp::CLIENT_INFO_META: client_info,
                    crate::mcp::CLIENT_CAPABILITIES_META: {},
                }),
            );
        }
        if let Some(c) = cursor.take() {
            params.insert("cursor".into(), c);
        }
        let id = i64::try_from(page).unwrap_or(i64::MAX).saturating_add(1);
        let r = server
            .call(id, "tools/list", Value::Object(params))?
            .map_err(|e| {
                format!(
                    "the server answered `tools/list` with an error: {}",
                    error_text(&e)
                )
            })?;
        if peer.is_none() {
            peer = r
                .get("_meta")
                .and_then(|m| m.get(SERVER_INFO_META))
                .and_then(Peer::of);
        }
        match r.get("tools") {
            Some(Value::Array(a)) => tools.extend(a.iter().cloned()),
            _ => return Err("the `tools/list` result has no `tools` array".into()),
        }
        if tools.len() > import::MAX_TOOLS {
            return Err(format!("more than {} tools", import::MAX_TOOLS));
        }
        match r.get("nextCursor") {
            Some(c @ Value::String(_)) => cursor = Some(c.clone()),
            _ => return Ok((json!({ "tools": tools }), peer)),
        }
    }
    Err(format!("more than {MAX_PAGES} pages of tools"))
}
