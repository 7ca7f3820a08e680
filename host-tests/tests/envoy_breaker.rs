//! The breaker in real Envoy 1.40 with 2 workers: it opens on 5 consecutive 5xx, spares the
//! upstream, probes exactly `half_open_max_calls` after the recovery timeout, and closes; 4xx
//! and caller-fault gRPC codes never trip it, gRPC UNAVAILABLE in trailers does.
//!
//! Both tests run on both Envoy adapters (`filter::…`, `module::…`). Needs Envoy
//! (`make envoy-install`); a missing Envoy fails the test.

mod e2e;

e2e::on_both_adapters!(
    opens_spares_the_upstream_probes_exactly_and_closes,
    client_errors_never_trip_but_grpc_unavailable_does,
    a_failing_grpc_method_opens_alone_and_keys_stay_bounded,
);

use std::time::{Duration, Instant};

use e2e::{Adapter, WAIT, breakwater, scenario, start_on};
use envoy_kit::client::{GrpcRequest, HttpRequest, send_all};
use envoy_kit::poll::{poll_for, wait_until};

fn opens_spares_the_upstream_probes_exactly_and_closes(adapter: Adapter) {
    let stack = start_on(adapter, &scenario("breaker"), 2);
    stack.upstream.always(503);
    for i in 0..5 {
        let rsp = stack.get("/pay");
        assert_eq!(
            (rsp.status, breakwater(&rsp)),
            (503, None),
            "failure {i}: {}",
            rsp.text()
        );
    }
    let opened = Instant::now();
    // Every worker rejects within the sync interval (100 ms) plus scheduling slack. Six
    // rejections in a row could all land on the worker that opened it while the other is still
    // within its sync interval, so the check also waits that interval out.
    let sync_interval = Duration::from_millis(100);
    let all_reject = wait_until(WAIT, || {
        (0..6).all(|_| breakwater(&stack.get("/pay")) == Some("circuit_open"))
            && opened.elapsed() > sync_interval
    });
    assert!(all_reject, "the breaker did not reject on every worker");
    let seen = stack.upstream.total();
    for _ in 0..20 {
        let rsp = stack.get("/pay");
        assert_eq!(rsp.status, 503);
        assert_eq!(breakwater(&rsp), Some("circuit_open"));
        assert!(
            matches!(rsp.header("retry-after"), Some("1" | "2")),
            "{:?}",
            rsp.headers
        );
        assert_eq!(rsp.header("content-type"), Some("application/json"));
        // An Envoy in front reads this and does not retry into the open breaker.
        assert_eq!(rsp.header("x-envoy-overloaded"), Some("true"));
        assert!(rsp.text().contains(r#""policy":"api""#), "{}", rsp.text());
    }
    assert_eq!(
        stack.upstream.total(),
        seen,
        "the upstream saw rejected requests"
    );
    // The access log tells breakwater's replies by their response code details.
    assert!(
        wait_until(WAIT, || stack
            .envoy
            .log_text()
            .contains("details=breakwater_circuit_open")),
        "no breakwater_circuit_open details in the access log"
    );

    // Recovery: wait out the real 1.5 s open period (Envoy's clock cannot be stepped).
    stack.upstream.always(200);
    stack.upstream.set_delay_ms(400);
    let recovery = Duration::from_millis(1_600);
    std::thread::sleep(recovery.saturating_sub(opened.elapsed()));
    let before = stack.upstream.total();
    let burst = send_all(
        stack.addr,
        (0..8)
            .map(|_| HttpRequest::get("/pay").header("connection", "close"))
            .collect(),
    );
    let passed = burst
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status == 200))
        .count();
    let rejected = burst
        .iter()
        .filter(|r| {
            r.as_ref()
                .is_ok_and(|r| breakwater(r) == Some("circuit_open"))
        })
        .count();
    assert_eq!((passed, rejected), (2, 6), "{burst:?}");
    assert_eq!(
        stack.upstream.total() - before,
        2,
        "probes that reached the upstream"
    );
    // Two successful probes closed it: traffic flows again on every worker.
    stack.upstream.set_delay_ms(0);
    assert!(wait_until(WAIT, || (0..6).all(|_| stack.get("/pay").status == 200)));
    // Logged within a report period (the module logs from Envoy's main thread every 100 ms).
    assert!(
        wait_until(WAIT, || stack
            .envoy
            .log_text()
            .contains("from=half_open to=closed")),
        "no close logged"
    );
}

