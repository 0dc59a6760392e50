//! Printing a diff: for people (grouped, with the rules' source lines on both sides), as one
//! JSON document, as GitHub Actions annotations, as a SARIF 2.1.0 log, and as Markdown for a
//! pull-request comment.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use super::{Group, Region, Report, RuleChange, RuleRef, Status, at};
use crate::decision::Decision;
use crate::source::printable;

const OLD: usize = 0;
const NEW: usize = 1;

fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn arrow(g: &Group) -> String {
    format!("{} → {}", g.from, g.to)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary line.
pub fn summary(r: &Report) -> String {
    let differs = r.count(Status::Differs);
    let may = r.count(Status::MayDiffer);
    let bad = r.count(Status::Unconfirmed);
    let opening = r
        .groups
        .iter()
        .filter(|g| g.opens())
        .map(|g| g.regions.len() + g.more as usize)
        .sum::<usize>();
    if r.groups.is_empty() && r.rule_changes.is_empty() {
        return if !r.complete() {
            "no change found, but not everything was proved (see above)".to_string()
        } else if r.all {
            "no change: the two versions decide every request identically (proved)".to_string()
        } else {
            "no verdict changes: the two versions give every request the same verdict (proved)"
                .to_string()
        };
    }
    let mut parts = vec![format!(
        "{} with a witness",
        plural(differs, "region differs", "regions differ")
    )];
    if may > 0 {
        parts.push(format!("{may} may differ"));
    }
    if bad > 0 {
        parts.push(format!("{bad} unconfirmed"));
    }
    let more: u64 = r
        .groups
        .iter()
        .map(|g| g.more)
        .chain(r.rule_changes.iter().map(|c| c.more))
        .sum();
    if more > 0 {
        parts.push(format!("{more} more not listed"));
    }
    let mut s = format!(
        "{} of verdict changes ({} opening access), {}",
        plural(r.groups.len(), "group", "groups"),
        plural(opening, "region", "regions"),
        parts.join(", ")
    );
    if r.all {
        s.push_str(&format!(
            "; {}",
            plural(r.rule_changes.len(), "rule change", "rule changes")
        ));
    }
    if !r.complete() {
        s.push_str("; not everything was proved");
    }
    s
}

fn rule_lines(out: &mut String, r: Option<&RuleRef>, id: &str, color: bool) {
    let Some(r) = r else {
        let _ = writeln!(out, "       {}", printable(id));
        return;
    };
    let _ = writeln!(
        out,
        "       {}  {}:{}",
        paint(color, "1", &printable(&r.id)),
        printable(&r.file),
        r.line
    );
    match &r.text {
        Some(text) => {
            for (i, l) in text.lines().enumerate() {
                if i == 8 {
                    let _ = writeln!(out, "         │ …");
                    break;
                }
                let _ = writeln!(out, "         │ {}", printable(l.trim_end()));
            }
        }
        None => {
            if let Some(m) = &r.message {
                let _ = writeln!(out, "         │ {} because {:?}", r.effect.as_str(), m);
            }
        }
    }
}

/// The conditions every region of a list shares (as written), in order.
fn common(regions: &[Region]) -> Vec<String> {
    let Some((first, rest)) = regions.split_first() else {
        return Vec::new();
    };
    if rest.is_empty() {
        return Vec::new();
    }
    first
        .short
        .iter()
        .filter(|c| rest.iter().all(|r| r.short.contains(c)))
        .cloned()
        .collect()
}

fn conditions_lines(out: &mut String, conds: &[&String], indent: usize) {
    let pad = " ".repeat(indent);
    for (i, c) in conds.iter().enumerate() {
        let lead = if i == 0 { "    " } else { "and " };
        let _ = writeln!(out, "{pad}{lead}{}", printable(c));
    }
}

fn regions_lines(out: &mut String, regions: &[Region], more: u64, color: bool) {
    let shared = common(regions);
    if !shared.is_empty() {
        let _ = writeln!(out, "  in every region below:");
        let refs: Vec<&String> = shared.iter().collect();
        conditions_lines(out, &refs, 6);
    }
    for (i, reg) in regions.iter().enumerate() {
        let (tag, code) = match reg.proof.status {
            Status::Differs => ("differs", "32"),
            Status::MayDiffer => ("may differ", "33"),
            Status::Unconfirmed => ("UNCONFIRMED", "31"),
        };
        let own: Vec<&String> = reg.short.iter().filter(|c| !shared.contains(c)).collect();
        let what = if reg.short.is_empty() {
            " every request"
        } else if own.is_empty() {
            " (nothing more)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}. {}{what}", i + 1, paint(color, code, tag));
        conditions_lines(out, &own, 6);
        let label = match reg.proof.status {
            Status::Differs => "witness",
            _ => "closest",
        };
        if let Some(ev) = &reg.proof.event {
            let _ = writeln!(out, "      {label} {}", printable(&ev.to_string()));
        }
        if reg.proof.status != Status::Differs
            && let Some([o, n]) = &reg.proof.decisions
        {
            let _ = writeln!(
                out,
                "      which both decide: {} (old), {} (new)",
                o.verdict, n.verdict
            );
        }
        if let Some(note) = &reg.proof.note {
            let _ = writeln!(out, "      {}", printable(note));
        }
    }
    if more > 0 {
        let _ = writeln!(
            out,
            "  … {}",
            plural(more as usize, "more region", "more regions")
        );
    }
}

/// The report for people.
pub fn human(r: &Report, color: bool) -> String {
    let mut out = String::new();
    for (name, s) in [("old", &r.sides[OLD]), ("new", &r.sides[NEW])] {
        let _ = writeln!(
            out,
            "{name}  {}  ({}, {}, default {})",
            printable(&s.label),
            short_digest(&s.digest),
            plural(s.rules, "rule", "rules"),
            s.default
        );
    }
    out.push('\n');
    for g in &r.groups {
        let what = if g.opens() {
            paint(color, "1;31", &format!("{}  opens access", arrow(g)))
        } else {
            paint(color, "1", &format!("{}  closes access", arrow(g)))
        };
        let _ = writeln!(out, "{what}");
        match &g.rules {
            Some(rules) => {
                for (s, name, verdict) in [(OLD, "old", g.from), (NEW, "new", g.to)] {
                    let ids = at(rules, s);
                    if ids.is_empty() {
                        let _ = writeln!(out, "  {name}  {verdict} by the default");
                    } else {
                        let _ = writeln!(out, "  {name}  {verdict} by");
                        for id in ids {
                            rule_lines(&mut out, at(&r.rules, s).get(id), id, color);
                        }
                    }
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "  (determining rules not computed: see the witnesses' decisions)"
                );
            }
        }
        regions_lines(&mut out, &g.regions, g.more, color);
        out.push('\n');
    }
    if r.all && !r.rule_changes.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(color, "1", "rule changes at the same verdict")
        );
        for c in &r.rule_changes {
            let _ = writeln!(
                out,
                "  {} {}",
                paint(color, "1", &printable(&c.rule)),
                c.kind.describe()
            );
            for (s, name) in [(OLD, "old"), (NEW, "new")] {
                if let Some(rr) = at(&r.rules, s).get(&c.rule) {
                    let _ = writeln!(out, "  {name}");
                    rule_lines(&mut out, Some(rr), &c.rule, color);
                }
            }
            regions_lines(&mut out, &c.regions, c.more, color);
        }
        out.push('\n');
    }
    for u in &r.unproved {
        let _ = writeln!(out, "{} {}", paint(color, "1;33", "not proved:"), u);
    }
    if !r.unproved.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary(r));
    out
}

