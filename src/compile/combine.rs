//! Lowered conditions in a normal form that keeps long conditions cheap to build.
//!
//! A condition such as `tool == "a" or tool == "b" or …` over thousands of names, or
//! `host != "x" and host != "y" and …`, would otherwise be built one test at a time, each step
//! copying the switch built so far: time and memory quadratic in the length (40,000 tests took
//! a minute and 9.7 GB). Here the tests of one `and` / `or` on one variable are merged into a
//! single atom first, with set operations that cost the size of each test, so such a chain
//! compiles in time linear in its length. Negations are pushed into atoms where an atom can
//! express them, so that `not x == "a"` merges like `x != "a"`.
//!
//! Every rewrite keeps Kleene's three-valued meaning: the atoms of one variable are all unknown
//! exactly when the variable is, so combining their outcome sets is exact.

use rustc_hash::{FxHashMap, FxHashSet};

use super::dd::Num;
use super::{Atom, L, Strs};
use crate::syntax::ast::CmpOp;

/// `not l`, with the negation taken into an atom where one can say it.
pub(super) fn negate(l: L) -> L {
    match l {
        L::Const(b) => L::Const(!b),
        L::Not(inner) => *inner,
        L::Atom(v, Atom::InStrings(s, neg)) => L::Atom(v, Atom::InStrings(s, !neg)),
        L::Atom(v, Atom::InNums(s, neg)) => L::Atom(v, Atom::InNums(s, !neg)),
        L::Atom(v, Atom::Cmp(op, c)) => L::Atom(v, Atom::Cmp(negate_op(op), c)),
        L::Atom(v, Atom::Bool { on_true, on_false }) => L::Atom(
            v,
            Atom::Bool {
                on_true: !on_true,
                on_false: !on_false,
            },
        ),
        other => L::Not(Box::new(other)),
    }
}

/// The operator that holds exactly where `op` does not (numbers are never NaN).
fn negate_op(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Ge => CmpOp::Lt,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
    }
}

/// `parts[0] or parts[1] or …` (`or`) or their `and`, flattened, constants folded, and the
/// atoms on each variable merged into as few atoms as can say the same.
pub(super) fn combine(parts: Vec<L>, or: bool) -> L {
    let mut flat: Vec<L> = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            L::Or(inner) if or => flat.extend(inner),
            L::And(inner) if !or => flat.extend(inner),
            // `true or …` is true, `false and …` is false; the other constant is neutral.
            L::Const(b) if b == or => return L::Const(b),
            L::Const(_) => {}
            other => flat.push(other),
        }
    }
    // Group the atoms by variable, in order of first appearance.
    let mut out: Vec<Option<L>> = Vec::with_capacity(flat.len());
    let mut groups: FxHashMap<usize, (usize, Vec<Atom>)> = FxHashMap::default();
    for p in flat {
        match p {
            L::Atom(v, a) => match groups.get_mut(&v) {
                Some((_, atoms)) => atoms.push(a),
                None => {
                    groups.insert(v, (out.len(), vec![a]));
                    out.push(None);
                }
            },
            other => out.push(Some(other)),
        }
    }
    let mut groups: Vec<(usize, usize, Vec<Atom>)> =
        groups.into_iter().map(|(v, (at, a))| (at, v, a)).collect();
    groups.sort_unstable_by_key(|(at, _, _)| *at);
    let mut extra: Vec<(usize, Vec<L>)> = Vec::new();
    for (at, v, atoms) in groups {
        let merged: Vec<L> = merge(atoms, or)
            .into_iter()
            .map(|a| L::Atom(v, a))
            .collect();
        extra.push((at, merged));
    }
    let mut result: Vec<L> = Vec::with_capacity(out.len());
    let mut extra = extra.into_iter().peekable();
    for (i, slot) in out.into_iter().enumerate() {
        match slot {
            Some(l) => result.push(l),
            None => {
                if let Some((at, ls)) = extra.next_if(|(at, _)| *at == i) {
                    debug_assert_eq!(at, i);
                    result.extend(ls);
                }
            }
        }
    }
    match result.len() {
        0 => L::Const(!or),
        1 => result.pop().unwrap_or(L::Const(!or)),
        _ if or => L::Or(result),
        _ => L::And(result),
    }
}

/// Outcome sets of one variable, as `values` (or, `negated`, everything but `values`).
struct Outcomes<T> {
    values: FxHashSet<T>,
    negated: bool,
}

impl<T: std::hash::Hash + Eq + Ord> Outcomes<T> {
    /// Folds one more atom in, with the cost of that atom's size.
    fn add(acc: Option<Outcomes<T>>, values: Vec<T>, negated: bool, or: bool) -> Outcomes<T> {
        let Some(mut acc) = acc else {
            return Outcomes {
                values: values.into_iter().collect(),
                negated,
            };
        };
        // Outcomes in A ∪ S, A ∩ S, A \ S, S \ A, each computed by walking S.
        match (or, acc.negated, negated) {
            // in A or in S; not in A and not in S
            (true, false, false) | (false, true, true) => acc.values.extend(values),
            // not in A or not in S; in A and in S
            (true, true, true) | (false, false, false) => {
                let keep: FxHashSet<T> = values
                    .into_iter()
                    .filter(|v| acc.values.contains(v))
                    .collect();
                acc.values = keep;
            }
            // in A or not in S: not in S \ A; in S and not in A: in S \ A
            (true, false, true) | (false, true, false) => {
                let rest: FxHashSet<T> = values
                    .into_iter()
                    .filter(|v| !acc.values.contains(v))
                    .collect();
                acc.values = rest;
                acc.negated = negated;
            }
            // not in A or in S: not in A \ S; in A and not in S: in A \ S
            (true, true, false) | (false, false, true) => {
                for v in &values {
                    acc.values.remove(v);
                }
            }
        }
        acc
    }

