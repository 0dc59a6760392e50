//! OpenTelemetry GenAI spans, exported as OTLP/JSON, read as events.
//!
//! An input holds export requests (`{"resourceSpans":[{"resource":…,"scopeSpans":[{"spans":
//! […]}]}]}`), one per line as the Collector's and the SDKs' file exporters write them, or
//! pretty-printed over several lines. Each span whose `gen_ai.operation.name` is an agent
//! action becomes one event (see `docs/simulate.md` for the full mapping):
//!
//! | operation | event |
//! |---|---|
//! | `execute_tool` | `action: tool_call`, `tool` ← `gen_ai.tool.name`, `args` ← `gen_ai.tool.call.arguments` |
//! | `chat`, `text_completion`, `generate_content` | `action: llm_call` |
//! | `invoke_agent` under another agent | `action: send_message`, `target` ← `gen_ai.agent.name` (or `.id`) |
//! | `create_agent` | `action: spawn_agent`, `target` ← `gen_ai.agent.name` (or `.id`) |
//!
//! Other spans (HTTP, database, an agent's own `invoke_agent` span, …) are not agent actions
//! and are counted, not read as events.
//!
//! **Identity is inherited.** Instrumentations put the conversation and the agent on the
//! `invoke_agent` (or chat) span and not on the tool spans beneath it, so `session` and `agent`
//! come from the span, then from its ancestors in the same trace, nearest first, then from the
//! resource ([`Resolve`], `docs/simulate.md` has the precedence). Exporters write a span when
//! it *ends*, children before their parents, so the adapter holds a trace's events until the
//! trace's root span (one without a parent, or whose parent is remote) has been read, and then
//! hands them over in start-time order. What it holds is bounded by [`MAX_HELD`]: beyond it the
//! oldest traces are handed over with what is known of them; at the end of the input everything
//! is.
//!
//! **Truncated arguments.** SDKs cut attribute values at their length limit
//! (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`), which leaves `gen_ai.tool.call.arguments` a JSON text
//! that ends too early. Such an event is decided without `args` (so every test on them is
//! unknown and fails closed) and is marked ([`super::Origin::truncated`]) to be counted.
//!
//! Source positions: each event carries the line and column where its span object starts in
//! the file, exactly (a one-line export puts many spans on one line; the column tells them
//! apart).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::Block;

/// Bytes of spans (and of what is remembered of finished traces) the adapter holds at most
/// while traces are open; beyond it the oldest traces are handed over as they are.
pub const MAX_HELD: usize = 64 * 1024 * 1024;
/// Ancestors looked at from one span, at most (a deeper chain, or a cycle, ends there).
pub const MAX_ANCESTORS: usize = 256;

/// `flags` bits of an OTLP span: whether it says if its parent is remote, and if it is.
const HAS_IS_REMOTE: u64 = 0x100;
const IS_REMOTE: u64 = 0x200;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(rename = "resourceSpans", default, borrow)]
    resource_spans: Option<Vec<ResourceSpans<'a>>>,
}

#[derive(Deserialize)]
struct ResourceSpans<'a> {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(rename = "scopeSpans", default, borrow)]
    scope_spans: Vec<ScopeSpans<'a>>,
}

#[derive(Deserialize, Default)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans<'a> {
    #[serde(default, borrow)]
    spans: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct Span {
    #[serde(rename = "traceId", default)]
    trace_id: String,
    #[serde(rename = "spanId", default)]
    span_id: String,
    #[serde(rename = "parentSpanId", default)]
    parent_span_id: String,
    #[serde(default)]
    flags: Option<u64>,
    #[serde(default)]
    name: String,
    #[serde(rename = "startTimeUnixNano", default)]
    start: Value,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

/// A serde error without its position (the caller gives a better one).
fn plain(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

// ---------------------------------------------------------------------------------------
// Identity attributes, as spans and resources carry them.

/// The attributes that identify who acts in which session, inherited from ancestors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    SessionId,
    ConversationId,
    GovernAgentId,
    GenAiAgentId,
    GenAiAgentName,
    Trust,
    Ring,
    Roles,
    ServiceName,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::SessionId => "session.id",
            Key::ConversationId => "gen_ai.conversation.id",
            Key::GovernAgentId => "govern.agent.id",
            Key::GenAiAgentId => "gen_ai.agent.id",
            Key::GenAiAgentName => "gen_ai.agent.name",
            Key::Trust => "govern.agent.trust",
            Key::Ring => "govern.agent.ring",
            Key::Roles => "govern.agent.roles",
            Key::ServiceName => "service.name",
        }
    }

    fn of(key: &str) -> Option<Key> {
        Some(match key {
            "session.id" => Key::SessionId,
            "gen_ai.conversation.id" => Key::ConversationId,
            "govern.agent.id" => Key::GovernAgentId,
            "gen_ai.agent.id" => Key::GenAiAgentId,
            "gen_ai.agent.name" => Key::GenAiAgentName,
            "govern.agent.trust" => Key::Trust,
            "govern.agent.ring" => Key::Ring,
            "govern.agent.roles" => Key::Roles,
            "service.name" => Key::ServiceName,
            _ => return None,
        })
    }
}

/// An attribute's value as JSON, or why it cannot be read.
type Found = Result<Value, Box<str>>;

/// The identity attributes one span (or resource) carries; most carry none.
#[derive(Clone, Debug, Default)]
struct Ident(Vec<(Key, Found)>);

impl Ident {
    fn of(attrs: &[KeyValue]) -> Ident {
        let mut out: Vec<(Key, Found)> = Vec::new();
        for kv in attrs {
            let Some(key) = Key::of(&kv.key) else {
                continue;
            };
            let found = any_value(&kv.value).map_err(|e| format!("attribute `{}`: {e}", kv.key));
            // The last occurrence of a key counts; `null` is absent.
            out.retain(|(k, _)| *k != key);
            match found {
                Ok(Value::Null) => {}
                Ok(v) => out.push((key, Ok(v))),
                Err(e) => out.push((key, Err(e.into()))),
            }
        }
        Ident(out)
    }

    fn get(&self, key: Key) -> Option<&Found> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, f)| f)
    }

    fn has(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// Bytes held, roughly (for [`MAX_HELD`]).
    fn weight(&self) -> usize {
        self.0
            .iter()
            .map(|(_, f)| match f {
                Ok(Value::String(s)) => 32 + s.len(),
                Ok(_) => 64,
                Err(e) => 32 + e.len(),
            })
            .sum()
    }
}

