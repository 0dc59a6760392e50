//! RFC 8785 JSON Canonicalization Scheme (JCS): one byte sequence per JSON value.
//!
//! Objects have their members sorted by the UTF-16 code units of their names, no whitespace
//! is written, strings are escaped as ECMAScript's `JSON.stringify` does, and numbers are
//! IEEE 754 doubles written as ECMAScript's `Number.prototype.toString` writes them.
//! [`parse_strict`] reads JSON that JCS accepts (I-JSON: no duplicate member names).

use std::fmt::Write as _;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The canonical form of `value`.
///
/// Every JSON number is written as the double nearest to it, so integers beyond 2^53 lose
/// precision here exactly as they would in ECMAScript.
pub fn canonicalize(value: &Value) -> String {
    let mut out = String::with_capacity(128);
    write_value(value, &mut out);
    out
}

/// Parses `text` as JSON and returns its canonical form.
pub fn canonicalize_str(text: &str) -> Result<String, serde_json::Error> {
    parse_strict(text).map(|v| canonicalize(&v))
}

/// Parses JSON, refusing duplicate member names (which JCS cannot represent) as well as
/// everything `serde_json` refuses (lone surrogates, numbers out of the double range).
pub fn parse_strict(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Strict::deserialize(&mut de)?.0;
    de.end()?;
    Ok(v)
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&number_text(n)),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map is in UTF-8 order, which is UTF-16 order unless a name holds
            // a character from U+E000 up (lead bytes 0xEE and above): sort only then.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            if map.keys().any(|k| k.bytes().any(|b| b >= 0xEE)) {
                members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            }
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

fn number_text(n: &Number) -> String {
    // A JSON number read by serde_json is always finite, so this never falls back.
    n.as_f64()
        .and_then(format_number)
        .unwrap_or_else(|| "null".to_string())
}

/// Writes `s` as a JSON string the way ECMAScript's `JSON.stringify` does: `"` and `\`
/// escaped, control characters as `\b \t \n \f \r` or `\u00xx` (lowercase hex), everything
/// else as itself.
pub fn write_string(s: &str, out: &mut String) {
    crate::decision::write_json_str(out, s);
}

/// ECMAScript's `Number.prototype.toString(10)` of a double (ECMA-262, Number::toString):
/// the shortest decimal digits that read back as the same double, laid out in plain
/// notation for decimal exponents from -6 to 20 and in `d.ddde±x` notation outside.
/// `None` for NaN and the infinities, which JSON cannot hold.
pub fn format_number(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    if x == 0.0 {
        // Both zeros are written `0`.
        return Some("0".to_string());
    }
    // Rust's `{:e}` writes the shortest round-tripping digits, choosing the one closest to
    // the value when several are as short: the digits ECMAScript asks for.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let mut digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    // The value is 0.d1d2…dk × 10^n.
    let n = exp + 1;
    let digits = tie_to_even(x.abs(), digits, n);
    let k = i32::try_from(digits.len()).ok()?;
    let mut out = String::with_capacity(24);
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(usize::try_from(n).ok()?);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    Some(out)
}

/// ECMAScript breaks a tie between two shortest digit strings equally close to the value by
/// taking the even one; Rust's shortest formatting does not promise that. A tie happens only
/// when the exact value of `x` has one digit more than the shortest form, ending in 5 (as
/// 1424953923781206.25 between …206.2 and …206.3), which is rare and cheap to rule out.
fn tie_to_even(x: f64, digits: String, n: i32) -> String {
    let k = digits.len();
    if k >= 18 || !may_tie(x, k) {
        return digits;
    }
    let sig = |text: &str| -> Option<(String, i32)> {
        let (m, e) = text.split_once('e')?;
        let mut d: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
        while d.len() > 1 && d.ends_with('0') {
            d.pop();
        }
        Some((d, e.parse::<i32>().ok()? + 1))
    };
    // 18 significant digits, correctly rounded: a tie shows as k + 1 digits ending in 5…
    let Some((near, n18)) = sig(&format!("{x:.17e}")) else {
        return digits;
    };
    if near.len() != k + 1 || !near.ends_with('5') || n18 != n {
        return digits;
    }
    // …and is one only when those digits are the exact value.
    if sig(&format!("{x:.800e}")) != Some((near.clone(), n)) {
        return digits;
    }
    let (Ok(low), Ok(cur)) = (
        near.get(..k).unwrap_or_default().parse::<u64>(),
        digits.parse::<u64>(),
    ) else {
        return digits;
    };
    let even = if low % 2 == 0 { low } else { low + 1 };
    let candidate = even.to_string();
    if even == cur || candidate.len() != k {
        return digits;
    }
    match format!("0.{candidate}e{n}").parse::<f64>() {
        Ok(back) if back == x => candidate,
        _ => digits,
    }
}

/// Writes the canonical form of the JSON text `text` to `out` (appended), reading it in one
/// pass without building a tree; for an object at the top, `ts` (a whole member, `"ts":…`)
/// replaces any `ts` member it has. A member given twice keeps its last value, as
/// `serde_json` and the VM's reader do (JCS itself cannot represent duplicates). `None` when
/// `text` is not JSON, nests deeper than 128 levels, or holds a number beyond the doubles or
/// a lone surrogate: [`parse_strict`] then says why (and `out` may hold part of the text). The
/// result is what [`canonicalize`] gives for the value `serde_json` reads.
///
/// Its scratch space is kept per thread (as a [`Canonicalizer`] keeps it), so that a thread
/// canonicalizing many texts allocates only while it grows.
pub fn canonicalize_text(text: &str, ts: Option<&str>, out: &mut String) -> Option<()> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Canonicalizer> =
            std::cell::RefCell::new(Canonicalizer::default());
    }
    SCRATCH
        .try_with(|c| match c.try_borrow_mut() {
            Ok(mut c) => {
                let r = c.write(text, ts, out);
                c.trim();
                r
            }
            Err(_) => Canonicalizer::default().write(text, ts, out),
        })
        .unwrap_or_else(|_| Canonicalizer::default().write(text, ts, out))
}

