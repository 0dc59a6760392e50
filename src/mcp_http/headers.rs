//! The request headers that repeat what a body says (MCP 2026-07-28, "HTTP header
//! standardization"): `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` (the tool, prompt or
//! resource a request names) and `Mcp-Param-*` (tool arguments a tool's `inputSchema` marks
//! with `x-mcp-header`). Load balancers, gateways and servers may route on them without
//! reading the body; the proxy decides on the body. A header that says something else than the
//! body is a way around the policy (the call decided is not the call routed), so such a
//! request is refused with the protocol's `HEADER_MISMATCH` and never forwarded, as the
//! official SDK's server refuses it. Values that are not plain printable ASCII travel as
//! `=?base64?…?=` and are compared decoded.

use base64ct::Encoding as _;
use hyper::header::{HeaderMap, HeaderValue};
use std::borrow::Cow;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::mcp::message::{Json, RawMessage};

/// The most tools whose `x-mcp-header` declarations one session remembers.
pub const MAX_TOOLS: usize = 10_000;
/// How deep in `properties` a declaration is looked for.
const MAX_DEPTH: usize = 16;

/// One argument a tool mirrors into a header.
#[derive(Clone, Debug, PartialEq)]
pub struct Mirrored {
    /// The argument's path in `arguments` (`properties` keys from the root).
    path: Vec<String>,
    /// The header's name, lowercase (`mcp-param-` and the token).
    header: String,
    /// The property's JSON Schema type.
    kind: String,
}

/// The `x-mcp-header` declarations of the tools a session has listed, by tool name.
#[derive(Default)]
pub struct Declared {
    tools: FxHashMap<String, Vec<Mirrored>>,
}

impl Declared {
    /// Notes the declarations of every tool in a message for the client, when it is a
    /// `tools/list` result (anything else is left alone).
    pub fn note(&mut self, msg: &Value) {
        let Some(tools) = msg
            .get("result")
            .and_then(|r| r.get("tools"))
            .and_then(Value::as_array)
        else {
            return;
        };
        for t in tools {
            let Some(name) = t.get("name").and_then(Value::as_str) else {
                continue;
            };
            if self.tools.len() >= MAX_TOOLS && !self.tools.contains_key(name) {
                continue;
            }
            let mut found = Vec::new();
            if let Some(schema) = t.get("inputSchema") {
                walk(schema, &mut Vec::new(), &mut found);
            }
            self.tools.insert(name.to_string(), found);
        }
    }
}

fn walk(schema: &Value, path: &mut Vec<String>, found: &mut Vec<Mirrored>) {
    if path.len() >= MAX_DEPTH {
        return;
    }
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, sub) in props {
        path.push(name.clone());
        if let Some(token) = sub.get("x-mcp-header").and_then(Value::as_str) {
            found.push(Mirrored {
                path: path.clone(),
                header: format!("mcp-param-{}", token.to_ascii_lowercase()),
                kind: sub
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        walk(sub, path, found);
        path.pop();
    }
}

/// A header's text as the client meant it: verbatim, or decoded from `=?base64?…?=`
/// (`None` when that is malformed or not UTF-8, or the value is not text).
pub fn text(v: &HeaderValue) -> Option<Cow<'_, str>> {
    let s = v.to_str().ok()?;
    match s
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(payload) => {
            let bytes = base64ct::Base64::decode_vec(payload).ok()?;
            String::from_utf8(bytes).ok().map(Cow::Owned)
        }
        // Verbatim: its own text, not copied.
        None => Some(Cow::Borrowed(s)),
    }
}

/// The body parameter a method's `Mcp-Name` repeats.
fn name_key(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

fn one<K: hyper::header::AsHeaderName + std::fmt::Display + Copy>(
    headers: &HeaderMap,
    name: K,
) -> Result<Option<&HeaderValue>, String> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(format!(
            "the {name} header appears more than once (readers of the first and of the last would disagree)"
        ));
    }
    Ok(first)
}

