//! The engine: one object per worker that turns requests and responses into decisions.
//!
//! quinn-proto's shape: inputs are method calls that take `now`; outputs are return values
//! ([`Decision`]), queued [`Action`]s for requests that were paused, and [`EngineEvent`]s for
//! logs; [`Engine::poll_timeout`] says when to call [`Engine::handle_timeout`] again. The
//! adapter owns the clock, the sockets and the host; the engine owns the policy.
//!
//! Per request, in order: pick the first matching policy; ask its breaker (reject while open);
//! apply failure injection (abort now, or hold for a delay); take a bulkhead permit (or wait in
//! the queue until a deadline, or reject when the queue is full); then proceed with the router
//! headers that grant retries within the retry budget (none while the breaker probes). When the
//! response comes, classify it, feed the breaker, return the permit, and wake the next waiter.
//!
//! Every resource a request takes (probe lease, bulkhead permit, queue place, injection slot) is
//! held in its slot and returned exactly once, by whichever of [`Engine::on_response`],
//! [`Engine::cancel`] or a timeout ends it.

mod admin;
mod admit;
mod fallback;
mod header_sets;
mod interned;
mod keyed;
mod link;
mod log_lines;
mod matching;
pub mod metrics;
mod notices;
mod operator;
mod permits;
mod policy;
mod registry;
mod respond;
mod settle;
mod shared;
mod slots;
mod status;
mod timers;
mod timing;

#[cfg(test)]
mod tests;

/// The failure-injection header, also here where the engine that reads it lives.
pub use crate::injection::FAULT_HEADER;
pub use admin::{AdminReply, query_value, split_path, wants_text};
pub use fallback::FallbackKind;
pub use keyed::KeyRef;
pub use log_lines::LogLevel;
pub use matching::INDEX_FROM;
pub use notices::{Notice, REPEAT_INTERVAL};
pub use operator::{BreakerStatistics, HealthView, ResetError};
pub use permits::{MAX_SPARES, MIN_HOLDER_LEASE, SPARE_DIVISOR};
pub use policy::{PolicyStats, StatRead};
pub use respond::{
    EXHAUSTED_MARK, MAX_ATTEMPT_LABEL, ResponseVerdict, RetriesExhausted, RetryStats,
};
pub use shared::{MAX_CAS_ATTEMPTS, SyncStats};
pub use slots::Ticket;
pub use status::{KeyStatus, PolicyStatus};
pub use timing::{MAX_TIMINGS, Timing, TimingKind};

use std::collections::VecDeque;

use rand_core::RngCore;

use crate::breaker::{State, Transition};
use crate::config::Config;
use crate::reply::LocalReply;
use crate::store::SharedStore;
use crate::time::Nanos;

use metrics::PolicyGauges;
use policy::PolicyRt;
use slots::Slots;
use timing::Timings;

/// What to do with a new request.
#[derive(Debug)]
#[must_use]
pub enum Decision {
    /// No policy matched: forward it untouched and do not report back.
    Pass,
    /// Forward it with [`Engine::request_headers`] added; report the outcome with
    /// [`Engine::on_response`].
    Proceed {
        /// The request's ticket.
        ticket: Ticket,
    },
    /// Hold it (an injected delay) until `until`; an [`Action`] will say what next.
    Delay {
        /// The request's ticket.
        ticket: Ticket,
        /// When the delay ends (call [`Engine::handle_timeout`] then).
        until: Nanos,
    },
    /// Hold it (waiting for a bulkhead permit) at most until `until`; an [`Action`] will say
    /// whether it proceeds or is refused.
    Queue {
        /// The request's ticket.
        ticket: Ticket,
        /// The queue deadline.
        until: Nanos,
    },
    /// Answer it now with this local reply; nothing to report back.
    Reject {
        /// The reply to send.
        reply: LocalReply,
    },
}

/// What to do with a request that was held.
#[derive(Debug)]
#[must_use]
pub enum Action {
    /// Forward it now with [`Engine::request_headers`] added.
    Resume {
        /// The request's ticket.
        ticket: Ticket,
    },
    /// Answer it with this local reply; the ticket is finished.
    Reply {
        /// The request's ticket.
        ticket: Ticket,
        /// The reply to send.
        reply: LocalReply,
    },
}

/// Something worth a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineEvent {
    /// Index of the policy in the configuration.
    pub policy: usize,
    /// The breaker transition.
    pub transition: Transition,
    /// Which key's breaker moved, for a keyed breaker (`None`: the policy's own, which is the
    /// catch-all of a keyed one); its name is [`Engine::key_name`].
    pub key: Option<KeyRef>,
}

