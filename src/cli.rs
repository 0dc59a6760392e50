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
    /// Find mistakes in policies, with proof: unreachable, shadowed and conflicting rules,
    /// risky regexes and comparisons, and more.
    Lint(LintArgs),
    /// Rewrite policy files in the one canonical layout.
    Fmt(FmtArgs),
    /// Print the documentation of a lint.
    Explain(ExplainArgs),
    /// Run policy test suites (*.test.yaml), with coverage; record traces as golden suites.
    Test(TestArgs),
    /// Compile policies into a verified bytecode bundle (.govb).
    Build(BuildArgs),
    /// Decide events with a bundle or with policies compiled on the fly.
    Eval(EvalArgs),
    /// Verify an audit log (hashes, chain, signed checkpoints) and decide every event again.
    ReplayAudit(ReplayAuditArgs),
    /// Replay recorded traffic through a policy: what it decides, and what changes.
    Simulate(SimulateArgs),
    /// Run a decision point over HTTP: agents ask it before they act.
    Serve(ServeArgs),
    /// Every request whose decision a policy change flips, proved on the decision diagrams.
    Diff(DiffArgs),
    /// Mutate recorded events the way an attacker would respell them and hunt the bypasses.
    ChaosRun(ChaosRunArgs),
    /// Create an Ed25519 signing key pair (NAME.key, NAME.pub).
    Keygen(KeygenArgs),
    /// Sign a plugin directory, a bundle or files (writes a DSSE envelope).
    Sign(SignArgs),
    /// Verify a signed plugin, bundle or files against a trust file.
    Verify(VerifyArgs),
    /// Print the id of a public (or private) key.
    Keyid(KeyidArgs),
    /// Turn an MCP server's tool list into `tool` declarations (and a deny-by-default policy).
    McpImport(McpImportArgs),
    /// Stand between an MCP client and server: decide every tool call before the server sees it.
    McpProxy(McpProxyArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// How `chaos-run` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChaosFormat {
    /// Coverage, each finding with its smallest example, the SLOs, a closing line.
    Human,
    /// One JSON document with a `findings` list (see docs/chaos.md).
    Json,
    /// JUnit XML: a case per fault family, a failure per finding.
    Junit,
}

#[derive(Debug, Args)]
#[command(after_help = "\
An experiment (*.chaos.yaml, docs/chaos.md, docs/schemas/chaos.schema.json) names the policy,
the traces (or *.test.yaml suites) whose events the mutants start from, a seed, a budget, the
fault families and the invariants. Argument families (path, url, case, whitespace, encoding,
confusable, type, drop) respell one attribute under `targets` (default `args`) of one event
and decide it alone; stream families (reorder, duplicate, burst, clock-skew) change a stretch
of up to 33 events of a trace and decide it in order; engine faults corrupt and truncate the
bundle, exhaust a decision's time budget and restart the decision point (its stream state
restored from its audit log, or lost when the experiment says `point: {audit_log: false}`).

Invariants: monotone (no mutant gets a more permissive verdict than its original: deny >
escalate > allow), fail-closed (every engine fault ends in deny), stateful (rate, budget and
seen rules still trip under reordering, duplicates, bursts, a second session and clock skew),
and your own rules over the mutant (`violated_when`). Each broken invariant is reported once,
with the smallest example found (mutation chain and stream shrunk), both decisions and the rule
with its file and line. The same seed gives the same findings whatever --jobs, unless a time
budget cuts the run short (the report then says how much was covered).

Exit status: 0 when every invariant and SLO holds, 1 when one breaks (beyond the error
budget) or a latency objective fails, 2 on bad input (experiment, policies, traces).

Examples:
  govern chaos-run testdata/chaos/library.chaos.yaml
  govern chaos-run exp.chaos.yaml --format json --jobs 2 > chaos.json
  govern chaos-run exp.chaos.yaml --mutants 1000000 --format junit > chaos.xml")]
pub struct ChaosRunArgs {
    /// The experiment files (*.chaos.yaml).
    #[arg(required = true, value_name = "EXPERIMENT")]
    pub experiments: Vec<PathBuf>,

    #[arg(long, value_enum, default_value_t = ChaosFormat::Human)]
    pub format: ChaosFormat,

    /// Threads deciding mutants [default: one per core]. The findings do not depend on it.
    #[arg(long, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,

    /// Override the experiment's seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Override the experiment's mutant budget.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub mutants: Option<u64>,

    /// Override the experiment's time budget (`30s`, `5m`).
    #[arg(long, value_name = "DURATION")]
    pub time: Option<String>,

    /// No progress bar on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    /// How errors (bad experiments, policies, traces) are printed.
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub diagnostics: DiagFormat,
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
    after_help = "The same policy sources give the same bundle bytes (and digest) wherever they are built: each file\nis recorded by its path relative to the directory named on the command line (a file named\ndirectly, by its file name).\n\nData files named by `set NAME = file(\"…\")` are read with the policies; each is listed before\nthe digest as `read NAME  sha256:…  (N items, B bytes; set `NAME`)`. Their bytes are part of the\nbundle's source digest, so a changed data file gives another bundle.\n\nExit status: 0 when the bundle was written, 2 when a policy or data file has errors or the bundle\ncannot be written (an output that is one of the policy files, or ends in `.gov`, is refused).\n\nExamples:\n  govern build policies/ -o policies.govb\n  govern build policies/ -o policies.govb --listing\n  govern build policies/ -o policies.govb --store bundles/   # keep every version for replay-audit"
)]
pub struct BuildArgs {
    /// Policy files or directories (searched recursively for *.gov).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Where to write the bundle (written atomically).
    #[arg(short, long, value_name = "FILE", required_unless_present = "store")]
    pub output: Option<PathBuf>,

    /// Also keep the bundle in this folder as `<digest hex>.govb`, where `govern
    /// replay-audit --bundles DIR` finds it by the digest an audit log names.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Also print a readable disassembly of the bundle.
    #[arg(long)]
    pub listing: bool,

