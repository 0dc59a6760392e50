//! A suppression that names a lint that does not exist.
//!
//! `// govern:allow(G0999) …` or a misspelled name suppresses nothing, so the finding it was
//! meant for is still reported; this says why.
//!
//! **Fix.** Use a code or name from `govern explain --all` (or `docs/lints.md`).
use crate::lint::{Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0002",
    name: "unknown-suppression",
    level: Level::Warn,
    source: include_str!("unknown_suppression.rs"),
    check: super::no_check,
};
