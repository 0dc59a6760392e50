//! Comments recovered from source text: the parser drops ordinary `//` comments, so tools that
//! need them (`govern fmt` keeps them, `govern lint` reads suppressions from them) find them
//! here by position, skipping string literals.

/// One comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Byte offset of the first `/`.
    pub start: usize,
    /// Byte offset just past the comment (before the line break).
    pub end: usize,
    /// The text including the slashes, without trailing whitespace.
    pub text: String,
    /// `///` (not `////`): a doc comment, which the parser keeps.
    pub doc: bool,
    /// Only whitespace before it on its line.
    pub own_line: bool,
    /// 1-based line.
    pub line: usize,
}

/// Every comment of `text`, in order.
pub fn scan(text: &str) -> Vec<Comment> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut line_start = 0;
    while i < b.len() {
        match b.get(i) {
            Some(b'\n') => {
                line += 1;
                i += 1;
                line_start = i;
            }
            Some(b'/') if b.get(i + 1) == Some(&b'/') => {
                let start = i;
                while i < b.len() && b.get(i) != Some(&b'\n') {
                    i += 1;
                }
                let raw = text.get(start..i).unwrap_or("");
                let trimmed = raw.trim_end();
                let doc = trimmed.starts_with("///") && !trimmed.starts_with("////");
                let own_line = text
                    .get(line_start..start)
                    .is_some_and(|t| t.trim().is_empty());
                out.push(Comment {
                    start,
                    end: start + trimmed.len(),
                    text: trimmed.to_string(),
                    doc,
                    own_line,
                    line,
                });
            }
            Some(b'"') => {
                i += 1;
                while i < b.len() {
                    match b.get(i) {
                        Some(b'\\') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\n') => break,
                        _ => i += 1,
                    }
                }
            }
            Some(b'r')
                if matches!(b.get(i + 1), Some(b'"' | b'#'))
                    && !(i > 0
                        && b.get(i - 1)
                            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    match b.get(j) {
                        None => break,
                        Some(b'"') if (1..=hashes).all(|k| b.get(j + k) == Some(&b'#')) => {
                            j += 1 + hashes;
                            break;
                        }
                        Some(b'\n') => {
                            line += 1;
                            j += 1;
                            line_start = j;
                        }
                        _ => j += 1,
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// The end of `text[start..end]` without the whitespace and comments that trail it (the
/// parser's spans can include them).
pub fn trim_trivia(text: &str, start: usize, end: usize) -> usize {
    let mut e = end.min(text.len());
    let mut found: Option<Vec<Comment>> = None;
    loop {
        let t = text.get(start..e).unwrap_or("");
        e = start + t.trim_end().len();
        let cs = found.get_or_insert_with(|| {
            scan(text.get(start..end.min(text.len())).unwrap_or(""))
                .into_iter()
                .map(|mut c| {
                    c.start += start;
                    c.end += start;
                    c
                })
                .collect()
        });
        match cs.iter().find(|c| c.end == e) {
            Some(c) if c.start > start => e = c.start,
            _ => return e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_comments_outside_strings() {
        let t = "a // one\n/// doc\n  // two\nx == \"// no\" and r#\"// no \"# // three\n//// four";
        let cs = scan(t);
        let texts: Vec<&str> = cs.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            ["// one", "/// doc", "// two", "// three", "//// four"]
        );
        assert!(!cs[0].own_line && cs[1].own_line && cs[2].own_line);
        assert!(cs[1].doc && !cs[4].doc);
        assert_eq!(cs[3].line, 4);
        let t = "rule r: allow // end\n  // more\n";
        assert_eq!(trim_trivia(t, 0, t.len()), 13);
    }
}
