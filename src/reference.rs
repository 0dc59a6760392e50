//! The reference interpreter: walks the checked bundle over a `serde_json` event.
//!
//! It is the oracle the VM is tested against and is written for clarity, never speed: every
//! rule is evaluated on every event, and stateful functions scan the whole history of the
//! stream (sums are recomputed exactly from it each time, key bounds recounted). It shares
//! nothing with the compiler, the bytecode or the VM but the plain [`StreamLimits`] settings.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::builtins::FnValue;
use crate::check::{
    Attr, Bundle, Cond, Const, Func, Operand, OperandKind, Scalar, StatefulId, StatefulKind, Test,
    TestKind, Ty,
};
use crate::decision::{Decision, Warning};
use crate::syntax::ast::{CmpOp, Effect};
pub use crate::vm::StreamLimits;

/// Kleene's three truth values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum K3 {
    True,
    False,
    Unknown,
}

impl K3 {
    fn from_bool(b: bool) -> K3 {
        if b { K3::True } else { K3::False }
    }

    fn not(self) -> K3 {
        match self {
            K3::True => K3::False,
            K3::False => K3::True,
            K3::Unknown => K3::Unknown,
        }
    }
}

/// A value read from an event, already known to have the type its use requires.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    List(Vec<Val>),
    /// A count or a sum that uncertain events make a range: any number from the first to
    /// the second (never equal: one value is a `Num`).
    Range(f64, f64),
}

/// One component of a `per` key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyPart {
    Str(String),
    /// The bits of the number, with -0 made +0.
    Num(u64),
    Bool(bool),
}

/// What one stateful call saw on one earlier event.
#[derive(Clone, Debug)]
struct Observation {
    holds: K3,
    key: Option<Vec<KeyPart>>,
    value: Option<f64>,
    /// Kept in the stateful's state: the condition held or was unknown, the key was known,
    /// and the key bound did not refuse it.
    recorded: bool,
    /// Refused by the key bound.
    refused: bool,
    /// Attributes an uncertain observation leaves behind.
    blame: BTreeSet<String>,
}

/// One earlier event of the stream.
#[derive(Clone, Debug)]
struct Record {
    time: i64,
    /// Indexed by stateful id.
    seen: Vec<Observation>,
}

/// Evaluates a stream of events against a checked bundle.
pub struct Reference<'b> {
    bundle: &'b Bundle,
    digest: String,
    history: Vec<Record>,
    limits: StreamLimits,
    /// Stream time: the latest believed `ts`, once there is one.
    clock: Option<i64>,
    /// A `ts` beyond the skew the previous event claimed.
    ahead: Option<i64>,
}

/// The event being evaluated and the time the stream gives it.
struct Ctx<'e> {
    event: &'e serde_json::Map<String, Json>,
    now: i64,
    ts: Option<i64>,
}

impl<'b> Reference<'b> {
    /// `digest` is the `sha256:…` of the bundle, reported in every decision.
    pub fn new(bundle: &'b Bundle, digest: impl Into<String>) -> Reference<'b> {
        Reference::with_limits(bundle, digest, StreamLimits::default())
    }

    /// With limits other than the default.
    pub fn with_limits(
        bundle: &'b Bundle,
        digest: impl Into<String>,
        limits: StreamLimits,
    ) -> Reference<'b> {
        Reference {
            bundle,
            digest: digest.into(),
            history: Vec::new(),
            limits,
            clock: None,
            ahead: None,
        }
    }

    /// Decides one event and adds it to the stream.
    pub fn eval(&mut self, event: &Json) -> Decision {
        self.decide(event, false)
    }

    /// Decides one event at time `now` from a trusted clock: its `ts` becomes `now`.
    pub fn eval_at(&mut self, event: &Json, now: i64) -> Decision {
        let mut event = event.clone();
        if let Some(obj) = event.as_object_mut() {
            obj.insert(
                "ts".into(),
                Json::String(crate::time::format_rfc3339_exact(now)),
            );
        }
        self.decide(&event, true)
    }