/// How an argument is mirrored: booleans as `true`/`false`, strings as they are, numbers
/// as JSON writes them; `None` for what has no header form.
fn rendered(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(b.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a header's decoded text says the argument `v` of a property of type `kind`: an
/// integer compares by value (`42` and `42.0` agree), anything else as text.
fn agrees(kind: &str, v: &Value, text: &str) -> bool {
    if kind == "integer"
        && let Value::Number(n) = v
    {
        let body = n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e30)
                    .map(|f| f as i128)
            });
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let canonical = !whole.is_empty()
            && whole
                .strip_prefix('-')
                .unwrap_or(whole)
                .bytes()
                .all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b == b'0');
        if canonical && let (Some(b), Ok(h)) = (body, whole.parse::<i128>()) {
            return b == h;
        }
    }
    rendered(v).is_some_and(|r| r == text)
}

/// Why the routing headers of a client request disagree with its body `msg`, if they do.
/// `declared` holds the `x-mcp-header` declarations of the tools the session has listed.
pub fn disagree(headers: &HeaderMap, msg: &Value, declared: &Declared) -> Option<String> {
    let params = msg.get("params");
    let member = |k: &str| {
        params
            .and_then(|p| p.get(k))
            .map(|v| v.as_str().map(Cow::Borrowed))
    };
    let body = Said {
        method: msg.get("method").and_then(Value::as_str).map(Cow::Borrowed),
        version: params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
            .map(|v| v.as_str().map(Cow::Borrowed)),
        name: member("name"),
        uri: member("uri"),
    };
    let routing = Routing::of(headers);
    check(headers, &routing, &body, || {
        params_agree(headers, params, declared)
    })
    .err()
}

/// [`disagree`] of a body given as its text, whose top members have been read (`read`: its
/// [`RawMessage::read`], `None` when they could not be read so): without a tree when the
/// headers need only `method`, `params.name`, `params.uri` and the `_meta` protocol version
/// (no `Mcp-Param-*` header); as a tree otherwise, or when the text could not be read so (a
/// member twice: a tree keeps the last). A body that is not JSON is checked as `null`.
pub fn disagree_read(
    headers: &HeaderMap,
    body: &[u8],
    read: Option<&RawMessage<'_>>,
    declared: &Declared,
) -> Option<String> {
    let routing = Routing::of(headers);
    if !routing.any() {
        // Nothing to compare: what `disagree` finds of any body.
        return None;
    }
    let read = read.filter(|_| !routing.param);
    match read {
        Some(m) => {
            let params = m.params.as_ref();
            let said = Said {
                method: m.method(),
                version: params
                    .and_then(|p| p.meta.as_ref())
                    .and_then(|m| m.version)
                    .map(Json::as_str),
                name: params.and_then(|p| p.name).map(Json::as_str),
                uri: params.and_then(|p| p.uri).map(Json::as_str),
            };
            check(headers, &routing, &said, || Ok(())).err()
        }
        None => {
            let msg: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            disagree(headers, &msg, declared)
        }
    }
}

/// What a body says that the routing headers repeat: for `version`, `name` and `uri`,
/// `None` when absent, `Some(None)` when present and not a string.
struct Said<'a> {
    method: Option<Cow<'a, str>>,
    version: Option<Option<Cow<'a, str>>>,
    name: Option<Option<Cow<'a, str>>>,
    uri: Option<Option<Cow<'a, str>>>,
}

/// The routing headers of a request, found in one pass over its headers: the value of
/// each of `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` (and whether it came more
/// than once), and whether any `Mcp-Param-*` came.
#[derive(Default)]
struct Routing<'h> {
    version: Seen<'h>,
    method: Seen<'h>,
    name: Seen<'h>,
    param: bool,
}

/// A header's first value, and whether another followed it.
#[derive(Default)]
struct Seen<'h> {
    first: Option<&'h HeaderValue>,
    twice: bool,
}

impl<'h> Seen<'h> {
    fn note(&mut self, v: &'h HeaderValue) {
        if self.first.is_some() {
            self.twice = true;
        } else {
            self.first = Some(v);
        }
    }

