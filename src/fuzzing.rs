//! Entry points for fuzzers (`fuzz/`): each takes arbitrary bytes, must never panic, and
//! returns `Err` when it finds a bug (the fuzz targets turn that into a crash). The saved
//! corpora in `fuzz/corpus/` replay through these same functions as ordinary tests.

use crate::diag::SourceFile;
use crate::vm::{Event, Outcome, Program};

/// Source text → parse, check, compile, encode, decode, load: any stage may refuse the input,
/// none may panic, and whatever compiles must verify and load.
pub fn parse(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let file = SourceFile::new("fuzz.gov", text);
    if let Ok(bundle) = crate::check::check_sources(vec![file]) {
        let Ok(model) = crate::compile::compile(&bundle) else {
            return Ok(());
        };
        let bytes = crate::bytecode::encode(&model);
        match crate::bytecode::decode(&bytes) {
            Ok(decoded) if decoded == model => {}
            other => return Err(format!("a compiled bundle does not round-trip: {other:?}")),
        }
        if let Err(e) = Program::load(&bytes) {
            return Err(format!("a compiled bundle does not load: {e}"));
        }
    }
    Ok(())
}

/// Untrusted bundle bytes → decode and, when they verify, load and run. The checksum is
/// recomputed first so that mutations reach the structural checks behind it.
///
/// What a verified bundle may cost is checked too: the decoder's figures must be those of the
/// model it returns and within the bounds, and each decision of the sample events must stay
/// within them, in steps (tests made, work, leaves and items merged) and in memory (the
/// decision's lists and the scratch buffers, against the event's size).
pub fn decode(data: &[u8]) -> Result<(), String> {
    use crate::bytecode::cost::{self, Cost};
    let _ = crate::bytecode::decode(data);
    let mut fixed = data.to_vec();
    if fixed.len() >= 40 {
        use sha2::Digest;
        let body = fixed.len() - 32;
        let sum = sha2::Sha256::digest(fixed.get(..body).unwrap_or(&[]));
        if let Some(t) = fixed.get_mut(body..) {
            t.copy_from_slice(&sum);
        }
    }
    let Ok((model, costed)) = crate::bytecode::decode::decode_costed(&fixed, true) else {
        return Ok(());
    };
    // The decoder's figures are the model's; only the bytes built can be more, when the
    // string table holds strings nothing refers to (the encoder never writes any), and they
    // are exactly the model's once it is encoded again.
    let of_model = Cost::of(&model);
    if of_model.decision != costed.decision
        || (of_model.regexes, of_model.regex_source) != (costed.regexes, costed.regex_source)
        || of_model.materialised > costed.materialised
    {
        return Err(format!(
            "the decoder counted {costed:?} but the model it returned costs {of_model:?}"
        ));
    }
    let again = crate::bytecode::encode(&model);
    match crate::bytecode::decode::decode_costed(&again, true) {
        Ok((_, c)) if c == of_model => {}
        Ok((_, c)) => {
            return Err(format!(
                "the model costs {of_model:?} but decoding it again counts {c:?}"
            ));
        }
        // Strings nothing refers to made the original longer, and its allowance larger.
        Err(e)
            if again.len() < fixed.len() && e.message.contains("bytes of strings and checks") => {}
        Err(e) => return Err(format!("a verified model does not verify again: {e}")),
    }
    if let Err(e) = costed.check(fixed.len()) {
        return Err(format!("a bundle above a bound was accepted: {e}"));
    }
    let checks = cost::leaf_checks(&model);
    let work: Vec<u64> = model.vars.iter().map(cost::var_work).collect();
    let Ok(program) = Program::from_model(model, "sha256:fuzz".into()) else {
        return Ok(());
    };
    let mut state = program.new_state();
    let mut event = Event::default();
    let mut out = Outcome::default();
    let mut trace = Vec::new();
    let longest = SAMPLE_EVENTS.iter().map(|e| e.len()).max().unwrap_or(0);
    let d = costed.decision;
    for text in SAMPLE_EVENTS {
        if program.read_event(text, &mut event).is_err() {
            continue;
        }
        trace.clear();
        program.eval_traced(&event, &mut state, &mut out, &mut trace);
        let mut line = String::new();
        program.write_json(&out, &mut line);
        let tests = trace.len() as u64;
        let done: u64 = trace
            .iter()
            .map(|s| work.get(s.var as usize).copied().unwrap_or(u64::MAX))
            .fold(0, u64::saturating_add);
        let leaves = out.leaves.len() as u64;
        let merged: u64 = out
            .leaves
            .iter()
            .map(|&l| {
                let items = program.model.leaves.get(l as usize).map_or(0, Vec::len) as u64;
                1 + items + checks.get(l as usize).copied().unwrap_or(0)
            })
            .fold(0, u64::saturating_add);
        if tests > d.tests || done > d.work || leaves > d.leaves || merged > d.merged {
            return Err(format!(
                "a decision went past the worst case the verifier computed: {tests} tests, {done} work, {leaves} leaves, {merged} merged against {d:?}"
            ));
        }
        // Memory: the decision's lists grow with what it merges, the scratch buffers with
        // the event (each holds a value at most 3 times longer after a change of case;
        // capacities at most double what they hold).
        let lists = out.heap_bytes() as u64;
        let lists_budget = 64 * d.merged.saturating_add(program.model.slots.len() as u64) + 4096;
        let scratch = Program::scratch_bytes(&state) as u64;
        let scratch_budget = 4 * 6 * longest as u64 + 16 * d.leaves + 4096;
        if lists > lists_budget || scratch > scratch_budget {
            return Err(format!(
                "a decision took more memory than its budget: lists {lists} bytes (budget {lists_budget}), scratch {scratch} bytes (budget {scratch_budget})"
            ));
        }
    }
    Ok(())
}

