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
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
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
    if k >= 18 {
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
        let mut last: Option<std::borrow::Cow<'a, str>> = None;
        loop {
            let start = self.pos;
            let key = self.string()?;
            let name = self.decode(key.clone())?;
            if let Some(prev) = &last
                && prev.encode_utf16().cmp(name.encode_utf16()) != std::cmp::Ordering::Less
            {
                return None;
            }
            last = Some(name);
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

    /// A string whose escapes are exactly JCS's; returns the range between the quotes.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        self.eat(b'"')?;
        let start = self.pos;
        loop {
            let rest = self.b.get(self.pos..)?;
            let i = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            self.pos += i;
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(start..self.pos - 1);
                }
                b'\\' => {
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
