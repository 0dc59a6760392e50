//! One JSON-RPC 2.0 message of MCP, checked, and the direction it travels.

use std::fmt;

use std::borrow::Cow;

use serde_json::{Map, Value};

pub use super::scan::Json;
use super::scan::{Tape, each_member, once};

/// Which way a message travels. Each side numbers the ids of its own requests, so a
/// response is paired with a request of the other direction only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From the client to the server: `tools/call`, `initialize`, and the client's answers to
    /// the server's requests.
    ClientToServer,
    /// From the server to the client: results, and the server's own requests
    /// (`elicitation/create`, `sampling/createMessage`, `roots/list`, `ping`).
    ServerToClient,
}

impl Direction {
    /// The spellings accepted in a log's `direction` field: `client->server`,
    /// `client_to_server`, `c2s` and their reverses.
    pub const SPELLINGS: &'static str = "`client->server`, `client_to_server`, `c2s`, `server->client`, `server_to_client` or `s2c`";

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "client->server" | "client_to_server" | "c2s" => Some(Direction::ClientToServer),
            "server->client" | "server_to_client" | "s2c" => Some(Direction::ServerToClient),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client->server",
            Direction::ServerToClient => "server->client",
        }
    }

    /// The direction of the answer to a request travelling this way.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request id: its JSON text, so that `1` and `"1"` stay distinct as JSON-RPC requires.
/// Shared, not copied: a call's id is kept by the session, the gateway's requests in flight
/// and the transport's routes, and a clone is a count, not an allocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(std::sync::Arc<str>);

impl Id {
    /// The id of a JSON value, when it is a string or a number.
    pub fn of(v: &Value) -> Option<Id> {
        match v {
            // Written by the serializer straight, not through `Display`'s formatter.
            Value::String(_) | Value::Number(_) => {
                serde_json::to_string(v).ok().map(|t| Id(t.into()))
            }
            _ => None,
        }
    }

    /// The id of a JSON value given as its text (a member read raw): the same [`Id`] as
    /// [`Id::of`] the value. A plain string (no escapes) or a short integer is its own text,
    /// as the serializer writes it; anything else is read as a value first.
    pub fn of_raw(raw: Json<'_>) -> Option<Id> {
        let t = raw.get();
        let b = t.as_bytes();
        let canonical = match b {
            [b'"', inner @ .., b'"'] => !super::scan::has_backslash(inner),
            [b'-', digits @ ..] => plain_integer(digits) && digits != b"0",
            digits => plain_integer(digits),
        };
        if canonical {
            return Some(Id(t.into()));
        }
        Id::of(&serde_json::from_str::<Value>(t).ok()?)
    }

    /// The JSON text of the id.
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Digits of an integer as the serializer writes it back: no leading zero, at most 18 digits
/// (within `i64` and `u64` both).
fn plain_integer(d: &[u8]) -> bool {
    !d.is_empty()
        && d.len() <= 18
        && d.iter().all(u8::is_ascii_digit)
        && (d.first() != Some(&b'0') || d.len() == 1)
}

/// A member of a struct read from an object's members that is an object, read with `read`,
/// or `null`, read as `None`; given once (`seen`). `false` for any other value, a member
/// given twice, or an object `read` refuses: the struct is then not read so.
pub(crate) fn object_member<'a, T>(
    seen: &mut bool,
    slot: &mut Option<T>,
    value: Json<'a>,
    read: impl FnOnce(Json<'a>) -> Option<T>,
) -> bool {
    if std::mem::replace(seen, true) {
        return false;
    }
    if value.is_null() {
        return true;
    }
    if !value.is_object() {
        return false;
    }
    *slot = read(value);
    slot.is_some()
}

/// A key no member of a struct has: `true`, unless it has an escape (it may be one of the
/// struct's keys written otherwise, which a tree would read as that member).
pub(crate) fn other_key(key: &str) -> bool {
    !super::scan::has_backslash(key.as_bytes())
}

/// A JSON-RPC 2.0 message's top members as they are written, not built into a tree: what a
/// transport and the gateway read of the messages they pass on. A member given twice fails
/// the read (a tree keeps the last): such a message is read as a tree instead.
#[derive(Debug, Default)]
pub struct RawMessage<'a> {
    pub jsonrpc: Option<Json<'a>>,
    pub id: Option<Json<'a>>,
    pub method: Option<Json<'a>>,
    /// `params` read with the message, when an object (`None` for `null` or none; any other
    /// value fails the read).
    pub params: Option<super::session::RawCallParams<'a>>,
    pub result: Option<Json<'a>>,
    pub error: Option<Json<'a>>,
    /// Where the message's values end: to read `result` and `error`.
    tape: Tape<'a>,
}

