//! Files written whole or not at all.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates the folders above `dest` that do not exist yet, so that `-o out/new/file` works
/// like `-o file`.
fn create_parent(dest: &Path) -> io::Result<()> {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => fs::create_dir_all(p),
        _ => Ok(()),
    }
}

/// A temporary path beside `dest`, on the same file system so that rename is atomic.
fn temp_beside(dest: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = format!(".{name}.tmp.{}.{n}", std::process::id());
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode.unwrap_or(0o644));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Writes `bytes` to `dest` atomically: a reader sees the old file or the new one, never a
/// part. `mode` sets the Unix permissions of the new file (default 0644). Missing parent
/// folders are created.
///
/// Only regular files are replaced. A destination that is a device, a FIFO or a socket
/// (`-o /dev/null`, `-o /dev/stdout`, a named pipe) is written in place, since renaming over
/// it would put a regular file where the device was. A symbolic link is followed, so the file
/// it points to is replaced and the link stays.
pub fn write_atomic(dest: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let resolved;
    let dest = match fs::metadata(dest) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => {
            let mut f = fs::OpenOptions::new().write(true).open(dest)?;
            return f.write_all(bytes).and_then(|()| f.flush());
        }
        Ok(_) if fs::symlink_metadata(dest)?.file_type().is_symlink() => {
            resolved = fs::canonicalize(dest)?;
            resolved.as_path()
        }
        _ => dest,
    };
    create_parent(dest)?;
    let tmp = temp_beside(dest);
    if let Err(e) = write_temp(&tmp, bytes, mode) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, dest) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// A file written in pieces and put in place whole by [`AtomicFile::commit`], as
/// [`write_atomic`] does for bytes in memory (special files are written in place, symbolic
/// links followed). Dropped without a commit, it leaves the destination as it was.
pub struct AtomicFile {
    out: io::BufWriter<fs::File>,
    /// The temporary file and where it goes; `None` when writing in place.
    rename: Option<(PathBuf, PathBuf)>,
}

impl AtomicFile {
    pub fn create(dest: &Path, mode: Option<u32>) -> io::Result<AtomicFile> {
        let resolved;
        let dest = match fs::metadata(dest) {
            Ok(meta) if !meta.is_file() && !meta.is_dir() => {
                let f = fs::OpenOptions::new().write(true).open(dest)?;
                return Ok(AtomicFile {
                    out: io::BufWriter::new(f),
                    rename: None,
                });
            }
            Ok(_) if fs::symlink_metadata(dest)?.file_type().is_symlink() => {
                resolved = fs::canonicalize(dest)?;
                resolved.as_path()
            }
            _ => dest,
        };
        create_parent(dest)?;
        let tmp = temp_beside(dest);
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode.unwrap_or(0o644));
        }
        #[cfg(not(unix))]
        let _ = mode;
        let f = opts.open(&tmp)?;
        Ok(AtomicFile {
            out: io::BufWriter::with_capacity(256 * 1024, f),
            rename: Some((tmp, dest.to_path_buf())),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> io::Result<()> {
        self.out.flush()?;
        let Some((tmp, dest)) = self.rename.take() else {
            return Ok(());
        };
        let done = self
            .out
            .get_ref()
            .sync_all()
            .and_then(|()| fs::rename(&tmp, &dest));
        if done.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        done
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.rename.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Like [`write_atomic`], but fails with `AlreadyExists` instead of replacing a file.
pub fn write_new_atomic(dest: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    create_parent(dest)?;
    let tmp = temp_beside(dest);
    if let Err(e) = write_temp(&tmp, bytes, mode) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // A hard link fails when the destination exists, so no file is ever replaced.
    let linked = fs::hard_link(&tmp, dest);
    let _ = fs::remove_file(&tmp);
    linked
}

/// The files under `dir` whose names `keep` accepts, in sorted order, recursively. Hidden
/// entries (`.name`) are skipped, directories whose names `skip_dir` rejects are not entered,
/// and symbolic links are never followed.
pub fn walk_sorted(
    dir: &Path,
    skip_dir: &dyn Fn(&str) -> bool,
    keep: &dyn Fn(&str) -> bool,
    out: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let meta = fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            if !skip_dir(&name) {
                walk_sorted(&p, skip_dir, keep, out)?;
            }
        } else if meta.is_file() && keep(&name) {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes() {
        let dir = std::env::temp_dir().join(format!("govern-fsutil-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let p = dir.join("a.txt");
        write_atomic(&p, b"one", None).unwrap();
        write_atomic(&p, b"two", None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let q = dir.join("b.key");
        write_new_atomic(&q, b"secret", Some(0o600)).unwrap();
        let again = write_new_atomic(&q, b"other", Some(0o600));
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&q).unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&q).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // Written in pieces: nothing there until the commit; nothing left without one.
        let c = dir.join("c.jsonl");
        let mut f = AtomicFile::create(&c, None).unwrap();
        f.write_all(b"{}\n").unwrap();
        assert!(!c.exists());
        f.commit().unwrap();
        assert_eq!(fs::read(&c).unwrap(), b"{}\n");
        let mut f = AtomicFile::create(&c, None).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        assert_eq!(fs::read(&c).unwrap(), b"{}\n");
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn missing_parent_folders_are_created() {
        let dir =
            std::env::temp_dir().join(format!("govern-fsutil-parents-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let nested = dir.join("a/b/c.txt");
        write_atomic(&nested, b"one", None).unwrap();
        assert_eq!(fs::read(&nested).unwrap(), b"one");
        let new = dir.join("d/e/f.txt");
        write_new_atomic(&new, b"two", None).unwrap();
        assert_eq!(fs::read(&new).unwrap(), b"two");
        // Nothing but the files themselves: the temporary files were renamed away.
        for d in ["a/b", "d/e"] {
            assert_eq!(fs::read_dir(dir.join(d)).unwrap().count(), 1);
        }
        // A parent that is a file is an error, not a panic.
        assert!(write_atomic(&nested.join("g.txt"), b"x", None).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn links_are_followed_and_special_files_written_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let dir =
            std::env::temp_dir().join(format!("govern-fsutil-special-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();

        // A link to a regular file: the target is replaced, the link stays a link.
        let target = dir.join("target.govb");
        fs::write(&target, b"old").unwrap();
        let link = dir.join("link.govb");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new", None).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&target).unwrap(), b"new");

        // A FIFO (as `-o /dev/stdout` or a named pipe would be): written in place, still a FIFO.
        let fifo = dir.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || fs::read(&fifo).unwrap())
            };
            write_atomic(&fifo, b"through the pipe", None).unwrap();
            // Checked before joining: had the FIFO been replaced, the reader would wait forever.
            assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
            assert_eq!(reader.join().unwrap(), b"through the pipe");
        } else {
            eprintln!("note: mkfifo unavailable; the FIFO case was not exercised");
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
