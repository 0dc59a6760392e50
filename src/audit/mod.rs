//! Audit logs (docs/audit.md): a hash-chained, append-only record of every decision, with
//! signed checkpoints, that `govern replay-audit` verifies and re-decides.
//!
//! - [`record`]: the record format, canonical lines, hashes, and reading lines back;
//! - [`writer`]: [`AuditLog`], the writer every decision point uses;
//! - [`replay`]: the decision loop that re-decides one recorded event;
//! - [`verify`]: every check over a log or a rotated series, with the replay;
//! - [`restore`]: the stream state a restarted decision point continues with, rebuilt from
//!   its log by the same replay.

pub mod record;
pub mod replay;
pub mod restore;
pub mod verify;
pub mod writer;

pub use record::{DecidedEvent, Fresh, GENESIS, Kind, Restored};
pub use writer::{AuditError, AuditLog, Begins, Head, Opened, Options, Prior, SyncMode, Torn};
