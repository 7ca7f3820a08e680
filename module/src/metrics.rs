//! The contract's metrics, with real labels: `breakwater.<name>{policy="…"}`.
//!
//! The proxy-wasm filter can only put the policy in the metric's name and leave it to a
//! `stats_tags` regex to turn it into a label; a module defines metrics with label names when a
//! configuration is created. The counters and gauges are the filter's (same names, same
//! meaning), each labelled `policy`, plus:
//!
//! - `breakwater.rejections{policy, reason}`: local replies by their `x-breakwater` reason
//!   (`circuit_open`, `bulkhead_full`, `queue_timeout`, `injected_fault`);
//! - `breakwater.module_hook_failures`: hooks that panicked and let the request through.
//!
//! The engine counts per request in plain integers; [`Metrics::report`] writes the deltas on
//! Envoy's main thread every [`crate::timer::REPORT_PERIOD`]. So a request costs no metric call
//! at all, at the price of metrics that lag by at most that period.

use breakwater_core::engine::PolicyStats;

use crate::abi::ConfigHandle;

/// Reads one counter from [`PolicyStats`].
type Read = breakwater_core::engine::StatRead;

/// Counter names (after `breakwater.`), each with how to read it: core's list, the filter's.
const COUNTERS: &[(&str, Read)] = &PolicyStats::COUNTERS;

/// `breakwater.rejections` by reason (the `x-breakwater` values of core's replies).
const REJECTIONS: &[(&str, Read)] = &[
    ("circuit_open", |s| s.rejected_open),
    ("bulkhead_full", |s| s.rejected_bulkhead),
    ("queue_timeout", |s| s.queue_timeouts),
    ("injected_fault", |s| s.injected_aborts),
];

/// Gauge names (after `breakwater.`): breaker state (0 closed, 1 open, 2 half-open), permits
/// in use, requests queued.
const GAUGES: &[&str] = &["state", "inflight", "queued"];

/// One policy's gauge values.
pub(crate) type Gauges = [u64; 3];

/// What a report writes for one policy: its stats now and its gauges now.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PolicySample {
    /// The engine's counters of the policy.
    pub(crate) stats: PolicyStats,
    /// State, inflight, queued.
    pub(crate) gauges: Gauges,
}

/// The metric ids of one configuration and what was last written.
#[derive(Debug)]
pub(crate) struct Metrics {
    policies: Vec<String>,
    counters: Vec<Option<usize>>,
    rejections: Option<usize>,
    gauges: Vec<Option<usize>>,
    hook_failures: Option<usize>,
    written: Vec<Option<PolicySample>>,
    failures_written: u64,
}

fn full(name: &str) -> String {
    format!("breakwater.{name}")
}

impl Metrics {
    /// Defines every metric (only possible while the configuration is created). Returns how
    /// many Envoy refused: metrics must never stop traffic, so those are skipped.
    pub(crate) fn define(handle: ConfigHandle, policies: Vec<String>) -> (Metrics, usize) {
        let mut refused = 0;
        let mut check = |id: Option<usize>| {
            refused += usize::from(id.is_none());
            id
        };
        let counters = COUNTERS
            .iter()
            .map(|(n, _)| check(handle.define_counter(&full(n), &["policy"])))
            .collect();
        let rejections = check(handle.define_counter(&full("rejections"), &["policy", "reason"]));
        let gauges = GAUGES
            .iter()
            .map(|n| check(handle.define_gauge(&full(n), &["policy"])))
            .collect();
        let hook_failures = check(handle.define_counter(&full("module_hook_failures"), &[]));
        let metrics = Metrics {
            written: vec![None; policies.len()],
            policies,
            counters,
            rejections,
            gauges,
            hook_failures,
            failures_written: 0,
        };
        (metrics, refused)
    }

    /// Writes what changed since the last report (main thread only: `handle` says so).
    pub(crate) fn report(&mut self, handle: ConfigHandle, samples: &[PolicySample], failures: u64) {
        for (i, sample) in samples.iter().enumerate() {
            let (Some(policy), Some(last)) = (self.policies.get(i), self.written.get(i)) else {
                continue;
            };
            let before = last.map(|s| s.stats).unwrap_or_default();
            for ((_, read), id) in COUNTERS.iter().zip(&self.counters) {
                let delta = read(&sample.stats).saturating_sub(read(&before));
                if let (Some(id), true) = (id, delta > 0) {
                    handle.increment_counter(*id, &[policy], delta);
                }
            }
            if let Some(id) = self.rejections {
                for (reason, read) in REJECTIONS {
                    let delta = read(&sample.stats).saturating_sub(read(&before));
                    if delta > 0 {
                        handle.increment_counter(id, &[policy, reason], delta);
                    }
                }
            }
            if last.is_none_or(|l| l.gauges != sample.gauges) {
                for (id, value) in self.gauges.iter().zip(sample.gauges) {
                    if let Some(id) = id {
                        handle.set_gauge(*id, &[policy], value);
                    }
                }
            }
            self.written[i] = Some(*sample);
        }
        let delta = failures.saturating_sub(self.failures_written);
        if let (Some(id), true) = (self.hook_failures, delta > 0) {
            handle.increment_counter(id, &[], delta);
        }
        self.failures_written = failures;
    }
}
