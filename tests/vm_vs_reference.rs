//! Random policies × random event streams: the VM must decide exactly as the reference
//! interpreter, field for field, including unknown attributes, stateful rules and events with
//! absent, null or mistyped attributes. Policies are generated as source text, so the parser
//! and checker run on them too; some are compiled with a tiny merge budget so that the VM's
//! merging of diagram groups is exercised as well.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use govern::decision::Decision;
use govern::diag::SourceFile;
use govern::reference::Reference;
use govern::vm::{Event, Outcome, Program};
use proptest::prelude::*;

/// One atomic test, rendered as source.
fn atom() -> impl Strategy<Value = String> {
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

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A condition: a tree of and / or / not over atoms.
fn cond() -> impl Strategy<Value = String> {
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
struct RuleSpec {
    effect: &'static str,
    when: Option<String>,
    unless: Option<String>,
    because: bool,
}

fn rule() -> impl Strategy<Value = RuleSpec> {
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

fn policy_text() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop::sample::select(vec!["allow", "deny"])),
        prop::collection::vec(
            (
                prop::option::weighted(0.3, cond()),
                prop::collection::vec(rule(), 1..5),
            ),
            1..4,
        ),
    )
        .prop_map(|(default, policies)| {
            let mut s = String::new();
            if let Some(d) = default {
                s.push_str(&format!("default {d}\n"));
            }
            for (pi, (applies, rules)) in policies.iter().enumerate() {
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
        })
}

/// A JSON value that is usually of the expected kind and sometimes not.
fn value(
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

fn event() -> impl Strategy<Value = (serde_json::Map<String, serde_json::Value>, i64, u8)> {
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

fn check_stream(
    policy: &str,
    events: &[(serde_json::Map<String, serde_json::Value>, i64, u8)],
    limit: Option<usize>,
) -> Result<(), TestCaseError> {
    check_stream_with(policy, &std::collections::BTreeMap::new(), events, limit)
}

fn check_stream_with(
    policy: &str,
    data: &std::collections::BTreeMap<String, Vec<u8>>,
    events: &[(serde_json::Map<String, serde_json::Value>, i64, u8)],
    limit: Option<usize>,
) -> Result<(), TestCaseError> {
    let bundle = match govern::check::check_sources_with(
        vec![SourceFile::new("gen.gov", policy.to_string())],
        data,
    ) {
        Ok(b) => b,
        Err(ds) => {
            let msgs: Vec<String> = ds.iter().map(|d| d.short()).collect();
            return Err(TestCaseError::fail(format!(
                "generated policy refused:\n{policy}\n{}",
                msgs.join("\n")
            )));
        }
    };
    let model = match limit {
        Some(l) => govern::compile::compile_with(&bundle, l as u64).unwrap(),
        None => govern::compile::compile(&bundle).unwrap(),
    };
    let bytes = govern::bytecode::encode(&model);
    let program = Program::load(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut reference = Reference::new(&bundle, program.digest.clone());
    let mut state = program.new_state();
    let mut ev = Event::default();
    let mut out = Outcome::default();
    // Timestamps mostly move forward; some are missing, earlier, or not timestamps at all.
    let mut t = 1_795_428_000i64;
    for (i, (fields, dt, kind)) in events.iter().enumerate() {
        t += dt;
        let mut fields = fields.clone();
        let ts = match kind {
            0 => None,
            1 => Some(serde_json::json!("not a time")),
            2 => Some(serde_json::json!(govern::time::format_rfc3339(
                (t - 20) * 1_000_000_000
            ))),
            _ => Some(serde_json::json!(govern::time::format_rfc3339(
                t * 1_000_000_000
            ))),
        };
        if let Some(ts) = ts {
            fields.insert("ts".into(), ts);
        }
        let json = serde_json::Value::Object(fields);
        let text = json.to_string();
        program
            .read_event(&text, &mut ev)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        program.eval(&ev, &mut state, &mut out);
        let vm: Decision = program.decision(&out);
        let oracle = reference.eval(&json);
        prop_assert_eq!(
            &vm,
            &oracle,
            "event {} {}\npolicy:\n{}",
            i + 1,
            text,
            policy
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        max_shrink_iters: 2000,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn vm_decides_as_the_reference(
        policy in policy_text(),
        events in prop::collection::vec(event(), 1..25),
        groups in prop::bool::weighted(0.2),
    ) {
        check_stream(&policy, &events, groups.then_some(0))?;
    }
}

// Declared attributes, a set read from a data file, and long `or` / `and` chains on one
// attribute (which the compiler merges into one test): their own generator, so that each
// part of the language has a place of its own here.

/// The declarations every policy of [`declared_policy_text`] starts with.
const DECLARED: &str = "attribute context.tenant: string\n\
                        attribute user: {id: string, groups: list<string>, level: number}\n\
                        set hosts = file(\"data/hosts.txt\")\n";

/// The data files of [`DECLARED`].
fn declared_data() -> std::collections::BTreeMap<String, Vec<u8>> {
    std::collections::BTreeMap::from([(
        "data/hosts.txt".to_string(),
        b"# hosts\nt1\n x.com \n\nt1\n".to_vec(),
    )])
}

/// A test on a declared attribute, or a chain of tests on one attribute.
fn declared_atom() -> impl Strategy<Value = String> {
    let tenants = prop::sample::select(vec!["t1", "t2", "x.com", ""]);
    let ops = prop::sample::select(vec!["==", "!="]);
    let cmp = prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]);
    prop_oneof![
        (tenants.clone(), ops.clone()).prop_map(|(t, op)| format!("context.tenant {op} \"{t}\"")),
        prop::bool::ANY
            .prop_map(|neg| format!("context.tenant {}in hosts", if neg { "not " } else { "" })),
        prop::sample::select(vec![
            "has context",
            "has context.tenant",
            "has user",
            "has user.level"
        ])
        .prop_map(String::from),
        (cmp.clone(), prop::sample::select(vec!["0", "2", "5"]))
            .prop_map(|(op, n)| format!("user.level {op} {n}")),
        prop::sample::select(vec!["g1", "g2"]).prop_map(|g| format!("\"{g}\" in user.groups")),
        prop::sample::select(vec![
            "count(true, within 10s, per context.tenant) >= 2",
            "seen(user.level > 2, per user.id)",
            "sum(user.level, has context, within 20s, per context.tenant) > 4",
        ])
        .prop_map(String::from),
        // Chains on one attribute, mixing `==`, `!=`, `in`, `not in` and `not`.
        (
            prop::collection::vec((tenants, ops.clone(), prop::bool::ANY), 2..7),
            prop::bool::ANY
        )
            .prop_map(|(parts, or)| {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|(t, op, not)| {
                        let test = format!("context.tenant {op} \"{t}\"");
                        if *not { format!("not {test}") } else { test }
                    })
                    .collect();
                format!("({})", parts.join(if or { " or " } else { " and " }))
            }),
        (
            prop::collection::vec(
                (cmp, prop::sample::select(vec!["0", "2", "5", "100"])),
                2..6
            ),
            prop::bool::ANY
        )
            .prop_map(|(parts, or)| {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|(op, n)| format!("agent.trust {op} {n}"))
                    .collect();
                format!("({})", parts.join(if or { " or " } else { " and " }))
            }),
        (
            prop::collection::vec((prop::sample::select(vec!["a", "b", "c", "zz"]), ops), 2..6),
            prop::bool::ANY
        )
            .prop_map(|(parts, or)| {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|(t, op)| format!("tool {op} \"{t}\""))
                    .collect();
                format!("({})", parts.join(if or { " or " } else { " and " }))
            }),
    ]
}

fn declared_cond() -> impl Strategy<Value = String> {
    prop_oneof![2 => declared_atom(), 1 => atom()].prop_recursive(3, 10, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|cs| format!("({})", cs.join(" and "))),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|cs| format!("({})", cs.join(" or "))),
            inner.prop_map(|c| format!("not ({c})")),
        ]
    })
}

