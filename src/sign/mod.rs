//! Signing and verification: publishers vouch for what they ship, platforms refuse the rest.
//!
//! - [`keys`]: Ed25519 keys as PEM files OpenSSL shares (PKCS#8 private, SPKI public), key
//!   ids (`sha256:` of the SPKI DER).
//! - [`manifest`]: what is signed — kind, name, version, times and every file's SHA-256 —
//!   serialized with [`jcs`] (RFC 8785).
//! - [`dsse`]: the envelope that carries the manifest and its signatures over DSSE's PAE.
//! - [`trust`]: the trust file that says which keys count, revocations and the threshold.
//! - [`sign`] writes or extends an envelope; [`verify`] checks one and names every check
//!   that fails; [`verify_bundle`] is the one call commands that load bundles make.
//!
//! Nothing here prints; errors carry the file, the line where there is one, and a help.

pub mod dsse;
pub mod jcs;
pub mod keys;
pub mod manifest;
mod signer;
mod state;
mod target;
pub mod trust;
mod verify;

use std::fmt;
use std::path::{Path, PathBuf};

pub use keys::{KeyError, PrivateKey, PublicKey};
pub use manifest::{Kind, Manifest};
pub use signer::{SignOptions, Signed, parse_expiry, sign};
pub use state::SeenVersions;
pub use target::{Target, resolve_target};
pub use trust::{Trust, TrustError, TrustedKey};
pub use verify::{Check, Failure, Report, SigStatus, SignatureReport, VerifyOptions, verify};

use crate::diag::Diag;

/// Why signing or verification could not be done, or did not succeed.
#[derive(Debug)]
pub enum SignError {
    /// A file could not be read or written.
    Io { path: String, message: String },
    /// A file is not what it should be: a key, trust file, state file, envelope or
    /// `agent-plugin.yaml`.
    Malformed {
        /// `govern::key`, `govern::trust`, `govern::state`, `govern::plugin` or
        /// `govern::sign` (an envelope being extended).
        code: &'static str,
        path: String,
        line: Option<usize>,
        message: String,
        help: Option<String>,
    },
    /// What was asked cannot be done as asked.
    Usage {
        message: String,
        help: Option<String>,
    },
    /// Verification ran and at least one check failed.
    Failed(Box<Report>),
}

impl SignError {
    pub(crate) fn io(path: &Path, action: &str, e: &std::io::Error) -> SignError {
        SignError::Io {
            path: crate::source::display(path),
            message: format!("cannot {action}: {e}"),
        }
    }

    pub(crate) fn usage(message: impl Into<String>, help: Option<&str>) -> SignError {
        SignError::Usage {
            message: message.into(),
            help: help.map(str::to_string),
        }
    }

    pub(crate) fn malformed(
        path: &str,
        line: Option<usize>,
        message: impl Into<String>,
        help: Option<&str>,
    ) -> SignError {
        SignError::Malformed {
            code: "govern::sign",
            path: path.to_string(),
            line,
            message: message.into(),
            help: help.map(str::to_string),
        }
    }

    /// The same error with another diagnostic code.
    pub(crate) fn coded(mut self, new: &'static str) -> SignError {
        if let SignError::Malformed { code, .. } = &mut self {
            *code = new;
        }
        self
    }

    pub(crate) fn key(path: &Path, e: KeyError) -> SignError {
        SignError::Malformed {
            code: "govern::key",
            path: crate::source::display(path),
            line: None,
            message: e.message,
            help: e.help,
        }
    }

    /// The fix, when there is one to suggest.
    pub fn help(&self) -> Option<&str> {
        match self {
            SignError::Io { .. } => None,
            SignError::Malformed { help, .. } | SignError::Usage { help, .. } => help.as_deref(),
            SignError::Failed(r) => r.help(),
        }
    }