/// [`canonicalize_text`] with its scratch space kept from one text to the next (no
/// allocation once it has grown).
///
/// It reads the text once into a *tape*: each scalar and member name as a piece of canonical
/// text (most of them the input's own bytes, the rest written anew: escapes, numbers, the
/// `ts` put in), each array and object as a mark; at each object's end it sorts the object's
/// members (by the UTF-16 code units of their names, keeping the last of a name given twice)
/// into a list of tape ranges. Then it writes the tape out once, each object's members in
/// that order: every byte is copied once, whatever the nesting, and nothing is written twice.
#[derive(Debug, Default)]
pub struct Canonicalizer {
    /// Per nesting level, the members of the object being read (reused).
    levels: Vec<Vec<Mem>>,
    /// The text's pieces and marks, in the order read.
    tape: Vec<Tok>,
    /// Canonical text that is not the input's own: rewritten strings and numbers, `ts`.
    scratch: String,
    /// Every object's members in canonical order, as tape ranges (name token, end).
    order: Vec<(usize, usize)>,
    /// Sorting space.
    idx: Vec<usize>,
}

/// One entry of the tape.
#[derive(Clone, Copy, Debug)]
enum Tok {
    /// Canonical text that is the input's bytes `.0..1`.
    Input(usize, usize),
    /// Canonical text written in the scratch space, `.0..1`.
    Scratch(usize, usize),
    /// An array; its items are the values on the tape up to `end` (exclusive).
    Array { end: usize },
    /// An object: its members in canonical order are `order[from..from + n]`; its tape
    /// ends before `end`.
    Object { from: usize, n: usize, end: usize },
}

/// A member of an object being read: its name, and its tape range (the name's token up to
/// the end of its value).
#[derive(Clone, Debug)]
struct Mem {
    name: Name,
    start: usize,
    end: usize,
}

impl Canonicalizer {
    /// Gives back what a very large text made it grow to.
    fn trim(&mut self) {
        const KEEP: usize = 1 << 14;
        if self.tape.capacity() > KEEP || self.scratch.capacity() > 16 * KEEP {
            *self = Canonicalizer::default();
        }
    }

    /// See [`canonicalize_text`].
    pub fn write(&mut self, text: &str, ts: Option<&str>, out: &mut String) -> Option<()> {
        self.tape.clear();
        self.scratch.clear();
        self.order.clear();
        let mut w = Reader {
            b: text.as_bytes(),
            s: text,
            pos: 0,
            c: self,
        };
        w.ws();
        w.value(0, ts)?;
        w.ws();
        if w.pos != w.b.len() {
            return None;
        }
        out.reserve(text.len() + ts.map_or(0, str::len));
        let t = Tape {
            s: text,
            scratch: &self.scratch,
            tape: &self.tape,
            order: &self.order,
        };
        let end = t.emit(0, out)?;
        (end == self.tape.len()).then_some(())
    }
}

/// The tape read back, to write the canonical text.
struct Tape<'a> {
    s: &'a str,
    scratch: &'a str,
    tape: &'a [Tok],
    order: &'a [(usize, usize)],
}

