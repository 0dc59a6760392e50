//! The audit record format (docs/audit.md): canonical JSON lines, each sealed by the SHA-256
//! of its RFC 8785 form without `hash`, each linked to the one before by `prev`.
//!
//! Three kinds of record, told apart by `kind` (absent for decisions):
//!
//! ```text
//! {"bundle":B,"decision":D,"event":E,"hash":H,"prev":P,"seq":N,"ts":T}
//! {"bundle":B,"fresh":F?,"hash":H,"kind":"bundle","limits":L,"prev":P,"restored":R?,"seq":N,"torn":[…]?,"ts":T}
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
use crate::vm::{Outcome, Program, StreamLimits};

/// The `prev` of the first record of a chain.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The longest record line read or written, in bytes.
pub const MAX_RECORD: usize = crate::trace::MAX_LINE;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One decision: the event as decided and what was decided.
    Decision,
    /// The bundle in force from here on, with fresh stream state (or, written by a restart,
    /// the state restored from the log: [`Restored`]).
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
#[derive(Debug, Default)]
pub struct DecidedEvent {
    text: String,
    ts: String,
}

impl Clone for DecidedEvent {
    fn clone(&self) -> Self {
        DecidedEvent {
            text: self.text.clone(),
            ..DecidedEvent::default()
        }
    }
}

impl PartialEq for DecidedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl DecidedEvent {
    /// The event in `text` (one JSON object), as it is.
    pub fn parse(text: &str) -> Result<DecidedEvent, String> {
        let mut e = DecidedEvent::default();
        e.set(text, None)?;
        Ok(e)
    }

    /// The event in `text` with `ts` set to `host_ns` (nanoseconds since the epoch), as a
    /// decision point that keeps time itself records it: any `ts` the event carried is
    /// replaced.
    pub fn parse_stamped(text: &str, host_ns: i64) -> Result<DecidedEvent, String> {
        let mut e = DecidedEvent::default();
        e.set(text, Some(host_ns))?;
        Ok(e)
    }

    /// Makes this the event in `text`, stamped with `host_ns` when given, reusing its
    /// buffers (no allocation once they have grown).
    pub fn set(&mut self, text: &str, host_ns: Option<i64>) -> Result<(), String> {
        let trimmed = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if !trimmed.starts_with('{') {
            return Err(match serde_json::from_str::<serde_json::Value>(text) {
                Err(e) => format!("not a JSON object: {}", serde_error(&e)),
                Ok(_) => "the event is not a JSON object".into(),
            });
        }
        let ts = match host_ns {
            Some(ns) => {
                self.ts.clear();
                self.ts.push_str("\"ts\":\"");
                crate::time::write_rfc3339_exact(ns, &mut self.ts);
                self.ts.push('"');
                Some(self.ts.as_str())
            }
            None => None,
        };
        self.text.clear();
        if jcs::canonicalize_text(text, ts, &mut self.text).is_none() {
            self.text.clear();
            return Err(match jcs::parse_strict(text) {
                Err(e) => format!("not a JSON object: {}", serde_error(&e)),
                Ok(_) => "the event cannot be written in canonical form (RFC 8785)".into(),
            });
        }
        Ok(())
    }

