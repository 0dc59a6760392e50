//! What a decision point counts, in the Prometheus text format (`GET /metrics`).
//!
//! Counters a decision touches are looked up once per bundle (one per verdict and one per
//! rule and verdict), so deciding costs a few atomic additions and one histogram sample,
//! itself two atomic additions: no lock is taken per decision. Those counters are sharded
//! ([`Sharded`]): each thread adds to a shard of its own, on a cache line of its own, and a
//! scrape sums the shards, so that threads deciding at once on different cores do not take a
//! counter's cache line from each other per decision.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Atomic;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::bytecode::model::Verdict;
use crate::vm::{Outcome, Program};

type Labels = Vec<(String, String)>;

/// Shards of a counter: threads beyond this many share them.
const SHARDS: usize = 4;

/// One shard, on a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Shard(AtomicU64);

/// A counter added to by many threads at once: one shard per thread (round robin), summed
/// when read.
#[derive(Debug, Default)]
pub struct Sharded([Shard; SHARDS]);

static NEXT_SHARD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, given out in turn as threads first count.
    static MY_SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

impl Sharded {
    fn mine(&self) -> &AtomicU64 {
        let [first, ..] = &self.0;
        let i = MY_SHARD.try_with(|i| *i).unwrap_or(0);
        self.0.get(i).map_or(&first.0, |s| &s.0)
    }
}

impl Atomic<u64> for Sharded {
    fn inc(&self) -> u64 {
        self.inc_by(1)
    }

    fn inc_by(&self, v: u64) -> u64 {
        self.mine().fetch_add(v, Ordering::Relaxed)
    }

    fn get(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |n, s| n.wrapping_add(s.0.load(Ordering::Relaxed)))
    }
}

/// The counters decisions touch.
type Counter = prometheus_client::metrics::counter::Counter<u64, Sharded>;

/// The metrics of one point.
pub struct Metrics {
    registry: Registry,
    decisions: Family<Labels, Counter>,
    rule_decisions: Family<Labels, Counter>,
    latency: Latency,
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
        let latency = Latency::new(&[
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
        self.latency.observe(took);
    }

    /// Counts a denial without a decision of the bundle (bad input, failures).
    pub fn denied(&self, c: &BundleCounters, took: Duration) {
        if let Some(n) = c.verdicts.get(1) {
            n.inc();
        }
        self.latency.observe(took);
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

/// A latency histogram whose samples take no lock (prometheus-client's `Histogram` takes a
/// write lock per sample, which the threads deciding would contend for): one atomic counter
/// per bucket and the sum in nanoseconds. A scrape reads the counters one by one, so it may
/// see a sample in its bucket and not yet in the sum; the next scrape agrees.
#[derive(Clone, Debug)]
struct Latency(Arc<LatencyInner>);

#[derive(Debug)]
struct LatencyInner {
    /// Upper bounds in seconds, as given, and in nanoseconds, to place samples.
    bounds: Vec<f64>,
    bounds_ns: Vec<u64>,
    /// One count per bound, then one for the samples above the last (`+Inf`).
    counts: Vec<Sharded>,
    sum_ns: Sharded,
}

impl Latency {
    fn new(bounds: &[f64]) -> Latency {
        Latency(Arc::new(LatencyInner {
            bounds: bounds.to_vec(),
            // Whole nanoseconds: every bound here is.
            bounds_ns: bounds.iter().map(|b| (b * 1e9).round() as u64).collect(),
            counts: (0..=bounds.len()).map(|_| Sharded::default()).collect(),
            sum_ns: Sharded::default(),
        }))
    }

    fn observe(&self, took: Duration) {
        let l = &self.0;
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let i = l
            .bounds_ns
            .iter()
            .position(|b| ns <= *b)
            .unwrap_or(l.bounds_ns.len());
        if let Some(c) = l.counts.get(i) {
            c.inc();
        }
        l.sum_ns.inc_by(ns);
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let l = &self.0;
        // Each bucket's own count: the encoder writes them cumulatively, the last as `+Inf`.
        let buckets: Vec<(f64, u64)> = l
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(l.counts.iter().map(Atomic::get))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = l.sum_ns.get() as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sharded counter counts what every thread added, more threads than shards
    /// included, and a Prometheus scrape shows the sum.
    #[test]
    fn sharded_counters_sum_every_thread() {
        let c = Counter::default();
        std::thread::scope(|s| {
            for _ in 0..SHARDS + 3 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.inc();
                    }
                });
            }
        });
        c.inc_by(5);
        assert_eq!(c.get(), (SHARDS as u64 + 3) * 1000 + 5);
        let mut r = Registry::default();
        r.register("calls", "Calls", c);
        let mut s = String::new();
        assert!(encode(&mut s, &r).is_ok());
        assert!(
            s.contains(&format!("calls_total {}", (SHARDS + 3) * 1000 + 5)),
            "{s}"
        );
    }

    /// The histogram's text is what prometheus-client's own `Histogram` writes for the same
    /// samples.
    #[test]
    fn latency_is_encoded_as_prometheus_histograms_are() {
        use prometheus_client::metrics::histogram::Histogram;
        let bounds = [1e-6, 2.5e-6, 1e-3, 1.0];
        let ours = Latency::new(&bounds);
        let theirs = Histogram::new(bounds);
        for ns in [
            0u64,
            999,
            1_000,
            1_001,
            2_500,
            40_000,
            1_000_000,
            999_999_999,
            5_000_000_000,
        ] {
            ours.observe(Duration::from_nanos(ns));
            theirs.observe(ns as f64 / 1e9);
        }
        fn text(m: impl prometheus_client::registry::Metric) -> Result<String, std::fmt::Error> {
            let mut r = Registry::default();
            r.register("latency", "Latency", m);
            let mut s = String::new();
            encode(&mut s, &r).map(|()| s)
        }
        let (a, b) = (text(ours), text(theirs));
        let (Ok(a), Ok(b)) = (a, b) else {
            unreachable!("writing into a string")
        };
        // The same lines, the sum to within rounding (nanoseconds added, not seconds).
        let lines = |s: &str| -> Vec<String> { s.lines().map(str::to_string).collect() };
        let (a, b) = (lines(&a), lines(&b));
        assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
        for (x, y) in a.iter().zip(&b) {
            match (
                x.strip_prefix("latency_sum "),
                y.strip_prefix("latency_sum "),
            ) {
                (Some(x), Some(y)) => {
                    let (x, y): (f64, f64) = (x.parse().unwrap_or(-1.0), y.parse().unwrap_or(1.0));
                    assert!((x - y).abs() < 1e-9, "{x} {y}");
                }
                _ => assert_eq!(x, y),
            }
        }
        assert!(
            a.iter().any(|l| l == "latency_bucket{le=\"+Inf\"} 9"),
            "{a:?}"
        );
    }
}
