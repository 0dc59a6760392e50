//! One MCP connection: which request each response answers, who the client and the server
//! say they are, and which `tools/call` requests are one call.
//!
//! Feed [`Session::observe`] every message of the connection in the order it was seen, with
//! the direction it travelled when known. It answers with an [`Observation`]:
//!
//! - [`Observation::Call`]: a `tools/call` request that starts a call: the agent action to
//!   decide (a `tools/call` sent as a notification, without an id, is one too: nothing
//!   answers it, but a server may run it);
//! - [`Observation::Retry`]: a `tools/call` that retries a call the server answered with
//!   `resultType: "input_required"` (2026-07-28), carrying `inputResponses` and the echoed
//!   `requestState`: the same call again, not a new one. A retry folds into its call only when
//!   it names the same tool with the same arguments (and the same `requestState`); otherwise
//!   it is a new call, decided on its own;
//! - [`Observation::Result`]: the final response to a call (a result or an error);
//! - [`Observation::Skipped`]: anything else, with the reason ([`Skip`]).
//!
//! **Pairing by direction.** Client and server number their requests independently: the
//! server's `elicitation/create`, `sampling/createMessage`, `roots/list` and `ping` carry ids
//! that collide with the client's. A response is paired with a pending request of the other
//! direction only. When a log does not say which way a message went, a request's direction
//! follows from its method ([`super::message::direction_of_method`]); a response whose id is
//! pending in several directions is paired by the shape of its result (a tool result has
//! `content`, an elicitation answer `action`, …) and, when that does not settle it, is
//! skipped as [`Skip::Ambiguous`] rather than guessed.
//!
//! **Identity.** The 2025-06-18 and 2025-11-25 protocols name the client once, in the
//! `initialize` request's `clientInfo` (the server in its result's `serverInfo`). Protocol
//! 2026-07-28 has no `initialize`: every request carries
//! `params._meta["io.modelcontextprotocol/clientInfo"]` and every result
//! `result._meta["io.modelcontextprotocol/serverInfo"]`. A call's client is the one its own
//! request declares, else the latest one the connection declared. Both are the peers' own
//! word, unverified.
//!
//! **Bounds.** At most `max_pending` requests await a response (the oldest are forgotten;
//! their responses are then [`Skip::Unmatched`]) and at most [`MAX_AWAITING_INPUT`] calls
//! await their retry.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::message::{
    Direction, Id, Json, Message, MessageError, direction_of_method, object_member, other_key,
};
use super::scan::{Tape, each_member, once};
use super::{CLIENT_CAPABILITIES_META, CLIENT_INFO_META, PROTOCOL_VERSION_META, SERVER_INFO_META};

/// The most requests awaiting a response that a session remembers by default.
pub const MAX_PENDING: usize = 65_536;
/// The most calls awaiting their retry after `input_required` that a session remembers.
pub const MAX_AWAITING_INPUT: usize = 1024;

/// A client or server as it declares itself (`clientInfo`, `serverInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub version: Option<String>,
}

impl Peer {
    /// Reads an `Implementation` object; `None` unless it has a string `name`.
    pub fn of(v: &Value) -> Option<Peer> {
        let name = v.get("name")?.as_str()?.to_string();
        let version = v.get("version").and_then(Value::as_str).map(str::to_string);
        Some(Peer { name, version })
    }
}

/// One tool call, possibly over several rounds of `input_required`. `T` is what the caller
/// attaches to it when it starts (the trace reader keeps the envelope's agent there).
#[derive(Debug)]
pub struct Call<T = ()> {
    /// `params.name`.
    pub tool: String,
    /// `params.arguments`, an object, when given and read as a tree (by [`Session::observe`]).
    pub arguments: Option<Value>,
    /// `params.arguments` as the client wrote it, when the call was read without a tree
    /// ([`Session::observe_call`]); `arguments` is then `None`. [`Call::arguments_tree`]
    /// gives either as a tree.
    pub raw_arguments: Option<super::scan::OwnedJson>,
    /// The client as declared with this request, else as the connection declared it.
    pub client: Option<Arc<Peer>>,
    /// The id of the request that started the call (`None` for a `tools/call` sent as a
    /// notification, which no response answers but a server may still run).
    pub id: Option<Id>,
    pub data: T,
}

