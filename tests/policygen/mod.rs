//! The random policies and events of the property tests (`vm_vs_reference`, `diff`): policies
//! generated as source text over a few tools, numbers, strings, functions, regexes, `has`,
//! time and stream functions, and events whose attributes are usually of the expected kind and
//! sometimes absent, null or mistyped.
#![allow(dead_code)]

use proptest::prelude::*;

/// One atomic test, rendered as source.
pub fn atom() -> impl Strategy<Value = String> {
    let tools = prop::sample::select(vec!["a", "b", "c", "d"]);
    let nums = prop::sample::select(vec!["0", "100", "300", "500", "1000", "2.5", "-1"]);
    let cmp = prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]);
    let strs = prop::sample::select(vec!["ab", "a", "b", "", "x.com", "/a", "A"]);
    prop_oneof![
        (tools.clone(), prop::bool::ANY)
            .prop_map(|(t, eq)| format!("tool {} \"{t}\"", if eq { "==" } else { "!=" })),
        (prop::collection::vec(tools.clone(), 1..3), prop::bool::ANY).prop_map(
            |(ts, neg)| format!("tool {}in [{}]", if neg { "not " } else { "" }, quoted(&ts))
        ),
        (cmp.clone(), nums.clone()).prop_map(|(op, n)| format!("agent.trust {op} {n}")),
        (prop::collection::vec(nums.clone(), 1..3), prop::bool::ANY).prop_map(|(ns, neg)| format!(
            "agent.trust {}in [{}]",
            if neg { "not " } else { "" },
            ns.join(", ")
        )),
        (cmp.clone(), nums.clone()).prop_map(|(op, n)| format!("args.n {op} {n}")),
        prop::sample::select(vec!["x", "y"]).prop_map(|r| format!("\"{r}\" in agent.roles")),
        prop::sample::select(vec!["x", "y"]).prop_map(|r| format!("agent.roles contains \"{r}\"")),
        (
            prop::sample::select(vec!["starts_with", "ends_with", "contains"]),
            strs.clone()
        )
            .prop_map(|(op, s)| format!("args.s {op} \"{s}\"")),
        prop::sample::select(vec![
            r#"args.s matches r"^a.*b$""#,
            r#"args.s like "a*""#,
            r#"args.s like "?b""#
        ])
        .prop_map(String::from),
        (
            prop::sample::select(vec!["lower", "upper", "norm_path", "url_host"]),
            strs.clone()
        )
            .prop_map(|(f, s)| format!("{f}(args.s) == \"{s}\"")),
        (cmp.clone(), prop::sample::select(vec!["0", "1", "2"]))
            .prop_map(|(op, n)| format!("len(args.s) {op} {n}")),
        (cmp.clone(), prop::sample::select(vec!["0", "1", "2"]))
            .prop_map(|(op, n)| format!("len(agent.roles) {op} {n}")),
        prop::sample::select(vec![
            "has args.n",
            "has tool",
            "has agent",
            "has time.hour",
            "has args[\"k-1\"]"
        ])
        .prop_map(String::from),
        prop::sample::select(vec![
            "annotations.f",
            "annotations.f == false",
            "annotations.f != true"
        ])
        .prop_map(String::from),
        prop::sample::select(vec![
            "args.n > agent.trust",
            "args.s == tool",
            "tool != args.s"
        ])
        .prop_map(String::from),
        prop::sample::select(vec!["time.hour < 12", "time.weekday >= 6"]).prop_map(String::from),
        prop::sample::select(vec![
            "count(tool == \"a\", within 10s) >= 2",
            "count(true, within 5s, per agent.id) > 1",
            "count(agent.trust > 100, within 1m, per agent.id, tool) == 1",
            "sum(args.n, tool == \"b\", within 20s) > 10",
            "sum(args.n, true, within 1h, per tool) <= 300",
            "seen(tool == \"c\")",
            "seen(tool == \"a\" and seen(tool == \"b\"), within 30s)",
            "seen(args.s contains \"a\", within 1s, per session, agent.id)",
        ])
        .prop_map(String::from),
        prop::bool::ANY.prop_map(|b| b.to_string()),
    ]
}

pub fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A condition: a tree of and / or / not over atoms.
pub fn cond() -> impl Strategy<Value = String> {
    atom().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|cs| format!("({})", cs.join(" and "))),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|cs| format!("({})", cs.join(" or "))),
            inner.prop_map(|c| format!("not ({c})")),
        ]
    })
}

#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub effect: &'static str,
    pub when: Option<String>,
    pub unless: Option<String>,
    pub because: bool,
}

pub fn rule() -> impl Strategy<Value = RuleSpec> {
    (
        prop::sample::select(vec!["allow", "deny", "escalate", "warn", "allow", "deny"]),
        prop::option::weighted(0.9, cond()),
        prop::option::weighted(0.25, cond()),
        prop::bool::ANY,
    )
        .prop_map(|(effect, when, unless, because)| RuleSpec {
            effect,
            when,
            unless,
            because,
        })
}

