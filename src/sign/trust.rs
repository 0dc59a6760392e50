//! Trust files (`trust.yaml`): which public keys a platform accepts, by id, with names and
//! optional validity windows; which key ids are revoked; how many distinct trusted keys must
//! sign (`threshold`). The format is documented in `docs/signing.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::keys::{PublicKey, is_key_id};

/// A loaded, checked trust file.
#[derive(Clone, Debug)]
pub struct Trust {
    /// The file's name as given, for messages.
    pub path: String,
    /// How many distinct trusted keys must sign.
    pub threshold: usize,
    /// Trusted keys by id.
    pub keys: BTreeMap<String, TrustedKey>,
    /// Revoked key ids: never counted, even when also listed under `keys`.
    pub revoked: BTreeSet<String>,
}

/// A key the trust file accepts.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    pub id: String,
    pub name: String,
    pub key: PublicKey,
    /// The key is not valid before this time (RFC 3339 text, nanoseconds since the epoch).
    pub not_before: Option<(String, i64)>,
    /// The key is not valid after this time.
    pub not_after: Option<(String, i64)>,
}

/// A problem in a trust file: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
    pub help: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    threshold: Option<u64>,
    #[serde(default)]
    keys: UniqueMap<RawKey>,
    #[serde(default)]
    revoked: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    #[serde(default)]
    pem: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
}

impl Trust {
    /// Reads and checks the trust file at `path`; `path:` entries of keys are read relative
    /// to its directory.
    pub fn load(path: &Path) -> Result<Trust, TrustError> {
        let name = crate::source::display(path);
        let text =
            crate::limits::read_text(path, crate::limits::TRUST_FILE).map_err(|e| TrustError {
                path: name.clone(),
                line: None,
                message: format!("cannot read the trust file: {e}"),
                help: None,
            })?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        Trust::parse(&text, &name, base)
    }