/// What an ancestor contributes: its identity, and whether it is an `invoke_agent` span
/// (whose `gen_ai.agent.*` name the agent acting beneath it).
#[derive(Debug)]
struct SpanInfo {
    parent: Option<Box<str>>,
    invoke_agent: bool,
    name: Box<str>,
    ident: Ident,
}

impl SpanInfo {
    /// Whether this ancestor says which agent acts beneath it.
    fn names_agent(&self) -> bool {
        self.ident.has(Key::GovernAgentId)
            || (self.invoke_agent
                && (self.ident.has(Key::GenAiAgentId) || self.ident.has(Key::GenAiAgentName)))
    }
}

// ---------------------------------------------------------------------------------------
// Traces being read.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Tool,
    Llm,
    Invoke,
    Create,
}

/// An event span waiting for its trace, with everything of the event but its identity.
struct Pending {
    seq: u64,
    start: Option<i64>,
    line: u64,
    column: u32,
    op: Op,
    name: Box<str>,
    parent: Option<Box<str>>,
    own: Ident,
    resource: Arc<Ident>,
    event: Map<String, Value>,
    truncated: bool,
    weight: usize,
}

#[derive(Default)]
struct Trace {
    /// Spans by id, for the ancestry of the events.
    spans: HashMap<Box<str>, SpanInfo>,
    pending: Vec<Pending>,
    /// Its root span has been read: the events can be handed over.
    complete: bool,
    /// Bytes held for it.
    weight: usize,
}

/// Reads OTLP/JSON documents into events. Holds the open traces of one input between
/// documents (see the module documentation); [`Adapter::finish`] hands over the rest.
pub struct Adapter {
    traces: HashMap<Box<str>, Trace>,
    /// Trace ids in the order they were first read (the order traces are let go in).
    order: VecDeque<Box<str>>,
    held: usize,
    /// [`MAX_HELD`], but for tests.
    limit: usize,
    seq: u64,
}

impl Default for Adapter {
    fn default() -> Adapter {
        Adapter {
            traces: HashMap::new(),
            order: VecDeque::new(),
            held: 0,
            limit: MAX_HELD,
            seq: 0,
        }
    }
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("traces", &self.traces.len())
            .field("held", &self.held)
            .finish()
    }
}

/// The kind of not-event counted for an agent's own `invoke_agent` span.
pub const OWN_AGENT_SPAN: &str = "agent's own invoke_agent span";
/// The kind of not-event counted for spans of other operations.
pub const OTHER_SPAN: &str = "span of another operation";

impl Adapter {
    pub fn new() -> Adapter {
        Adapter::default()
    }

