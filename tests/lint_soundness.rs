//! The semantic lints never cry wolf: on random small bundles, every claim about *all*
//! requests (unreachable, shadowed, redundant, allow-everything) is checked against the
//! reference interpreter on an exhaustive grid of requests, and every example request shown is
//! re-checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use govern::check::Bundle;
use govern::diag::SourceFile;
use govern::lint::{Finding, Levels};
use govern::reference::{K3, Reference};
use govern::syntax::ast::Effect;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "c"]).prop_map(|t| format!("tool == \"{t}\"")),
        prop::sample::select(vec!["[\"a\", \"b\"]", "[\"b\", \"c\"]", "[\"c\"]"])
            .prop_map(|l| format!("tool in {l}")),
        (
            prop::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]),
            0..4i32
        )
            .prop_map(|(op, k)| format!("args.n {op} {k}")),
        prop::sample::select(vec!["x", "y"]).prop_map(|s| format!("args.s == \"{s}\"")),
        Just("args.s matches r\"^x\"".to_string()),
        Just("has args.n".to_string()),
        Just("lower(args.s) == \"x\"".to_string()),
    ]
}

fn cond() -> impl Strategy<Value = String> {
    atom().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn bundle_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["allow", "allow", "deny", "escalate", "warn"]),
            prop::option::of(cond()),
            prop::option::of(cond()),
        ),
        1..6,
    )
    .prop_map(|rules| {
        let mut s = String::from("policy p {\n");
        for (i, (effect, when, unless)) in rules.into_iter().enumerate() {
            s.push_str(&format!("  rule r{i}: {effect}"));
            if let Some(w) = when {
                s.push_str(&format!(" when {w}"));
            }
            if let Some(u) = unless {
                s.push_str(&format!(" unless {u}"));
            }
            if effect != "allow" {
                s.push_str(" because \"x\"");
            }
            s.push('\n');
        }
        s.push_str("}\n");
        s
    })
}

/// Every combination of a small set of values for the attributes the bundles read.
fn grid() -> Vec<Json> {
    let tools = [json!("a"), json!("b"), json!("c"), json!("d"), Json::Null];
    let ns = [
        Json::Null,
        json!(-1),
        json!(0),
        json!(0.5),
        json!(1),
        json!(1.5),
        json!(2),
        json!(2.5),
        json!(3),
        json!(3.5),
        json!(4),
        json!("3"),
    ];
    let ss = [
        Json::Null,
        json!("x"),
        json!("y"),
        json!("X"),
        json!("xz"),
        json!(""),
    ];
    let mut out = Vec::new();
    for t in &tools {
        for n in &ns {
            for s in &ss {
                let mut ev = serde_json::Map::new();
                ev.insert("action".into(), json!("tool_call"));
                if !t.is_null() {
                    ev.insert("tool".into(), t.clone());
                }
                let mut args = serde_json::Map::new();
                if !n.is_null() {
                    args.insert("n".into(), n.clone());
                }
                if !s.is_null() {
                    args.insert("s".into(), s.clone());
                }
                ev.insert("args".into(), Json::Object(args));
                out.push(Json::Object(ev));
            }
        }
    }
    out
}

fn rule_at(bundle: &Bundle, f: &Finding) -> Option<usize> {
    let loc = f.loc?;
    bundle
        .rules
        .iter()
        .position(|r| r.loc.file == loc.file && r.loc.span.start == loc.span.start)
}

fn matches(bundle: &Bundle, r: usize, v: K3) -> bool {
    match v {
        K3::True => true,
        K3::Unknown => bundle.rules[r].effect != Effect::Allow,
        K3::False => false,
    }
}

