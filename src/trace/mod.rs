//! Trace sources: the events `simulate` replays, read in bounded memory with their source
//! file and line.
//!
//! Three formats (docs/simulate.md), all read as JSONL *events*:
//! - **JSONL events**: one request object per line, passed through untouched;
//! - **OpenTelemetry GenAI spans** exported as OTLP/JSON ([`otel`]);
//! - **MCP JSON-RPC logs** ([`mcp`]).
//!
//! An input is a file, a directory (searched recursively, sorted), `-` for standard input, or
//! bytes in memory. Gzip is detected from the magic bytes and read transparently. A
//! [`TraceReader`] turns one input into [`Block`]s of about [`BLOCK_SIZE`] bytes of event
//! lines: raw JSONL lines are handed over as they are (the caller parses them, possibly on
//! other threads); adapters write one synthesized event per line and say where each came
//! from ([`Origin`]). Memory is bounded by the block size, the longest line
//! ([`MAX_LINE`]) and, for OTLP, the largest export document ([`MAX_DOCUMENT`]) and the
//! spans held until their trace's root is read ([`otel::MAX_HELD`]).
//!
//! Bad input is never skipped here: a record that cannot be read becomes an [`Origin`] with
//! an error, in its place in the stream, and the caller decides what to do with it.

pub mod audit;
#[path = "gen.rs"]
pub mod generator;
pub mod mcp;
pub mod otel;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How big a block of event lines grows before it is handed over.
pub const BLOCK_SIZE: usize = 256 * 1024;
/// The longest line accepted ([`crate::limits::TRACE_LINE`]): a longer line is a bad record,
/// skipped to its end without being held.
pub const MAX_LINE: usize = crate::limits::TRACE_LINE.max as usize;
/// The largest OTLP/JSON document (one export request over several lines) accepted
/// ([`crate::limits::TRACE_DOCUMENT`]); a larger one ends the input with an error.
pub const MAX_DOCUMENT: usize = crate::limits::TRACE_DOCUMENT.max as usize;

/// The format of a trace input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputFormat {
    /// Detect from the first record (see [`detect`]).
    Auto,
    /// One event object per line.
    Jsonl,
    /// OTLP/JSON export of OpenTelemetry GenAI spans.
    Otel,
    /// MCP JSON-RPC messages, one per line.
    Mcp,
    /// An audit log (docs/audit.md): the events as decided, with the recorded decisions.
    Audit,
}

impl InputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::Jsonl => "jsonl",
            InputFormat::Otel => "otel",
            InputFormat::Mcp => "mcp",
            InputFormat::Audit => "audit",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One trace input; each is its own stream (state starts afresh).
#[derive(Clone, Debug)]
pub enum Input {
    Path(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// Bytes in memory (tests and benchmarks).
    Bytes {
        name: String,
        data: Arc<[u8]>,
    },
    /// Two one-direction MCP logs of one connection: what the client sent and what the
    /// server sent, merged into one stream ([`mcp::Pair`]).
    McpPair {
        client: Box<Input>,
        server: Box<Input>,
    },
}

impl Input {
    /// The name shown in messages and reports.
    pub fn name(&self) -> String {
        match self {
            Input::Path(p) => crate::source::display(p),
            Input::Stdin => "<stdin>".into(),
            Input::Bytes { name, .. } => name.clone(),
            Input::McpPair { client, server } => format!("{}+{}", client.name(), server.name()),
        }
    }

    /// The size in bytes, when known in advance (for progress).
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Path(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
            Input::Bytes { data, .. } => Some(data.len() as u64),
            Input::McpPair { client, server } => Some(client.size()? + server.size()?),
        }
    }
}

/// A trace that could not be read: the file, the line when known, what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
    pub help: Option<String>,
}

impl TraceError {
    fn new(file: &str, line: Option<u64>, message: impl Into<String>) -> TraceError {
        TraceError {
            file: file.to_string(),
            line,
            message: message.into(),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> TraceError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for TraceError {}

/// The file names a directory search picks up: `*.jsonl`, `*.ndjson`, `*.json`, each
/// optionally gzipped (`*.jsonl.gz`, …).
pub fn is_trace_name(name: &str) -> bool {
    let base = name.strip_suffix(".gz").unwrap_or(name);
    base.ends_with(".jsonl") || base.ends_with(".ndjson") || base.ends_with(".json")
}

/// Resolves command-line trace arguments: `-` is standard input (at most once), a file is
/// taken as given, a directory is searched recursively for trace files (see
/// [`is_trace_name`]; hidden entries are skipped and symbolic links are not followed), sorted
/// by path. Inputs keep the order of the arguments.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<Input>, TraceError> {
    let mut out = Vec::new();
    let mut stdin = false;
    for p in paths {
        if p.as_os_str() == "-" {
            if stdin {
                return Err(TraceError::new("-", None, "standard input is named twice")
                    .help("name `-` once"));
            }
            stdin = true;
            out.push(Input::Stdin);
            continue;
        }
        let name = crate::source::display(p);
        let meta = std::fs::metadata(p)
            .map_err(|e| TraceError::new(&name, None, format!("cannot read: {e}")))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            crate::fsutil::walk_sorted(p, &|_| false, &is_trace_name, &mut found)
                .map_err(|e| TraceError::new(&name, None, format!("cannot read directory: {e}")))?;
            if found.is_empty() {
                return Err(TraceError::new(&name, None, "no trace files in this directory")
                    .help("directories are searched for *.jsonl, *.ndjson and *.json files, optionally gzipped (*.jsonl.gz)"));
            }
            out.extend(found.into_iter().map(Input::Path));
        } else {
            out.push(Input::Path(p.clone()));
        }
    }
    Ok(out)
}

/// Where an event (or a bad record) came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// 1-based line in the input (the line where the record starts).
    pub line: u64,
    /// 1-based byte column where the record starts, when a line holds several (OTLP); 0
    /// when the record is the whole line.
    pub column: u32,
    /// Why the record could not be read; its line in [`Block::data`] is then empty.
    pub error: Option<String>,
    /// The event's tool arguments were cut short by the exporter's attribute length limit:
    /// it has no `args`, so it is decided with them unknown (OTLP, see [`otel`]).
    pub truncated: bool,
}

