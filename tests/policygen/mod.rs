//! The random policies and events of the property tests (`vm_vs_reference`, `diff`): policies
//! generated as source text after a header of tool declarations and sets, over tools, numbers
//! (`-0`, exponents, huge ones), strings, regexes, globs, nested functions, `has`, time and
//! `count` / `sum` / `seen`, and events whose attributes are usually of the expected kind and
//! sometimes absent, null or mistyped, with times that move on, jump or are missing.
#![allow(dead_code)]

use proptest::prelude::*;
use serde_json::{Value as Json, json};

pub const TOOLS: [&str; 11] = [
    "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "a",
];
pub const NUMS: [&str; 12] = [
    "0",
    "-0",
    "1",
    "2",
    "100",
    "2.5",
    "-1",
    "1e3",
    "1e308",
    "-1.5e-300",
    "9007199254740993",
    "0.1",
];
pub const STRS: [&str; 9] = ["ab", "a", "b", "", "x.com", "/a", "A", "t3", "/a/../b"];
pub const WINDOWS: [&str; 5] = ["5s", "10s", "1m", "5m", "1h"];
pub const KEYS: [&str; 6] = [
    "",
    ", per agent.id",
    ", per tool",
    ", per session, agent.id",
    ", per args.m",
    ", per session",
];

pub fn pick<T: Clone + std::fmt::Debug + 'static>(items: &[T]) -> BoxedStrategy<T> {
    prop::sample::select(items.to_vec()).boxed()
}

pub fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One atomic test that reads only the current event, rendered as source.
pub fn base_atom() -> BoxedStrategy<String> {
    let cmp = pick(&["==", "!=", "<", "<=", ">", ">="]);
    prop_oneof![
        (pick(&TOOLS), any::<bool>())
            .prop_map(|(t, eq)| format!("tool {} \"{t}\"", if eq { "==" } else { "!=" })),
        (prop::collection::vec(pick(&TOOLS), 1..4), any::<bool>()).prop_map(|(ts, neg)| format!(
            "tool {}in [{}]",
            if neg { "not " } else { "" },
            quoted(&ts)
        )),
        pick(&[
            "tool in tools_a",
            "tool not in tools_all",
            "tool in tools_all"
        ])
        .prop_map(String::from),
        (cmp.clone(), pick(&NUMS)).prop_map(|(op, n)| format!("agent.trust {op} {n}")),
        (prop::collection::vec(pick(&NUMS), 1..3), any::<bool>()).prop_map(|(ns, neg)| format!(
            "agent.trust {}in [{}]",
            if neg { "not " } else { "" },
            ns.join(", ")
        )),
        pick(&["agent.trust in small", "args.m not in small"]).prop_map(String::from),
        // Declared arguments, typed by the tool the test is about.
        (cmp.clone(), pick(&NUMS))
            .prop_map(|(op, n)| format!("(tool == \"t0\" and args.n {op} {n})")),
        pick(&STRS).prop_map(|s| format!("(tool == \"t1\" and args.n == \"{s}\")")),
        pick(&[
            "(tool == \"t1\" and args.flag)",
            "(tool == \"t1\" and args.flag == false)",
            "(tool == \"t2\" and \"a\" in args.xs)",
            "(tool == \"t2\" and len(args.xs) >= 2)",
            "(tool == \"t2\" and fold_each(args.xs) contains \"a\")",
            "\"x\" in fold_each(agent.roles)",
            "len(fold_each(agent.roles)) >= 2",
            "(tool == \"t3\" and args.o.k >= 1)",
            "(tool == \"t3\" and args.o[\"x-y\"] == \"a\")",
            "(tool in [\"t0\", \"t2\"] and args.s == \"ab\")",
        ])
        .prop_map(String::from),
        (cmp.clone(), pick(&NUMS)).prop_map(|(op, n)| format!("args.m {op} {n}")),
        pick(&["x", "y"]).prop_map(|r| format!("\"{r}\" in agent.roles")),
        (pick(&["starts_with", "ends_with", "contains"]), pick(&STRS))
            .prop_map(|(op, s)| format!("args.s {op} \"{s}\"")),
        pick(&[
            r#"args.s matches r"^a.*b$""#,
            r#"args.s matches r"(?i)X\.COM""#,
            r#"args.s matches r"[0-9]{2,}""#,
            r#"lower(args.s) matches r"^/a""#,
            r#"args.s like "a*""#,
            r#"args.s like "?b""#,
            r#"args.s like "[ab]*""#,
            r#"tool matches r"^t[0-4]$""#,
        ])
        .prop_map(String::from),
        (
            pick(&[
                "lower",
                "upper",
                "norm_path",
                "url_host",
                "lower(norm_path",
                "url_host(lower",
                "upper(lower"
            ]),
            pick(&STRS)
        )
            .prop_map(|(f, s)| {
                let close = if f.contains('(') { "))" } else { ")" };
                format!("{f}(args.s{close} == \"{s}\"")
            }),
        (cmp.clone(), pick(&["0", "1", "2", "-0"]))
            .prop_map(|(op, n)| format!("len(lower(args.s)) {op} {n}")),
        (cmp, pick(&["0", "1", "2"])).prop_map(|(op, n)| format!("len(agent.roles) {op} {n}")),
        pick(&[
            "has args.m",
            "has tool",
            "has agent",
            "has time.hour",
            "has args[\"k-1\"]",
            "has ts",
            "annotations.f",
            "annotations.f == false",
            "annotations.score > 0.5",
            "args.m > agent.trust",
            "args.s == tool",
            "time.hour < 12",
            "time.weekday >= 6",
            "time.hour in [10, 11]",
        ])
        .prop_map(String::from),
        any::<bool>().prop_map(|b| b.to_string()),
    ]
    .boxed()
}

