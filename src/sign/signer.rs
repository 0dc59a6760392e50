//! Signing: build the manifest of a target, wrap it in a DSSE envelope, and sign it — or add
//! a signature to the envelope that is already there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::dsse::{self, Envelope};
use super::keys::PrivateKey;
use super::manifest::{Kind, Manifest};
use super::target::{Entry, Target, resolve_target};
use super::{SignError, format_time};

/// The plugin description file whose `name` and `version` a plugin's manifest takes.
pub const PLUGIN_FILE: &str = "agent-plugin.yaml";

/// How to sign.
#[derive(Clone, Debug, Default)]
pub struct SignOptions {
    /// The envelope to write; `<target>.sig.json` when `None`.
    pub out: Option<PathBuf>,
    /// When the manifest expires: RFC 3339, or a duration after `created` (`90d`, `12h`).
    pub expires: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    /// The creation time (RFC 3339); now when `None`.
    pub created: Option<String>,
}

/// What signing did.
#[derive(Clone, Debug)]
pub struct Signed {
    pub envelope: PathBuf,
    pub manifest: Manifest,
    pub keyid: String,
    /// False when this key had already signed this manifest (nothing changed).
    pub added: bool,
    /// True when an existing envelope was extended.
    pub extended: bool,
    pub signatures: usize,
}

/// Signs the target named by `paths` with `key`.
///
/// When the envelope exists already, its manifest must describe the target exactly as it is
/// now (same kind, name, version, files, and the same `created`/`expires` if given): the new
/// signature is added beside the others. Otherwise a new envelope is written.
pub fn sign(paths: &[PathBuf], key: &PrivateKey, opts: &SignOptions) -> Result<Signed, SignError> {
    let target = resolve_target(paths, opts.out.as_deref())?;
    if target.kind == Kind::Plugin {
        refuse_envelope_inside(&target)?;
    }
    let files = digest_all(&target)?;
    let sig_name = crate::source::display(&target.signature);
    let existing = read_existing(&target.signature, &sig_name)?;
    let (name, version) = name_and_version(&target, opts, existing.as_ref().map(|(_, m)| m))?;
    let created_ns = match &opts.created {
        Some(t) => crate::time::parse_rfc3339(t).ok_or_else(|| {
            SignError::usage(
                format!("`--created {t}` is not an RFC 3339 time"),
                Some("write it like `2026-11-23T10:00:00Z`"),
            )
        })?,
        None => super::now_ns() / 1_000_000_000 * 1_000_000_000,
    };
    let expires = match &opts.expires {
        Some(e) => Some(format_time(parse_expiry(e, created_ns)?)),
        None => None,
    };
    let fresh = Manifest {
        kind: target.kind,
        name,
        version,
        created: format_time(created_ns),
        expires,
        files,
    };
    let (mut envelope, manifest, extended) = match existing {
        None => (Envelope::new(&fresh.to_payload()), fresh, false),
        Some((env, old)) => {
            same_manifest(&old, &fresh, opts, &sig_name)?;
            (env, old, true)
        }
    };
    let payload = envelope
        .payload_bytes()
        .map_err(|e| SignError::malformed(&sig_name, None, e, None))?;
    let sig = key.sign(&dsse::pae(&envelope.payload_type, &payload));
    let before = envelope.clone();
    envelope.add_signature(key.id(), &sig);
    let added = envelope != before;
    if added {
        crate::fsutil::write_atomic(&target.signature, envelope.to_json().as_bytes(), None)
            .map_err(|e| SignError::io(&target.signature, "write the signature file", &e))?;
    }
    Ok(Signed {
        envelope: target.signature.clone(),
        manifest,
        keyid: key.id().to_string(),
        added,
        extended,
        signatures: envelope.signatures.len(),
    })
}

/// An envelope inside the plugin directory would be an unlisted file of the plugin.
fn refuse_envelope_inside(target: &Target) -> Result<(), SignError> {
    let dir = match target.signature.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (Ok(dir), Ok(root)) = (
        std::fs::canonicalize(&dir),
        std::fs::canonicalize(&target.root),
    ) else {
        return Ok(());
    };
    if dir.starts_with(&root) {
        return Err(SignError::usage(
            format!(
                "the signature file `{}` would be inside the plugin directory `{}`",
                crate::source::display(&target.signature),
                target.display
            ),
            Some("write it beside the directory (the default, `DIR.sig.json`) with `--out`"),
        ));
    }
    Ok(())
}

