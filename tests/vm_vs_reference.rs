//! Random policies × random event streams: the VM must decide exactly as the reference
//! interpreter, field for field, including unknown attributes, stateful rules and events with
//! absent, null or mistyped attributes. Policies are generated as source text, so the parser
//! and checker run on them too; some are compiled with a tiny merge budget so that the VM's
//! merging of diagram groups is exercised as well.
//!
//! The generator reaches the corners on purpose: tool declarations (argument types decided by
//! the tool a condition is about), sets (nested ones too), several regexes and globs, nested
//! functions, `-0`, exponents and huge numbers, a policy with a rule per tool (a switch of 8 or
//! more branches: the jump-table path), `count` / `sum` / `seen` with and without windows, on
//! conditions that are often unknown (ranges), compared with constants, attributes and each
//! other, streams whose time steps let minute windows expire, jump far ahead or behind (the
//! skew), come from a host clock, and stream limits small enough that the key bound is hit.
//! The test prints coverage statistics and fails when one of them falls to nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use govern::bytecode::model::{NodeDef, Var};
use govern::decision::Decision;
use govern::diag::SourceFile;
use govern::reference::Reference;
use govern::vm::{Event, Outcome, Program, StreamLimits};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value as Json, json};

const TOOLS: [&str; 11] = [
    "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "a",
];
const NUMS: [&str; 12] = [
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
const STRS: [&str; 9] = ["ab", "a", "b", "", "x.com", "/a", "A", "t3", "/a/../b"];
const WINDOWS: [&str; 5] = ["5s", "10s", "1m", "5m", "1h"];
const KEYS: [&str; 6] = [
    "",
    ", per agent.id",
    ", per tool",
    ", per session, agent.id",
    ", per args.m",
    ", per session",
];

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &[T]) -> BoxedStrategy<T> {
    prop::sample::select(items.to_vec()).boxed()
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One atomic test that reads only the current event, rendered as source.
fn base_atom() -> BoxedStrategy<String> {
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
fn inner_cond() -> BoxedStrategy<String> {
    prop_oneof![
        3 => base_atom(),
        1 => (base_atom(), base_atom()).prop_map(|(a, b)| format!("{a} and {b}")),
        1 => (base_atom(), base_atom()).prop_map(|(a, b)| format!("({a} or {b})")),
    ]
    .boxed()
}

/// A `count`, `sum` or `seen` test.
fn stateful_atom() -> BoxedStrategy<String> {
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

fn atom() -> BoxedStrategy<String> {
    prop_oneof![3 => base_atom(), 2 => stateful_atom()].boxed()
}

/// A condition: a tree of and / or / not over atoms.
fn cond() -> BoxedStrategy<String> {
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
struct RuleSpec {
    effect: &'static str,
    when: Option<String>,
    unless: Option<String>,
    because: bool,
}

fn rule() -> impl Strategy<Value = RuleSpec> {
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

const HEADER: &str = r#"tool t0(n: number, s: string, m: number, "k-1": number)
tool t1(n: string, flag: bool, s: string, m: number, "k-1": number)
tool t2(xs: list<string>, s: string, m: number, "k-1": number)
tool t3(o: {k: number, "x-y": string}, s: string, m: number, "k-1": number)
set tools_a = ["t0", "t3", "a"]
set tools_all = [tools_a, "t1", "t2", "t9"]
set small = [0, -0, 1e3, 2.5]
"#;

/// A policy with a rule per tool: its diagram switches on `tool` over 8 or more branches.
fn per_tool_policy() -> impl Strategy<Value = String> {
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

fn policy_text() -> impl Strategy<Value = String> {
    (
        prop::option::of(pick(&["allow", "deny"])),
        prop::collection::vec(
            (
                prop::option::weighted(0.3, cond()),
                prop::collection::vec(rule(), 1..5),
            ),
            1..4,
        ),
        prop::option::weighted(0.35, per_tool_policy()),
    )
        .prop_map(|(default, policies, per_tool)| {
            let mut s = String::from(HEADER);
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
            s.push_str(&per_tool.unwrap_or_default());
            s
        })
}

/// A JSON value that is usually of the expected kind and sometimes not.
fn value(good: BoxedStrategy<Json>) -> impl Strategy<Value = Option<Json>> {
    prop_oneof![
        6 => good.prop_map(Some),
        2 => Just(None),
        1 => Just(Some(Json::Null)),
        1 => pick(&[json!("300"), json!(7), json!(true), json!(["a"]), json!({"k": 1})]).prop_map(Some),
    ]
}

/// How an event's time is given.
#[derive(Clone, Copy, Debug)]
enum When {
    Absent,
    Garbage,
    /// Its own `ts`, this many seconds from the stream's timeline.
    Ts(i64),
    /// Decided at the timeline's time by a trusted clock.
    Host,
}

#[derive(Clone, Debug)]
struct Ev {
    fields: serde_json::Map<String, Json>,
    /// Seconds since the previous event on the timeline.
    dt: i64,
    when: When,
}

fn numbers() -> BoxedStrategy<Json> {
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

fn event() -> impl Strategy<Value = Ev> {
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
                prop::collection::vec(pick(&["x", "y", "z"]), 0..3)
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
                prop::collection::vec(pick(&["a", "b"]), 0..3)
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

fn limits() -> impl Strategy<Value = StreamLimits> {
    (
        prop_oneof![2 => Just(1usize), 2 => Just(2), 1 => Just(3), 8 => Just(StreamLimits::MAX_KEYS)],
        prop_oneof![
            3 => Just(Some(StreamLimits::MAX_SKEW)),
            1 => Just(Some(30_000_000_000i64)),
            2 => Just(None),
        ],
    )
        .prop_map(|(max_keys, max_skew)| StreamLimits { max_keys, max_skew })
}

/// What the generated cases reached, summed over the run.
#[derive(Default)]
struct Stats {
    cases: AtomicU64,
    events: AtomicU64,
    changed_by_state: AtomicU64,
    jump_tables: AtomicU64,
    regexes: AtomicU64,
    several_regexes: AtomicU64,
    nested_functions: AtomicU64,
    odd_numbers: AtomicU64,
    minute_gaps: AtomicU64,
    host_time: AtomicU64,
    untimed: AtomicU64,
    refused: AtomicU64,
    ranges: AtomicU64,
    typed_args: AtomicU64,
    groups: AtomicU64,
}

static STATS: Stats = Stats {
    cases: AtomicU64::new(0),
    events: AtomicU64::new(0),
    changed_by_state: AtomicU64::new(0),
    jump_tables: AtomicU64::new(0),
    regexes: AtomicU64::new(0),
    several_regexes: AtomicU64::new(0),
    nested_functions: AtomicU64::new(0),
    odd_numbers: AtomicU64::new(0),
    minute_gaps: AtomicU64::new(0),
    host_time: AtomicU64::new(0),
    untimed: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    ranges: AtomicU64::new(0),
    typed_args: AtomicU64::new(0),
    groups: AtomicU64::new(0),
};

thread_local! {
    /// Whether this thread's cases count in [`STATS`] (the test that prints them).
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn add(c: &AtomicU64, n: u64) {
    if COUNTED.with(std::cell::Cell::get) {
        c.fetch_add(n, Relaxed);
    }
}

fn check_stream(
    policy: &str,
    data: &std::collections::BTreeMap<String, Vec<u8>>,
    events: &[Ev],
    copy_factor: Option<u64>,
    limits: StreamLimits,
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
    let model = match copy_factor {
        Some(l) => govern::compile::compile_with(&bundle, l).unwrap(),
        None => govern::compile::compile(&bundle).unwrap(),
    };
    let bytes = govern::bytecode::encode(&model);
    let program = Program::load(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Coverage of the program.
    add(&STATS.cases, 1);
    add(&STATS.groups, u64::from(copy_factor == Some(0)));
    let jump = model.nodes.iter().any(|n| match n {
        NodeDef::Switch { var, branches, .. } => match model.vars.get(*var as usize) {
            Some(Var::Switch { consts, .. }) => {
                branches.len() >= 8 && consts.len() <= branches.len() * 4
            }
            _ => false,
        },
        _ => false,
    });
    add(&STATS.jump_tables, u64::from(jump));
    let regexes = model
        .vars
        .iter()
        .filter(|v| matches!(v, Var::Pred(govern::bytecode::model::Pred::Regex { .. })))
        .count() as u64;
    add(&STATS.regexes, regexes);
    add(&STATS.several_regexes, u64::from(regexes >= 2));
    let rules = policy.strip_prefix(HEADER).unwrap_or(policy);
    add(
        &STATS.nested_functions,
        u64::from(
            [
                "lower(norm_path",
                "url_host(lower",
                "upper(lower",
                "len(lower",
            ]
            .iter()
            .any(|f| rules.contains(f)),
        ),
    );
    add(
        &STATS.odd_numbers,
        u64::from(
            ["-0", "e3", "e308", "e-300", "9007199254740993", "small"]
                .iter()
                .any(|n| rules.contains(n)),
        ),
    );
    add(
        &STATS.typed_args,
        u64::from(
            ["args.n", "args.o", "args.xs", "args.flag"]
                .iter()
                .any(|a| rules.contains(a)),
        ),
    );

    let mut reference = Reference::with_limits(&bundle, program.digest.clone(), limits);
    let mut state = program.new_state_with(limits);
    let mut ev = Event::default();
    let mut out = Outcome::default();
    let mut fresh_out = Outcome::default();
    let mut t = 1_795_428_000i64;
    for (i, e) in events.iter().enumerate() {
        t += e.dt;
        add(&STATS.minute_gaps, u64::from(e.dt >= 60));
        let mut fields = e.fields.clone();
        match e.when {
            When::Absent | When::Host => {}
            When::Garbage => {
                fields.insert("ts".into(), json!("not a time"));
            }
            When::Ts(off) => {
                fields.insert(
                    "ts".into(),
                    json!(govern::time::format_rfc3339((t + off) * 1_000_000_000)),
                );
            }
        }
        let json = Json::Object(fields);
        let text = json.to_string();
        program
            .read_event(&text, &mut ev)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let now = t * 1_000_000_000 + 123_456;
        let fresh_ev = ev.clone();
        let oracle = match e.when {
            When::Host => {
                add(&STATS.host_time, 1);
                program.eval_at(&mut ev, now, &mut state, &mut out);
                reference.eval_at(&json, now)
            }
            _ => {
                program.eval(&ev, &mut state, &mut out);
                reference.eval(&json)
            }
        };
        let vm: Decision = program.decision(&out);
        prop_assert_eq!(
            &vm,
            &oracle,
            "event {} {}\npolicy:\n{}\nlimits: {:?}",
            i + 1,
            text,
            policy,
            limits
        );
        // Would the event be decided so on a fresh stream?
        let mut fresh = program.new_state_with(limits);
        let mut fresh_ev = fresh_ev;
        match e.when {
            When::Host => program.eval_at(&mut fresh_ev, now, &mut fresh, &mut fresh_out),
            _ => program.eval(&fresh_ev, &mut fresh, &mut fresh_out),
        }
        add(
            &STATS.changed_by_state,
            u64::from(program.decision(&fresh_out) != vm),
        );
        // Unknown attributes the stream gave (an earlier uncertain event, the key bound).
        let fresh_unknown = program.decision(&fresh_out).unknown;
        add(
            &STATS.ranges,
            u64::from(vm.unknown.iter().any(|u| !fresh_unknown.contains(u))),
        );
        add(&STATS.events, 1);
    }
    add(&STATS.untimed, state.untimed);
    add(&STATS.refused, state.refused);
    Ok(())
}

#[test]
fn vm_decides_as_the_reference() {
    COUNTED.with(|c| c.set(true));
    let mut runner = TestRunner::new(Config {
        cases: 1200,
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        policy_text(),
        prop::collection::vec(event(), 1..40),
        prop::bool::weighted(0.2),
        limits(),
    );
    let result = runner.run(&strategy, |(policy, events, groups, limits)| {
        check_stream(
            &policy,
            &std::collections::BTreeMap::new(),
            &events,
            groups.then_some(0),
            limits,
        )
    });
    let s = &STATS;
    let get = |c: &AtomicU64| c.load(Relaxed);
    let (cases, events) = (get(&s.cases).max(1), get(&s.events).max(1));
    let pct = |n: u64, of: u64| 100.0 * n as f64 / of as f64;
    eprintln!(
        "vm_vs_reference coverage: {cases} cases, {events} events\n  \
         decisions changed by stream state {:.1}%, with unknown attributes from earlier events {:.1}%\n  \
         programs with a switch of 8+ branches (jump table) {:.1}%, compiled in groups {:.1}%\n  \
         regexes per program {:.2}, programs with several {:.1}%, nested functions {:.1}%\n  \
         -0 / exponents / huge numbers {:.1}%, declared tool arguments {:.1}%\n  \
         time steps of a minute or more {:.1}%, host-time events {:.1}%, ts not believed {:.1}%, records refused at the key bound {}",
        pct(get(&s.changed_by_state), events),
        pct(get(&s.ranges), events),
        pct(get(&s.jump_tables), cases),
        pct(get(&s.groups), cases),
        get(&s.regexes) as f64 / cases as f64,
        pct(get(&s.several_regexes), cases),
        pct(get(&s.nested_functions), cases),
        pct(get(&s.odd_numbers), cases),
        pct(get(&s.typed_args), cases),
        pct(get(&s.minute_gaps), events),
        pct(get(&s.host_time), events),
        pct(get(&s.untimed), events),
        get(&s.refused),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // Every corner was reached (generously below what a run reaches).
    for (what, n, floor) in [
        (
            "decisions changed by state (per mille)",
            get(&s.changed_by_state) * 1000 / events,
            30,
        ),
        (
            "attributes left by earlier events (per mille)",
            get(&s.ranges) * 1000 / events,
            5,
        ),
        ("jump tables", get(&s.jump_tables), 50),
        ("programs with several regexes", get(&s.several_regexes), 50),
        ("nested functions", get(&s.nested_functions), 50),
        ("odd numbers", get(&s.odd_numbers), 50),
        ("typed arguments", get(&s.typed_args), 50),
        ("minute gaps", get(&s.minute_gaps), 50),
        ("host-time events", get(&s.host_time), 50),
        ("ts not believed", get(&s.untimed), 50),
        ("records refused", get(&s.refused), 50),
    ] {
        assert!(n >= floor, "{what}: {n} (at least {floor} expected)");
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
        // The tools, sets and numbers the shared atoms name, then the declarations.
        let mut s = String::from(HEADER);
        s.push_str(DECLARED);
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
fn declared_event() -> impl Strategy<Value = Ev> {
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
        .prop_map(|(mut e, tenant, id, groups, level, shape)| {
            let ev = &mut e.fields;
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
            e
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
        check_stream(
            &policy,
            &declared_data(),
            &events,
            groups.then_some(0),
            StreamLimits::default(),
        )?;
    }
}
