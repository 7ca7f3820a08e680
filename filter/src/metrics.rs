//! The contract's metrics: `breakwater.<policy>.<name>` counters and gauges, plus a few for the
//! filter itself (`breakwater.cas_retries`, `breakwater.cas_give_ups`,
//! `breakwater.shared_data_calls`).
//!
//! The engine counts per request in plain integers; this module turns those counts into Envoy
//! metrics once per tick, as deltas. So a request costs no metric host call, at the price of
//! metrics that lag by at most one tick. Envoy sums a counter of one name across every worker VM;
//! gauges (breaker state, bulkhead use) are read from the shared snapshots, the same on every
//! worker, so whichever worker sets them last is right.

use breakwater_core::engine::{PolicyStats, SyncStats};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Counter names, each with how to read it (core's list, shared with the module).
const COUNTERS: &[(&str, breakwater_core::engine::StatRead)] = &PolicyStats::COUNTERS;

/// Gauge names: breaker state (0 closed, 1 open, 2 half-open), permits in use, queued.
const GAUGES: &[&str] = &["state", "inflight", "queued"];

/// What one policy's gauges should read now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Breaker state as a number (0 closed, 1 open, 2 half-open).
    pub state: u64,
    /// Bulkhead permits in use across workers.
    pub inflight: u64,
    /// Requests queued for a permit across workers.
    pub queued: u64,
}

/// One policy's metric ids and what was last exported.
#[derive(Debug)]
struct PolicyMetrics {
    counters: Vec<u32>,
    gauges: Vec<u32>,
    flushed: PolicyStats,
    gauges_set: Option<Gauges>,
}

/// Every metric this VM exports.
#[derive(Debug, Default)]
pub struct Metrics {
    policies: Vec<PolicyMetrics>,
    /// `[cas_retries, cas_give_ups, shared_data_calls]`.
    filter: Vec<u32>,
    flushed_sync: SyncStats,
    flushed_calls: u64,
}

/// The full name of a policy metric.
pub fn metric_name(policy: &str, name: &str) -> String {
    format!("breakwater.{policy}.{name}")
}

fn define(kind: MetricType, name: &str) -> Option<u32> {
    hostcalls::define_metric(kind, name).ok()
}

impl Metrics {
    /// Defines every metric for these policies. A metric the host refuses is skipped (and
    /// logged by the caller): metrics must never stop traffic.
    pub fn define<'a>(policies: impl Iterator<Item = &'a str>) -> (Metrics, usize) {
        let mut refused = 0;
        let mut ids = |kind, name: String| {
            let id = define(kind, &name);
            if id.is_none() {
                refused += 1;
            }
            id.unwrap_or(u32::MAX)
        };
        let policies = policies
            .map(|p| PolicyMetrics {
                counters: COUNTERS
                    .iter()
                    .map(|(n, _)| ids(MetricType::Counter, metric_name(p, n)))
                    .collect(),
                gauges: GAUGES
                    .iter()
                    .map(|n| ids(MetricType::Gauge, metric_name(p, n)))
                    .collect(),
                flushed: PolicyStats::default(),
                gauges_set: None,
            })
            .collect();
        let filter = ["cas_retries", "cas_give_ups", "shared_data_calls"]
            .iter()
            .map(|n| ids(MetricType::Counter, format!("breakwater.{n}")))
            .collect();
        let metrics = Metrics {
            policies,
            filter,
            flushed_sync: SyncStats::default(),
            flushed_calls: 0,
        };
        (metrics, refused)
    }

    /// Exports policy `index`'s counters (as deltas since the last flush) and gauges.
    pub fn flush_policy(&mut self, index: usize, stats: &PolicyStats, gauges: Gauges) {
        let Some(m) = self.policies.get_mut(index) else {
            return;
        };
        for ((_, read), &id) in COUNTERS.iter().zip(&m.counters) {
            add(id, read(stats).saturating_sub(read(&m.flushed)));
        }
        m.flushed = *stats;
        if m.gauges_set != Some(gauges) {
            for (&id, value) in m
                .gauges
                .iter()
                .zip([gauges.state, gauges.inflight, gauges.queued])
            {
                set(id, value);
            }
            m.gauges_set = Some(gauges);
        }
    }

    /// Exports the filter's own counters.
    pub fn flush_filter(&mut self, sync: SyncStats, shared_data_calls: u64) {
        let deltas = [
            sync.cas_retries
                .saturating_sub(self.flushed_sync.cas_retries),
            sync.cas_give_ups
                .saturating_sub(self.flushed_sync.cas_give_ups),
            shared_data_calls.saturating_sub(self.flushed_calls),
        ];
        for (&id, delta) in self.filter.iter().zip(deltas) {
            add(id, delta);
        }
        self.flushed_sync = sync;
        self.flushed_calls = shared_data_calls;
    }
}

fn add(id: u32, delta: u64) {
    if delta > 0 && id != u32::MAX {
        let _ = hostcalls::increment_metric(id, i64::try_from(delta).unwrap_or(i64::MAX));
    }
}

fn set(id: u32, value: u64) {
    if id != u32::MAX {
        let _ = hostcalls::record_metric(id, value);
    }
}
