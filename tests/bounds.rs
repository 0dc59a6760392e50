//! Verified bundles have a bounded cost: hand-crafted bundles that pass every structural check
//! but would take gigabytes or minutes to load or to decide are refused by the verifier (the
//! bounds of `bytecode::cost`), the compiler refuses sources that would compile to one, and
//! bundles just within the bounds decide within them. Costs are asserted as counts and bytes,
//! never as times.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use govern::bytecode::cost::{self, Cost};
use govern::bytecode::model::*;
use govern::bytecode::{decode, encode};
use govern::diag::SourceFile;
use govern::vm::Program;

fn base() -> Model {
    Model {
        compiler: "hand".into(),
        source_digest: [0; 32],
        default: Verdict::Allow,
        files: vec!["p.gov".into()],
        slots: vec![
            vec!["a".into()],
            vec!["b".into()],
            vec!["tool".into()],
            vec!["ts".into()],
        ],
        trackers: vec![],
        vars: vec![],
        rules: vec![],
        leaves: vec![vec![]],
        nodes: vec![],
        roots: vec![Target::Leaf(0)],
    }
}

fn rule(i: usize) -> RuleInfo {
    RuleInfo {
        id: format!("r{i:05}"),
        effect: Effect::Deny,
        message: None,
        tags: vec![],
        severity: None,
        file: 0,
        line: 1,
        column: 1,
        refs: vec![],
        trackers: vec![],
    }
}

/// `levels` forks, each walking the next one twice, down to `bottom`: 2^levels walks.
fn doubling(levels: u32, bottom: Target) -> Vec<NodeDef> {
    (0..levels)
        .map(|i| {
            let next = if i + 1 == levels {
                bottom
            } else {
                Target::Node(i + 1)
            };
            NodeDef::Fork {
                children: vec![next, next],
            }
        })
        .collect()
}

/// `depth` functions nested over slot `a`.
fn nested(depth: usize) -> Operand {
    let mut op = Operand::Slot {
        slot: 0,
        ty: Ty::String,
    };
    for i in 0..depth {
        op = Operand::Func {
            func: if i % 2 == 0 { Func::Lower } else { Func::Upper },
            arg: Box::new(op),
        };
    }
    op
}

/// One test of variable 0 walked 2^levels times.
fn walked(var: Var, levels: u32) -> Model {
    let mut m = base();
    m.vars = vec![var];
    let mut nodes = doubling(levels, Target::Node(levels));
    nodes.push(NodeDef::Tri {
        var: 0,
        t: Target::Leaf(0),
        f: Target::Leaf(0),
        u: Target::Leaf(0),
    });
    m.nodes = nodes;
    m.roots = vec![Target::Node(0)];
    m
}

/// Bundles that verified before the bounds, each with what refuses it now. Each stays small
/// (at most a few hundred kilobytes).
fn crafted() -> Vec<(&'static str, Model, &'static str)> {
    let mut out = Vec::new();

    // 2^22 walks, each reaching a leaf of 100 rules: 400 million rules merged per decision.
    let mut m = base();
    m.rules = (0..100).map(rule).collect();
    m.leaves = vec![(0..100).map(|r| Item::RuleTrue(r).code()).collect()];
    m.nodes = doubling(22, Target::Leaf(0));
    m.roots = vec![Target::Node(0)];
    out.push(("merged-leaves", m, "one decision could merge"));

    // One 10 kB string, referred to 2,000 times: 20 MB of copies from a 30 kB bundle (the
    // same with 100 kB and 10,000 references built a gigabyte).
    let mut m = base();
    let mut r = rule(0);
    r.tags = vec!["x".repeat(10_000); 2_000];
    m.rules = vec![r];
    out.push(("string-copies", m, "bytes of strings and checks"));

    // 140 rules reading 140 attributes each, unknown in 140 leaves: 2.7 million attribute
    // checks prepared at load from a 180 kB bundle (with 1,000 of each, a billion).
    let mut m = base();
    m.slots = (0..140)
        .map(|i| vec![format!("s{i:03}")])
        .chain([vec!["ts".to_string()]])
        .collect();
    m.rules = (0..140)
        .map(|i| RuleInfo {
            refs: (0..140).map(|s| (s, Ty::String)).collect(),
            ..rule(i)
        })
        .collect();
    m.leaves = (0..140)
        .map(|_| (0..140).map(|r| Item::RuleUnknown(r).code()).collect())
        .collect();
    out.push(("leaf-checks", m, "bytes of strings and checks"));

    // A regex over 256 nested functions, walked 2^22 times.
    let regex = |depth| {
        Var::Pred(Pred::Regex {
            lhs: nested(depth),
            regex: "a".into(),
            written: "a".into(),
            glob: false,
        })
    };
    out.push((
        "nested-functions",
        walked(regex(256), 22),
        "nested more than",
    ));

    // Within the nesting limit, walked too often: 64 functions, 2^15 times.
    out.push(("function-work", walked(regex(64), 15), "units of work"));

    // An `in` over 10,000 constants, walked 2^5 times.
    let values = (0..10_000).map(|i| Operand::Num(f64::from(i))).collect();
    let inn = Var::Pred(Pred::In {
        lhs: Operand::Slot {
            slot: 0,
            ty: Ty::Scalar,
        },
        values,
    });
    out.push(("in-work", walked(inn, 5), "units of work"));

    // 5,000 regexes, none of them tested.
    let mut m = base();
    m.vars = (0..5000)
        .map(|i| {
            Var::Pred(Pred::Regex {
                lhs: nested(0),
                regex: format!("x{i}"),
                written: String::new(),
                glob: false,
            })
        })
        .collect();
    out.push(("regex-count", m, "regexes, more than the limit"));
    out
}

