//! `govern fmt`: rewrite `.gov` files in the canonical layout, or (`--check`) name the files
//! that are not.

use std::path::PathBuf;

use crate::cli::{DiagFormat, FmtArgs};
use crate::commands::{Ctx, exit};

/// The paths given, or the current directory.
pub fn paths_or_cwd(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    }
}

/// The permissions of an existing file, kept when it is rewritten.
fn mode_of(path: &std::path::Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

pub fn run(ctx: &Ctx, args: &FmtArgs) -> u8 {
    let paths = paths_or_cwd(&args.paths);
    if args.watch {
        return super::watch::watch(ctx, &paths, &mut || once(ctx, args, &paths));
    }
    once(ctx, args, &paths)
}

fn once(ctx: &Ctx, args: &FmtArgs, paths: &[PathBuf]) -> u8 {
    let files = match crate::source::load(paths) {
        Ok(f) => f,
        Err(diags) => {
            ctx.report(&diags, DiagFormat::Human);
            return exit::ERROR;
        }
    };
    let mut errors = Vec::new();
    let mut changed = Vec::new();
    let mut unwritten = Vec::new();
    for f in &files {
        let formatted = match crate::fmt::format_file(f) {
            Ok(t) => t,
            Err(mut d) => {
                errors.append(&mut d);
                continue;
            }
        };
        if formatted == *f.text {
            continue;
        }
        if !args.check {
            let path = std::path::Path::new(&f.name);
            if let Err(e) = crate::fsutil::write_atomic(path, formatted.as_bytes(), mode_of(path)) {
                unwritten.push(format!("cannot write {}: {e}", f.name));
                continue;
            }
        }
        changed.push(f.name.clone());
    }
    if !errors.is_empty() {
        ctx.report(&errors, DiagFormat::Human);
    }
    // Only what was written is "formatted"; a file that could not be is an error (exit 2).
    for e in &unwritten {
        ctx.error(e.clone());
    }
    let io_failed = !unwritten.is_empty();
    let mut err = std::io::stderr().lock();
    use std::io::Write;
    for name in &changed {
        let _ = if args.check {
            writeln!(err, "would reformat {name}")
        } else {
            writeln!(err, "formatted {name}")
        };
    }
    if args.check && changed.is_empty() && errors.is_empty() {
        let _ = writeln!(
            err,
            "{} file{} already formatted",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
    }
    if !errors.is_empty() || io_failed {
        exit::ERROR
    } else if args.check && !changed.is_empty() {
        exit::FINDINGS
    } else {
        exit::OK
    }
}