/// Every file of the target and its digest; symbolic links and special files are refused.
fn digest_all(target: &Target) -> Result<BTreeMap<String, String>, SignError> {
    let listing = target.list(&target.named)?;
    if let Some(name) = listing.unreadable_names.first() {
        return Err(SignError::usage(
            format!(
                "cannot sign `{}`: the file name is not UTF-8",
                target.show(name)
            ),
            Some("rename it"),
        ));
    }
    let mut files = BTreeMap::new();
    for (rel, entry) in &listing.entries {
        let shown = target.show_entry(rel);
        match entry {
            Entry::File => {
                if let Some(why) = super::manifest::unsafe_path(rel) {
                    return Err(SignError::usage(
                        format!("cannot sign `{shown}`: {why}"),
                        None,
                    ));
                }
                let (d, _) = target.digest(rel, false)?;
                files.insert(rel.clone(), d);
            }
            Entry::Symlink => {
                return Err(SignError::usage(
                    format!("cannot sign `{shown}`: it is a symbolic link"),
                    Some(
                        "signed content holds only regular files: replace the link with a copy of its target, or remove it",
                    ),
                ));
            }
            Entry::Other => {
                return Err(SignError::usage(
                    format!("cannot sign `{shown}`: it is not a regular file"),
                    Some("remove it from the directory"),
                ));
            }
            Entry::Missing => {
                return Err(SignError::usage(
                    format!("cannot sign `{shown}`: it does not exist"),
                    None,
                ));
            }
        }
    }
    if files.is_empty() {
        return Err(SignError::usage(
            format!("`{}` holds no files to sign", target.display),
            None,
        ));
    }
    Ok(files)
}

/// Name and version: from `agent-plugin.yaml` for a plugin that has one, else from the
/// options, else from the envelope being added to (so that a second signature needs only
/// `--key`), the name defaulting to the target's file name.
fn name_and_version(
    target: &Target,
    opts: &SignOptions,
    signed: Option<&Manifest>,
) -> Result<(String, String), SignError> {
    let (mut name, mut version) = (None, None);
    let meta_path = target.path_of(PLUGIN_FILE);
    let shown = crate::source::display(&meta_path);
    if target.kind == Kind::Plugin && meta_path.is_file() {
        let (n, v) = read_plugin_meta(&meta_path)?;
        for (flag, given, found, field) in [
            ("--name", &opts.name, &n, "name"),
            ("--version", &opts.version, &v, "version"),
        ] {
            if let (Some(g), Some(f)) = (given, found)
                && g != f
            {
                return Err(SignError::usage(
                    format!("`{flag} {g}` differs from `{field}: {f}` in `{shown}`"),
                    Some(
                        "a plugin's name and version come from its agent-plugin.yaml: drop the option or edit the file",
                    ),
                ));
            }
        }
        name = n;
        version = v;
    }
    let name = match name
        .or_else(|| opts.name.clone())
        .or_else(|| signed.map(|m| m.name.clone()))
    {
        Some(n) => n,
        None => default_name(target)
            .ok_or_else(|| SignError::usage("the target has no name: pass `--name NAME`", None))?,
    };
    let version = version
        .or_else(|| opts.version.clone())
        .or_else(|| signed.map(|m| m.version.clone()))
        .ok_or_else(|| {
        let help = if target.kind == Kind::Plugin {
            "add `version:` to agent-plugin.yaml or pass `--version 1.0.0`; `govern verify --state` uses it to refuse rollbacks"
        } else {
            "pass `--version 1.0.0`; `govern verify --state` uses it to refuse rollbacks"
        };
        SignError::usage(
            format!("the {} `{name}` has no version", target.kind),
            Some(help),
        )
    })?;
    if let Err(why) = super::manifest::check_version(&version)
        && !version.trim().is_empty()
    {
        return Err(SignError::usage(
            format!("`{version}` is not a version: {why}"),
            Some(
                "versions are numbers like `1.4.0`, with an optional pre-release (`1.4.0-rc.1`); see docs/signing.md",
            ),
        ));
    }
    if name.trim().is_empty() || version.trim().is_empty() {
        return Err(SignError::usage(
            "the name and the version must not be empty",
            None,
        ));
    }
    Ok((name, version))
}

