//! `govern.toml`: per-project lint settings, found by walking up from the linted paths.
//!
//! ```toml
//! [lint]
//! fail-level = "warn"          # optional: the default of --fail-level
//!
//! [lint.levels]                # optional: a level per lint, by code or by name
//! G0103 = "off"                # error, warn, info or off
//! missing-because = "error"
//! ```
//!
//! Unknown keys, unknown lints and unknown levels are errors that name the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{Level, Levels};
use crate::diag::{Diag, did_you_mean};

/// The file name looked for.
pub const FILE_NAME: &str = "govern.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    lint: RawLint,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLint {
    fail_level: Option<Spanned<String>>,
    /// Keys and values with their places in the file, for errors that name the line.
    #[serde(default)]
    levels: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// Settings read from a `govern.toml`.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Where it was read from, if a file was found.
    pub path: Option<PathBuf>,
    pub levels: Levels,
    pub fail_level: Option<Level>,
}

/// The nearest `govern.toml` in the directory of the first path or any parent.
pub fn find(paths: &[PathBuf]) -> Option<PathBuf> {
    let first = paths.first()?;
    let abs = std::path::absolute(first).ok()?;
    let mut dir: Option<&Path> = if abs.is_dir() {
        Some(abs.as_path())
    } else {
        abs.parent()
    };
    while let Some(d) = dir {
        let candidate = d.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

/// Finds and reads the configuration for `paths`; no file gives the defaults.
pub fn load(paths: &[PathBuf]) -> Result<Config, Box<Diag>> {
    match find(paths) {
        None => Ok(Config::default()),
        Some(p) => {
            // Shown relative to the current directory when it is below it.
            let shown = std::env::current_dir()
                .ok()
                .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
                .unwrap_or_else(|| p.clone());
            let name = crate::source::display(&shown);
            let text = crate::limits::read_text(&p, crate::limits::CONFIG).map_err(|e| {
                Diag::error("govern::config", format!("cannot read {FILE_NAME}: {e}"))
                    .in_file(&name, None)
            })?;
            let mut c = parse(&name, &text)?;
            c.path = Some(p);
            Ok(c)
        }
    }
}

/// Parses the text of a `govern.toml` named `name`.
pub fn parse(name: &str, text: &str) -> Result<Config, Box<Diag>> {
    let line_of = |offset: usize| crate::diag::line_col(text, offset).0;
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(s.start));
        Diag::error(
            "govern::config",
            format!("invalid {FILE_NAME}: {}", e.message()),
        )
        .in_file(name, line)
        .help("see `govern lint --help` for the format")
    })?;
    let line_at = |span: std::ops::Range<usize>| Some(line_of(span.start));
    let mut levels = Levels::default();
    // Where each lint was set, to refuse setting it twice (by code and by name, say).
    let mut set_at: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    let mut entries: Vec<(&Spanned<String>, &Spanned<String>)> = raw.lint.levels.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (key_s, value_s) in entries {
        let (key, value) = (key_s.get_ref(), value_s.get_ref());
        let Some(lint) = super::find(key) else {
            let names = super::rules::ALL.iter().flat_map(|l| [l.code, l.name]);
            let mut d = Diag::error(
                "govern::config",
                format!("unknown lint `{key}` in [lint.levels]"),
            )
            .in_file(name, line_at(key_s.span()));
            d = d.help(match did_you_mean(key, names) {
                Some(s) => format!("did you mean `{s}`? `govern explain --all` lists the lints"),
                None => "`govern explain --all` lists the lints".to_string(),
            });
            return Err(Box::new(d));
        };
        let line = line_of(key_s.span().start);
        if let Some((first, first_key)) = set_at.insert(lint.code, (line, key)) {
            return Err(Box::new(
                Diag::error(
                    "govern::config",
                    format!(
                        "`{}` ({}) is set twice in [lint.levels]: as `{first_key}` on line {first} and as `{key}`",
                        lint.code, lint.name
                    ),
                )
                .in_file(name, Some(line))
                .help("keep one of the two settings"),
            ));
        }
        let level = if value == "off" {
            None
        } else {
            Some(Level::parse(value).ok_or_else(|| {
                Diag::error(
                    "govern::config",
                    format!("unknown level `{value}` for `{key}`"),
                )
                .in_file(name, line_at(value_s.span()))
                .help("levels are error, warn, info and off")
            })?)
        };
        levels.overrides.insert(lint.code.to_string(), level);
    }
    let fail_level = match &raw.lint.fail_level {
        None => None,
        Some(v) => Some(Level::parse(v.get_ref()).ok_or_else(|| {
            Box::new(
                Diag::error(
                    "govern::config",
                    format!("unknown fail-level `{}`", v.get_ref()),
                )
                .in_file(name, line_at(v.span()))
                .help("fail-level is error, warn or info"),
            )
        })?),
    };
    Ok(Config {
        path: None,
        levels,
        fail_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels() {
        let c = parse(
            "govern.toml",
            "[lint]\nfail-level = \"warn\"\n[lint.levels]\nG0103 = \"off\"\nmissing-because = \"error\"\n",
        )
        .unwrap();
        assert_eq!(c.fail_level, Some(Level::Warn));
        assert_eq!(c.levels.overrides.get("G0103"), Some(&None));
        assert_eq!(c.levels.overrides.get("G0201"), Some(&Some(Level::Error)));
    }

    #[test]
    fn refuses_bad_input() {
        let e = parse("govern.toml", "[lint.levels]\nmissing-becuase = \"off\"\n").unwrap_err();
        assert!(e.message.contains("missing-becuase"));
        assert_eq!(e.location.unwrap().line, Some(2));
        let e = parse("govern.toml", "[lint.levels]\nG0101 = \"loud\"\n").unwrap_err();
        assert!(e.message.contains("loud"));
        let e = parse("govern.toml", "[lint]\nfaillevel = 1\n").unwrap_err();
        assert!(e.message.contains("faillevel"), "{}", e.message);
    }

    #[test]
    fn one_lint_set_twice_is_an_error() {
        // By code and by name, or in two cases: which one wins would be an accident.
        for text in [
            "[lint.levels]\nmissing-because = \"error\"\nG0201 = \"off\"\n",
            "[lint.levels]\nG0201 = \"off\"\ng0201 = \"error\"\n",
        ] {
            let e = parse("govern.toml", text).unwrap_err();
            assert!(e.message.contains("set twice"), "{}", e.message);
            assert_eq!(e.location.unwrap().line, Some(3), "{text}");
        }
    }

    #[test]
    fn errors_name_the_line_however_the_key_is_written() {
        let e = parse(
            "govern.toml",
            "[lint.levels]\n\"missing-becuase\" = \"off\"\n",
        )
        .unwrap_err();
        assert_eq!(e.location.unwrap().line, Some(2));
        let e = parse("govern.toml", "[lint]\nlevels = { G0101 = \"loud\" }\n").unwrap_err();
        assert_eq!(e.location.unwrap().line, Some(2));
        let e = parse(
            "govern.toml",
            "# fail-level = \"warn\"\n[lint]\n  fail-level   =   \"never\"\n",
        )
        .unwrap_err();
        assert_eq!(e.location.unwrap().line, Some(3));
        let e = parse("govern.toml", "[lint]\nlevels.G0101 = \"loud\"\n").unwrap_err();
        assert_eq!(e.location.unwrap().line, Some(2));
    }
}
