//! The source documents' promises (../shared/SEEDS.md) in real Envoy 1.40 with 2 workers:
//! the `grpc` and `database` presets (source 002's table: the request timeout the upstream is
//! told, the failures that open, the cooldown in `retry-after`, the retries), a `forced_open`
//! breaker visible as open, and source 004's bulkhead and failure-rate examples.
//!
//! Every test runs on both Envoy adapters, the wasm filter and the dynamic module: the contract
//! is the same. Needs Envoy (`make envoy-install`); a missing Envoy fails the test.

mod e2e;

use e2e::{Adapter, Stack, WAIT, breakwater, start_on};

e2e::on_both_adapters!(
    the_grpc_preset_is_source_002s_row,
    the_database_preset_is_source_002s_row,
    a_forced_open_breaker_reads_open_in_the_status_and_the_gauge,
    source_004s_bulkhead_example,
    source_004s_failure_rate_example,
);
use envoy_kit::client::{GrpcRequest, HttpRequest, send_all};
use envoy_kit::poll::{poll_for, wait_until};
use serde_json::Value;

/// The status document, as the filter answers it.
fn status(stack: &Stack) -> Value {
    let rsp = stack.get("/breakwater/status");
    serde_json::from_str(&rsp.text()).unwrap_or_else(|e| panic!("{e}: {}", rsp.text()))
}

/// The reported state of policy `name`.
fn state(stack: &Stack, name: &str) -> String {
    let doc = status(stack);
    let policies = doc["policies"].as_array().expect("policies");
    let p = policies
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no policy {name}: {doc}"));
    p["state"].as_str().unwrap_or_default().to_owned()
}

/// Sends `n` failing GETs to `path` one by one; each must be the upstream's answer, not a
/// refusal of breakwater's (a failure the router retried in vain comes marked
/// `retries_exhausted`, still the upstream's 503).
fn fail(stack: &Stack, path: &str, n: u32) {
    for i in 0..n {
        let rsp = stack.get(path);
        assert!(
            rsp.status == 503 && matches!(breakwater(&rsp), None | Some("retries_exhausted")),
            "failure {i}: {} {:?} {}",
            rsp.status,
            breakwater(&rsp),
            rsp.text()
        );
    }
}

const PRESETS: &str = r#"{"service":"svc","status_path":"/breakwater/status","policies":[
    {"name":"rpc","match":{"path_prefix":"/pkg."},"preset":"grpc","breaker":{"recovery_jitter":0}},
    {"name":"db","match":{"path_prefix":"/db"},"preset":"database","breaker":{"recovery_jitter":0}},
    {"name":"legacy","match":{"path_prefix":"/legacy"},"breaker":{"mode":"forced_open"}}]}"#;

fn the_grpc_preset_is_source_002s_row(adapter: Adapter) {
    let stack = start_on(adapter, PRESETS, 2);
    // A gRPC call failing UNAVAILABLE once succeeds through the preset's retries, although
    // every gRPC call is a POST. (Trailers-only, as a server that refuses a call answers: the
    // router can only retry an answer it has not started to forward.)
    stack.upstream.alternate(503, 200);
    let rsp = GrpcRequest::new("/pkg.Svc/Call")
        .metadata("x-upstream-grpc-trailers-only", "true")
        .send(stack.addr)
        .expect("grpc answer");
    assert_eq!(rsp.grpc_status, Some(0), "{rsp:?}");
    let seen = stack.upstream.requests();
    assert_eq!(seen.len(), 2, "one failed attempt, one retry: {seen:?}");
    // The request timeout the router works to, as it tells the upstream: 30 s.
    assert_eq!(
        seen[0].header("x-envoy-expected-rq-timeout-ms"),
        Some("30000"),
        "{:?}",
        seen[0].headers
    );

    // 5 failures open it; the cooldown is 60 s.
    stack.upstream.always(503);
    stack.upstream.reset_counters();
    fail(&stack, "/pkg.http/get", 5);
    assert!(wait_until(WAIT, || state(&stack, "rpc") == "open"));
    let rsp = poll_for(WAIT, || {
        Some(stack.get("/pkg.http/get")).filter(|r| breakwater(r) == Some("circuit_open"))
    })
    .expect("the breaker rejects");
    assert_eq!(rsp.status, 503);
    assert!(
        matches!(rsp.header("retry-after"), Some("59" | "60")),
        "{:?}",
        rsp.headers
    );
}

