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
    out.push('"');
    // Copy runs of characters that need no escape in one go.
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        if b != b'"' && b != b'\\' && b >= 0x20 {
            continue;
        }
        out.push_str(s.get(run..i).unwrap_or(""));
        run = i + 1;
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
    out.push_str(s.get(run..).unwrap_or(""));
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

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