fn client_errors_never_trip_but_grpc_unavailable_does(adapter: Adapter) {
    let stack = start_on(adapter, &scenario("breaker"), 2);
    stack.upstream.always(404);
    for _ in 0..12 {
        assert_eq!(stack.get("/pay").status, 404);
    }
    for _ in 0..12 {
        let rsp = GrpcRequest::new("/pay.Charge/Do")
            .metadata("x-upstream-grpc-status", "3")
            .send(stack.addr)
            .expect("grpc answer");
        assert_eq!(rsp.grpc_status, Some(3), "{rsp:?}");
    }
    stack.upstream.always(200);
    assert_eq!(
        stack.get("/pay").status,
        200,
        "4xx or INVALID_ARGUMENT tripped the breaker"
    );

    for _ in 0..5 {
        let rsp = GrpcRequest::new("/pay.Charge/Do")
            .metadata("x-upstream-grpc-status", "14")
            .send(stack.addr)
            .expect("grpc answer");
        assert_eq!(
            (rsp.grpc_status, rsp.trailers_only),
            (Some(14), false),
            "{rsp:?}"
        );
        assert!(rsp.header("x-breakwater").is_none());
    }
    // A gRPC client then gets breakwater's own trailers-only UNAVAILABLE, with a message. (Poll
    // for the first rejection: until its next sync the other worker may still let one through,
    // and after the 1.5 s recovery timeout a probe goes through.)
    let rsp = poll_for(WAIT, || {
        GrpcRequest::new("/pay.Charge/Do")
            .send(stack.addr)
            .ok()
            .filter(|r| r.header("x-breakwater") == Some("circuit_open"))
    })
    .expect("gRPC UNAVAILABLE in trailers did not trip the breaker");
    assert_eq!(
        (rsp.http_status, rsp.grpc_status),
        (200, Some(14)),
        "{rsp:?}"
    );
    assert!(rsp.trailers_only, "{rsp:?}");
    assert_eq!(rsp.header("x-envoy-overloaded"), Some("true"), "{rsp:?}");
    let message = rsp.grpc_message.clone().unwrap_or_default();
    assert!(message.contains("circuit breaker is open"), "{message:?}");
    assert!(message.contains("policy api"), "{message:?}");
}

/// One breaker per gRPC method (`key_by`), at most 2 methods, the rest on the catch-all.
const KEYED: &str = r#"{"service": "shop", "status_path": "/breakwater/status",
  "policies": [{"name": "api", "breaker": {"key_by": "grpc_method", "max_keys": 2,
    "failure_threshold": 3, "recovery_timeout_ms": 60000, "recovery_jitter": 0}}]}"#;

/// A gRPC call whose upstream answers `status`: its gRPC status and `x-breakwater` reason.
fn rpc(stack: &e2e::Stack, method: &str, status: u32) -> (Option<u32>, Option<String>) {
    let rsp = GrpcRequest::new(method)
        .metadata("x-upstream-grpc-status", status.to_string())
        .send(stack.addr)
        .expect("grpc answer");
    (
        rsp.grpc_status,
        rsp.header("x-breakwater").map(str::to_owned),
    )
}

fn a_failing_grpc_method_opens_alone_and_keys_stay_bounded(adapter: Adapter) {
    let stack = start_on(adapter, KEYED, 2);
    // What a client sees: one method fails until breakwater refuses it...
    for _ in 0..3 {
        assert_eq!(rpc(&stack, "/pay.Ledger/Refund", 14), (Some(14), None));
    }
    let refused = wait_until(WAIT, || {
        (0..4).all(|_| rpc(&stack, "/pay.Ledger/Refund", 0).1.as_deref() == Some("circuit_open"))
    });
    assert!(
        refused,
        "the failing method was not refused on every worker"
    );
    // ...while another method of the same policy keeps flowing, on every worker.
    for _ in 0..6 {
        assert_eq!(rpc(&stack, "/pay.Ledger/Balance", 0), (Some(0), None));
    }
    // A third method finds no place (max_keys 2): the catch-all, closed, serves it, counted.
    for _ in 0..3 {
        assert_eq!(rpc(&stack, "/scan.Any/Thing", 0), (Some(0), None));
    }
    // What an operator sees: the keys in the status, the transition's key in the log, the
    // overflow counter (never a key in a label).
    let status = stack.get("/breakwater/status");
    assert_eq!(status.status, 503, "{}", status.text());
    let doc: serde_json::Value = serde_json::from_str(&status.text()).expect("status JSON");
    let policy = &doc["policies"][0];
    assert_eq!(policy["state"], "open", "the worst key: {doc}");
    // Every worker lists every admitted key (a status read refreshes the registry).
    let states: Vec<(String, String)> = policy["keys"]
        .as_array()
        .expect("keys listed")
        .iter()
        .map(|k| {
            (
                k["key"].as_str().unwrap_or("").to_owned(),
                k["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let pair = |k: &str, s: &str| (k.to_owned(), s.to_owned());
    assert_eq!(
        states,
        [
            pair("~other", "closed"),
            pair("/pay.Ledger/Balance", "closed"),
            pair("/pay.Ledger/Refund", "open"),
        ],
        "{doc}"
    );
    assert!(
        wait_until(WAIT, || stack
            .envoy
            .log_text()
            .contains(r#"to=open reason=consecutive_failures"#)
            && stack
                .envoy
                .log_text()
                .contains(r#"key="/pay.Ledger/Refund""#)),
        "no keyed transition logged"
    );
    assert!(
        wait_until(WAIT, || stack.stat("api", "breaker_key_overflows_total")
            >= 3),
        "overflows not counted: {}",
        stack.stat("api", "breaker_key_overflows_total")
    );
}