fn short_digest(d: &str) -> String {
    match d.get(..19) {
        Some(p) if d.len() > 19 => format!("{p}…"),
        _ => d.to_string(),
    }
}

fn region_json(reg: &Region) -> Json {
    serde_json::to_value(RegionOut::of(reg)).unwrap_or(Json::Null)
}

// The JSON report is written straight from the report, not built as a tree of values first
// (building, writing and freeing that tree took most of the time after a large comparison).
// Each struct's fields are in the order of their keys, as a tree's sorted map wrote them, so
// the text is the same.

/// A region in the JSON report.
#[derive(Serialize)]
struct RegionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    closest: Option<&'a Json>,
    conditions: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<DecisionOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old: Option<DecisionOut<'a>>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    witness: Option<&'a Json>,
}

impl RegionOut<'_> {
    fn of(reg: &Region) -> RegionOut<'_> {
        let differs = reg.proof.status == Status::Differs;
        let event = reg.proof.event.as_ref();
        let [old, new] = match &reg.proof.decisions {
            Some([a, b]) => [Some(DecisionOut::of(a)), Some(DecisionOut::of(b))],
            None => [None, None],
        };
        RegionOut {
            closest: event.filter(|_| !differs),
            conditions: &reg.conditions,
            new,
            note: reg.proof.note.as_deref(),
            old,
            status: reg.proof.status.as_str(),
            witness: event.filter(|_| differs),
        }
    }
}

