//! One HTTP stream: the request in, the decision out, the outcome back.
//!
//! Each hook reads what it needs from Envoy *before* taking the engine's lock (header reads
//! cost ~55 ns each natively), makes one engine call under the lock, and talks to Envoy
//! afterwards where it can, so the lock is held for about one engine call. Request headers
//! read are exactly those the configuration can look at ([`breakwater_core::RequestNeeds`]).
//!
//! The attempt count and Envoy's `response.code_details` (for an answer that may be Envoy's own
//! failure reply) are read when the response headers pass, once: the engine decides there
//! whether the answer is marked `x-breakwater: retries_exhausted` or replaced by the contract's
//! reply ([`breakwater_core::ResponseVerdict`]), and the outcome reported at the end reuses
//! them.

use std::sync::Arc;

use breakwater_core::engine::{EXHAUSTED_MARK, ResponseVerdict, split_path};
use breakwater_core::outcome::OutcomeKind;
use breakwater_core::reply::{LocalReply, is_grpc_content_type};
use breakwater_core::{Decision, HeaderLookup, RequestInfo, Ticket};

use crate::abi::{Attribute, Filter, HeaderMap};
use crate::clock;
use crate::config::Shared;
use crate::held::Step;
use breakwater_core::outcome::observed::Observed;

/// One stream's state (touched only on its worker).
#[derive(Debug)]
pub(crate) struct Stream {
    shared: Option<Arc<Shared>>,
    ticket: Option<Ticket>,
    /// breakwater holds the request (queued or delayed): its body and trailers wait too.
    holding: bool,
    /// The engine granted router retries, so the attempt count is worth reading.
    retries: bool,
    observed: Observed,
    /// The router's attempt count, read with the response headers when retries were granted.
    attempts: u32,
    /// Envoy's `response.code_details`, read with the response headers when the answer may be
    /// Envoy's own reply.
    details: Option<String>,
    /// breakwater answered in place of the response headers: whatever passes after is its own.
    replaced: bool,
    finished: bool,
}

fn text(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.and_then(|b| String::from_utf8(b).ok())
}

impl Stream {
    /// A stream of `shared`'s configuration (`None`: pass everything).
    pub(crate) fn new(shared: Option<&Arc<Shared>>) -> Stream {
        Stream {
            shared: shared.cloned(),
            ticket: None,
            holding: false,
            retries: false,
            observed: Observed::default(),
            attempts: 1,
            details: None,
            replaced: false,
            finished: false,
        }
    }

    /// Whether breakwater holds the request right now.
    pub(crate) fn held(&self) -> bool {
        self.holding
    }

