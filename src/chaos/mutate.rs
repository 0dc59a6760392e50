//! The fault families and their mutations.
//!
//! Argument and shape families rewrite one attribute of one event: a seed event is laid out
//! once as compact JSON ([`Layout`]) with the byte span of every attribute under the
//! experiment's targets, and a mutant is that text with one span replaced (no JSON tree is
//! built or copied per mutant). A mutant is a *chain* of steps from one family on one
//! attribute; each step is an [`Op`] with a random parameter, so a chain is reproducible from
//! the experiment's seed and can be shortened step by step when shrinking a finding.
//!
//! Every family documents what it models and why its mutants are equivalent to (or worse
//! than) the original for the tool that receives the call: that is what makes a more
//! permissive decision on a mutant a bypass rather than a difference (docs/chaos.md).

use serde_json::Value as Json;
use unicode_normalization::UnicodeNormalization;

/// A family of faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Path,
    Url,
    Case,
    Whitespace,
    Encoding,
    Confusable,
    Type,
    Drop,
    Reorder,
    Duplicate,
    Burst,
    ClockSkew,
    Engine,
}

/// What a family mutates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One attribute of one event, decided alone.
    Argument,
    /// A stretch of a stream, decided in order.
    Stream,
    /// The decision point itself.
    Engine,
}

impl Family {
    pub const ALL: [Family; 13] = [
        Family::Path,
        Family::Url,
        Family::Case,
        Family::Whitespace,
        Family::Encoding,
        Family::Confusable,
        Family::Type,
        Family::Drop,
        Family::Reorder,
        Family::Duplicate,
        Family::Burst,
        Family::ClockSkew,
        Family::Engine,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Path => "path",
            Family::Url => "url",
            Family::Case => "case",
            Family::Whitespace => "whitespace",
            Family::Encoding => "encoding",
            Family::Confusable => "confusable",
            Family::Type => "type",
            Family::Drop => "drop",
            Family::Reorder => "reorder",
            Family::Duplicate => "duplicate",
            Family::Burst => "burst",
            Family::ClockSkew => "clock-skew",
            Family::Engine => "engine",
        }
    }

    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == s)
    }

    pub fn kind(self) -> Kind {
        match self {
            Family::Reorder | Family::Duplicate | Family::Burst | Family::ClockSkew => Kind::Stream,
            Family::Engine => Kind::Engine,
            _ => Kind::Argument,
        }
    }

    /// The steps of an argument family.
    pub fn ops(self) -> &'static [Op] {
        use Op::*;
        match self {
            Family::Path => &[
                DotSegment,
                DoubleSlash,
                DotDot,
                TrailingSlash,
                Tilde,
                Backslash,
                RootDotDot,
            ],
            Family::Url => &[
                HostUpper,
                SchemeUpper,
                HostTrailingDot,
                Userinfo,
                HostPercent,
                DefaultPort,
                IpForm,
            ],
            Family::Case => &[Upper, Lower, FlipCase],
            Family::Whitespace => &[DoubleSpace, Tab, Leading, Trailing, Nbsp],
            Family::Encoding => &[Percent, JsonEscape, Nfd],
            Family::Confusable => &[Homoglyph, Fullwidth],
            Family::Type => &[
                NumberString,
                NumberExp,
                NumberFloat,
                BoolString,
                StringNumber,
                StringBool,
                MoveKey,
                DupKey,
            ],
            Family::Drop => &[DropKey],
            _ => &[],
        }
    }

    /// What the family models, in one line (reports and `--help`).
    pub fn models(self) -> &'static str {
        match self {
            Family::Path => {
                "path spellings the file system resolves to the same file (`./`, `//`, `dir/../dir`, `/..`, `~user`, trailing `/`, `\\`)"
            }
            Family::Url => {
                "URL spellings that reach the same host (host and scheme case, trailing dot, decoy userinfo, percent-encoded host, default port, IPv4 literal forms)"
            }
            Family::Case => {
                "case changes, for receivers that fold case (hosts, e-mail domains, HTTP methods, case-insensitive file systems)"
            }
            Family::Whitespace => {
                "repeated, tab, leading, trailing and non-breaking spaces, which shells and most parsers ignore or trim"
            }
            Family::Encoding => {
                "percent-encoding, JSON \\u escapes and Unicode NFD, which the receiver decodes or normalizes to the same text"
            }
            Family::Confusable => {
                "Unicode look-alikes (Cyrillic and Greek letters, full-width forms that NFKC maps back to ASCII)"
            }
            Family::Type => {
                "\"5000\" for 5000, 5e3, 5000.0, \"true\" for true, an attribute moved, a key written twice (receivers keep the last)"
            }
            Family::Drop => {
                "a dropped attribute: the receiver falls back to its default, which is no safer than the original"
            }
            Family::Reorder => {
                "calls of one agent and tool delivered out of order within the window, each with its own time"
            }
            Family::Duplicate => "a call sent twice (a retry)",
            Family::Burst => "a call sent many times at once",
            Family::ClockSkew => {
                "an event whose clock is ahead or behind (skewed or out-of-order timestamps)"
            }
            Family::Engine => {
                "a corrupt or truncated bundle, an exhausted time budget, an unwritable audit log, a restart of the decision point"
            }
        }
    }
}

