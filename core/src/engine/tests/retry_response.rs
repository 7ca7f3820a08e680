//! The response side of retries: the verdict on response headers (mark, replace), attempts by
//! number, successes, exhausted retries and their log events, across workers.

use super::*;
use crate::engine::{EXHAUSTED_MARK, LogLevel, Notice, ResponseVerdict};
use crate::outcome::OutcomeKind;

const POLICY: &str = r#"{"service":"shop","policies":[{"name":"api",
    "breaker":{"failure_threshold":3,"recovery_timeout_ms":2000,"recovery_jitter":0},
    "retry":{"max_retries":2,"per_try_timeout_ms":100,"hedge_on_per_try_timeout":true,
             "rewrite_upstream_errors":REWRITE}}]}"#;

fn config(rewrite: bool) -> String {
    POLICY.replace("REWRITE", if rewrite { "true" } else { "false" })
}

fn reset() -> Outcome {
    Outcome::without_answer(OutcomeKind::Reset)
}

#[test]
fn a_failure_after_retries_is_marked_and_counted_once() {
    let mut e = one(&config(false));
    let t = proceed(&mut e, ms(0));
    assert_eq!(e.granted_retries(t), 2);
    let failed = Outcome::http(503);
    assert_eq!(
        e.on_response_headers(ms(5), t, &failed, 3),
        ResponseVerdict::Mark
    );
    assert_eq!(EXHAUSTED_MARK, ("x-breakwater", "retries_exhausted"));
    // Deciding changes nothing: asked twice, the same answer, and nothing counted yet.
    assert_eq!(
        e.on_response_headers(ms(5), t, &failed, 3),
        ResponseVerdict::Mark
    );
    assert_eq!(e.stats(0).unwrap().retries_exhausted, 0);
    e.on_response(ms(6), t, &failed, 3);
    assert_eq!(e.stats(0).unwrap().retries_exhausted, 1);
    let Some(notice @ Notice::RetriesExhausted(ev)) = e.poll_notice() else {
        panic!("a warning")
    };
    assert_eq!((ev.policy, ev.attempts), (0, 3));
    assert_eq!(
        e.notice_line(&notice),
        (
            LogLevel::Warn,
            "breakwater retries_exhausted service=shop policy=api attempts=3 last=http_503"
                .to_owned()
        )
    );
    assert_eq!(e.poll_notice(), None);
    let r = e.retry_stats(0).unwrap();
    assert_eq!(&r.attempts[..4], &[1, 1, 1, 0]);
    assert_eq!(r.successes, [0; crate::engine::MAX_ATTEMPT_LABEL]);
}

#[test]
fn no_mark_without_a_retry_or_without_a_failure() {
    let mut e = one(&config(false));
    let t = proceed(&mut e, ms(0));
    // Failed on the first attempt and not retried (a status the router does not retry on).
    assert_eq!(
        e.on_response_headers(ms(1), t, &Outcome::http(500), 1),
        ResponseVerdict::Pass
    );
    // Retried, then succeeded: a retry success on attempt 2.
    assert_eq!(
        e.on_response_headers(ms(1), t, &Outcome::http(200), 2),
        ResponseVerdict::Pass
    );
    e.on_response(ms(1), t, &Outcome::http(200), 2);
    let r = e.retry_stats(0).unwrap();
    assert_eq!(&r.attempts[..3], &[1, 1, 0]);
    assert_eq!(&r.successes[..3], &[0, 1, 0]);
    assert_eq!(e.stats(0).unwrap().retries_exhausted, 0);
    assert_eq!(e.poll_notice(), None);
    // An unknown (finished) ticket passes.
    assert_eq!(
        e.on_response_headers(ms(2), t, &Outcome::http(503), 3),
        ResponseVerdict::Pass
    );
}

#[test]
fn envoy_replies_are_replaced_only_when_the_policy_says_so() {
    let mut e = one(&config(false));
    let t = proceed(&mut e, ms(0));
    assert_eq!(
        e.on_response_headers(ms(1), t, &reset(), 1),
        ResponseVerdict::Pass,
        "rewrite off: Envoy's reply passes"
    );
    assert_eq!(
        e.on_response_headers(ms(1), t, &reset(), 3),
        ResponseVerdict::Mark
    );
    e.cancel(ms(1), t);

    let mut e = one(&config(true));
    let cases = [
        (reset(), 3, 503, "retries_exhausted", Some(3u32)),
        (reset(), 1, 502, "network_error", None),
        (
            Outcome::without_answer(OutcomeKind::ConnectFailure),
            1,
            502,
            "network_error",
            None,
        ),
        (
            Outcome::without_answer(OutcomeKind::Timeout),
            1,
            504,
            "upstream_timeout",
            None,
        ),
    ];
    for (outcome, attempts, status, reason, max_attempts) in cases {
        let t = proceed(&mut e, ms(0));
        let ResponseVerdict::Replace(reply) = e.on_response_headers(ms(1), t, &outcome, attempts)
        else {
            panic!("{reason}: Envoy's reply is replaced");
        };
        assert_eq!(reply.http_status, status, "{reason}");
        assert_eq!(reply.header("x-breakwater"), Some(reason));
        assert_eq!(reply.header("x-envoy-overloaded"), None, "{reason}");
        let body = json_body(&reply);
        assert_eq!(body["error"], reason);
        assert_eq!(body["service"], "shop");
        assert_eq!(body["max_attempts"].as_u64(), max_attempts.map(u64::from));
        e.cancel(ms(1), t);
    }
    // An upstream's own answer is never replaced, only marked.
    let t = proceed(&mut e, ms(0));
    assert_eq!(
        e.on_response_headers(ms(1), t, &Outcome::http(503), 3),
        ResponseVerdict::Mark
    );
}

