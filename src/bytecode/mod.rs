//! The `.govb` format: the program model as versioned, checksummed, little-endian bytes.
//!
//! ```text
//! file     = magic "GOVB" · version u16 · flags u16 · section{10} · sha256[32]
//! section  = tag u8 · length u32 · payload[length]
//! ```
//! Sections come in a fixed order (meta, strings, files, slots, trackers, vars, rules,
//! leaves, nodes, roots) and each payload must be consumed exactly. The trailer is the SHA-256
//! of everything before it, so any flipped byte is refused before anything else is read.
//! Decoding treats the bytes as untrusted: every length is checked against what remains, every
//! index against its table, every branch must jump forward to a later node whose variable comes
//! later in the order (so evaluation always ends, testing each variable at most once per walk),
//! what the program may cost is computed and bounded before it is built or run ([`cost`]:
//! bytes built at load, regexes, the work and the merging of one decision), and the decoder
//! never panics. `docs/bytecode.md` documents every field.

pub mod cost;
pub mod decode;
pub mod encode;
pub mod listing;
pub mod model;

pub use decode::{DecodeError, decode, worst_case};
pub use encode::encode;
pub use model::Model;

use sha2::{Digest, Sha256};

/// The first four bytes of every bundle.
pub const MAGIC: &[u8; 4] = b"GOVB";

/// The format version this build reads and writes. Bump it whenever the encoding changes.
pub const FORMAT_VERSION: u16 = 2;

/// Section tags, in the order they appear.
pub mod tags {
    pub const META: u8 = 1;
    pub const STRINGS: u8 = 2;
    pub const FILES: u8 = 3;
    pub const SLOTS: u8 = 4;
    pub const TRACKERS: u8 = 5;
    pub const VARS: u8 = 6;
    pub const RULES: u8 = 7;
    pub const LEAVES: u8 = 8;
    pub const NODES: u8 = 9;
    pub const ROOTS: u8 = 10;

    pub const ALL: [(u8, &str); 10] = [
        (META, "meta"),
        (STRINGS, "strings"),
        (FILES, "files"),
        (SLOTS, "slots"),
        (TRACKERS, "trackers"),
        (VARS, "vars"),
        (RULES, "rules"),
        (LEAVES, "leaves"),
        (NODES, "nodes"),
        (ROOTS, "roots"),
    ];
}

/// `sha256:<hex>` of a whole bundle file: the digest every decision reports.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(
            DIGITS.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
        ));
        s.push(char::from(
            DIGITS.get(usize::from(b & 15)).copied().unwrap_or(b'0'),
        ));
    }
    s
}

/// Encodings of small enums shared by the encoder and the decoder.
pub(crate) mod codes {
    use super::model::{CmpOp, Effect, Func, StatefulKind, Ty, Verdict};
    use crate::check::Scalar;

    pub fn ty(t: Ty) -> u8 {
        match t {
            Ty::String => 0,
            Ty::Number => 1,
            Ty::Bool => 2,
            Ty::List(Scalar::String) => 3,
            Ty::List(Scalar::Number) => 4,
            Ty::List(Scalar::Bool) => 5,
            Ty::Seq => 6,
            Ty::StrOrList(Scalar::String) => 7,
            Ty::StrOrList(Scalar::Number) => 8,
            Ty::StrOrList(Scalar::Bool) => 9,
            Ty::Scalar => 10,
            Ty::Timestamp => 11,
        }
    }

    pub fn ty_of(c: u8) -> Option<Ty> {
        Some(match c {
            0 => Ty::String,
            1 => Ty::Number,
            2 => Ty::Bool,
            3 => Ty::List(Scalar::String),
            4 => Ty::List(Scalar::Number),
            5 => Ty::List(Scalar::Bool),
            6 => Ty::Seq,
            7 => Ty::StrOrList(Scalar::String),
            8 => Ty::StrOrList(Scalar::Number),
            9 => Ty::StrOrList(Scalar::Bool),
            10 => Ty::Scalar,
            11 => Ty::Timestamp,
            _ => return None,
        })
    }

    pub fn effect(e: Effect) -> u8 {
        match e {
            Effect::Allow => 0,
            Effect::Deny => 1,
            Effect::Escalate => 2,
            Effect::Warn => 3,
        }
    }

    pub fn effect_of(c: u8) -> Option<Effect> {
        Some(match c {
            0 => Effect::Allow,
            1 => Effect::Deny,
            2 => Effect::Escalate,
            3 => Effect::Warn,
            _ => return None,
        })
    }

