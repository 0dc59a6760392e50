//! `govern mcp-proxy`: a decision point ([`crate::point`]) behind an MCP gateway
//! ([`crate::mcp::gateway`]) on standard input and output, in front of a server started as a
//! child process.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bytecode::model::Verdict;
use crate::cli::{DiagFormat, LogFormat, McpProxyArgs};
use crate::commands::{Ctx, exit};
use crate::limits::Line;
use crate::mcp::Direction;
use crate::mcp::gateway::{Config, Decided, Decider, DenyWith, Gateway, Output, Send};
use crate::mcp_http::capture::Capture;
use crate::point::log::{self, Log};
use crate::point::{Answer, Options, Parts, PartsScratch, Point, Source, Status};

/// The longest message read from either side: a trace line's limit (`docs/limits.md`).
pub const MAX_MESSAGE: crate::limits::Limit = crate::limits::TRACE_LINE;

/// Decides with a decision point.
pub struct PointDecider {
    point: Arc<Point>,
    scratch: PartsScratch,
    out: String,
}

impl PointDecider {
    pub fn new(point: Arc<Point>) -> PointDecider {
        PointDecider {
            point,
            scratch: PartsScratch::default(),
            out: String::with_capacity(256),
        }
    }

    /// The gateway's reading of the decision in `out`.
    fn decided(&self, a: Answer) -> Decided {
        /// The text of a decision without warnings (found once, not per decision).
        static NO_WARNINGS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(br#""warnings":[]"#));
        // An allow without warnings, as the point says it decided (its verdict, not read
        // back from the text; no text at all when decided from parts, briefly): nothing more
        // of the decision is needed. Anything else is read from its JSON.
        if a.status == Status::Decided
            && a.verdict == Verdict::Allow
            && (self.out.is_empty() || NO_WARNINGS.find(self.out.as_bytes()).is_some())
        {
            return Decided::allowed();
        }
        Decided::from_json(&self.out)
    }
}

impl Decider for PointDecider {
    fn decide(&mut self, event: &str) -> Decided {
        self.out.clear();
        let a = self
            .point
            .decide(event, &mut self.scratch.scratch, &mut self.out);
        self.decided(a)
    }

    fn decide_parts(&mut self, parts: &Parts<'_>) -> Decided {
        self.out.clear();
        let a = self
            .point
            .decide_parts_brief(parts, &mut self.scratch, &mut self.out);
        self.decided(a)
    }

