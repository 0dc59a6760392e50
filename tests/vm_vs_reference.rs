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

mod policygen;
use policygen::{Ev, HEADER, When, atom, event, policy_text, value};

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
    combined: AtomicU64,
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
    combined: AtomicU64::new(0),
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
    // The same program walked fork by fork, without the combined walk built at load: it
    // must reach the same leaves in the same order, event after event.
    let mut separate = Program::load(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    separate.walk_separately();
    // Coverage of the program.
    add(&STATS.cases, 1);
    add(
        &STATS.combined,
        u64::from(program.combined_nodes().is_some()),
    );
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
    let mut sep_state = separate.new_state_with(limits);
    let mut sep_out = Outcome::default();
    let mut sep_ev = Event::default();
    let mut ev = Event::default();
    let mut out = Outcome::default();
    let mut fresh_out = Outcome::default();
    let mut alone_out = Outcome::default();
    // Kept from event to event as `alone_out` is (a single leaf leaves the merged lists).
    let mut sep_alone_out = Outcome::default();
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
        separate
            .read_event(&text, &mut sep_ev)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let oracle = match e.when {
            When::Host => {
                add(&STATS.host_time, 1);
                program.eval_at(&mut ev, now, &mut state, &mut out);
                separate.eval_at(&mut sep_ev, now, &mut sep_state, &mut sep_out);
                reference.eval_at(&json, now)
            }
            _ => {
                program.eval(&ev, &mut state, &mut out);
                separate.eval(&sep_ev, &mut sep_state, &mut sep_out);
                reference.eval(&json)
            }
        };
        prop_assert_eq!(
            format!("{out:?}"),
            format!("{sep_out:?}"),
            "event {} combined and separate walks {}\npolicy:\n{}",
            i + 1,
            text,
            policy
        );
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
        // Decided alone and not recorded (as chaos-run decides a mutant), it is decided as
        // on a fresh stream.
        if !matches!(e.when, When::Host) {
            let mut scratch = program.new_state_with(limits);
            let mut starts = Vec::new();
            program.prewalk(&fresh_ev, &mut scratch, &mut starts);
            let mut alone = program.new_state_with(limits);
            program.eval_unrecorded(&fresh_ev, &starts, &mut alone, &mut alone_out);
            let mut sep_starts = Vec::new();
            separate.prewalk(&fresh_ev, &mut scratch, &mut sep_starts);
            let mut sep_alone = separate.new_state_with(limits);
            separate.eval_unrecorded(&fresh_ev, &sep_starts, &mut sep_alone, &mut sep_alone_out);
            prop_assert_eq!(
                format!("{alone_out:?}"),
                format!("{sep_alone_out:?}"),
                "event {} pre-walked, combined and separate {}\npolicy:\n{}",
                i + 1,
                text,
                policy
            );
            prop_assert_eq!(
                program.is_stateless(&starts),
                separate.is_stateless(&sep_starts),
                "event {} stateless, combined and separate {}\npolicy:\n{}",
                i + 1,
                text,
                policy
            );
            prop_assert_eq!(
                program.decision(&alone_out),
                program.decision(&fresh_out),
                "event {} decided unrecorded {}\npolicy:\n{}",
                i + 1,
                text,
                policy
            );
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
         programs with a switch of 8+ branches (jump table) {:.1}%, compiled in groups {:.1}%, walks combined {:.1}%\n  \
         regexes per program {:.2}, programs with several {:.1}%, nested functions {:.1}%\n  \
         -0 / exponents / huge numbers {:.1}%, declared tool arguments {:.1}%\n  \
         time steps of a minute or more {:.1}%, host-time events {:.1}%, ts not believed {:.1}%, records refused at the key bound {}",
        pct(get(&s.changed_by_state), events),
        pct(get(&s.ranges), events),
        pct(get(&s.jump_tables), cases),
        pct(get(&s.groups), cases),
        pct(get(&s.combined), cases),
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
        ("combined walks", get(&s.combined), 50),
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