/// A condition of base atoms for inside `count` / `sum` / `seen`.
pub fn inner_cond() -> BoxedStrategy<String> {
    prop_oneof![
        3 => base_atom(),
        1 => (base_atom(), base_atom()).prop_map(|(a, b)| format!("{a} and {b}")),
        1 => (base_atom(), base_atom()).prop_map(|(a, b)| format!("({a} or {b})")),
    ]
    .boxed()
}

/// A `count`, `sum` or `seen` test.
pub fn stateful_atom() -> BoxedStrategy<String> {
    let win = || prop_oneof![4 => pick(&WINDOWS).prop_map(|w| format!(", within {w}")), 1 => Just(String::new())];
    let cmp = pick(&["==", "!=", "<", "<=", ">", ">="]);
    prop_oneof![
        (
            inner_cond(),
            win(),
            pick(&KEYS),
            cmp.clone(),
            pick(&["0", "1", "2", "3"])
        )
            .prop_map(|(c, w, k, op, n)| format!("count({c}{w}{k}) {op} {n}")),
        (
            inner_cond(),
            win(),
            pick(&KEYS),
            pick(&["[1, 2]", "[0]", "[2, 5]"]),
            any::<bool>()
        )
            .prop_map(|(c, w, k, l, neg)| format!(
                "count({c}{w}{k}) {}in {l}",
                if neg { "not " } else { "" }
            )),
        (
            pick(&["args.m", "cost"]),
            inner_cond(),
            win(),
            pick(&KEYS),
            cmp.clone(),
            pick(&NUMS)
        )
            .prop_map(|(v, c, w, k, op, n)| format!("sum({v}, {c}{w}{k}) {op} {n}")),
        (inner_cond(), win(), pick(&KEYS), any::<bool>()).prop_map(|(c, w, k, neg)| {
            let s = format!("seen({c}{w}{k})");
            if neg {
                format!("seen({c}{w}{k}) == false")
            } else {
                s
            }
        }),
        (inner_cond(), inner_cond(), pick(&WINDOWS), pick(&WINDOWS)).prop_map(
            |(a, b, w1, w2)| format!("seen({a} and seen({b}, within {w1}), within {w2})")
        ),
        (inner_cond(), inner_cond(), pick(&WINDOWS), cmp.clone()).prop_map(|(a, b, w, op)| {
            format!("count({a}, within {w}) {op} count({b}, within {w}, per agent.id)")
        }),
        (inner_cond(), pick(&WINDOWS), cmp)
            .prop_map(|(c, w, op)| format!("count({c}, within {w}) {op} args.m")),
    ]
    .boxed()
}

pub fn atom() -> BoxedStrategy<String> {
    prop_oneof![3 => base_atom(), 2 => stateful_atom()].boxed()
}

