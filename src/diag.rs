//! Diagnostics: what went wrong, where, and how to fix it.
//!
//! Every stage collects all of its problems as [`Diag`] values instead of stopping at the first.
//! A `Diag` names its file and byte span; [`render_human`] draws it with miette (source
//! snippet, labels, help) and [`Diag::to_json`] gives the same facts to machines.

use std::fmt;
use std::sync::Arc;

use crate::syntax::ast::Span;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A source file as read: its display name, its text, and where its lines start.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    line_starts: Arc<[usize]>,
    /// The name bundles record (see [`SourceFile::recorded_name`]), when not `name`.
    recorded: Option<Arc<str>>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> SourceFile {
        let text: Arc<str> = text.into();
        let line_starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|(_, b)| *b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            recorded: None,
        }
    }

    /// The same file, recorded in bundles under `recorded` (a path relative to the root it
    /// was found under) while messages keep showing `name`.
    pub fn with_recorded(mut self, recorded: impl Into<Arc<str>>) -> SourceFile {
        self.recorded = Some(recorded.into());
        self
    }

    /// The name a bundle records for this file (and its source digest covers): relative to
    /// the directory or file named on the command line, so that the same sources give the
    /// same bundle wherever they are and however they are named.
    pub fn recorded_name(&self) -> &str {
        self.recorded.as_deref().unwrap_or(&self.name)
    }

    /// The text of the 1-based line `line`, without its line break; `""` past the end.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = line.checked_sub(1).and_then(|i| self.line_starts.get(i)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, col)
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// A labelled span inside the diagnostic's file.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem found in the input.
#[derive(Clone, Debug)]
pub struct Diag {
    /// A stable identifier such as `govern::syntax` or `G0101`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// The file the labels point into, when there is one.
    pub file: Option<SourceFile>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// A path to a file that is not a policy source (YAML, JSONL, bundle), with a line.
    pub location: Option<Location>,
}

/// A position in a file that is not rendered with a snippet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Diag {
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Diag {
        Diag {
            code: code.into(),
            severity: Severity::Error,
            message: message.into(),
            file: None,
            labels: Vec::new(),
            help: None,
            location: None,
        }
    }

    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(code, message)
        }
    }

    pub fn with_severity(mut self, severity: Severity) -> Diag {
        self.severity = severity;
        self
    }

    /// Points the diagnostic at `span` of `file`, with a label.
    pub fn at(mut self, file: &SourceFile, span: Span, label: impl Into<String>) -> Diag {
        self.file = Some(file.clone());
        self.labels.push(Label {
            span,
            text: label.into(),
        });
        self
    }

    /// Adds a secondary label in the same file.
    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diag {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    /// Points the diagnostic at a line of a data file.
    pub fn in_file(mut self, path: impl Into<String>, line: Option<usize>) -> Diag {
        self.location = Some(Location {
            path: path.into(),
            line,
            column: None,
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The first label's span, if any.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    /// `file:line:col` of the primary label, or the data-file location.
    pub fn position(&self) -> Option<(String, usize, usize)> {
        if let (Some(file), Some(span)) = (&self.file, self.primary_span()) {
            let (l, c) = file.line_col(span.start as usize);
            return Some((file.name.clone(), l, c));
        }
        self.location.as_ref().map(|loc| {
            (
                loc.path.clone(),
                loc.line.unwrap_or(0),
                loc.column.unwrap_or(0),
            )
        })
    }

    /// The facts as JSON, one object per diagnostic.
    pub fn to_json(&self) -> serde_json::Value {
        let mut obj = serde_json::Map::new();
        obj.insert("severity".into(), self.severity.as_str().into());
        obj.insert("code".into(), self.code.clone().into());
        obj.insert("message".into(), self.message.clone().into());
        if let Some((path, line, col)) = self.position() {
            obj.insert("file".into(), path.into());
            if line > 0 {
                obj.insert("line".into(), line.into());
            }
            if col > 0 {
                obj.insert("column".into(), col.into());
            }
        }
        if let (Some(file), Some(span)) = (&self.file, self.primary_span()) {
            let (l, c) = file.line_col(span.end as usize);
            obj.insert("end_line".into(), l.into());
            obj.insert("end_column".into(), c.into());
        }
        if !self.labels.is_empty() {
            let labels: Vec<serde_json::Value> = self
                .labels
                .iter()
                .map(|l| {
                    let mut m = serde_json::Map::new();
                    m.insert("text".into(), l.text.clone().into());
                    if let Some(file) = &self.file {
                        let (line, col) = file.line_col(l.span.start as usize);
                        m.insert("line".into(), line.into());
                        m.insert("column".into(), col.into());
                    }
                    m.insert("offset".into(), l.span.start.into());
                    m.insert("length".into(), l.span.len().into());
                    serde_json::Value::Object(m)
                })
                .collect();
            obj.insert("labels".into(), labels.into());
        }
        if let Some(help) = &self.help {
            obj.insert("help".into(), help.clone().into());
        }
        serde_json::Value::Object(obj)
    }

    /// One line: `file:line:col: severity[code]: message`.
    pub fn short(&self) -> String {
        let mut s = String::new();
        if let Some((path, line, col)) = self.position() {
            s.push_str(&path);
            if line > 0 {
                s.push_str(&format!(":{line}"));
                if col > 0 {
                    s.push_str(&format!(":{col}"));
                }
            }
            s.push_str(": ");
        }
        s.push_str(&format!(
            "{}[{}]: {}",
            self.severity.as_str(),
            self.code,
            self.message
        ));
        s
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

/// Adapter that lets miette draw a [`Diag`].
struct MietteDiag<'a> {
    diag: &'a Diag,
    source: Option<miette::NamedSource<Arc<str>>>,
}

impl fmt::Debug for MietteDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for MietteDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (None, Some(loc)) = (&self.source, &self.diag.location) {
            write!(f, "{}", loc.path)?;
            if let Some(line) = loc.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": ")?;
        }
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for MietteDiag<'_> {}

impl miette::Diagnostic for MietteDiag<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.source.as_ref()?;
        Some(Box::new(self.diag.labels.iter().enumerate().map(
            |(i, l)| {
                let text = if l.text.is_empty() {
                    None
                } else {
                    Some(l.text.clone())
                };
                if i == 0 {
                    miette::LabeledSpan::new_primary_with_span(text, l.span)
                } else {
                    miette::LabeledSpan::new_with_span(text, l.span)
                }
            },
        )))
    }
}

/// How to draw diagnostics for people.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub color: bool,
    pub unicode: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            unicode: true,
            width: 100,
        }
    }
}