/// A run of event lines from one input.
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// Event lines, each ending in `\n` (the last line of an input may lack it).
    pub data: Vec<u8>,
    /// For JSONL inputs (no origins): the input line of the first line of `data`.
    pub first_line: u64,
    /// For adapters: one origin per line of `data`. Empty for JSONL inputs, whose lines are
    /// the input's lines, blank ones included.
    pub origins: Vec<Origin>,
    /// Records read that are not agent actions (spans of other operations, MCP messages
    /// other than `tools/call` and its result), skipped by design.
    pub not_events: u64,
    /// [`Block::not_events`] by kind (`"mcp handshake"`, …).
    pub not_event_kinds: BTreeMap<&'static str, u64>,
}

impl Block {
    pub fn clear(&mut self) {
        self.data.clear();
        self.first_line = 0;
        self.origins.clear();
        self.not_events = 0;
        self.not_event_kinds.clear();
    }

    /// Counts a record that is not an agent action, of this kind.
    pub fn not_event(&mut self, kind: &'static str) {
        self.not_events += 1;
        *self.not_event_kinds.entry(kind).or_default() += 1;
    }

    /// Appends a synthesized event.
    pub fn push_event(&mut self, event: &serde_json::Value, line: u64, column: u32) {
        self.push_derived(event, line, column, false);
    }

    /// Appends a synthesized event, saying whether its tool arguments were cut short.
    pub fn push_derived(
        &mut self,
        event: &serde_json::Value,
        line: u64,
        column: u32,
        truncated: bool,
    ) {
        // Serializing a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.data, event);
        self.data.push(b'\n');
        self.origins.push(Origin {
            line,
            column,
            error: None,
            truncated,
        });
    }

    /// Appends a record that could not be read.
    pub fn push_error(&mut self, line: u64, column: u32, message: impl Into<String>) {
        self.data.push(b'\n');
        self.origins.push(Origin {
            line,
            column,
            error: Some(message.into()),
            truncated: false,
        });
    }

    /// Each line of `data` with its origin: for JSONL blocks, the input line numbers follow
    /// from `first_line`; the text has its line ending removed.
    pub fn lines(&self) -> impl Iterator<Item = (&[u8], Origin)> + '_ {
        let mut origins = self.origins.iter();
        let raw = self.origins.is_empty();
        let first = self.first_line;
        split_lines(&self.data).enumerate().map(move |(i, text)| {
            let origin = if raw {
                Origin {
                    line: first + i as u64,
                    ..Origin::default()
                }
            } else {
                origins.next().cloned().unwrap_or_default()
            };
            (text, origin)
        })
    }
}

/// Splits on `\n`, dropping a `\r` before it; a final line without `\n` counts.
pub fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (
                rest.get(..i).unwrap_or(&[]),
                rest.get(i + 1..).unwrap_or(&[]),
            ),
            None => (rest, &[][..]),
        };
        rest = next;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// `raw` as every command reads a trace: buffered, and decompressed when its first bytes are
/// gzip's magic number (`name` is for the error when even those cannot be read).
pub fn decompressed<R: Read + Send + 'static>(
    name: &str,
    raw: R,
) -> Result<Box<dyn BufRead + Send>, TraceError> {
    let mut buffered = BufReader::with_capacity(BLOCK_SIZE, raw);
    let gz = buffered
        .fill_buf()
        .map_err(|e| TraceError::new(name, None, format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            BLOCK_SIZE,
            flate2::bufread::MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    })
}

/// Counts bytes read, for progress.
struct Counting<R> {
    inner: R,
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

enum Adapter {
    Jsonl,
    /// JSON events written over several lines each (pretty-printed), one after another.
    Documents,
    Otel(otel::Adapter),
    Mcp(mcp::Adapter),
    McpPair(Box<mcp::Pair>),
    Audit(Box<audit::Adapter>),
}

/// Reads one input as blocks of event lines.
pub struct TraceReader {
    name: String,
    format: InputFormat,
    src: Box<dyn BufRead + Send>,
    /// Bytes read ahead (format detection) that come before `src`.
    ahead: Vec<u8>,
    ahead_pos: usize,
    /// Lines consumed so far.
    line: u64,
    done: bool,
    adapter: Adapter,
    /// An OTLP document being gathered, and its first line.
    doc: Vec<u8>,
    doc_line: u64,
    depth: JsonDepth,
    scratch: Vec<u8>,
    /// Hand over each record as soon as it is read, rather than filling a block (see
    /// [`TraceReader::set_interactive`]).
    interactive: bool,
    /// Detection found a first value written over several lines.
    multiline: bool,
    /// An event over several lines grew past the limit: the rest of it is being dropped.
    skip_doc: bool,
    /// A line longer than [`MAX_LINE`] found at the end of the last block, to report next as
    /// a bad record of its own: its number and the bytes of it seen so far.
    long_line: Option<(u64, u64)>,
    /// Whether the rest of that line is still to be read (and dropped) from the source.
    skip_rest: bool,
}

impl TraceReader {
    /// Opens an input; `counter` (if any) is advanced by the bytes read from it (compressed
    /// bytes for gzip), for progress. `format` `Auto` detects the format from the first
    /// record.
    pub fn open(
        input: &Input,
        format: InputFormat,
        counter: Option<Arc<AtomicU64>>,
    ) -> Result<TraceReader, TraceError> {
        let name = input.name();
        let raw: Box<dyn Read + Send> = match input {
            Input::Path(p) => Box::new(
                std::fs::File::open(p)
                    .map_err(|e| TraceError::new(&name, None, format!("cannot read: {e}")))?,
            ),
            Input::Stdin => Box::new(io::stdin()),
            Input::Bytes { data, .. } => Box::new(io::Cursor::new(Arc::clone(data))),
            Input::McpPair { client, server } => {
                let pair = mcp::Pair::open(client, server)?;
                let mut r =
                    TraceReader::from_reader(name, Box::new(io::empty()), InputFormat::Mcp, None)?;
                r.adapter = Adapter::McpPair(Box::new(pair));
                return Ok(r);
            }
        };
        TraceReader::from_reader(name, raw, format, counter)
    }

