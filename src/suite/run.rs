//! Running suites: build each bundle once, check the expectations against it, evaluate every
//! case on the VM (and on the reference interpreter when the sources are at hand), compare.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::coverage::Coverage;
use super::lines::Seg;
use super::spec::ExpectOne;
use super::{BundleSpec, Case, Expect, Options, StepRef, Suite, codes};
use crate::bytecode::model::Effect;
use crate::check::{Bundle, Verdict};
use crate::decision::Decision;
use crate::diag::Diag;
use crate::reference::Reference;
use crate::vm::{Event, Outcome, Program};

/// The most failing events kept for one case (a stream may have many).
pub const MAX_FAILURES_PER_CASE: usize = 50;

/// A bundle ready to run cases.
pub struct Loaded {
    pub program: Program,
    /// The checked sources, for the reference interpreter; `None` for a `.govb`.
    pub checked: Option<Bundle>,
}

/// Builds (or loads) the bundle a suite names. With a trust file, only a signed `.govb` whose
/// signature verifies is accepted (and with a state file, not an older version).
pub fn load_bundle(
    spec: &BundleSpec,
    trust: Option<&Path>,
    state: Option<&Path>,
) -> Result<Loaded, Vec<Diag>> {
    match (spec, trust) {
        (BundleSpec::Sources(_), Some(trust)) => Err(vec![
            Diag::error(
                "govern::unsigned",
                format!(
                    "refused bundle `{}`: with --trust, suites must name a signed `.govb` bundle, not policy sources",
                    spec.display()
                ),
            )
            .help(format!(
                "build and sign the policies (`govern build … -o p.govb && govern sign p.govb --key …`) and name `p.govb` in the suite, or run without --trust {}",
                crate::source::display(trust)
            )),
        ]),
        (BundleSpec::Compiled(path), Some(trust)) => Ok(Loaded {
            program: crate::pipeline::load_signed_bundle(
                path,
                crate::pipeline::Trusted {
                    trust,
                    signature: None,
                    state,
                },
            )?,
            checked: None,
        }),
        (BundleSpec::Sources(paths), None) => {
            let built = crate::pipeline::build_paths(paths)?;
            Ok(Loaded {
                program: built.program,
                checked: Some(built.bundle),
            })
        }
        (BundleSpec::Compiled(path), None) => Ok(Loaded {
            program: crate::pipeline::load_bundle(path).map_err(|d| vec![d])?,
            checked: None,
        }),
    }
}

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// Which checked fields differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub decision: bool,
    pub rules: bool,
    pub messages: bool,
    pub warnings: bool,
    pub unknown: bool,
}

impl Diff {
    pub fn any(self) -> bool {
        self.decision || self.rules || self.messages || self.warnings || self.unknown
    }
}

/// One event whose decision did not meet its expectation.
#[derive(Clone, Debug)]
pub struct Failure {
    /// 1-based position of the event in the case.
    pub event: usize,
    pub step: Option<StepRef>,
    pub request: Json,
    pub expected: ExpectOne,
    pub actual: Decision,
    pub diff: Diff,
    /// Every matched rule (effect, id), the determining ones included.
    pub matched: Vec<(Effect, String)>,
    /// Rules whose condition came out unknown (effect, id).
    pub undecided: Vec<(Effect, String)>,
}

/// The result of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub name: String,
    pub line: Option<usize>,
    pub status: Status,
    /// Events evaluated.
    pub events: usize,
    /// Failing events (at most [`MAX_FAILURES_PER_CASE`]).
    pub failures: Vec<Failure>,
    /// All failing events, including those not kept.
    pub failed_events: usize,
    pub errors: Vec<Diag>,
    pub time: Duration,
    /// `attack` or `benign`, in a red-team corpus.
    pub kind: Option<super::CaseKind>,
    /// The suite variant the case ran as.
    pub variant: Option<String>,
}

impl CaseResult {
    /// An attack that was allowed (or could not run).
    pub fn missed_attack(&self) -> bool {
        self.kind == Some(super::CaseKind::Attack) && self.status != Status::Pass
    }
}

/// The result of one suite file.
#[derive(Debug)]
pub struct SuiteResult {
    pub file: String,
    pub path: PathBuf,
    /// Index into [`RunReport::bundles`], once the suite was read.
    pub bundle: Option<usize>,
    /// Why the suite could not run at all.
    pub errors: Vec<Diag>,
    pub cases: Vec<CaseResult>,
    pub time: Duration,
}

