//! govern: policy-as-code for AI agents.
//!
//! The pipeline, one module per stage:
//! [`syntax`] (text → AST) → [`check`] (names and types → checked bundle) →
//! [`compile`] (checked bundle → decision diagram) → [`bytecode`] (diagram → verified bytes) →
//! [`vm`] (bytes + event → decision). [`reference`] evaluates the checked bundle directly and is
//! the oracle the VM is tested against.

pub mod audit;
pub mod builtins;
pub mod bytecode;
pub mod chaos;
pub mod check;
pub mod cli;
pub mod commands;
pub mod compile;
pub mod decision;
pub mod diag;
pub mod diff;
pub mod fmt;
pub mod fsutil;
pub mod fuzzing;
pub mod limits;
pub mod lint;
pub mod mcp;
pub mod mcp_http;
pub mod pipeline;
pub mod point;
pub mod reference;
pub mod serve;
pub mod sign;
pub mod source;
pub mod stream;
pub mod suite;
pub mod syntax;
pub mod time;
pub mod trace;
pub mod vm;
