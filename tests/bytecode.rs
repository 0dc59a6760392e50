//! The bytecode format: deterministic encoding, lossless decoding, and a decoder that refuses
//! every truncated, corrupted, wrong-version or malformed bundle without panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use govern::bytecode::model::{Model, NodeDef, Target};
use govern::bytecode::{decode, decode::decode_with, encode};
use govern::diag::SourceFile;
use govern::vm::{Event, Outcome, Program};

fn corpus_policies() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["testdata/listings", "testdata/examples"] {
        let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "gov") {
                out.push((
                    f.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&f).unwrap(),
                ));
            }
        }
    }
    assert!(out.len() >= 5);
    out
}

fn model_of(name: &str, text: &str) -> Model {
    let bundle = govern::check::check_sources(vec![SourceFile::new(name, text)]).unwrap();
    govern::compile::compile(&bundle).unwrap()
}

const EVENTS: &[&str] = &[
    r#"{"tool":"web_search","agent":{"id":"a","trust":700,"roles":["admin"]},"session":"s","ts":"2026-11-23T10:00:00Z"}"#,
    r#"{"tool":"send_email","args":{"amount":20000,"path":"/app/.env","url":"https://evil.com/x"},"content":"ignore previous"}"#,
    r#"{"action":"llm_call","cost":60}"#,
    r#"{}"#,
];

#[test]
fn same_sources_same_bytes() {
    for (name, text) in corpus_policies() {
        let a = encode(&model_of(&name, &text));
        let b = encode(&model_of(&name, &text));
        assert_eq!(a, b, "{name}: two compilations differ");
        assert_eq!(govern::bytecode::digest(&a), govern::bytecode::digest(&b));
    }
    // The order files are given in does not change the bytes.
    let files = corpus_policies();
    let keep = ["thresholds.gov", "strings.gov", "tool_switch.gov"];
    let sources: Vec<SourceFile> = files
        .iter()
        .filter(|(n, _)| keep.contains(&n.as_str()))
        .map(|(n, t)| SourceFile::new(n.clone(), t.clone()))
        .collect();
    assert_eq!(sources.len(), 3);
    let mut reversed = sources.clone();
    reversed.reverse();
    let a = govern::pipeline::build_sources(sources).unwrap();
    let b = govern::pipeline::build_sources(reversed).unwrap();
    assert_eq!(a.bytes, b.bytes);
}

#[test]
fn source_order_never_changes_a_decision() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/examples/brief.gov"
    ))
    .unwrap();
    // The same policy with its rules in reverse order.
    let (head, body) = text.split_once("policy finance_agent {").unwrap();
    let body = body.trim_end().strip_suffix('}').unwrap();
    let mut chunks: Vec<String> = Vec::new();
    for line in body.lines() {
        if line.trim_start().starts_with("rule ")
            || line.trim_start().starts_with('@')
            || chunks.is_empty()
        {
            if line.trim_start().starts_with("rule ")
                && chunks
                    .last()
                    .is_some_and(|c: &String| c.trim_start().starts_with('@'))
            {
                let last = chunks.last_mut().unwrap();
                last.push('\n');
                last.push_str(line);
                continue;
            }
            chunks.push(line.to_string());
        } else {
            let last = chunks.last_mut().unwrap();
            last.push('\n');
            last.push_str(line);
        }
    }
    let first = chunks.remove(0);
    chunks.reverse();
    let reordered = format!(
        "{head}policy finance_agent {{{first}\n{}\n}}\n",
        chunks.join("\n")
    );
    assert_ne!(reordered, text);
    let a = govern::pipeline::build_sources(vec![SourceFile::new("p.gov", text)]).unwrap();
    let b = govern::pipeline::build_sources(vec![SourceFile::new("p.gov", reordered)]).unwrap();
    let (mut sa, mut sb) = (a.program.new_state(), b.program.new_state());
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    for e in EVENTS.iter().chain(EVENTS.iter()) {
        a.program.read_event(e, &mut ev).unwrap();
        a.program.eval(&ev, &mut sa, &mut out);
        let da = a.program.decision(&out);
        b.program.read_event(e, &mut ev).unwrap();
        b.program.eval(&ev, &mut sb, &mut out);
        let mut db = b.program.decision(&out);
        db.bundle = da.bundle.clone();
        assert_eq!(da, db, "{e}");
    }
}

#[test]
fn decode_inverts_encode() {
    for (name, text) in corpus_policies() {
        let m = model_of(&name, &text);
        let bytes = encode(&m);
        assert_eq!(decode(&bytes).unwrap(), m, "{name}");
    }
}

