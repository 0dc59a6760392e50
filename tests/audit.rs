//! Audit logs: what the writer writes, and every way `replay-audit` must catch a log that
//! was changed, cut, reordered or rewritten, or whose decisions do not replay.
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

use govern::audit::verify::{self, Bundles, Keys, Report};
use govern::audit::{AuditLog, DecidedEvent, Options, SyncMode};
use govern::sign::PrivateKey;
use govern::sign::jcs;
use govern::vm::{Event, Outcome, Program, State, StreamLimits};
use sha2::{Digest, Sha256};

const POLICY: &str = r#"
tool web_search(query: string)
tool transfer(amount: number)

default deny

policy p {
  rule search: allow when tool == "web_search"
  rule burst: deny when tool == "web_search" and count(tool == "web_search", within 1m, per agent.id) >= 3
    because "three searches a minute"
  rule pay: allow when tool == "transfer" and args.amount <= 100
  rule night: deny when time.hour >= 22 because "not at night"
}
"#;

/// A policy that differs only in its limit (a second bundle).
fn policy2() -> String {
    POLICY.replace(">= 3", ">= 2")
}

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("audit")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn program(src: &str) -> (Program, Vec<u8>) {
    let b =
        govern::pipeline::build_sources(vec![govern::diag::SourceFile::new("p.gov", src)]).unwrap();
    (b.program, b.bytes)
}

/// Keeps a bundle in `store` as `<hex>.govb`.
fn store(store: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(store).unwrap();
    let digest = govern::bytecode::digest(bytes);
    std::fs::write(
        store.join(format!("{}.govb", &digest["sha256:".len()..])),
        bytes,
    )
    .unwrap();
}

fn event(i: usize) -> String {
    let tool = if i % 3 == 2 { "transfer" } else { "web_search" };
    let agent = if i.is_multiple_of(2) { "a" } else { "b" };
    format!(
        r#"{{"ts":"2026-11-23T{:02}:00:{:02}Z","agent":{{"id":"{agent}"}},"tool":"{tool}","args":{{"query":"q{i}","amount":{}}}}}"#,
        20 + i / 4,
        i % 60,
        (i * 37) % 200
    )
}

/// A point deciding `events` and writing them to its log, the way every decision point does.
struct Point {
    program: Program,
    state: State,
    ev: Event,
    out: Outcome,
    log: AuditLog,
}

impl Point {
    fn open(path: &Path, program: Program, key: Option<PrivateKey>, every: Option<u64>) -> Point {
        let (log, _) = AuditLog::open(
            path,
            &program.digest,
            Options {
                sync: SyncMode::None,
                key,
                checkpoint_every: every,
                rotate: None,
                ..Options::default()
            },
        )
        .unwrap();
        Point {
            state: program.new_state_with(log.limits()),
            program,
            ev: Event::default(),
            out: Outcome::default(),
            log,
        }
    }

    fn decide(&mut self, text: &str) {
        let e = DecidedEvent::parse(text).unwrap();
        self.program.read_event(e.as_str(), &mut self.ev).unwrap();
        self.program.eval(&self.ev, &mut self.state, &mut self.out);
        self.log
            .append_outcome(&e, &self.program, &self.out)
            .unwrap();
    }
}

fn key() -> PrivateKey {
    PrivateKey::generate().unwrap()
}

/// A small log with checkpoints every 3 records, its bundle store and key.
fn small_log(name: &str, n: usize) -> (PathBuf, PathBuf, PrivateKey) {
    let d = dir(name);
    let (p, bytes) = program(POLICY);
    store(&d.join("store"), &bytes);
    let k = key();
    let k2 = PrivateKey::from_pem(&k.to_pem().unwrap()).unwrap();
    let log = d.join("audit.jsonl");
    let mut point = Point::open(&log, p, Some(k2), Some(3));
    for i in 0..n {
        point.decide(&event(i));
    }
    point.log.close().unwrap();
    (log, d.join("store"), k)
}

fn check(files: &[PathBuf], store: &Path, key: &PrivateKey) -> Report {
    check_with(files, store, key, None, None)
}

fn check_with(
    files: &[PathBuf],
    store: &Path,
    key: &PrivateKey,
    head: Option<String>,
    count: Option<u64>,
) -> Report {
    verify::verify(
        files,
        &verify::Options {
            keys: Keys {
                keys: vec![key.public()],
                trust: None,
            },
            bundles: Bundles::Dir(store.to_path_buf()),
            expect_head: head,
            expect_count: count,
            against: None,
        },
    )
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    std::fs::write(path, s).unwrap();
}

fn first_line(r: &Report) -> u64 {
    r.findings.first().map_or(0, |f| f.line)
}

#[test]
fn a_log_written_by_a_point_verifies_and_replays() {
    let (log, store, key) = small_log("intact", 12);
    let r = check(std::slice::from_ref(&log), &store, &key);
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    assert_eq!(r.decisions, 12);
    assert_eq!(r.replayed, 12);
    assert!(r.checkpoints_verified >= 4);
    assert_eq!(
        r.last_checkpoint, r.head_seq,
        "the log ends in a checkpoint"
    );
    assert!(r.not_proved.is_empty(), "{:?}", r.not_proved);
    // The stateful rule fired: replay carried the state.
    assert!(
        r.verdicts.deny > 0 && r.verdicts.allow > 0,
        "{:?}",
        r.verdicts
    );
}

/// Every byte of a small log with checkpoints, flipped: each flip is detected, and the first
/// problem reported is on the line that holds the byte.
#[test]
fn every_flipped_byte_is_detected_at_its_record() {
    let (log, store, key) = small_log("flips", 5);
    let original = std::fs::read(&log).unwrap();
    let tampered = log.with_file_name("tampered.jsonl");
    let mut line_of = Vec::with_capacity(original.len());
    let mut line = 1u64;
    for &b in &original {
        line_of.push(line);
        if b == b'\n' {
            line += 1;
        }
    }
    let mut checked = 0;
    for mask in [0x01u8] {
        for i in 0..original.len() {
            let mut bytes = original.clone();
            bytes[i] ^= mask;
            std::fs::write(&tampered, &bytes).unwrap();
            let r = check(std::slice::from_ref(&tampered), &store, &key);
            assert_ne!(
                r.exit_code(),
                0,
                "byte {i} ^ {mask:#x} ({:?}) went unnoticed",
                original[i] as char
            );
            assert_eq!(
                first_line(&r),
                line_of[i],
                "byte {i} ^ {mask:#x} ({:?}) on line {}: {:#?}",
                original[i] as char,
                line_of[i],
                r.findings
            );
            checked += 1;
        }
    }
    assert!(checked > 1500);
}

/// A log of many batches (the reading threads share them out and the checks put them
/// back in order): intact, every record is counted and replayed; damaged in several places,
/// the failures come in the order of the lines, each at its own line.
#[test]
fn a_log_of_many_batches_is_checked_in_order() {
    let d = dir("many-batches");
    let (p, bytes) = program(POLICY);
    store(&d.join("store"), &bytes);
    let k = key();
    let log = d.join("audit.jsonl");
    let k2 = PrivateKey::from_pem(&k.to_pem().unwrap()).unwrap();
    let mut point = Point::open(&log, p, Some(k2), Some(500));
    let pad = "x".repeat(400);
    for i in 0..6_000 {
        let e = event(i).replacen("\"args\":{", &format!("\"args\":{{\"pad\":\"{pad}\","), 1);
        point.decide(&e);
    }
    point.log.close().unwrap();
    let orig = lines(&log);
    let size: usize = orig.iter().map(|l| l.len() + 1).sum();
    assert!(size > 12 * 256 * 1024, "{size} bytes");
    let r = check(std::slice::from_ref(&log), &d.join("store"), &k);
    assert!(r.findings.is_empty(), "{:?}", r.findings.first());
    assert_eq!(r.records, orig.len() as u64);
    assert!(r.checkpoints_verified >= 12);
    assert_eq!(r.replayed, 6_000);
    assert_eq!(r.files[0].last_seq, Some(orig.len() as u64 - 1));
    // Damaged far apart: a record dropped late, bytes changed early and in between.
    let mut ls = orig.clone();
    ls.remove(5_500);
    for at in [4_000, 700] {
        ls[at] = ls[at].replacen(":\"q", ":\"Q", 1);
    }
    let edited = log.with_file_name("edited.jsonl");
    write_lines(&edited, &ls);
    let r = check(std::slice::from_ref(&edited), &d.join("store"), &k);
    assert_eq!(r.exit_code(), 1);
    let hash_lines: Vec<u64> = r
        .findings
        .iter()
        .filter(|f| f.check == "hash")
        .map(|f| f.line)
        .collect();
    assert_eq!(hash_lines, [701, 4_001]);
    let link_lines: Vec<u64> = r
        .findings
        .iter()
        .filter(|f| f.check == "seq")
        .map(|f| f.line)
        .collect();
    assert_eq!(link_lines, [5_501]);
    assert!(r.findings.windows(2).all(|w| w[0].line <= w[1].line));
}