    /// Like [`TraceReader::open`] over any reader.
    pub fn from_reader(
        name: String,
        raw: Box<dyn Read + Send>,
        format: InputFormat,
        counter: Option<Arc<AtomicU64>>,
    ) -> Result<TraceReader, TraceError> {
        let src = decompressed(
            &name,
            Counting {
                inner: raw,
                counter,
            },
        )?;
        let mut r = TraceReader {
            name,
            format,
            src,
            ahead: Vec::new(),
            ahead_pos: 0,
            line: 0,
            done: false,
            adapter: Adapter::Jsonl,
            doc: Vec::new(),
            doc_line: 0,
            depth: JsonDepth::default(),
            scratch: Vec::new(),
            interactive: false,
            multiline: false,
            skip_doc: false,
            long_line: None,
            skip_rest: false,
        };
        if r.format == InputFormat::Auto {
            r.format = r.detect()?;
        }
        r.adapter = match r.format {
            InputFormat::Otel => Adapter::Otel(otel::Adapter::new()),
            InputFormat::Mcp => Adapter::Mcp(mcp::Adapter::new(&r.name)),
            InputFormat::Audit => Adapter::Audit(Box::default()),
            _ if r.multiline => Adapter::Documents,
            _ => Adapter::Jsonl,
        };
        Ok(r)
    }

