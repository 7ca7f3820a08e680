//! The contract's metrics ([`breakwater_core::engine::metrics`]: one table for both Envoy
//! adapters) as proxy-wasm metrics.
//!
//! A proxy-wasm filter can only name a metric; it cannot give it labels. So every label value
//! gets its own Envoy stat, named `envoy.breakwater.<metric>.policy.<policy>` (and
//! `….reason.<reason>` for the rejections, `….attempt.<n>` for the attempt counters), and the
//! bootstrap's `stats_tags` of `envoy/stats-tags.yaml` cut `.policy.<policy>`,
//! `.reason.<reason>` and `.attempt.<n>` out of the name into labels. Envoy files wasm metrics
//! under `wasmcustom.`, which `/stats/prometheus` leaves out, so Prometheus shows
//! `envoy_breakwater_rejections_total{policy="api",reason="circuit_open"}`: the dynamic module's
//! names and labels exactly (it has real labels), and one dashboard serves both. Without the tags every label value stays in the name
//! (`envoy_breakwater_rejections_total_policy_api_reason_circuit_open`), still unique.
//!
//! The engine counts per request in plain integers and queues its measured durations; this
//! module turns them into Envoy metrics once per tick: counters as deltas, gauges when they
//! changed, one histogram sample per measured duration. So a request costs no metric host call,
//! at the price of metrics that lag by at most one tick. Envoy sums a counter of one name across
//! every worker VM; gauges (breaker state, bulkhead use) are read from the shared snapshots, the
//! same on every worker, so whichever worker sets them last is right. Beyond the table, the
//! filter counts its shared-data calls (`shared_data_calls_total`): the cost Envoy charges it.

use breakwater_core::engine::metrics::{
    ATTEMPT_COUNTERS, ATTEMPT_LABEL, COUNTERS, ENGINE_COUNTERS, GAUGES, HISTOGRAMS, PolicyGauges,
    REASON_LABEL, REJECTION_REASONS, REJECTIONS, attempt_label, histogram_value,
};
use breakwater_core::engine::{PolicyStats, RetryStats, SyncStats};
use breakwater_core::random::SplitMix64;
use breakwater_core::{Engine, Nanos};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::store::HostStore;

/// The filter's own counter of shared-data calls (no `policy` label).
pub const SHARED_DATA_CALLS: &str = "shared_data_calls_total";

/// The Envoy stat name of `metric` for one policy (and one rejection reason): what the
/// `stats_tags` of `envoy/stats-tags.yaml` turn into `envoy_breakwater_<metric>{policy, reason}`.
pub fn stat_name(metric: &str, policy: Option<&str>, reason: Option<&str>) -> String {
    labelled_name(metric, policy, reason.map(|r| (REASON_LABEL, r)))
}

/// The Envoy stat name of `metric` for one policy and one value of a second label
/// (`reason`, `attempt`): `envoy.breakwater.<metric>.policy.<policy>.<label>.<value>`.
pub fn labelled_name(metric: &str, policy: Option<&str>, label: Option<(&str, &str)>) -> String {
    let mut name = format!("envoy.breakwater.{metric}");
    if let Some(p) = policy {
        name.push_str(".policy.");
        name.push_str(p);
    }
    if let Some((l, v)) = label {
        name.push('.');
        name.push_str(l);
        name.push('.');
        name.push_str(v);
    }
    name
}

/// One policy's metric ids (`None`: a part the policy does not have, or a name the host
/// refused) and what was last exported.
#[derive(Debug)]
struct PolicyMetrics {
    counters: Vec<Option<u32>>,
    rejections: Vec<Option<u32>>,
    gauges: Vec<Option<u32>>,
    histograms: Vec<Option<u32>>,
    /// Per [`ATTEMPT_COUNTERS`] entry, one id per attempt label (empty without retries).
    attempts: Vec<Vec<Option<u32>>>,
    flushed: PolicyStats,
    flushed_retry: RetryStats,
    gauges_set: Option<PolicyGauges>,
}

