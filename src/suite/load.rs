//! Reading a suite file: YAML → typed suite → cases, each a list of events with expectations.
//!
//! Everything that can be decided without the policies is decided here: fixtures exist and
//! are mappings, matrices expand (and their expectation lists fit), stream steps get their
//! timestamps. A problem inside one case is kept with that case (it is reported as an error
//! and never runs); a problem with the file itself (YAML, unknown fields) fails the suite.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use super::lines::{LineIndex, Seg};
use super::spec::{CaseKind, ExpectOne, OneOrMany, Ordered, RawCase, RawExpect, RawStep, RawSuite};
use super::{BundleSpec, Case, Ev, Expect, StepRef, Suite, codes};
use crate::diag::{Diag, SourceFile};
use crate::yaml_path;

/// The most combinations one matrix may expand to.
pub const MAX_COMBINATIONS: usize = 10_000;
/// The most events one stream may send.
pub const MAX_STREAM_EVENTS: u64 = 1_000_000;
/// The most variants a suite may run its cases as.
pub const MAX_VARIANTS: usize = 64;

/// Reads and expands the suite at `path`.
pub fn load_file(path: &Path) -> Result<Suite, Vec<Diag>> {
    let name = crate::source::display(path);
    let bytes = crate::limits::read_file(path, crate::limits::SUITE).map_err(|e| {
        vec![Diag::error(codes::IO, format!("cannot read suite: {e}")).in_file(&name, None)]
    })?;
    if bytes.starts_with(crate::bytecode::MAGIC) {
        return Err(vec![
            Diag::error(codes::IO, "a compiled bundle (`.govb`), not a test suite")
            .in_file(&name, None)
            .help("`govern test` runs `*.test.yaml` suites; a suite names its bundle in `bundle:`"),
        ]);
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        vec![
            Diag::error(
                codes::IO,
                format!(
                    "the suite is not valid UTF-8 (byte {})",
                    e.utf8_error().valid_up_to()
                ),
            )
            .in_file(&name, None),
        ]
    })?;
    parse(path, &crate::source::without_bom(text))
}