/// Lines longer than this (in characters) are not drawn in snippets: a generated file on one
/// line would fill the screen, and a label far along a line cannot be drawn at all.
const MAX_SNIPPET_LINE: usize = 500;

/// Whether a line the snippet of `diag` would show is too long to draw.
fn has_long_snippet_line(diag: &Diag) -> bool {
    let Some(file) = &diag.file else {
        return false;
    };
    diag.labels.iter().any(|l| {
        let first = file.line_col(l.span.start as usize).0;
        let last = file.line_col(l.span.end as usize).0;
        (first.saturating_sub(1)..=last + 1)
            .any(|n| file.line_text(n).chars().count() > MAX_SNIPPET_LINE)
    })
}

/// `diag` without its snippet: the position and the labels in words.
fn without_snippet(diag: &Diag) -> Diag {
    let mut plain = diag.clone();
    if let Some((path, line, column)) = diag.position() {
        // Only drawn, never read back: the position goes whole into the path.
        plain.location = Some(Location {
            path: format!("{path}:{line}:{column}"),
            line: None,
            column: None,
        });
    }
    let labels: Vec<&str> = diag
        .labels
        .iter()
        .map(|l| l.text.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    if !labels.is_empty() {
        plain.message = format!("{} ({})", diag.message, labels.join("; "));
    }
    plain.file = None;
    plain.labels.clear();
    plain
}

/// Draws one diagnostic with its source snippet.
pub fn render_human(diag: &Diag, opts: RenderOptions) -> String {
    if has_long_snippet_line(diag) {
        return render_human(&without_snippet(diag), opts);
    }
    let source = diag
        .file
        .as_ref()
        .map(|f| miette::NamedSource::new(f.name.clone(), f.text.clone()));
    let adapter = MietteDiag { diag, source };
    let theme = match (opts.unicode, opts.color) {
        (true, true) => miette::GraphicalTheme::unicode(),
        (true, false) => miette::GraphicalTheme::unicode_nocolor(),
        (false, true) => miette::GraphicalTheme::ascii(),
        (false, false) => miette::GraphicalTheme::none(),
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_context_lines(1);
    let mut out = String::new();
    if handler.render_report(&mut out, &adapter).is_err() {
        out = diag.short();
        out.push('\n');
    }
    out
}

/// Sorts diagnostics by file, position and message so that output is stable.
pub fn sort(diags: &mut [Diag]) {
    diags.sort_by(|a, b| {
        let ka = (
            a.file.as_ref().map(|f| f.name.clone()),
            a.primary_span().map(|s| (s.start, s.end)),
            a.message.clone(),
        );
        let kb = (
            b.file.as_ref().map(|f| f.name.clone()),
            b.primary_span().map(|s| (s.start, s.end)),
            b.message.clone(),
        );
        ka.cmp(&kb)
    });
}

/// The closest candidate to `name` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let d = edit_distance(name, cand);
        let limit = (name.chars().count().max(cand.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && cand < bc)) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance over characters, with adjacent transpositions counting as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let idx = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(x) = d.get_mut(idx(i, 0)) {
            *x = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(x) = d.get_mut(idx(0, j)) {
            *x = j;
        }
    }
    let get =
        |d: &Vec<usize>, i: usize, j: usize| d.get(idx(i, j)).copied().unwrap_or(usize::MAX / 2);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a.get(i - 1) != b.get(j - 1));
            let mut v = (get(&d, i - 1, j) + 1)
                .min(get(&d, i, j - 1) + 1)
                .min(get(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                v = v.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(x) = d.get_mut(idx(i, j)) {
                *x = v;
            }
        }
    }
    get(&d, a.len(), b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let text = "ab\ncdé\nf";
        let file = SourceFile::new("t", text);
        for (offset, want) in [
            (0, (1, 1)),
            (3, (2, 1)),
            (8, (3, 1)),
            (7, (2, 4)),
            (2, (1, 3)),
            (99, (3, 2)),
        ] {
            assert_eq!(line_col(text, offset), want, "{offset}");
            assert_eq!(file.line_col(offset), want, "{offset}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("agent.trsut", ["agent.trust", "agent.id"]),
            Some("agent.trust")
        );
        assert_eq!(did_you_mean("zzz", ["agent.trust"]), None);
        assert_eq!(edit_distance("abc", "acb"), 1);
    }
}
