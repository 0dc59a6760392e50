//! `tools/list` results → `tool` declarations, and a deny-by-default skeleton policy.
//!
//! Each tool's `inputSchema` (JSON Schema) becomes the types of its arguments:
//!
//! | JSON Schema | declared as |
//! |---|---|
//! | `string` (any `format`, `enum` of strings, `const`) | `string` |
//! | `number`, `integer` | `number` |
//! | `boolean` | `bool` |
//! | `array` of strings, numbers or booleans | `list<…>` |
//! | `object` with `properties` | a record `{field: type, …}` |
//! | a type together with `null` (`["string","null"]`, `anyOf` with `{"type":"null"}`) | the type (null is absent) |
//! | `anyOf` / `oneOf` / `allOf` whose branches all map to one type | that type |
//! | local `$ref` (`#/$defs/…`, `#/definitions/…`) | what it points to |
//!
//! What the language cannot express is left out and reported as a [`Note`], naming the tool
//! and the argument: a value of several types, an object with free-form keys, a list of
//! objects or of lists, a schema that allows anything, a tool whose name is not an identifier
//! (it cannot be declared, but rules can still name it: `tool == "get-weather"`). A policy that
//! tests a left-out argument under `tool == "x"` is refused when it is compiled, so nothing
//! is silently typed wrong.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::syntax::ast::{is_keyword, quote_string};

/// How deep a schema may nest (records in records, `$ref` chains) before it is reported.
pub const MAX_DEPTH: usize = 16;
/// The most tools read from one list.
pub const MAX_TOOLS: usize = 10_000;

/// A declared type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Number,
    Bool,
    List(Box<Type>),
    Record(Vec<(String, Type)>),
}

impl Type {
    fn write(&self, out: &mut String) {
        match self {
            Type::String => out.push_str("string"),
            Type::Number => out.push_str("number"),
            Type::Bool => out.push_str("bool"),
            Type::List(t) => {
                out.push_str("list<");
                t.write(out);
                out.push('>');
            }
            Type::Record(fields) => {
                out.push('{');
                params(fields, out);
                out.push('}');
            }
        }
    }
}

fn params(fields: &[(String, Type)], out: &mut String) {
    for (i, (name, ty)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if is_ident(name) {
            out.push_str(name);
        } else {
            out.push_str(&quote_string(name));
        }
        out.push_str(": ");
        ty.write(out);
    }
}

/// Whether `s` can be written as a name in a policy file.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(s)
}

/// One tool of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    /// The title or the description, for the doc comment.
    pub description: Option<String>,
    /// The arguments that could be typed, in the schema's order.
    pub params: Vec<(String, Type)>,
    /// Whether the tool can be declared (its name is an identifier).
    pub declared: bool,
    /// The server's hints, when given: `readOnlyHint`, `destructiveHint`.
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
}

/// Something of the list the declarations do not carry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    pub tool: String,
    /// The argument, as a policy names it (`args.opts.mode`); `None` for the whole tool.
    pub path: Option<String>,
    pub message: String,
}

/// The result of an import.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    pub tools: Vec<Tool>,
    pub notes: Vec<Note>,
}

/// The tools of a `tools/list` result given as: the result object (`{"tools":[…]}`), the
/// whole JSON-RPC response (`{"jsonrpc":"2.0","id":…,"result":{"tools":[…]}}`), or the array
/// of tools.
pub fn tools_of(v: &Value) -> Result<&[Value], String> {
    let list = match v {
        Value::Array(a) => a,
        Value::Object(o) => {
            let result = match (o.get("result"), o.get("error")) {
                (_, Some(e)) => {
                    return Err(format!(
                        "the server answered `tools/list` with an error: {}",
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("(no message)")
                    ));
                }
                (Some(r), _) => r,
                (None, None) => v,
            };
            match result.get("tools") {
                Some(Value::Array(a)) => a,
                Some(_) => return Err("`tools` must be an array".into()),
                None => {
                    return Err(
                        "no `tools`: expected a `tools/list` result (`{\"tools\":[…]}`), its JSON-RPC response, or an array of tools"
                            .into(),
                    );
                }
            }
        }
        _ => {
            return Err(
                "expected a `tools/list` result, its JSON-RPC response, or an array of tools"
                    .into(),
            );
        }
    };
    if list.len() > MAX_TOOLS {
        return Err(format!("more than {MAX_TOOLS} tools"));
    }
    Ok(list)
}