    /// Reads one export request (`doc`, starting at input line `first_line`): spans that
    /// cannot be read are errors in `out` at once; events wait for their trace's root (see
    /// the module documentation), and the traces this request completes go to `out`.
    pub fn document(&mut self, doc: &str, first_line: u64, out: &mut Block) {
        let req: Request<'_> = match serde_json::from_str(doc) {
            Ok(r) => r,
            Err(e) => {
                let line = first_line + (e.line().max(1) as u64 - 1);
                out.push_error(
                    line,
                    u32::try_from(e.column()).unwrap_or(0),
                    format!("not an OTLP/JSON export request: {}", plain(&e)),
                );
                return;
            }
        };
        let Some(resource_spans) = &req.resource_spans else {
            out.push_error(
                first_line,
                0,
                "not an OTLP/JSON export request: no `resourceSpans`",
            );
            return;
        };
        // Line/column of each span, from its offset in the document.
        let base = doc.as_ptr() as usize;
        let mut scanned = 0usize;
        let mut line = first_line;
        let mut line_start = 0usize;
        let mut touched: Vec<Box<str>> = Vec::new();
        for rs in resource_spans {
            let attrs = rs
                .resource
                .as_ref()
                .map(|r| &r.attributes[..])
                .unwrap_or(&[]);
            let resource = Arc::new(Ident::of(attrs));
            for ss in &rs.scope_spans {
                for raw in &ss.spans {
                    let text = raw.get();
                    let offset = (text.as_ptr() as usize).saturating_sub(base).min(doc.len());
                    if offset >= scanned {
                        let seg = doc.as_bytes().get(scanned..offset).unwrap_or(&[]);
                        for (i, &c) in seg.iter().enumerate() {
                            if c == b'\n' {
                                line += 1;
                                line_start = scanned + i + 1;
                            }
                        }
                        scanned = offset;
                    }
                    let column = u32::try_from(offset - line_start.min(offset) + 1).unwrap_or(0);
                    if let Some(trace) = self.span(text, attrs, &resource, line, column, out)
                        && !touched.contains(&trace)
                    {
                        touched.push(trace);
                    }
                }
            }
        }
        // The traces this request completed, in the order they were first read.
        let mut done: Vec<Box<str>> = touched
            .into_iter()
            .filter(|t| self.traces.get(t).is_some_and(|t| t.complete))
            .collect();
        if !done.is_empty() {
            let rank: HashMap<&str, usize> = self
                .order
                .iter()
                .enumerate()
                .map(|(i, t)| (&**t, i))
                .collect();
            done.sort_by_key(|t| rank.get(&**t).copied().unwrap_or(usize::MAX));
        }
        for t in done {
            self.flush(&t, out);
        }
        self.shed(out);
    }

    /// Hands over every event still held (at the end of the input), trace by trace in the
    /// order they were first read.
    pub fn finish(&mut self, out: &mut Block) {
        while let Some(t) = self.order.pop_front() {
            self.flush(&t, out);
            self.traces.remove(&t);
        }
        self.traces.clear();
        self.held = 0;
    }

    /// Reads one span: indexes it for its trace's other spans, and holds its event (or
    /// reports it). Returns its trace id when it was taken.
    fn span(
        &mut self,
        text: &str,
        resource_attrs: &[KeyValue],
        resource: &Arc<Ident>,
        line: u64,
        column: u32,
        out: &mut Block,
    ) -> Option<Box<str>> {
        let span: Span = match serde_json::from_str(text) {
            Ok(s) => s,
            Err(e) => {
                out.push_error(line, column, format!("not an OTLP span: {}", plain(&e)));
                return None;
            }
        };
        let label = if span.name.is_empty() {
            String::new()
        } else {
            format!(" `{}`", span.name)
        };
        let own = Ident::of(&span.attributes);
        let attrs = Attrs {
            span: &span.attributes,
            resource: resource_attrs,
        };
        // A span whose operation cannot be read is a bad record, but still an ancestor.
        let op = match attrs.string("gen_ai.operation.name") {
            Ok(Some(op)) => match op.as_str() {
                "execute_tool" => Ok(Some(Op::Tool)),
                "chat" | "text_completion" | "generate_content" => Ok(Some(Op::Llm)),
                "invoke_agent" => Ok(Some(Op::Invoke)),
                "create_agent" => Ok(Some(Op::Create)),
                _ => Ok(None),
            },
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        let trace_key: Box<str> = span.trace_id.as_str().into();
        let parent = (!span.parent_span_id.is_empty()).then(|| span.parent_span_id.as_str().into());
        let remote_parent = span
            .flags
            .is_some_and(|f| f & HAS_IS_REMOTE != 0 && f & IS_REMOTE != 0);
        let root = parent.is_none() || remote_parent;
        if !self.traces.contains_key(&trace_key) {
            self.traces.insert(trace_key.clone(), Trace::default());
            self.order.push_back(trace_key.clone());
        }
        let trace = self.traces.get_mut(&trace_key)?;
        if root {
            trace.complete = true;
        }
        if !span.span_id.is_empty() && !trace.spans.contains_key(span.span_id.as_str()) {
            let info = SpanInfo {
                parent: if remote_parent { None } else { parent.clone() },
                invoke_agent: matches!(op, Ok(Some(Op::Invoke))),
                name: span.name.as_str().into(),
                ident: own.clone(),
            };
            let w = 96 + span.span_id.len() + span.name.len() + info.ident.weight();
            trace.spans.insert(span.span_id.as_str().into(), info);
            trace.weight += w;
            self.held += w;
        }
        let op = match op {
            Ok(Some(op)) => op,
            Ok(None) => {
                out.not_event(OTHER_SPAN);
                return Some(trace_key);
            }
            Err(e) => {
                out.push_error(line, column, format!("span{label}: {e}"));
                return Some(trace_key);
            }
        };
        let (event, start, truncated) = match build(&span, &attrs, op) {
            Ok(b) => b,
            Err(e) => {
                out.push_error(line, column, format!("span{label}: {e}"));
                return Some(trace_key);
            }
        };
        self.seq += 1;
        let weight = 256 + text.len();
        trace.pending.push(Pending {
            seq: self.seq,
            start,
            line,
            column,
            op,
            name: span.name.as_str().into(),
            parent: if remote_parent { None } else { parent },
            own,
            resource: Arc::clone(resource),
            event,
            truncated,
            weight,
        });
        trace.weight += weight;
        self.held += weight;
        Some(trace_key)
    }

    /// Hands over the held events of trace `t`, in start-time order (ties, and spans without
    /// a start time, keep the order they were read in; those without one come first).
    fn flush(&mut self, t: &str, out: &mut Block) {
        let Some(trace) = self.traces.get_mut(t) else {
            return;
        };
        let mut pending = std::mem::take(&mut trace.pending);
        pending.sort_by_key(|p| (p.start.unwrap_or(i64::MIN), p.seq));
        let mut freed = 0;
        for p in &pending {
            freed += p.weight;
            match resolve(t, trace, p) {
                Ok(Some(ev)) => out.push_derived(&Value::Object(ev), p.line, p.column, p.truncated),
                Ok(None) => out.not_event(OWN_AGENT_SPAN),
                Err(e) => {
                    let label = if p.name.is_empty() {
                        String::new()
                    } else {
                        format!(" `{}`", p.name)
                    };
                    out.push_error(p.line, p.column, format!("span{label}: {e}"));
                }
            }
        }
        trace.weight = trace.weight.saturating_sub(freed);
        self.held = self.held.saturating_sub(freed);
    }

    /// Keeps what is held within [`MAX_HELD`]: forgets the oldest finished traces first,
    /// then hands over the oldest open ones with what is known of them.
    fn shed(&mut self, out: &mut Block) {
        if self.held <= self.limit {
            return;
        }
        let low = self.limit / 4 * 3;
        let mut keep = VecDeque::with_capacity(self.order.len());
        while let Some(t) = self.order.pop_front() {
            let finished = self.traces.get(&t).is_none_or(|tr| tr.pending.is_empty());
            if self.held > low && finished {
                self.forget(&t);
            } else {
                keep.push_back(t);
            }
        }
        self.order = keep;
        while self.held > low {
            let Some(t) = self.order.pop_front() else {
                break;
            };
            self.flush(&t, out);
            self.forget(&t);
        }
    }

    fn forget(&mut self, t: &str) {
        if let Some(tr) = self.traces.remove(t) {
            self.held = self.held.saturating_sub(tr.weight);
        }
    }
}

/// Where an identity attribute was found, for messages.
#[derive(Clone, Copy)]
enum Source<'a> {
    Span,
    Ancestor(&'a str),
    Resource,
}

/// The span's ancestors in its trace, nearest first (at most [`MAX_ANCESTORS`]).
fn ancestors<'t>(trace: &'t Trace, parent: Option<&str>) -> Vec<&'t SpanInfo> {
    let mut out = Vec::new();
    let mut next = parent;
    while let Some(id) = next {
        if out.len() >= MAX_ANCESTORS {
            break;
        }
        let Some(info) = trace.spans.get(id) else {
            break;
        };
        out.push(info);
        next = info.parent.as_deref();
    }
    out
}

/// Looks identity attributes up for one span: on the span, then its ancestors nearest first,
/// then its resource.
struct Resolve<'a> {
    own: &'a Ident,
    chain: Vec<&'a SpanInfo>,
    resource: &'a Ident,
}

impl<'a> Resolve<'a> {
    /// `key` on the span, its first `depth` ancestors, or the resource.
    fn find(&self, key: Key, depth: usize) -> Option<(&'a Found, Source<'a>)> {
        if let Some(f) = self.own.get(key) {
            return Some((f, Source::Span));
        }
        for a in self.chain.iter().take(depth) {
            if let Some(f) = a.ident.get(key) {
                return Some((f, Source::Ancestor(&a.name)));
            }
        }
        self.resource.get(key).map(|f| (f, Source::Resource))
    }
}

