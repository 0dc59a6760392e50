//! Sets read from data files: `set blocked_hosts = file("data/blocked_hosts.txt")`.
//!
//! A data file is read once, when the bundle is built, and its items become the set's
//! constants: a decision stays a pure function of the bundle and the event, with no store to
//! query at run time. Its bytes are part of the bundle's source digest (and so of the bundle's
//! digest and of any signature over the bundle).
//!
//! Formats, by the file's name:
//! - `*.json`: a JSON array of strings, numbers or booleans, all of one type;
//! - anything else: text, one string per line. Surrounding whitespace is trimmed, and empty
//!   lines and lines starting with `#` are skipped (write such items in a JSON file).
//!
//! The checker reads files through a [`DataSource`], so that the bundle can be checked from
//! memory (tests, fuzzing) exactly as from disk (`crate::source::DiskData`).

use std::collections::BTreeMap;

use super::ir::Const;

/// The largest data file read, in bytes ([`crate::limits::DATA_FILE`]).
pub const MAX_DATA_FILE: u64 = crate::limits::DATA_FILE.max;

/// The most bytes of data files one bundle reads, all files together
/// ([`crate::limits::DATA_TOTAL`]).
pub const MAX_DATA_TOTAL: u64 = crate::limits::DATA_TOTAL.max;

/// A data file named by a policy: where it is and how it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataName {
    /// The directory of the policy file that names it, as in the policy's name (`""` for the
    /// working directory).
    pub dir: String,
    /// The path as written, normalized: relative, `/`-separated, without `.` components.
    pub rel: String,
    /// `dir/rel`: the name the file is known by in messages and in the source digest.
    pub name: String,
}

/// Why a data file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataError {
    /// It does not exist or cannot be opened; the reason.
    Unreadable(String),
    /// It is larger than the limit it was read with.
    TooLarge,
    /// It resolves (through a symbolic link) to a place outside the policy's directory.
    Outside,
}

/// Where the checker reads data files from.
pub trait DataSource {
    /// The bytes of the data file `name`, refusing more than `limit` bytes.
    fn read(&self, name: &DataName, limit: u64) -> Result<Vec<u8>, DataError>;
}

/// No data files at all: every `file("…")` is reported as unreadable.
pub struct NoData;

impl DataSource for NoData {
    fn read(&self, _: &DataName, _: u64) -> Result<Vec<u8>, DataError> {
        Err(DataError::Unreadable(
            "data files are not read when policies are checked from memory".into(),
        ))
    }
}

/// Data files held in memory, by name (`dir/rel`).
impl DataSource for BTreeMap<String, Vec<u8>> {
    fn read(&self, name: &DataName, limit: u64) -> Result<Vec<u8>, DataError> {
        match self.get(&name.name) {
            Some(b) if b.len() as u64 > limit => Err(DataError::TooLarge),
            Some(b) => Ok(b.clone()),
            None => Err(DataError::Unreadable("no such file".into())),
        }
    }
}

/// The data file `written` names for the policy file `policy`, or why it may not be read: the
/// path must be relative and stay inside the directory of the policy file, so that a bundle
/// built (or signed) from a directory reads nothing from outside it.
pub fn resolve(policy: &str, written: &str) -> Result<DataName, String> {
    if written.is_empty() {
        return Err("the path is empty".into());
    }
    if written.starts_with('/') || written.contains('\\') || written.contains(':') {
        return Err(
            "write the path relative to the policy file, with `/` between directories".into(),
        );
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in written.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err("the path leaves the directory of the policy file".into());
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("the path names no file".into());
    }
    let rel = parts.join("/");
    let dir = match policy.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => policy.get(..i).unwrap_or("").to_string(),
        None => String::new(),
    };
    let name = match dir.as_str() {
        "" => rel.clone(),
        "/" => format!("/{rel}"),
        d => format!("{d}/{rel}"),
    };
    Ok(DataName { dir, rel, name })
}

/// A problem at one place of a data file: a byte range and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemError {
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub label: String,
    /// Another place that explains it (the first item, for a mixed-type file).
    pub related: Option<(usize, usize, String)>,
}

/// The items of a data file's text, each with its byte range, in file order (repeats kept).
pub fn parse(name: &str, text: &str) -> Result<Vec<Const>, ItemError> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        parse_json(text)
    } else {
        Ok(parse_lines(text))
    }
}

fn parse_lines(text: &str) -> Vec<Const> {
    // Sized once: a million-line file does not grow the vector twenty times.
    let mut out = Vec::with_capacity(memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1);
    out.extend(
        text.split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| Const::String(l.to_string())),
    );
    out
}

