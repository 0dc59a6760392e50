//! Hostile and odd input to `govern build` and `govern eval`: every one is refused with a
//! message that names the file and the line, exit status 2, and never a crash.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `govern args…` in `dir` with `stdin`: (stdout, stderr, exit status).
fn run_in(dir: &Path, args: &[&str], stdin: &str) -> (String, String, i32) {
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
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("hostile")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds `text` as `p.gov` in a fresh directory: (stderr, exit status).
fn build(name: &str, text: &str) -> (String, i32) {
    let dir = scratch(name);
    std::fs::write(dir.join("p.gov"), text).unwrap();
    let (_, err, code) = run_in(&dir, &["build", "p.gov", "-o", "p.govb"], "");
    (err, code)
}

fn assert_refused(what: &str, err: &str, code: i32) {
    assert_eq!(code, 2, "{what}: exit status {code}\n{err}");
    assert!(!err.contains("panicked"), "{what} panicked:\n{err}");
    assert!(!err.contains("overflow"), "{what} overflowed:\n{err}");
}

#[test]
fn deeply_nested_conditions_are_refused_not_a_crash() {
    let n = 5000;
    let cases = [
        (
            "parens",
            format!("{}tool == \"x\"{}", "(".repeat(n), ")".repeat(n)),
        ),
        ("nots", format!("{}tool == \"x\"", "not ".repeat(n))),
        (
            "calls",
            format!("{}tool{} == \"x\"", "lower(".repeat(n), ")".repeat(n)),
        ),
        (
            "seen",
            format!("{}tool == \"x\"{}", "seen(".repeat(n), ")".repeat(n)),
        ),
    ];
    for (what, cond) in cases {
        let (err, code) = build(
            &format!("nested_{what}"),
            &format!("policy p {{\n  rule a: deny when {cond}\n}}\n"),
        );
        assert_refused(what, &err, code);
        assert!(
            err.contains("nested too deeply") && err.contains("p.gov:2:"),
            "{what}: {err}"
        );
    }
    let record = format!("tool t(a: {}string{})\n", "{x: ".repeat(n), "}".repeat(n));
    let (err, code) = build("nested_record", &record);
    assert_refused("record", &err, code);
    assert!(err.contains("nested too deeply"), "{err}");
}

#[test]
fn nesting_within_the_limit_still_builds() {
    let n = govern::syntax::parser::MAX_NESTING;
    let cond = format!(
        "{}{}tool == \"x\"{}",
        "not not ".repeat(n / 4),
        "(".repeat(n / 2),
        ")".repeat(n / 2)
    );
    let (err, code) = build(
        "nested_ok",
        &format!("policy p {{\n  rule a: deny when {cond}\n}}\n"),
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_error_far_along_a_long_line_is_reported() {
    // A generated policy on one line: the error is past column 65535.
    let text = format!(
        "set s = [\"{}\"] policy p {{ rule a: deny when agent.trsut > 1 }}\n",
        "a".repeat(70_000)
    );
    let (err, code) = build("long_line", &text);
    assert_refused("long line", &err, code);
    assert!(
        err.contains("unknown attribute `agent.trsut`") && err.contains("p.gov:1:70043"),
        "{err}"
    );
    assert!(err.contains("did you mean `agent.trust`?"), "{err}");
    // The long line is not printed whole.
    assert!(err.len() < 2_000, "{} bytes of messages", err.len());
}

#[test]
fn a_byte_order_mark_is_ignored_and_crlf_is_fine() {
    let plain = "default allow\npolicy p {\n  rule a: deny when tool == \"x\"\n}\n";
    let dir = scratch("bom");
    std::fs::write(dir.join("plain.gov"), plain).unwrap();
    std::fs::write(
        dir.join("bom.gov"),
        format!("\u{feff}{}", plain.replace('\n', "\r\n")),
    )
    .unwrap();
    let (out1, err1, code1) = run_in(&dir, &["build", "plain.gov", "-o", "a.govb"], "");
    assert_eq!(code1, 0, "{err1}");
    let (out2, err2, code2) = run_in(&dir, &["build", "bom.gov", "-o", "b.govb"], "");
    assert_eq!(code2, 0, "{err2}");
    assert!(out1.starts_with("sha256:") && out2.starts_with("sha256:"));
    let (d, _, code) = run_in(
        &dir,
        &["eval", "--bundle", "b.govb"],
        "{\"tool\":\"x\"}\n{\"tool\":\"y\"}\n",
    );
    assert_eq!(code, 0);
    assert!(d.lines().next().unwrap().contains("\"deny\""), "{d}");
    assert!(d.lines().nth(1).unwrap().contains("\"allow\""), "{d}");
    // Positions count from after the mark.
    std::fs::write(
        dir.join("bom_err.gov"),
        "\u{feff}policy p {\r\n  rule a: deny when agent.trsut > 1\r\n}\r\n",
    )
    .unwrap();
    let (_, err, code) = run_in(&dir, &["build", "bom_err.gov", "-o", "c.govb"], "");
    assert_refused("bom_err", &err, code);
    assert!(err.contains("bom_err.gov:2:21"), "{err}");
}

#[test]
fn invalid_utf8_names_the_line_and_column() {
    let dir = scratch("utf8");
    let mut bytes = b"policy p {\n  rule a: deny when tool == \"".to_vec();
    bytes.extend_from_slice(&[0xff, b'"', b'\n', b'}', b'\n']);
    std::fs::write(dir.join("p.gov"), bytes).unwrap();
    let (_, err, code) = run_in(&dir, &["build", "p.gov", "-o", "p.govb"], "");
    assert_refused("invalid utf-8", &err, code);
    assert!(
        err.contains("p.gov:2: not valid UTF-8 at column 30"),
        "{err}"
    );
}

#[test]
fn one_file_named_two_ways_is_read_once() {
    let dir = scratch("same_file");
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(
        dir.join("d/a.gov"),
        "default allow\npolicy p {\n  rule a: deny when tool == \"x\"\n}\n",
    )
    .unwrap();
    let (first, err, code) = run_in(&dir, &["build", "d", "-o", "1.govb"], "");
    assert_eq!(code, 0, "{err}");
    let digest = first.split_whitespace().next().unwrap().to_string();
    for args in [
        &["d", "./d/"][..],
        &["d", "d/./a.gov"][..],
        &["./d/./a.gov"][..],
        &["d//a.gov", "d"][..],
    ] {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "2.govb"]);
        let (out, err, code) = run_in(&dir, &all, "");
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.starts_with(&digest), "{args:?}: {out} is not {digest}");
    }
}