impl SuiteResult {
    pub fn count(&self, s: Status) -> usize {
        self.cases.iter().filter(|c| c.status == s).count()
    }
}

/// A bundle the suites used, with its coverage.
pub struct BundleResult {
    pub spec: BundleSpec,
    pub name: String,
    /// Problems in the policies (reported once, however many suites use them).
    pub errors: Vec<Diag>,
    pub loaded: Option<Loaded>,
    pub coverage: Option<Coverage>,
}

/// Everything one run found.
pub struct RunReport {
    pub suites: Vec<SuiteResult>,
    pub bundles: Vec<BundleResult>,
    /// Problems finding the suites.
    pub errors: Vec<Diag>,
}

/// Counts over a whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub suites: usize,
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    /// Cases that could not run, plus suites and bundles that could not be read.
    pub errors: usize,
}

impl RunReport {
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            suites: self.suites.len(),
            errors: self.errors.len(),
            ..Totals::default()
        };
        for s in &self.suites {
            if !s.errors.is_empty() {
                t.errors += 1;
            }
            for c in &s.cases {
                t.cases += 1;
                match c.status {
                    Status::Pass => t.passed += 1,
                    Status::Fail => t.failed += 1,
                    Status::Error => t.errors += 1,
                }
            }
        }
        t
    }

    /// Rule and leaf coverage over every bundle that ran: (covered rules, rules, reached
    /// leaves, leaves).
    pub fn coverage_totals(&self) -> (usize, usize, usize, usize) {
        let mut t = (0, 0, 0, 0);
        for b in &self.bundles {
            if let Some(c) = &b.coverage {
                t.0 += c.rules_covered();
                t.1 += c.rules.len();
                t.2 += c.leaves_reached();
                t.3 += c.leaves.len();
            }
        }
        t
    }
}

/// Runs the suites at `paths` (already discovered).
pub fn run_suites(paths: &[PathBuf], opts: &Options) -> RunReport {
    let mut report = RunReport {
        suites: Vec::new(),
        bundles: Vec::new(),
        errors: Vec::new(),
    };
    for path in paths {
        let start = Instant::now();
        let mut result = SuiteResult {
            file: crate::source::display(path),
            path: path.clone(),
            bundle: None,
            errors: Vec::new(),
            cases: Vec::new(),
            time: Duration::ZERO,
        };
        let suite = match super::load::load_file(path) {
            Ok(s) => s,
            Err(diags) => {
                result.errors = diags;
                result.time = start.elapsed();
                report.suites.push(result);
                continue;
            }
        };
        let selected: Vec<&Case> = suite
            .cases
            .iter()
            .filter(|c| {
                opts.filter
                    .as_ref()
                    .is_none_or(|f| c.name.contains(f.as_str()))
            })
            .collect();
        if selected.is_empty() {
            continue;
        }
        let bi = match report.bundles.iter().position(|b| b.spec == suite.bundle) {
            Some(i) => i,
            None => {
                let (loaded, errors) = match load_bundle(
                    &suite.bundle,
                    opts.trust.as_deref(),
                    opts.state.as_deref(),
                ) {
                    Ok(l) => (Some(l), Vec::new()),
                    Err(e) => (None, e),
                };
                let coverage = loaded.as_ref().map(|l| Coverage::new(&l.program));
                report.bundles.push(BundleResult {
                    name: suite.bundle.display(),
                    spec: suite.bundle.clone(),
                    errors,
                    loaded,
                    coverage,
                });
                report.bundles.len() - 1
            }
        };
        result.bundle = Some(bi);
        let Some(bundle) = report.bundles.get_mut(bi) else {
            continue;
        };
        let (Some(loaded), Some(cov)) = (&bundle.loaded, &mut bundle.coverage) else {
            result.errors.push(
                suite
                    .diag(
                        &crate::yaml_path!["bundle"],
                        codes::SUITE,
                        format!("cannot run: the bundle `{}` cannot be used", bundle.name),
                        "this bundle",
                    )
                    .help("fix the errors reported for it above, then run the suite again"),
            );
            result.time = start.elapsed();
            report.suites.push(result);
            continue;
        };
        for case in selected {
            result.cases.push(run_case(&suite, case, loaded, cov));
        }
        result.time = start.elapsed();
        report.suites.push(result);
    }
    report
}

