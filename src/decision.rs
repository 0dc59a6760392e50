//! A decision, as every evaluator returns it and as `eval` prints it (FORMATS "Decisions").

use std::fmt::Write as _;

use crate::check::Verdict;

/// What the policy decided for one event, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The determining rules (all matched rules with the winning effect), sorted by id;
    /// empty when the bundle default decided.
    pub rules: Vec<String>,
    /// The `because` messages of the determining rules, in rule order.
    pub messages: Vec<String>,
    /// Every matched `warn` rule, in rule order.
    pub warnings: Vec<Warning>,
    /// Attributes that were absent or mistyped where a rule whose condition came out unknown
    /// needed them, sorted.
    pub unknown: Vec<String>,
    /// `sha256:` digest of the bundle that decided.
    pub bundle: String,
    /// Why the event could not be evaluated; the verdict is then `deny`.
    pub error: Option<String>,
}

/// A matched `warn` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub rule: String,
    pub message: Option<String>,
}

impl Decision {
    /// The fail-closed decision for an event that could not be evaluated.
    pub fn error(bundle: &str, error: impl Into<String>) -> Decision {
        Decision {
            verdict: Verdict::Deny,
            rules: Vec::new(),
            messages: Vec::new(),
            warnings: Vec::new(),
            unknown: Vec::new(),
            bundle: bundle.to_string(),
            error: Some(error.into()),
        }
    }

    /// One JSON object on one line, fields in a fixed order.
    pub fn to_json_line(&self) -> String {
        let mut out = String::with_capacity(128);
        self.write_json(&mut out);
        out
    }

    /// Appends the JSON form to `out`.
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"decision\":\"");
        out.push_str(self.verdict.as_str());
        out.push_str("\",\"rules\":");
        write_str_array(out, self.rules.iter().map(String::as_str));
        out.push_str(",\"messages\":");
        write_str_array(out, self.messages.iter().map(String::as_str));
        out.push_str(",\"warnings\":[");
        for (i, w) in self.warnings.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"rule\":");
            write_json_str(out, &w.rule);
            if let Some(m) = &w.message {
                out.push_str(",\"message\":");
                write_json_str(out, m);
            }
            out.push('}');
        }
        out.push_str("],\"unknown\":");
        write_str_array(out, self.unknown.iter().map(String::as_str));
        out.push_str(",\"bundle\":");
        write_json_str(out, &self.bundle);
        if let Some(e) = &self.error {
            out.push_str(",\"error\":");
            write_json_str(out, e);
        }
        out.push('}');
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.to_json_line()).unwrap_or(serde_json::Value::Null)
    }
}

fn write_str_array<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, s);
    }
    out.push(']');
}

/// Appends `s` as a JSON string literal, escaped as RFC 8785 (JCS) prescribes: `"` and `\\`
/// escaped, control characters as `\\b \\t \\n \\f \\r` or `\\u00xx` (lowercase hex),
/// everything else as itself. Decisions and signed manifests share it.
pub fn write_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Copy runs of characters that need no escape in one go, found eight bytes at a time.
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let Some(e) = next_escape(bytes, i) else {
            break;
        };
        out.push_str(s.get(run..e).unwrap_or(""));
        run = e + 1;
        i = e + 1;
        push_escape(out, bytes.get(e).copied().unwrap_or(b'"'));
    }
    out.push_str(s.get(run..).unwrap_or(""));
    out.push('"');
}

/// Appends the RFC 8785 escape of `b`, a byte that [`must_escape`]: `\"`, `\\`, one of
/// `\b \t \n \f \r`, or `\u00xx` (lowercase hex). The one table of escapes, shared with
/// the canonicaliser in [`crate::sign::jcs`].
pub(crate) fn push_escape(out: &mut String, b: u8) {
    match b {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        0x08 => out.push_str("\\b"),
        b'\t' => out.push_str("\\t"),
        b'\n' => out.push_str("\\n"),
        0x0c => out.push_str("\\f"),
        b'\r' => out.push_str("\\r"),
        c => {
            let _ = write!(out, "\\u{:04x}", c);
        }
    }
}

/// Whether a byte must be escaped in a JSON string: `"`, `\\` or a control character.
pub(crate) fn must_escape(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// The first byte at or after `from` that must be escaped.
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether a word holds a zero byte (exact as a yes/no, not as to which byte).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut i = from;
    let rest = bytes.get(from..).unwrap_or(&[]);
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let v = u64::from_le_bytes(a);
        // A byte below 0x20 (a byte of `v` below 0x20 borrows into its high bit while its
        // own high bit is clear), `"` or `\\`.
        let control = v.wrapping_sub(ONES * 0x20) & !v & HIGH != 0;
        if (control || zero(v ^ (ONES * u64::from(b'"'))) || zero(v ^ (ONES * u64::from(b'\\'))))
            && let Some(p) = w.iter().position(|&b| must_escape(b))
        {
            return Some(i + p);
        }
        i += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| must_escape(b))
        .map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time scan escapes exactly what a byte-by-byte one does: every ASCII
    /// byte (and a multi-byte character) at every place of strings around the word size.
    #[test]
    fn strings_are_escaped_as_byte_by_byte() {
        fn slow(s: &str) -> String {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\u{8}' => out.push_str("\\b"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\u{c}' => out.push_str("\\f"),
                    '\r' => out.push_str("\\r"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let mut checked = 0;
        for len in 0..20 {
            for at in 0..len {
                for c in (0u8..0x80).map(char::from).chain(['é', '€', '😀']) {
                    let mut s: String = std::iter::repeat_n('a', len).collect();
                    s.replace_range(at..=at, c.encode_utf8(&mut [0; 4]));
                    // And a second one further on.
                    s.push(c);
                    let mut out = String::new();
                    write_json_str(&mut out, &s);
                    assert_eq!(out, slow(&s), "{s:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 20_000);
    }

    #[test]
    fn json_is_valid_and_ordered() {
        let d = Decision {
            verdict: Verdict::Deny,
            rules: vec!["p.a".into()],
            messages: vec!["no \"secrets\"\n".into()],
            warnings: vec![Warning {
                rule: "p.w".into(),
                message: None,
            }],
            unknown: vec!["args.path".into()],
            bundle: "sha256:00".into(),
            error: None,
        };
        let line = d.to_json_line();
        assert_eq!(
            line,
            r#"{"decision":"deny","rules":["p.a"],"messages":["no \"secrets\"\n"],"warnings":[{"rule":"p.w"}],"unknown":["args.path"],"bundle":"sha256:00"}"#
        );
        assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok());
    }

    #[test]
    fn strings_escape_like_serde() {
        for s in [
            "",
            "plain",
            "é \"q\" \\ \n\r\t\u{8}\u{c}\u{1}\u{1f} end",
            "\u{7f}€𝄞",
        ] {
            let mut out = String::new();
            write_json_str(&mut out, s);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }
}
