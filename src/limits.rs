//! The limits on every input govern reads, defined here once and enforced the same way by
//! every command that reads that kind of input: sizes (an event, a trace line, a policy file, a
//! bundle, an envelope, a trust file, a suite…) and nesting (YAML, JSON, policy expressions).
//! `docs/limits.md` has the table; a test keeps it equal to [`ALL`].
//!
//! The readers that enforce them are here too, for every command to reuse: [`read_file`] (a
//! whole file, refused before it is read when it is too large), [`read_line`] (one line,
//! never holding more than the limit, a longer one skipped to its end and reported) and
//! [`check_yaml`] (nesting, checked before a YAML document is parsed).

use std::fmt;
use std::io::{self, BufRead, Read};
use std::path::Path;

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Levels,
    Items,
}

/// The limit on one kind of input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// What is limited, as messages name it (`a trace line`, `YAML nesting`).
    pub what: &'static str,
    pub max: u64,
    pub unit: Unit,
}

impl Limit {
    /// The limit for people: `32 MiB`, `64 levels`, `256`.
    pub fn shown(&self) -> String {
        match self.unit {
            Unit::Bytes if self.max >= 1 << 20 && self.max.is_multiple_of(1 << 20) => {
                format!("{} MiB", self.max >> 20)
            }
            Unit::Bytes if self.max >= 1 << 10 && self.max.is_multiple_of(1 << 10) => {
                format!("{} KiB", self.max >> 10)
            }
            Unit::Bytes => format!("{} bytes", self.max),
            Unit::Levels => format!("{} levels", self.max),
            Unit::Items => self.max.to_string(),
        }
    }

    /// `max` as a `usize` (every limit fits).
    pub fn usize(&self) -> usize {
        usize::try_from(self.max).unwrap_or(usize::MAX)
    }
}

const MIB: u64 = 1 << 20;

/// One event for `eval` (a line, or a document over several lines), and later a request body.
pub const EVENT: Limit = Limit {
    what: "an event",
    max: 32 * MIB,
    unit: Unit::Bytes,
};
/// One line of a trace (`simulate`, `test --record`): an event, a span export, a JSON-RPC message.
pub const TRACE_LINE: Limit = Limit {
    what: "a trace line",
    max: 32 * MIB,
    unit: Unit::Bytes,
};
/// One OTLP/JSON export request written over several lines.
pub const TRACE_DOCUMENT: Limit = Limit {
    what: "an OTLP/JSON document",
    max: 64 * MIB,
    unit: Unit::Bytes,
};
/// One `.gov` file.
pub const POLICY_FILE: Limit = Limit {
    what: "a policy file",
    max: 16 * MIB,
    unit: Unit::Bytes,
};
/// One data file a policy reads with `file("…")`.
pub const DATA_FILE: Limit = Limit {
    what: "a data file",
    max: 64 * MIB,
    unit: Unit::Bytes,
};
/// The data files of one bundle, all together.
pub const DATA_TOTAL: Limit = Limit {
    what: "the data files of a bundle",
    max: 256 * MIB,
    unit: Unit::Bytes,
};
/// One compiled `.govb` bundle.
pub const BUNDLE: Limit = Limit {
    what: "a bundle",
    max: 256 * MIB,
    unit: Unit::Bytes,
};
/// One DSSE signature envelope (`*.sig.json`).
pub const ENVELOPE: Limit = Limit {
    what: "a signature envelope",
    max: 16 * MIB,
    unit: Unit::Bytes,
};
/// Signatures in one envelope (each key once).
pub const SIGNATURES: Limit = Limit {
    what: "signatures in an envelope",
    max: 256,
    unit: Unit::Items,
};
/// One trust file.
pub const TRUST_FILE: Limit = Limit {
    what: "a trust file",
    max: MIB,
    unit: Unit::Bytes,
};
/// One key file (private or public PEM).
pub const KEY_FILE: Limit = Limit {
    what: "a key file",
    max: 64 << 10,
    unit: Unit::Bytes,
};
/// The state file of last-seen versions (`--state`).
pub const STATE_FILE: Limit = Limit {
    what: "a state file",
    max: 16 * MIB,
    unit: Unit::Bytes,
};
/// A version in a manifest (see `sign::manifest::check_version` for its syntax).
pub const VERSION: Limit = Limit {
    what: "a version",
    max: 64,
    unit: Unit::Bytes,
};
/// One test suite (`*.test.yaml`).
pub const SUITE: Limit = Limit {
    what: "a test suite",
    max: 64 * MIB,
    unit: Unit::Bytes,
};
/// An MCP `tools/list` result read by `mcp-import` (a file, standard input, or one line from
/// a server).
pub const TOOL_LIST: Limit = Limit {
    what: "an MCP tool list",
    max: 64 * MIB,
    unit: Unit::Bytes,
};
/// `govern.toml`.
pub const CONFIG: Limit = Limit {
    what: "govern.toml",
    max: MIB,
    unit: Unit::Bytes,
};
/// A plugin's `agent-plugin.yaml`.
pub const PLUGIN_META: Limit = Limit {
    what: "agent-plugin.yaml",
    max: MIB,
    unit: Unit::Bytes,
};
/// Mappings and sequences nested in a YAML document (suites, trust files, plugin metadata).
pub const YAML_NESTING: Limit = Limit {
    what: "YAML nesting",
    max: 64,
    unit: Unit::Levels,
};
/// Objects and arrays nested in JSON (events, traces, envelopes, state files), as `serde_json`
/// allows.
pub const JSON_NESTING: Limit = Limit {
    what: "JSON nesting",
    max: 128,
    unit: Unit::Levels,
};
/// Parentheses, `not`s and function calls nested in one policy expression.
pub const POLICY_NESTING: Limit = Limit {
    what: "policy expression nesting",
    max: 32,
    unit: Unit::Levels,
};

