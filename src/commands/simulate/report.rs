//! The simulate report for people (tables on a terminal, aligned text otherwise) and as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::bytecode::model::Verdict;
use crate::stream::engine::{Comparison, Report, Row, Unknowns};

/// Rows shown per table in the text report (the JSON report lists all).
pub const SHOWN_ROWS: usize = 15;
/// Flip groups shown per comparison in the text report.
pub const SHOWN_FLIPS: usize = 20;
/// Skipped bad records listed in the text report.
pub const SHOWN_ERRORS: usize = 10;

/// The outcome of one `--fail-on` gate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateResult {
    pub gate: String,
    pub passed: bool,
    pub detail: String,
}

/// The JSON report document.
#[derive(Serialize)]
pub struct JsonReport<'a> {
    /// Version of this document's shape.
    pub version: u32,
    /// The policy as named on the command line (paths or bundle file).
    pub policy: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_policy: Option<&'a str>,
    #[serde(flatten)]
    pub report: &'a Report,
    pub gates: &'a [GateResult],
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        return "0.0%".into();
    }
    format!("{:.1}%", n as f64 * 100.0 / of as f64)
}

/// `sha256:0123456789ab…`
pub fn short_digest(d: &str) -> String {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}…", hex.get(..12).unwrap_or(hex)),
        _ => d.to_string(),
    }
}

/// A table: plain aligned text, or drawn with box characters.
struct Table {
    head: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: &[(&str, bool)]) -> Table {
        Table {
            head: head.iter().map(|(h, _)| h.to_string()).collect(),
            right: head.iter().map(|(_, r)| *r).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row. Cells hold names taken from the traces, so they are made printable.
    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| crate::source::printable(&c).into_owned())
                .collect(),
        );
    }

    fn render(&self, fancy: bool, out: &mut String) {
        if fancy {
            use comfy_table::{CellAlignment, ContentArrangement, modifiers, presets};
            let mut t = comfy_table::Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED)
                .apply_modifier(modifiers::UTF8_ROUND_CORNERS)
                .set_content_arrangement(ContentArrangement::Disabled)
                .set_header(self.head.clone());
            for r in &self.rows {
                t.add_row(r.clone());
            }
            for (i, right) in self.right.iter().enumerate() {
                if *right && let Some(c) = t.column_mut(i) {
                    c.set_cell_alignment(CellAlignment::Right);
                }
            }
            for line in t.to_string().lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
            return;
        }
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.head.iter().map(|h| width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(width(c));
                }
            }
        }
        let line = |cells: &[String], out: &mut String| {
            let mut s = String::from("  ");
            for (i, c) in cells.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                let pad = " ".repeat(w.saturating_sub(width(c)));
                if i > 0 {
                    s.push_str("  ");
                }
                if self.right.get(i).copied().unwrap_or(false) {
                    s.push_str(&pad);
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.push_str(&pad);
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&self.head, out);
        for r in &self.rows {
            line(r, out);
        }
    }
}

fn more(out: &mut String, shown: usize, total: usize) {
    if total > shown {
        let _ = writeln!(
            out,
            "  … {} more (`--format json` lists all)",
            thousands((total - shown) as u64)
        );
    }
}

fn breakdown(out: &mut String, title: &str, key: &str, rows: &[Row], fancy: bool) {
    let _ = writeln!(out, "\n{title}");
    let mut t = Table::new(&[
        (key, false),
        ("events", true),
        ("allow", true),
        ("deny", true),
        ("escalate", true),
    ]);
    for r in rows.iter().take(SHOWN_ROWS) {
        let name = if r.other {
            "(other)".to_string()
        } else {
            r.name.clone().unwrap_or_else(|| "(none)".into())
        };
        t.row(vec![
            name,
            thousands(r.events),
            thousands(r.verdicts.allow),
            thousands(r.verdicts.deny),
            thousands(r.verdicts.escalate),
        ]);
    }
    t.render(fancy, out);
    more(out, SHOWN_ROWS.min(rows.len()), rows.len());
}

fn comparison(out: &mut String, title: &str, c: &Comparison, fancy: bool) {
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(
        out,
        "  {} compared, {} agree, {} flipped",
        thousands(c.compared),
        thousands(c.agree),
        thousands(c.flipped)
    );
    if c.flipped == 0 {
        return;
    }
    let mut t = Table::new(&[("from", false), ("to", false), ("events", true)]);
    for tr in c.transitions.iter().filter(|t| t.from != t.to) {
        t.row(vec![
            tr.from.as_str().to_string(),
            tr.to.as_str().to_string(),
            thousands(tr.events),
        ]);
    }
    t.render(fancy, out);
    let _ = writeln!(out, "  flips by rule and tool:");
    let mut t = Table::new(&[
        ("flip", false),
        ("rule", false),
        ("tool", false),
        ("events", true),
        ("examples", false),
    ]);
    for g in c.flips.iter().take(SHOWN_FLIPS) {
        let examples: Vec<String> = g
            .examples
            .iter()
            .map(|e| match e.column {
                Some(col) => format!("{}:{}:{col}", e.file, e.line),
                None => format!("{}:{}", e.file, e.line),
            })
            .collect();
        t.row(vec![
            format!("{} → {}", g.from.as_str(), g.to.as_str()),
            g.rule.clone().unwrap_or_else(|| "(default)".into()),
            g.tool.clone().unwrap_or_else(|| "(none)".into()),
            thousands(g.events),
            examples.join(", "),
        ]);
    }
    t.render(fancy, out);
    more(out, SHOWN_FLIPS.min(c.flips.len()), c.flips.len());
}

