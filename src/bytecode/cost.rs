//! What a program may cost, computed from its verified structure before any of it is built or
//! run: the bytes built when it is loaded, its regexes, and the worst case of one decision.
//!
//! The decoder refuses a bundle above any bound ([`Cost::check`]), the compiler refuses sources
//! that would compile to one (`pipeline::build_sources`), `govern build --listing` prints the
//! figures, and `docs/bytecode.md` lists the bounds. Signatures (`--trust`) say who made a
//! bundle; these bounds hold whoever made it.
//!
//! **One decision** walks the diagram from each root, through every child of every fork.
//! Taking the costliest branch of each test and every child of each fork:
//! - *work* counts each test as 1, plus 1 for every function applied to compute its operands
//!   (`lower(lower(x))` is 2), plus 1 for every constant an `in` scans: each unit is at most
//!   one pass over a value of the event;
//! - *merged* counts each leaf reached as 1, plus its items, plus the attributes checked when
//!   its rules are unknown: what is merged into the decision when forks reach several leaves.
//!
//! **At load**, *materialised* counts the bytes of every string the decoder builds (each
//! reference to a string of the table is a copy of it) and 8 bytes for each attribute check
//! the VM prepares for its leaves. Regexes are counted and their sources measured here;
//! compiling them is bounded by [`REGEX_MEMORY`] when the program is loaded (see `vm`).

use std::fmt;

use super::model::{Item, Model, NodeDef, Operand, Pred, RuleInfo, Target, Tracker, Var};

/// The most work one decision may do (see the module documentation).
pub const MAX_WORK: u64 = 1 << 18;
/// The most leaves, items and checks one decision may merge.
pub const MAX_MERGED: u64 = 1 << 20;
/// Bytes a bundle may build at load beyond its own size ([`materialised_limit`]).
pub const MATERIALISED_BASE: u64 = 16 << 20;
/// Bytes built at load for each byte of the bundle, beyond [`MATERIALISED_BASE`].
pub const MATERIALISED_PER_BYTE: u64 = 2;
/// The most regexes (`matches` and `like` tests) a bundle may hold.
pub const MAX_REGEXES: u64 = 4096;
/// The most bytes of regex source a bundle may hold, all regexes together.
pub const MAX_REGEX_SOURCE: u64 = 1 << 20;
/// The most memory all compiled regexes of a bundle may take together, as the regex engine
/// measures it; each one is also compiled under [`REGEX_SIZE_LIMIT`].
pub const REGEX_MEMORY: usize = 64 << 20;
/// The regex crate's size limit for one compiled regex, at build time and at load.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// The lazy-DFA cache all regexes of a bundle may use together on one thread; each gets an
/// equal share, at most [`REGEX_SIZE_LIMIT`].
pub const REGEX_CACHE: usize = 64 << 20;
/// The most functions nested in one operand (`lower(upper(…))`).
pub const MAX_OPERAND_DEPTH: u32 = 64;

/// The most bytes a bundle of `len` bytes may build at load.
pub fn materialised_limit(len: usize) -> u64 {
    MATERIALISED_BASE.saturating_add(MATERIALISED_PER_BYTE.saturating_mul(len as u64))
}

/// The lazy-DFA cache of each of `n` regexes.
pub fn regex_cache_share(n: usize) -> usize {
    (REGEX_CACHE / n.max(1)).min(REGEX_SIZE_LIMIT)
}

/// The worst case of one decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Tests made.
    pub tests: u64,
    /// Tests weighted by the functions and constants they go through.
    pub work: u64,
    /// Leaves reached.
    pub leaves: u64,
    /// Leaves, items and attribute checks merged.
    pub merged: u64,
}

/// Everything a program may cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub decision: Decision,
    /// Bytes built at load: strings and attribute checks.
    pub materialised: u64,
    /// Regex tests.
    pub regexes: u64,
    /// Bytes of regex source, all regexes together.
    pub regex_source: u64,
}

/// A bound a program exceeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exceeded {
    Work(u64),
    Merged(u64),
    Materialised { bytes: u64, limit: u64 },
    Regexes(u64),
    RegexSource(u64),
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exceeded::Work(w) => write!(
                f,
                "one decision could do {w} units of work (tests, functions applied and constants scanned), more than the limit of {MAX_WORK}"
            ),
            Exceeded::Merged(m) => write!(
                f,
                "one decision could merge {m} leaves, rules and attribute checks, more than the limit of {MAX_MERGED}"
            ),
            Exceeded::Materialised { bytes, limit } => write!(
                f,
                "loading the program would build {bytes} bytes of strings and checks, more than the limit of {limit}"
            ),
            Exceeded::Regexes(n) => write!(
                f,
                "the program has {n} regexes, more than the limit of {MAX_REGEXES}"
            ),
            Exceeded::RegexSource(n) => write!(
                f,
                "the program's regexes are {n} bytes long together, more than the limit of {MAX_REGEX_SOURCE}"
            ),
        }
    }
}

