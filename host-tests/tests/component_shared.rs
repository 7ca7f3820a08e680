//! The shared-state component (world `resilience-shared`) over the in-memory host store: every
//! instance, on every thread of one host, over one store shares one breaker and one bulkhead
//! per policy; a store that fails is answered, never trapped on; and the steady path calls the
//! store about once per sync interval, not per request (counted).

use std::sync::{Arc, Barrier};
use std::thread;

use breakwater_core::MemoryStore;
use component_host::{
    Decision, GuestEngine, Outcome, OutcomeKind, RejectReason, StoreCalls, StoreLink, request,
};

const MS: u64 = 1_000_000;

const CONFIG: &str = r#"{"service": "shop", "policies": [
  {"name": "db", "match": {"path_prefix": "/db"},
   "bulkhead": {"max_concurrent": 8, "queue_size": 0}},
  {"name": "api",
   "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 30000, "recovery_jitter": 0}}
]}"#;

fn http(status: u16) -> Outcome {
    Outcome {
        kind: OutcomeKind::Response,
        http_status: Some(status),
        grpc_status: None,
    }
}

/// An engine of `config` in a fresh shared-state instance over `store`, counted in `calls`.
fn engine(store: &MemoryStore, calls: &Arc<StoreCalls>, config: &str, seed: u64) -> GuestEngine {
    let link = StoreLink {
        store: Arc::new(store.clone()),
        calls: calls.clone(),
    };
    GuestEngine::shared(link, config, 0, Some(seed))
        .expect("no trap")
        .expect("no error")
}

fn rejected_by(d: &Decision) -> Option<RejectReason> {
    match d {
        Decision::Reject(r) => Some(r.reason),
        _ => None,
    }
}

#[test]
fn instances_on_several_threads_share_one_breaker() {
    let store = MemoryStore::new();
    let calls = Arc::new(StoreCalls::default());
    let opened = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let (store, calls, opened) = (store.clone(), calls.clone(), opened.clone());
            thread::spawn(move || {
                let mut e = engine(&store, &calls, CONFIG, i + 1);
                if i == 0 {
                    for k in 0..5 {
                        let now = (10 + k) * MS;
                        let Decision::Proceed(p) = e.on_request(now, &request("GET", "/")).unwrap()
                        else {
                            panic!("closed: proceeds");
                        };
                        e.on_response(now, p.ticket, http(503), 1).unwrap();
                    }
                }
                opened.wait();
                // Every instance read the breaker at 0 ms: within one sync interval (100 ms) of
                // the opening at 14 ms, each one rejects.
                let d = e.on_request(114 * MS, &request("GET", "/")).unwrap();
                rejected_by(&d)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Some(RejectReason::CircuitOpen));
    }
}

#[test]
fn instances_on_several_threads_never_exceed_one_bulkhead_cap() {
    let store = MemoryStore::new();
    let calls = Arc::new(StoreCalls::default());
    let start = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let (store, calls, start) = (store.clone(), calls.clone(), start.clone());
            thread::spawn(move || {
                let mut e = engine(&store, &calls, CONFIG, i + 1);
                start.wait();
                // Each takes as many permits as it can, all at once, in rounds (a compare-and-
                // swap that lost 8 races in a row refuses rather than exceed the cap).
                let mut granted = 0;
                for round in 0..3 {
                    let now = (1 + round) * MS;
                    while let Decision::Proceed(_) =
                        e.on_request(now, &request("GET", "/db")).unwrap()
                    {
                        granted += 1;
                    }
                }
                granted
            })
        })
        .collect();
    let total: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(
        total, 8,
        "exactly the cap, across four instances on four threads"
    );
}

#[test]
fn an_unavailable_store_is_answered_not_trapped_on_and_counted() {
    let store = MemoryStore::new();
    let calls = Arc::new(StoreCalls::default());
    let mut e = engine(&store, &calls, CONFIG, 1);
    let before = calls.snapshot();
    store.set_unavailable(true);
    // The breaker keeps its cached view (closed): admits. The bulkhead fails closed.
    for t in 0..50u64 {
        let now = (200 + t) * MS;
        let d = e.on_request(now, &request("GET", "/")).unwrap();
        let Decision::Proceed(p) = d else {
            panic!("closed breaker admits during an outage: {d:?}");
        };
        e.on_response(now, p.ticket, http(503), 1).unwrap();
        let d = e.on_request(now, &request("GET", "/db")).unwrap();
        assert_eq!(rejected_by(&d), Some(RejectReason::BulkheadFull));
    }
    let c = calls.snapshot();
    assert!(c.unavailable >= 1, "{c:?}");
    // 50 ms of traffic, within one sync interval: one failed call, then the store is left alone.
    assert_eq!(
        c.calls() - before.calls(),
        1,
        "left alone after a failure: {c:?}"
    );
    // Back: the 50 failures kept locally open the breaker for every instance.
    store.set_unavailable(false);
    e.handle_timeout(400 * MS).unwrap();
    let mut other = engine(&store, &calls, CONFIG, 2);
    let d = other.on_request(401 * MS, &request("GET", "/")).unwrap();
    assert_eq!(rejected_by(&d), Some(RejectReason::CircuitOpen));
}

/// The load generator's demo-like policy (loadgen's `DEMO_LIKE`): breaker, bulkhead of 1000,
/// retry headers, injection at rate 0.
const DEMO_LIKE: &str = r#"{"service": "bench", "policies": [{"name": "api",
  "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 3000},
  "retry": {"max_retries": 2},
  "bulkhead": {"max_concurrent": 1000},
  "injection": {"enabled": true, "abort_rate": 0.0, "delay_rate": 0.0}}]}"#;

/// Breaker and retry only.
const BREAKER_RETRY: &str = r#"{"service": "bench", "policies": [{"name": "api",
  "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 3000},
  "retry": {"max_retries": 2}}]}"#;

#[test]
fn the_steady_path_calls_the_in_memory_store_at_most_once_per_twenty_requests() {
    for (name, config) in [("demo-like", DEMO_LIKE), ("breaker+retry", BREAKER_RETRY)] {
        for instances in [1, 4] {
            let store = Arc::new(MemoryStore::new());
            let per_request = fleet::steady::calls_per_request(store, config, instances).unwrap();
            eprintln!(
                "in-memory host store, {name}, {instances} instance(s) at 1000 req/s each: {per_request:.4} store calls per request"
            );
            assert!(
                per_request <= 0.05,
                "{name}: {per_request} calls per request"
            );
            assert!(
                per_request > 0.0,
                "{name}: the periodic sync calls the store"
            );
        }
    }
}