#[test]
fn build_never_writes_over_a_policy() {
    let dir = scratch("output_is_input");
    let policy = "policy p {\n  rule a: deny when tool == \"x\"\n}\n";
    std::fs::write(dir.join("p.gov"), policy).unwrap();
    std::fs::write(dir.join("p.txt"), policy).unwrap();
    for (input, output) in [("p.gov", "p.gov"), ("p.txt", "./p.txt"), (".", "q.gov")] {
        let (_, err, code) = run_in(&dir, &["build", input, "-o", output], "");
        assert_refused(output, &err, code);
        assert!(
            err.contains(&format!("`{}`", output.trim_start_matches("./"))),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_to_string(dir.join("p.gov")).unwrap(), policy);
    assert_eq!(std::fs::read_to_string(dir.join("p.txt")).unwrap(), policy);
    assert!(!dir.join("q.gov").exists());
}

#[test]
fn a_truncated_line_does_not_swallow_the_next_event() {
    let dir = scratch("truncated_line");
    std::fs::write(
        dir.join("p.gov"),
        "default allow\npolicy p {\n  rule a: deny when tool == \"y\"\n}\n",
    )
    .unwrap();
    for input in [
        "{\"tool\":\"x\"\n{\"tool\":\"y\"}\n{\"tool\":\"z\"}\n",
        "{\"tool\":\"z\"}\n{\"tool\":\"x\"\n{\"tool\":\"y\"}\n",
        "{\n \"tool\": \"z\"\n}\n{\n \"tool\": \"x\"\n{\"tool\":\"y\"}\n",
    ] {
        let (out, err, code) = run_in(&dir, &["eval", "--policy", "p.gov"], input);
        assert_eq!(code, 2, "{input:?}: {err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{input:?}: one decision per event:\n{out}");
        assert_eq!(
            lines.iter().filter(|l| l.contains("\"error\"")).count(),
            1,
            "{out}"
        );
        // The event after the truncated one is decided on its own: `y` is denied by p.a.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"rules\":[\"p.a\"]") && !l.contains("\"error\"")),
            "{input:?}:\n{out}"
        );
        assert!(err.contains("end of input"), "{err}");
    }
}