/// Reads each tool. A tool that is not an object with a string `name` is an error naming its
/// position: the list is not what a server sends.
pub fn import(list: &[Value]) -> Result<Imported, String> {
    let mut out = Imported::default();
    let mut seen = BTreeSet::new();
    for (i, t) in list.iter().enumerate() {
        let Some(name) = t.get("name").and_then(Value::as_str) else {
            return Err(format!("tool {} (index {i}) has no string `name`", i + 1));
        };
        if !seen.insert(name.to_string()) {
            out.notes.push(Note {
                tool: name.to_string(),
                path: None,
                message: "listed twice: the first one is declared".into(),
            });
            continue;
        }
        let declared = is_ident(name);
        if !declared {
            out.notes.push(Note {
                tool: name.to_string(),
                path: None,
                message: "its name is not an identifier, so it cannot be declared; rules can still name it with `tool == \"…\"`, without typed `args`".into(),
            });
        }
        let schema = t.get("inputSchema").unwrap_or(&Value::Null);
        let mut cx = Cx {
            root: schema,
            tool: name,
            notes: &mut out.notes,
        };
        let params = match cx.resolve(schema, 0) {
            Some(Value::Object(s)) => cx.fields(s, "args", 0),
            _ => {
                cx.note(
                    "args",
                    "`inputSchema` is not an object schema: no arguments declared",
                );
                Vec::new()
            }
        };
        let annotations = t.get("annotations");
        let hint = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_bool);
        let description = t
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.trim().is_empty())
            .or_else(|| t.get("title").and_then(Value::as_str))
            .or_else(|| {
                annotations
                    .and_then(|a| a.get("title"))
                    .and_then(Value::as_str)
            })
            .map(str::to_string);
        out.tools.push(Tool {
            name: name.to_string(),
            description,
            params: if declared { params } else { Vec::new() },
            declared,
            read_only: hint("readOnlyHint"),
            destructive: hint("destructiveHint"),
        });
    }
    Ok(out)
}

struct Cx<'a> {
    root: &'a Value,
    tool: &'a str,
    notes: &'a mut Vec<Note>,
}

impl<'a> Cx<'a> {
    fn note(&mut self, path: &str, message: impl Into<String>) {
        self.notes.push(Note {
            tool: self.tool.to_string(),
            path: Some(path.to_string()),
            message: message.into(),
        });
    }

    /// Follows local `$ref`s; `None` when one cannot be followed.
    fn resolve(&self, mut s: &'a Value, depth: usize) -> Option<&'a Value> {
        for _ in depth..MAX_DEPTH {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return Some(s);
            };
            let pointer = r.strip_prefix('#')?;
            s = self.root.pointer(pointer)?;
        }
        None
    }

