//! The checked bundle: names resolved, types known, sets spliced, regexes compiled.
//!
//! This is where the two evaluators part: [`crate::compile`] lowers it to a decision diagram
//! for the VM and [`crate::reference`] walks it directly. Nothing below this module is shared
//! between them, so a disagreement points at the compiler, the encoder or the VM.

use std::fmt;
use std::sync::Arc;

use crate::diag::SourceFile;
use crate::syntax::ast::{self, CmpOp, Effect, Span};

/// A whole bundle after checking, rules sorted by id.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub files: Vec<SourceFile>,
    /// The syntax trees, one per file, for tools that work on the text (lint, fmt).
    pub asts: Vec<ast::File>,
    pub tools: Vec<ToolSig>,
    /// Declared attributes, sorted by path.
    pub attributes: Vec<AttrSig>,
    pub sets: Vec<SetInfo>,
    /// The data files sets were read from, sorted by name.
    pub data: Vec<DataInfo>,
    /// The verdict when no rule decides.
    pub default: Verdict,
    /// Where `default` was written, if it was.
    pub default_loc: Option<Loc>,
    pub policies: Vec<PolicyInfo>,
    /// Sorted by id.
    pub rules: Vec<Rule>,
    /// Every stateful call, indexed by [`StatefulId`]; inner calls come before outer ones.
    pub statefuls: Vec<Stateful>,
    /// SHA-256 over the file names and texts, in name order, then the names and bytes of the
    /// data files, in name order.
    pub source_digest: [u8; 32],
}

impl Bundle {
    pub fn file(&self, loc: Loc) -> Option<&SourceFile> {
        self.files.get(loc.file as usize)
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.rules.get(i))
    }

    pub fn stateful(&self, id: StatefulId) -> Option<&Stateful> {
        self.statefuls.get(id.0 as usize)
    }
}

/// A final verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Allow,
    Escalate,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Escalate => "escalate",
            Verdict::Deny => "deny",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "allow" => Some(Verdict::Allow),
            "escalate" => Some(Verdict::Escalate),
            "deny" => Some(Verdict::Deny),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where something was written: a file of the bundle and a byte span in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    pub file: u32,
    pub span: Span,
}

/// A declared tool and its argument types.
#[derive(Clone, Debug)]
pub struct ToolSig {
    pub name: String,
    pub params: Vec<(String, DeclTy)>,
    pub doc: String,
    pub loc: Loc,
}

impl ToolSig {
    /// The declared type at `path` below `args`, if the tool declares it.
    pub fn arg_type(&self, path: &[String]) -> Option<&DeclTy> {
        let (first, rest) = path.split_first()?;
        let mut ty = &self.params.iter().find(|(n, _)| n == first)?.1;
        for seg in rest {
            match ty {
                DeclTy::Record(fields) => {
                    ty = &fields.iter().find(|(n, _)| n == seg)?.1;
                }
                _ => return None,
            }
        }
        Some(ty)
    }
}

/// A declared attribute of the request (`attribute context.tenant: string`).
#[derive(Clone, Debug)]
pub struct AttrSig {
    pub path: Attr,
    pub ty: DeclTy,
    pub doc: String,
    /// Where its path was written.
    pub loc: Loc,
}

impl AttrSig {
    /// The declared type at `path`, when the path is this attribute or lies inside it; `Err`
    /// with the deepest declared prefix when the path goes where the declaration has nothing.
    pub fn type_at(&self, path: &[String]) -> Option<Result<&DeclTy, usize>> {
        let own = self.path.segments();
        let rest = path.strip_prefix(own)?;
        let mut ty = &self.ty;
        for (i, seg) in rest.iter().enumerate() {
            match ty {
                DeclTy::Record(fields) => match fields.iter().find(|(n, _)| n == seg) {
                    Some((_, t)) => ty = t,
                    None => return Some(Err(own.len() + i)),
                },
                _ => return Some(Err(own.len() + i)),
            }
        }
        Some(Ok(ty))
    }
}

