//! Program model → bytes. Deterministic: the same model always gives the same bytes.

use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use super::codes::*;
use super::model::*;
use super::{FORMAT_VERSION, MAGIC, tags};

/// Encodes a model into a complete `.govb` file.
pub fn encode(m: &Model) -> Vec<u8> {
    let mut strings = Strings::default();
    // Sections after the string table refer to strings by index, so they are built first.
    let files = section(|w| {
        w.len(m.files.len());
        for f in &m.files {
            w.u32(strings.id(f));
        }
    });
    let slots = section(|w| {
        w.len(m.slots.len());
        for p in &m.slots {
            w.len(p.len());
            for seg in p {
                w.u32(strings.id(seg));
            }
        }
    });
    let trackers = section(|w| {
        w.len(m.trackers.len());
        for t in &m.trackers {
            w.u8(kind(t.kind));
            match t.within {
                Some(d) => {
                    w.u8(1);
                    w.i64(d);
                }
                None => w.u8(0),
            }
            w.len(t.per.len());
            for p in &t.per {
                w.u32(*p);
            }
            match t.value {
                Some(v) => {
                    w.u8(1);
                    w.u32(v);
                }
                None => w.u8(0),
            }
            w.len(t.refs.len());
            for (slot, t) in &t.refs {
                w.u32(*slot);
                w.u8(ty(*t));
            }
            w.len(t.inner.len());
            for i in &t.inner {
                w.u32(*i);
            }
        }
    });
    let vars = section(|w| {
        w.len(m.vars.len());
        for v in &m.vars {
            var(w, &mut strings, v);
        }
    });
    let rules = section(|w| {
        w.len(m.rules.len());
        for r in &m.rules {
            w.u32(strings.id(&r.id));
            w.u8(effect(r.effect));
            opt_str(w, &mut strings, r.message.as_deref());
            w.len(r.tags.len());
            for t in &r.tags {
                w.u32(strings.id(t));
            }
            opt_str(w, &mut strings, r.severity.as_deref());
            w.u32(r.file);
            w.u32(r.line);
            w.u32(r.column);
            w.len(r.refs.len());
            for (slot, t) in &r.refs {
                w.u32(*slot);
                w.u8(ty(*t));
            }
            w.len(r.trackers.len());
            for t in &r.trackers {
                w.u32(*t);
            }
        }
    });
    let leaves = section(|w| {
        w.len(m.leaves.len());
        for l in &m.leaves {
            w.len(l.len());
            for c in l {
                w.u32(*c);
            }
        }
    });
    let nodes = section(|w| {
        w.len(m.nodes.len());
        for n in &m.nodes {
            match n {
                NodeDef::Switch {
                    var,
                    branches,
                    default,
                    unknown,
                } => {
                    w.u8(NODE_SWITCH);
                    w.u32(*var);
                    w.len(branches.len());
                    for (c, t) in branches {
                        w.u32(*c);
                        target(w, *t);
                    }
                    target(w, *default);
                    target(w, *unknown);
                }
                NodeDef::Thresh {
                    var,
                    cuts,
                    regions,
                    unknown,
                } => {
                    w.u8(NODE_THRESH);
                    w.u32(*var);
                    w.len(cuts.len());
                    for c in cuts {
                        w.f64(*c);
                    }
                    for r in regions {
                        target(w, *r);
                    }
                    target(w, *unknown);
                }
                NodeDef::Tri { var, t, f, u } => {
                    w.u8(NODE_TRI);
                    w.u32(*var);
                    target(w, *t);
                    target(w, *f);
                    target(w, *u);
                }
                NodeDef::Fork { children } => {
                    w.u8(NODE_FORK);
                    w.len(children.len());
                    for c in children {
                        target(w, *c);
                    }
                }
            }
        }
    });
    let roots = section(|w| {
        w.len(m.roots.len());
        for r in &m.roots {
            target(w, *r);
        }
    });
    let meta = section(|w| {
        w.str(&m.compiler);
        w.bytes(&m.source_digest);
        w.u8(verdict(m.default));
    });
    let strs = section(|w| {
        w.len(strings.list.len());
        for s in &strings.list {
            w.str(s);
        }
    });

    let mut out = Writer::default();
    out.bytes(MAGIC);
    out.u16(FORMAT_VERSION);
    out.u16(0);
    for (tag, body) in [
        (tags::META, meta),
        (tags::STRINGS, strs),
        (tags::FILES, files),
        (tags::SLOTS, slots),
        (tags::TRACKERS, trackers),
        (tags::VARS, vars),
        (tags::RULES, rules),
        (tags::LEAVES, leaves),
        (tags::NODES, nodes),
        (tags::ROOTS, roots),
    ] {
        out.u8(tag);
        out.len(body.len());
        out.bytes(&body);
    }
    let sum = Sha256::digest(&out.buf);
    out.bytes(&sum);
    out.buf
}