/// A decision in the JSON report: the members of [`Decision::to_json`]'s tree, in the sorted
/// order that tree writes them in, borrowed from the decision rather than written as text
/// and read back.
#[derive(Serialize)]
struct DecisionOut<'a> {
    bundle: &'a str,
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    messages: &'a [String],
    rules: &'a [String],
    unknown: &'a [String],
    warnings: Vec<WarningOut<'a>>,
}

/// A warning of a [`DecisionOut`], its members sorted.
#[derive(Serialize)]
struct WarningOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    rule: &'a str,
}

impl DecisionOut<'_> {
    fn of(d: &Decision) -> DecisionOut<'_> {
        DecisionOut {
            bundle: &d.bundle,
            decision: d.verdict.as_str(),
            error: d.error.as_deref(),
            messages: &d.messages,
            rules: &d.rules,
            unknown: &d.unknown,
            warnings: d
                .warnings
                .iter()
                .map(|w| WarningOut {
                    message: w.message.as_deref(),
                    rule: &w.rule,
                })
                .collect(),
        }
    }
}

/// A list of regions in the JSON report, each written as it comes.
struct RegionsOut<'a>(&'a [Region]);

impl Serialize for RegionsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(RegionOut::of))
    }
}

/// A rule in the JSON report.
#[derive(Serialize)]
struct RuleOut<'a> {
    column: u32,
    effect: &'static str,
    file: &'a str,
    line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

/// The rules of one side, by id.
struct RulesOut<'a>(&'a BTreeMap<String, RuleRef>);

impl Serialize for RulesOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(id, r)| {
            (
                id,
                RuleOut {
                    column: r.column,
                    effect: r.effect.as_str(),
                    file: &r.file,
                    line: r.line,
                    message: r.message.as_deref(),
                },
            )
        }))
    }
}

/// A group of changes in the JSON report.
#[derive(Serialize)]
struct GroupOut<'a> {
    from: &'static str,
    more: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_rules: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_rules: Option<&'a [String]>,
    opens_access: bool,
    regions: RegionsOut<'a>,
    to: &'static str,
}

/// A rule-level change in the JSON report.
#[derive(Serialize)]
struct RuleChangeOut<'a> {
    change: &'static str,
    more: u64,
    regions: RegionsOut<'a>,
    rule: &'a str,
}

/// A side in the JSON report.
#[derive(Serialize)]
struct SideOut<'a> {
    bundle: &'a str,
    default: &'static str,
    label: &'a str,
    rules: usize,
}

#[derive(Serialize)]
struct BothRulesOut<'a> {
    new: RulesOut<'a>,
    old: RulesOut<'a>,
}

#[derive(Serialize)]
struct StatsOut {
    nodes: usize,
    regions_proved_empty: u64,
    variables: usize,
}

/// The JSON report.
#[derive(Serialize)]
struct ReportOut<'a> {
    changes: Vec<GroupOut<'a>>,
    complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    equivalent: Option<bool>,
    new: SideOut<'a>,
    old: SideOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_changes: Option<Vec<RuleChangeOut<'a>>>,
    rules: BothRulesOut<'a>,
    stats: StatsOut,
    unproved: &'a [String],
}

/// The whole report as one JSON document.
pub fn json(r: &Report) -> String {
    json_on(r, 1)
}

/// A group of changes as the JSON report writes it.
fn group_out(g: &Group) -> GroupOut<'_> {
    GroupOut {
        from: g.from.as_str(),
        more: g.more,
        new_rules: g.rules.as_ref().map(|rs| rs[NEW].as_slice()),
        old_rules: g.rules.as_ref().map(|rs| rs[OLD].as_slice()),
        opens_access: g.opens(),
        regions: RegionsOut(&g.regions),
        to: g.to.as_str(),
    }
}

/// How the pretty-printed document starts when it has no changes: the key `changes` is
/// its first.
const NO_CHANGES: &str = "{\n  \"changes\": []";

