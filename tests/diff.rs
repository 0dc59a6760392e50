//! `govern diff`: the corpus of (old, new, expected changes) in `testdata/diff/`, `--equivalent`
//! on `fmt` output, random policy pairs against the reference interpreter, the node budget, and
//! the command end to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use govern::check::Verdict;
use govern::decision::Decision;
use govern::diag::SourceFile;
use govern::diff::{Options, Report, Side, Status, diff};
use govern::reference::Reference;
use govern::vm::{Event, Outcome};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value as Json;

mod policygen;

#[path = "../benches/common.rs"]
#[allow(dead_code)]
mod common;
use policygen::{PolicySpec, RuleSpec, cond, policy_spec_sized, render, rule};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[allow(dead_code)]
    description: String,
    old: String,
    new: String,
    changes: Vec<Change>,
    #[serde(default)]
    rule_changes: Option<Vec<RuleChange>>,
    #[serde(default)]
    unchanged: Vec<serde_yaml::Value>,
    #[serde(default)]
    may_differ: bool,
    #[serde(default)]
    equivalent: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    from: String,
    to: String,
    old_rules: Vec<String>,
    new_rules: Vec<String>,
    #[serde(default)]
    witnesses: Vec<serde_yaml::Value>,
}

#[derive(Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
struct RuleChange {
    rule: String,
    change: String,
}

fn side(label: &str, src: &str) -> Side {
    match Side::from_sources(label, vec![SourceFile::new(format!("{label}.gov"), src)]) {
        Ok(s) => s,
        Err(d) => panic!(
            "{label} does not compile:\n{}",
            d.iter().map(|x| x.short()).collect::<Vec<_>>().join("\n")
        ),
    }
}

fn to_json(v: &serde_yaml::Value) -> Json {
    serde_json::to_value(v).unwrap()
}

/// One event on a fresh stream with the VM and the reference interpreter, which must agree.
fn decide(s: &Side, event: &Json) -> Decision {
    let p = &s.program;
    let mut ev = Event::default();
    p.read_event(&event.to_string(), &mut ev).unwrap();
    let mut st = p.new_state();
    let mut out = Outcome::default();
    p.eval(&ev, &mut st, &mut out);
    let vm = p.decision(&out);
    let bundle = s.bundle.as_ref().unwrap();
    let oracle = Reference::new(bundle, p.digest.clone()).eval(event);
    assert_eq!(vm, oracle, "VM and reference disagree on {event}");
    vm
}

fn describe(r: &Report) -> String {
    govern::diff::output::human(r, false)
}