/// Runs `govern args…` in `dir` with standard output on `/dev/full` (every write fails with
/// "no space left on device"): (stderr, exit status).
fn run_to_full_disk(dir: &Path, args: &[&str], stdin: &str) -> (String, i32) {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut child = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn decisions_that_cannot_be_written_are_an_error() {
    let dir = scratch("full_disk");
    std::fs::write(
        dir.join("p.gov"),
        "default allow\npolicy p {\n  rule a: deny when tool == \"x\"\n}\n",
    )
    .unwrap();
    let events = "{\"tool\":\"y\"}\n".repeat(10_000);
    for extra in [&[][..], &["--exit-code"][..], &["--explain"][..]] {
        let mut args = vec!["eval", "--policy", "p.gov"];
        args.extend_from_slice(extra);
        let (err, code) = run_to_full_disk(&dir, &args, &events);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains("cannot write"), "{extra:?}: {err}");
    }
    // Every command, whatever it decided (each of these would otherwise exit 0).
    std::fs::write(dir.join("p.test.yaml"), "policy: p.gov\ntests:\n  - name: y\n    request: {tool: y}\n    expect: {decision: allow}\n").unwrap();
    for args in [
        &["build", "p.gov", "-o", "p.govb", "--listing"][..],
        &["lint", "p.gov"][..],
        &["test", "p.test.yaml", "--format", "junit"][..],
        &["simulate", "--policy", "p.gov", "--format", "jsonl", "-"][..],
        &["explain", "G0101"][..],
    ] {
        let (err, code) = run_to_full_disk(&dir, args, &events);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("cannot write to standard output"),
            "{args:?}: {err}"
        );
    }
}

/// A policy nested as deep as the language allows, through every stage, in a test thread (a
/// small stack) of whatever build runs the tests.
#[test]
fn the_deepest_policy_allowed_goes_through_every_stage() {
    let max = govern::syntax::parser::MAX_NESTING;
    let mut cond = "tool == \"x\"".to_string();
    for i in 0..max {
        cond = match i % 4 {
            0 => format!("({cond})"),
            1 => format!("not {cond}"),
            2 => format!("seen({cond})"),
            _ => format!("({cond} or agent.trust > {i})"),
        };
    }
    let text = format!(
        "policy p {{\n  rule a: deny when {cond}\n  rule b: allow when {}tool{} == \"y\"\n}}\n",
        "lower(".repeat(max),
        ")".repeat(max)
    );
    let file = govern::diag::SourceFile::new("deep.gov", text);
    govern::fmt::format(&file).unwrap();
    let bundle = govern::check::check_sources(vec![file]).unwrap();
    let _ = govern::lint::run(&bundle, &govern::lint::Levels::default()).unwrap();
    let model = govern::compile::compile(&bundle).unwrap();
    let program = govern::vm::Program::load(&govern::bytecode::encode(&model)).unwrap();
    let mut reference = govern::reference::Reference::new(&bundle, program.digest.clone());
    let mut state = program.new_state();
    let mut event = govern::vm::Event::default();
    let mut outcome = govern::vm::Outcome::default();
    for text in [
        "{\"tool\":\"x\"}",
        "{\"tool\":\"Y\",\"agent\":{\"trust\":5}}",
    ] {
        program.read_event(text, &mut event).unwrap();
        program.eval(&event, &mut state, &mut outcome);
        let vm = program.decision(&outcome);
        let oracle = reference.eval(&serde_json::from_str(text).unwrap());
        assert_eq!(vm.to_json_line(), oracle.to_json_line());
    }
}

