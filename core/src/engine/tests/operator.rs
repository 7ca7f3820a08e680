//! What an operator sees and does (issue 18): breaker statistics and reset (source 003), the
//! health view (source 004), fallbacks (sources 003/004) and the plain-text report (source 001),
//! across workers sharing one store.

use super::*;
use crate::breaker::{Reason, State};
use crate::engine::{BreakerStatistics, FallbackKind, Notice, REPEAT_INTERVAL, ResetError};
use crate::reply::RejectReason;

/// Breaker trips after 5 consecutive failures, 10 s open, one probe closes.
const BREAKER: &str = r#"{"service":"shop","policies":[{"name":"api","breaker":{
    "failure_threshold":5,"recovery_timeout_ms":10000,"recovery_jitter":0,
    "half_open_max_calls":1,"half_open_success_threshold":1}}]}"#;

fn notices(e: &mut TestEngine) -> Vec<Notice> {
    std::iter::from_fn(|| e.poll_notice()).collect()
}

fn with(policy_extra: &str) -> String {
    format!(
        r#"{{"service":"shop","policies":[{{"name":"api","breaker":{{"failure_threshold":2,
        "recovery_timeout_ms":10000,"recovery_jitter":0}}{policy_extra}}}]}}"#
    )
}

#[test]
fn breaker_statistics_are_the_fleets_source_003s_five_counts() {
    let (mut w, _) = workers(BREAKER, 2);
    call(&mut w[0], ms(0), 200);
    call(&mut w[1], ms(0), 200);
    for i in 0..5 {
        call(&mut w[i % 2], ms(1 + i as u64), 503);
    }
    // Open: each worker rejects from its view (worker 1 learns it at its next sync).
    rejected(&mut w[0], ms(10));
    rejected(&mut w[0], ms(11));
    w[1].handle_timeout(ms(200));
    rejected(&mut w[1], ms(200));
    w[0].handle_timeout(ms(300));
    w[1].handle_timeout(ms(300));
    let want = BreakerStatistics {
        total_calls: 7,
        successful_calls: 2,
        failed_calls: 5,
        rejected_calls: 3,
        state_changes: 1,
    };
    for e in &mut w {
        e.handle_timeout(ms(400));
        assert_eq!(e.breaker_statistics(0), Some(want));
    }
    let (_, status) = w[1].status(ms(400));
    assert_eq!(status[0].statistics, Some(want), "in the status too");
    // The probe after the open time closes it: two more state changes, one more call.
    let t = proceed(&mut w[0], ms(10_010));
    w[0].on_response(ms(10_010), t, &Outcome::http(200), 1);
    let s = w[0].breaker_statistics(0).unwrap();
    assert_eq!((s.total_calls, s.state_changes), (8, 3));
}