/// Untrusted event text → the VM's reader must accept exactly what `serde_json` accepts as an
/// object, and the VM must decide it exactly as the reference interpreter.
pub fn event(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let (bundle, program) = fuzz_program().ok_or("the fuzzing policy does not compile")?;
    let mut ev = Event::default();
    let vm_ok = program.read_event(text, &mut ev).is_ok();
    let json: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let oracle_ok = json.as_ref().is_some_and(serde_json::Value::is_object);
    // serde_json refuses nesting deeper than 128 levels; the reader does too.
    if vm_ok != oracle_ok {
        return Err(format!(
            "the reader disagrees with serde_json on {text:?}: reader {vm_ok}, serde_json {oracle_ok}"
        ));
    }
    let Some(json) = json.filter(|_| vm_ok) else {
        return Ok(());
    };
    let mut state = program.new_state();
    let mut out = Outcome::default();
    program.eval(&ev, &mut state, &mut out);
    let mut reference = crate::reference::Reference::new(bundle, program.digest.clone());
    let vm = program.decision(&out);
    let oracle = reference.eval(&json);
    if vm != oracle {
        return Err(format!(
            "the VM and the reference disagree on {text}:\n{vm:?}\n{oracle:?}"
        ));
    }
    Ok(())
}

/// The policy the `event` target decides with: a little of everything.
pub const FUZZ_POLICY: &str = r#"
tool transfer(amount: number, to: string)
set secret = ["/etc/shadow", "/etc/passwd"]
policy fuzz {
  rule small: allow when tool == "transfer" and args.amount <= 1000
  rule big: escalate when tool == "transfer" and args.amount > 1000 because "big"
  rule secrets: deny when norm_path(args.path) in secret or args.path matches r"\.env$"
  rule roles: allow when "admin" in agent.roles and agent.trust >= 500
  rule host: warn when url_host(args.url) ends_with "evil.com"
  rule rate: deny when count(true, within 1m, per agent.id) > 3
  rule late: deny when time.hour >= 22 and has ts
  rule odd: deny when args["x-y"] == true or len(content) > 100 or labels contains "pii"
}
"#;

