//! The program a `.govb` file holds, as plain data: what the compiler produces, what the
//! encoder writes, what the decoder returns after verification, what the VM loads.

pub use crate::check::{Func, StatefulKind, Ty, Verdict};
pub use crate::syntax::ast::{CmpOp, Effect};

/// A whole compiled bundle.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The version of govern that compiled it.
    pub compiler: String,
    /// SHA-256 over the source files.
    pub source_digest: [u8; 32],
    pub default: Verdict,
    /// Source file names, for rule locations.
    pub files: Vec<String>,
    /// Attribute paths the program reads, sorted; always contains `["ts"]`.
    pub slots: Vec<Vec<String>>,
    pub trackers: Vec<Tracker>,
    /// In diagram order: a node's variable comes before its children's.
    pub vars: Vec<Var>,
    /// Sorted by id.
    pub rules: Vec<RuleInfo>,
    /// Each leaf is a sorted set of item codes (see [`Item`]).
    pub leaves: Vec<Vec<u32>>,
    /// Parents before children: every target of node `i` is a leaf or a node `> i`.
    pub nodes: Vec<NodeDef>,
    /// Where evaluation starts; several roots are walked like the children of a fork.
    pub roots: Vec<Target>,
}

/// Where a branch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Node(u32),
    Leaf(u32),
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeDef {
    /// Branch on a string against the variable's constants.
    Switch {
        var: u32,
        /// Constant index → target, sorted by index.
        branches: Vec<(u32, Target)>,
        default: Target,
        unknown: Target,
    },
    /// Branch on a number: `2 * cuts.len() + 1` regions.
    Thresh {
        var: u32,
        cuts: Vec<f64>,
        regions: Vec<Target>,
        unknown: Target,
    },
    /// Branch on a three-valued test.
    Tri {
        var: u32,
        t: Target,
        f: Target,
        u: Target,
    },
    /// Walk every child and merge the leaves reached.
    Fork { children: Vec<Target> },
}

impl NodeDef {
    /// The variable tested, or `None` for a fork.
    pub fn var(&self) -> Option<u32> {
        match self {
            NodeDef::Switch { var, .. }
            | NodeDef::Thresh { var, .. }
            | NodeDef::Tri { var, .. } => Some(*var),
            NodeDef::Fork { .. } => None,
        }
    }

    /// Every target, in branch order.
    pub fn targets(&self) -> Vec<Target> {
        match self {
            NodeDef::Switch {
                branches,
                default,
                unknown,
                ..
            } => branches
                .iter()
                .map(|(_, t)| *t)
                .chain([*default, *unknown])
                .collect(),
            NodeDef::Thresh {
                regions, unknown, ..
            } => regions.iter().copied().chain([*unknown]).collect(),
            NodeDef::Tri { t, f, u, .. } => vec![*t, *f, *u],
            NodeDef::Fork { children } => children.clone(),
        }
    }
}

/// What a diagram node tests.
#[derive(Clone, Debug, PartialEq)]
pub enum Var {
    /// A string value, compared with these constants (sorted, distinct).
    Switch {
        operand: Operand,
        consts: Vec<String>,
    },
    /// A number value.
    Thresh { operand: Operand },
    /// A boolean value: true, false or unknown.
    Bool { operand: Operand },
    /// Whether an attribute is present: true or false, never unknown.
    Has { slot: u32 },
    /// Any other test: true, false or unknown.
    Pred(Pred),
}

impl Var {
    /// The operands the variable tests, left to right (none for `Has`, which tests a slot's
    /// presence).
    pub fn operands(&self) -> Vec<&Operand> {
        match self {
            Var::Switch { operand, .. } | Var::Thresh { operand } | Var::Bool { operand } => {
                vec![operand]
            }
            Var::Has { .. } => Vec::new(),
            Var::Pred(p) => match p {
                Pred::Cmp { lhs, rhs, .. }
                | Pred::StartsWith { lhs, rhs }
                | Pred::EndsWith { lhs, rhs } => vec![lhs, rhs],
                Pred::Contains { hay, needle } => vec![hay, needle],
                Pred::In { lhs, values } => std::iter::once(lhs).chain(values.iter()).collect(),
                Pred::Regex { lhs, .. } => vec![lhs],
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Pred {
    /// Two non-constant values of one scalar type.
    Cmp {
        op: CmpOp,
        lhs: Operand,
        rhs: Operand,
    },
    /// Membership of a value in constants, when no switch or threshold fits.
    In {
        lhs: Operand,
        values: Vec<Operand>,
    },
    /// Substring (string) or membership (list).
    Contains {
        hay: Operand,
        needle: Operand,
    },
    StartsWith {
        lhs: Operand,
        rhs: Operand,
    },
    EndsWith {
        lhs: Operand,
        rhs: Operand,
    },
    /// Regex search; `like` globs arrive translated.
    Regex {
        lhs: Operand,
        regex: String,
        written: String,
        glob: bool,
    },
}

/// A value the VM computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// The attribute in `slot`, unknown unless it has type `ty`.
    Slot {
        slot: u32,
        ty: Ty,
    },
    Str(String),
    Num(f64),
    Bool(bool),
    Func {
        func: Func,
        arg: Box<Operand>,
    },
    /// A tracker's value now: a count, a sum, or whether it has seen a match.
    Tracker(u32),
}

/// The state behind one `count`, `sum` or `seen`; the diagram's leaves say when it records an
/// event, surely ([`Item::Fire`]) or perhaps ([`Item::Maybe`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Tracker {
    pub kind: StatefulKind,
    /// Window in nanoseconds; `None` for the whole stream.
    pub within: Option<i64>,
    /// Key slots.
    pub per: Vec<u32>,
    /// Summed slot (`sum` only).
    pub value: Option<u32>,
    /// Attributes (slot, type) the condition and the summed value read from an event: those
    /// absent or mistyped in an uncertain event are what it leaves behind as unknown.
    pub refs: Vec<(u32, Ty)>,
    /// Trackers the condition reads (each with a lower index): what they had left behind
    /// as unknown is passed on to an uncertain event of this one.
    pub inner: Vec<u32>,
}

/// A rule as the VM reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleInfo {
    pub id: String,
    pub effect: Effect,
    pub message: Option<String>,
    pub tags: Vec<String>,
    pub severity: Option<String>,
    pub file: u32,
    pub line: u32,
    pub column: u32,
    /// Attributes (slot, type) the rule reads: reported as unknown when it comes out unknown.
    pub refs: Vec<(u32, Ty)>,
    /// Trackers the rule reads directly: what their uncertain events left behind is reported
    /// as unknown too when the rule comes out unknown.
    pub trackers: Vec<u32>,
}

/// The meaning of a leaf item code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// The rule's condition holds.
    RuleTrue(u32),
    /// The rule's condition is unknown.
    RuleUnknown(u32),
    /// The tracker's condition holds: record this event.
    Fire(u32),
    /// The tracker's condition is unknown: record this event as one that may count.
    Maybe(u32),
}