fn check_claims(text: &str) {
    let bundle = govern::check::check_sources(vec![SourceFile::new("r.gov", text)]).unwrap();
    let findings = govern::lint::run(&bundle, &Levels::default()).unwrap();
    let reference = Reference::new(&bundle, "");
    let values: Vec<Vec<K3>> = grid()
        .iter()
        .map(|ev| reference.rule_values(ev).unwrap())
        .collect();
    for f in &findings {
        match f.code {
            "G0101" => {
                let r = rule_at(&bundle, f).unwrap();
                for vs in &values {
                    assert_ne!(vs[r], K3::True, "unreachable rule r{r} is true:\n{text}");
                }
            }
            "G0102" => {
                let a = rule_at(&bundle, f).unwrap();
                for vs in &values {
                    if vs[a] == K3::True {
                        let blocked = (0..bundle.rules.len()).any(|d| {
                            matches!(bundle.rules[d].effect, Effect::Deny | Effect::Escalate)
                                && matches(&bundle, d, vs[d])
                        });
                        assert!(blocked, "shadowed r{a} decides a request:\n{text}");
                    }
                }
            }
            "G0103" => {
                let r = rule_at(&bundle, f).unwrap();
                let (s_loc, _) = f.related[0];
                let s = bundle
                    .rules
                    .iter()
                    .position(|x| x.loc.span.start == s_loc.span.start)
                    .unwrap();
                for vs in &values {
                    if matches(&bundle, r, vs[r]) {
                        assert!(
                            matches(&bundle, s, vs[s]),
                            "r{r} fires without r{s}:\n{text}"
                        );
                    }
                }
            }
            "G0106" => {
                let r = rule_at(&bundle, f).unwrap();
                for vs in &values {
                    assert_ne!(vs[r], K3::False, "allow-everything r{r} is false:\n{text}");
                }
            }
            "G0105" => {
                // Replacing the test by the constant leaves where the rule is true unchanged.
                let (_, owner) = (f.loc.unwrap(), &f.related[0].0);
                let r = bundle
                    .rules
                    .iter()
                    .position(|x| x.loc.span.start == owner.span.start)
                    .unwrap();
                let span = f.loc.unwrap().span;
                let mut consts = Vec::new();
                if f.message.contains("always true") || f.message.contains("never changes") {
                    consts.push("true");
                }
                if f.message.contains("always false") || f.message.contains("never changes") {
                    consts.push("false");
                }
                assert!(!consts.is_empty(), "{}", f.message);
                for c in consts {
                    let mut changed = text.to_string();
                    changed.replace_range(span.range(), &format!("({c})"));
                    let b2 = govern::check::check_sources(vec![SourceFile::new(
                        "r.gov",
                        changed.as_str(),
                    )])
                    .unwrap();
                    let ref2 = Reference::new(&b2, "");
                    for (ev, vs) in grid().iter().zip(&values) {
                        let v2 = ref2.rule_values(ev).unwrap()[r];
                        assert_eq!(
                            vs[r] == K3::True,
                            v2 == K3::True,
                            "replacing `{}` by {c} changes r{r} on {ev}:\n{text}",
                            &text[span.range()]
                        );
                    }
                }
            }
            _ => {}
        }
        // Every example shown is a request on which the rule it is about matches or is true.
        if let (Some(w), Some(r)) = (&f.witness, rule_at(&bundle, f)) {
            let v = reference.rule_values(w).unwrap()[r];
            assert!(
                matches(&bundle, r, v) || v == K3::Unknown,
                "the example of {} does not involve r{r}: {w}\n{text}",
                f.code
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn lint_semantic_claims_hold_on_every_request(text in bundle_text()) {
        check_claims(&text);
    }
}

/// The generator does produce bundles with semantic findings, so the property is not vacuous.
#[test]
fn lint_soundness_generator_finds_things() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strat = bundle_text();
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let text = strat.new_tree(&mut runner).unwrap().current();
        let bundle =
            govern::check::check_sources(vec![SourceFile::new("r.gov", text.as_str())]).unwrap();
        for f in govern::lint::run(&bundle, &Levels::default()).unwrap() {
            codes.insert(f.code);
        }
    }
    for c in ["G0101", "G0102", "G0103", "G0105"] {
        assert!(codes.contains(c), "no {c} in 300 random bundles: {codes:?}");
    }
}