fn fuzz_program() -> Option<&'static (crate::check::Bundle, Program)> {
    static PROGRAM: std::sync::OnceLock<Option<(crate::check::Bundle, Program)>> =
        std::sync::OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let built =
                crate::pipeline::build_sources(vec![SourceFile::new("fuzz.gov", FUZZ_POLICY)])
                    .ok()?;
            Some((built.bundle, built.program))
        })
        .as_ref()
}

const SAMPLE_EVENTS: &[&str] = &[
    r#"{"tool":"transfer","args":{"amount":5000,"to":"x","path":"/etc/shadow","url":"https://a.evil.com"},"agent":{"id":"a","trust":600,"roles":["admin"]},"session":"s","ts":"2026-11-23T23:00:00Z"}"#,
    r#"{}"#,
    r#"{"tool":7,"args":"x","agent":[],"labels":["pii"],"content":"x"}"#,
    // Characters whose upper case is longer (ΐ → Ϊ́, ß → SS) and a path to resolve.
    r#"{"tool":"ΐßİﬃ","a":"ΐΐΐΐ","b":"/a/./b/../../c","args":{"path":"ΐßİ/../x","url":"HTTPS://ΐ.example/"},"agent":{"id":"ßß"}}"#,
];

/// Untrusted MCP log bytes → the trace reader, as one log and as two one-direction logs
/// (split at the middle line). None may panic; every event is a `tool_call` or a
/// `tool_result` with a string `tool`, and a log never has more results than calls (each
/// result answers one call seen before it).
pub fn mcp_log(data: &[u8]) -> Result<(), String> {
    use crate::trace::{Block, Input, InputFormat, TraceReader};
    use std::sync::Arc;
    let bytes = |name: &str, d: &[u8]| Input::Bytes {
        name: name.into(),
        data: Arc::from(d),
    };
    let cut = memchr::memchr_iter(b'\n', data)
        .nth(memchr::memchr_iter(b'\n', data).count() / 2)
        .map_or(data.len(), |i| i + 1);
    let inputs = [
        bytes("log", data),
        Input::McpPair {
            client: Box::new(bytes("c", data.get(..cut).unwrap_or(&[]))),
            server: Box::new(bytes("s", data.get(cut..).unwrap_or(&[]))),
        },
    ];
    for input in &inputs {
        let Ok(mut r) = TraceReader::open(input, InputFormat::Mcp, None) else {
            continue;
        };
        let mut b = Block::default();
        let (mut calls, mut results) = (0u64, 0u64);
        while let Ok(more) = r.next_block(&mut b) {
            for (text, origin) in b.lines() {
                if origin.error.is_some() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_slice(text)
                    .map_err(|e| format!("the reader wrote an event that is not JSON: {e}"))?;
                if !v.get("tool").is_some_and(serde_json::Value::is_string) {
                    return Err(format!("an event without a string tool: {v}"));
                }
                match v.get("action").and_then(serde_json::Value::as_str) {
                    Some("tool_call") => calls += 1,
                    Some("tool_result") => results += 1,
                    _ => return Err(format!("an event that is neither call nor result: {v}")),
                }
                if results > calls {
                    return Err(format!("more results ({results}) than calls ({calls})"));
                }
            }
            if !more {
                break;
            }
        }
    }
    Ok(())
}

