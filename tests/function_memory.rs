//! Memory of one decision on adversarial input to the language's functions: the heap may grow
//! by at most a fixed amount while the VM reads and decides the event, whatever the input's
//! size. The allocator refuses to go past that limit, which aborts the test (one test in its
//! own binary, so nothing else allocates meanwhile).
#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::System;

use base64ct::Encoding;
use cap::Cap;
use govern::diag::SourceFile;
use govern::vm::{Event, Outcome, Program};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const MIB: usize = 1024 * 1024;

#[test]
fn one_decision_on_hostile_input_stays_within_bounded_memory() {
    let policy = r#"
default allow
tool db_query(sql: string)
policy p {
  rule drop: deny when has args.sql and "drop" in sql_statements(args.sql) because "drop"
  rule tables: deny when has args.sql and "secrets" in sql_tables(args.sql) because "tables"
  rule injected: deny when has content and fold(decoded(content)) contains "ignore previous" because "injection"
  rule wide: deny when has content and nfkc(unescape(content)) contains "x" because "wide"
  rule payload: deny when has args.b and base64_decode(args.b) contains "rm -rf" because "payload"
  rule keys: deny when has content and len(secrets(content)) > 0 because "secret"
  rule bulk: escalate when has content and pii_count(content) > 100 because "bulk"
}
"#;
    let bundle =
        govern::check::check_sources(vec![SourceFile::new("p.gov", policy.to_string())]).unwrap();
    let model = govern::compile::compile(&bundle).unwrap();
    let program = Program::load(&govern::bytecode::encode(&model)).unwrap();
    let mut state = program.new_state();
    let (mut ev, mut out) = (Event::default(), Outcome::default());

    let ten_mb = base64ct::Base64::encode_string("rm -rf / ".repeat(1_200_000).as_bytes());
    let near_bound = base64ct::Base64::encode_string("lorem ipsum ".repeat(90_000).as_bytes());
    let mut rows = String::new();
    for i in 0..20_000 {
        rows.push_str(&format!("{i},c{i}@example.com,4111 1111 1111 1111\n"));
    }
    let inputs = [
        (
            "10 MB base64",
            json!({"args": {"b": ten_mb}, "content": ten_mb}),
        ),
        (
            "1 MB base64",
            json!({"args": {"b": near_bound}, "content": near_bound}),
        ),
        (
            "100,000 statements",
            json!({"args": {"sql": "SELECT 1;".repeat(100_000)}}),
        ),
        (
            "1,000 statements",
            json!({"args": {"sql": "SELECT a FROM secrets;".repeat(1000)}}),
        ),
        (
            "nesting",
            json!({"args": {"sql": format!("SELECT {}1", "(".repeat(200_000))}}),
        ),
        ("ligatures", json!({"content": "\u{FDFA}".repeat(100_000)})),
        ("escapes", json!({"content": "\\u0041".repeat(200_000)})),
        ("dump", json!({"content": rows})),
    ];
    for (name, event) in inputs {
        let text = event.to_string();
        drop(event);
        eprintln!("{name}: a {} KiB event", text.len() / 1024);
        // Scratch buffers hold at most a few multiples of the longest input the functions
        // accept (4 MiB of text, 256 KiB of SQL), whatever the event's size.
        ALLOCATOR
            .set_limit(ALLOCATOR.allocated() + 48 * MIB)
            .unwrap();
        program.read_event(&text, &mut ev).unwrap();
        program.eval(&ev, &mut state, &mut out);
        let d = program.decision(&out);
        ALLOCATOR.set_limit(usize::MAX).unwrap();
        // Inputs past a bound are unknown (denied); the others hold nothing to deny.
        let harmless = ["1 MB base64", "escapes"].contains(&name);
        assert_eq!(d.verdict.as_str() == "allow", harmless, "{name}");
    }
}
