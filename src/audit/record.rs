//! The audit record format (docs/audit.md): canonical JSON lines, each sealed by the SHA-256
//! of its RFC 8785 form without `hash`, each linked to the one before by `prev`.
//!
//! Three kinds of record, told apart by `kind` (absent for decisions):
//!
//! ```text
//! {"bundle":B,"decision":D,"event":E,"hash":H,"prev":P,"seq":N,"ts":T}
//! {"bundle":B,"hash":H,"kind":"bundle","prev":P,"seq":N,"torn":[…]?,"ts":T}
//! {"count":C,"hash":H,"head":X,"keyid":K,"kind":"checkpoint","prev":P,"seq":N,"sig":S,"ts":T}
//! ```
//!
//! Lines are written in canonical form, so the bytes on disk are the bytes hashed (minus the
//! `hash` member). Reading accepts any JSON whose canonical form is a valid record: a line
//! rewritten by another tool still verifies when its content is unchanged.

use sha2::{Digest, Sha256};

use crate::bytecode::model::Verdict;
use crate::decision::{Decision, write_json_str};
use crate::sign::jcs::{self, Member};
use crate::sign::keys::hex;
use crate::vm::{Outcome, Program};

/// The `prev` of the first record of a chain.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The longest record line read or written, in bytes.
pub const MAX_RECORD: usize = crate::trace::MAX_LINE;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One decision: the event as decided and what was decided.
    Decision,
    /// The bundle in force from here on, with fresh stream state.
    Bundle,
    /// A signed statement of the chain's head and length.
    Checkpoint,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Decision => "decision",
            Kind::Bundle => "bundle",
            Kind::Checkpoint => "checkpoint",
        }
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    crate::sign::keys::is_key_id(s)
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

// ---------------------------------------------------------------------------------------
// Writing.

/// The event exactly as it was decided: the canonical (RFC 8785) text of a JSON object,
/// with whatever the decision point filled in (the host time in `ts`). The VM reads this
/// very text, and the audit record holds it, so that replay reads what the VM read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecidedEvent {
    text: String,
}

impl DecidedEvent {
    /// The event in `text` (one JSON object), as it is.
    pub fn parse(text: &str) -> Result<DecidedEvent, String> {
        DecidedEvent::build(text, None)
    }

    /// The event in `text` with `ts` set to `host_ns` (nanoseconds since the epoch), as a
    /// decision point that keeps time itself records it: any `ts` the event carried is
    /// replaced.
    pub fn parse_stamped(text: &str, host_ns: i64) -> Result<DecidedEvent, String> {
        DecidedEvent::build(text, Some(host_ns))
    }

    /// The canonical text, for [`Program::read_event`].
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn build(text: &str, ts: Option<i64>) -> Result<DecidedEvent, String> {
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let mut members = Vec::new();
        // Canonical already (as machines that sort their keys write events): no tree.
        if jcs::canonical_object(text, &mut members) {
            let Some(ns) = ts else {
                return Ok(DecidedEvent { text: text.into() });
            };
            if let Some(out) = stamp_canonical(text, &members, ns) {
                return Ok(DecidedEvent { text: out });
            }
        }
        let mut value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("not a JSON object: {}", serde_error(&e)))?;
        let Some(obj) = value.as_object_mut() else {
            return Err("the event is not a JSON object".into());
        };
        if let Some(ns) = ts {
            obj.insert(
                "ts".into(),
                serde_json::Value::String(crate::trace::format_ts(ns)),
            );
        }
        Ok(DecidedEvent {
            text: jcs::canonicalize(&value),
        })
    }
}

/// serde_json's message without its ` at line L column C` (the caller knows the line), with
/// the column kept.
fn serde_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => format!("{} at column {}", msg.get(..i).unwrap_or(&msg), e.column()),
        None => msg,
    }
}