/// The name a target is signed under unless `--name` says otherwise: a plugin's directory
/// name, a bundle's file name without `.govb`, a signature file's name without `.sig.json`.
pub(crate) fn default_name(target: &Target) -> Option<String> {
    let from = |p: &Path| -> Option<String> {
        let p = if p.file_name().is_some() {
            p.to_path_buf()
        } else {
            std::fs::canonicalize(p).ok()?
        };
        p.file_name()?.to_str().map(str::to_string)
    };
    match target.kind {
        Kind::Plugin => from(&target.root),
        Kind::Bundle => target
            .named
            .first()
            .map(|n| n.strip_suffix(".govb").unwrap_or(n).to_string()),
        Kind::Files => from(&target.signature).map(|n| {
            n.strip_suffix(".sig.json")
                .or_else(|| n.strip_suffix(".json"))
                .unwrap_or(&n)
                .to_string()
        }),
    }
}

/// `name` and `version` of an `agent-plugin.yaml` (other fields are the plugin's business).
pub(crate) fn read_plugin_meta(path: &Path) -> Result<(Option<String>, Option<String>), SignError> {
    plugin_meta(path).map_err(|e| e.coded("govern::plugin"))
}

fn plugin_meta(path: &Path) -> Result<(Option<String>, Option<String>), SignError> {
    let shown = crate::source::display(path);
    let text = match crate::limits::read_text(path, crate::limits::PLUGIN_META) {
        Ok(t) => t,
        Err(crate::limits::ReadError::Io(e)) => return Err(SignError::io(path, "read", &e)),
        Err(e) => return Err(SignError::malformed(&shown, None, e.to_string(), None)),
    };
    if let Err(e) = crate::limits::check_yaml(&text) {
        return Err(SignError::malformed(&shown, Some(e.line), e.message, None));
    }
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        SignError::malformed(
            &shown,
            e.location().map(|l| l.line()),
            format!("invalid YAML: {}", strip_location(&e.to_string())),
            None,
        )
    })?;
    let serde_yaml::Value::Mapping(map) = doc else {
        return Err(SignError::malformed(
            &shown,
            None,
            "expected a mapping with `name`, `version`, `author`…",
            None,
        ));
    };
    let field = |key: &str| -> Result<Option<String>, SignError> {
        match map.get(key) {
            None | Some(serde_yaml::Value::Null) => Ok(None),
            Some(serde_yaml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => {
                let line = text
                    .lines()
                    .position(|l| l.starts_with(&format!("{key}:")))
                    .map(|i| i + 1);
                let shown_value = serde_yaml::to_string(other).unwrap_or_default();
                Err(SignError::malformed(
                    &shown,
                    line,
                    format!("`{key}` must be a string, not `{}`", shown_value.trim()),
                    Some(&format!("quote it: `{key}: \"{}\"`", shown_value.trim())),
                ))
            }
        }
    };
    Ok((field("name")?, field("version")?))
}

fn strip_location(msg: &str) -> String {
    msg.find(" at line ")
        .and_then(|i| msg.get(..i))
        .unwrap_or(msg)
        .to_string()
}