    pub fn verdict(v: Verdict) -> u8 {
        match v {
            Verdict::Allow => 0,
            Verdict::Deny => 1,
            Verdict::Escalate => 2,
        }
    }

    pub fn verdict_of(c: u8) -> Option<Verdict> {
        Some(match c {
            0 => Verdict::Allow,
            1 => Verdict::Deny,
            2 => Verdict::Escalate,
            _ => return None,
        })
    }

    pub fn func(f: Func) -> u8 {
        match f {
            Func::Lower => 0,
            Func::Upper => 1,
            Func::Len => 2,
            Func::NormPath => 3,
            Func::UrlHost => 4,
            Func::Base64Decode => 5,
            Func::HexDecode => 6,
            Func::UrlDecode => 7,
            Func::Unescape => 8,
            Func::Decoded => 9,
            Func::Nfkc => 10,
            Func::Fold => 11,
            Func::SqlStatements => 12,
            Func::SqlTables => 13,
            Func::SqlReadOnly => 14,
            Func::Secrets => 15,
            Func::Pii => 16,
            Func::PiiCount => 17,
            Func::Unleet => 18,
            Func::FoldEach => 19,
        }
    }

    pub fn func_of(c: u8) -> Option<Func> {
        Some(match c {
            0 => Func::Lower,
            1 => Func::Upper,
            2 => Func::Len,
            3 => Func::NormPath,
            4 => Func::UrlHost,
            5 => Func::Base64Decode,
            6 => Func::HexDecode,
            7 => Func::UrlDecode,
            8 => Func::Unescape,
            9 => Func::Decoded,
            10 => Func::Nfkc,
            11 => Func::Fold,
            12 => Func::SqlStatements,
            13 => Func::SqlTables,
            14 => Func::SqlReadOnly,
            15 => Func::Secrets,
            16 => Func::Pii,
            17 => Func::PiiCount,
            18 => Func::Unleet,
            19 => Func::FoldEach,
            _ => return None,
        })
    }

    pub fn cmp(op: CmpOp) -> u8 {
        match op {
            CmpOp::Eq => 0,
            CmpOp::Ne => 1,
            CmpOp::Lt => 2,
            CmpOp::Le => 3,
            CmpOp::Gt => 4,
            CmpOp::Ge => 5,
        }
    }

    pub fn cmp_of(c: u8) -> Option<CmpOp> {
        Some(match c {
            0 => CmpOp::Eq,
            1 => CmpOp::Ne,
            2 => CmpOp::Lt,
            3 => CmpOp::Le,
            4 => CmpOp::Gt,
            5 => CmpOp::Ge,
            _ => return None,
        })
    }

    pub fn kind(k: StatefulKind) -> u8 {
        match k {
            StatefulKind::Count => 0,
            StatefulKind::Sum => 1,
            StatefulKind::Seen => 2,
        }
    }

    pub fn kind_of(c: u8) -> Option<StatefulKind> {
        Some(match c {
            0 => StatefulKind::Count,
            1 => StatefulKind::Sum,
            2 => StatefulKind::Seen,
            _ => return None,
        })
    }

    /// Node tags.
    pub const NODE_SWITCH: u8 = 0;
    pub const NODE_THRESH: u8 = 1;
    pub const NODE_TRI: u8 = 2;
    pub const NODE_FORK: u8 = 3;

    /// Variable tags.
    pub const VAR_SWITCH: u8 = 0;
    pub const VAR_THRESH: u8 = 1;
    pub const VAR_BOOL: u8 = 2;
    pub const VAR_HAS: u8 = 3;
    pub const VAR_CMP: u8 = 4;
    pub const VAR_IN: u8 = 5;
    pub const VAR_CONTAINS: u8 = 6;
    pub const VAR_STARTS: u8 = 7;
    pub const VAR_ENDS: u8 = 8;
    pub const VAR_REGEX: u8 = 9;

    /// Operand tags.
    pub const OP_SLOT: u8 = 0;
    pub const OP_STR: u8 = 1;
    pub const OP_NUM: u8 = 2;
    pub const OP_BOOL: u8 = 3;
    pub const OP_FUNC: u8 = 4;
    pub const OP_TRACKER: u8 = 5;

    /// The bit that marks a target as a leaf.
    pub const LEAF_BIT: u32 = 1 << 31;
}