    /// Whether the stream believes an event's `ts`: always when the caller vouches for it,
    /// when nothing has set stream time yet, when it lies within the skew of stream time,
    /// or when it lies further ahead and the previous event claimed a time within the skew
    /// of it. Moves stream time accordingly.
    fn believe(&mut self, ts: Option<i64>, trusted: bool) -> bool {
        let Some(t) = ts else {
            self.ahead = None;
            return false;
        };
        let within =
            |a: i64, b: i64, s: i64| (i128::from(a) - i128::from(b)).abs() <= i128::from(s);
        let believed = match (self.clock, self.limits.max_skew) {
            _ if trusted => true,
            (None, _) | (_, None) => true,
            (Some(clock), Some(s)) => {
                within(t, clock, s) || (t > clock && self.ahead.is_some_and(|a| within(t, a, s)))
            }
        };
        if believed {
            self.clock = Some(self.clock.map_or(t, |c| c.max(t)));
            self.ahead = None;
        } else {
            self.ahead = self.clock.filter(|&c| t > c).map(|_| t);
        }
        believed
    }

    fn decide(&mut self, event: &Json, trusted: bool) -> Decision {
        let Some(obj) = event.as_object() else {
            return Decision::error(&self.digest, "the event is not a JSON object");
        };
        let ts = obj
            .get("ts")
            .and_then(Json::as_str)
            .and_then(crate::time::parse_rfc3339);
        // Stream time never goes backwards; an event without a believed `ts` happens "now"
        // and its `ts` is unknown.
        let believed = self.believe(ts, trusted);
        let ctx = Ctx {
            event: obj,
            now: self.clock.unwrap_or(0),
            ts: if believed { ts } else { None },
        };

        let mut matched: Vec<(usize, Effect)> = Vec::new();
        let mut unknown: BTreeSet<String> = BTreeSet::new();
        for (i, rule) in self.bundle.rules.iter().enumerate() {
            let v = self.cond(&ctx, &rule.cond);
            let fires = match (rule.effect, v) {
                (_, K3::True) => true,
                (Effect::Allow, _) => false,
                (_, K3::Unknown) => true,
                (_, K3::False) => false,
            };
            if fires {
                matched.push((i, rule.effect));
            }
            if v == K3::Unknown {
                for (attr, ty) in rule.cond.attr_refs(self.bundle) {
                    if lookup(&ctx, &attr, ty).is_none() {
                        unknown.insert(attr.to_string());
                    }
                }
                let mut read = Vec::new();
                rule.cond.for_each_stateful(&mut |id| read.push(id));
                for id in read {
                    unknown.extend(self.blame(&ctx, id));
                }
            }
        }
        let winner = [Effect::Deny, Effect::Escalate, Effect::Allow]
            .into_iter()
            .find(|e| matched.iter().any(|(_, m)| m == e));
        let verdict = match winner {
            Some(Effect::Deny) => crate::check::Verdict::Deny,
            Some(Effect::Escalate) => crate::check::Verdict::Escalate,
            Some(_) => crate::check::Verdict::Allow,
            None => self.bundle.default,
        };
        let mut rules = Vec::new();
        let mut messages = Vec::new();
        let mut warnings = Vec::new();
        for (i, effect) in &matched {
            let Some(rule) = self.bundle.rules.get(*i) else {
                continue;
            };
            if Some(*effect) == winner {
                rules.push(rule.id.clone());
                messages.extend(rule.message.clone());
            }
            if *effect == Effect::Warn {
                warnings.push(Warning {
                    rule: rule.id.clone(),
                    message: rule.message.clone(),
                });
            }
        }

        // What every stateful call sees of this event, for later events.
        let mut seen = Vec::with_capacity(self.bundle.statefuls.len());
        for (i, s) in self.bundle.statefuls.iter().enumerate() {
            let id = StatefulId(i as u32);
            let holds = self.cond(&ctx, &s.cond);
            let key = key_of(&ctx, &s.per);
            let value = s
                .value
                .as_ref()
                .and_then(|a| match lookup(&ctx, a, Ty::Number) {
                    Some(Val::Num(n)) => Some(n),
                    _ => None,
                });
            let uncertain =
                holds == K3::Unknown || (holds == K3::True && s.value.is_some() && value.is_none());
            let mut blame = BTreeSet::new();
            if uncertain {
                let mut refs = s.cond.attr_refs(self.bundle);
                refs.extend(s.value.clone().map(|a| (a, Ty::Number)));
                for (attr, ty) in refs {
                    if lookup(&ctx, &attr, ty).is_none() {
                        blame.insert(attr.to_string());
                    }
                }
                let mut inner = Vec::new();
                s.cond.for_each_stateful(&mut |id| inner.push(id));
                for id in inner {
                    blame.extend(self.blame(&ctx, id));
                }
            }
            let (mut recorded, mut refused) = (false, false);
            if holds != K3::False
                && let Some(k) = &key
            {
                let live = self.live_keys(&ctx, id);
                if live.contains(k) {
                    recorded = true;
                } else if self.overflowed(&ctx, id) || live.len() >= self.limits.max_keys {
                    refused = true;
                } else {
                    recorded = true;
                }
            }
            seen.push(Observation {
                holds,
                key,
                value,
                recorded,
                refused,
                blame,
            });
        }
        self.history.push(Record {
            time: ctx.now,
            seen,
        });

        Decision {
            verdict,
            rules,
            messages,
            warnings,
            unknown: unknown.into_iter().collect(),
            bundle: self.digest.clone(),
            error: None,
        }
    }