    /// How to print errors in the policies.
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub format: DiagFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Events are JSON objects, one per line (JSONL), or JSON objects that may span lines; an event is
at most 32 MiB (docs/limits.md). With --input-format (detected from the first record by
default) also OpenTelemetry GenAI spans (OTLP/JSON) and MCP JSON-RPC messages, each read as
`simulate` reads them, gzipped or not. When standard input (or EVENTS) is a pipe or a terminal,
each decision is written and flushed as soon as its event is read: a program can keep one
`govern eval` running and write an event, read its decision, write the next (docs/serve.md,
\"eval as a coprocess\"). Files are read in large blocks and decided with every core, in the
same order and with the same results. Stateful rules (count, sum, seen) carry their state from
one event to the next. Windows run on stream time: an event whose `ts` lies more than 5 minutes
from it (and is not confirmed by the next event) is decided with `ts` unknown, and a warning
says how many were (under --clock host every event happens at the host's time, which is
believed). Each
count, sum and seen holds at most --max-keys keys; a record beyond that is refused, the keys it
could not hold are unknown (rules fail closed), and a warning says so.

With --trust, the bundle must be signed by keys the trust file accepts, under its own name (its
file name without .govb); with --state too, not older than the last version of that name
loaded (newer versions are recorded).

With --audit-log, every decision is first appended to the log (docs/audit.md) with the event as
it was decided (with the host time in `ts` under --clock host), whatever --input-format, and a
record that is not an event with `\"event\": null` and its deny; `govern replay-audit` verifies
the log and decides every event again. If a record cannot be written, the decisions waiting
for it and every later one are decided `deny`. Run again on the same log with the same bundle
and limits (--max-keys, --clock), eval goes on with the stream state the log's records left
(rebuilt by deciding them again: a restart resets no rate limit, budget or `seen`) and its
bundle record says so; --fresh-state starts fresh instead (recorded too). A log that does not
verify, or needs more than --restore-max records to rebuild the state, is refused (exit 2).

Exit status: 0 when every event was decided, 2 on bad input (a bad event line, or one longer
than the limit, is reported with its line number and decided `deny`, and the others are still
decided) or when --trust is given and the bundle is refused (then no event is read), when the
audit log cannot be opened, restored from or written, and when the decisions cannot be written
(a full disk; a reader that goes away is not an error). With --exit-code: 0 when every decision
is allow, 1 when any is deny, 3 when any is escalate and none deny, 2 on errors.

Examples:
  govern eval --policy policies/ testdata/events.jsonl
  echo '{\"action\":\"tool_call\",\"tool\":\"web_search\"}' | govern eval --bundle p.govb --explain
  govern eval --bundle p.govb --trust trust.yaml --state seen.json testdata/events.jsonl
  govern eval --bundle p.govb --clock host --audit-log audit.jsonl --audit-key keys/point.key")]
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

    /// Refuse the bundle unless its signature verifies against this trust file
    /// (see `govern verify`); checked before any event is read.
    #[arg(
        long,
        value_name = "FILE",
        requires = "bundle",
        conflicts_with = "policy"
    )]
    pub trust: Option<PathBuf>,

    /// The bundle's signature file, with --trust (default: BUNDLE.sig.json).
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub signature: Option<PathBuf>,

    /// With --trust: the state file of last-seen versions (as `govern verify --state`): a
    /// bundle older than the last version of its name loaded is refused, a newer one recorded.
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub state: Option<PathBuf>,

    /// The most keys each count, sum or seen holds in the stream state (keys with an event in
    /// the window). Beyond it, new keys are unknown: rules on them fail closed.
    #[arg(long, value_name = "N", default_value_t = crate::vm::StreamLimits::MAX_KEYS, value_parser = parse_max_keys)]
    pub max_keys: usize,

    /// The format of the events, as `simulate` reads traces (gzip is recognised by its bytes).
    #[arg(long, value_enum, default_value_t = TraceFormat::Auto)]
    pub input_format: TraceFormat,

    /// Where an event's time comes from: its own `ts` (`event`), or this machine's clock,
    /// written into `ts` before deciding (`host`, as a live decision point keeps time).
    #[arg(long, value_enum, default_value_t = Clock::Event)]
    pub clock: Clock,

    #[command(flatten)]
    pub audit: AuditArgs,
}

/// Where the time of an event comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Clock {
    /// The event's own `ts`.
    Event,
    /// The host's clock, written into the event's `ts` (replacing any it had).
    Host,
}

/// When audit records reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditSync {
    /// After every record: a power failure loses nothing that was decided.
    Always,
    /// Within 100 ms: a power failure loses at most the last 100 ms of records.
    Batch,
    /// When the system writes back: a power failure loses what it had not written.
    None,
}

/// Writing an audit log (docs/audit.md), for every command that decides.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Append a hash-chained record of every decision to this audit log, before the
    /// decision is used (printed, answered or acted on); an existing log is continued (see
    /// docs/audit.md).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,

    /// When records reach the disk. A crash of govern loses no record in any mode.
    #[arg(long, value_enum, default_value_t = AuditSync::Batch, value_name = "WHEN")]
    pub audit_sync: AuditSync,

    /// Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every
    /// --checkpoint-every records, at rotation and at the end.
    #[arg(long, value_name = "KEY.key", requires = "audit_log")]
    pub audit_key: Option<PathBuf>,

    /// Records between signed checkpoints [default: 1000].
    #[arg(long, value_name = "N", requires = "audit_key", value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,

    /// Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`);
    /// `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, ….
    #[arg(long, value_name = "SIZE", requires = "audit_log", value_parser = parse_size)]
    pub audit_rotate: Option<u64>,

    /// Start with fresh stream state even when the log's last bundle record has this
    /// bundle and limits. By default a restart restores the state (rate limits, budgets,
    /// `seen`) by deciding again the log's records since that record; the bundle record it
    /// writes says which (docs/audit.md).
    #[arg(long, requires = "audit_log")]
    pub fresh_state: bool,

    /// The most records a restart re-decides to restore the stream state; a log with more
    /// since its last fresh bundle record refuses to start (exit 2) [default: 10000000].
    #[arg(long, value_name = "RECORDS", requires = "audit_log", value_parser = clap::value_parser!(u64).range(1..))]
    pub restore_max: Option<u64>,
}

