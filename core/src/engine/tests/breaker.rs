//! The breaker through the engine: trip, reject with the contract's reply, probe, close.

use super::*;
use crate::breaker::{Reason, State};
use crate::outcome::{Outcome, OutcomeKind};

pub(super) const BREAKER: &str = r#"{"service":"shop","policies":[{"name":"api","breaker":{
    "failure_threshold":5,"recovery_timeout_ms":30000,"recovery_jitter":0,"recovery_backoff":1,
    "half_open_max_calls":2,"half_open_success_threshold":2}}]}"#;

#[test]
fn five_5xx_trip_then_reject_with_retry_after_then_probes_close() {
    let mut e = one(BREAKER);
    for i in 0..5 {
        call(&mut e, ms(i), 503);
    }
    let ev = e.poll_event().expect("transition event");
    assert_eq!(
        (ev.policy, ev.transition.to, ev.transition.reason),
        (0, State::Open, Reason::ConsecutiveFailures)
    );

    let reply = rejected(&mut e, ms(1_000));
    assert_eq!(reply.http_status, 503);
    assert_eq!(reply.header("retry-after"), Some("30"));
    assert_eq!(reply.header("x-breakwater"), Some("circuit_open"));
    let body = json_body(&reply);
    assert_eq!(body["error"], "circuit_open");
    assert_eq!(
        (body["service"].as_str(), body["policy"].as_str()),
        (Some("shop"), Some("api"))
    );
    assert_eq!(body["retry_after"], 30);
    assert_eq!(e.stats(0).unwrap().rejected_open, 1);

    // Recovery elapsed (opened at 4 ms): exactly two probes, the third is refused.
    let t = ms(30_004);
    let p1 = proceed(&mut e, t);
    let p2 = proceed(&mut e, t);
    assert_eq!(rejected(&mut e, t).http_status, 503);
    assert_eq!(e.breaker_state(0), Some(State::HalfOpen));
    e.on_response(t, p1, &Outcome::http(200), 1);
    e.on_response(t, p2, &Outcome::http(200), 1);
    assert_eq!(e.breaker_state(0), Some(State::Closed));
    proceed(&mut e, t);
}

#[test]
fn client_errors_never_trip_but_grpc_unavailable_does() {
    let grpc = [("content-type", "application/grpc")];
    let req = RequestInfo {
        headers: &grpc,
        ..RequestInfo::new("POST", "/pkg.Svc/Call")
    };
    let mut e = one(BREAKER);
    for i in 0..20 {
        call(&mut e, ms(i), 404);
        call(&mut e, ms(i), 400);
        let Decision::Proceed { ticket } = e.on_request(ms(i), &req) else {
            panic!()
        };
        e.on_response(ms(i), ticket, &Outcome::grpc(3), 1); // INVALID_ARGUMENT
    }
    assert_eq!(e.breaker_state(0), Some(State::Closed));
    for i in 0..5 {
        let Decision::Proceed { ticket } = e.on_request(ms(100 + i), &req) else {
            panic!()
        };
        e.on_response(ms(100 + i), ticket, &Outcome::grpc(14), 1); // UNAVAILABLE
    }
    assert_eq!(e.breaker_state(0), Some(State::Open));
    // A gRPC caller gets a trailers-only UNAVAILABLE.
    let Decision::Reject { reply } = e.on_request(ms(200), &req) else {
        panic!()
    };
    assert_eq!((reply.http_status, reply.grpc_status), (200, Some(14)));
    assert!(reply.grpc_message.is_some());
}

#[test]
fn resets_and_timeouts_are_failures() {
    let mut e = one(BREAKER);
    for (i, kind) in [
        OutcomeKind::Reset,
        OutcomeKind::ConnectFailure,
        OutcomeKind::Timeout,
        OutcomeKind::Reset,
        OutcomeKind::Timeout,
    ]
    .into_iter()
    .enumerate()
    {
        let t = proceed(&mut e, ms(i as u64));
        e.on_response(ms(i as u64), t, &Outcome::without_answer(kind), 1);
    }
    assert_eq!(e.breaker_state(0), Some(State::Open));
}

#[test]
fn a_failed_probe_reopens_and_a_cancelled_probe_frees_its_lease() {
    let mut e = one(BREAKER);
    for i in 0..5 {
        call(&mut e, ms(i), 500);
    }
    let t = ms(30_004);
    let p1 = proceed(&mut e, t);
    let p2 = proceed(&mut e, t);
    e.cancel(t, p2); // client went away: lease back, no verdict
    let p3 = proceed(&mut e, t);
    e.on_response(t, p1, &Outcome::http(200), 1);
    e.on_response(t, p3, &Outcome::http(502), 1);
    assert_eq!(e.breaker_state(0), Some(State::Open));
    assert_eq!(rejected(&mut e, t).header("retry-after"), Some("30"));
}