/// A condition: a tree of and / or / not over atoms.
pub fn cond() -> BoxedStrategy<String> {
    atom()
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4)
                    .prop_map(|cs| format!("({})", cs.join(" and "))),
                prop::collection::vec(inner.clone(), 2..4)
                    .prop_map(|cs| format!("({})", cs.join(" or "))),
                inner.prop_map(|c| format!("not ({c})")),
            ]
        })
        .boxed()
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
        pick(&["allow", "deny", "escalate", "warn", "allow", "deny"]),
        prop::option::weighted(0.9, cond()),
        prop::option::weighted(0.25, cond()),
        any::<bool>(),
    )
        .prop_map(|(effect, when, unless, because)| RuleSpec {
            effect,
            when,
            unless,
            because,
        })
}

pub const HEADER: &str = r#"tool t0(n: number, s: string, m: number, "k-1": number)
tool t1(n: string, flag: bool, s: string, m: number, "k-1": number)
tool t2(xs: list<string>, s: string, m: number, "k-1": number)
tool t3(o: {k: number, "x-y": string}, s: string, m: number, "k-1": number)
set tools_a = ["t0", "t3", "a"]
set tools_all = [tools_a, "t1", "t2", "t9"]
set small = [0, -0, 1e3, 2.5]
"#;

/// A policy with a rule per tool: its diagram switches on `tool` over 8 or more branches.
pub fn per_tool_policy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            pick(&["allow", "deny", "escalate", "warn"]),
            prop::option::weighted(0.7, atom()),
        ),
        8..11,
    )
    .prop_map(|rules| {
        let mut s = String::from("policy per_tool {\n");
        for (i, (effect, extra)) in rules.iter().enumerate() {
            let tool = TOOLS[i];
            s.push_str(&format!("  rule k{i}: {effect} when tool == \"{tool}\""));
            if let Some(e) = extra {
                s.push_str(&format!(" and {e}"));
            }
            s.push('\n');
        }
        s.push_str("}\n");
        s
    })
}

/// A bundle as data: an optional default, policies with an optional scope and rules, and
/// perhaps a policy with a rule per tool; [`render`] writes it after [`HEADER`].
#[derive(Debug, Clone)]
pub struct PolicySpec {
    pub default: Option<&'static str>,
    pub policies: Vec<(Option<String>, Vec<RuleSpec>)>,
    pub per_tool: Option<String>,
}

pub fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    policy_spec_sized(3, 4, 0.35)
}

/// At most `policies` policies of at most `rules` rules each, and a policy with a rule per
/// tool with probability `per_tool`.
pub fn policy_spec_sized(
    policies: usize,
    rules: usize,
    per_tool: f64,
) -> impl Strategy<Value = PolicySpec> {
    (
        prop::option::of(pick(&["allow", "deny"])),
        prop::collection::vec(
            (
                prop::option::weighted(0.3, cond()),
                prop::collection::vec(rule(), 1..=rules.max(1)),
            ),
            1..=policies.max(1),
        ),
        prop::option::weighted(per_tool, per_tool_policy()),
    )
        .prop_map(|(default, policies, per_tool)| PolicySpec {
            default,
            policies,
            per_tool,
        })
}

/// The source text of a bundle: [`HEADER`], then the default and the policies.
pub fn render(spec: &PolicySpec) -> String {
    let mut s = String::from(HEADER);
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
    if let Some(p) = &spec.per_tool {
        s.push_str(p);
    }
    s
}

pub fn policy_text() -> impl Strategy<Value = String> {
    policy_spec().prop_map(|spec| render(&spec))
}

/// A JSON value that is usually of the expected kind and sometimes not.
pub fn value(good: BoxedStrategy<Json>) -> impl Strategy<Value = Option<Json>> {
    prop_oneof![
        6 => good.prop_map(Some),
        2 => Just(None),
        1 => Just(Some(Json::Null)),
        1 => pick(&[json!("300"), json!(7), json!(true), json!(["a"]), json!({"k": 1})]).prop_map(Some),
    ]
}

/// How an event's time is given.
#[derive(Clone, Copy, Debug)]
pub enum When {
    Absent,
    Garbage,
    /// Its own `ts`, this many seconds from the stream's timeline.
    Ts(i64),
    /// Decided at the timeline's time by a trusted clock.
    Host,
}

