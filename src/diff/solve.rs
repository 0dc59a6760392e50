//! A complete decision procedure for the decidable fragment of a region: tests of plain
//! attributes for equality with strings, numeric ranges, booleans, `has` and types (a string
//! compared, a number compared, unknown).
//!
//! Every such test constrains the value of one attribute, and attributes interact only through
//! nesting (`agent.id` present makes `agent` a record, so not a string, a number or a bool).
//! [`solve`] decides whether values exist that satisfy every such step of a path and gives
//! them: for each attribute it keeps the JSON kinds still possible (absent, string, number,
//! bool, record, list), narrows them through nesting to a fixpoint, then picks a value of a
//! possible kind, parents before children. `None` is a proof that no event takes the path.
//!
//! Steps outside the fragment (functions, regexes, substrings, two attributes compared,
//! stream state, `time.*`) are left to example synthesis; [`exact`] tells them apart.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::bytecode::model::{CmpOp, Operand, Pred, Ty, Var};
use crate::check::Scalar;
use crate::compile::analysis::{Branch, Step};
use crate::compile::dd::NodeRef;
use crate::lint::witness::Space;

/// The JSON kinds an attribute can have (bit set).
const ABSENT: u8 = 1;
const STR: u8 = 2;
const NUM: u8 = 4;
const BOOL: u8 = 8;
const OBJ: u8 = 16;
const ARR: u8 = 32;
const ALL: u8 = ABSENT | STR | NUM | BOOL | OBJ | ARR;

/// What an exact variable tests of its attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    Has,
    Str,
    Num,
    Bool,
    /// The attribute is a list of these scalars and holds this item.
    ListHas(Scalar, Json),
}

/// A constant operand as the JSON item a list would hold.
fn item_of(o: &Operand) -> Option<(Scalar, Json)> {
    match o {
        Operand::Str(s) => Some((Scalar::String, Json::String(s.clone()))),
        Operand::Num(n) if n.is_finite() => Some((Scalar::Number, num_json(*n))),
        Operand::Bool(b) => Some((Scalar::Bool, Json::Bool(*b))),
        _ => None,
    }
}

/// The slot and the kind of test, when the variable is in the decidable fragment.
fn exact_var(space: &Space<'_>, var: u32) -> Option<(u32, Test)> {
    let (slot, test) = match space.vars.get(var as usize)? {
        Var::Has { slot } => (*slot, Test::Has),
        Var::Switch {
            operand:
                Operand::Slot {
                    slot,
                    ty: Ty::String,
                },
            ..
        } => (*slot, Test::Str),
        Var::Thresh {
            operand:
                Operand::Slot {
                    slot,
                    ty: Ty::Number,
                },
        } => (*slot, Test::Num),
        Var::Bool {
            operand: Operand::Slot { slot, ty: Ty::Bool },
        } => (*slot, Test::Bool),
        Var::Pred(Pred::Contains {
            hay:
                Operand::Slot {
                    slot,
                    ty: Ty::List(s),
                },
            needle,
        }) => {
            let (scalar, item) = item_of(needle)?;
            if scalar != *s {
                return None;
            }
            (*slot, Test::ListHas(scalar, item))
        }
        _ => return None,
    };
    // `time.*` comes from `ts`, which also moves stream time: left to synthesis.
    let path = space.slots.get(slot as usize)?;
    match path.first().map(String::as_str) {
        Some("time") => None,
        Some("ts") if path.len() == 1 => None,
        _ => Some((slot, test)),
    }
}

/// The attribute a test reads and the type it must have, for tests outside the fragment that
/// still tell the type: a test of one attribute (possibly through a function defined on every
/// value of its type) against constants is known exactly when the attribute has its type.
/// The second value says whether the step needs the attribute typed (a true or false outcome)
/// or not typed (unknown). The third says whether the unknown outcome tells the type too:
/// `fold_each(x)` is unknown when `x` is not a list of strings, but also when its items are
/// too long in all or one of them does not fold, so a true or false outcome needs `x` to be
/// a list of strings while an unknown one needs nothing the solver can state.
fn type_fact(space: &Space<'_>, var: u32) -> Option<(u32, Ty, bool)> {
    use crate::bytecode::model::Func;
    fn slot_of(o: &Operand) -> Option<(u32, Ty, bool)> {
        match o {
            Operand::Slot { slot, ty } => Some((*slot, *ty, true)),
            // Total on strings (and `len` on its type): unknown exactly when the argument is.
            Operand::Func {
                func: Func::Lower | Func::Upper | Func::NormPath | Func::UrlHost | Func::Len,
                arg,
            } => slot_of(arg),
            // Known only on a list of strings, not known on every one.
            Operand::Func {
                func: Func::FoldEach,
                arg,
            } => match arg.as_ref() {
                Operand::Slot {
                    slot,
                    ty: ty @ Ty::List(crate::check::Scalar::String),
                } => Some((*slot, *ty, false)),
                _ => None,
            },
            // Defined on strings only, and not on every one (a decoding that fails, SQL
            // that does not parse, input past a size bound): a known outcome needs the
            // argument to be a string, an unknown one needs nothing the solver can state.
            Operand::Func {
                func:
                    Func::Base64Decode
                    | Func::HexDecode
                    | Func::UrlDecode
                    | Func::Unescape
                    | Func::Decoded
                    | Func::Nfkc
                    | Func::Fold
                    | Func::Unleet
                    | Func::SqlStatements
                    | Func::SqlTables
                    | Func::SqlReadOnly
                    | Func::Secrets
                    | Func::Pii
                    | Func::PiiCount,
                arg,
            } => match slot_of(arg)? {
                (slot, Ty::String, _) => Some((slot, Ty::String, false)),
                _ => None,
            },
            _ => None,
        }
    }
    fn constant(o: &Operand) -> bool {
        matches!(o, Operand::Str(_) | Operand::Num(_) | Operand::Bool(_))
    }
    let operands = match space.vars.get(var as usize)? {
        Var::Has { .. } => return None,
        v => v.operands(),
    };
    let mut read = None;
    for o in operands {
        if constant(o) {
            continue;
        }
        if read.is_some() {
            return None;
        }
        read = Some(slot_of(o)?);
    }
    let (slot, ty, both) = read?;
    if !matches!(ty, Ty::String | Ty::Number | Ty::Bool | Ty::List(_)) {
        return None;
    }
    let path = space.slots.get(slot as usize)?;
    if matches!(path.first().map(String::as_str), Some("time")) || path == &["ts"] {
        return None;
    }
    Some((slot, ty, both))
}