#[test]
fn a_reset_closes_the_breaker_for_every_worker_and_clears_its_counts() {
    let (mut w, _) = workers(BREAKER, 2);
    for i in 0..5 {
        call(&mut w[0], ms(i), 503);
    }
    w[1].handle_timeout(ms(100));
    rejected(&mut w[1], ms(100));
    // A probe leased before the reset cannot count after it.
    let probe = proceed(&mut w[0], ms(10_010));
    notices(&mut w[1]);
    assert_eq!(w[1].reset(ms(10_011), 0), Ok(State::HalfOpen));
    assert_eq!(w[1].stats(0).unwrap().resets, 1);
    let events: Vec<_> = std::iter::from_fn(|| w[1].poll_event()).collect();
    let last = events.last().expect("a transition");
    assert_eq!(
        (last.transition.to, last.transition.reason),
        (State::Closed, Reason::Reset)
    );
    assert_eq!(
        notices(&mut w[1]),
        [Notice::Reset {
            policy: 0,
            from: State::HalfOpen
        }]
    );
    assert_eq!(
        w[1].breaker_statistics(0),
        Some(BreakerStatistics::default()),
        "counters cleared, as source 003's reset()"
    );
    // Worker 0 sees it closed at its next sync; the stale probe's failure does not reopen it.
    w[0].handle_timeout(ms(10_111));
    w[0].on_response(ms(10_112), probe, &Outcome::http(503), 1);
    assert_eq!(w[0].breaker_state_at(0, ms(10_112)), Some(State::Closed));
    call(&mut w[0], ms(10_113), 200);
    // Errors are named.
    assert_eq!(w[0].reset(ms(1), 9), Err(ResetError::UnknownPolicy));
    let mut plain = one(r#"{"policies":[{"name":"p","retry":{}}]}"#);
    assert_eq!(plain.reset(ms(1), 0), Err(ResetError::NoBreaker));
}

#[test]
fn health_marks_unhealthy_after_3_failures_and_healthy_after_2_successes_across_workers() {
    // Source 004: 3 consecutive failures → unhealthy, 2 successes → healthy; the breaker (5)
    // has not tripped.
    let (mut w, _) = workers(BREAKER, 2);
    call(&mut w[0], ms(0), 503);
    call(&mut w[1], ms(1), 503);
    assert!(notices(&mut w[0]).is_empty());
    call(&mut w[0], ms(2), 503);
    let h = w[0].health(0).unwrap();
    assert!(!h.healthy && h.score == 0.0, "{h:?}");
    assert_eq!(
        notices(&mut w[0]),
        [Notice::HealthChanged {
            policy: 0,
            healthy: false,
            score: 0.0
        }],
        "noticed once, by the worker whose write made the change"
    );
    assert_eq!(w[0].breaker_state(0), Some(State::Closed));
    let g = w[0].gauges(0, ms(2)).unwrap();
    assert_eq!((g.healthy, g.health_score_percent), (Some(0), Some(0)));
    // Worker 1 sees it at its next sync, and warns about traffic it routes there, once per
    // interval with the count.
    w[1].handle_timeout(ms(101));
    assert!(notices(&mut w[1]).is_empty(), "no second health notice");
    let t = proceed(&mut w[1], ms(102));
    assert!(matches!(
        notices(&mut w[1])[..],
        [Notice::UnhealthyTraffic {
            policy: 0,
            requests: 1,
            ..
        }]
    ));
    let t2 = proceed(&mut w[1], ms(103));
    assert!(notices(&mut w[1]).is_empty(), "rate-limited");
    w[1].on_response(ms(104), t, &Outcome::http(200), 1);
    assert!(
        !w[1].health(0).unwrap().healthy,
        "one success is not enough"
    );
    let t3 = proceed(&mut w[1], ms(105) + REPEAT_INTERVAL);
    assert!(matches!(
        notices(&mut w[1])[..],
        [Notice::UnhealthyTraffic { requests: 2, .. }]
    ));
    w[1].on_response(ms(106) + REPEAT_INTERVAL, t2, &Outcome::http(200), 1);
    let h = w[1].health(0).unwrap();
    assert!(h.healthy, "the second success heals: {h:?}");
    assert!((h.score - 0.2).abs() < 1e-9, "recovering gradually: {h:?}");
    assert_eq!(w[1].stats(0).unwrap().unhealthy_requests, 3);
    assert!(matches!(
        notices(&mut w[1])[..],
        [Notice::HealthChanged { healthy: true, .. }]
    ));
    // Each success is written while the score recovers, so worker 0 sees the recovery too.
    w[1].on_response(ms(107) + REPEAT_INTERVAL, t3, &Outcome::http(200), 1);
    w[0].handle_timeout(ms(300) + REPEAT_INTERVAL);
    let h0 = w[0].health(0).unwrap();
    assert!(h0.healthy && (h0.score - 0.3).abs() < 1e-9, "{h0:?}");
    assert_eq!(
        w[0].gauges(0, ms(300) + REPEAT_INTERVAL)
            .unwrap()
            .health_score_percent,
        Some(30)
    );
}

#[test]
fn an_open_breaker_answers_with_the_static_fallback_and_counts_it() {
    let mut e = one(&with(
        r#","fallback":{"reply":{"status":200,"headers":{"content-type":"application/json"},
        "body":"{\"items\":[]}"}}"#,
    ));
    call(&mut e, ms(0), 503);
    call(&mut e, ms(1), 503);
    notices(&mut e);
    for i in 0..3 {
        let reply = rejected(&mut e, ms(2 + i));
        assert_eq!(reply.http_status, 200);
        assert_eq!(reply.body, br#"{"items":[]}"#);
        assert_eq!(reply.header("x-breakwater"), Some("fallback"));
    }
    let s = e.stats(0).unwrap();
    assert_eq!((s.fallbacks, s.rejected_open), (3, 0));
    assert_eq!(
        notices(&mut e),
        [Notice::Fallback {
            policy: 0,
            reason: RejectReason::BreakerOpen,
            kind: FallbackKind::Reply
        }],
        "logged once per interval, not per request"
    );
    // gRPC clients get the refusal: the reply names no grpc_status.
    let grpc = [("content-type", "application/grpc")];
    let req = RequestInfo {
        headers: &grpc,
        ..RequestInfo::new("POST", "/pkg.Svc/Call")
    };
    let Decision::Reject { reply } = e.on_request(ms(10), &req) else {
        panic!()
    };
    assert_eq!(reply.header("grpc-status"), Some("14"));
    assert_eq!(e.stats(0).unwrap().rejected_open, 1);
}

