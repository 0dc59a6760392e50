//! Verification: every check, in stages, each failure naming its check and file.
//!
//! 1. envelope: the signature file exists, is a DSSE envelope of the govern payload type,
//!    with base64 payload and signatures;
//! 2. signatures: each one by a trusted key verifies over PAE; enough distinct trusted,
//!    unrevoked keys inside their validity windows signed (`threshold`);
//! 3. manifest: canonical, of the right kind, not expired, not older than the last version
//!    seen, consistent with `agent-plugin.yaml`;
//! 4. files: safe paths, no symbolic links or special files, nothing missing, nothing
//!    unlisted, every digest equal.
//!
//! A stage runs only when the ones before it passed: what an untrusted manifest says about
//! files is not worth reporting.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use super::dsse::{self, Envelope};
use super::manifest::{self, Kind, Manifest};
use super::state::SeenVersions;
use super::target::{Entry, Target};
use super::trust::Trust;
use super::{SignError, format_time};

/// The checks verification makes; each failure names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// The envelope is missing, not JSON, not DSSE, or its base64 is broken.
    Envelope,
    /// The envelope carries something other than a govern manifest.
    PayloadType,
    /// A signature by a trusted key does not verify over the payload.
    Signature,
    /// Fewer distinct trusted keys signed than the trust file's threshold.
    Threshold,
    /// The threshold is not met because a signing key is revoked.
    Revoked,
    /// The threshold is not met because a signing key is outside its validity window.
    KeyValidity,
    /// The payload is not a canonical govern manifest, or contradicts `agent-plugin.yaml`.
    Manifest,
    /// The manifest is for another kind of target.
    Kind,
    /// The manifest names another target than the one loaded.
    Name,
    /// The manifest's `expires` has passed.
    Expired,
    /// The manifest's version is older than the last version seen.
    Rollback,
    /// A listed path is unsafe: absolute, with `..`, or otherwise escaping the root.
    Path,
    /// A symbolic link where a file or directory was expected.
    Symlink,
    /// Something that is not a regular file (a directory, socket, device).
    FileType,
    /// A listed file is absent.
    Missing,
    /// A file is present but not listed.
    Unlisted,
    /// A file's SHA-256 differs from the signed one.
    Digest,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Envelope => "envelope",
            Check::PayloadType => "payload-type",
            Check::Signature => "signature",
            Check::Threshold => "threshold",
            Check::Revoked => "revoked",
            Check::KeyValidity => "key-validity",
            Check::Manifest => "manifest",
            Check::Kind => "kind",
            Check::Name => "name",
            Check::Expired => "expired",
            Check::Rollback => "rollback",
            Check::Path => "path",
            Check::Symlink => "symlink",
            Check::FileType => "file-type",
            Check::Missing => "missing",
            Check::Unlisted => "unlisted",
            Check::Digest => "digest",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub check: Check,
    /// The file the failure is about, as the user named it.
    pub file: String,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} check failed for `{}`: {}",
            self.check, self.file, self.message
        )
    }
}

/// What became of one signature in the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigStatus {
    /// Verified, by a trusted key inside its validity window: counts toward the threshold.
    Valid,
    /// The key id is not in the trust file: ignored.
    UnknownKey,
    /// The key is revoked: never counted.
    Revoked,
    /// The key's `not_before` is still ahead.
    NotYetValid,
    /// The key's `not_after` has passed.
    KeyExpired,
    /// The signature does not verify with the trusted key it names.
    Invalid,
}

impl SigStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SigStatus::Valid => "valid",
            SigStatus::UnknownKey => "unknown-key",
            SigStatus::Revoked => "revoked",
            SigStatus::NotYetValid => "not-yet-valid",
            SigStatus::KeyExpired => "key-expired",
            SigStatus::Invalid => "invalid",
        }
    }
}

/// One signature of the envelope and what verification made of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureReport {
    pub keyid: String,
    /// The key's name in the trust file, when it is there.
    pub name: Option<String>,
    pub status: SigStatus,
}