impl Tape<'_> {
    /// Writes the value at tape index `i`; returns the index after it.
    fn emit(&self, i: usize, out: &mut String) -> Option<usize> {
        match *self.tape.get(i)? {
            Tok::Input(a, b) => {
                out.push_str(self.s.get(a..b)?);
                Some(i + 1)
            }
            Tok::Scratch(a, b) => {
                out.push_str(self.scratch.get(a..b)?);
                Some(i + 1)
            }
            Tok::Array { end } => {
                out.push('[');
                let mut j = i + 1;
                while j < end {
                    if j > i + 1 {
                        out.push(',');
                    }
                    j = self.emit(j, out)?;
                }
                out.push(']');
                Some(end)
            }
            Tok::Object { from, n, end } => {
                out.push('{');
                for (k, &(start, _)) in self.order.get(from..from + n)?.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    // The name (a piece), then its value.
                    self.emit(start, out)?;
                    out.push(':');
                    self.emit(start + 1, out)?;
                }
                out.push('}');
                Some(end)
            }
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
    c: &'a mut Canonicalizer,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }

    fn value(&mut self, depth: usize, ts: Option<&str>) -> Option<()> {
        if depth >= CANONICAL_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(depth, ts),
            b'[' => {
                self.pos += 1;
                let at = self.c.tape.len();
                self.c.tape.push(Tok::Array { end: at + 1 });
                self.ws();
                if self.eat(b']').is_none() {
                    loop {
                        self.ws();
                        self.value(depth + 1, None)?;
                        self.ws();
                        if self.eat(b']').is_some() {
                            break;
                        }
                        self.eat(b',')?;
                    }
                }
                let end = self.c.tape.len();
                if let Some(t) = self.c.tape.get_mut(at) {
                    *t = Tok::Array { end };
                }
                Some(())
            }
            b'"' => self.string(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        if self.b.get(self.pos..end)? != word {
            return None;
        }
        self.c.tape.push(Tok::Input(self.pos, end));
        self.pos = end;
        Some(())
    }

    /// The name of a member: its piece goes on the tape.
    fn name(&mut self) -> Option<Name> {
        self.string()?;
        match *self.c.tape.last()? {
            Tok::Input(a, b) => Some(Name::new(self.b, false, a + 1..b - 1)),
            Tok::Scratch(a, b) => Some(Name::new(self.c.scratch.as_bytes(), true, a + 1..b - 1)),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize, ts: Option<&str>) -> Option<()> {
        self.eat(b'{')?;
        let open = self.c.tape.len();
        self.c.tape.push(Tok::Object {
            from: 0,
            n: 0,
            end: open + 1,
        });
        let mut members = self
            .c
            .levels
            .get_mut(depth)
            .map(std::mem::take)
            .unwrap_or_default();
        members.clear();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.ws();
                if self.peek() != Some(b'"') {
                    return None;
                }
                let start = self.c.tape.len();
                let name = self.name()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                self.value(depth + 1, None)?;
                members.push(Mem {
                    name,
                    start,
                    end: self.c.tape.len(),
                });
                self.ws();
                if self.eat(b'}').is_some() {
                    break;
                }
                self.eat(b',')?;
            }
        }
        if let Some(t) = ts {
            // The member to put in place of any `ts`: read after the others, sorted below.
            let value = t.strip_prefix("\"ts\":")?;
            let a = self.c.scratch.len();
            self.c.scratch.push_str("\"ts\"");
            let b = self.c.scratch.len();
            self.c.scratch.push_str(value);
            let start = self.c.tape.len();
            self.c.tape.push(Tok::Scratch(a, b));
            self.c.tape.push(Tok::Scratch(b, self.c.scratch.len()));
            members.push(Mem {
                name: Name::new(self.c.scratch.as_bytes(), true, a + 1..b - 1),
                start,
                end: start + 2,
            });
        }
        let end = self.c.tape.len();
        let from = self.c.order.len();
        let (s, scratch) = (self.b, self.c.scratch.as_bytes());
        let name = |n: &Name| {
            let bytes = if n.scratch { scratch } else { s };
            std::str::from_utf8(bytes.get(n.range.clone()).unwrap_or(&[])).unwrap_or("")
        };
        let cmp = |a: &Name, b: &Name| {
            if a.plain && b.plain {
                let by_prefix = a.prefix.cmp(&b.prefix);
                if by_prefix.is_ne() || a.range.len() <= 16 && b.range.len() <= 16 {
                    return Some(by_prefix);
                }
                Some(name(a).as_bytes().cmp(name(b).as_bytes()))
            } else {
                key_order(name(a), name(b))
            }
        };
        let sorted = members.windows(2).all(
            |w| matches!(w, [a, b] if cmp(&a.name, &b.name) == Some(std::cmp::Ordering::Less)),
        );
        let order = &mut self.c.order;
        if sorted {
            order.extend(members.iter().map(|m| (m.start, m.end)));
        } else {
            // Sort (of equal names, the one given later sorts later), keep the last of each
            // name.
            let idx = &mut self.c.idx;
            idx.clear();
            idx.extend(0..members.len());
            let mut bad = false;
            idx.sort_unstable_by(|&i, &j| match (members.get(i), members.get(j)) {
                (Some(a), Some(b)) => cmp(&a.name, &b.name)
                    .unwrap_or_else(|| {
                        bad = true;
                        std::cmp::Ordering::Equal
                    })
                    .then(i.cmp(&j)),
                _ => std::cmp::Ordering::Equal,
            });
            if bad {
                return None;
            }
            let mut last: Option<&Mem> = None;
            for &i in idx.iter() {
                let Some(m) = members.get(i) else { continue };
                if let Some(l) = last
                    && cmp(&l.name, &m.name) == Some(std::cmp::Ordering::Equal)
                {
                    order.pop();
                }
                order.push((m.start, m.end));
                last = Some(m);
            }
            // With an injected `ts`, the object's own `ts` is gone: a name equal to `ts`
            // sorts next to it and the injected one, given last, is kept.
        }
        let n = order.len() - from;
        if let Some(t) = self.c.tape.get_mut(open) {
            *t = Tok::Object { from, n, end };
        }
        if self.c.levels.len() <= depth {
            self.c.levels.resize_with(depth + 1, Vec::new);
        }
        if let Some(slot) = self.c.levels.get_mut(depth) {
            *slot = members;
        }
        Some(())
    }

    /// A string, as a piece of canonical text put on the tape: the input's own bytes when it
    /// has no escape (JCS writes such a string as it is), else written with JCS's escapes
    /// into the scratch space. (The piece goes straight onto the tape: returned, it went
    /// through the stack, where reading it back stalled.)
    fn string(&mut self) -> Option<()> {
        let open = self.pos;
        self.eat(b'"')?;
        let mut from = open;
        let mut written: Option<usize> = None;
        loop {
            let i = next_stop(self.b.get(self.pos..)?)?;
            self.pos += i;
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    let t = match written {
                        None => Tok::Input(open, self.pos),
                        Some(at) => {
                            // The run since the last escape, quote included, as it is.
                            let out = &mut self.c.scratch;
                            out.push_str(self.s.get(from..self.pos)?);
                            Tok::Scratch(at, out.len())
                        }
                    };
                    self.c.tape.push(t);
                    return Some(());
                }
                b'\\' => {
                    let out = &mut self.c.scratch;
                    if written.is_none() {
                        written = Some(out.len());
                    }
                    out.push_str(self.s.get(from..self.pos)?);
                    let esc = *self.b.get(self.pos + 1)?;
                    self.pos += 2;
                    let c = match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.pos..self.pos + 2)? != b"\\u" {
                                    return None;
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                            } else {
                                char::from_u32(hi)?
                            }
                        }
                        _ => return None,
                    };
                    let out = &mut self.c.scratch;
                    match u8::try_from(c) {
                        Ok(b) if crate::decision::must_escape(b) => {
                            crate::decision::push_escape(out, b);
                        }
                        _ => out.push(c),
                    }
                    from = self.pos;
                }
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(h, 16).ok()
    }

    /// A number, checked against JSON's grammar, as JCS writes its double.
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let b = self.b;
        let digits = |p: &mut usize| {
            let s = *p;
            while b.get(*p).is_some_and(u8::is_ascii_digit) {
                *p += 1;
            }
            *p > s
        };
        let mut p = start;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        let int_start = p;
        if !digits(&mut p) {
            return None;
        }
        if b.get(int_start) == Some(&b'0') && p - int_start > 1 {
            return None;
        }
        let plain_int = p;
        if b.get(p) == Some(&b'.') {
            p += 1;
            if !digits(&mut p) {
                return None;
            }
        }
        if matches!(b.get(p), Some(b'e' | b'E')) {
            p += 1;
            if matches!(b.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if !digits(&mut p) {
                return None;
            }
        }
        self.pos = p;
        let tok = self.s.get(start..p)?;
        // Integers of up to 15 digits are exact doubles, written as themselves (but `-0`
        // is `0`).
        if plain_int == p && p - int_start <= 15 && tok != "-0" {
            self.c.tape.push(Tok::Input(start, p));
            return Some(());
        }
        let x: f64 = tok.parse().ok()?;
        let a = self.c.scratch.len();
        self.c.scratch.push_str(&format_number(x)?);
        self.c.tape.push(Tok::Scratch(a, self.c.scratch.len()));
        Some(())
    }
}
/// The position of the first `"`, `\\` or control character in `b`, if any: short runs
/// (most names and values) byte by byte, longer ones many bytes at a time.
fn next_stop(b: &[u8]) -> Option<usize> {
    let stop = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
    for (i, &c) in b.iter().take(16).enumerate() {
        if stop(c) {
            return Some(i);
        }
    }
    let rest = b.get(16..)?;
    let at = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
    // A control character before it stops first (checked without branching, so that the
    // check vectorises).
    let run = rest.get(..at)?;
    if run.iter().fold(false, |c, &x| c | (x < 0x20)) {
        return run.iter().position(|&x| x < 0x20).map(|i| 16 + i);
    }
    (at < rest.len()).then_some(16 + at)
}

