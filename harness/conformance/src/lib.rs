//! Conformance scenarios: one JSON timeline, replayed through every way breakwater runs.
//!
//! The Envoy filter, the component and core itself must decide the same way: the adapters
//! only translate. A scenario (`harness/conformance/scenarios/*.json`, format in
//! its `README.md`) is a configuration plus a timeline of requests, responses,
//! cancellations and clock moves, with the decision expected at each step. [`run`] plays it
//! through a [`Driver`] and returns the [`Trace`] of everything observed, failing at the first
//! step whose observation differs from its expectation. A conformance test plays a scenario
//! through [`native::NativeDriver`] (core's `Engine` directly) and through
//! [`guest::ComponentDriver`] (the component on wasmtime) and asserts the traces are equal, so a
//! difference between the two fails even where a scenario expects nothing.
//!
//! Time starts at 0 and moves only with `advance_ms`; the random stream is fixed by `seed`.

pub mod envoy;
pub mod filter;
pub mod guest;
pub mod native;
mod scenario;

/// The folder of the scenario files (`harness/conformance/scenarios`).
pub fn scenarios_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

pub use scenario::{
    ActionExpect, DecisionExpect, ResponseStep, Scenario, ScenarioRequest, Step, load_dir,
};

use std::collections::HashMap;

/// A local reply as every driver reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status (200 for gRPC).
    pub status: u16,
    /// gRPC status, for gRPC requests.
    pub grpc_status: Option<u32>,
    /// The `x-breakwater` reason (`circuit_open`, ...).
    pub reason: String,
    /// The `retry-after` seconds, when given.
    pub retry_after: Option<u64>,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

/// A decision as every driver reports it (tickets left out: they are driver-local).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// No policy matched.
    Pass,
    /// Forward with these headers.
    Proceed(Vec<(String, String)>),
    /// Hold for an injected delay until this instant (ms).
    Delay(u64),
    /// Hold in the bulkhead queue until this instant (ms).
    Queue(u64),
    /// Answer locally.
    Reject(Reply),
    /// Forwarded with these headers, by a driver that cannot tell `Pass` from `Proceed` (the
    /// filter: both continue the request; only the headers it added show).
    Forward(Vec<(String, String)>),
    /// Held, by a driver that sees neither why (delay or queue) nor until when (the filter:
    /// the stream is paused).
    Held,
}

/// What a driver can see of a decision; a trace is compared as the less sighted driver sees
/// it ([`Observed::seen_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sight {
    /// Tells `Pass` from `Proceed`.
    pub pass: bool,
    /// Tells `Delay` from `Queue`, with their deadlines.
    pub holds: bool,
    /// Sees the router headers added to a forwarded request (real Envoy's router consumes
    /// them before the upstream could show them).
    pub router_headers: bool,
    /// Sees a local reply's headers exactly as the engine wrote them (real Envoy adds its own
    /// and orders them as it likes; the reason and `retry-after` are still compared).
    pub reply_headers: bool,
}

impl Sight {
    /// Everything: core and the component.
    pub const FULL: Sight = Sight {
        pass: true,
        holds: true,
        router_headers: true,
        reply_headers: true,
    };
}

impl Reply {
    /// This reply as a driver with `sight` would report it.
    #[must_use]
    pub fn seen_as(&self, sight: Sight) -> Reply {
        let mut r = self.clone();
        if !sight.reply_headers {
            r.headers.clear();
        }
        r
    }
}

impl Observed {
    /// This decision as a driver with `sight` would report it.
    #[must_use]
    pub fn seen_as(&self, sight: Sight) -> Observed {
        let headers = |h: &Vec<(String, String)>| {
            if sight.router_headers {
                h.clone()
            } else {
                Vec::new()
            }
        };
        match self {
            Observed::Pass if !sight.pass => Observed::Forward(Vec::new()),
            Observed::Proceed(h) if !sight.pass => Observed::Forward(headers(h)),
            Observed::Proceed(h) => Observed::Proceed(headers(h)),
            Observed::Forward(h) => Observed::Forward(headers(h)),
            Observed::Delay(_) | Observed::Queue(_) if !sight.holds => Observed::Held,
            Observed::Reject(r) => Observed::Reject(r.seen_as(sight)),
            other => other.clone(),
        }
    }
}