/// Parses a size in bytes: a number with an optional `K`, `M` or `G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (t.get(..i).unwrap_or(""), 1u64 << 10),
        Some((i, 'M' | 'm')) => (t.get(..i).unwrap_or(""), 1 << 20),
        Some((i, 'G' | 'g')) => (t.get(..i).unwrap_or(""), 1 << 30),
        _ => (t, 1),
    };
    match num
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
    {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a size: write bytes, or a number with K, M or G (`64M`)"
        )),
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Endpoints (docs/serve.md; OpenAPI in docs/schemas/serve-openapi.json):
  POST /v1/decide        one JSON event → its decision (docs/serve.md)
  POST /v1/decide/batch  a JSON array of events (or JSON lines) → their decisions, in order
  GET  /v1/bundle        the bundle in force: digest, rules, signature, loaded at, reloads
  GET  /healthz          200 while the process runs
  GET  /readyz           200 while it decides; 503 when draining or its audit log failed
  GET  /metrics          Prometheus (OpenMetrics) text: decisions by verdict and rule, latency,
                         bundle, reloads, audit write errors, bad requests

Every event is decided at this host's time (its `ts` is replaced). A decision is `200` with
the verdict in the body and the `govern-decision` header, whatever the verdict; a request that
is not an event is `400` and one that could not be decided `503`, each with a `deny` decision
saying why. Stateful rules keep one stream state for the server; the decisions that touch it
are taken one at a time, in the order of their audit records, the others in parallel.

The bundle is read again on SIGHUP and when its files change; with --trust a bundle whose
signature does not verify is refused and the one in force stays (logged, in /v1/bundle and in
the metrics), and with --state a rollback is refused too. A new bundle starts fresh stream
state. SIGTERM (or SIGINT) stops accepting, finishes the requests in flight, closes the audit
log with a final signed checkpoint and exits. Serve plain HTTP on loopback or a Unix socket;
put TLS in a proxy in front.

With --audit-log (the flags and their meaning are those of `govern eval`, docs/audit.md), every
decision is recorded before it is answered, in the order the stream state saw it, with the
event as decided; a request that is not an event is recorded with `\"event\": null` and its deny;
a reload writes a bundle record. `govern replay-audit` verifies the log and decides every event
again. If a record cannot be written the log stops and `audit_write_errors` counts it: the
server keeps deciding and logs the error, or with --audit-required answers `503` and a deny
saying why to every later decision (and /readyz fails). A restart on an existing log whose
last bundle record has the same bundle and limits goes on with the stream state its records
left (rebuilt by deciding them again, docs/audit.md \"Restarts keep the stream state\"), and
says so in its bundle record; --fresh-state starts fresh. A log that does not verify, or needs
more than --restore-max records, is refused: the server does not start.

Exit status: 0 after a clean stop, 2 when the bundle cannot be loaded or verified, an address
cannot be listened on, or the audit log cannot be opened (or its stream state restored) or
closed cleanly.

Examples:
  govern serve --bundle policies.govb
  govern serve --bundle policies.govb --trust trust.yaml --listen unix:/run/govern/govern.sock
  govern serve --bundle p.govb --audit-log audit.jsonl --audit-key keys/point.key --audit-required
  curl -s localhost:8787/v1/decide -H 'content-type: application/json' \\
    -d '{\"tool\":\"web_search\",\"agent\":{\"id\":\"a\"}}'")]
pub struct ServeArgs {
    /// The compiled bundle to decide with (read again on reload).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,

    /// Refuse any bundle, at start and on reload, whose signature does not verify against
    /// this trust file (see `govern verify`).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,

    /// The bundle's signature file, with --trust (default: BUNDLE.sig.json).
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub signature: Option<PathBuf>,

    /// Where to listen: `host:port` or `unix:/path/to.sock` (repeat for several).
    #[arg(long, value_name = "ADDR", default_value = crate::serve::DEFAULT_LISTEN, value_parser = parse_listen)]
    pub listen: Vec<crate::serve::Listen>,

    /// The most keys each count, sum or seen holds in the stream state. Beyond it, new keys
    /// are unknown: rules on them fail closed.
    #[arg(long, value_name = "N", default_value_t = crate::vm::StreamLimits::MAX_KEYS, value_parser = parse_max_keys)]
    pub max_keys: usize,

    #[command(flatten)]
    pub audit: AuditArgs,

    /// Deny every decision whose audit record cannot be written, and every later one
    /// (default: keep deciding without records, count the errors and log them).
    #[arg(long, requires = "audit_log")]
    pub audit_required: bool,

    /// With --trust: the state file of last-seen versions (as `govern verify --state`),
    /// checked at start and at every reload: a bundle older than the last version of its
    /// name loaded is refused (and the one in force stays), a newer one recorded.
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub state: Option<PathBuf>,

    /// How log lines are written on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Worker threads [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<std::num::NonZeroUsize>,

    /// How long a decision may take once its request is read, waiting for the disk with
    /// --audit-sync always, before it is denied, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub decision_timeout: u64,

    /// How long a client may take to send a request's headers, and then its body, in
    /// seconds (a slower one gets `408` and a deny).
    #[arg(long, value_name = "S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,

    /// Close a connection that has moved no byte for this long, in seconds.
    #[arg(long, value_name = "S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,

    /// How long SIGTERM waits for the requests in flight, in seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub drain_timeout: u64,

    /// Reload on SIGHUP only, not when the bundle files change.
    #[arg(long)]
    pub no_watch: bool,
}

/// How a server's log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line per event for people: time, level, event, message, fields.
    Human,
    /// One JSON object per line.
    Json,
}

fn parse_listen(s: &str) -> Result<crate::serve::Listen, String> {
    crate::serve::Listen::parse(s)
}