/// Loading takes the checksum and the digest from one pass: the same model and digest as
/// decoding and hashing apart, and the same refusal, at the same offset, for damaged bytes.
#[test]
fn one_pass_decoding_gives_the_same_model_digest_and_errors() {
    use govern::bytecode::decode::decode_digested;
    for (name, text) in corpus_policies().into_iter().take(5) {
        let bytes = encode(&model_of(&name, &text));
        let (m, digest) = decode_digested(&bytes).unwrap();
        assert_eq!(m, decode(&bytes).unwrap(), "{name}");
        assert_eq!(digest, govern::bytecode::digest(&bytes), "{name}");
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let e = decode_digested(&bad).unwrap_err();
            assert_eq!(e, decode(&bad).unwrap_err(), "{name}: byte {i}");
        }
        for len in [0, 8, 39, 40, 41, bytes.len() - 1] {
            let e = decode_digested(&bytes[..len]).unwrap_err();
            assert_eq!(e, decode(&bytes[..len]).unwrap_err(), "{name}: {len} bytes");
        }
    }
}

#[test]
fn every_flipped_byte_is_refused() {
    for (name, text) in corpus_policies() {
        let bytes = encode(&model_of(&name, &text));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(
                decode(&bad).is_err(),
                "{name}: flipping byte {i} was accepted"
            );
        }
    }
}

#[test]
fn truncations_and_extensions_are_refused() {
    let (name, text) = &corpus_policies()[0];
    let bytes = encode(&model_of(name, text));
    for len in 0..bytes.len() {
        let e = decode(&bytes[..len]).unwrap_err();
        assert!(!e.message.is_empty());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode(&longer).is_err());
}

#[test]
fn wrong_magic_and_version_are_named() {
    let (name, text) = &corpus_policies()[0];
    let bytes = encode(&model_of(name, text));
    let mut v = bytes.clone();
    v[4] = 9;
    let e = decode(&v).unwrap_err();
    assert!(e.message.contains("version 9 is not supported"), "{e}");
    let mut m = bytes.clone();
    m[0] = b'X';
    assert!(
        decode(&m)
            .unwrap_err()
            .message
            .contains("not a govern bundle")
    );
    assert!(decode(b"GOVB").unwrap_err().message.contains("too short"));
}

/// With the checksum bypassed, structural verification alone must hold: any mutation is either
/// refused or yields a program that loads and runs without panicking.
#[test]
fn structural_verification_never_panics() {
    let mut accepted = 0usize;
    let mut refused = 0usize;
    for (name, text) in corpus_policies() {
        let bytes = encode(&model_of(&name, &text));
        let body = bytes.len() - 32;
        for i in 8..body {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[i] ^= mask;
                match decode_with(&bad, false) {
                    Err(_) => refused += 1,
                    Ok(model) => {
                        accepted += 1;
                        if let Ok(p) = Program::from_model(model, "sha256:test".into()) {
                            run_events(&p);
                        }
                    }
                }
            }
        }
    }
    assert!(refused > accepted, "refused {refused}, accepted {accepted}");
}

fn run_events(p: &Program) {
    let mut st = p.new_state();
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    for e in EVENTS {
        if p.read_event(e, &mut ev).is_ok() {
            p.eval(&ev, &mut st, &mut out);
            let _ = p.decision(&out);
        }
    }
}

fn reencode_refused(m: &Model, expect: &str) {
    let e = decode(&encode(m)).unwrap_err();
    assert!(e.message.contains(expect), "expected `{expect}`, got `{e}`");
}

#[test]
fn malformed_programs_are_refused_with_a_reason() {
    let (name, text) = &corpus_policies()
        .into_iter()
        .find(|(n, _)| n == "unknowns.gov")
        .unwrap();
    let good = model_of(name, text);
    assert!(good.nodes.len() >= 2);

    let mut m = good.clone();
    if let NodeDef::Switch { default, .. } = &mut m.nodes[1] {
        *default = Target::Node(0);
    } else if let NodeDef::Tri { t, .. } = &mut m.nodes[1] {
        *t = Target::Node(0);
    }
    reencode_refused(&m, "backwards");

    let mut m = good.clone();
    m.roots = vec![Target::Leaf(9999)];
    reencode_refused(&m, "out of range");

    let mut m = good.clone();
    m.roots.clear();
    reencode_refused(&m, "no diagram roots");

    let mut m = good.clone();
    m.leaves[0] = vec![govern::bytecode::model::Item::RuleTrue(9999).code()];
    reencode_refused(&m, "invalid leaf item");

    let mut m = good.clone();
    m.rules.swap(0, 1);
    reencode_refused(&m, "sorted");

    let mut m = good.clone();
    m.slots.retain(|s| s != &vec!["ts".to_string()]);
    reencode_refused(&m, "lacks `ts`");

    // A forward jump to a node that tests an earlier variable: a path could test it twice.
    let mut m = good.clone();
    let (from, to) = (2usize, 4u32);
    assert!(m.nodes[from].var() > m.nodes[to as usize].var());
    assert!(m.nodes[to as usize].var().is_some());
    match &mut m.nodes[from] {
        NodeDef::Thresh { regions, .. } => regions[0] = Target::Node(to),
        other => panic!("unexpected node {other:?}"),
    }
    reencode_refused(&m, "variables must increase");

    let mut m = good.clone();
    let n = m.nodes.len() as u32;
    match &mut m.nodes[0] {
        NodeDef::Switch { unknown, .. } | NodeDef::Thresh { unknown, .. } => {
            *unknown = Target::Node(n + 5)
        }
        NodeDef::Tri { u, .. } => *u = Target::Node(n + 5),
        NodeDef::Fork { children } => children[0] = Target::Node(n + 5),
    }
    reencode_refused(&m, "past the last node");
}