/// Everything verification found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub target: String,
    pub signature: String,
    pub trust: String,
    /// The kind the target was expected to be.
    pub kind: Option<Kind>,
    /// The manifest, once the signatures over it verified.
    pub manifest: Option<Manifest>,
    pub signatures: Vec<SignatureReport>,
    pub threshold: usize,
    /// Distinct trusted keys whose signatures count.
    pub valid_keys: usize,
    /// The last version seen before this one, with `--state`.
    pub last_seen: Option<String>,
    pub files_checked: usize,
    pub failures: Vec<Failure>,
    /// For a bundle: the bytes whose digest matched.
    pub bundle_bytes: Option<Vec<u8>>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.manifest.is_some()
    }

    fn fail(&mut self, check: Check, file: &str, message: impl Into<String>) {
        self.failures.push(Failure {
            check,
            file: file.to_string(),
            message: message.into(),
        });
    }

    pub fn help(&self) -> Option<&'static str> {
        let first = self.failures.first()?;
        Some(match first.check {
            Check::Envelope | Check::PayloadType => {
                "sign it with `govern sign TARGET --key KEY.key`; a target without a valid envelope is never trusted"
            }
            Check::Signature | Check::Manifest => {
                "the envelope was altered or signed for other contents: get the release again from its publisher"
            }
            Check::Threshold => {
                "more of the keys in the trust file must sign (`govern sign TARGET --key K.key` adds a signature)"
            }
            Check::Revoked => {
                "a revoked key no longer counts: have the release signed again by a key you trust"
            }
            Check::KeyValidity => {
                "the signing key is outside its `not_before`/`not_after` window in the trust file"
            }
            Check::Kind => "verify the target the envelope was made for",
            Check::Name => {
                "a bundle is loaded under the name it was signed as, its file name without `.govb` (what `govern sign` uses unless `--name` is given): sign it without `--name`, or name the file after the name it was signed as"
            }
            Check::Expired => "ask the publisher for a newly signed release",
            Check::Rollback => {
                "a newer version was already accepted; an older one is refused to prevent rollback attacks"
            }
            Check::Path | Check::Symlink | Check::FileType => {
                "signed content holds only regular files at safe relative paths"
            }
            Check::Missing | Check::Unlisted | Check::Digest => {
                "the files differ from what was signed: restore them, or sign the new contents"
            }
        })
    }

    /// One diagnostic per failure, in check order; the first one carries the help.
    pub fn to_diags(&self) -> Vec<crate::diag::Diag> {
        let help = self.help();
        self.failures
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let d = crate::diag::Diag::error(
                    format!("govern::verify::{}", f.check),
                    format!("{} check failed: {}", f.check, f.message),
                )
                .in_file(f.file.clone(), None);
                match (i, help) {
                    (0, Some(h)) => d.help(h),
                    _ => d,
                }
            })
            .collect()
    }

    /// The report for machines.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let manifest = self.manifest.as_ref().map(|m| {
            json!({
                "kind": m.kind.as_str(),
                "name": m.name,
                "version": m.version,
                "created": m.created,
                "expires": m.expires,
                "files": m.files.len(),
            })
        });
        json!({
            "ok": self.ok(),
            "target": self.target,
            "kind": self.kind.map(Kind::as_str),
            "signature": self.signature,
            "trust": self.trust,
            "manifest": manifest,
            "threshold": self.threshold,
            "valid_keys": self.valid_keys,
            "signatures": self.signatures.iter().map(|s| json!({
                "keyid": s.keyid,
                "name": s.name,
                "status": s.status.as_str(),
            })).collect::<Vec<_>>(),
            "last_seen": self.last_seen,
            "files_checked": self.files_checked,
            "failures": self.failures.iter().map(|f| json!({
                "check": f.check.as_str(),
                "file": f.file,
                "message": f.message,
            })).collect::<Vec<_>>(),
        })
    }
}

