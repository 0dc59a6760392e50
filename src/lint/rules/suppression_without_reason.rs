//! A `// govern:allow(…)` suppression without a reason.
//!
//! A suppression is a decision someone made about a finding; the reason is what lets the next
//! reviewer check it. `// govern:allow(G0201)` alone is not accepted: it suppresses nothing and
//! is reported.
//!
//! **Form.** `// govern:allow(CODE[, CODE…]) reason`, where each CODE is a lint code (`G0201`)
//! or name (`missing-because`). On a line of its own it applies to the next line with code
//! and, when that line starts a rule, a tool, a set or a policy, to all of it; at the end of a
//! line it applies to that line (and to what starts or ends there, so that it keeps working
//! when `govern fmt` lays a long rule out over several lines).
//!
//! **Example.**
//! ```gov
//! // govern:allow(missing-because) the host shows its own message for this rule
//! rule legacy: deny when tool == "ftp_upload"
//! ```
//!
//! **Fix.** Write why the finding does not apply after the closing parenthesis.
use crate::lint::{Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0001",
    name: "suppression-without-reason",
    level: Level::Warn,
    source: include_str!("suppression_without_reason.rs"),
    check: super::no_check,
};
