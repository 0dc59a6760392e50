//! `govern diff`: every request whose decision a policy change flips, proved on the decision
//! diagrams of the two versions.
//!
//! Both compiled bundles are imported into one joint variable space ([`space`]); each side's
//! diagram, forks included, is folded into its *verdict function* (merging a fork's walks as
//! the VM merges their leaves), and the product of the two verdict functions is the diagram
//! `D` of every change of verdict. Its paths are regions ([`regions`]); a region is described
//! in the language's terms ([`describe`]) and confirmed by a witness event that both bundles
//! decide, with the VM and the reference interpreter ([`confirm`]). Within `D`, the folds are
//! repeated with the determining rules in the leaves, which groups the regions by the rules
//! that decide on each side. With `--all` (and for `--equivalent`), each rule whose condition,
//! effect or message differs is compared where the verdict stays the same.
//!
//! Variables are independent in the diagram. On the decidable fragment (equality, sets,
//! numeric ranges, `has`, types and unknowns of plain attributes) [`solve`] decides whether a
//! region is satisfiable, so a region is either confirmed or proved empty. Regions that also
//! test regexes, globs, substrings, functions or stream state are confirmed when example
//! synthesis finds an event, and otherwise reported as *may differ*: nothing is called
//! unchanged without proof. Stream state (`count`, `sum`, `seen`) is a free value of its type.
//! Every stage runs within a node budget; past it the report says what was not proved.

pub mod confirm;
pub mod describe;
pub mod output;
pub mod regions;
pub mod solve;
pub mod space;

use std::collections::{BTreeMap, BTreeSet};

use crate::bytecode::model::{Item, Model};
use crate::check::{Bundle, Verdict};
use crate::compile::analysis::Step;
use crate::compile::dd::{ITEM_TRUE, NodeRef};
use crate::decision::Decision;
use crate::syntax::ast::Effect;
use crate::vm::Program;
use rustc_hash::FxHashMap;

pub use confirm::{Proof, Status};
use space::{Fold, LeafFn, NEW, OLD, Space};

/// One version of the policies.
pub struct Side {
    /// How the side was named (a path, `REV:path`, a bundle file).
    pub label: String,
    pub program: Program,
    /// The checked sources, when the side was compiled from them: witnesses are then also
    /// decided by the reference interpreter, and rules are shown with their source lines.
    pub bundle: Option<Bundle>,
    /// The git revision the sources were read from; their file names start with `REV:`.
    pub rev: Option<String>,
}

/// The most diagram nodes one stage of a comparison makes by default.
pub const NODE_BUDGET: usize = 2_000_000;

/// The largest diagram of verdict changes grouped by determining rules as a whole, by default;
/// a larger one is grouped piece by piece (see `group_by_pieces`): the same groups, found in
/// folds that follow the pieces instead of one fold of every rule within every change.
pub const WHOLE_GROUPING_MAX: usize = 4096;

/// What to compute and how far.
#[derive(Clone, Debug)]
pub struct Options {
    /// Also report changes of determining rules, messages and warnings at the same verdict.
    pub all: bool,
    /// The most diagram nodes one stage may make.
    pub budget: usize,
    /// Regions listed (each with a witness) per group; the others are counted.
    pub per_group: usize,
    /// The most path steps one enumeration of regions may take.
    pub walk_steps: usize,
    /// Computes the verdict functions only where the verdicts can differ (see
    /// [`Space::differ`]); off, everywhere. The results are the same; off is the reference
    /// the tests hold the narrowed comparison to.
    pub narrow: bool,
    /// A diagram of verdict changes larger than this many nodes is grouped by determining
    /// rules piece by piece rather than as a whole (see `group_by_pieces`); the groups are
    /// the same, the regions may be cut differently.
    pub whole_grouping_max: usize,
    /// Threads that work on a diagram of changes grouped piece by piece; the report is the
    /// same for any number.
    pub jobs: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            all: false,
            budget: NODE_BUDGET,
            per_group: 20,
            walk_steps: 200_000,
            narrow: true,
            whole_grouping_max: WHOLE_GROUPING_MAX,
            jobs: 1,
        }
    }
}

/// One region of a change.
#[derive(Clone, Debug)]
pub struct Region {
    /// The conditions, in the language's terms, every constant listed.
    pub conditions: Vec<String>,
    /// The same, long lists of constants cut short.
    pub short: Vec<String>,
    pub proof: Proof,
    /// The path of the region in the joint diagram (the first, when regions were merged).
    pub steps: Vec<Step>,
    /// Per condition, the outcomes of its variable any of which is in the region (one, unless
    /// regions that differ only there were merged).
    pub alternatives: Vec<Vec<Step>>,
}

impl Region {
    /// Whether `event` (on a fresh stream) is in the region.
    pub fn contains(
        &self,
        checker: &mut crate::lint::witness::Checker<'_>,
        event: &serde_json::Value,
    ) -> bool {
        self.alternatives
            .iter()
            .all(|alts| alts.iter().any(|st| checker.holds(st, event)))
    }
}

/// Regions where the verdict changes from one to the other, decided by these rules.
#[derive(Clone, Debug)]
pub struct Group {
    pub from: Verdict,
    pub to: Verdict,
    /// The determining rules on each side (empty: the default decides); `None` when the
    /// grouping by rules could not be computed within the budget.
    pub rules: Option<[Vec<String>; 2]>,
    pub regions: Vec<Region>,
    /// Satisfiable regions found beyond those listed.
    pub more: u64,
}

impl Group {
    /// Whether the change gives access the old version did not give.
    pub fn opens(&self) -> bool {
        rank(self.to) < rank(self.from)
    }
}

/// A change in how one rule takes part in decisions, where the verdict stays the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The rule determined the decision and no longer does.
    NoLongerDecides,
    /// The rule determines the decision and did not.
    NowDecides,
    /// The rule determines the decision on both sides with another message.
    MessageChanged,
    WarningRemoved,
    WarningAdded,
    WarningMessageChanged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::NoLongerDecides => "no-longer-decides",
            ChangeKind::NowDecides => "now-decides",
            ChangeKind::MessageChanged => "message-changed",
            ChangeKind::WarningRemoved => "warning-removed",
            ChangeKind::WarningAdded => "warning-added",
            ChangeKind::WarningMessageChanged => "warning-message-changed",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ChangeKind::NoLongerDecides => "no longer determines the decision",
            ChangeKind::NowDecides => "now determines the decision",
            ChangeKind::MessageChanged => "determines the decision with another message",
            ChangeKind::WarningRemoved => "no longer warns",
            ChangeKind::WarningAdded => "now warns",
            ChangeKind::WarningMessageChanged => "warns with another message",
        }
    }
}

/// Regions where one rule's part changes at the same verdict.
#[derive(Clone, Debug)]
pub struct RuleChange {
    pub rule: String,
    pub kind: ChangeKind,
    pub regions: Vec<Region>,
    pub more: u64,
}

/// A rule as the report shows it.
#[derive(Clone, Debug)]
pub struct RuleRef {
    pub id: String,
    pub effect: Effect,
    pub message: Option<String>,
    /// The file as named in the report (`REV:path` for a git revision).
    pub file: String,
    /// The file's path in the working tree (without the revision), for annotations.
    pub path: String,
    pub line: u32,
    pub column: u32,
    /// The rule's source text, when the side has sources.
    pub text: Option<String>,
}

/// A side as the report names it.
#[derive(Clone, Debug)]
pub struct SideInfo {
    pub label: String,
    pub digest: String,
    pub rules: usize,
    pub default: Verdict,
}

/// Everything `govern diff` found.
#[derive(Clone, Debug)]
pub struct Report {
    pub sides: [SideInfo; 2],
    /// Verdict changes, grouped by transition and determining rules.
    pub groups: Vec<Group>,
    /// Rule-level changes at the same verdict (with `--all`).
    pub rule_changes: Vec<RuleChange>,
    /// Whether rule-level changes were looked for.
    pub all: bool,
    /// What could not be proved: stages past the node budget, enumerations cut short.
    pub unproved: Vec<String>,
    /// The rules the report names, per side, by id.
    pub rules: [BTreeMap<String, RuleRef>; 2],
    /// Regions proved empty by the decidable fragment.
    pub infeasible: u64,
    /// Nodes in the joint diagram store at the end.
    pub nodes: usize,
    /// Joint variables.
    pub vars: usize,
    /// The joint variables, slots and trackers the regions' steps refer to.
    pub space: (
        Vec<crate::bytecode::model::Var>,
        Vec<Vec<String>>,
        Vec<crate::bytecode::model::Tracker>,
    ),
}

impl Report {
    /// Whether every part of the comparison finished: no budget exceeded, no enumeration cut.
    pub fn complete(&self) -> bool {
        self.unproved.is_empty()
    }

    /// Whether the two versions were proved to decide every request identically (verdict,
    /// determining rules, messages and warnings).
    pub fn equivalent(&self) -> bool {
        self.all && self.complete() && self.groups.is_empty() && self.rule_changes.is_empty()
    }

    /// Whether the new version may allow a request the old one did not.
    pub fn new_allow(&self) -> bool {
        !self.complete()
            || self
                .groups
                .iter()
                .any(|g| g.to == Verdict::Allow && g.from != Verdict::Allow)
    }

    /// Whether anything may have changed.
    pub fn any_change(&self) -> bool {
        !self.complete() || !self.groups.is_empty() || !self.rule_changes.is_empty()
    }

    /// Whether a region lists `event` (a single event on a fresh stream): the groups of
    /// verdict changes, by index, with a region that contains it.
    pub fn groups_with(&self, event: &serde_json::Value) -> Vec<usize> {
        let space = crate::lint::witness::Space {
            vars: &self.space.0,
            slots: &self.space.1,
            trackers: &self.space.2,
        };
        let mut checker = crate::lint::witness::Checker::new(&space);
        self.groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.regions.iter().any(|r| r.contains(&mut checker, event)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Regions by status, over every group and rule change.
    pub fn count(&self, status: Status) -> usize {
        self.groups
            .iter()
            .flat_map(|g| g.regions.iter())
            .chain(self.rule_changes.iter().flat_map(|c| c.regions.iter()))
            .filter(|r| r.proof.status == status)
            .count()
    }
}

/// Side `s` (`OLD` or `NEW`) of a pair.
pub(crate) fn at<T>(a: &[T; 2], s: usize) -> &T {
    let [o, n] = a;
    if s == NEW { n } else { o }
}

/// Side `s` of a pair, to change.
fn at_mut<T>(a: &mut [T; 2], s: usize) -> &mut T {
    let [o, n] = a;
    if s == NEW { n } else { o }
}

/// Severity order of verdicts: allow < escalate < deny.
pub fn rank(v: Verdict) -> u32 {
    match v {
        Verdict::Allow => 1,
        Verdict::Escalate => 2,
        Verdict::Deny => 3,
    }
}

fn of_rank(c: u32) -> Option<Verdict> {
    match c {
        1 => Some(Verdict::Allow),
        2 => Some(Verdict::Escalate),
        3 => Some(Verdict::Deny),
        _ => None,
    }
}

/// The leaf item for "don't care" (outside the region a fold was asked about).
const DC: u32 = u32::MAX - 2;
/// The first item of a leaf that pairs two summaries: the two final verdicts.
const PAIR: u32 = 0x8000_0000;

/// Item codes of a summary leaf: `(x << 2) | kind`.
const K_VERDICT: u32 = 0;
const K_DET: u32 = 1;

fn summary_verdict(items: &[u32]) -> u32 {
    items
        .iter()
        .find(|x| **x != DC && *x & 3 == K_VERDICT)
        .map(|x| x >> 2)
        .unwrap_or(0)
}

/// Groups by final verdicts and determining rules.
type GroupKey = (u32, u32, Option<[Vec<String>; 2]>);

/// One part of the request space compared on its own (the whole space, unless the budget
/// forced a split on the first variable).
struct Part {
    /// Where the part lies (`m.t` for everywhere).
    care: NodeRef,
    /// The condition, for messages.
    label: String,
    /// The diagram of verdict changes in the part.
    d: NodeRef,
}

/// The time each stage of a comparison takes, on standard error when the environment
/// variable `GOVERN_DIFF_TIMES` is set (for profiling; the report does not depend on it).
struct Clock {
    on: bool,
    start: std::time::Instant,
    last: std::time::Instant,
}

impl Clock {
    fn new() -> Clock {
        let now = std::time::Instant::now();
        Clock {
            on: std::env::var_os("GOVERN_DIFF_TIMES").is_some(),
            start: now,
            last: now,
        }
    }

    /// Notes that `stage` ended now.
    #[allow(clippy::print_stderr)] // asked for by the environment variable, for profiling
    fn lap(&mut self, stage: &str) {
        if !self.on {
            return;
        }
        let now = std::time::Instant::now();
        eprintln!(
            "diff: {stage}: {:.1} ms (at {:.1} ms)",
            (now - self.last).as_secs_f64() * 1e3,
            (now - self.start).as_secs_f64() * 1e3
        );
        self.last = now;
    }
}

/// Compares two versions.
///
/// With more than one thread (`opts.jobs`), the combined walks of the two programs (see
/// [`Program::combine_walks`]) are built on a thread of their own while this one makes the
/// joint space and the verdict changes, which leave the other cores idle: the witnesses
/// then decide their events by the combined walk from the first, instead of walking the
/// first events of each side separately and building it on the way. Either walk gives the
/// same decisions, so the report does not depend on when it is built.
// Never inlined: `docs/performance.md` counts the comparison's instructions with callgrind's
// `--toggle-collect='govern::diff::diff'`, which needs the function to exist as such.
#[inline(never)]
pub fn diff(old: &Side, new: &Side, opts: &Options) -> Report {
    if opts.jobs <= 1 {
        return diff_sides(old, new, opts);
    }
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let cpu = thread_cpu();
            let said = [old, new].map(|s| {
                if s.program.combine_walks() {
                    "combined"
                } else {
                    "not combined"
                }
            });
            let [o, n] = said;
            note_cpu(
                &format!("combined walks built ahead (old {o}, new {n})"),
                cpu,
            );
        });
        diff_sides(old, new, opts)
    })
}