fn parse_max_keys(s: &str) -> Result<usize, String> {
    match s.trim().replace('_', "").parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a number of keys: write a whole number of 1 or more"
        )),
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Writes NAME.key (the private key: PKCS#8 PEM, mode 0600) and NAME.pub (the public key: SPKI
PEM), and prints the key id (`sha256:` of the public key's DER encoding). Existing files are
never overwritten. The files are the ones OpenSSL reads and writes: `openssl genpkey -algorithm
ed25519 -out NAME.key` makes a key govern can sign with, `openssl pkey -in NAME.key -pubout`
its public key.

Exit status: 0 when both files were written, 2 otherwise.

Examples:
  govern keygen -o keys/publisher
  govern keyid keys/publisher.pub")]
pub struct KeygenArgs {
    /// The path and name of the key files, without extension.
    #[arg(short, long, value_name = "NAME")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
#[command(
    after_help = "\
TARGET is a plugin directory (every file under it is signed; name and version come from its
agent-plugin.yaml), one `.govb` bundle, or several files (listed relative to the signature
file's directory). The manifest of every file's SHA-256 is serialized with RFC 8785 (JCS) and
signed inside a DSSE envelope, written atomically to TARGET.sig.json or --out.

When the envelope exists, the new signature is added beside the others; the contents, name and
version must be exactly what was signed before (remove the envelope to sign new contents), and
--name and --version default to the envelope's. Missing folders of --out are created.

Exit status: 0 when the envelope was written (or already held this key's signature), 2 on
errors.

Examples:
  govern sign plugins/weather --key keys/publisher.key --expires 180d
  govern sign policies.govb --key keys/publisher.key --version 1.4.0
  govern sign policies.govb --key keys/second.key          # a second signature",
    disable_version_flag = true
)]
pub struct SignArgs {
    /// A plugin directory, a `.govb` bundle, or files.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<PathBuf>,

    /// The private key (PKCS#8 PEM, from `govern keygen` or `openssl genpkey`).
    #[arg(long, value_name = "KEY.key")]
    pub key: PathBuf,

    /// Where to write the envelope (default: TARGET.sig.json beside the target).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// When the signature stops being accepted: an RFC 3339 time or a duration after
    /// creation (`90d`, `12h`, `1y`, `1d12h`).
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,

    /// The name in the manifest (default: from agent-plugin.yaml, else the file name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The version in the manifest (from agent-plugin.yaml for plugins; required otherwise).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// The creation time to record (RFC 3339; default now), for reproducible envelopes.
    #[arg(long, value_name = "TIME")]
    pub created: Option<String>,
}

/// How `govern verify` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    /// A summary line on success; each failed check on standard error.
    Human,
    /// One JSON report on standard output, success or not.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Checks, and names the check and the file that fail: envelope (present, DSSE, base64),
payload-type, signature (each signature by a trusted key verifies over DSSE's PAE), threshold
(enough distinct trusted keys signed), revoked, key-validity (not_before/not_after), manifest
(canonical JCS, consistent with agent-plugin.yaml), kind, expired, rollback (with --state),
path (nothing escapes the root), symlink, file-type, missing, unlisted and digest. Signatures
by keys the trust file does not list are ignored. The trust file format is in docs/signing.md.

With --state FILE, a version older than the last one verified for the same name is refused
(rollback), and on success a newer version is recorded in FILE.

Exit status: 0 when every check holds, 1 when a check fails (including a missing or damaged
envelope), 2 when the trust file, the state file or the target cannot be read or is malformed.

Examples:
  govern verify plugins/weather --trust trust.yaml
  govern verify policies.govb --trust trust.yaml --state /var/lib/govern/seen.json
  govern verify policies.govb --trust trust.yaml --format json")]
pub struct VerifyArgs {
    /// A plugin directory, a `.govb` bundle, or files.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<PathBuf>,

    /// The trust file: accepted keys, revocations and threshold.
    #[arg(long, value_name = "FILE")]
    pub trust: PathBuf,

    /// The envelope (default: TARGET.sig.json beside the target).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,

    /// Last-seen versions: refuse rollbacks and record newer versions.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// How to report.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Human)]
    pub format: VerifyFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "\
The id is `sha256:` and the hex SHA-256 of the key's SubjectPublicKeyInfo DER encoding, the same
as `openssl pkey -pubin -in KEY.pub -outform DER | sha256sum`. Given a private key, the id of its
public key is printed (the private key itself never is).

Exit status: 0 on success, 2 when a key cannot be read.

Examples:
  govern keyid keys/publisher.pub")]
pub struct KeyidArgs {
    /// Public keys (SPKI PEM) or private keys (PKCS#8 PEM).
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<PathBuf>,
}

/// What `govern mcp-import` prints on standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// The policy text (declarations, or the skeleton with --skeleton).
    Text,
    /// One JSON document: the tools, their argument types, what was left out, and the text.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Reads a `tools/list` result (the result object, its whole JSON-RPC response, or the array of
tools) from a file or `-`, or asks a server itself with --from-server: the command after `--` is
started with its standard input and output as an MCP stdio connection, initialized (protocol
2025-11-25, or 2026-07-28 when the server refuses the handshake), asked for every page of
`tools/list`, and stopped.

Each tool's inputSchema types its arguments: string, number (and integer), boolean, lists of
those, and objects with properties as records. What the language cannot express (values of
several types, free-form objects, lists of objects, tools whose names are not identifiers) is
left out and reported on standard error, naming the tool and the argument; a policy that tests a
left-out argument is refused when it is compiled.

--skeleton writes a whole policy file instead: the declarations, `default deny`, and one `deny`
rule per tool, ready to turn into the `allow` rules each tool deserves. It passes `govern lint`.

Exit status: 0 when the declarations were written (even with arguments left out), 2 when the
input cannot be read or is not a tool list, or the server cannot be asked.

Examples:
  govern mcp-import tools.json > tools.gov
  govern mcp-import --skeleton tools.json -o policies/github.gov
  govern mcp-import --skeleton --from-server -- npx -y @modelcontextprotocol/server-everything")]
pub struct McpImportArgs {
    /// A `tools/list` result (JSON), or `-` for standard input.
    #[arg(
        value_name = "TOOLS_LIST",
        required_unless_present = "from_server",
        conflicts_with = "from_server"
    )]
    pub input: Option<PathBuf>,

    /// Ask the MCP server started by the command after `--` (over stdio).
    #[arg(long, requires = "command")]
    pub from_server: bool,

    /// The server command and its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,

    /// Write a deny-by-default policy file listing every tool, not only the declarations.
    #[arg(long)]
    pub skeleton: bool,

    /// The name of the skeleton's policy (default: the server's name, else the file's).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Write the policy text to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// What to print on standard output.
    #[arg(long, value_enum, default_value_t = ImportFormat::Text)]
    pub format: ImportFormat,

    /// Seconds to wait for each answer of the server (--from-server).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Starts the MCP server SERVER_CMD as a child and stands between it and the client on standard
input and output (configure the client to start `govern mcp-proxy … -- SERVER_CMD` in place of
the server). Every message passes through unchanged, except:

  tools/call     decided first (action `tool_call`, `tool`, `args`, `agent`, `session`): allow
                 forwards it; deny answers it with a tool error carrying the `because` messages
                 (or a JSON-RPC error, --deny-with rpc-error) and never forwards it; escalate
                 asks the user through the client (MCP elicitation) and forwards the call only
                 when the user accepts and approves; a client that does not declare elicitation
                 gets a denial. Matched warn rules are logged.
  results        each tool result is decided too (action `tool_result`, with `content`): a denied
                 one is replaced with an error before the client sees it.
  tools/list     with --hide-denied, the tools the policy denies for this agent whatever the
                 arguments are removed (read from the decision diagram).
  bad input      a message that is not JSON-RPC, a batch, a tools/call without a tool name or a
                 line over 32 MiB from the client is answered with the JSON-RPC error for it and
                 never forwarded; one from the server is dropped and logged.

The agent is --agent when given, else the name the client declares (clientInfo of
`initialize`, or the clientInfo `_meta` of every 2026-07-28 request): --agent wins, because a
client's declared name is its own word. The session is --session, else one per run. Both
initialize handshakes (2025-06-18, 2025-11-25) and 2026-07-28 are spoken. Stateful rules see the
calls and results in the order the proxy decides them. Logs go to standard error. SIGHUP loads
the bundle again (or compiles the policies again); one that does not load is refused and the one
in force stays.

With --audit-log (the flags and their meaning are those of `govern eval`, docs/audit.md), every
decided call and result is recorded, with the event as decided, before it is acted on; a reload
writes a bundle record, and the end of the session a final signed checkpoint. `govern
replay-audit` verifies the log and decides every event again. If a record cannot be written the
log stops: the proxy keeps deciding and logs the error, or with --audit-required denies every
later call. A restart on the same log with the same bundle goes on with the stream state its
records left (--fresh-state starts fresh); a log it cannot be rebuilt from is refused.

When the server exits, every request waiting for it is answered with an error (code -32000) and
the proxy exits. When the client closes standard input, the server's input is closed and the
proxy waits for it to exit (2 s, then it is stopped).

With --upstream URL the proxy stands in front of a Streamable HTTP server instead: clients
connect to --listen (default 127.0.0.1:8788) and the same gateway decides. Requests are
forwarded with their MCP headers; answers (JSON or SSE streams), the GET stream and DELETE pass
through. Each Mcp-Session-Id is a session of its own (--session names traffic without one). A
server that cannot be reached, does not answer within --upstream-timeout, answers an HTTP error
or ends its stream early gets the request answered with an error (code -32000), never an allow.
An https:// server's certificate must verify against the system's roots, or only those of
--upstream-ca; one that does not is an error of the same kind, and nothing is sent to it.
Connections to the server are pooled and kept alive. A client that takes longer than
--request-timeout to send a request, or keeps a connection that moves no byte for
--idle-timeout with no request in flight (or stops reading what it is sent), is disconnected.
SIGTERM or SIGINT stops it. See docs/mcp.md.

--trace FILE appends every message the client sends and receives (the gateway's own answers
included) as envelopes that `govern simulate` reads.

Exit status: 0 when the client ended the session (or, with --upstream, the proxy was stopped),
1 when the server exited first, 2 when the policy or bundle cannot be loaded, the server cannot
be started, the address cannot be listened on, or the audit log cannot be opened (or its stream
state restored) or closed cleanly.

Examples:
  govern mcp-proxy --policy policies/ -- npx -y @modelcontextprotocol/server-filesystem /srv
  govern mcp-proxy --bundle gate.govb --trust trust.yaml --hide-denied -- python server.py
  govern mcp-proxy --policy bank.gov --agent finance-agent --deny-with rpc-error -- ./bank-mcp
  govern mcp-proxy --policy policies/ --upstream http://127.0.0.1:8000/mcp --listen 127.0.0.1:8788
  govern mcp-proxy --policy policies/ --upstream https://mcp.internal/mcp --upstream-ca ca.pem")]
pub struct McpProxyArgs {
    /// A compiled bundle to decide with.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "policy",
        required_unless_present = "policy"
    )]
    pub bundle: Option<PathBuf>,

    /// A policy file or directory, compiled at start.
    #[arg(long, value_name = "PATH")]
    pub policy: Option<PathBuf>,

    /// Refuse a bundle whose signature does not verify against this trust file.
    #[arg(long, value_name = "FILE", requires = "bundle")]
    pub trust: Option<PathBuf>,

    /// The bundle's signature file, with --trust (default: BUNDLE.sig.json).
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub signature: Option<PathBuf>,

    /// The agent id of every event, over the name the client declares.
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,

    /// The session of every event [default: `mcp-` and the process id and start time].
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,

    /// Remove from tools/list results the tools the policy denies whatever the arguments.
    #[arg(long)]
    pub hide_denied: bool,

    /// How a denied call is answered.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = DenyWith::ToolError)]
    pub deny_with: DenyWith,

    /// The most keys each count, sum or seen holds in the stream state.
    #[arg(long, value_name = "N", default_value_t = crate::vm::StreamLimits::MAX_KEYS, value_parser = parse_max_keys)]
    pub max_keys: usize,

    #[command(flatten)]
    pub audit: AuditArgs,

    /// Deny every call whose audit record cannot be written, and every later one (default:
    /// keep deciding without records, and log the error).
    #[arg(long, requires = "audit_log")]
    pub audit_required: bool,

    /// How log lines are written on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Stand in front of this Streamable HTTP MCP server (`http://host:port/path` or
    /// `https://…`) instead of starting one: clients connect to --listen.
    #[arg(long, value_name = "URL", conflicts_with = "command")]
    pub upstream: Option<String>,

    /// Where the HTTP gateway listens, with --upstream (port 0: any free port, logged).
    #[arg(
        long,
        value_name = "HOST:PORT",
        requires = "upstream",
        default_value = "127.0.0.1:8788"
    )]
    pub listen: String,

    /// Seconds the --upstream server has to accept a connection (with the TLS handshake) and
    /// to start answering.
    #[arg(long, value_name = "SECONDS", requires = "upstream", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_timeout: u64,

    /// Trust only the certificates of this PEM file (a private CA) for an https:// --upstream
    /// [default: the system's roots].
    #[arg(long, value_name = "FILE", requires = "upstream")]
    pub upstream_ca: Option<PathBuf>,

    /// How long a client may take to send a request's headers, and then its body, in seconds
    /// (a slower one is answered `408` or disconnected).
    #[arg(long, value_name = "S", requires = "upstream", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,

    /// Close a client connection that has moved no byte for this long with no request in
    /// flight, or whose reader has taken no byte for this long, in seconds.
    #[arg(long, value_name = "S", requires = "upstream", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,

    /// Append every message the client sends and receives to FILE, one envelope per line
    /// (`ts`, `session`, `direction`, `message`: the MCP trace form `simulate` reads).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// The MCP server command and its arguments (after `--`).
    #[arg(
        last = true,
        required_unless_present = "upstream",
        value_name = "SERVER_CMD"
    )]
    pub command: Vec<std::ffi::OsString>,
}

