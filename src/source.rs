//! Finding and reading policy sources: files and directories → `.gov` files in a stable order.

use std::path::{Path, PathBuf};

use crate::diag::{Diag, SourceFile};

/// The `.gov` files named by `paths` (files as given, directories searched recursively),
/// sorted and deduplicated, each read whole. Names are the paths as given, with `/`
/// separators and no leading `./`, so that the same invocation gives the same bundle bytes.
pub fn load(paths: &[PathBuf]) -> Result<Vec<SourceFile>, Vec<Diag>> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                if let Err(e) =
                    crate::fsutil::walk_sorted(p, &|_| false, &|n| n.ends_with(".gov"), &mut found)
                {
                    errors.push(
                        Diag::error("govern::io", format!("cannot read directory: {e}"))
                            .in_file(display(p), None),
                    );
                }
            }
            Ok(_) => found.push(p.clone()),
            Err(e) => errors.push(
                Diag::error("govern::io", format!("cannot read: {e}")).in_file(display(p), None),
            ),
        }
    }
    found.sort();
    found.dedup();
    let mut files = Vec::with_capacity(found.len());
    for p in found {
        match std::fs::read(&p) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(mut text) => {
                    // A byte order mark some editors write is not part of the policy.
                    if text.starts_with('\u{feff}') {
                        text.drain(..'\u{feff}'.len_utf8());
                    }
                    files.push(SourceFile::new(display(&p), text));
                }
                Err(e) => {
                    let valid = e.utf8_error().valid_up_to();
                    let before = e.as_bytes().get(..valid).unwrap_or(&[]);
                    let (line, column) =
                        crate::diag::line_col(std::str::from_utf8(before).unwrap_or(""), valid);
                    errors.push(
                        Diag::error(
                            "govern::io",
                            format!("not valid UTF-8 at column {column} (byte {valid})"),
                        )
                        .in_file(display(&p), Some(line))
                        .help("policy files are UTF-8 text: save the file as UTF-8"),
                    );
                }
            },
            Err(e) => errors.push(
                Diag::error("govern::io", format!("cannot read: {e}")).in_file(display(&p), None),
            ),
        }
    }
    if files.is_empty() && errors.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| display(p)).collect();
        errors.push(
            Diag::error(
                "govern::io",
                format!("no `.gov` files found in {}", names.join(", ")),
            )
            .help("pass policy files or directories that contain them"),
        );
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// A path as shown in messages and recorded in bundles.
pub fn display(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    let mut s = s.as_str();
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    s.to_string()
}