/// Untrusted OTLP/JSON bytes → the trace reader. None may panic or hang (parent cycles, deep
/// chains, spans held for roots that never come); every event is a JSON object with one of
/// the four actions the spans map to, its identity of the right shape, and a position inside
/// the input.
pub fn otel_trace(data: &[u8]) -> Result<(), String> {
    use crate::trace::{Block, Input, InputFormat, TraceReader};
    use serde_json::Value;
    use std::sync::Arc;
    let input = Input::Bytes {
        name: "spans".into(),
        data: Arc::from(data),
    };
    let Ok(mut r) = TraceReader::open(&input, InputFormat::Otel, None) else {
        return Ok(());
    };
    let lines = memchr::memchr_iter(b'\n', data).count() as u64 + 1;
    let mut b = Block::default();
    while let Ok(more) = r.next_block(&mut b) {
        for (text, origin) in b.lines() {
            if origin.line == 0 || origin.line > lines {
                return Err(format!("a record at line {} of {lines}", origin.line));
            }
            if origin.error.is_some() {
                continue;
            }
            let v: Value = serde_json::from_slice(text)
                .map_err(|e| format!("the reader wrote an event that is not JSON: {e}"))?;
            let action = v.get("action").and_then(Value::as_str);
            if !matches!(
                action,
                Some("tool_call" | "llm_call" | "send_message" | "spawn_agent")
            ) {
                return Err(format!("an event with an unexpected action: {v}"));
            }
            if v.get("session").is_some_and(|s| !s.is_string()) {
                return Err(format!("a session that is not a string: {v}"));
            }
            let agent = v.get("agent");
            if agent.is_some_and(|a| !a.is_object())
                || agent
                    .and_then(|a| a.get("id"))
                    .is_some_and(|id| !id.is_string())
            {
                return Err(format!("an agent of the wrong shape: {v}"));
            }
            if origin.truncated && (action != Some("tool_call") || v.get("args").is_some()) {
                return Err(format!("truncated arguments on an event with args: {v}"));
            }
        }
        if !more {
            break;
        }
    }
    Ok(())
}

/// Untrusted `tools/list` bytes → `mcp-import`: whatever it writes, declarations and
/// skeleton, must parse, format, and check.
pub fn mcp_import(data: &[u8]) -> Result<(), String> {
    use crate::mcp::import;
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return Ok(());
    };
    let Ok(imported) = import::tools_of(&v).and_then(import::import) else {
        return Ok(());
    };
    for text in [
        import::declarations(&imported),
        import::skeleton(&imported, "fuzz", "fuzz.json", "fuzz.json"),
    ] {
        let file = SourceFile::new("generated.gov", text.as_str());
        if let Err(e) = crate::fmt::format(&file) {
            return Err(format!(
                "mcp-import wrote text that does not parse: {e:?}\n{text}"
            ));
        }
        if let Err(e) = crate::check::check_sources(vec![file]) {
            return Err(format!(
                "mcp-import wrote a policy that does not check: {e:?}\n{text}"
            ));
        }
    }
    Ok(())
}

/// Arbitrary text → every function of the language (`fold`, `decoded`, `sql_statements`,
/// `secrets`, …): none may panic; each must give the same value through the reference's and
/// the VM's entry points; values stay within their documented size bounds; list items never
/// hold NUL (the VM's separator); and what a strict decoder returns encodes back to an input
/// it decodes the same way.
pub fn functions(data: &[u8]) -> Result<(), String> {
    use crate::builtins::{FnValue, Written, apply, apply_into, decode};
    use crate::check::Func;
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let mut buf = String::new();
    for f in Func::ALL {
        let value = apply(f, text);
        let written = apply_into(f, text, &mut buf);
        let same = match (&value, written) {
            (None, None) => true,
            (Some(FnValue::Str(s)), Some(Written::Str)) => *s == buf,
            (Some(FnValue::Num(a)), Some(Written::Num(b))) => a == &b,
            (Some(FnValue::Bool(a)), Some(Written::Bool(b))) => *a == b,
            (Some(FnValue::List(items)), Some(Written::List)) => items
                .iter()
                .map(String::as_str)
                .eq(crate::builtins::list_items(&buf)),
            _ => false,
        };
        if !same {
            return Err(format!(
                "{}: apply and apply_into disagree on {text:?}",
                f.name()
            ));
        }
        let bound = match f {
            Func::Lower | Func::Upper => text.len() * 3,
            Func::Decoded => text.len() * decode::DECODED_GROWTH + 64,
            Func::Nfkc | Func::Fold => text.len() * crate::builtins::fold::GROWTH + 64,
            _ => text.len(),
        };
        match &value {
            Some(FnValue::Str(s)) if s.len() > bound => {
                return Err(format!(
                    "{}: {} bytes from {} bytes of input",
                    f.name(),
                    s.len(),
                    text.len()
                ));
            }
            Some(FnValue::List(items)) if items.iter().any(|i| i.contains('\0')) => {
                return Err(format!("{}: a list item holds NUL", f.name()));
            }
            _ => {}
        }
        // Strict decoders: the decoded text, encoded again, decodes to itself.
        if let Some(FnValue::Str(s)) = &value {
            let again = match f {
                Func::HexDecode => {
                    let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                    apply(f, &hex)
                }
                Func::UrlDecode => {
                    let pct: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
                    apply(f, &pct)
                }
                Func::Base64Decode => {
                    use base64ct::Encoding;
                    apply(f, &base64ct::Base64::encode_string(s.as_bytes()))
                }
                _ => continue,
            };
            if again.as_ref() != Some(&FnValue::Str(s.clone())) {
                return Err(format!("{}: {s:?} does not round-trip", f.name()));
            }
        }
    }
    Ok(())
}

