//! One event, read straight from JSON text into the slots a program reads.
//!
//! The scanner validates the whole text as JSON (RFC 8259) but keeps only the values at the
//! program's attribute paths; everything else is skipped without being built. Strings are
//! unescaped into one arena that is reused from event to event, so reading an event allocates
//! nothing once the buffers have grown. A key that appears twice keeps its last value, as
//! `serde_json` does. `null` is the same as absent. Nesting deeper than 128 levels is refused.

use std::fmt;

/// A value in a slot. Strings and lists point into the event's buffers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    Absent,
    Bool(bool),
    Num(f64),
    Str {
        start: u32,
        len: u32,
    },
    /// Items in `Event::items`.
    List {
        start: u32,
        len: u32,
    },
    /// An object (only `has` looks at it).
    Object,
    /// A list item that is `null`, a list or an object.
    Other,
}

/// The slots of one event.
#[derive(Clone, Debug, Default)]
pub struct Event {
    pub(crate) vals: Vec<Val>,
    pub(crate) arena: String,
    pub(crate) items: Vec<Val>,
    /// `ts` as nanoseconds since the epoch, when it is a valid RFC 3339 timestamp.
    pub ts: Option<i64>,
    /// Writes the time [`Event::stamp`] puts in `ts` (keeping the text of its last second).
    stamp_text: crate::time::ExactWriter,
}

/// The key text each member was met with, by where it stood (see [`Paths::object`]), in the
/// events this thread read last: events from one source repeat their members in one order,
/// so the next key is first compared with the one met there before. One per thread, not one
/// per [`Event`]: a reader that keeps many events (the stream engine's batches) would
/// otherwise keep a plan each, and learn each from another event.
#[derive(Default)]
struct Plan {
    /// The [`Paths::id`] `places` were made with (0: none).
    paths: u64,
    places: Vec<Expected>,
}

thread_local! {
    static PLAN: std::cell::Cell<Plan> = const {
        std::cell::Cell::new(Plan { paths: 0, places: Vec::new() })
    };
}

/// The text of a member's key with its quotes and the `:` after it (`"tool":`), as met in an
/// event at one place of an object, and what the key was there: a child of the object's
/// path node (its index) or no path (`u32::MAX`). Only keys that need no unescaping and are
/// followed at once by their `:`, 16 bytes in all at most, are kept; `len == 0` is none.
#[derive(Clone, Copy, Debug, Default)]
struct Expected {
    /// The text's bytes, eight to a word (zero past `len`), and the masks of the bytes
    /// `len` covers.
    head: u64,
    tail: u64,
    head_mask: u64,
    tail_mask: u64,
    len: u32,
    child: u32,
}

impl Expected {
    /// The expectation of the key text `t` (opening quote to `:`), which was child `child`.
    fn of(t: &[u8], child: Option<usize>) -> Expected {
        let n = t.len();
        if n > 16 || n == 0 {
            return Expected::default();
        }
        let word = |b: &[u8]| {
            let mut a = [0u8; 8];
            for (x, y) in a.iter_mut().zip(b) {
                *x = *y;
            }
            u64::from_le_bytes(a)
        };
        let mask = |k: usize| match k {
            0 => 0,
            8.. => u64::MAX,
            k => (1u64 << (8 * k)) - 1,
        };
        Expected {
            head: word(t),
            tail: word(t.get(8..).unwrap_or(&[])),
            head_mask: mask(n.min(8)),
            tail_mask: mask(n.saturating_sub(8)),
            len: n as u32,
            child: child
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(u32::MAX),
        }
    }

    /// Whether the text at `pos` of `b` begins with this key text (16 bytes must be left).
    #[inline(always)]
    fn at(&self, b: &[u8], pos: usize) -> bool {
        let Some(w) = b.get(pos..pos + 16) else {
            return false;
        };
        let (h, t) = w.split_at(8);
        let (Ok(h), Ok(t)) = (<[u8; 8]>::try_from(h), <[u8; 8]>::try_from(t)) else {
            return false;
        };
        self.len != 0
            && ((u64::from_le_bytes(h) & self.head_mask) ^ self.head)
                | ((u64::from_le_bytes(t) & self.tail_mask) ^ self.tail)
                == 0
    }
}

impl Event {
    pub fn val(&self, slot: u32) -> Val {
        self.vals.get(slot as usize).copied().unwrap_or(Val::Absent)
    }

    pub fn str_of(&self, v: Val) -> Option<&str> {
        match v {
            Val::Str { start, len } => self.arena.get(start as usize..(start + len) as usize),
            _ => None,
        }
    }

    pub fn items_of(&self, v: Val) -> Option<&[Val]> {
        match v {
            Val::List { start, len } => self.items.get(start as usize..(start + len) as usize),
            _ => None,
        }
    }

    /// Makes this event a copy of `other`, reusing its buffers.
    pub(crate) fn copy_from(&mut self, other: &Event) {
        self.vals.clone_from(&other.vals);
        self.arena.clone_from(&other.arena);
        self.items.clone_from(&other.items);
        self.ts = other.ts;
    }

    /// Puts the string `s` at `slot`, or at item `item` of the list there, in place of the
    /// string that is there: the event as reading it with `s` in that place would have made
    /// it. False (nothing changed) when no string is there to replace.
    pub(crate) fn set_str(&mut self, slot: u32, item: Option<u32>, s: &str) -> bool {
        let Ok(len) = u32::try_from(s.len()) else {
            return false;
        };
        let Ok(start) = u32::try_from(self.arena.len()) else {
            return false;
        };
        let place = match (item, self.vals.get(slot as usize).copied()) {
            (None, Some(Val::Str { .. })) => self.vals.get_mut(slot as usize),
            (
                Some(i),
                Some(Val::List {
                    start: from,
                    len: n,
                }),
            ) if i < n => self.items.get_mut((from + i) as usize),
            _ => None,
        };
        match place {
            Some(v @ Val::Str { .. }) => {
                *v = Val::Str { start, len };
                self.arena.push_str(s);
                true
            }
            _ => false,
        }
    }

    /// Puts the JSON scalar `raw` (a string, number, boolean or `null`, as JSON text) at
    /// `slot`, or at item `item` of the list there, in place of the scalar that is there, read
    /// as [`Paths::read`] reads it in that place. False (the event may then be half changed:
    /// read the text instead) when `raw` is not one JSON scalar or no scalar is there.
    pub(crate) fn set_raw(&mut self, slot: u32, item: Option<u32>, raw: &str) -> bool {
        let scalar = |v: Val| matches!(v, Val::Str { .. } | Val::Num(_) | Val::Bool(_));
        let at = match (item, self.vals.get(slot as usize).copied()) {
            (None, Some(v)) if scalar(v) => None,
            (Some(i), Some(Val::List { start, len })) if i < len => {
                if !self
                    .items
                    .get((start + i) as usize)
                    .is_some_and(|v| scalar(*v))
                {
                    return false;
                }
                Some(start + i)
            }
            _ => return false,
        };
        let Ok(base) = u32::try_from(self.arena.len()) else {
            return false;
        };
        let mut s = Scanner {
            b: raw.as_bytes(),
            s: raw,
            pos: 0,
            key: String::new(),
            plan: Vec::new(),
        };
        let mut escaped = String::new();
        let v = match s.peek() {
            Some(b'"') => match s.string_into(&mut escaped) {
                // Without escapes: a range of `raw`, which goes into the arena.
                Ok(Val::Str { start, len }) if escaped.is_empty() => {
                    self.arena.push_str(raw);
                    Val::Str {
                        start: base + start,
                        len,
                    }
                }
                Ok(Val::Str { start, len }) => {
                    self.arena.push_str(&escaped);
                    Val::Str {
                        start: base + start,
                        len,
                    }
                }
                _ => return false,
            },
            Some(b'[' | b'{') | None => return false,
            Some(_) => match s.scalar() {
                Ok(v) => v,
                Err(_) => return false,
            },
        };
        if s.pos != raw.len() {
            return false;
        }
        let v = match (at, v) {
            // `null` in a list is an item that is not a scalar.
            (Some(_), Val::Absent) => Val::Other,
            (_, v) => v,
        };
        let place = match at {
            None => self.vals.get_mut(slot as usize),
            Some(i) => self.items.get_mut(i as usize),
        };
        match place {
            Some(p) => {
                *p = v;
                true
            }
            None => false,
        }
    }

    /// Makes the value at `slot` absent, as reading the event without it would.
    pub(crate) fn set_absent(&mut self, slot: u32) -> bool {
        match self.vals.get_mut(slot as usize) {
            Some(v) => {
                *v = Val::Absent;
                true
            }
            None => false,
        }
    }

    /// Makes `time.*` (the slots given) absent: the event's `ts` is not believed.
    pub(crate) fn hide_time(&mut self, time: [Option<u32>; 2]) {
        for slot in time.into_iter().flatten() {
            if let Some(v) = self.vals.get_mut(slot as usize) {
                *v = Val::Absent;
            }
        }
    }

