//! The JSON of a message read without a tree: one checking pass over the whole text (eight
//! bytes at a time inside strings) that notes where each value ends ([`Tape`]), then the
//! members the gateway needs found by stepping from value to value, not reading them again.
//!
//! [`valid`] accepts a text only when a tree read (`serde_json::from_slice::<Value>`) accepts
//! it too. It is stricter in a few rare cases, whose texts are then read as trees, which
//! answer them as before: a `\u` escape of a surrogate (a tree read checks they pair), a
//! number with an exponent or longer than 300 characters that is not finite as a double, or
//! one whose exponent has more than three digits, and nesting deeper than 120.

use serde_json::Value;
use std::borrow::Cow;

/// The deepest nesting of arrays and objects read so (a tree read allows 128).
const MAX_DEPTH: usize = 120;

/// The text of one JSON value inside a text [`valid`] accepted: starts at the value's first
/// byte and ends after its last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Json<'a>(&'a str);

/// The text of one value the scanner read ([`Json`]), kept beyond the text it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedJson(Box<str>);

impl OwnedJson {
    /// The value's text, as written.
    pub fn get(&self) -> &str {
        &self.0
    }

    /// The value, as the scanner found it.
    pub fn as_json(&self) -> Json<'_> {
        Json(&self.0)
    }
}

impl From<Json<'_>> for OwnedJson {
    fn from(j: Json<'_>) -> OwnedJson {
        OwnedJson(j.get().into())
    }
}

impl<'a> Json<'a> {
    /// The value's text, as written.
    pub fn get(self) -> &'a str {
        self.0
    }

    /// The string, when the value is one (as [`serde_json::Value::as_str`] of its value): a
    /// string without escapes is its own text.
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        let inner = self.0.strip_prefix('"')?.strip_suffix('"')?;
        if !has_backslash(inner.as_bytes()) {
            return Some(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(self.0).ok().map(Cow::Owned)
    }

    /// Whether the value is `null`.
    pub fn is_null(self) -> bool {
        self.0 == "null"
    }

    /// Whether the value is an object.
    pub fn is_object(self) -> bool {
        self.0.starts_with('{')
    }
}

/// A text [`valid`] accepted, with where each of its values (and keys) ends: the members
/// and items of its objects and arrays are found from it without reading them again.
#[derive(Debug, Default)]
pub struct Tape<'a> {
    s: &'a str,
    /// At the offset where a value or key starts, the offset after its end. At the offset
    /// after a key, where its value starts; at the offset after a member's value or an
    /// item, where the next key or item of that object or array starts, or 0 after the
    /// last (no key or item starts at 0). Anything at other offsets. (No offset is two of
    /// these: each is the first byte of a value or key, or the byte after one, and no two
    /// values or keys start or end at the same offset but a container and its first value,
    /// whose starts differ by the bracket.)
    ends: Vec<u32>,
}

impl<'a> Tape<'a> {
    /// Checks `text` as one JSON value ([`valid`]): its tape and the value (whitespace
    /// around it left out).
    pub fn read(text: &'a [u8]) -> Option<(Tape<'a>, Json<'a>)> {
        let s = std::str::from_utf8(text).ok()?;
        u32::try_from(text.len()).ok()?;
        // The last tape's room, taken again, cleared.
        let mut ends = SPARE.try_with(std::cell::Cell::take).unwrap_or_default();
        ends.clear();
        ends.resize(text.len(), 0);
        let mut c = Checker {
            b: text,
            i: 0,
            ends,
        };
        c.ws();
        let start = c.i;
        c.value(0)?;
        let end = c.i;
        c.ws();
        if c.i != text.len() {
            return None;
        }
        let value = Json(s.get(start..end)?);
        Some((Tape { s, ends: c.ends }, value))
    }

    /// Where a value of this text starts, checked: `None` for a value of another text (the
    /// same place in this text: the same bytes, compared as such).
    fn start(&self, v: Json<'a>) -> Option<usize> {
        let at = (v.0.as_ptr() as usize).checked_sub(self.s.as_ptr() as usize)?;
        let end = *self.ends.get(at)? as usize;
        (end == at + v.0.len() && self.s.get(at..end).is_some_and(|w| std::ptr::eq(w, v.0)))
            .then_some(at)
    }