    fn always_denied(&self, event: &Value) -> bool {
        let b = self.point.in_force();
        crate::mcp::hide::always_denied(&b.loaded.program.model, event)
    }
}

enum Ended {
    Client,
    Server,
}

pub fn run(ctx: &Ctx, args: &McpProxyArgs) -> u8 {
    let log = Arc::new(Log::new(
        match args.log_format {
            LogFormat::Human => log::LogFormat::Human,
            LogFormat::Json => log::LogFormat::Json,
        },
        Box::new(io::stderr()),
    ));
    let path = match (&args.bundle, &args.policy) {
        (Some(b), _) => b.clone(),
        (None, Some(p)) => {
            if !crate::point::load::is_policy(p) {
                ctx.error(format!(
                    "`{}` is not a policy file (`.gov`) or a directory of them: pass a compiled bundle with `--bundle`",
                    crate::source::display(p)
                ));
                return exit::ERROR;
            }
            p.clone()
        }
        (None, None) => {
            ctx.error("give the policy with `--policy PATH` or `--bundle FILE`");
            return exit::ERROR;
        }
    };
    let Some(audit) = super::recorder(ctx, &args.audit) else {
        return exit::ERROR;
    };
    let point = Point::open(Options {
        source: Source {
            bundle: path,
            signature: args.signature.clone(),
            trust: args.trust.clone(),
            state: None,
        },
        max_keys: args.max_keys,
        audit,
        audit_required: args.audit_required,
        log: Arc::clone(&log),
    });
    let point = match point {
        Ok(p) => Arc::new(p),
        Err(diags) => {
            ctx.report(&diags, DiagFormat::Human);
            return exit::ERROR;
        }
    };
    let capture = match &args.trace {
        Some(p) => match Capture::open(p) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                ctx.error(format!(
                    "cannot open the trace {}: {e}",
                    crate::source::display(p)
                ));
                return exit::ERROR;
            }
        },
        None => None,
    };
    let session = args.session.clone().unwrap_or_else(|| {
        format!(
            "mcp-{}-{}",
            std::process::id(),
            crate::stream::now_ns() / 1_000_000_000
        )
    });
    if let Some(url) = &args.upstream {
        return run_http(ctx, args, url, point, &log, capture, session);
    }
    let mut child = match start(&args.command) {
        Ok(c) => c,
        Err(e) => {
            ctx.error(e);
            return exit::ERROR;
        }
    };
    log.info(
        "start",
        "deciding the tool calls of an MCP server",
        &[
            (
                "server",
                json!(
                    args.command
                        .iter()
                        .map(|a| a.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ),
            ("bundle", json!(point.in_force().loaded.program.digest)),
            ("session", json!(session)),
        ],
    );
    reload_on_hangup(Arc::clone(&point), Arc::clone(&log));
    let gateway = Gateway::new(
        gateway_config(args, session.clone()),
        PointDecider::new(Arc::clone(&point)),
    );
    let (server_in, server_out) = match (child.stdin.take(), child.stdout.take()) {
        (Some(i), Some(o)) => (i, o),
        _ => {
            ctx.error("the server's standard input and output could not be opened");
            return exit::ERROR;
        }
    };
    let io = Arc::new(Io {
        gateway: Mutex::new(gateway),
        to_server: Mutex::new(Some(server_in)),
        to_client: Mutex::new(io::stdout()),
        log: Arc::clone(&log),
        capture,
        session,
    });
    let (tx, rx) = mpsc::channel();
    {
        let io = Arc::clone(&io);
        let tx = tx.clone();
        std::thread::spawn(move || {
            pump(
                &io,
                &mut BufReader::new(io::stdin().lock()),
                Direction::ClientToServer,
            );
            let _ = tx.send(Ended::Client);
        });
    }
    {
        let io = Arc::clone(&io);
        std::thread::spawn(move || {
            pump(
                &io,
                &mut BufReader::new(server_out),
                Direction::ServerToClient,
            );
            let _ = tx.send(Ended::Server);
        });
    }
    match rx.recv() {
        Ok(Ended::Client) => {
            // The client is done: close the server's input, let it finish, then stop it.
            if let Ok(mut s) = io.to_server.lock() {
                *s = None;
            }
            let status = wait(&mut child, Duration::from_secs(2));
            // Its last words reach the client before the proxy exits.
            let _ = rx.recv_timeout(Duration::from_secs(2));
            log.info(
                "stop",
                "the client ended the session",
                &[("server", json!(describe(status)))],
            );
            close(&point, &log)
        }
        Ok(Ended::Server) | Err(_) => {
            let status = wait(&mut child, Duration::from_secs(2));
            let why = format!("it exited ({})", describe(status));
            let mut out = Output::default();
            if let Ok(mut g) = io.gateway.lock() {
                g.server_gone(&why, &mut out);
            }
            io.dispatch(out);
            match close(&point, &log) {
                exit::OK => exit::FINDINGS,
                failed => failed,
            }
        }
    }
}

/// Closes the point's audit log (a final signed checkpoint): exit status 2 when it cannot.
fn close(point: &Point, log: &Log) -> u8 {
    match point.close() {
        Ok(None) => exit::OK,
        Ok(Some(head)) => {
            log.info(
                "audit",
                "the audit log is closed",
                &[("seq", json!(head.seq)), ("head", json!(head.hash))],
            );
            exit::OK
        }
        Err(e) => {
            log.error(
                "audit",
                &format!("the audit log could not be closed cleanly: {e}"),
                &[],
            );
            exit::ERROR
        }
    }
}

/// What the two directions share.
struct Io {
    gateway: Mutex<Gateway<PointDecider>>,
    to_server: Mutex<Option<ChildStdin>>,
    to_client: Mutex<io::Stdout>,
    log: Arc<Log>,
    capture: Option<Arc<Capture>>,
    session: String,
}

impl Io {
    fn dispatch(&self, out: Output) {
        for s in out.sends {
            match s {
                Send::Client(line) => {
                    self.trace(Direction::ServerToClient, &line);
                    if let Ok(mut w) = self.to_client.lock() {
                        let _ = write_line(&mut *w, &line);
                    }
                }
                Send::Server(line) => {
                    if let Ok(mut w) = self.to_server.lock()
                        && let Some(w) = w.as_mut()
                    {
                        // A server that stopped reading is found by its output ending.
                        let _ = write_line(w, &line);
                    }
                }
            }
        }
        crate::mcp_http::log_notes(&self.log, out.notes);
    }

    /// Appends a message the client sent or receives to the trace.
    fn trace(&self, dir: Direction, line: &[u8]) {
        if let Some(c) = &self.capture
            && let Err(e) = c.record(&self.session, dir, line)
        {
            self.log.error("trace", &e, &[]);
        }
    }
}

fn write_line(w: &mut impl Write, line: &[u8]) -> io::Result<()> {
    w.write_all(line)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Reads one side's lines into the gateway until its end.
fn pump(io: &Io, r: &mut impl BufRead, dir: Direction) {
    let mut buf = Vec::new();
    loop {
        let line = match crate::limits::read_line(r, &mut buf, MAX_MESSAGE) {
            Ok(l) => l,
            Err(e) => {
                let side = match dir {
                    Direction::ClientToServer => "the client",
                    Direction::ServerToClient => "the server",
                };
                io.log
                    .error("io", &format!("cannot read from {side}: {e}"), &[]);
                return;
            }
        };
        let mut out = Output::default();
        {
            let Ok(mut g) = io.gateway.lock() else { return };
            match (line, dir) {
                (Line::End, _) => return,
                (Line::TooLong { bytes }, d) => g.oversized(d, bytes, &mut out),
                (Line::Text, Direction::ClientToServer) => {
                    io.trace(Direction::ClientToServer, &buf);
                    g.from_client(&buf, &mut out);
                }
                (Line::Text, Direction::ServerToClient) => g.from_server(&buf, &mut out),
            }
            // Sent in the order decided, before the other side can decide again.
            io.dispatch(out);
        }
    }
}

/// Reloads the bundle (or compiles the policies again) on each SIGHUP: a refused one leaves
/// the one in force. A new bundle starts fresh stream state (see [`Point::reload`]).
fn reload_on_hangup(point: Arc<Point>, log: Arc<Log>) {
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                log.warn("signals", &format!("cannot listen for SIGHUP: {e}"), &[]);
                return;
            }
        };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                log.warn("signals", "cannot listen for SIGHUP", &[]);
                return;
            };
            while hup.recv().await.is_some() {
                match point.reload() {
                    Ok(crate::point::Reloaded::Changed { old, new }) => log.info(
                        "reload",
                        "a new bundle is in force",
                        &[("bundle", json!(new)), ("previous", json!(old))],
                    ),
                    Ok(crate::point::Reloaded::Unchanged(d)) => log.info(
                        "reload",
                        "the bundle files hold the bundle already in force",
                        &[("bundle", json!(d))],
                    ),
                    Err(diags) => {
                        let why: Vec<String> = diags.iter().map(|d| d.short()).collect();
                        log.error(
                            "reload_refused",
                            "the new bundle was refused; the bundle in force stays",
                            &[
                                ("bundle", json!(point.in_force().loaded.program.digest)),
                                ("errors", json!(why)),
                            ],
                        );
                    }
                }
            }
        });
    });
}