    fn into_sorted(self) -> (Vec<T>, bool) {
        let mut v: Vec<T> = self.values.into_iter().collect();
        v.sort_unstable();
        (v, self.negated)
    }
}

/// The atoms of one variable, combined by `or` (or `and`) into as few atoms as possible.
fn merge(atoms: Vec<Atom>, or: bool) -> Vec<Atom> {
    if atoms.len() < 2 {
        return atoms;
    }
    let mut strings: Option<Outcomes<String>> = None;
    let mut nums: Option<Outcomes<Num>> = None;
    let mut bools: Option<(bool, bool)> = None;
    let mut holds = false;
    let mut rest: Vec<Atom> = Vec::new();
    for a in atoms {
        match a {
            Atom::InStrings(s, neg) => {
                strings = Some(Outcomes::add(strings, s.into_vec(), neg, or));
            }
            Atom::InNums(s, neg) => nums = Some(Outcomes::add(nums, s, neg, or)),
            Atom::Cmp(CmpOp::Eq, c) => nums = Some(Outcomes::add(nums, vec![c], false, or)),
            Atom::Cmp(CmpOp::Ne, c) => nums = Some(Outcomes::add(nums, vec![c], true, or)),
            Atom::Bool { on_true, on_false } => {
                bools = Some(match bools {
                    None => (on_true, on_false),
                    Some((t, f)) if or => (t || on_true, f || on_false),
                    Some((t, f)) => (t && on_true, f && on_false),
                });
            }
            Atom::Holds => holds = true,
            other => rest.push(other),
        }
    }
    let mut out = Vec::new();
    if let Some(s) = strings {
        let (values, negated) = s.into_sorted();
        out.push(Atom::InStrings(Strs::Own(values), negated));
    }
    if let Some(n) = nums {
        let (values, negated) = n.into_sorted();
        out.push(Atom::InNums(values, negated));
    }
    if let Some((on_true, on_false)) = bools {
        out.push(Atom::Bool { on_true, on_false });
    }
    if holds {
        out.push(Atom::Holds);
    }
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Strs {
        Strs::Own(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn equalities_on_one_variable_become_one_membership() {
        let parts = (0..5)
            .map(|i| L::Atom(3, Atom::InStrings(strs(&[&format!("t{i}")]), false)))
            .collect();
        assert_eq!(
            combine(parts, true),
            L::Atom(
                3,
                Atom::InStrings(strs(&["t0", "t1", "t2", "t3", "t4"]), false)
            )
        );
    }

    #[test]
    fn set_algebra_of_or_and_and() {
        let a = || L::Atom(0, Atom::InStrings(strs(&["a", "b"]), false));
        let not_b = || L::Atom(0, Atom::InStrings(strs(&["b", "c"]), true));
        // in {a,b} or not in {b,c} = not in {c}
        assert_eq!(
            combine(vec![a(), not_b()], true),
            L::Atom(0, Atom::InStrings(strs(&["c"]), true))
        );
        // in {a,b} and not in {b,c} = in {a}
        assert_eq!(
            combine(vec![a(), not_b()], false),
            L::Atom(0, Atom::InStrings(strs(&["a"]), false))
        );
        // not in {b,c} and not in {a} = not in {a,b,c}
        let not_a = L::Atom(0, Atom::InStrings(strs(&["a"]), true));
        assert_eq!(
            combine(vec![not_b(), not_a], false),
            L::Atom(0, Atom::InStrings(strs(&["a", "b", "c"]), true))
        );
    }

    #[test]
    fn other_parts_keep_their_place() {
        let x = L::Atom(1, Atom::Holds);
        let y = L::Not(Box::new(L::Atom(2, Atom::Holds)));
        let l = combine(
            vec![
                x.clone(),
                L::Atom(0, Atom::Cmp(CmpOp::Eq, Num(1.0))),
                y.clone(),
                L::Atom(0, Atom::Cmp(CmpOp::Eq, Num(2.0))),
                L::Const(false),
            ],
            true,
        );
        assert_eq!(
            l,
            L::Or(vec![
                x,
                L::Atom(0, Atom::InNums(vec![Num(1.0), Num(2.0)], false)),
                y
            ])
        );
        assert_eq!(
            combine(vec![L::Atom(0, Atom::Holds), L::Const(true)], true),
            L::Const(true)
        );
    }

    #[test]
    fn negation_moves_into_atoms() {
        assert_eq!(
            negate(L::Atom(0, Atom::Cmp(CmpOp::Lt, Num(3.0)))),
            L::Atom(0, Atom::Cmp(CmpOp::Ge, Num(3.0)))
        );
        let holds = L::Atom(0, Atom::Holds);
        assert_eq!(negate(negate(holds.clone())), holds);
    }
}
