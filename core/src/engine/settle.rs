//! The request path on the way out: classify the outcome, feed the breaker, settle the retry
//! budget, and return every resource the request's slot holds (probe lease, bulkhead permit or
//! queue place, injection slot) exactly once, however the request ends: a response, a cancel,
//! a refusal or a timeout.

use rand_core::RngCore;

use crate::breaker::{Event, Mode, State};
use crate::outcome::Outcome;
use crate::random::unit_f64;
use crate::store::SharedStore;
use crate::time::Nanos;

use super::permits::Op;
use super::slots::{Phase, Slot, Ticket};
use super::timing::TimingKind;
use super::{Action, Engine};

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// Reports the final outcome of a proceeding request. `attempts` is how many upstream
    /// attempts the router made (1 without retries; Envoy's `upstream.request_attempt_count`).
    /// A request still held (delayed or queued) is cancelled instead.
    pub fn on_response(&mut self, now: Nanos, ticket: Ticket, outcome: &Outcome, attempts: u32) {
        let Some(slot) = self.slots.get(ticket).copied() else {
            return;
        };
        if slot.phase != Phase::Running {
            self.cancel(now, ticket);
            return;
        }
        if slot.rerouted {
            // Another upstream's answer: counted as a fallback when it was rerouted.
            self.slots.remove(ticket);
            return;
        }
        // Admitted at `started` (when it was forwarded), answered now.
        self.timings.record(
            slot.policy,
            TimingKind::Request,
            now.saturating_since(slot.started),
        );
        self.record_attempts(&slot, outcome, attempts);
        let p = &mut self.policies[slot.policy];
        p.stats.responses += 1;
        let retries = attempts.saturating_sub(1);
        if retries > 0 {
            p.stats.retries_made += u64::from(retries);
            if let Some(r) = &mut p.retry {
                r.budget.record_retries(now, retries);
            }
        }
        self.finish(now, ticket, Some(outcome));
    }

    /// Ends a request without an outcome (the client went away, or the host dropped it):
    /// returns whatever it held; the breaker learns nothing from it.
    pub fn cancel(&mut self, now: Nanos, ticket: Ticket) {
        if let Some(slot) = self.slots.get(ticket) {
            if slot.rerouted {
                self.slots.remove(ticket);
                return;
            }
            self.policies[slot.policy].stats.cancelled += 1;
        }
        self.finish(now, ticket, None);
    }

    /// Removes the slot and returns everything it held, exactly once; with an outcome, reports
    /// it to the breaker.
    pub(super) fn finish(&mut self, now: Nanos, ticket: Ticket, outcome: Option<&Outcome>) {
        let Some(slot) = self.slots.remove(ticket) else {
            return;
        };
        self.touch(slot.policy);
        // A resume queued for this request and not yet polled is void: nobody may forward a
        // request that has ended, and every `Resume` a host polls names a live ticket.
        if !self.actions.is_empty() {
            self.actions
                .retain(|a| !matches!(a, Action::Resume { ticket: t } if *t == ticket));
        }
        let pi = slot.policy;
        let outcome = outcome.map(|o| o.for_request(slot.grpc));
        let outcome = outcome.as_ref();
        if let Some(outcome) = outcome
            && self.policies[pi].classifier.classify(outcome).failure
        {
            self.policies[pi].stats.failures += 1;
        }
        // A delayed request went upstream after its delay: its outcome is the upstream's own
        // and is judged like any other (`count_injected` is about injected aborts).
        self.settle_breaker(now, &slot, outcome, false);
        let p = &mut self.policies[pi];
        if let Some(r) = &mut p.retry {
            // The retries made were recorded by `on_response`; the reservation returns here.
            r.budget.settle(now, slot.retries, 0);
        }
        if slot.injected
            && let Some(inj) = &mut p.injector
        {
            inj.finish();
        }
        if let Some(b) = &mut p.bulkhead {
            match slot.phase {
                Phase::Queued(_) => {
                    b.waiters.remove(ticket.to_u64());
                    let _ = b
                        .cell
                        .write(&self.store, &mut self.link, now, Op::Dequeue, &b.config);
                }
                _ if slot.permit => {
                    let _ = b
                        .cell
                        .write(&self.store, &mut self.link, now, Op::Release, &b.config);
                    self.pump_queue(now, pi);
                }
                _ => {}
            }
        }
    }

    /// Tells the breaker how a request ended (`None`: no outcome). `injected`: the outcome is an
    /// injected abort's, reported only when the policy sets `count_injected`.
    pub(super) fn settle_breaker(
        &mut self,
        now: Nanos,
        slot: &Slot,
        outcome: Option<&Outcome>,
        injected: bool,
    ) {
        let pi = slot.policy;
        let unit = unit_f64(&mut self.rng);
        let p = &mut self.policies[pi];
        let Some(b) = &mut p.breaker else {
            return;
        };
        if b.config.mode == Mode::ForcedOpen {
            return;
        }
        let counted = outcome.filter(|_| !injected || p.count_injected);
        let verdict = counted.map(|o| p.classifier.classify(o));
        let slow = now.saturating_since(slot.started) >= b.slow_call;
        let (config, Some(cell)) = b.parts(slot.key) else {
            return; // the key was evicted (or left this worker) meanwhile: nobody to tell
        };
        let (store, link) = (&self.store, &mut self.link);
        let applied = match (slot.probe, verdict) {
            (Some(permit), None) => {
                let r = cell.apply(
                    config,
                    store,
                    link,
                    now,
                    Some(Event::ProbeRelease { permit }),
                    unit,
                );
                if r.is_none() {
                    cell.defer_probe(permit, None);
                }
                r
            }
            (Some(permit), Some(v)) => {
                let failed = v.failure || (slow && config.slow_call_rate_threshold < 1.0);
                let r = cell.apply(
                    config,
                    store,
                    link,
                    now,
                    Some(Event::ProbeResult { permit, failed }),
                    unit,
                );
                if r.is_none() {
                    cell.defer_probe(permit, Some(failed));
                }
                r
            }
            (None, None) => None,
            (None, Some(v)) => {
                cell.defer(now, v.failure, slow);
                // A success that could change the health view is written at once too: every
                // worker must see a recovery as soon as it happens.
                let quiet = cell.cached.state == State::Closed
                    && cell.cached.consecutive_failures == 0
                    && cell.cached.health.is_settled()
                    && !v.failure;
                if quiet {
                    None // batched: written with the next sync
                } else {
                    cell.apply(config, store, link, now, None, unit)
                }
            }
        };
        if let Some((_, transitions)) = applied {
            for t in transitions.into_iter().flatten() {
                self.push_transition(pi, slot.key, t);
            }
        }
        self.note_health(pi, slot.key);
    }
}
