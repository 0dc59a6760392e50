//! `govern fmt` properties, over the corpus files and over random policies laid out at random
//! (random spacing, line breaks and comments between tokens):
//! `parse(fmt(x)) == parse(x)`, `fmt(fmt(x)) == fmt(x)`, and every comment survives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use govern::diag::SourceFile;
use govern::fmt::{comments, format};
use proptest::prelude::*;

fn parse(name: &str, text: &str) -> govern::syntax::ast::File {
    govern::syntax::parse_file(&SourceFile::new(name, text))
        .unwrap_or_else(|e| panic!("{name} does not parse: {}\n{text}", e[0].message))
}

fn comment_texts(text: &str) -> Vec<String> {
    let mut v: Vec<String> = comments::scan(text)
        .into_iter()
        .filter(|c| !c.doc)
        .map(|c| c.text)
        .collect();
    v.sort();
    v
}

/// The three properties for one source text.
fn check(name: &str, text: &str) {
    let once =
        format(&SourceFile::new(name, text)).unwrap_or_else(|e| panic!("{name}: {}", e[0].message));
    assert_eq!(
        parse(name, text),
        parse(name, &once),
        "{name}: the tree changed\n{text}\n---\n{once}"
    );
    let twice = format(&SourceFile::new(name, once.as_str())).unwrap();
    assert_eq!(once, twice, "{name}: not idempotent\n{text}");
    assert_eq!(
        comment_texts(text),
        comment_texts(&once),
        "{name}: comments changed\n{once}"
    );
}

fn gov_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            gov_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "gov") {
            out.push(p);
        }
    }
}

#[test]
fn fmt_corpus_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for d in ["testdata", "policies"] {
        gov_files(&root.join(d), &mut files);
    }
    files.sort();
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // Files that do not parse are error examples; fmt refuses them.
        if govern::syntax::parse_file(&SourceFile::new("x", text.as_str())).is_err() {
            continue;
        }
        check(&f.display().to_string(), &text);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} corpus files");
}

/// Escapes of characters that do not show (bidirectional controls, zero-width characters,
/// line separators) stay escapes: fmt never writes them into the file raw, where they would
/// hide text from a reviewer and make `govern lint` report the formatted file.
#[test]
fn fmt_keeps_hidden_characters_escaped() {
    let text = "policy p {\n  rule a: deny when content contains \"\\u{202e}x\\u{2066}\" or content contains \"a\\u{200b}\\u{feff}\\u{2028}b\\u{ad}\" because \"m\\u{200f}\"\n}\n";
    check("hidden.gov", text);
    let once = format(&SourceFile::new("hidden.gov", text)).unwrap();
    for c in [
        '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}', '\u{2028}', '\u{ad}', '\u{200f}',
    ] {
        assert!(!once.contains(c), "U+{:04X} written raw:\n{once}", c as u32);
    }
    let bundle =
        govern::check::check_sources(vec![SourceFile::new("hidden.gov", once.as_str())]).unwrap();
    let codes: Vec<&str> = govern::lint::run(&bundle, &govern::lint::Levels::default())
        .unwrap()
        .iter()
        .map(|f| f.code)
        .filter(|c| *c == "G0207" || *c == "G0208")
        .collect();
    assert!(codes.is_empty(), "{codes:?}\n{once}");
}

// ---- random policies -------------------------------------------------------------------

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_string)
}

fn path() -> impl Strategy<Value = String> {
    pick(&[
        "tool",
        "action",
        "agent.trust",
        "agent.roles",
        "args.amount",
        "args.path",
        "args[\"x-y\"]",
        "args[\"a b\"].c",
        "annotations.score",
        "time.hour",
    ])
}

fn literal() -> impl Strategy<Value = String> {
    pick(&[
        "\"a\"",
        "\"x\\\"y\"",
        "\"tab\\t\"",
        "\"ünï\"",
        "\"\"",
        "\"\\u{1f600}\"",
        "r\"a.b$\"",
        "r#\"q\"q\"#",
        "1",
        "2.50",
        "-3",
        "1e6",
        "true",
        "false",
    ])
}

fn string() -> impl Strategy<Value = String> {
    pick(&[
        "\"a\"",
        "\"x\\\"y\"",
        "\"ünï\"",
        "\"\"",
        "r\"raw\"",
        "r#\"q\"q\"#",
    ])
}

fn list() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop_oneof![literal(), pick(&["secret_set"])], 0..4).prop_map(|items| {
        let mut t = vec!["[".to_string()];
        for (i, it) in items.into_iter().enumerate() {
            if i > 0 {
                t.push(",".into());
            }
            t.push(it);
        }
        t.push("]".into());
        t
    })
}

