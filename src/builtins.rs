//! The language's pure functions, defined once: `lower`, `upper`, `norm_path`, `url_host`,
//! `len`, and in submodules the decoders (`decode`), Unicode folding (`fold`), SQL structure
//! (`sql`) and detectors of sensitive data (`detect`). They are part of the language
//! definition, like the checker, so the VM, the reference interpreter and the linter all call
//! these; the case corpus pins their results.
//!
//! Every function reads its input a bounded number of times and is linear in it; functions
//! that parse, decode or scan are unknown on inputs longer than [`MAX_TEXT`] bytes (SQL:
//! [`sql::MAX_SQL`]), so that one decision's cost stays bounded by the event's size.

pub mod decode;
pub mod detect;
pub mod fold;
pub mod sql;

use crate::check::Func;

/// The longest input, in bytes, of the decoding, folding and detecting functions; a longer
/// one makes their value unknown.
pub const MAX_TEXT: usize = 4 * 1024 * 1024;

/// A function's value, for evaluators that hold values.
#[derive(Clone, Debug, PartialEq)]
pub enum FnValue {
    Str(String),
    Num(f64),
    Bool(bool),
    List(Vec<String>),
}

/// `func(s)` for a string `s`, or `None` when the value is unknown (the input cannot be
/// decoded or parsed, or is too long).
pub fn apply(func: Func, s: &str) -> Option<FnValue> {
    let mut out = String::new();
    Some(match compute_into(func, s, &mut out)? {
        Written::Str => FnValue::Str(out),
        Written::Num(n) => FnValue::Num(n),
        Written::Bool(b) => FnValue::Bool(b),
        Written::List => FnValue::List(list_items(&out).map(str::to_string).collect()),
    })
}

/// What [`apply_into`] wrote.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Written {
    /// A string, in the buffer.
    Str,
    /// A list of strings, in the buffer, each item followed by NUL (items never hold NUL).
    List,
    Num(f64),
    Bool(bool),
}

/// The items of a list written by [`apply_into`].
pub fn list_items(buf: &str) -> impl Iterator<Item = &str> {
    buf.split_terminator('\0')
}

fn push_items<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) -> Option<Written> {
    out.clear();
    for i in items {
        if i.contains('\0') {
            out.clear();
            return None;
        }
        out.push_str(i);
        out.push('\0');
    }
    Some(Written::List)
}

/// `fold_each(list)`: `fold` of every item, in order, written as a list. Unknown when the
/// items hold more than [`MAX_TEXT`] bytes in all, when one item's `fold` is unknown, or when
/// a folded item holds NUL (a list's items are written NUL-terminated).
pub fn fold_each_into<'a>(
    items: impl IntoIterator<Item = &'a str>,
    out: &mut String,
) -> Option<Written> {
    out.clear();
    let mut scratch = String::new();
    let mut total = 0usize;
    for item in items {
        total = total.saturating_add(item.len());
        if total > MAX_TEXT || !fold::fold_into(item, &mut scratch) || scratch.contains('\0') {
            out.clear();
            return None;
        }
        out.push_str(&scratch);
        out.push('\0');
    }
    Some(Written::List)
}

/// `func(s)` with string and list values written into `out` (cleared first), reusing its
/// allocation; `None` when the value is unknown.
///
/// The dear functions (decoding, SQL structure, the detectors) remember their last few values
/// on each thread (see [`Memo`]): the rules of a policy often apply the same function to the
/// same attribute (`fold(decoded(content))` in one rule, `lower(decoded(content))` in the
/// next), and consecutive events often carry the same text. [`apply`] never remembers, so
/// that the reference interpreter checks the memory against the functions themselves.
pub fn apply_into(func: Func, s: &str, out: &mut String) -> Option<Written> {
    if !Memo::worth(func, s) {
        return compute_into(func, s, out);
    }
    MEMO.with(|m| match m.try_borrow_mut() {
        Ok(mut m) => m.apply_into(func, s, out),
        Err(_) => compute_into(func, s, out),
    })
}

thread_local! {
    static MEMO: std::cell::RefCell<Memo> = std::cell::RefCell::new(Memo::new());
}

