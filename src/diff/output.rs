//! Printing a diff report (placeholder while the core is built).
