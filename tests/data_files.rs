//! Sets read from data files and declared attributes, through the `govern` binary: what
//! `build` reports, what the digest covers, and every way a data file can be bad (exit 2, an
//! error naming the file and the line).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_govern");

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("data-files-{name}"));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(d.join("p/data")).unwrap();
    d
}

fn run(dir: &Path, args: &[&str], stdin: &str) -> (String, String, i32) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

const POLICY: &str = r#"attribute context.tenant: string
set blocked = file("data/hosts.txt")
set tenants = file("data/tenants.json")

policy p {
  rule blocked: deny when url_host(args.url) in blocked because "blocked host"
  rule tenants: allow when context.tenant in tenants
  rule rate: deny when count(true, within 1m, per context.tenant) >= 2 because "rate"
}
"#;

fn fixture(name: &str) -> PathBuf {
    let d = scratch(name);
    fs::write(d.join("p/a.gov"), POLICY).unwrap();
    fs::write(
        d.join("p/data/hosts.txt"),
        "# blocked hosts\nevil.example\n  bad.example  \r\n\nevil.example\n",
    )
    .unwrap();
    fs::write(d.join("p/data/tenants.json"), "[\"acme\", \"globex\"]\n").unwrap();
    d
}

fn digest_of(stdout: &str) -> String {
    stdout
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn build_reads_the_data_files_and_reports_them() {
    let d = fixture("report");
    let (out, err, code) = run(&d, &["build", "p", "-o", "p.govb"], "");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("read p/data/hosts.txt  sha256:"),
        "{out}"
    );
    assert!(
        lines[0].ends_with("(2 items, 60 bytes; set `blocked`)"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("read p/data/tenants.json  sha256:"),
        "{out}"
    );
    assert!(
        lines[1].ends_with("(2 items, 19 bytes; set `tenants`)"),
        "{out}"
    );
    // Decisions use the data; the declared attribute keys the rate limit.
    let events = r#"{"args":{"url":"https://evil.example/x"},"context":{"tenant":"acme"}}
{"args":{"url":"https://ok.example/"},"context":{"tenant":"globex"}}
{"args":{"url":"https://ok.example/"},"context":{"tenant":"initech"}}
{"args":{"url":"https://ok.example/"},"context":{"tenant":"acme"}}
{"args":{"url":"https://ok.example/"},"context":{"tenant":"acme"}}
"#;
    let (out, err, code) = run(&d, &["eval", "--bundle", "p.govb"], events);
    assert_eq!(code, 0, "{err}");
    let verdicts: Vec<String> = out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{} {}", v["decision"], v["rules"])
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            "\"deny\" [\"p.blocked\"]",
            "\"allow\" [\"p.tenants\"]",
            "\"deny\" []",
            "\"allow\" [\"p.tenants\"]",
            "\"deny\" [\"p.rate\"]"
        ]
    );
}