    /// The truth value of every rule's condition on `event`, by rule index, without adding
    /// the event to the stream (for tools that check one example event, with its `ts`
    /// believed).
    pub fn rule_values(&self, event: &Json) -> Option<Vec<K3>> {
        let obj = event.as_object()?;
        let ts = obj
            .get("ts")
            .and_then(Json::as_str)
            .and_then(crate::time::parse_rfc3339);
        let clock = self.clock.unwrap_or(0);
        let ctx = Ctx {
            event: obj,
            now: ts.map_or(clock, |t| t.max(clock)),
            ts,
        };
        Some(
            self.bundle
                .rules
                .iter()
                .map(|r| self.cond(&ctx, &r.cond))
                .collect(),
        )
    }

    fn cond(&self, ctx: &Ctx<'_>, c: &Cond) -> K3 {
        match c {
            Cond::Const(b) => K3::from_bool(*b),
            Cond::And(parts) => {
                let vs: Vec<K3> = parts.iter().map(|p| self.cond(ctx, p)).collect();
                if vs.contains(&K3::False) {
                    K3::False
                } else if vs.contains(&K3::Unknown) {
                    K3::Unknown
                } else {
                    K3::True
                }
            }
            Cond::Or(parts) => {
                let vs: Vec<K3> = parts.iter().map(|p| self.cond(ctx, p)).collect();
                if vs.contains(&K3::True) {
                    K3::True
                } else if vs.contains(&K3::Unknown) {
                    K3::Unknown
                } else {
                    K3::False
                }
            }
            Cond::Not(inner) => self.cond(ctx, inner).not(),
            Cond::Has(attr, _) => K3::from_bool(present(ctx, attr)),
            Cond::Test(t) => self.test(ctx, t),
        }
    }

