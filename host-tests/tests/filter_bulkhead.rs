//! The real filter's bulkhead: a cap that holds across worker VMs, a FIFO queue with deadlines,
//! and permits that come back on every path.

mod filter;

use filter::{filter_metric, metric, rejected_with, rejections, start};
use proxywasm_host::{Exchange, HostError};

const BULKHEAD: &str = r#"{
  "service": "checkout",
  "policies": [{
    "name": "db",
    "bulkhead": { "max_concurrent": 4, "queue_size": 4, "queue_timeout_ms": 200 },
    "retry": { "max_retries": 2 }
  }]
}"#;

fn paused(req: &Exchange<'_>) -> bool {
    req.stream().is_request_paused()
}

#[test]
fn the_cap_holds_across_workers_and_the_queue_then_sheds_with_429() -> Result<(), HostError> {
    let envoy = start(2, BULKHEAD)?;
    let mut running = Vec::new();
    for i in 0..4 {
        let req = envoy.worker(i % 2).get("/q").send()?;
        req.expect_continued();
        running.push(req);
    }
    let mut queued = Vec::new();
    for i in 0..4 {
        let req = envoy.worker(i % 2).get("/q").send()?;
        req.expect_paused();
        queued.push(req);
    }
    let shed = envoy.worker(1).get("/q").send()?;
    shed.expect_local_reply(429)
        .header("x-breakwater", "bulkhead_full")
        .body_contains(r#""policy":"db""#);
    assert!(shed.stream().response_header("retry-after").is_some());
    envoy.advance_millis(10)?;
    assert_eq!(metric(&envoy, "db", "bulkhead_inflight"), Some(4));
    assert_eq!(metric(&envoy, "db", "bulkhead_queued"), Some(4));
    assert_eq!(rejections(&envoy, "db", "bulkhead_full"), Some(1));
    for r in &running {
        r.upstream(200)?;
    }
    for q in &queued {
        assert!(!paused(q), "a waiter was not resumed");
        q.upstream(200)?.expect_finished();
    }
    envoy.advance_millis(10)?;
    assert_eq!(metric(&envoy, "db", "bulkhead_inflight"), Some(0));
    assert_eq!(metric(&envoy, "db", "bulkhead_queued"), Some(0));
    assert_eq!(metric(&envoy, "db", "bulkhead_max_concurrent"), Some(4));
    assert_eq!(metric(&envoy, "db", "bulkhead_max_queued"), Some(4));
    // The four waiters queued at 0 ms and got their permits at 10 ms; the shed request never
    // queued. Eight requests answered, eight durations.
    assert_eq!(
        histogram(&envoy, "queue_wait_milliseconds"),
        [10, 10, 10, 10]
    );
    assert_eq!(histogram(&envoy, "request_duration_milliseconds").len(), 8);
    Ok(())
}

/// The samples of policy `db`'s histogram `name`, as recorded (empty when never defined).
fn histogram(envoy: &proxywasm_host::Envoy, name: &str) -> Vec<u64> {
    let full = format!("envoy.breakwater.{name}.policy.db");
    envoy.world().histogram(&full).unwrap_or_default()
}

#[test]
fn a_freed_permit_wakes_the_oldest_local_waiter_with_its_router_headers() -> Result<(), HostError> {
    let envoy = start(1, BULKHEAD)?;
    let running: Vec<_> = (0..4)
        .map(|_| envoy.worker(0).get("/q").send())
        .collect::<Result<_, _>>()?;
    let first = envoy.worker(0).get("/q").header("x-seq", "1").send()?;
    let second = envoy.worker(0).get("/q").header("x-seq", "2").send()?;
    first.expect_paused();
    second.expect_paused();
    running[0].upstream(200)?;
    // Resumed from the other stream's completion, not a tick.
    assert!(!paused(&first), "the oldest waiter was not resumed");
    assert!(paused(&second), "the younger waiter jumped the queue");
    first.expect_request_header("x-envoy-max-retries", "2");
    running[1].upstream(200)?;
    assert!(!paused(&second));
    Ok(())
}

#[test]
fn a_permit_freed_on_another_worker_wakes_a_waiter_at_the_next_tick() -> Result<(), HostError> {
    let envoy = start(2, BULKHEAD)?;
    let running: Vec<_> = (0..4)
        .map(|_| envoy.worker(0).get("/q").send())
        .collect::<Result<_, _>>()?;
    let waiter = envoy.worker(1).get("/q").send()?;
    waiter.expect_paused();
    running[0].upstream(200)?;
    envoy.advance_millis(10)?; // worker 1's fine tick
    assert!(!paused(&waiter), "the waiter on worker 1 never woke");
    waiter.upstream(200)?.expect_finished();
    Ok(())
}

#[test]
fn a_waiter_past_its_deadline_gets_429_queue_timeout() -> Result<(), HostError> {
    let envoy = start(2, BULKHEAD)?;
    let _running: Vec<_> = (0..4)
        .map(|_| envoy.worker(0).get("/q").send())
        .collect::<Result<_, _>>()?;
    let waiter = envoy.worker(1).get("/q").send()?;
    envoy.advance_millis(150)?;
    assert!(paused(&waiter));
    envoy.advance_millis(60)?;
    waiter
        .expect_local_reply(429)
        .header("x-breakwater", "queue_timeout")
        .header("retry-after", "1");
    let grpc = envoy.worker(1).get("/svc/M").grpc().send()?;
    envoy.advance_millis(210)?;
    grpc.expect_local_reply(200)
        .grpc_status(8)
        .details("breakwater_queue_timeout");
    envoy.advance_millis(10)?;
    assert_eq!(rejections(&envoy, "db", "queue_timeout"), Some(2));
    assert_eq!(metric(&envoy, "db", "bulkhead_queued"), Some(0));
    // Each waited its whole queue timeout (200 ms), up to one 10 ms tick more.
    let waits = histogram(&envoy, "queue_wait_milliseconds");
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits.iter().all(|w| (200..=210).contains(w)), "{waits:?}");
    Ok(())
}

