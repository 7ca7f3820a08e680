//! The request path on the way in: match a policy, ask the breaker, draw an injected fault, take
//! a bulkhead permit or a place in the queue, and grant retries within the budget. Each stage
//! either passes the request on or ends it with a local reply; what it took is in its slot, for
//! [`super::settle`] to return.

use rand_core::RngCore;

use crate::breaker::{Admission, Event, Mode, ProbePermit, State};
use crate::injection::{FAULT_HEADER, Fault};
use crate::outcome::{Outcome, OutcomeKind};
use crate::random::unit_f64;
use crate::reply::{LocalReply, RejectReason, ReplyContext, is_grpc_content_type};
use crate::request::RequestInfo;
use crate::retry::headers::Scope;
use crate::store::SharedStore;
use crate::time::Nanos;

use super::keyed::KeyRef;
use super::permits::Op;
use super::slots::{Phase, Slot, Ticket};
use super::{Decision, Engine};

/// What the breaker said about one request.
enum Gate {
    Admit,
    Probe(ProbePermit),
    Reject(Nanos),
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// Decides what happens to a new request.
    pub fn on_request(&mut self, now: Nanos, req: &RequestInfo<'_>) -> Decision {
        let policies = &self.policies;
        let found = match &self.index {
            Some(index) => index.first(req, |i| policies[i].matcher.matches(req)),
            None => policies.iter().position(|p| p.matcher.matches(req)),
        };
        let Some(pi) = found else {
            return Decision::Pass;
        };
        self.policies[pi].stats.requests += 1;
        self.touch(pi);
        let grpc = req
            .headers
            .header("content-type")
            .is_some_and(|v| is_grpc_content_type(v.as_bytes()));

        let key = self.breaker_key(pi, now, req, grpc);
        let gate = self.breaker_gate(pi, key, now);
        self.note_health(pi, key);
        let probe = match gate {
            Gate::Admit => {
                self.note_routed(pi, key, now);
                None
            }
            Gate::Probe(p) => {
                self.note_routed(pi, key, now);
                Some(p)
            }
            Gate::Reject(retry_after) => {
                let shadow = self.policies[pi]
                    .breaker
                    .as_ref()
                    .is_some_and(|b| b.config.mode == Mode::Shadow);
                if shadow {
                    self.policies[pi].stats.shadow_rejections += 1;
                    None
                } else {
                    if let Some(d) =
                        self.fallback_decision(now, pi, RejectReason::BreakerOpen, grpc, None)
                    {
                        return d;
                    }
                    self.policies[pi].stats.rejected_open += 1;
                    return Decision::Reject {
                        reply: self.reply(pi, RejectReason::BreakerOpen, grpc, Some(retry_after)),
                    };
                }
            }
        };

        let mut slot = Slot {
            probe,
            key,
            ..Slot::new(pi, now, grpc)
        };

        // The injection header is looked up only where it can trigger a fault.
        let fault = match &mut self.policies[pi].injector {
            Some(inj) => {
                let forced = inj.config().enabled
                    && inj.config().header_trigger
                    && req
                        .headers
                        .header(FAULT_HEADER)
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                inj.decide(forced, &mut self.rng)
            }
            None => None,
        };
        match fault {
            Some(Fault::Abort {
                http_status,
                grpc_status,
            }) => {
                self.policies[pi].stats.injected_aborts += 1;
                if let Some(inj) = &mut self.policies[pi].injector {
                    inj.finish();
                }
                let outcome = Outcome {
                    kind: OutcomeKind::Response,
                    http_status: Some(if grpc { 200 } else { http_status }),
                    grpc_status: grpc.then_some(grpc_status),
                };
                slot.injected = false;
                self.settle_breaker(now, &slot, Some(&outcome), true);
                let reason = RejectReason::InjectedAbort {
                    http_status,
                    grpc_status,
                };
                return Decision::Reject {
                    reply: self.reply(pi, reason, grpc, None),
                };
            }
            Some(Fault::Delay(_)) | None => {}
        }
        // Retries are reserved in the budget when the request is forwarded (`reserve_retries`),
        // and the slot returns the reservation however it ends (`finish`).
        (slot.retry_ok, slot.scope) = self.retry_scope(pi, now, req, slot.probe.is_some(), grpc);
        if let Some(Fault::Delay(d)) = fault {
            self.policies[pi].stats.injected_delays += 1;
            slot.injected = true;
            slot.phase = Phase::Delayed(now + d);
            let ticket = self.slots.insert(slot);
            return Decision::Delay {
                ticket,
                until: now + d,
            };
        }
        let ticket = self.slots.insert(slot);
        self.bulkhead_stage(now, ticket)
    }