/// A value as tokens.
fn value() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        3 => literal().prop_map(|l| vec![l]),
        4 => path().prop_map(|p| vec![p]),
        1 => list(),
        1 => (pick(&["lower", "url_host", "len"]), path())
            .prop_map(|(f, p)| vec![f, "(".into(), p, ")".into()]),
        1 => path().prop_map(|p| vec!["has".into(), p]),
    ]
}

fn test() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        (value(), pick(&["==", "!=", "<", "<=", ">", ">="]), value()).prop_map(|(a, op, b)| {
            let mut t = a;
            t.push(op);
            t.extend(b);
            t
        }),
        (
            value(),
            pick(&["in", "not in"]),
            prop_oneof![list(), pick(&["secret_set"]).prop_map(|s| vec![s])]
        )
            .prop_map(|(a, op, b)| {
                let mut t = a;
                t.extend(op.split(' ').map(str::to_string));
                t.extend(b);
                t
            }),
        (
            value(),
            pick(&["starts_with", "ends_with", "contains", "matches", "like"]),
            literal()
        )
            .prop_map(|(a, op, l)| {
                let mut t = a;
                t.push(op);
                t.push(l);
                t
            }),
        value(),
        (path(), pick(&["5m", "0s", "1h"])).prop_map(|(p, d)| {
            vec![
                "count".into(),
                "(".into(),
                p,
                "==".into(),
                "\"x\"".into(),
                ",".into(),
                "within".into(),
                d,
                ",".into(),
                "per".into(),
                "agent.id".into(),
                ",".into(),
                "session".into(),
                ")".into(),
                ">".into(),
                "3".into(),
            ]
        }),
    ]
}

fn expr() -> impl Strategy<Value = Vec<String>> {
    test().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), pick(&["and", "or"]), inner.clone()).prop_map(|(a, op, b)| {
                let mut t = a;
                t.push(op);
                t.extend(b);
                t
            }),
            inner.clone().prop_map(|a| {
                let mut t = vec!["not".to_string()];
                t.push("(".into());
                t.extend(a);
                t.push(")".into());
                t
            }),
            inner.clone().prop_map(|a| {
                let mut t = vec!["not".to_string()];
                t.extend(a);
                t
            }),
            inner.prop_map(|a| {
                let mut t = vec!["(".to_string()];
                t.extend(a);
                t.push(")".into());
                t
            }),
        ]
    })
}

fn rule(n: usize) -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(pick(&["/// a doc", "/// ", "///  indented"]), 0..2),
        prop::option::of(pick(&[
            "@tag(\"ASI-02\")",
            "@severity(\"high\")",
            "@tag(\"a\", \"b\",)",
        ])),
        pick(&["allow", "deny", "escalate", "warn"]),
        prop::option::of(expr()),
        prop::option::of(expr()),
        prop::option::of(string()),
    )
        .prop_map(move |(docs, ann, effect, when, unless, because)| {
            let mut t: Vec<String> = docs.into_iter().map(|d| format!("{d}\n")).collect();
            t.extend(ann);
            t.extend(["rule".to_string(), format!("r{n}"), ":".into(), effect]);
            if let Some(w) = when {
                t.push("when".into());
                t.extend(w);
            }
            if let Some(u) = unless {
                t.push("unless".into());
                t.extend(u);
            }
            if let Some(b) = because {
                t.push("because".into());
                t.push(b);
            }
            t
        })
}

fn item(n: usize) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        pick(&[
            "tool|t(|a|:|string|,|b|:|list|<|number|>|)",
            "tool|u(|)",
            "tool|v(|\"odd-key\"|:|{|x|:|bool|,|}|)",
            "attribute|context.tenant|:|string",
            "attribute|user|:|{|id|:|string|,|groups|:|list|<|string|>|}",
            "attribute|agent[\"x-team\"]|:|list|<|number|>",
            "set|fs|=|file|(|\"data/hosts.txt\"|)",
        ])
        .prop_map(move |s| s
            .split('|')
            .map(|x| x.replace("t(", &format!("t{n}(")))
            .collect()),
        list().prop_map(move |l| {
            let mut t = vec!["set".to_string(), format!("s{n}"), "=".into()];
            t.extend(l);
            t
        }),
        pick(&["allow", "deny"]).prop_map(|e| vec!["default".to_string(), e]),
        (
            prop::option::of(string()),
            prop::option::of(expr()),
            prop::collection::vec(rule(0), 0..4),
            prop::collection::vec(0..3usize, 3),
        )
            .prop_map(move |(desc, applies, rules, order)| {
                let mut t = vec!["policy".to_string(), format!("p{n}"), "{".into()];
                let mut members: Vec<Vec<String>> = Vec::new();
                if let Some(d) = desc {
                    members.push(vec!["description".into(), d]);
                }
                if let Some(a) = applies {
                    let mut m = vec!["applies".to_string(), "when".into()];
                    m.extend(a);
                    members.push(m);
                }
                for (i, mut r) in rules.into_iter().enumerate() {
                    // Distinct rule names.
                    for tok in r.iter_mut() {
                        if tok == "r0" {
                            *tok = format!("r{i}");
                        }
                    }
                    members.push(r);
                }
                let k = members.len();
                if k > 1 {
                    members.rotate_left(order[0] % k);
                }
                for m in members {
                    t.extend(m);
                }
                t.push("}".into());
                t
            }),
    ]
}

