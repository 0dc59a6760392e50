//! `govern replay-audit`: verify an audit log and decide every event in it again.

use crate::audit::verify::{self, Bundles, Keys, Report, Severity};
use crate::cli::{DiagFormat, ReplayAuditArgs, ReportFormat};
use crate::commands::simulate::report::thousands;
use crate::commands::{Ctx, Out, exit};
use crate::source::printable;
use crate::vm::Program;

pub fn run(ctx: &Ctx, args: &ReplayAuditArgs) -> u8 {
    let bundles = match (&args.bundle, &args.bundles) {
        (Some(b), _) => Bundles::One(b.clone()),
        (None, Some(d)) => {
            if !d.is_dir() {
                ctx.error(format!(
                    "--bundles {}: not a directory",
                    crate::source::display(d)
                ));
                return exit::ERROR;
            }
            Bundles::Dir(d.clone())
        }
        (None, None) if args.no_replay || !args.against.is_empty() => Bundles::None,
        (None, None) => {
            ctx.report(
                &[crate::diag::Diag::error(
                    "govern::usage",
                    "replay needs the bundles the log names",
                )
                .help("pass --bundles DIR (filled by `govern build --store DIR`) or --bundle FILE, or --no-replay to check the chain and checkpoints only")],
                DiagFormat::Human,
            );
            return exit::ERROR;
        }
    };
    let mut keys = Keys::default();
    for k in &args.keys {
        let name = crate::source::display(k);
        let key = std::fs::read_to_string(k)
            .map_err(|e| format!("cannot read the key: {e}"))
            .and_then(|t| crate::sign::PublicKey::from_pem(&t).map_err(|e| e.to_string()));
        match key {
            Ok(k) => keys.keys.push(k),
            Err(e) => {
                ctx.error(format!("{name}: {e}"));
                return exit::ERROR;
            }
        }
    }
    if let Some(t) = &args.trust {
        match crate::sign::Trust::load(t) {
            Ok(t) => keys.trust = Some(t),
            Err(e) => {
                ctx.report(
                    &crate::sign::SignError::from(e).to_diags(),
                    DiagFormat::Human,
                );
                return exit::ERROR;
            }
        }
    }
    if let Some(h) = &args.expect_head
        && !crate::audit::record::is_digest(h)
    {
        ctx.error(format!(
            "--expect-head `{}` is not a record hash (`sha256:` and 64 lowercase hex digits)",
            printable(h)
        ));
        return exit::ERROR;
    }
    let against = if args.against.is_empty() {
        None
    } else {
        match load_against(ctx, &args.against) {
            Some(p) => Some(p),
            None => return exit::ERROR,
        }
    };
    let opts = verify::Options {
        keys,
        bundles,
        expect_head: args.expect_head.clone(),
        expect_count: args.expect_count,
        against: against.as_ref(),
    };
    let report = verify::verify(&args.logs, &opts);
    let mut out = Out::new();
    let code = if report.records == 0 && !report.bad_input() {
        ctx.error("no records in the log");
        exit::ERROR
    } else {
        report.exit_code()
    };
    match args.format {
        ReportFormat::Json => {
            let mut doc = match serde_json::to_value(&report) {
                Ok(v) => v,
                Err(e) => {
                    ctx.error(format!("cannot write the report: {e}"));
                    return exit::ERROR;
                }
            };
            if let Some(o) = doc.as_object_mut() {
                o.insert("version".into(), 1.into());
                o.insert("result".into(), result(&report, !args.no_replay).into());
                o.insert("exit".into(), code.into());
            }
            out.line(&serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        ReportFormat::Human => out.write_str(&human(&report, !args.no_replay)),
    }
    out.flush();
    code
}

fn load_against(ctx: &Ctx, paths: &[std::path::PathBuf]) -> Option<Program> {
    match paths {
        [one] if one.extension().is_some_and(|e| e == "govb") => {
            match crate::pipeline::load_bundle(one) {
                Ok(p) => Some(p),
                Err(d) => {
                    ctx.report(&[d], DiagFormat::Human);
                    None
                }
            }
        }
        _ => match crate::pipeline::build_paths(paths) {
            Ok(b) => Some(b.program),
            Err(diags) => {
                ctx.report(&diags, DiagFormat::Human);
                None
            }
        },
    }
}

/// `1 record`, `2,000 records`.
fn count(n: u64, what: &str) -> String {
    format!("{} {what}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// The one-line verdict.
fn result(r: &Report, replay: bool) -> &'static str {
    let tampered = r
        .findings
        .iter()
        .any(|f| f.severity == Severity::Failed && f.check != "replay");
    if tampered {
        "tampered"
    } else if r.failed() {
        "divergent"
    } else if r.bad_input() || r.records == 0 {
        "not verified"
    } else if !replay || r.replayed == 0 && r.decisions > 0 {
        "intact, not replayed"
    } else if r.not_replayed > 0 {
        "intact, partly replayed"
    } else {
        "intact and reproducible"
    }
}

fn human(r: &Report, replay: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} in {}: {}, {}, {}",
        count(r.records, "record"),
        count(r.files.len() as u64, "file"),
        count(r.decisions, "decision"),
        count(r.bundle_records, "bundle record"),
        count(r.checkpoints, "checkpoint"),
    );
    let width = r
        .files
        .iter()
        .map(|f| f.file.chars().count())
        .max()
        .unwrap_or(0);
    for f in &r.files {
        let span = match (f.first_seq, f.last_seq) {
            (Some(a), Some(b)) => format!("seq {a}–{b}"),
            _ => "no records".to_string(),
        };
        let _ = writeln!(s, "  {:<width$}  {span}", printable(&f.file));
    }
    if let (Some(a), Some(b)) = (&r.first_ts, &r.last_ts) {
        let _ = writeln!(s, "time        {} … {}", printable(a), printable(b));
    }
    for (i, b) in r.bundles.iter().enumerate() {
        let head = if i == 0 {
            "bundles     "
        } else {
            "            "
        };
        let at = b
            .found
            .as_deref()
            .map(|f| format!("  ({})", printable(f)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{head}{}  {} decisions{at}",
            b.digest,
            thousands(b.decisions)
        );
    }
    let v = &r.verdicts;
    let _ = writeln!(
        s,
        "verdicts    allow {}  deny {}  escalate {}",
        thousands(v.allow),
        thousands(v.deny),
        thousands(v.escalate)
    );
    let last = r
        .last_checkpoint
        .map(|c| format!(" (the last at seq {c})"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "checkpoints {} of {} verified{last}",
        thousands(r.checkpoints_verified),
        thousands(r.checkpoints)
    );
    if replay {
        let _ = writeln!(
            s,
            "replay      {} decided again: {} the same, {} different, {} not replayed",
            thousands(r.replayed + r.divergent),
            thousands(r.replayed),
            thousands(r.divergent),
            thousands(r.not_replayed)
        );
    }
    if r.not_canonical > 0 {
        let _ = writeln!(
            s,
            "note        {} records are not written as govern writes them (rewritten by another tool); their content was checked",
            thousands(r.not_canonical)
        );
    }
    for t in &r.torn {
        if let Some(at) = t.continued_at {
            let _ = writeln!(
                s,
                "torn        {}:{} ({} bytes) cut short by a crash; the record at seq {at} continues after it",
                printable(&t.file),
                t.line,
                t.bytes
            );
        }
    }
    if let Some(a) = &r.against {
        let _ = writeln!(
            s,
            "\nagainst {}\n  {} compared, {} agree, {} flipped",
            a.bundle,
            thousands(a.compared),
            thousands(a.agree),
            thousands(a.flipped)
        );
        for f in &a.flips {
            let _ = writeln!(
                s,
                "  {:<8} → {:<8}  {:<32}  {:<16}  {:>6}  {}",
                f.from,
                f.to,
                f.rule
                    .as_deref()
                    .map(printable)
                    .unwrap_or("(default)".into()),
                f.tool.as_deref().map(printable).unwrap_or("-".into()),
                thousands(f.events),
                f.examples
                    .iter()
                    .map(|e| printable(e).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let failed: Vec<_> = r.findings.iter().collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "\nproblems");
        for f in &failed {
            let at = match (f.line, f.seq) {
                (0, Some(q)) => format!("{} (seq {q})", printable(&f.file)),
                (0, None) => printable(&f.file).into_owned(),
                (l, Some(q)) => format!("{}:{l} (seq {q})", printable(&f.file)),
                (l, None) => format!("{}:{l}", printable(&f.file)),
            };
            let _ = writeln!(s, "  {at}: {}: {}", f.check, printable(&f.message));
            if let Some(d) = &f.divergence {
                let _ = writeln!(s, "      {:<10} {:<40} replayed", "field", "recorded");
                for field in &d.fields {
                    let show = |v: Option<&serde_json::Value>| {
                        v.map(|v| printable(&v.to_string()).into_owned())
                            .unwrap_or_else(|| "-".into())
                    };
                    let _ = writeln!(
                        s,
                        "      {:<10} {:<40} {}",
                        field,
                        show(d.recorded.get(field)),
                        show(d.replayed.get(field))
                    );
                }
                for (i, rule) in d.rules.iter().enumerate() {
                    let head = if i == 0 { "decided by" } else { "" };
                    let _ = writeln!(s, "      {head:<10} {}", printable(rule));
                }
                if d.rules.is_empty() {
                    let _ = writeln!(s, "      decided by the bundle default");
                }
            }
        }
        let hidden = r.divergent.saturating_sub(verify::SHOWN as u64);
        if hidden > 0 {
            let _ = writeln!(
                s,
                "  ({} more divergences are listed without the side-by-side view)",
                thousands(hidden)
            );
        }
    }
    if !r.not_proved.is_empty() {
        let _ = writeln!(s, "\nnot proved");
        for n in &r.not_proved {
            let _ = writeln!(s, "  - {}", printable(n));
        }
    }
    if let (Some(h), Some(q)) = (&r.head, r.head_seq) {
        let _ = writeln!(s, "\nhead        {h} (record {q}, {} records)", q + 1);
    }
    let _ = writeln!(s, "result      {}", result(r, replay));
    s
}