/// How `mcp-proxy` answers a denied call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DenyWith {
    /// A tool result with isError and the `because` text: the agent's model reads why.
    ToolError,
    /// A JSON-RPC error (code -32001) with the decision in `data`.
    RpcError,
}

/// How `govern test` prints its results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// A line per suite, failures side by side, a closing `result:` line.
    Human,
    /// One JSON document with every case, failure and error.
    Json,
    /// JUnit XML, for CI test reporters.
    Junit,
}

#[derive(Debug, Args)]
#[command(after_help = "\
A suite is a YAML file named *.test.yaml: the bundle to test and a list of cases, each a request
and what must be decided (see docs/testing.md). Every case runs on the VM and on the reference
interpreter; a disagreement between them is reported as an internal error.

Rule coverage is the percentage of rules that decided at least one event of the run (for warn
rules: warned); leaf coverage is the percentage of decision-diagram leaves reached.

Red-team corpora mark cases `kind: attack` (must be denied or escalated) or `kind: benign` (must
be allowed) and may run every case under several `variants`; the report then shows the attacks
blocked and the benign cases allowed per variant.

Exit status: 0 when every case passes (and coverage meets --min-coverage, and every variant
blocks --min-blocked percent of its attacks), 1 when a case fails (with --min-blocked, an
allowed attack is counted, not failed) or a minimum is not met, 2 when a suite or its policies
have errors (bad YAML, unknown fields, impossible expectations, policies that do not compile)
or on I/O errors.

