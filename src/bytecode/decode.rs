//! Bytes → verified program model. The input is untrusted: nothing here may panic, allocate
//! without bound, or accept a program that could run out of bounds or loop.

use std::fmt;

use sha2::{Digest, Sha256};

use super::codes::*;
use super::cost::{self, Cost, Exceeded};
use super::model::*;
use super::{FORMAT_VERSION, MAGIC, tags};

/// Why a bundle was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the file where the problem was found.
    pub offset: usize,
    /// The section being read, or `header` / `trailer`.
    pub section: &'static str,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (section `{}`, byte {})",
            self.message, self.section, self.offset
        )
    }
}

impl std::error::Error for DecodeError {}

const HEADER: usize = 8;
const TRAILER: usize = 32;

/// Decodes and verifies a bundle.
pub fn decode(bytes: &[u8]) -> Result<Model, DecodeError> {
    decode_with(bytes, true)
}

/// Decodes and verifies a bundle, with its digest ([`super::digest`]): the checksum and the
/// digest come from one pass of SHA-256 over the bytes (the trailer is the hash of the body,
/// the digest the hash of body and trailer), not two, which is most of what loading a bundle
/// of a million-entry set costs beyond building its tables.
pub fn decode_digested(bytes: &[u8]) -> Result<(Model, String), DecodeError> {
    let Some(body_end) = bytes.len().checked_sub(TRAILER).filter(|&e| e >= HEADER) else {
        return decode(bytes).map(|m| (m, super::digest(bytes)));
    };
    let (body, trailer) = bytes.split_at(body_end);
    let mut hasher = Sha256::new();
    hasher.update(body);
    let whole = hasher.clone();
    if hasher.finalize().as_slice() != trailer {
        // The same error, with its offset, as every other reader of bundles reports.
        return decode(bytes).map(|m| (m, super::digest(bytes)));
    }
    let mut whole = whole;
    whole.update(trailer);
    let digest = format!("sha256:{}", super::hex(&whole.finalize()));
    decode_with(bytes, false).map(|m| (m, digest))
}

/// Decodes with or without checking the trailing checksum. Only fuzzing and tests skip it,
/// to reach the structural checks behind it.
pub fn decode_with(bytes: &[u8], check_sum: bool) -> Result<Model, DecodeError> {
    decode_costed(bytes, check_sum).map(|(m, _)| m)
}

