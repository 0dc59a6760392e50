//! Command-line types (clap). Nothing here does any work; `commands/` does.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Policy-as-code for AI agents.
///
/// govern checks every action an agent takes (tool calls, spending, data access, spawning
/// other agents) against policies written in the `.gov` language, compiled to a verified
/// decision-diagram bytecode that decides in tens of nanoseconds.
///
/// Exit status: 0 success, 1 findings or failed checks (see each command), 2 usage, input or
/// I/O errors.
#[derive(Debug, Parser)]
#[command(
    name = "govern",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// When to use colours in messages.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile policies into a verified bytecode bundle (.govb).
    Build(BuildArgs),
    /// Decide events with a bundle or with policies compiled on the fly.
    Eval(EvalArgs),
    /// Replay recorded traffic through a policy: what it decides, and what changes.
    Simulate(SimulateArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiagFormat {
    /// Source snippets with labels and help, for people.
    Human,
    /// One JSON object per diagnostic, one per line, for machines.
    Json,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  govern build policies/ -o policies.govb\n  govern build policies/ -o policies.govb --listing"
)]
pub struct BuildArgs {
    /// Policy files or directories (searched recursively for *.gov).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Where to write the bundle (written atomically).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Also print a readable disassembly of the bundle.
    #[arg(long)]
    pub listing: bool,

    /// How to print errors in the policies.
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub format: DiagFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Events are JSON objects, one per line (JSONL), or a single JSON object that may span lines.
Stateful rules (count, sum, seen) carry their state from one event to the next.

Exit status: 0 when every event was decided, 2 on bad input (a bad event line is reported with
its line number and decided `deny`, and the others are still decided). With --exit-code: 0 when
every decision is allow, 1 when any is deny, 3 when any is escalate and none deny, 2 on errors.

Examples:
  govern eval --policy policies/ testdata/events.jsonl
  echo '{\"action\":\"tool_call\",\"tool\":\"web_search\"}' | govern eval --bundle p.govb --explain")]
#[command(group(clap::ArgGroup::new("program").required(true).args(["bundle", "policy"])))]
pub struct EvalArgs {
    /// A compiled bundle to evaluate with.
    #[arg(long, value_name = "FILE", conflicts_with = "policy")]
    pub bundle: Option<PathBuf>,

    /// Policy files or directories to compile and evaluate with (repeat for several).
    #[arg(long, value_name = "PATH")]
    pub policy: Vec<PathBuf>,

    /// The events: a JSON or JSONL file; standard input when absent or `-`.
    #[arg(value_name = "EVENTS")]
    pub events: Option<PathBuf>,

    /// Explain each decision for people: matched rules, the tests on the deciding path,
    /// unknown attributes.
    #[arg(long)]
    pub explain: bool,

    /// Make the exit status tell allow (0), deny (1) and escalate (3) apart.
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The format of trace inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    /// Detect per input from its first record.
    Auto,
    /// One event object per line.
    Jsonl,
    /// OpenTelemetry GenAI spans exported as OTLP/JSON.
    Otel,
    /// MCP JSON-RPC messages (tools/call requests and their results).
    Mcp,
}

/// What `simulate` prints on standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SimulateFormat {
    /// The report for people: tables on a terminal, aligned plain text otherwise.
    Text,
    /// The report as one JSON document.
    Json,
    /// One decision per event (JSON lines) with its source file and line; no report.
    Jsonl,
}

/// A CI gate of `simulate --fail-on`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gate {
    /// Fail when any event is allowed that the baseline or the recorded decision did not allow.
    NewAllow,
    /// Fail when any decision differs from the baseline's or the recorded one.
    AnyFlip,
    /// Fail when the share of denied events is above this fraction (0–1).
    DenyRate(f64),
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gate::NewAllow => f.write_str("new-allow"),
            Gate::AnyFlip => f.write_str("any-flip"),
            Gate::DenyRate(x) => write!(f, "deny-rate>{x}"),
        }
    }
}

