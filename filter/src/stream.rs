//! One HTTP stream: the request in, the decision out, the outcome back.
//!
//! Every host call costs Envoy CPU, so the cheap path (a policy matched, the breaker is closed,
//! nothing to wait for) makes only the ones it must: the request headers the configuration can
//! look at, one value each and only when the engine asks ([`breakwater_core::RequestNeeds`];
//! typically `:method` and `content-type`), the properties a `match` needs, one per router header
//! added, the clock once (see `clock::ClockUse`), and at the end the response `:status` (plus
//! `grpc-status` for gRPC, and the attempt count only when retries were granted). No shared-data
//! call, and the only allocations are the values read. `host-tests/tests/filter_cost.rs` pins the
//! count.
//!
//! The attempt count and Envoy's `response.code_details` (for an answer that may be Envoy's own
//! failure reply) are read when the response headers pass, once: the engine decides there
//! whether the answer is marked `x-breakwater: retries_exhausted` or replaced by the contract's
//! reply ([`breakwater_core::ResponseVerdict`]), and the outcome reported at the end reuses
//! them.

use breakwater_core::engine::{EXHAUSTED_MARK, ResponseVerdict, split_path};
use breakwater_core::reply::is_grpc_content_type;
use breakwater_core::{Decision, HeaderLookup, RequestInfo, Ticket};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::clock;
use crate::request::RequestHeaders;
use crate::send;
use crate::worker::{self, Shared};
use breakwater_core::outcome::observed::Observed;

/// An HTTP stream's context.
#[derive(Debug)]
pub struct Stream {
    id: u32,
    worker: Option<Shared>,
    ticket: Option<Ticket>,
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

/// Records the `grpc-status` of the response headers or trailers, if there is one.
fn read_grpc_status(observed: &mut Observed, map: MapType) {
    if let Ok(Some(v)) = hostcalls::get_map_value_bytes(map, "grpc-status") {
        observed.set_grpc_status(&v);
    }
}

fn property_string(path: &[&str]) -> String {
    worker::property(path)
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

impl Stream {
    /// A stream of the worker `worker` (`None`: unconfigured, pass everything).
    pub fn new(id: u32, worker: Option<Shared>) -> Stream {
        Stream {
            id,
            worker,
            ticket: None,
            observed: Observed::default(),
            attempts: 1,
            details: None,
            replaced: false,
            finished: false,
        }
    }

    /// Answers an operator endpoint: the status (JSON, or the plain-text report the request
    /// asks for) or a reset; the request headers it needs beyond `:path` are read here, on
    /// this rare path, not by every request.
    fn admin(&self, shared: &Shared, query: &str, reset: bool) -> Action {
        let header = |name: &str| {
            hostcalls::get_map_value(MapType::HttpRequestHeaders, name)
                .ok()
                .flatten()
        };
        let reply = if reset {
            let method = header(":method").unwrap_or_default();
            let mut w = shared.borrow_mut();
            let reply = w.engine.reset_reply(clock::now(), &method, query);
            w.log_events();
            reply
        } else {
            let accept = header("accept");
            shared
                .borrow_mut()
                .engine
                .status_reply(clock::now(), query, accept.as_deref())
        };
        let _ = hostcalls::send_http_response(
            u32::from(reply.status),
            reply.headers,
            Some(reply.body.as_bytes()),
        );
        Action::Pause
    }

    /// Whether breakwater still holds this request (queued or delayed). Its body and trailers
    /// must then be held too: a `Continue` from a body callback would let Envoy's filter manager
    /// forward the paused headers, bypassing the queue or the delay.
    fn held(&self) -> bool {
        match (&self.worker, self.ticket) {
            (Some(shared), Some(ticket)) => shared.borrow().is_held(ticket),
            _ => false,
        }
    }

    /// Reports how the request ended, exactly once, and runs what that unblocked.
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let (Some(shared), Some(ticket)) = (&self.worker, self.ticket.take()) else {
            return;
        };
        let now = shared.borrow().end_time();
        if self.observed.grpc_status_in_headers() {
            // Trailers promised by the response headers never came.
            read_grpc_status(&mut self.observed, MapType::HttpResponseHeaders);
        }
        if self.observed.wants_details() && self.details.is_none() {
            self.details = read_details();
        }
        let details = self
            .details
            .as_deref()
            .filter(|_| self.observed.wants_details());
        let outcome = self.observed.outcome(details);
        let attempts = self.attempts;
        {
            let mut w = shared.borrow_mut();
            w.forget(ticket);
            match outcome {
                Some(o) => w.engine.on_response(now, ticket, &o, attempts),
                None => w.engine.cancel(now, ticket),
            }
        }
        worker::run_actions(shared, now);
        shared.borrow_mut().log_events();
    }
}

/// Envoy's `response.code_details`.
fn read_details() -> Option<String> {
    worker::property(&["response", "code_details"]).and_then(|b| String::from_utf8(b).ok())
}

impl Stream {
    /// Asks the engine what becomes of the response headers (see the module docs): pass them,
    /// mark them, or answer with the contract's reply instead.
    fn response_verdict(&mut self) -> Action {
        let (Some(shared), Some(ticket)) = (&self.worker, self.ticket) else {
            return Action::Continue;
        };
        if shared.borrow().engine.granted_retries(ticket) > 0 {
            self.attempts = worker::property(&["upstream", "request_attempt_count"])
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map_or(1, |b| {
                    u32::try_from(u64::from_le_bytes(b)).unwrap_or(u32::MAX)
                });
        }
        if self.observed.may_be_envoy_reply() {
            self.details = read_details();
        }
        let Some(outcome) = self.observed.outcome_at_headers(self.details.as_deref()) else {
            return Action::Continue;
        };
        let verdict = shared.borrow().engine.on_response_headers(
            clock::recent(),
            ticket,
            &outcome,
            self.attempts,
        );
        match verdict {
            ResponseVerdict::Pass => Action::Continue,
            ResponseVerdict::Mark => {
                let (name, value) = EXHAUSTED_MARK;
                let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value));
                Action::Continue
            }
            ResponseVerdict::Replace(reply) => {
                self.replaced = true;
                send::local_reply(&reply);
                Action::Pause
            }
        }
    }
}