/// The last values of the dear functions on one thread: at most [`Memo::ENTRIES`] of them,
/// each of an input of at most [`Memo::MAX_INPUT`] bytes and a value of at most
/// [`Memo::MAX_OUTPUT`] bytes, and buffers of about [`Memo::MAX_BYTES`] in all (at most one
/// value more), so that it holds a bounded amount of memory; the oldest value goes first. A value is found
/// again only for the same function and the same input, byte for byte: the functions are pure.
pub(crate) struct Memo {
    /// Oldest first; entry `i` was remembered as number `first + i`.
    entries: std::collections::VecDeque<MemoEntry>,
    first: u64,
    /// The number of the latest entry remembered for each (function, input) hash.
    index: std::collections::HashMap<u64, u64, rustc_hash::FxBuildHasher>,
    /// Bytes the entries' buffers hold.
    bytes: usize,
    /// The bounds: [`Memo::ENTRIES`] and [`Memo::MAX_BYTES`] (smaller in tests).
    max_entries: usize,
    max_bytes: usize,
}

struct MemoEntry {
    func: Func,
    hash: u64,
    input: String,
    written: Written,
    output: String,
}

impl MemoEntry {
    /// The memory its buffers hold.
    fn held(&self) -> usize {
        self.input.capacity() + self.output.capacity()
    }
}

impl Memo {
    const ENTRIES: usize = 4096;
    const MAX_INPUT: usize = 16 * 1024;
    const MAX_OUTPUT: usize = 64 * 1024;
    const MAX_BYTES: usize = 4 << 20;

    fn new() -> Memo {
        Memo::with_bounds(Memo::ENTRIES, Memo::MAX_BYTES)
    }

    fn with_bounds(max_entries: usize, max_bytes: usize) -> Memo {
        Memo {
            entries: std::collections::VecDeque::new(),
            first: 0,
            index: std::collections::HashMap::with_hasher(rustc_hash::FxBuildHasher),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    /// Whether `func(s)` costs enough to look it up first.
    fn worth(func: Func, s: &str) -> bool {
        s.len() <= Memo::MAX_INPUT
            && matches!(
                func,
                Func::Decoded
                    | Func::SqlStatements
                    | Func::SqlTables
                    | Func::SqlReadOnly
                    | Func::Secrets
                    | Func::Pii
                    | Func::PiiCount
            )
    }

    fn hash(func: Func, s: &str) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = rustc_hash::FxBuildHasher.build_hasher();
        func.hash(&mut h);
        h.write(s.as_bytes());
        h.finish()
    }

    fn apply_into(&mut self, func: Func, s: &str, out: &mut String) -> Option<Written> {
        let hash = Memo::hash(func, s);
        if let Some(&n) = self.index.get(&hash)
            && let Some(e) = n
                .checked_sub(self.first)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| self.entries.get(i))
            && e.func == func
            && e.input == s
        {
            out.clear();
            out.push_str(&e.output);
            return Some(e.written);
        }
        let written = compute_into(func, s, out)?;
        if out.len() <= Memo::MAX_OUTPUT {
            let size = s.len() + out.len();
            // Room for it: the oldest go, and the first one's buffers are kept for it.
            let mut spare = None;
            while self.entries.len() >= self.max_entries
                || (!self.entries.is_empty() && self.bytes + size > self.max_bytes)
            {
                let Some(old) = self.entries.pop_front() else {
                    break;
                };
                if self.index.get(&old.hash) == Some(&self.first) {
                    self.index.remove(&old.hash);
                }
                self.first += 1;
                self.bytes = self.bytes.saturating_sub(old.held());
                spare.get_or_insert(old);
            }
            let mut e = spare.unwrap_or(MemoEntry {
                func,
                hash,
                input: String::new(),
                written,
                output: String::new(),
            });
            e.func = func;
            e.hash = hash;
            e.written = written;
            e.input.clear();
            e.input.push_str(s);
            e.output.clear();
            e.output.push_str(out);
            self.index
                .insert(hash, self.first + self.entries.len() as u64);
            self.bytes += e.held();
            self.entries.push_back(e);
        }
        Some(written)
    }
}

