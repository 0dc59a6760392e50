//! `govern chaos-run` end to end: help, refused experiments, the report in each format.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

/// The report without what depends on the machine (latencies, speed) or on the compiler
/// version (bundle digests).
fn steady(text: &str) -> String {
    let lines: String = text
        .lines()
        .filter(|l| !l.starts_with("  latency") && !l.ends_with("threads"))
        .map(|l| format!("{l}\n"))
        .collect();
    no_digest(&lines)
}

fn no_digest(text: &str) -> String {
    regex::Regex::new("sha256:[0-9a-f]{64}")
        .unwrap()
        .replace_all(text, "sha256:<digest>")
        .into_owned()
}

#[test]
fn help() {
    let (out, _, code) = run(&["chaos-run", "--help"]);
    assert_eq!(code, 0);
    snap!("cli_chaos_help", out);
}

#[test]
fn refused_experiments_exit_2_with_file_and_line() {
    let (out, err, code) = run(&["chaos-run", "testdata/chaos/bad/unknown-names.chaos.yaml"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    snap!("cli_chaos_refused", err);
    let (_, err, code) = run(&["chaos-run", "testdata/chaos/bad/yaml-error.chaos.yaml"]);
    assert_eq!(code, 2);
    snap!("cli_chaos_yaml_error", err);
    let (_, err, code) = run(&["chaos-run", "no/such.chaos.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such.chaos.yaml"), "{err}");
}

#[test]
fn the_weak_example_in_every_format() {
    let args = [
        "chaos-run",
        "examples/chaos/weak.chaos.yaml",
        "--mutants",
        "3000",
        "--jobs",
        "2",
    ];
    let (out, _, code) = run(&args);
    assert_eq!(code, 1, "{out}");
    snap!("cli_chaos_weak_human", steady(&out));

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let (out, _, code) = run(&json_args);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["status"], "fail");
    let findings = doc["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        for key in [
            "invariant",
            "fault",
            "original",
            "mutated",
            "original_decision",
            "mutated_decision",
            "rule",
        ] {
            assert!(f.get(key).is_some(), "a finding without `{key}`: {f}");
        }
    }
    snap!(
        "cli_chaos_weak_json_findings",
        no_digest(&serde_json::to_string_pretty(&doc["findings"]).unwrap())
    );

    let mut junit_args = args.to_vec();
    junit_args.extend(["--format", "junit"]);
    let (out, _, code) = run(&junit_args);
    assert_eq!(code, 1);
    snap!("cli_chaos_weak_junit", no_digest(&out));
}

#[test]
fn the_strong_example_holds() {
    let (out, _, code) = run(&[
        "chaos-run",
        "examples/chaos/strong.chaos.yaml",
        "--mutants",
        "3000",
    ]);
    assert_eq!(code, 0, "{out}");
    snap!("cli_chaos_strong_human", steady(&out));
}

#[test]
fn a_time_budget_says_what_it_covered() {
    // A budget too small for the plan: the report must not claim the families it never tried.
    let (out, _, _) = run(&[
        "chaos-run",
        "examples/chaos/strong.chaos.yaml",
        "--mutants",
        "100000000",
        "--time",
        "1ms",
    ]);
    assert!(out.contains("the time budget ran out"), "{out}");
    assert!(
        out.contains("not tried, so nothing is known about"),
        "{out}"
    );
}

#[path = "peers/mod.rs"]
mod peers;

/// Every shipped experiment validates against docs/schemas/chaos.schema.json with the
/// `jsonschema` package, and a broken one does not (so the check can fail).
#[test]
fn shipped_experiments_match_the_schema() {
    if peers::skipped("chaos schema validation with jsonschema") {
        return;
    }
    let root = std::path::Path::new(ROOT);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chaos-schema");
    std::fs::create_dir_all(&dir).unwrap();
    let mut docs = Vec::new();
    for path in [
        "testdata/chaos/library.chaos.yaml",
        "testdata/chaos/library-engine.chaos.yaml",
        "examples/chaos/weak.chaos.yaml",
        "examples/chaos/strong.chaos.yaml",
    ] {
        let v: serde_json::Value =
            serde_yaml::from_str(&std::fs::read_to_string(root.join(path)).unwrap()).unwrap();
        docs.push(v);
    }
    let write = |name: &str, v: &serde_json::Value| {
        let p = dir.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let good: Vec<_> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| write(&format!("{i}.json"), d))
        .collect();
    let mut bad = docs[0].clone();
    bad["faults"] = serde_json::json!(["pth"]);
    let bad = write("bad.json", &bad);
    let script = "import json,sys,jsonschema\n\
        schema=json.load(open(sys.argv[1]))\n\
        v=jsonschema.Draft202012Validator(schema)\n\
        [v.validate(json.load(open(p))) for p in sys.argv[2:]]\n\
        print('valid')";
    let validate = |paths: &[std::path::PathBuf]| {
        Command::new(peers::python())
            .args(["-c", script])
            .arg(root.join("docs/schemas/chaos.schema.json"))
            .args(paths)
            .output()
            .unwrap()
    };
    let out = validate(&good);
    assert!(
        out.status.success(),
        "a shipped experiment does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!validate(&[bad]).status.success());
}
