//! A readable disassembly of a program: `govern build --listing`.

use std::fmt::Write as _;

use super::model::*;
use crate::check::format_number;
use crate::syntax::ast::quote_string;

/// The whole program, one line per slot, tracker, variable, rule, node and leaf, after a
/// header with what it may cost against the verifier's bounds (`len` is the bundle's size).
pub fn listing(m: &Model, digest: &str, len: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "; govern bundle, format {}, compiled by {}",
        super::FORMAT_VERSION,
        m.compiler
    );
    let _ = writeln!(o, "; bundle  {digest}");
    let _ = writeln!(o, "; sources sha256:{}", super::hex(&m.source_digest));
    let _ = writeln!(o, "; default {}", m.default);
    let _ = writeln!(
        o,
        "; {} rules, {} trackers, {} variables, {} nodes, {} leaves",
        m.rules.len(),
        m.trackers.len(),
        m.vars.len(),
        m.nodes.len(),
        m.leaves.len(),
    );
    let c = super::cost::Cost::of(m);
    let d = c.decision;
    let _ = writeln!(
        o,
        "; one decision: at most {} tests, {} units of work (limit {}), {} leaves and {} items merged (limit {})",
        d.tests,
        d.work,
        super::cost::MAX_WORK,
        d.leaves,
        d.merged,
        super::cost::MAX_MERGED,
    );
    let _ = writeln!(
        o,
        "; at load: {} bytes built (limit {}), {} regexes (limit {}) of {} bytes (limit {})",
        c.materialised,
        super::cost::materialised_limit(len),
        c.regexes,
        super::cost::MAX_REGEXES,
        c.regex_source,
        super::cost::MAX_REGEX_SOURCE,
    );
    o.push_str("\nslots:\n");
    for (i, _) in m.slots.iter().enumerate() {
        let _ = writeln!(o, "  s{i:<4} {}", m.slot_name(i as u32));
    }
    if !m.trackers.is_empty() {
        o.push_str("\ntrackers:\n");
        for (i, t) in m.trackers.iter().enumerate() {
            let _ = write!(o, "  t{i:<4} {}", t.kind.name());
            if let Some(v) = t.value {
                let _ = write!(o, " of {}", m.slot_name(v));
            }
            match t.within {
                Some(d) => {
                    let _ = write!(o, " within {}", duration(d));
                }
                None => o.push_str(" over the whole stream"),
            }
            let keys: Vec<String> = t.per.iter().map(|&s| m.slot_name(s)).collect();
            let _ = write!(o, " per {}", keys.join(", "));
            if !t.inner.is_empty() {
                let inner: Vec<String> = t.inner.iter().map(|i| format!("t{i}")).collect();
                let _ = write!(o, " (reads {})", inner.join(", "));
            }
            o.push('\n');
        }
    }
    o.push_str("\nvariables:\n");
    for (i, v) in m.vars.iter().enumerate() {
        let _ = writeln!(o, "  v{i:<4} {}", var(m, v));
    }
    o.push_str("\nrules:\n");
    for (i, r) in m.rules.iter().enumerate() {
        let file = m
            .files
            .get(r.file as usize)
            .map(String::as_str)
            .unwrap_or("?");
        let _ = write!(
            o,
            "  r{i:<4} {:<8} {}  {file}:{}:{}",
            r.effect.as_str(),
            r.id,
            r.line,
            r.column
        );
        if let Some(msg) = &r.message {
            let _ = write!(o, "  {}", quote_string(msg));
        }
        o.push('\n');
    }
    o.push_str("\ndiagram:\n");
    let roots: Vec<String> = m.roots.iter().map(|t| target(*t)).collect();
    let _ = writeln!(o, "  roots {}", roots.join(", "));
    for (i, n) in m.nodes.iter().enumerate() {
        let _ = writeln!(o, "  n{i:<4} {}", node(m, n));
    }
    o.push_str("\nleaves:\n");
    for (i, items) in m.leaves.iter().enumerate() {
        let _ = writeln!(o, "  L{i:<4} {}", leaf(m, items));
    }
    o
}

