//! Engine scenarios under a virtual clock: several engines over one `MemoryStore` stand in for
//! Envoy's worker threads, so cross-worker behaviour is tested exactly, without threads.

mod breaker;
mod bulkhead;
mod host_loop;
mod keyed;
mod needs;
mod operator;
mod outage;
mod props;
mod retry_injection;
mod retry_response;
mod timers;
mod timings;
mod workers;

use crate::config::Config;
use crate::engine::{Action, Decision, Engine, Ticket};
use crate::outcome::Outcome;
use crate::random::SplitMix64;
use crate::reply::LocalReply;
use crate::request::RequestInfo;
use crate::store::MemoryStore;
use crate::time::Nanos;

pub(super) type TestEngine = Engine<MemoryStore, SplitMix64>;

/// `n` engines over one store, built at t = 0.
pub(super) fn workers(json: &str, n: usize) -> (Vec<TestEngine>, MemoryStore) {
    let config = Config::from_json(json).unwrap_or_else(|e| panic!("{e}"));
    let store = MemoryStore::new();
    let engines = (0..n)
        .map(|i| {
            Engine::new(
                &config,
                store.clone(),
                SplitMix64::new(i as u64 + 1),
                Nanos::ZERO,
            )
        })
        .collect();
    (engines, store)
}

pub(super) fn one(json: &str) -> TestEngine {
    workers(json, 1).0.pop().unwrap()
}

pub(super) fn ms(v: u64) -> Nanos {
    Nanos::from_millis(v)
}

pub(super) fn get(e: &mut TestEngine, now: Nanos) -> Decision {
    e.on_request(now, &RequestInfo::new("GET", "/"))
}

/// Sends a GET and expects it to proceed.
pub(super) fn proceed(e: &mut TestEngine, now: Nanos) -> Ticket {
    match get(e, now) {
        Decision::Proceed { ticket } => ticket,
        other => panic!("expected proceed at {now}, got {other:?}"),
    }
}

/// Sends a GET and expects a local reply.
pub(super) fn rejected(e: &mut TestEngine, now: Nanos) -> LocalReply {
    match get(e, now) {
        Decision::Reject { reply } => reply,
        other => panic!("expected reject at {now}, got {other:?}"),
    }
}

/// One full call answered with `status`.
pub(super) fn call(e: &mut TestEngine, now: Nanos, status: u16) {
    let t = proceed(e, now);
    e.on_response(now, t, &Outcome::http(status), 1);
}

pub(super) fn actions(e: &mut TestEngine) -> Vec<Action> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

pub(super) fn json_body(reply: &LocalReply) -> serde_json::Value {
    serde_json::from_slice(&reply.body).expect("reply body is JSON")
}
