//! Every input kind has one documented limit (`govern::limits`, `docs/limits.md`), enforced
//! the same way by every command that reads it: each limit here, through the commands, with
//! inputs just past it. Files past a size limit are sparse (nothing is written), so these
//! tests cost little; only the line limits need real bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use govern::limits::{self, Limit};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    /// Standard error without line breaks and frames, for searching.
    fn err(&self) -> String {
        self.stderr
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn run_in(dir: &Path, args: &[&str]) -> Run {
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
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("limits")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file one byte past `limit`, without writing its bytes.
fn sparse(path: &Path, limit: Limit) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(limit.max + 1).unwrap();
}

/// The message every file past its size limit gets.
fn too_large(limit: Limit) -> String {
    format!(
        "the file is larger than {}, the limit for {} ({} bytes)",
        limit.shown(),
        limit.what,
        limit.max + 1
    )
}

fn copy_signing_fixture(dir: &Path) {
    let data = Path::new(ROOT).join("testdata/signing");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    for f in ["TEST-ONLY-rfc8410.pub", "TEST-ONLY-rfc8410.key"] {
        std::fs::copy(data.join("keys").join(f), dir.join("keys").join(f)).unwrap();
    }
    std::fs::copy(data.join("trust.yaml"), dir.join("trust.yaml")).unwrap();
}

#[test]
fn the_documented_table_is_the_code() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/limits.md")).unwrap();
    let rows: Vec<Vec<String>> = doc
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| input"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), limits::ALL.len(), "{rows:?}");
    for (row, limit) in rows.iter().zip(limits::ALL) {
        assert_eq!(row[0], limit.what, "{row:?}");
        assert_eq!(row[1], limit.shown(), "{row:?}");
    }
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    assert!(readme.contains("docs/limits.md"));
}

