//! The `govern` binary end to end: stdout, stderr and exit status, snapshotted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `govern args…` from the repository root with `stdin`, returning a printable record.
fn run(args: &[&str], stdin: &str) -> (String, i32) {
    run_in(std::path::Path::new(ROOT), args, stdin)
}

/// Runs `govern args…` in `dir`.
fn run_in(dir: &std::path::Path, args: &[&str], stdin: &str) -> (String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may exit before reading its input (a refused bundle): a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let text = format!(
        "status: {code}\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, code)
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn build_writes_a_bundle_and_prints_its_digest() {
    let out = tmp("brief.govb");
    let _ = std::fs::remove_file(&out);
    let (text, code) = run(
        &[
            "build",
            "testdata/examples/brief.gov",
            "-o",
            out.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{text}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(text.contains(&govern::bytecode::digest(&bytes)));
    snap!("cli_build", text.replace(out.to_str().unwrap(), "<out>"));
    // Building again gives the same bytes.
    run(
        &[
            "build",
            "testdata/examples/brief.gov",
            "-o",
            out.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

#[test]
fn build_reports_every_error_and_writes_nothing() {
    let out = tmp("never.govb");
    let _ = std::fs::remove_file(&out);
    let (text, code) = run(
        &[
            "build",
            "testdata/diagnostics/syntax_several_errors.gov",
            "-o",
            out.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(!out.exists());
    snap!("cli_build_errors", text);
    let (json, code) = run(
        &[
            "build",
            "testdata/diagnostics/unknown_attribute.gov",
            "-o",
            out.to_str().unwrap(),
            "--format",
            "json",
        ],
        "",
    );
    assert_eq!(code, 2);
    snap!("cli_build_errors_json", json);
}

#[test]
fn build_listing() {
    let out = tmp("listing.govb");
    let (text, code) = run(
        &[
            "build",
            "testdata/listings/thresholds.gov",
            "-o",
            out.to_str().unwrap(),
            "--listing",
        ],
        "",
    );
    assert_eq!(code, 0);
    snap!(
        "cli_build_listing",
        text.replace(out.to_str().unwrap(), "<out>")
            .replace(govern::compile::COMPILER_VERSION, "govern <version>")
    );
}

#[test]
fn eval_decides_a_stream() {
    let (text, code) = run(
        &[
            "eval",
            "--policy",
            "testdata/examples/brief.gov",
            "testdata/examples/events.jsonl",
        ],
        "",
    );
    assert_eq!(code, 0, "{text}");
    snap!("cli_eval", text);
    // The same through a compiled bundle and standard input.
    let out = tmp("eval.govb");
    run(
        &[
            "build",
            "testdata/examples/brief.gov",
            "-o",
            out.to_str().unwrap(),
        ],
        "",
    );
    let events = std::fs::read_to_string(format!("{ROOT}/testdata/examples/events.jsonl")).unwrap();
    let (piped, _) = run(&["eval", "--bundle", out.to_str().unwrap(), "-"], &events);
    assert_eq!(piped, text);
}

#[test]
fn eval_explains() {
    let (text, code) = run(
        &[
            "eval",
            "--policy",
            "testdata/examples/brief.gov",
            "testdata/examples/events.jsonl",
            "--explain",
        ],
        "",
    );
    assert_eq!(code, 0);
    snap!("cli_eval_explain", text);
}

#[test]
fn eval_refuses_bad_lines_but_decides_the_rest() {
    let input = "{\"tool\":\"web_search\",\"agent\":{\"id\":\"a\",\"trust\":900,\"roles\":[\"finance\"]}}\nnot json\n[1, 2]\n\n{\"tool\": \n{\"ok\":true}\n";
    let (text, code) = run(&["eval", "--policy", "testdata/examples/brief.gov"], input);
    assert_eq!(code, 2);
    snap!("cli_eval_bad_lines", text);
}

#[test]
fn eval_reads_a_pretty_printed_event() {
    let input = "{\n  \"tool\": \"web_search\",\n  \"agent\": {\"id\": \"a\", \"trust\": 900, \"roles\": [\"finance\"]}\n}\n";
    let (text, code) = run(&["eval", "--policy", "testdata/examples/brief.gov"], input);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"decision\":\"allow\""), "{text}");
    let (text, code) = run(
        &["eval", "--policy", "testdata/examples/brief.gov"],
        "{\n  \"tool\": \"web_search\",\n",
    );
    assert_eq!(code, 2);
    assert!(
        text.contains("<stdin>:1: unexpected end of input"),
        "{text}"
    );
}

#[test]
fn eval_exit_codes() {
    let policy = "testdata/examples/brief.gov";
    let allow = "{\"tool\":\"web_search\",\"agent\":{\"id\":\"a\",\"trust\":900,\"roles\":[\"finance\"]}}\n";
    let escalate = "{\"tool\":\"transfer_funds\",\"args\":{\"amount\":5000},\"agent\":{\"id\":\"a\",\"trust\":900,\"roles\":[\"finance\"]}}\n";
    let deny = "{\"tool\":\"file_read\",\"args\":{\"path\":\"/etc/passwd\"},\"agent\":{\"id\":\"a\",\"trust\":900,\"roles\":[\"finance\"]}}\n";
    let code = |input: String| run(&["eval", "--policy", policy, "--exit-code"], &input).1;
    assert_eq!(code(allow.to_string()), 0);
    assert_eq!(code(format!("{allow}{escalate}")), 3);
    assert_eq!(code(format!("{allow}{escalate}{deny}")), 1);
    assert_eq!(code(format!("{allow}garbage\n")), 2);
    // Without --exit-code a deny is still a success of the command.
    assert_eq!(run(&["eval", "--policy", policy], deny).1, 0);
}

#[test]
fn eval_refuses_a_corrupted_bundle_before_reading_events() {
    // Run where the bundle is, so that messages name it the same in every checkout.
    let out = tmp("corrupt.govb");
    let dir = out.parent().unwrap();
    run(
        &[
            "build",
            "testdata/examples/brief.gov",
            "-o",
            out.to_str().unwrap(),
        ],
        "",
    );
    let mut bytes = std::fs::read(&out).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&out, &bytes).unwrap();
    let (text, code) = run_in(dir, &["eval", "--bundle", "corrupt.govb"], "{}\n");
    assert_eq!(code, 2);
    assert!(!text.contains("\"decision\""));
    snap!("cli_eval_corrupt", text);
    std::fs::write(&out, &bytes[..100]).unwrap();
    let (text, code) = run_in(dir, &["eval", "--bundle", "corrupt.govb"], "{}\n");
    assert_eq!(code, 2);
    assert!(text.contains("checksum mismatch"), "{text}");
}

#[test]
fn usage_errors() {
    let (text, code) = run(&["eval"], "");
    assert_eq!(code, 2);
    snap!("cli_eval_usage", text);
    let (text, code) = run(
        &[
            "eval",
            "--policy",
            "testdata/examples/brief.gov",
            "no/such/file.jsonl",
        ],
        "",
    );
    assert_eq!(code, 2);
    assert!(text.contains("no/such/file.jsonl: cannot read"), "{text}");
    let (text, code) = run(&["build", "no/such/dir", "-o", "x.govb"], "");
    assert_eq!(code, 2);
    assert!(text.contains("no/such/dir"), "{text}");
}

#[test]
fn help_texts() {
    for cmd in ["build", "eval", "replay-audit", "serve", "simulate"] {
        let (text, code) = run(&[cmd, "--help"], "");
        assert_eq!(code, 0);
        snap!(format!("cli_help_{cmd}"), text);
    }
}

/// `govern replay-audit` on a log `eval` wrote, intact and then with one decision changed:
/// the report, with the times and hashes of this run replaced by placeholders.
#[test]
fn replay_audit_reports() {
    let dir = tmp("replay-audit");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let policy = std::path::Path::new(ROOT).join("testdata/examples/brief.gov");
    let events = std::path::Path::new(ROOT).join("testdata/examples/events.jsonl");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let (_, code) = run_in(&dir, &["keygen", "-o", "point"], "");
    assert_eq!(code, 0);
    let (text, code) = run_in(
        &dir,
        &[
            "eval",
            "--policy",
            &p(&policy),
            &p(&events),
            "--audit-log",
            "audit.jsonl",
            "--audit-key",
            "point.key",
            "--checkpoint-every",
            "4",
        ],
        "",
    );
    assert_eq!(code, 0, "{text}");
    let (_, code) = run_in(&dir, &["build", &p(&policy), "--store", "bundles"], "");
    assert_eq!(code, 0);
    let redact = |t: String| {
        let t = regex::Regex::new(r"sha256:[0-9a-f]{64}")
            .unwrap()
            .replace_all(&t, "sha256:<hash>");
        let t = regex::Regex::new(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z")
            .unwrap()
            .replace_all(&t, "<time>");
        regex::Regex::new(r"bundles/[0-9a-f]{64}")
            .unwrap()
            .replace_all(&t, "bundles/<hex>")
            .into_owned()
    };
    let (text, code) = run_in(
        &dir,
        &[
            "replay-audit",
            "audit.jsonl",
            "--bundles",
            "bundles",
            "--key",
            "point.pub",
        ],
        "",
    );
    assert_eq!(code, 0, "{text}");
    snap!("cli_replay_audit", redact(text));
    // One decision changed in place: its hash no longer holds, and replay disagrees.
    let log = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    let mut lines: Vec<String> = log.lines().map(str::to_string).collect();
    lines[3] = lines[3].replace("\"decision\":\"deny\"", "\"decision\":\"allow\"");
    std::fs::write(dir.join("changed.jsonl"), lines.join("\n") + "\n").unwrap();
    let (text, code) = run_in(
        &dir,
        &[
            "replay-audit",
            "changed.jsonl",
            "--bundles",
            "bundles",
            "--key",
            "point.pub",
        ],
        "",
    );
    assert_eq!(code, 1, "{text}");
    snap!("cli_replay_audit_tampered", redact(text));
}

#[test]
fn a_bundle_given_as_policy_source_says_to_use_bundle() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-bundle-as-source");
    std::fs::create_dir_all(&dir).unwrap();
    let at = |p: &str| format!("{ROOT}/{p}");
    let (policy, events, trace) = (
        at("testdata/simulate/policy"),
        at("testdata/events.jsonl"),
        at("testdata/traces/sample.jsonl"),
    );
    let (text, code) = run_in(&dir, &["build", &policy, "-o", "p.govb"], "");
    assert_eq!(code, 0, "{text}");
    // Also under another name: the bytes say what it is.
    std::fs::copy(dir.join("p.govb"), dir.join("p.gov")).unwrap();
    for args in [
        vec!["eval", "--policy", "p.govb", &events],
        vec!["simulate", "--policy", "p.govb", &trace],
        vec!["simulate", "--policy", "p.gov", &trace],
        vec!["lint", "p.govb"],
        vec!["build", "p.govb", "-o", "unused.govb"],
        vec!["fmt", "--check", "p.govb"],
        vec![
            "test",
            "--record",
            &trace,
            "--policy",
            "p.govb",
            "-o",
            "unused.test.yaml",
        ],
    ] {
        let (text, code) = run_in(&dir, &args, "");
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(
            text.contains("a compiled bundle (`.govb`), not policy source")
                && text.contains("`--bundle p.gov"),
            "{args:?}: {text}"
        );
    }
    let (text, code) = run_in(&dir, &["test", "p.govb"], "");
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("a compiled bundle (`.govb`), not a test suite"),
        "{text}"
    );
    assert!(!dir.join("unused.govb").exists());
    // A bundle larger than a policy file may be (one with a million-entry set) is named as the
    // bundle it is, by its bytes or its name, not as a policy file over the size limit.
    let mut big = b"GOVB".to_vec();
    big.resize(17 << 20, 0);
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    std::fs::write(dir.join("huge.govb"), vec![b'x'; 17 << 20]).unwrap();
    for name in ["big.bin", "huge.govb"] {
        for args in [
            vec!["eval", "--policy", name, &events],
            vec!["build", name, "-o", "unused.govb"],
        ] {
            let (text, code) = run_in(&dir, &args, "");
            assert_eq!(code, 2, "{args:?}: {text}");
            assert!(
                text.contains("a compiled bundle (`.govb`), not policy source")
                    && text.contains(&format!("`--bundle {name}")),
                "{args:?}: {text}"
            );
        }
    }
}

/// The `gov` block under a README heading.
fn readme_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let at = readme.find(heading).unwrap();
    let rest = &readme[at..];
    let start = rest.find("```gov\n").unwrap() + "```gov\n".len();
    let end = rest[start..].find("```").unwrap();
    rest[start..start + end].to_string()
}

#[test]
fn the_readme_policy_lints_and_formats_clean() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-readme");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("five.gov"),
        readme_block("## The language in five minutes"),
    )
    .unwrap();
    let (text, code) = run_in(&dir, &["lint", "--fail-level", "info", "five.gov"], "");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("no findings"), "{text}");
    let (text, code) = run_in(&dir, &["fmt", "--check", "five.gov"], "");
    assert_eq!(code, 0, "{text}");
}

#[test]
fn the_readme_exit_code_table_has_every_code() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let row = regex::Regex::new(r"(?m)^\| `(\d)` \| (.*) \|$").unwrap();
    let rows: Vec<(String, String)> = row
        .captures_iter(&readme)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    let codes: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["0", "1", "2", "3"], "{rows:?}");
    assert!(rows[3].1.contains("eval --exit-code"), "{rows:?}");
    // And the code is what `eval --exit-code` gives for an escalated event.
    let event = r#"{"action":"tool_call","tool":"transfer_funds","args":{"amount":5000,"to":"x","currency":"EUR"},"agent":{"id":"f","roles":["finance"],"trust":900}}"#;
    let (text, code) = run(
        &[
            "eval",
            "--policy",
            "testdata/simulate/policy",
            "--exit-code",
        ],
        event,
    );
    assert_eq!(code, 3, "{text}");
}