/// Parses and expands suite text; `path` names the file and anchors relative bundle paths.
pub fn parse(path: &Path, text: &str) -> Result<Suite, Vec<Diag>> {
    let name = crate::source::display(path);
    let source = SourceFile::new(name.clone(), text);
    if text.trim().is_empty() {
        return Err(vec![
            Diag::error(codes::YAML, "the suite is empty")
                .in_file(&name, None)
                .help("a suite names a `bundle` and lists `tests`; docs/testing.md shows one"),
        ]);
    }
    if let Err(e) = crate::limits::check_yaml(text) {
        let d = Diag::error(codes::YAML, format!("invalid suite: {}", e.message))
            .help("a suite nests mappings and lists a few levels deep (docs/testing.md)");
        return Err(vec![at_line_col(
            d,
            &source,
            e.line,
            Some(e.column),
            "nested too deeply from here",
        )]);
    }
    let lines = LineIndex::build(text);
    // Duplicate keys first: serde reports some of them less precisely, others not at all.
    if !lines.duplicates.is_empty() {
        let errors = lines
            .duplicates
            .iter()
            .map(|(p, pos)| {
                let key = match p.last() {
                    Some(Seg::Key(k)) => k.as_str(),
                    _ => "",
                };
                let d = Diag::error(codes::YAML, format!("invalid suite: duplicate key `{key}`"))
                    .help("YAML keys must be unique in a mapping; remove one of them");
                at_line_col(
                    d,
                    &source,
                    pos.line,
                    Some(pos.column),
                    "written a second time",
                )
            })
            .collect();
        return Err(errors);
    }
    let raw: RawSuite = match serde_yaml::from_str(text) {
        Ok(r) => r,
        Err(e) => return Err(vec![yaml_error(&source, &e)]),
    };
    let mut suite = Suite {
        path: path.to_path_buf(),
        name,
        source,
        lines,
        bundle: BundleSpec::Sources(Vec::new()),
        cases: Vec::new(),
    };
    let mut errors = Vec::new();
    match resolve_bundle(path, &raw.bundle) {
        Ok(b) => suite.bundle = b,
        Err(m) => errors.push(
            suite
                .diag(&yaml_path!["bundle"], codes::SUITE, m, "here")
                .help("`bundle:` names policy files or directories, or one `.govb` file, relative to the suite"),
        ),
    }
    for (name, value) in &raw.variants.0 {
        if !value.is_object() {
            errors.push(
                suite
                    .diag(
                        &yaml_path!["variants", name.as_str()],
                        codes::SUITE,
                        format!("variant `{name}` is not a mapping"),
                        "a merge patch",
                    )
                    .help("a variant is a mapping merged over every request, e.g. `privileged: {agent: {roles: [admin]}}`; `{}` runs the requests as written"),
            );
        }
    }
    if raw.variants.0.len() > MAX_VARIANTS {
        errors.push(
            suite
                .diag(
                    &yaml_path!["variants"],
                    codes::SUITE,
                    format!(
                        "{} variants, more than {MAX_VARIANTS}",
                        raw.variants.0.len()
                    ),
                    "too many variants",
                )
                .help("split the suite"),
        );
    }
    for (name, value) in &raw.fixtures.0 {
        if !value.is_object() {
            errors.push(
                suite
                    .diag(
                        &yaml_path!["fixtures", name.as_str()],
                        codes::SUITE,
                        format!("fixture `{name}` is not a mapping"),
                        "a request template",
                    )
                    .help("a fixture is a request template: a mapping of attributes"),
            );
        }
    }
    if raw.tests.is_empty() {
        errors.push(
            suite
                .diag(
                    &yaml_path!["tests"],
                    codes::SUITE,
                    "the suite has no tests",
                    "empty",
                )
                .help("add cases under `tests:`"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, rc) in raw.tests.iter().enumerate() {
        let mut cases = expand_case(&suite, &raw.fixtures, rc.kind.or(raw.kind), i, rc);
        if !raw.variants.0.is_empty() {
            cases = cases
                .into_iter()
                .flat_map(|c| with_variants(c, &raw.variants))
                .collect();
        }
        for mut c in cases {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == c.name) {
                let first = *first;
                c.problems.push(
                    suite
                        .diag(
                            &yaml_path!["tests", i, "name"],
                            codes::SUITE,
                            format!("two cases are named `{}`", c.name),
                            "a second case with this name",
                        )
                        .help(format!(
                            "the first is at line {first}; names identify cases in reports and `--filter`"
                        )),
                );
            } else {
                seen.push((c.name.clone(), c.line.unwrap_or(0)));
            }
            suite.cases.push(c);
        }
    }
    Ok(suite)
}

/// A `serde_yaml` error as a diagnostic at its line.
fn yaml_error(source: &SourceFile, e: &serde_yaml::Error) -> Diag {
    // serde_yaml writes the position into the text; the diagnostic shows it already.
    let msg = e.to_string();
    let mut msg = match regex::Regex::new(r" at line \d+ column \d+") {
        Ok(re) => re.replace_all(&msg, "").into_owned(),
        Err(_) => msg,
    };
    // Name the shapes as the format does, not as the code does.
    for (rust, text) in [
        (
            "struct RawSuite",
            "a suite (a mapping with `bundle` and `tests`)",
        ),
        (
            "struct RawCase",
            "a case (a mapping with `name`, `request`, `expect`, …)",
        ),
        (
            "struct RawStep",
            "a stream step (a mapping with `request`, `expect`, …)",
        ),
        ("struct WarnFields", "a warning (`rule` and `message`)"),
        ("struct ExpectFields", "an expectation"),
    ] {
        msg = msg.replace(rust, text);
    }
    let help = if msg.contains("unknown field") {
        "remove the field or fix its spelling; docs/testing.md lists the fields of a suite"
    } else if msg.contains("missing field") {
        "add the field; docs/testing.md lists the fields of a suite"
    } else {
        "fix the YAML; docs/testing.md describes the suite format"
    };
    let label = if msg.contains("unknown field") {
        "unknown field"
    } else if msg.contains("missing field") {
        "in this mapping"
    } else {
        "here"
    };
    let d = Diag::error(codes::YAML, format!("invalid suite: {msg}")).help(help);
    match e.location() {
        Some(loc) => at_line_col(d, source, loc.line(), Some(loc.column()), label),
        None => d.in_file(&source.name, None),
    }
}

/// Points `d` at a line (and column) of `source`, with a snippet.
pub(crate) fn at_line_col(
    d: Diag,
    source: &SourceFile,
    line: usize,
    column: Option<usize>,
    label: &str,
) -> Diag {
    let text = &source.text;
    let mut start = 0usize;
    for _ in 1..line {
        match text.get(start..).and_then(|t| t.find('\n')) {
            Some(n) => start += n + 1,
            None => return d.in_file(&source.name, Some(line)),
        }
    }
    let rest = text.get(start..).unwrap_or("");
    let line_text = rest.split('\n').next().unwrap_or("");
    let line_text = line_text.trim_end_matches('\r');
    let from = match column {
        Some(c) if c > 0 => line_text
            .char_indices()
            .nth(c - 1)
            .map_or(line_text.len(), |(b, _)| b),
        _ => line_text.len() - line_text.trim_start().len(),
    };
    let to = from + token_len(line_text.get(from..).unwrap_or(""));
    let span = crate::syntax::ast::Span::new(start + from, start + to);
    d.at(source, span, label)
}

/// The length of the YAML node that starts `text` on its line: up to a `,`, `]` or `}` that
/// closes it, a comment, or the end of the line; brackets and quotes nest.
fn token_len(text: &str) -> usize {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) => {
                if c == q && prev != '\\' {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => depth += 1,
                ']' | '}' => {
                    if depth == 0 {
                        end = i;
                        break;
                    }
                    depth -= 1;
                }
                ',' if depth == 0 => {
                    end = i;
                    break;
                }
                '#' if prev == ' ' => {
                    end = i;
                    break;
                }
                _ => {}
            },
        }
        prev = c;
    }
    text.get(..end).map_or(0, |t| t.trim_end().len())
}

