//! Source text → syntax tree, one function per construct of the grammar.
//!
//! A file is first parsed whole. When that fails, the file is cut into items (and policies into
//! members) at the keywords that start them, and each piece is parsed on its own, so that every
//! syntax error in the file is reported rather than only the first.

use pest::Parser as _;
use pest::iterators::Pair;

use super::ast::*;
use crate::diag::{Diag, SourceFile};

mod generated {
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/govern.pest"]
    pub struct GovParser;
}

pub use generated::{GovParser, Rule as R};

/// The diagnostic code of every syntax error.
pub const SYNTAX: &str = "govern::syntax";

/// How deep parentheses, `not`, calls and types may nest. Every stage after the parser walks
/// conditions recursively; the limit keeps them all far from the end of the stack.
pub const MAX_NESTING: usize = crate::limits::POLICY_NESTING.max as usize;

/// Parses one file, reporting every syntax error it contains.
pub fn parse_file(file: &SourceFile) -> Result<File, Vec<Diag>> {
    let text: &str = &file.text;
    let mut b = Builder {
        file,
        base: 0,
        errors: Vec::new(),
        depth: 0,
    };
    match GovParser::parse(R::file, text) {
        Ok(mut pairs) => {
            let mut items = Vec::new();
            if let Some(file_pair) = pairs.next() {
                for p in file_pair.into_inner() {
                    if p.as_rule() == R::item
                        && let Some(item) = b.item(p)
                    {
                        items.push(item);
                    }
                }
            }
            if b.errors.is_empty() {
                Ok(File { items })
            } else {
                Err(b.errors)
            }
        }
        Err(first) => {
            let mut errors = recover(file);
            if errors.is_empty() {
                errors.push(pest_error(file, 0, &first));
            }
            crate::diag::sort(&mut errors);
            errors.dedup_by(|a, b| {
                a.message == b.message && a.primary_span() == b.primary_span() && same_pos(a, b)
            });
            Err(errors)
        }
    }
}

fn same_pos(a: &Diag, b: &Diag) -> bool {
    match (a.primary_span(), b.primary_span()) {
        (Some(x), Some(y)) => x.start == y.start && x.end == y.end,
        (None, None) => true,
        _ => false,
    }
}

/// Parses the pieces of a file that failed as a whole and returns all their errors.
fn recover(file: &SourceFile) -> Vec<Diag> {
    let text: &str = &file.text;
    let mut errors = Vec::new();
    for chunk in chunks(text, 0, 0, text.len()) {
        let Some(piece) = text.get(chunk.clone()) else {
            continue;
        };
        let err = match GovParser::parse(R::item_only, piece) {
            Ok(pairs) => {
                errors.extend(build_errors(file, chunk.start, pairs, R::item));
                continue;
            }
            Err(e) => e,
        };
        let pos = error_offset(&err) + chunk.start;
        // Inside a policy, parse each member on its own to find every error.
        let members = chunks(text, 1, chunk.start, chunk.end);
        let mut found = false;
        if is_policy_chunk(piece) && !members.is_empty() {
            for m in &members {
                let Some(mpiece) = text.get(m.clone()) else {
                    continue;
                };
                let trimmed = mpiece.trim_end();
                // The closing brace of the policy ends the last member.
                let body = trimmed.strip_suffix('}').unwrap_or(trimmed);
                match GovParser::parse(R::member_only, body) {
                    Err(e) => {
                        errors.push(pest_error_in(file, m.start, &e, Context::Member));
                        found = true;
                    }
                    Ok(pairs) => errors.extend(build_errors(file, m.start, pairs, R::rule)),
                }
            }
        }
        if !found || members.first().is_some_and(|m| pos < m.start) {
            // No member explains the error, or it sits in the policy header.
            errors.push(pest_error_in(file, chunk.start, &err, Context::Item));
        }
    }
    errors
}

/// The errors the builder finds in a piece that parsed (bad escapes, numbers out of range…):
/// the first pair of kind `what` is built as an item or a rule.
fn build_errors(
    file: &SourceFile,
    base: usize,
    pairs: pest::iterators::Pairs<'_, R>,
    what: R,
) -> Vec<Diag> {
    let mut b = Builder {
        file,
        base,
        errors: Vec::new(),
        depth: 0,
    };
    if let Some(p) = pairs.flatten().find(|p| p.as_rule() == what) {
        if what == R::rule {
            b.rule(p);
        } else {
            b.item(p);
        }
    }
    b.errors
}