    fn test(&self, ctx: &Ctx<'_>, t: &Test) -> K3 {
        match &t.kind {
            TestKind::Cmp { op, lhs, rhs } => {
                let (Some(a), Some(b)) = (self.operand(ctx, lhs), self.operand(ctx, rhs)) else {
                    return K3::Unknown;
                };
                if let (Some(x), Some(y)) = (interval(&a), interval(&b))
                    && (matches!(a, Val::Range(..)) || matches!(b, Val::Range(..)))
                {
                    return compare_ranges(*op, x, y);
                }
                let r = match (&a, &b) {
                    (Val::Num(x), Val::Num(y)) => op.holds(*x, *y),
                    _ => match op {
                        CmpOp::Eq => a == b,
                        CmpOp::Ne => a != b,
                        _ => return K3::Unknown,
                    },
                };
                K3::from_bool(r)
            }
            TestKind::In {
                lhs,
                values,
                negated,
            } => {
                let Some(v) = self.operand(ctx, lhs) else {
                    return K3::Unknown;
                };
                if let Val::Range(lo, hi) = v {
                    // Some value of the range is in the list, but not every one (a range
                    // holds more than one number): unknown; none is: false.
                    let some = values
                        .iter()
                        .any(|c| matches!(c, Const::Number(n) if lo <= *n && *n <= hi));
                    return if some {
                        K3::Unknown
                    } else {
                        K3::from_bool(*negated)
                    };
                }
                let found = values.iter().any(|c| const_eq(c, &v));
                K3::from_bool(found != *negated)
            }
            TestKind::Contains {
                hay,
                needle,
                negated,
            } => {
                let (Some(h), Some(n)) = (self.operand(ctx, hay), self.operand(ctx, needle)) else {
                    return K3::Unknown;
                };
                let found = match (&h, &n) {
                    (Val::Range(..), _) | (_, Val::Range(..)) => return K3::Unknown,
                    (Val::Str(s), Val::Str(t)) => s.contains(t.as_str()),
                    (Val::List(items), n) => items.contains(n),
                    _ => return K3::Unknown,
                };
                K3::from_bool(found != *negated)
            }
            TestKind::StartsWith { lhs, rhs } | TestKind::EndsWith { lhs, rhs } => {
                let (Some(Val::Str(a)), Some(Val::Str(b))) =
                    (self.operand(ctx, lhs), self.operand(ctx, rhs))
                else {
                    return K3::Unknown;
                };
                let r = if matches!(t.kind, TestKind::StartsWith { .. }) {
                    a.starts_with(b.as_str())
                } else {
                    a.ends_with(b.as_str())
                };
                K3::from_bool(r)
            }
            TestKind::Matches { lhs, pattern } | TestKind::Like { lhs, pattern } => {
                let Some(Val::Str(s)) = self.operand(ctx, lhs) else {
                    return K3::Unknown;
                };
                K3::from_bool(pattern.regex.is_match(&s))
            }
            TestKind::Truthy(op) => match self.operand(ctx, op) {
                Some(Val::Bool(b)) => K3::from_bool(b),
                _ => K3::Unknown,
            },
        }
    }

    /// The value of an operand, or `None` when it is unknown.
    fn operand(&self, ctx: &Ctx<'_>, op: &Operand) -> Option<Val> {
        match &op.kind {
            OperandKind::Const(c) => Some(match c {
                Const::String(s) => Val::Str(s.clone()),
                Const::Number(n) => Val::Num(*n),
                Const::Bool(b) => Val::Bool(*b),
            }),
            OperandKind::Attr(a) => lookup(ctx, a, op.ty),
            OperandKind::Func(func, inner) => {
                let v = self.operand(ctx, inner)?;
                Some(match (func, v) {
                    (Func::Len, Val::Str(s)) => Val::Num(s.chars().count() as f64),
                    (Func::Len, Val::List(items)) => Val::Num(items.len() as f64),
                    (Func::Lower, Val::Str(s)) => Val::Str(crate::builtins::lower(&s)),
                    (Func::Upper, Val::Str(s)) => Val::Str(crate::builtins::upper(&s)),
                    (Func::NormPath, Val::Str(s)) => Val::Str(crate::builtins::norm_path(&s)),
                    (Func::UrlHost, Val::Str(s)) => Val::Str(crate::builtins::url_host(&s)),
                    (Func::FoldEach, Val::List(items)) => fold_each(items)?,
                    (f, Val::Str(s)) => match crate::builtins::apply(*f, &s)? {
                        FnValue::Str(v) => Val::Str(v),
                        FnValue::Num(n) => Val::Num(n),
                        FnValue::Bool(b) => Val::Bool(b),
                        FnValue::List(items) => {
                            Val::List(items.into_iter().map(Val::Str).collect())
                        }
                    },
                    _ => return None,
                })
            }
            OperandKind::Stateful(id) => self.stateful(ctx, *id),
        }
    }

