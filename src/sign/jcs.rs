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
