//! Checked bundle → decision diagram → program model.
//!
//! 1. Every attribute the bundle reads gets a *slot* (sorted paths, so ids are stable).
//! 2. Every condition is lowered to Kleene logic over *atoms*, each a set of outcomes of one
//!    *variable*: a string switch (`tool == "x"`, `tool in [..]`), a number threshold
//!    (`args.amount <= 1000`), a boolean, a presence test, or another three-valued test
//!    (regex, glob, substring, …). Identical `count`/`sum`/`seen` calls share one tracker.
//! 3. Variables are ordered: discrete switches first, then thresholds and booleans, then other
//!    tests, then anything that looks up stream state; more-used first within a class.
//! 4. Each rule (and each tracker condition) becomes a diagram whose leaves say whether it
//!    holds or is unknown; the diagrams are united pairwise, balanced, into one diagram. Where
//!    uniting two sub-diagrams that test unrelated variables would multiply their sizes, the
//!    union is a *fork* instead: the VM walks each of its sub-diagrams and merges the leaves
//!    (see `dd`). Common paths stay one walk; the verifier bounds the worst case.

pub mod analysis;
pub mod bounds;
mod combine;
pub mod dd;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::bytecode::model::{Item, Model, NodeDef, Operand, Pred, RuleInfo, Target, Tracker, Var};
use crate::check::{Attr, Bundle, Cond, Const, OperandKind, StatefulId, Test, TestKind, Ty};
use crate::syntax::ast::CmpOp;
use dd::{Manager, Node, NodeRef, Num, VarShape};

/// The version recorded in every bundle.
pub const COMPILER_VERSION: &str = concat!("govern ", env!("CARGO_PKG_VERSION"));

/// A condition over variables, before the order of the variables is known.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum L {
    Const(bool),
    And(Vec<L>),
    Or(Vec<L>),
    Not(Box<L>),
    Atom(usize, Atom),
}

/// Which outcomes of a variable make an atom true.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Atom {
    /// The string is one of these, distinct (or, negated, none of them).
    InStrings(Strs, bool),
    /// `x OP c`
    Cmp(CmpOp, Num),
    /// The number is one of these (or, negated, none of them).
    InNums(Vec<Num>, bool),
    /// True on these boolean outcomes.
    Bool { on_true: bool, on_false: bool },
    /// The test's own truth.
    Holds,
}

/// The strings of an atom: written in the condition (or merged from several tests), or the
/// items of a set, shared with the checked bundle rather than copied (a set read from a data
/// file may hold a million).
#[derive(Clone, Debug)]
enum Strs {
    Own(Vec<String>),
    /// Every item is a string (checked when the atom is made).
    Set(Arc<[Const]>),
}