fn is_policy_chunk(piece: &str) -> bool {
    let mut rest = piece.trim_start();
    loop {
        if rest.starts_with("///") || rest.starts_with("//") {
            rest = rest
                .find('\n')
                .map_or("", |i| rest.get(i + 1..).unwrap_or(""))
                .trim_start();
        } else if rest.starts_with('@') {
            // Skip an annotation up to the end of its line.
            rest = rest
                .find('\n')
                .map_or("", |i| rest.get(i + 1..).unwrap_or(""))
                .trim_start();
        } else {
            break;
        }
    }
    rest.starts_with("policy") && !rest.get(6..7).is_some_and(|c| c.chars().all(is_ident_char))
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `text[from..to]` into pieces that each start where an item (`depth == 0`) or a policy
/// member (`depth == 1`) starts, including the doc comments and annotations in front of it.
/// Strings and comments are skipped so that keywords inside them do not count.
fn chunks(text: &str, depth: usize, from: usize, to: usize) -> Vec<std::ops::Range<usize>> {
    let starters: &[&str] = if depth == 0 {
        &["tool", "attribute", "set", "default", "policy"]
    } else {
        &["rule", "description", "applies"]
    };
    let bytes = text.as_bytes();
    let mut starts: Vec<usize> = Vec::new();
    let mut level = 0usize;
    let mut i = from;
    // Where the doc comments / annotations in front of the next starter begin.
    let mut lead: Option<usize> = None;
    let mut prev_significant: u8 = b'\n';
    while i < to {
        let c = bytes.get(i).copied().unwrap_or(0);
        match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let is_doc = bytes.get(i + 2) == Some(&b'/') && bytes.get(i + 3) != Some(&b'/');
                if is_doc && level == depth && lead.is_none() {
                    lead = Some(i);
                }
                while i < to && bytes.get(i) != Some(&b'\n') {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < to {
                    match bytes.get(i) {
                        Some(b'\\') => i += 2,
                        Some(b'"') | Some(b'\n') => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                prev_significant = b'"';
                continue;
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"') | Some(b'#'))
                && !is_ident_byte(if i > 0 {
                    bytes.get(i - 1).copied().unwrap_or(0)
                } else {
                    0
                }) =>
            {
                // Raw string: r#*"…"#*
                let mut j = i + 1;
                let mut hashes = 0;
                while bytes.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if bytes.get(j) == Some(&b'"') {
                    j += 1;
                    'raw: while j < to {
                        if bytes.get(j) == Some(&b'"') {
                            let mut k = 0;
                            while k < hashes && bytes.get(j + 1 + k) == Some(&b'#') {
                                k += 1;
                            }
                            if k == hashes {
                                j += 1 + hashes;
                                break 'raw;
                            }
                        }
                        j += 1;
                    }
                    i = j;
                    prev_significant = b'"';
                    continue;
                }
            }
            b'{' => {
                level += 1;
                lead = None;
            }
            b'}' => {
                level = level.saturating_sub(1);
                lead = None;
            }
            b'@' if level == depth && lead.is_none() => lead = Some(i),
            c if is_ident_byte(c)
                && !is_ident_byte(if i > from {
                    bytes.get(i - 1).copied().unwrap_or(0)
                } else {
                    0
                }) =>
            {
                let mut j = i;
                while j < to && is_ident_byte(bytes.get(j).copied().unwrap_or(0)) {
                    j += 1;
                }
                let word = text.get(i..j).unwrap_or("");
                if level == depth && prev_significant != b'.' && starters.contains(&word) {
                    let start = lead.take().unwrap_or(i);
                    starts.push(start);
                } else if level == depth
                    && lead.is_some()
                    && !matches!(prev_significant, b'@' | b'(')
                {
                    // An annotation's name or arguments keep the lead; anything else drops it.
                    if !text.get(..i).is_some_and(|t| t.trim_end().ends_with('@')) {
                        lead = None;
                    }
                }
                prev_significant = bytes.get(j.saturating_sub(1)).copied().unwrap_or(0);
                i = j;
                continue;
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            prev_significant = c;
        }
        i += 1;
    }
    let mut out = Vec::new();
    if starts.is_empty() {
        if depth == 0 && text.get(from..to).is_some_and(|t| !t.trim().is_empty()) {
            out.push(from..to);
        }
        return out;
    }
    // Text before the first starter belongs to nothing at depth 1 (the policy header).
    if depth == 0
        && let Some(&first) = starts.first()
        && text.get(from..first).is_some_and(|t| !only_trivia(t))
    {
        out.push(from..first);
    }
    for (k, &s) in starts.iter().enumerate() {
        let e = starts.get(k + 1).copied().unwrap_or(to);
        out.push(s..e);
    }
    out
}

fn only_trivia(t: &str) -> bool {
    t.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || (l.starts_with("//") && !l.starts_with("///")) || l.starts_with("////")
    })
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn error_offset(e: &pest::error::Error<R>) -> usize {
    match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
}

/// What a piece parsed on its own stands for, so that its end is named rightly.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    File,
    Item,
    Member,
}

fn pest_error(file: &SourceFile, base: usize, e: &pest::error::Error<R>) -> Diag {
    pest_error_in(file, base, e, Context::File)
}

/// Turns a pest error into a diagnostic with a readable "expected …".
fn pest_error_in(file: &SourceFile, base: usize, e: &pest::error::Error<R>, ctx: Context) -> Diag {
    let pos = base + error_offset(e);
    let text: &str = &file.text;
    let found = found_at(text, pos);
    let span = if found.1 == 0 {
        // At the end of the text: point at its last visible character.
        let end = text.trim_end().len();
        let last = text
            .get(..end)
            .and_then(|t| t.chars().last())
            .map_or(0, char::len_utf8);
        Span::new(end.saturating_sub(last), end)
    } else {
        Span::new(pos, pos + found.1)
    };
    match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = Vec::new();
            let mut ends: &[&str] = &[];
            for r in positives {
                let found: &[&str] = match (r, ctx) {
                    (R::EOI, Context::Member) => {
                        ends = &["another rule", "`}`"];
                        continue;
                    }
                    (R::EOI, Context::Item) => {
                        ends = &["another item"];
                        continue;
                    }
                    _ => expected_names(*r),
                };
                for n in found {
                    if !names.contains(n) {
                        names.push(n);
                    }
                }
            }
            names.extend(ends.iter().copied());
            let expected = join_or(&names);
            let message = format!("unexpected {}", found.0);
            let label = if expected.is_empty() {
                "not valid here".to_string()
            } else {
                format!("expected {expected}")
            };
            let mut d = Diag::error(SYNTAX, message).at(file, span, label);
            if let Some(h) = syntax_help(text, pos, &names) {
                d = d.help(h);
            }
            d
        }
        // pest stops at its stack or call limit on absurdly nested input.
        pest::error::ErrorVariant::CustomError { message } if message.contains("limit reached") => {
            nested_too_deeply(file, span)
        }
        pest::error::ErrorVariant::CustomError { message } => {
            Diag::error(SYNTAX, message.clone()).at(file, span, "here")
        }
    }
}