    /// Sets `ts` (in its slot, when the program reads it) and `time.*` to `now`.
    pub(crate) fn stamp(&mut self, now: i64, ts_slot: Option<u32>, time: [Option<u32>; 2]) {
        self.ts = Some(now);
        if let Some(v) = ts_slot.and_then(|s| self.vals.get_mut(s as usize)) {
            // Written straight into the arena: no string of its own per decision, and only
            // the fraction written anew while the second is the last one's.
            let at = self.arena.len();
            self.stamp_text.write(now, &mut self.arena);
            *v = Val::Str {
                start: u32::try_from(at).unwrap_or(u32::MAX),
                len: u32::try_from(self.arena.len() - at).unwrap_or(0),
            };
        }
        let [hour, weekday] = time;
        if let Some(v) = hour.and_then(|s| self.vals.get_mut(s as usize)) {
            *v = Val::Num(crate::time::hour(now));
        }
        if let Some(v) = weekday.and_then(|s| self.vals.get_mut(s as usize)) {
            *v = Val::Num(crate::time::weekday(now));
        }
    }

    /// Copies this event into `out`, renumbering slots: `out`'s slot `i` gets this event's
    /// slot `map[i]`. Lets one scan (with [`Paths::with_extra`]) feed programs whose slots
    /// differ.
    pub fn project(&self, map: &[u32], out: &mut Event) {
        out.vals.clear();
        out.vals.extend(map.iter().map(|&s| self.val(s)));
        out.arena.clone_from(&self.arena);
        out.items.clone_from(&self.items);
        out.ts = self.ts;
    }
}

/// The JSON text of an event as decided at `now` (nanoseconds since the epoch, from a clock
/// the decision point trusts): the event in its canonical form (RFC 8785: keys sorted, a
/// repeated key keeping its last value) with its `ts` set to `now` in RFC 3339 UTC (to the
/// nanosecond when needed, as [`crate::vm::Program::eval_at`] shows it to the policy). This
/// is the text an audit log records ([`crate::audit::DecidedEvent::parse_stamped`] gives the
/// same bytes): deciding it again with trusted time gives the same decision.
pub fn event_as_decided(text: &str, now: i64) -> Result<String, EventError> {
    let error = |message: String, eof: bool| EventError {
        offset: 0,
        message,
        eof,
    };
    let mut ts = String::with_capacity(40);
    ts.push_str("\"ts\":\"");
    crate::time::write_rfc3339_exact(now, &mut ts);
    ts.push('"');
    let mut out = String::with_capacity(text.len() + ts.len());
    let is_object = text.trim_start().starts_with('{');
    if is_object && crate::sign::jcs::canonicalize_text(text, Some(&ts), &mut out).is_some() {
        return Ok(out);
    }
    Err(match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => error(e.to_string(), e.is_eof()),
        Ok(_) if !is_object => error("the event is not a JSON object".into(), false),
        Ok(_) => error(
            "the event cannot be written in canonical form (RFC 8785)".into(),
            false,
        ),
    })
}

/// Why an event line could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventError {
    /// Byte offset in the text.
    pub offset: usize,
    pub message: String,
    /// The text ended in the middle of a value (more lines may complete it).
    pub eof: bool,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl EventError {
    /// The message with where it happened in `text`: the column and, inside an object, the
    /// field (`invalid literal at column 19, in `agent.trust``).
    pub fn describe(&self, text: &str) -> String {
        let column = text
            .get(..self.offset.min(text.len()))
            .map_or(0, |t| t.chars().count())
            + 1;
        match field_at(text, self.offset) {
            Some(field) => format!("{} at column {column}, in `{field}`", self.message),
            None => format!("{} at column {column}", self.message),
        }
    }
}