/// [`diff`] on this thread and those it starts.
fn diff_sides(old: &Side, new: &Side, opts: &Options) -> Report {
    let sides = [old, new];
    let models = [&old.program.model, &new.program.model];
    let mut unproved = Vec::new();
    let mut clock = Clock::new();
    let mut space = joint(models, opts.budget, opts.jobs);
    clock.lap("joint space");
    let describer_rules = [rule_refs(old), rule_refs(new)];
    let mut report = Report {
        sides: [side_info(old), side_info(new)],
        groups: Vec::new(),
        rule_changes: Vec::new(),
        all: opts.all,
        unproved: Vec::new(),
        rules: [BTreeMap::new(), BTreeMap::new()],
        infeasible: 0,
        nodes: 0,
        vars: space.vars.len(),
        space: (
            space.vars.clone(),
            space.slots.clone(),
            space.trackers.clone(),
        ),
    };
    if space.over() {
        unproved.push(format!(
            "the two diagrams do not fit in the node budget ({}): nothing was proved; raise \
             --max-nodes",
            opts.budget
        ));
        report.unproved = unproved;
        report.nodes = space.m.len();
        return report;
    }

    let judge = confirm::Judge::new(sides);
    let describer = describe::Describer::new(&space, sides);
    // Stage 1: verdict changes, over the whole space or, past the budget, part by part.
    let parts = verdict_parts(&mut space, models, &describer, opts, &mut unproved);
    clock.lap("stage 1: verdict changes");

    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let mut sums = [Summaries::new(models[OLD]), Summaries::new(models[NEW])];
    let f = space.m.f;
    for part in &parts {
        // Stage 2: the determining rules on each side, only where the verdict changes.
        space.allow(opts.budget);
        if part.d == f {
            continue;
        }
        if reachable(&space, part.d) > opts.whole_grouping_max {
            // A large diagram of changes: grouped piece by piece, within half the budget;
            // past it, what the pieces found is dropped and the whole diagram is grouped.
            space.allow(opts.budget / 2);
            let mut by_piece: BTreeMap<GroupKey, Group> = BTreeMap::new();
            let mut adder = Adder {
                judge: &judge,
                models,
                opts,
                groups: &mut by_piece,
            };
            let infeasible = report.infeasible;
            let done = group_by_pieces(
                &mut space,
                part,
                &mut sums,
                &mut adder,
                &mut report,
                &mut clock,
            );
            if let Some(lost) = done {
                for (key, g) in by_piece {
                    match groups.get_mut(&key) {
                        Some(into) => {
                            into.regions.extend(g.regions);
                            into.more += g.more;
                        }
                        None => {
                            groups.insert(key, g);
                        }
                    }
                }
                if let Some(why) = lost {
                    unproved.push(format!("{}{why}", part_prefix(&part.label)));
                }
                continue;
            }
            report.infeasible = infeasible;
            space.allow(opts.budget);
        }
        let mut adder = Adder {
            judge: &judge,
            models,
            opts,
            groups: &mut groups,
        };
        let so = summaries(&mut space, OLD, &mut sums[OLD], part.d);
        let sn = summaries(&mut space, NEW, &mut sums[NEW], part.d);
        let r = pair_summaries(&mut space, so, sn, models);
        let (diagram, grouped) = if space.over() {
            unproved.push(format!(
                "{}grouping by determining rules went past the node budget; regions are \
                 grouped by verdict only",
                part_prefix(&part.label)
            ));
            (part.d, false)
        } else {
            (r, true)
        };
        if diagram == f {
            continue;
        }
        let walk = regions::walk(
            &space,
            diagram,
            &|n| n != f,
            opts.per_group,
            opts.walk_steps,
        );
        report.infeasible += walk.infeasible;
        if !walk.complete {
            unproved.push(format!(
                "{}the regions of verdict changes were not all enumerated (more than {} steps)",
                part_prefix(&part.label),
                opts.walk_steps
            ));
        }
        adder.add(&space, diagram, grouped, &walk);
    }
    clock.lap("stage 2: grouped");
    // Each group's regions merged on its own, by `opts.jobs` threads, the groups with the
    // most regions first: a large group left to the end would be merged alone while the
    // other threads wait. The results are in the groups' order.
    let mut groups: Vec<Group> = groups.into_values().collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(groups.get(i).map_or(0, |g| g.regions.len())));
    let taken: Vec<std::sync::Mutex<Vec<Region>>> = groups
        .iter_mut()
        .map(|g| std::sync::Mutex::new(std::mem::take(&mut g.regions)))
        .collect();
    let merge = |r: &std::sync::Mutex<Vec<Region>>| {
        let regions = r
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        merge_regions(&describer, regions)
    };
    let merge = &merge;
    let jobs = opts.jobs.clamp(1, taken.len().max(1));
    let merged = in_index_order(
        &taken,
        &order,
        merge,
        (1..jobs).map(|_| move || merge).collect(),
    );
    for (g, regions) in groups.iter_mut().zip(merged) {
        g.regions = regions;
    }
    clock.lap("regions merged");
    // Access opened first, then closed; within each, by verdicts and rules.
    groups.sort_by(|a, b| {
        (!a.opens(), rank(a.from), rank(a.to), &a.rules).cmp(&(
            !b.opens(),
            rank(b.from),
            rank(b.to),
            &b.rules,
        ))
    });
    report.groups = groups;

    // Stage 3: rule-level changes at the same verdict.
    if opts.all {
        report.rule_changes = rule_changes(
            &mut space,
            models,
            &parts,
            opts,
            &judge,
            &describer,
            &mut unproved,
            &mut report.infeasible,
        );
    }

    // The rules the report names.
    let mut named: [BTreeSet<String>; 2] = Default::default();
    for g in &report.groups {
        if let Some([o, n]) = &g.rules {
            named[OLD].extend(o.iter().cloned());
            named[NEW].extend(n.iter().cloned());
        }
    }
    for c in &report.rule_changes {
        named[OLD].insert(c.rule.clone());
        named[NEW].insert(c.rule.clone());
    }
    for s in [OLD, NEW] {
        for id in at(&named, s) {
            if let Some(r) = at(&describer_rules, s).get(id) {
                at_mut(&mut report.rules, s).insert(id.clone(), r.clone());
            }
        }
    }
    report.unproved = unproved;
    report.nodes = space.m.len();
    clock.lap("done");
    report
}