impl TraceEntry {
    /// This entry as a driver with `sight` would report it.
    #[must_use]
    pub fn seen_as(&self, sight: Sight) -> TraceEntry {
        match self {
            TraceEntry::Decision { id, decision } => TraceEntry::Decision {
                id: id.clone(),
                decision: decision.seen_as(sight),
            },
            TraceEntry::Action { id, action } => TraceEntry::Action {
                id: id.clone(),
                action: match action {
                    ObservedAction::Resume(h) if !sight.router_headers => {
                        ObservedAction::Resume(Vec::new())
                    }
                    ObservedAction::Reply(r) => ObservedAction::Reply(r.seen_as(sight)),
                    other => other.clone(),
                },
            },
            other => other.clone(),
        }
    }
}

/// An action for a held request as every driver reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObservedAction {
    /// Forward now with these headers.
    Resume(Vec<(String, String)>),
    /// Answer with this reply.
    Reply(Reply),
}

/// One line of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEntry {
    /// The decision for request `id`.
    Decision {
        /// The scenario's request id.
        id: String,
        /// What the driver decided.
        decision: Observed,
    },
    /// An action for held request `id`.
    Action {
        /// The scenario's request id.
        id: String,
        /// The action.
        action: ObservedAction,
    },
    /// A status check: healthy, then each policy's breaker state name.
    Status {
        /// Every breaker closed.
        healthy: bool,
        /// `(policy, state)`; state `none` without a breaker.
        states: Vec<(String, String)>,
    },
    /// An operator's reset of a policy's breaker (it succeeded).
    Reset {
        /// The policy.
        policy: String,
    },
}

/// Everything a run observed, in order.
pub type Trace = Vec<TraceEntry>;

/// One way to run the engine: core natively, the component, the filter.
pub trait Driver {
    /// The adapter's name in a scenario's `not_for` (`native`, `component`, `filter`).
    fn adapter(&self) -> &'static str;
    /// What this driver can see of a decision.
    fn sight(&self) -> Sight {
        Sight::FULL
    }
    /// Decides a new request; returns the decision and its ticket, if any.
    fn on_request(
        &mut self,
        now_ms: u64,
        request: &ScenarioRequest,
    ) -> wasmtime::Result<(Observed, Option<u64>)>;
    /// Reports the outcome of a request.
    fn on_response(
        &mut self,
        now_ms: u64,
        ticket: u64,
        response: &ResponseStep,
    ) -> wasmtime::Result<()>;
    /// Cancels a request.
    fn cancel(&mut self, now_ms: u64, ticket: u64) -> wasmtime::Result<()>;
    /// Runs what is due at `now_ms`.
    fn handle_timeout(&mut self, now_ms: u64) -> wasmtime::Result<()>;
    /// The next action: its ticket and what to do.
    fn poll_action(&mut self) -> wasmtime::Result<Option<(u64, ObservedAction)>>;
    /// The status document (`{"healthy": …, "policies": [{"name": …, "state": …, …}]}`),
    /// as the status endpoint serves it.
    fn status(&mut self, now_ms: u64) -> wasmtime::Result<serde_json::Value>;
    /// Resets `policy`'s breaker as an operator would; the HTTP status of the answer (200 when
    /// it was reset; 404, 409 or 503 as the reset endpoint answers).
    fn reset(&mut self, now_ms: u64, policy: &str) -> wasmtime::Result<u16>;
}

/// Whether `got` holds `want`: objects hold every key `want` gives (recursively), numbers are
/// equal within 1e-9, anything else is equal. The error names the first path that differs.
pub(crate) fn holds(
    want: &serde_json::Value,
    got: &serde_json::Value,
    at: &str,
) -> Result<(), String> {
    use serde_json::Value;
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let path = format!("{at}.{k}");
                holds(v, g.get(k).unwrap_or(&Value::Null), &path)?;
            }
            Ok(())
        }
        (Value::Number(w), Value::Number(g))
            if (w.as_f64().unwrap_or(f64::NAN) - g.as_f64().unwrap_or(f64::NAN)).abs() < 1e-9 =>
        {
            Ok(())
        }
        _ if want == got => Ok(()),
        _ => Err(format!("{at}: expected {want}, got {got}")),
    }
}