/// Checks and runs one case.
pub fn run_case(suite: &Suite, case: &Case, loaded: &Loaded, cov: &mut Coverage) -> CaseResult {
    let start = Instant::now();
    let mut res = CaseResult {
        name: case.name.clone(),
        line: case.line,
        status: Status::Pass,
        events: 0,
        failures: Vec::new(),
        failed_events: 0,
        errors: case.problems.clone(),
        time: Duration::ZERO,
        kind: case.kind,
        variant: case.variant.clone(),
    };
    if res.errors.is_empty() {
        let mut checked: Vec<&[Seg]> = Vec::new();
        for ev in &case.events {
            if let Some(e) = &ev.expect
                && !checked.contains(&e.path.as_slice())
            {
                checked.push(&e.path);
                res.errors.extend(check_expect(suite, e, &loaded.program));
            }
        }
    }
    if !res.errors.is_empty() {
        res.status = Status::Error;
        res.time = start.elapsed();
        return res;
    }
    let program = &loaded.program;
    // A suite's times are the author's: they stand for the host clock of a live decision
    // point, so every `ts` is believed.
    let limits = crate::vm::StreamLimits::trusted_time();
    let mut state = program.new_state_with(limits);
    let mut event = Event::default();
    let mut out = Outcome::default();
    let mut oracle = loaded
        .checked
        .as_ref()
        .map(|b| Reference::with_limits(b, program.digest.clone(), limits));
    for (n, ev) in case.events.iter().enumerate() {
        let at = |what: &str| match &ev.step {
            Some(s) => format!(
                "{what} {} (step {}, line {})",
                n + 1,
                s.step,
                s.line.unwrap_or(0)
            ),
            None => format!("{what} {}", n + 1),
        };
        let text = ev.request.to_string();
        if let Err(e) = program.read_event(&text, &mut event) {
            res.errors.push(
                Diag::error(
                    codes::SUITE,
                    format!("{} cannot be evaluated: {}", at("event"), e.message),
                )
                .in_file(
                    &suite.name,
                    ev.step.as_ref().and_then(|s| s.line).or(case.line),
                )
                .help("write the request as a mapping of attributes"),
            );
            break;
        }
        program.eval(&event, &mut state, &mut out);
        res.events += 1;
        cov.record(program, &out);
        let actual = program.decision(&out);
        if let Some(oracle) = &mut oracle {
            let expected = oracle.eval(&ev.request);
            if expected != actual {
                res.errors.push(
                    Diag::error(
                        codes::INTERNAL,
                        format!(
                            "internal error: the VM and the reference interpreter disagree on {}",
                            at("event")
                        ),
                    )
                    .in_file(&suite.name, ev.step.as_ref().and_then(|s| s.line).or(case.line))
                    .help(format!(
                        "this is a bug in govern; please report it with the policies and this case\n  request:   {text}\n  vm:        {}\n  reference: {}",
                        actual.to_json_line(),
                        expected.to_json_line()
                    )),
                );
                break;
            }
        }
        let Some(expect) = &ev.expect else { continue };
        let diff = compare(&expect.one, &actual);
        if diff.any() {
            res.failed_events += 1;
            if res.failures.len() < MAX_FAILURES_PER_CASE {
                let rule = |r: &u32| {
                    program
                        .model
                        .rules
                        .get(*r as usize)
                        .map(|r| (r.effect, r.id.clone()))
                };
                res.failures.push(Failure {
                    event: n + 1,
                    step: ev.step.clone(),
                    request: ev.request.clone(),
                    expected: expect.one.clone(),
                    actual,
                    diff,
                    matched: program.matched(&out).iter().filter_map(rule).collect(),
                    undecided: program
                        .unknown_rules(&out)
                        .iter()
                        .filter_map(rule)
                        .collect(),
                });
            }
        }
    }
    res.status = if !res.errors.is_empty() {
        Status::Error
    } else if res.failed_events > 0 {
        Status::Fail
    } else {
        Status::Pass
    };
    res.time = start.elapsed();
    res
}

fn sorted(v: &[String]) -> Vec<&str> {
    let mut s: Vec<&str> = v.iter().map(String::as_str).collect();
    s.sort_unstable();
    s
}

fn sorted_set(v: &[String]) -> Vec<&str> {
    let mut s = sorted(v);
    s.dedup();
    s
}

