//! The filter driver: the same scenario through the real Envoy filter (`.wasm`) in the
//! proxy-wasm host, one VM per scenario worker over one shared-data store.
//!
//! Seen from Envoy's side, the filter's decisions are what it does to a stream: it continues
//! it with router headers added, pauses it, or answers it locally. So this driver reports
//! `Forward` for both `Pass` and `Proceed` and `Held` for both `Delay` and `Queue` (its
//! [`Sight`]); everything else (replies, headers, actions, status) it sees as core does. The
//! world's clock starts at [`proxywasm_host::World`]'s epoch and moves with the scenario; each VM
//! is seeded with `seed + worker`, as the native driver seeds its engines.
//!
//! Outcomes reach the filter as Envoy would deliver them: a response (gRPC ones with
//! `grpc-status` in trailers, or without any), the router's own 503/504 with
//! `response.code_details` for a reset, a connect failure or a timeout, and the router's
//! attempt count in `upstream.request_attempt_count`.

use std::collections::BTreeMap;
use std::time::Duration;

use artifacts::BREAKWATER_FILTER;
use proxywasm_host::{Envoy, StreamId};
use serde_json::Value;

use super::{
    Driver, Observed, ObservedAction, Reply, ResponseStep, Scenario, ScenarioRequest, Sight,
};

/// The status path the driver adds when a scenario's configuration sets none.
const STATUS_PATH: &str = "/__conformance/status";

/// The reset path a scenario's configuration gets when it names none (the one the Envoy
/// templates' RBAC filter guards).
pub(crate) const RESET_PATH: &str = "/breakwater/reset";

/// The configuration's `key` path, set to `default` when it names none.
pub(crate) fn ensure_path(config: &mut Value, key: &str, default: &str) -> String {
    match config.get(key).and_then(Value::as_str) {
        Some(p) => p.to_owned(),
        None => {
            if let Some(top) = config.as_object_mut() {
                top.insert(key.into(), default.into());
            }
            default.to_owned()
        }
    }
}

/// One request the driver knows: its worker and stream, and whether it was held.
#[derive(Clone, Copy, Debug)]
struct Known {
    worker: usize,
    stream: StreamId,
    grpc: bool,
    held: bool,
}

/// The real filter on `workers` VMs.
#[derive(Debug)]
pub struct FilterDriver {
    envoy: Envoy,
    /// The world's clock at scenario time 0.
    epoch: u64,
    status_path: String,
    reset_path: String,
    requests: BTreeMap<u64, Known>,
    next_ticket: u64,
}

impl FilterDriver {
    /// Why this driver cannot play `scenario`, if it cannot (it plays every one today).
    pub fn cannot_play(_scenario: &Scenario) -> Option<String> {
        None
    }

    /// The filter for `scenario` at time 0; a refused configuration is an error with the log.
    pub fn new(scenario: &Scenario) -> wasmtime::Result<FilterDriver> {
        let mut config = scenario.config.clone();
        let status_path = ensure_path(&mut config, "status_path", STATUS_PATH);
        let reset_path = ensure_path(&mut config, "reset_path", RESET_PATH);
        let envoy = Envoy::start_seeded(
            &BREAKWATER_FILTER,
            scenario.workers.max(1),
            &config.to_string(),
            // One byte over and over (see `Scenario::engine_seed`).
            |i| scenario.engine_seed(i).to_le_bytes().repeat(64),
        )
        .map_err(|e| wasmtime::format_err!("{e}"))?;
        let epoch = envoy.world().now_nanos();
        Ok(FilterDriver {
            envoy,
            epoch,
            status_path,
            reset_path,
            requests: BTreeMap::new(),
            next_ticket: 1,
        })
    }

    fn known(&self, ticket: u64) -> wasmtime::Result<Known> {
        self.requests
            .get(&ticket)
            .copied()
            .ok_or_else(|| wasmtime::format_err!("unknown ticket {ticket}"))
    }

    /// Moves the world's clock to scenario time `now_ms`, firing due ticks.
    fn clock_to(&self, now_ms: u64) -> wasmtime::Result<()> {
        let target = self.epoch + now_ms * 1_000_000;
        let now = self.envoy.world().now_nanos();
        if target > now {
            self.envoy
                .advance(Duration::from_nanos(target - now))
                .map_err(|e| wasmtime::format_err!("{e}"))?;
        }
        Ok(())
    }
}

/// A local reply as the client of the filter receives it, in the driver-neutral form. The
/// harness records the filter's `send_http_response` arguments. For gRPC those are the status,
/// the extra headers and the message in the body argument, and Envoy answers HTTP 200
/// trailers-only with `content-type`, `grpc-status` and `grpc-message` first: that is what the
/// client sees, so that is what is reported.
fn reply(r: &proxywasm_host::LocalReply) -> Reply {
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let (status, headers, body) = match r.grpc_status {
        Some(code) => {
            let mut headers = vec![
                ("content-type".to_owned(), "application/grpc".to_owned()),
                ("grpc-status".to_owned(), code.to_string()),
                ("grpc-message".to_owned(), body),
            ];
            headers.extend(r.headers.iter().cloned());
            (200, headers, String::new())
        }
        None => (
            u16::try_from(r.status).unwrap_or(0),
            r.headers.clone(),
            body,
        ),
    };
    Reply {
        status,
        grpc_status: r.grpc_status,
        reason: header("x-breakwater").unwrap_or_default(),
        retry_after: header("retry-after").and_then(|v| v.parse().ok()),
        headers,
        body,
    }
}