Examples:
  govern test policies/
  govern test policies/ --coverage --min-coverage 100
  govern test testdata/redteam/ --min-blocked 95
  govern test . --filter payments --format junit > report.xml
  govern test --record traces/today.jsonl --policy policies/ -o regress/today.test.yaml
  govern test policies/ --watch")]
pub struct TestArgs {
    /// Suite files, or directories searched recursively for *.test.yaml (hidden directories
    /// and `target` are skipped).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Only run cases whose name contains this text (matrix cases are named
    /// `name [path=value, …]`).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,

    /// How to print the results.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,

    /// Print rule and leaf coverage per bundle, with the rules that never decided.
    #[arg(long)]
    pub coverage: bool,

    /// Fail (exit 1) when rule coverage is below P percent (0-100).
    #[arg(long, value_name = "P", value_parser = parse_percent)]
    pub min_coverage: Option<f64>,

    /// Red-team corpora (cases of `kind: attack`): count an attack that is allowed instead of
    /// failing on it, and fail (exit 1) when fewer than P percent of any variant's attacks are
    /// blocked. Benign cases that are not allowed still fail.
    #[arg(long, value_name = "P", value_parser = parse_percent)]
    pub min_blocked: Option<f64>,

    /// Re-run the affected suites whenever a .gov or suite file under the paths (or their
    /// bundles) changes.
    #[arg(long, conflicts_with = "record")]
    pub watch: bool,

    /// Record the decisions of a trace as a golden suite; repeat for several traces. Read as
    /// `simulate` and `eval` read traces: JSONL, JSON objects over several lines, OTLP/JSON
    /// spans, MCP messages or an audit log, gzipped or not. Needs --policy and -o.
    #[arg(long, value_name = "TRACE", requires_all = ["output", "policy"])]
    pub record: Vec<PathBuf>,

    /// The format of the --record traces (gzip is recognised by its bytes).
    #[arg(long, value_enum, default_value_t = TraceFormat::Auto, requires = "record")]
    pub input_format: TraceFormat,

    /// Where --record writes the suite (atomically).
    #[arg(short, long, value_name = "FILE", requires = "record")]
    pub output: Option<PathBuf>,

    /// The policies --record decides with (files or directories; repeat for several).
    #[arg(long, value_name = "PATH", requires = "record")]
    pub policy: Vec<PathBuf>,

    /// Refuse any suite whose bundle is not a `.govb` with a signature (`BUNDLE.sig.json`)
    /// that verifies against this trust file (see `govern verify`).
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    pub trust: Option<PathBuf>,

    /// With --trust: the state file of last-seen versions (as `govern verify --state`): a
    /// bundle older than the last version of its name loaded is refused, a newer one recorded.
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub state: Option<PathBuf>,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a percentage between 0 and 100")),
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// How `govern diff` prints what it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Grouped by change, with the rules' source lines on both sides, for people.
    Human,
    /// One JSON document.
    Json,
    /// GitHub Actions workflow commands, shown as annotations on the rules.
    Github,
    /// A SARIF 2.1.0 log, for code-scanning tools.
    Sarif,
    /// Markdown, for a pull-request comment.
    Markdown,
}

/// A CI gate of `govern diff --fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffGate {
    /// Fail when a request may be allowed that the old version did not allow.
    NewAllow,
    /// Fail when any decision may change.
    AnyChange,
}

#[derive(Debug, Args)]
#[command(after_help = "\
OLD and NEW are each a policy file, a directory of policies or a compiled bundle (.govb).
With --git REV, the old side is PATHS (default: the current directory) as they are in the git
revision REV, read with `git cat-file` without touching the working tree, and the new side is
PATHS in the working tree; --git A..B compares two revisions.