/// [`apply_into`] without the memory of recent values.
fn compute_into(func: Func, s: &str, out: &mut String) -> Option<Written> {
    let ok = |b: bool| b.then_some(Written::Str);
    match func {
        Func::Len => Some(Written::Num(str_len(s) as f64)),
        Func::Lower => {
            lower_into(s, out);
            Some(Written::Str)
        }
        Func::Upper => {
            upper_into(s, out);
            Some(Written::Str)
        }
        Func::NormPath => {
            norm_path_into(s, out);
            Some(Written::Str)
        }
        Func::UrlHost => {
            url_host_into(s, out);
            Some(Written::Str)
        }
        Func::Base64Decode => ok(decode::base64_decode_into(s, out)),
        Func::HexDecode => ok(decode::hex_decode_into(s, out)),
        Func::UrlDecode => ok(decode::url_decode_into(s, out)),
        Func::Unescape => ok(decode::unescape_into(s, out)),
        Func::Decoded => ok(decode::decoded_into(s, out)),
        Func::Nfkc => ok(fold::nfkc_into(s, out)),
        Func::Fold => ok(fold::fold_into(s, out)),
        // Takes a list, never a string.
        Func::FoldEach => None,
        Func::Unleet => ok(fold::unleet_into(s, out)),
        Func::SqlStatements => push_items(out, sql::analyze(s)?.statements),
        Func::SqlTables => {
            let a = sql::analyze(s)?;
            push_items(out, a.tables.iter().map(String::as_str))
        }
        Func::SqlReadOnly => Some(Written::Bool(sql::analyze(s)?.read_only)),
        Func::Secrets => push_items(out, detect::secrets(s)?),
        Func::Pii => push_items(out, detect::pii(s)?),
        Func::PiiCount => Some(Written::Num(detect::pii_count(s)? as f64)),
    }
}

/// `lower(s)`: Unicode lower case.
pub fn lower(s: &str) -> String {
    let mut out = String::new();
    lower_into(s, &mut out);
    out
}

/// `lower(s)` written into `out` (cleared first), without allocating for ASCII input.
pub fn lower_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
    } else {
        out.push_str(&s.to_lowercase());
    }
}

/// `upper(s)`: Unicode upper case.
pub fn upper(s: &str) -> String {
    let mut out = String::new();
    upper_into(s, &mut out);
    out
}

/// `upper(s)` written into `out` (cleared first).
pub fn upper_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_uppercase();
    } else {
        out.push_str(&s.to_uppercase());
    }
}

/// `len(s)`: the number of Unicode scalar values.
pub fn str_len(s: &str) -> usize {
    s.chars().count()
}

/// `norm_path(s)`: resolves `.` and `..` segments and repeated `/`, lexically.
///
/// `/a/./b//c/../d` → `/a/b/d`; `..` above the root of an absolute path stays at the root
/// (`/../etc/passwd` → `/etc/passwd`); a relative path keeps the `..` it cannot resolve
/// (`../x` → `../x`); a trailing `/` is dropped; a path that resolves to nothing is `/` when
/// absolute and `.` when relative; the empty string stays empty. Only `/` separates segments:
/// backslashes and percent-encodings are left as they are.
pub fn norm_path(s: &str) -> String {
    let mut out = String::new();
    norm_path_into(s, &mut out);
    out
}

/// `norm_path(s)` written into `out` (cleared first).
pub fn norm_path_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_empty() {
        return;
    }
    if normal_path(s.as_bytes()) {
        out.push_str(s);
    } else {
        norm_path_by_segments(s, out);
    }
}

/// `norm_path(s)` of a path that is not empty, segment by segment, appended to `out`.
fn norm_path_by_segments(s: &str, out: &mut String) {
    let absolute = s.starts_with('/');
    let mut segs: Vec<&str> = Vec::new();
    for seg in s.split('/') {
        match seg {
            "" | "." => {}
            ".." => match segs.last() {
                Some(&last) if last != ".." => {
                    segs.pop();
                }
                _ => {
                    if !absolute {
                        segs.push("..");
                    }
                }
            },
            other => segs.push(other),
        }
    }
    if absolute {
        out.push('/');
    }
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('.');
    }
}

/// Whether a path is its own `norm_path`: not empty, and its segments (the first one
/// empty when it is absolute) neither empty nor `.` nor `..`.
fn normal_path(b: &[u8]) -> bool {
    let mut segs = b.split(|&c| c == b'/');
    if b.first() == Some(&b'/') {
        segs.next();
    }
    !b.is_empty() && segs.all(|seg| !matches!(seg, b"" | b"." | b".."))
}

/// The first `://` in `s`, found without building a searcher for it.
fn scheme_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b':', b).find(|&i| b.get(i + 1..i + 3) == Some(b"//".as_slice()))
}