/// Untrusted audit log bytes → the record parser, `replay-audit`'s checks (no replay, no
/// keys) and `simulate`'s audit reader: none may panic, and a log reported intact has every
/// line a record whose `hash` an independent RFC 8785 form of its JSON value confirms
/// (`replay-audit` never reports intact what it did not check).
pub fn audit_log(data: &[u8]) -> Result<(), String> {
    use crate::audit::record::Parser;
    use crate::audit::verify::{self, Bundles, Keys};
    use crate::trace::{Block, Input, InputFormat, TraceReader};
    let mut parser = Parser::default();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(text) = std::str::from_utf8(line) {
            let _ = parser.parse(text);
        }
    }
    if let Ok(mut r) = TraceReader::open(
        &Input::Bytes {
            name: "log".into(),
            data: std::sync::Arc::from(data),
        },
        InputFormat::Audit,
        None,
    ) {
        let mut b = Block::default();
        while let Ok(true) = r.next_block(&mut b) {}
    }
    let path = std::env::temp_dir().join(format!("govern-fuzz-audit-{}.jsonl", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return Ok(());
    }
    let report = verify::verify(
        std::slice::from_ref(&path),
        &verify::Options {
            keys: Keys::default(),
            bundles: Bundles::None,
            expect_head: None,
            expect_count: None,
            against: None,
        },
    );
    let _ = std::fs::remove_file(&path);
    if report.exit_code() != 0 {
        return Ok(());
    }
    // Cut-short lines are no records: a last line without its `\n`, and lines a later bundle
    // record names (by digest) in its `torn` list, as the writer continues after a crash.
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let complete = lines.len().saturating_sub(1);
    let mut torn = std::collections::BTreeSet::new();
    for line in lines.iter().take(complete) {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line)
            && let Some(list) = v.get("torn").and_then(serde_json::Value::as_array)
        {
            torn.extend(list.iter().filter_map(|d| d.as_str().map(str::to_string)));
        }
    }
    for (i, line) in lines.iter().take(complete).enumerate() {
        if torn.contains(&crate::audit::record::digest_of(line)) {
            continue;
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| format!("line {} is not UTF-8, yet the log is intact", i + 1))?;
        let mut v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("line {} is not JSON, yet the log is intact: {e}", i + 1))?;
        let hash = v
            .as_object_mut()
            .and_then(|o| o.remove("hash"))
            .and_then(|h| h.as_str().map(str::to_string))
            .ok_or_else(|| format!("line {} has no hash, yet the log is intact", i + 1))?;
        let canon = crate::sign::jcs::canonicalize(&v);
        if crate::audit::record::digest_of(canon.as_bytes()) != hash {
            return Err(format!(
                "line {}: its hash does not hold, yet the log is intact",
                i + 1
            ));
        }
    }
    Ok(())
}

/// Untrusted bytes → the MCP proxy's scanner (`mcp::scan`), which reads a live `tools/call`
/// and its answer without a tree: it must accept, refuse and find members exactly as
/// serde_json's tree read does, but for the few kinds it leaves to a tree read.
pub fn mcp_scan(data: &[u8]) -> Result<(), String> {
    crate::mcp::scan::differential(data)
}
