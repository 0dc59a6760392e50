//! MCP JSON-RPC logs, read as events through the session model ([`crate::mcp::Session`]).
//!
//! One JSON-RPC message per line, bare (`{"jsonrpc":"2.0","id":7,"method":"tools/call",
//! "params":{"name":…,"arguments":{…}}}`), or a JSON-RPC batch (an array), or wrapped in an
//! envelope that a proxy or gateway adds: `{"ts":…,"session":…,"agent":…,"decision":…,
//! "direction":"client->server","message":{…the JSON-RPC message…}}`. Two one-direction
//! logs (what the client sent, what the server sent) are read as one with [`Pair`].
//!
//! - A `tools/call` request that starts a call becomes a `tool_call` event: `tool` ←
//!   `params.name`, `args` ← `params.arguments`. Its retries after `input_required` are the
//!   same call and make no event.
//! - The call's final response becomes a `tool_result` event with the call's `tool` and
//!   `args`, and `content` ← the text items of `result.content` joined by newlines (or the
//!   error's `message` for an error response).
//! - Everything else is not an agent action: counted under its reason ([`Skip`]).
//!
//! Derived fields: `ts` ← the envelope's `ts` (or `timestamp`), absent for bare messages (the
//! event then happens at the stream's latest time); `session` ← the envelope's `session`
//! (or `session_id`, `sessionId`), else the input's name (one log = one MCP connection);
//! `agent` ← the envelope's `agent` (a string is the agent id, an object is taken as is), else
//! `{"id": <the client's declared name>}` (`clientInfo` of `initialize`, or the request's
//! `_meta["io.modelcontextprotocol/clientInfo"]`); the recorded `decision` ← the envelope's
//! `decision`. A response takes its `ts` and `decision` from its own envelope, its agent from
//! its own envelope or else its call's. Messages pair within their session.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::{Block, Input, InputFormat, TraceError, TraceReader};
use crate::mcp::{Call, Direction, Message, Observation, Session, Skip};

/// The most requests awaiting a response that a log's reader remembers, over all its
/// sessions; the least recently used sessions are forgotten first, then a session's oldest
/// requests (their responses then count as without their request).
pub const MAX_PENDING: usize = crate::mcp::session::MAX_PENDING;
/// The most sessions of one log held at once (the least recently used is forgotten).
pub const MAX_SESSIONS: usize = 4096;

/// A session's calls carry the agent they were made by.
type McpSession = Session<Option<Value>>;

/// Reads one MCP log; keeps one session model per session of the log.
#[derive(Debug)]
pub struct Adapter {
    name: String,
    /// Session key → (last use, its model).
    sessions: FxHashMap<String, (u64, McpSession)>,
    lru: BTreeMap<u64, String>,
    tick: u64,
    pending: usize,
}

/// The envelope's fields around one message.
#[derive(Clone, Debug, Default)]
pub struct Envelope {
    ts: Option<Value>,
    session: Option<String>,
    agent: Option<Value>,
    decision: Option<Value>,
    direction: Option<Direction>,
}

/// One line of a log: its envelope and its messages (a batch holds several).
#[derive(Debug)]
pub struct Parsed {
    env: Envelope,
    messages: Vec<Result<Message, String>>,
}

impl Adapter {
    /// A reader for the log named `name` (the default session).
    pub fn new(name: &str) -> Adapter {
        Adapter {
            name: name.to_string(),
            sessions: FxHashMap::default(),
            lru: BTreeMap::new(),
            tick: 0,
            pending: 0,
        }
    }

    /// Reads one line of the log into `out`.
    pub fn line(&mut self, text: &str, line: u64, out: &mut Block) {
        match parse_line(text) {
            Ok(p) => self.feed(p, line, out),
            Err((column, e)) => out.push_error(line, column, e),
        }
    }

    /// Takes in one parsed line.
    pub fn feed(&mut self, p: Parsed, line: u64, out: &mut Block) {
        for m in p.messages {
            match m {
                Ok(m) => self.message(&m, &p.env, line, out),
                Err(e) => out.push_error(line, 0, e),
            }
        }
    }

    fn session_key<'a>(&'a self, env: &'a Envelope) -> &'a str {
        env.session.as_deref().unwrap_or(&self.name)
    }

