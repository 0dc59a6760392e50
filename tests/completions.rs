//! The shell completion scripts in `completions/` must match what `govern completions` prints
//! today. When the command line changes, regenerate them with
//! `GOVERN_BLESS=1 cargo test --test completions`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use clap_complete::Shell;

const SCRIPTS: &[(Shell, &str)] = &[
    (Shell::Bash, "govern.bash"),
    (Shell::Zsh, "_govern"),
    (Shell::Fish, "govern.fish"),
    (Shell::PowerShell, "_govern.ps1"),
    (Shell::Elvish, "govern.elv"),
];

#[test]
fn completion_scripts_are_fresh() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let bless = std::env::var_os("GOVERN_BLESS").is_some();
    let mut stale = Vec::new();
    for (shell, file) in SCRIPTS {
        let want = govern::commands::completions::script(*shell);
        assert!(want.contains("eval"), "{file} does not mention `eval`");
        let path = dir.join(file);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(have) if have == want => {}
            _ => stale.push(*file),
        }
    }
    assert!(
        stale.is_empty(),
        "stale completion scripts in completions/: {stale:?}; regenerate them with `GOVERN_BLESS=1 cargo test --test completions`"
    );
}
