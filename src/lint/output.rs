//! Printing findings: for people (miette snippets), as JSON lines, as SARIF 2.1.0 for
//! code-scanning tools, and as GitHub Actions workflow annotations.

use serde_json::{Map, Value as Json, json};

use super::{Finding, Level, rules};
use crate::check::{Bundle, Loc};
use crate::diag::{Diag, RenderOptions, render_human};

/// `file`, line, column, end line and end column (1-based, columns in characters).
fn position(bundle: &Bundle, loc: Loc) -> Option<(String, usize, usize, usize, usize)> {
    let file = bundle.file(loc)?;
    let (l, c) = file.line_col(loc.span.start as usize);
    let (el, ec) = file.line_col(loc.span.end as usize);
    Some((file.name.clone(), l, c, el, ec))
}

/// The example request as one line of JSON.
fn witness_text(w: &Json) -> String {
    w.to_string()
}

/// A finding as a diagnostic, for the human renderer.
pub fn to_diag(bundle: &Bundle, f: &Finding) -> Diag {
    let mut d = Diag::error(format!("{} {}", f.code, f.name), f.message.clone())
        .with_severity(f.level.severity());
    let mut help = f.help.clone().unwrap_or_default();
    if let Some(loc) = f.loc
        && let Some(file) = bundle.file(loc)
    {
        d = d.at(file, loc.span, f.label.clone());
        for (rl, text) in &f.related {
            if rl.file == loc.file {
                d = d.label(rl.span, text.clone());
            } else if let Some((name, l, c, _, _)) = position(bundle, *rl) {
                help.push_str(&format!("\nsee {name}:{l}:{c}: {text}"));
            }
        }
    }
    if let Some(w) = &f.witness {
        if !help.is_empty() {
            help.push('\n');
        }
        help.push_str(&format!("example request: {}", witness_text(w)));
    }
    if !help.is_empty() {
        d = d.help(help);
    }
    d
}

/// The counts line: `2 errors, 1 warning` (or `no findings`).
pub fn summary(findings: &[Finding]) -> String {
    let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    for (l, one, many) in [
        (Level::Error, "error", "errors"),
        (Level::Warn, "warning", "warnings"),
        (Level::Info, "info", "infos"),
    ] {
        let n = count(l);
        if n > 0 {
            parts.push(plural(n, one, many));
        }
    }
    if parts.is_empty() {
        "no findings".to_string()
    } else {
        parts.join(", ")
    }
}

/// Every finding drawn with its source snippet, then the counts.
pub fn human(bundle: &Bundle, findings: &[Finding], color: bool) -> String {
    let mut s = String::new();
    for f in findings {
        s.push_str(&render_human(
            &to_diag(bundle, f),
            RenderOptions {
                color,
                ..RenderOptions::default()
            },
        ));
    }
    s.push_str(&summary(findings));
    s.push('\n');
    s
}

/// One JSON object per finding, one per line.
pub fn json_lines(bundle: &Bundle, findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let mut o = Map::new();
        o.insert("code".into(), f.code.into());
        o.insert("name".into(), f.name.into());
        o.insert("level".into(), f.level.as_str().into());
        o.insert("message".into(), f.message.clone().into());
        if let Some((file, l, c, el, ec)) = f.loc.and_then(|loc| position(bundle, loc)) {
            o.insert("file".into(), file.into());
            o.insert("line".into(), l.into());
            o.insert("column".into(), c.into());
            o.insert("end_line".into(), el.into());
            o.insert("end_column".into(), ec.into());
        }
        if !f.label.is_empty() {
            o.insert("label".into(), f.label.clone().into());
        }
        if let Some(h) = &f.help {
            o.insert("help".into(), h.clone().into());
        }
        let related: Vec<Json> = f
            .related
            .iter()
            .filter_map(|(loc, text)| {
                let (file, l, c, _, _) = position(bundle, *loc)?;
                Some(json!({"file": file, "line": l, "column": c, "message": text}))
            })
            .collect();
        if !related.is_empty() {
            o.insert("related".into(), related.into());
        }
        if let Some(w) = &f.witness {
            o.insert("witness".into(), w.clone());
        }
        s.push_str(&Json::Object(o).to_string());
        s.push('\n');
    }
    s
}

fn sarif_level(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "note",
    }
}

/// A relative path as a URI reference: `/` separators, unsafe bytes percent-encoded.
fn uri(path: &str) -> String {
    let mut s = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/@!$&'()*+,;=".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn sarif_location(bundle: &Bundle, loc: Loc) -> Option<Json> {
    let (file, l, c, el, ec) = position(bundle, loc)?;
    let snippet = bundle
        .file(loc)
        .and_then(|f| f.text.get(loc.span.range()))
        .unwrap_or("");
    Some(json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri(&file)},
            "region": {
                "startLine": l,
                "startColumn": c,
                "endLine": el,
                "endColumn": ec,
                "snippet": {"text": snippet}
            }
        }
    }))
}