impl Suite {
    /// A diagnostic pointing at the node at `path` (or its nearest ancestor).
    pub fn diag(&self, path: &[Seg], code: &str, message: impl Into<String>, label: &str) -> Diag {
        let d = Diag::error(code, message);
        let exact = self.lines.pos(path);
        match exact {
            Some(p) => at_line_col(d, &self.source, p.line, Some(p.column), label),
            None => match self.lines.line_near(path) {
                Some(l) => at_line_col(d, &self.source, l, None, label),
                None => d.in_file(&self.name, None),
            },
        }
    }

    /// The line of the node at `path` or of its nearest ancestor.
    pub fn line(&self, path: &[Seg]) -> Option<usize> {
        self.lines.line_near(path)
    }
}

fn resolve_bundle(suite: &Path, names: &OneOrMany) -> Result<BundleSpec, String> {
    if names.0.is_empty() {
        return Err("`bundle` names no policies".into());
    }
    let dir = suite.parent().unwrap_or(Path::new(""));
    let paths: Vec<PathBuf> = names.0.iter().map(|n| normalize(&dir.join(n))).collect();
    let compiled = |p: &PathBuf| p.extension().is_some_and(|e| e == "govb");
    match paths.iter().filter(|p| compiled(p)).count() {
        0 => Ok(BundleSpec::Sources(paths)),
        1 if paths.len() == 1 => Ok(BundleSpec::Compiled(
            paths.into_iter().next().unwrap_or_default(),
        )),
        _ => Err("a compiled bundle (`.govb`) must be the only entry of `bundle`".into()),
    }
}

/// Removes `.` components and folds `a/..` lexically; an empty result is `.`.
pub fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// JSON merge patch (RFC 7386): mappings merge key by key, `null` removes a key, anything
/// else replaces.
pub fn merge(target: &mut Json, patch: &Json) {
    match patch {
        Json::Object(p) => {
            if !target.is_object() {
                *target = Json::Object(Map::new());
            }
            if let Json::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Json::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Parses an attribute path as the language writes it: `args.amount`, `args["x-y"].z`.
pub fn parse_attr_path(s: &str) -> Result<Vec<String>, String> {
    let mut segs = Vec::new();
    let mut rest = s;
    let bad = || format!("`{s}` is not an attribute path (write `args.amount` or `args[\"x-y\"]`)");
    loop {
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").ok_or_else(bad)?;
            segs.push(r.get(..end).unwrap_or("").to_string());
            rest = r.get(end + 2..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let ident = rest.get(..end).unwrap_or("");
            if ident.is_empty()
                || !ident
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                return Err(bad());
            }
            segs.push(ident.to_string());
            rest = rest.get(end..).unwrap_or("");
        }
        if rest.is_empty() {
            return Ok(segs);
        }
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            if rest.is_empty() || rest.starts_with('[') {
                return Err(bad());
            }
        } else if !rest.starts_with('[') {
            return Err(bad());
        }
    }
}

/// Sets (or, for `null`, removes) the attribute at `path`, creating mappings on the way.
pub fn set_path(target: &mut Json, path: &[String], value: &Json) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut at = target;
    for seg in init {
        if !at.is_object() {
            *at = Json::Object(Map::new());
        }
        let Json::Object(m) = at else { return };
        at = m
            .entry(seg.clone())
            .or_insert_with(|| Json::Object(Map::new()));
    }
    if !at.is_object() {
        *at = Json::Object(Map::new());
    }
    if let Json::Object(m) = at {
        if value.is_null() {
            m.remove(last);
        } else {
            m.insert(last.clone(), value.clone());
        }
    }
}

