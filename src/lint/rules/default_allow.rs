//! `default allow`: requests that no rule decides are allowed.
//!
//! govern is deny-by-default: without a `default`, a request no rule decides is denied. With
//! `default allow`, every new tool, every action the policies did not foresee and every typo
//! in a rule's condition silently permits. That can be a deliberate choice for an
//! observe-only rollout; it should not be an accident.
//!
//! **Example.**
//! ```gov
//! default allow
//! ```
//!
//! **Fix.** Remove the line (or write `default deny`) and allow what is needed explicitly, or
//! suppress this finding with the reason the bundle must be permissive.
use crate::check::Verdict;
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0107",
    name: "default-allow",
    level: Level::Warn,
    source: include_str!("default_allow.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    if bundle.default != Verdict::Allow {
        return;
    }
    let mut f = Finding::new("the bundle allows every request no rule decides")
        .help("remove `default allow` and allow what is needed explicitly; requests nobody foresaw are then denied");
    if let Some(loc) = bundle.default_loc {
        f = f.at(loc, "allow by default");
    }
    out.push(f);
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0107",
            "default deny\npolicy p {\n rule a: allow when tool == \"a\"\n}",
        );
        pass("G0107", "policy p {\n rule a: allow when tool == \"a\"\n}");
        fail(
            "G0107",
            "default allow\npolicy p {\n rule a: deny when tool == \"a\" because \"x\"\n}",
        );
    }
}