/// A duration in the largest unit that divides it.
pub fn duration(ns: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000_000_000i64),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ] {
        if ns != 0 && ns % size == 0 {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

fn target(t: Target) -> String {
    match t {
        Target::Node(n) => format!("n{n}"),
        Target::Leaf(l) => format!("L{l}"),
    }
}

/// An operand as a policy would write it.
pub fn operand(m: &Model, o: &Operand) -> String {
    match o {
        Operand::Slot { slot, .. } => m.slot_name(*slot),
        Operand::Str(s) => quote_string(s),
        Operand::Num(n) => format_number(*n),
        Operand::Bool(b) => b.to_string(),
        Operand::Func { func, arg } => format!("{}({})", func.name(), operand(m, arg)),
        Operand::Tracker(t) => match m.trackers.get(*t as usize) {
            Some(tr) => {
                let mut s = tr.kind.name().to_string();
                if let Some(v) = tr.value {
                    s.push_str(&format!(" of {}", m.slot_name(v)));
                }
                match tr.within {
                    Some(d) => s.push_str(&format!(" within {}", duration(d))),
                    None => s.push_str(" ever"),
                }
                let keys: Vec<String> = tr.per.iter().map(|&k| m.slot_name(k)).collect();
                format!("{s} per {} (t{t})", keys.join(", "))
            }
            None => format!("t{t}"),
        },
    }
}

/// A variable as a policy would write the test.
pub fn var(m: &Model, v: &Var) -> String {
    match v {
        Var::Switch {
            operand: op,
            consts,
        } => {
            let cs: Vec<String> = consts.iter().map(|c| quote_string(c)).collect();
            format!("switch {} [{}]", operand(m, op), cs.join(", "))
        }
        Var::Thresh { operand: op } => format!("number {}", operand(m, op)),
        Var::Bool {
            operand: op @ Operand::Tracker(_),
        } => operand(m, op),
        Var::Bool { operand: op } => format!("bool {}", operand(m, op)),
        Var::Has { slot } => format!("has {}", m.slot_name(*slot)),
        Var::Pred(p) => match p {
            Pred::Cmp { op, lhs, rhs } => {
                format!("{} {} {}", operand(m, lhs), op.as_str(), operand(m, rhs))
            }
            Pred::In { lhs, values } => {
                let vs: Vec<String> = values.iter().map(|v| operand(m, v)).collect();
                format!("{} in [{}]", operand(m, lhs), vs.join(", "))
            }
            Pred::Contains { hay, needle } => {
                format!("{} contains {}", operand(m, hay), operand(m, needle))
            }
            Pred::StartsWith { lhs, rhs } => {
                format!("{} starts_with {}", operand(m, lhs), operand(m, rhs))
            }
            Pred::EndsWith { lhs, rhs } => {
                format!("{} ends_with {}", operand(m, lhs), operand(m, rhs))
            }
            Pred::Regex {
                lhs, written, glob, ..
            } => {
                if *glob {
                    format!("{} like {}", operand(m, lhs), quote_string(written))
                } else {
                    format!("{} matches r{}", operand(m, lhs), raw(written))
                }
            }
        },
    }
}

fn raw(s: &str) -> String {
    let mut hashes = String::new();
    while s.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("{hashes}\"{s}\"{hashes}")
}

/// The regions of a threshold node, in order.
pub fn regions(cuts: &[f64]) -> Vec<String> {
    let mut out = Vec::with_capacity(2 * cuts.len() + 1);
    for (i, c) in cuts.iter().enumerate() {
        let c = format_number(*c);
        if i == 0 {
            out.push(format!("< {c}"));
        } else {
            out.push(format!(
                "({}, {c})",
                format_number(cuts.get(i - 1).copied().unwrap_or(0.0))
            ));
        }
        out.push(format!("= {c}"));
    }
    match cuts.last() {
        Some(c) => out.push(format!("> {}", format_number(*c))),
        None => out.push("any".into()),
    }
    out
}

fn node(m: &Model, n: &NodeDef) -> String {
    let v = n.var().and_then(|v| m.vars.get(v as usize));
    match n {
        NodeDef::Fork { children } => {
            let cs: Vec<String> = children.iter().map(|c| target(*c)).collect();
            format!("fork: {}", cs.join(", "))
        }
        NodeDef::Switch {
            var,
            branches,
            default,
            unknown,
        } => {
            let consts = match v {
                Some(Var::Switch { consts, .. }) => consts.as_slice(),
                _ => &[],
            };
            let name = match v {
                Some(Var::Switch { operand: op, .. }) => operand(m, op),
                _ => "?".into(),
            };
            let mut parts: Vec<String> = branches
                .iter()
                .map(|(c, t)| {
                    let s = consts
                        .get(*c as usize)
                        .map(|s| quote_string(s))
                        .unwrap_or_default();
                    format!("{s} -> {}", target(*t))
                })
                .collect();
            parts.push(format!("else -> {}", target(*default)));
            parts.push(format!("unknown -> {}", target(*unknown)));
            format!("switch v{var} {name}: {}", parts.join(", "))
        }
        NodeDef::Thresh {
            var,
            cuts,
            regions: rs,
            unknown,
        } => {
            let name = match v {
                Some(Var::Thresh { operand: op }) => operand(m, op),
                _ => "?".into(),
            };
            let mut parts: Vec<String> = regions(cuts)
                .into_iter()
                .zip(rs.iter())
                .map(|(r, t)| format!("{r} -> {}", target(*t)))
                .collect();
            parts.push(format!("unknown -> {}", target(*unknown)));
            format!("number v{var} {name}: {}", parts.join(", "))
        }
        NodeDef::Tri { var: vi, t, f, u } => {
            let name = v.map(|v| var(m, v)).unwrap_or_default();
            if matches!(v, Some(Var::Has { .. })) {
                format!(
                    "test v{vi} {name}: true -> {}, false -> {}",
                    target(*t),
                    target(*f)
                )
            } else {
                format!(
                    "test v{vi} {name}: true -> {}, false -> {}, unknown -> {}",
                    target(*t),
                    target(*f),
                    target(*u)
                )
            }
        }
    }
}

fn leaf(m: &Model, items: &[u32]) -> String {
    let s = m.summarize(items);
    let name = |r: &u32| {
        m.rules
            .get(*r as usize)
            .map(|x| x.id.clone())
            .unwrap_or_default()
    };
    let mut out = match s.verdict {
        Some(v) => {
            let rules: Vec<String> = s.determining.iter().map(name).collect();
            format!("{v} by {}", rules.join(", "))
        }
        None => format!("{} (default)", m.default),
    };
    if !s.warnings.is_empty() {
        let w: Vec<String> = s.warnings.iter().map(name).collect();
        let _ = write!(out, "; warn {}", w.join(", "));
    }
    if !s.unknown.is_empty() {
        let u: Vec<String> = s.unknown.iter().map(name).collect();
        let _ = write!(out, "; unknown {}", u.join(", "));
    }
    if !s.fires.is_empty() {
        let f: Vec<String> = s.fires.iter().map(|t| format!("t{t}")).collect();
        let _ = write!(out, "; record {}", f.join(", "));
    }
    if !s.maybes.is_empty() {
        let f: Vec<String> = s.maybes.iter().map(|t| format!("t{t}")).collect();
        let _ = write!(out, "; record as uncertain {}", f.join(", "));
    }
    out
}