/// Every metric this VM exports.
///
/// Each tick reads and flushes only the policies the engine lists ([`Engine::take_changed`]),
/// defining a policy's metrics the first time it is listed: all of them on the first tick for
/// a configuration of up to [`breakwater_core::engine::SERIES_AT_START`] policies (series at
/// zero before traffic), else when a policy first has something to report. Defining them all
/// at start cost 18 host calls per policy on every VM (~0.2 s and ~2 KB of Envoy stats per
/// policy at 10,000), and a gateway's idle policies never need them.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Per policy, in configuration order: `None` until first reported.
    policies: Vec<Option<PolicyMetrics>>,
    /// The policies to report on this tick (kept to reuse its allocation).
    changed: Vec<usize>,
    /// [`ENGINE_COUNTERS`], then [`SHARED_DATA_CALLS`].
    filter: Vec<Option<u32>>,
    flushed_sync: SyncStats,
    flushed_calls: u64,
    /// Definitions the host refused so far.
    refused: usize,
}

/// Defines one metric; counts a refusal.
fn define(refused: &mut usize, kind: MetricType, name: String) -> Option<u32> {
    let id = hostcalls::define_metric(kind, &name).ok();
    *refused += usize::from(id.is_none());
    id
}

impl PolicyMetrics {
    /// Defines policy `index`'s metrics: each counter and rejection reason, the gauges and
    /// histograms of the parts it has.
    fn define(engine: &Engine<HostStore, SplitMix64>, index: usize, refused: &mut usize) -> Self {
        let p = engine.policy_name(index).unwrap_or_default();
        let shape = engine.gauges(index, Nanos::ZERO).unwrap_or_default();
        PolicyMetrics {
            counters: COUNTERS
                .iter()
                .map(|(n, _)| define(refused, MetricType::Counter, stat_name(n, Some(p), None)))
                .collect(),
            rejections: REJECTION_REASONS
                .iter()
                .map(|(r, _)| {
                    let name = stat_name(REJECTIONS, Some(p), Some(r));
                    define(refused, MetricType::Counter, name)
                })
                .collect(),
            gauges: GAUGES
                .iter()
                .map(|(n, read)| {
                    let name = stat_name(n, Some(p), None);
                    read(&shape).and_then(|_| define(refused, MetricType::Gauge, name))
                })
                .collect(),
            histograms: HISTOGRAMS
                .iter()
                .map(|(n, kind)| {
                    let name = stat_name(n, Some(p), None);
                    let used = engine.measures(index, *kind);
                    used.then(|| define(refused, MetricType::Histogram, name))
                        .flatten()
                })
                .collect(),
            attempts: ATTEMPT_COUNTERS
                .iter()
                .map(|(n, _)| {
                    engine
                        .attempt_labels(index)
                        .map(|a| {
                            let label = Some((ATTEMPT_LABEL, attempt_label(a)));
                            define(
                                refused,
                                MetricType::Counter,
                                labelled_name(n, Some(p), label),
                            )
                        })
                        .collect()
                })
                .collect(),
            flushed: PolicyStats::default(),
            flushed_retry: RetryStats::default(),
            gauges_set: None,
        }
    }
}

impl Metrics {
    /// Defines the filter-wide metrics; a policy's are defined when it first has something to
    /// report. Returns how many definitions the host refused; those are skipped (and logged
    /// by the caller): metrics must never stop traffic.
    pub fn define(engine: &Engine<HostStore, SplitMix64>) -> (Metrics, usize) {
        let mut refused = 0;
        let filter = ENGINE_COUNTERS
            .iter()
            .map(|(n, _)| *n)
            .chain([SHARED_DATA_CALLS])
            .map(|n| define(&mut refused, MetricType::Counter, stat_name(n, None, None)))
            .collect();
        let metrics = Metrics {
            policies: std::iter::repeat_with(|| None)
                .take(engine.policy_count())
                .collect(),
            filter,
            ..Metrics::default()
        };
        (metrics, refused)
    }

