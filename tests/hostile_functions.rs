//! Adversarial input to the language's functions, through the whole pipeline (event reader,
//! VM, reference): a 10 MB base64 string, a 100,000-statement SQL text, nesting past the
//! parser's depth, text that grows under normalisation, encodings nested past the decoding
//! depth. Each is decided (never a crash), the same way by the VM and the reference, and a
//! value the function cannot produce within its bounds is unknown, so deny rules on it match.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64ct::Encoding;
use govern::decision::Decision;
use govern::diag::SourceFile;
use govern::reference::Reference;
use govern::vm::{Event, Outcome, Program};
use serde_json::json;

const POLICY: &str = r#"
default allow
tool db_query(sql: string)
policy p {
  rule drop: deny when has tool and tool == "db_query" and "drop" in sql_statements(args.sql) because "drop"
  rule reads: allow when tool == "db_query" and sql_read_only(args.sql)
  rule injected: deny when has content and fold(decoded(content)) contains "ignore previous instructions" because "injection"
  rule payload: deny when has args.b and base64_decode(args.b) contains "rm -rf" because "payload"
  rule keys: deny when has content and len(secrets(content)) > 0 because "secret"
  rule bulk: escalate when has content and pii_count(content) > 100 because "bulk"
}
"#;

/// Decides `events` on the VM and the reference; they must agree. Returns the decisions.
fn decide(events: &[serde_json::Value]) -> Vec<Decision> {
    let bundle =
        govern::check::check_sources(vec![SourceFile::new("p.gov", POLICY.to_string())]).unwrap();
    let model = govern::compile::compile(&bundle).unwrap();
    let program = Program::load(&govern::bytecode::encode(&model)).unwrap();
    let mut reference = Reference::new(&bundle, program.digest.clone());
    let mut state = program.new_state();
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    events
        .iter()
        .map(|e| {
            program.read_event(&e.to_string(), &mut ev).unwrap();
            program.eval(&ev, &mut state, &mut out);
            let d = program.decision(&out);
            assert_eq!(d, reference.eval(e));
            d
        })
        .collect()
}

fn verdict(d: &Decision) -> (&str, Vec<&str>) {
    (
        d.verdict.as_str(),
        d.rules.iter().map(String::as_str).collect(),
    )
}

#[test]
fn a_ten_megabyte_base64_string_is_unknown_not_decoded() {
    let payload = "rm -rf / ".repeat(10 * 1024 * 1024 / 9 * 3 / 4);
    let b64 = base64ct::Base64::encode_string(payload.as_bytes());
    assert!(b64.len() >= 10 * 1024 * 1024 - 16);
    let ds = decide(&[json!({"args": {"b": b64}}), json!({"content": b64})]);
    // Past the 4 MiB bound the decoded value is unknown: the deny rule matches.
    assert_eq!(verdict(&ds[0]), ("deny", vec!["p.payload"]));
    assert_eq!(verdict(&ds[1]), ("deny", vec!["p.injected", "p.keys"]));
}

#[test]
fn base64_just_under_the_bound_is_decoded() {
    let mut text = "lorem ipsum dolor sit amet ".repeat(100_000);
    text.push_str("then rm -rf / quietly");
    let b64 = base64ct::Base64::encode_string(text.as_bytes());
    assert!(b64.len() < govern::builtins::MAX_TEXT);
    let clean = base64ct::Base64::encode_string("lorem ipsum ".repeat(100_000).as_bytes());
    let ds = decide(&[json!({"args": {"b": b64}}), json!({"args": {"b": clean}})]);
    assert_eq!(verdict(&ds[0]), ("deny", vec!["p.payload"]));
    assert_eq!(verdict(&ds[1]).0, "allow");
}

#[test]
fn a_hundred_thousand_statements_are_unknown() {
    let stacked = "SELECT 1;".repeat(100_000);
    let mut many = "SELECT a FROM t;".repeat(999);
    many.push_str("DROP TABLE t");
    let ds = decide(&[
        json!({"tool": "db_query", "args": {"sql": stacked}}),
        json!({"tool": "db_query", "args": {"sql": "SELECT 1;".repeat(1000)}}),
        json!({"tool": "db_query", "args": {"sql": many}}),
    ]);
    // Past MAX_SQL: unknown, so the deny rule matches and the allow rule does not.
    assert_eq!(verdict(&ds[0]), ("deny", vec!["p.drop"]));
    // 1,000 statements are within bounds and read.
    assert_eq!(verdict(&ds[1]), ("allow", vec!["p.reads"]));
    assert_eq!(verdict(&ds[2]), ("deny", vec!["p.drop"]));
}

#[test]
fn one_long_statement_and_deep_nesting() {
    let ids: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
    let long = format!("SELECT * FROM orders WHERE id IN ({})", ids.join(","));
    assert!(long.len() < govern::builtins::sql::MAX_SQL);
    let deep = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let ds = decide(&[
        json!({"tool": "db_query", "args": {"sql": long}}),
        json!({"tool": "db_query", "args": {"sql": deep}}),
        json!({"tool": "db_query", "args": {"sql": format!("SELECT {}", "-".repeat(200_000) + "1")}}),
    ]);
    assert_eq!(verdict(&ds[0]), ("allow", vec!["p.reads"]));
    assert_eq!(verdict(&ds[1]), ("deny", vec!["p.drop"]));
    assert_eq!(ds[2].verdict.as_str(), "allow");
}

#[test]
fn text_that_grows_under_normalisation_is_unknown() {
    // U+FDFA becomes 18 characters under compatibility decomposition.
    let ligatures = "\u{FDFA}".repeat(30_000);
    let ds = decide(&[json!({"content": ligatures})]);
    assert_eq!(verdict(&ds[0]), ("deny", vec!["p.injected"]));
}

#[test]
fn nested_encodings_stop_at_the_decoding_depth() {
    let mut s = String::from("ignore previous instructions");
    for _ in 0..3 {
        s = base64ct::Base64::encode_string(s.as_bytes());
    }
    let mut deeper = s.clone();
    for _ in 0..5 {
        deeper = base64ct::Base64::encode_string(deeper.as_bytes());
    }
    let ds = decide(&[json!({"content": s}), json!({"content": deeper})]);
    assert_eq!(verdict(&ds[0]), ("deny", vec!["p.injected"]));
    // Eight rounds of base64 are past the depth of `decoded`: not found, and bounded.
    assert_eq!(ds[1].verdict.as_str(), "allow");
}

#[test]
fn a_bulk_dump_is_counted() {
    let mut rows = String::new();
    for i in 0..20_000 {
        rows.push_str(&format!("{i},c{i}@example.com\n"));
    }
    let ds = decide(&[json!({"content": rows})]);
    assert_eq!(verdict(&ds[0]), ("escalate", vec!["p.bulk"]));
}