/// What the solver knows of each variable of a space, computed once.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    exact: Vec<Option<(u32, Test)>>,
    typed: Vec<Option<(u32, Ty, bool)>>,
    /// Per variable, the slot the solver constrains through it ([`Facts::slot`]).
    slot_of: Vec<Option<u32>>,
    /// Per slot of the space, the slots whose paths are its own, a prefix of it or one it is
    /// a prefix of (itself included), sorted: the attributes a step on it can contradict.
    related: Vec<Vec<u32>>,
    /// The same relation as a bitset, [`Facts::words`] words per slot (empty past
    /// [`RELATED_BITS_MAX`] slots): `consistent` tests each step of a prefix against it.
    related_bits: Vec<u64>,
    words: usize,
}

/// The most slots whose relation [`Facts`] also keeps as a bitset (512 KiB at most).
const RELATED_BITS_MAX: usize = 2048;

impl Facts {
    pub fn new(space: &Space<'_>) -> Facts {
        let n = space.vars.len();
        let exact: Vec<Option<(u32, Test)>> = (0..n as u32).map(|v| exact_var(space, v)).collect();
        let typed: Vec<Option<(u32, Ty, bool)>> = (0..n as u32)
            .zip(exact.iter())
            .map(|(v, e)| {
                if e.is_some() {
                    None
                } else {
                    type_fact(space, v)
                }
            })
            .collect();
        let slot_of = exact
            .iter()
            .zip(typed.iter())
            .map(|(e, t)| {
                e.as_ref()
                    .map(|(s, _)| *s)
                    .or_else(|| t.as_ref().map(|(s, _, _)| *s))
            })
            .collect();
        // Each slot's path and its prefixes (the empty one too) looked up among the paths of
        // the space: the slots found and the slot are related both ways.
        let mut by_path: std::collections::HashMap<&[String], Vec<u32>> =
            std::collections::HashMap::new();
        for (s, p) in space.slots.iter().enumerate() {
            by_path.entry(p.as_slice()).or_default().push(s as u32);
        }
        let mut related: Vec<Vec<u32>> = vec![Vec::new(); space.slots.len()];
        for (s, p) in space.slots.iter().enumerate() {
            for k in 0..=p.len() {
                let Some(found) = p.get(..k).and_then(|pre| by_path.get(pre)) else {
                    continue;
                };
                for &a in found {
                    if let Some(r) = related.get_mut(s) {
                        r.push(a);
                    }
                    if let Some(r) = related.get_mut(a as usize) {
                        r.push(s as u32);
                    }
                }
            }
        }
        for r in &mut related {
            r.sort_unstable();
            r.dedup();
        }
        let n_slots = space.slots.len();
        let (words, related_bits) = if n_slots <= RELATED_BITS_MAX {
            let words = n_slots.div_ceil(64);
            let mut bits = vec![0u64; words * n_slots];
            for (s, r) in related.iter().enumerate() {
                for &a in r {
                    if let Some(w) = bits.get_mut(s * words + a as usize / 64) {
                        *w |= 1 << (a % 64);
                    }
                }
            }
            (words, bits)
        } else {
            (0, Vec::new())
        };
        Facts {
            exact,
            typed,
            slot_of,
            related,
            related_bits,
            words,
        }
    }

    /// The slot and test of a variable in the decidable fragment.
    pub fn exact(&self, var: u32) -> Option<&(u32, Test)> {
        self.exact.get(var as usize).and_then(Option::as_ref)
    }

    /// The row of [`Facts::related_bits`] of `slot`: `None` when the relation is not kept
    /// as a bitset.
    fn related_row(&self, slot: u32) -> Option<&[u64]> {
        self.related_bits
            .get(slot as usize * self.words..(slot as usize + 1) * self.words)
            .filter(|r| !r.is_empty())
    }

    /// Whether the variable is in the decidable fragment.
    pub fn is_exact(&self, var: u32) -> bool {
        self.exact(var).is_some()
    }

    /// Whether the variable is a `has` test (never unknown).
    pub fn is_has(&self, var: u32) -> bool {
        matches!(self.exact(var), Some((_, Test::Has)))
    }

    /// The slot whose value the solver constrains through this variable, if any.
    pub fn slot(&self, var: u32) -> Option<u32> {
        self.slot_of.get(var as usize).copied().flatten()
    }
}