impl Cost {
    /// The cost of a whole model (the decoder computes the same figures as it reads).
    pub fn of<'m>(m: &'m Model) -> Cost {
        // The string table holds each distinct string once; every place that refers to one
        // gets its own copy when the bundle is decoded.
        let mut table: std::collections::BTreeSet<&'m str> = std::collections::BTreeSet::new();
        let mut refs = 0u64;
        let mut add = |s: &'m str| {
            table.insert(s);
            refs = refs.saturating_add(s.len() as u64);
        };
        for f in &m.files {
            add(f);
        }
        for p in &m.slots {
            for s in p {
                add(s);
            }
        }
        let mut regexes = 0u64;
        let mut regex_source = 0u64;
        for v in &m.vars {
            for_each_string(v, &mut add);
            if let Var::Pred(Pred::Regex { regex, .. }) = v {
                regexes += 1;
                regex_source = regex_source.saturating_add(regex.len() as u64);
            }
        }
        for r in &m.rules {
            for s in std::iter::once(&r.id)
                .chain(r.message.iter())
                .chain(r.tags.iter())
                .chain(r.severity.iter())
            {
                add(s);
            }
        }
        let mut materialised = (m.compiler.len() as u64).saturating_add(refs);
        for s in &table {
            materialised = materialised.saturating_add(s.len() as u64);
        }
        let checks = leaf_checks(m);
        for c in &checks {
            add_checks(&mut materialised, *c);
        }
        Cost {
            decision: decision(m, &checks),
            materialised,
            regexes,
            regex_source,
        }
    }

    /// The first bound exceeded, if any, for a bundle of `len` bytes.
    pub fn check(&self, len: usize) -> Result<(), Exceeded> {
        let limit = materialised_limit(len);
        if self.materialised > limit {
            return Err(Exceeded::Materialised {
                bytes: self.materialised,
                limit,
            });
        }
        if self.regexes > MAX_REGEXES {
            return Err(Exceeded::Regexes(self.regexes));
        }
        if self.regex_source > MAX_REGEX_SOURCE {
            return Err(Exceeded::RegexSource(self.regex_source));
        }
        self.decision.check()
    }
}

impl Decision {
    /// The first per-decision bound exceeded, if any.
    pub fn check(&self) -> Result<(), Exceeded> {
        if self.work > MAX_WORK {
            return Err(Exceeded::Work(self.work));
        }
        if self.merged > MAX_MERGED {
            return Err(Exceeded::Merged(self.merged));
        }
        Ok(())
    }
}

/// Adds the bytes of `n` attribute checks.
pub(crate) fn add_checks(materialised: &mut u64, n: u64) {
    *materialised = materialised.saturating_add(n.saturating_mul(8));
}

fn for_each_string<'a>(v: &'a Var, f: &mut dyn FnMut(&'a str)) {
    fn op<'a>(o: &'a Operand, f: &mut dyn FnMut(&'a str)) {
        match o {
            Operand::Str(s) => f(s),
            Operand::Func { arg, .. } => op(arg, f),
            _ => {}
        }
    }
    match v {
        Var::Switch { operand, consts } => {
            op(operand, f);
            for c in consts {
                f(c);
            }
        }
        Var::Thresh { operand } | Var::Bool { operand } => op(operand, f),
        Var::Has { .. } => {}
        Var::Pred(p) => match p {
            Pred::Cmp { lhs, rhs, .. }
            | Pred::StartsWith { lhs, rhs }
            | Pred::EndsWith { lhs, rhs } => {
                op(lhs, f);
                op(rhs, f);
            }
            Pred::Contains { hay, needle } => {
                op(hay, f);
                op(needle, f);
            }
            Pred::In { lhs, values } => {
                op(lhs, f);
                for v in values {
                    op(v, f);
                }
            }
            Pred::Regex {
                lhs,
                regex,
                written,
                ..
            } => {
                op(lhs, f);
                f(regex);
                f(written);
            }
        },
    }
}

/// Functions applied to compute an operand.
pub fn operand_work(o: &Operand) -> u64 {
    let mut n = 0u64;
    let mut at = o;
    while let Operand::Func { arg, .. } = at {
        n += 1;
        at = arg;
    }
    n
}

