//! Finding and reading policy sources: files and directories → `.gov` files in a stable order.

use std::path::{Path, PathBuf};

use crate::diag::{Diag, SourceFile};

/// Whether a file given as policy source is a compiled bundle: `.govb` bytes (they start with
/// the bundle magic) or a `.govb` name.
pub fn is_bundle(path: &Path, bytes: &[u8]) -> bool {
    bytes.starts_with(crate::bytecode::MAGIC)
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("govb"))
}

/// Whether the file starts with the bundle magic (read without reading the rest).
fn starts_as_bundle(path: &Path) -> bool {
    use std::io::Read;
    let magic = crate::bytecode::MAGIC;
    let mut head = vec![0u8; magic.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head.as_slice() == magic.as_slice()
}

/// The error for a bundle where policy sources were expected (`--policy p.govb`,
/// `govern lint p.govb`, …).
pub fn bundle_given_as_source(name: &str) -> Diag {
    Diag::error(
        "govern::io",
        "a compiled bundle (`.govb`), not policy source",
    )
    .in_file(name, None)
    .help(format!(
        "give a bundle with `--bundle {name}` (eval, simulate); `--policy`, `build`, `lint`, `fmt` and `test --record` read `.gov` sources"
    ))
}

/// The `.gov` files named by `paths` (files as given, directories searched recursively),
/// sorted and deduplicated, each read whole. Names are the paths as given, with `/`
/// separators and no leading `./`, for messages. Bundles record each file by its path
/// relative to the root it was found under (a directory named in `paths`; a file named
/// directly is recorded by its file name), so that `policies`, `./policies`, its absolute
/// path and a copy elsewhere build the same bundle bytes. Two files that would be recorded
/// under one name (`a/p.gov` and `b/p.gov` named as files) are recorded as named instead.
pub fn load(paths: &[PathBuf]) -> Result<Vec<SourceFile>, Vec<Diag>> {
    // (file, the name recorded in bundles)
    let mut found: Vec<(PathBuf, String)> = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let mut under = Vec::new();
                if let Err(e) =
                    crate::fsutil::walk_sorted(p, &|_| false, &|n| n.ends_with(".gov"), &mut under)
                {
                    errors.push(
                        Diag::error("govern::io", format!("cannot read directory: {e}"))
                            .in_file(display(p), None),
                    );
                }
                for f in under {
                    let rel = f.strip_prefix(p).map(name).unwrap_or_else(|_| name(&f));
                    found.push((f, rel));
                }
            }
            Ok(_) => {
                let base = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| name(p));
                found.push((p.clone(), base));
            }
            Err(e) => errors.push(
                Diag::error("govern::io", format!("cannot read: {e}")).in_file(display(p), None),
            ),
        }
    }
    // One file named two ways (`d` and `./d/`, `d/./a.gov`, a symbolic link) is read once,
    // under the first of its names in sorted order.
    let mut named: Vec<(String, PathBuf, String)> = found
        .into_iter()
        .map(|(p, rel)| (name(&p), p, rel))
        .collect();
    named.sort_by(|a, b| {
        Path::new(&a.0)
            .cmp(Path::new(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    let mut seen = std::collections::BTreeSet::new();
    named.retain(|(n, p, _)| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| n.into())));
    let mut count: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (_, _, rel) in &named {
        *count.entry(rel.as_str()).or_default() += 1;
    }
    let unique: std::collections::BTreeSet<String> = count
        .into_iter()
        .filter(|(_, n)| *n == 1)
        .map(|(r, _)| r.to_string())
        .collect();
    let mut named: Vec<(String, PathBuf, String)> = named
        .into_iter()
        .map(|(name, p, rel)| {
            let recorded = if unique.contains(&rel) {
                rel
            } else {
                name.clone()
            };
            (name, p, recorded)
        })
        .collect();
    // In the order of the names recorded, so that the bundle does not depend on how the
    // roots were spelled.
    named.sort_by(|a, b| {
        Path::new(&a.2)
            .cmp(Path::new(&b.2))
            .then_with(|| a.0.cmp(&b.0))
    });
    let mut files = Vec::with_capacity(named.len());
    for (name, p, recorded) in named {
        match crate::limits::read_file(&p, crate::limits::POLICY_FILE) {
            Ok(bytes) if is_bundle(&p, &bytes) => errors.push(bundle_given_as_source(&name)),
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files
                    .push(SourceFile::new(name.clone(), without_bom(text)).with_recorded(recorded)),
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
            // A bundle too large to be read as a policy (a million-entry set) is still named
            // as the bundle it is, rather than as a policy file over the limit.
            Err(_) if is_bundle(&p, &[]) || starts_as_bundle(&p) => {
                errors.push(bundle_given_as_source(&name));
            }
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

/// Data files (`set NAME = file("…")`) read from disk, relative to the working directory like
/// the policy names they are resolved against. A file that resolves, through symbolic links,
/// to a place outside the directory of the policy naming it is refused, as is one larger than
/// the limit (read no further than the limit).
pub struct DiskData;

impl crate::check::data::DataSource for DiskData {
    fn read(
        &self,
        name: &crate::check::data::DataName,
        limit: u64,
    ) -> Result<Vec<u8>, crate::check::data::DataError> {
        use crate::check::data::DataError;
        use std::io::Read;
        let dir = if name.dir.is_empty() { "." } else { &name.dir };
        let unreadable = |e: std::io::Error| DataError::Unreadable(e.to_string());
        let dir = std::fs::canonicalize(dir).map_err(unreadable)?;
        let path = std::fs::canonicalize(&name.name).map_err(unreadable)?;
        if !path.starts_with(&dir) {
            return Err(DataError::Outside);
        }
        let file = std::fs::File::open(&path).map_err(unreadable)?;
        let meta = file.metadata().map_err(unreadable)?;
        if !meta.is_file() {
            return Err(DataError::Unreadable("not a regular file".into()));
        }
        if meta.len() > limit {
            return Err(DataError::TooLarge);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > limit {
            return Err(DataError::TooLarge);
        }
        Ok(bytes)
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
