//! A policy gateway between an MCP client and an MCP server: the protocol half of
//! `govern mcp-proxy`, free of I/O so that every transport (stdio, Streamable HTTP) and every
//! test drives the same code.
//!
//! Feed it each line the client sent ([`Gateway::from_client`]) and each line the server sent
//! ([`Gateway::from_server`]); it says what to send where ([`Output`]). Every message passes
//! through byte for byte, except:
//!
//! - a `tools/call` is decided first ([`Decider`]): `allow` forwards it; `deny` answers it
//!   from the gateway (a tool error result carrying the `because` messages, or a JSON-RPC
//!   error, per [`DenyWith`]) and never forwards it; `escalate` asks the user through the
//!   client (an `elicitation/create` request on the handshake protocols, an
//!   `input_required` result on 2026-07-28) when the client declares elicitation, and
//!   forwards the call only when the user accepts and approves; otherwise it is denied.
//!   Matched `warn` rules are reported ([`Note`]) and the call goes on as decided;
//! - a tool result is decided too (`action: "tool_result"`): a denied one is replaced by an
//!   error before the client sees it;
//! - with `hide_denied`, a `tools/list` result loses the tools the policy denies for this
//!   agent whatever the arguments ([`super::hide`]);
//! - what cannot be read (not JSON, not JSON-RPC, too long, a batch, a `tools/call` without
//!   a tool name) is answered with the JSON-RPC error the protocol prescribes when it came
//!   from the client, and dropped and reported when it came from the server: never
//!   forwarded;
//! - once the server is gone ([`Gateway::server_gone`]), every request waiting for it and
//!   every later one is answered with an error.
//!
//! A `tools/call` request with an id, and the server's final response to one, are read
//! without a tree ([`RawMessage`]: the members the gateway needs, the rest skipped), and the
//! call's event carries its arguments as the client wrote them (the decision point keeps the
//! last of equal keys, as the tree did). Any other message, or one of another shape (a member
//! given twice, a retry, what a tree read would refuse), is read as a tree, as before:
//! `calls_read_without_a_tree_are_read_as_their_trees` checks both give the same output.
//!
//! The agent of an event is `--agent` when given, else the name the client declares
//! (`clientInfo` of `initialize`, or the `_meta` clientInfo of 2026-07-28 requests); the
//! session is the one the transport names (the stdio connection, or the `Mcp-Session-Id`).

use rustc_hash::FxHashMap;
use serde_json::{Value, json};

use super::message::{Direction, Id, Json, Message, RawMessage, other_key};
use super::scan::{Tape, each_member, once};
use super::session::{Call, Observation, Peer, RequestMeta, Session};
use crate::bytecode::model::Verdict;
use crate::point::{OneValue, Part, Parts};

/// The JSON-RPC error code of a call the policy denied (with `--deny-with rpc-error`).
pub const DENIED: i64 = -32001;
/// The JSON-RPC error code of a request the server can no longer answer.
pub const SERVER_GONE: i64 = -32000;
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;
/// The JSON-RPC error code of a request refused because too many wait for the server.
pub const SERVER_BUSY: i64 = -32002;
/// The most client requests that may wait for the server's answer at once; beyond, a request
/// is answered with an error ([`SERVER_BUSY`]) and not forwarded.
pub const MAX_FORWARDED: usize = super::session::MAX_PENDING;
/// The most calls that may wait for the user's approval at once; beyond, an escalated call
/// is denied.
pub const MAX_HELD: usize = 1024;
/// The key of the gateway's approval in an `input_required` result's `inputRequests`.
pub const APPROVAL_KEY: &str = "govern/approval";
/// The `_meta` key under which a gateway's answer carries its decision.
pub const DECISION_META: &str = "govern/decision";
const STATELESS: &str = "2026-07-28";

/// How a denied call is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DenyWith {
    /// A tool result with `isError: true` whose text is the `because` message: the agent's
    /// model reads it and can change course.
    #[default]
    ToolError,
    /// A JSON-RPC error (code [`DENIED`]).
    RpcError,
}

/// How a gateway is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The agent id, over what the client declares.
    pub agent: Option<String>,
    /// The session of every event.
    pub session: String,
    pub deny_with: DenyWith,
    /// Remove from `tools/list` results the tools denied whatever the arguments.
    pub hide_denied: bool,
    /// The longest message read, in bytes.
    pub max_message: usize,
}

/// A decision, as the gateway needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Decided {
    pub verdict: Verdict,
    pub rules: Vec<String>,
    /// The `because` messages of the determining rules.
    pub messages: Vec<String>,
    /// The matched `warn` rules, with their messages: `rule: message`.
    pub warnings: Vec<String>,
    /// Why the event could not be decided.
    pub error: Option<String>,
    /// The decision JSON, as the decision point wrote it ([`Decided::json`] reads it, for a
    /// denial's data); empty for an allow without warnings ([`Decided::allowed`]), whose text
    /// nothing reads.
    pub text: String,
}

/// A decision JSON (`src/decision.rs`) as it is written: read into this, not a tree.
#[derive(serde::Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    decision: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    messages: Vec<String>,
    #[serde(default)]
    warnings: Vec<WireWarning>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct WireWarning {
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl Decided {
    /// An allow without warnings: nothing of its decision JSON is read or kept (the gateway
    /// needs the rules, messages and text of a decision only to report a denial, an
    /// escalation or warnings; an allowed message is passed on as it came).
    pub fn allowed() -> Decided {
        Decided {
            verdict: Verdict::Allow,
            rules: Vec::new(),
            messages: Vec::new(),
            warnings: Vec::new(),
            error: None,
            text: String::new(),
        }
    }

    /// Reads a decision JSON (`src/decision.rs`); anything unreadable is a denial.
    pub fn from_json(text: &str) -> Decided {
        // As the decision point writes it: read straight into its parts. Anything else
        // (a member of another type, a member twice) is read as a tree, leniently.
        let Ok(w) = serde_json::from_str::<Wire>(text) else {
            return Decided::from_tree(text);
        };
        let verdict = w.decision.as_deref().and_then(Verdict::parse);
        let mut error = w.error;
        if verdict.is_none() && error.is_none() {
            error = Some("the decision could not be read".into());
        }
        Decided {
            verdict: verdict.unwrap_or(Verdict::Deny),
            rules: w.rules,
            messages: w.messages,
            warnings: w
                .warnings
                .into_iter()
                .map(|x| {
                    let rule = x.rule.as_deref().unwrap_or("?");
                    match x.message {
                        Some(m) => format!("{rule}: {m}"),
                        None => rule.to_string(),
                    }
                })
                .collect(),
            error,
            text: text.to_string(),
        }
    }

    fn from_tree(text: &str) -> Decided {
        let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let strings = |k: &str| -> Vec<String> {
            json.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let verdict = json
            .get("decision")
            .and_then(Value::as_str)
            .and_then(Verdict::parse);
        let warnings = json
            .get("warnings")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|w| {
                        let rule = w.get("rule").and_then(Value::as_str).unwrap_or("?");
                        match w.get("message").and_then(Value::as_str) {
                            Some(m) => format!("{rule}: {m}"),
                            None => rule.to_string(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut error = json
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string);
        if verdict.is_none() && error.is_none() {
            error = Some("the decision could not be read".into());
        }
        Decided {
            verdict: verdict.unwrap_or(Verdict::Deny),
            rules: strings("rules"),
            messages: strings("messages"),
            warnings,
            error,
            text: text.to_string(),
        }
    }

    /// The decision JSON as a tree (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Why a call was not allowed, for the agent and the user.
    pub fn because(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        if !self.messages.is_empty() {
            return self.messages.join("; ");
        }
        if self.rules.is_empty() {
            return "no rule allows this call".into();
        }
        format!("rule {}", self.rules.join(", "))
    }
}

/// The agent of an event: `--agent` when given, else the name the client declares.
fn agent_of<'a>(cfg: &'a Config, client: Option<&'a Peer>) -> Option<&'a str> {
    cfg.agent.as_deref().or(client.map(|p| p.name.as_str()))
}

/// A result's members that the gateway reads, as they are written.
#[derive(Default)]
struct RawResult<'a> {
    content: Option<Json<'a>>,
    result_type: Option<Json<'a>>,
    meta: Option<Json<'a>>,
}

impl<'a> RawResult<'a> {
    /// The members of an object; `None` for another value, or a member given twice.
    fn read(tape: &Tape<'a>, v: Json<'a>) -> Option<RawResult<'a>> {
        let mut r = RawResult::default();
        each_member(tape, v, |key, value| match key {
            "content" => once(&mut r.content, value),
            "resultType" => once(&mut r.result_type, value),
            "_meta" => once(&mut r.meta, value),
            _ => other_key(key),
        })?;
        Some(r)
    }
}

/// An item of a result's `content`, as it is written.
#[derive(Default)]
struct RawItem<'a> {
    kind: Option<Json<'a>>,
    text: Option<Json<'a>>,
}

impl<'a> RawItem<'a> {
    /// The members of an object; `None` for another value, or a member given twice.
    fn read(tape: &Tape<'a>, v: Json<'a>) -> Option<RawItem<'a>> {
        let mut i = RawItem::default();
        each_member(tape, v, |key, value| match key {
            "type" => once(&mut i.kind, value),
            "text" => once(&mut i.text, value),
            _ => other_key(key),
        })?;
        Some(i)
    }
}