/// One mutation step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    DotSegment,
    DoubleSlash,
    DotDot,
    TrailingSlash,
    Tilde,
    Backslash,
    RootDotDot,
    HostUpper,
    SchemeUpper,
    HostTrailingDot,
    Userinfo,
    HostPercent,
    DefaultPort,
    IpForm,
    Upper,
    Lower,
    FlipCase,
    DoubleSpace,
    Tab,
    Leading,
    Trailing,
    Nbsp,
    Percent,
    JsonEscape,
    Nfd,
    Homoglyph,
    Fullwidth,
    NumberString,
    NumberExp,
    NumberFloat,
    BoolString,
    StringNumber,
    StringBool,
    MoveKey,
    DupKey,
    DropKey,
}

impl Op {
    pub fn name(self) -> &'static str {
        use Op::*;
        match self {
            DotSegment => "dot segment",
            DoubleSlash => "double slash",
            DotDot => "dot-dot segment",
            TrailingSlash => "trailing slash",
            Tilde => "tilde home",
            Backslash => "backslash separator",
            RootDotDot => "parent of root",
            HostUpper => "host case",
            SchemeUpper => "scheme case",
            HostTrailingDot => "host trailing dot",
            Userinfo => "decoy userinfo",
            HostPercent => "percent-encoded host",
            DefaultPort => "default port",
            IpForm => "IPv4 literal form",
            Upper => "upper case",
            Lower => "lower case",
            FlipCase => "one letter's case",
            DoubleSpace => "repeated space",
            Tab => "tab for space",
            Leading => "leading space",
            Trailing => "trailing space",
            Nbsp => "non-breaking space",
            Percent => "percent-encoding",
            JsonEscape => "JSON \\u escape",
            Nfd => "Unicode NFD",
            Homoglyph => "look-alike letter",
            Fullwidth => "full-width form",
            NumberString => "number as string",
            NumberExp => "exponent form",
            NumberFloat => "decimal form",
            BoolString => "boolean as string",
            StringNumber => "numeric string as number",
            StringBool => "boolean string as boolean",
            MoveKey => "attribute moved",
            DupKey => "key written twice",
            DropKey => "attribute dropped",
        }
    }

    /// Whether the step rewrites the event's layout rather than one value.
    fn is_layout(self) -> bool {
        matches!(self, Op::MoveKey | Op::DupKey | Op::DropKey)
    }
}

/// A step and its random parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Step {
    pub op: Op,
    pub r: u64,
}

/// SplitMix64: small, fast, and fixed here, so that a seed means the same mutants in every
/// version of govern (a random-number crate may change its algorithm between versions).
#[derive(Clone, Copy, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator of mutant `index` of `family` under `seed`: independent of every other
    /// mutant, so any thread can make any mutant.
    pub fn for_mutant(seed: u64, family: Family, index: u64) -> Rng {
        let mut r = Rng(seed ^ (family as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let a = r.next_u64();
        Rng(a ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

/// One attribute of a laid-out event.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// Its path as written in policies: `args.path`, `args.cmd[1]`.
    pub path: String,
    /// The same path as segments: keys, and `[i]` for the items of a list.
    pub segs: Vec<String>,
    pub value: Json,
    /// The byte span of its value.
    pub span: (usize, usize),
    /// The byte span of its member (`"key":value`) and the key, in an object.
    pub member: Option<(usize, usize)>,
    pub key: Option<String>,
    /// What removing it removes (the member or element and one comma).
    pub removal: (usize, usize),
    /// Where its container's first member starts and where the container closes.
    pub open: usize,
    pub close: usize,
    /// Whether it is the first / last in its container.
    pub first: bool,
    pub last: bool,
}

/// A seed event laid out as compact JSON, with its mutable attributes.
#[derive(Clone, Debug)]
pub struct Layout {
    pub text: String,
    pub leaves: Vec<Leaf>,
}

impl Layout {
    /// Lays out `event`, indexing the attributes at or under `targets` (a container equal
    /// to a target is not itself an attribute to mutate).
    pub fn new(event: &Json, targets: &[Vec<String>]) -> Layout {
        let mut l = Layout {
            text: String::new(),
            leaves: Vec::new(),
        };
        let mut path = Vec::new();
        write(event, &mut path, targets, &mut l);
        l
    }
}

fn under(path: &[String], targets: &[Vec<String>], container: bool) -> bool {
    targets.iter().any(|t| {
        path.len() >= t.len()
            && path.get(..t.len()).is_some_and(|p| p == t.as_slice())
            && !(container && path.len() == t.len())
    })
}

fn show_path(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if seg.starts_with('[') {
            s.push_str(seg);
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(seg);
        }
    }
    s
}

fn write(v: &Json, path: &mut Vec<String>, targets: &[Vec<String>], l: &mut Layout) {
    match v {
        Json::Object(m) => {
            l.text.push('{');
            let open = l.text.len();
            let mut mine = Vec::new();
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    l.text.push(',');
                }
                let mstart = l.text.len();
                write_str(&mut l.text, k);
                l.text.push(':');
                let vstart = l.text.len();
                path.push(k.clone());
                write(val, path, targets, l);
                let container = val.is_object() || val.is_array();
                if under(path, targets, container) {
                    mine.push(l.leaves.len());
                    l.leaves.push(Leaf {
                        path: show_path(path),
                        segs: path.clone(),
                        value: val.clone(),
                        span: (vstart, l.text.len()),
                        member: Some((mstart, l.text.len())),
                        key: Some(k.clone()),
                        removal: (mstart, l.text.len()),
                        open,
                        close: 0,
                        first: i == 0,
                        last: i + 1 == m.len(),
                    });
                }
                path.pop();
            }
            finish(l, &mine);
            l.text.push('}');
        }
        Json::Array(a) => {
            l.text.push('[');
            let open = l.text.len();
            let mut mine = Vec::new();
            for (i, val) in a.iter().enumerate() {
                if i > 0 {
                    l.text.push(',');
                }
                let vstart = l.text.len();
                path.push(format!("[{i}]"));
                write(val, path, targets, l);
                let container = val.is_object() || val.is_array();
                if under(path, targets, container) {
                    mine.push(l.leaves.len());
                    l.leaves.push(Leaf {
                        path: show_path(path),
                        segs: path.clone(),
                        value: val.clone(),
                        span: (vstart, l.text.len()),
                        member: None,
                        key: None,
                        removal: (vstart, l.text.len()),
                        open,
                        close: 0,
                        first: i == 0,
                        last: i + 1 == a.len(),
                    });
                }
                path.pop();
            }
            finish(l, &mine);
            l.text.push(']');
        }
        other => l.text.push_str(&other.to_string()),
    }
}