#[test]
fn the_digest_covers_the_data_and_not_the_spelling_of_paths() {
    let d = fixture("digest");
    let (a, err, code) = run(&d, &["build", "p", "-o", "a.govb"], "");
    assert_eq!(code, 0, "{err}");
    let (b, err, code) = run(&d, &["build", "./p/", "-o", "b.govb"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(digest_of(&a), digest_of(&b));
    assert_eq!(
        fs::read(d.join("a.govb")).unwrap(),
        fs::read(d.join("b.govb")).unwrap()
    );
    // Only a comment changes in a data file: the same set, but another source.
    fs::write(
        d.join("p/data/hosts.txt"),
        "# blocked hosts (reviewed)\nevil.example\nbad.example\n",
    )
    .unwrap();
    let (c, err, code) = run(&d, &["build", "p", "-o", "c.govb"], "");
    assert_eq!(code, 0, "{err}");
    assert_ne!(digest_of(&a), digest_of(&c));
}

#[test]
fn a_signature_over_the_bundle_does_not_cover_other_data() {
    let d = fixture("signed");
    let (_, err, code) = run(&d, &["build", "p", "-o", "p.govb"], "");
    assert_eq!(code, 0, "{err}");
    let (_, err, code) = run(&d, &["keygen", "-o", "k"], "");
    assert_eq!(code, 0, "{err}");
    let (id, err, code) = run(&d, &["keyid", "k.pub"], "");
    assert_eq!(code, 0, "{err}");
    let id = id.split_whitespace().next().unwrap().to_string();
    fs::write(
        d.join("trust.yaml"),
        format!("version: 1\nkeys:\n  {id}:\n    name: k\n    path: k.pub\n"),
    )
    .unwrap();
    let (_, err, code) = run(
        &d,
        &["sign", "p.govb", "--key", "k.key", "--version", "1.0.0"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let (_, err, code) = run(&d, &["verify", "p.govb", "--trust", "trust.yaml"], "");
    assert_eq!(code, 0, "{err}");
    // Unblocking a host changes the bundle, and the old signature no longer verifies.
    fs::write(d.join("p/data/hosts.txt"), "evil.example\n").unwrap();
    let (_, err, code) = run(&d, &["build", "p", "-o", "p.govb"], "");
    assert_eq!(code, 0, "{err}");
    let (_, err, code) = run(&d, &["verify", "p.govb", "--trust", "trust.yaml"], "");
    assert_eq!(code, 1, "{err}");
}

/// Builds `p` with one data file replaced, and returns stderr; the build must fail with 2.
fn refused(name: &str, file: &str, bytes: &[u8]) -> String {
    let d = fixture(name);
    fs::write(d.join("p/data").join(file), bytes).unwrap();
    let (out, err, code) = run(&d, &["build", "p", "-o", "p.govb"], "");
    assert_eq!(code, 2, "{out}{err}");
    assert!(!d.join("p.govb").exists());
    err
}

#[test]
fn bad_data_files_are_refused_naming_the_file_and_line() {
    let err = refused("mixed", "tenants.json", b"[\n  \"acme\",\n  7\n]\n");
    assert!(err.contains("govern::data"), "{err}");
    assert!(
        err.contains(
            "the file mixes strings and numbers (data file `p/data/tenants.json`, line 3)"
        ),
        "{err}"
    );
    assert!(err.contains("p/data/tenants.json:3:3"), "{err}");

    let err = refused("utf8", "hosts.txt", b"a.example\nb\xff.example\n");
    assert!(
        err.contains("data file `p/data/hosts.txt` is not valid UTF-8 at line 2, column 2"),
        "{err}"
    );
    assert!(err.contains("p/a.gov:2:20"), "{err}");

    let err = refused("json", "tenants.json", b"[\"acme\",\n null]");
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("strings, numbers or booleans"), "{err}");

    // Missing.
    let d = fixture("missing");
    fs::remove_file(d.join("p/data/hosts.txt")).unwrap();
    let (_, err, code) = run(&d, &["build", "p", "-o", "p.govb"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("data file `p/data/hosts.txt` cannot be read"),
        "{err}"
    );
    assert!(err.contains("p/a.gov:2:20"), "{err}");

    // Too large: one byte past the limit is refused without being read whole.
    let big = vec![b'a'; (64 << 20) + 1];
    let err = refused("large", "hosts.txt", &big);
    assert!(err.contains("is larger than 64 MiB"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_data_file_may_not_lead_outside_the_policy_directory() {
    let d = fixture("outside");
    fs::write(d.join("secret.txt"), "s3cret\n").unwrap();
    fs::remove_file(d.join("p/data/hosts.txt")).unwrap();
    std::os::unix::fs::symlink(d.join("secret.txt"), d.join("p/data/hosts.txt")).unwrap();
    let (_, err, code) = run(&d, &["build", "p", "-o", "p.govb"], "");
    assert_eq!(code, 2);
    assert!(err.contains("leads outside the directory"), "{err}");
    fs::write(
        d.join("p/a.gov"),
        POLICY.replace("data/hosts.txt", "../secret.txt"),
    )
    .unwrap();
    let (_, err, code) = run(&d, &["build", "p", "-o", "p.govb"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("leaves the directory of the policy file"),
        "{err}"
    );
}

#[test]
fn lint_and_test_read_data_files_too() {
    let d = fixture("lint");
    let (out, err, code) = run(&d, &["lint", "p", "--format", "json"], "");
    assert!(code == 0 || code == 1, "{out}{err}");
    assert!(!err.contains("govern::data"), "{err}");
    fs::write(
        d.join("p/a.test.yaml"),
        "bundle: .\ntests:\n  - name: blocked\n    request: {args: {url: \"https://evil.example/\"}}\n    expect: deny\n",
    )
    .unwrap();
    let (out, err, code) = run(&d, &["test", "p"], "");
    assert_eq!(code, 0, "{out}{err}");
}