/// Decodes and verifies a bundle, with what it may cost ([`cost`]): every bound is checked as
/// the bytes are read, before what it bounds is built.
pub fn decode_costed(bytes: &[u8], check_sum: bool) -> Result<(Model, Cost), DecodeError> {
    let err = |offset: usize, section: &'static str, message: String| DecodeError {
        offset,
        section,
        message,
    };
    if bytes.len() < HEADER + TRAILER {
        return Err(err(
            0,
            "header",
            format!(
                "the file is {} bytes, too short to be a govern bundle",
                bytes.len()
            ),
        ));
    }
    if bytes.get(..4) != Some(MAGIC.as_slice()) {
        return Err(err(
            0,
            "header",
            "not a govern bundle (the file does not start with `GOVB`)".into(),
        ));
    }
    let version = u16::from_le_bytes([
        bytes.get(4).copied().unwrap_or(0),
        bytes.get(5).copied().unwrap_or(0),
    ]);
    if version != FORMAT_VERSION {
        return Err(err(
            4,
            "header",
            format!(
                "bundle format version {version} is not supported; this govern reads version {FORMAT_VERSION}, rebuild the bundle"
            ),
        ));
    }
    let flags = u16::from_le_bytes([
        bytes.get(6).copied().unwrap_or(0),
        bytes.get(7).copied().unwrap_or(0),
    ]);
    if flags != 0 {
        return Err(err(6, "header", format!("unknown flags {flags:#06x}")));
    }
    let body_end = bytes.len() - TRAILER;
    let (body, trailer) = (
        bytes.get(..body_end).unwrap_or(&[]),
        bytes.get(body_end..).unwrap_or(&[]),
    );
    if check_sum && Sha256::digest(body).as_slice() != trailer {
        return Err(err(
            body_end,
            "trailer",
            "checksum mismatch: the bundle is truncated or corrupted".into(),
        ));
    }
    let mut r = Reader {
        buf: body,
        pos: HEADER,
        section: "header",
    };
    let mut sections: Vec<&[u8]> = Vec::with_capacity(tags::ALL.len());
    let mut offsets = Vec::with_capacity(tags::ALL.len());
    for (tag, name) in tags::ALL {
        r.section = name;
        let t = r.u8()?;
        if t != tag {
            return Err(r.error(format!(
                "expected section `{name}` (tag {tag}), found tag {t}"
            )));
        }
        let len = r.u32()? as usize;
        offsets.push(r.pos);
        sections.push(r.take(len)?);
    }
    if r.pos != body.len() {
        return Err(r.error(format!(
            "{} unexpected bytes after the last section",
            body.len() - r.pos
        )));
    }
    let section = |i: usize| -> Reader<'_> {
        let (_, name) = tags::ALL.get(i).copied().unwrap_or((0, "?"));
        Reader {
            buf: sections.get(i).copied().unwrap_or(&[]),
            pos: 0,
            section: name,
        }
    };
    let base = |i: usize| offsets.get(i).copied().unwrap_or(0);
    let fix = |mut e: DecodeError, i: usize| {
        e.offset += base(i);
        e
    };

    let mut budget = Budget {
        used: 0,
        limit: cost::materialised_limit(bytes.len()),
    };

    // meta
    let mut s = section(0);
    let compiler = s.str().map_err(|e| fix(e, 0))?;
    budget.spend(&s, compiler.len()).map_err(|e| fix(e, 0))?;
    let compiler = compiler.to_string();
    let mut source_digest = [0u8; 32];
    source_digest.copy_from_slice(s.take(32).map_err(|e| fix(e, 0))?);
    let default = s.u8().map_err(|e| fix(e, 0))?;
    let default = match verdict_of(default) {
        Some(v @ (Verdict::Allow | Verdict::Deny)) => v,
        _ => {
            return Err(fix(
                s.error(format!("invalid default verdict {default}")),
                0,
            ));
        }
    };
    s.end().map_err(|e| fix(e, 0))?;

    // strings
    let mut s = section(1);
    let n = s.count(4).map_err(|e| fix(e, 1))?;
    // Borrowed from the bytes: each string is copied once, where the model holds it.
    let mut strings: Vec<&str> = Vec::with_capacity(n);
    for _ in 0..n {
        let text = s.str().map_err(|e| fix(e, 1))?;
        budget.spend(&s, text.len()).map_err(|e| fix(e, 1))?;
        strings.push(text);
    }
    s.end().map_err(|e| fix(e, 1))?;
    let strs = Strs(&strings);

    let mut d = Decoder {
        strs,
        budget,
        regexes: 0,
        regex_source: 0,
        checks: Vec::new(),
    };
    let files = d.files(section(2)).map_err(|e| fix(e, 2))?;
    let slots = d.slots(section(3)).map_err(|e| fix(e, 3))?;
    let trackers = d.trackers(section(4), slots.len()).map_err(|e| fix(e, 4))?;
    let vars = d
        .vars(section(5), slots.len(), trackers.len())
        .map_err(|e| fix(e, 5))?;
    let rules = d
        .rules(section(6), files.len(), slots.len(), trackers.len())
        .map_err(|e| fix(e, 6))?;
    let leaves = d
        .leaves(section(7), &rules, &trackers)
        .map_err(|e| fix(e, 7))?;
    let nodes = d
        .nodes(section(8), &vars, leaves.len())
        .map_err(|e| fix(e, 8))?;
    let roots = d
        .roots(section(9), nodes.len(), leaves.len())
        .map_err(|e| fix(e, 9))?;
    // The worst case of one decision, from the structure alone.
    let work: Vec<u64> = vars.iter().map(cost::var_work).collect();
    let leaf = |l: u32| {
        let i = l as usize;
        cost::Decision {
            tests: 0,
            work: 0,
            leaves: 1,
            merged: 1u64
                .saturating_add(leaves.get(i).map_or(0, |x| x.len() as u64))
                .saturating_add(d.checks.get(i).copied().unwrap_or(0)),
        }
    };
    let decision = cost::walk(
        &nodes,
        &roots,
        &|v| work.get(v as usize).copied().unwrap_or(1),
        &leaf,
    );
    if let Err(e) = decision.check() {
        return Err(err(base(8), "nodes", e.to_string()));
    }
    let cost = Cost {
        decision,
        materialised: d.budget.used,
        regexes: d.regexes,
        regex_source: d.regex_source,
    };
    let model = Model {
        compiler,
        source_digest,
        default,
        files,
        slots,
        trackers,
        vars,
        rules,
        leaves,
        nodes,
        roots,
    };
    Ok((model, cost))
}