    /// Makes blocks end as soon as the records read so far are whole, instead of waiting
    /// for a block's worth of input: for a program on the other end of a pipe that writes
    /// one event and waits for its decision. Large inputs arrive in large reads all the
    /// same, so a pipe fed from a file is still read in large blocks.
    pub fn set_interactive(&mut self, on: bool) {
        self.interactive = on;
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The format read (detected when opened with `Auto`).
    pub fn format(&self) -> InputFormat {
        self.format
    }

    fn io_err(&self, e: &io::Error) -> TraceError {
        // A gzip stream that ends early reports `UnexpectedEof`: the input is cut short.
        let what = if matches!(
            e.kind(),
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        ) {
            "corrupt input"
        } else {
            "cannot read"
        };
        TraceError::new(&self.name, Some(self.line + 1), format!("{what}: {e}"))
    }

    /// Reads ahead to the first readable record and decides the format from it. A bad
    /// record (a line that is not JSON) decides nothing: the next one is looked at, so that
    /// one damaged first line does not turn an MCP log or an OTLP export into JSONL events.
    /// When no line within the first 64 KiB is a record on its own (a pretty-printed
    /// document), those bytes are searched for `"resourceSpans"` and `"jsonrpc"`.
    /// Appends the next line of the source to `line` without looking ahead first: at most
    /// `MAX_LINE + 1` bytes, so that a longer line is refused by the reader later instead of
    /// being held whole. The number of bytes read.
    fn read_bounded_line(&mut self, line: &mut Vec<u8>) -> Result<usize, TraceError> {
        (&mut self.src)
            .take((MAX_LINE + 1) as u64)
            .read_until(b'\n', line)
            .map_err(|e| self.io_err(&e))
    }

    fn detect(&mut self) -> Result<InputFormat, TraceError> {
        const LOOK_AHEAD: usize = 64 * 1024;
        let mut line = Vec::new();
        // A first value written over several lines, gathered from `start` in `ahead` until
        // it closes.
        let mut open: Option<(usize, JsonDepth)> = None;
        while self.ahead.len() < LOOK_AHEAD {
            line.clear();
            let n = self.read_bounded_line(&mut line)?;
            let at = self.ahead.len();
            self.ahead.extend_from_slice(&line);
            if n == 0 {
                break;
            }
            if let Some((start, depth)) = open.as_mut() {
                if depth.feed(&line) {
                    // The value closed: what it is decides, as a one-line record would.
                    let doc = String::from_utf8_lossy(self.ahead.get(*start..).unwrap_or(&[]));
                    if let Detected::Record(f) = detect_record(doc.trim()) {
                        self.multiline = f == InputFormat::Jsonl;
                        return Ok(f);
                    }
                    break;
                }
                continue;
            }
            if line.last() != Some(&b'\n') {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            match detect_record(text) {
                Detected::Record(f) => return Ok(f),
                // A pretty-printed document: its lines are no records of their own.
                Detected::Open => {
                    let mut depth = JsonDepth::default();
                    depth.feed(&line);
                    open = Some((at, depth));
                }
                Detected::Bad => {}
            }
        }
        if let Some(text) = std::str::from_utf8(&line).ok().map(str::trim)
            && let Detected::Record(f) = detect_record(text)
        {
            return Ok(f);
        }
        while self.ahead.len() < LOOK_AHEAD {
            line.clear();
            let n = self.read_bounded_line(&mut line)?;
            if n == 0 {
                break;
            }
            self.ahead.extend_from_slice(&line);
        }
        if memchr::memmem::find(&self.ahead, b"\"resourceSpans\"").is_some() {
            return Ok(InputFormat::Otel);
        }
        if memchr::memmem::find(&self.ahead, b"\"jsonrpc\"").is_some() {
            return Ok(InputFormat::Mcp);
        }
        Ok(InputFormat::Jsonl)
    }

    /// Reads one line (with its `\n`) into `buf`, read-ahead first; 0 at the end.
    fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.clear();
        if self.ahead_pos < self.ahead.len() {
            let rest = self.ahead.get(self.ahead_pos..).unwrap_or(&[]);
            let take = match memchr::memchr(b'\n', rest) {
                Some(i) => i + 1,
                None => rest.len(),
            };
            buf.extend_from_slice(rest.get(..take).unwrap_or(&[]));
            self.ahead_pos += take;
            if self.ahead_pos >= self.ahead.len() {
                self.ahead.clear();
                self.ahead_pos = 0;
            }
            if buf.last() == Some(&b'\n') {
                return Ok(buf.len());
            }
        }
        // Bounded: a line longer than MAX_LINE is refused by the caller.
        let mut limited = (&mut self.src).take((MAX_LINE + 1) as u64);
        limited.read_until(b'\n', buf)?;
        Ok(buf.len())
    }

    /// Fills `b` with the next block of event lines; `Ok(false)` when the input is done
    /// (`b` may still hold a last block then).
    pub fn next_block(&mut self, b: &mut Block) -> Result<bool, TraceError> {
        b.clear();
        if self.done && self.long_line.is_none() {
            return Ok(false);
        }
        match &mut self.adapter {
            Adapter::Jsonl => self.jsonl_block(b),
            Adapter::McpPair(p) => {
                let more = p.next_block(b);
                if !matches!(more, Ok(true)) {
                    self.done = true;
                }
                more
            }
            _ => self.adapter_block(b),
        }
    }

    /// Reads and drops the rest of the current line of the source, through its `\n`; the bytes
    /// dropped before it.
    fn discard_line(&mut self) -> Result<u64, TraceError> {
        let mut n = 0u64;
        loop {
            let (take, end) = match self.src.fill_buf() {
                Ok([]) => {
                    self.done = true;
                    return Ok(n);
                }
                Ok(buf) => match memchr::memchr(b'\n', buf) {
                    Some(i) => (i + 1, true),
                    None => (buf.len(), false),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Err(self.io_err(&e));
                }
            };
            self.src.consume(take);
            n += take as u64 - u64::from(end);
            if end {
                return Ok(n);
            }
        }
    }

    fn jsonl_block(&mut self, b: &mut Block) -> Result<bool, TraceError> {
        if let Some((line, seen)) = self.long_line.take() {
            // The line too long found last time: a bad record in its place.
            let rest = if std::mem::take(&mut self.skip_rest) {
                self.discard_line()?
            } else {
                0
            };
            b.push_error(
                line,
                0,
                crate::limits::too_long(crate::limits::TRACE_LINE, seen + rest),
            );
            self.line = line;
            if self.done && self.ahead.is_empty() {
                return Ok(false);
            }
            return Ok(true);
        }
        b.first_line = self.line + 1;
        b.data
            .extend_from_slice(self.ahead.get(self.ahead_pos..).unwrap_or(&[]));
        self.ahead.clear();
        self.ahead_pos = 0;
        // Every line is measured as soon as its bytes arrive: `line_start` is where the line
        // being read starts, `scanned` how far newlines have been looked for.
        let mut line_start = 0usize;
        let mut scanned = 0usize;
        let content = |line: &[u8]| line.strip_suffix(b"\r").unwrap_or(line).len();
        loop {
            // In new bytes shorter than the limit, only the line open before them can be too
            // long: the lines that start and end inside them are shorter. Longer new bytes
            // (read ahead while detecting the format) are measured line by line.
            let fresh = b.data.len() - scanned;
            while let Some(i) = memchr::memchr(b'\n', b.data.get(scanned..).unwrap_or_default()) {
                let end = scanned + i;
                let len = content(b.data.get(line_start..end).unwrap_or_default());
                if len > MAX_LINE {
                    return Ok(self.cut_long_line(b, line_start, Some(end + 1), len as u64));
                }
                line_start = end + 1;
                scanned = end + 1;
                if fresh <= MAX_LINE {
                    let rest = b.data.get(scanned..).unwrap_or_default();
                    if let Some(last) = memchr::memrchr(b'\n', rest) {
                        line_start = scanned + last + 1;
                    }
                    break;
                }
            }
            scanned = b.data.len();
            // Unterminated so far: past the limit even if a `\r` ends it.
            let open = b.data.len() - line_start;
            if open > MAX_LINE + 1 {
                return Ok(self.cut_long_line(b, line_start, None, open as u64));
            }
            // Interactive: hand the whole lines over as soon as there are any (the first
            // line, read ahead to detect the format, included), before waiting for more.
            if line_start >= BLOCK_SIZE || self.interactive && line_start > 0 {
                self.ahead
                    .extend_from_slice(b.data.get(line_start..).unwrap_or(&[]));
                b.data.truncate(line_start);
                break;
            }
            let old = b.data.len();
            b.data.resize(old + BLOCK_SIZE, 0);
            let n = loop {
                match self.src.read(b.data.get_mut(old..).unwrap_or(&mut [])) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // The whole lines read so far are handed over; the part of a line
                        // the stream broke in is not a record, and the error is at its line.
                        b.data.truncate(line_start);
                        self.line += memchr::memchr_iter(b'\n', &b.data).count() as u64;
                        self.done = true;
                        return Err(self.io_err(&e));
                    }
                }
            };
            b.data.truncate(old + n);
            if n == 0 {
                self.done = true;
                let last = content(b.data.get(line_start..).unwrap_or_default());
                if last > MAX_LINE {
                    return Ok(self.cut_long_line(b, line_start, None, last as u64));
                }
                break;
            }
        }
        let newlines = memchr::memchr_iter(b'\n', &b.data).count() as u64;
        let unterminated = u64::from(b.data.last().is_some_and(|&c| c != b'\n'));
        self.line += newlines + unterminated;
        Ok(!self.done)
    }

