//! Regions in the policy language's own terms: each step of a path as the condition a policy
//! would write (`tool == "file_read"`, `args.amount > 1000`, `not has agent.id`,
//! `args.path matches r"\.env$"`), and unknown outcomes as what makes them unknown.

use crate::bytecode::listing::duration;
use crate::bytecode::model::{Operand, Pred, Var};
use crate::check::format_number;
use crate::compile::analysis::{Branch, Step};
use crate::syntax::ast::{display_path, quote_string};

use super::Side;
use super::space::Space;

/// Writes conditions for one joint space.
pub struct Describer<'s> {
    vars: Vec<Var>,
    slots: Vec<Vec<String>>,
    /// The two sides, whose sources give the trackers' texts …
    sides: [&'s Side; 2],
    /// … through each side's map of its trackers to the joint ones.
    tracker_maps: [Vec<u32>; 2],
    /// Each joint tracker's call as the space describes it, for a tracker no side's sources
    /// give.
    fallback: Vec<String>,
    /// The source text of each joint tracker's call, when a side has sources: found on the
    /// first description of a tracker (finding it lowers each side's sources again, which
    /// most comparisons, describing no tracker, need not; the new side's only when the old
    /// side lacks a tracker).
    trackers: std::sync::OnceLock<Vec<String>>,
}