    /// Where the first key or item of the container starting at `at` starts, or 0 when it
    /// has none (see [`Tape::ends`](Tape)).
    fn first(&self, at: usize) -> usize {
        let b = self.s.as_bytes();
        let i = skip_ws(b, at + 1);
        match b.get(i) {
            Some(b'}' | b']') | None => 0,
            Some(_) => i,
        }
    }

    /// The members of an object of this text, in their order (`None` for any other value):
    /// each key as written between its quotes (escapes not undone) and its value.
    pub fn members<'t>(&'t self, v: Json<'a>) -> Option<Members<'t, 'a>> {
        if !v.is_object() {
            return None;
        }
        Some(Members {
            tape: self,
            i: self.first(self.start(v)?),
        })
    }

    /// The items of an array of this text, in their order (`None` for any other value).
    pub fn items<'t>(&'t self, v: Json<'a>) -> Option<Items<'t, 'a>> {
        if !v.0.starts_with('[') {
            return None;
        }
        Some(Items {
            tape: self,
            i: self.first(self.start(v)?),
        })
    }

    /// What the tape holds at offset `i`, as an offset (see [`Tape::ends`](Tape)).
    #[inline]
    fn at(&self, i: usize) -> Option<usize> {
        self.ends.get(i).map(|&e| e as usize)
    }
}

thread_local! {
    /// The room of the tape dropped last on this thread, for the next (one allocation less per
    /// message).
    static SPARE: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for Tape<'_> {
    fn drop(&mut self) {
        // Up to 256 KiB kept; a larger one goes back to the allocator.
        if self.ends.capacity() > 0 && self.ends.capacity() <= 1 << 16 {
            let ends = std::mem::take(&mut self.ends);
            let _ = SPARE.try_with(|spare| spare.set(ends));
        }
    }
}

/// Whether `text` is one JSON value that a tree read accepts (see the module's
/// documentation for the few it accepts that this does not).
pub fn valid(text: &[u8]) -> bool {
    Tape::read(text).is_some()
}

struct Checker<'a> {
    b: &'a [u8],
    i: usize,
    /// See [`Tape`].
    ends: Vec<u32>,
}