/// A data file read while the bundle was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataInfo {
    /// The path it was read from, relative to the working directory like the policy names.
    pub name: String,
    pub bytes: u64,
    /// Distinct items.
    pub items: usize,
    /// `sha256:` of its bytes.
    pub digest: String,
    /// The sets read from it.
    pub sets: Vec<String>,
}

/// A type as declared for a tool argument.
#[derive(Clone, Debug, PartialEq)]
pub enum DeclTy {
    String,
    Number,
    Bool,
    List(Box<DeclTy>),
    Record(Vec<(String, DeclTy)>),
}

impl fmt::Display for DeclTy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeclTy::String => f.write_str("string"),
            DeclTy::Number => f.write_str("number"),
            DeclTy::Bool => f.write_str("bool"),
            DeclTy::List(t) => write!(f, "list<{t}>"),
            DeclTy::Record(fields) => {
                f.write_str("{")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{n}: {t}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// A named constant list.
#[derive(Clone, Debug)]
pub struct SetInfo {
    pub name: String,
    /// Shared with every test on the set: a million-item set is not copied per use.
    pub values: Arc<[Const]>,
    pub loc: Loc,
    /// The data file its items were read from, for `set NAME = file("…")`.
    pub file: Option<String>,
}

/// A policy block.
#[derive(Clone, Debug)]
pub struct PolicyInfo {
    pub name: String,
    pub description: Option<String>,
    pub doc: String,
    pub tags: Vec<String>,
    /// The `applies when` condition, if any (already AND-ed into every rule).
    pub applies: Option<Cond>,
    pub loc: Loc,
}

/// A rule with its whole condition: `applies ∧ when ∧ ¬unless`.
#[derive(Clone, Debug)]
pub struct Rule {
    /// `policy.rule`
    pub id: String,
    pub policy: usize,
    pub name: String,
    pub effect: Effect,
    pub cond: Cond,
    pub message: Option<String>,
    pub tags: Vec<String>,
    pub severity: Option<String>,
    pub doc: String,
    pub loc: Loc,
    /// Where the `when` and `unless` conditions were written.
    pub when_loc: Option<Loc>,
    pub unless_loc: Option<Loc>,
}

/// A condition: Kleene logic over atomic tests.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Const(bool),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// `has path`: true when the attribute is present; never unknown.
    Has(Attr, Loc),
    Test(Test),
}