/// Whether `step` can follow `prefix` (itself satisfiable): only the steps on the same
/// attribute, its parents and its children can contradict it.
pub fn consistent(space: &Space<'_>, facts: &Facts, prefix: &[Step], step: &Step) -> bool {
    let Some(slot) = facts.slot(step.var) else {
        return true;
    };
    // The steps taken by reference, and only whether values exist is asked: no event is built.
    let related = prefix
        .iter()
        .filter(|st| {
            facts
                .slot(st.var)
                .is_some_and(|o| related_slot(space, facts, slot, o))
        })
        .chain(std::iter::once(step));
    assign(space, facts, related, false).is_some()
}

/// Everything the exact steps of a path require of one attribute. The constants and items
/// are borrowed from the tests: nothing is copied until a value is built.
#[derive(Clone, Debug)]
struct Need<'a> {
    has: Option<bool>,
    str_eq: Option<&'a str>,
    str_ne: Vec<&'a str>,
    lo: Option<(f64, bool)>,
    hi: Option<(f64, bool)>,
    bool_is: Option<bool>,
    /// The scalar types the attribute must be a list of (known for a membership test), each
    /// once.
    list_of: Vec<Scalar>,
    /// The scalar types it must not be a list of (unknown for a membership test), each once.
    not_list_of: Vec<Scalar>,
    /// Items the list holds, and items it does not.
    list_has: Vec<&'a Json>,
    list_lacks: Vec<&'a Json>,
    /// Kinds still possible.
    kinds: u8,
    conflict: bool,
}

impl Default for Need<'_> {
    fn default() -> Self {
        Need {
            has: None,
            str_eq: None,
            str_ne: Vec::new(),
            lo: None,
            hi: None,
            bool_is: None,
            list_of: Vec::new(),
            not_list_of: Vec::new(),
            list_has: Vec::new(),
            list_lacks: Vec::new(),
            kinds: ALL,
            conflict: false,
        }
    }
}

/// Adds `s` to the set `v` (a vector holding each scalar once).
fn add_scalar(v: &mut Vec<Scalar>, s: Scalar) {
    if !v.contains(&s) {
        v.push(s);
    }
}

impl<'a> Need<'a> {
    fn add(&mut self, test: &'a Test, branch: &Branch, consts: &'a [String]) {
        match (test, branch) {
            (Test::ListHas(s, item), Branch::True | Branch::False) => {
                self.kinds &= ARR;
                add_scalar(&mut self.list_of, *s);
                if *branch == Branch::True {
                    self.list_has.push(item);
                } else {
                    self.list_lacks.push(item);
                }
            }
            (Test::ListHas(s, _), Branch::Unknown) => {
                add_scalar(&mut self.not_list_of, *s);
            }
            (Test::Has, Branch::True) => self.has_is(true),
            (Test::Has, Branch::False) => self.has_is(false),
            // `has` is never unknown.
            (Test::Has, _) => self.conflict = true,
            (Test::Str, Branch::Const(c)) => {
                self.kinds &= STR;
                let Some(s) = consts.get(*c as usize) else {
                    self.conflict = true;
                    return;
                };
                match self.str_eq {
                    Some(e) if e != s => self.conflict = true,
                    _ => self.str_eq = Some(s),
                }
            }
            (Test::Str, Branch::Other(excl)) => {
                self.kinds &= STR;
                self.str_ne.extend(
                    excl.iter()
                        .filter_map(|c| consts.get(*c as usize))
                        .map(String::as_str),
                );
            }
            (Test::Num, Branch::Range { lo, hi }) => {
                self.kinds &= NUM;
                if let Some(l) = lo {
                    self.lo = Some(match self.lo {
                        Some(o) if o.0 > l.0 || (o.0 == l.0 && !o.1) => o,
                        _ => *l,
                    });
                }
                if let Some(h) = hi {
                    self.hi = Some(match self.hi {
                        Some(o) if o.0 < h.0 || (o.0 == h.0 && !o.1) => o,
                        _ => *h,
                    });
                }
            }
            (Test::Bool, Branch::True | Branch::False) => {
                self.kinds &= BOOL;
                let b = *branch == Branch::True;
                match self.bool_is {
                    Some(x) if x != b => self.conflict = true,
                    _ => self.bool_is = Some(b),
                }
            }
            (Test::Str, Branch::Unknown) => self.kinds &= !STR,
            (Test::Num, Branch::Unknown) => self.kinds &= !NUM,
            (Test::Bool, Branch::Unknown) => self.kinds &= !BOOL,
            _ => self.conflict = true,
        }
    }

    /// The attribute has (or, with `typed` false, has not) the type `ty`.
    fn typed(&mut self, ty: Ty, typed: bool) {
        let kind = match ty {
            Ty::String => STR,
            Ty::Number => NUM,
            Ty::Bool => BOOL,
            Ty::List(s) => {
                if typed {
                    add_scalar(&mut self.list_of, s);
                } else {
                    add_scalar(&mut self.not_list_of, s);
                }
                if typed {
                    self.kinds &= ARR;
                }
                return;
            }
            _ => return,
        };
        if typed {
            self.kinds &= kind;
        } else {
            self.kinds &= !kind;
        }
    }

    fn has_is(&mut self, b: bool) {
        match self.has {
            Some(x) if x != b => self.conflict = true,
            _ => self.has = Some(b),
        }
        self.kinds &= if b { !ABSENT } else { ABSENT };
    }

