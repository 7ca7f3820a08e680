//! A read-only view of every policy, for the optional status endpoint (`status_path`).
//!
//! Served as JSON with 200 when no breaker is open and 503 otherwise, so a load balancer or an
//! operator's health check can see at a glance that a dependency is being shed. States are
//! reported as of the request for the status (an open breaker past its open time reads
//! `half_open`, a `forced_open` one `open`), not as of the last call that passed.

use rand_core::RngCore;
use serde::Serialize;

use crate::breaker::keys::CATCH_ALL;
use crate::breaker::{Mode, State};
use crate::store::SharedStore;
use crate::time::Nanos;

use super::Engine;
use super::operator::{BreakerStatistics, HealthView};
use super::policy::{BreakerRt, PolicyStats};
use super::shared::BreakerCell;

/// One policy's state as this worker last saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyStatus {
    /// Policy name.
    pub name: String,
    /// `closed`, `open`, `half_open`, or `none` without a breaker.
    pub state: &'static str,
    /// Seconds until an open breaker admits probes (rounded up), when open.
    pub retry_after: Option<u64>,
    /// Consecutive failures recorded.
    pub consecutive_failures: u32,
    /// Outcomes recorded by every worker, and of those failures.
    pub calls: u64,
    /// Failures recorded by every worker.
    pub failures: u64,
    /// Bulkhead permits in use across workers, and its cap.
    pub inflight: Option<u32>,
    /// Bulkhead cap.
    pub max_concurrent: Option<u32>,
    /// Requests waiting for a permit across workers.
    pub queued: Option<u32>,
    /// This worker's counters.
    pub requests: u64,
    /// Rejections by the breaker on this worker.
    pub rejected_open: u64,
    /// Rejections by the bulkhead on this worker.
    pub rejected_bulkhead: u64,
    /// Refusals replaced by a fallback on this worker.
    pub fallbacks: u64,
    /// The breaker's statistics across workers (source 003), when it has a breaker.
    pub statistics: Option<BreakerStatistics>,
    /// The health view across workers (source 004), when it has a breaker.
    pub health: Option<HealthView>,
    /// A keyed breaker's keys (its catch-all first, as `~other`), each with its own state;
    /// absent for an unkeyed policy. `state` above is then the worst of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyStatus>>,
    /// Requests of a keyed breaker that found no room for their key (this worker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_overflows: Option<u64>,
}

/// One key of a keyed breaker.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyStatus {
    /// The key (`~other` for the catch-all breaker).
    pub key: String,
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    /// Seconds until an open breaker admits probes (rounded up), when open.
    pub retry_after: Option<u64>,
    /// Consecutive failures recorded.
    pub consecutive_failures: u32,
    /// Outcomes recorded by every worker.
    pub calls: u64,
    /// Failures recorded by every worker.
    pub failures: u64,
}

impl KeyStatus {
    fn new(key: &str, b: &BreakerRt, cell: &BreakerCell, now: Nanos) -> Self {
        let s = &cell.cached;
        let forced = b.config.mode == Mode::ForcedOpen;
        KeyStatus {
            key: key.to_owned(),
            state: if forced { State::Open } else { s.state_at(now) }.name(),
            retry_after: if forced {
                b.reported_wait(now)
            } else {
                s.rejects_for(&b.config, now)
            }
            .map(|d| d.as_secs_ceil()),
            consecutive_failures: s.consecutive_failures,
            calls: s.stats.calls,
            failures: s.stats.failures,
        }
    }
}

/// The keys of a keyed breaker, catch-all first, then by key.
fn keys(b: &BreakerRt, now: Nanos) -> Option<Vec<KeyStatus>> {
    let k = b.keyed.as_ref()?;
    let mut list: Vec<KeyStatus> = k
        .held()
        .map(|(_, c)| KeyStatus::new(&c.name, b, &c.cell, now))
        .collect();
    list.sort_by(|a, b| a.key.cmp(&b.key));
    list.insert(0, KeyStatus::new(CATCH_ALL, b, &b.cell, now));
    Some(list)
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// Every policy's status at `now`, and whether it is healthy: no breaker open at `now`
    /// (a half-open breaker admits probes, so it does not make the service unhealthy; a
    /// `forced_open` one does).
    ///
    /// Every policy's view of shared state is refreshed first ([`Engine::refresh_views`]):
    /// idle policies are not synchronised on the tick, and a report must not show a view older
    /// than the request for it.
    pub fn status(&mut self, now: Nanos) -> (bool, Vec<PolicyStatus>) {
        self.refresh_views(now);
        let mut healthy = true;
        let list = self
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let snap = p.breaker.as_ref().map(|b| b.cell.cached);
                let state = p.breaker.as_ref().map(|b| b.reported_state(now));
                if state == Some(State::Open) {
                    healthy = false;
                }
                let PolicyStats {
                    requests,
                    rejected_open,
                    rejected_bulkhead,
                    fallbacks,
                    ..
                } = p.stats;
                PolicyStatus {
                    name: p.name.clone(),
                    state: state.map_or("none", State::name),
                    retry_after: p
                        .breaker
                        .as_ref()
                        .and_then(|b| b.reported_wait(now))
                        .map(|d| d.as_secs_ceil()),
                    consecutive_failures: snap.map_or(0, |s| s.consecutive_failures),
                    calls: snap.map_or(0, |s| s.stats.calls),
                    failures: snap.map_or(0, |s| s.stats.failures),
                    inflight: p.bulkhead.as_ref().map(|b| b.cell.cached.inflight),
                    max_concurrent: p.bulkhead.as_ref().map(|b| b.config.max_concurrent),
                    queued: p.bulkhead.as_ref().map(|b| b.cell.cached.queued),
                    requests,
                    rejected_open,
                    rejected_bulkhead,
                    fallbacks,
                    statistics: self.breaker_statistics(i),
                    health: self.health(i),
                    keys: p.breaker.as_ref().and_then(|b| keys(b, now)),
                    key_overflows: p
                        .breaker
                        .as_ref()
                        .and_then(|b| b.keyed.as_ref())
                        .map(|_| p.stats.breaker_key_overflows),
                }
            })
            .collect();
        (healthy, list)
    }

    /// The status document as JSON text: `{"service": …, "healthy": …, "policies": […]}`.
    pub fn status_json(&mut self, now: Nanos) -> (bool, String) {
        let (healthy, policies) = self.status(now);
        let doc = serde_json::json!({
            "service": self.service,
            "healthy": healthy,
            "policies": policies,
        });
        (healthy, doc.to_string())
    }
}