/// `url_host(s)`: the lower-cased host of a URL, or `""` when `s` has none.
///
/// The host is what follows `scheme://` (or a leading `//`) up to the first `/`, `?` or `#`,
/// without `user:password@`, without `:port`, without the brackets of an IPv6 address and
/// without one trailing dot. `https://User@Example.COM.:8443/x` → `example.com`.
pub fn url_host(s: &str) -> String {
    let mut out = String::new();
    url_host_into(s, &mut out);
    out
}

/// `url_host(s)` written into `out` (cleared first).
pub fn url_host_into(s: &str, out: &mut String) {
    out.clear();
    let s = s.trim();
    let rest = if let Some(i) = scheme_end(s) {
        let scheme = s.get(..i).unwrap_or("");
        let valid_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return;
        }
        s.get(i + 3..).unwrap_or("")
    } else if let Some(r) = s.strip_prefix("//") {
        r
    } else {
        return;
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or("");
    let hostport = authority
        .rfind('@')
        .map_or(authority, |i| authority.get(i + 1..).unwrap_or(""));
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.find(']').map_or(v6, |i| v6.get(..i).unwrap_or(""))
    } else {
        hostport
            .rfind(':')
            .map_or(hostport, |i| hostport.get(..i).unwrap_or(""))
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    lower_into(host, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembered values are the functions' values: every dear function, on inputs repeated,
    /// alternated and more numerous than the memory holds, unknown and too long to remember,
    /// gives through [`apply_into`] what it gives computed anew, whatever was in `out`.
    #[test]
    fn remembered_values_are_the_values() {
        let funcs = [
            Func::Decoded,
            Func::SqlStatements,
            Func::SqlTables,
            Func::SqlReadOnly,
            Func::Secrets,
            Func::Pii,
            Func::PiiCount,
            Func::Fold,
        ];
        let long = "x".repeat(Memo::MAX_INPUT + 1);
        let mut inputs: Vec<String> = [
            "DROP TABLE users; SELECT * FROM t",
            "select a from b",
            "aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=",
            "token ghp_16C7e42F292c6912E7710c838347Ae178B4a here",
            "mail a@example.com, card 4111 1111 1111 1111",
            "",
            "((((",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        inputs.extend((0..12).map(|i| format!("SELECT {i} FROM t{i}; password: Zq8{i}xT3mP")));
        inputs.push(long);
        let mut out = String::from("left over");
        let mut remembered = 0;
        for round in 0..3 {
            for (k, text) in inputs.iter().enumerate() {
                for f in funcs {
                    let mut fresh = String::new();
                    let want = compute_into(f, text, &mut fresh);
                    let hit = MEMO.with(|m| {
                        m.borrow()
                            .entries
                            .iter()
                            .any(|e| e.func == f && e.input == *text)
                    });
                    remembered += usize::from(hit);
                    let got = apply_into(f, text, &mut out);
                    assert_eq!(got, want, "{f:?} on {text:?}, round {round}, input {k}");
                    if want.is_some() && matches!(got, Some(Written::Str | Written::List)) {
                        assert_eq!(out, fresh, "{f:?} on {text:?}");
                    }
                    // The same again, now surely remembered when worth it.
                    assert_eq!(apply_into(f, text, &mut out), want);
                }
            }
            // Alternating two inputs keeps both.
            for _ in 0..4 {
                for text in inputs.iter().take(2) {
                    let mut fresh = String::new();
                    let want = compute_into(Func::SqlTables, text, &mut fresh);
                    assert_eq!(apply_into(Func::SqlTables, text, &mut out), want);
                    assert_eq!(out, fresh);
                }
            }
        }
        assert!(remembered > 0);
        MEMO.with(|m| assert!(m.borrow().entries.len() <= Memo::ENTRIES));
    }

    /// More inputs than the memory holds, by count and by size: the values stay the
    /// functions' values, the oldest are forgotten first, and the memory stays bounded.
    #[test]
    fn the_memory_forgets_the_oldest_within_its_bounds() {
        let (entries, bytes) = (64, 256 * 1024);
        let mut m = Memo::with_bounds(entries, bytes);
        let mut out = String::new();
        let mut most = 0;
        let small: Vec<String> = (0..entries + 30)
            .map(|i| format!("SELECT {i} FROM t{i}; %41{i}"))
            .collect();
        let big: Vec<String> = (0..40)
            .map(|i| format!("{i} {}", "aGVsbG8gd29ybGQ= %41\\n ".repeat(400)))
            .collect();
        for round in 0..2 {
            for (k, text) in small.iter().chain(&big).enumerate() {
                for f in [Func::Decoded, Func::SqlTables] {
                    let mut fresh = String::new();
                    let want = compute_into(f, text, &mut fresh);
                    assert_eq!(
                        m.apply_into(f, text, &mut out),
                        want,
                        "{f:?}, round {round}, {k}"
                    );
                    if want.is_some() {
                        assert_eq!(out, fresh, "{f:?}, round {round}, {k}");
                    }
                    assert!(m.entries.len() <= entries);
                    assert!(m.bytes <= bytes + Memo::MAX_INPUT + Memo::MAX_OUTPUT);
                    most = most.max(m.bytes);
                    if k % 97 == 0 {
                        let held: usize = m.entries.iter().map(MemoEntry::held).sum();
                        assert_eq!(held, m.bytes);
                    }
                }
            }
        }
        // The latest is held, the first small ones are long gone, and the index finds
        // nothing that is not held.
        let last = big.last().unwrap();
        let h = Memo::hash(Func::Decoded, last);
        assert!(m.index.contains_key(&h));
        assert!(!m.entries.iter().any(|e| e.input == small[0]));
        // The large ones do not all fit: the first of them went for want of room.
        assert!(most > bytes - Memo::MAX_INPUT - Memo::MAX_OUTPUT, "{most}");
        assert!(m.entries.len() < entries);
        assert!(!m.entries.iter().any(|e| e.input == big[0]));
        for (h, n) in &m.index {
            let e = &m.entries[usize::try_from(n - m.first).unwrap()];
            assert_eq!(e.hash, *h);
        }
    }

    #[test]
    fn norm_path_resolves_lexically() {
        let cases = [
            ("/a/./b//c/../d", "/a/b/d"),
            ("/../etc/passwd", "/etc/passwd"),
            ("/etc/../etc/./shadow", "/etc/shadow"),
            ("../x", "../x"),
            ("a/../../b", "../b"),
            ("a/..", "."),
            ("/", "/"),
            ("//", "/"),
            ("/a/b/", "/a/b"),
            ("", ""),
            (".", "."),
            ("/home/admin/.ssh/", "/home/admin/.ssh"),
            ("..\\x", "..\\x"),
        ];
        for (input, want) in cases {
            assert_eq!(norm_path(input), want, "norm_path({input:?})");
        }
    }

    #[test]
    fn url_host_extracts_the_host() {
        let cases = [
            ("https://Example.COM/path", "example.com"),
            ("https://user:pw@example.com:8443/x?y#z", "example.com"),
            ("http://example.com.", "example.com"),
            ("//cdn.example.com/x", "cdn.example.com"),
            ("https://[::1]:8080/", "::1"),
            ("example.com/path", ""),
            ("not a url", ""),
            ("", ""),
            ("ftp://files.example.org", "files.example.org"),
            ("https://evil.com\\@good.com/", "evil.com"),
            ("https://good.com@evil.com/", "evil.com"),
            ("1http://x.com", ""),
        ];
        for (input, want) in cases {
            assert_eq!(url_host(input), want, "url_host({input:?})");
        }
    }

    #[test]
    fn case_functions() {
        assert_eq!(lower("ÀbC"), "àbc");
        assert_eq!(upper("straße"), "STRASSE");
        assert_eq!(str_len("héllo"), 5);
    }

    /// A path taken whole as its own `norm_path`, and a host found after the first `://`,
    /// give what the segments and the search give on every mix of these parts.
    #[test]
    fn paths_and_hosts_taken_whole_are_their_values() {
        let parts = [
            "", "/", "//", ".", "..", "a", "é", "b.c", "..d", ":", "://", "x:/",
        ];
        let mut out = String::new();
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in parts {
                        let s = format!("{a}{b}{c}{d}");
                        norm_path_into(&s, &mut out);
                        let mut by_segments = String::new();
                        if !s.is_empty() {
                            norm_path_by_segments(&s, &mut by_segments);
                        }
                        assert_eq!(out, by_segments, "{s:?}");
                        assert_eq!(
                            scheme_end(&s),
                            memchr::memmem::find(s.as_bytes(), b"://"),
                            "{s:?}"
                        );
                    }
                }
            }
        }
        assert_eq!(url_host("https://User@Example.COM.:8443/x"), "example.com");
        assert_eq!(url_host("a:b://h/x"), "");
        assert_eq!(url_host("git+ssh:/x://Host:1/y"), "");
        assert_eq!(url_host("ftp://h:/x"), "h");
    }
}