/// The start of the message for input nested deeper than [`MAX_NESTING`].
const NESTED: &str = "nested too deeply";

/// The error for nesting deeper than [`MAX_NESTING`], pointing at the opening of the level at
/// `span.start` (a `(`, `{`, `not` or a function name with its `(`), not at its whole extent.
fn nested_too_deeply(file: &SourceFile, span: Span) -> Diag {
    let start = span.start as usize;
    let rest = file.text.get(start..).unwrap_or("");
    let word = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
    let len = match rest.get(word..word + 1) {
        _ if word == 0 => rest.chars().next().map_or(0, char::len_utf8),
        Some("(") => word + 1,
        _ => word,
    };
    Diag::error(
        SYNTAX,
        format!("{NESTED}: more than {MAX_NESTING} levels of parentheses, `not`, calls or types"),
    )
    .at(file, Span::new(start, start + len), "one level too many")
    .help("nest less deeply; a long condition can be split into several rules")
}

fn syntax_help(text: &str, pos: usize, expected: &[&str]) -> Option<String> {
    let rest = text.get(pos..).unwrap_or("");
    let before = text.get(..pos).unwrap_or("").trim_end();
    let line_start = text
        .get(..pos)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_end = rest.find('\n').map_or(text.len(), |i| pos + i);
    let line = text.get(line_start..line_end).unwrap_or("");
    let quotes = line
        .replace("\\\\", "")
        .replace("\\\"", "")
        .matches('"')
        .count();
    if quotes % 2 == 1 {
        return Some("a string on this line is missing its closing `\"`".into());
    }
    if before.ends_with("when") || before.ends_with("unless") {
        return Some("`when` and `unless` must be followed by a condition".into());
    }
    if rest.starts_with("&&") || rest.starts_with("||") {
        return Some("conditions combine with `and`, `or` and `not`".into());
    }
    if rest.starts_with('=') && !rest.starts_with("==") {
        return Some("compare with `==`".into());
    }
    if rest.starts_with('\'') {
        return Some("strings use double quotes: \"text\"".into());
    }
    if expected.contains(&"`:`") && rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some("a rule is written `rule NAME: EFFECT when CONDITION`".into());
    }
    if expected.contains(&"`)`") {
        return Some("an opening `(` is not closed".into());
    }
    None
}

/// A description of what stands at `pos`, and how many bytes to underline.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(c) = rest.chars().next() else {
        return ("end of file".into(), 0);
    };
    if c == '\n' || c == '\r' {
        return ("end of line".into(), 1);
    }
    if c.is_ascii_alphanumeric() || c == '_' {
        let n = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let word = rest.get(..n).unwrap_or("");
        return (format!("`{word}`"), n);
    }
    if c == '"' {
        return (
            "string".into(),
            rest.find('\n').unwrap_or(rest.len()).clamp(1, 40),
        );
    }
    let two = rest.get(..2).unwrap_or("");
    if ["==", "!=", "<=", ">=", "&&", "||"].contains(&two) {
        return (format!("`{two}`"), 2);
    }
    (format!("`{c}`"), c.len_utf8())
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [a] => (*a).to_string(),
        [rest @ .., last] => format!("{} or {}", rest.join(", "), last),
    }
}