/// The work of testing a variable once: 1, plus the functions applied to its operands, plus
/// the constants an `in` scans.
pub fn var_work(v: &Var) -> u64 {
    let ops = |a: &Operand, b: &Operand| operand_work(a).saturating_add(operand_work(b));
    1u64.saturating_add(match v {
        Var::Switch { operand, .. } | Var::Thresh { operand } | Var::Bool { operand } => {
            operand_work(operand)
        }
        Var::Has { .. } => 0,
        Var::Pred(p) => match p {
            Pred::Cmp { lhs, rhs, .. }
            | Pred::StartsWith { lhs, rhs }
            | Pred::EndsWith { lhs, rhs } => ops(lhs, rhs),
            Pred::Contains { hay, needle } => ops(hay, needle),
            Pred::In { lhs, values } => operand_work(lhs)
                .saturating_add(values.iter().map(operand_work).sum::<u64>())
                .saturating_add(values.len() as u64),
            Pred::Regex { lhs, .. } => operand_work(lhs),
        },
    })
}

/// The attribute checks the VM prepares for a rule that is unknown in a leaf: the attributes
/// it reads, and for each tracker it reads, the tracker and the attributes its uncertain
/// events may leave behind (looked up when a decision reaches the leaf).
pub fn rule_checks(rule: &RuleInfo, trackers: &[Tracker]) -> u64 {
    let blamed: u64 = rule
        .trackers
        .iter()
        .map(|&t| 1 + trackers.get(t as usize).map_or(0, |t| t.refs.len() as u64))
        .fold(0, u64::saturating_add);
    (rule.refs.len() as u64).saturating_add(blamed)
}

/// For each leaf, the attribute checks the VM prepares for it ([`rule_checks`] of each rule
/// that is unknown there).
pub fn leaf_checks(m: &Model) -> Vec<u64> {
    m.leaves
        .iter()
        .map(|items| {
            items
                .iter()
                .filter_map(|&c| match Item::decode(c) {
                    Some(Item::RuleUnknown(r)) => m.rules.get(r as usize),
                    _ => None,
                })
                .map(|r| rule_checks(r, &m.trackers))
                .fold(0, u64::saturating_add)
        })
        .collect()
}

/// The worst case of one decision of `m`, given each leaf's attribute checks.
pub fn decision(m: &Model, checks: &[u64]) -> Decision {
    let work: Vec<u64> = m.vars.iter().map(var_work).collect();
    let leaf = |l: u32| -> Decision {
        let i = l as usize;
        let items = m.leaves.get(i).map_or(0, |x| x.len() as u64);
        Decision {
            tests: 0,
            work: 0,
            leaves: 1,
            merged: 1u64
                .saturating_add(items)
                .saturating_add(checks.get(i).copied().unwrap_or(0)),
        }
    };
    walk(
        &m.nodes,
        &m.roots,
        &|v| work.get(v as usize).copied().unwrap_or(1),
        &leaf,
    )
}

/// The worst case over all walks: the costliest branch of each test (each figure on its own),
/// every child of each fork, every root. `var_work` weighs a test, `leaf` a leaf.
pub fn walk(
    nodes: &[NodeDef],
    roots: &[Target],
    var_work: &dyn Fn(u32) -> u64,
    leaf: &dyn Fn(u32) -> Decision,
) -> Decision {
    // Children come after parents, so one pass from the end sees children first.
    let mut table = vec![Decision::default(); nodes.len()];
    let of = |t: &Target, table: &[Decision]| match t {
        Target::Leaf(l) => leaf(*l),
        Target::Node(j) => table.get(*j as usize).copied().unwrap_or_default(),
    };
    let sum = |a: Decision, b: Decision| Decision {
        tests: a.tests.saturating_add(b.tests),
        work: a.work.saturating_add(b.work),
        leaves: a.leaves.saturating_add(b.leaves),
        merged: a.merged.saturating_add(b.merged),
    };
    let max = |a: Decision, b: Decision| Decision {
        tests: a.tests.max(b.tests),
        work: a.work.max(b.work),
        leaves: a.leaves.max(b.leaves),
        merged: a.merged.max(b.merged),
    };
    for i in (0..nodes.len()).rev() {
        let Some(node) = nodes.get(i) else { continue };
        let d = match node {
            NodeDef::Fork { children } => children
                .iter()
                .map(|c| of(c, &table))
                .fold(Decision::default(), sum),
            _ => {
                let below = node
                    .targets()
                    .iter()
                    .map(|c| of(c, &table))
                    .fold(Decision::default(), max);
                let w = node.var().map_or(1, var_work);
                Decision {
                    tests: below.tests.saturating_add(1),
                    work: below.work.saturating_add(w),
                    ..below
                }
            }
        };
        if let Some(x) = table.get_mut(i) {
            *x = d;
        }
    }
    roots
        .iter()
        .map(|r| of(r, &table))
        .fold(Decision::default(), sum)
}