    /// The value, as [`one`] finds it: an error when the header came more than once.
    fn one(&self, name: &str) -> Result<Option<&'h HeaderValue>, String> {
        if self.twice {
            return Err(format!(
                "the {name} header appears more than once (readers of the first and of the last would disagree)"
            ));
        }
        Ok(self.first)
    }
}

impl<'h> Routing<'h> {
    fn of(headers: &'h HeaderMap) -> Routing<'h> {
        let mut r = Routing::default();
        for (h, v) in headers {
            let Some(rest) = h.as_str().strip_prefix("mcp-") else {
                continue;
            };
            match rest {
                "protocol-version" => r.version.note(v),
                "method" => r.method.note(v),
                "name" => r.name.note(v),
                _ if rest.starts_with("param-") => r.param = true,
                _ => {}
            }
        }
        r
    }

    /// Whether any routing header came.
    fn any(&self) -> bool {
        self.param
            || self.version.first.is_some()
            || self.method.first.is_some()
            || self.name.first.is_some()
    }
}

fn check(
    headers: &HeaderMap,
    routing: &Routing<'_>,
    body: &Said<'_>,
    params_agree: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let method = body.method.as_deref();
    let version = routing.version.one("mcp-protocol-version")?;
    let m = routing.method.one("mcp-method")?;
    let name = routing.name.one("mcp-name")?;
    if let Some(m) = m
        && method.map(str::as_bytes) != Some(m.as_bytes())
    {
        return Err("the Mcp-Method header does not match the request body's method".into());
    }
    if let Some(v) = version
        && let Some(body) = &body.version
        && body.as_deref().map(str::as_bytes) != Some(v.as_bytes())
    {
        return Err(
            "the MCP-Protocol-Version header does not match the request's protocol version".into(),
        );
    }
    if let Some(n) = name
        && let Some(key) = method.and_then(name_key)
    {
        let said = match key {
            "name" => &body.name,
            _ => &body.uri,
        };
        let said = said.as_ref().and_then(|s| s.as_deref());
        if said.is_none() || text(n).as_deref() != said {
            return Err(format!(
                "the Mcp-Name header does not match the request body's `{key}`"
            ));
        }
    }
    if method == Some("tools/call") {
        params_agree()?;
    } else if routing.param
        && let Some((h, _)) = headers
            .iter()
            .find(|(h, _)| h.as_str().starts_with("mcp-param-"))
    {
        return Err(format!(
            "the {h} header comes with a request that is no tools/call"
        ));
    }
    Ok(())
}

fn params_agree(
    headers: &HeaderMap,
    params: Option<&Value>,
    declared: &Declared,
) -> Result<(), String> {
    let sent: Vec<&str> = headers
        .keys()
        .map(|h| h.as_str())
        .filter(|h| h.starts_with("mcp-param-"))
        .collect();
    if sent.is_empty() {
        return Ok(());
    }
    let tool = params
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(mirrored) = declared.tools.get(tool) else {
        return Err(format!(
            "the {} header cannot be checked: the proxy has not seen the tools/list entry of `{}` in this session (list the tools through the proxy first)",
            sent.first().copied().unwrap_or("Mcp-Param"),
            crate::source::printable(tool)
        ));
    };
    for h in &sent {
        if !mirrored.iter().any(|m| m.header == *h) {
            return Err(format!(
                "the {h} header names no argument the tool `{}` declares (`x-mcp-header`)",
                crate::source::printable(tool)
            ));
        }
    }
    let args = params.and_then(|p| p.get("arguments"));
    for m in mirrored {
        let Some(h) = one(headers, &m.header)? else {
            continue;
        };
        let mut v = args;
        for k in &m.path {
            v = v.and_then(|x| x.get(k));
        }
        let arg = m.path.join(".");
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Err(format!(
                "the {} header is present but the request body's `{arg}` argument is absent",
                m.header
            ));
        };
        let Some(t) = text(h) else {
            return Err(format!(
                "the {} header carries a malformed base64 value",
                m.header
            ));
        };
        if !agrees(&m.kind, v, &t) {
            return Err(format!(
                "the {} header does not match the request body's `{arg}` argument",
                m.header
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn listed() -> Declared {
        let mut d = Declared::default();
        d.note(&json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
            {"name":"run_sql","inputSchema":{"type":"object","properties":{
                "region":{"type":"string","x-mcp-header":"Region"},
                "shard":{"type":"integer","x-mcp-header":"Shard"},
                "opts":{"type":"object","properties":{"dry":{"type":"boolean","x-mcp-header":"Dry"}}},
                "query":{"type":"string"}}}},
            {"name":"plain","inputSchema":{"type":"object","properties":{"q":{"type":"string"}}}}
        ]}}));
        d
    }

