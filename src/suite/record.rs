//! Golden decisions: a recorded trace → a suite that pins the decisions the policies give it
//! today, so that a later change to the policies shows exactly which events decide otherwise.
//!
//! Each session of a trace becomes one stream case (events in trace order, state carried from
//! one to the next), which keeps the cases small and names the session that changed. State
//! may cross sessions, though (`count(…, per agent.id)`), and the stream clock is shared, so
//! the split is only made when it is exact: the trace is decided once as a whole and once
//! session by session, and if any event decides differently the trace becomes one stream case
//! instead. Events without a `session` form one case of their own. The recorded `decision`
//! field of trace events (what production decided) is dropped from the requests.

use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use crate::decision::Decision;
use crate::vm::{Event, Outcome, Program};

/// One event read from a trace, with its line.
#[derive(Clone, Debug)]
pub struct TraceEvent {
    pub line: usize,
    pub value: Json,
}

/// A recorded trace.
#[derive(Clone, Debug)]
pub struct Trace {
    /// As shown in case names and comments.
    pub name: String,
    pub events: Vec<TraceEvent>,
}

/// What was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The suite text.
    pub text: String,
    pub cases: usize,
    pub events: usize,
    /// Traces kept whole because state or time crosses their sessions.
    pub whole: Vec<String>,
}

/// Decides events as one stream.
fn decide(p: &Program, events: &[&TraceEvent]) -> Result<Vec<Decision>, String> {
    // As `govern test` will decide the recorded suite: every `ts` believed.
    let mut st = p.new_state_with(crate::vm::StreamLimits::trusted_time());
    let mut ev = Event::default();
    let mut out = Outcome::default();
    let mut ds = Vec::with_capacity(events.len());
    for e in events {
        let text = request(&e.value).to_string();
        p.read_event(&text, &mut ev)
            .map_err(|err| format!("line {}: {}", e.line, err.message))?;
        p.eval(&ev, &mut st, &mut out);
        ds.push(p.decision(&out));
    }
    Ok(ds)
}

/// The event without the recorded production `decision`.
fn request(v: &Json) -> Json {
    let mut r = v.clone();
    if let Json::Object(m) = &mut r {
        m.remove("decision");
    }
    r
}

fn pin(d: &Decision) -> Json {
    let warnings: Vec<Json> = d
        .warnings
        .iter()
        .map(|w| match &w.message {
            Some(m) => json!({"rule": w.rule, "message": m}),
            None => json!(w.rule),
        })
        .collect();
    // Written in this order: decision first reads best.
    let mut s = String::from("{\"decision\": ");
    s.push_str(&Json::from(d.verdict.as_str()).to_string());
    for (k, v) in [
        ("rules", json!(d.rules)),
        ("messages", json!(d.messages)),
        ("warnings", Json::Array(warnings)),
        ("unknown", json!(d.unknown)),
    ] {
        let _ = write!(s, ", \"{k}\": {v}");
    }
    s.push('}');
    Json::String(s)
}

