//! `govern build`: policies → `.govb`, written atomically; prints the digest.

use crate::cli::BuildArgs;
use crate::commands::{Ctx, Out, exit};

pub fn run(ctx: &Ctx, args: &BuildArgs) -> u8 {
    if let Some(message) = overwrites_a_policy(args) {
        ctx.report(
            &[crate::diag::Diag::error("govern::io", message)
                .help("write the bundle to a file ending in `.govb`, e.g. `-o policies.govb`")],
            args.format,
        );
        return exit::ERROR;
    }
    let built = match crate::pipeline::build_paths(&args.paths) {
        Ok(b) => b,
        Err(diags) => {
            ctx.report(&diags, args.format);
            return exit::ERROR;
        }
    };
    let mut written = Vec::new();
    if let Some(output) = &args.output {
        let out_name = crate::source::display(output);
        if let Err(e) = crate::fsutil::write_atomic(output, &built.bytes, None) {
            ctx.error(format!("cannot write {out_name}: {e}"));
            return exit::ERROR;
        }
        written.push(out_name);
    }
    if let Some(dir) = &args.store {
        match store(dir, &built.program.digest, &built.bytes) {
            Ok(path) => written.push(crate::source::display(&path)),
            Err(e) => {
                ctx.error(format!(
                    "cannot store the bundle in {}: {e}",
                    crate::source::display(dir)
                ));
                return exit::ERROR;
            }
        }
    }
    let out_name = written.join(", ");
    let mut out = Out::new();
    if args.listing {
        out.write_str(&crate::bytecode::listing::listing(
            &built.program.model,
            &built.program.digest,
            built.bytes.len(),
        ));
        out.line("");
    }
    for d in &built.bundle.data {
        let sets: Vec<String> = d.sets.iter().map(|s| format!("`{s}`")).collect();
        out.line(&format!(
            "read {}  {}  ({} items, {} bytes; set {})",
            crate::source::printable(&d.name),
            d.digest,
            d.items,
            d.bytes,
            sets.join(", ")
        ));
    }
    let m = &built.program.model;
    out.line(&format!(
        "{}  {out_name}  ({} rules, {} bytes)",
        built.program.digest,
        m.rules.len(),
        built.bytes.len()
    ));
    out.flush();
    // The process ends here: freeing a bundle's millions of set items one by one (a tenth of
    // building a million-entry set) is left to the system, which reclaims it at once.
    std::mem::forget(built);
    exit::OK
}

/// Keeps `bytes` in the folder `dir` as `<hex of digest>.govb` (created if need be; a file
/// already there with the right bytes is left alone, one with other bytes is replaced).
fn store(dir: &std::path::Path, digest: &str, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let path = dir.join(format!("{hex}.govb"));
    if std::fs::read(&path).is_ok_and(|have| have == bytes) {
        return Ok(path);
    }
    crate::fsutil::write_atomic(&path, bytes, None)?;
    Ok(path)
}

/// Why the output must not be written: it is one of the policy files, or it would be read as
/// one the next time (a `.gov` name).
fn overwrites_a_policy(args: &BuildArgs) -> Option<String> {
    let out = args.output.as_ref()?;
    let name = crate::source::display(out);
    if out.extension().is_some_and(|e| e == "gov") {
        return Some(format!(
            "the output `{name}` ends in `.gov`: it would be read as a policy file"
        ));
    }
    let same = |p: &std::path::PathBuf| match (std::fs::canonicalize(p), std::fs::canonicalize(out))
    {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    args.paths
        .iter()
        .any(same)
        .then(|| format!("the output `{name}` is one of the policy files"))
}
