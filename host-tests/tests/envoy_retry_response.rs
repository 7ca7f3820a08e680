//! The response side of retries in real Envoy 1.40, on both adapters: what a client sees when
//! the router's retries did not help (`x-breakwater: retries_exhausted`, or with
//! `rewrite_upstream_errors` the contract's JSON or gRPC reply in place of Envoy's plaintext),
//! what an operator sees (attempts by number, successes, exhausted retries, a warning line),
//! and hedging (`hedge_on_per_try_timeout`: a slow first attempt is not abandoned, and its
//! answer wins over a slower hedge). Needs Envoy (`make envoy-install`).

mod e2e;

e2e::on_both_adapters!(
    exhausted_retries_are_marked_counted_and_logged,
    envoy_failure_replies_become_the_contract,
    a_grpc_client_gets_unavailable_with_the_contract_message,
    a_hedge_runs_alongside_the_slow_first_attempt,
);

use std::time::{Duration, Instant};

use e2e::{Adapter, Stack, WAIT, breakwater, scenario, start_on};
use envoy_kit::client::{GrpcRequest, HttpRequest};
use envoy_kit::poll::wait_until;
use envoy_kit::upstream::{HOLD_HEADER, Release};

fn stack(adapter: Adapter) -> Stack {
    // One worker: attempt counts are per engine, so this keeps every count exact.
    start_on(adapter, &scenario("retry-response"), 1)
}

/// `policy`'s `metric{attempt=n}` (`retry_attempts_total`, `retry_successes_total`).
fn by_attempt(stack: &Stack, policy: &str, metric: &str, n: u32) -> u64 {
    stack.engine_stat(&format!("{metric}.policy.{policy}.attempt.{n}"))
}

fn exhausted_retries_are_marked_counted_and_logged(adapter: Adapter) {
    let stack = stack(adapter);
    stack.upstream.always(503);
    let rsp = stack.get("/api/a");
    assert_eq!(rsp.status, 503);
    assert_eq!(
        stack.upstream.total(),
        3,
        "the first attempt and two retries"
    );
    assert_eq!(
        breakwater(&rsp),
        Some("retries_exhausted"),
        "the upstream's own 503 after retries is marked"
    );
    assert!(
        !rsp.text().contains("all retry attempts exhausted"),
        "the upstream's own body passes: {}",
        rsp.text()
    );
    stack.upstream.alternate(503, 200);
    stack.upstream.reset_counters();
    let ok = stack.get("/api/b");
    assert_eq!(
        (ok.status, breakwater(&ok)),
        (200, None),
        "saved by a retry"
    );
    stack.upstream.always(200);
    let plain = stack.get("/api/c");
    assert_eq!((plain.status, breakwater(&plain)), (200, None));
    // The operator's view: three answered requests, two retried, one exhausted.
    assert!(
        wait_until(WAIT, || stack.stat("api", "retries_exhausted_total") == 1
            && by_attempt(&stack, "api", "retry_attempts_total", 1) == 3),
        "retries_exhausted_total {} attempts{{1}} {}",
        stack.stat("api", "retries_exhausted_total"),
        by_attempt(&stack, "api", "retry_attempts_total", 1)
    );
    let attempts: Vec<u64> = (1..=3)
        .map(|n| by_attempt(&stack, "api", "retry_attempts_total", n))
        .collect();
    assert_eq!(attempts, [3, 2, 1], "attempts by number");
    let successes: Vec<u64> = (1..=3)
        .map(|n| by_attempt(&stack, "api", "retry_successes_total", n))
        .collect();
    assert_eq!(
        successes,
        [1, 1, 0],
        "successes by the attempt that succeeded"
    );
    assert!(
        wait_until(WAIT, || stack.envoy.log_text().contains(
            "breakwater retries_exhausted service=e2e policy=api attempts=3 last=http_503"
        )),
        "the warning line: {}",
        stack.envoy.log_tail()
    );
}

