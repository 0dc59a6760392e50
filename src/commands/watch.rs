//! `--watch`: run a command, then again whenever a `.gov` file, a data file (`.txt`, `.json`)
//! or `govern.toml` under the paths changes. Changes are debounced (editors write files in several steps) and the screen
//! is cleared first when standard output is a terminal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::commands::{Ctx, exit};

/// How long to wait for more changes after one arrives.
const DEBOUNCE: Duration = Duration::from_millis(200);

fn relevant(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e == "gov" || e == "txt" || e == "json")
        || p.file_name()
            .is_some_and(|n| n == crate::lint::config::FILE_NAME)
}

/// Runs `once` now and after every relevant change; returns only on a watcher error.
pub fn watch(ctx: &Ctx, paths: &[PathBuf], once: &mut dyn FnMut() -> u8) -> u8 {
    let clear = || {
        if ctx.stdout_tty {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(b"\x1b[2J\x1b[H");
            let _ = o.flush();
        }
    };
    let (tx, rx) = mpsc::channel();
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && ev.paths.iter().any(|p| relevant(p))
            {
                let _ = tx.send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                ctx.error(format!("cannot watch for changes: {e}"));
                return exit::ERROR;
            }
        };
    for p in paths {
        // Watch directories whole, and a file through its directory (editors replace files).
        let (target, mode) = if p.is_dir() {
            (p.clone(), RecursiveMode::Recursive)
        } else {
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
            (
                parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                RecursiveMode::NonRecursive,
            )
        };
        if let Err(e) = watcher.watch(&target, mode) {
            ctx.error(format!(
                "cannot watch {}: {e}",
                crate::source::display(&target)
            ));
            return exit::ERROR;
        }
    }
    clear();
    once();
    let _ = std::io::stdout().flush();
    loop {
        if rx.recv().is_err() {
            return exit::ERROR;
        }
        while rx.recv_timeout(DEBOUNCE).is_ok() {}
        clear();
        once();
        let _ = std::io::stdout().flush();
    }
}
