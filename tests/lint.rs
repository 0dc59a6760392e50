//! `govern lint`, `govern explain` and `govern fmt` from the command line: output per format,
//! exit codes, suppressions, govern.toml, the SARIF schema, the generated docs, `--watch`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "peers/mod.rs"]
mod peers;

const BIN: &str = env!("CARGO_BIN_EXE_govern");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs govern in `dir` with colours off; returns stdout, stderr and the exit code.
fn run_in(dir: &Path, args: &[&str]) -> (String, String, i32) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

fn run(args: &[&str]) -> (String, String, i32) {
    run_in(&root(), args)
}

/// The transcript a snapshot holds.
fn transcript(args: &[&str], (stdout, stderr, code): (String, String, i32)) -> String {
    format!(
        "$ govern {}\nexit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        args.join(" ")
    )
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("govern-lint-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every lint has an example under testdata/lint that triggers it, and its output is
/// snapshotted.
#[test]
fn lint_every_rule_has_a_triggering_example() {
    let (list, _, code) = run(&["explain", "--all"]);
    assert_eq!(code, 0);
    let codes: Vec<&str> = list
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(codes.len() >= 20);
    for c in codes {
        let found: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/lint"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{c}-"))
            })
            .collect();
        assert_eq!(found.len(), 1, "testdata/lint needs one example for {c}");
        let rel = format!(
            "testdata/lint/{}",
            found[0].file_name().unwrap().to_string_lossy()
        );
        let (out, err, _) = run(&["lint", &rel, "--format", "json"]);
        let got: Vec<String> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["code"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(
            got.iter().any(|g| g == c),
            "{rel} does not trigger {c}: {got:?} {err}"
        );
    }
}

