//! Hot-path costs of the engine (`cargo bench -p breakwater-core`).
//!
//! - `breaker/closed_admit_record`: the pure state machine alone, acquire + record on a closed
//!   breaker (what every worker would pay if it went to the snapshot each time).
//! - `engine/request_response`: a full decision pair through the engine with a breaker and
//!   retries (steady state: served from the cached snapshot, successes batched).
//! - `engine/request_response_bulkhead`: the same plus a bulkhead, whose permits go through the
//!   shared store with compare-and-swap on every request.
//! - `engine/rejected_open`: a request rejected by an open breaker (local reply built).
//! - `engine/timeout_after_100k`: one `poll_timeout` + `handle_timeout` pair, with one injected
//!   delay pending, after 100 000 requests were in flight at once and finished: the timer work
//!   must not grow with past traffic.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use breakwater_core::breaker::{BreakerConfig, Event, Snapshot};
use breakwater_core::outcome::Outcome;
use breakwater_core::random::SplitMix64;
use breakwater_core::{Config, Decision, Engine, MemoryStore, Nanos, RequestInfo};

fn engine(json: &str) -> Engine<MemoryStore, SplitMix64> {
    let config = Config::from_json(json).expect("valid bench config");
    Engine::new(&config, MemoryStore::new(), SplitMix64::new(1), Nanos::ZERO)
}

fn pair(c: &mut Criterion, name: &str, json: &str) {
    let mut e = engine(json);
    let mut i = 0u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            i += 1;
            let now = Nanos::from_micros(i);
            if e.poll_timeout() <= now {
                e.handle_timeout(now);
            }
            let req = RequestInfo::new("GET", "/api/x");
            if let Decision::Proceed { ticket } = e.on_request(now, black_box(&req)) {
                black_box(e.request_headers(ticket));
                e.on_response(now, ticket, &Outcome::http(200), 1);
            }
        })
    });
}

fn benches(c: &mut Criterion) {
    let config = BreakerConfig::default();
    let mut snap = Snapshot::new(&config);
    let mut i = 0u64;
    c.bench_function("breaker/closed_admit_record", |b| {
        b.iter(|| {
            i += 1;
            let now = Nanos::from_micros(i);
            black_box(snap.apply_in_place(&config, Event::Acquire, now, 0.5));
            let record = Event::Record {
                successes: 1,
                slow_successes: 0,
                failures: 0,
                slow_failures: 0,
            };
            black_box(snap.apply_in_place(&config, record, now, 0.5));
        })
    });
    pair(
        c,
        "engine/request_response",
        r#"{"policies":[{"name":"api","preset":"grpc"}]}"#,
    );
    pair(
        c,
        "engine/request_response_bulkhead",
        r#"{"policies":[{"name":"api","preset":"grpc","bulkhead":{"max_concurrent":100}}]}"#,
    );
    let mut e = engine(r#"{"policies":[{"name":"api","breaker":{"mode":"forced_open"}}]}"#);
    c.bench_function("engine/rejected_open", |b| {
        b.iter(|| black_box(e.on_request(Nanos::from_secs(1), &RequestInfo::new("GET", "/"))))
    });
    timeout_after_traffic(c);
}

/// 100 000 requests in flight at once, all answered, then one injected delay pending.
fn timeout_after_traffic(c: &mut Criterion) {
    let mut e = engine(
        r#"{"policies":[
            {"name":"slow","match":{"path_prefix":"/slow"},
             "injection":{"enabled":true,"delay_rate":1.0,"delay_ms":60000}},
            {"name":"api"}]}"#,
    );
    let now = Nanos::from_secs(1);
    let tickets: Vec<_> = (0..100_000)
        .filter_map(
            |_| match e.on_request(now, &RequestInfo::new("GET", "/api")) {
                Decision::Proceed { ticket } => Some(ticket),
                _ => None,
            },
        )
        .collect();
    assert_eq!(tickets.len(), 100_000);
    for t in tickets {
        e.on_response(now, t, &Outcome::http(200), 1);
    }
    let delayed = e.on_request(now, &RequestInfo::new("GET", "/slow"));
    assert!(matches!(delayed, Decision::Delay { .. }));
    c.bench_function("engine/timeout_after_100k", |b| {
        b.iter(|| {
            let at = black_box(e.poll_timeout()).min(now);
            e.handle_timeout(at);
        })
    });
}

criterion_group!(engine_benches, benches);
criterion_main!(engine_benches);