    /// Definitions the host refused since the last call (to log them once).
    pub fn take_refused(&mut self) -> usize {
        std::mem::take(&mut self.refused)
    }

    /// Exports everything `engine` has to say: for the policies it lists, counters as deltas
    /// since the last flush and gauges as of `now` where they changed; every duration measured
    /// since (drained); the filter's own counters.
    pub fn flush(&mut self, engine: &mut Engine<HostStore, SplitMix64>, now: Nanos) {
        engine.take_changed(now, &mut self.changed);
        for &i in &self.changed {
            let Some(slot) = self.policies.get_mut(i) else {
                continue;
            };
            let m = slot.get_or_insert_with(|| PolicyMetrics::define(engine, i, &mut self.refused));
            if let Some(stats) = engine.stats(i) {
                m.flush_counters(&stats);
            }
            if let Some(retry) = engine.retry_stats(i) {
                m.flush_attempts(retry);
            }
            if let Some(gauges) = engine.gauges(i, now)
                && m.gauges_set != Some(gauges)
            {
                for (&id, (_, read)) in m.gauges.iter().zip(&GAUGES) {
                    if let (Some(id), Some(value)) = (id, read(&gauges)) {
                        let _ = hostcalls::record_metric(id, value);
                    }
                }
                m.gauges_set = Some(gauges);
            }
        }
        while let Some(t) = engine.poll_timing() {
            let id = self.policies.get(t.policy).and_then(|m| {
                let slot = HISTOGRAMS.iter().position(|(_, kind)| *kind == t.kind)?;
                m.as_ref()?.histograms.get(slot).copied().flatten()
            });
            if let Some(id) = id {
                let _ = hostcalls::record_metric(id, histogram_value(t.duration));
            }
        }
        let sync = engine.sync_stats();
        let calls = engine.store().calls();
        let deltas = ENGINE_COUNTERS
            .iter()
            .map(|(_, read)| read(&sync).saturating_sub(read(&self.flushed_sync)))
            .chain([calls.saturating_sub(self.flushed_calls)]);
        for (&id, delta) in self.filter.iter().zip(deltas) {
            add(id, delta);
        }
        self.flushed_sync = sync;
        self.flushed_calls = calls;
    }
}

impl PolicyMetrics {
    fn flush_counters(&mut self, stats: &PolicyStats) {
        let before = &self.flushed;
        for (&id, (_, read)) in self.counters.iter().zip(&COUNTERS) {
            add(id, read(stats).saturating_sub(read(before)));
        }
        for (&id, (_, read)) in self.rejections.iter().zip(&REJECTION_REASONS) {
            add(id, read(stats).saturating_sub(read(before)));
        }
        self.flushed = *stats;
    }

    fn flush_attempts(&mut self, stats: &RetryStats) {
        for (ids, (_, read)) in self.attempts.iter().zip(&ATTEMPT_COUNTERS) {
            for (i, &id) in ids.iter().enumerate() {
                let n = i + 1;
                add(
                    id,
                    read(stats, n).saturating_sub(read(&self.flushed_retry, n)),
                );
            }
        }
        self.flushed_retry = *stats;
    }
}

fn add(id: Option<u32>, delta: u64) {
    if let (Some(id), true) = (id, delta > 0) {
        let _ = hostcalls::increment_metric(id, i64::try_from(delta).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_names_carry_their_labels_for_the_stats_tags() {
        assert_eq!(
            stat_name("requests_total", Some("api"), None),
            "envoy.breakwater.requests_total.policy.api"
        );
        assert_eq!(
            stat_name(REJECTIONS, Some("db-main"), Some("bulkhead_full")),
            "envoy.breakwater.rejections_total.policy.db-main.reason.bulkhead_full"
        );
        assert_eq!(
            labelled_name("retry_attempts_total", Some("api"), Some(("attempt", "2"))),
            "envoy.breakwater.retry_attempts_total.policy.api.attempt.2"
        );
        assert_eq!(
            stat_name(SHARED_DATA_CALLS, None, None),
            "envoy.breakwater.shared_data_calls_total"
        );
    }
}