/// A member name: where its canonical text (between the quotes) is, in the input or in the
/// scratch space, and whether its bytes compare as its UTF-16 code units do (no escapes, no
/// character from U+E000 up), as almost every name does.
#[derive(Clone, Debug)]
struct Name {
    range: std::ops::Range<usize>,
    scratch: bool,
    plain: bool,
    /// The first 16 bytes, big-endian and padded with zeros (which a plain name never holds),
    /// so that most names compare in one step.
    prefix: u128,
}

impl Name {
    fn new(text: &[u8], scratch: bool, range: std::ops::Range<usize>) -> Name {
        let bytes = text.get(range.clone()).unwrap_or(&[]);
        let plain = bytes.iter().all(|&c| c != b'\\' && c < 0xEE);
        // Built in a register: copied into an array on the stack and read back whole, it
        // stalled on every name.
        let prefix = match bytes.first_chunk::<16>() {
            Some(first) => u128::from_be_bytes(*first),
            None => bytes
                .iter()
                .zip((0..16u32).rev())
                .fold(0, |v, (&b, k)| v | u128::from(b) << (8 * k)),
        };
        Name {
            range,
            scratch,
            plain,
            prefix,
        }
    }
}

/// Member names (as written by [`write_string`], without quotes) in UTF-16 order; `None`
/// when a name cannot be read back.
fn key_order(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    if !a.contains('\\') && !b.contains('\\') {
        return Some(utf16_order(a, b));
    }
    let read = |k: &str| serde_json::from_str::<String>(&format!("\"{k}\"")).ok();
    Some(utf16_order(&read(a)?, &read(b)?))
}

/// One member of an object in canonical form, as byte offsets into its text: `start` is the
/// opening quote of the name, `key` the name between its quotes (escapes as written), `value`
/// the value's text. The member's text is `start..value.end`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    pub start: usize,
    pub key: std::ops::Range<usize>,
    pub value: std::ops::Range<usize>,
}

/// How deep [`canonical_object`] follows nested values; deeper text is not taken as canonical
/// (and [`parse_strict`], which refuses nesting beyond 128 as well, then decides).
const CANONICAL_DEPTH: usize = 128;

/// Whether `text` is exactly the canonical form ([`canonicalize`]) of a JSON object, found
/// without building it: no whitespace, members in UTF-16 order of their names and no name
/// twice, strings escaped as JCS escapes them and nothing else escaped, every number written
/// as JCS writes its double. On success `members` holds the object's own members, in order.
///
/// This is the fast path of reading canonical text such as audit records; a `false` says
/// only that the text is not canonical (it may still be valid JSON: canonicalize it then).
pub fn canonical_object(text: &str, members: &mut Vec<Member>) -> bool {
    members.clear();
    let mut c = Canon {
        b: text.as_bytes(),
        s: text,
        pos: 0,
    };
    if c.peek() != Some(b'{') {
        return false;
    }
    c.object(0, Some(members)).is_some() && c.pos == c.b.len()
}

/// `a` and `b` compared by UTF-16 code units, as JCS sorts member names: byte order, unless
/// a character from U+E000 up is involved.
fn utf16_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.bytes().chain(b.bytes()).all(|c| c < 0xEE) {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

struct Canon<'a> {
    b: &'a [u8],
    s: &'a str,
    pos: usize,
}

