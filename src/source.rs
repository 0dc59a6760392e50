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
                Ok(text) => files.push(SourceFile::new(display(&p), without_bom(text))),
                Err(e) => errors.push(
                    Diag::error(
                        "govern::io",
                        format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                    )
                    .in_file(display(&p), None),
                ),
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

/// The text without the byte order mark some editors write at the start of UTF-8 files: it is
/// not part of the content.
pub fn without_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// `s` as it may be printed on a terminal. Names and values taken from input (file names,
/// tool and agent names in traces) are shown as they are, except that control characters and
/// characters that do not show as themselves ([`crate::syntax::ast::hidden`]) are written as
/// escapes (`\r`, `\u{1b}`, `\u{202e}`): such a name cannot move the cursor, recolour the screen
/// or reorder what is printed around it.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || crate::syntax::ast::hidden(c);
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
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