/// Every limit, in the order of the table in `docs/limits.md`.
pub const ALL: [Limit; 20] = [
    EVENT,
    TRACE_LINE,
    TRACE_DOCUMENT,
    POLICY_FILE,
    DATA_FILE,
    DATA_TOTAL,
    BUNDLE,
    ENVELOPE,
    SIGNATURES,
    TRUST_FILE,
    KEY_FILE,
    STATE_FILE,
    VERSION,
    SUITE,
    TOOL_LIST,
    CONFIG,
    PLUGIN_META,
    YAML_NESTING,
    JSON_NESTING,
    POLICY_NESTING,
];

/// Why a file could not be read within its limit.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The file is larger than the limit (`size` is what was seen: the file's size, or the
    /// bytes read before stopping).
    TooLarge {
        limit: Limit,
        size: u64,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::TooLarge { limit, size } => write!(
                f,
                "the file is larger than {}, the limit for {} ({size} bytes)",
                limit.shown(),
                limit.what
            ),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// Reads a whole file of a kind limited by `limit`: refused from its size before it is read,
/// and never more than the limit read (a file that grows, a pipe).
pub fn read_file(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > limit.max {
        return Err(ReadError::TooLarge { limit, size });
    }
    read_all(file, limit)
}

/// Reads everything from `r`, at most `limit` bytes.
pub fn read_all(r: impl Read, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    r.take(limit.max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit.max {
        return Err(ReadError::TooLarge {
            limit,
            size: out.len() as u64,
        });
    }
    Ok(out)
}

/// [`read_file`] as UTF-8 text; text that is not UTF-8 is an `InvalidData` error naming the
/// byte.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, ReadError> {
    let bytes = read_file(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        ReadError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the file is not UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}

/// What [`read_line`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// The end of the input: nothing was read.
    End,
    /// A line, in the buffer with its `\n` (the last line of an input may lack it).
    Text,
    /// A line longer than the limit: it was read to its end without being kept (the buffer is
    /// empty), and `bytes` is its length without the line ending.
    TooLong { bytes: u64 },
}

/// Reads one line into `buf` (cleared first). A line is longer than `limit` when its bytes
/// before `\n` (or `\r\n`) are more than the limit; such a line is consumed to its end but
/// never held, so that a reader can report it and go on with the next.
pub fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>, limit: Limit) -> io::Result<Line> {
    buf.clear();
    let max = limit.usize();
    let mut total = 0u64;
    let mut any = false;
    let mut too_long = false;
    let mut ended = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, end) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        total += take as u64;
        if !too_long {
            // Room for the limit, a `\r` and the `\n`.
            if buf.len() + take <= max + 2 {
                buf.extend_from_slice(chunk.get(..take).unwrap_or_default());
            } else {
                too_long = true;
                buf.clear();
            }
        }
        r.consume(take);
        if end {
            ended = true;
            break;
        }
    }
    if !any {
        return Ok(Line::End);
    }
    let content = if too_long {
        total
    } else {
        let t = buf.strip_suffix(b"\n").unwrap_or(buf);
        t.strip_suffix(b"\r").unwrap_or(t).len() as u64
    };
    if too_long || content > limit.max {
        buf.clear();
        // `total` counts the `\n` too; what is reported is the line.
        let bytes = if too_long {
            total.saturating_sub(u64::from(ended))
        } else {
            content
        };
        return Ok(Line::TooLong { bytes });
    }
    Ok(Line::Text)
}

