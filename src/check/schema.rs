//! The request every rule is evaluated against: built-in attributes, their types, the actions.

use super::ir::{Scalar, Ty};

/// A built-in attribute of the request.
pub struct Builtin {
    pub path: &'static str,
    pub ty: Ty,
    pub doc: &'static str,
}

/// The attributes every request may carry (LANGUAGE "The request").
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        path: "ts",
        ty: Ty::Timestamp,
        doc: "event time, RFC 3339; drives windows and time.*",
    },
    Builtin {
        path: "time.hour",
        ty: Ty::Number,
        doc: "hour of `ts` in UTC, 0-23",
    },
    Builtin {
        path: "time.weekday",
        ty: Ty::Number,
        doc: "weekday of `ts` in UTC, 1 = Monday … 7 = Sunday",
    },
    Builtin {
        path: "session",
        ty: Ty::String,
        doc: "session or run id; the default key of stateful functions",
    },
    Builtin {
        path: "agent.id",
        ty: Ty::String,
        doc: "acting agent",
    },
    Builtin {
        path: "agent.trust",
        ty: Ty::Number,
        doc: "trust score of the acting agent, 0-1000",
    },
    Builtin {
        path: "agent.ring",
        ty: Ty::Number,
        doc: "privilege ring of the acting agent, 0-3",
    },
    Builtin {
        path: "agent.roles",
        ty: Ty::List(Scalar::String),
        doc: "roles of the acting agent",
    },
    Builtin {
        path: "action",
        ty: Ty::String,
        doc: "what the agent does: tool_call, llm_call, spawn_agent, …",
    },
    Builtin {
        path: "tool",
        ty: Ty::String,
        doc: "tool name, for tool actions",
    },
    Builtin {
        path: "tokens",
        ty: Ty::Number,
        doc: "tokens of this action",
    },
    Builtin {
        path: "cost",
        ty: Ty::Number,
        doc: "cost of this action",
    },
    Builtin {
        path: "target",
        ty: Ty::String,
        doc: "target agent or resource",
    },
    Builtin {
        path: "content",
        ty: Ty::String,
        doc: "text of inputs, outputs and messages",
    },
    Builtin {
        path: "labels",
        ty: Ty::List(Scalar::String),
        doc: "information-flow labels of the data involved",
    },
];

/// Roots whose members are open: `args.*` (typed by tool declarations) and `annotations.*`.
pub const OPEN_ROOTS: &[&str] = &["args", "annotations"];

/// Records that `has` may test as a whole.
pub const RECORDS: &[&str] = &["agent", "time", "args", "annotations"];

/// The values `action` can take.
pub const ACTIONS: &[&str] = &[
    "tool_call",
    "tool_result",
    "llm_call",
    "llm_response",
    "input",
    "output",
    "spawn_agent",
    "send_message",
    "memory_read",
    "memory_write",
    "startup",
    "shutdown",
];

/// Valid values of `@severity(…)`.
pub const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

pub fn builtin(path: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.path == path)
}

/// Every name a user might have meant when writing an attribute.
pub fn attribute_names() -> impl Iterator<Item = &'static str> {
    BUILTINS
        .iter()
        .map(|b| b.path)
        .chain(RECORDS.iter().copied())
}