impl<T> Call<T> {
    /// The arguments as a tree, however they were read (`None` when not given, or when
    /// their text is not JSON, which a raw read does not let through).
    pub fn arguments_tree(&self) -> Option<std::borrow::Cow<'_, Value>> {
        match (&self.arguments, &self.raw_arguments) {
            (Some(v), _) => Some(std::borrow::Cow::Borrowed(v)),
            (None, Some(r)) => serde_json::from_str(r.get())
                .ok()
                .map(std::borrow::Cow::Owned),
            (None, None) => None,
        }
    }
}

/// A request's `params` as they are written, not built into a tree: the members a
/// `tools/call` and the routing headers are checked by. Read as a member of
/// [`super::message::RawMessage`], in the same pass.
#[derive(Debug, Default)]
pub struct RawCallParams<'a> {
    pub name: Option<Json<'a>>,
    pub uri: Option<Json<'a>>,
    pub arguments: Option<Json<'a>>,
    /// `_meta`: `None` when absent or `null` (an object that is not is not read so).
    pub meta: Option<RawRequestMeta<'a>>,
    pub request_state: Option<Json<'a>>,
    pub input_responses: Option<Json<'a>>,
}

impl<'a> RawCallParams<'a> {
    /// The members of an object; `None` when one is given twice, or `_meta` is neither an
    /// object read so nor `null`.
    pub fn read(tape: &Tape<'a>, v: Json<'a>) -> Option<RawCallParams<'a>> {
        let mut p = RawCallParams::default();
        let mut meta = false;
        each_member(tape, v, |key, value| match key {
            "name" => once(&mut p.name, value),
            "uri" => once(&mut p.uri, value),
            "arguments" => once(&mut p.arguments, value),
            "_meta" => object_member(&mut meta, &mut p.meta, value, |v| {
                RawRequestMeta::read(tape, v)
            }),
            "requestState" => once(&mut p.request_state, value),
            "inputResponses" => once(&mut p.input_responses, value),
            _ => other_key(key),
        })?;
        Some(p)
    }
}

/// The reserved `_meta` keys of a client request, as they are written.
#[derive(Debug, Default)]
pub struct RawRequestMeta<'a> {
    pub version: Option<Json<'a>>,
    capabilities: Option<Json<'a>>,
    /// `None` when absent or `null`, which declare nothing alike.
    info: Option<RawPeer<'a>>,
}

impl<'a> RawRequestMeta<'a> {
    fn read(tape: &Tape<'a>, v: Json<'a>) -> Option<RawRequestMeta<'a>> {
        let mut m = RawRequestMeta::default();
        let mut info = false;
        each_member(tape, v, |key, value| match key {
            "io.modelcontextprotocol/protocolVersion" => once(&mut m.version, value),
            "io.modelcontextprotocol/clientCapabilities" => once(&mut m.capabilities, value),
            "io.modelcontextprotocol/clientInfo" => {
                object_member(&mut info, &mut m.info, value, |v| RawPeer::read(tape, v))
            }
            _ => other_key(key),
        })?;
        Some(m)
    }
}

/// An `Implementation` object as it is written.
#[derive(Debug, Default)]
struct RawPeer<'a> {
    name: Option<Json<'a>>,
    version: Option<Json<'a>>,
}

impl<'a> RawPeer<'a> {
    fn read(tape: &Tape<'a>, v: Json<'a>) -> Option<RawPeer<'a>> {
        let mut p = RawPeer::default();
        each_member(tape, v, |key, value| match key {
            "name" => once(&mut p.name, value),
            "version" => once(&mut p.version, value),
            _ => other_key(key),
        })?;
        Some(p)
    }
}

/// A client request's `_meta`, read and checked without a tree: what
/// [`Session::observe_call`] notes of it.
#[derive(Debug)]
pub struct RequestMeta<'a> {
    version: Option<std::borrow::Cow<'a, str>>,
    capabilities: Option<Json<'a>>,
    /// `None`: no `clientInfo`; `Some(None)`: one without a string `name`.
    info: Option<Option<Declared<'a>>>,
}

