//! A suppression that silences nothing.
//!
//! The finding it was written for is gone (the policy was fixed, or the lint no longer applies
//! there). Left in place, it would silence a future finding of the same lint on that line
//! without anyone deciding so.
//!
//! **Fix.** Delete the suppression.
use crate::lint::{Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0003",
    name: "unused-suppression",
    level: Level::Info,
    source: include_str!("unused_suppression.rs"),
    check: super::no_check,
};