/// Which checked fields of `e` the decision `d` does not meet. Rules, warnings and unknown
/// attributes compare as sets, messages as lists in any order.
pub fn compare(e: &ExpectOne, d: &Decision) -> Diff {
    let mut diff = Diff::default();
    if let Some(v) = e.decision {
        diff.decision = v != d.verdict;
    }
    if let Some(vs) = &e.decision_in {
        diff.decision |= !vs.contains(&d.verdict);
    }
    if let Some(r) = &e.rules {
        diff.rules = sorted_set(r) != sorted_set(&d.rules);
    }
    if let Some(m) = &e.messages {
        diff.messages = sorted(m) != sorted(&d.messages);
    }
    if let Some(w) = &e.warnings {
        let mut want: Vec<&str> = w.iter().map(|w| w.rule.as_str()).collect();
        want.sort_unstable();
        want.dedup();
        let mut got: Vec<&str> = d.warnings.iter().map(|w| w.rule.as_str()).collect();
        got.sort_unstable();
        got.dedup();
        diff.warnings = want != got
            || w.iter().any(|x| {
                x.message.as_ref().is_some_and(|m| {
                    !d.warnings
                        .iter()
                        .any(|a| a.rule == x.rule && a.message.as_ref() == Some(m))
                })
            });
    }
    if let Some(u) = &e.unknown {
        diff.unknown = sorted_set(u) != sorted_set(&d.unknown);
    }
    diff
}

/// "an `allow`", "a `deny`", …
fn a_effect(e: Effect) -> String {
    let article = if e == Effect::Allow || e == Effect::Escalate {
        "an"
    } else {
        "a"
    };
    format!("{article} `{}`", e.as_str())
}

fn effect_of(v: Verdict) -> Effect {
    match v {
        Verdict::Allow => Effect::Allow,
        Verdict::Deny => Effect::Deny,
        Verdict::Escalate => Effect::Escalate,
    }
}

