//! `govern keygen`, `sign`, `verify`, `keyid` and `eval --trust`, run as the binary, with
//! snapshots of what people see; tampering of every byte through the library.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use govern::sign::dsse::{self, Envelope};
use govern::sign::{Check, Manifest, PrivateKey, Trust, VerifyOptions};

const BIN: &str = env!("CARGO_BIN_EXE_govern");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The RFC 8410 example key: public knowledge, so only ever a test key.
const PUBLISHER_ID: &str =
    "sha256:a1e9156054e04fac899ae9f275132cdc07a5dbc4ea2c2ad3a1ffc6e0d253681f";

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    fn show(&self, f: &Fixture) -> String {
        f.redact(&format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        ))
    }
}

fn govern_in(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let run = Run {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        code: out.status.code().unwrap_or(-1),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "govern panicked on {args:?}: {}",
        run.stderr
    );
    run
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("sign-tests")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) {}

/// Messages without their line breaks and frame, for searching.
fn flat(s: &str) -> String {
    s.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A scratch directory with the sample plugin (`plugin/`), the test-only publisher key
/// (`publisher.key`), two fresh keys `alice` and `bob`, and `trust.yaml` trusting the
/// publisher and alice (threshold 1). Bob is not trusted.
struct Fixture {
    dir: PathBuf,
    alice: String,
    bob: String,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = scratch(name);
        let data = Path::new(ROOT).join("testdata/signing");
        copy_dir(&data.join("sample-plugin"), &dir.join("plugin"));
        fs::copy(
            data.join("keys/TEST-ONLY-rfc8410.key"),
            dir.join("publisher.key"),
        )
        .unwrap();
        set_mode(&dir.join("publisher.key"), 0o600);
        fs::copy(
            data.join("keys/TEST-ONLY-rfc8410.pub"),
            dir.join("publisher.pub"),
        )
        .unwrap();
        let alice = govern_in(&dir, &["keygen", "-o", "alice"]);
        let bob = govern_in(&dir, &["keygen", "-o", "bob"]);
        assert_eq!(
            (alice.code, bob.code),
            (0, 0),
            "{}{}",
            alice.stderr,
            bob.stderr
        );
        let f = Fixture {
            dir,
            alice: alice.stdout.trim().to_string(),
            bob: bob.stdout.trim().to_string(),
        };
        f.trust("threshold: 1\n", "");
        f
    }

    /// Writes `trust.yaml`: publisher and alice, with `extra` at the top level and
    /// `publisher_extra` inside the publisher's entry.
    fn trust(&self, extra: &str, publisher_extra: &str) {
        let text = format!(
            "version: 1\nkeys:\n  {PUBLISHER_ID}:\n    name: publisher\n    path: publisher.pub\n{publisher_extra}  {}:\n    name: alice\n    path: alice.pub\n{extra}",
            self.alice
        );
        fs::write(self.dir.join("trust.yaml"), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        govern_in(&self.dir, args)
    }

    fn sign(&self, args: &[&str]) -> Run {
        let mut all = vec!["sign"];
        all.extend_from_slice(args);
        let r = self.run(&all);
        assert_eq!(r.code, 0, "sign {args:?}: {}", r.stderr);
        r
    }

    fn sign_plugin(&self) {
        self.sign(&[
            "plugin",
            "--key",
            "publisher.key",
            "--created",
            "2026-11-23T10:00:00Z",
        ]);
    }

    fn verify(&self, extra: &[&str]) -> Run {
        let mut all = vec!["verify", "plugin", "--trust", "trust.yaml"];
        all.extend_from_slice(extra);
        self.run(&all)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn envelope(&self) -> Envelope {
        Envelope::parse(&fs::read_to_string(self.path("plugin.sig.json")).unwrap()).unwrap()
    }

    fn write_envelope(&self, env: &Envelope) {
        fs::write(self.path("plugin.sig.json"), env.to_json()).unwrap();
    }

    fn publisher(&self) -> PrivateKey {
        PrivateKey::from_pem(&fs::read_to_string(self.path("publisher.key")).unwrap()).unwrap()
    }

    /// Signs arbitrary payload bytes as the publisher, as a forger holding the key could.
    fn envelope_for(&self, payload: &[u8]) {
        let mut env = Envelope::new(payload);
        let key = self.publisher();
        env.add_signature(key.id(), &key.sign(&dsse::pae(dsse::PAYLOAD_TYPE, payload)));
        self.write_envelope(&env);
    }

    fn redact(&self, s: &str) -> String {
        let s = s
            .replace(&self.alice, "<alice-id>")
            .replace(&self.bob, "<bob-id>")
            .replace(&self.dir.display().to_string(), "<dir>");
        // Other digests depend on file contents (and bundles on the compiler's output).
        let digest = regex::Regex::new("sha256:[0-9a-f]{64}").unwrap();
        digest.replace_all(&s, "sha256:<digest>").into_owned()
    }
}

fn has_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!(
            "SKIPPED: the `openssl` binary is not installed; OpenSSL interoperability is not checked"
        );
    }
    ok
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------
// keygen and keyid

#[test]
fn keygen_writes_a_private_and_a_public_key() {
    let f = Fixture::new("keygen");
    let key = fs::read_to_string(f.path("alice.key")).unwrap();
    let public = fs::read_to_string(f.path("alice.pub")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{public}"
    );
    assert!(
        f.alice.starts_with("sha256:") && f.alice.len() == 71,
        "{}",
        f.alice
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(f.path("alice.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(f.run(&["keyid", "alice.pub"]).stdout.trim(), f.alice);
    // The id of a private key is the id of its public key; the key itself is never shown.
    let from_private = f.run(&["keyid", "alice.key"]);
    assert_eq!(from_private.stdout.trim(), f.alice);
    let body = key.lines().nth(1).unwrap();
    assert!(!from_private.stdout.contains(body) && !from_private.stderr.contains(body));
    snap!(
        "sign_keyid_several",
        f.run(&["keyid", "alice.pub", "bob.pub"]).show(&f)
    );
}

#[test]
fn keygen_never_overwrites() {
    let f = Fixture::new("keygen-overwrite");
    let before = fs::read(f.path("alice.key")).unwrap();
    let again = f.run(&["keygen", "-o", "alice"]);
    snap!("sign_keygen_exists", again.show(&f));
    assert_eq!(fs::read(f.path("alice.key")).unwrap(), before);
    // Only the public key left over: still refused, and no private key is written.
    fs::remove_file(f.path("bob.key")).unwrap();
    let half = f.run(&["keygen", "-o", "bob"]);
    assert_eq!(half.code, 2);
    assert!(!f.path("bob.key").exists());
    snap!(
        "sign_keygen_extension",
        f.run(&["keygen", "-o", "carol.key"]).show(&f)
    );
}

#[test]
fn openssl_reads_our_keys_and_we_read_openssl_keys() {
    if !has_openssl() {
        return;
    }
    let f = Fixture::new("openssl");
    // Ours → OpenSSL: it derives the same public key and the same key id.
    let (ok, public, err) = openssl(&f.dir, &["pkey", "-in", "alice.key", "-pubout"]);
    assert!(ok, "{err}");
    assert_eq!(public, fs::read(f.path("alice.pub")).unwrap());
    let (ok, der, err) = openssl(
        &f.dir,
        &["pkey", "-pubin", "-in", "alice.pub", "-outform", "DER"],
    );
    assert!(ok, "{err}");
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(f.alice, format!("sha256:{hex}"));

    // OpenSSL → ours: a key from `openssl genpkey` signs, and verifies under its id.
    let (ok, _, err) = openssl(
        &f.dir,
        &["genpkey", "-algorithm", "ed25519", "-out", "ossl.key"],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = openssl(
        &f.dir,
        &["pkey", "-in", "ossl.key", "-pubout", "-out", "ossl.pub"],
    );
    assert!(ok, "{err}");
    let id = f.run(&["keyid", "ossl.pub"]).stdout.trim().to_string();
    assert_eq!(f.run(&["keyid", "ossl.key"]).stdout.trim(), id);
    fs::write(
        f.path("trust.yaml"),
        format!("keys:\n  {id}:\n    name: openssl\n    path: ossl.pub\n"),
    )
    .unwrap();
    set_mode(&f.path("ossl.key"), 0o600);
    f.sign(&["plugin", "--key", "ossl.key"]);
    let v = f.verify(&[]);
    assert_eq!(v.code, 0, "{}", v.stderr);

    // OpenSSL checks our signature over DSSE's PAE with the public key alone.
    let env = f.envelope();
    let payload = env.payload_bytes().unwrap();
    fs::write(f.path("pae.bin"), dsse::pae(&env.payload_type, &payload)).unwrap();
    fs::write(
        f.path("sig.bin"),
        dsse::decode(&env.signatures[0].sig).unwrap(),
    )
    .unwrap();
    let (ok, out, err) = openssl(
        &f.dir,
        &[
            "pkeyutl", "-verify", "-pubin", "-inkey", "ossl.pub", "-rawin", "-in", "pae.bin",
            "-sigfile", "sig.bin",
        ],
    );
    assert!(ok, "{err} {}", String::from_utf8_lossy(&out));

    // Keys OpenSSL makes that are not Ed25519 are refused with a reason.
    let (ok, _, err) = openssl(
        &f.dir,
        &["genpkey", "-algorithm", "x25519", "-out", "x.key"],
    );
    assert!(ok, "{err}");
    set_mode(&f.path("x.key"), 0o600);
    snap!(
        "sign_openssl_x25519",
        f.run(&["sign", "plugin", "--key", "x.key"]).show(&f)
    );
    let (ok, _, err) = openssl(
        &f.dir,
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-aes256",
            "-pass",
            "pass:secret",
            "-out",
            "enc.key",
        ],
    );
    assert!(ok, "{err}");
    set_mode(&f.path("enc.key"), 0o600);
    snap!(
        "sign_openssl_encrypted",
        f.run(&["sign", "plugin", "--key", "enc.key"]).show(&f)
    );
}

// ---------------------------------------------------------------------------------------
// sign

#[test]
fn signing_is_reproducible_and_matches_the_committed_envelope() {
    let f = Fixture::new("golden");
    let r = f.sign(&[
        "plugin",
        "--key",
        "publisher.key",
        "--created",
        "2026-11-23T10:00:00Z",
    ]);
    snap!("sign_plugin", r.show(&f));
    let golden = Path::new(ROOT).join("testdata/signing/sample-plugin.sig.json");
    assert_eq!(
        fs::read_to_string(f.path("plugin.sig.json")).unwrap(),
        fs::read_to_string(golden).unwrap()
    );
    snap!("sign_verify_ok", f.verify(&[]).show(&f));
    // The committed example verifies in place too.
    let data = Path::new(ROOT).join("testdata/signing");
    let r = govern_in(&data, &["verify", "sample-plugin", "--trust", "trust.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_second_key_adds_a_signature_and_meets_a_threshold_of_two() {
    let f = Fixture::new("threshold");
    f.trust("threshold: 2\n", "");
    f.sign_plugin();
    snap!("sign_threshold_short", f.verify(&[]).show(&f));
    let second = f.sign(&["plugin", "--key", "alice.key"]);
    snap!("sign_second_signature", second.show(&f));
    assert_eq!(f.envelope().signatures.len(), 2);
    snap!("sign_threshold_met", f.verify(&[]).show(&f));
    // Signing again with the same key changes nothing.
    let same = f.sign(&["plugin", "--key", "alice.key"]);
    assert!(same.stdout.contains("nothing changed"), "{}", same.stdout);
    // A second signature by one key is refused as the envelope is read.
    let mut env = f.envelope();
    let alice = env
        .signatures
        .iter()
        .find(|s| s.keyid == f.alice)
        .unwrap()
        .clone();
    env.signatures.retain(|s| s.keyid == f.alice);
    env.signatures.push(alice);
    f.write_envelope(&env);
    let r = f.verify(&[]);
    assert_eq!(r.code, 1);
    assert!(
        flat(&r.stderr).contains("signs twice; each key signs an envelope once"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_second_signature_takes_name_and_version_from_the_envelope() {
    // `govern sign --help`'s example: a bundle signed with `--version`, then a second key
    // with `--key` alone.
    let f = Fixture::new("second_bundle");
    fs::write(f.path("policies.govb"), b"not read by sign").unwrap();
    f.sign(&[
        "policies.govb",
        "--key",
        "publisher.key",
        "--version",
        "1.4.0",
    ]);
    let second = f.sign(&["policies.govb", "--key", "alice.key"]);
    assert!(
        second
            .stdout
            .contains("(2 signatures) over bundle `policies` 1.4.0"),
        "{}",
        second.stdout
    );
    assert_eq!(
        f.run(&["verify", "policies.govb", "--trust", "trust.yaml"])
            .code,
        0
    );
    // An option that differs from the envelope is still refused.
    let other = f.run(&[
        "sign",
        "policies.govb",
        "--key",
        "bob.key",
        "--version",
        "1.5.0",
    ]);
    assert_eq!(other.code, 2, "{}", other.stdout);
    assert!(
        flat(&other.stderr).contains("version 1.4.0 → 1.5.0"),
        "{}",
        other.stderr
    );
}

#[test]
fn signing_changed_contents_into_an_old_envelope_is_refused() {
    let f = Fixture::new("resign");
    f.sign_plugin();
    fs::write(f.path("plugin/README.md"), "changed\n").unwrap();
    fs::write(f.path("plugin/NEW.md"), "new\n").unwrap();
    snap!(
        "sign_changed_contents",
        f.run(&["sign", "plugin", "--key", "alice.key"]).show(&f)
    );
    let r = f.run(&[
        "sign",
        "plugin",
        "--key",
        "alice.key",
        "--created",
        "2027-01-01T00:00:00Z",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("created 2026-11-23T10:00:00Z →"),
        "{}",
        r.stderr
    );
}

#[test]
fn sign_errors_are_explained() {
    let f = Fixture::new("sign-errors");
    snap!(
        "sign_with_public_key",
        f.run(&["sign", "plugin", "--key", "alice.pub"]).show(&f)
    );
    fs::write(
        f.path("broken.key"),
        "-----BEGIN PRIVATE KEY-----\nSECRETMATERIALSECRETMATERIAL\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    set_mode(&f.path("broken.key"), 0o600);
    let broken = f.run(&["sign", "plugin", "--key", "broken.key"]);
    assert!(
        !broken.stderr.contains("SECRETMATERIAL"),
        "{}",
        broken.stderr
    );
    snap!("sign_broken_key", broken.show(&f));
    fs::write(f.path("empty.key"), "").unwrap();
    snap!(
        "sign_empty_key",
        f.run(&["sign", "plugin", "--key", "empty.key"]).show(&f)
    );
    snap!(
        "sign_missing_key",
        f.run(&["sign", "plugin", "--key", "nope.key"]).show(&f)
    );
    set_mode(&f.path("publisher.key"), 0o644);
    let loose = f.run(&[
        "sign",
        "plugin",
        "--key",
        "publisher.key",
        "--out",
        "loose.sig.json",
    ]);
    assert_eq!(loose.code, 0);
    if cfg!(unix) {
        snap!("sign_key_mode_warning", loose.show(&f));
    }
    set_mode(&f.path("publisher.key"), 0o600);
    snap!(
        "sign_version_conflict",
        f.run(&[
            "sign",
            "plugin",
            "--key",
            "publisher.key",
            "--version",
            "9.9.9"
        ])
        .show(&f)
    );
    snap!(
        "sign_inside_plugin",
        f.run(&[
            "sign",
            "plugin",
            "--key",
            "publisher.key",
            "--out",
            "plugin/x.sig.json"
        ])
        .show(&f)
    );
    snap!(
        "sign_bad_expiry",
        f.run(&[
            "sign",
            "plugin",
            "--key",
            "publisher.key",
            "--expires",
            "soon"
        ])
        .show(&f)
    );
    // Several files need one envelope named with --out.
    snap!(
        "sign_files_without_out",
        f.run(&[
            "sign",
            "plugin/README.md",
            "plugin/agent-plugin.yaml",
            "--key",
            "publisher.key"
        ])
        .show(&f)
    );
    fs::write(
        f.path("plugin/agent-plugin.yaml"),
        "name: x\nversion: 1.0\n",
    )
    .unwrap();
    snap!(
        "sign_numeric_version",
        f.run(&["sign", "plugin", "--key", "publisher.key"])
            .show(&f)
    );
    #[cfg(unix)]
    {
        fs::write(
            f.path("plugin/agent-plugin.yaml"),
            "name: x\nversion: \"1.0\"\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("README.md", f.path("plugin/link.md")).unwrap();
        snap!(
            "sign_symlink_refused",
            f.run(&["sign", "plugin", "--key", "publisher.key"])
                .show(&f)
        );
    }
}

#[test]
fn bundles_and_files() {
    let f = Fixture::new("bundles");
    let brief = Path::new(ROOT).join("testdata/examples/brief.gov");
    let b = f.run(&["build", brief.to_str().unwrap(), "-o", "policies.govb"]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    snap!(
        "sign_bundle_needs_version",
        f.run(&["sign", "policies.govb", "--key", "publisher.key"])
            .show(&f)
    );
    f.sign(&[
        "policies.govb",
        "--key",
        "publisher.key",
        "--version",
        "1.0.0",
        "--created",
        "2026-11-23T10:00:00Z",
        "--expires",
        "2200-01-01T00:00:00Z",
    ]);
    let env =
        Envelope::parse(&fs::read_to_string(f.path("policies.govb.sig.json")).unwrap()).unwrap();
    let m = Manifest::from_payload(&env.payload_bytes().unwrap()).unwrap();
    assert_eq!(m.name, "policies");
    assert_eq!(m.expires.as_deref(), Some("2200-01-01T00:00:00Z"));
    assert_eq!(m.files.keys().collect::<Vec<_>>(), ["policies.govb"]);
    snap!(
        "sign_verify_bundle_ok",
        f.run(&["verify", "policies.govb", "--trust", "trust.yaml"])
            .show(&f)
    );
    // A bundle renamed after signing: its envelope lists another name.
    fs::copy(f.path("policies.govb"), f.path("renamed.govb")).unwrap();
    snap!(
        "sign_bundle_renamed",
        f.run(&[
            "verify",
            "renamed.govb",
            "--trust",
            "trust.yaml",
            "--signature",
            "policies.govb.sig.json",
        ])
        .show(&f)
    );
    // The envelope of a bundle does not vouch for a plugin.
    fs::copy(f.path("policies.govb.sig.json"), f.path("plugin.sig.json")).unwrap();
    snap!("sign_kind_mismatch", f.verify(&[]).show(&f));

    // Files, listed relative to the envelope's directory.
    fs::create_dir_all(f.path("release")).unwrap();
    fs::write(f.path("release/a.txt"), "a\n").unwrap();
    fs::write(f.path("release/b.txt"), "b\n").unwrap();
    fs::write(f.path("release/c.txt"), "c\n").unwrap();
    f.sign(&[
        "release/a.txt",
        "release/b.txt",
        "--key",
        "publisher.key",
        "--out",
        "release.sig.json",
        "--version",
        "2",
    ]);
    let ok = f.run(&[
        "verify",
        "release/b.txt",
        "release/a.txt",
        "--trust",
        "trust.yaml",
        "--signature",
        "release.sig.json",
    ]);
    snap!("sign_files_ok", ok.show(&f));
    let extra = f.run(&[
        "verify",
        "release/a.txt",
        "release/c.txt",
        "--trust",
        "trust.yaml",
        "--signature",
        "release.sig.json",
    ]);
    snap!("sign_files_unlisted", extra.show(&f));
}

// ---------------------------------------------------------------------------------------
// verify: each check, with its own message

fn tamper_case(name: &str, prepare: impl FnOnce(&Fixture)) {
    let f = Fixture::new(name);
    f.sign_plugin();
    prepare(&f);
    let r = f.verify(&[]);
    assert_eq!(r.code, 1, "{name}: {}", r.stderr);
    snap!(format!("sign_{name}"), r.show(&f));
}

#[test]
fn unsigned() {
    let f = Fixture::new("unsigned");
    snap!("sign_unsigned", f.verify(&[]).show(&f));
}

#[test]
fn wrong_key() {
    let f = Fixture::new("wrong_key");
    f.sign(&["plugin", "--key", "bob.key"]);
    let r = f.verify(&[]);
    assert_eq!(r.code, 1);
    snap!("sign_wrong_key", r.show(&f));
}

#[test]
fn truncated_signature() {
    tamper_case("truncated_signature", |f| {
        let mut env = f.envelope();
        let sig = dsse::decode(&env.signatures[0].sig).unwrap();
        env.signatures[0].sig = base64(&sig[..63]);
        f.write_envelope(&env);
    });
}

#[test]
fn altered_signature() {
    tamper_case("altered_signature", |f| {
        let mut env = f.envelope();
        let mut sig = dsse::decode(&env.signatures[0].sig).unwrap();
        sig[10] ^= 1;
        env.signatures[0].sig = base64(&sig);
        f.write_envelope(&env);
    });
}

#[test]
fn swapped_payload() {
    tamper_case("swapped_payload", |f| {
        // Another manifest (a newer version of the same files), with the old signature.
        let mut env = f.envelope();
        let mut m = Manifest::from_payload(&env.payload_bytes().unwrap()).unwrap();
        m.version = "9.0.0".into();
        env.payload = base64(&m.to_payload());
        f.write_envelope(&env);
    });
}

#[test]
fn payload_type() {
    tamper_case("payload_type", |f| {
        let mut env = f.envelope();
        env.payload_type = "application/vnd.in-toto+json".into();
        f.write_envelope(&env);
    });
}

#[test]
fn malformed_envelope() {
    tamper_case("malformed_envelope", |f| {
        let text = fs::read_to_string(f.path("plugin.sig.json")).unwrap();
        fs::write(
            f.path("plugin.sig.json"),
            text.replace("\"sig\"", "\"signature\""),
        )
        .unwrap();
    });
}

#[test]
fn added_file() {
    tamper_case("added_file", |f| {
        fs::write(f.path("plugin/tools/delete_everything.json"), "{}\n").unwrap();
    });
}

#[test]
fn removed_file() {
    tamper_case("removed_file", |f| {
        fs::remove_file(f.path("plugin/README.md")).unwrap();
    });
}

#[test]
fn renamed_file() {
    tamper_case("renamed_file", |f| {
        fs::rename(f.path("plugin/README.md"), f.path("plugin/README.txt")).unwrap();
    });
}

#[test]
fn changed_file() {
    tamper_case("changed_file", |f| {
        let p = f.path("plugin/tools/get_forecast.json");
        let text = fs::read_to_string(&p).unwrap();
        fs::write(&p, text.replace("\"maximum\": 7", "\"maximum\": 700")).unwrap();
    });
}

#[cfg(unix)]
#[test]
fn symlink() {
    tamper_case("symlink", |f| {
        // The link replaces a signed file with the very same contents: still refused.
        let p = f.path("plugin/README.md");
        fs::rename(&p, f.path("README.md")).unwrap();
        std::os::unix::fs::symlink("../README.md", &p).unwrap();
    });
}

#[cfg(unix)]
#[test]
fn symlinked_directory() {
    tamper_case("symlinked_directory", |f| {
        fs::rename(f.path("plugin/tools"), f.path("tools")).unwrap();
        std::os::unix::fs::symlink("../tools", f.path("plugin/tools")).unwrap();
    });
}

#[test]
fn path_escaping_the_root() {
    tamper_case("path_escape", |f| {
        // Even a trusted key cannot make verification read outside the root.
        let env = f.envelope();
        let mut m = Manifest::from_payload(&env.payload_bytes().unwrap()).unwrap();
        m.files.insert(
            "../publisher.key".into(),
            format!("sha256:{}", "0".repeat(64)),
        );
        f.envelope_for(&m.to_payload());
    });
}

#[test]
fn non_canonical_payload() {
    tamper_case("non_canonical", |f| {
        let env = f.envelope();
        let text = String::from_utf8(env.payload_bytes().unwrap()).unwrap();
        f.envelope_for(text.replacen(',', ", ", 1).as_bytes());
    });
}

#[test]
fn metadata_mismatch() {
    tamper_case("metadata_mismatch", |f| {
        let env = f.envelope();
        let mut m = Manifest::from_payload(&env.payload_bytes().unwrap()).unwrap();
        m.name = "other-tools".into();
        f.envelope_for(&m.to_payload());
    });
}

#[test]
fn expired_manifest() {
    let f = Fixture::new("expired");
    f.sign(&[
        "plugin",
        "--key",
        "publisher.key",
        "--created",
        "2020-01-01T00:00:00Z",
        "--expires",
        "30d",
    ]);
    let r = f.verify(&[]);
    assert_eq!(r.code, 1);
    // The message names the expiry and the current time: keep the former only.
    let shown = r.show(&f);
    let shown = shown.split(" (it is now").next().unwrap().to_string();
    snap!("sign_expired", shown);
}

#[test]
fn revoked_key() {
    let f = Fixture::new("revoked");
    f.trust(&format!("revoked:\n  - {PUBLISHER_ID}\n"), "");
    f.sign_plugin();
    let r = f.verify(&[]);
    assert_eq!(r.code, 1);
    snap!("sign_revoked", r.show(&f));
}

#[test]
fn key_validity_windows() {
    let f = Fixture::new("key-window");
    f.sign_plugin();
    f.trust("", "    not_before: 2200-01-01T00:00:00Z\n");
    let early = f.verify(&[]);
    assert_eq!(early.code, 1);
    snap!("sign_key_not_yet_valid", early.show(&f));
    f.trust(
        "",
        "    not_before: 2020-01-01T00:00:00Z\n    not_after: 2021-01-01T00:00:00Z\n",
    );
    let late = f.verify(&[]);
    assert_eq!(late.code, 1);
    snap!("sign_key_expired", late.show(&f));
    f.trust(
        "",
        "    not_before: 2020-01-01T00:00:00Z\n    not_after: 2999-01-01T00:00:00Z\n",
    );
    assert_eq!(f.verify(&[]).code, 0);
}

#[test]
fn rollback() {
    let f = Fixture::new("rollback");
    f.sign_plugin();
    let first = f.verify(&["--state", "seen.json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    snap!(
        "sign_state_file",
        fs::read_to_string(f.path("seen.json")).unwrap()
    );
    // A newer version is recorded…
    let yaml = f.path("plugin/agent-plugin.yaml");
    let text = fs::read_to_string(&yaml).unwrap();
    fs::write(&yaml, text.replace("version: 1.2.0", "version: 1.10.0")).unwrap();
    fs::remove_file(f.path("plugin.sig.json")).unwrap();
    f.sign_plugin();
    assert_eq!(f.verify(&["--state", "seen.json"]).code, 0);
    assert!(
        fs::read_to_string(f.path("seen.json"))
            .unwrap()
            .contains("\"1.10.0\"")
    );
    // …and the old one, though validly signed, is now refused.
    fs::write(&yaml, &text).unwrap();
    fs::remove_file(f.path("plugin.sig.json")).unwrap();
    f.sign_plugin();
    assert_eq!(f.verify(&[]).code, 0);
    let r = f.verify(&["--state", "seen.json"]);
    assert_eq!(r.code, 1);
    snap!("sign_rollback", r.show(&f));
    fs::write(f.path("bad-state.json"), "{\"version\":1,\"last_seen\":[]}").unwrap();
    snap!(
        "sign_bad_state",
        f.verify(&["--state", "bad-state.json"]).show(&f)
    );
}

#[test]
fn json_reports() {
    let f = Fixture::new("json");
    f.sign_plugin();
    snap!(
        "sign_verify_json_ok",
        f.verify(&["--format", "json"]).show(&f)
    );
    fs::write(f.path("plugin/extra.txt"), "x\n").unwrap();
    snap!(
        "sign_verify_json_failed",
        f.verify(&["--format", "json"]).show(&f)
    );
    let v: serde_json::Value =
        serde_json::from_str(&f.verify(&["--format", "json"]).stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["failures"][0]["check"], "unlisted");
}

#[test]
fn bad_trust_files() {
    let f = Fixture::new("bad-trust");
    f.sign_plugin();
    let mut shown = String::new();
    let cases: [(&str, String); 8] = [
        ("empty", String::new()),
        ("not yaml", "keys: [\n".into()),
        (
            "unknown field",
            format!(
                "keys:\n  {PUBLISHER_ID}:\n    name: p\n    path: publisher.pub\n    trusted: yes\n"
            ),
        ),
        (
            "wrong id",
            format!(
                "keys:\n  {}:\n    name: p\n    path: publisher.pub\n",
                f.alice
            ),
        ),
        (
            "private key",
            format!("keys:\n  {PUBLISHER_ID}:\n    name: p\n    path: publisher.key\n"),
        ),
        (
            "bad pem",
            format!(
                "keys:\n  {PUBLISHER_ID}:\n    name: p\n    pem: \"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n\"\n"
            ),
        ),
        (
            "threshold",
            format!(
                "threshold: 3\nkeys:\n  {PUBLISHER_ID}:\n    name: p\n    path: publisher.pub\n"
            ),
        ),
        (
            "bad time",
            format!(
                "keys:\n  {PUBLISHER_ID}:\n    name: p\n    path: publisher.pub\n    not_after: next year\n"
            ),
        ),
    ];
    for (what, text) in cases {
        fs::write(f.path("bad.yaml"), text).unwrap();
        let r = f.verify_with_trust("bad.yaml");
        assert_eq!(r.code, 2, "{what}: {}", r.stderr);
        shown.push_str(&format!("## {what}\n{}\n", r.show(&f)));
    }
    let private = fs::read_to_string(f.path("publisher.key")).unwrap();
    assert!(!shown.contains(private.lines().nth(1).unwrap()));
    snap!("sign_bad_trust_files", shown);
    snap!(
        "sign_missing_trust_file",
        f.verify_with_trust("nowhere.yaml").show(&f)
    );
    snap!(
        "sign_missing_target",
        f.run(&["verify", "nothing-here", "--trust", "trust.yaml"])
            .show(&f)
    );
}

impl Fixture {
    fn verify_with_trust(&self, trust: &str) -> Run {
        self.run(&["verify", "plugin", "--trust", trust])
    }
}

// ---------------------------------------------------------------------------------------
// eval --trust

#[test]
fn eval_refuses_unsigned_or_tampered_bundles() {
    let f = Fixture::new("eval");
    let brief = Path::new(ROOT).join("testdata/examples/brief.gov");
    assert_eq!(
        f.run(&["build", brief.to_str().unwrap(), "-o", "p.govb"])
            .code,
        0
    );
    fs::write(
        f.path("events.jsonl"),
        "{\"action\":\"tool_call\",\"tool\":\"web_search\",\"agent\":{\"id\":\"a\",\"trust\":700,\"roles\":[\"finance\"]}}\n",
    )
    .unwrap();
    // Unsigned: refused before the events are read (they do not even exist here).
    let unsigned = f.run(&[
        "eval",
        "--bundle",
        "p.govb",
        "--trust",
        "trust.yaml",
        "no-events.jsonl",
    ]);
    assert_eq!(unsigned.code, 2);
    snap!("sign_eval_unsigned", unsigned.show(&f));
    f.sign(&["p.govb", "--key", "publisher.key", "--version", "1.0.0"]);
    let ok = f.run(&[
        "eval",
        "--bundle",
        "p.govb",
        "--trust",
        "trust.yaml",
        "events.jsonl",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stdout.contains("\"decision\":\"allow\""),
        "{}",
        ok.stdout
    );
    // A bundle changed after signing.
    let mut bytes = fs::read(f.path("p.govb")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(f.path("p.govb"), &bytes).unwrap();
    let tampered = f.run(&[
        "eval",
        "--bundle",
        "p.govb",
        "--trust",
        "trust.yaml",
        "events.jsonl",
    ]);
    assert_eq!(tampered.code, 2);
    assert!(tampered.stdout.is_empty(), "{}", tampered.stdout);
    snap!("sign_eval_tampered", tampered.show(&f));
    // Only bundles can be signed.
    let usage = f.run(&[
        "eval",
        "--policy",
        brief.to_str().unwrap(),
        "--trust",
        "trust.yaml",
    ]);
    assert_eq!(usage.code, 2);
    snap!(
        "sign_eval_trust_with_policy",
        usage.show(&f).replace(ROOT, "<root>")
    );
}

// ---------------------------------------------------------------------------------------
// Every byte

fn base64(bytes: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(bytes)
}

fn verify_lib(f: &Fixture, trust: &Trust) -> govern::sign::Report {
    govern::sign::verify(&[f.path("plugin")], trust, &VerifyOptions::default()).unwrap()
}

#[test]
fn flipping_any_byte_of_the_plugin_fails_verification() {
    let f = Fixture::new("flip-files");
    f.sign_plugin();
    let trust = Trust::load(&f.path("trust.yaml")).unwrap();
    assert!(verify_lib(&f, &trust).ok());
    let mut flips = 0;
    for rel in ["agent-plugin.yaml", "README.md", "tools/get_forecast.json"] {
        let p = f.path("plugin").join(rel);
        let original = fs::read(&p).unwrap();
        for i in 0..original.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = original.clone();
                b[i] ^= mask;
                fs::write(&p, &b).unwrap();
                let r = verify_lib(&f, &trust);
                assert!(!r.ok(), "{rel} byte {i} ^ {mask:#x} verified");
                assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
                assert_eq!(r.failures[0].check, Check::Digest);
                assert!(r.failures[0].file.ends_with(rel));
                flips += 1;
            }
        }
        fs::write(&p, &original).unwrap();
    }
    assert!(flips > 600, "{flips}");
    assert!(verify_lib(&f, &trust).ok());
}

#[test]
fn flipping_any_byte_of_the_envelope_fails_verification() {
    let f = Fixture::new("flip-envelope");
    f.sign_plugin();
    let trust = Trust::load(&f.path("trust.yaml")).unwrap();
    let p = f.path("plugin.sig.json");
    let original = fs::read(&p).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..original.len() {
        // Low, case and high bits, and the whole byte. (No single-bit flip turns JSON
        // whitespace into other whitespace, so whitespace bytes must fail too.)
        for mask in [0x01u8, 0x02, 0x20, 0x80, 0xff] {
            let mut b = original.clone();
            b[i] ^= mask;
            fs::write(&p, &b).unwrap();
            let r = verify_lib(&f, &trust);
            assert!(
                !r.ok(),
                "byte {i} ({:?}) ^ {mask:#x} verified",
                char::from(original[i])
            );
            seen.insert(r.failures[0].check);
        }
    }
    fs::write(&p, &original).unwrap();
    assert!(verify_lib(&f, &trust).ok());
    // The tampering was caught by the envelope, type, signature and threshold checks.
    assert!(seen.contains(&Check::Envelope), "{seen:?}");
    assert!(seen.contains(&Check::Signature), "{seen:?}");
    assert!(seen.contains(&Check::Threshold), "{seen:?}");
    assert!(seen.contains(&Check::PayloadType), "{seen:?}");
}

// ---------------------------------------------------------------------------------------
// JCS numbers against a real ECMAScript engine

#[test]
fn number_formatting_matches_node() {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        println!("SKIPPED: `node` is not installed; numbers are checked against RFC 8785 only");
        return;
    }
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut xs: Vec<f64> = Vec::new();
    for i in 0..60_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = match i % 3 {
            // Any bit pattern.
            0 => f64::from_bits(state),
            // Integers and decimals of every size around the notation boundaries.
            1 => (state % 1_000_000_007) as f64 * 10f64.powi((state >> 40) as i32 % 50 - 25),
            // Few-digit decimals, where ties are likely.
            _ => (state % 100_000) as f64 / 10f64.powi((state >> 50) as i32 % 12),
        };
        if x.is_finite() {
            xs.push(x);
        }
    }
    let dir = scratch("node");
    let input: String = xs
        .iter()
        .map(|x| format!("{:016x}\n", x.to_bits()))
        .collect();
    fs::write(dir.join("in.txt"), input).unwrap();
    let script = "const fs=require('fs');const out=[];for(const h of fs.readFileSync(process.argv[1],'utf8').trim().split('\\n')){const b=Buffer.from(h,'hex');out.push(String(b.readDoubleBE(0)));}process.stdout.write(out.join('\\n'));";
    let out = Command::new("node")
        .args(["-e", script, dir.join("in.txt").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node_text = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for (x, want) in xs.iter().zip(node_text.lines()) {
        let want = if want == "-0" { "0" } else { want };
        assert_eq!(
            govern::sign::jcs::format_number(*x).as_deref(),
            Some(want),
            "{:016x}",
            x.to_bits()
        );
        checked += 1;
    }
    assert_eq!(checked, xs.len());
}

// ---------------------------------------------------------------------------------------
// Docs

#[test]
fn the_trust_file_examples_in_the_docs_load() {
    let docs = fs::read_to_string(Path::new(ROOT).join("docs/signing.md")).unwrap();
    let dir = scratch("docs");
    fs::copy(
        Path::new(ROOT).join("testdata/signing/keys/TEST-ONLY-rfc8410.pub"),
        dir.join("publisher.pub"),
    )
    .unwrap();
    fs::write(
        dir.join("backup.pub"),
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let mut found = 0;
    for block in docs.split("```yaml").skip(1) {
        let yaml = block.split("```").next().unwrap();
        if !yaml.contains("keys:") {
            continue;
        }
        let t = Trust::parse(yaml, "docs/signing.md", &dir);
        assert!(t.is_ok(), "{yaml}\n{:?}", t.err());
        found += 1;
    }
    assert!(found >= 1, "no trust file example in docs/signing.md");
}

#[test]
fn the_command_line_is_consistent() {
    use clap::CommandFactory;
    govern::cli::Cli::command().debug_assert();
}

#[test]
fn test_refuses_unsigned_or_tampered_bundles() {
    let f = Fixture::new("testcmd");
    let brief = Path::new(ROOT).join("testdata/examples/brief.gov");
    assert_eq!(
        f.run(&["build", brief.to_str().unwrap(), "-o", "p.govb"])
            .code,
        0
    );
    let suite = "bundle: p.govb\ntests:\n  - name: searching is allowed\n    request: {action: tool_call, tool: web_search, agent: {id: a, trust: 700, roles: [finance]}}\n    expect: allow\n";
    fs::write(f.path("p.test.yaml"), suite).unwrap();
    // Unsigned: refused, and the suite does not count as passed.
    let unsigned = f.run(&["test", "p.test.yaml", "--trust", "trust.yaml"]);
    assert_eq!(unsigned.code, 2, "{}", unsigned.show(&f));
    assert!(
        unsigned.stderr.contains("refused bundle `p.govb`"),
        "{}",
        unsigned.show(&f)
    );
    // Signed: runs.
    f.sign(&["p.govb", "--key", "publisher.key", "--version", "1.0.0"]);
    let ok = f.run(&["test", "p.test.yaml", "--trust", "trust.yaml"]);
    assert_eq!(ok.code, 0, "{}", ok.show(&f));
    // Tampered after signing: refused.
    let mut bytes = fs::read(f.path("p.govb")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(f.path("p.govb"), &bytes).unwrap();
    let tampered = f.run(&["test", "p.test.yaml", "--trust", "trust.yaml"]);
    assert_eq!(tampered.code, 2, "{}", tampered.show(&f));
    assert!(tampered.stderr.contains("digest"), "{}", tampered.show(&f));
    // A suite built from sources cannot be trusted.
    fs::copy(&brief, f.path("brief.gov")).unwrap();
    fs::write(
        f.path("s.test.yaml"),
        suite.replace("bundle: p.govb", "bundle: brief.gov"),
    )
    .unwrap();
    let sources = f.run(&["test", "s.test.yaml", "--trust", "trust.yaml"]);
    assert_eq!(sources.code, 2, "{}", sources.show(&f));
    snap!("sign_test_sources", sources.show(&f));
}

#[test]
fn simulate_refuses_unsigned_bundles() {
    let f = Fixture::new("simulate");
    let brief = Path::new(ROOT).join("testdata/examples/brief.gov");
    let events = Path::new(ROOT).join("testdata/examples/events.jsonl");
    let events = events.to_str().unwrap();
    assert_eq!(
        f.run(&["build", brief.to_str().unwrap(), "-o", "p.govb"])
            .code,
        0
    );
    let unsigned = f.run(&[
        "simulate",
        "--bundle",
        "p.govb",
        "--trust",
        "trust.yaml",
        events,
    ]);
    assert_eq!(unsigned.code, 2, "{}", unsigned.show(&f));
    assert!(
        unsigned.stderr.contains("refused bundle `p.govb`"),
        "{}",
        unsigned.show(&f)
    );
    f.sign(&["p.govb", "--key", "publisher.key", "--version", "1.0.0"]);
    let ok = f.run(&[
        "simulate",
        "--bundle",
        "p.govb",
        "--trust",
        "trust.yaml",
        events,
    ]);
    assert_eq!(ok.code, 0, "{}", ok.show(&f));
    // A baseline bundle must verify too.
    assert_eq!(
        f.run(&["build", brief.to_str().unwrap(), "-o", "b.govb"])
            .code,
        0
    );
    let baseline = f.run(&[
        "simulate",
        "--bundle",
        "p.govb",
        "--baseline-bundle",
        "b.govb",
        "--trust",
        "trust.yaml",
        events,
    ]);
    assert_eq!(baseline.code, 2, "{}", baseline.show(&f));
    assert!(
        baseline.stderr.contains("refused bundle `b.govb`"),
        "{}",
        baseline.show(&f)
    );
    // Policy sources cannot be trusted.
    let sources = f.run(&[
        "simulate",
        "--policy",
        brief.to_str().unwrap(),
        "--trust",
        "trust.yaml",
        events,
    ]);
    assert_eq!(sources.code, 2, "{}", sources.show(&f));
}

#[test]
fn private_keys_in_trust_files_are_refused_and_never_shown() {
    let f = Fixture::new("private-in-trust");
    f.sign_plugin();
    let private = fs::read_to_string(f.path("publisher.key")).unwrap();
    let secret_line = private.lines().nth(1).unwrap().to_string();
    let public = fs::read_to_string(f.path("publisher.pub")).unwrap();
    let indent =
        |text: &str, by: &str| -> String { text.lines().map(|l| format!("{by}{l}\n")).collect() };
    // A public key file with a private key after it.
    fs::write(f.path("both.pem"), format!("{public}{private}")).unwrap();
    let cases: [(&str, String); 4] = [
        ("the private key file itself", private.clone()),
        (
            "a private key where a list belongs",
            format!(
                "keys:\n  {PUBLISHER_ID}:\n    name: p\n    path: publisher.pub\nrevoked: |\n{}",
                indent(&private, "  ")
            ),
        ),
        (
            "a private key after the public one",
            format!(
                "keys:\n  {PUBLISHER_ID}:\n    name: p\n    pem: |\n{}{}",
                indent(&public, "      "),
                indent(&private, "      ")
            ),
        ),
        (
            "a key file holding both",
            format!("keys:\n  {PUBLISHER_ID}:\n    name: p\n    path: both.pem\n"),
        ),
    ];
    let mut shown = String::new();
    for (what, text) in cases {
        fs::write(f.path("bad.yaml"), text).unwrap();
        let r = f.verify_with_trust("bad.yaml");
        assert_eq!(r.code, 2, "{what}: {}{}", r.stdout, r.stderr);
        assert!(
            !r.stderr.contains(&secret_line) && !r.stdout.contains(&secret_line),
            "{what}: the private key was shown: {}",
            r.stderr
        );
        shown.push_str(&format!("## {what}\n{}\n", r.show(&f)));
    }
    snap!("sign_private_key_in_trust_file", shown);
}

#[test]
fn a_verified_bundle_is_the_named_file_even_when_the_manifest_lists_more() {
    use sha2::Digest;
    let f = Fixture::new("bundle-two-files");
    fs::write(f.path("a.govb"), b"the bundle that was asked for").unwrap();
    fs::write(f.path("z.govb"), b"another bundle").unwrap();
    let digest = |rel: &str| {
        let bytes = fs::read(f.path(rel)).unwrap();
        let hex: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    };
    let m = Manifest {
        kind: govern::sign::Kind::Bundle,
        name: "a".into(),
        version: "1".into(),
        created: "2026-11-23T10:00:00Z".into(),
        expires: None,
        files: [
            ("a.govb".to_string(), digest("a.govb")),
            ("z.govb".to_string(), digest("z.govb")),
        ]
        .into_iter()
        .collect(),
    };
    f.envelope_for(&m.to_payload());
    let v = govern::sign::verify_bundle(
        &f.path("a.govb"),
        Some(&f.path("plugin.sig.json")),
        &f.path("trust.yaml"),
        None,
    )
    .unwrap();
    assert_eq!(v.bytes, b"the bundle that was asked for");
}

#[cfg(unix)]
#[test]
fn file_names_are_shown_as_they_are_and_cannot_write_to_the_terminal() {
    let f = Fixture::new("odd-names");
    f.sign_plugin();
    // A name that would erase the line and print something else, and one with a backslash.
    fs::write(f.path("plugin/x\u{1b}[2K\rverified"), "").unwrap();
    fs::write(f.path("plugin/tools\\evil.json"), "").unwrap();
    let r = f.verify(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        !r.stderr.contains('\u{1b}') && !r.stderr.contains('\r'),
        "{:?}",
        r.stderr
    );
    assert!(r.stderr.contains("plugin/tools\\evil.json"), "{}", r.stderr);
    assert!(
        r.stderr.contains("plugin/x\\u{1b}[2K\\rverified"),
        "{}",
        r.stderr
    );
}

#[test]
fn rollback_and_name_pinning_wherever_a_bundle_is_loaded() {
    let f = Fixture::new("bundle-state");
    let brief = Path::new(ROOT).join("testdata/examples/brief.gov");
    let events = Path::new(ROOT).join("testdata/examples/events.jsonl");
    let events = events.to_str().unwrap();
    assert_eq!(
        f.run(&["build", brief.to_str().unwrap(), "-o", "p.govb"])
            .code,
        0
    );
    let suite = "bundle: p.govb\ntests:\n  - name: searching is allowed\n    request: {action: tool_call, tool: web_search, agent: {id: a, trust: 700, roles: [finance]}}\n    expect: allow\n";
    fs::write(f.path("p.test.yaml"), suite).unwrap();
    let resign = |version: &str, extra: &[&str]| {
        let _ = fs::remove_file(f.path("p.govb.sig.json"));
        let mut args = vec!["p.govb", "--key", "publisher.key", "--version", version];
        args.extend_from_slice(extra);
        f.sign(&args);
    };
    let eval = |state: bool| {
        let mut args = vec![
            "eval",
            "--bundle",
            "p.govb",
            "--trust",
            "trust.yaml",
            events,
        ];
        if state {
            args.extend_from_slice(&["--state", "seen.json"]);
        }
        f.run(&args)
    };
    let simulate = || {
        f.run(&[
            "simulate",
            "--bundle",
            "p.govb",
            "--trust",
            "trust.yaml",
            "--state",
            "seen.json",
            events,
        ])
    };
    let test = || {
        f.run(&[
            "test",
            "p.test.yaml",
            "--trust",
            "trust.yaml",
            "--state",
            "seen.json",
        ])
    };

    // Version 2 is loaded and recorded, by every command.
    resign("2.0.0", &[]);
    for r in [eval(true), simulate(), test()] {
        assert_eq!(r.code, 0, "{}", r.show(&f));
    }
    let seen = fs::read_to_string(f.path("seen.json")).unwrap();
    assert!(seen.contains("\"p\": \"2.0.0\""), "{seen}");

    // Version 1, validly signed, is a rollback wherever it is loaded with the state file.
    resign("1.0.0", &[]);
    assert_eq!(eval(false).code, 0);
    for r in [eval(true), simulate(), test()] {
        assert_eq!(r.code, 2, "{}", r.show(&f));
        assert!(
            flat(&r.stderr).contains("rollback check failed")
                && flat(&r.stderr).contains("version 1.0.0 is older than version 2.0.0"),
            "{}",
            r.show(&f)
        );
    }
    snap!("sign_eval_rollback", eval(true).show(&f));

    // A newer release signed under another name is not this bundle, with or without state.
    resign("3.0.0", &["--name", "staging"]);
    for r in [eval(false), eval(true), simulate(), test()] {
        assert_eq!(r.code, 2, "{}", r.show(&f));
        assert!(
            flat(&r.stderr).contains("name check failed")
                && flat(&r.stderr).contains("signed as `staging`, but it is loaded as `p`"),
            "{}",
            r.show(&f)
        );
    }
    // Nothing was recorded for it.
    assert_eq!(fs::read_to_string(f.path("seen.json")).unwrap(), seen);
}

#[test]
fn duplicate_signatures_are_refused_as_the_envelope_is_read() {
    let f = Fixture::new("duplicates");
    f.sign_plugin();
    let mut env = f.envelope();
    let one = env.signatures[0].clone();
    // 80,000 copies of one valid signature, within the size limit of an envelope: before,
    // each was verified (100,000 took 8 s) and the plugin verified.
    env.signatures = vec![one; 80_000];
    let compact = serde_json::to_string(&env).unwrap();
    assert!(compact.len() < 16 << 20);
    fs::write(f.path("plugin.sig.json"), compact).unwrap();
    let r = f.verify(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(flat(&r.stderr).contains("signs twice"), "{}", r.stderr);
    // Distinct keys are bounded too.
    let parsed = Envelope::parse(&format!(
        "{{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{}]}}",
        (0..300)
            .map(|i| format!("{{\"keyid\":\"k{i}\",\"sig\":\"\"}}"))
            .collect::<Vec<_>>()
            .join(",")
    ));
    assert!(
        parsed.unwrap_err().contains("more than 256 signatures"),
        "refused"
    );
}

#[test]
fn versions_have_a_bounded_syntax() {
    let f = Fixture::new("versions");
    let huge = "9".repeat(41);
    fs::write(f.path("x.txt"), "x\n").unwrap();
    let r = f.run(&[
        "sign",
        "x.txt",
        "--key",
        "publisher.key",
        "--version",
        &huge,
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not a version"), "{}", r.stderr);
    // A forger's manifest with such a version does not verify, so it cannot be recorded in a
    // state file where it would outrank every release.
    let digest = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(fs::read(f.path("x.txt")).unwrap());
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    };
    let m = Manifest {
        kind: govern::sign::Kind::Files,
        name: "x".into(),
        version: huge.clone(),
        created: "2026-11-23T10:00:00Z".into(),
        expires: None,
        files: [("x.txt".to_string(), digest)].into_iter().collect(),
    };
    f.envelope_for(&m.to_payload());
    let r = f.run(&[
        "verify",
        "x.txt",
        "--trust",
        "trust.yaml",
        "--signature",
        "plugin.sig.json",
        "--state",
        "seen.json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not a version"), "{}", r.stderr);
    assert!(!f.path("seen.json").exists());
}