    /// Whether a request that travelled `dir` with `msg`'s id awaits its response in the
    /// session `env` names.
    fn awaits(&self, env: &Envelope, dir: Direction, msg: &Message) -> bool {
        let Some(id) = msg.id() else { return false };
        self.sessions
            .get(self.session_key(env))
            .is_some_and(|(_, s)| s.is_pending(dir, id))
    }

    fn session(&mut self, key: &str) -> &mut McpSession {
        self.tick += 1;
        let tick = self.tick;
        if let Some((last, _)) = self.sessions.get(key) {
            self.lru.remove(last);
        } else {
            while self.sessions.len() >= MAX_SESSIONS {
                self.forget_oldest();
            }
        }
        self.lru.insert(tick, key.to_string());
        let entry = self
            .sessions
            .entry(key.to_string())
            .or_insert_with(|| (tick, Session::new(MAX_PENDING)));
        entry.0 = tick;
        &mut entry.1
    }

    fn forget_oldest(&mut self) -> bool {
        let Some((_, key)) = self.lru.pop_first() else {
            return false;
        };
        if let Some((_, s)) = self.sessions.remove(&key) {
            self.pending -= s.pending();
        }
        true
    }

    fn message(&mut self, m: &Message, env: &Envelope, line: u64, out: &mut Block) {
        let key = self.session_key(env).to_string();
        let s = self.session(&key);
        let before = s.pending();
        let observed = s.observe(env.direction, m, || env.agent.clone());
        let after = s.pending();
        self.pending = self.pending.saturating_sub(before) + after;
        // Forget whole sessions, least recently used first, while too much is pending.
        while self.pending > MAX_PENDING && self.sessions.len() > 1 {
            let oldest = self.lru.first_key_value().map(|(_, k)| k.clone());
            if oldest.as_deref() == Some(key.as_str()) {
                break;
            }
            self.forget_oldest();
        }
        let ev = match observed {
            Err(e) => return out.push_error(line, 0, e.to_string()),
            Ok(Observation::Skipped(k)) => return out.not_event(k.as_str()),
            Ok(Observation::Retry(_)) => return out.not_event(Skip::Retry.as_str()),
            Ok(Observation::Call(c)) => event(
                env,
                &key,
                "tool_call",
                &c.tool,
                c.arguments.as_ref(),
                agent_of(&c).as_ref(),
                None,
            ),
            Ok(Observation::Result(c)) => event(
                env,
                &key,
                "tool_result",
                &c.tool,
                c.arguments.as_ref(),
                env.agent.clone().or_else(|| agent_of(&c)).as_ref(),
                crate::mcp::result_text(m),
            ),
        };
        out.push_event(&ev, line, 0);
    }
}

/// The agent of a call: the one its envelope named, else `{"id": <the client's name>}`.
fn agent_of(call: &Call<Option<Value>>) -> Option<Value> {
    call.data.clone().or_else(|| {
        call.client.as_ref().map(|p| {
            let mut a = Map::new();
            a.insert("id".into(), Value::String(p.name.clone()));
            Value::Object(a)
        })
    })
}

/// A line that could not be read: the byte column (0 when unknown) and what is wrong.
pub type LineError = (u32, String);

/// Parses one line: a message, a batch, or an envelope around either. Errors carry the byte
/// column when known.
pub fn parse_line(text: &str) -> Result<Parsed, LineError> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        let s = e.to_string();
        let msg = s.rfind(" at line ").and_then(|i| s.get(..i)).unwrap_or(&s);
        (
            u32::try_from(e.column()).unwrap_or(0),
            format!("not valid JSON: {msg}"),
        )
    })?;
    let (env, message) = match v {
        Value::Object(mut o) if !o.contains_key("jsonrpc") && o.contains_key("message") => {
            let env = envelope(&mut o).map_err(|e| (0, e))?;
            (env, o.remove("message").unwrap_or(Value::Null))
        }
        other => (Envelope::default(), other),
    };
    let messages = match message {
        Value::Array(batch) => {
            if batch.is_empty() {
                return Err((0, "an empty JSON-RPC batch".into()));
            }
            batch.into_iter().map(one).collect()
        }
        m => vec![one(m)],
    };
    Ok(Parsed { env, messages })
}