#[derive(Clone, Debug)]
pub struct Ev {
    pub fields: serde_json::Map<String, Json>,
    /// Seconds since the previous event on the timeline.
    pub dt: i64,
    pub when: When,
}

pub fn numbers() -> BoxedStrategy<Json> {
    pick(&[
        0.0,
        -0.0,
        1.0,
        2.5,
        -1.0,
        100.0,
        1e3,
        0.1,
        0.2,
        1e308,
        -1e308,
        5e-324,
        9007199254740993.0,
        299.999,
    ])
    .prop_map(|x| json!(x))
    .boxed()
}

pub fn event() -> impl Strategy<Value = Ev> {
    let s = |v: Vec<&'static str>| prop::sample::select(v).prop_map(|x| json!(x)).boxed();
    let dt = prop_oneof![
        12 => 0i64..8,
        4 => 20i64..90,
        2 => 120i64..600,
        1 => 3600i64..10_000,
    ];
    let when = prop_oneof![
        1 => Just(When::Absent),
        1 => Just(When::Garbage),
        2 => Just(When::Ts(-20)),
        1 => Just(When::Ts(126_230_400)),
        1 => Just(When::Ts(-700_000_000)),
        2 => Just(When::Host),
        12 => Just(When::Ts(0)),
    ];
    (
        (
            value(s(TOOLS.to_vec())),
            value(s(vec!["tool_call", "llm_call"])),
            value(numbers()),
            value(
                prop::collection::vec(pick(&["x", "y", "z", " X", "ｘ"]), 0..3)
                    .prop_map(|v| json!(v))
                    .boxed(),
            ),
            value(numbers()),
            value(s(vec![
                "ab",
                "a",
                "b",
                "",
                "https://X.com/p",
                "/a/../a",
                "aXb",
                "A",
                "12",
            ])),
            value(any::<bool>().prop_map(|b| json!(b)).boxed()),
            value(s(vec!["s1", "s2"])),
            value(s(vec!["i1", "i2", "i3"])),
        ),
        (
            value(prop_oneof![numbers(), s(vec!["x", "a"])].boxed()),
            value(
                prop::collection::vec(pick(&["a", "b", "A "]), 0..3)
                    .prop_map(|v| json!(v))
                    .boxed(),
            ),
            value(s(vec!["a", "b"])),
            value(numbers()),
            value(numbers()),
        ),
        (dt, when, any::<u8>()),
    )
        .prop_map(
            |(
                (tool, action, trust, roles, m, st, f, session, id),
                (n, xs, xy, cost, score),
                (dt, when, bits),
            )| {
                let mut ev = serde_json::Map::new();
                let mut put = |k: &str, v: Option<Json>| {
                    if let Some(v) = v {
                        ev.insert(k.to_string(), v);
                    }
                };
                put("tool", tool);
                put("action", action);
                put("session", session);
                put("cost", cost);
                let mut agent = serde_json::Map::new();
                for (k, v) in [("trust", trust), ("roles", roles), ("id", id)] {
                    if let Some(v) = v {
                        agent.insert(k.into(), v);
                    }
                }
                ev.insert("agent".into(), Json::Object(agent));
                let mut args = serde_json::Map::new();
                for (k, v) in [("m", m), ("s", st), ("n", n), ("xs", xs)] {
                    if let Some(v) = v {
                        args.insert(k.into(), v);
                    }
                }
                if bits & 1 == 1 {
                    args.insert("k-1".into(), json!(1));
                }
                if bits & 2 == 2 {
                    args.insert("flag".into(), json!(bits & 4 == 4));
                }
                if let Some(v) = xy {
                    args.insert("o".into(), json!({"k": (bits % 3) as f64, "x-y": v}));
                }
                ev.insert("args".into(), Json::Object(args));
                let mut ann = serde_json::Map::new();
                for (k, v) in [("f", f), ("score", score)] {
                    if let Some(v) = v {
                        ann.insert(k.into(), v);
                    }
                }
                ev.insert("annotations".into(), Json::Object(ann));
                Ev {
                    fields: ev,
                    dt,
                    when,
                }
            },
        )
}
