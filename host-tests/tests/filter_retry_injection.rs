//! The real filter's retry headers and budget, and failure injection.

mod filter;

use filter::{metric, rejected_with, start};
use proxywasm_host::HostError;

const RETRY: &str = r#"{
  "service": "checkout",
  "policies": [{
    "name": "api",
    "timeout_ms": 2000,
    "retry": {
      "max_retries": 3, "per_try_timeout_ms": 500,
      "budget": { "budget_percent": 10, "min_retry_concurrency": 3, "window_ms": 10000 }
    },
    "breaker": { "failure_threshold": 2, "recovery_timeout_ms": 1000, "recovery_jitter": 0,
                 "half_open_max_calls": 1, "half_open_success_threshold": 1 }
  }]
}"#;

#[test]
fn router_headers_replace_values_already_on_the_request() -> Result<(), HostError> {
    // An earlier filter (or a client Envoy does not strip) set its own: the router must read
    // breakwater's values only, never a list of both.
    let envoy = start(1, RETRY)?;
    let req = envoy
        .worker(0)
        .get("/pay")
        .header("x-envoy-max-retries", "9")
        .header("x-envoy-upstream-rq-timeout-ms", "1")
        .send()?;
    req.expect_continued();
    let stream = req.stream();
    for (name, want) in [
        ("x-envoy-max-retries", "3"),
        ("x-envoy-upstream-rq-timeout-ms", "2000"),
    ] {
        let values: Vec<&str> = stream
            .request_headers()
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values, [want], "{name}");
    }
    Ok(())
}

#[test]
fn retry_and_timeout_headers_reach_the_router() -> Result<(), HostError> {
    let envoy = start(1, RETRY)?;
    let req = envoy.worker(0).get("/pay").send()?;
    req.expect_continued()
        .expect_request_header("x-envoy-max-retries", "3")
        .expect_request_header(
            "x-envoy-retry-on",
            "5xx,reset,connect-failure,refused-stream",
        )
        .expect_request_header("x-envoy-upstream-rq-per-try-timeout-ms", "500")
        .expect_request_header("x-envoy-upstream-rq-timeout-ms", "2000");
    assert_eq!(
        req.stream().request_header("x-envoy-retry-grpc-on"),
        None,
        "gRPC conditions go on gRPC calls only"
    );
    req.upstream(200)?;
    // A gRPC call (POST, so retried only with an idempotency key) gets them.
    let call = envoy
        .worker(0)
        .post("/pkg.Svc/Get")
        .grpc()
        .header("idempotency-key", "k-1")
        .send()?;
    call.expect_continued()
        .expect_request_header("x-envoy-max-retries", "3")
        .expect_request_header("x-envoy-retry-grpc-on", "unavailable,cancelled");
    call.upstream_grpc(0)?;
    Ok(())
}

#[test]
fn the_budget_is_charged_with_the_router_attempts_and_then_stops_retries() -> Result<(), HostError>
{
    let envoy = start(1, RETRY)?;
    let first = envoy
        .worker(0)
        .get("/pay")
        .property_u64("upstream.request_attempt_count", 4)
        .send()?;
    first.expect_request_header("x-envoy-max-retries", "3");
    first.upstream(200)?; // 3 retries made: the floor of 3 is spent
    let second = envoy.worker(0).get("/pay").send()?;
    second
        .expect_continued()
        .expect_request_header("x-envoy-max-retries", "0");
    assert_eq!(second.stream().request_header("x-envoy-retry-on"), None);
    second.upstream(200)?;
    // The window slides past the spent retries.
    envoy.advance_secs(11)?;
    let third = envoy.worker(0).get("/pay").send()?;
    third.expect_request_header("x-envoy-max-retries", "3");
    envoy.advance_secs(1)?;
    assert_eq!(metric(&envoy, "api", "retries_made_total"), Some(3));
    Ok(())
}

#[test]
fn post_without_a_key_retries_only_unprocessed_failures_and_none_while_half_open()
-> Result<(), HostError> {
    let envoy = start(1, RETRY)?;
    let post = envoy.worker(0).post("/pay").send()?;
    post.expect_request_header("x-envoy-max-retries", "3")
        .expect_request_header(
            "x-envoy-retry-on",
            "connect-failure,refused-stream,reset-before-request",
        );
    post.upstream(200)?;
    let keyed = envoy
        .worker(0)
        .post("/pay")
        .header("idempotency-key", "abc")
        .send()?;
    keyed.expect_request_header("x-envoy-max-retries", "3");
    keyed.upstream(200)?;
    for _ in 0..2 {
        envoy.worker(0).get("/pay").send()?.upstream(503)?;
    }
    envoy.advance_secs(1)?;
    let probe = envoy.worker(0).get("/pay").send()?;
    probe
        .expect_continued()
        .expect_request_header("x-envoy-max-retries", "0");
    Ok(())
}