/// How to verify.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions<'a> {
    /// The envelope; `<target>.sig.json` when `None`.
    pub signature: Option<&'a Path>,
    /// The state file of last-seen versions; no rollback check without it. On success a
    /// newer version is recorded in it.
    pub state: Option<&'a Path>,
    /// The time to verify at, in nanoseconds since the epoch; now when `None`.
    pub now: Option<i64>,
    /// The name the manifest must carry, when the target is pinned to one.
    pub name: Option<&'a str>,
}

/// Verifies the target named by `paths` against `trust`. `Ok` holds the report whether or
/// not the checks passed ([`Report::ok`]); `Err` means the inputs could not be read.
pub fn verify(
    paths: &[std::path::PathBuf],
    trust: &Trust,
    opts: &VerifyOptions,
) -> Result<Report, SignError> {
    let target = super::target::resolve_target(paths, opts.signature)?;
    verify_target(&target, trust, opts)
}

/// Limit on the size of an envelope read into memory.
const MAX_ENVELOPE: crate::limits::Limit = crate::limits::ENVELOPE;

pub(crate) fn verify_target(
    target: &Target,
    trust: &Trust,
    opts: &VerifyOptions,
) -> Result<Report, SignError> {
    let now = opts.now.unwrap_or_else(super::now_ns);
    let sig_name = crate::source::display(&target.signature);
    let mut r = Report {
        target: target.display.clone(),
        signature: sig_name.clone(),
        trust: trust.path.clone(),
        kind: Some(target.kind),
        threshold: trust.threshold,
        ..Report::default()
    };
    let mut state = match opts.state {
        Some(p) => Some(SeenVersions::load(p)?),
        None => None,
    };

    // 1. The envelope.
    let Some((envelope, payload)) = read_envelope(target, &sig_name, &mut r)? else {
        return Ok(r);
    };

    // 2. Signatures and threshold.
    check_signatures(&envelope, &payload, trust, now, &sig_name, &mut r);
    if !r.failures.is_empty() {
        return Ok(r);
    }

    // 3. The manifest.
    let m = match Manifest::from_payload(&payload) {
        Ok(m) => m,
        Err(e) => {
            r.fail(Check::Manifest, &sig_name, e);
            return Ok(r);
        }
    };
    if m.kind != target.kind {
        r.fail(
            Check::Kind,
            &sig_name,
            format!(
                "the manifest is for a {} but `{}` is a {}",
                m.kind, target.display, target.kind
            ),
        );
    }
    if let Some(want) = opts.name
        && m.name != want
    {
        r.fail(
            Check::Name,
            &sig_name,
            format!(
                "the {} is signed as `{}`, but it is loaded as `{want}`: a release signed under another name is not this one",
                m.kind,
                crate::source::printable(&m.name)
            ),
        );
    }
    if let Some(exp) = &m.expires
        && super::parse_time(exp).is_some_and(|t| t <= now)
    {
        r.fail(
            Check::Expired,
            &sig_name,
            format!(
                "the manifest expired at {exp} (it is now {})",
                format_time(now)
            ),
        );
    }
    if let Some(s) = &state
        && let Some(last) = s.get(m.kind, &m.name)
    {
        r.last_seen = Some(last.to_string());
        if manifest::compare_versions(&m.version, last).is_lt() {
            r.fail(
                Check::Rollback,
                &sig_name,
                format!(
                    "{} `{}` version {} is older than version {last}, already seen",
                    m.kind, m.name, m.version
                ),
            );
        }
    }
    r.manifest = Some(m.clone());
    if !r.failures.is_empty() {
        return Ok(r);
    }

    // 4. The files.
    check_files(target, &m, &sig_name, &mut r)?;
    if r.failures.is_empty() && target.kind == Kind::Plugin {
        check_plugin_metadata(target, &m, &sig_name, &mut r);
    }

    if r.failures.is_empty()
        && let (Some(s), Some(p)) = (state.as_mut(), opts.state)
        && s.record(m.kind, &m.name, &m.version)
    {
        s.save(p)?;
    }
    Ok(r)
}

