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

mod policygen;
use policygen::{event, policy_text};

fn check_stream(
    policy: &str,
    events: &[(serde_json::Map<String, serde_json::Value>, i64, u8)],
    limit: Option<usize>,
) -> Result<(), TestCaseError> {
    let bundle =
        match govern::check::check_sources(vec![SourceFile::new("gen.gov", policy.to_string())]) {
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
