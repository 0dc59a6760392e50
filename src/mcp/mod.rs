//! The Model Context Protocol as govern sees it: one session model for every reader of MCP
//! traffic (the trace reader behind `simulate`, and a gateway between client and server),
//! and the import of `tools/list` results as `tool` declarations.
//!
//! - [`message`]: one JSON-RPC message, checked ([`Message`]), and the direction it travels
//!   ([`Direction`]).
//! - [`session`]: one MCP connection ([`Session`]): requests paired with their responses per
//!   direction, the client's and the server's declared identity (from the `initialize`
//!   handshake of 2025-06-18 / 2025-11-25, or the `_meta` that 2026-07-28 puts on every
//!   request and result), and the `input_required` round trips of 2026-07-28 folded into the
//!   one call they belong to. Feed it each message with its direction; it says what the
//!   message is ([`Observation`]): a tool call to decide, the result of one, or something
//!   that is not an agent action, and why ([`Skip`]).
//! - [`import`]: `tools/list` results → `tool` declarations and a deny-by-default skeleton.
//!
//! The model is synchronous and allocation-light; it holds no I/O.

pub mod gateway;
pub mod hide;
pub mod import;
pub mod message;
pub mod scan;
pub mod session;

pub use message::{Direction, Id, Message, MessageError};
pub use session::{Call, Observation, Peer, Session, Skip};

/// The `_meta` key under which a 2026-07-28 request carries the client's `Implementation`.
pub const CLIENT_INFO_META: &str = "io.modelcontextprotocol/clientInfo";
/// The `_meta` key under which a 2026-07-28 request carries the client's capabilities.
pub const CLIENT_CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key under which a 2026-07-28 request names its protocol version.
pub const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key under which a 2026-07-28 result carries the server's `Implementation`.
pub const SERVER_INFO_META: &str = "io.modelcontextprotocol/serverInfo";

/// The text of a `tools/call` response, as a tool result's `content`: the `text` items of
/// `result.content` joined by newlines, or the error's `message` for an error response.
/// `None` when there is neither.
pub fn result_text(msg: &Message) -> Option<String> {
    match msg {
        Message::Response {
            result: Some(r), ..
        } => r.get("content").and_then(|c| c.as_array()).map(|items| {
            items
                .iter()
                .filter(|i| i.get("type").and_then(|t| t.as_str()) == Some("text"))
                .filter_map(|i| i.get("text").and_then(|t| t.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        }),
        Message::Response { error: Some(e), .. } => e
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string),
        _ => None,
    }
}