/// 2,000 regexes near the per-regex size limit, none tested: 2 GB compiled. The verifier lets
/// the count through; loading stops at the memory budget.
fn regex_memory() -> Model {
    let mut m = base();
    m.vars = (0..2000)
        .map(|i| {
            Var::Pred(Pred::Regex {
                lhs: nested(0),
                regex: format!(r"\w{{17}}{i}"),
                written: String::new(),
                glob: false,
            })
        })
        .collect();
    m
}

#[test]
fn crafted_bundles_are_refused_by_the_verifier() {
    for (name, m, expect) in crafted() {
        let bytes = encode(&m);
        assert!(bytes.len() < 1 << 20, "{name}: {} bytes", bytes.len());
        let e = decode(&bytes).expect_err(name);
        assert!(e.message.contains(expect), "{name}: {e}");
        // The model-level figures agree with the decoder.
        let c = Cost::of(&m);
        assert!(c.check(bytes.len()).is_err(), "{name}: {c:?}");
    }
}

#[test]
fn regexes_are_compiled_within_a_memory_budget() {
    let bytes = encode(&regex_memory());
    let e = Program::load(&bytes).err().expect("refused");
    assert!(e.message.contains("64 MiB together"), "{e}");
    let (var, _) = e.regex.unwrap();
    // A few dozen compiled before the budget ran out, not 2,000.
    assert!((16..200).contains(&var), "refused at regex {var}");
}

/// A bundle whose string table holds a string nothing refers to (the encoder never writes
/// one): found by the `decode` fuzz target, whose check of the decoder's count was too strict.
fn unreferenced_string() -> Vec<u8> {
    let bytes = encode(&base());
    // header (8) · meta section · strings section (tag 2 · u32 length · u32 count · items)
    let meta_len = u32::from_le_bytes(bytes[9..13].try_into().unwrap()) as usize;
    let at = 8 + 5 + meta_len;
    assert_eq!(bytes[at], 2);
    let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
    let count = u32::from_le_bytes(bytes[at + 5..at + 9].try_into().unwrap());
    let extra = b"nobody refers to this";
    let mut out = bytes[..at + 1].to_vec();
    out.extend_from_slice(&((len + 4 + extra.len()) as u32).to_le_bytes());
    out.extend_from_slice(&(count + 1).to_le_bytes());
    out.extend_from_slice(&bytes[at + 9..at + 5 + len]);
    out.extend_from_slice(&(extra.len() as u32).to_le_bytes());
    out.extend_from_slice(extra);
    out.extend_from_slice(&bytes[at + 5 + len..bytes.len() - 32]);
    use sha2::Digest;
    let sum = sha2::Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

#[test]
fn strings_nothing_refers_to_are_counted_where_they_are_built() {
    let bytes = unreferenced_string();
    let (m, c) = govern::bytecode::decode::decode_costed(&bytes, true).unwrap();
    assert_eq!(m, base());
    let of_model = Cost::of(&m);
    assert_eq!(
        c.materialised,
        of_model.materialised + "nobody refers to this".len() as u64
    );
    govern::fuzzing::decode(&bytes).unwrap();
}

#[test]
fn crafted_bundles_seed_the_decode_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    let mut all: Vec<(String, Vec<u8>)> = crafted()
        .into_iter()
        .map(|(n, m, _)| (format!("crafted-{n}.govb"), encode(&m)))
        .collect();
    all.push(("crafted-regex-memory.govb".into(), encode(&regex_memory())));
    all.push((
        "found-unreferenced-string.govb".into(),
        unreferenced_string(),
    ));
    for (name, bytes) in all {
        let path = dir.join(&name);
        if std::env::var_os("GOVERN_BLESS").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        let saved = std::fs::read(&path)
            .unwrap_or_else(|_| panic!("{name} is missing: run with GOVERN_BLESS=1"));
        assert!(
            saved == bytes,
            "{name} differs from the generated bundle: run with GOVERN_BLESS=1"
        );
    }
}