/// An error response's `error`'s `message`, as it is written: `Some(None)` without one,
/// `None` for another value than an object, or a `message` given twice.
fn error_message<'a>(tape: &Tape<'a>, v: Json<'a>) -> Option<Option<Json<'a>>> {
    let mut message = None;
    each_member(tape, v, |key, value| match key {
        "message" => once(&mut message, value),
        _ => other_key(key),
    })?;
    Some(message)
}

/// What decides the gateway's events (a decision point, or a test's stand-in).
pub trait Decider {
    /// Decides one event (JSON text).
    fn decide(&mut self, event: &str) -> Decided;
    /// Decides the event `parts` makes: the event whose text [`Parts::write`] writes.
    fn decide_parts(&mut self, parts: &Parts<'_>) -> Decided {
        let mut text = String::new();
        parts.write(&mut text);
        self.decide(&text)
    }
    /// Whether every call shaped like `event` (no `args`) is denied whatever its arguments.
    fn always_denied(&self, event: &Value) -> bool;
}

/// How much a [`Note`] matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Something the gateway did that its operator should see in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub level: Level,
    /// `decision`, `escalation`, `hidden`, `bad-message`, `server`.
    pub event: &'static str,
    pub message: String,
    pub fields: Vec<(&'static str, Value)>,
}

/// A line to send (without its newline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    Server(Vec<u8>),
    Client(Vec<u8>),
}

/// What one input asks of the transport, in order.
#[derive(Debug, Default)]
pub struct Output {
    pub sends: Vec<Send>,
    pub notes: Vec<Note>,
    /// The server's response passed on to the client as it came: its place in `sends` and
    /// its id, as the gateway read them (a transport that routes responses by id need not
    /// read it again).
    pub passed_response: Option<(usize, Id)>,
}

impl Output {
    fn client(&mut self, v: &Value) {
        self.sends.push(Send::Client(v.to_string().into_bytes()));
    }

    fn note(
        &mut self,
        level: Level,
        event: &'static str,
        message: String,
        fields: Vec<(&'static str, Value)>,
    ) {
        self.notes.push(Note {
            level,
            event,
            message,
            fields,
        });
    }
}

/// What a request forwarded to the server was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    ToolsList,
    Other,
}

/// A call waiting for the user's approval.
struct Held {
    /// The call's request, as the client sent it.
    line: Vec<u8>,
    id: Option<Id>,
    tool: String,
    because: String,
}

/// The gateway of one MCP connection. See the module documentation.
pub struct Gateway<D> {
    cfg: Config,
    decider: D,
    session: Session<()>,
    /// Client requests forwarded to the server and not yet answered.
    forwarded: FxHashMap<Id, Asked>,
    /// Calls waiting for the answer to the gateway's `elicitation/create`, by its id.
    asked: FxHashMap<Id, Held>,
    /// Calls waiting for their retry after the gateway's `input_required`, by request state.
    states: FxHashMap<String, Held>,
    next: u64,
    gone: Option<String>,
    /// Every message read as a tree (to check the reads without one against it).
    #[cfg(test)]
    trees_only: bool,
    /// How many messages were read without a tree.
    #[cfg(test)]
    raw_reads: usize,
}

impl<D: Decider> Gateway<D> {
    pub fn new(cfg: Config, decider: D) -> Gateway<D> {
        Gateway {
            cfg,
            decider,
            session: Session::default(),
            forwarded: FxHashMap::default(),
            asked: FxHashMap::default(),
            states: FxHashMap::default(),
            next: 0,
            gone: None,
            #[cfg(test)]
            trees_only: false,
            #[cfg(test)]
            raw_reads: 0,
        }
    }

    /// The session its events carry.
    pub fn session_name(&self) -> &str {
        &self.cfg.session
    }

    /// The decider (to reach the decision point behind it).
    pub fn decider(&self) -> &D {
        &self.decider
    }

    /// The MCP session as seen so far.
    pub fn session(&self) -> &Session<()> {
        &self.session
    }

    /// Takes in one line the client sent.
    pub fn from_client(&mut self, line: &[u8], out: &mut Output) {
        let line = trim(line);
        let read = if line.len() <= self.cfg.max_message {
            RawMessage::read(line)
        } else {
            None
        };
        self.from_client_read(line, read, None, out);
    }