impl Strs {
    fn len(&self) -> usize {
        match self {
            Strs::Own(v) => v.len(),
            Strs::Set(s) => s.len(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let (own, set) = match self {
            Strs::Own(v) => (Some(v.iter().map(String::as_str)), None),
            Strs::Set(s) => (
                None,
                Some(s.iter().filter_map(|c| match c {
                    Const::String(s) => Some(s.as_str()),
                    _ => None,
                })),
            ),
        };
        own.into_iter().flatten().chain(set.into_iter().flatten())
    }

    fn into_vec(self) -> Vec<String> {
        match self {
            Strs::Own(v) => v,
            Strs::Set(_) => self.iter().map(str::to_string).collect(),
        }
    }
}

impl PartialEq for Strs {
    fn eq(&self, other: &Strs) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Strs {}

impl std::hash::Hash for Strs {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for s in self.iter() {
            s.hash(state);
        }
    }
}

/// A variable while lowering; `Eq + Hash` so that equal tests share one variable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum VarKey {
    Switch(OpKey),
    Thresh(OpKey),
    Bool(OpKey),
    Has(u32),
    Pred(PredKey),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum OpKey {
    Slot(u32, Ty),
    Str(String),
    Num(Num),
    Bool(bool),
    Func(crate::check::Func, Box<OpKey>),
    Tracker(u32),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum PredKey {
    Cmp(CmpOp, OpKey, OpKey),
    In(OpKey, Vec<OpKey>),
    Contains(OpKey, OpKey),
    StartsWith(OpKey, OpKey),
    EndsWith(OpKey, OpKey),
    Regex(OpKey, String, String, bool),
}

/// Identity of a tracker: equal calls share state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TrackerKey {
    kind: u8,
    within: Option<i64>,
    per: Vec<u32>,
    value: Option<u32>,
    cond: L,
}

struct Lowerer {
    slots: BTreeMap<Vec<String>, u32>,
    vars: Vec<VarKey>,
    var_ids: FxHashMap<VarKey, usize>,
    /// Constants compared with each switch variable.
    /// Sorted and deduplicated once all conditions are lowered (see [`lower`]).
    var_consts: FxHashMap<usize, Vec<String>>,
    trackers: Vec<(TrackerKey, Tracker)>,
    tracker_ids: FxHashMap<TrackerKey, u32>,
    /// Stateful call → tracker.
    stateful_tracker: FxHashMap<StatefulId, u32>,
    /// A test lowered as a constant instead (analysis asks "what if this test were …").
    forced: Option<(*const Test, bool)>,
}

/// A bundle whose decision diagram would need more than [`dd::MEMORY_LIMIT`] bytes, or
/// operations deeper than [`dd::DEPTH_LIMIT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// The index in `bundle.rules` of the rule being built when the limit was reached; `None`
    /// when it was reached while joining the rules' diagrams.
    pub rule: Option<usize>,
}

impl TooLarge {
    /// The error as a diagnostic, pointing at the rule when there is one.
    pub fn diag(&self, bundle: &Bundle) -> crate::diag::Diag {
        use crate::diag::Diag;
        let message = format!(
            "the decision diagram would need more than {} MiB",
            dd::MEMORY_LIMIT >> 20
        );
        let rule = self.rule.and_then(|i| bundle.rules.get(i));
        let d = Diag::error("govern::too_large", message);
        let d = match rule.and_then(|r| Some((r, bundle.file(r.loc)?))) {
            Some((r, file)) => d.at(
                file,
                r.loc.span,
                format!("the condition of `{}` grows exponentially", r.id),
            ),
            None => d,
        };
        d.help(
            "a condition like `(a0 or b0) and (a1 or b1) and …` over many different attributes \
             has a diagram exponential in their number: split the rule into several rules, or \
             test fewer independent attributes in one condition",
        )
    }
}

/// Compiles a checked bundle.
pub fn compile(bundle: &Bundle) -> Result<Model, TooLarge> {
    compile_with(bundle, dd::DEFAULT_COPY_FACTOR)
}

/// Compiles with a custom copy factor (see `dd`): tests use 0 to fork wherever two
/// sub-diagrams test unrelated variables, exercising the merging of forked leaves.
pub fn compile_with(bundle: &Bundle, copy_factor: u64) -> Result<Model, TooLarge> {
    let Lowered {
        lw,
        tracker_conds,
        rule_conds,
        order,
        rank,
        mut consts,
        shapes,
    } = lower(bundle);

    // Build one diagram per rule and per tracker condition.
    let mut m = Manager::new(shapes);
    m.copy_factor = copy_factor;
    let mut diagrams = Vec::new();
    let b = Builder {
        rank: &rank,
        consts: &consts,
        vars: &lw.vars,
    };
    for (t, l) in tracker_conds.iter().enumerate() {
        let d = b.build(&mut m, l);
        let t = u32::try_from(t).unwrap_or(u32::MAX);
        diagrams.push(m.map(d, Some(Item::Fire(t).code()), Some(Item::Maybe(t).code())));
        if m.exceeded() {
            // A tracker condition is a rule's stateful call: blame no rule in particular.
            return Err(TooLarge { rule: None });
        }
    }
    for (i, l) in rule_conds.iter().enumerate() {
        let d = b.build(&mut m, l);
        let r = u32::try_from(i).unwrap_or(u32::MAX);
        diagrams.push(m.map(
            d,
            Some(Item::RuleTrue(r).code()),
            Some(Item::RuleUnknown(r).code()),
        ));
        if m.exceeded() {
            return Err(TooLarge { rule: Some(i) });
        }
    }
    let root = unite(&mut m, diagrams);
    if m.exceeded() {
        return Err(TooLarge { rule: None });
    }
    let roots = vec![root];

    // Emit.
    let vars: Vec<Var> = order
        .iter()
        .map(|&v| {
            // The diagrams are built: each variable's constants move into its definition.
            let c = consts.get_mut(v).map(std::mem::take).unwrap_or_default();
            lw.var_def(v, c)
        })
        .collect();
    let reachable = m.reachable(&roots);
    let mut node_ids: FxHashMap<NodeRef, u32> = FxHashMap::default();
    let mut leaf_ids: FxHashMap<NodeRef, u32> = FxHashMap::default();
    let mut leaves: Vec<Vec<u32>> = Vec::new();
    let mut node_refs: Vec<NodeRef> = Vec::new();
    for &r in &reachable {
        match m.node(r) {
            Node::Leaf(items) => {
                leaf_ids.insert(r, u32::try_from(leaves.len()).unwrap_or(u32::MAX));
                leaves.push(items.to_vec());
            }
            _ => {
                node_ids.insert(r, u32::try_from(node_refs.len()).unwrap_or(u32::MAX));
                node_refs.push(r);
            }
        }
    }
    let target = |r: NodeRef| -> Target {
        match leaf_ids.get(&r) {
            Some(&l) => Target::Leaf(l),
            None => Target::Node(node_ids.get(&r).copied().unwrap_or(0)),
        }
    };
    let nodes: Vec<NodeDef> = node_refs
        .iter()
        .map(|&r| match m.node(r) {
            Node::Switch {
                var,
                branches,
                default,
                unknown,
            } => NodeDef::Switch {
                var: *var,
                branches: branches.iter().map(|(c, n)| (*c, target(*n))).collect(),
                default: target(*default),
                unknown: target(*unknown),
            },
            Node::Thresh {
                var,
                cuts,
                regions,
                unknown,
            } => NodeDef::Thresh {
                var: *var,
                cuts: cuts.iter().map(|c| c.0).collect(),
                regions: regions.iter().map(|n| target(*n)).collect(),
                unknown: target(*unknown),
            },
            Node::Tri { var, t, f, u } => NodeDef::Tri {
                var: *var,
                t: target(*t),
                f: target(*f),
                u: target(*u),
            },
            Node::Fork(children) => NodeDef::Fork {
                children: children.iter().map(|c| target(*c)).collect(),
            },
            Node::Leaf(_) => NodeDef::Tri {
                var: 0,
                t: target(r),
                f: target(r),
                u: target(r),
            },
        })
        .collect();
    let roots: Vec<Target> = roots.iter().map(|&r| target(r)).collect();

    let files: Vec<String> = bundle
        .files
        .iter()
        .map(|f| f.recorded_name().to_string())
        .collect();
    let rules = bundle
        .rules
        .iter()
        .map(|r| {
            let (line, column) = bundle
                .file(r.loc)
                .map(|f| f.line_col(r.loc.span.start as usize))
                .unwrap_or((0, 0));
            let mut refs: Vec<(u32, Ty)> = r
                .cond
                .attr_refs(bundle)
                .into_iter()
                .map(|(a, ty)| (lw.slot(&a), ty))
                .collect();
            refs.sort();
            refs.dedup();
            let trackers = lw.trackers_read(&r.cond);
            RuleInfo {
                id: r.id.clone(),
                effect: r.effect,
                message: r.message.clone(),
                tags: r.tags.clone(),
                severity: r.severity.clone(),
                file: r.loc.file,
                line: u32::try_from(line).unwrap_or(0),
                column: u32::try_from(column).unwrap_or(0),
                refs,
                trackers,
            }
        })
        .collect();
    let slots: Vec<Vec<String>> = lw.slots.keys().cloned().collect();
    Ok(Model {
        compiler: COMPILER_VERSION.to_string(),
        source_digest: bundle.source_digest,
        default: bundle.default,
        files,
        slots,
        trackers: lw.trackers.into_iter().map(|(_, t)| t).collect(),
        vars,
        rules,
        leaves,
        nodes,
        roots,
    })
}

/// The tracker each stateful call of `bundle` uses, by [`StatefulId`], numbered as
/// [`compile`] numbers them (equal calls share one tracker).
pub fn stateful_trackers(bundle: &Bundle) -> Vec<u32> {
    let lowered = lower(bundle);
    (0..bundle.statefuls.len())
        .map(|i| {
            let id = StatefulId(u32::try_from(i).unwrap_or(u32::MAX));
            lowered
                .lw
                .stateful_tracker
                .get(&id)
                .copied()
                .unwrap_or(u32::MAX)
        })
        .collect()
}

/// A bundle's conditions lowered to Kleene logic over ordered variables.
pub(crate) struct Lowered {
    lw: Lowerer,
    /// One condition per distinct tracker.
    tracker_conds: Vec<L>,
    /// One condition per rule, in rule order.
    rule_conds: Vec<L>,
    /// Variables in diagram order.
    order: Vec<usize>,
    /// The position of each variable in `order`.
    rank: Vec<u32>,
    /// Constants compared with each (switch) variable, sorted.
    consts: Vec<Vec<String>>,
    /// The shape of each variable, in diagram order.
    shapes: Vec<VarShape>,
}

/// Lowers every rule and tracker condition and orders the variables.
fn lower(bundle: &Bundle) -> Lowered {
    let mut lw = Lowerer {
        slots: collect_slots(bundle),
        vars: Vec::new(),
        var_ids: FxHashMap::default(),
        var_consts: FxHashMap::default(),
        trackers: Vec::new(),
        tracker_ids: FxHashMap::default(),
        stateful_tracker: FxHashMap::default(),
        forced: None,
    };
    // Statefuls first: inner calls have lower ids, so their trackers exist when outer
    // conditions refer to them.
    let mut tracker_conds: Vec<L> = Vec::new();
    for (i, s) in bundle.statefuls.iter().enumerate() {
        let cond = lw.cond(&s.cond);
        let key = TrackerKey {
            kind: s.kind as u8,
            within: s.within,
            per: s.per.iter().map(|a| lw.slot(a)).collect(),
            value: s.value.as_ref().map(|a| lw.slot(a)),
            cond: cond.clone(),
        };
        let id = match lw.tracker_ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(lw.trackers.len()).unwrap_or(u32::MAX);
                let mut refs: Vec<(u32, Ty)> = s
                    .cond
                    .attr_refs(bundle)
                    .into_iter()
                    .map(|(a, ty)| (lw.slot(&a), ty))
                    .collect();
                refs.extend(key.value.map(|v| (v, Ty::Number)));
                refs.sort();
                refs.dedup();
                let inner = lw.trackers_read(&s.cond);
                let tracker = Tracker {
                    kind: s.kind,
                    within: s.within,
                    per: key.per.clone(),
                    value: key.value,
                    refs,
                    inner,
                };
                lw.trackers.push((key.clone(), tracker));
                lw.tracker_ids.insert(key, id);
                tracker_conds.push(cond);
                id
            }
        };
        lw.stateful_tracker
            .insert(StatefulId(u32::try_from(i).unwrap_or(u32::MAX)), id);
    }
    let rule_conds: Vec<L> = bundle.rules.iter().map(|r| lw.cond(&r.cond)).collect();

    // Order the variables.
    let mut uses = vec![0usize; lw.vars.len()];
    for l in rule_conds.iter().chain(tracker_conds.iter()) {
        let mut seen = BTreeSet::new();
        vars_of(l, &mut seen);
        for v in seen {
            if let Some(u) = uses.get_mut(v) {
                *u += 1;
            }
        }
    }
    let mut order: Vec<usize> = (0..lw.vars.len()).collect();
    let keys: Vec<String> = lw.vars.iter().map(|v| format!("{v:?}")).collect();
    let time_slots: Vec<u32> = lw
        .slots
        .iter()
        .filter(|(p, _)| p.first().is_some_and(|s| s == "time"))
        .map(|(_, &s)| s)
        .collect();
    let class = |v: usize| var_class(lw.vars.get(v), &time_slots);
    order.sort_by(|&a, &b| {
        let ka = (class(a), std::cmp::Reverse(uses.get(a)), keys.get(a));
        let kb = (class(b), std::cmp::Reverse(uses.get(b)), keys.get(b));
        ka.cmp(&kb)
    });
    let mut rank = vec![0u32; lw.vars.len()];
    for (pos, &v) in order.iter().enumerate() {
        if let Some(r) = rank.get_mut(v) {
            *r = u32::try_from(pos).unwrap_or(u32::MAX);
        }
    }
    let consts: Vec<Vec<String>> = (0..lw.vars.len())
        .map(|v| match lw.var_consts.remove(&v) {
            // Conditions lowered later (by the analysis) find no constants here: a string they
            // add has no branch, as when it is not among a variable's sorted constants.
            Some(mut s) => {
                s.sort_unstable();
                s.dedup();
                s
            }
            None => Vec::new(),
        })
        .collect();
    let shapes: Vec<VarShape> = order
        .iter()
        .map(|&v| match lw.vars.get(v) {
            Some(VarKey::Switch(_)) => VarShape::Switch,
            Some(VarKey::Thresh(_)) => VarShape::Thresh,
            _ => VarShape::Tri,
        })
        .collect();
    Lowered {
        lw,
        tracker_conds,
        rule_conds,
        order,
        rank,
        consts,
        shapes,
    }
}

