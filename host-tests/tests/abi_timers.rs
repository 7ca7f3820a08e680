//! Ticks, pausing and resuming from the root context, effective contexts.

use artifacts::ABI_PROBE;
use proxywasm_host::{Envoy, HostError};

#[test]
fn paused_request_resumes_from_the_tick() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 1, r#"{"tick_ms": 1000}"#)?;
    let req = envoy
        .worker(0)
        .get("/slow")
        .header("x-probe-pause", "resume")
        .send()?;
    req.expect_paused();
    assert_eq!(envoy.metric("probe.paused"), Some(1));
    assert!(matches!(req.upstream(200), Err(HostError::Misuse(_))));

    envoy.advance_millis(999)?;
    req.expect_paused();
    envoy.advance_millis(1)?;
    req.expect_continued();
    assert_eq!(req.stream().times_resumed(), 1);
    assert_eq!(envoy.metric("probe.paused"), Some(0));

    req.upstream(200)?.expect_status(200).expect_finished();
    Ok(())
}

#[test]
fn tick_answers_a_paused_request_with_a_local_reply() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 1, r#"{"tick_ms": 500}"#)?;
    let req = envoy
        .worker(0)
        .get("/slow")
        .header("x-probe-pause", "reply")
        .send()?;
    req.expect_paused();
    envoy.advance_secs(1)?;
    req.expect_local_reply(504)
        .header("x-probe", "tick")
        .header("x-probe-seen", "504")
        .body_contains("parked too long");
    req.expect_finished();
    Ok(())
}

#[test]
fn a_client_that_went_away_is_bad_argument_not_a_trap() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 1, r#"{"tick_ms": 1000}"#)?;
    let req = envoy
        .worker(0)
        .get("/slow")
        .header("x-probe-pause", "resume")
        .send()?;
    req.reset()?.expect_finished();
    assert!(req.stream().was_reset());
    envoy.advance_secs(1)?;
    let went_away = format!("stream {} went away", req.id().context_id());
    assert!(
        envoy.worker(0).log_text().contains(&went_away),
        "{}",
        envoy.worker(0).log_text()
    );
    Ok(())
}

#[test]
fn ticks_fire_per_worker_and_context_ids_repeat_across_workers() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 2, r#"{"tick_ms": 1000}"#)?;
    let a = envoy
        .worker(0)
        .get("/a")
        .header("x-probe-pause", "resume")
        .send()?;
    let b = envoy
        .worker(1)
        .get("/b")
        .header("x-probe-pause", "resume")
        .send()?;
    assert_eq!(a.id().context_id(), b.id().context_id());

    envoy.worker(1).tick()?;
    a.expect_paused();
    b.expect_continued();

    envoy.advance_secs(1)?;
    a.expect_continued();
    assert_eq!(b.stream().times_resumed(), 1);
    Ok(())
}

#[test]
fn advance_fires_every_due_tick_in_order() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 1, r#"{"tick_ms": 100}"#)?;
    let start = envoy.world().now_nanos();
    envoy.advance_millis(350)?;
    assert_eq!(envoy.world().now_nanos() - start, 350_000_000);
    let next = envoy
        .worker(0)
        .with(|w| w.next_tick_nanos())
        .expect("armed");
    assert_eq!(next - start, 400_000_000);
    Ok(())
}

/// The scenario shown in host-tests/README.md, kept compiling and passing.
#[test]
fn readme_scenario() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 2, r#"{"tick_ms": 1000}"#)?;
    let req = envoy
        .worker(0)
        .get("/orders")
        .header("x-probe-pause", "resume")
        .cluster("backend")
        .property_u64("upstream.request_attempt_count", 1)
        .send()?;
    req.expect_paused();
    envoy.advance_secs(1)?;
    req.expect_continued()
        .expect_request_header("x-probe-cluster", "backend");
    req.upstream(503)?.expect_status(503).expect_finished();
    assert_eq!(envoy.metric("probe.requests"), Some(1));
    Ok(())
}