/// Sets the close position and removal spans of a container's leaves.
fn finish(l: &mut Layout, mine: &[usize]) {
    let close = l.text.len();
    for &i in mine {
        if let Some(leaf) = l.leaves.get_mut(i) {
            leaf.close = close;
            let (s, e) = leaf.removal;
            leaf.removal = if !leaf.first {
                (s.saturating_sub(1), e)
            } else if !leaf.last {
                (s, e + 1)
            } else {
                (s, e)
            };
        }
    }
}

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut String, s: &str) {
    crate::decision::write_json_str(out, s);
}

/// What a mutated value has become.
#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Str(String),
    /// JSON text as it goes into the event.
    Raw(String),
}

/// What the mutations of one run may borrow: hosts seen in the seeds, for decoy userinfo.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub hosts: Vec<String>,
}

impl Ctx {
    /// Collects URL hosts from the seed layouts.
    pub fn new<'a>(layouts: impl Iterator<Item = &'a Layout>) -> Ctx {
        let mut hosts = std::collections::BTreeSet::new();
        for l in layouts {
            for leaf in &l.leaves {
                if let Json::String(s) = &leaf.value
                    && let Some(u) = Url::parse(s)
                    && hosts.len() < 64
                {
                    hosts.insert(u.host(s).to_ascii_lowercase());
                }
            }
        }
        let mut hosts: Vec<String> = hosts.into_iter().collect();
        if hosts.is_empty() {
            hosts.push("localhost".into());
        }
        Ctx { hosts }
    }
}

/// Applies `steps` to `leaf` of `layout`, writing the mutated event text to `out`. Steps
/// that do not apply are skipped; returns how many applied (0: nothing changed).
pub fn apply(layout: &Layout, leaf: &Leaf, steps: &[Step], ctx: &Ctx, out: &mut String) -> usize {
    out.clear();
    if let Some(step) = steps.first().filter(|s| s.op.is_layout()) {
        return usize::from(apply_layout(layout, leaf, *step, out));
    }
    let Some((v, applied)) = mutate_value(leaf, steps, ctx) else {
        return 0;
    };
    write_mutant(layout, leaf, &v, out);
    applied
}

/// What the value steps of `steps` make of `leaf`'s value, and how many applied (`None`:
/// the chain starts with a layout step, or nothing changed).
pub fn mutate_value(leaf: &Leaf, steps: &[Step], ctx: &Ctx) -> Option<(V, usize)> {
    if steps.first().is_some_and(|s| s.op.is_layout()) {
        return None;
    }
    let mut v = match &leaf.value {
        Json::String(s) => V::Str(s.clone()),
        Json::Number(_) | Json::Bool(_) => V::Raw(leaf.value.to_string()),
        _ => return None,
    };
    let mut applied = 0;
    for s in steps {
        if s.op.is_layout() {
            continue;
        }
        if let Some(next) = apply_value(&v, *s, ctx)
            && next != v
        {
            v = next;
            applied += 1;
        }
    }
    (applied > 0).then_some((v, applied))
}

/// The event text of `layout` with `leaf`'s value replaced by `v`, into `out`.
pub fn write_mutant(layout: &Layout, leaf: &Leaf, v: &V, out: &mut String) {
    out.clear();
    let (a, b) = leaf.span;
    out.push_str(layout.text.get(..a).unwrap_or(""));
    match v {
        V::Str(s) => write_str(out, s),
        V::Raw(t) => out.push_str(t),
    }
    out.push_str(layout.text.get(b..).unwrap_or(""));
}

/// Which steps of `family` could apply to `leaf` (for choosing among them).
pub fn applicable(family: Family, leaf: &Leaf) -> bool {
    match (&leaf.value, family) {
        // An argument left out (an element of a list is another value, not a default).
        (_, Family::Drop) => leaf.key.is_some(),
        (Json::String(_), _) => true,
        (Json::Number(_) | Json::Bool(_), Family::Type) => true,
        (Json::Object(_) | Json::Array(_), Family::Type) => leaf.key.is_some(),
        _ => false,
    }
}

