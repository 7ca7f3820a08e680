//! The `circuit-breaker` resource: core's breaker state machine ([`Snapshot`]) on its own.
//!
//! Core's probe permits are opaque values; WIT hands the host a number instead, so the resource
//! keeps the permits it issued by number. A number the resource no longer knows (already
//! reported, or from an episode that ended) is ignored, as core ignores a stale permit.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::breaker::{Admission, BreakerConfig, Event, Mode, ProbePermit, Snapshot, State};
use crate::random::{SplitMix64, unit_f64};
use crate::time::Nanos;

use super::bindings::exports::breakwater::resilience::circuit_breaker as wit;
use super::bindings::exports::breakwater::resilience::types::{
    BreakerState, BreakerStatistics, ConfigError, HealthView,
};
use super::{Component, convert, rng};
use crate::config::read::section_from_json;
use crate::config::sections::Settle;

/// Permits remembered at most (a host that never reports its probes cannot grow the map).
const MAX_PERMITS: usize = 4 * crate::breaker::MAX_PROBES;

impl wit::Guest for Component {
    type CircuitBreaker = BreakerResource;
}

/// One breaker and the probe permits it handed out.
#[derive(Debug)]
pub(super) struct BreakerResource {
    config: BreakerConfig,
    inner: RefCell<Inner>,
}

#[derive(Debug)]
struct Inner {
    snapshot: Snapshot,
    rng: SplitMix64,
    permits: BTreeMap<u64, ProbePermit>,
    next_permit: u64,
}

impl Inner {
    fn apply(&mut self, config: &BreakerConfig, event: Event, now: u64) -> Option<Admission> {
        let unit = unit_f64(&mut self.rng);
        let (admission, transition) =
            self.snapshot
                .apply_in_place(config, event, Nanos::new(now), unit);
        if transition.is_some_and(|t| t.from == State::HalfOpen) {
            // The episode ended: its permits are stale for core too.
            self.permits.clear();
        }
        admission
    }
}

impl wit::GuestCircuitBreaker for BreakerResource {
    fn new(config: String, seed: Option<u64>) -> Result<Self, ConfigError> {
        let config = section_from_json(&config, |c: &mut BreakerConfig, doc, p| {
            c.settle(Some(doc));
            c.validate("", p);
            if c.mode != Mode::Enforce {
                // Shadow, forced-open and disabled are engine behaviours around the machine.
                p.add("", "mode", "the standalone breaker supports only `enforce`");
            }
        })
        .map_err(convert::config_error)?;
        Ok(BreakerResource {
            inner: RefCell::new(Inner {
                snapshot: Snapshot::new(&config),
                rng: rng(seed),
                permits: BTreeMap::new(),
                next_permit: 1,
            }),
            config,
        })
    }

    fn acquire(&self, now: u64) -> wit::Admission {
        let mut inner = self.inner.borrow_mut();
        match inner.apply(&self.config, Event::Acquire, now) {
            Some(Admission::Probe(permit)) => {
                let id = inner.next_permit;
                inner.next_permit += 1;
                inner.permits.insert(id, permit);
                if inner.permits.len() > MAX_PERMITS {
                    inner.permits.pop_first();
                }
                wit::Admission::Probe(id)
            }
            Some(Admission::Reject { retry_after }) => {
                wit::Admission::Reject(retry_after.as_nanos())
            }
            Some(Admission::Admit) | None => wit::Admission::Admit,
        }
    }

    fn record_outcome(&self, now: u64, failed: bool, slow: bool) {
        let event = Event::Record {
            successes: u32::from(!failed),
            slow_successes: u32::from(!failed && slow),
            failures: u32::from(failed),
            slow_failures: u32::from(failed && slow),
        };
        let _ = self.inner.borrow_mut().apply(&self.config, event, now);
    }

    fn probe_result(&self, now: u64, probe: u64, failed: bool) {
        let mut inner = self.inner.borrow_mut();
        if let Some(permit) = inner.permits.remove(&probe) {
            let _ = inner.apply(&self.config, Event::ProbeResult { permit, failed }, now);
        }
    }

    fn probe_release(&self, now: u64, probe: u64) {
        let mut inner = self.inner.borrow_mut();
        if let Some(permit) = inner.permits.remove(&probe) {
            let _ = inner.apply(&self.config, Event::ProbeRelease { permit }, now);
        }
    }

    fn state(&self, now: u64) -> BreakerState {
        convert::state(self.inner.borrow().snapshot.state_at(Nanos::new(now)))
    }

    fn rejects_for(&self, now: u64) -> Option<u64> {
        let inner = self.inner.borrow();
        inner
            .snapshot
            .rejects_for(&self.config, Nanos::new(now))
            .map(Nanos::as_nanos)
    }

    fn consecutive_failures(&self) -> u32 {
        self.inner.borrow().snapshot.consecutive_failures
    }

    fn statistics(&self) -> BreakerStatistics {
        let s = self.inner.borrow().snapshot.stats;
        convert::statistics(s)
    }

    fn health(&self) -> HealthView {
        convert::health(self.inner.borrow().snapshot.health)
    }

    fn reset(&self, now: u64) {
        let mut inner = self.inner.borrow_mut();
        let _ = inner.apply(&self.config, Event::Reset, now);
        // A new episode: every permit handed out is stale.
        inner.permits.clear();
    }

    fn stats(&self) -> wit::BreakerStats {
        let s = self.inner.borrow().snapshot.stats;
        wit::BreakerStats {
            calls: s.calls,
            successes: s.successes,
            failures: s.failures,
            slow: s.slow,
            transitions: s.transitions,
        }
    }
}
