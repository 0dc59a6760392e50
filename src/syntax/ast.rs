//! The syntax tree of one `.gov` file. Every node carries the byte span it came from.
//!
//! Equality ignores spans (see [`Span`]), so two trees compare equal when they say the same
//! thing however they were laid out; `govern fmt` relies on that.

use std::fmt;

/// A byte range in one source file.
///
/// Spans never take part in equality: `Span == Span` is always true, so that syntax trees
/// compare by meaning. Compare `start`/`end` explicitly where positions matter.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> miette::SourceSpan {
        (s.start as usize, s.len()).into()
    }
}

/// A value together with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// A name as written.
pub type Ident = Spanned<String>;

/// One parsed file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

/// Doc comments and annotations in front of an item or rule.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Meta {
    /// The text of each `///` line, without the slashes and one leading space.
    pub docs: Vec<Spanned<String>>,
    pub annotations: Vec<Annotation>,
}

impl Meta {
    /// The doc comment lines joined with newlines.
    pub fn doc_text(&self) -> String {
        let lines: Vec<&str> = self.docs.iter().map(|d| d.node.as_str()).collect();
        lines.join("\n")
    }
}

/// `@name(args…)`
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    pub name: Ident,
    pub args: Vec<Literal>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Tool(ToolDecl),
    Attribute(AttributeDecl),
    Set(SetDecl),
    Default(DefaultDecl),
    Policy(Policy),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Tool(t) => t.span,
            Item::Attribute(a) => a.span,
            Item::Set(s) => s.span,
            Item::Default(d) => d.span,
            Item::Policy(p) => p.span,
        }
    }

    pub fn meta(&self) -> &Meta {
        match self {
            Item::Tool(t) => &t.meta,
            Item::Attribute(a) => &a.meta,
            Item::Set(s) => &s.meta,
            Item::Default(d) => &d.meta,
            Item::Policy(p) => &p.meta,
        }
    }
}

/// `tool NAME(arg: type, …)`
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDecl {
    pub meta: Meta,
    pub name: Ident,
    pub params: Vec<Param>,
    pub span: Span,
}