fn envoy_failure_replies_become_the_contract(adapter: Adapter) {
    let stack = stack(adapter);
    // Every attempt of this request is reset by the upstream: Envoy's own plaintext 503
    // becomes the contract's, with the attempts made.
    stack.upstream.release("r1", Release::Reset);
    let rsp = HttpRequest::get("/contract/x")
        .header(HOLD_HEADER, "r1")
        .header("connection", "close")
        .send(stack.addr)
        .expect("answer");
    assert_eq!(rsp.status, 503, "{}", rsp.text());
    assert_eq!(breakwater(&rsp), Some("retries_exhausted"));
    assert_eq!(rsp.header("content-type"), Some("application/json"));
    assert_eq!(
        rsp.header("x-envoy-overloaded"),
        None,
        "an upstream failure"
    );
    let body: serde_json::Value = serde_json::from_slice(&rsp.body).expect("JSON body");
    assert_eq!(body["error"], "retries_exhausted");
    assert_eq!(body["max_attempts"], 3);
    assert_eq!(body["policy"], "contract");
    assert_eq!(body["service"], "e2e");
    if let Some(len) = rsp.header("content-length") {
        assert_eq!(len, rsp.body.len().to_string(), "content-length is right");
    }
    // A POST is not retried on a reset (the upstream may have processed it): a network error.
    stack.upstream.release("r2", Release::Reset);
    let rsp = HttpRequest::post("/contract/y")
        .header(HOLD_HEADER, "r2")
        .header("connection", "close")
        .body("x")
        .send(stack.addr)
        .expect("answer");
    assert_eq!(rsp.status, 502, "{}", rsp.text());
    assert_eq!(breakwater(&rsp), Some("network_error"));
    let body: serde_json::Value = serde_json::from_slice(&rsp.body).expect("JSON body");
    assert_eq!(body["error"], "network_error");
    assert!(body.get("max_attempts").is_none(), "{body}");
    // Without rewrite_upstream_errors Envoy's own reply passes, marked after retries.
    stack.upstream.release("r3", Release::Reset);
    let rsp = HttpRequest::get("/api/z")
        .header(HOLD_HEADER, "r3")
        .header("connection", "close")
        .send(stack.addr)
        .expect("answer");
    assert_eq!(rsp.status, 503);
    assert_eq!(breakwater(&rsp), Some("retries_exhausted"));
    assert_ne!(rsp.header("content-type"), Some("application/json"));
    assert!(
        rsp.text().starts_with("upstream connect error"),
        "Envoy's own text: {}",
        rsp.text()
    );
    // The breaker and the counters saw the resets as resets, whatever the client was told.
    assert!(wait_until(WAIT, || stack
        .stat("contract", "failures_total")
        == 2));
    assert!(wait_until(WAIT, || stack
        .stat("contract", "retries_exhausted_total")
        == 1));
}

fn a_grpc_client_gets_unavailable_with_the_contract_message(adapter: Adapter) {
    let stack = stack(adapter);
    stack.upstream.release("g1", Release::Reset);
    let rsp = GrpcRequest::new("/contract.Svc/Call")
        .metadata(HOLD_HEADER, "g1")
        .send(stack.addr)
        .expect("gRPC answer");
    assert_eq!((rsp.http_status, rsp.grpc_status), (200, Some(14)));
    assert!(rsp.trailers_only, "a trailers-only answer");
    assert_eq!(rsp.header("x-breakwater"), Some("network_error"));
    assert_eq!(
        rsp.grpc_message.as_deref(),
        Some("upstream unreachable or reset the connection (service e2e, policy contract)")
    );
    let count = |name: &str| rsp.headers.iter().filter(|(k, _)| k == name).count();
    assert_eq!(count("grpc-status"), 1, "{:?}", rsp.headers);
}

fn a_hedge_runs_alongside_the_slow_first_attempt(adapter: Adapter) {
    let stack = stack(adapter);
    // The first attempt answers after 900 ms, past the 300 ms per-try timeout; any later
    // attempt would take 5 s. A retry would abandon the first attempt and wait for a slow
    // second (then time out); a hedge keeps the first running, and its answer wins.
    stack.upstream.set_delay_ms(900);
    let addr = stack.addr;
    let client = std::thread::spawn(move || {
        let start = Instant::now();
        let rsp = HttpRequest::get("/hedged/h")
            .header("connection", "close")
            .timeout(Duration::from_secs(15))
            .send(addr)
            .expect("answer");
        (rsp, start.elapsed())
    });
    assert!(
        stack.upstream.wait_for_total(1, WAIT),
        "first attempt arrives"
    );
    stack.upstream.set_delay_ms(5_000);
    let (rsp, elapsed) = client.join().expect("client");
    assert_eq!(
        (rsp.status, breakwater(&rsp)),
        (200, None),
        "{}",
        rsp.text()
    );
    assert!(
        elapsed < Duration::from_millis(3_000),
        "the first attempt's answer won: {elapsed:?}"
    );
    assert_eq!(stack.upstream.total(), 2, "a hedge was sent alongside");
    assert!(
        wait_until(WAIT, || by_attempt(
            &stack,
            "hedged",
            "retry_attempts_total",
            2
        ) == 1),
        "the hedge is the second attempt"
    );
    stack.upstream.set_delay_ms(0);
}