fn check_case(name: &str, c: &Case) {
    let old = side("old", &c.old);
    let new = side("new", &c.new);
    let opts = Options {
        all: true,
        per_group: 200,
        ..Options::default()
    };
    let r = diff(&old, &new, &opts);
    let shown = describe(&r);
    assert!(r.complete(), "{name}: not complete\n{shown}");
    // The JSON report, written straight from the report, is the text of its tree of values
    // (keys sorted, pretty-printed), as it has always been.
    let text = govern::diff::output::json(&r);
    let tree: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(
        text,
        format!("{}\n", serde_json::to_string_pretty(&tree).unwrap()),
        "{name}: the JSON report is not the text of its tree"
    );
    // Exactly the expected groups.
    let mut got: Vec<(String, String, Vec<String>, Vec<String>)> = r
        .groups
        .iter()
        .map(|g| {
            let [o, n] = g.rules.clone().expect("grouped by rules");
            (g.from.to_string(), g.to.to_string(), o, n)
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, Vec<String>, Vec<String>)> = c
        .changes
        .iter()
        .map(|x| {
            (
                x.from.clone(),
                x.to.clone(),
                x.old_rules.clone(),
                x.new_rules.clone(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want, "{name}: groups\n{shown}");
    // Every region is confirmed (unless the case allows "may differ"), and every witness flips
    // as its group says when decided again here.
    for g in &r.groups {
        let [ro, rn] = g.rules.clone().unwrap();
        assert!(!g.regions.is_empty(), "{name}: empty group\n{shown}");
        for reg in &g.regions {
            match reg.proof.status {
                Status::Differs => {}
                Status::MayDiffer => assert!(c.may_differ, "{name}: may differ\n{shown}"),
                Status::Unconfirmed => panic!("{name}: unconfirmed region\n{shown}"),
            }
            if reg.proof.status != Status::Differs {
                continue;
            }
            let ev = reg.proof.event.as_ref().unwrap();
            let (a, b) = (decide(&old, ev), decide(&new, ev));
            assert_eq!((a.verdict, b.verdict), (g.from, g.to), "{name}: {ev}");
            assert_eq!((&a.rules, &b.rules), (&ro, &rn), "{name}: {ev}");
        }
    }
    // The expected witnesses flip as stated and lie in a region of their group.
    for x in &c.changes {
        let gi = r
            .groups
            .iter()
            .position(|g| {
                g.from.as_str() == x.from
                    && g.to.as_str() == x.to
                    && g.rules.as_ref().unwrap()[0] == x.old_rules
                    && g.rules.as_ref().unwrap()[1] == x.new_rules
            })
            .unwrap();
        for w in &x.witnesses {
            let ev = to_json(w);
            let (a, b) = (decide(&old, &ev), decide(&new, &ev));
            assert_eq!(
                (a.verdict.as_str(), b.verdict.as_str()),
                (x.from.as_str(), x.to.as_str()),
                "{name}: expected witness {ev}"
            );
            assert_eq!((&a.rules, &b.rules), (&x.old_rules, &x.new_rules));
            assert!(
                r.groups_with(&ev).contains(&gi),
                "{name}: {ev} is in no region of its group\n{shown}"
            );
        }
    }
    for u in &c.unchanged {
        let ev = to_json(u);
        let (a, b) = (decide(&old, &ev), decide(&new, &ev));
        assert_eq!(a.verdict, b.verdict, "{name}: {ev} should not change");
        assert!(
            r.groups_with(&ev).is_empty(),
            "{name}: {ev} is in a region\n{shown}"
        );
    }
    if let Some(want) = &c.rule_changes {
        let mut got: Vec<RuleChange> = r
            .rule_changes
            .iter()
            .map(|x| RuleChange {
                rule: x.rule.clone(),
                change: x.kind.as_str().to_string(),
            })
            .collect();
        got.sort();
        let mut want: Vec<&RuleChange> = want.iter().collect();
        want.sort();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{name}\n{shown}");
        for rc in &r.rule_changes {
            for reg in &rc.regions {
                assert_eq!(reg.proof.status, Status::Differs, "{name}\n{shown}");
            }
        }
    }
    if let Some(e) = c.equivalent {
        assert_eq!(r.equivalent(), e, "{name}: equivalence\n{shown}");
    }
}

fn corpus() -> Vec<(String, Case)> {
    let dir = Path::new(ROOT).join("testdata/diff");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let case: Case =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().to_string(), case)
        })
        .collect()
}

#[test]
fn corpus_changes_are_exactly_the_expected_ones() {
    let cases = corpus();
    assert!(cases.len() >= 12);
    for (name, case) in &cases {
        check_case(name, case);
    }
}

/// Every policy the repository holds: the diff corpus, the case corpus and the library.
fn all_policies() -> Vec<(String, Vec<SourceFile>)> {
    let mut out = Vec::new();
    for (name, c) in corpus() {
        out.push((
            format!("{name} old"),
            vec![SourceFile::new("old.gov", c.old)],
        ));
        out.push((
            format!("{name} new"),
            vec![SourceFile::new("new.gov", c.new)],
        ));
    }
    #[derive(Deserialize)]
    struct PolicyOnly {
        policy: String,
    }
    let dir = Path::new(ROOT).join("testdata/cases");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    for p in names {
        let text = std::fs::read_to_string(&p).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let Ok(c) = serde_yaml::from_value::<PolicyOnly>(serde_yaml::Value::Mapping(
            v.as_mapping()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.as_str() == Some("policy"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )) else {
            continue;
        };
        out.push((
            p.display().to_string(),
            vec![SourceFile::new("case.gov", c.policy)],
        ));
    }
    let lib = govern::source::load(&[Path::new(ROOT).join("policies")]).unwrap();
    out.push(("policies/".into(), lib));
    out
}

#[test]
fn fmt_output_is_proved_equivalent() {
    for (name, files) in all_policies() {
        let formatted: Vec<SourceFile> = files
            .iter()
            .map(|f| SourceFile::new(f.name.clone(), govern::fmt::format(f).unwrap()))
            .collect();
        let (Ok(a), Ok(b)) = (
            Side::from_sources("before", files),
            Side::from_sources("after", formatted),
        ) else {
            panic!("{name} does not compile");
        };
        let r = diff(
            &a,
            &b,
            &Options {
                all: true,
                ..Options::default()
            },
        );
        assert!(r.equivalent(), "{name}\n{}", describe(&r));
    }
}

#[test]
fn a_split_file_is_equivalent() {
    let one = "default deny\nset t = [\"a\", \"b\"]\npolicy p {\n rule x: allow when tool in t\n}\npolicy q {\n rule y: deny when tool == \"b\" and agent.trust < 5 because \"low\"\n}\n";
    let a = Side::from_sources("one", vec![SourceFile::new("all.gov", one)]).unwrap();
    let b = Side::from_sources(
        "two",
        vec![
            SourceFile::new(
                "p.gov",
                "set t = [\"a\", \"b\"]\npolicy p {\n rule x: allow when tool in t\n}\n",
            ),
            SourceFile::new(
                "q.gov",
                "default deny\npolicy q {\n rule y: deny when tool == \"b\" and agent.trust < 5 because \"low\"\n}\n",
            ),
        ],
    )
    .unwrap();
    let r = diff(
        &a,
        &b,
        &Options {
            all: true,
            ..Options::default()
        },
    );
    assert!(r.equivalent(), "{}", describe(&r));
}

#[test]
fn a_compiled_bundle_is_a_side() {
    let src = "policy p {\n rule a: allow when tool == \"x\"\n}\n";
    let built = govern::pipeline::build_sources(vec![SourceFile::new("p.gov", src)]).unwrap();
    let bundle_side = Side {
        label: "p.govb".into(),
        program: govern::vm::Program::load(&built.bytes).unwrap(),
        bundle: None,
        rev: None,
    };
    let new = side(
        "new",
        "policy p {\n rule a: allow when tool == \"x\" or tool == \"y\"\n}\n",
    );
    let r = diff(&bundle_side, &new, &Options::default());
    assert_eq!(r.groups.len(), 1, "{}", describe(&r));
    assert_eq!(r.groups[0].from, Verdict::Deny);
    assert_eq!(r.groups[0].regions[0].proof.status, Status::Differs);
}

/// A change a policy pull request might make.
#[derive(Debug, Clone)]
enum Mutation {
    Default(Option<&'static str>),
    DropRule(usize, usize),
    Effect(usize, usize, &'static str),
    When(usize, usize, Option<String>),
    Unless(usize, usize, Option<String>),
    AddRule(usize, RuleSpec),
    Applies(usize, Option<String>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let idx = 0usize..8;
    prop_oneof![
        prop::option::of(prop::sample::select(vec!["allow", "deny"])).prop_map(Mutation::Default),
        (idx.clone(), idx.clone()).prop_map(|(p, r)| Mutation::DropRule(p, r)),
        (
            idx.clone(),
            idx.clone(),
            prop::sample::select(vec!["allow", "deny", "escalate", "warn"])
        )
            .prop_map(|(p, r, e)| Mutation::Effect(p, r, e)),
        (
            idx.clone(),
            idx.clone(),
            prop::option::weighted(0.9, cond())
        )
            .prop_map(|(p, r, c)| Mutation::When(p, r, c)),
        (
            idx.clone(),
            idx.clone(),
            prop::option::weighted(0.7, cond())
        )
            .prop_map(|(p, r, c)| Mutation::Unless(p, r, c)),
        (idx.clone(), rule()).prop_map(|(p, r)| Mutation::AddRule(p, r)),
        (idx, prop::option::weighted(0.5, cond())).prop_map(|(p, c)| Mutation::Applies(p, c)),
    ]
}

fn mutate(spec: &PolicySpec, ms: &[Mutation]) -> PolicySpec {
    let mut s = spec.clone();
    for m in ms {
        let np = s.policies.len().max(1);
        match m {
            Mutation::Default(d) => s.default = *d,
            Mutation::DropRule(p, r) => {
                let rules = &mut s.policies[p % np].1;
                if rules.len() > 1 {
                    let i = r % rules.len();
                    rules.remove(i);
                }
            }
            Mutation::Effect(p, r, e) => {
                let rules = &mut s.policies[p % np].1;
                let n = rules.len();
                rules[r % n].effect = e;
            }
            Mutation::When(p, r, c) => {
                let rules = &mut s.policies[p % np].1;
                let n = rules.len();
                rules[r % n].when = c.clone();
            }
            Mutation::Unless(p, r, c) => {
                let rules = &mut s.policies[p % np].1;
                let n = rules.len();
                rules[r % n].unless = c.clone();
            }
            Mutation::AddRule(p, r) => s.policies[p % np].1.push(r.clone()),
            Mutation::Applies(p, c) => s.policies[p % np].0 = c.clone(),
        }
    }
    s
}

/// A single event with a timestamp of one of several kinds.
fn single_event() -> impl Strategy<Value = Json> {
    (policygen::event(), 0u8..6).prop_map(|(ev, ts)| {
        let mut fields = ev.fields;
        match ts {
            0 => {}
            1 => {
                fields.insert("ts".into(), Json::from("not a time"));
            }
            2 => {
                fields.insert("ts".into(), Json::from("2026-11-23T03:15:00Z"));
            }
            _ => {
                fields.insert("ts".into(), Json::from("2026-11-28T14:40:00Z"));
            }
        }
        Json::Object(fields)
    })
}

/// Diffs one pair and checks it; whether the comparison was complete.
fn check_pair(
    old_src: &str,
    new_src: &str,
    events: &[Json],
    by_piece: bool,
) -> Result<bool, TestCaseError> {
    let (Ok(old), Ok(new)) = (
        Side::from_sources("old", vec![SourceFile::new("old.gov", old_src)]),
        Side::from_sources("new", vec![SourceFile::new("new.gov", new_src)]),
    ) else {
        return Err(TestCaseError::fail(format!(
            "generated policy refused:\n{old_src}\n{new_src}"
        )));
    };
    let r = diff(
        &old,
        &new,
        &Options {
            per_group: 12,
            walk_steps: 20_000,
            whole_grouping_max: if by_piece {
                0
            } else {
                govern::diff::WHOLE_GROUPING_MAX
            },
            ..Options::default()
        },
    );
    let context = || format!("old:\n{old_src}\nnew:\n{new_src}\n{}", describe(&r));
    // Piece by piece, the work is shared by threads: the report is the same, byte for byte.
    if by_piece {
        let threaded = diff(
            &old,
            &new,
            &Options {
                per_group: 12,
                walk_steps: 20_000,
                whole_grouping_max: 0,
                jobs: 2,
                ..Options::default()
            },
        );
        prop_assert_eq!(
            govern::diff::output::json(&r),
            govern::diff::output::json(&threaded),
            "--jobs 2\n{}",
            context()
        );
    }
    // A comparison cut short never passes for "no change".
    let complete = r.complete();
    if !complete {
        prop_assert!(r.any_change() && r.new_allow() && !r.equivalent());
    }
    // Every witness flips as its group says, decided again here by the reference interpreter.
    for g in &r.groups {
        for reg in &g.regions {
            prop_assert!(
                reg.proof.status != Status::Unconfirmed,
                "unconfirmed region\n{}",
                context()
            );
            if reg.proof.status != Status::Differs {
                continue;
            }
            let ev = reg.proof.event.as_ref().unwrap();
            let a = Reference::new(old.bundle.as_ref().unwrap(), "").eval(ev);
            let b = Reference::new(new.bundle.as_ref().unwrap(), "").eval(ev);
            prop_assert_eq!(
                (a.verdict, b.verdict),
                (g.from, g.to),
                "witness {}\n{}",
                ev,
                context()
            );
            if let Some([ro, rn]) = &g.rules {
                prop_assert_eq!((&a.rules, &b.rules), (ro, rn), "witness {}", ev);
            }
        }
    }
    // A random event whose verdict changes lies in a region of a group with that change; an
    // event in a region changes as the region's group says.
    for ev in events {
        let a = Reference::new(old.bundle.as_ref().unwrap(), "").eval(ev);
        let b = Reference::new(new.bundle.as_ref().unwrap(), "").eval(ev);
        let groups = r.groups_with(ev);
        for &gi in &groups {
            let g = &r.groups[gi];
            prop_assert_eq!(
                (a.verdict, b.verdict),
                (g.from, g.to),
                "event {} in a region of the wrong group\n{}",
                ev,
                context()
            );
        }
        // Groups with more regions than listed may hold the event in one not listed.
        let listed_all = complete && r.groups.iter().all(|g| g.more == 0);
        if a.verdict != b.verdict && listed_all {
            prop_assert!(
                !groups.is_empty(),
                "event {} flips {} → {} outside every region\n{}",
                ev,
                a.verdict,
                b.verdict,
                context()
            );
        }
    }
    Ok(complete)
}

/// The runner of the random-pair properties: `GOVERN_DIFF_CASES` cases (40 by default), on a
/// fixed seed, so that the share of pairs compared completely (which the bounds decide) is the
/// same on every run and a failure can be run again.
fn pair_runner() -> proptest::test_runner::TestRunner {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let cases: u32 = std::env::var("GOVERN_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    TestRunner::new_with_rng(
        Config {
            cases,
            max_shrink_iters: 200,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

/// Random bundles, changed as a pull request might change them (and now and then replaced by
/// an unrelated bundle), diffed and checked against the reference interpreter. The work per
/// pair is bounded (regions listed per group, enumeration steps) so that the suite stays fast
/// in debug builds; a pair the bounds cut short must say so, and most pairs must be complete,
/// or the coverage check would prove nothing.
#[test]
fn random_changes_are_found_exactly() {
    let mut runner = pair_runner();
    let complete = std::cell::Cell::new(0u32);
    let total = std::cell::Cell::new(0u32);
    let strategy = (
        policy_spec_sized(2, 4, 0.2),
        prop::collection::vec(mutation(), 1..3),
        policy_spec_sized(2, 3, 0.2),
        prop::bool::weighted(0.1),
        prop::collection::vec(single_event(), 1..40),
        prop::bool::ANY,
    );
    type Pair = (PolicySpec, Vec<Mutation>, PolicySpec, bool, Vec<Json>, bool);
    let result = runner.run(
        &strategy,
        |(old, changes, unrelated, fresh, events, by_piece): Pair| {
            let new = if fresh {
                unrelated
            } else {
                mutate(&old, &changes)
            };
            // Half the pairs grouped piece by piece, as large diagrams of changes are.
            let done = check_pair(&render(&old), &render(&new), &events, by_piece)?;
            total.set(total.get() + 1);
            complete.set(complete.get() + u32::from(done));
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        complete.get() * 10 >= total.get() * 8,
        "only {} of {} random pairs were compared completely",
        complete.get(),
        total.get()
    );
}

/// A side compiled with copy factor 0 (a fork wherever two sub-diagrams test different
/// variables) when `forks`, as `govern build` compiles it otherwise.
fn forked_side(label: &str, src: &str, forks: bool) -> Option<Side> {
    let files = vec![SourceFile::new(format!("{label}.gov"), src)];
    if !forks {
        return Side::from_sources(label, files).ok();
    }
    let bundle = govern::check::check_sources(files).ok()?;
    let model = govern::compile::compile_with(&bundle, 0).ok()?;
    let program = govern::vm::Program::load(&govern::bytecode::encode(&model)).ok()?;
    Some(Side {
        label: label.to_string(),
        program,
        bundle: Some(bundle),
        rev: None,
    })
}

/// The report of a comparison, without the count of nodes it made.
fn report_text(r: &Report) -> String {
    let mut json: Json = serde_json::from_str(&govern::diff::output::json(r)).unwrap();
    if let Some(o) = json.get_mut("stats").and_then(Json::as_object_mut) {
        o.remove("nodes");
    }
    format!("{}\n{json:#}", describe(r))
}

/// Narrowing the verdict functions to where the verdicts can differ (forks the two sides
/// share dropped, equal sub-diagrams skipped) gives exactly the report of the full product:
/// the same groups, regions, conditions, witnesses and unproved parts, on random pairs
/// changed as a pull request might change them, and on unrelated pairs.
#[test]
fn narrowing_gives_the_same_report_as_the_full_product() {
    let mut runner = pair_runner();
    let strategy = (
        policy_spec_sized(2, 4, 0.2),
        prop::collection::vec(mutation(), 1..3),
        policy_spec_sized(2, 3, 0.2),
        prop::bool::weighted(0.1),
        prop::bool::ANY,
    );
    type Pair = (PolicySpec, Vec<Mutation>, PolicySpec, bool, bool);
    let result = runner.run(
        &strategy,
        |(old, changes, unrelated, fresh, forks): Pair| {
            let new = if fresh {
                unrelated
            } else {
                mutate(&old, &changes)
            };
            let (old_src, new_src) = (render(&old), render(&new));
            // Half the pairs compiled with a fork wherever two rules test different variables,
            // so that the forks the two sides share are many.
            let (Some(a), Some(b)) = (
                forked_side("old", &old_src, forks),
                forked_side("new", &new_src, forks),
            ) else {
                return Err(TestCaseError::fail("generated policy refused"));
            };
            let opts = Options {
                per_group: 12,
                walk_steps: 20_000,
                ..Options::default()
            };
            let narrowed = diff(&a, &b, &opts);
            let full = diff(
                &a,
                &b,
                &Options {
                    narrow: false,
                    ..opts
                },
            );
            let (x, y) = (report_text(&narrowed), report_text(&full));
            let first = x
                .lines()
                .zip(y.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(x.lines().count().min(y.lines().count()));
            let around = |t: &str| -> String {
                let lines: Vec<&str> = t.lines().collect();
                lines[first.saturating_sub(12)..(first + 6).min(lines.len())].join("\n")
            };
            prop_assert!(
                x == y,
                "narrowed:\n{}\n\nfull:\n{}\n\nold:\n{}\nnew:\n{}",
                around(&x),
                around(&y),
                old_src,
                new_src
            );
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// The command end to end.

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

/// Runs `govern args…` in `dir`: a printable record (digests and versions masked) and the
/// exit status.
fn govern(dir: &Path, args: &[&str]) -> (String, i32) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let text = format!(
        "status: {code}\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = regex::Regex::new(r"sha256:[0-9a-f]{12,64}…?").unwrap();
    let text = digest.replace_all(&text, "sha256:…").to_string();
    let text = text.replace(env!("CARGO_PKG_VERSION"), "<version>");
    (text, code)
}

/// A fresh directory under the target directory with `files` written in it.
fn workdir(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("diff")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

const OLD_PAY: &str = "default deny\n\npolicy pay {\n  rule small: allow when tool == \"pay\" and args.amount <= 100\n  rule large: escalate\n    when tool == \"pay\" and args.amount > 1000\n    because \"large payments need a person\"\n}\n";
const NEW_PAY: &str = "default deny\n\npolicy pay {\n  rule small: allow when tool == \"pay\" and args.amount <= 500\n  rule large: escalate\n    when tool == \"pay\" and args.amount > 1000\n    because \"large payments need a person\"\n  rule audit: warn when tool == \"pay\" and args.to starts_with \"ext-\" because \"external payee\"\n}\n";

#[test]
fn cli_human_report() {
    let dir = workdir(
        "human",
        &[("old/pay.gov", OLD_PAY), ("new/pay.gov", NEW_PAY)],
    );
    let (text, code) = govern(&dir, &["diff", "old", "new", "--all"]);
    assert_eq!(code, 0, "{text}");
    snap!("diff_human", text);
}

#[test]
fn cli_machine_formats() {
    let dir = workdir(
        "formats",
        &[("old/pay.gov", OLD_PAY), ("new/pay.gov", NEW_PAY)],
    );
    let mut all = String::new();
    for f in ["json", "github", "sarif", "markdown"] {
        let (text, code) = govern(&dir, &["diff", "old", "new", "--format", f]);
        assert_eq!(code, 0, "{text}");
        all.push_str(&format!("=== --format {f}\n{text}"));
    }
    // The JSON document and the SARIF log parse.
    let (json, _) = govern(&dir, &["diff", "old", "new", "--format", "json"]);
    let body = json
        .split("--- stdout\n")
        .nth(1)
        .unwrap()
        .split("--- stderr")
        .next()
        .unwrap();
    let doc: Json = serde_json::from_str(body).unwrap();
    assert_eq!(doc["changes"][0]["from"], "deny");
    assert_eq!(doc["changes"][0]["regions"][0]["status"], "differs");
    snap!("diff_formats", all);
}

#[test]
fn cli_gates_and_equivalence() {
    let dir = workdir(
        "gates",
        &[
            ("old/pay.gov", OLD_PAY),
            ("new/pay.gov", NEW_PAY),
            ("same/pay.gov", OLD_PAY),
        ],
    );
    let status = |args: &[&str]| govern(&dir, args).1;
    assert_eq!(status(&["diff", "old", "new", "--fail-on", "new-allow"]), 1);
    assert_eq!(
        status(&["diff", "old", "new", "--fail-on", "any-change"]),
        1
    );
    assert_eq!(status(&["diff", "new", "old", "--fail-on", "new-allow"]), 0);
    assert_eq!(
        status(&["diff", "old", "same", "--fail-on", "new-allow,any-change"]),
        0
    );
    assert_eq!(status(&["diff", "old", "same", "--equivalent"]), 0);
    assert_eq!(status(&["diff", "old", "new", "--equivalent"]), 1);
    // A budget too small to prove anything never passes a gate.
    let (text, code) = govern(
        &dir,
        &[
            "diff",
            "old",
            "same",
            "--max-nodes",
            "5",
            "--fail-on",
            "any-change",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not proved"), "{text}");
    snap!("diff_budget", text);
}

#[test]
fn cli_bad_input() {
    let dir = workdir(
        "bad",
        &[
            ("old/pay.gov", OLD_PAY),
            (
                "broken/pay.gov",
                "policy pay {\n  rule small: allow when tool == \n}\n",
            ),
            (
                "typo/pay.gov",
                "policy pay {\n  rule small: allow when tool == \"pay\" and args.amount <= \"x\"\n}\n",
            ),
        ],
    );
    let mut all = String::new();
    for args in [
        vec!["diff", "old", "broken"],
        vec!["diff", "typo", "old"],
        vec!["diff", "old"],
        vec!["diff", "old", "missing"],
    ] {
        let (text, code) = govern(&dir, &args);
        assert_eq!(code, 2, "{text}");
        all.push_str(&format!("=== {}\n{text}", args.join(" ")));
    }
    snap!("diff_bad_input", all);
    // Both sides broken: each side's diagnostics, the old side's first, whether the two sides
    // load one after the other or on two threads.
    let (one, code) = govern(&dir, &["diff", "broken", "typo", "--jobs", "1"]);
    assert_eq!(code, 2, "{one}");
    let (two, _) = govern(&dir, &["diff", "broken", "typo", "--jobs", "2"]);
    assert_eq!(one, two, "--jobs 2 loads the sides differently");
    let (old, new) = (one.find("broken/pay.gov"), one.find("typo/pay.gov"));
    assert!(
        old.zip(new).is_some_and(|(o, n)| o < n),
        "both sides' errors, the old side's first:\n{one}"
    );
}

#[test]
fn cli_bundle_side() {
    let dir = workdir(
        "bundle",
        &[("old/pay.gov", OLD_PAY), ("new/pay.gov", NEW_PAY)],
    );
    let (text, code) = govern(&dir, &["build", "old", "-o", "old.govb"]);
    assert_eq!(code, 0, "{text}");
    let (text, code) = govern(&dir, &["diff", "old.govb", "new", "--format", "json"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"status\": \"differs\""), "{text}");
    // A file that is no bundle is refused, named.
    std::fs::write(dir.join("fake.govb"), "GOVB not really").unwrap();
    let (text, code) = govern(&dir, &["diff", "fake.govb", "new"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("fake.govb"), "{text}");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn cli_git_revisions() {
    let dir = workdir("git", &[("policies/pay.gov", OLD_PAY), ("README", "x\n")]);
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "one"]);
    git(&dir, &["tag", "v1"]);
    std::fs::write(dir.join("policies/pay.gov"), NEW_PAY).unwrap();
    // An unrelated staged change and an untracked file: neither may be touched.
    std::fs::write(dir.join("README"), "y\n").unwrap();
    git(&dir, &["add", "README"]);
    std::fs::write(dir.join("policies/notes.txt"), "draft\n").unwrap();
    let before = git(&dir, &["status", "--porcelain"]);
    let mut all = String::new();
    let (text, code) = govern(
        &dir,
        &[
            "diff",
            "--git",
            "main",
            "policies",
            "--fail-on",
            "new-allow",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("old  main:policies "), "{text}");
    all.push_str(&format!("=== --git main policies\n{text}"));
    assert_eq!(git(&dir, &["status", "--porcelain"]), before);
    assert_eq!(
        std::fs::read_to_string(dir.join("policies/pay.gov")).unwrap(),
        NEW_PAY
    );
    // Two revisions.
    git(&dir, &["commit", "-q", "-am", "two"]);
    let (text, code) = govern(
        &dir,
        &["diff", "--git", "v1..main", "policies", "--format", "json"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"label\": \"main:policies\""), "{text}");
    // From a subdirectory, with a relative path.
    let (text, code) = govern(&dir.join("policies"), &["diff", "--git", "v1", "pay.gov"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("v1:pay.gov"), "{text}");
    // Errors name the revision and the path.
    for args in [
        vec!["diff", "--git", "nosuchbranch", "policies"],
        vec!["diff", "--git", "v1", "elsewhere"],
        vec!["diff", "--git", "--upload-pack=x", "policies"],
    ] {
        let (text, code) = govern(&dir, &args);
        assert_eq!(code, 2, "{text}");
        all.push_str(&format!("=== {}\n{text}", args.join(" ")));
    }
    snap!("diff_git", all);
}

/// A blob past the policy-file limit in the git revision is refused from its size, before it
/// is read, as the same file in the working tree is.
#[test]
fn cli_git_blob_over_the_limit() {
    let dir = workdir("git-big", &[("policies/pay.gov", OLD_PAY)]);
    let max = govern::limits::POLICY_FILE.max as usize;
    let mut big = String::with_capacity(max + 8);
    big.push_str("// ");
    big.push_str(&"x".repeat(max));
    big.push('\n');
    std::fs::write(dir.join("policies/big.gov"), &big).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "one"]);
    // The working tree no longer has it: only the revision's copy is too large.
    std::fs::remove_file(dir.join("policies/big.gov")).unwrap();
    let (text, code) = govern(&dir, &["diff", "--git", "main", "policies"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("main:policies/big.gov"), "{text}");
    assert!(text.contains("larger than 16 MiB"), "{text}");
}

#[test]
fn cli_help() {
    let (text, code) = govern(Path::new(ROOT), &["diff", "--help"]);
    assert_eq!(code, 0);
    snap!("cli_help_diff", text);
}

/// Nine allow rules on pairs of attributes whose diagram order (`args.a0` … `args.a8` before
/// `args.b0` …) makes the verdict function exponential: a diff that needs far more nodes than
/// the two bundles.
fn pairs(bounds: &[(u32, u32)]) -> String {
    let mut s = String::from("default deny\npolicy p {\n");
    for t in 0..9u32 {
        let bound = bounds.iter().find(|(k, _)| *k == t).map_or(10, |(_, b)| *b);
        s.push_str(&format!(
            "  rule a{t}: allow when args.a{t} > {bound} and args.b{t} == true\n"
        ));
    }
    s.push_str("}\n");
    s
}

/// Past the node budget, the comparison is split on the first variable; the parts that fit are
/// reported (each region confirmed), the parts that do not are named, and no gate passes.
#[test]
fn past_the_budget_what_was_proved_is_reported() {
    let old = side("old", &pairs(&[]));
    let new = side("new", &pairs(&[(3, 5), (7, 15)]));
    let r = diff(
        &old,
        &new,
        &Options {
            budget: 800,
            ..Options::default()
        },
    );
    let shown = describe(&r);
    assert!(!r.complete(), "{shown}");
    assert!(r.new_allow() && r.any_change() && !r.equivalent());
    // Some parts were not proved, and are named by the condition that delimits them.
    assert!(
        r.unproved
            .iter()
            .any(|u| u.starts_with("where args.b") && u.contains("nothing was proved there")),
        "{shown}"
    );
    // What was proved in the parts that fit is real: a confirmed, widened bound.
    assert!(!r.groups.is_empty(), "{shown}");
    for g in &r.groups {
        for reg in &g.regions {
            assert_eq!(reg.proof.status, Status::Differs, "{shown}");
            let ev = reg.proof.event.as_ref().unwrap();
            let (a, b) = (decide(&old, ev), decide(&new, ev));
            assert_eq!((a.verdict, b.verdict), (g.from, g.to), "{ev}");
        }
    }
    assert!(shown.contains("not proved: where args.b"), "{shown}");
    assert!(!shown.contains("no change"), "{shown}");
}

/// The many-changes pair of the benchmark (`benches/common.rs`), with 3 tools instead of 100:
/// every `action` guard dropped, every escalation made a deny. Grouped piece by piece (the
/// diagram of changes split at its top nodes into small pieces, both sides folded within each:
/// the mode for large diagrams of changes) the report is complete; every group names the rules
/// on both sides and holds a witness that the reference interpreter decides as the group says;
/// and the groups are those of the grouping of the whole diagram.
#[test]
fn many_changes_are_grouped_completely() {
    let src = common::bundle_source(3);
    let (old, new) = (side("old", &src), side("new", &common::many_changes(&src)));
    // Piece by piece.
    let tight = Options {
        budget: MANY_BUDGET,
        whole_grouping_max: 0,
        per_group: 3,
        ..Options::default()
    };
    let r = diff(&old, &new, &tight);
    let shown = describe(&r);
    assert!(r.groups.len() > 3, "{shown}");
    assert_complete_and_witnessed(&r, &old, &new, &shown);
    // The whole grouping, given room, finds the same groups.
    let whole = diff(
        &old,
        &new,
        &Options {
            whole_grouping_max: usize::MAX,
            budget: Options::default().budget,
            ..tight
        },
    );
    assert!(whole.complete());
    let keys = |r: &Report| -> Vec<String> {
        r.groups
            .iter()
            .map(|g| format!("{} {} {:?}", g.from, g.to, g.rules))
            .collect()
    };
    assert_eq!(keys(&r), keys(&whole));
}

/// The many-changes pair of the 1,000-rule benchmark itself (`benches/common.rs`: 100 tools,
/// every `action` guard dropped, every escalation made a deny), with the default options: its
/// diagram of changes is past the size grouped as a whole, so it is grouped piece by piece, and
/// the report must be complete: every group named by its rules on both sides, every region
/// enumerated, and each group holding a witness the reference interpreter decides as it says.
#[test]
fn the_benchmark_with_many_changes_is_complete() {
    let src = common::bundle_source(100);
    let (old, new) = (side("old", &src), side("new", &common::many_changes(&src)));
    let r = diff(&old, &new, &Options::default());
    assert!(r.groups.len() > 1000, "{} groups", r.groups.len());
    assert_complete_and_witnessed(&r, &old, &new, &format!("{:?}", r.unproved));
    // The tools shared by two threads: the same report, byte for byte.
    let threaded = diff(
        &old,
        &new,
        &Options {
            jobs: 2,
            ..Options::default()
        },
    );
    assert!(
        govern::diff::output::json(&r) == govern::diff::output::json(&threaded),
        "--jobs 2 gives another report"
    );
}

/// The report is complete, every group names the rules on both sides, no region is left
/// unconfirmed, and each group holds a witness that the reference interpreter (a fresh stream
/// per witness) decides on both sides as the group says, rules included.
fn assert_complete_and_witnessed(r: &Report, old: &Side, new: &Side, shown: &str) {
    assert!(r.complete(), "{shown}");
    let (a, b) = (old.bundle.as_ref().unwrap(), new.bundle.as_ref().unwrap());
    for g in &r.groups {
        let [ro, rn] = g.rules.as_ref().expect("grouped by rules");
        let mut witnessed = false;
        for reg in &g.regions {
            assert_ne!(reg.proof.status, Status::Unconfirmed, "{ro:?} → {rn:?}");
            if reg.proof.status != Status::Differs {
                continue;
            }
            let ev = reg.proof.event.as_ref().unwrap();
            let (x, y) = (
                Reference::new(a, "").eval(ev),
                Reference::new(b, "").eval(ev),
            );
            assert_eq!((x.verdict, y.verdict), (g.from, g.to), "{ev}");
            assert_eq!((&x.rules, &y.rules), (ro, rn), "{ev}");
            witnessed = true;
        }
        assert!(
            witnessed,
            "a group without a witness: {ro:?} → {rn:?}\n{shown}"
        );
    }
}

/// The node budget [`many_changes_are_grouped_completely`] compares within.
const MANY_BUDGET: usize = 200_000;

/// The CI example uses only options `govern diff` has, with values it accepts.
#[test]
fn ci_example_matches_the_command() {
    let path = Path::new(ROOT).join("examples/ci/govern-diff.yml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the workflow is YAML");
    let steps = doc["jobs"]["diff"]["steps"].as_sequence().unwrap();
    let (help, _) = govern(Path::new(ROOT), &["diff", "--help"]);
    let mut seen = 0;
    for step in steps {
        let Some(run) = step["run"].as_str() else {
            continue;
        };
        for line in run.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("govern diff ") else {
                continue;
            };
            seen += 1;
            let words: Vec<&str> = rest.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                let Some(flag) = w.strip_prefix("--") else {
                    continue;
                };
                assert!(
                    help.contains(&format!("--{flag}")),
                    "unknown option --{flag}"
                );
                let value = words.get(i + 1).copied().unwrap_or("");
                if flag == "format" || flag == "fail-on" {
                    assert!(help.contains(&format!("- {value}:")), "--{flag} {value}");
                }
            }
        }
    }
    assert!(seen >= 2, "no govern diff command found");
}

/// A corpus case by file name.
fn corpus_case(file: &str) -> Case {
    corpus()
        .into_iter()
        .find(|(n, _)| n == file)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("{file} is in the corpus"))
}

#[test]
fn comparisons_of_two_attributes_take_their_outcomes_together() {
    // `<` loosened to `<=`: only equal values change. Without the combinations two values can
    // give, the product also reports `<` true and `<=` false (deny → allow, may differ).
    let c = corpus_case("compare_attributes.yaml");
    let (old, new) = (side("old", &c.old), side("new", &c.new));
    let r = diff(&old, &new, &Options::default());
    let shown = describe(&r);
    assert!(r.complete(), "{shown}");
    assert_eq!(r.count(Status::MayDiffer), 0, "{shown}");
    assert!(r.groups.iter().all(|g| g.to == Verdict::Deny), "{shown}");
    for g in &r.groups {
        for reg in &g.regions {
            assert_eq!(reg.proof.status, Status::Differs, "{shown}");
            let ev = reg.proof.event.as_ref().unwrap();
            assert_eq!(
                ev["annotations"]["child_ring"], ev["agent"]["ring"],
                "{shown}"
            );
        }
    }
}

#[test]
fn fold_each_changes_are_confirmed_by_witnesses() {
    // The scopes that fold to `*` without being `*` are found: the group that closes access
    // has a witness, decided again by both bundles. A list that holds `*` has folds that
    // hold it: nothing opens access (without relating the two tests, `deny → allow` "may
    // differ").
    let c = corpus_case("fold_each.yaml");
    let (old, new) = (side("old", &c.old), side("new", &c.new));
    let r = diff(&old, &new, &Options::default());
    let shown = describe(&r);
    assert!(r.groups.iter().all(|g| !g.opens()), "{shown}");
    let g = r
        .groups
        .iter()
        .find(|g| g.from == Verdict::Allow && g.to == Verdict::Deny)
        .unwrap_or_else(|| panic!("allow → deny\n{shown}"));
    assert!(!g.regions.is_empty(), "{shown}");
    let mut scopes = 0;
    for reg in &g.regions {
        if reg.proof.status != Status::Differs {
            continue;
        }
        let ev = reg.proof.event.as_ref().unwrap();
        let (a, b) = (decide(&old, ev), decide(&new, ev));
        assert_eq!(
            (a.verdict, b.verdict),
            (Verdict::Allow, Verdict::Deny),
            "{ev}"
        );
        if ev["args"]["scopes"].is_array() {
            scopes += 1;
        }
    }
    assert!(scopes > 0, "no witness with a list of scopes\n{shown}");
}

#[test]
fn regions_too_many_to_walk_are_counted_and_every_group_is_found() {
    // Flipping `x` opens access wherever no other rule denies: one disjunction per rule, 2^7
    // paths. Past the walk's bound, the full groups' paths are counted instead of walked: the
    // same groups as an unbounded walk, each with its regions and witnesses, complete.
    let mut old = String::from("policy p {\n  rule all: allow when true\n");
    for i in 0..7 {
        old.push_str(&format!(
            "  rule d{i}: deny when args.a{i} == 1 and args.b{i} == 1 because \"d{i}\"\n"
        ));
    }
    old.push_str("  rule w: escalate when args.c == 1 and tool == \"y\"\n");
    let new = format!("{old}  rule x: allow when tool == \"x\"\n}}\n");
    let old = format!("{old}  rule x: deny when tool == \"x\" because \"x\"\n}}\n");
    let (a, b) = (side("old", &old), side("new", &new));
    let bounded = Options {
        per_group: 3,
        walk_steps: 300,
        ..Options::default()
    };
    let r = diff(&a, &b, &bounded);
    let shown = describe(&r);
    assert!(r.complete(), "{shown}");
    let full = diff(
        &a,
        &b,
        &Options {
            per_group: 3,
            ..Options::default()
        },
    );
    let key = |r: &Report| -> Vec<String> {
        r.groups
            .iter()
            .map(|g| format!("{} {} {:?}", g.from, g.to, g.rules))
            .collect()
    };
    assert_eq!(key(&r), key(&full), "{shown}");
    assert!(!r.groups.is_empty());
    for g in &r.groups {
        assert!((1..=3).contains(&g.regions.len()), "{shown}");
        assert!(g.more > 0, "{shown}");
        for reg in &g.regions {
            assert_eq!(reg.proof.status, Status::Differs, "{shown}");
            let ev = reg.proof.event.as_ref().unwrap();
            let (x, y) = (decide(&a, ev), decide(&b, ev));
            assert_eq!((x.verdict, y.verdict), (g.from, g.to), "{ev}");
        }
    }
}