    /// The canonical text, for [`Program::read_event`].
    pub fn as_str(&self) -> &str {
        &self.text
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

/// [`write_outcome`] by leaves: everything in a decision but its `unknown` attributes follows
/// from the leaves reached, so that the rest of the canonical object is written once per
/// combination of leaves (for one bundle) and copied afterwards. With
/// [`OutcomeCache::write_sealed`] it also keeps the SHA-256 state of a decision record after
/// those parts, so that a record's hash starts after them. [`OutcomeCache::clear`] it when
/// the bundle changes.
#[derive(Default)]
pub struct OutcomeCache {
    /// Leaves → the object up to the `unknown` list (its `[` included), and the rest.
    parts: rustc_hash::FxHashMap<Box<[u32]>, Parts>,
    /// The record start the hash states of `parts` begin with ([`DecisionPrefix`]), and
    /// its [`DecisionPrefix::id`] (0: none yet).
    prefix: String,
    prefix_id: u64,
    known: Outcome,
    scratch: String,
}

/// A decision object cut at its `unknown` list: what comes before, and after; and the SHA-256
/// state of a decision record after its [`DecisionPrefix`] and the part before (`head`), and
/// after the whole object with no unknown attribute (`whole`).
struct Parts {
    before: Box<str>,
    after: Box<str>,
    head: Sha256,
    whole: Sha256,
}

/// Combinations of leaves whose decision objects are kept.
const CACHED_OUTCOMES: usize = 16_384;

impl OutcomeCache {
    /// Forgets every object (for another bundle).
    pub fn clear(&mut self) {
        self.parts.clear();
    }

    /// Appends what [`write_outcome`] does.
    pub fn write(&mut self, p: &Program, o: &Outcome, out: &mut String) {
        let _ = self.write_with(p, o, None, out);
    }

    /// Appends what [`write_outcome`] does, as the decision of a record that starts with
    /// `prefix`: returns the SHA-256 state after `prefix` and the first `n` bytes appended
    /// (`None`: hash it all), for [`seal_decision`].
    pub fn write_sealed(
        &mut self,
        p: &Program,
        o: &Outcome,
        prefix: &DecisionPrefix,
        out: &mut String,
    ) -> Option<(Sha256, usize)> {
        self.write_with(p, o, Some(prefix), out)
    }

    fn write_with(
        &mut self,
        p: &Program,
        o: &Outcome,
        prefix: Option<&DecisionPrefix>,
        out: &mut String,
    ) -> Option<(Sha256, usize)> {
        if let Some(pre) = prefix
            && pre.id != self.prefix_id
        {
            // Hash states made for another record start.
            self.parts.clear();
            self.prefix.clone_from(&pre.text);
            self.prefix_id = pre.id;
        }
        let leaves = o.leaves.as_slice();
        // One lookup for a combination seen before (almost every record).
        if let Some(parts) = self.parts.get(leaves) {
            return parts.write(p, o, prefix.is_some(), out);
        }
        if self.parts.len() >= CACHED_OUTCOMES {
            write_outcome(p, o, out);
            return None;
        }
        self.known.clone_from(o);
        self.known.unknown.clear();
        self.scratch.clear();
        write_outcome(p, &self.known, &mut self.scratch);
        // The first: a string value cannot hold `"` after `,` unescaped.
        let Some(at) = self.scratch.find(",\"unknown\":[") else {
            write_outcome(p, o, out);
            return None;
        };
        let (before, after) = self.scratch.split_at(at + 12);
        let mut head = match prefix {
            Some(pre) => pre.hasher.clone(),
            None => {
                let mut h = Sha256::new();
                h.update(self.prefix.as_bytes());
                h
            }
        };
        head.update(before.as_bytes());
        let mut whole = head.clone();
        whole.update(after.as_bytes());
        let parts = Parts {
            before: before.into(),
            after: after.into(),
            head,
            whole,
        };
        let r = parts.write(p, o, prefix.is_some(), out);
        self.parts.insert(leaves.into(), parts);
        r
    }
}

impl Parts {
    /// Appends the decision object of `o` (whose leaves these parts are for); with `sealed`,
    /// returns the hash state after the part of it the parts cover, and that part's length.
    fn write(
        &self,
        p: &Program,
        o: &Outcome,
        sealed: bool,
        out: &mut String,
    ) -> Option<(Sha256, usize)> {
        out.push_str(&self.before);
        if o.unknown.is_empty() {
            out.push_str(&self.after);
            return sealed.then(|| (self.whole.clone(), self.before.len() + self.after.len()));
        }
        for (i, s) in o.unknown.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_str(out, p.slot_name(*s));
        }
        // `after` starts with the `]` that closed the empty list it was cut from.
        out.push_str(&self.after);
        sealed.then(|| (self.head.clone(), self.before.len()))
    }
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

/// The start every decision record of one bundle has, `{"bundle":"<digest>","decision":`,
/// with the SHA-256 state after it (computed once per bundle, not once per record).
#[derive(Clone)]
pub struct DecisionPrefix {
    text: String,
    hasher: Sha256,
    /// Which prefix this is (its clones share it), so that a cache of hash states made for
    /// it ([`OutcomeCache`]) knows it without comparing texts on every record.
    id: u64,
}

impl std::fmt::Debug for DecisionPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionPrefix")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

impl DecisionPrefix {
    /// The prefix for bundle `bundle` (a digest: no character of it needs an escape).
    pub fn new(bundle: &str) -> DecisionPrefix {
        let mut text = String::with_capacity(bundle.len() + 24);
        text.push_str("{\"bundle\":");
        write_json_str(&mut text, bundle);
        text.push_str(",\"decision\":");
        let mut hasher = Sha256::new();
        hasher.update(text.as_bytes());
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        DecisionPrefix { text, hasher, id }
    }
}

/// Appends a decision record to `out`: its line, ending in `\n`, written once, where it is
/// going (the group of records waiting to be written), and hashed as it is written. Its hash
/// goes into `hash` (cleared first); `tail` is scratch space. `prefix` names the bundle,
/// `decision` writes the decision's canonical JSON (and may return the SHA-256 state after
/// the prefix and the first `n` bytes it wrote, as [`OutcomeCache::write_sealed`] does), `event` is canonical JSON (`None`: input
/// that was not an event) and `prev` a digest. The record written with every decision: no
/// allocation, one pass of SHA-256 over bytes already in place. Returns the line's length.
#[allow(clippy::too_many_arguments)]
pub fn seal_decision(
    out: &mut String,
    tail: &mut String,
    hash: &mut String,
    prefix: &DecisionPrefix,
    decision: impl FnOnce(&mut String, &DecisionPrefix) -> Option<(Sha256, usize)>,
    event: Option<&str>,
    prev: &str,
    seq: u64,
    ts_ns: i64,
) -> usize {
    let start = out.len();
    out.push_str(&prefix.text);
    let from = out.len();
    // The hash state after the prefix, or after the part of the decision it covers.
    let (mut h, from) = match decision(out, prefix) {
        Some((h, n)) => (h, from + n),
        None => (prefix.hasher.clone(), from),
    };
    out.push_str(",\"event\":");
    out.push_str(event.unwrap_or("null"));
    tail.clear();
    tail.push_str(",\"prev\":\"");
    tail.push_str(prev);
    tail.push_str("\",\"seq\":");
    push_u64(tail, seq);
    tail.push_str(",\"ts\":\"");
    crate::time::write_rfc3339_nanos(ts_ns, tail);
    tail.push_str("\"}");
    h.update(out.as_bytes().get(from..).unwrap_or_default());
    h.update(tail.as_bytes());
    hash.clear();
    hash.push_str("sha256:");
    push_hex(hash, &h.finalize());
    out.push_str(",\"hash\":\"");
    out.push_str(hash);
    out.push('"');
    out.push_str(tail);
    out.push('\n');
    out.len() - start
}

/// Appends `n` in decimal.
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(buf.get(i..).unwrap_or(&[])).unwrap_or(""));
}