/// A case to write: its name, the trace it comes from, its events with their decisions.
type RecordedCase<'t> = (String, &'t str, Vec<(&'t TraceEvent, Decision)>);

/// Records `traces` against `program`; `bundle` is what the suite's `bundle:` lists.
pub fn record(traces: &[Trace], program: &Program, bundle: &[String]) -> Result<Recorded, String> {
    let mut cases: Vec<RecordedCase<'_>> = Vec::new();
    let mut whole = Vec::new();
    let mut events = 0usize;
    for t in traces {
        let all: Vec<&TraceEvent> = t.events.iter().collect();
        let decided = decide(program, &all).map_err(|e| format!("{}: {e}", t.name))?;
        events += all.len();
        // Group by session, in order of first appearance.
        let mut groups: Vec<(Option<String>, Vec<usize>)> = Vec::new();
        for (i, e) in t.events.iter().enumerate() {
            let s = e
                .value
                .get("session")
                .and_then(Json::as_str)
                .map(str::to_string);
            match groups.iter_mut().find(|(k, _)| *k == s) {
                Some((_, v)) => v.push(i),
                None => groups.push((s, vec![i])),
            }
        }
        let mut exact = groups.len() > 1;
        let mut per_group: Vec<Vec<Decision>> = Vec::new();
        if exact {
            for (_, idx) in &groups {
                let evs: Vec<&TraceEvent> = idx.iter().filter_map(|i| t.events.get(*i)).collect();
                let ds = decide(program, &evs).map_err(|e| format!("{}: {e}", t.name))?;
                if idx.iter().zip(&ds).any(|(i, d)| decided.get(*i) != Some(d)) {
                    exact = false;
                    break;
                }
                per_group.push(ds);
            }
        }
        if exact {
            for ((key, idx), ds) in groups.iter().zip(per_group) {
                let name = match key {
                    Some(s) => format!("{} session {s}", t.name),
                    None => format!("{} events without a session", t.name),
                };
                let evs = idx
                    .iter()
                    .filter_map(|i| t.events.get(*i))
                    .zip(ds)
                    .collect();
                cases.push((name, &t.name, evs));
            }
        } else {
            if groups.len() > 1 {
                whole.push(t.name.clone());
            }
            cases.push((
                t.name.clone(),
                &t.name,
                all.into_iter().zip(decided).collect(),
            ));
        }
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Golden decisions recorded by `govern test --record` with bundle"
    );
    let _ = writeln!(o, "# {}.", program.digest);
    let _ = writeln!(
        o,
        "# Each case replays a stream of recorded events; `expect` pins the decision the"
    );
    let _ = writeln!(
        o,
        "# policies gave each event. After changing the policies, `govern test` on this file"
    );
    let _ = writeln!(o, "# lists every event that now decides otherwise.");
    let bundle_json: Vec<Json> = bundle.iter().map(|b| Json::from(b.as_str())).collect();
    if let [one] = bundle_json.as_slice() {
        let _ = writeln!(o, "bundle: {one}");
    } else {
        let _ = writeln!(o, "bundle: {}", Json::Array(bundle_json));
    }
    let _ = writeln!(o, "tests:");
    for (name, trace, evs) in &cases {
        let _ = writeln!(o, "  - name: {}", Json::from(name.as_str()));
        let _ = writeln!(o, "    stream:");
        for (e, d) in evs {
            let _ = writeln!(o, "      # {trace}:{}", e.line);
            let _ = writeln!(o, "      - request: {}", request(&e.value));
            if let Json::String(s) = pin(d) {
                let _ = writeln!(o, "        expect: {s}");
            }
        }
    }
    Ok(Recorded {
        text: o,
        cases: cases.len(),
        events,
        whole,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(src: &str) -> Program {
        crate::pipeline::build_sources(vec![crate::diag::SourceFile::new("p.gov", src)])
            .unwrap()
            .program
    }

    fn trace(lines: &[&str]) -> Trace {
        Trace {
            name: "t.jsonl".into(),
            events: lines
                .iter()
                .enumerate()
                .map(|(i, l)| TraceEvent {
                    line: i + 1,
                    value: serde_json::from_str(l).unwrap(),
                })
                .collect(),
        }
    }

    const EVENTS: &[&str] = &[
        r#"{"ts":"2026-01-01T00:00:00Z","session":"a","agent":{"id":"x"},"tool":"s","decision":"allow"}"#,
        r#"{"ts":"2026-01-01T00:00:01Z","session":"b","agent":{"id":"x"},"tool":"s"}"#,
        r#"{"ts":"2026-01-01T00:00:02Z","session":"a","agent":{"id":"x"},"tool":"s"}"#,
    ];

    #[test]
    fn splits_by_session_when_exact() {
        let p = program(
            "policy p {\n rule s: allow when tool == \"s\"\n rule rate: deny when count(tool == \"s\", within 1m) >= 1 because \"again\"\n}\n",
        );
        let r = record(&[trace(EVENTS)], &p, &["p".into()]).unwrap();
        assert_eq!((r.cases, r.events), (2, 3));
        assert!(r.whole.is_empty());
        assert!(
            r.text.contains("- name: \"t.jsonl session a\""),
            "{}",
            r.text
        );
        assert!(!r.text.contains("\"decision\":\"allow\""), "{}", r.text);
        // The suite reads back and its expectations are those decisions.
        let s = crate::suite::load::parse(std::path::Path::new("x.test.yaml"), &r.text).unwrap();
        assert_eq!(s.cases.len(), 2);
        let last = s.cases[0].events[1].expect.as_ref().unwrap();
        assert_eq!(last.one.rules.as_deref(), Some(&["p.rate".to_string()][..]));
    }

    #[test]
    fn keeps_the_trace_whole_when_state_crosses_sessions() {
        let p = program(
            "policy p {\n rule s: allow when tool == \"s\"\n rule rate: deny when count(tool == \"s\", within 1m, per agent.id) >= 1 because \"again\"\n}\n",
        );
        let r = record(&[trace(EVENTS)], &p, &["p".into()]).unwrap();
        assert_eq!(r.cases, 1);
        assert_eq!(r.whole, ["t.jsonl"]);
    }
}