/// Unites the diagrams pairwise, balanced, so that each union meets diagrams of similar size.
fn unite(m: &mut Manager, diagrams: Vec<NodeRef>) -> NodeRef {
    let mut level = diagrams;
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len() / 2 + 1);
        for pair in level.chunks(2) {
            match pair {
                [a, b] => next.push(m.union(*a, *b)),
                [a] => next.push(*a),
                _ => {}
            }
        }
        level = next;
    }
    level.first().copied().unwrap_or(m.f)
}

/// Classes of variables in diagram order: cheap tests on attributes first, then tests that
/// transform strings, then regexes and functions that parse, decode or scan their input, then
/// anything that depends on the stream: a tracker's value, and `time.*` (whether an event's `ts`
/// is believed depends on stream time). Within a class the variables more rules use come first,
/// so shared tests (`tool`, a policy's scope) sit at the top of the diagram.
fn var_class(v: Option<&VarKey>, time_slots: &[u32]) -> u8 {
    let op = |k: &OpKey| op_class(k, time_slots);
    match v {
        Some(VarKey::Switch(k) | VarKey::Thresh(k) | VarKey::Bool(k)) => op(k),
        Some(VarKey::Has(slot)) => {
            if time_slots.contains(slot) {
                3
            } else {
                0
            }
        }
        Some(VarKey::Pred(p)) => match p {
            PredKey::Cmp(_, a, b)
            | PredKey::Contains(a, b)
            | PredKey::StartsWith(a, b)
            | PredKey::EndsWith(a, b) => op(a).max(op(b)),
            PredKey::In(a, vs) => vs.iter().map(op).fold(op(a), u8::max),
            PredKey::Regex(a, ..) => op(a).max(2),
        },
        None => 4,
    }
}