/// The message for a line over its limit.
pub fn too_long(limit: Limit, bytes: u64) -> String {
    format!(
        "the line is longer than {}, the limit for {} ({bytes} bytes)",
        limit.shown(),
        limit.what
    )
}

/// A YAML document nested deeper than [`YAML_NESTING`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NestingError {
    /// 1-based line and column where the level past the limit opens.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for NestingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {})", self.message, self.line)
    }
}

/// Refuses YAML text whose mappings and sequences nest deeper than [`YAML_NESTING`], reading
/// only as far as the first level past it (a YAML parser given a deeply nested document can
/// take time quadratic in its depth before it returns anything). Text that is not YAML is
/// left to the parser that follows to report.
pub fn check_yaml(text: &str) -> Result<(), NestingError> {
    use yaml_rust2::parser::{Event, Parser};
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0u64;
    let too_deep = |line: usize, col: usize| NestingError {
        line,
        column: col + 1,
        message: format!(
            "mappings and sequences are nested more than {} deep, the limit for YAML",
            YAML_NESTING.max
        ),
    };
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(x) => x,
            // The scanner looks ahead, and stops at its own limit before the events reach
            // ours; other errors are for the parser that follows to report.
            Err(e) if e.info().contains("recursion limit") => {
                return Err(too_deep(e.marker().line(), e.marker().col()));
            }
            Err(_) => return Ok(()),
        };
        match event {
            Event::StreamEnd => return Ok(()),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > YAML_NESTING.max {
                    return Err(too_deep(mark.line(), mark.col()));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: u64) -> Vec<Result<String, u64>> {
        let limit = Limit {
            what: "a test line",
            max,
            unit: Unit::Bytes,
        };
        // A small buffer, so that lines span several reads.
        let mut r = io::BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut r, &mut buf, limit).unwrap() {
                Line::End => return out,
                Line::Text => out.push(Ok(String::from_utf8(buf.clone()).unwrap())),
                Line::TooLong { bytes } => out.push(Err(bytes)),
            }
        }
    }

    #[test]
    fn a_long_line_is_skipped_to_its_end_and_measured() {
        assert_eq!(
            lines(b"abc\n0123456789\nxy\r\n0123456789ab\r\nlast", 10),
            vec![
                Ok("abc\n".into()),
                Ok("0123456789\n".into()),
                Ok("xy\r\n".into()),
                Err(13),
                Ok("last".into()),
            ]
        );
        assert_eq!(lines(b"0123456789abcdef", 10), vec![Err(16)]);
        assert_eq!(lines(b"", 10), vec![]);
        assert_eq!(lines(b"\n\n", 0), vec![Ok("\n".into()), Ok("\n".into())]);
    }

    #[test]
    fn files_over_the_limit_are_refused_before_they_are_read() {
        let dir = std::env::temp_dir().join(format!("govern-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        std::fs::write(&p, b"12345").unwrap();
        let limit = Limit {
            what: "a test file",
            max: 4,
            unit: Unit::Bytes,
        };
        let e = read_file(&p, limit).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the file is larger than 4 bytes, the limit for a test file (5 bytes)"
        );
        assert_eq!(read_file(&p, Limit { max: 5, ..limit }).unwrap(), b"12345");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn yaml_nesting() {
        let deep = |n: usize| format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
        assert!(check_yaml(&deep(63)).is_ok());
        let e = check_yaml(&deep(64)).unwrap_err();
        assert_eq!((e.line, e.column), (1, 67));
        // Ten thousand levels are refused after reading the first 65.
        assert!(check_yaml(&deep(10_000)).is_err());
        let block: String = (0..70).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        assert!(check_yaml(&block).is_err());
        assert!(check_yaml("not: [valid").is_ok());
    }

    #[test]
    fn shown() {
        assert_eq!(EVENT.shown(), "32 MiB");
        assert_eq!(KEY_FILE.shown(), "64 KiB");
        assert_eq!(VERSION.shown(), "64 bytes");
        assert_eq!(YAML_NESTING.shown(), "64 levels");
        assert_eq!(SIGNATURES.shown(), "256");
    }
}
