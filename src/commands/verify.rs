//! `govern verify`: check a signed plugin, bundle or files against a trust file.

use crate::cli::{DiagFormat, VerifyArgs, VerifyFormat};
use crate::commands::{Ctx, Out, exit};
use crate::sign::{SigStatus, SignError, Trust, VerifyOptions};

pub fn run(ctx: &Ctx, args: &VerifyArgs) -> u8 {
    let diag_format = match args.format {
        VerifyFormat::Human => DiagFormat::Human,
        VerifyFormat::Json => DiagFormat::Json,
    };
    let trust = match Trust::load(&args.trust) {
        Ok(t) => t,
        Err(e) => {
            ctx.report(&SignError::from(e).to_diags(), diag_format);
            return exit::ERROR;
        }
    };
    let opts = VerifyOptions {
        signature: args.signature.as_deref(),
        state: args.state.as_deref(),
        now: None,
        name: None,
    };
    let report = match crate::sign::verify(&args.targets, &trust, &opts) {
        Ok(r) => r,
        Err(e) => {
            ctx.report(&e.to_diags(), diag_format);
            return exit::ERROR;
        }
    };
    let mut out = Out::new();
    if args.format == VerifyFormat::Json {
        out.line(&report.to_json().to_string());
    } else if report.ok() {
        if let Some(m) = &report.manifest {
            let mut signers: Vec<String> = report
                .signatures
                .iter()
                .filter(|s| s.status == SigStatus::Valid)
                .map(|s| s.name.clone().unwrap_or_else(|| s.keyid.clone()))
                .collect();
            signers.sort();
            let files = m.files.len();
            out.line(&format!(
                "verified {} `{}` {}: {files} file{}, signed by {} ({} of {} required)",
                m.kind,
                m.name,
                m.version,
                if files == 1 { "" } else { "s" },
                signers.join(", "),
                report.valid_keys,
                report.threshold
            ));
        }
    } else {
        out.flush();
        ctx.report(&report.to_diags(), DiagFormat::Human);
    }
    if report.ok() {
        exit::OK
    } else {
        exit::FINDINGS
    }
}