/// Bytes built so far at load, against the bundle's limit: checked before each is built.
struct Budget {
    used: u64,
    limit: u64,
}

impl Budget {
    fn spend(&mut self, r: &Reader<'_>, bytes: usize) -> Result<(), DecodeError> {
        self.spend_exact(r, bytes as u64)
    }

    fn spend_exact(&mut self, r: &Reader<'_>, bytes: u64) -> Result<(), DecodeError> {
        let used = self.used.saturating_add(bytes);
        if used > self.limit {
            return Err(r.error(
                Exceeded::Materialised {
                    bytes: used,
                    limit: self.limit,
                }
                .to_string(),
            ));
        }
        self.used = used;
        Ok(())
    }
}

struct Strs<'a>(&'a [&'a str]);

impl Strs<'_> {
    fn get(&self, r: &Reader<'_>, id: u32) -> Result<String, DecodeError> {
        self.0
            .get(id as usize)
            .map(|s| s.to_string())
            .ok_or_else(|| {
                r.error(format!(
                    "string index {id} out of range (table has {})",
                    self.0.len()
                ))
            })
    }
}

struct Decoder<'a> {
    strs: Strs<'a>,
    budget: Budget,
    regexes: u64,
    regex_source: u64,
    /// For each leaf, the attribute checks the VM prepares for it ([`cost::leaf_checks`]).
    checks: Vec<u64>,
}

