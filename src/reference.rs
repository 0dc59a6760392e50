//! The reference interpreter: walks the checked bundle over a `serde_json` event.
//!
//! It is the oracle the VM is tested against and is written for clarity, never speed: every
//! rule is evaluated on every event, and stateful functions scan the whole history of the
//! stream. It shares nothing with the compiler, the bytecode or the VM.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::builtins::FnValue;
use crate::check::{
    Attr, Bundle, Cond, Const, Func, Operand, OperandKind, Scalar, StatefulKind, Test, TestKind, Ty,
};
use crate::decision::{Decision, Warning};
use crate::syntax::ast::{CmpOp, Effect};

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
    holds: bool,
    key: Option<Vec<KeyPart>>,
    value: Option<f64>,
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
    clock: i64,
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
        Reference {
            bundle,
            digest: digest.into(),
            history: Vec::new(),
            clock: 0,
        }
    }

    /// Decides one event and adds it to the stream.
    pub fn eval(&mut self, event: &Json) -> Decision {
        let Some(obj) = event.as_object() else {
            return Decision::error(&self.digest, "the event is not a JSON object");
        };
        let ts = obj
            .get("ts")
            .and_then(Json::as_str)
            .and_then(crate::time::parse_rfc3339);
        // Stream time never goes backwards; an event without a valid `ts` happens "now".
        let now = ts.map_or(self.clock, |t| t.max(self.clock));
        self.clock = now;
        let ctx = Ctx {
            event: obj,
            now,
            ts,
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
        for s in &self.bundle.statefuls {
            let holds = self.cond(&ctx, &s.cond) == K3::True;
            let key = key_of(&ctx, &s.per);
            let value = s
                .value
                .as_ref()
                .and_then(|a| match lookup(&ctx, a, Ty::Number) {
                    Some(Val::Num(n)) => Some(n),
                    _ => None,
                });
            seen.push(Observation { holds, key, value });
        }
        self.history.push(Record { time: now, seen });

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
    /// the event to the stream (for tools that check one example event).
    pub fn rule_values(&self, event: &Json) -> Option<Vec<K3>> {
        let obj = event.as_object()?;
        let ts = obj
            .get("ts")
            .and_then(Json::as_str)
            .and_then(crate::time::parse_rfc3339);
        let ctx = Ctx {
            event: obj,
            now: ts.map_or(self.clock, |t| t.max(self.clock)),
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
            OperandKind::Stateful(id) => {
                let s = self.bundle.stateful(*id)?;
                let key = key_of(ctx, &s.per)?;
                let idx = id.0 as usize;
                let lo = s.within.map(|d| ctx.now.saturating_sub(d));
                let in_window = |r: &Record| r.time <= ctx.now && lo.is_none_or(|lo| r.time >= lo);
                let hits = self
                    .history
                    .iter()
                    .filter(|r| in_window(r))
                    .filter_map(|r| {
                        r.seen
                            .get(idx)
                            .filter(|o| o.holds && o.key.as_ref() == Some(&key))
                    });
                Some(match s.kind {
                    StatefulKind::Count => Val::Num(hits.count() as f64),
                    StatefulKind::Sum => {
                        let mut total = 0.0;
                        for o in hits {
                            if let Some(v) = o.value {
                                total += v;
                            }
                        }
                        Val::Num(total)
                    }
                    StatefulKind::Seen => Val::Bool(hits.count() > 0),
                })
            }
        }
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
            Val::List(_) => None,
        })
        .collect()
}