/// The steps of `family` that change `leaf` when they come first in a chain: what a mutant
/// of the family may start with, so that every mutant planned mutates something. Whether a
/// step applies never depends on its random parameter (it only picks among the places it
/// applies to), so parameter 0 stands for all of them.
pub fn applicable_ops(family: Family, layout: &Layout, leaf: &Leaf, ctx: &Ctx) -> Vec<Op> {
    if !applicable(family, leaf) {
        return Vec::new();
    }
    let value = match &leaf.value {
        Json::String(s) => Some(V::Str(s.clone())),
        Json::Number(_) | Json::Bool(_) => Some(V::Raw(leaf.value.to_string())),
        _ => None,
    };
    let mut scratch = String::new();
    family
        .ops()
        .iter()
        .copied()
        .filter(|&op| {
            let step = Step { op, r: 0 };
            if op.is_layout() {
                scratch.clear();
                apply_layout(layout, leaf, step, &mut scratch)
            } else {
                value
                    .as_ref()
                    .is_some_and(|v| apply_value(v, step, ctx).is_some_and(|n| n != *v))
            }
        })
        .collect()
}

fn apply_layout(layout: &Layout, leaf: &Leaf, step: Step, out: &mut String) -> bool {
    let t = &layout.text;
    match step.op {
        Op::DropKey => {
            let (a, b) = leaf.removal;
            out.push_str(t.get(..a).unwrap_or(""));
            out.push_str(t.get(b..).unwrap_or(""));
            true
        }
        Op::MoveKey => {
            let Some((ms, me)) = leaf.member else {
                return false;
            };
            if leaf.first && leaf.last {
                return false;
            }
            let member = t.get(ms..me).unwrap_or("");
            let (ra, rb) = leaf.removal;
            if !leaf.last {
                // To the end of its object.
                out.push_str(t.get(..ra).unwrap_or(""));
                out.push_str(t.get(rb..leaf.close).unwrap_or(""));
                out.push(',');
                out.push_str(member);
                out.push_str(t.get(leaf.close..).unwrap_or(""));
            } else {
                // The last one goes first.
                out.push_str(t.get(..leaf.open).unwrap_or(""));
                out.push_str(member);
                out.push(',');
                out.push_str(t.get(leaf.open..ra).unwrap_or(""));
                out.push_str(t.get(rb..).unwrap_or(""));
            }
            true
        }
        Op::DupKey => {
            let (Some((ms, _)), Some(key)) = (leaf.member, &leaf.key) else {
                return false;
            };
            // A decoy first, the original last: receivers that keep the last key see the
            // original call.
            let decoy = match &leaf.value {
                Json::String(_) => "\"\"",
                Json::Number(_) => "0",
                Json::Bool(true) => "false",
                Json::Bool(false) => "true",
                Json::Array(_) => "[]",
                _ => "null",
            };
            out.push_str(t.get(..ms).unwrap_or(""));
            write_str(out, key);
            out.push(':');
            out.push_str(decoy);
            out.push(',');
            out.push_str(t.get(ms..).unwrap_or(""));
            true
        }
        _ => false,
    }
}