    /// The kinds left once the values each kind would need are checked.
    fn possible(&self) -> u8 {
        if self.conflict {
            return 0;
        }
        let mut k = self.kinds;
        if self.str_eq.is_some_and(|e| self.str_ne.contains(&e)) {
            k &= !STR;
        }
        if pick_number(self.lo, self.hi).is_none() {
            k &= !NUM;
        }
        let list = self.list_possible();
        debug_assert_eq!(list, self.list_items().is_some());
        if !list {
            k &= !ARR;
        }
        k
    }

    /// Whether the membership tests allow a list: [`Need::list_items`] is `Some`, found
    /// without building the items.
    fn list_possible(&self) -> bool {
        if self.list_has.iter().any(|i| self.list_lacks.contains(i))
            || self.list_of.iter().any(|s| self.not_list_of.contains(s))
        {
            return false;
        }
        if self.list_of.len() > 1 {
            return self.list_has.is_empty() && self.not_list_of.is_empty();
        }
        if !self.not_list_of.is_empty()
            && self.list_has.is_empty()
            && self.list_of.first() == Some(&Scalar::Bool)
        {
            return [true, false]
                .into_iter()
                .any(|b| !self.list_lacks.contains(&&Json::Bool(b)));
        }
        true
    }

    /// The items of a list that passes the membership tests, if one exists.
    fn list_items(&self) -> Option<Vec<Json>> {
        if self.list_has.iter().any(|i| self.list_lacks.contains(i))
            || self.list_of.iter().any(|s| self.not_list_of.contains(s))
        {
            return None;
        }
        let mut items: Vec<Json> = self.list_has.iter().map(|j| (*j).clone()).collect();
        items.dedup();
        // Every item has the one scalar type the list is known as.
        let ty = match self.list_of.len() {
            0 => None,
            1 => self.list_of.first().copied(),
            // A list of two scalar types at once: only the empty list.
            _ => {
                return (items.is_empty() && self.not_list_of.is_empty()).then(Vec::new);
            }
        };
        if !self.not_list_of.is_empty() && items.is_empty() {
            // A list that is not a list of these types needs an item of another type.
            let filler = match ty {
                Some(Scalar::String) => Json::String(fresh(|s| {
                    self.list_lacks.iter().any(|j| j.as_str() == Some(s))
                })),
                Some(Scalar::Number) => (0..)
                    .map(|i| Json::from(i as i64))
                    .find(|j| !self.list_lacks.contains(&j))
                    .unwrap_or(Json::Null),
                Some(Scalar::Bool) => [Json::Bool(true), Json::Bool(false)]
                    .into_iter()
                    .find(|j| !self.list_lacks.contains(&j))?,
                None => Json::Object(Map::new()),
            };
            items.push(filler);
        }
        Some(items)
    }

    fn value(&self, kind: u8) -> Option<Json> {
        match kind {
            STR => Some(Json::String(match self.str_eq {
                Some(s) => s.to_string(),
                None => fresh(|s| self.str_ne.contains(&s)),
            })),
            NUM => pick_number(self.lo, self.hi).map(num_json),
            BOOL => Some(Json::Bool(self.bool_is.unwrap_or(true))),
            OBJ => Some(Json::Object(Map::new())),
            ARR => Some(Json::Array(self.list_items().unwrap_or_default())),
            _ => None,
        }
    }
}

/// A string that is none of those `taken` holds.
fn fresh(taken: impl Fn(&str) -> bool) -> String {
    for s in ["x", "other", "y", "z"] {
        if !taken(s) {
            return s.to_string();
        }
    }
    (0u64..)
        .map(|i| format!("x{i}"))
        .find(|s| !taken(s))
        .unwrap_or_default()
}

fn in_range(n: f64, lo: Option<(f64, bool)>, hi: Option<(f64, bool)>) -> bool {
    let above = match lo {
        None => true,
        Some((l, true)) => n >= l,
        Some((l, false)) => n > l,
    };
    let below = match hi {
        None => true,
        Some((h, true)) => n <= h,
        Some((h, false)) => n < h,
    };
    above && below && n.is_finite()
}

/// A finite number in the range, round when possible; `None` when the range holds none (it
/// is empty, or an open interval between two neighbouring floating-point numbers).
pub fn pick_number(lo: Option<(f64, bool)>, hi: Option<(f64, bool)>) -> Option<f64> {
    let cands: [Option<f64>; 6] = match (lo, hi) {
        (None, None) => [Some(0.0), None, None, None, None, None],
        (Some((l, _)), None) => [
            Some(l),
            Some((l + 1.0).floor()),
            Some(l + 1.0),
            Some(l.next_up()),
            None,
            None,
        ],
        (None, Some((h, _))) => [
            Some(h),
            Some((h - 1.0).ceil()),
            Some(h - 1.0),
            Some(h.next_down()),
            None,
            None,
        ],
        (Some((l, _)), Some((h, _))) => [
            Some(l),
            Some(h),
            Some((l + 1.0).floor()),
            Some((h - 1.0).ceil()),
            Some(l / 2.0 + h / 2.0),
            Some(l.next_up()),
        ],
    };
    cands.into_iter().flatten().find(|n| in_range(*n, lo, hi))
}

/// A number as JSON: an integer when it is one.
pub fn num_json(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Json::from(n as i64)
    } else {
        Json::from(n)
    }
}

/// Whether `a` is a proper prefix of `b`.
fn ancestor(a: &[String], b: &[String]) -> bool {
    a.len() < b.len() && b.starts_with(a)
}