    /// The error as diagnostics (one per failed check for [`SignError::Failed`]).
    pub fn to_diags(&self) -> Vec<Diag> {
        match self {
            SignError::Io { path, message } => {
                vec![Diag::error("govern::io", message.clone()).in_file(path.clone(), None)]
            }
            SignError::Malformed {
                code,
                path,
                line,
                message,
                help,
            } => {
                let d = Diag::error(*code, message.clone()).in_file(path.clone(), *line);
                vec![match help {
                    Some(h) => d.help(h.clone()),
                    None => d,
                }]
            }
            SignError::Usage { message, help } => {
                let d = Diag::error("govern::sign", message.clone());
                vec![match help {
                    Some(h) => d.help(h.clone()),
                    None => d,
                }]
            }
            SignError::Failed(r) => r.to_diags(),
        }
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Io { path, message } => write!(f, "{path}: {message}"),
            SignError::Malformed {
                path,
                line: Some(l),
                message,
                ..
            } => write!(f, "{path}:{l}: {message}"),
            SignError::Malformed { path, message, .. } => write!(f, "{path}: {message}"),
            SignError::Usage { message, .. } => f.write_str(message),
            SignError::Failed(r) => match r.failures.first() {
                Some(first) if r.failures.len() == 1 => write!(f, "{first}"),
                Some(first) => write!(f, "{first} (and {} more)", r.failures.len() - 1),
                None => f.write_str("verification failed"),
            },
        }
    }
}

impl std::error::Error for SignError {}

impl From<TrustError> for SignError {
    fn from(e: TrustError) -> SignError {
        SignError::Malformed {
            code: "govern::trust",
            path: e.path,
            line: e.line,
            message: e.message,
            help: e.help,
        }
    }
}

/// A bundle whose signature verified, with the exact bytes that were checked: load these,
/// not the file again, so that nothing can change between verification and use.
#[derive(Debug)]
pub struct Verified {
    pub report: Report,
    /// The `.govb` bytes whose digest the manifest lists.
    pub bytes: Vec<u8>,
}

/// The default envelope path of a target: `<target>.sig.json` beside it.
pub fn default_signature_path(target: &Path) -> PathBuf {
    target::default_signature(target)
}

/// Verifies a `.govb` bundle to be loaded: against the trust file at `trust`, with its
/// envelope at `signature` (default `<bundle>.sig.json`), signed under the bundle's own name
/// (its file name without `.govb`, as `govern sign` names it), and, with the state file
/// `state`, not older than the last version of that name seen (a newer one is recorded).
/// Every check must hold: an unsigned bundle, a signature by keys the trust file does not
/// accept, an expired manifest, another name, a rollback or a digest that does not match are
/// all [`SignError::Failed`], naming the check and the file. This is the one path by which
/// every command loads a signed bundle (see `pipeline::load_signed_bundle`).
pub fn verify_bundle(
    bundle: &Path,
    signature: Option<&Path>,
    trust: &Path,
    state: Option<&Path>,
) -> Result<Verified, SignError> {
    let trust = Trust::load(trust)?;
    let target = Target::bundle(bundle, signature)?;
    let name = signer::default_name(&target);
    let opts = VerifyOptions {
        signature,
        state,
        now: None,
        name: name.as_deref(),
    };
    let mut report = verify::verify_target(&target, &trust, &opts)?;
    if !report.failures.is_empty() {
        return Err(SignError::Failed(Box::new(report)));
    }
    match report.bundle_bytes.take() {
        Some(bytes) => Ok(Verified { report, bytes }),
        None => Err(SignError::usage(
            "the verified target is not a bundle",
            Some("sign the `.govb` file itself"),
        )),
    }
}

/// The current time in nanoseconds since the Unix epoch.
pub(crate) fn now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// An RFC 3339 time in nanoseconds since the epoch. Times that are well-formed but beyond
/// the nanosecond range (after 2261, before 1678) read as the far future or the far past, so
/// that `not_after: 2999-01-01T00:00:00Z` means what it says.
pub(crate) fn parse_time(t: &str) -> Option<i64> {
    if let Some(ns) = crate::time::parse_rfc3339(t) {
        return Some(ns);
    }
    let year: i64 = t.get(..4)?.parse().ok()?;
    crate::time::parse_rfc3339(&format!("2000{}", t.get(4..)?))?;
    if year > 2200 {
        Some(i64::MAX)
    } else if year < 1700 {
        Some(i64::MIN)
    } else {
        None
    }
}

/// RFC 3339 UTC text of a time: whole seconds as `…:SSZ`, otherwise with milliseconds.
pub(crate) fn format_time(ns: i64) -> String {
    let s = crate::time::format_rfc3339(ns);
    match s.strip_suffix(".000Z") {
        Some(whole) => format!("{whole}Z"),
        None => s,
    }
}