impl Cond {
    /// Attributes the condition reads from the current event, with the type each must have
    /// there: the attributes reported as unknown when the condition comes out unknown.
    /// Conditions inside `count`/`sum`/`seen` read earlier events and are not included;
    /// their `per` keys are.
    pub fn attr_refs(&self, bundle: &Bundle) -> Vec<(Attr, Ty)> {
        fn walk(bundle: &Bundle, c: &Cond, out: &mut Vec<(Attr, Ty)>) {
            match c {
                Cond::Const(_) | Cond::Has(..) => {}
                Cond::And(ps) | Cond::Or(ps) => ps.iter().for_each(|p| walk(bundle, p, out)),
                Cond::Not(p) => walk(bundle, p, out),
                Cond::Test(t) => {
                    for op in t.operands() {
                        op.attr_refs(bundle, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(bundle, self, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// Visits every `count` / `sum` / `seen` the condition reads directly (not those inside
    /// their conditions).
    pub fn for_each_stateful(&self, f: &mut dyn FnMut(StatefulId)) {
        match self {
            Cond::Const(_) | Cond::Has(..) => {}
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.for_each_stateful(f)),
            Cond::Not(c) => c.for_each_stateful(f),
            Cond::Test(t) => t
                .operands()
                .into_iter()
                .for_each(|o| o.for_each_stateful(f)),
        }
    }

    /// Visits every atomic test, including those inside stateful conditions when `deep`.
    pub fn for_each_test<'a>(
        &'a self,
        bundle: &'a Bundle,
        deep: bool,
        f: &mut dyn FnMut(&'a Test),
    ) {
        match self {
            Cond::Const(_) | Cond::Has(..) => {}
            Cond::And(cs) | Cond::Or(cs) => {
                for c in cs {
                    c.for_each_test(bundle, deep, f);
                }
            }
            Cond::Not(c) => c.for_each_test(bundle, deep, f),
            Cond::Test(t) => {
                f(t);
                if deep {
                    for op in t.operands() {
                        op.for_each_stateful(&mut |id| {
                            if let Some(s) = bundle.stateful(id) {
                                s.cond.for_each_test(bundle, deep, f);
                            }
                        });
                    }
                }
            }
        }
    }
}

/// One atomic test, three-valued.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub kind: TestKind,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TestKind {
    /// `lhs OP rhs` on two values of the same scalar type (`<`… only on numbers).
    Cmp {
        op: CmpOp,
        lhs: Operand,
        rhs: Operand,
    },
    /// `lhs in [c, …]` / `lhs not in [c, …]` against constants of lhs's type.
    In {
        lhs: Operand,
        /// Distinct; a set's items are shared with the set ([`SetInfo::values`]).
        values: Arc<[Const]>,
        negated: bool,
    },
    /// `hay contains needle`, `needle in hay`: substring when `hay` is a string,
    /// membership when it is a list (decided by the value at run time when both are allowed).
    Contains {
        hay: Operand,
        needle: Operand,
        negated: bool,
    },
    /// `s starts_with t`
    StartsWith { lhs: Operand, rhs: Operand },
    /// `s ends_with t`
    EndsWith { lhs: Operand, rhs: Operand },
    /// `s matches r"re"`: regex search.
    Matches { lhs: Operand, pattern: Pattern },
    /// `s like "glob"`: whole-string glob with `*` and `?`.
    Like { lhs: Operand, pattern: Pattern },
    /// A boolean value used as a condition: a bool attribute or `seen(…)`.
    Truthy(Operand),
}

impl Test {
    /// The operands of the test, left to right.
    pub fn operands(&self) -> Vec<&Operand> {
        match &self.kind {
            TestKind::Cmp { lhs, rhs, .. }
            | TestKind::StartsWith { lhs, rhs }
            | TestKind::EndsWith { lhs, rhs } => vec![lhs, rhs],
            TestKind::Contains { hay, needle, .. } => vec![hay, needle],
            TestKind::In { lhs, .. }
            | TestKind::Matches { lhs, .. }
            | TestKind::Like { lhs, .. } => vec![lhs],
            TestKind::Truthy(op) => vec![op],
        }
    }
}

/// A compiled regex with the pattern it came from.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The text as written (a regex, or a glob for `like`).
    pub source: String,
    /// The regex actually run (for `like`, the translation of the glob).
    pub regex_source: String,
    pub regex: Arc<regex::Regex>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.regex_source == other.regex_source
    }
}

/// Something with a value.
#[derive(Clone, Debug, PartialEq)]
pub struct Operand {
    pub kind: OperandKind,
    /// The type this operand has where it is used.
    pub ty: Ty,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OperandKind {
    /// An attribute of the event, expected to have type `ty`.
    Attr(Attr),
    Const(Const),
    /// A pure function of one operand.
    Func(Func, Box<Operand>),
    /// `count(…)` (number), `sum(…)` (number) or `seen(…)` (bool).
    Stateful(StatefulId),
}

impl Operand {
    pub fn constant(&self) -> Option<&Const> {
        match &self.kind {
            OperandKind::Const(c) => Some(c),
            _ => None,
        }
    }

    /// Attributes this operand reads from the current event, with the type each must have.
    /// Inside `count`/`sum`/`seen` only the `per` keys count: the condition and summed value
    /// are read from earlier events.
    pub fn attr_refs(&self, bundle: &Bundle, out: &mut Vec<(Attr, Ty)>) {
        match &self.kind {
            OperandKind::Attr(a) => out.push((a.clone(), self.ty)),
            OperandKind::Const(_) => {}
            OperandKind::Func(_, inner) => inner.attr_refs(bundle, out),
            OperandKind::Stateful(id) => {
                if let Some(s) = bundle.stateful(*id) {
                    for p in &s.per {
                        out.push((p.clone(), Ty::Scalar));
                    }
                }
            }
        }
    }

    pub fn for_each_stateful(&self, f: &mut dyn FnMut(StatefulId)) {
        match &self.kind {
            OperandKind::Stateful(id) => f(*id),
            OperandKind::Func(_, inner) => inner.for_each_stateful(f),
            _ => {}
        }
    }
}

/// The pure functions of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    Lower,
    Upper,
    /// Characters of a string, or items of a list.
    Len,
    NormPath,
    UrlHost,
    Base64Decode,
    HexDecode,
    UrlDecode,
    Unescape,
    /// The text followed by every encoded piece of it, decoded.
    Decoded,
    Nfkc,
    Fold,
    /// `fold` of every item of a list of strings.
    FoldEach,
    Unleet,
    SqlStatements,
    SqlTables,
    SqlReadOnly,
    Secrets,
    Pii,
    PiiCount,
}

impl Func {
    pub fn name(self) -> &'static str {
        match self {
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Len => "len",
            Func::NormPath => "norm_path",
            Func::UrlHost => "url_host",
            Func::Base64Decode => "base64_decode",
            Func::HexDecode => "hex_decode",
            Func::UrlDecode => "url_decode",
            Func::Unescape => "unescape",
            Func::Decoded => "decoded",
            Func::Nfkc => "nfkc",
            Func::Fold => "fold",
            Func::FoldEach => "fold_each",
            Func::Unleet => "unleet",
            Func::SqlStatements => "sql_statements",
            Func::SqlTables => "sql_tables",
            Func::SqlReadOnly => "sql_read_only",
            Func::Secrets => "secrets",
            Func::Pii => "pii",
            Func::PiiCount => "pii_count",
        }
    }

    pub const ALL: [Func; 20] = [
        Func::Lower,
        Func::Upper,
        Func::Len,
        Func::NormPath,
        Func::UrlHost,
        Func::Base64Decode,
        Func::HexDecode,
        Func::UrlDecode,
        Func::Unescape,
        Func::Decoded,
        Func::Nfkc,
        Func::Fold,
        Func::FoldEach,
        Func::Unleet,
        Func::SqlStatements,
        Func::SqlTables,
        Func::SqlReadOnly,
        Func::Secrets,
        Func::Pii,
        Func::PiiCount,
    ];

    /// The type the argument must have: a string, for `len` a string or a list, for
    /// `fold_each` a list of strings.
    pub fn arg(self) -> Ty {
        match self {
            Func::Len => Ty::Seq,
            Func::FoldEach => Ty::List(Scalar::String),
            _ => Ty::String,
        }
    }

    /// The type of the result.
    pub fn result(self) -> Ty {
        match self {
            Func::Len | Func::PiiCount => Ty::Number,
            Func::SqlReadOnly => Ty::Bool,
            Func::SqlStatements | Func::SqlTables | Func::Secrets | Func::Pii | Func::FoldEach => {
                Ty::List(Scalar::String)
            }
            _ => Ty::String,
        }
    }

    /// Whether the function parses or scans its whole input (as opposed to the cheap string
    /// functions): the compiler tests such values after cheaper ones.
    pub fn is_costly(self) -> bool {
        !matches!(
            self,
            Func::Lower | Func::Upper | Func::Len | Func::NormPath | Func::UrlHost
        )
    }
}

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    String(String),
    Number(f64),
    Bool(bool),
}

impl Const {
    pub fn scalar(&self) -> Scalar {
        match self {
            Const::String(_) => Scalar::String,
            Const::Number(_) => Scalar::Number,
            Const::Bool(_) => Scalar::Bool,
        }
    }
}

impl fmt::Display for Const {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Const::String(s) => f.write_str(&ast::quote_string(s)),
            Const::Number(n) => f.write_str(&format_number(*n)),
            Const::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A constant as a hash key: equal exactly when the constants are (`-0` is `0`).
#[derive(Clone, Copy, Debug)]
struct ConstKey<'a>(&'a Const);

impl PartialEq for ConstKey<'_> {
    fn eq(&self, other: &ConstKey<'_>) -> bool {
        self.0 == other.0
    }
}