/// What a grammar rule is called in an error message.
fn expected_names(r: R) -> &'static [&'static str] {
    match r {
        R::EOI => &["end of file"],
        R::item
        | R::tool_decl
        | R::attribute_decl
        | R::set_decl
        | R::default_decl
        | R::policy
        | R::kw_tool
        | R::kw_attribute
        | R::kw_set
        | R::kw_default
        | R::kw_policy => &["an item (`tool`, `attribute`, `set`, `default` or `policy`)"],
        R::file_source | R::kw_file => &["`file(\"…\")`"],
        R::doc => &["a doc comment"],
        R::annotation | R::at => &["an annotation"],
        R::policy_member | R::description | R::applies | R::rule => &["another rule"],
        R::kw_description | R::kw_applies | R::kw_rule => &["another rule"],
        R::effect | R::kw_escalate | R::kw_warn => {
            &["an effect (`allow`, `deny`, `escalate` or `warn`)"]
        }
        R::default_effect | R::kw_allow | R::kw_deny => &["`allow` or `deny`"],
        R::kw_when => &["`when`"],
        R::kw_unless => &["`unless`"],
        R::kw_because => &["`because`"],
        R::when_expr
        | R::unless_expr
        | R::expr
        | R::or_expr
        | R::and_expr
        | R::not_expr
        | R::not_op
        | R::test
        | R::value
        | R::paren
        | R::has_expr
        | R::call
        | R::call_arg => &["a condition or value"],
        R::kw_not => &["`not`"],
        R::kw_has => &["`has`"],
        R::test_tail
        | R::cmp_tail
        | R::in_tail
        | R::not_in_tail
        | R::str_tail
        | R::cmp_op
        | R::str_op
        | R::kw_in
        | R::kw_starts_with
        | R::kw_ends_with
        | R::kw_contains
        | R::kw_matches
        | R::kw_like => &["an operator"],
        R::kw_and | R::kw_or => &["`and`", "`or`"],
        R::within_arg | R::kw_within => &["`within`"],
        R::per_arg | R::kw_per => &["`per`"],
        R::path => &["an attribute path"],
        R::literal | R::boolean | R::kw_true | R::kw_false => &["a literal"],
        R::list_lit | R::list_item => &["a list"],
        R::duration => &["a duration such as `5m`"],
        R::number => &["a number"],
        R::string_lit | R::quoted_string | R::raw_string | R::escape => &["a string"],
        R::ident | R::field_name => &["a name"],
        R::param => &["an argument `name: type`"],
        R::type_expr | R::list_type | R::record_type => &["a type"],
        R::lparen => &["`(`"],
        R::rparen => &["`)`"],
        R::lbrace => &["`{`"],
        R::rbrace => &["`}`"],
        R::lbracket => &["`[`"],
        R::rbracket => &["`]`"],
        R::colon => &["`:`"],
        R::comma => &["`,`"],
        R::assign => &["`=`"],
        R::langle => &["`<`"],
        R::rangle => &["`>`"],
        R::file | R::rule_only | R::item_only | R::member_only => &[],
        R::WHITESPACE | R::COMMENT | R::ident_char | R::keyword => &[],
    }
}

fn is_punct(r: R) -> bool {
    matches!(
        r,
        R::lparen
            | R::rparen
            | R::lbrace
            | R::rbrace
            | R::lbracket
            | R::rbracket
            | R::colon
            | R::comma
            | R::assign
            | R::langle
            | R::rangle
            | R::at
    )
}

/// Turns pest pairs into syntax nodes; collects the errors the grammar cannot express.
struct Builder<'f> {
    file: &'f SourceFile,
    /// Offset of the parsed text inside the file.
    base: usize,
    errors: Vec<Diag>,
    /// How many parentheses, `not`s, calls or types enclose the node being built.
    depth: usize,
}

