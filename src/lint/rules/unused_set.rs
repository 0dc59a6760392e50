//! A `set` that nothing uses.
//!
//! A named list that no condition and no other set refers to is dead: often the rule that was
//! meant to use it tests a literal list instead, or another set with a similar name.
//!
//! **Example.**
//! ```gov
//! set secret_paths = ["/etc/shadow", "/etc/passwd"]
//! policy p { rule secrets: deny when args.path in ["/etc/shadow"] because "…" }
//! ```
//!
//! **Fix.** Use the set where it was meant (`args.path in secret_paths`), or delete it.
use std::collections::BTreeSet;

use crate::lint::walk;
use crate::lint::{Cx, Finding, Level, Lint};
use crate::syntax::ast::{ExprKind, Item, ListItem, SetBody};

pub const LINT: Lint = Lint {
    code: "G0211",
    name: "unused-set",
    level: Level::Warn,
    source: include_str!("unused_set.rs"),
    check,
};

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    let bundle = cx.bundle;
    let mut used: BTreeSet<String> = BTreeSet::new();
    for file in &bundle.asts {
        for item in &file.items {
            if let Item::Set(s) = item
                && let SetBody::List(items) = &s.body
            {
                for it in items {
                    if let ListItem::Set(name) = it {
                        used.insert(name.node.clone());
                    }
                }
            }
        }
    }
    walk::exprs(bundle, &mut |_, e| match &e.kind {
        ExprKind::In { rhs, .. } => {
            if let ExprKind::Path(p) = &rhs.kind
                && let [seg] = p.segments.as_slice()
            {
                used.insert(seg.name.clone());
            }
        }
        ExprKind::List(items) => {
            for it in items {
                if let ListItem::Set(name) = it {
                    used.insert(name.node.clone());
                }
            }
        }
        _ => {}
    });
    for s in &bundle.sets {
        if used.contains(&s.name) {
            continue;
        }
        out.push(
            Finding::new(format!("set `{}` is never used", s.name))
                .at(s.loc, "unused")
                .help(format!(
                    "use it (`… in {}`) where it was meant, or delete it",
                    s.name
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
            "G0211",
            "set s = [\"a\"]\npolicy p {\n rule r: allow when tool in s\n}",
        );
        pass(
            "G0211",
            "set s = [\"a\"]\nset t = [s, \"b\"]\npolicy p {\n rule r: allow when tool in t\n}",
        );
        pass(
            "G0211",
            "set s = [\"a\"]\npolicy p {\n rule r: allow when tool in [s, \"b\"]\n}",
        );
        fail(
            "G0211",
            "set s = [\"a\"]\npolicy p {\n rule r: allow when tool in [\"a\"]\n}",
        );
    }
}