/// Sets `ts` in canonical object text without parsing it again; `None` when a member name
/// has escapes (the caller then goes the long way).
fn stamp_canonical(text: &str, members: &[Member], ns: i64) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 40);
    out.push('{');
    let mut placed = false;
    let mut first = true;
    let ts = crate::trace::format_ts(ns);
    let put = |out: &mut String, member: &str, first: &mut bool| {
        if !*first {
            out.push(',');
        }
        *first = false;
        out.push_str(member);
    };
    for m in members {
        let key = text.get(m.key.clone())?;
        if key.contains('\\') {
            return None;
        }
        let order = key.encode_utf16().cmp("ts".encode_utf16());
        if !placed && order != std::cmp::Ordering::Less {
            put(&mut out, &format!("\"ts\":\"{ts}\""), &mut first);
            placed = true;
        }
        if order == std::cmp::Ordering::Equal {
            continue;
        }
        put(&mut out, text.get(m.start..m.value.end)?, &mut first);
    }
    if !placed {
        put(&mut out, &format!("\"ts\":\"{ts}\""), &mut first);
    }
    out.push('}');
    Some(out)
}

/// Appends the canonical form of a decision (the object of FORMATS "Decisions", members
/// sorted) to `out`.
pub fn write_decision(d: &Decision, out: &mut String) {
    out.push_str("{\"bundle\":");
    write_json_str(out, &d.bundle);
    out.push_str(",\"decision\":\"");
    out.push_str(d.verdict.as_str());
    out.push('"');
    if let Some(e) = &d.error {
        out.push_str(",\"error\":");
        write_json_str(out, e);
    }
    out.push_str(",\"messages\":");
    str_array(out, d.messages.iter().map(String::as_str));
    out.push_str(",\"rules\":");
    str_array(out, d.rules.iter().map(String::as_str));
    out.push_str(",\"unknown\":");
    str_array(out, d.unknown.iter().map(String::as_str));
    out.push_str(",\"warnings\":");
    warnings(
        out,
        d.warnings
            .iter()
            .map(|w| (w.rule.as_str(), w.message.as_deref())),
    );
    out.push('}');
}

/// Like [`write_decision`] for an outcome of `p`, without building the decision.
pub fn write_outcome(p: &Program, o: &Outcome, out: &mut String) {
    let m = &p.model;
    let rule = |r: &u32| m.rules.get(*r as usize);
    out.push_str("{\"bundle\":");
    write_json_str(out, &p.digest);
    out.push_str(",\"decision\":\"");
    out.push_str(o.verdict.unwrap_or(m.default).as_str());
    out.push_str("\",\"messages\":");
    str_array(
        out,
        p.determining(o)
            .iter()
            .filter_map(rule)
            .filter_map(|r| r.message.as_deref()),
    );
    out.push_str(",\"rules\":");
    str_array(
        out,
        p.determining(o)
            .iter()
            .filter_map(rule)
            .map(|r| r.id.as_str()),
    );
    out.push_str(",\"unknown\":");
    str_array(out, o.unknown.iter().map(|s| p.slot_name(*s)));
    out.push_str(",\"warnings\":");
    warnings(
        out,
        p.warnings(o)
            .iter()
            .filter_map(rule)
            .map(|r| (r.id.as_str(), r.message.as_deref())),
    );
    out.push('}');
}

fn str_array<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, s);
    }
    out.push(']');
}

fn warnings<'a>(out: &mut String, items: impl Iterator<Item = (&'a str, Option<&'a str>)>) {
    out.push('[');
    for (i, (rule, message)) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        if let Some(m) = message {
            out.push_str("\"message\":");
            write_json_str(out, m);
            out.push(',');
        }
        out.push_str("\"rule\":");
        write_json_str(out, rule);
        out.push('}');
    }
    out.push(']');
}

/// Writes a record line into `out` (cleared first): `members` are the record's members
/// other than `hash`, as (name, canonical value text) in canonical order; `hash` is put in
/// its place. Returns the record's hash (`sha256:<hex>`); `out` ends with `\n`.
pub fn seal(members: &[(&str, &str)], out: &mut String) -> String {
    out.clear();
    out.push('{');
    let mut hash_at = None;
    for (i, (name, value)) in members.iter().enumerate() {
        if hash_at.is_none() && name.encode_utf16().cmp("hash".encode_utf16()).is_gt() {
            hash_at = Some(out.len());
        }
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        out.push_str(value);
    }
    out.push('}');
    let hash = digest_of(out.as_bytes());
    match hash_at {
        // Before a member: `"hash":"…",` right where that member's name starts.
        Some(at) if at > 1 => {
            // `at` is the position of the `,` before the member that follows `hash`.
            out.insert_str(at, &format!(",\"hash\":\"{hash}\""));
        }
        Some(at) => out.insert_str(at, &format!("\"hash\":\"{hash}\",")),
        None => {
            let end = out.len() - 1;
            let sep = if members.is_empty() { "" } else { "," };
            out.insert_str(end, &format!("{sep}\"hash\":\"{hash}\""));
        }
    }
    out.push('\n');
    hash
}

