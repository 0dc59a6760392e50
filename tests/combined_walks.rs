//! The policy library's forked diagram walked as one combined walk (built at load by a
//! decision point, after its first decisions otherwise) and fork by fork: the same leaves in the same order, so the same decisions and stream state, event
//! after event, decided whole and after a pre-walk. `vm_vs_reference` does the same on
//! random policies. A bundle too large to combine whole (the 1,000-rule benchmark) is held
//! to the same, where the combined walk hands the walks past its bound on to separate walks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../benches/common.rs"]
mod common;

use govern::trace::generator::{GenOptions, write_trace};
use govern::vm::{Event, Outcome, Program};

const BIN: &str = env!("CARGO_BIN_EXE_govern");

/// The bundle `govern build` makes of `source` (a path under the project, or a file's text).
fn build(name: &str, source: Result<&str, &str>) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("govern-combined-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.govb");
    let input = match source {
        Ok(path) => std::path::PathBuf::from(path),
        Err(text) => {
            let p = dir.join("policy.gov");
            std::fs::write(&p, text).unwrap();
            p
        }
    };
    let status = std::process::Command::new(BIN)
        .arg("build")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    bytes
}

#[test]
fn the_library_decides_the_same_combined_and_fork_by_fork() {
    let bytes = build("lib", Ok("policies"));
    let combined = Program::load(&bytes).unwrap();
    assert!(
        combined.combined_nodes().is_some(),
        "the library's walks combine"
    );
    let sample = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/traces/sample.jsonl"),
    )
    .unwrap();
    let mut generated = Vec::new();
    write_trace(
        &GenOptions {
            events: 20_000,
            seed: 7,
            agents: 40,
            session_len: 30,
            recorded: 0.3,
        },
        &mut generated,
    )
    .unwrap();
    let generated = String::from_utf8(generated).unwrap();
    let lines: Vec<&str> = sample
        .lines()
        .chain(generated.lines())
        .chain(["{}", "{\"tool\":7}", "{\"action\":\"tool_call\"}"])
        .filter(|l| !l.trim().is_empty())
        .collect();
    let kinds = decide_alike(&bytes, &lines);
    // The decision JSON is checked against the decision's own writer with one determining
    // rule, with several, and with warnings or unknowns (the library always has a
    // determining rule; the benchmark's bundle below decides without one).
    assert!(kinds[1..].iter().all(|&n| n > 0), "{kinds:?}");
}

#[test]
fn a_bundle_past_the_bound_decides_the_same_combined_and_fork_by_fork() {
    let bytes = build("bench", Err(&common::policy(1000)));
    let combined = Program::load(&bytes).unwrap();
    // Past the bound of 8,192 testing nodes, the walks go on separately from where the
    // combined walk leaves them: this bundle's combination reaches it.
    let nodes = combined
        .combined_nodes()
        .expect("the benchmark's walks combine");
    assert!(nodes > 1 << 13, "{nodes} nodes: the bound is not reached");
    let events = common::events(1000);
    let lines: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .chain([
            "{}",
            "{\"tool\":\"tool_3\"}",
            "{\"tool\":\"tool_3\",\"args\":{\"amount\":31}}",
        ])
        .collect();
    let kinds = decide_alike(&bytes, &lines);
    assert!(kinds[0] > 0, "{kinds:?}");
}

#[test]
fn a_program_combines_its_walks_after_its_first_decisions_and_decides_the_same() {
    // Loaded without a decision point, the library walks separately at first and combines
    // its walks after its first 2,048 whole walks: the decisions are the same throughout.
    let bytes = build("later", Ok("policies"));
    let later = Program::load(&bytes).unwrap();
    let mut separate = Program::load(&bytes).unwrap();
    separate.walk_separately();
    assert!(!later.combined_built(), "built at load");
    let sample = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/traces/sample.jsonl"),
    )
    .unwrap();
    let lines: Vec<&str> = sample.lines().filter(|l| !l.trim().is_empty()).collect();
    let (mut a, mut b) = (later.new_state(), separate.new_state());
    let (mut oa, mut ob) = (Outcome::default(), Outcome::default());
    let (mut ea, mut eb) = (Event::default(), Event::default());
    let (mut ja, mut jb) = (String::new(), String::new());
    for i in 0..2_200 {
        let line = lines[i % lines.len()];
        later.read_event(line, &mut ea).unwrap();
        separate.read_event(line, &mut eb).unwrap();
        let now = 1_795_428_000_000_000_000 + i as i64 * 250_000_000;
        later.eval_at(&mut ea, now, &mut a, &mut oa);
        separate.eval_at(&mut eb, now, &mut b, &mut ob);
        assert_eq!(format!("{oa:?}"), format!("{ob:?}"), "{i}: {line}");
        ja.clear();
        jb.clear();
        later.write_json(&oa, &mut ja);
        separate.write_json(&ob, &mut jb);
        assert_eq!(ja, jb, "{i}: {line}");
        assert_eq!(a.keys(), b.keys());
        if i == 1_000 {
            assert!(!later.combined_built(), "built after {i} decisions");
        }
    }
    assert!(later.combined_built(), "not built after 2,200 decisions");
    assert!(!separate.combined_built());
}