/// A declared client's `name` and `version`.
type Declared<'a> = (std::borrow::Cow<'a, str>, Option<std::borrow::Cow<'a, str>>);

impl<'a> RequestMeta<'a> {
    /// What a `_meta` read with its request says.
    pub fn of(m: &RawRequestMeta<'a>) -> RequestMeta<'a> {
        RequestMeta {
            version: m.version.and_then(Json::as_str),
            capabilities: m.capabilities,
            info: m.info.as_ref().map(|p| {
                p.name
                    .and_then(Json::as_str)
                    .map(|n| (n, p.version.and_then(Json::as_str)))
            }),
        }
    }
}

/// What a message is, for policy.
#[derive(Debug)]
pub enum Observation<T = ()> {
    /// A `tools/call` request that starts a call.
    Call(Arc<Call<T>>),
    /// A `tools/call` request that retries `call` with the input the server asked for.
    Retry(Arc<Call<T>>),
    /// The final response to a call.
    Result(Arc<Call<T>>),
    /// Not an agent action.
    Skipped(Skip),
}

/// Why a message is not an agent action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// `initialize`, `server/discover`, their results, `notifications/initialized`.
    Handshake,
    /// A notification (other than `notifications/initialized`).
    Notification,
    /// A client request other than `tools/call` (`tools/list`, `resources/read`, …).
    Request,
    /// A request from the server to the client (`elicitation/create`,
    /// `sampling/createMessage`, `roots/list`, `ping`), or one whose direction is unknown.
    ServerRequest,
    /// A response to a request other than `tools/call`.
    Reply,
    /// A `tools/call` result with `resultType: "input_required"`: the call goes on.
    InputRequired,
    /// A `tools/call` that retries a call with the input it asked for: the same call.
    Retry,
    /// A response whose request is not in the log (or was forgotten).
    Unmatched,
    /// A response, in a log without directions, that could answer requests of both sides.
    Ambiguous,
}

impl Skip {
    pub const ALL: [Skip; 9] = [
        Skip::Handshake,
        Skip::Notification,
        Skip::Request,
        Skip::ServerRequest,
        Skip::Reply,
        Skip::InputRequired,
        Skip::Retry,
        Skip::Unmatched,
        Skip::Ambiguous,
    ];

    /// A short name, as reports and JSON show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Handshake => "mcp handshake",
            Skip::Notification => "mcp notification",
            Skip::Request => "mcp request other than tools/call",
            Skip::ServerRequest => "mcp request from the server",
            Skip::Reply => "mcp response to another request",
            Skip::InputRequired => "mcp input_required result",
            Skip::Retry => "mcp tools/call retry",
            Skip::Unmatched => "mcp response without its request",
            Skip::Ambiguous => "mcp response of unknown direction",
        }
    }
}

/// What a pending request asked, to know what its response means.
#[derive(Debug)]
enum Asked<T> {
    Call(Arc<Call<T>>),
    Initialize,
    Discover,
    Elicit,
    Sample,
    Roots,
    Other,
}

impl<T> Asked<T> {
    fn of(method: &str) -> Asked<T> {
        match method {
            "initialize" => Asked::Initialize,
            "server/discover" => Asked::Discover,
            "elicitation/create" => Asked::Elicit,
            "sampling/createMessage" => Asked::Sample,
            "roots/list" => Asked::Roots,
            _ => Asked::Other,
        }
    }

    /// Whether a response of this shape can answer this request (for logs without
    /// directions). Error responses fit anything.
    fn fits(&self, result: Option<&Value>) -> bool {
        let Some(r) = result else { return true };
        let has = |k: &str| r.get(k).is_some();
        match self {
            Asked::Call(_) => has("content") || has("structuredContent") || has("resultType"),
            Asked::Initialize => has("protocolVersion"),
            Asked::Discover => has("supportedVersions"),
            Asked::Elicit => has("action"),
            Asked::Sample => has("role") || has("model"),
            Asked::Roots => has("roots"),
            Asked::Other => true,
        }
    }
}

/// Requests of a direction unknown to the log get their own lane.
const LANES: usize = 3;

fn lane(dir: Option<Direction>) -> u8 {
    match dir {
        Some(Direction::ClientToServer) => 0,
        Some(Direction::ServerToClient) => 1,
        None => 2,
    }
}

