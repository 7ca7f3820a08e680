//! The cost of breakwater as a component (`cargo bench -p host-tests --bench component`).
//!
//! - `component/request_response`: one decision pair through the component (`on-request` +
//!   `on-response`) with a breaker and retries: two calls across the component boundary, the
//!   request record and the decision variant lifted and lowered each way. Compare with core's
//!   `engine/request_response` for the price of the boundary.
//! - `component/request_response_no_headers`: the same without a retry section, so the
//!   decision carries no router headers.
//! - `component/instantiate`: a fresh instance from the `InstancePre` (compiled and linked
//!   once), plus the `engine` constructor parsing its JSON configuration.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use host_tests::component::{Decision, Guest, GuestEngine, Outcome, OutcomeKind, request};

const CONFIG: &str = r#"{"service": "bench", "policies": [
    {"name": "api", "breaker": {"failure_threshold": 5}, "retry": {"max_retries": 2}}
]}"#;

/// A breaker and no retry section: `proceed` carries no headers, so the difference to
/// `request_response` is the price of lifting four header strings to the host.
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
    c.bench_function(name, |b| {
        b.iter(|| {
            now += 1_000;
            match engine.on_request(now, black_box(&req)).expect("no trap") {
                Decision::Proceed(p) => engine.on_response(now, p.ticket, ok, 1).expect("no trap"),
                other => panic!("expected proceed, got {other:?}"),
            }
            if engine.poll_timeout().expect("no trap") <= now {
                engine.handle_timeout(now).expect("no trap");
            }
        })
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

criterion_group!(benches, request_response, instantiate);
criterion_main!(benches);
