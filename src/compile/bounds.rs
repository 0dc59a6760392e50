//! Sources whose program would exceed a bound of the verifier (`bytecode::cost`) are refused
//! when they are compiled, with the bound, the figure, and the rule or test that brings it
//! over: a bundle that builds always loads.

use crate::bytecode::cost::{self, Exceeded};
use crate::check::{Bundle, Const, OperandKind, Test, TestKind};
use crate::diag::Diag;

/// The diagnostic code of every refusal here.
pub const CODE: &str = "govern::too_large";

/// A bundle the verifier would refuse for `e`, as a diagnostic at the rule or test most
/// responsible.
pub fn exceeded(bundle: &Bundle, e: &Exceeded) -> Diag {
    let d = Diag::error(CODE, format!("the compiled bundle would be refused: {e}"));
    match e {
        Exceeded::Regexes(_) | Exceeded::RegexSource(_) => {
            // The test at which the count or the total length goes over.
            let by_count = matches!(e, Exceeded::Regexes(_));
            let mut seen = std::collections::BTreeSet::new();
            let mut total = 0u64;
            let mut at = None;
            each_test(bundle, &mut |t| {
                let Some((lhs, pattern)) = regex_of(t) else {
                    return;
                };
                if at.is_some() || !seen.insert((format!("{lhs:?}"), pattern.to_string())) {
                    return;
                }
                total += if by_count { 1 } else { pattern.len() as u64 };
                let limit = if by_count {
                    cost::MAX_REGEXES
                } else {
                    cost::MAX_REGEX_SOURCE
                };
                if total > limit {
                    at = Some(t.loc);
                }
            });
            let label = if by_count {
                "one regex too many"
            } else {
                "the regexes are too long together from here on"
            };
            at_loc(bundle, d, at, label).help(
                "test fewer distinct regexes and globs in one bundle: share one pattern between rules, prefer `in`, `starts_with` or `ends_with` where they say the same, or split the policies into several bundles",
            )
        }
        Exceeded::Work(_) => {
            let mut best: Option<(u64, crate::check::Loc)> = None;
            each_test(bundle, &mut |t| {
                let w = test_work(t);
                if best.is_none_or(|(b, _)| w > b) {
                    best = Some((w, t.loc));
                }
            });
            at_loc(bundle, d, best.map(|(_, l)| l), "the costliest test").help(
                "each test costs a pass over its value, each function applied another, and `in` one per value it lists: nest fewer functions, test long lists of strings or numbers with a `set` (a table lookup), or split the policies into several bundles",
            )
        }
        Exceeded::Merged(_) => {
            // Every rule may be merged into a decision: the one with the most attributes to
            // report costs the most.
            let rule = bundle
                .rules
                .iter()
                .max_by_key(|r| r.cond.attr_refs(bundle).len());
            let d = match rule.and_then(|r| Some((r, bundle.file(r.loc)?))) {
                Some((r, file)) => d.at(
                    file,
                    r.loc.span,
                    format!("`{}`, one of the rules merged into every decision", r.id),
                ),
                None => d,
            };
            d.help(
                "rules that test unrelated attributes are decided side by side and their results merged: split the policies into several bundles",
            )
        }
        Exceeded::Materialised { .. } => {
            // The rule whose strings are copied the most.
            let rule = bundle.rules.iter().max_by_key(|r| {
                let mut bytes = r.message.as_ref().map_or(0, String::len)
                    + r.tags.iter().map(String::len).sum::<usize>();
                r.cond.for_each_test(bundle, true, &mut |t| {
                    bytes += test_strings(t);
                });
                bytes
            });
            let d = match rule.and_then(|r| Some((r, bundle.file(r.loc)?))) {
                Some((r, file)) => d.at(
                    file,
                    r.loc.span,
                    format!("`{}` has the most text to copy", r.id),
                ),
                None => d,
            };
            d.help(
                "every test keeps its own copy of the strings it compares with: compare a long list or long text with fewer attributes, or split the policies into several bundles",
            )
        }
    }
}

/// A regex the VM could not compile within the bounds, as a diagnostic at the first test that
/// uses it.
pub fn regex_refused(bundle: &Bundle, regex_source: &str, reason: &str) -> Diag {
    let mut at = None;
    each_test(bundle, &mut |t| {
        if at.is_none() && regex_of(t).is_some_and(|(_, p)| p == regex_source) {
            at = Some(t.loc);
        }
    });
    let d = Diag::error(
        CODE,
        format!("the compiled bundle would be refused: {reason}"),
    );
    at_loc(bundle, d, at, "this regex does not fit").help(format!(
        "all regexes of a bundle take at most {} MiB together once compiled, each at most {} KiB: use simpler patterns (`\\w` and `.` with Unicode are large; `(?-u:\\w)` is small), fewer of them, or split the policies into several bundles",
        cost::REGEX_MEMORY >> 20,
        cost::REGEX_SIZE_LIMIT >> 10,
    ))
}

fn at_loc(bundle: &Bundle, d: Diag, at: Option<crate::check::Loc>, label: &str) -> Diag {
    match at.and_then(|l| Some((l, bundle.file(l)?))) {
        Some((l, file)) => d.at(file, l.span, label),
        None => d,
    }
}

/// Every test of every rule, stateful conditions included, in rule order.
fn each_test<'a>(bundle: &'a Bundle, f: &mut dyn FnMut(&'a Test)) {
    for r in &bundle.rules {
        r.cond.for_each_test(bundle, true, f);
    }
}

fn regex_of(t: &Test) -> Option<(&crate::check::Operand, &str)> {
    match &t.kind {
        TestKind::Matches { lhs, pattern } | TestKind::Like { lhs, pattern } => {
            Some((lhs, pattern.regex_source.as_str()))
        }
        _ => None,
    }
}

/// The work of a test as the verifier counts it (an upper bound: the compiler may turn an `in`
/// into a table lookup).
fn test_work(t: &Test) -> u64 {
    fn funcs(o: &crate::check::Operand) -> u64 {
        match &o.kind {
            OperandKind::Func(_, inner) => 1 + funcs(inner),
            _ => 0,
        }
    }
    let values = match &t.kind {
        TestKind::In { values, .. } => values.len() as u64,
        _ => 0,
    };
    1 + t.operands().into_iter().map(funcs).sum::<u64>() + values
}

/// Bytes of the string constants of a test.
fn test_strings(t: &Test) -> usize {
    fn of(o: &crate::check::Operand) -> usize {
        match &o.kind {
            OperandKind::Const(Const::String(s)) => s.len(),
            OperandKind::Func(_, inner) => of(inner),
            _ => 0,
        }
    }
    let values = match &t.kind {
        TestKind::In { values, .. } => values
            .iter()
            .map(|c| match c {
                Const::String(s) => s.len(),
                _ => 0,
            })
            .sum(),
        TestKind::Matches { pattern, .. } | TestKind::Like { pattern, .. } => {
            pattern.regex_source.len() + pattern.source.len()
        }
        _ => 0,
    };
    t.operands().into_iter().map(of).sum::<usize>() + values
}