    /// The observations of stateful `id` recorded in its window, for `key`, oldest first.
    fn window<'h>(
        &'h self,
        ctx: &Ctx<'_>,
        id: StatefulId,
        key: Option<&'h [KeyPart]>,
    ) -> impl Iterator<Item = &'h Observation> + 'h {
        let s = self.bundle.stateful(id);
        let lo = s.and_then(|s| s.within).map(|d| ctx.now.saturating_sub(d));
        let now = ctx.now;
        let idx = id.0 as usize;
        self.history
            .iter()
            .filter(move |r| r.time <= now && lo.is_none_or(|lo| r.time >= lo))
            .filter_map(move |r| r.seen.get(idx))
            .filter(move |o| key.is_none_or(|k| o.key.as_deref() == Some(k)))
    }

    /// The keys stateful `id` holds now: those with a recorded observation in the window.
    fn live_keys(&self, ctx: &Ctx<'_>, id: StatefulId) -> Vec<Vec<KeyPart>> {
        let mut keys: Vec<Vec<KeyPart>> = Vec::new();
        for o in self.window(ctx, id, None).filter(|o| o.recorded) {
            if let Some(k) = &o.key
                && !keys.contains(k)
            {
                keys.push(k.clone());
            }
        }
        keys
    }

    /// Whether the key bound refused an observation of `id` that is still in the window.
    fn overflowed(&self, ctx: &Ctx<'_>, id: StatefulId) -> bool {
        self.window(ctx, id, None).any(|o| o.refused)
    }

    /// The value of a stateful call: `None` when its key is unknown, or when the key bound
    /// refused an observation the key may have had.
    fn stateful(&self, ctx: &Ctx<'_>, id: StatefulId) -> Option<Val> {
        let s = self.bundle.stateful(id)?;
        let key = key_of(ctx, &s.per)?;
        let hits: Vec<&Observation> = self
            .window(ctx, id, Some(&key))
            .filter(|o| o.recorded)
            .collect();
        if hits.is_empty() && self.overflowed(ctx, id) {
            return None;
        }
        let of = |k: K3| hits.iter().filter(move |o| o.holds == k);
        Some(match s.kind {
            StatefulKind::Count => {
                let sure = of(K3::True).count() as f64;
                let maybe = of(K3::Unknown).count() as f64;
                range(sure, sure + maybe)
            }
            StatefulKind::Sum => {
                if hits.iter().any(|o| o.value.is_none()) {
                    return Some(Val::Range(f64::NEG_INFINITY, f64::INFINITY));
                }
                let sure: Vec<f64> = of(K3::True).filter_map(|o| o.value).collect();
                let maybe: Vec<f64> = of(K3::Unknown).filter_map(|o| o.value).collect();
                let with = |pick: fn(&f64) -> bool| {
                    let mut vs = sure.clone();
                    vs.extend(maybe.iter().copied().filter(pick));
                    exact_sum(&vs)
                };
                range(with(|v| *v < 0.0), with(|v| *v > 0.0))
            }
            StatefulKind::Seen => {
                if of(K3::True).next().is_some() {
                    Val::Bool(true)
                } else if of(K3::Unknown).next().is_some() {
                    return None;
                } else {
                    Val::Bool(false)
                }
            }
        })
    }

    /// The attributes uncertain observations in the window of `id` (for the current key)
    /// left behind; its key attributes when the key bound makes its value unknown.
    fn blame(&self, ctx: &Ctx<'_>, id: StatefulId) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(s) = self.bundle.stateful(id) else {
            return out;
        };
        let Some(key) = key_of(ctx, &s.per) else {
            return out;
        };
        let mut held = false;
        for o in self.window(ctx, id, Some(&key)).filter(|o| o.recorded) {
            held = true;
            out.extend(o.blame.iter().cloned());
        }
        if !held && self.overflowed(ctx, id) {
            out.extend(s.per.iter().map(ToString::to_string));
        }
        out
    }
}