    /// Takes a bulkhead permit for `ticket`, or queues it, or refuses it (the slot is then
    /// finished and every resource it held returned).
    pub(super) fn bulkhead_stage(&mut self, now: Nanos, ticket: Ticket) -> Decision {
        let Some(slot) = self.slots.get_mut(ticket) else {
            return Decision::Pass;
        };
        let pi = slot.policy;
        let grpc = slot.grpc;
        let Some(b) = &mut self.policies[pi].bulkhead else {
            slot.phase = Phase::Running;
            slot.started = now;
            self.reserve_retries(now, ticket);
            return Decision::Proceed { ticket };
        };
        let config = &b.config;
        // Waiters already queued on this worker go first (FIFO).
        let acquired = if b.waiters.is_empty() {
            b.cell
                .write(&self.store, &mut self.link, now, Op::Acquire, config)
        } else {
            Some(false)
        };
        if acquired == Some(true) {
            slot.permit = true;
            slot.phase = Phase::Running;
            slot.started = now;
            self.reserve_retries(now, ticket);
            return Decision::Proceed { ticket };
        }
        if acquired.is_some() && config.queue_size > 0 {
            let queued = b
                .cell
                .write(&self.store, &mut self.link, now, Op::Enqueue, config);
            if queued == Some(true) {
                let until = now + Nanos::from_millis(config.queue_timeout_ms);
                slot.phase = Phase::Queued(until);
                // The wait starts now (the queue-wait histogram measures from here).
                slot.started = now;
                b.waiters.push(ticket.to_u64(), until);
                if !self.waiting.contains(&pi) {
                    self.waiting.push(pi);
                }
                return Decision::Queue { ticket, until };
            }
        }
        let retry_after = Nanos::from_millis(config.queue_timeout_ms.max(1_000));
        if let Some(d) =
            self.fallback_decision(now, pi, RejectReason::BulkheadFull, grpc, Some(ticket))
        {
            return d;
        }
        self.policies[pi].stats.rejected_bulkhead += 1;
        self.finish(now, ticket, None);
        Decision::Reject {
            reply: self.reply(pi, RejectReason::BulkheadFull, grpc, Some(retry_after)),
        }
    }

    /// Asks policy `pi`'s breaker about one request: from the cache when that is safe, through
    /// the shared snapshot when a lease or a state change is at stake.
    fn breaker_gate(&mut self, pi: usize, key: Option<KeyRef>, now: Nanos) -> Gate {
        let Some(b) = &mut self.policies[pi].breaker else {
            return Gate::Admit;
        };
        if b.config.mode == Mode::ForcedOpen {
            return Gate::Reject(Nanos::from_millis(b.config.recovery_timeout_ms));
        }
        let unit = unit_f64(&mut self.rng);
        if b.cell(key)
            .is_some_and(|c| c.stale(now, self.sync_interval))
        {
            self.sync_cell(pi, key, now);
        }
        let Some(b) = &mut self.policies[pi].breaker else {
            return Gate::Admit;
        };
        let (config, Some(cell)) = b.parts(key) else {
            return Gate::Admit; // a key's cell is made by `breaker_key` just before
        };
        if let Some(wait) = cell.cached.rejects_for(config, now) {
            // Counted in the shared statistics with the next write (the sync writes it).
            cell.pending.rejections = cell.pending.rejections.saturating_add(1);
            return Gate::Reject(wait);
        }
        if cell.cached.state == State::Closed {
            return Gate::Admit;
        }
        let applied = cell.apply(
            config,
            &self.store,
            &mut self.link,
            now,
            Some(Event::Acquire),
            unit,
        );
        let Some((admission, transitions)) = applied else {
            // Gave up: refuse rather than risk exceeding the probe cap.
            return Gate::Reject(self.sync_interval);
        };
        for t in transitions.into_iter().flatten() {
            self.push_transition(pi, key, t);
        }
        match admission {
            Some(Admission::Probe(p)) => Gate::Probe(p),
            Some(Admission::Reject { retry_after }) => Gate::Reject(retry_after),
            Some(Admission::Admit) | None => Gate::Admit,
        }
    }

    /// Whether a new request may be granted retries when it is forwarded, and on which
    /// conditions: never a probe; a request that is neither idempotent nor keyed only on the
    /// conditions that prove the upstream never processed it (so not at all when the policy has
    /// none of those). Counts the request in the retry budget.
    fn retry_scope(
        &mut self,
        pi: usize,
        now: Nanos,
        req: &RequestInfo<'_>,
        probe: bool,
        grpc: bool,
    ) -> (bool, Scope) {
        let Some(r) = &mut self.policies[pi].retry else {
            return (false, Scope::Full);
        };
        r.budget.record_request(now);
        if probe {
            return (false, Scope::Full);
        }
        // The idempotency header is looked up only when the method alone does not decide.
        let scope = match r.headers.scope(req.method.as_bytes(), false) {
            Scope::Full => Scope::Full,
            Scope::BeforeProcessing => {
                let keyed = req.headers.header(r.headers.idempotency_header()).is_some();
                r.headers.scope(req.method.as_bytes(), keyed)
            }
        };
        (r.headers.can_retry(grpc, scope), scope)
    }

    /// Grants a request that is being forwarded its retries: as many as the policy and the
    /// budget allow, reserved in the budget until it ends; none while the breaker is not closed.
    pub(super) fn reserve_retries(&mut self, now: Nanos, ticket: Ticket) {
        let Some(slot) = self.slots.get_mut(ticket) else {
            return;
        };
        let p = &mut self.policies[slot.policy];
        let closed = p.breaker.as_ref().is_none_or(|b| {
            b.cell(slot.key)
                .is_none_or(|c| c.cached.state == State::Closed)
        });
        let Some(r) = &mut p.retry else {
            return;
        };
        if !slot.retry_ok || !closed || slot.retries > 0 {
            return;
        }
        slot.retries = r.budget.reserve(now, r.headers.max_retries());
        if slot.retries > 0 {
            p.stats.retries_granted += 1;
        }
    }

    /// Builds the contract's local reply for policy `pi`.
    pub(super) fn reply(
        &self,
        pi: usize,
        reason: RejectReason,
        grpc: bool,
        retry_after: Option<Nanos>,
    ) -> LocalReply {
        LocalReply::new(
            reason,
            ReplyContext {
                service: &self.service,
                policy: &self.policies[pi].name,
                grpc,
                retry_after,
            },
        )
    }
}