fn one(m: Value) -> Result<Message, String> {
    Message::parse(m).map_err(|e| {
        if e.0.starts_with("not a JSON-RPC message") {
            "not an MCP JSON-RPC message: expected an object with `jsonrpc`, or an envelope with `message`".into()
        } else {
            e.0
        }
    })
}

fn envelope(o: &mut Map<String, Value>) -> Result<Envelope, String> {
    let mut env = Envelope::default();
    for key in ["ts", "timestamp"] {
        match o.get(key) {
            None | Some(Value::Null) => {}
            Some(v @ Value::String(_)) => {
                env.ts = Some(v.clone());
                break;
            }
            Some(_) => return Err(format!("envelope `{key}` must be an RFC 3339 string")),
        }
    }
    for key in ["session", "session_id", "sessionId"] {
        match o.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                env.session = Some(s.clone());
                break;
            }
            Some(_) => return Err(format!("envelope `{key}` must be a string")),
        }
    }
    env.agent = match o.get("agent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let mut a = Map::new();
            a.insert("id".into(), Value::String(s.clone()));
            Some(Value::Object(a))
        }
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err("envelope `agent` must be an id or an object".into()),
    };
    env.decision = o.get("decision").filter(|v| !v.is_null()).cloned();
    env.direction = match o.get("direction") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Direction::parse(s).ok_or_else(|| {
            format!(
                "envelope `direction` must be {}, not {}",
                Direction::SPELLINGS,
                crate::source::printable(&Value::String(s.clone()).to_string())
            )
        })?),
        Some(_) => return Err("envelope `direction` must be a string".into()),
    };
    Ok(env)
}

fn event(
    env: &Envelope,
    session: &str,
    action: &str,
    tool: &str,
    args: Option<&Value>,
    agent: Option<&Value>,
    content: Option<String>,
) -> Value {
    let mut ev = Map::new();
    if let Some(ts) = &env.ts {
        ev.insert("ts".into(), ts.clone());
    }
    ev.insert("session".into(), Value::String(session.to_string()));
    if let Some(a) = agent {
        ev.insert("agent".into(), a.clone());
    }
    ev.insert("action".into(), Value::String(action.into()));
    ev.insert("tool".into(), Value::String(tool.to_string()));
    if let Some(a) = args {
        ev.insert("args".into(), a.clone());
    }
    if let Some(c) = content {
        ev.insert("content".into(), Value::String(c));
    }
    if let Some(d) = &env.decision {
        ev.insert("decision".into(), d.clone());
    }
    Value::Object(ev)
}

/// Two one-direction logs of one connection (what the client sent, what the server sent),
/// read as one log, merged by their order:
///
/// - when the next lines of both carry an envelope `ts`, the earlier goes first (the client's
///   on a tie);
/// - a response never goes before its request: a line answering a request the other side
///   has not yet been read to waits for it;
/// - otherwise a server response goes as early as it can (right after its request), and the
///   server's other messages as late as they can (before the client line that answers
///   them).
///
/// Every message takes the direction of its file; an envelope that says otherwise is a bad
/// record. A `tool_call` event's line is a line of the client's log, a `tool_result`'s a line
/// of the server's; a bad record names its file.
pub struct Pair {
    sides: [Side; 2],
    adapter: Adapter,
}

struct Side {
    name: String,
    dir: Direction,
    reader: TraceReader,
    block: Block,
    /// Lines read ahead: (line, parsed line or error).
    ahead: VecDeque<(u64, Result<Parsed, LineError>)>,
    done: bool,
}

impl Side {
    /// Makes sure a line is ahead unless the file is done.
    fn fill(&mut self) -> Result<(), TraceError> {
        while self.ahead.is_empty() && !self.done {
            let more = self.reader.next_block(&mut self.block)?;
            for (text, origin) in self.block.lines() {
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let parsed = match std::str::from_utf8(text) {
                    Ok(t) => parse_line(t),
                    Err(e) => Err((0, format!("not valid UTF-8 (byte {})", e.valid_up_to()))),
                };
                self.ahead.push_back((origin.line, parsed));
            }
            if !more {
                self.done = true;
            }
        }
        Ok(())
    }
}

/// The envelope time of a line, in nanoseconds.
fn ts_of(p: &Parsed) -> Option<i64> {
    p.env
        .ts
        .as_ref()
        .and_then(Value::as_str)
        .and_then(crate::time::parse_rfc3339)
}