impl Checker<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// A value, its end noted at its start.
    fn value(&mut self, depth: usize) -> Option<()> {
        let start = self.i;
        self.value_only(depth)?;
        self.note(start);
        Some(())
    }

    /// A value inside an object or array, its end noted at its start: a string read here,
    /// anything else by [`Checker::value`] (most values are strings: no call for them).
    #[inline(always)]
    fn inner(&mut self, depth: usize) -> Option<()> {
        if self.peek() != Some(b'"') {
            return self.value(depth);
        }
        let start = self.i;
        self.i += 1;
        self.string()?;
        self.note(start);
        Some(())
    }

    /// Notes at `start` the offset here: where what starts at `start` ends, or where what
    /// follows what ends at `start` starts (see [`Tape::ends`](Tape)).
    #[inline]
    fn note(&mut self, start: usize) {
        if let Some(end) = self.ends.get_mut(start) {
            // The text's length fits (checked before).
            *end = self.i as u32;
        }
    }

    fn value_only(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.string()
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let key = self.i;
                    self.i += 1;
                    self.string()?;
                    self.note(key);
                    let key_end = self.i;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    // After the key, where its value starts.
                    self.note(key_end);
                    self.inner(depth + 1)?;
                    let end = self.i;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.ws();
                            // After the value, where the next key starts.
                            self.note(end);
                        }
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.inner(depth + 1)?;
                    let end = self.i;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.ws();
                            // After the item, where the next starts.
                            self.note(end);
                        }
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + w.len())? != w {
            return None;
        }
        self.i += w.len();
        Some(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, finite as a double.
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            match self.digits() {
                0 => return None,
                1..=3 => exponent = true,
                _ => return None,
            }
        }
        if exponent || self.i - start > 300 {
            let text = std::str::from_utf8(self.b.get(start..self.i)?).ok()?;
            if !text.parse::<f64>().ok()?.is_finite() {
                return None;
            }
        }
        Some(())
    }

    /// The rest of a string after its opening quote, up to and with its closing quote: no
    /// control character, only the escapes JSON has, no escaped surrogate. A string without
    /// escapes (most of them) is read here, in the caller; one with escapes by
    /// [`Checker::escaped`], out of line.
    #[inline(always)]
    fn string(&mut self) -> Option<()> {
        self.plain_run();
        if self.peek() == Some(b'"') {
            self.i += 1;
            return Some(());
        }
        self.escaped()
    }

    /// The rest of a string from a byte that is no plain string byte ([`Checker::string`]).
    #[inline(never)]
    fn escaped(&mut self) -> Option<()> {
        loop {
            self.plain_run();
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => match self.b.get(self.i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                    b'u' => {
                        let hex = self.b.get(self.i + 2..self.i + 6)?;
                        let mut code = 0u32;
                        for &h in hex {
                            code = code * 16 + char::from(h).to_digit(16)?;
                        }
                        if (0xD800..=0xDFFF).contains(&code) {
                            return None;
                        }
                        self.i += 6;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// Skips string bytes that need no attention, as the event reader does.
    #[inline]
    fn plain_run(&mut self) {
        self.i = crate::vm::event::plain_run(self.b, self.i);
    }
}

/// Whether `b` holds a `\\`: eight bytes at a time, the last eight (or fewer, one at a time,
/// when there are fewer) read with the words before them. The strings the gateway reads are
/// short and their escapes rare: a call to `memchr` for each cost more than the bytes take.
#[inline]
pub(crate) fn has_backslash(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    // A byte of `x` is 0 where `w` has a `\\`; a word with a 0 byte has a high bit set
    // here (and only such a word: a borrow starts only at a 0 byte).
    let any = |w: [u8; 8]| {
        let x = u64::from_le_bytes(w) ^ BACKSLASHES;
        x.wrapping_sub(ONES) & !x & HIGH != 0
    };
    let (words, rest) = b.as_chunks::<8>();
    if words.iter().any(|w| any(*w)) {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    match b.last_chunk::<8>() {
        // The last eight bytes: the rest and bytes already read.
        Some(w) => any(*w),
        None => rest.contains(&b'\\'),
    }
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = s.get(i) {
        i += 1;
    }
    i
}

/// See [`Tape::members`].
pub struct Members<'t, 'a> {
    tape: &'t Tape<'a>,
    /// Where the next key starts, or 0 when there is none.
    i: usize,
}

impl<'a> Iterator for Members<'_, 'a> {
    type Item = (&'a str, Json<'a>);

    /// The next member, from the tape alone: the key's end, its value's start and end, and
    /// the next key's start are noted there.
    fn next(&mut self) -> Option<(&'a str, Json<'a>)> {
        let t = self.tape;
        let i = self.i;
        if i == 0 {
            return None;
        }
        let key_end = t.at(i)?;
        let start = t.at(key_end)?;
        let end = t.at(start)?;
        self.i = t.at(end)?;
        let key = t.s.get(i + 1..key_end.checked_sub(1)?)?;
        Some((key, Json(t.s.get(start..end)?)))
    }
}

/// See [`Tape::items`].
pub struct Items<'t, 'a> {
    tape: &'t Tape<'a>,
    /// Where the next item starts, or 0 when there is none.
    i: usize,
}

impl<'a> Iterator for Items<'_, 'a> {
    type Item = Json<'a>;

    fn next(&mut self) -> Option<Json<'a>> {
        let t = self.tape;
        let i = self.i;
        if i == 0 {
            return None;
        }
        let end = t.at(i)?;
        self.i = t.at(end)?;
        Some(Json(t.s.get(i..end)?))
    }
}

/// One member of a struct read from an object's members: `false` when it was there already
/// (a tree keeps the last; such an object is read as a tree).
pub fn once<'a>(slot: &mut Option<Json<'a>>, value: Json<'a>) -> bool {
    if slot.is_some() {
        return false;
    }
    *slot = Some(value);
    true
}

