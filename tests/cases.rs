//! The case corpus: every file in `testdata/cases/` is a policy, a stream of events and the
//! decisions expected for them. Each stream runs on the VM and on the reference interpreter;
//! both must give exactly the expected decisions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use govern::decision::Decision;
use govern::diag::SourceFile;
use govern::reference::Reference;
use govern::vm::{Event, Outcome, StreamLimits};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    policy: String,
    /// Stream limits other than the default.
    #[serde(default)]
    stream: Option<Limits>,
    events: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    #[serde(default)]
    max_keys: Option<usize>,
    /// A duration in seconds, or `none` to believe every `ts`.
    #[serde(default)]
    max_skew: Option<String>,
}

impl Limits {
    fn get(&self) -> StreamLimits {
        let mut l = StreamLimits::default();
        if let Some(k) = self.max_keys {
            l.max_keys = k;
        }
        match self.max_skew.as_deref() {
            None => {}
            Some("none") => l.max_skew = None,
            Some(secs) => l.max_skew = Some(secs.parse::<i64>().unwrap() * 1_000_000_000),
        }
        l
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    /// The event as YAML (turned into JSON).
    #[serde(default)]
    event: Option<serde_yaml::Value>,
    /// The event as raw JSON text, for inputs YAML cannot express (duplicate keys…).
    #[serde(default)]
    raw: Option<String>,
    /// Decide it at this time from a trusted clock (`eval_at`) instead of its own `ts`.
    #[serde(default)]
    at: Option<String>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    decision: String,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    messages: Vec<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    unknown: Vec<String>,
    /// The event is refused as input (not a JSON object, invalid JSON).
    #[serde(default)]
    error: bool,
}

fn check(d: &Decision, e: &Expect, what: &str, failures: &mut Vec<String>) {
    let warnings: Vec<String> = d.warnings.iter().map(|w| w.rule.clone()).collect();
    let got = (
        d.verdict.as_str(),
        &d.rules,
        &d.messages,
        &warnings,
        &d.unknown,
        d.error.is_some(),
    );
    let want = (
        e.decision.as_str(),
        &e.rules,
        &e.messages,
        &e.warnings,
        &e.unknown,
        e.error,
    );
    if got != want {
        failures.push(format!("{what}:\n   got  {got:?}\n   want {want:?}"));
    }
}

/// Runs one case file; `limit` is the diagram copy factor (`None` for the default).
/// Returns the number of events and the number of forks in the compiled diagram.
fn run_case(path: &Path, limit: Option<usize>, failures: &mut Vec<String>) -> (usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let case: Case =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let bundle = govern::check::check_sources(vec![SourceFile::new(
        format!("{name}.gov"),
        case.policy.clone(),
    )])
    .unwrap_or_else(|ds| {
        let msgs: Vec<String> = ds.iter().map(|d| d.short()).collect();
        panic!("{name}: policy does not compile:\n{}", msgs.join("\n"))
    });
    let model = match limit {
        None => govern::compile::compile(&bundle).unwrap(),
        Some(l) => govern::compile::compile_with(&bundle, l as u64).unwrap(),
    };
    let bytes = govern::bytecode::encode(&model);
    let program = &govern::vm::Program::load(&bytes).unwrap();
    let forks = program
        .model
        .nodes
        .iter()
        .filter(|n| matches!(n, govern::bytecode::model::NodeDef::Fork { .. }))
        .count();
    let name = match limit {
        None => name,
        Some(l) => format!("{name} (copy factor {l})"),
    };
    let limits = case.stream.as_ref().map(Limits::get).unwrap_or_default();
    let mut reference = Reference::with_limits(&bundle, program.digest.clone(), limits);
    let mut state = program.new_state_with(limits);
    let mut event = Event::default();
    let mut outcome = Outcome::default();
    for (i, step) in case.events.iter().enumerate() {
        let what = format!("{name} ({}), event {}", case.description, i + 1);
        let text = match (&step.event, &step.raw) {
            (Some(v), None) => serde_json::to_string(&serde_json::to_value(v).unwrap()).unwrap(),
            (None, Some(raw)) => raw.clone(),
            _ => panic!("{what}: give exactly one of `event` and `raw`"),
        };
        let at = step
            .at
            .as_ref()
            .map(|t| govern::time::parse_rfc3339(t).unwrap_or_else(|| panic!("{what}: bad `at`")));
        let vm = match program.read_event(&text, &mut event) {
            Ok(()) => {
                match at {
                    Some(now) => program.eval_at(&mut event, now, &mut state, &mut outcome),
                    None => program.eval(&event, &mut state, &mut outcome),
                }
                program.decision(&outcome)
            }
            Err(e) => Decision::error(&program.digest, e.message),
        };
        let json: Result<serde_json::Value, _> = serde_json::from_str(&text);
        let oracle = match (json, at) {
            (Ok(v), Some(now)) => reference.eval_at(&v, now),
            (Ok(v), None) => reference.eval(&v),
            (Err(e), _) => Decision::error(&program.digest, e.to_string()),
        };
        check(&vm, &step.expect, &format!("{what} on the VM"), failures);
        check(
            &oracle,
            &step.expect,
            &format!("{what} on the reference"),
            failures,
        );
    }
    (case.events.len(), forks)
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    assert!(
        files.len() >= 20,
        "the corpus has only {} files",
        files.len()
    );
    let mut events = 0;
    let mut failures = Vec::new();
    for f in &files {
        events += run_case(f, None, &mut failures).0;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(events >= 200, "the corpus has only {events} events");
}

/// The same corpus compiled to fork wherever sub-diagrams test different variables: the VM
/// must merge the leaves of every fork into the same decisions.
#[test]
fn corpus_in_groups() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    let mut failures = Vec::new();
    let mut forks = 0;
    for f in &files {
        forks += run_case(f, Some(0), &mut failures).1;
    }
    assert!(forks >= 20, "copy factor 0 produced only {forks} forks");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A live decision point decides each event at its clock's time and records the event as
/// decided; deciding those records again, with every `ts` believed, gives the same decisions,
/// on the VM and on the reference.
#[test]
fn decided_events_replay_to_the_same_decisions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut replayed = 0;
    for path in &files {
        let case: Case = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bundle = govern::check::check_sources(vec![SourceFile::new(
            format!("{name}.gov"),
            case.policy.clone(),
        )])
        .unwrap();
        let program = govern::vm::Program::load(&govern::bytecode::encode(
            &govern::compile::compile(&bundle).unwrap(),
        ))
        .unwrap();
        let limits = case.stream.as_ref().map(Limits::get).unwrap_or_default();
        let trusted = StreamLimits {
            max_skew: None,
            ..limits
        };
        let (mut live, mut again) = (
            program.new_state_with(limits),
            program.new_state_with(trusted),
        );
        let mut oracle = Reference::with_limits(&bundle, program.digest.clone(), trusted);
        let (mut ev, mut out) = (Event::default(), Outcome::default());
        // A host clock that mostly moves on, sometimes stands still or steps back.
        let mut now = govern::time::parse_rfc3339("2026-11-23T21:59:50.5Z").unwrap();
        for (i, step) in case.events.iter().enumerate() {
            let text = match (&step.event, &step.raw) {
                (Some(v), _) => serde_json::to_string(&serde_json::to_value(v).unwrap()).unwrap(),
                (None, Some(raw)) => raw.clone(),
                _ => continue,
            };
            now += [7_000_000_001i64, 0, -3_000_000_000, 61_000_000_000][i % 4];
            if program.read_event(&text, &mut ev).is_err() {
                continue;
            }
            program.eval_at(&mut ev, now, &mut live, &mut out);
            let decided_live = program.decision(&out);
            let decided = govern::vm::event_as_decided(&text, now).unwrap();
            program.read_event(&decided, &mut ev).unwrap();
            program.eval(&ev, &mut again, &mut out);
            let what = format!("{name}, event {}: {decided}", i + 1);
            assert_eq!(program.decision(&out), decided_live, "{what}");
            let oracle_decision = oracle.eval(&serde_json::from_str(&decided).unwrap());
            assert_eq!(oracle_decision, decided_live, "{what} (reference)");
            replayed += 1;
        }
    }
    assert!(replayed >= 200, "only {replayed} events replayed");
}