/// A found attribute as a value (an error names where it came from).
fn value(found: &Found, from: Source<'_>) -> Result<Value, String> {
    match found {
        Ok(v) => Ok(v.clone()),
        Err(e) => Err(match from {
            Source::Ancestor(name) => format!("{e} (inherited from span `{name}`)"),
            Source::Resource => format!("{e} (on the resource)"),
            Source::Span => e.to_string(),
        }),
    }
}

/// A found attribute that must be a string.
fn string(key: Key, found: &Found, from: Source<'_>) -> Result<String, String> {
    match value(found, from)? {
        Value::String(s) => Ok(s),
        _ => Err(match from {
            Source::Ancestor(name) => format!(
                "attribute `{}` (inherited from span `{name}`) must be a string",
                key.name()
            ),
            Source::Resource => format!(
                "attribute `{}` (on the resource) must be a string",
                key.name()
            ),
            Source::Span => format!("attribute `{}` must be a string", key.name()),
        }),
    }
}

/// The event of a held span, with its identity resolved; `None` when the span is an agent's
/// own `invoke_agent` span and so no action.
fn resolve(
    trace_id: &str,
    trace: &Trace,
    p: &Pending,
) -> Result<Option<Map<String, Value>>, String> {
    let r = Resolve {
        own: &p.own,
        chain: ancestors(trace, p.parent.as_deref()),
        resource: &p.resource,
    };
    let all = r.chain.len();
    // The agent: the span's own `govern.agent.id`, else the nearest ancestor that names an
    // agent (`govern.agent.id`, or an `invoke_agent` span's `gen_ai.agent.id` / `.name`).
    let about_target = matches!(p.op, Op::Invoke | Op::Create);
    let boundary = r
        .chain
        .iter()
        .position(|a| a.names_agent())
        .map_or(all, |i| i + 1);
    let mut id = None;
    let mut name = None;
    let mut enclosed = false;
    if let Some(f) = p.own.get(Key::GovernAgentId) {
        id = Some(string(Key::GovernAgentId, f, Source::Span)?);
        enclosed = true;
        if !about_target && let Some(f) = p.own.get(Key::GenAiAgentName) {
            name = Some(string(Key::GenAiAgentName, f, Source::Span)?);
        }
    } else if let Some(a) = r
        .chain
        .get(..boundary)
        .and_then(|c| c.last())
        .filter(|a| a.names_agent())
    {
        let from = Source::Ancestor(&a.name);
        for key in [Key::GovernAgentId, Key::GenAiAgentId, Key::GenAiAgentName] {
            if key != Key::GovernAgentId && !a.invoke_agent {
                break;
            }
            if let Some(f) = a.ident.get(key) {
                id = Some(string(key, f, from)?);
                break;
            }
        }
        if a.invoke_agent
            && let Some(f) = a.ident.get(Key::GenAiAgentName)
        {
            name = Some(string(Key::GenAiAgentName, f, from)?);
        }
        enclosed = true;
    } else if let Some(f) = p.resource.get(Key::GovernAgentId) {
        id = Some(string(Key::GovernAgentId, f, Source::Resource)?);
    } else {
        if !about_target {
            for key in [Key::GenAiAgentId, Key::GenAiAgentName] {
                if let Some(f) = p.own.get(key) {
                    id = Some(string(key, f, Source::Span)?);
                    break;
                }
            }
            if let Some(f) = p.own.get(Key::GenAiAgentName) {
                name = Some(string(Key::GenAiAgentName, f, Source::Span)?);
            }
        }
        if id.is_none() {
            id = match p.resource.get(Key::ServiceName) {
                Some(Ok(Value::String(s))) => Some(s.clone()),
                _ => None,
            };
        }
    }
    if p.op == Op::Invoke {
        // Only a call from one agent to another is a message; an agent's own span is not.
        let target = |key| match p.own.get(key) {
            Some(Ok(Value::String(s))) => Some(s.as_str()),
            _ => None,
        };
        let same = id.as_deref().is_some_and(|caller| {
            target(Key::GenAiAgentName) == Some(caller) || target(Key::GenAiAgentId) == Some(caller)
        });
        if !enclosed || same {
            return Ok(None);
        }
    }
    let mut ev = p.event.clone();
    // Session: `session.id` anywhere up the trace, else `gen_ai.conversation.id`, else the
    // trace id.
    let mut session = None;
    for key in [Key::SessionId, Key::ConversationId] {
        if let Some((f, from)) = r.find(key, all) {
            session = Some(string(key, f, from)?);
            break;
        }
    }
    if session.is_none() && !trace_id.is_empty() {
        session = Some(trace_id.to_string());
    }
    if let Some(s) = session {
        ev.insert("session".into(), Value::String(s));
    }
    let mut agent = Map::new();
    if let Some(id) = id {
        agent.insert("id".into(), Value::String(id));
    }
    if let Some(name) = name {
        agent.insert("name".into(), Value::String(name));
    }
    for (key, field) in [
        (Key::Trust, "trust"),
        (Key::Ring, "ring"),
        (Key::Roles, "roles"),
    ] {
        if let Some((f, from)) = r.find(key, boundary) {
            agent.insert(field.into(), value(f, from)?);
        }
    }
    if !agent.is_empty() {
        ev.insert("agent".into(), Value::Object(agent));
    }
    Ok(Some(ev))
}

/// OTLP `AnyValue` → JSON.
fn any_value(v: &Value) -> Result<Value, String> {
    let Some(obj) = v.as_object() else {
        return Err("an attribute value must be an object like {\"stringValue\": …}".into());
    };
    let Some((kind, inner)) = obj.iter().next() else {
        return Ok(Value::Null);
    };
    match kind.as_str() {
        "stringValue" | "bytesValue" => match inner {
            Value::String(_) => Ok(inner.clone()),
            _ => Err(format!("`{kind}` must be a string")),
        },
        "boolValue" => match inner {
            Value::Bool(_) => Ok(inner.clone()),
            _ => Err("`boolValue` must be true or false".into()),
        },
        "intValue" => match inner {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(inner.clone()),
            Value::String(s) => s
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("`intValue` {s:?} is not an integer")),
            _ => Err("`intValue` must be an integer".into()),
        },
        "doubleValue" => match inner {
            Value::Number(_) => Ok(inner.clone()),
            Value::String(s) => match s.as_str() {
                "NaN" | "Infinity" | "-Infinity" => Ok(Value::Null),
                _ => s
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("`doubleValue` {s:?} is not a number")),
            },
            _ => Err("`doubleValue` must be a number".into()),
        },
        "arrayValue" => {
            let values = inner
                .get("values")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            values
                .iter()
                .map(any_value)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        "kvlistValue" => {
            let values = inner
                .get("values")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut m = Map::new();
            for kv in values {
                let key = kv
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("a `kvlistValue` entry has no `key`")?;
                let val = kv.get("value").map(any_value).transpose()?;
                m.insert(key.to_string(), val.unwrap_or(Value::Null));
            }
            Ok(Value::Object(m))
        }
        other => Err(format!("unknown attribute value kind `{other}`")),
    }
}