/// One number, or a range of them.
fn range(lo: f64, hi: f64) -> Val {
    if lo == hi {
        Val::Num(lo)
    } else {
        Val::Range(lo, hi)
    }
}

/// The bounds of a number or a range.
fn interval(v: &Val) -> Option<(f64, f64)> {
    match v {
        Val::Num(n) => Some((*n, *n)),
        Val::Range(lo, hi) => Some((*lo, *hi)),
        _ => None,
    }
}

/// `a OP b` over every pair of values of two ranges: true when it holds for all of them,
/// false for none.
fn compare_ranges(op: CmpOp, (a_lo, a_hi): (f64, f64), (b_lo, b_hi): (f64, f64)) -> K3 {
    let disjoint = a_hi < b_lo || b_hi < a_lo;
    let one_point = a_lo == a_hi && b_lo == b_hi && a_lo == b_lo;
    let (always, never) = match op {
        CmpOp::Lt => (a_hi < b_lo, b_hi <= a_lo),
        CmpOp::Le => (a_hi <= b_lo, b_hi < a_lo),
        CmpOp::Gt => (b_hi < a_lo, a_hi <= b_lo),
        CmpOp::Ge => (b_hi <= a_lo, a_hi < b_lo),
        CmpOp::Eq => (one_point, disjoint),
        CmpOp::Ne => (disjoint, one_point),
    };
    if always {
        K3::True
    } else if never {
        K3::False
    } else {
        K3::Unknown
    }
}

fn const_eq(c: &Const, v: &Val) -> bool {
    match (c, v) {
        (Const::String(a), Val::Str(b)) => a == b,
        (Const::Number(a), Val::Num(b)) => a == b,
        (Const::Bool(a), Val::Bool(b)) => a == b,
        _ => false,
    }
}

/// The raw JSON at an attribute path; `null` counts as absent. `time.*` derives from `ts`.
fn raw<'e>(ctx: &Ctx<'e>, attr: &Attr) -> Option<&'e Json> {
    let mut cur: Option<&Json> = None;
    for (i, seg) in attr.segments().iter().enumerate() {
        cur = if i == 0 {
            ctx.event.get(seg)
        } else {
            cur?.as_object()?.get(seg)
        };
    }
    cur.filter(|v| !v.is_null())
}

fn present(ctx: &Ctx<'_>, attr: &Attr) -> bool {
    if attr.segments().first().is_some_and(|s| s == "time") {
        return ctx.ts.is_some();
    }
    raw(ctx, attr).is_some()
}

/// The value at `attr` if it has type `ty`.
fn lookup(ctx: &Ctx<'_>, attr: &Attr, ty: Ty) -> Option<Val> {
    if attr.is_time() {
        let ts = ctx.ts?;
        let v = match attr.segments().get(1).map(String::as_str) {
            Some("hour") => crate::time::hour(ts),
            Some("weekday") => crate::time::weekday(ts),
            _ => return None,
        };
        return (ty == Ty::Number || ty == Ty::Scalar).then_some(Val::Num(v));
    }
    let v = raw(ctx, attr)?;
    typed(v, ty)
}

fn scalar(v: &Json, s: Scalar) -> Option<Val> {
    match (v, s) {
        (Json::String(x), Scalar::String) => Some(Val::Str(x.clone())),
        (Json::Number(n), Scalar::Number) => n.as_f64().map(Val::Num),
        (Json::Bool(b), Scalar::Bool) => Some(Val::Bool(*b)),
        _ => None,
    }
}