    /// At the end of an input (or where it breaks off), hands over the events an adapter
    /// still holds: the whole records before the end are decided.
    fn finish_adapter(&mut self, b: &mut Block) {
        if let Adapter::Otel(o) = &mut self.adapter {
            o.finish(b);
        }
    }

    /// Ends the block before a line longer than [`MAX_LINE`] that starts at `start` in it
    /// (`seen` bytes of it seen so far; `next` is where the following line starts when its end
    /// was seen). The line becomes a bad record of its own in the next block, and is never
    /// held: what remains of it is dropped from the source.
    fn cut_long_line(
        &mut self,
        b: &mut Block,
        start: usize,
        next: Option<usize>,
        seen: u64,
    ) -> bool {
        let before = b.data.get(..start).unwrap_or_default();
        let number = b.first_line + memchr::memchr_iter(b'\n', before).count() as u64;
        match next {
            Some(n) => self
                .ahead
                .extend_from_slice(b.data.get(n..).unwrap_or_default()),
            None => self.skip_rest = !self.done,
        }
        b.data.truncate(start);
        self.line = number.saturating_sub(1);
        self.long_line = Some((number, seen));
        true
    }

    fn adapter_block(&mut self, b: &mut Block) -> Result<bool, TraceError> {
        let mut line = std::mem::take(&mut self.scratch);
        let result = loop {
            if b.data.len() >= BLOCK_SIZE || self.interactive && !b.origins.is_empty() {
                break Ok(true);
            }
            let n = match self.read_line(&mut line) {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    self.finish_adapter(b);
                    break Err(self.io_err(&e));
                }
            };
            if n == 0 {
                self.done = true;
                if !self.doc.is_empty() {
                    let start = self.doc_line;
                    let what = if matches!(self.adapter, Adapter::Documents) {
                        "object"
                    } else {
                        "document"
                    };
                    b.push_error(
                        start,
                        0,
                        format!("unexpected end of input: the JSON {what} is not closed"),
                    );
                    self.doc.clear();
                }
                self.finish_adapter(b);
                break Ok(false);
            }
            self.line += 1;
            let ended = line.last() == Some(&b'\n');
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let len = text.strip_suffix(b"\r").unwrap_or(text).len();
            if len > MAX_LINE {
                let seen = if ended {
                    len as u64
                } else {
                    match self.discard_line() {
                        Ok(rest) => line.len() as u64 + rest,
                        Err(e) => {
                            self.finish_adapter(b);
                            break Err(e);
                        }
                    }
                };
                if !self.doc.is_empty() {
                    // Inside a document over several lines: where it ends is lost with it.
                    self.done = true;
                    self.finish_adapter(b);
                    break Err(TraceError::new(
                        &self.name,
                        Some(self.line),
                        crate::limits::too_long(crate::limits::TRACE_LINE, seen),
                    ));
                }
                b.push_error(
                    self.line,
                    0,
                    crate::limits::too_long(crate::limits::TRACE_LINE, seen),
                );
                continue;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if matches!(self.adapter, Adapter::Documents) {
                self.document_line(&line, b);
                continue;
            }
            if let Adapter::Audit(a) = &mut self.adapter {
                if text.is_empty() {
                    continue;
                }
                match std::str::from_utf8(text) {
                    Ok(t) => a.line(t, self.line, b),
                    Err(e) => b.push_error(
                        self.line,
                        0,
                        format!("not valid UTF-8 (byte {})", e.valid_up_to()),
                    ),
                }
                continue;
            }
            if let Adapter::Mcp(m) = &mut self.adapter {
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match std::str::from_utf8(text) {
                    Ok(t) => m.line(t, self.line, b),
                    Err(e) => b.push_error(
                        self.line,
                        0,
                        format!("not valid UTF-8 (byte {})", e.valid_up_to()),
                    ),
                }
                continue;
            }
            // OTLP: gather lines until the top-level value closes.
            if !self.doc.is_empty() && starts_a_request(text) {
                // The document being gathered was cut off (an exporter that stopped
                // mid-write, then went on): it is one bad record, and this line is the next
                // request rather than more of it.
                b.push_error(
                    self.doc_line,
                    0,
                    format!(
                        "unexpected end of input: the JSON document is not closed before the next export request (line {})",
                        self.line
                    ),
                );
                self.doc.clear();
            }
            if self.doc.is_empty() {
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                self.doc_line = self.line;
                self.depth = JsonDepth::default();
            }
            self.doc.extend_from_slice(&line);
            if self.doc.len() > MAX_DOCUMENT {
                self.done = true;
                self.finish_adapter(b);
                break Err(TraceError::new(
                    &self.name,
                    Some(self.doc_line),
                    format!(
                        "the OTLP/JSON document starting here is larger than {}, the limit for {}",
                        crate::limits::TRACE_DOCUMENT.shown(),
                        crate::limits::TRACE_DOCUMENT.what
                    ),
                )
                .help("export spans as JSON lines (one export request per line), as the OpenTelemetry Collector's file exporter does"));
            }
            if self.depth.feed(&line) {
                let doc = std::mem::take(&mut self.doc);
                match (&mut self.adapter, std::str::from_utf8(&doc)) {
                    (Adapter::Otel(o), Ok(t)) => o.document(t, self.doc_line, b),
                    (_, Err(e)) => b.push_error(
                        self.doc_line,
                        0,
                        format!("not valid UTF-8 (byte {})", e.valid_up_to()),
                    ),
                    _ => {}
                }
                self.doc = doc;
                self.doc.clear();
            }
        };
        self.scratch = line;
        result
    }
}

