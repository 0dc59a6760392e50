//! What is signed or verified: a plugin directory, a bundle, or named files; where its
//! envelope lives; and reading its files without following symbolic links.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::SignError;
use super::manifest::Kind;

/// A resolved target.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: Kind,
    /// The directory the manifest's paths are relative to.
    pub root: PathBuf,
    /// For bundles and files: the paths named on the command line, relative to `root`.
    pub named: Vec<String>,
    /// The envelope.
    pub signature: PathBuf,
    /// The target as given, for messages.
    pub display: String,
}

/// A file found under a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    File,
    Symlink,
    /// A directory where a file was expected, a socket, a device…
    Other,
    Missing,
}

/// What a target holds: every entry by relative path, and names that are not UTF-8.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: BTreeMap<String, Entry>,
    pub unreadable_names: Vec<String>,
}

impl Target {
    /// A `.govb` bundle (whatever its extension) and its envelope.
    pub fn bundle(path: &Path, signature: Option<&Path>) -> Result<Target, SignError> {
        let meta =
            std::fs::metadata(path).map_err(|e| SignError::io(path, "read the bundle", &e))?;
        if meta.is_dir() {
            return Err(SignError::usage(
                format!(
                    "`{}` is a directory, not a bundle",
                    crate::source::display(path)
                ),
                Some("build a bundle with `govern build … -o FILE.govb`"),
            ));
        }
        let (root, name) = split_file(path)?;
        Ok(Target {
            kind: Kind::Bundle,
            root,
            named: vec![name],
            signature: signature.map_or_else(|| default_signature(path), Path::to_path_buf),
            display: crate::source::display(path),
        })
    }

    /// The path of `rel` under the root, for reading and for messages.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        rel.split('/').fold(self.root.clone(), |p, c| p.join(c))
    }

    /// The name of `rel` for messages: the path as the user would type it. Names come from
    /// the files being checked, so they are shown as they are (a backslash stays one) and
    /// control characters are escaped: a file name cannot move the cursor or colour the
    /// terminal to make a failure look like something else.
    pub fn show(&self, rel: &str) -> String {
        let name = crate::source::printable(rel).into_owned();
        let root = crate::source::display(&self.root);
        match root.trim_end_matches('/') {
            "." => name,
            "" if root.is_empty() => name,
            dir => format!("{dir}/{name}"),
        }
    }

    /// The name of a listing entry for messages: the target itself for the empty path.
    pub fn show_entry(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.display.clone()
        } else {
            self.show(rel)
        }
    }

    /// Lists the target without following symbolic links: for a plugin everything under the
    /// root, otherwise the paths in `listed` (the manifest's, or the named ones).
    pub fn list(&self, listed: &[String]) -> Result<Listing, SignError> {
        let mut out = Listing::default();
        match self.kind {
            Kind::Plugin => {
                match std::fs::symlink_metadata(&self.root) {
                    Ok(m) if m.file_type().is_symlink() => {
                        out.entries.insert(String::new(), Entry::Symlink);
                        return Ok(out);
                    }
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        out.entries.insert(String::new(), Entry::Other);
                        return Ok(out);
                    }
                    Err(e) => return Err(SignError::io(&self.root, "read the directory", &e)),
                }
                walk(&self.root, "", &mut out)?;
            }
            Kind::Bundle | Kind::Files => {
                for rel in listed {
                    let entry = self.entry(rel)?;
                    out.entries.insert(rel.clone(), entry);
                }
            }
        }
        Ok(out)
    }

    /// What `rel` is, checking every component below the root, so that a symbolic link to a
    /// directory cannot smuggle files in from elsewhere.
    fn entry(&self, rel: &str) -> Result<Entry, SignError> {
        let mut p = self.root.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            p.push(part);
            let last = i + 1 == parts.len();
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => return Ok(Entry::Symlink),
                Ok(m) if last && m.is_file() => return Ok(Entry::File),
                Ok(m) if !last && m.is_dir() => {}
                Ok(_) => return Ok(Entry::Other),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Entry::Missing),
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                    return Ok(Entry::Missing);
                }
                Err(e) => return Err(SignError::io(&p, "read", &e)),
            }
        }
        Ok(Entry::Missing)
    }

    /// SHA-256 of the file `rel`, refusing it if it turned into something other than the
    /// regular file that was listed. The bytes are kept when `keep` is set.
    pub fn digest(&self, rel: &str, keep: bool) -> Result<(String, Option<Vec<u8>>), SignError> {
        let path = self.path_of(rel);
        let before =
            std::fs::symlink_metadata(&path).map_err(|e| SignError::io(&path, "read", &e))?;
        let mut f = std::fs::File::open(&path).map_err(|e| SignError::io(&path, "read", &e))?;
        let after = f.metadata().map_err(|e| SignError::io(&path, "read", &e))?;
        if !before.is_file() || !after.is_file() || !same_file(&before, &after) {
            return Err(SignError::usage(
                format!(
                    "`{}` changed while it was being read",
                    crate::source::display(&path)
                ),
                Some("sign or verify files that nothing else is writing to"),
            ));
        }
        let mut hasher = Sha256::new();
        let mut kept = keep.then(Vec::new);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| SignError::io(&path, "read", &e))?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            if let Some(k) = kept.as_mut() {
                // The bytes kept are a bundle's, to load: no more than a bundle may be.
                if (k.len() + chunk.len()) as u64 > crate::limits::BUNDLE.max {
                    return Err(SignError::usage(
                        format!(
                            "`{}` is larger than {}, the limit for {}",
                            crate::source::display(&path),
                            crate::limits::BUNDLE.shown(),
                            crate::limits::BUNDLE.what
                        ),
                        None,
                    ));
                }
                k.extend_from_slice(chunk);
            }
        }
        Ok((
            format!("sha256:{}", super::keys::hex(&hasher.finalize())),
            kept,
        ))
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len()
}