impl Decoder<'_> {
    /// A copy of string `id`, counted against the budget before it is made.
    fn string(&mut self, r: &Reader<'_>, id: u32) -> Result<String, DecodeError> {
        let len = self.strs.0.get(id as usize).map_or(0, |s| s.len());
        self.budget.spend(r, len)?;
        self.strs.get(r, id)
    }

    fn files(&mut self, mut r: Reader<'_>) -> Result<Vec<String>, DecodeError> {
        let n = r.count(4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u32()?;
            out.push(self.string(&r, id)?);
        }
        r.end()?;
        Ok(out)
    }

    fn slots(&mut self, mut r: Reader<'_>) -> Result<Vec<Vec<String>>, DecodeError> {
        let n = r.count(4)?;
        let mut out: Vec<Vec<String>> = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.count(4)?;
            if k == 0 {
                return Err(r.error("an empty attribute path".into()));
            }
            let mut path = Vec::with_capacity(k);
            for _ in 0..k {
                let id = r.u32()?;
                path.push(self.string(&r, id)?);
            }
            if out.last().is_some_and(|prev| *prev >= path) {
                return Err(r.error("attribute paths are not sorted and distinct".into()));
            }
            out.push(path);
        }
        if !out
            .iter()
            .any(|p| p.len() == 1 && p.first().is_some_and(|s| s == "ts"))
        {
            return Err(r.error("the slot table lacks `ts`".into()));
        }
        r.end()?;
        Ok(out)
    }

    fn trackers(&mut self, mut r: Reader<'_>, nslots: usize) -> Result<Vec<Tracker>, DecodeError> {
        let n = r.count(7)?;
        if n as u64 >= u64::from(MAX_ITEMS) {
            return Err(r.error("too many trackers".into()));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.u8()?;
            let kind = kind_of(k).ok_or_else(|| r.error(format!("invalid tracker kind {k}")))?;
            let within = match r.u8()? {
                0 => None,
                1 => {
                    let d = r.i64()?;
                    if d < 0 {
                        return Err(r.error("negative window".into()));
                    }
                    Some(d)
                }
                b => return Err(r.error(format!("invalid flag {b}"))),
            };
            let np = r.count(4)?;
            let mut per = Vec::with_capacity(np);
            for _ in 0..np {
                per.push(r.index(nslots, "slot")?);
            }
            let value = match r.u8()? {
                0 => None,
                1 => Some(r.index(nslots, "slot")?),
                b => return Err(r.error(format!("invalid flag {b}"))),
            };
            if value.is_some() != (kind == StatefulKind::Sum) {
                return Err(r.error("only sum trackers have a summed attribute".into()));
            }
            let refs = slot_types(&mut r, nslots)?;
            let k = r.count(4)?;
            let mut inner = Vec::with_capacity(k);
            for _ in 0..k {
                let i = r.u32()?;
                // Inner trackers come first: what they left behind is read when an event
                // of this one is recorded, without recursion.
                if i as usize >= out.len() {
                    return Err(r.error(format!("tracker {} reads a later tracker", out.len())));
                }
                inner.push(i);
            }
            out.push(Tracker {
                kind,
                within,
                per,
                value,
                refs,
                inner,
            });
        }
        r.end()?;
        Ok(out)
    }

    fn vars(
        &mut self,
        mut r: Reader<'_>,
        nslots: usize,
        ntrackers: usize,
    ) -> Result<Vec<Var>, DecodeError> {
        let n = r.count(2)?;
        let mut out = Vec::with_capacity(n);
        let lim = (nslots, ntrackers);
        for _ in 0..n {
            let tag = r.u8()?;
            let v = match tag {
                VAR_SWITCH => {
                    let operand = self.operand(&mut r, lim, 0)?;
                    let k = r.count(4)?;
                    let mut consts: Vec<String> = Vec::with_capacity(k);
                    for _ in 0..k {
                        let id = r.u32()?;
                        let s = self.string(&r, id)?;
                        if consts.last().is_some_and(|p| *p >= s) {
                            return Err(
                                r.error("switch constants are not sorted and distinct".into())
                            );
                        }
                        consts.push(s);
                    }
                    Var::Switch { operand, consts }
                }
                VAR_THRESH => Var::Thresh {
                    operand: self.operand(&mut r, lim, 0)?,
                },
                VAR_BOOL => Var::Bool {
                    operand: self.operand(&mut r, lim, 0)?,
                },
                VAR_HAS => Var::Has {
                    slot: r.index(nslots, "slot")?,
                },
                VAR_CMP => {
                    let c = r.u8()?;
                    let op = cmp_of(c).ok_or_else(|| r.error(format!("invalid comparison {c}")))?;
                    let lhs = self.operand(&mut r, lim, 0)?;
                    let rhs = self.operand(&mut r, lim, 0)?;
                    Var::Pred(Pred::Cmp { op, lhs, rhs })
                }
                VAR_IN => {
                    let lhs = self.operand(&mut r, lim, 0)?;
                    let k = r.count(2)?;
                    let mut values = Vec::with_capacity(k);
                    for _ in 0..k {
                        values.push(self.operand(&mut r, lim, 0)?);
                    }
                    Var::Pred(Pred::In { lhs, values })
                }
                VAR_CONTAINS | VAR_STARTS | VAR_ENDS => {
                    let a = self.operand(&mut r, lim, 0)?;
                    let b = self.operand(&mut r, lim, 0)?;
                    Var::Pred(match tag {
                        VAR_CONTAINS => Pred::Contains { hay: a, needle: b },
                        VAR_STARTS => Pred::StartsWith { lhs: a, rhs: b },
                        _ => Pred::EndsWith { lhs: a, rhs: b },
                    })
                }
                VAR_REGEX => {
                    let lhs = self.operand(&mut r, lim, 0)?;
                    let id = r.u32()?;
                    let regex = self.string(&r, id)?;
                    self.regexes += 1;
                    self.regex_source = self.regex_source.saturating_add(regex.len() as u64);
                    if self.regexes > cost::MAX_REGEXES {
                        return Err(r.error(Exceeded::Regexes(self.regexes).to_string()));
                    }
                    if self.regex_source > cost::MAX_REGEX_SOURCE {
                        return Err(r.error(Exceeded::RegexSource(self.regex_source).to_string()));
                    }
                    let id = r.u32()?;
                    let written = self.string(&r, id)?;
                    let glob = r.flag()?;
                    Var::Pred(Pred::Regex {
                        lhs,
                        regex,
                        written,
                        glob,
                    })
                }
                t => return Err(r.error(format!("invalid variable tag {t}"))),
            };
            out.push(v);
        }
        r.end()?;
        Ok(out)
    }

    fn operand(
        &mut self,
        r: &mut Reader<'_>,
        lim: (usize, usize),
        depth: u32,
    ) -> Result<Operand, DecodeError> {
        if depth > cost::MAX_OPERAND_DEPTH {
            return Err(r.error(format!(
                "operands nested more than {} deep",
                cost::MAX_OPERAND_DEPTH
            )));
        }
        let tag = r.u8()?;
        Ok(match tag {
            OP_SLOT => {
                let slot = r.index(lim.0, "slot")?;
                let t = r.u8()?;
                let ty = ty_of(t).ok_or_else(|| r.error(format!("invalid type code {t}")))?;
                Operand::Slot { slot, ty }
            }
            OP_STR => {
                let id = r.u32()?;
                Operand::Str(self.string(r, id)?)
            }
            OP_NUM => {
                let v = r.f64()?;
                if !v.is_finite() {
                    return Err(r.error("a constant is not a finite number".into()));
                }
                Operand::Num(v)
            }
            OP_BOOL => Operand::Bool(r.flag()?),
            OP_FUNC => {
                let c = r.u8()?;
                let func = func_of(c).ok_or_else(|| r.error(format!("invalid function {c}")))?;
                let arg = self.operand(r, lim, depth + 1)?;
                Operand::Func {
                    func,
                    arg: Box::new(arg),
                }
            }
            OP_TRACKER => Operand::Tracker(r.index(lim.1, "tracker")?),
            t => return Err(r.error(format!("invalid operand tag {t}"))),
        })
    }

    fn rules(
        &mut self,
        mut r: Reader<'_>,
        nfiles: usize,
        nslots: usize,
        ntrackers: usize,
    ) -> Result<Vec<RuleInfo>, DecodeError> {
        let n = r.count(24)?;
        if n as u64 >= u64::from(MAX_ITEMS) {
            return Err(r.error("too many rules".into()));
        }
        let mut out: Vec<RuleInfo> = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.u32()?;
            let id = self.string(&r, id)?;
            if out.last().is_some_and(|p| p.id >= id) {
                return Err(r.error("rules are not sorted by distinct ids".into()));
            }
            let e = r.u8()?;
            let effect = effect_of(e).ok_or_else(|| r.error(format!("invalid effect {e}")))?;
            let message = self.opt_str(&mut r)?;
            let k = r.count(4)?;
            let mut tags = Vec::with_capacity(k);
            for _ in 0..k {
                let t = r.u32()?;
                tags.push(self.string(&r, t)?);
            }
            let severity = self.opt_str(&mut r)?;
            let file = r.index(nfiles.max(1), "file")?;
            let line = r.u32()?;
            let column = r.u32()?;
            let refs = slot_types(&mut r, nslots)?;
            let k = r.count(4)?;
            let mut trackers = Vec::with_capacity(k);
            for _ in 0..k {
                trackers.push(r.index(ntrackers, "tracker")?);
            }
            out.push(RuleInfo {
                id,
                effect,
                message,
                tags,
                severity,
                file,
                line,
                column,
                refs,
                trackers,
            });
        }
        r.end()?;
        Ok(out)
    }

    fn opt_str(&mut self, r: &mut Reader<'_>) -> Result<Option<String>, DecodeError> {
        if r.flag()? {
            let id = r.u32()?;
            Ok(Some(self.string(r, id)?))
        } else {
            Ok(None)
        }
    }

    fn leaves(
        &mut self,
        mut r: Reader<'_>,
        rules: &[RuleInfo],
        trackers: &[Tracker],
    ) -> Result<Vec<Vec<u32>>, DecodeError> {
        let nrules = rules.len();
        let ntrackers = trackers.len();
        let n = r.count(4)?;
        let mut out = Vec::with_capacity(n);
        self.checks = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.count(4)?;
            let mut items: Vec<u32> = Vec::with_capacity(k);
            // The attributes reported when this leaf's rules are unknown: the VM prepares
            // them at load.
            let mut checks = 0u64;
            for _ in 0..k {
                let code = r.u32()?;
                if items.last().is_some_and(|&p| p >= code) {
                    return Err(r.error("leaf items are not sorted and distinct".into()));
                }
                match Item::decode(code) {
                    Some(Item::RuleTrue(x)) | Some(Item::RuleUnknown(x))
                        if (x as usize) < nrules =>
                    {
                        // A rule is true or unknown, never both.
                        if code & 3 == 1 && items.last() == Some(&(code - 1)) {
                            return Err(
                                r.error("a rule is both true and unknown in one leaf".into())
                            );
                        }
                        if code & 3 == 1
                            && let Some(rule) = rules.get(x as usize)
                        {
                            checks = checks.saturating_add(cost::rule_checks(rule, trackers));
                        }
                    }
                    Some(Item::Fire(t)) | Some(Item::Maybe(t)) if (t as usize) < ntrackers => {
                        // A tracker records an event surely or perhaps, never both.
                        if code & 3 == 3 && items.last() == Some(&(code - 1)) {
                            return Err(
                                r.error("a tracker both records and may record one event".into())
                            );
                        }
                    }
                    _ => return Err(r.error(format!("invalid leaf item {code:#x}"))),
                }
                items.push(code);
            }
            let mut bytes = 0u64;
            cost::add_checks(&mut bytes, checks);
            self.budget.spend_exact(&r, bytes)?;
            self.checks.push(checks);
            out.push(items);
        }
        r.end()?;
        Ok(out)
    }

    fn nodes(
        &mut self,
        mut r: Reader<'_>,
        vars: &[Var],
        nleaves: usize,
    ) -> Result<Vec<NodeDef>, DecodeError> {
        let n = r.count(13)?;
        let mut out: Vec<NodeDef> = Vec::with_capacity(n);
        for i in 0..n {
            let tag = r.u8()?;
            let var = if tag == NODE_FORK {
                r.u32()?
            } else {
                r.index(vars.len(), "variable")?
            };
            let v = vars.get(var as usize);
            let node = match tag {
                NODE_SWITCH => {
                    let Some(Var::Switch { consts, .. }) = v else {
                        return Err(r.error(format!(
                            "node {i} switches on variable {var}, which is not a switch"
                        )));
                    };
                    let k = r.count(8)?;
                    let mut branches: Vec<(u32, Target)> = Vec::with_capacity(k);
                    for _ in 0..k {
                        let c = r.index(consts.len(), "constant")?;
                        if branches.last().is_some_and(|(p, _)| *p >= c) {
                            return Err(
                                r.error("switch branches are not sorted and distinct".into())
                            );
                        }
                        branches.push((c, r.target(i, n, nleaves)?));
                    }
                    let default = r.target(i, n, nleaves)?;
                    let unknown = r.target(i, n, nleaves)?;
                    NodeDef::Switch {
                        var,
                        branches,
                        default,
                        unknown,
                    }
                }
                NODE_THRESH => {
                    if !matches!(v, Some(Var::Thresh { .. })) {
                        return Err(r.error(format!(
                            "node {i} compares variable {var}, which is not a number"
                        )));
                    }
                    let k = r.count(12)?;
                    let mut cuts: Vec<f64> = Vec::with_capacity(k);
                    for _ in 0..k {
                        let c = r.f64()?;
                        if !c.is_finite() || cuts.last().is_some_and(|&p| p >= c) {
                            return Err(
                                r.error("threshold cuts are not finite and increasing".into())
                            );
                        }
                        cuts.push(c);
                    }
                    let mut regions = Vec::with_capacity(2 * k + 1);
                    for _ in 0..2 * k + 1 {
                        regions.push(r.target(i, n, nleaves)?);
                    }
                    let unknown = r.target(i, n, nleaves)?;
                    NodeDef::Thresh {
                        var,
                        cuts,
                        regions,
                        unknown,
                    }
                }
                NODE_TRI => {
                    if !matches!(v, Some(Var::Bool { .. } | Var::Has { .. } | Var::Pred(_))) {
                        return Err(r.error(format!(
                            "node {i} tests variable {var} three ways, which it cannot"
                        )));
                    }
                    let t = r.target(i, n, nleaves)?;
                    let f = r.target(i, n, nleaves)?;
                    let u = r.target(i, n, nleaves)?;
                    NodeDef::Tri { var, t, f, u }
                }
                NODE_FORK => {
                    // No variable: undo the read of one and take it as the count.
                    r.pos -= 4;
                    let k = r.count(4)?;
                    if k < 2 {
                        return Err(r.error(format!(
                            "node {i} forks into {k} children; a fork has at least two"
                        )));
                    }
                    let mut children = Vec::with_capacity(k);
                    for _ in 0..k {
                        children.push(r.target(i, n, nleaves)?);
                    }
                    NodeDef::Fork { children }
                }
                t => return Err(r.error(format!("invalid node tag {t}"))),
            };
            out.push(node);
        }
        // Each walk tests variables in increasing order, so each at most once: the first
        // variable tested from a node (through forks, the smallest of their children's) must
        // come after the variable of every node that leads there.
        let mut entry = vec![u32::MAX; out.len()];
        for i in (0..out.len()).rev() {
            let e = match out.get(i) {
                Some(NodeDef::Fork { children }) => children
                    .iter()
                    .map(|c| match c {
                        Target::Node(k) => entry.get(*k as usize).copied().unwrap_or(u32::MAX),
                        Target::Leaf(_) => u32::MAX,
                    })
                    .min()
                    .unwrap_or(u32::MAX),
                Some(n) => n.var().unwrap_or(u32::MAX),
                None => u32::MAX,
            };
            if let Some(x) = entry.get_mut(i) {
                *x = e;
            }
        }
        for (i, node) in out.iter().enumerate() {
            let Some(v) = node.var() else { continue };
            for t in node.targets() {
                if let Target::Node(j) = t {
                    let child = entry.get(j as usize).copied().unwrap_or(u32::MAX);
                    if child <= v {
                        return Err(r.error(format!(
                            "node {i} (variable {v}) leads to a test of variable {child}: variables must increase along a path"
                        )));
                    }
                }
            }
        }
        r.end()?;
        Ok(out)
    }

    fn roots(
        &mut self,
        mut r: Reader<'_>,
        nnodes: usize,
        nleaves: usize,
    ) -> Result<Vec<Target>, DecodeError> {
        let n = r.count(4)?;
        if n == 0 {
            return Err(r.error("no diagram roots".into()));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let raw = r.u32()?;
            let t = if raw & LEAF_BIT != 0 {
                let l = raw & !LEAF_BIT;
                if l as usize >= nleaves {
                    return Err(r.error(format!("root leaf {l} out of range")));
                }
                Target::Leaf(l)
            } else {
                if raw as usize >= nnodes {
                    return Err(r.error(format!("root node {raw} out of range")));
                }
                Target::Node(raw)
            };
            out.push(t);
        }
        r.end()?;
        Ok(out)
    }
}

