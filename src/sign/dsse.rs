//! DSSE envelopes (Dead Simple Signing Envelope, v1): the signed payload, its type, and one
//! or more signatures over the pre-authentication encoding (PAE) of the two.

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};

/// The payload type of a govern manifest.
pub const PAYLOAD_TYPE: &str = "application/vnd.govern.manifest+json";

/// `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal: the bytes
/// every signature covers, so that a signature over one payload type never verifies for
/// another.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// An envelope as it is stored: payload and signatures in standard base64 (RFC 4648 §4,
/// padded). Each key signs at most once, and an envelope holds at most
/// [`crate::limits::SIGNATURES`] signatures: both are refused as the envelope is read, before
/// any signature is checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub payload: String,
    #[serde(deserialize_with = "distinct_signatures")]
    pub signatures: Vec<EnvelopeSignature>,
}

/// Reads the signatures, stopping at the first key that signs twice or at the limit.
fn distinct_signatures<'de, D>(d: D) -> Result<Vec<EnvelopeSignature>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visit;
    impl<'de> serde::de::Visitor<'de> for Visit {
        type Value = Vec<EnvelopeSignature>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of signatures")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            use serde::de::Error;
            let limit = crate::limits::SIGNATURES;
            let mut out: Vec<EnvelopeSignature> = Vec::new();
            let mut keys = std::collections::BTreeSet::new();
            while let Some(s) = seq.next_element::<EnvelopeSignature>()? {
                if out.len() as u64 >= limit.max {
                    return Err(A::Error::custom(format!(
                        "more than {} signatures, the limit for an envelope",
                        limit.max
                    )));
                }
                if !keys.insert(s.keyid.clone()) {
                    return Err(A::Error::custom(format!(
                        "key `{}` signs twice; each key signs an envelope once",
                        s.keyid
                    )));
                }
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Visit)
}

/// One signature: the signing key's id and the base64 Ed25519 signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

impl Envelope {
    /// A new envelope around `payload`, without signatures.
    pub fn new(payload: &[u8]) -> Envelope {
        Envelope {
            payload_type: PAYLOAD_TYPE.to_string(),
            payload: Base64::encode_string(payload),
            signatures: Vec::new(),
        }
    }

    /// Reads an envelope from JSON text; the message names the line and column.
    pub fn parse(text: &str) -> Result<Envelope, String> {
        // serde_json's message ends in "at line L column C": what people need to find it.
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        decode(&self.payload).ok_or_else(|| "`payload` is not valid base64".to_string())
    }

    /// Adds (or replaces) the signature of `keyid`, keeping signatures sorted by key id.
    pub fn add_signature(&mut self, keyid: &str, sig: &[u8; 64]) {
        self.signatures.retain(|s| s.keyid != keyid);
        self.signatures.push(EnvelopeSignature {
            keyid: keyid.to_string(),
            sig: Base64::encode_string(sig),
        });
        self.signatures.sort_by(|a, b| a.keyid.cmp(&b.keyid));
    }

    /// The envelope as written to disk: indented JSON and a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Strict standard base64: padding required, no whitespace, no stray bits.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    Base64::decode_vec(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification() {
        // The example of the DSSE protocol description.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn envelopes_round_trip_and_refuse_strangers() {
        let mut env = Envelope::new(b"{}");
        env.add_signature("sha256:b", &[1; 64]);
        env.add_signature("sha256:a", &[2; 64]);
        env.add_signature("sha256:b", &[3; 64]);
        assert_eq!(env.signatures.len(), 2);
        assert_eq!(env.signatures.first().unwrap().keyid, "sha256:a");
        let back = Envelope::parse(&env.to_json()).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.payload_bytes().unwrap(), b"{}");
        let extra = env
            .to_json()
            .replacen("\"payload\"", "\"extra\":1,\"payload\"", 1);
        assert!(
            Envelope::parse(&extra)
                .unwrap_err()
                .contains("unknown field `extra`")
        );
        let dup = env
            .to_json()
            .replacen("\"payload\"", "\"payload\":\"e30=\",\"payload\"", 1);
        assert!(
            Envelope::parse(&dup)
                .unwrap_err()
                .contains("duplicate field")
        );
        assert_eq!(decode("e30"), None);
        assert_eq!(decode("e3 0="), None);
        assert_eq!(decode("e31="), None);
        assert_eq!(decode("e30=").unwrap(), b"{}");
    }
}
