//! An `args` attribute that no declared tool has.
//!
//! `tool` declarations are the catalogue of what agents may call and with which arguments.
//! A rule that reads `args.pth` when every tool declares `path` tests an attribute no
//! well-formed request carries: the test is always unknown, so an allow never fires and a
//! deny fires on every request that reaches it (fail-closed). Under a condition that fixes
//! the tool (`tool == "file_read" and args.pth …`) the checker already refuses this; this lint
//! covers conditions that do not name a tool.
//!
//! Only reported when the bundle declares at least one tool.
//!
//! **Example.**
//! ```gov
//! tool file_read(path: string)
//! policy p { rule secrets: deny when args.pth == "/etc/shadow" because "…" }
//! ```
//!
//! **Fix.** Correct the name, or declare the argument on the tool that has it.
use std::collections::BTreeSet;

use crate::check::{Attr, Bundle, Cond, Loc, OperandKind};
use crate::diag::did_you_mean;
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0209",
    name: "unknown-args-path",
    level: Level::Warn,
    source: include_str!("unknown_args_path.rs"),
    check,
};

/// Every attribute read by the bundle's conditions (rules and stateful calls), with where.
pub(crate) fn attr_uses(bundle: &Bundle) -> Vec<(Attr, Loc)> {
    fn op(o: &crate::check::Operand, loc: Loc, out: &mut Vec<(Attr, Loc)>) {
        match &o.kind {
            OperandKind::Attr(a) => out.push((a.clone(), loc)),
            OperandKind::Func(_, inner) => op(inner, loc, out),
            _ => {}
        }
    }
    fn cond(c: &Cond, out: &mut Vec<(Attr, Loc)>) {
        match c {
            Cond::Const(_) => {}
            Cond::And(ps) | Cond::Or(ps) => ps.iter().for_each(|p| cond(p, out)),
            Cond::Not(p) => cond(p, out),
            Cond::Has(a, loc) => out.push((a.clone(), *loc)),
            Cond::Test(t) => {
                for o in t.operands() {
                    op(o, t.loc, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for r in &bundle.rules {
        cond(&r.cond, &mut out);
    }
    for s in &bundle.statefuls {
        cond(&s.cond, &mut out);
        for p in s.per.iter().chain(s.value.iter()) {
            out.push((p.clone(), s.loc));
        }
    }
    out
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    if bundle.tools.is_empty() {
        return;
    }
    let declared: Vec<String> = bundle
        .tools
        .iter()
        .flat_map(|t| t.params.iter().map(|(n, _)| format!("args.{n}")))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut seen = BTreeSet::new();
    for (a, loc) in attr_uses(bundle) {
        let segs = a.segments();
        let (Some(root), Some(rest)) = (segs.first(), segs.get(1..)) else {
            continue;
        };
        if root != "args" || rest.is_empty() {
            continue;
        }
        if bundle.tools.iter().any(|t| t.arg_type(rest).is_some()) {
            continue;
        }
        if !seen.insert((a.clone(), loc.file, loc.span.start)) {
            continue;
        }
        let mut f = Finding::new(format!("no declared tool has `{a}`"))
            .at(loc, "always absent for declared tools");
        f = f.help(
            match did_you_mean(&a.to_string(), declared.iter().map(String::as_str)) {
                Some(s) => format!(
                    "did you mean `{s}`? declared arguments: {}",
                    declared.join(", ")
                ),
                None => format!(
                    "declared arguments: {}; declare it on the tool that has it",
                    declared.join(", ")
                ),
            },
        );
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0209",
            "policy p {\n rule a: allow when args.anything == \"x\"\n}",
        );
        pass(
            "G0209",
            "tool r(path: string)\npolicy p {\n rule a: deny when args.path == \"/x\" because \"y\"\n}",
        );
        let f = fail(
            "G0209",
            "tool r(path: string)\npolicy p {\n rule a: deny when args.pth == \"/x\" because \"y\"\n}",
        );
        assert!(f[0].help.as_ref().unwrap().contains("args.path"));
        fail(
            "G0209",
            "tool r(path: string)\npolicy p {\n rule a: deny when has args.pth because \"y\"\n}",
        );
    }
}
