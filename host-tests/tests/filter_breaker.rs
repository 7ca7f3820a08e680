//! The real filter's circuit breaker, across worker VMs, with a scripted clock.

mod filter;

use filter::{BREAKER, call, fail, metric, rejected_with, rejections, start};
use proxywasm_host::HostError;

#[test]
fn five_failures_open_the_breaker_with_the_contract_reply() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    fail(&envoy, 0, 4)?;
    call(&envoy, 0, 200)?; // a success resets the consecutive count
    fail(&envoy, 0, 4)?;
    // Still closed after 4 in a row.
    envoy.worker(0).get("/pay").send()?.expect_continued();
    fail(&envoy, 0, 1)?;

    let req = envoy.worker(0).get("/pay").send()?;
    req.expect_local_reply(503)
        .header("retry-after", "30")
        .header("x-breakwater", "circuit_open")
        .header("x-envoy-overloaded", "true")
        .header("content-type", "application/json")
        .details("breakwater_circuit_open")
        .body_contains(r#""error":"circuit_open""#)
        .body_contains(r#""service":"checkout""#)
        .body_contains(r#""policy":"api""#)
        .body_contains(r#""retry_after":30"#);
    req.expect_finished();
    assert!(
        envoy.worker(0).log_text().contains(
            "breakwater transition service=checkout policy=api from=closed to=open reason=consecutive_failures"
        ),
        "{}",
        envoy.worker(0).log_text()
    );
    Ok(())
}

#[test]
fn a_breaker_opened_on_one_worker_rejects_on_the_other_within_the_sync_interval()
-> Result<(), HostError> {
    let envoy = start(2, BREAKER)?;
    // Worker 1 has seen the closed breaker before the failures; its success is batched, and
    // flushed after them, but must not erase them.
    call(&envoy, 1, 200)?;
    envoy.advance_millis(1)?;
    // Failures split across workers count together.
    fail(&envoy, 0, 3)?;
    fail(&envoy, 1, 2)?;
    // Worker 1 saw the fifth failure and opened the shared breaker: it rejects at once.
    let on_1 = envoy.worker(1).get("/pay").send()?;
    assert!(rejected_with(&on_1, 503), "worker 1 did not reject");
    // Worker 0 learns it at its next sync, at most sync_interval_ms (100) later.
    envoy.advance_millis(100)?;
    let on_0 = envoy.worker(0).get("/pay").send()?;
    on_0.expect_local_reply(503).header("retry-after", "30");
    assert!(rejections(&envoy, "api", "circuit_open").unwrap_or(0) >= 1);
    Ok(())
}

#[test]
fn after_the_recovery_timeout_exactly_half_open_max_calls_probes_pass_across_workers()
-> Result<(), HostError> {
    let envoy = start(2, BREAKER)?;
    fail(&envoy, 0, 5)?;
    envoy.advance_secs(30)?;
    // Two probes, one per worker; the third request on either worker is refused.
    let p0 = envoy.worker(0).get("/pay").send()?;
    let p1 = envoy.worker(1).get("/pay").send()?;
    p0.expect_continued();
    p1.expect_continued();
    // Probes are never retried by the router.
    assert_eq!(p0.stream().request_header("x-envoy-max-retries"), None);
    for w in [0, 1] {
        let extra = envoy.worker(w).get("/pay").send()?;
        assert!(
            rejected_with(&extra, 503),
            "worker {w} admitted a third probe"
        );
    }
    p0.upstream(200)?;
    p1.upstream(200)?;
    // Two successes close it; traffic flows on both workers.
    envoy.advance_millis(100)?;
    for w in [0, 1] {
        envoy.worker(w).get("/pay").send()?.expect_continued();
    }
    let log = envoy.worker(0).log_text() + &envoy.worker(1).log_text();
    assert!(log.contains("from=open to=half_open"), "{log}");
    assert!(
        log.contains("from=half_open to=closed reason=probes_succeeded"),
        "{log}"
    );
    Ok(())
}

#[test]
fn a_failed_probe_reopens() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    fail(&envoy, 0, 5)?;
    envoy.advance_secs(30)?;
    let probe = envoy.worker(0).get("/pay").send()?;
    probe.expect_continued().upstream(500)?;
    let after = envoy.worker(0).get("/pay").send()?;
    after.expect_local_reply(503).header("retry-after", "30");
    Ok(())
}

#[test]
fn a_probe_whose_client_vanishes_gives_its_lease_back() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    fail(&envoy, 0, 5)?;
    envoy.advance_secs(30)?;
    let a = envoy.worker(0).get("/pay").send()?;
    let b = envoy.worker(0).get("/pay").send()?;
    a.expect_continued();
    b.expect_continued();
    a.reset()?; // the client went away: no outcome, the lease is released
    let c = envoy.worker(0).get("/pay").send()?;
    c.expect_continued();
    b.upstream(200)?;
    c.upstream(200)?;
    envoy.worker(0).get("/pay").send()?.expect_continued();
    Ok(())
}

#[test]
fn client_errors_and_caller_fault_grpc_codes_never_trip() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    for status in [400, 404, 409, 429, 501] {
        fail(&envoy, 0, 0)?;
        for _ in 0..5 {
            call(&envoy, 0, status)?;
        }
    }
    for _ in 0..10 {
        let req = envoy.worker(0).get("/svc.Pay/Charge").grpc().send()?;
        req.expect_continued().upstream_grpc(3)?; // INVALID_ARGUMENT
    }
    envoy.worker(0).get("/pay").send()?.expect_continued();
    envoy.advance_secs(1)?; // metrics are flushed on the tick
    assert_eq!(metric(&envoy, "api", "responses_total"), Some(35));
    assert_eq!(metric(&envoy, "api", "failures_total"), Some(0));
    assert_eq!(metric(&envoy, "api", "breaker_opened_total"), Some(0));
    Ok(())
}