/// Reads and decodes the envelope; failures go into the report.
fn read_envelope(
    target: &Target,
    sig_name: &str,
    r: &mut Report,
) -> Result<Option<(Envelope, Vec<u8>)>, SignError> {
    let meta = match std::fs::symlink_metadata(&target.signature) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            r.fail(
                Check::Envelope,
                sig_name,
                format!(
                    "`{}` is not signed: there is no `{sig_name}`",
                    target.display
                ),
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(SignError::io(
                &target.signature,
                "read the signature file",
                &e,
            ));
        }
    };
    if meta.file_type().is_symlink() || !meta.is_file() {
        r.fail(
            Check::Envelope,
            sig_name,
            "the signature file is not a regular file",
        );
        return Ok(None);
    }
    let bytes = match crate::limits::read_file(&target.signature, MAX_ENVELOPE) {
        Ok(b) => b,
        Err(crate::limits::ReadError::Io(e)) => {
            return Err(SignError::io(
                &target.signature,
                "read the signature file",
                &e,
            ));
        }
        Err(too_large) => {
            r.fail(Check::Envelope, sig_name, too_large.to_string());
            return Ok(None);
        }
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            r.fail(
                Check::Envelope,
                sig_name,
                format!("the signature file is not UTF-8 (byte {})", e.valid_up_to()),
            );
            return Ok(None);
        }
    };
    let env = match Envelope::parse(text) {
        Ok(env) => env,
        Err(e) => {
            r.fail(
                Check::Envelope,
                sig_name,
                format!("not a DSSE envelope: {e}"),
            );
            return Ok(None);
        }
    };
    if env.payload_type != dsse::PAYLOAD_TYPE {
        r.fail(
            Check::PayloadType,
            sig_name,
            format!(
                "the payload type is `{}`, not `{}`",
                env.payload_type,
                dsse::PAYLOAD_TYPE
            ),
        );
        return Ok(None);
    }
    let payload = match env.payload_bytes() {
        Ok(p) => p,
        Err(e) => {
            r.fail(Check::Envelope, sig_name, e);
            return Ok(None);
        }
    };
    if env.signatures.is_empty() {
        r.fail(Check::Envelope, sig_name, "the envelope has no signatures");
        return Ok(None);
    }
    Ok(Some((env, payload)))
}