impl Driver for FilterDriver {
    fn adapter(&self) -> &'static str {
        "filter"
    }

    fn sight(&self) -> Sight {
        Sight {
            pass: false,
            holds: false,
            router_headers: true,
            reply_headers: true,
        }
    }

    fn on_request(
        &mut self,
        now_ms: u64,
        request: &ScenarioRequest,
    ) -> wasmtime::Result<(Observed, Option<u64>)> {
        self.clock_to(now_ms)?;
        let mut builder = self
            .envoy
            .worker(request.worker)
            .request(&request.method, &request.path);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if !request.cluster.is_empty() {
            builder = builder.cluster(&request.cluster);
        }
        if !request.route.is_empty() {
            builder = builder.property("xds.route_name", request.route.as_bytes());
        }
        let exchange = builder.send().map_err(|e| wasmtime::format_err!("{e}"))?;
        let stream = exchange.stream();
        if let Some(r) = stream.local_reply() {
            return Ok((Observed::Reject(reply(r)), None));
        }
        let grpc = request
            .headers
            .get("content-type")
            .is_some_and(|v| v.starts_with("application/grpc"));
        let held = stream.is_request_paused();
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.requests.insert(
            ticket,
            Known {
                worker: request.worker,
                stream: exchange.id(),
                grpc,
                held,
            },
        );
        let observed = if held {
            Observed::Held
        } else {
            Observed::Forward(stream.added_request_headers())
        };
        Ok((observed, Some(ticket)))
    }

    fn on_response(&mut self, now_ms: u64, ticket: u64, r: &ResponseStep) -> wasmtime::Result<()> {
        self.clock_to(now_ms)?;
        let k = self.known(ticket)?;
        let result = self.envoy.worker(k.worker).with(|w| {
            let attempts = u64::from(r.attempts).to_le_bytes();
            w.set_stream_property(k.stream, "upstream.request_attempt_count", attempts)?;
            let routed = |details: &str, status: u32| (status, Some(details.to_owned()));
            let (status, details) = match r.kind.as_str() {
                "reset" => routed("upstream_reset_before_response_started{remote_reset}", 503),
                "connect_failure" => routed(
                    "upstream_reset_before_response_started{connection_failure}",
                    503,
                ),
                "timeout" => routed("upstream_response_timeout", 504),
                _ => (u32::from(r.status.unwrap_or(200)), None),
            };
            if let Some(d) = details {
                w.set_stream_property(k.stream, "response.code_details", d.into_bytes())?;
            }
            let status_text = status.to_string();
            let mut headers = vec![(":status", status_text.as_str())];
            let code = r.grpc_status.map(|c| c.to_string());
            if k.grpc && r.kind == "response" {
                // A gRPC answer: a message, then trailers with the status (or none at all).
                headers.push(("content-type", "application/grpc"));
                let _ = w.response_headers(k.stream, &headers, false)?;
                let end = code.is_none();
                let _ = w.response_body(k.stream, b"\0\0\0\0\0", end)?;
                if let Some(code) = &code {
                    let _ = w.response_trailers(k.stream, &[("grpc-status", code)])?;
                }
            } else {
                let _ = w.response_headers(k.stream, &headers, true)?;
            }
            Ok::<(), proxywasm_host::HostError>(())
        });
        result.map_err(|e| wasmtime::format_err!("{e}"))
    }

    fn cancel(&mut self, now_ms: u64, ticket: u64) -> wasmtime::Result<()> {
        self.clock_to(now_ms)?;
        let k = self.known(ticket)?;
        self.envoy
            .worker(k.worker)
            .with(|w| w.reset(k.stream))
            .map_err(|e| wasmtime::format_err!("{e}"))
    }

    fn handle_timeout(&mut self, now_ms: u64) -> wasmtime::Result<()> {
        self.clock_to(now_ms)
    }

    fn poll_action(&mut self) -> wasmtime::Result<Option<(u64, ObservedAction)>> {
        // A held stream that the filter continued or answered since: in ticket order, which
        // is arrival order, the order the engine's queue and deadlines keep.
        for (ticket, k) in self.requests.iter_mut() {
            if !k.held {
                continue;
            }
            let stream = self
                .envoy
                .worker(k.worker)
                .with(|w| w.stream(k.stream).cloned());
            let Some(stream) = stream else { continue };
            let action = if let Some(r) = stream.local_reply() {
                ObservedAction::Reply(reply(r))
            } else if !stream.is_request_paused() && stream.times_resumed() > 0 {
                ObservedAction::Resume(stream.added_request_headers())
            } else {
                continue;
            };
            k.held = false;
            return Ok(Some((*ticket, action)));
        }
        Ok(None)
    }

    fn reset(&mut self, now_ms: u64, policy: &str) -> wasmtime::Result<u16> {
        self.clock_to(now_ms)?;
        let exchange = self
            .envoy
            .worker(0)
            .post(&format!("{}?policy={policy}", self.reset_path))
            .send()
            .map_err(|e| wasmtime::format_err!("{e}"))?;
        let stream = exchange.stream();
        let r = stream
            .local_reply()
            .ok_or_else(|| wasmtime::format_err!("the reset path was not answered"))?;
        Ok(u16::try_from(r.status)?)
    }

    fn status(&mut self, now_ms: u64) -> wasmtime::Result<serde_json::Value> {
        self.clock_to(now_ms)?;
        let exchange = self
            .envoy
            .worker(0)
            .get(&self.status_path)
            .send()
            .map_err(|e| wasmtime::format_err!("{e}"))?;
        let stream = exchange.stream();
        let r = stream
            .local_reply()
            .ok_or_else(|| wasmtime::format_err!("the status path was not answered"))?;
        Ok(serde_json::from_slice(&r.body)?)
    }
}