/// The longest matrix value shown whole in a case name.
const MAX_LABEL: usize = 48;

/// `key=value` in a case name; a value that is long or spans lines is shortened to its first
/// characters (line breaks and control characters escaped) and numbered by its position in the
/// matrix, `key#3=first words…`, so that names stay one line and distinct.
fn matrix_label(key: &str, pick: usize, v: &Json) -> String {
    let shown = show_value(v);
    if shown.chars().count() <= MAX_LABEL && !shown.chars().any(char::is_control) {
        return format!("{key}={shown}");
    }
    let mut short = String::new();
    for c in shown.chars() {
        if short.chars().count() >= 40 {
            break;
        }
        if c.is_control() {
            short.extend(c.escape_default());
        } else {
            short.push(c);
        }
    }
    format!("{key}#{}={short}…", pick + 1)
}

/// A matrix value as shown in a case name: strings bare, the rest as JSON.
fn show_value(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses `every`: digits and a unit `ms`, `s`, `m`, `h` or `d`.
pub fn parse_duration(s: &str) -> Option<i64> {
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    let (num, unit) = s.split_at_checked(digits)?;
    let n: i64 = num.parse().ok()?;
    let size: i64 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    };
    n.checked_mul(size)
}

/// Fixtures, then `request`: the request a case or step starts from.
fn build_request(
    suite: &Suite,
    fixtures: &Ordered<Json>,
    base: Option<&Json>,
    uses: &OneOrMany,
    request: Option<&Json>,
    path: &[Seg],
) -> Result<Json, Box<Diag>> {
    let mut req = base.cloned().unwrap_or_else(|| Json::Object(Map::new()));
    for (k, name) in uses.0.iter().enumerate() {
        match fixtures.0.iter().find(|(n, _)| n == name) {
            Some((_, f)) => merge(&mut req, f),
            None => {
                let mut p = path.to_vec();
                p.push(Seg::from("use"));
                if uses.0.len() > 1 {
                    p.push(Seg::Index(k));
                }
                let mut d = suite.diag(
                    &p,
                    codes::SUITE,
                    format!("no fixture named `{name}`"),
                    "unknown fixture",
                );
                let names = fixtures.0.iter().map(|(n, _)| n.as_str());
                d = match crate::diag::did_you_mean(name, names) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("define it under `fixtures:` at the top of the suite"),
                };
                return Err(Box::new(d));
            }
        }
    }
    if let Some(r) = request {
        if !r.is_object() {
            let mut p = path.to_vec();
            p.push(Seg::from("request"));
            return Err(Box::new(
                suite
                    .diag(
                        &p,
                        codes::SUITE,
                        "`request` is not a mapping",
                        "a request is a mapping of attributes",
                    )
                    .help("write the event as a mapping: `{action: tool_call, tool: web_search}`"),
            ));
        }
        merge(&mut req, r);
    }
    Ok(req)
}

/// The case once per variant: named `name @variant`, the variant's patch merged last into
/// every request.
fn with_variants(case: Case, variants: &Ordered<Json>) -> Vec<Case> {
    variants
        .0
        .iter()
        .map(|(name, patch)| {
            let mut c = case.clone();
            c.name = format!("{} @{name}", case.name);
            c.variant = Some(name.clone());
            for ev in &mut c.events {
                merge(&mut ev.request, patch);
            }
            c
        })
        .collect()
}

fn expand_case(
    suite: &Suite,
    fixtures: &Ordered<Json>,
    kind: Option<CaseKind>,
    i: usize,
    rc: &RawCase,
) -> Vec<Case> {
    let cases = expand_case_events(suite, fixtures, kind, i, rc);
    cases
        .into_iter()
        .map(|mut c| {
            c.kind = kind;
            c
        })
        .collect()
}

