//! What a decision point counts, in the Prometheus text format (`GET /metrics`).
//!
//! Counters a decision touches are looked up once per bundle (one per verdict and one per
//! rule and verdict), so deciding costs a few atomic additions and one histogram sample.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::bytecode::model::Verdict;
use crate::vm::{Outcome, Program};

type Labels = Vec<(String, String)>;

/// The metrics of one point.
pub struct Metrics {
    registry: Registry,
    decisions: Family<Labels, Counter>,
    rule_decisions: Family<Labels, Counter>,
    latency: Histogram,
    bundle: Family<Labels, Gauge>,
    reloads: Family<Labels, Counter>,
    audit_errors: Counter,
    bad_requests: Family<Labels, Counter>,
    failed: Family<Labels, Counter>,
    state_keys: Gauge,
}

/// Why a request was refused before it could be decided (`govern_bad_requests_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRequest {
    /// The body is not a JSON event (or batch).
    Malformed,
    /// The body is over the size limit.
    TooLarge,
    /// A path or method the API does not have.
    NotFound,
    /// The client was too slow to send its request.
    Timeout,
    /// A header the API cannot accept (content type, length).
    Header,
}

impl BadRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            BadRequest::Malformed => "malformed",
            BadRequest::TooLarge => "too_large",
            BadRequest::NotFound => "not_found",
            BadRequest::Timeout => "timeout",
            BadRequest::Header => "header",
        }
    }
}

/// Why a decision failed closed (`govern_failed_decisions_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The audit log could not take the record (with `--audit-required`).
    Audit,
    /// The time budget of the request ran out.
    Budget,
    /// Anything else that went wrong inside the point.
    Internal,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Audit => "audit",
            Failure::Budget => "time_budget",
            Failure::Internal => "internal",
        }
    }
}

/// The counters of one bundle's verdicts and rules, looked up once.
pub struct BundleCounters {
    /// By verdict: allow, deny, escalate.
    verdicts: [Counter; 3],
    /// By rule and verdict; the last row is the bundle default.
    rules: Vec<[Counter; 3]>,
}

fn vi(v: Verdict) -> usize {
    match v {
        Verdict::Allow => 0,
        Verdict::Deny => 1,
        Verdict::Escalate => 2,
    }
}

const VERDICTS: [&str; 3] = ["allow", "deny", "escalate"];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("govern");
        let decisions = Family::<Labels, Counter>::default();
        registry.register("decisions", "Decisions by verdict", decisions.clone());
        let rule_decisions = Family::<Labels, Counter>::default();
        registry.register(
            "rule_decisions",
            "Decisions by determining rule and verdict (a decision several rules determine counts under each; `(default)` when the bundle default decided)",
            rule_decisions.clone(),
        );
        let latency = Histogram::new([
            1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 1e-1,
            1.0,
        ]);
        registry.register(
            "decision_seconds",
            "Time to decide one event inside the point, waiting for state and the audit log included",
            latency.clone(),
        );
        let bundle = Family::<Labels, Gauge>::default();
        registry.register(
            "bundle_info",
            "The bundle in force (1) and bundles loaded before (0), by digest",
            bundle.clone(),
        );
        let reloads = Family::<Labels, Counter>::default();
        registry.register(
            "reloads",
            "Reloads by result: `loaded` (a new bundle in force), `unchanged` (the same digest), `refused` (the old bundle stays)",
            reloads.clone(),
        );
        let audit_errors = Counter::default();
        registry.register(
            "audit_write_errors",
            "Audit records that could not be written",
            audit_errors.clone(),
        );
        let bad_requests = Family::<Labels, Counter>::default();
        registry.register(
            "bad_requests",
            "Requests refused before they could be decided, by reason (each answered with a deny)",
            bad_requests.clone(),
        );
        let failed = Family::<Labels, Counter>::default();
        registry.register(
            "failed_decisions",
            "Decisions that failed closed (deny) by reason: audit, time_budget, internal",
            failed.clone(),
        );
        let state_keys = Gauge::default();
        registry.register(
            "state_keys",
            "Keys held by the stream state of stateful rules",
            state_keys.clone(),
        );
        Metrics {
            registry,
            decisions,
            rule_decisions,
            latency,
            bundle,
            reloads,
            audit_errors,
            bad_requests,
            failed,
            state_keys,
        }
    }

    /// The counters a decision of `program` touches.
    pub fn for_bundle(&self, program: &Program) -> BundleCounters {
        let per = |rule: &str| -> [Counter; 3] {
            VERDICTS.map(|v| {
                self.rule_decisions
                    .get_or_create(&labels(&[("rule", rule), ("verdict", v)]))
                    .clone()
            })
        };
        let mut rules: Vec<[Counter; 3]> = program.model.rules.iter().map(|r| per(&r.id)).collect();
        rules.push(per("(default)"));
        BundleCounters {
            verdicts: VERDICTS.map(|v| {
                self.decisions
                    .get_or_create(&labels(&[("verdict", v)]))
                    .clone()
            }),
            rules,
        }
    }

    /// Counts one decision.
    pub fn decided(
        &self,
        c: &BundleCounters,
        program: &Program,
        out: &Outcome,
        verdict: Verdict,
        took: Duration,
    ) {
        let v = vi(verdict);
        if let Some(n) = c.verdicts.get(v) {
            n.inc();
        }
        let rules = program.determining(out);
        if rules.is_empty()
            && let Some(n) = c.rules.last().and_then(|r| r.get(v))
        {
            n.inc();
        }
        for r in rules {
            if let Some(n) = c.rules.get(*r as usize).and_then(|r| r.get(v)) {
                n.inc();
            }
        }
        self.latency.observe(took.as_secs_f64());
    }

    /// Counts a denial without a decision of the bundle (bad input, failures).
    pub fn denied(&self, c: &BundleCounters, took: Duration) {
        if let Some(n) = c.verdicts.get(1) {
            n.inc();
        }
        self.latency.observe(took.as_secs_f64());
    }

    pub fn bad_request(&self, why: BadRequest) {
        self.bad_requests
            .get_or_create(&labels(&[("reason", why.as_str())]))
            .inc();
    }

    pub fn failed(&self, why: Failure) {
        self.failed
            .get_or_create(&labels(&[("reason", why.as_str())]))
            .inc();
    }

    pub fn audit_error(&self) {
        self.audit_errors.inc();
    }

    /// Counts a reload (`loaded`, `unchanged`, `refused`).
    pub fn reload(&self, result: &str) {
        self.reloads
            .get_or_create(&labels(&[("result", result)]))
            .inc();
    }

    /// Marks `digest` as the bundle in force (and `old`, if any, as no longer).
    pub fn in_force(&self, digest: &str, old: Option<&str>) {
        if let Some(old) = old.filter(|o| *o != digest) {
            self.bundle
                .get_or_create(&labels(&[("digest", old)]))
                .set(0);
        }
        self.bundle
            .get_or_create(&labels(&[("digest", digest)]))
            .set(1);
    }

    pub fn state_keys(&self, n: usize) {
        self.state_keys.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Everything, in the Prometheus text format.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = encode(&mut s, &self.registry);
        s
    }
}
