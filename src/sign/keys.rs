//! Ed25519 keys as PEM files that OpenSSL reads and writes: private keys in PKCS#8
//! (`-----BEGIN PRIVATE KEY-----`), public keys in SPKI (`-----BEGIN PUBLIC KEY-----`).
//! A key's id is `sha256:` and the hex SHA-256 of its SPKI DER encoding.
//!
//! Private key material stays inside [`PrivateKey`]: its `Debug` shows only the key id, the
//! PEM text it was read from is wiped after use, and no error message quotes it.

use std::fmt;

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// What went wrong with a key file, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError {
    pub message: String,
    pub help: Option<String>,
}

impl KeyError {
    fn new(message: impl Into<String>, help: Option<&str>) -> KeyError {
        KeyError {
            message: message.into(),
            help: help.map(str::to_string),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// An Ed25519 private key. `Debug` never shows the secret.
pub struct PrivateKey {
    key: SigningKey,
    id: String,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key with its id.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: String,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").field("id", &self.id).finish()
    }
}

impl PrivateKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<PrivateKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| {
            KeyError::new(
                format!("the system random number generator failed: {e}"),
                None,
            )
        })?;
        Ok(PrivateKey::from_signing_key(SigningKey::from_bytes(&seed)))
    }

    fn from_signing_key(key: SigningKey) -> PrivateKey {
        let id = key_id(&key.verifying_key());
        PrivateKey { key, id }
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn from_pem(text: &str) -> Result<PrivateKey, KeyError> {
        let block = pem_block(text, Expect::Private)?;
        let key = SigningKey::from_pkcs8_pem(&block).map_err(|e| {
            KeyError::new(
                format!("not a valid Ed25519 PKCS#8 private key: {}", lower(&e)),
                Some("create one with `govern keygen -o NAME` or `openssl genpkey -algorithm ed25519`"),
            )
        })?;
        Ok(PrivateKey::from_signing_key(key))
    }

    /// The PKCS#8 PEM text, as `openssl genpkey -algorithm ed25519` writes it (version 1,
    /// without the optional public key). The returned text is wiped when dropped.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let bytes = KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        };
        bytes
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| KeyError::new(format!("cannot encode the private key: {e}"), None))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
            id: self.id.clone(),
        }
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl PublicKey {
    /// Reads an SPKI PEM public key, or the public half of a PKCS#8 PEM private key.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        PublicKey::read(text, Expect::Public)
    }

    /// Like [`PublicKey::from_pem`] but refusing private keys (for files that others read,
    /// such as trust files).
    pub fn from_public_pem(text: &str) -> Result<PublicKey, KeyError> {
        PublicKey::read(text, Expect::PublicOnly)
    }

    fn read(text: &str, expect: Expect) -> Result<PublicKey, KeyError> {
        if expect == Expect::PublicOnly && private_key_line(text).is_some() {
            return Err(private_where_public_belongs());
        }
        let block = pem_block(text, expect)?;
        if block.starts_with("-----BEGIN PRIVATE KEY-----") {
            return Ok(PrivateKey::from_pem(&block)?.public());
        }
        let key = VerifyingKey::from_public_key_pem(&block).map_err(|e| {
            KeyError::new(
                format!("not a valid Ed25519 public key: {}", lower(&e)),
                Some("export one with `openssl pkey -in KEY.key -pubout` or use the `.pub` file of `govern keygen`"),
            )
        })?;
        Ok(PublicKey {
            id: key_id(&key),
            key,
        })
    }

    /// The SPKI PEM text.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| KeyError::new(format!("cannot encode the public key: {e}"), None))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Checks an Ed25519 signature strictly (RFC 8032 with the malleability and small-order
    /// checks): `true` only when `sig` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(sig);
        self.key.verify_strict(message, &sig).is_ok()
    }
}

/// The 0-based index of the first line of `text` that starts a private key PEM block (of any
/// kind: PKCS#8, encrypted, OpenSSH, …), if there is one.
pub fn private_key_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.contains("-----BEGIN ") && l.contains("PRIVATE KEY-----"))
}

