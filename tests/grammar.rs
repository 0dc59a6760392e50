//! The grammar: every construct parses to the tree it should, precedence is right, and what
//! is not the language is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use govern::diag::SourceFile;
use govern::syntax::ast::*;
use govern::syntax::parse_file;

fn parse(text: &str) -> File {
    parse_file(&SourceFile::new("t.gov", text)).unwrap_or_else(|es| {
        let msgs: Vec<String> = es.iter().map(|e| e.short()).collect();
        panic!("refused:\n{text}\n{}", msgs.join("\n"))
    })
}

fn refused(text: &str) -> usize {
    match parse_file(&SourceFile::new("t.gov", text)) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(es) => es.len(),
    }
}

/// The `when` condition of the only rule of the only policy.
fn when(cond: &str) -> Expr {
    let f = parse(&format!("policy p {{ rule r: deny when {cond} }}"));
    match &f.items[0] {
        Item::Policy(p) => p.rules[0].when.clone().unwrap(),
        _ => panic!("no policy"),
    }
}

/// A compact rendering of an expression, to assert the shape of trees.
fn shape(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Literal(l) => match &l.kind {
            LiteralKind::Bool(b) => b.to_string(),
            LiteralKind::Number(_, t) => t.clone(),
            LiteralKind::String(s, _) => format!("{s:?}"),
            LiteralKind::Duration(d) => d.to_string(),
        },
        ExprKind::List(items) => format!("[{}]", items.len()),
        ExprKind::Path(p) => p.display(),
        ExprKind::Call { name, args } => {
            let a: Vec<String> = args
                .iter()
                .map(|a| match a {
                    CallArg::Expr(e) => shape(e),
                    CallArg::Within(d) => format!("within {}", d.node),
                    CallArg::Per(ps, _) => format!(
                        "per {}",
                        ps.iter().map(Path::display).collect::<Vec<_>>().join(" ")
                    ),
                })
                .collect();
            format!("{}({})", name.node, a.join(", "))
        }
        ExprKind::Has(p) => format!("has {}", p.display()),
        ExprKind::Not(e) => format!("not({})", shape(e)),
        ExprKind::And(es) => format!(
            "and({})",
            es.iter().map(shape).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Or(es) => format!(
            "or({})",
            es.iter().map(shape).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Compare { op, lhs, rhs } => {
            format!("({} {} {})", shape(lhs), op.as_str(), shape(rhs))
        }
        ExprKind::In { negated, lhs, rhs } => {
            format!(
                "({} {}in {})",
                shape(lhs),
                if *negated { "not " } else { "" },
                shape(rhs)
            )
        }
        ExprKind::StrTest { op, lhs, rhs } => {
            format!("({} {} {})", shape(lhs), op.as_str(), shape(rhs))
        }
    }
}

#[test]
fn precedence() {
    assert_eq!(
        shape(&when("a.b == 1 or c == 2 and d == 3")),
        "or((a.b == 1), and((c == 2), (d == 3)))"
    );
    assert_eq!(
        shape(&when("(a == 1 or b == 2) and c == 3")),
        "and(or((a == 1), (b == 2)), (c == 3))"
    );
    assert_eq!(shape(&when("not x in [1, 2]")), "not((x in [2]))");
    assert_eq!(shape(&when("x not in [1]")), "(x not in [1])");
    assert_eq!(shape(&when("not not has a")), "not(not(has a))");
    assert_eq!(shape(&when("a and b and c")), "and(a, b, c)");
    assert_eq!(shape(&when("a or b or c")), "or(a, b, c)");
    assert_eq!(shape(&when("not a and b")), "and(not(a), b)");
}

#[test]
fn every_operator() {
    for op in ["==", "!=", "<", "<=", ">", ">="] {
        assert_eq!(shape(&when(&format!("a {op} 1"))), format!("(a {op} 1)"));
    }
    for op in ["starts_with", "ends_with", "contains", "matches", "like"] {
        assert_eq!(
            shape(&when(&format!("a {op} \"x\""))),
            format!("(a {op} \"x\")")
        );
    }
    assert_eq!(
        shape(&when("\"x\" in agent.roles")),
        "(\"x\" in agent.roles)"
    );
    assert_eq!(shape(&when("tool in my_set")), "(tool in my_set)");
}

#[test]
fn calls_and_stateful_arguments() {
    assert_eq!(
        shape(&when("lower(url_host(args.u)) == \"x\"")),
        "(lower(url_host(args.u)) == \"x\")"
    );
    assert_eq!(
        shape(&when(
            "count(tool == \"s\", within 1m, per agent.id, tool) >= 10"
        )),
        "(count((tool == \"s\"), within 1m, per agent.id tool) >= 10)"
    );
    assert_eq!(
        shape(&when("sum(cost, true, within 1h) > 5")),
        "(sum(cost, true, within 1h) > 5)"
    );
    assert_eq!(
        shape(&when("seen(tool == \"a\" and seen(tool == \"b\"))")),
        "seen(and((tool == \"a\"), seen((tool == \"b\"))))"
    );
    assert_eq!(
        shape(&when("seen(x, within 500ms)")),
        "seen(x, within 500ms)"
    );
}

#[test]
fn literals() {
    assert_eq!(shape(&when("a == -12.5e3")), "(a == -12.5e3)");
    assert_eq!(
        shape(&when(r#"a == "q\"\\\n\t\u{e9}""#)),
        "(a == \"q\\\"\\\\\\n\\té\")"
    );
    assert_eq!(
        shape(&when(r##"a matches r#"say "hi""#"##)),
        "(a matches \"say \\\"hi\\\"\")"
    );
    assert_eq!(
        shape(&when(r#"a matches r"\d+\.""#)),
        "(a matches \"\\\\d+\\\\.\")"
    );
    for d in ["500ms", "30s", "5m", "1h", "7d"] {
        assert_eq!(
            shape(&when(&format!("count(true, within {d}) > 1"))),
            format!("(count(true, within {d}) > 1)")
        );
    }
    assert_eq!(
        shape(&when("a == true or b == false")),
        "or((a == true), (b == false))"
    );
}

#[test]
fn paths() {
    assert_eq!(
        shape(&when(r#"args["x-y"].z == 1"#)),
        r#"(args["x-y"].z == 1)"#
    );
    assert_eq!(shape(&when(r#"args["in"] == 1"#)), r#"(args["in"] == 1)"#);
    assert_eq!(shape(&when("tool == \"x\"")), "(tool == \"x\")");
    // Words that are keywords only where items start are attributes elsewhere.
    assert_eq!(
        shape(&when("policy == 1 and rule == 2")),
        "and((policy == 1), (rule == 2))"
    );
    assert_eq!(
        shape(&when("index == 1 and order == 2")),
        "and((index == 1), (order == 2))"
    );
}

#[test]
fn items_docs_and_annotations() {
    let f = parse(
        r#"
        /// Tools.
        tool t(a: number, b: list<string>, "c-d": {e: bool},)
        set s = ["a", 1, true]   // mixed types are a check error, not a syntax error
        default allow
        //// not a doc comment
        /// The policy.
        @tag("ASI-01", "ASI-02")
        policy p {
          description "d"
          applies when true
          /// The rule.
          /// Second line.
          @severity("high")
          rule r: warn
          rule u: deny unless has x because "m"
        }
        "#,
    );
    assert_eq!(f.items.len(), 4);
    let Item::Tool(t) = &f.items[0] else { panic!() };
    assert_eq!(t.meta.doc_text(), "Tools.");
    assert_eq!(t.params.len(), 3);
    assert!(t.params[2].quoted);
    let Item::Policy(p) = &f.items[3] else {
        panic!()
    };
    assert_eq!(p.meta.doc_text(), "The policy.");
    assert_eq!(p.meta.annotations[0].args.len(), 2);
    assert_eq!(p.description.as_ref().unwrap().node, "d");
    assert_eq!(p.rules[0].meta.doc_text(), "The rule.\nSecond line.");
    assert_eq!(p.rules[0].effect.node, Effect::Warn);
    assert!(p.rules[0].when.is_none());
    assert!(p.rules[1].unless.is_some());
    assert_eq!(p.rules[1].because.as_ref().unwrap().node, "m");
    assert_eq!(
        p.order,
        vec![
            Member::Description,
            Member::Applies,
            Member::Rule(0),
            Member::Rule(1)
        ]
    );
}

#[test]
fn spans_point_at_the_text() {
    let text = "policy p {\n  rule r: deny when agent.trust < 3\n}\n";
    let f = parse(text);
    let Item::Policy(p) = &f.items[0] else {
        panic!()
    };
    let w = p.rules[0].when.as_ref().unwrap();
    assert_eq!(&text[w.span.range()], "agent.trust < 3");
    assert_eq!(&text[p.rules[0].name.span.range()], "r");
}

#[test]
fn what_is_refused() {
    for bad in [
        "policy p { rule r: deny when a = 1 }",
        "policy p { rule r: deny when a == 1 == 2 }",
        "policy p { rule r: deny when }",
        "policy p { rule r deny }",
        "policy p { rule r: permit }",
        "policy { }",
        "policy p { rule r: deny when a && b }",
        "policy p { rule r: deny when and == 1 }",
        "policy p { rule r: deny when a == 'x' }",
        "policy p { rule r: deny when a == \"x }",
        "policy p { rule r: deny when a == \"\\q\" }",
        "policy p { rule r: deny when a == 1.",
        "tool t(a number)",
        "set s = [1, 2",
        "default maybe",
        "policy p { /// dangling doc\n }",
        "rule r: deny",
        "policy p { rule r: deny when x == 1e999 }",
        "policy p { rule r: deny when count(true, within 99999999999999d) > 1 }",
    ] {
        assert!(refused(bad) >= 1, "{bad}");
    }
}

#[test]
fn every_error_of_a_file_is_reported() {
    let n = refused(
        "policy p {\n  rule a: deny when a = 1\n  rule b deny\n}\npolicy q {\n  rule c: permit\n}\nset s = [\n",
    );
    assert_eq!(n, 4);
}

#[test]
fn attribute_declarations_and_data_file_sets() {
    let f = parse(
        r#"
        /// The tenant.
        attribute context.tenant: string
        attribute user: {id: string, "x-groups": list<string>}
        attribute agent["odd key"]: number
        set hosts = file("data/hosts.txt")
        set raw = file(r"data/raw.json")
        policy p { rule r: allow when context.tenant in hosts }
        "#,
    );
    assert_eq!(f.items.len(), 6);
    let Item::Attribute(a) = &f.items[0] else {
        panic!()
    };
    assert_eq!(a.path.display(), "context.tenant");
    assert_eq!(a.meta.doc_text(), "The tenant.");
    assert_eq!(a.ty.kind, TypeKind::Named("string".into()));
    let Item::Attribute(u) = &f.items[1] else {
        panic!()
    };
    let TypeKind::Record(fields) = &u.ty.kind else {
        panic!()
    };
    assert!(fields[1].quoted);
    let Item::Attribute(odd) = &f.items[2] else {
        panic!()
    };
    assert_eq!(odd.path.display(), "agent[\"odd key\"]");
    let Item::Set(s) = &f.items[3] else { panic!() };
    assert_eq!(
        s.body,
        SetBody::File(Spanned::new("data/hosts.txt".into(), Span::default()))
    );
    // `attribute` and `file` are keywords only where they start a declaration or a set's body.
    parse("policy p { rule r: allow when args.attribute == \"x\" and args.file == \"y\" }");
    assert!(refused("attribute context.tenant") > 0);
    assert!(refused("set s = file(\"a\", \"b\")") > 0);
    assert!(refused("set s = file(data)") > 0);
}