impl<'a> Canon<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        if depth >= CANONICAL_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(depth, None),
            b'[' => {
                self.pos += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    if self.eat(b']').is_some() {
                        return Some(());
                    }
                    self.eat(b',')?;
                }
            }
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.b.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    fn object(&mut self, depth: usize, mut members: Option<&mut Vec<Member>>) -> Option<()> {
        if depth >= CANONICAL_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut last: Option<(std::ops::Range<usize>, bool)> = None;
        loop {
            let start = self.pos;
            let (key, plain) = self.string_plain()?;
            if let Some((prev, prev_plain)) = &last {
                let order = match (self.b.get(prev.clone()), self.b.get(key.clone())) {
                    (Some(a), Some(b)) if *prev_plain && plain => a.cmp(b),
                    _ => self.name_order(prev.clone(), key.clone())?,
                };
                if order != std::cmp::Ordering::Less {
                    return None;
                }
            }
            last = Some((key.clone(), plain));
            self.eat(b':')?;
            let v0 = self.pos;
            self.value(depth + 1)?;
            if let Some(m) = members.as_deref_mut() {
                m.push(Member {
                    start,
                    key,
                    value: v0..self.pos,
                });
            }
            if self.eat(b'}').is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }

    /// Two member names (ranges between quotes) in UTF-16 order: as bytes when neither has
    /// an escape or a character from U+E000 up, which is almost always.
    fn name_order(
        &self,
        a: std::ops::Range<usize>,
        b: std::ops::Range<usize>,
    ) -> Option<std::cmp::Ordering> {
        let (x, y) = (self.b.get(a.clone())?, self.b.get(b.clone())?);
        if x.iter().chain(y).all(|&c| c != b'\\' && c < 0xEE) {
            return Some(x.cmp(y));
        }
        Some(utf16_order(&self.decode(a)?, &self.decode(b)?))
    }

    /// A string whose escapes are exactly JCS's; returns the range between the quotes.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        self.string_plain().map(|(r, _)| r)
    }

    /// [`Canon::string`], also saying whether the string compares as bytes in UTF-16 order
    /// (no escape, no character from U+E000 up).
    fn string_plain(&mut self) -> Option<(std::ops::Range<usize>, bool)> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut plain = true;
        loop {
            let rest = self.b.get(self.pos..)?;
            let i = next_stop(rest)?;
            plain &= rest.get(..i)?.iter().fold(0u8, |h, &x| h.max(x)) < 0xEE;
            self.pos += i;
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some((start..self.pos - 1, plain));
                }
                b'\\' => {
                    plain = false;
                    let esc = self.b.get(self.pos + 1)?;
                    match esc {
                        b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r' => self.pos += 2,
                        b'u' => {
                            // Only control characters without a short escape.
                            let hex = self.b.get(self.pos + 2..self.pos + 6)?;
                            let ok = hex.starts_with(b"00")
                                && matches!(hex.get(2), Some(b'0' | b'1'))
                                && hex
                                    .get(3)
                                    .is_some_and(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
                            let code =
                                u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                            if !ok || matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.pos += 6;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// The text of a string (range between quotes) with its escapes undone.
    fn decode(&self, r: std::ops::Range<usize>) -> Option<std::borrow::Cow<'a, str>> {
        let raw = self.s.get(r)?;
        if !raw.contains('\\') {
            return Some(std::borrow::Cow::Borrowed(raw));
        }
        let quoted = format!("\"{raw}\"");
        serde_json::from_str::<String>(&quoted)
            .ok()
            .map(std::borrow::Cow::Owned)
    }

    /// A number written exactly as JCS writes its double.
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let rest = self.b.get(start..)?;
        let len = rest
            .iter()
            .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(rest.len());
        let tok = self.s.get(start..start + len)?;
        self.pos += len;
        let digits = tok.strip_prefix('-').unwrap_or(tok);
        // Integers of up to 15 digits are exact doubles, written as themselves.
        if !digits.is_empty()
            && digits.len() <= 15
            && digits.bytes().all(|c| c.is_ascii_digit())
            && (!digits.starts_with('0') || tok == "0")
        {
            return Some(());
        }
        // Rust accepts forms JSON does not (`.5`, `1.`, `+1`, `inf`): the round trip through
        // JCS's own writer refuses every one of them, since it never writes them.
        let x: f64 = tok.parse().ok()?;
        (format_number(x)? == tok).then_some(())
    }
}

/// Whether the exact value of the positive double `x` could have `k + 1` significant digits
/// (the one case where two shortest forms tie), decided from its binary form without
/// formatting: `x = m · 2^e` with `m` odd has an exact decimal form of `m · 5^-e` (for
/// `e < 0`), whose digits are counted directly; integers below 2^53 are written exactly.
fn may_tie(x: f64, k: usize) -> bool {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return false;
    }
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    if e >= 0 {
        // An integer: below 2^53 its digits are exact and unique.
        return x >= 9_007_199_254_740_992.0;
    }
    let q = e.unsigned_abs();
    // m · 5^q with m odd is odd, so it has no trailing zeros; more than 26 powers of 5 make
    // at least 19 digits, more than any tie (k ≤ 17) has.
    if q > 26 {
        return false;
    }
    let exact = u128::from(m) * 5u128.pow(q);
    exact.ilog10() as usize + 1 == k + 1
}

