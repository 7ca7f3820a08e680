//! The `engine` resource: one worker's [`crate::Engine`] over an in-memory store (world
//! `resilience`) or over the store the host provides (world `resilience-shared`).

use std::cell::RefCell;

use crate::Config;
use crate::engine::{
    Action, Decision, EXHAUSTED_MARK, Engine, LogLevel, ResetError, ResponseVerdict, Ticket,
};
use crate::random::SplitMix64;
use crate::request::{RequestInfo, RequestNeeds};
use crate::time::Nanos;

use super::bindings::exports::breakwater::resilience::engine as wit;
use super::bindings::exports::breakwater::resilience::types::{
    BreakerState, BreakerStatistics, ConfigError, Header, HealthView, Outcome,
};
use super::{Component, convert, rng};

impl wit::Guest for Component {
    type Engine = EngineResource;
}

/// The store behind every engine: private to it in world `resilience`...
#[cfg(not(feature = "component-shared"))]
pub(super) type EngineStore = crate::store::MemoryStore;
/// ...the host's in world `resilience-shared`.
#[cfg(feature = "component-shared")]
pub(super) type EngineStore = super::store::ImportedStore;

/// The engine behind the `engine` resource (see the module docs of `component` for the
/// `RefCell`).
#[derive(Debug)]
pub(super) struct EngineResource {
    engine: RefCell<Engine<EngineStore, SplitMix64>>,
    /// What of a request the configuration can look at (`request-needs`).
    needs: RequestNeeds,
}

impl EngineResource {
    /// The WIT form of a proceeding request: its ticket and the number of its upstream headers
    /// in `header-sets` (a number, not the strings: lifting them cost the host more than the
    /// whole decision).
    fn proceed(engine: &Engine<EngineStore, SplitMix64>, ticket: Ticket) -> wit::Proceed {
        wit::Proceed {
            ticket: ticket.to_u64(),
            headers: engine
                .header_set(ticket)
                .expect("a ticket that just proceeded is live"),
        }
    }

    /// `pending_actions` as the WIT's count.
    fn pending(engine: &Engine<EngineStore, SplitMix64>) -> u32 {
        u32::try_from(engine.pending_actions()).unwrap_or(u32::MAX)
    }
}

/// Header pairs as `HeaderLookup` can read them.
struct Headers<'a>(&'a [Header]);

impl crate::request::HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

impl wit::GuestEngine for EngineResource {
    fn new(config: String, now: u64, seed: Option<u64>) -> Result<Self, ConfigError> {
        let config = Config::from_json(&config).map_err(convert::config_error)?;
        let engine = Engine::new(&config, EngineStore::default(), rng(seed), Nanos::new(now));
        Ok(EngineResource {
            engine: RefCell::new(engine),
            needs: config.request_needs(),
        })
    }

    fn request_needs(&self) -> wit::RequestNeeds {
        let n = &self.needs;
        wit::RequestNeeds {
            method: n.method,
            path: n.path,
            cluster: n.cluster,
            route: n.route,
            headers: n.headers.clone(),
        }
    }

    fn on_request(&self, now: u64, request: wit::Request) -> wit::Decision {
        let mut engine = self.engine.borrow_mut();
        let headers = Headers(&request.headers);
        let info = RequestInfo {
            method: convert::method(&request.method),
            path: &request.path,
            cluster: request.cluster.as_deref().unwrap_or_default(),
            route: request.route.as_deref().unwrap_or_default(),
            headers: &headers,
        };
        match engine.on_request(Nanos::new(now), &info) {
            Decision::Pass => wit::Decision::Pass,
            Decision::Proceed { ticket } => wit::Decision::Proceed(Self::proceed(&engine, ticket)),
            Decision::Delay { ticket, until } => wit::Decision::Delay(wit::Hold {
                ticket: ticket.to_u64(),
                until: until.as_nanos(),
            }),
            Decision::Queue { ticket, until } => wit::Decision::Queue(wit::Hold {
                ticket: ticket.to_u64(),
                until: until.as_nanos(),
            }),
            Decision::Reject { reply } => wit::Decision::Reject(convert::reply(reply)),
        }
    }

    fn on_response(&self, now: u64, ticket: u64, outcome: Outcome, attempts: u32) -> u32 {
        let mut engine = self.engine.borrow_mut();
        engine.on_response(
            Nanos::new(now),
            Ticket::from_u64(ticket),
            &convert::outcome(&outcome),
            attempts,
        );
        Self::pending(&engine)
    }

    fn cancel(&self, now: u64, ticket: u64) -> u32 {
        let mut engine = self.engine.borrow_mut();
        engine.cancel(Nanos::new(now), Ticket::from_u64(ticket));
        Self::pending(&engine)
    }

    fn poll_timeout(&self) -> u64 {
        self.engine.borrow().poll_timeout().as_nanos()
    }

    fn handle_timeout(&self, now: u64) {
        self.engine.borrow_mut().handle_timeout(Nanos::new(now));
    }

    fn poll_action(&self) -> Option<wit::Action> {
        let mut engine = self.engine.borrow_mut();
        Some(match engine.poll_action()? {
            Action::Resume { ticket } => wit::Action::Resume(Self::proceed(&engine, ticket)),
            Action::Reply { ticket, reply } => wit::Action::Reply(wit::Refusal {
                ticket: ticket.to_u64(),
                reply: convert::reply(reply),
            }),
        })
    }