fn op_class(k: &OpKey, time_slots: &[u32]) -> u8 {
    match k {
        OpKey::Tracker(_) => 3,
        OpKey::Slot(slot, _) if time_slots.contains(slot) => 3,
        OpKey::Func(f, inner) => op_class(inner, time_slots).max(if f.is_costly() { 2 } else { 1 }),
        _ => 0,
    }
}

impl OpKey {
    /// Whether the value is a tracker's (a range when its events were uncertain).
    fn is_tracker(&self) -> bool {
        matches!(self, OpKey::Tracker(_))
    }
}

fn vars_of(l: &L, out: &mut BTreeSet<usize>) {
    match l {
        L::Const(_) => {}
        L::And(ps) | L::Or(ps) => ps.iter().for_each(|p| vars_of(p, out)),
        L::Not(p) => vars_of(p, out),
        L::Atom(v, _) => {
            out.insert(*v);
        }
    }
}

/// Every attribute path the bundle reads, mapped to sorted slot ids.
fn collect_slots(bundle: &Bundle) -> BTreeMap<Vec<String>, u32> {
    let mut paths: BTreeSet<Vec<String>> = BTreeSet::new();
    paths.insert(vec!["ts".to_string()]);
    fn op(o: &crate::check::Operand, paths: &mut BTreeSet<Vec<String>>) {
        match &o.kind {
            OperandKind::Attr(a) => {
                paths.insert(a.segments().to_vec());
            }
            OperandKind::Func(_, inner) => op(inner, paths),
            _ => {}
        }
    }
    fn cond(c: &Cond, paths: &mut BTreeSet<Vec<String>>) {
        match c {
            Cond::Const(_) => {}
            Cond::And(ps) | Cond::Or(ps) => ps.iter().for_each(|p| cond(p, paths)),
            Cond::Not(p) => cond(p, paths),
            Cond::Has(a, _) => {
                paths.insert(has_path(a));
            }
            Cond::Test(t) => t.operands().into_iter().for_each(|o| op(o, paths)),
        }
    }
    for r in &bundle.rules {
        cond(&r.cond, &mut paths);
    }
    for s in &bundle.statefuls {
        cond(&s.cond, &mut paths);
        for p in &s.per {
            paths.insert(p.segments().to_vec());
        }
        if let Some(v) = &s.value {
            paths.insert(v.segments().to_vec());
        }
    }
    paths
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, u32::try_from(i).unwrap_or(u32::MAX)))
        .collect()
}