    /// Takes in one message the client sent whose top members the transport has already
    /// read ([`RawMessage::read`] of `line`; `None` when they could not be read so): the same
    /// as [`Gateway::from_client`] without reading them again. `id` is the request's id as
    /// the transport made it of `read` ([`RawMessage::id`]), when it did: not made again.
    pub fn from_client_read(
        &mut self,
        line: &[u8],
        read: Option<RawMessage<'_>>,
        id: Option<&Id>,
        out: &mut Output,
    ) {
        let line = trim(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if line.len() <= self.cfg.max_message
            && let Some(m) = read
            && self.client_call(line, m, id, out)
        {
            return;
        }
        let Some(v) = self.read(line, Direction::ClientToServer, out) else {
            return;
        };
        self.client_message(line, v, out);
    }

    /// A `tools/call` request with an id, read without a tree ([`RawMessage`],
    /// [`super::session::RawCallParams`]): the same as [`Gateway::client_message`] of its tree, with the
    /// arguments written into the event as the client wrote them. `false`, having done
    /// nothing, for any other message or shape (a member twice, a retry, a `_meta` or a
    /// `name` of another type, …): it is then read as a tree.
    fn client_call(
        &mut self,
        line: &[u8],
        m: RawMessage<'_>,
        id: Option<&Id>,
        out: &mut Output,
    ) -> bool {
        #[cfg(test)]
        if self.trees_only {
            return false;
        }
        if self.gone.is_some() {
            return false;
        }
        if !m.is_v2() || m.method().as_deref() != Some("tools/call") {
            return false;
        }
        let id = match id {
            Some(id) => Some(id.clone()),
            None => m.id(),
        };
        let (Some(id), Some(p)) = (id, m.params) else {
            return false;
        };
        if p.request_state.is_some() || p.input_responses.is_some() {
            return false;
        }
        let Some(tool) = p.name.and_then(Json::as_str) else {
            return false;
        };
        let arguments = match p.arguments {
            None => None,
            Some(a) if a.get() == "null" => None,
            Some(a) if a.get().starts_with('{') => Some(a),
            Some(_) => return false,
        };
        let meta = p.meta.as_ref().map(RequestMeta::of);
        let call = self
            .session
            .observe_call(&id, tool.into_owned(), arguments, meta, || ());
        self.call(&call, Some((&id, "tools/call")), line, out);
        #[cfg(test)]
        {
            self.raw_reads += 1;
        }
        true
    }

    /// The server's final response to a call, read without a tree: the same as
    /// [`Gateway::from_server`] of its tree. `false`, having done nothing, for any other
    /// message or shape (an `input_required` result, a member twice, …).
    fn server_answer(&mut self, line: &[u8], out: &mut Output) -> bool {
        #[cfg(test)]
        if self.trees_only {
            return false;
        }
        let Some(m) = RawMessage::read(line) else {
            return false;
        };
        if !m.is_v2() || m.method.is_some() {
            return false;
        }
        let Some(id) = m.id() else {
            return false;
        };
        let (content, server) = match (m.result, m.error) {
            (Some(r), None) => {
                let Some(r) = RawResult::read(m.tape(), r) else {
                    return false;
                };
                if r.result_type.and_then(Json::as_str).as_deref() == Some("input_required") {
                    return false;
                }
                let server = match r.meta {
                    None => None,
                    Some(meta) => {
                        let Ok(meta) = serde_json::from_str::<Value>(meta.get()) else {
                            return false;
                        };
                        meta.get(super::SERVER_INFO_META).and_then(Peer::of)
                    }
                };
                let content = match r.content.and_then(|c| m.tape().items(c)) {
                    Some(items) => {
                        // The texts joined with newlines; one text is its own (not copied).
                        let mut first: Option<std::borrow::Cow<'_, str>> = None;
                        let mut joined: Option<String> = None;
                        for item in items {
                            // Items that are no object have no `type`: left out, as a tree's.
                            if !item.is_object() {
                                continue;
                            }
                            let Some(i) = RawItem::read(m.tape(), item) else {
                                return false;
                            };
                            if i.kind.and_then(Json::as_str).as_deref() == Some("text")
                                && let Some(t) = i.text.and_then(Json::as_str)
                            {
                                match (&mut joined, first.take()) {
                                    (Some(j), _) => {
                                        j.push('\n');
                                        j.push_str(&t);
                                    }
                                    (None, Some(f)) => joined = Some(format!("{f}\n{t}")),
                                    (None, None) => first = Some(t),
                                }
                            }
                        }
                        Some(joined.map_or_else(|| first.unwrap_or_default(), Into::into))
                    }
                    None => None,
                };
                (content, server)
            }
            (None, Some(e)) => {
                let Some(message) = error_message(m.tape(), e) else {
                    return false;
                };
                (message.and_then(Json::as_str), None)
            }
            _ => return false,
        };
        let Some(call) = self.session.take_call(&id, server) else {
            return false;
        };
        self.forwarded.remove(&id);
        self.result(&call, Some(&id), content.as_deref(), line, out);
        #[cfg(test)]
        {
            self.raw_reads += 1;
        }
        true
    }

    /// Takes in one message the client sent that the transport has already read as JSON
    /// (`v`, from `line`): the same as [`Gateway::from_client`] without a second parse. A
    /// `line` over the limit, or a `v` that is not one message (a batch), is refused as there.
    pub fn from_client_parsed(&mut self, line: &[u8], v: Value, out: &mut Output) {
        let line = trim(line);
        if line.len() > self.cfg.max_message || !v.is_object() {
            self.from_client(line, out);
            return;
        }
        self.client_message(line, v, out);
    }

    fn client_message(&mut self, line: &[u8], v: Value, out: &mut Output) {
        let raw_id = v.get("id").and_then(Id::of);
        let msg = match Message::parse(v) {
            Ok(m) => m,
            Err(e) => {
                let text = format!("invalid JSON-RPC request: {e}");
                self.bad(out, Direction::ClientToServer, &text);
                out.client(&error(raw_id.as_ref(), INVALID_REQUEST, &text, None));
                return;
            }
        };
        if let Some(why) = &self.gone {
            if let Message::Request { id, .. } = &msg {
                out.client(&error(Some(id), SERVER_GONE, why, None));
            }
            return;
        }
        if let Message::Response { id: Some(id), .. } = &msg
            && let Some(held) = self.asked.remove(id)
        {
            self.approval(held, &msg, None, out);
            return;
        }
        let observed = self
            .session
            .observe(Some(Direction::ClientToServer), &msg, || ());
        match observed {
            Err(e) => {
                let text = format!("invalid tools/call: {e}");
                self.bad(out, Direction::ClientToServer, &text);
                if let Some(id) = msg.id() {
                    out.client(&error(Some(id), INVALID_PARAMS, &text, None));
                }
            }
            Ok(Observation::Call(call)) => {
                // A "retry" of an approval that changed the call is a new call: the approval
                // it carried is void.
                if let Some(state) = msg
                    .params()
                    .and_then(|p| p.get("requestState"))
                    .and_then(Value::as_str)
                {
                    self.states.remove(state);
                }
                self.call(&call, request_of(&msg), line, out);
            }
            Ok(Observation::Retry(call)) => {
                let state = msg
                    .params()
                    .and_then(|p| p.get("requestState"))
                    .and_then(Value::as_str);
                match state.and_then(|s| self.states.remove(s)) {
                    Some(held) => self.approval(held, &msg, Some(&call), out),
                    None => self.forward(request_of(&msg), line, out),
                }
            }
            Ok(_) => self.forward(request_of(&msg), line, out),
        }
    }

    /// Takes in one line the server sent.
    pub fn from_server(&mut self, line: &[u8], out: &mut Output) {
        let line = trim(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if line.len() <= self.cfg.max_message && self.server_answer(line, out) {
            return;
        }
        let Some(v) = self.read(line, Direction::ServerToClient, out) else {
            return;
        };
        let msg = match Message::parse(v) {
            Ok(m) => m,
            Err(e) => {
                self.bad(
                    out,
                    Direction::ServerToClient,
                    &format!("invalid JSON-RPC message: {e}"),
                );
                return;
            }
        };
        let asked = match &msg {
            Message::Response { id: Some(id), .. } => self.forwarded.remove(id),
            _ => None,
        };
        let observed = self
            .session
            .observe(Some(Direction::ServerToClient), &msg, || ());
        match observed {
            Ok(Observation::Result(call)) => {
                let content = super::result_text(&msg);
                self.result(&call, msg.id(), content.as_deref(), line, out);
            }
            _ if asked == Some(Asked::ToolsList) && self.cfg.hide_denied => {
                self.tools_list(msg, line, out);
            }
            _ => pass_on(response_id(&msg), line, out),
        }
    }

    /// The server is gone (`why` says how): every request waiting for it is answered with an
    /// error, and so is every later one.
    pub fn server_gone(&mut self, why: &str, out: &mut Output) {
        if self.gone.is_some() {
            return;
        }
        let why = format!("the MCP server is gone: {why}");
        let mut ids: Vec<Id> = self.forwarded.drain().map(|(id, _)| id).collect();
        ids.extend(self.asked.drain().filter_map(|(_, h)| h.id));
        ids.extend(self.states.drain().filter_map(|(_, h)| h.id));
        ids.sort();
        for id in &ids {
            out.client(&error(Some(id), SERVER_GONE, &why, None));
        }
        out.note(
            Level::Error,
            "server",
            why.clone(),
            vec![("answered", json!(ids.len()))],
        );
        self.gone = Some(why);
    }

    /// Reads a line as JSON; answers (client) or reports (server) what cannot be read.
    fn read(&mut self, line: &[u8], dir: Direction, out: &mut Output) -> Option<Value> {
        let client = dir == Direction::ClientToServer;
        if line.len() > self.cfg.max_message {
            self.oversized(dir, line.len() as u64, out);
            return None;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Array(_)) => {
                let text = "JSON-RPC batches are not part of MCP: send one message per line";
                self.bad(out, dir, text);
                if client {
                    out.client(&error(None, INVALID_REQUEST, text, None));
                }
                None
            }
            Ok(v) => Some(v),
            Err(e) => {
                let text = format!("not valid JSON: {e}");
                self.bad(out, dir, &text);
                if client {
                    out.client(&error(None, PARSE_ERROR, &text, None));
                }
                None
            }
        }
    }

    /// Takes in a line of `len` bytes, over the limit, that the transport did not keep.
    pub fn oversized(&mut self, dir: Direction, len: u64, out: &mut Output) {
        let text = format!(
            "a message of {len} bytes is over the limit of {} bytes for an MCP message",
            self.cfg.max_message
        );
        self.bad(out, dir, &text);
        if dir == Direction::ClientToServer {
            out.client(&error(None, INVALID_REQUEST, &text, None));
        }
    }

    fn bad(&self, out: &mut Output, dir: Direction, text: &str) {
        let what = match dir {
            Direction::ClientToServer => "from the client, answered with an error",
            Direction::ServerToClient => "from the server, dropped",
        };
        out.note(
            Level::Warn,
            "bad-message",
            format!("{text} ({what})"),
            vec![("direction", json!(dir.as_str()))],
        );
    }

    /// Forwards a client message unchanged.
    fn forward(&mut self, request: Option<(&Id, &str)>, line: &[u8], out: &mut Output) {
        if let Some((id, method)) = request {
            if self.forwarded.len() >= MAX_FORWARDED && !self.forwarded.contains_key(id) {
                let text = format!(
                    "{MAX_FORWARDED} requests are waiting for the server: answer some first"
                );
                let v = error(Some(id), SERVER_BUSY, &text, None);
                self.close(&v);
                out.client(&v);
                return;
            }
            let asked = if method == "tools/list" {
                Asked::ToolsList
            } else {
                Asked::Other
            };
            self.forwarded.insert(id.clone(), asked);
        }
        out.sends.push(Send::Server(line.to_vec()));
    }

    fn agent(&self, client: Option<&Peer>) -> Option<String> {
        agent_of(&self.cfg, client).map(str::to_string)
    }

    /// Decides the event of a call (`content` for a result), made from the call's parts
    /// (its arguments as the client wrote them, or their tree written): the event whose text
    /// is the tree `{session, agent: {id}, action, tool, args, content}` written with its
    /// keys sorted ([`Parts::write`] writes it so).
    fn decide_event(&mut self, action: &str, call: &Call<()>, content: Option<&str>) -> Decided {
        let agent = agent_of(&self.cfg, call.client.as_deref());
        let tree;
        let args = match (&call.arguments, &call.raw_arguments) {
            (Some(v), _) => {
                tree = v.to_string();
                Some(Part::Json(tree.as_str()))
            }
            // Read whole by the scanner: one value, not checked again.
            (None, Some(r)) => Some(Part::Value(OneValue::scanned(r.as_json()))),
            (None, None) => None,
        };
        let id = [("id", agent.unwrap_or_default())];
        // In the order of their keys.
        let members = [
            Some(("action", Part::Str(action))),
            agent.map(|_| ("agent", Part::Object(&id))),
            args.map(|a| ("args", a)),
            content.map(|c| ("content", Part::Str(c))),
            Some(("session", Part::Str(&self.cfg.session))),
            Some(("tool", Part::Str(&call.tool))),
        ];
        let mut given = [("", Part::Str("")); 6];
        let mut n = 0;
        for (slot, m) in given.iter_mut().zip(members.into_iter().flatten()) {
            *slot = m;
            n += 1;
        }
        let parts = Parts {
            members: given.get(..n).unwrap_or_default(),
        };
        self.decider.decide_parts(&parts)
    }

    fn call(
        &mut self,
        call: &Call<()>,
        request: Option<(&Id, &str)>,
        line: &[u8],
        out: &mut Output,
    ) {
        let d = self.decide_event("tool_call", call, None);
        let agent = agent_of(&self.cfg, call.client.as_deref());
        let fields = || {
            vec![
                ("tool", json!(call.tool)),
                ("agent", json!(agent)),
                ("rules", json!(d.rules)),
            ]
        };
        if !d.warnings.is_empty() {
            out.note(
                Level::Warn,
                "decision",
                format!(
                    "`{}` warned: {}",
                    crate::source::printable(&call.tool),
                    d.warnings.join("; ")
                ),
                fields(),
            );
        }
        match d.verdict {
            Verdict::Allow => self.forward(request, line, out),
            Verdict::Deny => {
                out.note(
                    Level::Info,
                    "decision",
                    format!(
                        "denied `{}`: {}",
                        crate::source::printable(&call.tool),
                        d.because()
                    ),
                    fields(),
                );
                self.deny(
                    call.id.as_ref(),
                    &format!("denied by policy: {}", d.because()),
                    Some(&d),
                    out,
                );
            }
            Verdict::Escalate => self.escalate(call, &d, line, out),
        }
    }

    /// Answers a call with a denial, and closes it in the session.
    fn deny(&mut self, id: Option<&Id>, text: &str, d: Option<&Decided>, out: &mut Output) {
        let Some(id) = id else {
            // A call sent as a notification: nothing answers it, and it is not forwarded.
            return;
        };
        let data = d.map(Decided::json);
        let v = match self.cfg.deny_with {
            DenyWith::RpcError => error(Some(id), DENIED, text, data),
            DenyWith::ToolError => {
                let mut result = json!({
                    "content": [{"type": "text", "text": text}],
                    "isError": true,
                });
                if let (Some(r), Some(data)) = (result.as_object_mut(), data) {
                    r.insert("_meta".into(), json!({ DECISION_META: data }));
                }
                if self.stateless()
                    && let Some(r) = result.as_object_mut()
                {
                    r.insert("resultType".into(), json!("complete"));
                }
                response(id, result)
            }
        };
        self.close(&v);
        out.client(&v);
    }

    /// Feeds an answer the gateway gives in the server's place to the session.
    fn close(&mut self, v: &Value) {
        if let Ok(m) = Message::parse(v.clone()) {
            let _ = self
                .session
                .observe(Some(Direction::ServerToClient), &m, || ());
        }
    }

    fn stateless(&self) -> bool {
        self.session.protocol_version() == Some(STATELESS)
    }

    fn escalate(&mut self, call: &Call<()>, d: &Decided, line: &[u8], out: &mut Output) {
        let tool = crate::source::printable(&call.tool).into_owned();
        let because = d.because();
        let refuse = |why: &str| format!("denied by policy: {because} ({why})");
        if !self.session.client_can_elicit() {
            out.note(
                Level::Info,
                "escalation",
                format!("`{tool}` needs approval and the client cannot be asked: denied"),
                vec![("tool", json!(call.tool))],
            );
            let text = refuse("approval needed, and the client does not declare elicitation");
            self.deny(call.id.as_ref(), &text, Some(d), out);
            return;
        }
        if self.asked.len() + self.states.len() >= MAX_HELD || call.id.is_none() {
            let text = refuse("approval needed, and no more calls can wait for it");
            self.deny(call.id.as_ref(), &text, Some(d), out);
            return;
        }
        self.next += 1;
        let key = format!("govern-approval-{}", self.next);
        let mut args = call
            .arguments_tree()
            .map_or_else(|| "{}".to_string(), |v| v.to_string());
        if args.len() > 500 {
            let mut cut = 500;
            while !args.is_char_boundary(cut) {
                cut -= 1;
            }
            args.truncate(cut);
            args.push('…');
        }
        let mut params = json!({
            "message": format!("Policy: {because}. Allow the call of `{tool}` with {args}?"),
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "approve": {"type": "boolean", "title": "Approve", "description": format!("Allow this call of {tool}")}
                },
                "required": ["approve"]
            }
        });
        if self.session.protocol_version() != Some("2025-06-18")
            && let Some(p) = params.as_object_mut()
        {
            p.insert("mode".into(), json!("form"));
        }
        let held = Held {
            line: line.to_vec(),
            id: call.id.clone(),
            tool: call.tool.clone(),
            because: because.clone(),
        };
        out.note(
            Level::Info,
            "escalation",
            format!("`{tool}` needs approval: asking the user"),
            vec![("tool", json!(call.tool)), ("because", json!(because))],
        );
        if self.stateless() {
            let Some(id) = &call.id else { return };
            let v = response(
                id,
                json!({
                    "resultType": "input_required",
                    "inputRequests": { APPROVAL_KEY: {"method": "elicitation/create", "params": params} },
                    "requestState": key,
                }),
            );
            self.close(&v);
            self.states.insert(key, held);
            out.client(&v);
        } else {
            let id_value = Value::String(key);
            let Some(id) = Id::of(&id_value) else { return };
            out.client(&json!({
                "jsonrpc": "2.0",
                "id": id_value,
                "method": "elicitation/create",
                "params": params,
            }));
            self.asked.insert(id, held);
        }
    }

    /// The user's answer to an approval: the elicitation response (`retry` is `None`), or
    /// the retry of a call carrying it (`input_required`).
    fn approval(&mut self, held: Held, msg: &Message, retry: Option<&Call<()>>, out: &mut Output) {
        let answer = match retry {
            None => match msg {
                Message::Response { result, .. } => result.clone(),
                _ => None,
            },
            Some(_) => msg
                .params()
                .and_then(|p| p.get("inputResponses"))
                .and_then(|r| r.get(APPROVAL_KEY))
                .cloned(),
        };
        let accepted = answer.as_ref().is_some_and(|a| {
            a.get("action").and_then(Value::as_str) == Some("accept")
                && a.get("content")
                    .and_then(|c| c.get("approve"))
                    .and_then(Value::as_bool)
                    == Some(true)
        });
        let tool = crate::source::printable(&held.tool).into_owned();
        let action = answer
            .as_ref()
            .and_then(|a| a.get("action"))
            .and_then(Value::as_str)
            .unwrap_or("no answer")
            .to_string();
        // The call the answer is for: the retry's id on 2026-07-28.
        let id = match (retry, msg) {
            (Some(_), Message::Request { id, .. }) => Some(id.clone()),
            _ => held.id.clone(),
        };
        if !accepted {
            out.note(
                Level::Info,
                "escalation",
                format!("`{tool}` was not approved ({action}): denied"),
                vec![("tool", json!(held.tool))],
            );
            let text = format!(
                "denied by policy: {} (the user did not approve: {action})",
                held.because
            );
            self.deny(id.as_ref(), &text, None, out);
            return;
        }
        out.note(
            Level::Info,
            "escalation",
            format!("`{tool}` approved by the user: forwarded"),
            vec![("tool", json!(held.tool))],
        );
        match (retry, msg) {
            (None, _) => {
                if let Some(id) = &held.id {
                    self.forwarded.insert(id.clone(), Asked::Other);
                }
                out.sends.push(Send::Server(held.line));
            }
            (Some(_), Message::Request { id, params, .. }) => {
                // The retry, without what was the gateway's.
                let mut params = params.clone().unwrap_or_else(|| json!({}));
                if let Some(p) = params.as_object_mut() {
                    p.remove("requestState");
                    let empty = match p.get_mut("inputResponses").and_then(Value::as_object_mut) {
                        Some(r) => {
                            r.remove(APPROVAL_KEY);
                            r.is_empty()
                        }
                        None => false,
                    };
                    if empty {
                        p.remove("inputResponses");
                    }
                }
                let v = json!({"jsonrpc": "2.0", "id": id_value(id), "method": "tools/call", "params": params});
                self.forwarded.insert(id.clone(), Asked::Other);
                out.sends.push(Send::Server(v.to_string().into_bytes()));
            }
            _ => {}
        }
    }

    /// Decides a call's final response.
    fn result(
        &mut self,
        call: &Call<()>,
        id: Option<&Id>,
        content: Option<&str>,
        line: &[u8],
        out: &mut Output,
    ) {
        let d = self.decide_event("tool_result", call, content);
        if !d.warnings.is_empty() {
            out.note(
                Level::Warn,
                "decision",
                format!(
                    "the result of `{}` warned: {}",
                    crate::source::printable(&call.tool),
                    d.warnings.join("; ")
                ),
                vec![("tool", json!(call.tool))],
            );
        }
        if d.verdict == Verdict::Allow {
            pass_on(id, line, out);
            return;
        }
        out.note(
            Level::Info,
            "decision",
            format!(
                "withheld the result of `{}`: {}",
                crate::source::printable(&call.tool),
                d.because()
            ),
            vec![("tool", json!(call.tool)), ("rules", json!(d.rules))],
        );
        let text = format!("result withheld by policy: {}", d.because());
        if let Some(id) = id {
            self.deny(Some(id), &text, Some(&d), out);
        }
    }

    /// Removes from a `tools/list` result the tools denied whatever the arguments.
    fn tools_list(&mut self, msg: Message, line: &[u8], out: &mut Output) {
        let Message::Response {
            id: Some(id),
            result: Some(mut result),
            error: None,
        } = msg
        else {
            out.sends.push(Send::Client(line.to_vec()));
            return;
        };
        let agent = self.agent(self.session.client().map(|p| &**p));
        let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) else {
            out.sends.push(Send::Client(line.to_vec()));
            return;
        };
        let mut hidden = Vec::new();
        let session = self.cfg.session.clone();
        tools.retain(|t| {
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                return true;
            };
            let mut ev = json!({"session": session, "action": "tool_call", "tool": name});
            if let (Some(a), Some(o)) = (&agent, ev.as_object_mut()) {
                o.insert("agent".into(), json!({ "id": a }));
            }
            let deny = self.decider.always_denied(&ev);
            if deny {
                hidden.push(name.to_string());
            }
            !deny
        });
        if hidden.is_empty() {
            out.sends.push(Send::Client(line.to_vec()));
            return;
        }
        out.note(
            Level::Info,
            "hidden",
            format!(
                "hid {} tool(s) the policy denies whatever the arguments",
                hidden.len()
            ),
            vec![("tools", json!(hidden))],
        );
        out.client(&response(&id, result));
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some((&last, rest)) = l.split_last() {
        if last == b'\n' || last == b'\r' {
            l = rest;
        } else {
            break;
        }
    }
    l
}