    /// Parses trust file text; `name` is used in messages, `base` resolves `path:` entries.
    pub fn parse(text: &str, name: &str, base: &Path) -> Result<Trust, TrustError> {
        let err = |line: Option<usize>, message: String, help: Option<&str>| TrustError {
            path: name.to_string(),
            line,
            message,
            help: help.map(str::to_string),
        };
        if text.trim().is_empty() {
            return Err(err(
                None,
                "the trust file is empty".into(),
                Some("list at least one key under `keys:` (see docs/signing.md)"),
            ));
        }
        // Before anything quotes the text back (YAML errors show values), refuse private keys:
        // a trust file is shared, and a secret in it is already one too many copies.
        if let Some(i) = super::keys::private_key_line(text) {
            return Err(err(
                Some(i + 1),
                "the trust file holds a private key".into(),
                Some(
                    "list public keys only (`NAME.pub`, or `openssl pkey -in KEY.key -pubout`); remove the private key from this file and keep it secret",
                ),
            ));
        }
        if let Err(e) = crate::limits::check_yaml(text) {
            return Err(err(
                Some(e.line),
                e.message,
                Some("a trust file is a mapping of keys, a few levels deep (see docs/signing.md)"),
            ));
        }
        let raw: RawTrust = serde_yaml::from_str(text).map_err(|e| {
            let mut line = e.location().map(|l| l.line());
            let msg = e.to_string();
            // serde_yaml appends " at line L column C"; the line is reported separately.
            let msg = match msg.find(" at line ") {
                Some(i) => msg.get(..i).unwrap_or(&msg).to_string(),
                None => msg,
            };
            // A key listed twice: point at the second time.
            if let Some(key) = msg
                .split_once("key `")
                .and_then(|(_, rest)| rest.split_once("` is listed twice"))
                .map(|(k, _)| k)
            {
                let first = line_of(text, key, 0).unwrap_or(0);
                line = line_of(text, key, first + 1).or(line);
            }
            err(
                line,
                format!("invalid trust file: {msg}"),
                Some("the fields are `version`, `threshold`, `keys` (with `name`, `pem` or `path`, `not_before`, `not_after`) and `revoked` (see docs/signing.md)"),
            )
        })?;
        if let Some(v) = raw.version
            && v != 1
        {
            return Err(err(
                line_of(text, "version", 0),
                format!("unsupported trust file version {v}"),
                Some("this version of govern reads `version: 1`"),
            ));
        }
        if raw.keys.0.is_empty() {
            return Err(err(
                line_of(text, "keys", 0),
                "the trust file lists no keys".into(),
                Some("add the publisher's key under `keys:` by its id (`govern keyid KEY.pub`)"),
            ));
        }
        let mut keys = BTreeMap::new();
        for (id, rk) in raw.keys.0 {
            let at = line_of(text, &id, 0);
            let from = at.unwrap_or(1);
            let field_line = |field: &str| line_of(text, field, from).or(at);
            if !is_key_id(&id) {
                return Err(err(
                    at,
                    format!("`{id}` is not a key id"),
                    Some(
                        "key ids are `sha256:` and 64 lowercase hex digits; `govern keyid KEY.pub` prints one",
                    ),
                ));
            }
            if rk.name.trim().is_empty() {
                return Err(err(
                    field_line("name"),
                    format!("key `{id}` has an empty `name`"),
                    Some("name the key's owner, for messages"),
                ));
            }
            let (pem, source) = match (&rk.pem, &rk.path) {
                (Some(p), None) => (p.clone(), "its `pem`".to_string()),
                (None, Some(rel)) => {
                    let file = base.join(rel);
                    let pem =
                        crate::limits::read_text(&file, crate::limits::KEY_FILE).map_err(|e| {
                            err(
                                field_line("path"),
                                format!(
                                    "cannot read the public key of `{}` from `{}`: {e}",
                                    rk.name,
                                    crate::source::display(&file)
                                ),
                                Some("`path` is relative to the trust file's directory"),
                            )
                        })?;
                    (pem, format!("`{}`", crate::source::display(&file)))
                }
                (Some(_), Some(_)) => {
                    return Err(err(
                        at,
                        format!("key `{}` has both `pem` and `path`", rk.name),
                        Some("give the public key once: inline as `pem` or as a file `path`"),
                    ));
                }
                (None, None) => {
                    return Err(err(
                        at,
                        format!("key `{}` has neither `pem` nor `path`", rk.name),
                        Some("add `path: NAME.pub` or the PEM text as `pem: |`"),
                    ));
                }
            };
            let key = PublicKey::from_public_pem(&pem).map_err(|e| TrustError {
                path: name.to_string(),
                line: field_line(if rk.pem.is_some() { "pem" } else { "path" }),
                message: format!("key `{}` ({source}): {}", rk.name, e.message),
                help: e.help.clone(),
            })?;
            if key.id() != id {
                return Err(err(
                    at,
                    format!(
                        "key `{}` is listed as `{id}` but its public key has id `{}`",
                        rk.name,
                        key.id()
                    ),
                    Some("list each key under the id `govern keyid KEY.pub` prints"),
                ));
            }
            let when =
                |field: &str, v: &Option<String>| -> Result<Option<(String, i64)>, TrustError> {
                    match v {
                        None => Ok(None),
                        Some(t) => match super::parse_time(t) {
                            Some(ns) => Ok(Some((t.clone(), ns))),
                            None => Err(err(
                                field_line(field),
                                format!(
                                    "`{field}` of key `{}` is not an RFC 3339 time: `{t}`",
                                    rk.name
                                ),
                                Some("write a time with its zone, such as `2027-01-01T00:00:00Z`"),
                            )),
                        },
                    }
                };
            let not_before = when("not_before", &rk.not_before)?;
            let not_after = when("not_after", &rk.not_after)?;
            if let (Some((_, a)), Some((_, b))) = (&not_before, &not_after)
                && a >= b
            {
                return Err(err(
                    field_line("not_after"),
                    format!(
                        "key `{}` is never valid: `not_after` is not later than `not_before`",
                        rk.name
                    ),
                    None,
                ));
            }
            keys.insert(
                id.clone(),
                TrustedKey {
                    id,
                    name: rk.name,
                    key,
                    not_before,
                    not_after,
                },
            );
        }
        let mut revoked = BTreeSet::new();
        for id in raw.revoked {
            if !is_key_id(&id) {
                return Err(err(
                    line_of(text, &id, line_of(text, "revoked", 0).unwrap_or(0)),
                    format!("revoked entry `{id}` is not a key id"),
                    Some("key ids are `sha256:` and 64 lowercase hex digits"),
                ));
            }
            revoked.insert(id);
        }
        let threshold = raw.threshold.unwrap_or(1);
        let usable = keys.keys().filter(|id| !revoked.contains(*id)).count();
        if threshold == 0 {
            return Err(err(
                line_of(text, "threshold", 0),
                "`threshold` is 0, which would accept unsigned content".into(),
                Some("set `threshold: 1` or more"),
            ));
        }
        let threshold = usize::try_from(threshold).unwrap_or(usize::MAX);
        if threshold > usable {
            return Err(err(
                line_of(text, "threshold", 0),
                format!(
                    "`threshold` is {threshold} but only {usable} listed key{} {} not revoked",
                    if usable == 1 { "" } else { "s" },
                    if usable == 1 { "is" } else { "are" },
                ),
                Some("lower the threshold or trust more keys"),
            ));
        }
        Ok(Trust {
            path: name.to_string(),
            threshold,
            keys,
            revoked,
        })
    }
}

