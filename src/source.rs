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
    // One file named two ways (`d` and `./d/`, `d/./a.gov`, a symbolic link) is read once,
    // under the first of its names in sorted order.
    let mut named: Vec<(String, PathBuf)> = found.into_iter().map(|p| (name(&p), p)).collect();
    named.sort_by(|a, b| {
        Path::new(&a.0)
            .cmp(Path::new(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    let mut seen = std::collections::BTreeSet::new();
    named.retain(|(n, p)| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| n.into())));
    let mut files = Vec::with_capacity(named.len());
    for (name, p) in named {
        match std::fs::read(&p) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(mut text) => {
                    // A byte order mark some editors write is not part of the policy.
                    if text.starts_with('\u{feff}') {
                        text.drain(..'\u{feff}'.len_utf8());
                    }
                    files.push(SourceFile::new(name.clone(), text));
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
                        .in_file(name.clone(), Some(line))
                        .help("policy files are UTF-8 text: save the file as UTF-8"),
                    );
                }
            },
            Err(e) => errors.push(
                Diag::error("govern::io", format!("cannot read: {e}")).in_file(name.clone(), None),
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

/// The name of a policy file as recorded in bundles: [`display`] without `.` components or
/// repeated separators, so that `d/./a.gov`, `d//a.gov` and `./d/a.gov` are all `d/a.gov`.
fn name(p: &Path) -> String {
    let shown = display(p);
    let absolute = shown.starts_with('/');
    let parts: Vec<&str> = shown
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
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
