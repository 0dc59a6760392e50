//! Inline suppressions: `// govern:allow(CODE[, CODE…]) reason`.
//!
//! On a line of its own, a suppression applies to the next line that holds code; at the end of
//! a line, to that line. In both cases, when the target line starts an item (a rule, a tool, a
//! set, a `default` or a policy, counting its doc comments and annotations), it applies to
//! every finding inside that item; at the end of a line, so does an item that *ends* there
//! (`govern fmt` keeps an item's trailing comment on its last line). The reason is required: a suppression without one
//! suppresses nothing and is reported (`G0001`), as are unknown codes (`G0002`) and
//! suppressions that silence nothing (`G0003`).

use crate::check::{Bundle, Loc};
use crate::fmt::comments;
use crate::syntax::ast::{self, Span};

use super::{Finding, Levels, rules};

/// One parsed suppression comment.
#[derive(Clone, Debug)]
struct Suppression {
    file: u32,
    /// Where the comment is.
    span: Span,
    /// The 1-based line it applies to.
    target: usize,
    /// At the end of a line of code (not on a line of its own).
    trailing: bool,
    /// Codes of the lints it silences.
    codes: Vec<&'static str>,
    reason: String,
    used: bool,
}

const MARK: &str = "govern:allow(";

/// Applies the suppressions of every file to `findings`, and adds the findings about the
/// suppressions themselves.
pub fn apply(bundle: &Bundle, findings: Vec<Finding>, levels: &Levels) -> Vec<Finding> {
    let mut sups: Vec<Suppression> = Vec::new();
    let mut meta: Vec<Finding> = Vec::new();
    for (fi, file) in bundle.files.iter().enumerate() {
        let fi = u32::try_from(fi).unwrap_or(u32::MAX);
        let text: &str = &file.text;
        let lines: Vec<&str> = text.lines().collect();
        for c in comments::scan(text) {
            if c.doc {
                continue;
            }
            let body = c.text.trim_start_matches('/').trim_start();
            let Some(rest) = body.strip_prefix(MARK) else {
                continue;
            };
            let span = Span::new(c.start, c.end);
            let loc = Loc { file: fi, span };
            let Some(close) = rest.find(')') else {
                meta.push(
                    Finding::new("malformed suppression: no closing `)`")
                        .at(loc, "here")
                        .help("write `// govern:allow(CODE) reason`"),
                );
                continue;
            };
            let list = rest.get(..close).unwrap_or("");
            let reason = rest
                .get(close + 1..)
                .unwrap_or("")
                .trim()
                .trim_start_matches([':', '-', '—'])
                .trim()
                .to_string();
            let mut codes = Vec::new();
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match super::find(name) {
                    Some(l) => codes.push(l.code),
                    None => {
                        let mut f =
                            Finding::new(format!("`{name}` is not a lint")).at(loc, "unknown code");
                        f.code = rules::UNKNOWN_SUPPRESSION.code;
                        let names = rules::ALL.iter().flat_map(|l| [l.code, l.name]);
                        f = f.help(match crate::diag::did_you_mean(name, names) {
                            Some(s) => format!(
                                "did you mean `{s}`? `govern explain --all` lists the lints"
                            ),
                            None => "`govern explain --all` lists the lints".to_string(),
                        });
                        meta.push(f);
                    }
                }
            }
            if codes.is_empty() && list.trim().is_empty() {
                let mut f = Finding::new("the suppression names no lint").at(loc, "empty");
                f.code = rules::UNKNOWN_SUPPRESSION.code;
                meta.push(f.help("write `// govern:allow(CODE) reason`"));
                continue;
            }
            if codes.is_empty() {
                // Every name was unknown: already reported.
                continue;
            }
            if reason.is_empty() {
                let mut f =
                    Finding::new("this suppression has no reason, so it suppresses nothing")
                        .at(loc, "no reason")
                        .help(format!(
                            "write why after the parenthesis: `// govern:allow({list}) the reason`"
                        ));
                f.code = rules::SUPPRESSION_WITHOUT_REASON.code;
                meta.push(f);
                continue;
            }
            let target = if c.own_line {
                // The next line with code.
                let mut l = c.line + 1;
                while let Some(t) = lines.get(l - 1) {
                    let t = t.trim();
                    if t.is_empty() || (t.starts_with("//") && !t.starts_with("///")) {
                        l += 1;
                    } else {
                        break;
                    }
                }
                l
            } else {
                c.line
            };
            sups.push(Suppression {
                file: fi,
                span,
                target,
                trailing: !c.own_line,
                codes,
                reason,
                used: false,
            });
        }
    }
    // Line starts of each file, to find lines by binary search.
    let line_starts: Vec<Vec<usize>> = bundle
        .files
        .iter()
        .map(|f| {
            std::iter::once(0)
                .chain(f.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
        .collect();
    let line_of = |file: u32, offset: u32| -> usize {
        line_starts
            .get(file as usize)
            .map_or(0, |ls| ls.partition_point(|&s| s <= offset as usize))
    };
    // Items with the lines they start and end on, per file: a suppression on the line an item
    // starts on covers it whole, and so does one at the end of its last line (where `govern fmt`
    // leaves the trailing comment of an item it lays out over several lines).
    let item_spans: Vec<Vec<(usize, usize, Span)>> = bundle
        .asts
        .iter()
        .enumerate()
        .map(|(fi, ast)| {
            let fi = u32::try_from(fi).unwrap_or(u32::MAX);
            let mut v = Vec::new();
            if sups.iter().all(|s| s.file != fi) {
                return v;
            }
            let lines = |sp: Span| {
                let end = super::trimmed(bundle, Loc { file: fi, span: sp }).span.end;
                (
                    line_of(fi, sp.start),
                    line_of(fi, end.saturating_sub(1).max(sp.start)),
                )
            };
            for item in &ast.items {
                let sp = item.span();
                let (first, last) = lines(sp);
                v.push((first, last, sp));
                if let ast::Item::Policy(p) = item {
                    for r in &p.rules {
                        let (first, last) = lines(r.span);
                        v.push((first, last, r.span));
                    }
                }
            }
            v
        })
        .collect();
    let mut kept = Vec::with_capacity(findings.len());
    'findings: for f in findings {
        if let Some(loc) = f.loc.filter(|_| !sups.is_empty()) {
            let line = line_of(loc.file, loc.span.start);
            for s in sups.iter_mut() {
                if s.file != loc.file || !s.codes.contains(&f.code) {
                    continue;
                }
                let covers_item = item_spans.get(s.file as usize).is_some_and(|items| {
                    items.iter().any(|(first, last, sp)| {
                        (*first == s.target || (s.trailing && *last == s.target))
                            && sp.start <= loc.span.start
                            && loc.span.end <= sp.end
                    })
                });
                if line == s.target || covers_item {
                    s.used = true;
                    continue 'findings;
                }
            }
        }
        kept.push(f);
    }
    for s in &sups {
        // A suppression of lints that are all turned off cannot be used: not reported.
        let all_off = s
            .codes
            .iter()
            .all(|c| super::find(c).is_some_and(|l| levels.of(l).is_none()));
        if !s.used && !all_off {
            let mut f = Finding::new(format!(
                "this suppression of {} silences nothing",
                s.codes.join(", ")
            ))
            .at(
                Loc {
                    file: s.file,
                    span: s.span,
                },
                "unused",
            )
            .help(format!("delete it (its reason was: {})", s.reason));
            f.code = rules::UNUSED_SUPPRESSION.code;
            meta.push(f);
        }
    }
    for mut f in meta {
        let Some(lint) = super::find(f.code) else {
            continue;
        };
        let Some(level) = levels.of(lint) else {
            continue;
        };
        f.name = lint.name;
        f.level = level;
        kept.push(f);
    }
    kept
}

#[cfg(test)]
mod tests {
    use crate::diag::SourceFile;
    use crate::lint::{Levels, run};

    fn codes(src: &str) -> Vec<&'static str> {
        let b = crate::check::check_sources(vec![SourceFile::new("t.gov", src)]).unwrap();
        run(&b, &Levels::default())
            .unwrap()
            .iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn suppressions() {
        let plain = "policy p {\n rule a: deny when action == \"input\"\n}\n";
        assert_eq!(codes(plain), ["G0201"]);
        let above = "policy p {\n // govern:allow(G0201) the host adds its own message\n rule a: deny when action == \"input\"\n}\n";
        assert!(codes(above).is_empty());
        let end = "policy p {\n rule a: deny when action == \"input\" // govern:allow(missing-because) legacy\n}\n";
        assert!(codes(end).is_empty());
        let no_reason =
            "policy p {\n // govern:allow(G0201)\n rule a: deny when action == \"input\"\n}\n";
        assert_eq!(codes(no_reason), ["G0001", "G0201"]);
        let unknown =
            "policy p {\n // govern:allow(G9999) why\n rule a: allow when action == \"input\"\n}\n";
        assert_eq!(codes(unknown), ["G0002"]);
        let unused =
            "policy p {\n // govern:allow(G0201) why\n rule a: allow when action == \"input\"\n}\n";
        assert_eq!(codes(unused), ["G0003"]);
        // A suppression of a lint turned off in govern.toml is not "unused".
        let b = crate::check::check_sources(vec![SourceFile::new("t.gov", unused)]).unwrap();
        let mut levels = Levels::default();
        levels.overrides.insert("G0201".into(), None);
        assert!(run(&b, &levels).unwrap().is_empty());
        // Above the annotations of a rule: covers the rule.
        let annotated = "policy p {\n // govern:allow(G0201) why\n @tag(\"x\")\n rule a: deny when action == \"input\"\n}\n";
        assert!(codes(annotated).is_empty());
    }
}