/// `name: type`
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    /// Whether the name was written as a quoted string.
    pub quoted: bool,
    pub ty: TypeExpr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeKind {
    /// `string`, `number`, `bool` or a misspelling of them (the checker reports it).
    Named(String),
    List(Box<TypeExpr>),
    Record(Vec<Param>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

/// `attribute PATH: type`
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeDecl {
    pub meta: Meta,
    pub path: Path,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `set NAME = [..]` or `set NAME = file("…")`
#[derive(Clone, Debug, PartialEq)]
pub struct SetDecl {
    pub meta: Meta,
    pub name: Ident,
    pub body: SetBody,
    pub span: Span,
}

/// Where a set's items come from.
#[derive(Clone, Debug, PartialEq)]
pub enum SetBody {
    /// `[a, b, …]`
    List(Vec<ListItem>),
    /// `file("path")`: the path as written (relative to the policy file), spanning the string.
    File(Spanned<String>),
}

/// `default allow|deny`
#[derive(Clone, Debug, PartialEq)]
pub struct DefaultDecl {
    pub meta: Meta,
    pub effect: Spanned<Effect>,
    pub span: Span,
}

/// `policy NAME { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub meta: Meta,
    pub name: Ident,
    pub description: Option<Spanned<String>>,
    pub applies: Option<Expr>,
    pub rules: Vec<Rule>,
    /// Members in the order written, for tools that reproduce the layout.
    pub order: Vec<Member>,
    pub span: Span,
}

/// Which kind of member came at a position inside a policy block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    Description,
    Applies,
    /// The index into `rules`.
    Rule(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    Allow,
    Deny,
    Escalate,
    Warn,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::Escalate => "escalate",
            Effect::Warn => "warn",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `rule NAME: EFFECT [when …] [unless …] [because "…"]`
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub meta: Meta,
    pub name: Ident,
    pub effect: Spanned<Effect>,
    pub when: Option<Expr>,
    pub unless: Option<Expr>,
    pub because: Option<Spanned<String>>,
    pub span: Span,
}

/// A condition or value expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether `a OP b` holds for two numbers: the meaning of the operator, shared by every
    /// evaluator.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }

    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Eq,
            CmpOp::Ne => CmpOp::Ne,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrOp {
    StartsWith,
    EndsWith,
    Contains,
    Matches,
    Like,
}

impl StrOp {
    pub fn as_str(self) -> &'static str {
        match self {
            StrOp::StartsWith => "starts_with",
            StrOp::EndsWith => "ends_with",
            StrOp::Contains => "contains",
            StrOp::Matches => "matches",
            StrOp::Like => "like",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    List(Vec<ListItem>),
    Path(Path),
    Call {
        name: Ident,
        args: Vec<CallArg>,
    },
    Has(Path),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Compare {
        op: CmpOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    In {
        negated: bool,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    StrTest {
        op: StrOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

/// One argument of a call.
#[derive(Clone, Debug, PartialEq)]
pub enum CallArg {
    Expr(Expr),
    /// `within 5m`, in nanoseconds.
    Within(Spanned<Duration>),
    /// `per a, b`
    Per(Vec<Path>, Span),
}

/// A duration literal, kept as written for printing and as nanoseconds for evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Duration {
    pub amount: u64,
    pub unit: DurationUnit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    Millis,
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl DurationUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::Millis => "ms",
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "m",
            DurationUnit::Hours => "h",
            DurationUnit::Days => "d",
        }
    }

    fn nanos(self) -> u64 {
        match self {
            DurationUnit::Millis => 1_000_000,
            DurationUnit::Seconds => 1_000_000_000,
            DurationUnit::Minutes => 60_000_000_000,
            DurationUnit::Hours => 3_600_000_000_000,
            DurationUnit::Days => 86_400_000_000_000,
        }
    }
}

impl Duration {
    /// The length in nanoseconds, or `None` when it does not fit in an `i64`.
    pub fn nanos(self) -> Option<i64> {
        let n = self.amount.checked_mul(self.unit.nanos())?;
        i64::try_from(n).ok()
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.as_str())
    }
}

/// A literal as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub kind: LiteralKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LiteralKind {
    Bool(bool),
    /// The value, and the text as written (so `1.50` prints back as `1.50`).
    Number(f64, String),
    /// The cooked value and whether it was written raw (`r"…"`).
    String(String, StringStyle),
    Duration(Duration),
}

/// How a string literal was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringStyle {
    Quoted,
    /// `r"…"` or `r#"…"#` with this many hashes.
    Raw(u8),
}

/// An item of a list literal: a literal or the name of a set.
#[derive(Clone, Debug, PartialEq)]
pub enum ListItem {
    Literal(Literal),
    Set(Ident),
}

/// An attribute path: `agent.trust`, `args["x-y"].z`.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub segments: Vec<Segment>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub name: String,
    /// Written as `["…"]` rather than `.name`.
    pub quoted: bool,
    pub span: Span,
}

impl Path {
    /// The path as a user would write it: `args.amount`, `args["x-y"]`.
    pub fn display(&self) -> String {
        display_path(self.segments.iter().map(|s| s.name.as_str()))
    }
}

/// Renders path segments the way they are written in policies.
pub fn display_path<'a>(segments: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, seg) in segments.into_iter().enumerate() {
        if is_plain_ident(seg) {
            if i > 0 {
                out.push('.');
            }
            out.push_str(seg);
        } else {
            out.push('[');
            out.push_str(&quote_string(seg));
            out.push(']');
        }
    }
    out
}

/// Whether `s` can be written as a bare name.
pub fn is_plain_ident(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !is_keyword(s)
}

/// Words that can never be names.
pub const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "has",
    "when",
    "unless",
    "because",
    "true",
    "false",
    "starts_with",
    "ends_with",
    "contains",
    "matches",
    "like",
    "within",
    "per",
];

pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// A string literal in source form, with the escapes the grammar accepts.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || hidden(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A character that does not show as itself: a bidirectional control (U+061C, U+200E,
/// U+200F, U+202A–U+202E, U+2066–U+2069), an invisible or zero-width one (U+00AD, U+180E,
/// U+200B–U+200D, U+2060–U+2064, U+FEFF) or a line or paragraph separator (U+2028, U+2029).
/// [`quote_string`] writes them as escapes so that a reviewer sees them.
pub fn hidden(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}