/// Values for the attributes the exact steps of `path` test, or `None` when no event gives
/// every exact step its outcome. Attributes other steps read are not assigned.
pub fn solve(
    space: &Space<'_>,
    facts: &Facts,
    path: &[Step],
) -> Option<BTreeMap<u32, Option<Json>>> {
    assign(space, facts, path.iter(), true)
}

/// One attribute the steps constrain, in [`assign`].
struct Attr<'a> {
    slot: u32,
    path: &'a [String],
    need: Need<'a>,
}

/// [`solve`] over `steps`; with `values` false, no value is built and the map is empty when
/// values exist (only whether the steps can all be taken is found, the same way). The
/// attributes are kept in a vector, not a map: the steps of one check are few.
fn assign<'a, 's>(
    space: &Space<'a>,
    facts: &'a Facts,
    steps: impl Iterator<Item = &'s Step>,
    values: bool,
) -> Option<BTreeMap<u32, Option<Json>>> {
    let slots: &'a [Vec<String>] = space.slots;
    let vars: &'a [Var] = space.vars;
    let mut attrs: Vec<Attr<'a>> = Vec::new();
    for st in steps {
        let Some(slot) = constrained_slot(facts, st) else {
            continue;
        };
        let i = match attrs.iter().position(|a| a.slot == slot) {
            Some(i) => i,
            None => {
                attrs.push(Attr {
                    slot,
                    path: slots.get(slot as usize).map(Vec::as_slice).unwrap_or(&[]),
                    need: Need::default(),
                });
                attrs.len() - 1
            }
        };
        if let Some(a) = attrs.get_mut(i) {
            add_step(&mut a.need, facts, vars, st);
        }
    }
    // Parents first (shorter paths), then by slot: the order values are picked in.
    attrs.sort_by_key(|a| (a.path.len(), a.slot));
    let mut kinds: Vec<Kinds<'a>> = attrs
        .iter()
        .map(|a| Kinds {
            slot: a.slot,
            path: a.path,
            kinds: a.need.possible(),
            pick: 0,
        })
        .collect();
    if !settle(&mut kinds) {
        return None;
    }
    let mut out = BTreeMap::new();
    if values {
        for (a, k) in attrs.iter().zip(kinds.iter()) {
            debug_assert_eq!(a.slot, k.slot);
            out.insert(a.slot, a.need.value(k.pick));
        }
    }
    Some(out)
}

/// Whether the slot `o` is related to `slot` (its path is the same, a prefix of it, or one it
/// is a prefix of), as [`consistent`] tells it: by the space's bitset, its sorted lists, or
/// the paths themselves for a slot outside them.
fn related_slot(space: &Space<'_>, facts: &Facts, slot: u32, o: u32) -> bool {
    let path_of = |s: u32| {
        space
            .slots
            .get(s as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    let by_path = || {
        let (me, other) = (path_of(slot), path_of(o));
        other.starts_with(me) || me.starts_with(other)
    };
    let found = match (facts.related_row(slot), facts.related.get(slot as usize)) {
        (Some(row), _) => in_row(row, o),
        (None, Some(r)) if (o as usize) < facts.related.len() => r.binary_search(&o).is_ok(),
        _ => return by_path(),
    };
    debug_assert_eq!(found, by_path());
    found
}

/// Whether slot `o` is in a row of [`Facts::related_bits`].
fn in_row(row: &[u64], o: u32) -> bool {
    row.get(o as usize / 64)
        .is_some_and(|w| w & (1 << (o % 64)) != 0)
}

/// The slot whose [`Need`] a step adds to in [`assign`], if it adds to one: an exact step's,
/// or a typed step's when its outcome tells the type.
fn constrained_slot(facts: &Facts, st: &Step) -> Option<u32> {
    if let Some((slot, _)) = facts.exact(st.var) {
        return Some(*slot);
    }
    match facts.typed.get(st.var as usize) {
        Some(Some((slot, _, both))) if *both || st.branch != Branch::Unknown => Some(*slot),
        _ => None,
    }
}

/// Adds what `st` requires of the slot [`constrained_slot`] names to `need`.
fn add_step<'a>(need: &mut Need<'a>, facts: &'a Facts, vars: &'a [Var], st: &Step) {
    if let Some((_, test)) = facts.exact(st.var) {
        let consts: &'a [String] = match vars.get(st.var as usize) {
            Some(Var::Switch { consts, .. }) => consts,
            _ => &[],
        };
        need.add(test, &st.branch, consts);
    } else if let Some(Some((_, ty, _))) = facts.typed.get(st.var as usize) {
        need.typed(*ty, st.branch != Branch::Unknown);
    }
}

/// What the steps of a path require of each attribute they constrain, carried down the path:
/// [`Known::consistent`] gives the answer [`consistent`] gives over the path's steps, by
/// adding the new step to what is known of its attribute rather than going over the path
/// again and building every related attribute's needs anew. Steps are pushed and popped as
/// a depth-first walk takes and leaves them; a step's needs are added in place and taken back
/// by the lengths and fields kept before ([`Need`] only ever appends).
#[derive(Default)]
pub struct Known<'a> {
    /// The attributes the pushed steps constrain, in the order first constrained.
    entries: Vec<Entry<'a>>,
    /// Per pushed step, how to take it back.
    undo: Vec<Undo<'a>>,
    /// The attributes of one check, reused from check to check.
    scratch: Vec<Kinds<'a>>,
    /// The step the last [`Known::consistent`] asked of, by variable, and the kinds its
    /// attribute's needs leave with it, for [`Known::push_checked`].
    checked: Option<(u32, u8)>,
}