/// The resilience engine of one worker. Engines over clones of one [`SharedStore`] share
/// breaker and bulkhead state exactly as Envoy workers do.
#[derive(Debug)]
pub struct Engine<S: SharedStore, R: RngCore> {
    service: String,
    sync_interval: Nanos,
    next_sync: Nanos,
    store: S,
    rng: R,
    policies: Vec<PolicyRt>,
    slots: Slots,
    actions: VecDeque<Action>,
    events: VecDeque<EngineEvent>,
    /// Requests whose retries were exhausted, for log lines ([`Engine::poll_exhausted`]).
    timings: Timings,
    /// The way to the store, with the shared-state counters.
    link: link::StoreLink,
    scratch: Vec<Ticket>,
    /// The first [`Engine::header_set`] number of each policy.
    header_bases: Vec<u32>,
    /// Policies filed by what they match on (`None` for a handful: the scan is as fast).
    index: Option<matching::MatchIndex>,
    /// Policies that may have waiters in their bulkhead queue (the deadlines to watch).
    waiting: Vec<usize>,
    /// Where the next sync's idle refreshes start (they go round the policies in turn).
    idle_cursor: usize,
    /// Policies whose counters or view may have changed since [`Engine::take_changed`] last
    /// ran (each once: `PolicyRt::listed`).
    changed: Vec<usize>,
    /// Policies whose gauges read something other than idle (a breaker not closed, permits
    /// or places held) when last taken: reported again until they read idle.
    holding: Vec<usize>,
    /// Notices for the log ([`Engine::poll_notice`]).
    notices: notices::Notices,
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// Builds the engine, creating its shared-state keys in `store` when missing.
    pub fn new(config: &Config, store: S, mut rng: R, now: Nanos) -> Self {
        // This engine's identity in shared bulkhead tables: random, so every VM (and every VM
        // that replaces a dead one) has its own row.
        // (Never 0: that id marks a restored table, see `bulkhead::Holders`.)
        let holder = rng.next_u64().max(1);
        let lease = config.sync_interval.saturating_mul(HOLDER_LEASE_SYNCS);
        let grace = config.sync_interval.saturating_mul(RESTORE_GRACE_SYNCS);
        let mut tables = interned::Tables::default();
        let mut link = link::StoreLink::new(config.sync_interval);
        let policies: Vec<PolicyRt> = config
            .policies
            .iter()
            .map(|p| {
                PolicyRt::new(
                    &config.service,
                    p,
                    (&store, &mut link),
                    now,
                    (holder, lease, grace),
                    &mut tables,
                )
            })
            .collect();
        let header_bases = header_sets::bases(&policies);
        let index = matching::MatchIndex::new(policies.iter().map(|p| &p.matcher));
        // Small configurations report every policy at once: series at zero from the start.
        let mut policies = policies;
        let changed: Vec<usize> = if policies.len() <= SERIES_AT_START {
            policies.iter_mut().for_each(|p| p.listed = true);
            (0..policies.len()).collect()
        } else {
            Vec::new()
        };
        Engine {
            service: config.service.clone(),
            sync_interval: config.sync_interval,
            next_sync: now + config.sync_interval,
            store,
            rng,
            policies,
            slots: Slots::default(),
            actions: VecDeque::with_capacity(64),
            events: VecDeque::with_capacity(16),

            timings: Timings::default(),
            link,
            scratch: Vec::with_capacity(16),
            header_bases,
            index,
            waiting: Vec::new(),
            idle_cursor: 0,
            changed,
            holding: Vec::new(),
            notices: notices::Notices::default(),
        }
    }

    /// The headers to add toward the upstream for a proceeding request (router retry and
    /// timeout headers). Empty for unknown tickets.
    pub fn request_headers(&self, ticket: Ticket) -> &[(String, String)] {
        match self.slots.get(ticket) {
            Some(s) if s.rerouted => self.reroute_headers(s.policy),
            Some(s) => self.policies[s.policy].headers(s.retries, s.grpc, s.scope),
            None => &[],
        }
    }

    /// The next queued action for a held request.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// How many actions [`Engine::poll_action`] holds. Besides [`Engine::handle_timeout`], only
    /// [`Engine::on_response`] and [`Engine::cancel`] add any (a returned bulkhead permit
    /// resumes the next queued request), so a host that crosses a costly boundary per call
    /// asks after those instead of polling after every request.
    pub fn pending_actions(&self) -> usize {
        self.actions.len()
    }