/// Appends the 32 bytes of a SHA-256 digest in lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 64];
    for (pair, b) in buf.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            *lo = HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0');
        }
    }
    let n = 2 * bytes.len().min(32);
    out.push_str(std::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default());
}

/// What a bundle record written by a restart says of the stream state it continues with:
/// the state that deciding the log's decision records since the bundle record at seq `from`
/// (the last one that started fresh state, with the same bundle and limits) left, rebuilt by
/// re-deciding those `decisions` records. Replay carries its state across such a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    pub from: u64,
    pub decisions: u64,
}

impl Restored {
    /// `{"decisions":N,"from":S}`, canonical.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"decisions\":{},\"from\":{}}}",
            self.decisions, self.from
        )
    }

    fn parse(text: &str) -> Option<Restored> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let o = v.as_object()?;
        if o.len() != 2 {
            return None;
        }
        let n = |k: &str| o.get(k)?.as_u64().filter(|n| *n < (1u64 << 53));
        Some(Restored {
            from: n("from")?,
            decisions: n("decisions")?,
        })
    }
}

/// Why a restart that found the same bundle in force as the log's last bundle record
/// started fresh stream state (a bundle record's `fresh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fresh {
    /// The point was told to (`--fresh-state`).
    OptedOut,
    /// The point's stream limits (`--max-keys`, the clock) differ from the log's.
    LimitsChanged,
}

