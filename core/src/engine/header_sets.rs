//! Header sets: every list of router headers an engine can hand out, numbered once.
//!
//! A proceeding request's upstream headers depend only on its policy, on the retries granted
//! and on whether it is gRPC, all fixed when the configuration is loaded (see
//! [`crate::retry::headers`]). So an engine has a small, fixed number of distinct lists, and a
//! host across a costly boundary (the component: every string lifted out of wasm is copied and
//! allocated on the host) can fetch them once with [`Engine::header_sets`] and then receive a
//! number per request from [`Engine::header_set`] instead of the strings.
//!
//! Numbering: the policies in configuration order, each taking a consecutive range: a policy
//! with a retry section takes [`RetryHeaders::list_count`] numbers in
//! [`RetryHeaders::lists`] order, one without takes one (its timeout header, or nothing); a
//! policy whose fallback reroutes takes one more, last, for the reroute header.
//!
//! [`RetryHeaders::list_count`]: crate::retry::RetryHeaders::list_count
//! [`RetryHeaders::lists`]: crate::retry::RetryHeaders::lists

use rand_core::RngCore;

use crate::retry::headers::Scope;
use crate::store::SharedStore;

use super::policy::PolicyRt;
use super::{Engine, Ticket};

/// The first header-set number of each policy, in configuration order.
pub(super) fn bases(policies: &[PolicyRt]) -> Vec<u32> {
    let mut next = 0u32;
    policies
        .iter()
        .map(|p| {
            let base = next;
            let count = p.retry.as_ref().map_or(1, |r| r.headers.list_count())
                + usize::from(
                    p.fallback
                        .as_ref()
                        .is_some_and(|f| !f.reroute_headers.is_empty()),
                );
            next += u32::try_from(count).expect("retry counts are capped by validation");
            base
        })
        .collect()
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// Every header list a proceeding request can be given, indexed by the number
    /// [`Engine::header_set`] returns. Fixed for the engine's lifetime; lists may be empty.
    pub fn header_sets(&self) -> Vec<&[(String, String)]> {
        let mut sets = Vec::with_capacity(self.header_bases.last().map_or(0, |b| *b as usize + 1));
        for p in &self.policies {
            match &p.retry {
                Some(r) => sets.extend(r.headers.lists()),
                None => sets.push(&p.plain_headers),
            }
            if let Some(f) = p
                .fallback
                .as_ref()
                .filter(|f| !f.reroute_headers.is_empty())
            {
                sets.push(&f.reroute_headers);
            }
        }
        sets
    }

    /// The router headers a request on policy `index` (configuration order) gets when it is
    /// granted `retries` retries, gRPC or not, in `scope`: the list [`Engine::request_headers`]
    /// returns for such a request. `retries` is capped at the policy's `max_retries`, and a kind
    /// of request that has no condition to be retried on is granted none, as admission does.
    /// `None` for an unknown index. Tools that show what Envoy will be told (`breakwater
    /// explain`) read it here, so they cannot drift from what the adapters send.
    pub fn policy_headers(
        &self,
        index: usize,
        retries: u32,
        grpc: bool,
        scope: Scope,
    ) -> Option<&[(String, String)]> {
        let p = self.policies.get(index)?;
        let retries = match &p.retry {
            Some(r) if r.headers.can_retry(grpc, scope) => retries,
            _ => 0,
        };
        Some(p.headers(retries, grpc, scope))
    }

    /// The most retries policy `index` grants one request (its `max_retries`; 0 without a retry
    /// section), before the retry budget has its say. `None` for an unknown index.
    pub fn policy_max_retries(&self, index: usize) -> Option<u32> {
        let p = self.policies.get(index)?;
        Some(p.retry.as_ref().map_or(0, |r| r.headers.max_retries()))
    }

    /// The number of a proceeding request's headers in [`Engine::header_sets`]: that list is
    /// [`Engine::request_headers`]. `None` for unknown tickets.
    pub fn header_set(&self, ticket: Ticket) -> Option<u32> {
        let s = self.slots.get(ticket)?;
        let p = &self.policies[s.policy];
        if s.rerouted {
            // The reroute list comes last in the policy's range.
            let count = p.retry.as_ref().map_or(1, |r| r.headers.list_count());
            return Some(self.header_bases[s.policy] + count as u32);
        }
        let within = p
            .retry
            .as_ref()
            .map_or(0, |r| r.headers.list_index(s.retries, s.grpc, s.scope));
        Some(self.header_bases[s.policy] + within as u32)
    }
}
