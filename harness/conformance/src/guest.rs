//! The component driver: the same scenario through the breakwater component on wasmtime.

use component_host::{
    Action, BreakerState, Decision, GuestEngine, Header, LocalReply, Outcome, OutcomeKind,
    RejectReason, Request, http_method,
};

use super::nanos;
use super::{Driver, Observed, ObservedAction, Reply, ResponseStep, Scenario, ScenarioRequest};

/// The component's `engine` resource in a fresh instance.
#[derive(Debug)]
pub struct ComponentDriver {
    engine: GuestEngine,
}

impl ComponentDriver {
    /// Why this driver cannot play `scenario`, if it cannot: one component instance holds one
    /// engine over a private store, so it cannot stand for several workers sharing state.
    pub fn cannot_play(scenario: &Scenario) -> Option<String> {
        (scenario.workers > 1).then(|| {
            format!(
                "{} workers share state; the component has no shared store yet",
                scenario.workers
            )
        })
    }

    /// An engine for `scenario` at time 0; a bad configuration is an error with every problem.
    pub fn new(scenario: &Scenario) -> wasmtime::Result<ComponentDriver> {
        let engine = GuestEngine::new(&scenario.config_json(), 0, Some(scenario.engine_seed(0)))?
            .map_err(|e| wasmtime::format_err!("config: {e:?}"))?;
        Ok(ComponentDriver { engine })
    }

    /// The pairs of header set `set` (what the native driver gets from `request_headers`, so
    /// the comparison also checks the numbering).
    fn headers(&self, set: u32) -> Vec<(String, String)> {
        pairs(self.engine.headers(set).to_vec())
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

fn reply(r: LocalReply) -> Reply {
    Reply {
        status: r.status,
        grpc_status: r.grpc_status,
        reason: reason_name(r.reason).to_owned(),
        retry_after: r.retry_after,
        headers: pairs(r.headers),
        body: String::from_utf8_lossy(&r.body).into_owned(),
    }
}

impl Driver for ComponentDriver {
    fn adapter(&self) -> &'static str {
        "component"
    }

    fn on_request(
        &mut self,
        now_ms: u64,
        request: &ScenarioRequest,
    ) -> wasmtime::Result<(Observed, Option<u64>)> {
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
        Ok(match self.engine.on_request(nanos(now_ms), &request)? {
            Decision::Pass => (Observed::Pass, None),
            Decision::Proceed(p) => (Observed::Proceed(self.headers(p.headers)), Some(p.ticket)),
            Decision::Delay(h) => (Observed::Delay(h.until / 1_000_000), Some(h.ticket)),
            Decision::Queue(h) => (Observed::Queue(h.until / 1_000_000), Some(h.ticket)),
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
        self.engine
            .on_response(nanos(now_ms), ticket, outcome, r.attempts)
            .map(drop)
    }

    fn cancel(&mut self, now_ms: u64, ticket: u64) -> wasmtime::Result<()> {
        self.engine.cancel(nanos(now_ms), ticket).map(drop)
    }

    fn handle_timeout(&mut self, now_ms: u64) -> wasmtime::Result<()> {
        self.engine.handle_timeout(nanos(now_ms))
    }

    fn poll_action(&mut self) -> wasmtime::Result<Option<(u64, ObservedAction)>> {
        Ok(self.engine.poll_action()?.map(|a| match a {
            Action::Resume(p) => (p.ticket, ObservedAction::Resume(self.headers(p.headers))),
            Action::Reply(r) => (r.ticket, ObservedAction::Reply(reply(r.reply))),
        }))
    }

    fn status(&mut self, now_ms: u64) -> wasmtime::Result<(bool, Vec<(String, String)>)> {
        let status = self.engine.status(nanos(now_ms))?;
        Ok((
            status.healthy,
            status
                .policies
                .into_iter()
                .map(|p| (p.name, p.state.map_or("none", state_name).to_owned()))
                .collect(),
        ))
    }
}