/// One MCP connection.
#[derive(Debug)]
pub struct Session<T = ()> {
    client: Option<Arc<Peer>>,
    server: Option<Arc<Peer>>,
    protocol: Option<String>,
    capabilities: Option<Value>,
    /// The text `capabilities` was last read from by [`Session::observe_call`], while no tree
    /// reader has set them since: the same text again changes nothing.
    capabilities_text: Option<String>,
    /// (lane, id) → (arrival number, what it asked).
    pending: FxHashMap<(u8, Id), (u64, Asked<T>)>,
    order: BTreeMap<u64, (u8, Id)>,
    seq: u64,
    max_pending: usize,
    /// Calls answered `input_required`, with the `requestState` to echo; newest last.
    awaiting: VecDeque<(Option<String>, Arc<Call<T>>)>,
}

impl<T> Default for Session<T> {
    fn default() -> Self {
        Session::new(MAX_PENDING)
    }
}

impl<T> Session<T> {
    /// A session that remembers at most `max_pending` requests awaiting a response.
    pub fn new(max_pending: usize) -> Session<T> {
        Session {
            client: None,
            server: None,
            protocol: None,
            capabilities: None,
            capabilities_text: None,
            pending: FxHashMap::default(),
            order: BTreeMap::new(),
            seq: 0,
            max_pending: max_pending.max(1),
            awaiting: VecDeque::new(),
        }
    }

    /// The client as it last declared itself.
    pub fn client(&self) -> Option<&Arc<Peer>> {
        self.client.as_ref()
    }

    /// The server as it last declared itself.
    pub fn server(&self) -> Option<&Arc<Peer>> {
        self.server.as_ref()
    }

    /// The protocol version: the one `initialize` settled on, or the one the latest request
    /// named in its `_meta`.
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The client's capabilities as it last declared them.
    pub fn client_capabilities(&self) -> Option<&Value> {
        self.capabilities.as_ref()
    }

    /// Whether the client declared that it can answer `elicitation/create`.
    pub fn client_can_elicit(&self) -> bool {
        self.capabilities
            .as_ref()
            .and_then(|c| c.get("elicitation"))
            .is_some_and(|e| !e.is_null())
    }

    /// Requests awaiting a response.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether a request that travelled `dir` with this id awaits its response.
    pub fn is_pending(&self, dir: Direction, id: &Id) -> bool {
        self.pending.contains_key(&(lane(Some(dir)), id.clone()))
    }

    /// Takes in one message that travelled `dir` (`None` when the log does not say). `data`
    /// makes what a new call carries. An error means a `tools/call` that cannot be read
    /// (no `name`, `arguments` that are not an object): nothing is remembered of it.
    pub fn observe(
        &mut self,
        dir: Option<Direction>,
        msg: &Message,
        data: impl FnOnce() -> T,
    ) -> Result<Observation<T>, MessageError> {
        match msg {
            Message::Request { id, method, params } => {
                let params = params.as_ref().and_then(Value::as_object);
                self.request(dir, id, method, params, data)
            }
            Message::Notification { method, params } => {
                if method == "tools/call" && dir != Some(Direction::ServerToClient) {
                    let params = params.as_ref().and_then(Value::as_object);
                    let declared = self.note_request_meta(params);
                    return self.call(None, params, declared, data);
                }
                Ok(Observation::Skipped(
                    if method == "notifications/initialized" {
                        Skip::Handshake
                    } else {
                        Skip::Notification
                    },
                ))
            }
            Message::Response { id, result, error } => {
                Ok(self.response(dir, id.as_ref(), result.as_ref(), error.is_some()))
            }
        }
    }