/// [`json`], the groups of changes written on up to `jobs` threads: each group is
/// pretty-printed on its own and indented to its place in the `changes` array (the
/// printer's lines, two spaces a level, the group two levels deep; a string's line breaks
/// are escaped, so every line break in the text is the printer's), and the rest of the
/// document is written around them. The same text as one pass over the whole document.
pub fn json_on(r: &Report, jobs: usize) -> String {
    let side = |s: usize| {
        let x = at(&r.sides, s);
        SideOut {
            bundle: &x.digest,
            default: x.default.as_str(),
            label: &x.label,
            rules: x.rules,
        }
    };
    let jobs = jobs.clamp(1, r.groups.len().max(1));
    let apart = jobs > 1;
    let doc = ReportOut {
        changes: if apart {
            Vec::new()
        } else {
            r.groups.iter().map(group_out).collect()
        },
        complete: r.complete(),
        equivalent: r.all.then(|| r.equivalent()),
        new: side(NEW),
        old: side(OLD),
        rule_changes: r.all.then(|| {
            r.rule_changes
                .iter()
                .map(|c: &RuleChange| RuleChangeOut {
                    change: c.kind.as_str(),
                    more: c.more,
                    regions: RegionsOut(&c.regions),
                    rule: &c.rule,
                })
                .collect()
        }),
        rules: BothRulesOut {
            new: RulesOut(at(&r.rules, NEW)),
            old: RulesOut(at(&r.rules, OLD)),
        },
        stats: StatsOut {
            nodes: r.nodes,
            regions_proved_empty: r.infeasible,
            variables: r.vars,
        },
        unproved: &r.unproved,
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    if apart {
        match s.strip_prefix(NO_CHANGES) {
            Some(rest) => {
                let changes = changes_json(&r.groups, jobs);
                let mut whole = String::with_capacity(changes.len() + s.len() + 16);
                whole.push_str("{\n  \"changes\": [");
                // Each group's text starts with ",\n    ": the first one's comma is dropped.
                whole.push_str(changes.get(1..).unwrap_or_default());
                whole.push_str("\n  ]");
                whole.push_str(rest);
                s = whole;
            }
            None => return json_on(r, 1),
        }
    }
    s.push('\n');
    s
}

/// The groups of changes as the elements of the JSON report's `changes` array, each after
/// `,\n` and its indentation, written by up to `jobs` threads (each a run of consecutive
/// groups, joined in order).
fn changes_json(groups: &[Group], jobs: usize) -> String {
    let write = |part: &[Group]| {
        let mut out = String::new();
        for g in part {
            let text = serde_json::to_string_pretty(&group_out(g)).unwrap_or_default();
            out.reserve(text.len() + text.len() / 8 + 8);
            for (i, line) in text.split('\n').enumerate() {
                out.push_str(if i == 0 { ",\n    " } else { "\n    " });
                out.push_str(line);
            }
        }
        out
    };
    let per = groups.len().div_ceil(jobs.max(1)).max(1);
    let mut parts = groups.chunks(per);
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let write = &write;
        let handles: Vec<_> = parts.map(|p| scope.spawn(move || write(p))).collect();
        let mut all = write(first);
        for h in handles {
            match h.join() {
                Ok(text) => all.push_str(&text),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        all
    })
}

/// Where a change is best shown: the new side's determining rules, else the old side's.
fn anchor<'r>(r: &'r Report, g: &Group) -> Option<&'r RuleRef> {
    let rules = g.rules.as_ref()?;
    rules[NEW]
        .iter()
        .find_map(|id| r.rules[NEW].get(id))
        .or_else(|| rules[OLD].iter().find_map(|id| r.rules[OLD].get(id)))
}