fn the_database_preset_is_source_002s_row(adapter: Adapter) {
    let stack = start_on(adapter, PRESETS, 2);
    stack.upstream.always(503);
    let rsp = stack.get("/db/q");
    assert_eq!((rsp.status, breakwater(&rsp)), (503, None));
    let seen = stack.upstream.requests();
    assert_eq!(seen.len(), 1, "database makes no retries: {seen:?}");
    assert_eq!(
        seen[0].header("x-envoy-expected-rq-timeout-ms"),
        Some("10000")
    );
    // 10 failures open it (the first above and 9 more), not 5.
    fail(&stack, "/db/q", 8);
    assert_eq!(
        state(&stack, "db"),
        "closed",
        "open before the 10th failure"
    );
    fail(&stack, "/db/q", 1);
    assert!(wait_until(WAIT, || state(&stack, "db") == "open"));
    let rsp = poll_for(WAIT, || {
        Some(stack.get("/db/q")).filter(|r| breakwater(r) == Some("circuit_open"))
    })
    .expect("the breaker rejects");
    assert!(
        matches!(rsp.header("retry-after"), Some("29" | "30")),
        "{:?}",
        rsp.headers
    );
}

fn a_forced_open_breaker_reads_open_in_the_status_and_the_gauge(adapter: Adapter) {
    let stack = start_on(adapter, PRESETS, 2);
    let rsp = stack.get("/legacy/x");
    assert_eq!((rsp.status, breakwater(&rsp)), (503, Some("circuit_open")));
    assert_eq!(stack.upstream.total(), 0);
    let rsp = stack.get("/breakwater/status");
    assert_eq!(
        rsp.status, 503,
        "a forced-open breaker makes the service unhealthy"
    );
    assert_eq!(state(&stack, "legacy"), "open");
    assert!(
        wait_until(WAIT, || stack.stat("legacy", "breaker_state") == 1),
        "the state gauge reads {}",
        stack.stat("legacy", "breaker_state")
    );
}

fn source_004s_bulkhead_example(adapter: Adapter) {
    // max_concurrent 10, queue_size 5, timeout 5 s: 10 accepted, the 11th to 15th queued, the
    // 16th (and later) rejected with 429.
    let stack = start_on(
        adapter,
        r#"{"service":"gateway","policies":[{"name":"agent",
            "bulkhead":{"max_concurrent":10,"queue_size":5,"queue_timeout_ms":5000}}]}"#,
        2,
    );
    stack.upstream.set_delay_ms(1_500);
    let answers = send_all(
        stack.addr,
        (0..20)
            .map(|_| HttpRequest::get("/").header("connection", "close"))
            .collect(),
    );
    let statuses: Vec<u16> = answers
        .iter()
        .map(|r| r.as_ref().map_or(0, |r| r.status))
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let shed = answers
        .iter()
        .filter(|r| {
            r.as_ref()
                .is_ok_and(|r| r.status == 429 && breakwater(r) == Some("bulkhead_full"))
        })
        .count();
    assert_eq!((ok, shed), (15, 5), "{statuses:?}");
    assert!(
        stack.upstream.max_inflight() <= 10,
        "{}",
        stack.upstream.max_inflight()
    );
    assert_eq!(stack.upstream.total(), 15);
}

fn source_004s_failure_rate_example(adapter: Adapter) {
    // 50 % over a window of 10 calls, consecutive failures off: success and failure alternate,
    // so the breaker opens exactly when the window is full.
    let stack = start_on(
        adapter,
        r#"{"service":"gateway","status_path":"/breakwater/status","policies":[{"name":"agent",
            "breaker":{"failure_threshold":0,"failure_rate_threshold":0.5,"window_size":10}}]}"#,
        2,
    );
    stack.upstream.alternate(200, 503);
    for i in 0..10 {
        let rsp = stack.get("/x");
        assert_eq!(breakwater(&rsp), None, "call {i} was refused");
    }
    // Every worker reports it open (status reads are not traffic: they add no outcome).
    assert!(
        wait_until(WAIT, || (0..6).all(|_| state(&stack, "agent") == "open")),
        "{}",
        status(&stack)
    );
    let rsp = stack.get("/x");
    assert_eq!((rsp.status, breakwater(&rsp)), (503, Some("circuit_open")));
    assert_eq!(stack.upstream.total(), 10);
}