#[test]
fn grpc_unavailable_in_trailers_trips_and_grpc_clients_get_status_14() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    for _ in 0..5 {
        let req = envoy.worker(0).get("/svc.Pay/Charge").grpc().send()?;
        req.expect_continued().upstream_grpc(14)?;
    }
    let req = envoy.worker(0).get("/svc.Pay/Charge").grpc().send()?;
    req.expect_local_reply(200)
        .grpc_status(14)
        .header("grpc-status", "14")
        .header("x-breakwater", "circuit_open")
        .header("retry-after", "30");
    let message = req
        .stream()
        .response_header("grpc-message")
        .map(str::to_owned);
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("circuit breaker is open")),
        "grpc-message: {message:?}"
    );
    Ok(())
}

#[test]
fn trailers_only_grpc_status_counts_too() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    for _ in 0..5 {
        let req = envoy.worker(0).get("/svc.Pay/Charge").grpc().send()?;
        req.expect_continued().upstream_with(
            200,
            &[("content-type", "application/grpc"), ("grpc-status", "13")],
            b"",
            &[],
        )?;
    }
    let req = envoy.worker(0).get("/svc.Pay/Charge").grpc().send()?;
    req.expect_local_reply(200)
        .grpc_status(14)
        .details("breakwater_circuit_open");
    Ok(())
}

#[test]
fn breakwater_rejections_are_not_counted_as_upstream_failures() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    fail(&envoy, 0, 5)?;
    for _ in 0..20 {
        let req = envoy.worker(0).get("/pay").send()?;
        assert!(rejected_with(&req, 503));
    }
    envoy.advance_secs(1)?;
    assert_eq!(metric(&envoy, "api", "failures_total"), Some(5));
    assert_eq!(rejections(&envoy, "api", "circuit_open"), Some(20));
    assert_eq!(metric(&envoy, "api", "requests_total"), Some(25));
    assert_eq!(metric(&envoy, "api", "breaker_state"), Some(1));
    Ok(())
}

#[test]
fn router_resets_and_timeouts_count_as_failures() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    for details in [
        "upstream_reset_before_response_started{connection_failure}",
        "upstream_reset_before_response_started{remote_reset}",
        "upstream_response_timeout",
        "upstream_reset_before_response_started{connection_termination}",
        "upstream_per_try_timeout",
    ] {
        let req = envoy
            .worker(0)
            .get("/pay")
            .property("response.code_details", details)
            .send()?;
        req.expect_continued().upstream(503)?;
    }
    let req = envoy.worker(0).get("/pay").send()?;
    assert!(rejected_with(&req, 503));
    Ok(())
}

#[test]
fn forced_open_and_disabled_modes() -> Result<(), HostError> {
    let forced = BREAKER.replace(
        r#""failure_threshold": 5,"#,
        r#""mode": "forced_open", "failure_threshold": 5,"#,
    );
    let envoy = start(1, &forced)?;
    let req = envoy.worker(0).get("/pay").send()?;
    req.expect_local_reply(503).header("retry-after", "30");

    let disabled = BREAKER.replace(
        r#""failure_threshold": 5,"#,
        r#""mode": "disabled", "failure_threshold": 5,"#,
    );
    let envoy = start(1, &disabled)?;
    fail(&envoy, 0, 10)?;
    envoy.worker(0).get("/pay").send()?.expect_continued();
    Ok(())
}

#[test]
fn shadow_mode_counts_but_never_rejects() -> Result<(), HostError> {
    let shadow = BREAKER.replace(
        r#""failure_threshold": 5,"#,
        r#""mode": "shadow", "failure_threshold": 5,"#,
    );
    let envoy = start(1, &shadow)?;
    fail(&envoy, 0, 5)?;
    envoy.worker(0).get("/pay").send()?.expect_continued();
    envoy.advance_secs(1)?;
    assert_eq!(metric(&envoy, "api", "shadow_rejections_total"), Some(1));
    Ok(())
}

#[test]
fn a_wall_clock_that_steps_back_does_not_trap() -> Result<(), HostError> {
    let envoy = start(2, BREAKER)?;
    fail(&envoy, 0, 5)?;
    let now = envoy.world().now_nanos();
    envoy.world().set_now_nanos(now - 3_600_000_000_000);
    let req = envoy.worker(0).get("/pay").send()?;
    // Still open (the open period is rebased), and nothing trapped.
    assert!(rejected_with(&req, 503));
    envoy.advance_secs(31)?;
    envoy.worker(1).get("/pay").send()?.expect_continued();
    Ok(())
}