    fn fields(
        &mut self,
        s: &'a Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Vec<(String, Type)> {
        let mut out = Vec::new();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let sub = child(path, k);
                if let Some(t) = self.ty(v, &sub, depth + 1) {
                    out.push((k.clone(), t));
                }
            }
        }
        match s.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(_) if s.get("properties").is_none() && path == "args" => self.note(
                path,
                "the arguments are free-form keys: no argument declared; policies can name none under this tool",
            ),
            Some(_) => self.note(
                path,
                "keys beyond the listed properties are allowed by the schema but not declared",
            ),
        }
        if s.contains_key("patternProperties") {
            self.note(path, "`patternProperties` keys are not declared");
        }
        out
    }

    /// The type of `s`, or `None` (with a note) when the language cannot express it.
    fn ty(&mut self, s: &'a Value, path: &str, depth: usize) -> Option<Type> {
        if depth > MAX_DEPTH {
            self.note(
                path,
                format!("nested deeper than {MAX_DEPTH} levels: left out"),
            );
            return None;
        }
        let Some(s) = self.resolve(s, depth) else {
            self.note(
                path,
                "a `$ref` that does not point into this schema: left out",
            );
            return None;
        };
        let obj = match s {
            Value::Object(o) => o,
            Value::Bool(true) => {
                self.note(path, "any JSON value is allowed: left out");
                return None;
            }
            _ => {
                self.note(path, "not a schema: left out");
                return None;
            }
        };
        let types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
        match types.as_slice() {
            [] => {}
            [one] => return self.of_type(one, obj, path, depth),
            several => {
                let mapped: Vec<Option<Type>> = several.iter().map(|t| scalar(t)).collect();
                if let Some(Some(first)) = mapped.first()
                    && mapped.iter().all(|m| m.as_ref() == Some(first))
                {
                    return Some(first.clone());
                }
                self.note(
                    path,
                    format!(
                        "a value of several types ({}): left out",
                        several.join(", ")
                    ),
                );
                return None;
            }
        }
        // No `type`: `enum`, `const`, or a combination of schemas.
        if let Some(t) = obj
            .get("const")
            .map(|c| value_type(std::slice::from_ref(c)))
        {
            return self.or_note(
                t,
                path,
                "a constant that is not a string, number or boolean",
            );
        }
        if let Some(Value::Array(vals)) = obj.get("enum") {
            return self.or_note(
                value_type(vals),
                path,
                "an `enum` of values of several types",
            );
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            let Some(Value::Array(branches)) = obj.get(key) else {
                continue;
            };
            let branches: Vec<&Value> = branches
                .iter()
                .filter(|b| {
                    let b = self.resolve(b, depth).unwrap_or(b);
                    b.get("type").and_then(Value::as_str) != Some("null")
                })
                .collect();
            let mut quiet = Vec::new();
            let mut sub = Cx {
                root: self.root,
                tool: self.tool,
                notes: &mut quiet,
            };
            let mapped: Vec<Option<Type>> = branches
                .iter()
                .map(|b| sub.ty(b, path, depth + 1))
                .collect();
            if let Some(Some(first)) = mapped.first()
                && mapped.iter().all(|m| m.as_ref() == Some(first))
            {
                self.notes.append(&mut quiet);
                return Some(first.clone());
            }
            self.note(
                path,
                format!("`{key}` of branches that are not all one type: left out"),
            );
            return None;
        }
        if obj.contains_key("properties") {
            return self.of_type("object", obj, path, depth);
        }
        self.note(path, "no `type`: any JSON value is allowed: left out");
        None
    }

    fn or_note(&mut self, t: Option<Type>, path: &str, what: &str) -> Option<Type> {
        if t.is_none() {
            self.note(path, format!("{what}: left out"));
        }
        t
    }

    fn of_type(
        &mut self,
        t: &str,
        obj: &'a Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Option<Type> {
        if let Some(s) = scalar(t) {
            return Some(s);
        }
        match t {
            "array" => {
                let Some(items) = obj.get("items") else {
                    self.note(path, "a list whose items have no schema: left out");
                    return None;
                };
                let items = self.resolve(items, depth).unwrap_or(items);
                let mut quiet = Vec::new();
                let item = Cx {
                    root: self.root,
                    tool: self.tool,
                    notes: &mut quiet,
                }
                .ty(items, path, depth + 1);
                match item {
                    Some(s @ (Type::String | Type::Number | Type::Bool)) => {
                        Some(Type::List(Box::new(s)))
                    }
                    Some(Type::List(_)) => {
                        self.note(path, "a list of lists: left out");
                        None
                    }
                    Some(Type::Record(_)) => {
                        self.note(path, "a list of objects: left out");
                        None
                    }
                    None => {
                        self.note(path, "a list of values the language cannot type: left out");
                        None
                    }
                }
            }
            "object" => {
                if obj.get("properties").is_none() {
                    self.note(path, "an object with free-form keys: left out");
                    return None;
                }
                Some(Type::Record(self.fields(obj, path, depth)))
            }
            other => {
                self.note(path, format!("unknown type `{other}`: left out"));
                None
            }
        }
    }
}