    /// The next event (breaker transitions), for logs.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    /// The next measured duration (request durations, queue waits), for histograms. Drain
    /// them regularly: at most [`MAX_TIMINGS`] wait, the oldest go first.
    pub fn poll_timing(&mut self) -> Option<Timing> {
        self.timings.pop()
    }

    /// Whether policy `index` measures durations of `kind`: every policy measures requests,
    /// only a bulkhead with a queue measures queue waits (so an adapter defines only the
    /// histograms that can fill).
    pub fn measures(&self, index: usize, kind: TimingKind) -> bool {
        let Some(p) = self.policies.get(index) else {
            return false;
        };
        match kind {
            TimingKind::Request => true,
            TimingKind::QueueWait => p.bulkhead.as_ref().is_some_and(|b| b.config.queue_size > 0),
        }
    }

    /// Policy `index`'s gauges at `now` ([`metrics::GAUGES`]): the breaker state as reported
    /// ([`Engine::breaker_state_at`]), bulkhead use across workers as this engine last saw it,
    /// and the bulkhead's limits; `None` for an unknown policy.
    pub fn gauges(&self, index: usize, now: Nanos) -> Option<PolicyGauges> {
        let p = self.policies.get(index)?;
        let b = p.bulkhead.as_ref();
        Some(PolicyGauges {
            breaker_state: p.breaker.as_ref().map(|b| b.reported_state(now).gauge()),
            bulkhead_inflight: b.map(|b| u64::from(b.cell.cached.inflight)),
            bulkhead_queued: b.map(|b| u64::from(b.cell.cached.queued)),
            bulkhead_max_concurrent: b.map(|b| u64::from(b.config.max_concurrent)),
            bulkhead_max_queued: b.map(|b| u64::from(b.config.queue_size)),
            healthy: p
                .breaker
                .as_ref()
                .map(|b| u64::from(!b.cell.cached.health.unhealthy)),
            health_score_percent: p
                .breaker
                .as_ref()
                .map(|b| u64::from(b.cell.cached.health.score.div_ceil(10))),
        })
    }

