//! Structured logs of a decision point: one line per event (start, reload, refused bundle,
//! audit error, shutdown), for people (`human`) or machines (`json`, one object per line).

use std::io::Write;
use std::sync::Mutex;

use serde_json::{Map, Value};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-11-23T10:00:00.120Z info  reload: … key=value`.
    #[default]
    Human,
    /// `{"ts":"…","level":"info","event":"reload","message":"…",…}`.
    Json,
}

/// How much a line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// A log written to any writer (standard error for the commands).
pub struct Log {
    format: LogFormat,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Log {
    pub fn new(format: LogFormat, out: Box<dyn Write + Send>) -> Log {
        Log {
            format,
            out: Mutex::new(out),
        }
    }

    /// A log that keeps nothing.
    pub fn discard() -> Log {
        Log::new(LogFormat::Human, Box::new(std::io::sink()))
    }

    pub fn info(&self, event: &str, message: &str, fields: &[(&str, Value)]) {
        self.write(Level::Info, event, message, fields);
    }

    pub fn warn(&self, event: &str, message: &str, fields: &[(&str, Value)]) {
        self.write(Level::Warn, event, message, fields);
    }

    pub fn error(&self, event: &str, message: &str, fields: &[(&str, Value)]) {
        self.write(Level::Error, event, message, fields);
    }

    /// Writes one line (whole, with one `write`): a log that cannot be written loses the
    /// line, never the decision.
    pub fn write(&self, level: Level, event: &str, message: &str, fields: &[(&str, Value)]) {
        let line = self.line(level, event, message, fields);
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }

    fn line(&self, level: Level, event: &str, message: &str, fields: &[(&str, Value)]) -> String {
        let ts = crate::time::format_rfc3339(crate::stream::now_ns());
        match self.format {
            LogFormat::Json => {
                let mut m = Map::new();
                m.insert("ts".into(), Value::String(ts));
                m.insert("level".into(), Value::String(level.as_str().into()));
                m.insert("event".into(), Value::String(event.into()));
                m.insert("message".into(), Value::String(message.into()));
                for (k, v) in fields {
                    m.insert((*k).to_string(), v.clone());
                }
                format!("{}\n", Value::Object(m))
            }
            LogFormat::Human => {
                let mut s = format!("{ts} {:<5} {event}: {message}", level.as_str());
                for (k, v) in fields {
                    let v = match v {
                        Value::String(s) => crate::source::printable(s).into_owned(),
                        v => v.to_string(),
                    };
                    s.push_str(&format!(" {k}={v}"));
                }
                s.push('\n');
                s
            }
        }
    }
}