impl Context for Stream {
    fn on_done(&mut self) -> bool {
        self.finish();
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.worker.clone() else {
            return Action::Continue;
        };
        let mut guard = shared.borrow_mut();
        // Disjoint fields: the headers borrow the lookups while the engine decides.
        let w = &mut *guard;
        let headers = RequestHeaders::read(&w.lookups);
        let path = headers.get(":path");
        let (bare, query) = split_path(path);
        let status = w.status_path.as_deref() == Some(bare);
        if status || w.reset_path.as_deref() == Some(bare) {
            let query = query.to_owned();
            drop(guard);
            return self.admin(&shared, &query, !status);
        }
        let cluster = if w.needs.cluster {
            property_string(&["xds", "cluster_name"])
        } else {
            String::new()
        };
        let route = if w.needs.route {
            property_string(&["xds", "route_name"])
        } else {
            String::new()
        };
        let request = RequestInfo {
            method: headers.get(":method"),
            path,
            cluster: &cluster,
            route: &route,
            headers: &headers,
        };
        self.observed.grpc = headers
            .header("content-type")
            .is_some_and(|v| is_grpc_content_type(v.as_bytes()));
        match w.engine.on_request(clock::now(), &request) {
            Decision::Pass => Action::Continue,
            Decision::Proceed { ticket } => {
                self.ticket = Some(ticket);
                for (k, v) in w.engine.request_headers(ticket) {
                    // Set, not added: the router must read breakwater's value alone.
                    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, k, Some(v));
                }
                Action::Continue
            }
            Decision::Delay { ticket, .. } | Decision::Queue { ticket, .. } => {
                self.ticket = Some(ticket);
                w.hold(ticket, self.id);
                Action::Pause
            }
            Decision::Reject { reply } => {
                drop(guard);
                send::local_reply(&reply);
                Action::Pause
            }
        }
    }

    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        if self.held() {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.held() {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        // Only requests the engine let through are reported; breakwater's own replies never are.
        if self.ticket.is_none() || self.replaced {
            return Action::Continue;
        }
        let status = hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten();
        self.observed.set_status(status.as_deref(), end_of_stream);
        // A trailers-only answer carries `grpc-status` here; any other has it in the trailers,
        // read there (or here after all, at the end, if they never come).
        if self.observed.grpc && end_of_stream {
            read_grpc_status(&mut self.observed, MapType::HttpResponseHeaders);
        }
        self.response_verdict()
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.ticket.is_some() {
            self.observed.set_trailers_seen();
            if self.observed.grpc {
                read_grpc_status(&mut self.observed, MapType::HttpResponseTrailers);
            }
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        self.finish();
    }
}
