//! Reading an experiment file (`*.chaos.yaml`): YAML → checked [`Experiment`], with every
//! problem reported at its file and line (exit 2), and the seed events read from the traces
//! and suites it names.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;

use super::mutate::Family;
use crate::diag::{Diag, SourceFile};
use crate::suite::lines::{LineIndex, Seg};
use crate::yaml_path;

/// Diagnostic codes of experiment files.
pub mod codes {
    pub const IO: &str = "govern::chaos::io";
    pub const YAML: &str = "govern::chaos::yaml";
    pub const EXPERIMENT: &str = "govern::chaos::experiment";
    pub const TRACE: &str = "govern::chaos::trace";
    pub const INVARIANT: &str = "govern::chaos::invariant";
}

/// The most seed events one experiment reads (all traces and suites together).
pub const MAX_SEED_EVENTS: usize = 1_000_000;
/// The largest mutant budget.
pub const MAX_MUTANTS: u64 = 1_000_000_000_000;
/// The mutant budget when the experiment gives none.
pub const DEFAULT_MUTANTS: u64 = 100_000;
/// The most user invariants one experiment declares.
pub const MAX_USER_INVARIANTS: usize = 64;

/// What the experiment decides with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySpec {
    /// Policy files or directories, compiled for the run.
    Sources(Vec<PathBuf>),
    /// A compiled bundle, with the trust file its signature must verify against.
    Bundle {
        path: PathBuf,
        trust: Option<PathBuf>,
    },
}

/// An invariant the run checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invariant {
    Monotone,
    FailClosed,
    Stateful,
    /// A user rule: violated when its condition holds for a mutant.
    User(UserInvariant),
}

impl Invariant {
    pub fn name(&self) -> &str {
        match self {
            Invariant::Monotone => "monotone",
            Invariant::FailClosed => "fail-closed",
            Invariant::Stateful => "stateful",
            Invariant::User(u) => &u.name,
        }
    }
}

/// A user invariant as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInvariant {
    pub name: String,
    /// A condition of the policy language over the mutated event and `chaos.*`.
    pub violated_when: String,
    /// Where it is written (1-based line of the experiment file).
    pub line: usize,
}

/// Service level objectives of the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slo {
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub p999: Option<u64>,
    /// The share of mutants allowed to break an invariant (0 when not given).
    pub error_budget: f64,
}

/// A checked experiment, its seeds read.
#[derive(Debug)]
pub struct Experiment {
    pub path: PathBuf,
    /// The path as shown in reports.
    pub name: String,
    pub policy: PolicySpec,
    pub seed: u64,
    pub mutants: u64,
    /// The time budget in nanoseconds.
    pub time: Option<u64>,
    pub faults: Vec<Family>,
    pub invariants: Vec<Invariant>,
    /// Attribute paths the argument families mutate (`args` when not given).
    pub targets: Vec<Vec<String>>,
    pub slo: Slo,
    /// Whether the decision point the experiment models keeps an audit log (`point:
    /// {audit_log: …}`, default true): a restart then restores its stream state from the
    /// log; without one a restart loses it.
    pub audit_log: bool,
    /// The streams the mutants start from, one per trace or suite case.
    pub streams: Vec<SeedStream>,
}

/// One seed stream: the events of one trace, or of one suite case.
#[derive(Clone, Debug)]
pub struct SeedStream {
    pub name: String,
    /// Whether its times are vouched for (a suite's): decided with every `ts` believed.
    pub trusted: bool,
    pub events: Vec<SeedEvent>,
}

/// One seed event and where it comes from.
#[derive(Clone, Debug)]
pub struct SeedEvent {
    /// `file:line`.
    pub origin: String,
    /// The event, without its recorded `decision`.
    pub value: Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    policy: Option<OneOrMany>,
    #[serde(default)]
    bundle: Option<String>,
    #[serde(default)]
    trust: Option<String>,
    #[serde(default)]
    traces: OneOrMany,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    budget: Option<RawBudget>,
    #[serde(default)]
    faults: Option<Vec<String>>,
    #[serde(default)]
    invariants: Option<Vec<RawInvariant>>,
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    slo: Option<RawSlo>,
    #[serde(default)]
    point: Option<RawPoint>,
}

