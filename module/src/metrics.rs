//! The contract's metrics ([`breakwater_core::engine::metrics`]: one table for both Envoy
//! adapters), with real labels.
//!
//! The proxy-wasm filter can only put label values in a metric's name and leave it to
//! `stats_tags` regexes to cut them out; a module defines metrics with label names when a
//! configuration is created. So each metric of the table is defined once here, labelled
//! `policy` (and `reason` for the rejections), under the bare name: the configuration's
//! `dynamic_module_config.metrics_namespace: breakwater` makes Envoy file it as
//! `breakwater.<name>`, which `/stats/prometheus` shows as `envoy_breakwater_<name>{policy="…"}`,
//! the filter's names and labels exactly. Beyond the table, the module counts hooks that
//! panicked and let their request through (`module_hook_failures_total`).
//!
//! The engine counts per request in plain integers and queues its measured durations;
//! [`Metrics::report`] writes the deltas, the changed gauges and the durations on Envoy's main
//! thread every [`crate::timer::REPORT_PERIOD`]. So a request costs no metric call at all, at the
//! price of metrics that lag by at most that period. Only the policies the engine lists are
//! reported ([`breakwater_core::Engine::take_changed`]: every policy on the first report of a
//! configuration of up to `SERIES_AT_START`, then those with something to report). A policy's
//! first report writes every counter of its series, at zero if need be: a labelled counter
//! exists in Envoy only once written, and Prometheus' `rate()` cannot see the first increment
//! of a series that appears with it.

use breakwater_core::engine::metrics::{
    ATTEMPT_COUNTERS, ATTEMPT_LABEL, COUNTERS, ENGINE_COUNTERS, GAUGES, HISTOGRAMS, POLICY_LABEL,
    PolicyGauges, REASON_LABEL, REJECTION_REASONS, REJECTIONS, attempt_label, histogram_value,
};
use breakwater_core::engine::{PolicyStats, RetryStats, SyncStats, Timing};

use crate::abi::ConfigHandle;

/// The module's own counter of hooks that failed open (no `policy` label).
pub(crate) const HOOK_FAILURES: &str = "module_hook_failures_total";

/// What a report writes for one policy: its counters now and its gauges now.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PolicySample {
    /// The engine's counters of the policy.
    pub(crate) stats: PolicyStats,
    /// The policy's gauges.
    pub(crate) gauges: PolicyGauges,
    /// Its attempt counts and how many attempt labels it has (`None`: no `retry` section).
    pub(crate) retry: Option<(RetryStats, usize)>,
}

/// Everything one report writes, gathered under the engine's lock and written after it.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// A sample per policy with something to report (`Engine::take_changed`), by index.
    pub(crate) samples: Vec<(usize, PolicySample)>,
    /// The durations measured since the last report.
    pub(crate) timings: Vec<Timing>,
    /// The engine's shared-state counters.
    pub(crate) sync: SyncStats,
    /// Hooks that failed open so far.
    pub(crate) failures: u64,
}

