//! The component drivers: the same scenario through the breakwater component on wasmtime,
//! world `resilience` (one instance, one engine over its private store) or world
//! `resilience-shared` (one instance per scenario worker, all over one host store, as the
//! native driver's engines are over one `MemoryStore`).

use std::collections::VecDeque;
use std::sync::Arc;

use breakwater_core::MemoryStore;
use component_host::{
    Action, BreakerState, Decision, GuestEngine, Header, LocalReply, Outcome, OutcomeKind,
    RejectReason, Request, ResetError, StoreLink, http_method,
};

use super::nanos;
use super::{Driver, Observed, ObservedAction, Reply, ResponseStep, Scenario, ScenarioRequest};

/// The component's `engine` resource, one per instance.
#[derive(Debug)]
pub struct ComponentDriver {
    engines: Vec<GuestEngine>,
    /// World `resilience-shared` over one host store.
    shared: bool,
    /// Actions polled from some instance but not yet handed out.
    pending: VecDeque<(u64, ObservedAction)>,
}

/// A driver-wide ticket: the worker in the top byte, the engine's ticket below.
fn global(worker: usize, ticket: u64) -> u64 {
    ((worker as u64) << 56) | ticket
}

/// The worker and the engine's ticket of a driver-wide ticket.
fn local(ticket: u64) -> (usize, u64) {
    ((ticket >> 56) as usize, ticket & ((1 << 56) - 1))
}

impl ComponentDriver {
    /// Why the private-store driver cannot play `scenario`, if it cannot: one instance holds
    /// one engine over a private store, so it cannot stand for several workers sharing state.
    /// ([`ComponentDriver::shared`] can.)
    pub fn cannot_play(scenario: &Scenario) -> Option<String> {
        (scenario.workers > 1).then(|| {
            format!(
                "{} workers share state; world `resilience` keeps each engine's state private",
                scenario.workers
            )
        })
    }

    /// An engine for `scenario` at time 0 in one instance of world `resilience`; a bad
    /// configuration is an error with every problem.
    pub fn new(scenario: &Scenario) -> wasmtime::Result<ComponentDriver> {
        let engine = GuestEngine::new(&scenario.config_json(), 0, Some(scenario.engine_seed(0)))?
            .map_err(|e| wasmtime::format_err!("config: {e:?}"))?;
        Ok(ComponentDriver {
            engines: vec![engine],
            shared: false,
            pending: VecDeque::new(),
        })
    }

    /// One instance of world `resilience-shared` per scenario worker, all over one in-memory
    /// host store, built at time 0; worker `i` is seeded as the native driver seeds its engine.
    pub fn shared(scenario: &Scenario) -> wasmtime::Result<ComponentDriver> {
        let store = StoreLink::new(Arc::new(MemoryStore::new()));
        let mut engines = Vec::new();
        for i in 0..scenario.workers.max(1) {
            let seed = Some(scenario.engine_seed(i));
            let engine = GuestEngine::shared(store.clone(), &scenario.config_json(), 0, seed)?
                .map_err(|e| wasmtime::format_err!("config: {e:?}"))?;
            engines.push(engine);
        }
        Ok(ComponentDriver {
            engines,
            shared: true,
            pending: VecDeque::new(),
        })
    }

    /// The pairs of worker `w`'s header set `set` (what the native driver gets from
    /// `request_headers`, so the comparison also checks the numbering).
    fn headers(&self, w: usize, set: u32) -> Vec<(String, String)> {
        pairs(self.engines[w].headers(set).to_vec())
    }
}

/// The `x-breakwater` name of a WIT reason.
pub fn reason_name(r: RejectReason) -> &'static str {
    match r {
        RejectReason::CircuitOpen => "circuit_open",
        RejectReason::BulkheadFull => "bulkhead_full",
        RejectReason::QueueTimeout => "queue_timeout",
        RejectReason::InjectedFault => "injected_fault",
    }
}

/// Core's name of a WIT breaker state.
pub fn state_name(s: BreakerState) -> &'static str {
    match s {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half_open",
    }
}

fn pairs(headers: Vec<Header>) -> Vec<(String, String)> {
    headers.into_iter().map(|h| (h.name, h.value)).collect()
}

/// The reply as the other drivers see it. Its reason is the `x-breakwater` header, as for
/// every adapter: the WIT `reason` names the refusal, which for a fallback reply is the one it
/// replaces (`x-breakwater: fallback`); for any other reply both must agree.
fn reply(r: LocalReply) -> Reply {
    let header = r
        .headers
        .iter()
        .find(|h| h.name == "x-breakwater")
        .map(|h| h.value.clone())
        .unwrap_or_default();
    let reason = if header == "fallback" {
        header
    } else {
        reason_name(r.reason).to_owned()
    };
    Reply {
        status: r.status,
        grpc_status: r.grpc_status,
        reason,
        retry_after: r.retry_after,
        headers: pairs(r.headers),
        body: String::from_utf8_lossy(&r.body).into_owned(),
    }
}

