//! `govern keygen`: a new Ed25519 key pair, NAME.key (0600) and NAME.pub; prints the key id.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{DiagFormat, KeygenArgs};
use crate::commands::{Ctx, Out, exit};
use crate::diag::Diag;
use crate::sign::PrivateKey;

pub fn run(ctx: &Ctx, args: &KeygenArgs) -> u8 {
    match keygen(&args.output) {
        Ok((id, key_path, pub_path)) => {
            let mut out = Out::new();
            out.line(&id);
            out.flush();
            let _ = writeln!(
                std::io::stderr(),
                "wrote {} (private key, mode 0600: keep it secret) and {} (public key)",
                crate::source::display(&key_path),
                crate::source::display(&pub_path)
            );
            exit::OK
        }
        Err(d) => {
            ctx.report(&[*d], DiagFormat::Human);
            exit::ERROR
        }
    }
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn keygen(name: &Path) -> Result<(String, PathBuf, PathBuf), Box<Diag>> {
    let shown = crate::source::display(name);
    if name.extension().is_some_and(|e| e == "key" || e == "pub") || shown.ends_with('/') {
        return Err(Box::new(
            Diag::error(
                "govern::keygen",
                format!("`{shown}` should be a name without extension"),
            )
            .help("`govern keygen -o keys/alice` writes keys/alice.key and keys/alice.pub"),
        ));
    }
    let key_path = with_suffix(name, ".key");
    let pub_path = with_suffix(name, ".pub");
    for p in [&key_path, &pub_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(Box::new(
                Diag::error(
                    "govern::keygen",
                    format!(
                        "`{}` already exists; keys are never overwritten",
                        crate::source::display(p)
                    ),
                )
                .help("choose another name, or move the old key away first"),
            ));
        }
    }
    let fail = |e: crate::sign::KeyError| Box::new(Diag::error("govern::keygen", e.message));
    let key = PrivateKey::generate().map_err(fail)?;
    let pem = key.to_pem().map_err(fail)?;
    let public = key.public().to_pem().map_err(fail)?;
    let write_err = |p: &Path, e: std::io::Error| {
        Box::new(
            Diag::error("govern::io", format!("cannot write the key: {e}"))
                .in_file(crate::source::display(p), None),
        )
    };
    crate::fsutil::write_new_atomic(&key_path, pem.as_bytes(), Some(0o600))
        .map_err(|e| write_err(&key_path, e))?;
    if let Err(e) = crate::fsutil::write_new_atomic(&pub_path, public.as_bytes(), Some(0o644)) {
        // Leave nothing half-made: the private key was written by this run.
        let _ = std::fs::remove_file(&key_path);
        return Err(write_err(&pub_path, e));
    }
    Ok((key.id().to_string(), key_path, pub_path))
}