#[test]
fn shadow_mode_counts_but_never_rejects_and_forced_open_always_rejects() {
    let shadow = BREAKER.replace(
        r#""failure_threshold":5"#,
        r#""mode":"shadow","failure_threshold":5"#,
    );
    let mut e = one(&shadow);
    for i in 0..10 {
        call(&mut e, ms(i), 503);
    }
    assert_eq!(e.breaker_state(0), Some(State::Open));
    assert_eq!(e.stats(0).unwrap().shadow_rejections, 5);
    assert_eq!(e.stats(0).unwrap().rejected_open, 0);

    let forced = BREAKER.replace(
        r#""failure_threshold":5"#,
        r#""mode":"forced_open","failure_threshold":5"#,
    );
    let mut e = one(&forced);
    assert_eq!(rejected(&mut e, ms(0)).header("retry-after"), Some("30"));

    let disabled = BREAKER.replace(
        r#""failure_threshold":5"#,
        r#""mode":"disabled","failure_threshold":5"#,
    );
    let mut e = one(&disabled);
    for i in 0..10 {
        call(&mut e, ms(i), 503);
    }
    assert_eq!(e.breaker_state(0), None);
}

#[test]
fn a_backwards_clock_does_not_panic_or_reopen_forever() {
    let mut e = one(BREAKER);
    for i in 0..5 {
        call(&mut e, Nanos::from_secs(100 + i), 503);
    }
    // The wall clock jumps back 94 s: still open, for the configured 30 s from the new clock
    // (not until the old deadline, 124 s away).
    let reply = rejected(&mut e, Nanos::from_secs(10));
    assert_eq!(reply.header("retry-after"), Some("30"));
    e.handle_timeout(Nanos::ZERO);
    assert_eq!(
        rejected(&mut e, Nanos::from_secs(39)).header("retry-after"),
        Some("1")
    );
    proceed(&mut e, Nanos::from_secs(40));
}

#[test]
fn status_document_reports_state_and_health() {
    let mut e = one(BREAKER);
    let (healthy, text) = e.status_json(ms(0));
    assert!(healthy, "{text}");
    for i in 0..5 {
        call(&mut e, ms(i), 503);
    }
    let (healthy, text) = e.status_json(ms(10_004));
    assert!(!healthy);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["policies"][0]["state"], "open");
    assert_eq!(doc["policies"][0]["retry_after"], 20);
    assert_eq!(doc["policies"][0]["failures"], 5);
}

#[test]
fn a_forced_open_breaker_reports_itself_open() {
    let forced = BREAKER.replace(
        r#""failure_threshold":5"#,
        r#""mode":"forced_open","failure_threshold":5"#,
    );
    let mut e = one(&forced);
    assert_eq!(rejected(&mut e, ms(0)).http_status, 503);
    assert_eq!(e.breaker_state_at(0, ms(0)), Some(State::Open));
    assert_eq!(e.breaker_state_at(0, ms(3_600_000)), Some(State::Open));
    let (healthy, list) = e.status(ms(10));
    assert!(!healthy, "every request is rejected: not healthy");
    assert_eq!(list[0].state, "open");
    assert_eq!(list[0].retry_after, Some(30));
}

#[test]
fn an_open_breaker_past_its_recovery_time_reports_half_open_without_traffic() {
    let mut e = one(BREAKER);
    for i in 0..5 {
        call(&mut e, ms(i), 503);
    }
    // Opened at 4 ms for 30 s.
    let (healthy, list) = e.status(ms(30_003));
    assert_eq!(
        (healthy, list[0].state, list[0].retry_after),
        (false, "open", Some(1))
    );
    assert_eq!(e.breaker_state_at(0, ms(30_003)), Some(State::Open));
    // No request came, yet what is reported moves with the clock.
    let (healthy, list) = e.status(ms(30_004));
    assert_eq!(
        (healthy, list[0].state, list[0].retry_after),
        (true, "half_open", None)
    );
    assert_eq!(e.breaker_state_at(0, ms(30_004)), Some(State::HalfOpen));
    assert_eq!(
        e.breaker_state(0),
        Some(State::Open),
        "the machine itself has not moved"
    );
    // The next request is indeed a probe.
    proceed(&mut e, ms(30_004));
    assert_eq!(e.breaker_state(0), Some(State::HalfOpen));
}

#[test]
fn a_grpc_call_answered_200_without_grpc_status_is_a_failure() {
    let grpc = [("content-type", "application/grpc+proto")];
    let req = RequestInfo {
        headers: &grpc,
        ..RequestInfo::new("POST", "/pkg.Svc/Call")
    };
    let mut e = one(BREAKER);
    for i in 0..5 {
        let Decision::Proceed { ticket } = e.on_request(ms(i), &req) else {
            panic!("proceeds")
        };
        // What a host sees when the trailers never carried a status.
        e.on_response(ms(i), ticket, &Outcome::http(200), 1);
    }
    assert_eq!(e.stats(0).unwrap().failures, 5);
    assert_eq!(e.breaker_state(0), Some(State::Open));
    // The same answer to a plain HTTP request is a success.
    let mut e = one(BREAKER);
    for i in 0..5 {
        call(&mut e, ms(i), 200);
    }
    assert_eq!(e.stats(0).unwrap().failures, 0);
}