impl Driver for ComponentDriver {
    fn adapter(&self) -> &'static str {
        if self.shared {
            "component_shared"
        } else {
            "component"
        }
    }

    fn on_request(
        &mut self,
        now_ms: u64,
        request: &ScenarioRequest,
    ) -> wasmtime::Result<(Observed, Option<u64>)> {
        let scenario_worker = request.worker;
        let request = Request {
            method: http_method(&request.method),
            path: request.path.clone(),
            cluster: Some(request.cluster.clone()),
            route: Some(request.route.clone()),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        };
        let w = scenario_worker;
        let engine = self
            .engines
            .get_mut(w)
            .ok_or_else(|| wasmtime::format_err!("no worker {w}"))?;
        Ok(match engine.on_request(nanos(now_ms), &request)? {
            Decision::Pass => (Observed::Pass, None),
            Decision::Proceed(p) => (
                Observed::Proceed(self.headers(w, p.headers)),
                Some(global(w, p.ticket)),
            ),
            Decision::Delay(h) => (
                Observed::Delay(h.until / 1_000_000),
                Some(global(w, h.ticket)),
            ),
            Decision::Queue(h) => (
                Observed::Queue(h.until / 1_000_000),
                Some(global(w, h.ticket)),
            ),
            Decision::Reject(r) => (Observed::Reject(reply(r)), None),
        })
    }

    fn on_response(&mut self, now_ms: u64, ticket: u64, r: &ResponseStep) -> wasmtime::Result<()> {
        let kind = match r.kind.as_str() {
            "response" => OutcomeKind::Response,
            "reset" => OutcomeKind::Reset,
            "connect_failure" => OutcomeKind::ConnectFailure,
            "timeout" => OutcomeKind::Timeout,
            other => wasmtime::bail!("unknown response kind {other:?}"),
        };
        let outcome = Outcome {
            kind,
            http_status: r.status,
            grpc_status: r.grpc_status,
        };
        let (w, t) = local(ticket);
        self.engines[w]
            .on_response(nanos(now_ms), t, outcome, r.attempts)
            .map(drop)
    }

    fn cancel(&mut self, now_ms: u64, ticket: u64) -> wasmtime::Result<()> {
        let (w, t) = local(ticket);
        self.engines[w].cancel(nanos(now_ms), t).map(drop)
    }

    fn handle_timeout(&mut self, now_ms: u64) -> wasmtime::Result<()> {
        for e in &mut self.engines {
            e.handle_timeout(nanos(now_ms))?;
        }
        Ok(())
    }

    fn poll_action(&mut self) -> wasmtime::Result<Option<(u64, ObservedAction)>> {
        if self.pending.is_empty() {
            // Worker by worker, each in its own order, as the native driver hands them out.
            for w in 0..self.engines.len() {
                while let Some(a) = self.engines[w].poll_action()? {
                    let entry = match a {
                        Action::Resume(p) => (
                            global(w, p.ticket),
                            ObservedAction::Resume(self.headers(w, p.headers)),
                        ),
                        Action::Reply(r) => {
                            (global(w, r.ticket), ObservedAction::Reply(reply(r.reply)))
                        }
                    };
                    self.pending.push_back(entry);
                }
            }
        }
        Ok(self.pending.pop_front())
    }

    fn status(&mut self, now_ms: u64) -> wasmtime::Result<serde_json::Value> {
        // Worker 0's view, as the native driver reports it; the typed `status` must agree with
        // the document on every state.
        let typed = self.engines[0].status(nanos(now_ms))?;
        let doc: serde_json::Value =
            serde_json::from_str(&self.engines[0].status_json(nanos(now_ms))?)?;
        let (healthy, states) = super::status_document(&doc);
        let typed_states: Vec<(String, String)> = typed
            .policies
            .into_iter()
            .map(|p| (p.name, p.state.map_or("none", state_name).to_owned()))
            .collect();
        if (typed.healthy, typed_states.clone()) != (healthy, states.clone()) {
            wasmtime::bail!("status {typed_states:?} disagrees with status-json {states:?}");
        }
        Ok(doc)
    }

    fn reset(&mut self, now_ms: u64, policy: &str) -> wasmtime::Result<u16> {
        Ok(match self.engines[0].reset(nanos(now_ms), policy)? {
            Ok(_) => 200,
            Err(ResetError::UnknownPolicy) => 404,
            Err(ResetError::NoBreaker) => 409,
            Err(ResetError::StoreUnavailable) => 503,
        })
    }
}
