//! `govern diff`: load the two versions (policy paths, bundles or a git revision of the same
//! paths), compare them with [`crate::diff`], print, and turn gates into the exit status.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{DiagFormat, DiffArgs, DiffFormat, DiffGate};
use crate::commands::{Ctx, Out, exit};
use crate::diag::{Diag, SourceFile};
use crate::diff::{self, Options, Side, output};

pub fn run(ctx: &Ctx, args: &DiffArgs) -> u8 {
    let diag_format = if args.format == DiffFormat::Json {
        DiagFormat::Json
    } else {
        DiagFormat::Human
    };
    let jobs = args.jobs.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    });
    let sides = match load_sides(args, jobs) {
        Ok(s) => s,
        Err(diags) => {
            input_errors(ctx, args.format, &diags, diag_format);
            return exit::ERROR;
        }
    };
    let [old, new] = &sides;
    let opts = Options {
        all: args.all || args.equivalent,
        budget: args.max_nodes.max(1),
        per_group: args.max_regions,
        jobs,
        ..Options::default()
    };
    let report = diff::diff(old, new, &opts);
    let text = match args.format {
        DiffFormat::Human => output::human(&report, ctx.color_out),
        DiffFormat::Json => output::json_on(&report, jobs),
        DiffFormat::Github => output::github(&report),
        DiffFormat::Sarif => output::sarif(&report),
        DiffFormat::Markdown => output::markdown(&report),
    };
    let mut out = Out::new();
    out.write_str(&text);
    out.flush();
    let failed_gate = args.fail_on.iter().any(|g| match g {
        DiffGate::NewAllow => report.new_allow(),
        DiffGate::AnyChange => report.any_change(),
    });
    let code = if failed_gate || (args.equivalent && !report.equivalent()) {
        exit::FINDINGS
    } else {
        exit::OK
    };
    // The process ends here: freeing the report's regions and the two bundles one small
    // allocation at a time (tens of milliseconds after a large comparison) is left to the
    // system, which reclaims them at once.
    std::mem::forget(report);
    std::mem::forget(sides);
    code
}

/// Reports problems with the input; in GitHub format also as annotations, in SARIF format
/// also as a log of an unsuccessful run.
fn input_errors(ctx: &Ctx, format: DiffFormat, diags: &[Diag], diag_format: DiagFormat) {
    ctx.report(diags, diag_format);
    let text = match format {
        DiffFormat::Github => crate::lint::output::github_diags(diags),
        DiffFormat::Sarif => crate::lint::output::sarif_input_errors(diags),
        _ => return,
    };
    let mut out = Out::new();
    out.write_str(&text);
    out.flush();
}