#[test]
fn a_replacement_for_grpc_is_trailers_only_unavailable_with_retry_after_while_open() {
    // A request admitted just before the breaker opened answers after.
    let mut e = one(&config(true));
    let grpc = [("content-type", "application/grpc")];
    let req = RequestInfo {
        headers: &grpc,
        ..RequestInfo::new("POST", "/pkg.Svc/Get")
    };
    let Decision::Proceed { ticket: g } = e.on_request(ms(0), &req) else {
        panic!("proceeds");
    };
    for i in 0..3 {
        let t = proceed(&mut e, ms(i));
        e.on_response(ms(i), t, &reset(), 1);
    }
    assert_eq!(e.breaker_state(0), Some(crate::breaker::State::Open));
    let ResponseVerdict::Replace(reply) = e.on_response_headers(ms(500), g, &reset(), 1) else {
        panic!("replaced");
    };
    assert_eq!(reply.http_status, 200);
    assert_eq!(reply.grpc_status, Some(14));
    assert_eq!(reply.header("grpc-status"), Some("14"));
    assert_eq!(reply.header("x-breakwater"), Some("network_error"));
    assert_eq!(
        reply.header("retry-after"),
        Some("2"),
        "the breaker refuses for 1.5 s more, rounded up"
    );
    assert!(reply.body.is_empty());
}

#[test]
fn attempt_labels_are_bounded_by_the_policy() {
    let mut e = one(&config(false));
    assert_eq!(e.attempt_labels(0), 1..4);
    assert!(e.attempt_labels(7).is_empty());
    let t = proceed(&mut e, ms(0));
    // The router reports more attempts than the policy allows (hedges, a bug): the last label.
    e.on_response(ms(1), t, &Outcome::http(200), 40);
    let r = e.retry_stats(0).unwrap();
    assert_eq!(&r.attempts[..4], &[1, 1, 1, 0]);
    assert_eq!(&r.successes[..4], &[0, 0, 1, 0]);
    let plain = one(r#"{"policies":[{"name":"p"}]}"#);
    assert!(plain.attempt_labels(0).is_empty());
    assert!(plain.retry_stats(0).is_none());
}

#[test]
fn hedged_requests_carry_the_hedge_header_only_with_retries() {
    let mut e = one(&config(false));
    let t = proceed(&mut e, ms(0));
    let has = |e: &TestEngine, t| {
        e.request_headers(t)
            .iter()
            .any(|(k, v)| k == "x-envoy-hedge-on-per-try-timeout" && v == "true")
    };
    assert!(has(&e, t));
    e.on_response(ms(0), t, &Outcome::http(200), 1);
    // Drain the budget (min 3 concurrent retries, 20%): later requests get none, no hedge.
    let held: Vec<Ticket> = (0..5).map(|_| proceed(&mut e, ms(1))).collect();
    let without: Vec<&Ticket> = held
        .iter()
        .filter(|t| e.granted_retries(**t) == 0)
        .collect();
    assert!(!without.is_empty(), "the budget ran out");
    for t in without {
        assert!(!has(&e, *t), "no retries granted, no hedge");
    }
}

#[test]
fn workers_count_their_own_attempts() {
    let (mut ws, _store) = workers(&config(false), 2);
    for (i, e) in ws.iter_mut().enumerate() {
        let t = proceed(e, ms(0));
        e.on_response(ms(1), t, &Outcome::http(503), 1 + i as u32 * 2);
    }
    assert_eq!(ws[0].stats(0).unwrap().retries_exhausted, 0);
    assert_eq!(ws[1].stats(0).unwrap().retries_exhausted, 1);
    assert_eq!(&ws[1].retry_stats(0).unwrap().attempts[..3], &[1, 1, 1]);
    assert_eq!(&ws[0].retry_stats(0).unwrap().attempts[..3], &[1, 0, 0]);
}
