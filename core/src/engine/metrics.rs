//! breakwater's metrics, named once for both Envoy adapters.
//!
//! The proxy-wasm filter and the dynamic module export metrics through very different host
//! APIs (the filter can only name a metric, the module defines metrics with label names), yet
//! an operator must read both with one dashboard and one set of alerts. So what a metric is
//! called, which labels it has, what kind it is and how its value is read live here, once; each
//! adapter only spells the names the way its host wants (`filter/src/metrics.rs`,
//! `module/src/metrics.rs`), and `host-tests/tests/observability.rs` holds both adapters'
//! `/stats/prometheus` to the same names and labels.
//!
//! Prometheus sees every metric as `envoy_breakwater_<name>` ([`PROMETHEUS_PREFIX`]) and every
//! per-policy one with a `policy` label ([`POLICY_LABEL`]). Following Prometheus' conventions:
//!
//! - counters end in `_total` (Envoy appends nothing itself);
//! - every refusal breakwater answers itself is counted in one counter, [`REJECTIONS`], with a
//!   `reason` label ([`REASON_LABEL`]) whose values are the `x-breakwater` reasons, so
//!   `sum by (reason)` and a rejection ratio are one query each, and a reason added later is a
//!   new label value, not a new metric;
//! - retries by attempt number are two counters with an `attempt` label ([`ATTEMPT_LABEL`],
//!   [`ATTEMPT_COUNTERS`]), defined only for policies with a `retry` section, one series per
//!   attempt from 1 to the policy's `max_retries + 1` (bounded: see
//!   [`super::MAX_ATTEMPT_LABEL`]);
//! - durations are histograms ([`HISTOGRAMS`]). Envoy's histograms record integers into
//!   buckets from 0.5 to 3 600 000 by default, which suits milliseconds (Envoy's own request
//!   times are milliseconds too), so the unit is milliseconds and the name says so;
//! - gauges exist only where they mean something: the breaker state and the health view
//!   (`healthy`, `health_score_percent`) for policies with a breaker, the bulkhead gauges for policies with a bulkhead (its limits included, so a
//!   saturation ratio needs no knowledge of the configuration).
//!
//! Counters count per engine and the adapters export deltas; gauges are read as of a moment
//! ([`PolicyGauges`]); durations come out of the engine as samples ([`super::Timing`]).

use super::policy::StatRead;
use super::respond::RetryStats;
use super::shared::SyncStats;
use super::timing::TimingKind;
use crate::reply::RejectReason;

/// What every breakwater metric's name starts with in Prometheus.
pub const PROMETHEUS_PREFIX: &str = "envoy_breakwater_";

/// The label naming the policy, on every per-policy metric.
pub const POLICY_LABEL: &str = "policy";

/// The label of [`REJECTIONS`] naming why breakwater answered locally.
pub const REASON_LABEL: &str = "reason";

/// Per-policy counters other than the rejections, by name, with how to read them.
pub const COUNTERS: [(&str, StatRead); 15] = [
    ("requests_total", |s| s.requests),
    ("responses_total", |s| s.responses),
    ("failures_total", |s| s.failures),
    ("cancelled_total", |s| s.cancelled),
    ("retries_granted_total", |s| s.retries_granted),
    ("retries_made_total", |s| s.retries_made),
    ("retries_exhausted_total", |s| s.retries_exhausted),
    ("injected_delays_total", |s| s.injected_delays),
    ("shadow_rejections_total", |s| s.shadow_rejections),
    ("breaker_opened_total", |s| s.transitions_to_open),
    ("fallbacks_total", |s| s.fallbacks),
    ("breaker_resets_total", |s| s.resets),
    ("unhealthy_requests_total", |s| s.unhealthy_requests),
    // Keyed breakers: never a key in a label (clients choose keys), only these two counts.
    ("breaker_key_overflows_total", |s| s.breaker_key_overflows),
    ("breaker_key_evictions_total", |s| s.breaker_key_evictions),
];

/// The one counter of local replies, labelled by [`REASON_LABEL`].
pub const REJECTIONS: &str = "rejections_total";

/// The values of [`REASON_LABEL`] (the `x-breakwater` reasons), with how to read each count.
pub const REJECTION_REASONS: [(&str, StatRead); 4] = [
    (RejectReason::BreakerOpen.name(), |s| s.rejected_open),
    (RejectReason::BulkheadFull.name(), |s| s.rejected_bulkhead),
    (RejectReason::QueueTimeout.name(), |s| s.queue_timeouts),
    (
        RejectReason::InjectedAbort {
            http_status: 0,
            grpc_status: 0,
        }
        .name(),
        |s| s.injected_aborts,
    ),
];