/// Reads the members of the object `v` with `take`, which says whether it takes each member
/// (a first occurrence with [`once`], or a key no member of the struct has): `None` for
/// another value than an object of `tape`, or as soon as `take` refuses a member.
pub fn each_member<'a>(
    tape: &Tape<'a>,
    v: Json<'a>,
    mut take: impl FnMut(&'a str, Json<'a>) -> bool,
) -> Option<()> {
    for (key, value) in tape.members(v)? {
        if !take(key, value) {
            return None;
        }
    }
    Some(())
}

/// Whether a value's text and its members, items and strings as found here are the
/// value a tree read gives (a key given twice: its last value, as a tree keeps).
fn same<'a>(t: &Tape<'a>, j: Json<'a>, v: &Value) -> bool {
    // Each value found is one value in a member's place, as the decision point takes the
    // scanned arguments without checking them again.
    if crate::point::OneValue::check(j.get()).is_none() {
        return false;
    }
    match v {
        Value::Object(m) => {
            let Some(members) = t.members(j) else {
                return false;
            };
            let mut seen: Vec<(String, Json<'_>)> = Vec::new();
            for (key, value) in members {
                let Ok(key) = serde_json::from_str::<String>(&format!("\"{key}\"")) else {
                    return false;
                };
                seen.retain(|(k, _)| *k != key);
                seen.push((key, value));
            }
            seen.len() == m.len()
                && seen
                    .iter()
                    .all(|(k, value)| m.get(k).is_some_and(|w| same(t, *value, w)))
        }
        Value::Array(a) => {
            let Some(items) = t.items(j) else {
                return false;
            };
            let items: Vec<_> = items.collect();
            items.len() == a.len() && items.iter().zip(a).all(|(i, w)| same(t, *i, w))
        }
        Value::String(s) => j.as_str().as_deref() == Some(s.as_str()),
        _ => {
            t.members(j).is_none()
                && t.items(j).is_none()
                && j.as_str().is_none()
                && serde_json::from_str::<Value>(j.get()).ok().as_ref() == Some(v)
        }
    }
}

/// What the scanner leaves to a tree read though a tree read may accept it: an escaped
/// surrogate, an exponent (looked at closer only when given), a long number, nesting deeper
/// than [`MAX_DEPTH`] (a tree read allows 128).
fn left_to_trees(text: &[u8]) -> bool {
    let surrogate = text.windows(4).any(|w| {
        matches!(
            w,
            [
                b'\\',
                b'u',
                b'd' | b'D',
                b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F',
            ]
        )
    });
    let exponent = text
        .windows(2)
        .any(|w| matches!(w, [d, b'e' | b'E'] if d.is_ascii_digit()));
    let long = text.windows(300).any(|w| w.iter().all(u8::is_ascii_digit));
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    surrogate || exponent || long || deepest > MAX_DEPTH
}