fn expand_case_events(
    suite: &Suite,
    fixtures: &Ordered<Json>,
    kind: Option<CaseKind>,
    i: usize,
    rc: &RawCase,
) -> Vec<Case> {
    let path = yaml_path!["tests", i].to_vec();
    let line = suite.line(&path);
    let broken = |d: Diag| {
        vec![Case {
            name: rc.name.clone(),
            line,
            events: Vec::new(),
            problems: vec![d],
            kind: None,
            variant: None,
        }]
    };
    let at = |field: &str| {
        let mut p = path.clone();
        p.push(Seg::from(field));
        p
    };
    if let Some(stream) = &rc.stream {
        if rc.matrix.is_some() {
            return broken(
                suite
                    .diag(
                        &at("matrix"),
                        codes::SUITE,
                        "a case has `matrix` or `stream`, not both",
                        "here",
                    )
                    .help("write one case per matrix value, or drop the matrix"),
            );
        }
        if rc.expect.is_some() {
            return broken(
                suite
                    .diag(
                        &at("expect"),
                        codes::SUITE,
                        "a stream case has no `expect` of its own",
                        "here",
                    )
                    .help("put `expect` on the stream steps it is about"),
            );
        }
        return match expand_stream(suite, fixtures, &path, rc, stream) {
            Ok(events) => vec![Case {
                name: rc.name.clone(),
                line,
                events,
                problems: Vec::new(),
                kind: None,
                variant: None,
            }],
            Err(d) => broken(*d),
        };
    }
    if rc.request.is_none() && rc.uses.0.is_empty() {
        return broken(
            suite
                .diag(&path, codes::SUITE, format!("case `{}` has no `request`", rc.name), "this case")
                .help("give the event under `request:` (or `use:` a fixture), or a `stream:` of steps"),
        );
    }
    // A case of a kind needs no `expect`: the kind is the expectation.
    let implied = kind.map(|k| RawExpect::One(k.expectation()));
    let Some(expect) = rc.expect.as_ref().or(implied.as_ref()) else {
        return broken(
            suite
                .diag(&path, codes::SUITE, format!("case `{}` has no `expect`", rc.name), "this case")
                .help("say what must happen: `expect: deny`, or `expect: {decision: deny, rules: [policy.rule]}`; or mark it `kind: attack` (must not be allowed) or `kind: benign` (must be allowed)"),
        );
    };
    let expect_path = if rc.expect.is_some() {
        at("expect")
    } else {
        path.clone()
    };
    let base = match build_request(suite, fixtures, None, &rc.uses, rc.request.as_ref(), &path) {
        Ok(b) => b,
        Err(d) => return broken(*d),
    };
    let Some(matrix) = &rc.matrix else {
        return match expect {
            RawExpect::One(e) => vec![Case {
                name: rc.name.clone(),
                line,
                events: vec![Ev {
                    request: base,
                    expect: Some(Expect {
                        one: e.clone(),
                        path: expect_path,
                    }),
                    step: None,
                }],
                problems: Vec::new(),
                kind: None,
                variant: None,
            }],
            RawExpect::List(_) => broken(
                suite
                    .diag(
                        &at("expect"),
                        codes::SUITE,
                        "a list of expectations needs a `matrix`",
                        "a list",
                    )
                    .help("write one expectation, or add a `matrix` with one combination per item"),
            ),
        };
    };
    // Matrix: parse paths, check sizes, expand in the order written (first key slowest).
    let mut axes: Vec<(Vec<String>, &str, &Vec<Json>)> = Vec::new();
    for (key, values) in &matrix.0 {
        let mut p = at("matrix");
        p.push(Seg::from(key.as_str()));
        let segs = match parse_attr_path(key) {
            Ok(s) => s,
            Err(m) => return broken(suite.diag(&p, codes::SUITE, m, "not a path")),
        };
        if values.is_empty() {
            return broken(
                suite
                    .diag(
                        &p,
                        codes::SUITE,
                        format!("matrix `{key}` has no values"),
                        "empty",
                    )
                    .help("list at least one value"),
            );
        }
        axes.push((segs, key.as_str(), values));
    }
    if axes.is_empty() {
        return broken(suite.diag(&at("matrix"), codes::SUITE, "the matrix is empty", "empty"));
    }
    let total = axes
        .iter()
        .try_fold(1usize, |n, (_, _, v)| n.checked_mul(v.len()))
        .unwrap_or(usize::MAX);
    if total > MAX_COMBINATIONS {
        return broken(
            suite
                .diag(
                    &at("matrix"),
                    codes::SUITE,
                    format!("the matrix expands to {total} cases, more than {MAX_COMBINATIONS}"),
                    "too many combinations",
                )
                .help("split it into several cases"),
        );
    }
    let expects: Vec<(ExpectOne, Vec<Seg>)> = match expect {
        RawExpect::One(e) => vec![(e.clone(), expect_path); total],
        RawExpect::List(list) => {
            if list.len() != total {
                return broken(
                    suite
                        .diag(
                            &at("expect"),
                            codes::SUITE,
                            format!(
                                "the matrix has {total} combination{} but `expect` lists {}",
                                if total == 1 { "" } else { "s" },
                                list.len()
                            ),
                            "one expectation per combination",
                        )
                        .help("list one expectation per combination, in order (the first matrix key varies slowest), or give a single expectation for all"),
                );
            }
            list.iter()
                .enumerate()
                .map(|(k, e)| {
                    let mut p = at("expect");
                    p.push(Seg::Index(k));
                    (e.clone(), p)
                })
                .collect()
        }
    };
    let mut cases = Vec::with_capacity(total);
    for (n, (e, epath)) in expects.into_iter().enumerate() {
        let mut req = base.clone();
        let mut rem = n;
        let mut picks = vec![0usize; axes.len()];
        for (k, (_, _, values)) in axes.iter().enumerate().rev() {
            if let Some(p) = picks.get_mut(k) {
                *p = rem % values.len();
            }
            rem /= values.len();
        }
        let mut label = Vec::new();
        for ((segs, key, values), pick) in axes.iter().zip(&picks) {
            let v = values.get(*pick).unwrap_or(&Json::Null);
            set_path(&mut req, segs, v);
            label.push(matrix_label(key, *pick, v));
        }
        cases.push(Case {
            name: format!("{} [{}]", rc.name, label.join(", ")),
            line,
            events: vec![Ev {
                request: req,
                expect: Some(Expect {
                    one: e,
                    path: epath,
                }),
                step: None,
            }],
            problems: Vec::new(),
            kind: None,
            variant: None,
        });
    }
    cases
}