/// The path of the field whose value surrounds byte `offset` of a JSON text (`args.items[2]`),
/// found by a lenient walk that never fails: used only to describe an error.
pub fn field_at(text: &str, offset: usize) -> Option<String> {
    enum Frame {
        Object {
            key: Option<String>,
            expecting_key: bool,
        },
        Array {
            index: usize,
        },
    }
    let mut stack: Vec<Frame> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0usize;
    while i < bytes.len().min(offset) {
        match bytes.get(i).copied().unwrap_or(0) {
            b'{' => stack.push(Frame::Object {
                key: None,
                expecting_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { expecting_key, .. }) => *expecting_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { expecting_key, .. }) = stack.last_mut() {
                    *expecting_key = false;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes.get(j) != Some(&b'"') {
                    j += if bytes.get(j) == Some(&b'\\') { 2 } else { 1 };
                }
                if let Some(Frame::Object {
                    key,
                    expecting_key: true,
                }) = stack.last_mut()
                {
                    *key = text.get(start..j.min(bytes.len())).map(str::to_string);
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k), .. } => {
                if crate::syntax::ast::is_plain_ident(k) {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                } else {
                    out.push('[');
                    out.push_str(&crate::syntax::ast::quote_string(k));
                    out.push(']');
                }
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => out.push_str(&format!("[{index}]")),
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(out)
}

impl std::error::Error for EventError {}

/// The attribute paths to keep, as a tree of object keys.
#[derive(Clone, Debug, Default)]
pub struct Paths {
    nodes: Vec<PathNode>,
    nslots: usize,
    /// A number no other tree built in this process has (clones share it): an event's
    /// [`Plan`] belongs to one tree.
    id: u64,
    pub(crate) ts_slot: Option<u32>,
    pub(crate) hour_slot: Option<u32>,
    pub(crate) weekday_slot: Option<u32>,
}

#[derive(Clone, Debug, Default)]
struct PathNode {
    children: Vec<(Box<str>, u32)>,
    slot: Option<u32>,
    /// Slots at or below this node: `lo..hi` (slots are numbered in path order).
    lo: u32,
    hi: u32,
    /// Extra slots (see [`Paths::with_extra`]) at or below this node.
    extra: Box<[u32]>,
    /// The children by a hash of their key, when one without collisions was found.
    table: KeyTable,
    /// Each child key's [`KeyWords`], in the order of `children`: a key read from the text
    /// is compared with a child by these words, not byte by byte.
    words: Box<[KeyWords]>,
}

/// A key's first eight bytes (zero-padded when shorter), its last eight (0 when it has no
/// more than eight) and its length. Two keys of at most 16 bytes are equal exactly when
/// their words are (the two words then cover every byte); longer keys also compare the
/// bytes between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct KeyWords {
    head: u64,
    tail: u64,
    len: usize,
}

impl KeyWords {
    fn of(k: &[u8]) -> KeyWords {
        let n = k.len();
        let word = |b: &[u8]| {
            let mut a = [0u8; 8];
            for (x, y) in a.iter_mut().zip(b) {
                *x = *y;
            }
            u64::from_le_bytes(a)
        };
        let tail = if n > 8 {
            word(k.get(n - 8..).unwrap_or(&[]))
        } else {
            0
        };
        KeyWords {
            head: word(k),
            tail,
            len: n,
        }
    }

    /// The words of `b[start..start + n]`, reading whole words of `b` where it can.
    #[inline]
    fn at(b: &[u8], start: usize, n: usize) -> KeyWords {
        let Some(w) = b.get(start..start + 8) else {
            return KeyWords::of(b.get(start..start + n).unwrap_or(&[]));
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let mut head = u64::from_le_bytes(a);
        let tail = if n > 8 {
            let mut a = [0u8; 8];
            a.copy_from_slice(b.get(start + n - 8..start + n).unwrap_or(&[0; 8]));
            u64::from_le_bytes(a)
        } else {
            if n < 8 {
                head &= (1u64 << (8 * n)) - 1;
            }
            0
        };
        KeyWords { head, tail, len: n }
    }

    /// The hash of [`KeyTable`].
    #[inline]
    fn hash(&self) -> u64 {
        mix(self.head, self.tail, self.len)
    }

    /// Whether `key`, whose words these are, is `child` (whose words are `w`): the words
    /// compared, and for a key longer than 16 bytes the bytes between them.
    #[inline(always)]
    fn is(&self, w: &KeyWords, key: &[u8], child: Option<&(Box<str>, u32)>) -> bool {
        ((self.head ^ w.head) | (self.tail ^ w.tail) | (self.len ^ w.len) as u64) == 0
            && (self.len <= 16 || child.is_some_and(|(c, _)| middle_eq(key, c.as_bytes())))
    }
}

/// Whether two keys of the same length, longer than 16 bytes, have the same bytes between
/// their first and last eight (compared in place, not by a call to `memcmp`).
fn middle_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    match (a.get(8..n - 8), b.get(8..n - 8)) {
        (Some(a), Some(b)) => a.iter().zip(b).all(|(x, y)| x == y),
        _ => false,
    }
}

/// A perfect hash of a node's child keys: a key's [`KeyWords::hash`] times `mult`, its top
/// `bits` bits, is the one place its child may be (`slots` holds the child's index in
/// `children`, or `u32::MAX`); the key there is compared in full, so a key that is not a
/// child is never taken for one. Empty when no multiplier tried separated the keys: the
/// children are then scanned.
#[derive(Clone, Debug, Default)]
struct KeyTable {
    mult: u64,
    shift: u32,
    slots: Box<[u32]>,
}

/// Fewer children than this are scanned: a hash costs more than comparing a few lengths.
const TABLE_FROM: usize = 4;

impl KeyTable {
    fn new(children: &[(Box<str>, u32)]) -> KeyTable {
        if children.len() < TABLE_FROM {
            return KeyTable::default();
        }
        let hashes: Vec<u64> = children
            .iter()
            .map(|(k, _)| KeyWords::of(k.as_bytes()).hash())
            .collect();
        let need = children.len().next_power_of_two().trailing_zeros();
        // Odd multipliers from a fixed sequence (splitmix64): the same table every load.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut mults = Vec::with_capacity(64);
        for _ in 0..64 {
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            mults.push((z ^ (z >> 31)) | 1);
        }
        for bits in need + 1..=need + 4 {
            let shift = 64 - bits;
            for &mult in &mults {
                let mut slots = vec![u32::MAX; 1usize << bits];
                let mut clash = false;
                for (i, h) in hashes.iter().enumerate() {
                    let at = (h.wrapping_mul(mult) >> shift) as usize;
                    match slots.get_mut(at) {
                        Some(x) if *x == u32::MAX => *x = u32::try_from(i).unwrap_or(u32::MAX),
                        _ => {
                            clash = true;
                            break;
                        }
                    }
                }
                if !clash {
                    return KeyTable {
                        mult,
                        shift,
                        slots: slots.into_boxed_slice(),
                    };
                }
            }
        }
        KeyTable::default()
    }

    /// The index in `children` of the only child `h` may be, if any.
    #[inline]
    fn get(&self, h: u64) -> Option<usize> {
        let at = (h.wrapping_mul(self.mult) >> self.shift) as usize;
        match self.slots.get(at) {
            Some(&i) if i != u32::MAX => Some(i as usize),
            _ => None,
        }
    }
}

#[inline]
fn mix(head: u64, tail: u64, n: usize) -> u64 {
    head ^ tail.rotate_left(29) ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Objects and arrays nested deeper are refused ([`crate::limits::JSON_NESTING`]).
const MAX_DEPTH: usize = crate::limits::JSON_NESTING.max as usize;

impl Paths {
    /// Builds the tree for slots given as paths sorted in slot order. `time.*` slots are
    /// derived from `ts`, never read from the event.
    pub fn new(slots: &[Vec<String>]) -> Paths {
        Paths::build(slots.iter(), slots.len())
    }

    /// Like [`Paths::new`], also keeping the values at `extra` paths, read during the same
    /// scan, in slots numbered after `slots`. Returns the slot of each extra path (a path
    /// that is already one of `slots`, or repeated, shares its slot). Callers use it to read
    /// fields the program does not need (a recorded `decision`, the `tool` for a report) or
    /// the slots of a second program (see [`Event::project`]) without parsing twice.
    pub fn with_extra(slots: &[Vec<String>], extra: &[Vec<String>]) -> (Paths, Vec<u32>) {
        let mut all: Vec<&Vec<String>> = slots.iter().collect();
        let mut ids = Vec::with_capacity(extra.len());
        for path in extra {
            let id = match all.iter().position(|p| *p == path) {
                Some(i) => i,
                None => {
                    all.push(path);
                    all.len() - 1
                }
            };
            ids.push(u32::try_from(id).unwrap_or(u32::MAX));
        }
        (Paths::build(all.into_iter(), slots.len()), ids)
    }

    /// Slots below `base` come sorted (their ranges are contiguous); the rest are extra.
    fn build<'a>(slots: impl Iterator<Item = &'a Vec<String>>, base: usize) -> Paths {
        let slots: Vec<&Vec<String>> = slots.collect();
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut p = Paths {
            nodes: vec![PathNode::default()],
            nslots: slots.len(),
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ..Paths::default()
        };
        for (i, path) in slots.iter().enumerate() {
            let slot = u32::try_from(i).unwrap_or(u32::MAX);
            match path.as_slice() {
                [a] if a == "ts" => p.ts_slot = Some(slot),
                [a, b] if a == "time" && b == "hour" => {
                    p.hour_slot = Some(slot);
                    continue;
                }
                [a, b] if a == "time" && b == "weekday" => {
                    p.weekday_slot = Some(slot);
                    continue;
                }
                [a, ..] if a == "time" => continue,
                _ => {}
            }
            let mut node = 0usize;
            for seg in path.iter() {
                let existing = p.nodes.get(node).and_then(|n| {
                    n.children
                        .iter()
                        .find(|(k, _)| &**k == seg.as_str())
                        .map(|(_, c)| *c)
                });
                node = match existing {
                    Some(c) => c as usize,
                    None => {
                        let c = p.nodes.len();
                        p.nodes.push(PathNode {
                            lo: slot,
                            hi: slot,
                            ..PathNode::default()
                        });
                        if let Some(n) = p.nodes.get_mut(node) {
                            n.children
                                .push((seg.as_str().into(), u32::try_from(c).unwrap_or(u32::MAX)));
                        }
                        c
                    }
                };
            }
            if let Some(n) = p.nodes.get_mut(node) {
                n.slot = Some(slot);
            }
        }
        // Slot ranges below each node.
        fn range(nodes: &mut Vec<PathNode>, i: usize, base: u32) -> (u32, u32, Vec<u32>) {
            let children: Vec<u32> = nodes
                .get(i)
                .map(|n| n.children.iter().map(|(_, c)| *c).collect())
                .unwrap_or_default();
            let mut lo = u32::MAX;
            let mut hi = 0u32;
            let mut extra = Vec::new();
            match nodes.get(i).and_then(|n| n.slot) {
                Some(s) if s < base => {
                    lo = s;
                    hi = s + 1;
                }
                Some(s) => extra.push(s),
                None => {}
            }
            for c in children {
                let (l, h, e) = range(nodes, c as usize, base);
                if l < h {
                    lo = lo.min(l);
                    hi = hi.max(h);
                }
                extra.extend(e);
            }
            if lo > hi {
                lo = hi;
            }
            if let Some(n) = nodes.get_mut(i) {
                n.lo = lo;
                n.hi = hi;
                n.extra = extra.clone().into_boxed_slice();
            }
            (lo, hi, extra)
        }
        range(&mut p.nodes, 0, u32::try_from(base).unwrap_or(u32::MAX));
        for n in &mut p.nodes {
            n.table = KeyTable::new(&n.children);
            n.words = n
                .children
                .iter()
                .map(|(k, _)| KeyWords::of(k.as_bytes()))
                .collect();
        }
        p
    }

    /// Reads one JSON object into `ev` (which is cleared first).
    pub fn read(&self, text: &str, ev: &mut Event) -> Result<(), EventError> {
        self.read_with(text, ev, true)
    }

    /// Reads one JSON object into `ev` as [`Paths::read`] does, but leaves its time to be
    /// stamped ([`Event::stamp`]): the event's own `ts` is not parsed, since the stamp
    /// replaces it and what it derives. Accepts and refuses exactly what `read` does.
    pub fn read_to_stamp(&self, text: &str, ev: &mut Event) -> Result<(), EventError> {
        self.read_with(text, ev, false)
    }

    /// Reads into `ev` the object whose one member is `key` with the JSON value `value` (its
    /// text as written), as [`Paths::read_to_stamp`] reads the text `{"key":value}`: the same
    /// slots, strings and lists, without that text written first. Refuses what that read
    /// refuses, and anything after the value (a text that would read as more members is
    /// read whole by the caller). `key` is the member's key itself (no JSON escapes).
    pub fn read_member_to_stamp(
        &self,
        key: &str,
        value: &str,
        ev: &mut Event,
    ) -> Result<(), EventError> {
        self.reading(value, ev, |paths, s, ev| paths.member(s, key, ev))
    }

    fn read_with(&self, text: &str, ev: &mut Event, derive_time: bool) -> Result<(), EventError> {
        self.reading(text, ev, |paths, s, ev| {
            paths.read_object(s, ev, derive_time)
        })
    }

    /// Clears `ev`, its arena starting with `text`, and reads `text` into it with `read`
    /// and this thread's plan.
    #[inline(always)]
    fn reading(
        &self,
        text: &str,
        ev: &mut Event,
        read: impl FnOnce(&Self, &mut Scanner<'_>, &mut Event) -> Result<(), EventError>,
    ) -> Result<(), EventError> {
        ev.vals.clear();
        ev.vals.resize(self.nslots, Val::Absent);
        // The arena starts with a copy of the text: a string without escapes is then just a
        // range of it (one copy per event instead of one per string); unescaped strings are
        // appended after it.
        ev.arena.clear();
        ev.arena.push_str(text);
        ev.items.clear();
        ev.ts = None;
        // This thread's plan, taken for the read and given back after it (an error included).
        let mut plan = PLAN.take();
        if plan.paths != self.id {
            // Made with another tree: its places and children mean nothing here.
            plan.places.clear();
            plan.places
                .resize(3 * self.nodes.len().max(1), Expected::default());
            plan.paths = self.id;
        }
        let mut s = Scanner {
            b: text.as_bytes(),
            s: text,
            pos: 0,
            key: String::new(),
            plan: std::mem::take(&mut plan.places),
        };
        let read = read(self, &mut s, ev);
        plan.places = std::mem::take(&mut s.plan);
        PLAN.set(plan);
        read
    }

    /// [`Paths::read_member_to_stamp`] with its scanner made: the value read at the root's
    /// child `key` as [`Paths::object`] reads a member's value (skipped, and so checked, when
    /// no path goes through `key`), then nothing but spaces.
    fn member(&self, s: &mut Scanner<'_>, key: &str, ev: &mut Event) -> Result<(), EventError> {
        let child = self
            .nodes
            .first()
            .and_then(|root| root.children.iter().find(|(k, _)| **k == *key))
            .map(|&(_, c)| c as usize);
        s.ws();
        match child {
            Some(c) => self.value(s, c, ev, 1, false)?,
            None => s.skip_value(1)?,
        }
        s.ws();
        if s.pos < s.b.len() {
            return Err(s.err("trailing characters after the member's value"));
        }
        Ok(())
    }

    /// [`Paths::read_with`] with its scanner made.
    fn read_object(
        &self,
        s: &mut Scanner<'_>,
        ev: &mut Event,
        derive_time: bool,
    ) -> Result<(), EventError> {
        s.ws();
        match s.peek() {
            Some(b'{') => {}
            None => return Err(s.err_eof("empty input: expected a JSON object")),
            Some(_) => {
                // Validate to give the precise reason, then refuse anything but an object.
                s.skip_value(0)?;
                s.ws();
                if s.pos < s.b.len() {
                    return Err(s.err("trailing characters after the JSON value"));
                }
                return Err(EventError {
                    offset: 0,
                    message: "the event is not a JSON object".into(),
                    eof: false,
                });
            }
        }
        self.object(s, 0, ev, 0)?;
        s.ws();
        if s.pos < s.b.len() {
            return Err(s.err("trailing characters after the JSON object"));
        }
        // Derived attributes.
        if let Some(ts) = self.ts_slot.filter(|_| derive_time) {
            let parsed = ev.str_of(ev.val(ts)).and_then(crate::time::parse_rfc3339);
            ev.ts = parsed;
            if let Some(t) = parsed {
                if let Some(h) = self.hour_slot.and_then(|h| ev.vals.get_mut(h as usize)) {
                    *h = Val::Num(crate::time::hour(t));
                }
                if let Some(w) = self.weekday_slot.and_then(|w| ev.vals.get_mut(w as usize)) {
                    *w = Val::Num(crate::time::weekday(t));
                }
            }
        }
        Ok(())
    }

    /// Reads an object whose `{` is next; `node` is the path node it belongs to.
    fn object(
        &self,
        s: &mut Scanner<'_>,
        node: usize,
        ev: &mut Event,
        depth: usize,
    ) -> Result<(), EventError> {
        if depth >= MAX_DEPTH {
            return Err(s.err("nesting deeper than 128 levels"));
        }
        s.expect(b'{')?;
        s.ws();
        if s.peek() == Some(b'}') {
            s.pos += 1;
            return Ok(());
        }
        let (children, table, words) = match self.nodes.get(node) {
            Some(n) => (n.children.as_slice(), Some(&n.table), &*n.words),
            None => (&[][..], None, &[][..]),
        };
        // The children met so far in this object (the first 64).
        let mut seen = 0u64;
        // Where the member stands, for the scanner's plan: `3 * node` the first of the object,
        // `3 * node + 1` after a key with no path, `3 * c + 2` after child node `c`'s key.
        let mut place = 3 * node;
        loop {
            s.ws();
            let expected = s.plan.get(place).copied().unwrap_or_default();
            let child = if expected.at(s.b, s.pos) {
                // The same bytes as the key met here before: the same key, the same child
                // (the plan is this tree's), and its `:`.
                s.pos += expected.len as usize;
                (expected.child != u32::MAX).then_some(expected.child as usize)
            } else {
                if s.peek() != Some(b'"') {
                    return Err(s.expect_err("a string key"));
                }
                let from = s.pos;
                let (child, plain) = s.key_lookup(children, table, words)?;
                let colon = s.pos;
                s.ws();
                s.expect(b':')?;
                if plain && colon == s.pos - 1 {
                    let e = Expected::of(s.b.get(from..s.pos).unwrap_or(&[]), child);
                    if let Some(at) = s.plan.get_mut(place) {
                        *at = e;
                    }
                }
                child
            };
            s.ws();
            match child.and_then(|i| Some((i, children.get(i)?.1))) {
                Some((i, c)) => {
                    place = 3 * c as usize + 2;
                    // Only a key met before in this object has values to forget (an earlier
                    // occurrence of the object itself was forgotten by its own key).
                    let again = i >= 64 || seen & (1u64 << i) != 0;
                    if i < 64 {
                        seen |= 1u64 << i;
                    }
                    self.value(s, c as usize, ev, depth + 1, again)?;
                }
                None => {
                    place = 3 * node + 1;
                    s.skip_value(depth + 1)?;
                }
            }
            if !s.another(b'}')? {
                return Ok(());
            }
        }
    }

    /// Forgets the values at or below node `n`.
    fn forget(&self, n: &PathNode, ev: &mut Event) {
        for v in ev
            .vals
            .get_mut(n.lo as usize..n.hi as usize)
            .into_iter()
            .flatten()
        {
            *v = Val::Absent;
        }
        for &x in n.extra.iter() {
            if let Some(v) = ev.vals.get_mut(x as usize) {
                *v = Val::Absent;
            }
        }
    }

    /// Reads the value of a known key (`again` when the object had it before).
    fn value(
        &self,
        s: &mut Scanner<'_>,
        node: usize,
        ev: &mut Event,
        depth: usize,
        again: bool,
    ) -> Result<(), EventError> {
        let Some(n) = self.nodes.get(node) else {
            return s.skip_value(depth);
        };
        // The last occurrence of a key wins: forget what an earlier one set.
        if again {
            self.forget(n, ev);
        }
        let slot = n.slot;
        let has_children = !n.children.is_empty();
        let set = |ev: &mut Event, v: Val| {
            if let Some(x) = slot.and_then(|s| ev.vals.get_mut(s as usize)) {
                *x = v;
            }
        };
        match s.peek() {
            Some(b'{') => {
                set(ev, Val::Object);
                if has_children {
                    self.object(s, node, ev, depth)?;
                    // The object marker survives the children's reset only if it is the slot.
                    set(ev, Val::Object);
                } else {
                    s.skip_value(depth)?;
                }
            }
            Some(b'"') if slot.is_some() => {
                let v = match s.plain_string() {
                    Some(v) => v,
                    None => s.string_into(&mut ev.arena)?,
                };
                set(ev, v);
            }
            Some(b'[') if slot.is_some() => {
                let v = s.list(ev, depth)?;
                set(ev, v);
            }
            Some(b't' | b'f' | b'n' | b'-' | b'0'..=b'9') if slot.is_some() => {
                let v = match s.plain_int() {
                    Some(v) => v,
                    None => s.scalar()?,
                };
                set(ev, v);
            }
            _ => s.skip_value(depth)?,
        }
        Ok(())
    }
}

/// Bytes that end a plain run inside a string: `"`, `\\` and control characters.
#[expect(
    clippy::indexing_slicing,
    reason = "constant indices below 256 into a 256-entry table, checked at compile time"
)]
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The high bit of each byte of `v` (little-endian: byte 0 lowest) that is `"`, `\\` or
/// below 0x20, and perhaps of bytes above such a byte: the lowest marked byte is always the
/// first stop byte. (A byte's borrow in `v - k` reaches the bytes above it only when that
/// byte is itself below `k`, so nothing below the first stop byte is marked.)
#[inline]
fn stop_bytes(v: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, k: u64| x.wrapping_sub(ONES * k) & !x & HIGH;
    below(v, 0x20)
        | below(v ^ (ONES * u64::from(b'"')), 1)
        | below(v ^ (ONES * u64::from(b'\\')), 1)
}

/// Where the run of string bytes that need no attention (anything but `"`, `\\` and control
/// characters) starting at `i` ends: eight bytes at a time while eight are left. Every reader
/// of untrusted JSON text here (the event reader, the MCP proxy's scanner) skips strings
/// with it.
#[inline]
pub(crate) fn plain_run(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = b.get(i..i + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let stops = stop_bytes(u64::from_le_bytes(a));
        if stops != 0 {
            // The lowest marked byte is the first stop byte (see `stop_bytes`).
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    for &c in b.get(i..).unwrap_or(&[]) {
        if STOP.get(usize::from(c)).copied().unwrap_or(true) {
            break;
        }
        i += 1;
    }
    i
}

struct Scanner<'a> {
    b: &'a [u8],
    /// The same text as `str`: slices between ASCII delimiters need no UTF-8 check.
    s: &'a str,
    pos: usize,
    /// Scratch space for keys with escapes.
    key: String,
    /// The keys met where they stood ([`Plan`]); empty for a scanner that reads no event.
    plan: Vec<Expected>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Skips string bytes that need no attention (see [`plain_run`]).
    #[inline]
    fn plain_run(&mut self) {
        self.pos = plain_run(self.b, self.pos);
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn err(&self, message: &str) -> EventError {
        EventError {
            offset: self.pos,
            message: message.into(),
            eof: false,
        }
    }

    fn err_eof(&self, message: &str) -> EventError {
        EventError {
            offset: self.pos,
            message: message.into(),
            eof: true,
        }
    }

    fn expect_err(&self, what: &str) -> EventError {
        match self.peek() {
            None => self.err_eof(&format!("unexpected end of input, expected {what}")),
            Some(c) => self.err(&format!("expected {what}, found {}", describe(c))),
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), EventError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expect_failed(c))
        }
    }

    #[cold]
    #[inline(never)]
    fn expect_failed(&self, c: u8) -> EventError {
        self.expect_err(&format!("`{}`", char::from(c)))
    }

    /// After an item of an object or a list: `true` when a `,` announces another item,
    /// `false` at the closing `close`.
    fn another(&mut self, close: u8) -> Result<bool, EventError> {
        self.ws();
        match self.next() {
            Some(b',') => Ok(true),
            Some(c) if c == close => Ok(false),
            Some(_) => {
                self.pos -= 1;
                Err(self.expect_err(if close == b'}' {
                    "`,` or `}`"
                } else {
                    "`,` or `]`"
                }))
            }
            None => Err(self.err_eof(if close == b'}' {
                "unexpected end of input in an object"
            } else {
                "unexpected end of input in a list"
            })),
        }
    }

    /// One or more digits of a number; `missing` says what is wrong when there are none.
    fn digits(&mut self, missing: &str) -> Result<(), EventError> {
        match self.peek() {
            Some(b'0'..=b'9') => {}
            None => return Err(self.err_eof("unexpected end of input in a number")),
            Some(_) => return Err(self.err(missing)),
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        Ok(())
    }

    /// Reads a key and finds it among `children` without allocating when it has no escapes:
    /// its index there.
    fn key_lookup(
        &mut self,
        children: &[(Box<str>, u32)],
        table: Option<&KeyTable>,
        words: &[KeyWords],
    ) -> Result<(Option<usize>, bool), EventError> {
        self.pos += 1; // the opening quote
        let start = self.pos;
        loop {
            self.plain_run();
            match self.peek() {
                Some(b'"') => {
                    let raw = self.b.get(start..self.pos).unwrap_or(&[]);
                    self.pos += 1;
                    let kw = KeyWords::at(self.b, start, raw.len());
                    if let Some(table) = table.filter(|t| !t.slots.is_empty()) {
                        let found = table.get(kw.hash()).filter(|&i| {
                            words.get(i).is_some_and(|w| kw.is(w, raw, children.get(i)))
                        });
                        return Ok((found, true));
                    }
                    for (i, w) in words.iter().enumerate() {
                        if kw.is(w, raw, children.get(i)) {
                            return Ok((Some(i), true));
                        }
                    }
                    return Ok((None, true));
                }
                Some(b'\\') => break,
                Some(c) if c < 0x20 => return Err(self.err("control character in a string")),
                Some(_) => self.pos += 1,
                None => return Err(self.err_eof("unexpected end of input in a string")),
            }
        }
        // Escapes: unescape into the scratch key.
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.push_str(self.s.get(start..self.pos).unwrap_or(""));
        let r = self.string_rest(&mut key);
        let found = children.iter().position(|(k, _)| **k == *key);
        self.key = key;
        r.map(|()| (found, false))
    }

    /// Reads a string without escapes (opening quote next), which is the range of the text
    /// between its quotes: what [`Scanner::string_into`] gives for it, without a call. `None`,
    /// and nothing read, for any other string (escapes, control characters, no end), which
    /// `string_into` then reads or refuses.
    #[inline(always)]
    fn plain_string(&mut self) -> Option<Val> {
        let start = self.pos + 1;
        let end = plain_run(self.b, start);
        if self.b.get(end) == Some(&b'"') {
            self.pos = end + 1;
            return Some(str_val(start, end));
        }
        None
    }

    /// Reads a string (opening quote next): a range of the text copied at the start of the
    /// arena, or, with escapes, the unescaped string appended to the arena.
    fn string_into(&mut self, arena: &mut String) -> Result<Val, EventError> {
        self.pos += 1;
        let start = arena.len();
        let run = self.pos;
        // Fast path: no escapes, the string is the text between the quotes.
        loop {
            self.plain_run();
            match self.peek() {
                Some(b'"') => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok(str_val(run, end));
                }
                Some(b'\\') => break,
                Some(c) if c < 0x20 => return Err(self.err("control character in a string")),
                Some(_) => self.pos += 1,
                None => return Err(self.err_eof("unexpected end of input in a string")),
            }
        }
        arena.push_str(self.s.get(run..self.pos).unwrap_or(""));
        self.string_rest(arena)?;
        Ok(str_val(start, arena.len()))
    }

    /// Continues a string at a backslash or any character, up to and past the closing quote.
    fn string_rest(&mut self, out: &mut String) -> Result<(), EventError> {
        loop {
            let run = self.pos;
            self.plain_run();
            out.push_str(self.s.get(run..self.pos).unwrap_or(""));
            match self.next() {
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    let c = self
                        .next()
                        .ok_or_else(|| self.err_eof("unexpected end of input in an escape"))?;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&hi) {
                                if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                                    return Err(self.err("lone leading surrogate in a \\u escape"));
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("invalid surrogate pair in a \\u escape"));
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err("lone trailing surrogate in a \\u escape"));
                            } else {
                                char::from_u32(hi)
                            };
                            match ch {
                                Some(ch) => out.push(ch),
                                None => return Err(self.err("invalid \\u escape")),
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("invalid escape in a string"));
                        }
                    }
                }
                Some(_) => {
                    self.pos -= 1;
                    return Err(self.err("control character in a string"));
                }
                None => return Err(self.err_eof("unexpected end of input in a string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, EventError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self
                .next()
                .ok_or_else(|| self.err_eof("unexpected end of input in a \\u escape"))?;
            let d = char::from(c)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid hex digit in a \\u escape"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// A number that is an integer of one to 15 digits, the first not `0`, with no sign,
    /// fraction or exponent: the value [`Scanner::number`] gives for it (exact in an `f64`),
    /// without a call. `None`, and nothing read, for any other value.
    #[inline(always)]
    fn plain_int(&mut self) -> Option<Val> {
        let mut i = self.pos;
        if !matches!(self.b.get(i), Some(b'1'..=b'9')) {
            return None;
        }
        let mut int = 0i64;
        while let Some(c @ b'0'..=b'9') = self.b.get(i).copied() {
            int = int.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
            i += 1;
        }
        if i - self.pos > 15 || matches!(self.b.get(i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.pos = i;
        Some(Val::Num(int as f64))
    }

    /// `true`, `false`, `null` or a number.
    fn scalar(&mut self) -> Result<Val, EventError> {
        match self.peek() {
            Some(b't') => self.word(b"true").map(|()| Val::Bool(true)),
            Some(b'f') => self.word(b"false").map(|()| Val::Bool(false)),
            Some(b'n') => self.word(b"null").map(|()| Val::Absent),
            _ => self.number().map(Val::Num),
        }
    }

    fn word(&mut self, w: &[u8]) -> Result<(), EventError> {
        let end = self.pos + w.len();
        match self.b.get(self.pos..end) {
            Some(s) if s == w => {
                self.pos = end;
                Ok(())
            }
            _ if end > self.b.len()
                && self
                    .b
                    .get(self.pos..)
                    .is_some_and(|rest| w.starts_with(rest)) =>
            {
                Err(self.err_eof("unexpected end of input in a literal"))
            }
            _ => Err(self.err("invalid literal")),
        }
    }

    fn number(&mut self) -> Result<f64, EventError> {
        let start = self.pos;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        // The integer part's value, kept while its digits are read (wrapping: only used when
        // there are at most 15 digits).
        let mut int = 0i64;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(c @ b'0'..=b'9') = self.peek() {
                    int = int.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
                    self.pos += 1;
                }
            }
            None => return Err(self.err_eof("unexpected end of input in a number")),
            _ => return Err(self.expect_err("a value")),
        }
        // Integers of up to 15 digits are exact in an f64: no need for the general parser.
        if !matches!(self.peek(), Some(b'.' | b'e' | b'E'))
            && self.pos - start - usize::from(neg) <= 15
        {
            let v = int as f64;
            return Ok(if neg { -v } else { v });
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits("invalid number: a digit must follow `.`")?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.digits("invalid number: digits must follow the exponent")?;
        }
        let text = self.s.get(start..self.pos).unwrap_or("");
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(EventError {
                offset: start,
                message: "number out of range".into(),
                eof: false,
            }),
        }
    }

    /// A list of a known attribute: scalars are kept, anything else is `Other`.
    fn list(&mut self, ev: &mut Event, depth: usize) -> Result<Val, EventError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nesting deeper than 128 levels"));
        }
        self.pos += 1;
        let start = ev.items.len();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(list_val(start, start));
        }
        loop {
            self.ws();
            let item = match self.peek() {
                Some(b'"') => match self.plain_string() {
                    Some(v) => v,
                    None => self.string_into(&mut ev.arena)?,
                },
                Some(b'[' | b'{') => {
                    self.skip_value(depth + 1)?;
                    Val::Other
                }
                None => return Err(self.err_eof("unexpected end of input in a list")),
                _ => match self.scalar()? {
                    Val::Absent => Val::Other,
                    v => v,
                },
            };
            ev.items.push(item);
            if !self.another(b']')? {
                return Ok(list_val(start, ev.items.len()));
            }
        }
    }

    /// Validates and skips any value.
    fn skip_value(&mut self, depth: usize) -> Result<(), EventError> {
        if depth >= MAX_DEPTH {
            return Err(self.err("nesting deeper than 128 levels"));
        }
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                loop {
                    self.plain_run();
                    match self.peek() {
                        Some(b'"') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        Some(b'\\') => {
                            let mut sink = String::new();
                            return self.string_rest(&mut sink);
                        }
                        Some(c) if c < 0x20 => {
                            return Err(self.err("control character in a string"));
                        }
                        Some(_) => self.pos += 1,
                        None => return Err(self.err_eof("unexpected end of input in a string")),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.expect_err("a string key"));
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    self.expect(b':')?;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    if !self.another(b'}')? {
                        return Ok(());
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    self.skip_value(depth + 1)?;
                    if !self.another(b']')? {
                        return Ok(());
                    }
                }
            }
            None => Err(self.err_eof("unexpected end of input, expected a value")),
            _ => self.scalar().map(|_| ()),
        }
    }
}