impl Eq for ConstKey<'_> {}

impl std::hash::Hash for ConstKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.0 {
            Const::String(s) => (0u8, s).hash(state),
            // Equal numbers hash alike: -0 is 0 (NaN never occurs).
            Const::Number(n) => (1u8, if *n == 0.0 { 0 } else { n.to_bits() }).hash(state),
            Const::Bool(b) => (2u8, b).hash(state),
        }
    }
}

/// `values` without repeats, each kept where it first occurs: linear time, so that a set of a
/// million items is as quick to read as it is to write down.
pub fn dedup_consts(values: Vec<Const>) -> Vec<Const> {
    let keep: Vec<bool> = {
        let mut seen: rustc_hash::FxHashSet<ConstKey<'_>> = rustc_hash::FxHashSet::default();
        seen.reserve(values.len());
        values.iter().map(|v| seen.insert(ConstKey(v))).collect()
    };
    if keep.iter().all(|k| *k) {
        return values;
    }
    values
        .into_iter()
        .zip(keep)
        .filter_map(|(v, k)| k.then_some(v))
        .collect()
}

/// A number the way govern prints it: integers without a fraction, others as Rust's shortest
/// round-trip form.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Scalar kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scalar {
    String,
    Number,
    Bool,
}

impl Scalar {
    pub fn name(self) -> &'static str {
        match self {
            Scalar::String => "string",
            Scalar::Number => "number",
            Scalar::Bool => "bool",
        }
    }
}