fn parse_json(text: &str) -> Result<Vec<Const>, ItemError> {
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(|e| {
        let at = offset_of(text, e.line(), e.column());
        let message = match e.classify() {
            serde_json::error::Category::Data => {
                "a JSON data file holds one array of strings, numbers or booleans".to_string()
            }
            _ => format!("not valid JSON: {e}"),
        };
        ItemError {
            start: at,
            end: next_char(text, at),
            message,
            label: "here".into(),
            related: None,
        }
    })?;
    let mut out = Vec::with_capacity(items.len());
    let mut first: Option<(&'static str, usize, usize)> = None;
    for raw in items {
        let s = raw.get();
        let start = (s.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        let end = start + s.len();
        let bad = |message: String, label: &str| ItemError {
            start,
            end,
            message,
            label: label.to_string(),
            related: None,
        };
        let c = match s.as_bytes().first() {
            Some(b'"') => Const::String(
                serde_json::from_str::<String>(s)
                    .map_err(|e| bad(format!("not a valid string: {e}"), "here"))?,
            ),
            Some(b't') => Const::Bool(true),
            Some(b'f') => Const::Bool(false),
            Some(b'-' | b'0'..=b'9') => match serde_json::from_str::<f64>(s) {
                Ok(n) if n.is_finite() => Const::Number(n),
                _ => {
                    return Err(bad(
                        "the number is out of range".into(),
                        "not a finite 64-bit number",
                    ));
                }
            },
            _ => {
                return Err(bad(
                    "set items are strings, numbers or booleans".into(),
                    "not a string, number or boolean",
                ));
            }
        };
        let kind = c.scalar().name();
        match first {
            None => first = Some((kind, start, end)),
            Some((k, fs, fe)) if k != kind => {
                return Err(ItemError {
                    start,
                    end,
                    message: format!("the file mixes {k}s and {kind}s"),
                    label: format!("a {kind}"),
                    related: Some((fs, fe, format!("the first item is a {k}"))),
                });
            }
            _ => {}
        }
        out.push(c);
    }
    Ok(out)
}

/// The byte offset of a 1-based line and column (in bytes, as serde_json counts them).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0usize;
    for _ in 1..line {
        match text.get(start..).and_then(|t| t.find('\n')) {
            Some(i) => start += i + 1,
            None => break,
        }
    }
    let mut at = (start + column.saturating_sub(1)).min(text.len());
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn next_char(text: &str, at: usize) -> usize {
    text.get(at..)
        .and_then(|t| t.chars().next())
        .map_or(at, |c| at + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_policy_directory() {
        let n = resolve("policies/a.gov", "./data//hosts.txt").unwrap();
        assert_eq!(n.name, "policies/data/hosts.txt");
        assert_eq!(n.dir, "policies");
        assert_eq!(resolve("a.gov", "h.txt").unwrap().name, "h.txt");
        assert_eq!(resolve("/p/a.gov", "h.txt").unwrap().name, "/p/h.txt");
        for bad in [
            "../h.txt",
            "d/../../h",
            "/etc/passwd",
            "",
            ".",
            "c:\\x",
            "a\\b",
        ] {
            assert!(resolve("p/a.gov", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_and_json() {
        assert_eq!(
            parse("h.txt", "# hosts\r\n a.com \r\n\n\tb.com\n").unwrap(),
            vec![Const::String("a.com".into()), Const::String("b.com".into())]
        );
        assert_eq!(
            parse("n.JSON", "[1, 2.5, -3]").unwrap(),
            vec![Const::Number(1.0), Const::Number(2.5), Const::Number(-3.0)]
        );
        let e = parse("m.json", "[\n\"a\",\n2\n]").unwrap_err();
        assert_eq!(e.message, "the file mixes strings and numbers");
        assert_eq!(&"[\n\"a\",\n2\n]"[e.start..e.end], "2");
        let e = parse("m.json", "[\"a\", null]").unwrap_err();
        assert!(e.message.contains("strings, numbers or booleans"), "{e:?}");
        let e = parse("m.json", "{\"a\": 1}").unwrap_err();
        assert!(e.message.contains("one array"), "{e:?}");
        let e = parse("m.json", "[1e999]").unwrap_err();
        assert!(
            e.message.contains("range") || e.message.contains("JSON"),
            "{e:?}"
        );
        let e = parse("m.json", "[1,\n 2,,]").unwrap_err();
        assert!(e.message.starts_with("not valid JSON"), "{e:?}");
        assert_eq!(e.start, 7);
    }
}
