//! The response side of retries: what the router's final answer says about them.
//!
//! Envoy's router retries by itself (see [`crate::retry::headers`]), so breakwater learns how
//! a retried request went only from its final answer and the router's attempt count
//! (`upstream.request_attempt_count`). Two moments matter:
//!
//! - **Response headers** ([`Engine::on_response_headers`]): the last moment the answer can
//!   still be changed. A failure after the router retried is *marked*
//!   (`x-breakwater: retries_exhausted`), so a client or an operator tells "the upstream failed
//!   even after retries" from "the upstream failed once"; and with the policy's
//!   `retry.rewrite_upstream_errors`, Envoy's own plaintext replies to an upstream failure
//!   (connect failure, reset, timeout) are *replaced* by the contract's reply
//!   ([`RejectReason::RetriesExhausted`], [`RejectReason::NetworkError`],
//!   [`RejectReason::UpstreamTimeout`]). Pure and cheap: it reads the slot and the policy and
//!   changes nothing, so an adapter may call it for every answer.
//! - **Stream end** ([`Engine::on_response`], through [`Engine::record_attempts`]): the counts.
//!   Each answered request of a policy with a `retry` section counts its attempts by number
//!   (`retry_attempts_total{attempt}`: attempt 1 is every answered request, attempt 2 every
//!   first retry, ...) and, when it succeeded, the attempt that did
//!   (`retry_successes_total{attempt}`); a request that was retried and still failed counts
//!   in `retries_exhausted_total` and queues a [`Notice::RetriesExhausted`] for a warning. The final
//!   outcome decides here (a gRPC status in the trailers is known only then), so a streamed
//!   gRPC failure is counted although its headers could not be marked.
//!
//! The attempt label is bounded: attempts are counted up to the policy's `max_retries + 1`
//! (at most [`MAX_ATTEMPT_LABEL`]); a larger count the router reports lands on the last.

use rand_core::RngCore;

use crate::outcome::{Outcome, OutcomeKind};
use crate::reply::{LocalReply, RejectReason};
use crate::retry::config::MAX_RETRIES_LIMIT;
use crate::store::SharedStore;
use crate::time::Nanos;

use super::Engine;
use super::notices::Notice;
use super::slots::{Phase, Slot, Ticket};

/// The largest `attempt` label value: the first attempt and [`MAX_RETRIES_LIMIT`] retries.
pub const MAX_ATTEMPT_LABEL: usize = MAX_RETRIES_LIMIT as usize + 1;

/// The header that marks an upstream's failed answer after retries.
pub const EXHAUSTED_MARK: (&str, &str) = ("x-breakwater", "retries_exhausted");

/// What to do with the response headers of a request the engine let through.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum ResponseVerdict {
    /// Pass the answer unchanged.
    Pass,
    /// Pass it with [`EXHAUSTED_MARK`] added: the router retried and the answer is a failure.
    Mark,
    /// Answer with this reply instead of Envoy's own upstream-failure reply (the policy's
    /// `retry.rewrite_upstream_errors`).
    Replace(LocalReply),
}

/// Attempt counts of one policy with a `retry` section, indexed by attempt number − 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryStats {
    /// Answered requests that made at least this many attempts.
    pub attempts: [u64; MAX_ATTEMPT_LABEL],
    /// Requests that succeeded on this attempt.
    pub successes: [u64; MAX_ATTEMPT_LABEL],
}

/// A request whose retries did not save it: worth a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetriesExhausted {
    /// Index of the policy in the configuration.
    pub policy: usize,
    /// Attempts the router made, the first included.
    pub attempts: u32,
    /// The last attempt's outcome.
    pub last: Outcome,
}

impl RetriesExhausted {
    /// The last outcome as one word: `http_503`, `grpc_14`, `reset`, `connect_failure`,
    /// `timeout` (`no_status` for an answer without one).
    pub fn last_answer(&self) -> String {
        match (self.last.kind, self.last.grpc_status, self.last.http_status) {
            (OutcomeKind::Response, Some(g), _) => format!("grpc_{g}"),
            (OutcomeKind::Response, None, Some(h)) => format!("http_{h}"),
            (OutcomeKind::Response, None, None) => "no_status".to_owned(),
            (OutcomeKind::Reset, ..) => "reset".to_owned(),
            (OutcomeKind::ConnectFailure, ..) => "connect_failure".to_owned(),
            (OutcomeKind::Timeout, ..) => "timeout".to_owned(),
        }
    }