fn walk(dir: &Path, prefix: &str, out: &mut Listing) -> Result<(), SignError> {
    let rd = std::fs::read_dir(dir).map_err(|e| SignError::io(dir, "read the directory", &e))?;
    let mut items = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| SignError::io(dir, "read the directory", &e))?;
        items.push(ent);
    }
    items.sort_by_key(std::fs::DirEntry::file_name);
    for ent in items {
        let name = ent.file_name();
        let Some(name) = name.to_str() else {
            out.unreadable_names
                .push(format!("{prefix}{}", name.to_string_lossy()));
            continue;
        };
        let rel = format!("{prefix}{name}");
        let ft = ent
            .file_type()
            .map_err(|e| SignError::io(&ent.path(), "read", &e))?;
        if ft.is_symlink() {
            out.entries.insert(rel, Entry::Symlink);
        } else if ft.is_dir() {
            walk(&ent.path(), &format!("{rel}/"), out)?;
        } else if ft.is_file() {
            out.entries.insert(rel, Entry::File);
        } else {
            out.entries.insert(rel, Entry::Other);
        }
    }
    Ok(())
}

/// `<target>.sig.json` beside the target (a directory's trailing `/` dropped).
pub fn default_signature(target: &Path) -> PathBuf {
    let named = match target.file_name() {
        Some(_) => Some(target.to_path_buf()),
        // `.` or `..`: name the envelope after the directory itself.
        None => std::fs::canonicalize(target).ok(),
    };
    match named.as_deref().and_then(|p| p.file_name().map(|n| (p, n))) {
        Some((p, n)) => {
            let mut name = n.to_os_string();
            name.push(".sig.json");
            p.with_file_name(name)
        }
        None => PathBuf::from("signature.sig.json"),
    }
}

/// A file path's directory (`.` when it has none) and its file name.
fn split_file(path: &Path) -> Result<(PathBuf, String), SignError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            SignError::usage(
                format!("`{}` has no usable file name", crate::source::display(path)),
                Some("file names must be UTF-8"),
            )
        })?
        .to_string();
    let root = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((root, name))
}

/// Works out what `paths` name: one directory is a plugin, one `.govb` file a bundle, and any
/// other files are `files`, whose paths are taken relative to the envelope's directory (so
/// several files need `signature`).
pub fn resolve_target(paths: &[PathBuf], signature: Option<&Path>) -> Result<Target, SignError> {
    let Some(first) = paths.first() else {
        return Err(SignError::usage("nothing to sign or verify", None));
    };
    let mut metas = Vec::with_capacity(paths.len());
    for p in paths {
        let m = std::fs::metadata(p).map_err(|e| SignError::io(p, "read", &e))?;
        metas.push(m);
    }
    let first_is_dir = metas.first().is_some_and(std::fs::Metadata::is_dir);
    if paths.len() == 1 && first_is_dir {
        return Ok(Target {
            kind: Kind::Plugin,
            root: first.clone(),
            named: Vec::new(),
            signature: signature.map_or_else(|| default_signature(first), Path::to_path_buf),
            display: crate::source::display(first),
        });
    }
    if let Some((p, _)) = paths.iter().zip(&metas).find(|(_, m)| m.is_dir()) {
        return Err(SignError::usage(
            format!(
                "`{}` is a directory; sign a plugin directory on its own, or name files",
                crate::source::display(p)
            ),
            None,
        ));
    }
    if paths.len() == 1 && first.extension().is_some_and(|e| e == "govb") {
        return Target::bundle(first, signature);
    }
    let signature = match (signature, paths.len()) {
        (Some(s), _) => s.to_path_buf(),
        (None, 1) => default_signature(first),
        (None, _) => {
            return Err(SignError::usage(
                "several files need one signature file: pass `--out FILE.sig.json` (`--signature` when verifying)",
                Some("the files are listed relative to the signature file's directory"),
            ));
        }
    };
    let root = match signature.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let root_abs = std::fs::canonicalize(&root).map_err(|e| SignError::io(&root, "read", &e))?;
    let mut named = Vec::with_capacity(paths.len());
    for p in paths {
        let (dir, name) = split_file(p)?;
        let dir_abs = std::fs::canonicalize(&dir).map_err(|e| SignError::io(&dir, "read", &e))?;
        let rel = dir_abs.join(&name);
        let rel = rel.strip_prefix(&root_abs).map_err(|_| {
            SignError::usage(
                format!(
                    "`{}` is outside `{}`, the directory of the signature file",
                    crate::source::display(p),
                    crate::source::display(&root)
                ),
                Some("put the signature file (`--out`) in a directory that holds all the files"),
            )
        })?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_str().ok_or_else(|| {
                    SignError::usage(
                        format!("`{}` is not a UTF-8 path", crate::source::display(p)),
                        None,
                    )
                })?),
                _ => {
                    return Err(SignError::usage(
                        format!(
                            "`{}` cannot be listed relative to the signature file",
                            crate::source::display(p)
                        ),
                        None,
                    ));
                }
            }
        }
        named.push(parts.join("/"));
    }
    named.sort();
    named.dedup();
    Ok(Target {
        kind: Kind::Files,
        root,
        named,
        signature,
        display: paths
            .iter()
            .map(|p| crate::source::display(p))
            .collect::<Vec<_>>()
            .join(" "),
    })
}