/// The decision point an experiment models.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoint {
    #[serde(default)]
    audit_log: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(transparent)]
struct OneOrMany(#[serde(deserialize_with = "one_or_many")] Vec<String>);

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Om {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Om::deserialize(d)? {
        Om::One(s) => vec![s],
        Om::Many(v) => v,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    #[serde(default)]
    mutants: Option<u64>,
    #[serde(default)]
    time: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawInvariant {
    Name(String),
    User(RawUser),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    violated_when: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    #[serde(default)]
    p50: Option<String>,
    #[serde(default)]
    p99: Option<String>,
    #[serde(default, rename = "p99.9")]
    p999: Option<String>,
    #[serde(default)]
    error_budget: Option<Json>,
}

/// Where things are in the experiment text, for diagnostics.
struct Doc {
    source: SourceFile,
    lines: LineIndex,
}

impl Doc {
    fn diag(&self, path: &[Seg], code: &str, message: impl Into<String>, label: &str) -> Diag {
        let d = Diag::error(code, message);
        match self.lines.pos(path) {
            Some(p) => {
                crate::suite::load::at_line_col(d, &self.source, p.line, Some(p.column), label)
            }
            None => match self.lines.line_near(path) {
                Some(l) => crate::suite::load::at_line_col(d, &self.source, l, None, label),
                None => d.in_file(&self.source.name, None),
            },
        }
    }

    fn line(&self, path: &[Seg]) -> usize {
        self.lines.line_near(path).unwrap_or(1)
    }
}

/// Whether `name` is an experiment file.
pub fn is_experiment_name(name: &str) -> bool {
    name.ends_with(".chaos.yaml") || name.ends_with(".chaos.yml")
}

/// Reads and checks the experiment at `path`, and reads its seed events.
pub fn load(path: &Path) -> Result<Experiment, Vec<Diag>> {
    let name = crate::source::display(path);
    let bytes = std::fs::read(path).map_err(|e| {
        vec![Diag::error(codes::IO, format!("cannot read experiment: {e}")).in_file(&name, None)]
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        vec![
            Diag::error(
                codes::IO,
                format!(
                    "the experiment is not valid UTF-8 (byte {})",
                    e.utf8_error().valid_up_to()
                ),
            )
            .in_file(&name, None),
        ]
    })?;
    parse(path, &crate::source::without_bom(text))
}

/// Parses experiment text; `path` names the file and anchors relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Experiment, Vec<Diag>> {
    let name = crate::source::display(path);
    let doc = Doc {
        source: SourceFile::new(name.clone(), text),
        lines: LineIndex::build(text),
    };
    if text.trim().is_empty() {
        return Err(vec![
            Diag::error(codes::YAML, "the experiment is empty")
                .in_file(&name, None)
                .help("an experiment names a `policy` and its `traces`; docs/chaos.md shows one"),
        ]);
    }
    if let Some((p, pos)) = doc.lines.duplicates.first() {
        let key = match p.last() {
            Some(Seg::Key(k)) => k.as_str(),
            _ => "",
        };
        let d = Diag::error(
            codes::YAML,
            format!("invalid experiment: duplicate key `{key}`"),
        )
        .help("YAML keys must be unique in a mapping; remove one of them");
        return Err(vec![crate::suite::load::at_line_col(
            d,
            &doc.source,
            pos.line,
            Some(pos.column),
            "written a second time",
        )]);
    }
    let raw: Raw = match serde_yaml::from_str(text) {
        Ok(r) => r,
        Err(e) => return Err(vec![yaml_error(&doc, &e)]),
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let rel = |s: &str| crate::suite::load::normalize(&dir.join(s));
    let mut errors = Vec::new();

    let policy = match (&raw.policy, &raw.bundle) {
        (Some(p), None) if !p.0.is_empty() => {
            if raw.trust.is_some() {
                errors.push(
                    doc.diag(&yaml_path!["trust"], codes::EXPERIMENT, "`trust` needs a `bundle`", "here")
                        .help("a trust file checks the signature of a compiled bundle: name it with `bundle: x.govb`"),
                );
            }
            PolicySpec::Sources(p.0.iter().map(|s| rel(s)).collect())
        }
        (None, Some(b)) => PolicySpec::Bundle {
            path: rel(b),
            trust: raw.trust.as_deref().map(rel),
        },
        (Some(_), Some(_)) => {
            errors.push(
                doc.diag(
                    &yaml_path!["bundle"],
                    codes::EXPERIMENT,
                    "`policy` and `bundle` are both given",
                    "here",
                )
                .help("name either policy sources (`policy:`) or one compiled bundle (`bundle:`)"),
            );
            PolicySpec::Sources(Vec::new())
        }
        _ => {
            errors.push(
                Diag::error(codes::EXPERIMENT, "the experiment names no policy")
                    .in_file(&name, Some(1))
                    .help("add `policy: path/to/policies` or `bundle: x.govb`"),
            );
            PolicySpec::Sources(Vec::new())
        }
    };

    if raw.traces.0.is_empty() {
        errors.push(
            Diag::error(codes::EXPERIMENT, "the experiment names no traces")
                .in_file(&name, Some(doc.line(&yaml_path!["traces"])))
                .help("`traces:` lists JSONL traces or `*.test.yaml` suites whose events the mutants start from"),
        );
    }
    let mut trace_paths = Vec::new();
    for (i, t) in raw.traces.0.iter().enumerate() {
        let p = rel(t);
        if !p.exists() {
            errors.push(
                doc.diag(
                    &yaml_path!["traces", i],
                    codes::TRACE,
                    format!("trace `{}` does not exist", crate::source::printable(t)),
                    "not found",
                )
                .help(format!(
                    "paths are relative to the experiment's directory: `{}`",
                    crate::source::display(&p)
                )),
            );
        }
        trace_paths.push((i, p));
    }

    let mut faults = Vec::new();
    match &raw.faults {
        None => faults = Family::ALL.to_vec(),
        Some(list) => {
            if list.is_empty() {
                errors.push(
                    doc.diag(
                        &yaml_path!["faults"],
                        codes::EXPERIMENT,
                        "no fault families",
                        "empty",
                    )
                    .help("list the families to try, or leave `faults` out for all of them"),
                );
            }
            for (i, f) in list.iter().enumerate() {
                match Family::parse(f) {
                    Some(fam) if !faults.contains(&fam) => faults.push(fam),
                    Some(_) => {}
                    None => {
                        let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
                        let hint = match crate::diag::did_you_mean(f, names.iter().copied()) {
                            Some(s) => {
                                format!("did you mean `{s}`? the families are {}", names.join(", "))
                            }
                            None => format!("the families are {}", names.join(", ")),
                        };
                        errors.push(
                            doc.diag(
                                &yaml_path!["faults", i],
                                codes::EXPERIMENT,
                                format!("unknown fault family `{}`", crate::source::printable(f)),
                                "unknown",
                            )
                            .help(hint),
                        );
                    }
                }
            }
        }
    }

    let mut invariants = Vec::new();
    match &raw.invariants {
        None => {
            invariants = vec![
                Invariant::Monotone,
                Invariant::FailClosed,
                Invariant::Stateful,
            ];
        }
        Some(list) => {
            let user = list
                .iter()
                .filter(|i| matches!(i, RawInvariant::User(_)))
                .count();
            if user > MAX_USER_INVARIANTS {
                errors.push(
                    doc.diag(
                        &yaml_path!["invariants"],
                        codes::INVARIANT,
                        format!("{user} user invariants; at most {MAX_USER_INVARIANTS}"),
                        "here",
                    )
                    .help("combine conditions with `or`"),
                );
            }
            for (i, inv) in list.iter().enumerate() {
                let parsed = match inv {
                    RawInvariant::Name(n) => match n.as_str() {
                        "monotone" => Some(Invariant::Monotone),
                        "fail-closed" => Some(Invariant::FailClosed),
                        "stateful" => Some(Invariant::Stateful),
                        _ => {
                            let names = ["monotone", "fail-closed", "stateful"];
                            let hint = match crate::diag::did_you_mean(n, names) {
                                Some(s) => format!("did you mean `{s}`? the built-in invariants are monotone, fail-closed and stateful; your own are `{{name, violated_when}}`"),
                                None => "the built-in invariants are monotone, fail-closed and stateful; your own are `{name, violated_when}`".to_string(),
                            };
                            errors.push(
                                doc.diag(
                                    &yaml_path!["invariants", i],
                                    codes::INVARIANT,
                                    format!("unknown invariant `{}`", crate::source::printable(n)),
                                    "unknown",
                                )
                                .help(hint),
                            );
                            None
                        }
                    },
                    RawInvariant::User(u) => {
                        let ok_name = !u.name.is_empty()
                            && u.name
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                            && !matches!(u.name.as_str(), "monotone" | "stateful");
                        if !ok_name {
                            errors.push(
                                doc.diag(
                                    &yaml_path!["invariants", i, "name"],
                                    codes::INVARIANT,
                                    format!("invalid invariant name `{}`", crate::source::printable(&u.name)),
                                    "here",
                                )
                                .help("a name is letters, digits and `_`, and not one of the built-in invariants"),
                            );
                        }
                        Some(Invariant::User(UserInvariant {
                            name: u.name.clone(),
                            violated_when: u.violated_when.clone(),
                            line: doc.line(&yaml_path!["invariants", i, "violated_when"]),
                        }))
                    }
                };
                if let Some(p) = parsed {
                    if invariants.iter().any(|q: &Invariant| q.name() == p.name()) {
                        errors.push(
                            doc.diag(
                                &yaml_path!["invariants", i],
                                codes::INVARIANT,
                                format!("invariant `{}` is listed twice", p.name()),
                                "again",
                            )
                            .help("list each invariant once"),
                        );
                    } else {
                        invariants.push(p);
                    }
                }
            }
        }
    }

    let mut targets = Vec::new();
    match &raw.targets {
        None => targets.push(vec!["args".to_string()]),
        Some(list) => {
            for (i, t) in list.iter().enumerate() {
                match crate::suite::load::parse_attr_path(t) {
                    Ok(p) => targets.push(p),
                    Err(m) => errors.push(
                        doc.diag(
                            &yaml_path!["targets", i],
                            codes::EXPERIMENT,
                            format!("invalid attribute path: {m}"),
                            "here",
                        )
                        .help("a target is an attribute path such as `args` or `args.path`"),
                    ),
                }
            }
        }
    }

    let mut mutants = DEFAULT_MUTANTS;
    let mut time = None;
    if let Some(b) = &raw.budget {
        if let Some(m) = b.mutants {
            if m == 0 || m > MAX_MUTANTS {
                errors.push(
                    doc.diag(
                        &yaml_path!["budget", "mutants"],
                        codes::EXPERIMENT,
                        format!("the mutant budget must be between 1 and {MAX_MUTANTS}"),
                        "here",
                    )
                    .help("give the number of mutants to try, such as `200000`"),
                );
            }
            mutants = m;
        }
        if let Some(t) = &b.time {
            match parse_duration_ns(t) {
                Some(ns) if ns > 0 => time = Some(ns),
                _ => errors.push(
                    doc.diag(
                        &yaml_path!["budget", "time"],
                        codes::EXPERIMENT,
                        format!("invalid duration `{}`", crate::source::printable(t)),
                        "here",
                    )
                    .help("a duration is a number and a unit: `500ms`, `60s`, `5m`"),
                ),
            }
        }
    }

    let mut slo = Slo::default();
    if let Some(s) = &raw.slo {
        for (key, val, slot) in [
            ("p50", &s.p50, &mut slo.p50),
            ("p99", &s.p99, &mut slo.p99),
            ("p99.9", &s.p999, &mut slo.p999),
        ] {
            if let Some(v) = val {
                match parse_duration_ns(v) {
                    Some(ns) if ns > 0 => *slot = Some(ns),
                    _ => errors.push(
                        doc.diag(
                            &yaml_path!["slo", key],
                            codes::EXPERIMENT,
                            format!("invalid latency `{}`", crate::source::printable(v)),
                            "here",
                        )
                        .help("a latency is a number and a unit: `800ns`, `2us`, `1ms`"),
                    ),
                }
            }
        }
        if let Some(b) = &s.error_budget {
            match parse_share(b) {
                Some(x) => slo.error_budget = x,
                None => errors.push(
                    doc.diag(&yaml_path!["slo", "error_budget"], codes::EXPERIMENT, "invalid error budget", "here")
                        .help("the error budget is the share of mutants that may break an invariant: `0`, `0.001` or `0.1%`"),
                ),
            }
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }

    let mut streams = Vec::new();
    let mut total = 0usize;
    for (i, p) in &trace_paths {
        let at = doc.line(&yaml_path!["traces", *i]);
        read_seeds(p, &mut streams, &mut total).map_err(|mut ds| {
            for d in &mut ds {
                if d.position().is_none() {
                    *d = d.clone().in_file(&name, Some(at));
                }
            }
            ds
        })?;
    }
    if total == 0 {
        return Err(vec![
            Diag::error(codes::TRACE, "the traces hold no events")
                .in_file(&name, Some(doc.line(&yaml_path!["traces"])))
                .help("mutants start from recorded events: name a trace with events in it"),
        ]);
    }
    Ok(Experiment {
        path: path.to_path_buf(),
        name,
        policy,
        seed: raw.seed.unwrap_or(0),
        mutants,
        time,
        faults,
        invariants,
        targets,
        slo,
        audit_log: raw.point.and_then(|p| p.audit_log).unwrap_or(true),
        streams,
    })
}

/// Reads the events of a trace or a suite into seed streams.
fn read_seeds(
    path: &Path,
    streams: &mut Vec<SeedStream>,
    total: &mut usize,
) -> Result<(), Vec<Diag>> {
    let name = crate::source::display(path);
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if crate::suite::is_suite_name(file_name) {
        let suite = crate::suite::load::load_file(path)?;
        for case in &suite.cases {
            if let Some(p) = case.problems.first() {
                return Err(vec![p.clone()]);
            }
            let mut events = Vec::new();
            for ev in &case.events {
                let mut v = ev.request.clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("decision");
                }
                events.push(SeedEvent {
                    origin: format!("{}:{}", name, case.line.unwrap_or(0)),
                    value: v,
                });
            }
            *total += events.len();
            check_total(*total, &name)?;
            streams.push(SeedStream {
                trusted: true,
                name: format!("{name}: {}", crate::source::printable(&case.name)),
                events,
            });
        }
        return Ok(());
    }
    let input = crate::trace::Input::Path(path.to_path_buf());
    let mut reader = crate::trace::TraceReader::open(&input, crate::trace::InputFormat::Auto, None)
        .map_err(|e| vec![trace_diag(&e)])?;
    let mut events = Vec::new();
    let mut bad: Option<Diag> = None;
    let r = crate::trace::for_each_record(&mut reader, |rec, origin| {
        let fail = |m: String| {
            Some(
                Diag::error(codes::TRACE, format!("bad record: {m}"))
                    .in_file(&name, Some(usize::try_from(origin.line).unwrap_or(0)))
                    .help("fix or remove the record: every seed event must be a JSON object"),
            )
        };
        match rec {
            Ok(text) => match serde_json::from_str::<Json>(text) {
                Ok(Json::Object(mut o)) => {
                    o.remove("decision");
                    events.push(SeedEvent {
                        origin: format!("{name}:{}", origin.line),
                        value: Json::Object(o),
                    });
                }
                Ok(_) => bad = fail("not a JSON object".into()),
                Err(e) => bad = fail(e.to_string()),
            },
            Err(m) => bad = fail(m.to_string()),
        }
        if bad.is_some() || *total + events.len() > MAX_SEED_EVENTS {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    if let Err(e) = r {
        return Err(vec![trace_diag(&e)]);
    }
    if let Some(d) = bad {
        return Err(vec![d]);
    }
    *total += events.len();
    check_total(*total, &name)?;
    streams.push(SeedStream {
        name,
        trusted: false,
        events,
    });
    Ok(())
}

fn check_total(total: usize, name: &str) -> Result<(), Vec<Diag>> {
    if total > MAX_SEED_EVENTS {
        return Err(vec![
            Diag::error(
                codes::TRACE,
                format!("more than {MAX_SEED_EVENTS} seed events"),
            )
            .in_file(name, None)
            .help("mutants start from a sample: cut the traces down (`head -n 100000`)"),
        ]);
    }
    Ok(())
}

fn trace_diag(e: &crate::trace::TraceError) -> Diag {
    Diag::error(codes::TRACE, format!("cannot read trace: {}", e.message))
        .in_file(&e.file, e.line.and_then(|l| usize::try_from(l).ok()))
        .help("a trace is JSONL events, OpenTelemetry GenAI spans or an MCP log (see docs/simulate.md)")
}

fn yaml_error(doc: &Doc, e: &serde_yaml::Error) -> Diag {
    let msg = e.to_string();
    let mut msg = match regex::Regex::new(r" at line \d+ column \d+") {
        Ok(re) => re.replace_all(&msg, "").into_owned(),
        Err(_) => msg,
    };
    for (rust, text) in [
        (
            "struct Raw",
            "an experiment (a mapping with `policy`, `traces`, `faults`, …)",
        ),
        ("struct RawBudget", "a budget (`mutants` and `time`)"),
        (
            "struct RawSlo",
            "SLOs (`p50`, `p99`, `p99.9`, `error_budget`)",
        ),
        (
            "struct RawUser",
            "an invariant (`name` and `violated_when`)",
        ),
        (
            "enum RawInvariant",
            "an invariant name or `{name, violated_when}`",
        ),
    ] {
        msg = msg.replace(rust, text);
    }
    let d = Diag::error(codes::YAML, format!("invalid experiment: {msg}"))
        .help("docs/schemas/chaos.schema.json describes every field");
    match e.location() {
        Some(l) => {
            crate::suite::load::at_line_col(d, &doc.source, l.line(), Some(l.column()), "here")
        }
        None => d.in_file(&doc.source.name, None),
    }
}

/// `800ns`, `2us`, `2µs`, `1.5ms`, `60s`, `5m`, `1h` → nanoseconds.
pub fn parse_duration_ns(s: &str) -> Option<u64> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at_checked(end)?;
    let n: f64 = num.parse().ok()?;
    let size = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let v = n * size;
    (0.0..1e19).contains(&v).then_some(v.round() as u64)
}

fn parse_share(v: &Json) -> Option<f64> {
    let x = match v {
        Json::Number(n) => n.as_f64()?,
        Json::String(s) => {
            let t = s.trim();
            match t.strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
                None => t.parse::<f64>().ok()?,
            }
        }
        _ => return None,
    };
    (x.is_finite() && (0.0..=1.0).contains(&x)).then_some(x)
}