fn apply_value(v: &V, step: Step, ctx: &Ctx) -> Option<V> {
    use Op::*;
    let r = step.r;
    match (v, step.op) {
        (V::Str(s), DotSegment) => path_like(s)
            .then(|| nth_slash(s, r).map(|i| insert(s, i + 1, "./")))?
            .map(V::Str),
        (V::Str(s), DoubleSlash) => path_like(s)
            .then(|| nth_slash(s, r).map(|i| insert(s, i + 1, "/")))?
            .map(V::Str),
        (V::Str(s), DotDot) => {
            if !path_like(s) {
                return None;
            }
            // `a/b/c` → `a/b/../b/c`: a directory segment (never the last one), climbed out
            // of and back into.
            let segs: Vec<(usize, &str)> = segments(s);
            let dirs: Vec<&(usize, &str)> = segs
                .iter()
                .take(segs.len().saturating_sub(1))
                .filter(|(_, seg)| !seg.is_empty() && *seg != "." && *seg != "..")
                .collect();
            let (at, seg) = dirs.get(pick(r, dirs.len())?)?;
            let end = at + seg.len();
            Some(V::Str(insert(s, end, &format!("/../{seg}"))))
        }
        (V::Str(s), TrailingSlash) => {
            (path_like(s) && !s.ends_with('/')).then(|| V::Str(format!("{s}/")))
        }
        (V::Str(s), Tilde) => {
            if let Some(rest) = s.strip_prefix("/home/") {
                let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
                // `/home/./ana` is not `~./ana`: a `.` or `..` segment names no user.
                (!matches!(user, "" | "." | "..")).then(|| V::Str(format!("~{user}/{tail}")))
            } else if s == "/root" || s.starts_with("/root/") {
                Some(V::Str(format!("~root{}", s.get(5..).unwrap_or(""))))
            } else {
                None
            }
        }
        (V::Str(s), Backslash) => path_like(s)
            .then(|| nth_slash(s, r).map(|i| replace_at(s, i, 1, "\\")))?
            .map(V::Str),
        (V::Str(s), RootDotDot) => {
            (path_like(s) && s.starts_with('/')).then(|| V::Str(format!("/..{s}")))
        }
        (
            V::Str(s),
            op @ (HostUpper | SchemeUpper | HostTrailingDot | Userinfo | HostPercent | DefaultPort
            | IpForm),
        ) => url_op(s, op, r, ctx).map(V::Str),
        // Case folds in names, hosts, e-mail addresses, methods and (on case-insensitive
        // file systems) paths: words, not commands or prose, whose case a shell keeps.
        (V::Str(s), Upper | Lower | FlipCase) if !word_like(s) => None,
        // In a URL only the scheme and the host are case-insensitive (RFC 3986, 6.2.2.1):
        // the path and the query (a token in it, say) are other resources in another case.
        (V::Str(s), op @ (Upper | Lower | FlipCase)) if Url::parse(s).is_some() => {
            let u = Url::parse(s)?;
            let places = [u.scheme, u.host];
            let mut t = s.clone();
            match op {
                FlipCase => {
                    let letters: Vec<usize> = places
                        .iter()
                        .flat_map(|&(a, b)| a..b)
                        .filter(|&i| s.as_bytes().get(i).is_some_and(u8::is_ascii_alphabetic))
                        .collect();
                    let i = *letters.get(pick(r, letters.len())?)?;
                    let c = s.get(i..i + 1)?;
                    let flipped = if c.chars().all(|c| c.is_ascii_lowercase()) {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    };
                    t = replace_at(s, i, 1, &flipped);
                }
                _ => {
                    for (a, b) in places {
                        let part = s.get(a..b)?;
                        let changed = if op == Upper {
                            part.to_ascii_uppercase()
                        } else {
                            part.to_ascii_lowercase()
                        };
                        t.replace_range(a..b, &changed);
                    }
                }
            }
            (t != *s).then_some(V::Str(t))
        }
        (V::Str(s), Upper) => {
            let u = s.to_uppercase();
            (u != *s).then_some(V::Str(u))
        }
        (V::Str(s), Lower) => {
            let u = s.to_lowercase();
            (u != *s).then_some(V::Str(u))
        }
        (V::Str(s), FlipCase) => {
            // An ASCII letter is one byte, and no byte of another character is one.
            let i = nth_where(s, 0, u8::is_ascii_alphabetic, r)?;
            let c = s.get(i..i + 1)?;
            let flipped = if c.chars().all(|c| c.is_ascii_lowercase()) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            Some(V::Str(replace_at(s, i, 1, &flipped)))
        }
        (V::Str(s), DoubleSpace) => nth_byte(s, b' ', r).map(|i| V::Str(insert(s, i, " "))),
        (V::Str(s), Tab) => nth_byte(s, b' ', r).map(|i| V::Str(replace_at(s, i, 1, "\t"))),
        // File systems keep spaces in names; other arguments are trimmed by their receivers.
        (V::Str(s), Leading) => (!path_like(s)).then(|| V::Str(format!(" {s}"))),
        (V::Str(s), Trailing) => (!path_like(s)).then(|| V::Str(format!("{s} "))),
        (V::Str(s), Nbsp) => nth_byte(s, b' ', r).map(|i| V::Str(replace_at(s, i, 1, "\u{a0}"))),
        (V::Str(s), Percent) => {
            Url::parse(s)?;
            // Percent-encode one letter or digit after the scheme: the HTTP server (or the
            // URL parser, for the host) decodes it. File systems do not, so paths are left be.
            let from = scheme_sep(s).map_or(0, |i| i + 3);
            let i = nth_where(s, from, |b| b.is_ascii_alphanumeric() || *b == b'.', r)?;
            let b = *s.as_bytes().get(i)?;
            Some(V::Str(replace_at(s, i, 1, &format!("%{b:02X}"))))
        }
        (V::Str(s), JsonEscape) => {
            let (i, c) = s.char_indices().nth(pick(r, s.chars().count())?)?;
            let mut t = String::new();
            write_str(&mut t, s.get(..i)?);
            t.pop();
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                t.push_str(&format!("\\u{u:04x}"));
            }
            let mut rest = String::new();
            write_str(&mut rest, s.get(i + c.len_utf8()..)?);
            t.push_str(rest.get(1..)?);
            Some(V::Raw(t))
        }
        (V::Str(s), Nfd) => {
            // Most texts are both (all of ASCII is): said without making either form.
            use unicode_normalization::{IsNormalized, is_nfc_quick, is_nfd_quick};
            if is_nfd_quick(s.chars()) != IsNormalized::Yes {
                let d: String = s.nfd().collect();
                if d != *s {
                    return Some(V::Str(d));
                }
            }
            if is_nfc_quick(s.chars()) == IsNormalized::Yes {
                return None;
            }
            let c: String = s.nfc().collect();
            (c != *s).then_some(V::Str(c))
        }
        (V::Str(s), Homoglyph) => {
            // In a host name only: the attacker registers the look-alike domain, so it leads
            // to the same place as the original (elsewhere a look-alike names another thing).
            let (a, b) = domain(s)?;
            let d = s.get(a..b)?;
            let is = |c: &(usize, char)| homoglyph(c.1).is_some();
            let k = pick(r, d.char_indices().filter(is).count())?;
            let (i, c) = d.char_indices().filter(is).nth(k)?;
            let i = a + i;
            let h = homoglyph(c)?;
            Some(V::Str(replace_at(s, i, 1, &h.to_string())))
        }
        (V::Str(s), Fullwidth) => {
            // In a host name: IDNA (UTS #46) maps full-width forms back to ASCII.
            let (a, b) = domain(s)?;
            let d = s.get(a..b)?;
            let is = |c: &(usize, char)| c.1.is_ascii_alphanumeric();
            let k = pick(r, d.char_indices().filter(is).count())?;
            let (i, c) = d.char_indices().filter(is).nth(k)?;
            let i = a + i;
            let w = char::from_u32(c as u32 - 0x21 + 0xFF01)?;
            Some(V::Str(replace_at(s, i, 1, &w.to_string())))
        }
        (V::Raw(t), NumberString) if is_number(t) => Some(V::Str(t.clone())),
        (V::Raw(t), NumberExp) if is_number(t) => {
            let n: f64 = t.parse().ok()?;
            (n != 0.0 && n.is_finite())
                .then(|| V::Raw(format!("{n:e}")))
                .filter(|x| *x != V::Raw(t.clone()))
        }
        (V::Raw(t), NumberFloat) if is_number(t) => {
            (!t.contains(['.', 'e', 'E'])).then(|| V::Raw(format!("{t}.0")))
        }
        (V::Raw(t), BoolString) if t == "true" || t == "false" => Some(V::Str(t.clone())),
        (V::Str(s), StringNumber) => {
            let n: f64 = s.trim().parse().ok()?;
            (n.is_finite() && is_number(s)).then(|| V::Raw(s.clone()))
        }
        (V::Str(s), StringBool) => (s == "true" || s == "false").then(|| V::Raw(s.clone())),
        _ => None,
    }
}

