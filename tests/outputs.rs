//! Every command that writes an output file creates the folders above it that do not exist
//! yet (`-o out/new/file` works like `-o file`), and still writes atomically
//! (`src/fsutil.rs`): no temporary file is left beside the output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// An empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("outputs")
        .join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `govern args…` in `dir` and asserts that it succeeds.
fn govern_ok(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "govern {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn root(path: &str) -> String {
    Path::new(ROOT).join(path).to_str().unwrap().to_string()
}

/// The only entries of `dir` are `names`: no temporary file was left behind.
fn only(dir: &Path, names: &[&str]) {
    let mut found: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want, "in {}", dir.display());
}

#[test]
fn keygen_creates_the_key_folder() {
    let dir = scratch("keygen");
    govern_ok(&dir, &["keygen", "-o", "keys/team/publisher"]);
    only(&dir.join("keys/team"), &["publisher.key", "publisher.pub"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join("keys/team/publisher.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn build_creates_the_bundle_folder() {
    let dir = scratch("build");
    let policy = root("testdata/readme/finance.gov");
    govern_ok(&dir, &["build", &policy, "-o", "out/bundles/finance.govb"]);
    only(&dir.join("out/bundles"), &["finance.govb"]);
    let bytes = fs::read(dir.join("out/bundles/finance.govb")).unwrap();
    assert!(bytes.starts_with(b"GOVB"));
}

#[test]
fn sign_out_creates_the_envelope_folder() {
    let dir = scratch("sign");
    govern_ok(&dir, &["keygen", "-o", "publisher"]);
    let policy = root("testdata/readme/finance.gov");
    govern_ok(&dir, &["build", &policy, "-o", "finance.govb"]);
    govern_ok(
        &dir,
        &[
            "sign",
            "finance.govb",
            "--key",
            "publisher.key",
            "--version",
            "1.0.0",
            "--out",
            "signatures/2026/finance.govb.sig.json",
        ],
    );
    only(&dir.join("signatures/2026"), &["finance.govb.sig.json"]);
}

#[test]
fn test_record_creates_the_suite_folder() {
    let dir = scratch("record");
    govern_ok(
        &dir,
        &[
            "test",
            "--record",
            &root("testdata/events.jsonl"),
            "--policy",
            &root("testdata/readme/finance.gov"),
            "-o",
            "regress/today/golden.test.yaml",
        ],
    );
    only(&dir.join("regress/today"), &["golden.test.yaml"]);
    // The recorded suite runs where it was written.
    govern_ok(&dir, &["test", "regress/"]);
}

#[test]
fn mcp_import_creates_the_policy_folder() {
    let dir = scratch("mcp_import");
    govern_ok(
        &dir,
        &[
            "mcp-import",
            "--skeleton",
            &root("testdata/mcp/demo-bank-tools.json"),
            "-o",
            "policies/imported/tools.gov",
        ],
    );
    only(&dir.join("policies/imported"), &["tools.gov"]);
    govern_ok(&dir, &["lint", "policies/imported/tools.gov"]);
}

#[test]
fn simulate_dump_events_creates_the_dump_folder() {
    let dir = scratch("dump_events");
    govern_ok(
        &dir,
        &[
            "simulate",
            "--policy",
            &root("testdata/readme/finance.gov"),
            "--dump-events",
            "dumps/today/events.jsonl",
            &root("testdata/events.jsonl"),
        ],
    );
    only(&dir.join("dumps/today"), &["events.jsonl"]);
    let dumped = fs::read_to_string(dir.join("dumps/today/events.jsonl")).unwrap();
    let read = fs::read_to_string(root("testdata/events.jsonl")).unwrap();
    assert_eq!(
        dumped.lines().count(),
        read.lines().filter(|l| !l.trim().is_empty()).count()
    );
}
