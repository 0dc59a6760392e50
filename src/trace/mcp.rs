//! MCP JSON-RPC logs, read as events.
//!
//! One JSON-RPC message per line, bare (`{"jsonrpc":"2.0","id":7,"method":"tools/call",
//! "params":{"name":…,"arguments":{…}}}`), or a JSON-RPC batch (an array), or wrapped in an
//! envelope that a proxy or gateway adds: `{"ts":…,"session":…,"agent":…,"decision":…,
//! "message":{…the JSON-RPC message…}}`.
//!
//! - A `tools/call` request becomes a `tool_call` event: `tool` ← `params.name`, `args` ←
//!   `params.arguments`.
//! - Its response (same `id`) becomes a `tool_result` event with the request's `tool` and
//!   `args`, and `content` ← the text items of `result.content` joined by newlines (or the
//!   error's `message` for an error response).
//! - Everything else (`initialize`, `tools/list`, notifications, responses to other requests,
//!   responses whose request is not in the log) is not an agent action: counted, not read.
//!
//! Derived fields: `ts` ← the envelope's `ts` (or `timestamp`), absent for bare messages (the
//! event then happens at the stream's latest time); `session` ← the envelope's `session`
//! (or `session_id`, `sessionId`), else the input's name (one log = one MCP connection);
//! `agent` ← the envelope's `agent` (a string is the agent id, an object is taken as is), else
//! `{"id": <clientInfo.name of the log's initialize request>}`; the recorded `decision` ← the
//! envelope's `decision`. A response takes its `ts` and `decision` from its own envelope and
//! its session and agent from its request's.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::Block;

/// The most requests awaiting a response that are remembered; older ones are forgotten
/// (their responses then count as not matched).
pub const MAX_PENDING: usize = 65_536;

/// Reads one MCP log; keeps the requests awaiting a response and the client's name.
#[derive(Debug)]
pub struct Adapter {
    name: String,
    client: Option<String>,
    /// Request id (its JSON text) → what it asked, with its arrival number.
    pending: FxHashMap<String, (u64, Option<Call>)>,
    order: BTreeMap<u64, String>,
    seq: u64,
}

#[derive(Clone, Debug)]
struct Call {
    tool: Value,
    args: Option<Value>,
    session: Value,
    agent: Option<Value>,
}

/// The envelope's fields around one message.
#[derive(Default)]
struct Envelope {
    ts: Option<Value>,
    session: Option<Value>,
    agent: Option<Value>,
    decision: Option<Value>,
}

impl Adapter {
    /// A reader for the log named `name` (the default session).
    pub fn new(name: &str) -> Adapter {
        Adapter {
            name: name.to_string(),
            client: None,
            pending: FxHashMap::default(),
            order: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Reads one line of the log into `out`.
    pub fn line(&mut self, text: &str, line: u64, out: &mut Block) {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let s = e.to_string();
                let msg = s.rfind(" at line ").and_then(|i| s.get(..i)).unwrap_or(&s);
                out.push_error(
                    line,
                    u32::try_from(e.column()).unwrap_or(0),
                    format!("not valid JSON: {msg}"),
                );
                return;
            }
        };
        let (env, message) = match v {
            Value::Object(mut o) if !o.contains_key("jsonrpc") && o.contains_key("message") => {
                match envelope(&mut o) {
                    Ok(env) => (env, o.remove("message").unwrap_or(Value::Null)),
                    Err(e) => {
                        out.push_error(line, 0, e);
                        return;
                    }
                }
            }
            other => (Envelope::default(), other),
        };
        match message {
            Value::Array(batch) => {
                if batch.is_empty() {
                    out.push_error(line, 0, "an empty JSON-RPC batch");
                }
                for m in batch {
                    self.message(m, &env, line, out);
                }
            }
            m => self.message(m, &env, line, out),
        }
    }

    fn message(&mut self, m: Value, env: &Envelope, line: u64, out: &mut Block) {
        match self.read_message(m, env) {
            Ok(Some(ev)) => out.push_event(&ev, line, 0),
            Ok(None) => out.not_events += 1,
            Err(e) => out.push_error(line, 0, e),
        }
    }