/// One attribute a pushed step constrains, in [`Known`].
struct Entry<'a> {
    slot: u32,
    path: &'a [String],
    need: Need<'a>,
    /// The kinds `need` leaves possible ([`Need::possible`]), or [`UNSET`] until a check asks.
    kinds: u8,
}

/// The kinds of an [`Entry`] not yet found (no kind set has this bit).
const UNSET: u8 = 0x80;

/// How to take back one pushed step of [`Known`].
enum Undo<'a> {
    /// The step constrains no attribute.
    Nothing,
    /// The step made the last entry.
    Made,
    /// The step added to the entry at this index, whose fields and kinds were these.
    Added(usize, Mark<'a>, u8),
}

impl<'a> Known<'a> {
    /// Forgets every step.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.undo.clear();
        self.checked = None;
    }

    /// The steps pushed and not popped.
    pub fn depth(&self) -> usize {
        self.undo.len()
    }

    /// Takes the step in: the path goes on with it.
    pub fn push(&mut self, space: &Space<'a>, facts: &'a Facts, step: &Step) {
        self.push_kinds(space, facts, step, UNSET);
    }

    /// [`Known::push`] of the step the last [`Known::consistent`] asked of (and found
    /// consistent), keeping the kinds that check found for its attribute.
    pub fn push_checked(&mut self, space: &Space<'a>, facts: &'a Facts, step: &Step) {
        let kinds = match self.checked.take() {
            Some((var, kinds)) if var == step.var => kinds,
            _ => UNSET,
        };
        self.push_kinds(space, facts, step, kinds);
    }

    fn push_kinds(&mut self, space: &Space<'a>, facts: &'a Facts, step: &Step, kinds: u8) {
        self.checked = None;
        let Some(slot) = constrained_slot(facts, step) else {
            self.undo.push(Undo::Nothing);
            return;
        };
        match self
            .entries
            .iter_mut()
            .enumerate()
            .find(|(_, e)| e.slot == slot)
        {
            Some((i, e)) => {
                let mark = e.need.mark();
                add_step(&mut e.need, facts, space.vars, step);
                self.undo.push(Undo::Added(i, mark, e.kinds));
                e.kinds = kinds;
                debug_assert!(kinds == UNSET || kinds == e.need.possible());
            }
            None => {
                let mut need = Need::default();
                add_step(&mut need, facts, space.vars, step);
                debug_assert!(kinds == UNSET || kinds == need.possible());
                let path = space
                    .slots
                    .get(slot as usize)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                self.entries.push(Entry {
                    slot,
                    path,
                    need,
                    kinds,
                });
                self.undo.push(Undo::Made);
            }
        }
    }

    /// Takes back the last step pushed.
    pub fn pop(&mut self) {
        self.checked = None;
        match self.undo.pop() {
            Some(Undo::Made) => {
                self.entries.pop();
            }
            Some(Undo::Added(i, mark, kinds)) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.need.reset(&mark);
                    e.kinds = kinds;
                }
            }
            Some(Undo::Nothing) | None => {}
        }
    }

    /// Whether `step` can follow the pushed steps (themselves satisfiable): the answer of
    /// [`consistent`] with those steps as its prefix.
    pub fn consistent(&mut self, space: &Space<'a>, facts: &'a Facts, step: &Step) -> bool {
        self.checked = None;
        let Some(slot) = facts.slot(step.var) else {
            return true;
        };
        self.scratch.clear();
        let mut own = None;
        // The step's row of the relation, looked up once for all the entries.
        let row = facts.related_row(slot);
        for (i, e) in self.entries.iter_mut().enumerate() {
            if e.slot == slot {
                own = Some(i);
                continue;
            }
            let related = match row {
                Some(row) => in_row(row, e.slot),
                None => related_slot(space, facts, slot, e.slot),
            };
            debug_assert_eq!(related, related_slot(space, facts, slot, e.slot));
            if related {
                if e.kinds == UNSET {
                    e.kinds = e.need.possible();
                }
                self.scratch.push(Kinds {
                    slot: e.slot,
                    path: e.path,
                    kinds: e.kinds,
                    pick: 0,
                });
            }
        }
        let path = space
            .slots
            .get(slot as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let adds = constrained_slot(facts, step).is_some();
        let kinds = match own.and_then(|i| self.entries.get_mut(i)) {
            Some(e) if adds => {
                let mark = e.need.mark();
                add_step(&mut e.need, facts, space.vars, step);
                let k = e.need.possible();
                e.need.reset(&mark);
                Some(k)
            }
            Some(e) => {
                if e.kinds == UNSET {
                    e.kinds = e.need.possible();
                }
                Some(e.kinds)
            }
            None if adds => {
                let mut need = Need::default();
                add_step(&mut need, facts, space.vars, step);
                Some(need.possible())
            }
            None => None,
        };
        if let Some(kinds) = kinds {
            self.scratch.push(Kinds {
                slot,
                path,
                kinds,
                pick: 0,
            });
        }
        // One attribute alone has no nesting to settle: a kind is picked for it when it has
        // any left (every kind is among those `settle` prefers), and none is always settled.
        let ok = match self.scratch.as_slice() {
            [] => true,
            [one] => {
                let ok = one.kinds != 0;
                debug_assert_eq!(ok, settle(&mut self.scratch));
                ok
            }
            _ => {
                self.scratch.sort_by_key(|a| (a.path.len(), a.slot));
                settle(&mut self.scratch)
            }
        };
        if let (true, true, Some(k)) = (ok, adds, kinds) {
            self.checked = Some((step.var, k));
        }
        ok
    }
}