/// Span attributes, then resource attributes, by key; converted.
struct Attrs<'a> {
    span: &'a [KeyValue],
    resource: &'a [KeyValue],
}

impl Attrs<'_> {
    fn raw(&self, key: &str) -> Option<&Value> {
        self.span
            .iter()
            .rev()
            .find(|kv| kv.key == key)
            .or_else(|| self.resource.iter().rev().find(|kv| kv.key == key))
            .map(|kv| &kv.value)
    }

    fn get(&self, key: &str) -> Result<Option<Value>, String> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => any_value(v)
                .map(|v| (!v.is_null()).then_some(v))
                .map_err(|e| format!("attribute `{key}`: {e}")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("attribute `{key}` must be a string")),
        }
    }

    fn number(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(format!("attribute `{key}` must be a number")),
        }
    }
}

/// A span's event without its identity, its start time, and whether its arguments were cut.
type Built = (Map<String, Value>, Option<i64>, bool);

/// The event of one span without its identity (`session`, `agent`: see [`resolve`]), its
/// start time, and whether its tool arguments were cut short.
fn build(span: &Span, a: &Attrs<'_>, op: Op) -> Result<Built, String> {
    let action = match op {
        Op::Tool => "tool_call",
        Op::Llm => "llm_call",
        Op::Invoke => "send_message",
        Op::Create => "spawn_agent",
    };
    let mut ev = Map::new();
    let start = match &span.start {
        Value::Null => None,
        Value::String(s) => Some(
            s.parse::<u64>()
                .map_err(|_| format!("`startTimeUnixNano` {s:?} is not an integer"))?,
        ),
        Value::Number(n) => Some(
            n.as_u64()
                .ok_or("`startTimeUnixNano` must be a non-negative integer")?,
        ),
        _ => return Err("`startTimeUnixNano` must be an integer".into()),
    };
    let start = match start {
        Some(ns) => {
            Some(i64::try_from(ns).map_err(|_| "`startTimeUnixNano` is out of range".to_string())?)
        }
        None => None,
    };
    if let Some(ns) = start {
        ev.insert("ts".into(), Value::String(super::format_ts(ns)));
    }
    ev.insert("action".into(), Value::String(action.into()));
    let mut truncated = false;
    if op == Op::Tool {
        if let Some(t) = a.string("gen_ai.tool.name")? {
            ev.insert("tool".into(), Value::String(t));
        }
        match a.get("gen_ai.tool.call.arguments")? {
            None => {}
            Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
                Ok(v @ Value::Object(_)) => {
                    ev.insert("args".into(), v);
                }
                Ok(_) => {
                    return Err(
                        "attribute `gen_ai.tool.call.arguments` is not a JSON object".into(),
                    );
                }
                // A text that is JSON so far but ends early was cut by the exporter's
                // attribute length limit: the arguments are unknown.
                Err(e) if e.classify() == serde_json::error::Category::Eof => {
                    truncated = true;
                }
                Err(e) => {
                    return Err(format!(
                        "attribute `gen_ai.tool.call.arguments` is not valid JSON: {}",
                        plain(&e)
                    ));
                }
            },
            Some(v @ Value::Object(_)) => {
                ev.insert("args".into(), v);
            }
            Some(_) => {
                return Err(
                    "attribute `gen_ai.tool.call.arguments` must be a JSON object or its text"
                        .into(),
                );
            }
        }
    }
    if matches!(op, Op::Invoke | Op::Create) {
        let target = match a.string("gen_ai.agent.name")? {
            Some(s) => Some(s),
            None => a.string("gen_ai.agent.id")?,
        };
        if let Some(t) = target {
            ev.insert("target".into(), Value::String(t));
        }
    }
    let input = match a.number("gen_ai.usage.input_tokens")? {
        Some(n) => Some(n),
        None => a.number("gen_ai.usage.prompt_tokens")?,
    };
    let output = match a.number("gen_ai.usage.output_tokens")? {
        Some(n) => Some(n),
        None => a.number("gen_ai.usage.completion_tokens")?,
    };
    if input.is_some() || output.is_some() {
        let total = input.unwrap_or(0.0) + output.unwrap_or(0.0);
        ev.insert("tokens".into(), json_number(total));
    }
    if let Some(c) = a.number("gen_ai.usage.cost")? {
        ev.insert("cost".into(), json_number(c));
    }
    if let Some(l) = a.get("govern.labels")? {
        ev.insert("labels".into(), l);
    }
    let mut annotations = Map::new();
    for kv in a.resource.iter().chain(a.span.iter()) {
        if let Some(name) = kv.key.strip_prefix("govern.annotations.") {
            let v = any_value(&kv.value).map_err(|e| format!("attribute `{}`: {e}", kv.key))?;
            annotations.insert(name.to_string(), v);
        }
    }
    if !annotations.is_empty() {
        ev.insert("annotations".into(), Value::Object(annotations));
    }
    if let Some(d) = a.get("govern.decision")? {
        ev.insert("decision".into(), d);
    }
    Ok((ev, start, truncated))
}