/// An existing envelope and its manifest, if the file exists.
fn read_existing(path: &Path, shown: &str) -> Result<Option<(Envelope, Manifest)>, SignError> {
    let text = match crate::limits::read_text(path, crate::limits::ENVELOPE) {
        Ok(t) => t,
        Err(crate::limits::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(crate::limits::ReadError::Io(e)) => {
            return Err(SignError::io(path, "read the signature file", &e));
        }
        Err(e) => {
            return Err(SignError::malformed(
                shown,
                None,
                format!("cannot add a signature: {e}"),
                None,
            ));
        }
    };
    let help = Some("remove it to sign from scratch, or write a new one with `--out`");
    let env = Envelope::parse(&text).map_err(|e| {
        SignError::malformed(
            shown,
            None,
            format!("cannot add a signature: not a DSSE envelope: {e}"),
            help,
        )
    })?;
    if env.payload_type != dsse::PAYLOAD_TYPE {
        return Err(SignError::malformed(
            shown,
            None,
            format!(
                "cannot add a signature: the payload type is `{}`",
                env.payload_type
            ),
            help,
        ));
    }
    let payload = env.payload_bytes().map_err(|e| {
        SignError::malformed(shown, None, format!("cannot add a signature: {e}"), help)
    })?;
    let m = Manifest::from_payload(&payload).map_err(|e| {
        SignError::malformed(shown, None, format!("cannot add a signature: {e}"), help)
    })?;
    Ok(Some((env, m)))
}

/// The existing manifest must be the one that would be signed now.
fn same_manifest(
    old: &Manifest,
    new: &Manifest,
    opts: &SignOptions,
    shown: &str,
) -> Result<(), SignError> {
    let mut diffs = Vec::new();
    if old.kind != new.kind {
        diffs.push(format!("kind {} → {}", old.kind, new.kind));
    }
    if old.name != new.name {
        diffs.push(format!("name `{}` → `{}`", old.name, new.name));
    }
    if old.version != new.version {
        diffs.push(format!("version {} → {}", old.version, new.version));
    }
    if opts.created.is_some() && old.created != new.created {
        diffs.push(format!("created {} → {}", old.created, new.created));
    }
    if opts.expires.is_some() && old.expires != new.expires {
        diffs.push(format!(
            "expires {} → {}",
            old.expires.as_deref().unwrap_or("never"),
            new.expires.as_deref().unwrap_or("never")
        ));
    }
    for (path, d) in &new.files {
        match old.files.get(path) {
            None => diffs.push(format!("`{path}` added")),
            Some(o) if o != d => diffs.push(format!("`{path}` changed")),
            Some(_) => {}
        }
    }
    for path in old.files.keys() {
        if !new.files.contains_key(path) {
            diffs.push(format!("`{path}` removed"));
        }
    }
    if diffs.is_empty() {
        return Ok(());
    }
    Err(SignError::usage(
        format!("`{shown}` signs a different manifest: {}", diffs.join(", ")),
        Some(
            "signatures in one envelope all cover the same manifest: remove the old envelope to sign the new contents from scratch, or write another with `--out`",
        ),
    ))
}

/// An expiry: an RFC 3339 time, or a duration after `created` such as `90d`, `12h`,
/// `1w`, `1y` (365 days) or combinations like `1d12h`.
pub fn parse_expiry(text: &str, created: i64) -> Result<i64, SignError> {
    let bad = || {
        SignError::usage(
            format!("`--expires {text}` is neither an RFC 3339 time nor a duration"),
            Some("write a time like `2027-01-01T00:00:00Z` or a duration like `90d`, `12h`, `1y`"),
        )
    };
    let at = match crate::time::parse_rfc3339(text) {
        Some(t) => t,
        None if super::parse_time(text).is_some() => {
            return Err(SignError::usage(
                format!(
                    "`--expires {text}` is out of range: govern writes times from 1678 to 2261"
                ),
                None,
            ));
        }
        None => {
            let secs = parse_duration(text).ok_or_else(bad)?;
            secs.checked_mul(1_000_000_000)
                .and_then(|ns| created.checked_add(ns))
                .ok_or_else(bad)?
        }
    };
    if at <= created {
        return Err(SignError::usage(
            format!(
                "`--expires {text}` is not after the creation time {}",
                format_time(created)
            ),
            None,
        ));
    }
    Ok(at)
}

fn parse_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut num: Option<i64> = None;
    for c in text.trim().chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(
                num.unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(d))?,
            );
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            'y' => 365 * 86_400,
            _ => return None,
        };
        total = total.checked_add(num.take()?.checked_mul(unit)?)?;
    }
    if num.is_some() || total == 0 {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Some(90 * 86_400));
        assert_eq!(parse_duration("1d12h"), Some(86_400 + 12 * 3600));
        assert_eq!(parse_duration("1y"), Some(365 * 86_400));
        for bad in ["", "d", "12", "1x", "0d", "-1d", "99999999999999999999y"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let created = crate::time::parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(
            format_time(parse_expiry("30d", created).unwrap()),
            "2026-12-23T10:00:00Z"
        );
        assert_eq!(
            format_time(parse_expiry("2027-01-01T01:00:00+01:00", created).unwrap()),
            "2027-01-01T00:00:00Z"
        );
        assert!(parse_expiry("2020-01-01T00:00:00Z", created).is_err());
        assert!(parse_expiry("soon", created).is_err());
    }
}