Both versions are compiled and their decision diagrams compared exactly. Every region of the
request space where the verdict changes is listed, grouped by transition (deny → allow, …)
and by the rules that decide on each side, described in the language's terms and confirmed by
a witness request that both versions decide (with the VM and the reference interpreter). On
tests of plain attributes (equality, sets, numeric ranges, has, types, unknowns) the result is
exact. A region that also needs regexes, globs, string functions or stream state and for which
no witness is found is reported as \"may differ\", never as unchanged. count, sum and seen are
treated as free values of their type. See docs/diff.md.

Exit status: 0 when the comparison ran (and, with --fail-on, no gate failed; with
--equivalent, equivalence was proved), 1 when a gate failed or equivalence was not proved
(including when the node budget cut the comparison short), 2 when a side does not compile, a
path or git revision does not exist, or on usage and I/O errors.

Examples:
  govern diff old-policies/ policies/
  govern diff --git main policies/
  govern diff --git main policies/ --fail-on new-allow --format github
  govern diff --git v1.2.0..v1.3.0 policies/ --all --format json
  govern diff policies/ formatted/ --equivalent
  govern diff prod.govb policies/")]
pub struct DiffArgs {
    /// OLD and NEW (policy files, directories or bundles); with --git, the paths to compare.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Compare PATHS at this git revision (the old side) with the working tree, or two
    /// revisions with `A..B`.
    #[arg(long, value_name = "REV")]
    pub git: Option<String>,

    /// Also report, where the verdict stays the same, changes in the determining rules, their
    /// messages and warnings.
    #[arg(long)]
    pub all: bool,

    /// Prove that both versions decide every request identically (verdict, determining rules,
    /// messages, warnings): exit 0 only then.
    #[arg(long)]
    pub equivalent: bool,

    /// How to print the result.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,

    /// CI gates: `new-allow` (a request may now be allowed that was not), `any-change`; repeat
    /// or separate with commas. A failed gate makes the exit status 1.
    #[arg(long, value_enum, value_name = "GATE", value_delimiter = ',')]
    pub fail_on: Vec<DiffGate>,

    /// The most diagram nodes one stage of the comparison may make; past it, the report says
    /// what was not proved.
    #[arg(long, value_name = "N", default_value_t = crate::diff::NODE_BUDGET)]
    pub max_nodes: usize,

    /// Regions listed, each with a witness, per group; the others are counted.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_regions: usize,

    /// Threads comparing a large change, tool by tool, and finding its witnesses [default:
    /// one per core]. The report does not depend on it.
    #[arg(long, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
}

/// How `govern lint` prints its findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// Source snippets with labels, help and example requests, for people.
    Human,
    /// One JSON object per finding, one per line.
    Json,
    /// A SARIF 2.1.0 log, for code-scanning tools.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…::…`), shown as annotations.
    Github,
}

/// A finding level, for `--fail-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailLevel {
    Error,
    Warn,
    Info,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Every lint has a stable code and name, a default level (error, warn or info) and documentation:
`govern explain G0101` or `govern explain --all`. Semantic lints reason on the compiled decision
diagram and show an example request that the VM and the reference interpreter both confirm.

Suppress a finding on the line below, or at the end of the line, with a reason:
  // govern:allow(G0201) the host shows its own message here

Per-project levels live in govern.toml, found in the directory of the first PATH or above:
  [lint]
  fail-level = \"warn\"        # default of --fail-level
  [lint.levels]
  G0103 = \"off\"              # error, warn, info or off, by code or name
  missing-because = \"error\"

Exit status: 0 no finding at or above the fail level, 1 findings at or above it, 2 usage, I/O,
syntax or type errors in the policies or in govern.toml.

Examples:
  govern lint policies/
  govern lint policies/ --format sarif > govern.sarif
  govern lint policies/ --format github --fail-level warn
  govern lint policies/ --watch")]
pub struct LintArgs {
    /// Policy files or directories (searched recursively for *.gov); the current directory
    /// when none is given. All of them are linted as one bundle.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    pub format: LintFormat,

    /// Exit with status 1 when a finding has this level or a higher one [default: the
    /// `fail-level` of govern.toml, else error].
    #[arg(long, value_enum)]
    pub fail_level: Option<FailLevel>,

    /// Lint again whenever a .gov file under the paths (or govern.toml) changes.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  govern explain G0101
  govern explain shadowed-rule
  govern explain --all
  govern explain --all --markdown > docs/lints.md")]
pub struct ExplainArgs {
    /// A lint code (`G0101`) or name (`unreachable-rule`).
    #[arg(value_name = "LINT", required_unless_present = "all")]
    pub lint: Option<String>,

    /// List every lint (with --markdown: the whole reference, `docs/lints.md`).
    #[arg(long, conflicts_with = "lint")]
    pub all: bool,

    /// Print Markdown, as in docs/lints.md.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
The layout is documented in docs/fmt.md. Comments are kept. Files are rewritten atomically and
only when their text changes; the meaning never does (the parsed file is the same).

Exit status: 0 formatted (or, with --check, already formatted), 1 with --check when a file would
change (each is named on standard error), 2 usage, I/O or syntax errors.

Examples:
  govern fmt policies/
  govern fmt --check policies/
  govern fmt --check --watch policies/")]
pub struct FmtArgs {
    /// Policy files or directories (searched recursively for *.gov); the current directory
    /// when none is given.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Change nothing: name the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,