/// Parses `new-allow`, `any-flip`, `deny-rate>0.05` or `deny-rate>5%`.
pub fn parse_gate(s: &str) -> Result<Gate, String> {
    match s.trim() {
        "new-allow" => Ok(Gate::NewAllow),
        "any-flip" => Ok(Gate::AnyFlip),
        other => {
            let Some(x) = other.strip_prefix("deny-rate>") else {
                return Err(format!(
                    "unknown gate `{other}`: expected `new-allow`, `any-flip` or `deny-rate>X`"
                ));
            };
            let (num, scale) = match x.strip_suffix('%') {
                Some(p) => (p, 100.0),
                None => (x, 1.0),
            };
            match num.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=1.0).contains(&(v / scale)) => {
                    Ok(Gate::DenyRate(v / scale))
                }
                _ => Err(format!(
                    "`{x}` is not a rate: write a fraction between 0 and 1 (`deny-rate>0.05`) or a percentage (`deny-rate>5%`)"
                )),
            }
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Each trace input is its own stream: stateful rules (count, sum, seen) start afresh per file, and
events are decided in file order. Inputs are JSONL events, OpenTelemetry GenAI spans (OTLP/JSON)
or MCP JSON-RPC logs (--input-format), plain or gzipped; directories are searched for *.jsonl,
*.ndjson and *.json files (optionally .gz); `-` reads standard input.

The report counts decisions by verdict, tool, agent and determining rule, and compares them with
the `decision` recorded in the events (when present) and with a baseline policy (when given):
every flip, by rule and tool, with example events and their file and line.

A bad record (invalid JSON, an invalid recorded decision, a malformed span or MCP message) stops
the run with its file and line; --max-errors N skips up to N of them and counts them.

Exit status: 0 when every gate passes (or none is given), 1 when a --fail-on gate fails, 2 on
errors (bad policies, unreadable traces, a bad record beyond --max-errors, no events at all).

Examples:
  govern simulate --policy policies/ testdata/traces/sample.jsonl
  govern simulate --policy policies/ --baseline old-policies/ traces/ --fail-on new-allow
  govern simulate --bundle p.govb --format json --fail-on 'deny-rate>5%' week.jsonl.gz
  govern simulate --bundle p.govb --input-format otel --format jsonl spans.json > decisions.jsonl")]
pub struct SimulateArgs {
    /// Policy files or directories to compile and simulate (repeat for several).
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "bundle",
        required_unless_present = "bundle"
    )]
    pub policy: Vec<PathBuf>,

    /// A compiled bundle to simulate.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// Baseline policy files or directories (the policy in production) to compare with.
    #[arg(long, value_name = "PATH", conflicts_with = "baseline_bundle")]
    pub baseline: Vec<PathBuf>,

    /// A compiled baseline bundle to compare with.
    #[arg(long, value_name = "FILE")]
    pub baseline_bundle: Option<PathBuf>,

    /// Trace files, directories, or `-` for standard input.
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,

    /// The format of the traces.
    #[arg(long, value_enum, default_value_t = TraceFormat::Auto)]
    pub input_format: TraceFormat,

    /// What to print.
    #[arg(long, value_enum, default_value_t = SimulateFormat::Text)]
    pub format: SimulateFormat,

    /// CI gates: `new-allow`, `any-flip`, `deny-rate>X` (X a fraction or a percentage);
    /// repeat or separate with commas. A failed gate makes the exit status 1.
    #[arg(long, value_name = "GATE", value_parser = parse_gate, value_delimiter = ',')]
    pub fail_on: Vec<Gate>,

    /// Skip up to N bad records (counted in the report) instead of stopping at the first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_errors: u64,

    /// Threads that parse events (default: the number of cores). Output does not depend on it.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,

    /// Never show the progress bar (it shows only when standard error is a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Print run statistics on standard error: time, events per second, peak memory, stream
    /// state size.
    #[arg(long)]
    pub stats: bool,
}