/// Decides each line with the bundle's combined walk and with its separate walks, whole and
/// after a pre-walk, and holds the outcomes, decision JSON and stream state to each other,
/// and the decision JSON to the one [`govern::decision::Decision`] writes. Counts the
/// decisions with no determining rule, with one, with several, and with warnings or
/// unknowns.
fn decide_alike(bytes: &[u8], lines: &[&str]) -> [usize; 4] {
    let mut kinds = [0; 4];
    let combined = Program::load(bytes).unwrap();
    // Built now, as a decision point builds it at load (otherwise the first decisions
    // would walk separately).
    assert!(combined.combine_walks());
    let mut separate = Program::load(bytes).unwrap();
    separate.walk_separately();
    assert!(separate.combined_nodes().is_none());
    let (mut a, mut b) = (combined.new_state(), separate.new_state());
    let (mut pa, mut pb) = (combined.new_state(), separate.new_state());
    let (mut sa, mut sb) = (combined.new_state(), separate.new_state());
    let (mut oa, mut ob) = (Outcome::default(), Outcome::default());
    let (mut ea, mut eb) = (Event::default(), Event::default());
    let (mut starts_a, mut starts_b) = (Vec::new(), Vec::new());
    let (mut ja, mut jb) = (String::new(), String::new());
    for (i, line) in lines.iter().enumerate() {
        combined.read_event(line, &mut ea).unwrap();
        separate.read_event(line, &mut eb).unwrap();
        let now = 1_795_428_000_000_000_000 + i as i64 * 250_000_000;
        // Decided whole at the host's time.
        combined.eval_at(&mut ea, now, &mut a, &mut oa);
        separate.eval_at(&mut eb, now, &mut b, &mut ob);
        assert_eq!(format!("{oa:?}"), format!("{ob:?}"), "{line}");
        ja.clear();
        jb.clear();
        combined.write_json(&oa, &mut ja);
        separate.write_json(&ob, &mut jb);
        assert_eq!(ja, jb, "{line}");
        let d = combined.decision(&oa);
        assert_eq!(ja, d.to_json_line(), "{line}");
        kinds[d.rules.len().min(2)] += 1;
        kinds[3] += usize::from(!d.warnings.is_empty() || !d.unknown.is_empty());
        assert_eq!(a.keys(), b.keys());
        // Pre-walked, then finished on the stream (as `serve` decides).
        combined.prewalk(&ea, &mut sa, &mut starts_a);
        separate.prewalk(&eb, &mut sb, &mut starts_b);
        assert_eq!(
            combined.is_stateless(&starts_a),
            separate.is_stateless(&starts_b),
            "{line}"
        );
        combined.eval_from(&ea, &starts_a, &mut pa, &mut oa);
        separate.eval_from(&eb, &starts_b, &mut pb, &mut ob);
        assert_eq!(format!("{oa:?}"), format!("{ob:?}"), "{line}");
        assert_eq!(pa.keys(), pb.keys());
    }
    kinds
}

#[test]
fn separate_walks_keep_what_a_variable_gave_one_event_only() {
    // The separate walks keep each variable's outcome for the event being decided: one
    // state deciding event after event, reset between them as `govern diff`'s judge does,
    // decides each as a fresh state does, and as the combined walk does; and one state
    // deciding the whole stream, never reset, decides as the combined walk's own stream.
    let bytes = build("kept", Err(&common::policy(1000)));
    let mut separate = Program::load(&bytes).unwrap();
    separate.walk_separately();
    let combined = Program::load(&bytes).unwrap();
    assert!(combined.combine_walks());
    let events = common::events(300);
    let lines: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .chain(["{}", "{\"tool\":\"tool_3\",\"args\":{\"amount\":31}}"])
        .collect();
    let mut reused = separate.new_state();
    let (mut stream_s, mut stream_c) = (separate.new_state(), combined.new_state());
    let (mut oa, mut ob, mut oc) = (Outcome::default(), Outcome::default(), Outcome::default());
    let (mut os, mut ot) = (Outcome::default(), Outcome::default());
    let mut ev = Event::default();
    for line in lines.iter().chain(lines.iter().rev()) {
        separate.read_event(line, &mut ev).unwrap();
        reused.reset();
        separate.eval_alone(&ev, &mut reused, &mut oa);
        separate.eval_alone(&ev, &mut separate.new_state(), &mut ob);
        separate.eval(&ev, &mut stream_s, &mut os);
        combined.read_event(line, &mut ev).unwrap();
        combined.eval_alone(&ev, &mut combined.new_state(), &mut oc);
        combined.eval(&ev, &mut stream_c, &mut ot);
        assert_eq!(format!("{os:?}"), format!("{ot:?}"), "stream: {line}");
        assert_eq!(format!("{oa:?}"), format!("{ob:?}"), "{line}");
        assert_eq!(format!("{oa:?}"), format!("{oc:?}"), "{line}");
    }
}