/// A JSON string literal for `s` (names and digests need no escapes, but events might).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_str(&mut out, s);
    out
}

/// The message a checkpoint's signature covers: its canonical form without `hash` and `sig`.
pub fn checkpoint_message(
    count: u64,
    head: &str,
    keyid: &str,
    prev: &str,
    seq: u64,
    ts: &str,
) -> String {
    let mut s = String::with_capacity(300);
    s.push_str("{\"count\":");
    s.push_str(&count.to_string());
    s.push_str(",\"head\":");
    s.push_str(&quote(head));
    s.push_str(",\"keyid\":");
    s.push_str(&quote(keyid));
    s.push_str(",\"kind\":\"checkpoint\",\"prev\":");
    s.push_str(&quote(prev));
    s.push_str(",\"seq\":");
    s.push_str(&seq.to_string());
    s.push_str(",\"ts\":");
    s.push_str(&quote(ts));
    s.push('}');
    s
}

// ---------------------------------------------------------------------------------------
// Reading.

/// A record read from one line, borrowing its text.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    pub kind: Kind,
    pub seq: u64,
    pub prev: &'a str,
    /// The `hash` the record carries.
    pub hash: &'a str,
    /// The hash of its content (what `hash` must be).
    pub content_hash: String,
    pub ts: &'a str,
    /// Decisions and bundle records: the bundle digest.
    pub bundle: &'a str,
    /// Decisions: the canonical event text; `None` for `null` (input that was not an event).
    pub event: Option<&'a str>,
    /// Decisions: the canonical decision object text.
    pub decision: &'a str,
    /// Bundle records: the digests of the torn lines this record continues after.
    pub torn: Vec<&'a str>,
    /// Checkpoints.
    pub head: &'a str,
    pub count: u64,
    pub keyid: &'a str,
    pub sig: &'a str,
    /// Whether the line was in canonical form as written (a rewritten line is read through
    /// its canonical form).
    pub canonical: bool,
}

/// Why a line is not a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub message: String,
    /// The line ends in the middle of a JSON value (what a write cut short leaves).
    pub incomplete: bool,
}

impl Malformed {
    fn new(message: impl Into<String>) -> Malformed {
        Malformed {
            message: message.into(),
            incomplete: false,
        }
    }
}

/// Reads lines into records, reusing its buffers.
#[derive(Default)]
pub struct Parser {
    members: Vec<Member>,
    canon: String,
}

const DECISION_FIELDS: &[&str] = &["bundle", "decision", "event", "hash", "prev", "seq", "ts"];
const BUNDLE_FIELDS: &[&str] = &["bundle", "hash", "kind", "prev", "seq", "torn", "ts"];
const CHECKPOINT_FIELDS: &[&str] = &[
    "count", "hash", "head", "keyid", "kind", "prev", "seq", "sig", "ts",
];