/// A bundle as data: an optional default, and policies with an optional scope and rules.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    pub default: Option<&'static str>,
    pub policies: Vec<(Option<String>, Vec<RuleSpec>)>,
}

pub fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    policy_spec_sized(3, 4)
}

/// A bundle of at most `policies` policies of at most `rules` rules each.
pub fn policy_spec_sized(policies: usize, rules: usize) -> impl Strategy<Value = PolicySpec> {
    (
        prop::option::of(prop::sample::select(vec!["allow", "deny"])),
        prop::collection::vec(
            (
                prop::option::weighted(0.3, cond()),
                prop::collection::vec(rule(), 1..=rules.max(1)),
            ),
            1..=policies.max(1),
        ),
    )
        .prop_map(|(default, policies)| PolicySpec { default, policies })
}

/// The source text of a bundle.
pub fn render(spec: &PolicySpec) -> String {
    let mut s = String::new();
    if let Some(d) = spec.default {
        s.push_str(&format!("default {d}\n"));
    }
    for (pi, (applies, rules)) in spec.policies.iter().enumerate() {
        s.push_str(&format!("policy p{pi} {{\n"));
        if let Some(a) = applies {
            s.push_str(&format!("  applies when {a}\n"));
        }
        for (ri, r) in rules.iter().enumerate() {
            s.push_str(&format!("  rule r{ri}: {}", r.effect));
            if let Some(w) = &r.when {
                s.push_str(&format!(" when {w}"));
            }
            if let Some(u) = &r.unless {
                s.push_str(&format!(" unless {u}"));
            }
            if r.because {
                s.push_str(&format!(" because \"m{pi}.{ri}\""));
            }
            s.push('\n');
        }
        s.push_str("}\n");
    }
    s
}

pub fn policy_text() -> impl Strategy<Value = String> {
    policy_spec().prop_map(|spec| render(&spec))
}

/// A JSON value that is usually of the expected kind and sometimes not.
pub fn value(
    good: BoxedStrategy<serde_json::Value>,
) -> impl Strategy<Value = Option<serde_json::Value>> {
    use serde_json::json;
    prop_oneof![
        6 => good.prop_map(Some),
        2 => Just(None),
        1 => Just(Some(serde_json::Value::Null)),
        1 => prop::sample::select(vec![json!("300"), json!(7), json!(true), json!(["a"]), json!({"k": 1})]).prop_map(Some),
    ]
}

pub fn event() -> impl Strategy<Value = (serde_json::Map<String, serde_json::Value>, i64, u8)> {
    use serde_json::json;
    let s = |v: Vec<&'static str>| prop::sample::select(v).prop_map(|x| json!(x)).boxed();
    let n = prop::sample::select(vec![
        0.0, 100.0, 300.0, 500.0, 1000.0, 2.5, -1.0, 5.0, 299.999,
    ])
    .prop_map(|x| json!(x))
    .boxed();
    (
        value(s(vec!["a", "b", "c", "d", "e"])),
        value(s(vec!["tool_call", "llm_call"])),
        value(n.clone()),
        value(
            prop::collection::vec(prop::sample::select(vec!["x", "y", "z"]), 0..3)
                .prop_map(|v| json!(v))
                .boxed(),
        ),
        value(n),
        value(s(vec![
            "ab",
            "a",
            "b",
            "",
            "https://x.com/p",
            "/a/../a",
            "aXb",
            "A",
        ])),
        value(prop::bool::ANY.prop_map(|b| json!(b)).boxed()),
        value(s(vec!["s1", "s2"])),
        value(s(vec!["i1", "i2"])),
        (0i64..8, 0u8..10),
    )
        .prop_map(
            |(tool, action, trust, roles, n, st, f, session, id, (dt, ts_kind))| {
                let mut ev = serde_json::Map::new();
                let mut put = |k: &str, v: Option<serde_json::Value>| {
                    if let Some(v) = v {
                        ev.insert(k.to_string(), v);
                    }
                };
                put("tool", tool);
                put("action", action);
                put("session", session);
                let mut agent = serde_json::Map::new();
                if let Some(t) = trust {
                    agent.insert("trust".into(), t);
                }
                if let Some(r) = roles {
                    agent.insert("roles".into(), r);
                }
                if let Some(i) = id {
                    agent.insert("id".into(), i);
                }
                ev.insert("agent".into(), serde_json::Value::Object(agent));
                let mut args = serde_json::Map::new();
                if let Some(v) = n {
                    args.insert("n".into(), v);
                }
                if let Some(v) = st {
                    args.insert("s".into(), v);
                }
                if dt % 3 == 0 {
                    args.insert("k-1".into(), json!(1));
                }
                ev.insert("args".into(), serde_json::Value::Object(args));
                if let Some(v) = f {
                    ev.insert("annotations".into(), json!({"f": v}));
                }
                (ev, dt, ts_kind)
            },
        )
}