impl<'s> Describer<'s> {
    pub fn new(space: &Space, sides: [&'s Side; 2]) -> Describer<'s> {
        Describer {
            vars: space.vars.clone(),
            slots: space.slots.clone(),
            sides,
            tracker_maps: space.sides.each_ref().map(|m| m.tracker.clone()),
            fallback: (0..space.trackers.len())
                .map(|k| fallback_tracker(space, k))
                .collect(),
            trackers: std::sync::OnceLock::new(),
        }
    }

    /// The text of each joint tracker's call: its source text on a side that has sources,
    /// else [`fallback_tracker`]'s.
    fn trackers(&self) -> &[String] {
        self.trackers.get_or_init(|| {
            let mut texts: Vec<Option<String>> = vec![None; self.fallback.len()];
            for (side, map) in self.sides.iter().zip(&self.tracker_maps) {
                // The new side's sources are lowered only for trackers the old side lacks.
                if texts.iter().all(Option::is_some) {
                    break;
                }
                let Some(bundle) = &side.bundle else {
                    continue;
                };
                let of_stateful = crate::compile::stateful_trackers(bundle);
                for (i, t) in of_stateful.iter().enumerate() {
                    let Some(&k) = map.get(*t as usize) else {
                        continue;
                    };
                    let Some(slot) = texts.get_mut(k as usize) else {
                        continue;
                    };
                    if slot.is_some() {
                        continue;
                    }
                    let Some(st) = bundle.statefuls.get(i) else {
                        continue;
                    };
                    let text = bundle
                        .file(st.loc)
                        .and_then(|f| f.text.get(st.loc.span.range()))
                        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "));
                    *slot = text;
                }
            }
            texts
                .into_iter()
                .zip(&self.fallback)
                .map(|(t, f)| t.unwrap_or_else(|| f.clone()))
                .collect()
        })
    }

    fn slot(&self, slot: u32) -> String {
        self.slots
            .get(slot as usize)
            .map(|p| display_path(p.iter().map(String::as_str)))
            .unwrap_or_else(|| "?".into())
    }

    /// An operand as a policy writes it.
    pub fn operand(&self, o: &Operand) -> String {
        match o {
            Operand::Slot { slot, .. } => self.slot(*slot),
            Operand::Str(s) => quote_string(s),
            Operand::Num(n) => format_number(*n),
            Operand::Bool(b) => b.to_string(),
            Operand::Func { func, arg } => format!("{}({})", func.name(), self.operand(arg)),
            Operand::Tracker(t) => self
                .trackers()
                .get(*t as usize)
                .cloned()
                .unwrap_or_else(|| format!("t{t}")),
        }
    }

    fn pred(&self, p: &Pred) -> String {
        match p {
            Pred::Cmp { op, lhs, rhs } => format!(
                "{} {} {}",
                self.operand(lhs),
                op.as_str(),
                self.operand(rhs)
            ),
            Pred::In { lhs, values } => {
                let vs: Vec<String> = values.iter().map(|v| self.operand(v)).collect();
                format!("{} in [{}]", self.operand(lhs), vs.join(", "))
            }
            Pred::Contains { hay, needle } => {
                format!("{} contains {}", self.operand(hay), self.operand(needle))
            }
            Pred::StartsWith { lhs, rhs } => {
                format!("{} starts_with {}", self.operand(lhs), self.operand(rhs))
            }
            Pred::EndsWith { lhs, rhs } => {
                format!("{} ends_with {}", self.operand(lhs), self.operand(rhs))
            }
            Pred::Regex {
                lhs, written, glob, ..
            } => {
                if *glob {
                    format!("{} like {}", self.operand(lhs), quote_string(written))
                } else {
                    format!("{} matches r{}", self.operand(lhs), raw(written))
                }
            }
        }
    }

    /// What makes an operand unknown.
    fn unknown(&self, o: &Operand, ty: &str) -> String {
        match o {
            Operand::Slot { .. } => format!("{} is absent or not {ty}", self.operand(o)),
            _ => format!("{} is unknown", self.operand(o)),
        }
    }

    /// One step as a condition; lists of more than `max_list` constants are cut short.
    pub fn step(&self, st: &Step, max_list: usize) -> String {
        let Some(var) = self.vars.get(st.var as usize) else {
            return "?".into();
        };
        match var {
            Var::Switch { operand, consts } => {
                let x = self.operand(operand);
                let c = |i: &u32| {
                    consts
                        .get(*i as usize)
                        .map(|s| quote_string(s))
                        .unwrap_or_default()
                };
                match &st.branch {
                    Branch::Const(i) => format!("{x} == {}", c(i)),
                    Branch::Other(excl) => match excl.as_slice() {
                        [] => format!("{x} is a string"),
                        [one] => format!("{x} != {}", c(one)),
                        many => {
                            let mut shown: Vec<String> =
                                many.iter().take(max_list).map(c).collect();
                            if many.len() > max_list {
                                shown.push(format!("… {} more", many.len() - max_list));
                            }
                            format!("{x} not in [{}]", shown.join(", "))
                        }
                    },
                    _ => self.unknown(operand, "a string"),
                }
            }
            Var::Thresh { operand } => {
                let x = self.operand(operand);
                match &st.branch {
                    Branch::Range { lo, hi } => match (lo, hi) {
                        (Some((l, true)), Some((h, true))) if l == h => {
                            format!("{x} == {}", format_number(*l))
                        }
                        (None, None) => format!("{x} is a number"),
                        _ => {
                            let mut parts = Vec::new();
                            if let Some((l, inc)) = lo {
                                let op = if *inc { ">=" } else { ">" };
                                parts.push(format!("{x} {op} {}", format_number(*l)));
                            }
                            if let Some((h, inc)) = hi {
                                let op = if *inc { "<=" } else { "<" };
                                parts.push(format!("{x} {op} {}", format_number(*h)));
                            }
                            parts.join(" and ")
                        }
                    },
                    _ => self.unknown(operand, "a number"),
                }
            }
            Var::Bool { operand } => {
                let x = self.operand(operand);
                match &st.branch {
                    Branch::True => x,
                    Branch::False => format!("not {x}"),
                    _ => self.unknown(operand, "a bool"),
                }
            }
            Var::Has { slot } => match &st.branch {
                Branch::False => format!("not has {}", self.slot(*slot)),
                _ => format!("has {}", self.slot(*slot)),
            },
            Var::Pred(p) => {
                let text = self.pred(p);
                match &st.branch {
                    Branch::True => text,
                    Branch::False => format!("not ({text})"),
                    _ => format!("({text}) is unknown"),
                }
            }
        }
    }

    /// Every step of a path.
    pub fn path(&self, steps: &[Step], max_list: usize) -> Vec<String> {
        steps.iter().map(|s| self.step(s, max_list)).collect()
    }

    /// [`Describer::path`] with no limit and with lists cut at `max_list`, together: a step
    /// is written once, and again only when `max_list` cuts its list (a string outside
    /// more than `max_list` constants, the one case [`Describer::step`] cuts).
    pub fn path_both(&self, steps: &[Step], max_list: usize) -> (Vec<String>, Vec<String>) {
        let mut full = Vec::with_capacity(steps.len());
        let mut short = Vec::with_capacity(steps.len());
        for st in steps {
            let text = self.step(st, usize::MAX);
            let cut = matches!(self.vars.get(st.var as usize), Some(Var::Switch { .. }))
                && matches!(&st.branch, Branch::Other(excl) if excl.len() > max_list);
            short.push(if cut {
                self.step(st, max_list)
            } else {
                text.clone()
            });
            debug_assert_eq!(short.last(), Some(&self.step(st, max_list)));
            full.push(text);
        }
        (full, short)
    }

    /// Several outcomes of one variable, any of which: `tool in ["a", "b"]` for constants of
    /// a switch, else the conditions joined with `or`.
    pub fn any_of(&self, steps: &[Step], max_list: usize) -> String {
        let [first, ..] = steps else {
            return String::new();
        };
        if steps.len() == 1 {
            return self.step(first, max_list);
        }
        if let Some(Var::Switch { operand, consts }) = self.vars.get(first.var as usize) {
            let cs: Option<Vec<String>> = steps
                .iter()
                .map(|s| match s.branch {
                    Branch::Const(c) => consts.get(c as usize).map(|x| quote_string(x)),
                    _ => None,
                })
                .collect();
            if let Some(mut cs) = cs {
                if cs.len() > max_list {
                    let more = cs.len() - max_list;
                    cs.truncate(max_list);
                    cs.push(format!("… {more} more"));
                }
                return format!("{} in [{}]", self.operand(operand), cs.join(", "));
            }
        }
        let parts: Vec<String> = steps.iter().map(|s| self.step(s, max_list)).collect();
        format!("({})", parts.join(" or "))
    }
}

fn fallback_tracker(space: &Space, k: usize) -> String {
    let Some(t) = space.trackers.get(k) else {
        return format!("t{k}");
    };
    let slot = |s: u32| {
        space
            .slots
            .get(s as usize)
            .map(|p| display_path(p.iter().map(String::as_str)))
            .unwrap_or_else(|| "?".into())
    };
    let mut args = Vec::new();
    if let Some(v) = t.value {
        args.push(slot(v));
    }
    args.push("…".to_string());
    if let Some(w) = t.within {
        args.push(format!("within {}", duration(w)));
    }
    let per: Vec<String> = t.per.iter().map(|s| slot(*s)).collect();
    if !per.is_empty() {
        args.push(format!("per {}", per.join(", ")));
    }
    format!("{}({})", t.kind.name(), args.join(", "))
}

fn raw(s: &str) -> String {
    let mut hashes = String::new();
    while s.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("{hashes}\"{s}\"{hashes}")
}