fn expand_stream(
    suite: &Suite,
    fixtures: &Ordered<Json>,
    path: &[Seg],
    rc: &RawCase,
    steps: &[RawStep],
) -> Result<Vec<Ev>, Box<Diag>> {
    let mut spath = path.to_vec();
    spath.push(Seg::from("stream"));
    if steps.is_empty() {
        return Err(Box::new(suite.diag(
            &spath,
            codes::SUITE,
            "the stream has no steps",
            "empty",
        )));
    }
    if steps.iter().all(|s| s.expect.is_none()) {
        return Err(Box::new(
            suite
                .diag(
                    &spath,
                    codes::SUITE,
                    format!("no step of stream `{}` has `expect`", rc.name),
                    "nothing is checked",
                )
                .help("add `expect` to the steps whose decisions matter"),
        ));
    }
    let base = if rc.request.is_some() || !rc.uses.0.is_empty() {
        Some(build_request(
            suite,
            fixtures,
            None,
            &rc.uses,
            rc.request.as_ref(),
            path,
        )?)
    } else {
        None
    };
    let mut events = Vec::new();
    let mut clock: Option<i64> = None;
    let mut total: u64 = 0;
    for (k, step) in steps.iter().enumerate() {
        let mut p = spath.clone();
        p.push(Seg::Index(k));
        let at = |field: &str| {
            let mut q = p.clone();
            q.push(Seg::from(field));
            q
        };
        if step.request.is_none() && step.uses.0.is_empty() && base.is_none() {
            return Err(Box::new(suite
                .diag(&p, codes::SUITE, format!("step {} has no `request`", k + 1), "this step")
                .help("give each step a `request:` (or `use:` a fixture), or give the case a `request` the steps share")));
        }
        let req = build_request(
            suite,
            fixtures,
            base.as_ref(),
            &step.uses,
            step.request.as_ref(),
            &p,
        )?;
        let repeat = step.repeat.unwrap_or(1);
        if repeat == 0 {
            return Err(Box::new(
                suite
                    .diag(
                        &at("repeat"),
                        codes::SUITE,
                        "`repeat` is 0",
                        "send at least one event",
                    )
                    .help("remove the step, or repeat it at least once"),
            ));
        }
        total = total.saturating_add(repeat);
        if total > MAX_STREAM_EVENTS {
            return Err(Box::new(
                suite
                    .diag(
                        &at("repeat"),
                        codes::SUITE,
                        format!("the stream sends more than {MAX_STREAM_EVENTS} events"),
                        "too many",
                    )
                    .help("a smaller `repeat` exercises the same windows"),
            ));
        }
        let every =
            match &step.every {
                None => None,
                Some(s) => match parse_duration(s) {
                    Some(d) if d > 0 => Some(d),
                    _ => {
                        return Err(Box::new(suite
                        .diag(
                            &at("every"),
                            codes::SUITE,
                            format!("`{s}` is not a duration"),
                            "not a duration",
                        )
                        .help("write a whole number and a unit: `500ms`, `1s`, `5m`, `1h`, `1d`")));
                    }
                },
            };
        let own_ts = req.get("ts");
        let mut start = match own_ts {
            Some(Json::String(s)) => crate::time::parse_rfc3339(s),
            _ => None,
        };
        if start.is_none() && every.is_some() {
            if own_ts.is_some() {
                return Err(Box::new(
                    suite
                        .diag(
                            &at("request"),
                            codes::SUITE,
                            "`ts` is not an RFC 3339 timestamp, so `every` cannot advance it",
                            "here",
                        )
                        .help("write `ts` like `2026-11-23T10:00:00Z`"),
                ));
            }
            match (clock, every) {
                (Some(c), Some(d)) => start = c.checked_add(d),
                _ => {
                    return Err(Box::new(
                        suite
                            .diag(
                                &at("every"),
                                codes::SUITE,
                                "`every` needs a `ts` to start from",
                                "no time to advance",
                            )
                            .help("give this step's request (or an earlier step's) a `ts`"),
                    ));
                }
            }
        }
        let line = suite.line(&p);
        let expect = step.expect.as_ref().map(|e| Expect {
            one: e.clone(),
            path: at("expect"),
        });
        for r in 0..repeat {
            let mut ev = req.clone();
            if let Some(t0) = start {
                let t = match every {
                    Some(d) => i64::try_from(r)
                        .ok()
                        .and_then(|r| d.checked_mul(r))
                        .and_then(|o| t0.checked_add(o)),
                    None => Some(t0),
                };
                let Some(t) = t else {
                    return Err(Box::new(suite.diag(
                        &at("every"),
                        codes::SUITE,
                        "the timestamps of this step overflow",
                        "here",
                    )));
                };
                if every.is_some()
                    && (r > 0 || own_ts.is_none())
                    && let Json::Object(m) = &mut ev
                {
                    m.insert("ts".into(), Json::String(crate::time::format_rfc3339(t)));
                }
                clock = Some(t);
            }
            events.push(Ev {
                request: ev,
                expect: expect.clone(),
                step: Some(StepRef {
                    step: k + 1,
                    steps: steps.len(),
                    repeat: usize::try_from(r + 1).unwrap_or(usize::MAX),
                    repeats: usize::try_from(repeat).unwrap_or(usize::MAX),
                    line,
                }),
            });
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(text: &str) -> Suite {
        parse(Path::new("dir/s.test.yaml"), text).unwrap()
    }

    #[test]
    fn spans_cover_one_node() {
        assert_eq!(token_len("to: ACME, currency: EUR}"), "to: ACME".len());
        assert_eq!(
            token_len("expect: [allow, allow]"),
            "expect: [allow, allow]".len()
        );
        assert_eq!(token_len("\"a, b\"]"), 6);
        assert_eq!(token_len("x: 1  # note"), 4);
    }

    #[test]
    fn paths_and_merges() {
        assert_eq!(parse_attr_path("args.amount").unwrap(), ["args", "amount"]);
        assert_eq!(
            parse_attr_path("args[\"x-y\"].z").unwrap(),
            ["args", "x-y", "z"]
        );
        assert!(parse_attr_path("args.").is_err());
        assert!(parse_attr_path("").is_err());
        assert!(parse_attr_path("a b").is_err());
        let mut t = json!({"agent": {"id": "a", "roles": ["x"]}, "tool": "t"});
        merge(
            &mut t,
            &json!({"agent": {"roles": ["y"], "trust": 5}, "tool": null}),
        );
        assert_eq!(t, json!({"agent": {"id": "a", "roles": ["y"], "trust": 5}}));
        set_path(&mut t, &["args".into(), "n".into()], &json!(3));
        set_path(&mut t, &["agent".into(), "id".into()], &Json::Null);
        assert_eq!(
            t,
            json!({"agent": {"roles": ["y"], "trust": 5}, "args": {"n": 3}})
        );
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("./.")), PathBuf::from("."));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(parse_duration("1500ms"), Some(1_500_000_000));
        assert_eq!(parse_duration("2m"), Some(120_000_000_000));
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("m"), None);
    }

    #[test]
    fn fixtures_matrix_and_streams_expand() {
        let s = load(
            "bundle: ../p
fixtures:
  fin: {agent: {id: a1, roles: [finance]}, action: tool_call}
tests:
  - name: m
    use: fin
    request: {tool: pay, args: {to: x}}
    matrix: {args.amount: [1, 2], agent.trust: [10, ~]}
    expect: [allow, deny, escalate, allow]
  - name: s
    use: fin
    stream:
      - {request: {ts: \"2026-01-01T00:00:00Z\", tool: a}, repeat: 3, every: 1s, expect: allow}
      - {request: {tool: b}, every: 1m, expect: deny}
      - {request: {tool: c}}
",
        );
        assert_eq!(s.bundle, BundleSpec::Sources(vec![PathBuf::from("p")]));
        let names: Vec<&str> = s.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "m [args.amount=1, agent.trust=10]",
                "m [args.amount=1, agent.trust=null]",
                "m [args.amount=2, agent.trust=10]",
                "m [args.amount=2, agent.trust=null]",
                "s"
            ]
        );
        let second = &s.cases[1].events[0];
        assert_eq!(
            second.request,
            json!({"agent": {"id": "a1", "roles": ["finance"]}, "action": "tool_call", "tool": "pay", "args": {"to": "x", "amount": 1}})
        );
        assert_eq!(
            second.expect.as_ref().unwrap().one.decision,
            Some(crate::check::Verdict::Deny)
        );
        assert_eq!(s.cases[0].line, Some(5));
        let st = &s.cases[4];
        let ts: Vec<Option<&str>> = st
            .events
            .iter()
            .map(|e| e.request.get("ts").and_then(Json::as_str))
            .collect();
        assert_eq!(
            ts,
            [
                Some("2026-01-01T00:00:00Z"),
                Some("2026-01-01T00:00:01.000Z"),
                Some("2026-01-01T00:00:02.000Z"),
                Some("2026-01-01T00:01:02.000Z"),
                None
            ]
        );
        assert_eq!(st.events[3].step.as_ref().unwrap().line, Some(14));
        assert!(st.events[4].expect.is_none());
    }

    #[test]
    fn problems_are_kept_with_their_case() {
        let s = load(
            "bundle: p\ntests:\n  - name: a\n    request: {tool: x}\n    matrix: {args.n: [1, 2]}\n    expect: [allow]\n  - name: b\n    use: nope\n    expect: allow\n  - name: c\n    request: {tool: x}\n  - name: c\n    request: {tool: y}\n    expect: deny\n  - name: d\n    stream:\n      - {request: {tool: x}, every: 1s, expect: deny}\n",
        );
        let msgs: Vec<(String, Option<usize>)> = s
            .cases
            .iter()
            .flat_map(|c| {
                c.problems
                    .iter()
                    .map(|d| (d.message.clone(), d.position().map(|p| p.1)))
            })
            .collect();
        assert_eq!(
            msgs,
            [
                (
                    "the matrix has 2 combinations but `expect` lists 1".to_string(),
                    Some(6)
                ),
                ("no fixture named `nope`".to_string(), Some(8)),
                ("case `c` has no `expect`".to_string(), Some(10)),
                ("two cases are named `c`".to_string(), Some(12)),
                ("`every` needs a `ts` to start from".to_string(), Some(17)),
            ]
        );
    }

    #[test]
    fn file_errors_fail_the_suite() {
        let e = parse(
            Path::new("s.test.yaml"),
            "bundle: p\ntests:\n  - name: a\n    requets: {}\n",
        )
        .unwrap_err();
        assert_eq!(e[0].position().map(|p| p.1), Some(4));
        assert!(
            e[0].message.contains("unknown field `requets`"),
            "{}",
            e[0].message
        );
        let e = parse(Path::new("s.test.yaml"), "bundle: p\ntests: [\n").unwrap_err();
        assert!(e[0].position().is_some());
        let e = parse(
            Path::new("s.test.yaml"),
            "bundle: [a.govb, b.gov]\ntests: []\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 2);
    }
}