/// The metric ids of one configuration and what was last written.
#[derive(Debug)]
pub(crate) struct Metrics {
    policies: Vec<String>,
    counters: Vec<Option<usize>>,
    rejections: Option<usize>,
    /// [`ATTEMPT_COUNTERS`], labelled `policy` and `attempt`.
    attempts: Vec<Option<usize>>,
    gauges: Vec<Option<usize>>,
    histograms: Vec<Option<usize>>,
    /// [`ENGINE_COUNTERS`], then [`HOOK_FAILURES`].
    module: Vec<Option<usize>>,
    written: Vec<Option<PolicySample>>,
    /// What the module-wide counters read at the last report (`None`: never written).
    module_written: Option<Vec<u64>>,
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
        let policy = &[POLICY_LABEL];
        let counters = COUNTERS
            .iter()
            .map(|(n, _)| check(handle.define_counter(n, policy)))
            .collect();
        let rejections = check(handle.define_counter(REJECTIONS, &[POLICY_LABEL, REASON_LABEL]));
        let attempts = ATTEMPT_COUNTERS
            .iter()
            .map(|(n, _)| check(handle.define_counter(n, &[POLICY_LABEL, ATTEMPT_LABEL])))
            .collect();
        let gauges = GAUGES
            .iter()
            .map(|(n, _)| check(handle.define_gauge(n, policy)))
            .collect();
        let histograms = HISTOGRAMS
            .iter()
            .map(|(n, _)| check(handle.define_histogram(n, policy)))
            .collect();
        let module = ENGINE_COUNTERS
            .iter()
            .map(|(n, _)| *n)
            .chain([HOOK_FAILURES])
            .map(|n| check(handle.define_counter(n, &[])))
            .collect();
        let metrics = Metrics {
            written: vec![None; policies.len()],
            policies,
            counters,
            rejections,
            attempts,
            gauges,
            histograms,
            module,
            module_written: None,
        };
        (metrics, refused)
    }

    /// Writes what changed since the last report (main thread only: `handle` says so).
    pub(crate) fn report(&mut self, handle: ConfigHandle, report: &Report) {
        for &(i, ref sample) in &report.samples {
            let (Some(policy), Some(last)) = (self.policies.get(i), self.written.get(i)) else {
                continue;
            };
            let first = last.is_none();
            let before = last.map(|s| s.stats).unwrap_or_default();
            let labels = &[policy.as_str()];
            for ((_, read), id) in COUNTERS.iter().zip(&self.counters) {
                let delta = read(&sample.stats).saturating_sub(read(&before));
                if let (Some(id), true) = (id, first || delta > 0) {
                    handle.increment_counter(*id, labels, delta);
                }
            }
            if let Some(id) = self.rejections {
                for (reason, read) in REJECTION_REASONS {
                    let delta = read(&sample.stats).saturating_sub(read(&before));
                    if first || delta > 0 {
                        handle.increment_counter(id, &[policy, reason], delta);
                    }
                }
            }
            if let Some((retry, labels)) = &sample.retry {
                let before = last.and_then(|s| s.retry).map(|r| r.0).unwrap_or_default();
                for ((_, read), id) in ATTEMPT_COUNTERS.iter().zip(&self.attempts) {
                    for n in 1..=*labels {
                        let delta = read(retry, n).saturating_sub(read(&before, n));
                        if let (Some(id), true) = (id, first || delta > 0) {
                            handle.increment_counter(*id, &[policy, attempt_label(n)], delta);
                        }
                    }
                }
            }
            if last.is_none_or(|l| l.gauges != sample.gauges) {
                for ((_, read), id) in GAUGES.iter().zip(&self.gauges) {
                    if let (Some(id), Some(value)) = (id, read(&sample.gauges)) {
                        handle.set_gauge(*id, labels, value);
                    }
                }
            }
            self.written[i] = Some(*sample);
        }
        for t in &report.timings {
            let slot = HISTOGRAMS.iter().position(|(_, kind)| *kind == t.kind);
            let id = slot.and_then(|s| self.histograms.get(s).copied().flatten());
            if let (Some(id), Some(policy)) = (id, self.policies.get(t.policy)) {
                handle.record_histogram(id, &[policy], histogram_value(t.duration));
            }
        }
        let now: Vec<u64> = ENGINE_COUNTERS
            .iter()
            .map(|(_, read)| read(&report.sync))
            .chain([report.failures])
            .collect();
        let first = self.module_written.is_none();
        let before = self
            .module_written
            .take()
            .unwrap_or_else(|| vec![0; now.len()]);
        for ((id, value), last) in self.module.iter().zip(&now).zip(&before) {
            let delta = value.saturating_sub(*last);
            if let (Some(id), true) = (id, first || delta > 0) {
                handle.increment_counter(*id, &[], delta);
            }
        }
        self.module_written = Some(now);
    }
}