#[test]
fn lint_rule_snapshots() {
    insta::glob!("../testdata/lint", "*.gov", |path| {
        let rel = format!(
            "testdata/lint/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let args = ["lint", rel.as_str()];
        snap!("lint_rule", transcript(&args, run(&args)));
    });
}

#[test]
fn lint_formats() {
    for (name, format) in [
        ("lint_format_human", "human"),
        ("lint_format_json", "json"),
        ("lint_format_github", "github"),
        ("lint_format_sarif", "sarif"),
    ] {
        let args = [
            "lint",
            "testdata/lint/G0104-conflicting-rules.gov",
            "testdata/lint/G0201-missing-because.gov",
            "--format",
            format,
        ];
        let mut t = transcript(&args, run(&args));
        // The version changes with every release; the rest of the log must not.
        t = t.replace(env!("CARGO_PKG_VERSION"), "<version>");
        snap!(name, t);
    }
}

/// The policy library is written with care: the linter must not cry wolf on it, and it is
/// kept in the canonical layout users start from.
#[test]
fn lint_policy_library_is_clean() {
    let (out, err, code) = run(&["lint", "policies", "--fail-level", "info"]);
    assert_eq!((out.as_str(), code), ("no findings\n", 0), "{out}{err}");
    let (out, err, code) = run(&["fmt", "--check", "policies"]);
    assert_eq!(
        code, 0,
        "the policy library is not formatted (run `govern fmt policies`):\n{out}{err}"
    );
}

#[test]
fn lint_brief_example() {
    let args = ["lint", "testdata/examples/brief.gov"];
    snap!("lint_brief", transcript(&args, run(&args)));
}

#[test]
fn lint_exit_codes() {
    let dir = temp_dir("exit");
    std::fs::write(
        dir.join("clean.gov"),
        "tool web_search(query: string)\n\npolicy p {\n  rule search: allow when action == \"tool_call\" and tool == \"web_search\"\n}\n",
    )
    .unwrap();
    let (out, _, code) = run_in(&dir, &["lint", "clean.gov"]);
    assert_eq!((out.as_str(), code), ("no findings\n", 0));
    // Also the default path: the current directory.
    assert_eq!(run_in(&dir, &["lint"]).2, 0);

    // A warning: exit 0 by default, 1 with --fail-level warn.
    std::fs::write(
        dir.join("warn.gov"),
        "policy p {\n  rule a: deny when action == \"input\"\n}\n",
    )
    .unwrap();
    assert_eq!(run_in(&dir, &["lint", "warn.gov"]).2, 0);
    assert_eq!(
        run_in(&dir, &["lint", "warn.gov", "--fail-level", "warn"]).2,
        1
    );
    assert_eq!(
        run_in(&dir, &["lint", "warn.gov", "--fail-level", "info"]).2,
        1
    );
    // An error-level finding fails by default.
    assert_eq!(
        run(&["lint", "testdata/lint/G0101-unreachable-rule.gov"]).2,
        1
    );

    // Syntax errors, type errors, missing files and usage errors are 2.
    std::fs::write(dir.join("bad.gov"), "policy p { rule a: allow when && }\n").unwrap();
    let r = run_in(&dir, &["lint", "bad.gov"]);
    assert_eq!(r.2, 2, "{r:?}");
    assert!(r.1.contains("bad.gov"));
    std::fs::write(
        dir.join("type.gov"),
        "policy p { rule a: allow when agent.trst > 3 }\n",
    )
    .unwrap();
    let r = run_in(&dir, &["lint", "type.gov"]);
    assert_eq!(r.2, 2);
    assert!(r.1.contains("did you mean `agent.trust`"), "{}", r.1);
    assert_eq!(run_in(&dir, &["lint", "missing.gov"]).2, 2);
    // In GitHub format, input errors are annotations too.
    let (out, _, code) = run_in(&dir, &["lint", "bad.gov", "--format", "github"]);
    assert_eq!(code, 2);
    assert!(out.starts_with("::error file=bad.gov,line=1,"), "{out}");
    assert_eq!(run_in(&dir, &["lint", "clean.gov", "--format", "xml"]).2, 2);
    assert_eq!(
        run_in(&dir, &["lint", "clean.gov", "--fail-level", "loud"]).2,
        2
    );
}

#[test]
fn lint_suppressions() {
    let dir = temp_dir("suppress");
    let base = "policy p {\n  rule a: deny when action == \"input\"\n}\n";
    std::fs::write(dir.join("a.gov"), base).unwrap();
    let (out, _, _) = run_in(&dir, &["lint", "a.gov", "--format", "json"]);
    assert!(out.contains("G0201"));

    std::fs::write(
        dir.join("a.gov"),
        "policy p {\n  // govern:allow(G0201) the host shows its own message\n  rule a: deny when action == \"input\"\n}\n",
    )
    .unwrap();
    assert_eq!(run_in(&dir, &["lint", "a.gov"]).0, "no findings\n");

    std::fs::write(
        dir.join("a.gov"),
        "policy p {\n  rule a: deny when action == \"input\" // govern:allow(missing-because) legacy rule\n}\n",
    )
    .unwrap();
    assert_eq!(run_in(&dir, &["lint", "a.gov"]).0, "no findings\n");

    // No reason: suppresses nothing, and is reported.
    std::fs::write(
        dir.join("a.gov"),
        "policy p {\n  // govern:allow(G0201)\n  rule a: deny when action == \"input\"\n}\n",
    )
    .unwrap();
    let args = ["lint", "a.gov"];
    snap!(
        "lint_suppression_without_reason",
        transcript(&args, run_in(&dir, &args))
    );
}

/// A suppression at the end of an item's line keeps working when `govern fmt` lays the item
/// out over several lines (the comment then ends the item's last line).
#[test]
fn lint_suppressions_survive_fmt() {
    let dir = temp_dir("suppress-fmt");
    let src = "tool file_read(path: string)\n\
        set some_long_set_name = [\"aaaaaaaaaaaaaaaa\", \"bbbbbbbbbbbbbbbbbbbbbbbbb\", \"ccccccccccccccccccccccccccc\"] // govern:allow(G0211) kept for later\n\
        policy p {\n\
        \x20 rule long_rule_name_here: deny when action == \"tool_call\" and tool == \"file_read\" and args.path starts_with \"/very/long/path/prefix\" and args.path ends_with \".secret\" // govern:allow(G0201) legacy\n\
        }\n";
    std::fs::write(dir.join("a.gov"), src).unwrap();
    assert_eq!(run_in(&dir, &["lint", "a.gov"]).0, "no findings\n");
    assert_eq!(run_in(&dir, &["fmt", "a.gov"]).2, 0);
    let formatted = std::fs::read_to_string(dir.join("a.gov")).unwrap();
    assert_ne!(formatted, src, "the layout changed");
    assert!(
        formatted.contains("\n] // govern:allow(G0211)"),
        "{formatted}"
    );
    assert_eq!(
        run_in(&dir, &["lint", "a.gov"]).0,
        "no findings\n",
        "after fmt:\n{formatted}"
    );
    // On the last line of a multi-line rule written by hand, too.
    std::fs::write(
        dir.join("a.gov"),
        "policy p {\n  rule e: deny\n    when action == \"shutdown\" // govern:allow(G0201) legacy\n}\n",
    )
    .unwrap();
    assert_eq!(run_in(&dir, &["lint", "a.gov"]).0, "no findings\n");
}

/// A byte order mark, which some editors write at the start of UTF-8 files, is not part of
/// the policy: lint, build and fmt read the file as if it were absent.
#[test]
fn lint_byte_order_mark_is_ignored() {
    let dir = temp_dir("bom");
    std::fs::write(
        dir.join("a.gov"),
        "\u{feff}policy p {\n  rule a: allow when action == \"input\"\n}\n",
    )
    .unwrap();
    let (out, err, code) = run_in(&dir, &["lint", "a.gov"]);
    assert_eq!((out.as_str(), err.as_str(), code), ("no findings\n", "", 0));
    let (_, err, code) = run_in(&dir, &["fmt", "--check", "a.gov"]);
    assert_eq!((err.as_str(), code), ("1 file already formatted\n", 0));
}

#[test]
fn lint_govern_toml() {
    let dir = temp_dir("toml");
    std::fs::create_dir_all(dir.join("policies/sub")).unwrap();
    std::fs::write(
        dir.join("policies/sub/a.gov"),
        "policy p {\n  rule a: deny when action == \"input\"\n}\n",
    )
    .unwrap();
    // Found by walking up from the path.
    std::fs::write(
        dir.join("govern.toml"),
        "[lint.levels]\nmissing-because = \"error\"\n",
    )
    .unwrap();
    let (out, _, code) = run_in(&dir, &["lint", "policies/sub", "--format", "json"]);
    assert_eq!(code, 1);
    assert!(out.contains("\"level\":\"error\""), "{out}");

    std::fs::write(dir.join("govern.toml"), "[lint.levels]\nG0201 = \"off\"\n").unwrap();
    assert_eq!(run_in(&dir, &["lint", "policies"]).0, "no findings\n");

    std::fs::write(dir.join("govern.toml"), "[lint]\nfail-level = \"warn\"\n").unwrap();
    assert_eq!(run_in(&dir, &["lint", "policies"]).2, 1);
    // The command line wins.
    assert_eq!(
        run_in(&dir, &["lint", "policies", "--fail-level", "error"]).2,
        0
    );

    std::fs::write(
        dir.join("govern.toml"),
        "[lint.levels]\nG0201 = \"off\"\nmissing-becuase = \"warn\"\n",
    )
    .unwrap();
    let args = ["lint", "policies"];
    let t = transcript(&args, run_in(&dir, &args));
    snap!("lint_govern_toml_unknown_lint", t);
}

#[test]
fn lint_sarif_is_valid_against_the_schema() {
    let schema = root().join("testdata/sarif/sarif-schema-2.1.0.json");
    // One log per example file (they are separate bundles), so every lint's result shape is
    // covered.
    let mut logs: Vec<String> = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/lint"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        let rel = format!("testdata/lint/{}", f.file_name().unwrap().to_string_lossy());
        let (sarif, _, code) = run(&["lint", &rel, "--format", "sarif"]);
        assert!(code == 0 || code == 1, "{rel}");
        logs.push(sarif);
    }
    // Policies that do not parse still give a SARIF log (uploading an empty file fails), with
    // the run marked unsuccessful and the errors as notifications that point at the source.
    let broken = temp_dir("sarif-broken");
    std::fs::write(broken.join("a b.gov"), "policy p { rule }\n").unwrap();
    let (failed, err, code) = run_in(&broken, &["lint", "a b.gov", "--format", "sarif"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unexpected"), "{err}");
    let log: serde_json::Value = serde_json::from_str(&failed).unwrap();
    let inv = &log["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false, "{failed}");
    let note = &inv["toolExecutionNotifications"][0];
    assert_eq!(note["level"], "error");
    assert!(
        note["message"]["text"]
            .as_str()
            .unwrap()
            .contains("unexpected")
    );
    let region = &note["locations"][0]["physicalLocation"];
    assert_eq!(region["artifactLocation"]["uri"], "a%20b.gov");
    assert_eq!(region["region"]["startLine"], 1);
    assert_eq!(region["region"]["startColumn"], 17);
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    for sarif in &logs {
        let log: serde_json::Value = serde_json::from_str(sarif).unwrap();
        // Structure the code-scanning tools rely on, checked without any tool.
        assert_eq!(log["version"], "2.1.0");
        let run0 = &log["runs"][0];
        let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
        for r in rules {
            assert!(r["help"]["text"].as_str().unwrap().len() > 20);
            assert!(r["shortDescription"]["text"].as_str().is_some());
        }
        let results = run0["results"].as_array().unwrap();
        assert!(!results.is_empty());
        for res in results {
            let idx = res["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[idx]["id"], res["ruleId"]);
        }
    }
    // Full validation with the Python `jsonschema` package (a test peer, installed on first
    // use into target/; see tests/peers/README.md).
    if peers::skipped("SARIF schema validation with jsonschema") {
        return;
    }
    let python = peers::python();
    let dir = temp_dir("sarif");
    let mut paths = Vec::new();
    logs.push(failed);
    for (i, sarif) in logs.iter().enumerate() {
        let p = dir.join(format!("{i}.sarif"));
        std::fs::write(&p, sarif).unwrap();
        paths.push(p);
    }
    let script = "import json,sys,jsonschema\n\
        schema=json.load(open(sys.argv[1]))\n\
        v=jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())\n\
        [v.validate(json.load(open(p))) for p in sys.argv[2:]]\n\
        print('valid')";
    let validate = |paths: &[PathBuf]| {
        Command::new(&python)
            .args(["-c", script])
            .arg(&schema)
            .args(paths)
            .output()
            .unwrap()
    };
    let out = validate(&paths);
    assert!(
        out.status.success(),
        "a SARIF log does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And a broken log is refused, so the check can fail.
    let bad = dir.join("bad.sarif");
    std::fs::write(&bad, logs[0].replace("\"2.1.0\"", "\"2.0\"")).unwrap();
    assert!(!validate(&[bad]).status.success());
}

#[test]
fn lint_docs_are_fresh() {
    let (generated, _, code) = run(&["explain", "--all", "--markdown"]);
    assert_eq!(code, 0);
    let on_disk = std::fs::read_to_string(root().join("docs/lints.md")).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/lints.md is stale: regenerate it with `cargo run -- explain --all --markdown > docs/lints.md`"
    );
}

#[test]
fn lint_explain() {
    for (name, args) in [
        ("lint_explain_code", vec!["explain", "G0102"]),
        (
            "lint_explain_name",
            vec!["explain", "fails-closed-on-absent"],
        ),
        ("lint_explain_unknown", vec!["explain", "shadowd-rule"]),
        ("lint_explain_all", vec!["explain", "--all"]),
    ] {
        snap!(name, transcript(&args, run(&args)));
    }
}

#[test]
fn lint_fmt_check_and_write() {
    let dir = temp_dir("fmt");
    let messy = "tool  a( x:string ,y : number)\npolicy p{\n rule r :   allow when tool==\"a\"   // keep me\n}\n";
    std::fs::write(dir.join("a.gov"), messy).unwrap();
    std::fs::write(
        dir.join("b.gov"),
        "policy q {\n  rule r: allow when tool == \"b\"\n}\n",
    )
    .unwrap();
    let args = ["fmt", "--check", "."];
    let t = transcript(&args, run_in(&dir, &args));
    snap!("lint_fmt_check", t);
    assert_eq!(
        std::fs::read_to_string(dir.join("a.gov")).unwrap(),
        messy,
        "--check changes nothing"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("a.gov"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    let (_, err, code) = run_in(&dir, &["fmt", "."]);
    assert_eq!(code, 0);
    assert_eq!(err, "formatted a.gov\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("a.gov"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the file keeps its permissions");
    }
    let once = std::fs::read_to_string(dir.join("a.gov")).unwrap();
    snap!("lint_fmt_written", once.clone());
    assert!(once.contains("// keep me"));
    // Idempotent: a second run changes nothing, and --check agrees.
    let (_, err, code) = run_in(&dir, &["fmt", "."]);
    assert_eq!((err.as_str(), code), ("", 0));
    assert_eq!(std::fs::read_to_string(dir.join("a.gov")).unwrap(), once);
    let (_, err, code) = run_in(&dir, &["fmt", "--check", "."]);
    assert_eq!((err.as_str(), code), ("2 files already formatted\n", 0));

    // Syntax errors: exit 2, file untouched.
    std::fs::write(dir.join("c.gov"), "policy p { rule }\n").unwrap();
    let (_, err, code) = run_in(&dir, &["fmt", "c.gov"]);
    assert_eq!(code, 2);
    assert!(err.contains("c.gov"));
    assert_eq!(
        std::fs::read_to_string(dir.join("c.gov")).unwrap(),
        "policy p { rule }\n"
    );
    // --watch needs --check.
    assert_eq!(run_in(&dir, &["fmt", "--watch", "."]).2, 2);
}

/// `--watch` lints again after a change: start it, wait for the first report, edit a file,
/// wait for the second, stop it.
#[test]
fn lint_watch_reruns_on_change() {
    use std::io::Read;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let dir = temp_dir("watch");
    std::fs::write(
        dir.join("a.gov"),
        "policy p {\n  rule a: deny when action == \"input\"\n}\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["lint", "--watch", "--format", "json", "."])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    let mut seen = String::new();
    let wait_for = |seen: &mut String, needle: &str, count: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.matches(needle).count() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(s) => seen.push_str(&s),
                Err(_) => return false,
            }
        }
        true
    };
    let first = wait_for(&mut seen, "G0201", 1);
    // Give the watcher a moment to be installed before editing.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        dir.join("a.gov"),
        "policy p {\n  rule a: deny when action == \"input\"\n  rule b: deny when action == \"output\"\n}\n",
    )
    .unwrap();
    let second = wait_for(&mut seen, "G0201", 3);
    let _ = child.kill();
    let _ = child.wait();
    assert!(first, "no first report: {seen}");
    assert!(second, "no report after the change: {seen}");
}