/// The slot `has` tests for an attribute: `time` and `time.*` are present when `ts` is valid,
/// which is when the derived `time.hour` slot is filled.
fn has_path(a: &Attr) -> Vec<String> {
    match a.segments().first() {
        Some(root) if root == "time" => vec!["time".into(), "hour".into()],
        _ => a.segments().to_vec(),
    }
}

impl Lowerer {
    fn slot(&self, a: &Attr) -> u32 {
        self.slots.get(a.segments()).copied().unwrap_or(0)
    }

    /// The trackers a condition reads directly (not those inside their conditions), sorted.
    fn trackers_read(&self, c: &Cond) -> Vec<u32> {
        let mut ids = Vec::new();
        c.for_each_stateful(&mut |id| ids.push(id));
        let mut out: Vec<u32> = ids
            .into_iter()
            .filter_map(|id| self.stateful_tracker.get(&id).copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn var(&mut self, key: VarKey) -> usize {
        if let Some(&v) = self.var_ids.get(&key) {
            return v;
        }
        let v = self.vars.len();
        self.vars.push(key.clone());
        self.var_ids.insert(key, v);
        v
    }

    fn cond(&mut self, c: &Cond) -> L {
        match c {
            Cond::Const(b) => L::Const(*b),
            Cond::And(ps) => combine::combine(ps.iter().map(|p| self.cond(p)).collect(), false),
            Cond::Or(ps) => combine::combine(ps.iter().map(|p| self.cond(p)).collect(), true),
            Cond::Not(p) => combine::negate(self.cond(p)),
            Cond::Has(a, _) => {
                let slot = self.slots.get(&has_path(a)).copied().unwrap_or(0);
                L::Atom(self.var(VarKey::Has(slot)), Atom::Holds)
            }
            Cond::Test(t) => match self.forced {
                Some((f, b)) if std::ptr::eq(f, t) => L::Const(b),
                _ => self.test(t),
            },
        }
    }

    fn op(&self, o: &crate::check::Operand) -> OpKey {
        match &o.kind {
            OperandKind::Attr(a) => OpKey::Slot(self.slot(a), o.ty),
            OperandKind::Const(Const::String(s)) => OpKey::Str(s.clone()),
            OperandKind::Const(Const::Number(n)) => OpKey::Num(Num(*n)),
            OperandKind::Const(Const::Bool(b)) => OpKey::Bool(*b),
            OperandKind::Func(f, inner) => OpKey::Func(*f, Box::new(self.op(inner))),
            OperandKind::Stateful(id) => {
                OpKey::Tracker(self.stateful_tracker.get(id).copied().unwrap_or(0))
            }
        }
    }

    fn pred(&mut self, p: PredKey) -> L {
        L::Atom(self.var(VarKey::Pred(p)), Atom::Holds)
    }

    fn test(&mut self, t: &Test) -> L {
        match &t.kind {
            TestKind::Cmp { op, lhs, rhs } => {
                let l = self.op(lhs);
                match (rhs.constant(), lhs.ty) {
                    (Some(Const::String(s)), Ty::String) => {
                        let v = self.var(VarKey::Switch(l));
                        self.var_consts.entry(v).or_default().push(s.clone());
                        L::Atom(
                            v,
                            Atom::InStrings(Strs::Own(vec![s.clone()]), *op == CmpOp::Ne),
                        )
                    }
                    // A count or a sum may be a range: each comparison on it is a test of its
                    // own, true when it holds for every value of the range, false for none.
                    (Some(Const::Number(n)), Ty::Number) if !l.is_tracker() => {
                        let v = self.var(VarKey::Thresh(l));
                        L::Atom(v, Atom::Cmp(*op, Num(*n)))
                    }
                    (Some(Const::Bool(b)), Ty::Bool) => {
                        let v = self.var(VarKey::Bool(l));
                        let want = if *op == CmpOp::Eq { *b } else { !*b };
                        L::Atom(
                            v,
                            Atom::Bool {
                                on_true: want,
                                on_false: !want,
                            },
                        )
                    }
                    _ => {
                        let r = self.op(rhs);
                        self.pred(PredKey::Cmp(*op, l, r))
                    }
                }
            }
            TestKind::In {
                lhs,
                values,
                negated,
            } => {
                let l = self.op(lhs);
                let strings = values.iter().all(|c| matches!(c, Const::String(_)));
                let nums: Option<Vec<Num>> = values
                    .iter()
                    .map(|c| match c {
                        Const::Number(n) => Some(Num(*n)),
                        _ => None,
                    })
                    .collect();
                let bools: Option<Vec<bool>> = values
                    .iter()
                    .map(|c| match c {
                        Const::Bool(b) => Some(*b),
                        _ => None,
                    })
                    .collect();
                match lhs.ty {
                    Ty::String if strings => {
                        let strings = Strs::Set(Arc::clone(values));
                        let v = self.var(VarKey::Switch(l));
                        self.var_consts
                            .entry(v)
                            .or_default()
                            .extend(strings.iter().map(str::to_string));
                        L::Atom(v, Atom::InStrings(strings, *negated))
                    }
                    Ty::Number if nums.is_some() && !l.is_tracker() => {
                        let v = self.var(VarKey::Thresh(l));
                        L::Atom(v, Atom::InNums(nums.unwrap_or_default(), *negated))
                    }
                    Ty::Bool if bools.is_some() => {
                        let bools = bools.unwrap_or_default();
                        let v = self.var(VarKey::Bool(l));
                        L::Atom(
                            v,
                            Atom::Bool {
                                on_true: bools.contains(&true) != *negated,
                                on_false: bools.contains(&false) != *negated,
                            },
                        )
                    }
                    _ => {
                        let vals = values
                            .iter()
                            .map(|c| match c {
                                Const::String(s) => OpKey::Str(s.clone()),
                                Const::Number(n) => OpKey::Num(Num(*n)),
                                Const::Bool(b) => OpKey::Bool(*b),
                            })
                            .collect();
                        let a = self.pred(PredKey::In(l, vals));
                        if *negated { L::Not(Box::new(a)) } else { a }
                    }
                }
            }
            TestKind::Contains {
                hay,
                needle,
                negated,
            } => {
                let a = PredKey::Contains(self.op(hay), self.op(needle));
                let a = self.pred(a);
                if *negated { L::Not(Box::new(a)) } else { a }
            }
            TestKind::StartsWith { lhs, rhs } => {
                let p = PredKey::StartsWith(self.op(lhs), self.op(rhs));
                self.pred(p)
            }
            TestKind::EndsWith { lhs, rhs } => {
                let p = PredKey::EndsWith(self.op(lhs), self.op(rhs));
                self.pred(p)
            }
            TestKind::Matches { lhs, pattern } => {
                let p = PredKey::Regex(
                    self.op(lhs),
                    pattern.regex_source.clone(),
                    pattern.source.clone(),
                    false,
                );
                self.pred(p)
            }
            TestKind::Like { lhs, pattern } => {
                let p = PredKey::Regex(
                    self.op(lhs),
                    pattern.regex_source.clone(),
                    pattern.source.clone(),
                    true,
                );
                self.pred(p)
            }
            TestKind::Truthy(op) => {
                let v = self.var(VarKey::Bool(self.op(op)));
                L::Atom(
                    v,
                    Atom::Bool {
                        on_true: true,
                        on_false: false,
                    },
                )
            }
        }
    }

    fn var_def(&self, v: usize, consts: Vec<String>) -> Var {
        match self.vars.get(v) {
            Some(VarKey::Switch(k)) => Var::Switch {
                operand: operand(k),
                consts,
            },
            Some(VarKey::Thresh(k)) => Var::Thresh {
                operand: operand(k),
            },
            Some(VarKey::Bool(k)) => Var::Bool {
                operand: operand(k),
            },
            Some(VarKey::Has(slot)) => Var::Has { slot: *slot },
            Some(VarKey::Pred(p)) => Var::Pred(match p {
                PredKey::Cmp(op, a, b) => Pred::Cmp {
                    op: *op,
                    lhs: operand(a),
                    rhs: operand(b),
                },
                PredKey::In(a, vs) => Pred::In {
                    lhs: operand(a),
                    values: vs.iter().map(operand).collect(),
                },
                PredKey::Contains(a, b) => Pred::Contains {
                    hay: operand(a),
                    needle: operand(b),
                },
                PredKey::StartsWith(a, b) => Pred::StartsWith {
                    lhs: operand(a),
                    rhs: operand(b),
                },
                PredKey::EndsWith(a, b) => Pred::EndsWith {
                    lhs: operand(a),
                    rhs: operand(b),
                },
                PredKey::Regex(a, re, written, glob) => Pred::Regex {
                    lhs: operand(a),
                    regex: re.clone(),
                    written: written.clone(),
                    glob: *glob,
                },
            }),
            None => Var::Has { slot: 0 },
        }
    }
}

fn operand(k: &OpKey) -> Operand {
    match k {
        OpKey::Slot(slot, ty) => Operand::Slot {
            slot: *slot,
            ty: *ty,
        },
        OpKey::Str(s) => Operand::Str(s.clone()),
        OpKey::Num(n) => Operand::Num(n.0),
        OpKey::Bool(b) => Operand::Bool(*b),
        OpKey::Func(f, inner) => Operand::Func {
            func: *f,
            arg: Box::new(operand(inner)),
        },
        OpKey::Tracker(t) => Operand::Tracker(*t),
    }
}

/// Builds truth-valued diagrams from lowered conditions, once the order is fixed.
struct Builder<'a> {
    rank: &'a [u32],
    consts: &'a [Vec<String>],
    vars: &'a [VarKey],
}

impl Builder<'_> {
    fn build(&self, m: &mut Manager, l: &L) -> NodeRef {
        match l {
            L::Const(true) => m.t,
            L::Const(false) => m.f,
            L::And(ps) | L::Or(ps) => {
                // Balanced: each operation meets diagrams of similar size, so a long chain of
                // tests on different variables costs n log n steps rather than n².
                let is_and = matches!(l, L::And(_));
                let mut level: Vec<NodeRef> = ps.iter().map(|p| self.build(m, p)).collect();
                while level.len() > 1 && !m.exceeded() {
                    let mut next = Vec::with_capacity(level.len() / 2 + 1);
                    for pair in level.chunks(2) {
                        match pair {
                            [a, b] if is_and => next.push(m.and(*a, *b)),
                            [a, b] => next.push(m.or(*a, *b)),
                            [a] => next.push(*a),
                            _ => {}
                        }
                    }
                    level = next;
                }
                let empty = if is_and { m.t } else { m.f };
                level.first().copied().unwrap_or(empty)
            }
            L::Not(p) => {
                let d = self.build(m, p);
                m.not(d)
            }
            L::Atom(v, atom) => self.atom(m, *v, atom),
        }
    }