impl<'a> RawMessage<'a> {
    /// Reads a message's top members; `None` when it is not a JSON object read so (not
    /// JSON, a batch, a member twice, or what [`scan::valid`] leaves to a tree read).
    pub fn read(line: &'a [u8]) -> Option<RawMessage<'a>> {
        // An array would fill a struct's members in order: only an object is read so.
        let (tape, top) = Tape::read(line)?;
        let mut m = RawMessage::default();
        let mut params = false;
        each_member(&tape, top, |key, value| match key {
            "jsonrpc" => once(&mut m.jsonrpc, value),
            "id" => once(&mut m.id, value),
            "method" => once(&mut m.method, value),
            "params" => object_member(&mut params, &mut m.params, value, |v| {
                super::session::RawCallParams::read(&tape, v)
            }),
            "result" => once(&mut m.result, value),
            "error" => once(&mut m.error, value),
            _ => other_key(key),
        })?;
        m.tape = tape;
        Some(m)
    }

    /// Where the message's values end: to read its members' members.
    pub fn tape(&self) -> &Tape<'a> {
        &self.tape
    }

    /// Whether `jsonrpc` is `"2.0"` as written plainly.
    pub fn is_v2(&self) -> bool {
        self.jsonrpc.is_some_and(|j| j.get() == "\"2.0\"")
    }

    /// The method, when it is a string.
    pub fn method(&self) -> Option<Cow<'a, str>> {
        self.method.and_then(Json::as_str)
    }

    /// The id, when it is a string or a number (`None` for `null` and other values).
    pub fn id(&self) -> Option<Id> {
        self.id.and_then(Id::of_raw)
    }
}

/// A JSON-RPC 2.0 message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A request: a method call that expects a response with the same id.
    Request {
        id: Id,
        method: String,
        params: Option<Value>,
    },
    /// A notification: a method call without an id, answered by nothing.
    Notification {
        method: String,
        params: Option<Value>,
    },
    /// A response: exactly one of `result` and `error`. `id` is `None` for an error about a
    /// request whose id could not be read.
    Response {
        id: Option<Id>,
        result: Option<Value>,
        error: Option<Value>,
    },
}

/// Why a value is not a JSON-RPC 2.0 message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MessageError(pub String);

fn err(s: impl Into<String>) -> MessageError {
    MessageError(s.into())
}

impl Message {
    /// Checks a JSON value as a JSON-RPC 2.0 message.
    pub fn parse(v: Value) -> Result<Message, MessageError> {
        let Value::Object(mut m) = v else {
            return Err(err(
                "not a JSON-RPC message: expected an object with `jsonrpc`",
            ));
        };
        match m.get("jsonrpc") {
            Some(Value::String(s)) if s == "2.0" => {}
            Some(_) => return Err(err("`jsonrpc` must be \"2.0\"")),
            None => {
                return Err(err(
                    "not a JSON-RPC message: expected an object with `jsonrpc`",
                ));
            }
        }
        let id = match m.get("id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(Id::of(v).ok_or_else(|| err("`id` must be a string or a number"))?),
        };
        if let Some(method) = m.remove("method") {
            let Value::String(method) = method else {
                return Err(err("`method` must be a string"));
            };
            let params = match m.remove("params") {
                None => None,
                Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
                Some(Value::Null) => None,
                Some(_) => return Err(err(format!("`{method}`: `params` must be an object"))),
            };
            return Ok(match id {
                Some(id) => Message::Request { id, method, params },
                None => Message::Notification { method, params },
            });
        }
        let result = m.remove("result");
        let error = m.remove("error");
        match (&result, &error) {
            (Some(_), Some(_)) => Err(err("a response has both `result` and `error`")),
            (None, None) => Err(err("not a JSON-RPC request, notification or response")),
            (_, Some(e)) if !e.is_object() => Err(err("`error` must be an object")),
            _ => Ok(Message::Response { id, result, error }),
        }
    }

    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request { method, .. } | Message::Notification { method, .. } => Some(method),
            Message::Response { .. } => None,
        }
    }

    /// The params of a request or notification, when they are an object.
    pub fn params(&self) -> Option<&Map<String, Value>> {
        match self {
            Message::Request { params, .. } | Message::Notification { params, .. } => {
                params.as_ref().and_then(Value::as_object)
            }
            Message::Response { .. } => None,
        }
    }

    /// The id of a request or response.
    pub fn id(&self) -> Option<&Id> {
        match self {
            Message::Request { id, .. } => Some(id),
            Message::Response { id, .. } => id.as_ref(),
            Message::Notification { .. } => None,
        }
    }
}