fn is_number(t: &str) -> bool {
    matches!(serde_json::from_str::<Json>(t), Ok(Json::Number(_)))
}

fn pick(r: u64, n: usize) -> Option<usize> {
    (n > 0).then(|| (r % n as u64) as usize)
}

/// The byte range of the host of a URL, or of the domain of an e-mail address.
fn domain(s: &str) -> Option<(usize, usize)> {
    if let Some(u) = Url::parse(s) {
        return Some(u.host);
    }
    let at = s.rfind('@')?;
    let d = s.get(at + 1..)?;
    (!s.contains(char::is_whitespace) && d.contains('.') && at > 0).then_some((at + 1, s.len()))
}

/// Whether `s` is a name whose case a receiver may fold: a path, a URL, an e-mail address,
/// or a word (letters, digits, `-`, `_`, `.`, `:`) such as a method, a role or a scope.
fn word_like(s: &str) -> bool {
    path_like(s)
        || Url::parse(s).is_some()
        || domain(s).is_some()
        || (!s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
}

/// Whether `s` looks like a file path (and not a URL).
fn path_like(s: &str) -> bool {
    s.contains('/') && scheme_sep(s).is_none() && !s.contains(char::is_whitespace)
}

/// The byte offset of one of the slashes of `s`.
fn nth_slash(s: &str, r: u64) -> Option<usize> {
    nth_byte(s, b'/', r)
}

/// The byte offset of one of the ASCII characters `c` in `s`, picked by `r` among them.
fn nth_byte(s: &str, c: u8, r: u64) -> Option<usize> {
    let b = s.as_bytes();
    let k = pick(r, memchr::memchr_iter(c, b).count())?;
    memchr::memchr_iter(c, b).nth(k)
}

/// The byte offset, from `from` on, of one of the ASCII characters of `s` that `is` says
/// (it must say no to every byte above 127), picked by `r` among them.
fn nth_where(s: &str, from: usize, is: impl Fn(&u8) -> bool, r: u64) -> Option<usize> {
    let b = s.as_bytes().get(from..)?;
    let k = pick(r, b.iter().filter(|c| is(c)).count())?;
    let i = b.iter().enumerate().filter(|(_, c)| is(c)).nth(k)?.0;
    Some(from + i)
}

/// Where the first `://` of `s` is.
fn scheme_sep(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b':', b).find(|&i| b.get(i + 1..i + 3) == Some(b"//"))
}

/// The segments of a path with their byte offsets.
fn segments(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '/' {
            out.push((start, s.get(start..i).unwrap_or("")));
            start = i + 1;
        }
    }
    out.push((start, s.get(start..).unwrap_or("")));
    out
}

fn insert(s: &str, at: usize, what: &str) -> String {
    let mut t = String::with_capacity(s.len() + what.len());
    t.push_str(s.get(..at).unwrap_or(s));
    t.push_str(what);
    t.push_str(s.get(at..).unwrap_or(""));
    t
}

fn replace_at(s: &str, at: usize, len: usize, what: &str) -> String {
    let mut t = String::with_capacity(s.len() + what.len());
    t.push_str(s.get(..at).unwrap_or(s));
    t.push_str(what);
    t.push_str(s.get(at + len..).unwrap_or(""));
    t
}

fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        'a' => '\u{430}',
        'c' => '\u{441}',
        'e' => '\u{435}',
        'i' => '\u{456}',
        'j' => '\u{458}',
        'o' => '\u{43E}',
        'p' => '\u{440}',
        's' => '\u{455}',
        'x' => '\u{445}',
        'y' => '\u{443}',
        'A' => '\u{410}',
        'B' => '\u{412}',
        'C' => '\u{421}',
        'E' => '\u{415}',
        'H' => '\u{41D}',
        'K' => '\u{41A}',
        'M' => '\u{41C}',
        'O' => '\u{41E}',
        'P' => '\u{420}',
        'T' => '\u{422}',
        'X' => '\u{425}',
        'v' => '\u{3BD}',
        _ => return None,
    })
}

/// The parts of a `scheme://authority/rest` URL, as byte ranges.
struct Url {
    scheme: (usize, usize),
    /// Where the host starts (after any userinfo) and ends (before any port).
    host: (usize, usize),
    port: Option<(usize, usize)>,
}