fn unknowns(out: &mut String, u: &Unknowns, events: u64, fancy: bool) {
    let _ = writeln!(out, "\nunknown attributes");
    if u.decisions == 0 && u.rules.is_empty() {
        let _ = writeln!(
            out,
            "  none: every rule found the attributes it reads, of the types it needs"
        );
        return;
    }
    let decided = u.decided.total();
    let by_verdict: Vec<String> = [Verdict::Deny, Verdict::Escalate, Verdict::Allow]
        .into_iter()
        .filter(|v| u.decided.get(*v) > 0)
        .map(|v| format!("{} {}", thousands(u.decided.get(v)), v.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "  {} of {} decisions ({}) had unknown attributes; they decided {} ({}){}",
        thousands(u.decisions),
        thousands(events),
        pct(u.decisions, events),
        thousands(decided),
        pct(decided, events),
        if by_verdict.is_empty() {
            String::new()
        } else {
            format!(": {}", by_verdict.join(", "))
        }
    );
    let mut t = Table::new(&[
        ("attribute", false),
        ("unknown in", true),
        ("absent", true),
        ("wrong type", true),
        ("decided", true),
    ]);
    for a in u.attributes.iter().take(SHOWN_ROWS) {
        t.row(vec![
            a.attribute.clone(),
            thousands(a.decisions),
            thousands(a.absent),
            thousands(a.mistyped),
            thousands(a.decided),
        ]);
    }
    t.render(fancy, out);
    more(out, SHOWN_ROWS.min(u.attributes.len()), u.attributes.len());
    for a in u.attributes.iter().take(SHOWN_ROWS) {
        if a.present == 0 && a.decided > 0 {
            let name = crate::source::printable(&a.attribute);
            let _ = writeln!(
                out,
                "  `{name}` is never set: no event has it (check how the traces are made, or what the rules read)",
            );
        }
    }
    let _ = writeln!(out, "  by rule:");
    let mut t = Table::new(&[
        ("rule", false),
        ("effect", false),
        ("unknown in", true),
        ("decided", true),
        ("attributes", false),
    ]);
    for r in u.rules.iter().take(SHOWN_ROWS) {
        let attrs: Vec<String> = r
            .attributes
            .iter()
            .map(|a| format!("{} ({})", a.attribute, thousands(a.decisions)))
            .collect();
        t.row(vec![
            r.rule.clone(),
            r.effect.clone(),
            thousands(r.decisions),
            thousands(r.decided),
            attrs.join(", "),
        ]);
    }
    t.render(fancy, out);
    more(out, SHOWN_ROWS.min(u.rules.len()), u.rules.len());
}

/// The text report.
pub fn text(
    r: &Report,
    policy: &str,
    baseline: Option<&str>,
    gates: &[GateResult],
    fancy: bool,
) -> String {
    let mut out = String::new();
    let inputs = r.inputs.len();
    let _ = writeln!(
        out,
        "simulated {} events from {} {} with {} ({})",
        thousands(r.events),
        inputs,
        if inputs == 1 { "trace" } else { "traces" },
        policy,
        short_digest(&r.bundle)
    );
    if let (Some(b), Some(d)) = (baseline, &r.baseline_bundle) {
        let _ = writeln!(out, "baseline {b} ({})", short_digest(d));
    }
    let _ = writeln!(out, "\nverdicts");
    let mut t = Table::new(&[("verdict", false), ("events", true), ("share", true)]);
    for v in [Verdict::Allow, Verdict::Deny, Verdict::Escalate] {
        let n = r.verdicts.get(v);
        t.row(vec![v.as_str().into(), thousands(n), pct(n, r.events)]);
    }
    t.render(fancy, &mut out);
    if r.errors > 0 {
        let _ = writeln!(
            out,
            "  skipped {} bad {} (--max-errors {}):",
            thousands(r.errors),
            if r.errors == 1 { "record" } else { "records" },
            r.max_errors
        );
        for e in r.error_list.iter().take(SHOWN_ERRORS) {
            let _ = writeln!(out, "    {}", crate::source::printable(&e.to_string()));
        }
        more(
            &mut out,
            SHOWN_ERRORS.min(r.errors as usize),
            r.errors as usize,
        );
    }
    if r.not_events > 0 {
        let _ = writeln!(
            out,
            "  {} {} not agent actions (other spans or MCP messages) and not decided{}",
            thousands(r.not_events),
            if r.not_events == 1 {
                "record was"
            } else {
                "records were"
            },
            if r.not_event_kinds.is_empty() {
                ""
            } else {
                ":"
            }
        );
        let mut kinds: Vec<(&String, &u64)> = r.not_event_kinds.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (kind, n) in kinds {
            let _ = writeln!(out, "    {:>7}  {kind}", thousands(*n));
        }
    }
    if r.truncated_args.events > 0 {
        let t = &r.truncated_args;
        let _ = writeln!(
            out,
            "  {} {} tool arguments cut short by the exporter's attribute length limit, decided with `args` unknown:",
            thousands(t.events),
            if t.events == 1 {
                "event had"
            } else {
                "events had"
            },
        );
        for p in &t.examples {
            let _ = writeln!(out, "    {}", crate::source::printable(&p.to_string()));
        }
        more(&mut out, t.examples.len(), t.events as usize);
    }
    if r.untimed > 0 {
        let _ = writeln!(
            out,
            "  {} {} a `ts` more than {} from stream time and {} decided with `ts` unknown",
            thousands(r.untimed),
            if r.untimed == 1 {
                "event had"
            } else {
                "events had"
            },
            crate::bytecode::listing::duration(crate::vm::StreamLimits::MAX_SKEW),
            if r.untimed == 1 { "was" } else { "were" },
        );
    }
    if r.refused > 0 {
        let _ = writeln!(
            out,
            "  {} {} refused at --max-keys {}: keys the state could not hold were decided unknown (fail closed)",
            thousands(r.refused),
            if r.refused == 1 {
                "record was"
            } else {
                "records were"
            },
            r.max_keys,
        );
    }
    if inputs > 1 || r.inputs.iter().any(|i| i.format != "jsonl") {
        let _ = writeln!(out, "\ninputs");
        let mut t = Table::new(&[
            ("trace", false),
            ("format", false),
            ("events", true),
            ("bad", true),
            ("not events", true),
        ]);
        for i in r.inputs.iter().take(SHOWN_ROWS) {
            t.row(vec![
                i.file.clone(),
                i.format.clone(),
                thousands(i.events),
                thousands(i.errors),
                thousands(i.not_events),
            ]);
        }
        t.render(fancy, &mut out);
        more(&mut out, SHOWN_ROWS.min(inputs), inputs);
    }
    breakdown(&mut out, "by tool", "tool", &r.by_tool, fancy);
    breakdown(&mut out, "by agent", "agent", &r.by_agent, fancy);
    let _ = writeln!(out, "\nby determining rule");
    let mut t = Table::new(&[("rule", false), ("effect", false), ("events", true)]);
    for row in r.by_rule.iter().take(SHOWN_ROWS) {
        t.row(vec![
            row.rule.clone(),
            row.effect.clone(),
            thousands(row.events),
        ]);
    }
    if r.by_default > 0 {
        t.row(vec![
            "(default)".into(),
            r.default_verdict.as_str().into(),
            thousands(r.by_default),
        ]);
    }
    t.render(fancy, &mut out);
    more(&mut out, SHOWN_ROWS.min(r.by_rule.len()), r.by_rule.len());
    let _ = writeln!(
        out,
        "  (an event that several rules decide counts under each)"
    );
    unknowns(&mut out, &r.unknown, r.events, fancy);
    match &r.recorded {
        Some(c) => comparison(&mut out, "against recorded decisions", c, fancy),
        None => {
            let _ = writeln!(
                out,
                "\nagainst recorded decisions\n  no event carries a recorded `decision`"
            );
        }
    }
    if let Some(c) = &r.baseline {
        comparison(&mut out, "against the baseline", c, fancy);
    }
    if !gates.is_empty() {
        let _ = writeln!(out, "\ngates");
        let mut t = Table::new(&[("gate", false), ("result", false), ("detail", false)]);
        for g in gates {
            t.row(vec![
                g.gate.clone(),
                if g.passed { "passed" } else { "FAILED" }.into(),
                g.detail.clone(),
            ]);
        }
        t.render(fancy, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(pct(1, 3), "33.3%");
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123"),
            "sha256:0123456789ab…"
        );
    }

    #[test]
    fn tables_plain_and_drawn() {
        let mut t = Table::new(&[("tool", false), ("events", true)]);
        t.row(vec!["web_search".into(), "1,200".into()]);
        t.row(vec!["x".into(), "3".into()]);
        let mut plain = String::new();
        t.render(false, &mut plain);
        assert_eq!(
            plain,
            "  tool        events\n  web_search   1,200\n  x                3\n"
        );
        let mut drawn = String::new();
        t.render(true, &mut drawn);
        assert!(drawn.contains("│ web_search ┆  1,200 │"), "{drawn}");
        assert!(drawn.starts_with("  ╭"), "{drawn}");
    }
}
