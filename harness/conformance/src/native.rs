//! The reference driver: core's `Engine` called directly, as the filter and the component call
//! it.

use breakwater_core::outcome::{Outcome, OutcomeKind};
use breakwater_core::random::SplitMix64;
use breakwater_core::reply::LocalReply;
use breakwater_core::{Action, Config, Decision, Engine, MemoryStore, Nanos, RequestInfo, Ticket};

use super::nanos;
use super::{Driver, Observed, ObservedAction, Reply, ResponseStep, Scenario, ScenarioRequest};

/// Core's engine over an in-memory store, seeded like the component.
#[derive(Debug)]
pub struct NativeDriver {
    engine: Engine<MemoryStore, SplitMix64>,
}

impl NativeDriver {
    /// An engine for `scenario` at time 0; a bad configuration is an error with every problem.
    pub fn new(scenario: &Scenario) -> wasmtime::Result<NativeDriver> {
        let config = Config::from_value(scenario.config.clone())
            .map_err(|e| wasmtime::format_err!("config: {e}"))?;
        let engine = Engine::new(
            &config,
            MemoryStore::new(),
            SplitMix64::new(scenario.seed),
            Nanos::ZERO,
        );
        Ok(NativeDriver { engine })
    }

    fn headers(&self, ticket: Ticket) -> Vec<(String, String)> {
        self.engine.request_headers(ticket).to_vec()
    }
}

/// A core reply in the driver-neutral form.
pub(crate) fn reply(r: LocalReply) -> Reply {
    Reply {
        status: r.http_status,
        grpc_status: r.grpc_status,
        reason: r.header("x-breakwater").unwrap_or_default().to_owned(),
        retry_after: r.header("retry-after").and_then(|v| v.parse().ok()),
        body: String::from_utf8_lossy(&r.body).into_owned(),
        headers: r.headers,
    }
}

/// A response step as core's outcome.
pub(crate) fn outcome(r: &ResponseStep) -> wasmtime::Result<Outcome> {
    let kind = match r.kind.as_str() {
        "response" => OutcomeKind::Response,
        "reset" => OutcomeKind::Reset,
        "connect_failure" => OutcomeKind::ConnectFailure,
        "timeout" => OutcomeKind::Timeout,
        other => wasmtime::bail!("unknown response kind {other:?}"),
    };
    Ok(Outcome {
        kind,
        http_status: r.status,
        grpc_status: r.grpc_status,
    })
}

impl Driver for NativeDriver {
    fn on_request(
        &mut self,
        now_ms: u64,
        request: &ScenarioRequest,
    ) -> wasmtime::Result<(Observed, Option<u64>)> {
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let info = RequestInfo {
            method: &request.method,
            path: &request.path,
            cluster: &request.cluster,
            route: &request.route,
            headers: &headers,
        };
        let now = Nanos::new(nanos(now_ms));
        Ok(match self.engine.on_request(now, &info) {
            Decision::Pass => (Observed::Pass, None),
            Decision::Proceed { ticket } => (
                Observed::Proceed(self.headers(ticket)),
                Some(ticket.to_u64()),
            ),
            Decision::Delay { ticket, until } => {
                (Observed::Delay(until.as_millis()), Some(ticket.to_u64()))
            }
            Decision::Queue { ticket, until } => {
                (Observed::Queue(until.as_millis()), Some(ticket.to_u64()))
            }
            Decision::Reject { reply: r } => (Observed::Reject(reply(r)), None),
        })
    }

    fn on_response(&mut self, now_ms: u64, ticket: u64, r: &ResponseStep) -> wasmtime::Result<()> {
        let now = Nanos::new(nanos(now_ms));
        self.engine
            .on_response(now, Ticket::from_u64(ticket), &outcome(r)?, r.attempts);
        Ok(())
    }

    fn cancel(&mut self, now_ms: u64, ticket: u64) -> wasmtime::Result<()> {
        self.engine
            .cancel(Nanos::new(nanos(now_ms)), Ticket::from_u64(ticket));
        Ok(())
    }

    fn handle_timeout(&mut self, now_ms: u64) -> wasmtime::Result<()> {
        self.engine.handle_timeout(Nanos::new(nanos(now_ms)));
        Ok(())
    }

    fn poll_action(&mut self) -> wasmtime::Result<Option<(u64, ObservedAction)>> {
        Ok(self.engine.poll_action().map(|a| match a {
            Action::Resume { ticket } => (
                ticket.to_u64(),
                ObservedAction::Resume(self.headers(ticket)),
            ),
            Action::Reply { ticket, reply: r } => {
                (ticket.to_u64(), ObservedAction::Reply(reply(r)))
            }
        }))
    }

    fn status(&mut self, now_ms: u64) -> wasmtime::Result<(bool, Vec<(String, String)>)> {
        let (healthy, list) = self.engine.status(Nanos::new(nanos(now_ms)));
        Ok((
            healthy,
            list.into_iter()
                .map(|p| (p.name, p.state.to_owned()))
                .collect(),
        ))
    }
}