impl Url {
    fn parse(s: &str) -> Option<Url> {
        let i = scheme_sep(s)?;
        let scheme = s.get(..i)?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return None;
        }
        let a = i + 3;
        let rest = s.get(a..)?;
        let end = a + rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let auth = s.get(a..end)?;
        let hs = a + auth.rfind('@').map_or(0, |k| k + 1);
        let hostport = s.get(hs..end)?;
        let (he, port) = if hostport.starts_with('[') {
            let close = hs + hostport.find(']')? + 1;
            let port = (close < end).then_some((close + 1, end));
            (close, port)
        } else {
            match hostport.rfind(':') {
                Some(k) => (hs + k, Some((hs + k + 1, end))),
                None => (end, None),
            }
        };
        (he > hs).then_some(Url {
            scheme: (0, i),
            host: (hs, he),
            port,
        })
    }

    fn host<'a>(&self, s: &'a str) -> &'a str {
        s.get(self.host.0..self.host.1).unwrap_or("")
    }
}

fn url_op(s: &str, op: Op, r: u64, ctx: &Ctx) -> Option<String> {
    let u = Url::parse(s)?;
    let (hs, he) = u.host;
    let host = u.host(s);
    match op {
        Op::HostUpper => {
            let up = host.to_ascii_uppercase();
            (up != host).then(|| replace_at(s, hs, he - hs, &up))
        }
        Op::SchemeUpper => {
            let sc = s.get(u.scheme.0..u.scheme.1)?;
            let up = sc.to_ascii_uppercase();
            (up != sc).then(|| replace_at(s, 0, sc.len(), &up))
        }
        Op::HostTrailingDot => {
            (!host.ends_with('.') && ipv4(host).is_none() && !host.starts_with('['))
                .then(|| insert(s, he, "."))
        }
        Op::Userinfo => {
            // `https://approved.example@evil.example/`: the receiver connects to the host
            // after `@`, the same as the original.
            let decoy = ctx.hosts.get(pick(r, ctx.hosts.len())?)?;
            Some(insert(s, hs, &format!("{decoy}@")))
        }
        Op::HostPercent => {
            let cand: Vec<usize> = host
                .char_indices()
                .filter(|(_, c)| c.is_ascii_alphanumeric())
                .map(|(i, _)| i)
                .collect();
            let i = *cand.get(pick(r, cand.len())?)?;
            let b = *host.as_bytes().get(i)?;
            Some(replace_at(s, hs + i, 1, &format!("%{b:02X}")))
        }
        Op::DefaultPort => {
            if u.port.is_some() {
                return None;
            }
            let port = match s.get(u.scheme.0..u.scheme.1)?.to_ascii_lowercase().as_str() {
                "http" | "ws" => "80",
                "https" | "wss" => "443",
                "ftp" => "21",
                _ => return None,
            };
            Some(insert(s, he, &format!(":{port}")))
        }
        Op::IpForm => {
            let ip = ipv4(host)?;
            let n = u32::from_be_bytes(ip);
            let form = match r % 4 {
                0 => n.to_string(),
                1 => format!("0x{n:08x}"),
                2 => ip
                    .iter()
                    .map(|o| format!("0{o:o}"))
                    .collect::<Vec<_>>()
                    .join("."),
                _ => format!("[::ffff:{}.{}.{}.{}]", ip[0], ip[1], ip[2], ip[3]),
            };
            Some(replace_at(s, hs, he - hs, &form))
        }
        _ => None,
    }
}

