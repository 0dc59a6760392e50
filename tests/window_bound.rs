//! A key's window keeps a bounded number of entries at any event rate
//! (`StreamLimits::EXACT_ENTRIES`, `src/vm/state.rs`): on streams of thousands of calls a few
//! hundred microseconds apart, far more than a window keeps exact, the VM's decisions are
//! checked against the reference interpreter, which keeps every event. The VM is never more
//! permissive, and differs only where a merged span is on the window's edge.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use govern::check::ir::Verdict;
use govern::diag::SourceFile;
use govern::reference::Reference;
use govern::vm::{Event, Outcome, Program, StreamLimits};
use serde_json::json;

fn run(policy: &str, seed: u64) -> (usize, usize, usize, usize) {
    let bundle = govern::check::check_sources_with(
        vec![SourceFile::new("w.gov", policy.to_string())],
        &std::collections::BTreeMap::new(),
    )
    .map_err(|ds| ds.iter().map(|d| d.short()).collect::<Vec<_>>().join("\n"))
    .unwrap();
    let model = govern::compile::compile(&bundle).unwrap();
    let program = Program::load(&govern::bytecode::encode(&model)).unwrap();
    let limits = StreamLimits::default();
    let mut reference = Reference::with_limits(&bundle, program.digest.clone(), limits);
    let mut state = program.new_state_with(limits);
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    let mut x = seed | 1;
    let mut rng = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut now = 1_795_428_000_000_000_000i64;
    let (mut allowed, mut denied, mut stricter) = (0, 0, 0);
    let n = 6_000;
    for i in 0..n {
        // A steady rate: about 2,500 instants in the window, the values hovering around the
        // thresholds.
        now += rng(800_000) as i64;
        let action = if rng(10) < 8 { "tool_call" } else { "llm_call" };
        let e = json!({"session": "s", "action": action, "tokens": rng(100)});
        program.read_event(&e.to_string(), &mut ev).unwrap();
        program.eval_at(&mut ev, now, &mut state, &mut out);
        let vm = program.decision(&out).verdict;
        let exact = reference.eval_at(&e, now).verdict;
        match (vm, exact) {
            (Verdict::Allow, Verdict::Allow) => allowed += 1,
            (Verdict::Deny, Verdict::Deny) => denied += 1,
            (Verdict::Deny, Verdict::Allow) => stricter += 1,
            _ => panic!("event {i}: the VM says {vm:?} where the exact answer is {exact:?}"),
        }
    }
    (allowed, denied, stricter, n)
}

#[test]
fn busy_windows_are_never_more_permissive_than_every_event_kept() {
    // Rules on both sides of a threshold: a value counted too high (or a sum too low) would
    // permit with some, a value too low with the others.
    let policies = [
        "default allow\npolicy p {\n  rule warm: deny when count(action == \"tool_call\", within 1s) < 2000\n}\n",
        "default deny\npolicy p {\n  rule calm: allow when count(action == \"tool_call\", within 1s) < 2000\n}\n",
        "default deny\npolicy p {\n  rule spent: allow when sum(tokens, action == \"tool_call\", within 1s) >= 99000\n}\n",
        "default allow\npolicy p {\n  rule budget: deny when sum(tokens, action == \"tool_call\", within 1s) > 99000\n}\n",
    ];
    let mut straddled = 0;
    for (k, policy) in policies.iter().enumerate() {
        let (allowed, denied, stricter, n) = run(policy, 11 + k as u64);
        // Both verdicts occur, and the VM departs from the exact answer only where a span on
        // the window's edge leaves the value too close to the threshold to decide.
        assert!(
            allowed > n / 10 && denied > n / 10,
            "{policy}: {allowed} {denied}"
        );
        assert!(stricter * 10 <= n, "{policy}: {stricter} stricter of {n}");
        straddled += stricter;
    }
    // Spans were on the edge with the value at the threshold: the ranges were exercised.
    assert!(straddled > 0);
}