/// Passes a message of the server on to the client as it came, noting it when it is a
/// response ([`Output::passed_response`]).
fn pass_on(response: Option<&Id>, line: &[u8], out: &mut Output) {
    if let Some(id) = response {
        out.passed_response = Some((out.sends.len(), id.clone()));
    }
    out.sends.push(Send::Client(line.to_vec()));
}

/// The id of a response.
fn response_id(msg: &Message) -> Option<&Id> {
    match msg {
        Message::Response { id, .. } => id.as_ref(),
        _ => None,
    }
}

/// The id and method of a request.
fn request_of(msg: &Message) -> Option<(&Id, &str)> {
    match msg {
        Message::Request { id, method, .. } => Some((id, method)),
        _ => None,
    }
}

fn id_value(id: &Id) -> Value {
    serde_json::from_str(id.as_json()).unwrap_or(Value::Null)
}

fn response(id: &Id, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id_value(id), "result": result})
}

fn error(id: Option<&Id>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let (Some(d), Some(o)) = (data, e.as_object_mut()) {
        o.insert("data".into(), d);
    }
    json!({"jsonrpc": "2.0", "id": id.map_or(Value::Null, id_value), "error": e})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decides by tool name: `ok` allow, `no` deny, `ask` escalate; a result whose content
    /// has `secret` is denied. Keeps every event it saw.
    #[derive(Default)]
    struct Fake {
        seen: Vec<Value>,
    }

    impl Decider for Fake {
        fn decide(&mut self, event: &str) -> Decided {
            let ev: Value = serde_json::from_str(event).unwrap();
            self.seen.push(ev.clone());
            let (verdict, because) = if ev["action"] == "tool_result" {
                if ev["content"].as_str().unwrap_or("").contains("secret") {
                    ("deny", "no secrets")
                } else {
                    ("allow", "")
                }
            } else {
                match ev["tool"].as_str().unwrap() {
                    "ok" => ("allow", ""),
                    "ask" => ("escalate", "needs a human"),
                    _ => ("deny", "never"),
                }
            };
            let messages: Vec<&str> = if because.is_empty() {
                vec![]
            } else {
                vec![because]
            };
            Decided::from_json(
                &json!({"decision": verdict, "rules": ["r"], "messages": messages, "warnings": [], "unknown": [], "bundle": "sha256:x"})
                    .to_string(),
            )
        }

        fn always_denied(&self, event: &Value) -> bool {
            event["tool"] == "no"
        }
    }

    fn gateway(agent: Option<&str>, hide: bool, deny_with: DenyWith) -> Gateway<Fake> {
        Gateway::new(
            Config {
                agent: agent.map(str::to_string),
                session: "s1".into(),
                deny_with,
                hide_denied: hide,
                max_message: 4096,
            },
            Fake::default(),
        )
    }

    fn lines(out: &Output) -> Vec<(char, Value)> {
        out.sends
            .iter()
            .map(|s| match s {
                Send::Server(b) => ('S', serde_json::from_slice(b).unwrap()),
                Send::Client(b) => ('C', serde_json::from_slice(b).unwrap()),
            })
            .collect()
    }

    fn client(g: &mut Gateway<Fake>, v: Value) -> Vec<(char, Value)> {
        let mut out = Output::default();
        g.from_client(v.to_string().as_bytes(), &mut out);
        lines(&out)
    }

    fn server(g: &mut Gateway<Fake>, v: Value) -> Vec<(char, Value)> {
        let mut out = Output::default();
        g.from_server(v.to_string().as_bytes(), &mut out);
        lines(&out)
    }

    fn init(g: &mut Gateway<Fake>, version: &str, elicit: bool) {
        let caps = if elicit {
            json!({"elicitation": {}})
        } else {
            json!({})
        };
        client(
            g,
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":version,"capabilities":caps,"clientInfo":{"name":"desk","version":"1"}}}),
        );
        server(
            g,
            json!({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":version,"serverInfo":{"name":"srv"},"capabilities":{}}}),
        );
    }

    fn call(id: i64, tool: &str) -> Value {
        json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{"x":1}}})
    }

    #[test]
    fn decisions_are_read_as_written_and_leniently_otherwise() {
        let written = r#"{"decision":"deny","rules":["p.r1","p.r\u00e9"],"messages":["no \"x\""],"warnings":[{"rule":"p.w","message":"late"},{"rule":"p.v"}],"unknown":[],"bundle":"sha256:x"}"#;
        let d = Decided::from_json(written);
        assert_eq!(d, Decided::from_tree(written));
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(d.rules, ["p.r1", "p.r\u{e9}"]);
        assert_eq!(d.messages, ["no \"x\""]);
        assert_eq!(d.warnings, ["p.w: late", "p.v"]);
        assert_eq!(d.json()["bundle"], "sha256:x");
        // Not as written: read as a tree, what is not a string left out; never an allow
        // without a verdict.
        for odd in [
            r#"{"decision":"allow","rules":["a",1],"messages":null,"warnings":[{"message":"m"}]}"#,
            r#"{"decision":"allow","decision":"deny"}"#,
            r#"{"decision":7,"error":"broken"}"#,
            r#"{"rules":[]}"#,
            "not json",
        ] {
            assert_eq!(Decided::from_json(odd), Decided::from_tree(odd), "{odd}");
        }
        assert_eq!(Decided::from_json(r#"{"rules":[]}"#).verdict, Verdict::Deny);
        assert_eq!(Decided::from_json("not json").verdict, Verdict::Deny);
        assert_eq!(
            Decided::from_json(r#"{"decision":"allow","rules":["a",1]}"#).rules,
            ["a"]
        );
    }

    #[test]
    fn allowed_calls_and_other_messages_pass_byte_for_byte() {
        let mut g = gateway(None, false, DenyWith::ToolError);
        init(&mut g, "2025-11-25", false);
        let text = br#"{"jsonrpc":"2.0", "id":7,"method":"tools/call","params":{"name":"ok","arguments":{"x":1}}}"#;
        let mut out = Output::default();
        g.from_client(&[&text[..], b"\r\n"].concat(), &mut out);
        assert_eq!(out.sends, [Send::Server(text.to_vec())]);
        let result =
            br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"fine"}]}}"#;
        let mut out = Output::default();
        g.from_server(result, &mut out);
        assert_eq!(out.sends, [Send::Client(result.to_vec())]);
        let ev = &g.decider().seen;
        assert_eq!(ev[0]["agent"]["id"], "desk");
        assert_eq!(ev[0]["session"], "s1");
        assert_eq!(ev[0]["args"]["x"], 1);
        assert_eq!(ev[1]["action"], "tool_result");
        assert_eq!(ev[1]["content"], "fine");
    }

    #[test]
    fn denied_calls_are_answered_and_never_forwarded() {
        let mut g = gateway(Some("ops"), false, DenyWith::ToolError);
        init(&mut g, "2025-06-18", false);
        let sent = client(&mut g, call(3, "no"));
        assert_eq!(sent.len(), 1);
        let (to, v) = &sent[0];
        assert_eq!(*to, 'C');
        assert_eq!(v["id"], 3);
        assert_eq!(v["result"]["isError"], true);
        assert_eq!(v["result"]["content"][0]["text"], "denied by policy: never");
        assert_eq!(v["result"]["_meta"][DECISION_META]["decision"], "deny");
        // --agent wins over the client's declared name.
        assert_eq!(g.decider().seen[0]["agent"]["id"], "ops");
        assert_eq!(g.session().pending(), 0);

        let mut g = gateway(None, false, DenyWith::RpcError);
        init(&mut g, "2025-06-18", false);
        let sent = client(&mut g, call(3, "no"));
        assert_eq!(sent[0].1["error"]["code"], DENIED);
        assert_eq!(sent[0].1["error"]["message"], "denied by policy: never");
    }

    #[test]
    fn escalations_ask_the_user_and_forward_only_on_approval() {
        let mut g = gateway(None, false, DenyWith::ToolError);
        init(&mut g, "2025-11-25", true);
        let sent = client(&mut g, call(5, "ask"));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, 'C');
        assert_eq!(sent[0].1["method"], "elicitation/create");
        let ask = sent[0].1["id"].clone();
        assert!(
            sent[0].1["params"]["message"]
                .as_str()
                .unwrap()
                .contains("needs a human")
        );
        let sent = client(
            &mut g,
            json!({"jsonrpc":"2.0","id":ask,"result":{"action":"accept","content":{"approve":true}}}),
        );
        assert_eq!(sent, [('S', call(5, "ask"))]);

        // Declined, or accepted without approving: denied, not forwarded.
        for answer in [
            json!({"action":"decline"}),
            json!({"action":"accept","content":{"approve":false}}),
        ] {
            let sent = client(&mut g, call(6, "ask"));
            let ask = sent[0].1["id"].clone();
            let sent = client(&mut g, json!({"jsonrpc":"2.0","id":ask,"result":answer}));
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].0, 'C');
            assert_eq!(sent[0].1["id"], 6);
            assert_eq!(sent[0].1["result"]["isError"], true);
        }

        // A client that cannot be asked: denied.
        let mut g = gateway(None, false, DenyWith::ToolError);
        init(&mut g, "2025-11-25", false);
        let sent = client(&mut g, call(5, "ask"));
        assert_eq!(sent[0].0, 'C');
        assert_eq!(sent[0].1["result"]["isError"], true);
    }

    #[test]
    fn stateless_escalations_use_input_required() {
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "agent-7"},
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
        });
        let mut g = gateway(None, false, DenyWith::ToolError);
        let first = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask","arguments":{"x":1},"_meta":meta}});
        let sent = client(&mut g, first);
        assert_eq!(sent[0].0, 'C');
        let r = &sent[0].1["result"];
        assert_eq!(r["resultType"], "input_required");
        let state = r["requestState"].clone();
        assert_eq!(
            r["inputRequests"][APPROVAL_KEY]["method"],
            "elicitation/create"
        );
        let retry = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"x":1},"_meta":meta,
            "requestState":state,"inputResponses":{APPROVAL_KEY:{"action":"accept","content":{"approve":true}}}}});
        let sent = client(&mut g, retry);
        assert_eq!(
            sent,
            [(
                'S',
                json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"x":1},"_meta":meta}})
            )]
        );
        // One call: decided once.
        assert_eq!(g.decider().seen.len(), 1);
        assert_eq!(g.decider().seen[0]["agent"]["id"], "agent-7");
        let done = server(
            &mut g,
            json!({"jsonrpc":"2.0","id":2,"result":{"content":[],"resultType":"complete"}}),
        );
        assert_eq!(done[0].0, 'C');
        assert_eq!(g.decider().seen[1]["action"], "tool_result");
    }

    #[test]
    fn denied_results_are_replaced() {
        let mut g = gateway(None, false, DenyWith::ToolError);
        init(&mut g, "2025-11-25", false);
        client(&mut g, call(9, "ok"));
        let sent = server(
            &mut g,
            json!({"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"the secret is 42"}]}}),
        );
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1["id"], 9);
        assert_eq!(sent[0].1["result"]["isError"], true);
        assert_eq!(
            sent[0].1["result"]["content"][0]["text"],
            "result withheld by policy: no secrets"
        );
    }

    #[test]
    fn tools_lists_hide_what_is_always_denied() {
        let list = json!({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"ok"},{"name":"no"},{"name":"ask"}]}});
        let mut g = gateway(None, true, DenyWith::ToolError);
        init(&mut g, "2025-11-25", false);
        client(
            &mut g,
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        );
        let sent = server(&mut g, list.clone());
        let names: Vec<&str> = sent[0].1["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ok", "ask"]);
        // Without --hide-denied: unchanged.
        let mut g = gateway(None, false, DenyWith::ToolError);
        client(
            &mut g,
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        );
        assert_eq!(server(&mut g, list.clone()), [('C', list)]);
    }

    #[test]
    fn bad_messages_are_answered_and_never_forwarded() {
        let mut g = gateway(None, false, DenyWith::ToolError);
        let mut out = Output::default();
        g.from_client(b"{not json", &mut out);
        g.from_client(
            br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ok"}}]"#,
            &mut out,
        );
        g.from_client(
            br#"{"jsonrpc":"1.0","id":2,"method":"tools/call"}"#,
            &mut out,
        );
        g.from_client(
            br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#,
            &mut out,
        );
        g.from_client(&[b' '; 10], &mut out);
        let long = format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"ok","arguments":{{"x":"{}"}}}}}}"#,
            "a".repeat(5000)
        );
        g.from_client(long.as_bytes(), &mut out);
        let codes: Vec<(Value, Value)> = lines(&out)
            .into_iter()
            .map(|(to, v)| {
                assert_eq!(to, 'C');
                (v["id"].clone(), v["error"]["code"].clone())
            })
            .collect();
        assert_eq!(
            codes,
            [
                (Value::Null, json!(PARSE_ERROR)),
                (Value::Null, json!(INVALID_REQUEST)),
                (json!(2), json!(INVALID_REQUEST)),
                (json!(3), json!(INVALID_PARAMS)),
                (Value::Null, json!(INVALID_REQUEST)),
            ]
        );
        assert!(g.decider().seen.is_empty());
        // From the server: dropped and reported.
        let mut out = Output::default();
        g.from_server(b"garbage", &mut out);
        assert!(out.sends.is_empty());
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn requests_waiting_for_the_server_are_bounded() {
        let mut g = gateway(None, false, DenyWith::ToolError);
        let mut out = Output::default();
        for i in 0..MAX_FORWARDED {
            g.from_client(
                format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"ping"}}"#).as_bytes(),
                &mut out,
            );
        }
        assert_eq!(out.sends.len(), MAX_FORWARDED);
        let refused = client(&mut g, call(-1, "ok"));
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, 'C');
        assert_eq!(refused[0].1["error"]["code"], SERVER_BUSY);
        // An answer makes room.
        server(&mut g, json!({"jsonrpc":"2.0","id":0,"result":{}}));
        assert_eq!(client(&mut g, call(-2, "ok"))[0].0, 'S');
    }

    #[test]
    fn a_gone_server_is_reported_to_the_client() {
        let mut g = gateway(None, false, DenyWith::ToolError);
        init(&mut g, "2025-11-25", false);
        client(&mut g, call(4, "ok"));
        let mut out = Output::default();
        g.server_gone("exit status 3", &mut out);
        let sent = lines(&out);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1["id"], 4);
        assert_eq!(sent[0].1["error"]["code"], SERVER_GONE);
        let later = client(
            &mut g,
            json!({"jsonrpc":"2.0","id":5,"method":"tools/list"}),
        );
        assert_eq!(later[0].1["error"]["code"], SERVER_GONE);
    }

    /// Records each event's text as the decision point gets it; allows everything.
    #[derive(Default)]
    struct Texts(Vec<String>);

    impl Decider for Texts {
        fn decide(&mut self, event: &str) -> Decided {
            self.0.push(event.to_string());
            Decided::from_json(r#"{"decision":"allow","rules":["r"],"messages":[],"warnings":[]}"#)
        }

        fn always_denied(&self, _: &Value) -> bool {
            false
        }
    }

    /// The events written straight from a call's parts are the text of the event's tree
    /// written with its keys sorted, except the arguments, which are the client's own text
    /// (their key order, spacing and escapes as sent): the same text goes to the decision
    /// point and the audit log.
    #[test]
    fn events_are_the_text_of_their_tree() {
        for agent in [None, Some("ops \"bot\"")] {
            let mut g = Gateway::new(
                Config {
                    agent: agent.map(str::to_string),
                    session: "s\u{e9}1".into(),
                    deny_with: DenyWith::ToolError,
                    hide_denied: false,
                    max_message: 4096,
                },
                Texts::default(),
            );
            let mut out = Output::default();
            g.from_client(
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "cli\n\u{1f600}", "version": "1"}}})
                    .to_string()
                    .as_bytes(),
                &mut out,
            );
            g.from_server(br#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#, &mut out);
            g.from_client(
                br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t\u00e9","arguments":{"z":[1,2.5,{"b":null,"a":"\"x\"\u0001"}],"a":true}}}"#,
                &mut out,
            );
            g.from_server(
                br#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"r\u00e9sultat\n"}],"isError":false}}"#,
                &mut out,
            );
            g.from_client(
                br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"bare"}}"#,
                &mut out,
            );
            let texts = &g.decider().0;
            assert_eq!(texts.len(), 3, "{texts:?}");
            let sent = r#"{"z":[1,2.5,{"b":null,"a":"\"x\"\u0001"}],"a":true}"#;
            for (i, t) in texts.iter().enumerate() {
                let tree: Value = serde_json::from_str(t).unwrap();
                if i < 2 {
                    assert!(t.contains(&format!(r#""args":{sent},"#)), "{t}");
                    let sorted = tree["args"].to_string();
                    assert_eq!(t.replace(sent, &sorted), tree.to_string());
                } else {
                    assert_eq!(*t, tree.to_string());
                }
            }
            let first: Value = serde_json::from_str(&texts[0]).unwrap();
            let who = agent.unwrap_or("cli\n\u{1f600}");
            assert_eq!(
                first,
                json!({"session": "s\u{e9}1", "agent": {"id": who}, "action": "tool_call", "tool": "t\u{e9}", "args": {"z": [1, 2.5, {"b": null, "a": "\"x\"\u{1}"}], "a": true}})
            );
            let second: Value = serde_json::from_str(&texts[1]).unwrap();
            assert_eq!(second["action"], "tool_result");
            assert!(
                second["content"]
                    .as_str()
                    .unwrap()
                    .contains("r\u{e9}sultat")
            );
            let third: Value = serde_json::from_str(&texts[2]).unwrap();
            assert!(third.get("args").is_none() && third.get("content").is_none());
        }
    }

    /// Reading a call and its answer without a tree does what reading their trees did: the
    /// same lines sent both ways, byte for byte, the same notes, the same session, and
    /// events that are the same JSON (the arguments' text is the client's own). Messages of
    /// other shapes (a member twice, arrays where objects belong, odd ids) are read as trees.
    #[test]
    fn calls_read_without_a_tree_are_read_as_their_trees() {
        let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"agent-7","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#;
        let caps = r#""_meta":{"io.modelcontextprotocol/clientCapabilities":{"elicitation":{}},"io.modelcontextprotocol/clientInfo":{"name":"agent-8"}}"#;
        let client_lines: Vec<String> = vec![
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"desk","version":"1"}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ok","arguments":{"z":1, "a" : [true,{"y":null}],"q":"\u00e9\n"}}}"#.into(),
            format!(r#"{{"jsonrpc":"2.0","id":"c-3","method":"tools/call","params":{{"name":"ok","arguments":{{"x":1}},{meta}}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"no","arguments":null,{meta}}}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"ask","arguments":{{"amount":5,"amount":5000}},{caps}}}}}"#),
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"o\u006b","arguments":{"x":1}},"params":{"name":"no"}}"#.into(),
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":["ok",{"x":1}]}"#.into(),
            r#"["2.0",8,"tools/call",{"name":"ok"}]"#.into(),
            r#"{"jsonrpc":"2.0","id":1.0,"method":"tools/call","params":{"name":"ok"}}"#.into(),
            r#"{"jsonrpc":"2.0","id":"a\"b","method":"tools/call","params":{"name":"ok"}}"#.into(),
            r#"{"jsonrpc":"2.0","id":-0,"method":"tools/call","params":{"name":"ok"}}"#.into(),
            r#"{"jsonrpc":"2.0","id":123456789012345678901,"method":"tools/call","params":{"name":"ok"}}"#.into(),
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"ok","arguments":[1]}}"#.into(),
            r#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"ok","_meta":[1,2,3]}}"#.into(),
            r#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"ok","_meta":{"io.modelcontextprotocol/clientInfo":{"name":5}}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"ok","_meta":{"io.modelcontextprotocol/clientCapabilities":null}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"ok","requestState":"s"}}"#.into(),
            r#"{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"ok"},"result":{}}"#.into(),
            r#"{"jsonrpc":"2.0","id":15,"id":16,"method":"tools/call","params":{"name":"ok"}}"#.into(),
            r#"{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"ok","arguments":{"deep":[[[[1]]]]}}}"#.into(),
            // Spacing everywhere, and strings holding what delimits members.
            " \r\n{ \"jsonrpc\" : \"2.0\" ,\t\"id\" : 20 , \"method\" : \"tools/call\" , \"params\" : { \"name\" : \"ok\" , \"arguments\" : { \"s\" : \"}{][,:\\\"\" , \"n\" : [ 1 , { } , [ ] ] } } }\n ".into(),
            // Keys with escapes: possibly a member written otherwise (read as a tree).
            r#"{"jsonrpc":"2.0","id":21,"\u006dethod":"tools/call","params":{"name":"ok","arguments":{"x":1}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"n\u0061me":"no","name":"ok"}}"#.into(),
            r#"{"jsonrpc":"2.0","id":23,"method":"tools/call","x\"":1,"params":{"name":"ok","_meta":{"io.modelcontextprotocol\/clientInfo":{"name":"agent-9"}}}}"#.into(),
            // Escapes in the values the gateway reads.
            r#"{"jsonrpc":"2.0","id":"\u0032\u0034","method":"tools\/call","params":{"name":"o\u006b","arguments":{"q":"\"\\\/\b\f\n\r\t\u00e9"},"_meta":{"io.modelcontextprotocol/clientInfo":{"name":"agent\u002d10","version":"\u0031"}}}}"#.into(),
            // What a tree refuses, or the scanner leaves to one.
            r#"{"jsonrpc":"2.0","id":25,"method":"tools/call","params":{"name":"ok","arguments":{"x":1e400}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":26,"method":"tools/call","params":{"name":"ok","arguments":{"x":"\ud800"}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":27,"method":"tools/call","params":{"name":"ok","arguments":{"x":"\ud83d\ude00","y":-1.5e-7,"z":1E+2}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":28,"method":"tools/call","params":{"name":"ok","arguments":{"x":01}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":29,"method":"tools/call","params":{"name":"ok","arguments":{"x":1.}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":"ok","arguments":{"x":1,}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"ok"}} {"#.into(),
            r#"{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"ok","arguments":{"x":"\q"}}}"#.into(),
            "{\"jsonrpc\":\"2.0\",\"id\":33,\"method\":\"tools/call\",\"params\":{\"name\":\"ok\",\"arguments\":{\"x\":\"a\tb\"}}}".into(),
            format!(r#"{{"jsonrpc":"2.0","id":34,"method":"tools/call","params":{{"name":"ok","arguments":{{"x":{}1{}}}}}}}"#, "[".repeat(124), "]".repeat(124)),
            format!(r#"{{"jsonrpc":"2.0","id":35,"method":"tools/call","params":{{"name":"ok","arguments":{{"x":{}}}}}}}"#, "9".repeat(320)),
            r#"{"jsonrpc":"2.0","id":36,"method":"tools/call","params":{"name":"ok","arguments":{"x":12345678901234567890123,"y":-0.0,"z":[true,false,null]}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":37,"method":"tools/call","params":{"name":"ok","_meta":null,"arguments":{}},"id":37}"#.into(),
            r#"{"jsonrpc":"2.0","id":38,"method":"tools/call","params":null}"#.into(),
            r#"{"jsonrpc":"2.0","id":39,"method":"tools/call","params":{"name":"ok","_meta":{"io.modelcontextprotocol/clientInfo":null,"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":40,"method":"tools/call","params":{"name":"ok","_meta":{"io.modelcontextprotocol/clientInfo":{"name":"agent-11","name":"agent-12"}}}}"#.into(),
        ];
        let mut client_lines: Vec<Vec<u8>> =
            client_lines.into_iter().map(String::into_bytes).collect();
        // Bytes that are not UTF-8, in a member the gateway reads and in one it skips.
        client_lines.push(b"{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"tools/call\",\"params\":{\"name\":\"o\xffk\"}}".to_vec());
        client_lines.push(b"{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/call\",\"x\":\"\xc3\",\"params\":{\"name\":\"ok\"}}".to_vec());
        client_lines.push(b"{\"jsonrpc\":\"2.0\",\"id\":43,\"method\":\"tools/call\",\"params\":{\"name\":\"\xc3\xa9\",\"arguments\":{\"x\":\"\xe2\x82\xac\"}}}".to_vec());
        let server_lines = [
            r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"a"},{"type":"image","data":"x"},{"text":"b","type":"text"},7,["text","c"]]}}"#,
            r#"{"jsonrpc":"2.0","id":"c-3","result":{"content":[{"type":"text","text":"the secret"}],"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s2"}}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":"a\"b","error":{"code":1,"message":"br\u006bken"}}"#,
            r#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","type":"image","text":"t"}]}}"#,
            r#"{"jsonrpc":"2.0","id":17,"result":{"resultType":"input_required","requestState":"r"}}"#,
            r#"{"jsonrpc":"2.0","id":10,"result":{"content":[]},"error":{"code":1}}"#,
            r#"{"jsonrpc":"2.0","id":11,"error":"no"}"#,
            r#"{"jsonrpc":"2.0","id":12,"result":5}"#,
            r#"{"jsonrpc":"2.0","id":13,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":14,"result":{"content":[{"type":"text","text":"x"}],"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":-0,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":123456789012345678901,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":16,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":99,"result":{"content":[]}}"#,
            " { \"jsonrpc\" : \"2.0\" , \"id\" : 20 , \"result\" : { \"content\" : [ { \"type\" : \"text\" , \"text\" : \"a]}\\\"\" } , 3 , { \"text\" : \"b\" , \"type\" : \"text\" } ] } } ",
            r#"{"jsonrpc":"2.0","id":"24","result":{"content":[{"type":"te\u0078t","text":"\u00e9\n"}]}}"#,
            r#"{"jsonrpc":"2.0","id":21,"result":{"content":[{"type":"text","text":"\ud83d\ude00"}]}}"#,
            r#"{"jsonrpc":"2.0","id":22,"result":{"content":[{"type":"text","t\u0065xt":"x"}]}}"#,
            r#"{"jsonrpc":"2.0","id":23,"result":{"content":[{"type":"text","text":"x"}],"isError":false,"structuredContent":{"a":[1e5]}}}"#,
            r#"{"jsonrpc":"2.0","id":27,"error":{"code":-32000,"message":"gone\ttoo","data":null}}"#,
            r#"{"jsonrpc":"2.0","id":36,"error":{"code":1,"message":7}}"#,
            r#"{"jsonrpc":"2.0","id":37,"error":{"code":1}}"#,
            r#"{"jsonrpc":"2.0","id":39,"error":{"message":"a","message":"b"}}"#,
            r#"{"jsonrpc":"2.0","id":43,"result":{"content":[{"type":"text","text":"x"}]},"x":1,}"#,
            r#"{"jsonrpc":"2.0","id":43,"result":{"content":null,"resultType":"complete"}}"#,
        ];
        let run = |trees_only: bool| {
            let mut g = gateway(None, false, DenyWith::ToolError);
            g.trees_only = trees_only;
            let mut outs = Vec::new();
            for l in &client_lines {
                let mut out = Output::default();
                g.from_client(l, &mut out);
                outs.push((out.sends, out.notes, out.passed_response));
            }
            for l in server_lines {
                let mut out = Output::default();
                g.from_server(l.as_bytes(), &mut out);
                outs.push((out.sends, out.notes, out.passed_response));
            }
            let session = format!(
                "{:?} {:?} {:?} {:?} {}",
                g.session().client(),
                g.session().server(),
                g.session().protocol_version(),
                g.session().client_capabilities(),
                g.session().pending()
            );
            (outs, session, g.decider.seen.clone(), g.raw_reads)
        };
        let (fast, fast_session, fast_events, raw_reads) = run(false);
        let (trees, trees_session, tree_events, none) = run(true);
        // The plain calls and answers were read without a tree (the comparison is not of
        // two tree reads).
        assert_eq!(none, 0);
        assert_eq!(raw_reads, 30);
        assert_eq!(fast.len(), trees.len());
        for (i, (f, t)) in fast.iter().zip(&trees).enumerate() {
            assert_eq!(f, t, "message {i}");
        }
        assert_eq!(fast_session, trees_session);
        assert_eq!(fast_events, tree_events);
        assert!(fast_events.len() >= 8, "{fast_events:?}");
    }
}