fn ipv4(host: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut out = [0u8; 4];
    for (o, p) in out.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 3 || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    /// The places a step picks among are found without collecting them, at the same offsets
    /// as collecting them did, in ASCII and other text.
    #[test]
    fn places_are_picked_as_by_collecting_them() {
        let texts = [
            "",
            "a b  c",
            "/etc/./sh adow/",
            "https://Ex\u{e4}mple.com/a b?q=1 2",
            "ß é/ſ\u{a0}x ",
            "\u{212a}elvin / 3 \u{663}",
        ];
        for t in texts {
            for r in 0..40u64 {
                for c in [b' ', b'/'] {
                    let at: Vec<usize> = t.match_indices(c as char).map(|(i, _)| i).collect();
                    assert_eq!(
                        nth_byte(t, c, r),
                        at.get(pick(r, at.len()).unwrap_or(usize::MAX)).copied()
                    );
                }
                let letters: Vec<usize> = t
                    .char_indices()
                    .filter(|(_, c)| c.is_ascii_alphabetic())
                    .map(|(i, _)| i)
                    .collect();
                let want = pick(r, letters.len()).and_then(|k| letters.get(k).copied());
                assert_eq!(
                    nth_where(t, 0, u8::is_ascii_alphabetic, r),
                    want,
                    "{t:?} {r}"
                );
                let from = t.find("://").map_or(0, |i| i + 3);
                assert_eq!(scheme_sep(t), t.find("://"));
                let cand: Vec<usize> = t
                    .char_indices()
                    .filter(|(i, c)| *i >= from && (c.is_ascii_alphanumeric() || *c == '.'))
                    .map(|(i, _)| i)
                    .collect();
                let want = pick(r, cand.len()).and_then(|k| cand.get(k).copied());
                let is = |b: &u8| b.is_ascii_alphanumeric() || *b == b'.';
                assert_eq!(nth_where(t, from, is, r), want, "{t:?} {r}");
            }
        }
    }

    fn one(v: &str, op: Op, r: u64) -> Option<String> {
        let ctx = Ctx {
            hosts: vec!["api.github.com".into()],
        };
        match apply_value(&V::Str(v.into()), Step { op, r }, &ctx)? {
            V::Str(s) | V::Raw(s) => Some(s),
        }
    }

    #[test]
    fn path_spellings() {
        assert_eq!(
            one("/etc/shadow", Op::DotSegment, 1).unwrap(),
            "/etc/./shadow"
        );
        assert_eq!(
            one("/etc/shadow", Op::DoubleSlash, 0).unwrap(),
            "//etc/shadow"
        );
        assert_eq!(
            one("/etc/shadow", Op::DotDot, 0).unwrap(),
            "/etc/../etc/shadow"
        );
        assert_eq!(
            one("/etc/shadow", Op::RootDotDot, 0).unwrap(),
            "/../etc/shadow"
        );
        assert_eq!(
            one("/root/.ssh/id_rsa", Op::Tilde, 0).unwrap(),
            "~root/.ssh/id_rsa"
        );
        assert_eq!(one("/home/bob/.env", Op::Tilde, 0).unwrap(), "~bob/.env");
        assert_eq!(one("/home/./bob/.env", Op::Tilde, 0), None);
        assert_eq!(one("/home/../etc/shadow", Op::Tilde, 0), None);
        assert_eq!(one("no path here", Op::DotSegment, 0), None);
    }

    #[test]
    fn url_spellings() {
        let u = "https://evil.example/x";
        assert_eq!(one(u, Op::HostUpper, 0).unwrap(), "https://EVIL.EXAMPLE/x");
        assert_eq!(
            one(u, Op::HostTrailingDot, 0).unwrap(),
            "https://evil.example./x"
        );
        assert_eq!(
            one(u, Op::Userinfo, 0).unwrap(),
            "https://api.github.com@evil.example/x"
        );
        assert_eq!(
            one(u, Op::DefaultPort, 0).unwrap(),
            "https://evil.example:443/x"
        );
        assert_eq!(
            one("http://127.0.0.1/", Op::IpForm, 0).unwrap(),
            "http://2130706433/"
        );
        assert_eq!(
            one("http://127.0.0.1/", Op::IpForm, 3).unwrap(),
            "http://[::ffff:127.0.0.1]/"
        );
    }

    #[test]
    fn case_in_a_url_is_the_scheme_and_host_only() {
        let u = "https://Api.Example/Path?q=Token";
        assert_eq!(
            one(u, Op::Upper, 0).unwrap(),
            "HTTPS://API.EXAMPLE/Path?q=Token"
        );
        assert_eq!(
            one(u, Op::Lower, 0).unwrap(),
            "https://api.example/Path?q=Token"
        );
        for r in 0..20 {
            let f = one(u, Op::FlipCase, r).unwrap();
            assert!(f.ends_with("/Path?q=Token"), "{f}");
        }
        assert_eq!(one("https://api.example/PATH", Op::Lower, 0), None);
        assert_eq!(one("/ETC/shadow", Op::Lower, 0).unwrap(), "/etc/shadow");
    }

    #[test]
    fn layout_spans_and_layout_steps() {
        let ev = json!({"action":"tool_call","args":{"a":1,"b":"x","c":true},"tool":"t"});
        let l = Layout::new(&ev, &[vec!["args".to_string()]]);
        assert_eq!(l.text, serde_json::to_string(&ev).unwrap());
        assert_eq!(l.leaves.len(), 3);
        let ctx = Ctx::default();
        let mut out = String::new();
        for (i, want) in [
            r#"{"action":"tool_call","args":{"b":"x","c":true},"tool":"t"}"#,
            r#"{"action":"tool_call","args":{"a":1,"c":true},"tool":"t"}"#,
            r#"{"action":"tool_call","args":{"a":1,"b":"x"},"tool":"t"}"#,
        ]
        .iter()
        .enumerate()
        {
            apply(
                &l,
                &l.leaves[i],
                &[Step {
                    op: Op::DropKey,
                    r: 0,
                }],
                &ctx,
                &mut out,
            );
            assert_eq!(out, *want);
            serde_json::from_str::<Json>(&out).unwrap();
        }
        apply(
            &l,
            &l.leaves[0],
            &[Step {
                op: Op::MoveKey,
                r: 0,
            }],
            &ctx,
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"action":"tool_call","args":{"b":"x","c":true,"a":1},"tool":"t"}"#
        );
        apply(
            &l,
            &l.leaves[2],
            &[Step {
                op: Op::MoveKey,
                r: 0,
            }],
            &ctx,
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"action":"tool_call","args":{"c":true,"a":1,"b":"x"},"tool":"t"}"#
        );
        apply(
            &l,
            &l.leaves[1],
            &[Step {
                op: Op::DupKey,
                r: 0,
            }],
            &ctx,
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"action":"tool_call","args":{"a":1,"b":"","b":"x","c":true},"tool":"t"}"#
        );
        apply(
            &l,
            &l.leaves[0],
            &[Step {
                op: Op::NumberString,
                r: 0,
            }],
            &ctx,
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"action":"tool_call","args":{"a":"1","b":"x","c":true},"tool":"t"}"#
        );
        apply(
            &l,
            &l.leaves[1],
            &[Step {
                op: Op::JsonEscape,
                r: 0,
            }],
            &ctx,
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"action":"tool_call","args":{"a":1,"b":"\u0078","c":true},"tool":"t"}"#
        );
        assert_eq!(serde_json::from_str::<Json>(&out).unwrap(), ev);
    }

    #[test]
    fn the_generator_is_fixed() {
        // A seed must mean the same mutants in every version: these numbers never change.
        let mut r = Rng::new(42);
        assert_eq!(r.next_u64(), 0xBDD7_3226_2FEB_6E95);
    }
}