    /// The warning both Envoy adapters log, one structured line:
    /// `breakwater retries_exhausted service=… policy=… attempts=3 last=http_503`.
    pub fn log_line(&self, service: &str, policy: &str) -> String {
        format!(
            "breakwater retries_exhausted service={service} policy={policy} attempts={} last={}",
            self.attempts,
            self.last_answer()
        )
    }
}

/// The router retried a request that was granted retries (its answer decides the rest).
fn retried_in_vain(slot: &Slot, attempts: u32) -> bool {
    slot.retries > 0 && attempts > 1
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// Decides what happens to the response headers of `ticket`, before they go downstream.
    /// `outcome` is the answer as known then ([`crate::outcome::observed::Observed::outcome`]
    /// with Envoy's response code details for a 503 or 504), `attempts` the router's attempt
    /// count (1 when [`Engine::granted_retries`] is 0: no need to ask the host). Changes
    /// nothing: the counts come with [`Engine::on_response`]. `now` dates the `retry_after` of a
    /// replacement (while the policy's breaker refuses).
    pub fn on_response_headers(
        &self,
        now: Nanos,
        ticket: Ticket,
        outcome: &Outcome,
        attempts: u32,
    ) -> ResponseVerdict {
        // A rerouted request's answer is the fallback service's, not the policy's to judge.
        let Some(slot) = self.slots.get(ticket).filter(|s| !s.rerouted) else {
            return ResponseVerdict::Pass;
        };
        let p = &self.policies[slot.policy];
        let Some(r) = p.retry.as_ref().filter(|_| slot.phase == Phase::Running) else {
            return ResponseVerdict::Pass;
        };
        let exhausted = self.exhausted(slot, outcome, attempts);
        if outcome.kind != OutcomeKind::Response && r.rewrite_upstream_errors {
            let reason = match outcome.kind {
                _ if exhausted => RejectReason::RetriesExhausted { attempts },
                OutcomeKind::Timeout => RejectReason::UpstreamTimeout,
                _ => RejectReason::NetworkError,
            };
            let retry_after = p.breaker.as_ref().and_then(|b| b.reported_wait(now));
            return ResponseVerdict::Replace(self.reply(
                slot.policy,
                reason,
                slot.grpc,
                retry_after,
            ));
        }
        if exhausted {
            ResponseVerdict::Mark
        } else {
            ResponseVerdict::Pass
        }
    }

    /// Whether `outcome` after `attempts` means the retries granted to `slot` did not help:
    /// the router retried, and the answer is a failure by the policy's outcome rules.
    fn exhausted(&self, slot: &Slot, outcome: &Outcome, attempts: u32) -> bool {
        retried_in_vain(slot, attempts)
            && self.policies[slot.policy]
                .classifier
                .classify(&outcome.for_request(slot.grpc))
                .failure
    }

    /// Counts a final answer's attempts (see the module docs); called by
    /// [`Engine::on_response`].
    pub(super) fn record_attempts(&mut self, slot: &Slot, outcome: &Outcome, attempts: u32) {
        let p = &mut self.policies[slot.policy];
        let Some(r) = &mut p.retry else {
            return;
        };
        // One classification serves both counts.
        let failed = p
            .classifier
            .classify(&outcome.for_request(slot.grpc))
            .failure;
        let exhausted = failed && retried_in_vain(slot, attempts);
        let cap = (r.headers.max_retries() as usize + 1).min(MAX_ATTEMPT_LABEL);
        let made = (attempts.max(1) as usize).min(cap);
        for n in &mut r.stats.attempts[..made] {
            *n += 1;
        }
        if !failed {
            r.stats.successes[made - 1] += 1;
        }
        if exhausted {
            p.stats.retries_exhausted += 1;
            self.notices
                .push(Notice::RetriesExhausted(RetriesExhausted {
                    policy: slot.policy,
                    attempts,
                    last: *outcome,
                }));
        }
    }

    /// Policy `index`'s attempt counts (`None`: no such policy, or no `retry` section).
    pub fn retry_stats(&self, index: usize) -> Option<&RetryStats> {
        self.policies.get(index)?.retry.as_ref().map(|r| &r.stats)
    }

    /// The `attempt` label values policy `index` exports: 1 to its `max_retries + 1` (none
    /// without a `retry` section).
    pub fn attempt_labels(&self, index: usize) -> std::ops::Range<usize> {
        match self.policies.get(index).and_then(|p| p.retry.as_ref()) {
            Some(r) => 1..(r.headers.max_retries() as usize + 2).min(MAX_ATTEMPT_LABEL + 1),
            None => 1..1,
        }
    }
}
