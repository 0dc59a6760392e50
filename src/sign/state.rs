//! The last version seen of each signed plugin or bundle, so that verification can refuse an
//! older one (a rollback). A small JSON file, rewritten atomically:
//! `{"version":1,"last_seen":{"plugin":{"NAME":"1.2.0"},"bundle":{…}}}`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SignError;
use super::manifest::Kind;

/// Last-seen versions by kind and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeenVersions {
    pub version: u32,
    pub last_seen: BTreeMap<Kind, BTreeMap<String, String>>,
}

impl SeenVersions {
    /// Reads the state file; a file that does not exist yet is empty.
    pub fn load(path: &Path) -> Result<SeenVersions, SignError> {
        SeenVersions::read(path).map_err(|e| e.coded("govern::state"))
    }

    fn read(path: &Path) -> Result<SeenVersions, SignError> {
        let name = crate::source::display(path);
        let text = match crate::limits::read_text(path, crate::limits::STATE_FILE) {
            Ok(t) => t,
            Err(crate::limits::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SeenVersions {
                    version: 1,
                    ..SeenVersions::default()
                });
            }
            Err(crate::limits::ReadError::Io(e)) => {
                return Err(SignError::io(path, "read the state file", &e));
            }
            Err(e) => return Err(SignError::malformed(&name, None, e.to_string(), None)),
        };
        let s: SeenVersions = serde_json::from_str(&text).map_err(|e| {
            let line = (e.line() > 0).then_some(e.line());
            let msg = e.to_string();
            let msg = msg.find(" at line ").map_or(msg.as_str(), |i| msg.get(..i).unwrap_or_default()).to_string();
            SignError::malformed(
                &name,
                line,
                format!("invalid state file: {msg}"),
                Some("the state file is written by `govern verify --state`; restore it from a backup rather than deleting it, which would allow rollbacks"),
            )
        })?;
        for (kind, names) in &s.last_seen {
            for (n, v) in names {
                if let Err(why) = super::manifest::check_version(v) {
                    return Err(SignError::malformed(
                        &name,
                        None,
                        format!(
                            "the last version of {kind} `{n}` is `{v}`, which is not a version: {why}"
                        ),
                        Some(
                            "correct the entry by hand to the last version really deployed; deleting it would allow rollbacks",
                        ),
                    ));
                }
            }
        }
        if s.version != 1 {
            return Err(SignError::malformed(
                &name,
                None,
                format!("unsupported state file version {}", s.version),
                Some("this version of govern reads `\"version\": 1`"),
            ));
        }
        Ok(s)
    }

    pub fn get(&self, kind: Kind, name: &str) -> Option<&str> {
        self.last_seen.get(&kind)?.get(name).map(String::as_str)
    }

    /// Records `version` unless a later one is already recorded; true when it changed.
    pub fn record(&mut self, kind: Kind, name: &str, version: &str) -> bool {
        let by_name = self.last_seen.entry(kind).or_default();
        match by_name.get(name) {
            Some(v) if super::manifest::compare_versions(v, version).is_ge() => false,
            _ => {
                by_name.insert(name.to_string(), version.to_string());
                true
            }
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), SignError> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        crate::fsutil::write_atomic(path, text.as_bytes(), None)
            .map_err(|e| SignError::io(path, "write the state file", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_newer_versions() {
        let mut s = SeenVersions::default();
        assert!(s.record(Kind::Plugin, "p", "1.0.0"));
        assert!(!s.record(Kind::Plugin, "p", "0.9.0"));
        assert!(!s.record(Kind::Plugin, "p", "1.0.0"));
        assert!(s.record(Kind::Plugin, "p", "1.0.1"));
        assert_eq!(s.get(Kind::Plugin, "p"), Some("1.0.1"));
        assert_eq!(s.get(Kind::Bundle, "p"), None);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"version":0,"last_seen":{"plugin":{"p":"1.0.1"}}}"#
        );
    }
}