impl Parser {
    /// Reads one line (without its `\n`) as a record and computes its content hash.
    pub fn parse<'a>(&'a mut self, line: &'a str) -> Result<Record<'a>, Malformed> {
        let canonical = jcs::canonical_object(line, &mut self.members);
        let text: &'a str = if canonical {
            line
        } else {
            let value = jcs::parse_strict(line).map_err(|e| Malformed {
                message: format!("not a JSON object: {}", serde_error(&e)),
                incomplete: e.is_eof(),
            })?;
            if !value.is_object() {
                return Err(Malformed::new("not a JSON object"));
            }
            self.canon = jcs::canonicalize(&value);
            if !jcs::canonical_object(&self.canon, &mut self.members) {
                // Only nesting beyond the canonical check's depth gets here.
                return Err(Malformed::new("nested too deeply"));
            }
            &self.canon
        };
        let members = &self.members;
        let get = |name: &str| -> Option<&Member> {
            members
                .iter()
                .find(|m| text.get(m.key.clone()) == Some(name))
        };
        let raw = |m: &Member| text.get(m.value.clone()).unwrap_or("");
        let kind = match get("kind").map(raw) {
            None => Kind::Decision,
            Some("\"bundle\"") => Kind::Bundle,
            Some("\"checkpoint\"") => Kind::Checkpoint,
            Some(other) => {
                return Err(Malformed::new(format!(
                    "unknown record kind {}",
                    crate::source::printable(other)
                )));
            }
        };
        let allowed = match kind {
            Kind::Decision => DECISION_FIELDS,
            Kind::Bundle => BUNDLE_FIELDS,
            Kind::Checkpoint => CHECKPOINT_FIELDS,
        };
        for m in members {
            let name = text.get(m.key.clone()).unwrap_or("");
            if !allowed.contains(&name) {
                return Err(Malformed::new(format!(
                    "unknown field `{}` in a {} record",
                    crate::source::printable(name),
                    kind.as_str()
                )));
            }
        }
        let need = |name: &'static str| -> Result<&Member, Malformed> {
            get(name)
                .ok_or_else(|| Malformed::new(format!("a {} record needs `{name}`", kind.as_str())))
        };
        let string = |name: &'static str| -> Result<&'a str, Malformed> {
            let v = raw(need(name)?);
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|s| !s.contains('\\'))
                .ok_or_else(|| Malformed::new(format!("`{name}` must be a string")))
        };
        let digest = |name: &'static str| -> Result<&'a str, Malformed> {
            let s = string(name)?;
            if is_digest(s) {
                Ok(s)
            } else {
                Err(Malformed::new(format!(
                    "`{name}` must be `sha256:` and 64 lowercase hex digits"
                )))
            }
        };
        let number = |name: &'static str| -> Result<u64, Malformed> {
            let v = raw(need(name)?);
            v.parse::<u64>()
                .ok()
                .filter(|n| *n < (1u64 << 53))
                .ok_or_else(|| {
                    Malformed::new(format!("`{name}` must be a whole number from 0 to 2^53"))
                })
        };
        let hash = digest("hash")?;
        let seq = number("seq")?;
        let prev = digest("prev")?;
        let ts = string("ts")?;
        if crate::time::parse_rfc3339(ts).is_none() {
            return Err(Malformed::new("`ts` must be an RFC 3339 time"));
        }
        let content_hash = hash_without(text, members);
        let mut r = Record {
            kind,
            seq,
            prev,
            hash,
            content_hash,
            ts,
            bundle: "",
            event: None,
            decision: "",
            torn: Vec::new(),
            head: "",
            count: 0,
            keyid: "",
            sig: "",
            canonical,
        };
        match kind {
            Kind::Decision => {
                r.bundle = digest("bundle")?;
                let ev = raw(need("event")?);
                r.event = match ev {
                    "null" => None,
                    e if e.starts_with('{') => Some(e),
                    _ => return Err(Malformed::new("`event` must be an object or null")),
                };
                let d = raw(need("decision")?);
                if !d.starts_with('{') {
                    return Err(Malformed::new("`decision` must be an object"));
                }
                r.decision = d;
            }
            Kind::Bundle => {
                r.bundle = digest("bundle")?;
                if let Some(m) = get("torn") {
                    let list: Vec<&'a str> =
                        match raw(m).strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                            Some("") => Vec::new(),
                            Some(items) => items
                                .split(',')
                                .map(|i| {
                                    i.strip_prefix('"')
                                        .and_then(|i| i.strip_suffix('"'))
                                        .unwrap_or("")
                                })
                                .collect(),
                            None => vec![""],
                        };
                    if list.is_empty() || !list.iter().all(|d| is_digest(d)) {
                        return Err(Malformed::new(
                            "`torn` must be a non-empty list of `sha256:` digests",
                        ));
                    }
                    r.torn = list;
                }
            }
            Kind::Checkpoint => {
                r.head = digest("head")?;
                r.count = number("count")?;
                r.keyid = digest("keyid")?;
                r.sig = string("sig")?;
            }
        }
        Ok(r)
    }
}

/// Feeds the canonical object `text` without the members named in `skip` to `f`, piece by
/// piece: the canonical form of the object without them.
fn without(text: &str, members: &[Member], skip: &[&str], mut f: impl FnMut(&[u8])) {
    f(b"{");
    let mut first = true;
    for m in members {
        if skip.iter().any(|s| text.get(m.key.clone()) == Some(*s)) {
            continue;
        }
        if !first {
            f(b",");
        }
        first = false;
        f(text.as_bytes().get(m.start..m.value.end).unwrap_or(&[]));
    }
    f(b"}");
}