fn scalar(t: &str) -> Option<Type> {
    match t {
        "string" => Some(Type::String),
        "number" | "integer" => Some(Type::Number),
        "boolean" => Some(Type::Bool),
        _ => None,
    }
}

/// The one scalar type of these values, ignoring nulls.
fn value_type(vals: &[Value]) -> Option<Type> {
    let mut ty = None;
    for v in vals {
        let t = match v {
            Value::Null => continue,
            Value::String(_) => Type::String,
            Value::Number(_) => Type::Number,
            Value::Bool(_) => Type::Bool,
            _ => return None,
        };
        match &ty {
            None => ty = Some(t),
            Some(prev) if *prev == t => {}
            Some(_) => return None,
        }
    }
    ty
}

/// How a policy names the argument `key` under `path`.
fn child(path: &str, key: &str) -> String {
    if is_ident(key) {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", quote_string(key))
    }
}

/// A doc comment for untrusted text: at most 8 lines of at most 200 characters, with
/// control and invisible characters written as escapes.
fn doc(text: &str, out: &mut String, indent: &str) {
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(8)
    {
        let mut clean = String::new();
        for c in line.chars().take(200) {
            if c.is_control() || crate::syntax::ast::hidden(c) {
                let _ = write!(clean, "\\u{{{:x}}}", c as u32);
            } else {
                clean.push(c);
            }
        }
        let _ = writeln!(out, "{indent}/// {clean}");
    }
}

/// The `tool` declarations, one per tool that can be declared, in the list's order.
pub fn declarations(imp: &Imported) -> String {
    let mut out = String::new();
    for t in imp.tools.iter().filter(|t| t.declared) {
        if let Some(d) = &t.description {
            doc(d, &mut out, "");
        }
        out.push_str("tool ");
        out.push_str(&t.name);
        out.push('(');
        params(&t.params, &mut out);
        out.push_str(")\n");
    }
    out
}