/// `(args.a0 == 1 or args.b0 == 1) and …` over `n` pairs: a diagram exponential in `n` under
/// the compiler's variable order.
fn exponential_policy(n: usize) -> String {
    let params: Vec<String> = (0..n)
        .map(|i| format!("a{i}: number, b{i}: number"))
        .collect();
    let pairs: Vec<String> = (0..n)
        .map(|i| format!("(args.a{i} == 1 or args.b{i} == 1)"))
        .collect();
    format!(
        "tool t({})\n\npolicy p {{\n  rule r: deny when tool == \"t\"\n    and {}\n    because \"x\"\n}}\n",
        params.join(", "),
        pairs.join("\n    and ")
    )
}

#[test]
fn a_condition_with_an_exponential_diagram_is_refused_not_a_hang() {
    // Uncapped, 16 pairs took 16 s and 1.9 GB to build and 20 did not finish in a minute.
    let dir = scratch("exponential");
    std::fs::write(dir.join("p.gov"), exponential_policy(24)).unwrap();
    let lint = {
        let dir = dir.clone();
        std::thread::spawn(move || run_in(&dir, &["lint", "p.gov"], ""))
    };
    let (_, err, code) = run_in(&dir, &["build", "p.gov", "-o", "p.govb"], "");
    assert_refused("build", &err, code);
    assert!(!dir.join("p.govb").exists());
    let (_, lint_err, lint_code) = lint.join().unwrap();
    assert_refused("lint", &lint_err, lint_code);
    for err in [err, lint_err] {
        assert!(err.contains("govern::too_large"), "{err}");
        assert!(err.contains("p.gov:4:"), "{err}");
        assert!(
            err.contains("the condition of `p.r` grows exponentially"),
            "{err}"
        );
    }
    // Below the limit the same shape still builds.
    std::fs::write(dir.join("q.gov"), exponential_policy(8)).unwrap();
    let (_, err, code) = run_in(&dir, &["build", "q.gov", "-o", "q.govb"], "");
    assert_eq!(code, 0, "{err}");
}

/// A flood of distinct keys: each `count` / `sum` / `seen` holds at most `max_keys` of them
/// (`seen` without a window too), the rest are refused and decided unknown (a deny rule
/// matches), and memory stays put.
#[test]
fn stream_state_stays_within_its_key_bound() {
    let text = "default allow\npolicy p {\n  rule rate: deny when count(true, within 1h, per agent.id) >= 5 because \"rate\"\n  rule taint: deny when seen(has labels and labels contains \"secret\", per session) because \"taint\"\n}\n";
    let bundle = govern::check::check_sources(vec![govern::diag::SourceFile::new(
        "p.gov",
        text.to_string(),
    )])
    .unwrap();
    let program = govern::vm::Program::load(&govern::bytecode::encode(
        &govern::compile::compile(&bundle).unwrap(),
    ))
    .unwrap();
    let limits = govern::vm::StreamLimits {
        max_keys: 1000,
        ..govern::vm::StreamLimits::default()
    };
    let mut state = program.new_state_with(limits);
    let mut event = govern::vm::Event::default();
    let mut out = govern::vm::Outcome::default();
    let mut denied = 0;
    for i in 0..20_000 {
        let line = format!(
            "{{\"ts\":\"{}\",\"session\":\"s{i}\",\"agent\":{{\"id\":\"a{i}\"}},\"labels\":[\"secret\"]}}",
            govern::time::format_rfc3339(1_795_428_000_000_000_000 + i * 1_000_000)
        );
        program.read_event(&line, &mut event).unwrap();
        program.eval(&event, &mut state, &mut out);
        denied += usize::from(out.verdict == Some(govern::check::Verdict::Deny));
    }
    assert!(state.keys() <= 2 * 1000, "{} keys held", state.keys());
    // Every event after the first refusals finds its keys unknown.
    assert_eq!(state.refused, 2 * (20_000 - 1000));
    assert!(denied >= 20_000 - 1001, "{denied} denied");
}