    /// Policy names, in configuration order (event and stats indices refer to these).
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.name.as_str())
    }

    /// Policy `index`'s name (`None` for an unknown index).
    pub fn policy_name(&self, index: usize) -> Option<&str> {
        self.policies.get(index).map(|p| p.name.as_str())
    }

    /// How many policies the engine has.
    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    /// The policies an adapter should export metrics for now, into `out` (cleared first): those
    /// with traffic or a refreshed view since the last call, and those whose gauges did not
    /// read idle then (an open breaker turns half-open with time alone, a permit held by
    /// another worker is returned without traffic here), each once, ascending.
    ///
    /// The rest cost an adapter nothing: a gateway with 10,000 policies and traffic on a few
    /// defines, reads and flushes the metrics of those few (issue 20).
    ///
    /// The first call lists every policy when there are at most [`SERIES_AT_START`]: their
    /// series exist, at zero, before any traffic, as Prometheus wants (its `rate()` cannot see
    /// the first increment of a series born with it). Beyond that, a policy's series appear
    /// when it first has something to report: defining 18 metrics for each of 10,000 policies
    /// on every VM cost more at start than the whole configuration.
    pub fn take_changed(&mut self, now: Nanos, out: &mut Vec<usize>) {
        out.clear();
        out.append(&mut self.changed);
        for &pi in &self.holding {
            if !self.policies[pi].listed {
                out.push(pi);
            }
        }
        for &pi in out.iter() {
            self.policies[pi].listed = false;
        }
        out.sort_unstable();
        out.dedup();
        self.holding.clear();
        for &pi in out.iter() {
            if self.gauges(pi, now).is_some_and(|g| !g.idle()) {
                self.holding.push(pi);
            }
        }
    }

    /// Notes traffic on policy `pi`: synced on the next tick, reported on the next
    /// [`Engine::take_changed`].
    pub(super) fn touch(&mut self, pi: usize) {
        self.policies[pi].touched = true;
        self.note_changed(pi);
    }

    /// Lists policy `pi` for the next [`Engine::take_changed`].
    pub(super) fn note_changed(&mut self, pi: usize) {
        let p = &mut self.policies[pi];
        if !p.listed {
            p.listed = true;
            self.changed.push(pi);
        }
    }

    /// Counters of policy `index` on this engine.
    pub fn stats(&self, index: usize) -> Option<PolicyStats> {
        self.policies.get(index).map(|p| p.stats)
    }

    /// Counters of the shared-state machinery.
    pub fn sync_stats(&self) -> SyncStats {
        self.link.stats
    }

    /// Whether the engine would call its store at `now`: false for one sync interval after a
    /// call failed with [`crate::store::StoreError::Unavailable`] (the engine then decides from
    /// its cached view, see the `engine::shared` docs). For a host's health report.
    pub fn store_reachable(&self, now: Nanos) -> bool {
        self.link.reachable(now)
    }

    /// Requests currently tracked (proceeding, held or queued).
    pub fn tracked(&self) -> usize {
        self.slots.len()
    }

    /// The breaker state of policy `index` to report at `now` (`None`: no breaker): what the
    /// status endpoint, the state gauge and the WIT show. A `forced_open` breaker is open, and an
    /// open breaker past its open time is half-open although no call has moved it there yet.
    pub fn breaker_state_at(&self, index: usize, now: Nanos) -> Option<State> {
        let b = self.policies.get(index)?.breaker.as_ref()?;
        Some(b.reported_state(now))
    }

    /// The breaker state machine of policy `index` as this engine last saw it (`None`: no
    /// breaker), without accounting for the mode or the time: for reports use
    /// [`Engine::breaker_state_at`].
    pub fn breaker_state(&self, index: usize) -> Option<State> {
        self.policies
            .get(index)?
            .breaker
            .as_ref()
            .map(|b| b.cell.cached.state)
    }

    /// Bulkhead permits in use and requests queued across workers for policy `index`, as this
    /// engine last saw them (`None`: no bulkhead).
    pub fn bulkhead_counts(&self, index: usize) -> Option<(u32, u32)> {
        let b = self.policies.get(index)?.bulkhead.as_ref()?;
        Some((b.cell.cached.inflight, b.cell.cached.queued))
    }

    /// Retries granted to the router for `ticket` (0 for unknown tickets), so an adapter asks
    /// the host how many attempts were made only when retries were possible.
    pub fn granted_retries(&self, ticket: Ticket) -> u32 {
        self.slots.get(ticket).map_or(0, |s| s.retries)
    }

    /// The shared store this engine writes to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The service name from the configuration.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The name of `key` of policy `policy`'s breaker (for an [`EngineEvent`]'s log line);
    /// `None` if this engine no longer holds it (evicted since).
    pub fn key_name(&self, policy: usize, key: KeyRef) -> Option<&str> {
        self.policies
            .get(policy)?
            .breaker
            .as_ref()?
            .keyed
            .as_ref()?
            .name(key)
    }

    fn push_transition(&mut self, policy: usize, key: Option<KeyRef>, t: Transition) {
        record_transition(
            &mut self.events,
            &mut self.policies[policy].stats,
            (policy, key),
            t,
        );
    }
}

/// A holder's row in a shared bulkhead table outlives this many sync intervals of silence (and
/// at least [`MIN_HOLDER_LEASE`]): then its engine is taken for dead and its permits return.
pub const HOLDER_LEASE_SYNCS: u64 = 50;

/// After a store lost a bulkhead table, nobody takes from the table written again for this many
/// sync intervals: every live engine's sync writes its row back first (see `engine::permits`).
pub const RESTORE_GRACE_SYNCS: u64 = 2;

/// Idle policies whose view a sync refreshes, in turn (busy ones are always synchronised).
pub const IDLE_REFRESHES: usize = 4;

/// Up to this many policies, [`Engine::take_changed`] lists every policy on its first call, so
/// adapters create every series at zero before traffic; beyond, series appear with a policy's
/// first report (`loadgen scale`: 10,000 policies' metrics defined up front cost each wasm VM
/// ~0.2 s and ~2 KB of Envoy stats per policy).
pub const SERIES_AT_START: usize = 1_000;

/// Events kept for [`Engine::poll_event`] before the oldest are dropped.
const MAX_EVENTS: usize = 256;

/// Queues a transition event and counts openings.
fn record_transition(
    events: &mut VecDeque<EngineEvent>,
    stats: &mut PolicyStats,
    (policy, key): (usize, Option<KeyRef>),
    transition: Transition,
) {
    if transition.to == State::Open {
        stats.transitions_to_open += 1;
    }
    if events.len() >= MAX_EVENTS {
        events.pop_front(); // an adapter that never polls must not make the engine grow
    }
    events.push_back(EngineEvent {
        policy,
        transition,
        key,
    });
}