    fn atom(&self, m: &mut Manager, v: usize, atom: &Atom) -> NodeRef {
        let var = self.rank.get(v).copied().unwrap_or(0);
        let (t, f, u) = (m.t, m.f, m.u);
        let tv = |b: bool| if b { t } else { f };
        match atom {
            Atom::InStrings(values, negated) => {
                let consts = self.consts.get(v).map(Vec::as_slice).unwrap_or(&[]);
                let mut idx: Vec<u32> = if values.len() == consts.len() {
                    // The values are distinct and among the constants: they are all of them
                    // (a set from a data file tested alone), with no lookup at all.
                    (0..u32::try_from(consts.len()).unwrap_or(u32::MAX)).collect()
                } else if values.len() > 64 {
                    // A large list (a set from a data file): one pass over the constants
                    // instead of a search per value.
                    let at: FxHashMap<&str, u32> = consts
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.as_str(), u32::try_from(i).unwrap_or(u32::MAX)))
                        .collect();
                    values.iter().filter_map(|s| at.get(s).copied()).collect()
                } else {
                    values
                        .iter()
                        .filter_map(|s| consts.binary_search_by(|c| c.as_str().cmp(s)).ok())
                        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                        .collect()
                };
                idx.sort_unstable();
                idx.dedup();
                let branches = idx.into_iter().map(|i| (i, tv(!negated))).collect();
                m.mk_switch(var, branches, tv(*negated), u)
            }
            Atom::Cmp(op, c) => {
                let (below, at, above) = match op {
                    CmpOp::Lt => (t, f, f),
                    CmpOp::Le => (t, t, f),
                    CmpOp::Gt => (f, f, t),
                    CmpOp::Ge => (f, t, t),
                    CmpOp::Eq => (f, t, f),
                    CmpOp::Ne => (t, f, t),
                };
                m.mk_thresh(var, vec![*c], vec![below, at, above], u)
            }
            Atom::InNums(values, negated) => {
                let mut cuts = values.clone();
                cuts.sort();
                cuts.dedup();
                let mut regions = vec![tv(*negated)];
                for _ in &cuts {
                    regions.push(tv(!negated));
                    regions.push(tv(*negated));
                }
                m.mk_thresh(var, cuts, regions, u)
            }
            Atom::Bool { on_true, on_false } => m.mk_tri(var, tv(*on_true), tv(*on_false), u),
            Atom::Holds => {
                let is_has = matches!(self.vars.get(v), Some(VarKey::Has(_)));
                m.mk_tri(var, t, f, if is_has { f } else { u })
            }
        }
    }
}