    fn poll_event(&self) -> Option<wit::Transition> {
        let mut engine = self.engine.borrow_mut();
        let event = engine.poll_event()?;
        let t = event.transition;
        Some(wit::Transition {
            policy: engine
                .policy_names()
                .nth(event.policy)
                .unwrap_or_default()
                .to_owned(),
            from: convert::state(t.from),
            to: convert::state(t.to),
            at: t.at.as_nanos(),
            reason: t.reason.name().to_owned(),
        })
    }

    fn header_sets(&self) -> Vec<Vec<Header>> {
        let engine = self.engine.borrow();
        engine
            .header_sets()
            .into_iter()
            .map(convert::headers)
            .collect()
    }

    fn request_headers(&self, ticket: u64) -> Vec<Header> {
        convert::headers(
            self.engine
                .borrow()
                .request_headers(Ticket::from_u64(ticket)),
        )
    }

    fn status(&self, now: u64) -> wit::EngineStatus {
        let mut engine = self.engine.borrow_mut();
        let (healthy, list) = engine.status(Nanos::new(now));
        let policies = list
            .into_iter()
            .enumerate()
            .map(|(i, p)| wit::PolicyStatus {
                name: p.name,
                state: engine
                    .breaker_state_at(i, Nanos::new(now))
                    .map(convert::state),
                retry_after: p.retry_after,
                consecutive_failures: p.consecutive_failures,
                calls: p.calls,
                failures: p.failures,
                inflight: p.inflight,
                max_concurrent: p.max_concurrent,
                queued: p.queued,
                requests: p.requests,
                rejected_open: p.rejected_open,
                rejected_bulkhead: p.rejected_bulkhead,
            })
            .collect();
        wit::EngineStatus { healthy, policies }
    }

    fn status_json(&self, now: u64) -> String {
        self.engine.borrow_mut().status_json(Nanos::new(now)).1
    }

    fn tracked(&self) -> u32 {
        u32::try_from(self.engine.borrow().tracked()).unwrap_or(u32::MAX)
    }

    fn status_text(&self, now: u64) -> String {
        self.engine.borrow_mut().status_text(Nanos::new(now)).1
    }

    fn breaker_statistics(&self, policy: String) -> Option<BreakerStatistics> {
        let engine = self.engine.borrow();
        let s = engine.breaker_statistics(engine.policy_index(&policy)?)?;
        Some(BreakerStatistics {
            total_calls: s.total_calls,
            successful_calls: s.successful_calls,
            failed_calls: s.failed_calls,
            rejected_calls: s.rejected_calls,
            state_changes: s.state_changes,
        })
    }

    fn health(&self, policy: String) -> Option<HealthView> {
        let engine = self.engine.borrow();
        let h = engine.health(engine.policy_index(&policy)?)?;
        Some(HealthView {
            healthy: h.healthy,
            score: h.score,
            consecutive_failures: h.consecutive_failures,
            consecutive_successes: h.consecutive_successes,
        })
    }

    fn reset(&self, now: u64, policy: String) -> Result<BreakerState, wit::ResetError> {
        let mut engine = self.engine.borrow_mut();
        let index = engine
            .policy_index(&policy)
            .ok_or(wit::ResetError::UnknownPolicy)?;
        match engine.reset(Nanos::new(now), index) {
            Ok(from) => Ok(convert::state(from)),
            Err(ResetError::UnknownPolicy) => Err(wit::ResetError::UnknownPolicy),
            Err(ResetError::NoBreaker) => Err(wit::ResetError::NoBreaker),
            Err(ResetError::StoreUnavailable) => Err(wit::ResetError::StoreUnavailable),
        }
    }

    fn poll_notice(&self) -> Option<wit::Notice> {
        let mut engine = self.engine.borrow_mut();
        let notice = engine.poll_notice()?;
        let (level, line) = engine.notice_line(&notice);
        Some(wit::Notice {
            policy: engine
                .policy_name(notice.policy())
                .unwrap_or_default()
                .to_owned(),
            level: match level {
                LogLevel::Info => wit::LogLevel::Info,
                LogLevel::Warn => wit::LogLevel::Warn,
            },
            line,
        })
    }

    fn on_response_headers(
        &self,
        now: u64,
        ticket: u64,
        outcome: Outcome,
        attempts: u32,
    ) -> wit::ResponseVerdict {
        let engine = self.engine.borrow();
        let verdict = engine.on_response_headers(
            Nanos::new(now),
            Ticket::from_u64(ticket),
            &convert::outcome(&outcome),
            attempts,
        );
        match verdict {
            ResponseVerdict::Pass => wit::ResponseVerdict::Pass,
            ResponseVerdict::Mark => wit::ResponseVerdict::Mark(Header {
                name: EXHAUSTED_MARK.0.to_owned(),
                value: EXHAUSTED_MARK.1.to_owned(),
            }),
            ResponseVerdict::Replace(r) => wit::ResponseVerdict::Replace(wit::UpstreamReply {
                reason: r.reason.name().to_owned(),
                retry_after: r.header("retry-after").and_then(|v| v.parse().ok()),
                status: r.http_status,
                grpc_status: r.grpc_status,
                grpc_message: r.grpc_message,
                headers: convert::headers(&r.headers),
                body: r.body,
            }),
        }
    }

    fn rerouted(&self, ticket: u64) -> bool {
        self.engine.borrow().rerouted(Ticket::from_u64(ticket))
    }
}
