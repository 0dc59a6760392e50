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
use serde::Deserialize;
use serde_json::Value as Json;

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