fn group_message(r: &Report, g: &Group) -> String {
    let mut msg = format!(
        "{}: {}",
        arrow(g),
        if g.opens() {
            "this change opens access"
        } else {
            "this change closes access"
        }
    );
    if let Some(rules) = &g.rules {
        for (s, name, v) in [(OLD, "old", g.from), (NEW, "new", g.to)] {
            let ids = at(rules, s);
            if ids.is_empty() {
                let _ = write!(msg, "\n{name}: {v} by the default");
            } else {
                let named: Vec<String> = ids
                    .iter()
                    .map(|id| match at(&r.rules, s).get(id) {
                        Some(rr) => format!("{id} ({}:{})", rr.file, rr.line),
                        None => id.clone(),
                    })
                    .collect();
                let _ = write!(msg, "\n{name}: {v} by {}", named.join(", "));
            }
        }
    }
    for (i, reg) in g.regions.iter().enumerate() {
        let _ = write!(
            msg,
            "\n{}. {} where {}",
            i + 1,
            reg.proof.status.as_str(),
            reg.short.join(" and ")
        );
        if let Some(ev) = &reg.proof.event {
            let _ = write!(msg, "\n   example request: {ev}");
        }
    }
    if g.more > 0 {
        let _ = write!(msg, "\n… {} more", g.more);
    }
    msg
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

/// GitHub Actions workflow commands: one annotation per group of verdict changes, on the
/// rule that decides it in the new version (or the old one, when the new one decides by
/// default); a warning where access opens, a notice where it closes.
pub fn github(r: &Report) -> String {
    let mut out = String::new();
    for g in &r.groups {
        let level = if g.opens() { "warning" } else { "notice" };
        let mut props = Vec::new();
        if let Some(rr) = anchor(r, g) {
            props.push(format!("file={}", gh_prop(&rr.path)));
            props.push(format!("line={}", rr.line));
        }
        props.push(format!(
            "title={}",
            gh_prop(&format!("govern diff: {}", arrow(g)))
        ));
        let _ = writeln!(
            out,
            "::{level} {}::{}",
            props.join(","),
            gh_data(&group_message(r, g))
        );
    }
    for c in &r.rule_changes {
        let rr = r.rules[NEW]
            .get(&c.rule)
            .or_else(|| r.rules[OLD].get(&c.rule));
        let mut props = Vec::new();
        if let Some(rr) = rr {
            props.push(format!("file={}", gh_prop(&rr.path)));
            props.push(format!("line={}", rr.line));
        }
        props.push(format!("title={}", gh_prop("govern diff: rule change")));
        let mut msg = format!("{} {} (same verdict)", c.rule, c.kind.describe());
        for reg in &c.regions {
            let _ = write!(msg, "\n- {}", reg.short.join(" and "));
        }
        let _ = writeln!(out, "::notice {}::{}", props.join(","), gh_data(&msg));
    }
    for u in &r.unproved {
        let _ = writeln!(
            out,
            "::warning title={}::{}",
            gh_prop("govern diff: not proved"),
            gh_data(u)
        );
    }
    out
}

/// A relative path as a URI reference.
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

fn sarif_location(rr: &RuleRef, message: Option<&str>) -> Json {
    let mut l = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri(&rr.path)},
            "region": {"startLine": rr.line.max(1), "startColumn": rr.column.max(1)}
        }
    });
    if let (Some(m), Some(o)) = (message, l.as_object_mut()) {
        o.insert("message".into(), json!({"text": m}));
    }
    l
}

/// The kinds of result a diff reports, as SARIF rules.
const SARIF_RULES: [(&str, &str); 4] = [
    (
        "opens-access",
        "A policy change gives a verdict more permissive than before (deny → allow, deny → escalate, escalate → allow).",
    ),
    (
        "closes-access",
        "A policy change gives a verdict stricter than before.",
    ),
    (
        "rule-change",
        "A rule's part in decisions changes (determining, message, warning) while the verdict stays the same.",
    ),
    (
        "not-proved",
        "A part of the comparison went past its budget: changes there are not ruled out.",
    ),
];