/// A rate limit per agent with room for two agents' keys: the third agent's events are decided
/// with its count unknown (a deny rule matches), and standard error says why.
#[test]
fn eval_fails_closed_at_the_key_bound_and_says_so() {
    let policy = tmp("rate.gov");
    std::fs::write(
        &policy,
        "default allow\npolicy p {\n  rule rate: deny when count(action == \"tool_call\", within 1m, per agent.id) >= 2\n    because \"two calls a minute\"\n}\n",
    )
    .unwrap();
    let mut events = String::new();
    for (i, agent) in ["a", "b", "c", "a", "c"].iter().enumerate() {
        events.push_str(&format!(
            "{{\"ts\":\"2026-11-23T10:00:0{i}Z\",\"action\":\"tool_call\",\"agent\":{{\"id\":\"{agent}\"}}}}\n"
        ));
    }
    // A call dated years ahead is not believed: it neither moves stream time nor `time.*`.
    events.push_str(
        "{\"ts\":\"2030-01-01T00:00:00Z\",\"action\":\"tool_call\",\"agent\":{\"id\":\"a\"}}\n",
    );
    let (text, code) = run(
        &[
            "eval",
            "--policy",
            policy.to_str().unwrap(),
            "--max-keys",
            "2",
        ],
        &events,
    );
    assert_eq!(code, 0, "{text}");
    let text = text.replace(policy.to_str().unwrap(), "<policy>");
    let decisions: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
    // The third agent's key could not be held: its count is unknown, the rate limit denies
    // and names the key attribute.
    assert!(
        decisions[4].contains("\"decision\":\"deny\"")
            && decisions[4].contains("\"unknown\":[\"agent.id\"]"),
        "{text}"
    );
    snap!("cli_eval_key_bound", regex_digest(&text));
}

