//! A `count`, `sum` or `seen` with a window of zero (`within 0s`).
//!
//! A window covers the earlier events with a stream time in `[now − D, now]`. With `D = 0`
//! that is a single instant, so the stateful value counts only events stamped with exactly
//! the same time: `count(…, within 0m) >= 3` is almost never true, and a rate limit written
//! that way almost never limits.
//!
//! **Example.**
//! ```gov
//! rule burst: deny when count(tool == "web_search", within 0s) >= 10 because "…"
//! ```
//!
//! **Fix.** Give the window its intended length (`within 1m`); for "ever before in this
//! stream", leave the window out (`count`, `sum` and `seen` all take none).
use crate::lint::walk;
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::{CallArg, ExprKind};

pub const LINT: Lint = Lint {
    code: "G0212",
    name: "zero-window",
    level: Level::Error,
    source: include_str!("zero_window.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    walk::exprs(cx.bundle, &mut |place, e| {
        let ExprKind::Call { name, args } = &e.kind else {
            return;
        };
        for a in args {
            if let CallArg::Within(d) = a
                && d.node.amount == 0
            {
                out.push(
                        Finding::new(format!("`{}` with a window of {} only sees events at the same instant", name.node, d.node))
                            .at(place.loc(d.span), "an empty window")
                            .help("give the window its intended length, such as `within 1m`; without `within` it covers the whole stream"),
                    );
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0212",
            "policy p {\n rule r: deny when count(tool == \"s\", within 1m) > 3 because \"x\"\n}",
        );
        pass(
            "G0212",
            "policy p {\n rule r: deny when seen(tool == \"s\") because \"x\"\n}",
        );
        fail(
            "G0212",
            "policy p {\n rule r: deny when count(tool == \"s\", within 0s) > 3 because \"x\"\n}",
        );
        fail(
            "G0212",
            "policy p {\n rule r: deny when sum(cost, tool == \"s\", within 0ms) > 3 because \"x\"\n}",
        );
    }
}
