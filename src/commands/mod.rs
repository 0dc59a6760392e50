//! One module per subcommand: `fn run(ctx, args) -> u8` returns the exit status.

pub mod build;
pub mod chaos_run;
pub mod completions;
pub mod diff;
pub mod eval;
pub mod explain;
pub mod fmt;
pub mod keygen;
pub mod keyid;
pub mod lint;
pub mod mcp_import;
pub mod mcp_proxy;
pub mod replay_audit;
pub mod serve;
pub mod sign;
pub mod simulate;
pub mod test;
pub mod verify;
pub mod watch;

use std::io::{self, IsTerminal, Write};

use crate::cli::{Cli, ColorChoice, Command, DiagFormat};
use crate::diag::{Diag, RenderOptions, render_human};

/// Exit statuses every command shares.
pub mod exit {
    /// Everything worked and nothing was found.
    pub const OK: u8 = 0;
    /// Findings, failures or a denying decision (see each command).
    pub const FINDINGS: u8 = 1;
    /// Usage, input or I/O errors.
    pub const ERROR: u8 = 2;
}

/// What every command needs to talk to the user.
pub struct Ctx {
    /// Colour on standard error.
    pub color_err: bool,
    /// Colour on standard output.
    pub color_out: bool,
    pub stdout_tty: bool,
    pub stderr_tty: bool,
}

impl Ctx {
    pub fn new(choice: ColorChoice) -> Ctx {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        let pick = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Ctx {
            color_err: pick(stderr_tty),
            color_out: pick(stdout_tty),
            stdout_tty,
            stderr_tty,
        }
    }

    /// Prints diagnostics on standard error.
    pub fn report(&self, diags: &[Diag], format: DiagFormat) {
        let mut err = io::stderr().lock();
        for d in diags {
            let text = match format {
                DiagFormat::Human => render_human(
                    d,
                    RenderOptions {
                        color: self.color_err,
                        ..RenderOptions::default()
                    },
                ),
                DiagFormat::Json => format!("{}\n", d.to_json()),
            };
            let _ = err.write_all(text.as_bytes());
        }
        if format == DiagFormat::Human {
            let errors = diags.iter().filter(|d| d.is_error()).count();
            if errors > 1 {
                let _ = writeln!(err, "{errors} errors");
            }
        }
    }

    /// Prints one warning without a source snippet: `warning: message`.
    pub fn warn(&self, message: impl std::fmt::Display) {
        let mut err = io::stderr().lock();
        let _ = if self.color_err {
            writeln!(err, "\x1b[1;33mwarning\x1b[0m: {message}")
        } else {
            writeln!(err, "warning: {message}")
        };
    }

    /// Prints one error without a source snippet: `error: message`.
    pub fn error(&self, message: impl std::fmt::Display) {
        let mut err = io::stderr().lock();
        let _ = if self.color_err {
            writeln!(err, "\x1b[1;31merror\x1b[0m: {message}")
        } else {
            writeln!(err, "error: {message}")
        };
    }
}

/// Runs the command line; returns the process exit status.
pub fn run(cli: Cli) -> u8 {
    let ctx = Ctx::new(cli.color);
    let status = dispatch(&ctx, cli.command);
    // Output that could not be written (a full disk…) is lost whatever the command decided:
    // CI must not read a status 0 or 1 as a result it never saw.
    match OUTPUT_LOST.get() {
        Some(e) => {
            ctx.error(format!("cannot write to standard output: {e}"));
            exit::ERROR
        }
        None => status,
    }
}

fn dispatch(ctx: &Ctx, command: Command) -> u8 {
    match command {
        Command::Build(a) => build::run(ctx, &a),
        Command::Eval(a) => eval::run(ctx, &a),
        Command::ReplayAudit(a) => replay_audit::run(ctx, &a),
        Command::Simulate(a) => simulate::run(ctx, &a),
        Command::ChaosRun(a) => chaos_run::run(ctx, &a),
        Command::Serve(a) => serve::run(ctx, &a),
        Command::Diff(a) => diff::run(ctx, &a),
        Command::Keygen(a) => keygen::run(ctx, &a),
        Command::Sign(a) => sign::run(ctx, &a),
        Command::Verify(a) => verify::run(ctx, &a),
        Command::Keyid(a) => keyid::run(ctx, &a),
        Command::McpImport(a) => mcp_import::run(ctx, &a),
        Command::McpProxy(a) => mcp_proxy::run(ctx, &a),
        Command::Test(a) => test::run(ctx, &a),
        Command::Completions(a) => completions::run(ctx, &a),
        Command::Lint(a) => lint::run(ctx, &a),
        Command::Explain(a) => explain::run(ctx, &a),
        Command::Fmt(a) => fmt::run(ctx, &a),
    }
}