    /// Decides; `true` stops the filter chain (held, or answered locally).
    pub(crate) fn on_request_headers(&mut self, f: Filter) -> bool {
        let Some(shared) = self.shared.clone() else {
            return false;
        };
        let headers: Vec<(&str, String)> = shared
            .lookups
            .iter()
            .filter_map(|name| Some((name.as_str(), text(f.header(HeaderMap::Request, name))?)))
            .collect();
        let path = headers.header(":path").unwrap_or("");
        let (bare, query) = split_path(path);
        let status = shared.status_path.as_deref() == Some(bare);
        if status || shared.reset_path.as_deref() == Some(bare) {
            self.admin(f, &shared, query, !status);
            return true;
        }
        let cluster = if shared.needs.cluster {
            f.cluster_name()
        } else {
            String::new()
        };
        let route = if shared.needs.route {
            f.attribute_string(Attribute::XdsRouteName)
                .unwrap_or_default()
        } else {
            String::new()
        };
        let request = RequestInfo {
            method: headers.header(":method").unwrap_or(""),
            path,
            cluster: &cluster,
            route: &route,
            headers: &headers,
        };
        self.observed.grpc = headers
            .header("content-type")
            .is_some_and(|v| is_grpc_content_type(v.as_bytes()));
        let now = clock::now();
        let mut core = shared.lock();
        match core.engine.on_request(now, &request) {
            Decision::Pass => false,
            Decision::Proceed { ticket } => {
                self.ticket = Some(ticket);
                self.retries = core.engine.granted_retries(ticket) > 0;
                for (k, v) in core.engine.request_headers(ticket) {
                    f.set_request_header(k, v);
                }
                if core.engine.rerouted(ticket) {
                    // A fallback's reroute header: the route is picked again with it.
                    f.clear_route_cache();
                }
                false
            }
            Decision::Delay { ticket, until } | Decision::Queue { ticket, until } => {
                self.ticket = Some(ticket);
                match f.scheduler() {
                    Some(scheduler) => {
                        core.hold(ticket, scheduler);
                        self.holding = true;
                        if until < core.timer_due {
                            core.timer_due = until;
                            shared.wake.notify_one();
                        }
                        true
                    }
                    None => {
                        // Envoy gave no scheduler: the request could never be woken. Let it
                        // through untracked rather than strand it (and return what it held).
                        core.engine.cancel(now, ticket);
                        core.dispatch(now);
                        self.ticket = None;
                        false
                    }
                }
            }
            Decision::Reject { reply } => {
                drop(core);
                send(f, &reply);
                true
            }
        }
    }

    /// Answers an operator endpoint: the status (JSON, or the plain-text report the request
    /// asks for) or a reset; the headers it needs beyond `:path` are read on this rare path.
    fn admin(&self, f: Filter, shared: &Shared, query: &str, reset: bool) {
        let now = clock::now();
        let (reply, details) = if reset {
            let method = text(f.header(HeaderMap::Request, ":method")).unwrap_or_default();
            let reply = shared.lock().engine.reset_reply(now, &method, query);
            if let Some(reporter) = &shared.reporter {
                reporter.commit(0); // log the reset now, not at the next tick
            }
            (reply, "breakwater_reset")
        } else {
            let accept = text(f.header(HeaderMap::Request, "accept"));
            let reply = shared
                .lock()
                .engine
                .status_reply(now, query, accept.as_deref());
            (reply, "breakwater_status")
        };
        f.send_response(reply.status, &reply.headers, reply.body.as_bytes(), details);
    }

    /// The engine decided about the held request: resume it or answer it.
    pub(crate) fn on_scheduled(&mut self, f: Filter, event_id: u64) {
        let (Some(shared), Some(ticket)) = (&self.shared, self.ticket) else {
            return;
        };
        if event_id != ticket.to_u64() {
            return;
        }
        let (step, scheduler) = {
            let mut core = shared.lock();
            let Some(taken) = core.take_step(ticket) else {
                return;
            };
            self.retries = core.engine.granted_retries(ticket) > 0;
            taken
        };
        self.holding = false;
        match step {
            Step::Resume(headers) => {
                for (k, v) in &headers {
                    f.set_request_header(k, v);
                }
                f.continue_decoding();
            }
            Step::Reply(reply) => {
                // The engine finished the ticket; this reply is breakwater's, not an outcome.
                self.ticket = None;
                send(f, &reply);
            }
        }
        // Out of the table, so no commit can follow: deleting it is safe.
        drop(scheduler);
    }

