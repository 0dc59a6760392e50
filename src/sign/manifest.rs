//! The manifest: what a signature vouches for. Kind, name, version, when it was made, when
//! it expires, and the SHA-256 of every file, serialized with RFC 8785 (JCS).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jcs;

/// What was signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A plugin directory: every file under it is listed.
    Plugin,
    /// One compiled `.govb` bundle.
    Bundle,
    /// Files named one by one, relative to the directory of the signature file.
    Files,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Plugin => "plugin",
            Kind::Bundle => "bundle",
            Kind::Files => "files",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A manifest. Paths are relative, `/`-separated; digests are `sha256:<64 lowercase hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub kind: Kind,
    pub name: String,
    pub version: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// RFC 3339, UTC; absent when the manifest does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// The canonical (JCS) bytes: what the envelope carries and the signatures cover.
    pub fn to_payload(&self) -> Vec<u8> {
        let mut files = Map::new();
        for (path, digest) in &self.files {
            files.insert(path.clone(), Value::String(digest.clone()));
        }
        let mut m = Map::new();
        m.insert("kind".into(), self.kind.as_str().into());
        m.insert("name".into(), self.name.clone().into());
        m.insert("version".into(), self.version.clone().into());
        m.insert("created".into(), self.created.clone().into());
        if let Some(e) = &self.expires {
            m.insert("expires".into(), e.clone().into());
        }
        m.insert("files".into(), Value::Object(files));
        jcs::canonicalize(&Value::Object(m)).into_bytes()
    }

    /// Reads a manifest from payload bytes, which must be its canonical form: any other
    /// spelling (whitespace, member order, escapes, duplicate names) is refused, so that one
    /// manifest has exactly one signed form.
    pub fn from_payload(bytes: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("the payload is not UTF-8 (byte {})", e.valid_up_to()))?;
        let value = jcs::parse_strict(text).map_err(|e| format!("the payload is not JSON: {e}"))?;
        let m: Manifest = serde_json::from_value(value)
            .map_err(|e| format!("the payload is not a govern manifest: {e}"))?;
        m.validate()?;
        if m.to_payload() != bytes {
            return Err(
                "the payload is not in canonical form (RFC 8785 JSON canonicalization)".into(),
            );
        }
        Ok(m)
    }

    /// Field checks beyond the JSON shape.
    fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("the manifest's `name` is empty".into());
        }
        if self.version.trim().is_empty() {
            return Err("the manifest's `version` is empty".into());
        }
        if let Err(why) = check_version(&self.version) {
            return Err(format!("the manifest's `version` is not a version: {why}"));
        }
        if super::parse_time(&self.created).is_none() {
            return Err(format!(
                "the manifest's `created` is not an RFC 3339 time: `{}`",
                self.created
            ));
        }
        if let Some(e) = &self.expires
            && super::parse_time(e).is_none()
        {
            return Err(format!(
                "the manifest's `expires` is not an RFC 3339 time: `{e}`"
            ));
        }
        for (path, digest) in &self.files {
            if !is_digest(digest) {
                return Err(format!(
                    "the digest of `{path}` is not `sha256:` and 64 lowercase hex digits"
                ));
            }
        }
        Ok(())
    }
}

/// Whether `s` is `sha256:` followed by 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    super::keys::is_key_id(s)
}

/// Why a manifest path is not a safe relative path, if it is not.
///
/// A safe path is relative, uses `/` between non-empty components, and has no `.` or `..`
/// component, no backslash, no NUL or other control character and no drive prefix: it
/// cannot name anything outside the root it is resolved against.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("the path is empty");
    }
    if path.starts_with('/') {
        return Some("the path is absolute");
    }
    if path.contains('\\') {
        return Some("the path contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return Some("the path contains a control character");
    }
    if path.len() >= 2 && path.as_bytes().get(1) == Some(&b':') {
        return Some("the path starts with a drive letter");
    }
    for part in path.split('/') {
        match part {
            "" => return Some("the path has an empty component"),
            "." => return Some("the path has a `.` component"),
            ".." => return Some("the path escapes the root with `..`"),
            _ => {}
        }
    }
    None
}

/// The most release numbers in a version.
const MAX_RELEASE_PARTS: usize = 8;
/// The most digits in one number of a version.
const MAX_DIGITS: usize = 18;

/// Why `v` is not a version, if it is not: `[v]RELEASE[-PRERELEASE][+BUILD]`, at most
/// [`crate::limits::VERSION`] bytes; `RELEASE` is one to eight numbers separated by `.`, each
/// of one to 18 digits; `PRERELEASE` and `BUILD` are `.`-separated identifiers of ASCII
/// letters, digits and `-`, those of digits only at most 18 long. Within these bounds every
/// number compares numerically, so no spelling outranks every release.
pub fn check_version(v: &str) -> Result<(), String> {
    let limit = crate::limits::VERSION;
    if v.len() as u64 > limit.max {
        return Err(format!(
            "it is longer than {}, the limit for {}",
            limit.shown(),
            limit.what
        ));
    }
    let rest = v.strip_prefix('v').unwrap_or(v);
    let (rest, build) = match rest.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (rest, None),
    };
    let (release, pre) = match rest.split_once('-') {
        Some((r, p)) => (r, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = release.split('.').collect();
    if parts.len() > MAX_RELEASE_PARTS {
        return Err(format!(
            "a version has at most {MAX_RELEASE_PARTS} release numbers"
        ));
    }
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "`{p}` is not a release number: a version starts with numbers separated by `.` (`1.2.0`)"
            ));
        }
        if p.len() > MAX_DIGITS {
            return Err(format!("a release number has at most {MAX_DIGITS} digits"));
        }
    }
    for (what, ids) in [("pre-release", pre), ("build", build)] {
        let Some(ids) = ids else { continue };
        for id in ids.split('.') {
            if id.is_empty() || !id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                return Err(format!(
                    "`{id}` is not a {what} identifier: use ASCII letters, digits and `-`, separated by `.`"
                ));
            }
            if id.bytes().all(|c| c.is_ascii_digit()) && id.len() > MAX_DIGITS {
                return Err(format!(
                    "a numeric {what} identifier has at most {MAX_DIGITS} digits"
                ));
            }
        }
    }
    Ok(())
}

/// Semantic-version-like precedence of two version strings, total over all strings:
/// build metadata (after `+`) is ignored; the release part (before the first `-`) is compared
/// component by component (split on `.`), numbers numerically and below words, a missing
/// component counting as `0`; a version with a pre-release part (after `-`) comes before the
/// same release without one, and pre-release parts are compared the same way.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn split(v: &str) -> (&str, Option<&str>) {
        let v = v.trim();
        let v = v.split_once('+').map_or(v, |(x, _)| x);
        let v = v.strip_prefix('v').unwrap_or(v);
        match v.split_once('-') {
            Some((r, p)) => (r, Some(p)),
            None => (v, None),
        }
    }
    fn ident(a: &str, b: &str) -> Ordering {
        let num = |s: &str| -> Option<u128> {
            if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        match (num(a), num(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.cmp(b),
        }
    }
    fn parts(a: &str, b: &str, pad: bool) -> Ordering {
        let xs: Vec<&str> = a.split('.').collect();
        let ys: Vec<&str> = b.split('.').collect();
        for i in 0..xs.len().max(ys.len()) {
            let o = match (xs.get(i), ys.get(i)) {
                (Some(x), Some(y)) => ident(x, y),
                (Some(x), None) if pad => ident(x, "0"),
                (None, Some(y)) if pad => ident("0", y),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => Ordering::Equal,
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
    let (ra, pa) = split(a);
    let (rb, pb) = split(b);
    parts(ra, rb, true).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => parts(x, y, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn sample() -> Manifest {
        let mut files = BTreeMap::new();
        files.insert(
            "agent-plugin.yaml".to_string(),
            format!("sha256:{}", "a".repeat(64)),
        );
        files.insert("b/é.txt".to_string(), format!("sha256:{}", "0".repeat(64)));
        Manifest {
            kind: Kind::Plugin,
            name: "sample".into(),
            version: "1.2.0".into(),
            created: "2026-11-23T10:00:00Z".into(),
            expires: None,
            files,
        }
    }

    #[test]
    fn payload_is_canonical_and_round_trips() {
        let m = sample();
        let p = m.to_payload();
        let text = String::from_utf8(p.clone()).unwrap();
        assert!(text.starts_with(
            "{\"created\":\"2026-11-23T10:00:00Z\",\"files\":{\"agent-plugin.yaml\":"
        ));
        assert!(text.ends_with("\"kind\":\"plugin\",\"name\":\"sample\",\"version\":\"1.2.0\"}"));
        assert_eq!(Manifest::from_payload(&p).unwrap(), m);
    }

    #[test]
    fn other_spellings_are_refused() {
        let p = String::from_utf8(sample().to_payload()).unwrap();
        let spaced = p.replacen(':', ": ", 1);
        let null = p.replacen("\"files\"", "\"expires\":null,\"files\"", 1);
        assert!(
            Manifest::from_payload(null.as_bytes())
                .unwrap_err()
                .contains("canonical")
        );
        assert!(
            Manifest::from_payload(spaced.as_bytes())
                .unwrap_err()
                .contains("canonical")
        );
        let dup = p.replacen("{\"created\"", "{\"created\":\"x\",\"created\"", 1);
        assert!(
            Manifest::from_payload(dup.as_bytes())
                .unwrap_err()
                .contains("duplicate")
        );
        let extra = p.replacen("\"kind\"", "\"extra\":1,\"kind\"", 1);
        assert!(
            Manifest::from_payload(extra.as_bytes())
                .unwrap_err()
                .contains("unknown field")
        );
        let kind = p.replace("\"plugin\"", "\"other\"");
        assert!(Manifest::from_payload(kind.as_bytes()).is_err());
        let digest = p.replacen("aaaa", "AAAA", 1);
        assert!(
            Manifest::from_payload(digest.as_bytes())
                .unwrap_err()
                .contains("digest")
        );
        assert!(Manifest::from_payload(b"\xff").is_err());
    }

    #[test]
    fn unsafe_paths() {
        for ok in ["a", "a/b.txt", "..a", "a..", ".hidden/x", "é/ü"] {
            assert_eq!(unsafe_path(ok), None, "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "a/../../x",
            "..",
            "./a",
            "a//b",
            "a/",
            "a\\b",
            "C:x",
            "a\nb",
        ] {
            assert!(unsafe_path(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn version_order() {
        let ordered = [
            "0.9",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2",
            "1.10.0",
            "2",
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(compare_versions(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert_eq!(compare_versions("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("v1.2.0", "1.2.0+build.5"), Ordering::Equal);
        for v in ordered {
            assert_eq!(check_version(v), Ok(()), "{v}");
        }
    }

    #[test]
    fn version_syntax_is_bounded() {
        for ok in [
            "1",
            "v1.2.3",
            "2026.11.23",
            "1.0.0-rc.1",
            "1.0.0-x-y.7+build.2024-01",
            "999999999999999999.0",
        ] {
            assert_eq!(check_version(ok), Ok(()), "{ok}");
        }
        let big = "1".repeat(41);
        for bad in [
            big.as_str(),
            "1.2.x",
            "latest",
            "1..2",
            "1.2.3-",
            "1.2.3-rc..1",
            "1.2.3-r c",
            "1.2.3+",
            "1.2.3.4.5.6.7.8.9",
            "1.0.0-1234567890123456789",
            "",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        assert!(check_version(&format!("1.0.0-{}", "a".repeat(60))).is_err());
        // Before, a 41-digit number did not parse and ranked as a word, above every release.
        let m = Manifest {
            version: big.clone(),
            ..sample()
        };
        let payload = m.to_payload();
        assert!(
            Manifest::from_payload(&payload)
                .unwrap_err()
                .contains("not a version")
        );
    }
}