impl Item {
    pub fn code(self) -> u32 {
        match self {
            Item::RuleTrue(r) => r << 2,
            Item::RuleUnknown(r) => (r << 2) | 1,
            Item::Fire(t) => (t << 2) | 2,
            Item::Maybe(t) => (t << 2) | 3,
        }
    }

    pub fn decode(code: u32) -> Option<Item> {
        match code & 3 {
            0 => Some(Item::RuleTrue(code >> 2)),
            1 => Some(Item::RuleUnknown(code >> 2)),
            2 => Some(Item::Fire(code >> 2)),
            _ => Some(Item::Maybe(code >> 2)),
        }
    }
}

/// The largest number of rules or trackers a bundle may hold (item codes keep two tag bits).
pub const MAX_ITEMS: u32 = 1 << 29;

/// What a leaf means once its items are read against the rule table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeafSummary {
    /// The verdict the matched rules give, or `None` when the default decides.
    pub verdict: Option<Verdict>,
    /// Matched rules of the winning effect, sorted (rule indices follow id order).
    pub determining: Vec<u32>,
    /// Matched `warn` rules.
    pub warnings: Vec<u32>,
    /// Rules whose condition is unknown (whatever their effect).
    pub unknown: Vec<u32>,
    /// Every matched rule: true, or unknown for deny / escalate / warn.
    pub matched: Vec<u32>,
    /// Trackers that record this event.
    pub fires: Vec<u32>,
    /// Trackers that record this event as one that may count (their condition is unknown).
    pub maybes: Vec<u32>,
}

impl Model {
    /// Reads a leaf's items: which rules match, which verdict wins, which trackers fire.
    pub fn summarize(&self, items: &[u32]) -> LeafSummary {
        let mut s = LeafSummary::default();
        let mut best: Option<Effect> = None;
        let rank = |e: Effect| match e {
            Effect::Deny => 3,
            Effect::Escalate => 2,
            Effect::Allow => 1,
            Effect::Warn => 0,
        };
        for &code in items {
            let (r, unknown) = match Item::decode(code) {
                Some(Item::RuleTrue(r)) => (r, false),
                Some(Item::RuleUnknown(r)) => (r, true),
                Some(Item::Fire(t)) => {
                    s.fires.push(t);
                    continue;
                }
                Some(Item::Maybe(t)) => {
                    s.maybes.push(t);
                    continue;
                }
                None => continue,
            };
            let Some(rule) = self.rules.get(r as usize) else {
                continue;
            };
            if unknown {
                s.unknown.push(r);
                if rule.effect == Effect::Allow {
                    // Unknown never permits.
                    continue;
                }
            }
            s.matched.push(r);
            if rule.effect == Effect::Warn {
                s.warnings.push(r);
            } else if best.is_none_or(|b| rank(rule.effect) > rank(b)) {
                best = Some(rule.effect);
            }
        }
        if let Some(b) = best {
            s.determining = s
                .matched
                .iter()
                .copied()
                .filter(|&r| self.rules.get(r as usize).is_some_and(|x| x.effect == b))
                .collect();
            s.verdict = Some(match b {
                Effect::Deny => Verdict::Deny,
                Effect::Escalate => Verdict::Escalate,
                _ => Verdict::Allow,
            });
        }
        s
    }

    /// `a.b["c-d"]` for a slot.
    pub fn slot_name(&self, slot: u32) -> String {
        self.slots
            .get(slot as usize)
            .map(|p| crate::syntax::ast::display_path(p.iter().map(String::as_str)))
            .unwrap_or_else(|| format!("<slot {slot}>"))
    }
}