    /// With --check: check again whenever a .gov file under the paths changes.
    #[arg(long, requires = "check")]
    pub watch: bool,
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
    /// An audit log: the events as decided, compared with the decisions recorded.
    Audit,
}

impl TraceFormat {
    /// The trace reader's format for this option.
    pub fn input(self) -> crate::trace::InputFormat {
        use crate::trace::InputFormat;
        match self {
            TraceFormat::Auto => InputFormat::Auto,
            TraceFormat::Jsonl => InputFormat::Jsonl,
            TraceFormat::Otel => InputFormat::Otel,
            TraceFormat::Mcp => InputFormat::Mcp,
            TraceFormat::Audit => InputFormat::Audit,
        }
    }
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
events are decided in file order. Windows run on stream time: an event whose `ts` lies more than
5 minutes from it (and is not confirmed by the next event) is decided with `ts` unknown. Each
count, sum and seen holds at most --max-keys keys; records beyond that are refused, keys it could
not hold are unknown (rules fail closed), and the report counts both. Inputs are JSONL events,
OpenTelemetry GenAI spans (OTLP/JSON), MCP JSON-RPC logs or audit logs (--input-format), plain
or gzipped; directories are searched for *.jsonl, *.ndjson and *.json files (optionally .gz); `-`
reads standard input. An MCP connection logged as two one-direction files is one input with
--mcp-pair CLIENT SERVER.

The report counts decisions by verdict, tool, agent and determining rule, and compares them with
the `decision` recorded in the events (when present) and with a baseline policy (when given):
every flip, by rule and tool, with example events and their file and line. It shows which
attributes were unknown (absent or mistyped), to which rules, and how many decisions that decided.

OTLP spans inherit `session` and `agent` from their ancestors in the trace (the conversation and
the agent live on the `invoke_agent` span, not on the tool spans beneath it). Tool arguments cut
short by an SDK's attribute length limit are decided with `args` unknown and counted.
--dump-events FILE writes the events as they were derived, to see what the policy saw.

A bad record (invalid JSON, an invalid recorded decision, a malformed span or MCP message, a line
longer than 32 MiB) stops the run with its file and line; --max-errors N skips up to N of them
and counts them.

Exit status: 0 when every gate passes (or none is given), 1 when a --fail-on gate fails, 2 on
errors (bad policies, unreadable traces, a bad record beyond --max-errors, no events at all).

Examples:
  govern simulate --policy policies/ testdata/traces/sample.jsonl
  govern simulate --policy policies/ --baseline old-policies/ traces/ --fail-on new-allow
  govern simulate --bundle p.govb --format json --fail-on 'deny-rate>5%' week.jsonl.gz
  govern simulate --bundle p.govb --input-format otel --format jsonl spans.json > decisions.jsonl
  govern simulate --bundle p.govb spans.jsonl --dump-events events.jsonl
  govern simulate --policy policies/ --mcp-pair client-sent.jsonl server-sent.jsonl")]
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
    #[arg(required_unless_present = "mcp_pair", value_name = "TRACE")]
    pub traces: Vec<PathBuf>,

    /// Two one-direction MCP logs of one connection, read as one trace: CLIENT holds the
    /// messages the client sent, SERVER those the server sent; merged by their timestamps, or
    /// in causal order without them (repeat for several connections).
    #[arg(long, num_args = 2, value_names = ["CLIENT", "SERVER"], action = clap::ArgAction::Append)]
    pub mcp_pair: Vec<PathBuf>,

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

    /// Write every decided event, as read from the traces (OTLP spans and MCP messages
    /// turned into events), to FILE: one JSON object per line, in decision order (line N
    /// is the event of the N-th `--format jsonl` decision). Written atomically.
    #[arg(long, value_name = "FILE")]
    pub dump_events: Option<PathBuf>,

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

    /// Refuse the bundles (--bundle and --baseline-bundle) unless their signatures
    /// (`BUNDLE.sig.json`) verify against this trust file; policy sources cannot be trusted.
    #[arg(long, value_name = "FILE", requires = "bundle", conflicts_with_all = ["policy", "baseline"])]
    pub trust: Option<PathBuf>,

    /// With --trust: the state file of last-seen versions (as `govern verify --state`): a
    /// bundle older than the last version of its name loaded is refused, a newer one recorded.
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub state: Option<PathBuf>,

    /// The most keys each count, sum or seen holds in a stream's state (keys with an event in
    /// the window). Beyond it, new keys are unknown: rules on them fail closed, and the report
    /// says how many records were refused.
    #[arg(long, value_name = "N", default_value_t = crate::vm::StreamLimits::MAX_KEYS, value_parser = parse_max_keys)]
    pub max_keys: usize,
}

/// How `govern replay-audit` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A report for people.
    Human,
    /// One JSON document.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Reads one audit log or a rotated series (in chain order, whatever order the files are given
in) and checks, naming file, line and seq for each failure: every record's hash; `seq`
contiguous and every `prev` linked, across files; lines that are not records (only the torn
lines a crash leaves are accepted, where the log says so); every checkpoint's signature, head
and count; then replay: every event decided again with the bundle its record names (and the
stream state carried as the decision point carried it), compared field by field.

The summary says what the inputs given cannot prove: records after the last checkpoint are
vouched for by no signature unless --expect-head/--expect-count name a head kept elsewhere.

Exit status: 0 intact and reproducible, 1 tampered or divergent (a failed check), 2 bad input
(a malformed record, a bundle or key that is missing, a file that is not an audit log).

Examples:
  govern replay-audit audit.jsonl --bundles bundles/ --key keys/point.pub
  govern replay-audit audit*.jsonl --bundles bundles/ --trust trust.yaml --format json
  govern replay-audit audit.jsonl --bundle p.govb --expect-head sha256:… --expect-count 120000
  govern replay-audit audit.jsonl --no-replay --key keys/point.pub
  govern replay-audit audit.jsonl --against new.govb --no-replay")]
pub struct ReplayAuditArgs {
    /// The log: one file, or the files of a rotated series in any order.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,

    /// The bundle the log's decisions were taken with.
    #[arg(long, value_name = "FILE", conflicts_with = "bundles")]
    pub bundle: Option<PathBuf>,

    /// A folder of bundles, found by digest (`govern build --store DIR` fills one).
    #[arg(long, value_name = "DIR")]
    pub bundles: Option<PathBuf>,

    /// Check the chain and the checkpoints only: decide nothing again.
    #[arg(long, conflicts_with_all = ["bundle", "bundles"])]
    pub no_replay: bool,

    /// Public keys checkpoints may be signed with (SPKI PEM); repeat for several.
    #[arg(long = "key", value_name = "PUB")]
    pub keys: Vec<PathBuf>,

    /// A trust file (see docs/signing.md) whose keys may sign checkpoints.
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,

    /// The hash of a record kept elsewhere (a head reported by the decision point): the log
    /// must hold it, which vouches for every record up to it.
    #[arg(long, value_name = "HASH")]
    pub expect_head: Option<String>,

    /// The number of records the log must hold at least (with --expect-head: the head is
    /// record N-1).
    #[arg(long, value_name = "N")]
    pub expect_count: Option<u64>,

    /// Also decide every event with this bundle (or policies) and report what flips.
    #[arg(long, value_name = "BUNDLE")]
    pub against: Vec<PathBuf>,

    /// How to report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}