/// The label of [`ATTEMPT_COUNTERS`] naming the attempt (`1` is the first, `2` the first
/// retry, ...).
pub const ATTEMPT_LABEL: &str = "attempt";

/// Reads one attempt's count of [`RetryStats`] (attempt numbers from 1).
pub type AttemptRead = fn(&RetryStats, usize) -> u64;

/// Per-policy counters labelled by [`ATTEMPT_LABEL`] (policies with a `retry` section only):
/// answered requests that made at least that many attempts, and requests that succeeded on
/// that attempt. Source 004's `resilience_retry_attempts_total{attempt}` and
/// `resilience_retry_successes_total{attempt}`.
pub const ATTEMPT_COUNTERS: [(&str, AttemptRead); 2] = [
    ("retry_attempts_total", |r, n| {
        n.checked_sub(1)
            .and_then(|i| r.attempts.get(i))
            .copied()
            .unwrap_or(0)
    }),
    ("retry_successes_total", |r, n| {
        n.checked_sub(1)
            .and_then(|i| r.successes.get(i))
            .copied()
            .unwrap_or(0)
    }),
];

/// The `attempt` label value of attempt `n`, without formatting on the flush path.
pub fn attempt_label(n: usize) -> &'static str {
    const LABELS: [&str; super::MAX_ATTEMPT_LABEL] =
        ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"];
    n.checked_sub(1)
        .and_then(|i| LABELS.get(i))
        .copied()
        .unwrap_or("")
}

/// Reads one counter of [`SyncStats`].
pub type SyncRead = fn(&SyncStats) -> u64;

/// Counters of the engine's shared-state machinery (no `policy` label): compare-and-swap
/// writes refused and retried, and loops that gave up (see [`super::MAX_CAS_ATTEMPTS`]).
pub const ENGINE_COUNTERS: [(&str, SyncRead); 2] = [
    ("cas_retries_total", |s| s.cas_retries),
    ("cas_give_ups_total", |s| s.cas_give_ups),
];

/// One policy's gauges at one moment; `None` where the policy has no such part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyGauges {
    /// Breaker state: 0 closed, 1 open, 2 half-open.
    pub breaker_state: Option<u64>,
    /// Bulkhead permits in use across workers.
    pub bulkhead_inflight: Option<u64>,
    /// Requests waiting for a permit across workers.
    pub bulkhead_queued: Option<u64>,
    /// The bulkhead's `max_concurrent`.
    pub bulkhead_max_concurrent: Option<u64>,
    /// The bulkhead's `queue_size`.
    pub bulkhead_max_queued: Option<u64>,
    /// 1 while the dependency is not marked unhealthy, 0 while it is (policies with a breaker).
    pub healthy: Option<u64>,
    /// The health score in percent, 0 to 100 (Envoy's gauges are integers).
    pub health_score_percent: Option<u64>,
}

impl PolicyGauges {
    /// Nothing to watch: the breaker (if any) closed, no permit or queue place held.
    pub fn idle(&self) -> bool {
        self.breaker_state.unwrap_or(0) == 0
            && self.healthy.unwrap_or(1) == 1
            && self.health_score_percent.unwrap_or(100) == 100
            && self.bulkhead_inflight.unwrap_or(0) == 0
            && self.bulkhead_queued.unwrap_or(0) == 0
    }
}

/// Reads one gauge of [`PolicyGauges`].
pub type GaugeRead = fn(&PolicyGauges) -> Option<u64>;

/// Per-policy gauges, by name, with how to read them.
pub const GAUGES: [(&str, GaugeRead); 7] = [
    ("breaker_state", |g| g.breaker_state),
    ("bulkhead_inflight", |g| g.bulkhead_inflight),
    ("bulkhead_queued", |g| g.bulkhead_queued),
    ("bulkhead_max_concurrent", |g| g.bulkhead_max_concurrent),
    ("bulkhead_max_queued", |g| g.bulkhead_max_queued),
    ("healthy", |g| g.healthy),
    ("health_score_percent", |g| g.health_score_percent),
];

/// Per-policy histograms, by name, with the duration each records (in whole milliseconds).
pub const HISTOGRAMS: [(&str, TimingKind); 2] = [
    ("request_duration_milliseconds", TimingKind::Request),
    ("queue_wait_milliseconds", TimingKind::QueueWait),
];

/// A histogram's sample: a duration in whole milliseconds (truncated, as Envoy records its own
/// request times).
pub fn histogram_value(duration: crate::time::Nanos) -> u64 {
    duration.as_millis()
}

