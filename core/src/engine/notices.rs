//! Notices: what an operator should read in the logs besides breaker transitions (those are
//! [`super::EngineEvent`]s), queued by the engine and drained by the adapters with
//! [`Engine::poll_notice`].
//!
//! Each is written by the one engine that caused it, so a fleet of workers logs one line per
//! happening, not one per worker: a health change by the worker whose write changed the mark,
//! a reset by the worker that served it. The lines that traffic repeats (requests routed to an
//! unhealthy dependency, fallbacks) are rate-limited per policy and engine to one per
//! [`REPEAT_INTERVAL`], each saying how many requests it stands for.

use std::collections::VecDeque;

use rand_core::RngCore;

use crate::breaker::State;
use crate::reply::RejectReason;
use crate::store::SharedStore;
use crate::time::Nanos;

use super::Engine;
use super::fallback::FallbackKind;
use super::keyed::KeyRef;
use super::respond::RetriesExhausted;

/// At most one repeated notice per policy and kind per engine in this long.
pub const REPEAT_INTERVAL: Nanos = Nanos::from_secs(10);

/// Notices kept for [`Engine::poll_notice`] before the oldest are dropped.
const MAX_NOTICES: usize = 256;

/// Something for the log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Notice {
    /// Policy `policy`'s dependency was marked unhealthy (`healthy: false`, a warning) or
    /// healthy again.
    HealthChanged {
        /// Policy index.
        policy: usize,
        /// The new mark.
        healthy: bool,
        /// The score in [0, 1] after the change.
        score: f64,
    },
    /// Requests were routed to policy `policy` while it was marked unhealthy (a warning):
    /// `requests` since the last such notice.
    UnhealthyTraffic {
        /// Policy index.
        policy: usize,
        /// Requests this notice stands for.
        requests: u64,
        /// The score in [0, 1].
        score: f64,
    },
    /// Policy `policy`'s breaker was reset by an operator (from `from`).
    Reset {
        /// Policy index.
        policy: usize,
        /// The state it was reset from.
        from: State,
    },
    /// A request's retries did not save it (a warning, one per request: its line names the
    /// attempts and the last answer).
    RetriesExhausted(RetriesExhausted),
    /// A refusal for `reason` was replaced by policy `policy`'s fallback.
    Fallback {
        /// Policy index.
        policy: usize,
        /// The refusal replaced.
        reason: RejectReason,
        /// Reply or reroute.
        kind: FallbackKind,
    },
}

impl Notice {
    /// The index of the policy it is about.
    pub fn policy(&self) -> usize {
        match *self {
            Notice::HealthChanged { policy, .. }
            | Notice::UnhealthyTraffic { policy, .. }
            | Notice::Reset { policy, .. }
            | Notice::Fallback { policy, .. } => policy,
            Notice::RetriesExhausted(e) => e.policy,
        }
    }
}

/// Rate limiting of one repeated notice, per policy.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Repeat {
    /// When the last notice went out (`None`: never).
    last: Option<Nanos>,
    /// Occurrences since.
    pending: u64,
}

impl Repeat {
    /// Counts one occurrence; `Some(n)` when a notice standing for `n` is due at `now`.
    pub(crate) fn hit(&mut self, now: Nanos) -> Option<u64> {
        self.pending += 1;
        let due = self
            .last
            .is_none_or(|t| now.saturating_since(t) >= REPEAT_INTERVAL || now < t);
        if !due {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

/// The queue of notices.
#[derive(Debug, Default)]
pub(crate) struct Notices(VecDeque<Notice>);

impl Notices {
    pub(super) fn push(&mut self, n: Notice) {
        if self.0.len() >= MAX_NOTICES {
            self.0.pop_front(); // an adapter that never polls must not make the engine grow
        }
        self.0.push_back(n);
    }
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// The next notice for the log, oldest first.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.0.pop_front()
    }

    /// Queues a notice at `now`; repeated ones ([`Notice::Fallback`]) are rate-limited here.
    pub(super) fn push_notice(&mut self, now: Nanos, n: Notice) {
        if let Notice::Fallback { policy, .. } = n
            && self.policies[policy].fallback_log.hit(now).is_none()
        {
            return;
        }
        self.notices.push(n);
    }

    /// After a write of policy `pi`'s breaker (`key`: a keyed breaker's key, `None` for the
    /// policy's own cell): queues the health change it made, if any.
    #[inline]
    pub(super) fn note_health(&mut self, pi: usize, key: Option<KeyRef>) {
        let Some(b) = &mut self.policies[pi].breaker else {
            return;
        };
        let (_, Some(cell)) = b.parts(key) else {
            return;
        };
        if let Some(unhealthy) = cell.health_change.take() {
            let score = cell.cached.health.score_fraction();
            self.notices.push(Notice::HealthChanged {
                policy: pi,
                healthy: !unhealthy,
                score,
            });
        }
    }

    /// A request was routed to policy `pi` (under `key`'s breaker): counted, and noticed
    /// (rate-limited) when that dependency is marked unhealthy.
    #[inline]
    pub(super) fn note_routed(&mut self, pi: usize, key: Option<KeyRef>, now: Nanos) {
        let p = &mut self.policies[pi];
        let Some(b) = &mut p.breaker else {
            return;
        };
        let (_, Some(cell)) = b.parts(key) else {
            return;
        };
        let health = cell.cached.health;
        if !health.unhealthy {
            return;
        }
        p.stats.unhealthy_requests += 1;
        if let Some(requests) = p.unhealthy_log.hit(now) {
            self.notices.push(Notice::UnhealthyTraffic {
                policy: pi,
                requests,
                score: health.score_fraction(),
            });
        }
    }
}