    fn call(tool: &str, args: Value) -> Value {
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":tool,"arguments":args,
            "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})
    }

    #[test]
    fn method_name_and_version() {
        let d = Declared::default();
        let c = call("a", json!({}));
        assert_eq!(disagree(&HeaderMap::new(), &c, &d), None);
        let ok = headers(&[
            ("mcp-method", "tools/call"),
            ("mcp-name", "a"),
            ("mcp-protocol-version", "2026-07-28"),
        ]);
        assert_eq!(disagree(&ok, &c, &d), None);
        for bad in [
            headers(&[("mcp-method", "tools/list")]),
            headers(&[("mcp-name", "b")]),
            headers(&[("mcp-protocol-version", "2025-11-25")]),
            headers(&[("mcp-name", "a"), ("mcp-name", "b")]),
            headers(&[("mcp-method", "tools/call"), ("mcp-method", "tools/call")]),
        ] {
            assert!(disagree(&bad, &c, &d).is_some(), "{bad:?}");
        }
        // The name of a prompt, the URI of a resource; base64 for what is not plain ASCII.
        let p = json!({"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"naïve"}});
        let enc = format!(
            "=?base64?{}?=",
            base64ct::Base64::encode_string("naïve".as_bytes())
        );
        assert_eq!(disagree(&headers(&[("mcp-name", &enc)]), &p, &d), None);
        assert!(disagree(&headers(&[("mcp-name", "naive")]), &p, &d).is_some());
        assert!(disagree(&headers(&[("mcp-name", "=?base64?!!?=")]), &p, &d).is_some());
        let r =
            json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}});
        assert_eq!(
            disagree(&headers(&[("mcp-name", "file:///a")]), &r, &d),
            None
        );
        assert!(disagree(&headers(&[("mcp-name", "file:///b")]), &r, &d).is_some());
    }

    #[test]
    fn mirrored_arguments() {
        let d = listed();
        let c = call(
            "run_sql",
            json!({"region":"eu-west","shard":42,"opts":{"dry":true},"query":"select 1"}),
        );
        let ok = headers(&[
            ("mcp-param-region", "eu-west"),
            ("mcp-param-shard", "42.0"),
            ("mcp-param-dry", "true"),
        ]);
        assert_eq!(disagree(&ok, &c, &d), None);
        // Headers left out are the server's to miss.
        assert_eq!(
            disagree(&headers(&[("mcp-param-region", "eu-west")]), &c, &d),
            None
        );
        for bad in [
            headers(&[("mcp-param-region", "us-east")]),
            headers(&[("mcp-param-shard", "43")]),
            headers(&[("mcp-param-dry", "false")]),
            headers(&[
                ("mcp-param-region", "eu-west"),
                ("mcp-param-region", "us-east"),
            ]),
            // Not declared by the tool.
            headers(&[("mcp-param-tenant", "acme")]),
        ] {
            assert!(disagree(&bad, &c, &d).is_some(), "{bad:?}");
        }
        // A header for an argument the body does not carry.
        let no_region = call("run_sql", json!({"query": "x"}));
        assert!(disagree(&headers(&[("mcp-param-region", "eu-west")]), &no_region, &d).is_some());
        // A tool the proxy has not seen listed: its headers cannot be checked.
        let unknown = call("other", json!({"region": "eu-west"}));
        let e = disagree(&headers(&[("mcp-param-region", "eu-west")]), &unknown, &d).unwrap();
        assert!(e.contains("has not seen"), "{e}");
        // On anything but tools/call.
        let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
        assert!(disagree(&headers(&[("mcp-param-region", "x")]), &list, &d).is_some());
    }
}
