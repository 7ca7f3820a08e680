//! The cost of breakwater as a component (`cargo bench -p host-tests --bench component`).
//!
//! - `component/request_response`: one decision pair as a host drives it by the rules of the
//!   WIT's `engine` interface, with a breaker and retries. `on-request` lowers the request
//!   record: `GET` as a method case, the path, no cluster or route (the configuration matches
//!   on neither, so `request-needs` does not ask for them) and no headers (a plain `GET` has
//!   no `content-type`); it answers `proceed` (a ticket and a header-set number, looked up in
//!   the host's copy of `header-sets`). Then `on-response` (its count of waiting actions
//!   checked), then the host's timer check against the deadline it keeps (`handle-timeout`
//!   and `poll-timeout` only when due: once per sync interval, 100 ms of virtual time, every
//!   100 000 pairs here). Two calls across the component boundary per pair. Compare with
//!   core's `engine/request_response` for the price of the boundary.
//! - `component/request_response_no_headers`: the same without a retry section (its header
//!   set is empty); before header sets, the difference was the price of lifting the strings.
//! - `component/request_response_post_matched`: a JSON `POST` with an idempotency key to a
//!   policy matched on cluster and route: cluster, route and two headers lowered (six strings
//!   more than the `GET`), the price of a fuller request.
//! - `component/poll_timeout`: one call with no argument but the resource and a `u64` result:
//!   the floor of any call into the component on this host (wasmtime 48, default `Config`).
//! - `component/policies_1`, `component/policies_10000`: the `GET` pair matched on its cluster
//!   by the last of 1 or 10,000 per-cluster policies (a gateway's configuration): the decision
//!   must not grow with the configuration (issue 20; core's `--bench scale` gives the
//!   interleaved ratio of the engine alone).
//! - `component/construct_10000`: a fresh instance and the `engine` constructor parsing 10,000
//!   policies (what a host pays per configuration push).
//! - `component/instantiate`: a fresh instance from the `InstancePre` (compiled and linked
//!   once), plus the `engine` constructor parsing its JSON configuration.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use component_host::{
    Decision, Guest, GuestEngine, Header, Outcome, OutcomeKind, Request, request,
};

const CONFIG: &str = r#"{"service": "bench", "policies": [
    {"name": "api", "breaker": {"failure_threshold": 5}, "retry": {"max_retries": 2}}
]}"#;

/// A breaker and no retry section: `proceed` names an empty header set.
const NO_HEADERS: &str = r#"{"service": "bench", "policies": [
    {"name": "api", "breaker": {"failure_threshold": 5}}
]}"#;

/// `CONFIG` matched on cluster and route: the engine needs both.
const MATCHED: &str = r#"{"service": "bench", "policies": [
    {"name": "api", "match": {"cluster": "api", "route": "orders"},
     "breaker": {"failure_threshold": 5}, "retry": {"max_retries": 2}}
]}"#;

fn request_response(c: &mut Criterion) {
    let get = request("GET", "/api/x");
    pair(c, "component/request_response", CONFIG, &get);
    pair(c, "component/request_response_no_headers", NO_HEADERS, &get);
    // A JSON POST with an idempotency key (so it may be retried), to a matched cluster and
    // route: six more strings to lower than the GET, as `request-needs` asks for them.
    let mut post = request("POST", "/api/orders");
    post.cluster = Some("api".to_owned());
    post.route = Some("orders".to_owned());
    post.headers = vec![
        header("content-type", "application/json"),
        header("idempotency-key", "k-1"),
    ];
    pair(c, "component/request_response_post_matched", MATCHED, &post);
    for n in [1, 10_000] {
        let mut get = request("GET", "/api/x");
        get.cluster = Some("backend".to_owned());
        pair(
            c,
            &format!("component/policies_{n}"),
            loadgen::setups::per_cluster(n),
            &get,
        );
    }
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

fn pair(c: &mut Criterion, name: &str, config: &str, req: &Request) {
    let mut engine = GuestEngine::new(config, 0, Some(1))
        .expect("no trap")
        .expect("no error");
    // What a host passes is what the engine needs; the bench requests carry nothing else.
    let needs = engine.request_needs().expect("no trap");
    assert_eq!(needs.cluster, req.cluster.is_some(), "{name}");
    assert_eq!(needs.route, req.route.is_some(), "{name}");
    assert!(
        req.headers.iter().all(|h| needs.headers.contains(&h.name)),
        "{name}"
    );
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
            match engine.on_request(now, black_box(req)).expect("no trap") {
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

fn construct_at_scale(c: &mut Criterion) {
    let config = loadgen::setups::per_cluster(10_000);
    let mut group = c.benchmark_group("component");
    group.sample_size(10);
    group.bench_function("construct_10000", |b| {
        b.iter(|| {
            black_box(
                GuestEngine::new(config, 0, Some(1))
                    .expect("no trap")
                    .expect("no error"),
            )
        })
    });
    group.finish();
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

criterion_group!(
    benches,
    request_response,
    poll_timeout,
    instantiate,
    construct_at_scale
);
criterion_main!(benches);