/// A SARIF 2.1.0 log with one run: every lint as a rule (docs as help), every finding as a
/// result.
pub fn sarif(bundle: &Bundle, findings: &[Finding]) -> String {
    let rules_json: Vec<Json> = rules::ALL
        .iter()
        .map(|l| {
            json!({
                "id": l.code,
                "name": l.name,
                "shortDescription": {"text": l.summary()},
                "fullDescription": {"text": l.docs()},
                "help": {"text": l.docs(), "markdown": l.docs()},
                "defaultConfiguration": {"level": sarif_level(l.level)},
                "properties": {"tags": [if l.code.starts_with("G01") { "semantic" } else { "authoring" }]}
            })
        })
        .collect();
    let results: Vec<Json> = findings
        .iter()
        .map(|f| {
            let mut r = Map::new();
            r.insert("ruleId".into(), f.code.into());
            if let Some(i) = rules::ALL.iter().position(|l| l.code == f.code) {
                r.insert("ruleIndex".into(), i.into());
            }
            r.insert("level".into(), sarif_level(f.level).into());
            let mut text = f.message.clone();
            if let Some(h) = &f.help {
                text.push_str(&format!("\nhelp: {h}"));
            }
            if let Some(w) = &f.witness {
                text.push_str(&format!("\nexample request: {}", witness_text(w)));
            }
            r.insert("message".into(), json!({"text": text}));
            if let Some(loc) = f.loc.and_then(|loc| sarif_location(bundle, loc)) {
                r.insert("locations".into(), json!([loc]));
            }
            let related: Vec<Json> = f
                .related
                .iter()
                .enumerate()
                .filter_map(|(i, (loc, t))| {
                    let mut l = sarif_location(bundle, *loc)?;
                    if let Some(o) = l.as_object_mut() {
                        o.insert("id".into(), i.into());
                        o.insert("message".into(), json!({"text": t}));
                    }
                    Some(l)
                })
                .collect();
            if !related.is_empty() {
                r.insert("relatedLocations".into(), related.into());
            }
            if let Some(w) = &f.witness {
                r.insert("properties".into(), json!({"witness": w}));
            }
            Json::Object(r)
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "govern",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules_json
            }},
            "columnKind": "unicodeCodePoints",
            "results": results
        }]
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}

/// A SARIF 2.1.0 log for a run that could not lint: the policies (or `govern.toml`) could not
/// be read, parsed or checked. Code-scanning uploads refuse an empty file, so the log is
/// complete, with no results, the run marked unsuccessful and each problem as a tool
/// execution notification that points at the file, line and column.
pub fn sarif_input_errors(diags: &[crate::diag::Diag]) -> String {
    let notes: Vec<Json> = diags
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text.push_str(&format!("\nhelp: {h}"));
            }
            let mut n = Map::new();
            let level = match d.severity {
                crate::diag::Severity::Error => "error",
                crate::diag::Severity::Warning => "warning",
                crate::diag::Severity::Info => "note",
            };
            n.insert("level".into(), level.into());
            n.insert("message".into(), json!({"text": text}));
            n.insert("descriptor".into(), json!({"id": d.code}));
            if let Some((file, line, col)) = d.position() {
                let mut region = Map::new();
                if line > 0 {
                    region.insert("startLine".into(), line.into());
                    if col > 0 {
                        region.insert("startColumn".into(), col.into());
                    }
                }
                let mut physical = Map::new();
                physical.insert("artifactLocation".into(), json!({"uri": uri(&file)}));
                if !region.is_empty() {
                    physical.insert("region".into(), Json::Object(region));
                }
                n.insert(
                    "locations".into(),
                    json!([{"physicalLocation": Json::Object(physical)}]),
                );
            }
            Json::Object(n)
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "govern", "version": env!("CARGO_PKG_VERSION")}},
            "invocations": [{
                "executionSuccessful": false,
                "toolExecutionNotifications": notes
            }],
            "columnKind": "unicodeCodePoints",
            "results": []
        }]
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}

/// Escapes the message of a workflow command.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property of a workflow command.
fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions workflow commands (`::error file=…,line=…::message`), one per finding.
pub fn github(bundle: &Bundle, findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let cmd = match f.level {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some((file, l, c, el, ec)) = f.loc.and_then(|loc| position(bundle, loc)) {
            props.push(format!("file={}", gh_prop(&file)));
            props.push(format!("line={l}"));
            props.push(format!("col={c}"));
            props.push(format!("endLine={el}"));
            props.push(format!("endColumn={ec}"));
        }
        props.push(format!(
            "title={}",
            gh_prop(&format!("{} {}", f.code, f.name))
        ));
        let mut msg = f.message.clone();
        if let Some(h) = &f.help {
            msg.push_str(&format!("\nhelp: {h}"));
        }
        if let Some(w) = &f.witness {
            msg.push_str(&format!("\nexample request: {}", witness_text(w)));
        }
        s.push_str(&format!("::{cmd} {}::{}\n", props.join(","), gh_data(&msg)));
    }
    s
}

/// Input problems (syntax, type, I/O errors) as workflow commands, so that they show on the
/// diff as well.
pub fn github_diags(diags: &[Diag]) -> String {
    let mut s = String::new();
    for d in diags {
        let cmd = match d.severity {
            crate::diag::Severity::Error => "error",
            crate::diag::Severity::Warning => "warning",
            crate::diag::Severity::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some((file, line, col)) = d.position() {
            props.push(format!("file={}", gh_prop(&file)));
            if line > 0 {
                props.push(format!("line={line}"));
            }
            if col > 0 {
                props.push(format!("col={col}"));
            }
        }
        props.push(format!("title={}", gh_prop(&d.code)));
        let mut msg = d.message.clone();
        if let Some(h) = &d.help {
            msg.push_str(&format!("\nhelp: {h}"));
        }
        s.push_str(&format!("::{cmd} {}::{}\n", props.join(","), gh_data(&msg)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(gh_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(gh_prop("a:b,c"), "a%3Ab%2Cc");
        // A `:` in the first segment would make a relative path read as a URI scheme.
        assert_eq!(uri("a:b/c d.gov"), "a%3Ab/c%20d.gov");
        assert_eq!(uri("dir/my file.gov"), "dir/my%20file.gov");
    }
}