fn start(command: &[OsString]) -> Result<Child, String> {
    let Some((program, rest)) = command.split_first() else {
        return Err("no server command after `--`".into());
    };
    Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start the MCP server `{}`: {e}",
                program.to_string_lossy()
            )
        })
}

/// Waits for the child to exit, at most `grace`, then stops it.
fn wait(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return None,
        }
    }
    let _ = child.kill();
    child.wait().ok()
}

fn describe(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) => match s.code() {
            Some(c) => format!("exit status {c}"),
            None => format!("{s}"),
        },
        None => "status unknown".into(),
    }
}

/// The gateway's set-up from the command line (both transports).
fn gateway_config(args: &McpProxyArgs, session: String) -> Config {
    Config {
        agent: args.agent.clone(),
        session,
        deny_with: match args.deny_with {
            crate::cli::DenyWith::ToolError => DenyWith::ToolError,
            crate::cli::DenyWith::RpcError => DenyWith::RpcError,
        },
        hide_denied: args.hide_denied,
        max_message: MAX_MESSAGE.usize(),
    }
}

/// `--upstream URL`: the gateway over Streamable HTTP ([`crate::mcp_http`]).
fn run_http(
    ctx: &Ctx,
    args: &McpProxyArgs,
    url: &str,
    point: Arc<Point>,
    log: &Arc<Log>,
    capture: Option<Arc<Capture>>,
    session: String,
) -> u8 {
    let upstream = match crate::mcp_http::Upstream::parse(
        url,
        Duration::from_secs(args.upstream_timeout),
        args.upstream_ca.as_deref(),
    ) {
        Ok(u) => u,
        Err(e) => {
            ctx.error(e);
            return exit::ERROR;
        }
    };
    reload_on_hangup(Arc::clone(&point), Arc::clone(log));
    let cfg = crate::mcp_http::Config {
        listen: args.listen.clone(),
        upstream,
        gateway: gateway_config(args, session),
        header_timeout: Duration::from_secs(args.request_timeout),
        body_timeout: Duration::from_secs(args.request_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_sessions: MAX_HTTP_SESSIONS,
        max_connections: MAX_HTTP_CONNECTIONS,
    };
    let tap = capture.map(|c| {
        let log = Arc::clone(log);
        Arc::new(move |session: &str, dir: Direction, line: &[u8]| {
            if let Err(e) = c.record(session, dir, line) {
                log.error("trace", &e, &[]);
            }
        }) as crate::mcp_http::Tap
    });
    let p = Arc::clone(&point);
    let ran = crate::mcp_http::run(
        cfg,
        move || PointDecider::new(Arc::clone(&p)),
        Arc::clone(log),
        tap,
        None,
    );
    if let Err(e) = ran {
        ctx.error(e);
        return exit::ERROR;
    }
    close(&point, log)
}

/// The most MCP sessions the HTTP gateway keeps at once.
pub const MAX_HTTP_SESSIONS: usize = 4096;
/// The most client connections the HTTP gateway serves at once.
pub const MAX_HTTP_CONNECTIONS: usize = 1024;
