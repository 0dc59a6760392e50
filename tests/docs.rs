//! The documentation runs: every `console` code block of `README.md`, `docs/*.md` and the
//! project's other guides is a sequence of commands (`$ govern …`), each followed by its output and, when it does not
//! succeed, its exit status (`? 1`), run with `trycmd` as written. A doc whose flags, outputs,
//! counts or sample files drift from what govern does fails here.
//!
//! The commands run in a scratch folder under `target/` that links to the project's top-level
//! files and folders, so that paths read as they do from the project's root
//! (`policies/`, `testdata/…`) while files a command writes (`keys/`, `-o out/…`) land in the
//! scratch folder. Blocks marked `console,ignore`, and `sh` or `text` blocks, are not run:
//! servers, benchmarks and examples that need files outside the project. In an expected
//! output, `...` on a line of its own stands for any number of lines and `[..]` for any text
//! within a line. `TRYCMD=overwrite cargo test --test docs` rewrites the outputs in place.
//!
//! Examples that are files of their own (the README's policy, the testing guide's suite) are
//! also checked to be exactly the files the commands run; `gov` blocks must compile, the
//! commands of `sh` blocks and of `--help` must parse, and linked or named files must exist.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut more: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    // The project's other guides: the policy library, the fuzz targets, the test data.
    for other in [
        "policies/README.md",
        "fuzz/README.md",
        "testdata/redteam/README.md",
        "testdata/sarif/README.md",
        "testdata/signing/README.md",
        "testdata/suites/README.md",
        "tests/peers/README.md",
    ] {
        docs.push(root().join(other));
    }
    docs
}

/// A scratch folder whose entries link to the project's top-level entries.
fn scratch() -> PathBuf {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs");
    if work.exists() {
        fs::remove_dir_all(&work).unwrap();
    }
    fs::create_dir_all(&work).unwrap();
    for entry in fs::read_dir(root()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(entry.path(), work.join(&name)).unwrap();
    }
    work
}

#[cfg(unix)]
#[test]
fn documented_commands_run_as_written() {
    let docs = documents();
    let work = scratch();
    // Every command of a block runs from the scratch folder; the other tests of this file
    // use absolute paths, so they do not depend on the process's working folder.
    std::env::set_current_dir(&work).unwrap();
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("govern", Path::new(env!("CARGO_BIN_EXE_govern")))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100");
    for doc in &docs {
        cases.case(doc);
    }
    cases.run();
}