/// An attribute's kinds in [`settle`]: those its needs leave possible, and the kind picked.
struct Kinds<'a> {
    slot: u32,
    path: &'a [String],
    kinds: u8,
    /// The kind picked for its value (0 before it is picked).
    pick: u8,
}

/// The fields of a [`Need`] and the lengths of its lists, to take back what was added after.
struct Mark<'a> {
    has: Option<bool>,
    str_eq: Option<&'a str>,
    lo: Option<(f64, bool)>,
    hi: Option<(f64, bool)>,
    bool_is: Option<bool>,
    lens: [usize; 5],
    kinds: u8,
    conflict: bool,
}

impl<'a> Need<'a> {
    /// Its fields and the lengths of its lists, for [`Need::reset`].
    fn mark(&self) -> Mark<'a> {
        Mark {
            has: self.has,
            str_eq: self.str_eq,
            lo: self.lo,
            hi: self.hi,
            bool_is: self.bool_is,
            lens: [
                self.str_ne.len(),
                self.list_of.len(),
                self.not_list_of.len(),
                self.list_has.len(),
                self.list_lacks.len(),
            ],
            kinds: self.kinds,
            conflict: self.conflict,
        }
    }

    /// Takes back what was added since `m` was made: [`Need::add`] and [`Need::typed`] only
    /// set fields and append to lists.
    fn reset(&mut self, m: &Mark<'a>) {
        self.has = m.has;
        self.str_eq = m.str_eq;
        self.lo = m.lo;
        self.hi = m.hi;
        self.bool_is = m.bool_is;
        let [a, b, c, d, e] = m.lens;
        self.str_ne.truncate(a);
        self.list_of.truncate(b);
        self.not_list_of.truncate(c);
        self.list_has.truncate(d);
        self.list_lacks.truncate(e);
        self.kinds = m.kinds;
        self.conflict = m.conflict;
    }
}

