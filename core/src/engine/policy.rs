//! A policy's run-time parts, built once from its configuration.

use crate::breaker::{BreakerConfig, Mode, State};
use crate::bulkhead::{BulkheadConfig, WaitQueue};
use crate::config::{Match, Policy};
use crate::injection::Injector;
use crate::outcome::Classifier;
use crate::retry::headers::Scope;
use crate::retry::{Conditions, RetryBudget, RetryHeaders};
use crate::store::SharedStore;
use crate::time::Nanos;
use std::sync::Arc;

use super::fallback::PolicyFallback;
use super::interned::Tables;
use super::keyed::{KeyRef, KeyedRt};
use super::link::StoreLink;
use super::notices::Repeat;
use super::permits::BulkheadCell;
use super::shared::BreakerCell;

/// Counters of one policy, as seen by this engine (one worker). Adapters export them under the
/// names of [`super::metrics`] (`envoy_breakwater_requests_total{policy="…"}`, …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyStats {
    /// Requests the policy matched.
    pub requests: u64,
    /// Rejected by an open (or saturated half-open, or forced-open) breaker.
    pub rejected_open: u64,
    /// Rejected because the bulkhead and its queue were full.
    pub rejected_bulkhead: u64,
    /// Rejected after waiting in the queue past its timeout.
    pub queue_timeouts: u64,
    /// Aborted by failure injection.
    pub injected_aborts: u64,
    /// Delayed by failure injection.
    pub injected_delays: u64,
    /// Admitted although the breaker would have rejected (shadow mode).
    pub shadow_rejections: u64,
    /// Transitions into the open state this engine made.
    pub transitions_to_open: u64,
    /// Outcomes reported, and of them failures.
    pub responses: u64,
    /// Outcomes classified as failures.
    pub failures: u64,
    /// Requests given a non-zero retry allowance.
    pub retries_granted: u64,
    /// Retries the router reported making.
    pub retries_made: u64,
    /// Requests the router retried whose final answer was still a failure.
    pub retries_exhausted: u64,
    /// Requests that ended without an outcome: the client went away (or the host dropped
    /// them) while they were held or upstream. With the counters above, every matched request
    /// ends exactly one way: `requests = responses + rejected_open + rejected_bulkhead +
    /// queue_timeouts + injected_aborts + fallbacks + cancelled` once none is in flight.
    pub cancelled: u64,
    /// Refusals replaced by the policy's fallback (a reply sent, or the request rerouted).
    pub fallbacks: u64,
    /// Resets of the breaker this engine served.
    pub resets: u64,
    /// Requests routed to the policy while its dependency was marked unhealthy.
    pub unhealthy_requests: u64,
    /// Requests of a keyed breaker whose key found no room (`max_keys` taken by keys that may
    /// not be evicted) and used the catch-all breaker.
    pub breaker_key_overflows: u64,
    /// Keys this engine evicted from a keyed breaker to admit new ones.
    pub breaker_key_evictions: u64,
}

/// Reads one counter of [`PolicyStats`].
pub type StatRead = fn(&PolicyStats) -> u64;

/// The breaker of a policy: its settings and its shared cell.
#[derive(Debug)]
pub(crate) struct BreakerRt {
    pub(crate) config: BreakerConfig,
    /// The policy's breaker: the only one unkeyed, the catch-all when keyed.
    pub(crate) cell: BreakerCell,
    pub(crate) slow_call: Nanos,
    /// One breaker per key (`key_by`), boxed: paid only by keyed policies.
    pub(crate) keyed: Option<Box<KeyedRt>>,
}

impl BreakerRt {
    /// The state to report at `now` (status endpoint, state gauge, WIT): `forced_open` is open
    /// whatever the machine says, and an open breaker past its open time is half-open (see
    /// [`crate::breaker::Snapshot::state_at`]). A keyed policy reports its worst key (this
    /// worker's view): open if any key is open, so the gauge and the health check see it.
    pub(crate) fn reported_state(&self, now: Nanos) -> State {
        if self.config.mode == Mode::ForcedOpen {
            return State::Open;
        }
        let own = self.cell.cached.state_at(now);
        match &self.keyed {
            None => own,
            Some(k) => k
                .held()
                .map(|(_, c)| c.cell.cached.state_at(now))
                .fold(own, worst),
        }
    }

    /// How long a call at `now` would be refused, as reported: a forced-open breaker refuses
    /// for its recovery timeout each time (what its rejections say in `retry-after`); a keyed
    /// one, its longest-refusing key.
    pub(crate) fn reported_wait(&self, now: Nanos) -> Option<Nanos> {
        if self.config.mode == Mode::ForcedOpen {
            return Some(Nanos::from_millis(self.config.recovery_timeout_ms));
        }
        let own = self.cell.cached.rejects_for(&self.config, now);
        match &self.keyed {
            None => own,
            Some(k) => k
                .held()
                .map(|(_, c)| c.cell.cached.rejects_for(&self.config, now))
                .fold(own, Option::max),
        }
    }

    /// The cell of `key` (`None`: the policy's own), if this worker still holds it.
    #[inline]
    pub(crate) fn cell(&self, key: Option<KeyRef>) -> Option<&BreakerCell> {
        match key {
            None => Some(&self.cell),
            Some(k) => Some(&self.keyed.as_ref()?.cell(k)?.cell),
        }
    }

    /// The settings and the cell of `key`, mutably.
    #[inline]
    pub(crate) fn parts(
        &mut self,
        key: Option<KeyRef>,
    ) -> (&BreakerConfig, Option<&mut BreakerCell>) {
        let cell = match key {
            None => Some(&mut self.cell),
            Some(k) => self
                .keyed
                .as_mut()
                .and_then(|keyed| keyed.cell_mut(k))
                .map(|c| &mut c.cell),
        };
        (&self.config, cell)
    }