#[test]
fn clients_that_leave_give_back_their_place_and_their_permit() -> Result<(), HostError> {
    let envoy = start(2, BULKHEAD)?;
    let running: Vec<_> = (0..4)
        .map(|i| envoy.worker(i % 2).get("/q").send())
        .collect::<Result<_, _>>()?;
    let waiter = envoy.worker(0).get("/q").send()?;
    waiter.reset()?; // left the queue
    running[0].reset()?; // gave back a permit without an outcome
    running[1].reset()?;
    envoy.advance_millis(10)?;
    assert_eq!(metric(&envoy, "db", "bulkhead_queued"), Some(0));
    assert_eq!(metric(&envoy, "db", "bulkhead_inflight"), Some(2));
    assert_eq!(metric(&envoy, "db", "cancelled_total"), Some(3));
    // Two free permits: two new requests go straight through.
    envoy.worker(1).get("/q").send()?.expect_continued();
    envoy.worker(0).get("/q").send()?.expect_continued();
    envoy.worker(0).get("/q").send()?.expect_paused();
    Ok(())
}

#[test]
fn forced_cas_mismatches_are_retried_then_refused_past_the_bound() -> Result<(), HostError> {
    let no_queue = BULKHEAD.replace(r#""queue_size": 4"#, r#""queue_size": 0"#);
    let envoy = start(2, &no_queue)?;
    envoy.world().fail_next_cas(3);
    envoy.worker(0).get("/q").send()?.expect_continued();
    envoy.world().fail_next_cas(100);
    let refused = envoy.worker(1).get("/q").send()?;
    assert!(
        rejected_with(&refused, 429),
        "a permit was granted without a write"
    );
    envoy.world().fail_next_cas(0);
    envoy.advance_millis(100)?;
    assert_eq!(
        filter_metric(&envoy, "cas_retries_total").map(|n| n >= 3),
        Some(true)
    );
    assert_eq!(
        filter_metric(&envoy, "cas_give_ups_total").map(|n| n >= 1),
        Some(true)
    );
    assert_eq!(metric(&envoy, "db", "bulkhead_inflight"), Some(1));
    Ok(())
}

#[test]
fn a_queued_request_with_a_body_stays_queued_until_its_permit() -> Result<(), HostError> {
    let envoy = start(1, BULKHEAD)?;
    let running: Vec<_> = (0..4)
        .map(|_| envoy.worker(0).get("/q").send())
        .collect::<Result<_, _>>()?;
    // The body arrives while the headers wait in the queue: it must be held with them (a
    // Continue here would send the request upstream past the cap).
    let post = envoy.worker(0).post("/q").body("payload").send()?;
    assert!(paused(&post), "the body released a queued request");
    running[0].upstream(200)?;
    assert!(!paused(&post));
    post.upstream(200)?.expect_finished();
    Ok(())
}

#[test]
fn a_request_held_under_an_old_configuration_is_still_answered() -> Result<(), HostError> {
    let envoy = start(1, BULKHEAD)?;
    let _running: Vec<_> = (0..4)
        .map(|_| envoy.worker(0).get("/q").send())
        .collect::<Result<_, _>>()?;
    let waiter = envoy.worker(0).get("/q").send()?;
    waiter.expect_paused();
    // A new configuration reaches the live VM while the waiter is queued.
    let next = r#"{ "service": "checkout", "policies": [{ "name": "other", "retry": {} }] }"#;
    let accepted = envoy.worker(0).with(|w| w.configure(next))?;
    assert!(accepted);
    envoy
        .worker(0)
        .get("/q")
        .send()?
        .expect_request_header("x-envoy-max-retries", "2");
    envoy.advance_millis(210)?;
    waiter
        .expect_local_reply(429)
        .header("x-breakwater", "queue_timeout");
    Ok(())
}

#[test]
fn gauges_follow_releases_made_on_other_workers() -> Result<(), HostError> {
    let envoy = start(2, BULKHEAD)?;
    let a = envoy.worker(0).get("/q").send()?;
    let b = envoy.worker(1).get("/q").send()?;
    // Worker 1 releases first and last saw one permit in use; worker 0 then frees the last.
    b.upstream(200)?;
    a.upstream(200)?;
    envoy.advance_millis(100)?;
    assert_eq!(metric(&envoy, "db", "bulkhead_inflight"), Some(0));
    Ok(())
}

#[test]
fn permits_of_a_vm_that_trapped_return_after_the_holder_lease() -> Result<(), HostError> {
    use artifacts::BREAKWATER_FILTER_TEST_HOOKS;
    use proxywasm_host::Envoy;
    let no_queue = BULKHEAD.replace(r#""queue_size": 4"#, r#""queue_size": 0"#);
    let envoy = Envoy::start(&BREAKWATER_FILTER_TEST_HOOKS, 2, &no_queue)?;
    let _held: Vec<_> = (0..4)
        .map(|_| envoy.worker(0).get("/q").send())
        .collect::<Result<_, _>>()?;
    // Worker 0's VM traps while it holds all 4 permits: nothing of it runs again.
    let trap = envoy
        .worker(0)
        .get("/q")
        .header("x-breakwater-test-panic", "1")
        .send();
    assert!(trap.is_err(), "the test hook did not trap");
    let refused = envoy.worker(1).get("/q").send()?;
    assert!(
        rejected_with(&refused, 429),
        "the dead VM's permits were free at once"
    );
    // Worker 1 ticks on; a lease (10 s) after the dead VM's last write its rows are reclaimed.
    envoy.advance_secs(11)?;
    for _ in 0..4 {
        envoy.worker(1).get("/q").send()?.expect_continued();
    }
    Ok(())
}

/// Shared-data calls per request of `requests` sequential calls spread over 2 workers, the
/// clock moving 1 ms per request (so the periodic syncs are counted too).
fn calls_per_request(config: &str, requests: u32) -> Result<f64, HostError> {
    let envoy = start(2, config)?;
    envoy.advance_millis(100)?;
    let before = filter_metric(&envoy, "shared_data_calls_total").unwrap_or(0);
    for i in 0..requests {
        let req = envoy.worker(i as usize % 2).get("/q").send()?;
        req.expect_continued();
        req.upstream(200)?;
        envoy.advance_millis(1)?;
    }
    envoy.advance_millis(100)?; // flush the counters
    let calls = filter_metric(&envoy, "shared_data_calls_total").unwrap_or(0) - before;
    Ok(calls as f64 / f64::from(requests))
}

#[test]
fn a_wide_bulkhead_costs_well_under_one_shared_data_call_per_request() -> Result<(), HostError> {
    let wide = BULKHEAD.replace(r#""max_concurrent": 4"#, r#""max_concurrent": 1000"#);
    let spared = calls_per_request(&wide, 400)?;
    assert!(
        spared < 0.5,
        "{spared:.3} shared-data calls per request with spares"
    );
    // A bulkhead too small for spares takes and returns each permit: 2 CAS, 4 calls.
    let exact = calls_per_request(BULKHEAD, 400)?;
    assert!(
        exact >= 4.0,
        "{exact:.3} shared-data calls per request without spares"
    );
    Ok(())
}