/// The nesting of `attrs` (sorted parents first, then by slot) narrowed to a fixpoint, and a
/// kind picked for each in that order; false when some attribute has no kind left.
fn settle(attrs: &mut [Kinds<'_>]) -> bool {
    let n = attrs.len();
    // Nesting, to a fixpoint: a child that must be present makes its parent a record; a
    // parent that cannot be a record leaves its children absent. Each rule only narrows, so
    // the fixpoint does not depend on the order the pairs are visited in.
    loop {
        let mut changed = false;
        for a in 0..n {
            for d in 0..n {
                let (Some(pa), Some(pd)) = (attrs.get(a), attrs.get(d)) else {
                    continue;
                };
                if !ancestor(pa.path, pd.path) {
                    continue;
                }
                let (ka, kd) = (pa.kinds, pd.kinds);
                let mut na = ka;
                let mut nd = kd;
                if kd & ABSENT == 0 {
                    na &= OBJ;
                }
                if ka & OBJ == 0 {
                    nd &= ABSENT;
                }
                if na != ka || nd != kd {
                    if let Some(x) = attrs.get_mut(a) {
                        x.kinds = na;
                    }
                    if let Some(x) = attrs.get_mut(d) {
                        x.kinds = nd;
                    }
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    if attrs.iter().any(|a| a.kinds == 0) {
        return false;
    }
    for i in 0..n {
        let Some(me) = attrs.get(i) else {
            continue;
        };
        let (k, path) = (me.kinds, me.path);
        // Those before it are picked: a child of a parent that is not a record is absent.
        let under_value = attrs
            .iter()
            .take(i)
            .any(|a| a.pick != OBJ && ancestor(a.path, path));
        let has_present_child = attrs
            .iter()
            .any(|d| ancestor(path, d.path) && d.kinds & ABSENT == 0);
        let prefer: &[u8] = if has_present_child {
            &[OBJ]
        } else {
            &[ABSENT, STR, NUM, BOOL, OBJ, ARR]
        };
        let pick = if under_value {
            (k & ABSENT != 0).then_some(ABSENT)
        } else {
            prefer.iter().copied().find(|p| k & p != 0)
        };
        let (Some(pick), Some(me)) = (pick, attrs.get_mut(i)) else {
            return false;
        };
        me.pick = pick;
    }
    true
}

/// The combinations of outcomes that comparisons of the same two values can take together.
///
/// A comparison of two attributes (`annotations.child_ring < agent.ring`) is a variable of its
/// own in the diagram, and so is every other comparison of the same two values
/// (`annotations.child_ring <= agent.ring`, `agent.ring > annotations.child_ring`): the
/// diagram treats them as independent, so the product of two versions holds combinations no
/// request reaches (`<` true and `<=` false), each carrying the whole rest of the policy with
/// it. Two values compare in one of four ways: the first is less, equal or greater, or one of
/// them is unknown (absent, `null` or mistyped: then every comparison of them is unknown, as
/// the VM decides it). The result is true exactly on the combinations of the comparisons'
/// outcomes one of those four ways gives (`m.t` when no two comparisons share their values):
/// conjoined with the diagram of changes it removes only requests that do not exist.
pub fn consistency(space: &mut crate::diff::space::Space) -> NodeRef {
    /// A comparison of a group's two values: its variable, its operator, and whether it
    /// names them in the other order.
    type Compared = (u32, CmpOp, bool);
    // Comparisons grouped by their two operands, in either order.
    let mut groups: Vec<(Operand, Operand, Vec<Compared>)> = Vec::new();
    for (i, v) in space.vars.iter().enumerate() {
        let Var::Pred(Pred::Cmp { op, lhs, rhs }) = v else {
            continue;
        };
        let var = i as u32;
        match groups
            .iter_mut()
            .find(|(a, b, _)| (a == lhs && b == rhs) || (a == rhs && b == lhs))
        {
            Some((a, _, list)) => {
                let swapped = a != lhs;
                list.push((var, *op, swapped));
            }
            None => groups.push((lhs.clone(), rhs.clone(), vec![(var, *op, false)])),
        }
    }
    let (t, f) = (space.m.t, space.m.f);
    let mut all = t;
    for (a, b, mut list) in groups {
        let same = a == b;
        if list.len() < 2 && !same {
            continue;
        }
        // Deepest variable first, so that each conjunction is built in the diagram's order.
        list.sort_by_key(|(v, _, _)| std::cmp::Reverse(*v));
        // The ways the two values compare: less, equal, greater (as numbers standing for
        // them), or unknown (`None`).
        let ways: &[Option<(f64, f64)>] = if same {
            &[Some((0.0, 0.0)), None]
        } else {
            &[Some((0.0, 1.0)), Some((0.0, 0.0)), Some((1.0, 0.0)), None]
        };
        let mut group = f;
        for way in ways {
            let mut conj = t;
            for (var, op, swapped) in &list {
                conj = match way {
                    Some((x, y)) => {
                        let holds = if *swapped {
                            op.holds(*y, *x)
                        } else {
                            op.holds(*x, *y)
                        };
                        if holds {
                            space.m.mk_tri(*var, conj, f, f)
                        } else {
                            space.m.mk_tri(*var, f, conj, f)
                        }
                    }
                    None => space.m.mk_tri(*var, f, f, conj),
                };
            }
            // group ∨ conj = ¬(¬group ∧ ¬conj)
            let (ng, nc) = (space.not(group), space.not(conj));
            let both = space.and(ng, nc);
            group = space.not(both);
        }
        all = space.and(all, group);
    }
    // `x contains c` and `fold_each(x) contains c`, where `c` folds to itself: a list of
    // strings that holds `c` has a fold that holds `c` (or one that is unknown: items too
    // long in all, or one that does not fold), and a value that is not a list of strings
    // leaves both unknown.
    let mut plain: Vec<(u32, u32, String)> = Vec::new();
    let mut folded: Vec<(u32, u32, String)> = Vec::new();
    for (i, v) in space.vars.iter().enumerate() {
        let Var::Pred(Pred::Contains {
            hay,
            needle: Operand::Str(c),
        }) = v
        else {
            continue;
        };
        match hay {
            Operand::Slot {
                slot,
                ty: Ty::List(Scalar::String),
            } => plain.push((i as u32, *slot, c.clone())),
            Operand::Func {
                func: crate::bytecode::model::Func::FoldEach,
                arg,
            } => {
                if let Operand::Slot {
                    slot,
                    ty: Ty::List(Scalar::String),
                } = arg.as_ref()
                {
                    folded.push((i as u32, *slot, c.clone()));
                }
            }
            _ => {}
        }
    }
    for (a, slot, c) in &plain {
        let fixed = matches!(
            crate::builtins::apply(crate::bytecode::model::Func::Fold, c),
            Some(crate::builtins::FnValue::Str(ref v)) if v == c
        );
        if !fixed {
            continue;
        }
        for (b, _, _) in folded.iter().filter(|(_, s2, c2)| s2 == slot && c2 == c) {
            // (plain, folded) outcomes that can happen together: T = 0, F = 1, U = 2.
            let mut pair = f;
            for (x, y) in [(0, 0), (0, 2), (1, 0), (1, 1), (1, 2), (2, 2)] {
                let lit = |space: &mut crate::diff::space::Space, var: u32, o: u8| {
                    let pick = |k: u8| if k == o { t } else { f };
                    space.m.mk_tri(var, pick(0), pick(1), pick(2))
                };
                let (la, lb) = (lit(space, *a, x), lit(space, *b, y));
                let conj = space.and(la, lb);
                let (np, nc) = (space.not(pair), space.not(conj));
                let both = space.and(np, nc);
                pair = space.not(both);
            }
            all = space.and(all, pair);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn numbers_in_ranges() {
        assert_eq!(pick_number(Some((5.0, false)), None), Some(6.0));
        assert_eq!(pick_number(Some((5.0, true)), Some((5.0, true))), Some(5.0));
        assert_eq!(pick_number(Some((5.0, false)), Some((5.0, true))), None);
        assert_eq!(
            pick_number(Some((1.0, false)), Some((2.0, false))),
            Some(1.5)
        );
        let a = 1.0f64;
        assert_eq!(
            pick_number(Some((a, false)), Some((a.next_up(), false))),
            None
        );
        assert_eq!(pick_number(None, Some((0.0, false))), Some(-1.0));
    }

    #[test]
    fn fresh_strings_avoid_constants() {
        let taken: BTreeSet<String> = ["x", "other", "y", "z", "x0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(fresh(|s| taken.contains(s)), "x1");
    }
}
