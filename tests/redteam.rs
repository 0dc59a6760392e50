//! The red-team corpus (`testdata/redteam/`) against the policy library: `govern test` must
//! block at least 95% of the attacks and allow every benign case, as written and with every
//! agent holding every role the library grants, and the suites must be valid against the
//! published suite schema (checked with the Python `jsonschema` package, a test peer).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "peers/mod.rs"]
mod peers;

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The share of attacks that must be blocked in every variant.
const MIN_BLOCKED: f64 = 95.0;

fn govern(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_library_blocks_the_attacks_and_allows_the_benign_cases() {
    let (code, stdout, stderr) = govern(&[
        "test",
        "testdata/redteam",
        "--min-blocked",
        "95",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}\n{stdout}\n{stderr}"));
    let rt = &doc["redteam"];
    let variants = rt["variants"].as_array().unwrap();
    let names: Vec<&str> = variants
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["as_sent", "privileged"]);
    let mut report = String::new();
    for v in variants {
        let (attacks, blocked) = (
            v["attacks"].as_u64().unwrap(),
            v["blocked"].as_u64().unwrap(),
        );
        let (benign, allowed) = (
            v["benign"].as_u64().unwrap(),
            v["allowed"].as_u64().unwrap(),
        );
        report.push_str(&format!(
            "{}: {blocked}/{attacks} attacks blocked, {allowed}/{benign} benign allowed\n",
            v["variant"]
        ));
        // A corpus this size, or the check means little.
        assert!(attacks >= 300 && benign >= 200, "{report}");
        assert!(
            blocked as f64 * 100.0 >= MIN_BLOCKED * attacks as f64,
            "{report}attacks allowed: {}",
            rt["attacks_allowed"]
        );
        assert_eq!(
            allowed, benign,
            "{report}benign cases refused: {}",
            rt["benign_refused"]
        );
    }
    assert_eq!(rt["ok"], true, "{report}");
    assert_eq!(code, 0, "{report}{stderr}");
    assert_eq!(doc["summary"]["errors"], 0, "{stderr}");
    // Every suite ran, so nothing was silently skipped.
    let suites = std::fs::read_dir(Path::new(ROOT).join("testdata/redteam"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".test.yaml")
        })
        .count();
    assert_eq!(doc["suites"].as_array().unwrap().len(), suites);
}

#[test]
fn an_attack_let_through_fails_the_run_without_the_gate() {
    // The same corpus without --min-blocked: every attack must be blocked, so the known
    // misses (policies/README.md) fail the run. The gate is what makes them a rate.
    let (code, stdout, _) = govern(&["test", "testdata/redteam", "--filter", "dressed as"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("red team:"), "{stdout}");
}

/// Every suite of the corpus and of the library, as JSON.
fn suites_as_json(dir: &Path) -> Vec<PathBuf> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("redteam-schema");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let mut paths = Vec::new();
    for sub in ["testdata/redteam", "policies"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".test.yaml") {
                continue;
            }
            let v: serde_json::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let json = out.join(format!("{sub}-{name}.json").replace('/', "_"));
            std::fs::write(&json, serde_json::to_string(&v).unwrap()).unwrap();
            paths.push(json);
        }
    }
    paths
}

#[test]
fn the_suites_are_valid_against_the_published_schema() {
    if peers::skipped("suite schema validation with jsonschema") {
        return;
    }
    let root = Path::new(ROOT);
    let schema = root.join("docs/schemas/test-suite.schema.json");
    let paths = suites_as_json(root);
    assert!(paths.len() > 20);
    let script = "import json,sys,jsonschema\n\
        schema=json.load(open(sys.argv[1]))\n\
        jsonschema.Draft202012Validator.check_schema(schema)\n\
        v=jsonschema.Draft202012Validator(schema)\n\
        [v.validate(json.load(open(p))) for p in sys.argv[2:]]\n\
        print('valid')";
    let validate = |paths: &[PathBuf]| {
        Command::new(peers::python())
            .args(["-c", script])
            .arg(&schema)
            .args(paths)
            .output()
            .unwrap()
    };
    let out = validate(&paths);
    assert!(
        out.status.success(),
        "a suite does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A suite with a kind the format does not have is refused, so the check can fail.
    let bad = paths[0].with_file_name("bad.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths[0]).unwrap()).unwrap();
    v["kind"] = serde_json::json!("hostile");
    std::fs::write(&bad, v.to_string()).unwrap();
    assert!(!validate(&[bad]).status.success());
}