/// Digests change with the compiler; the snapshots keep their place.
fn regex_digest(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("sha256:") {
        out.push_str(&rest[..i]);
        out.push_str("sha256:…");
        rest = &rest[i + 7..];
        let end = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The same policy folder named as `policies`, `./policies/`, by its absolute path, and a copy
/// of it in another folder: one bundle, byte for byte (paths are recorded relative to the root
/// named), so that a digest pinned in an audit log or a signature means the policy.
#[test]
fn the_same_sources_build_the_same_bundle_wherever_they_are_named_or_copied() {
    let base = tmp("same-digest");
    let _ = std::fs::remove_dir_all(&base);
    for folder in ["a/policies/sub", "b/elsewhere/policies/sub"] {
        std::fs::create_dir_all(base.join(folder)).unwrap();
    }
    let brief = std::fs::read_to_string(format!("{ROOT}/testdata/examples/brief.gov")).unwrap();
    for root in ["a/policies", "b/elsewhere/policies"] {
        std::fs::write(base.join(root).join("sub/brief.gov"), &brief).unwrap();
        std::fs::write(
            base.join(root).join("extra.gov"),
            "policy extra {\n  rule no_shell: deny when tool == \"shell\" because \"no shells\"\n}\n",
        )
        .unwrap();
    }
    let a = base.join("a");
    let absolute = a.join("policies");
    let builds: [(&std::path::Path, &str); 4] = [
        (&a, "policies"),
        (&a, "./policies/"),
        (&a, absolute.to_str().unwrap()),
        (&base, "b/elsewhere/policies"),
    ];
    let mut bundles = Vec::new();
    for (i, (dir, path)) in builds.iter().enumerate() {
        let out = base.join(format!("{i}.govb"));
        let (text, code) = run_in(dir, &["build", path, "-o", out.to_str().unwrap()], "");
        assert_eq!(code, 0, "{path}: {text}");
        bundles.push(std::fs::read(&out).unwrap());
    }
    for (i, b) in bundles.iter().enumerate() {
        assert_eq!(
            b, &bundles[0],
            "{} differs from {}",
            builds[i].1, builds[0].1
        );
    }
}