const INJECT: &str = r#"{
  "service": "checkout",
  "policies": [
    { "name": "health", "match": { "path_prefix": "/health" } },
    { "name": "api",
      "breaker": { "failure_threshold": 3, "recovery_jitter": 0 },
      "injection": { "enabled": true, "header_trigger": true, "abort_http_status": 502,
                     "abort_grpc_status": 4 } }
  ]
}"#;

#[test]
fn the_fault_header_aborts_only_where_injection_is_enabled() -> Result<(), HostError> {
    let envoy = start(1, INJECT)?;
    let health = envoy
        .worker(0)
        .get("/health")
        .header("x-failure-inject", "true")
        .send()?;
    health.expect_continued();
    let api = envoy
        .worker(0)
        .get("/pay")
        .header("x-failure-inject", "true")
        .send()?;
    api.expect_local_reply(502)
        .header("x-breakwater", "injected_fault")
        .body_contains(r#""policy":"api""#);
    let grpc = envoy
        .worker(0)
        .get("/svc/M")
        .grpc()
        .header("x-failure-inject", "true")
        .send()?;
    grpc.expect_local_reply(200).grpc_status(4);
    // Without the header nothing is injected (rates are 0).
    envoy.worker(0).get("/pay").send()?.expect_continued();
    // A production profile ignores the header unless header_trigger is set.
    let prod = INJECT.replace(r#""header_trigger": true, "#, "");
    let envoy = start(1, &prod)?;
    envoy
        .worker(0)
        .get("/pay")
        .header("x-failure-inject", "true")
        .send()?
        .expect_continued();
    Ok(())
}

#[test]
fn injected_aborts_do_not_trip_the_breaker_unless_counted() -> Result<(), HostError> {
    let envoy = start(1, INJECT)?;
    for _ in 0..10 {
        let req = envoy
            .worker(0)
            .get("/pay")
            .header("x-failure-inject", "true")
            .send()?;
        assert!(rejected_with(&req, 502));
    }
    envoy.worker(0).get("/pay").send()?.expect_continued();

    let counted = INJECT.replace(
        r#""enabled": true,"#,
        r#""enabled": true, "count_injected": true,"#,
    );
    let envoy = start(1, &counted)?;
    for _ in 0..3 {
        let req = envoy
            .worker(0)
            .get("/pay")
            .header("x-failure-inject", "true")
            .send()?;
        assert!(rejected_with(&req, 502));
    }
    let req = envoy.worker(0).get("/pay").send()?;
    req.expect_local_reply(503)
        .header("x-breakwater", "circuit_open");
    Ok(())
}

#[test]
fn an_injected_delay_holds_the_request_for_its_time_without_blocking_others()
-> Result<(), HostError> {
    let delay = r#"{ "policies": [{ "name": "api",
        "injection": { "enabled": true, "delay_rate": 1.0, "delay_ms": 300 } }] }"#;
    let envoy = start(1, delay)?;
    let held = envoy.worker(0).get("/pay").send()?;
    held.expect_paused();
    let other = envoy.worker(0).get("/pay").send()?;
    other.expect_paused(); // delayed too, independently
    envoy.advance_millis(290)?;
    assert!(held.stream().is_request_paused(), "released early");
    envoy.advance_millis(20)?;
    held.expect_continued();
    held.upstream(200)?.expect_finished();
    other.expect_continued();
    envoy.advance_millis(10)?;
    assert_eq!(metric(&envoy, "api", "injected_delays_total"), Some(2));
    Ok(())
}

#[test]
fn an_abort_rate_of_one_half_lands_within_statistical_bounds() -> Result<(), HostError> {
    let half = r#"{ "policies": [{ "name": "api",
        "injection": { "enabled": true, "abort_rate": 0.5, "abort_http_status": 503 } }] }"#;
    let envoy = start(2, half)?;
    let mut aborted = 0;
    for i in 0..1000 {
        let req = envoy.worker(i % 2).get("/pay").send()?;
        if rejected_with(&req, 503) {
            aborted += 1;
        } else {
            req.upstream(200)?;
        }
    }
    // Binomial(1000, 0.5): sd ~ 15.8, so 430..570 is more than 4 sd each way.
    assert!((430..=570).contains(&aborted), "aborted {aborted} of 1000");
    Ok(())
}