fn str_val(start: usize, end: usize) -> Val {
    Val::Str {
        start: u32::try_from(start).unwrap_or(u32::MAX),
        len: u32::try_from(end - start).unwrap_or(0),
    }
}

fn list_val(start: usize, end: usize) -> Val {
    Val::List {
        start: u32::try_from(start).unwrap_or(u32::MAX),
        len: u32::try_from(end - start).unwrap_or(0),
    }
}

fn describe(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("`{}`", char::from(c))
    } else {
        format!("byte {c:#04x}")
    }
}

/// An event's first `n` slots as their values, strings and lists resolved: what tests that
/// read one event two ways compare.
#[cfg(test)]
pub(crate) fn shown_slots(ev: &Event, n: usize) -> Vec<String> {
    fn show(ev: &Event, v: Val) -> String {
        match v {
            Val::Str { .. } => format!("{:?}", ev.str_of(v)),
            Val::List { .. } => {
                let items: Vec<String> = ev
                    .items_of(v)
                    .unwrap()
                    .iter()
                    .map(|i| show(ev, *i))
                    .collect();
                format!("[{}]", items.join(","))
            }
            v => format!("{v:?}"),
        }
    }
    (0..n).map(|s| show(ev, ev.val(s as u32))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&[&str]]) -> Paths {
        let mut v: Vec<Vec<String>> = list
            .iter()
            .map(|p| p.iter().map(|s| s.to_string()).collect())
            .collect();
        v.sort();
        Paths::new(&v)
    }

    #[test]
    fn reads_known_paths_only() {
        let p = paths(&[&["tool"], &["args", "amount"], &["agent", "roles"], &["ts"]]);
        let mut ev = Event::default();
        p.read(
            r#"{"ts":"2026-11-23T10:00:00Z","tool":"pay\u00e9","args":{"amount":12.5,"x":[1,{"a":null}]},"agent":{"roles":["a","b",3,null]},"other":{"deep":[true]}}"#,
            &mut ev,
        )
        .unwrap();
        // slots sorted: agent.roles, args.amount, tool, ts
        assert!(matches!(ev.val(1), Val::Num(n) if n == 12.5));
        assert_eq!(ev.str_of(ev.val(2)), Some("payé"));
        let items = ev.items_of(ev.val(0)).unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(ev.str_of(items[1]), Some("b"));
        assert_eq!(items[3], Val::Other);
        assert!(ev.ts.is_some());
    }

    #[test]
    fn last_duplicate_wins_with_its_subtree() {
        let p = paths(&[&["agent", "id"], &["agent", "trust"]]);
        let mut ev = Event::default();
        p.read(
            r#"{"agent":{"id":"a","trust":5},"agent":{"trust":7}}"#,
            &mut ev,
        )
        .unwrap();
        assert_eq!(ev.val(0), Val::Absent);
        assert_eq!(ev.val(1), Val::Num(7.0));
    }

    #[test]
    fn refuses_bad_json() {
        let p = paths(&[&["tool"]]);
        let mut ev = Event::default();
        for bad in [
            "",
            "[]",
            "{",
            "{\"tool\":}",
            "{\"tool\":\"x\",}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":tru}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":1e999}",
            "{} x",
            "{\"a\":\"\u{1}\"}",
            "nul",
        ] {
            assert!(p.read(bad, &mut ev).is_err(), "{bad:?} accepted");
        }
        assert!(p.read("{\"tool\":\"x\"", &mut ev).unwrap_err().eof);
        assert!(!p.read("{\"tool\" \"x\"}", &mut ev).unwrap_err().eof);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(p.read(&format!("{{\"a\":{deep}}}"), &mut ev).is_err());
    }

    #[test]
    fn extra_paths_share_the_scan() {
        let base = vec![
            vec!["agent".to_string(), "id".to_string()],
            vec!["tool".to_string()],
            vec!["ts".to_string()],
        ];
        let extra = vec![
            vec!["decision".to_string()],
            vec!["agent".to_string(), "z".to_string()],
            vec!["tool".to_string()],
            vec!["decision".to_string(), "decision".to_string()],
        ];
        let (p, ids) = Paths::with_extra(&base, &extra);
        assert_eq!(ids, vec![3, 4, 1, 5]);
        let mut ev = Event::default();
        p.read(
            r#"{"agent":{"id":"a","z":"zz"},"tool":"t","decision":{"decision":"deny"},"agent":{"z":"y"}}"#,
            &mut ev,
        )
        .unwrap();
        // The second `agent` resets both the program slot and the extra slot below it.
        assert_eq!(ev.val(0), Val::Absent);
        assert_eq!(ev.str_of(ev.val(4)), Some("y"));
        assert_eq!(ev.str_of(ev.val(1)), Some("t"));
        assert_eq!(ev.val(3), Val::Object);
        assert_eq!(ev.str_of(ev.val(5)), Some("deny"));
        // A later `tool` does not touch the extra slots, and vice versa.
        p.read(
            r#"{"decision":"allow","tool":"x","decision":"deny"}"#,
            &mut ev,
        )
        .unwrap();
        assert_eq!(ev.str_of(ev.val(3)), Some("deny"));
        assert_eq!(ev.str_of(ev.val(1)), Some("x"));
        // Projection renumbers slots for another program: [tool, decision].
        let mut out = Event::default();
        ev.project(&[1, 3], &mut out);
        assert_eq!(out.str_of(out.val(0)), Some("x"));
        assert_eq!(out.str_of(out.val(1)), Some("deny"));
        assert_eq!(out.val(2), Val::Absent);
    }

    #[test]
    fn numbers_match_the_general_parser() {
        let p = paths(&[&["n"]]);
        let mut ev = Event::default();
        for text in [
            "0",
            "-0",
            "7",
            "-12",
            "123456789012345",
            "-999999999999999",
            "1234567890123456",
            "12345678901234567890",
            "1.5",
            "-2.25e3",
            "1E2",
            "0.1",
        ] {
            p.read(&format!("{{\"n\":{text}}}"), &mut ev).unwrap();
            let want: f64 = text.parse().unwrap();
            match ev.val(0) {
                Val::Num(n) => assert_eq!(n.to_bits(), want.to_bits(), "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn errors_name_the_field() {
        let p = paths(&[&["tool"]]);
        let mut ev = Event::default();
        let text = r#"{"agent":{"id":"a","trust":tru},"tool":"x"}"#;
        let e = p.read(text, &mut ev).unwrap_err();
        assert_eq!(
            e.describe(text),
            "invalid literal at column 28, in `agent.trust`"
        );
        let text = r#"{"args":{"items":[1,2,{"x-y":nul}]}}"#;
        let e = p.read(text, &mut ev).unwrap_err();
        assert_eq!(
            e.describe(text),
            "invalid literal at column 30, in `args.items[2][\"x-y\"]`"
        );
        let text = "[1]";
        let e = p.read(text, &mut ev).unwrap_err();
        assert_eq!(
            e.describe(text),
            "the event is not a JSON object at column 1"
        );
    }

    /// Keys of a node scanned without a table (fewer children) are found by their words
    /// exactly: long keys that differ only between their first and last eight bytes, and
    /// keys that differ in length or at either end.
    #[test]
    fn scanned_keys_find_exactly_the_children() {
        let p = paths(&[
            &["x", "annotations_long_key_x"],
            &["x", "abcdefghi"],
            &["x", "ab"],
        ]);
        assert!(p.nodes.get(1).is_some_and(|n| n.table.slots.is_empty()));
        let mut ev = Event::default();
        // Slots in sorted path order (see `paths`).
        for (key, slot) in [("ab", 0), ("abcdefghi", 1), ("annotations_long_key_x", 2)] {
            for other in [
                "annotations_lXng_key_x",
                "annotations_long_key_",
                "Annotations_long_key_x",
                "abcdefghI",
                "abcdXfghi",
                "abcdefgh",
                "a",
                "abc",
                "aB",
            ] {
                // The near miss before the child and after it (where taking it for the
                // child would overwrite the child's value).
                for text in [
                    format!("{{\"x\":{{\"{other}\":1,\"{key}\":2}}}}"),
                    format!("{{\"x\":{{\"{key}\":2,\"{other}\":1}}}}"),
                ] {
                    p.read(&text, &mut ev).unwrap();
                    for s in 0..3u32 {
                        let want = if s == slot {
                            Val::Num(2.0)
                        } else {
                            Val::Absent
                        };
                        assert_eq!(ev.val(s), want, "{text}: slot {s}");
                    }
                }
            }
        }
    }

    /// Keys found by a node's hash table are exactly the children: every child key, at any
    /// place in the text (its last bytes included, where fewer than eight are left), and no
    /// other key of the same length, head or tail; a key written with escapes as well.
    #[test]
    fn hashed_keys_find_exactly_the_children() {
        let keys = [
            "a",
            "ab",
            "abc",
            "abcd",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "tool",
            "tools",
            "agent",
            "args",
            "action",
            "session",
            "annotations_long_key_x",
            "annotations_long_key_y",
            "é",
            "k\u{1F600}",
        ];
        let list: Vec<Vec<&str>> = keys.iter().map(|k| vec![*k]).collect();
        let refs: Vec<&[&str]> = list.iter().map(Vec::as_slice).collect();
        let p = paths(&refs);
        assert!(p.nodes.first().is_some_and(|n| !n.table.slots.is_empty()));
        // Keys that are not children: one byte changed at the head, the middle or the tail,
        // one byte more or less.
        let others = [
            "",
            "b",
            "aa",
            "abd",
            "bbcd",
            "abcdefG",
            "abcdefgH",
            "abcdXfghi",
            "tooll",
            "too",
            "agenT",
            "arg",
            "annotations_long_key_z",
            "annotations_lXng_key_x",
            "\u{e8}",
        ];
        let mut ev = Event::default();
        for (i, k) in keys.iter().enumerate() {
            let slot = p
                .nodes
                .first()
                .and_then(|n| n.children.iter().find(|(c, _)| &**c == *k))
                .and_then(|(_, c)| p.nodes.get(*c as usize))
                .and_then(|n| n.slot)
                .unwrap();
            for other in others {
                // The child last, so that its key ends close to the end of the text; and
                // first.
                for text in [
                    format!("{{\"{other}\":0,\"{k}\":{i}}}"),
                    format!("{{\"{k}\":{i},\"{other}\":0}}"),
                ] {
                    p.read(&text, &mut ev).unwrap();
                    for s in 0..keys.len() as u32 {
                        let want = if s == slot {
                            Val::Num(i as f64)
                        } else {
                            Val::Absent
                        };
                        assert_eq!(ev.val(s), want, "{text}: slot {s}");
                    }
                }
            }
        }
        // A key written with an escape is the same key.
        p.read(r#"{"t\u006fol":7}"#, &mut ev).unwrap();
        assert!((0..keys.len() as u32).any(|s| ev.val(s) == Val::Num(7.0)));
    }

    /// The word-at-a-time string scan stops exactly where the byte-at-a-time one does: at
    /// the first `"`, `\\` or control character, whatever its place in a word, in keys, read
    /// values and skipped values alike, and with multibyte characters around it.
    #[test]
    fn strings_scan_word_at_a_time_exactly() {
        let p = paths(&[&["tool"], &["args", "a"]]);
        let mut ev = Event::default();
        for len in 0..20 {
            for at in 0..=len {
                for special in [
                    "\\\"", "\\\\", "\\n", "\\u00e9", "é", "\u{7f}", "\u{80}x", "🦀",
                ] {
                    let mut inner = "abcdefghijklmnopqrstu"[..len].to_string();
                    inner.insert_str(at, special);
                    let text = format!(
                        r#"{{"skip":"{inner}","tool":"{inner}","args":{{"k{inner}":1,"a":"{inner}"}},"{inner}":2}}"#
                    );
                    let want: serde_json::Value = serde_json::from_str(&text).unwrap();
                    p.read(&text, &mut ev).unwrap();
                    assert_eq!(ev.str_of(ev.val(1)), want["tool"].as_str(), "{text}");
                    assert_eq!(ev.str_of(ev.val(0)), want["args"]["a"].as_str(), "{text}");
                }
                // A raw control character is refused where it stands, in a read value and in
                // a skipped one.
                for (field, value) in [("tool", true), ("skip", false), ("key", false)] {
                    let mut inner = "abcdefghijklmnopqrstu"[..len].to_string();
                    inner.insert(at, '\u{1}');
                    let text = match field {
                        "key" => format!(r#"{{"{inner}":1}}"#),
                        f => format!(r#"{{"{f}":"{inner}"}}"#),
                    };
                    let e = p.read(&text, &mut ev).unwrap_err();
                    assert_eq!(e.offset, text.find('\u{1}').unwrap(), "{text} {value}");
                    assert_eq!(e.message, "control character in a string");
                }
            }
        }
    }

    /// A bundle's attribute nested under one it does not read is not read; one nested under
    /// a skipped value of a read one (a list item, a later duplicate) is handled as before.
    #[test]
    fn skipping_does_not_confuse_nesting() {
        let p = paths(&[&["agent", "id"], &["tool"]]);
        let mut ev = Event::default();
        p.read(
            r#"{"other":{"agent":{"id":"x"},"tool":"y"},"x":["\"tool\":\"z\"",{"tool":"w"}],"tool":"t"}"#,
            &mut ev,
        )
        .unwrap();
        assert_eq!(ev.val(0), Val::Absent);
        assert_eq!(ev.str_of(ev.val(1)), Some("t"));
        p.read(
            r#"{"agent":{"id":"a\"},\"id\":\"b"},"agent":{"x":{"id":"c"}}}"#,
            &mut ev,
        )
        .unwrap();
        assert_eq!(ev.val(0), Val::Absent);
        p.read(r#"{"agent":{"id":"a\\","id":"b\u0022"}}"#, &mut ev)
            .unwrap();
        assert_eq!(ev.str_of(ev.val(0)), Some("b\""));
        // At the nesting limit, a skipped member nests as deep as a read one, and serde_json
        // (whose limit is the same, 128) agrees; both sides of the limit are tried.
        let (mut ok, mut refused) = (0, 0);
        for n in MAX_DEPTH - 4..MAX_DEPTH + 2 {
            let deep = format!("{}\"s\\\"]\"{}", "[".repeat(n), "]".repeat(n));
            let skipped = p.read(&format!(r#"{{"o":{deep},"tool":"t"}}"#), &mut ev);
            let read = p.read(&format!(r#"{{"tool":{deep}}}"#), &mut ev);
            let serde = serde_json::from_str::<serde_json::Value>(&format!(r#"{{"o":{deep}}}"#));
            assert_eq!(skipped.is_ok(), read.is_ok(), "{n}");
            assert_eq!(skipped.is_ok(), serde.is_ok(), "{n}");
            if skipped.is_ok() {
                ok += 1;
            } else {
                refused += 1;
            }
        }
        assert!(ok > 0 && refused > 0);
    }

    /// A member read alone is the object of that member read: the same slots, strings and
    /// lists, the same values refused; and anything after the value is refused.
    #[test]
    fn a_member_read_alone_is_its_object_read() {
        let p = paths(&[
            &["args"],
            &["args", "n"],
            &["args", "s"],
            &["args", "list"],
            &["args", "o", "x"],
            &["tool"],
        ]);
        let slots = |ev: &Event| shown_slots(ev, p.nslots);
        let (mut a, mut b) = (Event::default(), Event::default());
        for key in ["args", "tool", "other"] {
            for value in [
                r#"{"n":1,"s":"a","list":["x","y\u0041"],"o":{"x":"z"}}"#,
                r#" { "n" : 7.5 , "s" : "\"q\"" , "n" : -0 } "#,
                r#"{"o":{"x":1,"x":"w"},"list":[],"other":[1,{"a":2}]}"#,
                r#"{"\u006e":3,"s":null,"list":[true,false,null]}"#,
                r#""text""#,
                "1e400",
                "[1,2]",
                "{}",
                r#"{"n":1"#,
                r#"{"n":}"#,
                r#""a\x""#,
                "tru",
                "",
            ] {
                let whole = p.read_to_stamp(&format!(r#"{{"{key}":{value}}}"#), &mut a);
                let alone = p.read_member_to_stamp(key, value, &mut b);
                assert_eq!(whole.is_ok(), alone.is_ok(), "{key}: {value}");
                if whole.is_ok() {
                    assert_eq!(slots(&a), slots(&b), "{key}: {value}");
                    assert_eq!(a.ts, b.ts);
                }
            }
        }
        // What would read as more members is refused alone.
        for value in [r#"{"n":1},"tool":"t""#, "1 2", "{}}", r#""a","b":1"#] {
            assert!(
                p.read_member_to_stamp("args", value, &mut b).is_err(),
                "{value}"
            );
        }
    }

    /// Reading to stamp, then stamping, is reading, then stamping: the `ts` not parsed is
    /// replaced whatever it was.
    #[test]
    fn read_to_stamp_is_read_then_stamp() {
        let p = paths(&[&["time", "hour"], &["time", "weekday"], &["tool"], &["ts"]]);
        let (mut a, mut b) = (Event::default(), Event::default());
        let now = 1_700_000_000_123_456_789;
        for text in [
            r#"{"tool":"t","ts":"2026-11-23T10:00:00Z"}"#,
            r#"{"tool":"t","ts":"not a time"}"#,
            r#"{"tool":"t","ts":7}"#,
            r#"{"tool":"t"}"#,
        ] {
            p.read(text, &mut a).unwrap();
            p.read_to_stamp(text, &mut b).unwrap();
            let time = [p.hour_slot, p.weekday_slot];
            a.stamp(now, p.ts_slot, time);
            b.stamp(now, p.ts_slot, time);
            assert_eq!(a.vals, b.vals, "{text}");
            assert_eq!(a.ts, b.ts);
            assert_eq!(a.str_of(a.val(3)), b.str_of(b.val(3)));
        }
        assert!(p.read_to_stamp(r#"{"ts":"x",}"#, &mut b).is_err());
    }

    /// The `ts` a stamp writes is the exact text of its time, event after event in the same
    /// second, the next, and far apart (the kept text of the last second is only reused
    /// within it).
    #[test]
    fn stamps_write_the_exact_time_event_after_event() {
        let p = paths(&[&["tool"], &["ts"]]);
        let mut ev = Event::default();
        let base = 1_795_428_059_000_000_000i64;
        for now in [
            base,
            base + 1,
            base + 120_000_000,
            base + 999_999_999,
            base + 1_000_000_000,
            base + 1_000_456_000,
            base - 1,
            base + 86_400_000_000_000,
            0,
            -1,
            base,
        ] {
            p.read_to_stamp(r#"{"tool":"t","ts":"x"}"#, &mut ev)
                .unwrap();
            ev.stamp(now, p.ts_slot, [None, None]);
            assert_eq!(
                ev.str_of(ev.val(1)),
                Some(crate::time::format_rfc3339_exact(now).as_str())
            );
            assert_eq!(ev.ts, Some(now));
        }
    }

    #[test]
    fn null_is_absent() {
        let p = paths(&[&["tool"]]);
        let mut ev = Event::default();
        p.read(r#"{"tool":null}"#, &mut ev).unwrap();
        assert_eq!(ev.val(0), Val::Absent);
    }

    /// An event's values, strings, items and time.
    type Read = (Vec<Val>, String, Vec<Val>, Option<i64>);

    /// What reading `text` with a fresh event and no keys met before gives, or the error.
    fn fresh(p: &Paths, text: &str) -> Result<Read, EventError> {
        // The thread's plan is set aside for this read, then given back for the next.
        let planned = PLAN.take();
        let mut ev = Event::default();
        let read = p
            .read(text, &mut ev)
            .map(|()| (ev.vals.clone(), ev.arena.clone(), ev.items.clone(), ev.ts));
        PLAN.set(planned);
        read
    }

    #[test]
    fn keys_expected_where_met_before_read_as_a_fresh_event_would() {
        let p = paths(&[
            &["tool"],
            &["to"],
            &["ts"],
            &["agent", "id"],
            &["agent", "trust"],
            &["agent", "roles"],
            &["args", "amount"],
            &["args", "key_of_twelve"],
            &["args", "a_key_longer_than_sixteen"],
        ]);
        let q = paths(&[&["to"], &["agent", "id"], &["tool"]]);
        let texts = [
            r#"{"ts":"2026-11-23T09:00:02.165Z","tool":"a","agent":{"id":"x","trust":3,"roles":["r",1]},"args":{"amount":5,"key_of_twelve":"f","a_key_longer_than_sixteen":"l"},"decision":"allow"}"#,
            // The same order, other values.
            r#"{"ts":"2026-11-23T09:00:03Z","tool":"bb","agent":{"id":"yy","trust":4,"roles":[]},"args":{"amount":6,"key_of_twelve":"g","a_key_longer_than_sixteen":"m"},"decision":"deny"}"#,
            // Keys that begin like the ones met there before, or that they begin like.
            r#"{"ts":"x","to":"a","agent":{"i":"x","trust":3},"args":{"amoun":5,"key_of_twelveX":"f"},"decisio":1}"#,
            r#"{"ts":"x","tool":"c","agent":{"id":"z","trusty":3},"args":{"amount":7,"key_of_twelve":"h"},"decision":1}"#,
            // Escaped keys, whitespace before the colon, repeated keys, another order.
            r#"{"t\u0073":"y","tool" :"d","agent":{"\u0069d":"w","id":"v"},"tool":"e","args":{},"to":"f"}"#,
            r#"{ "tool" : "g" , "agent" : { "trust" : 1 , "id" : "u" } , "ts" : "z" }"#,
            r#"{"agent":{"id":"a"},"agent":{"trust":2},"tool":"h","tool":"i"}"#,
            // Errors where a known key was met before.
            r#"{"ts":"x","tool":"#,
            r#"{"ts":"x","tool" "a"}"#,
            r#"{"ts":"x","tool":"a","agent":{"id":"x","trust":3,"roles":["r",1]},"args":{"amount":5,"key_of_twelve":"f"},"decision":"allow"} x"#,
            r#"{"ts":"x","tool":"a","agent":{"id":"x","trust":3,"roles":["r",1]},"args":{"amount":5,"key_of_twelve":"f"},"decision":"allow"}"#,
            r#"{"ts":"x","tool":"a","agent":{"id":"x","trust":3,"roles":["r",1]},"args":{"amount":5,"key_of_twelve":"f"},"decision":"allow"}"#,
            r#"{"ts":"x","tool":"a","agent":{"id":"x","trust":3,"roles":["r",1]},"args":{"amount":5,"key_of_twelve":"f"},"decision":"allow"#,
            r#"{"ts":"x","tool":"a","agent":{"id":"x","trust":3,"roles":["r",1]},"args":{"amount":5,"key_of_twelve":"f"},"decision"}"#,
            r#"{"ts":"x","tool":"a","agent":{"id":"x","trust":3,"roles":["r",1]},"args":{"amount":5,"key_of_twelve":"f"},"decision":"allow"}"#,
        ];
        // Each text after each other (and itself), with one event kept throughout (and this
        // thread's plan), alternating between two trees.
        let mut ev = Event::default();
        for a in texts {
            for b in texts {
                for (tree, text) in [(&p, a), (&p, b), (&q, a), (&p, b), (&p, b)] {
                    let got = tree
                        .read(text, &mut ev)
                        .map(|()| (ev.vals.clone(), ev.arena.clone(), ev.items.clone(), ev.ts));
                    assert_eq!(got, fresh(tree, text), "{text} after {a}");
                }
            }
        }
    }
}