fn check_signatures(
    env: &Envelope,
    payload: &[u8],
    trust: &Trust,
    now: i64,
    sig_name: &str,
    r: &mut Report,
) {
    let pae = dsse::pae(&env.payload_type, payload);
    let mut counted: BTreeSet<&str> = BTreeSet::new();
    for (i, s) in env.signatures.iter().enumerate() {
        let n = i + 1;
        let key = trust.keys.get(&s.keyid);
        let name = key.map(|k| k.name.clone());
        let who = match &name {
            Some(nm) => format!("`{nm}` ({})", s.keyid),
            None => format!("`{}`", s.keyid),
        };
        let Some(sig) = dsse::decode(&s.sig) else {
            r.fail(
                Check::Envelope,
                sig_name,
                format!("signature {n} (by {who}) is not valid base64"),
            );
            continue;
        };
        let status = if trust.revoked.contains(&s.keyid) {
            SigStatus::Revoked
        } else if let Some(k) = key {
            let Ok(sig) = <[u8; 64]>::try_from(sig.as_slice()) else {
                r.fail(
                    Check::Signature,
                    sig_name,
                    format!(
                        "signature {n} by {who} is {} bytes long; Ed25519 signatures are 64",
                        sig.len()
                    ),
                );
                continue;
            };
            if !k.key.verify(&pae, &sig) {
                r.fail(
                    Check::Signature,
                    sig_name,
                    format!("signature {n} by {who} does not verify over the payload"),
                );
                SigStatus::Invalid
            } else if k.not_before.as_ref().is_some_and(|(_, t)| now < *t) {
                SigStatus::NotYetValid
            } else if k.not_after.as_ref().is_some_and(|(_, t)| now > *t) {
                SigStatus::KeyExpired
            } else {
                // Each key signs once (the envelope reader refuses a second signature), and
                // counts once.
                counted.insert(s.keyid.as_str());
                SigStatus::Valid
            }
        } else {
            SigStatus::UnknownKey
        };
        r.signatures.push(SignatureReport {
            keyid: s.keyid.clone(),
            name,
            status,
        });
    }
    r.valid_keys = counted.len();
    // A signature that does not verify is reported as such; a threshold it leaves unmet
    // follows from it.
    if r.valid_keys >= trust.threshold || !r.failures.is_empty() {
        return;
    }
    let need = format!("{} of the {} required", r.valid_keys, trust.threshold);
    let list = |status: SigStatus| -> Vec<String> {
        r.signatures
            .iter()
            .filter(|s| s.status == status)
            .map(|s| match &s.name {
                Some(nm) => format!("`{nm}` ({})", s.keyid),
                None => format!("`{}`", s.keyid),
            })
            .collect()
    };
    let revoked = list(SigStatus::Revoked);
    let early = list(SigStatus::NotYetValid);
    let late = list(SigStatus::KeyExpired);
    let unknown = list(SigStatus::UnknownKey);
    if !revoked.is_empty() {
        r.fail(
            Check::Revoked,
            sig_name,
            format!(
                "signed by revoked key{} {}: {need} trusted signatures remain",
                plural(revoked.len()),
                revoked.join(", ")
            ),
        );
    } else if !early.is_empty() || !late.is_empty() {
        let mut parts = Vec::new();
        for k in &early {
            let nb = key_bound(trust, k, true);
            parts.push(format!("{k} is not valid before {nb}"));
        }
        for k in &late {
            let na = key_bound(trust, k, false);
            parts.push(format!("{k} expired at {na}"));
        }
        r.fail(
            Check::KeyValidity,
            sig_name,
            format!(
                "{}: {need} trusted signatures are valid now",
                parts.join("; ")
            ),
        );
    } else {
        let mut msg = format!("{need} signatures by distinct trusted keys",);
        if !unknown.is_empty() {
            msg.push_str(&format!("; not in the trust file: {}", unknown.join(", ")));
        }
        r.fail(Check::Threshold, sig_name, msg);
    }
}