    fn request(
        &mut self,
        dir: Option<Direction>,
        id: &Id,
        method: &str,
        params: Option<&Map<String, Value>>,
        data: impl FnOnce() -> T,
    ) -> Result<Observation<T>, MessageError> {
        let dir = dir.or_else(|| direction_of_method(method));
        if dir != Some(Direction::ClientToServer) {
            self.remember(lane(dir), id.clone(), Asked::of(method));
            return Ok(Observation::Skipped(Skip::ServerRequest));
        }
        let declared = self.note_request_meta(params);
        match method {
            "initialize" => {
                if let Some(p) = params {
                    if let Some(peer) = p.get("clientInfo").and_then(Peer::of) {
                        self.client = Some(Arc::new(peer));
                    }
                    if let Some(c) = p.get("capabilities") {
                        self.capabilities = Some(c.clone());
                        self.capabilities_text = None;
                    }
                }
                self.remember(0, id.clone(), Asked::Initialize);
                Ok(Observation::Skipped(Skip::Handshake))
            }
            "server/discover" => {
                self.remember(0, id.clone(), Asked::Discover);
                Ok(Observation::Skipped(Skip::Handshake))
            }
            "tools/call" => self.call(Some(id), params, declared, data),
            _ => {
                self.remember(0, id.clone(), Asked::Other);
                Ok(Observation::Skipped(Skip::Request))
            }
        }
    }

    /// Reads the reserved `_meta` keys of a client request; the client it declares.
    fn note_request_meta(&mut self, params: Option<&Map<String, Value>>) -> Option<Arc<Peer>> {
        let meta = params?.get("_meta")?.as_object()?;
        // Each request of 2026-07-28 declares them again, mostly the same: kept, not copied
        // again, when they are.
        if let Some(v) = meta.get(PROTOCOL_VERSION_META).and_then(Value::as_str)
            && self.protocol.as_deref() != Some(v)
        {
            self.protocol = Some(v.to_string());
        }
        if let Some(c) = meta.get(CLIENT_CAPABILITIES_META)
            && self.capabilities.as_ref() != Some(c)
        {
            self.capabilities = Some(c.clone());
            self.capabilities_text = None;
        }
        let info = meta.get(CLIENT_INFO_META)?;
        if let Some(p) = &self.client
            && info.get("name").and_then(Value::as_str) == Some(p.name.as_str())
            && info.get("version").and_then(Value::as_str) == p.version.as_deref()
        {
            return Some(Arc::clone(p));
        }
        let peer = Arc::new(Peer::of(info)?);
        self.client = Some(Arc::clone(&peer));
        Some(peer)
    }