/// A JSON value read with duplicate member names refused.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member name `{key}`"
                )));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(hex: &str) -> f64 {
        f64::from_bits(u64::from_str_radix(hex, 16).unwrap())
    }

    /// RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        let table = [
            ("0000000000000000", "0"),
            ("8000000000000000", "0"),
            ("0000000000000001", "5e-324"),
            ("8000000000000001", "-5e-324"),
            ("7fefffffffffffff", "1.7976931348623157e+308"),
            ("ffefffffffffffff", "-1.7976931348623157e+308"),
            ("4340000000000000", "9007199254740992"),
            ("c340000000000000", "-9007199254740992"),
            ("4430000000000000", "295147905179352830000"),
            ("44b52d02c7e14af5", "9.999999999999997e+22"),
            ("44b52d02c7e14af6", "1e+23"),
            ("44b52d02c7e14af7", "1.0000000000000001e+23"),
            ("444b1ae4d6e2ef4e", "999999999999999700000"),
            ("444b1ae4d6e2ef4f", "999999999999999900000"),
            ("444b1ae4d6e2ef50", "1e+21"),
            ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
            ("3eb0c6f7a0b5ed8d", "0.000001"),
            ("41b3de4355555553", "333333333.3333332"),
            ("41b3de4355555554", "333333333.33333325"),
            ("41b3de4355555555", "333333333.3333333"),
            ("41b3de4355555556", "333333333.3333334"),
            ("41b3de4355555557", "333333333.33333343"),
            ("becbf647612f3696", "-0.0000033333333333333333"),
            ("43143ff3c1cb0959", "1424953923781206.2"),
        ];
        for (hex, want) in table {
            assert_eq!(format_number(bits(hex)).as_deref(), Some(want), "{hex}");
        }
        // The table's error rows: NaN and Infinity have no JSON form.
        for hex in ["7fffffffffffffff", "7ff0000000000000"] {
            assert_eq!(format_number(bits(hex)), None, "{hex}");
        }
    }

    /// RFC 8785 §3.2.2: the example with literals, numbers and string escapes.
    #[test]
    fn rfc8785_primitives_example() {
        let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
        let want = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        assert_eq!(canonicalize_str(input).unwrap(), want);
    }

    /// RFC 8785 §3.2.3: members sorted by UTF-16 code units.
    #[test]
    fn rfc8785_sorting_example() {
        let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
        let v = parse_strict(input).unwrap();
        let canon = canonicalize(&v);
        // serde_json's own map is sorted by UTF-8, so read the order from the text.
        let names = [
            "\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}",
        ];
        let mut at = 0;
        for name in names {
            let mut quoted = String::new();
            write_string(name, &mut quoted);
            let pos = canon[at..].find(&quoted).map(|p| p + at);
            assert!(pos.is_some(), "{name:?} out of order in {canon}");
            at = pos.unwrap() + quoted.len();
        }
        assert!(canon.starts_with("{\"\\r\":\"Carriage Return\",\"1\":\"One\","));
        assert!(canon.ends_with(
            "\"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        ));
    }

    /// The `weird.json` sample published beside RFC 8785 (its reference implementation's
    /// test data): sorting across planes, DEL and U+0080 written as themselves.
    #[test]
    fn published_weird_sample() {
        let input = "{\n  \"\\u20ac\": \"Euro Sign\",\n  \"1\": \"One\",\n  \"\\u0080\": \"Control\\u007f\",\n  \"\\ud83d\\ude02\": \"Smiley\",\n  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\",\n  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n  \"</script>\": \"Browser Challenge\"\n}\n";
        let want = "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😂\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canonicalize_str(input).unwrap(), want);
    }

    #[test]
    fn structures_and_whitespace() {
        assert_eq!(
            canonicalize_str(" [ 1 , { \"b\" : [ ] , \"a\" : { } } , \"x\" ] ").unwrap(),
            "[1,{\"a\":{},\"b\":[]},\"x\"]"
        );
        assert_eq!(canonicalize_str("-0").unwrap(), "0");
        assert_eq!(canonicalize_str("-0.0").unwrap(), "0");
        assert_eq!(canonicalize_str("1.0").unwrap(), "1");
        assert_eq!(canonicalize_str("100").unwrap(), "100");
        assert_eq!(canonicalize_str("1e21").unwrap(), "1e+21");
        assert_eq!(canonicalize_str("123e18").unwrap(), "123000000000000000000");
        assert_eq!(canonicalize_str("1e-7").unwrap(), "1e-7");
        assert_eq!(canonicalize_str("0.000001").unwrap(), "0.000001");
        assert_eq!(canonicalize_str("-1.5e-9").unwrap(), "-1.5e-9");
        // Integers beyond 2^53 become the nearest double, as in ECMAScript.
        assert_eq!(
            canonicalize_str("18446744073709551615").unwrap(),
            "18446744073709552000"
        );
        assert_eq!(
            canonicalize_str("9007199254740993").unwrap(),
            "9007199254740992"
        );
        assert_eq!(
            canonicalize_str("\"\\u001f\\u007f\\u2028\"").unwrap(),
            "\"\\u001f\u{7f}\u{2028}\""
        );
    }

    #[test]
    fn refuses_what_jcs_cannot_represent() {
        let dup = parse_strict("{\"a\":1,\"a\":2}").unwrap_err().to_string();
        assert!(dup.contains("duplicate member name `a`"), "{dup}");
        assert!(parse_strict("{\"a\":{\"b\":1,\"b\":1}}").is_err());
        assert!(parse_strict("\"\\ud800\"").is_err());
        assert!(parse_strict("1e400").is_err());
        assert!(parse_strict("[1] x").is_err());
        assert!(parse_strict("NaN").is_err());
    }

    /// The fast check agrees with the canonicalizer: canonical text passes with its members,
    /// and any text that passes is its own canonical form.
    #[test]
    fn canonical_object_agrees_with_canonicalize() {
        let mut members = Vec::new();
        let samples = [
            r#"{"b":[1,2.5,-0.001,1e+21,"x\n\u001f"],"a":{"z":null,"y":true},"€":"é","\r":0}"#,
            r#"{}"#,
            r#"{"a":{"b":{"c":[[],{}]}}}"#,
            r#"{"n":[9007199254740992,123456789012345678,1e-7,0.000001,-5e-324]}"#,
            r#"{"😀":1,"\ufb33":2,"\u0080":3}"#,
        ];
        for text in samples {
            let canon = canonicalize_str(text).unwrap();
            assert!(canonical_object(&canon, &mut members), "{canon}");
            let v = parse_strict(&canon).unwrap();
            assert_eq!(members.len(), v.as_object().unwrap().len());
            for m in &members {
                let key: String = serde_json::from_str(&canon[m.start..m.key.end + 1]).unwrap();
                let value: Value = serde_json::from_str(&canon[m.value.clone()]).unwrap();
                assert_eq!(v[&key], value);
            }
        }
        // Not canonical: whitespace, order, duplicates, escapes and numbers JCS writes otherwise.
        for text in [
            r#"{"a":1 }"#,
            r#"{ "a":1}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":1}"#,
            r#"{"a":"\u0041"}"#,
            r#"{"a":"\/"}"#,
            r#"{"a":"\u000a"}"#,
            r#"{"a":"\u001F"}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1e21}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":1E+21}"#,
            r#"{"a":tru}"#,
            r#"{"a":1}x"#,
            r#"[1]"#,
            "{\"a\":\"\t\"}",
        ] {
            assert!(!canonical_object(text, &mut members), "{text}");
        }
        // Deep nesting is left to the full parser.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(!canonical_object(&deep, &mut members));
    }

    /// Long strings (scanned many bytes at a time) with escapes and control characters
    /// anywhere.
    #[test]
    fn long_strings() {
        let mut members = Vec::new();
        let mut out = String::new();
        for n in [15, 16, 17, 31, 33, 100, 1000] {
            for at in [0, 1, 15, 16, 17, n / 2, n - 1]
                .into_iter()
                .filter(|&a| a < n)
            {
                let mut chars: Vec<char> = "abcdéfgh€ijklmnop".chars().cycle().take(n).collect();
                // An escaped quote: canonical.
                chars[at] = '"';
                let v = Value::String(chars.iter().collect());
                let text = format!("{{\"k\":{}}}", serde_json::to_string(&v).unwrap());
                assert!(canonical_object(&text, &mut members), "{text}");
                out.clear();
                assert!(canonicalize_text(&text, None, &mut out).is_some());
                assert_eq!(out, text);
                // A raw control character: not JSON.
                let raw = text.replacen("\\\"", "\u{1}", 1);
                assert!(!canonical_object(&raw, &mut members), "{raw:?}");
                assert!(canonicalize_text(&raw, None, &mut out).is_none(), "{raw:?}");
                // A string never closed.
                let open = &text[..text.len() - 2];
                assert!(!canonical_object(open, &mut members));
                assert!(canonicalize_text(open, None, &mut out).is_none());
            }
        }
    }

    /// Random values: canonical text always passes; mutated text passes only when it is the
    /// canonical form of what it says.
    #[test]
    fn canonical_object_on_random_values() {
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        fn random(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            let pick = next() % if depth > 3 { 5 } else { 7 };
            match pick {
                0 => Value::Null,
                1 => Value::Bool(next().is_multiple_of(2)),
                2 => {
                    let x = f64::from_bits(next());
                    if x.is_finite() {
                        serde_json::json!(x)
                    } else {
                        serde_json::json!(next() % 1000)
                    }
                }
                3 => serde_json::json!((next() % 100_000) as i64 - 50_000),
                4 => {
                    let alphabet = [
                        'a', 'Z', '"', '\\', '\n', '\u{1}', '\u{7f}', 'é', '€', '😀', '\u{fb33}',
                        '/',
                    ];
                    let n = next() % 6;
                    Value::String(
                        (0..n)
                            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                            .collect(),
                    )
                }
                5 => Value::Array((0..next() % 4).map(|_| random(next, depth + 1)).collect()),
                _ => {
                    let mut m = Map::new();
                    for _ in 0..next() % 5 {
                        let k = ["a", "b", "ts", "€", "😀", "\u{fb33}", "A", "\r"]
                            [(next() % 8) as usize];
                        m.insert(k.to_string(), random(next, depth + 1));
                    }
                    Value::Object(m)
                }
            }
        }
        let mut members = Vec::new();
        for _ in 0..3000 {
            let mut m = Map::new();
            m.insert("x".into(), random(&mut next, 0));
            m.insert("y".into(), random(&mut next, 0));
            let canon = canonicalize(&Value::Object(m));
            assert!(canonical_object(&canon, &mut members), "{canon}");
            // One byte changed: accepted only if it is still its own canonical form.
            let mut bytes = canon.clone().into_bytes();
            let i = (next() as usize) % bytes.len();
            let pool = b" \"{}[],:0123456789.eE+-atrue\\u";
            bytes[i] = pool[(next() as usize) % pool.len()];
            if let Ok(t) = String::from_utf8(bytes)
                && canonical_object(&t, &mut members)
            {
                assert_eq!(
                    canonicalize_str(&t).ok().as_deref(),
                    Some(t.as_str()),
                    "{t}"
                );
            }
        }
    }

    /// The quick tie filter never skips a value where a tie is possible: wherever it says
    /// no, the full check (18 correctly rounded digits ending in 5 at the right exponent)
    /// finds none either.
    #[test]
    fn tie_filter_is_conservative() {
        let mut state: u64 = 0x1234_5678_9abc_def1;
        let mut checked = 0;
        let mut values: Vec<f64> = vec![
            f64::from_bits(0x4314_3ff3_c1cb_0959),
            12.5,
            0.5,
            0.125,
            5e-324,
            2.5,
            9007199254740993.0,
        ];
        for _ in 0..15_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(f64::from_bits(state));
            // Short dyadic fractions, where ties live.
            values.push((state % 1_000_000) as f64 / f64::from(1u32 << (state % 20)));
        }
        for x in values {
            if !x.is_finite() || x == 0.0 {
                continue;
            }
            let x = x.abs();
            let sci = format!("{x:e}");
            let (m, _) = sci.split_once('e').unwrap();
            let k = m.chars().filter(|c| c.is_ascii_digit()).count();
            if may_tie(x, k) {
                continue;
            }
            checked += 1;
            let near = format!("{x:.17e}");
            let (m18, _) = near.split_once('e').unwrap();
            let mut d: String = m18.chars().filter(|c| c.is_ascii_digit()).collect();
            while d.len() > 1 && d.ends_with('0') {
                d.pop();
            }
            let exact = format!("{x:.800e}");
            let (me, _) = exact.split_once('e').unwrap();
            let mut de: String = me.chars().filter(|c| c.is_ascii_digit()).collect();
            while de.len() > 1 && de.ends_with('0') {
                de.pop();
            }
            assert!(
                !(d.len() == k + 1 && d.ends_with('5') && de == d),
                "{x}: a tie the filter skipped"
            );
        }
        assert!(checked > 10_000);
    }

    /// The one-pass canonicalizer gives what canonicalizing serde_json's value gives, for
    /// random values written compactly, pretty, with escapes and with members shuffled and
    /// repeated; and refuses what serde_json refuses.
    #[test]
    fn canonicalize_text_agrees_with_canonicalize() {
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        fn text_of(v: &Value, next: &mut dyn FnMut() -> u64, out: &mut String) {
            let ws = |next: &mut dyn FnMut() -> u64, out: &mut String| {
                if next().is_multiple_of(4) {
                    out.push_str([" ", "\n", "\t ", "\r\n"][(next() % 4) as usize]);
                }
            };
            match v {
                Value::Object(m) => {
                    out.push('{');
                    let mut items: Vec<(&String, &Value)> = m.iter().collect();
                    // Shuffle, and sometimes give a name twice (the last counts).
                    for i in (1..items.len()).rev() {
                        items.swap(i, (next() % (i as u64 + 1)) as usize);
                    }
                    let mut first = true;
                    for (k, v) in items {
                        if next().is_multiple_of(5) {
                            if !first {
                                out.push(',');
                            }
                            first = false;
                            out.push_str(&serde_json::to_string(k).unwrap());
                            out.push_str(":\"overwritten\"");
                        }
                        if !first {
                            out.push(',');
                        }
                        first = false;
                        ws(next, out);
                        // Escape some names and values the long way.
                        if next().is_multiple_of(3) {
                            out.push('"');
                            for c in k.chars() {
                                let mut b = [0u16; 2];
                                for u in c.encode_utf16(&mut b) {
                                    out.push_str(&format!("\\u{:04X}", u));
                                }
                            }
                            out.push('"');
                        } else {
                            out.push_str(&serde_json::to_string(k).unwrap());
                        }
                        ws(next, out);
                        out.push(':');
                        ws(next, out);
                        text_of(v, next, out);
                    }
                    out.push('}');
                }
                Value::Array(a) => {
                    out.push('[');
                    for (i, v) in a.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        ws(next, out);
                        text_of(v, next, out);
                    }
                    out.push(']');
                }
                Value::String(s) if next().is_multiple_of(2) => {
                    out.push('"');
                    for c in s.chars() {
                        match c {
                            '/' => out.push_str("\\/"),
                            c if c.is_ascii_alphanumeric() => out.push(c),
                            c => {
                                let mut b = [0u16; 2];
                                for u in c.encode_utf16(&mut b) {
                                    out.push_str(&format!("\\u{:04x}", u));
                                }
                            }
                        }
                    }
                    out.push('"');
                }
                Value::Number(n) if next().is_multiple_of(3) => {
                    // Another spelling of the same number.
                    let x = n.as_f64().unwrap();
                    out.push_str(&format!("{x:e}"));
                }
                v => out.push_str(&serde_json::to_string(v).unwrap()),
            }
        }
        fn random(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            match next() % if depth > 3 { 5 } else { 7 } {
                0 => Value::Null,
                1 => Value::Bool(next().is_multiple_of(2)),
                2 => {
                    let x = f64::from_bits(next());
                    if x.is_finite() {
                        serde_json::json!(x)
                    } else {
                        serde_json::json!(0.5)
                    }
                }
                3 => serde_json::json!((next() % 2_000_000) as i64 - 1_000_000),
                4 => {
                    let alphabet = [
                        'a', 'Z', '"', '\\', '\n', '\u{1}', '\u{7f}', 'é', '€', '😀', '\u{fb33}',
                        '/',
                    ];
                    let n = next() % 6;
                    Value::String(
                        (0..n)
                            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                            .collect(),
                    )
                }
                5 => Value::Array((0..next() % 4).map(|_| random(next, depth + 1)).collect()),
                _ => {
                    let mut m = Map::new();
                    for _ in 0..next() % 6 {
                        let k = ["a", "b", "ts", "€", "😀", "\u{fb33}", "A", "\r", "tool"]
                            [(next() % 9) as usize];
                        m.insert(k.to_string(), random(next, depth + 1));
                    }
                    Value::Object(m)
                }
            }
        }
        let mut c = Canonicalizer::default();
        let mut out = String::new();
        for _ in 0..3000 {
            let mut m = Map::new();
            for k in ["x", "ts", "€"] {
                if next().is_multiple_of(2) {
                    m.insert(k.into(), random(&mut next, 0));
                }
            }
            let v = Value::Object(m);
            let mut text = String::new();
            text_of(&v, &mut next, &mut text);
            let read: Value = serde_json::from_str(&text).unwrap();
            out.clear();
            assert!(c.write(&text, None, &mut out).is_some(), "{text}");
            assert_eq!(out, canonicalize(&read), "{text}");
            // With `ts` put in place of any the object has.
            let mut stamped = read.clone();
            stamped["ts"] = "2026-01-01T00:00:00Z".into();
            out.clear();
            assert!(
                c.write(&text, Some("\"ts\":\"2026-01-01T00:00:00Z\""), &mut out)
                    .is_some()
            );
            assert_eq!(out, canonicalize(&stamped), "{text}");
        }
        for bad in [
            "{",
            "{\"a\":}",
            "{\"a\":1,}",
            "[1,]",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\t\"}",
            "{\"a\":1e400}",
            "{\"a\":tru}",
            "{a:1}",
            "{\"a\":1} x",
            "{\"a\":NaN}",
            "{\"a\":+1}",
        ] {
            out.clear();
            assert!(c.write(bad, None, &mut out).is_none(), "{bad}");
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(c.write(&deep, None, &mut out).is_none());
    }

    /// Every double's text reads back as the same double, and agrees with Rust's plain
    /// notation wherever ECMAScript also uses plain notation.
    #[test]
    fn numbers_round_trip() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f64::from_bits(state);
            let Some(text) = format_number(x) else {
                assert!(!x.is_finite());
                continue;
            };
            let back: f64 = text.parse().unwrap();
            assert_eq!(
                back.to_bits(),
                if x == 0.0 { 0 } else { x.to_bits() },
                "{text}"
            );
            let a = x.abs();
            if (1e-6..1e21).contains(&a) {
                let rust = format!("{x}");
                // Rust does not break ties to even; ECMAScript does (see `tie_to_even`).
                let tie = text.len() == rust.len()
                    && text[..text.len() - 1] == rust[..rust.len() - 1]
                    && text.ends_with(['0', '2', '4', '6', '8']);
                assert!(text == rust || tie, "{text} vs {rust}");
            }
        }
    }
}
