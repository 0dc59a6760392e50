//! Text → syntax tree.

pub mod ast;
pub mod parser;

pub use parser::parse_file;