/// A mapping whose keys must be distinct (YAML readers may keep the last of two equal keys
/// silently; a trust file must not mean something other than it seems to).
struct UniqueMap<V>(BTreeMap<String, V>);

impl<V> Default for UniqueMap<V> {
    fn default() -> Self {
        UniqueMap(BTreeMap::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of key ids to keys")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom(format_args!(
                            "key `{k}` is listed twice"
                        )));
                    }
                    let v = map.next_value()?;
                    out.insert(k, v);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// The 1-based line of the first occurrence of `needle` at or after line `from`.
fn line_of(text: &str, needle: &str, from: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

    fn id() -> String {
        PublicKey::from_pem(PUB).unwrap().id().to_string()
    }

    fn trust(extra: &str) -> String {
        let pem: String = PUB.lines().map(|l| format!("      {l}\n")).collect();
        format!(
            "version: 1\nkeys:\n  {}:\n    name: alice\n    pem: |\n{pem}{extra}",
            id()
        )
    }

    fn parse(text: &str) -> Result<Trust, TrustError> {
        Trust::parse(text, "trust.yaml", Path::new("."))
    }

    #[test]
    fn reads_a_trust_file() {
        let t = parse(&trust(
            "    not_before: 2020-01-01T00:00:00Z\n    not_after: 2999-01-01T00:00:00Z\nthreshold: 1\n",
        ))
        .unwrap();
        assert_eq!(t.threshold, 1);
        let k = t.keys.get(&id()).unwrap();
        assert_eq!(k.name, "alice");
        assert_eq!(k.not_before.as_ref().unwrap().0, "2020-01-01T00:00:00Z");
    }

    #[test]
    fn explains_what_is_wrong() {
        let e = |text: &str| parse(text).unwrap_err();
        assert_eq!(e("").message, "the trust file is empty");
        let unknown = e(&trust("    colour: blue\n"));
        assert!(
            unknown.message.contains("unknown field `colour`"),
            "{unknown:?}"
        );
        assert_eq!(unknown.line, Some(9));
        assert_eq!(e("keys: {}\n").message, "the trust file lists no keys");
        assert!(
            e(&trust("threshold: 2\n"))
                .message
                .contains("only 1 listed key is not revoked")
        );
        assert!(
            e(&trust("threshold: 0\n"))
                .message
                .contains("would accept unsigned")
        );
        let twice = e(&trust("version: 2\n"));
        assert!(twice.message.contains("duplicate"), "{twice:?}");
        let dup_key = format!("{}  {}:\n    name: bob\n    path: x.pub\n", trust(""), id());
        let dup_key = e(&dup_key);
        assert!(dup_key.message.contains("is listed twice"), "{dup_key:?}");
        assert_eq!(dup_key.line, Some(9));
        assert_eq!(
            e("version: 3\nkeys: {}\n").message,
            "unsupported trust file version 3"
        );
        let bad_time = e(&trust("    not_after: tomorrow\n"));
        assert!(
            bad_time
                .message
                .contains("`not_after` of key `alice` is not an RFC 3339 time")
        );
        assert_eq!(bad_time.line, Some(9));
        let wrong_id = e(&trust("").replace(&id(), &format!("sha256:{}", "0".repeat(64))));
        assert!(
            wrong_id.message.contains("its public key has id"),
            "{wrong_id:?}"
        );
        assert_eq!(wrong_id.line, Some(3));
        let not_id = e(&trust("").replace(&id(), "alice"));
        assert_eq!(not_id.message, "`alice` is not a key id");
        let private = trust("")
            .replace(
                PUB.lines().nth(1).unwrap(),
                "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC",
            )
            .replace("PUBLIC", "PRIVATE");
        let private = e(&private);
        assert_eq!(private.message, "the trust file holds a private key");
        assert_eq!(private.line, Some(6));
        assert!(!private.message.contains("MC4CAQAw"));
        let revoked = e(&trust("revoked: [nope]\n"));
        assert_eq!(revoked.message, "revoked entry `nope` is not a key id");
        let all_revoked = e(&trust(&format!("revoked: [\"{}\"]\n", id())));
        assert!(
            all_revoked
                .message
                .contains("only 0 listed keys are not revoked")
        );
        let missing = e(&format!(
            "keys:\n  {}:\n    name: a\n    path: nowhere.pub\n",
            id()
        ));
        assert!(
            missing
                .message
                .starts_with("cannot read the public key of `a` from `nowhere.pub`"),
            "{missing:?}"
        );
        assert_eq!(missing.line, Some(4));
        let both = e(&trust("    path: a.pub\n"));
        assert!(both.message.contains("both `pem` and `path`"));
        let bad_yaml = e("keys: [\n");
        assert!(
            bad_yaml.message.starts_with("invalid trust file"),
            "{bad_yaml:?}"
        );
    }
}
