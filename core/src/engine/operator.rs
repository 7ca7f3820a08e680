//! What an operator asks of a policy beyond its status: its breaker's statistics (source 003:
//! total, successful, failed and rejected calls, and state changes), its health view (source
//! 004), and a reset (source 003's `reset()`: closed, counters cleared).
//!
//! The statistics and the health view come from the breaker's shared snapshot, so they are the
//! fleet's, not one worker's (rejections from a worker's cached view reach the snapshot with its
//! next sync, within `sync_interval_ms`). A reset is one compare-and-swap on that snapshot: every
//! worker sees the closed breaker with its next refresh, exactly as it sees one opened elsewhere.

use rand_core::RngCore;

use crate::breaker::{Event, Health, State};
use crate::random::unit_f64;
use crate::store::SharedStore;
use crate::time::Nanos;

use super::Engine;
use super::notices::Notice;

/// A breaker's statistics (source 003's `stats`), across every engine over the same store,
/// since the breaker was created or last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BreakerStatistics {
    /// Calls whose outcome was recorded.
    pub total_calls: u64,
    /// Of those, successes.
    pub successful_calls: u64,
    /// Of those, failures.
    pub failed_calls: u64,
    /// Calls the breaker rejected (counted apart from `total_calls`; in `shadow` mode, calls it
    /// would have rejected).
    pub rejected_calls: u64,
    /// State changes.
    pub state_changes: u64,
}

/// A policy's health view (see [`crate::breaker::health`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct HealthView {
    /// Not marked unhealthy.
    pub healthy: bool,
    /// The score in [0, 1].
    pub score: f64,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Successes in a row.
    pub consecutive_successes: u32,
}

impl From<Health> for HealthView {
    fn from(h: Health) -> Self {
        HealthView {
            healthy: !h.unhealthy,
            score: h.score_fraction(),
            consecutive_failures: h.consecutive_failures,
            consecutive_successes: h.consecutive_successes,
        }
    }
}

/// Why a reset did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetError {
    /// No policy has that name (or index).
    UnknownPolicy,
    /// The policy has no breaker (or its breaker is `disabled`).
    NoBreaker,
    /// The shared store could not be written (it was unavailable, or the write kept losing
    /// races): nothing was reset; try again.
    StoreUnavailable,
}

impl ResetError {
    /// A short sentence for replies and logs.
    pub fn message(self) -> &'static str {
        match self {
            ResetError::UnknownPolicy => "no such policy",
            ResetError::NoBreaker => "the policy has no breaker",
            ResetError::StoreUnavailable => "the shared state could not be written; try again",
        }
    }
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// Policy `index`'s breaker statistics as this engine last saw them (`None`: no such policy,
    /// or no breaker).
    pub fn breaker_statistics(&self, index: usize) -> Option<BreakerStatistics> {
        let b = self.policies.get(index)?.breaker.as_ref()?;
        let s = b.cell.cached.stats;
        Some(BreakerStatistics {
            total_calls: s.calls,
            successful_calls: s.successes,
            failed_calls: s.failures,
            rejected_calls: s.rejected,
            state_changes: s.transitions,
        })
    }

    /// Policy `index`'s health view as this engine last saw it (`None`: no such policy, or no
    /// breaker, which keeps the view).
    pub fn health(&self, index: usize) -> Option<HealthView> {
        let b = self.policies.get(index)?.breaker.as_ref()?;
        Some(b.cell.cached.health.into())
    }

    /// The index of the policy named `name`.
    pub fn policy_index(&self, name: &str) -> Option<usize> {
        self.policies.iter().position(|p| p.name == name)
    }

    /// Resets policy `index`'s breaker at `now`: closed, its counts, statistics and health view
    /// cleared, every probe lease void, for every engine over the same store; a keyed breaker's
    /// keys are all evicted (each starts again closed when it next comes). Counted
    /// (`breaker_resets_total`) and noticed ([`Notice::Reset`]) on this engine; a transition to
    /// closed (reason `reset`) is queued when it was not closed. Returns the state it was reset
    /// from (as reported at `now`).
    pub fn reset(&mut self, now: Nanos, index: usize) -> Result<State, ResetError> {
        let unit = unit_f64(&mut self.rng);
        let p = self
            .policies
            .get_mut(index)
            .ok_or(ResetError::UnknownPolicy)?;
        let b = p.breaker.as_mut().ok_or(ResetError::NoBreaker)?;
        let from = b.reported_state(now);
        // A keyed breaker's keys go first: every key starts again from a fresh breaker.
        if let Some(k) = &mut b.keyed
            && !k.forget_keys(&self.store, &mut self.link, now)
        {
            return Err(ResetError::StoreUnavailable);
        }
        let (_, transitions) = b
            .cell
            .apply(
                &b.config,
                &self.store,
                &mut self.link,
                now,
                Some(Event::Reset),
                unit,
            )
            .ok_or(ResetError::StoreUnavailable)?;
        // The health mark a reset clears is not a health change to warn about.
        b.cell.health_change = None;
        p.stats.resets += 1;
        for t in transitions.into_iter().flatten() {
            self.push_transition(index, None, t);
        }
        self.touch(index);
        self.push_notice(
            now,
            Notice::Reset {
                policy: index,
                from,
            },
        );
        Ok(from)
    }
}