impl Pair {
    /// Opens both logs (each a file, `-` or bytes; gzip is read transparently).
    pub fn open(client: &Input, server: &Input) -> Result<Pair, TraceError> {
        let side = |input: &Input, dir| -> Result<Side, TraceError> {
            Ok(Side {
                name: input.name(),
                dir,
                reader: TraceReader::open(input, InputFormat::Jsonl, None)?,
                block: Block::default(),
                ahead: VecDeque::new(),
                done: false,
            })
        };
        let name = format!("{}+{}", client.name(), server.name());
        Ok(Pair {
            sides: [
                side(client, Direction::ClientToServer)?,
                side(server, Direction::ServerToClient)?,
            ],
            adapter: Adapter::new(&name),
        })
    }

    /// Whether the next line of side `i` answers a request the other side has not given yet.
    fn blocked(&self, i: usize) -> bool {
        let Some(side) = self.sides.get(i) else {
            return false;
        };
        let Some((_, Ok(p))) = side.ahead.front() else {
            return false;
        };
        p.messages.iter().any(|m| {
            matches!(m, Ok(m @ Message::Response { id: Some(_), .. })
                if !self.adapter.awaits(&p.env, side.dir.reverse(), m))
        })
    }

    fn is_response(&self, i: usize) -> bool {
        self.sides
            .get(i)
            .and_then(|s| s.ahead.front())
            .is_some_and(|(_, p)| {
                p.as_ref().is_ok_and(|p| {
                    p.messages
                        .iter()
                        .any(|m| matches!(m, Ok(Message::Response { .. })))
                })
            })
    }

    /// Which side goes next; `None` when both are done.
    fn next_side(&self) -> Option<usize> {
        let [c, s] = &self.sides;
        match (c.ahead.front(), s.ahead.front()) {
            (None, None) => None,
            (Some(_), None) => Some(0),
            (None, Some(_)) => Some(1),
            (Some((_, cp)), Some((_, sp))) => {
                let (cb, sb) = (self.blocked(0), self.blocked(1));
                if cb != sb {
                    return Some(if cb { 1 } else { 0 });
                }
                if let (Ok(cp), Ok(sp)) = (cp, sp)
                    && let (Some(ct), Some(st)) = (ts_of(cp), ts_of(sp))
                {
                    return Some(if st < ct { 1 } else { 0 });
                }
                if cb {
                    // Both wait for the other: one of them answers nothing in the logs.
                    return Some(1);
                }
                Some(if self.is_response(1) { 1 } else { 0 })
            }
        }
    }