/// The two sides; two paths are loaded on two threads when `jobs` allows (each side is loaded
/// on its own, whatever the other is).
fn load_sides(args: &DiffArgs, jobs: usize) -> Result<[Side; 2], Vec<Diag>> {
    match &args.git {
        Some(spec) => {
            let paths = super::fmt::paths_or_cwd(&args.paths);
            let (old_rev, new_rev) = match spec.split_once("..") {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (spec.clone(), None),
            };
            let old = git_side(&old_rev, &paths)?;
            let new = match new_rev {
                Some(rev) => git_side(&rev, &paths)?,
                None => path_side(&paths)?,
            };
            Ok([old, new])
        }
        None => match args.paths.as_slice() {
            [old, new] => {
                // Both sides are reported together when both fail.
                let (o, n) = if jobs > 1 {
                    std::thread::scope(|scope| {
                        let n = scope.spawn(|| path_side(std::slice::from_ref(new)));
                        let o = path_side(std::slice::from_ref(old));
                        match n.join() {
                            Ok(n) => (o, n),
                            Err(e) => std::panic::resume_unwind(e),
                        }
                    })
                } else {
                    (
                        path_side(std::slice::from_ref(old)),
                        path_side(std::slice::from_ref(new)),
                    )
                };
                match (o, n) {
                    (Ok(o), Ok(n)) => Ok([o, n]),
                    (Err(mut a), Err(b)) => {
                        a.extend(b);
                        Err(a)
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            _ => Err(vec![
                Diag::error(
                    "govern::usage",
                    format!(
                        "`govern diff` compares two versions, OLD and NEW; {} given",
                        args.paths.len()
                    ),
                )
                .help(
                    "give two paths (`govern diff old/ new/`), or a git revision and the paths \
                     to compare with the working tree (`govern diff --git main policies/`)",
                ),
            ]),
        },
    }
}

fn label(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| crate::source::display(p))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `path` is a compiled bundle: a `.govb` file, or a file that starts like one.
fn is_bundle(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    if path.extension().is_some_and(|e| e == "govb") {
        return true;
    }
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == crate::bytecode::MAGIC
}

/// A side from the working tree: one bundle, or policy files and directories.
fn path_side(paths: &[PathBuf]) -> Result<Side, Vec<Diag>> {
    if let [one] = paths
        && is_bundle(one)
    {
        let program = crate::pipeline::load_bundle(one).map_err(|d| vec![d])?;
        return Ok(Side {
            label: label(paths),
            program,
            bundle: None,
            rev: None,
        });
    }
    let files = crate::source::load(paths)?;
    Side::from_sources(label(paths), files)
}

/// A side read from a git revision: the `.gov` files under `paths` as they are in `rev`.
fn git_side(rev: &str, paths: &[PathBuf]) -> Result<Side, Vec<Diag>> {
    let files = git_files(rev, paths)?;
    let mut side = Side::from_sources(format!("{rev}:{}", label(paths)), files)?;
    side.rev = Some(rev.to_string());
    Ok(side)
}

fn git_error(message: impl Into<String>) -> Diag {
    Diag::error("govern::git", message)
}

/// Runs `git` with `args` in the current directory; its standard output, or the error it
/// printed.
fn git(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The `.gov` files under `paths` in revision `rev`, named `REV:path`. Only `git rev-parse`,
/// `git cat-file` and `git ls-tree` run: the working tree, the index and the refs are never
/// touched.
fn git_files(rev: &str, paths: &[PathBuf]) -> Result<Vec<SourceFile>, Vec<Diag>> {
    if rev.is_empty() || rev.starts_with('-') || rev.chars().any(char::is_control) {
        return Err(vec![
            git_error(format!(
                "`{}` is not a git revision",
                crate::source::printable(rev)
            ))
            .help("name a branch, a tag or a commit: `--git main`, `--git v1.2.0..HEAD`"),
        ]);
    }
    if let Err(e) = git(&["rev-parse", "--is-inside-work-tree"]) {
        return Err(vec![
            git_error(format!("--git needs a git repository: {e}"))
                .help("run `govern diff --git` inside the repository that holds the policies"),
        ]);
    }
    let commit = format!("{rev}^{{commit}}");
    if git(&["rev-parse", "--verify", "--quiet", &commit]).is_err() {
        return Err(vec![
            git_error(format!(
                "git revision `{}` does not exist",
                crate::source::printable(rev)
            ))
            .help("fetch it first (`git fetch origin main`), or name an existing branch, tag or commit"),
        ]);
    }
    let mut names: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let shown = crate::source::display(p);
        if p.is_absolute() {
            errors.push(
                git_error(format!(
                    "`{shown}`: --git needs paths relative to the current directory"
                ))
                .help("run govern diff from inside the repository with a relative path"),
            );
            continue;
        }
        let rel = if shown.is_empty() {
            ".".to_string()
        } else {
            shown.clone()
        };
        let object = format!("{rev}:./{rel}");
        let kind = match git(&["cat-file", "-t", &object]) {
            Ok(k) => String::from_utf8_lossy(&k).trim().to_string(),
            Err(_) => {
                errors.push(
                    git_error(format!(
                        "`{shown}` does not exist in git revision `{}`",
                        crate::source::printable(rev)
                    ))
                    .help("check the path, and that the revision is the one you mean"),
                );
                continue;
            }
        };
        match kind.as_str() {
            "blob" => names.push(rel),
            "tree" => match git(&["ls-tree", "-r", "-z", "--name-only", rev, "--", &rel]) {
                Ok(list) => {
                    for name in list.split(|b| *b == 0) {
                        let name = String::from_utf8_lossy(name).to_string();
                        if name.ends_with(".gov") {
                            names.push(name);
                        }
                    }
                }
                Err(e) => errors.push(git_error(format!("cannot list `{shown}` in `{rev}`: {e}"))),
            },
            other => errors.push(git_error(format!(
                "`{shown}` in git revision `{rev}` is a {other}, not a file or directory"
            ))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(vec![
            git_error(format!(
                "no `.gov` files found in {} at git revision `{}`",
                label(paths),
                crate::source::printable(rev)
            ))
            .help("pass the policy files or directories that hold them in that revision"),
        ]);
    }
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let name = name.strip_prefix("./").unwrap_or(&name).to_string();
        let shown = format!("{rev}:{name}");
        let object = format!("{rev}:./{name}");
        // The size first: a blob past the policy-file limit is refused before it is read, as
        // a file in the working tree is.
        let limit = crate::limits::POLICY_FILE;
        match git(&["cat-file", "-s", &object]) {
            Ok(size) => match String::from_utf8_lossy(&size).trim().parse::<u64>() {
                Ok(size) if size > limit.max => {
                    let e = crate::limits::ReadError::TooLarge { limit, size };
                    errors.push(
                        Diag::error("govern::io", format!("cannot read: {e}")).in_file(shown, None),
                    );
                    continue;
                }
                Ok(_) => {}
                Err(_) => {
                    errors.push(git_error(format!("cannot read the size of `{shown}`")));
                    continue;
                }
            },
            Err(e) => {
                errors.push(git_error(format!("cannot read `{shown}`: {e}")));
                continue;
            }
        }
        match git(&["cat-file", "blob", &object]) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files.push(SourceFile::new(shown, crate::source::without_bom(text))),
                Err(_) => errors.push(
                    git_error("not valid UTF-8")
                        .in_file(shown, None)
                        .help("policy files are UTF-8 text"),
                ),
            },
            Err(e) => errors.push(git_error(format!("cannot read `{shown}`: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}