#[test]
fn hand_written_program_runs() {
    use govern::bytecode::model::*;
    // "deny when tool == \"rm\"" written by hand: one switch, two leaves.
    let m = Model {
        compiler: "hand".into(),
        source_digest: [0; 32],
        default: Verdict::Allow,
        files: vec!["hand.gov".into()],
        slots: vec![vec!["tool".into()], vec!["ts".into()]],
        trackers: vec![],
        vars: vec![Var::Switch {
            operand: Operand::Slot {
                slot: 0,
                ty: Ty::String,
            },
            consts: vec!["rm".into()],
        }],
        rules: vec![RuleInfo {
            id: "p.no_rm".into(),
            effect: Effect::Deny,
            message: Some("no rm".into()),
            tags: vec![],
            severity: None,
            file: 0,
            line: 1,
            column: 1,
            refs: vec![(0, Ty::String)],
            trackers: vec![],
        }],
        leaves: vec![
            vec![],
            vec![Item::RuleTrue(0).code()],
            vec![Item::RuleUnknown(0).code()],
        ],
        nodes: vec![NodeDef::Switch {
            var: 0,
            branches: vec![(0, Target::Leaf(1))],
            default: Target::Leaf(0),
            unknown: Target::Leaf(2),
        }],
        roots: vec![Target::Node(0)],
    };
    let p = Program::load(&encode(&m)).unwrap();
    let mut st = p.new_state();
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    let mut decide = |e: &str| {
        p.read_event(e, &mut ev).unwrap();
        p.eval(&ev, &mut st, &mut out);
        p.decision(&out)
    };
    let d = decide(r#"{"tool":"rm"}"#);
    assert_eq!(
        (d.verdict.as_str(), d.rules.clone(), d.messages.clone()),
        (
            "deny",
            vec!["p.no_rm".to_string()],
            vec!["no rm".to_string()]
        )
    );
    assert_eq!(decide(r#"{"tool":"ls"}"#).verdict.as_str(), "allow");
    let d = decide(r#"{}"#);
    assert_eq!(
        (d.verdict.as_str(), d.unknown.clone()),
        ("deny", vec!["tool".to_string()])
    );
}

fn tri_model(nodes: Vec<govern::bytecode::model::NodeDef>, root: Target) -> Model {
    use govern::bytecode::model::*;
    Model {
        compiler: "hand".into(),
        source_digest: [0; 32],
        default: Verdict::Deny,
        files: vec![],
        slots: vec![vec!["a".into()], vec!["b".into()], vec!["ts".into()]],
        trackers: vec![],
        vars: vec![Var::Has { slot: 0 }, Var::Has { slot: 1 }],
        rules: vec![],
        leaves: vec![vec![]],
        nodes,
        roots: vec![root],
    }
}

#[test]
fn nested_forks_are_verified_through() {
    use govern::bytecode::model::*;
    let leaf = Target::Leaf(0);
    // n0 tests v1, then a fork whose nested fork leads to a test of v0: v0 comes too late.
    let bad = tri_model(
        vec![
            NodeDef::Tri {
                var: 1,
                t: Target::Node(1),
                f: leaf,
                u: leaf,
            },
            NodeDef::Fork {
                children: vec![leaf, Target::Node(2)],
            },
            NodeDef::Fork {
                children: vec![leaf, Target::Node(3)],
            },
            NodeDef::Tri {
                var: 0,
                t: leaf,
                f: leaf,
                u: leaf,
            },
        ],
        Target::Node(0),
    );
    reencode_refused(&bad, "variables must increase");
    // The same with the variables the right way round loads and runs.
    let mut good = bad.clone();
    good.nodes[0] = NodeDef::Tri {
        var: 0,
        t: Target::Node(1),
        f: leaf,
        u: leaf,
    };
    good.nodes[3] = NodeDef::Tri {
        var: 1,
        t: leaf,
        f: leaf,
        u: leaf,
    };
    let p = Program::load(&encode(&good)).unwrap();
    run_events(&p);
}

#[test]
fn work_per_decision_is_bounded() {
    use govern::bytecode::model::*;
    // A chain of forks that each walk the next one twice: 2^30 walks of the last test.
    let depth = 30u32;
    let mut nodes: Vec<NodeDef> = (0..depth)
        .map(|i| NodeDef::Fork {
            children: vec![Target::Node(i + 1), Target::Node(i + 1)],
        })
        .collect();
    nodes.push(NodeDef::Tri {
        var: 0,
        t: Target::Leaf(0),
        f: Target::Leaf(0),
        u: Target::Leaf(0),
    });
    let m = tri_model(nodes, Target::Node(0));
    reencode_refused(&m, "more than the limit");
    let (tests, leaves) = govern::bytecode::worst_case(&m.nodes, &m.roots);
    assert_eq!((tests, leaves), (1 << 30, 1 << 30));
}