impl Fresh {
    pub const ALL: [Fresh; 2] = [Fresh::OptedOut, Fresh::LimitsChanged];

    pub fn as_str(self) -> &'static str {
        match self {
            Fresh::OptedOut => "opted-out",
            Fresh::LimitsChanged => "limits-changed",
        }
    }

    fn parse(s: &str) -> Option<Fresh> {
        Fresh::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// The canonical JSON of stream limits, as bundle records carry them:
/// `{"max_keys":N,"max_skew_ns":S}`, with `null` for a skew when every `ts` is believed.
pub fn limits_json(l: &StreamLimits) -> String {
    match l.max_skew {
        Some(s) => format!("{{\"max_keys\":{},\"max_skew_ns\":{s}}}", l.max_keys),
        None => format!("{{\"max_keys\":{},\"max_skew_ns\":null}}", l.max_keys),
    }
}

/// Reads [`limits_json`] back (any JSON spelling of it).
fn parse_limits(text: &str) -> Option<StreamLimits> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let o = v.as_object()?;
    if o.len() != 2 {
        return None;
    }
    let max_keys = usize::try_from(o.get("max_keys")?.as_u64()?)
        .ok()
        .filter(|k| *k >= 1)?;
    let max_skew = match o.get("max_skew_ns")? {
        serde_json::Value::Null => None,
        s => Some(i64::try_from(s.as_u64()?).ok()?),
    };
    Some(StreamLimits { max_keys, max_skew })
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
    /// Bundle records: the limits of the stream state.
    pub limits: StreamLimits,
    /// Bundle records of a restart: the stream state was restored, not started fresh.
    pub restored: Option<Restored>,
    /// Bundle records of a restart that found the same bundle in force and started fresh
    /// state all the same: why ([`Fresh`]).
    pub fresh: Option<Fresh>,
    /// Checkpoints.
    pub head: &'a str,
    pub count: u64,
    pub keyid: &'a str,
    pub sig: &'a str,
    /// Whether the line was in canonical form as written (a rewritten line is read through
    /// its canonical form).
    pub canonical: bool,
}

/// A [`Record`] as byte ranges into its text, so that it can travel (to another thread)
/// with the text and be looked at again with [`At::view`].
#[derive(Clone, Debug, Default)]
pub struct At {
    kind: Option<Kind>,
    seq: u64,
    count: u64,
    canonical: bool,
    content_hash: String,
    prev: std::ops::Range<usize>,
    hash: std::ops::Range<usize>,
    ts: std::ops::Range<usize>,
    bundle: std::ops::Range<usize>,
    event: Option<std::ops::Range<usize>>,
    decision: std::ops::Range<usize>,
    torn: Vec<std::ops::Range<usize>>,
    limits: StreamLimits,
    restored: Option<Restored>,
    fresh: Option<Fresh>,
    head: std::ops::Range<usize>,
    keyid: std::ops::Range<usize>,
    sig: std::ops::Range<usize>,
}

