//! Workloads shared by the benchmarks: generated policies and events.

/// A bundle of `n` rules, each matching a tool name; half of them also test an argument
/// (a string prefix or a number comparison).
#[allow(dead_code)]
pub fn policy(n: usize) -> String {
    let mut s = String::from("default deny\npolicy bench {\n");
    for i in 0..n {
        match i % 4 {
            0 | 2 => s.push_str(&format!("  rule r{i}: allow when tool == \"tool_{i}\"\n")),
            1 => s.push_str(&format!(
                "  rule r{i}: deny when tool == \"tool_{i}\" and args.path starts_with \"/secret/{i}\" because \"secret {i}\"\n"
            )),
            _ => s.push_str(&format!(
                "  rule r{i}: escalate when tool == \"tool_{i}\" and args.amount > {} because \"amount {i}\"\n",
                i * 10
            )),
        }
    }
    s.push_str("}\n");
    s
}

/// 64 events of about 250 bytes: half name a tool some rule matches (with arguments that do
/// and do not meet its condition), half name tools no rule knows.
#[allow(dead_code)]
pub fn events(n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for k in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x as usize) % n.max(1);
        let tool = if k % 2 == 0 {
            format!("tool_{i}")
        } else {
            format!("other_{i}")
        };
        let path = if k % 4 < 2 {
            format!("/secret/{i}/key")
        } else {
            "/srv/app/readme.md".to_string()
        };
        let amount = (x >> 20) % 20_000;
        out.push(format!(
            "{{\"ts\":\"2026-11-23T10:{:02}:{:02}.120Z\",\"session\":\"s-{}\",\"agent\":{{\"id\":\"agent-{}\",\"trust\":640,\"roles\":[\"finance\"]}},\"action\":\"tool_call\",\"tool\":\"{tool}\",\"args\":{{\"path\":\"{path}\",\"amount\":{amount},\"currency\":\"EUR\"}},\"labels\":[\"internal\"],\"cost\":0.0125}}",
            k / 60,
            k % 60,
            k % 7,
            k % 5
        ));
    }
    out
}

/// 100 tools with 10 rules each (allows with thresholds and path tests, denies with sets and
/// regexes, escalations, warnings), plus a few global guards: 1,003 rules.
#[allow(dead_code)]
pub fn bundle_source(tools: usize) -> String {
    let mut s = String::new();
    s.push_str("set secret_paths = [\"/etc/shadow\", \"/etc/passwd\", \"/root/.ssh\"]\n");
    for t in 0..tools {
        s.push_str(&format!(
            "tool t{t}(amount: number, path: string, url: string, to: string)\n"
        ));
    }
    s.push_str("policy guards {\n");
    s.push_str("  rule low_trust: deny when action == \"tool_call\" and agent.trust < 100 because \"untrusted\"\n");
    s.push_str(
        "  rule injection: deny when annotations.prompt_injection > 0.9 because \"injection\"\n",
    );
    s.push_str("  rule night: warn when time.hour < 6 because \"night\"\n");
    s.push_str("}\n");
    for t in 0..tools {
        let g = format!("action == \"tool_call\" and tool == \"t{t}\"");
        s.push_str(&format!("policy p{t} {{\n"));
        s.push_str(&format!(
            "  applies when \"team{}\" in agent.roles\n",
            t % 7
        ));
        s.push_str(&format!(
            "  rule small: allow when {g} and args.amount <= {}\n",
            100 * (t + 1)
        ));
        s.push_str(&format!(
            "  rule big: escalate when {g} and args.amount > {} because \"big\"\n",
            100 * (t + 1)
        ));
        s.push_str(&format!(
            "  rule huge: deny when {g} and args.amount > {} because \"huge\"\n",
            1000 * (t + 1)
        ));
        s.push_str(&format!(
            "  rule read: allow when {g} and args.path starts_with \"/data/{t}/\"\n"
        ));
        s.push_str(&format!(
            "  rule secrets: deny when {g} and norm_path(args.path) in secret_paths because \"secret\"\n"
        ));
        s.push_str(&format!(
            "  rule env: deny when {g} and args.path matches r\"\\.env$\" because \"env\"\n"
        ));
        s.push_str(&format!(
            "  rule host: allow when {g} and url_host(args.url) == \"api{t}.example.com\"\n"
        ));
        s.push_str(&format!(
            "  rule to: deny when {g} and lower(args.to) in [\"evil{t}\", \"bad\"] because \"recipient\"\n"
        ));
        s.push_str(&format!(
            "  rule rate: deny when {g} and count(tool == \"t{t}\", within 1m, per agent.id) >= 20 because \"rate\"\n"
        ));
        s.push_str(&format!(
            "  rule audit: warn when {g} and args.amount >= {} because \"audit\"\n",
            50 * (t + 1)
        ));
        s.push_str("}\n");
    }
    s
}

/// The 1,000-rule pair of `benches/diff.rs`: [`bundle_source`] with 100 tools, and the same
/// with one deny bound raised (`t41`'s `huge` rule from `> 42000` to `> 50000`).
#[allow(dead_code)]
pub fn diff_pair() -> (String, String) {
    let old = bundle_source(100);
    let from = "tool == \"t41\" and args.amount > 42000 because";
    assert_eq!(old.matches(from).count(), 1, "{from}");
    let new = old.replacen(from, "tool == \"t41\" and args.amount > 50000 because", 1);
    (old, new)
}

/// The many-changes side of `benches/diff.rs`: [`bundle_source`] with the `action` guard
/// dropped from every tool policy (requests of other actions are now decided by the tool
/// rules) and every escalation turned into a deny.
#[allow(dead_code)]
pub fn many_changes(src: &str) -> String {
    src.replace("action == \"tool_call\" and tool ==", "tool ==")
        .replace("rule big: escalate when", "rule big: deny when")
}

/// The one-rule change to the policy library (`policies/`) that `benches/diff.rs` measures:
/// in this file, this text becomes that one (data engineers no longer delete records).
#[allow(dead_code)]
pub const LIBRARY_CHANGE: (&str, &str, &str) = (
    "asi02_tool_misuse.gov",
    "tool in [\"db_query\", \"delete_records\"] and \"data_engineer\" in agent.roles",
    "tool in [\"db_query\"] and \"data_engineer\" in agent.roles",
);

/// A library file's text with [`LIBRARY_CHANGE`] applied when it is the file it names.
#[allow(dead_code)]
pub fn library_changed(name: &str, text: &str) -> String {
    let (file, from, to) = LIBRARY_CHANGE;
    if name.ends_with(file) {
        assert_eq!(text.matches(from).count(), 1, "{from}");
        text.replacen(from, to, 1)
    } else {
        text.to_string()
    }
}

/// The decision point of the MCP gateway's benchmarks: `testdata/mcp/proxy/gateway.gov` (the
/// policy of the SDK tests), no audit log, as `govern mcp-proxy --policy` opens it.
#[allow(dead_code, clippy::unwrap_used)]
pub fn gateway_point() -> govern::point::Point {
    use govern::point::log::Log;
    use govern::point::{Options, Point, Recorder, Source};
    Point::open(Options {
        source: Source {
            bundle: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/mcp/proxy/gateway.gov"),
            signature: None,
            trust: None,
            state: None,
        },
        max_keys: 1 << 20,
        audit: Recorder::none(),
        audit_required: false,
        log: std::sync::Arc::new(Log::discard()),
    })
    .unwrap()
}
