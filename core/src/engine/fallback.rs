//! Fallbacks in the engine: where a policy's `fallback` section (see [`crate::fallback`])
//! replaces a refusal, and what a rerouted request is.
//!
//! A static reply is a local reply like any refusal, only with the configured status, headers
//! and body. A reroute is a *proceed* whose only header is the reroute header, so every host
//! handles it as it handles any proceed (the component's hosts included: the reroute header is
//! one more [`super::Engine::header_sets`] list, at the end of its policy's range). The
//! rerouted request keeps a slot so that its ticket means something to the host, but the slot
//! holds nothing, and its outcome reaches neither the breaker nor the counters: it went to
//! another upstream. It is counted once, as a fallback, when it is rerouted.

use rand_core::RngCore;

use crate::fallback::{Fallback, FallbackConfig};
use crate::reply::RejectReason;
use crate::store::SharedStore;
use crate::time::Nanos;

use super::notices::Notice;
use super::slots::{Phase, Slot, Ticket};
use super::{Decision, Engine};

/// A policy's compiled fallbacks.
#[derive(Debug)]
pub(crate) struct PolicyFallback {
    /// For an open breaker.
    on_open: Option<Fallback>,
    /// For a full bulkhead.
    on_full: Option<Fallback>,
    /// The reroute header as a header list (empty without a reroute).
    pub(crate) reroute_headers: Vec<(String, String)>,
}

impl PolicyFallback {
    /// Compiles `config` for the policy `policy`.
    pub(crate) fn new(config: &FallbackConfig, policy: &str) -> PolicyFallback {
        let compile = |reason: RejectReason| {
            config
                .covers(reason)
                .then(|| Fallback::new(config, policy, reason))
                .flatten()
        };
        let on_open = compile(RejectReason::BreakerOpen);
        let on_full = compile(RejectReason::BulkheadFull);
        let reroute_headers = match Fallback::new(config, policy, RejectReason::BreakerOpen) {
            Some(Fallback::Reroute { header, value }) => vec![(header, value)],
            _ => Vec::new(),
        };
        PolicyFallback {
            on_open,
            on_full,
            reroute_headers,
        }
    }

    fn for_reason(&self, reason: RejectReason) -> Option<&Fallback> {
        match reason {
            RejectReason::BreakerOpen => self.on_open.as_ref(),
            RejectReason::BulkheadFull => self.on_full.as_ref(),
            _ => None,
        }
    }
}

/// How a refusal was replaced, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackKind {
    /// The configured reply was sent.
    Reply,
    /// The request was rerouted.
    Reroute,
}

impl FallbackKind {
    /// `reply` or `reroute`.
    pub fn name(self) -> &'static str {
        match self {
            FallbackKind::Reply => "reply",
            FallbackKind::Reroute => "reroute",
        }
    }
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// The fallback for a request of policy `pi` that `reason` would refuse, if the policy has
    /// one that applies (a static reply without a `grpc_status` does not apply to gRPC).
    /// `tracked`: the request's ticket when it already has a slot (refused by the bulkhead):
    /// a reply finishes it, returning what it held; a reroute keeps it, emptied.
    pub(super) fn fallback_decision(
        &mut self,
        now: Nanos,
        pi: usize,
        reason: RejectReason,
        grpc: bool,
        tracked: Option<Ticket>,
    ) -> Option<Decision> {
        let f = self.policies[pi].fallback.as_ref()?.for_reason(reason)?;
        let (decision, kind) = match f {
            Fallback::Reply { http, grpc: g } => {
                let reply = if grpc { g.clone()? } else { http.clone() };
                if let Some(t) = tracked {
                    self.finish(now, t, None);
                }
                (Decision::Reject { reply }, FallbackKind::Reply)
            }
            Fallback::Reroute { .. } => {
                let ticket = match tracked {
                    Some(t) => self.empty_slot(now, t),
                    None => self.slots.insert(Slot {
                        rerouted: true,
                        ..Slot::new(pi, now, grpc)
                    }),
                };
                (Decision::Proceed { ticket }, FallbackKind::Reroute)
            }
        };
        self.policies[pi].stats.fallbacks += 1;
        self.push_notice(
            now,
            Notice::Fallback {
                policy: pi,
                reason,
                kind,
            },
        );
        Some(decision)
    }

    /// Returns what `ticket`'s slot holds (a probe lease, an injector slot; a request refused
    /// by the bulkhead holds no permit and no retries yet) and keeps it as a rerouted request.
    fn empty_slot(&mut self, now: Nanos, ticket: Ticket) -> Ticket {
        let Some(slot) = self.slots.get(ticket).copied() else {
            return ticket;
        };
        if slot.probe.is_some() {
            self.settle_breaker(now, &slot, None, false);
        }
        if slot.injected
            && let Some(inj) = &mut self.policies[slot.policy].injector
        {
            inj.finish();
        }
        if let Some(s) = self.slots.get_mut(ticket) {
            *s = Slot {
                phase: Phase::Running,
                started: now,
                probe: None,
                permit: false,
                injected: false,
                retries: 0,
                retry_ok: false,
                rerouted: true,
                ..slot
            };
        }
        ticket
    }

    /// Whether `ticket` was rerouted by a fallback: its headers are the reroute header, and a
    /// host that must be told to pick the route again (Envoy's dynamic module) does so.
    pub fn rerouted(&self, ticket: Ticket) -> bool {
        self.slots.get(ticket).is_some_and(|s| s.rerouted)
    }

    /// The reroute header list of policy `pi` (empty without a reroute fallback).
    pub(super) fn reroute_headers(&self, pi: usize) -> &[(String, String)] {
        self.policies[pi]
            .fallback
            .as_ref()
            .map_or(&[], |f| f.reroute_headers.as_slice())
    }
}