    /// Whether a sync has something to write (or, keyed, keys to report).
    pub(crate) fn has_pending(&self) -> bool {
        self.cell.has_pending() || self.keyed.as_ref().is_some_and(|k| k.has_pending())
    }
}

/// The worse of two states, for a report: open, then half-open, then closed.
fn worst(a: State, b: State) -> State {
    let rank = |s| match s {
        State::Open => 2,
        State::HalfOpen => 1,
        State::Closed => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The bulkhead of a policy: settings, shared counts, this worker's waiters.
#[derive(Debug)]
pub(crate) struct BulkheadRt {
    pub(crate) config: BulkheadConfig,
    pub(crate) cell: BulkheadCell,
    pub(crate) waiters: WaitQueue,
}

/// The retry side: precomputed router headers (shared by the policies that compile to the
/// same lists) and this worker's budget.
#[derive(Debug)]
pub(crate) struct RetryRt {
    pub(crate) headers: Arc<RetryHeaders>,
    pub(crate) budget: RetryBudget,
    /// The policy's `retry.rewrite_upstream_errors`.
    pub(crate) rewrite_upstream_errors: bool,
    /// Attempts and successes by attempt number (`engine::respond`).
    pub(crate) stats: super::respond::RetryStats,
}

/// Everything one policy needs per request.
#[derive(Debug)]
pub(crate) struct PolicyRt {
    pub(crate) name: String,
    pub(crate) matcher: Match,
    /// Boxed: most of a policy's size, paid only by the policies that have one.
    pub(crate) breaker: Option<Box<BreakerRt>>,
    pub(crate) bulkhead: Option<BulkheadRt>,
    pub(crate) retry: Option<RetryRt>,
    /// Headers when no retry section exists (only the timeout, if any).
    pub(crate) plain_headers: Vec<(String, String)>,
    pub(crate) injector: Option<Injector>,
    pub(crate) count_injected: bool,
    /// Shared by the policies with the same outcome rules.
    pub(crate) classifier: Arc<Classifier>,
    /// What replaces a refusal, if anything (boxed: most policies have none).
    pub(crate) fallback: Option<Box<PolicyFallback>>,
    /// Rate limits of the repeated notices.
    pub(crate) fallback_log: Repeat,
    pub(crate) unhealthy_log: Repeat,
    pub(crate) stats: PolicyStats,
    /// A request started or ended on this policy since the last sync.
    pub(crate) touched: bool,
    /// In the engine's list of policies to report ([`super::Engine::take_changed`]).
    pub(crate) listed: bool,
}

impl PolicyRt {
    /// The run-time parts of `p`; `holder` is this engine's identity in shared bulkhead tables,
    /// `lease` how long its rows outlive its silence and `grace` how long a table the store
    /// lost is only written back, not taken from (see [`super::permits`]); compiled
    /// tables equal to one in `tables` are shared with it.
    pub(crate) fn new<S: SharedStore>(
        service: &str,
        p: &Policy,
        (store, link): (&S, &mut StoreLink),
        now: Nanos,
        (holder, lease, grace): (u64, Nanos, Nanos),
        tables: &mut Tables,
    ) -> Self {
        let key = |part: &str| format!("breakwater/{service}/{}/{part}", p.name);
        let breaker =
            p.breaker
                .as_ref()
                .filter(|b| b.mode != Mode::Disabled)
                .map(|b| {
                    let base = key("breaker");
                    Box::new(BreakerRt {
                        config: b.clone(),
                        cell: BreakerCell::new(base.clone(), b, store, link, now),
                        slow_call: Nanos::from_millis(b.slow_call_duration_ms),
                        keyed: b.key_by.clone().map(|by| {
                            Box::new(KeyedRt::new(by, &base, b, (store, &mut *link), now))
                        }),
                    })
                });
        let bulkhead = p.bulkhead.as_ref().map(|b| BulkheadRt {
            config: b.clone(),
            cell: BulkheadCell::new(key("bulkhead"), (holder, lease, grace), store, link, now),
            waiters: WaitQueue::with_capacity(b.queue_size),
        });
        let retry = p.retry.as_ref().map(|r| RetryRt {
            headers: tables.retry_headers(r, Conditions::new(r, &p.outcomes), p.timeout_ms),
            budget: r.budget(),
            rewrite_upstream_errors: r.rewrite_upstream_errors,
            stats: Default::default(),
        });
        let plain_headers = p
            .timeout_ms
            .map(|t| vec![("x-envoy-upstream-rq-timeout-ms".to_owned(), t.to_string())])
            .unwrap_or_default();
        PolicyRt {
            name: p.name.clone(),
            matcher: p.matcher.clone(),
            breaker,
            bulkhead,
            retry,
            plain_headers,
            injector: p.injection.as_ref().map(Injector::new),
            count_injected: p.injection.as_ref().is_some_and(|i| i.count_injected),
            classifier: tables.classifier(&p.outcomes),
            fallback: p
                .fallback
                .as_ref()
                .map(|f| Box::new(PolicyFallback::new(f, &p.name))),
            fallback_log: Repeat::default(),
            unhealthy_log: Repeat::default(),
            stats: PolicyStats::default(),
            touched: false,
            listed: false,
        }
    }

    /// The router headers for a request (gRPC or not, in `scope`) granted `retries` retries.
    pub(crate) fn headers(&self, retries: u32, grpc: bool, scope: Scope) -> &[(String, String)] {
        match &self.retry {
            Some(r) => r.headers.with_retries(retries, grpc, scope),
            None => &self.plain_headers,
        }
    }
}