impl TraceReader {
    /// One line of events written over several lines each: gathered until the value
    /// closes, then handed over as one line (line breaks outside strings become spaces; one
    /// inside a string, which JSON does not allow, becomes a control character, which it
    /// does not allow either, so the event is still refused). A line at column 0 that is a
    /// whole object on its own while another is open means that one was cut off (a
    /// truncated JSONL line): it is a bad record, and the line the next event.
    fn document_line(&mut self, line: &[u8], b: &mut Block) {
        if self.skip_doc {
            if self.depth.feed(line) {
                self.skip_doc = false;
                self.depth = JsonDepth::default();
            }
            return;
        }
        let trimmed = line.trim_ascii_end();
        if !self.doc.is_empty()
            && trimmed.starts_with(b"{")
            && trimmed.ends_with(b"}")
            && JsonDepth::default().feed(trimmed)
        {
            b.push_error(
                self.doc_line,
                0,
                "unexpected end of input: the JSON object is not closed",
            );
            self.doc.clear();
        }
        if self.doc.is_empty() {
            if line.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            self.doc_line = self.line;
            self.depth = JsonDepth::default();
        }
        if self.doc.len() + line.len() > MAX_LINE {
            // Refused, and dropped (never held) to where it closes.
            let limit = crate::limits::EVENT;
            b.push_error(
                self.doc_line,
                0,
                format!(
                    "the event starting here is larger than {}, the limit for {}",
                    limit.shown(),
                    limit.what
                ),
            );
            self.doc.clear();
            self.skip_doc = !self.depth.feed(line);
            if !self.skip_doc {
                self.depth = JsonDepth::default();
            }
            return;
        }
        // Where the document gathered so far ends: inside a string or not.
        let (mut in_string, mut escape) = (self.depth.in_string, self.depth.escape);
        let closed = self.depth.feed(line);
        for &c in line {
            let c = match c {
                b'\n' | b'\r' if in_string => 0x01,
                b'\n' | b'\r' => b' ',
                c => c,
            };
            if in_string {
                if escape {
                    escape = false;
                } else if c == b'\\' {
                    escape = true;
                } else if c == b'"' {
                    in_string = false;
                }
            } else if c == b'"' {
                in_string = true;
            }
            self.doc.push(c);
        }
        if closed {
            let text = self.doc.trim_ascii();
            b.data.extend_from_slice(text);
            b.data.push(b'\n');
            b.origins.push(Origin {
                line: self.doc_line,
                column: 0,
                error: None,
                truncated: false,
            });
            self.doc.clear();
        }
    }
}

/// Whether `line` is a whole OTLP export request on its own line, as the Collector's file
/// exporter writes them: it starts with `{"resourceSpans"` and its value closes on the line.
fn starts_a_request(line: &[u8]) -> bool {
    line.starts_with(b"{\"resourceSpans\"") && JsonDepth::default().feed(line)
}

/// Tracks the nesting of JSON text fed in pieces, to find where a top-level value ends.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JsonDepth {
    depth: u32,
    in_string: bool,
    escape: bool,
    started: bool,
}

impl JsonDepth {
    /// Feeds bytes; true when a top-level value has closed (or the text is not an object or
    /// array at all, which the parser then reports).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> bool {
        for &c in bytes {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if c == b'\\' {
                    self.escape = true;
                } else if c == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                c if c.is_ascii_whitespace() => {}
                _ if !self.started => {
                    self.started = true;
                }
                _ => {}
            }
        }
        self.started && self.depth == 0 && !self.in_string
    }
}

/// What one line says about the format of its input.
enum Detected {
    /// A record of this format.
    Record(InputFormat),
    /// The start of a value that goes on over the next lines.
    Open,
    /// Not a record of any format (not JSON, or JSON that is not an object or a batch).
    Bad,
}

fn detect_record(line: &str) -> Detected {
    use crate::vm::{Event, Paths, Val};
    let keys = [
        vec!["resourceSpans".to_string()],
        vec!["jsonrpc".to_string()],
        vec!["message".to_string(), "jsonrpc".to_string()],
        vec!["hash".to_string()],
        vec!["prev".to_string()],
        vec!["seq".to_string()],
    ];
    let paths = Paths::new(&keys);
    let mut ev = Event::default();
    match paths.read(line, &mut ev) {
        Ok(()) => Detected::Record(if ev.val(0) != Val::Absent {
            InputFormat::Otel
        } else if (3..6).all(|i| ev.val(i) != Val::Absent) {
            InputFormat::Audit
        } else if ev.val(1) != Val::Absent || ev.val(2) != Val::Absent {
            InputFormat::Mcp
        } else {
            InputFormat::Jsonl
        }),
        Err(e) if e.eof => Detected::Open,
        Err(_) => {
            // A JSON-RPC batch is an array of messages.
            let batch = line.starts_with('[')
                && serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.as_array().and_then(|a| a.first().cloned()))
                    .is_some_and(|m| m.get("jsonrpc").is_some());
            if batch {
                Detected::Record(InputFormat::Mcp)
            } else {
                Detected::Bad
            }
        }
    }
}

/// The format of a trace whose first record is `first` (one complete line), or `None` when
/// that line is not a complete JSON value: OTLP when it has `resourceSpans`, MCP when it has
/// `jsonrpc` (or an envelope's `message.jsonrpc`, or is a JSON-RPC batch), JSONL otherwise.
pub fn detect(first: &str) -> Option<InputFormat> {
    match detect_record(first) {
        Detected::Record(f) => Some(f),
        Detected::Open => None,
        Detected::Bad => Some(InputFormat::Jsonl),
    }
}

