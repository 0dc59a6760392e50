//! A declared tool that no rule names.
//!
//! Declaring a tool types its arguments; deciding its calls takes a rule. When no rule's
//! condition names the tool (by `tool == …`, `tool in […]`, a set, or a pattern on `tool`
//! that the name matches), its calls are decided only by rules that do not look at the tool
//! at all, and otherwise fall to the default (deny unless `default allow`). That is usually a
//! tool added to the catalogue and forgotten in the policies.
//!
//! **Example.**
//! ```gov
//! tool send_email(to: string, body: string)
//! policy p { rule search: allow when tool == "web_search" }
//! ```
//!
//! **Fix.** Write the rules for the tool, or remove its declaration.
use std::collections::BTreeSet;

use crate::check::{Cond, Const, OperandKind, TestKind};
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0210",
    name: "unused-tool",
    level: Level::Warn,
    source: include_str!("unused_tool.rs"),
    check,
};

/// A test on `tool` other than equality, applied to a tool name.
type NameTest = Box<dyn Fn(&str) -> bool>;

fn is_tool(o: &crate::check::Operand) -> bool {
    matches!(&o.kind, OperandKind::Attr(a) if a.segments() == ["tool"])
        || matches!(&o.kind, OperandKind::Func(_, inner) if is_tool(inner))
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut patterns: Vec<NameTest> = Vec::new();
    let mut visit = |c: &Cond| {
        c.for_each_test(bundle, true, &mut |t| match &t.kind {
            TestKind::Cmp { lhs, rhs, .. } => {
                for (x, y) in [(lhs, rhs), (rhs, lhs)] {
                    if is_tool(x)
                        && let Some(Const::String(s)) = y.constant()
                    {
                        named.insert(s.clone());
                        named.insert(crate::builtins::lower(s));
                    }
                }
            }
            TestKind::In { lhs, values, .. } if is_tool(lhs) => {
                for v in values.iter() {
                    if let Const::String(s) = v {
                        named.insert(s.clone());
                    }
                }
            }
            TestKind::Matches { lhs, pattern } | TestKind::Like { lhs, pattern }
                if is_tool(lhs) =>
            {
                let re = pattern.regex.clone();
                patterns.push(Box::new(move |n| re.is_match(n)));
            }
            TestKind::StartsWith { lhs, rhs } | TestKind::EndsWith { lhs, rhs } if is_tool(lhs) => {
                if let Some(Const::String(s)) = rhs.constant() {
                    let s = s.clone();
                    let starts = matches!(t.kind, TestKind::StartsWith { .. });
                    patterns.push(Box::new(move |n| {
                        if starts {
                            n.starts_with(&s)
                        } else {
                            n.ends_with(&s)
                        }
                    }));
                }
            }
            TestKind::Contains { hay, needle, .. } if is_tool(hay) => {
                if let Some(Const::String(s)) = needle.constant() {
                    let s = s.clone();
                    patterns.push(Box::new(move |n| n.contains(&s)));
                }
            }
            _ => {}
        });
    };
    for r in &bundle.rules {
        visit(&r.cond);
    }
    for s in &bundle.statefuls {
        visit(&s.cond);
    }
    for t in &bundle.tools {
        if named.contains(&t.name) || patterns.iter().any(|p| p(&t.name)) {
            continue;
        }
        out.push(
            Finding::new(format!("no rule names tool `{}`", t.name))
                .at(t.loc, "declared, never named")
                .help(format!(
                    "unless a rule that ignores the tool decides them, calls of `{}` fall to the default ({}); write its rules or remove the declaration",
                    t.name, bundle.default
                )),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0210",
            "tool a(x: string)\npolicy p {\n rule r: allow when tool == \"a\"\n}",
        );
        pass(
            "G0210",
            "tool a(x: string)\nset tset = [\"a\"]\npolicy p {\n rule r: allow when tool in tset\n}",
        );
        pass(
            "G0210",
            "tool mcp_a(x: string)\npolicy p {\n rule r: allow when tool starts_with \"mcp_\"\n}",
        );
        pass(
            "G0210",
            "tool a(x: string)\npolicy p {\n rule r: deny when count(tool == \"a\", within 1m) > 3 because \"x\"\n}",
        );
        let f = fail(
            "G0210",
            "tool a(x: string)\ntool b()\npolicy p {\n rule r: allow when tool == \"a\"\n}",
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("`b`"));
    }
}