/// The text of the `n`th code block of `doc` whose info string is `info`.
fn block(doc: &str, info: &str, n: usize) -> String {
    let text = fs::read_to_string(root().join(doc)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_end() == format!("```{info}") => current = Some(String::new()),
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    blocks
        .into_iter()
        .nth(n)
        .unwrap_or_else(|| panic!("{doc} has no {n}th `{info}` block"))
}

#[test]
fn the_readme_policy_is_the_one_its_commands_run() {
    let file = fs::read_to_string(root().join("testdata/readme/finance.gov")).unwrap();
    assert_eq!(
        block("README.md", "gov", 0),
        file,
        "README.md's policy and testdata/readme/finance.gov differ"
    );
}

#[test]
fn the_testing_guide_suite_is_the_one_its_commands_run() {
    let file = fs::read_to_string(root().join("testdata/readme/finance.test.yaml")).unwrap();
    assert_eq!(
        block("docs/testing.md", "yaml", 0),
        file,
        "docs/testing.md's first suite and testdata/readme/finance.test.yaml differ"
    );
}

/// The anchors of a document's headings, as GitHub makes them: lowercase, letters, digits,
/// `-` and `_` kept, spaces made `-`, everything else dropped.
fn headings(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let title = l.trim_start_matches('#');
            (title.len() < l.len() && title.starts_with(' ')).then_some(title.trim())
        })
        .map(|title| {
            title
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Every relative link of the documents (and the heading it points at), and every path of the project they name in
/// backticks (`testdata/…`, `src/…`), exists: a document never points at a file that is not
/// in the project. Patterns (`*`, `…`, `CODE-name`) are not paths.
#[test]
fn the_files_the_documents_name_exist() {
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").unwrap();
    let code = regex::Regex::new(r"`([^`\s]+)`").unwrap();
    let anchor = regex::Regex::new(r"\]\(([^)#\s]*)#([^)\s]+)\)").unwrap();
    let tops = [
        "src/",
        "tests/",
        "testdata/",
        "docs/",
        "benches/",
        "examples/",
        "fuzz/",
        "policies/",
        "grammar/",
        "completions/",
        "snapshots/",
        ".ci/",
    ];
    let mut missing = Vec::new();
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        let base = doc.parent().unwrap();
        let shown = doc.strip_prefix(root()).unwrap().display().to_string();
        for m in link.captures_iter(&text) {
            let target = &m[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !base.join(target).exists() {
                missing.push(format!("{shown}: link {target}"));
            }
        }
        for m in anchor.captures_iter(&text) {
            let (target, fragment) = (&m[1], &m[2]);
            let file = if target.is_empty() {
                doc.clone()
            } else {
                base.join(target)
            };
            if file.extension().is_some_and(|e| e == "md")
                && let Ok(other) = fs::read_to_string(&file)
                && !headings(&other).iter().any(|h| h == fragment)
            {
                missing.push(format!("{shown}: link {target}#{fragment}"));
            }
        }
        for m in code.captures_iter(&text) {
            let t = m[1].trim_end_matches(['.', ',', ':', ';']);
            let path = t.split(':').next().unwrap_or(t);
            if !tops.iter().any(|p| path.starts_with(p))
                || path.contains(['*', '…', '{', '<', '$'])
                || path.contains("CODE-name")
            {
                continue;
            }
            if !root().join(path).exists() && !base.join(path).exists() {
                missing.push(format!("{shown}: `{t}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the documents name files that are not in the project:\n{}",
        missing.join("\n")
    );
}

/// Splits a shell command line into words: blanks separate, `'…'` and `"…"` quote, and a
/// redirection (`>`, `<`, `|`) or a comment (` #`) ends the command.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, '>' | '<' | '|') => break,
            (None, '#') if word.is_none() => break,
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

/// The `govern …` command lines of `text`: a line's `\` continuation joined, a leading `$ `
/// or a path to the binary (`target/release/govern`) taken as `govern`.
fn command_lines(text: &str) -> Vec<Vec<String>> {
    let mut lines = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let full = full.strip_prefix("$ ").unwrap_or(&full);
        let mut w = words(full);
        if w.first()
            .is_some_and(|b| b == "govern" || b.ends_with("/govern"))
        {
            w[0] = "govern".into();
            lines.push(w);
        }
    }
    lines
}

/// Every `govern …` command of the documents' `sh` blocks (the examples that are not run)
/// and of the examples in `--help` parses: no flag, value or subcommand that does not exist.
#[test]
fn documented_commands_that_are_not_run_parse() {
    use clap::{CommandFactory, Parser};
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut check = |place: String, args: Vec<String>| {
        checked += 1;
        if let Err(e) = govern::cli::Cli::try_parse_from(&args) {
            wrong.push(format!("{place}: `{}`: {}", args.join(" "), e.kind()));
        }
    };
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        let shown = doc.strip_prefix(root()).unwrap().display().to_string();
        let mut in_sh = false;
        let mut block = String::new();
        for line in text.lines() {
            if !in_sh && line.trim_end() == "```sh" {
                in_sh = true;
            } else if in_sh && line.trim_end() == "```" {
                in_sh = false;
                for args in command_lines(&std::mem::take(&mut block)) {
                    check(shown.clone(), args);
                }
            } else if in_sh {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    let cli = govern::cli::Cli::command();
    for sub in cli.get_subcommands() {
        for help in [sub.get_after_help(), sub.get_after_long_help()]
            .into_iter()
            .flatten()
        {
            for args in command_lines(&help.to_string()) {
                check(format!("govern {} --help", sub.get_name()), args);
            }
        }
    }
    assert!(checked > 20, "only {checked} commands found");
    assert!(
        wrong.is_empty(),
        "documented commands that govern does not accept:\n{}",
        wrong.join("\n")
    );
}

/// Every ` ```gov ` block of the documents compiles (`govern build`): a block of rules alone
/// is compiled inside a `policy`. Sketches of the grammar (`policy NAME { … }`), examples
/// that read data files and excerpts of a larger policy are marked ` ```gov,ignore `.
#[test]
fn the_documented_policies_compile() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-gov");
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    let mut wrong = Vec::new();
    let mut count = 0;
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        let shown = doc.strip_prefix(root()).unwrap().display().to_string();
        let mut block: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_end() == "```gov" => block = Some((n + 1, String::new())),
                Some(_) if line.trim_end() == "```" => {
                    let Some((at, source)) = block.take() else {
                        continue;
                    };
                    let first = source
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty() && !l.starts_with("//"))
                        .unwrap_or("");
                    let source = if first.starts_with("rule ") || first.starts_with('@') {
                        format!("policy p {{\n{source}}}\n")
                    } else {
                        source
                    };
                    count += 1;
                    let file = dir.join(format!("{}_{at}.gov", shown.replace('/', "_")));
                    fs::write(&file, source).unwrap();
                    let out = std::process::Command::new(env!("CARGO_BIN_EXE_govern"))
                        .args(["build", file.to_str().unwrap(), "-o"])
                        .arg(dir.join("out.govb"))
                        .env("NO_COLOR", "1")
                        .output()
                        .unwrap();
                    if !out.status.success() {
                        wrong.push(format!(
                            "{shown}:{at}:\n{}",
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
                Some((_, b)) => {
                    b.push_str(line);
                    b.push('\n');
                }
                None => {}
            }
        }
    }
    assert!(count > 20, "only {count} policies found");
    assert!(
        wrong.is_empty(),
        "documented policies that do not compile:\n{}",
        wrong.join("\n")
    );
}
