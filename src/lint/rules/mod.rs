//! The registry: one line per lint. Each lint's file holds its docs (`//!`), its check and its
//! pass/fail vectors.

mod allow_everything;
mod bidi_control;
mod case_sensitive;
mod conflicting_rules;
mod confusable_text;
mod constant_condition;
mod default_allow;
mod fails_closed_on_absent;
mod missing_because;
mod per_key_absent;
mod redundant_rule;
mod regex_class_word;
mod regex_dotstar_edges;
mod regex_unanchored;
mod regex_unescaped_dot;
mod shadowed_rule;
mod suppression_without_reason;
mod unknown_args_path;
mod unknown_suppression;
mod unreachable_rule;
mod unused_attribute;
mod unused_set;
mod unused_suppression;
mod unused_tool;
mod zero_window;

use super::Lint;

pub use suppression_without_reason::LINT as SUPPRESSION_WITHOUT_REASON;
pub use unknown_suppression::LINT as UNKNOWN_SUPPRESSION;
pub use unused_suppression::LINT as UNUSED_SUPPRESSION;

/// Every lint, in code order.
pub static ALL: &[&Lint] = &[
    &suppression_without_reason::LINT,
    &unknown_suppression::LINT,
    &unused_suppression::LINT,
    &unreachable_rule::LINT,
    &shadowed_rule::LINT,
    &redundant_rule::LINT,
    &conflicting_rules::LINT,
    &constant_condition::LINT,
    &allow_everything::LINT,
    &default_allow::LINT,
    &fails_closed_on_absent::LINT,
    &missing_because::LINT,
    &regex_class_word::LINT,
    &regex_unescaped_dot::LINT,
    &regex_unanchored::LINT,
    &regex_dotstar_edges::LINT,
    &case_sensitive::LINT,
    &bidi_control::LINT,
    &confusable_text::LINT,
    &unknown_args_path::LINT,
    &unused_tool::LINT,
    &unused_set::LINT,
    &zero_window::LINT,
    &per_key_absent::LINT,
    &unused_attribute::LINT,
];

/// Lints whose findings come from the suppression pass, not from a check of their own.
pub(crate) fn no_check(_: &mut super::Cx<'_>, _: &mut Vec<super::Finding>) {}

/// The text of a span of one of the bundle's files.
pub(crate) fn snippet(bundle: &crate::check::Bundle, loc: crate::check::Loc) -> String {
    bundle
        .file(loc)
        .and_then(|f| f.text.get(loc.span.range()))
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::diag::SourceFile;
    use crate::lint::{Cx, Finding};

    /// Runs one lint on one policy file.
    pub fn run(code: &str, src: &str) -> Vec<Finding> {
        let bundle = crate::check::check_sources(vec![SourceFile::new("t.gov", src)])
            .unwrap_or_else(|e| panic!("{}", e[0].message));
        let lint = crate::lint::find(code).unwrap();
        let mut cx = Cx::new(&bundle);
        let mut out = Vec::new();
        (lint.check)(&mut cx, &mut out);
        out
    }

    /// Asserts that the lint finds nothing.
    pub fn pass(code: &str, src: &str) {
        let found = run(code, src);
        assert!(
            found.is_empty(),
            "{code} should pass on:\n{src}\nfound: {found:#?}"
        );
    }

    /// Asserts that the lint finds something, and returns the findings.
    pub fn fail(code: &str, src: &str) -> Vec<Finding> {
        let found = run(code, src);
        assert!(!found.is_empty(), "{code} should find something in:\n{src}");
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_well_formed() {
        let mut codes = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for l in ALL {
            assert!(codes.insert(l.code), "duplicate code {}", l.code);
            assert!(names.insert(l.name), "duplicate name {}", l.name);
            assert!(l.code.len() == 5 && l.code.starts_with('G'));
            assert!(l.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(!l.docs().is_empty(), "{} has no docs", l.code);
        }
        let sorted: Vec<&str> = ALL.iter().map(|l| l.code).collect();
        let mut s2 = sorted.clone();
        s2.sort();
        assert_eq!(sorted, s2, "the registry is in code order");
    }
}
