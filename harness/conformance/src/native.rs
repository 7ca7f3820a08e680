//! The reference driver: core's `Engine` called directly, as the filter and the component call
//! it.

use breakwater_core::outcome::{Outcome, OutcomeKind};
use breakwater_core::random::SplitMix64;
use breakwater_core::reply::LocalReply;
use breakwater_core::{Action, Config, Decision, Engine, MemoryStore, Nanos, RequestInfo, Ticket};

use super::nanos;
use super::{Driver, Observed, ObservedAction, Reply, ResponseStep, Scenario, ScenarioRequest};

/// Core's engines (one per scenario worker) over one in-memory store, as Envoy's workers over
/// shared data; worker `i` is seeded with `seed + i`, as the other drivers seed theirs.
#[derive(Debug)]
pub struct NativeDriver {
    engines: Vec<Engine<MemoryStore, SplitMix64>>,
    /// Actions polled from some engine but not yet handed out.
    pending: std::collections::VecDeque<(u64, ObservedAction)>,
}

/// A driver-wide ticket: the worker in the top byte, the engine's ticket below.
fn global(worker: usize, ticket: Ticket) -> u64 {
    ((worker as u64) << 56) | ticket.to_u64()
}

/// The worker and the engine's ticket of a driver-wide ticket.
fn local(ticket: u64) -> (usize, Ticket) {
    (
        (ticket >> 56) as usize,
        Ticket::from_u64(ticket & ((1 << 56) - 1)),
    )
}

impl NativeDriver {
    /// Engines for `scenario` at time 0; a bad configuration is an error with every problem.
    pub fn new(scenario: &Scenario) -> wasmtime::Result<NativeDriver> {
        let config = Config::from_value(scenario.config.clone())
            .map_err(|e| wasmtime::format_err!("config: {e}"))?;
        let store = MemoryStore::new();
        let engines = (0..scenario.workers.max(1))
            .map(|i| {
                Engine::new(
                    &config,
                    store.clone(),
                    SplitMix64::new(scenario.engine_seed(i)),
                    Nanos::ZERO,
                )
            })
            .collect();
        Ok(NativeDriver {
            engines,
            pending: Default::default(),
        })
    }

    fn headers(&self, worker: usize, ticket: Ticket) -> Vec<(String, String)> {
        self.engines[worker].request_headers(ticket).to_vec()
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
    fn adapter(&self) -> &'static str {
        "native"
    }

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
        let w = request.worker;
        let engine = self
            .engines
            .get_mut(w)
            .ok_or_else(|| wasmtime::format_err!("no worker {w}"))?;
        Ok(match engine.on_request(now, &info) {
            Decision::Pass => (Observed::Pass, None),
            Decision::Proceed { ticket } => (
                Observed::Proceed(self.headers(w, ticket)),
                Some(global(w, ticket)),
            ),
            Decision::Delay { ticket, until } => {
                (Observed::Delay(until.as_millis()), Some(global(w, ticket)))
            }
            Decision::Queue { ticket, until } => {
                (Observed::Queue(until.as_millis()), Some(global(w, ticket)))
            }
            Decision::Reject { reply: r } => (Observed::Reject(reply(r)), None),
        })
    }

    fn on_response(&mut self, now_ms: u64, ticket: u64, r: &ResponseStep) -> wasmtime::Result<()> {
        let now = Nanos::new(nanos(now_ms));
        let (w, t) = local(ticket);
        self.engines[w].on_response(now, t, &outcome(r)?, r.attempts);
        Ok(())
    }

    fn cancel(&mut self, now_ms: u64, ticket: u64) -> wasmtime::Result<()> {
        let (w, t) = local(ticket);
        self.engines[w].cancel(Nanos::new(nanos(now_ms)), t);
        Ok(())
    }

    fn handle_timeout(&mut self, now_ms: u64) -> wasmtime::Result<()> {
        for e in &mut self.engines {
            e.handle_timeout(Nanos::new(nanos(now_ms)));
        }
        Ok(())
    }

    fn poll_action(&mut self) -> wasmtime::Result<Option<(u64, ObservedAction)>> {
        if self.pending.is_empty() {
            // Worker by worker, each in its own order, as the filter's ticks run.
            for w in 0..self.engines.len() {
                while let Some(a) = self.engines[w].poll_action() {
                    let entry = match a {
                        Action::Resume { ticket } => (
                            global(w, ticket),
                            ObservedAction::Resume(self.headers(w, ticket)),
                        ),
                        Action::Reply { ticket, reply: r } => {
                            (global(w, ticket), ObservedAction::Reply(reply(r)))
                        }
                    };
                    self.pending.push_back(entry);
                }
            }
        }
        Ok(self.pending.pop_front())
    }

    fn status(&mut self, now_ms: u64) -> wasmtime::Result<serde_json::Value> {
        // Worker 0's view, as a status request to one worker sees it.
        let (_, json) = self.engines[0].status_json(Nanos::new(nanos(now_ms)));
        Ok(serde_json::from_str(&json)?)
    }

    fn reset(&mut self, now_ms: u64, policy: &str) -> wasmtime::Result<u16> {
        // Worker 0 serves it, as the reset endpoint's request lands on one worker.
        let query = format!("policy={policy}");
        let reply = self.engines[0].reset_reply(Nanos::new(nanos(now_ms)), "POST", &query);
        Ok(reply.status)
    }
}