/// The children of a pair, without punctuation.
fn children(pair: Pair<'_, R>) -> Vec<Pair<'_, R>> {
    pair.into_inner()
        .filter(|p| !is_punct(p.as_rule()))
        .collect()
}

impl Builder<'_> {
    fn span(&self, p: &Pair<'_, R>) -> Span {
        let s = p.as_span();
        Span::new(self.base + s.start(), self.base + s.end())
    }

    /// Enters one more level of nesting at `span`; `false` (with an error reported once) when
    /// that is deeper than [`MAX_NESTING`]. Every `true` is paired with [`Builder::leave`].
    fn enter(&mut self, span: Span) -> bool {
        if self.depth >= MAX_NESTING {
            if !self.errors.iter().any(|d| d.message.starts_with(NESTED)) {
                self.errors.push(nested_too_deeply(self.file, span));
            }
            return false;
        }
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Builds a nested node with `f` one level deeper.
    fn nested<T>(&mut self, span: Span, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        if !self.enter(span) {
            return None;
        }
        let r = f(self);
        self.leave();
        r
    }

    fn internal(&mut self, span: Span, what: &str) {
        self.errors.push(
            Diag::error(
                SYNTAX,
                format!("internal parser error: unexpected shape of {what}"),
            )
            .at(self.file, span, "while reading this"),
        );
    }

    fn item(&mut self, pair: Pair<'_, R>) -> Option<Item> {
        let span = self.span(&pair);
        let mut meta = Meta::default();
        let mut result = None;
        for p in children(pair) {
            match p.as_rule() {
                R::doc => meta.docs.push(self.doc(&p)),
                R::annotation => {
                    if let Some(a) = self.annotation(p) {
                        meta.annotations.push(a);
                    }
                }
                R::tool_decl => {
                    result = self
                        .tool_decl(p, std::mem::take(&mut meta), span)
                        .map(Item::Tool)
                }
                R::set_decl => {
                    result = self
                        .set_decl(p, std::mem::take(&mut meta), span)
                        .map(Item::Set)
                }
                R::attribute_decl => {
                    result = self
                        .attribute_decl(p, std::mem::take(&mut meta), span)
                        .map(Item::Attribute)
                }
                R::default_decl => {
                    result = self
                        .default_decl(p, std::mem::take(&mut meta), span)
                        .map(Item::Default)
                }
                R::policy => {
                    result = self
                        .policy(p, std::mem::take(&mut meta), span)
                        .map(Item::Policy)
                }
                _ => {}
            }
        }
        if result.is_none() && self.errors.is_empty() {
            self.internal(span, "an item");
        }
        result
    }

    fn doc(&self, p: &Pair<'_, R>) -> Spanned<String> {
        let text = p.as_str();
        let body = text.strip_prefix("///").unwrap_or(text);
        let body = body.strip_prefix(' ').unwrap_or(body);
        Spanned::new(body.trim_end().to_string(), self.span(p))
    }

    fn annotation(&mut self, pair: Pair<'_, R>) -> Option<Annotation> {
        let span = self.span(&pair);
        let mut name = None;
        let mut args = Vec::new();
        for p in children(pair) {
            match p.as_rule() {
                R::ident => name = Some(self.ident(&p)),
                R::literal => args.extend(self.literal(p)),
                _ => {}
            }
        }
        Some(Annotation {
            name: name?,
            args,
            span,
        })
    }

    fn ident(&self, p: &Pair<'_, R>) -> Ident {
        Spanned::new(p.as_str().to_string(), self.span(p))
    }

    fn tool_decl(&mut self, pair: Pair<'_, R>, meta: Meta, item_span: Span) -> Option<ToolDecl> {
        let mut name = None;
        let mut params = Vec::new();
        for p in children(pair) {
            match p.as_rule() {
                R::ident => name = Some(self.ident(&p)),
                R::param => params.extend(self.param(p)),
                _ => {}
            }
        }
        Some(ToolDecl {
            meta,
            name: name?,
            params,
            span: item_span,
        })
    }

    fn param(&mut self, pair: Pair<'_, R>) -> Option<Param> {
        let span = self.span(&pair);
        let mut name = None;
        let mut quoted = false;
        let mut ty = None;
        for p in children(pair) {
            match p.as_rule() {
                R::field_name => {
                    let inner = p.into_inner().next()?;
                    if inner.as_rule() == R::string_lit {
                        quoted = true;
                        let sp = self.span(&inner);
                        let (s, _) = self.string(inner)?;
                        name = Some(Spanned::new(s, sp));
                    } else {
                        name = Some(self.ident(&inner));
                    }
                }
                R::type_expr => ty = self.type_expr(p),
                _ => {}
            }
        }
        Some(Param {
            name: name?,
            quoted,
            ty: ty?,
            span,
        })
    }

    fn type_expr(&mut self, pair: Pair<'_, R>) -> Option<TypeExpr> {
        let span = self.span(&pair);
        self.nested(span, |b| b.type_expr_inner(span, pair))
    }

    fn type_expr_inner(&mut self, span: Span, pair: Pair<'_, R>) -> Option<TypeExpr> {
        let inner = children(pair).into_iter().next()?;
        let kind = match inner.as_rule() {
            R::ident => TypeKind::Named(inner.as_str().to_string()),
            R::list_type => {
                let t = children(inner)
                    .into_iter()
                    .find(|p| p.as_rule() == R::type_expr)?;
                TypeKind::List(Box::new(self.type_expr(t)?))
            }
            R::record_type => {
                let mut fields = Vec::new();
                for p in children(inner) {
                    if p.as_rule() == R::param {
                        fields.extend(self.param(p));
                    }
                }
                TypeKind::Record(fields)
            }
            _ => return None,
        };
        Some(TypeExpr { kind, span })
    }

    fn set_decl(&mut self, pair: Pair<'_, R>, meta: Meta, item_span: Span) -> Option<SetDecl> {
        let mut name = None;
        let mut body = None;
        for p in children(pair) {
            match p.as_rule() {
                R::ident => name = Some(self.ident(&p)),
                R::list_lit => body = Some(SetBody::List(self.list_items(p))),
                R::file_source => {
                    let s = children(p)
                        .into_iter()
                        .find(|x| x.as_rule() == R::string_lit)?;
                    let sp = self.span(&s);
                    let (path, _) = self.string(s)?;
                    body = Some(SetBody::File(Spanned::new(path, sp)));
                }
                _ => {}
            }
        }
        Some(SetDecl {
            meta,
            name: name?,
            body: body?,
            span: item_span,
        })
    }

    fn attribute_decl(
        &mut self,
        pair: Pair<'_, R>,
        meta: Meta,
        item_span: Span,
    ) -> Option<AttributeDecl> {
        let mut path = None;
        let mut ty = None;
        for p in children(pair) {
            match p.as_rule() {
                R::path => path = self.path(p),
                R::type_expr => ty = self.type_expr(p),
                _ => {}
            }
        }
        Some(AttributeDecl {
            meta,
            path: path?,
            ty: ty?,
            span: item_span,
        })
    }

    fn default_decl(
        &mut self,
        pair: Pair<'_, R>,
        meta: Meta,
        item_span: Span,
    ) -> Option<DefaultDecl> {
        let eff = children(pair)
            .into_iter()
            .find(|p| p.as_rule() == R::default_effect)?;
        let span = self.span(&eff);
        let effect = match eff.as_str() {
            "allow" => Effect::Allow,
            _ => Effect::Deny,
        };
        Some(DefaultDecl {
            meta,
            effect: Spanned::new(effect, span),
            span: item_span,
        })
    }

    fn policy(&mut self, pair: Pair<'_, R>, meta: Meta, item_span: Span) -> Option<Policy> {
        let mut name = None;
        let mut description = None;
        let mut applies = None;
        let mut rules = Vec::new();
        let mut order = Vec::new();
        for p in children(pair) {
            match p.as_rule() {
                R::ident => name = Some(self.ident(&p)),
                R::policy_member => {
                    let Some(m) = p.into_inner().next() else {
                        continue;
                    };
                    match m.as_rule() {
                        R::description => {
                            let s = children(m)
                                .into_iter()
                                .find(|x| x.as_rule() == R::string_lit)?;
                            let sp = self.span(&s);
                            let (text, _) = self.string(s)?;
                            description = Some(Spanned::new(text, sp));
                            order.push(Member::Description);
                        }
                        R::applies => {
                            let e = children(m).into_iter().find(|x| x.as_rule() == R::expr)?;
                            applies = self.expr(e);
                            order.push(Member::Applies);
                        }
                        R::rule => {
                            if let Some(r) = self.rule(m) {
                                order.push(Member::Rule(rules.len()));
                                rules.push(r);
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Some(Policy {
            meta,
            name: name?,
            description,
            applies,
            rules,
            order,
            span: item_span,
        })
    }

    fn rule(&mut self, pair: Pair<'_, R>) -> Option<Rule> {
        let span = self.span(&pair);
        let mut meta = Meta::default();
        let mut name = None;
        let mut effect = None;
        let mut when = None;
        let mut unless = None;
        let mut because = None;
        for p in children(pair) {
            match p.as_rule() {
                R::doc => meta.docs.push(self.doc(&p)),
                R::annotation => {
                    if let Some(a) = self.annotation(p) {
                        meta.annotations.push(a);
                    }
                }
                R::ident => name = Some(self.ident(&p)),
                R::effect => {
                    let e = match p.as_str() {
                        "allow" => Effect::Allow,
                        "deny" => Effect::Deny,
                        "escalate" => Effect::Escalate,
                        _ => Effect::Warn,
                    };
                    effect = Some(Spanned::new(e, self.span(&p)));
                }
                R::when_expr => when = p.into_inner().next().and_then(|e| self.expr(e)),
                R::unless_expr => unless = p.into_inner().next().and_then(|e| self.expr(e)),
                R::string_lit => {
                    let sp = self.span(&p);
                    let (s, _) = self.string(p)?;
                    because = Some(Spanned::new(s, sp));
                }
                _ => {}
            }
        }
        Some(Rule {
            meta,
            name: name?,
            effect: effect?,
            when,
            unless,
            because,
            span,
        })
    }

    fn expr(&mut self, mut pair: Pair<'_, R>) -> Option<Expr> {
        // Wrappers with a single child are descended in a loop rather than by recursion, so
        // that each level of nesting costs few stack frames.
        loop {
            match pair.as_rule() {
                R::expr | R::when_expr | R::unless_expr | R::not_expr => {
                    pair = pair.into_inner().next()?;
                }
                R::or_expr | R::and_expr => {
                    let mut parts = pair
                        .clone()
                        .into_inner()
                        .filter(|p| !matches!(p.as_rule(), R::kw_or | R::kw_and));
                    match (parts.next(), parts.next()) {
                        (Some(only), None) => pair = only,
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        let span = self.span(&pair);
        match pair.as_rule() {
            R::expr | R::when_expr | R::unless_expr => {
                let inner = pair.into_inner().next()?;
                self.expr(inner)
            }
            R::or_expr | R::and_expr => {
                let is_or = pair.as_rule() == R::or_expr;
                let mut parts = Vec::new();
                for p in children(pair) {
                    if matches!(p.as_rule(), R::kw_or | R::kw_and) {
                        continue;
                    }
                    parts.push(self.expr(p)?);
                }
                if parts.len() == 1 {
                    return parts.pop();
                }
                let kind = if is_or {
                    ExprKind::Or(parts)
                } else {
                    ExprKind::And(parts)
                };
                Some(Expr { kind, span })
            }
            R::not_expr => {
                let inner = pair.into_inner().next()?;
                self.expr(inner)
            }
            R::not_op => {
                let inner = children(pair)
                    .into_iter()
                    .find(|p| p.as_rule() == R::not_expr)?;
                let e = self.nested(span, |b| b.expr(inner))?;
                Some(Expr {
                    kind: ExprKind::Not(Box::new(e)),
                    span,
                })
            }
            R::test => {
                let mut it = children(pair).into_iter();
                let lhs = self.value(it.next()?)?;
                let Some(tail) = it.next() else {
                    return Some(lhs);
                };
                let t = tail.into_inner().next()?;
                let kind = match t.as_rule() {
                    R::cmp_tail => {
                        let mut c = children(t).into_iter();
                        let op = match c.next()?.as_str() {
                            "==" => CmpOp::Eq,
                            "!=" => CmpOp::Ne,
                            "<=" => CmpOp::Le,
                            ">=" => CmpOp::Ge,
                            "<" => CmpOp::Lt,
                            _ => CmpOp::Gt,
                        };
                        let rhs = self.value(c.next()?)?;
                        ExprKind::Compare {
                            op,
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        }
                    }
                    R::in_tail | R::not_in_tail => {
                        let negated = t.as_rule() == R::not_in_tail;
                        let v = children(t).into_iter().find(|p| p.as_rule() == R::value)?;
                        let rhs = self.value(v)?;
                        ExprKind::In {
                            negated,
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        }
                    }
                    R::str_tail => {
                        let mut c = children(t).into_iter();
                        let op = match c.next()?.as_str() {
                            "starts_with" => StrOp::StartsWith,
                            "ends_with" => StrOp::EndsWith,
                            "contains" => StrOp::Contains,
                            "matches" => StrOp::Matches,
                            _ => StrOp::Like,
                        };
                        let rhs = self.value(c.next()?)?;
                        ExprKind::StrTest {
                            op,
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        }
                    }
                    _ => {
                        self.internal(span, "a test");
                        return None;
                    }
                };
                Some(Expr { kind, span })
            }
            R::value => self.value(pair),
            _ => {
                self.internal(span, "an expression");
                None
            }
        }
    }

    fn value(&mut self, pair: Pair<'_, R>) -> Option<Expr> {
        let span = self.span(&pair);
        let inner = pair.into_inner().next()?;
        let kind = match inner.as_rule() {
            R::literal => ExprKind::Literal(self.literal(inner)?),
            R::list_lit => ExprKind::List(self.list_items(inner)),
            R::has_expr => {
                let p = children(inner)
                    .into_iter()
                    .find(|p| p.as_rule() == R::path)?;
                ExprKind::Has(self.path(p)?)
            }
            R::call => {
                let mut name = None;
                let mut args = Vec::new();
                for p in children(inner) {
                    match p.as_rule() {
                        R::ident => name = Some(self.ident(&p)),
                        R::call_arg => args.push(self.nested(span, |b| b.call_arg(p))?),
                        _ => {}
                    }
                }
                ExprKind::Call { name: name?, args }
            }
            R::path => ExprKind::Path(self.path(inner)?),
            R::paren => {
                let e = children(inner)
                    .into_iter()
                    .find(|p| p.as_rule() == R::expr)?;
                return self.nested(span, |b| b.expr(e));
            }
            _ => {
                self.internal(span, "a value");
                return None;
            }
        };
        Some(Expr { kind, span })
    }

    fn call_arg(&mut self, pair: Pair<'_, R>) -> Option<CallArg> {
        let inner = pair.into_inner().next()?;
        match inner.as_rule() {
            R::within_arg => {
                let d = children(inner)
                    .into_iter()
                    .find(|p| p.as_rule() == R::duration)?;
                let sp = self.span(&d);
                Some(CallArg::Within(Spanned::new(self.duration(&d)?, sp)))
            }
            R::per_arg => {
                let span = self.span(&inner);
                let mut paths = Vec::new();
                for p in children(inner) {
                    if p.as_rule() == R::path {
                        paths.push(self.path(p)?);
                    }
                }
                Some(CallArg::Per(paths, span))
            }
            _ => Some(CallArg::Expr(self.expr(inner)?)),
        }
    }

    fn path(&mut self, pair: Pair<'_, R>) -> Option<Path> {
        let span = self.span(&pair);
        let mut segments = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                R::ident => segments.push(Segment {
                    name: p.as_str().to_string(),
                    quoted: false,
                    span: self.span(&p),
                }),
                R::string_lit => {
                    let sp = self.span(&p);
                    let (name, _) = self.string(p)?;
                    segments.push(Segment {
                        name,
                        quoted: true,
                        span: sp,
                    });
                }
                _ => {}
            }
        }
        Some(Path { segments, span })
    }

    fn list_items(&mut self, pair: Pair<'_, R>) -> Vec<ListItem> {
        let mut items = Vec::new();
        for p in children(pair) {
            if p.as_rule() != R::list_item {
                continue;
            }
            let Some(inner) = p.into_inner().next() else {
                continue;
            };
            match inner.as_rule() {
                R::literal => items.extend(self.literal(inner).map(ListItem::Literal)),
                R::ident => items.push(ListItem::Set(self.ident(&inner))),
                _ => {}
            }
        }
        items
    }

    fn literal(&mut self, pair: Pair<'_, R>) -> Option<Literal> {
        let span = self.span(&pair);
        let inner = pair.into_inner().next()?;
        let kind = match inner.as_rule() {
            R::boolean => LiteralKind::Bool(inner.as_str() == "true"),
            R::number => {
                let text = inner.as_str();
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => LiteralKind::Number(v, text.to_string()),
                    _ => {
                        self.errors.push(
                            Diag::error(SYNTAX, format!("number `{text}` is out of range")).at(
                                self.file,
                                span,
                                "not a finite 64-bit number",
                            ),
                        );
                        return None;
                    }
                }
            }
            R::duration => LiteralKind::Duration(self.duration(&inner)?),
            R::string_lit => {
                let (s, style) = self.string(inner)?;
                LiteralKind::String(s, style)
            }
            _ => return None,
        };
        Some(Literal { kind, span })
    }

    fn duration(&mut self, p: &Pair<'_, R>) -> Option<Duration> {
        let text = p.as_str();
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(digits_end);
        let unit = match unit {
            "ms" => DurationUnit::Millis,
            "s" => DurationUnit::Seconds,
            "m" => DurationUnit::Minutes,
            "h" => DurationUnit::Hours,
            _ => DurationUnit::Days,
        };
        let d = digits
            .parse::<u64>()
            .ok()
            .map(|amount| Duration { amount, unit });
        match d {
            Some(d) if d.nanos().is_some() => Some(d),
            _ => {
                self.errors.push(
                    Diag::error(SYNTAX, format!("duration `{text}` is too long")).at(
                        self.file,
                        self.span(p),
                        "longer than about 292 years",
                    ),
                );
                None
            }
        }
    }

    /// The value of a string literal and how it was written; reports bad escapes.
    fn string(&mut self, pair: Pair<'_, R>) -> Option<(String, StringStyle)> {
        let inner = pair.into_inner().next()?;
        let text = inner.as_str();
        let span = self.span(&inner);
        if inner.as_rule() == R::raw_string {
            let after_r = text.get(1..)?;
            let hashes = after_r.len() - after_r.trim_start_matches('#').len();
            let body = after_r.get(hashes + 1..after_r.len().saturating_sub(hashes + 1))?;
            return Some((
                body.to_string(),
                StringStyle::Raw(u8::try_from(hashes).unwrap_or(u8::MAX)),
            ));
        }
        let body = text.get(1..text.len().saturating_sub(1))?;
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices().peekable();
        let mut ok = true;
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let esc_start = span.start as usize + 1 + i;
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '0')) => out.push('\0'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\'')) => out.push('\''),
                Some((j, 'u')) => {
                    let rest = body.get(j + 1..).unwrap_or("");
                    let close = rest.find('}');
                    let code = if rest.starts_with('{') {
                        close
                            .and_then(|c| rest.get(1..c))
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                    } else {
                        None
                    };
                    match code.and_then(char::from_u32) {
                        Some(ch) => {
                            out.push(ch);
                            let skip = close.unwrap_or(0) + 1;
                            for _ in 0..skip {
                                chars.next();
                            }
                        }
                        None => {
                            ok = false;
                            self.errors.push(
                                Diag::error(SYNTAX, "invalid unicode escape")
                                    .at(self.file, Span::new(esc_start, esc_start + 2), "here")
                                    .help("write `\\u{…}` with 1 to 6 hex digits naming a Unicode scalar value"),
                            );
                        }
                    }
                }
                Some((_, other)) => {
                    ok = false;
                    let len = 1 + other.len_utf8();
                    self.errors.push(
                        Diag::error(SYNTAX, format!("unknown escape `\\{other}`"))
                            .at(self.file, Span::new(esc_start, esc_start + len), "not a valid escape")
                            .help("valid escapes: \\\" \\\\ \\n \\r \\t \\0 \\u{…}; for regexes use a raw string r\"…\""),
                    );
                }
                None => ok = false,
            }
        }
        if ok {
            Some((out, StringStyle::Quoted))
        } else {
            None
        }
    }
}