impl Record<'_> {
    /// Where this record's fields are in `text`, the text it was read from.
    pub fn at(&self, text: &str) -> At {
        let base = text.as_ptr() as usize;
        let r = |s: &str| {
            let from = (s.as_ptr() as usize).wrapping_sub(base);
            if s.is_empty() || from > text.len() {
                0..0
            } else {
                from..from + s.len()
            }
        };
        At {
            kind: Some(self.kind),
            seq: self.seq,
            count: self.count,
            canonical: self.canonical,
            content_hash: self.content_hash.clone(),
            prev: r(self.prev),
            hash: r(self.hash),
            ts: r(self.ts),
            bundle: r(self.bundle),
            event: self.event.map(r),
            decision: r(self.decision),
            torn: self.torn.iter().map(|t| r(t)).collect(),
            limits: self.limits,
            restored: self.restored,
            fresh: self.fresh,
            head: r(self.head),
            keyid: r(self.keyid),
            sig: r(self.sig),
        }
    }
}

impl At {
    /// Whether the line was canonical (else its fields are in the canonical text).
    pub fn canonical(&self) -> bool {
        self.canonical
    }

    /// The record again, over the text it was read from.
    pub fn view<'a>(&self, text: &'a str) -> Record<'a> {
        let s = |r: &std::ops::Range<usize>| text.get(r.clone()).unwrap_or("");
        Record {
            kind: self.kind.unwrap_or(Kind::Decision),
            seq: self.seq,
            prev: s(&self.prev),
            hash: s(&self.hash),
            content_hash: self.content_hash.clone(),
            ts: s(&self.ts),
            bundle: s(&self.bundle),
            event: self.event.as_ref().map(s),
            decision: s(&self.decision),
            torn: self.torn.iter().map(s).collect(),
            limits: self.limits,
            restored: self.restored,
            fresh: self.fresh,
            head: s(&self.head),
            count: self.count,
            keyid: s(&self.keyid),
            sig: s(&self.sig),
            canonical: self.canonical,
        }
    }
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

impl Parser {
    /// The canonical text the last record came from when its line was not canonical.
    pub fn canonical_text(&self) -> &str {
        &self.canon
    }
}

/// Every field a record may have.
const FIELDS: [&str; 16] = [
    "bundle", "count", "decision", "event", "fresh", "hash", "head", "keyid", "kind", "limits",
    "prev", "restored", "seq", "sig", "torn", "ts",
];
const DECISION_FIELDS: &[&str] = &["bundle", "decision", "event", "hash", "prev", "seq", "ts"];
const BUNDLE_FIELDS: &[&str] = &[
    "bundle", "fresh", "hash", "kind", "limits", "prev", "restored", "seq", "torn", "ts",
];
const CHECKPOINT_FIELDS: &[&str] = &[
    "count", "hash", "head", "keyid", "kind", "prev", "seq", "sig", "ts",
];

impl Parser {
    /// Reads one line (without its `\n`) as a record and computes its content hash.
    pub fn parse<'a>(&'a mut self, line: &'a str) -> Result<Record<'a>, Malformed> {
        self.read(line).map(|(r, _)| r)
    }

    /// Like [`Parser::parse`], as positions: in `line` when it is canonical, else in
    /// [`Parser::canonical_text`].
    pub fn parse_at(&mut self, line: &str) -> Result<At, Malformed> {
        self.read(line).map(|(r, text)| r.at(text))
    }