fn section(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::default();
    f(&mut w);
    w.buf
}

fn opt_str<'m>(w: &mut Writer, strings: &mut Strings<'m>, s: Option<&'m str>) {
    match s {
        Some(s) => {
            w.u8(1);
            w.u32(strings.id(s));
        }
        None => w.u8(0),
    }
}

fn target(w: &mut Writer, t: Target) {
    match t {
        Target::Node(n) => w.u32(n),
        Target::Leaf(l) => w.u32(l | LEAF_BIT),
    }
}

fn var<'m>(w: &mut Writer, strings: &mut Strings<'m>, v: &'m Var) {
    match v {
        Var::Switch { operand: o, consts } => {
            w.u8(VAR_SWITCH);
            operand(w, strings, o);
            w.len(consts.len());
            strings.reserve(consts.len());
            for c in consts {
                w.u32(strings.id(c));
            }
        }
        Var::Thresh { operand: o } => {
            w.u8(VAR_THRESH);
            operand(w, strings, o);
        }
        Var::Bool { operand: o } => {
            w.u8(VAR_BOOL);
            operand(w, strings, o);
        }
        Var::Has { slot } => {
            w.u8(VAR_HAS);
            w.u32(*slot);
        }
        Var::Pred(p) => match p {
            Pred::Cmp { op, lhs, rhs } => {
                w.u8(VAR_CMP);
                w.u8(cmp(*op));
                operand(w, strings, lhs);
                operand(w, strings, rhs);
            }
            Pred::In { lhs, values } => {
                w.u8(VAR_IN);
                operand(w, strings, lhs);
                w.len(values.len());
                for v in values {
                    operand(w, strings, v);
                }
            }
            Pred::Contains { hay, needle } => {
                w.u8(VAR_CONTAINS);
                operand(w, strings, hay);
                operand(w, strings, needle);
            }
            Pred::StartsWith { lhs, rhs } => {
                w.u8(VAR_STARTS);
                operand(w, strings, lhs);
                operand(w, strings, rhs);
            }
            Pred::EndsWith { lhs, rhs } => {
                w.u8(VAR_ENDS);
                operand(w, strings, lhs);
                operand(w, strings, rhs);
            }
            Pred::Regex {
                lhs,
                regex,
                written,
                glob,
            } => {
                w.u8(VAR_REGEX);
                operand(w, strings, lhs);
                w.u32(strings.id(regex));
                w.u32(strings.id(written));
                w.u8(u8::from(*glob));
            }
        },
    }
}

fn operand<'m>(w: &mut Writer, strings: &mut Strings<'m>, o: &'m Operand) {
    match o {
        Operand::Slot { slot, ty: t } => {
            w.u8(OP_SLOT);
            w.u32(*slot);
            w.u8(ty(*t));
        }
        Operand::Str(s) => {
            w.u8(OP_STR);
            w.u32(strings.id(s));
        }
        Operand::Num(n) => {
            w.u8(OP_NUM);
            w.f64(*n);
        }
        Operand::Bool(b) => {
            w.u8(OP_BOOL);
            w.u8(u8::from(*b));
        }
        Operand::Func { func: f, arg } => {
            w.u8(OP_FUNC);
            w.u8(func(*f));
            operand(w, strings, arg);
        }
        Operand::Tracker(t) => {
            w.u8(OP_TRACKER);
            w.u32(*t);
        }
    }
}

/// The string table, in order of first use, borrowing from the model (no copies: a set of a
/// million strings is written without a million allocations).
#[derive(Default)]
struct Strings<'m> {
    list: Vec<&'m str>,
    ids: FxHashMap<&'m str, u32>,
}

impl<'m> Strings<'m> {
    fn id(&mut self, s: &'m str) -> u32 {
        let next = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        match self.ids.entry(s) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(next);
                self.list.push(s);
                next
            }
        }
    }

    /// Room for `n` more strings, so that a switch of a million constants grows the table
    /// once instead of rehashing it twenty times.
    fn reserve(&mut self, n: usize) {
        self.list.reserve(n);
        self.ids.reserve(n);
    }
}

#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    pub(crate) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.bytes(s.as_bytes());
    }
}