/// A bounds-checked little-endian reader over one section.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    section: &'static str,
}

impl<'a> Reader<'a> {
    fn error(&self, message: String) -> DecodeError {
        DecodeError {
            offset: self.pos,
            section: self.section,
            message,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.error(format!(
                "needs {n} more bytes but only {} remain (truncated?)",
                self.buf.len().saturating_sub(self.pos)
            ))),
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.error(format!("invalid flag {b}"))),
        }
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_bits(u64::from_le_bytes(a)))
    }

    /// A count of items of at least `min_size` bytes each, refused if they cannot fit.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        let remaining = self.buf.len().saturating_sub(self.pos);
        if n.saturating_mul(min_size.max(1)) > remaining {
            return Err(self.error(format!(
                "a count of {n} items cannot fit in the {remaining} bytes that remain"
            )));
        }
        Ok(n)
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.u32()? as usize;
        let start = self.pos;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| DecodeError {
            offset: start,
            section: self.section,
            message: "a string is not valid UTF-8".into(),
        })
    }

    fn index(&mut self, len: usize, what: &str) -> Result<u32, DecodeError> {
        let i = self.u32()?;
        if (i as usize) < len {
            Ok(i)
        } else {
            Err(self.error(format!("{what} index {i} out of range ({len} exist)")))
        }
    }

    /// A branch target of node `from`: a later node or an existing leaf.
    fn target(
        &mut self,
        from: usize,
        nnodes: usize,
        nleaves: usize,
    ) -> Result<Target, DecodeError> {
        let raw = self.u32()?;
        if raw & LEAF_BIT != 0 {
            let l = raw & !LEAF_BIT;
            if (l as usize) < nleaves {
                return Ok(Target::Leaf(l));
            }
            return Err(self.error(format!("leaf {l} out of range ({nleaves} exist)")));
        }
        let j = raw as usize;
        if j <= from {
            return Err(self.error(format!("node {from} jumps backwards to node {j}")));
        }
        if j >= nnodes {
            return Err(self.error(format!("node {from} jumps to node {j}, past the last node")));
        }
        Ok(Target::Node(raw))
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(self.error(format!(
                "{} unexpected bytes at the end of the section",
                self.buf.len() - self.pos
            )))
        }
    }
}

/// The most tests one decision can make and the most leaves it can reach, over all paths of
/// all forks: a walk takes the costliest branch of each test and every child of each fork.
pub fn worst_case(nodes: &[NodeDef], roots: &[Target]) -> (u64, u64) {
    let d = cost::walk(nodes, roots, &|_| 1, &|_| cost::Decision {
        leaves: 1,
        merged: 1,
        ..cost::Decision::default()
    });
    (d.tests, d.leaves)
}

/// A `vec<(u32 slot, u8 type)>`: attributes with the type they must have.
fn slot_types(r: &mut Reader<'_>, nslots: usize) -> Result<Vec<(u32, Ty)>, DecodeError> {
    let k = r.count(5)?;
    let mut out = Vec::with_capacity(k);
    for _ in 0..k {
        let slot = r.index(nslots, "slot")?;
        let t = r.u8()?;
        let ty = ty_of(t).ok_or_else(|| r.error(format!("invalid type code {t}")))?;
        out.push((slot, ty));
    }
    Ok(out)
}