fn private_where_public_belongs() -> KeyError {
    KeyError::new(
        "this is a private key where only a public key belongs",
        Some(
            "replace it with the public key (`NAME.pub`, or `openssl pkey -in KEY.key -pubout`) and keep the private key secret",
        ),
    )
}

/// `sha256:<hex>` of the key's SPKI DER encoding (44 bytes for Ed25519).
pub fn key_id(key: &VerifyingKey) -> String {
    match key.to_public_key_der() {
        Ok(der) => format!("sha256:{}", hex(&Sha256::digest(der.as_bytes()))),
        // Encoding a 32-byte key into a fixed structure cannot fail; should it ever, the id
        // matches nothing.
        Err(_) => String::from("sha256:?"),
    }
}

/// Whether `s` has the form of a key id: `sha256:` and 64 lowercase hex digits.
pub fn is_key_id(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(*HEX.get(usize::from(b >> 4)).unwrap_or(&b'0')));
        s.push(char::from(*HEX.get(usize::from(b & 15)).unwrap_or(&b'0')));
    }
    s
}

/// The message with its first letter in lower case, unless it starts an acronym (`ASN.1`).
fn lower(e: &impl fmt::Display) -> String {
    let s = e.to_string();
    let mut c = s.chars();
    match (c.next(), c.next()) {
        (Some(f), Some(g)) if f.is_uppercase() && !g.is_uppercase() && g.is_alphabetic() => {
            f.to_lowercase().chain(s.chars().skip(1)).collect()
        }
        _ => s,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Private,
    Public,
    PublicOnly,
}

/// The first PEM block of `text` (explanatory text around it allowed, CRLF line ends
/// normalised), checked to carry a label we can read. The text is wiped when dropped since it
/// may hold a private key.
fn pem_block(text: &str, expect: Expect) -> Result<Zeroizing<String>, KeyError> {
    let want = match expect {
        Expect::Private => "`-----BEGIN PRIVATE KEY-----`",
        _ => "`-----BEGIN PUBLIC KEY-----`",
    };
    let Some(start) = text.find("-----BEGIN ") else {
        return Err(KeyError::new(
            format!("not a PEM key: no {want} line"),
            Some(
                "keys are PEM files as written by `govern keygen` or `openssl genpkey -algorithm ed25519`",
            ),
        ));
    };
    let rest = text.get(start..).unwrap_or_default();
    let label_line = rest.lines().next().unwrap_or_default().trim_end();
    let label = label_line
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .unwrap_or_default();
    let end_marker = format!("-----END {label}-----");
    let Some(end) = rest.find(&end_marker) else {
        return Err(KeyError::new(
            format!("malformed PEM: `{label_line}` has no matching `{end_marker}` line"),
            None,
        ));
    };
    match (label, expect) {
        ("PRIVATE KEY", Expect::Private | Expect::Public) | ("PUBLIC KEY", Expect::Public) => {}
        ("PUBLIC KEY", Expect::PublicOnly) => {}
        ("PUBLIC KEY", Expect::Private) => {
            return Err(KeyError::new(
                "this is a public key; signing needs the private key",
                Some("pass the `.key` file that `govern keygen` wrote beside the `.pub` file"),
            ));
        }
        ("PRIVATE KEY", Expect::PublicOnly) => return Err(private_where_public_belongs()),
        ("ENCRYPTED PRIVATE KEY", _) => {
            return Err(KeyError::new(
                "encrypted private keys are not supported",
                Some(
                    "decrypt it to a file only you can read: `openssl pkey -in KEY.pem -out KEY.key`",
                ),
            ));
        }
        ("OPENSSH PRIVATE KEY", _) => {
            return Err(KeyError::new(
                "OpenSSH key files are not supported",
                Some(
                    "create a key with `govern keygen -o NAME` or `openssl genpkey -algorithm ed25519`",
                ),
            ));
        }
        (other, _) => {
            return Err(KeyError::new(
                format!("unexpected PEM block `{other}`: expected {want}"),
                Some("only Ed25519 keys are supported, in PKCS#8 (private) or SPKI (public) PEM"),
            ));
        }
    }
    let block = rest
        .get(..end + end_marker.len())
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let mut block = Zeroizing::new(block);
    block.push('\n');
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8410 §10.3: an Ed25519 private key and the public key that goes with it.
    const RFC8410_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
    const RFC8410_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn rfc8410_keys_read_and_match() {
        let sk = PrivateKey::from_pem(RFC8410_PRIVATE).unwrap();
        let pk = PublicKey::from_pem(RFC8410_PUBLIC).unwrap();
        assert_eq!(sk.public(), pk);
        assert_eq!(sk.id(), pk.id());
        assert!(is_key_id(pk.id()));
        // What we write is what OpenSSL writes for the same key.
        assert_eq!(sk.to_pem().unwrap().as_str(), RFC8410_PRIVATE);
        assert_eq!(pk.to_pem().unwrap(), RFC8410_PUBLIC);
    }

    #[test]
    fn sign_and_verify() {
        let sk = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        assert_ne!(sk.id(), other.id());
        let sig = sk.sign(b"message");
        assert!(sk.public().verify(b"message", &sig));
        assert!(!sk.public().verify(b"messagf", &sig));
        assert!(!other.public().verify(b"message", &sig));
        let again = PrivateKey::from_pem(&sk.to_pem().unwrap()).unwrap();
        assert_eq!(again.id(), sk.id());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let sk = PrivateKey::from_pem(RFC8410_PRIVATE).unwrap();
        let shown = format!("{sk:?} {:?}", sk.public());
        assert!(shown.contains(sk.id()), "{shown}");
        assert!(!shown.contains("MC4CAQAw"), "{shown}");
        let secret_hex = hex(&sk.key.to_bytes());
        assert!(!shown.contains(&secret_hex), "{shown}");
        assert!(
            !shown.to_lowercase().contains("d4ee72dbf913584a"),
            "{shown}"
        );
    }

    #[test]
    fn pem_with_text_around_and_crlf() {
        let text = format!(
            "a comment\r\n{}\r\nafter",
            RFC8410_PUBLIC.replace('\n', "\r\n")
        );
        assert!(PublicKey::from_pem(&text).is_ok());
    }

    #[test]
    fn bad_pem_is_explained() {
        let msg = |r: Result<PrivateKey, KeyError>| r.unwrap_err().message;
        assert_eq!(
            msg(PrivateKey::from_pem("hello")),
            "not a PEM key: no `-----BEGIN PRIVATE KEY-----` line"
        );
        assert_eq!(
            msg(PrivateKey::from_pem(RFC8410_PUBLIC)),
            "this is a public key; signing needs the private key"
        );
        assert_eq!(
            msg(PrivateKey::from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
            )),
            "encrypted private keys are not supported"
        );
        assert!(
            msg(PrivateKey::from_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ))
            .starts_with("not a valid Ed25519 PKCS#8 private key")
        );
        assert!(
            msg(PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n"))
                .starts_with("malformed PEM")
        );
        // A test-only X25519 key (same curve, another algorithm) is refused.
        let x25519 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEICh+u8IgXvJXmbzK0w0hWN960x3WP/tclKQZhubp5BlG\n-----END PRIVATE KEY-----\n";
        assert!(msg(PrivateKey::from_pem(x25519)).starts_with("not a valid Ed25519"));
        assert_eq!(
            PublicKey::from_public_pem(RFC8410_PRIVATE)
                .unwrap_err()
                .message,
            "this is a private key where only a public key belongs"
        );
        // Where a public key is asked for, the public half of a private key will do.
        assert!(PublicKey::from_pem(RFC8410_PRIVATE).is_ok());
        let truncated = RFC8410_PUBLIC.replace("MCowBQYDK2VwAyEAG", "MCowBQYDK2VwAyEA");
        assert!(PublicKey::from_pem(&truncated).is_err());
    }
}