/// Tokens joined by random spacing: spaces, line breaks, comments at the end of a line or
/// on their own lines.
fn layout(tokens: Vec<String>, seps: Vec<u8>) -> String {
    let mut s = String::new();
    for (i, t) in tokens.into_iter().enumerate() {
        if i > 0 {
            let sep = match seps.get(i % seps.len().max(1)).copied().unwrap_or(0) % 8 {
                0..=2 => " ".to_string(),
                3 => "\n".to_string(),
                4 => "\n    ".to_string(),
                5 => format!(" // c{i}\n"),
                6 => format!("\n\n// own {i}\n"),
                _ => "  ".to_string(),
            };
            if !s.ends_with('\n') {
                s.push_str(&sep);
            } else if sep.contains("//") {
                s.push_str(sep.trim_start_matches(' ').trim_start_matches('\n'));
            }
        }
        s.push_str(&t);
    }
    s.push('\n');
    s
}

fn file() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((0..4usize).prop_flat_map(item), 0..5),
        prop::collection::vec(any::<u8>(), 1..64),
    )
        .prop_map(|(items, seps)| {
            let tokens: Vec<String> = items.into_iter().flatten().collect();
            layout(tokens, seps)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn fmt_random_policies(text in file()) {
        // The generator only writes valid syntax; check that, then the properties.
        prop_assume!(govern::syntax::parse_file(&SourceFile::new("r.gov", text.as_str())).is_ok());
        check("r.gov", &text);
    }
}

#[test]
fn fmt_random_generator_writes_valid_syntax() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strat = file();
    let mut ok = 0;
    for _ in 0..200 {
        let text = strat.new_tree(&mut runner).unwrap().current();
        if govern::syntax::parse_file(&SourceFile::new("r.gov", text.as_str())).is_ok() {
            ok += 1;
        }
    }
    // Almost everything generated parses, so the property above is not vacuous.
    assert!(ok >= 190, "only {ok} of 200 random files parse");
}

fn govern_fmt(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_govern"))
        .arg("fmt")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fmt_keeps_crlf_files_crlf() {
    let dir = scratch("fmt-crlf");
    let src = "default deny\r\n\r\n// why\r\npolicy p {\r\n  rule r: allow when tool == \"x\"   // which\r\n}\r\n";
    std::fs::write(dir.join("a.gov"), src).unwrap();
    let (code, err) = govern_fmt(&dir, &["a.gov"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "formatted a.gov\n");
    let out = std::fs::read_to_string(dir.join("a.gov")).unwrap();
    assert_eq!(
        out,
        "default deny\r\n\r\n// why\r\npolicy p {\r\n  rule r: allow when tool == \"x\" // which\r\n}\r\n"
    );
    // Formatted, it is canonical: --check passes, and fmt leaves it alone.
    let (code, err) = govern_fmt(&dir, &["--check", "a.gov"]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = govern_fmt(&dir, &["a.gov"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(dir.join("a.gov")).unwrap(), out);
}

#[test]
fn fmt_says_formatted_only_for_files_it_wrote() {
    let dir = scratch("fmt-unwritable");
    // A name the file system takes, but not with the temporary suffix of an atomic write:
    // the write fails even for root.
    let long = format!("{}.gov", "p".repeat(250));
    std::fs::write(dir.join(&long), "default   deny\n").unwrap();
    std::fs::write(dir.join("ok.gov"), "default   deny\n").unwrap();
    let (code, err) = govern_fmt(&dir, &[&long, "ok.gov"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("cannot write {long}")), "{err}");
    assert!(!err.contains(&format!("formatted {long}")), "{err}");
    assert!(err.contains("formatted ok.gov"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join(&long)).unwrap(),
        "default   deny\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("ok.gov")).unwrap(),
        "default deny\n"
    );
}