#[test]
fn deleted_duplicated_swapped_and_inserted_records_are_caught() {
    let (log, store, key) = small_log("edits", 9);
    let orig = lines(&log);
    let edited = log.with_file_name("edited.jsonl");
    let run = |ls: &[String]| {
        write_lines(&edited, ls);
        check(std::slice::from_ref(&edited), &store, &key)
    };
    for i in 1..orig.len() {
        // Deleted: the record after it no longer links.
        let mut ls = orig.clone();
        ls.remove(i);
        let r = run(&ls);
        if i + 1 < orig.len() {
            assert_eq!(r.exit_code(), 1, "deleting line {}", i + 1);
            assert_eq!(first_line(&r), i as u64 + 1, "deleting line {}", i + 1);
        } else {
            // The last record (the final checkpoint): only a head kept elsewhere shows it.
            assert!(!r.not_proved.is_empty());
            let head = check(std::slice::from_ref(&log), &store, &key)
                .head
                .unwrap();
            let r = check_with(
                std::slice::from_ref(&edited),
                &store,
                &key,
                Some(head),
                Some(orig.len() as u64),
            );
            assert_eq!(r.exit_code(), 1);
        }
        // Duplicated.
        let mut ls = orig.clone();
        ls.insert(i, orig[i].clone());
        let r = run(&ls);
        assert_eq!(r.exit_code(), 1, "duplicating line {}", i + 1);
        assert_eq!(first_line(&r), i as u64 + 2);
        // Swapped with the one after it.
        if i + 1 < orig.len() {
            let mut ls = orig.clone();
            ls.swap(i, i + 1);
            let r = run(&ls);
            assert_eq!(r.exit_code(), 1, "swapping lines {} and {}", i + 1, i + 2);
            assert_eq!(first_line(&r), i as u64 + 1);
        }
    }
    // A record inserted: even a well-formed, well-hashed one breaks the links around it.
    let mut forged: serde_json::Value = serde_json::from_str(&orig[2]).unwrap();
    forged["event"]["tool"] = "transfer".into();
    let forged = seal(forged);
    let mut ls = orig.clone();
    ls.insert(3, forged);
    let r = run(&ls);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(first_line(&r), 4);
}

/// The canonical line of a record with its hash recomputed.
fn seal(mut v: serde_json::Value) -> String {
    v.as_object_mut().unwrap().remove("hash");
    let canon = jcs::canonicalize(&v);
    let hash = format!("sha256:{}", hex(&Sha256::digest(canon.as_bytes())));
    v["hash"] = hash.into();
    jcs::canonicalize(&v)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Rewrites a log with `edit` applied to each record and the whole chain recomputed; with
/// `key`, checkpoints are signed again (an attacker who holds the key).
fn rewrite(
    orig: &[String],
    key: Option<&PrivateKey>,
    mut edit: impl FnMut(usize, &mut serde_json::Value),
) -> Vec<String> {
    let mut prev = govern::audit::GENESIS.to_string();
    let mut out = Vec::new();
    for (i, l) in orig.iter().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        edit(i, &mut v);
        v["prev"] = prev.clone().into();
        if v["kind"] == "checkpoint" {
            v["head"] = prev.clone().into();
            if let Some(k) = key {
                let o = v.as_object_mut().unwrap();
                o.remove("hash");
                o.remove("sig");
                o.insert("keyid".into(), k.id().into());
                let msg = jcs::canonicalize(&v);
                use base64ct::Encoding;
                v["sig"] = base64ct::Base64::encode_string(&k.sign(msg.as_bytes())).into();
            }
        }
        let line = seal(v);
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        prev = parsed["hash"].as_str().unwrap().to_string();
        out.push(line);
    }
    out
}

#[test]
fn a_log_rewritten_without_the_key_is_caught_by_checkpoints() {
    let (log, store, key) = small_log("rewritten", 9);
    let orig = lines(&log);
    let edited = log.with_file_name("rewritten.jsonl");
    // A decision changed and every hash and link recomputed, the checkpoints kept.
    let ls = rewrite(&orig, None, |i, v| {
        if i == 2 {
            let flipped = if v["decision"]["decision"] == "allow" {
                "deny"
            } else {
                "allow"
            };
            v["decision"]["decision"] = flipped.into();
        }
    });
    write_lines(&edited, &ls);
    let r = check(std::slice::from_ref(&edited), &store, &key);
    assert_eq!(r.exit_code(), 1);
    assert!(
        r.findings.iter().any(|f| f.check == "signature"),
        "{:#?}",
        r.findings
    );
    // The same with the checkpoints dropped: nothing in it is signed any more.
    let without: Vec<String> = orig
        .iter()
        .filter(|l| !l.contains("\"kind\":\"checkpoint\""))
        .cloned()
        .collect();
    let ls = rewrite(&without, None, |i, v| {
        v["seq"] = (i as u64).into();
    });
    write_lines(&edited, &ls);
    let r = check(std::slice::from_ref(&edited), &store, &key);
    assert_eq!(r.exit_code(), 1, "{:#?}", r.findings);
    // Signed by another key: not one the verifier was given.
    let other = PrivateKey::generate().unwrap();
    let ls = rewrite(&orig, Some(&other), |_, _| {});
    write_lines(&edited, &ls);
    let r = check(std::slice::from_ref(&edited), &store, &key);
    assert_eq!(r.exit_code(), 1);
    assert!(r.findings.iter().any(|f| f.check == "key"));
}

#[test]
fn a_decision_changed_with_the_chain_and_signatures_redone_is_caught_by_replay() {
    let (log, store, key) = small_log("replay", 9);
    let orig = lines(&log);
    let edited = log.with_file_name("forged.jsonl");
    let mut changed = 0;
    let ls = rewrite(&orig, Some(&key), |i, v| {
        if i == 4 && v["decision"]["decision"] == "deny" {
            v["decision"]["decision"] = "allow".into();
            changed = 4;
        } else if i == 4 {
            v["decision"]["decision"] = "deny".into();
            changed = 4;
        }
    });
    assert_eq!(changed, 4);
    write_lines(&edited, &ls);
    let r = check(std::slice::from_ref(&edited), &store, &key);
    assert_eq!(r.exit_code(), 1, "{:#?}", r.findings);
    let f = &r.findings[0];
    assert_eq!((f.check, f.line, f.seq), ("replay", 5, Some(4)));
    let d = f.divergence.as_ref().unwrap();
    assert_eq!(d.fields[0], "decision");
    assert_ne!(d.recorded["decision"], d.replayed["decision"]);
    // Only replay could tell: the chain and the signatures hold.
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
}