    /// Records the response status (and a trailers-only gRPC status) and applies the engine's
    /// verdict on the headers; `true`: breakwater answered in their place (stop them).
    pub(crate) fn on_response_headers(&mut self, f: Filter, end_of_stream: bool) -> bool {
        // Only requests the engine let through are reported; breakwater's own replies never are.
        let (Some(shared), Some(ticket)) = (self.shared.clone(), self.ticket) else {
            return false;
        };
        if self.replaced {
            return false;
        }
        let status = f.header(HeaderMap::Response, ":status");
        self.observed.set_status(status.as_deref(), end_of_stream);
        if self.observed.grpc && end_of_stream {
            self.read_grpc_status(f, HeaderMap::Response);
        }
        if self.retries {
            self.attempts = f
                .attribute_int(Attribute::UpstreamRequestAttemptCount)
                .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX));
        }
        if self.observed.may_be_envoy_reply() {
            self.details = f.attribute_string(Attribute::ResponseCodeDetails);
        }
        let Some(outcome) = self.observed.outcome_at_headers(self.details.as_deref()) else {
            return false;
        };
        // Only a request granted retries can be marked, and only Envoy's own reply to an
        // upstream failure replaced: an ordinary answer without retries takes no lock here.
        if !self.retries && outcome.kind == OutcomeKind::Response {
            return false;
        }
        let verdict =
            shared
                .lock()
                .engine
                .on_response_headers(clock::now(), ticket, &outcome, self.attempts);
        match verdict {
            ResponseVerdict::Pass => false,
            ResponseVerdict::Mark => {
                let (name, value) = EXHAUSTED_MARK;
                f.set_response_header(name, value);
                false
            }
            ResponseVerdict::Replace(reply) => {
                self.replaced = true;
                send(f, &reply);
                true
            }
        }
    }

    /// Records the gRPC status of a streamed answer.
    pub(crate) fn on_response_trailers(&mut self, f: Filter) {
        if self.ticket.is_some() {
            self.observed.set_trailers_seen();
            if self.observed.grpc {
                self.read_grpc_status(f, HeaderMap::ResponseTrailers);
            }
        }
    }

    fn read_grpc_status(&mut self, f: Filter, map: HeaderMap) {
        if let Some(v) = f.header(map, "grpc-status") {
            self.observed.set_grpc_status(&v);
        }
    }

    /// Reports how the request ended, exactly once: from the complete hook (`f` is there), or
    /// from destroy as the safety net (no `f`: the outcome is unknown, the ticket cancelled).
    /// Whatever it held goes back, and whatever that unblocked is woken.
    pub(crate) fn finish(&mut self, f: Option<Filter>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.holding = false;
        let (Some(shared), Some(ticket)) = (self.shared.clone(), self.ticket.take()) else {
            return;
        };
        let mut outcome = None;
        let mut attempts = 1;
        if let Some(f) = f {
            if self.observed.grpc_status_in_headers() {
                // Trailers promised by the response headers never came.
                self.read_grpc_status(f, HeaderMap::Response);
            }
            if self.observed.wants_details() && self.details.is_none() {
                self.details = f.attribute_string(Attribute::ResponseCodeDetails);
            }
            let details = self
                .details
                .as_deref()
                .filter(|_| self.observed.wants_details());
            outcome = self.observed.outcome(details);
            attempts = self.attempts;
        }
        let now = clock::now();
        let scheduler = {
            let mut core = shared.lock();
            let scheduler = core.release(ticket);
            match &outcome {
                Some(o) => core.engine.on_response(now, ticket, o, attempts),
                None => core.engine.cancel(now, ticket),
            }
            core.dispatch(now);
            scheduler
        };
        drop(scheduler);
    }
}

/// Sends a core [`LocalReply`] with `breakwater_<reason>` as the response code details.
///
/// For a gRPC request Envoy turns any local reply into a trailers-only answer itself (HTTP 200,
/// `content-type: application/grpc`, and a `grpc-status` mapped from the HTTP code, which has
/// no mapping to `RESOURCE_EXHAUSTED`): the reply's own `grpc-status` and `grpc-message` are
/// passed as headers, which replace Envoy's (checked in `module_contract.rs`), and its
/// `content-type` is left to Envoy.
fn send(f: Filter, reply: &LocalReply) {
    let details = reply.response_code_details();
    let grpc = reply.grpc_status.is_some();
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .filter(|(k, _)| !(grpc && k == "content-type"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    f.send_response(reply.http_status, &headers, &reply.body, &details);
}
