//! OpenTelemetry GenAI spans, exported as OTLP/JSON, read as events.
//!
//! An input holds export requests (`{"resourceSpans":[{"resource":…,"scopeSpans":[{"spans":
//! […]}]}]}`), one per line as the Collector's file exporter writes them, or pretty-printed
//! over several lines. Each span whose `gen_ai.operation.name` is an agent action becomes one
//! event (see `docs/simulate.md` for the full mapping):
//!
//! | operation | event |
//! |---|---|
//! | `execute_tool` | `action: tool_call`, `tool` ← `gen_ai.tool.name`, `args` ← `gen_ai.tool.call.arguments` |
//! | `chat`, `text_completion`, `generate_content` | `action: llm_call` |
//! | `invoke_agent` | `action: send_message`, `target` ← `gen_ai.agent.name` (or `.id`) |
//! | `create_agent` | `action: spawn_agent`, `target` ← `gen_ai.agent.name` (or `.id`) |
//!
//! Other spans (HTTP, database, …) are not agent actions and are counted, not read.
//! `ts` ← `startTimeUnixNano`; `session` ← `session.id` (span, then resource), else
//! `gen_ai.conversation.id`, else the trace id; `agent.id` ← `govern.agent.id`, else
//! `gen_ai.agent.id`, else `gen_ai.agent.name` (for the two agent operations these name the
//! target, so only `govern.agent.id`), else the resource's `service.name`; `tokens` ←
//! `gen_ai.usage.input_tokens + gen_ai.usage.output_tokens`; `cost` ← `gen_ai.usage.cost`;
//! `agent.trust` / `agent.ring` / `agent.roles` ← `govern.agent.*`; `annotations.X` ←
//! `govern.annotations.X`; `labels` ← `govern.labels`; the recorded `decision` ←
//! `govern.decision`. Within one export request, spans are taken in order of start time
//! (ties keep their order in the file); requests keep the file's order.
//!
//! Source positions: each event carries the line and column where its span object starts in
//! the file, exactly (a one-line export puts many spans on one line; the column tells them
//! apart).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::Block;

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
    #[serde(default)]
    name: String,
    #[serde(rename = "startTimeUnixNano", default)]
    start: Value,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

/// Reads OTLP/JSON documents into events. Stateless between documents.
#[derive(Clone, Debug, Default)]
pub struct Adapter;

/// A serde error without its position (the caller gives a better one).
fn plain(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

impl Adapter {
    /// Reads one export request (`doc`, starting at input line `first_line`) into `out`.
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
        let mut items: Vec<(Option<i64>, Located, u64, u32)> = Vec::new();
        for rs in resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| &r.attributes[..])
                .unwrap_or(&[]);
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
                    let (item, start) = span_event(text, resource);
                    items.push((start, item, line, column));
                }
            }
        }
        // Start-time order within the request (stable: ties keep file order).
        items.sort_by_key(|(start, ..)| start.unwrap_or(i64::MIN));
        for (_, item, line, column) in items {
            match item {
                Located::Event(ev) => out.push_event(&ev, line, column),
                Located::Error(msg) => out.push_error(line, column, msg),
                Located::NotEvent => out.not_event("span of another operation"),
            }
        }
    }
}

enum Located {
    Event(Value),
    Error(String),
    NotEvent,
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

/// One span: the event (or why not), and its start time for ordering.
fn span_event(text: &str, resource: &[KeyValue]) -> (Located, Option<i64>) {
    let span: Span = match serde_json::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            return (
                Located::Error(format!("not an OTLP span: {}", plain(&e))),
                None,
            );
        }
    };
    let attrs = Attrs {
        span: &span.attributes,
        resource,
    };
    match build(&span, &attrs) {
        Ok(Some((ev, start))) => (Located::Event(ev), start),
        Ok(None) => (Located::NotEvent, None),
        Err(e) => {
            let name = if span.name.is_empty() {
                String::new()
            } else {
                format!(" `{}`", span.name)
            };
            (Located::Error(format!("span{name}: {e}")), None)
        }
    }
}

fn build(span: &Span, a: &Attrs<'_>) -> Result<Option<(Value, Option<i64>)>, String> {
    let Some(op) = a.string("gen_ai.operation.name")? else {
        return Ok(None);
    };
    let action = match op.as_str() {
        "execute_tool" => "tool_call",
        "chat" | "text_completion" | "generate_content" => "llm_call",
        "invoke_agent" => "send_message",
        "create_agent" => "spawn_agent",
        _ => return Ok(None),
    };
    let about_target = matches!(op.as_str(), "invoke_agent" | "create_agent");
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
    let session = match a.string("session.id")? {
        Some(s) => Some(s),
        None => match a.string("gen_ai.conversation.id")? {
            Some(s) => Some(s),
            None => (!span.trace_id.is_empty()).then(|| span.trace_id.clone()),
        },
    };
    if let Some(s) = session {
        ev.insert("session".into(), Value::String(s));
    }
    let mut agent = Map::new();
    let mut id = a.string("govern.agent.id")?;
    if id.is_none() && !about_target {
        id = match a.string("gen_ai.agent.id")? {
            Some(s) => Some(s),
            None => a.string("gen_ai.agent.name")?,
        };
    }
    if id.is_none() {
        id = a
            .resource
            .iter()
            .rev()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| any_value(&kv.value).ok())
            .and_then(|v| v.as_str().map(str::to_string));
    }
    if let Some(id) = id {
        agent.insert("id".into(), Value::String(id));
    }
    for (key, field) in [
        ("govern.agent.trust", "trust"),
        ("govern.agent.ring", "ring"),
        ("govern.agent.roles", "roles"),
    ] {
        if let Some(v) = a.get(key)? {
            agent.insert(field.into(), v);
        }
    }
    if !agent.is_empty() {
        ev.insert("agent".into(), Value::Object(agent));
    }
    ev.insert("action".into(), Value::String(action.into()));
    if op == "execute_tool" {
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
    if about_target {
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
    Ok(Some((Value::Object(ev), start)))
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
        Adapter.document(doc, 10, &mut b);
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
}
