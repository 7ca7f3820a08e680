//! The cost of breakwater as a component (`cargo bench -p host-tests --bench component`).
//!
//! - `component/request_response`: one decision pair as a host drives it by the rules of the
//!   WIT's `engine` interface, with a breaker and retries: `on-request` (the request record
//!   lowered: method, path, empty cluster and route, no headers) answered by `proceed` (a ticket
//!   and a header-set number, looked up in the host's copy of `header-sets`), then
//!   `on-response` (its count of waiting actions checked), then the host's timer check against
//!   the deadline it keeps (`handle-timeout` and `poll-timeout` only when due: once per sync
//!   interval, 100 ms of virtual time, every 100 000 pairs here). Two calls across the
//!   component boundary per pair. Compare with core's `engine/request_response` for the price
//!   of the boundary.
//! - `component/request_response_no_headers`: the same without a retry section (its header
//!   set is empty); before header sets, the difference was the price of lifting the strings.
//! - `component/poll_timeout`: one call with no argument but the resource and a `u64` result:
//!   the floor of any call into the component on this host (wasmtime 48, default `Config`).
//! - `component/instantiate`: a fresh instance from the `InstancePre` (compiled and linked
//!   once), plus the `engine` constructor parsing its JSON configuration.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use host_tests::component::{Decision, Guest, GuestEngine, Outcome, OutcomeKind, request};

const CONFIG: &str = r#"{"service": "bench", "policies": [
    {"name": "api", "breaker": {"failure_threshold": 5}, "retry": {"max_retries": 2}}
]}"#;

/// A breaker and no retry section: `proceed` names an empty header set.
const NO_HEADERS: &str = r#"{"service": "bench", "policies": [
    {"name": "api", "breaker": {"failure_threshold": 5}}
]}"#;

fn request_response(c: &mut Criterion) {
    pair(c, "component/request_response", CONFIG);
    pair(c, "component/request_response_no_headers", NO_HEADERS);
}

fn pair(c: &mut Criterion, name: &str, config: &str) {
    let mut engine = GuestEngine::new(config, 0, Some(1))
        .expect("no trap")
        .expect("no error");
    let req = request("GET", "/api/x");
    let ok = Outcome {
        kind: OutcomeKind::Response,
        http_status: Some(200),
        grpc_status: None,
    };
    let mut now = 0u64;
    let mut deadline = engine.poll_timeout().expect("no trap");
    c.bench_function(name, |b| {
        b.iter(|| {
            now += 1_000;
            match engine.on_request(now, black_box(&req)).expect("no trap") {
                Decision::Proceed(p) => {
                    black_box(engine.headers(p.headers));
                    let ready = engine.on_response(now, p.ticket, ok, 1).expect("no trap");
                    assert_eq!(ready, 0, "no bulkhead, no actions");
                }
                other => panic!("expected proceed, got {other:?}"),
            }
            if now >= deadline {
                engine.handle_timeout(now).expect("no trap");
                deadline = engine.poll_timeout().expect("no trap");
            }
        })
    });
}

/// One `poll-timeout`: the cost of crossing the boundary at all.
fn poll_timeout(c: &mut Criterion) {
    let mut engine = GuestEngine::new(CONFIG, 0, Some(1))
        .expect("no trap")
        .expect("no error");
    c.bench_function("component/poll_timeout", |b| {
        b.iter(|| black_box(engine.poll_timeout().expect("no trap")))
    });
}

fn instantiate(c: &mut Criterion) {
    Guest::new().expect("compiles"); // compile outside the measurement
    c.bench_function("component/instantiate", |b| {
        b.iter(|| black_box(Guest::new().expect("instantiates")))
    });
    c.bench_function("component/instantiate_and_construct", |b| {
        b.iter(|| {
            black_box(
                GuestEngine::new(CONFIG, 0, Some(1))
                    .expect("no trap")
                    .expect("no error"),
            )
        })
    });
}

criterion_group!(benches, request_response, poll_timeout, instantiate);
criterion_main!(benches);