fn typed(v: &Json, ty: Ty) -> Option<Val> {
    match ty {
        Ty::String => scalar(v, Scalar::String),
        Ty::Number => scalar(v, Scalar::Number),
        Ty::Bool => scalar(v, Scalar::Bool),
        Ty::List(s) => {
            let items = v.as_array()?;
            items
                .iter()
                .map(|i| scalar(i, s))
                .collect::<Option<Vec<_>>>()
                .map(Val::List)
        }
        Ty::Seq => match v {
            Json::String(s) => Some(Val::Str(s.clone())),
            // Only the length of a list is ever used: its items are not inspected.
            Json::Array(items) => Some(Val::List(items.iter().map(|_| Val::Bool(true)).collect())),
            _ => None,
        },
        Ty::StrOrList(s) => match v {
            Json::String(x) => Some(Val::Str(x.clone())),
            _ => typed(v, Ty::List(s)),
        },
        Ty::Scalar => match v {
            Json::String(x) => Some(Val::Str(x.clone())),
            Json::Number(n) => n.as_f64().map(Val::Num),
            Json::Bool(b) => Some(Val::Bool(*b)),
            _ => None,
        },
        Ty::Timestamp => {
            let s = v.as_str()?;
            crate::time::parse_rfc3339(s).map(|_| Val::Str(s.to_string()))
        }
    }
}

/// The `per` key of the current event, or `None` when a part is absent or not a scalar.
fn key_of(ctx: &Ctx<'_>, per: &[Attr]) -> Option<Vec<KeyPart>> {
    per.iter()
        .map(|a| match lookup(ctx, a, Ty::Scalar)? {
            Val::Str(s) => Some(KeyPart::Str(s)),
            Val::Num(n) => Some(KeyPart::Num(if n == 0.0 { 0 } else { n.to_bits() })),
            Val::Bool(b) => Some(KeyPart::Bool(b)),
            Val::List(_) | Val::Range(..) => None,
        })
        .collect()
}

/// The exact sum of `values`, rounded once to the nearest `f64` (ties to even; ±infinity past
/// the largest): each value is an odd integer times a power of two, so all of them are added
/// as integers at the scale of the smallest power, the total is written out in decimal, and
/// Rust's correctly rounded float parser reads it back.
fn exact_sum(values: &[f64]) -> f64 {
    // (negative, odd mantissa, exponent): value = ±m · 2^e.
    let parts: Vec<(bool, u64, i32)> = values
        .iter()
        .filter(|v| v.is_finite() && **v != 0.0)
        .map(|v| {
            let bits = v.to_bits();
            let exp = ((bits >> 52) & 0x7ff) as i32;
            let frac = bits & ((1 << 52) - 1);
            let (m, e) = if exp == 0 {
                (frac, -1074)
            } else {
                (frac | (1 << 52), exp - 1075)
            };
            let z = m.trailing_zeros();
            (bits >> 63 == 1, m >> z, e + z as i32)
        })
        .collect();
    let Some(scale) = parts.iter().map(|p| p.2).min() else {
        return 0.0;
    };
    let (mut neg, mut total) = (false, Vec::new());
    for (n, m, e) in parts {
        let mag = big::shl(m, (e - scale) as u32);
        if n == neg {
            total = big::add(&total, &mag);
        } else if big::cmp(&total, &mag) == std::cmp::Ordering::Less {
            total = big::sub(&mag, &total);
            neg = n;
        } else {
            total = big::sub(&total, &mag);
        }
    }
    if total.iter().all(|&d| d == 0) {
        return 0.0;
    }
    // total · 2^scale = total · 5^-scale · 10^scale when scale < 0.
    let mut digits = total;
    if scale > 0 {
        digits = big::shl_big(&digits, scale as u32);
    }
    let mut fives = (-scale).max(0);
    while fives > 0 {
        // 5^13 is the largest power of five in a digit.
        let k = fives.min(13);
        digits = big::mul_small(&digits, 5u32.pow(k as u32));
        fives -= k;
    }
    let exp10 = scale.min(0);
    let text = format!(
        "{}{}e{exp10}",
        if neg { "-" } else { "" },
        big::decimal(&digits)
    );
    text.parse::<f64>().unwrap_or(f64::NAN)
}

/// Just enough unsigned big-integer arithmetic for [`exact_sum`]: little-endian `u32` digits.
mod big {
    use std::cmp::Ordering;

    pub fn shl(m: u64, by: u32) -> Vec<u32> {
        shl_big(&[m as u32, (m >> 32) as u32], by)
    }

