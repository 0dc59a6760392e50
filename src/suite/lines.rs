//! Where each node of a YAML document starts: a path → line index.
//!
//! `serde_yaml` turns a suite into typed values but forgets where each value was written, and
//! a failing case must name its line. So the text is read a second time with a YAML *event*
//! parser (`yaml-rust2`), which reports a position with every event, and the start of every
//! node is recorded under its path from the root (`tests[3].expect.rules[0]`). For an entry of
//! a mapping the position of its *key* is kept, which is the line a reader looks for
//! (`expect:`), even when the value starts on the next line.
//!
//! This does not depend on how the file is laid out (flow or block style, comments, blank
//! lines, `- name:` first or last), unlike searching the text for `- name:` lines. The index
//! is best effort: if the event parser refuses a document that `serde_yaml` accepted, lookups
//! return `None` and messages go without a line, never wrong.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, Parser};

/// One step of a path into a YAML document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Seg {
        Seg::Key(s.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

/// A line and a column, both 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// The start position of every node of a document, by path.
#[derive(Clone, Debug, Default)]
pub struct LineIndex {
    map: BTreeMap<Vec<Seg>, Pos>,
    /// Keys written twice in one mapping (YAML forbids it; parsers differ on which wins).
    pub duplicates: Vec<(Vec<Seg>, Pos)>,
}

enum Frame {
    Seq {
        path: Vec<Seg>,
        next: usize,
    },
    Map {
        path: Vec<Seg>,
        /// The key of the entry whose value comes next; `None` while a key is expected.
        key: Option<Option<String>>,
        seen: Vec<String>,
    },
    /// A mapping or sequence used as a mapping key: skipped with everything inside.
    Skip {
        depth: usize,
    },
}

impl LineIndex {
    /// Indexes `text`; an empty index when the text is not YAML the event parser accepts.
    pub fn build(text: &str) -> LineIndex {
        let mut idx = LineIndex::default();
        if idx.fill(text).is_none() {
            idx.map.clear();
            idx.duplicates.clear();
        }
        idx
    }

    fn fill(&mut self, text: &str) -> Option<()> {
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        let mut documents = 0usize;
        loop {
            let (ev, mark) = parser.next_token().ok()?;
            let pos = Pos {
                line: mark.line(),
                column: mark.col() + 1,
            };
            match ev {
                Event::StreamEnd => return Some(()),
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 {
                        // Only the first document is a suite.
                        return Some(());
                    }
                    continue;
                }
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => continue,
                _ => {}
            }
            // Inside a skipped complex key: only track nesting.
            if let Some(Frame::Skip { depth }) = stack.last_mut() {
                match ev {
                    Event::MappingStart(..) | Event::SequenceStart(..) => *depth += 1,
                    Event::MappingEnd | Event::SequenceEnd => {
                        if *depth == 0 {
                            stack.pop();
                        } else {
                            *depth -= 1;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if matches!(ev, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
                continue;
            }
            // Where does this node sit?
            let path: Option<Vec<Seg>> = match stack.last_mut() {
                None => Some(Vec::new()),
                Some(Frame::Seq { path, next }) => {
                    let mut p = path.clone();
                    p.push(Seg::Index(*next));
                    *next += 1;
                    Some(p)
                }
                Some(Frame::Map { path, key, seen }) => match key.take() {
                    None => {
                        // This node is a key.
                        match &ev {
                            Event::Scalar(s, ..) => {
                                let mut p = path.clone();
                                p.push(Seg::Key(s.clone()));
                                if seen.contains(s) {
                                    self.duplicates.push((p.clone(), pos));
                                } else {
                                    seen.push(s.clone());
                                }
                                self.map.entry(p).or_insert(pos);
                                *key = Some(Some(s.clone()));
                            }
                            Event::MappingStart(..) | Event::SequenceStart(..) => {
                                *key = Some(None);
                                stack.push(Frame::Skip { depth: 0 });
                            }
                            _ => *key = Some(None),
                        }
                        continue;
                    }
                    Some(None) => None,
                    Some(Some(k)) => {
                        let mut p = path.clone();
                        p.push(Seg::Key(k));
                        Some(p)
                    }
                },
                Some(Frame::Skip { .. }) => None,
            };
            if let Some(p) = &path {
                self.map.entry(p.clone()).or_insert(pos);
            }
            match ev {
                Event::MappingStart(..) => stack.push(match path {
                    Some(path) => Frame::Map {
                        path,
                        key: None,
                        seen: Vec::new(),
                    },
                    None => Frame::Skip { depth: 0 },
                }),
                Event::SequenceStart(..) => stack.push(match path {
                    Some(path) => Frame::Seq { path, next: 0 },
                    None => Frame::Skip { depth: 0 },
                }),
                _ => {}
            }
        }
    }

    /// Where the node at `path` starts (its key, for a mapping entry).
    pub fn pos(&self, path: &[Seg]) -> Option<Pos> {
        self.map.get(path).copied()
    }

    /// The line of the node at `path`, or of its nearest ancestor that has one.
    pub fn line_near(&self, path: &[Seg]) -> Option<usize> {
        (0..=path.len())
            .rev()
            .find_map(|n| path.get(..n).and_then(|p| self.pos(p)))
            .map(|p| p.line)
    }
}

/// Builds a path (an array of [`Seg`]): `yaml_path!["tests", 3, "expect"]`.
#[macro_export]
macro_rules! yaml_path {
    ($($seg:expr),* $(,)?) => {
        [$($crate::suite::lines::Seg::from($seg)),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
bundle: ../policies   # comment
tests:
  # a comment line
  - name: first
    request: {action: tool_call, tool: x}
    expect: allow

  - request:
      action: llm_call
    name: second
    expect:
      decision: deny
      rules: [a.b, c.d]
  - {name: third, expect: allow}
";

    #[test]
    fn finds_items_keys_and_nested_nodes() {
        let idx = LineIndex::build(TEXT);
        assert_eq!(idx.pos(&yaml_path!["bundle"]).unwrap().line, 1);
        assert_eq!(idx.pos(&yaml_path!["tests", 0]).unwrap().line, 4);
        assert_eq!(idx.pos(&yaml_path!["tests", 0, "expect"]).unwrap().line, 6);
        assert_eq!(idx.pos(&yaml_path!["tests", 1]).unwrap().line, 8);
        assert_eq!(idx.pos(&yaml_path!["tests", 1, "name"]).unwrap().line, 10);
        assert_eq!(idx.pos(&yaml_path!["tests", 1, "expect"]).unwrap().line, 11);
        assert_eq!(
            idx.pos(&yaml_path!["tests", 1, "expect", "rules", 1]),
            Some(Pos {
                line: 13,
                column: 20
            })
        );
        assert_eq!(idx.pos(&yaml_path!["tests", 2]).unwrap().line, 14);
        assert_eq!(idx.pos(&yaml_path!["tests", 3]), None);
        assert_eq!(
            idx.line_near(&yaml_path!["tests", 2, "expect", "rules"]),
            Some(14)
        );
    }

    #[test]
    fn complex_keys_are_skipped_and_bad_yaml_gives_nothing() {
        let idx = LineIndex::build("? [a, b]\n: 1\nc:\n  - x\n");
        assert_eq!(idx.pos(&yaml_path!["c", 0]).unwrap().line, 4);
        let dup = LineIndex::build("a: {x: 1, y: 2, x: 3}\nb: 1\nb: 2\n");
        let d: Vec<(Vec<Seg>, usize)> = dup
            .duplicates
            .iter()
            .map(|(p, q)| (p.clone(), q.line))
            .collect();
        assert_eq!(
            d,
            [
                (yaml_path!["a", "x"].to_vec(), 1),
                (yaml_path!["b"].to_vec(), 3)
            ]
        );
        let bad = LineIndex::build("a: [1, 2\nb: 3\n");
        assert_eq!(bad.pos(&yaml_path!["a"]), None);
    }
}