fn key_bound(trust: &Trust, shown: &str, before: bool) -> String {
    trust
        .keys
        .values()
        .find(|k| shown.contains(&k.id))
        .and_then(|k| {
            if before {
                k.not_before.as_ref()
            } else {
                k.not_after.as_ref()
            }
        })
        .map(|(t, _)| t.clone())
        .unwrap_or_default()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn check_files(
    target: &Target,
    m: &Manifest,
    sig_name: &str,
    r: &mut Report,
) -> Result<(), SignError> {
    let mut safe: Vec<String> = Vec::new();
    for path in m.files.keys() {
        match manifest::unsafe_path(path) {
            Some(why) => r.fail(
                Check::Path,
                sig_name,
                format!("the manifest lists `{path}`, which is unsafe: {why}"),
            ),
            None => safe.push(path.clone()),
        }
    }
    if !r.failures.is_empty() {
        return Ok(());
    }
    let listing = target.list(&safe)?;
    for name in &listing.unreadable_names {
        r.fail(
            Check::Path,
            &target.show(name),
            "the file name is not UTF-8, so it cannot be listed",
        );
    }
    if target.kind != Kind::Plugin {
        for named in &target.named {
            if !m.files.contains_key(named) {
                r.fail(
                    Check::Unlisted,
                    &target.show(named),
                    "the file is not listed in the signed manifest",
                );
            }
        }
    }
    let mut missing: Vec<&String> = Vec::new();
    let mut unlisted: Vec<&String> = Vec::new();
    for (rel, entry) in &listing.entries {
        let shown = target.show_entry(rel);
        match entry {
            Entry::Symlink => r.fail(
                Check::Symlink,
                &shown,
                "a symbolic link; signed content holds none",
            ),
            Entry::Other => r.fail(Check::FileType, &shown, "not a regular file"),
            Entry::Missing => missing.push(rel),
            Entry::File if !m.files.contains_key(rel) => unlisted.push(rel),
            Entry::File => {}
        }
    }
    // Below a symbolic link or special file nothing is read: what is listed there is not
    // missing, it is behind the entry already reported.
    let blocked: Vec<String> = listing
        .entries
        .iter()
        .filter(|(_, e)| matches!(e, Entry::Symlink | Entry::Other))
        .map(|(rel, _)| format!("{rel}/"))
        .collect();
    for rel in m.files.keys() {
        if !listing.entries.contains_key(rel)
            && target.kind == Kind::Plugin
            && !blocked.iter().any(|b| rel.starts_with(b.as_str()))
        {
            missing.push(rel);
        }
    }
    missing.sort();
    // Digests of unlisted files, to point out renames.
    let mut unlisted_digests: BTreeMap<String, &String> = BTreeMap::new();
    if !missing.is_empty() {
        for rel in &unlisted {
            let (d, _) = target.digest(rel, false)?;
            unlisted_digests.insert(d, rel);
        }
    }
    for rel in &missing {
        let digest = m.files.get(*rel).cloned().unwrap_or_default();
        let msg = match unlisted_digests.get(&digest) {
            Some(other) => format!(
                "the signed file is missing (renamed to `{}`?)",
                target.show(other)
            ),
            None => "the signed file is missing".to_string(),
        };
        r.fail(Check::Missing, &target.show(rel), msg);
    }
    for rel in &unlisted {
        r.fail(
            Check::Unlisted,
            &target.show(rel),
            "the file is not listed in the signed manifest",
        );
    }
    for (rel, entry) in &listing.entries {
        let Some(want) = m.files.get(rel) else {
            continue;
        };
        if *entry != Entry::File {
            continue;
        }
        // The bytes to load are those of the bundle named, never of another file the
        // manifest happens to list.
        let keep = target.kind == Kind::Bundle && target.named.iter().any(|n| n == rel);
        let (got, bytes) = target.digest(rel, keep)?;
        r.files_checked += 1;
        if &got != want {
            r.fail(
                Check::Digest,
                &target.show(rel),
                format!("the contents differ from what was signed (signed {want}, found {got})"),
            );
        } else if keep {
            r.bundle_bytes = bytes;
        }
    }
    r.failures
        .sort_by(|a, b| (a.check, &a.file).cmp(&(b.check, &b.file)));
    Ok(())
}

/// A plugin's `agent-plugin.yaml` (already digest-checked) must name the signed name and
/// version.
fn check_plugin_metadata(target: &Target, m: &Manifest, sig_name: &str, r: &mut Report) {
    if !m.files.contains_key(super::signer::PLUGIN_FILE) {
        return;
    }
    let path = target.path_of(super::signer::PLUGIN_FILE);
    match super::signer::read_plugin_meta(&path) {
        Ok((name, version)) => {
            if name.as_deref().is_some_and(|n| n != m.name) {
                r.fail(
                    Check::Manifest,
                    sig_name,
                    format!(
                        "the manifest names `{}` but `{}` says `name: {}`",
                        m.name,
                        target.show(super::signer::PLUGIN_FILE),
                        name.unwrap_or_default()
                    ),
                );
            }
            if version.as_deref().is_some_and(|v| v != m.version) {
                r.fail(
                    Check::Manifest,
                    sig_name,
                    format!(
                        "the manifest has version {} but `{}` says `version: {}`",
                        m.version,
                        target.show(super::signer::PLUGIN_FILE),
                        version.unwrap_or_default()
                    ),
                );
            }
        }
        Err(e) => r.fail(
            Check::Manifest,
            &target.show(super::signer::PLUGIN_FILE),
            e.to_string(),
        ),
    }
}
