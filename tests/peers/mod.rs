//! Test peers: other projects' own implementations (see `tests/peers/README.md`).
//!
//! `python()` returns the interpreter of a virtual environment under `target/` holding the
//! packages pinned in `tests/peers/requirements.txt`, creating it on first use. `node_dir()`
//! returns a directory under `target/` where the JavaScript packages locked in
//! `tests/peers/js/` are installed (`npm ci`) on first use. Include with
//! `#[path = "peers/mod.rs"] mod peers;` from a test file.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn requirements() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/requirements.txt")
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("peers")
}

/// Whether peer tests were switched off explicitly (`GOVERN_PEERS=skip`); the caller then
/// prints why and returns. Never set in CI.
pub fn skipped(what: &str) -> bool {
    if std::env::var("GOVERN_PEERS").as_deref() == Ok("skip") {
        eprintln!("skipped (GOVERN_PEERS=skip): {what}");
        return true;
    }
    false
}

/// The virtual environment's Python, with every pinned peer installed. Panics with the
/// reason when it cannot be made: a peer test fails rather than skip.
pub fn python() -> PathBuf {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PY.get_or_init(setup) {
        Ok(p) => p.clone(),
        Err(e) => panic!(
            "the Python test peers (tests/peers/requirements.txt) could not be installed: {e}\n\
             set GOVERN_PEERS=skip to skip peer tests explicitly"
        ),
    }
}

/// Runs `script` with the peers' Python and `args`; returns (status ok, stdout, stderr).
pub fn run_python(script: &str, args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stamp_of(req: &[u8]) -> String {
    // FNV-1a: enough to notice a changed pin list.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in req {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

fn setup() -> Result<PathBuf, String> {
    let req = fs::read(requirements()).map_err(|e| format!("reading requirements.txt: {e}"))?;
    let stamp = stamp_of(&req);
    let dir = dir();
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // Test binaries run one after another, but tests within one run in parallel and a
    // developer may run several `cargo test`s: one installer at a time.
    let lock = File::create(dir.join("lock")).map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("locking: {e}"))?;
    let venv = dir.join("venv");
    let py = venv_python(&venv);
    let stamp_file = dir.join("stamp");
    if py.exists() && fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
        return Ok(py);
    }
    let _ = fs::remove_dir_all(&venv);
    let _ = fs::remove_file(&stamp_file);
    let host = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!(
        "installing the Python test peers into {} (once)",
        venv.display()
    );
    let st = Command::new(&host)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("running `{host} -m venv`: {e}"))?;
    if !st.success() {
        return Err(format!("`{host} -m venv` failed ({st})"));
    }
    let out = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements())
        .output()
        .map_err(|e| format!("running pip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    fs::write(&stamp_file, &stamp).map_err(|e| format!("writing the stamp: {e}"))?;
    Ok(py)
}

fn js_files() -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/js");
    (dir.join("package.json"), dir.join("package-lock.json"))
}

/// A directory with the JavaScript peers (`tests/peers/js/package-lock.json`) installed in its
/// `node_modules`: copy a script there and run it with `node` so that its imports resolve.
/// Panics with the reason when Node or the packages cannot be had: a peer test fails rather
/// than skip.
pub fn node_dir() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(setup_node) {
        Ok(p) => p.clone(),
        Err(e) => panic!(
            "the JavaScript test peers (tests/peers/js) could not be installed: {e}\n\
             set GOVERN_PEERS=skip to skip peer tests explicitly"
        ),
    }
}

fn setup_node() -> Result<PathBuf, String> {
    let (manifest, lock_file) = js_files();
    let mut pins = fs::read(&manifest).map_err(|e| format!("reading package.json: {e}"))?;
    pins.extend(fs::read(&lock_file).map_err(|e| format!("reading package-lock.json: {e}"))?);
    let stamp = stamp_of(&pins);
    let dir = self::dir().join("node");
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let lock =
        File::create(self::dir().join("node.lock")).map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("locking: {e}"))?;
    let stamp_file = dir.join("stamp");
    if dir.join("node_modules").exists()
        && fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
    {
        return Ok(dir);
    }
    let version = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("running `node --version`: {e} (install Node.js 18 or later)"))?;
    if !version.status.success() {
        return Err(format!("`node --version` failed ({})", version.status));
    }
    let _ = fs::remove_dir_all(dir.join("node_modules"));
    let _ = fs::remove_file(&stamp_file);
    fs::copy(&manifest, dir.join("package.json")).map_err(|e| format!("copying: {e}"))?;
    fs::copy(&lock_file, dir.join("package-lock.json")).map_err(|e| format!("copying: {e}"))?;
    eprintln!(
        "installing the JavaScript test peers into {} (once)",
        dir.display()
    );
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("running `npm ci`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm ci failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    fs::write(&stamp_file, &stamp).map_err(|e| format!("writing the stamp: {e}"))?;
    Ok(dir)
}