/// Methods that only a server sends (to the client). `ping` goes both ways.
pub const SERVER_METHODS: &[&str] = &["elicitation/create", "sampling/createMessage", "roots/list"];

/// Which way a request of `method` travels when its log does not say: `None` for `ping` and
/// for methods govern does not know.
pub fn direction_of_method(method: &str) -> Option<Direction> {
    if SERVER_METHODS.contains(&method) {
        return Some(Direction::ServerToClient);
    }
    let client = matches!(
        method,
        "initialize"
            | "server/discover"
            | "tools/call"
            | "tools/list"
            | "prompts/get"
            | "prompts/list"
            | "resources/read"
            | "resources/list"
            | "resources/templates/list"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "completion/complete"
            | "logging/setLevel"
    ) || method.starts_with("tasks/")
        || method.starts_with("subscriptions/");
    client.then_some(Direction::ClientToServer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_are_checked() {
        let m = Message::parse(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}))
            .unwrap();
        assert!(matches!(m, Message::Request { .. }));
        assert_eq!(m.id().unwrap().as_json(), "1");
        let m = Message::parse(json!({"jsonrpc":"2.0","id":"1","result":{}})).unwrap();
        assert_eq!(m.id().unwrap().as_json(), "\"1\"");
        let n =
            Message::parse(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).unwrap();
        assert!(matches!(n, Message::Notification { .. }));
        let errors = [
            json!(3),
            json!({"id":1,"method":"x"}),
            json!({"jsonrpc":"1.0","id":1,"method":"x"}),
            json!({"jsonrpc":"2.0","id":[1],"method":"x"}),
            json!({"jsonrpc":"2.0","id":1,"method":7}),
            json!({"jsonrpc":"2.0","id":1,"method":"x","params":3}),
            json!({"jsonrpc":"2.0","id":1,"result":{},"error":{}}),
            json!({"jsonrpc":"2.0","id":1}),
            json!({"jsonrpc":"2.0","id":1,"error":"bad"}),
        ];
        for e in errors {
            assert!(Message::parse(e.clone()).is_err(), "{e}");
        }
    }

    /// What a tree read refuses, a raw read of the message refuses too (it is then read as
    /// a tree, and answered as before); what both read, both read alike.
    #[test]
    fn raw_reads_refuse_what_tree_reads_refuse() {
        let refused = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":1e400}}}"#.to_string(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":"\ud800"}}}"#.to_string(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","extra":-1E+999,"params":{"name":"a"}}"#.to_string(),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","arguments":{{"x":{}1{}}}}}}}"#, "[".repeat(130), "]".repeat(130)),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","n":1{}}}"#, "0".repeat(400)),
        ];
        for text in &refused {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert!(RawMessage::read(text.as_bytes()).is_none(), "{text}");
        }
        let read = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":1e300,"y":"\u00e9 \\ud800","z":-0.5E-3,"w":12345678901234567890}}}"#,
            r#" {"jsonrpc":"2.0","id":"x","result":{"s":"e1\"]]]]"}} "#,
        ];
        for text in read {
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{text}");
            assert!(RawMessage::read(text.as_bytes()).is_some(), "{text}");
        }
        assert!(RawMessage::read(br#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#).is_none());
        assert!(RawMessage::read(br#"["2.0",1,"x"]"#).is_none());
        assert!(RawMessage::read(br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}"#).is_none());
        // Ids are the ids of their values.
        for id in [
            "7",
            "-3",
            "0",
            r#""a b""#,
            r#""\u0041""#,
            "1.0",
            "-0",
            "1e2",
            "123456789012345678901",
        ] {
            let (_, raw) = Tape::read(id.as_bytes()).unwrap();
            let v: Value = serde_json::from_str(id).unwrap();
            assert_eq!(Id::of_raw(raw), Id::of(&v), "{id}");
        }
    }

    #[test]
    fn directions() {
        for s in ["client->server", "client_to_server", "c2s"] {
            assert_eq!(Direction::parse(s), Some(Direction::ClientToServer));
        }
        for s in ["server->client", "server_to_client", "s2c"] {
            assert_eq!(Direction::parse(s), Some(Direction::ServerToClient));
        }
        assert_eq!(Direction::parse("up"), None);
        assert_eq!(
            direction_of_method("elicitation/create"),
            Some(Direction::ServerToClient)
        );
        assert_eq!(
            direction_of_method("tools/call"),
            Some(Direction::ClientToServer)
        );
        assert_eq!(direction_of_method("ping"), None);
        assert_eq!(direction_of_method("x/y"), None);
    }
}