    fn read_message(&mut self, m: Value, env: &Envelope) -> Result<Option<Value>, String> {
        let Value::Object(mut m) = m else {
            return Err(
                "not an MCP JSON-RPC message: expected an object with `jsonrpc`, or an envelope with `message`"
                    .into(),
            );
        };
        match m.get("jsonrpc") {
            Some(Value::String(v)) if v == "2.0" => {}
            Some(_) => return Err("`jsonrpc` must be \"2.0\"".into()),
            None => {
                return Err(
                    "not an MCP JSON-RPC message: expected an object with `jsonrpc`, or an envelope with `message`"
                        .into(),
                );
            }
        }
        let id = m.get("id").filter(|v| !v.is_null()).map(Value::to_string);
        let session = env
            .session
            .clone()
            .unwrap_or_else(|| Value::String(self.name.clone()));
        let agent = env.agent.clone().or_else(|| {
            self.client.as_ref().map(|c| {
                let mut a = Map::new();
                a.insert("id".into(), Value::String(c.clone()));
                Value::Object(a)
            })
        });
        if let Some(method) = m.get("method") {
            let Some(method) = method.as_str().map(str::to_string) else {
                return Err("`method` must be a string".into());
            };
            let params = m.remove("params").unwrap_or(Value::Null);
            if method == "initialize"
                && let Some(name) = params.pointer("/clientInfo/name").and_then(Value::as_str)
            {
                self.client = Some(name.to_string());
            }
            if method != "tools/call" {
                if let Some(id) = id {
                    self.remember(id, None);
                }
                return Ok(None);
            }
            let tool = match params.get("name") {
                Some(Value::String(s)) => Value::String(s.clone()),
                Some(_) => return Err("`tools/call`: `params.name` must be a string".into()),
                None => return Err("`tools/call` request without `params.name`".into()),
            };
            let args = match params.get("arguments") {
                None | Some(Value::Null) => None,
                Some(a @ Value::Object(_)) => Some(a.clone()),
                Some(_) => return Err("`tools/call`: `params.arguments` must be an object".into()),
            };
            let call = Call {
                tool,
                args,
                session,
                agent,
            };
            let ev = event(env, "tool_call", &call, None);
            if let Some(id) = id {
                self.remember(id, Some(call));
            }
            return Ok(Some(ev));
        }
        let (result, error) = (m.get("result"), m.get("error"));
        if result.is_none() && error.is_none() {
            return Err("not a JSON-RPC request, notification or response".into());
        }
        let Some(id) = id else {
            return Ok(None);
        };
        let Some((seq, call)) = self.pending.remove(&id) else {
            return Ok(None);
        };
        self.order.remove(&seq);
        let Some(mut call) = call else {
            return Ok(None);
        };
        // The response's envelope may name its own session and agent.
        if let Some(s) = &env.session {
            call.session = s.clone();
        }
        if env.agent.is_some() {
            call.agent = env.agent.clone();
        }
        let content = match (result, error) {
            (Some(r), _) => r.get("content").and_then(Value::as_array).map(|items| {
                items
                    .iter()
                    .filter(|i| i.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|i| i.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
            (None, Some(e)) => e.get("message").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        Ok(Some(event(env, "tool_result", &call, content)))
    }

    fn remember(&mut self, id: String, call: Option<Call>) {
        self.seq += 1;
        if let Some((old, _)) = self.pending.insert(id.clone(), (self.seq, call)) {
            self.order.remove(&old);
        }
        self.order.insert(self.seq, id);
        while self.pending.len() > MAX_PENDING {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.pending.remove(&oldest);
        }
    }
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
            Some(v @ Value::String(_)) => {
                env.session = Some(v.clone());
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
    Ok(env)
}

fn event(env: &Envelope, action: &str, call: &Call, content: Option<String>) -> Value {
    let mut ev = Map::new();
    if let Some(ts) = &env.ts {
        ev.insert("ts".into(), ts.clone());
    }
    ev.insert("session".into(), call.session.clone());
    if let Some(a) = &call.agent {
        ev.insert("agent".into(), a.clone());
    }
    ev.insert("action".into(), Value::String(action.into()));
    ev.insert("tool".into(), call.tool.clone());
    if let Some(a) = &call.args {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            r#"{"ts":"2026-11-23T10:00:02Z","message":{"jsonrpc":"2.0","id":"b","error":{"code":-32000,"message":"rate limited"}}}"#,
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
            ]
        );
        assert_eq!(evs.iter().filter(|e| e.is_ok()).count(), 1);
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
        assert_eq!(a.pending.len(), MAX_PENDING);
        assert_eq!(a.order.len(), MAX_PENDING);
        a.line(r#"{"jsonrpc":"2.0","id":0,"result":{}}"#, 2, &mut b);
        assert_eq!(b.not_events, 1);
    }
}
