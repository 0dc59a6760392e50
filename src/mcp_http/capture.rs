//! `mcp-proxy --trace FILE`: the session as the client sees it, written as it happens in the
//! envelope form of MCP traces (docs/mcp.md) that `simulate` reads: one line per message,
//! `{"ts", "session", "direction", "message"}`, the message's exact text. What the client
//! sent is `client->server` (as it sent it, before any decision); what it received is
//! `server->client` (the server's messages as passed on, and the gateway's own answers:
//! denials, approval questions, withheld results, filtered tool lists). Used by both
//! transports.
//!
//! The file is opened for appending (created `0600`: a trace holds tool arguments and
//! results) and each line is one `write`, so a crash leaves whole lines and earlier runs stay.
//! A message that is not JSON (never forwarded) is not written; the log says so.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::value::RawValue;

use crate::mcp::Direction;

/// An open trace.
pub struct Capture {
    file: Mutex<File>,
    path: PathBuf,
}

impl Capture {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Capture> {
        let mut o = std::fs::OpenOptions::new();
        o.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        Ok(Capture {
            file: Mutex::new(o.open(path)?),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one message. `Ok(false)` when it is not JSON and was left out.
    pub fn record(&self, session: &str, dir: Direction, line: &[u8]) -> Result<bool, String> {
        let line = trim(line);
        let Ok(raw) = serde_json::from_slice::<&RawValue>(line) else {
            return Ok(false);
        };
        let mut out = String::with_capacity(raw.get().len() + 96);
        out.push_str("{\"ts\":\"");
        crate::time::write_rfc3339_nanos(crate::stream::now_ns(), &mut out);
        out.push_str("\",\"session\":");
        out.push_str(&serde_json::Value::String(session.to_string()).to_string());
        out.push_str(",\"direction\":\"");
        out.push_str(dir.as_str());
        out.push_str("\",\"message\":");
        out.push_str(raw.get());
        out.push_str("}\n");
        let mut f = self
            .file
            .lock()
            .map_err(|_| "the trace file is unusable".to_string())?;
        f.write_all(out.as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| format!("cannot write the trace {}: {e}", self.path.display()))?;
        Ok(true)
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some((&last, rest)) = l.split_last() {
        if last.is_ascii_whitespace() {
            l = rest;
        } else {
            break;
        }
    }
    l
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_keep_the_exact_message() {
        let dir = std::env::temp_dir().join(format!("govern-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.jsonl");
        let _ = std::fs::remove_file(&path);
        let c = Capture::open(&path).unwrap();
        let msg = br#"{"jsonrpc":"2.0", "id":1,"method":"ping"}"#;
        assert!(c.record("s\"1", Direction::ClientToServer, msg).unwrap());
        assert!(
            !c.record("s", Direction::ServerToClient, b"{not json")
                .unwrap()
        );
        drop(c);
        // Appends: an earlier run stays.
        let c = Capture::open(&path).unwrap();
        c.record(
            "s2",
            Direction::ServerToClient,
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n",
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["session"], "s\"1");
        assert_eq!(lines[0]["direction"], "client->server");
        assert!(text.contains(r#""message":{"jsonrpc":"2.0", "id":1,"method":"ping"}}"#));
        assert_eq!(lines[1]["direction"], "server->client");
        assert!(crate::time::parse_rfc3339(lines[1]["ts"].as_str().unwrap()).is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