/// Reads every record of an input, calling `f` with the event text (or the error) and its
/// origin, in order. A convenience over [`TraceReader::next_block`] for callers that do not
/// need blocks.
pub fn for_each_record(
    reader: &mut TraceReader,
    mut f: impl FnMut(Result<&str, &str>, &Origin) -> std::ops::ControlFlow<()>,
) -> Result<u64, TraceError> {
    let mut block = Block::default();
    let mut not_events = 0;
    loop {
        let more = reader.next_block(&mut block)?;
        not_events += block.not_events;
        for (text, origin) in block.lines() {
            if let Some(e) = &origin.error {
                if f(Err(e), &origin).is_break() {
                    return Ok(not_events);
                }
                continue;
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let flow = match std::str::from_utf8(text) {
                Ok(t) => f(Ok(t), &origin),
                Err(e) => f(
                    Err(&format!("not valid UTF-8 (byte {})", e.valid_up_to())),
                    &origin,
                ),
            };
            if flow.is_break() {
                return Ok(not_events);
            }
        }
        if !more {
            return Ok(not_events);
        }
    }
}

/// Nanoseconds since the epoch as RFC 3339 UTC, with as many fraction digits as needed.
pub fn format_ts(ns: i64) -> String {
    let base = crate::time::format_rfc3339(ns);
    let sub_ms = ns.rem_euclid(1_000_000);
    if sub_ms == 0 {
        return base;
    }
    let digits = format!("{sub_ms:06}");
    let digits = digits.trim_end_matches('0');
    format!("{}{digits}Z", base.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], format: InputFormat) -> (InputFormat, Vec<(String, Origin)>, u64) {
        let input = Input::Bytes {
            name: "t".into(),
            data: Arc::from(data),
        };
        let mut r = TraceReader::open(&input, format, None).unwrap();
        let mut out = Vec::new();
        let skipped = for_each_record(&mut r, |rec, o| {
            out.push((
                match rec {
                    Ok(t) => t.to_string(),
                    Err(e) => format!("ERROR {e}"),
                },
                o.clone(),
            ));
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        (r.format(), out, skipped)
    }

    #[test]
    fn jsonl_lines_keep_their_numbers() {
        let (f, recs, _) = read_all(b"\n{\"a\":1}\r\n\n{\"b\":2}", InputFormat::Auto);
        assert_eq!(f, InputFormat::Jsonl);
        let lines: Vec<u64> = recs.iter().map(|(_, o)| o.line).collect();
        assert_eq!(lines, vec![2, 4]);
        assert_eq!(recs[1].0, "{\"b\":2}");
    }

    #[test]
    fn big_inputs_split_into_blocks_on_line_boundaries() {
        let mut data = Vec::new();
        for i in 0..50_000 {
            data.extend_from_slice(
                format!("{{\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 40)).as_bytes(),
            );
        }
        let (_, recs, _) = read_all(&data, InputFormat::Jsonl);
        assert_eq!(recs.len(), 50_000);
        for (i, (text, o)) in recs.iter().enumerate() {
            assert_eq!(o.line, i as u64 + 1);
            assert!(text.starts_with(&format!("{{\"i\":{i},")));
        }
    }

    #[test]
    fn gzip_is_read_transparently() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        let gz = enc.finish().unwrap();
        let (f, recs, _) = read_all(&gz, InputFormat::Auto);
        assert_eq!(f, InputFormat::Jsonl);
        assert_eq!(recs.len(), 2);
        // Corrupt gzip is an error naming the file, not a silent end.
        let mut bad = gz.clone();
        let n = bad.len();
        bad.truncate(n - 12);
        let input = Input::Bytes {
            name: "bad.gz".into(),
            data: Arc::from(bad),
        };
        let mut r = TraceReader::open(&input, InputFormat::Jsonl, None).unwrap();
        let e = for_each_record(&mut r, |_, _| std::ops::ControlFlow::Continue(())).unwrap_err();
        assert_eq!(e.file, "bad.gz");
    }

    #[test]
    fn detection() {
        assert_eq!(detect("{\"resourceSpans\":[]}"), Some(InputFormat::Otel));
        assert_eq!(
            detect("{\"jsonrpc\":\"2.0\",\"method\":\"initialize\",\"id\":1}"),
            Some(InputFormat::Mcp)
        );
        assert_eq!(
            detect("{\"ts\":\"x\",\"message\":{\"jsonrpc\":\"2.0\"}}"),
            Some(InputFormat::Mcp)
        );
        assert_eq!(detect("[{\"jsonrpc\":\"2.0\"}]"), Some(InputFormat::Mcp));
        assert_eq!(detect("{\"tool\":\"x\"}"), Some(InputFormat::Jsonl));
        assert_eq!(detect("not json"), Some(InputFormat::Jsonl));
        assert_eq!(detect("{"), None);
    }

    #[test]
    fn a_bad_first_line_does_not_decide_the_format() {
        let mcp = b"garbage\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}\n";
        let (f, recs, _) = read_all(mcp, InputFormat::Auto);
        assert_eq!(f, InputFormat::Mcp);
        assert_eq!(recs.len(), 2);
        assert!(recs[0].0.starts_with("ERROR not valid JSON"), "{recs:?}");
        assert_eq!(recs[0].1.line, 1);
        assert!(recs[1].0.contains("\"tool\":\"t\""), "{recs:?}");
        let otel = b"[1]\n{\"resourceSpans\":[]}";
        assert_eq!(read_all(otel, InputFormat::Auto).0, InputFormat::Otel);
        let jsonl = b"{\"a\":\n{\"tool\":\"x\"}\n";
        assert_eq!(read_all(jsonl, InputFormat::Auto).0, InputFormat::Jsonl);
        assert_eq!(
            read_all(b"nothing\nat all", InputFormat::Auto).0,
            InputFormat::Jsonl
        );
        assert_eq!(
            read_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"x\"}", InputFormat::Auto).0,
            InputFormat::Mcp
        );
    }

    #[test]
    fn pretty_otlp_documents_are_detected_and_gathered() {
        let doc = b"{\n  \"resourceSpans\": [\n  ]\n}\n{\"resourceSpans\":[]}\n";
        let (f, recs, _) = read_all(doc, InputFormat::Auto);
        assert_eq!(f, InputFormat::Otel);
        assert!(recs.is_empty());
        let (_, recs, _) = read_all(b"{\n \"resourceSpans\": [\n", InputFormat::Otel);
        assert_eq!(recs.len(), 1);
        assert!(recs[0].0.starts_with("ERROR unexpected end"));
        assert_eq!(recs[0].1.line, 1);
    }

    #[test]
    fn a_cut_off_export_request_does_not_swallow_the_next_ones() {
        let span = |op: &str| {
            format!(
                "{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{{\"attributes\":[{{\"key\":\"gen_ai.operation.name\",\"value\":{{\"stringValue\":\"{op}\"}}}}]}}]}}]}}]}}"
            )
        };
        let whole = span("chat");
        // A collector that died mid-write, then went on with new requests.
        let cut = whole.get(..whole.len() - 7).unwrap();
        let text = format!("{whole}\n{cut}\n{whole}\n{whole}\n");
        let (f, recs, _) = read_all(text.as_bytes(), InputFormat::Auto);
        assert_eq!(f, InputFormat::Otel);
        let shown: Vec<(u64, bool)> = recs
            .iter()
            .map(|(t, o)| (o.line, t.starts_with("ERROR")))
            .collect();
        assert_eq!(shown, vec![(1, false), (2, true), (3, false), (4, false)]);
        // A pretty-printed document is still gathered over its lines.
        let pretty = format!(
            "{{\n  \"resourceSpans\": [\n{}\n  ]\n}}\n",
            &whole[18..whole.len() - 2]
        );
        let (_, recs, _) = read_all(pretty.as_bytes(), InputFormat::Otel);
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert!(!recs[0].0.starts_with("ERROR"), "{recs:?}");
    }

    #[test]
    fn a_line_past_the_limit_is_a_bad_record_in_its_place_in_every_format() {
        let long = |open: &str| {
            let mut v = open.as_bytes().to_vec();
            v.resize(MAX_LINE + 1, b'x');
            v.extend_from_slice(b"\"}\n");
            v
        };
        let call = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}\n";
        let cases: [(InputFormat, Vec<u8>); 3] = [
            // First (format detection reads it), then last without a line end.
            (InputFormat::Auto, {
                let mut d = long("{\"a\":\"");
                d.extend_from_slice(b"{\"a\":1}\n");
                d.extend_from_slice(&long("{\"a\":\""));
                d.pop();
                d
            }),
            (InputFormat::Mcp, {
                let mut d = call.to_vec();
                d.extend_from_slice(&long("{\"jsonrpc\":\""));
                d.extend_from_slice(call);
                d
            }),
            (InputFormat::Otel, {
                let mut d = b"{\"resourceSpans\":[]}\n".to_vec();
                d.extend_from_slice(&long("{\"resourceSpans\":\""));
                d.extend_from_slice(b"{\"resourceSpans\":[]}\n");
                d
            }),
        ];
        for (format, data) in cases {
            let (_, recs, _) = read_all(&data, format);
            let errors: Vec<(u64, &str)> = recs
                .iter()
                .filter_map(|(t, o)| t.strip_prefix("ERROR ").map(|e| (o.line, e)))
                .collect();
            let want = crate::limits::too_long(crate::limits::TRACE_LINE, MAX_LINE as u64 + 3);
            match format {
                InputFormat::Auto => {
                    assert_eq!(errors, vec![(1, want.as_str()), (3, want.as_str())]);
                    assert_eq!(recs.len(), 3);
                }
                _ => assert_eq!(errors, vec![(2, want.as_str())], "{format}"),
            }
        }
    }

    #[test]
    fn an_otlp_document_past_the_limit_ends_the_input() {
        let mut doc = b"{\n\"resourceSpans\": [\n".to_vec();
        let line = format!("\"{}\",\n", "x".repeat(1 << 20));
        while doc.len() <= MAX_DOCUMENT {
            doc.extend_from_slice(line.as_bytes());
        }
        let input = Input::Bytes {
            name: "big.json".into(),
            data: Arc::from(doc),
        };
        let mut r = TraceReader::open(&input, InputFormat::Otel, None).unwrap();
        let e = for_each_record(&mut r, |_, _| std::ops::ControlFlow::Continue(())).unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(
            e.message
                .contains("larger than 64 MiB, the limit for an OTLP/JSON document"),
            "{e}"
        );
    }

    #[test]
    fn depth_tracker_ignores_brackets_in_strings() {
        let mut d = JsonDepth::default();
        assert!(!d.feed(b"{\"a\":\"}]\\\"{\""));
        assert!(d.feed(b"}"));
    }

    #[test]
    fn timestamps_keep_their_precision() {
        assert_eq!(
            format_ts(1_795_428_000_120_000_000),
            "2026-11-23T10:00:00.120Z"
        );
        assert_eq!(
            format_ts(1_795_428_000_120_000_500),
            "2026-11-23T10:00:00.1200005Z"
        );
    }

    #[test]
    fn directories_are_searched_sorted() {
        let dir = std::env::temp_dir().join(format!("govern-trace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("b/2.jsonl.gz"), b"").unwrap();
        std::fs::write(dir.join("a.jsonl"), b"").unwrap();
        std::fs::write(dir.join("notes.txt"), b"").unwrap();
        std::fs::write(dir.join(".hidden.jsonl"), b"").unwrap();
        let inputs = expand(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<String> = inputs.iter().map(|i| i.name()).collect();
        assert_eq!(names.len(), 2);
        assert!(names[0].ends_with("/a.jsonl"));
        assert!(names[1].ends_with("/b/2.jsonl.gz"));
        assert!(expand(&[PathBuf::from("-"), PathBuf::from("-")]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
