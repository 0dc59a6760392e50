//! `govern completions <shell>`: prints a completion script.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::commands::{Ctx, Out, exit};

/// The completion script for `shell`.
pub fn script(shell: clap_complete::Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "govern", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

pub fn run(_ctx: &Ctx, args: &CompletionsArgs) -> u8 {
    let mut out = Out::new();
    out.write_str(&script(args.shell));
    exit::OK
}