/// Healthy, and each policy's state, from the status endpoint's JSON (`{"healthy": …,
/// "policies": [{"name": …, "state": …}, …]}`): how the drivers that ask Envoy read it.
pub(crate) fn status_document(doc: &serde_json::Value) -> (bool, Vec<(String, String)>) {
    let healthy = doc["healthy"].as_bool().unwrap_or(false);
    let states = doc["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (healthy, states)
}

/// Milliseconds to the engine's nanoseconds.
pub(crate) const fn nanos(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

/// Plays `scenario` through `driver`; fails at the first unmet expectation, naming the step.
pub fn run(scenario: &Scenario, driver: &mut dyn Driver) -> wasmtime::Result<Trace> {
    let mut now = 0;
    let mut tickets: HashMap<String, u64> = HashMap::new();
    let mut trace = Trace::new();
    let fail = |i: usize, what: String| {
        wasmtime::format_err!("scenario {:?}, step {i}: {what}", scenario.name)
    };
    for (i, step) in scenario.steps.iter().enumerate() {
        match step {
            Step::Request { request, expect } => {
                let (decision, ticket) = driver.on_request(now, request)?;
                if let Some(ticket) = ticket {
                    tickets.insert(request.id.clone(), ticket);
                }
                if let Some(expect) = expect {
                    expect
                        .check(&decision, driver.sight())
                        .map_err(|e| fail(i, e))?;
                }
                trace.push(TraceEntry::Decision {
                    id: request.id.clone(),
                    decision,
                });
            }
            Step::Response(response) => {
                let ticket = ticket(&tickets, &response.id).map_err(|e| fail(i, e))?;
                driver.on_response(now, ticket, response)?;
            }
            Step::Cancel(id) => {
                let ticket = ticket(&tickets, id).map_err(|e| fail(i, e))?;
                driver.cancel(now, ticket)?;
            }
            Step::Advance(ms) => {
                now += ms;
                driver.handle_timeout(now)?;
            }
            Step::ExpectActions(expected) => {
                let mut got = Vec::new();
                while let Some((ticket, action)) = driver.poll_action()? {
                    let id = tickets
                        .iter()
                        .find(|(_, t)| **t == ticket)
                        .map(|(id, _)| id.clone())
                        .ok_or_else(|| fail(i, format!("action for unknown ticket {ticket}")))?;
                    got.push((id, action));
                }
                if got.len() != expected.len() {
                    return Err(fail(i, format!("expected {expected:?}, got {got:?}")));
                }
                for ((id, action), want) in got.into_iter().zip(expected) {
                    want.check(&id, &action).map_err(|e| fail(i, e))?;
                    trace.push(TraceEntry::Action { id, action });
                }
            }
            Step::Reset(policy) => {
                let status = driver.reset(now, policy)?;
                if status != 200 {
                    return Err(fail(i, format!("reset {policy}: answered {status}")));
                }
                trace.push(TraceEntry::Reset {
                    policy: policy.clone(),
                });
            }
            Step::ExpectStatus {
                healthy,
                states,
                policies,
            } => {
                let doc = driver.status(now)?;
                let (got_healthy, got_states) = status_document(&doc);
                for (policy, want) in policies {
                    let got = doc["policies"]
                        .as_array()
                        .and_then(|l| l.iter().find(|p| p["name"] == policy.as_str()))
                        .ok_or_else(|| fail(i, format!("no policy {policy} in the status")))?;
                    holds(want, got, policy).map_err(|e| fail(i, e))?;
                }
                if let Some(h) = healthy
                    && *h != got_healthy
                {
                    return Err(fail(i, format!("healthy {got_healthy}, expected {h}")));
                }
                for (policy, state) in states {
                    let got = got_states.iter().find(|(p, _)| p == policy).map(|(_, s)| s);
                    if got != Some(state) {
                        return Err(fail(
                            i,
                            format!("policy {policy}: state {got:?}, expected {state}"),
                        ));
                    }
                }
                trace.push(TraceEntry::Status {
                    healthy: got_healthy,
                    states: got_states,
                });
            }
        }
    }
    Ok(trace)
}

fn ticket(tickets: &HashMap<String, u64>, id: &str) -> Result<u64, String> {
    tickets
        .get(id)
        .copied()
        .ok_or_else(|| format!("no ticket for request {id:?} (was it rejected or passed?)"))
}
