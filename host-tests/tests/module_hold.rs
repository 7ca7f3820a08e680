//! Requests the module holds (bulkhead queue, injected delay) are woken through Envoy's
//! scheduler by the module's timer thread or by a permit returned on any worker; none is
//! stranded, none is resumed after its client left, and every permit comes back.
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test.

mod e2e;
mod module_kit;

use std::time::Duration;

use envoy_kit::client::{HttpRequest, send_all};
use envoy_kit::poll::wait_until;
use module_kit::{WAIT, breakwater, start, start_with};

#[test]
fn the_bulkhead_caps_the_upstream_across_workers_queues_and_returns_every_permit() {
    let stack = start("bulkhead");
    stack.upstream.set_delay_ms(300);
    let requests = (0..32)
        .map(|i| {
            // Half carry a body, which must wait in the queue with its headers.
            let request = if i % 2 == 0 {
                HttpRequest::get("/q")
            } else {
                HttpRequest::post("/q").body(vec![b'x'; 2048])
            };
            request.header("connection", "close")
        })
        .collect();
    let results = send_all(stack.addr, requests);
    let (mut ok, mut full, mut timed_out) = (0, 0, 0);
    for r in &results {
        let r = r.as_ref().expect("every request got an answer");
        match (r.status, breakwater(r)) {
            (200, None) => ok += 1,
            (429, Some("bulkhead_full")) => full += 1,
            (429, Some("queue_timeout")) => timed_out += 1,
            other => panic!("unexpected answer {other:?}: {}", r.text()),
        }
    }
    assert_eq!(ok + full + timed_out, 32);
    // One bulkhead for both workers: never more than 4 at the upstream, 4 queued at most.
    assert!(
        stack.upstream.max_inflight() <= 4,
        "upstream saw {} at once",
        stack.upstream.max_inflight()
    );
    assert!(
        ok >= 8,
        "only {ok} succeeded: queued requests did not proceed"
    );
    assert!(
        full >= 32 - 8 - 4,
        "{full} refused outright of 32 (4 run, 4 queue)"
    );
    // Every body reached the upstream whole.
    assert_eq!(stack.upstream.total(), ok);
    assert!(wait_until(WAIT, || stack.stat("db", "bulkhead_inflight")
        == 0
        && stack.stat("db", "bulkhead_queued") == 0
        && stack.rejections("db", "bulkhead_full")
            + stack.rejections("db", "queue_timeout")
            == full + timed_out));
}

#[test]
fn a_queued_request_times_out_at_its_deadline_and_one_whose_client_left_gives_its_place_back() {
    let stack = start("bulkhead");
    stack.upstream.set_delay_ms(1_500);
    // 4 run for 1.5 s; 4 more queue; the queue deadline (400 ms) answers those first.
    let results = send_all(
        stack.addr,
        (0..8)
            .map(|_| HttpRequest::get("/slow").header("connection", "close"))
            .collect(),
    );
    let timed_out: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|r| breakwater(r) == Some("queue_timeout"))
        .collect();
    assert_eq!(timed_out.len(), 4, "{results:?}");
    for r in &timed_out {
        assert!(
            (Duration::from_millis(350)..Duration::from_millis(1_400)).contains(&r.elapsed),
            "answered after {:?}",
            r.elapsed
        );
        assert!(
            r.text().contains(r#""error":"queue_timeout""#),
            "{}",
            r.text()
        );
    }

    // Clients that give up while queued (their timeout is shorter than the queue's): their
    // streams are destroyed while held, their places come back, nothing is resumed later.
    let impatient = send_all(
        stack.addr,
        (0..8)
            .map(|_| {
                HttpRequest::get("/slow")
                    .header("connection", "close")
                    .timeout(Duration::from_millis(150))
            })
            .collect(),
    );
    assert!(impatient.iter().any(Result::is_err), "no client gave up");
    assert!(
        wait_until(WAIT, || stack.stat("db", "bulkhead_inflight") == 0
            && stack.stat("db", "bulkhead_queued") == 0),
        "permits or queue places leaked: inflight {} queued {}",
        stack.stat("db", "bulkhead_inflight"),
        stack.stat("db", "bulkhead_queued")
    );
    // The bulkhead serves again at full width.
    stack.upstream.set_delay_ms(0);
    let after = send_all(
        stack.addr,
        (0..4)
            .map(|_| HttpRequest::get("/again").header("connection", "close"))
            .collect(),
    );
    assert!(
        after
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status == 200)),
        "{after:?}"
    );
    assert!(stack.stat("db", "cancelled_total") >= 1);
}

#[test]
fn injected_delays_hold_only_their_own_requests_and_respect_max_active() {
    let config = r#"{"service": "e2e", "policies": [{"name": "slow",
        "injection": {"enabled": true, "delay_rate": 1.0, "delay_ms": 300, "max_active": 2}}]}"#;
    let stack = start_with(config, 2);
    // max_active 2 for the whole process: of 6 concurrent requests, exactly 2 are delayed.
    let results = send_all(
        stack.addr,
        (0..6)
            .map(|_| HttpRequest::get("/x").header("connection", "close"))
            .collect(),
    );
    let elapsed: Vec<Duration> = results
        .iter()
        .map(|r| {
            let r = r.as_ref().expect("answer");
            assert_eq!(r.status, 200);
            r.elapsed
        })
        .collect();
    let delayed = elapsed
        .iter()
        .filter(|e| **e >= Duration::from_millis(300))
        .count();
    assert_eq!(delayed, 2, "{elapsed:?}");
    assert!(wait_until(WAIT, || stack
        .stat("slow", "injected_delays_total")
        == 2));
}
