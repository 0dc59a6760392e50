//! Audit logs (docs/audit.md): a hash-chained, append-only record of every decision, with
//! signed checkpoints, that `govern replay-audit` verifies and re-decides.
//!
//! - [`record`]: the record format, canonical lines, hashes, and reading lines back;
//! - [`writer`]: [`AuditLog`], the writer every decision point uses;
//! - [`replay`]: the decision loop that re-decides one recorded event;
//! - [`verify`]: every check over a log or a rotated series, with the replay.

pub mod record;
pub mod replay;
pub mod verify;
pub mod writer;

pub use record::{DecidedEvent, GENESIS, Kind};
pub use writer::{AuditError, AuditLog, Head, Opened, Options, SyncMode, Torn};