#[test]
fn truncation_after_a_checkpoint_is_shown_and_caught_with_a_head_kept_elsewhere() {
    let (log, store, key) = small_log("truncated", 8);
    let orig = lines(&log);
    let full = check(std::slice::from_ref(&log), &store, &key);
    let (head, count) = (full.head.clone().unwrap(), full.records);
    let cut = log.with_file_name("cut.jsonl");
    let first_checkpoint = orig
        .iter()
        .position(|l| l.contains("\"kind\":\"checkpoint\""))
        .unwrap();
    for keep in first_checkpoint + 1..orig.len() {
        write_lines(&cut, &orig[..keep]);
        let r = check(std::slice::from_ref(&cut), &store, &key);
        // Nothing in the file itself shows the cut; the report says what is not vouched for.
        assert_eq!(r.exit_code(), 0);
        let last_is_checkpoint = orig[keep - 1].contains("\"kind\":\"checkpoint\"");
        assert_eq!(
            r.not_proved.is_empty(),
            last_is_checkpoint,
            "{:?}",
            r.not_proved
        );
        // A head and count kept elsewhere catch it.
        let r = check_with(
            std::slice::from_ref(&cut),
            &store,
            &key,
            Some(head.clone()),
            Some(count),
        );
        assert_eq!(r.exit_code(), 1, "cut after {keep} records");
        let r = check_with(std::slice::from_ref(&cut), &store, &key, None, Some(count));
        assert_eq!(r.exit_code(), 1);
    }
    let r = check_with(
        std::slice::from_ref(&log),
        &store,
        &key,
        Some(head),
        Some(count),
    );
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn rotated_files_are_read_in_chain_order_whatever_order_they_are_given_in() {
    let d = dir("rotated");
    let (p, bytes) = program(POLICY);
    store(&d.join("store"), &bytes);
    let k = key();
    let log = d.join("audit.jsonl");
    let (mut l, _) = AuditLog::open(
        &log,
        &p.digest,
        Options {
            sync: SyncMode::Batch,
            key: Some(PrivateKey::from_pem(&k.to_pem().unwrap()).unwrap()),
            checkpoint_every: Some(5),
            rotate: Some(2000),
            ..Options::default()
        },
    )
    .unwrap();
    let mut st = p.new_state_with(l.limits());
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    for i in 0..30 {
        let e = DecidedEvent::parse(&event(i)).unwrap();
        p.read_event(e.as_str(), &mut ev).unwrap();
        p.eval(&ev, &mut st, &mut out);
        l.append_outcome(&e, &p, &out).unwrap();
    }
    l.close().unwrap();
    let mut files: Vec<PathBuf> = govern::audit::writer::segments(&log)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    // Each file ends with a checkpoint.
    for f in &files {
        assert!(
            lines(f).last().unwrap().contains("\"kind\":\"checkpoint\""),
            "{f:?}"
        );
    }
    files.reverse();
    files.swap(0, 2);
    let r = check(&files, &d.join("store"), &k);
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    assert_eq!(r.decisions, 30);
    assert_eq!(r.replayed, 30);
    // A file of the series missing: the gap is named.
    let missing: Vec<PathBuf> = files
        .iter()
        .filter(|f| !f.ends_with("audit.1.jsonl"))
        .cloned()
        .collect();
    let r = check(&missing, &d.join("store"), &k);
    assert_eq!(r.exit_code(), 1);
    assert!(
        r.findings[0].message.contains("missing"),
        "{:#?}",
        r.findings
    );
    assert!(r.findings[0].file.ends_with("audit.2.jsonl"));
    // Re-opening continues in the newest file.
    let (l, opened) = AuditLog::open(&log, &p.digest, Options::default()).unwrap();
    assert!(opened.continued);
    assert_eq!(
        opened.file,
        *govern::audit::writer::segments(&log)
            .unwrap()
            .last()
            .map(|(_, p)| p)
            .unwrap()
    );
    l.close().unwrap();
}

#[test]
fn a_torn_last_line_is_reported_and_the_chain_continues_after_it() {
    let (log, store, key) = small_log("torn", 4);
    let full = std::fs::read_to_string(&log).unwrap();
    // A crash in the middle of writing a record: half of one more line.
    let extra = lines(&log)[2].clone();
    let torn = &extra[..extra.len() / 2];
    std::fs::write(&log, format!("{full}{torn}")).unwrap();
    let r = check(std::slice::from_ref(&log), &store, &key);
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    assert_eq!(r.torn.len(), 1);
    assert_eq!(r.torn[0].continued_at, None);
    assert!(
        r.not_proved.iter().any(|n| n.contains("cut-short")),
        "{:?}",
        r.not_proved
    );
    // Re-opened: the torn line stays, named by the record that continues after it.
    let (p, _) = program(POLICY);
    let k2 = PrivateKey::from_pem(&key.to_pem().unwrap()).unwrap();
    let (l, opened) = AuditLog::open(
        &log,
        &p.digest,
        Options {
            key: Some(k2),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(opened.torn.len(), 1);
    assert_eq!(opened.torn[0].bytes, torn.len());
    let mut point = Point {
        state: p.new_state_with(l.limits()),
        program: p,
        ev: Event::default(),
        out: Outcome::default(),
        log: l,
    };
    for i in 0..4 {
        point.decide(&event(i));
    }
    point.log.close().unwrap();
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains(&format!("{torn}\n"))
    );
    let r = check(std::slice::from_ref(&log), &store, &key);
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    assert_eq!(r.torn.len(), 1);
    assert!(r.torn[0].continued_at.is_some());
    assert_eq!(r.replayed, 8);
    // A torn line that the next record does not name is a failure.
    let mut ls = lines(&log);
    let at = ls.iter().position(|l| l == torn).unwrap();
    let moved = ls.remove(at);
    ls.insert(2, moved);
    write_lines(&log, &ls);
    assert_ne!(
        check(std::slice::from_ref(&log), &store, &key).exit_code(),
        0
    );
}

#[test]
fn the_writer_refuses_to_continue_a_damaged_log_and_a_second_writer() {
    let (log, _, _) = small_log("damaged", 3);
    let (p, _) = program(POLICY);
    // A second writer on the same log while the first is open.
    let (first, _) = AuditLog::open(&log, &p.digest, Options::default()).unwrap();
    let e = AuditLog::open(&log, &p.digest, Options::default()).unwrap_err();
    assert!(e.message.contains("in use"), "{e}");
    first.close().unwrap();
    // The last record altered: its chain cannot be continued.
    let mut ls = lines(&log);
    let last = ls.last_mut().unwrap();
    *last = last.replace("\"seq\":", "\"seq\":1");
    write_lines(&log, &ls);
    let e = AuditLog::open(&log, &p.digest, Options::default()).unwrap_err();
    assert!(e.message.contains("damaged"), "{e}");
}

/// Stream state starts fresh at every bundle record (a restart, a reload), and replay
/// follows it exactly: a point that kept its state across would be caught.
#[test]
fn state_resets_at_bundle_records_and_replay_follows() {
    let d = dir("state");
    let (p1, b1) = program(POLICY);
    let (p2, b2) = program(&policy2());
    store(&d.join("store"), &b1);
    store(&d.join("store"), &b2);
    let k = key();
    let log = d.join("audit.jsonl");
    let search = |s: u32| {
        format!(
            r#"{{"ts":"2026-11-23T10:00:{s:02}Z","agent":{{"id":"a"}},"tool":"web_search","args":{{"query":"x"}}}}"#
        )
    };
    let mut point = Point::open(
        &log,
        p1,
        Some(PrivateKey::from_pem(&k.to_pem().unwrap()).unwrap()),
        None,
    );
    point.decide(&search(1));
    point.decide(&search(2));
    // Reload: a new bundle, fresh state (as the writer's API asks).
    assert!(point.log.change_bundle(&p2.digest).unwrap());
    assert!(
        !point.log.change_bundle(&p2.digest).unwrap(),
        "the same bundle is no change"
    );
    point.program = p2;
    point.state = point.program.new_state_with(point.log.limits());
    point.decide(&search(3));
    point.decide(&search(4));
    point.decide(&search(5));
    point.log.close().unwrap();
    let r = check(std::slice::from_ref(&log), &d.join("store"), &k);
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    assert_eq!(r.bundle_records, 2);
    assert_eq!((r.verdicts.allow, r.verdicts.deny), (4, 1));
    // A point that carried its state across the change decided otherwise: replay says so.
    let log2 = d.join("carried.jsonl");
    let mut point = Point::open(&log2, program(POLICY).0, None, None);
    point.decide(&search(1));
    point.decide(&search(2));
    point
        .log
        .change_bundle(&program(&policy2()).0.digest)
        .unwrap();
    point.program = program(&policy2()).0;
    point.decide(&search(3));
    point.log.close().unwrap();
    let r = verify::verify(
        &[log2],
        &verify::Options {
            keys: Keys::default(),
            bundles: Bundles::Dir(d.join("store")),
            expect_head: None,
            expect_count: None,
            against: None,
        },
    );
    assert_eq!(r.exit_code(), 1, "{:#?}", r.findings);
    assert_eq!(r.findings[0].check, "replay");
    assert_eq!(r.findings[0].seq, Some(4));
}

fn govern(args: &[&std::ffi::OsStr], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_govern"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// `eval --clock host` writes the host time into `ts`: the log holds it, and replay decides
/// the time rules with it. Re-running eval continues the same log with fresh state.
#[test]
fn eval_writes_a_log_that_replay_audit_reproduces() {
    let d = dir("eval");
    std::fs::write(d.join("p.gov"), POLICY).unwrap();
    // Agent c searches three times in one second of event time: the run under --clock event
    // holds a burst that the lower limit of `policy2` flips, whatever the host's hour (under
    // --clock host, from 22:00 the night rule denies every event of that run).
    let burst = r#"{"ts":"2026-11-23T20:00:00Z","agent":{"id":"c"},"tool":"web_search","args":{"query":"c"}}"#;
    let events: String = std::iter::repeat_n(burst.to_string(), 3)
        .chain((0..10).map(event))
        .map(|e| e + "\n")
        .collect();
    std::fs::write(d.join("events.jsonl"), &events).unwrap();
    std::fs::write(
        d.join("bad.jsonl"),
        format!("{}\nnot json\n{{\"tool\":\n", event(1)),
    )
    .unwrap();
    let (code, _, err) = govern(args!["keygen", "-o", "point"], &d);
    assert_eq!(code, 0, "{err}");
    for (clock, input) in [
        ("event", "events.jsonl"),
        ("host", "events.jsonl"),
        ("event", "bad.jsonl"),
    ] {
        let (code, out, err) = govern(
            args![
                "eval",
                "--policy",
                "p.gov",
                input,
                "--clock",
                clock,
                "--audit-log",
                "audit.jsonl",
                "--audit-key",
                "point.key"
            ],
            &d,
        );
        assert!(code == 0 || input == "bad.jsonl" && code == 2, "{err}");
        assert!(out.lines().count() >= 3);
    }
    let log = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    // Under --clock host the recorded events carry the host's time, not their own.
    assert!(
        log.lines()
            .filter(|l| l.contains("\"ts\":\"2026-11-23T"))
            .count()
            >= 10
    );
    assert!(
        log.lines()
            .filter(|l| l.contains("\"event\":{") && !l.contains("\"ts\":\"2026-11-23T"))
            .count()
            >= 10
    );
    // Input that was not an event is recorded, without an event, as the deny it was.
    assert_eq!(
        log.lines().filter(|l| l.contains("\"event\":null")).count(),
        2
    );
    let (code, _, _) = govern(args!["build", "p.gov", "--store", "bundles"], &d);
    assert_eq!(code, 0);
    let (code, out, err) = govern(
        args![
            "replay-audit",
            "audit.jsonl",
            "--bundles",
            "bundles",
            "--key",
            "point.pub"
        ],
        &d,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("result      intact and reproducible"), "{out}");
    assert!(
        out.contains("4 bundle records") || out.contains("3 bundle records"),
        "{out}"
    );
    let (code, out, _) = govern(
        args![
            "replay-audit",
            "audit.jsonl",
            "--bundles",
            "bundles",
            "--key",
            "point.pub",
            "--format",
            "json"
        ],
        &d,
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["result"], "intact and reproducible");
    assert_eq!(v["exit"], 0);
    // Against another bundle: the flips, as simulate reports them.
    std::fs::write(d.join("p2.gov"), policy2()).unwrap();
    let (code, out, err) = govern(
        args![
            "replay-audit",
            "audit.jsonl",
            "--bundles",
            "bundles",
            "--key",
            "point.pub",
            "--against",
            "p2.gov"
        ],
        &d,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("against sha256:"), "{out}");
    assert!(out.contains("allow    → deny      p.burst"), "{out}");
}

/// The audited path reads gzipped events as the others do (before, each gzip line was decided
/// `deny` as "not valid UTF-8").
#[test]
fn eval_with_an_audit_log_reads_gzipped_events() {
    use std::io::Write;
    let d = dir("eval_gz");
    std::fs::write(d.join("p.gov"), POLICY).unwrap();
    let events: String = (0..10).map(|i| event(i) + "\n").collect();
    std::fs::write(d.join("events.jsonl"), &events).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(events.as_bytes()).unwrap();
    std::fs::write(d.join("events.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let decide = |input: &str, log: &str, clock: &str| {
        govern(
            args![
                "eval",
                "--policy",
                "p.gov",
                input,
                "--clock",
                clock,
                "--audit-log",
                log
            ],
            &d,
        )
    };
    let (code, plain, err) = decide("events.jsonl", "plain.jsonl", "event");
    assert_eq!(code, 0, "{err}");
    let (code, gz, err) = decide("events.jsonl.gz", "gz.jsonl", "event");
    assert_eq!(code, 0, "{err}");
    assert_eq!(gz, plain);
    assert_eq!(gz.lines().count(), 10);
    let (code, host, err) = decide("events.jsonl.gz", "host.jsonl", "host");
    assert_eq!(code, 0, "{err}");
    assert_eq!(host.lines().count(), 10);
    assert!(!host.contains("\"error\""), "{host}");
}

#[test]
fn bad_input_is_named_with_exit_2() {
    let (log, store, _key) = small_log("bad", 4);
    let d = log.parent().unwrap().to_path_buf();
    // No key for the checkpoints.
    let (code, out, _) = govern(
        args!["replay-audit", "audit.jsonl", "--bundles", "store"],
        &d,
    );
    assert_eq!(code, 2);
    assert!(out.contains("no key was given"), "{out}");
    // A bundle that is not in the store: which digest, and where replay looked.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, out, _) = govern(
        args![
            "replay-audit",
            "audit.jsonl",
            "--bundles",
            "empty",
            "--no-replay"
        ],
        &d,
    );
    assert_eq!(code, 2, "--no-replay conflicts with --bundles: {out}");
    let (p, _) = program(POLICY);
    std::fs::write(d.join("k.pub"), _key.public().to_pem().unwrap()).unwrap();
    let (code, out, _) = govern(
        args![
            "replay-audit",
            "audit.jsonl",
            "--bundles",
            "empty",
            "--key",
            "k.pub"
        ],
        &d,
    );
    assert_eq!(code, 2);
    assert!(
        out.contains(&format!("replay needs bundle {}", p.digest)),
        "{out}"
    );
    assert!(out.contains("which is not in empty"), "{out}");
    assert!(out.contains("result      not verified"), "{out}");
    let (code, out, _) = govern(
        args![
            "replay-audit",
            "audit.jsonl",
            "--bundle",
            "nowhere.govb",
            "--key",
            "k.pub"
        ],
        &d,
    );
    assert_eq!(code, 2, "{out}");
    // Without any bundle at all, the command says what it needs.
    let (code, _, err) = govern(args!["replay-audit", "audit.jsonl", "--key", "k.pub"], &d);
    assert_eq!(code, 2);
    assert!(err.contains("--bundles"), "{err}");
    // A malformed record, with its file and line.
    let mut ls = lines(&log);
    ls[2] = "{\"seq\":2,\"prev\":\"x\"}".into();
    write_lines(&d.join("malformed.jsonl"), &ls);
    let (code, out, _) = govern(
        args![
            "replay-audit",
            "malformed.jsonl",
            "--bundles",
            "store",
            "--key",
            "k.pub"
        ],
        &d,
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("malformed.jsonl:3"), "{out}");
    // Not an audit log at all.
    let (code, out, _) = govern(
        args!["replay-audit", "p.gov", "--no-replay"],
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/examples"),
    );
    assert_eq!(code, 2, "{out}");
    let (code, out, _) = govern(
        args!["replay-audit", "events.jsonl", "--no-replay"],
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/examples"),
    );
    assert_eq!(code, 2);
    assert!(
        out.contains("no line of this file is an audit record"),
        "{out}"
    );
    let _ = store;
}

/// The record hashes and signatures, checked with no govern code: the script in
/// docs/audit.md, run with the Python `rfc8785` package (an independent RFC 8785
/// implementation) and `cryptography`.
#[test]
fn an_independent_rfc8785_implementation_verifies_the_log() {
    if peers::skipped("audit log check with rfc8785") {
        return;
    }
    let (log, _, key) = small_log("peer", 12);
    let d = log.parent().unwrap();
    // Strings that JCS escapes, numbers that it writes its own way, keys in UTF-16 order.
    let d2 = dir("peer-odd");
    let (p, _) = program(POLICY);
    let odd_log = d2.join("audit.jsonl");
    let mut point = Point::open(
        &odd_log,
        p,
        Some(PrivateKey::from_pem(&key.to_pem().unwrap()).unwrap()),
        Some(2),
    );
    point.decide(r#"{"tool":"web_search","args":{"query":"é\"\\\n\u0001\u007f😀","n":[1e21,1.5e-7,0.1,-0,123456789012345678901]},"€":1,"\ufb33":2,"😀":3,"\r":4}"#);
    point.decide(r#"{"tool":"transfer","args":{"amount":1e2}}"#);
    // Objects in objects and arrays, none in order, names escaped and given twice.
    point.decide(
        r#"{ "z" : {"b":[{"y":1,"x":{"d":[{"f":1,"e":2}],"c":"\u0041"}}],"a":2}, "tool":"web_search", "a\u00e9":{"\uE000":1,"\ud83d\ude00":2,"b":3}, "\u0061":0, "a":1, "m":{"k":[],"j":{}} }"#,
    );
    point.log.close().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verify-audit-log.py");
    std::fs::write(d.join("k.pub"), key.public().to_pem().unwrap()).unwrap();
    for l in [&log, &odd_log] {
        let out = Command::new(peers::python())
            .arg(&script)
            .arg("--key")
            .arg(d.join("k.pub"))
            .arg(l)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And it notices a change.
    let mut ls = lines(&log);
    let at = ls.iter().position(|l| l.contains("web_search")).unwrap();
    ls[at] = ls[at].replace("web_search", "web_searcH");
    write_lines(&d.join("changed.jsonl"), &ls);
    let out = Command::new(peers::python())
        .arg(&script)
        .arg(d.join("changed.jsonl"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("line {}", at + 1)));
}

/// Every record govern writes is valid against the published JSON Schema.
#[test]
fn records_match_the_json_schema() {
    if peers::skipped("audit records against docs/schemas/audit-record.schema.json") {
        return;
    }
    let (small, _, _) = small_log("schema", 6);
    // With the bundle records of restarts: one restored, one fresh all the same.
    let d = small.parent().unwrap();
    std::fs::write(d.join("p.gov"), STATEFUL).unwrap();
    events_file(
        d,
        "e.jsonl",
        &(0..4).map(stateful_event).collect::<Vec<_>>(),
    );
    for extra in [&[][..], &[][..], &["--fresh-state"][..]] {
        let mut a = vec!["e.jsonl", "--audit-log", "restarts.jsonl"];
        a.extend_from_slice(extra);
        let (code, _, err) = eval_lines(d, &a);
        assert_eq!(code, 0, "{err}");
    }
    let mut all = lines(&small);
    let restarts = lines(&d.join("restarts.jsonl"));
    assert!(restarts.iter().any(|l| l.contains("\"restored\":{")));
    assert!(
        restarts
            .iter()
            .any(|l| l.contains("\"fresh\":\"opted-out\""))
    );
    all.extend(restarts);
    let log = d.join("all.jsonl");
    write_lines(&log, &all);
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas/audit-record.schema.json");
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
n = 0
for line in open(sys.argv[2]):
    rec = json.loads(line)
    errors = sorted(v.iter_errors(rec), key=str)
    if errors:
        print(line, errors[0]); sys.exit(1)
    n += 1
bad = {"seq": 1, "prev": "x", "hash": "y"}
if not list(v.iter_errors(bad)):
    print("a bad record passed"); sys.exit(1)
both = [json.loads(l) for l in open(sys.argv[2]) if '"restored":{' in l][0]
both["fresh"] = "opted-out"
if not list(v.iter_errors(both)):
    print("a record both restored and fresh passed"); sys.exit(1)
print(n)
"#;
    let (ok, out, err) = peers::run_python(script, &[schema.as_os_str(), log.as_os_str()]);
    assert!(ok, "{out}{err}");
}

/// Simulate reads audit logs: the events as decided, compared with the recorded decisions.
#[test]
fn simulate_reads_audit_logs() {
    let (log, _, _) = small_log("simulate", 9);
    let d = log.parent().unwrap();
    std::fs::write(d.join("p2.gov"), POLICY.replace(">= 3", ">= 1")).unwrap();
    let (code, out, err) = govern(
        args![
            "simulate",
            "--policy",
            "p2.gov",
            "audit.jsonl",
            "--input-format",
            "audit",
            "--format",
            "json"
        ],
        d,
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["events"], 9);
    assert_eq!(v["recorded"]["compared"], 9);
    assert!(v["recorded"]["flipped"].as_u64().unwrap() > 0);
    assert_eq!(v["inputs"][0]["format"], "audit");
    // Detected without being told.
    let (code, out, _) = govern(
        args![
            "simulate",
            "--policy",
            "p2.gov",
            "audit.jsonl",
            "--format",
            "json"
        ],
        d,
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["inputs"][0]["format"], "audit");
}

/// Replay without keys, from a folder of bundles.
fn replay(files: &[PathBuf], store: &Path) -> Report {
    verify::verify(
        files,
        &verify::Options {
            keys: Keys::default(),
            bundles: Bundles::Dir(store.to_path_buf()),
            expect_head: None,
            expect_count: None,
            against: None,
        },
    )
}

/// The log with the `limits` of its bundle records replaced (and the chain recomputed), as
/// if the point had said it decided with other limits.
fn with_limits(log: &Path, limits: serde_json::Value) -> PathBuf {
    let edited = log.with_file_name("other-limits.jsonl");
    let ls = rewrite(&lines(log), None, |_, v| {
        if v["kind"] == "bundle" {
            v["limits"] = limits.clone();
        }
    });
    write_lines(&edited, &ls);
    edited
}

/// A point deciding on its events' own time, with the default skew and room for one key
/// per count: the second agent's count becomes unknown, and a payment dated years ahead is
/// decided with its time unknown. The bundle record says so, and replay decides with those limits;
/// a log claiming other limits does not replay.
#[test]
fn replay_decides_with_the_limits_the_point_decided_with() {
    let d = dir("limits-event");
    let (p, bytes) = program(&policy2());
    store(&d.join("store"), &bytes);
    let log_path = d.join("audit.jsonl");
    let limits = StreamLimits {
        max_keys: 1,
        ..StreamLimits::default()
    };
    let (mut log, _) = AuditLog::open(
        &log_path,
        &p.digest,
        Options {
            sync: SyncMode::None,
            limits,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(log.limits(), limits);
    let mut state = p.new_state_with(log.limits());
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    let search = |ts: &str, agent: &str| {
        format!(
            r#"{{"ts":"{ts}","agent":{{"id":"{agent}"}},"tool":"web_search","args":{{"query":"x"}}}}"#
        )
    };
    let mut verdicts = Vec::new();
    let events = [
        search("2026-11-23T10:00:01Z", "a"),
        search("2026-11-23T10:00:02Z", "a"),
        search("2026-11-23T10:00:03Z", "b"),
        search("2026-11-23T10:00:04Z", "b"),
        r#"{"ts":"2030-01-01T00:00:00Z","agent":{"id":"a"},"tool":"transfer","args":{"amount":5}}"#
            .to_string(),
    ];
    for text in &events {
        let e = DecidedEvent::parse(text).unwrap();
        p.read_event(e.as_str(), &mut ev).unwrap();
        p.eval(&ev, &mut state, &mut out);
        verdicts.push(p.decision(&out).verdict);
        log.append_outcome(&e, &p, &out).unwrap();
    }
    log.close().unwrap();
    // The limits changed what was decided: once agent b's first call could not be counted,
    // its count is unknown; the time of a payment dated years ahead is unknown.
    assert_eq!(
        verdicts
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(" "),
        "Allow Allow Allow Deny Deny"
    );
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.contains(r#""limits":{"max_keys":1,"max_skew_ns":300000000000}"#),
        "{text}"
    );
    let r = replay(std::slice::from_ref(&log_path), &d.join("store"));
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    // Claimed with the default number of keys: agent b's count is known, and replay differs.
    let other = with_limits(
        &log_path,
        serde_json::json!({"max_keys": 100000, "max_skew_ns": 300000000000u64}),
    );
    let r = replay(std::slice::from_ref(&other), &d.join("store"));
    assert_eq!(r.exit_code(), 1, "{:#?}", r.findings);
    assert_eq!(
        (r.findings[0].check, r.findings[0].seq),
        ("replay", Some(4))
    );
    // Claimed with every `ts` believed: the payment dated 2030 is not at night, it is allowed.
    let other = with_limits(
        &log_path,
        serde_json::json!({"max_keys": 1, "max_skew_ns": null}),
    );
    let r = replay(std::slice::from_ref(&other), &d.join("store"));
    assert_eq!(r.exit_code(), 1, "{:#?}", r.findings);
    assert!(
        r.findings
            .iter()
            .any(|f| f.check == "replay" && f.seq == Some(5)),
        "{:#?}",
        r.findings
    );
}

/// A point keeping time with its own clock (`Program::eval_at`): each event is recorded with
/// the host time in `ts`, the bundle record says every `ts` is believed, and replay decides
/// with trusted time, even where the clock jumped hours (which stream time would not believe
/// from an event) or stepped back.
#[test]
fn a_point_on_host_time_records_that_time_and_replays_with_trusted_time() {
    let d = dir("limits-host");
    let (p, bytes) = program(POLICY);
    store(&d.join("store"), &bytes);
    let log_path = d.join("audit.jsonl");
    let (mut log, _) = AuditLog::open(
        &log_path,
        &p.digest,
        Options {
            sync: SyncMode::None,
            limits: StreamLimits::trusted_time(),
            ..Options::default()
        },
    )
    .unwrap();
    let mut state = p.new_state_with(log.limits());
    let (mut ev, mut out) = (Event::default(), Outcome::default());
    let base = govern::time::parse_rfc3339("2026-11-23T20:30:00.000123Z").unwrap();
    let hour = 3_600_000_000_000i64;
    let mut nights = 0;
    // On the hour, then jumps of hours, a step back of a second, a clock standing still.
    let offsets = [
        0,
        hour,
        2 * hour,
        2 * hour - 1_000_000_000,
        3 * hour,
        5 * hour,
        5 * hour,
    ];
    for (i, offset) in offsets.into_iter().enumerate() {
        let now = base + offset;
        // The event's own `ts` is a lie the host clock replaces.
        let text = format!(
            r#"{{"ts":"2001-01-01T12:00:00Z","agent":{{"id":"a"}},"tool":"transfer","args":{{"amount":{i}}}}}"#
        );
        let e = DecidedEvent::parse_stamped(&text, now).unwrap();
        assert_eq!(
            e.as_str(),
            govern::vm::event_as_decided(&text, now).unwrap()
        );
        assert!(e.as_str().contains(&format!(
            "\"ts\":\"{}\"",
            govern::time::format_rfc3339_exact(now)
        )));
        p.read_event(&text, &mut ev).unwrap();
        p.eval_at(&mut ev, now, &mut state, &mut out);
        if p.decision(&out).verdict == govern::bytecode::model::Verdict::Deny {
            nights += 1;
        }
        log.append_outcome(&e, &p, &out).unwrap();
    }
    log.close().unwrap();
    // 22:30 and 23:30 (twice, the clock stepped back a second) are at night.
    assert_eq!(nights, 3);
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains(r#""max_skew_ns":null"#), "{text}");
    assert!(!text.contains("2001-01-01"), "{text}");
    let r = replay(std::slice::from_ref(&log_path), &d.join("store"));
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    // Claimed with the default skew, the hour jumps are not believed: replay differs.
    let other = with_limits(
        &log_path,
        serde_json::json!({"max_keys": 100000, "max_skew_ns": 300000000000u64}),
    );
    let r = replay(std::slice::from_ref(&other), &d.join("store"));
    assert_eq!(r.exit_code(), 1, "{:#?}", r.findings);
    assert_eq!(r.findings[0].check, "replay");
}

/// The writer shared by several threads, the way a server shares it: one lock over the log
/// and the stream state, so records are in the order the state saw the decisions; the
/// canonical event is made outside the lock. A reload in the middle (a `bundle` record and
/// fresh state). Replay reproduces every decision.
#[test]
fn several_threads_share_one_log_and_replay_reproduces_it() {
    fn shareable<T: Send>() {}
    shareable::<AuditLog>();
    shareable::<std::sync::Arc<Program>>();
    struct Shared {
        program: std::sync::Arc<Program>,
        state: State,
        log: AuditLog,
        ev: Event,
        out: Outcome,
    }
    let d = dir("threads");
    let (p1, b1) = program(POLICY);
    let (p2, b2) = program(&policy2());
    store(&d.join("store"), &b1);
    store(&d.join("store"), &b2);
    let p2 = std::sync::Arc::new(p2);
    let k = key();
    let log_path = d.join("audit.jsonl");
    let (log, _) = AuditLog::open(
        &log_path,
        &p1.digest,
        Options {
            sync: SyncMode::Batch,
            key: Some(PrivateKey::from_pem(&k.to_pem().unwrap()).unwrap()),
            checkpoint_every: Some(16),
            limits: StreamLimits::trusted_time(),
            ..Options::default()
        },
    )
    .unwrap();
    let shared = std::sync::Mutex::new(Shared {
        state: p1.new_state_with(log.limits()),
        program: std::sync::Arc::new(p1),
        log,
        ev: Event::default(),
        out: Outcome::default(),
    });
    let base = govern::time::parse_rfc3339("2026-11-23T21:59:00Z").unwrap();
    let (threads, each) = (4usize, 40usize);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (shared, p2) = (&shared, &p2);
            s.spawn(move || {
                for i in 0..each {
                    let n = t * each + i;
                    let now = base + (n as i64) * 500_000_000;
                    let text = event(n);
                    let e = DecidedEvent::parse_stamped(&text, now).unwrap();
                    let mut g = shared.lock().unwrap();
                    let sh = &mut *g;
                    if t == 1 && i == each / 2 && sh.log.change_bundle(&p2.digest).unwrap() {
                        sh.program = std::sync::Arc::clone(p2);
                        sh.state = sh.program.new_state_with(sh.log.limits());
                    }
                    sh.program.read_event(e.as_str(), &mut sh.ev).unwrap();
                    sh.program
                        .eval_at(&mut sh.ev, now, &mut sh.state, &mut sh.out);
                    sh.log.append_outcome(&e, &sh.program, &sh.out).unwrap();
                }
            });
        }
    });
    let sh = shared.into_inner().unwrap();
    sh.log.close().unwrap();
    let r = check(std::slice::from_ref(&log_path), &d.join("store"), &k);
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    assert_eq!(r.bundle_records, 2);
    assert_eq!(
        r.verdicts.allow + r.verdicts.deny + r.verdicts.escalate,
        (threads * each) as u64
    );
}

/// `eval --audit-log` records whatever `eval` reads, through the one stream engine: OTLP
/// spans, MCP messages, pretty-printed JSON, gzipped files, on the events' time and on the
/// host's; the decisions printed are those `eval` prints without a log, and `replay-audit`
/// decides every recorded event again exactly.
#[test]
fn eval_records_every_input_format() {
    let d = dir("eval-formats");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let brief = root.join("testdata/examples/brief.gov");
    let (code, _, err) = govern(
        args![
            "build",
            brief.to_str().unwrap(),
            "-o",
            "brief.govb",
            "--store",
            "bundles"
        ],
        &d,
    );
    assert_eq!(code, 0, "{err}");
    let traces = root.join("testdata/traces");
    let mut printed = 0;
    for name in [
        "otel-genai.jsonl",
        "otel-genai-pretty.json",
        "mcp-gateway.jsonl",
        "mcp-client.jsonl",
        "sample.jsonl",
    ] {
        let path = traces.join(name);
        let gz = d.join(format!("{name}.gz"));
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &std::fs::read(&path).unwrap()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let (code, plain, err) = govern(
            args!["eval", "--bundle", "brief.govb", path.to_str().unwrap()],
            &d,
        );
        assert_eq!(code, 0, "{name}: {err}");
        for input in [&path, &gz] {
            for clock in ["event", "host"] {
                let (code, out, err) = govern(
                    args![
                        "eval",
                        "--bundle",
                        "brief.govb",
                        input.to_str().unwrap(),
                        "--clock",
                        clock,
                        "--audit-log",
                        "audit.jsonl"
                    ],
                    &d,
                );
                assert_eq!(code, 0, "{name} {clock}: {err}");
                assert_eq!(out.lines().count(), plain.lines().count(), "{name}");
                if clock == "event" {
                    assert_eq!(out, plain, "{name}: the log changes no decision");
                }
                printed += out.lines().count();
            }
        }
    }
    let (code, out, err) = govern(
        args![
            "replay-audit",
            "audit.jsonl",
            "--bundles",
            "bundles",
            "--format",
            "json"
        ],
        &d,
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decisions"], printed as u64);
    assert_eq!(v["replayed"], printed as u64);
    assert_eq!(v["divergent"], 0);
}

/// When the log cannot take a record (a file size limit, as a full disk), the decisions
/// waiting for it and every later one are printed as `deny` saying why, one per event, and
/// `eval` exits 2; the records written before stay a log that verifies.
#[test]
fn eval_denies_what_the_log_cannot_record() {
    let d = dir("eval-full");
    std::fs::write(d.join("p.gov"), POLICY).unwrap();
    let n = 600;
    let events: String = (0..n).map(|i| event(i) + "\n").collect();
    // Writes past 64 KiB fail (EFBIG) instead of killing the process. The events come
    // through a pipe, a few at a time, as a coprocess's do: decisions go out block by block.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 128; exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_govern"),
            "eval",
            "--policy",
            "p.gov",
            "--audit-log",
            "audit.jsonl",
        ])
        .current_dir(&d)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = std::thread::spawn(move || {
        for chunk in events.lines().collect::<Vec<_>>().chunks(10) {
            let text: String = chunk.iter().map(|l| format!("{l}\n")).collect();
            if std::io::Write::write_all(&mut stdin, text.as_bytes()).is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    let out = child.wait_with_output().unwrap();
    feed.join().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), n, "one decision per event");
    let denied = lines
        .iter()
        .filter(|l| l.contains("the audit log cannot be written"))
        .count();
    assert!(denied > 0 && denied < n, "{denied}");
    // Denied from the first failure to the end.
    assert!(
        lines[n - denied..]
            .iter()
            .all(|l| l.contains("the audit log cannot be written") && l.contains("\"deny\""))
    );
    assert!(
        stderr.contains("not decided: the audit log cannot be written"),
        "{stderr}"
    );
    // Every decision printed as decided has its record.
    let log = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    let recorded = log
        .lines()
        .filter(|l| l.ends_with('}') && l.contains("\"event\":{"))
        .count();
    assert!(
        recorded >= n - denied,
        "{recorded} records, {} decisions used",
        n - denied
    );
}

// ---------------------------------------------------------------------------------------
// Restarts keep the stream state.

/// A stateful policy with a budget, a rate limit and a `seen` rule, all keyed by agent.
const STATEFUL: &str = r#"
tool web_search(query: string)
tool transfer(amount: number)
tool file_read(path: string)

default deny

policy p {
  rule search: allow when tool == "web_search"
  rule rate: deny when tool == "web_search" and count(tool == "web_search", within 1h, per agent.id) >= 3
    because "three searches an hour"
  rule pay: allow when tool == "transfer"
  rule budget: deny when tool == "transfer" and sum(args.amount, tool == "transfer", within 1d, per agent.id) > 300
    because "over budget"
  rule read: allow when tool == "file_read" and not seen(tool == "file_read" and args.path == "/tmp/x", per agent.id)
}
"#;

fn stateful_event(i: usize) -> String {
    let agent = if i % 4 == 3 { "b" } else { "a" };
    let (tool, args) = match i % 3 {
        0 => ("web_search", format!(r#"{{"query":"q{i}"}}"#)),
        1 => ("transfer", format!(r#"{{"amount":{}}}"#, 40 + i * 7)),
        _ => ("file_read", r#"{"path":"/tmp/x"}"#.to_string()),
    };
    format!(
        r#"{{"ts":"2026-11-23T10:{:02}:{:02}Z","agent":{{"id":"{agent}"}},"tool":"{tool}","args":{args}}}"#,
        i / 60,
        i % 60
    )
}

/// Writes `events` to `name` in `d`.
fn events_file(d: &Path, name: &str, events: &[String]) {
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(d.join(name), text).unwrap();
}

/// `govern eval` in `d` with `extra` flags; the decision lines, and stderr.
fn eval_lines(d: &Path, extra: &[&str]) -> (i32, Vec<String>, String) {
    let mut a: Vec<&std::ffi::OsStr> = vec!["eval".as_ref(), "--policy".as_ref(), "p.gov".as_ref()];
    a.extend(extra.iter().map(std::ffi::OsStr::new));
    let (code, out, err) = govern(&a, d);
    (code, out.lines().map(str::to_string).collect(), err)
}

fn bundle_records(log: &Path) -> Vec<serde_json::Value> {
    lines(log)
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "bundle")
        .collect()
}

fn replay_cli(d: &Path, log: &str) -> (i32, serde_json::Value) {
    let (code, _, _) = govern(args!["build", "p.gov", "--store", "bundles"], d);
    assert_eq!(code, 0);
    let (code, out, err) = govern(
        args![
            "replay-audit",
            log,
            "--bundles",
            "bundles",
            "--format",
            "json"
        ],
        d,
    );
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}")),
    )
}

/// A restart in the middle of the windows keeps the counts: eval run on three parts of a
/// stream with one audit log decides what one run on the whole stream decides (rate limit,
/// budget and `seen` included), every restart writes a bundle record saying the state was
/// restored, and replay-audit reproduces the three-run log exactly. Started fresh instead
/// (`--fresh-state`), the same runs decide otherwise: the test can fail.
#[test]
fn eval_restarted_mid_window_decides_as_one_run() {
    let d = dir("restart-eval");
    std::fs::write(d.join("p.gov"), STATEFUL).unwrap();
    let events: Vec<String> = (0..40).map(stateful_event).collect();
    events_file(&d, "all.jsonl", &events);
    events_file(&d, "part1.jsonl", &events[..7]);
    events_file(&d, "part2.jsonl", &events[7..19]);
    events_file(&d, "part3.jsonl", &events[19..]);
    let (code, whole, err) = eval_lines(&d, &["all.jsonl"]);
    assert_eq!(code, 0, "{err}");
    for clock in ["event", "host"] {
        let log = format!("{clock}.jsonl");
        let mut parts = Vec::new();
        for part in ["part1.jsonl", "part2.jsonl", "part3.jsonl"] {
            let (code, out, err) = eval_lines(&d, &[part, "--audit-log", &log, "--clock", clock]);
            assert_eq!(code, 0, "{err}");
            parts.extend(out);
        }
        let verdicts = |ls: &[String]| -> Vec<String> {
            ls.iter()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["decision"].to_string()
                })
                .collect()
        };
        if clock == "event" {
            assert_eq!(parts, whole, "three runs on one log decide as one run");
        } else {
            // Host time: every event happens now, so the windows hold them all either way.
            assert_eq!(verdicts(&parts), verdicts(&whole));
        }
        let b = bundle_records(&d.join(&log));
        assert_eq!(b.len(), 3);
        assert!(b[0].get("restored").is_none() && b[0].get("fresh").is_none());
        assert_eq!(
            b[1]["restored"],
            serde_json::json!({"from": 0, "decisions": 7})
        );
        // The second restart rebuilds from the same fresh bundle record, across the first.
        assert_eq!(
            b[2]["restored"],
            serde_json::json!({"from": 0, "decisions": 19})
        );
        let (code, report) = replay_cli(&d, &log);
        assert_eq!(code, 0, "{report:#}");
        assert_eq!(report["replayed"], 40);
        assert_eq!(report["divergent"], 0);
    }
    // Fresh state at every restart: the limits reset, and the log says so.
    let mut fresh = Vec::new();
    for part in ["part1.jsonl", "part2.jsonl", "part3.jsonl"] {
        let (code, out, err) =
            eval_lines(&d, &[part, "--audit-log", "fresh.jsonl", "--fresh-state"]);
        assert_eq!(code, 0, "{err}");
        fresh.extend(out);
    }
    assert_ne!(
        fresh, whole,
        "fresh state at each restart decides otherwise"
    );
    let b = bundle_records(&d.join("fresh.jsonl"));
    assert_eq!(b[1]["fresh"], "opted-out");
    assert!(b[1].get("restored").is_none());
    let (code, report) = replay_cli(&d, "fresh.jsonl");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["replayed"], 40);
}

/// Another bundle (or other limits) on restart starts fresh state, as replay expects.
#[test]
fn a_restart_with_another_bundle_or_other_limits_starts_fresh() {
    let d = dir("restart-other");
    std::fs::write(d.join("p.gov"), STATEFUL).unwrap();
    let events: Vec<String> = (0..24).map(stateful_event).collect();
    events_file(&d, "part1.jsonl", &events[..12]);
    events_file(&d, "part2.jsonl", &events[12..]);
    let (code, _, err) = eval_lines(&d, &["part1.jsonl", "--audit-log", "audit.jsonl"]);
    assert_eq!(code, 0, "{err}");
    // Another bundle: the second part decides as it does alone.
    std::fs::write(d.join("p.gov"), STATEFUL.replace(">= 3", ">= 4")).unwrap();
    let (_, alone, _) = eval_lines(&d, &["part2.jsonl"]);
    let (code, after, err) = eval_lines(&d, &["part2.jsonl", "--audit-log", "audit.jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(after, alone);
    let b = bundle_records(&d.join("audit.jsonl"));
    assert_ne!(b[0]["bundle"], b[1]["bundle"]);
    assert!(b[1].get("restored").is_none() && b[1].get("fresh").is_none());
    // The same bundle with other limits: fresh, and the record says why.
    let (code, limited, err) = eval_lines(
        &d,
        &[
            "part2.jsonl",
            "--audit-log",
            "audit.jsonl",
            "--max-keys",
            "7",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(limited, alone);
    let b = bundle_records(&d.join("audit.jsonl"));
    assert_eq!(b[2]["fresh"], "limits-changed");
    assert_eq!(b[2]["limits"]["max_keys"], 7);
    // The log holds two bundles: replay finds both in the store.
    std::fs::write(d.join("p.gov"), STATEFUL).unwrap();
    let (code, _, _) = govern(args!["build", "p.gov", "--store", "bundles"], &d);
    assert_eq!(code, 0);
    std::fs::write(d.join("p.gov"), STATEFUL.replace(">= 3", ">= 4")).unwrap();
    let (code, report) = replay_cli(&d, "audit.jsonl");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["replayed"], 36);
}

/// A log that does not verify where the state would be rebuilt from refuses the restart
/// (exit 2, saying why and what to do) and is left as it was: a flipped byte, a deleted
/// record, a decision changed with the chain recomputed (caught by the replay), too many
/// records for --restore-max. --fresh-state starts all the same, and says so in the log.
#[test]
fn a_tampered_log_refuses_to_restore() {
    let d = dir("restart-tampered");
    std::fs::write(d.join("p.gov"), STATEFUL).unwrap();
    let events: Vec<String> = (0..12).map(stateful_event).collect();
    events_file(&d, "part1.jsonl", &events[..6]);
    events_file(&d, "part2.jsonl", &events[6..]);
    let (code, _, err) = eval_lines(&d, &["part1.jsonl", "--audit-log", "good.jsonl"]);
    assert_eq!(code, 0, "{err}");
    let good = lines(&d.join("good.jsonl"));
    let mut flipped = good.clone();
    flipped[4] = flipped[4].replacen("\"q3\"", "\"q4\"", 1);
    assert_ne!(flipped[4], good[4]);
    let mut deleted = good.clone();
    deleted.remove(2);
    // The first decision turned into a deny, its chain recomputed: only replay sees it.
    let changed = rewrite(&good, None, |i, v| {
        if i == 1 {
            v["decision"]["decision"] = "deny".into();
        }
    });
    let cases: [(&str, Vec<String>, &[&str], &str); 4] = [
        ("flipped", flipped, &[], "does not match its hash"),
        ("deleted", deleted, &[], "missing"),
        ("changed", changed, &[], "replay decides differently"),
        (
            "long",
            good.clone(),
            &["--restore-max", "5"],
            "more than --restore-max 5",
        ),
    ];
    for (name, log, extra, says) in cases {
        let file = format!("{name}.jsonl");
        write_lines(&d.join(&file), &log);
        let before = std::fs::read(d.join(&file)).unwrap();
        let mut a = vec!["part2.jsonl", "--audit-log", file.as_str()];
        a.extend_from_slice(extra);
        let (code, out, err) = eval_lines(&d, &a);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(out.is_empty(), "{name}: nothing is decided: {out:?}");
        // The diagnostic as one line (it is wrapped to the terminal).
        let flat = err
            .split_whitespace()
            .filter(|w| *w != "│")
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains(says), "{name}: {err}");
        assert!(flat.contains("--fresh-state"), "{name}: {err}");
        assert_eq!(
            std::fs::read(d.join(&file)).unwrap(),
            before,
            "{name}: log untouched"
        );
        // The operator's way out: fresh state, recorded.
        let mut a = vec!["part2.jsonl", "--audit-log", file.as_str(), "--fresh-state"];
        a.extend_from_slice(extra);
        let (code, out, err) = eval_lines(&d, &a);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(out.len(), 6);
        let b = bundle_records(&d.join(&file));
        assert_eq!(b.last().unwrap()["fresh"], "opted-out", "{name}");
    }
}

/// A crash that tore the last record: the state is rebuilt from the whole records before it
/// (the torn record's decision never left the point), the bundle record names the torn line
/// and says the state was restored, and replay-audit reproduces the log. Across rotated files
/// too.
#[test]
fn a_restart_after_a_torn_line_and_across_rotated_files_restores() {
    let d = dir("restart-torn");
    std::fs::write(d.join("p.gov"), STATEFUL).unwrap();
    let events: Vec<String> = (0..30).map(stateful_event).collect();
    events_file(&d, "all.jsonl", &events);
    events_file(&d, "part1.jsonl", &events[..15]);
    events_file(&d, "part2.jsonl", &events[15..]);
    let (_, whole, _) = eval_lines(&d, &["all.jsonl"]);
    let (code, first, err) = eval_lines(
        &d,
        &[
            "part1.jsonl",
            "--audit-log",
            "audit.jsonl",
            "--audit-rotate",
            "2K",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let files = govern::audit::writer::segments(&d.join("audit.jsonl")).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    // A crash in the middle of writing the record of a 16th event.
    let last = &files.last().unwrap().1;
    let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    use std::io::Write;
    f.write_all(b"{\"bundle\":\"sha256:0123").unwrap();
    drop(f);
    let (code, second, err) = eval_lines(
        &d,
        &[
            "part2.jsonl",
            "--audit-log",
            "audit.jsonl",
            "--audit-rotate",
            "2K",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("cut short by a crash"), "{err}");
    let mut both = first;
    both.extend(second);
    assert_eq!(both, whole);
    let files: Vec<PathBuf> = govern::audit::writer::segments(&d.join("audit.jsonl"))
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let restart = files
        .iter()
        .flat_map(|f| lines(f))
        .map(|l| serde_json::from_str::<serde_json::Value>(&l).unwrap_or_default())
        .find(|v| v.get("restored").is_some())
        .unwrap();
    assert_eq!(
        restart["restored"],
        serde_json::json!({"from": 0, "decisions": 15})
    );
    assert_eq!(restart["torn"].as_array().unwrap().len(), 1);
    let (p, bytes) = program(STATEFUL);
    store(&d.join("store"), &bytes);
    drop(p);
    let r = replay(&files, &d.join("store"));
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    assert_eq!(r.replayed, 30);
    assert_eq!(r.torn.len(), 1);
}

/// replay-audit checks what a `restored` record claims: one that says the state was rebuilt
/// from other records than the state in force holds (an edited record, chain recomputed) is a
/// failure, and a log given from a file after the state began says what it cannot re-decide.
#[test]
fn replay_checks_what_a_restored_record_claims() {
    let d = dir("restart-claims");
    std::fs::write(d.join("p.gov"), STATEFUL).unwrap();
    let events: Vec<String> = (0..12).map(stateful_event).collect();
    events_file(&d, "part1.jsonl", &events[..6]);
    events_file(&d, "part2.jsonl", &events[6..]);
    for part in ["part1.jsonl", "part2.jsonl"] {
        let (code, _, err) = eval_lines(&d, &[part, "--audit-log", "audit.jsonl"]);
        assert_eq!(code, 0, "{err}");
    }
    let good = lines(&d.join("audit.jsonl"));
    let (_, bytes) = program(STATEFUL);
    store(&d.join("store"), &bytes);
    let r = replay(&[d.join("audit.jsonl")], &d.join("store"));
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    for (name, edit) in [
        ("decisions", serde_json::json!({"from": 0, "decisions": 5})),
        ("from", serde_json::json!({"from": 3, "decisions": 6})),
    ] {
        let forged = rewrite(&good, None, |_, v| {
            if v.get("restored").is_some() {
                v["restored"] = edit.clone();
            }
        });
        let file = d.join(format!("{name}.jsonl"));
        write_lines(&file, &forged);
        let r = replay(&[file], &d.join("store"));
        assert_eq!(r.exit_code(), 1, "{name}");
        assert_eq!(r.findings[0].check, "restore", "{:#?}", r.findings);
        assert_eq!(r.findings[0].seq, Some(7));
    }
    // A restored record without the state before it: the decisions after it are not
    // re-decided, and the report says why.
    let tail: Vec<String> = good[7..].to_vec();
    let file = d.join("tail.jsonl");
    write_lines(&file, &tail);
    let r = replay(&[file], &d.join("store"));
    assert_eq!(r.exit_code(), 0, "{:#?}", r.findings);
    assert_eq!(r.replayed, 0);
    assert_eq!(r.not_replayed, 6);
    assert!(
        r.not_proved
            .iter()
            .any(|m| m.contains("restored stream state that begins before")),
        "{:?}",
        r.not_proved
    );
}