/// The item codes of one model leaf, decoded.
pub fn leaf_items(model: &Model, leaf: u32) -> Vec<Item> {
    model
        .leaves
        .get(leaf as usize)
        .map(|codes| codes.iter().filter_map(|&c| Item::decode(c)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;

    /// Builds every rule's diagram under a memory limit; whether it stayed within it, and the
    /// bytes used.
    fn build_within(src: &str, limit: usize) -> (bool, usize) {
        let bundle = crate::check::check_sources(vec![SourceFile::new("t.gov", src)]).unwrap();
        let lowered = lower(&bundle);
        let mut m = Manager::new(lowered.shapes);
        m.memory_limit = limit;
        let b = Builder {
            rank: &lowered.rank,
            consts: &lowered.consts,
            vars: &lowered.lw.vars,
        };
        for l in &lowered.rule_conds {
            b.build(&mut m, l);
        }
        (!m.exceeded(), m.bytes())
    }

    fn chain(n: usize, test: impl Fn(usize) -> String, join: &str) -> String {
        let tests: Vec<String> = (0..n).map(test).collect();
        format!(
            "policy p {{\n  rule r: deny when {} because \"x\"\n}}\n",
            tests.join(join)
        )
    }

    #[test]
    fn long_chains_on_one_attribute_build_in_linear_memory() {
        // Built one test at a time, 40,000 tests on `tool` needed about 40,000² / 2 branches
        // (6 GB); merged, they are one switch of 40,000 branches (under 1 MB).
        for (src, what) in [
            (
                chain(40_000, |i| format!("tool == \"t{i}\""), " or "),
                "or of ==",
            ),
            (
                chain(40_000, |i| format!("tool != \"t{i}\""), " and "),
                "and of !=",
            ),
            (
                chain(20_000, |i| format!("args.n == {i}"), " or "),
                "or of numbers",
            ),
            (
                chain(20_000, |i| format!("not tool == \"t{i}\""), " and "),
                "and of not",
            ),
        ] {
            let (ok, bytes) = build_within(&src, 8 << 20);
            assert!(ok, "{what}: more than 8 MiB ({bytes} bytes)");
        }
    }

    #[test]
    fn long_chains_on_many_attributes_build_in_n_log_n_memory() {
        // 4,000 different attributes: a chain of 4,000 nodes. Built left to right, each step
        // copied the chain so far (some 8 million nodes); balanced, about n log n.
        let src = chain(4_000, |i| format!("args.a{i} == \"x\""), " or ");
        let (ok, bytes) = build_within(&src, 64 << 20);
        assert!(ok, "more than 64 MiB ({bytes} bytes)");
    }

    #[test]
    fn the_memory_limit_stops_an_exponential_condition_early() {
        let pairs: Vec<String> = (0..30)
            .map(|i| format!("(args.a{i} == 1 or args.b{i} == 1)"))
            .collect();
        let src = format!(
            "policy p {{\n  rule r: deny when {} because \"x\"\n}}\n",
            pairs.join(" and ")
        );
        let limit = 4 << 20;
        let (ok, bytes) = build_within(&src, limit);
        assert!(!ok);
        // Building stopped at the limit, give or take the node or memo growth that crossed it.
        assert!(bytes <= 2 * limit + (1 << 20), "{bytes} bytes");
    }
}