    /// Fills `b` with the next block of events.
    pub fn next_block(&mut self, b: &mut Block) -> Result<bool, TraceError> {
        while b.data.len() < super::BLOCK_SIZE {
            for side in &mut self.sides {
                side.fill()?;
            }
            let Some(i) = self.next_side() else {
                return Ok(false);
            };
            let Some(side) = self.sides.get_mut(i) else {
                return Ok(false);
            };
            let Some((line, parsed)) = side.ahead.pop_front() else {
                return Ok(false);
            };
            let (dir, name) = (side.dir, side.name.clone());
            match parsed {
                Err((column, e)) => b.push_error(line, column, format!("{name}: {e}")),
                Ok(mut p) => {
                    if p.env.direction.is_some_and(|d| d != dir) {
                        b.push_error(
                            line,
                            0,
                            format!(
                                "{name}: the envelope says {}, but this log holds the messages sent {}",
                                p.env.direction.map_or("", Direction::as_str),
                                dir
                            ),
                        );
                        continue;
                    }
                    p.env.direction = Some(dir);
                    let errors_before = b.origins.iter().filter(|o| o.error.is_some()).count();
                    self.adapter.feed(p, line, b);
                    // Bad records name their file.
                    for o in b.origins.iter_mut().skip(errors_before) {
                        if let Some(e) = &mut o.error
                            && !e.starts_with(&name)
                        {
                            *e = format!("{name}: {e}");
                        }
                    }
                }
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn run(lines: &[&str]) -> (Vec<Result<Value, String>>, u64) {
        let mut a = Adapter::new("log.jsonl");
        let mut b = Block::default();
        for (i, l) in lines.iter().enumerate() {
            a.line(l, i as u64 + 1, &mut b);
        }
        let out = b
            .lines()
            .map(|(t, o)| match o.error {
                Some(e) => Err(format!("{}: {e}", o.line)),
                None => Ok(serde_json::from_slice(t).unwrap()),
            })
            .collect();
        (out, b.not_events)
    }

    #[test]
    fn calls_and_results() {
        let (evs, skipped) = run(&[
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"clientInfo":{"name":"claude-code"}}}"#,
            r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"file_read","arguments":{"path":"/app/.env"}}}"#,
            r#"{"ts":"2026-11-23T10:00:01Z","session":"s-9","message":{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"web_search","arguments":{"query":"x"}}},"decision":"allow"}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"SECRET=1"},{"type":"image","data":""}],"isError":false}}"#,
            r#"{"ts":"2026-11-23T10:00:02Z","session":"s-9","message":{"jsonrpc":"2.0","id":"b","error":{"code":-32000,"message":"rate limited"}}}"#,
            r#"{"jsonrpc":"2.0","id":99,"result":{}}"#,
        ]);
        assert_eq!(skipped, 4);
        let evs: Vec<Value> = evs.into_iter().map(Result::unwrap).collect();
        assert_eq!(evs.len(), 4);
        assert_eq!(evs[0]["action"], "tool_call");
        assert_eq!(evs[0]["tool"], "file_read");
        assert_eq!(evs[0]["session"], "log.jsonl");
        assert_eq!(evs[0]["agent"]["id"], "claude-code");
        assert_eq!(evs[1]["session"], "s-9");
        assert_eq!(evs[1]["decision"], "allow");
        assert_eq!(evs[1]["ts"], "2026-11-23T10:00:01Z");
        assert_eq!(evs[2]["action"], "tool_result");
        assert_eq!(evs[2]["tool"], "file_read");
        assert_eq!(evs[2]["args"]["path"], "/app/.env");
        assert_eq!(evs[2]["content"], "SECRET=1");
        assert_eq!(evs[3]["content"], "rate limited");
        assert_eq!(evs[3]["session"], "s-9");
        assert_eq!(evs[3]["ts"], "2026-11-23T10:00:02Z");
    }

    #[test]
    fn bad_messages_are_errors() {
        let (evs, _) = run(&[
            "{nope",
            r#"{"id":1,"method":"tools/call"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"ts":5,"message":{"jsonrpc":"2.0"}}"#,
            r#"[{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a"}},3]"#,
            r#"{"direction":"up","message":{"jsonrpc":"2.0","method":"x"}}"#,
        ]);
        let errs: Vec<String> = evs.iter().filter_map(|e| e.clone().err()).collect();
        assert_eq!(
            errs,
            vec![
                "1: not valid JSON: key must be a string",
                "2: not an MCP JSON-RPC message: expected an object with `jsonrpc`, or an envelope with `message`",
                "3: `tools/call` request without `params.name`",
                "4: `tools/call`: `params.arguments` must be an object",
                "5: not a JSON-RPC request, notification or response",
                "6: envelope `ts` must be an RFC 3339 string",
                "7: not an MCP JSON-RPC message: expected an object with `jsonrpc`, or an envelope with `message`",
                "8: envelope `direction` must be `client->server`, `client_to_server`, `c2s`, `server->client`, `server_to_client` or `s2c`, not \"up\"",
            ]
        );
        // A notification (no id) of `tools/call` is still a call, with no result to come.
        assert_eq!(evs.iter().filter(|e| e.is_ok()).count(), 1);
    }

    #[test]
    fn skipped_messages_say_why() {
        let mut a = Adapter::new("x");
        let mut b = Block::default();
        for l in [
            r#"{"direction":"c2s","message":{"jsonrpc":"2.0","id":1,"method":"tools/list"}}"#,
            r#"{"direction":"s2c","message":{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}}"#,
            r#"{"direction":"s2c","message":{"jsonrpc":"2.0","id":1,"method":"roots/list"}}"#,
            r#"{"direction":"c2s","message":{"jsonrpc":"2.0","id":1,"result":{"roots":[]}}}"#,
            r#"{"direction":"s2c","message":{"jsonrpc":"2.0","id":7,"result":{}}}"#,
        ] {
            a.line(l, 1, &mut b);
        }
        let kinds: Vec<(&str, u64)> = b.not_event_kinds.iter().map(|(k, n)| (*k, *n)).collect();
        assert_eq!(
            kinds,
            [
                (Skip::ServerRequest.as_str(), 1),
                (Skip::Request.as_str(), 1),
                (Skip::Reply.as_str(), 2),
                (Skip::Unmatched.as_str(), 1),
            ]
        );
        assert_eq!(b.not_events, 5);
    }

    #[test]
    fn sessions_pair_apart_and_are_bounded() {
        let mut a = Adapter::new("x");
        let mut b = Block::default();
        a.line(r#"{"session":"a","direction":"c2s","message":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}}"#, 1, &mut b);
        a.line(r#"{"session":"b","direction":"s2c","message":{"jsonrpc":"2.0","id":1,"result":{"content":[]}}}"#, 2, &mut b);
        a.line(r#"{"session":"a","direction":"s2c","message":{"jsonrpc":"2.0","id":1,"result":{"content":[]}}}"#, 3, &mut b);
        assert_eq!(b.origins.len(), 2);
        assert_eq!(b.not_events, 1);
        for i in 0..(MAX_SESSIONS + 10) {
            a.line(
                &format!(r#"{{"session":"s{i}","message":{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t"}}}}}}"#),
                1,
                &mut b,
            );
            b.clear();
        }
        assert_eq!(a.sessions.len(), MAX_SESSIONS);
        assert_eq!(a.pending, MAX_SESSIONS);
    }

    #[test]
    fn pending_requests_are_bounded() {
        let mut a = Adapter::new("x");
        let mut b = Block::default();
        for i in 0..(MAX_PENDING + 10) {
            a.line(
                &format!(
                    r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"t"}}}}"#
                ),
                1,
                &mut b,
            );
            b.clear();
        }
        assert_eq!(a.pending, MAX_PENDING);
        a.line(r#"{"jsonrpc":"2.0","id":0,"result":{}}"#, 2, &mut b);
        assert_eq!(b.not_events, 1);
    }

    fn pair(client: &str, server: &str) -> Vec<String> {
        let bytes = |name: &str, s: &str| Input::Bytes {
            name: name.into(),
            data: Arc::from(s.as_bytes()),
        };
        let mut p = Pair::open(&bytes("c", client), &bytes("s", server)).unwrap();
        let mut b = Block::default();
        let mut out = Vec::new();
        loop {
            let more = p.next_block(&mut b).unwrap();
            for (t, o) in b.lines() {
                out.push(match o.error {
                    Some(e) => format!("{}: error {e}", o.line),
                    None => {
                        let v: Value = serde_json::from_slice(t).unwrap();
                        format!(
                            "{}: {} {}",
                            o.line,
                            v["action"].as_str().unwrap(),
                            v["tool"].as_str().unwrap()
                        )
                    }
                });
            }
            if !more {
                break;
            }
        }
        out
    }

    #[test]
    fn one_direction_logs_merge_causally() {
        // Legacy protocol: the server asks for confirmation with its own id 1.
        let client = [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"c"}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"pay"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"action":"accept"}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search"}}"#,
        ]
        .join("\n");
        let server = [
            r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"elicitation/create","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":2,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#,
            "{oops",
        ]
        .join("\n");
        assert_eq!(
            pair(&client, &server),
            [
                "2: tool_call pay",
                "3: tool_result pay",
                "4: tool_call search",
                "4: tool_result search",
                "5: error s: not valid JSON: key must be a string",
            ]
        );
        // With timestamps, time decides.
        let client = r#"{"ts":"2026-01-01T00:00:01Z","message":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}}
{"ts":"2026-01-01T00:00:02Z","message":{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"b"}}}"#;
        let server = r#"{"ts":"2026-01-01T00:00:03Z","message":{"jsonrpc":"2.0","id":1,"result":{"content":[]}}}
{"ts":"2026-01-01T00:00:04Z","direction":"c2s","message":{"jsonrpc":"2.0","id":2,"result":{"content":[]}}}"#;
        assert_eq!(
            pair(client, server),
            [
                "1: tool_call a",
                "2: tool_call b",
                "1: tool_result a",
                "2: error s: the envelope says client->server, but this log holds the messages sent server->client",
            ]
        );
    }
}
