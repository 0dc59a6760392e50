//! A declared attribute that no rule reads.
//!
//! `attribute PATH: TYPE` types an attribute the built-in request does not have. When no
//! condition, `per` key or `sum` reads it (nor any of its fields, nor `has` on it), the
//! declaration does nothing: often the rule meant to use it misspells it under another
//! declared name, or the policy that used it was removed.
//!
//! **Example.**
//! ```gov
//! attribute context.tenant: string
//! attribute context.region: string
//! policy p { rule eu: allow when context.tenant == "acme" }
//! ```
//!
//! **Fix.** Use the attribute where it was meant, or delete the declaration.
use crate::check::{Attr, Bundle, Cond, Operand, OperandKind};
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0214",
    name: "unused-attribute",
    level: Level::Warn,
    source: include_str!("unused_attribute.rs"),
    check,
};

/// Every attribute path the bundle reads: tests, `has`, `per` keys and summed values, inside
/// stateful conditions too.
fn read_paths(bundle: &Bundle) -> Vec<Attr> {
    fn operand(o: &Operand, out: &mut Vec<Attr>) {
        match &o.kind {
            OperandKind::Attr(a) => out.push(a.clone()),
            OperandKind::Func(_, inner) => operand(inner, out),
            OperandKind::Const(_) | OperandKind::Stateful(_) => {}
        }
    }
    fn cond(c: &Cond, out: &mut Vec<Attr>) {
        match c {
            Cond::Const(_) => {}
            Cond::And(ps) | Cond::Or(ps) => ps.iter().for_each(|p| cond(p, out)),
            Cond::Not(p) => cond(p, out),
            Cond::Has(a, _) => out.push(a.clone()),
            Cond::Test(t) => t.operands().into_iter().for_each(|o| operand(o, out)),
        }
    }
    let mut out = Vec::new();
    for r in &bundle.rules {
        cond(&r.cond, &mut out);
    }
    for s in &bundle.statefuls {
        cond(&s.cond, &mut out);
        out.extend(s.per.iter().cloned());
        out.extend(s.value.iter().cloned());
    }
    out
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    if bundle.attributes.is_empty() {
        return;
    }
    let read = read_paths(bundle);
    for a in &bundle.attributes {
        let own = a.path.segments();
        let used = read.iter().any(|r| {
            let r = r.segments();
            r.starts_with(own) || own.starts_with(r)
        });
        if used {
            continue;
        }
        out.push(
            Finding::new(format!("no rule reads the declared attribute `{}`", a.path))
                .at(a.loc, "declared, never read")
                .help(format!(
                    "use `{}` where it was meant, or delete the declaration",
                    a.path
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
            "G0214",
            "attribute context.tenant: string\npolicy p {\n rule r: allow when context.tenant == \"a\"\n}",
        );
        pass(
            "G0214",
            "attribute user: {id: string}\npolicy p {\n rule r: allow when has user\n}",
        );
        pass(
            "G0214",
            "attribute user: {id: string, n: number}\npolicy p {\n rule r: deny when sum(user.n, true, within 1m, per user.id) > 3 because \"x\"\n}",
        );
        let f = fail(
            "G0214",
            "attribute context.tenant: string\nattribute context.region: string\npolicy p {\n rule r: allow when context.tenant == \"a\"\n}",
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("`context.region`"), "{f:?}");
        fail(
            "G0214",
            "attribute agent.team: string\npolicy p {\n rule r: allow when agent.id == \"a\"\n}",
        );
    }
}