#[test]
fn a_rerouted_request_carries_the_header_and_its_outcome_is_not_the_breakers() {
    let mut e = one(&with(
        r#","retry":{"max_retries":2,"rewrite_upstream_errors":true},"fallback":{"reroute":{}}"#,
    ));
    call(&mut e, ms(0), 503);
    call(&mut e, ms(1), 503);
    let before = e.breaker_statistics(0).unwrap();
    let Decision::Proceed { ticket } = get(&mut e, ms(2)) else {
        panic!("rerouted")
    };
    assert!(e.rerouted(ticket));
    let header = [("x-breakwater-fallback".to_owned(), "api".to_owned())];
    assert_eq!(e.request_headers(ticket), header);
    let sets = e.header_sets();
    assert_eq!(sets[e.header_set(ticket).unwrap() as usize], header);
    // Its answer is the fallback service's: never marked nor replaced in the policy's name.
    let reset = Outcome {
        kind: crate::outcome::OutcomeKind::Reset,
        http_status: None,
        grpc_status: None,
    };
    assert_eq!(
        e.on_response_headers(ms(3), ticket, &reset, 3),
        crate::engine::ResponseVerdict::Pass
    );
    e.on_response(ms(3), ticket, &Outcome::http(503), 1);
    assert_eq!(e.tracked(), 0);
    let after = e.breaker_statistics(0).unwrap();
    assert_eq!(
        after.total_calls, before.total_calls,
        "the fallback's answer"
    );
    let s = e.stats(0).unwrap();
    assert_eq!((s.requests, s.responses, s.fallbacks), (3, 2, 1));
    assert_eq!(
        s.requests,
        s.responses + s.rejected_open + s.fallbacks + s.cancelled
    );
}

#[test]
fn a_full_bulkhead_can_reroute_without_leaking_its_permit() {
    let mut e = one(
        r#"{"policies":[{"name":"api","bulkhead":{"max_concurrent":1,"queue_size":0},
        "fallback":{"on":["bulkhead_full"],"reroute":{"value":"spill"}}}]}"#,
    );
    let first = proceed(&mut e, ms(0));
    let second = proceed(&mut e, ms(1));
    assert!(!e.rerouted(first) && e.rerouted(second));
    assert_eq!(e.request_headers(second)[0].1, "spill");
    assert_eq!(e.bulkhead_counts(0), Some((1, 0)));
    e.cancel(ms(2), second);
    assert_eq!(
        e.bulkhead_counts(0),
        Some((1, 0)),
        "the reroute held no permit"
    );
    e.on_response(ms(3), first, &Outcome::http(200), 1);
    assert_eq!(e.bulkhead_counts(0), Some((0, 0)));
    let s = e.stats(0).unwrap();
    assert_eq!((s.fallbacks, s.cancelled, s.rejected_bulkhead), (1, 0, 0));
}

#[test]
fn the_status_endpoint_answers_json_or_a_plain_text_report() {
    let mut e = one(BREAKER);
    call(&mut e, ms(0), 200);
    let json = e.status_reply(ms(1), "", Some("*/*"));
    assert_eq!(json.status, 200);
    assert_eq!(json.headers[0], ("content-type", "application/json"));
    let doc: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(doc["policies"][0]["statistics"]["total_calls"], 1);
    assert_eq!(doc["policies"][0]["health"]["healthy"], true);
    for i in 0..5 {
        call(&mut e, ms(2 + i), 503);
    }
    for (query, accept) in [("format=text", None), ("", Some("text/plain"))] {
        let text = e.status_reply(ms(10), query, accept);
        assert_eq!(text.status, 503);
        assert_eq!(text.headers[0].1, "text/plain; charset=utf-8");
        assert_eq!(
            text.body,
            "breakwater shop: UNHEALTHY (1 breaker open)\n\n\
             policy api: breaker open (probes in 10 s), UNHEALTHY (score 0.00, 5 failures in a row)\n  \
             calls: 6 total, 1 successful, 5 failed; 0 rejected; 1 state changes\n  \
             this worker: 6 requests, 0 rejected by the breaker, 0 by the bulkhead, 0 fallbacks\n"
        );
    }
    let both = e.status_reply(ms(10), "", Some("text/plain, application/json"));
    assert_eq!(both.headers[0].1, "application/json");
}

#[test]
fn the_reset_endpoint_wants_post_and_a_known_policy() {
    let mut e = one(BREAKER);
    for i in 0..5 {
        call(&mut e, ms(i), 503);
    }
    let r = e.reset_reply(ms(10), "GET", "policy=api");
    assert_eq!(r.status, 405);
    assert!(r.headers.contains(&("allow", "POST")));
    assert_eq!(e.reset_reply(ms(10), "POST", "").status, 400);
    assert_eq!(e.reset_reply(ms(10), "POST", "policy=nope").status, 404);
    assert_eq!(e.breaker_state(0), Some(State::Open), "nothing reset yet");
    let r = e.reset_reply(ms(10), "POST", "x=1&policy=api");
    assert_eq!(r.status, 200, "{}", r.body);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(doc["from"], "open");
    assert_eq!(e.breaker_state(0), Some(State::Closed));
    proceed(&mut e, ms(11));
}
