//! `govern lint`: check, lint and print findings; the exit status says whether any reached the
//! fail level.

use std::path::PathBuf;

use crate::cli::{DiagFormat, FailLevel, LintArgs, LintFormat};
use crate::commands::{Ctx, Out, exit};
use crate::lint::{self, Level, config, output};

pub fn run(ctx: &Ctx, args: &LintArgs) -> u8 {
    let paths = super::fmt::paths_or_cwd(&args.paths);
    if args.watch {
        return super::watch::watch(ctx, &paths, &mut || once(ctx, args, &paths));
    }
    once(ctx, args, &paths)
}

/// Reports problems with the input; in GitHub format also as annotations on standard output,
/// in SARIF format also as a log of an unsuccessful run (an empty file is no SARIF log).
fn input_errors(ctx: &Ctx, args: &LintArgs, diags: &[crate::diag::Diag], format: DiagFormat) {
    ctx.report(diags, format);
    let text = match args.format {
        LintFormat::Github => output::github_diags(diags),
        LintFormat::Sarif => output::sarif_input_errors(diags),
        LintFormat::Human | LintFormat::Json => return,
    };
    let mut out = Out::new();
    out.write_str(&text);
    out.flush();
}

fn once(ctx: &Ctx, args: &LintArgs, paths: &[PathBuf]) -> u8 {
    let diag_format = if args.format == LintFormat::Json {
        DiagFormat::Json
    } else {
        DiagFormat::Human
    };
    let cfg = match config::load(paths) {
        Ok(c) => c,
        Err(d) => {
            input_errors(ctx, args, &[*d], diag_format);
            return exit::ERROR;
        }
    };
    let files = match crate::source::load(paths) {
        Ok(f) => f,
        Err(diags) => {
            input_errors(ctx, args, &diags, diag_format);
            return exit::ERROR;
        }
    };
    let bundle = match crate::check::check_sources_with(files, &crate::source::DiskData) {
        Ok(b) => b,
        Err(diags) => {
            input_errors(ctx, args, &diags, diag_format);
            return exit::ERROR;
        }
    };
    let findings = match lint::run(&bundle, &cfg.levels) {
        Ok(f) => f,
        Err(too_large) => {
            input_errors(ctx, args, &[too_large.diag(&bundle)], diag_format);
            return exit::ERROR;
        }
    };
    let text = match args.format {
        LintFormat::Human => output::human(&bundle, &findings, ctx.color_out),
        LintFormat::Json => output::json_lines(&bundle, &findings),
        LintFormat::Sarif => output::sarif(&bundle, &findings),
        LintFormat::Github => output::github(&bundle, &findings),
    };
    let mut out = Out::new();
    out.write_str(&text);
    out.flush();
    let fail = match args.fail_level {
        Some(FailLevel::Error) => Level::Error,
        Some(FailLevel::Warn) => Level::Warn,
        Some(FailLevel::Info) => Level::Info,
        None => cfg.fail_level.unwrap_or(Level::Error),
    };
    if findings.iter().any(|f| f.level >= fail) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}