/// `sha256:` of the canonical object `text` without its `hash` member.
fn hash_without(text: &str, members: &[Member]) -> String {
    let mut h = Sha256::new();
    without(text, members, &["hash"], |b| h.update(b));
    format!("sha256:{}", hex(&h.finalize()))
}

/// The message a checkpoint read from `record_text` was signed over: its canonical form
/// without `hash` and `sig`. `None` when the text is not a JSON object.
pub fn signed_part(record_text: &str) -> Option<String> {
    let mut members = Vec::new();
    let canon;
    let text = if jcs::canonical_object(record_text, &mut members) {
        record_text
    } else {
        canon = jcs::canonicalize(&jcs::parse_strict(record_text).ok()?);
        if !jcs::canonical_object(&canon, &mut members) {
            return None;
        }
        &canon
    };
    let mut out = Vec::with_capacity(text.len());
    without(text, &members, &["hash", "sig"], |b| {
        out.extend_from_slice(b)
    });
    String::from_utf8(out).ok()
}

/// The verdict in canonical decision text, without parsing it all.
pub fn verdict_of(decision: &str) -> Option<Verdict> {
    let v: serde_json::Value = serde_json::from_str(decision).ok()?;
    Verdict::parse(v.get("decision")?.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_lines_are_canonical_and_verify() {
        let mut line = String::new();
        let hash = seal(
            &[
                ("bundle", &quote(&digest_of(b"b"))),
                (
                    "decision",
                    r#"{"bundle":"x","decision":"allow","messages":[],"rules":[],"unknown":[],"warnings":[]}"#,
                ),
                ("event", r#"{"tool":"x"}"#),
                ("prev", &quote(GENESIS)),
                ("seq", "0"),
                ("ts", "\"2026-01-01T00:00:00Z\""),
            ],
            &mut line,
        );
        let body = line.trim_end();
        let mut members = Vec::new();
        assert!(jcs::canonical_object(body, &mut members), "{body}");
        let mut p = Parser::default();
        let r = p.parse(body).unwrap();
        assert_eq!(r.hash, hash);
        assert_eq!(r.content_hash, hash);
        assert_eq!(r.kind, Kind::Decision);
        assert_eq!(r.event, Some(r#"{"tool":"x"}"#));
        // The same record pretty-printed with its members shuffled reads the same.
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let pretty = serde_json::to_string_pretty(&v).unwrap().replace('\n', " ");
        let r2 = p.parse(&pretty).unwrap();
        assert!(!r2.canonical);
        assert_eq!(r2.content_hash, hash);
    }

    #[test]
    fn stamping_replaces_ts_in_place() {
        let e = DecidedEvent::parse_stamped(r#"{"a":1,"tool":"x","ts":"old","z":2}"#, 0).unwrap();
        assert_eq!(
            e.as_str(),
            r#"{"a":1,"tool":"x","ts":"1970-01-01T00:00:00.000Z","z":2}"#
        );
        let e = DecidedEvent::parse_stamped(r#"{ "z" : 2, "a": 1 }"#, 1_500_000).unwrap();
        assert_eq!(
            e.as_str(),
            r#"{"a":1,"ts":"1970-01-01T00:00:00.0015Z","z":2}"#
        );
        let e = DecidedEvent::parse_stamped(r#"{}"#, 0).unwrap();
        assert_eq!(e.as_str(), r#"{"ts":"1970-01-01T00:00:00.000Z"}"#);
        assert!(DecidedEvent::parse("[1]").is_err());
        assert!(
            DecidedEvent::parse("{\"a\":")
                .unwrap_err()
                .contains("column")
        );
    }

    #[test]
    fn signed_part_drops_hash_and_sig() {
        let msg = checkpoint_message(3, GENESIS, GENESIS, GENESIS, 3, "2026-01-01T00:00:00Z");
        let sig = "c2ln";
        let mut line = String::new();
        seal(
            &[
                ("count", "3"),
                ("head", &quote(GENESIS)),
                ("keyid", &quote(GENESIS)),
                ("kind", "\"checkpoint\""),
                ("prev", &quote(GENESIS)),
                ("seq", "3"),
                ("sig", &quote(sig)),
                ("ts", "\"2026-01-01T00:00:00Z\""),
            ],
            &mut line,
        );
        assert_eq!(signed_part(line.trim_end()).as_deref(), Some(msg.as_str()));
    }
}