    fn read<'a>(&'a mut self, line: &'a str) -> Result<(Record<'a>, &'a str), Malformed> {
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
        // Each field's member, found in one pass.
        let mut found: [Option<&Member>; FIELDS.len()] = [None; FIELDS.len()];
        for m in members {
            let name = text.get(m.key.clone()).unwrap_or("");
            match FIELDS.iter().position(|f| *f == name) {
                Some(i) => {
                    if let Some(slot) = found.get_mut(i) {
                        *slot = Some(m);
                    }
                }
                None => {
                    return Err(Malformed::new(format!(
                        "unknown field `{}` in a record",
                        crate::source::printable(name)
                    )));
                }
            }
        }
        let get = |name: &str| -> Option<&Member> {
            FIELDS
                .iter()
                .position(|f| *f == name)
                .and_then(|i| found.get(i).copied().flatten())
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
            limits: StreamLimits::default(),
            restored: None,
            fresh: None,
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
                r.limits = parse_limits(raw(need("limits")?)).ok_or_else(|| {
                    Malformed::new("`limits` must be {\"max_keys\": N, \"max_skew_ns\": N or null}")
                })?;
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
                if let Some(m) = get("restored") {
                    r.restored = Some(Restored::parse(raw(m)).ok_or_else(|| {
                        Malformed::new(
                            "`restored` must be {\"decisions\": N, \"from\": SEQ} (whole numbers)",
                        )
                    })?);
                }
                if get("fresh").is_some() {
                    let f = string("fresh")?;
                    r.fresh = Some(Fresh::parse(f).ok_or_else(|| {
                        Malformed::new(format!(
                            "`fresh` must be one of {}",
                            Fresh::ALL.map(|f| format!("\"{}\"", f.as_str())).join(", ")
                        ))
                    })?);
                }
                if r.restored.is_some() && r.fresh.is_some() {
                    return Err(Malformed::new(
                        "a bundle record is either `restored` or `fresh`, not both",
                    ));
                }
            }
            Kind::Checkpoint => {
                r.head = digest("head")?;
                r.count = number("count")?;
                r.keyid = digest("keyid")?;
                r.sig = string("sig")?;
            }
        }
        Ok((r, text))
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

    /// The cached decision object is the one written afresh, for decisions with and without
    /// unknown attributes, warnings, messages, several leaves and the default.
    #[test]
    fn cached_decision_objects_are_the_written_ones() {
        let src = "tool t(path: string, n: number)\ndefault deny\npolicy p {\n  rule a: allow when tool == \"t\" and args.n > 1\n  rule b: deny when tool == \"t\" and args.path starts_with \"/etc\" because \"no \\\"etc\\\"\"\n  rule c: warn when agent.trust < 5 because \"low\"\n  rule d: escalate when tokens > 10 and agent.ring > 1\n  rule e: warn when tool == \"u\"\n}\n";
        let p = crate::pipeline::build_sources(vec![crate::diag::SourceFile::new("t.gov", src)])
            .map_err(|d| d.iter().map(|d| d.short()).collect::<Vec<_>>().join("\n"))
            .unwrap()
            .program;
        let events = [
            r#"{"tool":"t","args":{"n":2,"path":"/etc/x"},"agent":{"trust":1,"ring":2},"tokens":11}"#,
            r#"{"tool":"t","args":{"n":2},"agent":{"trust":9}}"#,
            r#"{"tool":"t","args":{"path":"/etc/x"}}"#,
            r#"{"tool":"t","args":{"n":"x","path":3}}"#,
            r#"{"tool":"u","tokens":"many"}"#,
            r#"{"tool":"v","agent":{"trust":1}}"#,
            r#"{}"#,
        ];
        let mut cache = OutcomeCache::default();
        let mut sealed_cache = OutcomeCache::default();
        let mut st = p.new_state();
        let mut ev = crate::vm::Event::default();
        let mut o = Outcome::default();
        let mut seen = std::collections::BTreeSet::new();
        for round in 0..2 {
            for e in events {
                p.read_event(e, &mut ev).unwrap();
                p.eval(&ev, &mut st, &mut o);
                let (mut want, mut got) = (String::new(), "x".to_string());
                write_outcome(&p, &o, &mut want);
                cache.write(&p, &o, &mut got);
                assert_eq!(
                    got.strip_prefix('x'),
                    Some(want.as_str()),
                    "round {round}: {e}"
                );
                // The hash state it gives covers the record's start and what it says.
                // (Another record start, last: the states are made again for it.)
                let other = round == 1 && e == events[events.len() - 1];
                let prefix = DecisionPrefix::new(if other { GENESIS } else { &p.digest });
                let mut sealed = String::new();
                let (mut h, n) = sealed_cache
                    .write_sealed(&p, &o, &prefix, &mut sealed)
                    .unwrap();
                assert_eq!(sealed, want, "round {round}: {e}");
                assert!(n > 0 && n <= sealed.len());
                h.update(&sealed.as_bytes()[n..]);
                assert_eq!(
                    hex(&h.finalize()),
                    hex(&Sha256::digest(format!("{}{want}", prefix.text))),
                    "round {round}: {e}"
                );
                seen.insert(want);
            }
        }
        assert_eq!(seen.len(), events.len(), "{seen:#?}");
        assert!(
            seen.iter().any(|d| d.contains(r#""unknown":["a"#)),
            "{seen:#?}"
        );
        assert!(seen.iter().any(|d| d.contains("\"unknown\":[]")));
        cache.clear();
        assert!(cache.parts.is_empty());
    }

    #[test]
    fn the_fast_decision_record_is_the_sealed_one() {
        let (mut line, mut tail, mut hash) = (String::new(), String::new(), String::new());
        let d = r#"{"bundle":"x","decision":"allow","messages":[],"rules":[],"unknown":[],"warnings":[]}"#;
        let prefix = DecisionPrefix::new(GENESIS);
        for (event, seq) in [(Some(r#"{"a":1}"#), 0u64), (None, 9_007_199_254_740_991)] {
            // Appended after what is there, and hashed without it.
            line.clear();
            line.push_str("before\n");
            let n = seal_decision(
                &mut line,
                &mut tail,
                &mut hash,
                &prefix,
                |out, _| {
                    out.push_str(d);
                    None
                },
                event,
                GENESIS,
                seq,
                1_500_000,
            );
            assert_eq!(line.len(), n + 7);
            let line = line.strip_prefix("before\n").unwrap();
            let mut want = String::new();
            let want_hash = seal(
                &[
                    ("bundle", &quote(GENESIS)),
                    ("decision", d),
                    ("event", event.unwrap_or("null")),
                    ("prev", &quote(GENESIS)),
                    ("seq", &seq.to_string()),
                    ("ts", "\"1970-01-01T00:00:00.0015Z\""),
                ],
                &mut want,
            );
            assert_eq!(line, want);
            assert_eq!(hash, want_hash);
        }
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
            r#"{"a":1,"ts":"1970-01-01T00:00:00.001500Z","z":2}"#
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

    /// The VM's `event_as_decided` (for points that decide with `Program::eval_at`) and the
    /// writer's `DecidedEvent::parse_stamped` give the same bytes: one canonical form, one
    /// time format, whichever a decision point uses.
    #[test]
    fn event_as_decided_and_parse_stamped_agree() {
        let events = [
            r#"{"tool":"x","ts":"old","a":1}"#,
            r#"{ "z" : 2.50, "a": [1e21, -0.0, 1E-7], "a": {"b":"\u00e9\n"} }"#,
            r#"{"\ud83d\ude00":1,"\ue000":2,"agent":{"id":"a","roles":[]},"args":{}}"#,
            r#"{}"#,
        ];
        for text in events {
            for now in [
                0i64,
                1_500_000,
                1_795_428_000_120_000_000,
                1_795_428_000_123_456_789,
                1_795_428_000_123_456_000,
            ] {
                let vm = crate::vm::event_as_decided(text, now).unwrap_or_default();
                let ours = DecidedEvent::parse_stamped(text, now).unwrap_or_default();
                assert_eq!(vm, ours.as_str(), "{text} at {now}");
                assert!(vm.contains(&format!(
                    "\"ts\":\"{}\"",
                    crate::time::format_rfc3339_exact(now)
                )));
            }
        }
        for bad in ["[1]", "{\"a\":", "1e999", "{\"a\":1e999}"] {
            assert!(crate::vm::event_as_decided(bad, 0).is_err(), "{bad}");
            assert!(DecidedEvent::parse_stamped(bad, 0).is_err(), "{bad}");
        }
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