/// Expectations that no decision of this bundle could meet: unknown rule ids, rules whose
/// effect cannot give the expected verdict, messages no rule has, attributes never read.
pub fn check_expect(suite: &Suite, e: &Expect, program: &Program) -> Vec<Diag> {
    let m = &program.model;
    let mut out = Vec::new();
    let field = |name: &str, i: Option<usize>| {
        let mut p = e.path.clone();
        p.push(Seg::from(name));
        if let Some(i) = i {
            p.push(Seg::Index(i));
        }
        p
    };
    let find = |id: &str| {
        m.rules
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .and_then(|i| m.rules.get(i))
    };
    let unknown_rule = |id: &str, path: Vec<Seg>| {
        let d = suite.diag(
            &path,
            codes::EXPECT,
            format!("no rule `{id}` in the bundle"),
            "unknown rule",
        );
        match crate::diag::did_you_mean(id, m.rules.iter().map(|r| r.id.as_str())) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help("rule ids are `policy.rule`; `govern build --listing` shows them all"),
        }
    };
    let one = &e.one;
    if one == &ExpectOne::default() {
        out.push(
            suite
                .diag(
                    &e.path,
                    codes::EXPECT,
                    "this expectation checks nothing, so it can never fail",
                    "empty",
                )
                .help("name what must hold: `expect: deny`, or `{decision: deny, rules: [policy.rule]}`"),
        );
    }
    if let Some(rules) = &one.rules {
        let mut effects: Vec<Effect> = Vec::new();
        for (i, id) in rules.iter().enumerate() {
            match find(id) {
                None => out.push(unknown_rule(id, field("rules", Some(i)))),
                Some(r) if r.effect == Effect::Warn => out.push(
                    suite
                        .diag(
                            &field("rules", Some(i)),
                            codes::EXPECT,
                            format!("`{id}` is a `warn` rule: it never decides"),
                            "a warning",
                        )
                        .help("expect it under `warnings:` instead"),
                ),
                Some(r) => {
                    if let Some(v) = one.decision {
                        if r.effect != effect_of(v) {
                            out.push(
                                suite
                                    .diag(
                                        &field("rules", Some(i)),
                                        codes::EXPECT,
                                        format!(
                                            "`{id}` is {} rule, so it cannot decide `{v}`",
                                            a_effect(r.effect)
                                        ),
                                        "wrong effect",
                                    )
                                    .help(
                                        "the determining rules all have the effect of the decision",
                                    ),
                            );
                        }
                    } else if !effects.contains(&r.effect) {
                        effects.push(r.effect);
                    }
                }
            }
        }
        if effects.len() > 1 {
            out.push(
                suite
                    .diag(
                        &field("rules", None),
                        codes::EXPECT,
                        "these rules have different effects, so they cannot all decide one event",
                        "mixed effects",
                    )
                    .help("the determining rules are the matched rules of the winning effect"),
            );
        }
        if rules.is_empty()
            && let Some(v) = one.decision
            && v != m.default
        {
            out.push(
                        suite
                            .diag(
                                &field("rules", None),
                                codes::EXPECT,
                                format!(
                                    "no rule decides only when the default does, and the default is `{}`, not `{v}`",
                                    m.default
                                ),
                                "no determining rules",
                            )
                            .help("name the rules that should decide, or expect the default"),
                    );
        }
    }
    if let Some(ws) = &one.warnings {
        for (i, w) in ws.iter().enumerate() {
            match find(&w.rule) {
                None => out.push(unknown_rule(&w.rule, field("warnings", Some(i)))),
                Some(r) if r.effect != Effect::Warn => out.push(
                    suite
                        .diag(
                            &field("warnings", Some(i)),
                            codes::EXPECT,
                            format!(
                                "`{}` is {} rule, not a `warn` rule",
                                w.rule,
                                a_effect(r.effect)
                            ),
                            "not a warning",
                        )
                        .help("only `warn` rules give warnings; expect this one under `rules:`"),
                ),
                Some(r) => {
                    if let Some(msg) = &w.message
                        && r.message.as_deref() != Some(msg.as_str())
                    {
                        let d = suite.diag(
                            &field("warnings", Some(i)),
                            codes::EXPECT,
                            format!("`{}` never warns with the message `{msg}`", w.rule),
                            "another message",
                        );
                        out.push(match &r.message {
                            Some(m) => d.help(format!("its message is `{m}`")),
                            None => {
                                d.help("the rule has no `because` message; expect the rule alone")
                            }
                        });
                    }
                }
            }
        }
    }
    // With the determining rules named, the messages are theirs: one per rule that has one.
    let named: Option<Vec<&crate::bytecode::model::RuleInfo>> =
        one.rules.as_ref().and_then(|rules| {
            let mut ids: Vec<&str> = rules.iter().map(String::as_str).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.into_iter()
                .map(|id| find(id).filter(|r| r.effect != Effect::Warn))
                .collect()
        });
    if let (Some(named), Some(msgs)) = (&named, &one.messages) {
        let mut theirs: Vec<&str> = named.iter().filter_map(|r| r.message.as_deref()).collect();
        theirs.sort_unstable();
        if sorted(msgs) != theirs {
            let list = if theirs.is_empty() {
                "there are no messages".to_string()
            } else {
                let l: Vec<String> = theirs.iter().map(|m| format!("`{m}`")).collect();
                format!("the messages are {}", l.join(", "))
            };
            out.push(
                suite
                    .diag(
                        &field("messages", None),
                        codes::EXPECT,
                        format!("when these rules decide, {list}"),
                        "not the messages of these rules",
                    )
                    .help("messages are the `because` texts of the determining rules; expect those, or drop `messages`"),
            );
        }
    }
    if let Some(msgs) = one.messages.as_ref().filter(|_| named.is_none()) {
        for (i, msg) in msgs.iter().enumerate() {
            let exists = m
                .rules
                .iter()
                .any(|r| r.effect != Effect::Warn && r.message.as_deref() == Some(msg.as_str()));
            let of_effect = |e: Effect| {
                m.rules
                    .iter()
                    .any(|r| r.effect == e && r.message.as_deref() == Some(msg.as_str()))
            };
            if let Some(v) = one.decision.filter(|v| exists && !of_effect(effect_of(*v))) {
                out.push(
                    suite
                        .diag(
                            &field("messages", Some(i)),
                            codes::EXPECT,
                            format!(
                                "no `{v}` rule has the message `{msg}`, so {} decision never carries it",
                                a_effect(effect_of(v))
                            ),
                            "another effect's message",
                        )
                        .help("messages are the `because` texts of the determining rules, which all have the effect of the decision"),
                );
            }
            if !exists {
                let d = suite.diag(
                    &field("messages", Some(i)),
                    codes::EXPECT,
                    format!("no rule has the message `{msg}`"),
                    "unknown message",
                );
                let all = m
                    .rules
                    .iter()
                    .filter(|r| r.effect != Effect::Warn)
                    .filter_map(|r| r.message.as_deref());
                out.push(match crate::diag::did_you_mean(msg, all) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("messages are the `because` texts of the determining rules"),
                });
            }
        }
    }
    if let Some(attrs) = &one.unknown {
        let names: Vec<&str> = (0..m.slots.len() as u32)
            .map(|s| program.slot_name(s))
            .collect();
        for (i, a) in attrs.iter().enumerate() {
            if !names.contains(&a.as_str()) {
                let d = suite.diag(
                    &field("unknown", Some(i)),
                    codes::EXPECT,
                    format!("the policies never read `{a}`, so it is never unknown"),
                    "not an attribute the policies read",
                );
                out.push(match crate::diag::did_you_mean(a, names.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("list attributes the rules test, such as `args.path`"),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Warning;
    use crate::suite::spec::WarnExpect;

    fn decision() -> Decision {
        Decision {
            verdict: Verdict::Deny,
            rules: vec!["p.a".into(), "p.b".into()],
            messages: vec!["m1".into(), "m2".into()],
            warnings: vec![Warning {
                rule: "p.w".into(),
                message: Some("careful".into()),
            }],
            unknown: vec!["args.path".into()],
            bundle: "sha256:0".into(),
            error: None,
        }
    }

    fn built(src: &str) -> crate::pipeline::Built {
        crate::pipeline::build_sources(vec![crate::diag::SourceFile::new("p.gov", src)]).unwrap()
    }

    #[test]
    fn a_disagreement_with_the_reference_is_an_internal_error() {
        // The VM runs one bundle and the oracle another: they must be caught disagreeing.
        let vm = built("policy p {\n  rule r: allow when tool == \"x\"\n}\n");
        let oracle = built("policy p {\n  rule r: deny when tool == \"x\" because \"no\"\n}\n");
        let loaded = Loaded {
            program: vm.program,
            checked: Some(oracle.bundle),
        };
        let suite = crate::suite::load::parse(
            std::path::Path::new("s.test.yaml"),
            "bundle: p.gov\ntests:\n  - {name: a, request: {tool: x}, expect: allow}\n",
        )
        .unwrap();
        let mut cov = Coverage::new(&loaded.program);
        let r = run_case(&suite, &suite.cases[0], &loaded, &mut cov);
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.errors[0].code, codes::INTERNAL);
        assert!(
            r.errors[0].message.contains("disagree on event 1"),
            "{:?}",
            r.errors
        );
        // The same bundle on both sides agrees and passes.
        let same = built("policy p {\n  rule r: allow when tool == \"x\"\n}\n");
        let loaded = Loaded {
            program: same.program,
            checked: Some(same.bundle),
        };
        let r = run_case(&suite, &suite.cases[0], &loaded, &mut cov);
        assert_eq!(r.status, Status::Pass, "{:?}", r.errors);
    }

    #[test]
    fn compares_as_sets_and_only_checked_fields() {
        let d = decision();
        let mut e = ExpectOne {
            decision: Some(Verdict::Deny),
            decision_in: None,
            rules: Some(vec!["p.b".into(), "p.a".into()]),
            messages: Some(vec!["m2".into(), "m1".into()]),
            warnings: Some(vec![WarnExpect {
                rule: "p.w".into(),
                message: None,
            }]),
            unknown: Some(vec!["args.path".into()]),
        };
        assert!(!compare(&e, &d).any());
        e.warnings = Some(vec![WarnExpect {
            rule: "p.w".into(),
            message: Some("other".into()),
        }]);
        assert!(compare(&e, &d).warnings);
        e.warnings = None;
        e.rules = Some(vec!["p.a".into()]);
        e.decision = Some(Verdict::Allow);
        let diff = compare(&e, &d);
        assert!(diff.rules && diff.decision && !diff.messages && !diff.unknown);
        assert!(!compare(&ExpectOne::default(), &d).any());
        let e = ExpectOne {
            messages: Some(vec!["m1".into()]),
            unknown: Some(vec![]),
            ..ExpectOne::default()
        };
        let diff = compare(&e, &d);
        assert!(diff.messages && diff.unknown && !diff.decision);
        // An attack's expectation: deny or escalate.
        let attack = crate::suite::CaseKind::Attack.expectation();
        assert!(!compare(&attack, &d).any());
        let mut allowed = decision();
        allowed.verdict = Verdict::Allow;
        assert!(compare(&attack, &allowed).decision);
        allowed.verdict = Verdict::Escalate;
        assert!(!compare(&attack, &allowed).any());
    }
}