/// Adds the regions of a walk to their groups.
struct Adder<'a, 'g> {
    judge: &'a confirm::Judge<'a>,
    models: [&'a Model; 2],
    opts: &'a Options,
    groups: &'g mut BTreeMap<GroupKey, Group>,
}

impl Adder<'_, '_> {
    /// The paths of `walk` over `diagram` (whose leaves pair the two summaries when `grouped`,
    /// or hold the two verdicts), each widened within `diagram` and given a witness.
    fn add(&mut self, space: &Space, diagram: NodeRef, grouped: bool, walk: &regions::Walk) {
        let models = self.models;
        let mut widener = regions::Widener::default();
        for (leaf, paths) in &walk.paths {
            let items = space.m.leaf_items(*leaf).unwrap_or(&[]).to_vec();
            let (fo, fn_, rules) = if grouped && items.iter().any(|x| x & PAIR != 0) {
                let (fo, fn_, det) = decode_pair(&items);
                let ids = [
                    det[OLD]
                        .iter()
                        .filter_map(|r| models[OLD].rules.get(*r as usize).map(|x| x.id.clone()))
                        .collect::<Vec<_>>(),
                    det[NEW]
                        .iter()
                        .filter_map(|r| models[NEW].rules.get(*r as usize).map(|x| x.id.clone()))
                        .collect::<Vec<_>>(),
                ];
                (fo, fn_, Some(ids))
            } else {
                let code = items.first().copied().unwrap_or(0);
                (code / 4, code % 4, None)
            };
            let (Some(from), Some(to)) = (of_rank(fo), of_rank(fn_)) else {
                continue;
            };
            let claim_rules = rules.clone();
            let claim = move |o: &Decision, n: &Decision| {
                o.verdict == from
                    && n.verdict == to
                    && claim_rules
                        .as_ref()
                        .is_none_or(|[ro, rn]| &o.rules == ro && &n.rules == rn)
            };
            let group = self
                .groups
                .entry((fo, fn_, rules.clone()))
                .or_insert_with(|| Group {
                    from,
                    to,
                    rules: rules.clone(),
                    regions: Vec::new(),
                    more: 0,
                });
            for p in paths {
                if group.regions.len() >= self.opts.per_group {
                    group.more += 1;
                    continue;
                }
                let wide = widener.widen(space, diagram, *leaf, p);
                if group.regions.iter().any(|r| r.steps == wide) {
                    continue;
                }
                group.regions.push(region(space, self.judge, wide, &claim));
            }
            group.more += walk.more.get(leaf).copied().unwrap_or(0);
        }
    }
}

/// Groups the changes of `part` piece by piece: the diagram of changes is split at its top
/// nodes, outcome by outcome, until each piece is small (at most [`PIECE_NODES`] nodes below
/// it); each piece is the diagram of changes where the outcomes above it are taken, and false
/// elsewhere. Both sides are folded with their determining rules only within the piece, so
/// the cost follows the pieces rather than the product of the whole diagram with each side's
/// rules: a change to every rule of a large bundle is a few small folds per tool, not one
/// fold of every rule within every change. The pieces are disjoint and cover the diagram, so
/// the groups are those of the whole grouping. A unit that would give more pieces than it has
/// nodes (at least [`MIN_PIECE_CAP`]), its paths sharing sub-diagrams, is one piece: walked
/// whole, its regions widened within it. Returns what was not proved, if anything, or
/// `None` when the folds of a unit went past the node budget.
///
/// The first split makes units (one per tool when `tool` is the first variable), each
/// folded from the same store: what a unit's folds made is dropped once its regions are
/// read, so the store stays small, and a unit's result does not depend on the units before
/// it. Units are worked on by `opts.jobs` threads, each with its own copy of the store, and
/// their results taken in unit order (no more threads than copies of the store fit in the
/// compiler's memory limit); the witnesses are then found by `opts.jobs` threads, which share
/// the store. The report is the same for any number of threads.
fn group_by_pieces(
    space: &mut Space,
    part: &Part,
    sums: &mut [Summaries<'_>; 2],
    adder: &mut Adder<'_, '_>,
    report: &mut Report,
    clock: &mut Clock,
) -> Option<Option<String>> {
    let f = space.m.f;
    let opts = adder.opts;
    let models = adder.models;
    let d = part.d;
    // The first split, at the top node: one unit per child (per tool, when `tool` is the
    // first variable), each split further into pieces below.
    let mut units: Vec<(NodeRef, Vec<NodeRef>)> = Vec::new();
    let mut kids = space.m.children(d);
    if space.m.size(d) <= PIECE_NODES || kids.is_empty() {
        units.push((d, vec![d]));
    } else {
        kids.sort_unstable();
        kids.dedup();
        for c in kids {
            if c == f {
                continue;
            }
            let mut pieces = Vec::new();
            let mut above = vec![(d, c)];
            // Paths that share sub-diagrams give exponentially many pieces: past as many
            // pieces as the unit has nodes, the unit is grouped whole (one walk over it,
            // widening within it) instead.
            let cap = piece_cap(reachable(space, c));
            let whole = !split(space, c, &mut above, &mut pieces, cap);
            let unit = space.only_child(d, c, c);
            if whole {
                #[cfg(test)]
                tests::WHOLE_UNITS.with(|n| n.set(n.get() + 1));
                pieces = vec![unit];
            }
            units.push((unit, pieces));
        }
    }
    if space.over() {
        return None;
    }
    let mark = space.m.len();
    space.forget();
    clock.lap("units split");
    // Each thread but this one copies the store: the copies together stay within the
    // compiler's memory limit.
    let copies = crate::compile::dd::MEMORY_LIMIT / space.m.bytes().max(1);
    let jobs = opts
        .jobs
        .min(copies.saturating_add(1))
        .clamp(1, units.len().max(1));
    // Each unit: its groups' widened regions, in the order found.
    let copies: Vec<Space> = (1..jobs).map(|_| space.clone()).collect();
    // The units with the most pieces first (then the most nodes): a large unit left to the
    // end would run alone while the other threads wait. The results are in unit order.
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by_key(|&i| {
        units.get(i).map(|(unit, pieces)| {
            (
                std::cmp::Reverse(pieces.len()),
                std::cmp::Reverse(space.m.size(*unit)),
            )
        })
    });
    // Witnesses are searched ahead when a unit is shared by the threads while the others
    // are worked on alone: the shared unit leaves a core idle at times.
    let shared_units = units
        .iter()
        .filter(|(_, pieces)| pieces_jobs(pieces.len(), opts.jobs) > 1)
        .count();
    let ahead = Ahead::new(
        jobs > 1 && shared_units > 0 && shared_units < units.len(),
        units.len(),
        units.len() - shared_units,
        jobs,
    );
    let ahead = &ahead;
    let sides = adder.judge.sides;
    let judge_here = adder.judge;
    let outs: Vec<UnitOut> = in_index_order(
        &units,
        &order,
        |(unit, pieces)| {
            let jobs = pieces_jobs(pieces.len(), opts.jobs);
            let ended = ahead.take();
            let out = unit_work(space, sums, mark, *unit, pieces, models, opts, jobs, ahead);
            ahead.unit(space, jobs > 1, out, ended, &mut || judge_here)
        },
        copies
            .into_iter()
            .map(|mut copy| {
                move || {
                    let mut sums = [Summaries::new(models[OLD]), Summaries::new(models[NEW])];
                    let judge = std::cell::OnceCell::new();
                    move |(unit, pieces): &(NodeRef, Vec<NodeRef>)| {
                        let jobs = pieces_jobs(pieces.len(), opts.jobs);
                        let ended = ahead.take();
                        let out = unit_work(
                            &mut copy, &mut sums, mark, *unit, pieces, models, opts, jobs, ahead,
                        );
                        let mut judge = || judge.get_or_init(|| confirm::Judge::new(sides));
                        ahead.unit(&copy, jobs > 1, out, ended, &mut judge)
                    }
                }
            })
            .collect(),
    );
    clock.lap("units folded, walked and widened");
    // The units' regions into their groups, in unit order: the first `per_group` distinct
    // regions of a group are listed, the others counted.
    let mut lost = None;
    let mut todo: Vec<(GroupKey, usize, Vec<Step>)> = Vec::new();
    for out in outs {
        if out.over {
            return None;
        }
        report.infeasible += out.infeasible;
        if out.incomplete && lost.is_none() {
            lost = Some(format!(
                "the regions of verdict changes were not all enumerated (more than {} \
                 steps in one piece)",
                opts.walk_steps
            ));
        }
        for l in out.leaves {
            let (fo, fn_) = (l.key.0, l.key.1);
            let (Some(from), Some(to)) = (of_rank(fo), of_rank(fn_)) else {
                continue;
            };
            let group = adder.groups.entry(l.key.clone()).or_insert_with(|| Group {
                from,
                to,
                rules: l.key.2.clone(),
                regions: Vec::new(),
                more: 0,
            });
            for wide in l.wide {
                if group.regions.len() >= opts.per_group {
                    group.more += 1;
                    continue;
                }
                if group.regions.iter().any(|r| r.steps == wide) {
                    continue;
                }
                // Listed in place once its witness is found (below).
                group.regions.push(Region {
                    conditions: Vec::new(),
                    short: Vec::new(),
                    proof: Proof {
                        status: Status::Unconfirmed,
                        event: None,
                        decisions: None,
                        note: None,
                    },
                    steps: wide.clone(),
                    alternatives: Vec::new(),
                });
                todo.push((l.key.clone(), group.regions.len() - 1, wide));
            }
            group.more += l.more;
        }
    }
    // The witnesses, each region on its own: those found ahead taken, the others searched.
    let space: &Space = space;
    let mut found = match ahead.found.lock() {
        Ok(mut f) => std::mem::take(&mut *f),
        Err(_) => FxHashMap::default(),
    };
    let mut regions: Vec<Option<Region>> = todo
        .iter()
        .map(|(key, _, wide)| {
            let kept = found.get_mut(key)?;
            let i = kept.iter().position(|(steps, _)| steps == wide)?;
            let (steps, proof) = kept.swap_remove(i);
            Some(region_proved(steps, proof))
        })
        .collect();
    drop(found);
    let rest: Vec<usize> = (0..todo.len())
        .filter(|&i| regions.get(i).is_some_and(Option::is_none))
        .collect();
    let prove = |judge: &confirm::Judge<'_>, &i: &usize| {
        let (key, _, wide) = todo.get(i)?;
        Some((i, region(space, judge, wide.clone(), &group_claim(key))))
    };
    let jobs = opts.jobs.clamp(1, rest.len().max(1));
    let prove = &prove;
    let proved: Vec<Option<(usize, Region)>> = in_index_order(
        &rest,
        &[],
        |t| prove(adder.judge, t),
        (1..jobs)
            .map(|_| {
                move || {
                    let judge = confirm::Judge::new(sides);
                    move |t: &usize| prove(&judge, t)
                }
            })
            .collect(),
    );
    for (i, r) in proved.into_iter().flatten() {
        if let Some(slot) = regions.get_mut(i) {
            *slot = Some(r);
        }
    }
    if ahead.on {
        clock.lap(&format!(
            "witnesses ({} of {} found ahead)",
            todo.len() - rest.len(),
            todo.len()
        ));
    } else {
        clock.lap("witnesses");
    }
    #[cfg(test)]
    tests::FOUND_AHEAD.fetch_add(todo.len() - rest.len(), std::sync::atomic::Ordering::SeqCst);
    for ((key, at, _), r) in todo.into_iter().zip(regions) {
        let Some(r) = r else {
            continue;
        };
        if let Some(slot) = adder
            .groups
            .get_mut(&key)
            .and_then(|g| g.regions.get_mut(at))
        {
            *slot = r;
        }
    }
    Some(lost)
}

/// Works through `items` with `here` on this thread and with each worker of `there` on a
/// thread of its own (made there, so its state need not move between threads), each taking
/// the next item not yet taken until none is left, so that the work balances itself; items
/// are taken in `order` (indices into `items`; empty: in their own order). The results come
/// back in the items' order: the same for any number of workers and any order.
fn in_index_order<I, T, H, G, W>(items: &[I], order: &[usize], here: H, there: Vec<G>) -> Vec<T>
where
    I: Sync,
    T: Send,
    H: FnMut(&I) -> T,
    G: FnOnce() -> W + std::marker::Send,
    W: FnMut(&I) -> T,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    fn take<I, T>(
        items: &[I],
        order: &[usize],
        next: &AtomicUsize,
        mut f: impl FnMut(&I) -> T,
        shared: bool,
    ) -> Vec<(usize, T)> {
        let mut done = Vec::new();
        let cpu = if shared { thread_cpu() } else { None };
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let i = if order.is_empty() {
                k
            } else {
                match order.get(k) {
                    Some(&i) => i,
                    None => break,
                }
            };
            let Some(item) = items.get(i) else {
                break;
            };
            done.push((i, f(item)));
        }
        if let (Some(start), Some(end)) = (cpu, thread_cpu()) {
            note_thread(items.len(), done.len(), end.saturating_sub(start));
        }
        done
    }
    let next = &AtomicUsize::new(0);
    let mut all = std::thread::scope(|scope| {
        let handles: Vec<_> = there
            .into_iter()
            .map(|make| scope.spawn(move || take(items, order, next, make(), true)))
            .collect();
        let mut all = take(items, order, next, here, !handles.is_empty());
        for h in handles {
            match h.join() {
                Ok(done) => all.extend(done),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        all
    });
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

/// This thread's time on the CPU so far, in nanoseconds (Linux's `schedstat`), when
/// `GOVERN_DIFF_TIMES` is set: for profiling how the threads share the work.
fn thread_cpu() -> Option<u64> {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("GOVERN_DIFF_TIMES").is_some()) {
        return None;
    }
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Notes on standard error (under `GOVERN_DIFF_TIMES`) that a thread took `taken` of `items`
/// items shared by several threads in `ns` nanoseconds on the CPU.
#[allow(clippy::print_stderr)] // asked for by the environment variable, for profiling
fn note_thread(items: usize, taken: usize, ns: u64) {
    eprintln!(
        "diff: a thread took {taken} of {items} items, {:.1} ms on the CPU",
        ns as f64 / 1e6
    );
}

/// Notes on standard error (under `GOVERN_DIFF_TIMES`) the time on the CPU this thread took
/// for `what` since [`thread_cpu`] gave `since`.
#[allow(clippy::print_stderr)] // asked for by the environment variable, for profiling
fn note_cpu(what: &str, since: Option<u64>) {
    if let (Some(start), Some(end)) = (since, thread_cpu()) {
        eprintln!(
            "diff: {what}: {:.1} ms on the CPU of its thread",
            end.saturating_sub(start) as f64 / 1e6
        );
    }
}

/// The fewest pieces a unit has for its walks and widening to be shared by the threads
/// (smaller units are worked on by one thread each, alongside the others).
const SHARED_PIECES: usize = 64;

/// The threads that share the walks and widening of a unit of `pieces` pieces: `jobs` for a
/// unit of at least [`SHARED_PIECES`] pieces (nearly all the work, when there is one), one
/// otherwise.
fn pieces_jobs(pieces: usize, jobs: usize) -> usize {
    #[cfg(test)]
    let shared = match tests::SHARED_PIECES.load(std::sync::atomic::Ordering::Relaxed) {
        0 => SHARED_PIECES,
        n => n,
    };
    #[cfg(not(test))]
    let shared = SHARED_PIECES;
    if pieces >= shared { jobs } else { 1 }
}

/// What one unit of [`group_by_pieces`] found.
struct UnitOut {
    /// Per leaf of each piece's grouped diagram, in the order the walks reached them.
    leaves: Vec<UnitLeaf>,
    infeasible: u64,
    /// A walk was cut at its step bound.
    incomplete: bool,
    /// The folds went past the node budget: nothing of the unit is to be used.
    over: bool,
}

/// The regions of one group found in one piece.
struct UnitLeaf {
    key: GroupKey,
    /// The paths kept by the walk, each widened within the piece, up to the one that gives
    /// the unit its `per_group`-th distinct region of the group.
    wide: Vec<Vec<Step>>,
    /// Paths found beyond those (all counted once listed, since the group is then full).
    more: u64,
}

/// Witnesses found ahead, while a shared unit leaves a core idle: a thread that has no unit
/// left to take (all are taken) searches the witnesses of the regions the units worked on
/// alone have found, whenever fewer threads than `--jobs` are at work on units (the large
/// unit's pairing and pieces run on one thread, and one side's fold may end before the
/// other's). A witness depends on the region and its group alone, not on the judge or the
/// thread that searches it, so a region the witness stage lists takes the proof found ahead
/// if there is one, and is searched then otherwise: the report is the same. Regions proved
/// ahead that the stage does not list (their group filled by the units before) are dropped.
struct Ahead {
    /// Whether witnesses are searched ahead at all (more than one thread, and a unit shared
    /// by the threads that leaves a core idle at times).
    on: bool,
    /// Regions to search, in the order their units ended, and the first not yet taken.
    queue: std::sync::Mutex<(Vec<AheadRegion>, usize)>,
    /// The proofs found, by group.
    found: std::sync::Mutex<FoundAhead>,
    /// Threads at work on units (a unit's own, and those that share a shared unit).
    busy: std::sync::atomic::AtomicUsize,
    /// Units taken, and units ended.
    taken: std::sync::atomic::AtomicUsize,
    ended: std::sync::atomic::AtomicUsize,
    /// Units worked on alone that have ended, and regions searched ahead.
    alone_ended: std::sync::atomic::AtomicUsize,
    searched: std::sync::atomic::AtomicUsize,
    units: usize,
    /// Units worked on alone.
    alone: usize,
    jobs: usize,
}

/// A region to search ahead: its group and its widened steps.
type AheadRegion = (GroupKey, Vec<Step>);

/// The proofs found ahead, by group: each with the steps of its region.
type FoundAhead = FxHashMap<GroupKey, Vec<(Vec<Step>, Proof)>>;

/// A unit taken, ended when dropped ([`Ahead::take`]).
struct Ended<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A count of threads at work on units, held while alive ([`Ahead::busy`]).
struct Busy<'a> {
    count: &'a std::sync::atomic::AtomicUsize,
    n: usize,
}

impl<'a> Busy<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize, n: usize) -> Busy<'a> {
        count.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        Busy { count, n }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.count
            .fetch_sub(self.n, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Ahead {
    fn new(on: bool, units: usize, alone: usize, jobs: usize) -> Ahead {
        Ahead {
            on,
            queue: std::sync::Mutex::new((Vec::new(), 0)),
            found: std::sync::Mutex::new(FxHashMap::default()),
            busy: std::sync::atomic::AtomicUsize::new(0),
            taken: std::sync::atomic::AtomicUsize::new(0),
            ended: std::sync::atomic::AtomicUsize::new(0),
            alone_ended: std::sync::atomic::AtomicUsize::new(0),
            searched: std::sync::atomic::AtomicUsize::new(0),
            units,
            alone,
            jobs,
        }
    }

    /// Notes that a unit is taken; the unit ends when what this gives is dropped (on a
    /// panic too, so that no thread waits for it).
    fn take(&self) -> Ended<'_> {
        self.taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ended(&self.ended)
    }

    /// Once a unit taken by [`Ahead::take`] is worked on: a unit worked on alone offers its
    /// distinct regions to search; then, when no unit is left to take, witnesses are
    /// searched ahead on `space` with the judge `judge` gives until every unit has ended.
    fn unit<'j>(
        &self,
        space: &Space,
        shared: bool,
        out: UnitOut,
        ended: Ended<'_>,
        judge: &mut dyn FnMut() -> &'j confirm::Judge<'j>,
    ) -> UnitOut {
        use std::sync::atomic::Ordering;
        if self.on && !shared && !out.over {
            let mut offered: Vec<AheadRegion> = Vec::new();
            for l in &out.leaves {
                for w in &l.wide {
                    if !offered.iter().any(|(k, s)| k == &l.key && s == w) {
                        offered.push((l.key.clone(), w.clone()));
                    }
                }
            }
            if let Ok(mut q) = self.queue.lock() {
                q.0.extend(offered);
            }
        }
        #[cfg(test)]
        if shared && self.on && tests::AHEAD_WAIT.load(Ordering::SeqCst) {
            // Tests: the shared unit ends only once every region of the others is searched
            // ahead, so that the witness stage takes them all (for at most 10 s: a thread
            // waiting here takes no unit).
            let start = std::time::Instant::now();
            while (self.alone_ended.load(Ordering::SeqCst) < self.alone
                || self.searched.load(Ordering::SeqCst)
                    < self.queue.lock().map(|q| q.0.len()).unwrap_or(0))
                && start.elapsed() < std::time::Duration::from_secs(10)
            {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
        if !shared {
            self.alone_ended.fetch_add(1, Ordering::SeqCst);
        }
        drop(ended);
        if self.on && self.taken.load(Ordering::SeqCst) >= self.units {
            self.search(space, judge());
        }
        out
    }

    /// Searches the queued regions' witnesses while a unit is at work, whenever fewer
    /// than `jobs` threads are (looking again every millisecond while as many are), until
    /// every unit has ended or no region is left to search.
    fn search(&self, space: &Space, judge: &confirm::Judge<'_>) {
        use std::sync::atomic::Ordering;
        let cpu = thread_cpu();
        let mut n = 0usize;
        while self.ended.load(Ordering::SeqCst) < self.units {
            if self.busy.load(Ordering::SeqCst) >= self.jobs {
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
            let next = match self.queue.lock() {
                Ok(mut q) => {
                    let at = q.1;
                    let item = q.0.get(at).cloned();
                    if item.is_some() {
                        q.1 += 1;
                    }
                    item
                }
                Err(_) => None,
            };
            let Some((key, steps)) = next else {
                if self.alone_ended.load(Ordering::SeqCst) >= self.alone {
                    // Every unit worked on alone has offered its regions: none are left.
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            };
            let proof = judge.prove(space, &steps, &group_claim(&key));
            n += 1;
            if let Ok(mut found) = self.found.lock() {
                found.entry(key).or_default().push((steps, proof));
            }
            self.searched.fetch_add(1, Ordering::SeqCst);
        }
        if let (Some(start), Some(end)) = (cpu, thread_cpu())
            && n > 0
        {
            note_ahead(n, end.saturating_sub(start));
        }
    }
}

/// Notes on standard error (under `GOVERN_DIFF_TIMES`) the witnesses a thread searched ahead.
#[allow(clippy::print_stderr)] // asked for by the environment variable, for profiling
fn note_ahead(regions: usize, ns: u64) {
    eprintln!(
        "diff: witnesses searched ahead: {regions} regions, {:.1} ms on the CPU",
        ns as f64 / 1e6
    );
}

/// What a region of the group `key` claims of its two decisions: the group's verdicts and,
/// when grouped by them, its determining rules.
fn group_claim(key: &GroupKey) -> impl Fn(&Decision, &Decision) -> bool + use<> {
    let (from, to) = (of_rank(key.0), of_rank(key.1));
    let rules = key.2.clone();
    move |o: &Decision, n: &Decision| {
        Some(o.verdict) == from
            && Some(n.verdict) == to
            && rules
                .as_ref()
                .is_none_or(|[ro, rn]| &o.rules == ro && &n.rules == rn)
    }
}

/// One unit of [`group_by_pieces`]: both sides folded with their determining rules within
/// `unit`, paired, and each piece's regions enumerated and widened; then the store is taken
/// back to `mark` nodes. Once the grouped diagram of each piece is made, the store is only
/// read: the pieces' walks and widening are shared by `jobs` threads (the unit's own and
/// `jobs - 1` more), and their results are taken in piece order, so the unit's result is
/// the same for any number of threads.
#[allow(clippy::too_many_arguments)]
fn unit_work(
    space: &mut Space,
    sums: &mut [Summaries<'_>; 2],
    mark: usize,
    unit: NodeRef,
    pieces: &[NodeRef],
    models: [&Model; 2],
    opts: &Options,
    jobs: usize,
    ahead: &Ahead,
) -> UnitOut {
    // This thread at work on the unit (not while it waits for the other side's fold).
    let mut me = Some(Busy::new(&ahead.busy, 1));
    let f = space.m.f;
    let mut out = UnitOut {
        leaves: Vec::new(),
        infeasible: 0,
        incomplete: false,
        over: false,
    };
    space.allow(opts.budget / 2);
    // The stages of a unit whose pieces are shared, timed for profiling.
    let mut clock = (jobs > 1).then(Clock::new);
    let mut lap = |stage: &str| {
        if let Some(c) = clock.as_mut() {
            c.lap(stage);
        }
    };
    // Both sides folded once per unit; each piece of it is that result where the piece
    // lies. Diagrams are canonical, so it is the node a fold within the piece would make.
    let [s_old, s_new] = sums;
    // With more threads, the new side is folded on a copy of the store while this thread
    // folds the old side, and its result made here; the nodes are the same, numbered
    // otherwise. The copy's own nodes are counted with this store's against the budget
    // (the nodes one store would have made are among them): when that count, or the
    // memory of both, could have stopped the folds in one store, the unit is worked on
    // again in one store, so that it ends as it would there.
    let fits = crate::compile::dd::MEMORY_LIMIT / space.m.bytes().max(1) >= opts.jobs;
    let mut grouped = Vec::with_capacity(pieces.len());
    let mut folded = false;
    if jobs > 1 && fits {
        let shared = space.m.len();
        let shared_bytes = space.m.bytes();
        let mut copy = space.clone();
        let (so, sn) = std::thread::scope(|scope| {
            let there = scope.spawn(|| {
                let _busy = Busy::new(&ahead.busy, 1);
                let cpu = thread_cpu();
                let sn = summaries(&mut copy, NEW, s_new, unit);
                note_cpu("large unit: new side folded", cpu);
                sn
            });
            let cpu = thread_cpu();
            let so = summaries(space, OLD, s_old, unit);
            note_cpu("large unit: old side folded", cpu);
            drop(me.take());
            let joined = there.join();
            me = Some(Busy::new(&ahead.busy, 1));
            match joined {
                Ok(sn) => (so, sn),
                Err(e) => std::panic::resume_unwind(e),
            }
        });
        lap("large unit: both sides folded");
        if !copy.over() && !space.over() {
            let sn = space.adopt(&copy, sn, shared);
            let whole = pair_summaries(space, so, sn, models);
            lap("large unit: new side made here, paired");
            within_pieces(space, whole, unit, pieces, &mut grouped);
            folded = true;
        }
        let copied = copy.m.len().saturating_sub(shared);
        let copied_bytes = copy.m.bytes().saturating_sub(shared_bytes);
        if space.over()
            || copy.over()
            || space.m.len().saturating_add(copied) >= space.budget
            || space.m.bytes().saturating_add(copied_bytes) > space.m.memory_limit
        {
            space.truncate(mark);
            space.reset_over();
            space.allow(opts.budget / 2);
            grouped.clear();
            folded = false;
        }
    }
    if !folded {
        let so = summaries(space, OLD, s_old, unit);
        let sn = summaries(space, NEW, s_new, unit);
        let whole = pair_summaries(space, so, sn, models);
        lap("large unit: both sides folded and paired");
        within_pieces(space, whole, unit, pieces, &mut grouped);
    }
    if space.over() {
        out.over = true;
        space.truncate(mark);
        space.reset_over();
        return out;
    }
    lap("large unit: pieces made");
    let read: &Space = space;
    let jobs = jobs.clamp(1, grouped.len().max(1));
    // The walks, each piece on its own.
    let walk = |r: &NodeRef| regions::walk(read, *r, &|n| n != f, opts.per_group, opts.walk_steps);
    let walk = &walk;
    let helpers = Busy::new(&ahead.busy, jobs - 1);
    let walks: Vec<regions::Walk> = in_index_order(
        &grouped,
        &[],
        walk,
        (1..jobs).map(|_| move || walk).collect(),
    );
    drop(helpers);
    lap("large unit: pieces walked");
    // Each leaf reached, in piece order and the order each walk reached them, with its group
    // (leaves of no change are left out).
    let mut reached: Vec<(usize, NodeRef, GroupKey)> = Vec::new();
    for (k, w) in walks.iter().enumerate() {
        for (leaf, _) in &w.paths {
            let items = read.m.leaf_items(*leaf).unwrap_or(&[]);
            let key = if items.iter().any(|x| x & PAIR != 0) {
                let (fo, fn_, det) = decode_pair(items);
                let ids = |s: usize| -> Vec<String> {
                    at(&det, s)
                        .iter()
                        .filter_map(|r| at(&models, s).rules.get(*r as usize).map(|x| x.id.clone()))
                        .collect()
                };
                (fo, fn_, Some([ids(OLD), ids(NEW)]))
            } else {
                let code = items.first().copied().unwrap_or(0);
                (code / 4, code % 4, None)
            };
            if of_rank(key.0).is_none() || of_rank(key.1).is_none() {
                continue;
            }
            reached.push((k, *leaf, key));
        }
    }
    // Once this unit holds `per_group` distinct regions of a group, the group is full when
    // its later paths are merged (each of those regions is then listed, or was before),
    // whatever the units before it gave: the later paths are counted without being widened,
    // as the merge would count them. A group's first `per_group` paths are widened whatever
    // the others give, so those are widened first, on the threads; a later path is widened
    // (here) only if the group is not full when it is reached.
    let mut first: Vec<(NodeRef, NodeRef, &[Step])> = Vec::new();
    let mut taken: FxHashMap<&GroupKey, usize> = FxHashMap::default();
    for (k, leaf, key) in &reached {
        let n = taken.entry(key).or_default();
        for p in walks.get(*k).map(|w| w.of(*leaf)).unwrap_or(&[]) {
            if *n < opts.per_group {
                *n += 1;
                first.push((grouped.get(*k).copied().unwrap_or(f), *leaf, p));
            }
        }
    }
    drop(taken);
    // Nodes stay until the unit's are dropped: their outcomes are read once for all paths.
    let mut widener = regions::Widener::default();
    let widen = |w: &mut regions::Widener, (r, leaf, p): &(NodeRef, NodeRef, &[Step])| {
        w.widen(read, *r, *leaf, p)
    };
    let widen = &widen;
    let helpers = Busy::new(&ahead.busy, jobs - 1);
    let mut early = in_index_order(
        &first,
        &[],
        |t| widen(&mut widener, t),
        (1..jobs)
            .map(|_| {
                move || {
                    let mut w = regions::Widener::default();
                    move |t: &(NodeRef, NodeRef, &[Step])| widen(&mut w, t)
                }
            })
            .collect(),
    )
    .into_iter();
    drop(helpers);
    // Per group, the distinct widened regions this unit found, in order.
    let mut seen: BTreeMap<GroupKey, Vec<Vec<Step>>> = BTreeMap::new();
    let mut counted: FxHashMap<&GroupKey, usize> = FxHashMap::default();
    // Paths widened here, after those on the threads.
    let mut late = 0usize;
    for (k, leaf, key) in &reached {
        let Some(w) = walks.get(*k) else {
            continue;
        };
        let r = grouped.get(*k).copied().unwrap_or(f);
        let n = counted.entry(key).or_default();
        let distinct = seen.entry(key.clone()).or_default();
        let paths = w.of(*leaf);
        let mut wide = Vec::with_capacity(paths.len());
        let mut more = w.more.get(leaf).copied().unwrap_or(0);
        for p in paths {
            // Taken in the same order as `first` was made.
            let ahead = if *n < opts.per_group {
                *n += 1;
                early.next()
            } else {
                None
            };
            if distinct.len() >= opts.per_group {
                more += 1;
                continue;
            }
            let w = match ahead {
                Some(w) => w,
                None => {
                    late += 1;
                    widener.widen(read, r, *leaf, p)
                }
            };
            if !distinct.contains(&w) {
                distinct.push(w.clone());
            }
            wide.push(w);
        }
        out.leaves.push(UnitLeaf {
            key: key.clone(),
            wide,
            more,
        });
    }
    for w in &walks {
        out.infeasible += w.infeasible;
        out.incomplete |= !w.complete;
    }
    drop(counted);
    lap(&format!(
        "large unit: paths widened ({} on the threads, {late} after)",
        first.len()
    ));
    out.over = space.over();
    space.truncate(mark);
    space.reset_over();
    drop(me);
    out
}

/// Each piece's grouped diagram, into `grouped`: `whole` (the grouped diagram of `unit`)
/// where the piece lies. Stops when the store goes past its budget.
fn within_pieces(
    space: &mut Space,
    whole: NodeRef,
    unit: NodeRef,
    pieces: &[NodeRef],
    grouped: &mut Vec<NodeRef>,
) {
    for &piece in pieces {
        if space.over() {
            break;
        }
        grouped.push(if piece == unit {
            whole
        } else {
            space.within(whole, piece)
        });
    }
}

/// The largest piece of a diagram of changes [`group_by_pieces`] folds within, in nodes (an
/// upper bound that counts shared nodes again).
const PIECE_NODES: u64 = 256;

/// The fewest pieces [`split`] may make of a unit before the unit is grouped whole.
const MIN_PIECE_CAP: usize = 1024;

/// The most pieces [`split`] makes of a unit of `nodes` nodes before the unit is grouped
/// whole (tests may lower it to make every split unit whole).
fn piece_cap(nodes: usize) -> usize {
    #[cfg(test)]
    if let Some(cap) = tests::PIECE_CAP.with(std::cell::Cell::get) {
        return cap;
    }
    nodes.max(MIN_PIECE_CAP)
}

/// Splits the fork-free diagram `d` into pieces of at most [`PIECE_NODES`] nodes: each is `d`
/// where the outcomes on the way to it (`above`: each node with the child taken) are taken,
/// and false elsewhere. Stops, returning false, as soon as `out` would hold more than `cap`
/// pieces: the pieces follow paths, so a diagram whose paths share sub-diagrams has
/// exponentially many, and the work is bounded by `cap` pieces of at most 64 steps each.
fn split(
    space: &mut Space,
    d: NodeRef,
    above: &mut Vec<(NodeRef, NodeRef)>,
    out: &mut Vec<NodeRef>,
    cap: usize,
) -> bool {
    let f = space.m.f;
    if d == f {
        return true;
    }
    let mut kids = space.m.children(d);
    if space.m.size(d) <= PIECE_NODES || kids.is_empty() || above.len() >= 64 {
        if out.len() >= cap {
            return false;
        }
        let mut piece = d;
        for &(node, child) in above.iter().rev() {
            piece = space.only_child(node, child, piece);
        }
        out.push(piece);
        return true;
    }
    kids.sort_unstable();
    kids.dedup();
    for c in kids {
        if c == f {
            continue;
        }
        above.push((d, c));
        let fits = split(space, c, above, out, cap);
        above.pop();
        if !fits {
            return false;
        }
    }
    true
}

/// The nodes reachable from `root`.
fn reachable(space: &Space, root: NodeRef) -> usize {
    let mut seen: rustc_hash::FxHashSet<NodeRef> = rustc_hash::FxHashSet::default();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if seen.insert(n) {
            stack.extend(space.m.children(n));
        }
    }
    seen.len()
}

fn part_prefix(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!("where {label}: ")
    }
}

/// The region of `path` with its witness; described in words by [`merge_regions`], once the
/// regions merged into others (whose words would be dropped) are known.
fn region(
    space: &Space,
    judge: &confirm::Judge<'_>,
    path: Vec<Step>,
    claim: &dyn Fn(&Decision, &Decision) -> bool,
) -> Region {
    let proof = judge.prove(space, &path, claim);
    region_proved(path, proof)
}

/// The region of `path` with the proof found for it.
fn region_proved(path: Vec<Step>, proof: Proof) -> Region {
    Region {
        conditions: Vec::new(),
        short: Vec::new(),
        proof,
        alternatives: path.iter().map(|s| vec![s.clone()]).collect(),
        steps: path,
    }
}

/// The most constants a region's short description lists in one condition.
const SHORT_LIST: usize = 6;

/// Regions with the same status that differ in the outcome of one variable only, merged into
/// one (`target in ["a", "b"]`), until no two can be; then each region left is described in
/// words ([`region`] leaves that to here: a region merged into another would lose them).
fn merge_regions(describer: &describe::Describer, mut regions: Vec<Region>) -> Vec<Region> {
    let mut merged_any = false;
    // Beside each region, the hash of each of its conditions' outcomes ([`condition_hash`]),
    // kept up to date as merging adds outcomes to a condition: a merge key's hash is then
    // made of these rather than of every step again for each condition left out.
    let mut hashes: Vec<Vec<u64>> = regions
        .iter()
        .map(|r| r.alternatives.iter().map(|a| condition_hash(a)).collect())
        .collect();
    loop {
        let mut changed = false;
        let longest = regions
            .iter()
            .map(|r| r.alternatives.len())
            .max()
            .unwrap_or(0);
        // By the hash of a region's merge key, the last region of `out` with that hash;
        // `before` links each region of `out` to the one before it with the same hash.
        let mut seen: FxHashMap<u64, usize> = FxHashMap::default();
        let mut before: Vec<usize> = Vec::with_capacity(regions.len());
        for k in 0..longest {
            seen.clear();
            before.clear();
            let mut out: Vec<Region> = Vec::with_capacity(regions.len());
            let mut out_hashes: Vec<Vec<u64>> = Vec::with_capacity(regions.len());
            for (r, h) in regions.drain(..).zip(hashes.drain(..)) {
                if r.alternatives.len() <= k {
                    out.push(r);
                    out_hashes.push(h);
                    before.push(usize::MAX);
                    continue;
                }
                let hash = merge_hash(&r, &h, k);
                let mut at = seen.get(&hash).copied().unwrap_or(usize::MAX);
                while let Some(first) = out.get(at) {
                    if same_merge_key(first, &r, k) {
                        break;
                    }
                    at = before.get(at).copied().unwrap_or(usize::MAX);
                }
                match out.get_mut(at) {
                    Some(first) => {
                        if let (Some(into), Some(from)) =
                            (first.alternatives.get_mut(k), r.alternatives.get(k))
                        {
                            for st in from {
                                if !into.contains(st) {
                                    into.push(st.clone());
                                }
                            }
                            if let Some(slot) = out_hashes.get_mut(at).and_then(|h| h.get_mut(k)) {
                                *slot = condition_hash(into);
                            }
                        }
                        changed = true;
                    }
                    None => {
                        before.push(seen.insert(hash, out.len()).unwrap_or(usize::MAX));
                        out.push(r);
                        out_hashes.push(h);
                    }
                }
            }
            regions = out;
            hashes = out_hashes;
        }
        merged_any |= changed;
        if !changed {
            break;
        }
    }
    for r in regions.iter_mut() {
        (r.conditions, r.short) = describer.path_both(&r.steps, SHORT_LIST);
    }
    if merged_any {
        for r in regions.iter_mut() {
            if r.alternatives.iter().any(|a| a.len() > 1) {
                // A condition with one alternative is still its step as `path_both`
                // described it (`any_of` of one step is that step's description): only the
                // merged ones are described again.
                let same = r.conditions.len() == r.alternatives.len()
                    && r.short.len() == r.alternatives.len()
                    && r.steps.len() == r.alternatives.len();
                if !same {
                    r.conditions = r
                        .alternatives
                        .iter()
                        .map(|alts| describer.any_of(alts, usize::MAX))
                        .collect();
                    r.short = r
                        .alternatives
                        .iter()
                        .map(|alts| describer.any_of(alts, SHORT_LIST))
                        .collect();
                    continue;
                }
                for (i, alts) in r.alternatives.iter().enumerate() {
                    if alts.len() == 1 && alts.first() == r.steps.get(i) {
                        continue;
                    }
                    if let Some(c) = r.conditions.get_mut(i) {
                        *c = describer.any_of(alts, usize::MAX);
                    }
                    if let Some(s) = r.short.get_mut(i) {
                        *s = describer.any_of(alts, SHORT_LIST);
                    }
                }
            }
        }
    }
    regions
}

/// What two regions must share to be merged on their condition `k`: their status, the
/// variables of their conditions, and every other condition's outcomes (numbers by their
/// bits, as exact as comparing them written out). Regions with the same key hash alike
/// ([`merge_hash`]).
fn same_merge_key(a: &Region, b: &Region, k: usize) -> bool {
    use crate::compile::analysis::Branch;
    let first_var = |alts: &Vec<Step>| alts.first().map_or(u32::MAX, |s| s.var);
    let bound_eq = |x: &Option<(f64, bool)>, y: &Option<(f64, bool)>| match (x, y) {
        (None, None) => true,
        (Some((v, i)), Some((w, j))) => v.to_bits() == w.to_bits() && i == j,
        _ => false,
    };
    let step_eq = |s: &Step, t: &Step| {
        s.var == t.var
            && match (&s.branch, &t.branch) {
                (Branch::Const(c), Branch::Const(d)) => c == d,
                (Branch::Other(cs), Branch::Other(ds)) => cs == ds,
                (Branch::Range { lo, hi }, Branch::Range { lo: l2, hi: h2 }) => {
                    bound_eq(lo, l2) && bound_eq(hi, h2)
                }
                (Branch::True, Branch::True)
                | (Branch::False, Branch::False)
                | (Branch::Unknown, Branch::Unknown) => true,
                _ => false,
            }
    };
    a.proof.status == b.proof.status
        && a.alternatives.len() == b.alternatives.len()
        && a.alternatives
            .iter()
            .zip(&b.alternatives)
            .enumerate()
            .all(|(i, (x, y))| {
                first_var(x) == first_var(y)
                    && (i == k
                        || (x.len() == y.len() && x.iter().zip(y).all(|(s, t)| step_eq(s, t))))
            })
}

/// The hash of region `r`'s merge key on its condition `k` (see [`same_merge_key`]), from
/// the hashes of its conditions' outcomes (`conditions`, by [`condition_hash`]).
fn merge_hash(r: &Region, conditions: &[u64], k: usize) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write_u64(r.proof.status as u64);
    h.write_usize(r.alternatives.len());
    for alts in &r.alternatives {
        h.write_u32(alts.first().map_or(u32::MAX, |s| s.var));
    }
    for (i, c) in conditions.iter().enumerate() {
        if i != k {
            h.write_u64(*c);
        }
    }
    h.finish()
}

/// The hash of one condition's outcomes, `alts` (numbers by their bits): conditions that
/// [`same_merge_key`] finds equal hash alike.
fn condition_hash(alts: &[Step]) -> u64 {
    use crate::compile::analysis::Branch;
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    let bound = |h: &mut rustc_hash::FxHasher, b: &Option<(f64, bool)>| match b {
        None => h.write_u8(0),
        Some((v, inc)) => {
            h.write_u8(1 + u8::from(*inc));
            h.write_u64(v.to_bits());
        }
    };
    h.write_usize(alts.len());
    for st in alts {
        h.write_u32(st.var);
        match &st.branch {
            Branch::Const(c) => {
                h.write_u8(0);
                h.write_u32(*c);
            }
            Branch::Other(cs) => {
                h.write_u8(1);
                h.write_usize(cs.len());
                for c in cs {
                    h.write_u32(*c);
                }
            }
            Branch::Range { lo, hi } => {
                h.write_u8(2);
                bound(&mut h, lo);
                bound(&mut h, hi);
            }
            Branch::True => h.write_u8(3),
            Branch::False => h.write_u8(4),
            Branch::Unknown => h.write_u8(5),
        }
    }
    h.finish()
}

fn side_info(s: &Side) -> SideInfo {
    SideInfo {
        label: s.label.clone(),
        digest: s.program.digest.clone(),
        rules: s.program.model.rules.len(),
        default: s.program.model.default,
    }
}

fn rule_refs(s: &Side) -> BTreeMap<String, RuleRef> {
    let m = &s.program.model;
    let mut out = BTreeMap::new();
    for (i, r) in m.rules.iter().enumerate() {
        let text = s.bundle.as_ref().and_then(|b| {
            let rule = b
                .rules
                .get(i)
                .filter(|x| x.id == r.id)
                .or_else(|| b.rule(&r.id))?;
            let file = b.file(rule.loc)?;
            Some(rule_source(&file.text, rule.loc.span.start as usize))
        });
        let file = m.files.get(r.file as usize).cloned().unwrap_or_default();
        let path = match &s.rev {
            Some(rev) => file
                .strip_prefix(rev.as_str())
                .and_then(|p| p.strip_prefix(':'))
                .unwrap_or(&file)
                .to_string(),
            None => file.clone(),
        };
        out.insert(
            r.id.clone(),
            RuleRef {
                id: r.id.clone(),
                effect: r.effect,
                message: r.message.clone(),
                path,
                file,
                line: r.line,
                column: r.column,
                text,
            },
        );
    }
    out
}

/// The source of the rule whose name starts at byte `at`: from its line to the line before
/// the next rule, doc comment, annotation, blank line or closing brace.
fn rule_source(text: &str, at: usize) -> String {
    let start = text
        .get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let mut out = Vec::new();
    for (i, line) in text.get(start..).unwrap_or("").lines().enumerate() {
        let t = line.trim_start();
        if i > 0
            && (t.is_empty()
                || t.starts_with("rule ")
                || t.starts_with("///")
                || t.starts_with('@')
                || t.starts_with('}'))
        {
            break;
        }
        out.push(line.trim_end());
    }
    // Indentation relative to the rule's line.
    let indent = out
        .first()
        .map(|l| l.len() - l.trim_start().len())
        .unwrap_or(0);
    out.iter()
        .map(|l| {
            l.get(indent.min(l.len() - l.trim_start().len())..)
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The joint space, trackers identified across the sides: two trackers are one when they
/// count the same thing (kind, window, keys, summed attribute) over events their conditions
/// accept alike. Conditions are compared as diagrams in the joint space, which needs the
/// trackers they read identified first: repeated until nothing more is identified.
fn joint(models: [&Model; 2], budget: usize, jobs: usize) -> Space {
    let (no, nn) = (models[OLD].trackers.len(), models[NEW].trackers.len());
    let mut classes: [Vec<u32>; 2] = [
        (0..no as u32).collect(),
        (no as u32..(no + nn) as u32).collect(),
    ];
    let mut count = no + nn;
    let mut space = Space::new(models, [&classes[OLD], &classes[NEW]], count, budget);
    if no == 0 || nn == 0 {
        return space;
    }
    for _ in 0..8 {
        if space.over() {
            return space;
        }
        // Which trackers fire below each node: a tracker's fold skips the rest.
        let reach = |space: &Space, s: usize, n: usize| {
            space.reach(*at(&space.roots, s), n, &mut |items, bits| {
                for &x in items {
                    if let Some(Item::Fire(t)) = Item::decode(x)
                        && let Some(w) = bits.get_mut((t / 64) as usize)
                    {
                        *w |= 1u64 << (t % 64);
                    }
                }
            })
        };
        // The two sides' marks read the store only: on two threads when there are two.
        let reaches = if jobs > 1 {
            let read: &Space = &space;
            std::thread::scope(|scope| {
                let there = scope.spawn(|| reach(read, NEW, nn));
                let old = reach(read, OLD, no);
                match there.join() {
                    Ok(new) => [old, new],
                    Err(e) => std::panic::resume_unwind(e),
                }
            })
        } else {
            [reach(&space, OLD, no), reach(&space, NEW, nn)]
        };
        let fires = |space: &mut Space, s: usize, t: usize| -> NodeRef {
            let code = Item::Fire(t as u32).code();
            let mut leaf = |_: NodeRef, items: &[u32]| {
                if items.binary_search(&code).is_ok() {
                    vec![ITEM_TRUE]
                } else {
                    Vec::new()
                }
            };
            let mut merge = |a: &[u32], b: &[u32]| {
                if a.is_empty() && b.is_empty() {
                    Vec::new()
                } else {
                    vec![ITEM_TRUE]
                }
            };
            let (all, unit, u) = (space.m.t, space.m.f, space.m.u);
            let reach = at(&reaches, s);
            let skip = |n: NodeRef| !reach.has(n, t as u32);
            let mut h = Fold {
                leaf: &mut leaf,
                merge: &mut merge,
                dc: u,
                unit: Some(unit),
                skip: Some(&skip),
            };
            let root = *at(&space.roots, s);
            space.fold(root, all, &mut h)
        };
        let old_fires: Vec<NodeRef> = (0..no).map(|t| fires(&mut space, OLD, t)).collect();
        let new_fires: Vec<NodeRef> = (0..nn).map(|t| fires(&mut space, NEW, t)).collect();
        if space.over() {
            return space;
        }
        // Old trackers by their definition and condition.
        let key = |space: &Space, s: usize, t: usize, fire: NodeRef| {
            let tr = at(&models, s).trackers.get(t)?;
            let map = space.sides.get(s)?;
            let slot = |x: u32| map.slot.get(x as usize).copied().unwrap_or(u32::MAX);
            Some((
                crate::bytecode::codes::kind(tr.kind),
                tr.within,
                tr.per.iter().map(|p| slot(*p)).collect::<Vec<_>>(),
                tr.value.map(slot),
                fire,
            ))
        };
        let mut by_key = BTreeMap::new();
        for (t, f) in old_fires.iter().enumerate() {
            if let Some(k) = key(&space, OLD, t, *f) {
                by_key
                    .entry(k)
                    .or_insert(classes[OLD].get(t).copied().unwrap_or(u32::MAX));
            }
        }
        let mut next = classes.clone();
        let mut used = BTreeSet::new();
        for (t, f) in new_fires.iter().enumerate() {
            if let Some(k) = key(&space, NEW, t, *f)
                && let Some(&c) = by_key.get(&k)
                && used.insert(c)
                && let Some(x) = next[NEW].get_mut(t)
            {
                *x = c;
            }
        }
        if next == classes {
            return space;
        }
        // Renumber densely: old classes stay, new ones follow.
        let mut renumber = BTreeMap::new();
        for c in next[OLD].iter().chain(next[NEW].iter()) {
            let n = renumber.len() as u32;
            renumber.entry(*c).or_insert(n);
        }
        for side in next.iter_mut() {
            for c in side.iter_mut() {
                *c = renumber.get(c).copied().unwrap_or(*c);
            }
        }
        count = renumber.len();
        classes = next;
        space = Space::new(models, [&classes[OLD], &classes[NEW]], count, budget);
    }
    space
}

/// A leaf summary per model leaf, computed once.
struct Summaries<'m> {
    model: &'m Model,
    cache: FxHashMap<NodeRef, (u32, Vec<u32>)>,
}

impl<'m> Summaries<'m> {
    fn new(model: &'m Model) -> Summaries<'m> {
        Summaries {
            model,
            cache: FxHashMap::default(),
        }
    }

    /// The raw verdict rank (0: no rule decides) and the determining rules of a leaf.
    fn of(&mut self, n: NodeRef, items: &[u32]) -> (u32, Vec<u32>) {
        self.cache
            .entry(n)
            .or_insert_with(|| {
                let s = self.model.summarize(items);
                (s.verdict.map(rank).unwrap_or(0), s.determining)
            })
            .clone()
    }
}

/// Side `s`'s verdict function within `care` (`[]` where no rule decides, `[rank]` else).
fn verdicts(space: &mut Space, s: usize, model: &Model, care: NodeRef) -> NodeRef {
    let mut sums = Summaries {
        model,
        cache: FxHashMap::default(),
    };
    let mut leaf = |n: NodeRef, items: &[u32]| {
        let (v, _) = sums.of(n, items);
        if v == 0 { Vec::new() } else { vec![v] }
    };
    let mut merge = |a: &[u32], b: &[u32]| {
        let v = a
            .first()
            .copied()
            .unwrap_or(0)
            .max(b.first().copied().unwrap_or(0));
        if v == 0 { Vec::new() } else { vec![v] }
    };
    let dc = space.m.leaf(vec![DC]);
    fold_side(space, s, care, dc, &mut leaf, &mut merge, None)
}

/// Folds side `s`'s diagram into a coarser function with `leaf` and `merge`: `dc` where
/// `care` is false, the empty value as the unit of `merge`.
fn fold_side(
    space: &mut Space,
    s: usize,
    care: NodeRef,
    dc: NodeRef,
    leaf: &mut dyn FnMut(NodeRef, &[u32]) -> Vec<u32>,
    merge: &mut LeafFn<'_>,
    skip: Option<&dyn Fn(NodeRef) -> bool>,
) -> NodeRef {
    let unit = space.m.f;
    let mut h = Fold {
        leaf,
        merge,
        dc,
        unit: Some(unit),
        skip,
    };
    let root = *at(&space.roots, s);
    space.fold(root, care, &mut h)
}

/// Where the final verdicts differ: `[] ` where they agree, `[from * 4 + to]` else.
fn pair_verdicts(space: &mut Space, vo: NodeRef, vn: NodeRef, models: [&Model; 2]) -> NodeRef {
    let (d_old, d_new) = (rank(models[OLD].default), rank(models[NEW].default));
    space.zip(vo, vn, &mut |a: &[u32], b: &[u32]| {
        if a == [DC] || b == [DC] {
            return Vec::new();
        }
        let fo = a.first().copied().unwrap_or(d_old);
        let fnew = b.first().copied().unwrap_or(d_new);
        if fo == fnew {
            Vec::new()
        } else {
            vec![fo * 4 + fnew]
        }
    })
}

/// Stage 1 over the whole space; past the budget, again on each outcome of the first
/// variable, keeping the parts that fit.
fn verdict_parts(
    space: &mut Space,
    models: [&Model; 2],
    describer: &describe::Describer,
    opts: &Options,
    unproved: &mut Vec<String>,
) -> Vec<Part> {
    // Only requests that exist: comparisons of the same two values take their outcomes
    // together (see `solve::consistency`).
    space.allow(opts.budget);
    let all = solve::consistency(space);
    let narrow = if !opts.narrow {
        None
    } else {
        space.allow(opts.budget);
        verdict_care(space, models)
    };
    space.allow(opts.budget);
    if let Some(p) = verdict_part(space, models, all, String::new(), narrow) {
        return vec![p];
    }
    // Split on the first variable either side tests.
    let var = space.first_var();
    let guards = space.guards(var);
    let mut parts = Vec::new();
    let mut spent = 0usize;
    for (step, guard) in guards {
        let label = describer.step(&step, 6);
        if spent > opts.budget.saturating_mul(4) {
            unproved.push(format!("where {label}: not examined (node budget spent)"));
            continue;
        }
        let before = space.m.len();
        space.allow(opts.budget);
        let guard = space.and(guard, all);
        match verdict_part(space, models, guard, label.clone(), narrow) {
            Some(p) => parts.push(p),
            None => unproved.push(format!(
                "where {label}: the verdict functions went past the node budget ({}); nothing \
                 was proved there",
                opts.budget
            )),
        }
        spent = spent.saturating_add(space.m.len().saturating_sub(before));
    }
    parts
}

/// A two-valued diagram true at least wherever the raw verdicts of the two sides can differ
/// (see [`Space::differ`]); `None` when the defaults differ (then every request no rule
/// decides may change) or when it does not fit in the budget.
///
/// Each side's diagram is relabelled with its leaves' verdicts, forks kept: rules that decide
/// alike on both sides then make the same sub-diagrams, and only what is left is expanded.
/// For a change to a few rules of a large bundle this is a small part of the space, and the
/// exact verdict functions are then computed only there.
fn verdict_care(space: &mut Space, models: [&Model; 2]) -> Option<NodeRef> {
    if models[OLD].default != models[NEW].default {
        return None;
    }
    space.reset_over();
    let mut labelled = [space.m.f; 2];
    for s in [OLD, NEW] {
        let mut sums = Summaries {
            model: at::<&Model>(&models, s),
            cache: FxHashMap::default(),
        };
        let mut leaf = |n: NodeRef, items: &[u32]| {
            let (v, _) = sums.of(n, items);
            if v == 0 { Vec::new() } else { vec![v] }
        };
        let root = *at(&space.roots, s);
        let mut memo = FxHashMap::default();
        *at_mut(&mut labelled, s) = space.relabel(root, &mut leaf, &mut memo);
    }
    let [old, new] = labelled;
    if space.over() {
        space.reset_over();
        return None;
    }
    // Narrowing pays when the two relabelled diagrams share most of their nodes: it then
    // expands only the few that differ. Where most differ (many rules changed), expanding
    // them jointly costs far more than the full product, and the full product is computed
    // instead; so it is, past a small allowance of nodes, whatever the reason.
    let (shared, total) = shared_nodes(space, old, new);
    if total.saturating_sub(shared) > total / NARROW_EXCLUSIVE {
        return None;
    }
    let budget = space.budget;
    space.allow(total.saturating_mul(NARROW_ALLOWANCE).saturating_add(4096));
    space.budget = space.budget.min(budget);
    let mut memo = FxHashMap::default();
    let care = space.differ(old, new, &mut memo);
    let over = space.over();
    space.reset_over();
    space.budget = budget;
    (!over).then_some(care)
}

/// Narrowing is tried when at most one in this many nodes of the two relabelled diagrams
/// belongs to one of them only.
const NARROW_EXCLUSIVE: usize = 4;

/// The narrowing may make at most this many nodes per node of the two relabelled diagrams.
const NARROW_ALLOWANCE: usize = 4;

/// The nodes reachable from both `a` and `b`, and from either.
fn shared_nodes(space: &Space, a: NodeRef, b: NodeRef) -> (usize, usize) {
    let reach = |root: NodeRef| {
        let mut seen: rustc_hash::FxHashSet<NodeRef> = rustc_hash::FxHashSet::default();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(space.m.children(n));
            }
        }
        seen
    };
    let (ra, rb) = (reach(a), reach(b));
    let shared = ra.iter().filter(|n| rb.contains(n)).count();
    (shared, ra.len() + rb.len() - shared)
}

/// The verdict changes within `care`; with `narrow`, the verdict functions are computed only
/// where it is true.
fn verdict_part(
    space: &mut Space,
    models: [&Model; 2],
    care: NodeRef,
    label: String,
    narrow: Option<NodeRef>,
) -> Option<Part> {
    space.reset_over();
    let fold_care = match narrow {
        Some(c) => {
            let within = care_truth(space, care);
            space.and(c, within)
        }
        None => care,
    };
    let vo = verdicts(space, OLD, models[OLD], fold_care);
    let vn = verdicts(space, NEW, models[NEW], fold_care);
    let d = pair_verdicts(space, vo, vn, models);
    if space.over() {
        space.reset_over();
        return None;
    }
    Some(Part { care, label, d })
}

/// The final verdicts side `s` takes somewhere in `d`, a diagram of verdict changes (leaves
/// `[from * 4 + to]`): bit `1 << rank` for each.
fn final_ranks(space: &Space, d: NodeRef, s: usize) -> u32 {
    let mut seen: rustc_hash::FxHashSet<NodeRef> = rustc_hash::FxHashSet::default();
    let mut stack = vec![d];
    let mut ranks = 0u32;
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        match space.m.leaf_items(n) {
            Some(items) => {
                for &code in items.iter().take(1) {
                    let v = if s == NEW { code % 4 } else { (code / 4) % 4 };
                    ranks |= 1 << v;
                }
            }
            None => stack.extend(space.m.children(n)),
        }
    }
    ranks
}

/// Side `s`'s raw verdict and determining rules, only where `care` is not `m.f`.
///
/// `care` is a diagram of verdict changes (or a part of one): wherever it is not `m.f`, side
/// `s`'s final verdict is one of those [`final_ranks`] finds in it. A rule whose effect is
/// none of them determines nowhere there (the determining rules are those of the final
/// verdict, and a walk of lower verdict is dropped when walks merge), so a leaf names only
/// the rules that can decide within `care`; its verdict is kept. The result is the same
/// where `care` is not `m.f`, and the folds no longer multiply the sets of rules that
/// match at a verdict the side never takes there (the allow rules of a side that denies
/// throughout the change, say).
fn summaries(space: &mut Space, s: usize, sums: &mut Summaries<'_>, care: NodeRef) -> NodeRef {
    let ranks = final_ranks(space, care, s);
    let model = sums.model;
    let decides = |r: u32| {
        model.rules.get(r as usize).is_some_and(|x| {
            let k = match x.effect {
                Effect::Deny => 3,
                Effect::Escalate => 2,
                Effect::Allow => 1,
                Effect::Warn => return false,
            };
            ranks & (1 << k) != 0
        })
    };
    let mut leaf = |n: NodeRef, items: &[u32]| {
        let (v, det) = sums.of(n, items);
        let mut out = Vec::with_capacity(det.len() + 1);
        if v > 0 {
            out.push(v << 2 | K_VERDICT);
            out.extend(det.iter().filter(|r| decides(**r)).map(|r| r << 2 | K_DET));
        }
        out
    };
    let mut merge = |a: &[u32], b: &[u32]| {
        let (va, vb) = (summary_verdict(a), summary_verdict(b));
        let v = va.max(vb);
        let mut out = Vec::new();
        if v > 0 {
            out.push(v << 2 | K_VERDICT);
            for (x, vx) in [(a, va), (b, vb)] {
                if vx == v {
                    out.extend(x.iter().filter(|i| *i & 3 == K_DET).copied());
                }
            }
        }
        out
    };
    let dc = space.m.leaf(vec![DC]);
    fold_side(space, s, care, dc, &mut leaf, &mut merge, None)
}

/// The two summaries side by side where the final verdicts differ; `[]` elsewhere.
fn pair_summaries(space: &mut Space, so: NodeRef, sn: NodeRef, models: [&Model; 2]) -> NodeRef {
    let (d_old, d_new) = (rank(models[OLD].default), rank(models[NEW].default));
    space.zip(so, sn, &mut |a: &[u32], b: &[u32]| {
        if a.contains(&DC) || b.contains(&DC) {
            return Vec::new();
        }
        let fo = match summary_verdict(a) {
            0 => d_old,
            v => v,
        };
        let fnew = match summary_verdict(b) {
            0 => d_new,
            v => v,
        };
        if fo == fnew {
            return Vec::new();
        }
        let mut out = vec![PAIR | fo << 2 | fnew];
        out.extend(a.iter().map(|x| x << 1));
        out.extend(b.iter().map(|x| x << 1 | 1));
        out
    })
}

/// A paired leaf: final verdicts and determining rules of each side.
fn decode_pair(items: &[u32]) -> (u32, u32, [Vec<u32>; 2]) {
    let mut det: [Vec<u32>; 2] = Default::default();
    let mut fo = 0;
    let mut fnew = 0;
    for &x in items {
        if x & PAIR != 0 {
            fo = (x & !PAIR) >> 2;
            fnew = x & 3;
            continue;
        }
        let side = (x & 1) as usize;
        let y = x >> 1;
        if y & 3 == K_DET
            && let Some(d) = det.get_mut(side)
        {
            d.push(y >> 2);
        }
    }
    for d in det.iter_mut() {
        d.sort_unstable();
        d.dedup();
    }
    (fo, fnew, det)
}

/// Where side `s`'s rule `r` matches (true, or unknown for deny, escalate and warn), within
/// `care`: a two-valued diagram.
fn matches(
    space: &mut Space,
    s: usize,
    model: &Model,
    r: u32,
    care: NodeRef,
    reach: &space::Reach,
) -> NodeRef {
    let t_code = Item::RuleTrue(r).code();
    let u_code = Item::RuleUnknown(r).code();
    let permits_unknown = model
        .rules
        .get(r as usize)
        .is_some_and(|x| x.effect != Effect::Allow);
    let mut leaf = |_: NodeRef, items: &[u32]| {
        let hit = items.binary_search(&t_code).is_ok()
            || (permits_unknown && items.binary_search(&u_code).is_ok());
        if hit { vec![ITEM_TRUE] } else { Vec::new() }
    };
    let mut merge = |a: &[u32], b: &[u32]| {
        if a.is_empty() && b.is_empty() {
            Vec::new()
        } else {
            vec![ITEM_TRUE]
        }
    };
    let f = space.m.f;
    // Where no leaf names the rule, it matches nowhere.
    let skip = |n: NodeRef| !reach.has(n, r);
    fold_side(space, s, care, f, &mut leaf, &mut merge, Some(&skip))
}

/// Which rules each node of side `s`'s diagram names in a leaf below it.
fn rule_reach(space: &Space, s: usize, model: &Model) -> space::Reach {
    space.reach(
        *at(&space.roots, s),
        model.rules.len(),
        &mut |items, bits| {
            for &x in items {
                if let Some(Item::RuleTrue(r) | Item::RuleUnknown(r)) = Item::decode(x)
                    && let Some(w) = bits.get_mut((r / 64) as usize)
                {
                    *w |= 1u64 << (r % 64);
                }
            }
        },
    )
}

/// Stage 3: for each rule whose condition, effect or message differs, where its part in the
/// decision changes at the same verdict.
#[allow(clippy::too_many_arguments)]
fn rule_changes(
    space: &mut Space,
    models: [&Model; 2],
    parts: &[Part],
    opts: &Options,
    judge: &confirm::Judge<'_>,
    describer: &describe::Describer,
    unproved: &mut Vec<String>,
    infeasible: &mut u64,
) -> Vec<RuleChange> {
    let mut ids: BTreeMap<&str, [Option<u32>; 2]> = BTreeMap::new();
    for s in [OLD, NEW] {
        for (i, r) in at(&models, s).rules.iter().enumerate() {
            *at_mut(ids.entry(r.id.as_str()).or_default(), s) = Some(i as u32);
        }
    }
    let mut out: BTreeMap<(String, ChangeKind), RuleChange> = BTreeMap::new();
    let reaches = [
        rule_reach(space, OLD, models[OLD]),
        rule_reach(space, NEW, models[NEW]),
    ];
    for part in parts {
        space.allow(opts.budget);
        let (f, t) = (space.m.f, space.m.t);
        // Where the final verdicts agree (within the part).
        let care = part.care;
        let d = part.d;
        let same_all = space.map(d, &mut |x: &[u32]| {
            if x.is_empty() {
                vec![ITEM_TRUE]
            } else {
                Vec::new()
            }
        });
        let care_t = care_truth(space, care);
        let same = space.and(same_all, care_t);
        let mut failed = false;
        for (id, idx) in &ids {
            let info = |s: usize| at(idx, s).and_then(|i| at(&models, s).rules.get(i as usize));
            let (ro, rn) = (info(OLD), info(NEW));
            let mut m = [f, f];
            for s in [OLD, NEW] {
                if let Some(i) = *at(idx, s) {
                    let model = at::<&Model>(&models, s);
                    *at_mut(&mut m, s) = matches(space, s, model, i, care, at(&reaches, s));
                }
            }
            if let (Some(a), Some(b)) = (ro, rn)
                && a.effect == b.effect
                && a.message == b.message
                && m[OLD] == m[NEW]
            {
                continue;
            }
            let mut det = [f, f];
            let mut warn = [f, f];
            for s in [OLD, NEW] {
                let Some(r) = info(s) else { continue };
                if r.effect == Effect::Warn {
                    *at_mut(&mut warn, s) = *at(&m, s);
                } else {
                    let e = match r.effect {
                        Effect::Deny => 3,
                        Effect::Escalate => 2,
                        _ => 1,
                    };
                    // The rule determines the decision where it matches and the verdict is
                    // its effect: the verdict is needed only where it matches.
                    let ms = *at(&m, s);
                    if ms != f {
                        let v = verdicts(space, s, at::<&Model>(&models, s), ms);
                        let is_e = space.map(v, &mut |x: &[u32]| {
                            if x == [e] {
                                vec![ITEM_TRUE]
                            } else {
                                Vec::new()
                            }
                        });
                        *at_mut(&mut det, s) = space.and(ms, is_e);
                    }
                }
            }
            let msgs_differ = match (ro, rn) {
                (Some(a), Some(b)) => a.message != b.message,
                _ => false,
            };
            let mut kinds: Vec<(ChangeKind, NodeRef)> = Vec::new();
            let not_det_n = space.not(det[NEW]);
            let not_det_o = space.not(det[OLD]);
            let x = space.and(det[OLD], not_det_n);
            kinds.push((ChangeKind::NoLongerDecides, x));
            let x = space.and(not_det_o, det[NEW]);
            kinds.push((ChangeKind::NowDecides, x));
            if msgs_differ {
                let x = space.and(det[OLD], det[NEW]);
                kinds.push((ChangeKind::MessageChanged, x));
            }
            let not_w_n = space.not(warn[NEW]);
            let not_w_o = space.not(warn[OLD]);
            let x = space.and(warn[OLD], not_w_n);
            kinds.push((ChangeKind::WarningRemoved, x));
            let x = space.and(not_w_o, warn[NEW]);
            kinds.push((ChangeKind::WarningAdded, x));
            if msgs_differ {
                let x = space.and(warn[OLD], warn[NEW]);
                kinds.push((ChangeKind::WarningMessageChanged, x));
            }
            for (kind, x) in kinds {
                let x = space.and(x, same);
                if space.over() {
                    failed = true;
                    break;
                }
                if x == f {
                    continue;
                }
                let walk = regions::walk(space, x, &|n| n == t, opts.per_group, opts.walk_steps);
                *infeasible += walk.infeasible;
                if !walk.complete {
                    unproved.push(format!(
                        "{}the regions where `{id}` {} were not all enumerated",
                        part_prefix(&part.label),
                        kind.describe()
                    ));
                }
                let rid = id.to_string();
                let claim = move |o: &Decision, n: &Decision| {
                    o.verdict == n.verdict
                        && match kind {
                            ChangeKind::NoLongerDecides => {
                                o.rules.contains(&rid) && !n.rules.contains(&rid)
                            }
                            ChangeKind::NowDecides => {
                                !o.rules.contains(&rid) && n.rules.contains(&rid)
                            }
                            ChangeKind::MessageChanged => {
                                o.rules.contains(&rid)
                                    && n.rules.contains(&rid)
                                    && o.messages != n.messages
                            }
                            ChangeKind::WarningRemoved => warns(o, &rid) && !warns(n, &rid),
                            ChangeKind::WarningAdded => !warns(o, &rid) && warns(n, &rid),
                            ChangeKind::WarningMessageChanged => {
                                warns(o, &rid) && warns(n, &rid) && o.warnings != n.warnings
                            }
                        }
                };
                let change = out
                    .entry((id.to_string(), kind))
                    .or_insert_with(|| RuleChange {
                        rule: id.to_string(),
                        kind,
                        regions: Vec::new(),
                        more: 0,
                    });
                for p in walk.of(t) {
                    if change.regions.len() >= opts.per_group {
                        change.more += 1;
                        continue;
                    }
                    let wide = regions::widen(space, x, t, p);
                    if change.regions.iter().any(|r| r.steps == wide) {
                        continue;
                    }
                    change.regions.push(region(space, judge, wide, &claim));
                }
                change.more += walk.more.get(&t).copied().unwrap_or(0);
                if change.regions.is_empty() && change.more == 0 {
                    out.remove(&(id.to_string(), kind));
                }
            }
            if failed {
                break;
            }
        }
        if failed || space.over() {
            unproved.push(format!(
                "{}rule-level changes went past the node budget ({}) and were not all \
                 examined",
                part_prefix(&part.label),
                opts.budget
            ));
            space.reset_over();
        }
    }
    out.into_values()
        .map(|mut c| {
            c.regions = merge_regions(describer, std::mem::take(&mut c.regions));
            c
        })
        .collect()
}

fn warns(d: &Decision, rule: &str) -> bool {
    d.warnings.iter().any(|w| w.rule == rule)
}

/// A care diagram as a two-valued one (`m.t` everywhere for the whole space).
fn care_truth(space: &mut Space, care: NodeRef) -> NodeRef {
    let t = space.m.t;
    if care == t {
        return t;
    }
    space.map(care, &mut |x: &[u32]| {
        if x.is_empty() {
            Vec::new()
        } else {
            vec![ITEM_TRUE]
        }
    })
}

impl Side {
    /// A side compiled from in-memory sources.
    pub fn from_sources(
        label: impl Into<String>,
        files: Vec<crate::diag::SourceFile>,
    ) -> Result<Side, Vec<crate::diag::Diag>> {
        let built = crate::pipeline::build_sources(files)?;
        Ok(Side {
            label: label.into(),
            program: built.program,
            bundle: Some(built.bundle),
            rev: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;

    thread_local! {
        /// A cap on the pieces of a unit that replaces [`piece_cap`]'s.
        pub(super) static PIECE_CAP: std::cell::Cell<Option<usize>> =
            const { std::cell::Cell::new(None) };
        /// Units [`group_by_pieces`] grouped whole for having too many pieces.
        pub(super) static WHOLE_UNITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// The fewest pieces of a unit shared by the threads, replacing [`SHARED_PIECES`] when
    /// not 0: shared by every thread of the process (units run on threads of their own), and
    /// harmless to the other tests, whose reports do not depend on it.
    pub(super) static SHARED_PIECES: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    /// Units whose pieces, and folds, are shared by two threads give the report of one
    /// thread, byte for byte: with every unit shared, under node budgets from 200 to the
    /// default (the small ones stop the comparison, at the joint space or in the units).
    #[test]
    fn shared_units_give_the_report_of_one_thread() {
        let _one = ONE_AT_A_TIME.lock();
        SHARED_PIECES.store(1, std::sync::atomic::Ordering::Relaxed);
        let mut old = String::from("policy p {\n rule base: allow when tool == \"t\"\n");
        for i in 0..8 {
            old.push_str(&format!(
                " rule d{i}: deny when tool == \"t{}\" and args.a{i} == \"x\" and args.b{i} > {i} because \"d{i}\"\n",
                i % 3
            ));
            old.push_str(&format!(
                " rule e{i}: escalate when tool == \"t{}\" and args.c{i} < {i} because \"e{i}\"\n",
                i % 2
            ));
        }
        old.push_str("}\n");
        let new = old
            .replace("and args.b3 > 3 ", "")
            .replace("rule e5: escalate", "rule e5: deny")
            .replace("args.a6 == \"x\"", "args.a6 == \"y\"")
            .replace("rule d7: deny", "rule d7: allow")
            .replace(" because \"d7\"", "");
        let (a, b) = (side("old", &old), side("new", &new));
        let mut shared = 0;
        for budget in [200, 400, 800, 1_600, 3_200, 6_400, NODE_BUDGET] {
            let opts = |jobs: usize| Options {
                whole_grouping_max: 0,
                per_group: 2,
                budget,
                jobs,
                ..Options::default()
            };
            let one = diff(&a, &b, &opts(1));
            let two = diff(&a, &b, &opts(2));
            assert_eq!(
                output::json(&one),
                output::json(&two),
                "budget {budget}: {}",
                show(&two)
            );
            // The groups written on several threads: the same text.
            for jobs in [2, 3, 64] {
                assert_eq!(
                    output::json_on(&two, jobs),
                    output::json(&two),
                    "budget {budget}"
                );
            }
            if one.complete() && one.groups.len() > 2 {
                shared += 1;
            }
        }
        SHARED_PIECES.store(0, std::sync::atomic::Ordering::Relaxed);
        assert!(shared > 0, "no budget let the pair be compared");
    }

    /// Held by the tests that set [`SHARED_PIECES`], one at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Makes shared units wait, before they end, until the regions of the units worked on
    /// alone are all searched ahead (see [`Ahead`]).
    pub(super) static AHEAD_WAIT: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    /// Regions whose witnesses the witness stage took from those searched ahead.
    pub(super) static FOUND_AHEAD: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    /// Witnesses searched ahead, while a shared unit is worked on, give the report of one
    /// thread, byte for byte: one tool's many changes make a unit of many pieces, shared by
    /// the threads, and each other tool's change a unit worked on alone, whose regions are
    /// all searched ahead before the shared unit ends.
    #[test]
    fn witnesses_searched_ahead_give_the_report_of_one_thread() {
        use std::sync::atomic::Ordering;
        let mut old = String::from("policy p {\n rule base: allow when tool != \"\"\n");
        for i in 0..10 {
            old.push_str(&format!(
                " rule b{i}: deny when tool == \"big\" and args.k{i} > {i} because \"b{i}\"\n"
            ));
        }
        for i in 0..6 {
            old.push_str(&format!(
                " rule s{i}: escalate when tool == \"s{i}\" and args.v > {i} because \"s{i}\"\n"
            ));
        }
        old.push_str("}\n");
        let mut new = old.clone();
        for i in 0..10 {
            new = new.replace(
                &format!("args.k{i} > {i} "),
                &format!("args.k{i} > {} ", i + 1),
            );
        }
        for i in 0..6 {
            new = new.replace(&format!("rule s{i}: escalate"), &format!("rule s{i}: deny"));
        }
        let (a, b) = (side("old", &old), side("new", &new));
        let opts = |jobs: usize| Options {
            whole_grouping_max: 0,
            per_group: 2,
            jobs,
            ..Options::default()
        };
        let one = diff(&a, &b, &opts(1));
        assert!(one.complete(), "{}", show(&one));
        let _one = ONE_AT_A_TIME.lock();
        SHARED_PIECES.store(2, Ordering::SeqCst);
        AHEAD_WAIT.store(true, Ordering::SeqCst);
        let before = FOUND_AHEAD.load(Ordering::SeqCst);
        let two = diff(&a, &b, &opts(2));
        let found = FOUND_AHEAD.load(Ordering::SeqCst) - before;
        AHEAD_WAIT.store(false, Ordering::SeqCst);
        SHARED_PIECES.store(0, Ordering::SeqCst);
        assert_eq!(output::json(&one), output::json(&two), "{}", show(&two));
        assert!(found >= 6, "{found} regions found ahead: {}", show(&two));
    }

    /// A unit whose pieces are too many is grouped whole: the same groups, complete, every
    /// witness deciding as its group says; and the fallback is taken (it is what keeps a diagram of changes whose paths share
    /// sub-diagrams from being split into exponentially many pieces).
    #[test]
    fn a_unit_with_too_many_pieces_is_grouped_whole() {
        let mut old = String::from("policy p {\n rule base: allow when tool == \"t\"\n");
        for i in 0..8 {
            old.push_str(&format!(
                " rule d{i}: deny when tool == \"t\" and args.a{i} == \"x\" and args.b{i} > {i} because \"d{i}\"\n"
            ));
        }
        old.push_str("}\n");
        let new = old.replace("and args.b3 > 3 ", "");
        let new = new
            .replace("rule d7: deny", "rule d7: allow")
            .replace(" because \"d7\"", "");
        let (a, b) = (side("old", &old), side("new", &new));
        let opts = Options {
            whole_grouping_max: 0,
            per_group: 2,
            ..Options::default()
        };
        let split = diff(&a, &b, &opts);
        assert_eq!(WHOLE_UNITS.with(std::cell::Cell::get), 0);
        PIECE_CAP.with(|c| c.set(Some(1)));
        let whole = diff(&a, &b, &opts);
        PIECE_CAP.with(|c| c.set(None));
        assert!(
            WHOLE_UNITS.with(std::cell::Cell::get) > 0,
            "no unit grouped whole"
        );
        assert!(split.complete() && whole.complete(), "{}", show(&whole));
        let keys = |r: &Report| -> Vec<String> {
            r.groups
                .iter()
                .map(|g| format!("{} {} {:?}", g.from, g.to, g.rules))
                .collect()
        };
        assert!(split.groups.len() > 2, "{}", show(&split));
        assert_eq!(keys(&split), keys(&whole), "{}", show(&whole));
        for g in &whole.groups {
            for reg in &g.regions {
                assert_ne!(reg.proof.status, Status::Unconfirmed, "{}", show(&whole));
                if let (Status::Differs, Some(ev)) = (reg.proof.status, &reg.proof.event) {
                    let [o, n] = [decide_with(&a, ev), decide_with(&b, ev)];
                    assert_eq!((o.verdict, n.verdict), (g.from, g.to), "{ev}");
                    assert_eq!(Some([o.rules, n.rules]), g.rules.clone(), "{ev}");
                }
            }
        }
    }

    fn decide_with(s: &Side, ev: &serde_json::Value) -> Decision {
        confirm::Judge::new([s, s]).decide(0, ev).unwrap()
    }

    fn side(label: &str, src: &str) -> Side {
        Side::from_sources(label, vec![SourceFile::new("p.gov", src)]).unwrap()
    }

    fn show(r: &Report) -> String {
        let mut s = String::new();
        for g in &r.groups {
            s.push_str(&format!("{} -> {} {:?}\n", g.from, g.to, g.rules));
            for reg in &g.regions {
                s.push_str(&format!(
                    "  {:?} {} {}\n",
                    reg.proof.status,
                    reg.conditions.join(" and "),
                    reg.proof
                        .event
                        .as_ref()
                        .map(|e| e.to_string())
                        .unwrap_or_default()
                ));
            }
        }
        for c in &r.rule_changes {
            s.push_str(&format!("{} {}\n", c.rule, c.kind.as_str()));
            for reg in &c.regions {
                s.push_str(&format!(
                    "  {:?} {} {}\n",
                    reg.proof.status,
                    reg.conditions.join(" and "),
                    reg.proof
                        .event
                        .as_ref()
                        .map(|e| e.to_string())
                        .unwrap_or_default()
                ));
            }
        }
        for u in &r.unproved {
            s.push_str(&format!("unproved: {u}\n"));
        }
        s
    }

    #[test]
    fn widened_bound() {
        let old = side(
            "old",
            "policy p {\n rule a: allow when tool == \"pay\" and args.amount <= 100\n}",
        );
        let new = side(
            "new",
            "policy p {\n rule a: allow when tool == \"pay\" and args.amount <= 500\n}",
        );
        let r = diff(&old, &new, &Options::default());
        let s = show(&r);
        eprintln!("{s}");
        assert_eq!(r.groups.len(), 1);
        let g = &r.groups[0];
        assert_eq!((g.from, g.to), (Verdict::Deny, Verdict::Allow));
        assert_eq!(g.regions.len(), 1);
        assert_eq!(g.regions[0].proof.status, Status::Differs);
    }

    #[test]
    fn equal_is_equivalent() {
        let src = "policy p {\n rule a: allow when tool == \"pay\" and args.amount <= 100\n rule d: deny when args.path matches r\"x\" because \"no\"\n}";
        let r = diff(
            &side("a", src),
            &side("b", src),
            &Options {
                all: true,
                ..Options::default()
            },
        );
        assert!(r.equivalent(), "{}", show(&r));
    }

    #[test]
    fn all_reports_rule_changes() {
        let old = side(
            "old",
            "policy p {\n rule a: allow when tool == \"pay\"\n rule b: allow when tool == \"pay\" and args.n > 5\n}",
        );
        let new = side(
            "new",
            "policy p {\n rule a: allow when tool == \"pay\"\n rule b: allow when tool == \"pay\" and args.n > 7\n}",
        );
        let r = diff(
            &old,
            &new,
            &Options {
                all: true,
                ..Options::default()
            },
        );
        let s = show(&r);
        eprintln!("{s}");
        assert!(r.groups.is_empty());
        assert_eq!(r.rule_changes.len(), 1);
        assert_eq!(r.rule_changes[0].kind, ChangeKind::NoLongerDecides);
    }
}