    fn call(
        &mut self,
        id: Option<&Id>,
        params: Option<&Map<String, Value>>,
        declared: Option<Arc<Peer>>,
        data: impl FnOnce() -> T,
    ) -> Result<Observation<T>, MessageError> {
        let Some(params) = params else {
            return Err(MessageError(
                "`tools/call` request without `params.name`".into(),
            ));
        };
        let tool = match params.get("name") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(MessageError(
                    "`tools/call`: `params.name` must be a string".into(),
                ));
            }
            None => {
                return Err(MessageError(
                    "`tools/call` request without `params.name`".into(),
                ));
            }
        };
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => None,
            Some(a @ Value::Object(_)) => Some(a.clone()),
            Some(_) => {
                return Err(MessageError(
                    "`tools/call`: `params.arguments` must be an object".into(),
                ));
            }
        };
        let retry = params.contains_key("inputResponses") || params.contains_key("requestState");
        if retry {
            let state = params.get("requestState").and_then(Value::as_str);
            let found = self.awaiting.iter().rposition(|(s, c)| {
                s.as_deref() == state
                    && c.tool == tool
                    && c.arguments_tree().as_deref() == arguments.as_ref()
            });
            if let Some((_, call)) = found.and_then(|i| self.awaiting.remove(i)) {
                if let Some(id) = id {
                    self.remember(0, id.clone(), Asked::Call(Arc::clone(&call)));
                }
                return Ok(Observation::Retry(call));
            }
        }
        let call = Arc::new(Call {
            tool,
            arguments,
            raw_arguments: None,
            client: declared.or_else(|| self.client.clone()),
            id: id.cloned(),
            data: data(),
        });
        if let Some(id) = id {
            self.remember(0, id.clone(), Asked::Call(Arc::clone(&call)));
        }
        Ok(Observation::Call(call))
    }

    /// Takes in a `tools/call` request the client sent with an id, read without a tree: its
    /// tool `name`, its `arguments` (an object, as written) and its `_meta` (read with
    /// [`RequestMeta::of`]). A request that carries `requestState` or `inputResponses` (a
    /// retry), or any other shape, goes to [`Session::observe`] as a tree instead. The same
    /// as [`Session::observe`] of the request; the call keeps its arguments' text
    /// ([`Call::raw_arguments`]).
    pub fn observe_call(
        &mut self,
        id: &Id,
        tool: String,
        arguments: Option<Json<'_>>,
        meta: Option<RequestMeta<'_>>,
        data: impl FnOnce() -> T,
    ) -> Arc<Call<T>> {
        let declared = meta.and_then(|m| self.note_raw_meta(m));
        let call = Arc::new(Call {
            tool,
            arguments: None,
            raw_arguments: arguments.map(super::scan::OwnedJson::from),
            client: declared.or_else(|| self.client.clone()),
            id: Some(id.clone()),
            data: data(),
        });
        self.remember(0, id.clone(), Asked::Call(Arc::clone(&call)));
        call
    }

    /// [`Session::note_request_meta`] of a `_meta` read without a tree.
    fn note_raw_meta(&mut self, meta: RequestMeta<'_>) -> Option<Arc<Peer>> {
        if let Some(v) = meta.version
            && self.protocol.as_deref() != Some(&*v)
        {
            self.protocol = Some(v.into_owned());
        }
        if let Some(c) = meta.capabilities
            && self.capabilities_text.as_deref() != Some(c.get())
        {
            // Read text is JSON: a failure here would be a bug; the capabilities are then
            // `null`, which declares nothing.
            let v: Value = serde_json::from_str(c.get()).unwrap_or(Value::Null);
            if self.capabilities.as_ref() != Some(&v) {
                self.capabilities = Some(v);
            }
            self.capabilities_text = Some(c.get().to_string());
        }
        let (name, version) = meta.info??;
        if let Some(p) = &self.client
            && *name == p.name
            && version.as_deref() == p.version.as_deref()
        {
            return Some(Arc::clone(p));
        }
        let peer = Arc::new(Peer {
            name: name.into_owned(),
            version: version.map(std::borrow::Cow::into_owned),
        });
        self.client = Some(Arc::clone(&peer));
        Some(peer)
    }

    /// Takes the call that the server's final response with this id answers, if it answers
    /// one: a client's `tools/call` is pending with this id, and no request of unknown
    /// direction is (a response must then be paired by the shape of its result, from a
    /// tree). `server` is the `serverInfo` the response's `_meta` declared, if any, and is
    /// taken only with the call. The response must not be an `input_required` result: such
    /// a response goes to [`Session::observe`]. Nothing changes when it answers no call.
    pub fn take_call(&mut self, id: &Id, server: Option<Peer>) -> Option<Arc<Call<T>>> {
        let mut key = (lane(None), id.clone());
        if self.pending.contains_key(&key) {
            return None;
        }
        key.0 = lane(Some(Direction::ClientToServer));
        match self.pending.remove(&key) {
            Some((seq, Asked::Call(call))) => {
                if let Some(peer) = server {
                    self.server = Some(Arc::new(peer));
                }
                self.order.remove(&seq);
                Some(call)
            }
            Some(other) => {
                self.pending.insert(key, other);
                None
            }
            None => None,
        }
    }

    fn response(
        &mut self,
        dir: Option<Direction>,
        id: Option<&Id>,
        result: Option<&Value>,
        is_error: bool,
    ) -> Observation<T> {
        if dir == Some(Direction::ServerToClient)
            && let Some(peer) = result
                .and_then(|r| r.get("_meta"))
                .and_then(|m| m.get(SERVER_INFO_META))
                .and_then(Peer::of)
        {
            self.server = Some(Arc::new(peer));
        }
        let Some(id) = id else {
            return Observation::Skipped(Skip::Unmatched);
        };
        let lanes: Vec<u8> = match dir {
            // The answer to a request of the other direction, or of an unknown one.
            Some(d) => vec![lane(Some(d.reverse())), lane(None)],
            None => (0..LANES as u8).collect(),
        };
        let found: Vec<u8> = lanes
            .into_iter()
            .filter(|l| self.pending.contains_key(&(*l, id.clone())))
            .collect();
        let pick = match found.as_slice() {
            [] => return Observation::Skipped(Skip::Unmatched),
            [one] => *one,
            several => {
                let fitting: Vec<u8> = several
                    .iter()
                    .copied()
                    .filter(|l| {
                        self.pending
                            .get(&(*l, id.clone()))
                            .is_some_and(|(_, a)| a.fits(result))
                    })
                    .collect();
                match fitting.as_slice() {
                    [one] => *one,
                    _ => return Observation::Skipped(Skip::Ambiguous),
                }
            }
        };
        let Some((seq, asked)) = self.pending.remove(&(pick, id.clone())) else {
            return Observation::Skipped(Skip::Unmatched);
        };
        self.order.remove(&seq);
        match asked {
            Asked::Call(call) => {
                if let Some(r) = result.filter(|_| !is_error)
                    && r.get("resultType").and_then(Value::as_str) == Some("input_required")
                {
                    let state = r
                        .get("requestState")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    self.awaiting.push_back((state, call));
                    if self.awaiting.len() > MAX_AWAITING_INPUT {
                        self.awaiting.pop_front();
                    }
                    return Observation::Skipped(Skip::InputRequired);
                }
                Observation::Result(call)
            }
            Asked::Initialize => {
                if let Some(r) = result {
                    if let Some(peer) = r.get("serverInfo").and_then(Peer::of) {
                        self.server = Some(Arc::new(peer));
                    }
                    if let Some(v) = r.get("protocolVersion").and_then(Value::as_str) {
                        self.protocol = Some(v.to_string());
                    }
                }
                Observation::Skipped(Skip::Handshake)
            }
            Asked::Discover => Observation::Skipped(Skip::Handshake),
            _ => Observation::Skipped(Skip::Reply),
        }
    }

    fn remember(&mut self, lane: u8, id: Id, asked: Asked<T>) {
        self.seq += 1;
        if let Some((old, _)) = self.pending.insert((lane, id.clone()), (self.seq, asked)) {
            self.order.remove(&old);
        }
        self.order.insert(self.seq, (lane, id));
        while self.pending.len() > self.max_pending {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.pending.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const C2S: Option<Direction> = Some(Direction::ClientToServer);
    const S2C: Option<Direction> = Some(Direction::ServerToClient);

    fn feed(s: &mut Session, dir: Option<Direction>, v: Value) -> String {
        let m = Message::parse(v).unwrap();
        match s.observe(dir, &m, || ()) {
            Ok(Observation::Call(c)) => format!("call {}", c.tool),
            Ok(Observation::Retry(c)) => format!("retry {}", c.tool),
            Ok(Observation::Result(c)) => format!("result {}", c.tool),
            Ok(Observation::Skipped(k)) => format!("skip {k:?}"),
            Err(e) => format!("error {e}"),
        }
    }

    #[test]
    fn server_requests_number_their_ids_apart() {
        let mut s = Session::default();
        let seen = [
            feed(
                &mut s,
                C2S,
                json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"transfer"}}),
            ),
            // The server asks the user with its own id 4, then gets its answer.
            feed(
                &mut s,
                S2C,
                json!({"jsonrpc":"2.0","id":4,"method":"elicitation/create","params":{}}),
            ),
            feed(
                &mut s,
                C2S,
                json!({"jsonrpc":"2.0","id":4,"result":{"action":"accept"}}),
            ),
            feed(
                &mut s,
                S2C,
                json!({"jsonrpc":"2.0","id":4,"result":{"content":[]}}),
            ),
        ];
        assert_eq!(
            seen,
            [
                "call transfer",
                "skip ServerRequest",
                "skip Reply",
                "result transfer"
            ]
        );
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn without_directions_responses_pair_by_shape() {
        let mut s = Session::default();
        let seen = [
            feed(
                &mut s,
                None,
                json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}),
            ),
            feed(
                &mut s,
                None,
                json!({"jsonrpc":"2.0","id":1,"method":"elicitation/create","params":{}}),
            ),
            feed(
                &mut s,
                None,
                json!({"jsonrpc":"2.0","id":1,"result":{"action":"accept"}}),
            ),
            feed(
                &mut s,
                None,
                json!({"jsonrpc":"2.0","id":1,"result":{"content":[]}}),
            ),
            feed(
                &mut s,
                None,
                json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"b"}}),
            ),
            feed(
                &mut s,
                None,
                json!({"jsonrpc":"2.0","id":2,"method":"ping"}),
            ),
            // An error could answer either: not guessed.
            feed(
                &mut s,
                None,
                json!({"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"x"}}),
            ),
        ];
        assert_eq!(
            seen,
            [
                "call a",
                "skip ServerRequest",
                "skip Reply",
                "result a",
                "call b",
                "skip ServerRequest",
                "skip Ambiguous"
            ]
        );
    }

    #[test]
    fn identity_from_the_handshake_or_from_meta() {
        let mut s = Session::default();
        feed(
            &mut s,
            C2S,
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"desk","version":"1"}}}),
        );
        feed(
            &mut s,
            S2C,
            json!({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"files"}}}),
        );
        assert_eq!(s.client().unwrap().name, "desk");
        assert_eq!(s.server().unwrap().name, "files");
        assert_eq!(s.protocol_version(), Some("2025-06-18"));
        assert!(s.client_can_elicit());

        let mut s = Session::default();
        let m = Message::parse(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{
            "io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientInfo":{"name":"agent-7","version":"0.1"},
            "io.modelcontextprotocol/clientCapabilities":{}}}}),
        )
        .unwrap();
        let Ok(Observation::Call(c)) = s.observe(C2S, &m, || ()) else {
            panic!()
        };
        assert_eq!(c.client.as_ref().unwrap().name, "agent-7");
        assert_eq!(s.protocol_version(), Some("2026-07-28"));
        assert!(!s.client_can_elicit());
        feed(
            &mut s,
            S2C,
            json!({"jsonrpc":"2.0","id":1,"result":{"content":[],"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"bank"}}}}),
        );
        assert_eq!(s.server().unwrap().name, "bank");
    }

    #[test]
    fn input_required_round_trips_are_one_call() {
        let mut s = Session::default();
        let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"pay","arguments":{"amount":5}}});
        let ask = json!({"jsonrpc":"2.0","id":3,"result":{"resultType":"input_required","inputRequests":{"k":{"method":"elicitation/create"}},"requestState":"s1"}});
        let retry = json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"pay","arguments":{"amount":5},"inputResponses":{"k":{"action":"accept"}},"requestState":"s1"}});
        let done = json!({"jsonrpc":"2.0","id":4,"result":{"content":[],"resultType":"complete"}});
        let seen = [
            feed(&mut s, C2S, call.clone()),
            feed(&mut s, S2C, ask.clone()),
            feed(&mut s, C2S, retry.clone()),
            feed(&mut s, S2C, done.clone()),
        ];
        assert_eq!(
            seen,
            ["call pay", "skip InputRequired", "retry pay", "result pay"]
        );
        // A "retry" with other arguments, or a state no result gave, is a call of its own.
        feed(&mut s, C2S, call);
        feed(&mut s, S2C, ask);
        let mut other = retry.clone();
        other["params"]["arguments"]["amount"] = json!(5000);
        assert_eq!(feed(&mut s, C2S, other), "call pay");
        let mut forged = retry;
        forged["id"] = json!(9);
        forged["params"]["requestState"] = json!("s2");
        assert_eq!(feed(&mut s, C2S, forged), "call pay");
    }

    #[test]
    fn bad_calls_are_errors_and_pending_is_bounded() {
        let mut s = Session::new(3);
        assert_eq!(
            feed(
                &mut s,
                C2S,
                json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}})
            ),
            "error `tools/call`: `params.name` must be a string"
        );
        for i in 0..5 {
            feed(
                &mut s,
                C2S,
                json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"t"}}),
            );
        }
        assert_eq!(s.pending(), 3);
        assert_eq!(
            feed(
                &mut s,
                S2C,
                json!({"jsonrpc":"2.0","id":0,"result":{"content":[]}})
            ),
            "skip Unmatched"
        );
        assert_eq!(
            feed(
                &mut s,
                S2C,
                json!({"jsonrpc":"2.0","id":4,"result":{"content":[]}})
            ),
            "result t"
        );
    }
}