#[test]
fn files_past_their_size_limit_are_refused_by_every_command_that_reads_them() {
    let dir = scratch("files");
    copy_signing_fixture(&dir);
    let brief = Path::new(ROOT).join("testdata/examples/brief.gov");
    let brief = brief.to_str().unwrap();
    assert_eq!(run_in(&dir, &["build", brief, "-o", "p.govb"]).code, 0);
    std::fs::write(dir.join("e.jsonl"), "{\"tool\":\"x\"}\n").unwrap();

    // A policy file: every command that compiles.
    std::fs::create_dir_all(dir.join("big")).unwrap();
    sparse(&dir.join("big/p.gov"), limits::POLICY_FILE);
    for args in [
        &["build", "big", "-o", "x.govb"][..],
        &["eval", "--policy", "big", "e.jsonl"],
        &["lint", "big"],
        &["fmt", "--check", "big"],
        &["simulate", "--policy", "big", "e.jsonl"],
    ] {
        let r = run_in(&dir, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.err().contains(&too_large(limits::POLICY_FILE)),
            "{args:?}: {}",
            r.stderr
        );
    }

    // A bundle.
    sparse(&dir.join("big.govb"), limits::BUNDLE);
    for args in [
        &["eval", "--bundle", "big.govb", "e.jsonl"][..],
        &["simulate", "--bundle", "big.govb", "e.jsonl"],
    ] {
        let r = run_in(&dir, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.err().contains(&too_large(limits::BUNDLE)),
            "{args:?}: {}",
            r.stderr
        );
    }

    // A signature envelope: the `envelope` check fails.
    sparse(&dir.join("p.govb.sig.json"), limits::ENVELOPE);
    let r = run_in(&dir, &["verify", "p.govb", "--trust", "trust.yaml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.err().contains(&too_large(limits::ENVELOPE)),
        "{}",
        r.stderr
    );
    let r = run_in(
        &dir,
        &[
            "eval",
            "--bundle",
            "p.govb",
            "--trust",
            "trust.yaml",
            "e.jsonl",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.err().contains(&too_large(limits::ENVELOPE)),
        "{}",
        r.stderr
    );
    std::fs::remove_file(dir.join("p.govb.sig.json")).unwrap();

    // A key file.
    sparse(&dir.join("big.key"), limits::KEY_FILE);
    for args in [
        &["sign", "p.govb", "--key", "big.key", "--version", "1"][..],
        &["keyid", "big.key"],
    ] {
        let r = run_in(&dir, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.err().contains(&too_large(limits::KEY_FILE)),
            "{args:?}: {}",
            r.stderr
        );
    }

    // A trust file, and a public key it names.
    sparse(&dir.join("big-trust.yaml"), limits::TRUST_FILE);
    let r = run_in(&dir, &["verify", "p.govb", "--trust", "big-trust.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.err().contains(&too_large(limits::TRUST_FILE)),
        "{}",
        r.stderr
    );
    let trust = std::fs::read_to_string(dir.join("trust.yaml"))
        .unwrap()
        .replace("keys/TEST-ONLY-rfc8410.pub", "big.key");
    std::fs::write(dir.join("key-trust.yaml"), trust).unwrap();
    let r = run_in(&dir, &["verify", "p.govb", "--trust", "key-trust.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.err().contains(&too_large(limits::KEY_FILE)),
        "{}",
        r.stderr
    );

    // A state file.
    let signed = run_in(
        &dir,
        &[
            "sign",
            "p.govb",
            "--key",
            "keys/TEST-ONLY-rfc8410.key",
            "--version",
            "1",
        ],
    );
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    sparse(&dir.join("seen.json"), limits::STATE_FILE);
    for args in [
        &[
            "verify",
            "p.govb",
            "--trust",
            "trust.yaml",
            "--state",
            "seen.json",
        ][..],
        &[
            "eval",
            "--bundle",
            "p.govb",
            "--trust",
            "trust.yaml",
            "--state",
            "seen.json",
            "e.jsonl",
        ],
    ] {
        let r = run_in(&dir, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.err().contains(&too_large(limits::STATE_FILE)),
            "{args:?}: {}",
            r.stderr
        );
    }

    // A suite.
    sparse(&dir.join("big.test.yaml"), limits::SUITE);
    let r = run_in(&dir, &["test", "big.test.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.err().contains(&too_large(limits::SUITE)), "{}", r.stderr);

    // A data file, and an MCP tool list.
    std::fs::create_dir_all(dir.join("data")).unwrap();
    sparse(&dir.join("data/hosts.txt"), limits::DATA_FILE);
    std::fs::write(
        dir.join("data/p.gov"),
        "set hosts = file(\"hosts.txt\")\npolicy p { rule r: deny when args.host in hosts }\n",
    )
    .unwrap();
    let r = run_in(&dir, &["build", "data/p.gov", "-o", "d.govb"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.err().contains("is larger than 64 MiB"), "{}", r.stderr);
    sparse(&dir.join("tools.json"), limits::TOOL_LIST);
    let r = run_in(&dir, &["mcp-import", "tools.json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.err().contains("larger than 64 MiB"), "{}", r.stderr);

    // govern.toml.
    std::fs::create_dir_all(dir.join("linted")).unwrap();
    std::fs::copy(brief, dir.join("linted/p.gov")).unwrap();
    sparse(&dir.join("linted/govern.toml"), limits::CONFIG);
    let r = run_in(&dir, &["lint", "linted"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.err().contains(&too_large(limits::CONFIG)), "{}", r.stderr);

    // agent-plugin.yaml.
    std::fs::create_dir_all(dir.join("plugin")).unwrap();
    sparse(&dir.join("plugin/agent-plugin.yaml"), limits::PLUGIN_META);
    let r = run_in(
        &dir,
        &["sign", "plugin", "--key", "keys/TEST-ONLY-rfc8410.key"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.err().contains(&too_large(limits::PLUGIN_META)),
        "{}",
        r.stderr
    );
}

/// `n` bytes of an event whose `args.q` is long.
fn long_event(n: usize) -> Vec<u8> {
    let head = b"{\"tool\":\"web_search\",\"args\":{\"q\":\"";
    let tail = b"\"}}";
    let mut v = Vec::with_capacity(n);
    v.extend_from_slice(head);
    v.resize(n - tail.len(), b'x');
    v.extend_from_slice(tail);
    v
}

#[test]
fn an_event_line_past_the_limit_is_a_bad_event_and_the_others_are_decided() {
    let dir = scratch("event");
    let max = limits::EVENT.usize();
    let mut data = b"{\"tool\":\"a\"}\n".to_vec();
    data.extend_from_slice(&long_event(max)); // at the limit: decided
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(&long_event(max + 1)); // one byte past it: refused
    data.extend_from_slice(b"\n{\"tool\":\"b\"}\n");
    std::fs::write(dir.join("e.jsonl"), &data).unwrap();
    std::fs::write(
        dir.join("p.gov"),
        "policy p { rule r: allow when tool == \"a\" }\n",
    )
    .unwrap();
    let r = run_in(&dir, &["eval", "--policy", "p.gov", "e.jsonl"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.err().contains(&format!(
            // eval reads its events as simulate reads traces: the line limit of a trace.
            "e.jsonl:3: the line is longer than 32 MiB, the limit for a trace line ({} bytes)",
            max + 1
        )),
        "{}",
        r.stderr
    );
    let decisions: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(decisions.len(), 4, "{}", r.stdout);
    assert!(decisions[0].starts_with("{\"decision\":\"allow\""));
    assert!(decisions[2].contains("\"error\":\"line 3: the line is longer"));

    // An event over several lines that grows past the limit: dropped to where it closes.
    let mut data = b"{\n\"tool\": \"a\"\n}\n{\n\"args\": {\n".to_vec();
    let line = format!("\"k\": \"{}\",\n", "x".repeat(1 << 20));
    for _ in 0..33 {
        data.extend_from_slice(line.as_bytes());
    }
    data.extend_from_slice(b"\"end\": \"}\"\n}\n}\n{\n\"tool\": \"a\"\n}\n");
    std::fs::write(dir.join("pretty.json"), &data).unwrap();
    let r = run_in(&dir, &["eval", "--policy", "p.gov", "pretty.json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.err().contains(
            "pretty.json:4: the event starting here is larger than 32 MiB, the limit for an event"
        ),
        "{}",
        r.stderr
    );
    let verdicts: Vec<bool> = r
        .stdout
        .lines()
        .map(|l| l.starts_with("{\"decision\":\"allow\""))
        .collect();
    assert_eq!(verdicts, [true, false, true], "{}", r.stdout);
}

#[test]
fn trace_lines_of_40_and_60_mib_are_reported_as_too_long_also_under_max_errors() {
    let dir = scratch("trace");
    std::fs::write(
        dir.join("p.gov"),
        "policy p { rule r: allow when tool == \"a\" }\n",
    )
    .unwrap();
    for mib in [40usize, 60] {
        let name = format!("t{mib}.jsonl");
        let mut data = b"{\"tool\":\"a\"}\n".to_vec();
        data.extend_from_slice(&long_event(mib << 20));
        data.extend_from_slice(b"\n{\"tool\":\"a\"}\n");
        std::fs::write(dir.join(&name), &data).unwrap();
        let want = format!(
            "{name}:2: the line is longer than 32 MiB, the limit for a trace line ({} bytes)",
            mib << 20
        );
        // Before, the 40 MiB line was decided and the 60 MiB one was "unexpected end of input".
        let r = run_in(&dir, &["simulate", "--policy", "p.gov", &name]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.err().contains(&want), "{}", r.stderr);
        let r = run_in(
            &dir,
            &[
                "simulate",
                "--policy",
                "p.gov",
                "--max-errors",
                "5",
                "--format",
                "json",
                &name,
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.err().contains(&want), "{}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["events"], 2, "{}", r.stdout);
        assert_eq!(report["errors"], 1, "{}", r.stdout);
    }
}

#[test]
fn yaml_nested_past_the_limit_is_refused_before_it_is_parsed() {
    let dir = scratch("yaml");
    copy_signing_fixture(&dir);
    // 65,536 levels of flow nesting took 18 s to refuse.
    let n = 1 << 16;
    let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
    std::fs::write(
        dir.join("deep.test.yaml"),
        format!("bundle: p.gov\ntests: {deep}\n"),
    )
    .unwrap();
    let r = run_in(&dir, &["test", "deep.test.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.err()
            .contains("mappings and sequences are nested more than 64 deep"),
        "{}",
        r.stderr
    );
    std::fs::write(dir.join("deep-trust.yaml"), format!("keys: {deep}\n")).unwrap();
    std::fs::write(dir.join("x.txt"), "x").unwrap();
    let r = run_in(&dir, &["verify", "x.txt", "--trust", "deep-trust.yaml"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.err().contains("nested more than 64 deep"), "{}", r.stderr);
    std::fs::create_dir_all(dir.join("plugin")).unwrap();
    std::fs::write(
        dir.join("plugin/agent-plugin.yaml"),
        format!("name: p\nversion: 1.0.0\nextra: {deep}\n"),
    )
    .unwrap();
    let r = run_in(
        &dir,
        &["sign", "plugin", "--key", "keys/TEST-ONLY-rfc8410.key"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.err().contains("nested more than 64 deep"), "{}", r.stderr);
    // Within the limit, nesting is fine.
    let ok = format!("{}{}", "[".repeat(40), "]".repeat(40));
    std::fs::write(
        dir.join("ok-trust.yaml"),
        std::fs::read_to_string(dir.join("trust.yaml")).unwrap() + &format!("x: {ok}\n"),
    )
    .unwrap();
    let r = run_in(&dir, &["verify", "x.txt", "--trust", "ok-trust.yaml"]);
    assert!(!r.err().contains("nested"), "{}", r.stderr);
}

#[test]
fn json_and_policy_nesting() {
    let dir = scratch("nesting");
    std::fs::write(
        dir.join("p.gov"),
        "policy p { rule r: allow when tool == \"a\" }\n",
    )
    .unwrap();
    let n = limits::JSON_NESTING.usize();
    let mut f = std::fs::File::create(dir.join("e.jsonl")).unwrap();
    // At the limit, and one past it.
    for depth in [n - 1, n] {
        writeln!(
            f,
            "{{\"tool\":\"a\",\"x\":{}{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        )
        .unwrap();
    }
    drop(f);
    let r = run_in(&dir, &["eval", "--policy", "p.gov", "e.jsonl"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("{\"decision\":\"allow\""),
        "{}",
        r.stdout
    );
    assert!(lines[1].contains("\"error\""), "{}", r.stdout);
    assert!(r.err().contains("e.jsonl:2:"), "{}", r.stderr);

    let n = limits::POLICY_NESTING.usize();
    for (depth, ok) in [(n, true), (n + 1, false)] {
        std::fs::write(
            dir.join("n.gov"),
            format!(
                "policy p {{ rule r: deny when {}tool == \"x\"{} }}\n",
                "(".repeat(depth),
                ")".repeat(depth)
            ),
        )
        .unwrap();
        let r = run_in(&dir, &["build", "n.gov", "-o", "n.govb"]);
        assert_eq!(r.code == 0, ok, "{depth}: {}", r.stderr);
    }
}