fn json_number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(doc: &str) -> Block {
        let mut b = Block::default();
        let mut a = Adapter::new();
        a.document(doc, 10, &mut b);
        a.finish(&mut b);
        b
    }

    fn events(b: &Block) -> Vec<(Value, u64, u32)> {
        b.lines()
            .map(|(t, o)| {
                let v = if o.error.is_some() {
                    Value::String(o.error.clone().unwrap())
                } else {
                    serde_json::from_slice(t).unwrap()
                };
                (v, o.line, o.column)
            })
            .collect()
    }

    #[test]
    fn tool_spans_become_tool_calls() {
        let doc = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"fin-svc"}},{"key":"govern.agent.roles","value":{"arrayValue":{"values":[{"stringValue":"finance"}]}}}]},"scopeSpans":[{"scope":{"name":"x"},"spans":[
{"traceId":"abc","spanId":"2","name":"execute_tool transfer_funds","startTimeUnixNano":"1795428000500000000","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},{"key":"gen_ai.tool.name","value":{"stringValue":"transfer_funds"}},{"key":"gen_ai.tool.call.arguments","value":{"stringValue":"{\"amount\":2500,\"to\":\"ACME\"}"}},{"key":"session.id","value":{"stringValue":"s-1"}},{"key":"govern.agent.trust","value":{"intValue":"640"}},{"key":"govern.decision","value":{"stringValue":"allow"}}]},
  {"traceId":"abc","spanId":"1","name":"chat gpt","startTimeUnixNano":1795428000100000000,"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.agent.id","value":{"stringValue":"fin-1"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"100"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":23}}]},
{"traceId":"abc","spanId":"3","name":"GET","startTimeUnixNano":"1","attributes":[]}
]}]}]}"#;
        let b = run(doc);
        assert_eq!(b.not_events, 1);
        let evs = events(&b);
        assert_eq!(evs.len(), 2);
        // Sorted by start time: the chat span first.
        let (chat, line, col) = &evs[0];
        assert_eq!((*line, *col), (12, 3));
        assert_eq!(chat["action"], "llm_call");
        assert_eq!(chat["agent"]["id"], "fin-1");
        assert_eq!(chat["session"], "abc");
        assert_eq!(chat["tokens"], 123);
        assert_eq!(chat["ts"], "2026-11-23T10:00:00.100Z");
        let (tool, line, col) = &evs[1];
        assert_eq!((*line, *col), (11, 1));
        assert_eq!(tool["action"], "tool_call");
        assert_eq!(tool["tool"], "transfer_funds");
        assert_eq!(tool["args"]["amount"], 2500);
        assert_eq!(tool["agent"]["id"], "fin-svc");
        assert_eq!(tool["agent"]["trust"], 640);
        assert_eq!(tool["agent"]["roles"][0], "finance");
        assert_eq!(tool["session"], "s-1");
        assert_eq!(tool["decision"], "allow");
    }

    #[test]
    fn bad_spans_are_errors_in_place() {
        let doc = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"t","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},{"key":"gen_ai.tool.call.arguments","value":{"stringValue":"{oops"}}]}]}]}]}"#;
        let b = run(doc);
        let evs = events(&b);
        assert_eq!(evs.len(), 1);
        let msg = evs[0].0.as_str().unwrap();
        assert!(
            msg.starts_with("span `t`: attribute `gen_ai.tool.call.arguments` is not valid JSON"),
            "{msg}"
        );
        assert_eq!(evs[0].1, 10);
        let b = run("{\"resourceSpans\": 3}");
        let evs = events(&b);
        assert!(
            evs[0]
                .0
                .as_str()
                .unwrap()
                .starts_with("not an OTLP/JSON export request: invalid type")
        );
        let b = run("{\"tool\":\"x\"}");
        assert_eq!(
            events(&b)[0].0,
            "not an OTLP/JSON export request: no `resourceSpans`"
        );
        let b = run("{\"resourceSpans\":[]}\n x");
        let evs = events(&b);
        assert_eq!(evs[0].1, 11);
    }

    /// An OTLP attribute list from (key, JSON value) pairs: strings, integers, lists of strings.
    fn attrs(kv: &[(&str, Value)]) -> String {
        let items: Vec<String> = kv
            .iter()
            .map(|(k, v)| {
                let any = match v {
                    Value::String(s) => serde_json::json!({ "stringValue": s }),
                    Value::Number(n) => serde_json::json!({ "intValue": n.to_string() }),
                    Value::Array(a) => serde_json::json!({ "arrayValue": { "values":
                        a.iter().map(|x| serde_json::json!({"stringValue": x})).collect::<Vec<_>>() } }),
                    other => other.clone(),
                };
                serde_json::json!({ "key": k, "value": any }).to_string()
            })
            .collect();
        format!("[{}]", items.join(","))
    }

    /// One span: trace, id, parent (`""` for none), start (seconds), extra fields, attributes.
    fn span(
        trace: &str,
        id: &str,
        parent: &str,
        start: u64,
        extra: &str,
        kv: &[(&str, Value)],
    ) -> String {
        let parent = if parent.is_empty() {
            String::new()
        } else {
            format!(",\"parentSpanId\":\"{parent}\"")
        };
        format!(
            "{{\"traceId\":\"{trace}\",\"spanId\":\"{id}\"{parent},\"name\":\"{id}\",\"startTimeUnixNano\":\"{}\"{extra},\"attributes\":{}}}",
            1_795_428_000_000_000_000u64 + start * 1_000_000_000,
            attrs(kv)
        )
    }

    fn request(resource: &[(&str, Value)], spans: &[String]) -> String {
        format!(
            "{{\"resourceSpans\":[{{\"resource\":{{\"attributes\":{}}},\"scopeSpans\":[{{\"spans\":[{}]}}]}}]}}",
            attrs(resource),
            spans.join(",")
        )
    }

    fn op(o: &str) -> (&'static str, Value) {
        ("gen_ai.operation.name", Value::String(o.into()))
    }

    fn kv(k: &'static str, v: &str) -> (&'static str, Value) {
        (k, Value::String(v.into()))
    }

    /// Reads requests, one per line (as a file exporter writes them), checking what is handed
    /// over before the end; returns every event or error with its line.
    fn read(lines: &[String], mut a: Adapter) -> (Vec<(Value, u64)>, Block) {
        let mut all = Block::default();
        let mut out = Vec::new();
        let collect = |b: &Block, out: &mut Vec<(Value, u64)>| {
            for (v, line, _) in events(b) {
                out.push((v, line));
            }
        };
        for (i, l) in lines.iter().enumerate() {
            let mut b = Block::default();
            a.document(l, i as u64 + 1, &mut b);
            collect(&b, &mut out);
            all.not_events += b.not_events;
            for (k, n) in b.not_event_kinds {
                *all.not_event_kinds.entry(k).or_default() += n;
            }
        }
        let mut b = Block::default();
        a.finish(&mut b);
        collect(&b, &mut out);
        all.not_events += b.not_events;
        for (k, n) in b.not_event_kinds {
            *all.not_event_kinds.entry(k).or_default() += n;
        }
        (out, all)
    }

    #[test]
    fn identity_is_inherited_from_ancestors_read_after_their_children() {
        // util-genai's shape: the conversation and the agent on the invoke_agent span, the
        // tool span beneath it (here under an HTTP span), each exported as it ends.
        let res = [kv("service.name", "support-app")];
        let lines = [
            request(
                &res,
                &[span(
                    "t1",
                    "tool",
                    "http",
                    3,
                    "",
                    &[
                        op("execute_tool"),
                        kv("gen_ai.tool.name", "file_read"),
                        kv("gen_ai.tool.call.arguments", "{\"path\":\"/a\"}"),
                    ],
                )],
            ),
            request(
                &res,
                &[span(
                    "t1",
                    "http",
                    "agent",
                    2,
                    "",
                    &[kv("http.request.method", "GET")],
                )],
            ),
            request(&res, &[span("t1", "chat", "agent", 1, "", &[op("chat")])]),
            request(
                &res,
                &[span(
                    "t1",
                    "agent",
                    "",
                    0,
                    "",
                    &[
                        op("invoke_agent"),
                        kv("gen_ai.agent.name", "support"),
                        kv("gen_ai.conversation.id", "c-1"),
                        ("govern.agent.trust", Value::from(700)),
                    ],
                )],
            ),
        ];
        let (evs, b) = read(&lines, Adapter::new());
        assert_eq!(evs.len(), 2, "{evs:?}");
        // Handed over in start-time order, each at its own line.
        let (chat, line) = &evs[0];
        assert_eq!(*line, 3);
        assert_eq!(chat["action"], "llm_call");
        assert_eq!(chat["session"], "c-1");
        assert_eq!(
            chat["agent"],
            serde_json::json!({"id": "support", "name": "support", "trust": 700})
        );
        let (tool, line) = &evs[1];
        assert_eq!(*line, 1);
        assert_eq!(tool["tool"], "file_read");
        assert_eq!(tool["session"], "c-1");
        assert_eq!(tool["agent"]["id"], "support");
        assert_eq!(tool["agent"]["trust"], 700);
        // The agent's own span is no message; the HTTP span no action.
        assert_eq!(b.not_event_kinds.get(OWN_AGENT_SPAN), Some(&1));
        assert_eq!(b.not_event_kinds.get(OTHER_SPAN), Some(&1));
    }

    #[test]
    fn the_root_hands_a_trace_over_and_open_traces_wait() {
        let tool = |t: &str| span(t, "tool", "agent", 1, "", &[op("execute_tool")]);
        let mut a = Adapter::new();
        let mut b = Block::default();
        a.document(&request(&[], &[tool("t1"), tool("t2")]), 1, &mut b);
        assert!(b.origins.is_empty(), "nothing before the trace's root");
        // A span whose parent is remote (flags 0x300) is the local root.
        let remote = span(
            "t1",
            "agent",
            "feedface",
            0,
            ",\"flags\":769",
            &[op("invoke_agent"), kv("gen_ai.agent.name", "a")],
        );
        a.document(&request(&[], &[remote]), 2, &mut b);
        let evs = events(&b);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].0["agent"]["id"], "a");
        // A parent that only says it is local (0x100) does not end the trace.
        let mut b = Block::default();
        a.document(
            &request(&[], &[span("t2", "x", "y", 2, ",\"flags\":257", &[])]),
            3,
            &mut b,
        );
        assert!(b.origins.is_empty());
        // The end of the input hands over what is left, with what is known.
        a.finish(&mut b);
        let evs = events(&b);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].0["session"], "t2");
        assert!(evs[0].0.get("agent").is_none());
    }

    #[test]
    fn precedence_of_inherited_attributes() {
        let res = [
            kv("service.name", "svc"),
            kv("session.id", "from-resource"),
            ("govern.agent.ring", Value::from(3)),
        ];
        let lines = [request(
            &res,
            &[
                span("t", "root", "", 0, "", &[kv("session.id", "from-root")]),
                span(
                    "t",
                    "mid",
                    "root",
                    1,
                    "",
                    &[
                        kv("gen_ai.conversation.id", "from-mid"),
                        ("govern.agent.ring", Value::from(1)),
                    ],
                ),
                span("t", "a", "mid", 2, "", &[op("chat")]),
                span(
                    "t",
                    "b",
                    "mid",
                    3,
                    "",
                    &[op("chat"), kv("session.id", "own")],
                ),
                span(
                    "t",
                    "c",
                    "",
                    4,
                    "",
                    &[op("chat"), kv("gen_ai.agent.id", "own-agent")],
                ),
            ],
        )];
        let (evs, _) = read(&lines, Adapter::new());
        let evs: Vec<Value> = evs.into_iter().map(|(v, _)| v).collect();
        // `session.id` anywhere up the trace beats a nearer `gen_ai.conversation.id`.
        assert_eq!(evs[0]["session"], "from-root");
        assert_eq!(evs[1]["session"], "own");
        // The nearest ancestor wins over the resource.
        assert_eq!(evs[0]["agent"]["ring"], 1);
        // Without ancestors: the span's own attributes, then the resource.
        assert_eq!(evs[2]["session"], "from-resource");
        assert_eq!(
            evs[2]["agent"],
            serde_json::json!({"id": "own-agent", "ring": 3})
        );
        // Without any agent attribute: the service.
        assert_eq!(evs[0]["agent"]["id"], "svc");
    }

    #[test]
    fn an_agent_boundary_stops_the_agent_attributes() {
        let lines = [request(
            &[],
            &[
                span(
                    "t",
                    "tool",
                    "b",
                    3,
                    "",
                    &[op("execute_tool"), kv("gen_ai.tool.name", "x")],
                ),
                span(
                    "t",
                    "b",
                    "a",
                    2,
                    "",
                    &[op("invoke_agent"), kv("gen_ai.agent.name", "billing")],
                ),
                span(
                    "t",
                    "a2",
                    "a",
                    1,
                    "",
                    &[op("invoke_agent"), kv("gen_ai.agent.name", "support")],
                ),
                span(
                    "t",
                    "a",
                    "",
                    0,
                    "",
                    &[
                        op("invoke_agent"),
                        kv("gen_ai.agent.name", "support"),
                        ("govern.agent.trust", Value::from(900)),
                        ("govern.agent.roles", serde_json::json!(["lead"])),
                    ],
                ),
            ],
        )];
        let (evs, b) = read(&lines, Adapter::new());
        let evs: Vec<Value> = evs.into_iter().map(|(v, _)| v).collect();
        assert_eq!(evs.len(), 2, "{evs:?}");
        // support → billing is a message, from support, with support's trust.
        assert_eq!(evs[0]["action"], "send_message");
        assert_eq!(evs[0]["target"], "billing");
        assert_eq!(
            evs[0]["agent"],
            serde_json::json!({"id": "support", "name": "support", "trust": 900, "roles": ["lead"]})
        );
        // billing's tool call is billing's, and support's trust does not cross over.
        assert_eq!(
            evs[1]["agent"],
            serde_json::json!({"id": "billing", "name": "billing"})
        );
        // support's own span, and a span of support nested in it, are no messages.
        assert_eq!(b.not_event_kinds.get(OWN_AGENT_SPAN), Some(&2));
    }

    #[test]
    fn explicit_govern_agent_ids_and_targets() {
        let lines = [request(
            &[kv("govern.agent.id", "svc-agent")],
            &[
                // `govern.agent.id` on an ancestor names the agent beneath it, as does one on
                // the span itself (on an invoke_agent span it names the caller).
                span(
                    "t",
                    "call",
                    "root",
                    1,
                    "",
                    &[
                        op("invoke_agent"),
                        kv("gen_ai.agent.id", "remote-7"),
                        kv("govern.agent.id", "caller"),
                    ],
                ),
                span("t", "tool", "root", 2, "", &[op("execute_tool")]),
                span("t", "root", "", 0, "", &[kv("govern.agent.id", "outer")]),
                span(
                    "u",
                    "create",
                    "",
                    3,
                    "",
                    &[op("create_agent"), kv("gen_ai.agent.name", "helper")],
                ),
            ],
        )];
        let (evs, _) = read(&lines, Adapter::new());
        let evs: Vec<Value> = evs.into_iter().map(|(v, _)| v).collect();
        assert_eq!(evs[0]["action"], "send_message");
        assert_eq!(evs[0]["agent"]["id"], "caller");
        assert_eq!(evs[0]["target"], "remote-7");
        assert_eq!(evs[1]["agent"]["id"], "outer");
        // Creating an agent is an action even outside any agent; the resource names the actor.
        assert_eq!(evs[2]["action"], "spawn_agent");
        assert_eq!(evs[2]["agent"]["id"], "svc-agent");
        assert_eq!(evs[2]["target"], "helper");
    }

    #[test]
    fn truncated_arguments_are_unknown_not_bad() {
        let doc = request(
            &[],
            &[
                span(
                    "t",
                    "a",
                    "",
                    0,
                    "",
                    &[
                        op("execute_tool"),
                        kv("gen_ai.tool.name", "web_search"),
                        kv("gen_ai.tool.call.arguments", "{\"query\":\"xxxx"),
                    ],
                ),
                span(
                    "t",
                    "b",
                    "",
                    1,
                    "",
                    &[
                        op("execute_tool"),
                        kv("gen_ai.tool.call.arguments", "{\"query\":}"),
                    ],
                ),
            ],
        );
        let b = run(&doc);
        let origins: Vec<(bool, bool)> = b
            .origins
            .iter()
            .map(|o| (o.truncated, o.error.is_some()))
            .collect();
        // The cut-off text is an event without `args`; malformed JSON is still a bad record.
        assert_eq!(origins, vec![(false, true), (true, false)]);
        let evs = events(&b);
        assert!(evs[0].0.as_str().unwrap().contains("is not valid JSON"));
        assert_eq!(evs[1].0["tool"], "web_search");
        assert!(evs[1].0.get("args").is_none());
    }

    #[test]
    fn bad_inherited_attributes_name_their_span() {
        let doc = request(
            &[],
            &[
                span("t", "tool", "agent", 1, "", &[op("execute_tool")]),
                span(
                    "t",
                    "agent",
                    "",
                    0,
                    "",
                    &[
                        op("invoke_agent"),
                        ("gen_ai.conversation.id", Value::from(7)),
                        kv("gen_ai.agent.name", "a"),
                    ],
                ),
            ],
        );
        let b = run(&doc);
        let evs = events(&b);
        assert_eq!(
            evs[0].0,
            "span `tool`: attribute `gen_ai.conversation.id` (inherited from span `agent`) must be a string"
        );
    }

    #[test]
    fn parent_cycles_and_deep_chains_end() {
        let mut spans = vec![
            span("t", "x", "y", 0, "", &[op("chat")]),
            span("t", "y", "x", 0, "", &[kv("session.id", "s")]),
        ];
        for i in 0..(MAX_ANCESTORS + 10) {
            spans.push(span(
                "d",
                &format!("s{i}"),
                &format!("s{}", i + 1),
                0,
                "",
                &[],
            ));
        }
        spans.push(span(
            "d",
            &format!("s{}", MAX_ANCESTORS + 10),
            "",
            0,
            "",
            &[kv("session.id", "far")],
        ));
        spans.push(span("d", "leaf", "s0", 0, "", &[op("chat")]));
        let b = run(&request(&[], &spans));
        let sessions: Vec<Value> = events(&b)
            .into_iter()
            .map(|e| e.0["session"].clone())
            .collect();
        // Trace `d` has a root and goes first; `t` (a cycle, no root) at the end. Beyond
        // MAX_ANCESTORS the chain is not followed: the trace id stands in.
        assert_eq!(sessions, vec![Value::from("d"), Value::from("s")]);
    }

    #[test]
    fn what_is_held_stays_bounded() {
        let mut a = Adapter::new();
        a.limit = 64 * 1024;
        let mut handed = 0;
        for i in 0..2_000 {
            let mut b = Block::default();
            let doc = request(
                &[],
                &[span(
                    &format!("t{i}"),
                    "tool",
                    "agent",
                    i,
                    "",
                    &[op("execute_tool")],
                )],
            );
            a.document(&doc, i + 1, &mut b);
            handed += b.origins.len();
            assert!(a.held <= a.limit, "{} > {}", a.held, a.limit);
        }
        // The oldest open traces went out as they were; the rest at the end; none lost.
        assert!(handed > 0);
        let mut b = Block::default();
        a.finish(&mut b);
        assert_eq!(handed + b.origins.len(), 2_000);
        assert_eq!(a.held, 0);
    }
}