    pub fn shl_big(a: &[u32], by: u32) -> Vec<u32> {
        let mut out = vec![0u32; (by / 32) as usize];
        let bits = by % 32;
        let mut carry = 0u32;
        for &d in a {
            if bits == 0 {
                out.push(d);
            } else {
                out.push((d << bits) | carry);
                carry = d >> (32 - bits);
            }
        }
        out.push(carry);
        trim(out)
    }

    fn trim(mut a: Vec<u32>) -> Vec<u32> {
        while a.last() == Some(&0) {
            a.pop();
        }
        a
    }

    pub fn cmp(a: &[u32], b: &[u32]) -> Ordering {
        let (a, b) = (trim(a.to_vec()), trim(b.to_vec()));
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }

    pub fn add(a: &[u32], b: &[u32]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut carry = 0u64;
        for i in 0..a.len().max(b.len()) {
            let s = u64::from(*a.get(i).unwrap_or(&0)) + u64::from(*b.get(i).unwrap_or(&0)) + carry;
            out.push(s as u32);
            carry = s >> 32;
        }
        out.push(carry as u32);
        trim(out)
    }

    /// `a − b`, with `a ≥ b`.
    pub fn sub(a: &[u32], b: &[u32]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut borrow = 0i64;
        for (i, &d) in a.iter().enumerate() {
            let mut x = i64::from(d) - i64::from(*b.get(i).unwrap_or(&0)) - borrow;
            borrow = 0;
            if x < 0 {
                x += 1 << 32;
                borrow = 1;
            }
            out.push(x as u32);
        }
        trim(out)
    }

    pub fn mul_small(a: &[u32], k: u32) -> Vec<u32> {
        let mut out = Vec::with_capacity(a.len() + 1);
        let mut carry = 0u64;
        for &d in a {
            let p = u64::from(d) * u64::from(k) + carry;
            out.push(p as u32);
            carry = p >> 32;
        }
        out.push(carry as u32);
        trim(out)
    }

    /// The decimal digits of a non-zero number.
    pub fn decimal(a: &[u32]) -> String {
        let mut n = trim(a.to_vec());
        let mut chunks = Vec::new();
        while !n.is_empty() {
            let mut rem = 0u64;
            for d in n.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*d);
                *d = (cur / 1_000_000_000) as u32;
                rem = cur % 1_000_000_000;
            }
            chunks.push(rem);
            n = trim(n);
        }
        let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

/// `fold_each(list)`: `fold` of every item, in order; unknown when an item is not a string,
/// when the items hold more than `MAX_TEXT` bytes in all, when one item's `fold` is unknown,
/// or when a folded item holds NUL.
fn fold_each(items: Vec<Val>) -> Option<Val> {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Val::Str(s) = item else {
            return None;
        };
        total = total.saturating_add(s.len());
        if total > crate::builtins::MAX_TEXT {
            return None;
        }
        match crate::builtins::apply(Func::Fold, &s)? {
            FnValue::Str(v) if !v.contains('\0') => out.push(Val::Str(v)),
            _ => return None,
        }
    }
    Some(Val::List(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::exact_sum;

    /// Two independent exact sums: this one (decimal text read back by Rust's parser) and
    /// the VM's (limbs, rounded by hand) give the same bits.
    #[test]
    fn exact_sum_matches_the_vms() {
        let pool = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.2,
            0.3,
            2.5,
            1e16,
            9007199254740993.0,
            1e300,
            -1e300,
            f64::MAX,
            -f64::MAX,
            5e-324,
            -5e-324,
            2.2250738585072014e-308,
            1e-300,
            123456.789,
            -7e-200,
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 9) as usize;
            let vs: Vec<f64> = (0..n)
                .map(|i| pool[((x >> (5 * i + 4)) % pool.len() as u64) as usize])
                .collect();
            let mut e = crate::vm::exact::Exact::new();
            for &v in &vs {
                e.add(v);
            }
            let (a, b) = (exact_sum(&vs), e.value());
            assert!(
                a == b && (a == 0.0 || a.to_bits() == b.to_bits()),
                "{vs:?}: {a:e} vs {b:e}"
            );
        }
    }
}