/// A rule name for a tool: its name when that is an identifier, else one made of its letters
/// and digits; unique among `taken`.
fn rule_name(tool: &str, taken: &mut BTreeSet<String>) -> String {
    let mut base: String = tool
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !base.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') || is_keyword(&base) {
        base.insert_str(0, "tool_");
    }
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// A policy file: the declarations, `default deny`, and one `deny` rule per tool, each ready
/// to be turned into the `allow` (with conditions) the tool deserves. `policy` names the
/// policy block (an identifier); `source` says where the list came from (for the header) and
/// `subject` whose tools they are (for the description).
pub fn skeleton(imp: &Imported, policy: &str, source: &str, subject: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by `govern mcp-import` from {}.",
        crate::source::printable(source).replace('\n', " ")
    );
    out.push_str(
        "// Every tool is denied until a rule allows it: turn a rule's `deny` into `allow`, with the\n// conditions under which the tool may run, or leave it denied.\n\n",
    );
    let decls = declarations(imp);
    if !decls.is_empty() {
        out.push_str(&decls);
        out.push('\n');
    }
    out.push_str("default deny\n\n");
    let _ = writeln!(out, "policy {policy} {{");
    let _ = writeln!(
        out,
        "  description {}",
        quote_string(&format!(
            "the tools of {}",
            crate::source::printable(subject)
        ))
    );
    out.push_str("  applies when action == \"tool_call\"\n");
    let mut taken = BTreeSet::new();
    for t in &imp.tools {
        out.push('\n');
        let mut hints = Vec::new();
        if t.read_only == Some(true) {
            hints.push("read-only");
        }
        if t.destructive == Some(true) {
            hints.push("destructive");
        }
        if !hints.is_empty() {
            let _ = writeln!(out, "  // The server says: {}.", hints.join(", "));
        }
        let name = rule_name(&t.name, &mut taken);
        let _ = writeln!(
            out,
            "  rule {name}: deny when tool == {}\n    because {}",
            quote_string(&t.name),
            quote_string(&format!("{} is not allowed yet", t.name))
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> (String, Vec<String>) {
        let imp = import(tools_of(&v).unwrap()).unwrap();
        let notes = imp
            .notes
            .iter()
            .map(|n| {
                format!(
                    "{} {}: {}",
                    n.tool,
                    n.path.as_deref().unwrap_or("-"),
                    n.message
                )
            })
            .collect();
        (declarations(&imp), notes)
    }

    #[test]
    fn types_from_schemas() {
        let (decls, notes) = run(json!({"tools":[{
            "name":"transfer_funds","description":"Move money.\nCarefully.",
            "inputSchema":{"type":"object","properties":{
                "amount":{"type":"number"},
                "count":{"type":"integer"},
                "to":{"type":"string","format":"email"},
                "urgent":{"type":["boolean","null"]},
                "currency":{"enum":["EUR","USD"]},
                "tags":{"type":"array","items":{"type":"string"}},
                "memo":{"anyOf":[{"type":"string"},{"type":"null"}]},
                "x-trace":{"type":"string"},
                "opts":{"$ref":"#/$defs/Opts"}
            },"$defs":{"Opts":{"type":"object","properties":{"mode":{"const":"fast"}}}}}
        }]}));
        assert_eq!(
            decls,
            "/// Move money.\n/// Carefully.\ntool transfer_funds(amount: number, count: number, currency: string, memo: string, opts: {mode: string}, tags: list<string>, to: string, urgent: bool, \"x-trace\": string)\n"
        );
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn what_cannot_be_expressed_is_reported() {
        let (decls, notes) = run(json!([
            {"name":"a","inputSchema":{"type":"object","properties":{
                "any":{},
                "mixed":{"type":["string","number"]},
                "rows":{"type":"array","items":{"type":"object","properties":{}}},
                "map":{"type":"object","additionalProperties":{"type":"string"}},
                "either":{"oneOf":[{"type":"string"},{"type":"number"}]},
                "loop":{"$ref":"#/properties/loop"},
                "ok":{"type":"string"}
            }}},
            {"name":"get-weather","inputSchema":{"type":"object","properties":{"city":{"type":"string"}}}},
            {"name":"a","inputSchema":{"type":"object"}},
            {"name":"free","inputSchema":{"type":"object","additionalProperties":true}}
        ]));
        assert_eq!(decls, "tool a(ok: string)\ntool free()\n");
        assert_eq!(
            notes,
            [
                "a args.any: no `type`: any JSON value is allowed: left out",
                "a args.either: `oneOf` of branches that are not all one type: left out",
                "a args.loop: a `$ref` that does not point into this schema: left out",
                "a args.map: an object with free-form keys: left out",
                "a args.mixed: a value of several types (string, number): left out",
                "a args.rows: a list of objects: left out",
                "get-weather -: its name is not an identifier, so it cannot be declared; rules can still name it with `tool == \"…\"`, without typed `args`",
                "a -: listed twice: the first one is declared",
                "free args: the arguments are free-form keys: no argument declared; policies can name none under this tool",
            ]
        );
    }

    #[test]
    fn input_shapes() {
        let r = json!({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"t","inputSchema":{"type":"object"}}]}});
        assert_eq!(tools_of(&r).unwrap().len(), 1);
        assert!(
            tools_of(&json!({"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"no"}})).is_err()
        );
        assert!(tools_of(&json!({"x":1})).is_err());
        assert!(import(&[json!({"title":"x"})]).is_err());
    }

    #[test]
    fn rule_names_are_identifiers_and_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(rule_name("get-weather", &mut taken), "get_weather");
        assert_eq!(rule_name("get_weather", &mut taken), "get_weather_2");
        assert_eq!(rule_name("1x", &mut taken), "tool_1x");
        assert_eq!(rule_name("and", &mut taken), "tool_and");
    }
}