/// The first error writing standard output other than a closed pipe (a full disk…), from any
/// [`Out`]: [`run`] turns it into exit status 2 after the command.
static OUTPUT_LOST: std::sync::OnceLock<io::Error> = std::sync::OnceLock::new();

/// Standard output, buffered, where a closed pipe (`| head`) ends output quietly and any other
/// write error makes the command fail (exit 2) once it is done.
pub struct Out {
    w: io::BufWriter<io::StdoutLock<'static>>,
    pub closed: bool,
}

impl Out {
    pub fn new() -> Out {
        Out {
            w: io::BufWriter::with_capacity(1 << 16, io::stdout().lock()),
            closed: false,
        }
    }

    fn fail(&mut self, e: io::Error) {
        self.closed = true;
        if e.kind() != io::ErrorKind::BrokenPipe {
            let _ = OUTPUT_LOST.set(e);
        }
    }

    pub fn write_str(&mut self, s: &str) {
        if !self.closed
            && let Err(e) = self.w.write_all(s.as_bytes())
        {
            self.fail(e);
        }
    }

    pub fn line(&mut self, s: &str) {
        self.write_str(s);
        self.write_str("\n");
    }

    pub fn flush(&mut self) {
        if !self.closed
            && let Err(e) = self.w.flush()
        {
            self.fail(e);
        }
    }
}

impl Default for Out {
    fn default() -> Self {
        Out::new()
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The writer options of the audit flags (`--audit-sync`, `--audit-key`,
/// `--checkpoint-every`, `--audit-rotate`) shared by every command that decides; the stream
/// limits are the decision point's to set. `None` once the reason is reported (a key that
/// cannot be read).
pub(crate) fn audit_options(ctx: &Ctx, a: &crate::cli::AuditArgs) -> Option<crate::audit::Options> {
    let key = match &a.audit_key {
        Some(k) => {
            let name = crate::source::display(k);
            let text = match std::fs::read_to_string(k) {
                Ok(t) => zeroize::Zeroizing::new(t),
                Err(e) => {
                    ctx.error(format!("cannot read the audit key {name}: {e}"));
                    return None;
                }
            };
            match crate::sign::PrivateKey::from_pem(&text) {
                Ok(k) => Some(k),
                Err(e) => {
                    ctx.error(format!("{name}: {e}"));
                    return None;
                }
            }
        }
        None => None,
    };
    Some(crate::audit::Options {
        sync: match a.audit_sync {
            crate::cli::AuditSync::Always => crate::audit::SyncMode::Always,
            crate::cli::AuditSync::Batch => crate::audit::SyncMode::Batch,
            crate::cli::AuditSync::None => crate::audit::SyncMode::None,
        },
        key,
        checkpoint_every: a.checkpoint_every,
        rotate: a.audit_rotate,
        ..crate::audit::Options::default()
    })
}

/// How a decision point restarts on an existing audit log (`--fresh-state`,
/// `--restore-max`).
pub(crate) fn restore(a: &crate::cli::AuditArgs) -> crate::audit::restore::Restore {
    crate::audit::restore::Restore {
        fresh: a.fresh_state,
        max_records: a
            .restore_max
            .unwrap_or(crate::audit::restore::Restore::MAX_RECORDS),
    }
}

/// The audit log of a live decision point (`serve`, `mcp-proxy`) from the audit flags:
/// none without `--audit-log`; `None` once the reason is reported.
pub(crate) fn recorder(ctx: &Ctx, a: &crate::cli::AuditArgs) -> Option<crate::point::Recorder> {
    match &a.audit_log {
        None => Some(crate::point::Recorder::none()),
        Some(path) => Some(crate::point::Recorder::restoring(
            path.clone(),
            audit_options(ctx, a)?,
            restore(a),
        )),
    }
}
