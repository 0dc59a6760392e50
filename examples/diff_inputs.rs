//! Writes the inputs of `benches/diff.rs` as files, for whole-command timings of `govern diff`:
//! `cargo run --release --example diff_inputs -- DIR` writes
//!
//! - `DIR/1000-old.gov` and `DIR/1000-new.gov`: the 1,003-rule bundle and the same with one
//!   deny bound raised;
//! - `DIR/1000-many.gov`: the same bundle with many changes (every `action` guard dropped,
//!   every escalation made a deny);
//! - `DIR/library-old/` and `DIR/library-new/`: the `.gov` files of `policies/`, and the same
//!   with one rule narrowed.
#![allow(clippy::unwrap_used, clippy::print_stdout, dead_code)]

#[path = "../benches/common.rs"]
mod common;

use std::path::Path;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "diff-inputs".into());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let (old, new) = common::diff_pair();
    std::fs::write(dir.join("1000-old.gov"), &old).unwrap();
    std::fs::write(dir.join("1000-new.gov"), new).unwrap();
    std::fs::write(dir.join("1000-many.gov"), common::many_changes(&old)).unwrap();
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let (old_dir, new_dir) = (dir.join("library-old"), dir.join("library-new"));
    std::fs::create_dir_all(&old_dir).unwrap();
    std::fs::create_dir_all(&new_dir).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&lib)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".gov"))
        .collect();
    names.sort();
    for name in &names {
        let text = std::fs::read_to_string(lib.join(name)).unwrap();
        std::fs::write(old_dir.join(name), &text).unwrap();
        std::fs::write(new_dir.join(name), common::library_changed(name, &text)).unwrap();
    }
    println!(
        "wrote 1000-old.gov, 1000-new.gov, 1000-many.gov and {} library files under {}",
        names.len(),
        dir.display()
    );
}