/// The type a value must have where it is used. A value of any other type is *unknown* there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ty {
    String,
    Number,
    Bool,
    /// A list whose items all have this scalar type.
    List(Scalar),
    /// A string, or a list of anything (for `len`).
    Seq,
    /// A string, or a list of this scalar type (for `contains`).
    StrOrList(Scalar),
    /// Any string, number or bool (`per` keys).
    Scalar,
    /// An RFC 3339 timestamp string (`ts`).
    Timestamp,
}

impl Ty {
    pub fn name(self) -> String {
        match self {
            Ty::String => "string".into(),
            Ty::Number => "number".into(),
            Ty::Bool => "bool".into(),
            Ty::List(s) => format!("list<{}>", s.name()),
            Ty::Seq => "string or list".into(),
            Ty::StrOrList(s) => format!("string or list<{}>", s.name()),
            Ty::Scalar => "string, number or bool".into(),
            Ty::Timestamp => "timestamp".into(),
        }
    }

    pub fn of_scalar(s: Scalar) -> Ty {
        match s {
            Scalar::String => Ty::String,
            Scalar::Number => Ty::Number,
            Scalar::Bool => Ty::Bool,
        }
    }

    /// The scalar kind, when this is a scalar type.
    pub fn scalar(self) -> Option<Scalar> {
        match self {
            Ty::String => Some(Scalar::String),
            Ty::Number => Some(Scalar::Number),
            Ty::Bool => Some(Scalar::Bool),
            _ => None,
        }
    }
}

/// An attribute path of the event, such as `agent.trust` or `args["x-y"]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attr(pub Arc<[String]>);

impl Attr {
    pub fn new<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Attr {
        Attr(segments.into_iter().map(Into::into).collect())
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Whether this is one of the two attributes derived from `ts`.
    pub fn is_time(&self) -> bool {
        matches!(self.segments(), [a, _] if a == "time")
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&ast::display_path(self.0.iter().map(String::as_str)))
    }
}

/// Index of a stateful call in [`Bundle::statefuls`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatefulId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatefulKind {
    Count,
    Sum,
    Seen,
}

impl StatefulKind {
    pub fn name(self) -> &'static str {
        match self {
            StatefulKind::Count => "count",
            StatefulKind::Sum => "sum",
            StatefulKind::Seen => "seen",
        }
    }
}

/// `count(COND [, within D] [, per …])`, `sum(PATH, COND [, within D] [, per …])` or
/// `seen(COND [, within D] [, per …])`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stateful {
    pub kind: StatefulKind,
    pub cond: Cond,
    /// Window length in nanoseconds; `None` means the whole stream.
    pub within: Option<i64>,
    /// Key attributes; `[session]` unless written.
    pub per: Vec<Attr>,
    /// The summed attribute (`sum` only).
    pub value: Option<Attr>,
    pub loc: Loc,
}
