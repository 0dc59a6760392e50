//! `govern sign`: write or extend the DSSE envelope of a plugin, bundle or files.

use std::path::Path;

use zeroize::Zeroizing;

use crate::cli::{DiagFormat, SignArgs};
use crate::commands::{Ctx, Out, exit};
use crate::diag::Diag;
use crate::sign::{PrivateKey, SignError, SignOptions};

/// Reads a key file's text (wiped when dropped).
pub fn read_key_text(path: &Path) -> Result<Zeroizing<String>, SignError> {
    key_text(path).map_err(|e| e.coded("govern::key"))
}

fn key_text(path: &Path) -> Result<Zeroizing<String>, SignError> {
    // Key files are small; anything larger is not a key.
    let bytes = Zeroizing::new(
        crate::limits::read_file(path, crate::limits::KEY_FILE).map_err(|e| match e {
            crate::limits::ReadError::Io(e) => SignError::io(path, "read the key", &e),
            too_large => SignError::malformed(
                &crate::source::display(path),
                None,
                format!("not a key: {too_large}"),
                None,
            ),
        })?,
    );
    match std::str::from_utf8(&bytes) {
        Ok(t) => Ok(Zeroizing::new(t.to_string())),
        Err(_) => Err(SignError::malformed(
            &crate::source::display(path),
            None,
            "not a PEM key: the file is not text",
            Some(
                "keys are PEM files; convert a DER key with `openssl pkey -inform DER -in KEY.der -out KEY.key`",
            ),
        )),
    }
}

fn load_private(ctx: &Ctx, path: &Path) -> Result<PrivateKey, SignError> {
    let text = read_key_text(path)?;
    let key = PrivateKey::from_pem(&text).map_err(|e| SignError::key(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                ctx.report(
                    &[Diag::warning(
                        "govern::sign",
                        format!("the private key can be read by other users (mode {mode:04o})"),
                    )
                    .in_file(crate::source::display(path), None)
                    .help(format!("`chmod 600 {}`", crate::source::display(path)))],
                    DiagFormat::Human,
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctx;
    Ok(key)
}

pub fn run(ctx: &Ctx, args: &SignArgs) -> u8 {
    let key = match load_private(ctx, &args.key) {
        Ok(k) => k,
        Err(e) => {
            ctx.report(&e.to_diags(), DiagFormat::Human);
            return exit::ERROR;
        }
    };
    let opts = SignOptions {
        out: args.out.clone(),
        expires: args.expires.clone(),
        name: args.name.clone(),
        version: args.version.clone(),
        created: args.created.clone(),
    };
    let signed = match crate::sign::sign(&args.targets, &key, &opts) {
        Ok(s) => s,
        Err(e) => {
            ctx.report(&e.to_diags(), DiagFormat::Human);
            return exit::ERROR;
        }
    };
    let m = &signed.manifest;
    let env = crate::source::display(&signed.envelope);
    let files = m.files.len();
    let what = format!(
        "{} `{}` {} ({files} file{})",
        m.kind,
        m.name,
        m.version,
        if files == 1 { "" } else { "s" }
    );
    let sigs = format!(
        "{} signature{}",
        signed.signatures,
        if signed.signatures == 1 { "" } else { "s" }
    );
    let mut out = Out::new();
    if !signed.added {
        out.line(&format!(
            "{env} already holds the signature of {} over {what}: nothing changed",
            signed.keyid
        ));
    } else if signed.extended {
        out.line(&format!(
            "added the signature of {} to {env} ({sigs}) over {what}",
            signed.keyid
        ));
    } else {
        out.line(&format!("signed {what} with {}: wrote {env}", signed.keyid));
    }
    exit::OK
}
