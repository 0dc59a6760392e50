//! Server-sent events (the WHATWG `text/event-stream` format) as Streamable HTTP uses them:
//! a reader that turns the bytes of an upstream stream into events, each bounded, and the
//! writer of one `message` event.

/// One event: its type (`message` unless the stream says otherwise), its data lines joined
/// by `\n`, and its id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: Vec<u8>,
    pub id: Option<String>,
}

impl Event {
    /// Whether the event carries a JSON-RPC message (type `message`, some data).
    pub fn is_message(&self) -> bool {
        self.event.as_deref().is_none_or(|e| e == "message") && !self.data.is_empty()
    }
}

/// An event (or a line) longer than the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong {
    pub limit: usize,
}

/// Reads events from a stream's bytes, fed in pieces of any size.
#[derive(Debug)]
pub struct Reader {
    limit: usize,
    line: Vec<u8>,
    /// The previous piece ended in `\r`: a `\n` that starts the next is part of that end.
    after_cr: bool,
    current: Event,
    has_data: bool,
}

impl Reader {
    /// A reader whose events (data and line) are at most `limit` bytes.
    pub fn new(limit: usize) -> Reader {
        Reader {
            limit,
            line: Vec::new(),
            after_cr: false,
            current: Event::default(),
            has_data: false,
        }
    }

    /// Takes in the next bytes; pushes the events they complete onto `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<(), TooLong> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(out)?,
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(out)?;
                }
                _ => {
                    if self.line.len() >= self.limit {
                        return Err(TooLong { limit: self.limit });
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<Event>) -> Result<(), TooLong> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            // Dispatch.
            let ev = std::mem::take(&mut self.current);
            let had = std::mem::replace(&mut self.has_data, false);
            if had || ev.id.is_some() || ev.event.is_some() {
                out.push(ev);
            }
            return Ok(());
        }
        if line.first() == Some(&b':') {
            return Ok(()); // a comment (keep-alive)
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(i) => {
                let (f, v) = line.split_at(i);
                let v = v.get(1..).unwrap_or_default();
                (f, v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line.as_slice(), &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.current.data.push(b'\n');
                }
                if self.current.data.len() + value.len() > self.limit {
                    return Err(TooLong { limit: self.limit });
                }
                self.current.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.current.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" => self.current.id = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // retry and unknown fields
        }
        Ok(())
    }
}

/// One `message` event carrying `data` (a JSON text: one line).
pub fn message(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 24);
    v.extend_from_slice(b"event: message\ndata: ");
    v.extend_from_slice(data);
    v.extend_from_slice(b"\n\n");
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn read(pieces: &[&[u8]], limit: usize) -> Result<Vec<Event>, TooLong> {
        let mut r = Reader::new(limit);
        let mut out = Vec::new();
        for p in pieces {
            r.feed(p, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn events_in_any_pieces_and_line_ends() {
        let text = b"event: message\r\nid: 7\r\ndata: {\"a\":1}\r\n\r\n: ping\n\ndata:x\ndata: y\n\nid: 9\n\n";
        let whole = read(&[text], 1024).unwrap();
        for cut in 0..text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(read(&[a, b], 1024).unwrap(), whole, "cut at {cut}");
        }
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].data, b"{\"a\":1}");
        assert_eq!(whole[0].id.as_deref(), Some("7"));
        assert!(whole[0].is_message());
        assert_eq!(whole[1].data, b"x\ny");
        // A priming event: an id and no data.
        assert!(!whole[2].is_message());
        let lone_cr = read(&[b"data: a\r\rdata: b\r\r"], 64).unwrap();
        assert_eq!(lone_cr.len(), 2);
    }

    #[test]
    fn events_are_bounded() {
        assert_eq!(
            read(&[b"data: 0123456789\n\n"], 8),
            Err(TooLong { limit: 8 })
        );
        assert_eq!(
            read(&[b"data:01234\ndata:56789\ndata:abcde\n\n"], 12),
            Err(TooLong { limit: 12 })
        );
        assert!(read(&[b"data: 0123\n\n"], 16).is_ok());
    }

    #[test]
    fn a_message_event_reads_back() {
        let ev = read(&[&message(b"{\"id\":1}")], 64).unwrap();
        assert_eq!(ev[0].data, b"{\"id\":1}");
        assert_eq!(ev[0].event.as_deref(), Some("message"));
    }
}