fn declared_policy_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["allow", "deny", "escalate", "warn"]),
            declared_cond(),
        ),
        1..6,
    )
    .prop_map(|rules| {
        let mut s = String::from(DECLARED);
        s.push_str("policy p {\n");
        for (i, (effect, when)) in rules.iter().enumerate() {
            s.push_str(&format!(
                "  rule r{i}: {effect} when {when} because \"m{i}\"\n"
            ));
        }
        s.push_str("}\n");
        s
    })
}

/// An event with the declared attributes, usually well typed and sometimes not.
fn declared_event() -> impl Strategy<Value = (serde_json::Map<String, serde_json::Value>, i64, u8)>
{
    use serde_json::json;
    let s = |v: Vec<&'static str>| prop::sample::select(v).prop_map(|x| json!(x)).boxed();
    (
        event(),
        value(s(vec!["t1", "t2", "x.com", ""])),
        value(s(vec!["u1", "u2"])),
        value(
            prop::collection::vec(prop::sample::select(vec!["g1", "g2", "g3"]), 0..3)
                .prop_map(|v| json!(v))
                .boxed(),
        ),
        value(
            prop::sample::select(vec![0.0, 2.0, 3.0, 5.0])
                .prop_map(|x| json!(x))
                .boxed(),
        ),
        0u8..4,
    )
        .prop_map(|((mut ev, dt, kind), tenant, id, groups, level, shape)| {
            let mut put = |root: &str, k: &str, v: Option<serde_json::Value>| {
                if let Some(v) = v {
                    let entry = ev.entry(root.to_string()).or_insert_with(|| json!({}));
                    if let Some(o) = entry.as_object_mut() {
                        o.insert(k.to_string(), v);
                    }
                }
            };
            put("context", "tenant", tenant);
            put("user", "id", id);
            put("user", "groups", groups);
            put("user", "level", level);
            if shape == 0 {
                // A record of the wrong shape.
                ev.insert("user".into(), json!("not a record"));
            }
            (ev, dt, kind)
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 600,
        max_shrink_iters: 2000,
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn vm_decides_as_the_reference_on_declared_attributes(
        policy in declared_policy_text(),
        events in prop::collection::vec(declared_event(), 1..20),
        groups in prop::bool::weighted(0.2),
    ) {
        check_stream_with(&policy, &declared_data(), &events, groups.then_some(0))?;
    }
}