/// Every per-policy metric name with its kind, in a stable order (documentation and tests).
pub fn policy_metric_names() -> impl Iterator<Item = &'static str> {
    COUNTERS
        .iter()
        .map(|(n, _)| *n)
        .chain([REJECTIONS])
        .chain(ATTEMPT_COUNTERS.iter().map(|(n, _)| *n))
        .chain(GAUGES.iter().map(|(n, _)| *n))
        .chain(HISTOGRAMS.iter().map(|(n, _)| *n))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::policy::PolicyStats;
    use super::*;

    /// Reads a policy's counters and rejections.
    fn read_all(s: &PolicyStats) -> Vec<u64> {
        COUNTERS
            .iter()
            .chain(REJECTION_REASONS.iter())
            .map(|(_, read)| read(s))
            .collect()
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = BTreeSet::new();
        for name in policy_metric_names().chain(ENGINE_COUNTERS.iter().map(|(n, _)| *n)) {
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}: lowercase snake case only"
            );
        }
        let counters = COUNTERS
            .iter()
            .map(|(n, _)| *n)
            .chain(ENGINE_COUNTERS.iter().map(|(n, _)| *n))
            .chain(ATTEMPT_COUNTERS.iter().map(|(n, _)| *n))
            .chain([REJECTIONS]);
        for name in counters {
            assert!(name.ends_with("_total"), "counter {name}");
        }
        for (name, _) in GAUGES {
            assert!(!name.ends_with("_total"), "gauge {name}");
        }
        for (name, _) in HISTOGRAMS {
            assert!(name.ends_with("_milliseconds"), "histogram {name}");
        }
    }

    #[test]
    fn every_counter_reads_its_own_field() {
        // One distinct value per field: a table entry reading the wrong field shows.
        let stats = PolicyStats {
            requests: 1,
            rejected_open: 2,
            rejected_bulkhead: 3,
            queue_timeouts: 4,
            injected_aborts: 5,
            injected_delays: 6,
            shadow_rejections: 7,
            transitions_to_open: 8,
            responses: 9,
            failures: 10,
            retries_granted: 11,
            retries_made: 12,
            cancelled: 13,
            fallbacks: 14,
            resets: 15,
            unhealthy_requests: 16,
            retries_exhausted: 17,
            breaker_key_overflows: 18,
            breaker_key_evictions: 19,
        };
        let read = read_all(&stats);
        let distinct: BTreeSet<u64> = read.iter().copied().collect();
        assert_eq!(distinct.len(), 19, "every field read once: {read:?}");
        let reasons: Vec<&str> = REJECTION_REASONS.iter().map(|(r, _)| *r).collect();
        assert_eq!(
            reasons,
            [
                "circuit_open",
                "bulkhead_full",
                "queue_timeout",
                "injected_fault"
            ]
        );
        assert_eq!(REJECTION_REASONS[0].1(&stats), 2);
        assert_eq!(COUNTERS[9].1(&stats), 8, "breaker_opened_total");
    }

    #[test]
    fn attempt_counters_read_their_attempt_and_labels_are_bounded() {
        let mut r = RetryStats::default();
        for i in 0..super::super::MAX_ATTEMPT_LABEL {
            r.attempts[i] = 100 + i as u64;
            r.successes[i] = 200 + i as u64;
        }
        let (attempts, successes) = (ATTEMPT_COUNTERS[0].1, ATTEMPT_COUNTERS[1].1);
        assert_eq!(attempts(&r, 1), 100);
        assert_eq!(attempts(&r, 3), 102);
        assert_eq!(successes(&r, 11), 210);
        assert_eq!(attempts(&r, 0), 0, "no attempt 0");
        assert_eq!(successes(&r, 12), 0, "beyond the bound");
        assert_eq!(attempt_label(1), "1");
        assert_eq!(attempt_label(11), "11");
        assert_eq!(attempt_label(12), "");
    }

    #[test]
    fn gauges_read_their_own_field() {
        let g = PolicyGauges {
            breaker_state: Some(1),
            bulkhead_inflight: Some(2),
            bulkhead_queued: Some(3),
            bulkhead_max_concurrent: Some(4),
            bulkhead_max_queued: Some(5),
            healthy: Some(6),
            health_score_percent: Some(7),
        };
        let values: Vec<Option<u64>> = GAUGES.iter().map(|(_, read)| read(&g)).collect();
        assert_eq!(
            values,
            [
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                Some(5),
                Some(6),
                Some(7)
            ]
        );
    }
}