#[test]
fn bundles_within_the_bounds_decide_within_them() {
    // Just inside each per-decision bound; the fuzz target's checks hold on each.
    let regex = |depth| {
        Var::Pred(Pred::Regex {
            lhs: nested(depth),
            regex: "A".into(),
            written: "A".into(),
            glob: false,
        })
    };
    let mut m = base();
    m.rules = (0..4).map(rule).collect();
    m.leaves = vec![(0..4).map(|r| Item::RuleTrue(r).code()).collect()];
    m.nodes = doubling(17, Target::Leaf(0));
    m.roots = vec![Target::Node(0)];
    let models = [walked(regex(63), 12), m];
    for m in models {
        let bytes = encode(&m);
        let c = Cost::of(&m);
        c.check(bytes.len()).unwrap();
        assert!(
            c.decision.work > cost::MAX_WORK / 2 || c.decision.merged > cost::MAX_MERGED / 2,
            "{c:?}"
        );
        govern::fuzzing::decode(&bytes).unwrap();
    }
}

#[test]
fn nested_functions_hold_two_copies_of_a_value_per_side() {
    // Before, each level of nesting kept its own copy: 64 copies of a long value.
    let m = walked(
        Var::Pred(Pred::Regex {
            lhs: nested(64),
            regex: "A".into(),
            written: "A".into(),
            glob: false,
        }),
        0,
    );
    let p = Program::load(&encode(&m)).unwrap();
    let mut st = p.new_state();
    let mut ev = govern::vm::Event::default();
    let mut out = govern::vm::Outcome::default();
    let long = "Ab".repeat(50_000);
    p.read_event(&format!("{{\"a\":\"{long}\"}}"), &mut ev)
        .unwrap();
    p.eval(&ev, &mut st, &mut out);
    let scratch = Program::scratch_bytes(&st);
    assert!(
        (2 * long.len()..=4 * 2 * long.len()).contains(&scratch),
        "{scratch} bytes of scratch"
    );
}

#[test]
fn the_decoder_counts_what_the_model_costs() {
    let lib = govern::pipeline::build_paths(&[std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies"
    ))])
    .unwrap();
    let (m, c) = govern::bytecode::decode::decode_costed(&lib.bytes, true).unwrap();
    assert_eq!(c, Cost::of(&m));
    assert!(c.regexes > 0 && c.materialised > 0 && c.decision.work >= c.decision.tests);
    // The whole library is far inside every bound: a hundred times at least.
    assert!(c.decision.work < cost::MAX_WORK / 100, "{c:?}");
    assert!(c.decision.merged < cost::MAX_MERGED / 100, "{c:?}");
}

fn build_err(src: &str) -> govern::diag::Diag {
    match govern::pipeline::build_sources(vec![SourceFile::new("p.gov", src)]) {
        Ok(_) => panic!("built"),
        Err(mut d) => {
            assert_eq!(d.len(), 1, "{d:?}");
            d.remove(0)
        }
    }
}

fn rendered(d: &govern::diag::Diag) -> String {
    govern::diag::render_human(d, govern::diag::RenderOptions::default())
}

#[test]
fn sources_over_a_bound_are_refused_at_the_rule() {
    // Too many regexes: refused at the first one over the limit.
    let n = cost::MAX_REGEXES as usize + 1;
    let mut src = String::from("policy p {\n");
    for i in 0..n {
        src.push_str(&format!(
            "  rule r{i}: deny when args.x matches r\"^v{i}$\"\n"
        ));
    }
    src.push_str("}\n");
    let d = build_err(&src);
    let text = rendered(&d);
    assert_eq!(d.code, "govern::too_large");
    assert!(d.message.contains("regexes, more than the limit"), "{text}");
    assert!(text.contains("one regex too many"), "{text}");

    // A long text compared with many attributes: every test keeps its own copy.
    let long = "x".repeat(1 << 20);
    let mut src = format!("set long = [\"{long}\"]\npolicy p {{\n");
    for i in 0..40 {
        src.push_str(&format!("  rule r{i}: deny when args.a{i} in long\n"));
    }
    src.push_str("}\n");
    let d = build_err(&src);
    assert!(d.message.contains("bytes of strings and checks"), "{d:?}");
    assert!(
        format!("{d:?}").contains("has the most text to copy"),
        "{d:?}"
    );
}

#[test]
fn regexes_over_the_memory_budget_are_refused_at_the_test() {
    // Each of these compiles to most of a megabyte: the budget holds a few dozen.
    let mut src = String::from("policy p {\n");
    for i in 0..200 {
        src.push_str(&format!(
            "  rule r{i}: deny when args.x matches r\"\\w{{17}}{i}\"\n"
        ));
    }
    src.push_str("}\n");
    let d = build_err(&src);
    let text = rendered(&d);
    assert!(text.contains("64 MiB together"), "{text}");
    assert!(text.contains("this regex does not fit"), "{text}");
}