/// The scanner held to serde_json on one untrusted text (the property test and the fuzz
/// target `mcp_scan`): what the scanner accepts a tree read accepts, and the members, items
/// and strings it finds are the tree's; what it refuses a tree read refuses, but for the few
/// kinds it leaves to trees. `Err` names the disagreement.
pub fn differential(text: &[u8]) -> Result<(), String> {
    let tree = serde_json::from_slice::<Value>(text);
    let shown = || String::from_utf8_lossy(text).into_owned();
    match Tape::read(text) {
        Some((t, j)) => match tree {
            Err(e) => Err(format!("accepted what a tree refuses ({e}): {:?}", shown())),
            Ok(v) if !same(&t, j, &v) => {
                Err(format!("read otherwise than its tree: {:?}", shown()))
            }
            Ok(_) => Ok(()),
        },
        None if tree.is_ok() && !left_to_trees(text) => {
            Err(format!("refused what a tree reads: {:?}", shown()))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{Strategy, prop, prop_oneof};

    #[test]
    fn backslashes_are_found_as_contains_finds_them() {
        // Every length to three words and a bit, a `\\` (or a byte one bit away from it)
        // at each place or none, among plain and non-ASCII bytes.
        for len in 0..28 {
            for fill in [b'a', 0x5d, 0xdc, 0x80, 0xff, 0x00] {
                for at in 0..=len {
                    for odd in [b'\\', 0x5d, 0xdc, 0x1c, b'"'] {
                        let mut b = vec![fill; len];
                        if let Some(x) = b.get_mut(at) {
                            *x = odd;
                        }
                        assert_eq!(has_backslash(&b), b.contains(&b'\\'), "{b:?}");
                        if let Some(x) = b.first_mut() {
                            *x = b'\\';
                        }
                        assert_eq!(has_backslash(&b), b.contains(&b'\\'), "{b:?}");
                    }
                }
            }
        }
    }

    fn check(text: &[u8]) {
        if let Err(e) = differential(text) {
            panic!("{e}");
        }
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", "", "", " ", "\n", " \t", "\r\n  "])
    }

    fn scalar() -> impl Strategy<Value = String> {
        let fixed = prop::sample::select(vec![
            "\"a\"",
            "\"\"",
            "\"tools/call\"",
            "\"x\\\"y\"",
            "\"\\\\\"",
            "\"\\\\ud800\"",
            "\"\\u00e9\\u00E9\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud800\"",
            "\"\\uDC00x\"",
            "\"é€😀\"",
            "\"a\\nb\\r\\t\\b\\f\\/\"",
            "\"}{][,:\"",
            "\"\\x\"",
            "\"\t\"",
            "\"\u{1}\"",
            "\"\u{7f}\"",
            "\"\\u12G4\"",
            "\"\\u12\"",
            "\"abcdefghijklmnopqrstuvwxyz0123456789\"",
            "0",
            "-0",
            "7",
            "-12",
            "1.5",
            "-0.25",
            "1e5",
            "1E+2",
            "2e-3",
            "1e400",
            "-1e400",
            "1e0400",
            "1e-400",
            "0e9999",
            "01",
            "-01",
            "1.",
            ".5",
            "-",
            "+1",
            "1e",
            "1e+",
            "1.5.2",
            "123456789012345678901234",
            "18446744073709551616",
            "-9223372036854775809",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "nulll",
            "True",
        ])
        .prop_map(String::from);
        let long = prop::sample::select(vec![299usize, 300, 308, 309, 310, 400])
            .prop_map(|n| "9".repeat(n));
        let any = ".{0,12}".prop_map(|s: String| serde_json::to_string(&s).unwrap());
        prop_oneof![6 => fixed, 1 => long, 2 => any]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "\"a\"",
                "\"a\"",
                "\"\\u0061\"",
                "\"b\"",
                "\"jsonrpc\"",
                "\"\"",
                "\"k\\\"\"",
                "\"\\ud800\""
            ])
            .prop_map(String::from),
            "[a-c]{1,2}".prop_map(|s| format!("\"{s}\"")),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        scalar().prop_recursive(5, 48, 6, |inner| {
            let item = (ws(), inner.clone(), ws()).prop_map(|(a, v, b)| format!("{a}{v}{b}"));
            let array = prop::collection::vec(item, 0..5)
                .prop_map(|items| format!("[{}]", items.join(",")));
            let member = (ws(), key(), ws(), ws(), inner, ws())
                .prop_map(|(a, k, b, c, v, d)| format!("{a}{k}{b}:{c}{v}{d}"));
            let object = prop::collection::vec(member, 0..5)
                .prop_map(|members| format!("{{{}}}", members.join(",")));
            prop_oneof![array, object]
        })
    }

    /// A text, then at most two edits: a byte deleted, or one of JSON's own or some
    /// troublesome ones put in.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let edit = (
            prop::num::usize::ANY,
            prop::sample::select(vec![
                &b""[..],
                b",",
                b"}",
                b"]",
                b"{",
                b"[",
                b"\"",
                b"\\",
                b":",
                b"\0",
                b"\xff",
                b"\xc3",
                b" ",
                b"e",
                b"0",
                b"-",
            ]),
        );
        (ws(), text(), ws(), prop::collection::vec(edit, 0..3)).prop_map(|(a, t, b, edits)| {
            let mut t = format!("{a}{t}{b}").into_bytes();
            for (at, put) in edits {
                if t.is_empty() {
                    break;
                }
                let at = at % t.len();
                if put.is_empty() {
                    t.remove(at);
                } else {
                    t.splice(at..at, put.iter().copied());
                }
            }
            t
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 20_000,
            failure_persistence: None,
            .. proptest::prelude::ProptestConfig::default()
        })]

        /// What the scanner accepts a tree read accepts, and the scanner finds the same
        /// members, items and strings; what it refuses a tree read refuses, but for the few
        /// kinds it leaves to trees.
        #[test]
        fn the_scanner_reads_as_a_tree_does(text in mutated()) {
            check(&text);
        }
    }

    #[test]
    fn texts_read_and_refused() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        for (text, ok) in [
            (r#"{"a":1}"#.to_string(), true),
            (" \n{\"a\" : [ 1 , -2.5 , \"x\" ] }\r\n".into(), true),
            (r#"{"a":1,}"#.into(), false),
            (r#"[1,]"#.into(), false),
            (r#"{"a":1}}"#.into(), false),
            (r#"{"a":1} x"#.into(), false),
            (r#"{"a":1}{"b":2}"#.into(), false),
            (r#"{a:1}"#.into(), false),
            (r#"{"a"1}"#.into(), false),
            ("\"\u{1f}\"".into(), false),
            ("\"\u{7f}\"".into(), true),
            (r#""\ud83d\ude00""#.into(), false),
            (r#""\ud800""#.into(), false),
            (r#"1e308"#.into(), true),
            (r#"1e309"#.into(), false),
            (r#"-1e-999"#.into(), true),
            (r#"1e1000"#.into(), false),
            (deep(120), true),
            (deep(121), false),
            (String::new(), false),
            ("  ".into(), false),
        ] {
            assert_eq!(valid(text.as_bytes()), ok, "{text}");
            if ok {
                check(text.as_bytes());
            }
        }
        assert!(!valid(b"\"\xff\""));
        assert!(!valid(b"{\"a\":\"\xc3\"}"));
        let (t, j) =
            Tape::read(br#" {"a" : {"b":"}{","c":[{"d":"]"}]}, "e":[1,[2,{"f":3}]],"g":"x\"y"} "#)
                .unwrap();
        let members: Vec<_> = t.members(j).unwrap().map(|(k, v)| (k, v.get())).collect();
        // A value of another text (even the same text elsewhere) has no members here.
        let (other, o) = Tape::read(br#"{"a":1}"#).unwrap();
        assert!(t.members(o).is_none() && other.members(j).is_none());
        assert_eq!(other.members(o).unwrap().count(), 1);
        assert_eq!(
            members,
            [
                ("a", r#"{"b":"}{","c":[{"d":"]"}]}"#),
                ("e", r#"[1,[2,{"f":3}]]"#),
                ("g", r#""x\"y""#)
            ]
        );
    }

    /// The word-at-a-time string scan stops at the first `"`, `\\` or control character,
    /// wherever it falls in a word.
    #[test]
    fn strings_stop_where_they_should() {
        for at in 0..20 {
            for stop in [b'"', b'\\', b'\0', b'\n', 0x1f] {
                let mut t = vec![b'a'; 20];
                t[at] = stop;
                let mut c = Checker {
                    b: &t,
                    i: 0,
                    ends: Vec::new(),
                };
                c.plain_run();
                assert_eq!(c.i, at, "{stop} at {at}");
            }
            let t = vec![0xc3u8; at];
            let mut c = Checker {
                b: &t,
                i: 0,
                ends: Vec::new(),
            };
            c.plain_run();
            assert_eq!(c.i, at);
        }
    }
}
