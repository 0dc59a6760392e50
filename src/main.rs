//! The `govern` binary: parse arguments, run the command, exit with its status.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = govern::cli::Cli::parse();
    std::process::ExitCode::from(govern::commands::run(cli))
}
