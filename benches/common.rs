//! Workloads shared by the benchmarks: generated policies and events.

/// A bundle of `n` rules, each matching a tool name; half of them also test an argument
/// (a string prefix or a number comparison).
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