/// A SARIF 2.1.0 log: one result per group of verdict changes, located on the rules that
/// decide in the new version (old ones as related locations).
pub fn sarif(r: &Report) -> String {
    let rules: Vec<Json> = SARIF_RULES
        .iter()
        .map(|(id, text)| json!({"id": id, "shortDescription": {"text": text}}))
        .collect();
    let mut results = Vec::new();
    for g in &r.groups {
        let (rule, level) = if g.opens() {
            ("opens-access", "warning")
        } else {
            ("closes-access", "note")
        };
        let mut o = Map::new();
        o.insert("ruleId".into(), rule.into());
        o.insert("level".into(), level.into());
        o.insert("message".into(), json!({"text": group_message(r, g)}));
        if let Some(rules) = &g.rules {
            let new_locs: Vec<Json> = rules[NEW]
                .iter()
                .filter_map(|id| r.rules[NEW].get(id))
                .map(|rr| sarif_location(rr, None))
                .collect();
            let old_locs: Vec<Json> = rules[OLD]
                .iter()
                .filter_map(|id| r.rules[OLD].get(id))
                .enumerate()
                .map(|(i, rr)| {
                    let mut l = sarif_location(rr, Some(&format!("old: {}", rr.id)));
                    if let Some(obj) = l.as_object_mut() {
                        obj.insert("id".into(), i.into());
                    }
                    l
                })
                .collect();
            if !new_locs.is_empty() {
                o.insert("locations".into(), Json::Array(new_locs));
            } else if let Some(first) = old_locs.first() {
                o.insert("locations".into(), json!([first]));
            }
            if !old_locs.is_empty() {
                o.insert("relatedLocations".into(), Json::Array(old_locs));
            }
        }
        let regions: Vec<Json> = g.regions.iter().map(region_json).collect();
        o.insert(
            "properties".into(),
            json!({"from": g.from.as_str(), "to": g.to.as_str(), "regions": regions, "more": g.more}),
        );
        results.push(Json::Object(o));
    }
    for c in &r.rule_changes {
        let mut o = Map::new();
        o.insert("ruleId".into(), "rule-change".into());
        o.insert("level".into(), "note".into());
        o.insert(
            "message".into(),
            json!({"text": format!("{} {} (same verdict)", c.rule, c.kind.describe())}),
        );
        if let Some(rr) = r.rules[NEW]
            .get(&c.rule)
            .or_else(|| r.rules[OLD].get(&c.rule))
        {
            o.insert("locations".into(), json!([sarif_location(rr, None)]));
        }
        let regions: Vec<Json> = c.regions.iter().map(region_json).collect();
        o.insert(
            "properties".into(),
            json!({"change": c.kind.as_str(), "regions": regions, "more": c.more}),
        );
        results.push(Json::Object(o));
    }
    for u in &r.unproved {
        results.push(json!({
            "ruleId": "not-proved",
            "level": "warning",
            "message": {"text": u},
        }));
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "govern diff",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules
            }},
            "columnKind": "unicodeCodePoints",
            "results": results
        }]
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}

/// Inline code in Markdown, whatever backticks the text holds.
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let mut fence = "`".to_string();
    while s.contains(&fence) {
        fence.push('`');
    }
    if s.starts_with('`') || s.ends_with('`') {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

/// Markdown for a pull-request comment.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### govern diff: {} → {}\n",
        code(&r.sides[OLD].label),
        code(&r.sides[NEW].label)
    );
    let _ = writeln!(out, "**{}**\n", summary(r));
    for g in &r.groups {
        let _ = writeln!(
            out,
            "#### {} ({})\n",
            arrow(g),
            if g.opens() {
                "opens access"
            } else {
                "closes access"
            }
        );
        if let Some(rules) = &g.rules {
            for (s, name, v) in [(OLD, "old", g.from), (NEW, "new", g.to)] {
                let ids = at(rules, s);
                if ids.is_empty() {
                    let _ = writeln!(out, "- {name}: **{v}** by the default");
                } else {
                    let named: Vec<String> = ids
                        .iter()
                        .map(|id| match at(&r.rules, s).get(id) {
                            Some(rr) => format!(
                                "{} ({})",
                                code(id),
                                code(&format!("{}:{}", rr.file, rr.line))
                            ),
                            None => code(id),
                        })
                        .collect();
                    let _ = writeln!(out, "- {name}: **{v}** by {}", named.join(", "));
                }
            }
            out.push('\n');
        }
        for (i, reg) in g.regions.iter().enumerate() {
            let conds: Vec<String> = reg.short.iter().map(|c| code(c)).collect();
            let status = match reg.proof.status {
                Status::Differs => "differs",
                Status::MayDiffer => "may differ",
                Status::Unconfirmed => "unconfirmed",
            };
            let _ = writeln!(
                out,
                "{}. **{status}** where {}",
                i + 1,
                if conds.is_empty() {
                    "every request".to_string()
                } else {
                    conds.join(" and ")
                }
            );
            if let Some(ev) = &reg.proof.event {
                let _ = writeln!(out, "   example: {}", code(&ev.to_string()));
            }
        }
        if g.more > 0 {
            let _ = writeln!(out, "\n… and {} more regions", g.more);
        }
        out.push('\n');
    }
    if r.all && !r.rule_changes.is_empty() {
        let _ = writeln!(out, "#### Rule changes at the same verdict\n");
        for c in &r.rule_changes {
            let _ = writeln!(out, "- {} {}", code(&c.rule), c.kind.describe());
            for reg in &c.regions {
                let conds: Vec<String> = reg.short.iter().map(|x| code(x)).collect();
                let _ = writeln!(out, "  - where {}", conds.join(" and "));
            }
        }
        out.push('\n');
    }
    for u in &r.unproved {
        let _ = writeln!(out, "> **Not proved:** {u}");
    }
    out
}
